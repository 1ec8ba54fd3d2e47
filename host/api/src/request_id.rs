//! Request IDs: every response carries `x-request-id`, the caller's when it
//! is well formed, a new one otherwise. The same ID is on the tracing span,
//! in error bodies and in the request log.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header carrying the request ID.
pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static CURRENT: String;
}

/// The ID of the request being handled (empty outside a request).
pub fn current() -> String {
    CURRENT.try_with(Clone::clone).unwrap_or_default()
}

/// The request ID, as a request extension for handlers that want it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Whether a caller-supplied ID can be used: 1–128 characters of letters,
/// digits, `-`, `_`, `.` and `:`. Anything else could poison logs.
pub fn is_valid(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A new unique ID: `req_` and 96 random bits in hex.
pub fn generate() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    format!("req_{}", hex::encode(bytes))
}

/// Middleware: assigns the ID, runs the request in its span and task-local,
/// and sets the response header.
pub async fn middleware(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_valid(v))
        .map_or_else(generate, str::to_string);
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path());
    let mut response = CURRENT
        .scope(id.clone(), next.run(request).instrument(span))
        .await;
    response.headers_mut().insert(
        HEADER,
        HeaderValue::from_str(&id).expect("validated or generated IDs are header-safe"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_caller_ids() {
        assert!(is_valid("abc-123_X.y:z"));
        assert!(!is_valid(""));
        assert!(!is_valid("has space"));
        assert!(!is_valid("new\nline"));
        assert!(!is_valid(&"a".repeat(129)));
        let id = generate();
        assert!(is_valid(&id) && id.starts_with("req_") && id.len() == 28);
        assert_ne!(generate(), generate());
    }
}
