//! A loaded connector and its sandboxed calls.

use crate::allowlist::Allowlist;
use crate::bindings::types::{
    CallContext, ChangePage, ChangeRequest, ConnectionConfig, ConnectorInfo, Error as GuestError,
    Session,
};
use crate::bindings::{Connector, ConnectorPre};
use crate::engine::Runtime;
use crate::error::{CallError, LoadError};
use crate::outbound::{CallHooks, CallObserver, CallOutbound};
use crate::redact::Secrets;
use crate::state::{GuestLog, MemoryCapExceeded, PluginState, SandboxLimiter};
use crate::{SandboxLimits, validate};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::clocks::WasiClocksCtx;
use wasmtime_wasi::random::WasiRandomCtx;
use wasmtime_wasi_http::WasiHttpCtx;

/// Tables larger than this are refused; Rust guests need a few hundred slots.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Extra time granted after the budget for an interrupted call to unwind
/// before the host gives up waiting on it.
const UNWIND_GRACE: Duration = Duration::from_millis(200);

/// What one call may do and where its side effects are reported.
#[derive(Clone, Default)]
pub struct CallEnv {
    /// Memory, time and size limits.
    pub limits: SandboxLimits,
    /// Hosts the call may reach.
    pub allowlist: Arc<Allowlist>,
    /// Secret values to redact from everything the call logs.
    pub secrets: Arc<Secrets>,
    /// Receives log lines and outbound exchanges.
    pub observer: Option<Arc<dyn CallObserver>>,
}

impl CallEnv {
    /// An environment with `limits`, no allowed hosts and no observer.
    pub fn new(limits: SandboxLimits) -> Self {
        CallEnv {
            limits,
            ..CallEnv::default()
        }
    }
}

/// A connector component, compiled, linked and validated: ready to be called.
///
/// Each call gets a fresh instance from the pool: calls share nothing, and a
/// call that misbehaves takes only itself down.
pub struct ConnectorComponent {
    runtime: Runtime,
    hash: String,
    info: ConnectorInfo,
    pre: ConnectorPre<PluginState>,
}

impl std::fmt::Debug for ConnectorComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorComponent")
            .field("id", &self.info.id)
            .field("version", &self.info.version)
            .field("hash", &self.hash)
            .finish()
    }
}

impl ConnectorComponent {
    pub(crate) async fn describe_and_validate(
        runtime: Runtime,
        hash: String,
        pre: ConnectorPre<PluginState>,
    ) -> Result<Arc<Self>, LoadError> {
        let mut component = ConnectorComponent {
            runtime,
            hash,
            info: ConnectorInfo {
                id: String::new(),
                name: String::new(),
                version: String::new(),
                description: String::new(),
                auth: crate::bindings::types::AuthMethod::None,
                settings: Vec::new(),
                models: Vec::new(),
                allowed_hosts: Vec::new(),
            },
            pre,
        };
        let info = component
            .describe(&CallEnv::new(SandboxLimits::default()))
            .await
            .map_err(|e| LoadError::Describe(Box::new(e)))?;
        validate::connector_info(&info).map_err(LoadError::InvalidDescription)?;
        component.info = info;
        Ok(Arc::new(component))
    }

    /// The SHA-256 of the component's bytes, hex encoded: its identity.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// What the connector said about itself when it was loaded.
    pub fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    /// The names of the interfaces the component imports: the capabilities
    /// it asks for (`wasi:http/outgoing-handler@0.2.12`, …). Every one of
    /// them is provided by the sandbox, or the component would not load.
    pub fn imports(&self) -> Vec<String> {
        let engine = &self.runtime.inner.engine;
        self.pre
            .instance_pre()
            .component()
            .component_type()
            .imports(engine)
            .map(|(name, _)| name.to_string())
            .collect()
    }

    /// Calls `describe`.
    pub async fn describe(&self, env: &CallEnv) -> Result<ConnectorInfo, CallError> {
        self.call(env, async |store, connector| {
            connector
                .switchyard_connector_source()
                .call_describe(store)
                .await
                .map(Ok)
        })
        .await
    }

    /// Calls `authenticate`.
    pub async fn authenticate(
        &self,
        env: &CallEnv,
        config: &ConnectionConfig,
    ) -> Result<Session, CallError> {
        let session = self
            .call(env, async |store, connector| {
                connector
                    .switchyard_connector_source()
                    .call_authenticate(store, config)
                    .await
            })
            .await?;
        validate::session(&session).map_err(CallError::InvalidOutput)?;
        Ok(session)
    }

    /// Calls `refresh`.
    pub async fn refresh(
        &self,
        env: &CallEnv,
        config: &ConnectionConfig,
        session: &Session,
    ) -> Result<Session, CallError> {
        let session = self
            .call(env, async |store, connector| {
                connector
                    .switchyard_connector_source()
                    .call_refresh(store, config, session)
                    .await
            })
            .await?;
        validate::session(&session).map_err(CallError::InvalidOutput)?;
        Ok(session)
    }

    /// Calls `list-changes` and checks the page against the request and the
    /// limits before returning it.
    pub async fn list_changes(
        &self,
        env: &CallEnv,
        context: &CallContext,
        request: &ChangeRequest,
    ) -> Result<ChangePage, CallError> {
        let page = self
            .call(env, async |store, connector| {
                connector
                    .switchyard_connector_source()
                    .call_list_changes(store, context, request)
                    .await
            })
            .await?;
        validate::change_page(&page, request, &env.limits)?;
        Ok(page)
    }

    /// Runs one export in a fresh instance under the call's limits.
    async fn call<R>(
        &self,
        env: &CallEnv,
        invoke: impl AsyncFnOnce(
            &mut Store<PluginState>,
            &Connector,
        ) -> wasmtime::Result<Result<R, GuestError>>,
    ) -> Result<R, CallError> {
        let runtime = &self.runtime.inner;
        let limits = env.limits;
        let budget = limits.time_budget();
        let deadline = Instant::now() + budget;
        let memory_cap = limits.memory_bytes.min(runtime.config.max_memory_bytes);
        let outbound = Arc::new(CallOutbound {
            client: runtime.outbound.clone(),
            allowlist: env.allowlist.clone(),
            secrets: env.secrets.clone(),
            observer: env.observer.clone(),
            deadline,
            max_response_bytes: limits.max_response_bytes,
            denied: Mutex::new(Vec::new()),
            deadline_hit: AtomicBool::new(false),
            oversized: AtomicBool::new(false),
        });
        let state = PluginState {
            table: Default::default(),
            clocks: WasiClocksCtx::default(),
            random: WasiRandomCtx::default(),
            http: WasiHttpCtx::new(),
            hooks: CallHooks {
                shared: outbound.clone(),
            },
            limiter: SandboxLimiter {
                memory_bytes: memory_cap,
                table_elements: MAX_TABLE_ELEMENTS,
            },
            log: GuestLog {
                connector: Arc::from(self.info.id.as_str()),
                observer: env.observer.clone(),
                max_lines: limits.max_log_lines,
                lines: 0,
                dropped: 0,
            },
        };
        let mut store = Store::new(&runtime.engine, state);
        store.limiter(|state| &mut state.limiter);
        // Check the clock at every epoch tick: interrupt past the deadline,
        // otherwise yield so a busy guest cannot starve the executor.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });

        let work = async {
            let connector = self
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| classify_instantiation(e, memory_cap, budget))?;
            match invoke(&mut store, &connector).await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(guest)) => Err(CallError::Connector(guest)),
                Err(trap) => Err(classify_trap(trap, memory_cap, budget)),
            }
        };
        // The epoch interrupts guest code; this deadline also covers time
        // spent waiting in host calls such as a slow HTTP response.
        let result = match tokio::time::timeout_at((deadline + UNWIND_GRACE).into(), work).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout { budget }),
        };
        let dropped_lines = store.data().log.dropped;
        if dropped_lines > 0 {
            tracing::warn!(connector = %self.info.id, dropped_lines, "connector log lines dropped");
        }
        let denied = outbound
            .denied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .first()
            .cloned();
        let out_of_time = outbound.deadline_hit.load(Ordering::Relaxed);
        let oversized = outbound.oversized.load(Ordering::Relaxed);
        match (result, denied) {
            // The connector's own error would only say "request failed" or
            // "timed out": the host knows the real cause.
            (Err(CallError::Connector(_)), Some(host)) => Err(CallError::HostNotAllowed { host }),
            (Err(CallError::Connector(_)), None) if out_of_time => {
                Err(CallError::Timeout { budget })
            }
            (Err(CallError::Connector(_)), None) if oversized => Err(CallError::ResponseTooLarge {
                limit_bytes: limits.max_response_bytes,
            }),
            (result, _) => result,
        }
    }
}

fn classify_trap(error: wasmtime::Error, memory_cap: usize, budget: Duration) -> CallError {
    if error.downcast_ref::<MemoryCapExceeded>().is_some() {
        return CallError::MemoryLimit {
            cap_bytes: memory_cap,
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallError::Timeout { budget },
        Some(trap) => CallError::Trap(trap.to_string()),
        None => CallError::Trap(format!("{error:#}")),
    }
}

fn classify_instantiation(
    error: wasmtime::Error,
    memory_cap: usize,
    budget: Duration,
) -> CallError {
    if error
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return CallError::Capacity;
    }
    if error.downcast_ref::<MemoryCapExceeded>().is_some() || error.downcast_ref::<Trap>().is_some()
    {
        return classify_trap(error, memory_cap, budget);
    }
    CallError::Instantiate(format!("{error:#}"))
}
