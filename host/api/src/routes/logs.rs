//! Querying the request log.

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;
use crate::pagination::{self, format_time};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use switchyard_store::model::{LogDirection, RequestLogEntry, Scope};
use switchyard_store::{LogFilter, LogPosition};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_request_logs))
}

/// One logged HTTP exchange: an API request, or a request a connector made
/// to its source.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "at": "2026-11-28T09:15:00.120Z", "direction": "outbound", "request_id": null,
    "connection_id": "conn_3f9a1c2b7d4e5f6a7b8c", "run_id": 17, "method": "GET",
    "url": "https://cmms.example.com/api/v1/work-orders?updated_since=2026-10-29T09%3A15%3A00.000Z&limit=500",
    "status": 200, "error": null, "duration_ms": 84,
    "request_headers": [["authorization", "[redacted]"]],
    "response_headers": [["content-type", "application/json"]],
    "request_body": "", "response_body": "{\"data\":[{\"id\":\"WO-0000001\",…"
}))]
pub struct LogEntryOut {
    /// When the request started.
    pub at: String,
    /// `inbound` (to the API) or `outbound` (from a connector).
    #[schema(value_type = String)]
    pub direction: LogDirection,
    /// The API request it belongs to.
    pub request_id: Option<String>,
    /// The connection it concerns.
    pub connection_id: Option<String>,
    /// The sync run that made it.
    pub run_id: Option<u64>,
    /// HTTP method.
    pub method: String,
    /// Path and query, or full URL; secret parameters redacted.
    pub url: String,
    /// Response status; null when none came.
    pub status: Option<u16>,
    /// Error code of a failed request.
    pub error: Option<String>,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// Request headers; secrets redacted.
    #[schema(value_type = Vec<Vec<String>>)]
    pub request_headers: Vec<(String, String)>,
    /// Response headers; secrets redacted.
    #[schema(value_type = Vec<Vec<String>>)]
    pub response_headers: Vec<(String, String)>,
    /// Start of the request body; secrets redacted.
    pub request_body: String,
    /// Start of the response body; secrets redacted.
    pub response_body: String,
}

impl From<RequestLogEntry> for LogEntryOut {
    fn from(e: RequestLogEntry) -> Self {
        LogEntryOut {
            at: format_time(e.at),
            direction: e.direction,
            request_id: e.request_id,
            connection_id: e.connection_id,
            run_id: e.run_id,
            method: e.method,
            url: e.url,
            status: e.status,
            error: e.error,
            duration_ms: e.duration_ms,
            request_headers: e.request_headers,
            response_headers: e.response_headers,
            request_body: e.request_body,
            response_body: e.response_body,
        }
    }
}

/// A page of request log entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [{"at": "2026-11-28T09:15:00.120Z", "direction": "inbound", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "connection_id": "conn_3f9a1c2b7d4e5f6a7b8c", "run_id": null, "method": "GET", "url": "/v1/connections/conn_3f9a1c2b7d4e5f6a7b8c/models/work-orders/records?limit=2", "status": 200, "error": null, "duration_ms": 3, "request_headers": [["authorization", "[redacted]"]], "response_headers": [["content-type", "application/json"]], "request_body": "", "response_body": "{\"data\":[…]}"}], "next_cursor": "bG9nczoxNzk1ODc0MDAwMTIwLjQy"}))]
pub struct LogPage {
    /// The entries.
    pub data: Vec<LogEntryOut>,
    /// Pass as `cursor` for older entries; null at the end.
    pub next_cursor: Option<String>,
}

/// Request log filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// Only this request (its API call and the outbound calls it caused).
    #[param(example = "req_5f2b8c1e9a7d4c3b2a1f0e9d")]
    pub request_id: Option<String>,
    /// Only this connection. Required for connection tokens (their own).
    pub connection_id: Option<String>,
    /// Only this sync run.
    pub run_id: Option<u64>,
    /// `1xx`…`5xx`, or `none` for requests that got no response.
    #[param(example = "4xx", pattern = "^([1-5]xx|none)$")]
    pub status: Option<String>,
    /// `inbound` or `outbound`.
    #[param(pattern = "^(inbound|outbound)$")]
    pub direction: Option<String>,
    /// From this RFC 3339 time.
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Until this RFC 3339 time.
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}-[0-9]{1,19}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u32>,
}

/// Search the request log.
///
/// Every API request and every request a connector made to its source is
/// logged with method, URL, status, duration, headers and the start of the
/// bodies — secrets redacted — and kept for the retention period. Newest
/// first. A filtered page may hold fewer entries than `limit` while
/// `next_cursor` is set: keep following it.
#[utoipa::path(
    get,
    path = "/v1/request-logs",
    tag = "debugging",
    params(LogParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Entries", body = LogPage),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token cannot read these entries", body = ErrorBody),
    )
)]
pub async fn list_request_logs(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<LogParams>,
) -> Result<Json<LogPage>, ApiError> {
    let limit = pagination::limit(params.limit)?;
    if !principal.is_admin() {
        let Some(connection) = &params.connection_id else {
            return Err(ApiError::forbidden(
                "A connection token can only read its own connection's log: pass its connection_id.",
            ));
        };
        principal.require_connection(connection, Scope::Read)?;
    }
    let status_class = match params.status.as_deref() {
        None => None,
        Some("none") => Some(0),
        Some(class) => match class.as_bytes() {
            [d @ b'1'..=b'5', b'x', b'x'] => Some(u16::from(d - b'0')),
            _ => {
                return Err(ApiError::invalid_parameter(
                    "status",
                    "`status` must be 1xx, 2xx, 3xx, 4xx, 5xx or none.",
                ));
            }
        },
    };
    let direction = match params.direction.as_deref() {
        None => None,
        Some("inbound") => Some(LogDirection::Inbound),
        Some("outbound") => Some(LogDirection::Outbound),
        Some(_) => {
            return Err(ApiError::invalid_parameter(
                "direction",
                "`direction` must be inbound or outbound.",
            ));
        }
    };
    let time = |name: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(|v| pagination::parse_time(name, v))
            .transpose()
    };
    // Run ids are int64 in the document: a larger number names no run.
    if params.run_id.is_some_and(|id| id > i64::MAX as u64) {
        return Err(ApiError::invalid_parameter(
            "run_id",
            "`run_id` must be at most 9223372036854775807.",
        ));
    }
    let filter = LogFilter {
        request_id: params.request_id,
        connection_id: params.connection_id,
        run_id: params.run_id,
        status_class,
        direction,
        since: time("since", &params.since)?,
        until: time("until", &params.until)?,
    };
    let before = params
        .cursor
        .as_deref()
        .map(|c| {
            let (at, seq) = pagination::parse_pair_cursor(c)?;
            Ok::<_, ApiError>(LogPosition { at, seq })
        })
        .transpose()?;
    let log = state.request_log.clone();
    let (entries, next) = tokio::task::spawn_blocking(move || log.query(&filter, before, limit))
        .await
        .map_err(|e| ApiError::internal(&e))??;
    Ok(Json(LogPage {
        data: entries.into_iter().map(Into::into).collect(),
        next_cursor: next.map(|p| pagination::pair_cursor(p.at, p.seq)),
    }))
}
