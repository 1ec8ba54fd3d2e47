//! In-memory records with the indexes the API needs.
//!
//! Each collection keeps its records in a `Vec` (soft deletes never remove one, so a
//! slot number is a stable handle), an id index, and two change indexes keyed by
//! (`updated_at`, `id`): one of live records and one of deleted records. Keeping deleted
//! records out of the live index means a page without `include_deleted` never has to
//! step over them, so every page costs O(page size · log n) however many were deleted.

use std::collections::BTreeMap;
use std::ops::Bound;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::model::{Asset, Location, ModelKind, Record, TemplateContext, Text, WorkOrder};
use crate::rfc3339::Millis;

/// Position in the change order: (`updated_at` in ms, `id`).
pub type Key = (i64, Text);

/// Index entries: key and slot.
type Entries = Vec<(Key, u32)>;

/// Largest page a client may ask for.
pub const MAX_LIMIT: usize = 1000;

/// Where a page resumes: strictly after this (`updated_at`, `id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// `updated_at` of the last item of the previous page, in ms.
    pub updated_at: i64,
    /// `id` of the last item of the previous page.
    pub id: Text,
}

impl Cursor {
    /// The opaque page token: base64url of `updated_at_ms:id`.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.updated_at, self.id))
    }

    /// Reads a page token; `None` when it was not made by [`Cursor::encode`].
    pub fn decode(token: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (ms, id) = text.split_once(':')?;
        if id.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return None;
        }
        Some(Cursor {
            updated_at: ms.parse().ok()?,
            id: id.into(),
        })
    }
}

/// One list request against a collection.
#[derive(Debug, Clone)]
pub struct PageQuery {
    /// Inclusive lower bound on `updated_at`, in ms.
    pub updated_since: Option<i64>,
    /// Resume strictly after this position.
    pub after: Option<Cursor>,
    /// Maximum number of items (1–[`MAX_LIMIT`]).
    pub limit: usize,
    /// Whether soft-deleted records are listed.
    pub include_deleted: bool,
}

impl Default for PageQuery {
    fn default() -> Self {
        PageQuery {
            updated_since: None,
            after: None,
            limit: 100,
            include_deleted: false,
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<R> {
    /// The records, in (`updated_at`, `id`) order.
    pub items: Vec<R>,
    /// Right after the page's last item; `None` when the page is empty. Given even on
    /// the last page, so that a client can later ask for what changed after it.
    pub last: Option<Cursor>,
    /// Whether more items followed the page when it was read.
    pub has_more: bool,
}

/// What went wrong in a store operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// No record with this id.
    NotFound(String),
    /// A record with this id already exists.
    Conflict(String),
    /// The request does not make a valid record.
    Invalid(String),
}

/// Which records an admin "touch" sets `updated_at` on.
#[derive(Debug, Clone)]
pub enum TouchTarget {
    /// These ids.
    Ids(Vec<String>),
    /// The first N records by id.
    Count(usize),
}

/// One collection of records.
#[derive(Debug)]
pub struct Table<R> {
    records: Vec<R>,
    by_id: BTreeMap<Text, u32>,
    live: BTreeMap<Key, u32>,
    deleted: BTreeMap<Key, u32>,
    id_digits: usize,
    next_seq: u64,
}

fn key_of<R: Record>(r: &R) -> Key {
    (r.updated_at().0, r.id().clone())
}

impl<R: Record> Table<R> {
    /// Builds a table from records with distinct ids (seeded ids `PREFIX-1..=N`).
    ///
    /// # Panics
    /// On duplicate ids or more than `u32::MAX` records.
    pub fn from_records(records: Vec<R>) -> Self {
        assert!(u32::try_from(records.len()).is_ok(), "too many records");
        let by_id: BTreeMap<Text, u32> = records
            .iter()
            .enumerate()
            .map(|(slot, r)| (r.id().clone(), slot as u32))
            .collect();
        assert_eq!(by_id.len(), records.len(), "duplicate record ids");
        // Sorting once and bulk-building is much faster than a million inserts.
        let (mut live, mut deleted): (Entries, Entries) = records
            .iter()
            .enumerate()
            .map(|(slot, r)| (key_of(r), slot as u32))
            .partition(|&(_, slot)| records[slot as usize].deleted_at().is_none());
        live.sort_unstable();
        deleted.sort_unstable();
        let n = records.len();
        Table {
            records,
            by_id,
            live: live.into_iter().collect(),
            deleted: deleted.into_iter().collect(),
            id_digits: R::KIND.id_digits().max(n.to_string().len()),
            next_seq: n as u64 + 1,
        }
    }

    /// Number of records, deleted ones included.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when the table holds no record at all.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The record with this id, deleted or not.
    pub fn get(&self, id: &str) -> Option<&R> {
        self.by_id.get(id).map(|&slot| &self.records[slot as usize])
    }

    /// Every record in id order, deleted ones included.
    pub fn iter_by_id(&self) -> impl Iterator<Item = &R> + '_ {
        self.by_id
            .values()
            .map(|&slot| &self.records[slot as usize])
    }

    /// Largest `updated_at` in the table.
    pub fn max_updated_at(&self) -> Option<Millis> {
        let live = self.live.last_key_value().map(|(k, _)| k.0);
        let deleted = self.deleted.last_key_value().map(|(k, _)| k.0);
        live.max(deleted).map(Millis)
    }

    /// One page of records in (`updated_at`, `id`) order.
    pub fn page(&self, q: &PageQuery) -> Page<R> {
        let since = q.updated_since.unwrap_or(i64::MIN);
        // A token from before `updated_since` must not pull older records back in: the
        // page starts at whichever bound is later.
        let lower = match &q.after {
            Some(c) if (c.updated_at, &*c.id) >= (since, "") => {
                Bound::Excluded((c.updated_at, c.id.clone()))
            }
            _ => Bound::Included((since, Text::from(""))),
        };
        let range = (lower, Bound::Unbounded);
        let live = self.live.range(range.clone());
        let keys: Box<dyn Iterator<Item = (&Key, &u32)>> = if q.include_deleted {
            Box::new(merge(live, self.deleted.range(range)))
        } else {
            Box::new(live)
        };
        // One extra item tells whether more follow, without counting them.
        let mut found: Vec<(&Key, &u32)> = keys.take(q.limit + 1).collect();
        let has_more = found.len() > q.limit;
        found.truncate(q.limit);
        let last = found.last().map(|((ms, id), _)| Cursor {
            updated_at: *ms,
            id: id.clone(),
        });
        Page {
            items: found
                .into_iter()
                .map(|(_, &slot)| self.records[slot as usize].clone())
                .collect(),
            last,
            has_more,
        }
    }

    fn index_mut(&mut self, deleted: bool) -> &mut BTreeMap<Key, u32> {
        if deleted {
            &mut self.deleted
        } else {
            &mut self.live
        }
    }

    fn insert(&mut self, record: R) {
        let slot = self.records.len() as u32;
        self.by_id.insert(record.id().clone(), slot);
        let deleted = record.deleted_at().is_some();
        self.index_mut(deleted).insert(key_of(&record), slot);
        self.records.push(record);
    }

    /// Changes the record in `slot` (its id must stay the same) and keeps the change
    /// indexes in step.
    fn modify(&mut self, slot: u32, change: impl FnOnce(&mut R)) {
        let old = &self.records[slot as usize];
        let (old_key, was_deleted) = (key_of(old), old.deleted_at().is_some());
        self.index_mut(was_deleted).remove(&old_key);
        let record = &mut self.records[slot as usize];
        change(record);
        debug_assert_eq!(record.id(), &old_key.1, "a record's id never changes");
        let (new_key, is_deleted) = (key_of(record), record.deleted_at().is_some());
        self.index_mut(is_deleted).insert(new_key, slot);
    }

    fn slot(&self, id: &str) -> Result<u32, StoreError> {
        self.by_id
            .get(id)
            .copied()
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))
    }

    fn generate_id(&mut self) -> Text {
        loop {
            let id = format!(
                "{}-{:0width$}",
                R::KIND.id_prefix(),
                self.next_seq,
                width = self.id_digits
            );
            self.next_seq += 1;
            if !self.by_id.contains_key(id.as_str()) {
                return id.into();
            }
        }
    }
}

/// Merges two iterators that are each sorted by key into one sorted iterator.
fn merge<'a>(
    a: impl Iterator<Item = (&'a Key, &'a u32)>,
    b: impl Iterator<Item = (&'a Key, &'a u32)>,
) -> impl Iterator<Item = (&'a Key, &'a u32)> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if x.0 <= y.0 => a.next(),
        (Some(_), Some(_)) => b.next(),
        (Some(_), None) => a.next(),
        (None, _) => b.next(),
    })
}

/// The server's modification clock: hands out strictly increasing timestamps, like a
/// database's commit timestamps, even when the wall clock stalls or steps back.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    last: i64,
}

impl Clock {
    /// A clock whose next timestamp is after `last`.
    pub fn starting_after(last: Millis) -> Self {
        Clock { last: last.0 }
    }

    /// The timestamp the next modification gets: max(now, last assigned + 1 ms).
    pub fn peek(&self, now: Millis) -> Millis {
        Millis(now.0.max(self.last.saturating_add(1)))
    }

    /// Records that `t` was assigned, so later timestamps come after it.
    pub fn observe(&mut self, t: Millis) {
        self.last = self.last.max(t.0);
    }
}

/// Gives generic code the table of a record type.
pub trait Stored: Record {
    /// The table of `Self` in `store`.
    fn table(store: &Store) -> &Table<Self>;
    /// The table of `Self` in `store`, mutably.
    fn table_mut(store: &mut Store) -> &mut Table<Self>;
}

macro_rules! stored {
    ($ty:ty, $field:ident) => {
        impl Stored for $ty {
            fn table(store: &Store) -> &Table<Self> {
                &store.$field
            }
            fn table_mut(store: &mut Store) -> &mut Table<Self> {
                &mut store.$field
            }
        }
    };
}

stored!(Location, locations);
stored!(Asset, assets);
stored!(WorkOrder, work_orders);

/// Runs `$body` with `$R` bound to the record type of a [`ModelKind`].
#[macro_export]
macro_rules! with_model {
    ($kind:expr, $R:ident => $body:expr) => {
        match $kind {
            $crate::model::ModelKind::Locations => {
                type $R = $crate::model::Location;
                $body
            }
            $crate::model::ModelKind::Assets => {
                type $R = $crate::model::Asset;
                $body
            }
            $crate::model::ModelKind::WorkOrders => {
                type $R = $crate::model::WorkOrder;
                $body
            }
        }
    };
}

/// All records plus the modification clock.
#[derive(Debug)]
pub struct Store {
    /// Locations.
    pub locations: Table<Location>,
    /// Assets.
    pub assets: Table<Asset>,
    /// Work orders.
    pub work_orders: Table<WorkOrder>,
    clock: Clock,
}

impl Store {
    /// A store over seeded tables; the clock starts after the newest record.
    pub fn new(
        locations: Table<Location>,
        assets: Table<Asset>,
        work_orders: Table<WorkOrder>,
    ) -> Self {
        let newest = [
            locations.max_updated_at(),
            assets.max_updated_at(),
            work_orders.max_updated_at(),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(Millis(i64::MIN + 1));
        Store {
            locations,
            assets,
            work_orders,
            clock: Clock::starting_after(newest),
        }
    }

    /// The table of record type `R`.
    pub fn table<R: Stored>(&self) -> &Table<R> {
        R::table(self)
    }

    /// Number of records of a kind, deleted ones included.
    pub fn count(&self, kind: ModelKind) -> usize {
        crate::with_model!(kind, R => self.table::<R>().len())
    }

    fn template_context<R: Stored>(&self) -> TemplateContext {
        TemplateContext {
            default_location_id: self
                .locations
                .by_id
                .keys()
                .next()
                .cloned()
                .unwrap_or_else(|| Text::from("")),
            ordinal: self.table::<R>().len() as u64 + 1,
        }
    }

    /// Creates a record from a partial one: missing fields get defaults, a missing `id`
    /// is generated, `updated_at` is assigned by the clock.
    pub fn create<R: Stored>(
        &mut self,
        mut partial: Map<String, Value>,
        now: Millis,
    ) -> Result<R, StoreError> {
        let t = self.clock.peek(now);
        let ctx = self.template_context::<R>();
        let table = R::table_mut(self);
        let id: Text = match partial.remove("id") {
            None | Some(Value::Null) => table.generate_id(),
            Some(Value::String(s)) if !s.is_empty() => s.into(),
            Some(_) => return Err(StoreError::Invalid("id must be a non-empty string".into())),
        };
        if table.by_id.contains_key(&id) {
            return Err(StoreError::Conflict(id.to_string()));
        }
        partial.remove("updated_at");
        let mut fields = to_object(&R::template(id, t, &ctx));
        fields.extend(partial);
        let mut record: R = from_object(fields)?;
        record.set_updated_at(t);
        table.insert(record.clone());
        self.clock.observe(t);
        Ok(record)
    }

    /// Merges fields into a record (JSON merge at the top level); `id` cannot change and
    /// `updated_at` is assigned by the clock.
    pub fn patch<R: Stored>(
        &mut self,
        id: &str,
        mut patch: Map<String, Value>,
        now: Millis,
    ) -> Result<R, StoreError> {
        let t = self.clock.peek(now);
        let table = R::table_mut(self);
        let slot = table.slot(id)?;
        match patch.remove("id") {
            Some(Value::String(s)) if s != id => {
                return Err(StoreError::Invalid("id cannot be changed".into()));
            }
            Some(Value::String(_)) | None => {}
            Some(_) => return Err(StoreError::Invalid("id cannot be changed".into())),
        }
        patch.remove("updated_at");
        let mut fields = to_object(&table.records[slot as usize]);
        fields.extend(patch);
        let mut record: R = from_object(fields)?;
        record.set_updated_at(t);
        table.modify(slot, |r| *r = record.clone());
        self.clock.observe(t);
        Ok(record)
    }

    /// Soft-deletes a record: sets `deleted_at` and bumps `updated_at` to the same time.
    /// Deleting a deleted record changes nothing.
    pub fn delete<R: Stored>(&mut self, id: &str, now: Millis) -> Result<R, StoreError> {
        let t = self.clock.peek(now);
        let table = R::table_mut(self);
        let slot = table.slot(id)?;
        if table.records[slot as usize].deleted_at().is_some() {
            return Ok(table.records[slot as usize].clone());
        }
        table.modify(slot, |r| {
            r.set_deleted_at(Some(t));
            r.set_updated_at(t);
        });
        let record = table.records[slot as usize].clone();
        self.clock.observe(t);
        Ok(record)
    }

    /// Sets `updated_at` of some records to exactly `at` (tests use it to make ties).
    /// All ids must exist or nothing changes. Returns how many records were touched.
    pub fn touch<R: Stored>(
        &mut self,
        at: Millis,
        target: TouchTarget,
    ) -> Result<usize, StoreError> {
        let table = R::table_mut(self);
        let mut slots = match target {
            TouchTarget::Ids(ids) => ids
                .iter()
                .map(|id| table.slot(id))
                .collect::<Result<Vec<u32>, _>>()?,
            TouchTarget::Count(n) => table.by_id.values().take(n).copied().collect(),
        };
        slots.sort_unstable();
        slots.dedup();
        for &slot in &slots {
            table.modify(slot, |r| r.set_updated_at(at));
        }
        // Later modifications must still sort after what a touch put in the future.
        self.clock.observe(at);
        Ok(slots.len())
    }
}

fn to_object<R: Record>(record: &R) -> Map<String, Value> {
    match serde_json::to_value(record) {
        Ok(Value::Object(map)) => map,
        other => unreachable!("records serialize to JSON objects, got {other:?}"),
    }
}

fn from_object<R: Record>(fields: Map<String, Value>) -> Result<R, StoreError> {
    serde_json::from_value(Value::Object(fields)).map_err(|e| StoreError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LocationType;
    use serde_json::json;

    fn loc(n: usize, updated_at: i64) -> Location {
        let mut l = Location::template(
            format!("LOC-{n:05}").into(),
            Millis(updated_at),
            &TemplateContext {
                default_location_id: "".into(),
                ordinal: 1,
            },
        );
        l.kind = LocationType::Room;
        l
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn store_with(locations: Vec<Location>) -> Store {
        Store::new(
            Table::from_records(locations),
            Table::from_records(vec![]),
            Table::from_records(vec![]),
        )
    }

    /// Pages through everything and returns ids in the order seen.
    fn walk(table: &Table<Location>, limit: usize, include_deleted: bool) -> Vec<String> {
        let mut seen = Vec::new();
        let mut q = PageQuery {
            limit,
            include_deleted,
            ..PageQuery::default()
        };
        loop {
            let page = table.page(&q);
            assert!(page.items.len() <= limit);
            seen.extend(page.items.iter().map(|l| l.id.to_string()));
            if let Some(c) = page.last {
                // The token round-trips through its opaque form.
                q.after = Some(Cursor::decode(&c.encode()).unwrap());
            }
            if !page.has_more {
                return seen;
            }
        }
    }

    #[test]
    fn pagination_with_ties_never_skips_or_duplicates() {
        // 100 records over only 7 distinct timestamps: most pages end inside a tie.
        let records: Vec<Location> = (1..=100)
            .map(|n| loc(n, 1_000 + (n as i64 * 13) % 7))
            .collect();
        let mut expected: Vec<(i64, String)> = records
            .iter()
            .map(|l| (l.updated_at.0, l.id.to_string()))
            .collect();
        expected.sort();
        let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
        let table = Table::from_records(records);
        for limit in [1, 2, 3, 7, 10, 33, 99, 100, 1000] {
            assert_eq!(walk(&table, limit, false), expected, "limit {limit}");
        }
    }

    #[test]
    fn last_page_keeps_its_position() {
        let mut store = store_with((1..=4).map(|n| loc(n, 5)).collect());
        let page = store.locations.page(&PageQuery {
            limit: 3,
            ..PageQuery::default()
        });
        assert!(page.has_more);
        assert_eq!(page.last.as_ref().unwrap().id.as_ref(), "LOC-00003");
        let page = store.locations.page(&PageQuery {
            limit: 4,
            ..PageQuery::default()
        });
        assert_eq!(page.items.len(), 4);
        assert!(!page.has_more);
        let position = page.last.unwrap();
        assert_eq!(position.id.as_ref(), "LOC-00004");
        // Nothing new yet: an empty page, no position of its own.
        let resume = PageQuery {
            after: Some(position),
            ..PageQuery::default()
        };
        let page = store.locations.page(&resume);
        assert!(page.items.is_empty() && page.last.is_none() && !page.has_more);
        // A later change shows up after the kept position; nothing else does.
        store
            .patch::<Location>("LOC-00002", obj(json!({"name": "Changed"})), Millis(50))
            .unwrap();
        let page = store.locations.page(&resume);
        let ids: Vec<&str> = page.items.iter().map(|l| &*l.id).collect();
        assert_eq!(ids, ["LOC-00002"]);
    }

    #[test]
    fn updated_since_is_inclusive_and_bounds_tokens() {
        let table = Table::from_records((1..=10).map(|n| loc(n, n as i64 * 10)).collect());
        let page = table.page(&PageQuery {
            updated_since: Some(50),
            ..PageQuery::default()
        });
        let ids: Vec<&str> = page.items.iter().map(|l| &*l.id).collect();
        assert_eq!(
            ids,
            [
                "LOC-00005",
                "LOC-00006",
                "LOC-00007",
                "LOC-00008",
                "LOC-00009",
                "LOC-00010"
            ]
        );
        // A token older than updated_since does not reach back before it.
        let page = table.page(&PageQuery {
            updated_since: Some(50),
            after: Some(Cursor {
                updated_at: 10,
                id: "LOC-00001".into(),
            }),
            ..PageQuery::default()
        });
        assert_eq!(page.items.len(), 6);
    }

    #[test]
    fn deleted_records_only_with_include_deleted() {
        let mut store = store_with((1..=20).map(|n| loc(n, n as i64)).collect());
        for n in [3, 4, 5, 17] {
            store
                .delete::<Location>(&format!("LOC-{n:05}"), Millis(0))
                .unwrap();
        }
        let all = walk(&store.locations, 3, true);
        let live = walk(&store.locations, 3, false);
        assert_eq!(all.len(), 20);
        assert_eq!(live.len(), 16);
        // Deletion bumped updated_at, so the deleted ones come last, in deletion order.
        assert_eq!(
            &all[16..],
            ["LOC-00003", "LOC-00004", "LOC-00005", "LOC-00017"]
        );
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 20);
    }

    #[test]
    fn clock_is_strictly_increasing() {
        let mut store = store_with((1..=3).map(|n| loc(n, 1_000)).collect());
        // The wall clock is behind the newest record: timestamps continue after it.
        let a = store
            .patch::<Location>("LOC-00001", obj(json!({"name": "A"})), Millis(10))
            .unwrap();
        let b = store
            .patch::<Location>("LOC-00002", obj(json!({"name": "B"})), Millis(10))
            .unwrap();
        assert_eq!((a.updated_at, b.updated_at), (Millis(1_001), Millis(1_002)));
        // The wall clock is ahead: it wins.
        let c = store
            .delete::<Location>("LOC-00003", Millis(5_000))
            .unwrap();
        assert_eq!(
            (c.updated_at, c.deleted_at),
            (Millis(5_000), Some(Millis(5_000)))
        );
        let d = store.create::<Location>(Map::new(), Millis(5_000)).unwrap();
        assert_eq!(d.updated_at, Millis(5_001));
        assert_eq!(&*d.id, "LOC-00004");
    }

    #[test]
    fn create_patch_validate_fields() {
        let mut store = store_with(vec![loc(1, 1)]);
        let err = store
            .create::<Location>(obj(json!({"id": "LOC-00001"})), Millis(9))
            .unwrap_err();
        assert_eq!(err, StoreError::Conflict("LOC-00001".into()));
        let err = store
            .create::<Location>(obj(json!({"colour": "red"})), Millis(9))
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(m) if m.contains("colour")));
        let err = store
            .patch::<Location>("LOC-00001", obj(json!({"type": "galaxy"})), Millis(9))
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)));
        let err = store
            .patch::<Location>("LOC-00001", obj(json!({"id": "LOC-9"})), Millis(9))
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)));
        // A patched updated_at is ignored: the clock assigns it.
        let ok = store
            .patch::<Location>(
                "LOC-00001",
                obj(json!({"name": "Pump room", "updated_at": "2000-01-01T00:00:00Z"})),
                Millis(9),
            )
            .unwrap();
        assert_eq!((&*ok.name, ok.updated_at), ("Pump room", Millis(9)));
        // Undelete through a patch moves the record back to the live index.
        store.delete::<Location>("LOC-00001", Millis(10)).unwrap();
        assert_eq!(walk(&store.locations, 10, false).len(), 0);
        store
            .patch::<Location>("LOC-00001", obj(json!({"deleted_at": null})), Millis(11))
            .unwrap();
        assert_eq!(walk(&store.locations, 10, false).len(), 1);
    }

    #[test]
    fn touch_sets_exact_times_and_moves_the_clock() {
        let mut store = store_with((1..=5).map(|n| loc(n, n as i64)).collect());
        let n = store
            .touch::<Location>(Millis(100), TouchTarget::Count(3))
            .unwrap();
        assert_eq!(n, 3);
        let ids = ["LOC-00004".to_string(), "LOC-00004".to_string()];
        assert_eq!(
            store
                .touch::<Location>(Millis(100), TouchTarget::Ids(ids.to_vec()))
                .unwrap(),
            1
        );
        let err = store
            .touch::<Location>(Millis(100), TouchTarget::Ids(vec!["nope".into()]))
            .unwrap_err();
        assert_eq!(err, StoreError::NotFound("nope".into()));
        let page = store.locations.page(&PageQuery {
            updated_since: Some(100),
            ..PageQuery::default()
        });
        let ids: Vec<&str> = page.items.iter().map(|l| &*l.id).collect();
        assert_eq!(ids, ["LOC-00001", "LOC-00002", "LOC-00003", "LOC-00004"]);
        let next = store.create::<Location>(Map::new(), Millis(0)).unwrap();
        assert_eq!(next.updated_at, Millis(101));
    }

    #[test]
    fn tokens_are_opaque_and_checked() {
        let c = Cursor {
            updated_at: 1_764_000_000_123,
            id: "WO:odd".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in [
            "",
            "!!!",
            "bm90IGEgdG9rZW4",
            &URL_SAFE_NO_PAD.encode("12:"),
            &URL_SAFE_NO_PAD.encode("x:LOC-1"),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
