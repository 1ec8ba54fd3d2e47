//! `serve --per-host-concurrency`: two connections to the same source host
//! share one budget of requests in flight.

use anyhow::Result;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use switchyard_tests::{DemoCmms, Host, HostOptions, wait_for};

/// Each list request of the source takes this long.
const SLOW_MS: i64 = 1000;

/// Starts a host with `concurrency`, syncs work orders of two connections
/// to one slow source at the same time, and returns both runs' durations.
fn two_runs(concurrency: &str) -> Result<Vec<i64>> {
    let cmms = DemoCmms::start(&["--records", "100"])?;
    cmms.admin(
        Method::PUT,
        "/admin/faults",
        Some(json!({"faults": [
            {"kind": "slow", "path_prefix": "/api/v1/work-orders", "delay_ms": SLOW_MS}
        ]})),
    )?;
    let host = Host::start_with(HostOptions {
        plugins: Some(vec!["demo_cmms_connector".into()]),
        // Enough run slots that only the outbound budget can make one
        // connection's request wait for the other's.
        args: [
            "--per-host-concurrency",
            concurrency,
            "--max-runs-per-host",
            "8",
        ]
        .map(String::from)
        .to_vec(),
        ..HostOptions::default()
    })?;
    let (first, _) = host.connect_demo_cmms(&cmms, json!({}))?;
    let (second, _) = host.connect_demo_cmms(&cmms, json!({}))?;
    // The scheduler may have started them already; either way each
    // connection gets one work-orders run.
    host.trigger(&first, Some("work-orders"))?;
    host.trigger(&second, Some("work-orders"))?;
    let mut durations = Vec::new();
    for connection in [&first, &second] {
        let runs = host.wait_for_success(connection, &["work-orders"], Duration::from_secs(60))?;
        let run = runs
            .iter()
            .find(|r| r["model"] == "work-orders")
            .expect("a work-orders run");
        durations.push(run["duration_ms"].as_i64().unwrap_or_default());
    }
    // Both runs made one request each (60 work orders fit one page).
    wait_for(Duration::from_secs(5), "two work-order requests", || {
        let stats = cmms.admin(Method::GET, "/admin/stats", None)?;
        Ok((stats["by_path"]["/api/v1/work-orders"] == 2).then_some(()))
    })?;
    Ok(durations)
}

#[test]
fn two_connections_to_one_host_share_its_request_budget() -> Result<()> {
    // One request in flight per host: the second connection's request waits
    // for the first one's, although it is another connection.
    let mut serialized = two_runs("1")?;
    serialized.sort();
    assert!(serialized[0] >= SLOW_MS, "{serialized:?}");
    assert!(
        serialized[1] >= 2 * SLOW_MS - 50,
        "the second run did not wait for the shared budget: {serialized:?}"
    );
    // With room for both, neither waits for the other.
    let mut parallel = two_runs("8")?;
    parallel.sort();
    assert!(
        parallel[1] < 2 * SLOW_MS - 200,
        "runs waited without a reason: {parallel:?}"
    );
    Ok(())
}
