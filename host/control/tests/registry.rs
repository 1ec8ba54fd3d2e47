//! The connector registry against real components from `dist/plugins`:
//! validation before anything is stored, activation and rollback, limits,
//! pins, and the compiled-artifact cache across a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_control::{
    ConnectionError, Connections, NewConnection, Registry, RegistryError, Tokens, Vault,
};
use switchyard_runtime::{Runtime, RuntimeConfig, SandboxLimits};
use switchyard_store::Store;

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

fn runtime(artifacts: Option<&Path>) -> Runtime {
    Runtime::new(RuntimeConfig {
        max_instances: 8,
        artifact_dir: artifacts.map(Path::to_path_buf),
        ..RuntimeConfig::default()
    })
    .unwrap()
}

async fn open(dir: &Path) -> (Arc<Store>, Registry) {
    let store = Arc::new(Store::open(&dir.join("db")).unwrap());
    let registry = Registry::open(runtime(Some(&dir.join("artifacts"))), store.clone())
        .await
        .unwrap();
    (store, registry)
}

/// The same component with a custom section appended: a different build
/// (another hash) that describes itself identically.
fn rebuilt(mut wasm: Vec<u8>) -> Vec<u8> {
    let name = b"rebuilt";
    let payload = b"another build";
    let size = 1 + name.len() + payload.len();
    assert!(size < 128, "one-byte LEB128 sizes");
    wasm.extend_from_slice(&[0x00, size as u8, name.len() as u8]);
    wasm.extend_from_slice(name);
    wasm.extend_from_slice(payload);
    wasm
}

#[tokio::test]
async fn installs_activates_and_rolls_back_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, registry) = open(dir.path()).await;
    let v1 = registry
        .install_component(&plugin("hot_swap_v1"))
        .await
        .unwrap();
    assert!(v1.new && v1.activated);
    assert_eq!(
        (v1.record.connector_id.as_str(), v1.record.version.as_str()),
        ("hot-swap", "1.0.0")
    );
    let again = registry
        .install_component(&plugin("hot_swap_v1"))
        .await
        .unwrap();
    assert!(!again.new && !again.activated);
    let v2 = registry
        .install_component(&plugin("hot_swap_v2"))
        .await
        .unwrap();
    assert!(v2.new && !v2.activated, "installing does not activate");
    assert_eq!(registry.active("hot-swap").unwrap().info().version, "1.0.0");

    // A call that resolved the connector before the switch keeps its
    // version; the next resolution gets the new one.
    let in_flight = registry.resolve("hot-swap", None).await.unwrap();
    registry.activate("hot-swap", "1.1.0").await.unwrap();
    assert_eq!(in_flight.info().version, "1.0.0");
    let next = registry.resolve("hot-swap", None).await.unwrap();
    assert_eq!(next.info().version, "1.1.0");
    assert_eq!(next.hash(), v2.record.hash);
    // A pinned version resolves whatever is active.
    let pinned = registry.resolve("hot-swap", Some("1.0.0")).await.unwrap();
    assert_eq!(pinned.hash(), v1.record.hash);

    let back = registry.rollback("hot-swap").await.unwrap();
    assert_eq!(back.version, "1.0.0");
    assert_eq!(
        registry
            .active_version("hot-swap")
            .unwrap()
            .unwrap()
            .version,
        "1.0.0"
    );
    let error = registry.rollback("hot-swap").await.unwrap_err();
    assert_eq!(error.code(), "connector_no_previous_version");
    let error = registry.activate("hot-swap", "9.9.9").await.unwrap_err();
    assert_eq!(error.code(), "connector_version_not_found");
    let error = registry.rollback("nope").await.unwrap_err();
    assert_eq!(error.code(), "connector_not_found");
}

#[tokio::test]
async fn an_invalid_component_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, registry) = open(dir.path()).await;
    let mut truncated = plugin("hot_swap_v1");
    truncated.truncate(truncated.len() / 2);
    for (wasm, code) in [
        (b"not wasm at all".to_vec(), "component_invalid"),
        (b"\0asm\x01\0\0\0".to_vec(), "component_invalid"),
        (truncated, "component_compile_failed"),
    ] {
        let error = registry.install_component(&wasm).await.unwrap_err();
        assert_eq!(error.code(), code, "{error}");
    }
    assert!(registry.connector_ids().unwrap().is_empty());

    // Another build under a version that exists is refused, and the
    // version keeps its first build.
    let first = registry.install(&plugin("hot_swap_v1")).await.unwrap();
    let other = rebuilt(plugin("hot_swap_v1"));
    let error = registry.install_component(&other).await.unwrap_err();
    assert!(
        matches!(&error, RegistryError::VersionExists { version, .. } if version == "1.0.0"),
        "{error:?}"
    );
    assert_eq!(error.code(), "connector_version_exists");
    let versions = registry.versions("hot-swap").unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].hash, first.hash);
    let other_hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&other))
    };
    assert!(store.get_component(&other_hash).unwrap().is_none());
}

#[tokio::test]
async fn limits_are_checked_stored_and_used_for_calls() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, registry) = open(dir.path()).await;
        let registry = Arc::new(registry);
        let error = registry
            .set_limits("hot-swap", SandboxLimits::default())
            .unwrap_err();
        assert_eq!(error.code(), "connector_not_found");
        registry.install(&plugin("hot_swap_v1")).await.unwrap();
        assert!(!registry.has_custom_limits("hot-swap"));
        let too_much = SandboxLimits {
            memory_bytes: registry.runtime().config().max_memory_bytes + 1,
            ..SandboxLimits::default()
        };
        let error = registry.set_limits("hot-swap", too_much).unwrap_err();
        assert_eq!(error.code(), "connector_limits_invalid");
        assert!(error.to_string().contains("memory_bytes"), "{error}");
        assert_eq!(registry.limits("hot-swap"), SandboxLimits::default());

        let limits = SandboxLimits {
            time_budget_ms: 750,
            memory_bytes: 8 << 20,
            ..SandboxLimits::default()
        };
        registry.set_limits("hot-swap", limits).unwrap();

        // A connection's calls run under the connector's limits.
        let vault = Arc::new(Vault::open_or_create(dir.path(), None).unwrap());
        let connections = Connections::new(
            store.clone(),
            registry.clone(),
            vault,
            Tokens::new(store.clone()),
        );
        let component = registry.resolve("hot-swap", None).await.unwrap();
        let env = connections
            .call_env(&component, &Default::default(), &Default::default())
            .unwrap();
        assert_eq!(env.limits, limits);
    }
    // And they survive a restart.
    let (_store, registry) = open(dir.path()).await;
    assert_eq!(registry.limits("hot-swap").time_budget_ms, 750);
    assert!(registry.has_custom_limits("hot-swap"));
}

#[tokio::test]
async fn a_connection_pins_an_installed_version() {
    let dir = tempfile::tempdir().unwrap();
    let (store, registry) = open(dir.path()).await;
    let registry = Arc::new(registry);
    registry.install(&plugin("hot_swap_v1")).await.unwrap();
    registry.install(&plugin("hot_swap_v2")).await.unwrap();
    registry.activate("hot-swap", "1.1.0").await.unwrap();
    let vault = Arc::new(Vault::open_or_create(dir.path(), None).unwrap());
    let connections = Connections::new(
        store.clone(),
        registry.clone(),
        vault,
        Tokens::new(store.clone()),
    );
    let (connection, _token) = connections
        .create(NewConnection {
            connector_id: "hot-swap".into(),
            ..NewConnection::default()
        })
        .await
        .unwrap();
    assert_eq!(connection.pinned_version, None);

    let pinned = connections
        .set_pinned_version(&connection.id, Some("1.0.0"))
        .unwrap();
    assert_eq!(pinned.pinned_version.as_deref(), Some("1.0.0"));
    let component = registry
        .resolve("hot-swap", pinned.pinned_version.as_deref())
        .await
        .unwrap();
    assert_eq!(component.info().version, "1.0.0");

    let error = connections
        .set_pinned_version(&connection.id, Some("2.0.0"))
        .unwrap_err();
    assert!(
        matches!(
            error,
            ConnectionError::Registry(RegistryError::UnknownVersion { .. })
        ),
        "{error:?}"
    );
    assert_eq!(
        connections
            .get(&connection.id)
            .unwrap()
            .pinned_version
            .as_deref(),
        Some("1.0.0"),
        "a refused pin changes nothing"
    );
    let unpinned = connections
        .set_pinned_version(&connection.id, None)
        .unwrap();
    assert_eq!(unpinned.pinned_version, None);
}

#[tokio::test]
async fn activation_after_a_restart_uses_the_cached_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let compile;
    {
        let (_store, registry) = open(dir.path()).await;
        let started = Instant::now();
        registry.install(&plugin("hot_swap_v1")).await.unwrap();
        compile = started.elapsed();
        registry.install(&plugin("hot_swap_v2")).await.unwrap();
    }
    let (_store, registry) = open(dir.path()).await;
    let v2 = registry.version("hot-swap", "1.1.0").unwrap();
    assert!(registry.runtime().is_cached(&v2.hash));
    let started = Instant::now();
    registry.activate("hot-swap", "1.1.0").await.unwrap();
    let activation = started.elapsed();
    println!("install with compile {compile:?}, activation from the cache {activation:?}");
    // Deserializing the artifact is a small fraction of compiling it; the
    // benchmark reports the exact figure.
    assert!(
        activation < compile / 2 && activation < Duration::from_millis(100),
        "activation {activation:?}, compile {compile:?}"
    );
}
