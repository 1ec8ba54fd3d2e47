//! Connections, their runs, and sync triggers.

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::pagination::{self, format_time};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use switchyard_control::NewConnection;
use switchyard_store::model::{Connection, ConnectionStatus, Run, Scope, now_ms};
use switchyard_sync::RunOptions;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_connection, list_connections))
        .routes(routes!(get_connection, update_connection))
        .routes(routes!(list_models))
        .routes(routes!(connection_health))
        .routes(routes!(list_runs))
        .routes(routes!(trigger_sync))
}

/// A connection, without its secrets.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "conn_3f9a1c2b7d4e5f6a7b8c", "connector_id": "demo-cmms", "status": "active",
    "settings": {"base-url": "https://cmms.example.com"}, "lookback_days": 30,
    "pinned_version": null, "created_at": "2026-11-28T09:00:00.000Z", "updated_at": "2026-11-28T09:00:00.000Z"
}))]
pub struct ConnectionOut {
    /// The connection's id.
    pub id: String,
    /// The connector it uses.
    pub connector_id: String,
    /// Its status.
    #[schema(value_type = String, example = "active")]
    pub status: ConnectionStatus,
    /// Its non-secret settings.
    pub settings: BTreeMap<String, String>,
    /// How far back initial syncs reach, in days.
    pub lookback_days: u32,
    /// The connector version it is pinned to, if any.
    pub pinned_version: Option<String>,
    /// Seconds between syncs, by model (`*`: every model); absent models use
    /// the host's default (15 minutes).
    pub sync_interval_secs: BTreeMap<String, u64>,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

impl From<Connection> for ConnectionOut {
    fn from(c: Connection) -> Self {
        ConnectionOut {
            id: c.id,
            connector_id: c.connector_id,
            status: c.status,
            settings: c.settings,
            lookback_days: c.lookback_days,
            pinned_version: c.pinned_version,
            sync_interval_secs: c.sync_interval_secs,
            created_at: format_time(c.created_at),
            updated_at: format_time(c.updated_at),
        }
    }
}

/// A new connection.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "connector_id": "demo-cmms",
    "settings": {"base-url": "https://cmms.example.com"},
    "credentials": {"username": "integration", "password": "s3cret"},
    "lookback_days": 30
}))]
pub struct CreateConnection {
    /// The connector to use.
    pub connector_id: String,
    /// Values of the connector's settings.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// Values of the connector's credential fields.
    #[serde(default)]
    pub credentials: BTreeMap<String, String>,
    /// How far back the initial sync reaches: 1 to 365 days (default 30).
    #[schema(minimum = 1, maximum = 365)]
    pub lookback_days: Option<u32>,
    /// Lifetime of the issued token in seconds (1 to 10 years); unlimited
    /// when absent.
    pub token_ttl_secs: Option<u64>,
}

/// A created connection and its API token, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"connection": {"id": "conn_3f9a1c2b7d4e5f6a7b8c", "connector_id": "demo-cmms", "status": "active", "settings": {"base-url": "https://cmms.example.com"}, "lookback_days": 30, "pinned_version": null, "sync_interval_secs": {}, "created_at": "2026-11-28T09:00:00.000Z", "updated_at": "2026-11-28T09:00:00.000Z"}, "token": "sy_conn_Zm9vYmFyYmF6cXV4cXV1eHh5enp5MTIzNDU2Nzg5MGFi"}))]
pub struct CreatedConnection {
    /// The connection.
    pub connection: ConnectionOut,
    /// The connection's API token. It is stored only as a hash: keep it now.
    #[schema(example = "sy_conn_Zm9vYmFyYmF6cXV4cXV1eHh5enp5MTIzNDU2Nzg5MGFi")]
    pub token: String,
}

/// Connections.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [{"id": "conn_3f9a1c2b7d4e5f6a7b8c", "connector_id": "demo-cmms", "status": "active", "settings": {"base-url": "https://cmms.example.com"}, "lookback_days": 30, "pinned_version": null, "sync_interval_secs": {}, "created_at": "2026-11-28T09:00:00.000Z", "updated_at": "2026-11-28T09:00:00.000Z"}]}))]
pub struct ConnectionList {
    /// Every connection visible to the token.
    pub data: Vec<ConnectionOut>,
}

/// A sync run.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 17, "connection_id": "conn_3f9a1c2b7d4e5f6a7b8c", "model": "work-orders", "kind": "incremental",
    "status": "succeeded", "started_at": "2026-11-28T09:15:00.000Z", "finished_at": "2026-11-28T09:15:02.311Z",
    "duration_ms": 2311, "pages": 3, "records_upserted": 1204, "records_deleted": 2, "records_quarantined": 0,
    "connector_version": "1.0.0", "connector_hash": "9c1e…", "retries": [], "error": null
}))]
pub struct RunOut {
    /// Run id.
    pub id: u64,
    /// The connection synced.
    pub connection_id: String,
    /// The model synced.
    pub model: String,
    /// `initial`, `incremental` or `full_resync`.
    #[schema(value_type = String)]
    pub kind: switchyard_store::model::RunKind,
    /// `running`, `succeeded`, `failed` or `interrupted`.
    #[schema(value_type = String)]
    pub status: switchyard_store::model::RunStatus,
    /// When it started.
    pub started_at: String,
    /// When it ended.
    pub finished_at: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: Option<i64>,
    /// Pages committed.
    pub pages: u64,
    /// Records written.
    pub records_upserted: u64,
    /// Tombstones written.
    pub records_deleted: u64,
    /// Records rejected by validation.
    pub records_quarantined: u64,
    /// Connector version used.
    pub connector_version: String,
    /// Content hash of that version.
    pub connector_hash: String,
    /// Retries made, with their errors and waits.
    #[schema(value_type = Vec<Object>)]
    pub retries: Vec<switchyard_store::model::RetryRecord>,
    /// Why it failed.
    #[schema(value_type = Option<Object>)]
    pub error: Option<switchyard_store::model::ErrorRecord>,
}

impl From<Run> for RunOut {
    fn from(run: Run) -> Self {
        RunOut {
            duration_ms: run.finished_at.map(|f| f - run.started_at),
            id: run.id,
            connection_id: run.connection_id,
            model: run.model,
            kind: run.kind,
            status: run.status,
            started_at: format_time(run.started_at),
            finished_at: run.finished_at.map(format_time),
            pages: run.pages,
            records_upserted: run.records_upserted,
            records_deleted: run.records_deleted,
            records_quarantined: run.records_quarantined,
            connector_version: run.connector_version,
            connector_hash: run.connector_hash,
            retries: run.retries,
            error: run.error,
        }
    }
}

/// Runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [{"id": 17, "connection_id": "conn_3f9a1c2b7d4e5f6a7b8c", "model": "work-orders", "kind": "incremental", "status": "succeeded", "started_at": "2026-11-28T09:15:00.000Z", "finished_at": "2026-11-28T09:15:02.311Z", "duration_ms": 2311, "pages": 3, "records_upserted": 1204, "records_deleted": 2, "records_quarantined": 0, "connector_version": "1.0.0", "connector_hash": "9c1e…", "retries": [], "error": null}], "next_cursor": "cnVuczoxNw"}))]
pub struct RunPage {
    /// The runs.
    pub data: Vec<RunOut>,
    /// Pass as `cursor` for older runs; null at the end.
    pub next_cursor: Option<String>,
}

/// Changes to how a connection syncs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"lookback_days": 90, "sync_interval_secs": {"*": 900, "work-orders": 60}}))]
pub struct UpdateConnection {
    /// How far back the next initial sync reaches: 1 to 365 days.
    #[schema(minimum = 1, maximum = 365)]
    pub lookback_days: Option<u32>,
    /// Seconds between syncs by model (`*` for every model), 1 s to 30 days.
    /// Replaces the whole map.
    pub sync_interval_secs: Option<BTreeMap<String, u64>>,
}

/// Where a model's sync stands.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"name": "work-orders", "description": "Work orders", "initial_sync_complete": true, "cursor": "{\"since\":\"2026-10-29T09:00:00.000Z\",\"page_token\":\"MTc5NTg…\"}", "changes": 1204, "last_run_id": 17, "last_success_at": "2026-11-28T09:15:02.311Z", "running": false}))]
pub struct ModelState {
    /// The model.
    pub name: String,
    /// What it holds at this source.
    pub description: String,
    /// Whether an initial sync has completed; until then runs are initial.
    pub initial_sync_complete: bool,
    /// The connector's cursor after the last committed page (opaque).
    pub cursor: Option<String>,
    /// Changes stored so far (the feed's last sequence number).
    pub changes: u64,
    /// The run that committed last.
    pub last_run_id: Option<u64>,
    /// When a run last succeeded.
    pub last_success_at: Option<String>,
    /// Whether a run is in progress.
    pub running: bool,
}

/// A connection's models.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [{"name": "work-orders", "description": "Work orders", "initial_sync_complete": true, "cursor": "{\"since\":\"2026-10-29T09:00:00.000Z\",\"page_token\":\"MTc5NTg0\"}", "changes": 1204, "last_run_id": 17, "last_success_at": "2026-11-28T09:15:02.311Z", "running": false}]}))]
pub struct ModelList {
    /// The models.
    pub data: Vec<ModelState>,
}

/// Path of a connection.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConnectionPath {
    /// The connection.
    #[param(example = "conn_3f9a1c2b7d4e5f6a7b8c")]
    pub connection_id: String,
}

/// Run listing parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunParams {
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,19}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u32>,
}

/// What to sync.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"model": "work-orders", "full_resync": false}))]
pub struct SyncRequest {
    /// One model; all models when absent.
    pub model: Option<String>,
    /// Forget the cursor and sync the lookback window again.
    #[serde(default)]
    pub full_resync: bool,
}

/// Syncs started.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncStarted {
    /// The models whose sync started.
    pub models: Vec<String>,
}

/// Create a connection (admin).
///
/// Checks the settings and credentials against the connector's fields,
/// authenticates at the source, and returns the connection with its API
/// token. The token is shown only here.
#[utoipa::path(
    post,
    path = "/v1/connections",
    tag = "connections",
    request_body = CreateConnection,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = CreatedConnection),
        (status = 400, description = "A field is missing or invalid", body = ErrorBody,
         example = json!({"error": {"code": "invalid_field", "message": "`base-url` is required.", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": {"field": "base-url"}}})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such connector", body = ErrorBody),
        (status = 422, description = "The source rejected the credentials", body = ErrorBody),
    )
)]
pub async fn create_connection(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateConnection>,
) -> Result<(StatusCode, axum::Json<CreatedConnection>), ApiError> {
    principal.require_admin()?;
    let token_expires_at = match body.token_ttl_secs {
        None => None,
        Some(secs @ 1..=315_360_000) => Some(now_ms() + secs as i64 * 1000),
        Some(_) => {
            return Err(ApiError::invalid_parameter(
                "token_ttl_secs",
                "`token_ttl_secs` must be between 1 second and 10 years.",
            ));
        }
    };
    let (connection, token) = state
        .connections
        .create(NewConnection {
            connector_id: body.connector_id,
            settings: body.settings,
            credentials: body.credentials,
            lookback_days: body.lookback_days,
            request_id: Some(crate::request_id::current()),
            token_expires_at,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedConnection {
            connection: connection.into(),
            token: token.secret,
        }),
    ))
}

/// List connections.
///
/// An admin token sees every connection; a connection token sees its own.
#[utoipa::path(
    get,
    path = "/v1/connections",
    tag = "connections",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Connections", body = ConnectionList),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    )
)]
pub async fn list_connections(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<ConnectionList>, ApiError> {
    let data = state
        .connections
        .list()?
        .into_iter()
        .filter(|c| principal.require_connection(&c.id, Scope::Read).is_ok())
        .map(Into::into)
        .collect();
    Ok(axum::Json(ConnectionList { data }))
}

/// Get a connection.
#[utoipa::path(
    get,
    path = "/v1/connections/{connection_id}",
    tag = "connections",
    params(ConnectionPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The connection", body = ConnectionOut),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token cannot read this connection", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
    )
)]
pub async fn get_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectionPath>,
) -> Result<axum::Json<ConnectionOut>, ApiError> {
    principal.require_connection(&path.connection_id, Scope::Read)?;
    Ok(axum::Json(
        state.connections.get(&path.connection_id)?.into(),
    ))
}

/// List a connection's sync runs, newest first.
#[utoipa::path(
    get,
    path = "/v1/connections/{connection_id}/runs",
    tag = "connections",
    params(ConnectionPath, RunParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Runs", body = RunPage),
        (status = 400, description = "Invalid parameter or cursor", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token cannot read this connection", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
    )
)]
pub async fn list_runs(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectionPath>,
    Query(params): Query<RunParams>,
) -> Result<axum::Json<RunPage>, ApiError> {
    let limit = pagination::limit(params.limit)?;
    let before = params
        .cursor
        .as_deref()
        .map(pagination::parse_number_cursor)
        .transpose()?;
    principal.require_connection(&path.connection_id, Scope::Read)?;
    state.connections.get(&path.connection_id)?;
    let runs = state
        .store
        .list_runs(&path.connection_id, before, limit + 1)?;
    let next_cursor = (runs.len() > limit).then(|| pagination::number_cursor(runs[limit - 1].id));
    Ok(axum::Json(RunPage {
        data: runs.into_iter().take(limit).map(Into::into).collect(),
        next_cursor,
    }))
}

/// Start a sync now.
///
/// Starts the sync of one model (or all) in the background and returns at
/// once; follow it in the runs. A model whose sync is already running is
/// left alone.
#[utoipa::path(
    post,
    path = "/v1/connections/{connection_id}/sync",
    tag = "connections",
    params(ConnectionPath),
    request_body(content = SyncRequest, description = "What to sync; an empty object syncs every model"),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Started", body = SyncStarted,
         example = json!({"models": ["work-orders"]})),
        (status = 401, description = "Missing or invalid token, or the connection needs reauthorization", body = ErrorBody,
         example = json!({"error": {"code": "connection_requires_reauthorization", "message": "The source system no longer accepts this connection's credentials. The customer must reconnect it through the connect flow.", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": null}})),
        (status = 403, description = "The token lacks the write scope or belongs to another connection", body = ErrorBody),
        (status = 404, description = "No such connection or model", body = ErrorBody),
        (status = 409, description = "The connection cannot sync in its status", body = ErrorBody),
    )
)]
pub async fn trigger_sync(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectionPath>,
    Json(body): Json<SyncRequest>,
) -> Result<(StatusCode, axum::Json<SyncStarted>), ApiError> {
    principal.require_connection(&path.connection_id, Scope::Write)?;
    let models = state
        .scheduler
        .trigger(
            &path.connection_id,
            body.model.as_deref(),
            RunOptions {
                full_resync: body.full_resync,
            },
        )
        .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(SyncStarted { models })))
}

/// Change how a connection syncs (admin).
#[utoipa::path(
    patch,
    path = "/v1/connections/{connection_id}",
    tag = "connections",
    params(ConnectionPath),
    request_body = UpdateConnection,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated connection", body = ConnectionOut),
        (status = 400, description = "A value is out of range", body = ErrorBody,
         example = json!({"error": {"code": "invalid_field", "message": "`lookback_days` must be between 1 and 365 days.", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": {"field": "lookback_days"}}})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
    )
)]
pub async fn update_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectionPath>,
    Json(body): Json<UpdateConnection>,
) -> Result<axum::Json<ConnectionOut>, ApiError> {
    principal.require_admin()?;
    let connection = state.connections.update_sync_settings(
        &path.connection_id,
        body.lookback_days,
        body.sync_interval_secs,
    )?;
    Ok(axum::Json(connection.into()))
}

/// List a connection's models and where their syncs stand.
#[utoipa::path(
    get,
    path = "/v1/connections/{connection_id}/models",
    tag = "connections",
    params(ConnectionPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Models", body = ModelList),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token cannot read this connection", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
    )
)]
pub async fn list_models(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectionPath>,
) -> Result<axum::Json<ModelList>, ApiError> {
    principal.require_connection(&path.connection_id, Scope::Read)?;
    let connection = state.connections.get(&path.connection_id)?;
    let component = state
        .registry
        .resolve(
            &connection.connector_id,
            connection.pinned_version.as_deref(),
        )
        .await?;
    let mut data = Vec::new();
    for model in &component.info().models {
        let sync = state
            .store
            .sync_state(&connection.id, &model.name)?
            .unwrap_or_default();
        data.push(ModelState {
            name: model.name.clone(),
            description: model.description.clone(),
            initial_sync_complete: sync.initial_complete,
            cursor: sync.cursor,
            changes: sync.next_seq.saturating_sub(1),
            last_run_id: sync.last_run_id,
            last_success_at: sync.last_success_at.map(format_time),
            running: state
                .scheduler
                .engine()
                .is_running(&connection.id, &model.name),
        });
    }
    Ok(axum::Json(ModelList { data }))
}

/// Failed runs in a window.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorRateOut {
    /// Runs that ended in the window.
    pub runs: u64,
    /// Of those, the failed ones.
    pub failed: u64,
    /// `failed / runs` (0 without runs).
    pub rate: f64,
}

impl From<switchyard_control::health::ErrorRate> for ErrorRateOut {
    fn from(r: switchyard_control::health::ErrorRate) -> Self {
        ErrorRateOut {
            runs: r.runs,
            failed: r.failed,
            rate: r.rate,
        }
    }
}

/// How one model of a connection is doing.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelHealthOut {
    /// The model.
    pub model: String,
    /// Status of its latest finished run.
    pub last_run_status: Option<String>,
    /// When a run of it last succeeded.
    pub last_success_at: Option<String>,
    /// Failed runs since its last success.
    pub consecutive_failures: u32,
    /// Error code of its latest failure, if its latest run failed.
    pub last_error_code: Option<String>,
}

/// A status change of the connection.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusChangeOut {
    /// When it happened.
    pub at: String,
    /// The status before.
    pub from: Option<String>,
    /// The status after.
    pub to: String,
    /// Why.
    pub reason: String,
}

/// A connection's health.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "connection_id": "conn_3f9a1c2b7d4e5f6a7b8c", "status": "degraded",
    "last_successful_sync_at": "2026-11-28T09:15:02.311Z", "consecutive_failures": 3,
    "error_rates": {"1h": {"runs": 12, "failed": 3, "rate": 0.25}, "24h": {"runs": 280, "failed": 5, "rate": 0.0179}, "7d": {"runs": 2010, "failed": 9, "rate": 0.0045}},
    "errors_24h": {"source_unavailable": 5},
    "models": [{"model": "work-orders", "last_run_status": "failed", "last_success_at": "2026-11-28T09:15:02.311Z", "consecutive_failures": 3, "last_error_code": "source_unavailable"}],
    "timeline": [{"at": "2026-11-28T09:45:00.000Z", "from": "active", "to": "degraded", "reason": "3 failed runs in a row of work-orders (last error: source_unavailable)"}]
}))]
pub struct HealthOut {
    /// The connection.
    pub connection_id: String,
    /// Its status now.
    #[schema(value_type = String)]
    pub status: ConnectionStatus,
    /// When any of its runs last succeeded.
    pub last_successful_sync_at: Option<String>,
    /// The most failed runs in a row of one model.
    pub consecutive_failures: u32,
    /// Failed runs over the last hour, day and week (`1h`, `24h`, `7d`).
    pub error_rates: BTreeMap<String, ErrorRateOut>,
    /// Failed runs of the last 24 hours by error code.
    pub errors_24h: BTreeMap<String, u64>,
    /// By model.
    pub models: Vec<ModelHealthOut>,
    /// The latest status changes, oldest first.
    pub timeline: Vec<StatusChangeOut>,
}

/// Get a connection's health.
///
/// Computed from its sync runs: failed runs in a row, error rates over the
/// last hour, day and week, the last successful sync, errors by code, and
/// the latest status changes. Crossing the host's thresholds makes an active
/// connection `degraded` with a `connection.health_degraded` event; healthy
/// runs bring it back with `connection.recovered`.
#[utoipa::path(
    get,
    path = "/v1/connections/{connection_id}/health",
    tag = "connections",
    params(ConnectionPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Health", body = HealthOut),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token cannot read this connection", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
    )
)]
pub async fn connection_health(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectionPath>,
) -> Result<axum::Json<HealthOut>, ApiError> {
    principal.require_connection(&path.connection_id, Scope::Read)?;
    let connection = state.connections.get(&path.connection_id)?;
    let store = state.store.clone();
    let id = connection.id.clone();
    let (health, timeline) = tokio::task::spawn_blocking(move || {
        let health = switchyard_control::health::Health::of(&store, &id)?;
        let timeline = store.list_timeline(&id, 10_000)?;
        Ok::<_, switchyard_store::StoreError>((health, timeline))
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    let recent = timeline.len().saturating_sub(20);
    Ok(axum::Json(HealthOut {
        connection_id: connection.id,
        status: connection.status,
        last_successful_sync_at: health.last_success_at.map(format_time),
        consecutive_failures: health.consecutive_failures,
        error_rates: BTreeMap::from([
            ("1h".to_string(), health.error_rate_1h.into()),
            ("24h".to_string(), health.error_rate_24h.into()),
            ("7d".to_string(), health.error_rate_7d.into()),
        ]),
        errors_24h: health.errors_24h,
        models: health
            .models
            .into_iter()
            .map(|(model, m)| ModelHealthOut {
                model,
                last_run_status: m.last_run_status.map(|s| s.as_str().to_string()),
                last_success_at: m.last_success_at.map(format_time),
                consecutive_failures: m.consecutive_failures,
                last_error_code: m.last_error_code,
            })
            .collect(),
        timeline: timeline
            .into_iter()
            .skip(recent)
            .map(|t| StatusChangeOut {
                at: format_time(t.at),
                from: t
                    .from
                    .map(|s| switchyard_control::status::name(s).to_string()),
                to: switchyard_control::status::name(t.to).to_string(),
                reason: t.reason,
            })
            .collect(),
    }))
}
