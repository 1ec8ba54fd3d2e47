//! Switchyard test connector for OAuth 2.0 (authorization code).
//!
//! The host runs the authorization redirect, the code exchange and the
//! refresh-token grants; this connector only receives the host-obtained
//! access token as credential `access-token` and sends it as a bearer token
//! to a resource server that checks it (a JWT signed by the provider, see
//! `tests/node/oauth-server.mjs`). It reads one model, `sites`, paged by an
//! offset cursor.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_sdk::{
    AuthMethod, CallContext, Change, ChangePage, ChangeRequest, ConnectionConfig, Connector,
    ConnectorInfo, Error, Field, ModelInfo, Oauth2, Session, http::Request, time,
};

struct OAuthDemo;

#[derive(Serialize, Deserialize)]
struct SessionState {
    token: String,
}

#[derive(Deserialize)]
struct SitesPage {
    data: Vec<serde_json::Map<String, Value>>,
    next_cursor: Option<String>,
    has_more: bool,
}

fn api_base(url: &str) -> String {
    url.trim_end_matches('/').to_string()
}

impl Connector for OAuthDemo {
    fn describe() -> ConnectorInfo {
        ConnectorInfo {
            id: "oauth-demo".into(),
            name: "OAuth Demo Sites".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Sites from a demo API protected by OAuth 2.0 access tokens.".into(),
            auth: AuthMethod::Oauth2(Oauth2 {
                authorize_url: "{issuer-url}/authorize".into(),
                token_url: "{issuer-url}/token".into(),
                scopes: vec!["openid".into(), "sites:read".into()],
            }),
            settings: vec![
                Field::url("issuer-url", "Identity provider URL")
                    .required()
                    .description("The OAuth 2.0 provider, such as https://login.example.com"),
                Field::url("api-url", "API URL")
                    .required()
                    .description("Where the sites API is reachable"),
            ],
            models: vec![ModelInfo::new("sites", "Plant sites")],
            allowed_hosts: vec!["{issuer-url}".into(), "{api-url}".into()],
        }
    }

    fn authenticate(config: ConnectionConfig) -> Result<Session, Error> {
        let token = config.require_credential("access-token")?;
        // Check the token against the API once, so a bad grant fails here.
        Request::get(format!(
            "{}/api/sites",
            api_base(config.require_setting("api-url")?)
        ))
        .query("limit", "1")
        .bearer_auth(token)
        .send()?
        .error_for_status()?;
        let data = serde_json::to_string(&SessionState {
            token: token.to_string(),
        })
        .map_err(|e| Error::permanent(e.to_string()))?;
        // The host knows when its access token expires and fills it in.
        Ok(Session {
            data,
            expires_at: None,
        })
    }

    fn list_changes(context: CallContext, request: ChangeRequest) -> Result<ChangePage, Error> {
        if request.model != "sites" {
            return Err(Error::permanent(format!(
                "unknown model `{}`",
                request.model
            )));
        }
        let session: SessionState = serde_json::from_str(&context.session.data)
            .map_err(|_| Error::unauthorized("the session is unreadable; authenticate again"))?;
        let page: SitesPage = Request::get(format!(
            "{}/api/sites",
            api_base(context.require_setting("api-url")?)
        ))
        .query("cursor", request.cursor.as_deref().unwrap_or(""))
        .query("limit", &request.page_size.clamp(1, 100).to_string())
        .bearer_auth(&session.token)
        .send()?
        .error_for_status()?
        .json()?;
        let mut changes = Vec::with_capacity(page.data.len());
        for site in &page.data {
            let id = site
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::permanent("a site has no id"))?;
            let modified = site
                .get("updated_at")
                .and_then(Value::as_str)
                .and_then(time::parse_rfc3339);
            changes.push(Change::upsert(id, modified, site)?);
        }
        Ok(ChangePage {
            changes,
            cursor: page
                .next_cursor
                .or(request.cursor)
                .unwrap_or_else(|| "0".into()),
            has_more: page.has_more,
        })
    }
}

switchyard_sdk::export_connector!(OAuthDemo);
