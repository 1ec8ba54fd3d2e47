//! Every 401/403 code of the API, produced for real, with its documented
//! body: `{"error": {"code", "message", "request_id", "details"}}`, the
//! request ID also in `x-request-id`, and a message that says what to do.

use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use switchyard_tests::{ADMIN_TOKEN, DemoCmms, Host, client, wait_for};

/// Checks the envelope and returns the message.
fn expect_error(
    response: reqwest::blocking::Response,
    status: u16,
    code: &str,
) -> anyhow::Result<String> {
    assert_eq!(response.status().as_u16(), status, "expected {code}");
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if status == 401 {
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
    }
    let body: Value = response.json()?;
    let error = body["error"].as_object().expect("an error object");
    let mut keys: Vec<&str> = error.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "details", "message", "request_id"], "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "only `error`: {body}");
    assert_eq!(error["code"], code, "{body}");
    assert_eq!(error["request_id"].as_str(), request_id.as_deref());
    let message = error["message"].as_str().unwrap_or_default().to_string();
    assert!(message.len() > 20, "a message that helps: {body}");
    Ok(message)
}

#[test]
fn every_auth_error_code_has_its_documented_body() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--records", "30", "--password", "Codes-Pw-61f0a2"])?;
    let host = Host::start()?;
    let connections = format!("{}/v1/connections", host.url);

    // token_missing: no Authorization header.
    let message = expect_error(client().get(&connections).send()?, 401, "token_missing")?;
    assert!(message.contains("Authorization: Bearer"), "{message}");

    // token_invalid: unknown, malformed, or not a bearer token.
    for header in [
        "Bearer sy_conn_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Bearer not-a-token",
        "Basic dXNlcjpwYXNz",
    ] {
        let response = client()
            .get(&connections)
            .header("authorization", header)
            .send()?;
        let message = expect_error(response, 401, "token_invalid")?;
        assert!(message.contains("copied it completely"), "{message}");
    }

    // token_expired: a token issued with a one-second lifetime.
    let created: Value = host
        .admin(Method::POST, "/v1/connections")
        .json(&json!({
            "connector_id": "demo-cmms",
            "settings": {"base-url": cmms.url},
            "credentials": {"username": "admin", "password": "Codes-Pw-61f0a2"},
            "token_ttl_secs": 1,
        }))
        .send()?
        .error_for_status()?
        .json()?;
    let connection = created["connection"]["id"].as_str().unwrap().to_string();
    let short_lived = created["token"].as_str().unwrap().to_string();
    let (status, _) = host.get_json(&format!("/v1/connections/{connection}"), &short_lived)?;
    assert_eq!(status, 200, "the token works until it expires");
    std::thread::sleep(Duration::from_millis(1100));
    let message = expect_error(
        host.request(
            Method::GET,
            &format!("/v1/connections/{connection}"),
            &short_lived,
        )
        .send()?,
        401,
        "token_expired",
    )?;
    assert!(message.contains("Issue a new one"), "{message}");

    // token_revoked: a reconnect revokes the connection's tokens.
    let (connection, old_token) =
        host.connect_flow_demo_cmms(&cmms, None, "admin", "Codes-Pw-61f0a2")?;
    let (_, new_token) =
        host.connect_flow_demo_cmms(&cmms, Some(&connection), "admin", "Codes-Pw-61f0a2")?;
    let message = expect_error(
        host.request(
            Method::GET,
            &format!("/v1/connections/{connection}"),
            &old_token,
        )
        .send()?,
        401,
        "token_revoked",
    )?;
    assert!(message.contains("reconnect"), "{message}");

    // insufficient_permissions: a connection token on an admin endpoint, on
    // another connection, and without the needed scope is covered by the
    // isolation test; here the first two.
    let message = expect_error(
        host.request(Method::POST, "/v1/connect-sessions", &new_token)
            .json(&json!({"connector_id": "demo-cmms"}))
            .send()?,
        403,
        "insufficient_permissions",
    )?;
    assert!(message.contains("admin token"), "{message}");
    let other = created["connection"]["id"].as_str().unwrap();
    let message = expect_error(
        host.request(Method::GET, &format!("/v1/connections/{other}"), &new_token)
            .send()?,
        403,
        "insufficient_permissions",
    )?;
    assert!(message.contains("another connection"), "{message}");

    // connection_requires_reauthorization: the password changes, a sync
    // notices, and live calls say what to do.
    cmms.admin(
        Method::POST,
        "/admin/password",
        Some(json!({"password": "Changed-Pw-0d9e"})),
    )?;
    host.request(
        Method::POST,
        &format!("/v1/connections/{connection}/sync"),
        &new_token,
    )
    .json(&json!({"model": "locations"}))
    .send()?;
    wait_for(Duration::from_secs(30), "requires_reauth", || {
        Ok((host.connection(&connection)?["status"] == "requires_reauth").then_some(()))
    })?;
    let message = expect_error(
        host.request(
            Method::POST,
            &format!("/v1/connections/{connection}/sync"),
            &new_token,
        )
        .json(&json!({}))
        .send()?,
        401,
        "connection_requires_reauthorization",
    )?;
    assert!(message.contains("Reconnect"), "{message}");
    // The admin gets the same answer: the connection, not the token, is the
    // problem.
    expect_error(
        host.admin(Method::POST, &format!("/v1/connections/{connection}/sync"))
            .json(&json!({}))
            .send()?,
        401,
        "connection_requires_reauthorization",
    )?;
    // Reads of stored records keep working.
    let (status, _) = host.get_json(
        &format!("/v1/connections/{connection}/models/locations/records"),
        &new_token,
    )?;
    assert_eq!(status, 200);
    let (status, _) = host.get_json("/v1/connections", ADMIN_TOKEN)?;
    assert_eq!(status, 200);
    Ok(())
}
