//! The hot-swap test connector at version 1.0.0: see the `hot-swap` crate.

hot_swap::hot_swap_connector!(env!("CARGO_PKG_VERSION"));
