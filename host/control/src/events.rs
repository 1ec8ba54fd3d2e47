//! The host's one event log.
//!
//! Every event — connection lifecycle, connection health, sync runs — is
//! appended here with a global, increasing sequence number, in the same
//! atomic write as the state change that caused it. Webhooks
//! ([`crate::webhooks`]) and flows consume this log; the API pages through
//! it by sequence number.
//!
//! An event is `{id, seq, type, connection_id, occurred_at, data}`; `data`
//! never holds secrets.

use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_store::model::{Event, NewEvent, Run, RunStatus};
use switchyard_store::{EventPage, EventQuery, Store, StoreError};

/// A connection was created (its `status` is in the data).
pub const CONNECTION_CREATED: &str = "connection.created";
/// A connection's status changed: `{from, to, reason}`.
pub const CONNECTION_STATUS_CHANGED: &str = "connection.status_changed";
/// A connection's credentials stopped working: the customer must reconnect.
/// Emitted once per transition into `requires_reauth`.
pub const CONNECTION_REAUTHORIZATION_REQUIRED: &str = "connection.reauthorization_required";
/// A connection was authenticated again through the connect flow; its old
/// tokens were revoked and a new one issued.
pub const CONNECTION_RECONNECTED: &str = "connection.reconnected";

/// A connection crossed a health threshold (failures in a row, or the error
/// rate of the last hour) and became `degraded`: `{reason,
/// consecutive_failures, error_rate_1h, thresholds}`.
pub const CONNECTION_HEALTH_DEGRADED: &str = "connection.health_degraded";
/// A `degraded` connection's runs are healthy again and it is `active`:
/// same data as `connection.health_degraded`.
pub const CONNECTION_RECOVERED: &str = "connection.recovered";

/// A sync run finished with every page committed.
pub const SYNC_COMPLETED: &str = "sync.completed";
/// A sync run stopped on an error.
pub const SYNC_FAILED: &str = "sync.failed";

/// Every event type the host emits.
pub const TYPES: [&str; 8] = [
    CONNECTION_CREATED,
    CONNECTION_STATUS_CHANGED,
    CONNECTION_REAUTHORIZATION_REQUIRED,
    CONNECTION_RECONNECTED,
    CONNECTION_HEALTH_DEGRADED,
    CONNECTION_RECOVERED,
    SYNC_COMPLETED,
    SYNC_FAILED,
];

/// Longest error message kept in a `sync.failed` event.
const MAX_MESSAGE_CHARS: usize = 500;

/// Most entries one listing examines, whatever its filters.
pub const SCAN_LIMIT: usize = 10_000;

/// Builds an event of `event_type` about `connection_id`.
pub fn new_event(event_type: &str, connection_id: Option<&str>, data: Value) -> NewEvent {
    NewEvent {
        event_type: event_type.to_string(),
        connection_id: connection_id.map(str::to_string),
        data,
    }
}

/// The event a finished run emits: `sync.completed` or `sync.failed`;
/// `None` for a run that has not finished (running, interrupted).
pub fn run_finished(run: &Run) -> Option<NewEvent> {
    let event_type = match run.status {
        RunStatus::Succeeded => SYNC_COMPLETED,
        RunStatus::Failed => SYNC_FAILED,
        RunStatus::Running | RunStatus::Interrupted => return None,
    };
    let mut data = json!({
        "run_id": run.id,
        "model": run.model,
        "kind": run.kind.as_str(),
        "status": run.status.as_str(),
        "duration_ms": run.finished_at.map(|f| (f - run.started_at).max(0)),
        "pages": run.pages,
        "records_upserted": run.records_upserted,
        "records_deleted": run.records_deleted,
        "records_quarantined": run.records_quarantined,
        "retries": run.retries.len(),
        "connector_version": run.connector_version,
    });
    if let Some(error) = &run.error {
        data["error"] = json!({
            "code": error.code,
            "message": error.message.chars().take(MAX_MESSAGE_CHARS).collect::<String>(),
        });
    }
    Some(new_event(event_type, Some(&run.connection_id), data))
}

/// Stores a finished run together with its `sync.completed` or
/// `sync.failed` event, in one durable write: the event exists exactly when
/// the run's end does.
pub fn record_run_end(store: &Store, run: &Run) -> Result<(), StoreError> {
    store.write_run_end(run, run_finished(run).into_iter().collect())?;
    Ok(())
}

/// Reads the event log. Appending goes through
/// [`Store::write_control`](switchyard_store::Store::write_control), together
/// with the change that caused the event.
#[derive(Debug, Clone)]
pub struct Events {
    store: Arc<Store>,
}

impl Events {
    /// The log in `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Events { store }
    }

    /// Appends events that have no other state change with them (health
    /// events, for example), atomically and fsynced.
    pub fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
        self.store.write_control(switchyard_store::ControlWrite {
            events,
            ..Default::default()
        })
    }

    /// A page of events matching `query`.
    pub fn list(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        self.store.list_events(query, SCAN_LIMIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_numbered_in_order_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let events = Events::new(store.clone());
        let written = events
            .append(vec![
                new_event(CONNECTION_CREATED, Some("conn_a"), json!({})),
                new_event(CONNECTION_CREATED, Some("conn_b"), json!({})),
                new_event(
                    CONNECTION_REAUTHORIZATION_REQUIRED,
                    Some("conn_a"),
                    json!({}),
                ),
            ])
            .unwrap();
        assert_eq!(written.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
        let page = events
            .list(&EventQuery {
                after: 0,
                limit: 10,
                connection_id: Some("conn_a".into()),
                types: vec![],
            })
            .unwrap();
        assert_eq!(page.events.len(), 2);
        assert_eq!(page.next_after, 3);
        let page = events
            .list(&EventQuery {
                after: 1,
                limit: 1,
                connection_id: None,
                types: vec![CONNECTION_CREATED.into()],
            })
            .unwrap();
        assert_eq!(page.events[0].connection_id.as_deref(), Some("conn_b"));
        assert!(page.has_more);
        // A finished run and its event are written together.
        let mut run = Run {
            id: 7,
            connection_id: "conn_a".into(),
            model: "assets".into(),
            kind: switchyard_store::model::RunKind::Incremental,
            status: RunStatus::Failed,
            started_at: 1_000,
            finished_at: Some(1_250),
            pages: 2,
            records_upserted: 10,
            records_deleted: 1,
            records_quarantined: 0,
            connector_version: "1.0.0".into(),
            connector_hash: "h".into(),
            retries: vec![],
            error: Some(switchyard_store::model::ErrorRecord {
                code: "plugin_unauthorized".into(),
                message: "x".repeat(2000),
            }),
        };
        record_run_end(&store, &run).unwrap();
        assert_eq!(store.get_run("conn_a", 7).unwrap().unwrap(), run);
        let failed = events
            .list(&EventQuery {
                after: 3,
                limit: 10,
                connection_id: None,
                types: vec![SYNC_FAILED.into()],
            })
            .unwrap();
        let data = &failed.events[0].data;
        assert_eq!(data["run_id"], 7);
        assert_eq!(data["duration_ms"], 250);
        assert_eq!(data["error"]["code"], "plugin_unauthorized");
        assert_eq!(data["error"]["message"].as_str().unwrap().len(), 500);
        run.status = RunStatus::Succeeded;
        run.error = None;
        assert_eq!(run_finished(&run).unwrap().event_type, SYNC_COMPLETED);
        run.status = RunStatus::Interrupted;
        assert!(run_finished(&run).is_none());
        drop(events);
        drop(store);

        // Numbering survives a restart.
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let more = Events::new(store)
            .append(vec![new_event(CONNECTION_CREATED, None, json!({}))])
            .unwrap();
        assert_eq!(more[0].seq, 5);
    }
}
