//! The persisted types. Everything except records and feed entries is stored
//! as JSON: small, rarely written, and readable when debugging.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// The current time in milliseconds.
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A record as stored: the connector's latest word on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Id at the source.
    pub id: String,
    /// Feed sequence number of the change that produced this state.
    pub seq: u64,
    /// When the source last modified it, if it said.
    pub modified_at: Option<Millis>,
    /// When the host stored this state.
    pub synced_at: Millis,
    /// A tombstone: the record was deleted at the source.
    pub deleted: bool,
    /// The record's JSON (empty for tombstones).
    pub data: Vec<u8>,
}

/// One change to commit.
#[derive(Debug, Clone)]
pub struct NewChange {
    /// Id at the source.
    pub id: String,
    /// Whether it is a deletion.
    pub deleted: bool,
    /// When the source modified it.
    pub modified_at: Option<Millis>,
    /// The record's JSON; empty for deletions.
    pub data: Vec<u8>,
}

/// A record that failed validation, kept with the reason instead of stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedRecord {
    /// Id at the source.
    pub id: String,
    /// The model it was meant for.
    pub model: String,
    /// The run that received it.
    pub run_id: u64,
    /// Why it was rejected.
    pub reason: String,
    /// The data as received (possibly truncated).
    pub data: String,
    /// When it was received.
    pub received_at: Millis,
}

/// Where a model's sync stands. Written in the same batch as every page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// The connector's cursor after the last committed page.
    pub cursor: Option<String>,
    /// Whether an initial sync is complete; until then runs are initial.
    pub initial_complete: bool,
    /// The lookback start of the initial sync in progress.
    pub initial_since: Option<Millis>,
    /// The next feed sequence number to assign.
    pub next_seq: u64,
    /// The run that committed last.
    pub last_run_id: Option<u64>,
    /// When a run of this model last succeeded.
    pub last_success_at: Option<Millis>,
}

/// The kind of a sync run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// First sync of a model, over the lookback window.
    Initial,
    /// From the stored cursor.
    Incremental,
    /// An initial sync requested over an existing one (cursor reset).
    FullResync,
}

impl RunKind {
    /// The name the API uses: `initial`, `incremental`, `full_resync`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Initial => "initial",
            RunKind::Incremental => "incremental",
            RunKind::FullResync => "full_resync",
        }
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// In progress (or interrupted by a crash, until the next start).
    Running,
    /// Finished with every page committed.
    Succeeded,
    /// Stopped by an error.
    Failed,
    /// Stopped because the process went away mid-run.
    Interrupted,
}

impl RunStatus {
    /// The name the API uses: `running`, `succeeded`, `failed`, `interrupted`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// A retry within a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryRecord {
    /// When the failure happened.
    pub at: Millis,
    /// The error code.
    pub code: String,
    /// The error message.
    pub message: String,
    /// How long the run waited before retrying.
    pub wait_ms: u64,
}

/// An error as recorded on runs and shown by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRecord {
    /// Stable code.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

/// One sync run of one model of one connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// Unique, increasing.
    pub id: u64,
    /// The connection synced.
    pub connection_id: String,
    /// The model synced.
    pub model: String,
    /// Initial, incremental or full resync.
    pub kind: RunKind,
    /// Where it stands.
    pub status: RunStatus,
    /// When it started.
    pub started_at: Millis,
    /// When it ended.
    pub finished_at: Option<Millis>,
    /// Pages committed.
    pub pages: u64,
    /// Records written (created or updated).
    pub records_upserted: u64,
    /// Tombstones written.
    pub records_deleted: u64,
    /// Records rejected by validation.
    pub records_quarantined: u64,
    /// The connector version that ran.
    pub connector_version: String,
    /// The content hash of that version.
    pub connector_hash: String,
    /// Retries, in order.
    pub retries: Vec<RetryRecord>,
    /// Why it failed.
    pub error: Option<ErrorRecord>,
}

/// What a connection is doing, as far as syncing and reads are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Created, not yet authenticated.
    Pending,
    /// Syncing normally.
    Active,
    /// Renewing its session after a 401.
    Refreshing,
    /// Credentials changed at the source: the customer must reconnect.
    RequiresReauth,
    /// Working, but with repeated failures or a forbidden model.
    Degraded,
    /// Stopped by a configuration or permanent error.
    Error,
    /// Paused by an operator.
    Paused,
    /// Switched off; kept for its data.
    Disabled,
}

/// A customer's connection to a source system through a connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// `conn_…`.
    pub id: String,
    /// The connector's id (`demo-cmms`).
    pub connector_id: String,
    /// A version pinned by the operator; `None` follows the active version.
    #[serde(default)]
    pub pinned_version: Option<String>,
    /// Non-secret settings.
    pub settings: BTreeMap<String, String>,
    /// Credentials and session, sealed (encrypted); never stored in clear.
    #[serde(default)]
    pub sealed_secrets: Option<String>,
    /// Current status.
    pub status: ConnectionStatus,
    /// Days the initial sync reaches back.
    pub lookback_days: u32,
    /// Seconds between incremental syncs, per model (`*` for the default).
    #[serde(default)]
    pub sync_interval_secs: BTreeMap<String, u64>,
    /// When it was created.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
    /// Incremented by every reconnect: a run that started with older
    /// credentials cannot change the status of the reconnected connection.
    #[serde(default)]
    pub credentials_version: u64,
}

/// One status change of a connection: the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The connection.
    pub connection_id: String,
    /// Increasing across the store; orders entries of the same millisecond.
    pub seq: u64,
    /// When it happened.
    pub at: Millis,
    /// The status before; `None` for the first entry of a connection.
    pub from: Option<ConnectionStatus>,
    /// The status after.
    pub to: ConnectionStatus,
    /// Why, in words (secrets redacted).
    pub reason: String,
}

/// Something that happened, in the host's one event log: what webhooks and
/// flows consume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `evt_…`, stable: consumers deduplicate on it.
    pub id: String,
    /// Global, increasing with every event: the log's order and cursor.
    pub seq: u64,
    /// Dotted type, such as `connection.reauthorization_required`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The connection it concerns, if any.
    pub connection_id: Option<String>,
    /// When it happened.
    pub occurred_at: Millis,
    /// Type-specific details; never secrets.
    pub data: serde_json::Value,
}

/// An event before the store numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Dotted type.
    pub event_type: String,
    /// The connection it concerns, if any.
    pub connection_id: Option<String>,
    /// Type-specific details; never secrets.
    pub data: serde_json::Value,
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read records, the change feed, runs and health of its connection.
    Read,
    /// Trigger syncs and (later) write to the source through actions.
    Write,
    /// Everything, on every connection and connector.
    Admin,
}

/// An API token. Only the SHA-256 of its secret is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// `tok_…`, safe to show and log.
    pub id: String,
    /// SHA-256 of the secret, hex.
    pub hash: String,
    /// The first characters of the secret, to recognise it in a list.
    pub display_prefix: String,
    /// The connection it is scoped to; `None` for admin tokens.
    pub connection_id: Option<String>,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// When it was issued.
    pub created_at: Millis,
    /// When it stops working, if ever.
    pub expires_at: Option<Millis>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Millis>,
    /// Why it was revoked.
    #[serde(default)]
    pub revoked_reason: Option<String>,
}

/// Whether a logged request came in (to the API) or went out (from a
/// connector to its source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogDirection {
    /// A request to Switchyard's API.
    Inbound,
    /// A request a connector made to its source system.
    Outbound,
}

/// One logged HTTP exchange. Secrets are redacted before it is built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLogEntry {
    /// When the request started.
    pub at: Millis,
    /// Orders entries with the same `at`.
    pub seq: u64,
    /// Inbound or outbound.
    pub direction: LogDirection,
    /// The API request this belongs to (its own, or the one that caused it).
    pub request_id: Option<String>,
    /// The connection it concerns.
    pub connection_id: Option<String>,
    /// The sync run that made it (outbound requests of syncs).
    pub run_id: Option<u64>,
    /// HTTP method.
    pub method: String,
    /// Path and query (inbound) or full URL (outbound).
    pub url: String,
    /// Response status; `None` when no response came.
    pub status: Option<u16>,
    /// Error code, for failed requests.
    pub error: Option<String>,
    /// From the request to the end of the response.
    pub duration_ms: u64,
    /// Request headers, secrets redacted.
    pub request_headers: Vec<(String, String)>,
    /// Response headers, secrets redacted.
    pub response_headers: Vec<(String, String)>,
    /// Start of the request body, secrets redacted.
    pub request_body: String,
    /// Start of the response body, secrets redacted.
    pub response_body: String,
}

/// A webhook endpoint: where the host POSTs events, which ones, and the
/// secrets it signs them with (sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// `wh_…`.
    pub id: String,
    /// Absolute `http` or `https` URL.
    pub url: String,
    /// What the operator says it is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Event types it receives: exact types, `group.*`, or `*` for all.
    pub event_types: Vec<String>,
    /// Only events of this connection, when set.
    #[serde(default)]
    pub connection_id: Option<String>,
    /// Whether events are delivered to it.
    pub enabled: bool,
    /// Why it was disabled (by an operator, or by a `410 Gone`).
    #[serde(default)]
    pub disabled_reason: Option<String>,
    /// Signing secrets, the current one first; older ones only while their
    /// grace period after a rotation lasts.
    pub secrets: Vec<EndpointSecret>,
    /// The event log's last sequence number when it was created or last
    /// enabled: it receives only later events.
    pub created_after_seq: u64,
    /// When it was created.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}

/// One signing secret of a webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSecret {
    /// The `whsec_…` secret, sealed by the vault for the endpoint.
    pub sealed: String,
    /// When it was created.
    pub created_at: Millis,
    /// When it stops being used; `None` for the current secret.
    pub expires_at: Option<Millis>,
}

/// Where a webhook delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt got a 2xx answer.
    Delivered,
    /// Every attempt failed, or the endpoint is gone or disabled.
    Failed,
}

impl DeliveryStatus {
    /// The name the API uses: `pending`, `delivered`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// One attempt to deliver a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// 1 for the first attempt of the delivery, and so on.
    pub number: u32,
    /// When it started.
    pub at: Millis,
    /// `scheduled` (the retry schedule) or `manual` (a redelivery).
    pub trigger: String,
    /// The receiver's HTTP status; `None` when no answer came.
    pub status_code: Option<u16>,
    /// How long it took.
    pub duration_ms: u64,
    /// `delivered`, `retry`, `failed` or `gone`.
    pub outcome: String,
    /// Why it failed, without the URL: `timeout`, `connect`, or the status.
    pub error: Option<String>,
    /// The start of the answer's body, redacted.
    pub response_body: String,
}

/// One event on its way to one endpoint: the outbox entry, with every
/// attempt made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// `whd_…`, from `seq`.
    pub id: String,
    /// Increasing across the host, assigned when the event is fanned out.
    pub seq: u64,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event's id (`evt_…`).
    pub event_id: String,
    /// The event's sequence number in the log.
    pub event_seq: u64,
    /// The event's type.
    pub event_type: String,
    /// The connection it concerns.
    pub connection_id: Option<String>,
    /// The `webhook-id` header: the same for every attempt and redelivery.
    pub message_id: String,
    /// The exact JSON body sent, the same for every attempt.
    pub payload: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// When it was created.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
    /// When the next attempt is due; `Some` exactly while `pending`.
    pub next_attempt_at: Option<Millis>,
    /// The next attempt was asked for by an operator.
    #[serde(default)]
    pub next_attempt_manual: bool,
    /// The next attempt is a one-off redelivery of a finished delivery: if
    /// it fails, the delivery is `failed` again, with no retries.
    #[serde(default)]
    pub next_attempt_final: bool,
    /// Attempts of the retry schedule made so far.
    pub scheduled_attempts: u32,
    /// Every attempt made, manual ones included.
    pub attempt_count: u32,
    /// The latest attempts (older ones are dropped past a bound).
    pub attempts: Vec<DeliveryAttempt>,
    /// Why it failed without an attempt (the endpoint was disabled).
    #[serde(default)]
    pub failure_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_serialized_form() {
        for kind in [RunKind::Initial, RunKind::Incremental, RunKind::FullResync] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        for status in [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        for status in [
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Interrupted,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }
}
