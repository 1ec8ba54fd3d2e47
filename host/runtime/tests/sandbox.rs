//! The sandbox basics, against real components from `plugins/` (built by
//! `scripts/build-plugins` into `dist/plugins/`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_runtime::types::{CallContext, ChangeRequest, Session};
use switchyard_runtime::{
    Allowlist, CallEnv, CallError, ConnectorComponent, LoadError, Runtime, RuntimeConfig,
    SandboxLimits,
};

fn plugin(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../dist/plugins")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the connectors first with scripts/build-plugins",
            path.display()
        )
    })
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        max_instances: 16,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

async fn load(runtime: &Runtime, name: &str) -> Arc<ConnectorComponent> {
    runtime.load(&plugin(name)).await.unwrap()
}

fn request() -> ChangeRequest {
    ChangeRequest {
        model: "work-orders".into(),
        cursor: None,
        since: Some(0),
        page_size: 100,
    }
}

fn context() -> CallContext {
    CallContext {
        settings: vec![],
        session: Session {
            data: String::new(),
            expires_at: None,
        },
    }
}

#[tokio::test]
async fn loads_and_describes_the_demo_connector() {
    let runtime = runtime();
    let connector = load(&runtime, "demo_cmms_connector").await;
    let info = connector.info();
    assert_eq!(info.id, "demo-cmms");
    let models: Vec<&str> = info.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(models, ["work-orders", "assets", "locations"]);
    assert_eq!(info.allowed_hosts, ["{base-url}"]);
    assert_eq!(connector.hash().len(), 64);
}

#[tokio::test]
async fn an_endless_loop_is_interrupted_within_its_budget_and_the_host_goes_on() {
    let runtime = runtime();
    let tick = runtime.config().epoch_tick;
    let hostile = load(&runtime, "hostile_loop").await;
    for budget_ms in [100, 300] {
        let budget = Duration::from_millis(budget_ms);
        let env = CallEnv::new(SandboxLimits {
            time_budget_ms: budget_ms,
            ..SandboxLimits::default()
        });
        let started = Instant::now();
        let error = hostile
            .list_changes(&env, &context(), &request())
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(matches!(error, CallError::Timeout { .. }), "{error:?}");
        assert_eq!(error.code(), "plugin_timeout");
        println!(
            "budget {budget:?}: interrupted after {elapsed:?} (overshoot {:?}, tick {tick:?})",
            elapsed - budget
        );
        // Stopped at the first epoch tick after the budget: within budget
        // plus one tick, plus 40 ms for thread wake-ups on a loaded machine.
        assert!(elapsed >= budget, "stopped early: {elapsed:?}");
        assert!(
            elapsed < budget + tick + Duration::from_millis(40),
            "stopped late: {elapsed:?}"
        );
    }

    // The same runtime keeps serving other connectors.
    let demo = load(&runtime, "demo_cmms_connector").await;
    let info = demo.describe(&CallEnv::default()).await.unwrap();
    assert_eq!(info.id, "demo-cmms");
}

#[tokio::test]
async fn the_benchmark_connector_imports_nothing_from_wasi() {
    let runtime = runtime();
    let noop = load(&runtime, "bench_noop").await;
    let imports = noop.imports();
    assert!(
        imports
            .iter()
            .all(|i| i.starts_with("switchyard:connector/")),
        "{imports:?}"
    );
    let page = noop
        .list_changes(&CallEnv::default(), &context(), &request())
        .await
        .unwrap();
    assert!(page.changes.is_empty() && !page.has_more);
    // The demo connector, for contrast, asks for HTTP.
    let demo = load(&runtime, "demo_cmms_connector").await;
    assert!(
        demo.imports()
            .iter()
            .any(|i| i.starts_with("wasi:http/outgoing-handler")),
        "{:?}",
        demo.imports()
    );
}

#[tokio::test]
async fn unbounded_allocation_hits_the_memory_cap() {
    let runtime = runtime();
    let hostile = load(&runtime, "hostile_alloc").await;
    let env = CallEnv::new(SandboxLimits {
        memory_bytes: 16 << 20,
        ..SandboxLimits::default()
    });
    let error = hostile
        .list_changes(&env, &context(), &request())
        .await
        .unwrap_err();
    assert!(
        matches!(error, CallError::MemoryLimit { cap_bytes } if cap_bytes == 16 << 20),
        "{error:?}"
    );
    assert_eq!(error.code(), "plugin_memory_limit");
    // Another call on the same runtime works.
    let demo = load(&runtime, "demo_cmms_connector").await;
    assert!(demo.describe(&CallEnv::default()).await.is_ok());
}

#[tokio::test]
async fn a_panic_is_a_crash_not_a_host_failure() {
    let runtime = runtime();
    let hostile = load(&runtime, "hostile_panic").await;
    let error = hostile
        .list_changes(&CallEnv::default(), &context(), &request())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "plugin_crashed", "{error:?}");
}

#[tokio::test]
async fn a_page_larger_than_asked_is_rejected() {
    let runtime = runtime();
    let hostile = load(&runtime, "hostile_oversized_page").await;
    let error = hostile
        .list_changes(&CallEnv::default(), &context(), &request())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "plugin_page_too_large", "{error:?}");
    assert!(error.to_string().contains("1001 changes"), "{error}");
}

#[tokio::test]
async fn requests_outside_the_allowlist_are_denied() {
    let runtime = runtime();
    let hostile = load(&runtime, "hostile_forbidden_host").await;
    let base = "http://127.0.0.1:9";
    let env = CallEnv {
        allowlist: Arc::new(
            Allowlist::resolve(&["{base-url}".to_string()], |_| Some(base)).unwrap(),
        ),
        ..CallEnv::default()
    };
    let mut context = context();
    context
        .settings
        .push(switchyard_runtime::types::FieldValue {
            name: "base-url".into(),
            value: base.into(),
        });
    let error = hostile
        .list_changes(&env, &context, &request())
        .await
        .unwrap_err();
    match &error {
        CallError::HostNotAllowed { host } => assert_eq!(host, "forbidden.example:8080"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(error.code(), "plugin_host_not_allowed");
}

#[tokio::test]
async fn rejects_what_is_not_a_connector_component() {
    let runtime = runtime();
    let error = runtime.load(b"\0asm\x01\0\0\0").await.unwrap_err();
    assert!(matches!(error, LoadError::NotAComponent(_)), "{error:?}");
    assert!(error.to_string().contains("core WebAssembly module"));
    let error = runtime.load(b"hello").await.unwrap_err();
    assert_eq!(error.code(), "component_invalid");
    let mut truncated = plugin("demo_cmms_connector");
    truncated.truncate(truncated.len() / 2);
    let error = runtime.load(&truncated).await.unwrap_err();
    assert_eq!(error.code(), "component_compile_failed", "{error:?}");
}

#[tokio::test]
async fn compiled_artifacts_are_cached_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 4,
        artifact_dir: Some(dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let wasm = plugin("demo_cmms_connector");
    let first = runtime.load(&wasm).await.unwrap();
    assert!(runtime.is_cached(first.hash()));
    let started = Instant::now();
    let second = runtime.load(&wasm).await.unwrap();
    assert_eq!(first.hash(), second.hash());
    // A cached load deserializes instead of compiling: far below a compile.
    assert!(started.elapsed() < Duration::from_secs(1));
}
