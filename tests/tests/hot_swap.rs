//! Hot swap under load: while syncs run back to back on three connections and
//! records, the change feed and runs are read continuously, the hot-swap
//! connector is switched to 1.1.0 and rolled back to 1.0.0 twenty times.
//! Zero failed runs, zero non-2xx answers, and every run attributed to the
//! version that was active when it started, with every page of a run written
//! by that same version (runs that span a switch keep theirs).

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchyard_tests::{Host, HostOptions, client, wait_for};

const SWITCHES: usize = 20;
/// Items per page and pages per run of the hot-swap connector (settings).
const PER_PAGE: u64 = 10;
const PAGES_PER_RUN: u64 = 4;
/// Each page takes this long, so a run (~4 × 40 ms) spans switches.
const PAGE_DELAY_MS: u64 = 40;
/// Slack around a switch: a run resolves its version two RocksDB reads
/// before it stamps `started_at` (well under a millisecond), and both clocks
/// are read in whole milliseconds.
const AMBIGUOUS_MS: i64 = 5;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `2026-11-28T09:30:00.123Z` → milliseconds since the Unix epoch.
fn parse_ms(value: &Value) -> i64 {
    let text = value.as_str().unwrap_or_default();
    let parse = || -> Option<i64> {
        let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
        let mut date = date.split('-').map(|p| p.parse::<i64>().ok());
        let (y, m, d) = (date.next()??, date.next()??, date.next()??);
        let (hms, ms) = time.split_once('.')?;
        let mut hms = hms.split(':').map(|p| p.parse::<i64>().ok());
        let (h, min, s) = (hms.next()??, hms.next()??, hms.next()??);
        let ms: i64 = ms.parse().ok()?;
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        Some(((days * 24 + h) * 60 + min) * 60_000 + s * 1000 + ms)
    };
    parse().unwrap_or_else(|| panic!("not a timestamp: {text}"))
}

/// One switch: requested at `from`, answered at `to`, leaving `version`
/// active.
#[derive(Debug, Clone)]
struct Switch {
    from: i64,
    to: i64,
    version: &'static str,
}

/// Counts every answer and keeps the non-2xx ones.
#[derive(Default)]
struct Tally {
    answers: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

impl Tally {
    fn check(&self, what: &str, response: reqwest::blocking::Response) -> Result<Value> {
        self.answers.fetch_add(1, Ordering::Relaxed);
        let status = response.status();
        let body: Value = response.json().unwrap_or(Value::Null);
        if !status.is_success() {
            self.failures
                .lock()
                .unwrap()
                .push(format!("{what}: {status} {body}"));
        }
        Ok(body)
    }
}

/// Syncs `connection` back to back until `stop`: trigger, wait for that run
/// to end, again.
fn sync_loop(
    url: String,
    token: String,
    connection: String,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> Result<()> {
    let client = client();
    let mut last_run = 0;
    while !stop.load(Ordering::Relaxed) {
        let response = client
            .post(format!("{url}/v1/connections/{connection}/sync"))
            .bearer_auth(&token)
            .json(&json!({"model": "items"}))
            .send()?;
        tally.check("trigger", response)?;
        last_run = wait_for(Duration::from_secs(60), "the run to end", || {
            let response = client
                .get(format!("{url}/v1/connections/{connection}/runs?limit=1"))
                .bearer_auth(&token)
                .send()?;
            let runs = tally.check("runs", response)?;
            let newest = &runs["data"][0];
            let id = newest["id"].as_u64().unwrap_or(0);
            Ok((id > last_run && newest["status"] != "running").then_some(id))
        })?;
    }
    Ok(())
}

/// Reads records, the change feed and the connector until `stop`.
fn read_loop(
    url: String,
    connections: Vec<(String, String)>,
    admin: String,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> Result<()> {
    let client = client();
    // Bounded: the test stops it long before.
    for round in 0..1_000_000usize {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (connection, token) = &connections[round % connections.len()];
        let (path, token) = match round % 3 {
            0 => (
                format!("/v1/connections/{connection}/models/items/records?limit=100"),
                token,
            ),
            1 => (
                format!("/v1/connections/{connection}/models/items/changes?limit=100"),
                token,
            ),
            _ => ("/v1/connectors/hot-swap".to_string(), &admin),
        };
        let response = client
            .get(format!("{url}{path}"))
            .bearer_auth(token)
            .send()?;
        tally.check(&path, response)?;
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

#[test]
fn twenty_activations_and_rollbacks_under_load_fail_nothing() -> Result<()> {
    let host = Host::start_with(HostOptions {
        plugins: Some(vec!["hot_swap_v1".into(), "hot_swap_v2".into()]),
        ..HostOptions::default()
    })?;
    let connector: Value = host
        .admin(Method::GET, "/v1/connectors/hot-swap")
        .send()?
        .error_for_status()?
        .json()?;
    assert_eq!(connector["active_version"], "1.0.0");
    assert_eq!(connector["versions"].as_array().map(Vec::len), Some(2));

    let settings = json!({
        "page-delay-ms": PAGE_DELAY_MS.to_string(),
        "pages-per-run": PAGES_PER_RUN.to_string(),
    });
    let mut connections = Vec::new();
    for _ in 0..3 {
        connections.push(host.connect("hot-swap", settings.clone(), json!({}))?);
    }
    // The third connection is pinned to 1.0.0: switches do not touch it.
    let pinned = connections[2].0.clone();
    let response = host
        .admin(Method::PUT, &format!("/v1/connections/{pinned}/pin"))
        .json(&json!({"version": "1.0.0"}))
        .send()?;
    assert_eq!(response.status(), 200);

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut workers = Vec::new();
    for (connection, token) in &connections {
        let (url, token, connection, stop, tally) = (
            host.url.clone(),
            token.clone(),
            connection.clone(),
            stop.clone(),
            tally.clone(),
        );
        workers.push(std::thread::spawn(move || {
            sync_loop(url, token, connection, stop, tally)
        }));
    }
    for _ in 0..2 {
        let (url, connections, admin, stop, tally) = (
            host.url.clone(),
            connections.clone(),
            switchyard_tests::ADMIN_TOKEN.to_string(),
            stop.clone(),
            tally.clone(),
        );
        workers.push(std::thread::spawn(move || {
            read_loop(url, connections, admin, stop, tally)
        }));
    }

    // Let syncs get going, then switch back and forth.
    std::thread::sleep(Duration::from_millis(300));
    let mut switches = Vec::new();
    for _ in 0..SWITCHES {
        for (path, body, version) in [
            ("activate", json!({"version": "1.1.0"}), "1.1.0"),
            ("rollback", json!(null), "1.0.0"),
        ] {
            let from = now_ms();
            let mut request = host.admin(Method::POST, &format!("/v1/connectors/hot-swap/{path}"));
            if !body.is_null() {
                request = request.json(&body);
            }
            let answer = tally.check(path, request.send()?)?;
            let to = now_ms();
            assert_eq!(answer["active_version"], version, "{answer}");
            switches.push(Switch { from, to, version });
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        match worker.join() {
            Ok(result) => result?,
            Err(_) => bail!("a worker panicked"),
        }
    }

    let failures = tally.failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "non-2xx answers: {failures:#?}");
    let answers = tally.answers.load(Ordering::Relaxed);

    // Every run succeeded, and its version is the one active when it
    // started; its items say which version wrote each of its pages.
    let mut checked = 0;
    let mut ambiguous = 0;
    let mut spanning = 0;
    let mut by_version = BTreeMap::<String, usize>::new();
    for (index, (connection, token)) in connections.iter().enumerate() {
        let mut runs = host.runs(connection)?;
        runs.sort_by_key(|r| r["id"].as_u64());
        assert!(runs.len() >= 5, "{connection}: only {} runs", runs.len());
        for run in &runs {
            assert_eq!(run["status"], "succeeded", "{run}");
            assert_eq!(run["pages"], PAGES_PER_RUN, "{run}");
        }
        let items = host.all_records(connection, "items", token, false)?;
        assert_eq!(
            items.len() as u64,
            runs.len() as u64 * PER_PAGE * PAGES_PER_RUN
        );
        let item_version = |n: u64| -> Result<String> {
            let item = &items[n as usize];
            anyhow::ensure!(item["data"]["n"] == n, "items are ordered by id: {item}");
            Ok(item["data"]["version"]
                .as_str()
                .context("version")?
                .to_string())
        };
        for (k, run) in runs.iter().enumerate() {
            let version = run["connector_version"].as_str().context("version")?;
            *by_version.entry(version.to_string()).or_default() += 1;
            // Runs of one connection are sequential: run k wrote items
            // [k·40, (k+1)·40), all of them with its own version.
            let first = k as u64 * PER_PAGE * PAGES_PER_RUN;
            for n in first..first + PER_PAGE * PAGES_PER_RUN {
                assert_eq!(item_version(n)?, version, "item {n} of run {run}");
            }
            let started = parse_ms(&run["started_at"]);
            let finished = parse_ms(&run["finished_at"]);
            if switches.iter().any(|s| s.from > started && s.to < finished) {
                spanning += 1;
            }
            if index == 2 {
                assert_eq!(version, "1.0.0", "the pinned connection: {run}");
                continue;
            }
            let within_switch = switches
                .iter()
                .any(|s| started >= s.from - AMBIGUOUS_MS && started <= s.to + AMBIGUOUS_MS);
            if within_switch {
                ambiguous += 1;
                continue;
            }
            let expected = switches
                .iter()
                .rev()
                .find(|s| s.to < started)
                .map_or("1.0.0", |s| s.version);
            assert_eq!(version, expected, "run started at {started}: {run}");
            checked += 1;
        }
    }
    println!(
        "{} switches, {answers} API answers, runs by version {by_version:?}: {checked} attributed exactly, {ambiguous} started during a switch, {spanning} spanned a switch",
        switches.len()
    );
    assert!(checked >= 20, "too few runs to judge: {checked}");
    assert!(by_version.get("1.1.0").is_some_and(|n| *n > 0));
    assert!(spanning > 0, "no run spanned a switch: make runs longer");
    let connector: Value = host
        .admin(Method::GET, "/v1/connectors/hot-swap")
        .send()?
        .error_for_status()?
        .json()?;
    assert_eq!(connector["active_version"], "1.0.0");
    Ok(())
}
