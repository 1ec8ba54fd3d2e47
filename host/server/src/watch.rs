//! `switchyard serve --watch DIR`: installs connector components dropped into
//! a folder, for connector authors iterating on a build.
//!
//! A plain polling loop (no platform file-watching API): every `interval`
//! the folder's `*.wasm` files are listed with their size and modification
//! time. A file is taken once it has stayed the same for one whole interval,
//! so a half-copied build is not read. It is installed (validated first; a
//! bad component is logged and changes nothing) and activated when its
//! version is newer than the active one.

use anyhow::Context;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use switchyard_control::{Registry, RegistryError};

/// Files looked at per scan: a folder is for a handful of builds.
const MAX_FILES: usize = 256;
/// Largest file read, as for uploads through the API.
const MAX_FILE_BYTES: u64 = 50 << 20;

/// What identifies one state of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    len: u64,
    modified: Option<SystemTime>,
}

/// The polling state: what was handled, and what changed but may still be
/// being written.
#[derive(Debug)]
pub struct Watcher {
    dir: PathBuf,
    handled: HashMap<PathBuf, Fingerprint>,
    pending: HashMap<PathBuf, Fingerprint>,
}

impl Watcher {
    /// A watcher of `dir`; every file in it counts as new.
    pub fn new(dir: &Path) -> Self {
        Watcher {
            dir: dir.to_path_buf(),
            handled: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    /// Lists the folder and returns the files that changed and then stayed
    /// the same since the previous scan: the ones ready to install.
    pub fn scan(&mut self) -> std::io::Result<Vec<PathBuf>> {
        let mut current = HashMap::new();
        for entry in std::fs::read_dir(&self.dir)?.take(MAX_FILES * 4) {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "wasm") {
                continue;
            }
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if !metadata.is_file() {
                continue;
            }
            current.insert(
                path,
                Fingerprint {
                    len: metadata.len(),
                    modified: metadata.modified().ok(),
                },
            );
            if current.len() >= MAX_FILES {
                break;
            }
        }
        // Deleted files are forgotten: putting one back installs it again.
        self.handled.retain(|path, _| current.contains_key(path));
        let mut ready = Vec::new();
        let mut pending = HashMap::new();
        for (path, fingerprint) in current {
            if self.handled.get(&path) == Some(&fingerprint) {
                continue;
            }
            if self.pending.get(&path) == Some(&fingerprint) {
                self.handled.insert(path.clone(), fingerprint);
                ready.push(path);
            } else {
                pending.insert(path, fingerprint);
            }
        }
        self.pending = pending;
        ready.sort();
        Ok(ready)
    }
}

/// What became of one file.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Installed and activated.
    Activated {
        /// The connector.
        connector_id: String,
        /// Its new active version.
        version: String,
    },
    /// Installed (or already there); another version stays active.
    Installed {
        /// The connector.
        connector_id: String,
        /// The version installed.
        version: String,
        /// The version that stays active.
        active: String,
    },
}

/// Installs one file, and activates it when its version is newer than the
/// active one.
pub async fn install(registry: &Registry, path: &Path) -> anyhow::Result<Outcome> {
    let len = std::fs::metadata(path)?.len();
    anyhow::ensure!(
        len <= MAX_FILE_BYTES,
        "{len} bytes is over the {} MiB limit",
        MAX_FILE_BYTES >> 20
    );
    let wasm = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let installed = registry.install_component(&wasm).await?;
    let record = installed.record;
    let active = registry
        .active_version(&record.connector_id)?
        .ok_or_else(|| RegistryError::UnknownConnector(record.connector_id.clone()))?;
    let newer = match (
        semver::Version::parse(&record.version),
        semver::Version::parse(&active.version),
    ) {
        (Ok(new), Ok(current)) => new > current,
        _ => false,
    };
    if newer {
        registry
            .activate(&record.connector_id, &record.version)
            .await?;
    }
    if newer || active.hash == record.hash {
        return Ok(Outcome::Activated {
            connector_id: record.connector_id,
            version: record.version,
        });
    }
    Ok(Outcome::Installed {
        connector_id: record.connector_id,
        version: record.version,
        active: active.version,
    })
}

/// Polls `dir` every `interval` until `stop` turns true.
pub async fn run(
    registry: Arc<Registry>,
    dir: PathBuf,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut watcher = Watcher::new(&dir);
    tracing::info!(dir = %dir.display(), "watching for connector builds");
    loop {
        match watcher.scan() {
            Ok(ready) => {
                for path in ready {
                    match install(&registry, &path).await {
                        Ok(outcome) => {
                            tracing::info!(path = %path.display(), ?outcome, "watched connector")
                        }
                        Err(e) => {
                            tracing::warn!(path = %path.display(), "watched connector not installed: {e:#}")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(dir = %dir.display(), "cannot list the watched folder: {e}"),
        }
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_ready_once_it_stopped_changing() {
        let dir = tempfile::tempdir().unwrap();
        let mut watcher = Watcher::new(dir.path());
        let file = dir.path().join("a.wasm");
        std::fs::write(&file, b"one").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();
        assert!(
            watcher.scan().unwrap().is_empty(),
            "just seen: may be mid-copy"
        );
        assert_eq!(watcher.scan().unwrap(), std::slice::from_ref(&file));
        assert!(watcher.scan().unwrap().is_empty(), "handled once");

        std::fs::write(&file, b"longer contents").unwrap();
        assert!(watcher.scan().unwrap().is_empty());
        std::fs::write(&file, b"longer contents, still being written").unwrap();
        assert!(watcher.scan().unwrap().is_empty(), "changed again: wait");
        assert_eq!(watcher.scan().unwrap(), std::slice::from_ref(&file));

        std::fs::remove_file(&file).unwrap();
        assert!(watcher.scan().unwrap().is_empty());
        std::fs::write(&file, b"longer contents, still being written").unwrap();
        watcher.scan().unwrap();
        assert_eq!(watcher.scan().unwrap(), [file], "put back: handled again");
    }
}
