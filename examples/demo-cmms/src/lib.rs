//! demo-cmms: a standalone HTTP server that emulates a maintenance system (CMMS) —
//! work orders, assets and locations — for Switchyard's demo and tests to sync from.
//!
//! The API is specified in `docs/demo-cmms-api.md`. The binary `demo-cmms` is what tests
//! normally spawn; [`spawn`] runs the same server inside the calling process, and
//! [`router`] gives the bare axum router (for `tower::ServiceExt::oneshot`).

#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod faults;
pub mod model;
pub mod rfc3339;
pub mod seed;
pub mod stats;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use api::router;

use auth::Sessions;
use faults::Faults;
use rfc3339::Millis;
use seed::{Counts, SeedParams};
use stats::Stats;
use store::Store;

/// Server configuration: the command line of the `demo-cmms` binary.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "demo-cmms",
    version,
    about = "A demo maintenance system (CMMS) to sync from."
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks a free one (printed on the first line of stdout).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Total seeded records: 10 % locations, 30 % assets, 60 % work orders.
    #[arg(long, default_value_t = 1000)]
    pub records: usize,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of work orders (overrides their share of --records).
    #[arg(long)]
    pub work_orders: Option<usize>,
    /// Number of assets (overrides their share of --records).
    #[arg(long)]
    pub assets: Option<usize>,
    /// Number of locations (overrides their share of --records).
    #[arg(long)]
    pub locations: Option<usize>,
    /// Seeded updated_at values fall within this many days before the anchor.
    #[arg(long, default_value_t = 20)]
    pub history_days: u32,
    /// End of the seeded history (RFC 3339); default: the start time.
    #[arg(long, value_parser = parse_anchor)]
    pub anchor: Option<Millis>,
    /// Login user name.
    #[arg(long, default_value = "admin")]
    pub username: String,
    /// Login password.
    #[arg(long, default_value = "secret")]
    pub password: String,
    /// Lifetime of a login session, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub session_ttl_secs: u64,
}

fn parse_anchor(s: &str) -> Result<Millis, String> {
    Millis::parse(s).map_err(|e| e.to_string())
}

impl Default for Config {
    /// The defaults of the command line.
    fn default() -> Self {
        Config::parse_from(["demo-cmms"])
    }
}

impl Config {
    /// Records per model: each per-model flag overrides that model's share of `records`.
    pub fn counts(&self) -> Counts {
        let split = Counts::split(self.records);
        Counts {
            locations: self.locations.unwrap_or(split.locations),
            assets: self.assets.unwrap_or(split.assets),
            work_orders: self.work_orders.unwrap_or(split.work_orders),
        }
    }

    /// What the seed data is generated from; `now` stands in for a missing anchor.
    pub fn seed_params(&self, now: Millis) -> SeedParams {
        SeedParams {
            seed: self.seed,
            counts: self.counts(),
            anchor: self.anchor.unwrap_or(now),
            history_days: self.history_days,
        }
    }
}

/// Shared server state: records, sessions, faults and counters.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    store: RwLock<Store>,
    sessions: Mutex<Sessions>,
    faults: Mutex<Faults>,
    stats: Mutex<Stats>,
}

impl AppState {
    /// Seeds the data described by `config` (blocking: up to seconds for a million
    /// records).
    pub fn new(config: &Config) -> Self {
        let store = seed::generate(&config.seed_params(Millis::now()));
        let sessions = Sessions::new(
            config.username.clone(),
            config.password.clone(),
            Duration::from_secs(config.session_ttl_secs),
        );
        AppState::with_parts(store, sessions)
    }

    /// State over an existing store and account.
    pub fn with_parts(store: Store, sessions: Sessions) -> Self {
        AppState {
            inner: Arc::new(Shared {
                store: RwLock::new(store),
                sessions: Mutex::new(sessions),
                faults: Mutex::new(Faults::default()),
                stats: Mutex::new(Stats::default()),
            }),
        }
    }

    // A panic while holding a lock leaves the data consistent enough for a demo server,
    // so poisoning is ignored rather than turning every later request into a panic.

    /// The records, for reading.
    pub fn store(&self) -> RwLockReadGuard<'_, Store> {
        self.inner
            .store
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The records, for writing.
    pub fn store_mut(&self) -> RwLockWriteGuard<'_, Store> {
        self.inner
            .store
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The account and its sessions.
    pub fn sessions(&self) -> MutexGuard<'_, Sessions> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The active faults.
    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        self.inner
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The request counters.
    pub fn stats(&self) -> MutexGuard<'_, Stats> {
        self.inner
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A bound, seeded server that is not serving yet.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
}

impl Server {
    /// Binds the listener (first, so a taken port fails fast) and seeds the data.
    pub async fn bind(config: Config) -> std::io::Result<Server> {
        let listener = TcpListener::bind((config.host.as_str(), config.port)).await?;
        let addr = listener.local_addr()?;
        let started = Instant::now();
        let counts = config.counts();
        // Seeding a million records takes a while; keep it off the async workers.
        let state = tokio::task::spawn_blocking(move || AppState::new(&config))
            .await
            .map_err(std::io::Error::other)?;
        tracing::info!(
            locations = counts.locations,
            assets = counts.assets,
            work_orders = counts.work_orders,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "seeded"
        );
        Ok(Server {
            listener,
            addr,
            state,
        })
    }

    /// The address actually bound (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, router(self.state))
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// A server running on the current tokio runtime; stops when dropped.
pub struct RunningServer {
    addr: SocketAddr,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the base URL of the server.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's state, for direct inspection.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting connections and waits for in-flight requests to finish.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds, seeds and serves in a background task of the current runtime: the in-process
/// equivalent of running the binary.
pub async fn spawn(config: Config) -> std::io::Result<RunningServer> {
    let server = Server::bind(config).await?;
    let (addr, state) = (server.local_addr(), server.state().clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    Ok(RunningServer {
        addr,
        state,
        stop: Some(stop),
        task: Some(task),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_defaults_and_overrides() {
        let c = Config::default();
        assert_eq!(
            (c.host.as_str(), c.port, c.records, c.seed),
            ("127.0.0.1", 0, 1000, 42)
        );
        assert_eq!(
            (
                c.history_days,
                c.username.as_str(),
                c.password.as_str(),
                c.session_ttl_secs
            ),
            (20, "admin", "secret", 3600)
        );
        let c = Config::parse_from([
            "demo-cmms",
            "--records",
            "100",
            "--work-orders",
            "5",
            "--anchor",
            "2026-11-28T00:00:00Z",
        ]);
        let counts = c.counts();
        assert_eq!(
            (counts.locations, counts.assets, counts.work_orders),
            (10, 30, 5)
        );
        assert_eq!(c.anchor.unwrap().to_string(), "2026-11-28T00:00:00.000Z");
        assert!(Config::try_parse_from(["demo-cmms", "--anchor", "yesterday"]).is_err());
    }

    #[tokio::test]
    async fn spawned_server_answers_over_tcp() {
        let server = spawn(Config {
            records: 30,
            ..Config::default()
        })
        .await
        .unwrap();
        assert_eq!(
            server.state().store().count(model::ModelKind::WorkOrders),
            18
        );
        // A bare HTTP/1.1 request: no client crate needed.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut conn = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("ok"), "{response}");
        server.shutdown().await.unwrap();
    }
}
