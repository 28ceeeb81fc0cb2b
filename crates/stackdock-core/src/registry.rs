//! A registry of adapters, keyed by dock id.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::adapter::DockAdapter;
use crate::factory::{CredentialSource, Credentials, DockConfig, DockFactories};
use crate::{Error, Result};

/// The adapters an application has configured, keyed by dock id.
///
/// A dock is one configured account of one provider; an agency panel may
/// have many docks per provider. When an adapter is configured without an
/// explicit dock id its dock id is its provider id, so a registry with one
/// dock per provider is keyed by provider name.
///
/// ```
/// use std::sync::Arc;
/// use stackdock_core::{DockRegistry, InMemoryAdapter};
/// let mut registry = DockRegistry::new();
/// registry.insert(Arc::new(InMemoryAdapter::new("memory"))).unwrap();
/// assert!(registry.get("memory").is_some());
/// assert_eq!(registry.by_provider("memory").count(), 1);
/// ```
///
/// Every dock inserted is wrapped in the [standard layers](crate::layer::standard)
/// (retries of temporary failures, then the capability gate, validation and
/// error context), so what [`get`](DockRegistry::get) returns keeps the
/// adapter contract's checks whatever the adapter itself does.
#[derive(Debug, Default, Clone)]
pub struct DockRegistry {
    docks: BTreeMap<String, Arc<dyn DockAdapter>>,
}

impl DockRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add an adapter under its dock id; a second adapter with the same id is
    /// [`AlreadyExists`](crate::ErrorKind::AlreadyExists).
    pub fn insert(&mut self, adapter: Arc<dyn DockAdapter>) -> Result<()> {
        self.insert_layered(crate::layer::standard(adapter))
    }

    /// Add an adapter exactly as given, with whatever layers the caller put
    /// around it (e.g. [`CheckedLayer`](crate::layer::CheckedLayer) without
    /// retries). Adapters should not be inserted bare: the layers do the
    /// checks adapters rely on.
    pub fn insert_layered(&mut self, adapter: Arc<dyn DockAdapter>) -> Result<()> {
        let id = adapter.dock_id().to_owned();
        if self.docks.contains_key(&id) {
            return Err(Error::already_exists(format!("dock {id}")));
        }
        self.docks.insert(id, adapter);
        Ok(())
    }

    /// Build every configured dock through its provider's factory, resolving
    /// credential references through `credentials`. Stops at the first dock
    /// that cannot be built, with an error naming it (and the key, for a
    /// credential). See [`factory`](crate::factory).
    pub async fn from_config(
        docks: &[DockConfig],
        factories: &DockFactories,
        credentials: &dyn CredentialSource,
    ) -> Result<Self> {
        let mut registry = DockRegistry::new();
        for dock in docks {
            let resolved = Credentials::resolve(dock, credentials).await?;
            registry.insert(factories.build(dock, &resolved)?)?;
        }
        Ok(registry)
    }

    /// Remove and return the adapter with this dock id.
    pub fn remove(&mut self, dock_id: &str) -> Option<Arc<dyn DockAdapter>> {
        self.docks.remove(dock_id)
    }

    /// The adapter with this dock id.
    pub fn get(&self, dock_id: &str) -> Option<Arc<dyn DockAdapter>> {
        self.docks.get(dock_id).cloned()
    }

    /// The adapter with this dock id, or [`NotFound`](crate::ErrorKind::NotFound).
    pub fn require(&self, dock_id: &str) -> Result<Arc<dyn DockAdapter>> {
        self.get(dock_id)
            .ok_or_else(|| Error::not_found(format!("dock {dock_id}")))
    }

    /// Every adapter of one provider.
    pub fn by_provider<'a>(
        &'a self,
        provider: &'a str,
    ) -> impl Iterator<Item = &'a Arc<dyn DockAdapter>> + 'a {
        self.docks
            .values()
            .filter(move |a| a.provider().id == provider)
    }

    /// Every adapter, by dock id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<dyn DockAdapter>)> {
        self.docks.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of docks.
    pub fn len(&self) -> usize {
        self.docks.len()
    }

    /// Whether there are no docks.
    pub fn is_empty(&self) -> bool {
        self.docks.is_empty()
    }
}
