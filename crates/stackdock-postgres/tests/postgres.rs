//! Behaviour against a real PostgreSQL server (127.0.0.1:5432 or
//! `STACKDOCK_TEST_PG_URL`). Every test works under its own `sdt_<random>_`
//! prefix and ends by asserting that nothing with that prefix is left.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::TestEnv;
use futures::future::join_all;
use stackdock_core::resource::{ConnectionDetails, Database};
use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::spec::{Common, DatabaseSpec};
use stackdock_core::{
    DockAdapter, DockAdapterExt, ErrorKind, ListOptions, Resource, ResourceId, ResourceKind,
    ResourceSpec, ResourceStatus,
};
use stackdock_postgres::adapter::{FaultTiming, INJECTED_FAULT_CODE};
use stackdock_postgres::{scram, ProvisionStep};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

fn spec(name: &str) -> DatabaseSpec {
    DatabaseSpec {
        name: name.into(),
        ..Default::default()
    }
}

fn tenant_spec(name: &str, tenant: &str) -> DatabaseSpec {
    DatabaseSpec {
        name: name.into(),
        common: Common {
            tenant: Some(tenant.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn db(resource: impl Into<Resource>) -> Database {
    match resource.into() {
        Resource::Database(d) => d,
        other => panic!("expected a database, got {other:?}"),
    }
}

fn id(name: &str) -> ResourceId {
    ResourceId::new(ResourceKind::Database, name)
}

/// Log in as the tenant with its password (TCP, like an application would).
async fn connect_as(
    c: &ConnectionDetails,
    database: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&c.host)
        .port(c.port)
        .user(&c.user)
        .dbname(database)
        .password(c.password.as_ref().expect("password known").expose_secret());
    let (client, conn) = cfg.connect(NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

#[tokio::test]
async fn provision_connect_rotate_delete() {
    let env = TestEnv::new().await;
    let name = env.name("shop");
    let mut s = tenant_spec(&name, "acme");
    s.connection_limit = Some(7);
    s.common.labels.insert("plan".into(), "pro".into());
    let created = db(env
        .adapter
        .create(&ResourceSpec::from(s.clone()))
        .await
        .unwrap());
    assert_eq!(created.meta.name, name);
    assert_eq!(created.meta.reference.provider_resource_id, name);
    assert_eq!(created.meta.status, ResourceStatus::Active);
    assert_eq!(created.meta.tenant.as_deref(), Some("acme"));
    assert_eq!(
        created.meta.labels.get("plan").map(String::as_str),
        Some("pro")
    );
    assert_eq!(created.owner.as_deref(), Some(name.as_str()));
    assert_eq!(created.connection_limit, Some(7));
    assert!(created.size_bytes.is_some());
    let conn = created.connection.clone().unwrap();
    let password = conn
        .password
        .clone()
        .expect("a generated password is returned");
    assert_eq!(password.expose_secret().len(), 32);
    // never printed, never serialised
    let printed = format!("{created:?} {conn} {}", conn.redacted_url());
    assert!(!printed.contains(password.expose_secret()), "{printed}");
    assert!(!serde_json::to_string(&created)
        .unwrap()
        .contains(password.expose_secret()));
    assert!(conn
        .url()
        .expose_secret()
        .contains(password.expose_secret()));

    // The server stores our SCRAM verifier, never the plaintext; it accepts the
    // password in a full SCRAM exchange and rejects a wrong one.
    let stored = env.stored_verifier(&name).await;
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
    assert!(scram::verify_password(&stored, password.expose_secret()).unwrap());
    assert!(!scram::verify_password(&stored, "wrong-password").unwrap());

    // The tenant logs in to its own database and may create objects there.
    let tenant = connect_as(&conn, &name)
        .await
        .expect("tenant connects to its database");
    let row = tenant
        .query_one("SELECT current_user::text, current_database()::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), name);
    assert_eq!(row.get::<_, String>(1), name);
    tenant
        .batch_execute("CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1)")
        .await
        .expect("the owner can create tables");
    if env.tcp_auth_checks_passwords().await {
        let mut wrong = conn.clone();
        wrong.password = Some(SecretString::from("not-the-password"));
        assert!(
            connect_as(&wrong, &name).await.is_err(),
            "a wrong password is refused"
        );
    }

    // PUBLIC has no privilege left on the database; the owner has them all.
    let acl: String = env
        .admin
        .query_one(
            "SELECT datacl::text FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        !acl.contains("{=") && !acl.contains(",="),
        "PUBLIC still has privileges: {acl}"
    );

    // Observe: exists, up to date, owner, limit, size.
    let obs = env
        .adapter
        .observe(
            &created.meta.reference.id(),
            Some(&ResourceSpec::from(s.clone())),
        )
        .await
        .unwrap();
    assert!(obs.exists() && obs.up_to_date, "{:?}", obs.diff);
    let seen = db(obs.resource.unwrap());
    assert_eq!(seen.connection_limit, Some(7));
    assert!(seen.size_bytes.unwrap() > 0);
    assert!(
        seen.connection.unwrap().password.is_none(),
        "observe never knows the password"
    );

    // Rotate: the new password works, the old one no longer verifies.
    let rotated = env.adapter.rotate_password(&id(&name), None).await.unwrap();
    let new_pw = rotated.password.clone().unwrap();
    assert_ne!(new_pw.expose_secret(), password.expose_secret());
    let stored = env.stored_verifier(&name).await;
    assert!(scram::verify_password(&stored, new_pw.expose_secret()).unwrap());
    assert!(!scram::verify_password(&stored, password.expose_secret()).unwrap());
    connect_as(&rotated, &name)
        .await
        .expect("login with the rotated password");
    // A session stays open while we delete: DROP ... WITH (FORCE) ends it.
    let open_session = connect_as(&rotated, &name).await.unwrap();

    env.adapter.delete(&id(&name)).await.unwrap();
    assert!(
        open_session.simple_query("SELECT 1").await.is_err(),
        "the tenant session was terminated"
    );
    assert!(!env.db_exists(&name).await && !env.role_exists(&name).await);
    assert!(!env
        .adapter
        .observe(&id(&name), None)
        .await
        .unwrap()
        .exists());
    env.adapter
        .delete(&id(&name))
        .await
        .expect("deleting what is gone succeeds");
    drop(tenant);
    env.assert_clean().await;
}

#[tokio::test]
async fn tenants_cannot_connect_to_each_other() {
    let env = TestEnv::new().await;
    let (a, b) = (env.name("a"), env.name("b"));
    let ra = db(env
        .adapter
        .create(&ResourceSpec::from(tenant_spec(&a, "ta")))
        .await
        .unwrap());
    let rb = db(env
        .adapter
        .create(&ResourceSpec::from(tenant_spec(&b, "tb")))
        .await
        .unwrap());
    let ca = ra.connection.unwrap();
    let cb = rb.connection.unwrap();
    connect_as(&ca, &a)
        .await
        .expect("a reaches its own database");
    connect_as(&cb, &b)
        .await
        .expect("b reaches its own database");
    for (who, target) in [(&ca, &b), (&cb, &a)] {
        let err = connect_as(who, target)
            .await
            .expect_err("cross-tenant login must fail");
        assert_eq!(
            err.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "expected permission denied for database, got {err}"
        );
    }
    // And tenant b is not listed for tenant a.
    let listed = env
        .adapter
        .list_all(ResourceKind::Database, &ListOptions::for_tenant("ta"))
        .await
        .unwrap();
    let names: Vec<_> = listed.iter().map(|r| r.name().to_owned()).collect();
    assert!(names.contains(&a) && !names.contains(&b), "{names:?}");
    env.adapter.delete(&id(&a)).await.unwrap();
    env.adapter.delete(&id(&b)).await.unwrap();
    env.assert_clean().await;
}

#[tokio::test]
async fn list_is_tenant_scoped_paginated_and_never_shows_foreign_or_system_databases() {
    let env = TestEnv::new().await;
    let tenant = env.name("tenant"); // unique to this test
    let names: Vec<String> = (0..5).map(|i| env.name(&format!("db_{i}"))).collect();
    for (i, n) in names.iter().enumerate() {
        let mut s = tenant_spec(n, &tenant);
        s.common.labels.insert(
            "tier".into(),
            if i % 2 == 0 { "even" } else { "odd" }.into(),
        );
        env.adapter.create(&ResourceSpec::from(s)).await.unwrap();
    }
    // A database StackDock did not make, under the same prefix.
    let foreign = env.name("foreign");
    env.admin
        .batch_execute(&format!("CREATE DATABASE \"{foreign}\""))
        .await
        .unwrap();

    let opts = ListOptions {
        tenant: Some(tenant.clone()),
        page_size: Some(2),
        ..Default::default()
    };
    let first = env
        .adapter
        .list(ResourceKind::Database, &opts)
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    assert!(first.next_cursor.is_some());
    let all = env
        .adapter
        .list_all(ResourceKind::Database, &opts)
        .await
        .unwrap();
    let listed: Vec<String> = all.iter().map(|r| r.name().to_owned()).collect();
    assert_eq!(listed, names, "every page, in order, nothing else");
    assert!(all
        .iter()
        .all(|r| r.meta().tenant.as_deref() == Some(tenant.as_str())));

    let mut labels = BTreeMap::new();
    labels.insert("tier".to_owned(), "odd".to_owned());
    let odd = env
        .adapter
        .list_all(
            ResourceKind::Database,
            &ListOptions {
                tenant: Some(tenant.clone()),
                labels,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        odd.iter().map(|r| r.name().to_owned()).collect::<Vec<_>>(),
        vec![names[1].clone(), names[3].clone()]
    );

    // Without a tenant filter: still only StackDock's databases.
    let everything = env
        .adapter
        .list_all(ResourceKind::Database, &ListOptions::default())
        .await
        .unwrap();
    for r in &everything {
        let n = r.name();
        assert!(
            n != "postgres" && !n.starts_with("template") && n != foreign,
            "listed {n}"
        );
    }

    // The foreign database is observed as not ours and is never touched.
    let obs = env.adapter.observe(&id(&foreign), None).await.unwrap();
    let seen = obs.resource.unwrap();
    assert_eq!(seen.meta().status, ResourceStatus::Unknown);
    assert_eq!(
        seen.meta().provider_data["managed"],
        serde_json::json!(false)
    );
    let err = env
        .adapter
        .create(&ResourceSpec::from(spec(&foreign)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::AlreadyExists, "{err}");
    let err = env.adapter.delete(&id(&foreign)).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Refused, "{err}");
    let err = env
        .adapter
        .update(&id(&foreign), &ResourceSpec::from(spec(&foreign)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Refused, "{err}");
    assert!(env.db_exists(&foreign).await);

    env.admin
        .batch_execute(&format!("DROP DATABASE \"{foreign}\""))
        .await
        .unwrap();
    for n in &names {
        env.adapter.delete(&id(n)).await.unwrap();
    }
    env.assert_clean().await;
}

#[tokio::test]
async fn create_is_idempotent_and_detects_conflicts() {
    let env = TestEnv::new().await;
    let name = env.name("app");
    let pw = SecretString::from("Initial-Password-1".to_owned());
    let mut s = tenant_spec(&name, "t1");
    s.password = Some(pw.clone());
    s.connection_limit = Some(3);
    let first = db(env
        .adapter
        .create(&ResourceSpec::from(s.clone()))
        .await
        .unwrap());

    // Same spec again: adopted, same id; the given password is confirmed and handed back.
    let again = db(env
        .adapter
        .create(&ResourceSpec::from(s.clone()))
        .await
        .unwrap());
    assert_eq!(again.meta.reference, first.meta.reference);
    assert_eq!(
        again.connection.unwrap().password.unwrap().expose_secret(),
        "Initial-Password-1"
    );
    // Without a password: adopted, password unknown.
    let mut no_pw = s.clone();
    no_pw.password = None;
    let adopted = db(env
        .adapter
        .create(&ResourceSpec::from(no_pw.clone()))
        .await
        .unwrap());
    assert!(adopted.connection.unwrap().password.is_none());

    // A different password, limit or owner: ours but incompatible.
    let mut other_pw = s.clone();
    other_pw.password = Some(SecretString::from("Other-Password-2".to_owned()));
    let err = env
        .adapter
        .create(&ResourceSpec::from(other_pw))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    let mut other_limit = no_pw.clone();
    other_limit.connection_limit = Some(4);
    let err = env
        .adapter
        .create(&ResourceSpec::from(other_limit))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    let mut other_owner = no_pw.clone();
    other_owner.owner = Some(env.name("someone_else"));
    let err = env
        .adapter
        .create(&ResourceSpec::from(other_owner))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    assert!(
        !env.role_exists(&env.name("someone_else")).await,
        "no role made on conflict"
    );
    // Another tenant's database: not ours to adopt.
    let mut other_tenant = no_pw.clone();
    other_tenant.common.tenant = Some("t2".into());
    let err = env
        .adapter
        .create(&ResourceSpec::from(other_tenant))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::AlreadyExists, "{err}");

    // A pre-existing role StackDock did not make is never taken over.
    let squatter = env.name("squat");
    env.admin
        .batch_execute(&format!("CREATE ROLE \"{squatter}\" LOGIN"))
        .await
        .unwrap();
    let err = env
        .adapter
        .create(&ResourceSpec::from(spec(&squatter)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::AlreadyExists, "{err}");
    assert!(!env.db_exists(&squatter).await);
    env.admin
        .batch_execute(&format!("DROP ROLE \"{squatter}\""))
        .await
        .unwrap();

    // Explicit owner different from the database name.
    let owned = env.name("owned");
    let owner = env.name("owner_role");
    let mut s2 = spec(&owned);
    s2.owner = Some(owner.clone());
    let r = db(env.adapter.create(&ResourceSpec::from(s2)).await.unwrap());
    assert_eq!(r.owner.as_deref(), Some(owner.as_str()));
    assert_eq!(r.connection.unwrap().user, owner);
    // Without an owner in the spec the derived one (the name) is expected.
    let err = env
        .adapter
        .create(&ResourceSpec::from(spec(&owned)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    // An update without an owner keeps the one there is.
    let mut limit_only = spec(&owned);
    limit_only.connection_limit = Some(2);
    let updated = db(env
        .adapter
        .update(&id(&owned), &ResourceSpec::from(limit_only))
        .await
        .unwrap());
    assert_eq!(updated.owner.as_deref(), Some(owner.as_str()));
    assert_eq!(updated.connection_limit, Some(2));
    // The same owner cannot be shared by a second database.
    let mut s3 = spec(&env.name("owned_too"));
    s3.owner = Some(owner.clone());
    let err = env
        .adapter
        .create(&ResourceSpec::from(s3))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");

    env.adapter.delete(&id(&owned)).await.unwrap();
    assert!(!env.role_exists(&owner).await);
    env.adapter.delete(&id(&name)).await.unwrap();
    env.adapter.delete(&id(&name)).await.unwrap();
    env.assert_clean().await;
}

#[tokio::test]
async fn update_changes_limit_labels_and_password() {
    let env = TestEnv::new().await;
    let name = env.name("upd");
    let mut s = tenant_spec(&name, "t");
    s.connection_limit = Some(2);
    env.adapter
        .create(&ResourceSpec::from(s.clone()))
        .await
        .unwrap();

    let mut changed = s.clone();
    changed.connection_limit = Some(9);
    changed.common.labels.insert("env".into(), "prod".into());
    let before = env
        .adapter
        .observe(&id(&name), Some(&ResourceSpec::from(changed.clone())))
        .await
        .unwrap();
    assert!(!before.up_to_date);
    let sent = env.adapter.sql_sent();
    let updated = db(env
        .adapter
        .update(&id(&name), &ResourceSpec::from(changed.clone()))
        .await
        .unwrap());
    assert_eq!(
        env.adapter.sql_sent() - sent,
        5,
        "lock, read, one atomic batch, read back, unlock"
    );
    assert_eq!(updated.connection_limit, Some(9));
    assert_eq!(
        updated.meta.labels.get("env").map(String::as_str),
        Some("prod")
    );
    assert!(
        updated.connection.unwrap().password.is_none(),
        "no rotation asked"
    );
    let after = env
        .adapter
        .observe(&id(&name), Some(&ResourceSpec::from(changed.clone())))
        .await
        .unwrap();
    assert!(after.up_to_date, "{:?}", after.diff);

    // Unlimited again; rotate through update.
    let mut unlimited = changed.clone();
    unlimited.connection_limit = None;
    unlimited.password = Some(SecretString::from("Rotated-Password-9".to_owned()));
    let updated = db(env
        .adapter
        .update(&id(&name), &ResourceSpec::from(unlimited))
        .await
        .unwrap());
    assert_eq!(updated.connection_limit, None);
    let c = updated.connection.unwrap();
    assert_eq!(
        c.password.as_ref().unwrap().expose_secret(),
        "Rotated-Password-9"
    );
    assert!(
        scram::verify_password(&env.stored_verifier(&name).await, "Rotated-Password-9").unwrap()
    );
    connect_as(&c, &name).await.unwrap();

    // Errors: renaming, changing the tenant or owner, missing database.
    let err = env
        .adapter
        .update(
            &id(&name),
            &ResourceSpec::from(tenant_spec(&env.name("other"), "t")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { .. }),
        "{err}"
    );
    let err = env
        .adapter
        .update(&id(&name), &ResourceSpec::from(tenant_spec(&name, "t2")))
        .await
        .unwrap_err();
    // Issue 11: a request scoped to another tenant does not learn of the
    // database (an unscoped one that would change the tenant is a Conflict).
    assert_eq!(err.kind(), &ErrorKind::NotFound, "{err}");
    let mut unscoped = spec(&name);
    unscoped.connection_limit = Some(5);
    let err = env
        .adapter
        .update(&id(&name), &ResourceSpec::from(unscoped))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    let mut other_owner = tenant_spec(&name, "t");
    other_owner.owner = Some(env.name("x"));
    let err = env
        .adapter
        .update(&id(&name), &ResourceSpec::from(other_owner))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    let missing = env.name("missing");
    let err = env
        .adapter
        .update(&id(&missing), &ResourceSpec::from(spec(&missing)))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");

    env.adapter.delete(&id(&name)).await.unwrap();
    env.assert_clean().await;
}

/// Inputs that must be rejected before any SQL is sent.
fn hostile_inputs() -> Vec<String> {
    let mut v: Vec<String> = stackdock_testkit::hostile_names();
    v.extend(
        [
            "x\"; DROP DATABASE postgres; --",
            "x'; DROP ROLE postgres; --",
            "x\\'; DROP ROLE postgres; --",
            "robert'); DROP TABLE students;--",
            "a\"b",
            "a'b",
            "a b",
            "a\tb",
            "a\nb",
            "a\0",
            "\0",
            "a;",
            "a--",
            "a/*",
            "$$x$$",
            "a$1",
            "a%s",
            "a.b",
            "a\\b",
            "Shop",
            "SHOP",
            "1shop",
            "_shop",
            "shop-db",
            "аdmin",            // Cyrillic а
            "ѕhop",             // Cyrillic ѕ
            "ｐｏｓｔｇｒｅｓ", // full-width
            "shop\u{200b}",     // zero-width space
            "shop\u{202e}",     // right-to-left override
            "admın",            // dotless ı
            "ﬁle",              // ligature
            "postgres",
            "template0",
            "template1",
            "pg_signal_backend",
            "pg_catalog",
            "pg_",
            "public",
            "none",
            "current_user",
            "session_user",
            "current_role",
            "all",
            // A schema in every database: as owner, its "$user" search_path
            // entry would point there and the tenant could not create a table.
            "information_schema",
        ]
        .into_iter()
        .map(String::from),
    );
    v.push("a".repeat(64));
    v.push("é".repeat(32)); // 64 bytes, 32 characters
    v.push(format!("{}é", "a".repeat(62))); // 64 bytes
    v
}

#[tokio::test]
async fn hostile_inputs_are_rejected_without_sending_sql() {
    let env = TestEnv::new().await;
    let adapter = env.new_adapter();
    let good = env.name("good");
    for bad in hostile_inputs() {
        let before = adapter.sql_sent();
        let as_name = adapter.create(&ResourceSpec::from(spec(&bad))).await;
        let mut s = spec(&good);
        s.owner = Some(bad.clone());
        let as_owner = adapter.create(&ResourceSpec::from(s)).await;
        let observed = adapter.observe(&id(&bad), None).await;
        let updated = adapter
            .update(&id(&bad), &ResourceSpec::from(spec(&bad)))
            .await;
        let deleted = adapter.delete(&id(&bad)).await;
        for (what, result) in [
            ("create name", as_name.map(|_| ())),
            ("create owner", as_owner.map(|_| ())),
            ("observe", observed.map(|_| ())),
            ("update", updated.map(|_| ())),
            ("delete", deleted),
        ] {
            let err = result.expect_err(&format!("{what} accepted {bad:?}"));
            assert!(
                matches!(err.kind(), ErrorKind::InvalidInput { .. }),
                "{what} {bad:?}: {err}"
            );
        }
        assert_eq!(adapter.sql_sent(), before, "SQL was sent for {bad:?}");
    }
    // Listing cursors are checked the same way (a cursor is a database name).
    for bad in ["x\"; DROP DATABASE postgres; --", "a\0", "Shop", ""] {
        let before = adapter.sql_sent();
        let opts = ListOptions {
            cursor: Some(bad.into()),
            ..Default::default()
        };
        let err = adapter
            .list(ResourceKind::Database, &opts)
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput { .. }),
            "cursor {bad:?}: {err}"
        );
        assert_eq!(adapter.sql_sent(), before);
    }
    // Filters are the layer's to check, as every dock gets them: hostile
    // ones are invalid, a parent filter (databases have none) unsupported.
    let adapter = std::sync::Arc::new(adapter);
    let layered = stackdock_core::layer::standard(adapter.clone());
    for (opts, unsupported) in [
        (ListOptions::for_tenant("t\0"), false),
        (ListOptions::in_parent("anything"), true),
        (
            ListOptions {
                labels: [("k'; --".to_owned(), "v".to_owned())].into(),
                ..Default::default()
            },
            false,
        ),
    ] {
        let err = layered
            .list(ResourceKind::Database, &opts)
            .await
            .unwrap_err();
        let kind_ok = if unsupported {
            matches!(err.kind(), ErrorKind::Unsupported { .. })
        } else {
            matches!(err.kind(), ErrorKind::InvalidInput { .. })
        };
        assert!(kind_ok, "{opts:?}: {err}");
    }
    // An empty password is refused too.
    let mut s = spec(&good);
    s.password = Some(SecretString::from(String::new()));
    assert!(matches!(
        adapter
            .create(&ResourceSpec::from(s))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput { .. }
    ));
    assert_eq!(adapter.sql_sent(), 0, "nothing at all reached the server");
    assert!(env.db_exists("postgres").await);
    env.assert_clean().await;
}

/// Issue 12 item 8: PostgreSQL clears a password that is empty after
/// SASLprep (and none can hold NUL); create, update and rotation refuse such
/// passwords before any SQL instead of handing back one that never logs in.
#[tokio::test]
async fn passwords_empty_after_saslprep_or_holding_nul_are_refused_before_any_sql() {
    let env = TestEnv::new().await;
    let name = env.name("pw");
    let created = env
        .adapter
        .create(&ResourceSpec::from(spec(&name)))
        .await
        .unwrap();
    let adapter = env.new_adapter();
    for bad in ["\u{00AD}", "\u{FEFF}\u{00AD}", "\0", "pw\0tail", ""] {
        let password = || Some(SecretString::from(bad.to_owned()));
        let mut s = spec(&env.name("pw_new"));
        s.password = password();
        let create = adapter.create(&ResourceSpec::from(s)).await.map(|_| ());
        let mut s = spec(&name);
        s.password = password();
        let update = adapter
            .update(&id(&name), &ResourceSpec::from(s))
            .await
            .map(|_| ());
        let rotate = adapter
            .rotate_password(&id(&name), password())
            .await
            .map(|_| ());
        for (what, result) in [("create", create), ("update", update), ("rotate", rotate)] {
            let err = result.expect_err(&format!("{what} accepted {bad:?}"));
            assert!(
                matches!(err.kind(), ErrorKind::InvalidInput { .. }),
                "{what} {bad:?}: {err}"
            );
        }
    }
    assert_eq!(adapter.sql_sent(), 0, "nothing reached the server");
    assert!(!env.db_exists(&env.name("pw_new")).await);
    env.adapter.delete(&created.id()).await.unwrap();
    env.assert_clean().await;
}

#[tokio::test]
async fn hostile_tenants_and_passwords_are_quoted_not_executed() {
    // Tenants, labels and passwords are free text: they must travel as data.
    let env = TestEnv::new().await;
    let name = env.name("quoted");
    let tenant = "t'; DROP DATABASE postgres; -- \\' \"x\" $$ é \u{202e}";
    let mut s = tenant_spec(&name, tenant);
    s.password = Some(SecretString::from(
        "pw'; DROP ROLE postgres; --\\".to_owned(),
    ));
    let r = db(env
        .adapter
        .create(&ResourceSpec::from(s.clone()))
        .await
        .unwrap());
    assert_eq!(r.meta.tenant.as_deref(), Some(tenant));
    let listed = env
        .adapter
        .list_all(ResourceKind::Database, &ListOptions::for_tenant(tenant))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name(), name);
    assert!(scram::verify_password(
        &env.stored_verifier(&name).await,
        "pw'; DROP ROLE postgres; --\\"
    )
    .unwrap());
    connect_as(&r.connection.unwrap(), &name).await.unwrap();
    assert!(env.db_exists("postgres").await && env.role_exists("postgres").await);
    env.adapter.delete(&id(&name)).await.unwrap();
    env.assert_clean().await;
}

#[tokio::test]
async fn quoting_round_trips_through_the_server() {
    let env = TestEnv::new().await;
    let samples = [
        "plain",
        "it's",
        "back\\slash",
        "both \\' mixed '\\",
        "x\"; DROP DATABASE postgres; --",
        "$$dollar$$",
        "ünïcödé ☃ 𝄞",
        "\u{202e}rtl",
        "",
    ];
    for s in samples {
        let lit = stackdock_postgres::sql::quote_literal(s).unwrap();
        let ident = stackdock_postgres::sql::quote_ident(s).unwrap();
        let row = env
            .admin
            .query_one(&format!("SELECT {lit}::text, quote_ident({lit})"), &[])
            .await
            .unwrap_or_else(|e| panic!("{lit}: {e}"));
        assert_eq!(row.get::<_, String>(0), s, "literal {lit}");
        if !s.is_empty() {
            // The server reads our quoted identifier as the same name.
            let row = env
                .admin
                .query_one(&format!("SELECT 1 AS {ident}"), &[])
                .await
                .unwrap();
            assert_eq!(row.columns()[0].name(), s);
        }
    }
    env.assert_clean().await;
}

#[tokio::test]
async fn a_failure_at_any_step_rolls_back_and_reports_the_original_error() {
    let env = TestEnv::new().await;
    for step in ProvisionStep::ALL {
        for timing in [FaultTiming::Before, FaultTiming::After] {
            let adapter = env.new_adapter();
            let name = env.name(&format!("rb_{}_{:?}", step.as_str(), timing).to_lowercase());
            adapter.inject(step, timing);
            let err = adapter
                .create(&ResourceSpec::from(tenant_spec(&name, "t")))
                .await
                .expect_err("the injected fault fails the create");
            match err.kind() {
                ErrorKind::Provider {
                    code: Some(code),
                    message,
                    ..
                } => {
                    assert_eq!(code, INJECTED_FAULT_CODE, "{err}");
                    assert!(message.contains(step.as_str()), "{err}");
                }
                other => panic!("{step:?}/{timing:?}: not the original error: {other:?} ({err})"),
            }
            assert!(
                !err.context().iter().any(|(k, _)| *k == "rollback_error"),
                "rollback failed: {err}"
            );
            assert!(
                env.leftovers_of(&name).await.is_empty(),
                "{step:?}/{timing:?} left {:?}",
                env.leftovers_of(&name).await
            );
            assert!(!adapter.observe(&id(&name), None).await.unwrap().exists());
            // Nothing is stuck: the same create now succeeds, and cleans up.
            adapter
                .create(&ResourceSpec::from(tenant_spec(&name, "t")))
                .await
                .unwrap();
            adapter.delete(&id(&name)).await.unwrap();
        }
    }
    env.assert_clean().await;
}

#[tokio::test]
async fn an_interrupted_provisioning_is_finished_by_create_and_cleared_by_delete() {
    // What a crash between steps leaves: our marked role and its unmarked database.
    let env = TestEnv::new().await;
    let name = env.name("crashed");
    let marker = format!(
        r#"{{"managed_by":"stackdock","v":1,"object":"role","database":"{name}","role":"{name}","tenant":"t"}}"#
    );
    env.admin
        .batch_execute(&format!(
            "CREATE ROLE \"{name}\" LOGIN; COMMENT ON ROLE \"{name}\" IS '{marker}'"
        ))
        .await
        .unwrap();
    env.admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\" OWNER \"{name}\""))
        .await
        .unwrap();
    let obs = env.adapter.observe(&id(&name), None).await.unwrap();
    assert_eq!(
        obs.resource.unwrap().meta().status,
        ResourceStatus::Provisioning
    );
    let listed = env
        .adapter
        .list_all(ResourceKind::Database, &ListOptions::for_tenant("t"))
        .await
        .unwrap();
    assert!(
        listed.iter().all(|r| r.name() != name),
        "unfinished databases are not listed"
    );
    // Updating is refused until provisioning is finished.
    let err = env
        .adapter
        .update(&id(&name), &ResourceSpec::from(tenant_spec(&name, "t")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict);

    let done = db(env
        .adapter
        .create(&ResourceSpec::from(tenant_spec(&name, "t")))
        .await
        .unwrap());
    assert_eq!(done.meta.status, ResourceStatus::Active);
    let c = done.connection.unwrap();
    assert!(scram::verify_password(
        &env.stored_verifier(&name).await,
        c.password.as_ref().unwrap().expose_secret()
    )
    .unwrap());
    connect_as(&c, &name).await.unwrap();

    // A delete interrupted after dropping the database leaves the role: delete again clears it.
    env.admin
        .batch_execute(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
    assert!(env.role_exists(&name).await);
    env.adapter.delete(&id(&name)).await.unwrap();
    assert!(!env.role_exists(&name).await);
    env.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_provisions_all_succeed() {
    let env = TestEnv::new().await;
    let names: Vec<String> = (0..20).map(|i| env.name(&format!("par_{i:02}"))).collect();
    let results = join_all(names.iter().map(|n| {
        let adapter = env.adapter.clone();
        let spec = ResourceSpec::from(tenant_spec(n, "par"));
        async move { adapter.create(&spec).await }
    }))
    .await;
    for (n, r) in names.iter().zip(&results) {
        let r = r.as_ref().unwrap_or_else(|e| panic!("{n}: {e}"));
        assert_eq!(r.meta().status, ResourceStatus::Active);
    }
    // Every one complete: marked, listed, PUBLIC revoked, owner right.
    let listed = env
        .adapter
        .list_all(ResourceKind::Database, &ListOptions::for_tenant("par"))
        .await
        .unwrap();
    let mine: Vec<_> = listed
        .iter()
        .filter(|r| r.name().starts_with(&env.prefix))
        .collect();
    assert_eq!(mine.len(), 20);
    let half_made = env
        .admin
        .query(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname::text, $1) \
             AND (datacl IS NULL OR shobj_description(oid, 'pg_database') IS NULL)",
            &[&env.prefix],
        )
        .await
        .unwrap();
    assert!(half_made.is_empty(), "half-made: {half_made:?}");
    let deletes = join_all(names.iter().map(|n| {
        let adapter = env.adapter.clone();
        let id = id(n);
        async move { adapter.delete(&id).await }
    }))
    .await;
    for r in deletes {
        r.unwrap();
    }
    env.assert_clean().await;
}

#[tokio::test]
async fn check_credentials_and_unsupported_kinds() {
    let env = TestEnv::new().await;
    env.adapter.check_credentials().await.unwrap();
    // Kinds are gated by the layer every dock is wrapped in.
    let dock = stackdock_core::layer::standard(env.adapter.clone());
    let err = dock
        .list(ResourceKind::Server, &ListOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Unsupported { .. }));
    // An unreachable server is Unavailable (temporary), not a panic or a hang.
    let cfg = stackdock_postgres::PostgresConfig::new("127.0.0.1", 1, "postgres")
        .with_connect_timeout(std::time::Duration::from_secs(2));
    let dead = TestEnv::adapter_with(cfg);
    let err = dead.check_credentials().await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
        "{err}"
    );
    env.assert_clean().await;
}

/// Replace what varies between runs (prefix, SCRAM verifiers, timestamps) so
/// the exact SQL can be pinned by a snapshot.
fn normalize_sql(sql: &str, prefix: &str) -> String {
    let mut out = sql.replace(prefix, "sdt_PREFIX_");
    for (start_pat, end_char, placeholder) in [
        ("SCRAM-SHA-256$", '\'', "SCRAM-SHA-256$<verifier>"),
        ("\"created_at\":\"", '"', "\"created_at\":\"<time>"),
    ] {
        let mut done = String::new();
        let mut rest = out.as_str();
        while let Some(i) = rest.find(start_pat) {
            done.push_str(&rest[..i]);
            done.push_str(placeholder);
            let after = &rest[i + start_pat.len()..];
            let end = after.find(end_char).unwrap_or(after.len());
            rest = &after[end..];
        }
        done.push_str(rest);
        out = done;
    }
    out
}

#[tokio::test]
async fn the_sql_sent_is_pinned_by_a_snapshot() {
    let env = TestEnv::new().await;
    let adapter = env.new_adapter();
    let name = env.name("snap");
    let password = "Snapshot-Password-1";
    let mut s = tenant_spec(&name, "acme");
    s.password = Some(SecretString::from(password.to_owned()));
    s.connection_limit = Some(5);
    s.common.labels.insert("plan".into(), "pro".into());
    adapter.client().record_sql(true);
    adapter
        .create(&ResourceSpec::from(s.clone()))
        .await
        .unwrap();
    let create = adapter.client().take_sql_log();
    let mut changed = s.clone();
    changed.connection_limit = Some(6);
    changed.password = Some(SecretString::from("Snapshot-Password-2".to_owned()));
    adapter
        .update(&id(&name), &ResourceSpec::from(changed))
        .await
        .unwrap();
    let update = adapter.client().take_sql_log();
    adapter.delete(&id(&name)).await.unwrap();
    let delete = adapter.client().take_sql_log();
    for sql in create.iter().chain(&update).chain(&delete) {
        assert!(
            !sql.contains("Snapshot-Password"),
            "plaintext password in SQL: {sql}"
        );
    }
    let norm = |v: &[String]| {
        v.iter()
            .map(|s| normalize_sql(s, &env.prefix))
            .collect::<Vec<_>>()
    };
    insta::assert_json_snapshot!(
        "provision_update_delete_sql",
        serde_json::json!({
            "create": norm(&create),
            "update": norm(&update),
            "delete": norm(&delete),
        })
    );
    env.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_name_take_turns_and_agree() {
    // Provisioning holds an advisory lock per database name: the first
    // create provisions, the others wait and then adopt the same database.
    let env = TestEnv::new().await;
    let name = env.name("same");
    let mut s = tenant_spec(&name, "t");
    s.password = Some(SecretString::from("Shared-Password-5".to_owned()));
    let spec = ResourceSpec::from(s);
    let results = join_all((0..6).map(|_| {
        let adapter = env.adapter.clone();
        let spec = spec.clone();
        async move { adapter.create(&spec).await }
    }))
    .await;
    for r in &results {
        let r = db(r
            .as_ref()
            .expect("every concurrent create succeeds")
            .clone());
        assert_eq!(r.meta.reference.provider_resource_id, name);
        assert_eq!(
            r.connection.unwrap().password.unwrap().expose_secret(),
            "Shared-Password-5"
        );
    }
    assert!(
        scram::verify_password(&env.stored_verifier(&name).await, "Shared-Password-5").unwrap()
    );
    // Concurrent deletes: all succeed, nothing left.
    let deletes = join_all((0..4).map(|_| {
        let adapter = env.adapter.clone();
        let id = id(&name);
        async move { adapter.delete(&id).await }
    }))
    .await;
    for d in deletes {
        d.unwrap();
    }
    env.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_create_does_not_wedge_the_name() {
    // Drop creates part-way (the caller's timeout fires): the lock must not
    // stay with a pooled connection, and a later create must finish the job.
    let env = TestEnv::new().await;
    let adapter = env.new_adapter();
    let name = env.name("cancel");
    let spec = ResourceSpec::from(tenant_spec(&name, "t"));
    for micros in [500u64, 2_000, 10_000, 40_000] {
        let _ = tokio::time::timeout(Duration::from_micros(micros), adapter.create(&spec)).await;
    }
    let done = tokio::time::timeout(Duration::from_secs(60), adapter.create(&spec))
        .await
        .expect("the name is not wedged by a cancelled create")
        .unwrap();
    assert_eq!(done.meta().status, ResourceStatus::Active);
    adapter.delete(&id(&name)).await.unwrap();
    env.assert_clean().await;
}

#[tokio::test]
async fn a_non_superuser_admin_with_createrole_and_createdb_can_do_everything() {
    let env = TestEnv::new().await;
    let admin = env.name("admin");
    // A password makes the role usable whether the server trusts loopback
    // or checks passwords, so the test runs (and can fail) on both.
    let admin_password = "Admin-Role-Pw-7";
    env.admin
        .batch_execute(&format!(
            "CREATE ROLE \"{admin}\" LOGIN CREATEROLE CREATEDB NOSUPERUSER PASSWORD '{admin_password}'"
        ))
        .await
        .unwrap();
    let mut cfg = stackdock_postgres::PostgresConfig::from_url(&common::admin_url())
        .unwrap()
        .with_password(admin_password);
    cfg.user = admin.clone();
    let adapter = TestEnv::adapter_with(cfg);
    adapter.check_credentials().await.unwrap();
    let name = env.name("by_admin");
    let mut s = tenant_spec(&name, "t");
    s.connection_limit = Some(4);
    let created = db(adapter
        .create(&ResourceSpec::from(s.clone()))
        .await
        .unwrap());
    let conn = created.connection.clone().unwrap();
    connect_as(&conn, &name).await.expect("tenant connects");
    let obs = adapter
        .observe(&id(&name), Some(&ResourceSpec::from(s.clone())))
        .await
        .unwrap();
    assert!(obs.up_to_date, "{:?}", obs.diff);
    // Adopting works without pg_authid access (password not handed back).
    let again = db(adapter
        .create(&ResourceSpec::from(s.clone()))
        .await
        .unwrap());
    assert!(again.connection.unwrap().password.is_none());
    let rotated = adapter.rotate_password(&id(&name), None).await.unwrap();
    connect_as(&rotated, &name).await.expect("rotated password");
    for step in ProvisionStep::ALL {
        let n = env.name(&format!("adm_rb_{}", step.as_str()));
        adapter.fail_after(step);
        adapter
            .create(&ResourceSpec::from(spec(&n)))
            .await
            .unwrap_err();
        assert!(
            env.leftovers_of(&n).await.is_empty(),
            "rollback as non-superuser at {step:?}"
        );
    }
    adapter.delete(&id(&name)).await.unwrap();
    assert!(!env.db_exists(&name).await && !env.role_exists(&name).await);
    drop(adapter);
    env.admin
        .batch_execute(&format!("DROP ROLE \"{admin}\""))
        .await
        .unwrap();
    env.assert_clean().await;
}

#[tokio::test]
async fn waiting_for_a_held_name_lock_times_out_cleanly() {
    // Someone holds the name's lock (as a running create would): a create
    // gives up after lock_timeout with Timeout, changes nothing, and the
    // name works again once the holder lets go.
    let env = TestEnv::new().await;
    let name = env.name("held");
    let holder = common::raw_admin().await;
    holder
        .query(
            "SELECT pg_advisory_lock($1, hashtext($2))",
            &[&stackdock_postgres::client::LOCK_NAMESPACE, &name],
        )
        .await
        .unwrap();
    let mut cfg = stackdock_postgres::PostgresConfig::from_url(&common::admin_url()).unwrap();
    cfg.lock_timeout = Duration::from_millis(300);
    let adapter = TestEnv::adapter_with(cfg);
    let err = adapter
        .create(&ResourceSpec::from(spec(&name)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Timeout, "{err}");
    assert!(env.leftovers_of(&name).await.is_empty());
    drop(holder); // its session ends: the lock is released
    tokio::time::timeout(
        Duration::from_secs(30),
        adapter.create(&ResourceSpec::from(spec(&name))),
    )
    .await
    .expect("not wedged")
    .unwrap();
    adapter.delete(&id(&name)).await.unwrap();
    env.assert_clean().await;
}

#[tokio::test]
async fn a_tenant_cannot_forge_or_break_the_ownership_marker() {
    // The tenant owns its database, so it may rewrite the database's comment.
    // Ownership and tenancy are read from the role's comment, which it cannot touch.
    let env = TestEnv::new().await;
    let (mine, theirs) = (env.name("mine"), env.name("theirs"));
    let mut mine_spec = tenant_spec(&mine, "t_mine");
    mine_spec.connection_limit = Some(1);
    let r = db(env
        .adapter
        .create(&ResourceSpec::from(mine_spec.clone()))
        .await
        .unwrap());
    let conn = r.connection.clone().unwrap();
    env.adapter
        .create(&ResourceSpec::from(tenant_spec(&theirs, "t_theirs")))
        .await
        .unwrap();
    let tenant = connect_as(&conn, &mine).await.unwrap();
    // The tenant may raise its database's connection limit, but its role's
    // limit still holds, and observe shows the drift.
    tenant
        .batch_execute(&format!("ALTER DATABASE \"{mine}\" CONNECTION LIMIT 100"))
        .await
        .expect("an owner may change its database's limit");
    let err = connect_as(&conn, &mine)
        .await
        .expect_err("the role limit still holds");
    assert_eq!(err.code(), Some(&SqlState::TOO_MANY_CONNECTIONS), "{err}");
    let obs = env
        .adapter
        .observe(&id(&mine), Some(&ResourceSpec::from(mine_spec.clone())))
        .await
        .unwrap();
    assert!(!obs.up_to_date, "a tampered limit shows as drift");
    let forged = format!(
        r#"{{"managed_by":"stackdock","v":1,"object":"database","state":"ready","database":"{mine}","role":"{mine}","tenant":"t_theirs"}}"#
    );
    tenant
        .batch_execute(&format!("COMMENT ON DATABASE \"{mine}\" IS '{forged}'"))
        .await
        .expect("an owner may comment on its database");
    let err = tenant
        .batch_execute(&format!("COMMENT ON ROLE \"{mine}\" IS '{forged}'"))
        .await
        .expect_err("a tenant cannot comment on its role");
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
    let theirs_list = env
        .adapter
        .list_all(ResourceKind::Database, &ListOptions::for_tenant("t_theirs"))
        .await
        .unwrap();
    let names: Vec<_> = theirs_list.iter().map(|r| r.name().to_owned()).collect();
    assert_eq!(names, vec![theirs.clone()], "the forged claim is ignored");
    // A broken marker-looking comment does not break listing either.
    tenant
        .batch_execute(&format!(
            "COMMENT ON DATABASE \"{mine}\" IS '{{\"managed_by\":\"stackdock\", broken'"
        ))
        .await
        .unwrap();
    let mine_list = env
        .adapter
        .list_all(ResourceKind::Database, &ListOptions::for_tenant("t_mine"))
        .await
        .unwrap();
    assert_eq!(mine_list.len(), 1);
    assert_eq!(mine_list[0].meta().tenant.as_deref(), Some("t_mine"));
    // Nor can the tenant rename or give away its database (no CREATEDB).
    assert!(tenant
        .batch_execute(&format!("ALTER DATABASE \"{mine}\" OWNER TO \"{theirs}\""))
        .await
        .is_err());
    drop(tenant);
    env.adapter.delete(&id(&mine)).await.unwrap();
    env.adapter.delete(&id(&theirs)).await.unwrap();
    env.assert_clean().await;
}

#[tokio::test]
async fn random_strings_round_trip_through_server_side_quoting() {
    // Generated text (any Unicode but NUL, quotes and backslashes included)
    // must come back from the server unchanged, as literal and as identifier.
    use proptest::strategy::{Strategy, ValueTree};
    let env = TestEnv::new().await;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let literals = "[^\u{0}]{0,40}|[-'\"\\\\;$ a-z]{0,40}";
    let idents = "[^\u{0}]{1,15}|[-'\"\\\\;$ a-z]{1,15}";
    for _ in 0..150 {
        let s = literals.new_tree(&mut runner).unwrap().current();
        let lit = stackdock_postgres::sql::quote_literal(&s).unwrap();
        let back: String = env
            .admin
            .query_one(&format!("SELECT {lit}::text"), &[])
            .await
            .unwrap_or_else(|e| panic!("{lit}: {e}"))
            .get(0);
        assert_eq!(back, s);
        let s = idents.new_tree(&mut runner).unwrap().current();
        let ident = stackdock_postgres::sql::quote_ident(&s).unwrap();
        let row = env
            .admin
            .query_one(&format!("SELECT 1 AS {ident}"), &[])
            .await
            .unwrap_or_else(|e| panic!("{ident}: {e}"));
        assert_eq!(row.columns()[0].name(), s);
    }
    env.assert_clean().await;
}
