//! Reading synced records and the change feed.

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Path, Query};
use crate::pagination::{self, format_time};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use switchyard_store::RecordQuery;
use switchyard_store::model::{Connection, Scope, StoredRecord};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Keys examined per filtered list request before returning a (possibly
/// short) page with a cursor: bounds the cost of sparse filters.
const SCAN_LIMIT: usize = 20_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_records))
        .routes(routes!(get_record))
        .routes(routes!(list_changes))
        .routes(routes!(list_quarantine))
}

/// A synced record.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "WO-0000042",
    "data": {"id": "WO-0000042", "title": "Replace bearing on P-101", "status": "open"},
    "deleted": false,
    "modified_at": "2026-11-20T14:03:11.123Z",
    "synced_at": "2026-11-28T09:30:00.000Z",
    "seq": 42
}))]
pub struct RecordOut {
    /// The record's id at the source.
    pub id: String,
    /// The record in the model's unified schema; null for deleted records.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Box<RawValue>>,
    /// Whether the record was deleted at the source (a tombstone).
    pub deleted: bool,
    /// When the source last modified it, if it said.
    pub modified_at: Option<String>,
    /// When Switchyard stored this version.
    pub synced_at: String,
    /// Position of this version in the model's change feed.
    pub seq: u64,
}

impl RecordOut {
    fn from_stored(record: StoredRecord) -> Result<Self, ApiError> {
        let data = if record.deleted {
            None
        } else {
            // Stored data was validated as JSON when it was committed.
            let text = String::from_utf8(record.data).map_err(|e| ApiError::internal(&e))?;
            Some(RawValue::from_string(text).map_err(|e| ApiError::internal(&e))?)
        };
        Ok(RecordOut {
            id: record.id,
            data,
            deleted: record.deleted,
            modified_at: record.modified_at.map(format_time),
            synced_at: format_time(record.synced_at),
            seq: record.seq,
        })
    }
}

/// A page of records.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordPage {
    /// The records, ordered by id.
    pub data: Vec<RecordOut>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(example = "cmVjb3JkczpXTy0wMDAwMDQy")]
    pub next_cursor: Option<String>,
}

/// A page of the change feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangePage {
    /// Changed records at their latest state, in the order they changed.
    pub data: Vec<RecordOut>,
    /// Keep it and pass it as `cursor` next time: the feed continues after
    /// it, so no change is ever missed.
    #[schema(example = "Y2hhbmdlczo0Mg")]
    pub next_cursor: String,
    /// Whether more changes are available right now.
    pub has_more: bool,
}

/// Path of a model of a connection.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ModelPath {
    /// The connection.
    #[param(example = "conn_3f9a1c2b7d4e5f6a7b8c")]
    pub connection_id: String,
    /// The model, such as `work-orders`.
    #[param(example = "work-orders")]
    pub model: String,
}

/// Path of one record.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RecordPath {
    /// The connection.
    #[param(example = "conn_3f9a1c2b7d4e5f6a7b8c")]
    pub connection_id: String,
    /// The model.
    #[param(example = "work-orders")]
    pub model: String,
    /// The record's id at the source.
    #[param(example = "WO-0000042")]
    pub record_id: String,
}

/// Listing parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `next_cursor` of the previous page.
    #[param(pattern = "^([0-9a-f]{2}){1,1024}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u32>,
    /// Only records modified at or after this RFC 3339 time.
    #[param(example = "2026-11-01T00:00:00Z", format = DateTime)]
    pub updated_since: Option<String>,
    /// Include deleted records (tombstones).
    pub include_deleted: Option<bool>,
}

/// Change feed parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// `next_cursor` of the previous page; absent to start from the beginning.
    #[param(pattern = "^[0-9]{1,19}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u32>,
}

/// Checks access to a model of a connection and that the model exists.
pub(crate) async fn model_access(
    state: &AppState,
    principal: &Principal,
    connection_id: &str,
    model: &str,
) -> Result<Connection, ApiError> {
    principal.require_connection(connection_id, Scope::Read)?;
    let connection = state.connections.get(connection_id)?;
    let component = state
        .registry
        .resolve(
            &connection.connector_id,
            connection.pinned_version.as_deref(),
        )
        .await?;
    if !component.info().models.iter().any(|m| m.name == model) {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "model_not_found",
            format!(
                "This connection has no model `{model}`. Its models are: {}.",
                component
                    .info()
                    .models
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(connection)
}

/// List records of a model.
///
/// Records are ordered by id. Follow `next_cursor` until it is null. With
/// `updated_since`, a page may hold fewer records than `limit` (even none)
/// while `next_cursor` is set: keep following it.
#[utoipa::path(
    get,
    path = "/v1/connections/{connection_id}/models/{model}/records",
    tag = "records",
    params(ModelPath, ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of records", body = RecordPage,
         example = json!({"data": [{"id": "WO-0000042", "data": {"id": "WO-0000042", "title": "Replace bearing on P-101", "status": "open"}, "deleted": false, "modified_at": "2026-11-20T14:03:11.123Z", "synced_at": "2026-11-28T09:30:00.000Z", "seq": 42}], "next_cursor": "cmVjb3JkczpXTy0wMDAwMDQy"})),
        (status = 400, description = "Invalid parameter or cursor", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token cannot read this connection", body = ErrorBody),
        (status = 404, description = "No such connection or model", body = ErrorBody),
    )
)]
pub async fn list_records(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ModelPath>,
    Query(params): Query<ListParams>,
) -> Result<Json<RecordPage>, ApiError> {
    let limit = pagination::limit(params.limit)?;
    let updated_since = params
        .updated_since
        .as_deref()
        .map(|v| pagination::parse_time("updated_since", v))
        .transpose()?;
    let after = params
        .cursor
        .as_deref()
        .map(pagination::parse_text_cursor)
        .transpose()?;
    model_access(&state, &principal, &path.connection_id, &path.model).await?;
    let query = RecordQuery {
        after,
        limit,
        updated_since,
        include_deleted: params.include_deleted.unwrap_or(false),
        scan_limit: SCAN_LIMIT,
    };
    let store = state.store.clone();
    let page = tokio::task::spawn_blocking(move || {
        store.list_records(&path.connection_id, &path.model, &query)
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(Json(RecordPage {
        data: page
            .records
            .into_iter()
            .map(RecordOut::from_stored)
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_after.map(|id| pagination::text_cursor(&id)),
    }))
}

/// Get one record.
///
/// Deleted records are returned too, with `deleted: true`, while their
/// tombstone is kept.
#[utoipa::path(
    get,
    path = "/v1/connections/{connection_id}/models/{model}/records/{record_id}",
    tag = "records",
    params(RecordPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The record", body = RecordOut),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token cannot read this connection", body = ErrorBody),
        (status = 404, description = "No such connection, model or record", body = ErrorBody,
         example = json!({"error": {"code": "record_not_found", "message": "There is no work-orders record `WO-1`.", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": null}})),
    )
)]
pub async fn get_record(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<RecordPath>,
) -> Result<Json<RecordOut>, ApiError> {
    model_access(&state, &principal, &path.connection_id, &path.model).await?;
    let record = state
        .store
        .get_record(&path.connection_id, &path.model, &path.record_id)?
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "record_not_found",
                format!("There is no {} record `{}`.", path.model, path.record_id),
            )
        })?;
    Ok(Json(RecordOut::from_stored(record)?))
}

/// Read the change feed of a model.
///
/// Every stored change gets a sequence number; the feed returns changed
/// records in that order, each at its latest state. Keep `next_cursor` and
/// poll with it: you will see every change, even when source timestamps tie
/// or arrive late. Deletions appear as records with `deleted: true`.
#[utoipa::path(
    get,
    path = "/v1/connections/{connection_id}/models/{model}/changes",
    tag = "records",
    params(ModelPath, FeedParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of changes", body = ChangePage,
         example = json!({"data": [{"id": "WO-0000042", "data": null, "deleted": true, "modified_at": "2026-11-28T09:10:00.000Z", "synced_at": "2026-11-28T09:30:00.000Z", "seq": 1043}], "next_cursor": "Y2hhbmdlczoxMDQz", "has_more": false})),
        (status = 400, description = "Invalid parameter or cursor", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token cannot read this connection", body = ErrorBody),
        (status = 404, description = "No such connection or model", body = ErrorBody),
    )
)]
pub async fn list_changes(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ModelPath>,
    Query(params): Query<FeedParams>,
) -> Result<Json<ChangePage>, ApiError> {
    let limit = pagination::limit(params.limit)?;
    let after = match params.cursor.as_deref() {
        None => 0,
        Some(cursor) => pagination::parse_number_cursor(cursor)?,
    };
    model_access(&state, &principal, &path.connection_id, &path.model).await?;
    let store = state.store.clone();
    let page = tokio::task::spawn_blocking(move || {
        store.read_feed(&path.connection_id, &path.model, after, limit)
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(Json(ChangePage {
        data: page
            .records
            .into_iter()
            .map(RecordOut::from_stored)
            .collect::<Result<_, _>>()?,
        next_cursor: pagination::number_cursor(page.next_after),
        has_more: page.has_more,
    }))
}

/// A record that failed validation and was kept aside.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "WO-0000077", "run_id": 17, "reason": "does not match the work-orders schema: /status: \"closed\" is not one of \"open\", \"in_progress\", \"on_hold\", \"completed\", \"cancelled\"", "data": "{\"id\":\"WO-0000077\",\"status\":\"closed\"}", "received_at": "2026-11-28T09:15:01.002Z"}))]
pub struct QuarantinedOut {
    /// The record's id at the source.
    pub id: String,
    /// The run that received it.
    pub run_id: u64,
    /// Why it was rejected.
    pub reason: String,
    /// The data as received (truncated at 16 KiB).
    pub data: String,
    /// When it was received.
    pub received_at: String,
}

/// Quarantine listing parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuarantineParams {
    /// At most this many, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u32>,
}

/// Quarantined records.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [{"id": "WO-0000077", "run_id": 17, "reason": "does not match the work-orders schema: /title: \"\" is shorter than 1 characters", "data": "{\"id\":\"WO-0000077\",\"title\":\"\"}", "received_at": "2026-11-28T09:15:01.002Z"}]}))]
pub struct QuarantineList {
    /// The records, oldest run first.
    pub data: Vec<QuarantinedOut>,
}

/// List records that failed validation.
///
/// Records that do not match the model's unified schema are never dropped
/// silently: they are kept here with the reason, and counted on their run,
/// while the rest of their page is stored.
#[utoipa::path(
    get,
    path = "/v1/connections/{connection_id}/models/{model}/quarantine",
    tag = "records",
    params(ModelPath, QuarantineParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Quarantined records", body = QuarantineList),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The token cannot read this connection", body = ErrorBody),
        (status = 404, description = "No such connection or model", body = ErrorBody),
    )
)]
pub async fn list_quarantine(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<ModelPath>,
    Query(params): Query<QuarantineParams>,
) -> Result<Json<QuarantineList>, ApiError> {
    let limit = pagination::limit(params.limit)?;
    model_access(&state, &principal, &path.connection_id, &path.model).await?;
    let records = state
        .store
        .list_quarantine(&path.connection_id, &path.model, limit)?;
    Ok(Json(QuarantineList {
        data: records
            .into_iter()
            .map(|q| QuarantinedOut {
                id: q.id,
                run_id: q.run_id,
                reason: q.reason,
                data: q.data,
                received_at: format_time(q.received_at),
            })
            .collect(),
    }))
}
