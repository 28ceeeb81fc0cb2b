//! RBAC: the full / read / none / undefined matrix for every operation, and
//! another organisation's scope is not found.

mod common;

use common::{tenant, Fixture};
use stackdock_runtime::model::{AuditOutcome, AuditQuery};
use stackdock_runtime::rbac::{Access, Area, Principal};
use stackdock_runtime::{ApplyOptions, Error};

#[derive(Debug, Clone, Copy)]
enum Op {
    Apply,
    Reconcile,
    Destroy,
    Status,
    Audit,
    Docks,
    Sync,
    Plan,
    Cancel,
}

impl Op {
    const ALL: [Op; 9] = [
        Op::Apply,
        Op::Reconcile,
        Op::Destroy,
        Op::Status,
        Op::Audit,
        Op::Docks,
        Op::Sync,
        Op::Plan,
        Op::Cancel,
    ];

    fn needs(self) -> (Area, Access) {
        match self {
            Op::Apply | Op::Reconcile | Op::Destroy | Op::Cancel => {
                (Area::Provisioning, Access::Full)
            }
            Op::Status | Op::Plan => (Area::Provisioning, Access::Read),
            Op::Audit => (Area::Audit, Access::Read),
            Op::Docks => (Area::Docks, Access::Read),
            Op::Sync => (Area::Docks, Access::Full),
        }
    }

    async fn run(self, fx: &Fixture, who: Principal, scope: &str) -> Result<(), Error> {
        let session = fx.runtime.session(who);
        match self {
            Op::Apply => session
                .apply(&tenant(scope), ApplyOptions::rollback())
                .await
                .map(drop),
            Op::Reconcile => session.reconcile(scope).await.map(drop),
            Op::Destroy => session.destroy(scope).await.map(drop),
            Op::Status => session.status(scope).await.map(drop),
            Op::Audit => session.audit(scope).await.map(drop),
            Op::Docks => session.docks().await.map(drop),
            Op::Sync => session.sync("dns").await.map(drop),
            Op::Plan => session.plan(&tenant(scope)).await.map(drop),
            Op::Cancel => {
                let runs = fx.store.list_runs(scope).await.unwrap();
                session.cancel(&runs.last().unwrap().id).await.map(drop)
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_permission_matrix_denies_by_default_and_before_any_call() {
    for op in Op::ALL {
        let (area, need) = op.needs();
        for granted in [
            Some(Access::Full),
            Some(Access::Read),
            Some(Access::None),
            None,
        ] {
            let fx = Fixture::memory();
            // The scope exists (applied by an admin of the same org).
            let admin = Principal::new("admin", "agency").with(Area::Provisioning, Access::Full);
            fx.runtime
                .session(admin)
                .apply(&tenant("acme"), ApplyOptions::rollback())
                .await
                .unwrap();
            let calls = fx.calls();
            // Full on every other area: only `area` decides.
            let mut who = Principal::new("user", "agency");
            for other in [Area::Provisioning, Area::Docks, Area::Audit] {
                if other != area {
                    who = who.with(other, Access::Full);
                }
            }
            if let Some(access) = granted {
                who = who.with(area, access);
            }
            let allowed = granted.is_some_and(|g| g >= need);
            let result = op.run(&fx, who, "acme").await;
            match (allowed, result) {
                (true, Ok(())) => {}
                (false, Err(Error::PermissionDenied { area: a, need: n })) => {
                    assert_eq!((a, n), (area, need));
                    assert_eq!(
                        fx.calls(),
                        calls,
                        "{op:?} with {granted:?}: a refusal calls no dock"
                    );
                    let denied = fx.store.list_audit(&AuditQuery::default()).await.unwrap();
                    let last = denied.last().unwrap();
                    assert_eq!(
                        (last.outcome, last.actor.as_str()),
                        (AuditOutcome::Denied, "user")
                    );
                    assert_eq!(last.reason.as_deref(), Some("permission_denied"));
                }
                (allowed, result) => {
                    panic!("{op:?} with {granted:?}: allowed={allowed}, got {result:?}")
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_orgs_scope_is_not_found_never_forbidden() {
    let fx = Fixture::memory();
    let admin = Principal::new("admin", "agency").with(Area::Provisioning, Access::Full);
    fx.runtime
        .session(admin)
        .apply(&tenant("acme"), ApplyOptions::rollback())
        .await
        .unwrap();
    let calls = fx.calls();
    let rival = Principal::new("eve", "rival")
        .with(Area::Provisioning, Access::Full)
        .with(Area::Audit, Access::Full)
        .with(Area::Docks, Access::Full);
    for op in [Op::Reconcile, Op::Destroy, Op::Status, Op::Audit] {
        let theirs = op.run(&fx, rival.clone(), "acme").await.unwrap_err();
        let nothing = op
            .run(&fx, rival.clone(), "no-such-scope")
            .await
            .unwrap_err();
        assert!(matches!(theirs, Error::NotFound(_)), "{op:?}: {theirs:?}");
        assert_eq!(
            theirs.to_string().replace("acme", "X"),
            nothing.to_string().replace("no-such-scope", "X"),
            "{op:?}: another org's scope must look exactly like a missing one"
        );
    }
    // Applying a blueprint of the rival's org onto the taken scope name: not found too.
    let mut stolen = tenant("acme");
    stolen.org = Some("rival".into());
    let err = fx
        .runtime
        .session(rival.clone())
        .apply(&stolen, ApplyOptions::rollback())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    let plan = fx.runtime.session(rival.clone()).plan(&stolen).await;
    assert!(matches!(plan, Err(Error::NotFound(_))), "{plan:?}");
    let agency_run = fx.store.list_runs("acme").await.unwrap().remove(0);
    let missing = stackdock_runtime::model::RunId::new();
    let rival_session = fx.runtime.session(rival.clone());
    let cancel = rival_session.cancel(&agency_run.id).await;
    let unknown = rival_session.cancel(&missing).await;
    match (cancel, unknown) {
        (Err(Error::NotFound(theirs)), Err(Error::NotFound(nothing))) => assert_eq!(
            theirs.replace(agency_run.id.as_str(), "X"),
            nothing.replace(missing.as_str(), "X"),
            "another org's run must read exactly like a missing one"
        ),
        other => panic!("cancel of another org's run must be not found: {other:?}"),
    }
    // And without a session (the embedding app's own call) the scope is still theirs.
    let err = fx
        .runtime
        .apply(&stolen, "app", ApplyOptions::rollback())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)));
    assert_eq!(fx.calls(), calls, "no dock was called for the rival");
    assert_eq!(fx.resources(), 6, "agency's tenant is untouched");
    // A blueprint in the principal's own org but another org's scope... is
    // refused before anything; the principal's own org works as usual.
    let own = fx
        .runtime
        .session(rival)
        .apply(
            &{
                let mut bp = tenant("rival-shop");
                bp.org = Some("rival".into());
                bp
            },
            ApplyOptions::rollback(),
        )
        .await
        .unwrap();
    assert!(own.succeeded());
}
