//! Ingest throughput: the whole sync path (wasm connector call, page
//! validation against the unified schema, atomic page commit) against a raw
//! RocksDB `WriteBatch` of the same records, in the same run.
//!
//! `cargo bench -p switchyard-sync --bench ingest` (after scripts/build-plugins).
//! `INGEST_RECORDS` (default 1,000,000) and `INGEST_PAGE_SIZE` (default 1000)
//! change the workload.

use std::collections::BTreeMap;
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

/// The record the synthetic connector makes for `n`, byte for byte.
fn record(n: u64) -> (String, String) {
    let id = format!("AST-{n:09}");
    let data = format!(
        r#"{{"id":"{id}","tag":"P-{n}","name":"Synthetic centrifugal pump {n}","category":"pump","manufacturer":"Grundfos","model":"NK 65-250","status":"operational","criticality":"high","updated_at":"2026-11-28T00:00:00.000Z"}}"#
    );
    (id, data)
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

async fn pipeline(records: u64, page_size: u32, wasm: &[u8]) -> Duration {
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
    let started = Instant::now();
    let run = engine
        .sync_model(&connection.id, "assets", RunOptions::default(), None)
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(run.error.is_none(), "{:?}", run.error);
    assert_eq!(run.records_upserted, records);
    assert_eq!(
        store.count_records(&connection.id, "assets").unwrap(),
        (records, 0)
    );
    elapsed
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
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../dist/plugins/synthetic.wasm"
    );
    let wasm =
        std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}; run scripts/build-plugins"));
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let rate = |elapsed: Duration| records as f64 / elapsed.as_secs_f64();
    // INGEST_PIPELINE_ONLY skips the baseline, for profiling the pipeline.
    let base = if std::env::var_os("INGEST_PIPELINE_ONLY").is_some() {
        Duration::from_secs(1)
    } else {
        baseline(records, page_size)
    };
    let full = runtime.block_on(pipeline(records, page_size as u32, &wasm));
    println!("ingest: {records} records of ~220 bytes, pages of {page_size}");
    println!(
        "  raw RocksDB WriteBatch  {:>12.0} records/s  ({:.2} s)",
        rate(base),
        base.as_secs_f64()
    );
    println!(
        "  sync pipeline           {:>12.0} records/s  ({:.2} s)",
        rate(full),
        full.as_secs_f64()
    );
    println!(
        "  ratio                   {:>12.2}",
        rate(full) / rate(base)
    );
    if std::env::var_os("INGEST_BREAKDOWN").is_some() {
        runtime.block_on(breakdown(records, page_size as u32, &wasm));
    }
}
