//! Switchyard's HTTP API.
//!
//! [`router`] builds the whole API from an [`AppState`]: bearer-token auth on
//! every route but `/health`, a request ID on every response, one JSON error
//! envelope, and an OpenAPI document generated from the handlers and served
//! at `/openapi.json`.
#![warn(missing_docs)]

pub mod auth;
pub mod connect;
pub mod error;
pub mod extract;
mod observe;
pub mod pagination;
pub mod request_id;
mod routes;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use error::ApiError;
use std::sync::Arc;
use switchyard_control::{ConnectSessions, Connections, Registry, RequestLog, Tokens, Webhooks};
use switchyard_store::Store;
use switchyard_sync::Scheduler;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

/// What the handlers work with. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Storage.
    pub store: Arc<Store>,
    /// Connector versions.
    pub registry: Arc<Registry>,
    /// Connections.
    pub connections: Connections,
    /// API tokens.
    pub tokens: Tokens,
    /// Starts syncs.
    pub scheduler: Scheduler,
    /// The request log.
    pub request_log: RequestLog,
    /// Connect sessions and one-time codes.
    pub connect: ConnectSessions,
    /// Webhook endpoints and deliveries.
    pub webhooks: Webhooks,
    /// The URL the host is reached at, without a trailing slash: connect
    /// links and the OAuth 2.0 redirect URI are built from it.
    pub public_url: Arc<str>,
}

/// The OpenAPI document's frame: info, security scheme, tags.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Switchyard API",
        description = "Read records synced from industrial systems (work orders, assets, locations, parts, purchase orders), follow their change feed, and manage connections and connectors.",
    ),
    tags(
        (name = "records", description = "Synced records and the change feed"),
        (name = "connections", description = "Connections, runs and sync triggers"),
        (name = "debugging", description = "Request logs"),
        (name = "webhooks", description = "Webhook endpoints, signing secrets, deliveries and redeliveries"),
    ),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A connection token (`sy_conn_…`) or an admin token (`sy_admin_…`).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The API's routes and their OpenAPI document.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi as _;
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::records::router())
        .merge(routes::connections::router())
        .merge(routes::logs::router())
        .merge(routes::lifecycle::router())
        .merge(routes::webhooks::router())
        .split_for_parts()
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let (routes, openapi) = api();
    let openapi = Arc::new(openapi);
    routes
        .merge(connect::router())
        .route(
            "/health",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/openapi.json",
            get(move || {
                let openapi = openapi.clone();
                async move { axum::Json(openapi.as_ref().clone()) }
            }),
        )
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "route_not_found",
                "No such endpoint. See /openapi.json for the API.",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This endpoint does not support that method. See /openapi.json.",
            )
        })
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::middleware,
        ))
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(state)
}

/// Prometheus metrics, for admin tokens.
async fn metrics(principal: auth::Principal) -> Result<String, ApiError> {
    principal.require_admin()?;
    Ok(switchyard_telemetry::metrics().render())
}
