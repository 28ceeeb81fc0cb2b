//! Workers on one store: every queued run executed once, a lost lease stops
//! an execution (another worker resumes it), a stop releases what is still
//! running. In-process workers here; the multi-process, kill -9 and
//! database-restart tests are in `stackdock-runtime-postgres`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{tenant, Fixture};
use stackdock_runtime::model::{Lease, OperationRun, RunId, RunStatus};
use stackdock_runtime::worker::{Worker, WorkerOptions, WorkerReport};
use stackdock_runtime::{ApplyOptions, RunRequest};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

/// A worker running until the returned sender fires.
fn start(
    fixture: &Fixture,
    options: WorkerOptions,
) -> (oneshot::Sender<()>, JoinHandle<WorkerReport>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = Worker::new(fixture.runtime.clone()).with_options(options);
    let task = tokio::spawn(worker.run_until(async {
        let _ = stopped.await;
    }));
    (stop, task)
}

/// Queue `request`; its run.
async fn enqueue(fixture: &Fixture, request: &RunRequest) -> OperationRun {
    fixture
        .runtime
        .enqueue(request)
        .await
        .unwrap()
        .run()
        .clone()
}

/// Poll the store until run `id` is running and `started` holds for it.
async fn running(
    fixture: &Fixture,
    id: &RunId,
    started: impl Fn(&OperationRun) -> bool,
) -> OperationRun {
    loop {
        let current = fixture.store.get_run(id).await.unwrap().unwrap();
        if current.status == RunStatus::Running && started(&current) {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Take run `id` away from `worker` (its claim `attempt`) as a lapse seen
/// by another worker would: release the claim; the worker learns it at its
/// next heartbeat or fenced write.
async fn take_away(fixture: &Fixture, id: &RunId, worker: &str, attempt: u32) {
    let lease = Lease {
        run_id: id.clone(),
        worker: worker.into(),
        attempt,
        expires_at: chrono::Utc::now(),
    };
    assert!(fixture.store.release_run(&lease).await.unwrap());
}

/// A worker `id` started, then stopped once run `run` ended: the run as it
/// ended and the worker's report.
async fn execute(fixture: &Fixture, run: &RunId, id: &str) -> (OperationRun, WorkerReport) {
    let (stop, task) = start(fixture, options(id));
    let done = fixture.runtime.wait(run).await.unwrap();
    stop.send(()).unwrap();
    (done, task.await.unwrap())
}

/// The report of a worker that claimed one run and lost it.
fn assert_lost_its_run(report: &WorkerReport) {
    assert_eq!(
        (report.claimed, report.lost, report.succeeded),
        (1, 1, 0),
        "{report:?}"
    );
}

fn options(id: &str) -> WorkerOptions {
    WorkerOptions::default()
        .with_id(id)
        .with_concurrency(3)
        .with_idle_wait(Duration::from_millis(50))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_execute_every_queued_run_once() {
    let fixture = Fixture::memory();
    let mut ids = std::collections::BTreeSet::new();
    for round in 0..2 {
        for t in 0..8 {
            let request = RunRequest::apply(
                &tenant(&format!("w{t}")),
                "client",
                ApplyOptions::rollback(),
            );
            let outcome = fixture.runtime.enqueue(&request).await.unwrap();
            assert_eq!(
                outcome.is_started(),
                round == 0,
                "the second submit joins the first"
            );
            ids.insert(outcome.run().id.clone());
        }
    }
    let workers = [start(&fixture, options("a")), start(&fixture, options("b"))];
    for id in &ids {
        let run = fixture.runtime.wait(id).await.unwrap();
        assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
        assert_eq!(run.attempts, 1, "executed once");
    }
    let mut total = WorkerReport::default();
    for (stop, task) in workers {
        stop.send(()).unwrap();
        let report = task.await.unwrap();
        total.claimed += report.claimed;
        total.succeeded += report.succeeded;
        total.resumed += report.resumed;
    }
    assert_eq!((total.claimed, total.succeeded, total.resumed), (8, 8, 0));
    // 6 steps per tenant, each created once.
    assert_eq!(fixture.mutations(), 8 * 6);
    assert_eq!(fixture.resources(), 8 * 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_that_loses_its_lease_stops_and_another_resumes_without_duplicates() {
    let gate = Arc::new(Semaphore::new(0));
    let fixture = Fixture::gated(&gate);
    let request = RunRequest::apply(&tenant("stolen"), "client", ApplyOptions::rollback());
    let run = enqueue(&fixture, &request).await;
    let lease = Duration::from_millis(600);
    let (stop_a, a) = start(&fixture, options("a").with_lease(lease));
    // Once "a" holds the run, stop it (it claims nothing more and lets the
    // run go on), then take the run away as a lapse seen by another worker
    // would: release a's claim. a's next heartbeat finds it gone.
    let claimed = running(&fixture, &run.id, |_| true).await;
    stop_a.send(()).unwrap();
    take_away(&fixture, &run.id, "a", claimed.attempts).await;
    assert_lost_its_run(&a.await.unwrap());

    gate.add_permits(1000);
    let (done, report_b) = execute(&fixture, &run.id, "b").await;
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(done.attempts, 2, "b's claim resumed the run");
    assert_eq!(
        (report_b.claimed, report_b.resumed, report_b.succeeded),
        (1, 1, 1)
    );
    assert_eq!(fixture.resources(), 6, "every resource exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_that_missed_its_lease_lapsing_is_fenced_off_by_the_store() {
    let gate = Arc::new(Semaphore::new(0));
    let fixture = Fixture::gated(&gate);
    let request = RunRequest::apply(&tenant("paused"), "client", ApplyOptions::rollback());
    let run = enqueue(&fixture, &request).await;
    // A lease of a minute: "a" renews it every 20 s, so within this test
    // it never learns from a heartbeat that its claim is gone.
    let (stop_a, a) = start(&fixture, options("a").with_lease(Duration::from_secs(60)));
    let claimed = running(&fixture, &run.id, |run| !run.steps.is_empty()).await;
    // "a" claims nothing more (its run goes on), is paused mid-call past
    // its lease, and "b" claims the run: as the store sees it, a's claim
    // ended and b's began.
    stop_a.send(()).unwrap();
    take_away(&fixture, &run.id, "a", claimed.attempts).await;
    let b_claim = fixture
        .store
        .claim_run("b", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b_claim.lease.attempt, claimed.attempts + 1);
    let steps_before = fixture.store.list_steps("paused").await.unwrap();

    gate.add_permits(1000); // "a" resumes: its next write is refused
    assert_lost_its_run(&a.await.unwrap());
    let after = fixture.store.get_run(&run.id).await.unwrap().unwrap();
    assert_eq!(
        (after.status, after.attempts),
        (RunStatus::Running, b_claim.lease.attempt),
        "a neither finished nor failed b's run"
    );
    assert_eq!(
        fixture.store.list_steps("paused").await.unwrap(),
        steps_before,
        "no step state written by a after it lost the run"
    );

    // b's claim goes back to the queue; a worker "b" finishes the run.
    assert!(fixture.store.release_run(&b_claim.lease).await.unwrap());
    let (done, _) = execute(&fixture, &run.id, "b").await;
    assert_eq!(done.status, RunStatus::Succeeded, "{done:?}");
    assert_eq!(fixture.resources(), 6, "every resource exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopping_worker_releases_what_it_cannot_finish_and_a_lapsed_claim_is_resumed() {
    let gate = Arc::new(Semaphore::new(0));
    let fixture = Fixture::gated(&gate);
    let request = RunRequest::apply(&tenant("draining"), "client", ApplyOptions::keep());
    let run = enqueue(&fixture, &request).await;
    let (stop, task) = start(
        &fixture,
        options("a").with_drain(Duration::from_millis(100)),
    );
    running(&fixture, &run.id, |_| true).await;
    stop.send(()).unwrap();
    let report = task.await.unwrap();
    assert_eq!((report.claimed, report.released), (1, 1), "{report:?}");
    let released = fixture.store.get_run(&run.id).await.unwrap().unwrap();
    assert_eq!(
        released.status,
        RunStatus::Queued,
        "given back, still holding its scope"
    );

    // A worker that dies holding the claim: claim it by hand with a short
    // lease and never renew; a live worker takes it over once it lapses.
    let dead = fixture
        .store
        .claim_run("dead", Duration::from_millis(200))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.run.id, run.id);
    gate.add_permits(1000);
    let (done, report) = execute(&fixture, &run.id, "b").await;
    assert_eq!((done.status, done.attempts), (RunStatus::Succeeded, 3));
    assert_eq!(report.resumed, 1);
    assert_eq!(fixture.resources(), 6);
}

#[tokio::test]
async fn an_unreadable_request_fails_the_run_instead_of_looping() {
    let fixture = Fixture::memory();
    let run = fixture
        .store
        .submit_run(
            "broken",
            stackdock_runtime::model::Operation::Apply,
            "x",
            &serde_json::json!({"not": "a request"}),
        )
        .await
        .unwrap()
        .run()
        .clone();
    let (done, report) = execute(&fixture, &run.id, "a").await;
    assert_eq!(
        (done.status, done.reason.as_deref()),
        (RunStatus::Failed, Some("invalid_request"))
    );
    assert_eq!(report.failed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_cancelled_while_queued_announces_cancelling_before_it_finishes() {
    use stackdock_runtime::events::RunEventKind;
    let fixture = Fixture::memory();
    let mut events = fixture.runtime.subscribe();
    let request = RunRequest::apply(&tenant("q"), "client", ApplyOptions::rollback());
    let run = enqueue(&fixture, &request).await;
    fixture.runtime.cancel(&run.id, "operator").await.unwrap();
    // Claimed after the request, the run ends at once: no call is made.
    let (done, _) = execute(&fixture, &run.id, "a").await;
    assert_eq!(done.status, RunStatus::Cancelled, "{done:?}");
    assert_eq!(fixture.mutations(), 0);
    let mut kinds = Vec::new();
    while let Ok(event) = events.try_recv() {
        if event.run_id == run.id {
            kinds.push(event.kind);
        }
    }
    let cancelling = kinds.iter().position(|k| *k == RunEventKind::Cancelling);
    let finished = kinds.iter().position(|k| {
        *k == RunEventKind::RunFinished {
            status: RunStatus::Cancelled,
        }
    });
    assert!(
        matches!((cancelling, finished), (Some(c), Some(f)) if c < f),
        "Cancelling, once, before RunFinished: {kinds:?}"
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == RunEventKind::Cancelling)
            .count(),
        1,
        "{kinds:?}"
    );
}
