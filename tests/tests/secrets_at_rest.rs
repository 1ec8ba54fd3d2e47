//! After a run through every path that handles secrets — a connection
//! created over the API, the connect form with a wrong and a right
//! password, the redirect with its one-time code, syncs, a password change,
//! the reauthorization, the reconnect, an OAuth 2.0 connection with
//! refresh-token grants — no password, API token, connect link, code or
//! OAuth secret appears in any file of the data directory (RocksDB SSTs,
//! WAL and logs included) or in the host's logs.

use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use switchyard_tests::{
    DemoCmms, Host, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAuthProvider, files_containing,
    token_on_page, wait_for,
};

const FIRST_PASSWORD: &str = "AtRest-First-7c2e94b1d0";
const SECOND_PASSWORD: &str = "AtRest-Second-5f8a03c6e2";
const WRONG_PASSWORD: &str = "AtRest-Wrong-1d6b7e0a94";

#[test]
fn no_secret_reaches_the_disk_or_the_logs() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--records", "300", "--password", FIRST_PASSWORD])?;
    let provider = OAuthProvider::start(30)?;
    let mut host = Host::start_with_env(&[("SWITCHYARD_SYNC_INTERVAL_SECS", "2")])?;
    let mut secrets: Vec<String> = vec![
        FIRST_PASSWORD.into(),
        SECOND_PASSWORD.into(),
        WRONG_PASSWORD.into(),
        OAUTH_CLIENT_SECRET.into(),
    ];

    // Over the JSON API.
    let (api_connection, api_token) = host.connect_demo_cmms(
        &cmms,
        json!({"credentials": {"username": "admin", "password": FIRST_PASSWORD}}),
    )?;
    secrets.push(api_token);

    // Through the connect form: a wrong password, then the token on the page.
    let session = host.connect_session(json!({"connector_id": "demo-cmms"}))?;
    let url = session["connect_url"].as_str().unwrap().to_string();
    secrets.push(url.split("session=").nth(1).unwrap().to_string());
    let (status, _, page) = host.submit_connect_form(
        &url,
        &[
            ("setting:base-url", &cmms.url),
            ("credential:username", "admin"),
            ("credential:password", WRONG_PASSWORD),
        ],
    )?;
    assert_eq!(status, 200);
    assert!(page.contains("rejected the username or password"));
    assert!(!page.contains(WRONG_PASSWORD));
    let (_, _, page) = host.submit_connect_form(
        &url,
        &[
            ("setting:base-url", &cmms.url),
            ("credential:username", "admin"),
            ("credential:password", FIRST_PASSWORD),
        ],
    )?;
    secrets.push(token_on_page(&page)?);

    // Through the redirect with a one-time code.
    let (connection, token) = host.connect_flow_demo_cmms(&cmms, None, "admin", FIRST_PASSWORD)?;
    secrets.push(token);
    host.wait_for_success(
        &connection,
        &["work-orders", "assets", "locations"],
        Duration::from_secs(60),
    )?;

    // The password changes; the syncs notice; the customer reconnects.
    cmms.admin(
        Method::POST,
        "/admin/password",
        Some(json!({"password": SECOND_PASSWORD})),
    )?;
    wait_for(Duration::from_secs(30), "requires_reauth", || {
        Ok(
            (host.connection(&connection)?["status"] == "requires_reauth"
                && host.connection(&api_connection)?["status"] == "requires_reauth")
                .then_some(()),
        )
    })?;
    let (_, token) =
        host.connect_flow_demo_cmms(&cmms, Some(&connection), "admin", SECOND_PASSWORD)?;
    secrets.push(token);

    // OAuth 2.0, with refresh-token grants while syncing.
    host.admin(Method::PUT, "/v1/connectors/oauth-demo/oauth-client")
        .json(&json!({
            "client_id": OAUTH_CLIENT_ID,
            "client_secret": OAUTH_CLIENT_SECRET,
            "token_origins": [provider.issuer],
        }))
        .send()?
        .error_for_status()?;
    let session = host.connect_session(json!({"connector_id": "oauth-demo"}))?;
    let page = host.authorize_oauth(&provider, session["connect_url"].as_str().unwrap())?;
    secrets.push(token_on_page(&page)?);
    let oauth_connection = session["connection_id"].as_str().unwrap();
    host.wait_for_success(oauth_connection, &["sites"], Duration::from_secs(60))?;
    wait_for(Duration::from_secs(30), "a refresh-token grant", || {
        let stats = provider.stats()?;
        Ok((stats["token"]["refresh_token"].as_u64().unwrap_or(0) >= 1).then_some(()))
    })?;
    let provider_tokens = provider.issued_tokens()?;
    assert!(provider_tokens.len() >= 4, "{provider_tokens:?}");
    secrets.extend(provider_tokens);

    // Let the store flush and the logs end.
    host.stop();
    let needles: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let on_disk = files_containing(&host.data_dir, &needles)?;
    assert!(on_disk.is_empty(), "secrets on disk: {on_disk:?}");
    let log = std::fs::read_to_string(&host.log_path)?;
    for secret in &needles {
        assert!(!log.contains(secret), "a secret is in the host log");
    }

    // The search itself works: what is not secret is found.
    let found = files_containing(&host.data_dir, &[connection.as_str(), "requires_reauth"])?;
    assert!(found.len() >= 2, "{found:?}");
    assert!(
        log.contains("connection status changed"),
        "the log has the story"
    );
    assert!(log.contains(&connection));
    println!(
        "{} secrets searched in {} and {} bytes of logs",
        needles.len(),
        host.data_dir.display(),
        log.len()
    );
    Ok(())
}

#[test]
fn the_master_key_rotates_with_reseal() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--records", "30", "--password", FIRST_PASSWORD])?;
    let mut host = Host::start()?;
    let old_key = host
        .run_command(&["secrets", "generate-key"])?
        .trim()
        .to_string();
    let new_key = host
        .run_command(&["secrets", "generate-key"])?
        .trim()
        .to_string();
    assert_ne!(old_key, new_key);
    host.set_env("SWITCHYARD_MASTER_KEY", &old_key);
    host.restart()?;
    let (connection, token) = host.connect_flow_demo_cmms(&cmms, None, "admin", FIRST_PASSWORD)?;
    host.wait_for_success(&connection, &["locations"], Duration::from_secs(60))?;
    host.stop();

    // New key first, old key after it: re-seal, then drop the old key.
    host.set_env("SWITCHYARD_MASTER_KEY", &format!("{new_key},{old_key}"));
    let data_dir = host.data_dir.display().to_string();
    let output = host.run_command(&["secrets", "reseal", "--data-dir", &data_dir])?;
    assert_eq!(
        output.trim(),
        "re-sealed 1 secrets with the current master key"
    );
    let output = host.run_command(&["secrets", "reseal", "--data-dir", &data_dir])?;
    assert_eq!(
        output.trim(),
        "re-sealed 0 secrets with the current master key"
    );
    host.set_env("SWITCHYARD_MASTER_KEY", &new_key);
    host.restart()?;

    // The connection's secrets open with the new key alone: a full sync
    // authenticates at the source with them.
    let runs_before = host.runs(&connection)?.len();
    host.request(
        Method::POST,
        &format!("/v1/connections/{connection}/sync"),
        &token,
    )
    .json(&json!({"model": "locations", "full_resync": true}))
    .send()?
    .error_for_status()?;
    wait_for(Duration::from_secs(60), "a sync with the new key", || {
        let runs = host.runs(&connection)?;
        let newest = &runs[0];
        if runs.len() > runs_before && newest["status"] == "failed" {
            anyhow::bail!("the sync failed: {newest}");
        }
        Ok((runs.len() > runs_before && newest["status"] == "succeeded").then_some(()))
    })?;
    Ok(())
}
