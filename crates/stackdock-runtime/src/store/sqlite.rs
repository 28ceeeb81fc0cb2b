//! [`SqliteStore`]: the embedded default [`Store`]: one SQLite file in a
//! state directory, WAL, embedded migrations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use stackdock_core::provisioning::sanitize_message;
use stackdock_core::{RateLimit, ResourceId, ResourceKind};

use super::Store;
use crate::controller::ScopeRef;
use crate::model::{
    AuditEntry, AuditOutcome, AuditQuery, ClaimedRun, DockSync, InventoryDelta, InventoryItem,
    Lease, Operation, OperationRun, Pruned, Retention, RunId, RunStatus, SealedSecret,
    StartOutcome, StepState,
};
use crate::store::group_commit::GroupCommit;
use crate::{Error, Result};

mod group;

/// The file name inside a state directory.
pub const STATE_FILE: &str = "stackdock-state.db";

/// The migrations, compiled in (no files needed at run time).
#[derive(Debug)]
struct Embedded;

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> BoxFuture<'static, std::result::Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async {
            Ok(vec![
                Migration::new(
                    1,
                    "init".into(),
                    MigrationType::Simple,
                    include_str!("../../migrations/0001_init.sql").into(),
                    false,
                ),
                Migration::new(
                    2,
                    "scopes".into(),
                    MigrationType::Simple,
                    include_str!("../../migrations/0002_scopes.sql").into(),
                    false,
                ),
                Migration::new(
                    3,
                    "inventory".into(),
                    MigrationType::Simple,
                    include_str!("../../migrations/0003_inventory.sql").into(),
                    false,
                ),
                Migration::new(
                    4,
                    "cancel".into(),
                    MigrationType::Simple,
                    include_str!("../../migrations/0004_cancel.sql").into(),
                    false,
                ),
                Migration::new(
                    5,
                    "queue".into(),
                    MigrationType::Simple,
                    include_str!("../../migrations/0005_queue.sql").into(),
                    false,
                ),
                Migration::new(
                    6,
                    "retention".into(),
                    MigrationType::Simple,
                    include_str!("../../migrations/0006_retention.sql").into(),
                    false,
                ),
                Migration::new(
                    7,
                    "rate_limit".into(),
                    MigrationType::Simple,
                    include_str!("../../migrations/0007_rate_limit.sql").into(),
                    false,
                ),
            ])
        })
    }
}

/// The embedded [`Store`]: a SQLite file in WAL mode with a busy timeout, so
/// several tasks (and processes on one host) can share it; schema migrations
/// run on open.
///
/// ```
/// use stackdock_runtime::store::{SqliteStore, Store};
/// use stackdock_runtime::model::Operation;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteStore::open(dir.path()).await?;
/// let run = store.start_run("acme", Operation::Apply, "alice").await?;
/// let busy = store.start_run("acme", Operation::Destroy, "bob").await;
/// assert!(matches!(busy, Err(stackdock_runtime::Error::ScopeBusy { .. })));
/// # let _ = run;
/// # Ok::<(), stackdock_runtime::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Readers (WAL: they never wait for the writer).
    pool: SqlitePool,
    /// The one writer connection: writes of this process queue here, in
    /// order, instead of meeting in SQLite's busy handler, which sleeps
    /// (1 ms, 2 ms, 5 ms, … up to 100 ms) between retries of a locked file.
    writer: SqlitePool,
    path: PathBuf,
    /// Step writes queued behind the writer, committed together.
    group: std::sync::Arc<GroupCommit<StepWrite, i64>>,
    /// Wakes idle workers of this process when a run becomes claimable
    /// (workers of other processes poll).
    work: std::sync::Arc<tokio::sync::Notify>,
}

impl SqliteStore {
    /// Open (creating it and the directory if needed) the state file
    /// [`STATE_FILE`] in `dir`, and migrate it.
    pub async fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| Error::store(format!("cannot create {}: {}", dir.display(), e.kind())))?;
        Self::open_file(dir.join(STATE_FILE)).await
    }

    /// Open (creating it if needed) the state file at `path`, and migrate it.
    pub async fn open_file(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed intent survives a power loss, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        Migrator::new(Embedded).await?.run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        Ok(SqliteStore {
            pool,
            writer,
            path,
            group: std::sync::Arc::new(GroupCommit::new(group::MAX_GROUP)),
            work: Default::default(),
        })
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Close the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// The budget the three `rate_limit_*` columns hold; `None` when all are
/// NULL (the provider reported nothing).
fn rate_limit(
    limit: Option<u64>,
    remaining: Option<u64>,
    reset_at: Option<DateTime<Utc>>,
) -> Option<RateLimit> {
    let budget = RateLimit {
        limit,
        remaining,
        reset_at,
    };
    (budget != RateLimit::default()).then_some(budget)
}

/// A count for an `INTEGER` column (SQLite's are signed 64-bit).
fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::store(format!("bad timestamp {s:?}: {e}")))
}

fn run_from_row(row: &SqliteRow) -> Result<OperationRun> {
    let operation: String = row.try_get("operation")?;
    let status: String = row.try_get("status")?;
    let finished: Option<String> = row.try_get("finished_at")?;
    Ok(OperationRun {
        id: RunId(row.try_get("id")?),
        scope: row.try_get("scope")?,
        operation: Operation::parse(&operation)
            .ok_or_else(|| Error::store(format!("unknown operation {operation:?}")))?,
        actor: row.try_get("actor")?,
        status: RunStatus::parse(&status)
            .ok_or_else(|| Error::store(format!("unknown status {status:?}")))?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
        finished_at: finished.as_deref().map(parse_ts).transpose()?,
        reason: row.try_get("reason")?,
        message: row.try_get("message")?,
        steps: Vec::new(),
        cancel_requested: row.try_get("cancel_requested")?,
    })
}

const RUN_COLUMNS: &str =
    "id, scope, operation, actor, status, attempts, created_at, updated_at, finished_at, reason, message, cancel_requested";

impl SqliteStore {
    /// Take the scope for a new run — `running` with no request, or
    /// `queued` with one — or join / refuse.
    async fn start(
        &self,
        scope: &str,
        operation: Operation,
        actor: &str,
        request: Option<&str>,
    ) -> Result<StartOutcome> {
        let now = ts(Utc::now());
        let id = RunId::new();
        let (status, attempts) = match request {
            Some(_) => ("queued", 0),
            None => ("running", 1),
        };
        // One transaction: the insert takes SQLite's write lock first, so the
        // select that follows sees the run that beat us, and nobody can
        // finish or start one in between. The partial unique index
        // `runs_one_active_per_scope` is what refuses a second active run.
        let mut tx = self.writer.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO runs (id, scope, operation, actor, status, attempts, created_at, updated_at, request) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(id.as_str())
        .bind(scope)
        .bind(operation.as_str())
        .bind(actor)
        .bind(status)
        .bind(attempts)
        .bind(&now)
        .bind(&now)
        .bind(request)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE scope = ? AND status IN ('queued', 'running')"
        );
        let row = sqlx::query(&sql)
            .bind(scope)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        let active = row
            .as_ref()
            .map(run_from_row)
            .transpose()?
            .ok_or_else(|| Error::store("no active run after start_run"))?;
        if inserted == 1 {
            return Ok(StartOutcome::Started(active));
        }
        if active.operation == operation {
            Ok(StartOutcome::Joined(self.with_steps(active).await?))
        } else {
            Err(Error::ScopeBusy {
                scope: scope.to_owned(),
                active_run: active.id,
                operation: active.operation,
            })
        }
    }

    async fn with_steps(&self, mut run: OperationRun) -> Result<OperationRun> {
        let rows = sqlx::query("SELECT step FROM run_steps WHERE run_id = ? ORDER BY seq")
            .bind(run.id.as_str())
            .fetch_all(&self.pool)
            .await?;
        run.steps = rows
            .iter()
            .map(|r| r.try_get::<String, _>("step"))
            .collect::<std::result::Result<_, _>>()?;
        Ok(run)
    }

    async fn runs_where(&self, clause: &str, bind: &str) -> Result<Vec<OperationRun>> {
        let sql =
            format!("SELECT {RUN_COLUMNS} FROM runs WHERE {clause} ORDER BY created_at, rowid");
        let rows = sqlx::query(&sql).bind(bind).fetch_all(&self.pool).await?;
        let mut runs = Vec::with_capacity(rows.len());
        for row in &rows {
            runs.push(self.with_steps(run_from_row(row)?).await?);
        }
        Ok(runs)
    }
}

fn parse_request(text: Option<&str>) -> Result<serde_json::Value> {
    let text = text.ok_or_else(|| Error::store("a claimed run has no request"))?;
    serde_json::from_str(text).map_err(|e| Error::store(format!("bad run request: {e}")))
}

fn millis_to_time(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| Error::store("lease time out of range"))
}

fn step_from_row(row: &SqliteRow) -> Result<StepState> {
    let body: String = row.try_get("body")?;
    serde_json::from_str(&body).map_err(|e| Error::store(format!("bad step state: {e}")))
}

/// Insert or replace a step's state (8 parameters, in column order).
macro_rules! upsert_step {
    () => {
        "INSERT INTO steps (scope, step, dock, resource_id, live, state, body, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (scope, step) DO UPDATE SET dock = excluded.dock, \
         resource_id = excluded.resource_id, live = excluded.live, state = excluded.state, \
         body = excluded.body, updated_at = excluded.updated_at"
    };
}
const UPSERT_STEP: &str = upsert_step!();

/// Note that run ?1 touched step ?2 (in the order first touched).
///
/// `seq` grows over the whole table (the largest rowid + 1: one b-tree
/// seek), so a run's steps sort in the order they were noted. It was a
/// count of the run's rows so far, which made a run's n-th step count n
/// rows.
macro_rules! note_run_step {
    ($run:literal, $step:literal) => {
        concat!(
            "INSERT INTO run_steps (run_id, step, seq) VALUES (",
            $run,
            ", ",
            $step,
            ", (SELECT IFNULL(MAX(rowid), 0) + 1 FROM run_steps)) ON CONFLICT DO NOTHING"
        )
    };
}
const NOTE_RUN_STEP: &str = note_run_step!("?1", "?2");

fn lease_lost(lease: &Lease) -> Error {
    Error::LeaseLost {
        run: lease.run_id.clone(),
        attempt: lease.attempt,
    }
}

fn id_text(id: &ResourceId) -> String {
    format!("{}:{}", id.kind, id.id)
}

/// One step write as a single script: the step's state, then (when asked)
/// the run that touched it and the audit entry, between `$begin` and
/// `$end`. Parameters are plain `?`s, bound in the order they appear across
/// the statements.
macro_rules! step_script {
    ($begin:expr, $end:expr $(, $part:expr)*) => {
        concat!($begin, upsert_step!(), "; ", $($part,)* $end)
    };
}
/// Parameters: run id, step; then updated at, run id.
macro_rules! run_part {
    () => {
        concat!(
            note_run_step!("?", "?"),
            "; UPDATE runs SET updated_at = ? WHERE id = ?; "
        )
    };
}
macro_rules! audit_part {
    () => {
        "INSERT INTO audit (at, actor, org, scope, dock, resource, operation, outcome, reason, run_id, message) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?); "
    };
}
/// The step scripts of one write, by (notes a run, appends an audit entry).
macro_rules! step_scripts {
    ($begin:expr, $end:expr) => {
        [
            [
                step_script!($begin, $end),
                step_script!($begin, $end, audit_part!()),
            ],
            [
                step_script!($begin, $end, run_part!()),
                step_script!($begin, $end, run_part!(), audit_part!()),
            ],
        ]
    };
}
/// A write committed alone: its own transaction.
const STEP_SCRIPTS: [[&str; 2]; 2] = step_scripts!("BEGIN IMMEDIATE; ", "COMMIT;");
/// A write in a group commit: a savepoint inside the group's transaction,
/// so a failing write is undone alone.
const GROUPED_STEP_SCRIPTS: [[&str; 2]; 2] =
    step_scripts!("SAVEPOINT step_write; ", "RELEASE step_write;");

/// A step write, owned: what [`GroupCommit`] queues.
#[derive(Debug)]
struct StepWrite {
    scope: String,
    step: String,
    dock: String,
    resource_id: Option<String>,
    live: bool,
    state: &'static str,
    body: String,
    updated_at: String,
    /// The run that touched the step, and when.
    run: Option<(RunId, String)>,
    audit: Option<AuditEntry>,
}

impl StepWrite {
    fn new(state: &StepState, run: Option<&RunId>, audit: Option<&AuditEntry>) -> Result<Self> {
        Ok(StepWrite {
            scope: state.scope.clone(),
            step: state.step.clone(),
            dock: state.dock.clone(),
            resource_id: state.resource_id().map(id_text),
            live: state.holds_resource(),
            state: state.record.state.as_str(),
            body: serde_json::to_string(state).map_err(Error::store)?,
            updated_at: ts(state.updated_at),
            run: run.map(|run| (run.clone(), ts(Utc::now()))),
            audit: audit.cloned(),
        })
    }

    /// The write as one script: alone (its own transaction) or grouped
    /// (a savepoint in the group's).
    fn query(&self, grouped: bool) -> sqlx::query::Query<'_, sqlx::Sqlite, SqliteArguments<'_>> {
        let scripts = if grouped {
            &GROUPED_STEP_SCRIPTS
        } else {
            &STEP_SCRIPTS
        };
        let script = scripts[usize::from(self.run.is_some())][usize::from(self.audit.is_some())];
        let mut query = sqlx::query(script)
            .bind(self.scope.as_str())
            .bind(self.step.as_str())
            .bind(self.dock.as_str())
            .bind(self.resource_id.as_deref())
            .bind(self.live)
            .bind(self.state)
            .bind(self.body.as_str())
            .bind(self.updated_at.as_str());
        if let Some((run, at)) = &self.run {
            query = query
                .bind(run.as_str())
                .bind(self.step.as_str())
                .bind(at.as_str())
                .bind(run.as_str());
        }
        if let Some(e) = &self.audit {
            query = query
                .bind(ts(e.at))
                .bind(e.actor.as_str())
                .bind(e.org.as_deref())
                .bind(e.scope.as_deref())
                .bind(e.dock.as_deref())
                .bind(e.resource.as_deref())
                .bind(e.operation.as_str())
                .bind(e.outcome.as_str())
                .bind(e.reason.as_deref())
                .bind(e.run_id.as_ref().map(RunId::as_str))
                .bind(e.message.as_deref().map(sanitize_message));
        }
        query
    }
}

impl SqliteStore {
    /// Write a step's state, note `run`, append `audit`: one transaction of
    /// its own, or a savepoint in a group commit with the writes queued
    /// behind the writer meanwhile (see [`GroupCommit`]); either way
    /// committed (`synchronous = FULL`) before this returns.
    ///
    /// The write runs in a task of its own, so it always runs to its
    /// commit (or is rolled back) even when the caller is dropped half-way
    /// — a cancelled caller can never leave the writer inside a transaction.
    /// Returns the audit entry's sequence number.
    async fn write_step(
        &self,
        state: &StepState,
        run: Option<&RunId>,
        audit: Option<&AuditEntry>,
    ) -> Result<i64> {
        let write = StepWrite::new(state, run, audit)?;
        let writer = self.writer.clone();
        let commit = move |group| {
            let writer = writer.clone();
            async move { group::commit(&writer, group).await }
        };
        self.group.write(write, commit).await
    }
}

#[async_trait]
impl Store for SqliteStore {
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
        let outcome = self.start(scope, operation, actor, Some(&request)).await?;
        self.work.notify_waiters();
        Ok(outcome)
    }

    async fn claim_run(&self, worker: &str, lease_for: Duration) -> Result<Option<ClaimedRun>> {
        let now = Utc::now();
        let expires_at = now + lease_for;
        // One statement: SQLite runs writers one at a time, so the
        // subquery's pick and the update cannot be split by another claim.
        let sql = format!(
            "UPDATE runs SET status = 'running', attempts = attempts + 1, lease_worker = ?1, \
             lease_expires_at = ?2, updated_at = ?3 \
             WHERE id = (SELECT id FROM runs WHERE status = 'queued' \
                OR (status = 'running' AND lease_expires_at < ?4) ORDER BY created_at, rowid LIMIT 1) \
             RETURNING {RUN_COLUMNS}, request"
        );
        let row = sqlx::query(&sql)
            .bind(worker)
            .bind(expires_at.timestamp_millis())
            .bind(ts(now))
            .bind(now.timestamp_millis())
            .fetch_optional(&self.writer)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let run = self.with_steps(run_from_row(&row)?).await?;
        let request: Option<String> = row.try_get("request")?;
        Ok(Some(ClaimedRun {
            request: parse_request(request.as_deref())?,
            lease: Lease {
                run_id: run.id.clone(),
                worker: worker.to_owned(),
                attempt: run.attempts,
                expires_at: millis_to_time(expires_at.timestamp_millis())?,
            },
            run,
        }))
    }

    async fn renew_lease(&self, lease: &Lease, lease_for: Duration) -> Result<Option<Lease>> {
        let expires_at = Utc::now() + lease_for;
        let renewed = sqlx::query(
            "UPDATE runs SET lease_expires_at = ? \
             WHERE id = ? AND lease_worker = ? AND attempts = ? AND status = 'running'",
        )
        .bind(expires_at.timestamp_millis())
        .bind(lease.run_id.as_str())
        .bind(&lease.worker)
        .bind(i64::from(lease.attempt))
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok((renewed == 1).then(|| Lease {
            expires_at: millis_to_time(expires_at.timestamp_millis()).unwrap_or(expires_at),
            ..lease.clone()
        }))
    }

    async fn release_run(&self, lease: &Lease) -> Result<bool> {
        let released = sqlx::query(
            "UPDATE runs SET status = 'queued', lease_worker = NULL, lease_expires_at = NULL, \
             updated_at = ? WHERE id = ? AND lease_worker = ? AND attempts = ? AND status = 'running'",
        )
        .bind(ts(Utc::now()))
        .bind(lease.run_id.as_str())
        .bind(&lease.worker)
        .bind(i64::from(lease.attempt))
        .execute(&self.writer)
        .await?
        .rows_affected();
        if released == 1 {
            self.work.notify_waiters();
        }
        Ok(released == 1)
    }

    async fn prune(&self, retention: &Retention) -> Result<Pruned> {
        let mut pruned = Pruned::default();
        let mut tx = self.writer.begin().await?;
        if let Some(cut) = retention.finished_runs_before {
            let finished = "SELECT id FROM runs WHERE status NOT IN ('queued', 'running') \
                            AND finished_at IS NOT NULL AND finished_at < ?";
            sqlx::query(&format!(
                "DELETE FROM run_steps WHERE run_id IN ({finished})"
            ))
            .bind(ts(cut))
            .execute(&mut *tx)
            .await?;
            pruned.runs = sqlx::query(&format!("DELETE FROM runs WHERE id IN ({finished})"))
                .bind(ts(cut))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        if let Some(cut) = retention.audit_before {
            sqlx::query("UPDATE audit_prune_gate SET open = 1")
                .execute(&mut *tx)
                .await?;
            pruned.audit = sqlx::query("DELETE FROM audit WHERE at < ?")
                .bind(ts(cut))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("UPDATE audit_prune_gate SET open = 0")
                .execute(&mut *tx)
                .await?;
        }
        if let Some(cut) = retention.vanished_inventory_before {
            pruned.inventory = sqlx::query(
                "DELETE FROM inventory WHERE vanished_at IS NOT NULL AND vanished_at < ?",
            )
            .bind(ts(cut))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(pruned)
    }

    async fn wait_for_work(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.work.notified()).await;
    }

    async fn run_request(&self, id: &RunId) -> Result<Option<serde_json::Value>> {
        let row = sqlx::query("SELECT request FROM runs WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => match row.try_get::<Option<String>, _>("request")? {
                Some(text) => parse_request(Some(&text)).map(Some),
                None => Ok(None),
            },
            None => Ok(None),
        }
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
        let now = ts(Utc::now());
        sqlx::query(
            "UPDATE runs SET status = ?, reason = ?, message = ?, updated_at = ?, finished_at = ?, \
             lease_expires_at = NULL WHERE id = ? AND status IN ('queued', 'running')",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(message.map(sanitize_message))
        .bind(&now)
        .bind(&now)
        .bind(id.as_str())
        .execute(&self.writer)
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
        let now = ts(Utc::now());
        let finished = sqlx::query(
            "UPDATE runs SET status = ?, reason = ?, message = ?, updated_at = ?, finished_at = ?, \
             lease_expires_at = NULL WHERE id = ? AND lease_worker = ? AND attempts = ? \
             AND status = 'running'",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(message.map(sanitize_message))
        .bind(&now)
        .bind(&now)
        .bind(lease.run_id.as_str())
        .bind(&lease.worker)
        .bind(i64::from(lease.attempt))
        .execute(&self.writer)
        .await?
        .rows_affected();
        if finished != 1 {
            return Err(lease_lost(lease));
        }
        self.get_run(&lease.run_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("run {}", lease.run_id)))
    }

    async fn request_cancel(&self, id: &RunId) -> Result<OperationRun> {
        sqlx::query(
            "UPDATE runs SET cancel_requested = 1, updated_at = ? \
             WHERE id = ? AND status IN ('queued', 'running') AND cancel_requested = 0",
        )
        .bind(ts(Utc::now()))
        .bind(id.as_str())
        .execute(&self.writer)
        .await?;
        self.get_run(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("run {id}")))
    }

    async fn get_run(&self, id: &RunId) -> Result<Option<OperationRun>> {
        Ok(self.runs_where("id = ?", id.as_str()).await?.pop())
    }

    async fn active_run(&self, scope: &str) -> Result<Option<OperationRun>> {
        Ok(self
            .runs_where("scope = ? AND status IN ('queued', 'running')", scope)
            .await?
            .pop())
    }

    async fn list_runs(&self, scope: &str) -> Result<Vec<OperationRun>> {
        self.runs_where("scope = ?", scope).await
    }

    async fn put_step(&self, state: &StepState, run: Option<&RunId>) -> Result<()> {
        self.write_step(state, run, None).await.map(|_| ())
    }

    async fn put_step_audited(
        &self,
        state: &StepState,
        run: Option<&RunId>,
        audit: &AuditEntry,
    ) -> Result<i64> {
        self.write_step(state, run, Some(audit)).await
    }

    async fn put_step_fenced(&self, state: &StepState, lease: &Lease) -> Result<()> {
        let body = serde_json::to_string(state).map_err(Error::store)?;
        let mut tx = self.writer.begin().await?;
        // The fence first, as a write: from here to the commit this
        // transaction holds the file's write lock, so no claim of the run
        // can come between the check and the step.
        let held = sqlx::query(
            "UPDATE runs SET updated_at = ? WHERE id = ? AND lease_worker = ? AND attempts = ? \
             AND status = 'running'",
        )
        .bind(ts(Utc::now()))
        .bind(lease.run_id.as_str())
        .bind(&lease.worker)
        .bind(i64::from(lease.attempt))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if held != 1 {
            tx.rollback().await?;
            return Err(lease_lost(lease));
        }
        sqlx::query(UPSERT_STEP)
            .bind(&state.scope)
            .bind(&state.step)
            .bind(&state.dock)
            .bind(state.resource_id().map(id_text))
            .bind(state.holds_resource())
            .bind(state.record.state.as_str())
            .bind(&body)
            .bind(ts(state.updated_at))
            .execute(&mut *tx)
            .await?;
        sqlx::query(NOTE_RUN_STEP)
            .bind(lease.run_id.as_str())
            .bind(&state.step)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_step(&self, scope: &str, step: &str) -> Result<Option<StepState>> {
        sqlx::query("SELECT body FROM steps WHERE scope = ? AND step = ?")
            .bind(scope)
            .bind(step)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(step_from_row)
            .transpose()
    }

    async fn list_steps(&self, scope: &str) -> Result<Vec<StepState>> {
        sqlx::query("SELECT body FROM steps WHERE scope = ? ORDER BY step")
            .bind(scope)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(step_from_row)
            .collect()
    }

    async fn steps_holding(&self, dock: &str, resource: &ResourceId) -> Result<Vec<StepState>> {
        sqlx::query("SELECT body FROM steps WHERE live = 1 AND dock = ? AND resource_id = ? ORDER BY scope, step")
            .bind(dock)
            .bind(id_text(resource))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(step_from_row)
            .collect()
    }

    async fn append_audit(&self, e: &AuditEntry) -> Result<i64> {
        let result = sqlx::query(
            "INSERT INTO audit (at, actor, org, scope, dock, resource, operation, outcome, reason, run_id, message) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(ts(e.at))
        .bind(&e.actor)
        .bind(&e.org)
        .bind(&e.scope)
        .bind(&e.dock)
        .bind(&e.resource)
        .bind(&e.operation)
        .bind(e.outcome.as_str())
        .bind(&e.reason)
        .bind(e.run_id.as_ref().map(RunId::as_str))
        .bind(e.message.as_deref().map(sanitize_message))
        .execute(&self.writer)
        .await?;
        Ok(result.last_insert_rowid())
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, org, scope, dock, resource, operation, outcome, reason, run_id, message \
             FROM audit WHERE (?1 IS NULL OR scope = ?1) AND (?2 IS NULL OR run_id = ?2) \
             AND (?3 IS NULL OR operation = ?3) ORDER BY seq",
        )
        .bind(&query.scope)
        .bind(query.run_id.as_ref().map(RunId::as_str))
        .bind(&query.operation)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let outcome: String = row.try_get("outcome")?;
                Ok(AuditEntry {
                    seq: row.try_get("seq")?,
                    at: parse_ts(&row.try_get::<String, _>("at")?)?,
                    actor: row.try_get("actor")?,
                    org: row.try_get("org")?,
                    scope: row.try_get("scope")?,
                    dock: row.try_get("dock")?,
                    resource: row.try_get("resource")?,
                    operation: row.try_get("operation")?,
                    outcome: AuditOutcome::parse(&outcome)
                        .ok_or_else(|| Error::store(format!("unknown outcome {outcome:?}")))?,
                    reason: row.try_get("reason")?,
                    run_id: row.try_get::<Option<String>, _>("run_id")?.map(RunId),
                    message: row.try_get("message")?,
                })
            })
            .collect()
    }

    async fn claim_scope(&self, scope: &str, org: &str) -> Result<String> {
        // Insert-or-keep, then read the owner, in one transaction.
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO scopes (scope, org, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(scope)
        .bind(org)
        .bind(ts(Utc::now()))
        .execute(&mut *tx)
        .await?;
        let owner: String = sqlx::query("SELECT org FROM scopes WHERE scope = ?")
            .bind(scope)
            .fetch_one(&mut *tx)
            .await?
            .try_get("org")?;
        tx.commit().await?;
        Ok(owner)
    }

    async fn scope_org(&self, scope: &str) -> Result<Option<String>> {
        Ok(sqlx::query("SELECT org FROM scopes WHERE scope = ?")
            .bind(scope)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| row.try_get("org"))
            .transpose()?)
    }

    async fn list_scopes(&self) -> Result<Vec<ScopeRef>> {
        sqlx::query(
            "SELECT scope, org FROM scopes s WHERE EXISTS \
             (SELECT 1 FROM steps t WHERE t.scope = s.scope AND t.state <> 'deprovisioned') \
             ORDER BY scope",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(ScopeRef::new(
                row.try_get::<String, _>("scope")?,
                row.try_get::<String, _>("org")?,
            ))
        })
        .collect()
    }

    async fn sync_inventory(
        &self,
        dock: &str,
        kind: ResourceKind,
        items: &[InventoryItem],
        at: DateTime<Utc>,
    ) -> Result<InventoryDelta> {
        let at = ts(at);
        let mut delta = InventoryDelta::default();
        let mut tx = self.writer.begin().await?;
        for item in items {
            delta.seen += 1;
            let body = serde_json::to_string(&item.resource).map_err(Error::store)?;
            // Added: new, or back after having vanished.
            let before: Option<Option<String>> = sqlx::query(
                "SELECT vanished_at FROM inventory WHERE dock = ? AND kind = ? AND provider_resource_id = ?",
            )
            .bind(dock)
            .bind(kind.as_str())
            .bind(&item.provider_resource_id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get("vanished_at"))
            .transpose()?;
            if !matches!(before, Some(None)) {
                delta.added += 1;
            }
            sqlx::query(
                "INSERT INTO inventory (dock, kind, provider_resource_id, name, body, first_seen_at, last_seen_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (dock, kind, provider_resource_id) DO UPDATE SET \
                 name = excluded.name, body = excluded.body, last_seen_at = excluded.last_seen_at, vanished_at = NULL",
            )
            .bind(dock)
            .bind(kind.as_str())
            .bind(&item.provider_resource_id)
            .bind(&item.name)
            .bind(&body)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        }
        delta.vanished = sqlx::query(
            "UPDATE inventory SET vanished_at = ?1 WHERE dock = ?2 AND kind = ?3 \
             AND vanished_at IS NULL AND last_seen_at <> ?1",
        )
        .bind(&at)
        .bind(dock)
        .bind(kind.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(delta)
    }

    async fn list_inventory(&self, dock: Option<&str>) -> Result<Vec<InventoryItem>> {
        let rows = sqlx::query(
            "SELECT * FROM inventory WHERE (?1 IS NULL OR dock = ?1) ORDER BY dock, kind, provider_resource_id",
        )
        .bind(dock)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                let body: String = row.try_get("body")?;
                let vanished: Option<String> = row.try_get("vanished_at")?;
                Ok(InventoryItem {
                    dock: row.try_get("dock")?,
                    kind: ResourceKind::ALL
                        .into_iter()
                        .find(|k| k.as_str() == kind)
                        .ok_or_else(|| Error::store(format!("unknown kind {kind:?}")))?,
                    provider_resource_id: row.try_get("provider_resource_id")?,
                    name: row.try_get("name")?,
                    resource: serde_json::from_str(&body).map_err(Error::store)?,
                    first_seen_at: parse_ts(&row.try_get::<String, _>("first_seen_at")?)?,
                    last_seen_at: parse_ts(&row.try_get::<String, _>("last_seen_at")?)?,
                    vanished_at: vanished.as_deref().map(parse_ts).transpose()?,
                })
            })
            .collect()
    }

    async fn put_dock_sync(&self, sync: &DockSync) -> Result<()> {
        let budget = sync.rate_limit.unwrap_or_default();
        sqlx::query(
            "INSERT INTO dock_syncs (dock, last_sync_at, last_success_at, last_sync_error, items, \
             rate_limit_limit, rate_limit_remaining, rate_limit_reset_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dock) DO UPDATE SET last_sync_at = excluded.last_sync_at, \
             last_success_at = excluded.last_success_at, last_sync_error = excluded.last_sync_error, \
             items = excluded.items, rate_limit_limit = excluded.rate_limit_limit, \
             rate_limit_remaining = excluded.rate_limit_remaining, \
             rate_limit_reset_at = excluded.rate_limit_reset_at",
        )
        .bind(&sync.dock)
        .bind(sync.last_sync_at.map(ts))
        .bind(sync.last_success_at.map(ts))
        .bind(sync.last_sync_error.as_deref().map(sanitize_message))
        .bind(i64::try_from(sync.items).unwrap_or(i64::MAX))
        .bind(budget.limit.map(saturating_i64))
        .bind(budget.remaining.map(saturating_i64))
        .bind(budget.reset_at.map(ts))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn dock_syncs(&self) -> Result<Vec<DockSync>> {
        let rows = sqlx::query("SELECT * FROM dock_syncs ORDER BY dock")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let at = |col: &str| -> Result<Option<DateTime<Utc>>> {
                    row.try_get::<Option<String>, _>(col)?
                        .as_deref()
                        .map(parse_ts)
                        .transpose()
                };
                let count = |col: &str| -> Result<Option<u64>> {
                    let n: Option<i64> = row.try_get(col)?;
                    Ok(n.map(|n| u64::try_from(n).unwrap_or(0)))
                };
                Ok(DockSync {
                    dock: row.try_get("dock")?,
                    last_sync_at: at("last_sync_at")?,
                    last_success_at: at("last_success_at")?,
                    last_sync_error: row.try_get("last_sync_error")?,
                    items: u64::try_from(row.try_get::<i64, _>("items")?).unwrap_or(0),
                    rate_limit: rate_limit(
                        count("rate_limit_limit")?,
                        count("rate_limit_remaining")?,
                        at("rate_limit_reset_at")?,
                    ),
                })
            })
            .collect()
    }

    async fn put_secret(&self, s: &SealedSecret) -> Result<()> {
        sqlx::query(
            "INSERT INTO secrets (org, dock, name, key_id, nonce, ciphertext, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (org, dock, name) DO UPDATE SET \
             key_id = excluded.key_id, nonce = excluded.nonce, ciphertext = excluded.ciphertext, \
             updated_at = excluded.updated_at",
        )
        .bind(&s.org)
        .bind(&s.dock)
        .bind(&s.name)
        .bind(&s.key_id)
        .bind(&s.nonce)
        .bind(&s.ciphertext)
        .bind(ts(s.updated_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn get_secret(&self, org: &str, dock: &str, name: &str) -> Result<Option<SealedSecret>> {
        sqlx::query("SELECT * FROM secrets WHERE org = ? AND dock = ? AND name = ?")
            .bind(org)
            .bind(dock)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(secret_from_row)
            .transpose()
    }

    async fn list_secrets(&self) -> Result<Vec<SealedSecret>> {
        sqlx::query("SELECT * FROM secrets ORDER BY org, dock, name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(secret_from_row)
            .collect()
    }

    async fn delete_secrets(&self, org: &str, dock: &str) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM secrets WHERE org = ? AND dock = ?")
                .bind(org)
                .bind(dock)
                .execute(&self.writer)
                .await?
                .rows_affected(),
        )
    }
}

fn secret_from_row(row: &SqliteRow) -> Result<SealedSecret> {
    Ok(SealedSecret {
        org: row.try_get("org")?,
        dock: row.try_get("dock")?,
        name: row.try_get("name")?,
        key_id: row.try_get("key_id")?,
        nonce: row.try_get("nonce")?,
        ciphertext: row.try_get("ciphertext")?,
        updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
    })
}
