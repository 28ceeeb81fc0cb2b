//! Concurrency on the real PostgreSQL server: creates and deletes that race the
//! implicit domain lifecycle (a domain is created with its first entry and
//! removed with its last) must never lose an entry nor leave a domain behind.

mod support;

use std::sync::Arc;

use stackdock_core::secret::SecretString;
use stackdock_core::ErrorKind;
use stackdock_email::model::{NewForwarder, NewMailbox, Scope};
use stackdock_email::sql::templates::{expand_postfix_query, ConfigFile};
use stackdock_email::sql::MailStore;
use stackdock_email::PasswordScheme;
use support::{raw_client, rendered, TestSchema};
use tokio::task::JoinSet;

const ROUNDS: usize = 100;

fn mailbox(address: &str, tenant: Option<&str>) -> NewMailbox {
    NewMailbox {
        address: address.into(),
        password: SecretString::from("Race-Password-1"),
        quota_bytes: None,
        enabled: true,
        tenant: tenant.map(str::to_owned),
        labels: Default::default(),
    }
}

/// A store with room for every round in flight at once.
async fn store(schema: &TestSchema) -> Arc<MailStore> {
    let config = schema
        .config()
        .with_password_scheme(PasswordScheme::BlfCrypt)
        .with_max_connections(24);
    let store = MailStore::connect(&config).await.unwrap();
    store.migrate().await.unwrap();
    Arc::new(store)
}

/// Postfix's `virtual_mailbox_domains` map, rendered for the schema.
fn domains_map(schema: &TestSchema) -> ConfigFile {
    let dir = tempfile::tempdir().unwrap();
    rendered(&schema.name, dir.path())
        .into_iter()
        .find(|f| f.file_name == "pgsql-virtual-mailbox-domains.cf")
        .unwrap()
}

/// Whether Postfix would accept mail for `domain` (runs the map's query).
async fn postfix_serves(map: &ConfigFile, domain: &str) -> bool {
    let Some(sql) = expand_postfix_query(map.postfix_query().unwrap(), domain) else {
        return false;
    };
    let rows = raw_client().await.simple_query(&sql).await.unwrap();
    rows.iter()
        .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
}

/// Round `i`: `a@` is the last mailbox of its domain and is deleted while
/// `b@` is created in the same domain. `b@` must exist afterwards.
async fn create_races_last_delete(store: Arc<MailStore>, i: usize) -> Result<(), String> {
    let (a, b) = (
        format!("a@r{i}.gc.example.com"),
        format!("b@r{i}.gc.example.com"),
    );
    store
        .create_mailbox(&Scope::All, &mailbox(&a, None))
        .await
        .map_err(|e| format!("setup {a}: {e}"))?;
    let new_b = mailbox(&b, None);
    let (deleted, created) = tokio::join!(
        store.delete_mailbox(&Scope::All, &a),
        store.create_mailbox(&Scope::All, &new_b)
    );
    deleted.map_err(|e| format!("delete {a}: {e}"))?;
    created.map_err(|e| format!("create {b}: {e}"))?;
    match store.get_mailbox(&Scope::All, &b).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!("{b} vanished after create returned Ok")),
        Err(e) => Err(format!("get {b}: {e}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_racing_the_last_delete_of_a_domain_loses_nothing() {
    let schema = TestSchema::new();
    let store = store(&schema).await;
    let mut rounds = JoinSet::new();
    for i in 0..ROUNDS {
        rounds.spawn(create_races_last_delete(store.clone(), i));
    }
    let mut failures = Vec::new();
    while let Some(round) = rounds.join_next().await {
        if let Err(e) = round.unwrap() {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ROUNDS} rounds failed: {failures:#?}",
        failures.len()
    );
    let map = domains_map(&schema);
    for i in 0..ROUNDS {
        let domain = format!("r{i}.gc.example.com");
        assert!(postfix_serves(&map, &domain).await, "{domain} not served");
    }
    schema.cleanup().await;
}

/// Round `i`: a domain's only mailbox and only forwarder are deleted at once.
async fn last_two_deletes_race(old: Arc<MailStore>, i: usize) -> Result<(), String> {
    let (m, f) = (
        format!("m@r{i}.orphan.example.com"),
        format!("f@r{i}.orphan.example.com"),
    );
    let scope = Scope::tenant("old-tenant").unwrap();
    old.create_mailbox(&scope, &mailbox(&m, None))
        .await
        .map_err(|e| format!("setup {m}: {e}"))?;
    let forwarder = NewForwarder {
        source: f.clone(),
        destinations: vec!["x@elsewhere.example.org".into()],
        enabled: true,
        tenant: None,
        labels: Default::default(),
    };
    old.create_forwarder(&scope, &forwarder)
        .await
        .map_err(|e| format!("setup {f}: {e}"))?;
    let (dm, df) = tokio::join!(
        old.delete_mailbox(&scope, &m),
        old.delete_forwarder(&scope, &f)
    );
    match (dm, df) {
        (Ok(true), Ok(true)) => Ok(()),
        other => Err(format!("deletes in round {i}: {other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deletes_of_the_last_entries_leave_no_orphan_domain() {
    let schema = TestSchema::new();
    let old = store(&schema).await;
    let mut rounds = JoinSet::new();
    for i in 0..ROUNDS {
        rounds.spawn(last_two_deletes_race(old.clone(), i));
    }
    let mut failures = Vec::new();
    while let Some(round) = rounds.join_next().await {
        if let Err(e) = round.unwrap() {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    let left = old.list_domains(&Scope::All).await.unwrap();
    let names: Vec<&str> = left.iter().map(|d| d.name.as_str()).collect();
    assert!(
        left.is_empty(),
        "{} of {ROUNDS} domains orphaned: {names:?}",
        left.len()
    );
    let map = domains_map(&schema);
    let new_tenant = Scope::tenant("new-tenant").unwrap();
    for i in 0..ROUNDS {
        let domain = format!("r{i}.orphan.example.com");
        assert!(
            !postfix_serves(&map, &domain).await,
            "{domain} still served"
        );
        // Not locked to the old tenant: another tenant may take the domain.
        old.create_mailbox(&new_tenant, &mailbox(&format!("n@{domain}"), None))
            .await
            .unwrap_or_else(|e| panic!("{domain} still held by the old tenant: {e}"));
    }
    schema.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_mailbox_all_adopt_it() {
    let schema = TestSchema::new();
    let store = store(&schema).await;
    let all = Scope::All;
    store
        .create_mailbox(&all, &mailbox("first@adopt.example.com", None))
        .await
        .unwrap();
    for round in 0..5 {
        let address = format!("same{round}@adopt.example.com");
        let mut creates = JoinSet::new();
        for _ in 0..50 {
            let (store, new) = (store.clone(), mailbox(&address, None));
            creates.spawn(async move { store.create_mailbox(&Scope::All, &new).await });
        }
        let mut kinds = Vec::new();
        while let Some(created) = creates.join_next().await {
            match created.unwrap() {
                Ok(record) => assert_eq!(record.address, address),
                Err(e) => kinds.push(format!("{}: {e}", e.kind().as_str())),
            }
        }
        assert!(
            kinds.is_empty(),
            "round {round}: {} of 50 failed: {kinds:?}",
            kinds.len()
        );
    }
    // A different spec racing in still conflicts rather than being adopted.
    let other = NewMailbox {
        quota_bytes: Some(1 << 30),
        ..mailbox("same0@adopt.example.com", None)
    };
    let err = store.create_mailbox(&all, &other).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    schema.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_forwarder_never_merge_destinations() {
    let schema = TestSchema::new();
    let store = store(&schema).await;
    for round in 0..10 {
        let source = format!("f{round}@merge.example.com");
        let mut creates = JoinSet::new();
        for i in 0..20 {
            let new = NewForwarder {
                source: source.clone(),
                destinations: vec![format!("d{}@elsewhere.example.org", i % 2)],
                enabled: true,
                tenant: None,
                labels: Default::default(),
            };
            let store = store.clone();
            creates.spawn(async move {
                (
                    new.destinations.clone(),
                    store.create_forwarder(&Scope::All, &new).await,
                )
            });
        }
        let stored = loop {
            let Some(done) = creates.join_next().await else {
                break None;
            };
            let (asked, created) = done.unwrap();
            match created {
                Ok(record) => assert_eq!(
                    record.destinations, asked,
                    "round {round}: got another create's forwarder"
                ),
                Err(e) => assert_eq!(e.kind(), &ErrorKind::Conflict, "round {round}: {e}"),
            }
            if creates.is_empty() {
                break store.get_forwarder(&Scope::All, &source).await.unwrap();
            }
        };
        let stored = stored.expect("one create won");
        assert_eq!(
            stored.destinations.len(),
            1,
            "round {round}: merged {:?}",
            stored.destinations
        );
    }
    schema.cleanup().await;
}
