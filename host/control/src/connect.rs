//! Connect sessions: how an integrating application sends its customer to
//! the hosted connect page, and how the resulting API token reaches the
//! application's backend.
//!
//! 1. The application's backend (admin token) creates a session for a
//!    connector, optionally bound to an existing connection (a reconnect)
//!    and with a redirect URL. It gets a short-lived, single-use link.
//! 2. The customer opens the link, fills the form (or goes through the OAuth
//!    2.0 redirect) and the host authenticates the connection.
//! 3. Without a redirect URL the token is shown once on the page. With one,
//!    the browser is sent there with a one-time `code`, which the backend
//!    exchanges (admin token) for the token within a few minutes.
//!
//! Session links, OAuth states and codes are stored only as SHA-256 hashes;
//! the PKCE verifier and the token waiting for its exchange are sealed.

use crate::connections::{ConnectionError, Connections};
use crate::oauth::pkce_pair;
use crate::tokens::hash_secret;
use crate::vault::{VaultError, random_bytes};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use switchyard_store::model::{ConnectionStatus, Millis, now_ms};
use switchyard_store::{Store, StoreError};

/// How long a connect link stays usable.
pub const SESSION_TTL_MS: Millis = 30 * 60 * 1000;
/// How long a one-time code waits for its exchange.
pub const CODE_TTL_MS: Millis = 5 * 60 * 1000;
/// How long the customer may spend at the OAuth provider.
pub const OAUTH_TTL_MS: Millis = 10 * 60 * 1000;
/// Failed submissions after which a connect link stops working, so a link
/// cannot be used to try passwords against the source without end.
pub const MAX_FAILED_ATTEMPTS: u32 = 10;
/// Prefix of connect session secrets.
pub const SESSION_PREFIX: &str = "cs_";
/// Prefix of one-time codes.
pub const CODE_PREFIX: &str = "cc_";
/// Most connect documents examined by one purge of expired ones.
const PURGE_SCAN_LIMIT: usize = 10_000;

/// A connect session, as stored (under the hash of its secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectSession {
    /// The connector to connect.
    pub connector_id: String,
    /// The connection it authenticates: a new `pending` one, or the
    /// connection being reconnected.
    pub connection_id: String,
    /// Whether it reconnects an existing connection.
    pub reconnect: bool,
    /// Where to send the browser with a one-time code; the token is shown on
    /// the page when absent.
    pub redirect_url: Option<String>,
    /// Lifetime of the token it issues, in seconds; unlimited when absent.
    pub token_ttl_secs: Option<u64>,
    /// When it was created.
    pub created_at: Millis,
    /// When the link stops working.
    pub expires_at: Millis,
    /// Submissions the source rejected so far.
    pub failed_attempts: u32,
    /// An OAuth 2.0 redirect in progress.
    pub oauth: Option<PendingOAuth>,
}

/// An OAuth 2.0 authorization in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingOAuth {
    /// The settings entered before the redirect.
    pub settings: BTreeMap<String, String>,
    /// The PKCE verifier, sealed.
    pub sealed_verifier: String,
    /// The redirect URI sent to the provider (the exchange repeats it).
    pub redirect_uri: String,
    /// When the customer left for the provider.
    pub started_at: Millis,
}

#[derive(Debug, Serialize, Deserialize)]
struct StateDoc {
    session_key: String,
    expires_at: Millis,
    /// Hash of the nonce the starting browser holds in a cookie.
    #[serde(default)]
    browser_hash: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct CodeDoc {
    connection_id: String,
    sealed_token: String,
    expires_at: Millis,
}

#[derive(Deserialize)]
struct Expiring {
    expires_at: Millis,
}

/// A connect step that failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The link, state or code is unknown, used, or expired.
    #[error("{0}")]
    Invalid(&'static str),
    /// The request is malformed (a redirect URL, a connection in the wrong
    /// status).
    #[error("{0}")]
    Rejected(String),
    /// A connection operation failed.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The vault failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What creating a session needs.
#[derive(Debug, Clone, Default)]
pub struct NewConnectSession {
    /// The connector.
    pub connector_id: String,
    /// The connection to reconnect; a new one when absent.
    pub connection_id: Option<String>,
    /// Where to send the browser with a one-time code.
    pub redirect_url: Option<String>,
    /// Lifetime of the issued token, in seconds.
    pub token_ttl_secs: Option<u64>,
    /// Initial sync lookback of a new connection.
    pub lookback_days: Option<u32>,
}

/// Connect sessions and one-time codes.
#[derive(Debug, Clone)]
pub struct ConnectSessions {
    store: Arc<Store>,
    connections: Connections,
    /// Origins a redirect URL may have; any http(s) origin when empty.
    redirect_origins: Arc<Vec<String>>,
    /// Makes the take-once operations (codes, states) atomic.
    taking: Arc<Mutex<()>>,
    /// Links being submitted right now: one submission at a time per link.
    submitting: Arc<Mutex<std::collections::HashSet<String>>>,
}

/// A link being submitted; released when dropped.
pub struct Submission {
    submitting: Arc<Mutex<std::collections::HashSet<String>>>,
    key: String,
}

impl Drop for Submission {
    fn drop(&mut self) {
        self.submitting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

fn session_key(secret: &str) -> String {
    format!("session/{}", hash_secret(secret))
}

fn random_secret(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// The origin (`scheme://host[:port]`) of an absolute http(s) URL.
pub fn origin_of(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

impl ConnectSessions {
    /// Sessions over the store; `redirect_origins` restricts redirect URLs
    /// (empty: any http or https URL).
    pub fn new(store: Arc<Store>, connections: Connections, redirect_origins: Vec<String>) -> Self {
        ConnectSessions {
            store,
            connections,
            redirect_origins: Arc::new(
                redirect_origins
                    .into_iter()
                    .map(|o| o.trim_end_matches('/').to_string())
                    .collect(),
            ),
            taking: Arc::new(Mutex::new(())),
            submitting: Arc::new(Mutex::new(std::collections::HashSet::new())),
        }
    }

    /// Starts a submission of the link stored under `key`: `None` while
    /// another one is in progress. Two windows posting one link at once
    /// would otherwise both authenticate (two tokens, one revoking the
    /// other) and both count a failure from the same starting point.
    pub fn begin_submission(&self, key: &str) -> Option<Submission> {
        let fresh = self
            .submitting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string());
        fresh.then(|| Submission {
            submitting: self.submitting.clone(),
            key: key.to_string(),
        })
    }

    /// The connections the sessions authenticate.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Checks a redirect URL: absolute http(s), no credentials or fragment,
    /// and an allowed origin when origins are configured.
    pub fn check_redirect_url(&self, raw: &str) -> Result<String, ConnectError> {
        let url = url::Url::parse(raw)
            .map_err(|_| ConnectError::Rejected("redirect_url must be an absolute URL".into()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConnectError::Rejected(
                "redirect_url must be an http or https URL".into(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(ConnectError::Rejected(
                "redirect_url must not contain credentials or a fragment".into(),
            ));
        }
        if raw.len() > 2048 {
            return Err(ConnectError::Rejected("redirect_url is too long".into()));
        }
        if !self.redirect_origins.is_empty() && !self.redirect_origins.contains(&origin_of(&url)) {
            return Err(ConnectError::Rejected(format!(
                "redirect_url's origin {} is not among the allowed redirect origins",
                origin_of(&url)
            )));
        }
        Ok(url.into())
    }

    /// Creates a session; returns its secret (for the link) and the session.
    pub async fn create(
        &self,
        new: NewConnectSession,
    ) -> Result<(String, ConnectSession), ConnectError> {
        self.purge_expired()?;
        let redirect_url = new
            .redirect_url
            .as_deref()
            .map(|u| self.check_redirect_url(u))
            .transpose()?;
        let (connection_id, reconnect) = match &new.connection_id {
            Some(id) => {
                let connection = self.connections.get(id)?;
                if connection.connector_id != new.connector_id {
                    return Err(ConnectionError::WrongConnector {
                        connection_id: id.clone(),
                        actual: connection.connector_id,
                        expected: new.connector_id,
                    }
                    .into());
                }
                if connection.status == ConnectionStatus::Disabled {
                    return Err(ConnectError::Rejected(
                        "the connection is disabled; enable it before reconnecting".into(),
                    ));
                }
                (id.clone(), connection.status != ConnectionStatus::Pending)
            }
            None => (
                self.connections
                    .create_pending(&new.connector_id, new.lookback_days)
                    .await?
                    .id,
                false,
            ),
        };
        let now = now_ms();
        let session = ConnectSession {
            connector_id: new.connector_id,
            connection_id,
            reconnect,
            redirect_url,
            token_ttl_secs: new.token_ttl_secs,
            created_at: now,
            expires_at: now + SESSION_TTL_MS,
            failed_attempts: 0,
            oauth: None,
        };
        let secret = random_secret(SESSION_PREFIX);
        self.store
            .put_connect_doc(&session_key(&secret), &session)?;
        Ok((secret, session))
    }

    /// The live session of a link secret, with its storage key.
    pub fn open(&self, secret: &str) -> Result<(String, ConnectSession), ConnectError> {
        let invalid = ConnectError::Invalid(
            "This connect link is not valid: it was already used, it expired, or it was copied incompletely. Ask for a new link.",
        );
        if !secret.starts_with(SESSION_PREFIX) || secret.len() > 128 {
            return Err(invalid);
        }
        let key = session_key(secret);
        let session: ConnectSession = self.store.get_connect_doc(&key)?.ok_or(invalid)?;
        if session.expires_at <= now_ms() {
            self.store.delete_connect_doc(&key)?;
            return Err(ConnectError::Invalid(
                "This connect link expired. Ask for a new link.",
            ));
        }
        Ok((key, session))
    }

    /// Counts a submission the source rejected; the link stops working after
    /// [`MAX_FAILED_ATTEMPTS`]. Returns whether it still works.
    pub fn record_failure(
        &self,
        key: &str,
        session: &mut ConnectSession,
    ) -> Result<bool, ConnectError> {
        session.failed_attempts += 1;
        if session.failed_attempts >= MAX_FAILED_ATTEMPTS {
            self.store.delete_connect_doc(key)?;
            return Ok(false);
        }
        self.store.put_connect_doc(key, session)?;
        Ok(true)
    }

    /// Ends a session (it succeeded).
    pub fn finish(&self, key: &str) -> Result<(), ConnectError> {
        Ok(self.store.delete_connect_doc(key)?)
    }

    /// Starts an OAuth 2.0 redirect for a session: returns the `state` and
    /// the PKCE challenge to send to the provider, and a nonce for the
    /// browser to keep in a cookie: the callback must come from the browser
    /// that started, or someone else's consent could complete this link.
    pub fn begin_oauth(
        &self,
        key: &str,
        session: &mut ConnectSession,
        settings: BTreeMap<String, String>,
        redirect_uri: &str,
    ) -> Result<(String, String, String), ConnectError> {
        let (verifier, challenge) = pkce_pair();
        let state = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
        let browser_nonce = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
        let now = now_ms();
        session.oauth = Some(PendingOAuth {
            settings,
            sealed_verifier: self.connections.vault().seal(key, verifier.as_bytes()),
            redirect_uri: redirect_uri.to_string(),
            started_at: now,
        });
        self.store.put_connect_doc(key, session)?;
        self.store.put_connect_doc(
            &format!("state/{}", hash_secret(&state)),
            &StateDoc {
                session_key: key.to_string(),
                expires_at: now + OAUTH_TTL_MS,
                browser_hash: hash_secret(&browser_nonce),
            },
        )?;
        Ok((state, challenge, browser_nonce))
    }

    /// Takes the session an OAuth `state` belongs to, once: returns its key,
    /// the session and the PKCE verifier. `browser_nonce` is the cookie of
    /// the browser that came back; it must be the one that started.
    pub fn take_oauth(
        &self,
        state: &str,
        browser_nonce: Option<&str>,
    ) -> Result<(String, ConnectSession, String), ConnectError> {
        let invalid = ConnectError::Invalid(
            "This authorization is not valid: it was already completed or it expired. Start again from the connect link.",
        );
        if state.len() > 128 {
            return Err(invalid);
        }
        let state_key = format!("state/{}", hash_secret(state));
        let doc: StateDoc = {
            let _taking = self.taking.lock().unwrap_or_else(|e| e.into_inner());
            let doc = self.store.get_connect_doc(&state_key)?;
            self.store.delete_connect_doc(&state_key)?;
            doc.ok_or(invalid)?
        };
        if !doc.browser_hash.is_empty()
            && browser_nonce.map(hash_secret).as_deref() != Some(doc.browser_hash.as_str())
        {
            return Err(ConnectError::Invalid(
                "This authorization was started in another browser. Open the connect link again, in this browser.",
            ));
        }
        if doc.expires_at <= now_ms() {
            return Err(ConnectError::Invalid(
                "The authorization took too long. Start again from the connect link.",
            ));
        }
        let session: ConnectSession =
            self.store
                .get_connect_doc(&doc.session_key)?
                .ok_or(ConnectError::Invalid(
                    "This connect link is no longer valid. Ask for a new link.",
                ))?;
        let pending = session.oauth.as_ref().ok_or(ConnectError::Invalid(
            "This connect link has no authorization in progress. Start again from the connect link.",
        ))?;
        let verifier = self
            .connections
            .vault()
            .open(&doc.session_key, &pending.sealed_verifier)?;
        let verifier = String::from_utf8(verifier).map_err(|_| VaultError::Corrupt)?;
        Ok((doc.session_key, session, verifier))
    }

    /// Keeps an issued token for the application's backend under a new
    /// one-time code.
    pub fn issue_code(
        &self,
        connection_id: &str,
        token_secret: &str,
    ) -> Result<String, ConnectError> {
        let code = random_secret(CODE_PREFIX);
        let key = format!("code/{}", hash_secret(&code));
        let doc = CodeDoc {
            connection_id: connection_id.to_string(),
            sealed_token: self.connections.vault().seal(&key, token_secret.as_bytes()),
            expires_at: now_ms() + CODE_TTL_MS,
        };
        self.store.put_connect_doc(&key, &doc)?;
        Ok(code)
    }

    /// Exchanges a one-time code for (connection id, token), once.
    pub fn exchange(&self, code: &str) -> Result<(String, String), ConnectError> {
        let invalid = ConnectError::Invalid(
            "The code is not valid: it was already exchanged, it expired, or it was copied incompletely.",
        );
        if !code.starts_with(CODE_PREFIX) || code.len() > 128 {
            return Err(invalid);
        }
        let key = format!("code/{}", hash_secret(code));
        let doc: CodeDoc = {
            let _taking = self.taking.lock().unwrap_or_else(|e| e.into_inner());
            let doc = self.store.get_connect_doc(&key)?;
            self.store.delete_connect_doc(&key)?;
            doc.ok_or(invalid)?
        };
        if doc.expires_at <= now_ms() {
            return Err(ConnectError::Invalid(
                "The code expired: exchange it within five minutes. Reconnect to get a new token.",
            ));
        }
        let token = self.connections.vault().open(&key, &doc.sealed_token)?;
        let token = String::from_utf8(token).map_err(|_| VaultError::Corrupt)?;
        Ok((doc.connection_id, token))
    }

    /// Deletes expired sessions, states and codes.
    pub fn purge_expired(&self) -> Result<usize, ConnectError> {
        let now = now_ms();
        let mut purged = 0;
        for prefix in ["session/", "state/", "code/"] {
            for (key, doc) in self
                .store
                .list_connect_docs::<Expiring>(prefix, PURGE_SCAN_LIMIT)?
            {
                if doc.expires_at <= now {
                    self.store.delete_connect_doc(&key)?;
                    purged += 1;
                }
            }
        }
        Ok(purged)
    }
}
