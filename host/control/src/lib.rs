//! Switchyard's control plane: what the sync engine and the API act on.
//!
//! - [`Registry`]: connector versions by content hash, the active version per
//!   connector, atomic activation and rollback.
//! - [`Connections`]: connections with their settings, credentials and
//!   sessions sealed by the [`Vault`].
//! - [`Tokens`]: API tokens, stored only as hashes.
//! - [`status`]: the connection status machine; [`events`]: the event log.
//! - [`ConnectSessions`]: hosted connect flow sessions and one-time codes.
//! - [`oauth`]: the OAuth 2.0 authorization code flow run by the host.
//! - [`Webhooks`]: webhook endpoints, the delivery outbox and its dispatcher.
#![warn(missing_docs)]

pub mod connect;
pub mod connections;
pub mod events;
pub mod health;
pub mod oauth;
pub mod registry;
pub mod request_log;
pub mod status;
pub mod tokens;
pub mod vault;
pub mod webhooks;

pub use connect::{ConnectError, ConnectSession, ConnectSessions};
pub use connections::{
    Authenticated, ConnectionError, ConnectionSecrets, Connections, NewConnection,
};
pub use events::Events;
pub use registry::{Activation, Installed, LimitsRecord, Registry, RegistryError, VersionRecord};
pub use request_log::RequestLog;
pub use tokens::{IssuedToken, TokenRejection, Tokens};
pub use vault::Vault;
pub use webhooks::{WebhookConfig, WebhookError, Webhooks};
