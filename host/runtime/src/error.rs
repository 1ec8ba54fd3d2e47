//! Errors of loading and calling connectors, each with a stable code.

use crate::bindings::types::Error as GuestError;
use std::time::Duration;

/// Why a connector component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a WebAssembly component (a core module, or garbage).
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// The component failed to compile or validate.
    #[error("the component does not compile: {0}")]
    Compile(String),
    /// The component imports something the sandbox does not provide, or does
    /// not export the `switchyard:connector/source` interface.
    #[error("the component does not implement the connector world: {0}")]
    WorldMismatch(String),
    /// `describe` failed or returned an invalid description.
    #[error("the connector's description is invalid: {0}")]
    InvalidDescription(String),
    /// Running `describe` failed.
    #[error("describe failed: {0}")]
    Describe(#[source] Box<CallError>),
    /// Reading or writing the compiled-artifact cache failed.
    #[error("artifact cache: {0}")]
    Cache(#[from] std::io::Error),
}

impl LoadError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::NotAComponent(_) => "component_invalid",
            LoadError::Compile(_) => "component_compile_failed",
            LoadError::WorldMismatch(_) => "component_world_mismatch",
            LoadError::InvalidDescription(_) | LoadError::Describe(_) => {
                "component_description_invalid"
            }
            LoadError::Cache(_) => "artifact_cache_failed",
        }
    }
}

/// How a connector call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The connector returned one of the contract's error cases.
    #[error("{}", describe_guest_error(.0))]
    Connector(GuestError),
    /// The call ran past its wall-clock budget and was interrupted.
    #[error("the connector exceeded its time budget of {budget:?}")]
    Timeout {
        /// The budget that was exceeded.
        budget: Duration,
    },
    /// The connector tried to grow its memory past the cap.
    #[error("the connector exceeded its memory cap of {cap_bytes} bytes")]
    MemoryLimit {
        /// The cap, in bytes.
        cap_bytes: usize,
    },
    /// The connector trapped: a panic, an `unreachable`, a stack overflow.
    #[error("the connector crashed: {0}")]
    Trap(String),
    /// The connector returned something the contract forbids.
    #[error("the connector returned invalid output: {0}")]
    InvalidOutput(String),
    /// The connector returned a page over its limits: more changes than
    /// asked for, or more bytes than `max_page_bytes` / `max_record_bytes`.
    #[error("the connector returned a page over its limits: {0}")]
    PageTooLarge(String),
    /// The connector tried to reach a host outside its allowlist and failed.
    #[error("the connector tried to reach `{host}`, which is not among its allowed hosts")]
    HostNotAllowed {
        /// The refused `host:port`.
        host: String,
    },
    /// An outbound response was larger than the connector's cap.
    #[error("a response from the source exceeded the connector's cap of {limit_bytes} bytes")]
    ResponseTooLarge {
        /// The cap, in bytes.
        limit_bytes: usize,
    },
    /// No instance slot was free: too many calls at once.
    #[error("no sandbox slot is free; try again shortly")]
    Capacity,
    /// Instantiation failed for another reason.
    #[error("the connector could not be instantiated: {0}")]
    Instantiate(String),
}

impl CallError {
    /// Stable machine-readable code, recorded on runs and used in API errors.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::Connector(e) => match e {
                GuestError::Unauthorized(_) => "source_unauthorized",
                GuestError::Forbidden(_) => "source_forbidden",
                GuestError::RateLimited(_) => "source_rate_limited",
                GuestError::Transient(_) => "source_unavailable",
                GuestError::CursorExpired(_) => "source_cursor_expired",
                GuestError::InvalidConfig(_) => "connection_invalid_config",
                GuestError::Permanent(_) => "source_request_failed",
            },
            CallError::Timeout { .. } => "plugin_timeout",
            CallError::MemoryLimit { .. } => "plugin_memory_limit",
            CallError::Trap(_) => "plugin_crashed",
            CallError::InvalidOutput(_) => "plugin_invalid_output",
            CallError::PageTooLarge(_) => "plugin_page_too_large",
            CallError::HostNotAllowed { .. } => "plugin_host_not_allowed",
            CallError::ResponseTooLarge { .. } => "plugin_response_too_large",
            CallError::Capacity => "plugin_capacity_exhausted",
            CallError::Instantiate(_) => "plugin_instantiation_failed",
        }
    }
}

fn describe_guest_error(error: &GuestError) -> String {
    match error {
        GuestError::Unauthorized(m) => format!("the source rejected the credentials: {m}"),
        GuestError::Forbidden(m) => format!("the source denied access: {m}"),
        GuestError::RateLimited(limit) => match limit.retry_after_ms {
            Some(ms) => format!(
                "rate limited by the source (retry after {ms} ms): {}",
                limit.message
            ),
            None => format!("rate limited by the source: {}", limit.message),
        },
        GuestError::Transient(m) => format!("the source is unavailable: {m}"),
        GuestError::CursorExpired(m) => format!("the sync cursor expired: {m}"),
        GuestError::InvalidConfig(m) => format!("the connection's configuration is invalid: {m}"),
        GuestError::Permanent(m) => format!("the request to the source failed: {m}"),
    }
}
