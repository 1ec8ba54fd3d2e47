//! `switchyard sync`: run a sync in the foreground with a progress bar.
//!
//! With `--data-dir` it opens the data directory and runs the sync in this
//! process (the server must not be running: RocksDB allows one process per
//! directory). With `--url` it asks a running server to sync and follows the
//! runs through its API.

use crate::app::{App, AppOptions};
use anyhow::{Context, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use switchyard_store::model::{Run, RunStatus};
use switchyard_sync::{RunObserver, RunOptions};

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The connection to sync.
    #[arg(long)]
    connection: String,
    /// Only this model (default: every model of the connection).
    #[arg(long)]
    model: Option<String>,
    /// Forget the cursor and sync the lookback window again.
    #[arg(long)]
    full: bool,
    /// Run in this process on this data directory (the server must be stopped).
    #[arg(long, env = "SWITCHYARD_DATA_DIR", conflicts_with = "url")]
    data_dir: Option<PathBuf>,
    /// Ask the server at this URL to sync, and follow it.
    #[arg(long, env = "SWITCHYARD_URL")]
    url: Option<String>,
    /// Token for `--url`: admin, or the connection's own.
    #[arg(long, env = "SWITCHYARD_TOKEN")]
    token: Option<String>,
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>14} {spinner} {msg}")
        .expect("the template is valid")
        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
}

fn progress_message(run: &Run, started: Instant) -> String {
    let records = run.records_upserted + run.records_deleted;
    let rate = records as f64 / started.elapsed().as_secs_f64().max(0.001);
    let mut message = format!(
        "{:>5} pages  {records:>9} records  {rate:>9.0} records/s",
        run.pages
    );
    if let Some(retry) = run.retries.last() {
        message.push_str(&format!("  (retry: {})", retry.code));
    }
    message
}

/// Progress bars fed by the engine in this process.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, (ProgressBar, Instant)>>,
}

impl Bars {
    fn bar(&self, model: &str) -> (ProgressBar, Instant) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        bars.entry(model.to_string())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(style());
                bar.set_prefix(model.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                (bar, Instant::now())
            })
            .clone()
    }
}

impl RunObserver for Bars {
    fn page_committed(&self, run: &Run) {
        let (bar, started) = self.bar(&run.model);
        bar.set_message(progress_message(run, started));
    }

    fn retrying(&self, run: &Run, retry: &switchyard_store::model::RetryRecord) {
        let (bar, _) = self.bar(&run.model);
        bar.set_message(format!("waiting {} ms after {}", retry.wait_ms, retry.code));
    }
}

pub async fn run(args: SyncArgs) -> anyhow::Result<()> {
    let runs = match (&args.url, &args.data_dir) {
        (Some(url), _) => remote(&args, url).await?,
        (None, Some(dir)) => local(&args, dir.clone()).await?,
        (None, None) => bail!("give --data-dir (server stopped) or --url (server running)"),
    };
    print_summary(&runs);
    if runs.iter().any(|r| r.status != RunStatus::Succeeded) {
        std::process::exit(1);
    }
    Ok(())
}

async fn local(args: &SyncArgs, data_dir: PathBuf) -> anyhow::Result<Vec<Run>> {
    let app = App::open(&data_dir, AppOptions::default())
        .await
        .map_err(|e| {
            if format!("{e:#}").contains("lock") {
                anyhow::anyhow!(
                    "{} is in use by a running server; use --url to ask it to sync instead",
                    data_dir.display()
                )
            } else {
                e
            }
        })?;
    let bars = Bars {
        multi: MultiProgress::new(),
        bars: Mutex::new(BTreeMap::new()),
    };
    let options = RunOptions {
        full_resync: args.full,
    };
    let runs = match &args.model {
        Some(model) => vec![
            app.engine
                .sync_model(&args.connection, model, options, Some(&bars))
                .await?,
        ],
        None => {
            app.engine
                .sync_connection(&args.connection, options, Some(&bars))
                .await?
        }
    };
    for (bar, _) in bars.bars.lock().unwrap_or_else(|e| e.into_inner()).values() {
        bar.finish_and_clear();
    }
    Ok(runs)
}

async fn remote(args: &SyncArgs, url: &str) -> anyhow::Result<Vec<Run>> {
    let token = args
        .token
        .as_deref()
        .context("--url needs --token (or SWITCHYARD_TOKEN)")?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = url.trim_end_matches('/');
    let connection = &args.connection;
    // The connection's newest runs, newest first, as the API lists them.
    let newest_runs = |limit: u32| {
        let request = client
            .get(format!(
                "{base}/v1/connections/{connection}/runs?limit={limit}"
            ))
            .bearer_auth(token);
        async move {
            let page: Value = request.send().await?.error_for_status()?.json().await?;
            anyhow::Ok(page)
        }
    };
    let before = newest_runs(1).await?["data"][0]["id"].as_u64().unwrap_or(0);
    let response = client
        .post(format!("{base}/v1/connections/{connection}/sync"))
        .bearer_auth(token)
        .json(&serde_json::json!({"model": args.model, "full_resync": args.full}))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "{status}: {}",
            body["error"]["message"]
                .as_str()
                .unwrap_or("the server refused")
        );
    }
    let models: Vec<String> = body["models"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if models.is_empty() {
        bail!(
            "every requested model is already syncing; see `GET /v1/connections/{connection}/runs`"
        );
    }
    let multi = MultiProgress::new();
    let started = Instant::now();
    let bars: BTreeMap<&str, ProgressBar> = models
        .iter()
        .map(|model| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(style());
            bar.set_prefix(model.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            (model.as_str(), bar)
        })
        .collect();
    loop {
        let page = newest_runs(100).await?;
        let runs: Vec<Run> = page["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["id"].as_u64().is_some_and(|id| id > before))
            .filter_map(|r| run_from_api(r).ok())
            .filter(|r| models.contains(&r.model))
            .collect();
        for run in &runs {
            if let Some(bar) = bars.get(run.model.as_str()) {
                bar.set_message(progress_message(run, started));
            }
        }
        let done: Vec<Run> = runs
            .into_iter()
            .filter(|r| r.status != RunStatus::Running)
            .collect();
        if models.iter().all(|m| done.iter().any(|r| &r.model == m)) {
            for bar in bars.values() {
                bar.finish_and_clear();
            }
            return Ok(done);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Reads a run as the API shows it.
fn run_from_api(value: &Value) -> anyhow::Result<Run> {
    let time = |field: &str| {
        value[field]
            .as_str()
            .and_then(|t| switchyard_api::pagination::parse_time(field, t).ok())
    };
    Ok(Run {
        id: value["id"].as_u64().context("id")?,
        connection_id: value["connection_id"].as_str().unwrap_or_default().into(),
        model: value["model"].as_str().unwrap_or_default().into(),
        kind: serde_json::from_value(value["kind"].clone())?,
        status: serde_json::from_value(value["status"].clone())?,
        started_at: time("started_at").unwrap_or(0),
        finished_at: time("finished_at"),
        pages: value["pages"].as_u64().unwrap_or(0),
        records_upserted: value["records_upserted"].as_u64().unwrap_or(0),
        records_deleted: value["records_deleted"].as_u64().unwrap_or(0),
        records_quarantined: value["records_quarantined"].as_u64().unwrap_or(0),
        connector_version: value["connector_version"]
            .as_str()
            .unwrap_or_default()
            .into(),
        connector_hash: value["connector_hash"].as_str().unwrap_or_default().into(),
        retries: serde_json::from_value(value["retries"].clone()).unwrap_or_default(),
        error: serde_json::from_value(value["error"].clone()).unwrap_or_default(),
    })
}

fn print_summary(runs: &[Run]) {
    println!(
        "{:<14} {:<12} {:<10} {:>6} {:>9} {:>8} {:>11} {:>8} {:>11}",
        "model",
        "kind",
        "status",
        "pages",
        "upserted",
        "deleted",
        "quarantined",
        "seconds",
        "records/s"
    );
    for run in runs {
        let seconds = (run.finished_at.unwrap_or(run.started_at) - run.started_at) as f64 / 1000.0;
        let records = run.records_upserted + run.records_deleted;
        println!(
            "{:<14} {:<12} {:<10} {:>6} {:>9} {:>8} {:>11} {:>8.2} {:>11.0}",
            run.model,
            run.kind.as_str(),
            run.status.as_str(),
            run.pages,
            run.records_upserted,
            run.records_deleted,
            run.records_quarantined,
            seconds,
            records as f64 / seconds.max(0.001),
        );
        if !run.retries.is_empty() {
            println!(
                "{:<14} {} retries: {}",
                "",
                run.retries.len(),
                run.retries
                    .iter()
                    .map(|r| r.code.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if let Some(error) = &run.error {
            println!("{:<14} {}: {}", "", error.code, error.message);
        }
    }
}
