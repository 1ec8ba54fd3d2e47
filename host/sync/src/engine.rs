//! Sync runs: one model of one connection, page by page, from its stored
//! cursor to the end of what the source has.

use crate::policy::{Action, Attempts, Outcome, RetryPolicy};
use crate::records::{CheckedPage, RecordValidator};
use crate::writer::{PageWriter, Written};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchyard_control::connections::ConnectionSecrets;
use switchyard_control::health::HealthThresholds;
use switchyard_control::{ConnectionError, Connections, Registry, RegistryError};
use switchyard_runtime::types::{CallContext, ChangeRequest, ConnectorError, FieldValue};
use switchyard_runtime::{CallEnv, CallError, ConnectorComponent};
use switchyard_store::model::*;
use switchyard_store::{PageCommit, Store, StoreError};

/// Pages in a row whose cursor the run has seen before, tolerated while the
/// connector says it has more: a connector going round in circles is stopped.
const MAX_STALLED_PAGES: u32 = 3;

/// Refresh a session this long before it expires.
const REFRESH_AHEAD_MS: i64 = 60_000;

/// Sync settings.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Changes asked for per page.
    pub page_size: u32,
    /// What to do about failures.
    pub retry: RetryPolicy,
    /// When a connection's runs make it `degraded`, and when it recovers.
    pub health: HealthThresholds,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            page_size: 500,
            retry: RetryPolicy::default(),
            health: HealthThresholds::default(),
        }
    }
}

/// How to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Forget the cursor and sync the lookback window again.
    pub full_resync: bool,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A run of the same connection and model is in progress.
    #[error("a sync of {model} on {connection_id} is already running")]
    AlreadyRunning {
        /// The connection.
        connection_id: String,
        /// The model.
        model: String,
    },
    /// The connection's status does not allow syncing.
    #[error("connection {connection_id} is {status:?}: {hint}")]
    NotSyncable {
        /// The connection.
        connection_id: String,
        /// Its status.
        status: ConnectionStatus,
        /// What to do about it.
        hint: &'static str,
    },
    /// The connector does not offer this model.
    #[error("the connector has no model `{0}`")]
    UnknownModel(String),
    /// The connection cannot be read or used.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The connector cannot be resolved.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SyncError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::AlreadyRunning { .. } => "sync_already_running",
            SyncError::NotSyncable {
                status: ConnectionStatus::RequiresReauth,
                ..
            } => "connection_requires_reauthorization",
            SyncError::NotSyncable { .. } => "connection_not_syncable",
            SyncError::UnknownModel(_) => "model_not_found",
            SyncError::Connection(ConnectionError::NotFound(_)) => "connection_not_found",
            SyncError::Connection(_) => "connection_unusable",
            SyncError::Registry(e) => e.code(),
            SyncError::Store(_) => "internal_error",
        }
    }
}

/// Hears about a run's progress, for progress bars and metrics.
pub trait RunObserver: Send + Sync {
    /// A page was committed; `run` has the new totals.
    fn page_committed(&self, run: &Run) {
        let _ = run;
    }

    /// The run will retry after a failure.
    fn retrying(&self, run: &Run, retry: &RetryRecord) {
        let _ = (run, retry);
    }
}

/// Runs syncs.
#[derive(Clone)]
pub struct SyncEngine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    registry: Arc<Registry>,
    connections: Connections,
    config: SyncConfig,
    validator: RecordValidator,
    /// (connection, model) pairs with a run in progress.
    running: Mutex<HashSet<(String, String)>>,
}

/// Releases a (connection, model) claim when the run ends, however it ends.
struct Claim {
    inner: Arc<Inner>,
    key: (String, String),
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.inner
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// A failed run's error and its effect on the connection.
struct RunFailure {
    error: ErrorRecord,
    outcome: Outcome,
    requires_reauth: bool,
}

impl RunFailure {
    fn of(error: &CallError, outcome: Outcome) -> Self {
        RunFailure {
            error: ErrorRecord {
                code: error.code().to_string(),
                message: error.to_string(),
            },
            outcome,
            requires_reauth: false,
        }
    }

    fn host(code: &str, message: String) -> Self {
        RunFailure {
            error: ErrorRecord {
                code: code.to_string(),
                message,
            },
            outcome: Outcome::RunFailed,
            requires_reauth: false,
        }
    }
}

impl From<StoreError> for RunFailure {
    fn from(e: StoreError) -> Self {
        RunFailure::host("internal_error", format!("storage failed: {e}"))
    }
}

/// Pages validated and handed to the store while the next is fetched.
/// Two absorb the jitter between fetching and writing (a RocksDB flush
/// slows one commit, a slow source one fetch), which a single page in
/// flight turns into idle time on both sides.
const COMMITS_IN_FLIGHT: usize = 2;

/// A run's pages on their way to the store.
#[derive(Default)]
struct Commits {
    /// Started with the run's first page.
    writer: Option<PageWriter>,
    /// Oldest first.
    pending: VecDeque<PendingCommit>,
}

/// A page queued for writing.
struct PendingCommit {
    written: tokio::sync::oneshot::Receiver<Written>,
    /// The model's state once this page is written: the next page is
    /// encoded from it.
    state_after: SyncState,
}

/// Everything one run works with.
struct RunContext<'a> {
    connection: &'a Connection,
    component: &'a ConnectorComponent,
    secrets: ConnectionSecrets,
    env: CallEnv,
    observer: Option<&'a dyn RunObserver>,
}

impl SyncEngine {
    /// An engine over the control plane and store.
    pub fn new(
        store: Arc<Store>,
        registry: Arc<Registry>,
        connections: Connections,
        config: SyncConfig,
    ) -> Self {
        SyncEngine {
            inner: Arc::new(Inner {
                store,
                registry,
                connections,
                config,
                validator: RecordValidator::default(),
                running: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// The store the engine writes to.
    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// The connections the engine syncs.
    pub fn connections(&self) -> &Connections {
        &self.inner.connections
    }

    /// Whether a run of this model is in progress.
    pub fn is_running(&self, connection_id: &str, model: &str) -> bool {
        self.inner
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(connection_id.to_string(), model.to_string()))
    }

    fn claim(&self, connection_id: &str, model: &str) -> Result<Claim, SyncError> {
        let key = (connection_id.to_string(), model.to_string());
        let mut running = self.inner.running.lock().unwrap_or_else(|e| e.into_inner());
        if !running.insert(key.clone()) {
            return Err(SyncError::AlreadyRunning {
                connection_id: key.0,
                model: key.1,
            });
        }
        Ok(Claim {
            inner: self.inner.clone(),
            key,
        })
    }

    /// Purges what `retention` lets go of in one model (tombstones, superseded
    /// feed entries, quarantined records), while holding the model's claim so
    /// no run writes to it meanwhile.
    pub fn maintain(
        &self,
        connection_id: &str,
        model: &str,
        retention: Duration,
    ) -> Result<switchyard_store::PurgeReport, SyncError> {
        let _claim = self.claim(connection_id, model)?;
        let cutoff = now_ms() - retention.as_millis() as i64;
        Ok(self.inner.store.purge(connection_id, model, cutoff)?)
    }

    /// Syncs every model of a connection, one after the other.
    pub async fn sync_connection(
        &self,
        connection_id: &str,
        options: RunOptions,
        observer: Option<&dyn RunObserver>,
    ) -> Result<Vec<Run>, SyncError> {
        let connection = self.inner.connections.get(connection_id)?;
        let component = self
            .inner
            .registry
            .resolve(
                &connection.connector_id,
                connection.pinned_version.as_deref(),
            )
            .await?;
        let mut runs = Vec::new();
        for model in &component.info().models {
            runs.push(
                self.sync_model(connection_id, &model.name, options, observer)
                    .await?,
            );
        }
        Ok(runs)
    }

    /// Syncs one model of a connection: an initial sync until one completes,
    /// incremental syncs after that. Returns the finished run, succeeded or
    /// failed; an error means no run could start.
    pub async fn sync_model(
        &self,
        connection_id: &str,
        model: &str,
        options: RunOptions,
        observer: Option<&dyn RunObserver>,
    ) -> Result<Run, SyncError> {
        let _claim = self.claim(connection_id, model)?;
        let inner = &self.inner;
        let connection = inner.connections.get(connection_id)?;
        let hint = crate::scheduler::not_syncable_hint(connection.status);
        if let Some(hint) = hint {
            return Err(SyncError::NotSyncable {
                connection_id: connection_id.to_string(),
                status: connection.status,
                hint,
            });
        }
        let component = inner
            .registry
            .resolve(
                &connection.connector_id,
                connection.pinned_version.as_deref(),
            )
            .await?;
        if !component.info().models.iter().any(|m| m.name == model) {
            return Err(SyncError::UnknownModel(model.to_string()));
        }

        let mut state = inner
            .store
            .sync_state(connection_id, model)?
            .unwrap_or_default();
        let kind = if options.full_resync {
            state = SyncState {
                next_seq: state.next_seq,
                ..SyncState::default()
            };
            inner.store.put_sync_state(connection_id, model, &state)?;
            RunKind::FullResync
        } else if state.initial_complete {
            RunKind::Incremental
        } else {
            RunKind::Initial
        };
        let mut run = Run {
            id: inner.store.next_run_id()?,
            connection_id: connection_id.to_string(),
            model: model.to_string(),
            kind,
            status: RunStatus::Running,
            started_at: now_ms(),
            finished_at: None,
            pages: 0,
            records_upserted: 0,
            records_deleted: 0,
            records_quarantined: 0,
            connector_version: component.info().version.clone(),
            connector_hash: component.hash().to_string(),
            retries: Vec::new(),
            error: None,
        };
        inner.store.put_run(&run)?;
        tracing::info!(run = run.id, connection = connection_id, model, ?kind, version = %run.connector_version, "sync run started");

        // From here on every failure ends the run with its error: none may
        // leave it `running`.
        let result = match self.run_context(&connection, &component, &run, observer) {
            Ok(mut context) => {
                let result = self.pages(&mut context, &mut run, &mut state).await;
                // Connector error text can echo what it was sent.
                result.map_err(|mut failure| {
                    failure.error.message = context.env.secrets.redact(&failure.error.message);
                    failure
                })
            }
            Err(failure) => Err(failure),
        };

        run.finished_at = Some(now_ms());
        let result = result.and_then(|()| {
            let mut state = inner
                .store
                .sync_state(connection_id, model)
                .map_err(|e| RunFailure::host("internal_error", e.to_string()))?
                .unwrap_or(state);
            state.last_success_at = run.finished_at;
            inner
                .store
                .put_sync_state(connection_id, model, &state)
                .map_err(|e| RunFailure::host("internal_error", e.to_string()))
        });
        match result {
            Ok(()) => run.status = RunStatus::Succeeded,
            Err(failure) => {
                run.status = RunStatus::Failed;
                let status = match failure.outcome {
                    _ if failure.requires_reauth => Some(ConnectionStatus::RequiresReauth),
                    Outcome::Forbidden => Some(ConnectionStatus::Degraded),
                    Outcome::ConfigError => Some(ConnectionStatus::Error),
                    Outcome::RunFailed => None,
                };
                if let Some(status) = status {
                    // Through the status machine: it records the timeline,
                    // emits events once per transition, and ignores a stale
                    // outcome (the connection was reconnected meanwhile).
                    if let Err(e) = inner.connections.apply_sync_status(
                        &connection,
                        status,
                        &failure.error.message,
                    ) {
                        tracing::error!(
                            connection = connection_id,
                            "recording the connection's status after a run: {e}"
                        );
                    }
                }
                run.error = Some(failure.error);
            }
        }
        // The run's end and its sync.completed / sync.failed event: one write.
        switchyard_control::events::record_run_end(&inner.store, &run)?;
        // The alert logic reads the stored runs, this one included.
        if let Ok(current) = inner.connections.get(connection_id)
            && let Err(e) = inner
                .connections
                .apply_health(&current, &inner.config.health)
        {
            tracing::warn!(connection = connection_id, "health check failed: {e}");
        }
        let metrics = switchyard_telemetry::metrics();
        metrics
            .sync_runs
            .with_label_values(&[run.kind.as_str(), run.status.as_str()])
            .inc();
        if let Some(error) = &run.error {
            metrics
                .errors
                .with_label_values(&[error.code.as_str()])
                .inc();
        }
        tracing::info!(
            run = run.id,
            status = ?run.status,
            pages = run.pages,
            upserted = run.records_upserted,
            deleted = run.records_deleted,
            error = run.error.as_ref().map(|e| e.code.as_str()),
            "sync run finished"
        );
        Ok(run)
    }

    /// What a run calls the connector with: the connection's secrets and
    /// its sandbox environment (limits, allowlist, request log).
    fn run_context<'a>(
        &self,
        connection: &'a Connection,
        component: &'a ConnectorComponent,
        run: &Run,
        observer: Option<&'a dyn RunObserver>,
    ) -> Result<RunContext<'a>, RunFailure> {
        let inner = &self.inner;
        let secrets = inner.connections.secrets(connection).map_err(|e| {
            RunFailure::host(
                "internal_error",
                format!("the connection's secrets cannot be opened: {e}"),
            )
        })?;
        let mut env = inner
            .connections
            .call_env(component, &connection.settings, &secrets)
            .map_err(|e| RunFailure {
                error: ErrorRecord {
                    code: "connection_invalid_config".into(),
                    message: format!("the connector's allowed hosts cannot be resolved: {e}"),
                },
                outcome: Outcome::ConfigError,
                requires_reauth: false,
            })?;
        if let Some(log) = inner.connections.request_log() {
            env.observer = Some(log.observer(Some(connection.id.clone()), Some(run.id), None));
        }
        Ok(RunContext {
            connection,
            component,
            secrets,
            env,
            observer,
        })
    }

    /// Pages until the connector has no more. Commits are pipelined: pages
    /// N and N+1 are written on the run's writer thread while page N+2 is
    /// fetched, validated and encoded, and commits still land strictly in
    /// order — page N+1 is encoded from the state page N leaves, and written
    /// after page N and only if page N was.
    async fn pages(
        &self,
        cx: &mut RunContext<'_>,
        run: &mut Run,
        state: &mut SyncState,
    ) -> Result<(), RunFailure> {
        let inner = &self.inner;
        let policy = &inner.config.retry;
        let settings = field_values(&cx.connection.settings);
        let mut attempts = Attempts::default();
        let mut stalled = 0;
        // Cursors this run has seen: a page whose cursor came before leads
        // back to a request already made, so it is no progress (a connector
        // repeating one page, or alternating between two cursors).
        let mut seen_cursors: HashSet<u64> = state.cursor.iter().map(|c| cursor_hash(c)).collect();
        // The cursor of the newest page, committed or in flight.
        let mut cursor = state.cursor.clone();
        let mut commits = Commits::default();
        loop {
            let session_expiring = cx
                .secrets
                .session
                .as_ref()
                .and_then(|s| s.expires_at)
                .is_some_and(|at| at <= now_ms() + REFRESH_AHEAD_MS);
            if session_expiring {
                self.settle(&mut commits, state, cx).await?;
                self.refresh(cx, run, false).await?;
            }
            let since = cursor
                .is_none()
                .then(|| now_ms() - i64::from(cx.connection.lookback_days) * 86_400_000);
            let request = ChangeRequest {
                model: run.model.clone(),
                cursor: cursor.clone(),
                since,
                page_size: inner.config.page_size,
            };
            let context = CallContext {
                settings: settings.clone(),
                session: cx.secrets.session.as_ref().map(Into::into).unwrap_or(
                    switchyard_runtime::types::Session {
                        data: String::new(),
                        expires_at: None,
                    },
                ),
            };
            let error = match cx.component.list_changes(&cx.env, &context, &request).await {
                Ok(page) => {
                    attempts = Attempts {
                        restarted: attempts.restarted,
                        ..Attempts::default()
                    };
                    let progressed = seen_cursors.insert(cursor_hash(&page.cursor));
                    let has_more = page.has_more;
                    cursor = Some(page.cursor.clone());
                    let checked = inner.validator.check(&run.model, run.id, page.changes);
                    // The pages in flight land before anything else, even
                    // when this one fails: they must not overwrite the run's
                    // end.
                    if checked.is_err() {
                        self.settle(&mut commits, state, cx).await?;
                    }
                    let checked = checked
                        .map_err(|message| RunFailure::host("plugin_invalid_output", message))?;
                    if commits.pending.len() >= COMMITS_IN_FLIGHT {
                        self.settle_oldest(&mut commits, state, cx).await?;
                    }
                    let commit =
                        self.start_commit(&mut commits, run, state, checked, page.cursor, has_more);
                    match commit {
                        Ok(commit) => commits.pending.push_back(commit),
                        // A page that cannot be encoded fails the run, after
                        // the pages before it landed.
                        Err(failure) => {
                            self.settle(&mut commits, state, cx).await?;
                            return Err(failure);
                        }
                    }
                    if !has_more {
                        self.settle(&mut commits, state, cx).await?;
                        return Ok(());
                    }
                    stalled = if progressed { 0 } else { stalled + 1 };
                    if stalled >= MAX_STALLED_PAGES {
                        self.settle(&mut commits, state, cx).await?;
                        return Err(RunFailure::host(
                            "plugin_no_progress",
                            format!(
                                "the connector returned {MAX_STALLED_PAGES} pages in a row with cursors it had already returned in this run, while saying it had more"
                            ),
                        ));
                    }
                    continue;
                }
                Err(error) => error,
            };
            // Whatever happens next, the previous page is committed first, so
            // the run record and the state on disk only move forward.
            self.settle(&mut commits, state, cx).await?;
            match policy.decide(&error, &mut attempts) {
                Action::Retry(wait) => {
                    self.record_retry(cx, run, &error, wait)?;
                    tokio::time::sleep(wait).await;
                }
                Action::Refresh => {
                    self.record_retry(cx, run, &error, Duration::ZERO)?;
                    self.refresh(cx, run, true).await?;
                }
                Action::RestartInitial => {
                    self.record_retry(cx, run, &error, Duration::ZERO)?;
                    *state = SyncState {
                        next_seq: state.next_seq,
                        ..SyncState::default()
                    };
                    inner
                        .store
                        .put_sync_state(&run.connection_id, &run.model, state)?;
                    cursor = None;
                    seen_cursors.clear();
                    run.kind = RunKind::FullResync;
                }
                Action::Fail(outcome) => {
                    let mut failure = RunFailure::of(&error, outcome);
                    if matches!(error, CallError::Connector(ConnectorError::Unauthorized(_))) {
                        failure.requires_reauth = true;
                    }
                    return Err(failure);
                }
            }
        }
    }

    /// Counts a validated page into the run, encodes it with its cursor and
    /// queues it for writing.
    fn start_commit(
        &self,
        commits: &mut Commits,
        run: &mut Run,
        state: &SyncState,
        checked: CheckedPage,
        cursor: String,
        has_more: bool,
    ) -> Result<PendingCommit, RunFailure> {
        // With a commit still in flight, this page follows the state that
        // one leaves, not `state`.
        let state = commits
            .pending
            .back()
            .map_or(state, |last| &last.state_after);
        let completes_initial = !has_more && !state.initial_complete;
        let records = &switchyard_telemetry::metrics().sync_records;
        records
            .with_label_values(&["upsert"])
            .inc_by(checked.upserted);
        records
            .with_label_values(&["delete"])
            .inc_by(checked.deleted);
        records
            .with_label_values(&["quarantine"])
            .inc_by(checked.quarantined.len() as u64);
        run.pages += 1;
        run.records_upserted += checked.upserted;
        run.records_deleted += checked.deleted;
        run.records_quarantined += checked.quarantined.len() as u64;
        let store = &self.inner.store;
        let page = store.prepare_page(PageCommit {
            connection_id: &run.connection_id,
            model: &run.model,
            changes: &checked.changes,
            quarantined: &checked.quarantined,
            state,
            cursor: &cursor,
            completes_initial,
            run,
        })?;
        let state_after = page.state().clone();
        let writer = match &mut commits.writer {
            Some(writer) => writer,
            writer @ None => writer.insert(PageWriter::start(store.clone()).map_err(|e| {
                RunFailure::host(
                    "internal_error",
                    format!("cannot start the page writer: {e}"),
                )
            })?),
        };
        Ok(PendingCommit {
            written: writer.write(page, run.clone()),
            state_after,
        })
    }

    /// Waits for every page being written, in order, and takes the state
    /// the last one leaves.
    async fn settle(
        &self,
        commits: &mut Commits,
        state: &mut SyncState,
        cx: &RunContext<'_>,
    ) -> Result<(), RunFailure> {
        while !commits.pending.is_empty() {
            self.settle_oldest(commits, state, cx).await?;
        }
        Ok(())
    }

    /// Waits for the oldest page being written, if any, and takes the state
    /// it leaves.
    async fn settle_oldest(
        &self,
        commits: &mut Commits,
        state: &mut SyncState,
        cx: &RunContext<'_>,
    ) -> Result<(), RunFailure> {
        let Some(commit) = commits.pending.pop_front() else {
            return Ok(());
        };
        let (new_state, committed_run) = match commit.written.await {
            Ok(Written::Landed(landed)) => *landed,
            Ok(Written::Failed(error)) => return Err(error.into()),
            // Only after a failure, which the caller has already seen.
            Ok(Written::Skipped) => {
                return Err(RunFailure::host(
                    "internal_error",
                    "an earlier page of this run failed to commit".into(),
                ));
            }
            Err(_) => {
                return Err(RunFailure::host(
                    "internal_error",
                    "the page writer stopped".into(),
                ));
            }
        };
        *state = new_state;
        if let Some(observer) = cx.observer {
            observer.page_committed(&committed_run);
        }
        Ok(())
    }

    /// Renews the session through the control plane (the connector's
    /// `refresh`, or the host's OAuth 2.0 refresh). An unauthorized or
    /// invalid-config answer means the credentials no longer work: the
    /// connection requires reauthorization.
    async fn refresh(
        &self,
        cx: &mut RunContext<'_>,
        run: &mut Run,
        after_unauthorized: bool,
    ) -> Result<(), RunFailure> {
        let inner = &self.inner;
        let mut attempts = Attempts::default();
        loop {
            match inner
                .connections
                .refresh_session(
                    cx.connection,
                    cx.component,
                    &cx.env,
                    &cx.secrets,
                    after_unauthorized,
                )
                .await
            {
                Ok(secrets) => {
                    cx.secrets = secrets;
                    cx.env.secrets = Arc::new(cx.secrets.redaction_set());
                    return Ok(());
                }
                Err(
                    error @ CallError::Connector(
                        ConnectorError::Unauthorized(_) | ConnectorError::InvalidConfig(_),
                    ),
                ) => {
                    let mut failure = RunFailure::of(&error, Outcome::RunFailed);
                    failure.requires_reauth = true;
                    failure.error.code = "connection_requires_reauthorization".into();
                    failure.error.message = format!(
                        "the source no longer accepts this connection's credentials ({error}); the customer must reconnect"
                    );
                    return Err(failure);
                }
                Err(error) => match inner.config.retry.decide(&error, &mut attempts) {
                    Action::Retry(wait) => {
                        self.record_retry(cx, run, &error, wait)?;
                        tokio::time::sleep(wait).await;
                    }
                    _ => return Err(RunFailure::of(&error, Outcome::RunFailed)),
                },
            }
        }
    }

    fn record_retry(
        &self,
        cx: &RunContext<'_>,
        run: &mut Run,
        error: &CallError,
        wait: Duration,
    ) -> Result<(), RunFailure> {
        let retry = RetryRecord {
            at: now_ms(),
            code: error.code().to_string(),
            // Connector error text can echo what it was sent.
            message: cx.env.secrets.redact(&error.to_string()),
            wait_ms: wait.as_millis() as u64,
        };
        tracing::warn!(run = run.id, code = %retry.code, wait_ms = retry.wait_ms, "retrying: {}", retry.message);
        if let Some(observer) = cx.observer {
            observer.retrying(run, &retry);
        }
        switchyard_telemetry::metrics()
            .errors
            .with_label_values(&[retry.code.as_str()])
            .inc();
        run.retries.push(retry);
        self.inner.store.put_run(run)?;
        Ok(())
    }
}

/// Settings of a connection, as the contract's field values.
pub fn field_values(settings: &BTreeMap<String, String>) -> Vec<FieldValue> {
    settings
        .iter()
        .map(|(name, value)| FieldValue {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

/// A run-local fingerprint of a connector cursor.
fn cursor_hash(cursor: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    cursor.hash(&mut hasher);
    hasher.finish()
}
