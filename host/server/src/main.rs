//! The `switchyard` binary.

mod app;
mod connector_cli;
mod demo;
mod sync_cli;
mod watch;

use anyhow::Context;
use app::{App, AppOptions};
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Host for sandboxed data connectors to industrial systems."
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SWITCHYARD_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the host: API, scheduler and syncs, on an embedded RocksDB.
    Serve(ServeArgs),
    /// Run a complete demo: a demo CMMS, its connector, a connection, an
    /// initial sync, and the API serving the records.
    Demo(demo::DemoArgs),
    /// Manage connector versions on a running host: install, list, show,
    /// activate, rollback, limits, pin.
    Connector(connector_cli::ConnectorArgs),
    /// Run a sync in the foreground with a progress bar, then print a summary.
    Sync(sync_cli::SyncArgs),
    /// Manage secrets at rest.
    #[command(subcommand)]
    Secrets(SecretsCommand),
}

#[derive(Debug, Subcommand)]
enum SecretsCommand {
    /// Print a new random master key (base64), for SWITCHYARD_MASTER_KEY.
    GenerateKey,
    /// Re-seal every secret sealed under an older master key with the first
    /// key of SWITCHYARD_MASTER_KEY. Run it while the host is stopped, after
    /// putting the new key first; then the old key can be removed.
    Reseal {
        /// Data directory.
        #[arg(long, default_value = "data", env = "SWITCHYARD_DATA_DIR")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Data directory (RocksDB, master key, compiled artifacts).
    #[arg(long, default_value = "data", env = "SWITCHYARD_DATA_DIR")]
    data_dir: PathBuf,
    /// Address to serve the API on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "SWITCHYARD_LISTEN")]
    listen: SocketAddr,
    /// Install every connector component found in this folder at start.
    #[arg(long)]
    plugins_dir: Option<PathBuf>,
    /// Watch this folder: install each `.wasm` that appears or changes, and
    /// activate it when its version is newer than the active one.
    #[arg(long, value_name = "DIR")]
    watch: Option<PathBuf>,
    /// How often the watched folder is polled, in milliseconds.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    watch_interval_ms: u64,
    /// Outbound requests in flight at once to one source host, shared by
    /// every connection that talks to it.
    #[arg(long, default_value_t = 8, env = "SWITCHYARD_PER_HOST_CONCURRENCY",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    per_host_concurrency: u32,
    /// Outbound requests per second to one source host, shared by every
    /// connection that talks to it.
    #[arg(long, default_value_t = 50.0, env = "SWITCHYARD_PER_HOST_RATE", value_parser = parse_rate)]
    per_host_rate: f64,
    /// Sandbox instances that may exist at once (the pooling allocator's size).
    #[arg(long, default_value_t = 1000, env = "SWITCHYARD_MAX_INSTANCES",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_instances: u32,
    /// The largest memory cap any connector may be given, in MiB (the pool's
    /// slot size; per-connector limits must stay below it).
    #[arg(long, default_value_t = 256, env = "SWITCHYARD_MAX_MEMORY_MIB",
          value_parser = clap::value_parser!(u32).range(4..=4096))]
    max_memory_mib: u32,
    /// The URL browsers reach the host at (connect links, the OAuth 2.0
    /// redirect URI). Default: http://<listen address>.
    #[arg(long, env = "SWITCHYARD_PUBLIC_URL")]
    public_url: Option<String>,
    /// Origins (scheme://host[:port]) connect sessions may redirect to,
    /// comma-separated. Any http(s) origin when empty.
    #[arg(
        long,
        env = "SWITCHYARD_CONNECT_REDIRECT_ORIGINS",
        value_delimiter = ','
    )]
    connect_redirect_origins: Vec<String>,
    #[command(flatten)]
    sync: SyncFlags,
    #[command(flatten)]
    webhooks: WebhookFlags,
}

/// How the host delivers webhooks.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookFlags {
    /// Seconds to wait before each delivery attempt, comma-separated; the
    /// first is normally 0. About three days of retries by default:
    /// 0,5,300,1800,7200,18000,36000,50400,72000,86400
    #[arg(long, value_parser = parse_schedule, env = "SWITCHYARD_WEBHOOK_RETRY_SCHEDULE")]
    webhook_retry_schedule: Option<Schedule>,
    /// Seconds one delivery attempt may take, the answer included.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=300), env = "SWITCHYARD_WEBHOOK_TIMEOUT_SECS")]
    webhook_timeout_secs: u64,
    /// Seconds an old signing secret keeps signing after a rotation, unless
    /// the rotation asks for another grace period.
    #[arg(long, default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(0..=604_800), env = "SWITCHYARD_WEBHOOK_ROTATION_GRACE_SECS")]
    webhook_rotation_grace_secs: u64,
    /// Delivery attempts in flight at once, across endpoints.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=256), env = "SWITCHYARD_WEBHOOK_MAX_CONCURRENT")]
    webhook_max_concurrent: u64,
    /// Delivery attempts in flight at once to one endpoint.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64), env = "SWITCHYARD_WEBHOOK_MAX_PER_ENDPOINT")]
    webhook_max_per_endpoint: u64,
}

/// A parsed retry schedule.
#[derive(Debug, Clone)]
struct Schedule(Vec<std::time::Duration>);

fn parse_schedule(spec: &str) -> Result<Schedule, String> {
    switchyard_control::webhooks::parse_retry_schedule(spec).map(Schedule)
}

impl WebhookFlags {
    fn config(&self) -> switchyard_control::WebhookConfig {
        use std::time::Duration;
        let defaults = switchyard_control::WebhookConfig::default();
        switchyard_control::WebhookConfig {
            retry_schedule: self
                .webhook_retry_schedule
                .as_ref()
                .map_or(defaults.retry_schedule.clone(), |s| s.0.clone()),
            attempt_timeout: Duration::from_secs(self.webhook_timeout_secs),
            rotation_grace: Duration::from_secs(self.webhook_rotation_grace_secs),
            max_concurrent: self.webhook_max_concurrent as usize,
            max_per_endpoint: self.webhook_max_per_endpoint as usize,
            ..defaults
        }
    }
}

fn parse_rate(value: &str) -> Result<f64, String> {
    let rate: f64 = value.parse().map_err(|e| format!("{e}"))?;
    if rate.is_finite() && (0.1..=100_000.0).contains(&rate) {
        Ok(rate)
    } else {
        Err("must be between 0.1 and 100000 requests per second".into())
    }
}

/// How the host syncs.
#[derive(Debug, Clone, clap::Args)]
pub struct SyncFlags {
    /// Seconds between syncs of a model, unless its connection sets its own.
    #[arg(long, default_value_t = 900, env = "SWITCHYARD_SYNC_INTERVAL_SECS")]
    sync_interval_secs: u64,
    /// Changes asked for per page.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000), env = "SWITCHYARD_PAGE_SIZE")]
    page_size: u32,
    /// Sync runs in progress at once, across all connections.
    #[arg(long, default_value_t = 8, env = "SWITCHYARD_MAX_CONCURRENT_RUNS")]
    max_concurrent_runs: usize,
    /// Sync runs in progress at once against one source host.
    #[arg(long, default_value_t = 2, env = "SWITCHYARD_MAX_RUNS_PER_HOST")]
    max_runs_per_host: usize,
    /// Days tombstones, quarantined records, ended runs (beyond each
    /// connection's newest 100), ended webhook deliveries and delivered
    /// events are kept.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3650), env = "SWITCHYARD_RETENTION_DAYS")]
    retention_days: u64,
    /// Attempts per page for transient failures (timeouts, 5xx), the first
    /// included.
    #[arg(long, default_value_t = 6, env = "SWITCHYARD_RETRY_MAX_ATTEMPTS")]
    retry_max_attempts: u32,
    /// First backoff delay in milliseconds; it doubles per attempt.
    #[arg(long, default_value_t = 500, env = "SWITCHYARD_RETRY_BASE_DELAY_MS")]
    retry_base_delay_ms: u64,
    /// Failed runs in a row (of one model) that make a connection degraded.
    #[arg(
        long,
        default_value_t = 3,
        env = "SWITCHYARD_HEALTH_CONSECUTIVE_FAILURES"
    )]
    health_consecutive_failures: u32,
    /// Share of failed runs in the last hour that makes a connection degraded.
    #[arg(long, default_value_t = 0.5, env = "SWITCHYARD_HEALTH_ERROR_RATE")]
    health_error_rate: f64,
    /// Runs the last hour needs before its error rate counts.
    #[arg(long, default_value_t = 4, env = "SWITCHYARD_HEALTH_MIN_RUNS")]
    health_min_runs: u64,
    /// Hours request log entries are kept.
    #[arg(long, default_value_t = 168, env = "SWITCHYARD_LOG_RETENTION_HOURS")]
    log_retention_hours: u64,
    /// Bytes of each request and response body kept in the request log.
    #[arg(long, default_value_t = 4096, env = "SWITCHYARD_LOG_BODY_BYTES")]
    log_body_bytes: usize,
    /// Seconds between retention purges.
    #[arg(
        long,
        default_value_t = 3600,
        env = "SWITCHYARD_MAINTENANCE_INTERVAL_SECS"
    )]
    maintenance_interval_secs: u64,
}

impl SyncFlags {
    fn options(&self) -> AppOptions {
        use std::time::Duration;
        AppOptions {
            scheduler: switchyard_sync::SchedulerConfig {
                default_interval: Duration::from_secs(self.sync_interval_secs.max(1)),
                max_concurrent_runs: self.max_concurrent_runs.max(1),
                max_runs_per_host: self.max_runs_per_host.max(1),
                retention: Duration::from_secs(self.retention_days.saturating_mul(86_400)),
                maintenance_every: Duration::from_secs(self.maintenance_interval_secs.max(1)),
                log_retention: Duration::from_secs(self.log_retention_hours.saturating_mul(3600)),
                ..Default::default()
            },
            sync: switchyard_sync::SyncConfig {
                page_size: self.page_size,
                health: switchyard_control::health::HealthThresholds {
                    consecutive_failures: self.health_consecutive_failures.max(1),
                    error_rate_1h: self.health_error_rate.clamp(0.0, 1.0),
                    min_runs_1h: self.health_min_runs,
                },
                retry: switchyard_sync::RetryPolicy {
                    max_attempts: self.retry_max_attempts.max(1),
                    base_delay: Duration::from_millis(self.retry_base_delay_ms),
                    ..Default::default()
                },
            },
            log_body_bytes: self.log_body_bytes,
            runtime: Default::default(),
            redirect_origins: Vec::new(),
            webhooks: Default::default(),
        }
    }
}

fn init_tracing(format: LogFormat, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            init_tracing(cli.log_format, "info");
            serve(args).await
        }
        Command::Demo(args) => {
            init_tracing(cli.log_format, "warn");
            demo::run(args).await
        }
        Command::Connector(args) => {
            init_tracing(cli.log_format, "warn");
            connector_cli::run(args).await
        }
        Command::Sync(args) => {
            init_tracing(cli.log_format, "warn");
            sync_cli::run(args).await
        }
        Command::Secrets(SecretsCommand::GenerateKey) => {
            println!("{}", switchyard_control::Vault::generate_key());
            Ok(())
        }
        Command::Secrets(SecretsCommand::Reseal { data_dir }) => {
            init_tracing(cli.log_format, "warn");
            let app = App::open(&data_dir, AppOptions::default()).await?;
            let resealed = app.connections.reseal_all()? + app.webhooks.reseal_all()?;
            println!("re-sealed {resealed} secrets with the current master key");
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut options = AppOptions {
        redirect_origins: args
            .connect_redirect_origins
            .iter()
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
            .collect(),
        webhooks: switchyard_control::WebhookConfig {
            retention: std::time::Duration::from_secs(
                args.sync.retention_days.saturating_mul(86_400),
            ),
            purge_every: std::time::Duration::from_secs(args.sync.maintenance_interval_secs.max(1)),
            ..args.webhooks.config()
        },
        ..args.sync.options()
    };
    options.runtime.max_instances = args.max_instances;
    options.runtime.max_memory_bytes = (args.max_memory_mib as usize) << 20;
    options.runtime.outbound.per_host_concurrency = args.per_host_concurrency as usize;
    options.runtime.outbound.per_host_rate = args.per_host_rate;
    let app = App::open(&args.data_dir, options).await?;
    if let Some(secret) = app.ensure_admin_token()? {
        // Shown once: only its hash is stored.
        eprintln!(
            "No admin token existed, so one was created. Keep it; it is not shown again:\n\n  {secret}\n"
        );
    }
    if let Some(dir) = &args.plugins_dir {
        app.install_dir(dir).await?;
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, data_dir = %args.data_dir.display(), "serving");
    println!("listening on http://{address}");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = app.scheduler.clone();
    let mut scheduler_stop = stop_rx.clone();
    let scheduler_task = tokio::spawn(scheduler.run(async move {
        let _ = scheduler_stop.wait_for(|stop| *stop).await;
    }));
    let watch_task = args.watch.map(|dir| {
        tokio::spawn(watch::run(
            app.registry.clone(),
            dir,
            std::time::Duration::from_millis(args.watch_interval_ms),
            stop_rx.clone(),
        ))
    });
    let mut webhooks_stop = stop_rx.clone();
    let webhooks_task = tokio::spawn(app.webhooks.clone().run(async move {
        let _ = webhooks_stop.wait_for(|stop| *stop).await;
    }));
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{address}"));
    let api = app::serve_api(listener, app.api_state(&public_url), async move {
        app::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    api.await?;
    let _ = scheduler_task.await;
    if let Some(task) = watch_task {
        let _ = task.await;
    }
    let _ = webhooks_task.await;
    Ok(())
}
