//! A loaded connector and its sandboxed calls.

use crate::allowlist::Allowlist;
use crate::bindings::ConnectorPre;
use crate::bindings::types::{
    CallContext, ChangePage, ChangeRequest, ConnectionConfig, ConnectorInfo, Error as GuestError,
    Session,
};
use crate::engine::Runtime;
use crate::error::{CallError, LoadError};
use crate::outbound::{CallHooks, CallObserver, CallOutbound};
use crate::redact::Secrets;
use crate::state::{GuestLog, MemoryCapExceeded, PluginState, SandboxLimiter};
use crate::{SandboxLimits, validate};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::{
    ComponentExportIndex, ComponentNamedList, Instance, Lift, Lower, TypedFunc,
};
use wasmtime::{Store, Trap, UpdateDeadline};
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
    /// The id, shared by every call's log (no allocation per call).
    log_name: Arc<str>,
    pre: ConnectorPre<PluginState>,
    exports: Exports,
}

/// The name of the exported interface the host calls.
const SOURCE_INTERFACE: &str = "switchyard:connector/source@0.1.0";

/// Where the `source` exports are in the component, found once at load.
///
/// The generated bindings look the exports up and type-check all four on
/// every instantiation; a component's types cannot change between
/// instantiations, so they are checked once, at load, with exactly the
/// signatures the calls use ([`ConnectorComponent::check_exports`]), and each
/// call then takes its one function unchecked.
#[derive(Clone, Copy)]
struct Exports {
    describe: ComponentExportIndex,
    authenticate: ComponentExportIndex,
    refresh: ComponentExportIndex,
    list_changes: ComponentExportIndex,
}

impl Exports {
    fn find(pre: &ConnectorPre<PluginState>) -> Result<Self, LoadError> {
        let component = pre.instance_pre().component();
        let missing = |name: &str| LoadError::WorldMismatch(format!("no export `{name}`"));
        let interface = component
            .get_export_index(None, SOURCE_INTERFACE)
            .ok_or_else(|| missing(SOURCE_INTERFACE))?;
        let lookup = |name: &str| {
            component
                .get_export_index(Some(&interface), name)
                .ok_or_else(|| missing(name))
        };
        Ok(Exports {
            describe: lookup("describe")?,
            authenticate: lookup("authenticate")?,
            refresh: lookup("refresh")?,
            list_changes: lookup("list-changes")?,
        })
    }
}

type DescribeFn = TypedFunc<(), (ConnectorInfo,)>;
type AuthenticateFn<'a> = TypedFunc<(&'a ConnectionConfig,), (Result<Session, GuestError>,)>;
type RefreshFn<'a> = TypedFunc<(&'a ConnectionConfig, &'a Session), (Result<Session, GuestError>,)>;
type ListChangesFn<'a> =
    TypedFunc<(&'a CallContext, &'a ChangeRequest), (Result<ChangePage, GuestError>,)>;

/// The export `index` of `instance` as a typed function.
///
/// # Safety
///
/// `F` must be the signature `index` was checked against in
/// [`ConnectorComponent::check_exports`], for this component.
unsafe fn typed<P, R>(
    store: &mut Store<PluginState>,
    instance: &Instance,
    index: &ComponentExportIndex,
) -> wasmtime::Result<TypedFunc<P, R>>
where
    P: ComponentNamedList + Lower,
    R: ComponentNamedList + Lift,
{
    let func = instance
        .get_func(&mut *store, index)
        .ok_or_else(|| wasmtime::format_err!("the component lost an export it was loaded with"))?;
    // SAFETY: the caller guarantees the signature was type-checked for this
    // component's export at load, and a component's types never change.
    Ok(unsafe { TypedFunc::new_unchecked(func) })
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
            log_name: Arc::from(""),
            exports: Exports::find(&pre)?,
            pre,
        };
        component
            .check_exports()
            .await
            .map_err(|e| LoadError::WorldMismatch(e.to_string()))?;
        let info = component
            .describe(&CallEnv::new(SandboxLimits::default()))
            .await
            .map_err(|e| LoadError::Describe(Box::new(e)))?;
        validate::connector_info(&info).map_err(LoadError::InvalidDescription)?;
        component.log_name = Arc::from(info.id.as_str());
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

    /// Type-checks the four exports once, with the signatures the calls
    /// use: what makes the unchecked calls below sound.
    async fn check_exports(&self) -> Result<(), CallError> {
        let exports = self.exports;
        self.call(
            &CallEnv::new(SandboxLimits::default()),
            "load",
            async |store, instance| {
                instance.get_typed_func::<(), (ConnectorInfo,)>(&mut *store, exports.describe)?;
                instance
                    .get_typed_func::<(&ConnectionConfig,), (Result<Session, GuestError>,)>(
                        &mut *store,
                        exports.authenticate,
                    )?;
                instance.get_typed_func::<(&ConnectionConfig, &Session), (Result<Session, GuestError>,)>(
                    &mut *store,
                    exports.refresh,
                )?;
                instance.get_typed_func::<(&CallContext, &ChangeRequest), (Result<ChangePage, GuestError>,)>(
                    &mut *store,
                    exports.list_changes,
                )?;
                Ok(Ok(()))
            },
        )
        .await
    }

    /// Calls `describe`.
    pub async fn describe(&self, env: &CallEnv) -> Result<ConnectorInfo, CallError> {
        let index = self.exports.describe;
        self.call(env, "describe", async |store, instance| {
            // SAFETY: `DescribeFn` is the signature checked in `check_exports`.
            let func: DescribeFn = unsafe { typed(store, instance, &index)? };
            let (info,) = func.call_async(&mut *store, ()).await?;
            Ok(Ok(info))
        })
        .await
    }

    /// Calls `authenticate`.
    pub async fn authenticate(
        &self,
        env: &CallEnv,
        config: &ConnectionConfig,
    ) -> Result<Session, CallError> {
        let index = self.exports.authenticate;
        let session = self
            .call(env, "authenticate", async |store, instance| {
                // SAFETY: `AuthenticateFn` is the signature checked in
                // `check_exports`.
                let func: AuthenticateFn<'_> = unsafe { typed(store, instance, &index)? };
                let (result,) = func.call_async(&mut *store, (config,)).await?;
                Ok(result)
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
        let index = self.exports.refresh;
        let session = self
            .call(env, "refresh", async |store, instance| {
                // SAFETY: `RefreshFn` is the signature checked in
                // `check_exports`.
                let func: RefreshFn<'_> = unsafe { typed(store, instance, &index)? };
                let (result,) = func.call_async(&mut *store, (config, session)).await?;
                Ok(result)
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
        let index = self.exports.list_changes;
        let page = self
            .call(env, "list-changes", async |store, instance| {
                // SAFETY: `ListChangesFn` is the signature checked in
                // `check_exports`.
                let func: ListChangesFn<'_> = unsafe { typed(store, instance, &index)? };
                let (result,) = func.call_async(&mut *store, (context, request)).await?;
                Ok(result)
            })
            .await?;
        validate::change_page(&page, request, &env.limits)?;
        Ok(page)
    }

    /// Runs one export in a fresh instance under the call's limits.
    async fn call<R>(
        &self,
        env: &CallEnv,
        function: &'static str,
        invoke: impl AsyncFnOnce(
            &mut Store<PluginState>,
            &Instance,
        ) -> wasmtime::Result<Result<R, GuestError>>,
    ) -> Result<R, CallError> {
        let runtime = &self.runtime.inner;
        let limits = env.limits;
        let budget = limits.time_budget();
        let started = Instant::now();
        let deadline = started + budget;
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
            clocks: None,
            random: None,
            http: WasiHttpCtx::new(),
            hooks: CallHooks {
                shared: outbound.clone(),
            },
            limiter: SandboxLimiter {
                memory_bytes: memory_cap,
                table_elements: MAX_TABLE_ELEMENTS,
            },
            log: GuestLog {
                connector: self.log_name.clone(),
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
            let instance = self
                .pre
                .instance_pre()
                .instantiate_async(&mut store)
                .await
                .map_err(|e| classify_instantiation(e, memory_cap, budget))?;
            match invoke(&mut store, &instance).await {
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
        let result = match (result, denied) {
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
        };
        let metrics = switchyard_telemetry::metrics();
        let outcome = result.as_ref().map_or_else(|e| e.code(), |_| "ok");
        metrics
            .plugin_calls
            .with_label_values(&[function, outcome])
            .inc();
        metrics
            .plugin_call_duration
            .with_label_values(&[function])
            .observe(started.elapsed().as_secs_f64());
        result
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
