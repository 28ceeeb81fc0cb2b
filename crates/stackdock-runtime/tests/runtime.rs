//! The runtime end to end on in-memory docks and real SQLite.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{injected, tenant, Fixture, SENTINEL};
use stackdock_core::secret::ExposeSecret;
use stackdock_core::{Operation as DockOp, ProvisioningState};
use stackdock_runtime::blueprint::Blueprint;
use stackdock_runtime::events::{RunEventKind, StepOutcome};
use stackdock_runtime::model::{AuditOutcome, AuditQuery, Operation, RunStatus};
use stackdock_runtime::store::{MemoryStore, Store};
use stackdock_runtime::{ApplyOptions, Error};
use tokio::sync::Semaphore;

const STEPS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_status_reapply_destroy_on_sqlite() {
    let fx = Fixture::sqlite().await;
    let bp = tenant("acme");
    let mut events = fx.runtime.subscribe();

    let report = fx
        .runtime
        .apply(&bp, "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    assert!(report.succeeded(), "{:?}", report.failure);
    assert!(!report.joined);
    assert_eq!(report.steps.len(), STEPS);
    assert!(
        report.steps.values().all(|o| *o == StepOutcome::Created),
        "{:?}",
        report.steps
    );
    assert_eq!(fx.mutations(), STEPS, "one create per step");
    assert_eq!(fx.resources(), STEPS);

    // Outputs flowed: the TXT record carries the database's host, port and name.
    let txt = fx.store.get_step("acme", "db_txt").await.unwrap().unwrap();
    assert_eq!(
        txt.spec["data"]["text"],
        "host=localhost port=5432 db=acme_app"
    );
    assert_eq!(txt.needs, vec!["db", "zone"]);
    let fwd = fx
        .store
        .get_step("acme", "forwarder")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fwd.spec["destinations"][0], "info@acme.example");

    // Events: every step started and finished, transitions in between, then the run.
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        assert_eq!(e.run_id, report.run.id);
        seen.push(e.kind);
    }
    let started = seen
        .iter()
        .filter(|k| matches!(k, RunEventKind::StepStarted { .. }))
        .count();
    let finished = seen
        .iter()
        .filter(|k| matches!(k, RunEventKind::StepFinished { .. }))
        .count();
    let transitions = seen
        .iter()
        .filter(|k| matches!(k, RunEventKind::Transition { .. }))
        .count();
    assert_eq!((started, finished, transitions), (STEPS, STEPS, 2 * STEPS));
    assert!(matches!(
        seen.first(),
        Some(RunEventKind::RunStarted {
            operation: Operation::Apply
        })
    ));
    assert_eq!(
        seen.last(),
        Some(&RunEventKind::RunFinished {
            status: RunStatus::Succeeded
        })
    );

    // Status from the store alone: no call reaches any dock.
    let calls = fx.calls();
    let status = fx.runtime.status("acme").await.unwrap();
    assert_eq!(fx.calls(), calls, "status must not call a provider");
    assert!(status.active_run.is_none());
    assert_eq!(
        status.last_run.as_ref().unwrap().status,
        RunStatus::Succeeded
    );
    assert_eq!(status.last_run.as_ref().unwrap().steps.len(), STEPS);
    assert!(status
        .steps
        .iter()
        .all(|s| s.state == ProvisioningState::Provisioned && s.resource_id.is_some()));

    // The same blueprint again: observes only, zero mutating calls.
    let again = fx
        .runtime
        .apply(&bp, "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    assert!(again.succeeded());
    assert_eq!(
        fx.mutations(),
        STEPS,
        "an unchanged blueprint makes no mutating call"
    );
    assert!(
        again.steps.values().all(|o| *o == StepOutcome::Unchanged),
        "{:?}",
        again.steps
    );
    assert!(
        again.run.steps.is_empty(),
        "nothing to record: no step touched"
    );

    // Drift out of band: the next apply updates exactly that.
    let mut changed = bp.clone();
    changed.steps.get_mut("www").unwrap().spec["ttl"] = 600.into();
    let drift = fx
        .runtime
        .apply(&changed, "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    assert_eq!(drift.steps["www"], StepOutcome::Updated);
    assert_eq!(fx.mutations(), STEPS + 1);

    // Destroy: children first, everything gone, idempotent.
    let destroyed = fx.runtime.destroy("acme", "agency", "alice").await.unwrap();
    assert!(destroyed.succeeded(), "{:?}", destroyed.failure);
    assert_eq!(fx.resources(), 0);
    let calls = fx.calls();
    let twice = fx.runtime.destroy("acme", "agency", "alice").await.unwrap();
    assert!(twice.succeeded());
    assert_eq!(
        fx.calls(),
        calls,
        "destroying a destroyed scope calls nothing"
    );
    let status = fx.runtime.status("acme").await.unwrap();
    assert!(status
        .steps
        .iter()
        .all(|s| s.state == ProvisioningState::Deprovisioned && s.resource_id.is_none()));

    // Audit: exactly one entry per mutation (6 creates, 1 update, 6 deletes).
    let audit = fx
        .store
        .list_audit(&AuditQuery {
            scope: Some("acme".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let count = |op: &str| audit.iter().filter(|e| e.operation == op).count();
    assert_eq!(
        (count("create"), count("update"), count("delete")),
        (STEPS, 1, STEPS)
    );
    assert!(audit
        .iter()
        .all(|e| e.actor == "alice" && e.org.as_deref() == Some("agency") && e.run_id.is_some()));

    // No secret anywhere in the state directory (SQLite file and WAL): not
    // the env-provided mailbox password, not the generated database one.
    let generated = fx
        .vault
        .open("agency", "pg", "acme/db/password")
        .await
        .unwrap();
    let dir = fx.dir.as_ref().unwrap().path();
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for needle in [SENTINEL, generated.expose_secret()] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "a secret reached the state"
            );
        }
    }
    let decrypts = fx
        .store
        .list_audit(&AuditQuery {
            operation: Some("decrypt".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(decrypts.len() >= 3, "every decryption is audited");
}

/// Calls each dock serves during a clean apply of the tenant.
async fn calls_per_dock() -> Vec<(String, usize)> {
    let fx = Fixture::memory();
    assert!(fx
        .runtime
        .apply(&tenant("t"), "a", ApplyOptions::rollback())
        .await
        .unwrap()
        .succeeded());
    fx.docks
        .iter()
        .map(|(n, d)| (n.clone(), d.calls()))
        .filter(|(_, c)| *c > 0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_at_every_call_with_rollback_leaves_nothing() {
    let mut trials = 0;
    for (dock, calls) in calls_per_dock().await {
        for k in 1..=calls {
            let fx = Fixture::memory();
            fx.dock(&dock).inner.fail_call_number(k, injected());
            let report = fx
                .runtime
                .apply(&tenant("t"), "a", ApplyOptions::rollback())
                .await
                .unwrap();
            assert_eq!(
                report.run.status,
                RunStatus::Failed,
                "fault at {dock} call {k}"
            );
            assert_eq!(report.run.reason.as_deref(), Some("rolled_back"));
            assert_eq!(
                fx.resources(),
                0,
                "fault at {dock} call {k}: rollback left {:?}",
                report.steps
            );
            let live = fx
                .store
                .list_steps("t")
                .await
                .unwrap()
                .into_iter()
                .filter(|s| s.holds_resource())
                .count();
            assert_eq!(
                live, 0,
                "fault at {dock} call {k}: the store still records live resources"
            );
            trials += 1;
        }
    }
    assert!(trials >= STEPS * 2, "only {trials} fault positions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_at_every_call_with_keep_is_finished_by_the_next_apply() {
    for (dock, calls) in calls_per_dock().await {
        for k in 1..=calls {
            let fx = Fixture::memory();
            fx.dock(&dock).inner.fail_call_number(k, injected());
            let report = fx
                .runtime
                .apply(&tenant("t"), "a", ApplyOptions::keep())
                .await
                .unwrap();
            assert_eq!(report.run.status, RunStatus::Failed);
            assert_eq!(report.run.reason.as_deref(), Some("kept"));
            let failed = report.failure.unwrap();
            assert_eq!(failed.code, "provider", "fault at {dock} call {k}");
            let second = fx
                .runtime
                .apply(&tenant("t"), "a", ApplyOptions::keep())
                .await
                .unwrap();
            assert!(
                second.succeeded(),
                "fault at {dock} call {k}: {:?}",
                second.failure
            );
            assert_eq!(
                fx.resources(),
                STEPS,
                "fault at {dock} call {k}: exactly one of each"
            );
            assert_eq!(
                fx.mutations(),
                STEPS,
                "fault at {dock} call {k}: no second create"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_applies_join_one_run_and_a_destroy_meanwhile_is_busy() {
    let gate = Arc::new(Semaphore::new(0));
    let fx = Arc::new(Fixture::gated(&gate));
    let bp = tenant("acme");
    let first = {
        let (fx, bp) = (fx.clone(), bp.clone());
        tokio::spawn(async move {
            fx.runtime
                .apply(&bp, "alice", ApplyOptions::rollback())
                .await
        })
    };
    let active = loop {
        if let Some(run) = fx.store.active_run("acme").await.unwrap() {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let others: Vec<_> = (0..50)
        .map(|i| {
            let (fx, bp) = (fx.clone(), bp.clone());
            tokio::spawn(async move {
                fx.runtime
                    .apply(&bp, &format!("user{i}"), ApplyOptions::rollback())
                    .await
            })
        })
        .collect();
    for other in others {
        let report = other.await.unwrap().unwrap();
        assert!(report.joined);
        assert_eq!(report.run.id, active.id);
    }
    match fx.runtime.destroy("acme", "agency", "mallory").await {
        Err(Error::ScopeBusy {
            active_run,
            operation,
            ..
        }) => {
            assert_eq!(
                (active_run, operation),
                (active.id.clone(), Operation::Apply)
            );
        }
        other => panic!("a destroy during an apply must be ScopeBusy, got {other:?}"),
    }
    let denied = fx
        .store
        .list_audit(&AuditQuery {
            operation: Some("destroy".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(denied.len(), 1);
    assert_eq!(
        (denied[0].outcome, denied[0].actor.as_str()),
        (AuditOutcome::Denied, "mallory")
    );

    gate.add_permits(1_000);
    let report = first.await.unwrap().unwrap();
    assert!(report.succeeded());
    assert_eq!(
        fx.runtime.wait(&active.id).await.unwrap().status,
        RunStatus::Succeeded
    );
    assert_eq!(
        fx.store.list_runs("acme").await.unwrap().len(),
        1,
        "one run for 51 applies"
    );
    assert_eq!(fx.resources(), STEPS);
}

fn one_db(scope: &str, extra_failing_step: bool) -> Blueprint {
    let mut b = Blueprint::builder(scope).step_json(
        "db",
        "pg",
        serde_json::json!({"kind": "database", "name": "shared_db", "connection_limit": 10}),
    );
    if extra_failing_step {
        // Always fails: the zone does not exist on that dock.
        b = b
            .step_json(
                "rec",
                "slow",
                serde_json::json!({
                    "kind": "dns_record", "zone": "missing.example", "name": "www",
                    "data": {"type": "TXT", "text": "x"}
                }),
            )
            .needs("db");
    }
    b.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_never_deletes_what_another_run_adopted() {
    let fx = Fixture::memory();
    // Run 1 of scope "first" creates the database.
    assert!(fx
        .runtime
        .apply(&one_db("first", false), "a", ApplyOptions::rollback())
        .await
        .unwrap()
        .succeeded());
    // Scope "second" adopts it, then fails and rolls back: the database stays.
    let second = fx
        .runtime
        .apply(&one_db("second", true), "b", ApplyOptions::rollback())
        .await
        .unwrap();
    assert_eq!(second.run.status, RunStatus::Failed);
    assert!(second.rolled_back.is_empty());
    assert_eq!(
        second.steps["db"],
        StepOutcome::Skipped {
            reason: "not_created_by_this_run".into()
        }
    );
    assert_eq!(fx.dock("pg").inner.len(), 1);
    let skipped = fx
        .store
        .list_audit(&AuditQuery {
            operation: Some("rollback".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(
        (skipped[0].outcome, skipped[0].scope.as_deref()),
        (AuditOutcome::Skipped, Some("second"))
    );
    // Run 2 of scope "first" fails too: run 1 created the database, run 2
    // only observed it, so its rollback has nothing to undo.
    let again = fx
        .runtime
        .apply(&one_db("first", true), "a", ApplyOptions::rollback())
        .await
        .unwrap();
    assert_eq!(again.run.status, RunStatus::Failed);
    assert_eq!(again.steps["db"], StepOutcome::Unchanged);
    assert!(again.rolled_back.is_empty());
    assert_eq!(fx.dock("pg").inner.len(), 1);
    assert_eq!(fx.dock("pg").mutations(), 1, "one create, no delete");

    // Run 3 of scope "first" fixes drift on the database (so it touches the
    // step) and then fails: run 1 created it, so run 3's rollback keeps it.
    use stackdock_core::DockAdapter;
    let db = fx.store.get_step("first", "db").await.unwrap().unwrap();
    let drifted = stackdock_core::ResourceSpec::from(stackdock_core::spec::DatabaseSpec {
        name: "shared_db".into(),
        connection_limit: Some(99),
        ..Default::default()
    });
    fx.dock("pg")
        .inner
        .update(db.resource_id().unwrap(), &drifted)
        .await
        .unwrap();
    let third = fx
        .runtime
        .apply(&one_db("first", true), "a", ApplyOptions::rollback())
        .await
        .unwrap();
    assert_eq!(third.run.status, RunStatus::Failed);
    assert!(
        third.run.steps.contains(&"db".to_owned()),
        "the update touched the step"
    );
    assert_eq!(
        third.steps["db"],
        StepOutcome::Skipped {
            reason: "not_created_by_this_run".into()
        }
    );
    assert!(third.rolled_back.is_empty());
    assert_eq!(
        fx.dock("pg").inner.len(),
        1,
        "an earlier run's database survives a later rollback"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollback_leaves_what_another_scope_adopted_meanwhile() {
    let gate = Arc::new(Semaphore::new(0));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mut fx = Fixture::with(store, None, |_| {});
    // Rebuild with a gated "slow" dock: its create waits for the gate, then fails.
    let slow = Arc::get_mut(fx.docks.get_mut("slow").unwrap()).map(|p| p.gate = Some(gate.clone()));
    assert!(
        slow.is_none(),
        "the registry holds the probe; rebuild instead"
    );
    let fx = {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let mut registry = stackdock_core::DockRegistry::new();
        let mut docks = std::collections::BTreeMap::new();
        for name in ["pg", "slow"] {
            let mut probe = common::Probe::new(name);
            if name == "slow" {
                probe.gate = Some(gate.clone());
            }
            let probe = Arc::new(probe);
            registry.insert(probe.clone()).unwrap();
            docks.insert(name.to_owned(), probe);
        }
        fx.docks = docks;
        fx.runtime = stackdock_runtime::Runtime::new(store.clone(), registry);
        fx.store = store;
        Arc::new(fx)
    };
    fx.dock("slow").inner.fail_next(DockOp::Create, injected());
    let bp = Blueprint::builder("first")
        .step_json(
            "db",
            "pg",
            serde_json::json!({"kind": "database", "name": "shared_db"}),
        )
        .step_json(
            "zone",
            "slow",
            serde_json::json!({"kind": "dns_zone", "name": "first.example"}),
        )
        .needs("db")
        .build()
        .unwrap();
    let first = {
        let fx = fx.clone();
        tokio::spawn(async move { fx.runtime.apply(&bp, "a", ApplyOptions::rollback()).await })
    };
    // Wait until "first" created the database and is held at the gate.
    loop {
        let db = fx.store.get_step("first", "db").await.unwrap();
        if db.is_some_and(|s| s.record.state == ProvisioningState::Provisioned) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Meanwhile scope "second" adopts the same database.
    let second = fx
        .runtime
        .apply(&one_db("second", false), "b", ApplyOptions::rollback())
        .await
        .unwrap();
    assert_eq!(second.steps["db"], StepOutcome::Adopted);
    gate.add_permits(10);
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.run.status, RunStatus::Failed);
    assert_eq!(
        first.steps["db"],
        StepOutcome::Skipped {
            reason: "held_by_another_scope".into()
        }
    );
    assert_eq!(
        fx.dock("pg").inner.len(),
        1,
        "the rollback must not delete what scope second adopted"
    );

    // Destroying "second" releases the shared database; destroying "first" deletes it.
    assert!(fx
        .runtime
        .destroy("second", "default", "b")
        .await
        .unwrap()
        .succeeded());
    assert_eq!(fx.dock("pg").inner.len(), 1);
    assert!(fx
        .runtime
        .destroy("first", "default", "a")
        .await
        .unwrap()
        .succeeded());
    assert_eq!(fx.dock("pg").inner.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_run_resumes_without_duplicates() {
    let mut interrupted = 0;
    // At least 20 trials, more (up to 60) until the cuts covered both windows.
    for trial in 0..60u64 {
        if trial >= 20 && interrupted >= 10 {
            break;
        }
        let dir = tempfile::tempdir().unwrap();
        let store = stackdock_runtime::store::SqliteStore::open(dir.path())
            .await
            .unwrap();
        let fx = Arc::new(Fixture::with(Arc::new(store), Some(dir), |p| {
            p.latency = Duration::from_millis(2)
        }));
        let task = {
            let fx = fx.clone();
            tokio::spawn(async move {
                fx.runtime
                    .apply(&tenant("t"), "a", ApplyOptions::keep())
                    .await
            })
        };
        tokio::time::sleep(Duration::from_micros(500 + (trial % 20) * 700)).await;
        task.abort();
        let _ = task.await;
        // The crashed run still holds the scope until an operator (or a
        // lease, later) ends it.
        if let Some(stale) = fx.store.active_run("t").await.unwrap() {
            interrupted += 1;
            assert!(matches!(
                fx.runtime.destroy("t", "agency", "a").await,
                Err(Error::ScopeBusy { .. })
            ));
            fx.store
                .finish_run(&stale.id, RunStatus::Cancelled, Some("abandoned"), None)
                .await
                .unwrap();
        }
        let resumed = loop {
            let report = fx
                .runtime
                .apply(&tenant("t"), "a", ApplyOptions::keep())
                .await
                .unwrap();
            if !report.joined {
                break report;
            }
            // The aborted task's start_run committed after it was dropped
            // (SQLite's worker finishes a sent commit): also a dead run.
            fx.store
                .finish_run(
                    &report.run.id,
                    RunStatus::Cancelled,
                    Some("abandoned"),
                    None,
                )
                .await
                .unwrap();
        };
        assert!(resumed.succeeded(), "trial {trial}: {:?}", resumed.failure);
        assert_eq!(
            fx.resources(),
            STEPS,
            "trial {trial}: exactly one of each resource"
        );
        assert_eq!(
            fx.mutations(),
            STEPS,
            "trial {trial}: one create per step, never a second"
        );
    }
    assert!(
        interrupted >= 10,
        "only {interrupted} trials were cut mid-run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_reply_was_lost_is_found_on_resume_not_repeated() {
    let reply = Arc::new(Semaphore::new(0));
    let fx = Arc::new(Fixture::with(Arc::new(MemoryStore::new()), None, |p| {
        if stackdock_core::DockAdapter::dock_id(p.inner.as_ref()) == "pg" {
            p.reply_gate = Some(reply.clone());
        }
    }));
    let task = {
        let fx = fx.clone();
        tokio::spawn(async move {
            fx.runtime
                .apply(&tenant("t"), "a", ApplyOptions::keep())
                .await
        })
    };
    // The database exists at the provider; its reply has not come back.
    while fx.dock("pg").inner.is_empty() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let db = fx.store.get_step("t", "db").await.unwrap().unwrap();
    assert_eq!(
        db.record.state,
        ProvisioningState::Provisioning,
        "the intent was recorded, the outcome never"
    );
    let stale = fx.store.active_run("t").await.unwrap().unwrap();
    fx.store
        .finish_run(&stale.id, RunStatus::Cancelled, Some("abandoned"), None)
        .await
        .unwrap();

    reply.add_permits(1_000);
    let resumed = fx
        .runtime
        .apply(&tenant("t"), "a", ApplyOptions::keep())
        .await
        .unwrap();
    assert!(resumed.succeeded(), "{:?}", resumed.failure);
    assert_eq!(
        resumed.steps["db"],
        StepOutcome::Created,
        "found after the resume, recorded as created"
    );
    assert_eq!(fx.dock("pg").mutations(), 1, "never a second create");
    assert_eq!(fx.resources(), STEPS);
    let db = fx.store.get_step("t", "db").await.unwrap().unwrap();
    assert!(db
        .record
        .history
        .iter()
        .any(|t| t.reason == stackdock_core::provisioning::Reason::Resumed));
    assert_eq!(db.created_by_run, Some(resumed.run.id.clone()));
    assert!(db.record.may_delete_on_rollback());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_fixes_drift_recreates_what_vanished_and_finishes_kept_failures() {
    use stackdock_core::DockAdapter;
    let fx = Fixture::sqlite().await;
    assert!(fx
        .runtime
        .apply(&tenant("acme"), "alice", ApplyOptions::rollback())
        .await
        .unwrap()
        .succeeded());
    // Out of band: someone changes a record's TTL and deletes the mailbox.
    let www = fx.store.get_step("acme", "www").await.unwrap().unwrap();
    let mut drifted: stackdock_core::ResourceSpec =
        serde_json::from_value(www.spec.clone()).unwrap();
    if let stackdock_core::ResourceSpec::DnsRecord(r) = &mut drifted {
        r.ttl = Some(900);
    }
    let www_id = www.resource_id().unwrap().clone();
    fx.dock("dns")
        .inner
        .update(&www_id, &drifted.validate().unwrap())
        .await
        .unwrap();
    let mailbox = fx.store.get_step("acme", "mailbox").await.unwrap().unwrap();
    fx.dock("mail")
        .inner
        .delete(mailbox.resource_id().unwrap())
        .await
        .unwrap();
    let before = fx.mutations();

    let report = fx.runtime.reconcile("acme", "agency", "ops").await.unwrap();
    assert!(report.succeeded(), "{:?}", report.failure);
    assert_eq!(report.run.operation, Operation::Reconcile);
    assert_eq!(report.steps["www"], StepOutcome::Updated);
    assert_eq!(
        report.steps["mailbox"],
        StepOutcome::Created,
        "re-created with its recorded secret reference"
    );
    for step in ["db", "zone", "db_txt", "forwarder"] {
        assert_eq!(report.steps[step], StepOutcome::Unchanged, "{step}");
    }
    assert_eq!(fx.mutations(), before + 2, "one update, one re-create");
    assert_eq!(fx.resources(), STEPS);
    let again = fx.runtime.reconcile("acme", "agency", "ops").await.unwrap();
    assert!(again.steps.values().all(|o| *o == StepOutcome::Unchanged));
    assert_eq!(
        fx.mutations(),
        before + 2,
        "a reconcile of a converged scope changes nothing"
    );

    // A kept failure: the next reconcile finishes every step that was recorded.
    let fx = Fixture::memory();
    fx.dock("dns").inner.fail_next(DockOp::Create, injected());
    let failed = fx
        .runtime
        .apply(&tenant("t"), "a", ApplyOptions::keep())
        .await
        .unwrap();
    assert_eq!(failed.run.status, RunStatus::Failed);
    let recorded = fx.store.list_steps("t").await.unwrap();
    assert!(recorded
        .iter()
        .any(|s| s.record.state == ProvisioningState::Failed));
    let fixed = fx.runtime.reconcile("t", "agency", "ops").await.unwrap();
    assert!(fixed.succeeded(), "{:?}", fixed.failure);
    let status = fx.runtime.status("t").await.unwrap();
    assert_eq!(status.steps.len(), recorded.len());
    assert!(status
        .steps
        .iter()
        .all(|s| s.state == ProvisioningState::Provisioned));
    // Another org's scope is not found for reconcile either.
    assert!(matches!(
        fx.runtime.reconcile("t", "rival", "eve").await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_lists_docks_into_the_inventory_and_marks_what_vanished() {
    use stackdock_core::{DockAdapter, ResourceKind};
    let fx = Fixture::sqlite().await;
    assert!(fx
        .runtime
        .apply(&tenant("acme"), "alice", ApplyOptions::rollback())
        .await
        .unwrap()
        .succeeded());
    let mutations = fx.mutations();
    let first = fx.runtime.sync("dns", "ops").await.unwrap();
    assert!(first.run.status == RunStatus::Succeeded && first.error.is_none());
    assert_eq!(first.kinds[&ResourceKind::DnsZone].added, 1);
    assert_eq!(first.kinds[&ResourceKind::DnsRecord].added, 2);
    assert_eq!(fx.mutations(), mutations, "a sync never changes anything");

    let www = fx.store.get_step("acme", "www").await.unwrap().unwrap();
    fx.dock("dns")
        .inner
        .delete(www.resource_id().unwrap())
        .await
        .unwrap();
    let second = fx.runtime.sync("dns", "ops").await.unwrap();
    assert_eq!(second.kinds[&ResourceKind::DnsRecord].vanished, 1);
    let inventory = fx.store.list_inventory(Some("dns")).await.unwrap();
    assert_eq!(inventory.len(), 3);
    assert_eq!(
        inventory.iter().filter(|i| i.vanished_at.is_some()).count(),
        1
    );
    let syncs = fx.store.dock_syncs().await.unwrap();
    let dns = syncs.iter().find(|s| s.dock == "dns").unwrap();
    assert_eq!((dns.items, dns.last_sync_error.as_deref()), (2, None));
    assert!(dns.last_success_at.is_some());

    let succeeded_at = dns.last_success_at;
    // A failing listing is recorded per dock; the previous inventory stays.
    fx.dock("dns").inner.fail_next(DockOp::List, injected());
    let failed = fx.runtime.sync("dns", "ops").await.unwrap();
    assert_eq!(failed.run.status, RunStatus::Failed);
    let syncs = fx.store.dock_syncs().await.unwrap();
    let dns = syncs.iter().find(|s| s.dock == "dns").unwrap();
    assert!(dns
        .last_sync_error
        .as_deref()
        .unwrap()
        .contains("injected fault"));
    assert_eq!(
        dns.last_success_at, succeeded_at,
        "the last success is kept"
    );
    assert_eq!(fx.store.list_inventory(Some("dns")).await.unwrap().len(), 3);

    // A second sync of a dock while one runs joins it: no second listing.
    let held = fx
        .store
        .start_run("dock:dns", Operation::Sync, "other")
        .await
        .unwrap();
    let calls = fx.calls();
    let joined = fx.runtime.sync("dns", "ops").await.unwrap();
    assert!(joined.joined);
    assert_eq!(joined.run.id, held.run().id);
    assert_eq!(fx.calls(), calls);
    // The mailbox password and the generated database password are not in the inventory.
    let all = serde_json::to_string(&fx.store.list_inventory(None).await.unwrap()).unwrap();
    assert!(!all.contains(SENTINEL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_moved_to_another_dock_is_refused_while_its_resource_exists() {
    let fx = Fixture::memory();
    assert!(fx
        .runtime
        .apply(&one_db("s", false), "a", ApplyOptions::rollback())
        .await
        .unwrap()
        .succeeded());
    let mut moved = one_db("s", false);
    moved.steps.get_mut("db").unwrap().dock = "mail".into();
    let report = fx
        .runtime
        .apply(&moved, "a", ApplyOptions::rollback())
        .await
        .unwrap();
    assert_eq!(report.run.status, RunStatus::Failed);
    assert_eq!(report.failure.unwrap().code, "blueprint");
    assert_eq!(
        (fx.dock("pg").inner.len(), fx.dock("mail").inner.len()),
        (1, 0)
    );
    // After a destroy the step may live elsewhere.
    assert!(fx
        .runtime
        .destroy("s", "default", "a")
        .await
        .unwrap()
        .succeeded());
    assert!(fx
        .runtime
        .apply(&moved, "a", ApplyOptions::rollback())
        .await
        .unwrap()
        .succeeded());
    assert_eq!(
        (fx.dock("pg").inner.len(), fx.dock("mail").inner.len()),
        (0, 1)
    );
}
