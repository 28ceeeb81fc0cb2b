//! Cancellation (local and through the store), retries of temporary
//! failures, and per-dock concurrency limits.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::{tenant, Fixture};
use stackdock_core::layer::RetryPolicy;
use stackdock_core::{DockRegistry, ErrorKind, Operation as DockOp};
use stackdock_runtime::events::RunEventKind;
use stackdock_runtime::model::{OperationRun, RunStatus};
use stackdock_runtime::store::{MemoryStore, SqliteStore};
use stackdock_runtime::{ApplyOptions, RunReport, Runtime};
use tokio::sync::{broadcast, Semaphore};
use tokio::task::JoinHandle;

const STEPS: usize = 6;

/// Start an apply of `acme` in a task; return it and its run once active.
async fn apply_in_background(fx: &Arc<Fixture>) -> (JoinHandle<RunReport>, OperationRun) {
    let task = {
        let fx = fx.clone();
        tokio::spawn(async move {
            fx.runtime
                .apply(&tenant("acme"), "alice", ApplyOptions::rollback())
                .await
                .unwrap()
        })
    };
    loop {
        if let Some(run) = fx.store.active_run("acme").await.unwrap() {
            return (task, run);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn wait_for_cancelling(
    events: &mut broadcast::Receiver<stackdock_runtime::events::RunEvent>,
) {
    loop {
        if events.recv().await.unwrap().kind == RunEventKind::Cancelling {
            return;
        }
    }
}

async fn assert_cancelled_then_resumed(fx: &Fixture, report: RunReport) {
    assert_eq!(report.run.status, RunStatus::Cancelled, "{report:?}");
    assert_eq!(report.run.reason.as_deref(), Some("cancelled"));
    assert!(report.rolled_back.is_empty(), "a cancel does not roll back");
    let made = fx.resources();
    assert!(
        made < STEPS,
        "no new step starts after the cancel ({made} made)"
    );
    assert_eq!(made, fx.mutations(), "what was in flight is kept, once");
    // The scope is free and the next apply finishes the job without duplicates.
    let next = fx
        .runtime
        .apply(&tenant("acme"), "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    assert!(next.succeeded(), "{:?}", next.failure);
    assert_eq!((fx.resources(), fx.mutations()), (STEPS, STEPS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_stops_the_run_between_steps_and_keeps_what_was_done() {
    let gate = Arc::new(Semaphore::new(0));
    let fx = Arc::new(Fixture::gated(&gate));
    let mut events = fx.runtime.subscribe();
    let (task, run) = apply_in_background(&fx).await;

    let asked = fx.runtime.cancel(&run.id, "bob").await.unwrap();
    assert!(asked.cancel_requested && asked.status.is_active());
    wait_for_cancelling(&mut events).await;
    gate.add_permits(1_000);
    let report = task.await.unwrap();
    assert_eq!(
        fx.runtime.wait(&run.id).await.unwrap().status,
        RunStatus::Cancelled
    );
    let audit = fx.store.list_audit(&Default::default()).await.unwrap();
    assert_eq!(
        audit.iter().filter(|e| e.operation == "cancel").count(),
        1,
        "the cancel is audited once"
    );
    assert_cancelled_then_resumed(&fx, report).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_made_by_another_runtime_reaches_the_executor_through_the_store() {
    let gate = Arc::new(Semaphore::new(0));
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let mut fx = Fixture::with(store.clone(), Some(dir), |p| p.gate = Some(gate.clone()));
    fx.runtime = fx
        .runtime
        .clone()
        .with_cancel_poll(Duration::from_millis(10));
    let fx = Arc::new(fx);
    let mut events = fx.runtime.subscribe();
    let (task, run) = apply_in_background(&fx).await;

    // Another process: same store, no docks, no shared memory.
    let elsewhere = Runtime::new(store, DockRegistry::new());
    elsewhere.cancel(&run.id, "operator").await.unwrap();
    wait_for_cancelling(&mut events).await;
    gate.add_permits(1_000);
    let report = task.await.unwrap();
    assert_cancelled_then_resumed(&fx, report).await;
}

#[tokio::test]
async fn cancelling_a_finished_run_changes_nothing() {
    let fx = Fixture::memory();
    let report = fx
        .runtime
        .apply(&tenant("acme"), "alice", ApplyOptions::keep())
        .await
        .unwrap();
    let after = fx.runtime.cancel(&report.run.id, "bob").await.unwrap();
    assert_eq!(after.status, RunStatus::Succeeded);
    assert!(!after.cancel_requested);
}

/// The first creates on dns (the zone's) are unavailable once more than the
/// dock's own retry layer (1 + 3 attempts) tries: the step fails up to the
/// runtime.
fn outlast_the_dock_retries(fx: &Fixture) {
    for _ in 0..4 {
        fx.dock("dns").inner.fail_next(
            DockOp::Create,
            stackdock_core::Error::new(ErrorKind::Unavailable),
        );
    }
}

#[tokio::test]
async fn a_temporary_failure_is_retried_from_the_recorded_state() {
    let mut fx = Fixture::memory();
    fx.runtime = fx.runtime.clone().with_retry(RetryPolicy {
        max_retries: 2,
        initial_backoff: Duration::from_millis(1),
        ..RetryPolicy::default()
    });
    let mut events = fx.runtime.subscribe();
    outlast_the_dock_retries(&fx);
    let report = fx
        .runtime
        .apply(&tenant("acme"), "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    assert!(report.succeeded(), "{:?}", report.failure);
    assert_eq!(
        (fx.resources(), fx.mutations()),
        (STEPS, STEPS),
        "one create each"
    );
    let mut retries = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let RunEventKind::Retry {
            step,
            attempt,
            code,
            ..
        } = e.kind
        {
            retries.push((step, attempt, code));
        }
    }
    assert_eq!(
        retries,
        vec![("zone".to_owned(), 2, "unavailable".to_owned())]
    );
}

#[tokio::test]
async fn a_temporary_failure_is_not_retried_when_retries_are_off() {
    let mut fx = Fixture::memory();
    fx.runtime = fx.runtime.clone().with_retry(RetryPolicy::none());
    outlast_the_dock_retries(&fx);
    let report = fx
        .runtime
        .apply(&tenant("acme"), "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    assert_eq!(report.run.status, RunStatus::Failed);
    assert_eq!(report.failure.unwrap().code, "unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dock_limit_bounds_its_calls_in_flight() {
    let max_on_dns = |limit: Option<usize>| async move {
        let mut fx = Fixture::with(Arc::new(MemoryStore::new()), None, |p| {
            p.latency = Duration::from_millis(5)
        });
        if let Some(n) = limit {
            fx.runtime = fx.runtime.clone().with_dock_concurrency("dns", n);
        }
        let report = fx
            .runtime
            .apply(&tenant("acme"), "alice", ApplyOptions::rollback())
            .await
            .unwrap();
        assert!(report.succeeded());
        fx.dock("dns").max_in_flight.load(Ordering::SeqCst)
    };
    // Two records wait for the zone, then go together — unless dns allows one.
    assert_eq!(max_on_dns(None).await, 2);
    assert_eq!(max_on_dns(Some(1)).await, 1);
}
