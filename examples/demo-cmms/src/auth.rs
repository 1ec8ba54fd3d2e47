//! Login sessions: bearer tokens that expire.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::Rng;

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// No token, or one the server never issued (or revoked).
    Invalid,
    /// A token whose session has expired.
    Expired,
}

/// The one user account and its live sessions.
#[derive(Debug)]
pub struct Sessions {
    username: String,
    password: String,
    ttl: Duration,
    /// token → expiry
    tokens: HashMap<String, Instant>,
}

/// Expired sessions are kept (so their tokens answer `token_expired`, not
/// `invalid_token`) until there are this many sessions; then they are dropped.
const PRUNE_AT: usize = 10_000;

impl Sessions {
    /// An account with no sessions yet.
    pub fn new(username: impl Into<String>, password: impl Into<String>, ttl: Duration) -> Self {
        Sessions {
            username: username.into(),
            password: password.into(),
            ttl,
            tokens: HashMap::new(),
        }
    }

    /// How long a new session lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Opens a session when the credentials match; returns its bearer token.
    pub fn login(&mut self, username: &str, password: &str, now: Instant) -> Option<String> {
        if username != self.username || password != self.password {
            return None;
        }
        if self.tokens.len() >= PRUNE_AT {
            self.tokens.retain(|_, &mut expiry| expiry > now);
        }
        let bytes: [u8; 32] = rand::rng().random();
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        // A TTL too large for Instant means "never expires" in practice.
        let expiry = now
            .checked_add(self.ttl)
            .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400));
        self.tokens.insert(token.clone(), expiry);
        Some(token)
    }

    /// Whether `token` names a live session at `now`.
    pub fn check(&self, token: &str, now: Instant) -> Result<(), TokenError> {
        match self.tokens.get(token) {
            None => Err(TokenError::Invalid),
            Some(&expiry) if now >= expiry => Err(TokenError::Expired),
            Some(_) => Ok(()),
        }
    }

    /// Changes the password and revokes every session; returns how many there were.
    pub fn set_password(&mut self, password: impl Into<String>) -> usize {
        self.password = password.into();
        let n = self.tokens.len();
        self.tokens.clear();
        n
    }

    /// Makes every session expired as of `now`; returns how many were still live.
    pub fn expire_all(&mut self, now: Instant) -> usize {
        let mut n = 0;
        for expiry in self.tokens.values_mut() {
            if *expiry > now {
                *expiry = now;
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_after_ttl() {
        let mut s = Sessions::new("admin", "secret", Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(s.login("admin", "wrong", t0), None);
        assert_eq!(s.login("root", "secret", t0), None);
        let token = s.login("admin", "secret", t0).unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(s.check(&token, t0), Ok(()));
        assert_eq!(s.check(&token, t0 + Duration::from_secs(59)), Ok(()));
        assert_eq!(
            s.check(&token, t0 + Duration::from_secs(60)),
            Err(TokenError::Expired)
        );
        assert_eq!(s.check("nope", t0), Err(TokenError::Invalid));
    }

    #[test]
    fn expire_all_and_password_change() {
        let mut s = Sessions::new("admin", "secret", Duration::from_secs(3600));
        let t0 = Instant::now();
        let a = s.login("admin", "secret", t0).unwrap();
        let b = s.login("admin", "secret", t0).unwrap();
        assert_ne!(a, b);
        assert_eq!(s.expire_all(t0), 2);
        assert_eq!(s.check(&a, t0), Err(TokenError::Expired));
        // A new login after expiry works.
        let c = s.login("admin", "secret", t0).unwrap();
        assert_eq!(s.check(&c, t0), Ok(()));
        assert_eq!(s.set_password("new"), 3);
        assert_eq!(s.check(&c, t0), Err(TokenError::Invalid));
        assert_eq!(s.login("admin", "secret", t0), None);
        assert!(s.login("admin", "new", t0).is_some());
    }

    #[test]
    fn zero_ttl_is_expired_at_once() {
        let mut s = Sessions::new("admin", "secret", Duration::ZERO);
        let t0 = Instant::now();
        let token = s.login("admin", "secret", t0).unwrap();
        assert_eq!(s.check(&token, t0), Err(TokenError::Expired));
    }
}
