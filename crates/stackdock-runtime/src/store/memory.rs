//! [`MemoryStore`]: the [`Store`] kept in memory, for tests and demos.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use std::time::Duration;

use chrono::{DateTime, Utc};
use stackdock_core::provisioning::sanitize_message;
use stackdock_core::{ProvisioningState, ResourceId, ResourceKind};

use super::Store;
use crate::controller::ScopeRef;
use crate::model::{
    AuditEntry, AuditQuery, ClaimedRun, DockSync, InventoryDelta, InventoryItem, Lease, Operation,
    OperationRun, Pruned, Retention, RunId, RunStatus, SealedSecret, StartOutcome, StepState,
};
use crate::{Error, Result};

#[derive(Debug, Default)]
struct Inner {
    runs: Vec<OperationRun>,
    /// Submitted runs' requests and current leases, by run id.
    queue: BTreeMap<RunId, Queued>,
    steps: BTreeMap<(String, String), StepState>,
    audit: Vec<AuditEntry>,
    secrets: BTreeMap<(String, String, String), SealedSecret>,
    scopes: BTreeMap<String, String>,
    inventory: BTreeMap<(String, ResourceKind, String), InventoryItem>,
    syncs: BTreeMap<String, DockSync>,
}

/// What the queue knows of a submitted run.
#[derive(Debug, Default)]
struct Queued {
    request: serde_json::Value,
    /// (worker, expires at) of the current claim.
    lease: Option<(String, DateTime<Utc>)>,
}

/// A [`Store`] in memory: every method is one critical section, so
/// [`start_run`](Store::start_run) is atomic like the SQL stores.
///
/// ```
/// use stackdock_runtime::store::{MemoryStore, Store};
/// use stackdock_runtime::model::Operation;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let first = store.start_run("acme", Operation::Apply, "alice").await?;
/// let again = store.start_run("acme", Operation::Apply, "bob").await?;
/// assert!(first.is_started() && !again.is_started());
/// assert_eq!(first.run().id, again.run().id);
/// # Ok::<(), stackdock_runtime::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// Wakes idle workers when a run becomes claimable.
    work: tokio::sync::Notify,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every critical section below leaves the data consistent, so a
        // poisoned lock (a panicking test thread) is safe to keep using.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    /// Take the scope for a new run with `status`, or join / refuse.
    fn start(
        &mut self,
        scope: &str,
        operation: Operation,
        actor: &str,
        status: RunStatus,
        request: Option<&serde_json::Value>,
    ) -> Result<StartOutcome> {
        if let Some(active) = self
            .runs
            .iter()
            .find(|r| r.scope == scope && r.status.is_active())
        {
            if active.operation == operation {
                return Ok(StartOutcome::Joined(active.clone()));
            }
            return Err(Error::ScopeBusy {
                scope: scope.to_owned(),
                active_run: active.id.clone(),
                operation: active.operation,
            });
        }
        let now = Utc::now();
        let run = OperationRun {
            id: RunId::new(),
            scope: scope.to_owned(),
            operation,
            actor: actor.to_owned(),
            status,
            attempts: u32::from(status == RunStatus::Running),
            created_at: now,
            updated_at: now,
            finished_at: None,
            reason: None,
            message: None,
            steps: Vec::new(),
            cancel_requested: false,
        };
        if let Some(request) = request {
            let queued = Queued {
                request: request.clone(),
                lease: None,
            };
            self.queue.insert(run.id.clone(), queued);
        }
        self.runs.push(run.clone());
        Ok(StartOutcome::Started(run))
    }

    /// The steps of `scope`, by name (a range of the (scope, step) keys,
    /// not a scan of every scope's steps).
    fn steps_of<'a>(&'a self, scope: &'a str) -> impl Iterator<Item = &'a StepState> + 'a {
        self.steps
            .range((scope.to_owned(), String::new())..)
            .take_while(move |((s, _), _)| s == scope)
            .map(|(_, state)| state)
    }

    /// Queued, or running under a lease that lapsed before `now`.
    fn claimable(&self, run: &OperationRun, now: DateTime<Utc>) -> bool {
        match run.status {
            RunStatus::Queued => true,
            RunStatus::Running => self
                .queue
                .get(&run.id)
                .and_then(|q| q.lease.as_ref())
                .is_some_and(|(_, expires)| *expires < now),
            _ => false,
        }
    }

    /// Whether `lease` is the current claim of an unfinished run.
    fn holds(&self, lease: &Lease) -> bool {
        let current = self
            .queue
            .get(&lease.run_id)
            .and_then(|q| q.lease.as_ref())
            .is_some_and(|(worker, _)| *worker == lease.worker);
        current
            && self.runs.iter().any(|r| {
                r.id == lease.run_id
                    && r.status == RunStatus::Running
                    && r.attempts == lease.attempt
            })
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn start_run(
        &self,
        scope: &str,
        operation: Operation,
        actor: &str,
    ) -> Result<StartOutcome> {
        self.lock()
            .start(scope, operation, actor, RunStatus::Running, None)
    }

    async fn submit_run(
        &self,
        scope: &str,
        operation: Operation,
        actor: &str,
        request: &serde_json::Value,
    ) -> Result<StartOutcome> {
        let outcome =
            self.lock()
                .start(scope, operation, actor, RunStatus::Queued, Some(request))?;
        self.work.notify_waiters();
        Ok(outcome)
    }

    async fn claim_run(&self, worker: &str, lease_for: Duration) -> Result<Option<ClaimedRun>> {
        let mut inner = self.lock();
        let now = Utc::now();
        let Some(index) = inner.runs.iter().position(|r| inner.claimable(r, now)) else {
            return Ok(None);
        };
        let expires_at = now + lease_for;
        let run = &mut inner.runs[index];
        run.status = RunStatus::Running;
        run.attempts += 1;
        run.updated_at = now;
        let run = run.clone();
        let queued = inner.queue.entry(run.id.clone()).or_default();
        queued.lease = Some((worker.to_owned(), expires_at));
        Ok(Some(ClaimedRun {
            request: queued.request.clone(),
            lease: Lease {
                run_id: run.id.clone(),
                worker: worker.to_owned(),
                attempt: run.attempts,
                expires_at,
            },
            run,
        }))
    }

    async fn renew_lease(&self, lease: &Lease, lease_for: Duration) -> Result<Option<Lease>> {
        let mut inner = self.lock();
        if !inner.holds(lease) {
            return Ok(None);
        }
        let expires_at = Utc::now() + lease_for;
        if let Some(queued) = inner.queue.get_mut(&lease.run_id) {
            queued.lease = Some((lease.worker.clone(), expires_at));
        }
        Ok(Some(Lease {
            expires_at,
            ..lease.clone()
        }))
    }

    async fn release_run(&self, lease: &Lease) -> Result<bool> {
        let mut inner = self.lock();
        if !inner.holds(lease) {
            return Ok(false);
        }
        if let Some(queued) = inner.queue.get_mut(&lease.run_id) {
            queued.lease = None;
        }
        if let Some(run) = inner.runs.iter_mut().find(|r| r.id == lease.run_id) {
            run.status = RunStatus::Queued;
            run.updated_at = Utc::now();
        }
        drop(inner);
        self.work.notify_waiters();
        Ok(true)
    }

    async fn prune(&self, retention: &Retention) -> Result<Pruned> {
        let mut inner = self.lock();
        let mut pruned = Pruned::default();
        if let Some(cut) = retention.finished_runs_before {
            let before = inner.runs.len();
            let gone: Vec<RunId> = inner
                .runs
                .iter()
                .filter(|r| !r.status.is_active() && r.finished_at.is_some_and(|t| t < cut))
                .map(|r| r.id.clone())
                .collect();
            inner.runs.retain(|r| !gone.contains(&r.id));
            for id in &gone {
                inner.queue.remove(id);
            }
            pruned.runs = (before - inner.runs.len()) as u64;
        }
        if let Some(cut) = retention.audit_before {
            let before = inner.audit.len();
            inner.audit.retain(|e| e.at >= cut);
            pruned.audit = (before - inner.audit.len()) as u64;
        }
        if let Some(cut) = retention.vanished_inventory_before {
            let before = inner.inventory.len();
            inner
                .inventory
                .retain(|_, i| i.vanished_at.is_none_or(|t| t >= cut));
            pruned.inventory = (before - inner.inventory.len()) as u64;
        }
        Ok(pruned)
    }

    async fn wait_for_work(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.work.notified()).await;
    }

    async fn run_request(&self, id: &RunId) -> Result<Option<serde_json::Value>> {
        Ok(self.lock().queue.get(id).map(|q| q.request.clone()))
    }

    async fn finish_run(
        &self,
        id: &RunId,
        status: RunStatus,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Result<OperationRun> {
        finish_locked(&mut self.lock(), id, status, reason, message)
    }

    async fn finish_run_fenced(
        &self,
        lease: &Lease,
        status: RunStatus,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Result<OperationRun> {
        // One critical section for the check and the write.
        let mut inner = self.lock();
        fence(&inner, lease)?;
        finish_locked(&mut inner, &lease.run_id, status, reason, message)
    }

    async fn request_cancel(&self, id: &RunId) -> Result<OperationRun> {
        let mut inner = self.lock();
        let run = inner
            .runs
            .iter_mut()
            .find(|r| &r.id == id)
            .ok_or_else(|| Error::NotFound(format!("run {id}")))?;
        if run.status.is_active() && !run.cancel_requested {
            run.cancel_requested = true;
            run.updated_at = Utc::now();
        }
        Ok(run.clone())
    }

    async fn get_run(&self, id: &RunId) -> Result<Option<OperationRun>> {
        Ok(self.lock().runs.iter().find(|r| &r.id == id).cloned())
    }

    async fn active_run(&self, scope: &str) -> Result<Option<OperationRun>> {
        Ok(self
            .lock()
            .runs
            .iter()
            .find(|r| r.scope == scope && r.status.is_active())
            .cloned())
    }

    async fn list_runs(&self, scope: &str) -> Result<Vec<OperationRun>> {
        Ok(self
            .lock()
            .runs
            .iter()
            .filter(|r| r.scope == scope)
            .cloned()
            .collect())
    }

    async fn put_step(&self, state: &StepState, run: Option<&RunId>) -> Result<()> {
        let mut inner = self.lock();
        if let Some(run_id) = run {
            let run = inner
                .runs
                .iter_mut()
                .find(|r| &r.id == run_id)
                .ok_or_else(|| Error::NotFound(format!("run {run_id}")))?;
            if !run.steps.contains(&state.step) {
                run.steps.push(state.step.clone());
            }
            run.updated_at = Utc::now();
        }
        inner
            .steps
            .insert((state.scope.clone(), state.step.clone()), state.clone());
        Ok(())
    }

    async fn put_step_fenced(&self, state: &StepState, lease: &Lease) -> Result<()> {
        let mut inner = self.lock();
        fence(&inner, lease)?;
        if let Some(run) = inner.runs.iter_mut().find(|r| r.id == lease.run_id) {
            if !run.steps.contains(&state.step) {
                run.steps.push(state.step.clone());
            }
            run.updated_at = Utc::now();
        }
        inner
            .steps
            .insert((state.scope.clone(), state.step.clone()), state.clone());
        Ok(())
    }

    async fn get_step(&self, scope: &str, step: &str) -> Result<Option<StepState>> {
        Ok(self
            .lock()
            .steps
            .get(&(scope.to_owned(), step.to_owned()))
            .cloned())
    }

    async fn list_steps(&self, scope: &str) -> Result<Vec<StepState>> {
        Ok(self.lock().steps_of(scope).cloned().collect())
    }

    async fn steps_holding(&self, dock: &str, resource: &ResourceId) -> Result<Vec<StepState>> {
        Ok(self
            .lock()
            .steps
            .values()
            .filter(|s| s.dock == dock && s.holds_resource() && s.resource_id() == Some(resource))
            .cloned()
            .collect())
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<i64> {
        let mut inner = self.lock();
        let seq = inner.audit.len() as i64 + 1;
        let mut entry = entry.clone();
        entry.seq = seq;
        entry.message = entry.message.as_deref().map(sanitize_message);
        inner.audit.push(entry);
        Ok(seq)
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        Ok(self
            .lock()
            .audit
            .iter()
            .filter(|e| query.scope.is_none() || e.scope == query.scope)
            .filter(|e| query.run_id.is_none() || e.run_id == query.run_id)
            .filter(|e| query.operation.as_ref().is_none_or(|o| &e.operation == o))
            .cloned()
            .collect())
    }

    async fn claim_scope(&self, scope: &str, org: &str) -> Result<String> {
        Ok(self
            .lock()
            .scopes
            .entry(scope.to_owned())
            .or_insert_with(|| org.to_owned())
            .clone())
    }

    async fn scope_org(&self, scope: &str) -> Result<Option<String>> {
        Ok(self.lock().scopes.get(scope).cloned())
    }

    async fn list_scopes(&self) -> Result<Vec<ScopeRef>> {
        let inner = self.lock();
        Ok(inner
            .scopes
            .iter()
            .filter(|(scope, _)| {
                inner
                    .steps_of(scope)
                    .any(|s| s.record.state != ProvisioningState::Deprovisioned)
            })
            .map(|(scope, org)| ScopeRef::new(scope.clone(), org.clone()))
            .collect())
    }

    async fn sync_inventory(
        &self,
        dock: &str,
        kind: ResourceKind,
        items: &[InventoryItem],
        at: chrono::DateTime<Utc>,
    ) -> Result<InventoryDelta> {
        let mut inner = self.lock();
        let mut delta = InventoryDelta::default();
        for item in items {
            delta.seen += 1;
            let key = (dock.to_owned(), kind, item.provider_resource_id.clone());
            match inner.inventory.get_mut(&key) {
                Some(known) => {
                    if known.vanished_at.is_some() {
                        delta.added += 1;
                    }
                    known.name = item.name.clone();
                    known.resource = item.resource.clone();
                    known.last_seen_at = at;
                    known.vanished_at = None;
                }
                None => {
                    delta.added += 1;
                    let mut item = item.clone();
                    (
                        item.dock,
                        item.kind,
                        item.first_seen_at,
                        item.last_seen_at,
                        item.vanished_at,
                    ) = (dock.to_owned(), kind, at, at, None);
                    inner.inventory.insert(key, item);
                }
            }
        }
        for known in inner.inventory.values_mut() {
            if known.dock == dock
                && known.kind == kind
                && known.vanished_at.is_none()
                && known.last_seen_at != at
            {
                known.vanished_at = Some(at);
                delta.vanished += 1;
            }
        }
        Ok(delta)
    }

    async fn list_inventory(&self, dock: Option<&str>) -> Result<Vec<InventoryItem>> {
        Ok(self
            .lock()
            .inventory
            .values()
            .filter(|i| dock.is_none_or(|d| i.dock == d))
            .cloned()
            .collect())
    }

    async fn put_dock_sync(&self, sync: &DockSync) -> Result<()> {
        let mut sync = sync.clone();
        sync.last_sync_error = sync.last_sync_error.as_deref().map(sanitize_message);
        self.lock().syncs.insert(sync.dock.clone(), sync);
        Ok(())
    }

    async fn dock_syncs(&self) -> Result<Vec<DockSync>> {
        Ok(self.lock().syncs.values().cloned().collect())
    }

    async fn put_secret(&self, secret: &SealedSecret) -> Result<()> {
        let key = (secret.org.clone(), secret.dock.clone(), secret.name.clone());
        self.lock().secrets.insert(key, secret.clone());
        Ok(())
    }

    async fn get_secret(&self, org: &str, dock: &str, name: &str) -> Result<Option<SealedSecret>> {
        let key = (org.to_owned(), dock.to_owned(), name.to_owned());
        Ok(self.lock().secrets.get(&key).cloned())
    }

    async fn list_secrets(&self) -> Result<Vec<SealedSecret>> {
        Ok(self.lock().secrets.values().cloned().collect())
    }

    async fn delete_secrets(&self, org: &str, dock: &str) -> Result<u64> {
        let mut state = self.lock();
        let before = state.secrets.len();
        state
            .secrets
            .retain(|(o, d, _), _| !(o == org && d == dock));
        Ok((before - state.secrets.len()) as u64)
    }
}

/// `Ok` while `lease` is the current claim of its run: running, same
/// attempt, same worker.
fn fence(inner: &Inner, lease: &Lease) -> Result<()> {
    let run = inner.runs.iter().find(|r| r.id == lease.run_id);
    let holder = inner
        .queue
        .get(&lease.run_id)
        .and_then(|q| q.lease.as_ref())
        .map(|(worker, _)| worker.as_str());
    match run {
        Some(run)
            if run.status == RunStatus::Running
                && run.attempts == lease.attempt
                && holder == Some(lease.worker.as_str()) =>
        {
            Ok(())
        }
        _ => Err(Error::LeaseLost {
            run: lease.run_id.clone(),
            attempt: lease.attempt,
        }),
    }
}

fn finish_locked(
    inner: &mut Inner,
    id: &RunId,
    status: RunStatus,
    reason: Option<&str>,
    message: Option<&str>,
) -> Result<OperationRun> {
    if status.is_active() {
        return Err(Error::store(format!("cannot finish a run as {status}")));
    }
    let run = inner
        .runs
        .iter_mut()
        .find(|r| &r.id == id)
        .ok_or_else(|| Error::NotFound(format!("run {id}")))?;
    if run.status.is_active() {
        let now = Utc::now();
        run.status = status;
        run.updated_at = now;
        run.finished_at = Some(now);
        run.reason = reason.map(str::to_owned);
        run.message = message.map(sanitize_message);
    }
    let run = run.clone();
    if let Some(queued) = inner.queue.get_mut(id) {
        queued.lease = None;
    }
    Ok(run)
}
