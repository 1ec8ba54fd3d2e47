//! A connector that makes up records instead of fetching them: `total` valid
//! `assets` records of about 200 bytes, in pages, with no network access. It
//! measures the host's ingest path without a source system in the way.

use std::fmt::Write as _;
use switchyard_sdk::{
    AuthMethod, CallContext, Change, ChangePage, ChangeRequest, ConnectionConfig, Connector,
    ConnectorInfo, Error, Field, ModelInfo, Session,
};

struct Synthetic;

/// Records made when the `total` setting is absent.
const DEFAULT_TOTAL: u64 = 100_000;

impl Connector for Synthetic {
    fn describe() -> ConnectorInfo {
        ConnectorInfo {
            id: "synthetic".into(),
            name: "Synthetic assets".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Makes up asset records without I/O, for benchmarks and tests.".into(),
            auth: AuthMethod::None,
            settings: vec![Field::number("total", "Records to make").default_value("100000")],
            models: vec![ModelInfo::new("assets", "Made-up assets")],
            allowed_hosts: vec![],
        }
    }

    fn authenticate(_config: ConnectionConfig) -> Result<Session, Error> {
        Ok(Session {
            data: String::new(),
            expires_at: None,
        })
    }

    fn list_changes(context: CallContext, request: ChangeRequest) -> Result<ChangePage, Error> {
        let total = match context.setting("total") {
            Some(text) => text
                .parse::<u64>()
                .map_err(|_| Error::invalid_config("`total` must be a whole number"))?,
            None => DEFAULT_TOTAL,
        };
        let start = match request.cursor.as_deref() {
            None => 0,
            Some(cursor) => cursor
                .parse::<u64>()
                .map_err(|_| Error::cursor_expired("unreadable cursor"))?,
        };
        let end = (start + u64::from(request.page_size)).min(total);
        let mut changes = Vec::with_capacity((end - start) as usize);
        let mut data = String::with_capacity(256);
        for n in start..end {
            data.clear();
            let id = format!("AST-{n:09}");
            let _ = write!(
                data,
                r#"{{"id":"{id}","tag":"P-{n}","name":"Synthetic centrifugal pump {n}","category":"pump","manufacturer":"Grundfos","model":"NK 65-250","status":"operational","criticality":"high","updated_at":"2026-11-28T00:00:00.000Z"}}"#
            );
            changes.push(Change::upsert_json(
                id,
                Some(1_795_824_000_000),
                data.clone(),
            ));
        }
        Ok(ChangePage {
            changes,
            cursor: end.to_string(),
            has_more: end < total,
        })
    }
}

switchyard_sdk::export_connector!(Synthetic);
