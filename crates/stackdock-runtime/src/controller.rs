//! The controller loop: reconcile every scope periodically, with backoff
//! after a failure and one reconcile per scope at a time — kube-runtime's
//! `Controller` for StackDock scopes.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use stackdock_core::DockRegistry;
//! use stackdock_runtime::controller::{ControllerConfig, ScopeRef};
//! use stackdock_runtime::store::MemoryStore;
//! use stackdock_runtime::Runtime;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let runtime = Runtime::new(Arc::new(MemoryStore::new()), DockRegistry::new());
//! let scopes = vec![ScopeRef::new("acme", "agency")];
//! let controller = runtime.controller(scopes, ControllerConfig::default());
//! // Stops when the shutdown future resolves (here: at once, after one sweep).
//! let report = controller.run(async {}).await;
//! assert_eq!(report.sweeps, 1);
//! # });
//! ```
//!
//! # Guarantees
//!
//! * **One reconcile per scope at a time.** A scope is listed once per
//!   sweep and the sweep waits for it; across processes the store's run
//!   dedupe holds (a second reconcile joins the first; another operation on
//!   the scope makes it busy: requeued with backoff, never run beside it).
//! * **Requeue.** A scope that reconciled cleanly is due again after
//!   [`ControllerConfig::interval`]; one that failed (or was busy) after a
//!   backoff from core's [`RetryPolicy`] (full jitter under an exponential
//!   ceiling), reset by its next success.
//! * **Bounded.** At most [`ControllerConfig::concurrency`] scopes at once;
//!   the runtime's own call permits bound the steps under them.
//! * **Stoppable.** When the shutdown future resolves no new reconcile
//!   starts; those in flight finish (a run is never abandoned half-way by
//!   the controller), then [`Controller::run`] returns.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use stackdock_core::layer::RetryPolicy;
use tokio::time::Instant;
use tracing::Instrument;

use crate::model::RunStatus;
use crate::store::Store;
use crate::{Error, Result, Runtime};

/// A scope and the organisation that owns it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScopeRef {
    /// The scope.
    pub scope: String,
    /// Its organisation.
    pub org: String,
}

impl ScopeRef {
    /// `scope` of `org`.
    pub fn new(scope: impl Into<String>, org: impl Into<String>) -> Self {
        ScopeRef {
            scope: scope.into(),
            org: org.into(),
        }
    }
}

/// Where the controller learns which scopes exist; asked once per sweep.
#[async_trait]
pub trait ScopeSource: Send + Sync {
    /// Every scope to reconcile.
    async fn scopes(&self) -> Result<Vec<ScopeRef>>;
}

#[async_trait]
impl ScopeSource for Vec<ScopeRef> {
    async fn scopes(&self) -> Result<Vec<ScopeRef>> {
        Ok(self.clone())
    }
}

/// Every scope the store knows there is something to reconcile in
/// ([`Store::list_scopes`]), asked afresh at each sweep: a scope applied by
/// any process (or replica) since the last sweep is in the next one, a
/// destroyed one drops out.
///
/// ```
/// use std::sync::Arc;
/// use stackdock_core::DockRegistry;
/// use stackdock_runtime::controller::{ControllerConfig, StoreScopes};
/// use stackdock_runtime::store::{MemoryStore, Store};
/// use stackdock_runtime::Runtime;
///
/// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
/// let runtime = Runtime::new(store.clone(), DockRegistry::new());
/// let controller = runtime.controller(StoreScopes::new(store), ControllerConfig::default());
/// ```
#[derive(Debug, Clone)]
pub struct StoreScopes {
    store: Arc<dyn Store>,
}

impl StoreScopes {
    /// The scopes of `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreScopes { store }
    }
}

#[async_trait]
impl ScopeSource for StoreScopes {
    async fn scopes(&self) -> Result<Vec<ScopeRef>> {
        self.store.list_scopes().await
    }
}

/// How a [`Controller`] paces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// Wait after a clean reconcile before the scope is due again (default 5 min).
    pub interval: Duration,
    /// Scopes reconciled at once (default 8).
    pub concurrency: usize,
    /// Backoff after a failed or busy reconcile (default: from 1 s, doubling
    /// up to 5 min, full jitter; `max_retries` is ignored: a scope is
    /// always retried).
    pub backoff: RetryPolicy,
    /// The actor the reconciles run as (default `controller`).
    pub actor: String,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            interval: Duration::from_secs(300),
            concurrency: 8,
            backoff: RetryPolicy {
                max_retries: u32::MAX,
                initial_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(300),
                retry_timeout: Duration::MAX,
            },
            actor: "controller".into(),
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Scopes whose reconcile succeeded.
    pub reconciled: usize,
    /// Scopes whose reconcile failed (run failed or could not start).
    pub failed: usize,
    /// Scopes another operation held (requeued with backoff).
    pub busy: usize,
    /// Scopes not due yet (backing off or waiting for their interval).
    pub not_due: usize,
}

/// What [`Controller::run`] did until it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ControllerReport {
    /// Sweeps made.
    pub sweeps: usize,
    /// Every sweep's counts, added up.
    pub total: SweepReport,
}

#[derive(Debug, Clone, Copy)]
struct Schedule {
    due: Instant,
    failures: u32,
}

/// Reconciles every scope of a [`ScopeSource`]; see the [module docs](self).
pub struct Controller<S> {
    runtime: Runtime,
    source: S,
    config: ControllerConfig,
    schedule: Mutex<HashMap<ScopeRef, Schedule>>,
}

impl Runtime {
    /// A [`Controller`] reconciling the scopes `source` lists with this runtime.
    pub fn controller<S: ScopeSource>(&self, source: S, config: ControllerConfig) -> Controller<S> {
        Controller {
            runtime: self.clone(),
            source,
            config,
            schedule: Mutex::new(HashMap::new()),
        }
    }
}

enum Outcome {
    Reconciled,
    Failed,
    Busy,
}

impl<S: ScopeSource> Controller<S> {
    /// Sweep, sleep until the next scope is due, sweep again — until
    /// `shutdown` resolves; then let the reconciles in flight finish and
    /// return what was done.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> ControllerReport {
        let stop = tokio::sync::watch::channel(false).0;
        let work = self
            .run_until(&stop)
            .instrument(tracing::info_span!("controller"));
        tokio::pin!(work, shutdown);
        tokio::select! {
            report = &mut work => return report,
            () = &mut shutdown => {
                tracing::info!("controller stopping: no new reconcile starts");
                stop.send_replace(true);
            }
        }
        work.await
    }

    async fn run_until(&self, stop: &tokio::sync::watch::Sender<bool>) -> ControllerReport {
        let mut report = ControllerReport::default();
        loop {
            let sweep = self.sweep_until(stop).await;
            report.sweeps += 1;
            report.total.reconciled += sweep.reconciled;
            report.total.failed += sweep.failed;
            report.total.busy += sweep.busy;
            report.total.not_due += sweep.not_due;
            if *stop.borrow() {
                return report;
            }
            let mut stopped = stop.subscribe();
            tokio::select! {
                () = tokio::time::sleep_until(self.next_due()) => {}
                _ = stopped.wait_for(|s| *s) => return report,
            }
        }
    }

    /// Reconcile every scope that is due now (at most `concurrency` at once)
    /// and return when all have finished.
    pub async fn sweep(&self) -> SweepReport {
        self.sweep_until(&tokio::sync::watch::channel(false).0)
            .await
    }

    async fn sweep_until(&self, stop: &tokio::sync::watch::Sender<bool>) -> SweepReport {
        let mut report = SweepReport::default();
        let scopes = match self.source.scopes().await {
            Ok(scopes) => scopes,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list scopes; next sweep retries");
                report.failed += 1;
                return report;
            }
        };
        let now = Instant::now();
        let (due, not_due): (Vec<_>, Vec<_>) = scopes
            .into_iter()
            .partition(|s| self.schedule_of(s).is_none_or(|p| p.due <= now));
        report.not_due = not_due.len();
        let outcomes: Vec<Outcome> = futures::stream::iter(due)
            .map(|scope| async move {
                if *stop.borrow() {
                    return None;
                }
                Some(self.reconcile_one(&scope).await)
            })
            .buffer_unordered(self.config.concurrency.max(1))
            .filter_map(|o| async move { o })
            .collect()
            .await;
        for outcome in outcomes {
            match outcome {
                Outcome::Reconciled => report.reconciled += 1,
                Outcome::Failed => report.failed += 1,
                Outcome::Busy => report.busy += 1,
            }
        }
        report
    }

    async fn reconcile_one(&self, scope: &ScopeRef) -> Outcome {
        let span = tracing::info_span!("reconcile", scope = %scope.scope);
        let runtime = self.runtime.clone();
        let (name, org, actor) = (
            scope.scope.clone(),
            scope.org.clone(),
            self.config.actor.clone(),
        );
        // A task of its own: the sweep's reconciles run on every worker
        // thread of the tokio runtime, not all on the task polling the sweep.
        let task = tokio::spawn(
            async move {
                let result = runtime.reconcile(&name, &org, &actor).await;
                let outcome = match &result {
                    Ok(report) if report.joined => match runtime.wait(&report.run.id).await {
                        Ok(run) if run.status == RunStatus::Succeeded => Outcome::Reconciled,
                        _ => Outcome::Failed,
                    },
                    Ok(report) if report.succeeded() => Outcome::Reconciled,
                    Ok(_) => Outcome::Failed,
                    Err(Error::ScopeBusy { .. }) => Outcome::Busy,
                    Err(_) => Outcome::Failed,
                };
                (outcome, result)
            }
            .instrument(span),
        );
        let (outcome, result) = match task.await {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(scope = %scope.scope, error = %e, "reconcile task panicked");
                return self.requeue_failed(scope);
            }
        };
        self.requeue(scope, &outcome, &result);
        outcome
    }

    /// Requeue `scope` with backoff after a reconcile that did not return.
    fn requeue_failed(&self, scope: &ScopeRef) -> Outcome {
        let failed = Err(Error::InvalidRequest(format!(
            "the reconcile of {} panicked",
            scope.scope
        )));
        self.requeue(scope, &Outcome::Failed, &failed);
        Outcome::Failed
    }

    fn requeue(&self, scope: &ScopeRef, outcome: &Outcome, result: &Result<crate::RunReport>) {
        let mut schedule = crate::engine_lock(&self.schedule);
        let entry = schedule.entry(scope.clone()).or_insert(Schedule {
            due: Instant::now(),
            failures: 0,
        });
        match outcome {
            Outcome::Reconciled => {
                entry.failures = 0;
                entry.due = Instant::now() + self.config.interval;
            }
            Outcome::Failed | Outcome::Busy => {
                entry.failures = entry.failures.saturating_add(1);
                let wait = self.config.backoff.backoff(entry.failures);
                entry.due = Instant::now() + wait;
                let why = match result {
                    Ok(report) => report.run.reason.clone().unwrap_or_default(),
                    Err(e) => e.to_string(),
                };
                tracing::warn!(scope = %scope.scope, failures = entry.failures, ?wait, %why, "reconcile did not succeed; requeued with backoff");
            }
        }
    }

    fn schedule_of(&self, scope: &ScopeRef) -> Option<Schedule> {
        crate::engine_lock(&self.schedule).get(scope).copied()
    }

    /// When the next scope is due (now when none was scheduled yet).
    fn next_due(&self) -> Instant {
        let schedule = crate::engine_lock(&self.schedule);
        schedule
            .values()
            .map(|s| s.due)
            .min()
            .unwrap_or_else(|| Instant::now() + self.config.interval)
    }
}

impl<S> std::fmt::Debug for Controller<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
