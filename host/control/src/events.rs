//! The host's one event log.
//!
//! Every event — connection lifecycle today, sync and health events later —
//! is appended here with a global, increasing sequence number, in the same
//! atomic write as the state change that caused it. Webhooks and flows
//! consume this log; the API pages through it by sequence number.
//!
//! An event is `{id, seq, type, connection_id, occurred_at, data}`; `data`
//! never holds secrets.

use serde_json::Value;
use std::sync::Arc;
use switchyard_store::model::{Event, NewEvent};
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

/// Every event type the host emits today.
pub const TYPES: [&str; 4] = [
    CONNECTION_CREATED,
    CONNECTION_STATUS_CHANGED,
    CONNECTION_REAUTHORIZATION_REQUIRED,
    CONNECTION_RECONNECTED,
];

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

    /// Appends events that have no other state change with them.
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
        drop(events);
        drop(store);
        // Numbering survives a restart.
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let more = Events::new(store)
            .append(vec![new_event(CONNECTION_CREATED, None, json!({}))])
            .unwrap();
        assert_eq!(more[0].seq, 4);
    }
}
