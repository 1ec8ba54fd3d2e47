//! Connections: a connector, a customer's settings, sealed credentials and
//! session, and a status.
//!
//! Every status change goes through [`Connections::transition`] or one of
//! the operations built on it: the transition is checked against the status
//! machine ([`crate::status`]), and the connection, a timeline entry, token
//! changes and the events are stored in one write. Events are emitted only
//! when the status really changes, so concurrent runs that all hit the same
//! 401 produce one `connection.reauthorization_required`.

use crate::events::{self, new_event};
use crate::health::{Health, HealthThresholds};
use crate::oauth::{OAuth, OAuthError, OAuthGrant};
use crate::registry::{Registry, RegistryError};
use crate::request_log::RequestLog;
use crate::status;
use crate::tokens::{IssuedToken, Tokens, mint};
use crate::vault::{Vault, VaultError, random_bytes};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use switchyard_runtime::redact::Secrets;
use switchyard_runtime::types::{
    AuthMethod, ConnectionConfig, ConnectorError, ConnectorInfo, Field, FieldKind, FieldValue,
    Session,
};
use switchyard_runtime::{Allowlist, CallEnv, CallError, ConnectorComponent, authority_of_url};
use switchyard_store::model::{
    ApiToken, Connection, ConnectionStatus, Millis, NewEvent, Scope, TimelineEntry, now_ms,
};
use switchyard_store::{ControlWrite, Store, StoreError};

/// Lookback of initial syncs when a connection does not choose one.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 30;
/// The accepted lookback range, in days.
pub const LOOKBACK_DAYS: std::ops::RangeInclusive<u32> = 1..=365;
/// The accepted sync interval range, in seconds: a second to thirty days.
pub const SYNC_INTERVAL_SECS: std::ops::RangeInclusive<u64> = 1..=30 * 86_400;
/// The credential an OAuth 2.0 connector receives: the host-obtained token.
pub const ACCESS_TOKEN_CREDENTIAL: &str = "access-token";
/// Longest reason kept on a timeline entry or event.
const MAX_REASON_CHARS: usize = 500;

/// What a connection keeps secret: sealed as one value.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct ConnectionSecrets {
    /// Credential field values entered on the connect page (for OAuth 2.0:
    /// the current `access-token`).
    pub credentials: BTreeMap<String, String>,
    /// The connector's current session.
    pub session: Option<StoredSession>,
    /// The OAuth 2.0 grant, for connectors that use it.
    #[serde(default)]
    pub oauth: Option<OAuthGrant>,
}

impl std::fmt::Debug for ConnectionSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: the values are what this type protects.
        f.debug_struct("ConnectionSecrets")
            .field("credentials", &self.credentials.keys().collect::<Vec<_>>())
            .field("session", &self.session.is_some())
            .field("oauth", &self.oauth.is_some())
            .finish()
    }
}

/// A session as the host keeps it.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredSession {
    /// Opaque session data from the connector.
    pub data: String,
    /// When it expires, if known.
    pub expires_at: Option<Millis>,
}

impl std::fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSession")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
impl From<Session> for StoredSession {
    fn from(session: Session) -> Self {
        StoredSession {
            data: session.data,
            expires_at: session.expires_at,
        }
    }
}

impl From<&StoredSession> for Session {
    fn from(session: &StoredSession) -> Self {
        Session {
            data: session.data.clone(),
            expires_at: session.expires_at,
        }
    }
}

impl ConnectionSecrets {
    /// Every secret value, for redaction.
    pub fn redaction_set(&self) -> Secrets {
        let mut values: Vec<String> = self.credentials.values().cloned().collect();
        if let Some(session) = &self.session {
            values.push(session.data.clone());
            // Session data is often JSON holding a token: redact the parts too.
            if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&session.data) {
                values.extend(map.values().filter_map(|v| v.as_str().map(str::to_string)));
            }
        }
        if let Some(grant) = &self.oauth {
            values.push(grant.access_token.clone());
            values.extend(grant.refresh_token.clone());
        }
        Secrets::new(values)
    }
}

/// What a new connection needs.
#[derive(Clone, Default)]
pub struct NewConnection {
    /// The connector to use.
    pub connector_id: String,
    /// Setting values by field name.
    pub settings: BTreeMap<String, String>,
    /// Credential values by field name.
    pub credentials: BTreeMap<String, String>,
    /// Initial sync lookback; the default when `None`.
    pub lookback_days: Option<u32>,
    /// When the issued API token expires; never when `None`.
    pub token_expires_at: Option<Millis>,
    /// The API request creating it, so the request log links the
    /// connector's authentication requests to it.
    pub request_id: Option<String>,
}

impl std::fmt::Debug for NewConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewConnection")
            .field("connector_id", &self.connector_id)
            .field("settings", &self.settings)
            .field("credentials", &self.credentials.keys().collect::<Vec<_>>())
            .field("lookback_days", &self.lookback_days)
            .finish()
    }
}

/// A connection operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// No such connection.
    #[error("no connection `{0}`")]
    NotFound(String),
    /// The connector is unknown or cannot be loaded.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A setting or credential is missing or malformed.
    #[error("{field}: {reason}")]
    InvalidField {
        /// The field's name.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The connector's `authenticate` failed.
    #[error("{0}")]
    Authentication(CallError),
    /// The status machine does not allow this change.
    #[error("a connection cannot go from {} to {}", status::name(*.from), status::name(*.to))]
    InvalidTransition {
        /// The current status.
        from: ConnectionStatus,
        /// The status asked for.
        to: ConnectionStatus,
    },
    /// The connection uses another connector than the one asked for.
    #[error("connection `{connection_id}` uses connector `{actual}`, not `{expected}`")]
    WrongConnector {
        /// The connection.
        connection_id: String,
        /// Its connector.
        actual: String,
        /// The connector asked for.
        expected: String,
    },
    /// An OAuth 2.0 step failed.
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// The sealed secrets cannot be opened.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Connection operations.
#[derive(Debug, Clone)]
pub struct Connections {
    store: Arc<Store>,
    registry: Arc<Registry>,
    vault: Arc<Vault>,
    tokens: Tokens,
    oauth: OAuth,
    /// Serializes read-modify-write updates of connection documents, so two
    /// runs of one connection cannot lose each other's change, and a status
    /// is read and changed as one step.
    writing: Arc<Mutex<()>>,
    /// One session renewal at a time per connection: two runs renewing at
    /// once would redeem one refresh token twice.
    renewals: Arc<Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// Where connector calls' outbound requests are logged.
    request_log: Option<RequestLog>,
}

/// A new connection id: `conn_` and 80 random bits in hex.
pub fn new_connection_id() -> String {
    format!("conn_{}", hex::encode(random_bytes::<10>()))
}

/// A status change to store: the connection after it, and its events.
struct Change<'a> {
    connection: &'a Connection,
    from: Option<ConnectionStatus>,
    reason: String,
    tokens: Vec<ApiToken>,
    events: Vec<NewEvent>,
}

/// A successful (re)authentication: the connection and its new API token.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The connection, now active.
    pub connection: Connection,
    /// Its new token: show it once.
    pub token: IssuedToken,
    /// Whether this was a reconnect of an already authenticated connection.
    pub reconnected: bool,
    /// How many old tokens were revoked.
    pub revoked_tokens: usize,
}

impl Connections {
    /// Connection operations over the given parts.
    pub fn new(
        store: Arc<Store>,
        registry: Arc<Registry>,
        vault: Arc<Vault>,
        tokens: Tokens,
    ) -> Self {
        Connections {
            oauth: OAuth::new(store.clone(), vault.clone()),
            store,
            registry,
            vault,
            tokens,
            writing: Arc::new(Mutex::new(())),
            renewals: Arc::new(Mutex::new(BTreeMap::new())),
            request_log: None,
        }
    }

    /// Logs the outbound requests of connector calls made for connections.
    pub fn with_request_log(mut self, log: RequestLog) -> Self {
        self.request_log = Some(log);
        self
    }

    /// The request log, if one is attached.
    pub fn request_log(&self) -> Option<&RequestLog> {
        self.request_log.as_ref()
    }

    /// Changes how a connection syncs: its initial-sync lookback and its
    /// sync intervals (per model, or `*` for all), each checked.
    pub fn update_sync_settings(
        &self,
        connection_id: &str,
        lookback_days: Option<u32>,
        intervals: Option<BTreeMap<String, u64>>,
    ) -> Result<Connection, ConnectionError> {
        if let Some(days) = lookback_days
            && !LOOKBACK_DAYS.contains(&days)
        {
            return Err(ConnectionError::InvalidField {
                field: "lookback_days".into(),
                reason: format!(
                    "must be between {} and {} days",
                    LOOKBACK_DAYS.start(),
                    LOOKBACK_DAYS.end()
                ),
            });
        }
        if let Some(intervals) = &intervals {
            for (model, seconds) in intervals {
                if !SYNC_INTERVAL_SECS.contains(seconds) {
                    return Err(ConnectionError::InvalidField {
                        field: format!("sync_interval_secs.{model}"),
                        reason: format!(
                            "must be between {} second and {} days",
                            SYNC_INTERVAL_SECS.start(),
                            SYNC_INTERVAL_SECS.end() / 86_400
                        ),
                    });
                }
            }
        }
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut connection = self.get(connection_id)?;
        if let Some(intervals) = &intervals {
            let component = self.registry.active(&connection.connector_id);
            let known = |model: &str| {
                model == "*"
                    || component
                        .as_ref()
                        .is_none_or(|c| c.info().models.iter().any(|m| m.name == model))
            };
            if let Some(unknown) = intervals.keys().find(|m| !known(m)) {
                return Err(ConnectionError::InvalidField {
                    field: format!("sync_interval_secs.{unknown}"),
                    reason: "is not a model of this connector (use `*` for all)".into(),
                });
            }
        }
        if let Some(days) = lookback_days {
            connection.lookback_days = days;
        }
        if let Some(intervals) = intervals {
            connection.sync_interval_secs = intervals;
        }
        connection.updated_at = now_ms();
        self.store.put_connection(&connection)?;
        Ok(connection)
    }

    /// The OAuth 2.0 operations (client registration, code exchange).
    pub fn oauth(&self) -> &OAuth {
        &self.oauth
    }

    /// The connector registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The vault sealing connection secrets.
    pub fn vault(&self) -> &Arc<Vault> {
        &self.vault
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a change with its timeline entry and events in one write.
    /// Every status change of a connection ends here.
    fn store_change(&self, change: Change<'_>) -> Result<(), ConnectionError> {
        let connection = change.connection;
        let mut events = Vec::new();
        let changed = change.from != Some(connection.status);
        let timeline = changed.then(|| TimelineEntry {
            connection_id: connection.id.clone(),
            seq: 0,
            at: connection.updated_at,
            from: change.from,
            to: connection.status,
            reason: change.reason.clone(),
        });
        if changed && let Some(from) = change.from {
            events.push(new_event(
                events::CONNECTION_STATUS_CHANGED,
                Some(&connection.id),
                json!({"from": status::name(from), "to": status::name(connection.status), "reason": change.reason}),
            ));
            if connection.status == ConnectionStatus::RequiresReauth {
                events.push(new_event(
                    events::CONNECTION_REAUTHORIZATION_REQUIRED,
                    Some(&connection.id),
                    json!({"connector_id": connection.connector_id, "reason": change.reason}),
                ));
            }
        }
        events.extend(change.events);
        self.store.write_control(ControlWrite {
            connection: Some(connection),
            timeline,
            tokens: change.tokens,
            events,
        })?;
        if changed {
            tracing::info!(
                connection = %connection.id,
                from = change.from.map(status::name),
                to = status::name(connection.status),
                reason = %change.reason,
                "connection status changed"
            );
        }
        Ok(())
    }

    fn check_lookback(lookback_days: Option<u32>) -> Result<u32, ConnectionError> {
        let lookback_days = lookback_days.unwrap_or(DEFAULT_LOOKBACK_DAYS);
        if !LOOKBACK_DAYS.contains(&lookback_days) {
            return Err(ConnectionError::InvalidField {
                field: "lookback_days".into(),
                reason: format!(
                    "must be between {} and {} days",
                    LOOKBACK_DAYS.start(),
                    LOOKBACK_DAYS.end()
                ),
            });
        }
        Ok(lookback_days)
    }

    /// Creates a connection: checks the fields against the connector's
    /// description, authenticates at the source, seals the credentials and
    /// session, and issues the connection's API token.
    pub async fn create(
        &self,
        new: NewConnection,
    ) -> Result<(Connection, IssuedToken), ConnectionError> {
        let component = self.registry.resolve(&new.connector_id, None).await?;
        let lookback_days = Self::check_lookback(new.lookback_days)?;
        let info = component.info();
        if matches!(info.auth, AuthMethod::Oauth2(_)) {
            return Err(ConnectionError::InvalidField {
                field: "credentials".into(),
                reason: "this connector authenticates with OAuth 2.0: connect it through a connect session".into(),
            });
        }
        let settings = check_fields(&info.settings, new.settings)?;
        let credentials = check_fields(credential_fields(&info.auth), new.credentials)?;
        let id = new_connection_id();
        let secrets = self
            .open_session(
                &component,
                &settings,
                credentials,
                None,
                (&id, new.request_id.clone()),
            )
            .await?;
        let now = now_ms();
        let connection = Connection {
            id: id.clone(),
            connector_id: info.id.clone(),
            pinned_version: None,
            settings,
            sealed_secrets: Some(self.seal(&id, &secrets)),
            status: ConnectionStatus::Active,
            lookback_days,
            sync_interval_secs: BTreeMap::new(),
            created_at: now,
            updated_at: now,
            credentials_version: 1,
        };
        let token = mint(
            Some(&id),
            vec![Scope::Read, Scope::Write],
            new.token_expires_at,
        );
        self.store_change(Change {
            connection: &connection,
            from: None,
            reason: "created and authenticated".into(),
            tokens: vec![token.token.clone()],
            events: vec![new_event(
                events::CONNECTION_CREATED,
                Some(&id),
                json!({"connector_id": connection.connector_id, "status": "active"}),
            )],
        })?;
        tracing::info!(connection = %id, connector = %info.id, "connection created");
        Ok((connection, token))
    }

    /// Creates a connection that is not authenticated yet (`pending`), for a
    /// connect session: the customer completes it on the connect page.
    pub async fn create_pending(
        &self,
        connector_id: &str,
        lookback_days: Option<u32>,
    ) -> Result<Connection, ConnectionError> {
        let component = self.registry.resolve(connector_id, None).await?;
        let lookback_days = Self::check_lookback(lookback_days)?;
        let now = now_ms();
        let connection = Connection {
            id: new_connection_id(),
            connector_id: component.info().id.clone(),
            pinned_version: None,
            settings: BTreeMap::new(),
            sealed_secrets: None,
            status: ConnectionStatus::Pending,
            lookback_days,
            sync_interval_secs: BTreeMap::new(),
            created_at: now,
            updated_at: now,
            credentials_version: 0,
        };
        self.store_change(Change {
            connection: &connection,
            from: None,
            reason: "created by a connect session; waiting for the customer".into(),
            tokens: Vec::new(),
            events: vec![new_event(
                events::CONNECTION_CREATED,
                Some(&connection.id),
                json!({"connector_id": connection.connector_id, "status": "pending"}),
            )],
        })?;
        Ok(connection)
    }

    /// Authenticates an existing connection with new settings and
    /// credentials: completes a `pending` one, or reconnects one whose
    /// credentials changed. On success, in one write: the new sealed secrets,
    /// status `active`, every old token revoked, one new token, and the
    /// events. The connection keeps its id, cursors and records.
    pub async fn authenticate(
        &self,
        connection_id: &str,
        settings: BTreeMap<String, String>,
        credentials: BTreeMap<String, String>,
        token_expires_at: Option<Millis>,
    ) -> Result<Authenticated, ConnectionError> {
        let connection = self.get(connection_id)?;
        let component = self
            .registry
            .resolve(&connection.connector_id, None)
            .await?;
        let info = component.info();
        let settings = check_fields(&info.settings, settings)?;
        let credentials = check_fields(credential_fields(&info.auth), credentials)?;
        let secrets = self
            .open_session(
                &component,
                &settings,
                credentials,
                None,
                (connection_id, None),
            )
            .await?;
        self.complete_authentication(connection_id, settings, secrets, token_expires_at)
    }

    /// Like [`Connections::authenticate`], for an OAuth 2.0 grant obtained
    /// by the connect flow: the connector's `authenticate` gets the access
    /// token as credential `access-token`.
    pub async fn authenticate_oauth(
        &self,
        connection_id: &str,
        settings: BTreeMap<String, String>,
        grant: OAuthGrant,
        token_expires_at: Option<Millis>,
    ) -> Result<Authenticated, ConnectionError> {
        let connection = self.get(connection_id)?;
        let component = self
            .registry
            .resolve(&connection.connector_id, None)
            .await?;
        let settings = check_fields(&component.info().settings, settings)?;
        let credentials = BTreeMap::from([(
            ACCESS_TOKEN_CREDENTIAL.to_string(),
            grant.access_token.clone(),
        )]);
        let secrets = self
            .open_session(
                &component,
                &settings,
                credentials,
                Some(grant),
                (connection_id, None),
            )
            .await?;
        self.complete_authentication(connection_id, settings, secrets, token_expires_at)
    }

    /// Calls the connector's `authenticate` and returns the secrets to seal.
    async fn open_session(
        &self,
        component: &ConnectorComponent,
        settings: &BTreeMap<String, String>,
        credentials: BTreeMap<String, String>,
        oauth: Option<OAuthGrant>,
        (connection_id, request_id): (&str, Option<String>),
    ) -> Result<ConnectionSecrets, ConnectionError> {
        let mut secrets = ConnectionSecrets {
            credentials,
            session: None,
            oauth,
        };
        let mut env = self.call_env(component, settings, &secrets)?;
        if let Some(log) = &self.request_log {
            env.observer = Some(log.observer(Some(connection_id.to_string()), None, request_id));
        }
        let mut session: StoredSession = component
            .authenticate(&env, &connection_config(settings, &secrets.credentials))
            .await
            .map_err(ConnectionError::Authentication)?
            .into();
        if session.expires_at.is_none() {
            // An OAuth connector may not know when the host's token expires.
            session.expires_at = secrets.oauth.as_ref().and_then(|g| g.expires_at);
        }
        secrets.session = Some(session);
        Ok(secrets)
    }

    fn complete_authentication(
        &self,
        connection_id: &str,
        settings: BTreeMap<String, String>,
        secrets: ConnectionSecrets,
        token_expires_at: Option<Millis>,
    ) -> Result<Authenticated, ConnectionError> {
        let _writing = self.lock();
        let mut connection = self.get(connection_id)?;
        let from = connection.status;
        // Only an operator turns a disabled connection back on (`enable`);
        // a connect link still open when it was disabled must not.
        if from == ConnectionStatus::Disabled
            || (from != ConnectionStatus::Active
                && !status::allowed(from, ConnectionStatus::Active))
        {
            return Err(ConnectionError::InvalidTransition {
                from,
                to: ConnectionStatus::Active,
            });
        }
        let reconnected = from != ConnectionStatus::Pending;
        connection.settings = settings;
        connection.sealed_secrets = Some(self.seal(connection_id, &secrets));
        connection.status = ConnectionStatus::Active;
        connection.credentials_version += 1;
        connection.updated_at = now_ms();
        let mut tokens = self.tokens.revocations(connection_id, "reconnected")?;
        let revoked_tokens = tokens.len();
        let token = mint(
            Some(connection_id),
            vec![Scope::Read, Scope::Write],
            token_expires_at,
        );
        tokens.push(token.token.clone());
        let mut events = Vec::new();
        if reconnected {
            events.push(new_event(
                events::CONNECTION_RECONNECTED,
                Some(connection_id),
                json!({
                    "connector_id": connection.connector_id,
                    "previous_status": status::name(from),
                    "revoked_tokens": revoked_tokens,
                }),
            ));
        }
        self.store_change(Change {
            connection: &connection,
            from: Some(from),
            reason: if reconnected {
                "reconnected through the connect flow".into()
            } else {
                "authenticated through the connect flow".into()
            },
            tokens,
            events,
        })?;
        Ok(Authenticated {
            connection,
            token,
            reconnected,
            revoked_tokens,
        })
    }

    /// A connection by id.
    pub fn get(&self, id: &str) -> Result<Connection, ConnectionError> {
        self.store
            .get_connection(id)?
            .ok_or_else(|| ConnectionError::NotFound(id.to_string()))
    }

    /// Every connection.
    pub fn list(&self) -> Result<Vec<Connection>, ConnectionError> {
        Ok(self.store.list_connections()?)
    }

    /// A connection's status timeline, oldest first.
    pub fn timeline(
        &self,
        connection_id: &str,
        limit: usize,
    ) -> Result<Vec<TimelineEntry>, ConnectionError> {
        Ok(self.store.list_timeline(connection_id, limit)?)
    }

    /// Opens a connection's sealed secrets.
    pub fn secrets(&self, connection: &Connection) -> Result<ConnectionSecrets, ConnectionError> {
        match &connection.sealed_secrets {
            None => Ok(ConnectionSecrets::default()),
            Some(sealed) => {
                let bytes = self.vault.open(&connection.id, sealed)?;
                serde_json::from_slice(&bytes)
                    .map_err(|e| ConnectionError::Store(StoreError::Corrupt(e.to_string())))
            }
        }
    }

    /// Moves a connection to `to` for `reason`, if the status machine allows
    /// it (an operator's pause, resume, disable or enable). Staying in the
    /// same status changes nothing and emits nothing.
    pub fn transition(
        &self,
        connection_id: &str,
        to: ConnectionStatus,
        reason: &str,
    ) -> Result<Connection, ConnectionError> {
        let _writing = self.lock();
        let mut connection = self.get(connection_id)?;
        let from = connection.status;
        if from == to {
            return Ok(connection);
        }
        if !status::allowed(from, to) {
            return Err(ConnectionError::InvalidTransition { from, to });
        }
        if to == ConnectionStatus::Active && connection.sealed_secrets.is_none() {
            // A pending connection becomes active only by authenticating.
            return Err(ConnectionError::InvalidTransition { from, to });
        }
        connection.status = to;
        connection.updated_at = now_ms();
        self.store_change(Change {
            connection: &connection,
            from: Some(from),
            reason: limit_reason(reason),
            tokens: Vec::new(),
            events: Vec::new(),
        })?;
        Ok(connection)
    }

    /// Applies the status a sync outcome calls for, when it still applies:
    /// the connection was not reconnected since `seen` was read (a run with
    /// old credentials must not undo a reconnect) and the status machine
    /// allows it (a run cannot revive a paused connection). The reason is
    /// redacted with the connection's secrets. Returns whether it changed.
    pub fn apply_sync_status(
        &self,
        seen: &Connection,
        to: ConnectionStatus,
        reason: &str,
    ) -> Result<bool, ConnectionError> {
        self.transition_if(seen, to, reason, |_| true)
    }

    /// Checks a connection's health after a run and raises or clears the
    /// alert: an `active` connection over a threshold becomes `degraded` with
    /// a `connection.health_degraded` event; a `degraded` one whose runs are
    /// healthy again becomes `active` with `connection.recovered`. Returns
    /// the event type emitted, if any.
    pub fn apply_health(
        &self,
        seen: &Connection,
        thresholds: &HealthThresholds,
    ) -> Result<Option<&'static str>, ConnectionError> {
        let health = Health::of(&self.store, &seen.id)?;
        let data = |reason: &str| {
            json!({
                "reason": reason,
                "consecutive_failures": health.consecutive_failures,
                "error_rate_1h": health.error_rate_1h,
                "thresholds": {
                    "consecutive_failures": thresholds.consecutive_failures,
                    "error_rate_1h": thresholds.error_rate_1h,
                    "min_runs_1h": thresholds.min_runs_1h,
                },
            })
        };
        let (to, event, reason) = match (seen.status, health.problem(thresholds)) {
            (ConnectionStatus::Active, Some(problem)) => (
                ConnectionStatus::Degraded,
                events::CONNECTION_HEALTH_DEGRADED,
                problem,
            ),
            (ConnectionStatus::Degraded, None) if health.recovered(thresholds) => (
                ConnectionStatus::Active,
                events::CONNECTION_RECOVERED,
                "the latest run of every model succeeded".to_string(),
            ),
            _ => return Ok(None),
        };
        let event = new_event(event, Some(&seen.id), data(&reason));
        let changed =
            self.transition_with(seen, to, &reason, |from| from == seen.status, vec![event])?;
        Ok(changed.then_some(if to == ConnectionStatus::Degraded {
            events::CONNECTION_HEALTH_DEGRADED
        } else {
            events::CONNECTION_RECOVERED
        }))
    }

    fn transition_if(
        &self,
        seen: &Connection,
        to: ConnectionStatus,
        reason: &str,
        guard: impl FnOnce(ConnectionStatus) -> bool,
    ) -> Result<bool, ConnectionError> {
        self.transition_with(seen, to, reason, guard, Vec::new())
    }

    /// Moves a connection to `to` if the transition is allowed, `guard`
    /// agrees with its current status and its credentials did not change
    /// since `seen`; `events` are written with the change.
    fn transition_with(
        &self,
        seen: &Connection,
        to: ConnectionStatus,
        reason: &str,
        guard: impl FnOnce(ConnectionStatus) -> bool,
        events: Vec<NewEvent>,
    ) -> Result<bool, ConnectionError> {
        let _writing = self.lock();
        let mut connection = self.get(&seen.id)?;
        let from = connection.status;
        if connection.credentials_version != seen.credentials_version
            || !status::allowed(from, to)
            || !guard(from)
        {
            return Ok(false);
        }
        let redacted = self.secrets(&connection)?.redaction_set().redact(reason);
        connection.status = to;
        connection.updated_at = now_ms();
        self.store_change(Change {
            connection: &connection,
            from: Some(from),
            reason: limit_reason(&redacted),
            tokens: Vec::new(),
            events,
        })?;
        Ok(true)
    }

    /// Renews a connection's session: for OAuth 2.0 connectors the host
    /// first redeems the refresh token, then the connector authenticates with
    /// the new access token; other connectors' `refresh` is called. The new
    /// secrets are sealed and returned.
    ///
    /// `after_unauthorized`: the source rejected the session (not merely
    /// expiring), so the connection shows `refreshing` meanwhile. When the
    /// source or provider rejects the renewal too (`unauthorized` or
    /// `invalid-config`), the connection moves to `requires_reauth`, which
    /// emits `connection.reauthorization_required` once.
    pub async fn refresh_session(
        &self,
        connection: &Connection,
        component: &ConnectorComponent,
        env: &CallEnv,
        secrets: &ConnectionSecrets,
        after_unauthorized: bool,
    ) -> Result<ConnectionSecrets, CallError> {
        use ConnectionStatus::{Active, Degraded, Refreshing, RequiresReauth};
        // A failure to record the status or the renewed secrets is the host's,
        // not the connector's: reported as a call error that is not retried.
        let storage = |e: ConnectionError| CallError::Instantiate(format!("storage: {e}"));
        let renewal = self
            .renewals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(connection.id.clone())
            .or_default()
            .clone();
        let _renewing = renewal.lock().await;
        // What happened while this run waited or worked: a reconnect, or a
        // renewal by another run of the same connection.
        let current = self.get(&connection.id).map_err(storage)?;
        if current.credentials_version != connection.credentials_version {
            if current.settings != connection.settings {
                return Err(CallError::Connector(ConnectorError::InvalidConfig(
                    "the connection was reconnected with other settings during this run; the next run uses them".into(),
                )));
            }
            return self.secrets(&current).map_err(storage);
        }
        let stored = self.secrets(&current).map_err(storage)?;
        if session_fingerprint(&stored) != session_fingerprint(secrets) {
            return Ok(stored);
        }
        let mut before = None;
        if after_unauthorized {
            let current = self.get(&connection.id).map_err(storage)?;
            if matches!(current.status, Active | Degraded) {
                before = Some(current.status);
                self.transition_if(
                    connection,
                    Refreshing,
                    "the source rejected the session; renewing it",
                    |_| true,
                )
                .map_err(storage)?;
            }
        }
        let result = self.renew(connection, component, env, secrets).await;
        match &result {
            Ok(renewed) => {
                self.save_renewed_secrets(&connection.id, connection.credentials_version, renewed)
                    .map_err(storage)?;
                if let Some(before) = before {
                    self.transition_if(connection, before, "session renewed", |now| {
                        now == Refreshing
                    })
                    .map_err(storage)?;
                }
            }
            Err(
                error @ CallError::Connector(
                    ConnectorError::Unauthorized(_) | ConnectorError::InvalidConfig(_),
                ),
            ) => {
                self.apply_sync_status(
                    connection,
                    RequiresReauth,
                    &format!("the source no longer accepts the credentials: {error}"),
                )
                .map_err(storage)?;
            }
            Err(_) => {
                if let Some(before) = before {
                    self.transition_if(
                        connection,
                        before,
                        "session renewal failed for a passing reason; will retry",
                        |now| now == Refreshing,
                    )
                    .map_err(storage)?;
                }
            }
        }
        result
    }

    async fn renew(
        &self,
        connection: &Connection,
        component: &ConnectorComponent,
        env: &CallEnv,
        secrets: &ConnectionSecrets,
    ) -> Result<ConnectionSecrets, CallError> {
        let mut renewed = secrets.clone();
        let session: Session = secrets.session.as_ref().map(Into::into).unwrap_or(Session {
            data: String::new(),
            expires_at: None,
        });
        let AuthMethod::Oauth2(config) = &component.info().auth else {
            let config = connection_config(&connection.settings, &secrets.credentials);
            renewed.session = Some(component.refresh(env, &config, &session).await?.into());
            return Ok(renewed);
        };
        let unauthorized = |m: String| CallError::Connector(ConnectorError::Unauthorized(m));
        let refresh_token = secrets
            .oauth
            .as_ref()
            .and_then(|g| g.refresh_token.clone())
            .ok_or_else(|| {
                unauthorized(
                    "the provider gave no refresh token; the customer must reconnect".into(),
                )
            })?;
        let endpoints = crate::oauth::endpoints(config, &connection.settings, &env.allowlist)
            .map_err(|e| CallError::Connector(ConnectorError::InvalidConfig(e.to_string())))?;
        let client = self
            .oauth
            .client(&connection.connector_id)
            .map_err(|e| CallError::Connector(ConnectorError::InvalidConfig(e.to_string())))?;
        let grant = self
            .oauth
            .refresh(&endpoints, &client, &refresh_token)
            .await
            .map_err(|e| match e {
                OAuthError::Rejected(m) => unauthorized(m),
                OAuthError::Unavailable(m) => CallError::Connector(ConnectorError::Transient(m)),
                other => CallError::Connector(ConnectorError::InvalidConfig(other.to_string())),
            })?;
        renewed.credentials.insert(
            ACCESS_TOKEN_CREDENTIAL.to_string(),
            grant.access_token.clone(),
        );
        let mut env = env.clone();
        let mut with_new = renewed.clone();
        with_new.oauth = Some(grant.clone());
        env.secrets = Arc::new(with_new.redaction_set());
        let config = connection_config(&connection.settings, &renewed.credentials);
        let mut session: StoredSession = component.authenticate(&env, &config).await?.into();
        if session.expires_at.is_none() {
            session.expires_at = grant.expires_at;
        }
        renewed.session = Some(session);
        renewed.oauth = Some(grant);
        Ok(renewed)
    }

    /// Replaces a connection's sealed secrets, keeping everything else. A
    /// renewal that lost a race with a reconnect (the credentials changed
    /// since `credentials_version`) is dropped.
    fn save_renewed_secrets(
        &self,
        connection_id: &str,
        credentials_version: u64,
        secrets: &ConnectionSecrets,
    ) -> Result<(), ConnectionError> {
        let _writing = self.lock();
        let mut connection = self.get(connection_id)?;
        if connection.credentials_version != credentials_version {
            return Ok(());
        }
        connection.sealed_secrets = Some(self.seal(connection_id, secrets));
        connection.updated_at = now_ms();
        self.store.put_connection(&connection)?;
        Ok(())
    }

    /// Replaces a connection's sealed secrets, keeping everything else.
    pub fn save_secrets(
        &self,
        connection_id: &str,
        secrets: &ConnectionSecrets,
    ) -> Result<(), ConnectionError> {
        let _writing = self.lock();
        let mut connection = self.get(connection_id)?;
        connection.sealed_secrets = Some(self.seal(connection_id, secrets));
        connection.updated_at = now_ms();
        self.store.put_connection(&connection)?;
        Ok(())
    }

    /// Re-seals every connection's secrets (and the OAuth client secrets)
    /// sealed under an older master key with the current one. Returns how
    /// many values were re-sealed. Run it after adding a new key in front of
    /// `SWITCHYARD_MASTER_KEY`, before removing the old one.
    pub fn reseal_all(&self) -> Result<usize, ConnectionError> {
        let mut resealed = 0;
        for connection in self.list()? {
            let _writing = self.lock();
            let mut connection = self.get(&connection.id)?;
            let Some(sealed) = &connection.sealed_secrets else {
                continue;
            };
            if self.vault.is_current(sealed) {
                continue;
            }
            let secrets = self.secrets(&connection)?;
            connection.sealed_secrets = Some(self.seal(&connection.id, &secrets));
            self.store.put_connection(&connection)?;
            resealed += 1;
        }
        for connector_id in self.registry.connector_ids()? {
            if self.oauth.reseal_client(&connector_id)? {
                resealed += 1;
            }
        }
        Ok(resealed)
    }

    fn seal(&self, connection_id: &str, secrets: &ConnectionSecrets) -> String {
        let plaintext = serde_json::to_vec(secrets).expect("secrets serialize");
        self.vault.seal(connection_id, &plaintext)
    }

    /// Pins a connection to an installed version of its connector, or
    /// (`None`) lets it follow the active version again. Runs that start
    /// afterwards use it; a run in progress keeps its version.
    pub fn set_pinned_version(
        &self,
        connection_id: &str,
        version: Option<&str>,
    ) -> Result<Connection, ConnectionError> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut connection = self.get(connection_id)?;
        if let Some(version) = version {
            self.registry.version(&connection.connector_id, version)?;
        }
        let version = version.map(str::to_string);
        if connection.pinned_version != version {
            tracing::info!(connection = connection_id, from = ?connection.pinned_version, to = ?version, "connection pin changed");
            connection.pinned_version = version;
            connection.updated_at = now_ms();
            self.store.put_connection(&connection)?;
        }
        Ok(connection)
    }

    /// The environment for calls of `component` on behalf of a connection:
    /// the connector's limits, the allowlist resolved against its settings,
    /// and its secrets for redaction.
    pub fn call_env(
        &self,
        component: &ConnectorComponent,
        settings: &BTreeMap<String, String>,
        secrets: &ConnectionSecrets,
    ) -> Result<CallEnv, ConnectionError> {
        let allowlist = resolve_allowlist(component.info(), settings)?;
        Ok(CallEnv {
            limits: self.registry.limits(&component.info().id),
            allowlist: Arc::new(allowlist),
            secrets: Arc::new(secrets.redaction_set()),
            observer: None,
        })
    }
}

/// The hosts a connector may reach for a connection: its `allowed-hosts`
/// resolved against the connection's settings.
pub fn resolve_allowlist(
    info: &ConnectorInfo,
    settings: &BTreeMap<String, String>,
) -> Result<Allowlist, ConnectionError> {
    Allowlist::resolve(&info.allowed_hosts, |name| {
        settings.get(name).map(String::as_str)
    })
    .map_err(|e| ConnectionError::InvalidField {
        field: e.pattern.clone(),
        reason: e.reason,
    })
}

/// The credential fields of an auth method (none for OAuth 2.0: the host
/// obtains the token).
pub fn credential_fields(auth: &AuthMethod) -> &[Field] {
    match auth {
        AuthMethod::Credentials(fields) => fields,
        AuthMethod::None | AuthMethod::Oauth2(_) => &[],
    }
}

fn limit_reason(reason: &str) -> String {
    if reason.chars().count() <= MAX_REASON_CHARS {
        return reason.to_string();
    }
    let mut cut: String = reason.chars().take(MAX_REASON_CHARS).collect();
    cut.push('…');
    cut
}

/// The contract's view of a connection's settings and credentials.
pub fn connection_config(
    settings: &BTreeMap<String, String>,
    credentials: &BTreeMap<String, String>,
) -> ConnectionConfig {
    let values = |map: &BTreeMap<String, String>| {
        map.iter()
            .map(|(name, value)| FieldValue {
                name: name.clone(),
                value: value.clone(),
            })
            .collect()
    };
    ConnectionConfig {
        settings: values(settings),
        credentials: values(credentials),
    }
}

/// Checks values against described fields: unknown names, required ones,
/// kinds; fills in defaults.
pub fn check_fields(
    fields: &[Field],
    mut values: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ConnectionError> {
    let invalid = |field: &str, reason: String| ConnectionError::InvalidField {
        field: field.to_string(),
        reason,
    };
    if let Some(unknown) = values
        .keys()
        .find(|k| !fields.iter().any(|f| &f.name == *k))
    {
        return Err(invalid(unknown, "is not a field of this connector".into()));
    }
    let mut checked = BTreeMap::new();
    for field in fields {
        let value = values
            .remove(&field.name)
            .filter(|v| !v.trim().is_empty())
            .or_else(|| field.default_value.clone());
        let Some(value) = value else {
            if field.required {
                return Err(invalid(&field.name, "is required".into()));
            }
            continue;
        };
        let value = match &field.kind {
            FieldKind::Secret => value,
            _ => value.trim().to_string(),
        };
        if value.len() > 4096 {
            return Err(invalid(&field.name, "is too long".into()));
        }
        match &field.kind {
            FieldKind::Url if authority_of_url(&value).is_none() => {
                return Err(invalid(&field.name, "must be an http or https URL".into()));
            }
            FieldKind::Number if value.parse::<f64>().is_err() => {
                return Err(invalid(&field.name, "must be a number".into()));
            }
            FieldKind::Boolean if value != "true" && value != "false" => {
                return Err(invalid(&field.name, "must be true or false".into()));
            }
            FieldKind::Choice(choices) if !choices.contains(&value) => {
                return Err(invalid(
                    &field.name,
                    format!("must be one of {}", choices.join(", ")),
                ));
            }
            _ => {}
        }
        checked.insert(field.name.clone(), value);
    }
    Ok(checked)
}

/// What identifies the session a set of secrets carries: two runs holding
/// the same one have not seen each other's renewal.
fn session_fingerprint(
    secrets: &ConnectionSecrets,
) -> (Option<(&str, Option<Millis>)>, Option<&str>) {
    (
        secrets
            .session
            .as_ref()
            .map(|s| (s.data.as_str(), s.expires_at)),
        secrets.oauth.as_ref().map(|g| g.access_token.as_str()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, kind: FieldKind, required: bool) -> Field {
        Field {
            name: name.into(),
            label: name.into(),
            kind,
            required,
            description: None,
            default_value: None,
        }
    }

    #[test]
    fn fields_are_checked_against_the_description() {
        let fields = [
            field("base-url", FieldKind::Url, true),
            field("page", FieldKind::Number, false),
            field(
                "mode",
                FieldKind::Choice(vec!["a".into(), "b".into()]),
                false,
            ),
        ];
        let values = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let ok = check_fields(
            &fields,
            values(&[("base-url", " http://h:1 "), ("page", "5")]),
        )
        .unwrap();
        assert_eq!(ok["base-url"], "http://h:1");
        let error = |pairs| {
            check_fields(&fields, values(pairs))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(error(&[]), "base-url: is required");
        assert_eq!(
            error(&[("base-url", "ftp://h")]),
            "base-url: must be an http or https URL"
        );
        assert_eq!(
            error(&[("base-url", "http://h"), ("page", "x")]),
            "page: must be a number"
        );
        assert_eq!(
            error(&[("base-url", "http://h"), ("mode", "c")]),
            "mode: must be one of a, b"
        );
        assert_eq!(
            error(&[("base-url", "http://h"), ("x", "1")]),
            "x: is not a field of this connector"
        );
    }
}
