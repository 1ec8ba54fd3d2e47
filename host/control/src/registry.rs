//! The connector registry: versions stored by content hash, one active
//! version per connector id, switched atomically.
//!
//! A call takes an `Arc` of the component when it starts, so activating or
//! rolling back never disturbs calls in flight: they finish on the version
//! they started with, and the next call takes the new one.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use switchyard_runtime::types::ConnectorInfo;
use switchyard_runtime::{ConnectorComponent, LimitsError, LoadError, Runtime, SandboxLimits};
use switchyard_store::model::{Millis, now_ms};
use switchyard_store::{Store, StoreError};

/// An installed version of a connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// The connector's id.
    pub connector_id: String,
    /// Its semantic version.
    pub version: String,
    /// SHA-256 of the component, hex.
    pub hash: String,
    /// Size of the component in bytes.
    pub size_bytes: u64,
    /// When it was installed.
    pub installed_at: Millis,
    /// Its self-description.
    pub info: ConnectorInfo,
}

/// Which version of a connector is active, and the ones before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    /// The connector's id.
    pub connector_id: String,
    /// Hash of the active version.
    pub active_hash: String,
    /// Hashes previously active, oldest first: what rollback returns to.
    pub history: Vec<String>,
    /// When the active version last changed.
    pub updated_at: Millis,
}

/// The sandbox limits an operator set for a connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsRecord {
    /// The connector's id.
    pub connector_id: String,
    /// The limits every call of every version of the connector runs under.
    pub limits: SandboxLimits,
    /// When they were set.
    pub updated_at: Millis,
}

/// The outcome of an install.
#[derive(Debug, Clone, PartialEq)]
pub struct Installed {
    /// The installed version.
    pub record: VersionRecord,
    /// False when these very bytes were already installed (nothing changed).
    pub new: bool,
    /// Whether it became the active version (the first version of a connector).
    pub activated: bool,
}

/// A registry operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The component is invalid.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Another build already uses this version number.
    #[error(
        "{connector_id} {version} is already installed with different contents; bump the version"
    )]
    VersionExists {
        /// The connector.
        connector_id: String,
        /// The version.
        version: String,
    },
    /// No such connector.
    #[error("no connector `{0}` is installed")]
    UnknownConnector(String),
    /// No such version.
    #[error("connector `{connector_id}` has no version `{version}`")]
    UnknownVersion {
        /// The connector.
        connector_id: String,
        /// The version asked for.
        version: String,
    },
    /// Nothing to roll back to.
    #[error("connector `{0}` has no previous version to roll back to")]
    NothingToRollBack(String),
    /// Sandbox limits out of their accepted ranges.
    #[error("invalid limits: {0}")]
    InvalidLimits(#[from] LimitsError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RegistryError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::Load(e) => e.code(),
            RegistryError::VersionExists { .. } => "connector_version_exists",
            RegistryError::UnknownConnector(_) => "connector_not_found",
            RegistryError::UnknownVersion { .. } => "connector_version_not_found",
            RegistryError::NothingToRollBack(_) => "connector_no_previous_version",
            RegistryError::InvalidLimits(_) => "connector_limits_invalid",
            RegistryError::Store(_) => "internal_error",
        }
    }
}

/// Installed connectors and their active versions.
pub struct Registry {
    runtime: Runtime,
    store: Arc<Store>,
    /// Connector id → active component: the atomic switch.
    active: RwLock<HashMap<String, Arc<ConnectorComponent>>>,
    /// Components loaded so far, by hash (active, pinned, or recently used).
    loaded: RwLock<HashMap<String, Arc<ConnectorComponent>>>,
    /// Connector id → the limits set for it; absent: the defaults.
    limits: RwLock<HashMap<String, SandboxLimits>>,
    /// Serializes installs, activations and rollbacks: each reads the
    /// activation state and writes it back.
    switching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

fn version_key(connector_id: &str, hash: &str) -> String {
    format!("version/{connector_id}/{hash}")
}

fn activation_key(connector_id: &str) -> String {
    format!("active/{connector_id}")
}

fn limits_key(connector_id: &str) -> String {
    format!("limits/{connector_id}")
}

impl Registry {
    /// Opens the registry and loads every active version (from the artifact
    /// cache when it has them).
    pub async fn open(runtime: Runtime, store: Arc<Store>) -> Result<Self, RegistryError> {
        let registry = Registry {
            runtime,
            store,
            active: RwLock::new(HashMap::new()),
            loaded: RwLock::new(HashMap::new()),
            limits: RwLock::new(HashMap::new()),
            switching: tokio::sync::Mutex::new(()),
        };
        let limits: Vec<LimitsRecord> = registry.store.list_connector_docs("limits/")?;
        registry
            .limits
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .extend(
                limits
                    .into_iter()
                    .map(|record| (record.connector_id, record.limits)),
            );
        let activations: Vec<Activation> = registry.store.list_connector_docs("active/")?;
        for activation in activations {
            let component = registry.load_hash(&activation.active_hash).await?;
            registry
                .active
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(activation.connector_id, component);
        }
        Ok(registry)
    }

    /// The runtime the components run on.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    async fn load_hash(&self, hash: &str) -> Result<Arc<ConnectorComponent>, RegistryError> {
        if let Some(component) = self
            .loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(hash)
        {
            return Ok(component.clone());
        }
        let wasm = self.store.get_component(hash)?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "component {hash} is registered but its bytes are missing"
            ))
        })?;
        let component = self.runtime.load(&wasm).await?;
        self.loaded
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash.to_string(), component.clone());
        Ok(component)
    }

    /// Installs a component after validating it. Installing the same bytes
    /// twice is harmless; a different build under an existing version number
    /// is refused. The first version of a connector becomes active.
    pub async fn install(&self, wasm: &[u8]) -> Result<VersionRecord, RegistryError> {
        Ok(self.install_component(wasm).await?.record)
    }

    /// Like [`Registry::install`], and says whether anything changed. A
    /// component is loaded (so compiled, linked against the sandbox and
    /// described) before anything is stored: an invalid one changes nothing.
    pub async fn install_component(&self, wasm: &[u8]) -> Result<Installed, RegistryError> {
        let component = self.runtime.load(wasm).await?;
        let info = component.info().clone();
        let hash = component.hash().to_string();
        let _switching = self.switching.lock().await;
        if let Some(existing) = self.find_version(&info.id, &info.version)? {
            if existing.hash == hash {
                return Ok(Installed {
                    record: existing,
                    new: false,
                    activated: false,
                });
            }
            return Err(RegistryError::VersionExists {
                connector_id: info.id,
                version: info.version,
            });
        }
        let record = VersionRecord {
            connector_id: info.id.clone(),
            version: info.version.clone(),
            hash: hash.clone(),
            size_bytes: wasm.len() as u64,
            installed_at: now_ms(),
            info,
        };
        self.store.put_component(&hash, wasm)?;
        self.store
            .put_connector_doc(&version_key(&record.connector_id, &hash), &record)?;
        self.loaded
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash.clone(), component.clone());
        let activated = self.activation(&record.connector_id)?.is_none();
        if activated {
            self.switch(&record.connector_id, component, None)?;
        }
        tracing::info!(connector = %record.connector_id, version = %record.version, %hash, activated, "connector installed");
        Ok(Installed {
            record,
            new: true,
            activated,
        })
    }

    /// Makes `version` the active version of `connector_id`.
    pub async fn activate(
        &self,
        connector_id: &str,
        version: &str,
    ) -> Result<VersionRecord, RegistryError> {
        let record = self.find_version(connector_id, version)?.ok_or_else(|| {
            RegistryError::UnknownVersion {
                connector_id: connector_id.to_string(),
                version: version.to_string(),
            }
        })?;
        let component = self.load_hash(&record.hash).await?;
        let _switching = self.switching.lock().await;
        let current = self.activation(connector_id)?;
        if current
            .as_ref()
            .is_some_and(|a| a.active_hash == record.hash)
        {
            return Ok(record);
        }
        self.switch(connector_id, component, current)?;
        tracing::info!(
            connector = connector_id,
            version,
            "connector version activated"
        );
        Ok(record)
    }

    /// Returns to the version that was active before the current one.
    pub async fn rollback(&self, connector_id: &str) -> Result<VersionRecord, RegistryError> {
        let _switching = self.switching.lock().await;
        let mut activation = self
            .activation(connector_id)?
            .ok_or_else(|| RegistryError::UnknownConnector(connector_id.to_string()))?;
        let previous = activation
            .history
            .pop()
            .ok_or_else(|| RegistryError::NothingToRollBack(connector_id.to_string()))?;
        let component = self.load_hash(&previous).await?;
        activation.active_hash = previous.clone();
        activation.updated_at = now_ms();
        self.store
            .put_connector_doc(&activation_key(connector_id), &activation)?;
        self.active
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(connector_id.to_string(), component);
        let record = self.version_by_hash(connector_id, &previous)?;
        tracing::info!(connector = connector_id, version = %record.version, "connector rolled back");
        Ok(record)
    }

    /// Durably records the new active version, then swaps it in memory.
    fn switch(
        &self,
        connector_id: &str,
        component: Arc<ConnectorComponent>,
        current: Option<Activation>,
    ) -> Result<(), RegistryError> {
        let mut history = Vec::new();
        if let Some(current) = current {
            history = current.history;
            history.push(current.active_hash);
        }
        let activation = Activation {
            connector_id: connector_id.to_string(),
            active_hash: component.hash().to_string(),
            history,
            updated_at: now_ms(),
        };
        self.store
            .put_connector_doc(&activation_key(connector_id), &activation)?;
        self.active
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(connector_id.to_string(), component);
        Ok(())
    }

    /// The active component of a connector.
    pub fn active(&self, connector_id: &str) -> Option<Arc<ConnectorComponent>> {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(connector_id)
            .cloned()
    }

    /// The component a connection should call: its pinned version, or the
    /// active one.
    pub async fn resolve(
        &self,
        connector_id: &str,
        pinned_version: Option<&str>,
    ) -> Result<Arc<ConnectorComponent>, RegistryError> {
        match pinned_version {
            None => self
                .active(connector_id)
                .ok_or_else(|| RegistryError::UnknownConnector(connector_id.to_string())),
            Some(version) => {
                let record = self.find_version(connector_id, version)?.ok_or_else(|| {
                    RegistryError::UnknownVersion {
                        connector_id: connector_id.to_string(),
                        version: version.to_string(),
                    }
                })?;
                self.load_hash(&record.hash).await
            }
        }
    }

    /// The activation state of a connector.
    pub fn activation(&self, connector_id: &str) -> Result<Option<Activation>, RegistryError> {
        Ok(self
            .store
            .get_connector_doc(&activation_key(connector_id))?)
    }

    /// Every installed version of a connector, oldest semantic version first.
    pub fn versions(&self, connector_id: &str) -> Result<Vec<VersionRecord>, RegistryError> {
        let mut versions: Vec<VersionRecord> = self
            .store
            .list_connector_docs(&format!("version/{connector_id}/"))?;
        versions.sort_by(|a, b| {
            let parse = |v: &str| semver::Version::parse(v).ok();
            parse(&a.version).cmp(&parse(&b.version))
        });
        Ok(versions)
    }

    /// The ids of every installed connector.
    pub fn connector_ids(&self) -> Result<Vec<String>, RegistryError> {
        let activations: Vec<Activation> = self.store.list_connector_docs("active/")?;
        Ok(activations.into_iter().map(|a| a.connector_id).collect())
    }

    /// The installed version `version` of a connector.
    pub fn version(
        &self,
        connector_id: &str,
        version: &str,
    ) -> Result<VersionRecord, RegistryError> {
        self.find_version(connector_id, version)?
            .ok_or_else(|| RegistryError::UnknownVersion {
                connector_id: connector_id.to_string(),
                version: version.to_string(),
            })
    }

    /// The active version of a connector, if it is installed.
    pub fn active_version(
        &self,
        connector_id: &str,
    ) -> Result<Option<VersionRecord>, RegistryError> {
        match self.activation(connector_id)? {
            None => Ok(None),
            Some(activation) => Ok(Some(
                self.version_by_hash(connector_id, &activation.active_hash)?,
            )),
        }
    }

    /// The limits calls of a connector run under: the ones set for it, or
    /// the defaults.
    pub fn limits(&self, connector_id: &str) -> SandboxLimits {
        self.limits
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(connector_id)
            .copied()
            .unwrap_or_default()
    }

    /// Whether limits were set for a connector (rather than the defaults).
    pub fn has_custom_limits(&self, connector_id: &str) -> bool {
        self.limits
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(connector_id)
    }

    /// Sets the limits of an installed connector, after checking their
    /// ranges (the memory cap against the runtime's pool slot). They apply
    /// to calls that start afterwards, whatever the version.
    pub fn set_limits(
        &self,
        connector_id: &str,
        limits: SandboxLimits,
    ) -> Result<SandboxLimits, RegistryError> {
        if self.activation(connector_id)?.is_none() {
            return Err(RegistryError::UnknownConnector(connector_id.to_string()));
        }
        limits.validate(self.runtime.config().max_memory_bytes)?;
        let record = LimitsRecord {
            connector_id: connector_id.to_string(),
            limits,
            updated_at: now_ms(),
        };
        // Written under the map's lock so the stored and the live limits
        // cannot end up from two different calls.
        let mut live = self.limits.write().unwrap_or_else(|e| e.into_inner());
        self.store
            .put_connector_doc(&limits_key(connector_id), &record)?;
        live.insert(connector_id.to_string(), limits);
        tracing::info!(connector = connector_id, ?limits, "connector limits set");
        Ok(limits)
    }

    fn find_version(
        &self,
        connector_id: &str,
        version: &str,
    ) -> Result<Option<VersionRecord>, RegistryError> {
        Ok(self
            .versions(connector_id)?
            .into_iter()
            .find(|v| v.version == version))
    }

    fn version_by_hash(
        &self,
        connector_id: &str,
        hash: &str,
    ) -> Result<VersionRecord, RegistryError> {
        self.store
            .get_connector_doc(&version_key(connector_id, hash))?
            .ok_or_else(|| RegistryError::UnknownConnector(connector_id.to_string()))
    }
}
