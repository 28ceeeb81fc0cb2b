//! Real SCRAM-SHA-256 logins and TLS. The shared test server trusts loopback
//! logins and has no TLS, so this test starts its own throwaway cluster
//! (`stackdock_testkit::pg_cluster`: temporary data directory, free loopback port, `scram-sha-256` in its own
//! pg_hba.conf, TLS with a certificate from a throwaway CA made by `openssl`)
//! and stops it on drop. The machine's PostgreSQL configuration is never touched.

use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::spec::DatabaseSpec;
use stackdock_core::{DockAdapter, ErrorKind, Resource, ResourceSpec};
use stackdock_postgres::adapter::FaultTiming;
use stackdock_postgres::{PostgresAdapter, PostgresConfig, ProvisionStep, SslMode};
use stackdock_testkit::pg_cluster::PgCluster;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

const ADMIN_PASSWORD: &str = "Throwaway-Admin-Pw-1";

/// A private cluster: host logins by SCRAM-SHA-256 with [`ADMIN_PASSWORD`]
/// for the superuser, TLS with a certificate from a throwaway CA.
fn secured_cluster() -> PgCluster {
    PgCluster::builder().password(ADMIN_PASSWORD).tls().start()
}

async fn login(
    port: u16,
    user: &str,
    db: &str,
    password: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host("127.0.0.1")
        .port(port)
        .user(user)
        .dbname(db)
        .password(password);
    let (client, conn) = cfg.connect(NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

#[tokio::test]
async fn tls_and_scram_logins_succeed_with_the_password_and_fail_without() {
    // scripts/test.sh installs the server package; without it this test fails
    // loudly instead of passing green.
    let cluster = secured_cluster();

    // The admin itself logs in with SCRAM; a wrong admin password is Unauthenticated.
    let wrong = PostgresAdapter::from_url("scram", &cluster.url_with_password("not-it")).unwrap();
    let err = wrong.check_credentials().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthenticated, "{err}");
    assert!(!format!("{err} {err:?}").contains("not-it"));
    // TLS (rustls): verified against the throwaway CA; refused without it.
    let untrusted = PostgresAdapter::new(
        "tls",
        PostgresConfig::from_url(&cluster.url_with_password(ADMIN_PASSWORD))
            .unwrap()
            .with_tls(SslMode::VerifyFull),
    )
    .unwrap();
    let err = untrusted.check_credentials().await.unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Unavailable,
        "unknown CA must fail: {err}"
    );
    let config = PostgresConfig::from_url(&cluster.url_with_password(ADMIN_PASSWORD))
        .unwrap()
        .with_tls(SslMode::VerifyFull)
        .with_ca_certificates_pem(cluster.ca_pem().unwrap().to_owned());
    let adapter = PostgresAdapter::new("scram", config).unwrap();
    adapter.check_credentials().await.unwrap();
    let ssl: bool = adapter
        .client()
        .query(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()[0]
        .get(0);
    assert!(ssl, "the admin connection is encrypted");
    assert!(!format!("{adapter:?}").contains(ADMIN_PASSWORD));

    let spec = |name: &str| {
        ResourceSpec::from(DatabaseSpec {
            name: name.into(),
            ..Default::default()
        })
    };
    let Resource::Database(a) = adapter.create(&spec("tenant_a")).await.unwrap().resource else {
        panic!()
    };
    let Resource::Database(b) = adapter.create(&spec("tenant_b")).await.unwrap().resource else {
        panic!()
    };
    let ca = a.connection.unwrap();
    let pw_a = ca.password.clone().unwrap();

    // Right password: in. Wrong password: 28P01. Other tenant's database: 42501.
    let client = login(cluster.port(), "tenant_a", "tenant_a", pw_a.expose_secret())
        .await
        .expect("SCRAM login");
    let err = login(cluster.port(), "tenant_a", "tenant_a", "wrong-password")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INVALID_PASSWORD), "{err}");
    let err = login(cluster.port(), "tenant_a", "tenant_b", pw_a.expose_secret())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");

    // Rotation: the old password stops working, the new one works.
    let rotated = adapter
        .rotate_password(
            &a.meta.reference.id(),
            Some(SecretString::from("Brand-New-Pw-2".to_owned())),
        )
        .await
        .unwrap();
    assert_eq!(rotated.password.unwrap().expose_secret(), "Brand-New-Pw-2");
    assert!(
        login(cluster.port(), "tenant_a", "tenant_a", pw_a.expose_secret())
            .await
            .is_err()
    );
    login(cluster.port(), "tenant_a", "tenant_a", "Brand-New-Pw-2")
        .await
        .expect("rotated password");
    // A non-ASCII password (SASLprep) logs in too.
    adapter
        .rotate_password(
            &a.meta.reference.id(),
            Some(SecretString::from("Pässwört\u{00A0}№1".to_owned())),
        )
        .await
        .unwrap();
    login(cluster.port(), "tenant_a", "tenant_a", "Pässwört\u{00A0}№1")
        .await
        .expect("SASLprep'd password");

    drop(client);
    adapter.delete(&a.meta.reference.id()).await.unwrap();
    adapter.delete(&b.meta.reference.id()).await.unwrap();
    let left: i64 = login(cluster.port(), "postgres", "postgres", ADMIN_PASSWORD)
        .await
        .unwrap()
        .query_one(
            "SELECT (SELECT count(*) FROM pg_database WHERE datname LIKE 'tenant%') + \
             (SELECT count(*) FROM pg_roles WHERE rolname LIKE 'tenant%')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

/// Whether the adapter's own admin connection is encrypted (`Err` when it cannot connect).
async fn admin_ssl(
    cluster: &PgCluster,
    host: &str,
    mode: SslMode,
    ca: bool,
) -> Result<bool, String> {
    let mut config = PostgresConfig::from_url(&cluster.url_with_password(ADMIN_PASSWORD))
        .unwrap()
        .with_tls(mode);
    config.host = host.into();
    if ca {
        config = config.with_ca_certificates_pem(cluster.ca_pem().unwrap().to_owned());
    }
    let adapter = PostgresAdapter::new("modes", config).unwrap();
    let rows = adapter
        .client()
        .query(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(rows[0].get(0))
}

/// Issue 12 item 10: every libpq sslmode, as libpq reads it. The server's
/// certificate is for IP 127.0.0.1 only, so `localhost` is the wrong name.
#[tokio::test]
async fn every_sslmode_encrypts_and_verifies_as_libpq_does() {
    let cluster = secured_cluster();
    let ip = "127.0.0.1";
    assert_eq!(
        admin_ssl(&cluster, ip, SslMode::Disable, false).await,
        Ok(false)
    );
    assert_eq!(
        admin_ssl(&cluster, ip, SslMode::Allow, false).await,
        Ok(false)
    );
    assert_eq!(
        admin_ssl(&cluster, ip, SslMode::Prefer, false).await,
        Ok(true)
    );
    // require: encrypted without a CA to check against; with one, the chain is checked.
    assert_eq!(
        admin_ssl(&cluster, ip, SslMode::Require, false).await,
        Ok(true)
    );
    assert_eq!(
        admin_ssl(&cluster, ip, SslMode::Require, true).await,
        Ok(true)
    );
    // verify-ca: the chain must be trusted, the name may differ.
    assert!(admin_ssl(&cluster, ip, SslMode::VerifyCa, false)
        .await
        .is_err());
    assert_eq!(
        admin_ssl(&cluster, "localhost", SslMode::VerifyCa, true).await,
        Ok(true)
    );
    // verify-full: trusted chain and the right name.
    assert!(admin_ssl(&cluster, ip, SslMode::VerifyFull, false)
        .await
        .is_err());
    assert!(admin_ssl(&cluster, "localhost", SslMode::VerifyFull, true)
        .await
        .is_err());
    assert_eq!(
        admin_ssl(&cluster, ip, SslMode::VerifyFull, true).await,
        Ok(true)
    );
}

/// `allow` tries plain first and, when the server refuses plain connections
/// (`hostssl` only in pg_hba.conf), connects again encrypted, as libpq does.
#[tokio::test]
async fn allow_falls_back_to_tls_when_the_server_refuses_plain() {
    let cluster = secured_cluster();
    std::fs::write(
        cluster.data_dir().join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
    )
    .unwrap();
    cluster.reload();
    // The reload is asynchronous: wait until plain connections are refused.
    let mut refused = None;
    for _ in 0..100 {
        match admin_ssl(&cluster, "127.0.0.1", SslMode::Disable, false).await {
            Err(e) => {
                refused = Some(e);
                break;
            }
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    let refused = refused.expect("the server refuses plain connections after the reload");
    assert!(
        refused.contains("no encryption") || refused.contains("pg_hba"),
        "{refused}"
    );
    assert_eq!(
        admin_ssl(&cluster, "127.0.0.1", SslMode::Allow, false).await,
        Ok(true)
    );
}

/// Start a create that runs every step and then never answers; drop it once
/// the database is marked ready: a create whose reply was lost.
async fn create_and_lose_the_reply(adapter: &PostgresAdapter, spec: &ResourceSpec) {
    adapter.inject(ProvisionStep::SecureDatabase, FaultTiming::HangAfter);
    let ResourceSpec::Database(db) = spec else {
        panic!()
    };
    let create = adapter.create(spec);
    tokio::pin!(create);
    let lost = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            tokio::select! {
                r = &mut create => panic!("the create was to hang, it returned {r:?}"),
                _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
            }
            let observed = adapter
                .observe(
                    &stackdock_core::ResourceId::new(
                        stackdock_core::ResourceKind::Database,
                        &db.name,
                    ),
                    None,
                )
                .await
                .unwrap();
            if observed
                .resource
                .is_some_and(|r| r.status() == stackdock_core::ResourceStatus::Active)
            {
                return;
            }
        }
    })
    .await;
    lost.expect("the create's SQL ran");
}

/// Issue 16 item 13: the reply of a create is lost after its SQL ran; the
/// create is repeated with the password the caller generated (and vaulted)
/// before the first call, and that password logs in.
#[tokio::test]
async fn a_create_whose_reply_is_lost_is_recovered_with_the_callers_password() {
    let cluster = secured_cluster();
    let adapter =
        PostgresAdapter::from_url("lost", &cluster.url_with_password(ADMIN_PASSWORD)).unwrap();
    let spec = ResourceSpec::from(DatabaseSpec {
        name: "tenant_lost".into(),
        password: Some(SecretString::from("Vaulted-Before-1".to_owned())),
        ..Default::default()
    });
    create_and_lose_the_reply(&adapter, &spec).await;
    let Resource::Database(db) = adapter.create(&spec).await.unwrap().resource else {
        panic!()
    };
    let password = db
        .connection
        .unwrap()
        .password
        .expect("the caller's password is handed back");
    assert_eq!(password.expose_secret(), "Vaulted-Before-1");
    login(
        cluster.port(),
        "tenant_lost",
        "tenant_lost",
        "Vaulted-Before-1",
    )
    .await
    .expect("the caller's password logs in");
    adapter.delete(&db.meta.reference.id()).await.unwrap();
}

/// Issue 16 item 13, documented recovery: the adapter generated the password
/// and the reply carrying it was lost; with `rotate_password_on_adopt` the
/// repeated create sets a new one and hands it back.
#[tokio::test]
async fn a_lost_generated_password_is_replaced_when_rotate_password_on_adopt_is_set() {
    let cluster = secured_cluster();
    let config = PostgresConfig::from_url(&cluster.url_with_password(ADMIN_PASSWORD)).unwrap();
    let spec = ResourceSpec::from(DatabaseSpec {
        name: "tenant_gen".into(),
        ..Default::default()
    });
    let plain = PostgresAdapter::new("lost", config.clone()).unwrap();
    create_and_lose_the_reply(&plain, &spec).await;
    // Without the option the password stays lost, as documented.
    let Resource::Database(adopted) = plain.create(&spec).await.unwrap().resource else {
        panic!()
    };
    assert!(adopted.connection.unwrap().password.is_none());
    let rotating =
        PostgresAdapter::new("lost", config.with_rotate_password_on_adopt(true)).unwrap();
    let Resource::Database(db) = rotating.create(&spec).await.unwrap().resource else {
        panic!()
    };
    let password = db.connection.unwrap().password.expect("a new password");
    login(
        cluster.port(),
        "tenant_gen",
        "tenant_gen",
        password.expose_secret(),
    )
    .await
    .expect("the new password logs in");
    rotating.delete(&db.meta.reference.id()).await.unwrap();
}
