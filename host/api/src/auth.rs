//! Who is calling: the bearer token, checked on every request.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use switchyard_control::tokens::TokenCheckError;
use switchyard_store::model::{ApiToken, Scope};

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token presented.
    pub token: ApiToken,
}

impl Principal {
    /// Whether the caller holds an admin token.
    pub fn is_admin(&self) -> bool {
        self.token.scopes.contains(&Scope::Admin)
    }

    /// Only admin tokens pass.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "This operation needs an admin token; connection tokens cannot use it.",
            ))
        }
    }

    /// Admin tokens, and tokens of `connection_id` with `scope`, pass.
    pub fn require_connection(&self, connection_id: &str, scope: Scope) -> Result<(), ApiError> {
        if self.is_admin() {
            return Ok(());
        }
        if self.token.connection_id.as_deref() != Some(connection_id) {
            return Err(ApiError::forbidden(
                "This token belongs to another connection and cannot access this one.",
            ));
        }
        if !self.token.scopes.contains(&scope) {
            return Err(ApiError::forbidden(format!(
                "This token lacks the `{}` scope.",
                serde_json::to_value(scope)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            )));
        }
        Ok(())
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("\u{0}"));
        let secret = match header {
            None => None,
            Some(value) => match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Some(token),
                // A header that is there but not a bearer token is an
                // invalid token, not a missing one.
                _ => Some("\u{0}"),
            },
        };
        let token = match state.tokens.authenticate(secret) {
            Ok(token) => token,
            Err(TokenCheckError::Rejected(rejection)) => return Err(rejection.into()),
            Err(TokenCheckError::Store(e)) => return Err(e.into()),
        };
        let principal = Principal { token };
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}
