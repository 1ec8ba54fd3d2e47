//! Ingest throughput: the whole sync path (wasm connector call, page
//! validation against the unified schema, atomic page commit) against a raw
//! RocksDB `WriteBatch` of the same records, in the same run.
//!
//! `cargo bench -p switchyard-sync --bench ingest` (after scripts/build-plugins).
//! `INGEST_RECORDS` (default 1,000,000) and `INGEST_PAGE_SIZE` (default 1000)
//! change the workload; `INGEST_ROUNDS` (default 3) how often both run, in
//! turn, for the medians (this VM's timings vary by ±10 % run to run).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_control::{Connections, NewConnection, Registry, Tokens, Vault};
use switchyard_runtime::{Runtime, RuntimeConfig};
use switchyard_store::Store;
use switchyard_sync::{RunOptions, SyncConfig, SyncEngine};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The record the synthetic connector makes for `n`, byte for byte, made
/// the same way (`push_str` and a small integer writer; see
/// `plugins/synthetic`), so both sides pay the same for making records.
fn record(n: u64) -> (String, String) {
    let mut id = String::with_capacity(16);
    id.push_str("AST-");
    push_decimal(&mut id, n, 9);
    let mut data = String::with_capacity(240);
    data.push_str(r#"{"id":""#);
    data.push_str(&id);
    data.push_str(r#"","tag":"P-"#);
    push_decimal(&mut data, n, 1);
    data.push_str(r#"","name":"Synthetic centrifugal pump "#);
    push_decimal(&mut data, n, 1);
    data.push_str(concat!(
        r#"","category":"pump","manufacturer":"Grundfos","model":"NK 65-250","#,
        r#""status":"operational","criticality":"high","updated_at":"2026-11-28T00:00:00.000Z"}"#
    ));
    (id, data)
}

fn push_decimal(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    loop {
        // Cranelift emits a real division for `/ 10` on u64; below 2^32 the
        // quotient is exactly `n * 0xCCCC_CCCD >> 35`.
        let quotient = if n <= u64::from(u32::MAX) {
            (n * 0xCCCC_CCCD) >> 35
        } else {
            n / 10
        };
        start -= 1;
        digits[start] = b'0' + (n - quotient * 10) as u8;
        n = quotient;
        if n == 0 {
            break;
        }
    }
    start = start.min(digits.len() - width.min(digits.len()));
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap());
}

/// Raw baseline: the same records, one put each, in batches of a page.
fn baseline(records: u64, page_size: u64) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // The same key layout as stored records: length-prefixed scope, then id.
    let prefix = {
        let mut p = vec![9u8];
        p.extend_from_slice(b"conn_bench");
        p.push(6);
        p.extend_from_slice(b"assets");
        p
    };
    let started = Instant::now();
    let mut start = 0;
    while start < records {
        let end = (start + page_size).min(records);
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = (start..end)
            .map(|n| {
                let (id, data) = record(n);
                let mut key = prefix.clone();
                key.extend_from_slice(id.as_bytes());
                (key, data.into_bytes())
            })
            .collect();
        store.write_raw_records(&pairs).unwrap();
        start = end;
    }
    started.elapsed()
}

/// The whole sync path: the time it took and the CPU time each kind of
/// thread spent meanwhile.
async fn pipeline(records: u64, page_size: u32, wasm: &[u8]) -> (Duration, ThreadCpu) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("db")).unwrap());
    let vault = Arc::new(Vault::from_spec(&Vault::generate_key()).unwrap());
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 16,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let registry = Arc::new(Registry::open(runtime, store.clone()).await.unwrap());
    registry.install(wasm).await.unwrap();
    let tokens = Tokens::new(store.clone());
    let connections = Connections::new(store.clone(), registry.clone(), vault, tokens);
    let (connection, _) = connections
        .create(NewConnection {
            connector_id: "synthetic".into(),
            settings: BTreeMap::from([("total".to_string(), records.to_string())]),
            ..NewConnection::default()
        })
        .await
        .unwrap();
    let engine = SyncEngine::new(
        store.clone(),
        registry,
        connections,
        SyncConfig {
            page_size,
            ..SyncConfig::default()
        },
    );
    let before = thread_cpu();
    let started = Instant::now();
    let run = engine
        .sync_model(&connection.id, "assets", RunOptions::default(), None)
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let cpu = thread_cpu().since(&before);
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(run.records_upserted, records);
    assert_eq!(
        store.count_records(&connection.id, "assets").unwrap(),
        (records, 0)
    );
    // The baseline writes what the connector made: check a few records.
    for n in [0, 1, records / 2, records - 1] {
        let (id, data) = record(n);
        let stored = store
            .get_record(&connection.id, "assets", &id)
            .unwrap()
            .unwrap_or_else(|| panic!("{id} is stored"));
        assert_eq!(stored.data, data.as_bytes(), "{id}");
    }
    (elapsed, cpu)
}

/// Where the time goes: connector calls alone, validation alone, commits alone.
async fn breakdown(records: u64, page_size: u32, wasm: &[u8]) {
    use switchyard_runtime::CallEnv;
    use switchyard_runtime::types::{CallContext, ChangeRequest, FieldValue, Session};
    use switchyard_store::model::{Run, RunKind, RunStatus, SyncState, now_ms};
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let component = runtime.load(wasm).await.unwrap();
    let context = CallContext {
        settings: vec![FieldValue {
            name: "total".into(),
            value: records.to_string(),
        }],
        session: Session {
            data: String::new(),
            expires_at: None,
        },
    };
    let env = CallEnv::default();
    let mut pages = Vec::new();
    let mut cursor = None;
    let started = Instant::now();
    loop {
        let request = ChangeRequest {
            model: "assets".into(),
            cursor: cursor.clone(),
            since: None,
            page_size,
        };
        let page = component
            .list_changes(&env, &context, &request)
            .await
            .unwrap();
        cursor = Some(page.cursor.clone());
        let more = page.has_more;
        pages.push(page);
        if !more {
            break;
        }
    }
    let calls = started.elapsed();
    let validator = switchyard_sync::records::RecordValidator::default();
    let started = Instant::now();
    let checked: Vec<_> = pages
        .into_iter()
        .map(|p| {
            (
                p.cursor.clone(),
                validator.check("assets", 1, p.changes).unwrap(),
            )
        })
        .collect();
    let validation = started.elapsed();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut state = SyncState::default();
    let run = Run {
        id: 1,
        connection_id: "conn_bench".into(),
        model: "assets".into(),
        kind: RunKind::Initial,
        status: RunStatus::Running,
        started_at: now_ms(),
        finished_at: None,
        pages: 0,
        records_upserted: 0,
        records_deleted: 0,
        records_quarantined: 0,
        connector_version: "1.0.0".into(),
        connector_hash: String::new(),
        retries: vec![],
        error: None,
    };
    let started = Instant::now();
    for (cursor, page) in &checked {
        state = store
            .commit_page(switchyard_store::PageCommit {
                connection_id: "conn_bench",
                model: "assets",
                changes: &page.changes,
                quarantined: &page.quarantined,
                state: &state,
                cursor,
                completes_initial: false,
                run: &run,
            })
            .unwrap();
    }
    let commits = started.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1e9 / records as f64;
    println!(
        "  breakdown (ns/record): connector calls {:.0}, validation {:.0}, commits {:.0}",
        per(calls),
        per(validation),
        per(commits)
    );
}

fn main() {
    let records = env_number("INGEST_RECORDS", 1_000_000);
    let page_size = env_number("INGEST_PAGE_SIZE", 1000);
    let rounds = env_number("INGEST_ROUNDS", 3).max(1);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../dist/plugins/synthetic.wasm"
    );
    let wasm =
        std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}; run scripts/build-plugins"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // INGEST_PIPELINE_ONLY skips the baseline, for profiling the pipeline.
    let pipeline_only = std::env::var_os("INGEST_PIPELINE_ONLY").is_some();

    let rate = |elapsed: Duration| records as f64 / elapsed.as_secs_f64();
    println!(
        "ingest: {records} records of ~220 bytes, pages of {page_size}, {rounds} rounds (baseline and pipeline alternate)\n"
    );
    println!("| round | raw RocksDB WriteBatch | sync pipeline | ratio | pipeline CPU by thread |");
    println!("|---|---|---|---|---|");
    let mut results = Vec::new();
    for round in 1..=rounds {
        let base = if pipeline_only {
            Duration::from_secs(1)
        } else {
            baseline(records, page_size)
        };
        let (full, cpu) = runtime.block_on(pipeline(records, page_size as u32, &wasm));
        let ratio = rate(full) / rate(base);
        println!(
            "| {round} | {:.0} records/s | {:.0} records/s | {ratio:.2} | {cpu} |",
            rate(base),
            rate(full)
        );
        results.push((rate(base), rate(full), ratio));
    }
    let median = |pick: fn(&(f64, f64, f64)) -> f64| {
        let mut values: Vec<f64> = results.iter().map(pick).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    println!(
        "\nmedian: raw WriteBatch {:.0} records/s, sync pipeline {:.0} records/s, ratio {:.2}",
        median(|r| r.0),
        median(|r| r.1),
        median(|r| r.2)
    );
    if std::env::var_os("INGEST_BREAKDOWN").is_some() {
        runtime.block_on(breakdown(records, page_size as u32, &wasm));
    }
}

/// CPU seconds used per thread of this process (Linux), by thread id, and
/// by the whole process.
struct ThreadCpu {
    threads: HashMap<String, (String, f64)>,
    process: f64,
}

/// The name and the CPU seconds in a `/proc/.../stat` line.
fn parse_stat(stat: &str) -> Option<(String, f64)> {
    let ticks_per_second = 100.0; // USER_HZ
    // `id (name) state ...`: the name may hold spaces, not `)`.
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks: f64 = fields
        .get(11..13)?
        .iter()
        .filter_map(|v| v.parse::<f64>().ok())
        .sum();
    Some((stat[open + 1..close].to_string(), ticks / ticks_per_second))
}

fn thread_cpu() -> ThreadCpu {
    let mut threads = HashMap::new();
    for entry in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if let Some(thread) = parse_stat(&stat) {
            threads.insert(entry.file_name().to_string_lossy().into_owned(), thread);
        }
    }
    let process = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| parse_stat(&stat))
        .map_or(0.0, |(_, seconds)| seconds);
    ThreadCpu { threads, process }
}

impl ThreadCpu {
    /// CPU used since `before`, summed by thread name. Threads that ended
    /// meanwhile (a run's page writer) count as "ended threads".
    fn since(&self, before: &ThreadCpu) -> ThreadCpu {
        let mut by_name: HashMap<String, (String, f64)> = HashMap::new();
        for (tid, (name, seconds)) in &self.threads {
            let earlier = before.threads.get(tid).map_or(0.0, |(_, s)| *s);
            by_name.entry(name.clone()).or_insert((name.clone(), 0.0)).1 += seconds - earlier;
        }
        let process = self.process - before.process;
        let live: f64 = by_name.values().map(|(_, s)| s).sum();
        let ended = "ended threads".to_string();
        by_name.insert(ended.clone(), (ended, process - live));
        ThreadCpu {
            threads: by_name,
            process,
        }
    }
}

impl std::fmt::Display for ThreadCpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut threads: Vec<&(String, f64)> =
            self.threads.values().filter(|(_, s)| *s >= 0.01).collect();
        threads.sort_by(|a, b| b.1.total_cmp(&a.1));
        let list: Vec<String> = threads
            .iter()
            .map(|(name, seconds)| format!("{name} {seconds:.2} s"))
            .collect();
        f.write_str(&list.join(", "))
    }
}
