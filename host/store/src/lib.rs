//! Switchyard's storage: an embedded RocksDB.
//!
//! The sync engine's hot path is [`Store::commit_page`]: one page's records,
//! their change-feed entries, the new cursor and the run's progress go into
//! RocksDB in **one** `WriteBatch`, so a crash at any instant leaves either
//! the whole page or none of it. Column families and key encoding are
//! documented in `docs/storage.md`.
//!
//! This type's methods are the storage seam of the host: everything above it
//! talks in connections, models, records, runs and cursors, never in keys, so
//! a distributed store can implement the same operations later.
#![warn(missing_docs)]

mod codec;
mod keys;
pub mod model;

use model::*;
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, ReadOptions,
    WriteBatch, WriteOptions,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub use codec::CodecError;

/// Column families. See `docs/storage.md`.
mod cf {
    pub const META: &str = "meta";
    pub const RECORDS: &str = "records";
    pub const FEED: &str = "feed";
    pub const SYNC_STATE: &str = "sync_state";
    pub const RUNS: &str = "runs";
    pub const QUARANTINE: &str = "quarantine";
    pub const CONNECTIONS: &str = "connections";
    pub const CONNECTORS: &str = "connectors";
    pub const TOKENS: &str = "tokens";
    pub const REQUEST_LOG: &str = "request_log";
    pub const REQUEST_LOG_INDEX: &str = "request_log_index";
    pub const TIMELINE: &str = "timeline";
    pub const EVENTS: &str = "events";
    pub const CONNECT: &str = "connect";
    pub const WEBHOOKS: &str = "webhooks";
    pub const DELIVERIES: &str = "webhook_deliveries";
    pub const DELIVERIES_DUE: &str = "webhook_deliveries_due";
    pub const ALL: [&str; 17] = [
        REQUEST_LOG,
        REQUEST_LOG_INDEX,
        META,
        RECORDS,
        FEED,
        SYNC_STATE,
        RUNS,
        QUARANTINE,
        CONNECTIONS,
        CONNECTORS,
        TOKENS,
        TIMELINE,
        EVENTS,
        CONNECT,
        WEBHOOKS,
        DELIVERIES,
        DELIVERIES_DUE,
    ];
}

// 2: the feed stores one chunk per page (see docs/storage.md).
const SCHEMA_VERSION: &[u8] = b"2";
const META_SCHEMA: &[u8] = b"schema_version";
const META_RUN_COUNTER: &[u8] = b"run_counter";
const META_CONTROL_SEQ: &[u8] = b"control_seq";
const META_WEBHOOK_CURSOR: &[u8] = b"webhook_cursor";
const META_DELIVERY_SEQ: &[u8] = b"webhook_delivery_seq";

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB failed.
    #[error("storage: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// A stored value does not decode.
    #[error("storage: corrupt value: {0}")]
    Corrupt(String),
    /// A value the caller asked to store cannot be encoded.
    #[error("storage: cannot store: {0}")]
    Unencodable(String),
    /// The data directory was written by an incompatible version.
    #[error("storage: data directory has schema version {found}, this build needs {expected}")]
    Schema {
        /// The version found on disk.
        found: String,
        /// The version this build writes.
        expected: String,
    },
}

impl From<CodecError> for StoreError {
    fn from(e: CodecError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Result of storage operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One page to commit atomically.
#[derive(Debug)]
pub struct PageCommit<'a> {
    /// The connection synced.
    pub connection_id: &'a str,
    /// The model synced.
    pub model: &'a str,
    /// The page's valid changes, in source order.
    pub changes: &'a [NewChange],
    /// The page's rejected records.
    pub quarantined: &'a [QuarantinedRecord],
    /// The model's state before this page.
    pub state: &'a SyncState,
    /// The connector's cursor after this page.
    pub cursor: &'a str,
    /// Whether this page ends the initial sync.
    pub completes_initial: bool,
    /// The run, with this page counted.
    pub run: &'a Run,
}

/// A page encoded by [`Store::prepare_page`], not written yet.
pub struct PreparedPage {
    batch: WriteBatch,
    state: SyncState,
}

impl PreparedPage {
    /// The model's state once this page is written.
    pub fn state(&self) -> &SyncState {
        &self.state
    }
}

impl std::fmt::Debug for PreparedPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedPage")
            .field("bytes", &self.batch.size_in_bytes())
            .field("state", &self.state)
            .finish()
    }
}

/// Which records to list.
#[derive(Debug, Clone)]
pub struct RecordQuery {
    /// Start after this record id.
    pub after: Option<String>,
    /// At most this many records.
    pub limit: usize,
    /// Only records modified at or after this time (source time, or sync
    /// time when the source gave none).
    pub updated_since: Option<Millis>,
    /// Include tombstones.
    pub include_deleted: bool,
    /// Stop after examining this many keys, even if fewer matched: bounds the
    /// work of a filtered request. The next page continues from there.
    pub scan_limit: usize,
}

/// A page of records.
#[derive(Debug, Clone)]
pub struct RecordPage {
    /// The records, ordered by id.
    pub records: Vec<StoredRecord>,
    /// Continue after this id; `None` at the end.
    pub next_after: Option<String>,
}

/// A page of the change feed.
#[derive(Debug, Clone)]
pub struct FeedPage {
    /// Changed records at their latest state, ordered by sequence number.
    pub records: Vec<StoredRecord>,
    /// The sequence number to continue after.
    pub next_after: u64,
    /// Whether more entries follow right now.
    pub has_more: bool,
}

/// Which request log entries to return.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Only entries of this request (its inbound call and what it caused).
    pub request_id: Option<String>,
    /// Only entries of this connection.
    pub connection_id: Option<String>,
    /// Only entries of this sync run.
    pub run_id: Option<u64>,
    /// Only statuses of this class: 1 to 5 for 1xx…5xx, 0 for no response.
    pub status_class: Option<u16>,
    /// Only this direction.
    pub direction: Option<LogDirection>,
    /// Only entries at or after this time.
    pub since: Option<Millis>,
    /// Only entries at or before this time.
    pub until: Option<Millis>,
}

impl LogFilter {
    fn matches(&self, entry: &RequestLogEntry) -> bool {
        let class_ok = match self.status_class {
            None => true,
            Some(0) => entry.status.is_none(),
            Some(class) => entry.status.is_some_and(|s| s / 100 == class),
        };
        class_ok
            && self
                .request_id
                .as_ref()
                .is_none_or(|r| entry.request_id.as_ref() == Some(r))
            && self
                .connection_id
                .as_ref()
                .is_none_or(|c| entry.connection_id.as_ref() == Some(c))
            && self.run_id.is_none_or(|r| entry.run_id == Some(r))
            && self.direction.is_none_or(|d| entry.direction == d)
            && self.since.is_none_or(|s| entry.at >= s)
            && self.until.is_none_or(|u| entry.at <= u)
    }
}

/// A place in the request log, for pagination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPosition {
    /// Time of the entry.
    pub at: Millis,
    /// Its sequence number within the process.
    pub seq: u64,
}

fn log_key(at: Millis, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(16);
    key.extend_from_slice(&(at.max(0) as u64).to_be_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn index_prefix(kind: u8, value: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(value.len() + 2);
    key.push(kind);
    key.extend_from_slice(value.as_bytes());
    key.push(0);
    key
}

fn log_index_keys(entry: &RequestLogEntry) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    let primary = log_key(entry.at, entry.seq);
    for (kind, value) in [
        (b'r', entry.request_id.as_deref()),
        (b'c', entry.connection_id.as_deref()),
    ] {
        if let Some(value) = value {
            let mut key = index_prefix(kind, value);
            key.extend_from_slice(&primary);
            keys.push(key);
        }
    }
    keys
}

/// What [`Store::purge`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Tombstones past retention.
    pub tombstones: u64,
    /// Feed chunks (one per committed page) with nothing current left.
    pub feed_chunks: u64,
    /// Quarantined records past retention.
    pub quarantined: u64,
}

/// A control-plane change written in one durable `WriteBatch`: a
/// connection, its timeline entry, tokens and the events it causes land
/// together or not at all.
#[derive(Debug, Default)]
pub struct ControlWrite<'a> {
    /// The connection's new state.
    pub connection: Option<&'a Connection>,
    /// A status change; its `seq` is assigned by the store.
    pub timeline: Option<TimelineEntry>,
    /// Tokens created or changed (revocations).
    pub tokens: Vec<ApiToken>,
    /// Events to append to the log.
    pub events: Vec<NewEvent>,
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only events after this sequence number.
    pub after: u64,
    /// At most this many events.
    pub limit: usize,
    /// Only events of this connection.
    pub connection_id: Option<String>,
    /// Only events of these types (all when empty).
    pub types: Vec<String>,
}

/// A page of the event log.
#[derive(Debug, Clone)]
pub struct EventPage {
    /// The events, in sequence order.
    pub events: Vec<Event>,
    /// The sequence number examined last: continue after it.
    pub next_after: u64,
    /// Whether the scan stopped before the end of the log.
    pub has_more: bool,
}

/// Called with the last event's sequence number after events are appended.
pub type EventListener = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// Which webhook deliveries to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    /// Only deliveries older than this delivery sequence number.
    pub before: Option<u64>,
    /// Only deliveries in this status.
    pub status: Option<DeliveryStatus>,
    /// At most this many deliveries.
    pub limit: usize,
    /// Stop after examining this many, even if fewer matched.
    pub scan_limit: usize,
}

/// The embedded RocksDB store.
pub struct Store {
    db: DB,
    path: PathBuf,
    run_counter: AtomicU64,
    /// The last sequence number given to an event or timeline entry.
    control_seq: std::sync::Mutex<u64>,
    /// Told when events are appended (the webhook dispatcher wakes on it).
    event_listener: std::sync::RwLock<Option<EventListener>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (or creates) the store in `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.increase_parallelism(2);
        options.set_max_background_jobs(2);
        options.set_keep_log_file_num(5);
        let cf_options = |name: &str| {
            let mut cf = Options::default();
            cf.set_compression_type(rocksdb::DBCompressionType::Lz4);
            if name == cf::RECORDS || name == cf::FEED {
                // The ingest path: bigger memtables mean fewer, larger flushes.
                cf.set_write_buffer_size(64 << 20);
            }
            ColumnFamilyDescriptor::new(name, cf)
        };
        let db = DB::open_cf_descriptors(&options, path, cf::ALL.map(cf_options))?;
        let store = Store {
            db,
            path: path.to_path_buf(),
            run_counter: AtomicU64::new(0),
            control_seq: std::sync::Mutex::new(0),
            event_listener: std::sync::RwLock::new(None),
        };
        store.check_schema()?;
        let counter = |key: &[u8]| -> Result<u64> {
            Ok(store
                .db
                .get_cf(store.cf(cf::META), key)?
                .map(|v| codec::decode_u64(&v))
                .transpose()?
                .unwrap_or(0))
        };
        store
            .run_counter
            .store(counter(META_RUN_COUNTER)?, Ordering::SeqCst);
        *store.control_seq.lock().unwrap_or_else(|e| e.into_inner()) = counter(META_CONTROL_SEQ)?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<()> {
        let meta = self.cf(cf::META);
        match self.db.get_cf(meta, META_SCHEMA)? {
            None => self.db.put_cf(meta, META_SCHEMA, SCHEMA_VERSION)?,
            Some(found) if found == SCHEMA_VERSION => {}
            Some(found) => {
                return Err(StoreError::Schema {
                    found: String::from_utf8_lossy(&found).into_owned(),
                    expected: String::from_utf8_lossy(SCHEMA_VERSION).into_owned(),
                });
            }
        }
        Ok(())
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cf(&self, name: &str) -> &ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("every column family is created at open")
    }

    /// Control-plane writes (connections, tokens) are few and must survive a
    /// power loss: fsync them.
    fn durable() -> WriteOptions {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        options
    }

    // --- the ingest path -------------------------------------------------

    /// Commits one page atomically: records (upserts and tombstones), their
    /// feed entries, quarantined records, the new cursor and the run.
    /// Returns the model's new state; on error nothing was written.
    ///
    /// Page commits are not fsynced: the write-ahead log reaches the OS
    /// before this returns, so a killed process loses nothing, and after a
    /// power loss RocksDB recovers a prefix of the batches, whose cursors
    /// match their records, so the sync resumes from an earlier page.
    pub fn commit_page(&self, commit: PageCommit<'_>) -> Result<SyncState> {
        let page = self.prepare_page(commit)?;
        self.write_page(page)
    }

    /// The first half of [`Store::commit_page`]: encodes the page into one
    /// write batch without writing anything. The sync engine prepares page
    /// N+1 while page N is being written, then hands it to
    /// [`Store::write_page`] once page N landed.
    pub fn prepare_page(&self, commit: PageCommit<'_>) -> Result<PreparedPage> {
        if let Some(change) = commit
            .changes
            .iter()
            .find(|c| c.id.len() > codec::MAX_ID_BYTES)
        {
            return Err(StoreError::Unencodable(format!(
                "record id of {} bytes; at most {} are stored",
                change.id.len(),
                codec::MAX_ID_BYTES
            )));
        }
        let prefix = keys::model_prefix(commit.connection_id, commit.model);
        let (records, feed) = (self.cf(cf::RECORDS), self.cf(cf::FEED));
        let mut batch = WriteBatch::default();
        let mut state = commit.state.clone();
        let synced_at = now_ms();
        // One key and one value buffer for the whole page (`put_cf` copies).
        let mut key = prefix.clone();
        let mut value = Vec::new();
        // The whole page's feed entries go in one chunk under its first
        // sequence number: one extra key per page instead of per record.
        let first_seq = state.next_seq.max(1);
        state.next_seq = first_seq;
        let mut chunk = Vec::with_capacity(commit.changes.len() * 16 + 1);
        for change in commit.changes {
            let seq = state.next_seq;
            state.next_seq += 1;
            codec::encode_record(&mut value, seq, change, synced_at);
            keys::set_record_id(&mut key, prefix.len(), &change.id);
            batch.put_cf(records, &key, &value);
            codec::push_feed_item(&mut chunk, change);
        }
        if !chunk.is_empty() {
            batch.put_cf(feed, keys::feed(&prefix, first_seq), &chunk);
        }
        for rejected in commit.quarantined {
            let key = keys::quarantine(&prefix, rejected.run_id, &rejected.id);
            batch.put_cf(self.cf(cf::QUARANTINE), key, serde_json::to_vec(rejected)?);
        }
        state.cursor = Some(commit.cursor.to_string());
        state.last_run_id = Some(commit.run.id);
        if commit.completes_initial {
            state.initial_complete = true;
            state.initial_since = None;
        }
        batch.put_cf(
            self.cf(cf::SYNC_STATE),
            &prefix,
            serde_json::to_vec(&state)?,
        );
        batch.put_cf(
            self.cf(cf::RUNS),
            keys::run(commit.connection_id, commit.run.id),
            serde_json::to_vec(commit.run)?,
        );
        Ok(PreparedPage { batch, state })
    }

    /// Writes a page [`Store::prepare_page`] encoded, atomically, and
    /// returns the model's new state; on error nothing was written.
    pub fn write_page(&self, page: PreparedPage) -> Result<SyncState> {
        self.db.write(page.batch)?;
        Ok(page.state)
    }

    /// The model's sync state, if it ever synced.
    pub fn sync_state(&self, connection_id: &str, model: &str) -> Result<Option<SyncState>> {
        self.get_json(cf::SYNC_STATE, &keys::model_prefix(connection_id, model))
    }

    /// Replaces the model's sync state (to reset a cursor for a full resync).
    pub fn put_sync_state(
        &self,
        connection_id: &str,
        model: &str,
        state: &SyncState,
    ) -> Result<()> {
        self.put_json(
            cf::SYNC_STATE,
            &keys::model_prefix(connection_id, model),
            state,
            true,
        )
    }

    // --- reading records -------------------------------------------------

    /// One record by id, tombstones included.
    pub fn get_record(
        &self,
        connection_id: &str,
        model: &str,
        id: &str,
    ) -> Result<Option<StoredRecord>> {
        let key = keys::record(&keys::model_prefix(connection_id, model), id);
        match self.db.get_pinned_cf(self.cf(cf::RECORDS), key)? {
            Some(value) => Ok(Some(codec::decode_record(id.to_string(), &value)?)),
            None => Ok(None),
        }
    }

    /// Records of a model in id order, filtered, with a bounded scan.
    pub fn list_records(
        &self,
        connection_id: &str,
        model: &str,
        query: &RecordQuery,
    ) -> Result<RecordPage> {
        let prefix = keys::model_prefix(connection_id, model);
        let start = match &query.after {
            // The smallest key after `after`: the same bytes plus a zero byte.
            Some(after) => {
                let mut key = keys::record(&prefix, after);
                key.push(0);
                key
            }
            None => prefix.clone(),
        };
        let mut options = ReadOptions::default();
        if let Some(end) = keys::prefix_end(&prefix) {
            options.set_iterate_upper_bound(end);
        }
        let iter = self.db.iterator_cf_opt(
            self.cf(cf::RECORDS),
            options,
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut records = Vec::new();
        let mut scanned = 0;
        let mut last_id = None;
        for item in iter {
            let (key, value) = item?;
            let id = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            scanned += 1;
            if records.len() == query.limit || scanned > query.scan_limit {
                return Ok(RecordPage {
                    records,
                    next_after: last_id,
                });
            }
            let record = codec::decode_record(id.clone(), &value)?;
            last_id = Some(id);
            if record.deleted && !query.include_deleted {
                continue;
            }
            if let Some(since) = query.updated_since
                && record.modified_at.unwrap_or(record.synced_at) < since
            {
                continue;
            }
            records.push(record);
        }
        Ok(RecordPage {
            records,
            next_after: None,
        })
    }

    /// The change feed after sequence number `after`: each changed record at
    /// its latest state, once, at the position of its latest change. A
    /// consumer that keeps `next_after` never misses a change.
    pub fn read_feed(
        &self,
        connection_id: &str,
        model: &str,
        after: u64,
        limit: usize,
    ) -> Result<FeedPage> {
        let prefix = keys::model_prefix(connection_id, model);
        let feed = self.cf(cf::FEED);
        // The chunk holding `after + 1` starts at or before it: the last
        // chunk key not above it.
        let wanted = after.saturating_add(1);
        let mut start = prefix.clone();
        let mut floor = ReadOptions::default();
        floor.set_iterate_lower_bound(prefix.clone());
        let floor_key = keys::feed(&prefix, wanted);
        if let Some(item) = self
            .db
            .iterator_cf_opt(
                feed,
                floor,
                IteratorMode::From(&floor_key, Direction::Reverse),
            )
            .next()
        {
            let (key, _) = item?;
            if key.starts_with(&prefix) {
                start = key.to_vec();
            }
        }
        let mut options = ReadOptions::default();
        if let Some(end) = keys::prefix_end(&prefix) {
            options.set_iterate_upper_bound(end);
        }
        let iter = self.db.iterator_cf_opt(
            feed,
            options,
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut records = Vec::new();
        let mut next_after = after;
        // Skipped (superseded) entries cost a lookup each; bound them too.
        let scan_limit = limit.saturating_mul(10).max(1000);
        let mut scanned = 0;
        for item in iter {
            let (key, value) = item?;
            let first = codec::decode_u64(&key[prefix.len()..])?;
            for (index, id) in codec::decode_feed_chunk(&value)?.into_iter().enumerate() {
                let seq = first + index as u64;
                if seq <= after {
                    continue;
                }
                if records.len() == limit || scanned == scan_limit {
                    return Ok(FeedPage {
                        records,
                        next_after,
                        has_more: true,
                    });
                }
                scanned += 1;
                next_after = seq;
                // A later change superseded this entry: the record appears there.
                if let Some(record) = self.get_record(connection_id, model, &id)?
                    && record.seq == seq
                {
                    records.push(record);
                }
            }
        }
        Ok(FeedPage {
            records,
            next_after,
            has_more: false,
        })
    }

    /// Removes what the retention period lets go of, for one model:
    /// tombstones stored before `cutoff`, feed chunks whose every change was
    /// superseded by a later one or purged (readers skip those anyway), and
    /// quarantined records received before `cutoff`.
    ///
    /// The caller must hold the model's sync claim: a run writing the same
    /// records concurrently could otherwise lose a fresh upsert.
    pub fn purge(&self, connection_id: &str, model: &str, cutoff: Millis) -> Result<PurgeReport> {
        const CHUNK: usize = 1000;
        let prefix = keys::model_prefix(connection_id, model);
        let (records_cf, feed_cf, quarantine_cf) = (
            self.cf(cf::RECORDS),
            self.cf(cf::FEED),
            self.cf(cf::QUARANTINE),
        );
        let mut report = PurgeReport::default();
        let mut batch = WriteBatch::default();
        let mut pending = 0;
        for item in self.db.prefix_iterator_cf(feed_cf, &prefix) {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            let first = codec::decode_u64(&key[prefix.len()..])?;
            let mut current = 0;
            for (index, id) in codec::decode_feed_chunk(&value)?.into_iter().enumerate() {
                let seq = first + index as u64;
                let record_key = keys::record(&prefix, &id);
                let record = match self.db.get_pinned_cf(records_cf, &record_key)? {
                    Some(value) => Some(codec::decode_record(id, &value)?),
                    None => None,
                };
                match record {
                    Some(record) if record.seq == seq => {
                        if record.deleted && record.synced_at < cutoff {
                            batch.delete_cf(records_cf, &record_key);
                            report.tombstones += 1;
                            pending += 1;
                        } else {
                            current += 1;
                        }
                    }
                    // Superseded by a later change, or purged.
                    _ => {}
                }
            }
            // A chunk whose every change was superseded or purged shows
            // nothing to readers any more.
            if current == 0 {
                batch.delete_cf(feed_cf, &key);
                report.feed_chunks += 1;
                pending += 1;
            }
            if pending >= CHUNK {
                self.db.write(std::mem::take(&mut batch))?;
                pending = 0;
            }
        }
        for item in self.db.prefix_iterator_cf(quarantine_cf, &prefix) {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            let record: QuarantinedRecord = serde_json::from_slice(&value)?;
            if record.received_at < cutoff {
                batch.delete_cf(quarantine_cf, &key);
                report.quarantined += 1;
                pending += 1;
            }
            if pending >= CHUNK {
                self.db.write(std::mem::take(&mut batch))?;
                pending = 0;
            }
        }
        self.db.write(batch)?;
        Ok(report)
    }

    /// Counts a model's records (live and tombstones) by scanning.
    pub fn count_records(&self, connection_id: &str, model: &str) -> Result<(u64, u64)> {
        let prefix = keys::model_prefix(connection_id, model);
        let (mut live, mut deleted) = (0, 0);
        for item in self.db.prefix_iterator_cf(self.cf(cf::RECORDS), &prefix) {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            if codec::is_tombstone(&value)? {
                deleted += 1;
            } else {
                live += 1;
            }
        }
        Ok((live, deleted))
    }

    /// Quarantined records of a model, oldest run first.
    pub fn list_quarantine(
        &self,
        connection_id: &str,
        model: &str,
        limit: usize,
    ) -> Result<Vec<QuarantinedRecord>> {
        self.scan_json(
            cf::QUARANTINE,
            &keys::model_prefix(connection_id, model),
            limit,
        )
    }

    // --- runs --------------------------------------------------------------

    /// A new run id, unique and increasing across restarts.
    pub fn next_run_id(&self) -> Result<u64> {
        let id = self.run_counter.fetch_add(1, Ordering::SeqCst) + 1;
        self.db
            .put_cf(self.cf(cf::META), META_RUN_COUNTER, id.to_be_bytes())?;
        Ok(id)
    }

    /// Writes a run (start, retries, end).
    pub fn put_run(&self, run: &Run) -> Result<()> {
        self.put_json(cf::RUNS, &keys::run(&run.connection_id, run.id), run, false)
    }

    /// A run of a connection.
    pub fn get_run(&self, connection_id: &str, run_id: u64) -> Result<Option<Run>> {
        self.get_json(cf::RUNS, &keys::run(connection_id, run_id))
    }

    /// The connection's runs, newest first, before `before` when given.
    pub fn list_runs(
        &self,
        connection_id: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Run>> {
        let prefix = keys::connection_prefix(connection_id);
        let start = keys::run(connection_id, before.unwrap_or(u64::MAX));
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(prefix.clone());
        let iter = self.db.iterator_cf_opt(
            self.cf(cf::RUNS),
            options,
            IteratorMode::From(&start, Direction::Reverse),
        );
        let mut runs = Vec::new();
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(&prefix) || runs.len() == limit {
                break;
            }
            let run: Run = serde_json::from_slice(&value)?;
            if before.is_some_and(|b| run.id >= b) {
                continue;
            }
            runs.push(run);
        }
        Ok(runs)
    }

    /// Removes a connection's ended runs that finished before `cutoff`,
    /// except its newest `keep` runs, which stay whatever their age so the
    /// history of an idle connection does not vanish. Returns how many went.
    pub fn purge_runs(&self, connection_id: &str, cutoff: Millis, keep: usize) -> Result<u64> {
        let prefix = keys::connection_prefix(connection_id);
        let runs_cf = self.cf(cf::RUNS);
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(prefix.clone());
        let start = keys::run(connection_id, u64::MAX);
        let iter = self.db.iterator_cf_opt(
            runs_cf,
            options,
            IteratorMode::From(&start, Direction::Reverse),
        );
        let mut batch = WriteBatch::default();
        let mut removed = 0;
        for item in iter.skip(keep) {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            let run: Run = serde_json::from_slice(&value)?;
            let ended_at = run.finished_at.unwrap_or(run.started_at);
            if run.status != RunStatus::Running && ended_at < cutoff {
                batch.delete_cf(runs_cf, &key);
                removed += 1;
                if batch.len() >= 3000 {
                    self.db.write(std::mem::take(&mut batch))?;
                }
            }
        }
        self.db.write(batch)?;
        Ok(removed)
    }

    // --- connections ---------------------------------------------------------

    /// Creates or replaces a connection (fsynced).
    pub fn put_connection(&self, connection: &Connection) -> Result<()> {
        self.put_json(cf::CONNECTIONS, connection.id.as_bytes(), connection, true)
    }

    /// A connection by id.
    pub fn get_connection(&self, id: &str) -> Result<Option<Connection>> {
        self.get_json(cf::CONNECTIONS, id.as_bytes())
    }

    /// Every connection, ordered by id.
    pub fn list_connections(&self) -> Result<Vec<Connection>> {
        self.scan_json(cf::CONNECTIONS, b"", usize::MAX)
    }

    // --- API tokens --------------------------------------------------------

    /// Creates or replaces a token, keyed by its hash (fsynced).
    pub fn put_token(&self, token: &ApiToken) -> Result<()> {
        self.put_json(cf::TOKENS, token.hash.as_bytes(), token, true)
    }

    /// A token by the hash of its secret.
    pub fn get_token(&self, hash: &str) -> Result<Option<ApiToken>> {
        self.get_json(cf::TOKENS, hash.as_bytes())
    }

    /// Every token (admin and connection tokens).
    pub fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        self.scan_json(cf::TOKENS, b"", usize::MAX)
    }

    // --- request log -------------------------------------------------------

    /// Appends request log entries, with their request-id and connection
    /// index entries, in one batch.
    pub fn append_log_entries(&self, entries: &[RequestLogEntry]) -> Result<()> {
        let (log, index) = (self.cf(cf::REQUEST_LOG), self.cf(cf::REQUEST_LOG_INDEX));
        let mut batch = WriteBatch::default();
        for entry in entries {
            let key = log_key(entry.at, entry.seq);
            batch.put_cf(log, key, serde_json::to_vec(entry)?);
            for index_key in log_index_keys(entry) {
                batch.put_cf(index, index_key, b"");
            }
        }
        self.db.write(batch)?;
        Ok(())
    }

    /// Request log entries, newest first, before `before` (a position from
    /// a previous page), matching `filter`, looking at no more than
    /// `scan_limit` entries. Returns the entries and where to continue.
    pub fn query_log(
        &self,
        filter: &LogFilter,
        before: Option<LogPosition>,
        limit: usize,
        scan_limit: usize,
    ) -> Result<(Vec<RequestLogEntry>, Option<LogPosition>)> {
        let until = filter.until.unwrap_or(i64::MAX);
        let upper = match before {
            Some(position) => log_key(position.at, position.seq),
            None => log_key(until.saturating_add(1).max(0), 0),
        };
        let lower = log_key(filter.since.unwrap_or(0).max(0), 0);
        let mut entries = Vec::new();
        let mut scanned = 0;
        let mut last = None;
        let mut take =
            |key: &[u8], value: &[u8], entries: &mut Vec<RequestLogEntry>| -> Result<bool> {
                scanned += 1;
                let entry: RequestLogEntry = serde_json::from_slice(value)?;
                last = Some(LogPosition {
                    at: entry.at,
                    seq: entry.seq,
                });
                let _ = key;
                if filter.matches(&entry) {
                    entries.push(entry);
                }
                Ok(entries.len() < limit && scanned < scan_limit)
            };
        let log = self.cf(cf::REQUEST_LOG);
        // With a request ID or a connection, walk that index instead of
        // the whole log.
        let index_prefix = match (&filter.request_id, &filter.connection_id) {
            (Some(id), _) => Some(index_prefix(b'r', id)),
            (None, Some(connection)) => Some(index_prefix(b'c', connection)),
            (None, None) => None,
        };
        match index_prefix {
            Some(prefix) => {
                let mut upper_key = prefix.clone();
                upper_key.extend_from_slice(&upper);
                let mut lower_key = prefix.clone();
                lower_key.extend_from_slice(&lower);
                let mut options = ReadOptions::default();
                options.set_iterate_lower_bound(lower_key);
                let iter = self.db.iterator_cf_opt(
                    self.cf(cf::REQUEST_LOG_INDEX),
                    options,
                    IteratorMode::From(&upper_key, Direction::Reverse),
                );
                for item in iter {
                    let (key, _) = item?;
                    if !key.starts_with(&prefix) {
                        break;
                    }
                    let log_key = &key[prefix.len()..];
                    if log_key >= upper.as_slice() {
                        continue;
                    }
                    // Entries purged by retention leave no dangling reads.
                    let Some(value) = self.db.get_pinned_cf(log, log_key)? else {
                        continue;
                    };
                    if !take(log_key, &value, &mut entries)? {
                        return Ok((entries, last));
                    }
                }
            }
            None => {
                let mut options = ReadOptions::default();
                options.set_iterate_lower_bound(lower);
                let iter = self.db.iterator_cf_opt(
                    log,
                    options,
                    IteratorMode::From(&upper, Direction::Reverse),
                );
                for item in iter {
                    let (key, value) = item?;
                    if key.as_ref() >= upper.as_slice() {
                        continue;
                    }
                    if !take(&key, &value, &mut entries)? {
                        return Ok((entries, last));
                    }
                }
            }
        }
        Ok((entries, None))
    }

    /// Removes request log entries recorded before `cutoff`, and their index
    /// entries. Returns how many entries went.
    pub fn purge_log(&self, cutoff: Millis) -> Result<u64> {
        let (log, index) = (self.cf(cf::REQUEST_LOG), self.cf(cf::REQUEST_LOG_INDEX));
        let end = log_key(cutoff.max(0), 0);
        let mut batch = WriteBatch::default();
        let mut removed = 0;
        let mut options = ReadOptions::default();
        options.set_iterate_upper_bound(end.clone());
        for item in self.db.iterator_cf_opt(log, options, IteratorMode::Start) {
            let (key, value) = item?;
            if let Ok(entry) = serde_json::from_slice::<RequestLogEntry>(&value) {
                for index_key in log_index_keys(&entry) {
                    batch.delete_cf(index, index_key);
                }
            }
            batch.delete_cf(log, &key);
            removed += 1;
            if batch.len() >= 3000 {
                self.db.write(std::mem::take(&mut batch))?;
            }
        }
        self.db.write(batch)?;
        Ok(removed)
    }

    // --- control-plane writes, timeline, events ---------------------------

    /// Writes a control-plane change atomically and fsynced; returns the
    /// events as numbered. Sequence numbers are assigned and written under
    /// one lock, so the log never shows a later number before an earlier
    /// one: a reader following `next_after` misses nothing.
    pub fn write_control(&self, write: ControlWrite<'_>) -> Result<Vec<Event>> {
        self.write_control_batch(write, WriteBatch::default())
    }

    /// Writes the end of a run together with the events it causes
    /// (`sync.completed`, `sync.failed`), atomically and fsynced.
    pub fn write_run_end(&self, run: &Run, events: Vec<NewEvent>) -> Result<Vec<Event>> {
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(cf::RUNS),
            keys::run(&run.connection_id, run.id),
            serde_json::to_vec(run)?,
        );
        self.write_control_batch(
            ControlWrite {
                events,
                ..Default::default()
            },
            batch,
        )
    }

    /// Registers the one listener told about appended events.
    pub fn set_event_listener(&self, listener: EventListener) {
        *self
            .event_listener
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(listener);
    }

    /// The sequence number of the last event or timeline entry written.
    pub fn last_control_seq(&self) -> u64 {
        *self.control_seq.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write_control_batch(
        &self,
        write: ControlWrite<'_>,
        mut batch: WriteBatch,
    ) -> Result<Vec<Event>> {
        let mut seq = self.control_seq.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = *seq;
        if let Some(connection) = write.connection {
            batch.put_cf(
                self.cf(cf::CONNECTIONS),
                connection.id.as_bytes(),
                serde_json::to_vec(connection)?,
            );
        }
        if let Some(mut entry) = write.timeline {
            next += 1;
            entry.seq = next;
            batch.put_cf(
                self.cf(cf::TIMELINE),
                keys::timeline(&entry.connection_id, entry.at, entry.seq),
                serde_json::to_vec(&entry)?,
            );
        }
        for token in &write.tokens {
            batch.put_cf(
                self.cf(cf::TOKENS),
                token.hash.as_bytes(),
                serde_json::to_vec(token)?,
            );
        }
        let occurred_at = now_ms();
        let mut events = Vec::with_capacity(write.events.len());
        for new in write.events {
            next += 1;
            let event = Event {
                id: format!("evt_{next:012}"),
                seq: next,
                event_type: new.event_type,
                connection_id: new.connection_id,
                occurred_at,
                data: new.data,
            };
            batch.put_cf(
                self.cf(cf::EVENTS),
                next.to_be_bytes(),
                serde_json::to_vec(&event)?,
            );
            events.push(event);
        }
        batch.put_cf(self.cf(cf::META), META_CONTROL_SEQ, next.to_be_bytes());
        self.db.write_opt(batch, &Self::durable())?;
        *seq = next;
        drop(seq);
        if let Some(last) = events.last() {
            let listener = self
                .event_listener
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if let Some(listener) = listener {
                listener(last.seq);
            }
        }
        Ok(events)
    }

    /// A connection's status timeline, oldest first, at most `limit` entries.
    pub fn list_timeline(&self, connection_id: &str, limit: usize) -> Result<Vec<TimelineEntry>> {
        self.scan_json(cf::TIMELINE, &keys::connection_prefix(connection_id), limit)
    }

    /// Events after `query.after` in sequence order, filtered. At most
    /// `scan_limit` entries are examined, so a filter matching little cannot
    /// make one request scan the whole log; `next_after` says where to go on.
    pub fn list_events(&self, query: &EventQuery, scan_limit: usize) -> Result<EventPage> {
        let start = query.after.saturating_add(1).to_be_bytes();
        let iter = self.db.iterator_cf(
            self.cf(cf::EVENTS),
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut events = Vec::new();
        let mut next_after = query.after;
        for (scanned, item) in iter.enumerate() {
            if events.len() == query.limit || scanned == scan_limit {
                return Ok(EventPage {
                    events,
                    next_after,
                    has_more: true,
                });
            }
            let (_, value) = item?;
            let event: Event = serde_json::from_slice(&value)?;
            next_after = event.seq;
            let connection_matches = query
                .connection_id
                .as_ref()
                .is_none_or(|id| event.connection_id.as_ref() == Some(id));
            let type_matches = query.types.is_empty() || query.types.contains(&event.event_type);
            if connection_matches && type_matches {
                events.push(event);
            }
        }
        Ok(EventPage {
            events,
            next_after,
            has_more: false,
        })
    }

    // --- webhooks -------------------------------------------------------------

    /// Creates or replaces a webhook endpoint (fsynced: it holds the secret
    /// just shown to the operator).
    pub fn put_webhook(&self, endpoint: &WebhookEndpoint) -> Result<()> {
        self.put_json(cf::WEBHOOKS, endpoint.id.as_bytes(), endpoint, true)
    }

    /// A webhook endpoint by id.
    pub fn get_webhook(&self, id: &str) -> Result<Option<WebhookEndpoint>> {
        self.get_json(cf::WEBHOOKS, id.as_bytes())
    }

    /// Every webhook endpoint, ordered by id.
    pub fn list_webhooks(&self) -> Result<Vec<WebhookEndpoint>> {
        self.scan_json(cf::WEBHOOKS, b"", usize::MAX)
    }

    /// Deletes a webhook endpoint with its deliveries and their due entries.
    /// Returns how many deliveries went.
    pub fn delete_webhook(&self, id: &str) -> Result<u64> {
        let mut removed = 0;
        // One batch: a crash leaves the endpoint with all its deliveries or
        // none, never deliveries without their due entries.
        let mut batch = WriteBatch::default();
        if id.len() <= usize::from(u8::MAX) {
            let prefix = keys::connection_prefix(id);
            for item in self.db.prefix_iterator_cf(self.cf(cf::DELIVERIES), &prefix) {
                let (key, _) = item?;
                if !key.starts_with(&prefix) {
                    break;
                }
                removed += 1;
            }
            // Ids are UTF-8, so the prefix is never all 0xFF and has an end.
            if let Some(end) = keys::prefix_end(&prefix) {
                for name in [cf::DELIVERIES_DUE, cf::DELIVERIES] {
                    batch.delete_range_cf(self.cf(name), &prefix, &end);
                }
            }
        }
        batch.delete_cf(self.cf(cf::WEBHOOKS), id.as_bytes());
        self.db.write_opt(batch, &Self::durable())?;
        Ok(removed)
    }

    /// Removes events that occurred before `cutoff` and were fanned out to
    /// webhooks already, oldest first. Events are numbered in time order,
    /// so the purge stops at the first one it must keep. Returns how many
    /// went.
    pub fn purge_events(&self, cutoff: Millis) -> Result<u64> {
        let fanned_out = self.webhook_cursor()?;
        let events = self.cf(cf::EVENTS);
        let mut last = None;
        let mut removed = 0;
        for item in self.db.iterator_cf(events, IteratorMode::Start) {
            let (key, value) = item?;
            let seq = codec::decode_u64(&key)?;
            let event: Event = serde_json::from_slice(&value)?;
            if seq > fanned_out || event.occurred_at >= cutoff {
                break;
            }
            last = Some(seq);
            removed += 1;
        }
        if let Some(last) = last {
            let mut batch = WriteBatch::default();
            batch.delete_range_cf(events, 0u64.to_be_bytes(), (last + 1).to_be_bytes());
            self.db.write(batch)?;
        }
        Ok(removed)
    }

    /// Webhook deliveries that are over (delivered or failed) and last
    /// changed before `cutoff`, as (endpoint, seq).
    pub fn ended_deliveries_before(&self, cutoff: Millis) -> Result<Vec<(String, u64)>> {
        let mut ended = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(cf::DELIVERIES), IteratorMode::Start)
        {
            let (_, value) = item?;
            let delivery: WebhookDelivery = serde_json::from_slice(&value)?;
            if delivery.status != DeliveryStatus::Pending && delivery.updated_at < cutoff {
                ended.push((delivery.endpoint_id, delivery.seq));
            }
        }
        Ok(ended)
    }

    /// Deletes those of `deliveries` that are still over and last changed
    /// before `cutoff`. The caller serializes writes to deliveries, so none
    /// is made pending again meanwhile. Returns how many went.
    pub fn delete_ended_deliveries(
        &self,
        deliveries: &[(String, u64)],
        cutoff: Millis,
    ) -> Result<u64> {
        let mut batch = WriteBatch::default();
        let mut removed = 0;
        for (endpoint, seq) in deliveries {
            if let Some(delivery) = self.get_delivery(endpoint, *seq)?
                && delivery.status != DeliveryStatus::Pending
                && delivery.updated_at < cutoff
            {
                batch.delete_cf(self.cf(cf::DELIVERIES), keys::delivery(endpoint, *seq));
                removed += 1;
            }
        }
        self.db.write(batch)?;
        Ok(removed)
    }

    /// The last event sequence number fanned out to webhook deliveries.
    pub fn webhook_cursor(&self) -> Result<u64> {
        Ok(self
            .db
            .get_cf(self.cf(cf::META), META_WEBHOOK_CURSOR)?
            .map(|v| codec::decode_u64(&v))
            .transpose()?
            .unwrap_or(0))
    }

    /// Writes new deliveries (numbered here: `seq` and `id`), their due
    /// entries and the fan-out cursor `through` in **one** batch, so a
    /// crash either fans an event out completely or not at all. The caller
    /// serializes fan-outs. Not fsynced: after a power loss the batch and
    /// the cursor are lost together and the fsynced events fan out again.
    pub fn fan_out(
        &self,
        through: u64,
        mut deliveries: Vec<WebhookDelivery>,
    ) -> Result<Vec<WebhookDelivery>> {
        let meta = self.cf(cf::META);
        let mut seq = self
            .db
            .get_cf(meta, META_DELIVERY_SEQ)?
            .map(|v| codec::decode_u64(&v))
            .transpose()?
            .unwrap_or(0);
        let mut batch = WriteBatch::default();
        for delivery in &mut deliveries {
            seq += 1;
            delivery.seq = seq;
            delivery.id = format!("whd_{seq:012}");
            self.stage_delivery(&mut batch, delivery, None)?;
        }
        batch.put_cf(meta, META_DELIVERY_SEQ, seq.to_be_bytes());
        batch.put_cf(meta, META_WEBHOOK_CURSOR, through.to_be_bytes());
        self.db.write(batch)?;
        Ok(deliveries)
    }

    fn stage_delivery(
        &self,
        batch: &mut WriteBatch,
        delivery: &WebhookDelivery,
        previous: Option<&WebhookDelivery>,
    ) -> Result<()> {
        let due = self.cf(cf::DELIVERIES_DUE);
        if let Some(at) = previous.and_then(|p| p.next_attempt_at) {
            batch.delete_cf(
                due,
                keys::delivery_due(&delivery.endpoint_id, at, delivery.seq),
            );
        }
        if let Some(at) = delivery.next_attempt_at {
            batch.put_cf(
                due,
                keys::delivery_due(&delivery.endpoint_id, at, delivery.seq),
                b"",
            );
        }
        batch.put_cf(
            self.cf(cf::DELIVERIES),
            keys::delivery(&delivery.endpoint_id, delivery.seq),
            serde_json::to_vec(delivery)?,
        );
        Ok(())
    }

    /// A delivery of an endpoint by its sequence number.
    pub fn get_delivery(&self, endpoint_id: &str, seq: u64) -> Result<Option<WebhookDelivery>> {
        if endpoint_id.len() > usize::from(u8::MAX) {
            return Ok(None);
        }
        self.get_json(cf::DELIVERIES, &keys::delivery(endpoint_id, seq))
    }

    /// Replaces a delivery and moves its due entry, with the endpoint's new
    /// state when given (a `410 Gone` disables it), in one batch. The caller
    /// serializes writes to deliveries. Not fsynced: a lost attempt result
    /// means the attempt is made again (at least once).
    pub fn put_delivery(
        &self,
        delivery: &WebhookDelivery,
        endpoint: Option<&WebhookEndpoint>,
    ) -> Result<()> {
        let previous = self.get_delivery(&delivery.endpoint_id, delivery.seq)?;
        let mut batch = WriteBatch::default();
        self.stage_delivery(&mut batch, delivery, previous.as_ref())?;
        if let Some(endpoint) = endpoint {
            batch.put_cf(
                self.cf(cf::WEBHOOKS),
                endpoint.id.as_bytes(),
                serde_json::to_vec(endpoint)?,
            );
            self.db.write_opt(batch, &Self::durable())?;
        } else {
            self.db.write(batch)?;
        }
        Ok(())
    }

    /// Sequence numbers of an endpoint's deliveries due at or before `now`,
    /// earliest first, at most `limit`.
    pub fn due_deliveries(&self, endpoint_id: &str, now: Millis, limit: usize) -> Result<Vec<u64>> {
        if endpoint_id.len() > usize::from(u8::MAX) {
            return Ok(Vec::new());
        }
        let prefix = keys::connection_prefix(endpoint_id);
        let mut options = ReadOptions::default();
        options.set_iterate_upper_bound(keys::delivery_due(endpoint_id, now.saturating_add(1), 0));
        let iter = self.db.iterator_cf_opt(
            self.cf(cf::DELIVERIES_DUE),
            options,
            IteratorMode::From(&prefix, Direction::Forward),
        );
        let mut due = Vec::new();
        for item in iter {
            if due.len() == limit {
                break;
            }
            let (key, _) = item?;
            let (_, seq) = keys::parse_delivery_due(&prefix, &key)
                .ok_or_else(|| StoreError::Corrupt("malformed delivery due key".into()))?;
            due.push(seq);
        }
        Ok(due)
    }

    /// Sequence numbers of every pending delivery of an endpoint, at most
    /// `limit`, whenever they are due.
    pub fn pending_deliveries(&self, endpoint_id: &str, limit: usize) -> Result<Vec<u64>> {
        self.due_deliveries(endpoint_id, i64::MAX - 1, limit)
    }

    /// An endpoint's deliveries, newest first, filtered, with a bounded
    /// scan. Returns the deliveries and the seq to continue before.
    pub fn list_deliveries(
        &self,
        endpoint_id: &str,
        query: &DeliveryQuery,
    ) -> Result<(Vec<WebhookDelivery>, Option<u64>)> {
        if endpoint_id.len() > usize::from(u8::MAX) {
            return Ok((Vec::new(), None));
        }
        let prefix = keys::connection_prefix(endpoint_id);
        let start = keys::delivery(endpoint_id, query.before.unwrap_or(u64::MAX));
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(prefix.clone());
        let iter = self.db.iterator_cf_opt(
            self.cf(cf::DELIVERIES),
            options,
            IteratorMode::From(&start, Direction::Reverse),
        );
        let mut out = Vec::new();
        let mut scanned = 0;
        let mut last = None;
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(&prefix) {
                break;
            }
            if out.len() == query.limit || scanned == query.scan_limit {
                return Ok((out, last));
            }
            let delivery: WebhookDelivery = serde_json::from_slice(&value)?;
            if query.before.is_some_and(|b| delivery.seq >= b) {
                continue;
            }
            scanned += 1;
            last = Some(delivery.seq);
            if query.status.is_none_or(|s| delivery.status == s) {
                out.push(delivery);
            }
        }
        Ok((out, None))
    }

    // --- connect sessions and one-time codes -------------------------------

    /// Stores a short-lived connect document (a connect session or a one-time
    /// code) under `key` (fsynced).
    pub fn put_connect_doc<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.put_json(cf::CONNECT, key.as_bytes(), value, true)
    }

    /// A connect document by key.
    pub fn get_connect_doc<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.get_json(cf::CONNECT, key.as_bytes())
    }

    /// Deletes a connect document (fsynced).
    pub fn delete_connect_doc(&self, key: &str) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(cf::CONNECT), key.as_bytes());
        self.db.write_opt(batch, &Self::durable())?;
        Ok(())
    }

    /// Every connect document under `prefix` with its key, at most `limit`.
    pub fn list_connect_docs<T: DeserializeOwned>(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, T)>> {
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(cf::CONNECT),
            IteratorMode::From(prefix.as_bytes(), Direction::Forward),
        );
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(prefix.as_bytes()) || out.len() == limit {
                break;
            }
            out.push((
                String::from_utf8_lossy(&key).into_owned(),
                serde_json::from_slice(&value)?,
            ));
        }
        Ok(out)
    }

    // --- connector versions ----------------------------------------------

    /// Stores a connector component's bytes under its content hash.
    pub fn put_component(&self, hash: &str, wasm: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(cf::CONNECTORS), format!("wasm/{hash}"), wasm);
        self.db.write_opt(batch, &Self::durable())?;
        Ok(())
    }

    /// A connector component's bytes by content hash.
    pub fn get_component(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .db
            .get_cf(self.cf(cf::CONNECTORS), format!("wasm/{hash}"))?)
    }

    /// Stores a JSON document in the connectors family (registry metadata).
    pub fn put_connector_doc<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.put_json(cf::CONNECTORS, format!("doc/{key}").as_bytes(), value, true)
    }

    /// Reads a JSON document from the connectors family.
    pub fn get_connector_doc<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.get_json(cf::CONNECTORS, format!("doc/{key}").as_bytes())
    }

    /// Every JSON document of the connectors family under `prefix`.
    pub fn list_connector_docs<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>> {
        self.scan_json(
            cf::CONNECTORS,
            format!("doc/{prefix}").as_bytes(),
            usize::MAX,
        )
    }

    /// Writes `pairs` into the records family as one plain `WriteBatch`, with
    /// the same options as page commits: the baseline the ingest benchmark
    /// compares [`Store::commit_page`] against. Not for production use.
    #[doc(hidden)]
    pub fn write_raw_records(&self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        let mut batch = WriteBatch::default();
        let records = self.cf(cf::RECORDS);
        for (key, value) in pairs {
            batch.put_cf(records, key, value);
        }
        self.db.write(batch)?;
        Ok(())
    }

    // --- JSON helpers ------------------------------------------------------

    fn put_json<T: Serialize>(
        &self,
        family: &str,
        key: &[u8],
        value: &T,
        durable: bool,
    ) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(family), key, serde_json::to_vec(value)?);
        if durable {
            self.db.write_opt(batch, &Self::durable())?;
        } else {
            self.db.write(batch)?;
        }
        Ok(())
    }

    fn get_json<T: DeserializeOwned>(&self, family: &str, key: &[u8]) -> Result<Option<T>> {
        match self.db.get_pinned_cf(self.cf(family), key)? {
            Some(value) => Ok(Some(serde_json::from_slice(&value)?)),
            None => Ok(None),
        }
    }

    fn scan_json<T: DeserializeOwned>(
        &self,
        family: &str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(family),
            IteratorMode::From(prefix, Direction::Forward),
        );
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(prefix) || out.len() == limit {
                break;
            }
            out.push(serde_json::from_slice(&value)?);
        }
        Ok(out)
    }
}
