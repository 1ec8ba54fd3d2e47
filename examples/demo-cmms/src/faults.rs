//! Runtime fault injection for the source API.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a fault does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 with `Retry-After`.
    RateLimit,
    /// 500.
    ServerError,
    /// Waits `delay_ms`, then answers normally.
    Slow,
    /// 401 `invalid_token`, as if the session had been revoked.
    Unauthorized,
}

fn default_prefix() -> String {
    "/api/v1/".into()
}

fn one() -> u64 {
    1
}

fn default_delay() -> u64 {
    500
}

/// One configured fault, as sent to `PUT /admin/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// What the fault does.
    pub kind: FaultKind,
    /// Matches request paths starting with this.
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    /// Fires on every `every`-th matching request (≥ 1).
    #[serde(default = "one")]
    pub every: u64,
    /// Fires at most this many times; `None`: no limit.
    #[serde(default)]
    pub count: Option<u64>,
    /// `Retry-After` of `rate_limit`, in seconds.
    #[serde(default = "one")]
    pub retry_after_secs: u64,
    /// Delay of `slow`, in milliseconds.
    #[serde(default = "default_delay")]
    pub delay_ms: u64,
}

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer 429 with this `Retry-After`.
    RateLimit {
        /// Seconds.
        retry_after_secs: u64,
    },
    /// Answer 500.
    ServerError,
    /// Answer 401 `invalid_token`.
    Unauthorized,
    /// Wait, then answer normally.
    Slow(Duration),
}

/// A fault and how often it has matched and fired.
#[derive(Debug, Clone, Serialize)]
pub struct FaultState {
    /// The configuration.
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Requests whose path matched.
    pub matched: u64,
    /// Times it fired.
    pub fired: u64,
}

/// The active fault list.
#[derive(Debug, Default)]
pub struct Faults {
    active: Vec<FaultState>,
}

impl Faults {
    /// Replaces the fault list and resets the counters.
    pub fn replace(&mut self, specs: Vec<FaultSpec>) -> Result<(), String> {
        if let Some(bad) = specs.iter().position(|f| f.every == 0) {
            return Err(format!("faults[{bad}].every must be at least 1"));
        }
        self.active = specs
            .into_iter()
            .map(|spec| FaultState {
                spec,
                matched: 0,
                fired: 0,
            })
            .collect();
        Ok(())
    }

    /// Removes every fault.
    pub fn clear(&mut self) {
        self.active.clear();
    }

    /// The faults with their counters.
    pub fn list(&self) -> &[FaultState] {
        &self.active
    }

    /// Counts a source-API request against every fault whose prefix matches its path and
    /// returns what the first fault that is due does to it. Faults further down the list
    /// that were also due do not fire, and their `count` is not used up.
    pub fn on_request(&mut self, path: &str) -> Option<FaultAction> {
        let mut action = None;
        for f in &mut self.active {
            if !path.starts_with(&f.spec.path_prefix) {
                continue;
            }
            f.matched += 1;
            let due = f.matched % f.spec.every == 0 && f.spec.count.is_none_or(|max| f.fired < max);
            if due && action.is_none() {
                f.fired += 1;
                action = Some(match f.spec.kind {
                    FaultKind::RateLimit => FaultAction::RateLimit {
                        retry_after_secs: f.spec.retry_after_secs,
                    },
                    FaultKind::ServerError => FaultAction::ServerError,
                    FaultKind::Unauthorized => FaultAction::Unauthorized,
                    FaultKind::Slow => FaultAction::Slow(Duration::from_millis(f.spec.delay_ms)),
                });
            }
        }
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> FaultSpec {
        serde_json::from_str(json).unwrap()
    }

    fn fired(faults: &mut Faults, path: &str, n: usize) -> Vec<bool> {
        (0..n).map(|_| faults.on_request(path).is_some()).collect()
    }

    #[test]
    fn defaults() {
        let f = spec(r#"{"kind": "rate_limit"}"#);
        assert_eq!(
            (
                f.path_prefix.as_str(),
                f.every,
                f.count,
                f.retry_after_secs,
                f.delay_ms
            ),
            ("/api/v1/", 1, None, 1, 500)
        );
        assert!(serde_json::from_str::<FaultSpec>(r#"{"kind": "explode"}"#).is_err());
        assert!(serde_json::from_str::<FaultSpec>(r#"{"kind": "slow", "evry": 2}"#).is_err());
    }

    #[test]
    fn fires_on_every_nth_and_honours_count() {
        let mut faults = Faults::default();
        faults
            .replace(vec![spec(
                r#"{"kind": "server_error", "every": 3, "count": 2}"#,
            )])
            .unwrap();
        let pattern = fired(&mut faults, "/api/v1/assets", 12);
        let expected = [
            false, false, true, false, false, true, false, false, false, false, false, false,
        ];
        assert_eq!(pattern, expected);
        assert_eq!((faults.list()[0].matched, faults.list()[0].fired), (12, 2));
    }

    #[test]
    fn unlimited_and_prefix() {
        let mut faults = Faults::default();
        faults
            .replace(vec![spec(
                r#"{"kind": "rate_limit", "path_prefix": "/api/v1/work-orders", "retry_after_secs": 7}"#,
            )])
            .unwrap();
        assert_eq!(faults.on_request("/api/v1/assets"), None);
        assert_eq!(faults.on_request("/api/v1/auth/login"), None);
        for _ in 0..5 {
            assert_eq!(
                faults.on_request("/api/v1/work-orders"),
                Some(FaultAction::RateLimit {
                    retry_after_secs: 7
                })
            );
        }
        assert_eq!(faults.list()[0].matched, 5);
    }

    #[test]
    fn only_the_first_due_fault_fires() {
        let mut faults = Faults::default();
        faults
            .replace(vec![
                spec(r#"{"kind": "unauthorized", "every": 2}"#),
                spec(r#"{"kind": "slow", "delay_ms": 5}"#),
            ])
            .unwrap();
        let actions: Vec<_> = (0..4)
            .map(|_| faults.on_request("/api/v1/locations"))
            .collect();
        let slow = Some(FaultAction::Slow(Duration::from_millis(5)));
        let unauthorized = Some(FaultAction::Unauthorized);
        assert_eq!(actions, [slow, unauthorized, slow, unauthorized]);
        assert_eq!((faults.list()[1].matched, faults.list()[1].fired), (4, 2));
    }

    #[test]
    fn every_zero_is_rejected() {
        let mut faults = Faults::default();
        assert!(
            faults
                .replace(vec![spec(r#"{"kind": "slow", "every": 0}"#)])
                .is_err()
        );
        faults.replace(vec![spec(r#"{"kind": "slow"}"#)]).unwrap();
        faults.clear();
        assert_eq!(faults.on_request("/api/v1/assets"), None);
    }
}
