//! The per-call store state: one capability per field, composed here.

use crate::bindings::{log, types};
use crate::outbound::{CallHooks, CallObserver};
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::clocks::{WasiClocksCtx, WasiClocksCtxView, WasiClocksView};
use wasmtime_wasi::random::WasiRandomCtx;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};
use wasmtime_wasi_io::IoView;

/// Log levels of connector log lines.
pub use crate::bindings::log::Level as LogLevel;

/// Longest log line kept; the rest is cut.
const MAX_LOG_LINE_BYTES: usize = 4096;

/// Everything one connector call can reach. No filesystem, sockets,
/// environment or arguments exist here to be reached.
pub(crate) struct PluginState {
    pub(crate) table: ResourceTable,
    /// Built on first use: most calls of most connectors never read a clock
    /// or ask for randomness, and building them costs allocations and
    /// seeding a generator on every call.
    pub(crate) clocks: Option<WasiClocksCtx>,
    pub(crate) random: Option<WasiRandomCtx>,
    pub(crate) http: WasiHttpCtx,
    pub(crate) hooks: CallHooks,
    pub(crate) limiter: SandboxLimiter,
    pub(crate) log: GuestLog,
}

impl IoView for PluginState {
    fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl PluginState {
    /// The call's random sources, created on first use.
    pub(crate) fn random(&mut self) -> &mut WasiRandomCtx {
        self.random.get_or_insert_with(WasiRandomCtx::default)
    }
}

impl WasiClocksView for PluginState {
    fn clocks(&mut self) -> WasiClocksCtxView<'_> {
        WasiClocksCtxView {
            ctx: self.clocks.get_or_insert_with(WasiClocksCtx::default),
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for PluginState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The memory cap was reached: the error that interrupts the guest.
#[derive(Debug, thiserror::Error)]
#[error("memory cap of {cap_bytes} bytes exceeded (asked for {desired_bytes})")]
pub(crate) struct MemoryCapExceeded {
    pub(crate) cap_bytes: usize,
    pub(crate) desired_bytes: usize,
}

/// Caps memory and table growth of one store.
pub(crate) struct SandboxLimiter {
    pub(crate) memory_bytes: usize,
    pub(crate) table_elements: usize,
}

impl ResourceLimiter for SandboxLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool> {
        if desired > self.memory_bytes {
            // An error, not `Ok(false)`: a failed grow makes Rust guests abort
            // with an anonymous trap, while this names the cause.
            return Err(MemoryCapExceeded {
                cap_bytes: self.memory_bytes,
                desired_bytes: desired,
            }
            .into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool> {
        Ok(desired <= self.table_elements)
    }
}

/// Where a call's log lines go.
pub(crate) struct GuestLog {
    pub(crate) connector: Arc<str>,
    pub(crate) observer: Option<Arc<dyn CallObserver>>,
    pub(crate) max_lines: u32,
    pub(crate) lines: u32,
    pub(crate) dropped: u32,
}

impl log::Host for PluginState {
    fn log(&mut self, level: log::Level, message: String) {
        let log = &mut self.log;
        if log.lines >= log.max_lines {
            log.dropped += 1;
            return;
        }
        log.lines += 1;
        // The message is guest controlled: cut it to a bounded length on a
        // character boundary before it reaches any log.
        let mut end = message.len().min(MAX_LOG_LINE_BYTES);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let message = &message[..end];
        let connector = &*log.connector;
        match level {
            log::Level::Trace => tracing::trace!(connector, "{message}"),
            log::Level::Debug => tracing::debug!(connector, "{message}"),
            log::Level::Info => tracing::info!(connector, "{message}"),
            log::Level::Warn => tracing::warn!(connector, "{message}"),
            log::Level::Error => tracing::error!(connector, "{message}"),
        }
        if let Some(observer) = &log.observer {
            observer.log(level, message);
        }
    }
}

impl types::Host for PluginState {}
