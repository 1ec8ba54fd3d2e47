//! Switchyard's HTTP API.
//!
//! [`router`] builds the whole API from an [`AppState`]: bearer-token auth on
//! every route but `/health`, a request ID on every response, one JSON error
//! envelope, and an OpenAPI document generated from the handlers and served
//! at `/openapi.json`.
#![warn(missing_docs)]

pub mod auth;
pub mod connect;
mod docs_page;
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
        (name = "connectors", description = "Connector versions (install, activate, roll back), their sandbox limits, and pins"),
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
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::records::router())
        .merge(routes::connections::router())
        .merge(routes::connectors::router())
        .merge(routes::logs::router())
        .merge(routes::lifecycle::router())
        .merge(routes::webhooks::router())
        .split_for_parts();
    add_standard_responses(&mut openapi);
    (router, openapi)
}

/// Documents the error responses every operation of a kind can give, so
/// handlers list only their own: 401/403 when it needs a token, 400 when it
/// takes parameters or a body, 404 when its path names a resource, 413/415
/// when it takes a body.
fn add_standard_responses(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in openapi.paths.paths.iter_mut() {
        let operations = [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        for operation in operations.into_iter().flatten() {
            let has_params = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let has_body = operation.request_body.is_some();
            let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let mut standard = Vec::new();
            if secured {
                standard.push(("401", "Missing, invalid, expired or revoked token (token_missing, token_invalid, token_expired, token_revoked)"));
                standard.push((
                    "403",
                    "The token may not do this (insufficient_permissions)",
                ));
            }
            if has_params || has_body {
                standard.push(("400", "A parameter or the body is invalid (invalid_parameter, invalid_cursor, invalid_body, invalid_field)"));
            }
            if path.contains('{') {
                standard.push(("404", "No such resource (see the error code)"));
            }
            if has_body {
                standard.push(("413", "The body is too large (payload_too_large)"));
                standard.push(("415", "The body's content type is not the documented one (invalid_body, unsupported_media_type)"));
            }
            for (status, description) in standard {
                operation
                    .responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| error(description));
            }
        }
    }
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let (routes, openapi) = api();
    let docs = docs_page::render(&serde_json::to_value(&openapi).expect("the document serializes"));
    let docs: Arc<str> = docs.into();
    let openapi = Arc::new(openapi);
    routes
        .route(
            "/docs",
            get(move || {
                let docs = docs.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_SECURITY_POLICY,
                            "default-src 'none'; style-src 'unsafe-inline'",
                        )],
                        axum::response::Html(docs.to_string()),
                    )
                }
            }),
        )
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
        .route("/metrics", get(metrics))
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
        // Innermost: a panicking handler still answers with the envelope,
        // its request ID and a log entry.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |panic: Box<dyn std::any::Any + Send>| {
                let cause = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("a panic");
                axum::response::IntoResponse::into_response(ApiError::internal(&format!(
                    "handler panicked: {cause}"
                )))
            },
        ))
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

#[cfg(test)]
mod tests {
    //! The OpenAPI document against the code: every route is in it, every
    //! operation shows examples.

    use serde_json::Value;
    use std::path::Path;

    /// Routes served outside the API document: probes, the document itself,
    /// metrics, and the browser-facing connect pages.
    const UNDOCUMENTED: [&str; 6] = [
        "/health",
        "/openapi.json",
        "/docs",
        "/metrics",
        "/connect/{connector}",
        "OAUTH_CALLBACK_PATH",
    ];

    fn document() -> Value {
        serde_json::to_value(super::api().1).unwrap()
    }

    #[test]
    fn the_documented_event_type_filters_are_the_accepted_ones() {
        let doc = document();
        let documented = &doc["components"]["schemas"]["EventTypeFilter"]["enum"];
        let accepted = switchyard_control::webhooks::event_type_filters();
        assert_eq!(documented, &serde_json::json!(accepted));
    }

    fn sources() -> Vec<(String, String)> {
        let mut files = Vec::new();
        let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    // Test code quotes the patterns it looks for.
                    let text = text.split("#[cfg(test)]").next().unwrap().to_string();
                    files.push((path.display().to_string(), text));
                }
            }
        }
        files
    }

    #[test]
    fn every_route_is_in_the_document() {
        let doc = document();
        let documented: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
        for (file, text) in sources() {
            // Routes added outside OpenApiRouter bypass the document.
            for (at, _) in text.match_indices(".route(") {
                let rest = text[at + 7..].trim_start();
                let path = match rest.strip_prefix('"') {
                    Some(quoted) => quoted.split('"').next().unwrap().to_string(),
                    None => rest.split([',', ')']).next().unwrap().trim().to_string(),
                };
                assert!(
                    UNDOCUMENTED.contains(&path.as_str()) || documented.contains(&&path),
                    "{file}: route {path} is not in the OpenAPI document; add it with #[utoipa::path] and routes!()"
                );
            }
            // Every documented handler is registered on a router.
            for (at, _) in text.match_indices("#[utoipa::path(") {
                let handler = text[at..]
                    .split("pub async fn ")
                    .nth(1)
                    .and_then(|rest| rest.split('(').next())
                    .unwrap();
                let registered = text.match_indices("routes!(").any(|(at, _)| {
                    text[at + 8..]
                        .split(')')
                        .next()
                        .unwrap()
                        .split(',')
                        .any(|name| name.trim() == handler)
                });
                assert!(registered, "{file}: {handler} is documented but not routed");
            }
        }
        // Every route module is merged into the API.
        let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
            .unwrap();
        let modules = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes/mod.rs"),
        )
        .unwrap();
        for module in modules.lines().filter_map(|l| l.strip_prefix("pub mod ")) {
            let module = module.trim_end_matches(';');
            assert!(
                lib.contains(&format!("routes::{module}::router()")),
                "routes::{module} is not merged"
            );
        }
    }

    /// Error codes in the host's sources: API errors, error types' `code()`
    /// methods, run failures.
    fn codes_in_sources() -> std::collections::BTreeSet<String> {
        let host = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut codes = std::collections::BTreeSet::new();
        let mut dirs = vec![host.to_path_buf()];
        let literal = |text: &str| -> Option<String> {
            let text = text.trim_start().strip_prefix('"')?;
            let code = text.split('"').next()?;
            (code.len() > 3 && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
                .then(|| code.to_string())
        };
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    if !path.ends_with("target") {
                        dirs.push(path);
                    }
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let text = text.split("#[cfg(test)]").next().unwrap();
                // `ApiError::new(StatusCode::X, "code", …)` and `Self::new(…)`.
                for marker in ["ApiError::new(", "Self::new(StatusCode"] {
                    for (at, _) in text.match_indices(marker) {
                        let call = &text[at..];
                        if let Some(code) = call.split_once(',').and_then(|(_, rest)| literal(rest))
                        {
                            codes.insert(code);
                        }
                    }
                }
                // `RunFailure::host("code", …)` and `.code = "code"`.
                for marker in ["RunFailure::host(", ".code = "] {
                    for (at, _) in text.match_indices(marker) {
                        if let Some(code) = literal(&text[at + marker.len()..]) {
                            codes.insert(code);
                        }
                    }
                }
                // The arms of `fn code(&self) -> &'static str` and the token
                // rejections' `(code, message)` pairs.
                for (at, _) in text.match_indices("fn code(&self) -> &'static str") {
                    let body = &text[at..];
                    let body = &body[..body.find("\n    }").unwrap_or(body.len())];
                    for (arm, _) in body.match_indices("=> ") {
                        if let Some(code) = literal(&body[arm + 3..]) {
                            codes.insert(code);
                        }
                    }
                }
                for (at, _) in text.match_indices("=> (\n") {
                    if let Some(code) = literal(&text[at + 5..]) {
                        codes.insert(code);
                    }
                }
            }
        }
        codes
    }

    #[test]
    fn every_error_code_is_in_the_catalog() {
        let catalog = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/errors.md"),
        )
        .unwrap();
        let codes = codes_in_sources();
        for expected in [
            "token_missing",
            "plugin_timeout",
            "route_not_found",
            "insufficient_permissions",
        ] {
            assert!(
                codes.contains(expected),
                "the scan missed {expected}: {codes:?}"
            );
        }
        let missing: Vec<&String> = codes
            .iter()
            .filter(|code| !catalog.contains(&format!("`{code}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "codes missing from docs/errors.md: {missing:?}"
        );
    }

    #[test]
    fn every_operation_has_examples() {
        let doc = document();
        let mut operations = 0;
        let mut missing = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                operations += 1;
                let name = format!("{} {path}", method.to_uppercase());
                assert!(operation["summary"].is_string(), "{name} has no summary");
                if let Some(content) = operation["requestBody"]["content"].as_object() {
                    for (media_type, media) in content {
                        if media_type == "application/json"
                            && super::docs_page::example(&doc, media).is_none()
                        {
                            missing.push(format!("{name}: request body"));
                        }
                    }
                }
                let responses = operation["responses"].as_object().unwrap();
                let success = responses
                    .iter()
                    .find(|(status, _)| status.starts_with('2'))
                    .unwrap_or_else(|| panic!("{name} has no success response"));
                if let Some(media) = success.1["content"]
                    .as_object()
                    .and_then(|c| c.get("application/json"))
                    && super::docs_page::example(&doc, media).is_none()
                {
                    missing.push(format!("{name}: {} response", success.0));
                }
                for (status, response) in responses {
                    if !status.starts_with('2') {
                        let media = &response["content"]["application/json"];
                        assert!(
                            media["schema"]["$ref"]
                                .as_str()
                                .is_some_and(|r| r.ends_with("/ErrorBody")),
                            "{name}: {status} does not use the error envelope"
                        );
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "operations without examples:\n{}",
            missing.join("\n")
        );
        assert!(operations >= 30, "only {operations} operations");
    }
}
