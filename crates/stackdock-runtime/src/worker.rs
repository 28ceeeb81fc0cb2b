//! [`Worker`]: executes queued runs, as many replicas as you like.
//!
//! A control plane that runs as several processes queues its runs
//! ([`Runtime::enqueue`]) instead of executing them where they were asked
//! for; every replica runs a [`Worker`] on the same store, and the store
//! hands each run to one of them.
//!
//! # What a worker does, step by step
//!
//! 1. **Claim** ([`Store::claim_run`]): the oldest queued run, or a running
//!    one whose lease lapsed, becomes this worker's under a lease of
//!    [`WorkerOptions::lease`]. At most [`WorkerOptions::concurrency`] runs
//!    at once per worker.
//! 2. **Heartbeat**: every [`WorkerOptions::heartbeat`] the lease is
//!    renewed. If the store says the lease is no longer ours, or it could
//!    not be renewed before it would lapse (the database is unreachable),
//!    the worker **stops executing the run at once** (drops the execution,
//!    as a crash would): another worker may own it by then.
//! 3. **Execute** ([`Runtime::execute`]) from the request stored with the
//!    run, writing run and step state through a
//!    [`FencedStore`](crate::store::FencedStore) of the claim: should the
//!    worker miss that its lease lapsed (a pause, a partition) while
//!    another worker claimed the run, its next write is refused
//!    ([`Error::LeaseLost`]) and it stops, counted as lost. A claim of a
//!    run whose earlier lease lapsed *resumes* it: every step is driven
//!    from its recorded state, observe first, never a blind second create.
//!    `execute` finishes the run in the store.
//! 4. **Idle**: with nothing to claim the worker waits on
//!    [`Store::wait_for_work`] (PostgreSQL: `LISTEN`, so a run submitted by
//!    any replica wakes it at once; at most [`WorkerOptions::idle_wait`]
//!    between polls otherwise).
//! 5. **Stop** (the `shutdown` future of [`Worker::run_until`] resolves,
//!    e.g. SIGTERM through [`shutdown_signal`]): no new claims; runs in
//!    flight get [`WorkerOptions::drain`] to finish; those still running
//!    then are stopped and **released** ([`Store::release_run`]) so another
//!    worker resumes them at once instead of after their lease lapsed.
//!
//! Store errors while claiming (a database restart) are temporary: the
//! worker backs off (full jitter, capped) and claims again, without a
//! process restart.
//!
//! # What it assumes
//!
//! * Every replica has the same docks (ids and configuration) and the same
//!   vault keys: any of them may execute or resume any run.
//! * The lease is long compared with the heartbeat (default 30 s vs 10 s),
//!   and with a step's longest single provider call being in flight when
//!   a worker loses its lease: an execution stopped mid-call is resumed
//!   from its recorded intent, like after a crash.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use tracing::Instrument;

use crate::model::{ClaimedRun, Lease, RunStatus, StartOutcome};
use crate::store::Store;
use crate::{Error, Result};
use crate::{Executed, RunRequest, Runtime};

/// How a [`Worker`] claims and keeps runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerOptions {
    /// This worker's id in leases (unique per process). Default:
    /// `<host>-<pid>-<random>`.
    pub id: String,
    /// Runs executed at once by this worker. Default 4.
    pub concurrency: usize,
    /// How long a claim lasts without a heartbeat. Default 30 s.
    pub lease: Duration,
    /// How often the lease is renewed. Default 10 s (a third of the lease).
    pub heartbeat: Duration,
    /// The longest idle wait between two claims when the store does not
    /// wake the worker sooner. Default 1 s.
    pub idle_wait: Duration,
    /// On stop, how long runs in flight may go on before they are stopped
    /// and released. Default 30 s.
    pub drain: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            id: default_worker_id(),
            concurrency: 4,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            idle_wait: Duration::from_secs(1),
            drain: Duration::from_secs(30),
        }
    }
}

impl WorkerOptions {
    /// Set the worker id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Set how many runs this worker executes at once (at least 1).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Set the lease, and the heartbeat to a third of it.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self.heartbeat = lease / 3;
        self
    }

    /// Set the longest idle wait between claims.
    pub fn with_idle_wait(mut self, wait: Duration) -> Self {
        self.idle_wait = wait;
        self
    }

    /// Set how long runs in flight may finish after a stop.
    pub fn with_drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }
}

fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
    let random = &crate::model::RunId::new().0[..8];
    format!("{host}-{}-{random}", std::process::id())
}

/// What a worker did, counted when it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Runs claimed.
    pub claimed: u64,
    /// Of those, claims that resumed a run (an earlier lease lapsed or was released).
    pub resumed: u64,
    /// Runs that ended `succeeded`.
    pub succeeded: u64,
    /// Runs that ended `failed` or `cancelled`, or could not be executed.
    pub failed: u64,
    /// Executions stopped because the lease was lost.
    pub lost: u64,
    /// Runs given back to the queue on stop.
    pub released: u64,
    /// Store errors while claiming (each followed by a backoff).
    pub store_errors: u64,
}

/// How one claimed run ended for this worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Succeeded,
    Failed,
    Lost,
    Released,
}

impl WorkerReport {
    fn count(&mut self, ended: Ended) {
        match ended {
            Ended::Succeeded => self.succeeded += 1,
            Ended::Failed => self.failed += 1,
            Ended::Lost => self.lost += 1,
            Ended::Released => self.released += 1,
        }
    }
}

impl Runtime {
    /// Queue `request` for a [`Worker`] (of any replica) to execute: check it
    /// like [`admit`](Runtime::admit) does (no provider call), then
    /// [`Store::submit_run`] with the request serialised. The same operation
    /// already active on the scope → that run ([`StartOutcome::Joined`]);
    /// another → [`Error::ScopeBusy`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use stackdock_core::{DockRegistry, InMemoryAdapter};
    /// use stackdock_runtime::store::MemoryStore;
    /// use stackdock_runtime::{RunRequest, Runtime};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let runtime = Runtime::new(Arc::new(MemoryStore::new()), DockRegistry::new());
    /// let queued = runtime.enqueue(&RunRequest::destroy("acme", "default", "alice")).await?;
    /// assert_eq!(queued.run().status, stackdock_runtime::model::RunStatus::Queued);
    /// # Ok::<(), stackdock_runtime::Error>(()) }).unwrap();
    /// ```
    pub async fn enqueue(&self, request: &RunRequest) -> Result<StartOutcome> {
        self.admit(request).await?;
        let body = serde_json::to_value(request).map_err(Error::store)?;
        self.store()
            .submit_run(&request.scope, request.operation, &request.actor, &body)
            .await
    }
}

/// Claims queued runs from the runtime's store and executes them; see the
/// [module docs](self) for the protocol and its guarantees.
///
/// ```
/// use std::sync::Arc;
/// use stackdock_core::{DockRegistry, InMemoryAdapter};
/// use stackdock_runtime::blueprint::Blueprint;
/// use stackdock_runtime::store::{MemoryStore, Store};
/// use stackdock_runtime::worker::{Worker, WorkerOptions};
/// use stackdock_runtime::{ApplyOptions, RunRequest, Runtime};
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let mut docks = DockRegistry::new();
/// docks.insert(Arc::new(InMemoryAdapter::new("dns")))?;
/// let runtime = Runtime::new(Arc::new(MemoryStore::new()), docks);
/// let blueprint = Blueprint::from_toml(r#"
///     scope = "acme"
///     [steps.zone]
///     dock = "dns"
///     spec = { kind = "dns_zone", name = "acme.example" }
/// "#)?;
/// let queued = runtime.enqueue(&RunRequest::apply(&blueprint, "alice", ApplyOptions::rollback())).await?;
///
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let worker = tokio::spawn(Worker::new(runtime.clone()).run_until(async { stopped.await.ok(); }));
/// let done = runtime.wait(&queued.run().id).await?; // until it finishes
/// assert_eq!(done.status, stackdock_runtime::model::RunStatus::Succeeded);
/// stop.send(()).unwrap();
/// assert_eq!(worker.await.unwrap().succeeded, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Worker {
    runtime: Runtime,
    options: WorkerOptions,
}

impl Worker {
    /// A worker for `runtime` (its store, docks, vault, audit) with default options.
    pub fn new(runtime: Runtime) -> Self {
        Worker {
            runtime,
            options: WorkerOptions::default(),
        }
    }

    /// Use `options`.
    pub fn with_options(mut self, options: WorkerOptions) -> Self {
        self.options = options;
        self
    }

    /// The options.
    pub fn options(&self) -> &WorkerOptions {
        &self.options
    }

    /// Claim and execute runs until `shutdown` resolves, then stop
    /// gracefully (see the [module docs](self)).
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> WorkerReport {
        let worker = Arc::new(self);
        let slots = Arc::new(Semaphore::new(worker.options.concurrency.max(1)));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut report = WorkerReport::default();
        let mut failures = 0u32;
        tokio::pin!(shutdown);
        tracing::info!(worker = %worker.options.id, "worker started");
        loop {
            while let Some(done) = tasks.try_join_next() {
                report.count(done.unwrap_or(Ended::Failed));
            }
            let permit = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            };
            // Not raced with `shutdown`: a claim dropped after its UPDATE
            // committed would leave a lease nobody renews.
            match worker.claim().await {
                Ok(Some(claim)) => {
                    failures = 0;
                    report.claimed += 1;
                    report.resumed += u64::from(claim.is_resumed());
                    tasks.spawn(worker.clone().execute(claim, permit, stop_rx.clone()));
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        biased;
                        _ = &mut shutdown => break,
                        _ = worker.runtime.store().wait_for_work(worker.options.idle_wait) => {}
                    }
                }
                Err(e) => {
                    drop(permit);
                    failures += 1;
                    report.store_errors += 1;
                    let pause = backoff(failures);
                    tracing::warn!(worker = %worker.options.id, error = %e, ?pause, "cannot claim runs; retrying");
                    tokio::select! {
                        biased;
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
        worker.drain(tasks, stop_tx, &mut report).await;
        tracing::info!(worker = %worker.options.id, ?report, "worker stopped");
        report
    }

    async fn claim(&self) -> Result<Option<ClaimedRun>> {
        self.runtime
            .store()
            .claim_run(&self.options.id, self.options.lease)
            .await
    }

    /// Let runs in flight finish for `drain`, then tell the rest to stop
    /// and release their claims, and wait for them.
    async fn drain(
        &self,
        mut tasks: JoinSet<Ended>,
        stop: watch::Sender<bool>,
        report: &mut WorkerReport,
    ) {
        let deadline = Instant::now() + self.options.drain;
        loop {
            match tokio::time::timeout_at(deadline, tasks.join_next()).await {
                Ok(Some(done)) => report.count(done.unwrap_or(Ended::Failed)),
                Ok(None) => return,
                Err(_) => break,
            }
        }
        let _ = stop.send(true);
        while let Some(done) = tasks.join_next().await {
            report.count(done.unwrap_or(Ended::Failed));
        }
    }

    /// Execute one claimed run while keeping its lease; see the module docs.
    async fn execute(
        self: Arc<Self>,
        claim: ClaimedRun,
        _permit: OwnedSemaphorePermit,
        mut stop: watch::Receiver<bool>,
    ) -> Ended {
        let span = tracing::info_span!("claimed run", run_id = %claim.run.id, worker = %self.options.id, attempt = claim.lease.attempt);
        self.execute_claimed(claim, &mut stop)
            .instrument(span)
            .await
    }

    async fn execute_claimed(&self, claim: ClaimedRun, stop: &mut watch::Receiver<bool>) -> Ended {
        let store = self.runtime.store().clone();
        let request: RunRequest = match serde_json::from_value(claim.request.clone()) {
            Ok(request) => request,
            Err(e) => {
                return self
                    .refuse(&claim, &format!("the stored request is unreadable: {e}"))
                    .await
            }
        };
        let runtime = self.runtime.fenced_by(&claim.lease);
        tokio::select! {
            executed = runtime.execute(&claim.run, &request) => match executed {
                Ok(executed) => ended_as(&executed),
                Err(Error::InvalidRequest(why)) => self.refuse(&claim, &why).await,
                Err(Error::LeaseLost { .. }) => {
                    tracing::warn!("the store refused a write: another worker holds the run now; execution stopped");
                    Ended::Lost
                }
                Err(e) => {
                    tracing::warn!(error = %e, "run ended with an error");
                    Ended::Failed
                }
            },
            lease = keep_lease(store.as_ref(), claim.lease.clone(), &self.options) => {
                tracing::warn!(?lease, "lease lost: execution stopped; another worker resumes the run");
                Ended::Lost
            }
            () = stopped(stop) => {
                match store.release_run(&claim.lease).await {
                    Ok(true) => Ended::Released,
                    Ok(false) => Ended::Lost,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot release the run; its lease will lapse");
                        Ended::Lost
                    }
                }
            }
        }
    }

    /// Finish a run that cannot be executed as `failed`: retrying cannot help.
    async fn refuse(&self, claim: &ClaimedRun, why: &str) -> Ended {
        tracing::warn!(
            why,
            "a claimed run cannot be executed; finishing it as failed"
        );
        let finished = self
            .runtime
            .store()
            .finish_run(
                &claim.run.id,
                RunStatus::Failed,
                Some("invalid_request"),
                Some(why),
            )
            .await;
        if let Err(e) = finished {
            tracing::warn!(error = %e, "cannot finish the run; its lease will lapse");
        }
        Ended::Failed
    }
}

/// Resolves once the worker is told to stop (or is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard wait_for returns must not live across the caller's awaits.
    let _ = stop.wait_for(|stop| *stop).await.map(drop);
}

fn ended_as(executed: &Executed) -> Ended {
    match executed.run().status {
        RunStatus::Succeeded => Ended::Succeeded,
        _ => Ended::Failed,
    }
}

/// Why [`keep_lease`] gave up.
#[derive(Debug)]
enum LeaseLost {
    /// The store says the lease is not ours any more.
    Taken,
    /// It could not be renewed before it would lapse.
    Unrenewed,
}

/// Renew `lease` every heartbeat; return when it is lost. Timing is on the
/// local monotonic clock, measured from *before* each renewal was sent, so
/// the worker always believes its lease ends no later than the store does.
async fn keep_lease(store: &dyn Store, mut lease: Lease, options: &WorkerOptions) -> LeaseLost {
    let mut valid_until = Instant::now() + options.lease;
    let margin = options.heartbeat / 2;
    loop {
        let next = (Instant::now() + options.heartbeat).min(valid_until - margin);
        tokio::time::sleep_until(next).await;
        if Instant::now() + margin >= valid_until {
            return LeaseLost::Unrenewed;
        }
        let sent = Instant::now();
        match store.renew_lease(&lease, options.lease).await {
            Ok(Some(renewed)) => {
                lease = renewed;
                valid_until = sent + options.lease;
            }
            Ok(None) => return LeaseLost::Taken,
            Err(e) => tracing::warn!(error = %e, "cannot renew the lease; trying again"),
        }
    }
}

/// The pause after the `n`th store failure in a row: full jitter under a
/// ceiling doubling from 50 ms to 5 s (core's rule).
fn backoff(n: u32) -> Duration {
    let ceiling = stackdock_core::layer::backoff_ceiling(
        Duration::from_millis(50),
        Duration::from_secs(5),
        n,
    );
    stackdock_core::layer::full_jitter(ceiling, &mut rand::thread_rng())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C): the `shutdown` of
/// [`Worker::run_until`] in a process that a supervisor stops with a signal.
///
/// ```no_run
/// # async fn demo(worker: stackdock_runtime::worker::Worker) {
/// let report = worker.run_until(stackdock_runtime::worker::shutdown_signal()).await;
/// # }
/// ```
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
