//! API tokens: 256 random bits, recognisable by their prefix, stored only as
//! a SHA-256 hash, scoped to one connection (or admin).

use crate::vault::random_bytes;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use switchyard_store::model::{ApiToken, Millis, Scope, now_ms};
use switchyard_store::{Store, StoreError};

/// Prefix of connection tokens.
pub const CONNECTION_PREFIX: &str = "sy_conn_";
/// Prefix of admin tokens.
pub const ADMIN_PREFIX: &str = "sy_admin_";

/// Why a presented token was refused. Each case maps to one API error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// No token was presented.
    #[error("token_missing")]
    Missing,
    /// The token is malformed or unknown.
    #[error("token_invalid")]
    Invalid,
    /// The token's expiry passed.
    #[error("token_expired")]
    Expired,
    /// The token was revoked (for example by a reconnect).
    #[error("token_revoked")]
    Revoked,
}

/// A token as issued: the secret is shown once and never stored.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The secret, to hand to the caller once.
    pub secret: String,
    /// What is stored about it.
    pub token: ApiToken,
}

/// Issues, checks and revokes tokens.
#[derive(Debug, Clone)]
pub struct Tokens {
    store: Arc<Store>,
}

/// Makes a new token without storing it, for writes that store it together
/// with other changes ([`Store::write_control`](switchyard_store::Store::write_control)).
pub fn mint(
    connection_id: Option<&str>,
    scopes: Vec<Scope>,
    expires_at: Option<Millis>,
) -> IssuedToken {
    let prefix = if connection_id.is_some() {
        CONNECTION_PREFIX
    } else {
        ADMIN_PREFIX
    };
    let secret = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()));
    let token = ApiToken {
        id: format!("tok_{}", hex::encode(random_bytes::<8>())),
        hash: hash_secret(&secret),
        display_prefix: secret[..prefix.len() + 4].to_string(),
        connection_id: connection_id.map(str::to_string),
        scopes,
        created_at: now_ms(),
        expires_at,
        revoked_at: None,
        revoked_reason: None,
    };
    IssuedToken { secret, token }
}

/// SHA-256 of a token secret, hex: its storage key.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Tokens {
    /// Token operations over `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Tokens { store }
    }

    /// Issues a token for `connection_id` (or an admin token when `None`).
    pub fn issue(
        &self,
        connection_id: Option<&str>,
        scopes: Vec<Scope>,
        expires_at: Option<Millis>,
    ) -> Result<IssuedToken, StoreError> {
        let issued = mint(connection_id, scopes, expires_at);
        self.store.put_token(&issued.token)?;
        Ok(issued)
    }

    /// Checks a presented secret.
    pub fn authenticate(&self, secret: Option<&str>) -> Result<ApiToken, TokenCheckError> {
        let secret = secret.map(str::trim).filter(|s| !s.is_empty());
        let secret = secret.ok_or(TokenRejection::Missing)?;
        if !(secret.starts_with(CONNECTION_PREFIX) || secret.starts_with(ADMIN_PREFIX))
            || secret.len() > 128
        {
            return Err(TokenRejection::Invalid.into());
        }
        let token = self
            .store
            .get_token(&hash_secret(secret))?
            .ok_or(TokenRejection::Invalid)?;
        if token.revoked_at.is_some() {
            return Err(TokenRejection::Revoked.into());
        }
        if token.expires_at.is_some_and(|at| at <= now_ms()) {
            return Err(TokenRejection::Expired.into());
        }
        Ok(token)
    }

    /// Revokes every live token of a connection; returns how many.
    pub fn revoke_connection_tokens(
        &self,
        connection_id: &str,
        reason: &str,
    ) -> Result<usize, StoreError> {
        let revoked = self.revocations(connection_id, reason)?;
        for token in &revoked {
            self.store.put_token(token)?;
        }
        Ok(revoked.len())
    }

    /// Every live token of a connection, marked revoked but not yet stored,
    /// for writes that store the revocation with other changes.
    pub fn revocations(
        &self,
        connection_id: &str,
        reason: &str,
    ) -> Result<Vec<ApiToken>, StoreError> {
        let now = now_ms();
        Ok(self
            .store
            .list_tokens()?
            .into_iter()
            .filter(|t| t.connection_id.as_deref() == Some(connection_id) && t.revoked_at.is_none())
            .map(|mut token| {
                token.revoked_at = Some(now);
                token.revoked_reason = Some(reason.to_string());
                token
            })
            .collect())
    }

    /// Revokes one token by id; false when no such live token exists.
    pub fn revoke(&self, token_id: &str, reason: &str) -> Result<bool, StoreError> {
        for mut token in self.store.list_tokens()? {
            if token.id == token_id && token.revoked_at.is_none() {
                token.revoked_at = Some(now_ms());
                token.revoked_reason = Some(reason.to_string());
                self.store.put_token(&token)?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether any live admin token exists.
    pub fn has_admin_token(&self) -> Result<bool, StoreError> {
        Ok(self
            .store
            .list_tokens()?
            .iter()
            .any(|t| t.connection_id.is_none() && t.revoked_at.is_none()))
    }

    /// Makes sure `secret` is a valid admin token (for a token given in
    /// configuration); stores its hash if it is new.
    pub fn ensure_admin_secret(&self, secret: &str) -> Result<(), StoreError> {
        let hash = hash_secret(secret);
        if self.store.get_token(&hash)?.is_some() {
            return Ok(());
        }
        let token = ApiToken {
            id: format!("tok_{}", hex::encode(random_bytes::<8>())),
            display_prefix: secret.chars().take(ADMIN_PREFIX.len() + 4).collect(),
            hash,
            connection_id: None,
            scopes: vec![Scope::Admin],
            created_at: now_ms(),
            expires_at: None,
            revoked_at: None,
            revoked_reason: None,
        };
        self.store.put_token(&token)
    }
}

/// A token check that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum TokenCheckError {
    /// The token was refused.
    #[error(transparent)]
    Rejected(#[from] TokenRejection),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> (tempfile::TempDir, Tokens) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        (dir, Tokens::new(store))
    }

    fn rejection(result: Result<ApiToken, TokenCheckError>) -> TokenRejection {
        match result {
            Err(TokenCheckError::Rejected(r)) => r,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn issued_tokens_authenticate_and_are_stored_hashed() {
        let (_dir, tokens) = tokens();
        let issued = tokens
            .issue(Some("conn_a"), vec![Scope::Read], None)
            .unwrap();
        assert!(issued.secret.starts_with(CONNECTION_PREFIX));
        assert!(issued.secret.len() >= CONNECTION_PREFIX.len() + 43);
        assert_ne!(issued.token.hash, issued.secret);
        let token = tokens.authenticate(Some(&issued.secret)).unwrap();
        assert_eq!(token.connection_id.as_deref(), Some("conn_a"));
    }

    #[test]
    fn every_rejection_has_its_reason() {
        let (_dir, tokens) = tokens();
        assert_eq!(
            rejection(tokens.authenticate(None)),
            TokenRejection::Missing
        );
        assert_eq!(
            rejection(tokens.authenticate(Some("nope"))),
            TokenRejection::Invalid
        );
        assert_eq!(
            rejection(tokens.authenticate(Some("sy_conn_unknown"))),
            TokenRejection::Invalid
        );
        let expired = tokens
            .issue(Some("c"), vec![Scope::Read], Some(now_ms() - 1))
            .unwrap();
        assert_eq!(
            rejection(tokens.authenticate(Some(&expired.secret))),
            TokenRejection::Expired
        );
        let live = tokens.issue(Some("c"), vec![Scope::Read], None).unwrap();
        assert_eq!(
            tokens.revoke_connection_tokens("c", "reconnected").unwrap(),
            2
        );
        assert_eq!(
            rejection(tokens.authenticate(Some(&live.secret))),
            TokenRejection::Revoked
        );
    }

    #[test]
    fn configured_admin_secret_is_accepted() {
        let (_dir, tokens) = tokens();
        assert!(!tokens.has_admin_token().unwrap());
        tokens
            .ensure_admin_secret("sy_admin_configured-secret-value")
            .unwrap();
        tokens
            .ensure_admin_secret("sy_admin_configured-secret-value")
            .unwrap();
        let token = tokens
            .authenticate(Some("sy_admin_configured-secret-value"))
            .unwrap();
        assert_eq!(token.scopes, [Scope::Admin]);
        assert!(tokens.has_admin_token().unwrap());
    }
}
