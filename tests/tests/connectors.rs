//! The connector registry through the API and the CLI of a real host:
//! uploads validated before anything is stored, activation, rollback,
//! limits, pins, and a restart that keeps it all without recompiling.

use anyhow::Result;
use reqwest::Method;
use serde_json::{Value, json};
use std::process::Command;
use switchyard_tests::{ADMIN_TOKEN, Host, HostOptions, binary, plugin};

fn upload(host: &Host, wasm: Vec<u8>, query: &str) -> Result<(u16, Value)> {
    let response = host
        .admin(Method::POST, &format!("/v1/connectors{query}"))
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()?;
    let status = response.status().as_u16();
    Ok((status, response.json()?))
}

fn send(host: &Host, method: Method, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
    let mut request = host.admin(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send()?;
    let status = response.status().as_u16();
    Ok((status, response.json()?))
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(plugin(name)).expect("the plugin reads")
}

/// The same component with a custom section appended: another build (another
/// hash) of the same connector and version.
fn rebuilt(mut wasm: Vec<u8>) -> Vec<u8> {
    let (name, payload) = (b"rebuilt".as_slice(), b"another build".as_slice());
    wasm.extend_from_slice(&[
        0x00,
        (1 + name.len() + payload.len()) as u8,
        name.len() as u8,
    ]);
    wasm.extend_from_slice(name);
    wasm.extend_from_slice(payload);
    wasm
}

#[test]
fn uploads_are_validated_before_anything_is_stored() -> Result<()> {
    let host = Host::start_with(HostOptions {
        plugins: Some(vec![]),
        ..HostOptions::default()
    })?;
    let mut truncated = read("hot_swap_v1");
    truncated.truncate(truncated.len() / 2);
    // An empty component: valid WebAssembly, but it exports nothing.
    let empty_component = b"\0asm\x0d\0\x01\0".to_vec();
    let cases = [
        (
            b"MZ not wasm".to_vec(),
            422,
            "component_invalid",
            "component header",
        ),
        (
            b"\0asm\x01\0\0\0".to_vec(),
            422,
            "component_invalid",
            "core WebAssembly module",
        ),
        (
            truncated,
            422,
            "component_compile_failed",
            "does not compile",
        ),
        (
            empty_component,
            422,
            "component_world_mismatch",
            "connector world",
        ),
        (
            read("invalid_version"),
            422,
            "component_description_invalid",
            "not a semantic version",
        ),
    ];
    for (wasm, status, code, message) in cases {
        let (got, body) = upload(&host, wasm, "")?;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
        let text = body["error"]["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{code}: {text}");
    }
    let response = host
        .admin(Method::POST, "/v1/connectors")
        .header("content-type", "application/json")
        .body(read("hot_swap_v1"))
        .send()?;
    assert_eq!(response.status(), 415);
    let response = host
        .admin(Method::POST, "/v1/connectors")
        .header("content-type", "application/wasm")
        .body(vec![0u8; 51 << 20])
        .send()?;
    assert_eq!(response.status(), 413);
    let body: Value = response.json()?;
    assert_eq!(body["error"]["code"], "payload_too_large");
    let response = host
        .request(
            Method::POST,
            "/v1/connectors",
            "sy_admin_not-a-real-token-000000000000000000",
        )
        .header("content-type", "application/wasm")
        .body(read("hot_swap_v1"))
        .send()?;
    assert_eq!(response.status(), 401);
    // None of it was stored.
    let (status, list) = send(&host, Method::GET, "/v1/connectors", None)?;
    assert_eq!((status, list["data"].clone()), (200, json!([])));

    // A valid upload, the same bytes again, and another build of the same
    // version.
    let (status, body) = upload(&host, read("hot_swap_v1"), "")?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["new"], true);
    assert_eq!(body["version"]["version"], "1.0.0");
    assert_eq!(
        body["version"]["active"], true,
        "the first version is active"
    );
    let (status, body) = upload(&host, read("hot_swap_v1"), "")?;
    assert_eq!((status, body["new"].clone()), (200, json!(false)));
    let (status, body) = upload(&host, rebuilt(read("hot_swap_v1")), "")?;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "connector_version_exists");
    let (_, detail) = send(&host, Method::GET, "/v1/connectors/hot-swap", None)?;
    assert_eq!(detail["versions"].as_array().map(Vec::len), Some(1));
    Ok(())
}

#[test]
fn versions_are_activated_rolled_back_limited_and_pinned() -> Result<()> {
    let mut host = Host::start_with(HostOptions {
        plugins: Some(vec![]),
        ..HostOptions::default()
    })?;
    upload(&host, read("hot_swap_v1"), "")?;
    let (status, body) = upload(&host, read("hot_swap_v2"), "")?;
    assert_eq!(
        (status, body["version"]["active"].clone()),
        (201, json!(false))
    );

    let (status, detail) = send(&host, Method::GET, "/v1/connectors/hot-swap", None)?;
    assert_eq!(status, 200);
    assert_eq!(detail["active_version"], "1.0.0");
    assert_eq!(detail["rollback_to"], Value::Null);
    assert_eq!(detail["custom_limits"], false);
    assert_eq!(detail["limits"]["time_budget_ms"], 30_000);
    let imports: Vec<&str> = detail["imports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        imports
            .iter()
            .any(|i| i.starts_with("wasi:clocks/monotonic-clock")),
        "{imports:?}"
    );
    assert!(
        !imports.iter().any(|i| i.starts_with("wasi:http")),
        "{imports:?}"
    );

    let activate = |version: &str| {
        send(
            &host,
            Method::POST,
            "/v1/connectors/hot-swap/activate",
            Some(json!({ "version": version })),
        )
    };
    let (status, body) = activate("1.1.0")?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active_version"], "1.1.0");
    assert_eq!(body["rollback_to"], "1.0.0");
    let (status, body) = activate("9.9.9")?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("connector_version_not_found"))
    );
    let (status, body) = send(
        &host,
        Method::POST,
        "/v1/connectors/hot-swap/rollback",
        None,
    )?;
    assert_eq!(
        (status, body["active_version"].as_str()),
        (200, Some("1.0.0"))
    );
    let (status, body) = send(
        &host,
        Method::POST,
        "/v1/connectors/hot-swap/rollback",
        None,
    )?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("connector_no_previous_version"))
    );
    let (status, body) = send(&host, Method::POST, "/v1/connectors/nope/rollback", None)?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("connector_not_found"))
    );

    // Limits: ranges checked, unknown fields refused, partial documents
    // take the defaults.
    let limits = "/v1/connectors/hot-swap/limits";
    let (status, body) = send(
        &host,
        Method::PUT,
        limits,
        Some(json!({"time_budget_ms": 1})),
    )?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "connector_limits_invalid");
    assert_eq!(body["error"]["details"]["field"], "time_budget_ms");
    let (status, body) = send(
        &host,
        Method::PUT,
        limits,
        Some(json!({"memory_bytes": 1u64 << 40})),
    )?;
    assert_eq!(
        (status, body["error"]["details"]["field"].as_str()),
        (400, Some("memory_bytes"))
    );
    let (status, body) = send(
        &host,
        Method::PUT,
        limits,
        Some(json!({"time_budgt_ms": 500})),
    )?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_body"))
    );
    let (status, body) = send(
        &host,
        Method::PUT,
        limits,
        Some(json!({"time_budget_ms": 2500, "memory_bytes": 32 << 20})),
    )?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["custom"], true);
    assert_eq!(body["limits"]["time_budget_ms"], 2500);
    assert_eq!(body["limits"]["max_id_bytes"], 512);

    // Pins.
    let (connection, _) = host.connect("hot-swap", json!({}), json!({}))?;
    let pin = format!("/v1/connections/{connection}/pin");
    let (status, body) = send(&host, Method::PUT, &pin, Some(json!({"version": "1.1.0"})))?;
    assert_eq!(
        (status, body["pinned_version"].as_str()),
        (200, Some("1.1.0"))
    );
    let (status, body) = send(&host, Method::PUT, &pin, Some(json!({"version": "7.0.0"})))?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("connector_version_not_found"))
    );
    host.trigger(&connection, None)?;
    let runs =
        host.wait_for_success(&connection, &["items"], std::time::Duration::from_secs(30))?;
    assert_eq!(
        runs[0]["connector_version"], "1.1.0",
        "pinned, though 1.0.0 is active"
    );

    // A restart keeps versions, activation, limits and pins, and loads the
    // active version from the artifact cache.
    let artifacts = host.data_dir.join("artifacts");
    let cached = std::fs::read_dir(&artifacts)?.count();
    assert!(cached >= 2, "{cached} artifacts cached");
    host.restart()?;
    let (_, detail) = send(&host, Method::GET, "/v1/connectors/hot-swap", None)?;
    assert_eq!(detail["active_version"], "1.0.0");
    assert_eq!(detail["limits"]["time_budget_ms"], 2500);
    assert_eq!(
        std::fs::read_dir(&artifacts)?.count(),
        cached,
        "nothing recompiled"
    );
    let (_, connection) = send(
        &host,
        Method::GET,
        &format!("/v1/connections/{connection}"),
        None,
    )?;
    assert_eq!(connection["pinned_version"], "1.1.0");
    let (status, body) = send(&host, Method::PUT, &pin, Some(json!({"version": null})))?;
    assert_eq!((status, body["pinned_version"].clone()), (200, Value::Null));
    Ok(())
}

/// Runs `switchyard connector …` against `host`; returns (success, stdout,
/// stderr).
fn cli(host: &Host, args: &[&str]) -> Result<(bool, String, String)> {
    let output = Command::new(binary("switchyard"))
        .arg("connector")
        .args(args)
        .env("SWITCHYARD_URL", &host.url)
        .env("SWITCHYARD_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()?;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

#[test]
fn the_cli_manages_versions_on_a_running_host() -> Result<()> {
    let host = Host::start_with(HostOptions {
        plugins: Some(vec![]),
        ..HostOptions::default()
    })?;
    let v1 = plugin("hot_swap_v1");
    let v2 = plugin("hot_swap_v2");
    let (ok, out, err) = cli(&host, &["install", v1.to_str().unwrap()])?;
    assert!(ok, "{err}");
    assert!(out.contains("hot-swap 1.0.0 installed (active)"), "{out}");
    let (ok, out, err) = cli(&host, &["install", v2.to_str().unwrap()])?;
    assert!(
        ok && out.contains("hot-swap 1.1.0 installed\n"),
        "{out}{err}"
    );
    let (ok, out, _) = cli(&host, &["list"])?;
    assert!(ok);
    assert!(
        out.contains("hot-swap") && out.contains("active 1.0.0") && out.contains("1.0.0, 1.1.0"),
        "{out}"
    );
    let (ok, out, _) = cli(&host, &["activate", "hot-swap", "1.1.0"])?;
    assert!(
        ok && out.contains("hot-swap 1.1.0 is active (rollback returns to 1.0.0)"),
        "{out}"
    );
    let (ok, out, _) = cli(&host, &["rollback", "hot-swap"])?;
    assert!(ok && out.contains("hot-swap 1.0.0 is active"), "{out}");
    let (ok, _, err) = cli(&host, &["rollback", "hot-swap"])?;
    assert!(
        !ok && err.contains("connector_no_previous_version"),
        "{err}"
    );
    let (ok, out, err) = cli(
        &host,
        &[
            "limits",
            "hot-swap",
            "--time-budget-ms",
            "1500",
            "--memory-mib",
            "24",
        ],
    )?;
    assert!(ok, "{err}");
    let limits: Value = serde_json::from_str(&out)?;
    assert_eq!(limits["time_budget_ms"], 1500);
    assert_eq!(limits["memory_bytes"], 24 << 20);
    let (ok, _, err) = cli(&host, &["limits", "hot-swap", "--time-budget-ms", "5"])?;
    assert!(!ok && err.contains("connector_limits_invalid"), "{err}");
    let (ok, out, _) = cli(&host, &["--json", "show", "hot-swap"])?;
    assert!(ok);
    let detail: Value = serde_json::from_str(&out)?;
    assert_eq!(detail["limits"]["time_budget_ms"], 1500);
    // A bad file: a clear error, exit status non-zero, nothing installed.
    let bad = plugin("invalid_version");
    let (ok, _, err) = cli(&host, &["install", bad.to_str().unwrap()])?;
    assert!(
        !ok && err.contains("component_description_invalid"),
        "{err}"
    );
    let (_, out, _) = cli(&host, &["list"])?;
    assert!(!out.contains("invalid-version"), "{out}");
    // Without a token the CLI says what it needs.
    let output = Command::new(binary("switchyard"))
        .args(["connector", "list", "--url", &host.url])
        .env_remove("SWITCHYARD_ADMIN_TOKEN")
        .output()?;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("admin token"));
    Ok(())
}
