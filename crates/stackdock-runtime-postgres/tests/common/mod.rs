//! A throwaway schema per test on the test PostgreSQL
//! (`STACKDOCK_TEST_PG_URL`, else 127.0.0.1:5432 as `scripts/test.sh` sets
//! it up), dropped afterwards even when the test panics.

#![allow(dead_code)]

use std::future::Future;

use stackdock_runtime_postgres::{PostgresStore, PostgresStoreConfig};

/// A private, throwaway server for the tests that restart it or provision
/// many databases (sessions of up to ~10 worker processes at once).
pub(crate) fn private_server() -> stackdock_testkit::pg_cluster::PgCluster {
    stackdock_testkit::pg_cluster::PgCluster::builder()
        .setting("max_connections", "300")
        .start()
}

/// The test server.
pub(crate) fn url() -> String {
    std::env::var("STACKDOCK_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh schema name.
pub(crate) fn fresh_schema(prefix: &str) -> String {
    format!("{prefix}_{}", &uuid_hex()[..12])
}

fn uuid_hex() -> String {
    stackdock_runtime::model::RunId::new().0.replace('-', "")
}

/// The config for `schema` on the test server.
pub(crate) fn config(schema: &str) -> PostgresStoreConfig {
    config_at(&url(), schema)
}

/// The config for `schema` on the server at `url`.
pub(crate) fn config_at(url: &str, schema: &str) -> PostgresStoreConfig {
    PostgresStoreConfig::from_url(url)
        .unwrap()
        .with_schema(schema)
        .unwrap()
        .with_max_connections(16)
}

/// A store in a fresh schema.
pub(crate) async fn store(schema: &str) -> PostgresStore {
    store_at(&url(), schema).await
}

/// A store in `schema` on the server at `url`.
pub(crate) async fn store_at(url: &str, schema: &str) -> PostgresStore {
    PostgresStore::connect(config_at(url, schema)).await.expect(
        "PostgreSQL for the tests (./scripts/test.sh starts it, or set STACKDOCK_TEST_PG_URL)",
    )
}

/// A plain client on the test server.
pub(crate) async fn client() -> tokio_postgres::Client {
    client_at(&url()).await
}

/// A plain client on the server at `url`.
pub(crate) async fn client_at(url: &str) -> tokio_postgres::Client {
    let info = stackdock_pg::conninfo::parse(url).unwrap();
    stackdock_pg::connect(
        &info.config,
        &stackdock_pg::TlsSettings::new(info.ssl_mode.unwrap_or_default()),
    )
    .await
    .expect("PostgreSQL for the tests")
}

/// Run `test` with a fresh schema name, then drop the schema, then pass on
/// the test's panic if it had one.
pub(crate) async fn in_fresh_schema<F, Fut>(prefix: &str, test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let schema = fresh_schema(prefix);
    let outcome = tokio::spawn(test(schema.clone())).await;
    client()
        .await
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
