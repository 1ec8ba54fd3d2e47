//! Write [Switchyard](https://github.com/switchyard-dev/switchyard) connectors in Rust.
//!
//! A connector is a WebAssembly component that the Switchyard host loads and
//! runs in a sandbox. It describes itself, authenticates against a source
//! system (a CMMS, EAM or ERP) and pages through the changes of each model
//! (work orders, assets, locations…). The host schedules the syncs, stores the
//! records and cursors, and serves them over its API.
//!
//! With this crate you implement one trait, [`Connector`], and export it with
//! [`export_connector!`]. The SDK hides the generated WebAssembly bindings and
//! gives you:
//! - an HTTP client ([`http`]) whose requests the host performs, only to the
//!   hosts your connector declares,
//! - mapping of HTTP statuses to the [`Error`] cases the host acts on
//!   ([`http::Response::error_for_status`]),
//! - JSON helpers ([`Change::upsert`], [`http::Response::json`]),
//! - time helpers ([`time`]) and logging ([`info!`] and friends).
//!
//! # Example
//!
//! ```no_run
//! use switchyard_sdk::{
//!     AuthMethod, CallContext, Change, ChangePage, ChangeRequest, ConnectionConfig, Connector,
//!     ConnectorInfo, Error, Field, ModelInfo, Session, http, time,
//! };
//!
//! struct Example;
//!
//! impl Connector for Example {
//!     fn describe() -> ConnectorInfo {
//!         ConnectorInfo {
//!             id: "example".into(),
//!             name: "Example CMMS".into(),
//!             version: env!("CARGO_PKG_VERSION").into(),
//!             description: "Work orders from Example CMMS.".into(),
//!             auth: AuthMethod::Credentials(vec![Field::secret("api-key", "API key").required()]),
//!             settings: vec![Field::url("base-url", "Base URL").required()],
//!             models: vec![ModelInfo::new("work-orders", "Work orders")],
//!             allowed_hosts: vec!["{base-url}".into()],
//!         }
//!     }
//!
//!     fn authenticate(config: ConnectionConfig) -> Result<Session, Error> {
//!         // An API key needs no login: keep it as the session.
//!         let key = config.require_credential("api-key")?;
//!         Ok(Session { data: key.to_string(), expires_at: None })
//!     }
//!
//!     fn list_changes(context: CallContext, request: ChangeRequest) -> Result<ChangePage, Error> {
//!         let base = context.require_setting("base-url")?;
//!         let since = request.since.map(time::format_rfc3339).unwrap_or_default();
//!         let page: serde_json::Value = http::Request::get(format!("{base}/work-orders"))
//!             .query("modified_since", &since)
//!             .query("cursor", request.cursor.as_deref().unwrap_or(""))
//!             .bearer_auth(&context.session.data)
//!             .send()?
//!             .error_for_status()?
//!             .json()?;
//!         let mut changes = Vec::new();
//!         for item in page["items"].as_array().into_iter().flatten() {
//!             let id = item["id"].as_str().unwrap_or_default();
//!             changes.push(Change::upsert(id, None, item)?);
//!         }
//!         Ok(ChangePage {
//!             changes,
//!             cursor: page["next"].as_str().unwrap_or_default().to_string(),
//!             has_more: !page["next"].is_null(),
//!         })
//!     }
//! }
//!
//! switchyard_sdk::export_connector!(Example);
//! ```
//!
//! # Building
//!
//! A connector crate is a `cdylib`. On a machine whose rustup has the wasm
//! target (`rustup target add wasm32-unknown-unknown`), build it with the
//! component linker:
//!
//! ```text
//! cargo build --release --target wasm32-unknown-unknown
//! ```
//!
//! The Switchyard repository's `scripts/build-plugins` does the same with
//! Debian's toolchain and checks that the output is a component.
#![warn(missing_docs)]

pub mod http;
mod log;
pub mod time;
mod types;

pub use types::FieldValues;

#[doc(hidden)]
pub use log::write as __log_write;

/// The WebAssembly bindings generated from the Switchyard WIT contract.
///
/// Connector authors do not need these directly: use the re-exports at the
/// crate root and [`export_connector!`].
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "connector",
        with: {
            "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
            "wasi:http/types@0.2.12": wasip2::http::types,
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
            "wasi:clocks/wall-clock@0.2.12": wasip2::clocks::wall_clock,
            "wasi:random/random@0.2.12": wasip2::random::random,
        },
        pub_export_macro: true,
        default_bindings_module: "switchyard_sdk::bindings",
    });
}

pub use bindings::switchyard::connector::types::{
    AuthMethod, CallContext, Change, ChangePage, ChangeRequest, ConnectionConfig, ConnectorInfo,
    Cursor, Error, Field, FieldKind, FieldValue, ModelInfo, Oauth2, Operation, RateLimit, Session,
    Timestamp,
};

/// The log levels of [`log`](crate::log!), re-exported for the macros.
pub use bindings::switchyard::connector::log::Level;

/// A connector: implement this trait and export it with [`export_connector!`].
///
/// Every call runs in a fresh sandboxed instance. Keep no state between
/// calls: what a call needs comes in its arguments (settings, session,
/// cursor).
pub trait Connector: 'static {
    /// Describes the connector. Must not perform I/O: the host calls it when a
    /// version is installed, to validate it and to build the connect page.
    fn describe() -> ConnectorInfo;

    /// Checks the connection's settings and credentials against the source
    /// and returns a session. Return [`Error::Unauthorized`] for wrong
    /// credentials and [`Error::InvalidConfig`] for malformed settings.
    fn authenticate(config: ConnectionConfig) -> Result<Session, Error>;

    /// Renews a session that expired or that the source rejected. The default
    /// authenticates again with the stored credentials.
    fn refresh(config: ConnectionConfig, session: Session) -> Result<Session, Error> {
        let _ = session;
        Self::authenticate(config)
    }

    /// Returns one page of changes of `request.model`.
    ///
    /// - First page of an initial sync: `request.cursor` is `None` and
    ///   `request.since` is the start of the lookback window.
    /// - Later pages and incremental syncs: resume from `request.cursor`.
    ///
    /// Return at most `request.page_size` changes. The returned cursor must
    /// resume right after this page; when `has_more` is false it is where the
    /// next incremental sync starts.
    fn list_changes(context: CallContext, request: ChangeRequest) -> Result<ChangePage, Error>;
}

#[doc(hidden)]
pub mod __private {
    use super::*;
    use bindings::exports::switchyard::connector::source::Guest;
    use core::marker::PhantomData;

    /// Adapts a [`Connector`] to the generated export trait.
    pub struct Bridge<C>(PhantomData<C>);

    impl<C: Connector> Guest for Bridge<C> {
        fn describe() -> ConnectorInfo {
            C::describe()
        }

        fn authenticate(config: ConnectionConfig) -> Result<Session, Error> {
            C::authenticate(config)
        }

        fn refresh(config: ConnectionConfig, session: Session) -> Result<Session, Error> {
            C::refresh(config, session)
        }

        fn list_changes(context: CallContext, request: ChangeRequest) -> Result<ChangePage, Error> {
            C::list_changes(context, request)
        }
    }
}

/// Exports a [`Connector`] implementation as the component's entry points.
///
/// Use it once, at the root of the connector crate:
///
/// ```ignore
/// switchyard_sdk::export_connector!(MyConnector);
/// ```
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        type __SwitchyardExportedConnector = $crate::__private::Bridge<$connector>;
        $crate::bindings::export!(__SwitchyardExportedConnector with_types_in $crate::bindings);
    };
}
