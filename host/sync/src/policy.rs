//! The retry policy: what a run does about each kind of failure. The host
//! acts on the error case, never on its text.

use std::time::Duration;
use switchyard_runtime::CallError;
use switchyard_runtime::types::ConnectorError;

/// Retry settings.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per page for transient failures, the first included.
    pub max_attempts: u32,
    /// First backoff delay; doubles on each attempt.
    pub base_delay: Duration,
    /// Longest backoff delay.
    pub max_delay: Duration,
    /// Longest wait honoured for a rate limit's `Retry-After`.
    pub max_retry_after: Duration,
    /// Wait for a rate limit that gave no `Retry-After`.
    pub default_retry_after: Duration,
    /// Rate-limit waits per page before giving up.
    pub max_rate_limit_waits: u32,
    /// Attempts per page for calls that ran out of their time budget, the
    /// first included. Kept apart from `max_attempts`: a budget is long
    /// (30 s by default), a connector stuck in a loop is stuck again on
    /// every attempt, and each attempt holds a sandbox slot for the whole
    /// budget (see docs/decisions.md).
    pub max_timeout_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(300),
            default_retry_after: Duration::from_secs(5),
            max_rate_limit_waits: 20,
            max_timeout_attempts: 2,
        }
    }
}

/// What to do about a failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Wait, then try the same call again.
    Retry(Duration),
    /// Renew the session, then try again; if that fails the connection needs
    /// reauthorization.
    Refresh,
    /// The cursor is unusable: restart the model with an initial sync.
    RestartInitial,
    /// Stop the run.
    Fail(Outcome),
}

/// How a failed run affects its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Only this run failed.
    RunFailed,
    /// The account lacks a permission: the connection is degraded.
    Forbidden,
    /// The configuration is wrong: the connection is in error.
    ConfigError,
}

/// How many times each kind of failure has happened on the current page.
#[derive(Debug, Clone, Default)]
pub struct Attempts {
    /// Transient failures so far.
    pub transient: u32,
    /// Rate-limit waits so far.
    pub rate_limited: u32,
    /// Calls that ran out of their time budget so far.
    pub timeouts: u32,
    /// Whether the session was already refreshed for this page.
    pub refreshed: bool,
    /// Whether the cursor was already reset in this run.
    pub restarted: bool,
}

impl RetryPolicy {
    /// Decides what to do about `error`, given what already happened.
    pub fn decide(&self, error: &CallError, attempts: &mut Attempts) -> Action {
        match error {
            CallError::Connector(ConnectorError::Unauthorized(_)) => {
                if attempts.refreshed {
                    Action::Fail(Outcome::RunFailed)
                } else {
                    attempts.refreshed = true;
                    Action::Refresh
                }
            }
            CallError::Connector(ConnectorError::Forbidden(_)) => Action::Fail(Outcome::Forbidden),
            CallError::Connector(ConnectorError::RateLimited(limit)) => {
                attempts.rate_limited += 1;
                if attempts.rate_limited > self.max_rate_limit_waits {
                    return Action::Fail(Outcome::RunFailed);
                }
                let wait = limit
                    .retry_after_ms
                    .map_or(self.default_retry_after, Duration::from_millis);
                Action::Retry(wait.min(self.max_retry_after))
            }
            CallError::Connector(ConnectorError::CursorExpired(_)) => {
                if attempts.restarted {
                    Action::Fail(Outcome::RunFailed)
                } else {
                    attempts.restarted = true;
                    Action::RestartInitial
                }
            }
            CallError::Connector(ConnectorError::InvalidConfig(_)) => {
                Action::Fail(Outcome::ConfigError)
            }
            CallError::Timeout { .. } => {
                attempts.timeouts += 1;
                if attempts.timeouts >= self.max_timeout_attempts {
                    Action::Fail(Outcome::RunFailed)
                } else {
                    Action::Retry(self.backoff(attempts.timeouts))
                }
            }
            CallError::Connector(ConnectorError::Transient(_)) | CallError::Capacity => {
                attempts.transient += 1;
                if attempts.transient >= self.max_attempts {
                    Action::Fail(Outcome::RunFailed)
                } else {
                    Action::Retry(self.backoff(attempts.transient))
                }
            }
            // Deterministic failures: the same call would fail the same way.
            CallError::Connector(ConnectorError::Permanent(_))
            | CallError::MemoryLimit { .. }
            | CallError::Trap(_)
            | CallError::InvalidOutput(_)
            | CallError::PageTooLarge(_)
            | CallError::HostNotAllowed { .. }
            | CallError::ResponseTooLarge { .. }
            | CallError::Instantiate(_) => Action::Fail(Outcome::RunFailed),
        }
    }

    /// Exponential backoff with full jitter: a random wait between half and
    /// all of `base · 2^(attempt-1)`, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let ceiling = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        let jitter = rand::random::<f64>() * 0.5 + 0.5;
        ceiling.mul_f64(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_runtime::types::RateLimit;

    fn connector(error: ConnectorError) -> CallError {
        CallError::Connector(error)
    }

    #[test]
    fn unauthorized_refreshes_once_then_fails() {
        let policy = RetryPolicy::default();
        let mut attempts = Attempts::default();
        let error = connector(ConnectorError::Unauthorized("401".into()));
        assert_eq!(policy.decide(&error, &mut attempts), Action::Refresh);
        assert_eq!(
            policy.decide(&error, &mut attempts),
            Action::Fail(Outcome::RunFailed)
        );
    }

    #[test]
    fn rate_limits_honour_retry_after_with_a_cap() {
        let policy = RetryPolicy::default();
        let mut attempts = Attempts::default();
        let limited = |ms| {
            connector(ConnectorError::RateLimited(RateLimit {
                retry_after_ms: ms,
                message: String::new(),
            }))
        };
        assert_eq!(
            policy.decide(&limited(Some(1500)), &mut attempts),
            Action::Retry(Duration::from_millis(1500))
        );
        assert_eq!(
            policy.decide(&limited(Some(10_000_000)), &mut attempts),
            Action::Retry(policy.max_retry_after)
        );
        assert_eq!(
            policy.decide(&limited(None), &mut attempts),
            Action::Retry(policy.default_retry_after)
        );
    }

    #[test]
    fn transient_errors_back_off_then_give_up() {
        let policy = RetryPolicy::default();
        let mut attempts = Attempts::default();
        let error = connector(ConnectorError::Transient("503".into()));
        for attempt in 1..policy.max_attempts {
            match policy.decide(&error, &mut attempts) {
                Action::Retry(wait) => {
                    let ceiling = policy.base_delay * (1 << (attempt - 1));
                    assert!(
                        wait <= ceiling.min(policy.max_delay)
                            && wait >= ceiling.min(policy.max_delay) / 2
                    );
                }
                other => panic!("attempt {attempt}: {other:?}"),
            }
        }
        assert_eq!(
            policy.decide(&error, &mut attempts),
            Action::Fail(Outcome::RunFailed)
        );
    }

    #[test]
    fn each_case_has_its_action() {
        let policy = RetryPolicy::default();
        let decide = |error| policy.decide(&error, &mut Attempts::default());
        assert_eq!(
            decide(connector(ConnectorError::Forbidden(String::new()))),
            Action::Fail(Outcome::Forbidden)
        );
        assert_eq!(
            decide(connector(ConnectorError::InvalidConfig(String::new()))),
            Action::Fail(Outcome::ConfigError)
        );
        assert_eq!(
            decide(connector(ConnectorError::CursorExpired(String::new()))),
            Action::RestartInitial
        );
        assert_eq!(
            decide(connector(ConnectorError::Permanent(String::new()))),
            Action::Fail(Outcome::RunFailed)
        );
        assert_eq!(
            decide(CallError::Trap("x".into())),
            Action::Fail(Outcome::RunFailed)
        );
        assert_eq!(
            decide(CallError::ResponseTooLarge { limit_bytes: 1 }),
            Action::Fail(Outcome::RunFailed)
        );
    }

    #[test]
    fn a_timeout_is_retried_once_then_fails() {
        let policy = RetryPolicy::default();
        let mut attempts = Attempts::default();
        let timeout = CallError::Timeout {
            budget: Duration::from_secs(30),
        };
        assert!(matches!(
            policy.decide(&timeout, &mut attempts),
            Action::Retry(wait) if wait <= policy.base_delay
        ));
        assert_eq!(
            policy.decide(&timeout, &mut attempts),
            Action::Fail(Outcome::RunFailed)
        );
        // Timeouts do not use up the transient attempts, nor the reverse.
        assert_eq!(attempts.transient, 0);
        let transient = CallError::Connector(ConnectorError::Transient("503".into()));
        assert!(matches!(
            policy.decide(&transient, &mut attempts),
            Action::Retry(_)
        ));
    }
}
