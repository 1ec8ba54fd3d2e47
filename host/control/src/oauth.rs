//! OAuth 2.0 authorization code flow, run by the host for connectors that
//! declare `auth-method::oauth2`: the authorize URL (with PKCE S256 and a
//! state), the code exchange, and refresh-token grants.
//!
//! The operator registers the host's OAuth client (id and secret) per
//! connector; it is sealed by the vault like connection secrets. The host
//! talks only to a token endpoint whose host the connection's allowlist
//! admits, never follows redirects, and caps the answer's size.

use crate::vault::{Vault, VaultError, random_bytes};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use switchyard_runtime::Allowlist;
use switchyard_runtime::types::Oauth2;
use switchyard_store::model::{Millis, now_ms};
use switchyard_store::{Store, StoreError};

/// Largest token endpoint answer read.
const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;
/// How long a token endpoint may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(15);

/// The host's OAuth client at a provider, registered per connector.
#[derive(Clone, Serialize, Deserialize)]
pub struct OAuthClient {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// Origins (`https://host[:port]`) where the token endpoint may be: the
    /// client secret is sent nowhere else. Required when the connector's
    /// token URL takes its host from a connection setting, which the
    /// customer types in.
    pub token_origins: Vec<String>,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Tokens from the provider, kept sealed with the connection's secrets.
#[derive(Clone, Serialize, Deserialize)]
pub struct OAuthGrant {
    /// The access token handed to the connector as credential `access-token`.
    pub access_token: String,
    /// The refresh token, if the provider gave one.
    pub refresh_token: Option<String>,
    /// When the access token expires, if the provider said.
    pub expires_at: Option<Millis>,
}

impl std::fmt::Debug for OAuthGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthGrant")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// An OAuth step that failed. Messages never hold tokens or secrets.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The connector's OAuth settings cannot be used (no client registered,
    /// a URL that is not http(s), a host outside the allowlist).
    #[error("{0}")]
    Config(String),
    /// The provider refused the code or refresh token (`invalid_grant` and
    /// other 4xx answers): the customer must authorize again.
    #[error("the provider refused the grant: {0}")]
    Rejected(String),
    /// The provider could not be reached or failed (5xx, timeout).
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The vault could not open the client secret.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The authorize and token URLs of a connection, placeholders replaced.
#[derive(Debug, Clone)]
pub struct OAuthEndpoints {
    /// The provider's authorization endpoint.
    pub authorize_url: String,
    /// The provider's token endpoint.
    pub token_url: String,
    /// Scopes to request.
    pub scopes: Vec<String>,
    /// Whether the connector fixes the token endpoint's origin (no setting
    /// in its scheme, host or port).
    pub token_origin_fixed: bool,
}

/// The origin (`scheme://host[:port]`) of an http(s) URL.
pub fn origin_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

/// Whether a connector's token URL template takes its origin from a
/// setting: then the client registration must name the allowed origins.
pub fn token_origin_from_settings(config: &Oauth2) -> bool {
    let after_scheme = config
        .token_url
        .split_once("://")
        .map_or(config.token_url.as_str(), |(_, rest)| rest);
    let authority = after_scheme.split('/').next().unwrap_or_default();
    config
        .token_url
        .split("://")
        .next()
        .unwrap_or_default()
        .contains('{')
        || authority.contains('{')
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// OAuth operations.
#[derive(Clone)]
pub struct OAuth {
    store: Arc<Store>,
    vault: Arc<Vault>,
    http: reqwest::Client,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth").finish_non_exhaustive()
    }
}

fn client_key(connector_id: &str) -> String {
    format!("oauth-client/{connector_id}")
}

#[derive(Serialize, Deserialize)]
struct StoredClient {
    client_id: String,
    sealed_secret: String,
    #[serde(default)]
    token_origins: Vec<String>,
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
}

impl OAuth {
    /// OAuth operations over the store and vault.
    pub fn new(store: Arc<Store>, vault: Arc<Vault>) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TOKEN_TIMEOUT)
            .build()
            .expect("the HTTP client builds");
        OAuth { store, vault, http }
    }

    /// Registers (or replaces) the host's OAuth client for a connector.
    pub fn set_client(&self, connector_id: &str, client: &OAuthClient) -> Result<(), OAuthError> {
        let stored = StoredClient {
            client_id: client.client_id.clone(),
            sealed_secret: self
                .vault
                .seal(&client_key(connector_id), client.client_secret.as_bytes()),
            token_origins: client.token_origins.clone(),
        };
        Ok(self
            .store
            .put_connector_doc(&client_key(connector_id), &stored)?)
    }

    /// The OAuth client registered for a connector.
    pub fn client(&self, connector_id: &str) -> Result<OAuthClient, OAuthError> {
        let stored: StoredClient = self
            .store
            .get_connector_doc(&client_key(connector_id))?
            .ok_or_else(|| {
                OAuthError::Config(format!(
                    "no OAuth client is registered for connector `{connector_id}`; an operator must register one first"
                ))
            })?;
        let secret = self
            .vault
            .open(&client_key(connector_id), &stored.sealed_secret)?;
        Ok(OAuthClient {
            token_origins: stored.token_origins,
            client_id: stored.client_id,
            client_secret: String::from_utf8(secret)
                .map_err(|_| OAuthError::Config("the stored client secret is not text".into()))?,
        })
    }

    /// Re-seals the client secret of a connector under the current key;
    /// true when it was sealed under an older one.
    pub fn reseal_client(&self, connector_id: &str) -> Result<bool, OAuthError> {
        let Some(stored) = self
            .store
            .get_connector_doc::<StoredClient>(&client_key(connector_id))?
        else {
            return Ok(false);
        };
        if self.vault.is_current(&stored.sealed_secret) {
            return Ok(false);
        }
        let client = self.client(connector_id)?;
        self.set_client(connector_id, &client)?;
        Ok(true)
    }

    /// Where to send the customer's browser: the provider's authorize URL
    /// with the client id, redirect URI, scopes, state and PKCE challenge.
    pub fn authorize_url(
        &self,
        endpoints: &OAuthEndpoints,
        client: &OAuthClient,
        redirect_uri: &str,
        state: &str,
        code_challenge: &str,
    ) -> Result<String, OAuthError> {
        let mut url = url::Url::parse(&endpoints.authorize_url)
            .map_err(|_| OAuthError::Config("the authorize URL is not a URL".into()))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &endpoints.scopes.join(" "))
            .append_pair("state", state)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Exchanges an authorization code for tokens.
    pub async fn exchange_code(
        &self,
        endpoints: &OAuthEndpoints,
        client: &OAuthClient,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<OAuthGrant, OAuthError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
            ("client_id", client.client_id.as_str()),
        ];
        self.token_request(endpoints, client, &form, None).await
    }

    /// Renews the access token with the refresh token. A provider that does
    /// not rotate refresh tokens keeps the old one.
    pub async fn refresh(
        &self,
        endpoints: &OAuthEndpoints,
        client: &OAuthClient,
        refresh_token: &str,
    ) -> Result<OAuthGrant, OAuthError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client.client_id.as_str()),
        ];
        self.token_request(endpoints, client, &form, Some(refresh_token))
            .await
    }

    async fn token_request(
        &self,
        endpoints: &OAuthEndpoints,
        client: &OAuthClient,
        form: &[(&str, &str)],
        previous_refresh_token: Option<&str>,
    ) -> Result<OAuthGrant, OAuthError> {
        // The client secret goes only where the operator (or the connector
        // itself) put the token endpoint, never to a host a customer typed.
        let origin = origin_of(&endpoints.token_url).unwrap_or_default();
        let allowed = if client.token_origins.is_empty() {
            endpoints.token_origin_fixed
        } else {
            client.token_origins.contains(&origin)
        };
        if !allowed {
            return Err(OAuthError::Config(format!(
                "the token endpoint `{origin}` is not among the origins registered with the OAuth client"
            )));
        }
        let response = self
            .http
            .post(&endpoints.token_url)
            .basic_auth(&client.client_id, Some(&client.client_secret))
            .header("accept", "application/json")
            .form(form)
            .send()
            .await
            // reqwest's error text names the URL, never the form.
            .map_err(|e| OAuthError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        let body = read_capped(response).await?;
        if status.is_server_error() {
            return Err(OAuthError::Unavailable(format!(
                "the token endpoint answered {status}"
            )));
        }
        if !status.is_success() {
            // `error` is a code from RFC 6749 §5.2; the description is the
            // provider's text, not ours: keep only the code.
            let code = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(short_code))
                .unwrap_or_else(|| "no error code".into());
            return Err(OAuthError::Rejected(format!(
                "the token endpoint answered {status} ({code})"
            )));
        }
        let token: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
            OAuthError::Rejected("the token endpoint's answer is not a token response".into())
        })?;
        if token.access_token.is_empty() || token.access_token.len() > 16 * 1024 {
            return Err(OAuthError::Rejected(
                "the token endpoint returned an unusable access token".into(),
            ));
        }
        Ok(OAuthGrant {
            access_token: token.access_token,
            refresh_token: token
                .refresh_token
                .or_else(|| previous_refresh_token.map(str::to_string)),
            // The provider's number is clamped: at most a year.
            expires_at: token
                .expires_in
                .map(|s| now_ms().saturating_add(s.clamp(0, 365 * 86_400) * 1000)),
        })
    }
}

/// Keeps an error code printable and short: it is provider text.
fn short_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, OAuthError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| OAuthError::Unavailable(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_TOKEN_RESPONSE_BYTES {
            return Err(OAuthError::Rejected(
                "the token endpoint's answer is too large".into(),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Replaces `{setting}` placeholders in a connector's OAuth URLs with the
/// connection's settings and checks the results: http(s) URLs, and a token
/// endpoint whose host the connection's allowlist admits (the host calls
/// it on the connection's behalf).
pub fn endpoints(
    config: &Oauth2,
    settings: &BTreeMap<String, String>,
    allowlist: &Allowlist,
) -> Result<OAuthEndpoints, OAuthError> {
    let authorize_url = fill(&config.authorize_url, settings)?;
    let token_url = fill(&config.token_url, settings)?;
    for url in [&authorize_url, &token_url] {
        if switchyard_runtime::authority_of_url(url).is_none() {
            return Err(OAuthError::Config(format!(
                "`{url}` is not an http or https URL"
            )));
        }
    }
    let (host, port) = switchyard_runtime::authority_of_url(&token_url).expect("checked above");
    if !allowlist.allows(&host, port) {
        return Err(OAuthError::Config(format!(
            "the token endpoint's host `{host}:{port}` is not among the connector's allowed hosts"
        )));
    }
    Ok(OAuthEndpoints {
        authorize_url,
        token_url,
        scopes: config.scopes.clone(),
        token_origin_fixed: !token_origin_from_settings(config),
    })
}

fn fill(template: &str, settings: &BTreeMap<String, String>) -> Result<String, OAuthError> {
    let mut out = String::new();
    let mut rest = template;
    // Each round consumes at least one `{`: bounded by the template length.
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| OAuthError::Config(format!("`{template}` has an unclosed `{{`")))?;
        let name = &after[..close];
        let value = settings.get(name).ok_or_else(|| {
            OAuthError::Config(format!("`{template}` refers to unknown setting `{name}`"))
        })?;
        out.push_str(value.trim_end_matches('/'));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_the_token_host_checked() {
        let settings: BTreeMap<String, String> =
            [("issuer-url".to_string(), "http://127.0.0.1:9/".to_string())].into();
        let config = Oauth2 {
            authorize_url: "{issuer-url}/authorize".into(),
            token_url: "{issuer-url}/token".into(),
            scopes: vec!["read".into()],
        };
        let allowlist = Allowlist::resolve(&["{issuer-url}".to_string()], |n| {
            settings.get(n).map(String::as_str)
        })
        .unwrap();
        let found = endpoints(&config, &settings, &allowlist).unwrap();
        assert_eq!(found.authorize_url, "http://127.0.0.1:9/authorize");
        assert_eq!(found.token_url, "http://127.0.0.1:9/token");

        let elsewhere = Allowlist::resolve(&["example.com".to_string()], |_| None).unwrap();
        assert!(matches!(
            endpoints(&config, &settings, &elsewhere),
            Err(OAuthError::Config(_))
        ));
        let unknown = Oauth2 {
            token_url: "{nope}/token".into(),
            ..config
        };
        assert!(endpoints(&unknown, &settings, &allowlist).is_err());
    }

    #[test]
    fn pkce_challenge_is_the_s256_of_the_verifier() {
        let (verifier, challenge) = pkce_pair();
        assert!(verifier.len() >= 43);
        assert_eq!(
            challenge,
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
        );
        assert_ne!(pkce_pair().0, verifier);
    }
}
