//! The request log: every inbound API request and every outbound request a
//! connector makes, with status, timing, headers and bodies — secrets
//! redacted before anything is kept.
//!
//! Entries are handed to a writer thread that batches them into RocksDB, so
//! logging never blocks a request; if the writer falls far behind, entries
//! are dropped and counted rather than slowing the API down.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;
use switchyard_runtime::redact::{REDACTED, Secrets};
use switchyard_runtime::{CallObserver, OutboundExchange};
use switchyard_store::model::{LogDirection, Millis, RequestLogEntry};
use switchyard_store::{LogFilter, LogPosition, Store, StoreError};

/// Entries waiting for the writer before new ones are dropped.
const QUEUE: usize = 10_000;
/// Entries written per batch.
const BATCH: usize = 500;

/// Body bytes kept per entry, unless configured otherwise.
pub const DEFAULT_BODY_LIMIT: usize = 4096;

/// JSON and form keys whose values are always secret.
const SECRET_KEYS: [&str; 10] = [
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "api_key",
    "api-key",
    "apikey",
    "authorization",
    "private",
];

/// Whether a body field is secret by its name.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|s| key.contains(s))
}

/// A body as it may be logged: cut to `limit` bytes, secret JSON or form
/// fields redacted, known secret values replaced everywhere, binary bodies
/// described instead of shown.
pub fn redact_body(
    content_type: Option<&str>,
    body: &[u8],
    total_len: u64,
    limit: usize,
    secrets: &Secrets,
) -> String {
    if body.is_empty() {
        return String::new();
    }
    let content_type = content_type.unwrap_or_default();
    if content_type.starts_with("application/wasm")
        || content_type.starts_with("application/octet-stream")
    {
        return format!("[binary body, {total_len} bytes]");
    }
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        // A capture cut in the middle of a UTF-8 sequence is still text:
        // only the incomplete sequence at the end is dropped.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&body[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return format!("[binary body, {total_len} bytes]"),
    };
    let shaped = if content_type.contains("json") {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(mut value) => {
                redact_json(&mut value, false);
                value.to_string()
            }
            // Truncated or malformed JSON: redact by value only.
            Err(_) => text.to_string(),
        }
    } else if content_type.contains("x-www-form-urlencoded") {
        text.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if is_secret_key(key) => format!("{key}={REDACTED}"),
                _ => pair.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&")
    } else {
        text.to_string()
    };
    let mut out = secrets.redact(&shaped);
    if out.len() > limit {
        let mut end = limit;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str(&format!("… [{total_len} bytes]"));
    }
    out
}

fn redact_json(value: &mut serde_json::Value, inside_secret: bool) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                redact_json(value, inside_secret || is_secret_key(key));
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                redact_json(item, inside_secret);
            }
        }
        serde_json::Value::Null => {}
        other if inside_secret => *other = serde_json::Value::String(REDACTED.into()),
        _ => {}
    }
}

/// Appends to and reads the request log.
#[derive(Clone)]
pub struct RequestLog {
    store: Arc<Store>,
    sender: SyncSender<RequestLogEntry>,
    seq: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    body_limit: usize,
}

impl std::fmt::Debug for RequestLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestLog").finish_non_exhaustive()
    }
}

impl RequestLog {
    /// Starts the writer thread; bodies are kept up to `body_limit` bytes.
    pub fn start(store: Arc<Store>, body_limit: usize) -> std::io::Result<Self> {
        let (sender, receiver) = sync_channel(QUEUE);
        let writer_store = store.clone();
        std::thread::Builder::new()
            .name("switchyard-request-log".into())
            .spawn(move || write_loop(&writer_store, receiver))?;
        Ok(RequestLog {
            store,
            sender,
            seq: Arc::new(AtomicU64::new(0)),
            dropped: Arc::new(AtomicU64::new(0)),
            body_limit,
        })
    }

    /// Bytes of each body kept.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// Queues an entry; its `seq` is assigned here.
    pub fn append(&self, mut entry: RequestLogEntry) {
        entry.seq = self.seq.fetch_add(1, Ordering::Relaxed);
        match self.sender.try_send(entry) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(dropped, "request log entries dropped: the writer is behind");
                }
            }
        }
    }

    /// Entries dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Entries matching `filter`, newest first.
    pub fn query(
        &self,
        filter: &LogFilter,
        before: Option<LogPosition>,
        limit: usize,
    ) -> Result<(Vec<RequestLogEntry>, Option<LogPosition>), StoreError> {
        // A sparse filter must not turn one request into a full scan.
        self.store.query_log(filter, before, limit, 20_000)
    }

    /// Removes entries older than `cutoff`.
    pub fn purge(&self, cutoff: Millis) -> Result<u64, StoreError> {
        self.store.purge_log(cutoff)
    }

    /// An observer that logs a connector call's outbound requests against a
    /// connection, and a run or an API request.
    pub fn observer(
        &self,
        connection_id: Option<String>,
        run_id: Option<u64>,
        request_id: Option<String>,
    ) -> Arc<dyn CallObserver> {
        Arc::new(OutboundLogger {
            log: self.clone(),
            connection_id,
            run_id,
            request_id,
        })
    }
}

fn write_loop(store: &Store, receiver: Receiver<RequestLogEntry>) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        match receiver.recv() {
            Ok(entry) => batch.push(entry),
            Err(_) => return,
        }
        // Gather what else arrives within a few milliseconds.
        while batch.len() < BATCH {
            match receiver.recv_timeout(Duration::from_millis(5)) {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        if let Err(e) = store.append_log_entries(&batch) {
            tracing::error!("writing {} request log entries: {e}", batch.len());
        }
        batch.clear();
    }
}

/// Logs outbound exchanges of one call.
struct OutboundLogger {
    log: RequestLog,
    connection_id: Option<String>,
    run_id: Option<u64>,
    request_id: Option<String>,
}

impl CallObserver for OutboundLogger {
    fn exchange(&self, exchange: OutboundExchange) {
        let at = exchange
            .started_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as Millis);
        self.log.append(RequestLogEntry {
            at,
            seq: 0,
            direction: LogDirection::Outbound,
            request_id: self.request_id.clone(),
            connection_id: self.connection_id.clone(),
            run_id: self.run_id,
            method: exchange.method,
            url: exchange.url,
            status: exchange.status,
            error: exchange.error,
            duration_ms: exchange.duration.as_millis() as u64,
            request_headers: exchange.request_headers,
            response_headers: exchange.response_headers,
            request_body: exchange.request_body,
            response_body: exchange.response_body,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_lose_their_secrets() {
        let secrets = Secrets::new(["hunter2hunter2".to_string()]);
        let json = br#"{"connector_id":"x","credentials":{"username":"u","password":"p@ss"},"note":"hunter2hunter2","token":"sy_conn_abc"}"#;
        let logged = redact_body(
            Some("application/json"),
            json,
            json.len() as u64,
            4096,
            &secrets,
        );
        assert!(
            !logged.contains("p@ss")
                && !logged.contains("sy_conn_abc")
                && !logged.contains("hunter2"),
            "{logged}"
        );
        assert!(
            !logged.contains("\"u\""),
            "everything under credentials is secret: {logged}"
        );
        assert!(logged.contains("connector_id"));

        let form = b"username=u&password=p%40ss&base-url=http%3A%2F%2Fh";
        let logged = redact_body(
            Some("application/x-www-form-urlencoded"),
            form,
            form.len() as u64,
            4096,
            &secrets,
        );
        assert_eq!(
            logged,
            "username=u&password=[redacted]&base-url=http%3A%2F%2Fh"
        );

        let binary = [0u8, 0x61, 0x73, 0x6d, 0xff, 0xfe, 0xfd, 0xfc];
        assert_eq!(
            redact_body(None, &binary, 8, 4096, &secrets),
            "[binary body, 8 bytes]"
        );
        let long = "a".repeat(100);
        let logged = redact_body(Some("text/plain"), long.as_bytes(), 100, 10, &secrets);
        assert_eq!(logged, "aaaaaaaaaa… [100 bytes]");
    }
}
