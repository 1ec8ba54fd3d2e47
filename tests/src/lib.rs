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

/// A blocking HTTP client that does not follow redirects.
pub fn no_redirect_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("the HTTP client builds")
}

/// Waits for the first line starting with `listening on ` on a child's
/// stdout and returns the URL after it.
fn wait_for_url(child: &mut Child, what: &str) -> Result<String> {
    wait_for_line(child, what, "listening on ")
}

/// Waits for the first line starting with `prefix` on a child's stdout and
/// returns the rest of it.
fn wait_for_line(child: &mut Child, what: &str, prefix: &str) -> Result<String> {
    let stdout = child.stdout.take().context("child stdout")?;
    let prefix = prefix.to_string();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if let Some(rest) = line.trim().strip_prefix(prefix.as_str()) {
                        let _ = sender.send(rest.to_string());
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
    /// Where its stderr (the logs, at `info` unless `SWITCHYARD_TEST_LOG`
    /// says otherwise) is written, across restarts.
    pub log_path: PathBuf,
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
            log_path: temp.path().join("host.log"),
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
                std::env::var("SWITCHYARD_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("SWITCHYARD_TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                // Kept for the tests that check the logs hold no secrets.
                Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&self.log_path)?,
                )
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

    /// Stops the process with SIGTERM and waits (bounded) for it to exit,
    /// so its logs and the store are complete.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the process with SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sets an environment variable for the next start (see [`Host::restart`]).
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.extra_env.retain(|(k, _)| k != key);
        self.extra_env.push((key.to_string(), value.to_string()));
    }

    /// Runs `switchyard <args>` to completion with the host's environment
    /// (for commands such as `secrets reseal`); returns its stdout.
    pub fn run_command(&self, args: &[&str]) -> Result<String> {
        let output = Command::new(binary("switchyard"))
            .args(args)
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .output()?;
        if !output.status.success() {
            bail!(
                "switchyard {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8(output.stdout)?)
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

    /// A GET with `token`, returning (status, JSON body).
    pub fn get_json(&self, path: &str, token: &str) -> Result<(u16, Value)> {
        let response = self.request(reqwest::Method::GET, path, token).send()?;
        let status = response.status().as_u16();
        let text = response.text()?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// A connection as the admin sees it.
    pub fn connection(&self, connection_id: &str) -> Result<Value> {
        let (status, body) =
            self.get_json(&format!("/v1/connections/{connection_id}"), ADMIN_TOKEN)?;
        if status != 200 {
            bail!("reading {connection_id}: {status}: {body}");
        }
        Ok(body)
    }

    /// Every event matching `query` (such as `type=connection.created`),
    /// following cursors, as the admin sees them.
    pub fn events(&self, query: &str) -> Result<Vec<Value>> {
        let mut events = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut path = format!("/v1/events?limit=1000&{query}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let (status, page) = self.get_json(&path, ADMIN_TOKEN)?;
            if status != 200 {
                bail!("listing events: {status}: {page}");
            }
            events.extend(page["data"].as_array().cloned().unwrap_or_default());
            if page["has_more"] != true {
                return Ok(events);
            }
            cursor = page["next_cursor"].as_str().map(str::to_string);
        }
        bail!("the event log did not end")
    }

    /// A connection's status timeline, oldest first.
    pub fn timeline(&self, connection_id: &str) -> Result<Vec<Value>> {
        let (status, body) = self.get_json(
            &format!("/v1/connections/{connection_id}/timeline?limit=1000"),
            ADMIN_TOKEN,
        )?;
        if status != 200 {
            bail!("timeline of {connection_id}: {status}: {body}");
        }
        Ok(body["data"].as_array().cloned().unwrap_or_default())
    }

    /// Creates a connect session (admin) and returns its JSON.
    pub fn connect_session(&self, body: Value) -> Result<Value> {
        let response = self
            .admin(reqwest::Method::POST, "/v1/connect-sessions")
            .json(&body)
            .send()?;
        let status = response.status();
        let created: Value = response.json()?;
        if status != 201 {
            bail!("creating a connect session: {status}: {created}");
        }
        Ok(created)
    }

    /// Posts the connect form of `connect_url` like a browser would, without
    /// following redirects: returns (status, Location header, body).
    pub fn submit_connect_form(
        &self,
        connect_url: &str,
        fields: &[(&str, &str)],
    ) -> Result<(u16, Option<String>, String)> {
        let (status, location, _, body) = self.post_connect_form(connect_url, fields)?;
        Ok((status, location, body))
    }

    /// Like [`Host::submit_connect_form`], with the cookie the answer sets
    /// (`name=value`), if any.
    fn post_connect_form(
        &self,
        connect_url: &str,
        fields: &[(&str, &str)],
    ) -> Result<(u16, Option<String>, Option<String>, String)> {
        let url = reqwest::Url::parse(connect_url)?;
        let session = url
            .query_pairs()
            .find(|(k, _)| k == "session")
            .map(|(_, v)| v.into_owned())
            .context("the connect URL has a session")?;
        let mut form: Vec<(String, String)> = vec![("session".into(), session)];
        form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let response = no_redirect_client()
            .post(format!("{}{}", self.url, url.path()))
            .form(&form)
            .send()?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_string);
        Ok((status, location, cookie, response.text()?))
    }

    /// Connects demo-cmms through the connect flow (a session with a
    /// redirect URL, the form, the code exchange): (connection id, token).
    /// With `connection_id` it reconnects that connection.
    pub fn connect_flow_demo_cmms(
        &self,
        cmms: &DemoCmms,
        connection_id: Option<&str>,
        username: &str,
        password: &str,
    ) -> Result<(String, String)> {
        let mut body = json!({
            "connector_id": "demo-cmms",
            "redirect_url": "http://127.0.0.1:9/app/callback?tenant=t1",
        });
        if let Some(id) = connection_id {
            body["connection_id"] = json!(id);
        }
        let session = self.connect_session(body)?;
        let url = session["connect_url"].as_str().context("connect_url")?;
        let (status, location, page) = self.submit_connect_form(
            url,
            &[
                ("setting:base-url", &cmms.url),
                ("credential:username", username),
                ("credential:password", password),
            ],
        )?;
        if status != 303 {
            bail!("the connect form answered {status}: {page}");
        }
        let location = reqwest::Url::parse(&location.context("a redirect")?)?;
        let code = location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .context("a code on the redirect")?;
        let exchanged: Value = self
            .admin(reqwest::Method::POST, "/v1/connect/exchange")
            .json(&json!({ "code": code }))
            .send()?
            .error_for_status()?
            .json()?;
        Ok((
            exchanged["connection_id"]
                .as_str()
                .context("connection_id")?
                .to_string(),
            exchanged["token"].as_str().context("token")?.to_string(),
        ))
    }

    /// Runs the browser's part of an OAuth 2.0 connect with plain HTTP: the
    /// form post, the provider's authorize endpoint, the callback; checks
    /// the authorize request (client, PKCE S256, scopes, state, redirect
    /// URI) and that the callback cannot be replayed. Returns the final page.
    pub fn authorize_oauth(&self, provider: &OAuthProvider, connect_url: &str) -> Result<String> {
        let (callback, status, text) = self.oauth_round_trip(provider, connect_url, true)?;
        anyhow::ensure!(status == 200, "the callback answered {status}: {text}");
        let replay = no_redirect_client().get(&callback).send()?;
        anyhow::ensure!(
            replay.status() == 400,
            "a replayed callback answered {}",
            replay.status()
        );
        Ok(text)
    }

    /// The same, but the provider sends another browser (one without the
    /// cookie the connect page set) to the callback: (status, page).
    pub fn authorize_oauth_in_another_browser(
        &self,
        provider: &OAuthProvider,
        connect_url: &str,
    ) -> Result<(u16, String)> {
        let (_, status, text) = self.oauth_round_trip(provider, connect_url, false)?;
        Ok((status, text))
    }

    /// Form post, provider, callback: (callback URL, callback status, page).
    fn oauth_round_trip(
        &self,
        provider: &OAuthProvider,
        connect_url: &str,
        same_browser: bool,
    ) -> Result<(String, u16, String)> {
        let (status, location, cookie, body) = self.post_connect_form(
            connect_url,
            &[
                ("setting:issuer-url", &provider.issuer),
                ("setting:api-url", &provider.api),
            ],
        )?;
        anyhow::ensure!(status == 303, "the form answered {status}: {body}");
        let authorize_url = location.context("a redirect to the provider")?;
        anyhow::ensure!(authorize_url.starts_with(&format!("{}/authorize?", provider.issuer)));
        let query: std::collections::BTreeMap<String, String> =
            reqwest::Url::parse(&authorize_url)?
                .query_pairs()
                .into_owned()
                .collect();
        let redirect_uri = format!("{}/connect/oauth/callback", self.url);
        for (name, expected) in [
            ("response_type", "code"),
            ("client_id", OAUTH_CLIENT_ID),
            ("code_challenge_method", "S256"),
            ("scope", "openid sites:read"),
            ("redirect_uri", redirect_uri.as_str()),
        ] {
            anyhow::ensure!(
                query.get(name).map(String::as_str) == Some(expected),
                "authorize parameter {name}: {:?}",
                query.get(name)
            );
        }
        anyhow::ensure!(query.get("state").is_some_and(|s| s.len() >= 43));
        let at_provider = no_redirect_client().get(&authorize_url).send()?;
        anyhow::ensure!(
            at_provider.status() == 302,
            "the provider answered {}",
            at_provider.status()
        );
        let callback = at_provider.headers()["location"].to_str()?.to_string();
        anyhow::ensure!(
            callback.starts_with(&format!("{redirect_uri}?")),
            "{callback}"
        );
        let cookie = cookie.context("the redirect to the provider sets the browser cookie")?;
        let mut request = no_redirect_client().get(&callback);
        if same_browser {
            request = request.header("cookie", &cookie);
        }
        let page = request.send()?;
        let status = page.status().as_u16();
        Ok((callback, status, page.text()?))
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

/// The OAuth 2.0 provider and resource server of `tests/node/oauth-server.mjs`
/// (oauth2-mock-server from npm), killed on drop.
pub struct OAuthProvider {
    child: Child,
    /// The provider's issuer URL (`/authorize`, `/token` below it).
    pub issuer: String,
    /// The resource server's URL (`/api/sites`).
    pub api: String,
}

/// The client the test provider accepts.
pub const OAUTH_CLIENT_ID: &str = "switchyard-test-client";
/// Its secret.
pub const OAUTH_CLIENT_SECRET: &str = "oauth-client-secret-5d1c9a7e3b";

impl OAuthProvider {
    /// Starts the provider; access tokens live `token_ttl_secs`.
    pub fn start(token_ttl_secs: u64) -> Result<Self> {
        let dir = repo_root().join("tests/node");
        anyhow::ensure!(
            dir.join("node_modules/oauth2-mock-server").exists(),
            "tests/node has no node_modules: run scripts/setup"
        );
        let mut child = Command::new("node")
            .arg(dir.join("oauth-server.mjs"))
            .args(["--client-id", OAUTH_CLIENT_ID])
            .args(["--client-secret", OAUTH_CLIENT_SECRET])
            .args(["--token-ttl", &token_ttl_secs.to_string()])
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting node tests/node/oauth-server.mjs")?;
        let ready = wait_for_line(&mut child, "the OAuth provider", "ready ")?;
        let ready: Value = serde_json::from_str(&ready)?;
        Ok(OAuthProvider {
            issuer: ready["issuer"].as_str().context("issuer")?.to_string(),
            api: ready["api"].as_str().context("api")?.to_string(),
            child,
        })
    }

    /// What the provider and resource server counted.
    pub fn stats(&self) -> Result<Value> {
        Ok(client()
            .get(format!("{}/admin/stats", self.api))
            .send()?
            .error_for_status()?
            .json()?)
    }

    /// Every access and refresh token the provider issued.
    pub fn issued_tokens(&self) -> Result<Vec<String>> {
        let body: Value = client()
            .get(format!("{}/admin/issued", self.api))
            .send()?
            .error_for_status()?
            .json()?;
        Ok(body["tokens"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect())
    }

    /// Forgets every refresh token, as when a customer revokes the app.
    pub fn revoke_grants(&self) -> Result<Value> {
        Ok(client()
            .post(format!("{}/admin/revoke", self.api))
            .send()?
            .error_for_status()?
            .json()?)
    }
}

impl Drop for OAuthProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that nothing listens on right now (bound, then
/// released): for a receiver that starts later.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// `tests/webhook_receiver.py` in `tests/.venv`: verifies every request with
/// the Standard Webhooks reference library (`standardwebhooks` from PyPI)
/// against labelled secrets, answers 204 (verified), 401 (not) or 410 (on
/// `/gone`), and reports what it received. Killed on drop.
pub struct WebhookReceiver {
    child: Child,
    /// Its base URL.
    pub url: String,
    secrets_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl WebhookReceiver {
    /// Starts the receiver on `port` with `secrets` (label → `whsec_…`).
    pub fn start(port: u16, secrets: &[(&str, &str)]) -> Result<Self> {
        let python = repo_root().join("tests/.venv/bin/python");
        anyhow::ensure!(python.exists(), "tests/.venv is missing: run scripts/setup");
        let dir = tempfile::tempdir()?;
        let secrets_path = dir.path().join("secrets.json");
        write_secrets(&secrets_path, secrets)?;
        let mut child = Command::new(python)
            .arg(repo_root().join("tests/webhook_receiver.py"))
            .args(["--port", &port.to_string()])
            .arg("--secrets-file")
            .arg(&secrets_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting tests/webhook_receiver.py")?;
        let url = wait_for_url(&mut child, "the webhook receiver")?;
        Ok(WebhookReceiver {
            child,
            url,
            secrets_path,
            _dir: dir,
        })
    }

    /// Replaces the secrets it verifies with (for a rotation).
    pub fn set_secrets(&self, secrets: &[(&str, &str)]) -> Result<()> {
        write_secrets(&self.secrets_path, secrets)
    }

    /// Every request received, in order: `{path, webhook_id, timestamp,
    /// signatures, verified_with, duplicate, body}`.
    pub fn received(&self) -> Result<Vec<Value>> {
        Ok(client()
            .get(format!("{}/_received", self.url))
            .send()?
            .error_for_status()?
            .json()?)
    }
}

fn write_secrets(path: &Path, secrets: &[(&str, &str)]) -> Result<()> {
    let map: serde_json::Map<String, Value> = secrets
        .iter()
        .map(|(label, secret)| (label.to_string(), json!(secret)))
        .collect();
    // Written whole, then renamed: the receiver never reads half a file.
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, serde_json::to_vec(&map)?)?;
    std::fs::rename(&temp, path)?;
    Ok(())
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Headless Debian Chromium driven over the WebDriver protocol (plain HTTP
/// to `chromedriver`), with a fresh profile; everything is torn down on drop.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub fn start() -> Result<Self> {
        for path in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            anyhow::ensure!(
                Path::new(path).exists(),
                "{path} is missing: run scripts/setup"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver")?;
        let profile = tempfile::tempdir()?;
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            _profile: profile,
        };
        wait_for(Duration::from_secs(20), "chromedriver", || {
            Ok(client()
                .get(format!("{}/status", browser.base))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .filter(|v| v["value"]["ready"] == true)
                .map(|_| ()))
        })?;
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                // The machine's network is closed: no background traffic.
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", browser._profile.path().display()),
                ],
            },
        }}});
        let created = browser.call(reqwest::Method::POST, "/session", Some(capabilities))?;
        browser.session = created["sessionId"]
            .as_str()
            .context("a WebDriver session id")?
            .to_string();
        Ok(browser)
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut request = client().request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send()?;
        let status = response.status();
        let body: Value = response.json()?;
        if !status.is_success() {
            bail!("WebDriver {path}: {status}: {body}");
        }
        Ok(body["value"].clone())
    }

    fn session_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Opens `url` and waits for the page to load.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.session_call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))?;
        Ok(())
    }

    /// The current URL.
    pub fn current_url(&self) -> Result<String> {
        Ok(self
            .session_call(reqwest::Method::GET, "/url", None)?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// The element matching a CSS selector, waiting up to 10 s for it: a
    /// click that submits a form may return before the next page is there.
    pub fn find(&self, css: &str) -> Result<String> {
        wait_for(Duration::from_secs(10), &format!("element {css}"), || {
            let found = match self.session_call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            ) {
                Ok(found) => found,
                Err(e) if e.to_string().contains("no such element") => return Ok(None),
                Err(e) => return Err(e),
            };
            Ok(found
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(Value::as_str)
                .map(str::to_string))
        })
    }

    /// Waits up to 10 s for the current URL to satisfy `check`; returns it.
    pub fn wait_for_url(&self, mut check: impl FnMut(&str) -> bool) -> Result<String> {
        wait_for(Duration::from_secs(10), "the browser's URL", || {
            let url = self.current_url()?;
            Ok(check(&url).then_some(url))
        })
    }

    /// Calls `path` (after `/element/{id}`) on the element matching `css`,
    /// finding it again when the page changed under it (a stale element).
    fn on_element(
        &self,
        css: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        wait_for(Duration::from_secs(10), &format!("element {css}"), || {
            let element = self.find(css)?;
            match self.session_call(
                method.clone(),
                &format!("/element/{element}{path}"),
                body.clone(),
            ) {
                Ok(value) => Ok(Some(value)),
                Err(e) if e.to_string().contains("stale element") => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// Types `text` into the element matching `css`.
    pub fn type_into(&self, css: &str, text: &str) -> Result<()> {
        self.on_element(css, reqwest::Method::POST, "/clear", Some(json!({})))?;
        self.on_element(
            css,
            reqwest::Method::POST,
            "/value",
            Some(json!({ "text": text })),
        )?;
        Ok(())
    }

    /// Clicks the element matching `css`.
    pub fn click(&self, css: &str) -> Result<()> {
        self.on_element(css, reqwest::Method::POST, "/click", Some(json!({})))?;
        Ok(())
    }

    /// The visible text of the element matching `css`.
    pub fn text(&self, css: &str) -> Result<String> {
        Ok(self
            .on_element(css, reqwest::Method::GET, "/text", None)?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// An attribute of the element matching `css`.
    pub fn attribute(&self, css: &str, name: &str) -> Result<Option<String>> {
        Ok(self
            .on_element(
                css,
                reqwest::Method::GET,
                &format!("/attribute/{name}"),
                None,
            )?
            .as_str()
            .map(str::to_string))
    }

    /// A PNG screenshot of the page.
    pub fn screenshot(&self) -> Result<Vec<u8>> {
        use base64::Engine as _;
        let data = self.session_call(reqwest::Method::GET, "/screenshot", None)?;
        Ok(base64::engine::general_purpose::STANDARD
            .decode(data.as_str().context("screenshot data")?)?)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = client()
                .delete(format!("{}/session/{}", self.base, self.session))
                .send();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The API token shown on a connect page.
pub fn token_on_page(page: &str) -> Result<String> {
    let start = page.find("sy_conn_").context("a token on the page")?;
    Ok(page[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .collect())
}

/// Every file under `dir` whose bytes contain any of `needles`, with the
/// needle found: for checking that no secret reached the disk.
pub fn files_containing(dir: &Path, needles: &[&str]) -> Result<Vec<(PathBuf, String)>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path)?;
            for needle in needles {
                if bytes
                    .windows(needle.len())
                    .any(|window| window == needle.as_bytes())
                {
                    found.push((path.clone(), needle.to_string()));
                }
            }
        }
    }
    Ok(found)
}
