//! Debugging tools: request IDs, the request log (inbound and outbound,
//! redacted, retained), metrics.

use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use switchyard_tests::{ADMIN_TOKEN, DemoCmms, Host, client, wait_for};

const PASSWORD: &str = "Sw1tchy@rd-S3cret!";

fn logs(host: &Host, query: &str) -> anyhow::Result<Vec<Value>> {
    let page: Value = host
        .admin(Method::GET, &format!("/v1/request-logs?limit=1000&{query}"))
        .send()?
        .error_for_status()?
        .json()?;
    Ok(page["data"].as_array().cloned().unwrap_or_default())
}

fn wait_for_logs(
    host: &Host,
    query: &str,
    what: &str,
    enough: impl Fn(&[Value]) -> bool,
) -> anyhow::Result<Vec<Value>> {
    wait_for(Duration::from_secs(10), what, || {
        let entries = logs(host, query)?;
        Ok(enough(&entries).then_some(entries))
    })
}

#[test]
fn request_ids_are_kept_or_made_and_reach_errors_and_logs() -> anyhow::Result<()> {
    let host = Host::start()?;
    let given = client()
        .get(format!("{}/v1/connections", host.url))
        .header("x-request-id", "trace-abc.123")
        .bearer_auth("sy_conn_not-a-real-token")
        .send()?;
    assert_eq!(given.headers()["x-request-id"], "trace-abc.123");
    assert_eq!(given.status(), 401);
    let body: Value = given.json()?;
    assert_eq!(body["error"]["request_id"], "trace-abc.123");
    assert_eq!(body["error"]["code"], "token_invalid");

    let made = client().get(format!("{}/health", host.url)).send()?;
    let id = made.headers()["x-request-id"].to_str()?.to_string();
    assert!(id.starts_with("req_") && id.len() == 28, "{id}");
    let other = client().get(format!("{}/health", host.url)).send()?;
    assert_ne!(other.headers()["x-request-id"].to_str()?, id);

    // A malformed ID is replaced, not echoed.
    let replaced = client()
        .get(format!("{}/health", host.url))
        .header("x-request-id", "bad id <script>")
        .send()?;
    assert!(
        replaced.headers()["x-request-id"]
            .to_str()?
            .starts_with("req_")
    );

    let entries = wait_for_logs(
        &host,
        "request_id=trace-abc.123",
        "the logged request",
        |e| !e.is_empty(),
    )?;
    let entry = &entries[0];
    assert_eq!(entry["direction"], "inbound");
    assert_eq!(entry["status"], 401);
    assert_eq!(entry["error"], "token_invalid");
    assert_eq!(entry["method"], "GET");
    assert_eq!(entry["url"], "/v1/connections");
    let authorization = entry["request_headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "authorization")
        .unwrap();
    assert_eq!(authorization[1], "[redacted]");
    assert!(
        entry["response_body"]
            .as_str()
            .unwrap()
            .contains("token_invalid")
    );
    Ok(())
}

#[test]
fn outbound_requests_are_logged_against_their_request_or_run_without_secrets() -> anyhow::Result<()>
{
    let cmms = DemoCmms::start(&["--records", "600", "--password", PASSWORD])?;
    let host = Host::start()?;
    let response = host
        .admin(Method::POST, "/v1/connections")
        .header("x-request-id", "create-connection-1")
        .json(&json!({
            "connector_id": "demo-cmms",
            "settings": {"base-url": cmms.url},
            "credentials": {"username": "admin", "password": PASSWORD},
        }))
        .send()?;
    assert_eq!(response.status(), 201);
    let created: Value = response.json()?;
    let connection = created["connection"]["id"].as_str().unwrap().to_string();
    let token = created["token"].as_str().unwrap().to_string();

    // The API call and the connector's login it caused share the request ID.
    let entries = wait_for_logs(
        &host,
        "request_id=create-connection-1",
        "create and login entries",
        |e| e.len() >= 2,
    )?;
    let inbound = entries
        .iter()
        .find(|e| e["direction"] == "inbound")
        .unwrap();
    assert_eq!(inbound["status"], 201);
    let login = entries
        .iter()
        .find(|e| e["direction"] == "outbound")
        .unwrap();
    assert_eq!(login["method"], "POST");
    assert!(
        login["url"]
            .as_str()
            .unwrap()
            .ends_with("/api/v1/auth/login")
    );
    assert_eq!(login["status"], 200);
    assert_eq!(login["connection_id"], connection.as_str());

    host.trigger_sync(&connection, json!({"model": "assets"}))?;
    let runs = host.wait_for_success(&connection, &["assets"], Duration::from_secs(60))?;
    let run_id = runs[0]["id"].as_u64().unwrap();
    let pages = runs[0]["pages"].as_u64().unwrap() as usize;
    let entries = wait_for_logs(
        &host,
        &format!("run_id={run_id}&connection_id={connection}"),
        "the run's outbound requests",
        |e| e.len() >= pages,
    )?;
    for entry in &entries {
        assert_eq!(entry["direction"], "outbound");
        assert_eq!(entry["status"], 200);
        assert!(entry["url"].as_str().unwrap().contains("/api/v1/assets"));
        assert!(entry["duration_ms"].is_u64());
        assert!(
            entry["response_body"]
                .as_str()
                .unwrap()
                .starts_with("{\"data\":[")
        );
    }

    // Filters by status class and direction.
    let errors = logs(&host, "status=4xx")?;
    assert!(
        errors
            .iter()
            .all(|e| e["status"].as_u64().unwrap() / 100 == 4)
    );
    let bad = host
        .admin(Method::GET, "/v1/request-logs?status=9xx")
        .send()?;
    assert_eq!(bad.status(), 400);

    // A connection token reads its own connection's log, and only that.
    let own = host
        .request(
            Method::GET,
            &format!("/v1/request-logs?connection_id={connection}"),
            &token,
        )
        .send()?;
    assert_eq!(own.status(), 200);
    let everything = host
        .request(Method::GET, "/v1/request-logs", &token)
        .send()?;
    assert_eq!(everything.status(), 403);

    // Nothing logged holds the password, the API tokens or a session token.
    let all = serde_json::to_string(&logs(&host, "")?)?;
    for secret in [PASSWORD, token.as_str(), ADMIN_TOKEN] {
        assert!(!all.contains(secret), "the request log contains a secret");
    }
    assert!(all.contains("[redacted]"));
    assert!(!all.contains("\"access_token\":\"ey") && !all.to_lowercase().contains("bearer ey"));
    Ok(())
}

#[test]
fn old_log_entries_are_removed() -> anyhow::Result<()> {
    let host = Host::start_with_env(&[
        ("SWITCHYARD_LOG_RETENTION_HOURS", "0"),
        ("SWITCHYARD_MAINTENANCE_INTERVAL_SECS", "1"),
    ])?;
    client()
        .get(format!("{}/v1/connections", host.url))
        .header("x-request-id", "short-lived")
        .send()?;
    wait_for(Duration::from_secs(15), "the entry to be purged", || {
        Ok(logs(&host, "request_id=short-lived")?
            .is_empty()
            .then_some(()))
    })?;
    Ok(())
}

#[test]
fn metrics_count_requests_runs_and_connector_calls() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--records", "300"])?;
    let host = Host::start()?;
    let (connection, _) = host.connect_demo_cmms(&cmms, json!({}))?;
    host.trigger_sync(&connection, json!({"model": "locations"}))?;
    host.wait_for_success(&connection, &["locations"], Duration::from_secs(60))?;
    assert_eq!(
        client()
            .get(format!("{}/metrics", host.url))
            .send()?
            .status(),
        401
    );
    let text = host
        .admin(Method::GET, "/metrics")
        .send()?
        .error_for_status()?
        .text()?;
    for expected in [
        "switchyard_http_requests_total{method=\"POST\",route=\"/v1/connections\",status=\"201\"} 1",
        "switchyard_sync_runs_total{kind=\"initial\",status=\"succeeded\"}",
        "switchyard_sync_records_total{operation=\"upsert\"}",
        "switchyard_plugin_calls_total{function=\"list-changes\",outcome=\"ok\"}",
        "switchyard_plugin_calls_total{function=\"authenticate\",outcome=\"ok\"} 1",
        "switchyard_outbound_requests_total{outcome=\"2xx\"}",
        "switchyard_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(expected), "missing {expected}");
    }
    Ok(())
}

#[test]
fn every_documented_operation_is_served_and_the_docs_page_lists_it() -> anyhow::Result<()> {
    let host = Host::start()?;
    let doc: Value = client()
        .get(format!("{}/openapi.json", host.url))
        .send()?
        .json()?;
    let docs_page = client().get(format!("{}/docs", host.url)).send()?;
    assert_eq!(docs_page.status(), 200);
    assert!(
        docs_page.headers()["content-security-policy"]
            .to_str()?
            .contains("default-src 'none'")
    );
    let docs_page = docs_page.text()?;
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(
            docs_page.contains(&format!("<code>{path}</code>")),
            "{path} missing from /docs"
        );
        let concrete = path
            .split('/')
            .map(|part| if part.starts_with('{') { "x" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            let method = Method::from_bytes(method.to_uppercase().as_bytes())?;
            // Without a token every API operation answers 401: the route is
            // there. An unrouted one would say route_not_found or
            // method_not_allowed.
            let response = client()
                .request(method.clone(), format!("{}{concrete}", host.url))
                .send()?;
            let status = response.status();
            let body: Value = response.json().unwrap_or(Value::Null);
            assert_eq!(status, 401, "{method} {path}: {body}");
            assert_eq!(body["error"]["code"], "token_missing", "{method} {path}");
        }
    }
    assert!(operations >= 30, "{operations}");
    Ok(())
}
