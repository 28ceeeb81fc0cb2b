//! The SQL backend against real PostgreSQL and a real Dovecot reading the
//! crate's rendered `dovecot-sql.conf.ext`.

mod support;

use stackdock_core::secret::SecretString;
use stackdock_core::ErrorKind;
use stackdock_email::model::{NewMailbox, Scope};
use stackdock_email::PasswordScheme;
use support::{raw_client, Dovecot, TestSchema};

fn new_mailbox(address: &str, password: &str) -> NewMailbox {
    NewMailbox {
        address: address.into(),
        password: SecretString::from(password.to_owned()),
        quota_bytes: Some(1 << 30),
        enabled: true,
        tenant: None,
        labels: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_authenticates_through_the_schema_for_every_scheme() {
    let schema = TestSchema::new();
    let first = schema.store(PasswordScheme::BlfCrypt).await;
    let dovecot = Dovecot::start(&schema.name);
    let all = Scope::All;

    for scheme in PasswordScheme::ALL {
        let store = schema.store(scheme).await;
        let address = format!(
            "user-{}@mail.example.com",
            scheme.dovecot_name().to_lowercase()
        );
        let old = format!("Old-{scheme}-pw 'quoted'");
        let new = format!("New-{scheme}-pw");

        store
            .create_mailbox(&all, &new_mailbox(&address, &old))
            .await
            .unwrap();
        let stored: String = raw_client()
            .await
            .query_one(
                &format!(
                    "SELECT password FROM \"{}\".virtual_users WHERE email = $1",
                    schema.name
                ),
                &[&address],
            )
            .await
            .unwrap()
            .get(0);
        assert!(
            stored.starts_with(&format!("{{{}}}", scheme.dovecot_name())),
            "{scheme}: stored with its prefix"
        );

        assert!(
            dovecot.auth_async(&address, &old).await,
            "{scheme}: auth after create"
        );
        assert!(
            !dovecot.auth_async(&address, "wrong").await,
            "{scheme}: wrong password refused"
        );
        // Dovecot lower-cases the login through the query, like Postfix does.
        assert!(
            dovecot.auth_async(&address.to_uppercase(), &old).await,
            "{scheme}: case-insensitive login"
        );

        store
            .change_password(&all, &address, &SecretString::from(new.clone()))
            .await
            .unwrap();
        assert!(
            !dovecot.auth_async(&address, &old).await,
            "{scheme}: old password after change"
        );
        assert!(
            dovecot.auth_async(&address, &new).await,
            "{scheme}: new password after change"
        );

        let disabled = store.set_enabled(&all, &address, false).await.unwrap();
        assert!(!disabled.enabled);
        assert!(
            !dovecot.auth_async(&address, &new).await,
            "{scheme}: disabled mailbox"
        );
        store.set_enabled(&all, &address, true).await.unwrap();
        assert!(
            dovecot.auth_async(&address, &new).await,
            "{scheme}: re-enabled mailbox"
        );

        let changed = store
            .change_quota(&all, &address, Some(5 << 30))
            .await
            .unwrap();
        assert_eq!(changed.quota_bytes, Some(5 << 30));
        let unlimited = store.change_quota(&all, &address, None).await.unwrap();
        assert_eq!(unlimited.quota_bytes, None);

        assert!(store.delete_mailbox(&all, &address).await.unwrap());
        assert!(
            !dovecot.auth_async(&address, &new).await,
            "{scheme}: deleted mailbox"
        );
        assert!(
            !store.delete_mailbox(&all, &address).await.unwrap(),
            "second delete is a no-op"
        );
    }
    // The last mailbox took its domain with it.
    assert!(first.list_domains(&all).await.unwrap().is_empty());
    assert!(
        schema.snapshot().await.is_empty(),
        "nothing left in the tables"
    );
    drop(dovecot);
    schema.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_versioned_and_idempotent() {
    let schema = TestSchema::new();
    let a = schema.store(PasswordScheme::BlfCrypt).await;
    assert_eq!(a.schema_version().await.unwrap(), 1);
    // Concurrent migrations serialise on the advisory lock.
    let b = schema.store(PasswordScheme::BlfCrypt).await;
    let (x, y) = tokio::join!(a.migrate(), b.migrate());
    assert_eq!((x.unwrap(), y.unwrap()), (1, 1));
    let rows = raw_client()
        .await
        .query(
            &format!(
                "SELECT version, description FROM \"{}\".stackdock_schema_migrations",
                schema.name
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    // A schema that was never migrated reports version 0 and operations say so.
    let fresh = TestSchema::new();
    let store = stackdock_email::MailStore::connect(&fresh.config())
        .await
        .unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 0);
    let err = store
        .get_mailbox(&Scope::All, "a@example.com")
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::ConfigInvalid), "{err}");
    fresh.cleanup().await;
    schema.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_is_idempotent_and_detects_conflicts() {
    let schema = TestSchema::new();
    let store = schema.store(PasswordScheme::BlfCrypt).await;
    let all = Scope::All;
    let m = new_mailbox("bob@idem.example.com", "Bob-Password-1");
    let first = store.create_mailbox(&all, &m).await.unwrap();
    let again = store.create_mailbox(&all, &m).await.unwrap();
    assert_eq!(first, again, "same spec adopts the existing mailbox");

    let other_quota = NewMailbox {
        quota_bytes: Some(2 << 30),
        ..m.clone()
    };
    let err = store.create_mailbox(&all, &other_quota).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    let other_pw = NewMailbox {
        password: SecretString::from("Other-Password-2"),
        ..m.clone()
    };
    let err = store.create_mailbox(&all, &other_pw).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    assert!(!err.to_string().contains("Other-Password-2"));

    let theirs = NewMailbox {
        tenant: Some("tenant-b".into()),
        ..m.clone()
    };
    let err = store.create_mailbox(&all, &theirs).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::AlreadyExists, "{err}");
    schema.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_see_or_change_each_other() {
    let schema = TestSchema::new();
    let a = schema.scoped_store("tenant-a").await;
    let b = schema.scoped_store("tenant-b").await;
    let operator = schema.store(PasswordScheme::BlfCrypt).await;
    let sa = Scope::tenant("tenant-a").unwrap();
    let sb = Scope::tenant("tenant-b").unwrap();

    let created = a
        .create_mailbox(&sa, &new_mailbox("ann@a.example.com", "Ann-Password-1"))
        .await
        .unwrap();
    assert_eq!(created.tenant.as_deref(), Some("tenant-a"));
    b.create_mailbox(&sb, &new_mailbox("ben@b.example.com", "Ben-Password-1"))
        .await
        .unwrap();
    let before = schema.snapshot().await;

    // B sees nothing of A ...
    assert_eq!(b.get_mailbox(&sb, "ann@a.example.com").await.unwrap(), None);
    let listed = b.list_mailboxes(&sb, &Default::default()).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|m| m.address.as_str())
            .collect::<Vec<_>>(),
        vec!["ben@b.example.com"]
    );
    assert!(b
        .list_domains(&sb)
        .await
        .unwrap()
        .iter()
        .all(|d| d.name == "b.example.com"));
    // ... and changes nothing of A.
    let err = b
        .change_password(&sb, "ann@a.example.com", &SecretString::from("Hijack-1"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(b
        .set_enabled(&sb, "ann@a.example.com", false)
        .await
        .unwrap_err()
        .is_not_found());
    assert!(!b.delete_mailbox(&sb, "ann@a.example.com").await.unwrap());
    assert!(!b.delete_domain(&sb, "a.example.com").await.unwrap());
    let err = b
        .create_mailbox(&sb, &new_mailbox("ann@a.example.com", "Ann-Password-1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::AlreadyExists);
    let err = b
        .create_mailbox(&sb, &new_mailbox("bert@a.example.com", "Bert-Password-1"))
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::AlreadyExists,
        "A's domain is not B's: {err}"
    );
    let err = b
        .create_mailbox(
            &sb,
            &NewMailbox {
                tenant: Some("tenant-a".into()),
                ..new_mailbox("x@b.example.com", "X-Password-1")
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { .. }),
        "{err}"
    );
    assert_eq!(
        schema.snapshot().await,
        before,
        "B's attempts changed nothing"
    );

    // The operator sees both and can filter by tenant.
    assert_eq!(
        operator
            .list_mailboxes(&Scope::All, &Default::default())
            .await
            .unwrap()
            .len(),
        2
    );
    let filter = stackdock_email::sql::ListFilter {
        tenant: Some("tenant-a".into()),
        ..Default::default()
    };
    let only_a = operator.list_mailboxes(&Scope::All, &filter).await.unwrap();
    assert_eq!(only_a.len(), 1);
    assert_eq!(only_a[0].address, "ann@a.example.com");
    schema.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tenants_are_refused_before_any_sql() {
    let schema = TestSchema::new();
    let operator = schema.store(PasswordScheme::BlfCrypt).await;
    let calls = operator.remote_calls();
    let too_long = "t".repeat(129);
    for bad in [
        "",
        "a\nb",
        "\u{1b}[31mred\u{1b}[0m",
        " padded",
        too_long.as_str(),
    ] {
        // The operator scope takes the tenant from the request: validated there too.
        let mailbox = NewMailbox {
            tenant: Some(bad.to_owned()),
            ..new_mailbox("m@hostile.example.com", "Hostile-Password-1")
        };
        let err = operator
            .create_mailbox(&Scope::All, &mailbox)
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput { .. }),
            "{bad:?}: {err}"
        );
        let forwarder = stackdock_email::model::NewForwarder {
            source: "f@hostile.example.com".into(),
            destinations: vec!["x@elsewhere.example.org".into()],
            enabled: true,
            tenant: Some(bad.to_owned()),
            labels: Default::default(),
        };
        let err = operator
            .create_forwarder(&Scope::All, &forwarder)
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput { .. }),
            "{bad:?}: {err}"
        );
        let filter = stackdock_email::sql::ListFilter {
            tenant: Some(bad.to_owned()),
            ..Default::default()
        };
        let err = operator
            .list_mailboxes(&Scope::All, &filter)
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput { .. }),
            "{bad:?}: {err}"
        );
        assert!(Scope::tenant(bad).is_err(), "{bad:?}");
    }
    assert_eq!(operator.remote_calls(), calls, "refused before any SQL");
    assert!(schema.snapshot().await.is_empty(), "nothing stored");
    schema.cleanup().await;
}
