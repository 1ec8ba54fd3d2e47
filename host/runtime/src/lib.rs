//! Switchyard's WebAssembly runtime.
//!
//! Connectors are WebAssembly components written by third parties against the
//! `switchyard:connector` WIT contract. This crate loads them and runs their
//! calls in a sandbox:
//!
//! - **One world, checked at load.** [`Runtime::load`] accepts only a
//!   component that implements the connector world and imports nothing but
//!   what the sandbox provides (`wasi:io`, `wasi:clocks`, `wasi:random`,
//!   `wasi:http` and the contract's `log`). There is no filesystem, no
//!   sockets, no environment to import.
//! - **A fresh instance per call**, from wasmtime's pooling allocator, with a
//!   memory cap ([`SandboxLimits::memory_bytes`]) and a wall-clock budget
//!   enforced by epoch interruption ([`SandboxLimits::time_budget_ms`]).
//! - **Outbound HTTP through the host**, only to the connection's
//!   [`Allowlist`], with per-source-host budgets, no redirects followed,
//!   response size caps, and every exchange reported to a [`CallObserver`]
//!   with secrets [redacted](redact).
//! - **Hostile output rejected**: pages, ids, cursors and sessions are checked
//!   against the request and the limits before anyone else sees them.
//!
//! ```no_run
//! # async fn run(wasm: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use switchyard_runtime::{CallEnv, Runtime, RuntimeConfig, SandboxLimits};
//!
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let connector = runtime.load(wasm).await?;
//! println!("{} {}", connector.info().id, connector.info().version);
//! let info = connector.describe(&CallEnv::new(SandboxLimits::default())).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod allowlist;
mod bindings;
mod component;
mod engine;
mod error;
mod limits;
mod outbound;
pub mod redact;
mod state;
mod validate;

pub use allowlist::{Allowlist, AllowlistError, authority_of_url};
pub use component::{CallEnv, ConnectorComponent};
pub use engine::{Runtime, RuntimeConfig, RuntimeError};
pub use error::{CallError, LoadError};
pub use limits::{LimitsError, SandboxLimits};
pub use outbound::{CallObserver, OutboundConfig, OutboundExchange};
pub use state::LogLevel;
pub use validate::is_kebab_case;

/// The contract's types, as the host sees them (generated from `wit/`).
pub mod types {
    pub use crate::bindings::types::{
        AuthMethod, CallContext, Change, ChangePage, ChangeRequest, ConnectionConfig,
        ConnectorInfo, Cursor, Error as ConnectorError, Field, FieldKind, FieldValue, ModelInfo,
        Oauth2, Operation, RateLimit, Session, Timestamp,
    };
}
