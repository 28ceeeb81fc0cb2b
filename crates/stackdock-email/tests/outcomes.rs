//! Core v2 behaviour of both adapters: created / adopted outcomes, races
//! between processes, planned ids, the layer's refusals and the factories.

mod fake_stalwart;
mod support;

use std::sync::Arc;

use fake_stalwart::{FakeStalwart, ADMIN_PASSWORD};
use stackdock_core::factory::{Credentials, DockConfig, DockFactories, DockFactory};
use stackdock_core::layer::{standard, CheckedLayer, Layer};
use stackdock_core::secret::SecretString;
use stackdock_core::spec::{Common, MailForwarderSpec, MailboxSpec, ResourceSpec};
use stackdock_core::{
    CreateOutcome, DockAdapter, DockAdapterExt, DockRegistry, ErrorKind, ListOptions, ResourceKind,
};
use stackdock_email::sql::PostfixDovecotAdapter;
use stackdock_email::stalwart::{StalwartAdapter, StalwartConfig};
use stackdock_email::{PostfixDovecotFactory, StalwartFactory};
use stackdock_http::RetryConfig;
use support::{pg_url, TestSchema};

fn mailbox(address: &str, password: &str) -> ResourceSpec {
    ResourceSpec::from(MailboxSpec {
        address: address.into(),
        password: Some(password.to_owned().into()),
        ..Default::default()
    })
}

fn forwarder(source: &str, destination: &str) -> ResourceSpec {
    ResourceSpec::from(MailForwarderSpec {
        source: source.into(),
        destinations: vec![destination.into()],
        ..Default::default()
    })
}

/// Runs `n` creates of `spec` at once, alternating between `docks`.
async fn race(
    docks: &[Arc<dyn DockAdapter>],
    spec: &ResourceSpec,
    n: usize,
) -> Vec<stackdock_core::Result<stackdock_core::Created>> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let (dock, spec) = (docks[i % docks.len()].clone(), spec.clone());
        set.spawn(async move { dock.create(&spec).await });
    }
    let mut out = Vec::new();
    while let Some(result) = set.join_next().await {
        out.push(result.expect("no racer panics"));
    }
    out
}

fn stalwart_config(uri: &str) -> StalwartConfig {
    let mut c = StalwartConfig::new(uri, "admin", ADMIN_PASSWORD)
        .unwrap()
        .with_bcrypt_cost(4);
    c.http = c.http.with_retry(RetryConfig::none());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_creates_say_created_then_adopted_and_ids_are_planned() {
    let schema = TestSchema::new();
    let dock = PostfixDovecotAdapter::connect("mail", schema.config())
        .await
        .unwrap();
    let spec = mailbox("Ann@Outcome.Example.com", "Ann-Password-1");
    let planned = dock.planned_id(&spec).expect("ids are the address");
    assert_eq!(planned.id, "ann@outcome.example.com");
    let first = dock.create(&spec).await.unwrap();
    assert_eq!(first.outcome, CreateOutcome::Created);
    assert_eq!(first.id(), planned);
    let again = dock.create(&spec).await.unwrap();
    assert_eq!(again.outcome, CreateOutcome::Adopted);
    let other = mailbox("ann@outcome.example.com", "Other-Password-2");
    let e = dock.create(&other).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    let found = dock
        .find(&spec)
        .await
        .unwrap()
        .expect("found by planned id");
    assert_eq!(found.id(), planned);

    let alias = forwarder("@outcome.example.com", "ann@outcome.example.com");
    let planned = dock.planned_id(&alias).unwrap();
    assert_eq!(planned.id, "@outcome.example.com");
    assert_eq!(
        dock.create(&alias).await.unwrap().outcome,
        CreateOutcome::Created
    );
    let again = dock.create(&alias).await.unwrap();
    assert_eq!(
        (again.outcome, again.id()),
        (CreateOutcome::Adopted, planned)
    );
    schema.cleanup().await;
}

/// Two adapters with their own pools stand in for two processes: only the
/// database keeps the mailbox single and the outcome truthful.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_creates_racing_across_processes_create_once() {
    let schema = TestSchema::new();
    let a: Arc<dyn DockAdapter> = Arc::new(
        PostfixDovecotAdapter::connect("a", schema.config())
            .await
            .unwrap(),
    );
    let b: Arc<dyn DockAdapter> =
        Arc::new(PostfixDovecotAdapter::new("b", schema.config()).unwrap());
    for spec in [
        mailbox("race@race.example.com", "Race-Password-1"),
        forwarder("alias@race.example.com", "race@race.example.com"),
    ] {
        let results = race(&[a.clone(), b.clone()], &spec, 20).await;
        let created: Vec<_> = results
            .into_iter()
            .map(|r| r.expect("every racer succeeds"))
            .collect();
        let made = created.iter().filter(|c| c.was_created()).count();
        assert_eq!(made, 1, "exactly one racer made {}", spec.name());
        let listed = a
            .list_all(spec.kind(), &ListOptions::default())
            .await
            .unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
    }
    schema.cleanup().await;
}

#[tokio::test]
async fn stalwart_creates_say_created_then_adopted_and_race_safely() {
    let fake = FakeStalwart::start().await;
    let dock: Arc<dyn DockAdapter> =
        Arc::new(StalwartAdapter::new("s", stalwart_config(&fake.uri())).unwrap());
    let spec = mailbox("bob@outcome.example.com", "Bob-Password-1");
    assert_eq!(
        dock.planned_id(&spec).unwrap().id,
        "bob@outcome.example.com"
    );
    assert_eq!(
        dock.create(&spec).await.unwrap().outcome,
        CreateOutcome::Created
    );
    assert_eq!(
        dock.create(&spec).await.unwrap().outcome,
        CreateOutcome::Adopted
    );
    // Two adapters (two processes) adding one alias at once: Stalwart keeps
    // an alias unique, so the loser adopts the winner's.
    let other: Arc<dyn DockAdapter> =
        Arc::new(StalwartAdapter::new("s2", stalwart_config(&fake.uri())).unwrap());
    let alias = forwarder("b@outcome.example.com", "bob@outcome.example.com");
    let results = race(&[dock.clone(), other], &alias, 20).await;
    let created: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("every racer succeeds"))
        .collect();
    // Which racer made it cannot be told apart when two wrote the same
    // alias key at once, so across processes at least one reports created.
    let made = created.iter().filter(|c| c.was_created()).count();
    assert!(made >= 1, "someone made it");
    let listed = dock
        .list_all(ResourceKind::MailForwarder, &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    // Within one adapter, creates take turns: exactly one created.
    dock.delete(&listed[0].id()).await.unwrap();
    let results = race(std::slice::from_ref(&dock), &alias, 20).await;
    let made = results
        .iter()
        .filter(|r| matches!(r, Ok(c) if c.was_created()))
        .count();
    assert_eq!(made, 1);
    assert!(results.iter().all(|r| r.is_ok()));
}

#[tokio::test]
async fn the_layer_refuses_what_stalwart_does_not_honour_before_any_call() {
    let fake = FakeStalwart::start().await;
    // The checks alone (no retry layer), so the injected fault below surfaces.
    let dock = CheckedLayer.layer(Arc::new(
        StalwartAdapter::new("s", stalwart_config(&fake.uri())).unwrap(),
    ));
    let before = fake.calls();
    let tenant = ResourceSpec::from(MailboxSpec {
        address: "t@layer.example.com".into(),
        password: Some("T-Password-1".to_owned().into()),
        common: Common {
            tenant: Some("acme".into()),
            ..Default::default()
        },
        ..Default::default()
    });
    let e = dock.create(&tenant).await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
    let mut labelled = ListOptions::default();
    labelled.labels.insert("team".into(), "a".into());
    for options in [labelled, ListOptions::for_tenant("acme")] {
        let e = dock
            .list(ResourceKind::Mailbox, &options)
            .await
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
    }
    assert_eq!(fake.calls(), before, "refused before any call");
    // Errors carry the endpoint, never the admin password.
    fake.fail_call(1);
    let e = dock
        .list(ResourceKind::Mailbox, &ListOptions::default())
        .await
        .unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(text.contains(&fake.uri()), "{text}");
    assert!(!text.contains(ADMIN_PASSWORD), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_scoped_sql_dock_refuses_tenant_arguments() {
    let schema = TestSchema::new();
    let scoped = standard(Arc::new(
        PostfixDovecotAdapter::connect("acme", schema.config().with_tenant("acme"))
            .await
            .unwrap(),
    ));
    let e = scoped
        .list(ResourceKind::Mailbox, &ListOptions::for_tenant("acme"))
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
    // The operator dock honours them.
    let operator = standard(Arc::new(
        PostfixDovecotAdapter::new("ops", schema.config()).unwrap(),
    ));
    let caps = operator.capabilities().arguments;
    assert!(caps.tenancy && caps.list_by_tenant && caps.labels && caps.list_by_labels);
    assert!(operator
        .list_all(ResourceKind::Mailbox, &ListOptions::for_tenant("acme"))
        .await
        .unwrap()
        .is_empty());
    schema.cleanup().await;
}

fn two_sql_docks(schema: &str) -> Vec<DockConfig> {
    serde_json::from_str(&format!(
        r#"[
            {{"id": "mail-eu", "provider": "postfix-dovecot",
              "settings": {{"schema": "{schema}", "bcrypt_cost": 4}},
              "credentials": {{"url": "env:MAIL_EU_PG_URL"}}}},
            {{"id": "mail-us", "provider": "postfix-dovecot",
              "settings": {{"schema": "{schema}", "tenant": "acme", "password_scheme": "ARGON2ID"}},
              "credentials": {{"url": "env:MAIL_US_PG_URL"}}}}
        ]"#
    ))
    .unwrap()
}

fn url(dock: &str, url: String) -> Credentials {
    Credentials::from_values(dock, [("url".to_owned(), SecretString::from(url))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sql_docks_from_one_config_and_migrations_stay_explicit() {
    let schema = TestSchema::new();
    let factories = DockFactories::new().with(PostfixDovecotFactory);
    let mut registry = DockRegistry::new();
    for dock in two_sql_docks(&schema.name) {
        let adapter = factories.build(&dock, &url(&dock.id, pg_url())).unwrap();
        registry.insert(adapter).unwrap();
    }
    assert_eq!(registry.by_provider("postfix-dovecot").count(), 2);
    let eu = registry.require("mail-eu").unwrap();
    let us = registry.require("mail-us").unwrap();
    assert_eq!(eu.endpoint().as_deref(), Some("127.0.0.1:5432"));
    assert!(!us.capabilities().arguments.tenancy, "mail-us is scoped");
    // Building ran no migration: the schema is not there yet.
    let e = eu.check_credentials().await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::ConfigInvalid, "{e}");
    assert!(e.to_string().contains("version 0"), "{e}");
    // Migrating is an explicit call.
    PostfixDovecotAdapter::connect("migrate", schema.config())
        .await
        .unwrap();
    eu.check_credentials().await.unwrap();
    let created = us
        .create(&mailbox("carol@factory.example.com", "Carol-Password-1"))
        .await
        .unwrap();
    assert_eq!(created.meta().tenant.as_deref(), Some("acme"));
    assert!(
        eu.get(&created.id()).await.is_ok(),
        "one database, two docks"
    );
    schema.cleanup().await;
}

#[test]
fn sql_factory_errors_name_the_dock_and_the_key() {
    let docks = two_sql_docks("mail");
    let none = Credentials::from_values("mail-eu", []);
    let e = PostfixDovecotFactory.build(&docks[0], &none).unwrap_err();
    assert!(
        e.to_string().contains("mail-eu") && e.to_string().contains("url"),
        "{e}"
    );
    let mut inline = docks[1].clone();
    inline.settings["url"] = "postgres://u:written-inline@h/db".into();
    let e = PostfixDovecotFactory
        .build(&inline, &url("mail-us", pg_url()))
        .unwrap_err();
    assert!(
        e.to_string().contains("mail-us") && e.to_string().contains("url"),
        "{e}"
    );
    assert!(!e.to_string().contains("written-inline"), "{e}");
    let mut bad = docks[1].clone();
    bad.settings["schema"] = "Bad Schema".into();
    let e = PostfixDovecotFactory
        .build(&bad, &url("mail-us", pg_url()))
        .unwrap_err();
    assert!(
        e.to_string().contains("mail-us") && e.to_string().contains("schema"),
        "{e}"
    );
}

fn two_stalwart_docks(base: &str) -> Vec<DockConfig> {
    serde_json::from_str(&format!(
        r#"[
            {{"id": "stalwart-eu", "provider": "stalwart",
              "settings": {{"base_url": "{base}", "user": "admin", "bcrypt_cost": 4}},
              "credentials": {{"password": "env:STALWART_EU_PASSWORD"}}}},
            {{"id": "stalwart-us", "provider": "stalwart",
              "settings": {{"base_url": "https://mail.us.example.com", "tenant": "acme"}},
              "credentials": {{"token": "env:STALWART_US_TOKEN"}}}}
        ]"#
    ))
    .unwrap()
}

#[tokio::test]
async fn two_stalwart_docks_from_one_config() {
    let fake = FakeStalwart::start().await;
    let docks = two_stalwart_docks(&fake.uri());
    let factories = DockFactories::new().with(StalwartFactory);
    let mut registry = DockRegistry::new();
    let secrets = [
        ("password", ADMIN_PASSWORD.to_owned()),
        ("token", "us-token".to_owned()),
    ];
    for (dock, (key, value)) in docks.iter().zip(secrets) {
        let credentials =
            Credentials::from_values(&dock.id, [(key.to_owned(), SecretString::from(value))]);
        registry
            .insert(factories.build(dock, &credentials).unwrap())
            .unwrap();
    }
    assert_eq!(registry.by_provider("stalwart").count(), 2);
    let eu = registry.require("stalwart-eu").unwrap();
    let us = registry.require("stalwart-us").unwrap();
    assert_eq!(eu.endpoint(), Some(format!("{}/", fake.uri())));
    assert_eq!(
        us.endpoint().as_deref(),
        Some("https://mail.us.example.com/")
    );
    let created = eu
        .create(&mailbox("dan@factory.example.com", "Dan-Password-1"))
        .await
        .unwrap();
    assert!(created.was_created());
    for dock in [&eu, &us] {
        let debug = format!("{dock:?}");
        assert!(
            !debug.contains(ADMIN_PASSWORD) && !debug.contains("us-token"),
            "{debug}"
        );
    }
}

#[test]
fn stalwart_factory_errors_name_the_dock_and_the_key() {
    let docks = two_stalwart_docks("https://mail.example.com");
    let none = Credentials::from_values("stalwart-eu", []);
    let e = StalwartFactory.build(&docks[0], &none).unwrap_err();
    assert!(
        e.to_string().contains("stalwart-eu") && e.to_string().contains("password"),
        "{e}"
    );
    let none = Credentials::from_values("stalwart-us", []);
    let e = StalwartFactory.build(&docks[1], &none).unwrap_err();
    assert!(
        e.to_string().contains("stalwart-us") && e.to_string().contains("token"),
        "{e}"
    );
    let mut inline = docks[1].clone();
    inline.settings["token"] = "written-inline".into();
    let token = Credentials::from_values(
        "stalwart-us",
        [("token".to_owned(), SecretString::from("t".to_owned()))],
    );
    let e = StalwartFactory.build(&inline, &token).unwrap_err();
    assert!(
        e.to_string().contains("stalwart-us") && e.to_string().contains("token"),
        "{e}"
    );
    assert!(!e.to_string().contains("written-inline"), "{e}");
    let mut bad = docks[1].clone();
    bad.settings["base_url"] = "not a url".into();
    let e = StalwartFactory.build(&bad, &token).unwrap_err();
    assert!(
        e.to_string().contains("stalwart-us") && e.to_string().contains("settings"),
        "{e}"
    );
}
