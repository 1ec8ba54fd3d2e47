//! Outbound HTTP through the sandbox, against small local sources: per-host
//! budgets shared across connections, redirects that are never followed,
//! deadlines and response caps that end the call with their own error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchyard_runtime::types::{CallContext, ChangeRequest, FieldValue, Session};
use switchyard_runtime::{
    Allowlist, CallEnv, CallError, CallObserver, ConnectorComponent, OutboundConfig,
    OutboundExchange, Runtime, RuntimeConfig, SandboxLimits,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn plugin(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../dist/plugins")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the connectors first with scripts/build-plugins",
            path.display()
        )
    })
}

fn runtime(outbound: OutboundConfig) -> Runtime {
    Runtime::new(RuntimeConfig {
        max_instances: 64,
        outbound,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

/// What a local source answers.
#[derive(Clone)]
enum Answer {
    /// An empty demo-cmms page, after a delay.
    EmptyPage(Duration),
    /// `302 Found` to this location.
    Redirect(String),
    /// Nothing, for a minute.
    Hang,
    /// A 200 with a body of this many bytes.
    Big(usize),
}

/// What a local source saw.
#[derive(Default)]
struct Seen {
    hits: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    arrivals: Mutex<Vec<Instant>>,
    host_headers: Mutex<Vec<String>>,
}

/// A one-route HTTP/1.1 server on 127.0.0.1: reads a request head, answers,
/// closes the connection.
async fn source(answer: Answer) -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let counters = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let seen = counters.clone();
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 << 10 {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let host = text
                    .lines()
                    .find_map(|l| {
                        l.split_once(':')
                            .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
                    })
                    .map(|(_, v)| v.trim().to_string())
                    .unwrap_or_default();
                seen.host_headers.lock().unwrap().push(host);
                seen.arrivals.lock().unwrap().push(Instant::now());
                seen.hits.fetch_add(1, Ordering::SeqCst);
                let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                seen.max_in_flight.fetch_max(now, Ordering::SeqCst);
                let response = match answer {
                    Answer::EmptyPage(delay) => {
                        tokio::time::sleep(delay).await;
                        let body = r#"{"data":[],"next_page_token":null,"has_more":false}"#;
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    }
                    Answer::Redirect(location) => format!(
                        "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    ),
                    Answer::Hang => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        String::new()
                    }
                    Answer::Big(size) => format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n{}",
                        "x".repeat(size)
                    ),
                };
                // Counted out before answering: once the client has the
                // whole response it may start the next request, before
                // this task would get to run again.
                seen.in_flight.fetch_sub(1, Ordering::SeqCst);
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (address, seen)
}

fn base_url(address: SocketAddr) -> String {
    format!("http://{address}")
}

/// The environment of one connection whose `base-url` is `base`.
fn connection_env(base: &str, limits: SandboxLimits) -> CallEnv {
    CallEnv {
        limits,
        allowlist: Arc::new(
            Allowlist::resolve(&["{base-url}".to_string()], |_| Some(base)).unwrap(),
        ),
        ..CallEnv::default()
    }
}

fn context(base: &str) -> CallContext {
    CallContext {
        settings: vec![FieldValue {
            name: "base-url".into(),
            value: base.into(),
        }],
        session: Session {
            data: r#"{"token":"t"}"#.into(),
            expires_at: None,
        },
    }
}

fn request() -> ChangeRequest {
    ChangeRequest {
        model: "work-orders".into(),
        cursor: None,
        since: Some(0),
        page_size: 100,
    }
}

/// `calls` list-changes calls at once through `env`; returns when each ended.
fn spawn_calls(
    connector: &Arc<ConnectorComponent>,
    env: &CallEnv,
    base: &str,
    calls: usize,
) -> Vec<tokio::task::JoinHandle<Instant>> {
    (0..calls)
        .map(|_| {
            let (connector, env, context) = (connector.clone(), env.clone(), context(base));
            tokio::spawn(async move {
                connector
                    .list_changes(&env, &context, &request())
                    .await
                    .unwrap();
                Instant::now()
            })
        })
        .collect()
}

async fn ends(calls: Vec<tokio::task::JoinHandle<Instant>>) -> Instant {
    let mut last = None;
    for call in calls {
        let end = call.await.unwrap();
        last = Some(last.map_or(end, |l: Instant| l.max(end)));
    }
    last.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_to_one_host_share_its_concurrency_budget() {
    let runtime = runtime(OutboundConfig {
        per_host_concurrency: 2,
        per_host_rate: 1000.0,
        ..OutboundConfig::default()
    });
    let connector = runtime.load(&plugin("demo_cmms_connector")).await.unwrap();
    let delay = Duration::from_millis(200);
    let (shared, shared_seen) = source(Answer::EmptyPage(delay)).await;
    let (other, other_seen) = source(Answer::EmptyPage(delay)).await;
    let (shared, other) = (base_url(shared), base_url(other));
    // Two connections (their own allowlists and environments) on one source
    // host, and a third connection on another host.
    let first = connection_env(&shared, SandboxLimits::default());
    let second = connection_env(&shared, SandboxLimits::default());
    let third = connection_env(&other, SandboxLimits::default());

    let started = Instant::now();
    let mut on_shared = spawn_calls(&connector, &first, &shared, 4);
    on_shared.extend(spawn_calls(&connector, &second, &shared, 4));
    let on_other = spawn_calls(&connector, &third, &other, 4);
    let shared_end = ends(on_shared).await;
    let other_end = ends(on_other).await;

    assert_eq!(shared_seen.hits.load(Ordering::SeqCst), 8);
    assert_eq!(
        shared_seen.max_in_flight.load(Ordering::SeqCst),
        2,
        "the two connections together never exceed the host's 2 requests in flight"
    );
    // 8 requests, 2 at a time, 200 ms each.
    assert!(
        shared_end - started >= delay * 4,
        "{:?}",
        shared_end - started
    );
    // The other host has a budget of its own: its 4 requests did not queue
    // behind the shared host's 8.
    assert_eq!(other_seen.max_in_flight.load(Ordering::SeqCst), 2);
    assert!(
        other_end < shared_end,
        "the other host waited for the shared one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_to_one_host_share_its_request_rate() {
    let runtime = runtime(OutboundConfig {
        per_host_concurrency: 16,
        per_host_rate: 5.0,
        ..OutboundConfig::default()
    });
    let connector = runtime.load(&plugin("demo_cmms_connector")).await.unwrap();
    let (address, seen) = source(Answer::EmptyPage(Duration::ZERO)).await;
    let base = base_url(address);
    let first = connection_env(&base, SandboxLimits::default());
    let second = connection_env(&base, SandboxLimits::default());
    let mut calls = spawn_calls(&connector, &first, &base, 5);
    calls.extend(spawn_calls(&connector, &second, &base, 5));
    ends(calls).await;

    // A burst of 5 (the bucket's size), then one every 200 ms: the second
    // connection's 5 requests wait for tokens the first one used. With a
    // budget per connection all 10 would have arrived at once.
    let arrivals = seen.arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 10);
    let spread = *arrivals.iter().max().unwrap() - *arrivals.iter().min().unwrap();
    assert!(spread >= Duration::from_millis(900), "spread {spread:?}");
}

/// Keeps what the call reported.
#[derive(Default)]
struct Recorder {
    exchanges: Mutex<Vec<OutboundExchange>>,
    logs: Mutex<Vec<String>>,
}

impl CallObserver for Recorder {
    fn log(&self, _level: switchyard_runtime::LogLevel, message: &str) {
        self.logs.lock().unwrap().push(message.to_string());
    }

    fn exchange(&self, exchange: OutboundExchange) {
        self.exchanges.lock().unwrap().push(exchange);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_out_of_the_allowlist_is_not_followed() {
    let runtime = runtime(OutboundConfig::default());
    let connector = runtime.load(&plugin("demo_cmms_connector")).await.unwrap();
    let (outside, outside_seen) = source(Answer::EmptyPage(Duration::ZERO)).await;
    let (allowed, allowed_seen) =
        source(Answer::Redirect(format!("{}/steal", base_url(outside)))).await;
    let base = base_url(allowed);
    let recorder = Arc::new(Recorder::default());
    let env = CallEnv {
        observer: Some(recorder.clone()),
        ..connection_env(&base, SandboxLimits::default())
    };
    let error = connector
        .list_changes(&env, &context(&base), &request())
        .await
        .unwrap_err();
    // The connector got the 302 itself, found no page in it, and failed.
    assert_eq!(error.code(), "source_request_failed", "{error}");
    assert_eq!(allowed_seen.hits.load(Ordering::SeqCst), 1);
    assert_eq!(
        outside_seen.hits.load(Ordering::SeqCst),
        0,
        "the host followed a redirect out of the allowlist"
    );
    let exchanges = recorder.exchanges.lock().unwrap();
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].status, Some(302));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_source_ends_the_call_at_its_budget_with_a_timeout() {
    let runtime = runtime(OutboundConfig::default());
    let connector = runtime.load(&plugin("hostile_slow_host")).await.unwrap();
    let (address, seen) = source(Answer::Hang).await;
    let base = base_url(address);
    let budget = Duration::from_millis(400);
    let env = connection_env(
        &base,
        SandboxLimits {
            time_budget_ms: budget.as_millis() as u64,
            ..SandboxLimits::default()
        },
    );
    let started = Instant::now();
    let error = connector
        .list_changes(&env, &context(&base), &request())
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(error, CallError::Timeout { budget: b } if b == budget),
        "{error:?}"
    );
    assert_eq!(error.code(), "plugin_timeout");
    assert_eq!(seen.hits.load(Ordering::SeqCst), 1);
    // The guest asked for an hour; the host cut the request at the budget.
    assert!(elapsed >= budget, "{elapsed:?}");
    assert!(elapsed < budget + Duration::from_millis(150), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_over_the_cap_fails_the_call_with_its_own_code() {
    let runtime = runtime(OutboundConfig::default());
    let connector = runtime.load(&plugin("demo_cmms_connector")).await.unwrap();
    let (address, _) = source(Answer::Big(256 << 10)).await;
    let base = base_url(address);
    let env = connection_env(
        &base,
        SandboxLimits {
            max_response_bytes: 16 << 10,
            ..SandboxLimits::default()
        },
    );
    let error = connector
        .list_changes(&env, &context(&base), &request())
        .await
        .unwrap_err();
    assert!(
        matches!(error, CallError::ResponseTooLarge { limit_bytes } if limit_bytes == 16 << 10),
        "{error:?}"
    );
    assert_eq!(error.code(), "plugin_response_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_header_cannot_widen_the_allowlist() {
    let runtime = runtime(OutboundConfig::default());
    let connector = runtime
        .load(&plugin("hostile_forbidden_host"))
        .await
        .unwrap();
    let (address, seen) = source(Answer::EmptyPage(Duration::ZERO)).await;
    let base = base_url(address);
    let recorder = Arc::new(Recorder::default());
    let env = CallEnv {
        observer: Some(recorder.clone()),
        ..connection_env(&base, SandboxLimits::default())
    };
    let error = connector
        .list_changes(&env, &context(&base), &request())
        .await
        .unwrap_err();
    match &error {
        CallError::HostNotAllowed { host } => assert_eq!(host, "forbidden.example:8080"),
        other => panic!("unexpected {other:?}"),
    }
    // The request carrying `Host: <allowed source>` was refused by the
    // sandbox before anything was sent: the guest cannot set `Host`.
    let logs = recorder.logs.lock().unwrap();
    assert!(
        logs.iter()
            .any(|l| l.contains("Host header refused") && l.contains("Forbidden")),
        "{logs:?}"
    );
    assert_eq!(seen.hits.load(Ordering::SeqCst), 0);
    let exchanges = recorder.exchanges.lock().unwrap();
    assert_eq!(exchanges.len(), 1, "only the plain forbidden request");
    assert_eq!(exchanges[0].error.as_deref(), Some("host_not_allowed"));
}
