//! An HTTP client for connectors.
//!
//! The host performs every request (`wasi:http/outgoing-handler`): it checks
//! the destination against the connector's allowed hosts, applies timeouts and
//! rate budgets, and logs the exchange with secrets redacted.
//!
//! ```no_run
//! use switchyard_sdk::http::Request;
//! # fn run() -> Result<(), switchyard_sdk::Error> {
//! let body: serde_json::Value = Request::get("https://cmms.example.com/api/assets")
//!     .query("limit", "100")
//!     .bearer_auth("token")
//!     .send()?
//!     .error_for_status()?
//!     .json()?;
//! # Ok(()) }
//! ```

use crate::{Error, time};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;

/// Largest response body the SDK reads, unless [`Request::max_response_bytes`]
/// says otherwise. The host enforces its own limit as well.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// Default timeouts, in milliseconds. The host caps them.
const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_FIRST_BYTE_TIMEOUT_MS: u64 = 30_000;
const DEFAULT_BETWEEN_BYTES_TIMEOUT_MS: u64 = 30_000;

/// The longest part of a response body quoted in an error message.
const ERROR_SNIPPET_CHARS: usize = 200;

/// An HTTP request, built with chained calls and sent with [`Request::send`].
#[derive(Debug, Clone)]
pub struct Request {
    method: &'static str,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout_ms: u64,
    max_response_bytes: usize,
}

impl Request {
    /// A request with any method (`GET`, `POST`, `PATCH`, …).
    pub fn new(method: &'static str, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: DEFAULT_FIRST_BYTE_TIMEOUT_MS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new("POST", url)
    }

    /// A `PUT` request.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new("PUT", url)
    }

    /// A `DELETE` request.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new("DELETE", url)
    }

    /// Appends a query parameter, percent-encoded. Empty values are skipped.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        if !value.is_empty() {
            self.query.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer_auth(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Sets the body to `value` as JSON, with its content type.
    pub fn json(mut self, value: &impl Serialize) -> Result<Self, Error> {
        self.body = serde_json::to_vec(value)
            .map_err(|e| Error::permanent(format!("request body does not serialize: {e}")))?;
        Ok(self.header("content-type", "application/json"))
    }

    /// Sets a raw body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// How long to wait for the response to start, in milliseconds.
    pub fn timeout_ms(mut self, timeout_ms: u64) -> Self {
        self.timeout_ms = timeout_ms;
        self
    }

    /// The largest response body to accept; a larger one fails the request.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// The full URL, query included.
    pub fn url(&self) -> String {
        let mut url = self.url.clone();
        for (i, (name, value)) in self.query.iter().enumerate() {
            let separator = if i == 0 && !self.url.contains('?') {
                '?'
            } else {
                '&'
            };
            url.push(separator);
            percent_encode_into(&mut url, name);
            url.push('=');
            percent_encode_into(&mut url, value);
        }
        url
    }

    /// Sends the request through the host and reads the whole response.
    ///
    /// Network failures (refused, reset, timeout, DNS) become
    /// [`Error::Transient`]; a destination outside the allowed hosts becomes
    /// [`Error::Permanent`]. HTTP error statuses are *not* errors here: call
    /// [`Response::error_for_status`].
    pub fn send(self) -> Result<Response, Error> {
        let url = self.url();
        let target = ParsedUrl::parse(&url)?;
        let entries: Vec<(String, Vec<u8>)> = self
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.as_bytes().to_vec()))
            .collect();
        let headers = Fields::from_list(&entries)
            .map_err(|e| Error::permanent(format!("invalid request header: {e:?}")))?;
        let request = OutgoingRequest::new(headers);
        let method = match self.method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_string()),
        };
        let scheme = if target.https {
            Scheme::Https
        } else {
            Scheme::Http
        };
        let invalid = |what: &str| Error::permanent(format!("invalid {what} in URL `{url}`"));
        request
            .set_method(&method)
            .map_err(|()| invalid("method"))?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| invalid("scheme"))?;
        request
            .set_authority(Some(target.authority))
            .map_err(|()| invalid("host"))?;
        request
            .set_path_with_query(Some(target.path_and_query))
            .map_err(|()| invalid("path"))?;

        let options = RequestOptions::new();
        let ms_to_ns = |ms: u64| ms.saturating_mul(1_000_000);
        // Hosts may refuse to let guests set timeouts; the defaults then apply.
        let _ = options.set_connect_timeout(Some(ms_to_ns(DEFAULT_CONNECT_TIMEOUT_MS)));
        let _ = options.set_first_byte_timeout(Some(ms_to_ns(self.timeout_ms)));
        let _ = options.set_between_bytes_timeout(Some(ms_to_ns(DEFAULT_BETWEEN_BYTES_TIMEOUT_MS)));

        let outgoing_body = request
            .body()
            .map_err(|()| Error::permanent("request body already taken"))?;
        let future = outgoing_handler::handle(request, Some(options))
            .map_err(|code| transport_error(&url, &code))?;
        if !self.body.is_empty() {
            let stream = outgoing_body
                .write()
                .map_err(|()| Error::permanent("request body stream already taken"))?;
            // `blocking-write-and-flush` accepts at most 4096 bytes per call.
            for chunk in self.body.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| Error::transient(format!("sending request body: {e:?}")))?;
            }
        }
        OutgoingBody::finish(outgoing_body, None).map_err(|code| transport_error(&url, &code))?;

        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(transport_error(&url, &code)),
            Some(Err(())) | None => {
                return Err(Error::transient(format!("no response from {url}")));
            }
        };
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let incoming = response
            .consume()
            .map_err(|()| Error::transient("response body already taken"))?;
        let body = read_body(&incoming, self.max_response_bytes, &url)?;
        drop(IncomingBody::finish(incoming));
        Ok(Response {
            status,
            headers,
            body,
            url,
        })
    }
}

fn read_body(incoming: &IncomingBody, limit: usize, url: &str) -> Result<Vec<u8>, Error> {
    let stream = incoming
        .stream()
        .map_err(|()| Error::transient("response body stream already taken"))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                body.extend_from_slice(&chunk);
                if body.len() > limit {
                    return Err(Error::permanent(format!(
                        "response from {url} is larger than {limit} bytes"
                    )));
                }
            }
            Err(StreamError::Closed) => return Ok(body),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(Error::transient(format!(
                    "reading response from {url}: {}",
                    e.to_debug_string()
                )));
            }
        }
    }
}

fn transport_error(url: &str, code: &ErrorCode) -> Error {
    match code {
        ErrorCode::HttpRequestDenied => Error::permanent(format!(
            "the host denied the request to {url}: its host is not among the connector's allowed hosts"
        )),
        ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestMethodInvalid => {
            Error::permanent(format!("invalid request to {url}: {code:?}"))
        }
        ErrorCode::HttpResponseBodySize(_) => {
            Error::permanent(format!("response from {url} exceeds the host's size limit"))
        }
        _ => Error::transient(format!("request to {url} failed: {code:?}")),
    }
}

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    url: String,
}

impl Response {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The raw body.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// The body as UTF-8 text (invalid bytes replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Parses the body as JSON. A body that does not parse is a
    /// [`Error::Permanent`] error quoting its start.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::permanent(format!(
                "response from {} is not the expected JSON ({e}): {}",
                self.url,
                self.snippet()
            ))
        })
    }

    /// Maps error statuses to the [`Error`] cases the host acts on:
    ///
    /// | status | error |
    /// |---|---|
    /// | 401 | [`Error::Unauthorized`] |
    /// | 403 | [`Error::Forbidden`] |
    /// | 429 | [`Error::RateLimited`], with `Retry-After` (seconds or HTTP date) |
    /// | 408, 5xx | [`Error::Transient`] |
    /// | other 4xx | [`Error::Permanent`] |
    ///
    /// Other statuses return the response unchanged.
    pub fn error_for_status(self) -> Result<Self, Error> {
        let detail = || format!("HTTP {} from {}: {}", self.status, self.url, self.snippet());
        match self.status {
            401 => Err(Error::unauthorized(detail())),
            403 => Err(Error::forbidden(detail())),
            429 => Err(Error::rate_limited(self.retry_after_ms(), detail())),
            408 | 500..=599 => Err(Error::transient(detail())),
            400..=499 => Err(Error::permanent(detail())),
            _ => Ok(self),
        }
    }

    /// The wait a `Retry-After` header asks for, in milliseconds.
    pub fn retry_after_ms(&self) -> Option<u64> {
        let value = self.header("retry-after")?.trim();
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(seconds.saturating_mul(1000));
        }
        let at = time::parse_http_date(value)?;
        Some(at.saturating_sub(time::now_ms()).max(0) as u64)
    }

    fn snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut snippet: String = text.chars().take(ERROR_SNIPPET_CHARS).collect();
        if text.chars().count() > ERROR_SNIPPET_CHARS {
            snippet.push('…');
        }
        snippet
    }
}

/// The parts of an absolute URL that `wasi:http` needs.
struct ParsedUrl<'a> {
    https: bool,
    authority: &'a str,
    path_and_query: &'a str,
}

impl<'a> ParsedUrl<'a> {
    fn parse(url: &'a str) -> Result<Self, Error> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(Error::invalid_config(format!(
                "`{url}` is not an absolute http or https URL"
            )));
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.is_empty() || authority.contains('@') {
            return Err(Error::invalid_config(format!("`{url}` has no valid host")));
        }
        let tail = tail.split('#').next().unwrap_or_default();
        let path_and_query = if tail.is_empty() { "/" } else { tail };
        Ok(ParsedUrl {
            https,
            authority,
            path_and_query,
        })
    }
}

fn percent_encode_into(out: &mut String, value: &str) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_urls_with_encoded_query() {
        let request = Request::get("http://cmms.local:8080/api/v1/assets")
            .query("updated_since", "2026-01-01T00:00:00.000Z")
            .query("empty", "")
            .query("q", "a b&c");
        assert_eq!(
            request.url(),
            "http://cmms.local:8080/api/v1/assets?updated_since=2026-01-01T00%3A00%3A00.000Z&q=a%20b%26c"
        );
        let request = Request::get("http://h/x?a=1").query("b", "2");
        assert_eq!(request.url(), "http://h/x?a=1&b=2");
    }

    #[test]
    fn parses_urls() {
        let url = ParsedUrl::parse("https://api.example.com:8443/v1/x?y=1#frag").unwrap();
        assert!(url.https);
        assert_eq!(url.authority, "api.example.com:8443");
        assert_eq!(url.path_and_query, "/v1/x?y=1");
        assert_eq!(ParsedUrl::parse("http://h").unwrap().path_and_query, "/");
        assert!(ParsedUrl::parse("ftp://h/").is_err());
        assert!(ParsedUrl::parse("http://user@h/").is_err());
    }

    fn response(status: u16, headers: &[(&str, &str)]) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: b"{\"error\":\"nope\"}".to_vec(),
            url: "http://h/x".into(),
        }
    }

    #[test]
    fn maps_statuses_to_error_cases() {
        let case = |status| {
            response(status, &[])
                .error_for_status()
                .err()
                .map(|e| e.case())
        };
        assert_eq!(case(200), None);
        assert_eq!(case(401), Some("unauthorized"));
        assert_eq!(case(403), Some("forbidden"));
        assert_eq!(case(429), Some("rate-limited"));
        assert_eq!(case(408), Some("transient"));
        assert_eq!(case(503), Some("transient"));
        assert_eq!(case(404), Some("permanent"));
        match response(429, &[("Retry-After", "7")]).error_for_status() {
            Err(Error::RateLimited(limit)) => assert_eq!(limit.retry_after_ms, Some(7000)),
            other => panic!("unexpected {other:?}"),
        }
    }
}
