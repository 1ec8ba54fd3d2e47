//! The wasmtime engine, its linker and the compiled-artifact cache.

use crate::bindings::{self, ConnectorPre};
use crate::component::ConnectorComponent;
use crate::error::LoadError;
use crate::outbound::{OutboundClient, OutboundConfig};
use crate::state::PluginState;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Dirty pages of a linear memory kept resident when its slot is freed.
const KEEP_RESIDENT_BYTES: usize = 1280 << 10;

/// The first 8 bytes of every WebAssembly component (layer 1).
const COMPONENT_MAGIC: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
/// The first 8 bytes of a core WebAssembly module (layer 0, version 1).
const CORE_MODULE_MAGIC: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/// Settings of the runtime, fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Instances that may exist at once (the pooling allocator's size).
    pub max_instances: u32,
    /// The largest memory cap any connector may be given, in bytes.
    pub max_memory_bytes: usize,
    /// How often the epoch advances: the granularity of time budgets.
    pub epoch_tick: Duration,
    /// Where compiled components are cached; `None` compiles every time.
    pub artifact_dir: Option<PathBuf>,
    /// The outbound HTTP client's settings.
    pub outbound: OutboundConfig,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_instances: 1000,
            max_memory_bytes: 256 << 20,
            epoch_tick: Duration::from_millis(10),
            artifact_dir: None,
            outbound: OutboundConfig::default(),
        }
    }
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the WebAssembly runtime: {0}")]
pub struct RuntimeError(String);

/// Loads connector components and runs their calls in sandboxes.
///
/// Cheap to clone; all clones share the engine, the instance pool and the
/// outbound client.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<PluginState>,
    pub(crate) outbound: Arc<OutboundClient>,
    pub(crate) config: RuntimeConfig,
    engine_fingerprint: String,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// Starts a runtime: the engine, its pool, the epoch ticker thread and the
    /// linker with exactly the capabilities connectors get.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let error = |e: &dyn std::fmt::Display| RuntimeError(e.to_string());
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(config.max_instances)
            // A Rust component holds a few core instances (the module plus
            // the adapter shims); JS and Python ones hold more.
            .total_core_instances(config.max_instances.saturating_mul(4))
            .total_memories(config.max_instances.saturating_mul(2))
            .total_tables(config.max_instances.saturating_mul(4))
            .total_stacks(config.max_instances)
            .max_memory_size(config.max_memory_bytes)
            // Reset a freed slot by restoring only its dirty pages (found with
            // Linux's PAGEMAP_SCAN, 6.7+) and keep them resident, instead of
            // `madvise` now and a page fault per page on the next call. A Rust
            // guest's hot pages sit around its 1 MiB stack's top and the
            // data and heap above it, hence 1.25 MiB. Without the ioctl
            // (older kernels) wasmtime falls back to memset + madvise.
            .pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(16 << 10);

        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .cranelift_opt_level(wasmtime::OptLevel::Speed)
            .parallel_compilation(true)
            // Explicit bounds checks instead of guard pages: a slot's
            // accessible size then never shrinks, so instantiation and
            // `memory.grow` need no `mprotect` (two syscalls and TLB flushes
            // per call). Guest code was measured no slower on a 500-record
            // page (docs/decisions.md); the checks are Spectre-hardened.
            .signals_based_traps(false)
            .memory_guard_size(0)
            .memory_reservation(config.max_memory_bytes as u64)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(|e| error(&e))?;

        let mut linker = Linker::<PluginState>::new(&engine);
        add_capabilities(&mut linker).map_err(|e| error(&e))?;

        let outbound = OutboundClient::new(config.outbound.clone()).map_err(|e| error(&e))?;
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_fingerprint = format!("{:016x}", hasher.finish());

        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), config.epoch_tick, ticker_stop.clone())
            .map_err(|e| error(&e))?;

        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                outbound: Arc::new(outbound),
                config,
                engine_fingerprint,
                ticker_stop,
            }),
        })
    }

    /// The runtime's settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Loads a connector: checks that `wasm` is a component implementing the
    /// connector world with nothing but the sandbox's imports, compiles it
    /// (or takes the cached artifact), and validates its description.
    pub async fn load(&self, wasm: &[u8]) -> Result<Arc<ConnectorComponent>, LoadError> {
        if wasm.len() < 8 || wasm[..8] != COMPONENT_MAGIC {
            let what = if wasm.starts_with(&CORE_MODULE_MAGIC) {
                "this is a core WebAssembly module; link it as a component (wasm-component-ld)"
            } else {
                "the file does not start with the component header"
            };
            return Err(LoadError::NotAComponent(what.into()));
        }
        let hash = hex::encode(Sha256::digest(wasm));
        let component = {
            let runtime = self.clone();
            let wasm = wasm.to_vec();
            let hash = hash.clone();
            tokio::task::spawn_blocking(move || runtime.compile(&wasm, &hash))
                .await
                .map_err(|e| LoadError::Compile(e.to_string()))??
        };
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::WorldMismatch(format!("{e:#}")))?;
        let pre = ConnectorPre::new(pre).map_err(|e| LoadError::WorldMismatch(format!("{e:#}")))?;
        ConnectorComponent::describe_and_validate(self.clone(), hash, pre).await
    }

    /// Compiles `wasm`, or deserializes the artifact a previous compile left
    /// in the cache (keyed by content hash and engine configuration).
    fn compile(&self, wasm: &[u8], hash: &str) -> Result<Component, LoadError> {
        let engine = &self.inner.engine;
        let Some(dir) = &self.inner.config.artifact_dir else {
            return Component::new(engine, wasm).map_err(|e| LoadError::Compile(format!("{e:#}")));
        };
        let path = dir.join(format!("{hash}-{}.cwasm", self.inner.engine_fingerprint));
        if path.exists() {
            // SAFETY: the cache directory belongs to this host and the file was
            // written by `Component::serialize` below for this very engine
            // configuration (the fingerprint is in its name); wasmtime also
            // checks the artifact's header against the engine.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "discarding cached artifact: {e:#}")
                }
            }
        }
        let component =
            Component::new(engine, wasm).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let bytes = component
            .serialize()
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        std::fs::create_dir_all(dir)?;
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temporary, bytes)?;
        std::fs::rename(&temporary, &path)?;
        Ok(component)
    }

    /// Whether the compiled artifact of the component with `hash` is cached.
    pub fn is_cached(&self, hash: &str) -> bool {
        self.inner.config.artifact_dir.as_ref().is_some_and(|dir| {
            dir.join(format!("{hash}-{}.cwasm", self.inner.engine_fingerprint))
                .exists()
        })
    }
}

/// The capabilities a connector gets, and nothing else: `wasi:io`,
/// `wasi:clocks`, `wasi:random`, `wasi:http` (through the allowlist hook) and
/// the contract's `log`. No filesystem, sockets, environment or CLI: a
/// component importing them fails to link, with the import named.
fn add_capabilities(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::clocks::WasiClocks;
    use wasmtime_wasi::p2::bindings::{clocks, random};
    use wasmtime_wasi::random::WasiRandom;

    wasmtime_wasi_io::add_to_linker_async(linker)?;
    clocks::wall_clock::add_to_linker::<PluginState, WasiClocks>(linker, |s| {
        wasmtime_wasi::clocks::WasiClocksView::clocks(s)
    })?;
    clocks::monotonic_clock::add_to_linker::<PluginState, WasiClocks>(linker, |s| {
        wasmtime_wasi::clocks::WasiClocksView::clocks(s)
    })?;
    random::random::add_to_linker::<PluginState, WasiRandom>(linker, |s| s.random())?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    bindings::log::add_to_linker::<PluginState, HasSelf<PluginState>>(linker, |s| s)?;
    bindings::types::add_to_linker::<PluginState, HasSelf<PluginState>>(linker, |s| s)?;
    Ok(())
}

/// Advances the engine's epoch every `tick` until `stop` is set: the clock
/// that interrupts connectors running past their budget.
fn spawn_epoch_ticker(
    engine: Engine,
    tick: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("switchyard-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                engine.increment_epoch();
            }
        })
        .map(drop)
}
