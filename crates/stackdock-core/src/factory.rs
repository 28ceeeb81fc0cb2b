//! Docks from configuration: a provider id, typed settings and credential
//! *references*, built by the provider's [`DockFactory`].
//!
//! Configuration never holds a secret, only where to get it
//! ([`CredentialRef`]: `env:NAME`, `file:/path`, `vault:KEY`). A
//! [`CredentialSource`] resolves the references (environment and files here;
//! the runtime's encrypted vault in `stackdock-runtime`), then the factory
//! builds the adapter synchronously — connections are opened lazily, on first
//! use, and migrations run only when asked. Several docks of one provider (two
//! PostgreSQL servers, three PowerDNS servers) are just several entries.
//!
//! ```
//! use stackdock_core::factory::{DockConfig, DockFactories, EnvAndFiles};
//! use stackdock_core::DockRegistry;
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let docks: Vec<DockConfig> = serde_json::from_str(r#"[
//!     {"id": "eu", "provider": "memory"},
//!     {"id": "us", "provider": "memory"}
//! ]"#)?;
//! let factories = DockFactories::new().with_memory();
//! let registry = DockRegistry::from_config(&docks, &factories, &EnvAndFiles).await?;
//! assert_eq!(registry.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::adapter::DockAdapter;
use crate::memory::InMemoryAdapter;
use crate::secret::{ExposeSecret, SecretString};
use crate::{Error, Result};

/// One dock as configured: which provider, its settings, and where its
/// credentials come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockConfig {
    /// The dock id, unique in a registry (e.g. `pg-eu`, `dns-main`).
    pub id: String,
    /// The provider id a factory is registered under (e.g. `postgres`).
    pub provider: String,
    /// Provider settings, deserialised by the provider's factory into its
    /// typed config. Never secrets: those go in `credentials`.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub settings: serde_json::Value,
    /// Credential name (as the provider names it, e.g. `password`, `token`)
    /// to where the value comes from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, CredentialRef>,
}

impl DockConfig {
    /// A dock of `provider` with no settings or credentials yet.
    pub fn new(id: impl Into<String>, provider: impl Into<String>) -> Self {
        DockConfig {
            id: id.into(),
            provider: provider.into(),
            settings: serde_json::Value::Null,
            credentials: BTreeMap::new(),
        }
    }

    /// The settings as the provider's typed config; errors name the dock.
    pub fn settings_as<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let value = if self.settings.is_null() {
            serde_json::Value::Object(Default::default())
        } else {
            self.settings.clone()
        };
        serde_json::from_value(value)
            .map_err(|e| Error::config(format!("dock {}: settings: {e}", self.id)))
    }
}

/// Where a credential comes from. Written `env:NAME`, `file:/path` or
/// `vault:KEY` in configuration; the value itself is never written there.
///
/// ```
/// use stackdock_core::factory::CredentialRef;
/// let r: CredentialRef = "env:PG_PASSWORD".parse().unwrap();
/// assert_eq!(r, CredentialRef::Env("PG_PASSWORD".into()));
/// assert_eq!(r.to_string(), "env:PG_PASSWORD");
/// assert!("hunter2".parse::<CredentialRef>().is_err()); // a literal is refused
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum CredentialRef {
    /// An environment variable.
    Env(String),
    /// A file's contents (one trailing newline removed).
    File(PathBuf),
    /// A key in the control plane's encrypted vault.
    Vault(String),
}

impl FromStr for CredentialRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid_input(
                "credentials",
                "expected env:NAME, file:/path or vault:KEY (a secret is never written inline)",
            )
        };
        let (scheme, rest) = s.split_once(':').ok_or_else(bad)?;
        if rest.is_empty() || rest.chars().any(char::is_control) {
            return Err(bad());
        }
        match scheme {
            "env" => Ok(CredentialRef::Env(rest.to_owned())),
            "file" => Ok(CredentialRef::File(PathBuf::from(rest))),
            "vault" => Ok(CredentialRef::Vault(rest.to_owned())),
            _ => Err(bad()),
        }
    }
}

impl TryFrom<String> for CredentialRef {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<CredentialRef> for String {
    fn from(r: CredentialRef) -> String {
        r.to_string()
    }
}

impl fmt::Display for CredentialRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialRef::Env(name) => write!(f, "env:{name}"),
            CredentialRef::File(path) => write!(f, "file:{}", path.display()),
            CredentialRef::Vault(key) => write!(f, "vault:{key}"),
        }
    }
}

/// Resolves credential references. Async, since a vault reads a store.
#[async_trait]
pub trait CredentialSource: Send + Sync {
    /// The secret `reference` points to, for credential `key` of `dock`.
    /// Errors name the dock and the key, never the value.
    async fn resolve(
        &self,
        dock: &str,
        key: &str,
        reference: &CredentialRef,
    ) -> Result<SecretString>;
}

/// Resolves `env:` and `file:` references; `vault:` needs the runtime's vault.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvAndFiles;

#[async_trait]
impl CredentialSource for EnvAndFiles {
    async fn resolve(
        &self,
        dock: &str,
        key: &str,
        reference: &CredentialRef,
    ) -> Result<SecretString> {
        let missing = |why: String| Error::config(format!("dock {dock}: credential {key}: {why}"));
        match reference {
            CredentialRef::Env(name) => std::env::var(name)
                .map(SecretString::from)
                .map_err(|_| missing(format!("environment variable {name} is not set"))),
            CredentialRef::File(path) => {
                let text = tokio::task::spawn_blocking({
                    let path = path.clone();
                    move || std::fs::read_to_string(path)
                })
                .await
                .map_err(|e| missing(format!("reading the file failed: {e}")))?
                .map_err(|e| missing(format!("cannot read {}: {}", path.display(), e.kind())))?;
                let text = text.strip_suffix('\n').unwrap_or(&text);
                let text = text.strip_suffix('\r').unwrap_or(text);
                Ok(SecretString::from(text.to_owned()))
            }
            CredentialRef::Vault(_) => Err(missing(
                "vault references need the control plane's vault (stackdock-runtime)".into(),
            )),
        }
    }
}

/// A dock's resolved credentials, handed to its factory. Never printed.
#[derive(Default)]
pub struct Credentials {
    dock: String,
    values: BTreeMap<String, SecretString>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("dock", &self.dock)
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Credentials {
    /// Resolves every reference of `dock` through `source`.
    pub async fn resolve(dock: &DockConfig, source: &dyn CredentialSource) -> Result<Self> {
        let mut values = BTreeMap::new();
        for (key, reference) in &dock.credentials {
            values.insert(key.clone(), source.resolve(&dock.id, key, reference).await?);
        }
        Ok(Credentials {
            dock: dock.id.clone(),
            values,
        })
    }

    /// Credentials given directly (tests, embedding applications).
    pub fn from_values(
        dock: impl Into<String>,
        values: impl IntoIterator<Item = (String, SecretString)>,
    ) -> Self {
        Credentials {
            dock: dock.into(),
            values: values.into_iter().collect(),
        }
    }

    /// The credential `key`, if configured.
    pub fn get(&self, key: &str) -> Option<&SecretString> {
        self.values.get(key)
    }

    /// The credential `key`, or a config error naming the dock and the key.
    pub fn require(&self, key: &str) -> Result<&SecretString> {
        self.get(key).ok_or_else(|| {
            Error::config(format!(
                "dock {}: credential {key} is required (credentials.{key} = \"env:NAME\" | \"file:/path\" | \"vault:KEY\")",
                self.dock
            ))
        })
    }

    /// The credential `key` as plain text, for a factory handing it to a
    /// client config. Keep the result in a `SecretString`.
    pub fn require_text(&self, key: &str) -> Result<String> {
        Ok(self.require(key)?.expose_secret().to_owned())
    }
}

/// Builds one provider's adapters from configuration.
///
/// One shape for every provider: synchronous, no I/O (connections are opened
/// lazily on first use; migrations only by an explicit call).
pub trait DockFactory: Send + Sync {
    /// The provider id this factory builds (matches [`DockConfig::provider`]).
    fn provider(&self) -> &str;

    /// The adapter for `dock`, with its resolved `credentials`.
    fn build(&self, dock: &DockConfig, credentials: &Credentials) -> Result<Arc<dyn DockAdapter>>;
}

/// The factories an application knows, by provider id.
#[derive(Default, Clone)]
pub struct DockFactories {
    factories: BTreeMap<String, Arc<dyn DockFactory>>,
}

impl fmt::Debug for DockFactories {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

impl DockFactories {
    /// No factories yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a provider's factory (replacing one of the same provider id).
    pub fn with(mut self, factory: impl DockFactory + 'static) -> Self {
        self.factories
            .insert(factory.provider().to_owned(), Arc::new(factory));
        self
    }

    /// Add the in-memory provider (`memory`), for tests and demos.
    pub fn with_memory(self) -> Self {
        self.with(MemoryFactory)
    }

    /// The provider ids known.
    pub fn providers(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }

    /// Build `dock` (without layers) with already resolved credentials.
    pub fn build(
        &self,
        dock: &DockConfig,
        credentials: &Credentials,
    ) -> Result<Arc<dyn DockAdapter>> {
        crate::validate::resource_name("id", &dock.id, 128)
            .map_err(|e| e.with_context("dock", dock.id.clone()))?;
        let factory = self.factories.get(&dock.provider).ok_or_else(|| {
            let known: Vec<_> = self.providers().collect();
            Error::config(format!(
                "dock {}: unknown provider {:?} (known: {})",
                dock.id,
                dock.provider,
                known.join(", ")
            ))
        })?;
        let adapter = factory.build(dock, credentials)?;
        if adapter.dock_id() != dock.id {
            return Err(Error::internal(format!(
                "the {} factory built dock {:?} for configured dock {:?}",
                dock.provider,
                adapter.dock_id(),
                dock.id
            )));
        }
        Ok(adapter)
    }
}

/// Builds [`InMemoryAdapter`]s: provider `memory`, no settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryFactory;

impl DockFactory for MemoryFactory {
    fn provider(&self) -> &str {
        "memory"
    }

    fn build(&self, dock: &DockConfig, _credentials: &Credentials) -> Result<Arc<dyn DockAdapter>> {
        Ok(Arc::new(InMemoryAdapter::new(dock.id.clone())))
    }
}
