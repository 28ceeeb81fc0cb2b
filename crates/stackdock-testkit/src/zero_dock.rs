//! [`ZeroDock`]: a dock that costs next to nothing, for benchmarks that
//! measure what the runtime and its store add.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use stackdock_core::resource::{Database, ResourceMeta};
use stackdock_core::spec::ResourceSpec;
use stackdock_core::{
    async_trait, Capabilities, Created, DockAdapter, DockAdapterExt, Error, ListOptions,
    Observation, Operations, Page, ProviderInfo, Resource, ResourceId, ResourceKind, Result,
};

/// A zero-latency dock of databases with deterministic ids: a database's id
/// is its name, so a look ([`observe`](DockAdapter::observe) of the
/// [`planned_id`](DockAdapter::planned_id)) is one map lookup and a create
/// one insert — next to no provider work.
///
/// The durable-overhead benchmarks run their applies on it and compare them
/// with the raw commits the steps need, so the ratio holds the runtime's
/// cost and not the dock's. (The in-memory adapter's look lists everything
/// it holds and its create scans for the name: O(n) per step, about half of
/// a 1,000-step apply, none of it the runtime's.)
///
/// Only databases; an update is `Unsupported`, a delete of what is gone
/// succeeds. No latency, no faults, no secrets.
///
/// ```
/// use stackdock_core::spec::ResourceSpec;
/// use stackdock_core::{DockAdapter, DockAdapterExt};
/// use stackdock_testkit::ZeroDock;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dock = ZeroDock::new("zero");
/// let spec: ResourceSpec =
///     serde_json::from_value(serde_json::json!({"kind": "database", "name": "app"})).unwrap();
/// assert_eq!(dock.planned_id(&spec).unwrap().id, "app");
/// assert!(dock.find(&spec).await.unwrap().is_none());
/// let created = dock.create(&spec).await.unwrap();
/// assert_eq!(created.resource.id().id, "app");
/// assert!(dock.find(&spec).await.unwrap().is_some());
///
/// let other = ZeroDock::new("zero");
/// let _took = other.time_looks_and_creates(&[spec.clone()]).await;
/// assert!(other.find(&spec).await.unwrap().is_some());
/// # });
/// ```
#[derive(Debug)]
pub struct ZeroDock {
    info: ProviderInfo,
    dock: String,
    databases: Mutex<HashMap<String, Resource>>,
}

impl ZeroDock {
    /// An empty dock with id `dock` (provider `zero`).
    pub fn new(dock: &str) -> Self {
        ZeroDock {
            info: ProviderInfo::new("zero", "Zero latency"),
            dock: dock.to_owned(),
            databases: Mutex::default(),
        }
    }

    /// What the dock calls of `specs` cost by themselves, with no runtime
    /// and no store: each one's look ([`find`](DockAdapterExt::find)) and
    /// create, one after another, on this dock. The benchmarks print it
    /// next to their applies for context.
    ///
    /// # Panics
    ///
    /// If a look finds its resource already there or a call fails (a
    /// benchmark's setup error).
    pub async fn time_looks_and_creates(&self, specs: &[ResourceSpec]) -> Duration {
        let start = Instant::now();
        for spec in specs {
            assert!(self.find(spec).await.unwrap().is_none());
            self.create(spec).await.unwrap();
        }
        start.elapsed()
    }

    fn database(&self, name: &str) -> Resource {
        let meta = ResourceMeta::new("zero", &self.dock, ResourceKind::Database, name, name);
        Resource::Database(Database {
            meta,
            engine: "zero".into(),
            owner: None,
            size_bytes: None,
            connection_limit: None,
            connection: None,
        })
    }

    fn databases(&self) -> MutexGuard<'_, HashMap<String, Resource>> {
        self.databases.lock().unwrap()
    }
}

#[async_trait]
impl DockAdapter for ZeroDock {
    fn provider(&self) -> &ProviderInfo {
        &self.info
    }
    fn dock_id(&self) -> &str {
        &self.dock
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new().with_kind(ResourceKind::Database, Operations::NO_UPDATE)
    }
    fn planned_id(&self, spec: &ResourceSpec) -> Option<ResourceId> {
        Some(ResourceId::new(spec.kind(), spec.name()))
    }
    async fn check_credentials(&self) -> Result<()> {
        Ok(())
    }
    async fn list(&self, _kind: ResourceKind, _options: &ListOptions) -> Result<Page<Resource>> {
        Ok(Page::last(self.databases().values().cloned().collect()))
    }
    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        Ok(match self.databases().get(&id.id) {
            Some(resource) => Observation::of(resource.clone(), desired),
            None => Observation::absent(),
        })
    }
    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        let resource = self.database(spec.name());
        self.databases()
            .insert(spec.name().to_owned(), resource.clone());
        Ok(Created::new(resource))
    }
    async fn update(&self, id: &ResourceId, _spec: &ResourceSpec) -> Result<Resource> {
        Err(Error::unsupported(format!("update of {id}"), "zero"))
    }
    async fn delete(&self, id: &ResourceId) -> Result<()> {
        self.databases().remove(&id.id);
        Ok(())
    }
}
