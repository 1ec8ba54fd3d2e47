//! `switchyard connector …`: manage connector versions on a running host.
//!
//! The server holds the RocksDB lock on its data directory, so these
//! commands talk to its API (`/v1/connectors`) with an admin token instead of
//! opening the data directory themselves.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// Options of every `connector` command.
#[derive(Debug, Args)]
pub struct ConnectorArgs {
    /// The host's API.
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:8080",
        env = "SWITCHYARD_URL"
    )]
    url: String,
    /// An admin token (`sy_admin_…`).
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_ADMIN_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Print the API's JSON answer instead of a summary.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: ConnectorCommand,
}

#[derive(Debug, Subcommand)]
enum ConnectorCommand {
    /// Upload a connector component (`.wasm`); it is validated before it is
    /// stored.
    Install {
        /// The component.
        file: PathBuf,
        /// Also make it the active version.
        #[arg(long)]
        activate: bool,
    },
    /// List installed connectors and their versions.
    List,
    /// Show a connector: versions, active version, limits, capabilities.
    Show {
        /// The connector's id.
        connector_id: String,
    },
    /// Make an installed version the active one (calls in flight finish on
    /// their version).
    Activate {
        /// The connector's id.
        connector_id: String,
        /// The version to activate.
        version: String,
    },
    /// Return to the previously active version.
    Rollback {
        /// The connector's id.
        connector_id: String,
    },
    /// Show or change a connector's sandbox limits. Without flags, shows
    /// them; flags change those fields and keep the others.
    Limits {
        /// The connector's id.
        connector_id: String,
        /// Memory cap per call, in MiB.
        #[arg(long)]
        memory_mib: Option<usize>,
        /// Wall-clock budget per call, in milliseconds.
        #[arg(long)]
        time_budget_ms: Option<u64>,
        /// Largest record, in KiB.
        #[arg(long)]
        max_record_kib: Option<usize>,
        /// Largest page (sum of its records), in KiB.
        #[arg(long)]
        max_page_kib: Option<usize>,
        /// Largest outbound HTTP response body, in KiB.
        #[arg(long)]
        max_response_kib: Option<usize>,
        /// Restore every default first.
        #[arg(long)]
        reset: bool,
    },
    /// Pin a connection to a version, or follow the active one again.
    Pin {
        /// The connection's id.
        connection_id: String,
        /// The version; leave out with --unpin.
        #[arg(required_unless_present = "unpin")]
        version: Option<String>,
        /// Follow the active version again.
        #[arg(long, conflicts_with = "version")]
        unpin: bool,
    },
}

struct Api {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    async fn send(&self, method: Method, path: &str, body: Option<Body>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let mut request = self.client.request(method, &url).bearer_auth(&self.token);
        request = match body {
            None => request,
            Some(Body::Json(value)) => request.json(&value),
            Some(Body::Wasm(bytes)) => request
                .header(reqwest::header::CONTENT_TYPE, "application/wasm")
                .body(bytes),
        };
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the host at {}", self.url))?;
        let status = response.status();
        let text = response.text().await?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            let error = &value["error"];
            match (error["code"].as_str(), error["message"].as_str()) {
                (Some(code), Some(message)) => bail!("{message} ({code}, HTTP {status})"),
                _ => bail!("HTTP {status}: {value}"),
            }
        }
        Ok(value)
    }
}

enum Body {
    Json(Value),
    Wasm(Vec<u8>),
}

/// Runs a `connector` command.
pub async fn run(args: ConnectorArgs) -> anyhow::Result<()> {
    let token = args
        .token
        .context("an admin token is needed: pass --token or set SWITCHYARD_ADMIN_TOKEN")?;
    let api = Api {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()?,
        url: args.url,
        token,
    };
    let (value, summary) = match args.command {
        ConnectorCommand::Install { file, activate } => {
            let wasm =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let value = api
                .send(
                    Method::POST,
                    &format!("/v1/connectors?activate={activate}"),
                    Some(Body::Wasm(wasm)),
                )
                .await?;
            let version = &value["version"];
            let what = if value["new"] == true {
                "installed"
            } else {
                "already installed"
            };
            let active = if version["active"] == true {
                " (active)"
            } else {
                ""
            };
            let summary = format!(
                "{} {} {what}{active}\nhash {}",
                text(&version["connector_id"]),
                text(&version["version"]),
                text(&version["hash"])
            );
            (value, summary)
        }
        ConnectorCommand::List => {
            let value = api.send(Method::GET, "/v1/connectors", None).await?;
            let mut lines = Vec::new();
            for connector in value["data"].as_array().into_iter().flatten() {
                let versions: Vec<&str> = connector["versions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                lines.push(format!(
                    "{:<24} active {:<10} versions {}",
                    text(&connector["id"]),
                    text(&connector["active_version"]),
                    versions.join(", ")
                ));
            }
            if lines.is_empty() {
                lines.push("no connectors installed".into());
            }
            (value, lines.join("\n"))
        }
        ConnectorCommand::Show { connector_id } => {
            let value = api
                .send(Method::GET, &format!("/v1/connectors/{connector_id}"), None)
                .await?;
            let summary = serde_json::to_string_pretty(&value)?;
            (value, summary)
        }
        ConnectorCommand::Activate {
            connector_id,
            version,
        } => {
            let value = api
                .send(
                    Method::POST,
                    &format!("/v1/connectors/{connector_id}/activate"),
                    Some(Body::Json(json!({ "version": version }))),
                )
                .await?;
            let summary = activation_summary(&value);
            (value, summary)
        }
        ConnectorCommand::Rollback { connector_id } => {
            let value = api
                .send(
                    Method::POST,
                    &format!("/v1/connectors/{connector_id}/rollback"),
                    None,
                )
                .await?;
            let summary = activation_summary(&value);
            (value, summary)
        }
        ConnectorCommand::Limits {
            connector_id,
            memory_mib,
            time_budget_ms,
            max_record_kib,
            max_page_kib,
            max_response_kib,
            reset,
        } => {
            let path = format!("/v1/connectors/{connector_id}/limits");
            let current = api.send(Method::GET, &path, None).await?;
            let changes = [
                ("memory_bytes", memory_mib.map(|m| m << 20)),
                ("time_budget_ms", time_budget_ms.map(|t| t as usize)),
                ("max_record_bytes", max_record_kib.map(|k| k << 10)),
                ("max_page_bytes", max_page_kib.map(|k| k << 10)),
                ("max_response_bytes", max_response_kib.map(|k| k << 10)),
            ];
            let value = if reset || changes.iter().any(|(_, v)| v.is_some()) {
                let mut limits = if reset {
                    json!({})
                } else {
                    current["limits"].clone()
                };
                for (field, value) in changes {
                    if let Some(value) = value {
                        limits[field] = json!(value);
                    }
                }
                api.send(Method::PUT, &path, Some(Body::Json(limits)))
                    .await?
            } else {
                current
            };
            let summary = serde_json::to_string_pretty(&value["limits"])?;
            (value, summary)
        }
        ConnectorCommand::Pin {
            connection_id,
            version,
            unpin,
        } => {
            let version = if unpin { None } else { version };
            let value = api
                .send(
                    Method::PUT,
                    &format!("/v1/connections/{connection_id}/pin"),
                    Some(Body::Json(json!({ "version": version }))),
                )
                .await?;
            let summary = match value["pinned_version"].as_str() {
                Some(version) => format!("{connection_id} pinned to {version}"),
                None => format!("{connection_id} follows the active version"),
            };
            (value, summary)
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("{summary}");
    }
    Ok(())
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("?")
}

fn activation_summary(value: &Value) -> String {
    let mut summary = format!(
        "{} {} is active",
        text(&value["connector_id"]),
        text(&value["active_version"])
    );
    if let Some(previous) = value["rollback_to"].as_str() {
        summary.push_str(&format!(" (rollback returns to {previous})"));
    }
    summary
}
