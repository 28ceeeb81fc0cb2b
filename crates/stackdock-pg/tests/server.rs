//! The plumbing against the real PostgreSQL on 127.0.0.1:5432 (or
//! `STACKDOCK_TEST_PG_URL`): pools and one-off connections open, and server
//! errors come back as the kinds the table promises.

use stackdock_core::ErrorKind;
use stackdock_pg::{build_pool, connect, conninfo, map_pg_error, quote_ident, quote_literal};
use stackdock_pg::{PoolOptions, SslMode, TlsSettings};

fn url() -> String {
    std::env::var("STACKDOCK_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn tls(mode: SslMode) -> TlsSettings {
    TlsSettings::new(mode)
}

async fn client() -> tokio_postgres::Client {
    let info = conninfo::parse(&url()).unwrap();
    connect(&info.config, &tls(info.ssl_mode.unwrap_or_default()))
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (./scripts/test.sh starts it)")
}

/// The kind the server's answer to `sql` maps to.
async fn kind_of(c: &tokio_postgres::Client, sql: &str) -> ErrorKind {
    let err = c.batch_execute(sql).await.expect_err(sql);
    map_pg_error(&err, &[]).kind().clone()
}

#[tokio::test]
async fn a_pool_connects_under_disable_allow_and_prefer() {
    let info = conninfo::parse(&url()).unwrap();
    for mode in [SslMode::Disable, SslMode::Allow, SslMode::Prefer] {
        let pool = build_pool(info.config.clone(), &tls(mode), &PoolOptions::default()).unwrap();
        let conn = pool.get().await.unwrap_or_else(|e| panic!("{mode}: {e}"));
        let one: i32 = conn.query_one("SELECT 1", &[]).await.unwrap().get(0);
        assert_eq!(one, 1);
    }
}

#[tokio::test]
async fn server_errors_map_to_their_kinds() {
    let c = client().await;
    let t = format!("stackdock_pg_test_{}", std::process::id());
    let qt = quote_ident(&t).unwrap();
    c.batch_execute(&format!(
        "CREATE TEMP TABLE {qt} (id int PRIMARY KEY CHECK (id > 0)); INSERT INTO {qt} VALUES (1)"
    ))
    .await
    .unwrap();
    let dup = format!("INSERT INTO {qt} VALUES (1)");
    assert_eq!(kind_of(&c, &dup).await, ErrorKind::AlreadyExists);
    let check = format!("INSERT INTO {qt} VALUES (-1)");
    assert!(matches!(
        kind_of(&c, &check).await,
        ErrorKind::InvalidInput { .. }
    ));
    assert_eq!(kind_of(&c, "SELEC 1").await, ErrorKind::Internal);
    assert_eq!(
        kind_of(&c, "DROP ROLE stackdock_no_such_role_x").await,
        ErrorKind::NotFound
    );
    let slow = "SET statement_timeout = 20; SELECT pg_sleep(2)";
    assert_eq!(kind_of(&c, slow).await, ErrorKind::Timeout);
    assert!(matches!(
        kind_of(&c, "SELECT 1/0").await,
        ErrorKind::Provider { .. }
    ));
}

#[tokio::test]
async fn a_wrong_password_is_unauthenticated_and_never_echoed() {
    // The shared server may trust loopback; a role that cannot log in is
    // refused whatever the password, with a 28xxx SQLSTATE.
    let admin = client().await;
    let role = format!("stackdock_pg_nologin_{}", std::process::id());
    let qr = quote_ident(&role).unwrap();
    admin
        .batch_execute(&format!("CREATE ROLE {qr} NOLOGIN"))
        .await
        .unwrap();
    let mut config = conninfo::parse(&url()).unwrap().config;
    config.user(&role).password("Not-Shown-7");
    let err = connect(&config, &tls(SslMode::Disable)).await.unwrap_err();
    admin
        .batch_execute(&format!("DROP ROLE {qr}"))
        .await
        .unwrap();
    assert_eq!(err.kind(), &ErrorKind::Unauthenticated, "{err}");
    assert!(!format!("{err} {err:?}").contains("Not-Shown-7"));
}

#[tokio::test]
async fn quoted_text_comes_back_unchanged() {
    let c = client().await;
    for s in [
        "plain",
        "it's",
        r"back\slash",
        "both \\' '\\",
        "ünï ☃",
        "\"; DROP",
    ] {
        let row = c
            .query_one(&format!("SELECT {}::text", quote_literal(s).unwrap()), &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), s);
        let row = c
            .query_one(&format!("SELECT 1 AS {}", quote_ident(s).unwrap()), &[])
            .await
            .unwrap();
        assert_eq!(row.columns()[0].name(), s);
    }
}

#[tokio::test]
async fn a_listening_connection_receives_notifications_and_its_receiver_ends_with_it() {
    let info = conninfo::parse(&url()).unwrap();
    let settings = tls(info.ssl_mode.unwrap_or_default());
    let (listener, mut notifications) = stackdock_pg::connect_listening(&info.config, &settings)
        .await
        .unwrap();
    let channel = format!("stackdock_pg_test_{}", std::process::id());
    listener
        .batch_execute(&format!("LISTEN {channel}"))
        .await
        .unwrap();
    let sender = client().await;
    sender
        .execute("SELECT pg_notify($1, 'hello')", &[&channel])
        .await
        .unwrap();
    let n = notifications.recv().await.expect("the notification");
    assert_eq!((n.channel(), n.payload()), (channel.as_str(), "hello"));
    let pid = listener
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap();
    let pid: i32 = pid.get(0);
    sender
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    assert!(
        notifications.recv().await.is_none(),
        "the receiver ends when the connection does"
    );
}
