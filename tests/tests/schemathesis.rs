//! Schemathesis (from PyPI, installed by scripts/setup into tests/.venv)
//! against the OpenAPI document the real host serves, with every check: no
//! 5xx, no response off its schema, no undocumented status, no valid input
//! refused or invalid input accepted (exceptions, each with its reason, in
//! tests/schemathesis/schemathesis.toml). Bounded: a fixed seed and a fixed
//! number of examples per operation.

use reqwest::Method;
use serde_json::json;
use std::process::Command;
use std::time::Duration;
use switchyard_tests::{ADMIN_TOKEN, DemoCmms, Host, repo_root};

fn schemathesis(host: &Host, token: &str, seed: &str) -> anyhow::Result<()> {
    let root = repo_root();
    let binary = root.join("tests/.venv/bin/schemathesis");
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: run scripts/setup",
        binary.display()
    );
    let examples =
        std::env::var("SWITCHYARD_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".into());
    let output = Command::new(binary)
        .current_dir(root.join("tests/schemathesis"))
        .args(["run", &format!("{}/openapi.json", host.url)])
        .args(["--checks", "all", "--workers", "1", "--no-color"])
        .args(["--max-examples", &examples, "--seed", seed])
        .args(["--generation-database", "none", "--report-dir"])
        .arg(std::env::temp_dir().join(format!("schemathesis-{}", std::process::id())))
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("No issues found") || stdout.contains("passed"),
        "{stdout}"
    );
    Ok(())
}

#[test]
fn the_api_keeps_its_openapi_promises() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--records", "300"])?;
    let host = Host::start()?;
    let (connection, token) = host.connect_demo_cmms(&cmms, json!({}))?;
    host.wait_for_success(
        &connection,
        &["work-orders", "assets", "locations"],
        Duration::from_secs(60),
    )?;
    schemathesis(&host, ADMIN_TOKEN, "42")?;
    // A connection token sees other answers (403s, its own data only).
    schemathesis(&host, &token, "7")?;
    // The host is still healthy and its data intact afterwards.
    let records = host.all_records(&connection, "assets", &token, false)?;
    assert_eq!(records.len(), cmms.export("assets")?.len());
    let health = host.request(Method::GET, "/health", &token).send()?;
    assert_eq!(health.status(), 200);
    Ok(())
}
