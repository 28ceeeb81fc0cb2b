//! The worker entry point: a run started (claimed) in the store, executed
//! from its stored request by another runtime.

mod common;

use common::{tenant, Fixture};
use stackdock_core::ProvisioningState;
use stackdock_runtime::model::{Operation, RunStatus};
use stackdock_runtime::{ApplyOptions, Error, Executed, RunRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_request_executes_on_a_run_started_elsewhere() {
    let fx = Fixture::sqlite().await;
    let request = RunRequest::apply(&tenant("acme"), "alice", ApplyOptions::rollback());
    // What a queue stores with the run, and a worker reads back.
    let stored = serde_json::to_string(&request).unwrap();
    let read: RunRequest = serde_json::from_str(&stored).unwrap();
    assert_eq!(read, request);

    fx.runtime.admit(&read).await.unwrap();
    let run = fx
        .store
        .start_run(&read.scope, read.operation, &read.actor)
        .await
        .unwrap();
    let Executed::Run(report) = fx.runtime.execute(run.run(), &read).await.unwrap() else {
        panic!("an apply reports a run");
    };
    assert!(report.succeeded(), "{:?}", report.failure);
    assert_eq!(report.run.id, run.run().id);
    assert_eq!(fx.resources(), 6);
    let status = fx.runtime.status("acme").await.unwrap();
    assert!(status.active_run.is_none(), "execute finishes the run");
    assert!(status
        .steps
        .iter()
        .all(|s| s.state == ProvisioningState::Provisioned));

    // A finished run is not executed again.
    let again = fx.runtime.execute(&report.run, &read).await;
    assert!(matches!(again, Err(Error::InvalidRequest(_))), "{again:?}");
}

#[tokio::test]
async fn a_request_that_does_not_fit_its_run_is_refused_before_any_call() {
    let fx = Fixture::memory();
    let apply = RunRequest::apply(&tenant("acme"), "alice", ApplyOptions::keep());
    let destroy_run = fx
        .store
        .start_run("acme", Operation::Destroy, "alice")
        .await
        .unwrap();
    let wrong_operation = fx.runtime.execute(destroy_run.run(), &apply).await;
    assert!(matches!(wrong_operation, Err(Error::InvalidRequest(_))));

    let mut no_blueprint = apply.clone();
    no_blueprint.blueprint = None;
    assert!(matches!(
        fx.runtime.admit(&no_blueprint).await,
        Err(Error::InvalidRequest(_))
    ));
    assert_eq!(fx.calls(), 0, "nothing reached a dock");
    let run = fx
        .store
        .get_run(&destroy_run.run().id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, RunStatus::Running, "the run is left as it was");
}

#[tokio::test]
async fn reconcile_destroy_and_sync_requests_execute_too() {
    let fx = Fixture::memory();
    fx.runtime
        .apply(&tenant("acme"), "alice", ApplyOptions::keep())
        .await
        .unwrap();
    for request in [
        RunRequest::reconcile("acme", "agency", "bob"),
        RunRequest::sync("dns", "bob"),
        RunRequest::destroy("acme", "agency", "bob"),
    ] {
        fx.runtime.admit(&request).await.unwrap();
        let run = fx
            .store
            .start_run(&request.scope, request.operation, &request.actor)
            .await
            .unwrap();
        let executed = fx.runtime.execute(run.run(), &request).await.unwrap();
        assert_eq!(executed.run().status, RunStatus::Succeeded, "{executed:?}");
        assert_eq!(
            matches!(executed, Executed::Sync(_)),
            request.operation == Operation::Sync
        );
    }
    assert_eq!(fx.resources(), 0);
}
