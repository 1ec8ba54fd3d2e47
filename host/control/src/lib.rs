//! Switchyard's control plane: what the sync engine and the API act on.
//!
//! - [`Registry`]: connector versions by content hash, the active version per
//!   connector, atomic activation and rollback.
//! - [`Connections`]: connections with their settings, credentials and
//!   sessions sealed by the [`Vault`].
//! - [`Tokens`]: API tokens, stored only as hashes.
#![warn(missing_docs)]

pub mod connections;
pub mod registry;
pub mod request_log;
pub mod tokens;
pub mod vault;

pub use connections::{ConnectionError, ConnectionSecrets, Connections, NewConnection};
pub use registry::{Activation, Installed, LimitsRecord, Registry, RegistryError, VersionRecord};
pub use request_log::RequestLog;
pub use tokens::{IssuedToken, TokenRejection, Tokens};
pub use vault::Vault;
