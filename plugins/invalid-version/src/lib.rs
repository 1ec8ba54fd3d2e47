//! A connector that describes itself with a version that is not a semantic
//! version (`1.0`). The host must refuse to install it.

use switchyard_sdk::{
    AuthMethod, CallContext, ChangePage, ChangeRequest, ConnectionConfig, Connector, ConnectorInfo,
    Error, ModelInfo, Session,
};

struct InvalidVersion;

impl Connector for InvalidVersion {
    fn describe() -> ConnectorInfo {
        ConnectorInfo {
            id: "invalid-version".into(),
            name: "Invalid version".into(),
            version: "1.0".into(),
            description: "Describes itself with a malformed version.".into(),
            auth: AuthMethod::None,
            settings: vec![],
            models: vec![ModelInfo::new("items", "Nothing")],
            allowed_hosts: vec![],
        }
    }

    fn authenticate(_config: ConnectionConfig) -> Result<Session, Error> {
        Err(Error::permanent("never installed"))
    }

    fn list_changes(_context: CallContext, _request: ChangeRequest) -> Result<ChangePage, Error> {
        Err(Error::permanent("never installed"))
    }
}

switchyard_sdk::export_connector!(InvalidVersion);
