//! Extractors whose rejections use the API's error envelope.

use crate::error::ApiError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;

/// Query parameters; malformed ones are a 400 `invalid_parameter`.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Path parameters; malformed ones are a 400 `invalid_parameter`.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// A JSON object body; anything else is a 400 `invalid_body` (415 without
/// the JSON content type, 413 over the size limit).
///
/// Only objects: serde would otherwise accept `[null, null]` for a struct
/// of two optional fields, quietly reading a malformed request.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) =
            axum::Json::<serde_json::Value>::from_request(request, state).await?;
        if !value.is_object() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "The request body must be a JSON object.",
            ));
        }
        serde_json::from_value(value).map(Json).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!(
                    "The request body is invalid: {}",
                    without_values(&e.to_string())
                ),
            )
        })
    }
}

/// A serde message without the submitted value it quotes ("invalid type:
/// string `hunter2`, expected …"): a body may carry credentials, and the
/// message goes back to the caller and into the request log. Field names,
/// which serde also quotes, stay.
fn without_values(message: &str) -> String {
    for kind in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(at) = message.find(kind) {
            let rest = &message[at + kind.len()..];
            if let (Some(open), Some(close)) = (rest.find('`'), rest.rfind('`'))
                && open < close
            {
                return format!(
                    "{}{kind}{}(value not shown){}",
                    &message[..at],
                    &rest[..open],
                    &rest[close + 1..]
                );
            }
        }
    }
    message.to_string()
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("A query parameter is invalid: {}", rejection.body_text()),
        )
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("A path parameter is invalid: {}", rejection.body_text()),
        )
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = match &rejection {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            // Over the limit, or the body could not be read at all.
            JsonRejection::BytesRejection(inner) => inner.status(),
            _ => StatusCode::BAD_REQUEST,
        };
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(
                status,
                "payload_too_large",
                "The request body is over the size limit.".to_string(),
            );
        }
        ApiError::new(
            status,
            "invalid_body",
            format!("The request body is invalid: {}", rejection.body_text()),
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn submitted_values_are_not_echoed() {
        let message = super::without_values("invalid type: string `hunter2`, expected u32");
        assert_eq!(
            message,
            "invalid type: string (value not shown), expected u32"
        );
        let unknown = "unknown field `pasword`, expected one of `password`";
        assert_eq!(super::without_values(unknown), unknown);
    }
}
