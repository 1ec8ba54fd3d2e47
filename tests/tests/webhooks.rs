//! Webhooks end to end: an endpoint registered for every event while its
//! receiver is down; connection and sync events happen (created, initial
//! syncs, a password change that fails a sync and needs reauthorization, a
//! reconnect); the receiver comes up and every event arrives exactly once,
//! its signature verified by the Standard Webhooks reference library from
//! PyPI (`tests/webhook_receiver.py`). Then a secret rotation (both secrets
//! sign during the grace period; without one, only the new), a `410 Gone`
//! that disables the endpoint, manual redeliveries with the same
//! webhook-id, the attempts listed, and no secret on disk or in the logs.

use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use switchyard_tests::{DemoCmms, Host, WebhookReceiver, files_containing, free_port, wait_for};

const MODELS: [&str; 3] = ["work-orders", "assets", "locations"];
const OLD_PASSWORD: &str = "Hooks-Initial-Pw-81c3e7";
const NEW_PASSWORD: &str = "Hooks-Rotated-Pw-2d94b0";

/// 0, 1 and 1 s, then 2 s waits: about a minute of retries, so what
/// happens while the receiver is down is still retried when it comes up.
fn retry_schedule() -> String {
    let mut waits = vec!["0", "1", "1"];
    waits.extend(["2"; 27]);
    waits.join(",")
}

fn send(
    host: &Host,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut request = host.admin(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send()?;
    let status = response.status().as_u16();
    let text = response.text()?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Every delivery of the webhook (newest first), following cursors in
/// pages of `page` to exercise them.
fn deliveries(host: &Host, webhook: &str, query: &str, page: u32) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut path = format!("/v1/webhooks/{webhook}/deliveries?limit={page}&{query}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let (status, body) = send(host, Method::GET, &path, None)?;
        anyhow::ensure!(status == 200, "listing deliveries: {status}: {body}");
        all.extend(body["data"].as_array().cloned().unwrap_or_default());
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return Ok(all),
        }
    }
    anyhow::bail!("the delivery listing did not end")
}

/// Starts a sync of every model and waits for the runs to end.
fn sync_and_wait(host: &Host, connection: &str) -> anyhow::Result<()> {
    let last = host.last_run_id(connection)?;
    host.trigger_sync(connection, json!({}))?;
    host.wait_for_runs_after(connection, &MODELS, last, Duration::from_secs(60))?;
    Ok(())
}

/// The ids of every event after sequence number `after`.
fn event_ids_after(host: &Host, after: u64) -> anyhow::Result<BTreeMap<String, Value>> {
    Ok(host
        .events("")?
        .into_iter()
        .filter(|e| e["seq"].as_u64().unwrap_or_default() > after)
        .map(|e| (e["id"].as_str().unwrap_or_default().to_string(), e))
        .collect())
}

fn last_seq(host: &Host) -> anyhow::Result<u64> {
    Ok(host
        .events("")?
        .last()
        .and_then(|e| e["seq"].as_u64())
        .unwrap_or_default())
}

/// Waits until the receiver has a verified request for each of `ids`;
/// returns the requests for them.
fn wait_for_arrival(
    receiver: &WebhookReceiver,
    ids: &BTreeSet<String>,
    what: &str,
) -> anyhow::Result<Vec<Value>> {
    wait_for(Duration::from_secs(60), what, || {
        let received = receiver.received()?;
        let arrived: BTreeSet<String> = received
            .iter()
            .filter(|r| !r["verified_with"].as_array().is_none_or(Vec::is_empty))
            .filter_map(|r| r["webhook_id"].as_str().map(str::to_string))
            .collect();
        Ok(ids.is_subset(&arrived).then(|| {
            received
                .into_iter()
                .filter(|r| r["webhook_id"].as_str().is_some_and(|id| ids.contains(id)))
                .collect()
        }))
    })
}

#[test]
fn every_event_arrives_signed_through_an_outage_a_rotation_a_410_and_redeliveries()
-> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--records", "60", "--password", OLD_PASSWORD])?;
    let schedule = retry_schedule();
    let host = Host::start_with_env(&[
        ("SWITCHYARD_WEBHOOK_RETRY_SCHEDULE", &schedule),
        ("SWITCHYARD_WEBHOOK_TIMEOUT_SECS", "5"),
    ])?;
    let port = free_port()?;
    let hook_url = format!("http://127.0.0.1:{port}/hooks");

    // What the API refuses.
    let (status, body) = send(
        &host,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": hook_url, "event_types": ["sync.finished"]})),
    )?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "unknown_event_type");
    let known = body["error"]["details"]["known"].as_array().unwrap();
    for event_type in [
        "connection.created",
        "connection.reauthorization_required",
        "connection.reconnected",
        "connection.health_degraded",
        "connection.recovered",
        "sync.completed",
        "sync.failed",
    ] {
        assert!(
            known.contains(&json!(event_type)),
            "{event_type} in {known:?}"
        );
    }
    let (status, body) = send(
        &host,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": "ftp://127.0.0.1/hooks", "event_types": ["*"]})),
    )?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_field"))
    );

    // Registered for every event while nothing listens on the port.
    let (status, created) = send(
        &host,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": hook_url, "event_types": ["*"], "description": "e2e receiver"})),
    )?;
    assert_eq!(status, 201, "{created}");
    let webhook = created["webhook"]["id"].as_str().unwrap().to_string();
    let first_secret = created["secret"].as_str().unwrap().to_string();
    assert!(first_secret.starts_with("whsec_"));
    let (_, read) = send(
        &host,
        Method::GET,
        &format!("/v1/webhooks/{webhook}/secret"),
        None,
    )?;
    assert_eq!(read["secret"], first_secret.as_str());

    // connection.created, then sync.completed for each initial sync.
    let outage = Instant::now();
    let (connection, token) = host.connect_demo_cmms(
        &cmms,
        json!({"credentials": {"username": "admin", "password": OLD_PASSWORD}}),
    )?;
    let (status, _) = host.get_json("/v1/webhooks", &token)?;
    assert_eq!(status, 403, "a connection token cannot see webhooks");
    host.wait_for_success(&connection, &MODELS, Duration::from_secs(60))?;

    // sync.failed and connection.reauthorization_required.
    cmms.admin(
        Method::POST,
        "/admin/password",
        Some(json!({"password": NEW_PASSWORD})),
    )?;
    host.trigger_sync(&connection, json!({}))?;
    // The first run to fail stops the others from starting.
    wait_for(Duration::from_secs(30), "requires_reauth", || {
        let status = host.connection(&connection)?["status"].clone();
        let runs = host.runs(&connection)?;
        Ok(
            (status == "requires_reauth" && runs.iter().all(|r| r["status"] != "running"))
                .then_some(()),
        )
    })?;

    // connection.reconnected, and the syncs it starts.
    let last_run = host.last_run_id(&connection)?;
    host.connect_flow_demo_cmms(&cmms, Some(&connection), "admin", NEW_PASSWORD)?;
    host.wait_for_runs_after(&connection, &MODELS, last_run, Duration::from_secs(60))?;

    // Meanwhile the deliveries failed to connect and are retried: the
    // receiver stays down until each has failed at least twice.
    let pending = wait_for(Duration::from_secs(30), "retries while down", || {
        let pending = deliveries(&host, &webhook, "status=pending", 100)?;
        Ok(pending
            .iter()
            .all(|d| d["attempt_count"].as_u64() >= Some(2))
            .then_some(pending))
    })?;
    assert!(
        !pending.is_empty(),
        "deliveries wait while the receiver is down"
    );
    for delivery in &pending {
        let attempts = delivery["attempts"].as_array().unwrap();
        assert!(!attempts.is_empty(), "{delivery}");
        assert!(
            attempts
                .iter()
                .all(|a| a["error"] == "connect_failed" && a["outcome"] == "retry"),
            "{delivery}"
        );
    }

    let expected = event_ids_after(&host, 0)?;
    let types: BTreeSet<&str> = expected
        .values()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for event_type in [
        "connection.created",
        "sync.completed",
        "sync.failed",
        "connection.reauthorization_required",
        "connection.reconnected",
    ] {
        assert!(
            types.contains(event_type),
            "{event_type} happened: {types:?}"
        );
    }

    // The receiver comes up: every event arrives, verified, exactly once.
    let receiver = WebhookReceiver::start(port, &[("v1", &first_secret)])?;
    let down_for = outage.elapsed();
    let up = Instant::now();
    let ids: BTreeSet<String> = expected.keys().cloned().collect();
    let arrived = wait_for_arrival(&receiver, &ids, "every event to arrive")?;
    println!(
        "{} events: receiver down {down_for:?}, all delivered {:?} after it came up",
        ids.len(),
        up.elapsed()
    );
    wait_for(
        Duration::from_secs(10),
        "every delivery to be delivered",
        || {
            let all = deliveries(&host, &webhook, "", 100)?;
            Ok(
                (all.len() == ids.len() && all.iter().all(|d| d["status"] == "delivered"))
                    .then_some(all),
            )
        },
    )?;
    let received = receiver.received()?;
    assert_eq!(received.len(), ids.len(), "no request twice: {received:#?}");
    for request in &arrived {
        let id = request["webhook_id"].as_str().unwrap();
        let event = &expected[id];
        assert_eq!(request["verified_with"], json!(["v1"]), "{request}");
        assert_eq!(request["signatures"], 1);
        assert_eq!(request["duplicate"], false);
        assert_eq!(request["path"], "/hooks");
        let body = &request["body"];
        assert_eq!(body["type"], event["type"]);
        assert_eq!(body["timestamp"], event["occurred_at"]);
        assert_eq!(body["data"]["event_id"], id);
        assert_eq!(body["data"]["event_seq"], event["seq"]);
        assert_eq!(body["data"]["connection_id"], connection.as_str());
        if body["type"] == "sync.failed" {
            assert!(body["data"]["error"]["code"].is_string(), "{body}");
            assert!(body["data"]["run_id"].is_u64());
        }
    }

    // Every attempt is listed: the early deliveries failed to connect, were
    // retried, then delivered. Pages of 3 add up to the whole.
    let listed = deliveries(&host, &webhook, "", 3)?;
    assert_eq!(listed.len(), ids.len());
    let created_delivery = listed
        .iter()
        .find(|d| d["event_type"] == "connection.created")
        .unwrap()
        .clone();
    let attempts = created_delivery["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{created_delivery}");
    assert_eq!(attempts[0]["error"], "connect_failed");
    assert_eq!(attempts[0]["status_code"], Value::Null);
    assert_eq!(attempts.last().unwrap()["outcome"], "delivered");
    assert_eq!(attempts.last().unwrap()["status_code"], 204);
    assert_eq!(created_delivery["attempt_count"], attempts.len());
    let (status, one) = send(
        &host,
        Method::GET,
        &format!(
            "/v1/webhooks/{webhook}/deliveries/{}",
            created_delivery["id"].as_str().unwrap()
        ),
        None,
    )?;
    assert_eq!(status, 200);
    assert_eq!(one["webhook_msg_id"], created_delivery["event_id"]);

    // Rotation with the default grace period: both secrets sign.
    let (status, rotated) = send(
        &host,
        Method::POST,
        &format!("/v1/webhooks/{webhook}/rotate-secret"),
        Some(json!({})),
    )?;
    assert_eq!(status, 200, "{rotated}");
    let second_secret = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(second_secret, first_secret);
    assert!(rotated["previous_secret_expires_at"].is_string());
    receiver.set_secrets(&[("v1", &first_secret), ("v2", &second_secret)])?;
    let before = last_seq(&host)?;
    sync_and_wait(&host, &connection)?;
    let new_ids: BTreeSet<String> = event_ids_after(&host, before)?.into_keys().collect();
    assert_eq!(new_ids.len(), 3, "a sync.completed per model");
    for request in wait_for_arrival(&receiver, &new_ids, "events after the rotation")? {
        assert_eq!(request["signatures"], 2, "{request}");
        assert_eq!(request["verified_with"], json!(["v1", "v2"]), "{request}");
    }

    // Rotation without a grace period: only the newest secret signs.
    let (_, rotated) = send(
        &host,
        Method::POST,
        &format!("/v1/webhooks/{webhook}/rotate-secret"),
        Some(json!({"grace_period_secs": 0})),
    )?;
    let third_secret = rotated["secret"].as_str().unwrap().to_string();
    assert_eq!(rotated["previous_secret_expires_at"], Value::Null);
    receiver.set_secrets(&[("v2", &second_secret), ("v3", &third_secret)])?;
    let before = last_seq(&host)?;
    sync_and_wait(&host, &connection)?;
    let new_ids: BTreeSet<String> = event_ids_after(&host, before)?.into_keys().collect();
    for request in wait_for_arrival(&receiver, &new_ids, "events after the second rotation")? {
        assert_eq!(request["signatures"], 1, "{request}");
        assert_eq!(request["verified_with"], json!(["v3"]), "{request}");
    }

    // 410 Gone disables the endpoint and stops its deliveries.
    let (status, patched) = send(
        &host,
        Method::PATCH,
        &format!("/v1/webhooks/{webhook}"),
        Some(json!({"url": format!("http://127.0.0.1:{port}/gone")})),
    )?;
    assert_eq!(status, 200, "{patched}");
    let before = last_seq(&host)?;
    sync_and_wait(&host, &connection)?;
    let gone_ids: BTreeSet<String> = event_ids_after(&host, before)?.into_keys().collect();
    let disabled = wait_for(
        Duration::from_secs(30),
        "the webhook to be disabled",
        || {
            let (_, webhook) = send(&host, Method::GET, &format!("/v1/webhooks/{webhook}"), None)?;
            Ok((webhook["enabled"] == false).then_some(webhook))
        },
    )?;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("410 Gone")),
        "{disabled}"
    );
    // Events fanned out before the endpoint was disabled have failed
    // deliveries; those after it have none.
    let failed = wait_for(Duration::from_secs(10), "the deliveries to fail", || {
        let of_sync: Vec<Value> = deliveries(&host, &webhook, "", 100)?
            .into_iter()
            .filter(|d| gone_ids.contains(d["event_id"].as_str().unwrap_or_default()))
            .collect();
        Ok(
            (!of_sync.is_empty() && of_sync.iter().all(|d| d["status"] == "failed"))
                .then_some(of_sync),
        )
    })?;
    let gone = failed
        .iter()
        .find(|d| {
            d["attempts"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["outcome"] == "gone"))
        })
        .expect("an attempt answered 410")
        .clone();
    assert_eq!(
        gone["attempts"].as_array().unwrap().len(),
        1,
        "no retry after 410: {gone}"
    );
    let count = deliveries(&host, &webhook, "", 100)?.len();
    sync_and_wait(&host, &connection)?;
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        deliveries(&host, &webhook, "", 100)?.len(),
        count,
        "nothing is fanned out to a disabled webhook"
    );
    let gone_id = gone["id"].as_str().unwrap().to_string();
    let redeliver = |delivery: &str| {
        send(
            &host,
            Method::POST,
            &format!("/v1/webhooks/{webhook}/deliveries/{delivery}/redeliver"),
            None,
        )
    };
    let (status, body) = redeliver(&gone_id)?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("webhook_disabled"))
    );

    // Enabled again: redeliveries are new attempts with the same webhook-id.
    let (status, enabled) = send(
        &host,
        Method::PATCH,
        &format!("/v1/webhooks/{webhook}"),
        Some(json!({"url": hook_url, "enabled": true})),
    )?;
    assert_eq!(status, 200, "{enabled}");
    assert_eq!(enabled["disabled_reason"], Value::Null);
    for delivery in [&created_delivery, &gone] {
        let id = delivery["id"].as_str().unwrap();
        let attempts_before = delivery["attempt_count"].as_u64().unwrap();
        let (status, queued) = redeliver(id)?;
        assert_eq!(status, 202, "{queued}");
        assert_eq!(queued["status"], "pending");
        let done = wait_for(Duration::from_secs(15), "the redelivery", || {
            let (_, now) = send(
                &host,
                Method::GET,
                &format!("/v1/webhooks/{webhook}/deliveries/{id}"),
                None,
            )?;
            Ok((now["status"] == "delivered"
                && now["attempt_count"].as_u64() == Some(attempts_before + 1))
            .then_some(now))
        })?;
        let last = done["attempts"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["trigger"], "manual");
        assert_eq!(last["outcome"], "delivered");
        let msg_id = delivery["webhook_msg_id"].as_str().unwrap();
        let copies: Vec<Value> = receiver
            .received()?
            .into_iter()
            .filter(|r| r["webhook_id"] == msg_id && r["path"] == "/hooks")
            .collect();
        let latest = copies.last().unwrap();
        assert_eq!(latest["verified_with"], json!(["v3"]));
        assert_eq!(latest["body"]["data"]["event_id"], msg_id);
    }
    // The connection.created event reached /hooks twice now: once, and the
    // redelivery the receiver can deduplicate by its webhook-id.
    let created_id = created_delivery["webhook_msg_id"].as_str().unwrap();
    let copies: Vec<bool> = receiver
        .received()?
        .iter()
        .filter(|r| r["webhook_id"] == created_id)
        .map(|r| r["duplicate"] == true)
        .collect();
    assert_eq!(copies, [false, true]);

    // Attempts are counted by outcome.
    let metrics = host.admin(Method::GET, "/metrics").send()?.text()?;
    for outcome in ["delivered", "retry", "gone"] {
        assert!(
            metrics.contains(&format!(
                "switchyard_webhook_deliveries_total{{outcome=\"{outcome}\"}}"
            )),
            "{outcome}"
        );
    }

    // No signing secret in the request log, the data directory or the logs.
    let secrets = [&first_secret, &second_secret, &third_secret];
    let needles: Vec<&str> = secrets
        .iter()
        .flat_map(|s| [s.as_str(), s.trim_start_matches("whsec_")])
        .collect();
    let (_, logged) = send(&host, Method::GET, "/v1/request-logs?limit=1000", None)?;
    let logged = logged.to_string();
    assert!(
        logged.contains("/v1/webhooks"),
        "the request log has the calls"
    );
    for needle in &needles {
        assert!(
            !logged.contains(needle),
            "a webhook secret is in the request log"
        );
    }
    let mut host = host;
    host.stop();
    let on_disk = files_containing(&host.data_dir, &needles)?;
    assert!(on_disk.is_empty(), "secrets on disk: {on_disk:?}");
    let log = std::fs::read_to_string(&host.log_path)?;
    for needle in &needles {
        assert!(!log.contains(needle), "a webhook secret is in the host log");
    }
    assert!(log.contains("webhook attempt"), "the log has the attempts");
    Ok(())
}
