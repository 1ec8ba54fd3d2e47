//! Every hostile connector from `plugins/hostile-*` against the real host, one
//! test each: it fails its own run with its own error code (recorded on the
//! run), the host stays up, the API keeps answering, and a healthy connection
//! to the same source syncs all along.

use anyhow::{Result, bail};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use switchyard_tests::{DemoCmms, Host, HostOptions, client, wait_for};

/// The time budget given to the hostile connectors (the default is 30 s).
const BUDGET_MS: i64 = 500;
/// The memory cap given to them.
const MEMORY_BYTES: u64 = 16 << 20;
/// The runtime's epoch tick.
const TICK_MS: i64 = 10;

struct Case {
    plugin: &'static str,
    connector: &'static str,
    code: &'static str,
    message: &'static str,
    /// Whether the error is a timeout (retried once, then the run fails).
    timeout: bool,
    /// Pages committed before the run fails.
    pages: u64,
}

const CASES: [Case; 8] = [
    Case {
        plugin: "hostile_loop",
        connector: "hostile-loop",
        code: "plugin_timeout",
        message: "exceeded its time budget of 500ms",
        timeout: true,
        pages: 0,
    },
    Case {
        plugin: "hostile_alloc",
        connector: "hostile-alloc",
        code: "plugin_memory_limit",
        message: "memory cap of 16777216 bytes",
        timeout: false,
        pages: 0,
    },
    Case {
        plugin: "hostile_panic",
        connector: "hostile-panic",
        code: "plugin_crashed",
        message: "the connector crashed",
        timeout: false,
        pages: 0,
    },
    Case {
        plugin: "hostile_oversized_page",
        connector: "hostile-oversized-page",
        code: "plugin_page_too_large",
        message: "changes but at most 500 were asked for",
        timeout: false,
        pages: 0,
    },
    Case {
        plugin: "hostile_forbidden_host",
        connector: "hostile-forbidden-host",
        code: "plugin_host_not_allowed",
        message: "`forbidden.example:8080`",
        timeout: false,
        pages: 0,
    },
    Case {
        plugin: "hostile_invalid_json",
        connector: "hostile-invalid-json",
        code: "plugin_invalid_output",
        message: "is not valid JSON",
        timeout: false,
        pages: 0,
    },
    Case {
        plugin: "hostile_slow_host",
        connector: "hostile-slow-host",
        code: "plugin_timeout",
        message: "exceeded its time budget of 500ms",
        timeout: true,
        pages: 0,
    },
    Case {
        plugin: "hostile_cursor_loop",
        connector: "hostile-cursor-loop",
        code: "plugin_no_progress",
        message: "cursors it had already returned in this run",
        timeout: false,
        // Cursors a, b (new), then a, b, a: the third repeat stops it.
        pages: 5,
    },
];

const MODELS: [&str; 3] = ["work-orders", "assets", "locations"];

/// Reads the API in a loop until stopped; counts answers and non-2xx ones.
struct Reader {
    stop: Arc<AtomicBool>,
    answers: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<Result<Vec<String>>>>,
}

impl Reader {
    fn start(host: &Host, connection: &str, token: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(AtomicUsize::new(0));
        let (flag, count, url, connection, token) = (
            stop.clone(),
            answers.clone(),
            host.url.clone(),
            connection.to_string(),
            token.to_string(),
        );
        let thread = std::thread::spawn(move || {
            let client = client();
            let mut failures = Vec::new();
            let paths = [
                "/health".to_string(),
                format!("/v1/connections/{connection}/models/work-orders/records?limit=50"),
                format!("/v1/connections/{connection}/runs"),
            ];
            // Bounded: the test stops it long before.
            for round in 0..100_000 {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let path = &paths[round % paths.len()];
                let response = client
                    .get(format!("{url}{path}"))
                    .bearer_auth(&token)
                    .send()?;
                count.fetch_add(1, Ordering::Relaxed);
                if !response.status().is_success() {
                    failures.push(format!("{path}: {}", response.status()));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(failures)
        });
        Reader {
            stop,
            answers,
            thread: Some(thread),
        }
    }

    /// Lets it make at least `at_least` reads in all, then stops it.
    fn finish(mut self, at_least: usize) -> Result<(usize, Vec<String>)> {
        wait_for(Duration::from_secs(30), "API reads", || {
            Ok((self.answers.load(Ordering::Relaxed) >= at_least).then_some(()))
        })?;
        self.stop.store(true, Ordering::Relaxed);
        let answers = self.answers.load(Ordering::Relaxed);
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(failures)) => Ok((answers, failures?)),
            _ => bail!("the reader thread panicked"),
        }
    }
}

/// The first finished run of a connection.
fn finished_run(host: &Host, connection: &str) -> Result<Value> {
    wait_for(Duration::from_secs(60), "a finished run", || {
        Ok(host
            .runs(connection)?
            .into_iter()
            .find(|r| r["status"] != "running"))
    })
}

/// Runs one hostile connector on a host of its own, next to a healthy
/// connection to the same source that is synced and read all along.
fn contain(case: &Case) -> Result<()> {
    let name = case.connector;
    let cmms = DemoCmms::start(&["--records", "1000"])?;
    // The slow host connector calls /api/v1/slow: make it slower than any
    // budget.
    cmms.admin(
        Method::PUT,
        "/admin/faults",
        Some(json!({"faults": [
            {"kind": "slow", "path_prefix": "/api/v1/slow", "delay_ms": 60_000}
        ]})),
    )?;
    let host = Host::start_with(HostOptions {
        plugins: Some(vec!["demo_cmms_connector".into(), case.plugin.into()]),
        ..HostOptions::default()
    })?;
    let limits = host.set_limits(
        name,
        json!({"time_budget_ms": BUDGET_MS, "memory_bytes": MEMORY_BYTES}),
    )?;
    assert_eq!(limits["limits"]["time_budget_ms"], BUDGET_MS);
    assert_eq!(limits["custom"], true);

    let (demo, demo_token) = host.connect_demo_cmms(&cmms, json!({}))?;
    let reader = Reader::start(&host, &demo, &demo_token);
    assert_eq!(host.trigger(&demo, None)?.len(), 3);
    let (hostile, _token) = host.connect(name, json!({"base-url": cmms.url}), json!({}))?;
    host.trigger(&hostile, Some("work-orders"))?;

    let run = finished_run(&host, &hostile)?;
    assert_eq!(run["status"], "failed", "{name}: {run}");
    assert_eq!(run["error"]["code"], case.code, "{name}: {run}");
    let message = run["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(case.message), "{name}: {message}");
    assert_eq!(run["connector_version"], "0.1.0");
    assert_eq!(run["pages"], case.pages, "{name}: {run}");
    let retries = run["retries"].as_array().cloned().unwrap_or_default();
    if case.timeout {
        // Retried once, then failed: two interruptions.
        assert_eq!(retries.len(), 1, "{name}: {run}");
        assert_eq!(retries[0]["code"], "plugin_timeout");
        // The first attempt was stopped within its budget plus one epoch
        // tick, plus the run's own setup and a loaded machine's scheduling
        // (150 ms); the runtime's tests measure it without the run around.
        let first = retries[0]["at"].as_i64().unwrap() - run_started_ms(&run);
        println!("{name}: first attempt interrupted after {first} ms (budget {BUDGET_MS} ms)");
        assert!(first >= BUDGET_MS, "{name}: stopped early after {first} ms");
        assert!(
            first < BUDGET_MS + TICK_MS + 150,
            "{name}: stopped late after {first} ms"
        );
    } else {
        assert!(
            retries.is_empty(),
            "{name}: deterministic, not retried: {run}"
        );
    }

    // The healthy connection synced every model meanwhile, and syncs again.
    host.wait_for_success(&demo, &MODELS, Duration::from_secs(120))?;
    let before = host.runs(&demo)?.len();
    host.trigger(&demo, Some("work-orders"))?;
    wait_for(Duration::from_secs(60), "another demo run", || {
        let runs = host.runs(&demo)?;
        Ok((runs.len() > before && runs[0]["status"] == "succeeded").then_some(()))
    })?;
    let records = host.all_records(&demo, "work-orders", &demo_token, true)?;
    assert_eq!(records.len(), cmms.export("work-orders")?.len());

    let (answers, failures) = reader.finish(30)?;
    assert!(failures.is_empty(), "non-2xx answers: {failures:?}");
    assert!(answers >= 30);
    // The misbehaving connector has its one run: it is not retried in a
    // tight loop, and the host process is still the same one.
    assert_eq!(host.runs(&hostile)?.len(), 1);
    let health = host.admin(Method::GET, "/health").send()?;
    assert_eq!(health.status(), 200);
    Ok(())
}

#[test]
fn a_connector_going_round_in_circles_is_stopped() -> Result<()> {
    contain(&CASES[7])
}

#[test]
fn an_endless_loop_is_interrupted_within_its_budget() -> Result<()> {
    contain(&CASES[0])
}

#[test]
fn unbounded_allocation_stops_at_the_memory_cap() -> Result<()> {
    contain(&CASES[1])
}

#[test]
fn a_panic_is_a_crash_of_its_own_call() -> Result<()> {
    contain(&CASES[2])
}

#[test]
fn a_page_far_over_the_limit_is_refused() -> Result<()> {
    contain(&CASES[3])
}

#[test]
fn a_request_outside_the_allowlist_is_denied() -> Result<()> {
    contain(&CASES[4])
}

#[test]
fn invalid_json_in_record_data_fails_the_page() -> Result<()> {
    contain(&CASES[5])
}

#[test]
fn a_very_slow_host_call_times_out_at_the_budget() -> Result<()> {
    contain(&CASES[6])
}

/// When a run started, in milliseconds since the epoch, from the API's
/// RFC 3339 text.
fn run_started_ms(run: &Value) -> i64 {
    let text = run["started_at"].as_str().unwrap_or_default();
    parse_rfc3339_ms(text).unwrap_or_else(|| panic!("not a timestamp: {text}"))
}

/// `2026-11-28T09:30:00.123Z` → milliseconds since the Unix epoch.
fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let mut date = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (date.next()??, date.next()??, date.next()??);
    let (hms, ms) = time.split_once('.')?;
    let mut hms = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (hms.next()??, hms.next()??, hms.next()??);
    let ms: i64 = ms.parse().ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + min) * 60_000 + s * 1000 + ms)
}
