//! Connections: a connector, a customer's settings, sealed credentials and
//! session, and a status.

use crate::registry::{Registry, RegistryError};
use crate::request_log::RequestLog;
use crate::tokens::{IssuedToken, Tokens};
use crate::vault::{Vault, VaultError, random_bytes};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use switchyard_runtime::redact::Secrets;
use switchyard_runtime::types::{
    AuthMethod, ConnectionConfig, Field, FieldKind, FieldValue, Session,
};
use switchyard_runtime::{Allowlist, CallEnv, CallError, ConnectorComponent, authority_of_url};
use switchyard_store::model::{Connection, ConnectionStatus, Millis, Scope, now_ms};
use switchyard_store::{Store, StoreError};

/// Lookback of initial syncs when a connection does not choose one.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 30;
/// The accepted lookback range, in days.
pub const LOOKBACK_DAYS: std::ops::RangeInclusive<u32> = 1..=365;
/// The accepted sync interval range, in seconds: a second to thirty days.
pub const SYNC_INTERVAL_SECS: std::ops::RangeInclusive<u64> = 1..=30 * 86_400;

/// What a connection keeps secret: sealed as one value.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConnectionSecrets {
    /// Credential field values entered on the connect page.
    pub credentials: BTreeMap<String, String>,
    /// The connector's current session.
    pub session: Option<StoredSession>,
}

/// A session as the host keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredSession {
    /// Opaque session data from the connector.
    pub data: String,
    /// When it expires, if known.
    pub expires_at: Option<Millis>,
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
        Secrets::new(values)
    }
}

/// What a new connection needs.
#[derive(Debug, Clone, Default)]
pub struct NewConnection {
    /// The connector to use.
    pub connector_id: String,
    /// Setting values by field name.
    pub settings: BTreeMap<String, String>,
    /// Credential values by field name.
    pub credentials: BTreeMap<String, String>,
    /// Initial sync lookback; the default when `None`.
    pub lookback_days: Option<u32>,
    /// The API request creating it, so the request log links the
    /// connector's authentication requests to it.
    pub request_id: Option<String>,
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
    /// Serializes read-modify-write updates of connection documents, so two
    /// runs of one connection cannot lose each other's change.
    writing: Arc<Mutex<()>>,
    /// Where connector calls' outbound requests are logged.
    request_log: Option<RequestLog>,
}

/// A new connection id: `conn_` and 80 random bits in hex.
pub fn new_connection_id() -> String {
    format!("conn_{}", hex::encode(random_bytes::<10>()))
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
            store,
            registry,
            vault,
            tokens,
            writing: Arc::new(Mutex::new(())),
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

    /// Creates a connection: checks the fields against the connector's
    /// description, authenticates at the source, seals the credentials and
    /// session, and issues the connection's API token.
    pub async fn create(
        &self,
        new: NewConnection,
    ) -> Result<(Connection, IssuedToken), ConnectionError> {
        let component = self.registry.resolve(&new.connector_id, None).await?;
        let lookback_days = new.lookback_days.unwrap_or(DEFAULT_LOOKBACK_DAYS);
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
        let info = component.info();
        let credential_fields: &[Field] = match &info.auth {
            AuthMethod::Credentials(fields) => fields,
            AuthMethod::None | AuthMethod::Oauth2(_) => &[],
        };
        let settings = check_fields(&info.settings, new.settings)?;
        let credentials = check_fields(credential_fields, new.credentials)?;
        let id = new_connection_id();
        let mut secrets = ConnectionSecrets {
            credentials,
            session: None,
        };
        let mut env = self.call_env(&component, &settings, &secrets)?;
        if let Some(log) = &self.request_log {
            env.observer = Some(log.observer(Some(id.clone()), None, new.request_id.clone()));
        }
        let session = component
            .authenticate(&env, &connection_config(&settings, &secrets.credentials))
            .await
            .map_err(ConnectionError::Authentication)?;
        secrets.session = Some(session.into());
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
        };
        self.store.put_connection(&connection)?;
        let token = self
            .tokens
            .issue(Some(&id), vec![Scope::Read, Scope::Write], None)?;
        tracing::info!(connection = %id, connector = %info.id, "connection created");
        Ok((connection, token))
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

    /// Moves a connection to `status` for `reason`.
    pub fn set_status(
        &self,
        connection_id: &str,
        status: ConnectionStatus,
        reason: &str,
    ) -> Result<Connection, ConnectionError> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut connection = self.get(connection_id)?;
        if connection.status != status {
            tracing::info!(connection = connection_id, from = ?connection.status, to = ?status, reason, "connection status changed");
            connection.status = status;
            connection.updated_at = now_ms();
            self.store.put_connection(&connection)?;
        }
        Ok(connection)
    }

    /// Replaces a connection's session, keeping everything else.
    pub fn save_session(
        &self,
        connection_id: &str,
        session: Session,
    ) -> Result<(), ConnectionError> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut connection = self.get(connection_id)?;
        let mut secrets = self.secrets(&connection)?;
        secrets.session = Some(session.into());
        connection.sealed_secrets = Some(self.seal(connection_id, &secrets));
        connection.updated_at = now_ms();
        self.store.put_connection(&connection)?;
        Ok(())
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
        let allowlist = Allowlist::resolve(&component.info().allowed_hosts, |name| {
            settings.get(name).map(String::as_str)
        })
        .map_err(|e| ConnectionError::InvalidField {
            field: e.pattern.clone(),
            reason: e.reason,
        })?;
        Ok(CallEnv {
            limits: self.registry.limits(&component.info().id),
            allowlist: Arc::new(allowlist),
            secrets: Arc::new(secrets.redaction_set()),
            observer: None,
        })
    }
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
