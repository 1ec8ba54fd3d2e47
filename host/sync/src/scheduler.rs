//! The scheduler: runs each model of each syncable connection at its
//! interval, with jitter, under a global and a per-source-host concurrency
//! limit, never two runs of the same connection and model at once.

use crate::engine::{RunOptions, SyncEngine, SyncError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchyard_control::Registry;
use switchyard_runtime::authority_of_url;
use switchyard_store::model::{Connection, ConnectionStatus};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Runs of a connection kept whatever their age, so an idle connection's
/// history does not vanish with the retention period.
const RUNS_KEPT: usize = 100;

/// Scheduler settings.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Interval between runs of a model, unless the connection sets one.
    pub default_interval: Duration,
    /// Random spread added to each interval, as a fraction of it, so many
    /// connections created together do not sync in lockstep.
    pub jitter: f64,
    /// Runs in progress at once, across all connections.
    pub max_concurrent_runs: usize,
    /// Runs in progress at once against one source host.
    pub max_runs_per_host: usize,
    /// How often the scheduler looks for due work.
    pub tick: Duration,
    /// How long tombstones and quarantined records are kept.
    pub retention: Duration,
    /// How often the retention purge runs.
    pub maintenance_every: Duration,
    /// How long request log entries are kept.
    pub log_retention: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            default_interval: Duration::from_secs(15 * 60),
            jitter: 0.1,
            max_concurrent_runs: 8,
            max_runs_per_host: 2,
            tick: Duration::from_secs(1),
            retention: Duration::from_secs(30 * 86_400),
            maintenance_every: Duration::from_secs(3600),
            log_retention: Duration::from_secs(7 * 86_400),
        }
    }
}

/// The schedule of one (connection, model).
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// When its last run ended; `None` until one has (since this process
    /// started).
    last_end: Option<Instant>,
    /// When it is first due, before any run ended.
    first_due: Instant,
    /// This slot's share of the interval's jitter, fixed per slot so
    /// connections created together drift apart and stay apart.
    jitter: f64,
    /// A run is in progress or queued.
    busy: bool,
}

impl Slot {
    fn new(now: Instant, jitter: f64) -> Self {
        Slot {
            last_end: None,
            first_due: now + Duration::from_secs_f64(rand::random::<f64>()),
            jitter: rand::random::<f64>() * jitter,
            busy: false,
        }
    }
}

/// Starts runs: on schedule, and on demand.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

struct Inner {
    engine: SyncEngine,
    registry: Arc<Registry>,
    config: SchedulerConfig,
    global: Arc<Semaphore>,
    per_host: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// When each (connection, model) last ran, and its jitter.
    schedule: Mutex<HashMap<(String, String), Slot>>,
}

impl Scheduler {
    /// A scheduler over `engine`.
    pub fn new(engine: SyncEngine, registry: Arc<Registry>, config: SchedulerConfig) -> Self {
        Scheduler {
            inner: Arc::new(Inner {
                global: Arc::new(Semaphore::new(config.max_concurrent_runs.max(1))),
                engine,
                registry,
                config,
                per_host: Mutex::new(HashMap::new()),
                schedule: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The engine runs go through.
    pub fn engine(&self) -> &SyncEngine {
        &self.inner.engine
    }

    /// Checks that `connection_id` can sync `model` (or all its models) and
    /// starts those runs in the background. Returns the models started;
    /// models already running are skipped.
    pub async fn trigger(
        &self,
        connection_id: &str,
        model: Option<&str>,
        options: RunOptions,
    ) -> Result<Vec<String>, SyncError> {
        let connection = self.inner.engine.connections().get(connection_id)?;
        if let Some(hint) = not_syncable_hint(connection.status) {
            return Err(SyncError::NotSyncable {
                connection_id: connection_id.to_string(),
                status: connection.status,
                hint,
            });
        }
        let component = self
            .inner
            .registry
            .resolve(
                &connection.connector_id,
                connection.pinned_version.as_deref(),
            )
            .await?;
        let models: Vec<String> = match model {
            Some(model) => {
                if !component.info().models.iter().any(|m| m.name == model) {
                    return Err(SyncError::UnknownModel(model.to_string()));
                }
                vec![model.to_string()]
            }
            None => component
                .info()
                .models
                .iter()
                .map(|m| m.name.clone())
                .collect(),
        };
        let mut started = Vec::new();
        for model in models {
            // A run already queued counts too: a second task would only
            // find the model claimed and drop the request.
            if !self.is_busy(connection_id, &model)
                && !self.inner.engine.is_running(connection_id, &model)
            {
                self.spawn(&connection, model.clone(), options);
                started.push(model);
            }
        }
        Ok(started)
    }

    /// Runs the schedule until `shutdown` resolves. Every model of every
    /// syncable connection is due at start (with jitter), so syncs
    /// interrupted by a restart resume at once.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut ticker = tokio::time::interval(self.inner.config.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_maintenance = Instant::now();
        let mut maintenance: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = ticker.tick() => {}
            }
            if let Err(e) = self.start_due().await {
                tracing::warn!("scheduler: {e}");
            }
            if last_maintenance.elapsed() >= self.inner.config.maintenance_every
                && maintenance.as_ref().is_none_or(|task| task.is_finished())
            {
                last_maintenance = Instant::now();
                let scheduler = self.clone();
                // Purging scans RocksDB: off the async workers, and not
                // awaited, so runs keep starting while it goes on.
                maintenance = Some(tokio::task::spawn_blocking(move || {
                    scheduler.maintain_all()
                }));
            }
        }
    }

    async fn start_due(&self) -> Result<(), SyncError> {
        let now = Instant::now();
        for connection in self.inner.engine.connections().list()? {
            if not_syncable_hint(connection.status).is_some() {
                continue;
            }
            let Ok(component) = self
                .inner
                .registry
                .resolve(
                    &connection.connector_id,
                    connection.pinned_version.as_deref(),
                )
                .await
            else {
                continue;
            };
            for model in &component.info().models {
                // The interval is read every tick, so a changed setting takes
                // effect without waiting out the old one.
                let interval = self.interval(&connection, &model.name);
                let due = {
                    let mut schedule = self
                        .inner
                        .schedule
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    let jitter = self.inner.config.jitter;
                    // First sight (a new connection, or a restart): due within
                    // a second, so interrupted syncs resume at once.
                    let slot = schedule
                        .entry((connection.id.clone(), model.name.clone()))
                        .or_insert_with(|| Slot::new(now, jitter));
                    let due_at = match slot.last_end {
                        Some(end) => end + interval.mul_f64(1.0 + slot.jitter),
                        None => slot.first_due,
                    };
                    !slot.busy && due_at <= now
                };
                if due && !self.inner.engine.is_running(&connection.id, &model.name) {
                    self.spawn(&connection, model.name.clone(), RunOptions::default());
                }
            }
        }
        Ok(())
    }

    /// Runs the retention purge on every model of every connection; models
    /// with a run in progress are left for the next round.
    pub fn maintain_all(&self) {
        let engine = &self.inner.engine;
        if let Some(log) = engine.connections().request_log() {
            let cutoff = switchyard_store::model::now_ms()
                - self.inner.config.log_retention.as_millis() as i64;
            match log.purge(cutoff) {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "request log retention purge"),
                Err(e) => tracing::warn!("request log purge failed: {e}"),
            }
        }
        let Ok(connections) = engine.connections().list() else {
            return;
        };
        let cutoff =
            switchyard_store::model::now_ms() - self.inner.config.retention.as_millis() as i64;
        for connection in connections {
            match engine.store().purge_runs(&connection.id, cutoff, RUNS_KEPT) {
                Ok(0) => {}
                Ok(removed) => {
                    tracing::info!(connection = %connection.id, removed, "run history retention purge")
                }
                Err(e) => {
                    tracing::warn!(connection = %connection.id, "run history purge failed: {e}")
                }
            }
            let Some(component) = self.inner.registry.active(&connection.connector_id) else {
                continue;
            };
            for model in &component.info().models {
                match engine.maintain(&connection.id, &model.name, self.inner.config.retention) {
                    Ok(report) if report != Default::default() => {
                        tracing::info!(connection = %connection.id, model = %model.name, ?report, "retention purge");
                    }
                    Ok(_) | Err(SyncError::AlreadyRunning { .. }) => {}
                    Err(e) => {
                        tracing::warn!(connection = %connection.id, model = %model.name, "retention purge failed: {e}")
                    }
                }
            }
        }
    }

    fn interval(&self, connection: &Connection, model: &str) -> Duration {
        connection
            .sync_interval_secs
            .get(model)
            .or_else(|| connection.sync_interval_secs.get("*"))
            .map_or(self.inner.config.default_interval, |s| {
                Duration::from_secs(*s)
            })
    }

    fn spawn(&self, connection: &Connection, model: String, options: RunOptions) {
        let scheduler = self.clone();
        let host = source_host(connection);
        let connection_id = connection.id.clone();
        self.mark(&connection_id, &model, true);
        tokio::spawn(async move {
            let inner = &scheduler.inner;
            let host_limit = inner
                .per_host
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(host)
                .or_insert_with(|| Arc::new(Semaphore::new(inner.config.max_runs_per_host.max(1))))
                .clone();
            // The source host's slot first: a run waiting for a busy host
            // must not hold a global slot that another host could use.
            let _host = host_limit.acquire_owned().await;
            let _global = inner.global.clone().acquire_owned().await;
            match inner
                .engine
                .sync_model(&connection_id, &model, options, None)
                .await
            {
                Ok(_) | Err(SyncError::AlreadyRunning { .. }) => {}
                Err(e) => {
                    tracing::warn!(connection = %connection_id, model, "sync not started: {e}")
                }
            }
            scheduler.mark(&connection_id, &model, false);
        });
    }

    /// Marks a slot busy (a run is queued or running) or done (it just ended).
    /// Whether a run of the model is queued or running from this scheduler.
    fn is_busy(&self, connection_id: &str, model: &str) -> bool {
        self.inner
            .schedule
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(connection_id.to_string(), model.to_string()))
            .is_some_and(|slot| slot.busy)
    }

    fn mark(&self, connection_id: &str, model: &str, busy: bool) {
        let mut schedule = self
            .inner
            .schedule
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let jitter = self.inner.config.jitter;
        let slot = schedule
            .entry((connection_id.to_string(), model.to_string()))
            .or_insert_with(|| Slot::new(Instant::now(), jitter));
        slot.busy = busy;
        if !busy {
            slot.last_end = Some(Instant::now());
        }
    }
}

/// Why a connection in `status` cannot sync, if it cannot.
pub(crate) fn not_syncable_hint(status: ConnectionStatus) -> Option<&'static str> {
    match status {
        ConnectionStatus::Active | ConnectionStatus::Degraded | ConnectionStatus::Refreshing => {
            None
        }
        ConnectionStatus::RequiresReauth => Some("the customer must reconnect it"),
        ConnectionStatus::Pending => Some("it has not been authenticated yet"),
        ConnectionStatus::Error => Some("fix its configuration and reconnect it"),
        ConnectionStatus::Paused => Some("resume it first"),
        ConnectionStatus::Disabled => Some("it is disabled"),
    }
}

/// The source host a connection talks to: the authority of its first URL
/// setting, or its connector id when it has none.
fn source_host(connection: &Connection) -> String {
    connection
        .settings
        .values()
        .find_map(|value| authority_of_url(value))
        .map_or_else(
            || connection.connector_id.clone(),
            |(host, port)| format!("{host}:{port}"),
        )
}
