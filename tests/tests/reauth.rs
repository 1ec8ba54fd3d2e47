//! The central user story: the customer changes the CMMS password while
//! syncs run. Within one sync interval the connection needs reauthorization,
//! one event says so, syncs stop calling the source; reconnecting through
//! the connect flow issues a new token, revokes the old one, and syncs
//! resume from the stored cursors: nothing lost, no second initial sync.

use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use switchyard_tests::{DemoCmms, Host, expected_unified, wait_for};

const MODELS: [&str; 3] = ["work-orders", "assets", "locations"];
const INTERVAL_SECS: u64 = 2;
const OLD_PASSWORD: &str = "Initial-Pw-3e81c7a95d";
const NEW_PASSWORD: &str = "Rotated-Pw-0b4f62d1c8";

fn status_of(host: &Host, connection: &str) -> anyhow::Result<String> {
    Ok(host.connection(connection)?["status"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

fn source_requests(cmms: &DemoCmms) -> anyhow::Result<u64> {
    Ok(cmms.admin(Method::GET, "/admin/stats", None)?["requests"]
        .as_u64()
        .unwrap_or_default())
}

#[test]
fn password_rotation_requires_reauth_and_reconnect_resumes_from_cursors() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--records", "600", "--password", OLD_PASSWORD])?;
    let interval = INTERVAL_SECS.to_string();
    let host = Host::start_with_env(&[("SWITCHYARD_SYNC_INTERVAL_SECS", &interval)])?;
    let (connection, old_token) =
        host.connect_flow_demo_cmms(&cmms, None, "admin", OLD_PASSWORD)?;

    // The connect flow starts the initial syncs; the scheduler keeps going.
    host.wait_for_success(&connection, &MODELS, Duration::from_secs(60))?;
    wait_for(Duration::from_secs(30), "incremental runs", || {
        let runs = host.runs(&connection)?;
        Ok(MODELS
            .iter()
            .all(|m| {
                runs.iter().any(|r| {
                    r["model"] == *m && r["kind"] == "incremental" && r["status"] == "succeeded"
                })
            })
            .then_some(()))
    })?;

    cmms.admin(
        Method::POST,
        "/admin/password",
        Some(json!({"password": NEW_PASSWORD})),
    )?;
    let rotated = Instant::now();
    wait_for(Duration::from_secs(30), "requires_reauth", || {
        Ok((status_of(&host, &connection)? == "requires_reauth").then_some(()))
    })?;
    let detected = rotated.elapsed();
    println!("requires_reauth {detected:?} after the password change (interval {INTERVAL_SECS} s)");
    // One interval (plus its 10 % jitter) and the run that notices it.
    assert!(
        detected < Duration::from_secs(INTERVAL_SECS) * 2,
        "took {detected:?}"
    );

    // Syncs stop calling the source: once the runs in flight ended, three
    // intervals pass without a single request.
    wait_for(Duration::from_secs(30), "runs in flight to end", || {
        let runs = host.runs(&connection)?;
        Ok(runs.iter().all(|r| r["status"] != "running").then_some(()))
    })?;
    let before = source_requests(&cmms)?;
    std::thread::sleep(Duration::from_secs(3 * INTERVAL_SECS));
    assert_eq!(
        source_requests(&cmms)?,
        before,
        "syncs kept calling the source"
    );

    let reauth_events = host.events(&format!(
        "type=connection.reauthorization_required&connection_id={connection}"
    ))?;
    assert_eq!(reauth_events.len(), 1, "{reauth_events:#?}");
    assert_eq!(reauth_events[0]["data"]["connector_id"], "demo-cmms");

    // A live call says what to do; stored records stay readable.
    let trigger = host
        .request(
            Method::POST,
            &format!("/v1/connections/{connection}/sync"),
            &old_token,
        )
        .json(&json!({}))
        .send()?;
    assert_eq!(trigger.status(), 401);
    let body: Value = trigger.json()?;
    assert_eq!(body["error"]["code"], "connection_requires_reauthorization");
    let stored_before = host.all_records(&connection, "assets", &old_token, true)?;
    assert!(!stored_before.is_empty());

    // The source changes while the connection waits for its customer.
    let created = cmms.admin(
        Method::POST,
        "/admin/work-orders",
        Some(json!({"title": "Created while disconnected"})),
    )?;
    cmms.admin(
        Method::PATCH,
        "/admin/assets/AST-000001",
        Some(json!({"name": "Renamed while disconnected"})),
    )?;
    cmms.admin(Method::DELETE, "/admin/locations/LOC-00002", None)?;

    let (reconnected, new_token) =
        host.connect_flow_demo_cmms(&cmms, Some(&connection), "admin", NEW_PASSWORD)?;
    assert_eq!(reconnected, connection, "a reconnect keeps the connection");
    assert_ne!(new_token, old_token);
    assert_eq!(status_of(&host, &connection)?, "active");

    let (status, body) = host.get_json(
        &format!("/v1/connections/{connection}/models/assets/records"),
        &old_token,
    )?;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "token_revoked");

    // Syncs resume incrementally and bring the changes.
    let reconnected_at = Instant::now();
    let created_id = created["id"].as_str().unwrap().to_string();
    wait_for(Duration::from_secs(60), "the changes to arrive", || {
        let (status, record) = host.get_json(
            &format!("/v1/connections/{connection}/models/work-orders/records/{created_id}"),
            &new_token,
        )?;
        let (_, location) = host.get_json(
            &format!("/v1/connections/{connection}/models/locations/records/LOC-00002"),
            &new_token,
        )?;
        let (_, asset) = host.get_json(
            &format!("/v1/connections/{connection}/models/assets/records/AST-000001"),
            &new_token,
        )?;
        Ok((status == 200
            && record["id"] == created_id.as_str()
            && location["deleted"] == true
            && asset["data"]["name"] == "Renamed while disconnected")
            .then_some(()))
    })?;
    println!(
        "changes arrived {:?} after the reconnect",
        reconnected_at.elapsed()
    );

    let runs = host.runs(&connection)?;
    for model in MODELS {
        let initial = runs
            .iter()
            .filter(|r| r["model"] == model && r["kind"] != "incremental")
            .count();
        assert_eq!(initial, 1, "{model}: one initial sync only");
    }
    for model in MODELS {
        let source = cmms.export(model)?;
        let stored = host.all_records(&connection, model, &new_token, true)?;
        let stored: BTreeMap<&str, &Value> = stored
            .iter()
            .map(|r| (r["id"].as_str().unwrap(), r))
            .collect();
        assert_eq!(stored.len(), source.len(), "{model}: record count");
        for record in &source {
            let id = record["id"].as_str().unwrap();
            let stored = stored
                .get(id)
                .unwrap_or_else(|| panic!("{model} {id} missing"));
            let deleted = !record["deleted_at"].is_null();
            assert_eq!(stored["deleted"], deleted, "{model} {id} deleted");
            if !deleted {
                assert_eq!(
                    stored["data"],
                    expected_unified(model, record),
                    "{model} {id}"
                );
            }
        }
    }

    let timeline: Vec<(String, String)> = host
        .timeline(&connection)?
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap_or("-").to_string(),
                e["to"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = timeline
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(pairs.first(), Some(&("-", "pending")));
    assert_eq!(pairs.get(1), Some(&("pending", "active")));
    assert!(
        pairs
            .iter()
            .any(|p| p.1 == "requires_reauth" && matches!(p.0, "active" | "refreshing")),
        "{pairs:?}"
    );
    assert_eq!(
        pairs.last(),
        Some(&("requires_reauth", "active")),
        "{pairs:?}"
    );
    let reconnects = host.events(&format!(
        "type=connection.reconnected&connection_id={connection}"
    ))?;
    assert_eq!(reconnects.len(), 1);
    assert_eq!(reconnects[0]["data"]["revoked_tokens"], 1);
    // Still exactly one reauthorization event after everything.
    assert_eq!(
        host.events(&format!(
            "type=connection.reauthorization_required&connection_id={connection}"
        ))?
        .len(),
        1
    );
    Ok(())
}
