//! The admin connection pool and the only two ways SQL leaves this crate.
//!
//! Every SQL text sent to the server goes through [`PgClient::query`] or
//! [`PgClient::batch`], which count it ([`PgClient::sql_sent`]): the tests use
//! the count to prove that rejected input sends nothing.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use deadpool_postgres::Pool;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use stackdock_core::{Error, Result};

use crate::config::PostgresConfig;
use crate::error::{map_pg_error, map_pool_error};

/// A pool of admin connections (tokio-postgres under deadpool).
///
/// Connections open lazily: building a client sends nothing.
#[derive(Clone)]
pub struct PgClient {
    pool: Pool,
    lock_timeout: std::time::Duration,
    sent: Arc<AtomicUsize>,
    /// When `Some`, every SQL text sent is kept (for snapshot tests).
    log: Arc<Mutex<Option<Vec<String>>>>,
    /// When `Some(k)`, the k-th SQL text from now fails instead of being sent.
    fail_in: Arc<Mutex<Option<usize>>>,
}

impl fmt::Debug for PgClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgClient")
            .field("pool_size", &status.size)
            .field("pool_max", &status.max_size)
            .field("sql_sent", &self.sql_sent())
            .finish()
    }
}

impl PgClient {
    /// A pool for `config`. Opens no connection yet.
    pub fn new(config: &PostgresConfig) -> Result<Self> {
        let options = stackdock_pg::PoolOptions::default()
            .with_max_connections(config.max_connections.max(1))
            .with_connect_timeout(config.connect_timeout)
            .with_wait_timeout(config.pool_wait_timeout);
        let pool =
            stackdock_pg::build_pool(config.to_pg_config(), &config.tls_settings(), &options)?;
        Ok(PgClient {
            pool,
            lock_timeout: config.lock_timeout,
            sent: Arc::new(AtomicUsize::new(0)),
            log: Arc::new(Mutex::new(None)),
            fail_in: Arc::new(Mutex::new(None)),
        })
    }

    /// How many SQL texts this client has sent to the server.
    pub fn sql_sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    /// Start (or stop) keeping every SQL text sent; for snapshot tests.
    #[doc(hidden)]
    pub fn record_sql(&self, on: bool) {
        *self.log.lock().unwrap_or_else(|e| e.into_inner()) = on.then(Vec::new);
    }

    /// The SQL texts kept since recording started (recording goes on).
    #[doc(hidden)]
    pub fn take_sql_log(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Make the `k`-th SQL text from now (1-based) fail, unsent, with a
    /// temporary [`Unavailable`](stackdock_core::ErrorKind::Unavailable) as if
    /// the connection broke; for the conformance suite's "nothing half-made".
    #[doc(hidden)]
    pub fn fail_statement(&self, k: usize) {
        *self.fail_in.lock().unwrap_or_else(|e| e.into_inner()) = Some(k.max(1));
    }

    /// Remove a pending [`fail_statement`](Self::fail_statement) fault.
    #[doc(hidden)]
    pub fn clear_faults(&self) {
        *self.fail_in.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Counts (and logs) `sql` before it is sent, or fails it when it is the
    /// statement a fault was placed on.
    fn count(&self, sql: &str) -> Result<()> {
        {
            let mut fail_in = self.fail_in.lock().unwrap_or_else(|e| e.into_inner());
            match *fail_in {
                Some(1) => {
                    *fail_in = None;
                    return Err(Error::new(stackdock_core::ErrorKind::Unavailable)
                        .with_message(format!("fault injected before {}", first_words(sql))));
                }
                Some(k) => *fail_in = Some(k - 1),
                None => {}
            }
        }
        self.sent.fetch_add(1, Ordering::SeqCst);
        if let Some(log) = self.log.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            log.push(sql.to_owned());
        }
        Ok(())
    }

    /// Check out one connection for several statements (and, with
    /// [`Session::lock`], for exclusive work on one name).
    pub async fn session(&self) -> Result<Session<'_>> {
        let conn = self.pool.get().await.map_err(|e| map_pool_error(e, &[]))?;
        Ok(Session {
            client: self,
            conn: Some(conn),
            locked: false,
        })
    }

    /// Run one parameterised query (prepared once per connection, then cached).
    pub async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        self.session().await?.query(sql, params).await
    }

    /// Send `sql` as one simple-protocol message (see [`Session::batch`]).
    pub async fn batch(&self, sql: &str) -> Result<()> {
        self.session().await?.batch(sql).await
    }

    /// Close the pool; later calls fail.
    pub fn close(&self) {
        self.pool.close();
    }
}

/// Advisory-lock namespace of StackDock (first key of `pg_advisory_lock(int4, int4)`).
pub const LOCK_NAMESPACE: i32 = 0x5D0C_0001;

/// One checked-out admin connection.
///
/// While it holds an advisory lock and is dropped without
/// [`unlock`](Session::unlock) (an error path, or the caller's future was
/// cancelled), the connection is taken out of the pool and closed, so the
/// server releases the lock instead of a pooled connection keeping it forever.
pub struct Session<'a> {
    client: &'a PgClient,
    conn: Option<deadpool_postgres::Object>,
    locked: bool,
}

impl fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("locked", &self.locked)
            .finish()
    }
}

impl Session<'_> {
    fn conn(&self) -> Result<&deadpool_postgres::Object> {
        self.conn
            .as_ref()
            .ok_or_else(|| Error::internal("session used after its connection was released"))
    }

    /// Run one parameterised query (prepared once per connection, then cached).
    pub async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let conn = self.conn()?;
        self.client.count(sql)?;
        let stmt = conn
            .prepare_cached(sql)
            .await
            .map_err(|e| map_pg_error(&e, &[]))?;
        conn.query(&stmt, params)
            .await
            .map_err(|e| map_pg_error(&e, &[]))
    }

    /// Send `sql` as one simple-protocol message: one round trip. Several
    /// `;`-separated statements run as one implicit transaction (all or
    /// nothing); `CREATE/DROP DATABASE` must be sent alone.
    pub async fn batch(&self, sql: &str) -> Result<()> {
        let conn = self.conn()?;
        self.client.count(sql)?;
        tracing::debug!(statement = %first_words(sql), "postgres admin statement");
        conn.batch_execute(sql)
            .await
            .map_err(|e| map_pg_error(&e, &[]))
    }

    /// Wait for the session-level advisory lock on `name`: concurrent
    /// provisionings and deletions of one database take turns.
    ///
    /// Gives up with [`ErrorKind::Timeout`](stackdock_core::ErrorKind::Timeout)
    /// after `PostgresConfig::lock_timeout`.
    pub async fn lock(&mut self, name: &str) -> Result<()> {
        // Counted as locked from the moment the request is sent: if we stop
        // waiting (timeout, cancelled future, error) the server may still
        // grant it, so this connection must be closed, never pooled.
        self.locked = true;
        let wait = tokio::time::timeout(
            self.client.lock_timeout,
            self.query(
                "SELECT pg_catalog.pg_advisory_lock($1, pg_catalog.hashtext($2))",
                &[&LOCK_NAMESPACE, &name],
            ),
        )
        .await;
        match wait {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(
                Error::new(stackdock_core::ErrorKind::Timeout).with_message(format!(
                    "another operation on {name} held its lock for more than {:?}",
                    self.client.lock_timeout
                )),
            ),
        }
    }

    /// Release the lock taken by [`lock`](Session::lock).
    pub async fn unlock(&mut self, name: &str) -> Result<()> {
        if self.locked {
            self.query(
                "SELECT pg_catalog.pg_advisory_unlock($1, pg_catalog.hashtext($2))",
                &[&LOCK_NAMESPACE, &name],
            )
            .await?;
            self.locked = false;
        }
        Ok(())
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if self.locked {
            if let Some(conn) = self.conn.take() {
                // Closing the connection is what releases a session lock.
                drop(deadpool_postgres::Object::take(conn));
            }
        }
    }
}

/// The statement's verb and object, for logs: never the literals (passwords
/// are hashed, but the hash is still not for logs).
fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}
