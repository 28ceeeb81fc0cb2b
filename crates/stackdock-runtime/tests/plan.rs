//! Plan: desired vs recorded vs observed, no mutating call; pruning of
//! steps a blueprint no longer has.

mod common;

use common::{tenant, Fixture};
use stackdock_core::spec::ResourceSpec;
use stackdock_core::DockAdapter;
use stackdock_runtime::blueprint::Blueprint;
use stackdock_runtime::events::StepOutcome;
use stackdock_runtime::model::{AuditOutcome, AuditQuery};
use stackdock_runtime::plan::{Plan, PlanAction};
use stackdock_runtime::ApplyOptions;

const STEPS: usize = 6;

fn actions(plan: &Plan) -> Vec<(String, PlanAction)> {
    plan.steps
        .iter()
        .map(|s| (s.step.clone(), s.action))
        .collect()
}

#[tokio::test]
async fn a_plan_makes_no_mutating_call_and_matches_what_apply_does() {
    let fx = Fixture::memory();
    let bp = tenant("acme");

    let fresh = fx.runtime.plan(&bp).await.unwrap();
    assert_eq!(fresh.count(PlanAction::Create), STEPS, "{fresh}");
    assert_eq!(fx.mutations(), 0, "a plan never mutates");
    assert!(
        fx.store.list_runs("acme").await.unwrap().is_empty(),
        "a plan is not a run"
    );
    assert!(
        fx.store.list_steps("acme").await.unwrap().is_empty(),
        "a plan writes nothing"
    );
    // Order: dependencies first.
    let order: Vec<String> = fresh.steps.iter().map(|s| s.step.clone()).collect();
    let at = |s: &str| order.iter().position(|o| o == s).unwrap();
    assert!(at("zone") < at("www") && at("db") < at("db_txt") && at("mailbox") < at("forwarder"));

    fx.runtime
        .apply(&bp, "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    let calls = fx.mutations();
    let unchanged = fx.runtime.plan(&bp).await.unwrap();
    assert!(unchanged.is_empty(), "{unchanged}");
    assert_eq!(unchanged.count(PlanAction::NoOp), STEPS);
    assert!(unchanged.to_string().contains("6 unchanged"), "{unchanged}");
    let json = serde_json::to_string(&unchanged).unwrap();
    assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), unchanged);

    let mut changed = bp.clone();
    changed.steps.get_mut("www").unwrap().spec["ttl"] = 600.into();
    let update = fx.runtime.plan(&changed).await.unwrap();
    let www = update.steps.iter().find(|s| s.step == "www").unwrap();
    assert_eq!(www.action, PlanAction::Update, "{update}");
    assert!(
        www.changes.iter().any(|c| c.contains("ttl")),
        "{:?}",
        www.changes
    );
    assert_eq!(update.mutations(), 1, "{update}");
    assert_eq!(fx.mutations(), calls, "plans never mutate");

    let report = fx
        .runtime
        .apply(&changed, "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    assert_eq!(
        fx.mutations(),
        calls + update.mutations(),
        "the apply did what the plan said"
    );
    assert_eq!(report.steps["www"], StepOutcome::Updated);
}

#[tokio::test]
async fn a_resource_already_there_is_planned_as_adopt() {
    let fx = Fixture::memory();
    let zone: ResourceSpec =
        serde_json::from_value(serde_json::json!({"kind": "dns_zone", "name": "acme.example"}))
            .unwrap();
    fx.dock("dns").inner.create(&zone).await.unwrap();
    let plan = fx.runtime.plan(&tenant("acme")).await.unwrap();
    let zone = plan.steps.iter().find(|s| s.step == "zone").unwrap();
    assert_eq!(zone.action, PlanAction::Adopt, "{plan}");
    assert!(zone.resource_id.is_some());
}

/// The tenant without its forwarder and `www` record.
fn smaller(scope: &str) -> Blueprint {
    let mut bp = tenant(scope);
    bp.steps.remove("forwarder");
    bp.steps.remove("www");
    bp
}

#[tokio::test]
async fn steps_removed_from_the_blueprint_are_pruned_by_the_next_apply() {
    let fx = Fixture::memory();
    fx.runtime
        .apply(&tenant("acme"), "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    let plan = fx.runtime.plan(&smaller("acme")).await.unwrap();
    let tail: Vec<_> = actions(&plan).into_iter().rev().take(2).collect();
    assert!(tail.iter().all(|(_, a)| *a == PlanAction::Delete), "{plan}");
    assert_eq!(plan.mutations(), 2);

    let report = fx
        .runtime
        .apply(&smaller("acme"), "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    assert!(report.succeeded(), "{:?}", report.failure);
    assert_eq!(report.steps["forwarder"], StepOutcome::Deleted);
    assert_eq!(report.steps["www"], StepOutcome::Deleted);
    assert_eq!(fx.resources(), STEPS - 2);
    let again = fx.runtime.plan(&smaller("acme")).await.unwrap();
    assert!(
        again.is_empty() && again.steps.len() == STEPS - 2,
        "{again}"
    );
}

#[tokio::test]
async fn an_adopted_step_removed_from_the_blueprint_is_released_not_deleted() {
    let fx = Fixture::memory();
    let www: ResourceSpec = serde_json::from_value(serde_json::json!({
        "kind": "dns_record", "zone": "acme.example", "name": "www", "ttl": 300,
        "data": {"type": "CNAME", "target": "web.hosting.example"}
    }))
    .unwrap();
    let zone: ResourceSpec =
        serde_json::from_value(serde_json::json!({"kind": "dns_zone", "name": "acme.example"}))
            .unwrap();
    fx.dock("dns").inner.create(&zone).await.unwrap();
    fx.dock("dns").inner.create(&www).await.unwrap();
    fx.runtime
        .apply(&tenant("acme"), "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    let plan = fx.runtime.plan(&smaller("acme")).await.unwrap();
    let last = |step: &str| plan.steps.iter().find(|s| s.step == step).unwrap().action;
    assert_eq!(
        (last("www"), last("forwarder")),
        (PlanAction::Release, PlanAction::Delete),
        "{plan}"
    );
    let report = fx
        .runtime
        .apply(&smaller("acme"), "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    assert!(report.succeeded(), "{:?}", report.failure);
    assert!(matches!(report.steps["www"], StepOutcome::Skipped { .. }));
    assert_eq!(
        fx.resources(),
        STEPS - 1,
        "the adopted record stays at the provider"
    );
    let skipped = fx
        .store
        .list_audit(&AuditQuery {
            scope: Some("acme".into()),
            operation: Some("delete".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        skipped
            .iter()
            .filter(|e| e.outcome == AuditOutcome::Skipped)
            .count(),
        1
    );
}
