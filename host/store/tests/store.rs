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

fn delivery(endpoint: &str, event_seq: u64, due: Option<i64>) -> WebhookDelivery {
    WebhookDelivery {
        id: String::new(),
        seq: 0,
        endpoint_id: endpoint.into(),
        event_id: format!("evt_{event_seq:012}"),
        event_seq,
        event_type: "sync.completed".into(),
        connection_id: Some("conn_a".into()),
        message_id: format!("msg_evt_{event_seq:012}"),
        payload: "{}".into(),
        status: if due.is_some() {
            DeliveryStatus::Pending
        } else {
            DeliveryStatus::Delivered
        },
        created_at: 1,
        updated_at: 1,
        next_attempt_at: due,
        next_attempt_manual: false,
        next_attempt_final: false,
        scheduled_attempts: 0,
        attempt_count: 0,
        attempts: vec![],
        failure_reason: None,
    }
}

#[test]
fn the_webhook_outbox_numbers_indexes_and_moves_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.webhook_cursor().unwrap(), 0);
    let written = store
        .fan_out(
            7,
            vec![
                delivery("wh_a", 5, Some(2_000)),
                delivery("wh_b", 5, Some(1_000)),
                delivery("wh_a", 7, Some(3_000)),
            ],
        )
        .unwrap();
    assert_eq!(
        written.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["whd_000000000001", "whd_000000000002", "whd_000000000003"]
    );
    assert_eq!(store.webhook_cursor().unwrap(), 7);
    // Due ones come in time order, per endpoint, and only those due.
    assert_eq!(store.due_deliveries("wh_a", 2_000, 10).unwrap(), [1]);
    assert_eq!(store.due_deliveries("wh_a", 3_000, 10).unwrap(), [1, 3]);
    assert_eq!(store.due_deliveries("wh_a", 3_000, 1).unwrap(), [1]);
    assert_eq!(store.due_deliveries("wh_b", 3_000, 10).unwrap(), [2]);
    assert!(
        store
            .due_deliveries("wh_", i64::MAX, 10)
            .unwrap()
            .is_empty()
    );

    // Rescheduling moves the due entry; delivering removes it.
    let mut first = store.get_delivery("wh_a", 1).unwrap().unwrap();
    first.next_attempt_at = Some(5_000);
    store.put_delivery(&first, None).unwrap();
    assert_eq!(store.due_deliveries("wh_a", 4_000, 10).unwrap(), [3]);
    assert_eq!(store.pending_deliveries("wh_a", 10).unwrap(), [3, 1]);
    first.next_attempt_at = None;
    first.status = DeliveryStatus::Delivered;
    store.put_delivery(&first, None).unwrap();
    assert_eq!(store.pending_deliveries("wh_a", 10).unwrap(), [3]);

    // Listing: newest first, by status, paginated.
    let all = |before, status| {
        store
            .list_deliveries(
                "wh_a",
                &switchyard_store::DeliveryQuery {
                    before,
                    status,
                    limit: 1,
                    scan_limit: 100,
                },
            )
            .unwrap()
    };
    let (page, next) = all(None, None);
    assert_eq!(page[0].seq, 3);
    assert_eq!(next, Some(3));
    let (page, next) = all(next, None);
    assert_eq!((page[0].seq, next), (1, None), "the end: no cursor");
    let (page, _) = all(None, Some(DeliveryStatus::Delivered));
    assert_eq!(page[0].seq, 1);
    // A hostile, over-long id finds nothing rather than panicking.
    assert!(store.get_delivery(&"x".repeat(300), 1).unwrap().is_none());

    // Deleting an endpoint takes its deliveries and due entries along.
    assert_eq!(store.delete_webhook("wh_a").unwrap(), 2);
    assert!(store.pending_deliveries("wh_a", 10).unwrap().is_empty());
    assert!(store.get_delivery("wh_a", 3).unwrap().is_none());
    assert_eq!(store.pending_deliveries("wh_b", 10).unwrap(), [2]);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.webhook_cursor().unwrap(), 7);
    let more = store.fan_out(9, vec![delivery("wh_b", 9, None)]).unwrap();
    assert_eq!(more[0].seq, 4, "numbering survives a restart");
}

#[test]
fn retention_purges_ended_deliveries_and_fanned_out_events_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let new_event = |n: u64| NewEvent {
        event_type: "sync.completed".into(),
        connection_id: Some("conn_a".into()),
        data: serde_json::json!({ "n": n }),
    };
    let events = store
        .write_control(switchyard_store::ControlWrite {
            events: (0..3).map(new_event).collect(),
            ..Default::default()
        })
        .unwrap();
    let mut ended = delivery("wh_a", events[0].seq, None);
    ended.status = DeliveryStatus::Failed;
    store
        .fan_out(
            events[1].seq,
            vec![ended, delivery("wh_a", events[1].seq, Some(1))],
        )
        .unwrap();
    let later = now_ms() + 1000;

    assert_eq!(store.purge_events(0).unwrap(), 0, "nothing is old yet");
    assert!(store.ended_deliveries_before(0).unwrap().is_empty());

    assert_eq!(
        store.purge_events(later).unwrap(),
        2,
        "the third was not fanned out"
    );
    let left = store
        .list_events(
            &switchyard_store::EventQuery {
                after: 0,
                limit: 10,
                connection_id: None,
                types: Vec::new(),
            },
            100,
        )
        .unwrap();
    assert_eq!(
        left.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [events[2].seq]
    );

    let ended = store.ended_deliveries_before(later).unwrap();
    assert_eq!(ended, [("wh_a".to_string(), 1)], "a pending one stays");
    // Listed pending deliveries are checked again before they go.
    let both = [ended[0].clone(), ("wh_a".to_string(), 2)];
    assert_eq!(store.delete_ended_deliveries(&both, later).unwrap(), 1);
    assert!(store.get_delivery("wh_a", 1).unwrap().is_none());
    assert_eq!(store.pending_deliveries("wh_a", 10).unwrap(), [2]);
}

#[test]
fn run_history_keeps_the_newest_and_running_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for id in 1..=5 {
        let mut finished = run(id);
        finished.status = if id == 1 {
            RunStatus::Running
        } else {
            RunStatus::Succeeded
        };
        finished.started_at = 10;
        finished.finished_at = (id != 1).then_some(20);
        store.put_run(&finished).unwrap();
    }
    assert_eq!(
        store.purge_runs("conn_a", 20, 0).unwrap(),
        0,
        "none ended before 20"
    );
    // Runs 5 and 4 are the newest two; run 1 is still running.
    assert_eq!(store.purge_runs("conn_a", 21, 2).unwrap(), 2);
    let left: Vec<u64> = store
        .list_runs("conn_a", None, 10)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, [5, 4, 1]);
}
