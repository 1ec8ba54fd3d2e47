//! The host side of the `switchyard:connector` world: the one `bindgen!`.

mod generated {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "connector",
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "wasi:random": wasmtime_wasi::p2::bindings::random,
        },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        require_store_data_send: true,
    });
}

pub use generated::ConnectorPre;
pub use generated::switchyard::connector::{log, types};
