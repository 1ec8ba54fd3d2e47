//! A connector that makes up records instead of fetching them: `total` valid
//! `assets` records of about 200 bytes, in pages, with no network access. It
//! measures the host's ingest path without a source system in the way.

use switchyard_sdk::{
    AuthMethod, CallContext, Change, ChangePage, ChangeRequest, ConnectionConfig, Connector,
    ConnectorInfo, Error, Field, ModelInfo, Session,
};

struct Synthetic;

/// Records made when the `total` setting is absent.
const DEFAULT_TOTAL: u64 = 100_000;

/// Bytes reserved per record: its JSON is about 220 bytes.
const RECORD_CAPACITY: usize = 240;

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
        for n in start..end {
            let (id, data) = record(n);
            changes.push(Change::upsert_json(id, Some(1_795_824_000_000), data));
        }
        Ok(ChangePage {
            changes,
            cursor: end.to_string(),
            has_more: end < total,
        })
    }
}

/// Record `n`: its id and its JSON. Made with `push_str` and a small
/// integer writer rather than `format!`, so the benchmark measures the host
/// more than `core::fmt`; the ingest benchmark's native baseline makes the
/// same bytes the same way.
fn record(n: u64) -> (String, String) {
    let mut id = String::with_capacity(16);
    id.push_str("AST-");
    push_decimal(&mut id, n, 9);
    let mut data = String::with_capacity(RECORD_CAPACITY);
    data.push_str(r#"{"id":""#);
    data.push_str(&id);
    data.push_str(r#"","tag":"P-"#);
    push_decimal(&mut data, n, 1);
    data.push_str(r#"","name":"Synthetic centrifugal pump "#);
    push_decimal(&mut data, n, 1);
    data.push_str(concat!(
        r#"","category":"pump","manufacturer":"Grundfos","model":"NK 65-250","#,
        r#""status":"operational","criticality":"high","updated_at":"2026-11-28T00:00:00.000Z"}"#
    ));
    (id, data)
}

/// Appends `n` in decimal, zero-padded to at least `width` digits.
fn push_decimal(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    loop {
        // Cranelift emits a real division for `/ 10` on u64; below 2^32 the
        // quotient is exactly `n * 0xCCCC_CCCD >> 35`.
        let quotient = if n <= u64::from(u32::MAX) {
            (n * 0xCCCC_CCCD) >> 35
        } else {
            n / 10
        };
        start -= 1;
        digits[start] = b'0' + (n - quotient * 10) as u8;
        n = quotient;
        if n == 0 {
            break;
        }
    }
    start = start.min(digits.len() - width.min(digits.len()));
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
}

switchyard_sdk::export_connector!(Synthetic);
