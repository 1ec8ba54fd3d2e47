//! `switchyard serve --watch DIR`: builds dropped into a folder are installed,
//! and activated when their version is newer; bad ones change nothing.

use anyhow::Result;
use reqwest::Method;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use switchyard_tests::{Host, HostOptions, plugin, wait_for};

fn connector(host: &Host, id: &str) -> Result<Option<Value>> {
    let response = host
        .admin(Method::GET, &format!("/v1/connectors/{id}"))
        .send()?;
    if response.status() == 404 {
        return Ok(None);
    }
    Ok(Some(response.error_for_status()?.json()?))
}

fn active_version(host: &Host, id: &str) -> Result<Option<String>> {
    Ok(connector(host, id)?.and_then(|c| c["active_version"].as_str().map(str::to_string)))
}

/// Copies like a build tool: write elsewhere, then rename into place.
fn drop_in(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let temporary = dir.join(format!(".{name}.partial"));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, dir.join(name))?;
    Ok(())
}

#[test]
fn a_watched_folder_installs_and_activates_new_versions() -> Result<()> {
    let watched = tempfile::tempdir()?;
    let host = Host::start_with(HostOptions {
        plugins: Some(vec![]),
        args: vec![
            "--watch".into(),
            watched.path().display().to_string(),
            "--watch-interval-ms".into(),
            "100".into(),
        ],
        ..HostOptions::default()
    })?;
    let limit = Duration::from_secs(30);
    let v1 = std::fs::read(plugin("hot_swap_v1"))?;
    let v2 = std::fs::read(plugin("hot_swap_v2"))?;

    drop_in(watched.path(), "hot-swap.wasm", &v1)?;
    wait_for(limit, "1.0.0 to be active", || {
        Ok((active_version(&host, "hot-swap")?.as_deref() == Some("1.0.0")).then_some(()))
    })?;

    // A broken build is logged and changes nothing, and the watcher goes on.
    drop_in(
        watched.path(),
        "broken.wasm",
        b"\0asm\x0d\0\x01\0 truncated",
    )?;
    drop_in(
        watched.path(),
        "bad-version.wasm",
        &std::fs::read(plugin("invalid_version"))?,
    )?;

    // A newer version replacing the file is activated.
    drop_in(watched.path(), "hot-swap.wasm", &v2)?;
    wait_for(limit, "1.1.0 to be active", || {
        Ok((active_version(&host, "hot-swap")?.as_deref() == Some("1.1.0")).then_some(()))
    })?;
    let detail = connector(&host, "hot-swap")?.unwrap();
    assert_eq!(detail["rollback_to"], "1.0.0");

    // An older version is installed but not activated.
    drop_in(watched.path(), "old.wasm", &v1)?;
    // Another build under the active version number is refused.
    let mut rebuilt = v2.clone();
    rebuilt.extend_from_slice(&[0x00, 0x05, 0x01, b'x', b'y', b'z', b'w']);
    drop_in(watched.path(), "hot-swap.wasm", &rebuilt)?;
    // Give the watcher several intervals to (not) act on all of that.
    std::thread::sleep(Duration::from_millis(800));
    let detail = connector(&host, "hot-swap")?.unwrap();
    assert_eq!(detail["active_version"], "1.1.0");
    assert_eq!(detail["versions"].as_array().map(Vec::len), Some(2));
    let listed: Value = host
        .admin(Method::GET, "/v1/connectors")
        .send()?
        .error_for_status()?
        .json()?;
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, ["hot-swap"], "the bad builds installed nothing");

    // The watcher is still working after the failures.
    drop_in(
        watched.path(),
        "noop.wasm",
        &std::fs::read(plugin("bench_noop"))?,
    )?;
    wait_for(limit, "bench-noop to be installed", || {
        Ok(active_version(&host, "bench-noop")?.map(|_| ()))
    })?;
    Ok(())
}
