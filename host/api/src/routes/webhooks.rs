//! Webhook endpoints, their signing secrets, deliveries and redeliveries
//! (admin). See `docs/webhooks.md`.

use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::pagination::{self, format_time};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use std::time::Duration;
use switchyard_control::webhooks::{NewWebhook, WebhookUpdate};
use switchyard_control::{WebhookError, Webhooks};
use switchyard_store::DeliveryQuery;
use switchyard_store::model::{
    DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookEndpoint, now_ms,
};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Deliveries one listing examines, whatever its filter.
const DELIVERY_SCAN_LIMIT: usize = 10_000;

/// What an `event_types` entry may be: an event type, a group of them, or
/// `*` for every event. Documents the field; the request keeps strings so
/// an unknown entry gets `unknown_event_type` with the known ones listed.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum EventTypeFilter {
    #[schema(rename = "connection.created")]
    /// `connection.created`
    ConnectionCreated,
    #[schema(rename = "connection.status_changed")]
    /// `connection.status_changed`
    ConnectionStatusChanged,
    #[schema(rename = "connection.reauthorization_required")]
    /// `connection.reauthorization_required`
    ConnectionReauthorizationRequired,
    #[schema(rename = "connection.reconnected")]
    /// `connection.reconnected`
    ConnectionReconnected,
    #[schema(rename = "connection.health_degraded")]
    /// `connection.health_degraded`
    ConnectionHealthDegraded,
    #[schema(rename = "connection.recovered")]
    /// `connection.recovered`
    ConnectionRecovered,
    #[schema(rename = "sync.completed")]
    /// `sync.completed`
    SyncCompleted,
    #[schema(rename = "sync.failed")]
    /// `sync.failed`
    SyncFailed,
    #[schema(rename = "connection.*")]
    /// Every `connection.` event.
    AnyConnectionEvent,
    #[schema(rename = "sync.*")]
    /// Every `sync.` event.
    AnySyncEvent,
    #[schema(rename = "*")]
    /// Every event.
    Any,
}

/// A delivery's state, as a listing filter.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum DeliveryStatusFilter {
    /// Attempts remain.
    Pending,
    /// A 2xx answer arrived.
    Delivered,
    /// The attempts ran out, or the endpoint was disabled.
    Failed,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(get_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(redeliver))
}

/// A webhook endpoint, without its secrets.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "wh_5d0c2f3a9b8e7d6c1a2b", "url": "https://app.example.com/hooks/switchyard",
    "description": "Alerts for the integrations team", "event_types": ["sync.failed", "connection.*"],
    "connection_id": null, "enabled": true, "disabled_reason": null,
    "previous_secret_expires_at": null,
    "created_at": "2026-11-28T09:00:00.000Z", "updated_at": "2026-11-28T09:00:00.000Z"
}))]
pub struct WebhookOut {
    /// The endpoint's id.
    pub id: String,
    /// Where events are POSTed.
    pub url: String,
    /// What it is for.
    pub description: Option<String>,
    /// Event types it receives: types, groups such as `sync.*`, or `*`.
    pub event_types: Vec<String>,
    /// Only this connection's events, when set.
    pub connection_id: Option<String>,
    /// Whether events are delivered to it.
    pub enabled: bool,
    /// Why it was disabled: by an operator, or the receiver answered 410.
    pub disabled_reason: Option<String>,
    /// Until when the secret before the last rotation still signs too.
    pub previous_secret_expires_at: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

impl From<WebhookEndpoint> for WebhookOut {
    fn from(e: WebhookEndpoint) -> Self {
        let now = now_ms();
        WebhookOut {
            previous_secret_expires_at: e
                .secrets
                .iter()
                .skip(1)
                .filter_map(|s| s.expires_at)
                .filter(|at| *at > now)
                .max()
                .map(format_time),
            id: e.id,
            url: e.url,
            description: e.description,
            event_types: e.event_types,
            connection_id: e.connection_id,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            created_at: format_time(e.created_at),
            updated_at: format_time(e.updated_at),
        }
    }
}

/// A new webhook endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://app.example.com/hooks/switchyard",
    "event_types": ["sync.failed", "connection.reauthorization_required"],
    "description": "Alerts for the integrations team"
}))]
pub struct CreateWebhook {
    /// Absolute `http` or `https` URL, without credentials.
    #[schema(format = "uri", max_length = 2048)]
    pub url: String,
    /// Event types (see `docs/webhooks.md`), groups (`connection.*`,
    /// `sync.*`) or `["*"]` for every event.
    #[schema(value_type = Vec<EventTypeFilter>, min_items = 1, max_items = 50)]
    pub event_types: Vec<String>,
    /// Only events of this connection.
    pub connection_id: Option<String>,
    /// What it is for (up to 500 characters).
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// A registered endpoint and its signing secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "webhook": {"id": "wh_5d0c2f3a9b8e7d6c1a2b", "url": "https://app.example.com/hooks/switchyard",
                "description": null, "event_types": ["*"], "connection_id": null, "enabled": true,
                "disabled_reason": null, "previous_secret_expires_at": null,
                "created_at": "2026-11-28T09:00:00.000Z", "updated_at": "2026-11-28T09:00:00.000Z"},
    "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
}))]
pub struct CreatedWebhook {
    /// The endpoint.
    pub webhook: WebhookOut,
    /// The signing secret for the receiver (`whsec_…`); also readable with
    /// `GET /v1/webhooks/{webhook_id}/secret`.
    pub secret: String,
}

/// Webhook endpoints.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [{
    "id": "wh_5d0c2f3a9b8e7d6c1a2b", "url": "https://app.example.com/hooks/switchyard",
    "description": null, "event_types": ["*"], "connection_id": null, "enabled": false,
    "disabled_reason": "the endpoint answered 410 Gone to delivery whd_000000000042 at 2026-11-28T10:15:02.210Z",
    "previous_secret_expires_at": null,
    "created_at": "2026-11-28T09:00:00.000Z", "updated_at": "2026-11-28T10:15:02.215Z"
}]}))]
pub struct WebhookList {
    /// Every endpoint, by id.
    pub data: Vec<WebhookOut>,
}

fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    // A field that is there (even as null) is a change; an absent one
    // (`#[serde(default)]`) is not.
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Changes to an endpoint; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": true, "url": "https://app.example.com/hooks/v2"}))]
pub struct UpdateWebhook {
    /// A new URL.
    #[schema(format = "uri", max_length = 2048)]
    pub url: Option<String>,
    /// New event type filters (replace the old ones).
    #[schema(value_type = Option<Vec<EventTypeFilter>>, min_items = 1, max_items = 50)]
    pub event_types: Option<Vec<String>>,
    /// A connection filter; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub connection_id: Option<Option<String>>,
    /// A description; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<Option<String>>,
    /// Enable or disable. Disabling fails its pending deliveries; enabling
    /// delivers the events that happen from then on.
    pub enabled: Option<bool>,
}

/// How to rotate a secret.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"grace_period_secs": 86400}))]
pub struct RotateSecret {
    /// How long the old secret keeps signing next to the new one, 0 to
    /// 604800 seconds (default: the host's setting, 24 hours).
    #[schema(maximum = 604800)]
    pub grace_period_secs: Option<u64>,
}

/// A new signing secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"secret": "whsec_4ZiTbMpVEOqsFBxRCzvKJuGuaTuEYOvKaDw9sMDa+Qg=", "previous_secret_expires_at": "2026-11-29T09:00:00.000Z"}))]
pub struct RotatedSecret {
    /// The new secret: give it to the receiver.
    pub secret: String,
    /// Until when the previous secret signs too; null without a grace period.
    pub previous_secret_expires_at: Option<String>,
}

/// An endpoint's current signing secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"}))]
pub struct WebhookSecret {
    /// `whsec_` and the base64 key.
    pub secret: String,
}

/// One attempt to deliver.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"number": 3, "at": "2026-11-28T10:20:07.600Z", "trigger": "scheduled", "status_code": 204, "duration_ms": 41, "outcome": "delivered", "error": null, "response_body": ""}))]
pub struct AttemptOut {
    /// 1 for the first attempt.
    pub number: u32,
    /// When it started.
    pub at: String,
    /// `scheduled` or `manual` (a redelivery).
    pub trigger: String,
    /// The receiver's status; null when none came.
    pub status_code: Option<u16>,
    /// How long it took.
    pub duration_ms: u64,
    /// `delivered`, `retry`, `failed` or `gone`.
    pub outcome: String,
    /// `timeout`, `connect_failed`, `http_503`…; null when delivered.
    pub error: Option<String>,
    /// The start of the receiver's answer (1 KiB, redacted).
    pub response_body: String,
}

impl From<DeliveryAttempt> for AttemptOut {
    fn from(a: DeliveryAttempt) -> Self {
        AttemptOut {
            number: a.number,
            at: format_time(a.at),
            trigger: a.trigger,
            status_code: a.status_code,
            duration_ms: a.duration_ms,
            outcome: a.outcome,
            error: a.error,
            response_body: a.response_body,
        }
    }
}

/// One event on its way to one endpoint, with its attempts.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "whd_000000000042", "webhook_id": "wh_5d0c2f3a9b8e7d6c1a2b", "webhook_msg_id": "evt_000000000117",
    "event_id": "evt_000000000117", "event_type": "sync.failed", "connection_id": "conn_3f9a1c2b7d4e5f6a7b8c",
    "status": "pending", "created_at": "2026-11-28T10:15:02.200Z", "updated_at": "2026-11-28T10:15:07.530Z",
    "next_attempt_at": "2026-11-28T10:20:07.530Z", "attempt_count": 2, "failure_reason": null,
    "payload": {"type": "sync.failed", "timestamp": "2026-11-28T10:15:02.113Z",
                "data": {"run_id": 88, "model": "work-orders", "error": {"code": "plugin_unauthorized", "message": "the source rejected the credentials"},
                         "event_id": "evt_000000000117", "event_seq": 117, "connection_id": "conn_3f9a1c2b7d4e5f6a7b8c"}},
    "attempts": [
        {"number": 1, "at": "2026-11-28T10:15:02.210Z", "trigger": "scheduled", "status_code": null, "duration_ms": 3, "outcome": "retry", "error": "connect_failed", "response_body": ""},
        {"number": 2, "at": "2026-11-28T10:15:07.500Z", "trigger": "scheduled", "status_code": 503, "duration_ms": 30, "outcome": "retry", "error": "http_503", "response_body": "upstream unavailable"}
    ]
}))]
pub struct DeliveryOut {
    /// The delivery's id.
    pub id: String,
    /// The endpoint.
    pub webhook_id: String,
    /// The `webhook-id` header: the same on every attempt and redelivery.
    pub webhook_msg_id: String,
    /// The event (see `GET /v1/events`).
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// The connection it concerns.
    pub connection_id: Option<String>,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<String>,
    /// Attempts made, manual ones included.
    pub attempt_count: u32,
    /// Why it failed without an attempt (the endpoint was disabled).
    pub failure_reason: Option<String>,
    /// The exact body sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// The latest attempts (up to 50), oldest first.
    pub attempts: Vec<AttemptOut>,
}

impl From<WebhookDelivery> for DeliveryOut {
    fn from(d: WebhookDelivery) -> Self {
        DeliveryOut {
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
            id: d.id,
            webhook_id: d.endpoint_id,
            webhook_msg_id: d.message_id,
            event_id: d.event_id,
            event_type: d.event_type,
            connection_id: d.connection_id,
            status: d.status.as_str().into(),
            created_at: format_time(d.created_at),
            updated_at: format_time(d.updated_at),
            next_attempt_at: d.next_attempt_at.map(format_time),
            attempt_count: d.attempt_count,
            failure_reason: d.failure_reason,
            attempts: d.attempts.into_iter().map(Into::into).collect(),
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"data": [{
    "id": "whd_000000000042", "webhook_id": "wh_5d0c2f3a9b8e7d6c1a2b", "webhook_msg_id": "evt_000000000117",
    "event_id": "evt_000000000117", "event_type": "sync.completed", "connection_id": "conn_3f9a1c2b7d4e5f6a7b8c",
    "status": "delivered", "created_at": "2026-11-28T10:15:02.200Z", "updated_at": "2026-11-28T10:15:02.260Z",
    "next_attempt_at": null, "attempt_count": 1, "failure_reason": null,
    "payload": {"type": "sync.completed", "timestamp": "2026-11-28T10:15:02.113Z",
                "data": {"run_id": 88, "model": "work-orders", "kind": "incremental", "status": "succeeded", "duration_ms": 311,
                         "pages": 1, "records_upserted": 12, "records_deleted": 0, "records_quarantined": 0, "retries": 0,
                         "connector_version": "1.0.0", "event_id": "evt_000000000117", "event_seq": 117,
                         "connection_id": "conn_3f9a1c2b7d4e5f6a7b8c"}},
    "attempts": [{"number": 1, "at": "2026-11-28T10:15:02.210Z", "trigger": "scheduled", "status_code": 204, "duration_ms": 48, "outcome": "delivered", "error": null, "response_body": ""}]
}], "next_cursor": "ZGVsaXZlcmllczo0Mg"}))]
pub struct DeliveryPage {
    /// The deliveries.
    pub data: Vec<DeliveryOut>,
    /// Pass as `cursor` for older deliveries; null at the end.
    pub next_cursor: Option<String>,
}

/// Path of a webhook endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WebhookPath {
    /// The endpoint.
    #[param(example = "wh_5d0c2f3a9b8e7d6c1a2b")]
    pub webhook_id: String,
}

/// Path of a delivery.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeliveryPath {
    /// The endpoint.
    #[param(example = "wh_5d0c2f3a9b8e7d6c1a2b")]
    pub webhook_id: String,
    /// The delivery.
    #[param(example = "whd_000000000042")]
    pub delivery_id: String,
}

/// Delivery listing parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,19}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<u32>,
    /// Only `pending`, `delivered` or `failed` deliveries.
    #[param(value_type = Option<DeliveryStatusFilter>)]
    pub status: Option<String>,
}

/// Runs a webhook operation off the async workers: the writing ones wait
/// for the webhooks' write lock (which fan-out and the retention purge hold
/// for a while), and disabling or deleting an endpoint walks its deliveries.
async fn blocking<T: Send + 'static>(
    webhooks: &Webhooks,
    f: impl FnOnce(&Webhooks) -> Result<T, WebhookError> + Send + 'static,
) -> Result<T, ApiError> {
    let webhooks = webhooks.clone();
    Ok(tokio::task::spawn_blocking(move || f(&webhooks))
        .await
        .map_err(|e| ApiError::internal(&e))??)
}

/// Register a webhook endpoint (admin).
///
/// Events of the given types that happen from now on are POSTed to `url`,
/// signed the Standard Webhooks way with the returned secret.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    request_body = CreateWebhook,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered", body = CreatedWebhook),
        (status = 400, description = "Invalid URL or unknown event type", body = ErrorBody,
         example = json!({"error": {"code": "unknown_event_type", "message": "`sync.finished` is not an event type. Use one of the known types, a group such as `sync.*`, or `*`.", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": {"event_type": "sync.finished", "known": ["connection.created", "connection.status_changed", "connection.reauthorization_required", "connection.reconnected", "connection.health_degraded", "connection.recovered", "sync.completed", "sync.failed", "connection.*", "sync.*", "*"]}}})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "The connection filter names no connection", body = ErrorBody),
        (status = 409, description = "Too many endpoints", body = ErrorBody,
         example = json!({"error": {"code": "webhook_limit_reached", "message": "At most 100 webhooks can be registered. Delete one, or widen the event types of an existing one.", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": null}})),
    )
)]
pub async fn create_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateWebhook>,
) -> Result<(StatusCode, axum::Json<CreatedWebhook>), ApiError> {
    principal.require_admin()?;
    let (webhook, secret) = blocking(&state.webhooks, move |w| {
        w.create(NewWebhook {
            url: body.url,
            event_types: body.event_types,
            connection_id: body.connection_id,
            description: body.description,
        })
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedWebhook {
            webhook: webhook.into(),
            secret,
        }),
    ))
}

/// List webhook endpoints (admin).
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Endpoints", body = WebhookList),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
    )
)]
pub async fn list_webhooks(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<WebhookList>, ApiError> {
    principal.require_admin()?;
    let data = state.webhooks.list()?.into_iter().map(Into::into).collect();
    Ok(axum::Json(WebhookList { data }))
}

/// Get a webhook endpoint (admin).
#[utoipa::path(
    get,
    path = "/v1/webhooks/{webhook_id}",
    tag = "webhooks",
    params(WebhookPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint", body = WebhookOut),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody,
         example = json!({"error": {"code": "webhook_not_found", "message": "There is no webhook `wh_5d0c2f3a9b8e7d6c1a2b`.", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": null}})),
    )
)]
pub async fn get_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<WebhookPath>,
) -> Result<axum::Json<WebhookOut>, ApiError> {
    principal.require_admin()?;
    Ok(axum::Json(state.webhooks.get(&path.webhook_id)?.into()))
}

/// Change a webhook endpoint (admin): URL, filters, description, enabled.
#[utoipa::path(
    patch,
    path = "/v1/webhooks/{webhook_id}",
    tag = "webhooks",
    params(WebhookPath),
    request_body = UpdateWebhook,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated endpoint", body = WebhookOut),
        (status = 400, description = "Invalid URL or unknown event type", body = ErrorBody,
         example = json!({"error": {"code": "invalid_field", "message": "`url` must be an absolute http or https URL.", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": {"field": "url"}}})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such webhook or connection", body = ErrorBody),
    )
)]
pub async fn update_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<WebhookPath>,
    Json(body): Json<UpdateWebhook>,
) -> Result<axum::Json<WebhookOut>, ApiError> {
    principal.require_admin()?;
    let webhook = blocking(&state.webhooks, move |w| {
        w.update(
            &path.webhook_id,
            WebhookUpdate {
                url: body.url,
                event_types: body.event_types,
                connection_id: body.connection_id,
                description: body.description,
                enabled: body.enabled,
            },
        )
    })
    .await?;
    Ok(axum::Json(webhook.into()))
}

/// Delete a webhook endpoint (admin), with its deliveries.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{webhook_id}",
    tag = "webhooks",
    params(WebhookPath),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn delete_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<WebhookPath>,
) -> Result<StatusCode, ApiError> {
    principal.require_admin()?;
    blocking(&state.webhooks, move |w| w.delete(&path.webhook_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate a webhook's signing secret (admin).
///
/// Returns the new secret. The old one keeps signing next to it for the
/// grace period (each request then carries two signatures), so the receiver
/// can switch without rejecting anything.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{webhook_id}/rotate-secret",
    tag = "webhooks",
    params(WebhookPath),
    request_body(content = RotateSecret, description = "An optional grace period; an empty object uses the default"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new secret", body = RotatedSecret),
        (status = 400, description = "Grace period out of range", body = ErrorBody,
         example = json!({"error": {"code": "invalid_field", "message": "`grace_period_secs` must be at most 7 days (604800 seconds).", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": {"field": "grace_period_secs"}}})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<WebhookPath>,
    Json(body): Json<RotateSecret>,
) -> Result<axum::Json<RotatedSecret>, ApiError> {
    principal.require_admin()?;
    let grace = body.grace_period_secs.map(Duration::from_secs);
    let (webhook, secret) = blocking(&state.webhooks, move |w| {
        w.rotate_secret(&path.webhook_id, grace)
    })
    .await?;
    let webhook = WebhookOut::from(webhook);
    Ok(axum::Json(RotatedSecret {
        secret,
        previous_secret_expires_at: webhook.previous_secret_expires_at,
    }))
}

/// Get a webhook's signing secret (admin).
///
/// The current secret, to configure the receiver. Only admin tokens can
/// read it; it never appears in logs.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{webhook_id}/secret",
    tag = "webhooks",
    params(WebhookPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The secret", body = WebhookSecret),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn get_secret(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<WebhookPath>,
) -> Result<axum::Json<WebhookSecret>, ApiError> {
    principal.require_admin()?;
    Ok(axum::Json(WebhookSecret {
        secret: state.webhooks.secret(&path.webhook_id)?,
    }))
}

/// List a webhook's deliveries, newest first (admin).
#[utoipa::path(
    get,
    path = "/v1/webhooks/{webhook_id}/deliveries",
    tag = "webhooks",
    params(WebhookPath, DeliveryParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deliveries with their attempts", body = DeliveryPage),
        (status = 400, description = "Invalid parameter or cursor", body = ErrorBody,
         example = json!({"error": {"code": "invalid_parameter", "message": "`status` must be pending, delivered or failed.", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": {"parameter": "status"}}})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<WebhookPath>,
    Query(params): Query<DeliveryParams>,
) -> Result<axum::Json<DeliveryPage>, ApiError> {
    principal.require_admin()?;
    let limit = pagination::limit(params.limit)?;
    let before = params
        .cursor
        .as_deref()
        .map(pagination::parse_number_cursor)
        .transpose()?;
    let status = match params.status.as_deref() {
        None => None,
        Some("pending") => Some(DeliveryStatus::Pending),
        Some("delivered") => Some(DeliveryStatus::Delivered),
        Some("failed") => Some(DeliveryStatus::Failed),
        Some(_) => {
            return Err(ApiError::invalid_parameter(
                "status",
                "`status` must be pending, delivered or failed.",
            ));
        }
    };
    let query = DeliveryQuery {
        before,
        status,
        limit,
        scan_limit: DELIVERY_SCAN_LIMIT,
    };
    let (deliveries, next) = blocking(&state.webhooks, move |w| {
        w.deliveries(&path.webhook_id, &query)
    })
    .await?;
    Ok(axum::Json(DeliveryPage {
        data: deliveries.into_iter().map(Into::into).collect(),
        next_cursor: next.map(pagination::number_cursor),
    }))
}

/// Get one delivery with its attempts (admin).
#[utoipa::path(
    get,
    path = "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}",
    tag = "webhooks",
    params(DeliveryPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The delivery", body = DeliveryOut),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such webhook or delivery", body = ErrorBody,
         example = json!({"error": {"code": "delivery_not_found", "message": "Webhook `wh_5d0c2f3a9b8e7d6c1a2b` has no delivery `whd_000000000999`.", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": null}})),
    )
)]
pub async fn get_delivery(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<DeliveryPath>,
) -> Result<axum::Json<DeliveryOut>, ApiError> {
    principal.require_admin()?;
    Ok(axum::Json(
        state
            .webhooks
            .delivery(&path.webhook_id, &path.delivery_id)?
            .into(),
    ))
}

/// Redeliver (admin): a new attempt now, with the same `webhook-id`.
///
/// A delivered or failed delivery gets one more attempt; a pending one has
/// its next attempt moved to now. Follow the result in the delivery.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    tag = "webhooks",
    params(DeliveryPath),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The attempt is queued", body = DeliveryOut),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such webhook or delivery", body = ErrorBody),
        (status = 409, description = "The webhook is disabled, or an attempt is in progress", body = ErrorBody,
         example = json!({"error": {"code": "webhook_disabled", "message": "Webhook `wh_5d0c2f3a9b8e7d6c1a2b` is disabled. Enable it (PATCH with {\"enabled\": true}) first.", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": null}})),
    )
)]
pub async fn redeliver(
    State(state): State<AppState>,
    principal: Principal,
    Path(path): Path<DeliveryPath>,
) -> Result<(StatusCode, axum::Json<DeliveryOut>), ApiError> {
    principal.require_admin()?;
    let delivery = blocking(&state.webhooks, move |w| {
        w.redeliver(&path.webhook_id, &path.delivery_id)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(delivery.into())))
}
