//! Webhooks: the host's events, POSTed to registered endpoints, signed the
//! Standard Webhooks way, from a durable outbox.
//!
//! - **Endpoints** (`wh_…`) have a URL, event type filters (`sync.failed`,
//!   `connection.*`, `*`), an optional connection filter, and signing
//!   secrets (`whsec_` + base64 of 32 random bytes) sealed by the [`Vault`]
//!   for the endpoint. After a rotation the old secret keeps signing next to
//!   the new one for a grace period.
//! - **Fan-out**: the dispatcher reads the event log after its cursor, in
//!   sequence order, creates one delivery per matching enabled endpoint, and
//!   advances the cursor in the same RocksDB batch. Events are written
//!   atomically with their cause, so every event is fanned out exactly once,
//!   even across crashes.
//! - **Deliveries** (`whd_…`) keep the exact body, every attempt (time,
//!   status, duration, error, the start of the answer) and the next attempt
//!   time, indexed per endpoint so due ones are found with one seek.
//!   A 2xx answer delivers; `410 Gone` disables the endpoint; anything else
//!   is retried on the schedule (about three days by default), then fails.
//!   An operator can redeliver any delivery; the `webhook-id` stays the same.
//!
//! Attempts run concurrently under a global bound and a per-endpoint bound,
//! so one slow endpoint cannot hold up the others.

use crate::events;
use crate::request_log::{RequestLog, is_secret_key, redact_body, redact_issued_secrets};
use crate::vault::{Vault, VaultError, random_bytes};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use switchyard_runtime::redact::{REDACTED, Secrets, is_secret_header};
use switchyard_store::model::{
    DeliveryAttempt, DeliveryStatus, EndpointSecret, Event, LogDirection, Millis, RequestLogEntry,
    WebhookDelivery, WebhookEndpoint, now_ms,
};
use switchyard_store::{DeliveryQuery, EventQuery, Store, StoreError};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// The prefix of webhook signing secrets.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a signing secret (the Standard Webhooks range is 24–64).
const SECRET_BYTES: usize = 32;
/// Seconds before each attempt: at once, then 5 s, 5 min, 30 min, 2 h, 5 h,
/// 10 h, 14 h, 20 h and 24 h after the previous one — about 3 days in all.
pub const DEFAULT_RETRY_SCHEDULE_SECS: [u64; 10] = [
    0, 5, 300, 1800, 7200, 18_000, 36_000, 50_400, 72_000, 86_400,
];
/// How long an old secret keeps signing after a rotation, unless asked.
pub const DEFAULT_ROTATION_GRACE: Duration = Duration::from_secs(24 * 3600);
/// The longest grace period a rotation may ask for.
pub const MAX_ROTATION_GRACE: Duration = Duration::from_secs(7 * 86_400);
/// Endpoints one host keeps: each event is matched against all of them.
pub const MAX_ENDPOINTS: usize = 100;
/// Entries of an endpoint's `event_types`.
const MAX_EVENT_TYPES: usize = 50;
/// Longest endpoint URL.
const MAX_URL_CHARS: usize = 2048;
/// Longest endpoint description.
const MAX_DESCRIPTION_CHARS: usize = 500;
/// Secrets an endpoint signs with at once (the current one and those in
/// their grace period): repeated rotations drop the oldest.
const MAX_SECRETS: usize = 5;
/// Attempts kept on a delivery; older ones are dropped, the count stays.
const ATTEMPTS_KEPT: usize = 50;
/// Bytes of a receiver's answer kept on the attempt.
const RESPONSE_SNIPPET_BYTES: usize = 1024;
/// Events fanned out per batch (one RocksDB write each).
const FAN_OUT_BATCH: usize = 500;
/// Batches per dispatcher pass, so a long backlog cannot starve deliveries.
const FAN_OUT_BATCHES_PER_PASS: usize = 20;
/// Longest retry schedule, and the longest wait in it.
const MAX_SCHEDULE_ENTRIES: usize = 50;
const MAX_SCHEDULE_WAIT_SECS: u64 = 7 * 86_400;
/// How long a delivery whose attempt could not be recorded is held back.
const UNRECORDED_BACKOFF: Duration = Duration::from_secs(30);
/// Deliveries the retention purge deletes per lock hold.
const PURGE_CHUNK: usize = 500;
/// Event type filters that match a group of types.
const GROUPS: [&str; 2] = ["connection.*", "sync.*"];

/// How webhooks are delivered.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The wait before each attempt, the first one included (normally 0).
    pub retry_schedule: Vec<Duration>,
    /// The longest one attempt may take, answer included.
    pub attempt_timeout: Duration,
    /// How long an old secret keeps signing after a rotation, by default.
    pub rotation_grace: Duration,
    /// Attempts in flight at once, across endpoints.
    pub max_concurrent: usize,
    /// Attempts in flight at once to one endpoint.
    pub max_per_endpoint: usize,
    /// How often the dispatcher looks for work when nothing wakes it.
    pub poll_interval: Duration,
    /// How long finished deliveries, and events already fanned out, are
    /// kept.
    pub retention: Duration,
    /// How often the retention purge runs.
    pub purge_every: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            retry_schedule: DEFAULT_RETRY_SCHEDULE_SECS
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            attempt_timeout: Duration::from_secs(15),
            rotation_grace: DEFAULT_ROTATION_GRACE,
            max_concurrent: 16,
            max_per_endpoint: 4,
            poll_interval: Duration::from_millis(250),
            retention: Duration::from_secs(30 * 86_400),
            purge_every: Duration::from_secs(3600),
        }
    }
}

/// Parses a retry schedule: comma-separated seconds before each attempt,
/// such as `0,5,300`. At least one entry, at most 50, each at most 7 days.
pub fn parse_retry_schedule(spec: &str) -> Result<Vec<Duration>, String> {
    let mut schedule = Vec::new();
    for part in spec.split(',').map(str::trim) {
        let secs: u64 = part
            .parse()
            .map_err(|_| format!("`{part}` is not a number of seconds"))?;
        if secs > MAX_SCHEDULE_WAIT_SECS {
            return Err(format!("{secs} s is longer than 7 days"));
        }
        schedule.push(Duration::from_secs(secs));
    }
    if schedule.len() > MAX_SCHEDULE_ENTRIES {
        return Err(format!("more than {MAX_SCHEDULE_ENTRIES} attempts"));
    }
    Ok(schedule)
}

/// A webhook operation's failure. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No such endpoint.
    #[error("there is no webhook `{0}`")]
    NotFound(String),
    /// No such delivery of the endpoint.
    #[error("webhook `{webhook}` has no delivery `{delivery}`")]
    DeliveryNotFound {
        /// The endpoint.
        webhook: String,
        /// The delivery asked for.
        delivery: String,
    },
    /// A field is missing or invalid.
    #[error("`{field}` {reason}")]
    InvalidField {
        /// The field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An event type filter names no known type.
    #[error("`{0}` is not an event type")]
    UnknownEventType(String),
    /// The connection filter names no connection.
    #[error("there is no connection `{0}`")]
    ConnectionNotFound(String),
    /// The endpoint is disabled: nothing is sent to it.
    #[error("webhook `{0}` is disabled; enable it first")]
    Disabled(String),
    /// An attempt of the delivery is running.
    #[error("an attempt of delivery `{0}` is in progress; try again when it ends")]
    InProgress(String),
    /// Too many endpoints.
    #[error("at most {MAX_ENDPOINTS} webhooks can be registered")]
    TooMany,
    /// A secret could not be opened.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl WebhookError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::NotFound(_) => "webhook_not_found",
            WebhookError::DeliveryNotFound { .. } => "delivery_not_found",
            WebhookError::InvalidField { .. } => "invalid_field",
            WebhookError::UnknownEventType(_) => "unknown_event_type",
            WebhookError::ConnectionNotFound(_) => "connection_not_found",
            WebhookError::Disabled(_) => "webhook_disabled",
            WebhookError::InProgress(_) => "delivery_in_progress",
            WebhookError::TooMany => "webhook_limit_reached",
            WebhookError::Vault(_) | WebhookError::Store(_) => "internal_error",
        }
    }
}

/// Every value an endpoint's `event_types` may hold: the types, the groups
/// and `*`.
pub fn event_type_filters() -> Vec<&'static str> {
    let mut all: Vec<&str> = events::TYPES.to_vec();
    all.extend(GROUPS);
    all.push("*");
    all
}

/// Whether the filter `pattern` admits `event_type`.
fn type_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(group) if group.ends_with('.') => event_type.starts_with(group),
        _ => pattern == event_type,
    }
}

/// Whether `endpoint` receives `event`.
fn endpoint_wants(endpoint: &WebhookEndpoint, event: &Event) -> bool {
    endpoint.enabled
        && event.seq > endpoint.created_after_seq
        && endpoint
            .connection_id
            .as_ref()
            .is_none_or(|c| event.connection_id.as_ref() == Some(c))
        && endpoint
            .event_types
            .iter()
            .any(|p| type_matches(p, &event.event_type))
}

/// The `webhook-signature` header: `v1,<base64 HMAC-SHA256>` for each key,
/// space-separated, over `{msg_id}.{timestamp}.{body}`.
pub fn sign(keys: &[Vec<u8>], msg_id: &str, timestamp: i64, body: &str) -> String {
    keys.iter()
        .map(|key| {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(key).expect("HMAC-SHA256 takes keys of any length");
            mac.update(msg_id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body.as_bytes());
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The key bytes of a `whsec_…` secret.
fn secret_key(secret: &str) -> Result<Vec<u8>, VaultError> {
    secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|b64| STANDARD.decode(b64).ok())
        .filter(|key| !key.is_empty())
        .ok_or(VaultError::Corrupt)
}

/// RFC 3339 UTC with milliseconds, as the API writes times.
fn format_time(ms: Millis) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// The body sent for `event`: `{type, timestamp, data}`, where `data` is the
/// event's data with `event_id`, `event_seq` and `connection_id` added.
pub fn payload(event: &Event) -> String {
    let mut data = match &event.data {
        Value::Object(map) => map.clone(),
        Value::Null => Map::new(),
        other => Map::from_iter([("value".to_string(), other.clone())]),
    };
    data.insert("event_id".into(), json!(event.id));
    data.insert("event_seq".into(), json!(event.seq));
    data.insert("connection_id".into(), json!(event.connection_id));
    json!({
        "type": event.event_type,
        "timestamp": format_time(event.occurred_at),
        "data": data,
    })
    .to_string()
}

/// A new endpoint.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// Absolute http(s) URL.
    pub url: String,
    /// Event types, groups (`sync.*`) or `*`.
    pub event_types: Vec<String>,
    /// Only this connection's events.
    pub connection_id: Option<String>,
    /// What it is for.
    pub description: Option<String>,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookUpdate {
    /// A new URL.
    pub url: Option<String>,
    /// New event type filters.
    pub event_types: Option<Vec<String>>,
    /// A new connection filter (`Some(None)` removes it).
    pub connection_id: Option<Option<String>>,
    /// A new description (`Some(None)` removes it).
    pub description: Option<Option<String>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// What one attempt got.
struct Sent {
    at: Millis,
    status: Option<u16>,
    duration: Duration,
    error: Option<String>,
    response_body: String,
    response_headers: Vec<(String, String)>,
    request_headers: Vec<(String, String)>,
}

/// What an attempt did to its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Retry(Millis),
    Failed,
    Gone,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retry(_) => "retry",
            Outcome::Failed => "failed",
            Outcome::Gone => "gone",
        }
    }
}

/// Webhook endpoints, their deliveries, and the dispatcher. Cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    vault: Arc<Vault>,
    config: WebhookConfig,
    client: reqwest::Client,
    request_log: Option<RequestLog>,
    /// Serializes read-modify-write changes of endpoints and deliveries:
    /// fan-out, attempt results, redeliveries, disabling and deleting.
    writing: Mutex<()>,
    /// Wakes the dispatcher: new events, a redelivery, an attempt ended.
    wake: Arc<Notify>,
    /// Deliveries with an attempt in flight: (endpoint, delivery seq).
    in_flight: Mutex<HashSet<(String, u64)>>,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Removes a delivery from the in-flight set however its attempt ends.
struct InFlight {
    inner: Arc<Inner>,
    key: (String, u64),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
        self.inner.wake.notify_one();
    }
}

impl Webhooks {
    /// Webhooks over `store`, secrets sealed by `vault`; attempts are also
    /// logged in `request_log` when given. Registers with the store to hear
    /// about new events.
    pub fn new(
        store: Arc<Store>,
        vault: Arc<Vault>,
        config: WebhookConfig,
        request_log: Option<RequestLog>,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            // A redirect is an answer like any other non-2xx: following it
            // would send signed events somewhere nobody registered.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.attempt_timeout)
            .connect_timeout(config.attempt_timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("Switchyard-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let wake = Arc::new(Notify::new());
        let listener_wake = wake.clone();
        store.set_event_listener(Arc::new(move |_| listener_wake.notify_one()));
        Ok(Webhooks {
            inner: Arc::new(Inner {
                store,
                vault,
                config,
                client,
                request_log,
                writing: Mutex::new(()),
                wake,
                in_flight: Mutex::new(HashSet::new()),
            }),
        })
    }

    /// The delivery settings.
    pub fn config(&self) -> &WebhookConfig {
        &self.inner.config
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.inner.writing.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_secret(&self, endpoint_id: &str) -> (String, EndpointSecret) {
        let secret = format!(
            "{SECRET_PREFIX}{}",
            STANDARD.encode(random_bytes::<SECRET_BYTES>())
        );
        let sealed = self.inner.vault.seal(endpoint_id, secret.as_bytes());
        (
            secret,
            EndpointSecret {
                sealed,
                created_at: now_ms(),
                expires_at: None,
            },
        )
    }

    fn check_url(url: &str) -> Result<String, WebhookError> {
        let invalid = |reason: &str| WebhookError::InvalidField {
            field: "url".into(),
            reason: reason.into(),
        };
        let url = url.trim();
        if url.chars().count() > MAX_URL_CHARS {
            return Err(invalid("must be at most 2048 characters"));
        }
        let parsed =
            url::Url::parse(url).map_err(|_| invalid("must be an absolute http or https URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(invalid("must be an absolute http or https URL"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(invalid(
                "must not contain credentials: they would be stored and shown in clear; receivers verify the signature instead",
            ));
        }
        if parsed.fragment().is_some() {
            return Err(invalid("must not have a fragment"));
        }
        Ok(parsed.to_string())
    }

    fn check_event_types(types: Vec<String>) -> Result<Vec<String>, WebhookError> {
        if types.is_empty() {
            return Err(WebhookError::InvalidField {
                field: "event_types".into(),
                reason: "must name at least one event type, or `*` for all".into(),
            });
        }
        if types.len() > MAX_EVENT_TYPES {
            return Err(WebhookError::InvalidField {
                field: "event_types".into(),
                reason: format!("may hold at most {MAX_EVENT_TYPES} entries"),
            });
        }
        let known = event_type_filters();
        let mut out: Vec<String> = Vec::with_capacity(types.len());
        for event_type in types {
            if !known.contains(&event_type.as_str()) {
                return Err(WebhookError::UnknownEventType(
                    event_type.chars().take(100).collect(),
                ));
            }
            if !out.contains(&event_type) {
                out.push(event_type);
            }
        }
        Ok(out)
    }

    fn check_description(description: Option<String>) -> Result<Option<String>, WebhookError> {
        match description {
            Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS => {
                Err(WebhookError::InvalidField {
                    field: "description".into(),
                    reason: format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
                })
            }
            Some(d) if d.trim().is_empty() => Ok(None),
            other => Ok(other),
        }
    }

    fn check_connection(
        &self,
        connection_id: Option<String>,
    ) -> Result<Option<String>, WebhookError> {
        if let Some(id) = &connection_id
            && (id.len() > 255 || self.inner.store.get_connection(id)?.is_none())
        {
            return Err(WebhookError::ConnectionNotFound(
                id.chars().take(100).collect(),
            ));
        }
        Ok(connection_id)
    }

    /// Registers an endpoint. Returns it with its signing secret, which the
    /// operator gives the receiver (also readable later with
    /// [`Webhooks::secret`]). It receives events that happen from now on.
    pub fn create(&self, new: NewWebhook) -> Result<(WebhookEndpoint, String), WebhookError> {
        let url = Self::check_url(&new.url)?;
        let event_types = Self::check_event_types(new.event_types)?;
        let description = Self::check_description(new.description)?;
        let connection_id = self.check_connection(new.connection_id)?;
        let _guard = self.lock();
        if self.inner.store.list_webhooks()?.len() >= MAX_ENDPOINTS {
            return Err(WebhookError::TooMany);
        }
        let id = format!("wh_{}", hex::encode(random_bytes::<10>()));
        let (secret, sealed) = self.new_secret(&id);
        let now = now_ms();
        let endpoint = WebhookEndpoint {
            id,
            url,
            description,
            event_types,
            connection_id,
            enabled: true,
            disabled_reason: None,
            secrets: vec![sealed],
            created_after_seq: self.inner.store.last_control_seq(),
            created_at: now,
            updated_at: now,
        };
        self.inner.store.put_webhook(&endpoint)?;
        tracing::info!(webhook = %endpoint.id, event_types = ?endpoint.event_types, "webhook registered");
        Ok((endpoint, secret))
    }

    /// Every endpoint.
    pub fn list(&self) -> Result<Vec<WebhookEndpoint>, WebhookError> {
        Ok(self.inner.store.list_webhooks()?)
    }

    /// One endpoint.
    pub fn get(&self, id: &str) -> Result<WebhookEndpoint, WebhookError> {
        self.inner
            .store
            .get_webhook(id)?
            .ok_or_else(|| WebhookError::NotFound(id.chars().take(100).collect()))
    }

    /// Changes an endpoint. Disabling it fails its pending deliveries;
    /// enabling it again delivers events from then on.
    pub fn update(&self, id: &str, update: WebhookUpdate) -> Result<WebhookEndpoint, WebhookError> {
        let url = update.url.as_deref().map(Self::check_url).transpose()?;
        let event_types = update
            .event_types
            .map(Self::check_event_types)
            .transpose()?;
        let description = update
            .description
            .map(Self::check_description)
            .transpose()?;
        let connection_id = update
            .connection_id
            .map(|c| self.check_connection(c))
            .transpose()?;
        let _guard = self.lock();
        let mut endpoint = self.get(id)?;
        let was_enabled = endpoint.enabled;
        if let Some(url) = url {
            endpoint.url = url;
        }
        if let Some(event_types) = event_types {
            endpoint.event_types = event_types;
        }
        if let Some(description) = description {
            endpoint.description = description;
        }
        if let Some(connection_id) = connection_id {
            endpoint.connection_id = connection_id;
        }
        if !was_enabled && update.enabled == Some(true) {
            // Deliveries a crash left pending while it was disabled end
            // here: an enabled endpoint gets what happens from now on.
            self.fail_pending(&endpoint.id, "the webhook was disabled")?;
            endpoint.created_after_seq = self.inner.store.last_control_seq();
        }
        match update.enabled {
            Some(true) => endpoint.disabled_reason = None,
            // Disabling a disabled endpoint keeps the first reason (a 410).
            Some(false) if was_enabled => {
                endpoint.disabled_reason = Some("disabled by an operator".into());
            }
            _ => {}
        }
        if let Some(enabled) = update.enabled {
            endpoint.enabled = enabled;
        }
        endpoint.updated_at = now_ms();
        self.inner.store.put_webhook(&endpoint)?;
        if was_enabled && !endpoint.enabled {
            self.fail_pending(&endpoint.id, "the webhook was disabled by an operator")?;
        }
        Ok(endpoint)
    }

    /// Deletes an endpoint with its deliveries.
    pub fn delete(&self, id: &str) -> Result<(), WebhookError> {
        let _guard = self.lock();
        self.get(id)?;
        let removed = self.inner.store.delete_webhook(id)?;
        tracing::info!(webhook = id, deliveries = removed, "webhook deleted");
        Ok(())
    }

    /// The endpoint's current signing secret.
    pub fn secret(&self, id: &str) -> Result<String, WebhookError> {
        let endpoint = self.get(id)?;
        let current = endpoint.secrets.first().ok_or(VaultError::Corrupt)?;
        Ok(
            String::from_utf8(self.inner.vault.open(id, &current.sealed)?)
                .map_err(|_| VaultError::Corrupt)?,
        )
    }

    /// Replaces the signing secret. The old one keeps signing next to the
    /// new one for `grace` (the configured default when `None`; zero drops
    /// it at once), so receivers can switch without losing events. Returns
    /// the endpoint and the new secret.
    pub fn rotate_secret(
        &self,
        id: &str,
        grace: Option<Duration>,
    ) -> Result<(WebhookEndpoint, String), WebhookError> {
        let grace = grace.unwrap_or(self.inner.config.rotation_grace);
        if grace > MAX_ROTATION_GRACE {
            return Err(WebhookError::InvalidField {
                field: "grace_period_secs".into(),
                reason: "must be at most 7 days (604800 seconds)".into(),
            });
        }
        let _guard = self.lock();
        let mut endpoint = self.get(id)?;
        let now = now_ms();
        let expires_at = now.saturating_add(grace.as_millis() as i64);
        for old in &mut endpoint.secrets {
            old.expires_at = Some(old.expires_at.unwrap_or(expires_at).min(expires_at));
        }
        endpoint
            .secrets
            .retain(|s| s.expires_at.is_none_or(|at| at > now));
        let (secret, sealed) = self.new_secret(id);
        endpoint.secrets.insert(0, sealed);
        endpoint.secrets.truncate(MAX_SECRETS);
        endpoint.updated_at = now;
        self.inner.store.put_webhook(&endpoint)?;
        tracing::info!(
            webhook = id,
            grace_secs = grace.as_secs(),
            "webhook secret rotated"
        );
        Ok((endpoint, secret))
    }

    /// The keys an endpoint signs with now: the current secret first, then
    /// those still in their grace period.
    fn signing_keys(&self, endpoint: &WebhookEndpoint) -> Result<Vec<Vec<u8>>, VaultError> {
        let now = now_ms();
        endpoint
            .secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|at| at > now))
            .map(|s| {
                let secret = self.inner.vault.open(&endpoint.id, &s.sealed)?;
                secret_key(std::str::from_utf8(&secret).map_err(|_| VaultError::Corrupt)?)
            })
            .collect()
    }

    /// Re-seals the endpoints' secrets sealed under an older master key.
    pub fn reseal_all(&self) -> Result<usize, WebhookError> {
        let _guard = self.lock();
        let mut resealed = 0;
        for mut endpoint in self.inner.store.list_webhooks()? {
            let mut changed = false;
            for secret in &mut endpoint.secrets {
                if !self.inner.vault.is_current(&secret.sealed) {
                    let plain = self.inner.vault.open(&endpoint.id, &secret.sealed)?;
                    secret.sealed = self.inner.vault.seal(&endpoint.id, &plain);
                    changed = true;
                    resealed += 1;
                }
            }
            if changed {
                self.inner.store.put_webhook(&endpoint)?;
            }
        }
        Ok(resealed)
    }

    fn delivery_seq(webhook: &str, delivery_id: &str) -> Result<u64, WebhookError> {
        delivery_id
            .strip_prefix("whd_")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| WebhookError::DeliveryNotFound {
                webhook: webhook.chars().take(100).collect(),
                delivery: delivery_id.chars().take(100).collect(),
            })
    }

    /// A page of an endpoint's deliveries, newest first; the seq to
    /// continue before.
    pub fn deliveries(
        &self,
        id: &str,
        query: &DeliveryQuery,
    ) -> Result<(Vec<WebhookDelivery>, Option<u64>), WebhookError> {
        self.get(id)?;
        Ok(self.inner.store.list_deliveries(id, query)?)
    }

    /// One delivery of an endpoint.
    pub fn delivery(&self, id: &str, delivery_id: &str) -> Result<WebhookDelivery, WebhookError> {
        self.get(id)?;
        let seq = Self::delivery_seq(id, delivery_id)?;
        self.inner
            .store
            .get_delivery(id, seq)?
            .ok_or_else(|| WebhookError::DeliveryNotFound {
                webhook: id.into(),
                delivery: delivery_id.chars().take(100).collect(),
            })
    }

    /// Asks for a new attempt of a delivery now, with the same `webhook-id`
    /// and body. A pending delivery's next attempt moves to now and its
    /// schedule goes on if it fails; a delivered or failed one gets one
    /// more attempt.
    pub fn redeliver(&self, id: &str, delivery_id: &str) -> Result<WebhookDelivery, WebhookError> {
        let _guard = self.lock();
        let endpoint = self.get(id)?;
        if !endpoint.enabled {
            return Err(WebhookError::Disabled(endpoint.id));
        }
        let mut delivery = self.delivery(id, delivery_id)?;
        if self
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(id.to_string(), delivery.seq))
        {
            return Err(WebhookError::InProgress(delivery.id));
        }
        let now = now_ms();
        // A second click before the attempt keeps a redelivery of an ended
        // delivery to one attempt.
        delivery.next_attempt_final =
            delivery.status != DeliveryStatus::Pending || delivery.next_attempt_final;
        delivery.status = DeliveryStatus::Pending;
        delivery.next_attempt_at = Some(now);
        delivery.next_attempt_manual = true;
        delivery.failure_reason = None;
        delivery.updated_at = now;
        self.inner.store.put_delivery(&delivery, None)?;
        self.inner.wake.notify_one();
        tracing::info!(webhook = id, delivery = %delivery.id, "redelivery requested");
        Ok(delivery)
    }

    /// Fails every pending delivery of a disabled endpoint. The caller holds
    /// the write lock.
    fn fail_pending(&self, endpoint_id: &str, reason: &str) -> Result<u64, WebhookError> {
        let store = &self.inner.store;
        let mut failed = 0;
        // Each round fails up to 1000; the bound keeps a corrupt index from
        // looping forever.
        for _ in 0..10_000 {
            let pending = store.pending_deliveries(endpoint_id, 1000)?;
            let before = failed;
            for seq in pending {
                let Some(mut delivery) = store.get_delivery(endpoint_id, seq)? else {
                    continue;
                };
                delivery.status = DeliveryStatus::Failed;
                delivery.next_attempt_at = None;
                delivery.next_attempt_manual = false;
                delivery.next_attempt_final = false;
                delivery.failure_reason = Some(reason.to_string());
                delivery.updated_at = now_ms();
                store.put_delivery(&delivery, None)?;
                failed += 1;
            }
            if failed == before {
                break;
            }
        }
        if failed > 0 {
            tracing::info!(
                webhook = endpoint_id,
                failed,
                "pending deliveries failed: {reason}"
            );
        }
        Ok(failed)
    }

    /// Fans out the events after the cursor, one batch: a delivery per
    /// matching enabled endpoint, written with the new cursor in one batch.
    /// Returns whether more events wait.
    pub fn fan_out_batch(&self) -> Result<bool, WebhookError> {
        let store = &self.inner.store;
        let _guard = self.lock();
        let cursor = store.webhook_cursor()?;
        if store.last_control_seq() <= cursor {
            return Ok(false);
        }
        let page = store.list_events(
            &EventQuery {
                after: cursor,
                limit: FAN_OUT_BATCH,
                connection_id: None,
                types: Vec::new(),
            },
            FAN_OUT_BATCH,
        )?;
        if page.next_after <= cursor {
            return Ok(false);
        }
        let endpoints: Vec<WebhookEndpoint> = store
            .list_webhooks()?
            .into_iter()
            .filter(|e| e.enabled)
            .collect();
        let now = now_ms();
        let first_wait = self
            .inner
            .config
            .retry_schedule
            .first()
            .map_or(0, |d| d.as_millis() as i64);
        let mut deliveries = Vec::new();
        for event in &page.events {
            let body = payload(event);
            for endpoint in endpoints.iter().filter(|e| endpoint_wants(e, event)) {
                deliveries.push(WebhookDelivery {
                    id: String::new(),
                    seq: 0,
                    endpoint_id: endpoint.id.clone(),
                    event_id: event.id.clone(),
                    event_seq: event.seq,
                    event_type: event.event_type.clone(),
                    connection_id: event.connection_id.clone(),
                    // Stable across attempts and redeliveries, and the same
                    // for every endpoint: receivers deduplicate on it.
                    message_id: event.id.clone(),
                    payload: body.clone(),
                    status: DeliveryStatus::Pending,
                    created_at: now,
                    updated_at: now,
                    next_attempt_at: Some(now + first_wait),
                    next_attempt_manual: false,
                    next_attempt_final: false,
                    scheduled_attempts: 0,
                    attempt_count: 0,
                    attempts: Vec::new(),
                    failure_reason: None,
                });
            }
        }
        let created = store.fan_out(page.next_after, deliveries)?;
        if !created.is_empty() {
            tracing::debug!(
                deliveries = created.len(),
                through = page.next_after,
                "events fanned out"
            );
        }
        Ok(page.has_more)
    }

    /// Removes deliveries that ended (delivered or failed) more than the
    /// retention period ago, and events older than it that were fanned out
    /// already. Returns (deliveries, events) removed.
    pub fn purge(&self) -> Result<(u64, u64), WebhookError> {
        let retention = i64::try_from(self.inner.config.retention.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now_ms().saturating_sub(retention);
        // The scan runs without the lock; each chunk is checked again and
        // deleted under it, since only a redelivery (which takes the lock)
        // makes an ended delivery pending again.
        let candidates = self.inner.store.ended_deliveries_before(cutoff)?;
        let mut deliveries = 0;
        for chunk in candidates.chunks(PURGE_CHUNK) {
            let _guard = self.lock();
            deliveries += self.inner.store.delete_ended_deliveries(chunk, cutoff)?;
        }
        let events = self.inner.store.purge_events(cutoff)?;
        Ok((deliveries, events))
    }

    /// Ends the deliveries a crash left pending on disabled endpoints
    /// (between disabling one and failing its deliveries).
    fn fail_pending_of_disabled(&self) -> Result<(), WebhookError> {
        let _guard = self.lock();
        for endpoint in self.inner.store.list_webhooks()? {
            if !endpoint.enabled {
                self.fail_pending(&endpoint.id, "the webhook was disabled")?;
            }
        }
        Ok(())
    }

    /// Runs the dispatcher until `shutdown` resolves: fans out new events,
    /// starts due attempts within the concurrency bounds, records results.
    /// Attempts still running at shutdown are abandoned after a short wait;
    /// their deliveries stay due and are attempted again on the next start.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut tasks = JoinSet::new();
        let mut rotation = 0usize;
        let mut last_purge = Instant::now();
        let this = self.clone();
        if let Ok(Err(e)) =
            tokio::task::spawn_blocking(move || this.fail_pending_of_disabled()).await
        {
            tracing::warn!("webhooks: ending the pending deliveries of disabled endpoints: {e}");
        }
        loop {
            if last_purge.elapsed() >= self.inner.config.purge_every {
                last_purge = Instant::now();
                let this = self.clone();
                match tokio::task::spawn_blocking(move || this.purge()).await {
                    Ok(Ok((0, 0))) => {}
                    Ok(Ok((deliveries, events))) => {
                        tracing::info!(deliveries, events, "webhook retention purge");
                    }
                    Ok(Err(e)) => tracing::warn!("webhook retention purge failed: {e}"),
                    Err(e) => tracing::warn!("webhook retention purge failed: {e}"),
                }
            }
            let this = self.clone();
            let fanned = tokio::task::spawn_blocking(move || {
                for _ in 0..FAN_OUT_BATCHES_PER_PASS {
                    if !this.fan_out_batch()? {
                        return Ok(false);
                    }
                }
                Ok::<bool, WebhookError>(true)
            })
            .await;
            let backlog = match fanned {
                Ok(Ok(more)) => more,
                Ok(Err(e)) => {
                    tracing::error!("webhook fan-out: {e}");
                    false
                }
                Err(e) => {
                    tracing::error!("webhook fan-out: {e}");
                    false
                }
            };
            if let Err(e) = self.start_due(&mut tasks, &mut rotation).await {
                tracing::error!("webhook dispatch: {e}");
            }
            // With a backlog of events, go on at once (after a look at
            // the shutdown signal).
            let pause = if backlog {
                Duration::ZERO
            } else {
                self.inner.config.poll_interval
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.inner.wake.notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = tokio::time::sleep(pause) => {}
            }
            while tasks.try_join_next().is_some() {}
        }
        let wait = tokio::time::timeout(Duration::from_secs(2), async {
            while tasks.join_next().await.is_some() {}
        });
        if wait.await.is_err() {
            tasks.abort_all();
        }
    }

    /// Starts the due attempts the bounds allow, fairly across endpoints.
    async fn start_due(
        &self,
        tasks: &mut JoinSet<()>,
        rotation: &mut usize,
    ) -> Result<(), WebhookError> {
        let capacity = self.inner.config.max_concurrent.max(1);
        if tasks.len() >= capacity {
            return Ok(());
        }
        let this = self.clone();
        let start = *rotation;
        *rotation = rotation.wrapping_add(1);
        let mut room = capacity - tasks.len();
        let picked = tokio::task::spawn_blocking(move || {
            let store = &this.inner.store;
            let per_endpoint = this.inner.config.max_per_endpoint.max(1);
            let mut endpoints: Vec<WebhookEndpoint> = store
                .list_webhooks()?
                .into_iter()
                .filter(|e| e.enabled)
                .collect();
            if !endpoints.is_empty() {
                // A different endpoint goes first each pass.
                let by = start % endpoints.len();
                endpoints.rotate_left(by);
            }
            let now = now_ms();
            let mut picked = Vec::new();
            for endpoint in endpoints {
                if room == 0 {
                    break;
                }
                let busy: HashSet<u64> = this
                    .inner
                    .in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .filter(|(e, _)| *e == endpoint.id)
                    .map(|(_, seq)| *seq)
                    .collect();
                let free = per_endpoint.saturating_sub(busy.len()).min(room);
                if free == 0 {
                    continue;
                }
                // Deliveries in flight are still due: look past them.
                let mut taken = 0;
                for seq in store.due_deliveries(&endpoint.id, now, free + busy.len())? {
                    if taken == free {
                        break;
                    }
                    if busy.contains(&seq) {
                        continue;
                    }
                    if let Some(delivery) = store.get_delivery(&endpoint.id, seq)? {
                        picked.push((endpoint.clone(), delivery));
                        taken += 1;
                        room -= 1;
                    }
                }
            }
            Ok::<_, WebhookError>(picked)
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("dispatcher task: {e}")))??;
        for (endpoint, delivery) in picked {
            let key = (endpoint.id.clone(), delivery.seq);
            self.inner
                .in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone());
            let guard = InFlight {
                inner: self.inner.clone(),
                key,
            };
            let this = self.clone();
            tasks.spawn(async move {
                let _guard = guard;
                this.attempt(endpoint, delivery).await;
            });
        }
        Ok(())
    }

    /// Makes one attempt and records it.
    async fn attempt(&self, endpoint: WebhookEndpoint, delivery: WebhookDelivery) {
        // The endpoint as it is now: it may have been disabled, deleted,
        // moved or had a secret revoked since the delivery was picked.
        let endpoint = match self.inner.store.get_webhook(&endpoint.id) {
            Ok(Some(current)) if current.enabled => current,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(webhook = %endpoint.id, "reading the webhook before an attempt: {e}");
                tokio::time::sleep(UNRECORDED_BACKOFF).await;
                return;
            }
        };
        let sent = match self.signing_keys(&endpoint) {
            Ok(keys) if !keys.is_empty() => self.send(&endpoint, &delivery, &keys).await,
            // Nothing unsigned ever leaves: count it as a failed attempt.
            Ok(_) | Err(_) => {
                tracing::error!(webhook = %endpoint.id, "the webhook's signing secret cannot be opened");
                Sent {
                    at: now_ms(),
                    status: None,
                    duration: Duration::ZERO,
                    error: Some("signing_secret_unavailable".into()),
                    response_body: String::new(),
                    response_headers: Vec::new(),
                    request_headers: Vec::new(),
                }
            }
        };
        let this = self.clone();
        let manual = delivery.next_attempt_manual;
        let (endpoint_id, seq) = (endpoint.id.clone(), delivery.seq);
        let url = endpoint.url.clone();
        let recorded = tokio::task::spawn_blocking(move || {
            this.record_attempt(&endpoint_id, seq, manual, &url, sent)
        })
        .await;
        let failed = match recorded {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(e) = failed {
            tracing::error!(webhook = %endpoint.id, "recording a webhook attempt: {e}");
            // The delivery is still due on disk: keep it in flight for a
            // while rather than resending it in a tight loop.
            tokio::time::sleep(UNRECORDED_BACKOFF).await;
        }
    }

    async fn send(
        &self,
        endpoint: &WebhookEndpoint,
        delivery: &WebhookDelivery,
        keys: &[Vec<u8>],
    ) -> Sent {
        let at = now_ms();
        let started = Instant::now();
        let timestamp = at.div_euclid(1000);
        let signature = sign(keys, &delivery.message_id, timestamp, &delivery.payload);
        let request_headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("webhook-id".to_string(), delivery.message_id.clone()),
            ("webhook-timestamp".to_string(), timestamp.to_string()),
            // Not secret, but of no use in a log either.
            ("webhook-signature".to_string(), REDACTED.to_string()),
        ];
        let request = self
            .inner
            .client
            .post(&endpoint.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &delivery.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone());
        let mut sent = Sent {
            at,
            status: None,
            duration: Duration::ZERO,
            error: None,
            response_body: String::new(),
            response_headers: Vec::new(),
            request_headers,
        };
        match request.send().await {
            Ok(mut response) => {
                sent.status = Some(response.status().as_u16());
                sent.response_headers = response
                    .headers()
                    .iter()
                    .take(50)
                    .map(|(name, value)| {
                        let value = if is_secret_header(name.as_str()) {
                            REDACTED.to_string()
                        } else {
                            redact_issued_secrets(&String::from_utf8_lossy(value.as_bytes()))
                        };
                        (name.to_string(), value)
                    })
                    .collect();
                let content_type = response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                // Only the start of the answer is kept; the rest is not read.
                let mut body = Vec::new();
                let mut total = 0u64;
                loop {
                    match response.chunk().await {
                        Ok(Some(chunk)) => {
                            total += chunk.len() as u64;
                            let take = RESPONSE_SNIPPET_BYTES.saturating_sub(body.len());
                            body.extend_from_slice(&chunk[..take.min(chunk.len())]);
                            if body.len() >= RESPONSE_SNIPPET_BYTES {
                                break;
                            }
                        }
                        Ok(None) => break,
                        // The status already arrived; a broken body does
                        // not change what the receiver answered.
                        Err(_) => break,
                    }
                }
                sent.response_body = redact_body(
                    content_type.as_deref(),
                    &body,
                    total,
                    RESPONSE_SNIPPET_BYTES,
                    &Secrets::default(),
                );
                if !response.status().is_success() {
                    sent.error = Some(format!("http_{}", response.status().as_u16()));
                }
            }
            Err(e) => {
                sent.error = Some(if e.is_timeout() {
                    "timeout".to_string()
                } else if e.is_connect() {
                    "connect_failed".to_string()
                } else {
                    // Without the URL: it may carry a token in its query.
                    format!("request_failed: {}", e.without_url())
                });
            }
        }
        sent.duration = started.elapsed();
        sent
    }

    /// Applies an attempt's result to its delivery (and, after a `410
    /// Gone`, to its endpoint).
    fn record_attempt(
        &self,
        endpoint_id: &str,
        seq: u64,
        manual: bool,
        url: &str,
        sent: Sent,
    ) -> Result<(), WebhookError> {
        let store = &self.inner.store;
        let _guard = self.lock();
        // Deleted meanwhile: nothing to record.
        let (Some(mut delivery), Some(mut endpoint)) = (
            store.get_delivery(endpoint_id, seq)?,
            store.get_webhook(endpoint_id)?,
        ) else {
            return Ok(());
        };
        let now = now_ms();
        let schedule = &self.inner.config.retry_schedule;
        let outcome = match sent.status {
            Some(status) if (200..300).contains(&status) => Outcome::Delivered,
            Some(410) => Outcome::Gone,
            _ if delivery.next_attempt_final || !endpoint.enabled => Outcome::Failed,
            _ => match schedule.get(delivery.scheduled_attempts as usize + 1) {
                Some(wait) => {
                    // Up to a tenth more, so endpoints that recover at once
                    // are not hit by every retry in the same instant.
                    let wait = wait.as_millis() as i64;
                    let jitter = rand::random_range(0..=wait / 10);
                    Outcome::Retry(now + wait + jitter)
                }
                None => Outcome::Failed,
            },
        };
        if !delivery.next_attempt_final {
            delivery.scheduled_attempts += 1;
        }
        delivery.attempt_count += 1;
        delivery.attempts.push(DeliveryAttempt {
            number: delivery.attempt_count,
            at: sent.at,
            trigger: if manual { "manual" } else { "scheduled" }.into(),
            status_code: sent.status,
            duration_ms: sent.duration.as_millis() as u64,
            outcome: outcome.label().into(),
            error: sent.error.clone(),
            response_body: sent.response_body.clone(),
        });
        if delivery.attempts.len() > ATTEMPTS_KEPT {
            let excess = delivery.attempts.len() - ATTEMPTS_KEPT;
            delivery.attempts.drain(..excess);
        }
        delivery.next_attempt_manual = false;
        delivery.next_attempt_final = false;
        delivery.updated_at = now;
        let (status, next) = match outcome {
            Outcome::Delivered => (DeliveryStatus::Delivered, None),
            Outcome::Retry(at) => (DeliveryStatus::Pending, Some(at)),
            Outcome::Failed | Outcome::Gone => (DeliveryStatus::Failed, None),
        };
        delivery.status = status;
        delivery.next_attempt_at = next;
        let gone = outcome == Outcome::Gone && endpoint.enabled;
        if gone {
            endpoint.enabled = false;
            endpoint.disabled_reason = Some(format!(
                "the endpoint answered 410 Gone to delivery {} at {}",
                delivery.id,
                format_time(sent.at)
            ));
            endpoint.updated_at = now;
        }
        store.put_delivery(&delivery, gone.then_some(&endpoint))?;
        if gone {
            self.fail_pending(endpoint_id, "the endpoint answered 410 Gone")?;
            tracing::warn!(webhook = endpoint_id, delivery = %delivery.id, "webhook disabled: the endpoint answered 410 Gone");
        }
        switchyard_telemetry::metrics()
            .webhook_deliveries
            .with_label_values(&[outcome.label()])
            .inc();
        tracing::info!(
            webhook = endpoint_id,
            delivery = %delivery.id,
            event = %delivery.event_id,
            attempt = delivery.attempt_count,
            status = sent.status,
            error = sent.error.as_deref(),
            outcome = outcome.label(),
            "webhook attempt"
        );
        if let Some(log) = &self.inner.request_log {
            log.append(RequestLogEntry {
                at: sent.at,
                seq: 0,
                direction: LogDirection::Outbound,
                request_id: None,
                connection_id: delivery.connection_id.clone(),
                run_id: None,
                method: "POST".into(),
                url: loggable_url(url),
                status: sent.status,
                error: sent.error,
                duration_ms: sent.duration.as_millis() as u64,
                request_headers: sent.request_headers,
                response_headers: sent.response_headers,
                request_body: redact_body(
                    Some("application/json"),
                    delivery.payload.as_bytes(),
                    delivery.payload.len() as u64,
                    log.body_limit(),
                    &Secrets::default(),
                ),
                response_body: sent.response_body,
            });
        }
        Ok(())
    }
}

/// An endpoint URL as it may be logged: no secret-looking query values.
fn loggable_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return REDACTED.to_string();
    };
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_key(&k) || k.eq_ignore_ascii_case("key") {
                    REDACTED.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    redact_issued_secrets(parsed.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_reference() {
        // The test vector of the Standard Webhooks reference libraries.
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(
                std::slice::from_ref(&key),
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                body
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        // During a rotation: one signature per key, space-separated.
        let both = sign(
            &[vec![1; 32], key],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            body,
        );
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(secret_key("whsec_").is_err() && secret_key("sk_abc").is_err());
    }

    #[test]
    fn filters_match_types_groups_and_all() {
        assert!(type_matches("*", "sync.failed"));
        assert!(type_matches("sync.*", "sync.failed"));
        assert!(!type_matches("sync.*", "connection.created"));
        assert!(type_matches("sync.failed", "sync.failed"));
        assert!(!type_matches("sync.failed", "sync.failed.extra"));
        assert!(
            Webhooks::check_event_types(vec!["sync.*".into(), "sync.*".into()]).unwrap()
                == ["sync.*"]
        );
        assert!(matches!(
            Webhooks::check_event_types(vec!["sync.exploded".into()]),
            Err(WebhookError::UnknownEventType(_))
        ));
        assert!(Webhooks::check_event_types(vec![]).is_err());
    }

    #[test]
    fn urls_must_be_absolute_http_without_credentials() {
        assert!(Webhooks::check_url("https://hooks.example.com/in?x=1").is_ok());
        for bad in [
            "ftp://example.com/",
            "/relative",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "not a url",
        ] {
            assert!(Webhooks::check_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            loggable_url("https://h.example.com/in?token=abc&tenant=t1"),
            "https://h.example.com/in?token=%5Bredacted%5D&tenant=t1"
        );
    }

    #[test]
    fn schedules_parse() {
        assert_eq!(
            parse_retry_schedule("0, 1,2").unwrap(),
            [0, 1, 2].map(Duration::from_secs)
        );
        assert!(parse_retry_schedule("0,x").is_err());
        assert!(parse_retry_schedule("0,999999999").is_err());
        let total: u64 = DEFAULT_RETRY_SCHEDULE_SECS.iter().sum();
        assert!(
            (3 * 86_400..4 * 86_400).contains(&total),
            "about three days: {total}"
        );
    }

    #[test]
    fn payloads_carry_the_event_and_its_ids() {
        let event = Event {
            id: "evt_000000000042".into(),
            seq: 42,
            event_type: "sync.completed".into(),
            connection_id: Some("conn_a".into()),
            occurred_at: 1_795_000_000_123,
            data: json!({"run_id": 7}),
        };
        let body: Value = serde_json::from_str(&payload(&event)).unwrap();
        assert_eq!(
            body,
            json!({"type": "sync.completed", "timestamp": "2026-11-18T11:06:40.123Z",
                   "data": {"run_id": 7, "event_id": "evt_000000000042", "event_seq": 42, "connection_id": "conn_a"}})
        );
    }
}
