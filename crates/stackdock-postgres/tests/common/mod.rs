//! Shared set-up for the real-server tests: a unique name prefix per test, a
//! raw admin connection for assertions, and a guard that removes whatever a
//! failing test left behind.
#![allow(dead_code, missing_docs, unreachable_pub)]

use std::sync::Arc;

use rand::distributions::{Alphanumeric, DistString};
use stackdock_postgres::{PostgresAdapter, PostgresConfig};
use tokio_postgres::{Client, NoTls};

/// Where the tests find PostgreSQL.
pub fn admin_url() -> String {
    std::env::var("STACKDOCK_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A raw admin connection, outside the crate under test.
pub async fn raw_admin() -> Client {
    let (client, conn) = tokio_postgres::connect(&admin_url(), NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach PostgreSQL at {} (set STACKDOCK_TEST_PG_URL or start the server; \
                 ./scripts/test.sh does): {e}",
                stackdock_core::secret::redact_url(&admin_url())
            )
        });
    tokio::spawn(conn);
    client
}

/// One test's world: names under a unique prefix.
pub struct TestEnv {
    pub prefix: String,
    pub adapter: Arc<PostgresAdapter>,
    pub admin: Client,
}

impl TestEnv {
    pub async fn new() -> Self {
        let prefix = format!(
            "sdt_{}_",
            Alphanumeric
                .sample_string(&mut rand::thread_rng(), 8)
                .to_ascii_lowercase()
        );
        TestEnv {
            adapter: Arc::new(Self::adapter_with(
                PostgresConfig::from_url(&admin_url()).unwrap(),
            )),
            admin: raw_admin().await,
            prefix,
        }
    }

    pub fn adapter_with(config: PostgresConfig) -> PostgresAdapter {
        PostgresAdapter::new("test-dock", config).expect("adapter builds")
    }

    /// A fresh adapter on the same server (own fault hook, own statement count).
    pub fn new_adapter(&self) -> PostgresAdapter {
        Self::adapter_with(PostgresConfig::from_url(&admin_url()).unwrap())
    }

    /// A name under this test's prefix.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// Databases and roles whose names start with `prefix`.
    pub async fn leftovers_of(&self, prefix: &str) -> Vec<String> {
        let rows = self
            .admin
            .query(
                "SELECT 'database ' || datname FROM pg_database WHERE starts_with(datname::text, $1) \
                 UNION ALL SELECT 'role ' || rolname FROM pg_roles WHERE starts_with(rolname::text, $1) \
                 ORDER BY 1",
                &[&prefix],
            )
            .await
            .unwrap();
        rows.iter().map(|r| r.get::<_, String>(0)).collect()
    }

    /// Fail unless nothing with this test's prefix is left.
    pub async fn assert_clean(&self) {
        let left = self.leftovers_of(&self.prefix).await;
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    pub async fn db_exists(&self, name: &str) -> bool {
        self.admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await
            .unwrap()
            .is_some()
    }

    pub async fn role_exists(&self, name: &str) -> bool {
        self.admin
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
            .await
            .unwrap()
            .is_some()
    }

    pub async fn stored_verifier(&self, role: &str) -> String {
        self.admin
            .query_one(
                "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
                &[&role],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// Whether password logins over TCP are really checked (pg_hba not `trust`).
    pub async fn tcp_auth_checks_passwords(&self) -> bool {
        let rows = self
            .admin
            .query(
                "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' AND error IS NULL",
                &[],
            )
            .await
            .unwrap();
        !rows.is_empty()
            && rows
                .iter()
                .map(|r| r.get::<_, String>(0))
                .all(|m| m == "scram-sha-256" || m == "md5")
    }
}

impl Drop for TestEnv {
    /// Remove anything left under the prefix, even when the test panicked.
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let admin = raw_admin().await;
                let dbs = admin
                    .query(
                        "SELECT datname::text FROM pg_database WHERE starts_with(datname::text, $1)",
                        &[&prefix],
                    )
                    .await
                    .unwrap();
                for r in dbs {
                    let name: String = r.get(0);
                    let _ = admin
                        .batch_execute(&format!(
                            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                            name.replace('"', "\"\"")
                        ))
                        .await;
                }
                let roles = admin
                    .query(
                        "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname::text, $1)",
                        &[&prefix],
                    )
                    .await
                    .unwrap();
                for r in roles {
                    let name: String = r.get(0);
                    let q = format!("\"{}\"", name.replace('"', "\"\""));
                    let _ = admin
                        .batch_execute(&format!(
                            "REASSIGN OWNED BY {q} TO CURRENT_USER; DROP OWNED BY {q}; DROP ROLE {q}"
                        ))
                        .await;
                }
            })
        })
        .join();
    }
}

/// The adapter's statement faults as the conformance suite's fault hook:
/// the k-th SQL text from now fails unsent, as if the connection broke.
pub struct StatementFaults(pub Arc<PostgresAdapter>);

impl stackdock_testkit::FaultHook for StatementFaults {
    fn fail_call(&self, k: usize) {
        self.0.fail_statement(k);
    }

    fn clear(&self) {
        self.0.clear_faults();
    }
}
