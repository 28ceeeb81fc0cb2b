//! [`Runtime`]: apply a blueprint, destroy a scope, read status — with
//! intent recorded before every remote call. The guarantees are written out
//! in the crate docs.

mod apply;
mod cancel;
mod dag;
mod deploy;
mod destroy;
mod env_var;
mod limits;
mod plan;
mod reconcile;
mod request;
mod rollback;
mod sink;
mod status;
mod sync;

use dag::run_dag;
use limits::{CancelFlag, Permits};
use sink::StepSink;

pub use deploy::{DeployReport, DeployRequest};
use request::dependencies;
pub use request::{Executed, RunRequest};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use futures::stream::{FuturesUnordered, StreamExt};
use rand::distributions::{Alphanumeric, DistString};
use serde::Serialize;
use stackdock_core::context::CallContext;
use stackdock_core::drive::{self, TransitionSink};
use stackdock_core::layer::RetryPolicy;
use stackdock_core::provisioning::{Failure, Reason, Step};
use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::{
    CreateOutcome, DockAdapter, DockRegistry, ProvisioningRecord, ProvisioningState as S,
    ResourceId, ResourceSpec,
};
use tokio::sync::broadcast;
use tracing::Instrument;
use zeroize::Zeroize;

use crate::audit::{AuditSink, StoreAudit};
use crate::blueprint::{self, Blueprint, BlueprintError, SecretRef};
use crate::dock_slots::DockSlots;
use crate::events::{RunEvent, RunEventKind, StepOutcome};
use crate::model::{
    AuditEntry, AuditOutcome, DockSync, InventoryItem, Operation, OperationRun, RunId, RunStatus,
    StartOutcome, StepState,
};
use crate::rbac::{Policy, Principal, RolePolicy, Session};
use crate::store::Store;
use crate::vault::CredentialVault;
use crate::{Error, Result};

/// What to do when a step of an apply fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Delete, in reverse order, what this run created (never what it
    /// adopted, never what another scope holds).
    #[default]
    Rollback,
    /// Leave everything as recorded; a later apply finishes the job.
    Keep,
}

/// Options of [`Runtime::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ApplyOptions {
    /// What to do when a step fails.
    pub on_failure: OnFailure,
}

impl ApplyOptions {
    /// Roll back on failure.
    pub fn rollback() -> Self {
        ApplyOptions {
            on_failure: OnFailure::Rollback,
        }
    }

    /// Keep partial state on failure.
    pub fn keep() -> Self {
        ApplyOptions {
            on_failure: OnFailure::Keep,
        }
    }
}

/// The step that failed a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepFailure {
    /// The step.
    pub step: String,
    /// Stable code (an error kind, or `blueprint`, `vault`, `state_store`).
    pub code: String,
    /// Sanitised message.
    pub message: String,
}

/// What [`Runtime::apply`] / [`Runtime::destroy`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// The run as the store has it now.
    pub run: OperationRun,
    /// `true` when this call joined a run already active (same operation on
    /// the same scope) instead of starting one; nothing else is filled in
    /// then: [`Runtime::wait`] for it.
    pub joined: bool,
    /// How each step this call worked on ended.
    pub steps: BTreeMap<String, StepOutcome>,
    /// The first failure, if any.
    pub failure: Option<StepFailure>,
    /// Steps whose resources the rollback deleted, in order.
    pub rolled_back: Vec<String>,
}

impl RunReport {
    /// Whether the run succeeded.
    pub fn succeeded(&self) -> bool {
        self.run.status == RunStatus::Succeeded
    }
}

/// What [`Runtime::sync`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncReport {
    /// The sync run.
    pub run: OperationRun,
    /// `true` when another sync of the dock was running and this call joined it.
    pub joined: bool,
    /// What changed, per kind listed successfully.
    pub kinds: BTreeMap<stackdock_core::ResourceKind, crate::model::InventoryDelta>,
    /// The first listing error (sanitised), if any.
    pub error: Option<String>,
    /// The provider's request budget the dock reported after listing (also
    /// on the dock's [`DockSync`](crate::model::DockSync)); `None` when it
    /// reports none, or when this call joined another sync.
    pub rate_limit: Option<stackdock_core::RateLimit>,
}

/// One step as the store has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepStatus {
    /// The step.
    pub step: String,
    /// Its dock.
    pub dock: String,
    /// Provisioning state.
    pub state: S,
    /// The provider's id, while it exists.
    pub resource_id: Option<ResourceId>,
    /// Created or adopted.
    pub outcome: Option<CreateOutcome>,
    /// Why it failed, when it did.
    pub failure: Option<Failure>,
    /// When last written.
    pub updated_at: chrono::DateTime<Utc>,
}

/// A scope as the store has it (no provider is asked).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeStatus {
    /// The scope.
    pub scope: String,
    /// The run holding it, if any.
    pub active_run: Option<OperationRun>,
    /// The most recent run.
    pub last_run: Option<OperationRun>,
    /// Every recorded step.
    pub steps: Vec<StepStatus>,
}

/// Step-level retries, by default: after the dock's own retries gave up,
/// twice more, a second and then up to two seconds later (full jitter).
const STEP_RETRY: RetryPolicy = RetryPolicy {
    max_retries: 2,
    initial_backoff: Duration::from_secs(1),
    max_backoff: Duration::from_secs(30),
    retry_timeout: Duration::from_secs(300),
};

/// Steps in flight at once over a runtime, by default.
const DEFAULT_CONCURRENCY: usize = 8;
/// Steps in flight at once on one dock, by default.
const DEFAULT_DOCK_CONCURRENCY: usize = 4;

/// The control-plane engine. See the crate docs for its guarantees.
#[derive(Debug, Clone)]
pub struct Runtime {
    store: Arc<dyn Store>,
    docks: DockRegistry,
    vault: Option<Arc<dyn CredentialVault>>,
    audit: Arc<dyn AuditSink>,
    /// `audit` is the default [`StoreAudit`] over `store`: a step's audit
    /// entry is then committed with its state, in one write.
    audit_in_store: bool,
    concurrency: usize,
    dock_concurrency: usize,
    dock_limits: BTreeMap<String, usize>,
    shared_dock_limits: Option<Arc<dyn DockSlots>>,
    permits: Arc<Permits>,
    retry: RetryPolicy,
    cancel_poll: Duration,
    deploy_poll: deploy::DeployPoll,
    executing: Arc<Mutex<HashMap<RunId, CancelFlag>>>,
    events: broadcast::Sender<RunEvent>,
    /// Bumped each time this runtime finishes a run: wakes
    /// [`wait`](Runtime::wait) at once for runs executed here.
    finished: Arc<tokio::sync::watch::Sender<u64>>,
    policy: Arc<dyn Policy>,
}

/// How a run ends.
struct Ending {
    status: RunStatus,
    reason: Option<&'static str>,
    message: Option<String>,
    failure: Option<StepFailure>,
    rolled_back: Vec<String>,
}

impl RunCtx {
    /// `Err(Cancelled)` once the run was asked to stop: no new step starts.
    fn check_cancelled(&self) -> Result<()> {
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled {
                run: self.id.clone(),
            });
        }
        Ok(())
    }
}

/// Who and what a run is, carried through its steps.
#[derive(Debug, Clone)]
struct RunCtx {
    id: RunId,
    operation: Operation,
    scope: String,
    org: String,
    actor: String,
    cancel: CancelFlag,
}

impl Runtime {
    /// A runtime over `store` and `docks`, auditing into the store, 8 steps
    /// at a time, no vault.
    pub fn new(store: Arc<dyn Store>, docks: DockRegistry) -> Self {
        Runtime {
            audit: Arc::new(StoreAudit::new(store.clone())),
            audit_in_store: true,
            store,
            docks,
            vault: None,
            concurrency: DEFAULT_CONCURRENCY,
            dock_concurrency: DEFAULT_DOCK_CONCURRENCY,
            dock_limits: BTreeMap::new(),
            shared_dock_limits: None,
            permits: Arc::new(Permits::new(
                DEFAULT_CONCURRENCY,
                DEFAULT_DOCK_CONCURRENCY,
                BTreeMap::new(),
                None,
            )),
            retry: STEP_RETRY,
            cancel_poll: Duration::from_millis(500),
            deploy_poll: deploy::DeployPoll::default(),
            executing: Arc::default(),
            events: broadcast::channel(1024).0,
            finished: Arc::new(tokio::sync::watch::Sender::new(0)),
            policy: Arc::new(RolePolicy),
        }
    }

    /// Use `vault` for `generate` and `vault:KEY` secrets.
    pub fn with_vault(mut self, vault: Arc<dyn CredentialVault>) -> Self {
        self.vault = Some(vault);
        self
    }

    /// Send audit entries to `audit` instead of the store.
    pub fn with_audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = audit;
        self.audit_in_store = false;
        self
    }

    /// Work on at most `n` (≥ 1, default 8) steps at a time, over every run
    /// this runtime (and its clones) executes; a run's independent steps
    /// run concurrently up to the same bound.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self.rebuild_permits()
    }

    /// At most `n` (≥ 1, default 4) steps at a time on any one dock, unless
    /// [`with_dock_concurrency`](Runtime::with_dock_concurrency) says otherwise.
    pub fn with_default_dock_concurrency(mut self, n: usize) -> Self {
        self.dock_concurrency = n.max(1);
        self.rebuild_permits()
    }

    /// At most `n` (≥ 1) steps at a time on `dock` (a provider's API limits).
    pub fn with_dock_concurrency(mut self, dock: impl Into<String>, n: usize) -> Self {
        self.dock_limits.insert(dock.into(), n.max(1));
        self.rebuild_permits()
    }

    /// Count the per-dock limits ([`with_dock_concurrency`](Runtime::with_dock_concurrency),
    /// [`with_default_dock_concurrency`](Runtime::with_default_dock_concurrency))
    /// in `slots`, shared with every replica that uses the same backend,
    /// as well as in this process: a dock's limit is then the limit of the
    /// whole control plane, not of each replica. See [`crate::dock_slots`].
    pub fn with_shared_dock_limits(mut self, slots: Arc<dyn DockSlots>) -> Self {
        self.shared_dock_limits = Some(slots);
        self.rebuild_permits()
    }

    fn rebuild_permits(mut self) -> Self {
        self.permits = Arc::new(Permits::new(
            self.concurrency,
            self.dock_concurrency,
            self.dock_limits.clone(),
            self.shared_dock_limits.clone(),
        ));
        self
    }

    /// Retry a step's temporary failures (timeouts, unavailable, rate
    /// limits, 5xx) with `policy`, re-driving the step from its recorded
    /// state (observe first) — above the dock's own retry layer, so also
    /// after that layer gave up. Default: 2 retries, full jitter under 1 s
    /// then 2 s (core's `backoff_ceiling` / `full_jitter`), or the provider's
    /// `retry_after`. `RetryPolicy::none()` disables it.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// How often a run executing here checks the store for a cancel request
    /// made elsewhere (default 500 ms).
    pub fn with_cancel_poll(mut self, every: Duration) -> Self {
        self.cancel_poll = every.max(Duration::from_millis(1));
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The docks.
    pub fn docks(&self) -> &DockRegistry {
        &self.docks
    }

    /// Check access with `policy` in [`session`](Runtime::session)s
    /// (default: [`RolePolicy`](crate::rbac::RolePolicy)).
    pub fn with_policy(mut self, policy: Arc<dyn Policy>) -> Self {
        self.policy = policy;
        self
    }

    /// The runtime as `principal` sees it: every call checked by the policy first.
    pub fn session(&self, principal: Principal) -> Session<'_> {
        Session::new(self, self.policy.clone(), principal)
    }

    pub(crate) fn audit_sink(&self) -> &Arc<dyn AuditSink> {
        &self.audit
    }

    /// Every run's events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<RunEvent> {
        self.events.subscribe()
    }

    /// Files how a step of an apply or a destroy ended: its event, its
    /// outcome in the run's report, and the failure the DAG runner stops on.
    fn finish_step(
        &self,
        ctx: &RunCtx,
        step: &str,
        result: Result<StepOutcome>,
        outcomes: &Mutex<BTreeMap<String, StepOutcome>>,
    ) -> std::result::Result<(), StepFailure> {
        let outcome = match &result {
            Ok(o) => o.clone(),
            Err(e) => StepOutcome::Failed {
                code: failure_of(step, e).code,
            },
        };
        self.emit(
            ctx,
            RunEventKind::StepFinished {
                step: step.to_owned(),
                outcome: outcome.clone(),
            },
        );
        lock(outcomes).insert(step.to_owned(), outcome);
        result.map(|_| ()).map_err(|e| failure_of(step, &e))
    }

    fn emit(&self, run: &RunCtx, kind: RunEventKind) {
        if matches!(kind, RunEventKind::RunFinished { .. }) {
            self.finished.send_modify(|n| *n = n.wrapping_add(1));
        }
        // No subscriber is fine: events are a view, the store is the record.
        let _ = self.events.send(RunEvent {
            run_id: run.id.clone(),
            scope: run.scope.clone(),
            at: Utc::now(),
            kind,
        });
    }

    /// Start `operation` on `scope`, auditing a refusal.
    async fn start(
        &self,
        scope: &str,
        org: &str,
        operation: Operation,
        actor: &str,
    ) -> Result<StartOutcome> {
        match self.store.start_run(scope, operation, actor).await {
            Err(Error::ScopeBusy {
                scope,
                active_run,
                operation: active_op,
            }) => {
                let mut entry = AuditEntry::new(actor, operation.as_str(), AuditOutcome::Denied);
                entry.org = Some(org.to_owned());
                entry.scope = Some(scope.clone());
                entry.reason = Some("scope_busy".into());
                entry.message = Some(format!("run {active_run} ({active_op}) holds the scope"));
                self.audit.record(entry).await?;
                Err(Error::ScopeBusy {
                    scope,
                    active_run,
                    operation: active_op,
                })
            }
            other => other,
        }
    }

    /// A run that stopped on an error of its own (the store failing under
    /// it) must not keep its scope: finish it as failed (a no-op when it
    /// already finished) and hand the error back.
    async fn release_on_error<T>(&self, ctx: &RunCtx, result: Result<T>) -> Result<T> {
        if let Err(error) = &result {
            if matches!(error, Error::LeaseLost { .. }) {
                // Another worker's run now: not ours to finish.
                return result;
            }
            let message = error.to_string();
            if let Err(e) = self
                .store
                .finish_run(&ctx.id, RunStatus::Failed, Some("internal"), Some(&message))
                .await
            {
                tracing::error!(run_id = %ctx.id, error = %e, "could not finish a failed run");
            }
            self.emit(
                ctx,
                RunEventKind::RunFinished {
                    status: RunStatus::Failed,
                },
            );
        }
        result
    }

    /// This runtime writing run and step state as the holder of `lease`
    /// (a [`FencedStore`](crate::store::FencedStore)): what a worker
    /// executes a claimed run with.
    pub(crate) fn fenced_by(&self, lease: &crate::model::Lease) -> Runtime {
        let mut fenced = self.clone();
        fenced.store = Arc::new(crate::store::FencedStore::new(
            self.store.clone(),
            lease.clone(),
        ));
        fenced
    }

    fn call_context(&self, ctx: &RunCtx) -> CallContext {
        CallContext::new()
            .with_actor(ctx.actor.clone())
            .with_org(ctx.org.clone())
            .with_run_id(ctx.id.to_string())
    }

    /// End a run that was cancelled: no rollback, what was done is kept.
    async fn finish_cancelled(
        &self,
        ctx: &RunCtx,
        failure: StepFailure,
        steps: BTreeMap<String, StepOutcome>,
    ) -> Result<RunReport> {
        let failure = (failure.code != "cancelled").then_some(failure);
        self.finish(
            ctx,
            Ending {
                status: RunStatus::Cancelled,
                reason: Some("cancelled"),
                message: Some("cancelled on request; what was done is kept".into()),
                failure,
                rolled_back: Vec::new(),
            },
            steps,
        )
        .await
    }

    async fn finish(
        &self,
        ctx: &RunCtx,
        ending: Ending,
        steps: BTreeMap<String, StepOutcome>,
    ) -> Result<RunReport> {
        let Ending {
            status,
            reason,
            message,
            failure,
            rolled_back,
        } = ending;
        let message = message.or_else(|| {
            failure
                .as_ref()
                .map(|f| format!("step {} failed: {}", f.step, f.message))
        });
        let run = self
            .store
            .finish_run(
                &ctx.id,
                status,
                reason.or(Some(status.as_str())),
                message.as_deref(),
            )
            .await?;
        self.announce_cancelling(ctx);
        self.emit(ctx, RunEventKind::RunFinished { status });
        tracing::info!(status = %status, "run finished");
        Ok(RunReport {
            run,
            joined: false,
            steps,
            failure,
            rolled_back,
        })
    }
}

fn joined(run: OperationRun) -> RunReport {
    RunReport {
        run,
        joined: true,
        steps: BTreeMap::new(),
        failure: None,
        rolled_back: Vec::new(),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn failure_of(step: &str, error: &Error) -> StepFailure {
    let code = match error {
        Error::Dock(e) => e.kind().as_str().to_owned(),
        Error::Blueprint(_) => "blueprint".into(),
        Error::Vault(_) => "vault".into(),
        Error::Store(_) => "state_store".into(),
        Error::ScopeBusy { .. } => "scope_busy".into(),
        Error::NotFound(_) => "not_found".into(),
        Error::PermissionDenied { .. } => "permission_denied".into(),
        Error::InvalidRequest(_) => "invalid_request".into(),
        Error::Cancelled { .. } => "cancelled".into(),
        Error::LeaseLost { .. } => "lease_lost".into(),
    };
    StepFailure {
        step: step.to_owned(),
        code,
        message: stackdock_core::provisioning::sanitize_message(&error.to_string()),
    }
}
