//! Connection health: runs make the numbers, thresholds raise and clear the
//! alert events.

use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use switchyard_tests::{DemoCmms, Host, wait_for};

fn events(host: &Host, connection: &str, event_type: &str) -> anyhow::Result<Vec<Value>> {
    let page: Value = host
        .admin(
            Method::GET,
            &format!("/v1/events?connection_id={connection}&type={event_type}&limit=1000"),
        )
        .send()?
        .error_for_status()?
        .json()?;
    Ok(page["data"].as_array().cloned().unwrap_or_default())
}

#[test]
fn failing_runs_degrade_the_connection_and_healthy_ones_recover_it() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--records", "60"])?;
    let host = Host::start_with_env(&[
        ("SWITCHYARD_RETRY_MAX_ATTEMPTS", "1"),
        ("SWITCHYARD_HEALTH_CONSECUTIVE_FAILURES", "3"),
        ("SWITCHYARD_HEALTH_ERROR_RATE", "1.0"),
    ])?;
    let (connection, token) = host.connect_demo_cmms(&cmms, json!({}))?;
    host.wait_for_success(
        &connection,
        &["work-orders", "assets", "locations"],
        Duration::from_secs(60),
    )?;

    // The source's locations endpoint starts failing; runs come every second.
    cmms.admin(
        Method::PUT,
        "/admin/faults",
        Some(json!({"faults": [{"kind": "server_error", "every": 1, "path_prefix": "/api/v1/locations"}]})),
    )?;
    host.admin(Method::PATCH, &format!("/v1/connections/{connection}"))
        .json(&json!({"sync_interval_secs": {"*": 1}}))
        .send()?
        .error_for_status()?;
    let degraded = wait_for(Duration::from_secs(60), "the health alert", || {
        let found = events(&host, &connection, "connection.health_degraded")?;
        Ok((!found.is_empty()).then_some(found))
    })?;
    assert_eq!(degraded.len(), 1);
    let data = &degraded[0]["data"];
    assert!(
        data["consecutive_failures"].as_u64().unwrap() >= 3,
        "{data}"
    );
    assert!(
        data["reason"].as_str().unwrap().contains("locations"),
        "{data}"
    );

    let health: Value = host
        .request(
            Method::GET,
            &format!("/v1/connections/{connection}/health"),
            &token,
        )
        .send()?
        .error_for_status()?
        .json()?;
    assert_eq!(health["status"], "degraded");
    assert!(health["consecutive_failures"].as_u64().unwrap() >= 3);
    assert!(health["error_rates"]["1h"]["failed"].as_u64().unwrap() >= 3);
    assert!(health["errors_24h"]["source_unavailable"].as_u64().unwrap() >= 3);
    let locations = health["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "locations")
        .unwrap();
    assert_eq!(locations["last_run_status"], "failed");
    assert_eq!(locations["last_error_code"], "source_unavailable");
    assert!(!health["last_successful_sync_at"].is_null());
    assert_eq!(
        health["timeline"].as_array().unwrap().last().unwrap()["to"],
        "degraded"
    );

    // Degraded connections keep syncing; once the source heals they recover.
    cmms.admin(Method::DELETE, "/admin/faults", None)?;
    wait_for(Duration::from_secs(60), "the recovery event", || {
        Ok((!events(&host, &connection, "connection.recovered")?.is_empty()).then_some(()))
    })?;
    let connection_now: Value = host
        .request(
            Method::GET,
            &format!("/v1/connections/{connection}"),
            &token,
        )
        .send()?
        .json()?;
    assert_eq!(connection_now["status"], "active");
    // Each crossing is one event, however many runs follow.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        events(&host, &connection, "connection.health_degraded")?.len(),
        1
    );
    assert_eq!(events(&host, &connection, "connection.recovered")?.len(), 1);
    Ok(())
}
