//! The connection lifecycle: status actions, the status timeline, the event
//! log, connect sessions, the one-time code exchange and OAuth clients.

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody, oauth_error};
use crate::extract::{Json, Path, Query};
use crate::pagination::{self, format_time};
use crate::routes::connections::{ConnectionOut, ConnectionPath};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchyard_control::connect::NewConnectSession;
use switchyard_control::oauth::OAuthClient;
use switchyard_control::status;
use switchyard_runtime::types::AuthMethod;
use switchyard_store::EventQuery;
use switchyard_store::model::{ConnectionStatus, Event, Scope, TimelineEntry};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Most timeline entries one request reads.
const TIMELINE_SCAN_LIMIT: usize = 100_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(timeline))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(disable))
        .routes(routes!(enable))
        .routes(routes!(list_events))
        .routes(routes!(create_connect_session))
        .routes(routes!(exchange_code))
        .routes(routes!(set_oauth_client))
}

/// One status change.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntryOut {
    /// Increasing across the host.
    pub seq: u64,
    /// When it happened.
    pub at: String,
    /// The status before; null for the first entry.
    pub from: Option<String>,
    /// The status after.
    pub to: String,
    /// Why.
    pub reason: String,
}

impl From<TimelineEntry> for TimelineEntryOut {
    fn from(e: TimelineEntry) -> Self {
        TimelineEntryOut {
            seq: e.seq,
            at: format_time(e.at),
            from: e.from.map(|s| status::name(s).to_string()),
            to: status::name(e.to).to_string(),
            reason: e.reason,
        }
    }
}

/// A connection's status timeline, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePage {
    /// The entries.
    pub data: Vec<TimelineEntryOut>,
    /// Pass as `cursor` for the next entries; null at the end.
    pub next_cursor: Option<String>,
}

/// Paging parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,19}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u32>,
}

fn decode_seq(cursor: Option<&str>) -> Result<u64, ApiError> {
    cursor
        .map(pagination::parse_number_cursor)
        .transpose()
        .map(Option::unwrap_or_default)
}

/// A connection's status timeline.
///
/// Every status change with its time and reason, oldest first (see
/// `docs/connections.md` for the status machine).
#[utoipa::path(
    get,
    path = "/v1/connections/{connection_id}/timeline",
    tag = "connections",
    params(ConnectionPath, PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Status changes", body = TimelinePage,
         example = json!({"data": [
            {"seq": 3, "at": "2026-11-28T09:00:00.000Z", "from": null, "to": "active", "reason": "created and authenticated"},
            {"seq": 9, "at": "2026-11-28T10:15:02.113Z", "from": "active", "to": "requires_reauth", "reason": "the source no longer accepts the credentials: the source rejected the credentials: HTTP 401"}
         ], "next_cursor": null})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token cannot read this connection", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
    )
)]
pub async fn timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectionPath>,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<TimelinePage>, ApiError> {
    let limit = pagination::limit(params.limit)?;
    let after = decode_seq(params.cursor.as_deref())?;
    principal.require_connection(&path.connection_id, Scope::Read)?;
    state.connections.get(&path.connection_id)?;
    let mut entries: Vec<TimelineEntry> = state
        .connections
        .timeline(&path.connection_id, TIMELINE_SCAN_LIMIT)?
        .into_iter()
        .filter(|e| e.seq > after)
        .take(limit + 1)
        .collect();
    let next_cursor =
        (entries.len() > limit).then(|| pagination::number_cursor(entries[limit - 1].seq));
    entries.truncate(limit);
    Ok(axum::Json(TimelinePage {
        data: entries.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// Why an operator changes a status.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "maintenance window at the customer"}))]
pub struct StatusAction {
    /// Kept on the timeline.
    pub reason: Option<String>,
}

async fn act(
    state: &AppState,
    principal: &Principal,
    connection_id: &str,
    expected_from: Option<ConnectionStatus>,
    to: ConnectionStatus,
    body: StatusAction,
    default_reason: &str,
) -> Result<axum::Json<ConnectionOut>, ApiError> {
    principal.require_admin()?;
    let connection = state.connections.get(connection_id)?;
    if let Some(expected) = expected_from
        && connection.status != expected
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_status_transition",
            format!(
                "The connection is {}, not {}.",
                status::name(connection.status),
                status::name(expected)
            ),
        ));
    }
    let reason = body
        .reason
        .map(|r| {
            format!(
                "{default_reason}: {}",
                r.chars().take(200).collect::<String>()
            )
        })
        .unwrap_or_else(|| default_reason.to_string());
    let connection = state.connections.transition(connection_id, to, &reason)?;
    if to == ConnectionStatus::Active {
        // Resume at once rather than at the next interval; from the cursors.
        if let Err(e) = state
            .scheduler
            .trigger(connection_id, None, Default::default())
            .await
        {
            tracing::warn!(connection = connection_id, "sync not started: {e}");
        }
    }
    Ok(axum::Json(connection.into()))
}

/// Pause a connection (admin): no syncs until it is resumed.
#[utoipa::path(
    post,
    path = "/v1/connections/{connection_id}/pause",
    tag = "connections",
    params(ConnectionPath),
    request_body(content = StatusAction, description = "An optional reason"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Paused", body = ConnectionOut),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 409, description = "Not allowed from the current status", body = ErrorBody,
         example = json!({"error": {"code": "invalid_status_transition", "message": "a connection cannot go from disabled to paused. See docs/connections.md for the allowed transitions.", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": null}})),
    )
)]
pub async fn pause(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectionPath>,
    Json(body): Json<StatusAction>,
) -> Result<axum::Json<ConnectionOut>, ApiError> {
    let to = ConnectionStatus::Paused;
    act(
        &state,
        &principal,
        &path.connection_id,
        None,
        to,
        body,
        "paused by an operator",
    )
    .await
}

/// Resume a paused connection (admin); its syncs continue from their cursors.
#[utoipa::path(
    post,
    path = "/v1/connections/{connection_id}/resume",
    tag = "connections",
    params(ConnectionPath),
    request_body(content = StatusAction, description = "An optional reason"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Active again", body = ConnectionOut),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 409, description = "The connection is not paused", body = ErrorBody),
    )
)]
pub async fn resume(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectionPath>,
    Json(body): Json<StatusAction>,
) -> Result<axum::Json<ConnectionOut>, ApiError> {
    let (from, to) = (ConnectionStatus::Paused, ConnectionStatus::Active);
    act(
        &state,
        &principal,
        &path.connection_id,
        Some(from),
        to,
        body,
        "resumed by an operator",
    )
    .await
}

/// Disable a connection (admin): no syncs; its records stay readable.
#[utoipa::path(
    post,
    path = "/v1/connections/{connection_id}/disable",
    tag = "connections",
    params(ConnectionPath),
    request_body(content = StatusAction, description = "An optional reason"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Disabled", body = ConnectionOut),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 409, description = "Already disabled", body = ErrorBody),
    )
)]
pub async fn disable(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectionPath>,
    Json(body): Json<StatusAction>,
) -> Result<axum::Json<ConnectionOut>, ApiError> {
    let to = ConnectionStatus::Disabled;
    act(
        &state,
        &principal,
        &path.connection_id,
        None,
        to,
        body,
        "disabled by an operator",
    )
    .await
}

/// Enable a disabled connection (admin).
#[utoipa::path(
    post,
    path = "/v1/connections/{connection_id}/enable",
    tag = "connections",
    params(ConnectionPath),
    request_body(content = StatusAction, description = "An optional reason"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Active again", body = ConnectionOut),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 409, description = "The connection is not disabled", body = ErrorBody),
    )
)]
pub async fn enable(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectionPath>,
    Json(body): Json<StatusAction>,
) -> Result<axum::Json<ConnectionOut>, ApiError> {
    let (from, to) = (ConnectionStatus::Disabled, ConnectionStatus::Active);
    act(
        &state,
        &principal,
        &path.connection_id,
        Some(from),
        to,
        body,
        "enabled by an operator",
    )
    .await
}

/// An event of the host's event log.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    /// `evt_…`: stable, for deduplication.
    pub id: String,
    /// Increasing across the host.
    pub seq: u64,
    /// Dotted type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The connection it concerns.
    pub connection_id: Option<String>,
    /// When it happened.
    pub occurred_at: String,
    /// Type-specific details.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<Event> for EventOut {
    fn from(e: Event) -> Self {
        EventOut {
            id: e.id,
            seq: e.seq,
            event_type: e.event_type,
            connection_id: e.connection_id,
            occurred_at: format_time(e.occurred_at),
            data: e.data,
        }
    }
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// Events in sequence order.
    pub data: Vec<EventOut>,
    /// Keep it and poll with it: the next page starts after it.
    pub next_cursor: String,
    /// Whether more events follow right now.
    pub has_more: bool,
}

/// Event listing parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// `next_cursor` of the previous page; absent to start at the beginning.
    #[param(pattern = "^[0-9]{1,19}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u32>,
    /// Only events of this connection (connection tokens see only their own).
    pub connection_id: Option<String>,
    /// Only events of this type, such as `connection.reauthorization_required`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
}

/// List events.
///
/// The host's one event log, in order: connection lifecycle
/// (`connection.created`, `connection.status_changed`,
/// `connection.reauthorization_required`, `connection.reconnected`),
/// connection health (`connection.health_degraded`, `connection.recovered`)
/// and sync runs (`sync.completed`, `sync.failed`). Webhooks deliver the
/// same events (`docs/webhooks.md`). Keep `next_cursor` and poll with it. An admin token sees every event; a
/// connection token the events of its connection.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "connections",
    params(EventParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Events", body = EventPage,
         example = json!({"data": [{"id": "evt_000000000009", "seq": 9, "type": "connection.reauthorization_required", "connection_id": "conn_3f9a1c2b7d4e5f6a7b8c", "occurred_at": "2026-11-28T10:15:02.113Z", "data": {"connector_id": "demo-cmms", "reason": "the source no longer accepts the credentials: the source rejected the credentials: HTTP 401"}}], "next_cursor": "ZXZlbnRzOjk", "has_more": false})),
        (status = 400, description = "Invalid parameter or cursor", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "A connection token asked for another connection", body = ErrorBody),
    )
)]
pub async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<EventParams>,
) -> Result<axum::Json<EventPage>, ApiError> {
    let limit = pagination::limit(params.limit)?;
    let after = decode_seq(params.cursor.as_deref())?;
    let connection_id = if principal.is_admin() {
        params.connection_id
    } else {
        let own = principal.token.connection_id.clone();
        if let Some(asked) = &params.connection_id {
            principal.require_connection(asked, Scope::Read)?;
        }
        principal.require_connection(own.as_deref().unwrap_or_default(), Scope::Read)?;
        own
    };
    let store = state.store.clone();
    let query = EventQuery {
        after,
        limit,
        connection_id,
        types: params.event_type.into_iter().collect(),
    };
    let page = tokio::task::spawn_blocking(move || {
        store.list_events(&query, switchyard_control::events::SCAN_LIMIT)
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(axum::Json(EventPage {
        data: page.events.into_iter().map(Into::into).collect(),
        next_cursor: pagination::number_cursor(page.next_after),
        has_more: page.has_more,
    }))
}

/// A new connect session.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "connector_id": "demo-cmms",
    "redirect_url": "https://app.example.com/switchyard/callback",
    "token_ttl_secs": null
}))]
pub struct CreateConnectSession {
    /// The connector to connect.
    pub connector_id: String,
    /// An existing connection to reconnect (same id, cursors and records;
    /// a new token, the old ones revoked). A new connection when absent.
    pub connection_id: Option<String>,
    /// Where the customer's browser goes after success, with `?code=…` to
    /// exchange at `POST /v1/connect/exchange`. Without it the token is shown
    /// once on the page.
    pub redirect_url: Option<String>,
    /// Lifetime of the issued token in seconds (1 to 10 years); unlimited
    /// when absent.
    pub token_ttl_secs: Option<u64>,
    /// Initial sync lookback of a new connection: 1 to 365 days (default 30).
    #[schema(minimum = 1, maximum = 365)]
    pub lookback_days: Option<u32>,
}

/// A connect session: send the customer to `connect_url`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "connect_url": "https://switchyard.example.com/connect/demo-cmms?session=cs_Zm9vYmFyYmF6cXV4cXV1eHh5enp5MTIzNDU2Nzg5MGFi",
    "connection_id": "conn_3f9a1c2b7d4e5f6a7b8c",
    "reconnect": false,
    "expires_at": "2026-11-28T09:30:00.000Z"
}))]
pub struct ConnectSessionOut {
    /// The single-use link to the connect page. It is a secret: give it only
    /// to the customer.
    pub connect_url: String,
    /// The connection it authenticates (`pending` until the customer
    /// finishes, for a new connection).
    pub connection_id: String,
    /// Whether it reconnects an existing connection.
    pub reconnect: bool,
    /// When the link stops working.
    pub expires_at: String,
}

/// Start a connect session (admin).
///
/// Returns a short-lived, single-use link to the hosted connect page for the
/// customer. With `connection_id` it reconnects that connection.
#[utoipa::path(
    post,
    path = "/v1/connect-sessions",
    tag = "connections",
    request_body = CreateConnectSession,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = ConnectSessionOut),
        (status = 400, description = "Invalid redirect URL or connector mismatch", body = ErrorBody,
         example = json!({"error": {"code": "invalid_field", "message": "redirect_url must be an http or https URL", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": null}})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such connector or connection", body = ErrorBody),
    )
)]
pub async fn create_connect_session(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateConnectSession>,
) -> Result<(StatusCode, axum::Json<ConnectSessionOut>), ApiError> {
    principal.require_admin()?;
    if body
        .token_ttl_secs
        .is_some_and(|s| !(1..=10 * 365 * 86_400).contains(&s))
    {
        return Err(ApiError::invalid_parameter(
            "token_ttl_secs",
            "`token_ttl_secs` must be between 1 second and 10 years.",
        ));
    }
    if let Some(days) = body.lookback_days
        && !switchyard_control::connections::LOOKBACK_DAYS.contains(&days)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "`lookback_days` must be between 1 and 365 days.",
        )
        .with_details(serde_json::json!({ "field": "lookback_days" })));
    }
    let (secret, session) = state
        .connect
        .create(NewConnectSession {
            connector_id: body.connector_id,
            connection_id: body.connection_id,
            redirect_url: body.redirect_url,
            token_ttl_secs: body.token_ttl_secs,
            lookback_days: body.lookback_days,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ConnectSessionOut {
            connect_url: format!(
                "{}/connect/{}?session={secret}",
                state.public_url, session.connector_id
            ),
            connection_id: session.connection_id,
            reconnect: session.reconnect,
            expires_at: format_time(session.expires_at),
        }),
    ))
}

/// A one-time code from the connect flow's redirect.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "cc_bXlfb25lX3RpbWVfY29kZV9leGFtcGxlXzEyMzQ1Njc4"}))]
pub struct ExchangeRequest {
    /// The `code` query parameter the redirect URL received.
    pub code: String,
}

/// The token a connect flow issued.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"connection_id": "conn_3f9a1c2b7d4e5f6a7b8c", "token": "sy_conn_Zm9vYmFyYmF6cXV4cXV1eHh5enp5MTIzNDU2Nzg5MGFi"}))]
pub struct ExchangedToken {
    /// The connection.
    pub connection_id: String,
    /// Its API token. Stored only as a hash: keep it now.
    pub token: String,
}

/// Exchange a one-time code for the API token (admin).
///
/// The application's backend calls this with the `code` its redirect URL
/// received. Each code works once, within five minutes.
#[utoipa::path(
    post,
    path = "/v1/connect/exchange",
    tag = "connections",
    request_body = ExchangeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token", body = ExchangedToken),
        (status = 400, description = "Unknown, used or expired code", body = ErrorBody,
         example = json!({"error": {"code": "connect_code_invalid", "message": "The code is not valid: it was already exchanged, it expired, or it was copied incompletely.", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": null}})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
    )
)]
pub async fn exchange_code(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<ExchangeRequest>,
) -> Result<axum::Json<ExchangedToken>, ApiError> {
    principal.require_admin()?;
    let (connection_id, token) = state.connect.exchange(&body.code)?;
    Ok(axum::Json(ExchangedToken {
        connection_id,
        token,
    }))
}

/// Path of a connector.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConnectorPath {
    /// The connector.
    #[param(example = "oauth-demo")]
    pub connector_id: String,
}

/// The host's OAuth 2.0 client at the connector's provider.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"client_id": "switchyard", "client_secret": "s3cret-from-the-provider", "token_origins": ["https://login.example.com"]}))]
pub struct OAuthClientIn {
    /// The client id registered at the provider.
    #[schema(min_length = 1, max_length = 1024)]
    pub client_id: String,
    /// The client secret; sealed at rest, never returned.
    #[schema(min_length = 1, max_length = 1024)]
    pub client_secret: String,
    /// Origins (`https://host[:port]`) where the provider's token endpoint
    /// is; the client secret is sent nowhere else. Required when the
    /// connector takes the token URL's host from a connection setting.
    #[serde(default)]
    #[schema(max_items = 20, example = json!(["https://login.example.com"]))]
    pub token_origins: Vec<String>,
}

/// Register the OAuth 2.0 client of a connector (admin).
///
/// Connectors that authenticate with OAuth 2.0 need the host's client id and
/// secret at their provider. The redirect URI to register there is
/// `{public URL}/connect/oauth/callback`.
#[utoipa::path(
    put,
    path = "/v1/connectors/{connector_id}/oauth-client",
    tag = "connections",
    params(ConnectorPath),
    request_body = OAuthClientIn,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Registered"),
        (status = 400, description = "The body is invalid", body = ErrorBody),
        (status = 409, description = "The connector does not use OAuth 2.0 (oauth_not_used)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such connector", body = ErrorBody),
    )
)]
pub async fn set_oauth_client(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectorPath>,
    Json(body): Json<OAuthClientIn>,
) -> Result<StatusCode, ApiError> {
    principal.require_admin()?;
    let component = state.registry.resolve(&path.connector_id, None).await?;
    let AuthMethod::Oauth2(config) = &component.info().auth else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "oauth_not_used",
            format!(
                "Connector `{}` does not authenticate with OAuth 2.0.",
                path.connector_id
            ),
        ));
    };
    for (name, value) in [
        ("client_id", &body.client_id),
        ("client_secret", &body.client_secret),
    ] {
        if value.is_empty() || value.len() > 1024 {
            return Err(ApiError::invalid_parameter(
                name,
                format!("`{name}` must be 1 to 1024 characters."),
            ));
        }
    }
    if body.token_origins.len() > 20 {
        return Err(ApiError::invalid_parameter(
            "token_origins",
            "At most 20 token origins.",
        ));
    }
    let mut token_origins = Vec::new();
    for origin in &body.token_origins {
        let Some(normalized) = switchyard_control::oauth::origin_of(origin) else {
            return Err(ApiError::invalid_parameter(
                "token_origins",
                format!(
                    "`{origin}` is not an http or https origin such as `https://login.example.com`."
                ),
            ));
        };
        token_origins.push(normalized);
    }
    if token_origins.is_empty() && switchyard_control::oauth::token_origin_from_settings(config) {
        return Err(ApiError::invalid_parameter(
            "token_origins",
            "This connector takes its token endpoint's host from a connection setting: name the origins where it may be, so the client secret goes nowhere else.",
        ));
    }
    state
        .connections
        .oauth()
        .set_client(
            &path.connector_id,
            &OAuthClient {
                client_id: body.client_id,
                client_secret: body.client_secret,
                token_origins,
            },
        )
        .map_err(oauth_error)?;
    Ok(StatusCode::NO_CONTENT)
}
