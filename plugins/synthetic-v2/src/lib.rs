//! The synthetic connector at version 1.1.0: see the `synthetic` crate.

synthetic::synthetic_connector!(env!("CARGO_PKG_VERSION"));
