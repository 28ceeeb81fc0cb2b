//! How many durable writes the runtime makes: two per fresh step (intent,
//! then outcome with its audit entry and outputs), none for what is up to
//! date. Counted through a store wrapper, so the counts hold for any store.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::Fixture;
use stackdock_core::ResourceId;
use stackdock_runtime::blueprint::Blueprint;
use stackdock_runtime::controller::ScopeRef;
use stackdock_runtime::model::{
    AuditEntry, AuditQuery, ClaimedRun, DockSync, InventoryDelta, InventoryItem, Lease, Operation,
    OperationRun, Pruned, Retention, RunId, RunStatus, SealedSecret, StartOutcome, StepState,
};
use stackdock_runtime::store::{MemoryStore, Store};
use stackdock_runtime::{ApplyOptions, Result};

/// A store that counts the writes of step state and audit entries; each
/// call is one durable write (one transaction in the SQL stores).
#[derive(Debug, Default)]
struct Counting {
    inner: MemoryStore,
    step_writes: AtomicUsize,
    audit_writes: AtomicUsize,
}

impl Counting {
    fn writes(&self) -> usize {
        self.step_writes.load(Ordering::SeqCst) + self.audit_writes.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Store for Counting {
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
    async fn finish_run(
        &self,
        id: &RunId,
        status: RunStatus,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Result<OperationRun> {
        self.inner.finish_run(id, status, reason, message).await
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
    async fn put_step(&self, state: &StepState, run: Option<&RunId>) -> Result<()> {
        self.step_writes.fetch_add(1, Ordering::SeqCst);
        self.inner.put_step(state, run).await
    }
    async fn put_step_audited(
        &self,
        state: &StepState,
        run: Option<&RunId>,
        audit: &AuditEntry,
    ) -> Result<i64> {
        // One write for both: what the SQL stores do in one transaction.
        self.step_writes.fetch_add(1, Ordering::SeqCst);
        self.inner.put_step(state, run).await?;
        self.inner.append_audit(audit).await
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
        self.audit_writes.fetch_add(1, Ordering::SeqCst);
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
        kind: stackdock_core::ResourceKind,
        items: &[InventoryItem],
        at: chrono::DateTime<chrono::Utc>,
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
    async fn put_step_fenced(&self, state: &StepState, lease: &Lease) -> Result<()> {
        self.step_writes.fetch_add(1, Ordering::SeqCst);
        self.inner.put_step_fenced(state, lease).await
    }
}

const STEPS: usize = 5;

/// `STEPS` databases, the last three needing the first.
fn databases(scope: &str) -> Blueprint {
    let mut builder = Blueprint::builder(scope);
    for i in 0..STEPS {
        builder = builder.step_json(
            format!("db{i}"),
            "pg",
            serde_json::json!({"kind": "database", "name": format!("{scope}_{i}")}),
        );
        if i >= 2 {
            builder = builder.needs("db0");
        }
    }
    builder.build().unwrap()
}

fn fixture() -> (Fixture, Arc<Counting>) {
    let store = Arc::new(Counting::default());
    (Fixture::with(store.clone(), None, |_| {}), store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_step_costs_two_durable_writes_and_its_outcome_carries_audit_and_outputs() {
    let (fx, store) = fixture();
    let report = fx
        .runtime
        .apply(&databases("w"), "alice", ApplyOptions::keep())
        .await
        .unwrap();
    assert!(report.succeeded(), "{:?}", report.failure);
    assert_eq!(fx.mutations(), STEPS);
    assert_eq!(
        store.writes(),
        2 * STEPS,
        "per step: the intent, then the outcome with its audit entry (steps {}, audit {})",
        store.step_writes.load(Ordering::SeqCst),
        store.audit_writes.load(Ordering::SeqCst)
    );
    // Nothing was lost by folding: one audit entry per create, the outputs
    // and the run's steps in the store.
    let creates = fx
        .store
        .list_audit(&AuditQuery {
            run_id: Some(report.run.id.clone()),
            operation: Some("create".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(creates.len(), STEPS);
    for i in 0..STEPS {
        let step = fx
            .store
            .get_step("w", &format!("db{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(step.outputs["name"], format!("w_{i}"), "{:?}", step.outputs);
        assert_eq!(step.created_by_run.as_ref(), Some(&report.run.id));
    }
    assert_eq!(report.run.steps.len(), STEPS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_up_to_date_writes_nothing_on_apply_or_reconcile() {
    let (fx, store) = fixture();
    let bp = databases("u");
    fx.runtime
        .apply(&bp, "alice", ApplyOptions::keep())
        .await
        .unwrap();
    let before = store.writes();
    let again = fx
        .runtime
        .apply(&bp, "alice", ApplyOptions::keep())
        .await
        .unwrap();
    assert!(again.succeeded());
    let reconciled = fx.runtime.reconcile("u", "default", "alice").await.unwrap();
    assert!(reconciled.succeeded(), "{:?}", reconciled.failure);
    assert_eq!(
        store.writes(),
        before,
        "no step or audit write when nothing changed"
    );
    assert_eq!(fx.mutations(), STEPS);
}
