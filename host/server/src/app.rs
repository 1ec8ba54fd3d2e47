//! Wiring: one place where storage, runtime, control plane, sync engine and
//! API are composed.

use anyhow::Context;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use switchyard_api::AppState;
use switchyard_control::{
    ConnectSessions, Connections, Registry, RequestLog, Tokens, Vault, WebhookConfig, Webhooks,
};
use switchyard_runtime::{Runtime, RuntimeConfig};
use switchyard_store::Store;
use switchyard_store::model::{RunStatus, Scope};
use switchyard_sync::{Scheduler, SchedulerConfig, SyncConfig, SyncEngine};

/// Environment variable holding the master key specification.
pub const MASTER_KEY_ENV: &str = "SWITCHYARD_MASTER_KEY";
/// Environment variable holding an admin token to accept.
pub const ADMIN_TOKEN_ENV: &str = "SWITCHYARD_ADMIN_TOKEN";

/// The composed host.
pub struct App {
    pub store: Arc<Store>,
    pub registry: Arc<Registry>,
    pub connections: Connections,
    pub tokens: Tokens,
    pub engine: SyncEngine,
    pub scheduler: Scheduler,
    pub request_log: RequestLog,
    pub connect: ConnectSessions,
    pub webhooks: Webhooks,
}

/// How to open the host.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub scheduler: SchedulerConfig,
    pub sync: SyncConfig,
    /// The runtime's settings; the artifact cache always goes in the data
    /// directory.
    pub runtime: RuntimeConfig,
    /// Bytes of each body kept in the request log.
    pub log_body_bytes: usize,
    /// Origins connect sessions may redirect to; any http(s) when empty.
    pub redirect_origins: Vec<String>,
    /// How webhooks are delivered.
    pub webhooks: WebhookConfig,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            scheduler: SchedulerConfig::default(),
            sync: SyncConfig::default(),
            log_body_bytes: switchyard_control::request_log::DEFAULT_BODY_LIMIT,
            runtime: RuntimeConfig::default(),
            redirect_origins: Vec::new(),
            webhooks: WebhookConfig::default(),
        }
    }
}

impl App {
    /// Opens the host on a data directory.
    pub async fn open(data_dir: &Path, options: AppOptions) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let store = Arc::new(
            Store::open(&data_dir.join("db"))
                .with_context(|| format!("opening the store in {}", data_dir.display()))?,
        );
        let vault = Arc::new(
            Vault::open_or_create(data_dir, std::env::var(MASTER_KEY_ENV).ok().as_deref())
                .context("loading the master key")?,
        );
        let runtime = Runtime::new(RuntimeConfig {
            artifact_dir: Some(data_dir.join("artifacts")),
            ..options.runtime
        })?;
        let registry = Arc::new(Registry::open(runtime, store.clone()).await?);
        let tokens = Tokens::new(store.clone());
        let request_log = RequestLog::start(store.clone(), options.log_body_bytes)
            .context("starting the request log writer")?;
        let webhooks = Webhooks::new(
            store.clone(),
            vault.clone(),
            options.webhooks,
            Some(request_log.clone()),
        )
        .context("building the webhook HTTP client")?;
        let connections = Connections::new(store.clone(), registry.clone(), vault, tokens.clone())
            .with_request_log(request_log.clone());
        let engine = SyncEngine::new(
            store.clone(),
            registry.clone(),
            connections.clone(),
            options.sync,
        );
        let scheduler = Scheduler::new(engine.clone(), registry.clone(), options.scheduler);
        let connect =
            ConnectSessions::new(store.clone(), connections.clone(), options.redirect_origins);
        let app = App {
            store,
            registry,
            connections,
            tokens,
            engine,
            scheduler,
            request_log,
            connect,
            webhooks,
        };
        app.mark_interrupted_runs()?;
        Ok(app)
    }

    /// Runs left `running` by a process that died are marked `interrupted`;
    /// their models resume from the last committed page on the next run.
    fn mark_interrupted_runs(&self) -> anyhow::Result<()> {
        for connection in self.store.list_connections()? {
            for mut run in self.store.list_runs(&connection.id, None, 100)? {
                if run.status == RunStatus::Running {
                    run.status = RunStatus::Interrupted;
                    self.store.put_run(&run)?;
                }
            }
        }
        Ok(())
    }

    /// Makes sure an admin token exists: the one from the environment, or a
    /// new one returned to be printed once.
    pub fn ensure_admin_token(&self) -> anyhow::Result<Option<String>> {
        if let Ok(secret) = std::env::var(ADMIN_TOKEN_ENV) {
            anyhow::ensure!(
                secret.starts_with(switchyard_control::tokens::ADMIN_PREFIX) && secret.len() >= 40,
                "{ADMIN_TOKEN_ENV} must start with `sy_admin_` and be at least 40 characters"
            );
            self.tokens.ensure_admin_secret(&secret)?;
            return Ok(None);
        }
        if self.tokens.has_admin_token()? {
            return Ok(None);
        }
        Ok(Some(
            self.tokens.issue(None, vec![Scope::Admin], None)?.secret,
        ))
    }

    /// The API's state; `public_url` is where browsers reach the host.
    pub fn api_state(&self, public_url: &str) -> AppState {
        AppState {
            store: self.store.clone(),
            registry: self.registry.clone(),
            connections: self.connections.clone(),
            tokens: self.tokens.clone(),
            scheduler: self.scheduler.clone(),
            request_log: self.request_log.clone(),
            connect: self.connect.clone(),
            webhooks: self.webhooks.clone(),
            public_url: public_url.trim_end_matches('/').into(),
        }
    }

    /// Installs every `.wasm` component in `dir` (already installed ones are
    /// skipped). Returns how many were new or updated.
    pub async fn install_dir(&self, dir: &Path) -> anyhow::Result<usize> {
        let mut installed = 0;
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        entries.sort();
        for path in entries {
            let wasm = std::fs::read(&path)?;
            match self.registry.install(&wasm).await {
                Ok(record) => {
                    tracing::info!(path = %path.display(), connector = %record.connector_id, version = %record.version, "installed");
                    installed += 1;
                }
                Err(e) => tracing::warn!(path = %path.display(), "not installed: {e}"),
            }
        }
        Ok(installed)
    }
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve_api(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let router = switchyard_api::router(state);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
