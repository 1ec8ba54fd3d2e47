//! `switchyard demo`: a source system, a connector, a sync, records served
//! over HTTP — on an embedded RocksDB, with nothing to configure.

use crate::app::{self, App, AppOptions};
use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use switchyard_control::NewConnection;
use switchyard_sync::RunOptions;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Records the demo CMMS seeds (work orders, assets, locations).
    #[arg(long, default_value_t = 1000)]
    records: usize,
    /// Data directory; a new one under the system's temp folder by default.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to serve the API on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The connector component; found in dist/plugins by default.
    #[arg(long)]
    connector: Option<PathBuf>,
    /// The demo-cmms binary; the one next to this binary by default.
    #[arg(long)]
    cmms_bin: Option<PathBuf>,
    /// Stop after serving this many seconds instead of waiting for Ctrl-C.
    #[arg(long)]
    serve_for_secs: Option<u64>,
}

/// Looks for `relative` in the current folder and above this executable
/// (`target/release/switchyard` → the repository).
fn find(relative: &str, env: &str) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(env) {
        return Some(PathBuf::from(path));
    }
    let mut candidates = vec![PathBuf::from(relative)];
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(exe.ancestors().skip(1).map(|dir| dir.join(relative)));
    }
    candidates.into_iter().find(|p| p.exists())
}

async fn start_cmms(binary: &Path, records: usize) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(binary)
        .args(["--port", "0", "--records", &records.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take().context("demo-cmms stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .context("demo-cmms did not start within 60 s")??
        .context("demo-cmms exited before listening")?;
    let url = line
        .strip_prefix("listening on ")
        .with_context(|| format!("unexpected first line from demo-cmms: {line}"))?
        .to_string();
    Ok((child, url))
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let cmms_bin = match args.cmms_bin {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("demo-cmms"),
    };
    if !cmms_bin.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p demo-cmms` (scripts/demo does)",
            cmms_bin.display()
        );
    }
    let connector_path = match args.connector {
        Some(path) => path,
        None => find(
            "dist/plugins/demo_cmms_connector.wasm",
            "SWITCHYARD_DEMO_CONNECTOR",
        )
        .context("dist/plugins/demo_cmms_connector.wasm not found: run scripts/build-plugins")?,
    };
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!("switchyard-demo-{}", std::process::id())),
    };

    println!("Switchyard demo\n");
    let (_cmms, cmms_url) = start_cmms(&cmms_bin, args.records).await?;
    println!(
        "  source      demo-cmms at {cmms_url} ({} records)",
        args.records
    );

    let app = App::open(&data_dir, AppOptions::default()).await?;
    let wasm = std::fs::read(&connector_path)
        .with_context(|| format!("reading {}", connector_path.display()))?;
    let version = app.registry.install(&wasm).await?;
    println!(
        "  connector   {} {} ({} KB, sha256 {}…)",
        version.connector_id,
        version.version,
        version.size_bytes / 1024,
        &version.hash[..12]
    );
    let (connection, token) = app
        .connections
        .create(NewConnection {
            connector_id: version.connector_id.clone(),
            settings: BTreeMap::from([("base-url".to_string(), cmms_url.clone())]),
            credentials: BTreeMap::from([
                ("username".to_string(), "admin".to_string()),
                ("password".to_string(), "secret".to_string()),
            ]),
            lookback_days: None,
            request_id: None,
            token_expires_at: None,
        })
        .await?;
    println!(
        "  connection  {} (initial sync over the last {} days)\n",
        connection.id, connection.lookback_days
    );

    let started = Instant::now();
    let runs = app
        .engine
        .sync_connection(&connection.id, RunOptions::default(), None)
        .await?;
    for run in &runs {
        let seconds = run.finished_at.unwrap_or(run.started_at) - run.started_at;
        println!(
            "  {:<12} {:>7} records synced  {:>3} pages  {:>6.2} s  {:?}",
            run.model,
            run.records_upserted,
            run.pages,
            seconds as f64 / 1000.0,
            run.status
        );
        if let Some(error) = &run.error {
            println!("               {}: {}", error.code, error.message);
        }
    }
    println!("  total        {:.2} s\n", started.elapsed().as_secs_f64());

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "listening on {} (choose another with --listen)",
                args.listen
            )
        })?;
    let address = listener.local_addr()?;
    println!(
        "Records are served at http://{address}; data in {}. Try:\n",
        data_dir.display()
    );
    println!(
        "  curl -s -H 'Authorization: Bearer {}' 'http://{address}/v1/connections/{}/models/work-orders/records?limit=2'\n",
        token.secret, connection.id
    );
    match args.serve_for_secs {
        Some(seconds) => println!("Serving for {seconds} s."),
        None => println!("Press Ctrl-C to stop."),
    }
    let serve_for = args.serve_for_secs;
    app::serve_api(
        listener,
        app.api_state(&format!("http://{address}")),
        async move {
            match serve_for {
                Some(seconds) => tokio::time::sleep(Duration::from_secs(seconds)).await,
                None => app::shutdown_signal().await,
            }
        },
    )
    .await
}
