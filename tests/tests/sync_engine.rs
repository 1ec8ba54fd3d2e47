//! The sync engine against the real host process and demo-cmms: crashes,
//! timestamp ties, changes during a sync, faults, lookback, quarantine.

use rand::Rng;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use switchyard_tests::{DemoCmms, Host, expected_unified, wait_for};

const MODELS: [&str; 3] = ["work-orders", "assets", "locations"];

fn ids(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// demo-cmms `updated_at` of a source record, in milliseconds.
fn updated_ms(record: &Value) -> i64 {
    demo_cmms::rfc3339::Millis::parse(record["updated_at"].as_str().unwrap())
        .unwrap()
        .0
}

/// Where the demo connector's cursor stands: the (updated_at, id) of the last
/// record it has seen, from the source's page token inside the cursor.
fn cursor_position(cursor: &str) -> Option<(i64, String)> {
    let cursor: Value = serde_json::from_str(cursor).ok()?;
    let token = cursor["page_token"].as_str()?;
    let position = demo_cmms::store::Cursor::decode(token)?;
    Some((position.updated_at, position.id.to_string()))
}

#[test]
fn killing_the_host_at_random_points_loses_nothing() -> anyhow::Result<()> {
    // 50,000 records; each page is slowed down so kills land mid-sync.
    let cmms = DemoCmms::start(&["--records", "50000"])?;
    cmms.admin(
        Method::PUT,
        "/admin/faults",
        Some(json!({"faults": [{"kind": "slow", "delay_ms": 8, "every": 1}]})),
    )?;
    let mut host = Host::start_with_env(&[("SWITCHYARD_PAGE_SIZE", "200")])?;
    let (connection, token) = host.connect_demo_cmms(&cmms, json!({}))?;
    let sources: BTreeMap<&str, Vec<Value>> = MODELS
        .iter()
        .map(|m| Ok((*m, cmms.export(m)?)))
        .collect::<anyhow::Result<_>>()?;
    let mut rng = rand::rng();
    let mut killed_mid_sync = 0;
    for _ in 0..20 {
        host.trigger_sync(&connection, json!({})).ok();
        std::thread::sleep(Duration::from_millis(rng.random_range(50..400)));
        host.kill();

        // The data directory as the killed process left it.
        let store = switchyard_store::Store::open(&host.data_dir.join("db"))?;
        let mut complete = 0;
        for model in MODELS {
            let Some(state) = store.sync_state(&connection, model)? else {
                continue;
            };
            complete += usize::from(state.initial_complete);
            let Some(position) = state.cursor.as_deref().and_then(cursor_position) else {
                continue;
            };
            // Every source record at or before the cursor is stored.
            for record in &sources[model] {
                let key = (
                    updated_ms(record),
                    record["id"].as_str().unwrap().to_string(),
                );
                if key <= position {
                    let id = &key.1;
                    assert!(
                        store.get_record(&connection, model, id)?.is_some(),
                        "{model}: the cursor is at {position:?} but {id} is not stored"
                    );
                }
            }
        }
        killed_mid_sync += usize::from(complete < MODELS.len());
        drop(store);
        host.restart()?;
    }
    assert!(
        killed_mid_sync >= 5,
        "only {killed_mid_sync} kills landed during the sync"
    );

    cmms.admin(Method::DELETE, "/admin/faults", None)?;
    host.trigger_sync(&connection, json!({})).ok();
    wait_for(
        Duration::from_secs(120),
        "the initial sync to complete",
        || {
            let models: Value = host
                .request(
                    Method::GET,
                    &format!("/v1/connections/{connection}/models"),
                    &token,
                )
                .send()?
                .json()?;
            let done = models["data"].as_array().is_some_and(|m| {
                m.iter()
                    .all(|m| m["initial_sync_complete"] == true && m["running"] == false)
            });
            Ok(done.then_some(()))
        },
    )?;
    for model in MODELS {
        let stored = host.all_records(&connection, model, &token, true)?;
        assert_eq!(
            ids(&stored),
            ids(&sources[model]),
            "{model}: stored set differs from the source"
        );
        let by_id: BTreeMap<&str, &Value> = stored
            .iter()
            .map(|r| (r["id"].as_str().unwrap(), r))
            .collect();
        for record in &sources[model] {
            let stored = by_id[record["id"].as_str().unwrap()];
            assert_eq!(stored["data"], expected_unified(model, record));
        }
    }
    Ok(())
}

#[test]
fn ten_thousand_tied_timestamps_are_all_synced() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&[
        "--work-orders",
        "12000",
        "--assets",
        "10",
        "--locations",
        "10",
    ])?;
    let tie = "2026-11-27T12:00:00.000Z";
    let touched = cmms.admin(
        Method::POST,
        "/admin/work-orders/touch",
        Some(json!({"updated_at": tie, "count": 10000})),
    )?;
    assert_eq!(touched["touched"], 10000);
    let host = Host::start_with_env(&[("SWITCHYARD_PAGE_SIZE", "300")])?;
    let (connection, token) = host.connect_demo_cmms(&cmms, json!({}))?;
    host.trigger_sync(&connection, json!({"model": "work-orders"}))?;
    let runs = host.wait_for_success(&connection, &["work-orders"], Duration::from_secs(120))?;
    // 10,000 ties in pages of 300: page boundaries fall inside the tie.
    assert!(runs[0]["pages"].as_u64().unwrap() >= 40);
    let source = cmms.export("work-orders")?;
    let tied = source.iter().filter(|r| r["updated_at"] == tie).count();
    assert_eq!(tied, 10000);
    let stored = host.all_records(&connection, "work-orders", &token, false)?;
    assert_eq!(ids(&stored), ids(&source));
    Ok(())
}

#[test]
fn changes_during_a_sync_arrive_and_the_feed_sees_every_one() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&[
        "--work-orders",
        "4000",
        "--assets",
        "50",
        "--locations",
        "20",
    ])?;
    cmms.admin(
        Method::PUT,
        "/admin/faults",
        Some(json!({"faults": [{"kind": "slow", "delay_ms": 30, "every": 1, "path_prefix": "/api/v1/work-orders"}]})),
    )?;
    let host = Host::start_with_env(&[("SWITCHYARD_PAGE_SIZE", "100")])?;
    let (connection, token) = host.connect_demo_cmms(&cmms, json!({}))?;

    // A consumer follows the change feed the whole time.
    let feed_url = format!(
        "{}/v1/connections/{connection}/models/work-orders/changes",
        host.url
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let follower = {
        let (token, stop) = (token.clone(), stop.clone());
        std::thread::spawn(move || -> anyhow::Result<BTreeMap<String, Value>> {
            let client = switchyard_tests::client();
            let mut seen = BTreeMap::new();
            let mut cursor: Option<String> = None;
            let deadline = Instant::now() + Duration::from_secs(180);
            loop {
                let last_round = stop.load(std::sync::atomic::Ordering::SeqCst);
                loop {
                    let mut url = format!("{feed_url}?limit=500");
                    if let Some(c) = &cursor {
                        url.push_str(&format!("&cursor={c}"));
                    }
                    let page: Value = client
                        .get(&url)
                        .bearer_auth(&token)
                        .send()?
                        .error_for_status()?
                        .json()?;
                    for record in page["data"].as_array().unwrap() {
                        seen.insert(record["id"].as_str().unwrap().to_string(), record.clone());
                    }
                    cursor = page["next_cursor"].as_str().map(str::to_string);
                    if page["has_more"] != true {
                        break;
                    }
                }
                if last_round || Instant::now() > deadline {
                    return Ok(seen);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let before = host.last_run_id(&connection)?;
    host.trigger_sync(&connection, json!({"model": "work-orders"}))?;
    wait_for(Duration::from_secs(60), "the first pages", || {
        let runs = host.runs(&connection)?;
        Ok(runs
            .iter()
            .any(|r| r["pages"].as_u64().unwrap_or(0) >= 3)
            .then_some(()))
    })?;
    // While it runs: creates, updates (of records already synced and not
    // yet synced) and deletes.
    for i in 0..40 {
        cmms.admin(
            Method::POST,
            "/admin/work-orders",
            Some(json!({"title": format!("Created during sync {i}")})),
        )?;
    }
    let source = cmms.export("work-orders")?;
    for record in source.iter().step_by(100).take(40) {
        let id = record["id"].as_str().unwrap();
        cmms.admin(
            Method::PATCH,
            &format!("/admin/work-orders/{id}"),
            Some(json!({"title": format!("Updated {id}")})),
        )?;
    }
    for record in source.iter().skip(7).step_by(150).take(25) {
        let id = record["id"].as_str().unwrap();
        cmms.admin(Method::DELETE, &format!("/admin/work-orders/{id}"), None)?;
    }
    let first = host.wait_for_runs_after(
        &connection,
        &["work-orders"],
        before,
        Duration::from_secs(120),
    )?;
    assert_eq!(first[0]["status"], "succeeded", "{}", first[0]);

    // The next incremental sync brings whatever the first one missed.
    let before = host.last_run_id(&connection)?;
    host.trigger_sync(&connection, json!({"model": "work-orders"}))?;
    let second = host.wait_for_runs_after(
        &connection,
        &["work-orders"],
        before,
        Duration::from_secs(60),
    )?;
    assert_eq!(second[0]["status"], "succeeded");
    assert_eq!(second[0]["kind"], "incremental");

    let source = cmms.export("work-orders")?;
    let stored = host.all_records(&connection, "work-orders", &token, true)?;
    let stored: BTreeMap<&str, &Value> = stored
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    assert_eq!(stored.len(), source.len());
    for record in &source {
        let id = record["id"].as_str().unwrap();
        let stored = stored.get(id).unwrap_or_else(|| panic!("{id} missing"));
        if record["deleted_at"].is_null() {
            assert_eq!(
                stored["data"],
                expected_unified("work-orders", record),
                "{id}"
            );
        } else {
            assert_eq!(stored["deleted"], true, "{id} should be a tombstone");
        }
    }

    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = follower.join().unwrap()?;
    assert_eq!(
        seen.len(),
        source.len(),
        "the feed follower saw every record"
    );
    for (id, record) in &stored {
        let latest = &seen[*id];
        assert_eq!(latest["deleted"], record["deleted"], "{id}");
        assert_eq!(
            latest["data"], record["data"],
            "{id}: the follower has the latest state"
        );
    }
    Ok(())
}

#[test]
fn rate_limits_errors_and_slow_responses_are_survived() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--records", "3000"])?;
    cmms.admin(
        Method::PUT,
        "/admin/faults",
        Some(json!({"faults": [
            {"kind": "rate_limit", "every": 4, "count": 3, "retry_after_secs": 1, "path_prefix": "/api/v1/work-orders"},
            {"kind": "server_error", "every": 3, "count": 3, "path_prefix": "/api/v1/assets"},
            {"kind": "slow", "every": 2, "delay_ms": 150}
        ]})),
    )?;
    // Pages of 100: 18 requests for work orders, 9 for assets, enough for
    // every fault to fire its full count.
    let host = Host::start_with_env(&[("SWITCHYARD_PAGE_SIZE", "100")])?;
    let (connection, token) = host.connect_demo_cmms(&cmms, json!({}))?;
    host.trigger_sync(&connection, json!({}))?;
    let runs = host.wait_for_success(&connection, &MODELS, Duration::from_secs(120))?;
    let faults = cmms.admin(Method::GET, "/admin/faults", None)?;
    let fired: Vec<u64> = faults["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fired"].as_u64().unwrap())
        .collect();
    assert_eq!(fired[..2], [3, 3], "{faults}");
    for model in MODELS {
        assert_eq!(
            ids(&host.all_records(&connection, model, &token, false)?),
            ids(&cmms.export(model)?),
            "{model}"
        );
    }
    let work_orders = runs.iter().find(|r| r["model"] == "work-orders").unwrap();
    let rate_limited: Vec<&Value> = work_orders["retries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["code"] == "source_rate_limited")
        .collect();
    assert_eq!(rate_limited.len(), 3, "{work_orders}");
    assert!(rate_limited.iter().all(|r| r["wait_ms"] == 1000));
    // The waits happened: the run lasted at least three Retry-Afters.
    assert!(
        work_orders["duration_ms"].as_i64().unwrap() >= 3000,
        "{work_orders}"
    );
    let assets = runs.iter().find(|r| r["model"] == "assets").unwrap();
    let unavailable = assets["retries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["code"] == "source_unavailable")
        .count();
    assert_eq!(unavailable, 3, "{assets}");
    Ok(())
}

#[test]
fn the_lookback_window_bounds_the_initial_sync() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--records", "2000", "--history-days", "40"])?;
    let host = Host::start()?;
    for bad in [0, 366] {
        let response = host
            .admin(Method::POST, "/v1/connections")
            .json(&json!({
                "connector_id": "demo-cmms",
                "settings": {"base-url": cmms.url},
                "credentials": {"username": "admin", "password": "secret"},
                "lookback_days": bad
            }))
            .send()?;
        assert_eq!(response.status(), 400);
        let body: Value = response.json()?;
        assert_eq!(body["error"]["code"], "invalid_field");
        assert_eq!(body["error"]["details"]["field"], "lookback_days");
    }
    let (connection, token) = host.connect_demo_cmms(&cmms, json!({"lookback_days": 10}))?;
    let response = host
        .admin(Method::PATCH, &format!("/v1/connections/{connection}"))
        .json(&json!({"lookback_days": 400}))
        .send()?;
    assert_eq!(response.status(), 400);

    let started = demo_cmms::rfc3339::Millis::now().0;
    host.trigger_sync(&connection, json!({"model": "assets"}))?;
    host.wait_for_success(&connection, &["assets"], Duration::from_secs(60))?;
    let window_start = started - 10 * 86_400_000;
    let source = cmms.export("assets")?;
    let expected: BTreeSet<String> = source
        .iter()
        .filter(|r| updated_ms(r) >= window_start)
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!expected.is_empty() && expected.len() < source.len());
    let stored = ids(&host.all_records(&connection, "assets", &token, false)?);
    // A record crossing the window edge while the sync started may go
    // either way; everything else must match.
    let difference: Vec<_> = stored.symmetric_difference(&expected).collect();
    assert!(difference.len() <= 1, "{difference:?}");
    Ok(())
}

#[test]
fn invalid_records_are_quarantined_and_the_page_goes_on() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--work-orders", "300", "--assets", "5", "--locations", "5"])?;
    let source = cmms.export("work-orders")?;
    let broken = source[17]["id"].as_str().unwrap().to_string();
    // An empty title breaks the unified schema (minLength 1).
    cmms.admin(
        Method::PATCH,
        &format!("/admin/work-orders/{broken}"),
        Some(json!({"title": ""})),
    )?;
    let host = Host::start()?;
    let (connection, token) = host.connect_demo_cmms(&cmms, json!({}))?;
    host.trigger_sync(&connection, json!({"model": "work-orders"}))?;
    let runs = host.wait_for_success(&connection, &["work-orders"], Duration::from_secs(60))?;
    assert_eq!(runs[0]["records_quarantined"], 1);
    assert_eq!(runs[0]["records_upserted"], 299);
    let quarantine: Value = host
        .request(
            Method::GET,
            &format!("/v1/connections/{connection}/models/work-orders/quarantine"),
            &token,
        )
        .send()?
        .json()?;
    let entry = &quarantine["data"][0];
    assert_eq!(entry["id"], broken.as_str());
    assert!(
        entry["reason"].as_str().unwrap().contains("/title"),
        "{entry}"
    );
    assert_eq!(entry["run_id"], runs[0]["id"]);
    let missing = host
        .request(
            Method::GET,
            &format!("/v1/connections/{connection}/models/work-orders/records/{broken}"),
            &token,
        )
        .send()?;
    assert_eq!(missing.status(), 404);
    Ok(())
}

#[test]
fn scheduled_syncs_follow_the_interval_and_never_overlap() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--records", "300"])?;
    let host = Host::start_with_env(&[("SWITCHYARD_MAX_CONCURRENT_RUNS", "1")])?;
    let (connection, _) = host.connect_demo_cmms(&cmms, json!({}))?;
    let response = host
        .admin(Method::PATCH, &format!("/v1/connections/{connection}"))
        .json(&json!({"sync_interval_secs": {"*": 1}}))
        .send()?;
    assert_eq!(response.status(), 200, "{}", response.text()?);
    let runs = wait_for(Duration::from_secs(30), "repeated scheduled runs", || {
        let runs = host.runs(&connection)?;
        let finished = |model: &str| {
            runs.iter()
                .filter(|r| r["model"] == model && r["status"] == "succeeded")
                .count()
        };
        Ok(MODELS.iter().all(|m| finished(m) >= 3).then_some(runs))
    })?;
    let finished: Vec<&Value> = runs.iter().filter(|r| r["status"] != "running").collect();
    assert!(finished.iter().all(|r| r["status"] == "succeeded"));
    assert!(finished.iter().any(|r| r["kind"] == "incremental"));
    // One run at a time across all models (the global limit is 1): no two
    // runs' time spans overlap.
    let mut spans: Vec<(String, String)> = finished
        .iter()
        .map(|r| {
            (
                r["started_at"].as_str().unwrap().to_string(),
                r["finished_at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "runs overlap: {pair:?}");
    }

    // A full resync forgets the cursor and reads the window again.
    let before = host.last_run_id(&connection)?;
    let started = wait_for(
        Duration::from_secs(10),
        "a free slot for the resync",
        || {
            let models =
                host.trigger_sync(&connection, json!({"model": "assets", "full_resync": true}))?;
            Ok((!models.is_empty()).then_some(models))
        },
    )?;
    assert_eq!(started, ["assets"]);
    let resync =
        host.wait_for_runs_after(&connection, &["assets"], before, Duration::from_secs(30))?;
    let resync = resync.iter().find(|r| r["model"] == "assets").unwrap();
    assert_eq!(resync["kind"], "full_resync");
    assert_eq!(resync["records_upserted"], cmms.export("assets")?.len());
    Ok(())
}

#[test]
fn tombstones_are_removed_after_the_retention_period() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--work-orders", "50", "--assets", "5", "--locations", "5"])?;
    let host = Host::start_with_env(&[
        ("SWITCHYARD_RETENTION_DAYS", "0"),
        ("SWITCHYARD_MAINTENANCE_INTERVAL_SECS", "1"),
    ])?;
    let (connection, token) = host.connect_demo_cmms(&cmms, json!({}))?;
    host.trigger_sync(&connection, json!({"model": "work-orders"}))?;
    host.wait_for_success(&connection, &["work-orders"], Duration::from_secs(60))?;
    let victim = cmms.export("work-orders")?[3]["id"]
        .as_str()
        .unwrap()
        .to_string();
    cmms.admin(
        Method::DELETE,
        &format!("/admin/work-orders/{victim}"),
        None,
    )?;
    let before = host.last_run_id(&connection)?;
    wait_for(Duration::from_secs(10), "an incremental sync", || {
        Ok((!host
            .trigger_sync(&connection, json!({"model": "work-orders"}))?
            .is_empty())
        .then_some(()))
    })?;
    let runs = host.wait_for_runs_after(
        &connection,
        &["work-orders"],
        before,
        Duration::from_secs(30),
    )?;
    assert_eq!(runs[0]["records_deleted"], 1, "{}", runs[0]);
    let path = format!("/v1/connections/{connection}/models/work-orders/records/{victim}");
    // With zero retention the next purge removes the tombstone.
    wait_for(
        Duration::from_secs(30),
        "the tombstone to be purged",
        || {
            let status = host.request(Method::GET, &path, &token).send()?.status();
            Ok((status == 404).then_some(()))
        },
    )?;
    assert_eq!(
        host.all_records(&connection, "work-orders", &token, true)?
            .len(),
        49
    );
    Ok(())
}
