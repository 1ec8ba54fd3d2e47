//! Sandbox limits: what one connector call may use.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Limits applied to every call of a connector. Configurable per connector;
/// the defaults are safe for untrusted code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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

impl SandboxLimits {
    /// The wall-clock budget of one call.
    pub fn time_budget(&self) -> Duration {
        Duration::from_millis(self.time_budget_ms)
    }
}
