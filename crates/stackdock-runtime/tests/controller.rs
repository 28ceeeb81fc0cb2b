//! The controller loop: periodic reconcile of every scope, backoff after a
//! failure, one reconcile per scope at a time, graceful shutdown.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{injected, tenant, Fixture};
use stackdock_core::layer::RetryPolicy;
use stackdock_core::DockAdapter;
use stackdock_runtime::controller::{ControllerConfig, ScopeRef, StoreScopes};
use stackdock_runtime::events::RunEventKind;
use stackdock_runtime::model::Operation;
use stackdock_runtime::store::MemoryStore;
use stackdock_runtime::ApplyOptions;
use tokio::sync::Semaphore;

const STEPS: usize = 6;

fn scopes(names: &[&str]) -> Vec<ScopeRef> {
    names.iter().map(|n| ScopeRef::new(*n, "agency")).collect()
}

fn config() -> ControllerConfig {
    ControllerConfig {
        interval: Duration::from_secs(3600),
        concurrency: 4,
        backoff: RetryPolicy {
            initial_backoff: Duration::from_secs(600),
            ..ControllerConfig::default().backoff
        },
        actor: "controller".into(),
    }
}

async fn apply(fx: &Fixture, scope: &str) {
    let report = fx
        .runtime
        .apply(&tenant(scope), "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    assert!(report.succeeded(), "{:?}", report.failure);
}

/// Delete `step`'s resource of `scope` behind the runtime's back.
async fn delete_out_of_band(fx: &Fixture, scope: &str, step: &str) {
    let state = fx.store.get_step(scope, step).await.unwrap().unwrap();
    fx.dock(&state.dock)
        .inner
        .delete(state.resource_id().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_sweep_repairs_every_scope_and_then_waits_for_the_interval() {
    let fx = Fixture::memory();
    for scope in ["a", "b", "c"] {
        apply(&fx, scope).await;
    }
    delete_out_of_band(&fx, "a", "www").await;
    delete_out_of_band(&fx, "c", "zone").await;
    let controller = fx.runtime.controller(scopes(&["a", "b", "c"]), config());
    let sweep = controller.sweep().await;
    assert_eq!((sweep.reconciled, sweep.failed), (3, 0), "{sweep:?}");
    assert_eq!(fx.resources(), 3 * STEPS, "what vanished was re-created");
    let calls = fx.calls();
    let again = controller.sweep().await;
    assert_eq!((again.reconciled, again.not_due), (0, 3), "{again:?}");
    assert_eq!(fx.calls(), calls, "nothing is due before the interval");
}

#[tokio::test]
async fn a_failing_scope_backs_off_and_the_others_go_on() {
    let fx = Fixture::memory();
    apply(&fx, "ok").await;
    apply(&fx, "bad").await;
    delete_out_of_band(&fx, "bad", "db").await;
    fx.dock("pg")
        .inner
        .fail_next(stackdock_core::Operation::Create, injected());
    let mut config = config();
    config.interval = Duration::ZERO;
    let controller = fx.runtime.controller(scopes(&["ok", "bad"]), config);
    let first = controller.sweep().await;
    assert_eq!((first.reconciled, first.failed), (1, 1), "{first:?}");
    let second = controller.sweep().await;
    assert_eq!(
        (second.reconciled, second.failed, second.not_due),
        (1, 0, 1),
        "the failed scope backs off, the other is due again: {second:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_another_operation_holds_is_busy_not_run_beside_it() {
    let gate = Arc::new(Semaphore::new(0));
    let fx = Arc::new(Fixture::gated(&gate));
    let applying = {
        let fx = fx.clone();
        tokio::spawn(async move { apply(&fx, "held").await })
    };
    while fx.store.active_run("held").await.unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let controller = fx.runtime.controller(scopes(&["held"]), config());
    let sweep = controller.sweep().await;
    assert_eq!(sweep.busy, 1, "{sweep:?}");
    let runs = fx.store.list_runs("held").await.unwrap();
    assert_eq!(runs.len(), 1, "no reconcile ran beside the apply");
    gate.add_permits(1_000);
    applying.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_controllers_never_reconcile_one_scope_at_the_same_time() {
    let fx = Fixture::with(Arc::new(MemoryStore::new()), None, |p| {
        p.latency = Duration::from_millis(2)
    });
    let names = ["s1", "s2", "s3", "s4"];
    for scope in names {
        apply(&fx, scope).await;
    }
    let one = fx.runtime.controller(scopes(&names), config());
    let two = fx.runtime.clone().controller(scopes(&names), config());
    let (a, b) = tokio::join!(one.sweep(), two.sweep());
    assert_eq!(a.reconciled + b.reconciled, 2 * names.len(), "{a:?} {b:?}");
    for scope in names {
        let runs: Vec<_> = fx
            .store
            .list_runs(scope)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.operation == Operation::Reconcile)
            .collect();
        for pair in runs.windows(2) {
            assert!(
                pair[0].finished_at.unwrap() <= pair[1].created_at,
                "two reconciles of {scope} overlapped"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_stops_on_shutdown_after_its_reconciles_finish() {
    let fx = Fixture::memory();
    apply(&fx, "acme").await;
    let mut events = fx.runtime.subscribe();
    let mut config = config();
    config.interval = Duration::from_millis(5);
    let controller = fx.runtime.controller(scopes(&["acme"]), config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watcher = async {
        let mut finished = 0;
        while finished < 3 {
            if let RunEventKind::RunFinished { .. } = events.recv().await.unwrap().kind {
                finished += 1;
            }
        }
        stop.send(()).unwrap();
    };
    let (report, ()) = tokio::join!(
        controller.run(async {
            stopped.await.unwrap();
        }),
        watcher
    );
    assert!(report.total.reconciled >= 3, "{report:?}");
    assert!(
        fx.store.active_run("acme").await.unwrap().is_none(),
        "no run is left half-way"
    );
}

#[tokio::test]
async fn a_controller_over_the_store_sweeps_every_scope_it_knows_on_sqlite() {
    let fx = Fixture::sqlite().await;
    apply(&fx, "a").await;
    let controller = fx
        .runtime
        .controller(StoreScopes::new(fx.store.clone()), config());
    // Applied after the controller was built: listed afresh at the sweep.
    apply(&fx, "b").await;
    apply(&fx, "gone").await;
    fx.runtime.destroy("gone", "agency", "alice").await.unwrap();
    delete_out_of_band(&fx, "b", "www").await;
    let sweep = controller.sweep().await;
    assert_eq!((sweep.reconciled, sweep.failed), (2, 0), "{sweep:?}");
    assert_eq!(fx.resources(), 2 * STEPS, "what vanished was re-created");
    let mut reconciled = Vec::new();
    for scope in ["a", "b", "gone"] {
        let runs = fx.store.list_runs(scope).await.unwrap();
        if runs.iter().any(|r| r.operation == Operation::Reconcile) {
            reconciled.push(scope);
        }
    }
    assert_eq!(
        reconciled,
        ["a", "b"],
        "a destroyed scope is not reconciled"
    );
}
