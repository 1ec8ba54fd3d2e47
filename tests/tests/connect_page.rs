//! The hosted connect page in headless Chromium (Debian's package, driven
//! over WebDriver): the form built from the connector's fields, a wrong
//! password answered in plain words, the token shown once; and the redirect
//! flow whose one-time code the application's backend exchanges once.

use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use switchyard_tests::{Browser, DemoCmms, Host, no_redirect_client};

const PASSWORD: &str = "Browser-Pw-9a3c51e7";

#[test]
fn the_connect_page_works_in_headless_chromium() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--records", "30", "--password", PASSWORD])?;
    let host = Host::start()?;
    let browser = Browser::start()?;

    // Shown once on the page.
    let session = host.connect_session(json!({"connector_id": "demo-cmms"}))?;
    let connect_url = session["connect_url"].as_str().unwrap();
    let connection = session["connection_id"].as_str().unwrap();
    assert_eq!(host.connection(connection)?["status"], "pending");
    browser.goto(connect_url)?;
    assert_eq!(browser.text("h1")?, "Connect Demo CMMS");
    assert_eq!(
        browser
            .attribute("#credential-password", "type")?
            .as_deref(),
        Some("password"),
        "secret fields are masked"
    );
    browser.type_into("#setting-base-url", &cmms.url)?;
    browser.type_into("#credential-username", "admin")?;
    browser.type_into("#credential-password", "not-the-password")?;
    browser.click("#submit")?;
    assert_eq!(
        browser.text("#error")?,
        "The Demo CMMS rejected the username or password. Check them and try again."
    );
    // The entered settings stay, the secret does not.
    assert_eq!(
        browser.attribute("#setting-base-url", "value")?.as_deref(),
        Some(cmms.url.as_str())
    );
    assert_eq!(
        browser
            .attribute("#credential-password", "value")?
            .as_deref(),
        Some("")
    );
    browser.type_into("#credential-username", "admin")?;
    browser.type_into("#credential-password", PASSWORD)?;
    browser.click("#submit")?;
    let token = browser.text("#token")?;
    assert!(token.starts_with("sy_conn_"), "{token}");
    assert_eq!(browser.text("#connection-id")?, connection);
    let screenshot = browser.screenshot()?;
    assert!(screenshot.starts_with(b"\x89PNG"));
    std::fs::write(
        std::env::temp_dir().join("switchyard-connect-page.png"),
        &screenshot,
    )?;
    let (status, body) = host.get_json(&format!("/v1/connections/{connection}"), &token)?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "active");
    // The link was single-use.
    browser.goto(connect_url)?;
    assert_eq!(browser.text("h1")?, "This link cannot be used");

    // Handed to the application's redirect URL as a one-time code.
    let session = host.connect_session(json!({
        "connector_id": "demo-cmms",
        "redirect_url": format!("{}/health?app_state=xyz", host.url),
    }))?;
    browser.goto(session["connect_url"].as_str().unwrap())?;
    browser.type_into("#setting-base-url", &cmms.url)?;
    browser.type_into("#credential-username", "admin")?;
    browser.type_into("#credential-password", PASSWORD)?;
    browser.click("#submit")?;
    let landed = browser.wait_for_url(|url| url.contains("/health?"))?;
    let landed = reqwest::Url::parse(&landed)?;
    assert_eq!(landed.path(), "/health");
    let query: std::collections::BTreeMap<String, String> =
        landed.query_pairs().into_owned().collect();
    assert_eq!(
        query["app_state"], "xyz",
        "the application's own state survives"
    );
    assert_eq!(query["connection_id"], session["connection_id"]);
    let code = &query["code"];
    let exchanged: Value = host
        .admin(Method::POST, "/v1/connect/exchange")
        .json(&json!({ "code": code }))
        .send()?
        .error_for_status()?
        .json()?;
    let token = exchanged["token"].as_str().unwrap();
    let connection = exchanged["connection_id"].as_str().unwrap();
    host.wait_for_success(connection, &["locations"], Duration::from_secs(60))?;
    let records = host.all_records(connection, "locations", token, true)?;
    assert_eq!(records.len(), cmms.export("locations")?.len());
    // A code works once.
    let again = host
        .admin(Method::POST, "/v1/connect/exchange")
        .json(&json!({ "code": code }))
        .send()?;
    assert_eq!(again.status(), 400);
    let body: Value = again.json()?;
    assert_eq!(body["error"]["code"], "connect_code_invalid");
    Ok(())
}

#[test]
fn the_connect_page_escapes_and_guards() -> anyhow::Result<()> {
    let host = Host::start()?;
    // Redirect URLs must be absolute http(s) without credentials.
    for bad in [
        "javascript:alert(1)",
        "/relative",
        "http://user:pw@example.com/cb",
    ] {
        let response = host
            .admin(Method::POST, "/v1/connect-sessions")
            .json(&json!({"connector_id": "demo-cmms", "redirect_url": bad}))
            .send()?;
        assert_eq!(response.status(), 400, "{bad}");
    }
    let session = host.connect_session(json!({"connector_id": "demo-cmms"}))?;
    let url = session["connect_url"].as_str().unwrap();
    let page = no_redirect_client().get(url).send()?;
    assert_eq!(
        page.headers().get("cache-control").unwrap().to_str()?,
        "no-store"
    );
    assert!(
        page.headers()
            .get("content-security-policy")
            .unwrap()
            .to_str()?
            .contains("default-src 'none'")
    );
    // Hostile input comes back escaped, never as markup.
    let (status, _, body) = host.submit_connect_form(
        url,
        &[
            ("setting:base-url", "<script>alert(1)</script>"),
            ("credential:username", "admin"),
            ("credential:password", "x"),
        ],
    )?;
    assert_eq!(status, 200);
    assert!(!body.contains("<script>alert(1)</script>"));
    assert!(
        body.contains("Base URL must be an http or https URL."),
        "{body}"
    );
    // A post the browser marks cross-site is refused.
    let response = no_redirect_client()
        .post(format!("{}/connect/demo-cmms", host.url))
        .header("sec-fetch-site", "cross-site")
        .form(&[("session", "cs_x")])
        .send()?;
    assert_eq!(response.status(), 403);
    // A made-up link is refused.
    let response = no_redirect_client()
        .get(format!("{}/connect/demo-cmms?session=cs_made-up", host.url))
        .send()?;
    assert_eq!(response.status(), 400);
    Ok(())
}
