//! The smallest connector: it imports nothing from WASI (no HTTP, no
//! clocks, no random) and returns an empty page. The runtime benchmark uses
//! it to measure what the sandbox itself costs per call.

use switchyard_sdk::{
    AuthMethod, CallContext, ChangePage, ChangeRequest, ConnectionConfig, Connector, ConnectorInfo,
    Error, ModelInfo, Session,
};

struct Noop;

impl Connector for Noop {
    fn describe() -> ConnectorInfo {
        ConnectorInfo {
            id: "bench-noop".into(),
            name: "Benchmark no-op".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Returns empty pages without any I/O.".into(),
            auth: AuthMethod::None,
            settings: vec![],
            models: vec![ModelInfo::new("items", "Nothing")],
            allowed_hosts: vec![],
        }
    }

    fn authenticate(_config: ConnectionConfig) -> Result<Session, Error> {
        Ok(Session {
            data: String::new(),
            expires_at: None,
        })
    }

    fn list_changes(_context: CallContext, request: ChangeRequest) -> Result<ChangePage, Error> {
        Ok(ChangePage {
            changes: Vec::new(),
            cursor: request.cursor.unwrap_or_default(),
            has_more: false,
        })
    }
}

switchyard_sdk::export_connector!(Noop);
