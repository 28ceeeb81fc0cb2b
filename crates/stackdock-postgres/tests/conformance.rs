//! The shared conformance suite against a real PostgreSQL server, with the
//! leak check over everything it logged at TRACE level.

mod common;

use std::sync::Arc;

use common::{StatementFaults, TestEnv};
use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::spec::{Common, DatabaseSpec};
use stackdock_core::{DockAdapter, ListOptions, ResourceId, ResourceKind};
use stackdock_testkit::leak::{sentinel, LeakCheck, LogCapture};
use stackdock_testkit::{Fixture, Harness};

#[tokio::test]
async fn conformance() {
    let env = TestEnv::new().await;
    let name = env.name("conf");
    let tenant = env.name("tenant");
    let logs = LogCapture::start_global();
    let password = sentinel("database");
    let spec = |limit: i32| DatabaseSpec {
        name: name.clone(),
        password: Some(SecretString::from(password.clone())),
        connection_limit: Some(limit),
        common: Common {
            tenant: Some(tenant.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut fixture = Fixture::new(spec(5))
        .update(spec(10))
        .list_options(ListOptions::for_tenant(tenant.clone()))
        .missing_id(ResourceId::new(ResourceKind::Database, env.name("missing")));
    for bad in stackdock_testkit::hostile_names().into_iter().chain([
        "postgres".into(),
        "template1".into(),
        "pg_x".into(),
        "Upper".into(),
    ]) {
        fixture = fixture.invalid(DatabaseSpec {
            name: bad,
            ..Default::default()
        });
    }
    fixture = fixture.invalid(DatabaseSpec {
        name: env.name("ok"),
        owner: Some("x\"; DROP DATABASE postgres; --".into()),
        ..Default::default()
    });

    // The admin password must never show in the adapter's Debug output. A
    // trust server ignores passwords, so give one when the URL has none.
    let mut config = stackdock_postgres::PostgresConfig::from_url(&common::admin_url()).unwrap();
    if config.password.is_none() && !env.tcp_auth_checks_passwords().await {
        config = config.with_password(sentinel("admin"));
    }
    let admin_password = config
        .password
        .as_ref()
        .map(|p| p.expose_secret().to_owned());
    let adapter = Arc::new(TestEnv::adapter_with(config));
    let counter = adapter.clone();
    let mut harness = Harness::new(adapter.clone() as Arc<dyn DockAdapter>)
        .fixture(fixture)
        .remote_calls(move || counter.sql_sent())
        .secret(password.clone())
        .faults(Arc::new(StatementFaults(adapter.clone())));
    if let Some(pw) = &admin_password {
        harness = harness.secret(pw.clone());
    }
    let report = harness.run().await;
    // `run` panics on any failure; here is what ran. Every per-kind check
    // for the one kind, tenant isolation included (tenants are declared),
    // and "nothing half-made" through the statement fault hook.
    for check in [
        "validation_first",
        "observe_missing",
        "lifecycle",
        "create_twice",
        "delete_twice",
        "concurrent_creates",
        "concurrent_deletes",
        "cancelled_create",
        "tenant_isolation",
        "paging",
        "no_secrets",
        "nothing_half_made",
        "unsupported_is_explicit",
        "unsupported_arguments",
        "debug_has_no_secrets",
    ] {
        assert_eq!(report.count(check), 1, "{check}: {report}");
    }
    // One database through the lifecycle, created once and adopted by the
    // second create and by 19 of the 20 racers.
    for check in ["lifecycle", "create_twice", "concurrent_creates"] {
        assert_eq!(report.touched_by(check), 1, "{check}: {report}");
    }
    // Nothing under the test's prefix is left: no database, and no role of a
    // half-made provisioning (listings do not show those, the catalog does).
    env.assert_clean().await;

    // No password of the run reached a log line, at any level.
    let text = logs.text();
    assert!(text.contains("postgres admin statement"), "nothing logged");
    let mut secrets = vec![password.as_str()];
    secrets.extend(admin_password.as_deref());
    LeakCheck::new()
        .logs(&logs)
        .debug("report", &report)
        .assert_clean(&secrets);
}
