//! The store conformance suite: plain `pub async fn`s that every [`Store`]
//! implementation runs from its own tests (object_store's `integration.rs`
//! pattern). Each check uses fresh scope names, so one store can run them
//! all; each panics with a message naming the broken promise.
//!
//! It lives here, behind the `testing` feature, rather than in
//! `stackdock-testkit`: the checks need the runtime's types, and keeping
//! them here spares the adapter testkit a dependency on sqlx.
//!
//! The queue checks claim whatever is claimable in the store, so they
//! assume that nothing else submits runs to it while they run (the other
//! checks only start runs, which are never claimable). A future
//! PostgreSQL store dev-depends on `stackdock-runtime` with `testing` and
//! calls [`all`].
//!
//! ```
//! use std::sync::Arc;
//! use stackdock_runtime::store::MemoryStore;
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! stackdock_runtime::store_conformance::all(Arc::new(MemoryStore::new())).await;
//! # });
//! ```

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use stackdock_core::provisioning::{Reason, Step};
use stackdock_core::{CreateOutcome, ProvisioningState, ResourceId, ResourceKind};

use crate::controller::ScopeRef;
use crate::model::{
    AuditEntry, AuditOutcome, AuditQuery, ClaimedRun, DockSync, InventoryDelta, InventoryItem,
    Operation, OperationRun, Retention, RunId, RunStatus, SealedSecret, StartOutcome, StepState,
};
use crate::store::Store;
use crate::Error;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &RunId::new().0[..8])
}

/// Every check, in turn.
pub async fn all(store: Arc<dyn Store>) {
    runs_dedupe_and_busy(store.as_ref()).await;
    concurrent_start_run(store.clone()).await;
    concurrent_mixed_operations(store.clone()).await;
    step_state_survives_runs(store.as_ref()).await;
    audit_is_append_only_and_queryable(store.as_ref()).await;
    step_and_audit_in_one_write(store.as_ref()).await;
    secrets_round_trip(store.as_ref()).await;
    secrets_deleted_by_dock(store.as_ref()).await;
    scope_ownership(store.clone()).await;
    scopes_with_live_steps_are_listed(store.as_ref()).await;
    inventory_upserts_and_marks_vanished(store.as_ref()).await;
    cancel_is_recorded_on_the_run(store.as_ref()).await;
    queue_submit_dedupes_and_claims(store.as_ref()).await;
    leases_renew_release_and_lapse(store.as_ref()).await;
    lapsed_claims_are_fenced_off(store.as_ref()).await;
    fenced_step_and_audit_in_one_write(store.clone()).await;
    concurrent_claims_take_each_run_once(store.clone()).await;
    // Last: it prunes the history the checks above left.
    prune_deletes_old_history_only(store.as_ref()).await;
}

/// A cancel request is durable on the active run (visible to every reader),
/// idempotent, leaves the run active until its executor finishes it
/// `cancelled` (which releases the scope), changes nothing on a finished run,
/// and is `NotFound` for an unknown run.
pub async fn cancel_is_recorded_on_the_run(store: &dyn Store) {
    let scope = unique("cancel");
    let run = store
        .start_run(&scope, Operation::Apply, "alice")
        .await
        .unwrap()
        .run()
        .clone();
    assert!(!run.cancel_requested, "a new run is not cancelled");
    let asked = store.request_cancel(&run.id).await.unwrap();
    assert!(asked.cancel_requested);
    assert_eq!(
        asked.status,
        RunStatus::Running,
        "cancel does not finish the run"
    );
    let twice = store.request_cancel(&run.id).await.unwrap();
    assert!(twice.cancel_requested && twice.status == RunStatus::Running);
    let read = store.get_run(&run.id).await.unwrap().unwrap();
    assert!(
        read.cancel_requested,
        "get_run must show the cancel request"
    );
    let active = store.active_run(&scope).await.unwrap().unwrap();
    assert!(
        active.cancel_requested,
        "active_run must show the cancel request"
    );

    let finished = store
        .finish_run(&run.id, RunStatus::Cancelled, Some("cancelled"), None)
        .await
        .unwrap();
    assert_eq!(finished.status, RunStatus::Cancelled);
    assert!(
        store.active_run(&scope).await.unwrap().is_none(),
        "cancelled releases the scope"
    );
    let after = store.request_cancel(&run.id).await.unwrap();
    assert_eq!(
        after.status,
        RunStatus::Cancelled,
        "a finished run stays as it is"
    );

    let next = store
        .start_run(&scope, Operation::Apply, "bob")
        .await
        .unwrap();
    assert!(
        next.is_started() && !next.run().cancel_requested,
        "a new run starts uncancelled"
    );
    store
        .finish_run(&next.run().id, RunStatus::Succeeded, None, None)
        .await
        .unwrap();
    let unknown = store.request_cancel(&RunId::new()).await;
    assert!(matches!(unknown, Err(Error::NotFound(_))), "{unknown:?}");
}

/// Same operation → the active run; another → `ScopeBusy` naming it; a
/// finished run releases the scope; finishing twice changes nothing.
pub async fn runs_dedupe_and_busy(store: &dyn Store) {
    let scope = unique("dedupe");
    let first = store
        .start_run(&scope, Operation::Apply, "alice")
        .await
        .unwrap();
    let StartOutcome::Started(run) = first else {
        panic!("first start_run must start a run")
    };
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.attempts, 1);
    assert_eq!(
        (run.scope.as_str(), run.operation, run.actor.as_str()),
        (scope.as_str(), Operation::Apply, "alice")
    );

    let again = store
        .start_run(&scope, Operation::Apply, "bob")
        .await
        .unwrap();
    assert_eq!(
        again,
        StartOutcome::Joined(run.clone()),
        "same operation must join the active run"
    );

    match store.start_run(&scope, Operation::Destroy, "bob").await {
        Err(Error::ScopeBusy {
            scope: s,
            active_run,
            operation,
        }) => {
            assert_eq!(
                (s.as_str(), &active_run, operation),
                (scope.as_str(), &run.id, Operation::Apply)
            );
        }
        other => panic!("another operation must be ScopeBusy, got {other:?}"),
    }
    let other_scope = unique("dedupe-other");
    assert!(store
        .start_run(&other_scope, Operation::Destroy, "bob")
        .await
        .unwrap()
        .is_started());

    assert_eq!(
        store.active_run(&scope).await.unwrap().map(|r| r.id),
        Some(run.id.clone())
    );
    assert!(store
        .finish_run(&run.id, RunStatus::Running, None, None)
        .await
        .is_err());
    let done = store
        .finish_run(
            &run.id,
            RunStatus::Succeeded,
            Some("done"),
            Some("ok password=hunter2"),
        )
        .await
        .unwrap();
    assert_eq!(done.status, RunStatus::Succeeded);
    assert!(done.finished_at.is_some());
    assert!(
        !done.message.unwrap().contains("hunter2"),
        "run messages are sanitised"
    );
    let twice = store
        .finish_run(&run.id, RunStatus::Failed, Some("late"), None)
        .await
        .unwrap();
    assert_eq!(
        twice.status,
        RunStatus::Succeeded,
        "a finished run stays finished"
    );
    assert!(store.active_run(&scope).await.unwrap().is_none());

    let next = store
        .start_run(&scope, Operation::Destroy, "carol")
        .await
        .unwrap();
    assert!(next.is_started(), "a finished run releases the scope");
    assert_ne!(next.run().id, run.id);
    let runs = store.list_runs(&scope).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| &r.id).collect::<Vec<_>>(),
        vec![&run.id, &next.run().id]
    );
    assert_eq!(
        store
            .get_run(&run.id)
            .await
            .unwrap()
            .unwrap()
            .reason
            .as_deref(),
        Some("done")
    );
    assert!(store.get_run(&RunId::new()).await.unwrap().is_none());
    assert!(matches!(
        store
            .finish_run(&RunId::new(), RunStatus::Failed, None, None)
            .await,
        Err(Error::NotFound(_))
    ));
}

/// 50 concurrent `start_run` of one (scope, operation) → one run, the rest
/// joined to it; then another operation → `ScopeBusy` naming it.
pub async fn concurrent_start_run(store: Arc<dyn Store>) {
    let scope = unique("race");
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (store, scope) = (store.clone(), scope.clone());
            tokio::spawn(async move {
                store
                    .start_run(&scope, Operation::Apply, &format!("actor{i}"))
                    .await
            })
        })
        .collect();
    let mut started = 0;
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let outcome = task.await.unwrap().unwrap();
        started += usize::from(outcome.is_started());
        ids.insert(outcome.run().id.clone());
    }
    assert_eq!(
        started, 1,
        "exactly one of 50 concurrent start_run may start a run"
    );
    assert_eq!(ids.len(), 1, "every caller must get the same run");
    let id = ids.pop_first().unwrap();
    match store.start_run(&scope, Operation::Destroy, "x").await {
        Err(Error::ScopeBusy { active_run, .. }) => assert_eq!(active_run, id),
        other => panic!("expected ScopeBusy, got {other:?}"),
    }
    assert_eq!(store.list_runs(&scope).await.unwrap().len(), 1);
}

/// Applies and destroys racing on one scope: one run in all; every other
/// call joined it (same operation) or got `ScopeBusy` naming it.
pub async fn concurrent_mixed_operations(store: Arc<dyn Store>) {
    let scope = unique("mixed");
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (store, scope) = (store.clone(), scope.clone());
            let op = if i % 2 == 0 {
                Operation::Apply
            } else {
                Operation::Destroy
            };
            tokio::spawn(async move { (op, store.start_run(&scope, op, "racer").await) })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let runs = store.list_runs(&scope).await.unwrap();
    assert_eq!(runs.len(), 1, "one run for the whole race");
    let winner = &runs[0];
    for (op, result) in results {
        match result {
            Ok(outcome) => {
                assert_eq!(outcome.run().id, winner.id);
                assert_eq!(op, winner.operation);
            }
            Err(Error::ScopeBusy {
                active_run,
                operation,
                ..
            }) => {
                assert_eq!(active_run, winner.id);
                assert_eq!(operation, winner.operation);
                assert_ne!(op, winner.operation);
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
}

fn record_with_id(id: &ResourceId) -> StepState {
    let mut state = StepState::new("x", "x", "dock-a");
    state
        .record
        .transition(
            ProvisioningState::Provisioning,
            Step::new(Reason::CreateRequested, "go"),
        )
        .unwrap();
    state.record.resource_id = Some(id.clone());
    state
        .record
        .transition(
            ProvisioningState::Provisioned,
            Step::new(Reason::Created, "made").with_outcome(CreateOutcome::Created),
        )
        .unwrap();
    state
}

/// Step state is keyed by (scope, step), replaced on write, survives runs;
/// runs record which steps they touched, once each, in order; only live
/// steps hold a resource.
pub async fn step_state_survives_runs(store: &dyn Store) {
    let scope = unique("steps");
    let run = store
        .start_run(&scope, Operation::Apply, "alice")
        .await
        .unwrap()
        .run()
        .clone();
    let id = ResourceId::new(ResourceKind::Database, unique("db"));
    let mut db = record_with_id(&id);
    db.scope = scope.clone();
    db.step = "db".into();
    db.needs = vec![];
    db.spec = serde_json::json!({"kind": "database", "name": "shop"});
    db.created_by_run = Some(run.id.clone());
    store.put_step(&db, Some(&run.id)).await.unwrap();
    let mut zone = StepState::new(&scope, "zone", "dock-b");
    zone.needs = vec!["db".into()];
    store.put_step(&zone, Some(&run.id)).await.unwrap();
    store.put_step(&db, Some(&run.id)).await.unwrap();
    assert_eq!(
        store.get_run(&run.id).await.unwrap().unwrap().steps,
        vec!["db", "zone"]
    );
    assert_eq!(
        store.get_step(&scope, "db").await.unwrap().as_ref(),
        Some(&db)
    );
    assert!(store.get_step(&scope, "nope").await.unwrap().is_none());
    store
        .finish_run(&run.id, RunStatus::Succeeded, None, None)
        .await
        .unwrap();

    let later = store
        .start_run(&scope, Operation::Destroy, "bob")
        .await
        .unwrap()
        .run()
        .clone();
    assert!(later.steps.is_empty());
    assert_eq!(
        store
            .get_step(&scope, "db")
            .await
            .unwrap()
            .unwrap()
            .created_by_run,
        Some(run.id.clone())
    );
    let names: Vec<_> = store
        .list_steps(&scope)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.step)
        .collect();
    assert_eq!(names, vec!["db", "zone"]);

    let holders = store.steps_holding("dock-a", &id).await.unwrap();
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].step, "db");
    assert!(
        store.steps_holding("dock-b", &id).await.unwrap().is_empty(),
        "another dock's id is another resource"
    );
    db.record
        .transition(
            ProvisioningState::Deprovisioning,
            Step::new(Reason::DeleteRequested, "rm"),
        )
        .unwrap();
    db.record
        .transition(
            ProvisioningState::Deprovisioned,
            Step::new(Reason::Deleted, "gone"),
        )
        .unwrap();
    db.record.resource_id = Some(id.clone()); // even with a stale id, deprovisioned holds nothing
    store.put_step(&db, Some(&later.id)).await.unwrap();
    assert!(store.steps_holding("dock-a", &id).await.unwrap().is_empty());
    store
        .finish_run(&later.id, RunStatus::Succeeded, None, None)
        .await
        .unwrap();
}

/// Entries get increasing sequence numbers, come back in order, filter by
/// scope / run / operation, and their messages are sanitised.
pub async fn audit_is_append_only_and_queryable(store: &dyn Store) {
    let scope = unique("audit");
    let run = RunId::new();
    let mut seqs = Vec::new();
    for (i, op) in ["create", "delete", "decrypt"].into_iter().enumerate() {
        let mut e = AuditEntry::new("alice", op, AuditOutcome::Succeeded);
        e.scope = Some(scope.clone());
        e.run_id = (i < 2).then(|| run.clone());
        e.dock = Some("pg".into());
        e.message = Some("token=abc123 done".into());
        seqs.push(store.append_audit(&e).await.unwrap());
    }
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "sequence numbers increase"
    );
    let all = store
        .list_audit(&AuditQuery {
            scope: Some(scope.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs);
    assert!(all
        .iter()
        .all(|e| !e.message.as_deref().unwrap_or("").contains("abc123")));
    assert_eq!(all[0].dock.as_deref(), Some("pg"));
    let by_run = store
        .list_audit(&AuditQuery {
            run_id: Some(run.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_run.len(), 2);
    let by_op = store
        .list_audit(&AuditQuery {
            scope: Some(scope),
            operation: Some("decrypt".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_op.len(), 1);
    assert_eq!(by_op[0].outcome, AuditOutcome::Succeeded);
}

/// `put_step_audited` writes the step (noting the run) and appends the
/// entry (sanitised, next in sequence), like `put_step` + `append_audit`.
pub async fn step_and_audit_in_one_write(store: &dyn Store) {
    let scope = unique("stepaudit");
    let run = store
        .start_run(&scope, Operation::Apply, "alice")
        .await
        .unwrap()
        .run()
        .clone();
    let id = ResourceId::new(ResourceKind::Database, unique("db"));
    let mut db = record_with_id(&id);
    db.scope = scope.clone();
    db.step = "db".into();
    db.created_by_run = Some(run.id.clone());
    let mut entry = AuditEntry::new("alice", "create", AuditOutcome::Succeeded);
    entry.scope = Some(scope.clone());
    entry.run_id = Some(run.id.clone());
    entry.message = Some("password=hunter2 made".into());
    let before = store.append_audit(&entry).await.unwrap();
    let seq = store
        .put_step_audited(&db, Some(&run.id), &entry)
        .await
        .unwrap();
    assert!(seq > before, "the entry is next in sequence");
    assert_eq!(store.get_step(&scope, "db").await.unwrap(), Some(db));
    assert_eq!(
        store.get_run(&run.id).await.unwrap().unwrap().steps,
        vec!["db"],
        "the run notes the step it touched"
    );
    let entries = store
        .list_audit(&AuditQuery {
            run_id: Some(run.id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].seq, seq);
    assert!(!entries[1]
        .message
        .as_deref()
        .unwrap_or("")
        .contains("hunter2"));
    store
        .finish_run(&run.id, RunStatus::Succeeded, None, None)
        .await
        .unwrap();
}

/// `list_scopes` lists claimed scopes with a step that is not
/// deprovisioned, with their org, by name: not a scope with no step, nor
/// one whose every step is deprovisioned.
pub async fn scopes_with_live_steps_are_listed(store: &dyn Store) {
    let prefix = unique("ls");
    let name = |s: &str| format!("{prefix}-{s}");
    let deprovisioned = |scope: &str, step: &str| {
        let mut state = record_with_id(&ResourceId::new(ResourceKind::Database, unique("db")));
        state.scope = scope.to_owned();
        state.step = step.to_owned();
        state
            .record
            .transition(
                ProvisioningState::Deprovisioning,
                Step::new(Reason::DeleteRequested, "rm"),
            )
            .unwrap();
        state
            .record
            .transition(
                ProvisioningState::Deprovisioned,
                Step::new(Reason::Deleted, "gone"),
            )
            .unwrap();
        state
    };
    for (scope, org) in [
        ("a", "org-1"),
        ("b", "org-1"),
        ("c", "org-2"),
        ("d", "org-2"),
    ] {
        store.claim_scope(&name(scope), org).await.unwrap();
    }
    let mut live = record_with_id(&ResourceId::new(ResourceKind::Database, unique("db")));
    live.scope = name("a");
    store.put_step(&live, None).await.unwrap();
    store
        .put_step(&deprovisioned(&name("c"), "x"), None)
        .await
        .unwrap();
    store
        .put_step(&deprovisioned(&name("d"), "x"), None)
        .await
        .unwrap();
    let mut failed = StepState::new(&name("d"), "y", "dock-a");
    failed
        .record
        .transition(
            ProvisioningState::Provisioning,
            Step::new(Reason::CreateRequested, "go"),
        )
        .unwrap();
    failed.record.fail("unavailable", "down", None).unwrap();
    store.put_step(&failed, None).await.unwrap();

    let listed: Vec<_> = store
        .list_scopes()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.scope.starts_with(&prefix))
        .collect();
    assert_eq!(
        listed,
        vec![
            ScopeRef::new(name("a"), "org-1"),
            ScopeRef::new(name("d"), "org-2")
        ],
        "scopes with a step that is not deprovisioned, by name"
    );
}

/// Sealed secrets are stored by (org, dock, name), replaced on write, listed.
pub async fn secrets_round_trip(store: &dyn Store) {
    let org = unique("org");
    let sealed = SealedSecret {
        org: org.clone(),
        dock: "pg".into(),
        name: "password".into(),
        key_id: "k1".into(),
        nonce: vec![1; 12],
        ciphertext: vec![2, 3, 4],
        updated_at: Utc::now(),
    };
    store.put_secret(&sealed).await.unwrap();
    let mut got = store
        .get_secret(&org, "pg", "password")
        .await
        .unwrap()
        .unwrap();
    got.updated_at = sealed.updated_at;
    assert_eq!(got, sealed);
    assert!(store
        .get_secret(&org, "dns", "password")
        .await
        .unwrap()
        .is_none());
    let replaced = SealedSecret {
        key_id: "k2".into(),
        ciphertext: vec![9],
        ..sealed.clone()
    };
    store.put_secret(&replaced).await.unwrap();
    assert_eq!(
        store
            .get_secret(&org, "pg", "password")
            .await
            .unwrap()
            .unwrap()
            .key_id,
        "k2"
    );
    let mine: Vec<_> = store
        .list_secrets()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.org == org)
        .collect();
    assert_eq!(mine.len(), 1);
}

/// Deleting a dock's secrets deletes exactly those: every name of that
/// (org, dock), not the same dock of another org nor another dock.
pub async fn secrets_deleted_by_dock(store: &dyn Store) {
    let (org, other_org) = (unique("org"), unique("org"));
    let sealed = |org: &str, dock: &str, name: &str| SealedSecret {
        org: org.to_owned(),
        dock: dock.to_owned(),
        name: name.to_owned(),
        key_id: "k1".into(),
        nonce: vec![1; 12],
        ciphertext: vec![2, 3, 4],
        updated_at: Utc::now(),
    };
    for (o, d, n) in [
        (&org, "pg", "password"),
        (&org, "pg", "token"),
        (&org, "dns", "api_key"),
        (&other_org, "pg", "password"),
    ] {
        store.put_secret(&sealed(o, d, n)).await.unwrap();
    }
    assert_eq!(store.delete_secrets(&org, "pg").await.unwrap(), 2);
    let mut left: Vec<(String, String, String)> = store
        .list_secrets()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.org == org || s.org == other_org)
        .map(|s| (s.org, s.dock, s.name))
        .collect();
    left.sort();
    let mut expected = vec![
        (org.clone(), "dns".to_owned(), "api_key".to_owned()),
        (other_org.clone(), "pg".to_owned(), "password".to_owned()),
    ];
    expected.sort();
    assert_eq!(left, expected);
    assert!(store
        .get_secret(&org, "pg", "token")
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.delete_secrets(&org, "pg").await.unwrap(), 0);
}

/// The first org to claim a scope owns it; racing claims agree.
pub async fn scope_ownership(store: Arc<dyn Store>) {
    let scope = unique("owned");
    assert_eq!(store.scope_org(&scope).await.unwrap(), None);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, scope) = (store.clone(), scope.clone());
            tokio::spawn(async move { store.claim_scope(&scope, &format!("org{}", i % 2)).await })
        })
        .collect();
    let mut owners = std::collections::BTreeSet::new();
    for task in tasks {
        owners.insert(task.await.unwrap().unwrap());
    }
    assert_eq!(owners.len(), 1, "racing claims must agree on one owner");
    let owner = owners.pop_first().unwrap();
    assert_eq!(store.scope_org(&scope).await.unwrap(), Some(owner.clone()));
    assert_eq!(
        store.claim_scope(&scope, "someone-else").await.unwrap(),
        owner
    );
}

fn item(dock: &str, id: &str, name: &str) -> InventoryItem {
    InventoryItem {
        dock: dock.to_owned(),
        kind: ResourceKind::DnsZone,
        provider_resource_id: id.to_owned(),
        name: name.to_owned(),
        resource: serde_json::json!({"name": name}),
        first_seen_at: Utc::now(),
        last_seen_at: Utc::now(),
        vanished_at: None,
    }
}

/// Inventory upserts by (dock, kind, provider id), marks what a listing no
/// longer has vanished, brings it back when it reappears; dock syncs are
/// recorded per dock.
pub async fn inventory_upserts_and_marks_vanished(store: &dyn Store) {
    let dock = unique("inv");
    let t1 = Utc::now();
    let first = [
        item(&dock, "z1", "a.example"),
        item(&dock, "z2", "b.example"),
    ];
    let delta = store
        .sync_inventory(&dock, ResourceKind::DnsZone, &first, t1)
        .await
        .unwrap();
    assert_eq!(
        delta,
        InventoryDelta {
            seen: 2,
            added: 2,
            vanished: 0
        }
    );
    // Same ids on another dock are other resources.
    let other = unique("inv-other");
    store
        .sync_inventory(&other, ResourceKind::DnsZone, &first[..1], t1)
        .await
        .unwrap();

    let t2 = t1 + chrono::Duration::seconds(1);
    let renamed = [item(&dock, "z1", "a-renamed.example")];
    let delta = store
        .sync_inventory(&dock, ResourceKind::DnsZone, &renamed, t2)
        .await
        .unwrap();
    assert_eq!(
        delta,
        InventoryDelta {
            seen: 1,
            added: 0,
            vanished: 1
        }
    );
    let items = store.list_inventory(Some(&dock)).await.unwrap();
    assert_eq!(items.len(), 2);
    let z1 = items
        .iter()
        .find(|i| i.provider_resource_id == "z1")
        .unwrap();
    assert_eq!(
        (z1.name.as_str(), z1.vanished_at),
        ("a-renamed.example", None)
    );
    assert_eq!(
        z1.first_seen_at.timestamp(),
        t1.timestamp(),
        "first seen is kept"
    );
    let z2 = items
        .iter()
        .find(|i| i.provider_resource_id == "z2")
        .unwrap();
    assert_eq!(z2.vanished_at.map(|t| t.timestamp()), Some(t2.timestamp()));
    // Another kind of the same dock is untouched by a sync of this kind.
    let delta = store
        .sync_inventory(&dock, ResourceKind::Database, &[], t2)
        .await
        .unwrap();
    assert_eq!(delta, InventoryDelta::default());

    let t3 = t2 + chrono::Duration::seconds(1);
    let delta = store
        .sync_inventory(&dock, ResourceKind::DnsZone, &first, t3)
        .await
        .unwrap();
    assert_eq!(
        delta,
        InventoryDelta {
            seen: 2,
            added: 1,
            vanished: 0
        },
        "a vanished item that is back counts as added"
    );
    assert!(store
        .list_inventory(Some(&dock))
        .await
        .unwrap()
        .iter()
        .all(|i| i.vanished_at.is_none()));
    assert_eq!(store.list_inventory(Some(&other)).await.unwrap().len(), 1);

    let sync = DockSync {
        dock: dock.clone(),
        last_sync_at: Some(t3),
        last_success_at: Some(t2),
        last_sync_error: Some("list dns_zone: token=abc123 refused".into()),
        items: 2,
        rate_limit: Some(stackdock_core::RateLimit {
            limit: Some(1200),
            remaining: Some(0),
            reset_at: chrono::DateTime::from_timestamp(1_700_000_060, 0),
        }),
    };
    store.put_dock_sync(&sync).await.unwrap();
    let got = store
        .dock_syncs()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.dock == dock)
        .unwrap();
    assert_eq!(got.items, 2);
    assert_eq!(
        got.last_sync_at.map(|t| t.timestamp()),
        Some(t3.timestamp())
    );
    assert_eq!(
        got.rate_limit, sync.rate_limit,
        "the request budget round-trips"
    );
    assert!(
        !got.last_sync_error.unwrap().contains("abc123"),
        "sync errors are sanitised"
    );
    // A later sync whose provider reported nothing clears the budget.
    let quiet = DockSync {
        rate_limit: None,
        ..sync
    };
    store.put_dock_sync(&quiet).await.unwrap();
    let got = store.dock_syncs().await.unwrap();
    let got = got.iter().find(|s| s.dock == dock).unwrap();
    assert_eq!(got.rate_limit, None);
}

fn request(scope: &str, n: u32) -> serde_json::Value {
    serde_json::json!({"scope": scope, "n": n, "blueprint": {"steps": {"db": {"port": 5432}}}})
}

/// A run on the fresh `scope`, submitted by alice and claimed by
/// `worker-a` for `lease_for`: the lease and fencing checks start here.
async fn submit_and_claim(
    store: &dyn Store,
    scope: &str,
    operation: Operation,
    lease_for: Duration,
) -> (OperationRun, ClaimedRun) {
    let run = store
        .submit_run(scope, operation, "alice", &request(scope, 1))
        .await
        .unwrap()
        .run()
        .clone();
    let claim = store
        .claim_run("worker-a", lease_for)
        .await
        .unwrap()
        .expect("the submitted run is claimable");
    (run, claim)
}

/// Waits out a 50 ms lease, then claims its run again as `worker` (for
/// 60 s).
async fn claim_after_lapse(store: &dyn Store, worker: &str) -> ClaimedRun {
    tokio::time::sleep(Duration::from_millis(200)).await;
    store
        .claim_run(worker, Duration::from_secs(60))
        .await
        .unwrap()
        .expect("a run whose lease lapsed is claimable again")
}

/// Submit queues a run with its request, holding the scope like a running
/// one (same dedupe, same `ScopeBusy`, also against `start_run`); a claim
/// hands it out once, `running`, attempt 1, with its request; runs started
/// in-process are never claimed.
pub async fn queue_submit_dedupes_and_claims(store: &dyn Store) {
    let scope = unique("queue");
    let req = request(&scope, 1);
    let StartOutcome::Started(queued) = store
        .submit_run(&scope, Operation::Apply, "alice", &req)
        .await
        .unwrap()
    else {
        panic!("the first submit must queue a run")
    };
    assert_eq!((queued.status, queued.attempts), (RunStatus::Queued, 0));
    let again = store
        .submit_run(&scope, Operation::Apply, "bob", &request(&scope, 2))
        .await
        .unwrap();
    assert_eq!(
        again,
        StartOutcome::Joined(queued.clone()),
        "same operation joins the queued run"
    );
    let in_process = store
        .start_run(&scope, Operation::Apply, "carol")
        .await
        .unwrap();
    assert_eq!(
        in_process.run().id,
        queued.id,
        "start_run joins a queued run too"
    );
    for busy in [
        store
            .submit_run(&scope, Operation::Destroy, "dave", &req)
            .await,
        store.start_run(&scope, Operation::Destroy, "dave").await,
    ] {
        match busy {
            Err(Error::ScopeBusy { active_run, .. }) => assert_eq!(active_run, queued.id),
            other => panic!("another operation on a queued scope must be ScopeBusy, got {other:?}"),
        }
    }
    assert_eq!(
        store.run_request(&queued.id).await.unwrap(),
        Some(req.clone())
    );
    let started_elsewhere = store
        .start_run(&unique("in-process"), Operation::Apply, "erin")
        .await
        .unwrap()
        .run()
        .clone();
    assert_eq!(
        store.run_request(&started_elsewhere.id).await.unwrap(),
        None
    );

    let claim = store
        .claim_run("worker-a", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("a queued run to claim");
    assert_eq!(claim.run.id, queued.id);
    assert_eq!(
        (claim.run.status, claim.run.attempts),
        (RunStatus::Running, 1)
    );
    assert!(!claim.is_resumed());
    assert_eq!(claim.request, req);
    assert_eq!(
        (
            claim.lease.run_id.clone(),
            claim.lease.worker.as_str(),
            claim.lease.attempt
        ),
        (queued.id.clone(), "worker-a", 1)
    );
    assert!(claim.lease.expires_at > Utc::now() + chrono::Duration::seconds(50));
    assert!(
        store
            .claim_run("worker-b", Duration::from_secs(60))
            .await
            .unwrap()
            .is_none(),
        "a claimed run (and a run started in-process) is not claimable"
    );
    let got = store.get_run(&queued.id).await.unwrap().unwrap();
    assert_eq!((got.status, got.attempts), (RunStatus::Running, 1));
    let done = store
        .finish_run(&queued.id, RunStatus::Succeeded, None, None)
        .await
        .unwrap();
    assert_eq!(done.status, RunStatus::Succeeded);
    assert!(
        store
            .renew_lease(&claim.lease, Duration::from_secs(60))
            .await
            .unwrap()
            .is_none(),
        "a finished run's lease does not renew"
    );
    assert!(!store.release_run(&claim.lease).await.unwrap());
    assert_eq!(
        store.get_run(&queued.id).await.unwrap().unwrap().status,
        RunStatus::Succeeded
    );
    store
        .finish_run(&started_elsewhere.id, RunStatus::Succeeded, None, None)
        .await
        .unwrap();
}

/// A lease renews while it is the current claim; a released run is queued
/// again and its next claim is a resume (attempt 2); a lapsed lease lets
/// another worker claim the run (attempt 3), after which the old lease
/// neither renews nor releases.
pub async fn leases_renew_release_and_lapse(store: &dyn Store) {
    let scope = unique("lease");
    let (run, first) =
        submit_and_claim(store, &scope, Operation::Destroy, Duration::from_secs(60)).await;
    let renewed = store
        .renew_lease(&first.lease, Duration::from_secs(120))
        .await
        .unwrap()
        .expect("the current claim renews");
    assert!(renewed.expires_at > first.lease.expires_at);
    assert_eq!((renewed.attempt, renewed.worker.as_str()), (1, "worker-a"));
    let mut other_worker = renewed.clone();
    other_worker.worker = "worker-b".into();
    assert!(store
        .renew_lease(&other_worker, Duration::from_secs(60))
        .await
        .unwrap()
        .is_none());
    assert!(!store.release_run(&other_worker).await.unwrap());

    assert!(store.release_run(&renewed).await.unwrap());
    let released = store.get_run(&run.id).await.unwrap().unwrap();
    assert_eq!(
        released.status,
        RunStatus::Queued,
        "a released run is queued again"
    );
    assert!(
        store.active_run(&scope).await.unwrap().is_some(),
        "and still holds its scope"
    );
    let second = store
        .claim_run("worker-b", Duration::from_millis(50))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (second.run.id.clone(), second.lease.attempt),
        (run.id.clone(), 2)
    );
    assert!(second.is_resumed());
    assert!(store
        .renew_lease(&renewed, Duration::from_secs(60))
        .await
        .unwrap()
        .is_none());

    let third = claim_after_lapse(store, "worker-c").await;
    assert_eq!(
        (third.run.id.clone(), third.lease.attempt),
        (run.id.clone(), 3)
    );
    assert_eq!(third.run.status, RunStatus::Running);
    assert!(
        store
            .renew_lease(&second.lease, Duration::from_secs(60))
            .await
            .unwrap()
            .is_none(),
        "a lapsed lease that was claimed again does not renew"
    );
    assert!(!store.release_run(&second.lease).await.unwrap());
    assert!(store
        .claim_run("worker-d", Duration::from_secs(60))
        .await
        .unwrap()
        .is_none());
    store
        .finish_run(&run.id, RunStatus::Failed, Some("test"), None)
        .await
        .unwrap();
    assert!(store
        .claim_run("worker-d", Duration::from_millis(1))
        .await
        .unwrap()
        .is_none());
}

/// Fencing: a worker whose lease lapsed and whose run another worker then
/// claimed can write neither step state nor the run's end
/// ([`Error::LeaseLost`], nothing changed); the current holder can; a
/// released claim is fenced off too.
pub async fn lapsed_claims_are_fenced_off(store: &dyn Store) {
    let scope = unique("fence");
    let (run, first) =
        submit_and_claim(store, &scope, Operation::Apply, Duration::from_millis(50)).await;
    let mut step = StepState::new(&scope, "zone", "dns");
    step.outputs = serde_json::json!({"by": "worker-a"});
    store
        .put_step_fenced(&step, &first.lease)
        .await
        .expect("the holder writes");
    assert_eq!(
        store.get_run(&run.id).await.unwrap().unwrap().steps,
        ["zone"]
    );

    // worker-a "pauses" past its lease
    let second = claim_after_lapse(store, "worker-b").await;
    assert_eq!(second.lease.attempt, first.lease.attempt + 1);

    let mut stale = step.clone();
    stale.outputs = serde_json::json!({"by": "worker-a, late"});
    match store.put_step_fenced(&stale, &first.lease).await {
        Err(Error::LeaseLost { run: lost, attempt }) => {
            assert_eq!((lost, attempt), (run.id.clone(), first.lease.attempt));
        }
        other => panic!("a lapsed holder's step write must be refused: {other:?}"),
    }
    assert_eq!(
        store
            .get_step(&scope, "zone")
            .await
            .unwrap()
            .unwrap()
            .outputs["by"],
        "worker-a",
        "the refused write changed nothing"
    );
    let refused = store
        .finish_run_fenced(&first.lease, RunStatus::Failed, Some("late"), None)
        .await;
    assert!(
        matches!(refused, Err(Error::LeaseLost { .. })),
        "a lapsed holder cannot finish the run: {refused:?}"
    );
    assert_eq!(
        store.get_run(&run.id).await.unwrap().unwrap().status,
        RunStatus::Running,
        "still running for worker-b"
    );

    let mut current = step.clone();
    current.outputs = serde_json::json!({"by": "worker-b"});
    store
        .put_step_fenced(&current, &second.lease)
        .await
        .unwrap();
    assert!(store.release_run(&second.lease).await.unwrap());
    assert!(
        matches!(
            store.put_step_fenced(&current, &second.lease).await,
            Err(Error::LeaseLost { .. })
        ),
        "a released claim is fenced off"
    );
    let third = store
        .claim_run("worker-c", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let done = store
        .finish_run_fenced(&third.lease, RunStatus::Succeeded, None, None)
        .await
        .expect("the holder finishes the run");
    assert_eq!(done.status, RunStatus::Succeeded);
    assert!(
        matches!(
            store
                .finish_run_fenced(&third.lease, RunStatus::Failed, None, None)
                .await,
            Err(Error::LeaseLost { .. })
        ),
        "a finished run is no longer held"
    );
}

/// A claim holder's step write with its audit entry
/// ([`Store::put_step_audited_fenced`], and [`FencedStore::put_step_audited`]
/// which a worker's steps go through): the holder writes both; once another
/// worker claimed the run, the lapsed holder's step is refused
/// ([`Error::LeaseLost`], the step unchanged) but its entry is kept — the
/// call it records happened.
///
/// [`FencedStore::put_step_audited`]: crate::store::FencedStore
pub async fn fenced_step_and_audit_in_one_write(store: Arc<dyn Store>) {
    use crate::store::FencedStore;
    let scope = unique("fenceaudit");
    let (run, first) = submit_and_claim(
        store.as_ref(),
        &scope,
        Operation::Apply,
        Duration::from_millis(50),
    )
    .await;
    let entry = |message: &str| {
        let mut entry = AuditEntry::new("alice", "create", AuditOutcome::Succeeded);
        entry.scope = Some(scope.clone());
        entry.run_id = Some(run.id.clone());
        entry.message = Some(message.to_owned());
        entry
    };
    let entries = || async {
        store
            .list_audit(&AuditQuery {
                run_id: Some(run.id.clone()),
                ..Default::default()
            })
            .await
            .unwrap()
    };
    let mut step = StepState::new(&scope, "zone", "dns");
    step.outputs = serde_json::json!({"by": "worker-a"});
    let fenced = FencedStore::new(store.clone(), first.lease.clone());
    let seq = fenced
        .put_step_audited(&step, None, &entry("made by worker-a"))
        .await
        .expect("the holder writes");
    assert_eq!(
        store.get_step(&scope, "zone").await.unwrap(),
        Some(step.clone())
    );
    assert_eq!(
        store.get_run(&run.id).await.unwrap().unwrap().steps,
        ["zone"],
        "the run notes the step it touched"
    );
    let written = entries().await;
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].seq, seq);

    // worker-a "pauses" past its lease
    let second = claim_after_lapse(store.as_ref(), "worker-b").await;
    let mut stale = step.clone();
    stale.outputs = serde_json::json!({"by": "worker-a, late"});
    match fenced
        .put_step_audited(&stale, None, &entry("late by worker-a"))
        .await
    {
        Err(Error::LeaseLost { run: lost, attempt }) => {
            assert_eq!((lost, attempt), (run.id.clone(), first.lease.attempt));
        }
        other => panic!("a lapsed holder's step write must be refused: {other:?}"),
    }
    assert_eq!(
        store.get_step(&scope, "zone").await.unwrap(),
        Some(step.clone()),
        "the refused write left the step as it was"
    );
    let kept = entries().await;
    assert_eq!(kept.len(), 2, "the lapsed holder's call is still audited");
    assert_eq!(kept[1].message.as_deref(), Some("late by worker-a"));

    let mut current = step.clone();
    current.outputs = serde_json::json!({"by": "worker-b"});
    let seq = store
        .put_step_audited_fenced(&current, &second.lease, &entry("made by worker-b"))
        .await
        .expect("the new holder writes");
    assert!(seq > kept[1].seq, "the entry is next in sequence");
    assert_eq!(store.get_step(&scope, "zone").await.unwrap(), Some(current));
    store
        .finish_run_fenced(&second.lease, RunStatus::Succeeded, None, None)
        .await
        .unwrap();
}

/// 24 queued runs, 8 workers claiming concurrently until the queue is
/// empty: every run is claimed exactly once.
pub async fn concurrent_claims_take_each_run_once(store: Arc<dyn Store>) {
    let prefix = unique("claims");
    let mut submitted = std::collections::BTreeSet::new();
    for i in 0..24 {
        let scope = format!("{prefix}-{i}");
        let run = store
            .submit_run(&scope, Operation::Apply, "alice", &request(&scope, i))
            .await
            .unwrap();
        submitted.insert(run.run().id.clone());
    }
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(claim) = store
                    .claim_run(&format!("worker-{w}"), Duration::from_secs(60))
                    .await
                    .unwrap()
                {
                    assert_eq!(claim.lease.attempt, 1);
                    mine.push(claim.run.id);
                }
                mine
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for worker in workers {
        claimed.extend(worker.await.unwrap());
    }
    assert_eq!(
        claimed.len(),
        submitted.len(),
        "each run claimed once, none twice"
    );
    let unique_claims: std::collections::BTreeSet<_> = claimed.iter().cloned().collect();
    assert_eq!(unique_claims, submitted, "every submitted run was claimed");
    for id in &submitted {
        store
            .finish_run(id, RunStatus::Succeeded, None, None)
            .await
            .unwrap();
    }
}

/// History older than the cut-off goes (finished runs, audit entries,
/// vanished inventory items); newer history, active runs and step state stay.
pub async fn prune_deletes_old_history_only(store: &dyn Store) {
    let scope = unique("prune");
    let dock = unique("prune-dock");
    let history = |tag: &'static str| {
        let scope = scope.clone();
        let dock = dock.clone();
        async move {
            let run = store
                .start_run(&format!("{scope}-{tag}"), Operation::Apply, "alice")
                .await
                .unwrap()
                .run()
                .clone();
            store
                .finish_run(&run.id, RunStatus::Succeeded, None, None)
                .await
                .unwrap();
            let mut entry = AuditEntry::new("alice", tag, AuditOutcome::Succeeded);
            entry.scope = Some(scope.clone());
            store.append_audit(&entry).await.unwrap();
            let seen = [item(&dock, tag, tag)];
            store
                .sync_inventory(&dock, ResourceKind::DnsZone, &seen, Utc::now())
                .await
                .unwrap();
            run
        }
    };
    let old = history("old").await;
    let mut step = StepState::new(&scope, "db", "pg");
    step.created_by_run = Some(old.id.clone());
    store.put_step(&step, None).await.unwrap();
    // "old" vanishes when the next listing of the dock lacks it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let new = history("new").await;
    let active = store
        .start_run(&format!("{scope}-active"), Operation::Apply, "bob")
        .await
        .unwrap()
        .run()
        .clone();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let cut = Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Newer than the cut: vanishes "new" now, and a new audit entry.
    store
        .sync_inventory(&dock, ResourceKind::DnsZone, &[], Utc::now())
        .await
        .unwrap();
    let mut late = AuditEntry::new("alice", "late", AuditOutcome::Succeeded);
    late.scope = Some(scope.clone());
    store.append_audit(&late).await.unwrap();

    let pruned = store
        .prune(&Retention {
            finished_runs_before: Some(cut),
            audit_before: Some(cut),
            vanished_inventory_before: Some(cut),
        })
        .await
        .unwrap();
    assert!(pruned.runs >= 2 && pruned.audit >= 2, "{pruned:?}");
    assert!(
        store.get_run(&old.id).await.unwrap().is_none(),
        "an old finished run goes"
    );
    assert!(
        store.get_run(&new.id).await.unwrap().is_none(),
        "so does any run finished before the cut"
    );
    assert_eq!(
        store.get_run(&active.id).await.unwrap().map(|r| r.status),
        Some(RunStatus::Running),
        "an active run is never pruned"
    );
    let audit: Vec<_> = store
        .list_audit(&AuditQuery {
            scope: Some(scope.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.operation)
        .collect();
    assert_eq!(
        audit,
        vec!["late"],
        "audit before the cut goes, after it stays"
    );
    let inventory: Vec<_> = store
        .list_inventory(Some(&dock))
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.provider_resource_id)
        .collect();
    assert_eq!(
        inventory,
        vec!["new"],
        "an item that vanished before the cut goes; one that vanished after stays"
    );
    assert_eq!(
        store
            .get_step(&scope, "db")
            .await
            .unwrap()
            .unwrap()
            .created_by_run,
        Some(old.id.clone()),
        "step state is never pruned"
    );
    let nothing = store.prune(&Retention::default()).await.unwrap();
    assert_eq!(
        nothing,
        crate::model::Pruned::default(),
        "no cut-off, nothing pruned"
    );
    store
        .finish_run(&active.id, RunStatus::Succeeded, None, None)
        .await
        .unwrap();
}
