//! The shared conformance suite against both adapters: the Postfix/Dovecot
//! adapter on the real PostgreSQL (127.0.0.1:5432 or `STACKDOCK_TEST_PG_URL`)
//! and the Stalwart adapter against a stateful fake of its JMAP API.

mod fake_stalwart;
mod support;

use std::sync::Arc;

use fake_stalwart::{FakeStalwart, ADMIN_PASSWORD};
use stackdock_core::spec::{MailForwarderSpec, MailboxSpec, ResourceSpec};
use stackdock_core::{DockAdapter, DockAdapterExt, ListOptions, ResourceId, ResourceKind};
use stackdock_email::sql::{MailStore, PostfixDovecotAdapter};
use stackdock_email::stalwart::{StalwartAdapter, StalwartConfig};
use stackdock_http::RetryConfig;
use stackdock_testkit::leak::{sentinel, LeakCheck, LogCapture};
use stackdock_testkit::{FaultHook, Fixture, Harness, Report};
use support::TestSchema;

fn mailbox(address: &str, password: Option<&str>, quota: Option<u64>) -> MailboxSpec {
    MailboxSpec {
        address: address.into(),
        password: password.map(|p| p.to_owned().into()),
        quota_bytes: quota,
        ..Default::default()
    }
}

fn forwarder(source: &str, destinations: &[&str]) -> MailForwarderSpec {
    MailForwarderSpec {
        source: source.into(),
        destinations: destinations.iter().map(|d| d.to_string()).collect(),
        ..Default::default()
    }
}

/// Fails the store's k-th database call (one connection checkout: a whole
/// transaction or query).
struct StoreFaults(MailStore);

impl FaultHook for StoreFaults {
    fn fail_call(&self, k: usize) {
        self.0.fail_call(k);
    }
    fn clear(&self) {
        self.0.clear_faults();
    }
}

/// Fails the fake's k-th HTTP request with a 503 (the adapters under test
/// have no HTTP retries, so the fault reaches them).
struct HttpFaults(FakeStalwart);

impl FaultHook for HttpFaults {
    fn fail_call(&self, k: usize) {
        self.0.fail_call(k);
    }
    fn clear(&self) {
        self.0.clear_faults();
    }
}

/// Every per-kind check ran for each of `kinds` fixtures; tenant isolation
/// only where tenants are declared (operator docks).
fn assert_ran(report: &Report, kinds: usize, tenancy: bool) {
    for check in [
        "validation_first",
        "observe_missing",
        "lifecycle",
        "create_twice",
        "delete_twice",
        "concurrent_creates",
        "concurrent_deletes",
        "cancelled_create",
        "paging",
        "no_secrets",
        "nothing_half_made",
    ] {
        assert_eq!(report.count(check), kinds, "{check}: {report}");
    }
    assert_eq!(report.touched_by("lifecycle"), kinds, "{report}");
    assert_eq!(report.touched_by("create_twice"), kinds, "{report}");
    assert_eq!(report.touched_by("concurrent_creates"), kinds, "{report}");
    let isolation = if tenancy { kinds } else { 0 };
    assert_eq!(report.count("tenant_isolation"), isolation, "{report}");
    for check in [
        "unsupported_is_explicit",
        "unsupported_arguments",
        "debug_has_no_secrets",
    ] {
        assert_eq!(report.count(check), 1, "{check}: {report}");
    }
}

/// The SQL fixtures, the mailbox created with `password` and updated to
/// `changed`.
fn sql_fixtures(password: &str, changed: &str) -> Vec<Fixture> {
    let mut mailbox_fixture = Fixture::new(mailbox(
        "alice@conformance.example.com",
        Some(password),
        Some(1 << 30),
    ))
    .update(MailboxSpec {
        enabled: false,
        ..mailbox(
            "alice@conformance.example.com",
            Some(changed),
            Some(2 << 30),
        )
    })
    .invalid(mailbox("alice@conformance.example.com", None, None))
    .invalid(mailbox(
        "alice@conformance.example.com",
        Some(&"x".repeat(73)),
        None,
    ))
    .invalid(mailbox(
        "alice@conformance.example.com",
        Some("Fine-1"),
        Some(0),
    ))
    .missing_id(ResourceId::new(
        ResourceKind::Mailbox,
        "missing@conformance.example.com",
    ));
    let mut forwarder_fixture = Fixture::new(forwarder(
        "sales@conformance.example.com",
        &["alice@conformance.example.com"],
    ))
    .update(forwarder(
        "sales@conformance.example.com",
        &["alice@conformance.example.com", "bob@other.example.org"],
    ))
    .invalid(forwarder("sales@conformance.example.com", &[]))
    .invalid(forwarder(
        "sales@conformance.example.com",
        &["sales@conformance.example.com"],
    ))
    .invalid(forwarder(
        "@bad..example.com",
        &["alice@conformance.example.com"],
    ));
    for bad in stackdock_testkit::hostile_names() {
        mailbox_fixture = mailbox_fixture.invalid(mailbox(&bad, Some("Fine-1"), None));
        mailbox_fixture = mailbox_fixture.invalid(mailbox(
            &format!("{bad}@conformance.example.com"),
            Some("Fine-1"),
            None,
        ));
        forwarder_fixture =
            forwarder_fixture.invalid(forwarder("sales@conformance.example.com", &[&bad]));
        forwarder_fixture = forwarder_fixture.invalid(forwarder(
            &format!("x@{bad}"),
            &["alice@conformance.example.com"],
        ));
    }
    vec![mailbox_fixture, forwarder_fixture]
}

fn stalwart_fixtures() -> Vec<Fixture> {
    let mut m = Fixture::new(mailbox(
        "alice@conformance.example.com",
        Some("Correct-Horse-1"),
        Some(1 << 30),
    ))
    .update(MailboxSpec {
        enabled: false,
        ..mailbox(
            "alice@conformance.example.com",
            Some("Changed-Horse-2"),
            Some(2 << 30),
        )
    })
    .invalid(mailbox("alice@conformance.example.com", None, None))
    .missing_id(ResourceId::new(
        ResourceKind::Mailbox,
        "missing@conformance.example.com",
    ));
    let mut f = Fixture::new(forwarder(
        "sales@conformance.example.com",
        &["team@conformance.example.com"],
    ))
    .update(MailForwarderSpec {
        enabled: false,
        ..forwarder(
            "sales@conformance.example.com",
            &["team@conformance.example.com"],
        )
    })
    .invalid(forwarder(
        "sales@conformance.example.com",
        &["a@conformance.example.com", "b@conformance.example.com"],
    ))
    .invalid(forwarder("sales@conformance.example.com", &[]));
    for bad in stackdock_testkit::hostile_names() {
        m = m.invalid(mailbox(
            &format!("{bad}@conformance.example.com"),
            Some("Pw-1"),
            None,
        ));
        f = f.invalid(forwarder("sales@conformance.example.com", &[&bad]));
    }
    let catch_all = Fixture::new(forwarder(
        "@conformance.example.com",
        &["team@conformance.example.com"],
    ))
    .update(forwarder(
        "@conformance.example.com",
        &["other@conformance.example.com"],
    ))
    .invalid(MailForwarderSpec {
        enabled: false,
        ..forwarder(
            "@conformance.example.com",
            &["team@conformance.example.com"],
        )
    });
    vec![m, f, catch_all]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_passes_on_postgres() {
    // Global: the multi-threaded runtime logs from its worker threads.
    let logs = LogCapture::start_global();
    let password = sentinel("mailbox");
    let changed = sentinel("changed");
    let schema = TestSchema::new();
    let adapter = Arc::new(
        PostfixDovecotAdapter::connect("mail-test", schema.config())
            .await
            .unwrap(),
    );
    let counter = adapter.store().clone();
    let report = Harness::new(adapter.clone())
        .fixtures(sql_fixtures(&password, &changed))
        .remote_calls(move || counter.remote_calls())
        .faults(Arc::new(StoreFaults(adapter.store().clone())))
        .secret(password.clone())
        .secret(changed.clone())
        .run()
        .await;
    // `run` panics on any failure; here is what ran: every check for
    // mailboxes and forwarders, tenant isolation included (an operator dock
    // records the spec's tenant).
    assert_ran(&report, 2, true);
    assert!(
        schema.snapshot().await.is_empty(),
        "the suite left rows behind"
    );

    // A tenant-scoped dock passes the same suite; it declares no tenancy
    // argument (it is the tenant), so tenant isolation is not run on it and
    // a spec naming a tenant is refused as Unsupported.
    let scoped = Arc::new(
        PostfixDovecotAdapter::connect("mail-tenant", schema.config().with_tenant("acme"))
            .await
            .unwrap(),
    );
    let counter = scoped.store().clone();
    let report = Harness::new(scoped.clone())
        .fixtures(sql_fixtures(&password, &changed))
        .remote_calls(move || counter.remote_calls())
        .faults(Arc::new(StoreFaults(scoped.store().clone())))
        .secret(password.clone())
        .secret(changed.clone())
        .run()
        .await;
    assert_ran(&report, 2, false);
    assert!(schema.snapshot().await.is_empty());
    adapter.check_credentials().await.unwrap();
    schema.cleanup().await;

    // No password of the run reached a log line, at any level.
    assert!(
        logs.text().contains("stackdock_email::audit"),
        "nothing logged"
    );
    LeakCheck::new()
        .logs(&logs)
        .debug("report", &report)
        .assert_clean(&[&password, &changed]);
}

fn stalwart_config(uri: &str) -> StalwartConfig {
    let mut c = StalwartConfig::new(uri, "admin", ADMIN_PASSWORD)
        .unwrap()
        .with_bcrypt_cost(4);
    c.http = c.http.with_retry(RetryConfig::none());
    c
}

/// Forwarders deliver to accounts: the destinations exist first.
async fn seed_destinations(adapter: &StalwartAdapter) {
    for who in ["team", "other"] {
        adapter
            .create(&ResourceSpec::from(mailbox(
                &format!("{who}@conformance.example.com"),
                Some("Team-Password-1"),
                None,
            )))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn conformance_suite_passes_against_fake_stalwart() {
    let fake = FakeStalwart::start().await;
    let adapter =
        Arc::new(StalwartAdapter::new("stalwart-test", stalwart_config(&fake.uri())).unwrap());
    seed_destinations(&adapter).await;
    let counter = fake.clone();
    let report = Harness::new(adapter.clone())
        .fixtures(stalwart_fixtures())
        .remote_calls(move || counter.calls())
        .faults(Arc::new(HttpFaults(fake.clone())))
        .secret(ADMIN_PASSWORD)
        .secret("Correct-Horse-1")
        .run()
        .await;
    // Mailboxes, forwarders and catch-alls: every check. No tenant
    // isolation: Stalwart docks declare no tenancy argument (a forwarder's
    // tenant is its destination's), so tenant specs and filters are refused
    // as Unsupported (`unsupported_arguments`); tenants get scoped docks.
    assert_ran(&report, 3, false);
    let accounts = adapter
        .list_all(ResourceKind::Mailbox, &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(accounts.len(), 2, "only the seeded destinations remain");
    assert!(adapter
        .list_all(ResourceKind::MailForwarder, &ListOptions::default())
        .await
        .unwrap()
        .is_empty());
    assert!(
        fake.state().violations.is_empty(),
        "{:?}",
        fake.state().violations
    );

    // A tenant-scoped dock passes the same suite on its own server.
    let fake = FakeStalwart::start().await;
    let scoped = Arc::new(
        StalwartAdapter::new(
            "stalwart-acme",
            stalwart_config(&fake.uri()).with_tenant("acme"),
        )
        .unwrap(),
    );
    seed_destinations(&scoped).await;
    let counter = fake.clone();
    let report = Harness::new(scoped.clone())
        .fixtures(stalwart_fixtures())
        .remote_calls(move || counter.calls())
        .faults(Arc::new(HttpFaults(fake.clone())))
        .secret(ADMIN_PASSWORD)
        .run()
        .await;
    assert_ran(&report, 3, false);
    assert!(scoped
        .list_all(ResourceKind::MailForwarder, &ListOptions::default())
        .await
        .unwrap()
        .is_empty());
}
