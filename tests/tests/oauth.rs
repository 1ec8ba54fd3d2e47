//! OAuth 2.0 authorization code, run by the host for a connector that
//! declares it, against a real provider (oauth2-mock-server from npm, made
//! strict by `tests/node/oauth-server.mjs`): the redirect with PKCE and
//! state, the callback and code exchange, refresh-token grants while
//! syncing, and reauthorization when the customer revokes the grant.

use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use switchyard_tests::{
    Host, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAuthProvider, token_on_page, wait_for,
};

/// Short-lived access tokens: the host renews them ahead of expiry (within
/// a minute), so every sync redeems the refresh token.
const TOKEN_TTL_SECS: u64 = 30;

#[test]
fn oauth_connect_refresh_and_reauthorization() -> anyhow::Result<()> {
    let provider = OAuthProvider::start(TOKEN_TTL_SECS)?;
    let host = Host::start_with_env(&[("SWITCHYARD_SYNC_INTERVAL_SECS", "2")])?;

    // Without a registered client the flow says so instead of redirecting.
    let session = host.connect_session(json!({"connector_id": "oauth-demo"}))?;
    let (status, _, body) = host.submit_connect_form(
        session["connect_url"].as_str().unwrap(),
        &[
            ("setting:issuer-url", &provider.issuer),
            ("setting:api-url", &provider.api),
        ],
    )?;
    assert_eq!(status, 200);
    assert!(body.contains("no OAuth client is registered"), "{body}");

    // The connector takes its token URL from a setting the customer types:
    // the client secret may only go to origins the operator names.
    let unpinned = host
        .admin(Method::PUT, "/v1/connectors/oauth-demo/oauth-client")
        .json(&json!({"client_id": OAUTH_CLIENT_ID, "client_secret": OAUTH_CLIENT_SECRET}))
        .send()?;
    assert_eq!(unpinned.status(), 400);
    let error: serde_json::Value = unpinned.json()?;
    assert_eq!(
        error["error"]["details"]["parameter"], "token_origins",
        "{error}"
    );
    host.admin(Method::PUT, "/v1/connectors/oauth-demo/oauth-client")
        .json(&json!({
            "client_id": OAUTH_CLIENT_ID,
            "client_secret": OAUTH_CLIENT_SECRET,
            "token_origins": [provider.issuer],
        }))
        .send()?
        .error_for_status()?;
    let page = host.authorize_oauth(&provider, session["connect_url"].as_str().unwrap())?;
    let token = token_on_page(&page)?;
    let connection = session["connection_id"].as_str().unwrap().to_string();
    assert_eq!(host.connection(&connection)?["status"], "active");

    host.wait_for_success(&connection, &["sites"], Duration::from_secs(60))?;
    let sites = host.all_records(&connection, "sites", &token, false)?;
    assert_eq!(sites.len(), 25);
    assert_eq!(sites[0]["data"]["name"], "Plant 1");
    // Syncs go on with renewed access tokens.
    wait_for(Duration::from_secs(30), "refresh-token grants", || {
        let stats = provider.stats()?;
        let refreshed = stats["token"]["refresh_token"].as_u64().unwrap_or(0);
        let runs = host.runs(&connection)?;
        let succeeded = runs.iter().filter(|r| r["status"] == "succeeded").count();
        Ok((refreshed >= 2 && succeeded >= 3).then_some(stats))
    })?;
    let stats = provider.stats()?;
    assert_eq!(stats["token"]["authorization_code"], 1);
    assert_eq!(stats["token_rejected"], 0, "{stats}");
    assert_eq!(stats["api_unauthorized"], 0, "{stats}");

    // The customer revokes the app at the provider: the next renewal fails,
    // the connection needs reauthorization, once.
    provider.revoke_grants()?;
    wait_for(Duration::from_secs(30), "requires_reauth", || {
        Ok((host.connection(&connection)?["status"] == "requires_reauth").then_some(()))
    })?;
    std::thread::sleep(Duration::from_secs(3));
    let events = host.events(&format!(
        "type=connection.reauthorization_required&connection_id={connection}"
    ))?;
    assert_eq!(events.len(), 1, "{events:#?}");
    let runs_before = host.runs(&connection)?.len();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(host.runs(&connection)?.len(), runs_before, "no more runs");

    // Reconnect through the OAuth flow: same connection, new token.
    let session = host.connect_session(json!({
        "connector_id": "oauth-demo",
        "connection_id": connection,
    }))?;
    assert_eq!(session["reconnect"], true);
    // Someone else's consent (the callback in a browser that did not start
    // the flow) does not complete the link.
    let (status, page) = host
        .authorize_oauth_in_another_browser(&provider, session["connect_url"].as_str().unwrap())?;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("started in another browser"), "{page}");
    let page = host.authorize_oauth(&provider, session["connect_url"].as_str().unwrap())?;
    assert!(page.contains("Reconnected"));
    let new_token = token_on_page(&page)?;
    assert_ne!(new_token, token);
    let (status, body) = host.get_json(&format!("/v1/connections/{connection}"), &token)?;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "token_revoked");
    let runs_at_reconnect = host.runs(&connection)?.len();
    wait_for(
        Duration::from_secs(30),
        "a sync after the reconnect",
        || {
            let runs: Vec<Value> = host.runs(&connection)?;
            Ok((runs.len() > runs_at_reconnect && runs[0]["status"] == "succeeded").then_some(()))
        },
    )?;
    let runs = host.runs(&connection)?;
    assert_eq!(
        runs.iter().filter(|r| r["kind"] != "incremental").count(),
        1,
        "one initial sync only"
    );
    assert_eq!(
        host.all_records(&connection, "sites", &new_token, false)?
            .len(),
        25
    );
    Ok(())
}
