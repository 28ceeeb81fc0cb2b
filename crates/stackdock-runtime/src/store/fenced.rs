//! [`FencedStore`]: a store as the holder of one claim sees it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use stackdock_core::{ResourceId, ResourceKind};

use super::Store;
use crate::controller::ScopeRef;
use crate::model::{
    AuditEntry, AuditQuery, ClaimedRun, DockSync, InventoryDelta, InventoryItem, Lease, Operation,
    OperationRun, Pruned, Retention, RunId, RunStatus, SealedSecret, StartOutcome, StepState,
};
use crate::Result;

/// `inner` as the holder of `lease` writes to it: the state of the claimed
/// run — its steps ([`Store::put_step`], [`Store::put_step_audited`]) and
/// its end ([`Store::finish_run`]) — goes through the fenced writes
/// ([`Store::put_step_fenced`], [`Store::put_step_audited_fenced`],
/// [`Store::finish_run_fenced`]), refused with
/// [`Error::LeaseLost`](crate::Error::LeaseLost) once another worker claimed
/// the run. Everything else passes through unchanged (audit entries too: a
/// call a lapsed worker made really happened, and the log keeps it).
///
/// A [`Worker`](crate::worker::Worker) executes every claimed run through
/// one of these.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use stackdock_runtime::model::{Operation, StepState};
/// use stackdock_runtime::store::{FencedStore, MemoryStore, Store};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
/// store.submit_run("acme", Operation::Destroy, "alice", &serde_json::json!({})).await?;
/// let claim = store.claim_run("w1", Duration::from_secs(30)).await?.unwrap();
/// let fenced = FencedStore::new(store.clone(), claim.lease.clone());
/// fenced.put_step(&StepState::new("acme", "zone", "dns"), Some(&claim.run.id)).await?;
///
/// store.release_run(&claim.lease).await?; // the claim ends: w1 is fenced off
/// let refused = fenced.put_step(&StepState::new("acme", "zone", "dns"), Some(&claim.run.id)).await;
/// assert!(matches!(refused, Err(stackdock_runtime::Error::LeaseLost { .. })));
/// # Ok::<(), stackdock_runtime::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct FencedStore {
    inner: Arc<dyn Store>,
    lease: Lease,
}

impl FencedStore {
    /// `inner`, written to as the holder of `lease`.
    pub fn new(inner: Arc<dyn Store>, lease: Lease) -> Self {
        FencedStore { inner, lease }
    }

    /// The claim this store writes as.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }
}

#[async_trait]
impl Store for FencedStore {
    async fn start_run(&self, scope: &str, op: Operation, actor: &str) -> Result<StartOutcome> {
        self.inner.start_run(scope, op, actor).await
    }

    async fn submit_run(
        &self,
        scope: &str,
        op: Operation,
        actor: &str,
        request: &serde_json::Value,
    ) -> Result<StartOutcome> {
        self.inner.submit_run(scope, op, actor, request).await
    }

    async fn claim_run(&self, worker: &str, lease_for: Duration) -> Result<Option<ClaimedRun>> {
        self.inner.claim_run(worker, lease_for).await
    }

    async fn renew_lease(&self, lease: &Lease, lease_for: Duration) -> Result<Option<Lease>> {
        self.inner.renew_lease(lease, lease_for).await
    }

    async fn release_run(&self, lease: &Lease) -> Result<bool> {
        self.inner.release_run(lease).await
    }

    async fn run_request(&self, id: &RunId) -> Result<Option<serde_json::Value>> {
        self.inner.run_request(id).await
    }

    async fn prune(&self, retention: &Retention) -> Result<Pruned> {
        self.inner.prune(retention).await
    }

    async fn wait_for_work(&self, timeout: Duration) {
        self.inner.wait_for_work(timeout).await;
    }

    /// The claimed run: fenced. Another run: passed through.
    async fn finish_run(
        &self,
        id: &RunId,
        status: RunStatus,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Result<OperationRun> {
        if *id == self.lease.run_id {
            self.inner
                .finish_run_fenced(&self.lease, status, reason, message)
                .await
        } else {
            self.inner.finish_run(id, status, reason, message).await
        }
    }

    async fn finish_run_fenced(
        &self,
        lease: &Lease,
        status: RunStatus,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Result<OperationRun> {
        self.inner
            .finish_run_fenced(lease, status, reason, message)
            .await
    }

    async fn request_cancel(&self, id: &RunId) -> Result<OperationRun> {
        self.inner.request_cancel(id).await
    }

    async fn get_run(&self, id: &RunId) -> Result<Option<OperationRun>> {
        self.inner.get_run(id).await
    }

    async fn active_run(&self, scope: &str) -> Result<Option<OperationRun>> {
        self.inner.active_run(scope).await
    }

    async fn list_runs(&self, scope: &str) -> Result<Vec<OperationRun>> {
        self.inner.list_runs(scope).await
    }

    /// Fenced, whatever `run` says: the only run this store writes for is
    /// the claimed one.
    async fn put_step(&self, state: &StepState, _run: Option<&RunId>) -> Result<()> {
        self.inner.put_step_fenced(state, &self.lease).await
    }

    async fn put_step_fenced(&self, state: &StepState, lease: &Lease) -> Result<()> {
        self.inner.put_step_fenced(state, lease).await
    }

    /// Fenced, whatever `run` says, with the entry in the same write where
    /// the store can ([`Store::put_step_audited_fenced`]).
    async fn put_step_audited(
        &self,
        state: &StepState,
        _run: Option<&RunId>,
        audit: &AuditEntry,
    ) -> Result<i64> {
        self.inner
            .put_step_audited_fenced(state, &self.lease, audit)
            .await
    }

    async fn put_step_audited_fenced(
        &self,
        state: &StepState,
        lease: &Lease,
        audit: &AuditEntry,
    ) -> Result<i64> {
        self.inner
            .put_step_audited_fenced(state, lease, audit)
            .await
    }

    async fn get_step(&self, scope: &str, step: &str) -> Result<Option<StepState>> {
        self.inner.get_step(scope, step).await
    }

    async fn list_steps(&self, scope: &str) -> Result<Vec<StepState>> {
        self.inner.list_steps(scope).await
    }

    async fn steps_holding(&self, dock: &str, resource: &ResourceId) -> Result<Vec<StepState>> {
        self.inner.steps_holding(dock, resource).await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<i64> {
        self.inner.append_audit(entry).await
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        self.inner.list_audit(query).await
    }

    async fn claim_scope(&self, scope: &str, org: &str) -> Result<String> {
        self.inner.claim_scope(scope, org).await
    }

    async fn scope_org(&self, scope: &str) -> Result<Option<String>> {
        self.inner.scope_org(scope).await
    }

    async fn list_scopes(&self) -> Result<Vec<ScopeRef>> {
        self.inner.list_scopes().await
    }

    async fn sync_inventory(
        &self,
        dock: &str,
        kind: ResourceKind,
        items: &[InventoryItem],
        at: DateTime<Utc>,
    ) -> Result<InventoryDelta> {
        self.inner.sync_inventory(dock, kind, items, at).await
    }

    async fn list_inventory(&self, dock: Option<&str>) -> Result<Vec<InventoryItem>> {
        self.inner.list_inventory(dock).await
    }

    async fn put_dock_sync(&self, sync: &DockSync) -> Result<()> {
        self.inner.put_dock_sync(sync).await
    }

    async fn dock_syncs(&self) -> Result<Vec<DockSync>> {
        self.inner.dock_syncs().await
    }

    async fn put_secret(&self, secret: &SealedSecret) -> Result<()> {
        self.inner.put_secret(secret).await
    }

    async fn get_secret(&self, org: &str, dock: &str, name: &str) -> Result<Option<SealedSecret>> {
        self.inner.get_secret(org, dock, name).await
    }

    async fn list_secrets(&self) -> Result<Vec<SealedSecret>> {
        self.inner.list_secrets().await
    }

    async fn delete_secrets(&self, org: &str, dock: &str) -> Result<u64> {
        self.inner.delete_secrets(org, dock).await
    }
}
