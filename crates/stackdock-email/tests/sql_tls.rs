//! The SQL backend's connections follow the URL's `sslmode` through the
//! workspace's one PostgreSQL plumbing (`stackdock-pg`); it used to connect
//! with `NoTls` only, so `sslmode=require` could not connect at all.

mod support;

use stackdock_email::sql::MailStore;
use support::{raw_client, TestSchema};

/// Whether the store's connection that last ran a query naming `schema` is encrypted.
async fn store_connection_is_encrypted(schema: &str) -> bool {
    let row = raw_client()
        .await
        .query_one(
            "SELECT coalesce(bool_and(s.ssl), false) FROM pg_catalog.pg_stat_activity a \
             JOIN pg_catalog.pg_stat_ssl s USING (pid) \
             WHERE a.application_name = 'stackdock-email' AND strpos(a.query, $1) > 0",
            &[&schema],
        )
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test]
async fn the_mail_store_connects_over_tls_when_the_url_requires_it() {
    let schema = TestSchema::new();
    let mut config = schema.config();
    let sep = if support::pg_url().contains('?') {
        '&'
    } else {
        '?'
    };
    config.url = format!("{}{sep}sslmode=require", support::pg_url()).into();
    let store = MailStore::connect(&config).await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.schema_version().await.unwrap() > 0);
    assert!(store_connection_is_encrypted(&schema.name).await);
    drop(store);
    schema.cleanup().await;
}
