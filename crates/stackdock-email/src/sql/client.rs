//! [`MailStore`]: the Postfix/Dovecot tables in PostgreSQL.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use deadpool_postgres::Transaction;
use deadpool_postgres::{Object, Pool};
use stackdock_core::secret::SecretString;
use stackdock_core::{CreateOutcome, Error, Result};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::config::{quote_ident, SqlConfig};
use super::error::{from_pg, from_pool};
use super::redacted::HashParam;
use super::schema::{CURRENT_VERSION, MIGRATIONS};
use crate::hash::{validate_password, PasswordHash, PasswordHasher};
use crate::model::*;

/// Default and largest page size of the list operations.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest page size.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// What to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only this (canonical) domain.
    pub domain: Option<String>,
    /// Only this tenant (on top of the scope).
    pub tenant: Option<String>,
    /// Only entries carrying all these labels.
    pub labels: BTreeMap<String, String>,
    /// Only entries whose key sorts after this one (byte order).
    pub after: Option<String>,
    /// At most this many (default [`DEFAULT_PAGE_SIZE`], capped at [`MAX_PAGE_SIZE`]).
    pub limit: Option<u32>,
}

/// Mailboxes, forwarders and domains in PostgreSQL, in the layout Postfix's
/// `pgsql:` maps and Dovecot's SQL passdb read (see the crate README).
///
/// Every change runs in one transaction; every operation takes a [`Scope`]
/// and never reads or changes rows outside it. Passwords are hashed with the
/// configured scheme before they reach the database.
///
/// ```no_run
/// use stackdock_core::secret::SecretString;
/// use stackdock_email::model::{NewMailbox, Scope};
/// use stackdock_email::sql::{MailStore, SqlConfig};
/// # async fn demo() -> stackdock_core::Result<()> {
/// let store = MailStore::connect(&SqlConfig::new("postgres://mailadmin@127.0.0.1/mail")).await?;
/// store.migrate().await?;
/// let scope = Scope::tenant("acme")?;
/// store.create_mailbox(&scope, &NewMailbox {
///     address: "alice@example.com".into(),
///     password: SecretString::from("Correct-Horse-1"),
///     quota_bytes: Some(1 << 30),
///     enabled: true,
///     tenant: None,
///     labels: Default::default(),
/// }).await?;
/// store.change_password(&scope, "alice@example.com", &SecretString::from("Battery-Staple-2")).await?;
/// store.delete_mailbox(&scope, "alice@example.com").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MailStore {
    pool: Pool,
    schema: String,
    hasher: PasswordHasher,
    sql: Arc<Sql>,
    calls: Arc<AtomicUsize>,
    /// The connection checkout (counted from 1) that fails; 0 = none.
    fail_in: Arc<AtomicUsize>,
}

impl fmt::Debug for MailStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.pool.status();
        f.debug_struct("MailStore")
            .field("schema", &self.schema)
            .field("password_scheme", &self.hasher.scheme())
            .field("pool_size", &status.size)
            .field("pool_max", &status.max_size)
            .finish()
    }
}

/// The statements, with the schema name quoted in.
struct Sql {
    insert_domain: String,
    lock_domain: String,
    lock_domain_exclusive: String,
    gc_domain: String,
    lock_user: String,
    insert_user: String,
    update_user: String,
    delete_user: String,
    select_users: String,
    lock_source: String,
    lock_aliases: String,
    insert_aliases: String,
    delete_alias_dests: String,
    update_aliases: String,
    delete_aliases: String,
    select_aliases: String,
    select_domains: String,
    delete_domain: String,
}

impl Sql {
    fn new(schema: &str) -> Result<Sql> {
        let s = quote_ident(schema)?;
        let domains = format!("{s}.virtual_domains");
        let users = format!("{s}.virtual_users");
        let aliases = format!("{s}.virtual_aliases");
        Ok(Sql {
            insert_domain: format!(
                "INSERT INTO {domains} (name, tenant) VALUES ($1, $2) \
                 ON CONFLICT (name) DO NOTHING RETURNING id, tenant"
            ),
            lock_domain: format!("SELECT id, tenant FROM {domains} WHERE name = $1 FOR SHARE"),
            lock_domain_exclusive: format!("SELECT id FROM {domains} WHERE name = $1 FOR UPDATE"),
            // Run as its own statement after `lock_domain_exclusive`: its
            // snapshot then sees every entry committed while we waited.
            gc_domain: format!(
                "DELETE FROM {domains} d WHERE d.id = $1 \
                 AND NOT EXISTS (SELECT 1 FROM {users} u WHERE u.domain_id = d.id) \
                 AND NOT EXISTS (SELECT 1 FROM {aliases} a WHERE a.domain_id = d.id)"
            ),
            lock_user: format!(
                "SELECT password, quota, enabled, tenant FROM {users} \
                 WHERE email = $1 AND ($2::varchar IS NULL OR tenant = $2) FOR UPDATE"
            ),
            insert_user: format!(
                "INSERT INTO {users} (domain_id, email, password, quota, enabled, tenant, labels) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (email) DO NOTHING"
            ),
            update_user: format!(
                "UPDATE {users} SET password = coalesce($3, password), quota = coalesce($4, quota), \
                 enabled = coalesce($5, enabled), labels = coalesce($6, labels), updated_at = now() \
                 WHERE email = $1 AND ($2::varchar IS NULL OR tenant = $2)"
            ),
            delete_user: format!(
                "DELETE FROM {users} WHERE email = $1 AND ($2::varchar IS NULL OR tenant = $2)"
            ),
            select_users: format!(
                "SELECT u.email, d.name, u.quota, u.enabled, u.tenant, u.labels, u.created_at, u.updated_at \
                 FROM {users} u JOIN {domains} d ON d.id = u.domain_id \
                 WHERE ($1::varchar IS NULL OR u.tenant = $1) \
                   AND ($2::varchar IS NULL OR d.name = $2) \
                   AND ($3::varchar IS NULL OR u.tenant = $3) \
                   AND u.labels @> $4::jsonb \
                   AND ($5::varchar IS NULL OR u.email COLLATE \"C\" > $5) \
                   AND ($6::varchar IS NULL OR u.email = $6) \
                 ORDER BY u.email COLLATE \"C\" LIMIT $7"
            ),
            lock_source: "SELECT pg_advisory_xact_lock(hashtext($1))".to_owned(),
            lock_aliases: format!(
                "SELECT destination, enabled, tenant, domain_id, labels FROM {aliases} \
                 WHERE source = $1 AND ($2::varchar IS NULL OR tenant = $2) \
                 ORDER BY destination COLLATE \"C\" FOR UPDATE"
            ),
            insert_aliases: format!(
                "INSERT INTO {aliases} (domain_id, source, destination, enabled, tenant, labels) \
                 SELECT $1, $2, d, $4, $5, $6 FROM unnest($3::varchar[]) AS d \
                 ON CONFLICT (source, destination) DO NOTHING"
            ),
            delete_alias_dests: format!(
                "DELETE FROM {aliases} WHERE source = $1 AND ($2::varchar IS NULL OR tenant = $2) \
                 AND destination = ANY($3::varchar[])"
            ),
            update_aliases: format!(
                "UPDATE {aliases} SET enabled = coalesce($3, enabled), labels = coalesce($4, labels) \
                 WHERE source = $1 AND ($2::varchar IS NULL OR tenant = $2)"
            ),
            delete_aliases: format!(
                "DELETE FROM {aliases} WHERE source = $1 AND ($2::varchar IS NULL OR tenant = $2)"
            ),
            select_aliases: format!(
                "SELECT a.source, d.name, array_agg(a.destination ORDER BY a.destination COLLATE \"C\"), \
                   bool_and(a.enabled), min(a.tenant), (array_agg(a.labels))[1], min(a.created_at) \
                 FROM {aliases} a JOIN {domains} d ON d.id = a.domain_id \
                 WHERE ($1::varchar IS NULL OR a.tenant = $1) \
                   AND ($2::varchar IS NULL OR d.name = $2) \
                   AND ($3::varchar IS NULL OR a.tenant = $3) \
                   AND a.labels @> $4::jsonb \
                   AND ($5::varchar IS NULL OR a.source COLLATE \"C\" > $5) \
                   AND ($6::varchar IS NULL OR a.source = $6) \
                 GROUP BY a.source, d.name ORDER BY a.source COLLATE \"C\" LIMIT $7"
            ),
            select_domains: format!(
                "SELECT name, tenant, created_at FROM {domains} \
                 WHERE ($1::varchar IS NULL OR tenant = $1) ORDER BY name COLLATE \"C\""
            ),
            delete_domain: format!(
                "DELETE FROM {domains} WHERE name = $1 AND ($2::varchar IS NULL OR tenant = $2)"
            ),
        })
    }
}

/// One audit line per mutation attempt that reached the database: what, on
/// which key, for which tenant, and the outcome. Never a password or hash.
fn audit<T>(op: &str, key: &str, scope: &Scope, result: &Result<T>) {
    match result {
        Ok(_) => {
            tracing::info!(target: "stackdock_email::audit", operation = op, key, tenant = ?scope.as_tenant(), outcome = "ok")
        }
        Err(e) => {
            tracing::warn!(target: "stackdock_email::audit", operation = op, key, tenant = ?scope.as_tenant(), outcome = e.kind().as_str())
        }
    }
}

fn labels_json(labels: &BTreeMap<String, String>) -> serde_json::Value {
    serde_json::to_value(labels).unwrap_or_else(|_| serde_json::json!({}))
}

fn labels_from(value: serde_json::Value) -> BTreeMap<String, String> {
    serde_json::from_value(value).unwrap_or_default()
}

fn quota_to_db(quota: Option<u64>) -> Result<i64> {
    check_quota(quota)?;
    // Bounded by MAX_QUOTA_BYTES (2^50), so the conversion cannot fail.
    i64::try_from(quota.unwrap_or(0)).map_err(|_| Error::invalid_input("quota_bytes", "too large"))
}

fn quota_from_db(quota: i64) -> Option<u64> {
    u64::try_from(quota).ok().filter(|q| *q > 0)
}

fn limit_of(filter: &ListFilter) -> i64 {
    i64::from(
        filter
            .limit
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE),
    )
}

fn mailbox_from(row: &Row) -> MailboxRecord {
    MailboxRecord {
        address: row.get(0),
        domain: row.get(1),
        quota_bytes: quota_from_db(row.get(2)),
        enabled: row.get(3),
        tenant: row.get(4),
        labels: labels_from(row.get(5)),
        created_at: row.get(6),
        updated_at: row.get(7),
    }
}

fn forwarder_from(row: &Row) -> ForwarderRecord {
    ForwarderRecord {
        source: row.get(0),
        domain: row.get(1),
        destinations: row.get(2),
        enabled: row.get(3),
        tenant: row.get(4),
        labels: labels_from(
            row.get::<_, Option<serde_json::Value>>(5)
                .unwrap_or_default(),
        ),
        created_at: row.get(6),
    }
}

/// Whether an existing mailbox row (`lock_user`) is the one `new` asks for:
/// `Ok` adopts it, otherwise `AlreadyExists` (another tenant's) or `Conflict`.
async fn same_mailbox(
    row: &Row,
    address: &str,
    owner: &Option<String>,
    quota: i64,
    new: &NewMailbox,
) -> Result<()> {
    let tenant: Option<String> = row.get(3);
    if &tenant != owner {
        return Err(Error::already_exists(format!(
            "mailbox {address} belongs to another tenant"
        )));
    }
    let mut differs = Vec::new();
    if row.get::<_, i64>(1) != quota {
        differs.push("quota_bytes");
    }
    if row.get::<_, bool>(2) != new.enabled {
        differs.push("enabled");
    }
    if !password_matches(row.get(0), &new.password).await? {
        differs.push("password");
    }
    if differs.is_empty() {
        return Ok(());
    }
    Err(Error::conflict(format!(
        "mailbox {address} exists with different {}",
        differs.join(", ")
    )))
}

/// Whether `password` verifies against a stored `{SCHEME}hash` (off the async threads).
async fn password_matches(stored: String, password: &SecretString) -> Result<bool> {
    let Ok(hash) = PasswordHash::parse_dovecot(&stored) else {
        return Ok(false);
    };
    let password = password.clone();
    tokio::task::spawn_blocking(move || hash.verify(&password))
        .await
        .map_err(|_| Error::internal("password check task failed"))?
}

/// How often a create retries when concurrent transactions keep adding and
/// removing the same domain or entry between two of its statements.
const RACE_ATTEMPTS: usize = 5;

/// Retries exhausted: the caller may try again.
fn raced(what: String) -> Error {
    Error::conflict(format!("{what} kept changing concurrently"))
        .with_status(stackdock_core::ErrorStatus::Temporary)
}

fn canonical_address(address: &str) -> Result<String> {
    stackdock_core::validate::email_address("address", address)
}

impl MailStore {
    /// Open a connection pool (no connection is made until first use).
    pub async fn connect(config: &SqlConfig) -> Result<MailStore> {
        Self::open(config)
    }

    /// [`connect`](Self::connect) without `async`: builds the pool, makes no
    /// connection (for factories, which do no I/O).
    pub fn open(config: &SqlConfig) -> Result<MailStore> {
        config.validate()?;
        let (pg, tls) = config.pg_config()?;
        let options = stackdock_pg::PoolOptions::default()
            .with_max_connections(config.max_connections)
            .with_connect_timeout(config.connect_timeout)
            .with_wait_timeout(config.connect_timeout);
        let pool = stackdock_pg::build_pool(pg, &tls, &options)?;
        Ok(MailStore {
            pool,
            schema: config.schema.clone(),
            hasher: config.hasher()?,
            sql: Arc::new(Sql::new(&config.schema)?),
            calls: Arc::new(AtomicUsize::new(0)),
            fail_in: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The PostgreSQL schema holding the tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The hasher used for new passwords.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// How many times this store (and its clones) went to the database.
    pub fn remote_calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Make the `k`-th database call from now (1-based; one call is one
    /// connection checkout, i.e. one transaction or query) fail before it is
    /// made, with a temporary `Unavailable`: the conformance suite's fault hook.
    #[doc(hidden)]
    pub fn fail_call(&self, k: usize) {
        self.fail_in.store(k.max(1), Ordering::SeqCst);
    }

    /// Remove a pending [`fail_call`](Self::fail_call) fault.
    #[doc(hidden)]
    pub fn clear_faults(&self) {
        self.fail_in.store(0, Ordering::SeqCst);
    }

    async fn conn(&self) -> Result<Object> {
        let fault = self
            .fail_in
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |k| k.checked_sub(1));
        if fault == Ok(1) {
            return Err(Error::new(stackdock_core::ErrorKind::Unavailable)
                .with_message("fault injected before a database call"));
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.pool.get().await.map_err(from_pool)
    }

    /// Create the schema if needed and apply pending migrations, in one
    /// transaction under an advisory lock (safe to run from several processes).
    /// Returns the schema version.
    pub async fn migrate(&self) -> Result<i32> {
        let op = "migrate mail schema";
        let mut conn = self.conn().await.map_err(|e| e.with_operation(op))?;
        let tx = conn
            .transaction()
            .await
            .map_err(|e| from_pg(e).with_operation(op))?;
        let s = quote_ident(&self.schema).map_err(|e| e.with_operation(op))?;
        let lock_key = format!("stackdock-email:{}", self.schema);
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock_key])
            .await
            .map_err(|e| from_pg(e).with_operation(op))?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {s}; \
             CREATE TABLE IF NOT EXISTS {s}.stackdock_schema_migrations ( \
               version integer PRIMARY KEY, description text NOT NULL, \
               applied_at timestamptz NOT NULL DEFAULT now())"
        ))
        .await
        .map_err(|e| from_pg(e).with_operation(op))?;
        let current: i32 = tx
            .query_one(
                &format!("SELECT coalesce(max(version), 0) FROM {s}.stackdock_schema_migrations"),
                &[],
            )
            .await
            .map_err(|e| from_pg(e).with_operation(op))?
            .get(0);
        if current > CURRENT_VERSION {
            return Err(Error::config(format!(
                "schema {} is at version {current}, newer than this crate knows ({CURRENT_VERSION})",
                self.schema
            ))
            .with_operation(op));
        }
        for m in MIGRATIONS.iter().filter(|m| m.version > current) {
            tx.batch_execute(&m.sql.replace("{schema}", &s))
                .await
                .map_err(|e| {
                    from_pg(e)
                        .with_operation(op)
                        .with_context("migration", m.version.to_string())
                })?;
            tx.execute(
                &format!("INSERT INTO {s}.stackdock_schema_migrations (version, description) VALUES ($1, $2)"),
                &[&m.version, &m.description],
            )
            .await
            .map_err(|e| from_pg(e).with_operation(op))?;
            tracing::info!(schema = %self.schema, version = m.version, "applied mail schema migration");
        }
        tx.commit()
            .await
            .map_err(|e| from_pg(e).with_operation(op))?;
        Ok(CURRENT_VERSION)
    }

    /// The applied schema version (0 when the schema is not installed).
    pub async fn schema_version(&self) -> Result<i32> {
        let conn = self.conn().await?;
        let exists: bool = conn
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&format!(
                    "{}.stackdock_schema_migrations",
                    quote_ident(&self.schema)?
                )],
            )
            .await
            .map_err(from_pg)?
            .get(0);
        if !exists {
            return Ok(0);
        }
        let row = conn
            .query_one(
                &format!(
                    "SELECT coalesce(max(version), 0) FROM {}.stackdock_schema_migrations",
                    quote_ident(&self.schema)?
                ),
                &[],
            )
            .await
            .map_err(from_pg)?;
        Ok(row.get(0))
    }

    /// Make sure `domain` exists and belongs to `owner`, and hold it (`FOR
    /// SHARE`) until the transaction ends so that no delete can remove it
    /// under the entry being added; returns its id.
    async fn domain_for(
        &self,
        tx: &Transaction<'_>,
        domain: &str,
        owner: &Option<String>,
    ) -> Result<i32> {
        let lock = tx
            .prepare_cached(&self.sql.lock_domain)
            .await
            .map_err(from_pg)?;
        let insert = tx
            .prepare_cached(&self.sql.insert_domain)
            .await
            .map_err(from_pg)?;
        for _ in 0..RACE_ATTEMPTS {
            if let Some(row) = tx.query_opt(&lock, &[&domain]).await.map_err(from_pg)? {
                let tenant: Option<String> = row.get(1);
                if &tenant != owner {
                    return Err(Error::already_exists(format!(
                        "mail domain {domain} belongs to another tenant"
                    )));
                }
                return Ok(row.get(0));
            }
            // Our uncommitted row is invisible to others, so we hold it too.
            if let Some(row) = tx
                .query_opt(&insert, &[&domain, owner])
                .await
                .map_err(from_pg)?
            {
                return Ok(row.get(0));
            }
            // Another transaction inserted it after our lookup (or deleted it
            // after our insert attempt): look again.
        }
        Err(raced(format!("mail domain {domain}")))
    }

    async fn hash(&self, password: &SecretString) -> Result<PasswordHash> {
        validate_password(password, self.hasher.scheme())?;
        let hasher = self.hasher;
        let password = password.clone();
        tokio::task::spawn_blocking(move || hasher.hash(&password))
            .await
            .map_err(|_| Error::internal("password hashing task failed"))?
    }

    // ---- mailboxes ----------------------------------------------------------

    /// Create a mailbox (idempotent): if it exists in `scope` with the same
    /// quota, enabled flag and a password that verifies, it is returned
    /// unchanged; if it differs the result is `Conflict`; if it (or its
    /// domain) belongs to another tenant, `AlreadyExists`.
    pub async fn create_mailbox(&self, scope: &Scope, new: &NewMailbox) -> Result<MailboxRecord> {
        Ok(self.create_mailbox_outcome(scope, new).await?.0)
    }

    /// [`create_mailbox`](Self::create_mailbox), saying whether this call
    /// inserted the mailbox or adopted the one already there.
    pub async fn create_mailbox_outcome(
        &self,
        scope: &Scope,
        new: &NewMailbox,
    ) -> Result<(MailboxRecord, CreateOutcome)> {
        let op = "create mailbox";
        let address = canonical_address(&new.address).map_err(|e| e.with_operation(op))?;
        let owner = scope
            .owner_for(new.tenant.as_deref())
            .map_err(|e| e.with_operation(op))?;
        let quota = quota_to_db(new.quota_bytes).map_err(|e| e.with_operation(op))?;
        for (k, v) in &new.labels {
            stackdock_core::validate::label("labels", k, v).map_err(|e| e.with_operation(op))?;
        }
        let hash = self
            .hash(&new.password)
            .await
            .map_err(|e| e.with_operation(op))?;
        let domain = domain_of(&address).to_owned();
        let mut conn = self.conn().await.map_err(|e| e.with_operation(op))?;
        let result = async {
            let tx = conn.transaction().await.map_err(from_pg)?;
            let domain_id = self.domain_for(&tx, &domain, &owner).await?;
            let lock = tx
                .prepare_cached(&self.sql.lock_user)
                .await
                .map_err(from_pg)?;
            let insert = tx
                .prepare_cached(&self.sql.insert_user)
                .await
                .map_err(from_pg)?;
            let no_scope: Option<String> = None;
            for _ in 0..RACE_ATTEMPTS {
                if let Some(row) = tx
                    .query_opt(&lock, &[&address, &no_scope])
                    .await
                    .map_err(from_pg)?
                {
                    same_mailbox(&row, &address, &owner, quota, new).await?;
                    tx.commit().await.map_err(from_pg)?;
                    return Ok(CreateOutcome::Adopted);
                }
                let params: [&(dyn ToSql + Sync); 7] = [
                    &domain_id,
                    &address,
                    &HashParam(hash.dovecot()),
                    &quota,
                    &new.enabled,
                    &owner,
                    &labels_json(&new.labels),
                ];
                if tx.execute(&insert, &params).await.map_err(from_pg)? == 1 {
                    tx.commit().await.map_err(from_pg)?;
                    return Ok(CreateOutcome::Created);
                }
                // A concurrent create committed it first: compare with theirs.
            }
            Err(raced(format!("mailbox {address}")))
        }
        .await;
        drop(conn);
        audit(op, &address, scope, &result);
        let outcome = result.map_err(|e| {
            e.with_operation(op)
                .with_context("address", address.clone())
        })?;
        let record = self
            .get_mailbox(&Scope::All, &address)
            .await?
            .ok_or_else(|| {
                Error::internal("mailbox vanished right after create").with_operation(op)
            })?;
        Ok((record, outcome))
    }

    /// The mailbox, if it exists in `scope`.
    pub async fn get_mailbox(&self, scope: &Scope, address: &str) -> Result<Option<MailboxRecord>> {
        let address = canonical_address(address).map_err(|e| e.with_operation("get mailbox"))?;
        let filter = ListFilter {
            limit: Some(1),
            ..Default::default()
        };
        Ok(self
            .select_mailboxes(scope, &filter, Some(&address))
            .await?
            .into_iter()
            .next())
    }

    /// Mailboxes in `scope`, by address (byte order).
    pub async fn list_mailboxes(
        &self,
        scope: &Scope,
        filter: &ListFilter,
    ) -> Result<Vec<MailboxRecord>> {
        self.select_mailboxes(scope, filter, None).await
    }

    async fn select_mailboxes(
        &self,
        scope: &Scope,
        filter: &ListFilter,
        exact: Option<&str>,
    ) -> Result<Vec<MailboxRecord>> {
        let rows = self
            .select_rows(
                "list mailboxes",
                &self.sql.select_users,
                scope,
                filter,
                exact,
            )
            .await?;
        Ok(rows.iter().map(mailbox_from).collect())
    }

    /// Change a mailbox in one transaction. `NotFound` if it is not in `scope`.
    pub async fn update_mailbox(
        &self,
        scope: &Scope,
        address: &str,
        change: &MailboxChange,
    ) -> Result<MailboxRecord> {
        let op = "update mailbox";
        let address = canonical_address(address).map_err(|e| e.with_operation(op))?;
        let quota = match change.quota_bytes {
            Some(q) => Some(quota_to_db(q).map_err(|e| e.with_operation(op))?),
            None => None,
        };
        if let Some(labels) = &change.labels {
            for (k, v) in labels {
                stackdock_core::validate::label("labels", k, v)
                    .map_err(|e| e.with_operation(op))?;
            }
        }
        let hash = match &change.password {
            Some(pw) => Some(HashParam(
                self.hash(pw)
                    .await
                    .map_err(|e| e.with_operation(op))?
                    .dovecot(),
            )),
            None => None,
        };
        let labels = change.labels.as_ref().map(labels_json);
        let mut conn = self.conn().await.map_err(|e| e.with_operation(op))?;
        let result = async {
            let tx = conn.transaction().await.map_err(from_pg)?;
            let n = tx
                .execute(
                    &tx.prepare_cached(&self.sql.update_user)
                        .await
                        .map_err(from_pg)?,
                    &[
                        &address,
                        &scope.as_tenant(),
                        &hash,
                        &quota,
                        &change.enabled,
                        &labels,
                    ],
                )
                .await
                .map_err(from_pg)?;
            if n == 0 {
                return Err(Error::not_found(format!("mailbox {address}")));
            }
            tx.commit().await.map_err(from_pg)
        }
        .await;
        drop(conn);
        audit(op, &address, scope, &result);
        result.map_err(|e| e.with_operation(op))?;
        self.get_mailbox(scope, &address)
            .await?
            .ok_or_else(|| Error::not_found(format!("mailbox {address}")).with_operation(op))
    }

    /// Set a new password (hashed with the configured scheme).
    pub async fn change_password(
        &self,
        scope: &Scope,
        address: &str,
        password: &SecretString,
    ) -> Result<MailboxRecord> {
        let change = MailboxChange {
            password: Some(password.clone()),
            ..Default::default()
        };
        self.update_mailbox(scope, address, &change).await
    }

    /// Set the quota (`None` = unlimited).
    pub async fn change_quota(
        &self,
        scope: &Scope,
        address: &str,
        quota_bytes: Option<u64>,
    ) -> Result<MailboxRecord> {
        let change = MailboxChange {
            quota_bytes: Some(quota_bytes),
            ..Default::default()
        };
        self.update_mailbox(scope, address, &change).await
    }

    /// Enable or disable logins and delivery.
    pub async fn set_enabled(
        &self,
        scope: &Scope,
        address: &str,
        enabled: bool,
    ) -> Result<MailboxRecord> {
        let change = MailboxChange {
            enabled: Some(enabled),
            ..Default::default()
        };
        self.update_mailbox(scope, address, &change).await
    }

    /// Delete a mailbox (its domain too when nothing else is left in it).
    /// Returns whether something was deleted; deleting what is gone is `Ok(false)`.
    pub async fn delete_mailbox(&self, scope: &Scope, address: &str) -> Result<bool> {
        let op = "delete mailbox";
        let address = canonical_address(address).map_err(|e| e.with_operation(op))?;
        self.delete_entry(op, scope, &address, &self.sql.delete_user)
            .await
    }

    /// Delete one mailbox or forwarder (`delete_sql` takes key and scope
    /// tenant), then its domain if that was the last entry.
    async fn delete_entry(
        &self,
        op: &'static str,
        scope: &Scope,
        key: &str,
        delete_sql: &str,
    ) -> Result<bool> {
        let mut conn = self.conn().await.map_err(|e| e.with_operation(op))?;
        let result = async {
            let tx = conn.transaction().await.map_err(from_pg)?;
            // Domain first, exclusively, as every path locks it first: waits
            // for creates in flight and keeps two deletes from each seeing
            // the other's entry and leaving the domain behind.
            let lock = tx
                .prepare_cached(&self.sql.lock_domain_exclusive)
                .await
                .map_err(from_pg)?;
            let Some(domain) = tx
                .query_opt(&lock, &[&domain_of(key)])
                .await
                .map_err(from_pg)?
            else {
                return Ok(false); // no domain, no entries
            };
            let domain_id: i32 = domain.get(0);
            let delete = tx.prepare_cached(delete_sql).await.map_err(from_pg)?;
            let n = tx
                .execute(&delete, &[&key, &scope.as_tenant()])
                .await
                .map_err(from_pg)?;
            let gc = tx
                .prepare_cached(&self.sql.gc_domain)
                .await
                .map_err(from_pg)?;
            tx.execute(&gc, &[&domain_id]).await.map_err(from_pg)?;
            tx.commit().await.map_err(from_pg)?;
            Ok(n > 0)
        }
        .await;
        audit(op, key, scope, &result);
        result.map_err(|e: Error| e.with_operation(op))
    }

    // ---- forwarders ---------------------------------------------------------

    /// Create a forwarder (idempotent like [`create_mailbox`](Self::create_mailbox):
    /// the same destinations and enabled flag adopt, others conflict).
    pub async fn create_forwarder(
        &self,
        scope: &Scope,
        new: &NewForwarder,
    ) -> Result<ForwarderRecord> {
        Ok(self.create_forwarder_outcome(scope, new).await?.0)
    }

    /// [`create_forwarder`](Self::create_forwarder), saying whether this call
    /// inserted the forwarder or adopted the one already there.
    pub async fn create_forwarder_outcome(
        &self,
        scope: &Scope,
        new: &NewForwarder,
    ) -> Result<(ForwarderRecord, CreateOutcome)> {
        let op = "create mail forwarder";
        let source = forwarder_source(&new.source).map_err(|e| e.with_operation(op))?;
        let dests = destinations(&new.destinations).map_err(|e| e.with_operation(op))?;
        if dests.contains(&source) {
            return Err(Error::invalid_input(
                "destinations",
                "a forwarder must not forward to its own source",
            )
            .with_operation(op));
        }
        let owner = scope
            .owner_for(new.tenant.as_deref())
            .map_err(|e| e.with_operation(op))?;
        for (k, v) in &new.labels {
            stackdock_core::validate::label("labels", k, v).map_err(|e| e.with_operation(op))?;
        }
        let domain = domain_of(&source).to_owned();
        let mut conn = self.conn().await.map_err(|e| e.with_operation(op))?;
        let result = async {
            let tx = conn.transaction().await.map_err(from_pg)?;
            let domain_id = self.domain_for(&tx, &domain, &owner).await?;
            // Creates of one source take turns: each then sees the forwarder
            // the previous one committed instead of adding its destinations to it.
            let turn = tx
                .prepare_cached(&self.sql.lock_source)
                .await
                .map_err(from_pg)?;
            let key = format!("stackdock-email:{}:{source}", self.schema);
            tx.execute(&turn, &[&key]).await.map_err(from_pg)?;
            let no_scope: Option<String> = None;
            let rows = tx
                .query(
                    &tx.prepare_cached(&self.sql.lock_aliases)
                        .await
                        .map_err(from_pg)?,
                    &[&source, &no_scope],
                )
                .await
                .map_err(from_pg)?;
            if !rows.is_empty() {
                if rows.iter().any(|r| r.get::<_, Option<String>>(2) != owner) {
                    return Err(Error::already_exists(format!(
                        "forwarder {source} belongs to another tenant"
                    )));
                }
                let have: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
                let enabled = rows.iter().all(|r| r.get::<_, bool>(1));
                let mut differs = Vec::new();
                if have != dests {
                    differs.push("destinations");
                }
                if enabled != new.enabled {
                    differs.push("enabled");
                }
                if !differs.is_empty() {
                    return Err(Error::conflict(format!(
                        "forwarder {source} exists with different {}",
                        differs.join(", ")
                    )));
                }
                tx.commit().await.map_err(from_pg)?;
                return Ok(CreateOutcome::Adopted);
            }
            tx.execute(
                &tx.prepare_cached(&self.sql.insert_aliases)
                    .await
                    .map_err(from_pg)?,
                &[
                    &domain_id,
                    &source,
                    &dests,
                    &new.enabled,
                    &owner,
                    &labels_json(&new.labels),
                ],
            )
            .await
            .map_err(from_pg)?;
            tx.commit().await.map_err(from_pg)?;
            Ok(CreateOutcome::Created)
        }
        .await;
        drop(conn);
        audit(op, &source, scope, &result);
        let outcome =
            result.map_err(|e| e.with_operation(op).with_context("source", source.clone()))?;
        let record = self
            .get_forwarder(&Scope::All, &source)
            .await?
            .ok_or_else(|| {
                Error::internal("forwarder vanished right after create").with_operation(op)
            })?;
        Ok((record, outcome))
    }

    /// The forwarder, if it exists in `scope`.
    pub async fn get_forwarder(
        &self,
        scope: &Scope,
        source: &str,
    ) -> Result<Option<ForwarderRecord>> {
        let source =
            forwarder_source(source).map_err(|e| e.with_operation("get mail forwarder"))?;
        let filter = ListFilter {
            limit: Some(1),
            ..Default::default()
        };
        Ok(self
            .select_forwarders(scope, &filter, Some(&source))
            .await?
            .into_iter()
            .next())
    }

    /// Forwarders in `scope`, by source (byte order).
    pub async fn list_forwarders(
        &self,
        scope: &Scope,
        filter: &ListFilter,
    ) -> Result<Vec<ForwarderRecord>> {
        self.select_forwarders(scope, filter, None).await
    }

    async fn select_forwarders(
        &self,
        scope: &Scope,
        filter: &ListFilter,
        exact: Option<&str>,
    ) -> Result<Vec<ForwarderRecord>> {
        let rows = self
            .select_rows(
                "list mail forwarders",
                &self.sql.select_aliases,
                scope,
                filter,
                exact,
            )
            .await?;
        Ok(rows.iter().map(forwarder_from).collect())
    }

    /// Runs one of the listing queries, which all take the same seven parameters
    /// (scope tenant, domain, tenant filter, labels, cursor, exact key, limit).
    async fn select_rows(
        &self,
        op: &'static str,
        sql: &str,
        scope: &Scope,
        filter: &ListFilter,
        exact: Option<&str>,
    ) -> Result<Vec<tokio_postgres::Row>> {
        if let Some(tenant) = &filter.tenant {
            Tenant::new(tenant.as_str()).map_err(|e| e.with_operation(op))?;
        }
        let conn = self.conn().await.map_err(|e| e.with_operation(op))?;
        let params: [&(dyn ToSql + Sync); 7] = [
            &scope.as_tenant(),
            &filter.domain,
            &filter.tenant,
            &labels_json(&filter.labels),
            &filter.after,
            &exact,
            &limit_of(filter),
        ];
        // Cached per connection: lookups are the hot path (observe loops, listings).
        let stmt = conn
            .prepare_cached(sql)
            .await
            .map_err(|e| from_pg(e).with_operation(op))?;
        conn.query(&stmt, &params)
            .await
            .map_err(|e| from_pg(e).with_operation(op))
    }

    /// Change a forwarder in one transaction: replace its destinations
    /// (`set`), add or remove some, set enabled or labels. A forwarder is
    /// never left without destinations (delete it instead).
    async fn change_forwarder(
        &self,
        op: &'static str,
        scope: &Scope,
        source: &str,
        change: ForwarderChange<'_>,
    ) -> Result<ForwarderRecord> {
        let source = forwarder_source(source).map_err(|e| e.with_operation(op))?;
        let (add, remove, set) = match change.destinations {
            DestChange::Keep => (Vec::new(), Vec::new(), None),
            DestChange::Add(d) => (
                destinations(d).map_err(|e| e.with_operation(op))?,
                Vec::new(),
                None,
            ),
            DestChange::Remove(d) => (
                Vec::new(),
                destinations(d).map_err(|e| e.with_operation(op))?,
                None,
            ),
            DestChange::Set(d) => (
                Vec::new(),
                Vec::new(),
                Some(destinations(d).map_err(|e| e.with_operation(op))?),
            ),
        };
        if add.contains(&source) || set.as_ref().is_some_and(|s| s.contains(&source)) {
            return Err(Error::invalid_input(
                "destinations",
                "a forwarder must not forward to its own source",
            )
            .with_operation(op));
        }
        if let Some(labels) = change.labels {
            for (k, v) in labels {
                stackdock_core::validate::label("labels", k, v)
                    .map_err(|e| e.with_operation(op))?;
            }
        }
        let mut conn = self.conn().await.map_err(|e| e.with_operation(op))?;
        let result = async {
            let tx = conn.transaction().await.map_err(from_pg)?;
            let tenant = scope.as_tenant();
            // Domain before aliases, the lock order of every path (see `delete_entry`).
            let lock = tx
                .prepare_cached(&self.sql.lock_domain)
                .await
                .map_err(from_pg)?;
            if tx
                .query_opt(&lock, &[&domain_of(&source)])
                .await
                .map_err(from_pg)?
                .is_none()
            {
                return Err(Error::not_found(format!("forwarder {source}")));
            }
            let rows = tx
                .query(
                    &tx.prepare_cached(&self.sql.lock_aliases)
                        .await
                        .map_err(from_pg)?,
                    &[&source, &tenant],
                )
                .await
                .map_err(from_pg)?;
            let Some(first) = rows.first() else {
                return Err(Error::not_found(format!("forwarder {source}")));
            };
            let have: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            let enabled = change
                .enabled
                .unwrap_or_else(|| rows.iter().all(|r| r.get::<_, bool>(1)));
            let owner: Option<String> = first.get(2);
            let domain_id: i32 = first.get(3);
            let labels: serde_json::Value = match change.labels {
                Some(l) => labels_json(l),
                None => first.get(4),
            };
            let target: Vec<String> = match &set {
                Some(s) => s.clone(),
                None => {
                    let mut t: Vec<String> = have
                        .iter()
                        .filter(|d| !remove.contains(d))
                        .cloned()
                        .collect();
                    t.extend(add.iter().filter(|d| !have.contains(d)).cloned());
                    t.sort();
                    t
                }
            };
            if target.is_empty() {
                return Err(Error::invalid_input(
                    "destinations",
                    "a forwarder needs at least one destination; delete it instead",
                ));
            }
            if target.len() > MAX_DESTINATIONS {
                return Err(Error::invalid_input(
                    "destinations",
                    format!("at most {MAX_DESTINATIONS} destinations"),
                ));
            }
            let gone: Vec<&String> = have.iter().filter(|d| !target.contains(d)).collect();
            let new: Vec<&String> = target.iter().filter(|d| !have.contains(d)).collect();
            if !gone.is_empty() {
                tx.execute(
                    &tx.prepare_cached(&self.sql.delete_alias_dests)
                        .await
                        .map_err(from_pg)?,
                    &[&source, &tenant, &gone],
                )
                .await
                .map_err(from_pg)?;
            }
            if !new.is_empty() {
                tx.execute(
                    &tx.prepare_cached(&self.sql.insert_aliases)
                        .await
                        .map_err(from_pg)?,
                    &[&domain_id, &source, &new, &enabled, &owner, &labels],
                )
                .await
                .map_err(from_pg)?;
            }
            tx.execute(
                &tx.prepare_cached(&self.sql.update_aliases)
                    .await
                    .map_err(from_pg)?,
                &[&source, &tenant, &Some(enabled), &Some(labels)],
            )
            .await
            .map_err(from_pg)?;
            tx.commit().await.map_err(from_pg)
        }
        .await;
        drop(conn);
        audit(op, &source, scope, &result);
        result.map_err(|e| e.with_operation(op).with_context("source", source.clone()))?;
        self.get_forwarder(scope, &source)
            .await?
            .ok_or_else(|| Error::not_found(format!("forwarder {source}")).with_operation(op))
    }

    /// Replace the destinations and enabled flag (labels when given).
    pub async fn set_forwarder(
        &self,
        scope: &Scope,
        source: &str,
        destinations: &[String],
        enabled: bool,
        labels: Option<&BTreeMap<String, String>>,
    ) -> Result<ForwarderRecord> {
        let change = ForwarderChange {
            destinations: DestChange::Set(destinations),
            enabled: Some(enabled),
            labels,
        };
        self.change_forwarder("update mail forwarder", scope, source, change)
            .await
    }

    /// Add destinations (already present ones are kept).
    pub async fn add_destinations(
        &self,
        scope: &Scope,
        source: &str,
        destinations: &[String],
    ) -> Result<ForwarderRecord> {
        let change = ForwarderChange {
            destinations: DestChange::Add(destinations),
            enabled: None,
            labels: None,
        };
        self.change_forwarder("add forwarder destinations", scope, source, change)
            .await
    }

    /// Remove destinations; removing the last one is `InvalidInput` (delete the forwarder instead).
    pub async fn remove_destinations(
        &self,
        scope: &Scope,
        source: &str,
        destinations: &[String],
    ) -> Result<ForwarderRecord> {
        let change = ForwarderChange {
            destinations: DestChange::Remove(destinations),
            enabled: None,
            labels: None,
        };
        self.change_forwarder("remove forwarder destinations", scope, source, change)
            .await
    }

    /// Delete a forwarder (and its domain when nothing else is left in it).
    /// Returns whether something was deleted.
    pub async fn delete_forwarder(&self, scope: &Scope, source: &str) -> Result<bool> {
        let op = "delete mail forwarder";
        let source = forwarder_source(source).map_err(|e| e.with_operation(op))?;
        self.delete_entry(op, scope, &source, &self.sql.delete_aliases)
            .await
    }

    // ---- domains ------------------------------------------------------------

    /// Mail domains in `scope` (created implicitly by the first mailbox or
    /// forwarder, removed with the last one).
    pub async fn list_domains(&self, scope: &Scope) -> Result<Vec<DomainRecord>> {
        let conn = self.conn().await?;
        let rows = conn
            .query(&self.sql.select_domains, &[&scope.as_tenant()])
            .await
            .map_err(|e| from_pg(e).with_operation("list mail domains"))?;
        Ok(rows
            .iter()
            .map(|r| DomainRecord {
                name: r.get(0),
                tenant: r.get(1),
                created_at: r.get(2),
            })
            .collect())
    }

    /// Delete a domain with every mailbox and forwarder in it (tenant off-boarding).
    pub async fn delete_domain(&self, scope: &Scope, domain: &str) -> Result<bool> {
        let op = "delete mail domain";
        let domain =
            stackdock_core::validate::domain("domain", domain).map_err(|e| e.with_operation(op))?;
        let conn = self.conn().await.map_err(|e| e.with_operation(op))?;
        let n = conn
            .execute(&self.sql.delete_domain, &[&domain, &scope.as_tenant()])
            .await
            .map_err(|e| from_pg(e).with_operation(op));
        audit(op, &domain, scope, &n);
        Ok(n? > 0)
    }
}

enum DestChange<'a> {
    Keep,
    Add(&'a [String]),
    Remove(&'a [String]),
    Set(&'a [String]),
}

struct ForwarderChange<'a> {
    destinations: DestChange<'a>,
    enabled: Option<bool>,
    labels: Option<&'a BTreeMap<String, String>>,
}

impl MailStore {
    /// Enable or disable a forwarder.
    pub async fn set_forwarder_enabled(
        &self,
        scope: &Scope,
        source: &str,
        enabled: bool,
    ) -> Result<ForwarderRecord> {
        let change = ForwarderChange {
            destinations: DestChange::Keep,
            enabled: Some(enabled),
            labels: None,
        };
        self.change_forwarder("update mail forwarder", scope, source, change)
            .await
    }
}
