//! Outbound HTTP for connectors: the `wasi:http` send hook.
//!
//! Every request a connector makes goes through [`CallHooks::send_request`],
//! which checks the allowlist, takes the per-source-host budget, clamps the
//! guest's timeouts to the call's deadline, sends with a pooled client that
//! never follows redirects, caps the response size, and reports the exchange
//! (redacted) to the call's observer.

use crate::allowlist::Allowlist;
use crate::redact::Secrets;
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// Settings of the shared outbound client.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// Longest wait for a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Longest wait for a response, whatever the guest asks.
    pub max_request_timeout: Duration,
    /// Largest request body a connector may send.
    pub max_request_body_bytes: usize,
    /// Requests in flight at once to one source host, across all connections.
    pub per_host_concurrency: usize,
    /// Requests per second to one source host, across all connections.
    pub per_host_rate: f64,
    /// Bodies kept in exchange records, per direction.
    pub capture_body_bytes: usize,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            connect_timeout: Duration::from_secs(10),
            max_request_timeout: Duration::from_secs(60),
            max_request_body_bytes: 16 << 20,
            per_host_concurrency: 8,
            per_host_rate: 50.0,
            capture_body_bytes: 4096,
        }
    }
}

/// One outbound HTTP exchange, with secrets redacted.
#[derive(Debug, Clone)]
pub struct OutboundExchange {
    /// When the request started.
    pub started_at: SystemTime,
    /// HTTP method.
    pub method: String,
    /// Full URL (secrets redacted).
    pub url: String,
    /// Response status, when a response arrived.
    pub status: Option<u16>,
    /// Why no response arrived or the body failed (`host_not_allowed`, …).
    pub error: Option<String>,
    /// From the request to the end of the response body.
    pub duration: Duration,
    /// Request headers, secret ones redacted.
    pub request_headers: Vec<(String, String)>,
    /// Response headers, secret ones redacted.
    pub response_headers: Vec<(String, String)>,
    /// Start of the request body.
    pub request_body: String,
    /// Start of the response body.
    pub response_body: String,
    /// Full response body size, as far as it was read.
    pub response_bytes: u64,
}

/// Receives what a connector call does besides returning: its log lines and
/// its outbound HTTP exchanges.
pub trait CallObserver: Send + Sync {
    /// A log line written by the connector.
    fn log(&self, level: crate::LogLevel, message: &str) {
        let _ = (level, message);
    }

    /// An outbound HTTP exchange finished (or failed).
    fn exchange(&self, exchange: OutboundExchange) {
        let _ = exchange;
    }
}

/// The process-wide outbound client: connection pools and per-host budgets.
pub struct OutboundClient {
    client: reqwest::Client,
    config: OutboundConfig,
    budgets: Mutex<HashMap<String, Arc<HostBudget>>>,
}

impl OutboundClient {
    /// A client with `config`.
    pub fn new(config: OutboundConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            // Redirects go back to the guest, whose next request is checked
            // against the allowlist like any other.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(OutboundClient {
            client,
            config,
            budgets: Mutex::new(HashMap::new()),
        })
    }

    fn budget(&self, authority: &str) -> Arc<HostBudget> {
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        budgets
            .entry(authority.to_string())
            .or_insert_with(|| {
                Arc::new(HostBudget::new(
                    self.config.per_host_concurrency,
                    self.config.per_host_rate,
                ))
            })
            .clone()
    }
}

/// Concurrency and rate budget of one source host, shared by every
/// connection that talks to it.
struct HostBudget {
    in_flight: Arc<Semaphore>,
    rate: f64,
    /// Token bucket: (tokens, last refill).
    bucket: Mutex<(f64, Instant)>,
}

impl HostBudget {
    fn new(concurrency: usize, rate: f64) -> Self {
        HostBudget {
            in_flight: Arc::new(Semaphore::new(concurrency.max(1))),
            rate: rate.max(0.001),
            bucket: Mutex::new((rate.max(1.0), Instant::now())),
        }
    }

    async fn acquire(&self) -> OwnedSemaphorePermit {
        loop {
            let wait = {
                let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let refill = now.duration_since(bucket.1).as_secs_f64() * self.rate;
                bucket.0 = (bucket.0 + refill).min(self.rate.max(1.0));
                bucket.1 = now;
                if bucket.0 >= 1.0 {
                    bucket.0 -= 1.0;
                    None
                } else {
                    Some(Duration::from_secs_f64((1.0 - bucket.0) / self.rate))
                }
            };
            match wait {
                None => break,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
        self.in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }
}

/// What a call's outbound requests may do, and what they did.
pub(crate) struct CallHooks {
    pub(crate) shared: Arc<CallOutbound>,
}

/// State shared between a call and the requests it spawned.
pub(crate) struct CallOutbound {
    pub(crate) client: Arc<OutboundClient>,
    pub(crate) allowlist: Arc<Allowlist>,
    pub(crate) secrets: Arc<Secrets>,
    pub(crate) observer: Option<Arc<dyn CallObserver>>,
    pub(crate) deadline: Instant,
    pub(crate) max_response_bytes: usize,
    /// Destinations refused during the call.
    pub(crate) denied: Mutex<Vec<String>>,
    /// Whether a request was cut short by the call's deadline (rather than
    /// by a shorter timeout of the guest's own): the call ran out of time.
    pub(crate) deadline_hit: AtomicBool,
    /// Whether a response went over `max_response_bytes`.
    pub(crate) oversized: AtomicBool,
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

impl WasiHttpHooks for CallHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>
    {
        let shared = self.shared.clone();
        Box::new(async move {
            let response = shared.send(request, options).await?;
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

impl CallOutbound {
    async fn send(
        self: Arc<Self>,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let started = Instant::now();
        let mut record = OutboundExchange {
            started_at: SystemTime::now(),
            method: request.method().to_string(),
            url: self.secrets.redact(&request.uri().to_string()),
            status: None,
            error: None,
            duration: Duration::ZERO,
            request_headers: self.redact_headers(request.headers()),
            response_headers: Vec::new(),
            request_body: String::new(),
            response_body: String::new(),
            response_bytes: 0,
        };
        let uri = request.uri().clone();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let Some(authority) = uri.authority().filter(|a| !a.as_str().contains('@')) else {
            return Err(self.fail(
                record,
                started,
                "invalid_uri",
                HttpError::HttpRequestUriInvalid,
            ));
        };
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let host = authority.host();
        // The decision uses the URL's own authority: wasi-http forbids guests
        // from setting a `Host` header, and redirects are never followed.
        if !self.allowlist.allows(host, port) {
            let destination = format!("{host}:{port}");
            tracing::warn!(destination, allowed = %self.allowlist, "outbound request denied");
            self.denied
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(destination);
            return Err(self.fail(
                record,
                started,
                "host_not_allowed",
                HttpError::HttpRequestDenied,
            ));
        }

        let permit = tokio::time::timeout_at(
            self.deadline.into(),
            self.client.budget(&format!("{host}:{port}")).acquire(),
        )
        .await
        .map_err(|_| {
            self.deadline_hit.store(true, Ordering::Relaxed);
            self.fail(
                record.clone(),
                started,
                "budget_timeout",
                HttpError::ConnectionLimitReached,
            )
        })?;

        let (parts, body) = request.into_parts();
        let limit = self.client.config.max_request_body_bytes;
        let body = match http_body_util::Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return Err(self.fail(
                    record,
                    started,
                    "request_body_too_large",
                    HttpError::HttpRequestBodySize(None),
                ));
            }
        };
        record.request_body = self.capture(&body);

        // The guest's timeout is honoured only up to the host's maximum and
        // the call's own deadline.
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let asked = options
            .and_then(|o| o.first_byte_timeout)
            .unwrap_or(self.client.config.max_request_timeout);
        let timeout = asked
            .min(self.client.config.max_request_timeout)
            .min(remaining);
        let bound_by_deadline = timeout == remaining;

        let mut builder = self
            .client
            .client
            .request(parts.method.clone(), uri.to_string())
            .timeout(timeout)
            .body(body);
        for (name, value) in parts.headers.iter() {
            if name != http::header::HOST {
                builder = builder.header(name, value);
            }
        }
        let response = match builder.send().await {
            Ok(response) => response,
            Err(e) => {
                let (code, error) = if e.is_timeout() {
                    if bound_by_deadline {
                        self.deadline_hit.store(true, Ordering::Relaxed);
                    }
                    ("timeout", HttpError::HttpResponseTimeout)
                } else if e.is_connect() {
                    ("connection_failed", HttpError::ConnectionRefused)
                } else {
                    ("protocol_error", HttpError::HttpProtocolError)
                };
                let reason = format!("{code}: {}", self.secrets.redact(&e.to_string()));
                return Err(self.fail(record, started, &reason, error));
            }
        };
        record.status = Some(response.status().as_u16());
        record.response_headers = self.redact_headers(response.headers());
        let response: http::Response<reqwest::Body> = response.into();
        let (parts, body) = response.into_parts();
        let body = ObservedBody {
            inner: body,
            limit: self.max_response_bytes,
            seen: 0,
            captured: BytesMut::new(),
            report: Some(Report {
                outbound: self.clone(),
                record,
                started,
                bound_by_deadline,
                _permit: permit,
            }),
        };
        Ok(http::Response::from_parts(parts, body.boxed_unsync()))
    }

    fn redact_headers(&self, headers: &http::HeaderMap) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes());
                (
                    name.to_string(),
                    self.secrets.redact_header(name.as_str(), &value),
                )
            })
            .collect()
    }

    fn capture(&self, body: &[u8]) -> String {
        let end = body.len().min(self.client.config.capture_body_bytes);
        self.secrets.redact(&String::from_utf8_lossy(&body[..end]))
    }

    fn fail(
        &self,
        mut record: OutboundExchange,
        started: Instant,
        reason: &str,
        error: HttpError,
    ) -> HttpError {
        record.error = Some(reason.to_string());
        record.duration = started.elapsed();
        self.report(record);
        error
    }

    fn report(&self, record: OutboundExchange) {
        let outcome = match (record.status, record.error.as_deref()) {
            (_, Some(error)) => error.split(':').next().unwrap_or(error).to_string(),
            (Some(status), None) => format!("{}xx", status / 100),
            (None, None) => "no_response".to_string(),
        };
        switchyard_telemetry::metrics()
            .outbound_requests
            .with_label_values(&[outcome.as_str()])
            .inc();
        tracing::debug!(
            method = %record.method,
            url = %record.url,
            status = record.status,
            error = record.error.as_deref(),
            duration_ms = record.duration.as_millis() as u64,
            "outbound request"
        );
        if let Some(observer) = &self.observer {
            observer.exchange(record);
        }
    }
}

/// Reports the exchange once, when the body ends, fails or is dropped unread.
struct Report {
    outbound: Arc<CallOutbound>,
    record: OutboundExchange,
    started: Instant,
    /// Whether the request's timeout was the call's deadline.
    bound_by_deadline: bool,
    /// Held until the body is done: the host budget counts whole exchanges.
    _permit: OwnedSemaphorePermit,
}

/// A response body that enforces the size cap and captures its start.
struct ObservedBody {
    inner: reqwest::Body,
    limit: usize,
    seen: u64,
    captured: BytesMut,
    report: Option<Report>,
}

impl ObservedBody {
    fn finish(&mut self, error: Option<&str>) {
        if let Some(mut report) = self.report.take() {
            report.record.duration = report.started.elapsed();
            report.record.response_bytes = self.seen;
            report.record.response_body = report
                .outbound
                .secrets
                .redact(&String::from_utf8_lossy(&self.captured));
            if let Some(error) = error {
                report.record.error = Some(error.to_string());
            }
            report.outbound.report(report.record);
        }
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        self.finish(None);
    }
}

impl Body for ObservedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                this.finish(None);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                let timeout = e.is_timeout();
                if let Some(report) = this
                    .report
                    .as_ref()
                    .filter(|r| timeout && r.bound_by_deadline)
                {
                    report.outbound.deadline_hit.store(true, Ordering::Relaxed);
                }
                this.finish(Some(if timeout { "timeout" } else { "body_error" }));
                Poll::Ready(Some(Err(if timeout {
                    HttpError::HttpResponseTimeout
                } else {
                    HttpError::HttpResponseIncomplete
                })))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen += data.len() as u64;
                    let capture_limit = this
                        .report
                        .as_ref()
                        .map_or(0, |r| r.outbound.client.config.capture_body_bytes);
                    let room = capture_limit.saturating_sub(this.captured.len());
                    this.captured
                        .extend_from_slice(&data[..room.min(data.len())]);
                    if this.seen > this.limit as u64 {
                        if let Some(report) = &this.report {
                            report.outbound.oversized.store(true, Ordering::Relaxed);
                        }
                        this.finish(Some("response_too_large"));
                        return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(
                            this.limit as u64,
                        )))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers one `204` per connection and reports each
    /// request's `Host` header.
    async fn server() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut buffer = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 << 10 {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let host = head
                    .lines()
                    .find_map(|l| l.strip_prefix("host: "))
                    .unwrap_or_default();
                let _ = sender.send(host.to_string());
                let _ = socket
                    .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        (port, receiver)
    }

    fn outbound(allowed_port: u16) -> Arc<CallOutbound> {
        let base = format!("http://127.0.0.1:{allowed_port}");
        Arc::new(CallOutbound {
            client: Arc::new(OutboundClient::new(OutboundConfig::default()).unwrap()),
            allowlist: Arc::new(
                Allowlist::resolve(&["{base-url}".to_string()], |_| Some(base.as_str())).unwrap(),
            ),
            secrets: Arc::new(Secrets::default()),
            observer: None,
            deadline: Instant::now() + Duration::from_secs(10),
            max_response_bytes: 1 << 20,
            denied: Mutex::new(Vec::new()),
            deadline_hit: AtomicBool::new(false),
            oversized: AtomicBool::new(false),
        })
    }

    fn request(url: &str, host_header: &str) -> http::Request<WasiBody> {
        let body = http_body_util::Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        http::Request::get(url)
            .header(http::header::HOST, host_header)
            .body(body)
            .unwrap()
    }

    #[tokio::test]
    async fn the_decision_and_the_wire_use_the_url_authority_not_a_host_header() {
        let (allowed, mut hosts) = server().await;
        let (other, mut other_hosts) = server().await;
        let allowed_authority = format!("127.0.0.1:{allowed}");

        // A `Host` naming the allowed source does not let a request reach
        // another port.
        let call = outbound(allowed);
        let denied = call
            .clone()
            .send(
                request(&format!("http://127.0.0.1:{other}/x"), &allowed_authority),
                None,
            )
            .await;
        assert!(matches!(denied, Err(HttpError::HttpRequestDenied)));
        assert_eq!(*call.denied.lock().unwrap(), [format!("127.0.0.1:{other}")]);

        // A `Host` naming another server is not what the source receives.
        let response = call
            .clone()
            .send(
                request(&format!("http://{allowed_authority}/x"), "evil.example"),
                None,
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        drop(response);
        assert_eq!(hosts.recv().await.unwrap(), allowed_authority);
        assert!(
            other_hosts.try_recv().is_err(),
            "the other server was reached"
        );
    }
}
