//! Connector versions: install, list, activate, roll back; their sandbox
//! limits; and pinning a connection to a version. All admin.

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::pagination::format_time;
use crate::routes::connections::{ConnectionOut, ConnectionPath};
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use switchyard_control::{Registry, RegistryError, VersionRecord};
use switchyard_runtime::SandboxLimits;
use switchyard_runtime::types::AuthMethod;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest component accepted by an upload. JavaScript and Python
/// components weigh 12–18 MB; Rust ones well under 1 MB.
pub const MAX_UPLOAD_BYTES: usize = 50 << 20;

pub fn router() -> OpenApiRouter<AppState> {
    let upload = OpenApiRouter::new()
        .routes(routes!(install_connector, list_connectors))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES));
    OpenApiRouter::new()
        .merge(upload)
        .routes(routes!(get_connector))
        .routes(routes!(activate_version))
        .routes(routes!(rollback_version))
        .routes(routes!(get_limits, set_limits))
        .routes(routes!(pin_connection))
}

/// One installed version of a connector.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "connector_id": "demo-cmms", "version": "1.1.0",
    "hash": "9c1e5d0b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d",
    "size_bytes": 169574, "installed_at": "2026-11-28T09:00:00.000Z", "active": true
}))]
pub struct VersionOut {
    /// The connector's id.
    pub connector_id: String,
    /// Its semantic version.
    pub version: String,
    /// SHA-256 of the component, hex: its identity.
    pub hash: String,
    /// Size of the component.
    pub size_bytes: u64,
    /// When it was installed.
    pub installed_at: String,
    /// Whether it is the active version.
    pub active: bool,
}

impl VersionOut {
    fn new(record: VersionRecord, active_hash: Option<&str>) -> Self {
        VersionOut {
            active: active_hash == Some(record.hash.as_str()),
            connector_id: record.connector_id,
            version: record.version,
            hash: record.hash,
            size_bytes: record.size_bytes,
            installed_at: format_time(record.installed_at),
        }
    }
}

/// The outcome of an upload.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "version": {"connector_id": "demo-cmms", "version": "1.1.0",
        "hash": "9c1e5d0b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d",
        "size_bytes": 169574, "installed_at": "2026-11-28T09:00:00.000Z", "active": false},
    "new": true
}))]
pub struct InstallOut {
    /// The installed version.
    pub version: VersionOut,
    /// False when these exact bytes were already installed: nothing changed.
    pub new: bool,
}

/// A connector, in a list.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "demo-cmms", "name": "Demo CMMS", "active_version": "1.1.0",
    "versions": ["1.0.0", "1.1.0"]
}))]
pub struct ConnectorSummary {
    /// The connector's id.
    pub id: String,
    /// Its name, from the active version.
    pub name: String,
    /// The active version.
    pub active_version: String,
    /// Every installed version, oldest first.
    pub versions: Vec<String>,
}

/// Installed connectors.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [{"id": "demo-cmms", "name": "Demo CMMS", "active_version": "1.1.0", "versions": ["1.0.0", "1.1.0"]}]}))]
pub struct ConnectorList {
    /// The connectors, by id.
    pub data: Vec<ConnectorSummary>,
}

/// A connector in detail.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "demo-cmms", "name": "Demo CMMS",
    "description": "Work orders, assets and locations from the Switchyard demo CMMS.",
    "auth": "credentials", "models": ["work-orders", "assets", "locations"],
    "allowed_hosts": ["{base-url}"],
    "imports": ["wasi:http/outgoing-handler@0.2.12", "switchyard:connector/log@0.1.0"],
    "active_version": "1.1.0", "activated_at": "2026-11-28T09:05:00.000Z",
    "rollback_to": "1.0.0",
    "versions": [], "limits": {"memory_bytes": 67108864, "time_budget_ms": 30000,
        "max_record_bytes": 1048576, "max_page_bytes": 33554432, "max_response_bytes": 33554432,
        "max_cursor_bytes": 65536, "max_id_bytes": 512, "max_log_lines": 1000},
    "custom_limits": false
}))]
pub struct ConnectorOut {
    /// The connector's id.
    pub id: String,
    /// Its name (active version).
    pub name: String,
    /// What it does (active version).
    pub description: String,
    /// `none`, `credentials` or `oauth2` (active version).
    pub auth: String,
    /// The models it syncs (active version).
    pub models: Vec<String>,
    /// The hosts it may call, as declared (active version).
    pub allowed_hosts: Vec<String>,
    /// The capabilities the active version imports.
    pub imports: Vec<String>,
    /// The active version.
    pub active_version: String,
    /// When the active version last changed.
    pub activated_at: String,
    /// The version a rollback would return to, if any.
    pub rollback_to: Option<String>,
    /// Every installed version, oldest first.
    pub versions: Vec<VersionOut>,
    /// The limits every call runs under.
    #[schema(value_type = Object)]
    pub limits: SandboxLimits,
    /// Whether the limits were set for this connector (else the defaults).
    pub custom_limits: bool,
}

/// Path of a connector.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConnectorPath {
    /// The connector's id.
    #[param(example = "demo-cmms")]
    pub connector_id: String,
}

/// Upload options.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InstallParams {
    /// Also make the uploaded version the active one.
    #[serde(default)]
    pub activate: bool,
}

/// The version to activate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"version": "1.1.0"}))]
pub struct ActivateRequest {
    /// An installed version of the connector.
    pub version: String,
}

/// Which version is active after a switch.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"connector_id": "demo-cmms", "active_version": "1.1.0", "hash": "9c1e5d0b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d", "rollback_to": "1.0.0"}))]
pub struct ActivationOut {
    /// The connector.
    pub connector_id: String,
    /// The version now active: new calls use it.
    pub active_version: String,
    /// Its hash.
    pub hash: String,
    /// The version a rollback would return to, if any.
    pub rollback_to: Option<String>,
}

/// A connector's limits.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"limits": {"memory_bytes": 67108864, "time_budget_ms": 30000,
    "max_record_bytes": 1048576, "max_page_bytes": 33554432, "max_response_bytes": 33554432,
    "max_cursor_bytes": 65536, "max_id_bytes": 512, "max_log_lines": 1000},
    "custom": false, "max_memory_bytes": 268435456}))]
pub struct LimitsOut {
    /// The limits every call of the connector runs under.
    #[schema(value_type = Object)]
    pub limits: SandboxLimits,
    /// Whether they were set for this connector (else the defaults).
    pub custom: bool,
    /// The largest `memory_bytes` this host accepts (its pool slot size).
    pub max_memory_bytes: usize,
}

/// The version to pin a connection to; `null` follows the active version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"version": "1.0.0"}))]
pub struct PinRequest {
    /// An installed version of the connection's connector, or null.
    pub version: Option<String>,
}

fn rollback_to(registry: &Registry, connector_id: &str) -> Result<Option<String>, ApiError> {
    let Some(activation) = registry.activation(connector_id)? else {
        return Ok(None);
    };
    let Some(previous) = activation.history.last() else {
        return Ok(None);
    };
    Ok(registry
        .versions(connector_id)?
        .into_iter()
        .find(|v| &v.hash == previous)
        .map(|v| v.version))
}

fn activation_out(registry: &Registry, record: VersionRecord) -> Result<ActivationOut, ApiError> {
    Ok(ActivationOut {
        rollback_to: rollback_to(registry, &record.connector_id)?,
        connector_id: record.connector_id,
        active_version: record.version,
        hash: record.hash,
    })
}

/// Install a connector version (admin).
///
/// The body is the component (`.wasm`). It is checked before anything is
/// stored: it must be a WebAssembly component, implement the connector
/// world with only the sandbox's imports, describe itself validly, and use
/// a version number not already taken by another build. The first version
/// of a connector becomes active; later ones only with `activate=true` or
/// through `activate`. Uploading the same bytes again changes nothing.
#[utoipa::path(
    post,
    path = "/v1/connectors",
    tag = "connectors",
    params(InstallParams),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "The connector component"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Installed", body = InstallOut),
        (status = 200, description = "These bytes were already installed", body = InstallOut),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 409, description = "The version exists with other contents", body = ErrorBody,
         example = json!({"error": {"code": "connector_version_exists", "message": "demo-cmms 1.1.0 is already installed with different contents; bump the version", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": null}})),
        (status = 413, description = "Larger than 50 MiB", body = ErrorBody),
        (status = 415, description = "Not sent as application/wasm", body = ErrorBody),
        (status = 422, description = "Not a valid connector component", body = ErrorBody,
         example = json!({"error": {"code": "component_world_mismatch", "message": "the component does not implement the connector world: component imports instance `wasi:filesystem/types@0.2.12`, but a matching implementation was not found in the linker", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": null}})),
    )
)]
pub async fn install_connector(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<InstallParams>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, axum::Json<InstallOut>), ApiError> {
    principal.require_admin()?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/wasm")
        && !essence.eq_ignore_ascii_case("application/octet-stream")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the component as the body with `Content-Type: application/wasm`.",
        ));
    }
    let wasm = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "The component is larger than the {} MiB this host accepts.",
                    MAX_UPLOAD_BYTES >> 20
                ),
            )
        } else {
            ApiError::new(
                rejection.status(),
                "invalid_body",
                format!(
                    "The request body could not be read: {}",
                    rejection.body_text()
                ),
            )
        }
    })?;
    let registry = &state.registry;
    let installed = registry.install_component(&wasm).await?;
    let record = installed.record;
    if params.activate {
        registry
            .activate(&record.connector_id, &record.version)
            .await?;
    }
    let active_hash = registry
        .activation(&record.connector_id)?
        .map(|a| a.active_hash);
    let status = if installed.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(InstallOut {
            version: VersionOut::new(record, active_hash.as_deref()),
            new: installed.new,
        }),
    ))
}

/// List connectors (admin).
#[utoipa::path(
    get,
    path = "/v1/connectors",
    tag = "connectors",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Installed connectors", body = ConnectorList),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
    )
)]
pub async fn list_connectors(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<ConnectorList>, ApiError> {
    principal.require_admin()?;
    let registry = &state.registry;
    let mut ids = registry.connector_ids()?;
    ids.sort();
    let mut data = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(active) = registry.active_version(&id)? else {
            continue;
        };
        data.push(ConnectorSummary {
            name: active.info.name.clone(),
            active_version: active.version,
            versions: registry
                .versions(&id)?
                .into_iter()
                .map(|v| v.version)
                .collect(),
            id,
        });
    }
    Ok(axum::Json(ConnectorList { data }))
}

/// Get a connector (admin).
///
/// Its active version and description, every installed version, the version
/// a rollback returns to, and the limits its calls run under.
#[utoipa::path(
    get,
    path = "/v1/connectors/{connector_id}",
    tag = "connectors",
    params(ConnectorPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The connector", body = ConnectorOut),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such connector", body = ErrorBody),
    )
)]
pub async fn get_connector(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectorPath>,
) -> Result<axum::Json<ConnectorOut>, ApiError> {
    principal.require_admin()?;
    let registry = &state.registry;
    let id = &path.connector_id;
    let (Some(activation), Some(component)) = (registry.activation(id)?, registry.active(id))
    else {
        return Err(RegistryError::UnknownConnector(id.clone()).into());
    };
    let info = component.info();
    let versions = registry
        .versions(id)?
        .into_iter()
        .map(|v| VersionOut::new(v, Some(&activation.active_hash)))
        .collect();
    Ok(axum::Json(ConnectorOut {
        id: id.clone(),
        name: info.name.clone(),
        description: info.description.clone(),
        auth: match info.auth {
            AuthMethod::None => "none",
            AuthMethod::Credentials(_) => "credentials",
            AuthMethod::Oauth2(_) => "oauth2",
        }
        .into(),
        models: info.models.iter().map(|m| m.name.clone()).collect(),
        allowed_hosts: info.allowed_hosts.clone(),
        imports: component.imports(),
        active_version: info.version.clone(),
        activated_at: format_time(activation.updated_at),
        rollback_to: rollback_to(registry, id)?,
        versions,
        limits: registry.limits(id),
        custom_limits: registry.has_custom_limits(id),
    }))
}

/// Activate a version (admin).
///
/// One atomic switch: calls already running finish on the version they
/// started with, calls that start afterwards use this one. Connections
/// pinned to a version are not affected. The compiled artifact is cached,
/// so nothing is recompiled.
#[utoipa::path(
    post,
    path = "/v1/connectors/{connector_id}/activate",
    tag = "connectors",
    params(ConnectorPath),
    request_body = ActivateRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Active", body = ActivationOut),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such connector or version", body = ErrorBody,
         example = json!({"error": {"code": "connector_version_not_found", "message": "connector `demo-cmms` has no version `9.9.9`", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": null}})),
    )
)]
pub async fn activate_version(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectorPath>,
    Json(body): Json<ActivateRequest>,
) -> Result<axum::Json<ActivationOut>, ApiError> {
    principal.require_admin()?;
    let record = state
        .registry
        .activate(&path.connector_id, &body.version)
        .await?;
    Ok(axum::Json(activation_out(&state.registry, record)?))
}

/// Roll back to the previously active version (admin).
///
/// The same atomic switch as `activate`, to the version that was active
/// before the current one.
#[utoipa::path(
    post,
    path = "/v1/connectors/{connector_id}/rollback",
    tag = "connectors",
    params(ConnectorPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Rolled back", body = ActivationOut),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such connector", body = ErrorBody),
        (status = 409, description = "No previous version", body = ErrorBody,
         example = json!({"error": {"code": "connector_no_previous_version", "message": "connector `demo-cmms` has no previous version to roll back to", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": null}})),
    )
)]
pub async fn rollback_version(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectorPath>,
) -> Result<axum::Json<ActivationOut>, ApiError> {
    principal.require_admin()?;
    let record = state.registry.rollback(&path.connector_id).await?;
    Ok(axum::Json(activation_out(&state.registry, record)?))
}

fn limits_out(registry: &Registry, connector_id: &str) -> LimitsOut {
    LimitsOut {
        limits: registry.limits(connector_id),
        custom: registry.has_custom_limits(connector_id),
        max_memory_bytes: registry.runtime().config().max_memory_bytes,
    }
}

/// Get a connector's sandbox limits (admin).
#[utoipa::path(
    get,
    path = "/v1/connectors/{connector_id}/limits",
    tag = "connectors",
    params(ConnectorPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The limits", body = LimitsOut),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such connector", body = ErrorBody),
    )
)]
pub async fn get_limits(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectorPath>,
) -> Result<axum::Json<LimitsOut>, ApiError> {
    principal.require_admin()?;
    if state.registry.activation(&path.connector_id)?.is_none() {
        return Err(RegistryError::UnknownConnector(path.connector_id).into());
    }
    Ok(axum::Json(limits_out(&state.registry, &path.connector_id)))
}

/// Set a connector's sandbox limits (admin).
///
/// Replaces the limits of every version of the connector; fields left out
/// take their defaults (so `{}` restores them all). Calls that start
/// afterwards run under them. Each field has an accepted range, and
/// `memory_bytes` cannot exceed the host's pool slot (`max_memory_bytes`).
#[utoipa::path(
    put,
    path = "/v1/connectors/{connector_id}/limits",
    tag = "connectors",
    params(ConnectorPath),
    request_body(content = LimitsIn, description = "Limits; omitted fields take their defaults",
        example = json!({"time_budget_ms": 10000, "memory_bytes": 33554432})),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The limits now in force", body = LimitsOut),
        (status = 400, description = "A limit is out of range or unknown", body = ErrorBody,
         example = json!({"error": {"code": "connector_limits_invalid", "message": "invalid limits: `time_budget_ms` is 10; it must be between 50 and 600000", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": {"field": "time_budget_ms"}}})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such connector", body = ErrorBody),
    )
)]
pub async fn set_limits(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectorPath>,
    Json(limits): Json<SandboxLimits>,
) -> Result<axum::Json<LimitsOut>, ApiError> {
    principal.require_admin()?;
    state.registry.set_limits(&path.connector_id, limits)?;
    Ok(axum::Json(limits_out(&state.registry, &path.connector_id)))
}

/// Sandbox limits of a connector, as sent. Each has its range; besides,
/// `max_page_bytes` may not be below `max_record_bytes` and `memory_bytes`
/// may not exceed the host's pool slot (`max_memory_bytes` of the answer).
/// The runtime checks all of it (`SandboxLimits::validate`); the ranges here
/// document it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Read through `SandboxLimits`; this type documents the body.
pub struct LimitsIn {
    /// Largest linear memory an instance may grow to, in bytes.
    #[schema(minimum = 2097152)]
    memory_bytes: Option<u64>,
    /// Wall-clock budget of one call, in milliseconds, host calls included.
    #[schema(minimum = 50, maximum = 600000)]
    time_budget_ms: Option<u64>,
    /// Largest `data` of one record, in bytes.
    #[schema(minimum = 1024, maximum = 16777216)]
    max_record_bytes: Option<u64>,
    /// Largest sum of a page's records, in bytes.
    #[schema(minimum = 1024, maximum = 268435456)]
    max_page_bytes: Option<u64>,
    /// Largest body of one outbound HTTP response, in bytes.
    #[schema(minimum = 1024, maximum = 268435456)]
    max_response_bytes: Option<u64>,
    /// Largest cursor, in bytes.
    #[schema(minimum = 64, maximum = 1048576)]
    max_cursor_bytes: Option<u64>,
    /// Largest record id, in bytes.
    #[schema(minimum = 16, maximum = 4096)]
    max_id_bytes: Option<u64>,
    /// Log lines kept per call.
    #[schema(minimum = 0, maximum = 100000)]
    max_log_lines: Option<u32>,
}

/// Pin a connection to a connector version (admin).
///
/// Runs that start afterwards use the pinned version whatever is active;
/// `{"version": null}` follows the active version again. A run in progress
/// keeps the version it started with.
#[utoipa::path(
    put,
    path = "/v1/connections/{connection_id}/pin",
    tag = "connectors",
    params(ConnectionPath),
    request_body = PinRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The connection", body = ConnectionOut),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such connection or version", body = ErrorBody),
    )
)]
pub async fn pin_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ConnectionPath>,
    Json(body): Json<PinRequest>,
) -> Result<axum::Json<ConnectionOut>, ApiError> {
    principal.require_admin()?;
    let connection = state
        .connections
        .set_pinned_version(&path.connection_id, body.version.as_deref())?;
    Ok(axum::Json(connection.into()))
}
