//! The one error type of the API, and its JSON envelope:
//! `{"error": {"code", "message", "request_id", "details"}}`.

use crate::request_id;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use switchyard_control::tokens::TokenRejection;
use switchyard_control::{ConnectError, ConnectionError, RegistryError, WebhookError};
use switchyard_store::StoreError;
use switchyard_sync::SyncError;
use utoipa::ToSchema;

/// An API error: status, stable code, a message that says what to do.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (see `docs/errors.md`).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Structured details (the field in error, the allowed range…).
    pub details: Option<Value>,
}

/// The error envelope.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": {"code": "token_invalid", "message": "The API token is not valid. Check that you copied it completely.", "request_id": "req_5f2b8c1e9a7d4c3b2a1f0e9d", "details": null}}))]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    #[schema(example = "token_invalid")]
    pub code: String,
    /// Human-readable message saying what to do.
    pub message: String,
    /// The request's ID, also in the `x-request-id` header and the logs.
    #[schema(example = "req_5f2b8c1e9a7d4c3b2a1f0e9d")]
    pub request_id: String,
    /// Structured details, when there are any.
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// Adds structured details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 400 `invalid_parameter` for a query or path parameter.
    pub fn invalid_parameter(name: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", message)
            .with_details(serde_json::json!({ "parameter": name }))
    }

    /// 404 `not_found`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// 500 `internal_error`: the cause goes to the log, not to the caller.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(request_id = %request_id::current(), "internal error: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side. Retry later; if it persists, contact support with the request ID.",
        )
    }

    /// 403 `insufficient_permissions`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "insufficient_permissions", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                request_id: request_id::current(),
                details: self.details,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        // Lets the request log and metrics see the code without parsing JSON.
        response.extensions_mut().insert(ErrorCode(self.code));
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The code of an error response, as a response extension.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl From<TokenRejection> for ApiError {
    fn from(rejection: TokenRejection) -> Self {
        let (code, message) = match rejection {
            TokenRejection::Missing => (
                "token_missing",
                "No API token was given. Send it as `Authorization: Bearer <token>`.",
            ),
            TokenRejection::Invalid => (
                "token_invalid",
                "The API token is not valid. Check that you copied it completely.",
            ),
            TokenRejection::Expired => (
                "token_expired",
                "The API token has expired. Issue a new one.",
            ),
            TokenRejection::Revoked => (
                "token_revoked",
                "The API token was revoked, for example because the connection was reconnected. Use the token issued by the reconnect.",
            ),
        };
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(&e)
    }
}

impl From<ConnectionError> for ApiError {
    fn from(e: ConnectionError) -> Self {
        match e {
            ConnectionError::NotFound(id) => ApiError::new(
                StatusCode::NOT_FOUND,
                "connection_not_found",
                format!("There is no connection `{id}`."),
            ),
            ConnectionError::Registry(e) => e.into(),
            ConnectionError::InvalidField { field, reason } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                format!("`{field}` {reason}."),
            )
            .with_details(serde_json::json!({ "field": field })),
            ConnectionError::Authentication(error) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "authentication_failed",
                format!("The source system did not accept the connection: {error}"),
            )
            .with_details(serde_json::json!({ "cause": error.code() })),
            ConnectionError::InvalidTransition { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "invalid_status_transition",
                format!("{e}. See docs/connections.md for the allowed transitions."),
            ),
            ConnectionError::WrongConnector { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "connector_mismatch", e.to_string())
            }
            ConnectionError::OAuth(e) => oauth_error(e),
            ConnectionError::Vault(e) => ApiError::internal(&e),
            ConnectionError::Store(e) => ApiError::internal(&e),
        }
    }
}

/// An OAuth step's failure, without provider text beyond its error code.
pub fn oauth_error(e: switchyard_control::oauth::OAuthError) -> ApiError {
    use switchyard_control::oauth::OAuthError;
    match e {
        OAuthError::Config(message) => {
            ApiError::new(StatusCode::CONFLICT, "oauth_not_configured", message)
        }
        OAuthError::Rejected(_) | OAuthError::Unavailable(_) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "oauth_failed",
            format!("The authorization could not be completed: {e}."),
        ),
        OAuthError::Vault(e) => ApiError::internal(&e),
        OAuthError::Store(e) => ApiError::internal(&e),
    }
}

impl From<ConnectError> for ApiError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Invalid(message) => {
                ApiError::new(StatusCode::BAD_REQUEST, "connect_code_invalid", message)
            }
            ConnectError::Rejected(message) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", message)
            }
            ConnectError::Connection(e) => e.into(),
            ConnectError::Vault(e) => ApiError::internal(&e),
            ConnectError::Store(e) => ApiError::internal(&e),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        let code = e.code();
        match e {
            WebhookError::NotFound(id) => ApiError::new(
                StatusCode::NOT_FOUND,
                code,
                format!("There is no webhook `{id}`."),
            ),
            WebhookError::DeliveryNotFound { webhook, delivery } => ApiError::new(
                StatusCode::NOT_FOUND,
                code,
                format!("Webhook `{webhook}` has no delivery `{delivery}`."),
            ),
            WebhookError::InvalidField { field, reason } => ApiError::new(
                StatusCode::BAD_REQUEST,
                code,
                format!("`{field}` {reason}."),
            )
            .with_details(serde_json::json!({ "field": field })),
            WebhookError::UnknownEventType(event_type) => ApiError::new(
                StatusCode::BAD_REQUEST,
                code,
                format!(
                    "`{event_type}` is not an event type. Use one of the known types, a group such as `sync.*`, or `*`."
                ),
            )
            .with_details(serde_json::json!({
                "event_type": event_type,
                "known": switchyard_control::webhooks::event_type_filters(),
            })),
            WebhookError::ConnectionNotFound(id) => ApiError::new(
                StatusCode::NOT_FOUND,
                code,
                format!("There is no connection `{id}`."),
            ),
            WebhookError::Disabled(id) => ApiError::new(
                StatusCode::CONFLICT,
                code,
                format!("Webhook `{id}` is disabled. Enable it (PATCH with {{\"enabled\": true}}) first."),
            ),
            WebhookError::InProgress(id) => ApiError::new(
                StatusCode::CONFLICT,
                code,
                format!("An attempt of delivery `{id}` is in progress. Try again when it has ended."),
            ),
            WebhookError::TooMany => ApiError::new(
                StatusCode::CONFLICT,
                code,
                format!(
                    "At most {} webhooks can be registered. Delete one, or widen the event types of an existing one.",
                    switchyard_control::webhooks::MAX_ENDPOINTS
                ),
            ),
            WebhookError::Vault(e) => ApiError::internal(&e),
            WebhookError::Store(e) => ApiError::internal(&e),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let status = match &e {
            RegistryError::Load(_) => StatusCode::UNPROCESSABLE_ENTITY,
            RegistryError::VersionExists { .. } => StatusCode::CONFLICT,
            RegistryError::UnknownConnector(_) | RegistryError::UnknownVersion { .. } => {
                StatusCode::NOT_FOUND
            }
            RegistryError::NothingToRollBack(_) => StatusCode::CONFLICT,
            RegistryError::InvalidLimits(limits) => {
                return ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string())
                    .with_details(serde_json::json!({ "field": limits.field }));
            }
            RegistryError::Store(e) => return ApiError::internal(e),
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        let code = e.code();
        match e {
            SyncError::AlreadyRunning { .. } => {
                ApiError::new(StatusCode::CONFLICT, code, e.to_string())
            }
            SyncError::NotSyncable {
                status: switchyard_store::model::ConnectionStatus::RequiresReauth,
                ..
            } => ApiError::new(
                StatusCode::UNAUTHORIZED,
                code,
                "The source system no longer accepts this connection's credentials, so its syncs are paused. Reconnect it: create a connect session with this connection_id (POST /v1/connect-sessions) and send the customer to its link. Stored records can still be read meanwhile.",
            ),
            SyncError::NotSyncable { .. } => {
                ApiError::new(StatusCode::CONFLICT, code, e.to_string())
            }
            SyncError::UnknownModel(_) => ApiError::new(StatusCode::NOT_FOUND, code, e.to_string()),
            SyncError::Connection(e) => e.into(),
            SyncError::Registry(e) => e.into(),
            SyncError::Store(e) => ApiError::internal(&e),
        }
    }
}
