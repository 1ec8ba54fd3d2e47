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

/// Prefixes of the secrets the host itself issues: API tokens, connect links,
/// one-time codes and webhook signing secrets. Any such value is redacted
/// wherever it appears.
const ISSUED_SECRET_PREFIXES: [&str; 5] = ["sy_conn_", "sy_admin_", "cs_", "cc_", WEBHOOK_PREFIX];

/// Webhook secrets are standard base64 (the Standard Webhooks format), so
/// their tail may hold `+`, `/` and `=` too.
const WEBHOOK_PREFIX: &str = "whsec_";

/// Shortest tail after a prefix that counts as an issued secret: ours are
/// 43 base64url characters, so ordinary words like `cs_vendor` stay.
const ISSUED_SECRET_MIN_TAIL: usize = 20;

/// `text` with every host-issued secret (by its prefix) replaced.
pub fn redact_issued_secrets(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut copied = 0;
    while at < bytes.len() {
        // Also inside longer words: a secret glued to other characters
        // is still a secret, and over-redacting a log is harmless.
        let prefix = ISSUED_SECRET_PREFIXES
            .iter()
            .find(|p| text.is_char_boundary(at) && text[at..].starts_with(*p));
        if let Some(prefix) = prefix {
            let base64 = *prefix == WEBHOOK_PREFIX;
            let tail = bytes[at + prefix.len()..]
                .iter()
                .take_while(|b| is_token_byte(**b) || (base64 && matches!(**b, b'+' | b'/' | b'=')))
                .count();
            if tail >= ISSUED_SECRET_MIN_TAIL {
                out.push_str(&text[copied..at]);
                out.push_str(prefix);
                out.push_str(REDACTED);
                at += prefix.len() + tail;
                copied = at;
                continue;
            }
        }
        at += 1;
    }
    out.push_str(&text[copied..]);
    out
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

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
            // Truncated or malformed JSON: redact by key all the same.
            Err(_) => redact_json_text(text),
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
    let mut out = redact_issued_secrets(&secrets.redact(&shaped));
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

/// Redacts the values of secret keys in text that looks like JSON but does
/// not parse (a capture cut short, a malformed body): after a string that is
/// a secret key and its `:`, everything up to the end of the value, or of
/// the text, is replaced.
pub fn redact_json_text(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let end = string_end(bytes, i);
        // A string cut short has no closing quote; the slice may then end
        // inside a character, so it is taken with `get`.
        let key = text
            .get(i + 1..end.saturating_sub(1).max(i + 1))
            .unwrap_or("");
        let mut after = end;
        while after < bytes.len() && bytes[after].is_ascii_whitespace() {
            after += 1;
        }
        if after < bytes.len() && bytes[after] == b':' && is_secret_key(key) {
            let mut start = after + 1;
            while start < bytes.len() && bytes[start].is_ascii_whitespace() {
                start += 1;
            }
            let stop = value_end(bytes, start);
            out.push_str(&text[copied..start]);
            out.push_str(&format!("\"{REDACTED}\""));
            copied = stop;
            i = stop;
        } else {
            i = end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The index just past the string literal starting at `start` (a `"`), or
/// the end of the text when it is cut short.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index just past the JSON value starting at `start`, or the end of
/// the text when it is cut short.
fn value_end(bytes: &[u8], start: usize) -> usize {
    match bytes.get(start) {
        None => bytes.len(),
        Some(b'"') => string_end(bytes, start),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = start;
            while i < bytes.len() {
                match bytes[i] {
                    b'"' => {
                        i = string_end(bytes, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            bytes.len()
        }
        Some(_) => {
            let mut i = start;
            while i < bytes.len() && !matches!(bytes[i], b',' | b'}' | b']') {
                i += 1;
            }
            i
        }
    }
}

/// A body already captured by the sandbox (outbound), redacted by key when
/// it is JSON and for host-issued secrets: the connection's own secret
/// values were replaced at capture, but a session the source just issued is
/// not among them yet.
pub fn redact_captured_body(body: &str) -> String {
    let trimmed = body.trim_start();
    let shaped = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_str::<serde_json::Value>(body) {
            Ok(mut value) => {
                redact_json(&mut value, false);
                value.to_string()
            }
            Err(_) => redact_json_text(body),
        }
    } else {
        body.to_string()
    };
    redact_issued_secrets(&shaped)
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

/// Appends to and reads the request log. Cheap to clone; when the last
/// clone goes, the writer drains its queue and stops.
#[derive(Clone)]
pub struct RequestLog {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    sender: Option<SyncSender<RequestLogEntry>>,
    writer: Option<std::thread::JoinHandle<()>>,
    seq: AtomicU64,
    dropped: AtomicU64,
    body_limit: usize,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the writer once it has written what is
        // queued; waiting for it means the store is never torn down under
        // it (at process exit, RocksDB must not be in use by a thread).
        self.sender.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
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
        let writer = std::thread::Builder::new()
            .name("switchyard-request-log".into())
            .spawn(move || write_loop(&writer_store, receiver))?;
        Ok(RequestLog {
            inner: Arc::new(Inner {
                store,
                sender: Some(sender),
                writer: Some(writer),
                seq: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                body_limit,
            }),
        })
    }

    /// Bytes of each body kept.
    pub fn body_limit(&self) -> usize {
        self.inner.body_limit
    }

    /// Queues an entry; its `seq` is assigned here.
    pub fn append(&self, mut entry: RequestLogEntry) {
        let inner = &self.inner;
        entry.seq = inner.seq.fetch_add(1, Ordering::Relaxed);
        let sent = match &inner.sender {
            Some(sender) => sender.try_send(entry),
            None => return,
        };
        match sent {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                switchyard_telemetry::metrics().request_log_dropped.inc();
                let dropped = inner.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(dropped, "request log entries dropped: the writer is behind");
                }
            }
        }
    }

    /// Entries dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Entries matching `filter`, newest first.
    pub fn query(
        &self,
        filter: &LogFilter,
        before: Option<LogPosition>,
        limit: usize,
    ) -> Result<(Vec<RequestLogEntry>, Option<LogPosition>), StoreError> {
        // A sparse filter must not turn one request into a full scan.
        self.inner.store.query_log(filter, before, limit, 20_000)
    }

    /// Removes entries older than `cutoff`.
    pub fn purge(&self, cutoff: Millis) -> Result<u64, StoreError> {
        self.inner.store.purge_log(cutoff)
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
            request_body: redact_captured_body(&exchange.request_body),
            response_body: redact_captured_body(&exchange.response_body),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_that_does_not_parse_is_redacted_by_key() {
        let cut = r#"{"name": "pump", "credentials": {"password": "hunter2", "user": "bob"}, "api_key": 12345, "note": "ok", "private_key": "-----BEGIN PRIV"#;
        let out = redact_json_text(cut);
        for secret in ["hunter2", "12345", "BEGIN PRIV"] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(
            out.contains(r#""name": "pump""#) && out.contains(r#""note": "ok""#),
            "{out}"
        );
        // Malformed, escaped quotes, a key cut inside a character: no panic,
        // nothing after a secret key survives.
        assert!(!redact_json_text(r#"{"token": "a\"b c", "x": 1"#).contains("b c"));
        let _ = redact_json_text("{\"pä");
        let _ = redact_json_text("\"");
    }

    #[test]
    fn captured_bodies_lose_sessions_the_source_just_issued() {
        let login = r#"{"access_token":"s3ss10n-from-source","expires_in":3600}"#;
        let out = redact_captured_body(login);
        assert!(!out.contains("s3ss10n") && out.contains("3600"), "{out}");
        let cut = r#"{"session_token":"abcdef"#;
        assert!(!redact_captured_body(cut).contains("abcdef"));
        assert_eq!(redact_captured_body("plain text"), "plain text");
    }

    #[test]
    fn issued_secrets_are_found_by_prefix() {
        let token = "sy_conn_fZ7_JYx59I233ylI4qSygIwxKhuzY12JGexrQtx_CMM";
        let link = "cs_hOqhIdGVEYVi2TV6tfmraMizL1OCjB3JQc86kfKg_WQ";
        let text = format!("<p>{token}</p> /connect/x?session={link}&cs_vendor=1 mcs_{link}");
        let out = redact_issued_secrets(&text);
        assert!(
            !out.contains(&token[8..]) && !out.contains(&link[3..20]),
            "{out}"
        );
        assert!(
            out.contains("sy_conn_[redacted]") && out.contains("cs_vendor=1"),
            "{out}"
        );
        let webhook = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw+/9Vj2n0Qk=";
        let out = redact_issued_secrets(&format!(r#"{{"key":"{webhook}"}} whsec_short"#));
        assert_eq!(out, r#"{"key":"whsec_[redacted]"} whsec_short"#);
    }

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
