//! Harness for Switchyard's end-to-end tests: real processes (the
//! `switchyard` binary and `demo-cmms`), real components from `dist/plugins`,
//! real HTTP on 127.0.0.1.
//!
//! Binaries are found next to the test executable's profile directory, so
//! build them first (`cargo build --release --workspace --bins`, which
//! `scripts/test` does).

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The admin token every test host accepts.
pub const ADMIN_TOKEN: &str = "sy_admin_test-admin-token-0123456789abcdefghij";

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_path_buf()
}

/// A binary of the workspace, from the same profile as the running test.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executables live in target/<profile>/deps")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (cargo build --release --workspace --bins)",
        path.display()
    );
    path
}

/// A connector component from `dist/plugins`.
pub fn plugin(name: &str) -> PathBuf {
    let path = repo_root()
        .join("dist/plugins")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the connectors first (scripts/build-plugins)",
        path.display()
    );
    path
}

/// A blocking HTTP client with a bounded timeout.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("the HTTP client builds")
}

/// Waits for the first line starting with `listening on ` on a child's
/// stdout and returns the URL after it.
fn wait_for_url(child: &mut Child, what: &str) -> Result<String> {
    let stdout = child.stdout.take().context("child stdout")?;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if let Some(url) = line.trim().strip_prefix("listening on ") {
                        let _ = sender.send(url.to_string());
                    }
                }
            }
        }
    });
    receiver
        .recv_timeout(Duration::from_secs(120))
        .with_context(|| format!("{what} did not report its address"))
}

/// Polls `check` every 50 ms until it returns `Some`, or fails after `limit`.
pub fn wait_for<T>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if start.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running demo-cmms process, killed on drop.
pub struct DemoCmms {
    child: Child,
    /// Its base URL.
    pub url: String,
}

impl DemoCmms {
    /// Starts demo-cmms with extra arguments (for example `--records 10000`).
    pub fn start(args: &[&str]) -> Result<Self> {
        let mut child = Command::new(binary("demo-cmms"))
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting demo-cmms")?;
        let url = wait_for_url(&mut child, "demo-cmms")?;
        Ok(DemoCmms { child, url })
    }

    /// Every record of a model, deleted ones included, ordered by id.
    pub fn export(&self, model: &str) -> Result<Vec<Value>> {
        let body: Value = client()
            .get(format!("{}/admin/{model}", self.url))
            .send()?
            .error_for_status()?
            .json()?;
        Ok(body["data"].as_array().cloned().unwrap_or_default())
    }

    /// Sends an admin request and returns the JSON answer.
    pub fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut request = client().request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send()?;
        let status = response.status();
        let text = response.text()?;
        if !status.is_success() {
            bail!("demo-cmms {path}: {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

impl Drop for DemoCmms {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How to start a host.
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Extra arguments of `switchyard serve`.
    pub args: Vec<String>,
    /// The connectors installed at start (`--plugins-dir`): `None`, every
    /// one in `dist/plugins`; otherwise these (file names without `.wasm`;
    /// empty: none).
    pub plugins: Option<Vec<String>>,
}

/// A running `switchyard serve`, killed on drop.
pub struct Host {
    child: Option<Child>,
    /// Its base URL.
    pub url: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    extra_env: Vec<(String, String)>,
    extra_args: Vec<String>,
    plugins_dir: Option<PathBuf>,
}

impl Host {
    /// Starts a host on a new data directory with every connector in
    /// `dist/plugins` installed.
    pub fn start() -> Result<Self> {
        Self::start_with_env(&[])
    }

    /// Like [`Host::start`], with extra environment variables (for example
    /// `SWITCHYARD_PAGE_SIZE`; every `serve` flag has one).
    pub fn start_with_env(env: &[(&str, &str)]) -> Result<Self> {
        Self::start_with(HostOptions {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..HostOptions::default()
        })
    }

    /// Starts a host on a new data directory with `options`.
    pub fn start_with(options: HostOptions) -> Result<Self> {
        let temp = tempfile::tempdir()?;
        let data_dir = temp.path().join("data");
        let plugins_dir = match options.plugins {
            None => Some(repo_root().join("dist/plugins")),
            Some(names) if names.is_empty() => None,
            Some(names) => {
                let dir = temp.path().join("plugins");
                std::fs::create_dir_all(&dir)?;
                for name in names {
                    std::fs::copy(plugin(&name), dir.join(format!("{name}.wasm")))?;
                }
                Some(dir)
            }
        };
        let mut host = Host {
            child: None,
            url: String::new(),
            data_dir,
            _temp: Some(temp),
            extra_env: options.env,
            extra_args: options.args,
            plugins_dir,
        };
        host.spawn()?;
        Ok(host)
    }

    fn spawn(&mut self) -> Result<()> {
        let mut command = Command::new(binary("switchyard"));
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(&self.extra_args)
            .env("SWITCHYARD_ADMIN_TOKEN", ADMIN_TOKEN)
            .env(
                "RUST_LOG",
                std::env::var("SWITCHYARD_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("SWITCHYARD_TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        if let Some(dir) = &self.plugins_dir {
            command.arg("--plugins-dir").arg(dir);
        }
        for (key, value) in &self.extra_env {
            command.env(key, value);
        }
        let mut child = command.spawn().context("starting switchyard serve")?;
        self.url = wait_for_url(&mut child, "switchyard serve")?;
        self.child = Some(child);
        Ok(())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Starts a sync of the connection's models (or one) and returns the
    /// models started.
    pub fn trigger_sync(&self, connection_id: &str, body: Value) -> Result<Vec<String>> {
        let response = self
            .admin(
                reqwest::Method::POST,
                &format!("/v1/connections/{connection_id}/sync"),
            )
            .json(&body)
            .send()?;
        let status = response.status();
        let answer: Value = response.json()?;
        if status != 202 {
            bail!("triggering a sync: {status}: {answer}");
        }
        Ok(answer["models"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str().map(str::to_string))
            .collect())
    }

    /// Waits until no run of the connection is in progress and every model
    /// in `models` has a run that ended after `after_run_id`; returns those
    /// runs (newest first).
    pub fn wait_for_runs_after(
        &self,
        connection_id: &str,
        models: &[&str],
        after_run_id: u64,
        limit: Duration,
    ) -> Result<Vec<Value>> {
        wait_for(limit, "sync runs to end", || {
            let runs = self.runs(connection_id)?;
            let newer: Vec<Value> = runs
                .into_iter()
                .filter(|r| r["id"].as_u64().is_some_and(|id| id > after_run_id))
                .collect();
            let ended = |r: &&Value| r["status"] != "running";
            let done = models
                .iter()
                .all(|m| newer.iter().filter(ended).any(|r| r["model"] == *m))
                && newer.iter().all(|r| r["status"] != "running");
            Ok(done.then_some(newer))
        })
    }

    /// The id of the connection's newest run, or 0.
    pub fn last_run_id(&self, connection_id: &str) -> Result<u64> {
        Ok(self
            .runs(connection_id)?
            .first()
            .and_then(|r| r["id"].as_u64())
            .unwrap_or(0))
    }

    /// Kills the process with SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the host again on the same data directory.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn()
    }

    /// A request with the admin token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.request(method, path, ADMIN_TOKEN)
    }

    /// A request with `token`.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
    ) -> reqwest::blocking::RequestBuilder {
        client()
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token)
    }

    /// Creates a demo-cmms connection; returns (connection id, token).
    pub fn connect_demo_cmms(&self, cmms: &DemoCmms, extra: Value) -> Result<(String, String)> {
        let mut body = json!({
            "connector_id": "demo-cmms",
            "settings": {"base-url": cmms.url},
            "credentials": {"username": "admin", "password": "secret"},
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let response = self
            .admin(reqwest::Method::POST, "/v1/connections")
            .json(&body)
            .send()?;
        let status = response.status();
        let created: Value = response.json()?;
        if status != 201 {
            bail!("creating the connection: {status}: {created}");
        }
        Ok((
            created["connection"]["id"]
                .as_str()
                .context("connection id")?
                .to_string(),
            created["token"].as_str().context("token")?.to_string(),
        ))
    }

    /// Creates a connection of any connector; returns (connection id, token).
    pub fn connect(
        &self,
        connector_id: &str,
        settings: Value,
        credentials: Value,
    ) -> Result<(String, String)> {
        let response = self
            .admin(reqwest::Method::POST, "/v1/connections")
            .json(&json!({
                "connector_id": connector_id,
                "settings": settings,
                "credentials": credentials,
            }))
            .send()?;
        let status = response.status();
        let created: Value = response.json()?;
        if status != 201 {
            bail!("creating a {connector_id} connection: {status}: {created}");
        }
        Ok((
            created["connection"]["id"]
                .as_str()
                .context("connection id")?
                .to_string(),
            created["token"].as_str().context("token")?.to_string(),
        ))
    }

    /// Starts the sync of one model (or all with `None`) with the admin
    /// token; returns the models started.
    pub fn trigger(&self, connection_id: &str, model: Option<&str>) -> Result<Vec<String>> {
        let response = self
            .admin(
                reqwest::Method::POST,
                &format!("/v1/connections/{connection_id}/sync"),
            )
            .json(&json!({ "model": model }))
            .send()?;
        let status = response.status();
        let body: Value = response.json()?;
        if status != 202 {
            bail!("triggering a sync of {connection_id}: {status}: {body}");
        }
        Ok(body["models"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str().map(str::to_string))
            .collect())
    }

    /// Replaces a connector's sandbox limits.
    pub fn set_limits(&self, connector_id: &str, limits: Value) -> Result<Value> {
        let response = self
            .admin(
                reqwest::Method::PUT,
                &format!("/v1/connectors/{connector_id}/limits"),
            )
            .json(&limits)
            .send()?;
        let status = response.status();
        let body: Value = response.json()?;
        if status != 200 {
            bail!("setting the limits of {connector_id}: {status}: {body}");
        }
        Ok(body)
    }

    /// The connection's runs, newest first.
    pub fn runs(&self, connection_id: &str) -> Result<Vec<Value>> {
        let body: Value = self
            .admin(
                reqwest::Method::GET,
                &format!("/v1/connections/{connection_id}/runs?limit=1000"),
            )
            .send()?
            .error_for_status()?
            .json()?;
        Ok(body["data"].as_array().cloned().unwrap_or_default())
    }

    /// Waits until every model in `models` has a succeeded run of the
    /// connection; fails early on a failed run.
    pub fn wait_for_success(
        &self,
        connection_id: &str,
        models: &[&str],
        limit: Duration,
    ) -> Result<Vec<Value>> {
        wait_for(limit, "sync runs to succeed", || {
            let runs = self.runs(connection_id)?;
            if let Some(failed) = runs.iter().find(|r| r["status"] == "failed") {
                bail!("a run failed: {failed}");
            }
            let done = models.iter().all(|m| {
                runs.iter()
                    .any(|r| r["model"] == *m && r["status"] == "succeeded")
            });
            Ok(done.then_some(runs))
        })
    }

    /// Every record of a model through the API, following cursors.
    pub fn all_records(
        &self,
        connection_id: &str,
        model: &str,
        token: &str,
        include_deleted: bool,
    ) -> Result<Vec<Value>> {
        let mut records = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!(
                "/v1/connections/{connection_id}/models/{model}/records?limit=1000&include_deleted={include_deleted}"
            );
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page: Value = self
                .request(reqwest::Method::GET, &path, token)
                .send()?
                .error_for_status()?
                .json()?;
            records.extend(page["data"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return Ok(records),
            }
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The demo connector's mapping from source fields to unified fields, for
/// comparing stored records with the source: (model, source, unified).
pub const DEMO_CMMS_RENAMES: [(&str, &str, &str); 4] = [
    ("work-orders", "due_date", "due_at"),
    ("assets", "asset_tag", "tag"),
    ("assets", "parent_asset_id", "parent_id"),
    ("assets", "install_date", "installed_on"),
];

/// What the demo connector should have stored for a source record.
pub fn expected_unified(model: &str, source: &Value) -> Value {
    let mut expected = source.as_object().cloned().unwrap_or_default();
    expected.remove("deleted_at");
    for (m, from, to) in DEMO_CMMS_RENAMES {
        if m == model
            && let Some(value) = expected.remove(from)
        {
            expected.insert(to.to_string(), value);
        }
    }
    Value::Object(expected)
}
