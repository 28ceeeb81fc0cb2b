//! The Stalwart adapter against a stateful fake of the JMAP management API.

mod fake_stalwart;

use std::sync::Arc;

use fake_stalwart::{FakeStalwart, ADMIN_PASSWORD};
use serde_json::{json, Value};
use stackdock_core::secret::SecretString;
use stackdock_core::spec::{MailForwarderSpec, MailboxSpec, ResourceSpec};
use stackdock_core::{DockAdapter, DockAdapterExt, ErrorKind, ListOptions, ResourceKind};
use stackdock_email::stalwart::{StalwartAdapter, StalwartConfig};
use stackdock_email::{PasswordHash, PasswordScheme};
use stackdock_http::RetryConfig;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn config(uri: &str) -> StalwartConfig {
    let mut c = StalwartConfig::new(uri, "admin", ADMIN_PASSWORD)
        .unwrap()
        .with_bcrypt_cost(4);
    c.http = c.http.with_retry(RetryConfig::none());
    c
}

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

/// Hashes in request bodies vary per run: check their form, then replace them.
fn redact_hashes(mut v: Value) -> Value {
    match &mut v {
        Value::String(s) if s.starts_with("$2y$") => *s = "[BLF-CRYPT hash]".into(),
        Value::Array(a) => a.iter_mut().for_each(|x| *x = redact_hashes(x.take())),
        Value::Object(o) => o.values_mut().for_each(|x| *x = redact_hashes(x.take())),
        _ => {}
    }
    v
}

#[tokio::test]
async fn passwords_travel_as_hashes_and_verify() {
    let fake = FakeStalwart::start().await;
    for scheme in PasswordScheme::ALL {
        let adapter =
            StalwartAdapter::new("s", config(&fake.uri()).with_password_scheme(scheme)).unwrap();
        let address = format!("{}@hash.example.com", scheme.dovecot_name().to_lowercase());
        let created = adapter
            .create(&ResourceSpec::from(mailbox(
                &address,
                Some("Plain-Text-Password-1"),
                None,
            )))
            .await
            .unwrap();
        let account_id = created.meta().provider_data["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let stored = fake.state().secrets[&account_id].clone();
        let hash =
            PasswordHash::parse_dovecot(&format!("{{{}}}{stored}", scheme.dovecot_name())).unwrap();
        assert!(
            hash.verify(&SecretString::from("Plain-Text-Password-1"))
                .unwrap(),
            "{scheme}"
        );
        adapter
            .update(
                &created.id(),
                &ResourceSpec::from(mailbox(&address, Some("Second-Password-2"), None)),
            )
            .await
            .unwrap();
        let stored = fake.state().secrets[&account_id].clone();
        let hash =
            PasswordHash::parse_dovecot(&format!("{{{}}}{stored}", scheme.dovecot_name())).unwrap();
        assert!(
            hash.verify(&SecretString::from("Second-Password-2"))
                .unwrap(),
            "{scheme}"
        );
        assert!(!serde_json::to_string(&created).unwrap().contains(&stored));
    }
    let state = fake.state();
    let all = serde_json::to_string(&state.bodies).unwrap();
    assert!(
        !all.contains("Plain-Text-Password-1") && !all.contains("Second-Password-2"),
        "plaintext sent"
    );
    assert!(state.violations.is_empty());
}

#[tokio::test]
async fn request_bodies_match_snapshots() {
    let fake = FakeStalwart::start().await;
    let adapter = StalwartAdapter::new("s", config(&fake.uri())).unwrap();
    let bob = adapter
        .create(&ResourceSpec::from(mailbox(
            "bob@snap.example.com",
            Some("Bob-Password-1"),
            Some(1 << 30),
        )))
        .await
        .unwrap();
    let alias = adapter
        .create(&ResourceSpec::from(forwarder(
            "b.smith@snap.example.com",
            &["bob@snap.example.com"],
        )))
        .await
        .unwrap();
    adapter
        .update(
            &bob.id(),
            &ResourceSpec::from(mailbox(
                "bob@snap.example.com",
                Some("Bob-Password-2"),
                Some(2 << 30),
            )),
        )
        .await
        .unwrap();
    adapter.delete(&alias.id()).await.unwrap();
    adapter.delete(&bob.id()).await.unwrap();
    let bodies = redact_hashes(json!(fake.state().bodies));
    insta::assert_json_snapshot!("stalwart_lifecycle_requests", bodies);
}

#[tokio::test]
async fn tenants_are_isolated_and_foreign_accounts_are_not_adopted() {
    let fake = FakeStalwart::start().await;
    let acme = StalwartAdapter::new("acme", config(&fake.uri()).with_tenant("acme")).unwrap();
    let globex = StalwartAdapter::new("globex", config(&fake.uri()).with_tenant("globex")).unwrap();
    let operator = StalwartAdapter::new("ops", config(&fake.uri())).unwrap();

    let ann = acme
        .create(&ResourceSpec::from(mailbox(
            "ann@t.example.com",
            Some("Ann-Password-1"),
            None,
        )))
        .await
        .unwrap();
    assert_eq!(ann.meta().tenant.as_deref(), Some("acme"));
    assert!(globex
        .list_all(ResourceKind::Mailbox, &ListOptions::default())
        .await
        .unwrap()
        .is_empty());
    assert!(!globex.observe(&ann.id(), None).await.unwrap().exists());
    globex.delete(&ann.id()).await.unwrap();
    assert!(
        acme.observe(&ann.id(), None).await.unwrap().exists(),
        "globex's delete changed nothing"
    );
    let err = globex
        .create(&ResourceSpec::from(mailbox(
            "ann@t.example.com",
            Some("Ann-Password-1"),
            None,
        )))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::AlreadyExists);
    let err = globex
        .create(&ResourceSpec::from(forwarder(
            "hijack@t.example.com",
            &["ann@t.example.com"],
        )))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { .. }),
        "{err}"
    );
    assert_eq!(
        operator
            .list_all(ResourceKind::Mailbox, &ListOptions::for_tenant("acme"))
            .await
            .unwrap()
            .len(),
        1
    );

    // An account made outside StackDock is not adopted.
    fake.state().accounts.insert(
        "zz01".into(),
        json!({"id": "zz01", "@type": "User", "name": "manual", "domainId": ann.meta().provider_data["domainId"], "description": "Manual Person"}),
    );
    let err = operator
        .create(&ResourceSpec::from(mailbox(
            "manual@t.example.com",
            Some("Manual-Password-1"),
            None,
        )))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::AlreadyExists);
    acme.delete(&ann.id()).await.unwrap();
}

#[tokio::test]
async fn errors_map_to_kinds() {
    // Method-level errors and notCreated from a scripted server.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/jmap"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiUrl": format!("{}/jmap/", server.uri()), "accounts": {"x1": {}}, "primaryAccounts": {}})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/jmap/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"methodResponses": [
            ["error", {"type": "forbidden", "description": "not an admin"}, "0"]]})),
        )
        .mount(&server)
        .await;
    let adapter = StalwartAdapter::new("e", config(&server.uri())).unwrap();
    let err = adapter.check_credentials().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied, "{err}");
    assert!(!format!("{err:?}").contains(ADMIN_PASSWORD));

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/jmap"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiUrl": format!("{}/jmap/", server.uri()), "primaryAccounts": {"urn:stalwart:jmap": "x1"}})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/jmap/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"methodResponses": [
            ["x:Domain/query", {"ids": ["b1"], "total": 1}, "0"],
            ["x:Domain/get", {"list": [{"id": "b1", "name": "err.example.com"}]}, "1"]]})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/jmap/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"methodResponses": [
            ["x:Account/query", {"ids": [], "total": 0}, "0"],
            ["x:Account/get", {"list": []}, "1"]]})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/jmap/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"methodResponses": [
            ["x:Account/set", {"notCreated": {"a": {"type": "invalidProperties", "properties": ["name"], "description": "reserved"}}}, "0"]]})))
        .mount(&server)
        .await;
    let adapter = StalwartAdapter::new("e", config(&server.uri())).unwrap();
    let err = adapter
        .create(&ResourceSpec::from(mailbox(
            "postmaster@err.example.com",
            Some("Pm-Password-1"),
            None,
        )))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { field, .. } if field == "name"),
        "{err}"
    );

    // Wrong credentials: 401 problem+json.
    let fake = FakeStalwart::start().await;
    let mut wrong = StalwartConfig::new(&fake.uri(), "admin", "wrong").unwrap();
    wrong.http = wrong.http.with_retry(RetryConfig::none());
    let err = StalwartAdapter::new("w", wrong)
        .unwrap()
        .check_credentials()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthenticated, "{err}");
}

#[tokio::test]
async fn api_url_on_another_origin_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/jmap"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiUrl": "https://attacker.invalid/jmap/", "primaryAccounts": {"urn:stalwart:jmap": "x1"}})))
        .mount(&server)
        .await;
    let adapter = StalwartAdapter::new("o", config(&server.uri())).unwrap();
    let err = adapter.check_credentials().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::ConfigInvalid, "{err}");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "nothing sent to the other origin"
    );
}

#[tokio::test]
async fn mailboxes_are_disabled_through_their_permissions() {
    let fake = FakeStalwart::start().await;
    let dock = StalwartAdapter::new("s", config(&fake.uri())).unwrap();
    let off = MailboxSpec {
        enabled: false,
        ..mailbox("off@perm.example.com", Some("Off-Password-1"), None)
    };
    let created = dock.create(&ResourceSpec::from(off.clone())).await.unwrap();
    let account_id = created.meta().provider_data["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = fake.state().accounts[&account_id]["permissions"].clone();
    assert_eq!(stored["@type"], "Merge");
    assert_eq!(
        stored["disabledPermissions"],
        json!({"authenticate": true, "emailReceive": true}),
        "login and delivery are what Stalwart checks"
    );
    let seen = dock
        .observe(&created.id(), Some(&ResourceSpec::from(off.clone())))
        .await
        .unwrap();
    assert!(seen.up_to_date, "{:?}", seen.diff);
    dock.create(&ResourceSpec::from(off.clone())).await.unwrap(); // adopts
    let on = MailboxSpec {
        enabled: true,
        ..off.clone()
    };
    let err = dock
        .create(&ResourceSpec::from(on.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");

    dock.update(&created.id(), &ResourceSpec::from(on.clone()))
        .await
        .unwrap();
    assert_eq!(
        fake.state().accounts[&account_id]["permissions"],
        json!({"@type": "Inherit"})
    );
    let seen = dock
        .observe(&created.id(), Some(&ResourceSpec::from(on)))
        .await
        .unwrap();
    assert!(seen.up_to_date, "{:?}", seen.diff);
    assert!(fake.state().violations.is_empty());
}

#[tokio::test]
async fn a_forwarder_move_that_cannot_be_undone_says_the_forwarder_is_gone() {
    let fake = FakeStalwart::start().await;
    let dock = StalwartAdapter::new("s", config(&fake.uri())).unwrap();
    for who in ["ann", "bob"] {
        let spec = mailbox(
            &format!("{who}@move.example.com"),
            Some("Move-Password-1"),
            None,
        );
        dock.create(&ResourceSpec::from(spec)).await.unwrap();
    }
    let sales = forwarder("sales@move.example.com", &["ann@move.example.com"]);
    let created = dock.create(&ResourceSpec::from(sales)).await.unwrap();
    let to_bob = forwarder("sales@move.example.com", &["bob@move.example.com"]);

    // Freed from ann, refused on bob, put back on ann: the caller sees the move error.
    fake.state().account_update_outcomes = [true, false].into();
    let err = dock
        .update(&created.id(), &ResourceSpec::from(to_bob.clone()))
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("no longer exists"), "{err}");
    assert!(dock.observe(&created.id(), None).await.unwrap().exists());

    // Putting it back fails too: the error must say the forwarder is gone.
    fake.state().account_update_outcomes = [true, false, false].into();
    let err = dock
        .update(&created.id(), &ResourceSpec::from(to_bob))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no longer exists"), "{err}");
    assert!(
        err.context().iter().any(|(k, _)| *k == "restore_error"),
        "{err}"
    );
    assert!(
        !err.is_temporary(),
        "retrying the update cannot bring it back"
    );
    assert!(!dock.observe(&created.id(), None).await.unwrap().exists());
}

#[tokio::test]
async fn objects_without_an_id_are_refused_not_sent_as_empty_ids() {
    let fake = FakeStalwart::start().await;
    let dock = StalwartAdapter::new("s", config(&fake.uri())).unwrap();
    let made = dock
        .create(&ResourceSpec::from(mailbox(
            "made@noid.example.com",
            Some("Noid-Password-1"),
            None,
        )))
        .await
        .unwrap();
    // The server answers with an account that lacks its id.
    let account_id = made.meta().provider_data["id"].as_str().unwrap().to_owned();
    fake.state()
        .accounts
        .get_mut(&account_id)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("id");
    let err = dock.delete(&made.id()).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidResponse, "{err}");
    let state = fake.state();
    assert!(state.accounts.contains_key(&account_id));
    let sent_empty_id = state
        .bodies
        .iter()
        .any(|b| b.to_string().contains(r#""destroy":[""]"#));
    assert!(!sent_empty_id, "an empty id was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_account_all_adopt_it() {
    let fake = FakeStalwart::start().await;
    let dock = Arc::new(StalwartAdapter::new("s", config(&fake.uri())).unwrap());
    // The domain exists, so every create goes straight to find-then-create.
    let first = mailbox("first@race.example.com", Some("Race-Password-1"), None);
    dock.create(&ResourceSpec::from(first)).await.unwrap();
    let spec = ResourceSpec::from(mailbox(
        "same@race.example.com",
        Some("Race-Password-1"),
        None,
    ));
    let creates: Vec<_> = (0..50)
        .map(|_| {
            let (dock, spec) = (dock.clone(), spec.clone());
            tokio::spawn(async move { dock.create(&spec).await })
        })
        .collect();
    let mut failed = Vec::new();
    for create in creates {
        if let Err(e) = create.await.unwrap() {
            failed.push(e.to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of 50 failed: {failed:?}",
        failed.len()
    );
    let accounts = fake.state().accounts.len();
    assert_eq!(accounts, 2, "one account per address");
}
