//! Watching every API request: metrics, and an entry in the request log with
//! headers and bodies (secrets redacted), status, timing and error code.

use crate::AppState;
use crate::error::ErrorCode;
use crate::request_id::RequestId;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use switchyard_control::request_log::{is_secret_key, redact_body, redact_issued_secrets};
use switchyard_runtime::redact::{REDACTED, Secrets};
use switchyard_store::model::{LogDirection, RequestLogEntry, now_ms};

/// Paths not worth a log entry: probes and scrapes.
const UNLOGGED: [&str; 2] = ["/health", "/metrics"];

/// Query parameters whose values are secret even though their names do not
/// say so: connect-flow sessions and one-time codes.
const SECRET_QUERY_KEYS: [&str; 3] = ["session", "code", "state"];

/// What a body wrapper saw.
#[derive(Default)]
struct Seen {
    bytes: Vec<u8>,
    total: u64,
}

/// A body that keeps its first bytes as they stream through and calls back
/// once it ends (or is dropped unread).
struct Tee<B> {
    inner: B,
    limit: usize,
    seen: Arc<Mutex<Seen>>,
    done: Option<Box<dyn FnOnce() + Send>>,
}

impl<B> Tee<B> {
    fn new(
        inner: B,
        limit: usize,
        seen: Arc<Mutex<Seen>>,
        done: Option<Box<dyn FnOnce() + Send>>,
    ) -> Self {
        Tee {
            inner,
            limit,
            seen,
            done,
        }
    }
}

impl<B> Drop for Tee<B> {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done();
        }
    }
}

impl<B> http_body::Body for Tee<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let mut seen = this.seen.lock().unwrap_or_else(|e| e.into_inner());
                    seen.total += data.len() as u64;
                    let room = this.limit.saturating_sub(seen.bytes.len());
                    seen.bytes.extend_from_slice(&data[..room.min(data.len())]);
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => {
                if let Some(done) = this.done.take() {
                    done();
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn redact_headers(headers: &HeaderMap, secrets: &Secrets) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes());
            // A redirect can carry a one-time code or an OAuth state in
            // its query; any header can echo a host-issued secret.
            let value = if name == axum::http::header::LOCATION {
                redact_query(&value)
            } else {
                value.into_owned()
            };
            (
                name.to_string(),
                redact_issued_secrets(&secrets.redact_header(name.as_str(), &value)),
            )
        })
        .collect()
}

fn redact_query(path_and_query: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_secret_key(key) || SECRET_QUERY_KEYS.contains(&key) => {
                format!("{key}={REDACTED}")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// The connection a request concerns, from its path.
fn connection_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v1/connections/")?;
    let id = rest.split('/').next()?;
    (!id.is_empty()).then(|| id.to_string())
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Middleware: metrics for every request, and a request log entry for every
/// request but probes.
pub async fn middleware(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let at = now_ms();
    // Methods become metric labels: unknown ones share one, so a client
    // cannot create series at will.
    let method = match *request.method() {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::HEAD
        | Method::OPTIONS => request.method().to_string(),
        _ => "other".to_string(),
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let path = request.uri().path().to_string();
    let logged = !UNLOGGED.contains(&path.as_str());
    let limit = state.request_log.body_limit();
    let request_id = request.extensions().get::<RequestId>().map(|r| r.0.clone());
    let url = redact_issued_secrets(&redact_query(&request.uri().to_string()));
    let secrets = Secrets::default();
    let request_headers = redact_headers(request.headers(), &secrets);
    let request_type = content_type(request.headers());

    let request_seen = Arc::new(Mutex::new(Seen::default()));
    let request = if logged {
        let (parts, body) = request.into_parts();
        Request::from_parts(
            parts,
            Body::new(Tee::new(body, limit, request_seen.clone(), None)),
        )
    } else {
        request
    };

    let response = next.run(request).await;

    let status = response.status().as_u16();
    let metrics = switchyard_telemetry::metrics();
    metrics
        .http_requests
        .with_label_values(&[method.as_str(), route.as_str(), &status.to_string()])
        .inc();
    let error = response.extensions().get::<ErrorCode>().map(|c| c.0);
    if let Some(code) = error {
        metrics.errors.with_label_values(&[code]).inc();
    }
    if !logged {
        metrics
            .http_duration
            .with_label_values(&[method.as_str(), route.as_str()])
            .observe(started.elapsed().as_secs_f64());
        return response;
    }

    let response_headers = redact_headers(response.headers(), &secrets);
    let response_type = content_type(response.headers());
    let response_seen = Arc::new(Mutex::new(Seen::default()));
    let log = state.request_log.clone();
    let done = {
        let response_seen = response_seen.clone();
        Box::new(move || {
            let elapsed = started.elapsed();
            switchyard_telemetry::metrics()
                .http_duration
                .with_label_values(&[method.as_str(), route.as_str()])
                .observe(elapsed.as_secs_f64());
            let request_seen = request_seen.lock().unwrap_or_else(|e| e.into_inner());
            let response_seen = response_seen.lock().unwrap_or_else(|e| e.into_inner());
            // Connect-flow forms carry credentials in fields whose names the
            // connector chose, and its pages show tokens: neither body is
            // ever logged.
            let connect_flow = path == "/connect" || path.starts_with("/connect/");
            let body = |content_type: Option<&str>, seen: &Seen| {
                if seen.total == 0 {
                    String::new()
                } else if connect_flow {
                    format!("[connect flow body not logged, {} bytes]", seen.total)
                } else {
                    redact_body(content_type, &seen.bytes, seen.total, limit, &secrets)
                }
            };
            let request_body = body(request_type.as_deref(), &request_seen);
            let response_body = body(response_type.as_deref(), &response_seen);
            log.append(RequestLogEntry {
                at,
                seq: 0,
                direction: LogDirection::Inbound,
                request_id,
                connection_id: connection_of(&path),
                run_id: None,
                method,
                url,
                status: Some(status),
                error: error.map(str::to_string),
                duration_ms: elapsed.as_millis() as u64,
                request_headers,
                response_headers,
                request_body,
                response_body,
            });
        }) as Box<dyn FnOnce() + Send>
    };
    let (parts, body) = response.into_parts();
    Response::from_parts(
        parts,
        Body::new(Tee::new(body, limit, response_seen, Some(done))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_secrets_are_redacted() {
        assert_eq!(
            redact_query("/connect/x?session=abc&lang=en&api_key=k"),
            "/connect/x?session=[redacted]&lang=en&api_key=[redacted]"
        );
        assert_eq!(redact_query("/v1/x"), "/v1/x");
    }

    #[test]
    fn connections_from_paths() {
        assert_eq!(
            connection_of("/v1/connections/conn_1/runs").as_deref(),
            Some("conn_1")
        );
        assert_eq!(connection_of("/v1/connections"), None);
        assert_eq!(connection_of("/v1/connectors/x"), None);
    }
}
