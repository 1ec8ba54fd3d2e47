//! The hosted connect page: a server-rendered form built from the
//! connector's described fields, the OAuth 2.0 redirect and callback, and the
//! hand-over of the API token (shown once, or as a one-time code on the
//! application's redirect URL).
//!
//! No JavaScript, no external CSS: the page works in a locked-down browser
//! and under a strict Content-Security-Policy. Every value is HTML-escaped;
//! secret fields are never echoed back. A form post must carry the session
//! secret of its link (which a cross-site page cannot know), and a browser
//! that says the post is cross-site (`Sec-Fetch-Site`) is refused.

use crate::AppState;
use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use switchyard_control::connect::{ConnectSession, MAX_FAILED_ATTEMPTS};
use switchyard_control::connections::{check_fields, credential_fields, resolve_allowlist};
use switchyard_control::{Authenticated, ConnectError, ConnectionError};
use switchyard_runtime::CallError;
use switchyard_runtime::types::{AuthMethod, ConnectorError, ConnectorInfo, Field, FieldKind};
use switchyard_store::model::now_ms;

/// Most form fields read from one post.
const MAX_FORM_FIELDS: usize = 200;
/// Where the OAuth 2.0 provider sends the customer back.
pub const OAUTH_CALLBACK_PATH: &str = "/connect/oauth/callback";
/// The cookie that ties an OAuth callback to the browser that started it.
const OAUTH_BROWSER_COOKIE: &str = "sy_oauth_browser";

/// The connect page's routes (not part of the JSON API or its OpenAPI).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(OAUTH_CALLBACK_PATH, get(oauth_callback))
        .route("/connect/{connector}", get(show).post(submit))
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1d2430}\
h1{font-size:1.4rem}label{display:block;font-weight:600;margin-top:1rem}\
input,select{width:100%;padding:.5rem;margin-top:.25rem;box-sizing:border-box;font-size:1rem}\
.help{color:#5a6472;font-size:.9rem;margin:.2rem 0 0}\
.error{background:#fdecea;border:1px solid #f5c2c0;padding:.75rem;border-radius:4px}\
.ok{background:#e8f5e9;border:1px solid #b7dfb9;padding:.75rem;border-radius:4px}\
code{display:block;word-break:break-all;background:#f3f4f6;padding:.75rem;font-size:1rem}\
button{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem}";

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(headers);
    response
}

/// Headers every connect response carries: it may show a token, and it
/// carries a secret link.
fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
}

fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(
        status,
        title,
        &format!(
            "<h1>{}</h1><p class=\"error\" id=\"error\">{}</p>",
            escape(title),
            escape(message)
        ),
    )
}

fn internal(cause: &dyn std::fmt::Display) -> Response {
    tracing::error!(request_id = %crate::request_id::current(), "connect page: {cause}");
    message_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        &format!(
            "Something went wrong on our side. Try again later; if it persists, contact support with the request ID {}.",
            crate::request_id::current()
        ),
    )
}

fn connect_error(e: ConnectError) -> Response {
    match e {
        ConnectError::Invalid(message) => {
            message_page(StatusCode::BAD_REQUEST, "This link cannot be used", message)
        }
        ConnectError::Rejected(message) => message_page(
            StatusCode::BAD_REQUEST,
            "This request cannot be used",
            &message,
        ),
        other => internal(&other),
    }
}

#[derive(Deserialize)]
struct ShowParams {
    session: Option<String>,
}

/// What the form shows: values of non-secret fields, and an error.
#[derive(Default)]
struct FormState {
    values: BTreeMap<String, String>,
    error: Option<String>,
}

fn input_for(out: &mut String, prefix: &str, field: &Field, value: Option<&str>) {
    let name = format!("{prefix}:{}", field.name);
    let id = format!("{prefix}-{}", field.name);
    let required = if field.required { " required" } else { "" };
    let value = value.or(field.default_value.as_deref()).unwrap_or_default();
    let _ = write!(
        out,
        "<label for=\"{}\">{}{}</label>",
        escape(&id),
        escape(&field.label),
        if field.required { "" } else { " (optional)" }
    );
    match &field.kind {
        FieldKind::Boolean | FieldKind::Choice(_) => {
            let choices: Vec<String> = match &field.kind {
                FieldKind::Choice(choices) => choices.clone(),
                _ => vec!["true".into(), "false".into()],
            };
            let _ = write!(
                out,
                "<select id=\"{}\" name=\"{}\"{required}>",
                escape(&id),
                escape(&name)
            );
            for choice in choices {
                let selected = if choice == value { " selected" } else { "" };
                let _ = write!(
                    out,
                    "<option value=\"{0}\"{selected}>{0}</option>",
                    escape(&choice)
                );
            }
            out.push_str("</select>");
        }
        kind => {
            let (input_type, extra) = match kind {
                // Secrets are masked and never echoed back.
                FieldKind::Secret => ("password", " autocomplete=\"new-password\""),
                FieldKind::Url => ("url", ""),
                FieldKind::Number => ("text", " inputmode=\"decimal\""),
                _ => ("text", ""),
            };
            let value = if matches!(kind, FieldKind::Secret) {
                ""
            } else {
                value
            };
            let _ = write!(
                out,
                "<input id=\"{}\" name=\"{}\" type=\"{input_type}\" value=\"{}\"{extra}{required}>",
                escape(&id),
                escape(&name),
                escape(value)
            );
        }
    }
    if let Some(help) = &field.description {
        let _ = write!(out, "<p class=\"help\">{}</p>", escape(help));
    }
}

fn render_form(
    info: &ConnectorInfo,
    secret: &str,
    session: &ConnectSession,
    state: &FormState,
) -> Response {
    let mut body = String::new();
    let verb = if session.reconnect {
        "Reconnect"
    } else {
        "Connect"
    };
    let _ = write!(
        body,
        "<h1>{verb} {}</h1><p>{}</p>",
        escape(&info.name),
        escape(&info.description)
    );
    if session.reconnect {
        body.push_str("<p>The system no longer accepts the stored credentials. Enter the current ones to resume syncing; nothing synced so far is lost.</p>");
    }
    if let Some(error) = &state.error {
        let _ = write!(
            body,
            "<p class=\"error\" id=\"error\" role=\"alert\">{}</p>",
            escape(error)
        );
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/connect/{}\" id=\"connect-form\"><input type=\"hidden\" name=\"session\" value=\"{}\">",
        escape(&info.id),
        escape(secret)
    );
    for field in &info.settings {
        input_for(
            &mut body,
            "setting",
            field,
            state.values.get(&field.name).map(String::as_str),
        );
    }
    for field in credential_fields(&info.auth) {
        input_for(&mut body, "credential", field, None);
    }
    let button = match &info.auth {
        AuthMethod::Oauth2(_) => "Continue to sign in",
        _ => verb,
    };
    let _ = write!(
        body,
        "<button type=\"submit\" id=\"submit\">{button}</button></form>"
    );
    page(StatusCode::OK, &format!("{verb} {}", info.name), &body)
}

async fn show(
    State(state): State<AppState>,
    axum::extract::Path(connector): axum::extract::Path<String>,
    Query(params): Query<ShowParams>,
) -> Response {
    let Some(secret) = params.session else {
        return message_page(
            StatusCode::BAD_REQUEST,
            "This link cannot be used",
            "This page needs a connect link. Ask the application you are connecting for one.",
        );
    };
    let (_, session) = match open_for(&state, &secret, &connector) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let info = match connector_info(&state, &session.connector_id).await {
        Ok(info) => info,
        Err(response) => return *response,
    };
    let mut form = FormState::default();
    if session.reconnect
        && let Ok(connection) = state.connections.get(&session.connection_id)
    {
        // Settings are not secret: show the current ones for a reconnect.
        form.values = connection.settings;
    }
    render_form(&info, &secret, &session, &form)
}

fn open_for(
    state: &AppState,
    secret: &str,
    connector: &str,
) -> Result<(String, ConnectSession), Box<Response>> {
    let (key, session) = state
        .connect
        .open(secret)
        .map_err(|e| Box::new(connect_error(e)))?;
    if session.connector_id != connector {
        return Err(Box::new(message_page(
            StatusCode::BAD_REQUEST,
            "This link cannot be used",
            "This connect link belongs to another connector.",
        )));
    }
    Ok((key, session))
}

async fn connector_info(
    state: &AppState,
    connector_id: &str,
) -> Result<ConnectorInfo, Box<Response>> {
    match state.registry.resolve(connector_id, None).await {
        Ok(component) => Ok(component.info().clone()),
        Err(e) => Err(Box::new(message_page(
            StatusCode::NOT_FOUND,
            "This connector is not available",
            &format!("The connector is not available: {e}."),
        ))),
    }
}

/// Whether the browser says the post came from another site.
fn cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site == "cross-site")
}

async fn submit(
    State(state): State<AppState>,
    axum::extract::Path(connector): axum::extract::Path<String>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if cross_site(&headers) || fields.len() > MAX_FORM_FIELDS {
        return message_page(
            StatusCode::FORBIDDEN,
            "This request cannot be used",
            "The form was sent from another site. Open the connect link again and submit it from there.",
        );
    }
    let mut secret = None;
    let mut settings = BTreeMap::new();
    let mut credentials = BTreeMap::new();
    for (name, value) in fields {
        if name == "session" {
            secret = Some(value);
        } else if let Some(field) = name.strip_prefix("setting:") {
            settings.insert(field.to_string(), value);
        } else if let Some(field) = name.strip_prefix("credential:") {
            credentials.insert(field.to_string(), value);
        }
    }
    let Some(secret) = secret else {
        return connect_error(ConnectError::Invalid(
            "The form did not carry its connect link. Open the link again.",
        ));
    };
    let (key, _) = match open_for(&state, &secret, &connector) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let Some(_submission) = state.connect.begin_submission(&key) else {
        return connect_error(ConnectError::Invalid(
            "This connect link is being submitted in another window. Wait for that page, or ask for a new link.",
        ));
    };
    // Read again under the claim: what a submission that just ended did
    // (used the link, counted a failure) is seen.
    let (key, mut session) = match open_for(&state, &secret, &connector) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let info = match connector_info(&state, &session.connector_id).await {
        Ok(info) => info,
        Err(response) => return *response,
    };
    if let AuthMethod::Oauth2(oauth) = &info.auth {
        return start_oauth(&state, &info, oauth, &secret, &key, &mut session, settings);
    }
    let token_expires_at = token_expiry(&session);
    let secrets_entered: Vec<String> = credentials.values().cloned().collect();
    let result = state
        .connections
        .authenticate(
            &session.connection_id,
            settings.clone(),
            credentials,
            token_expires_at,
        )
        .await;
    match result {
        Ok(done) => finish(&state, &key, &session, done).await,
        Err(e) => {
            let message = match plain_error(&info, &e, &secrets_entered) {
                Some(message) => message,
                None => return internal(&e),
            };
            retry_form(
                &state,
                &info,
                &secret,
                &key,
                &mut session,
                settings,
                message,
            )
        }
    }
}

fn retry_form(
    state: &AppState,
    info: &ConnectorInfo,
    secret: &str,
    key: &str,
    session: &mut ConnectSession,
    values: BTreeMap<String, String>,
    message: String,
) -> Response {
    match state.connect.record_failure(key, session) {
        Ok(true) => render_form(
            info,
            secret,
            session,
            &FormState {
                values,
                error: Some(message),
            },
        ),
        Ok(false) => message_page(
            StatusCode::BAD_REQUEST,
            "This link cannot be used",
            &format!(
                "{message} This link was used for {MAX_FAILED_ATTEMPTS} failed attempts and no longer works. Ask for a new link."
            ),
        ),
        Err(e) => internal(&e),
    }
}

fn token_expiry(session: &ConnectSession) -> Option<i64> {
    session
        .token_ttl_secs
        .map(|s| now_ms().saturating_add(i64::try_from(s).unwrap_or(i64::MAX / 2000) * 1000))
}

/// Why authentication failed, in words for the customer; `None` for
/// failures on our side (logged, shown as a generic error). Connector text
/// appears only for configuration errors, with the entered secrets
/// redacted.
fn plain_error(info: &ConnectorInfo, e: &ConnectionError, secrets: &[String]) -> Option<String> {
    let system = &info.name;
    Some(match e {
        ConnectionError::InvalidField { field, reason } => {
            let label = info
                .settings
                .iter()
                .chain(credential_fields(&info.auth))
                .find(|f| &f.name == field)
                .map_or(field.as_str(), |f| f.label.as_str());
            format!("{label} {reason}.")
        }
        ConnectionError::Authentication(error) => match error {
            CallError::Connector(ConnectorError::Unauthorized(_)) => {
                let labels: Vec<String> = credential_fields(&info.auth)
                    .iter()
                    .map(|f| f.label.to_lowercase())
                    .collect();
                if labels.is_empty() {
                    format!("The {system} rejected the authorization. Try again.")
                } else {
                    format!(
                        "The {system} rejected the {}. Check them and try again.",
                        labels.join(" or ")
                    )
                }
            }
            CallError::Connector(ConnectorError::Forbidden(_)) => format!(
                "The {system} recognised the account, but it lacks permission to read data. Ask the system's administrator to grant access."
            ),
            CallError::Connector(ConnectorError::RateLimited(_)) => {
                format!("The {system} is busy right now. Wait a minute and try again.")
            }
            CallError::Connector(ConnectorError::InvalidConfig(message)) => {
                let redacted = switchyard_runtime::redact::Secrets::new(secrets.iter().cloned())
                    .redact(message);
                format!(
                    "The settings are not valid: {}.",
                    redacted.chars().take(200).collect::<String>()
                )
            }
            CallError::HostNotAllowed { host } => format!(
                "The address {host} is not one this connector may contact. Check the address settings."
            ),
            CallError::Connector(ConnectorError::Transient(_)) | CallError::Timeout { .. } => {
                format!(
                    "The {system} could not be reached. Check the address and that the system is running, then try again."
                )
            }
            other => format!(
                "The connector failed while checking the connection ({}). Try again later or contact support.",
                other.code()
            ),
        },
        ConnectionError::InvalidTransition { .. } | ConnectionError::WrongConnector { .. } => {
            format!("This connection cannot be connected now: {e}.")
        }
        ConnectionError::OAuth(error) => {
            format!("The authorization could not be completed: {error}.")
        }
        ConnectionError::NotFound(_) => {
            "The connection no longer exists. Ask for a new link.".into()
        }
        ConnectionError::Registry(error) => format!("The connector is not available: {error}."),
        ConnectionError::Vault(_) | ConnectionError::Store(_) => return None,
    })
}

/// Hands the token over: a one-time code on the redirect URL, or the token
/// on the page. Then starts the connection's syncs (from its cursors, for a
/// reconnect).
async fn finish(
    state: &AppState,
    key: &str,
    session: &ConnectSession,
    done: Authenticated,
) -> Response {
    let connection_id = done.connection.id.clone();
    // The answer that carries the new token is made first: if that fails,
    // the link still works and the customer can submit it again (which
    // issues another token), rather than being left with the old tokens
    // revoked and no new one.
    let response = answer_with_token(state, session, &done);
    if response.status().is_server_error() {
        return response;
    }
    if let Err(e) = state.connect.finish(key) {
        return internal(&e);
    }
    if let Err(e) = state
        .scheduler
        .trigger(&connection_id, None, Default::default())
        .await
    {
        tracing::warn!(connection = %connection_id, "sync not started after connecting: {e}");
    }
    tracing::info!(
        connection = %connection_id,
        reconnected = done.reconnected,
        revoked_tokens = done.revoked_tokens,
        "connect flow completed"
    );
    response
}

/// The end of a successful connect flow: a redirect with a one-time code,
/// or the page showing the token once.
fn answer_with_token(state: &AppState, session: &ConnectSession, done: &Authenticated) -> Response {
    let connection_id = &done.connection.id;
    if let Some(redirect) = &session.redirect_url {
        let code = match state.connect.issue_code(connection_id, &done.token.secret) {
            Ok(code) => code,
            Err(e) => return internal(&e),
        };
        let Ok(mut url) = url::Url::parse(redirect) else {
            return internal(&"a stored redirect URL does not parse");
        };
        url.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("connection_id", connection_id);
        let mut response = StatusCode::SEE_OTHER.into_response();
        secure_headers(response.headers_mut());
        match HeaderValue::from_str(url.as_str()) {
            Ok(location) => {
                response.headers_mut().insert(header::LOCATION, location);
                response
            }
            Err(_) => internal(&"a redirect URL is not a valid header"),
        }
    } else {
        let verb = if done.reconnected {
            "Reconnected"
        } else {
            "Connected"
        };
        let revoked = if done.reconnected {
            "<p>The previous API tokens of this connection no longer work.</p>"
        } else {
            ""
        };
        let body = format!(
            "<h1>{verb}</h1><p class=\"ok\">The connection <strong id=\"connection-id\">{}</strong> is active and syncing.</p>\
             <p>This is its API token. It is shown only this once: copy it now into the application that reads the data.</p>\
             <code id=\"token\">{}</code>{revoked}",
            escape(connection_id),
            escape(&done.token.secret)
        );
        page(StatusCode::OK, verb, &body)
    }
}

fn start_oauth(
    state: &AppState,
    info: &ConnectorInfo,
    oauth: &switchyard_runtime::types::Oauth2,
    secret: &str,
    key: &str,
    session: &mut ConnectSession,
    settings: BTreeMap<String, String>,
) -> Response {
    let checked = match check_fields(&info.settings, settings.clone()) {
        Ok(checked) => checked,
        Err(e) => {
            let message = plain_error(info, &e, &[]).unwrap_or_default();
            return retry_form(state, info, secret, key, session, settings, message);
        }
    };
    let allowlist = match resolve_allowlist(info, &checked) {
        Ok(allowlist) => allowlist,
        Err(e) => {
            let message = plain_error(info, &e, &[]).unwrap_or_default();
            return retry_form(state, info, secret, key, session, settings, message);
        }
    };
    let oauth_api = state.connections.oauth();
    let prepared = switchyard_control::oauth::endpoints(oauth, &checked, &allowlist)
        .and_then(|endpoints| Ok((endpoints, oauth_api.client(&info.id)?)));
    let (endpoints, client) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            let message = format!("The authorization cannot start: {e}.");
            return retry_form(state, info, secret, key, session, settings, message);
        }
    };
    let redirect_uri = format!("{}{OAUTH_CALLBACK_PATH}", state.public_url);
    let (oauth_state, challenge, browser_nonce) =
        match state
            .connect
            .begin_oauth(key, session, checked, &redirect_uri)
        {
            Ok(started) => started,
            Err(e) => return internal(&e),
        };
    // Lax: sent on the provider's top-level redirect back, not on requests
    // other sites make.
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{OAUTH_BROWSER_COOKIE}={browser_nonce}; Path={OAUTH_CALLBACK_PATH}; Max-Age=1800; HttpOnly; SameSite=Lax{secure}"
    );
    match oauth_api.authorize_url(&endpoints, &client, &redirect_uri, &oauth_state, &challenge) {
        Ok(url) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            secure_headers(response.headers_mut());
            match HeaderValue::from_str(&url) {
                Ok(location) => {
                    response.headers_mut().insert(header::LOCATION, location);
                    match HeaderValue::from_str(&cookie) {
                        Ok(cookie) => {
                            response.headers_mut().insert(header::SET_COOKIE, cookie);
                            response
                        }
                        Err(_) => internal(&"a cookie is not a valid header"),
                    }
                }
                Err(_) => internal(&"an authorize URL is not a valid header"),
            }
        }
        Err(e) => internal(&e),
    }
}

#[derive(Deserialize)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn oauth_callback(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Response {
    let browser_nonce = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == OAUTH_BROWSER_COOKIE)
        .map(|(_, value)| value.to_string());
    let Some(oauth_state) = params.state else {
        return connect_error(ConnectError::Invalid(
            "The provider sent the browser back without the authorization's state. Start again from the connect link.",
        ));
    };
    let (key, session, verifier) = match state
        .connect
        .take_oauth(&oauth_state, browser_nonce.as_deref())
    {
        Ok(found) => found,
        Err(e) => return connect_error(e),
    };
    let info = match connector_info(&state, &session.connector_id).await {
        Ok(info) => info,
        Err(response) => return *response,
    };
    let Some(pending) = session.oauth.clone() else {
        return internal(&"an OAuth session lost its pending state");
    };
    let (code, AuthMethod::Oauth2(oauth)) = (params.code, &info.auth) else {
        return internal(&"an OAuth callback for a connector without OAuth");
    };
    let Some(code) = code.filter(|_| params.error.is_none()) else {
        let reason = params
            .error
            .map(|e| {
                e.chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .take(64)
                    .collect::<String>()
            })
            .unwrap_or_else(|| "no code".into());
        return message_page(
            StatusCode::BAD_REQUEST,
            "The authorization was not granted",
            &format!(
                "The provider did not grant access ({reason}). Open the connect link again to retry."
            ),
        );
    };
    let secrets = [code.clone()];
    let result = async {
        let allowlist = resolve_allowlist(&info, &pending.settings)?;
        let endpoints = switchyard_control::oauth::endpoints(oauth, &pending.settings, &allowlist)?;
        let oauth_api = state.connections.oauth();
        let client = oauth_api.client(&info.id)?;
        let grant = oauth_api
            .exchange_code(&endpoints, &client, &code, &pending.redirect_uri, &verifier)
            .await?;
        state
            .connections
            .authenticate_oauth(
                &session.connection_id,
                pending.settings.clone(),
                grant,
                token_expiry(&session),
            )
            .await
    }
    .await;
    match result {
        Ok(done) => finish(&state, &key, &session, done).await,
        Err(e) => match plain_error(&info, &e, &secrets) {
            Some(message) => message_page(
                StatusCode::BAD_GATEWAY,
                "The connection could not be completed",
                &format!("{message} Open the connect link again to retry."),
            ),
            None => internal(&e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_could_open_markup() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }
}
