//! [`PostgresStore`]: the runtime's [`Store`] on PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use stackdock_core::provisioning::sanitize_message;
use stackdock_core::{RateLimit, ResourceId, ResourceKind};
use stackdock_pg::{Object, Pool};
use stackdock_runtime::controller::ScopeRef;
use stackdock_runtime::model::{
    AuditEntry, AuditOutcome, AuditQuery, ClaimedRun, DockSync, InventoryDelta, InventoryItem,
    Lease, Operation, OperationRun, Pruned, Retention, RunId, RunStatus, SealedSecret,
    StartOutcome, StepState,
};
use stackdock_runtime::store::Store;
use stackdock_runtime::{Error, Result};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::config::PostgresStoreConfig;
use crate::step_write::{self, attempt_of, AuditRow, StepWrite, StepWrites, Tail, APPEND_AUDIT};
use crate::{db_error, migrate, pool_error};

/// The runtime's [`Store`] on PostgreSQL, for control planes that run as
/// several replicas: they share one database (one schema of it) and
/// coordinate only through it.
///
/// * **Dedupe and scope-busy in the database**: a unique partial index
///   allows one queued or running run per scope; [`Store::start_run`] is an
///   `INSERT … ON CONFLICT DO NOTHING` followed by a read of the winner, so
///   two replicas racing for a scope get one run between them.
/// * **One statement per step write, one per group of them**: a step's
///   state, the note that its run touched it, its audit entry and (for a
///   worker) the fence are one statement — one round trip, one commit, all
///   or nothing. Writes of this process that queue while one commits go
///   together in the next statement (a group commit; see
///   [`GroupCommit`](stackdock_runtime::store::group_commit::GroupCommit)),
///   and each caller still returns only once its own write is committed.
///   A step write does not update the run's row (8 steps in flight would
///   queue on its lock), so a run's `updated_at` moves with the run itself
///   (claimed, renewed, cancelled, finished), not with each of its steps.
/// * **Migrations** run on [`connect`](PostgresStore::connect), under an
///   advisory lock (replicas starting together migrate once).
/// * Connections come from `stackdock-pg`'s pool: every libpq `sslmode`
///   with rustls, lazy connects, broken connections replaced, so a
///   database restart costs the calls in flight a temporary error and
///   nothing else.
///
/// ```no_run
/// use stackdock_runtime::model::Operation;
/// use stackdock_runtime::store::Store;
/// use stackdock_runtime_postgres::{PostgresStore, PostgresStoreConfig};
/// # async fn demo() -> stackdock_runtime::Result<()> {
/// let config = PostgresStoreConfig::from_url("postgres://app@db.internal/control?sslmode=verify-full")?
///     .with_schema("plane")?;
/// let store = PostgresStore::connect(config).await?;
/// let run = store.start_run("acme", Operation::Apply, "alice").await?;
/// # let _ = run; Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    schema: String,
    /// How to open the `LISTEN` connection of [`Store::wait_for_work`].
    config: Arc<PostgresStoreConfig>,
    /// That connection, opened on the first wait, reopened after it broke.
    listener: Arc<tokio::sync::Mutex<Option<Listener>>>,
    /// Step writes queued behind a commit, committed together.
    pub(crate) step_writes: Arc<StepWrites>,
}

/// A connection listening on [`CHANNEL`], and what it hears.
struct Listener {
    _client: tokio_postgres::Client,
    notifications: mpsc::UnboundedReceiver<tokio_postgres::Notification>,
}

/// The channel the `runs_notify_claimable` trigger notifies.
const CHANNEL: &str = "stackdock_runs";

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl PostgresStore {
    /// Open the pool, create the schema if needed and migrate it.
    pub async fn connect(config: PostgresStoreConfig) -> Result<Self> {
        let pool = stackdock_pg::build_pool(config.session_config(), &config.tls, &config.pool)
            .map_err(|e| Error::store(format!("configuration: {e}")))?;
        let store = PostgresStore {
            pool,
            schema: config.schema.clone(),
            config: Arc::new(config),
            listener: Arc::default(),
            step_writes: Arc::new(
                StepWrites::new(step_write::MAX_GROUP).gathering(step_write::GATHER),
            ),
        };
        let mut conn = store.conn().await?;
        migrate::run(&mut conn, &store.schema).await?;
        Ok(store)
    }

    /// The schema the state lives in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Close the pool: connections are closed as they come back.
    pub fn close(&self) {
        self.pool.close();
    }

    pub(crate) async fn conn(&self) -> Result<Object> {
        self.pool.get().await.map_err(pool_error)
    }

    pub(crate) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let conn = self.conn().await?;
        let statement = conn.prepare_cached(sql).await.map_err(db_error)?;
        conn.query(&statement, params).await.map_err(db_error)
    }

    pub(crate) async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let conn = self.conn().await?;
        let statement = conn.prepare_cached(sql).await.map_err(db_error)?;
        conn.execute(&statement, params).await.map_err(db_error)
    }

    /// Take the scope for a new run — `running` with no request, or
    /// `queued` with one — or join / refuse.
    async fn start(
        &self,
        scope: &str,
        operation: Operation,
        actor: &str,
        request: Option<&str>,
    ) -> Result<StartOutcome> {
        let (status, attempts) = match request {
            Some(_) => ("queued", 0i32),
            None => ("running", 1i32),
        };
        for _ in 0..START_ATTEMPTS {
            let id = RunId::new();
            // The partial unique index `runs_one_active_per_scope` refuses a
            // second active run of the scope; DO NOTHING turns that into
            // "0 rows" (it waits for a racing insert to commit or abort first).
            let inserted = self
                .query(
                    &format!(
                        "INSERT INTO runs (id, scope, operation, actor, status, attempts, created_at, updated_at, request) \
                         VALUES ($1, $2, $3, $4, $5, $6, now(), now(), $7) ON CONFLICT DO NOTHING \
                         RETURNING {RUN_COLUMNS}, ARRAY[]::text[] AS steps"
                    ),
                    &[&id.as_str(), &scope, &operation.as_str(), &actor, &status, &attempts, &request],
                )
                .await?;
            if let Some(row) = inserted.first() {
                return Ok(StartOutcome::Started(run_from_row(row)?));
            }
            // Read committed: this statement sees the run that beat us,
            // unless it finished meanwhile — then try again.
            let Some(active) = self.active_run_of(scope).await? else {
                continue;
            };
            if active.operation == operation {
                return Ok(StartOutcome::Joined(active));
            }
            return Err(Error::ScopeBusy {
                scope: scope.to_owned(),
                active_run: active.id,
                operation: active.operation,
            });
        }
        Err(Error::store(format!(
            "scope {scope}: runs keep starting and finishing; gave up after {START_ATTEMPTS} tries"
        )))
    }

    /// Commit a step write, alone or with the writes queued meanwhile (see
    /// [`step_write`]); returns its statement's rows once
    /// it is committed.
    async fn write_step(&self, write: StepWrite) -> Result<Vec<Row>> {
        let pool = self.pool.clone();
        let commit = move |group| {
            let pool = pool.clone();
            async move { step_write::commit(&pool, group).await }
        };
        self.step_writes.write(write, commit).await
    }

    async fn listen(&self) -> Result<Listener> {
        let (client, notifications) =
            stackdock_pg::connect_listening(&self.config.session_config(), &self.config.tls)
                .await
                .map_err(Error::store)?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(db_error)?;
        Ok(Listener {
            _client: client,
            notifications,
        })
    }

    /// Wait on the listener for a notification of this schema, until
    /// `deadline`. A wait that has to open (or, after a database restart,
    /// reopen) the listener returns as soon as it listens: a run submitted
    /// before then sent its notification to nobody, so the caller's next
    /// claim must look for it rather than sleep until the deadline.
    async fn wait_notified(&self, deadline: tokio::time::Instant) {
        let mut slot = self.listener.lock().await;
        if slot.is_none() {
            match self.listen().await {
                Ok(listener) => {
                    *slot = Some(listener);
                    return;
                }
                Err(e) => {
                    // Polling still works: the caller claims at the deadline.
                    tracing::debug!(error = %e, "cannot LISTEN for new runs; polling");
                    drop(slot);
                    tokio::time::sleep_until(deadline).await;
                    return;
                }
            }
        }
        let Some(listener) = slot.as_mut() else {
            return;
        };
        loop {
            match tokio::time::timeout_at(deadline, listener.notifications.recv()).await {
                Ok(Some(n)) if n.payload() == self.schema => return,
                Ok(Some(_)) => continue, // another schema's run
                Ok(None) => {
                    // The connection ended (database restart): reopen next time.
                    *slot = None;
                    return;
                }
                Err(_) => return, // deadline
            }
        }
    }

    async fn runs_where(&self, clause: &str, bind: &str) -> Result<Vec<OperationRun>> {
        let sql =
            format!("SELECT {RUN_COLUMNS}, {STEPS_COLUMN} FROM runs WHERE {clause} ORDER BY seq");
        self.query(&sql, &[&bind])
            .await?
            .iter()
            .map(run_from_row)
            .collect()
    }

    async fn active_run_of(&self, scope: &str) -> Result<Option<OperationRun>> {
        Ok(self
            .runs_where("scope = $1 AND status IN ('queued', 'running')", scope)
            .await?
            .pop())
    }
}

/// The steps a run touched, in order, as an array column of a `runs` row.
const STEPS_COLUMN: &str =
    "ARRAY(SELECT step FROM run_steps s WHERE s.run_id = runs.id ORDER BY s.seq) AS steps";

/// A lease length in milliseconds, for `$n * interval '1 millisecond'`.
pub(crate) fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

const RUN_COLUMNS: &str =
    "id, scope, operation, actor, status, attempts, created_at, updated_at, finished_at, reason, message, cancel_requested";

fn run_from_row(row: &Row) -> Result<OperationRun> {
    let operation: String = row.try_get("operation").map_err(db_error)?;
    let status: String = row.try_get("status").map_err(db_error)?;
    let attempts: i32 = row.try_get("attempts").map_err(db_error)?;
    Ok(OperationRun {
        id: RunId(row.try_get("id").map_err(db_error)?),
        scope: row.try_get("scope").map_err(db_error)?,
        operation: Operation::parse(&operation)
            .ok_or_else(|| Error::store(format!("unknown operation {operation:?}")))?,
        actor: row.try_get("actor").map_err(db_error)?,
        status: RunStatus::parse(&status)
            .ok_or_else(|| Error::store(format!("unknown status {status:?}")))?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        created_at: row.try_get("created_at").map_err(db_error)?,
        updated_at: row.try_get("updated_at").map_err(db_error)?,
        finished_at: row.try_get("finished_at").map_err(db_error)?,
        reason: row.try_get("reason").map_err(db_error)?,
        message: row.try_get("message").map_err(db_error)?,
        cancel_requested: row.try_get("cancel_requested").map_err(db_error)?,
        steps: row
            .try_get::<_, Option<Vec<String>>>("steps")
            .map_err(db_error)?
            .unwrap_or_default(),
    })
}

fn step_from_row(row: &Row) -> Result<StepState> {
    let body: String = row.try_get("body").map_err(db_error)?;
    serde_json::from_str(&body).map_err(|e| Error::store(format!("bad step state: {e}")))
}

pub(crate) fn id_text(id: &ResourceId) -> String {
    format!("{}:{}", id.kind, id.id)
}

fn kind_from_str(kind: &str) -> Result<ResourceKind> {
    ResourceKind::ALL
        .into_iter()
        .find(|k| k.as_str() == kind)
        .ok_or_else(|| Error::store(format!("unknown kind {kind:?}")))
}

/// How often `start_run` retries when the run that beat it finished before
/// it could be read (each retry is a fresh attempt to take the scope).
const START_ATTEMPTS: usize = 8;

#[async_trait]
impl Store for PostgresStore {
    async fn start_run(
        &self,
        scope: &str,
        operation: Operation,
        actor: &str,
    ) -> Result<StartOutcome> {
        self.start(scope, operation, actor, None).await
    }

    async fn submit_run(
        &self,
        scope: &str,
        operation: Operation,
        actor: &str,
        request: &serde_json::Value,
    ) -> Result<StartOutcome> {
        let request = serde_json::to_string(request).map_err(Error::store)?;
        self.start(scope, operation, actor, Some(&request)).await
    }

    async fn claim_run(&self, worker: &str, lease_for: Duration) -> Result<Option<ClaimedRun>> {
        // SKIP LOCKED: concurrent claimers each lock a different candidate
        // instead of queueing behind one; the row is re-checked under its
        // lock, so a run is handed out once.
        let rows = self
            .query(
                &format!(
                    "WITH next AS (SELECT id AS next_id FROM runs \
                       WHERE status = 'queued' OR (status = 'running' AND lease_expires_at < clock_timestamp()) \
                       ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) \
                     UPDATE runs SET status = 'running', attempts = runs.attempts + 1, lease_worker = $1, \
                       lease_expires_at = clock_timestamp() + $2 * interval '1 millisecond', updated_at = now() \
                     FROM next WHERE runs.id = next.next_id \
                     RETURNING {RUN_COLUMNS}, {STEPS_COLUMN}, request, lease_expires_at"
                ),
                &[&worker, &millis(lease_for)],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let run = run_from_row(row)?;
        let request: Option<String> = row.try_get("request").map_err(db_error)?;
        let request = request.ok_or_else(|| Error::store("a claimed run has no request"))?;
        Ok(Some(ClaimedRun {
            request: serde_json::from_str(&request)
                .map_err(|e| Error::store(format!("bad run request: {e}")))?,
            lease: Lease {
                run_id: run.id.clone(),
                worker: worker.to_owned(),
                attempt: run.attempts,
                expires_at: row.try_get("lease_expires_at").map_err(db_error)?,
            },
            run,
        }))
    }

    async fn renew_lease(&self, lease: &Lease, lease_for: Duration) -> Result<Option<Lease>> {
        let attempt = i32::try_from(lease.attempt).unwrap_or(i32::MAX);
        let rows = self
            .query(
                "UPDATE runs SET lease_expires_at = clock_timestamp() + $4 * interval '1 millisecond' \
                 WHERE id = $1 AND lease_worker = $2 AND attempts = $3 AND status = 'running' \
                 RETURNING lease_expires_at",
                &[&lease.run_id.as_str(), &lease.worker, &attempt, &millis(lease_for)],
            )
            .await?;
        rows.first()
            .map(|row| {
                Ok(Lease {
                    expires_at: row.try_get(0).map_err(db_error)?,
                    ..lease.clone()
                })
            })
            .transpose()
    }

    async fn release_run(&self, lease: &Lease) -> Result<bool> {
        let attempt = i32::try_from(lease.attempt).unwrap_or(i32::MAX);
        let released = self
            .execute(
                "UPDATE runs SET status = 'queued', lease_worker = NULL, lease_expires_at = NULL, \
                 updated_at = now() \
                 WHERE id = $1 AND lease_worker = $2 AND attempts = $3 AND status = 'running'",
                &[&lease.run_id.as_str(), &lease.worker, &attempt],
            )
            .await?;
        Ok(released == 1)
    }

    async fn prune(&self, retention: &Retention) -> Result<Pruned> {
        let mut pruned = Pruned::default();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(db_error)?;
        if let Some(cut) = retention.finished_runs_before {
            let finished = "SELECT id FROM runs WHERE status NOT IN ('queued', 'running') \
                            AND finished_at < $1";
            tx.execute(
                &format!("DELETE FROM run_steps WHERE run_id IN ({finished})"),
                &[&cut],
            )
            .await
            .map_err(db_error)?;
            pruned.runs = tx
                .execute(
                    &format!("DELETE FROM runs WHERE id IN ({finished})"),
                    &[&cut],
                )
                .await
                .map_err(db_error)?;
        }
        if let Some(cut) = retention.audit_before {
            // The one way past the append-only trigger, for this transaction only.
            tx.batch_execute("SET LOCAL stackdock.audit_prune = 'on'")
                .await
                .map_err(db_error)?;
            pruned.audit = tx
                .execute("DELETE FROM audit WHERE at < $1", &[&cut])
                .await
                .map_err(db_error)?;
        }
        if let Some(cut) = retention.vanished_inventory_before {
            pruned.inventory = tx
                .execute("DELETE FROM inventory WHERE vanished_at < $1", &[&cut])
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(pruned)
    }

    async fn wait_for_work(&self, timeout: Duration) {
        self.wait_notified(tokio::time::Instant::now() + timeout)
            .await;
    }

    async fn run_request(&self, id: &RunId) -> Result<Option<serde_json::Value>> {
        let rows = self
            .query("SELECT request FROM runs WHERE id = $1", &[&id.as_str()])
            .await?;
        let Some(text) = rows.first().and_then(|row| row.get::<_, Option<String>>(0)) else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::store(format!("bad run request: {e}")))
    }

    async fn finish_run(
        &self,
        id: &RunId,
        status: RunStatus,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Result<OperationRun> {
        if status.is_active() {
            return Err(Error::store(format!("cannot finish a run as {status}")));
        }
        let message = message.map(sanitize_message);
        self.execute(
            "UPDATE runs SET status = $2, reason = $3, message = $4, updated_at = now(), \
             finished_at = now(), lease_expires_at = NULL \
             WHERE id = $1 AND status IN ('queued', 'running')",
            &[&id.as_str(), &status.as_str(), &reason, &message],
        )
        .await?;
        self.get_run(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("run {id}")))
    }

    async fn finish_run_fenced(
        &self,
        lease: &Lease,
        status: RunStatus,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Result<OperationRun> {
        if status.is_active() {
            return Err(Error::store(format!("cannot finish a run as {status}")));
        }
        let message = message.map(sanitize_message);
        let finished = self
            .execute(
                "UPDATE runs SET status = $2, reason = $3, message = $4, updated_at = now(), \
                 finished_at = now(), lease_expires_at = NULL \
                 WHERE id = $1 AND lease_worker = $5 AND attempts = $6 AND status = 'running'",
                &[
                    &lease.run_id.as_str(),
                    &status.as_str(),
                    &reason,
                    &message,
                    &lease.worker,
                    &attempt_of(lease),
                ],
            )
            .await?;
        if finished != 1 {
            return Err(lease_lost(lease));
        }
        self.get_run(&lease.run_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("run {}", lease.run_id)))
    }

    async fn request_cancel(&self, id: &RunId) -> Result<OperationRun> {
        self.execute(
            "UPDATE runs SET cancel_requested = true, updated_at = now() \
             WHERE id = $1 AND status IN ('queued', 'running') AND NOT cancel_requested",
            &[&id.as_str()],
        )
        .await?;
        self.get_run(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("run {id}")))
    }

    async fn get_run(&self, id: &RunId) -> Result<Option<OperationRun>> {
        Ok(self.runs_where("id = $1", id.as_str()).await?.pop())
    }

    async fn active_run(&self, scope: &str) -> Result<Option<OperationRun>> {
        self.active_run_of(scope).await
    }

    async fn list_runs(&self, scope: &str) -> Result<Vec<OperationRun>> {
        self.runs_where("scope = $1", scope).await
    }

    async fn put_step(&self, state: &StepState, run: Option<&RunId>) -> Result<()> {
        let run = run.map(|r| r.as_str().to_owned());
        let write = StepWrite::new(state, Tail::Run(run), None)?;
        self.write_step(write).await.map(drop)
    }

    async fn put_step_fenced(&self, state: &StepState, lease: &Lease) -> Result<()> {
        let write = StepWrite::new(state, Tail::fence(lease), None)?;
        let held = self.write_step(write).await?;
        match held.first().map(|r| r.try_get::<_, bool>("held")) {
            Some(Ok(true)) => Ok(()),
            Some(Err(e)) => Err(db_error(e)),
            _ => Err(lease_lost(lease)),
        }
    }

    async fn put_step_audited(
        &self,
        state: &StepState,
        run: Option<&RunId>,
        audit: &AuditEntry,
    ) -> Result<i64> {
        let run = run.map(|r| r.as_str().to_owned());
        let write = StepWrite::new(state, Tail::Run(run), Some(audit))?;
        let rows = self.write_step(write).await?;
        let row = rows
            .first()
            .ok_or_else(|| Error::store("a step write returned no audit entry"))?;
        row.try_get("seq").map_err(db_error)
    }

    async fn put_step_audited_fenced(
        &self,
        state: &StepState,
        lease: &Lease,
        audit: &AuditEntry,
    ) -> Result<i64> {
        let write = StepWrite::new(state, Tail::fence(lease), Some(audit))?;
        let rows = self.write_step(write).await?;
        let row = rows
            .first()
            .ok_or_else(|| Error::store("a step write returned no audit entry"))?;
        if !row.try_get::<_, bool>("held").map_err(db_error)? {
            return Err(lease_lost(lease)); // the entry is kept: the call happened
        }
        row.try_get("seq").map_err(db_error)
    }

    async fn get_step(&self, scope: &str, step: &str) -> Result<Option<StepState>> {
        self.query(
            "SELECT body FROM steps WHERE scope = $1 AND step = $2",
            &[&scope, &step],
        )
        .await?
        .first()
        .map(step_from_row)
        .transpose()
    }

    async fn list_steps(&self, scope: &str) -> Result<Vec<StepState>> {
        self.query(
            "SELECT body FROM steps WHERE scope = $1 ORDER BY step COLLATE \"C\"",
            &[&scope],
        )
        .await?
        .iter()
        .map(step_from_row)
        .collect()
    }

    async fn steps_holding(&self, dock: &str, resource: &ResourceId) -> Result<Vec<StepState>> {
        self.query(
            "SELECT body FROM steps WHERE live AND dock = $1 AND resource_id = $2 \
             ORDER BY scope COLLATE \"C\", step COLLATE \"C\"",
            &[&dock, &id_text(resource)],
        )
        .await?
        .iter()
        .map(step_from_row)
        .collect()
    }

    async fn append_audit(&self, e: &AuditEntry) -> Result<i64> {
        let entry = AuditRow::of(e);
        let rows = self.query(APPEND_AUDIT, &entry.params()).await?;
        let row = rows
            .first()
            .ok_or_else(|| Error::store("an audit insert returned no sequence number"))?;
        row.try_get(0).map_err(db_error)
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let rows = self
            .query(
                "SELECT seq, at, actor, org, scope, dock, resource, operation, outcome, reason, run_id, message \
                 FROM audit WHERE ($1::text IS NULL OR scope = $1) AND ($2::text IS NULL OR run_id = $2) \
                 AND ($3::text IS NULL OR operation = $3) ORDER BY seq",
                &[
                    &query.scope,
                    &query.run_id.as_ref().map(RunId::as_str),
                    &query.operation,
                ],
            )
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn claim_scope(&self, scope: &str, org: &str) -> Result<String> {
        // The insert waits for a racing one to commit; the select (a new
        // snapshot under read committed) then sees whichever won.
        self.execute(
            "INSERT INTO scopes (scope, org, created_at) VALUES ($1, $2, now()) ON CONFLICT DO NOTHING",
            &[&scope, &org],
        )
        .await?;
        self.scope_org(scope)
            .await?
            .ok_or_else(|| Error::store(format!("scope {scope} has no owner after claiming it")))
    }

    async fn scope_org(&self, scope: &str) -> Result<Option<String>> {
        Ok(self
            .query("SELECT org FROM scopes WHERE scope = $1", &[&scope])
            .await?
            .first()
            .map(|row| row.get(0)))
    }

    async fn list_scopes(&self) -> Result<Vec<ScopeRef>> {
        Ok(self
            .query(
                "SELECT scope, org FROM scopes s WHERE EXISTS \
                 (SELECT 1 FROM steps t WHERE t.scope = s.scope AND t.state <> 'deprovisioned') \
                 ORDER BY scope COLLATE \"C\"",
                &[],
            )
            .await?
            .iter()
            .map(|row| ScopeRef::new(row.get::<_, String>(0), row.get::<_, String>(1)))
            .collect())
    }

    async fn sync_inventory(
        &self,
        dock: &str,
        kind: ResourceKind,
        items: &[InventoryItem],
        at: DateTime<Utc>,
    ) -> Result<InventoryDelta> {
        let mut delta = InventoryDelta::default();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(db_error)?;
        for item in items {
            delta.seen += 1;
            let body = serde_json::to_string(&item.resource).map_err(Error::store)?;
            // `was_live`: the row existed and had not vanished (the row as
            // it was before this upsert, read through a CTE).
            let row = tx
                .query_one(
                    "WITH before AS (SELECT vanished_at IS NULL AS live FROM inventory \
                       WHERE dock = $1 AND kind = $2 AND provider_resource_id = $3) \
                     INSERT INTO inventory (dock, kind, provider_resource_id, name, body, first_seen_at, last_seen_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (dock, kind, provider_resource_id) DO UPDATE SET \
                     name = excluded.name, body = excluded.body, last_seen_at = excluded.last_seen_at, vanished_at = NULL \
                     RETURNING COALESCE((SELECT live FROM before), false) AS was_live",
                    &[&dock, &kind.as_str(), &item.provider_resource_id, &item.name, &body, &at],
                )
                .await
                .map_err(db_error)?;
            if !row.get::<_, bool>("was_live") {
                delta.added += 1;
            }
        }
        delta.vanished = tx
            .execute(
                "UPDATE inventory SET vanished_at = $1 WHERE dock = $2 AND kind = $3 \
                 AND vanished_at IS NULL AND last_seen_at <> $1",
                &[&at, &dock, &kind.as_str()],
            )
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(delta)
    }

    async fn list_inventory(&self, dock: Option<&str>) -> Result<Vec<InventoryItem>> {
        let rows = self
            .query(
                "SELECT * FROM inventory WHERE ($1::text IS NULL OR dock = $1) \
                 ORDER BY dock COLLATE \"C\", kind COLLATE \"C\", provider_resource_id COLLATE \"C\"",
                &[&dock],
            )
            .await?;
        rows.iter().map(inventory_from_row).collect()
    }

    async fn put_dock_sync(&self, sync: &DockSync) -> Result<()> {
        let error = sync.last_sync_error.as_deref().map(sanitize_message);
        let items = i64::try_from(sync.items).unwrap_or(i64::MAX);
        let budget = sync.rate_limit.unwrap_or_default();
        let count = |n: Option<u64>| n.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let (limit, remaining) = (count(budget.limit), count(budget.remaining));
        self.execute(
            "INSERT INTO dock_syncs (dock, last_sync_at, last_success_at, last_sync_error, items, \
             rate_limit_limit, rate_limit_remaining, rate_limit_reset_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dock) DO UPDATE SET last_sync_at = excluded.last_sync_at, \
             last_success_at = excluded.last_success_at, last_sync_error = excluded.last_sync_error, \
             items = excluded.items, rate_limit_limit = excluded.rate_limit_limit, \
             rate_limit_remaining = excluded.rate_limit_remaining, \
             rate_limit_reset_at = excluded.rate_limit_reset_at",
            &[
                &sync.dock,
                &sync.last_sync_at,
                &sync.last_success_at,
                &error,
                &items,
                &limit,
                &remaining,
                &budget.reset_at,
            ],
        )
        .await
        .map(drop)
    }

    async fn dock_syncs(&self) -> Result<Vec<DockSync>> {
        let rows = self
            .query("SELECT * FROM dock_syncs ORDER BY dock COLLATE \"C\"", &[])
            .await?;
        rows.iter()
            .map(|row| {
                let count = |col: &str| -> Result<Option<u64>> {
                    let n: Option<i64> = row.try_get(col).map_err(db_error)?;
                    Ok(n.map(|n| u64::try_from(n).unwrap_or(0)))
                };
                let budget = RateLimit {
                    limit: count("rate_limit_limit")?,
                    remaining: count("rate_limit_remaining")?,
                    reset_at: row.try_get("rate_limit_reset_at").map_err(db_error)?,
                };
                Ok(DockSync {
                    dock: row.try_get("dock").map_err(db_error)?,
                    last_sync_at: row.try_get("last_sync_at").map_err(db_error)?,
                    last_success_at: row.try_get("last_success_at").map_err(db_error)?,
                    last_sync_error: row.try_get("last_sync_error").map_err(db_error)?,
                    items: u64::try_from(row.try_get::<_, i64>("items").map_err(db_error)?)
                        .unwrap_or(0),
                    // All NULL: the provider reported nothing.
                    rate_limit: (budget != RateLimit::default()).then_some(budget),
                })
            })
            .collect()
    }

    async fn put_secret(&self, s: &SealedSecret) -> Result<()> {
        self.execute(
            "INSERT INTO secrets (org, dock, name, key_id, nonce, ciphertext, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org, dock, name) DO UPDATE SET \
             key_id = excluded.key_id, nonce = excluded.nonce, ciphertext = excluded.ciphertext, \
             updated_at = excluded.updated_at",
            &[
                &s.org,
                &s.dock,
                &s.name,
                &s.key_id,
                &s.nonce,
                &s.ciphertext,
                &s.updated_at,
            ],
        )
        .await
        .map(drop)
    }

    async fn get_secret(&self, org: &str, dock: &str, name: &str) -> Result<Option<SealedSecret>> {
        self.query(
            "SELECT * FROM secrets WHERE org = $1 AND dock = $2 AND name = $3",
            &[&org, &dock, &name],
        )
        .await?
        .first()
        .map(secret_from_row)
        .transpose()
    }

    async fn list_secrets(&self) -> Result<Vec<SealedSecret>> {
        self.query(
            "SELECT * FROM secrets ORDER BY org COLLATE \"C\", dock COLLATE \"C\", name COLLATE \"C\"",
            &[],
        )
        .await?
        .iter()
        .map(secret_from_row)
        .collect()
    }

    async fn delete_secrets(&self, org: &str, dock: &str) -> Result<u64> {
        self.execute(
            "DELETE FROM secrets WHERE org = $1 AND dock = $2",
            &[&org, &dock],
        )
        .await
    }
}

fn lease_lost(lease: &Lease) -> Error {
    Error::LeaseLost {
        run: lease.run_id.clone(),
        attempt: lease.attempt,
    }
}

fn audit_from_row(row: &Row) -> Result<AuditEntry> {
    let outcome: String = row.try_get("outcome").map_err(db_error)?;
    Ok(AuditEntry {
        seq: row.try_get("seq").map_err(db_error)?,
        at: row.try_get("at").map_err(db_error)?,
        actor: row.try_get("actor").map_err(db_error)?,
        org: row.try_get("org").map_err(db_error)?,
        scope: row.try_get("scope").map_err(db_error)?,
        dock: row.try_get("dock").map_err(db_error)?,
        resource: row.try_get("resource").map_err(db_error)?,
        operation: row.try_get("operation").map_err(db_error)?,
        outcome: AuditOutcome::parse(&outcome)
            .ok_or_else(|| Error::store(format!("unknown outcome {outcome:?}")))?,
        reason: row.try_get("reason").map_err(db_error)?,
        run_id: row
            .try_get::<_, Option<String>>("run_id")
            .map_err(db_error)?
            .map(RunId),
        message: row.try_get("message").map_err(db_error)?,
    })
}

fn inventory_from_row(row: &Row) -> Result<InventoryItem> {
    let body: String = row.try_get("body").map_err(db_error)?;
    Ok(InventoryItem {
        dock: row.try_get("dock").map_err(db_error)?,
        kind: kind_from_str(row.try_get("kind").map_err(db_error)?)?,
        provider_resource_id: row.try_get("provider_resource_id").map_err(db_error)?,
        name: row.try_get("name").map_err(db_error)?,
        resource: serde_json::from_str(&body).map_err(Error::store)?,
        first_seen_at: row.try_get("first_seen_at").map_err(db_error)?,
        last_seen_at: row.try_get("last_seen_at").map_err(db_error)?,
        vanished_at: row.try_get("vanished_at").map_err(db_error)?,
    })
}

fn secret_from_row(row: &Row) -> Result<SealedSecret> {
    Ok(SealedSecret {
        org: row.try_get("org").map_err(db_error)?,
        dock: row.try_get("dock").map_err(db_error)?,
        name: row.try_get("name").map_err(db_error)?,
        key_id: row.try_get("key_id").map_err(db_error)?,
        nonce: row.try_get("nonce").map_err(db_error)?,
        ciphertext: row.try_get("ciphertext").map_err(db_error)?,
        updated_at: row.try_get("updated_at").map_err(db_error)?,
    })
}
