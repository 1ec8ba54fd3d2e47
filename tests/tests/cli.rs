//! `switchyard sync`: in-process on a stopped host's data directory, and
//! through a running host's API.

use serde_json::json;
use std::process::Command;
use switchyard_tests::{ADMIN_TOKEN, DemoCmms, Host, binary};

#[test]
fn sync_runs_in_the_foreground_and_prints_a_summary() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--records", "1500"])?;
    let mut host = Host::start()?;
    let (connection, token) = host.connect_demo_cmms(&cmms, json!({}))?;

    // While the server runs, the data directory is locked: the CLI says so.
    let locked = Command::new(binary("switchyard"))
        .args(["sync", "--connection", &connection, "--data-dir"])
        .arg(&host.data_dir)
        .output()?;
    assert!(!locked.status.success());
    let stderr = String::from_utf8_lossy(&locked.stderr);
    assert!(stderr.contains("in use by a running server"), "{stderr}");

    // Through the API of the running server.
    let remote = Command::new(binary("switchyard"))
        .args(["sync", "--connection", &connection, "--model", "locations"])
        .args(["--url", &host.url, "--token", &token])
        .output()?;
    let stdout = String::from_utf8_lossy(&remote.stdout);
    assert!(
        remote.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("locations"))
        .expect(&stdout);
    assert!(
        line.contains("succeeded") && line.contains(" 150 "),
        "{line}"
    );

    // In this process, on the stopped host's data directory.
    host.kill();
    let local = Command::new(binary("switchyard"))
        .args(["sync", "--connection", &connection, "--full", "--data-dir"])
        .arg(&host.data_dir)
        .env("SWITCHYARD_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()?;
    let stdout = String::from_utf8_lossy(&local.stdout);
    assert!(
        local.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&local.stderr)
    );
    for (model, count) in [("work-orders", 900), ("assets", 450), ("locations", 150)] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(model))
            .expect(&stdout);
        assert!(
            line.contains("full_resync") && line.contains("succeeded"),
            "{line}"
        );
        assert!(line.contains(&format!(" {count} ")), "{line}");
    }

    // A connection that does not exist is a clear failure.
    let missing = Command::new(binary("switchyard"))
        .args(["sync", "--connection", "conn_nope", "--data-dir"])
        .arg(&host.data_dir)
        .output()?;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("conn_nope"));
    Ok(())
}
