//! Sandbox and registry figures (a benchmark, not a test):
//!
//! - instantiate-and-call latency, p50/p99, with the pooling allocator, for a
//!   connector without WASI imports (`bench-noop`) and one with them;
//! - compile time of connectors;
//! - activation time of a version whose compiled artifact is on disk;
//! - resident memory with 1,000 instances alive at once.
//!
//! ```text
//! scripts/build-plugins
//! cargo bench -p switchyard-control --bench sandbox
//! ```
//!
//! `SANDBOX_BENCH_CALLS` sets the calls per latency series (default 20000).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_control::Registry;
use switchyard_runtime::types::{CallContext, ChangeRequest, FieldValue, Session};
use switchyard_runtime::{CallEnv, ConnectorComponent, Runtime, RuntimeConfig, SandboxLimits};
use switchyard_store::Store;

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

fn new_runtime(artifacts: Option<&Path>) -> Runtime {
    Runtime::new(RuntimeConfig {
        artifact_dir: artifacts.map(Path::to_path_buf),
        ..RuntimeConfig::default()
    })
    .expect("the runtime starts")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Resident set size of this process, from /proc (Linux).
fn rss_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1 << 20) as f64)
}

fn request(model: &str) -> ChangeRequest {
    ChangeRequest {
        model: model.into(),
        cursor: Some("0".into()),
        since: None,
        page_size: 100,
    }
}

fn context(settings: &[(&str, &str)]) -> CallContext {
    CallContext {
        settings: settings
            .iter()
            .map(|(name, value)| FieldValue {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect(),
        session: Session {
            data: String::new(),
            expires_at: None,
        },
    }
}

/// Calls `list-changes` `calls` times, one after the other; each call is a
/// fresh instance from the pool, called, and dropped.
async fn latency(connector: &ConnectorComponent, model: &str, calls: usize) -> Vec<Duration> {
    let env = CallEnv::new(SandboxLimits::default());
    let (context, request) = (context(&[]), request(model));
    for _ in 0..calls / 10 {
        connector
            .list_changes(&env, &context, &request)
            .await
            .unwrap();
    }
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        connector
            .list_changes(&env, &context, &request)
            .await
            .unwrap();
        samples.push(started.elapsed());
    }
    samples.sort();
    samples
}

/// Instantiate-and-call of `describe` (no arguments, a larger result).
async fn describe_latency(connector: &ConnectorComponent, calls: usize) -> Vec<Duration> {
    let env = CallEnv::new(SandboxLimits::default());
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        connector.describe(&env).await.unwrap();
        samples.push(started.elapsed());
    }
    samples.sort();
    samples
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let calls: usize = std::env::var("SANDBOX_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("## Switchyard sandbox benchmark\n");
    println!(
        "{} CPUs, wasmtime 48, pooling allocator (1000 slots), epoch tick 10 ms\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // 1. Instantiate-and-call.
    let runtime = new_runtime(None);
    let noop = tokio.block_on(runtime.load(&plugin("bench_noop"))).unwrap();
    let imports = noop.imports();
    assert!(
        imports
            .iter()
            .all(|i| i.starts_with("switchyard:connector/")),
        "bench-noop must not import WASI: {imports:?}"
    );
    let hot_swap = tokio
        .block_on(runtime.load(&plugin("hot_swap_v1")))
        .unwrap();
    let demo = tokio
        .block_on(runtime.load(&plugin("demo_cmms_connector")))
        .unwrap();
    println!("### Instantiate and call ({calls} calls each, one at a time)\n");
    println!("| connector | imports | call | p50 | p99 | mean |");
    println!("|---|---|---|---|---|---|");
    let series = [
        (
            "bench-noop",
            "none from WASI",
            "list-changes",
            tokio.block_on(latency(&noop, "items", calls)),
        ),
        (
            "hot-swap",
            "wasi:clocks, wasi:io",
            "list-changes (10 records)",
            tokio.block_on(latency(&hot_swap, "items", calls)),
        ),
        (
            "demo-cmms",
            "wasi:http, wasi:io, wasi:clocks",
            "describe",
            tokio.block_on(describe_latency(&demo, calls)),
        ),
    ];
    for (name, imports, call, samples) in &series {
        let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
        println!(
            "| {name} | {imports} | {call} | {} | {} | {} |",
            micros(percentile(samples, 0.5)),
            micros(percentile(samples, 0.99)),
            micros(mean)
        );
    }

    // 2. Compile time (no artifact cache): Runtime::load is compile, link
    // and `describe`; the median of 5.
    println!("\n### Compile (no artifact cache, median of 5)\n");
    println!("| connector | size | load with compile | load from the artifact cache |");
    println!("|---|---|---|---|");
    let cache = tempfile::tempdir().unwrap();
    let cached = new_runtime(Some(cache.path()));
    for name in ["bench_noop", "hot_swap_v1", "demo_cmms_connector"] {
        let wasm = plugin(name);
        let compile = median(
            (0..5)
                .map(|_| {
                    let started = Instant::now();
                    tokio.block_on(runtime.load(&wasm)).unwrap();
                    started.elapsed()
                })
                .collect(),
        );
        tokio.block_on(cached.load(&wasm)).unwrap();
        let from_cache = median(
            (0..5)
                .map(|_| {
                    let started = Instant::now();
                    tokio.block_on(cached.load(&wasm)).unwrap();
                    started.elapsed()
                })
                .collect(),
        );
        println!(
            "| {name} | {} KB | {} | {} |",
            wasm.len() / 1000,
            millis(compile),
            millis(from_cache)
        );
    }

    // 3. Activation with the artifact on disk: install two versions (they
    // compile and are cached), restart (a new runtime and registry on the
    // same data), activate the version that is not loaded yet.
    println!("\n### Activation (Registry::activate)\n");
    let data = tempfile::tempdir().unwrap();
    tokio.block_on(async {
        let (_store, registry) = open_registry(data.path()).await;
        registry.install(&plugin("hot_swap_v1")).await.unwrap();
        registry.install(&plugin("hot_swap_v2")).await.unwrap();
    });
    let (first, switches) = tokio.block_on(async {
        let started = Instant::now();
        let (_store, registry) = open_registry(data.path()).await;
        let reopen = started.elapsed();
        let started = Instant::now();
        registry.activate("hot-swap", "1.1.0").await.unwrap();
        let first = started.elapsed();
        let mut switches = Vec::new();
        for _ in 0..200 {
            let started = Instant::now();
            registry.rollback("hot-swap").await.unwrap();
            switches.push(started.elapsed());
            let started = Instant::now();
            registry.activate("hot-swap", "1.1.0").await.unwrap();
            switches.push(started.elapsed());
        }
        switches.sort();
        println!(
            "- restart (Registry::open, active version from the artifact cache): {}",
            millis(reopen)
        );
        (first, switches)
    });
    println!(
        "- first activation of a version after a restart (artifact on disk, not loaded yet): {}",
        millis(first)
    );
    println!(
        "- activate/rollback between loaded versions (400 switches): p50 {}, p99 {}",
        micros(percentile(&switches, 0.5)),
        micros(percentile(&switches, 0.99))
    );

    // 4. Memory with 1,000 instances alive at once.
    println!("\n### Memory, 1,000 concurrent instances\n");
    let multi = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = new_runtime(None);
    let hot_swap = multi
        .block_on(runtime.load(&plugin("hot_swap_v1")))
        .unwrap();
    let noop = multi.block_on(runtime.load(&plugin("bench_noop"))).unwrap();
    // Warm the pool and the code pages once.
    multi.block_on(latency(&noop, "items", 100));
    multi.block_on(async {
        let env = CallEnv::new(SandboxLimits::default());
        hot_swap
            .list_changes(&env, &context(&[]), &request("items"))
            .await
            .unwrap();
    });
    let before = rss_bytes("VmRSS:");
    let hold = Duration::from_secs(3);
    let (peak, alive) = multi.block_on(concurrent(&hot_swap, 1000, hold));
    println!(
        "- `hot-swap` calls blocked in a host timer ({} s each), {alive} in flight at once",
        hold.as_secs()
    );
    println!(
        "- RSS before {}, with 1,000 live instances {} (+{}, {:.0} KiB per instance)",
        mib(before),
        mib(peak),
        mib(peak.saturating_sub(before)),
        peak.saturating_sub(before) as f64 / 1000.0 / 1024.0
    );

    // The same with an HTTP connector whose source never answers: each call
    // is inside its instance, waiting for its response or for a slot of the
    // host's request budget. A runtime of its own (its own pool): the first
    // one's slots keep their hot pages resident, which would be counted in
    // the baseline and reused here.
    drop((hot_swap, noop, runtime));
    let runtime = new_runtime(None);
    let demo = multi
        .block_on(runtime.load(&plugin("demo_cmms_connector")))
        .unwrap();
    let before = rss_bytes("VmRSS:");
    let (peak, alive) = multi.block_on(waiting_on_http(&demo, 1000, hold));
    println!(
        "- `demo-cmms` calls waiting on a source that never answers, {alive} in flight at once"
    );
    println!(
        "- RSS before {}, with 1,000 live instances {} (+{}, {:.0} KiB per instance)",
        mib(before),
        mib(peak),
        mib(peak.saturating_sub(before)),
        peak.saturating_sub(before) as f64 / 1000.0 / 1024.0
    );
    println!(
        "- peak RSS of the whole benchmark (VmHWM): {}",
        mib(rss_bytes("VmHWM:"))
    );
}

/// Starts `count` demo-cmms calls against a local source that accepts
/// connections and never answers; they end at their time budget. Returns
/// (peak RSS, calls in flight at the peak).
async fn waiting_on_http(
    connector: &Arc<ConnectorComponent>,
    count: usize,
    hold: Duration,
) -> (u64, usize) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let silent = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let allowlist = Arc::new(
        switchyard_runtime::Allowlist::resolve(&["{base-url}".to_string()], |_| {
            Some(base.as_str())
        })
        .unwrap(),
    );
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut calls = Vec::with_capacity(count);
    for _ in 0..count {
        let (connector, in_flight, allowlist, base) = (
            connector.clone(),
            in_flight.clone(),
            allowlist.clone(),
            base.clone(),
        );
        calls.push(tokio::spawn(async move {
            let env = CallEnv {
                limits: SandboxLimits {
                    time_budget_ms: hold.as_millis() as u64,
                    ..SandboxLimits::default()
                },
                allowlist,
                ..CallEnv::default()
            };
            let mut context = context(&[("base-url", &base)]);
            context.session.data = r#"{"token":"t"}"#.into();
            in_flight.fetch_add(1, Ordering::SeqCst);
            // The first page of an initial sync: no cursor.
            let request = ChangeRequest {
                cursor: None,
                since: Some(0),
                ..request("work-orders")
            };
            let result = connector.list_changes(&env, &context, &request).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            assert_eq!(result.unwrap_err().code(), "plugin_timeout");
        }));
    }
    let mut peak = (0, 0);
    let sampling = Instant::now();
    while sampling.elapsed() < hold * 3 / 4 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let rss = rss_bytes("VmRSS:");
        if rss > peak.0 {
            peak = (rss, in_flight.load(Ordering::SeqCst));
        }
    }
    for call in calls {
        call.await.unwrap();
    }
    silent.abort();
    peak
}

async fn open_registry(dir: &Path) -> (Arc<Store>, Registry) {
    let store = Arc::new(Store::open(&dir.join("db")).unwrap());
    let registry = Registry::open(new_runtime(Some(&dir.join("artifacts"))), store.clone())
        .await
        .unwrap();
    (store, registry)
}

/// Starts `count` calls that each wait `hold` inside a host call, samples
/// RSS while they are all alive, and returns (peak RSS, calls in flight at
/// the peak).
async fn concurrent(
    connector: &Arc<ConnectorComponent>,
    count: usize,
    hold: Duration,
) -> (u64, usize) {
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let delay = hold.as_millis().to_string();
    let mut calls = Vec::with_capacity(count);
    for _ in 0..count {
        let (connector, in_flight, delay) = (connector.clone(), in_flight.clone(), delay.clone());
        calls.push(tokio::spawn(async move {
            let env = CallEnv::new(SandboxLimits::default());
            let context = context(&[("page-delay-ms", &delay)]);
            in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let result = connector
                .list_changes(&env, &context, &request("items"))
                .await;
            in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            result.expect("the call succeeds");
        }));
    }
    // Sample while they sleep in the host; instantiation takes microseconds,
    // so after half the hold every call is inside its instance.
    let mut peak = (0, 0);
    let sampling = Instant::now();
    while sampling.elapsed() < hold * 3 / 4 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let rss = rss_bytes("VmRSS:");
        if rss > peak.0 {
            peak = (rss, in_flight.load(std::sync::atomic::Ordering::SeqCst));
        }
    }
    for call in calls {
        call.await.unwrap();
    }
    peak
}
