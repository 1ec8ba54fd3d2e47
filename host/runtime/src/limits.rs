//! Sandbox limits: what one connector call may use.

use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;
use std::time::Duration;

/// Limits applied to every call of a connector. Configurable per connector;
/// the defaults are safe for untrusted code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxLimits {
    /// Largest linear memory an instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock budget of one call, in milliseconds, host calls included.
    pub time_budget_ms: u64,
    /// Largest `data` of one record, in bytes.
    pub max_record_bytes: usize,
    /// Largest sum of the records' `data` in one page, in bytes.
    pub max_page_bytes: usize,
    /// Largest body of one outbound HTTP response, in bytes.
    pub max_response_bytes: usize,
    /// Largest cursor, in bytes.
    pub max_cursor_bytes: usize,
    /// Largest record id, in bytes.
    pub max_id_bytes: usize,
    /// Log lines kept per call; more are counted and dropped.
    pub max_log_lines: u32,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            memory_bytes: 64 << 20,
            time_budget_ms: 30_000,
            max_record_bytes: 1 << 20,
            max_page_bytes: 32 << 20,
            max_response_bytes: 32 << 20,
            max_cursor_bytes: 64 << 10,
            max_id_bytes: 512,
            max_log_lines: 1000,
        }
    }
}

/// A limit outside its accepted range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {reason}")]
pub struct LimitsError {
    /// The offending field of [`SandboxLimits`].
    pub field: &'static str,
    /// What is wrong with it, with the accepted range.
    pub reason: String,
}

impl SandboxLimits {
    /// Smallest memory cap: a Rust guest's stack and data alone take about
    /// 1.1 MiB, so less cannot run anything.
    pub const MEMORY_BYTES_MIN: usize = 2 << 20;
    /// Accepted wall-clock budgets, in milliseconds. Below a few epoch ticks
    /// the budget would be mostly rounding; above ten minutes one page holds
    /// a sandbox slot and a sync claim for too long.
    pub const TIME_BUDGET_MS: RangeInclusive<u64> = 50..=600_000;
    /// Accepted record sizes, in bytes.
    pub const MAX_RECORD_BYTES: RangeInclusive<usize> = 1 << 10..=16 << 20;
    /// Accepted page sizes, in bytes (and never below the record size).
    pub const MAX_PAGE_BYTES: RangeInclusive<usize> = 1 << 10..=256 << 20;
    /// Accepted outbound response sizes, in bytes.
    pub const MAX_RESPONSE_BYTES: RangeInclusive<usize> = 1 << 10..=256 << 20;
    /// Accepted cursor sizes, in bytes.
    pub const MAX_CURSOR_BYTES: RangeInclusive<usize> = 64..=1 << 20;
    /// Accepted record id sizes, in bytes.
    pub const MAX_ID_BYTES: RangeInclusive<usize> = 16..=4096;
    /// Accepted log line counts per call.
    pub const MAX_LOG_LINES: RangeInclusive<u32> = 0..=100_000;

    /// The wall-clock budget of one call.
    pub fn time_budget(&self) -> Duration {
        Duration::from_millis(self.time_budget_ms)
    }

    /// Checks every limit against its accepted range. `max_memory_bytes` is
    /// the runtime's pool slot size ([`RuntimeConfig::max_memory_bytes`]):
    /// no connector may be given more memory than a slot holds.
    ///
    /// [`RuntimeConfig::max_memory_bytes`]: crate::RuntimeConfig::max_memory_bytes
    pub fn validate(&self, max_memory_bytes: usize) -> Result<(), LimitsError> {
        fn check<T: PartialOrd + std::fmt::Display>(
            field: &'static str,
            value: T,
            range: RangeInclusive<T>,
        ) -> Result<(), LimitsError> {
            if range.contains(&value) {
                Ok(())
            } else {
                Err(LimitsError {
                    field,
                    reason: format!(
                        "is {value}; it must be between {} and {}",
                        range.start(),
                        range.end()
                    ),
                })
            }
        }
        check(
            "memory_bytes",
            self.memory_bytes,
            Self::MEMORY_BYTES_MIN..=max_memory_bytes.max(Self::MEMORY_BYTES_MIN),
        )?;
        check("time_budget_ms", self.time_budget_ms, Self::TIME_BUDGET_MS)?;
        check(
            "max_record_bytes",
            self.max_record_bytes,
            Self::MAX_RECORD_BYTES,
        )?;
        check(
            "max_page_bytes",
            self.max_page_bytes,
            self.max_record_bytes.max(*Self::MAX_PAGE_BYTES.start())..=*Self::MAX_PAGE_BYTES.end(),
        )?;
        check(
            "max_response_bytes",
            self.max_response_bytes,
            Self::MAX_RESPONSE_BYTES,
        )?;
        check(
            "max_cursor_bytes",
            self.max_cursor_bytes,
            Self::MAX_CURSOR_BYTES,
        )?;
        check("max_id_bytes", self.max_id_bytes, Self::MAX_ID_BYTES)?;
        check("max_log_lines", self.max_log_lines, Self::MAX_LOG_LINES)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOT: usize = 256 << 20;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(SandboxLimits::default().validate(SLOT), Ok(()));
    }

    #[test]
    fn out_of_range_limits_are_named() {
        let field = |limits: SandboxLimits| limits.validate(SLOT).unwrap_err().field;
        let base = SandboxLimits::default();
        assert_eq!(
            field(SandboxLimits {
                memory_bytes: SLOT + 1,
                ..base
            }),
            "memory_bytes"
        );
        assert_eq!(
            field(SandboxLimits {
                memory_bytes: 1 << 20,
                ..base
            }),
            "memory_bytes"
        );
        assert_eq!(
            field(SandboxLimits {
                time_budget_ms: 0,
                ..base
            }),
            "time_budget_ms"
        );
        assert_eq!(
            field(SandboxLimits {
                time_budget_ms: 3_600_000,
                ..base
            }),
            "time_budget_ms"
        );
        // A page must hold at least one record of the largest size.
        assert_eq!(
            field(SandboxLimits {
                max_record_bytes: 2 << 20,
                max_page_bytes: 1 << 20,
                ..base
            }),
            "max_page_bytes"
        );
        assert_eq!(
            field(SandboxLimits {
                max_id_bytes: 1,
                ..base
            }),
            "max_id_bytes"
        );
        let error = SandboxLimits {
            time_budget_ms: 10,
            ..base
        }
        .validate(SLOT)
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "`time_budget_ms` is 10; it must be between 50 and 600000"
        );
    }

    #[test]
    fn partial_documents_take_defaults_and_unknown_fields_are_refused() {
        let limits: SandboxLimits = serde_json::from_str(r#"{"time_budget_ms": 500}"#).unwrap();
        assert_eq!(limits.time_budget_ms, 500);
        assert_eq!(limits.memory_bytes, SandboxLimits::default().memory_bytes);
        assert!(serde_json::from_str::<SandboxLimits>(r#"{"time_budget": 5}"#).is_err());
    }
}
