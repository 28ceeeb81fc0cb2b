//! Core v2 behaviour of the adapter against the real server: created /
//! adopted outcomes (also when finishing an interrupted create), races
//! between processes, tenant isolation, planned ids, the layer's refusals,
//! statement faults checked against the catalog, and the factory.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestEnv;
use futures::future::join_all;
use stackdock_core::drive::{self, Discard};
use stackdock_core::factory::{Credentials, DockConfig, DockFactories, DockFactory};
use stackdock_core::layer::standard;
use stackdock_core::secret::SecretString;
use stackdock_core::spec::{Common, DatabaseSpec, ResourceSpec};
use stackdock_core::{
    CreateOutcome, DockAdapter, DockAdapterExt, DockRegistry, ErrorKind, ListOptions,
    ProvisioningRecord, ProvisioningSource, ProvisioningState, ResourceId, ResourceKind,
    ResourceStatus,
};
use stackdock_postgres::adapter::FaultTiming;
use stackdock_postgres::{PostgresFactory, ProvisionStep};

fn spec(name: &str, tenant: Option<&str>) -> ResourceSpec {
    ResourceSpec::from(DatabaseSpec {
        name: name.into(),
        common: Common {
            tenant: tenant.map(str::to_owned),
            ..Default::default()
        },
        ..Default::default()
    })
}

fn id(name: &str) -> ResourceId {
    ResourceId::new(ResourceKind::Database, name)
}

#[tokio::test]
async fn created_once_then_adopted_with_a_planned_id() {
    let env = TestEnv::new().await;
    let dock = standard(env.adapter.clone());
    let name = env.name("outcome");
    let s = spec(&name, Some("t"));
    let planned = dock.planned_id(&s).expect("database ids are their names");
    assert_eq!(planned, id(&name));
    let first = dock.create(&s).await.unwrap();
    assert_eq!(first.outcome, CreateOutcome::Created);
    assert_eq!(first.id(), planned);
    let again = dock.create(&s).await.unwrap();
    assert_eq!(again.outcome, CreateOutcome::Adopted);
    assert_eq!(again.id(), planned);
    let found = dock.find(&s).await.unwrap().expect("found by planned id");
    assert_eq!(found.id(), planned);
    // No planned id for a name the provider refuses.
    assert_eq!(dock.planned_id(&spec("Upper", None)), None);
    dock.delete(&planned).await.unwrap();
    env.assert_clean().await;
}

/// A create dropped after `CREATE DATABASE` leaves our role and an unmarked
/// database. The repeat finishes them: that call made the resource, which
/// no one was told about, so it reports created; the next one adopts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finishing_an_interrupted_create_reports_created() {
    let env = TestEnv::new().await;
    let adapter = env.new_adapter();
    let name = env.name("resumed");
    let s = spec(&name, Some("t"));
    adapter.inject(ProvisionStep::CreateDatabase, FaultTiming::HangAfter);
    let dropped = tokio::time::timeout(Duration::from_secs(5), adapter.create(&s)).await;
    assert!(dropped.is_err(), "the hanging create was dropped");
    let half = adapter.observe(&id(&name), None).await.unwrap();
    assert_eq!(
        half.resource.expect("left half-made").meta().status,
        ResourceStatus::Provisioning
    );
    let finished = adapter.create(&s).await.unwrap();
    assert_eq!(finished.outcome, CreateOutcome::Created);
    assert_eq!(finished.meta().status, ResourceStatus::Active);
    assert_eq!(
        adapter.create(&s).await.unwrap().outcome,
        CreateOutcome::Adopted
    );
    adapter.delete(&id(&name)).await.unwrap();
    env.assert_clean().await;
}

/// A control plane's driver resuming a record left in `provisioning` by a
/// crash after `CREATE DATABASE` finishes the database (listed, active)
/// rather than recording the half-made one as done — found by the
/// runtime's random-abort trials on this server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_provisioning_finishes_the_half_made_database() {
    let env = TestEnv::new().await;
    let adapter = env.new_adapter();
    let name = env.name("drive");
    let s = spec(&name, Some("t"));
    let mut record = ProvisioningRecord::new(ProvisioningSource::Api);
    adapter.inject(ProvisionStep::CreateDatabase, FaultTiming::HangAfter);
    let crashed = tokio::time::timeout(
        Duration::from_secs(5),
        drive::provision(&adapter, &s, &mut record, &Discard),
    )
    .await;
    assert!(crashed.is_err(), "the hanging create was dropped");
    assert_eq!(record.state, ProvisioningState::Provisioning);

    let resumed = drive::provision(&adapter, &s, &mut record, &Discard)
        .await
        .unwrap();
    assert_eq!(record.state, ProvisioningState::Provisioned);
    assert_eq!(resumed.meta().status, ResourceStatus::Active);
    let listed = adapter
        .list_all(ResourceKind::Database, &ListOptions::for_tenant("t"))
        .await
        .unwrap();
    assert!(
        listed.iter().any(|r| r.name() == name),
        "the resumed database is listed"
    );
    adapter.delete(&id(&name)).await.unwrap();
    env.assert_clean().await;
}

/// Two adapters with their own pools stand in for two processes: the
/// server-side advisory lock on the name serialises them all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_racing_across_processes_make_one_database() {
    let env = TestEnv::new().await;
    let a = env.new_adapter();
    let b = env.new_adapter();
    let name = env.name("race");
    let s = spec(&name, Some("t"));
    let results = join_all((0..20).map(|i| {
        let dock = if i % 2 == 0 { &a } else { &b };
        dock.create(&s)
    }))
    .await;
    let created: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("every racer succeeds"))
        .collect();
    assert_eq!(created.iter().filter(|c| c.was_created()).count(), 1);
    assert!(created.iter().all(|c| c.id() == id(&name)));
    let listed = a
        .list_all(ResourceKind::Database, &ListOptions::for_tenant("t"))
        .await
        .unwrap();
    assert_eq!(listed.iter().filter(|r| r.name() == name).count(), 1);
    a.delete(&id(&name)).await.unwrap();
    env.assert_clean().await;
}

#[tokio::test]
async fn another_tenant_never_adopts_lists_or_updates_a_database() {
    let env = TestEnv::new().await;
    let dock = standard(env.adapter.clone());
    let name = env.name("iso");
    let tenant_a = env.name("tenant_a");
    let tenant_b = env.name("tenant_b");
    dock.create(&spec(&name, Some(&tenant_a))).await.unwrap();
    let e = dock
        .create(&spec(&name, Some(&tenant_b)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::AlreadyExists, "{e}");
    let listed = dock
        .list_all(ResourceKind::Database, &ListOptions::for_tenant(&tenant_b))
        .await
        .unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    let e = dock
        .update(&id(&name), &spec(&name, Some(&tenant_b)))
        .await
        .unwrap_err();
    assert!(
        e.is_not_found(),
        "tenant B does not learn of A's database: {e}"
    );
    // An unscoped update cannot move the database out of its tenant.
    let e = dock
        .update(&id(&name), &spec(&name, None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    let still = dock.get(&id(&name)).await.unwrap();
    assert_eq!(still.meta().tenant.as_deref(), Some(tenant_a.as_str()));
    dock.delete(&id(&name)).await.unwrap();
    env.assert_clean().await;
}

#[tokio::test]
async fn the_layer_refuses_parent_filters_before_any_sql_and_names_the_endpoint() {
    let env = TestEnv::new().await;
    let adapter = Arc::new(env.new_adapter());
    let dock = standard(adapter.clone());
    let e = dock
        .list(ResourceKind::Database, &ListOptions::in_parent("x"))
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
    let e = dock.create(&spec("Upper", None)).await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput { .. }), "{e}");
    assert_eq!(adapter.sql_sent(), 0, "refused before any SQL");
    // Errors name the dock, the provider and host:port, never a credential.
    let endpoint = adapter.endpoint().expect("an endpoint");
    assert_eq!(
        endpoint,
        format!("{}:{}", adapter.config().host, adapter.config().port)
    );
    let text = format!("{e}");
    assert!(
        text.contains("dock=test-dock") && text.contains(&endpoint),
        "{text}"
    );
    env.assert_clean().await;
}

/// Failing the k-th SQL statement of a create, for every k, leaves nothing
/// in the catalog, or a state the repeated create finishes. Checked against
/// `pg_database` and `pg_roles` (listings do not show half-made databases).
#[tokio::test]
async fn a_failed_statement_at_any_point_leaves_nothing_half_made_in_the_catalog() {
    let env = TestEnv::new().await;
    let adapter = env.new_adapter();
    let name = env.name("fault");
    let s = spec(&name, Some("t"));
    let mut faulted = 0;
    for k in 1..=32 {
        adapter.fail_statement(k);
        let result = adapter.create(&s).await;
        adapter.clear_faults();
        match result {
            Ok(created) => {
                assert!(created.was_created());
                break;
            }
            Err(e) => {
                assert_eq!(e.kind(), &ErrorKind::Unavailable, "k={k}: {e}");
                faulted += 1;
            }
        }
        let left = env.leftovers_of(&name).await;
        assert!(left.is_empty(), "statement {k} failed, left {left:?}");
    }
    // Lock, look at the database and the role, role, database, secure.
    assert!(faulted >= 6, "only {faulted} statements could be failed");
    adapter.delete(&id(&name)).await.unwrap();
    env.assert_clean().await;
}

fn two_docks() -> Vec<DockConfig> {
    serde_json::from_str(
        r#"[
            {"id": "pg-main", "provider": "postgres",
             "settings": {"host": "127.0.0.1", "user": "postgres", "tls": "disable"}},
            {"id": "pg-eu", "provider": "postgres",
             "settings": {"host": "127.0.0.1", "port": 1, "user": "stackdock_admin",
                          "connect_timeout": 2, "lock_timeout": 5.5, "max_connections": 2},
             "credentials": {"password": "env:PG_EU_PASSWORD"}}
        ]"#,
    )
    .unwrap()
}

fn password(dock: &str) -> Credentials {
    Credentials::from_values(
        dock,
        [(
            "password".to_owned(),
            SecretString::from(format!("{dock}-password")),
        )],
    )
}

#[tokio::test]
async fn two_docks_of_postgres_from_one_config() {
    let docks = two_docks();
    let factories = DockFactories::new().with(PostgresFactory);
    let mut registry = DockRegistry::new();
    let main = factories
        .build(&docks[0], &Credentials::from_values("pg-main", []))
        .unwrap();
    registry.insert(main).unwrap();
    registry
        .insert(factories.build(&docks[1], &password("pg-eu")).unwrap())
        .unwrap();
    assert_eq!(registry.by_provider("postgres").count(), 2);
    let main = registry.require("pg-main").unwrap();
    let eu = registry.require("pg-eu").unwrap();
    assert_eq!(main.endpoint().as_deref(), Some("127.0.0.1:5432"));
    assert_eq!(eu.endpoint().as_deref(), Some("127.0.0.1:1"));
    for dock in [&main, &eu] {
        let debug = format!("{dock:?}");
        assert!(!debug.contains("-password"), "{debug}");
    }
    // Built without I/O: the main dock works, the EU one points at a closed
    // port, which only a call finds out (a typed error naming the dock).
    main.check_credentials().await.unwrap();
    let e = eu.check_credentials().await.unwrap_err();
    assert!(e.to_string().contains("pg-eu"), "{e}");
    assert!(!e.to_string().contains("pg-eu-password"), "{e}");
}

#[test]
fn factory_errors_name_the_dock_and_the_key() {
    let docks = two_docks();
    let mut no_user = docks[0].clone();
    no_user.settings.as_object_mut().unwrap().remove("user");
    let e = PostgresFactory
        .build(&no_user, &Credentials::from_values("pg-main", []))
        .unwrap_err();
    assert!(
        e.to_string().contains("pg-main") && e.to_string().contains("user"),
        "{e}"
    );
    let mut inline = docks[1].clone();
    inline.settings["password"] = "written-inline".into();
    let e = PostgresFactory
        .build(&inline, &password("pg-eu"))
        .unwrap_err();
    assert!(
        e.to_string().contains("pg-eu") && e.to_string().contains("password"),
        "{e}"
    );
    assert!(!e.to_string().contains("written-inline"), "{e}");
    let mut bad = docks[1].clone();
    bad.settings["tls"] = "sometimes".into();
    let e = PostgresFactory.build(&bad, &password("pg-eu")).unwrap_err();
    assert!(
        e.to_string().contains("pg-eu") && e.to_string().contains("sslmode"),
        "{e}"
    );
    let mut bad = docks[1].clone();
    bad.settings["lock_timeout"] = (-1).into();
    let e = PostgresFactory.build(&bad, &password("pg-eu")).unwrap_err();
    assert!(
        e.to_string().contains("pg-eu") && e.to_string().contains("seconds"),
        "{e}"
    );
}
