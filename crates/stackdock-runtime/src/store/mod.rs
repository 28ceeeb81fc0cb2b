//! Where the runtime keeps what it must not forget: runs, per-step state,
//! the audit log and sealed secrets.
//!
//! [`Store`] is async and object-safe (`Arc<dyn Store>`). Two
//! implementations here: [`MemoryStore`] (tests, demos) and [`SqliteStore`]
//! (the embedded default: one file, WAL, migrations); a third, for many
//! replicas sharing one database, is `PostgresStore` in the crate
//! `stackdock-runtime-postgres`. All pass the same conformance suite
//! (`store_conformance`, feature `testing`).
//!
//! # Run deduplication
//!
//! [`Store::start_run`] is the one place that decides who holds a scope,
//! atomically *in the store* (a transaction over a unique index on the
//! active run of a scope, never a read-then-write in Rust):
//!
//! * no active run on the scope → a new run, `running`, holds it;
//! * the same operation is active → that run ([`StartOutcome::Joined`]);
//! * another operation is active → [`Error::ScopeBusy`] naming it.
//!
//! # The queue and leases
//!
//! [`Store::submit_run`] is `start_run` for another process to execute: the
//! run is `queued` with its request, and it holds its scope exactly like a
//! running one (same dedupe, same `ScopeBusy`). Workers take queued runs
//! with [`Store::claim_run`], atomically (PostgreSQL: `FOR UPDATE SKIP
//! LOCKED`; SQLite: one `UPDATE`; memory: one critical section), so each
//! claim hands a run to exactly one worker, under a [`Lease`] the worker
//! renews ([`Store::renew_lease`]) while it executes. A run whose lease
//! lapsed (its worker died or lost the database) is claimed again like a
//! queued one, with `attempts` incremented: the new worker resumes it.
//! [`Store::release_run`] gives a run back to the queue (a worker stopping).
//! Runs started with [`Store::start_run`] have no lease and are never
//! claimed: their process executes them.
//!
//! **Fencing**: a worker writes run and step state through a
//! [`FencedStore`] of its claim, whose writes go through
//! [`Store::put_step_fenced`] and [`Store::finish_run_fenced`]: once another
//! worker claimed the run (the first one was paused or partitioned past its
//! lease), the first one's writes are refused with [`Error::LeaseLost`]
//! instead of overwriting what the new holder recorded.
//!
//! Lease times are the store's clock (PostgreSQL's for the PostgreSQL
//! store), so replicas with skewed clocks agree on when a lease lapsed.

mod fenced;
pub mod group_commit;
mod memory;
mod sqlite;

pub use fenced::FencedStore;
pub use memory::MemoryStore;
pub use sqlite::{SqliteStore, STATE_FILE};

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use stackdock_core::ResourceId;

use crate::controller::ScopeRef;
use crate::model::{
    AuditEntry, AuditQuery, ClaimedRun, DockSync, InventoryDelta, InventoryItem, Lease, Operation,
    OperationRun, Pruned, Retention, RunId, RunStatus, SealedSecret, StartOutcome, StepState,
};
use crate::Error;
use crate::Result;

/// The runtime's durable state. See the [module docs](self).
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// Start `operation` on `scope` for `actor`, or join / refuse; see the
    /// [module docs](self). Atomic.
    async fn start_run(
        &self,
        scope: &str,
        operation: Operation,
        actor: &str,
    ) -> Result<StartOutcome>;

    /// Queue `operation` on `scope` for `actor` with `request` (a serialised
    /// `RunRequest`), for a worker to [claim](Store::claim_run); or join /
    /// refuse exactly like [`start_run`](Store::start_run). A new run is
    /// `queued` with `attempts` 0. Atomic.
    async fn submit_run(
        &self,
        scope: &str,
        operation: Operation,
        actor: &str,
        request: &serde_json::Value,
    ) -> Result<StartOutcome>;

    /// Claim the oldest run that is queued or whose lease lapsed, for
    /// `worker`, leased for `lease_for`: it becomes `running`, its
    /// `attempts` goes up by one. `None` when there is nothing to claim.
    /// Concurrent claims never hand one run to two workers.
    async fn claim_run(&self, worker: &str, lease_for: Duration) -> Result<Option<ClaimedRun>>;

    /// Extend `lease` to `lease_for` from now. `None` when the lease is no
    /// longer this worker's (another claim took the run after it lapsed,
    /// it was released, or the run finished): stop executing the run.
    async fn renew_lease(&self, lease: &Lease, lease_for: Duration) -> Result<Option<Lease>>;

    /// Give a claimed, unfinished run back to the queue (`queued`, no
    /// lease) for another worker. `false` when `lease` no longer holds it.
    async fn release_run(&self, lease: &Lease) -> Result<bool>;

    /// The request stored with a [submitted](Store::submit_run) run.
    async fn run_request(&self, id: &RunId) -> Result<Option<serde_json::Value>>;

    /// Delete history older than `retention` says: finished runs, audit
    /// entries, vanished inventory items; one transaction. The audit log is
    /// append-only for everything else: this is its one way out. Active
    /// runs and step state are never touched.
    async fn prune(&self, retention: &Retention) -> Result<Pruned>;

    /// Wait until a run may have become claimable (submitted or released),
    /// or `timeout` passes — an idle worker's nap between claims. It may
    /// return early for nothing: the caller just claims again.
    ///
    /// The default sleeps `timeout` (polling). Stores that can be told do
    /// better: the memory and SQLite stores wake waiters of the same
    /// process at once; the PostgreSQL store `LISTEN`s, so a run submitted
    /// by any replica wakes every idle worker.
    async fn wait_for_work(&self, timeout: Duration) {
        tokio::time::sleep(timeout).await;
    }

    /// Finish an active run with `status` (not `queued` / `running`), a
    /// reason code and a sanitised message; it releases the scope. Finishing
    /// a run that is already finished is [`Error::NotFound`]-free: it
    /// returns the run unchanged.
    async fn finish_run(
        &self,
        id: &RunId,
        status: RunStatus,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Result<OperationRun>;

    /// [`finish_run`](Store::finish_run) of `lease`'s run as the holder of
    /// `lease` (fencing): in the same atomic write, only if the run is
    /// still `running` under this claim (same worker, same attempt);
    /// otherwise [`Error::LeaseLost`] and nothing changes. A lease that
    /// lapsed but was not claimed again still holds the run.
    async fn finish_run_fenced(
        &self,
        lease: &Lease,
        status: RunStatus,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Result<OperationRun>;

    /// Ask an active run to stop: record `cancel_requested` on it, durably,
    /// so whichever process executes it sees the request at its next check
    /// (and a worker that claims it later finishes it at once). Idempotent;
    /// a finished run is returned unchanged; an unknown run is
    /// [`Error::NotFound`]. It does not finish the run: the executor does,
    /// as `cancelled`, once its in-flight calls returned.
    async fn request_cancel(&self, id: &RunId) -> Result<OperationRun>;

    /// One run.
    async fn get_run(&self, id: &RunId) -> Result<Option<OperationRun>>;

    /// The run holding `scope`, if any.
    async fn active_run(&self, scope: &str) -> Result<Option<OperationRun>>;

    /// Every run of `scope`, oldest first.
    async fn list_runs(&self, scope: &str) -> Result<Vec<OperationRun>>;

    /// Write a step's state (insert or replace by (scope, step)) and, when
    /// `run` is given, note that the run touched the step. One durable write.
    async fn put_step(&self, state: &StepState, run: Option<&RunId>) -> Result<()>;

    /// [`put_step`](Store::put_step) for `lease`'s run as the holder of
    /// `lease` (fencing): written only if the run is still `running` under
    /// this claim, checked in the same transaction (which also keeps a
    /// concurrent claim of the run out until it committed); otherwise
    /// [`Error::LeaseLost`] and nothing is written.
    async fn put_step_fenced(&self, state: &StepState, lease: &Lease) -> Result<()>;

    /// [`put_step`](Store::put_step) and [`append_audit`](Store::append_audit)
    /// in **one durable write**: a step's outcome and its audit entry are
    /// committed together, or neither is. Returns the entry's sequence
    /// number.
    ///
    /// The default makes the two writes one after the other, the step
    /// first; the SQLite store uses one transaction (one commit per
    /// transition is what keeps an apply close to the raw cost of its
    /// durable writes; writes queued behind its writer share one group
    /// commit, each still durable before it returns), so does the
    /// PostgreSQL store; [`FencedStore`] writes through
    /// [`put_step_audited_fenced`](Store::put_step_audited_fenced).
    async fn put_step_audited(
        &self,
        state: &StepState,
        run: Option<&RunId>,
        audit: &AuditEntry,
    ) -> Result<i64> {
        self.put_step(state, run).await?;
        self.append_audit(audit).await
    }

    /// [`put_step_audited`](Store::put_step_audited) for `lease`'s run as
    /// the holder of `lease`: the step is written only if the run is still
    /// `running` under this claim, exactly as
    /// [`put_step_fenced`](Store::put_step_fenced) checks; otherwise
    /// [`Error::LeaseLost`] and the step is not written. The audit entry is
    /// appended either way: it records a call the worker made, which
    /// happened whether or not the worker still holds the run. Returns the
    /// entry's sequence number.
    ///
    /// The default makes two writes (the fenced step, then the entry); the
    /// PostgreSQL store makes one (one statement, one commit).
    async fn put_step_audited_fenced(
        &self,
        state: &StepState,
        lease: &Lease,
        audit: &AuditEntry,
    ) -> Result<i64> {
        let written = self.put_step_fenced(state, lease).await;
        if matches!(written, Err(Error::LeaseLost { .. })) {
            self.append_audit(audit).await?;
        }
        written?;
        self.append_audit(audit).await
    }

    /// One step's state.
    async fn get_step(&self, scope: &str, step: &str) -> Result<Option<StepState>>;

    /// Every step of `scope`, by name.
    async fn list_steps(&self, scope: &str) -> Result<Vec<StepState>>;

    /// Steps of any scope that hold `resource` on `dock` (a live record with
    /// that id), so a rollback never deletes what another scope adopted.
    async fn steps_holding(&self, dock: &str, resource: &ResourceId) -> Result<Vec<StepState>>;

    /// Append an audit entry; returns its sequence number. Append-only:
    /// there is no update or delete.
    async fn append_audit(&self, entry: &AuditEntry) -> Result<i64>;

    /// Audit entries matching `query`, oldest first.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>>;

    /// Record that `org` owns `scope` unless another org already does;
    /// returns the owner (atomic: two orgs racing get the same answer).
    async fn claim_scope(&self, scope: &str, org: &str) -> Result<String>;

    /// The org owning `scope`, if it was ever claimed.
    async fn scope_org(&self, scope: &str) -> Result<Option<String>>;

    /// The scopes there is something to reconcile in: every claimed scope
    /// with at least one recorded step that is not `deprovisioned`, with its
    /// owning org, by scope name. A destroyed scope drops out; applying it
    /// again brings it back. What a controller sweeps
    /// ([`StoreScopes`](crate::controller::StoreScopes)).
    async fn list_scopes(&self) -> Result<Vec<ScopeRef>>;

    /// Replace what the inventory knows of `kind` on `dock` with `items`,
    /// listed at `at`: upsert by (dock, kind, provider id), and mark the
    /// known items missing from `items` vanished. One transaction.
    async fn sync_inventory(
        &self,
        dock: &str,
        kind: stackdock_core::ResourceKind,
        items: &[InventoryItem],
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<InventoryDelta>;

    /// The inventory of `dock` (every dock when `None`), vanished items included.
    async fn list_inventory(&self, dock: Option<&str>) -> Result<Vec<InventoryItem>>;

    /// Record the outcome of a dock's sync.
    async fn put_dock_sync(&self, sync: &DockSync) -> Result<()>;

    /// The last sync of every dock synced so far.
    async fn dock_syncs(&self) -> Result<Vec<DockSync>>;

    /// Insert or replace a sealed secret by (org, dock, name).
    async fn put_secret(&self, secret: &SealedSecret) -> Result<()>;

    /// One sealed secret.
    async fn get_secret(&self, org: &str, dock: &str, name: &str) -> Result<Option<SealedSecret>>;

    /// Every sealed secret (for key rotation).
    async fn list_secrets(&self) -> Result<Vec<SealedSecret>>;

    /// Delete every sealed secret of `dock` in `org` (a removed dock's
    /// credentials); how many there were. Deleting none is not an error.
    async fn delete_secrets(&self, org: &str, dock: &str) -> Result<u64>;
}
