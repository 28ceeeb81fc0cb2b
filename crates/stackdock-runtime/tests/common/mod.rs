//! Shared fixtures: in-memory docks behind a wrapper that counts mutating
//! calls and can hold creates at a gate or add latency.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use stackdock_core::spec::ResourceSpec;
use stackdock_core::{
    Capabilities, Created, DockAdapter, DockRegistry, InMemoryAdapter, ListOptions, Observation,
    Page, ProviderInfo, Resource, ResourceId, ResourceKind, Result,
};
use stackdock_runtime::audit::StoreAudit;
use stackdock_runtime::blueprint::{Blueprint, SecretRef};
use stackdock_runtime::store::{MemoryStore, SqliteStore, Store};
use stackdock_runtime::vault::{AesGcmVault, CredentialVault, MasterKeys};
use stackdock_runtime::Runtime;
use tokio::sync::Semaphore;

/// An in-memory dock that counts mutating calls that took effect (create /
/// update / delete) and all calls, and can hold creates until released or add latency.
#[derive(Debug)]
pub struct Probe {
    pub inner: Arc<InMemoryAdapter>,
    pub mutations: AtomicUsize,
    pub calls: AtomicUsize,
    /// Calls in flight now, and the most ever at once.
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub gate: Option<Arc<Semaphore>>,
    /// Held after a create took effect, before its reply returns.
    pub reply_gate: Option<Arc<Semaphore>>,
    pub latency: Duration,
}

impl Probe {
    pub fn new(dock: &str) -> Self {
        Probe {
            inner: Arc::new(InMemoryAdapter::new(dock)),
            mutations: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            gate: None,
            reply_gate: None,
            latency: Duration::ZERO,
        }
    }

    pub fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    async fn enter(&self) -> InFlight<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let guard = InFlight(&self.in_flight);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        guard
    }

    /// Counts a mutation that took effect (failed calls change nothing),
    /// then waits the latency again: the reply is "in flight", so a task
    /// aborted now made the change without learning it.
    async fn mutated<T>(&self, result: Result<T>) -> Result<T> {
        if result.is_ok() {
            self.mutations.fetch_add(1, Ordering::SeqCst);
        }
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        result
    }
}

/// One call in flight on a probe; counted down on drop.
pub struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl DockAdapter for Probe {
    fn provider(&self) -> &ProviderInfo {
        self.inner.provider()
    }
    fn dock_id(&self) -> &str {
        self.inner.dock_id()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn planned_id(&self, spec: &ResourceSpec) -> Option<ResourceId> {
        self.inner.planned_id(spec)
    }
    async fn check_credentials(&self) -> Result<()> {
        self.inner.check_credentials().await
    }
    async fn list(&self, kind: ResourceKind, options: &ListOptions) -> Result<Page<Resource>> {
        let _in_flight = self.enter().await;
        self.inner.list(kind, options).await
    }
    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        let _in_flight = self.enter().await;
        self.inner.observe(id, desired).await
    }
    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        if let Some(gate) = &self.gate {
            drop(gate.acquire().await.expect("gate open"));
        }
        let in_flight = self.enter().await;
        let result = self.mutated(self.inner.create(spec).await).await;
        drop(in_flight);
        if let Some(gate) = &self.reply_gate {
            drop(gate.acquire().await.expect("gate open"));
        }
        result
    }
    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        let _in_flight = self.enter().await;
        self.mutated(self.inner.update(id, spec).await).await
    }
    async fn delete(&self, id: &ResourceId) -> Result<()> {
        let _in_flight = self.enter().await;
        self.mutated(self.inner.delete(id).await).await
    }
}

/// A runtime over three probes (`pg`, `dns`, `mail`) and a vault.
pub struct Fixture {
    pub runtime: Runtime,
    pub store: Arc<dyn Store>,
    pub vault: Arc<dyn CredentialVault>,
    pub docks: BTreeMap<String, Arc<Probe>>,
    pub dir: Option<tempfile::TempDir>,
}

impl Fixture {
    pub fn memory() -> Self {
        Self::with(Arc::new(MemoryStore::new()), None, |_| {})
    }

    /// Over the in-memory store; every probe (but `slow`) holds its creates
    /// until `gate` has permits.
    pub fn gated(gate: &Arc<Semaphore>) -> Self {
        Self::with(Arc::new(MemoryStore::new()), None, |probe| {
            probe.gate = Some(gate.clone())
        })
    }

    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        Self::with(Arc::new(store), Some(dir), |_| {})
    }

    pub fn with(
        store: Arc<dyn Store>,
        dir: Option<tempfile::TempDir>,
        tune: impl Fn(&mut Probe),
    ) -> Self {
        let mut registry = DockRegistry::new();
        let mut docks = BTreeMap::new();
        for name in ["pg", "dns", "mail", "slow"] {
            let mut probe = Probe::new(name);
            if name != "slow" {
                tune(&mut probe);
            }
            let probe = Arc::new(probe);
            registry.insert(probe.clone()).unwrap();
            docks.insert(name.to_owned(), probe);
        }
        Fixture {
            docks,
            ..Self::over(store, dir, registry)
        }
    }

    /// A runtime on `store` over the docks of `registry` (no probes), with
    /// an AES-GCM vault that keeps its ciphertexts and audit in `store`.
    pub fn over(
        store: Arc<dyn Store>,
        dir: Option<tempfile::TempDir>,
        registry: DockRegistry,
    ) -> Self {
        let vault: Arc<dyn CredentialVault> = Arc::new(AesGcmVault::new(
            store.clone(),
            MasterKeys::generate("k1"),
            Arc::new(StoreAudit::new(store.clone())),
        ));
        let runtime = Runtime::new(store.clone(), registry).with_vault(vault.clone());
        Fixture {
            runtime,
            store,
            vault,
            docks: BTreeMap::new(),
            dir,
        }
    }

    pub fn dock(&self, name: &str) -> &Probe {
        &self.docks[name]
    }

    pub fn mutations(&self) -> usize {
        self.docks.values().map(|d| d.mutations()).sum()
    }

    pub fn calls(&self) -> usize {
        self.docks.values().map(|d| d.calls()).sum()
    }

    pub fn resources(&self) -> usize {
        self.docks.values().map(|d| d.inner.len()).sum()
    }
}

pub const MAILBOX_PASSWORD_ENV: &str = "STACKDOCK_RUNTIME_TEST_MAILBOX_PASSWORD";
pub const SENTINEL: &str = "SENTINEL-9f3c-never-in-state";

/// A tenant: database (generated password), zone, two records using the
/// database's and the zone's outputs, a mailbox (password from env) and a
/// forwarder to it.
pub fn tenant(scope: &str) -> Blueprint {
    std::env::set_var(MAILBOX_PASSWORD_ENV, SENTINEL);
    let zone = format!("{scope}.example");
    Blueprint::builder(scope)
        .org("agency")
        .step_json(
            "db",
            "pg",
            serde_json::json!({"kind": "database", "name": format!("{scope}_app")}),
        )
        .secret("password", SecretRef::Generate)
        .step_json(
            "zone",
            "dns",
            serde_json::json!({"kind": "dns_zone", "name": zone}),
        )
        .step_json(
            "db_txt",
            "dns",
            serde_json::json!({
                "kind": "dns_record", "zone": "${zone.name}", "name": "_db",
                "data": {"type": "TXT", "text": "host=${db.host} port=${db.port} db=${db.name}"}
            }),
        )
        .step_json(
            "www",
            "dns",
            serde_json::json!({
                "kind": "dns_record", "zone": "${zone.name}", "name": "www", "ttl": 300,
                "data": {"type": "CNAME", "target": "web.hosting.example"}
            }),
        )
        .step_json(
            "mailbox",
            "mail",
            serde_json::json!({
                "kind": "mailbox", "address": format!("info@{zone}"), "enabled": true
            }),
        )
        .needs("zone")
        .secret("password", SecretRef::Env(MAILBOX_PASSWORD_ENV.into()))
        .step_json(
            "forwarder",
            "mail",
            serde_json::json!({
                "kind": "mail_forwarder", "source": format!("sales@{zone}"),
                "destinations": ["${mailbox.name}"], "enabled": true
            }),
        )
        .build()
        .unwrap()
}

/// A permanent injected failure (not retried by the retry layer).
pub fn injected() -> stackdock_core::Error {
    stackdock_core::Error::provider(Some(400), None, "injected fault")
}
