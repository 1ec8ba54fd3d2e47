use switchyard_store::model::*;
use switchyard_store::{PageCommit, RecordQuery, Store};

fn run(id: u64) -> Run {
    Run {
        id,
        connection_id: "conn_a".into(),
        model: "assets".into(),
        kind: RunKind::Initial,
        status: RunStatus::Running,
        started_at: now_ms(),
        finished_at: None,
        pages: 1,
        records_upserted: 0,
        records_deleted: 0,
        records_quarantined: 0,
        connector_version: "1.0.0".into(),
        connector_hash: "h".into(),
        retries: vec![],
        error: None,
    }
}

fn upsert(id: &str, modified_at: i64) -> NewChange {
    NewChange {
        id: id.into(),
        deleted: false,
        modified_at: Some(modified_at),
        data: format!(r#"{{"id":"{id}","v":{modified_at}}}"#).into_bytes(),
    }
}

fn delete(id: &str) -> NewChange {
    NewChange {
        id: id.into(),
        deleted: true,
        modified_at: None,
        data: vec![],
    }
}

fn commit(store: &Store, state: &SyncState, changes: &[NewChange], cursor: &str) -> SyncState {
    store
        .commit_page(PageCommit {
            connection_id: "conn_a",
            model: "assets",
            changes,
            quarantined: &[],
            state,
            cursor,
            completes_initial: false,
            run: &run(1),
        })
        .unwrap()
}

fn query(limit: usize) -> RecordQuery {
    RecordQuery {
        after: None,
        limit,
        updated_since: None,
        include_deleted: false,
        scan_limit: 10_000,
    }
}

#[test]
fn pages_commit_records_feed_and_cursor_together_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let state = commit(
            &store,
            &SyncState::default(),
            &[upsert("a", 10), upsert("b", 20)],
            "c1",
        );
        assert_eq!(state.next_seq, 3);
        assert_eq!(state.cursor.as_deref(), Some("c1"));
        let state = commit(
            &store,
            &state,
            &[upsert("a", 30), delete("b"), upsert("c", 5)],
            "c2",
        );
        assert_eq!(state.next_seq, 6);
    }
    let store = Store::open(dir.path()).unwrap();
    let state = store.sync_state("conn_a", "assets").unwrap().unwrap();
    assert_eq!(state.cursor.as_deref(), Some("c2"));
    assert_eq!(state.next_seq, 6);

    let a = store.get_record("conn_a", "assets", "a").unwrap().unwrap();
    assert_eq!((a.seq, a.modified_at), (3, Some(30)));
    assert!(
        store
            .get_record("conn_a", "assets", "b")
            .unwrap()
            .unwrap()
            .deleted
    );
    assert_eq!(store.count_records("conn_a", "assets").unwrap(), (2, 1));
    assert!(store.get_record("conn_b", "assets", "a").unwrap().is_none());
}

#[test]
fn listing_filters_and_paginates() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let changes: Vec<NewChange> = (0..10).map(|i| upsert(&format!("r{i}"), i)).collect();
    let state = commit(&store, &SyncState::default(), &changes, "x");
    commit(&store, &state, &[delete("r3")], "y");

    let page = store.list_records("conn_a", "assets", &query(4)).unwrap();
    let ids: Vec<_> = page.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r0", "r1", "r2", "r4"]);
    let next = RecordQuery {
        after: page.next_after,
        ..query(100)
    };
    let rest = store.list_records("conn_a", "assets", &next).unwrap();
    assert_eq!(rest.records.len(), 5);
    assert!(rest.next_after.is_none());

    let since = RecordQuery {
        updated_since: Some(7),
        include_deleted: true,
        ..query(100)
    };
    let ids: Vec<_> = store
        .list_records("conn_a", "assets", &since)
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.id)
        .collect();
    // r3's tombstone has no source time: its sync time counts.
    assert_eq!(ids, ["r3", "r7", "r8", "r9"]);

    let bounded = RecordQuery {
        updated_since: Some(9),
        scan_limit: 3,
        ..query(100)
    };
    let page = store.list_records("conn_a", "assets", &bounded).unwrap();
    assert!(page.records.is_empty());
    assert_eq!(page.next_after.as_deref(), Some("r2"));
}

#[test]
fn the_feed_shows_each_record_once_at_its_latest_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let state = commit(
        &store,
        &SyncState::default(),
        &[upsert("a", 1), upsert("b", 1)],
        "1",
    );
    let page = store.read_feed("conn_a", "assets", 0, 100).unwrap();
    assert_eq!(page.records.len(), 2);
    let cursor = page.next_after;
    assert_eq!(cursor, 2);

    commit(
        &store,
        &state,
        &[upsert("a", 2), delete("b"), upsert("c", 2)],
        "2",
    );
    let page = store.read_feed("conn_a", "assets", cursor, 100).unwrap();
    let seen: Vec<_> = page
        .records
        .iter()
        .map(|r| (r.id.as_str(), r.deleted))
        .collect();
    assert_eq!(seen, [("a", false), ("b", true), ("c", false)]);
    assert!(!page.has_more);

    // From the start, superseded entries are skipped.
    let all = store.read_feed("conn_a", "assets", 0, 100).unwrap();
    let ids: Vec<_> = all.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(all.next_after, 5);

    let small = store.read_feed("conn_a", "assets", 0, 1).unwrap();
    assert!(small.has_more);
}

#[test]
fn runs_list_newest_first_and_ids_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let last = {
        let store = Store::open(dir.path()).unwrap();
        for _ in 0..5 {
            let id = store.next_run_id().unwrap();
            store.put_run(&run(id)).unwrap();
        }
        store.next_run_id().unwrap()
    };
    let store = Store::open(dir.path()).unwrap();
    assert!(store.next_run_id().unwrap() > last);
    let runs = store.list_runs("conn_a", None, 3).unwrap();
    let ids: Vec<_> = runs.iter().map(|r| r.id).collect();
    assert_eq!(ids, [5, 4, 3]);
    let older = store.list_runs("conn_a", Some(3), 10).unwrap();
    assert_eq!(older.iter().map(|r| r.id).collect::<Vec<_>>(), [2, 1]);
    assert!(store.list_runs("conn_b", None, 10).unwrap().is_empty());
}

#[test]
fn purge_drops_superseded_entries_and_old_tombstones_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let state = commit(
        &store,
        &SyncState::default(),
        &[upsert("a", 1), upsert("b", 1)],
        "1",
    );
    let state = commit(&store, &state, &[upsert("c", 1)], "2");
    commit(&store, &state, &[upsert("a", 2), delete("b")], "3");
    // Nothing is old enough yet: only the first page's chunk, whose changes
    // were all superseded, goes.
    let report = store.purge("conn_a", "assets", 0).unwrap();
    assert_eq!((report.tombstones, report.feed_chunks), (0, 1));
    assert!(
        store
            .get_record("conn_a", "assets", "b")
            .unwrap()
            .unwrap()
            .deleted
    );
    let feed = store.read_feed("conn_a", "assets", 0, 100).unwrap();
    let ids: Vec<_> = feed.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["c", "a", "b"]);

    let report = store.purge("conn_a", "assets", now_ms() + 1000).unwrap();
    assert_eq!((report.tombstones, report.feed_chunks), (1, 0));
    assert!(store.get_record("conn_a", "assets", "b").unwrap().is_none());
    assert_eq!(store.count_records("conn_a", "assets").unwrap(), (2, 0));
    let ids: Vec<_> = store
        .read_feed("conn_a", "assets", 0, 100)
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["c", "a"]);
}

#[test]
fn the_feed_resumes_inside_a_page() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let changes: Vec<NewChange> = (0..10).map(|i| upsert(&format!("r{i}"), i)).collect();
    let state = commit(&store, &SyncState::default(), &changes, "1");
    commit(&store, &state, &[upsert("r10", 10)], "2");
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = store.read_feed("conn_a", "assets", after, 3).unwrap();
        seen.extend(page.records.iter().map(|r| r.seq));
        after = page.next_after;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(seen, (1..=11).collect::<Vec<_>>());
}

#[test]
fn an_id_too_long_to_encode_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let changes = [upsert("ok", 1), upsert(&"x".repeat(70_000), 2)];
    let refused = store.commit_page(PageCommit {
        connection_id: "conn_a",
        model: "assets",
        changes: &changes,
        quarantined: &[],
        state: &SyncState::default(),
        cursor: "1",
        completes_initial: false,
        run: &run(1),
    });
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("record id of 70000 bytes")
    );
    assert!(
        store
            .get_record("conn_a", "assets", "ok")
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .read_feed("conn_a", "assets", 0, 10)
            .unwrap()
            .records
            .is_empty()
    );
}
