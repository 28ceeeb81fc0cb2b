//! Step writes and their group commit.
//!
//! Every step write is ONE statement (data-modifying CTEs: the fence, the
//! step's row, the note that its run touched it, the audit entry), atomic
//! on its own: one round trip and one commit, like the single-row commit it
//! is measured against. Written through [`GroupCommit`]: a write that finds
//! no commit under way is sent alone, as that statement; the writes of this
//! process that queued meanwhile (the other steps in flight) are sent as
//! ONE statement over arrays ([`WRITE_STEPS_UNFENCED`] for an in-process
//! run's, [`WRITE_STEPS_ONE_FENCE`] for a worker's, [`WRITE_STEPS`] for a
//! mix) — one round trip, one statement to execute and one commit for the
//! group. Each caller returns once its own write is committed; a leader
//! waits up to [`GATHER`] for the writers it expects.
//!
//! Why one statement and not a transaction of many: executing statements
//! one after the other on the group's connection, not the commits, was
//! what an apply waited for (with `synchronous_commit = off` the apply
//! still took 2–3× its raw commits). Why one group at a time: two or three
//! groups in flight on separate connections measured 2–4× slower.
//!
//! A group statement that PostgreSQL refuses (a constraint or trigger, a
//! deadlock with another replica) wrote nothing; every write of the group is then
//! sent alone, so only the failing one's caller sees its error. A group
//! whose answer is lost (the connection broke) fails every write of it
//! with a store error, as a lost answer to a lone statement does (the
//! runtime's resume observes before it acts again).

use chrono::{DateTime, Utc};
use stackdock_core::provisioning::sanitize_message;
use stackdock_pg::{Object, Pool};
use stackdock_runtime::model::{AuditEntry, Lease, StepState};
use stackdock_runtime::store::group_commit::{GroupCommit, Queued};
use stackdock_runtime::{Error, Result};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::store::id_text;
use crate::{db_error, pool_error};

/// At most this many writes in one transaction (a bound on how long a
/// group holds its connection and the fences it takes).
pub(crate) const MAX_GROUP: usize = 64;

/// How long a leader waits for the writers it expects (see
/// [`GroupCommit::gathering`]): a commit here costs a WAL flush, and the
/// writers a commit answered come back within microseconds, so waiting for
/// them halves the flushes of 8 steps in flight; a lone writer never waits.
pub(crate) const GATHER: std::time::Duration = std::time::Duration::from_millis(1);

/// The step-write queue of one store.
pub(crate) type StepWrites = GroupCommit<StepWrite, Vec<Row>>;

// Step writes: each is ONE statement (data-modifying CTEs), so one round
// trip and one commit, like the single-row commit it is measured against —
// not a BEGIN, three statements and a COMMIT. A statement is atomic on its
// own: its parts are all written, or none.
//
// Parameters: $1-$8 the step's row (`StepRow`); then $9 the run that
// touched it (NULL: none), or $9-$11 the fence (`Fence`); then the audit
// entry's 11 (`AuditRow`).

/// Upsert the step's row ($1-$8).
macro_rules! upsert_step {
    ($source:expr) => {
        concat!(
            "INSERT INTO steps (scope, step, dock, resource_id, live, state, body, updated_at) ",
            $source,
            " ON CONFLICT (scope, step) DO UPDATE SET dock = excluded.dock, \
             resource_id = excluded.resource_id, live = excluded.live, state = excluded.state, \
             body = excluded.body, updated_at = excluded.updated_at"
        )
    };
}

/// The step's row as given.
macro_rules! step_values {
    () => {
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    };
}

/// The step's row, only while the fence holds.
macro_rules! step_values_fenced {
    () => {
        "SELECT $1::text, $2::text, $3::text, $4::text, $5::boolean, $6::text, $7::text, \
         $8::timestamptz WHERE EXISTS (SELECT FROM fence)"
    };
}

/// Note that run $9 touched step $2 (in the order first touched). The run
/// row is not updated: the steps of one run in flight at once would queue
/// on its row lock, each holding it through its commit.
macro_rules! note_run_step {
    ($where:literal) => {
        concat!(
            "INSERT INTO run_steps (run_id, step) SELECT $9::text, $2::text WHERE ",
            $where,
            " ON CONFLICT DO NOTHING"
        )
    };
}

/// The claim `lease` ($9 run, $10 worker, $11 attempt) still holds its run,
/// as a shared lock on the run's row until the commit: a concurrent claim
/// (an UPDATE of that row) waits for the write to commit and then sees it,
/// or came first and the fence matches nothing. Shared, so the steps of one
/// run in flight at once do not queue behind each other.
macro_rules! fence {
    () => {
        "fence AS (SELECT FROM runs WHERE id = $9 AND lease_worker = $10 \
         AND attempts = $11 AND status = 'running' FOR SHARE)"
    };
}

/// Append the audit entry whose 11 parameters are the given ones.
macro_rules! append_entry {
    ($at:literal, $actor:literal, $org:literal, $scope:literal, $dock:literal, $resource:literal,
     $operation:literal, $outcome:literal, $reason:literal, $run:literal, $message:literal) => {
        concat!(
            "INSERT INTO audit (at, actor, org, scope, dock, resource, operation, outcome, reason, run_id, message) \
             VALUES ($", $at, ", $", $actor, ", $", $org, ", $", $scope, ", $", $dock, ", $", $resource,
            ", $", $operation, ", $", $outcome, ", $", $reason, ", $", $run, ", $", $message, ") RETURNING seq"
        )
    };
}

/// An audit entry alone ($1-$11); returns its `seq`.
pub(crate) const APPEND_AUDIT: &str = append_entry!(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);

/// A step, and the run that touched it when $9 is not NULL.
const WRITE_STEP: &str = concat!(
    "WITH step AS (",
    upsert_step!(step_values!()),
    " RETURNING 1) ",
    note_run_step!("$9 IS NOT NULL")
);

/// The fence, then the step's row and the run's note under it: the common
/// head of the fenced step writes (CTEs `fence`, `step`, `touched`).
macro_rules! fenced_step {
    () => {
        concat!(
            "WITH ",
            fence!(),
            ", step AS (",
            upsert_step!(step_values_fenced!()),
            " RETURNING 1), touched AS (",
            note_run_step!("EXISTS (SELECT FROM fence)"),
            " RETURNING 1)"
        )
    };
}

/// A step under the fence; returns `held`.
const WRITE_STEP_FENCED: &str =
    concat!(fenced_step!(), " SELECT EXISTS (SELECT FROM fence) AS held");

/// [`WRITE_STEP`] and the audit entry ($10-$20); returns its `seq`.
const WRITE_STEP_AUDITED: &str = concat!(
    "WITH step AS (",
    upsert_step!(step_values!()),
    " RETURNING 1), touched AS (",
    note_run_step!("$9 IS NOT NULL"),
    " RETURNING 1) ",
    append_entry!(10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)
);

/// [`WRITE_STEP_FENCED`] and the audit entry ($12-$22), which is appended
/// whether or not the fence holds (it records a call that happened);
/// returns `held` and its `seq`.
const WRITE_STEP_AUDITED_FENCED: &str = concat!(
    fenced_step!(),
    ", entry AS (",
    append_entry!(12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22),
    ") SELECT EXISTS (SELECT FROM fence) AS held, (SELECT seq FROM entry) AS seq"
);

/// A group of step writes as one statement: each write is an element of
/// 23 arrays (in the group's order; NULL where a write has no such part),
/// its row in [`WRITE_STEP`] … [`WRITE_STEP_AUDITED_FENCED`] spread over
/// them: $1-$8 the step's row; $9 the run that touched the step (for a
/// fenced write, the fence's run), $10-$11 the fence's worker and attempt
/// (NULL: not fenced); $12 whether an audit entry goes with it and $13-$23
/// the entry. `$held` is the relation of the writes whose fence holds,
/// `$fences` the CTEs that define it and `$is_held` the test of one write.
/// Returns, per write in order, `held` and the audit entry's `seq`.
macro_rules! write_steps {
    ($fences:literal, $held:literal, $is_held:literal) => {
        concat!(
            "WITH w AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
             $5::boolean[], $6::text[], $7::text[], $8::timestamptz[], $9::text[], $10::text[], \
             $11::integer[], $12::boolean[], $13::timestamptz[], $14::text[], $15::text[], \
             $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], \
             $22::text[], $23::text[]) WITH ORDINALITY AS w (scope, step, dock, resource_id, \
             live, state, body, updated_at, run, fence_worker, fence_attempt, audited, at, actor, \
             org, a_scope, a_dock, resource, operation, outcome, reason, run_id, message, ord)), ",
            $fences,
            "step AS (",
            upsert_step!(concat!(
                "SELECT scope, step, dock, resource_id, live, state, body, updated_at FROM ",
                $held,
                " ORDER BY ord"
            )),
            " RETURNING 1), touched AS (INSERT INTO run_steps (run_id, step) SELECT run, step FROM ",
            $held,
            " WHERE run IS NOT NULL ORDER BY ord ON CONFLICT DO NOTHING RETURNING 1), ",
            // Each entry's seq drawn first, so each write learns its own.
            "numbered AS (SELECT ord, nextval('audit_seq_seq') AS seq FROM w WHERE audited \
             ORDER BY ord), \
             entry AS (INSERT INTO audit (seq, at, actor, org, scope, dock, resource, operation, \
             outcome, reason, run_id, message) OVERRIDING SYSTEM VALUE SELECT n.seq, w.at, \
             w.actor, w.org, w.a_scope, w.a_dock, w.resource, w.operation, w.outcome, w.reason, \
             w.run_id, w.message FROM w JOIN numbered n USING (ord) ORDER BY ord RETURNING 1) \
             SELECT w.ord, ",
            $is_held,
            " AS held, n.seq FROM w LEFT JOIN numbered n USING (ord) ORDER BY w.ord"
        )
    };
}

/// A group of which some writes are fenced: each fence — a claim (run,
/// worker, attempt), once however many writes it covers — is a shared lock
/// on its run's row, as for a lone write; an audit entry is appended
/// whether or not its fence holds.
pub(crate) const WRITE_STEPS: &str = write_steps!(
    "fences AS (SELECT DISTINCT run, fence_worker, fence_attempt FROM w \
     WHERE fence_worker IS NOT NULL), \
     fenced AS (SELECT r.id, r.lease_worker, r.attempts FROM runs r JOIN fences f \
     ON r.id = f.run AND r.lease_worker = f.fence_worker AND r.attempts = f.fence_attempt \
     WHERE r.status = 'running' FOR SHARE OF r), \
     held AS (SELECT w.*, (w.fence_worker IS NULL OR EXISTS (SELECT FROM fenced f \
     WHERE f.id = w.run AND f.lease_worker = w.fence_worker AND f.attempts = w.fence_attempt)) \
     AS holds FROM w), ",
    "(SELECT * FROM held WHERE holds) h",
    "(SELECT h.holds FROM held h WHERE h.ord = w.ord)"
);

/// A group without fences (an in-process run's writes): every write holds.
pub(crate) const WRITE_STEPS_UNFENCED: &str = write_steps!("", "w", "true");

/// A group whose writes are all under one claim (a worker's run with its
/// steps in flight, the usual group of a worker): the fence is checked and
/// locked once, from the claim of the first write.
pub(crate) const WRITE_STEPS_ONE_FENCE: &str = write_steps!(
    "fence AS (SELECT FROM runs WHERE id = ($9::text[])[1] \
     AND lease_worker = ($10::text[])[1] AND attempts = ($11::integer[])[1] \
     AND status = 'running' FOR SHARE), ",
    "(SELECT * FROM w WHERE EXISTS (SELECT FROM fence)) h",
    "EXISTS (SELECT FROM fence)"
);

/// Where a step write is bound: the run that touched it (`$9`, NULL:
/// none), or the claim that must still hold it (`$9`-`$11`).
pub(crate) enum Tail {
    Run(Option<String>),
    Fence {
        run: String,
        worker: String,
        attempt: i32,
    },
}

impl Tail {
    /// The fence of `lease`.
    pub(crate) fn fence(lease: &Lease) -> Self {
        Tail::Fence {
            run: lease.run_id.0.clone(),
            worker: lease.worker.clone(),
            attempt: attempt_of(lease),
        }
    }
}

/// The claim's attempt as the `attempts` column holds it.
pub(crate) fn attempt_of(lease: &Lease) -> i32 {
    i32::try_from(lease.attempt).unwrap_or(i32::MAX)
}

/// A step write, owned (it waits in a queue): the step's row ($1-$8), its
/// [`Tail`], and the audit entry that goes with it.
pub(crate) struct StepWrite {
    sql: &'static str,
    scope: String,
    step: String,
    dock: String,
    resource_id: Option<String>,
    live: bool,
    provisioning: &'static str,
    body: String,
    updated_at: DateTime<Utc>,
    tail: Tail,
    audit: Option<AuditRow>,
}

impl StepWrite {
    /// The write of `state`, bound by `tail`, with `audit` if given.
    pub(crate) fn new(state: &StepState, tail: Tail, audit: Option<&AuditEntry>) -> Result<Self> {
        let sql = match (&tail, audit) {
            (Tail::Run(_), None) => WRITE_STEP,
            (Tail::Fence { .. }, None) => WRITE_STEP_FENCED,
            (Tail::Run(_), Some(_)) => WRITE_STEP_AUDITED,
            (Tail::Fence { .. }, Some(_)) => WRITE_STEP_AUDITED_FENCED,
        };
        Ok(StepWrite {
            sql,
            scope: state.scope.clone(),
            step: state.step.clone(),
            dock: state.dock.clone(),
            resource_id: state.resource_id().map(id_text),
            live: state.holds_resource(),
            provisioning: state.record.state.as_str(),
            body: serde_json::to_string(state).map_err(Error::store)?,
            updated_at: state.updated_at,
            tail,
            audit: audit.map(AuditRow::of),
        })
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(22);
        params.extend([
            &self.scope as &(dyn ToSql + Sync),
            &self.step,
            &self.dock,
            &self.resource_id,
            &self.live,
            &self.provisioning,
            &self.body,
            &self.updated_at,
        ]);
        match &self.tail {
            Tail::Run(run) => params.push(run),
            Tail::Fence {
                run,
                worker,
                attempt,
            } => params.extend([run as &(dyn ToSql + Sync), worker, attempt]),
        }
        if let Some(audit) = &self.audit {
            params.extend(audit.params());
        }
        params
    }

    /// The write alone: its own statement, its own commit.
    async fn alone(&self, conn: &Object) -> Result<Vec<Row>> {
        let statement = conn.prepare_cached(self.sql).await.map_err(db_error)?;
        conn.query(&statement, &self.params())
            .await
            .map_err(db_error)
    }
}

/// A queued step write, answered with the rows its statement returned.
type Pending = Queued<StepWrite, Vec<Row>>;

/// Commit `group` — alone, or as one statement — and answer each of its
/// callers.
pub(crate) async fn commit(pool: &Pool, group: Vec<Pending>) {
    let conn = match pool.get().await {
        Ok(conn) => conn,
        Err(e) => {
            let e = pool_error(e);
            return group.into_iter().for_each(|q| q.not_committed(&e));
        }
    };
    if group.len() > 1 {
        let writes: Vec<&StepWrite> = group.iter().map(|q| &q.write).collect();
        match together(&conn, &writes).await {
            Together::Written(rows) => {
                let answers = group.into_iter().zip(rows);
                return answers.for_each(|(q, row)| q.answer(Ok(vec![row])));
            }
            Together::Refused => {} // nothing of it was written: each alone
            Together::Lost(e) => return group.into_iter().for_each(|q| q.not_committed(&e)),
        }
    }
    for queued in group {
        let result = queued.write.alone(&conn).await;
        queued.answer(result);
    }
}

/// What became of a group statement.
enum Together {
    /// Written: a row per write, in order.
    Written(Vec<Row>),
    /// Refused by PostgreSQL (the statement is atomic: nothing written).
    Refused,
    /// No answer (the connection broke): written or not, nobody knows.
    Lost(Error),
}

/// `writes` as one statement: [`WRITE_STEPS_UNFENCED`] when none of them
/// is fenced, [`WRITE_STEPS_ONE_FENCE`] when all are under one claim, else
/// [`WRITE_STEPS`].
async fn together(conn: &Object, writes: &[&StepWrite]) -> Together {
    let columns = Columns::of(writes.iter().copied());
    let sql = statement_for(writes);
    let written = match conn.prepare_cached(sql).await {
        Ok(statement) => conn.query(&statement, &columns.params()).await,
        Err(e) => Err(e),
    };
    match written {
        Ok(rows) if rows.len() == writes.len() => Together::Written(rows),
        Ok(rows) => Together::Lost(Error::store(format!(
            "a group of {} step writes was answered with {} rows",
            writes.len(),
            rows.len()
        ))),
        Err(e) if e.as_db_error().is_some() => Together::Refused,
        Err(e) => Together::Lost(db_error(e)),
    }
}

/// The group statement for `writes`.
fn statement_for(writes: &[&StepWrite]) -> &'static str {
    let first = writes.first().and_then(|w| claim_of(w));
    if writes.iter().all(|w| claim_of(w).is_none()) {
        WRITE_STEPS_UNFENCED
    } else if first.is_some() && writes.iter().all(|w| claim_of(w) == first) {
        WRITE_STEPS_ONE_FENCE
    } else {
        WRITE_STEPS
    }
}

/// The claim a write is fenced by, if any.
fn claim_of(write: &StepWrite) -> Option<(&str, &str, i32)> {
    match &write.tail {
        Tail::Fence {
            run,
            worker,
            attempt,
        } => Some((run, worker, *attempt)),
        Tail::Run(_) => None,
    }
}

/// A group's writes as [`WRITE_STEPS`]'s 23 arrays.
#[derive(Default)]
struct Columns<'a> {
    scope: Vec<&'a str>,
    step: Vec<&'a str>,
    dock: Vec<&'a str>,
    resource_id: Vec<Option<&'a str>>,
    live: Vec<bool>,
    state: Vec<&'a str>,
    body: Vec<&'a str>,
    updated_at: Vec<DateTime<Utc>>,
    run: Vec<Option<&'a str>>,
    fence_worker: Vec<Option<&'a str>>,
    fence_attempt: Vec<Option<i32>>,
    audited: Vec<bool>,
    at: Vec<Option<DateTime<Utc>>>,
    /// The entry's text columns, $14-$23 (actor … message).
    entry: [Vec<Option<&'a str>>; 10],
}

impl<'a> Columns<'a> {
    fn of(writes: impl Iterator<Item = &'a StepWrite>) -> Self {
        let mut c = Columns::default();
        for w in writes {
            c.scope.push(&w.scope);
            c.step.push(&w.step);
            c.dock.push(&w.dock);
            c.resource_id.push(w.resource_id.as_deref());
            c.live.push(w.live);
            c.state.push(w.provisioning);
            c.body.push(&w.body);
            c.updated_at.push(w.updated_at);
            let (run, worker, attempt) = match &w.tail {
                Tail::Run(run) => (run.as_deref(), None, None),
                Tail::Fence {
                    run,
                    worker,
                    attempt,
                } => (Some(run.as_str()), Some(worker.as_str()), Some(*attempt)),
            };
            c.run.push(run);
            c.fence_worker.push(worker);
            c.fence_attempt.push(attempt);
            c.audited.push(w.audit.is_some());
            c.at.push(w.audit.as_ref().map(|a| a.entry.at));
            let texts = w.audit.as_ref().map(AuditRow::texts);
            for (i, column) in c.entry.iter_mut().enumerate() {
                column.push(texts.and_then(|t| t[i]));
            }
        }
        c
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &self.scope,
            &self.step,
            &self.dock,
            &self.resource_id,
            &self.live,
            &self.state,
            &self.body,
            &self.updated_at,
            &self.run,
            &self.fence_worker,
            &self.fence_attempt,
            &self.audited,
            &self.at,
        ];
        params.extend(self.entry.iter().map(|c| c as &(dyn ToSql + Sync)));
        params
    }
}

/// An audit entry's 11 parameters (its message sanitised).
pub(crate) struct AuditRow {
    entry: AuditEntry,
    outcome: &'static str,
    run_id: Option<String>,
    message: Option<String>,
}

impl AuditRow {
    pub(crate) fn of(entry: &AuditEntry) -> Self {
        AuditRow {
            outcome: entry.outcome.as_str(),
            run_id: entry.run_id.as_ref().map(|r| r.as_str().to_owned()),
            message: entry.message.as_deref().map(sanitize_message),
            entry: entry.clone(),
        }
    }

    /// The entry's text columns after `at`, in [`APPEND_AUDIT`]'s order.
    fn texts(&self) -> [Option<&str>; 10] {
        let e = &self.entry;
        [
            Some(e.actor.as_str()),
            e.org.as_deref(),
            e.scope.as_deref(),
            e.dock.as_deref(),
            e.resource.as_deref(),
            Some(e.operation.as_str()),
            Some(self.outcome),
            e.reason.as_deref(),
            self.run_id.as_deref(),
            self.message.as_deref(),
        ]
    }

    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 11] {
        let e = &self.entry;
        [
            &e.at,
            &e.actor,
            &e.org,
            &e.scope,
            &e.dock,
            &e.resource,
            &e.operation,
            &self.outcome,
            &e.reason,
            &self.run_id,
            &self.message,
        ]
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use stackdock_runtime::model::{AuditOutcome, AuditQuery, Operation, RunId};
    use stackdock_runtime::store::Store;

    use super::*;
    use crate::{PostgresStore, PostgresStoreConfig};

    /// A store in a fresh schema of the test server (dropped by `drop_schema`).
    async fn store() -> PostgresStore {
        let url = std::env::var("STACKDOCK_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let schema = format!("sd_group_{}", &RunId::new().0.replace('-', "")[..12]);
        let config = PostgresStoreConfig::from_url(&url)
            .unwrap()
            .with_schema(&schema)
            .unwrap();
        PostgresStore::connect(config)
            .await
            .expect("the test PostgreSQL")
    }

    async fn drop_schema(store: &PostgresStore) {
        let conn = store.conn().await.unwrap();
        let sql = format!("DROP SCHEMA {} CASCADE", store.schema());
        conn.batch_execute(&sql).await.unwrap();
    }

    /// `acme`'s in-process run, and `beta`'s run claimed by worker `w1`.
    async fn runs(store: &PostgresStore) -> (RunId, Lease) {
        let run = store.start_run("acme", Operation::Apply, "alice").await;
        let run = run.unwrap().run().id.clone();
        let request = serde_json::json!({});
        store
            .submit_run("beta", Operation::Apply, "alice", &request)
            .await
            .unwrap();
        let claimed = store.claim_run("w1", Duration::from_secs(60)).await;
        (run, claimed.unwrap().expect("beta's run").lease)
    }

    fn entry(scope: &str, run: &RunId, operation: &str) -> AuditEntry {
        let mut entry = AuditEntry::new("alice", operation, AuditOutcome::Succeeded);
        entry.scope = Some(scope.into());
        entry.run_id = Some(run.clone());
        entry
    }

    fn write(scope: &str, step: &str, tail: Tail, audit: Option<&AuditEntry>) -> StepWrite {
        StepWrite::new(&StepState::new(scope, step, "d"), tail, audit).unwrap()
    }

    /// `lease` after another worker claimed its run again.
    fn stale(lease: &Lease) -> Lease {
        Lease {
            attempt: lease.attempt + 1,
            ..lease.clone()
        }
    }

    /// The names of `scope`'s recorded steps.
    async fn step_names(store: &PostgresStore, scope: &str) -> Vec<String> {
        let steps = store.list_steps(scope).await.unwrap();
        steps.into_iter().map(|s| s.step).collect()
    }

    /// One statement for a mixed group: in-process writes (audited or
    /// not), a fenced write whose claim holds and two whose claim is stale.
    /// Each write gets its own row: `held` per fence, `seq` per entry; the
    /// stale writes' steps are not written but their entries are.
    #[tokio::test]
    async fn a_mixed_group_is_one_statement_with_an_answer_per_write() {
        let store = store().await;
        let (run, lease) = runs(&store).await;
        let stale = stale(&lease);
        let (plain, audited, fenced) = (
            entry("acme", &run, "plain"),
            entry("acme", &run, "create"),
            entry("beta", &lease.run_id, "create"),
        );
        let writes = [
            write("acme", "s0", Tail::Run(Some(run.0.clone())), Some(&audited)),
            write("acme", "s1", Tail::Run(Some(run.0.clone())), None),
            write("beta", "f0", Tail::fence(&lease), Some(&fenced)),
            write("beta", "f1", Tail::fence(&stale), None),
            write("beta", "f2", Tail::fence(&stale), Some(&plain)),
        ];
        let conn = store.conn().await.unwrap();
        let refs: Vec<&StepWrite> = writes.iter().collect();
        assert_eq!(statement_for(&refs), WRITE_STEPS);
        let Together::Written(rows) = together(&conn, &refs).await else {
            panic!("the group was not written as one statement");
        };
        let held: Vec<bool> = rows.iter().map(|r| r.get("held")).collect();
        assert_eq!(held, [true, true, true, false, false]);
        let seqs: Vec<Option<i64>> = rows.iter().map(|r| r.get("seq")).collect();
        assert!(seqs[0].is_some() && seqs[2].is_some() && seqs[4].is_some());
        assert_eq!((seqs[1], seqs[3]), (None, None));

        assert_eq!(step_names(&store, "acme").await, ["s0", "s1"]);
        let beta = step_names(&store, "beta").await;
        assert_eq!(beta, ["f0"], "stale fences write no step");
        let audit = store.list_audit(&AuditQuery::default()).await.unwrap();
        let mut got: Vec<(i64, String)> =
            audit.iter().map(|e| (e.seq, e.operation.clone())).collect();
        got.sort();
        let mut want: Vec<(i64, String)> = [(0, "create"), (2, "create"), (4, "plain")]
            .iter()
            .map(|&(i, op)| (seqs[i].unwrap(), op.to_owned()))
            .collect();
        want.sort();
        assert_eq!(got, want, "each entry under the seq its write was told");
        let noted = store.get_run(&run).await.unwrap().unwrap().steps;
        assert_eq!(noted, ["s0", "s1"], "the run notes its steps in order");
        let noted = store.get_run(&lease.run_id).await.unwrap().unwrap().steps;
        assert_eq!(noted, ["f0"]);
        drop_schema(&store).await;
    }

    /// A worker's usual group — every write under one claim — uses the
    /// one-fence statement: all held while the claim holds; none of the
    /// steps written once it is stale, every entry kept.
    #[tokio::test]
    async fn a_group_under_one_claim_is_fenced_once_and_all_or_nothing() {
        let store = store().await;
        let (_, lease) = runs(&store).await;
        let stale = stale(&lease);
        let audited = entry("beta", &lease.run_id, "create");
        let conn = store.conn().await.unwrap();
        for (claim, prefix, held) in [(&lease, "ok", true), (&stale, "stale", false)] {
            let writes: Vec<StepWrite> = (0..3)
                .map(|i| {
                    let audit = (i != 1).then_some(&audited);
                    write("beta", &format!("{prefix}{i}"), Tail::fence(claim), audit)
                })
                .collect();
            let refs: Vec<&StepWrite> = writes.iter().collect();
            assert_eq!(statement_for(&refs), WRITE_STEPS_ONE_FENCE);
            let Together::Written(rows) = together(&conn, &refs).await else {
                panic!("the group was not written as one statement");
            };
            let got: Vec<bool> = rows.iter().map(|r| r.get("held")).collect();
            assert_eq!(got, [held; 3]);
            let seqs: Vec<Option<i64>> = rows.iter().map(|r| r.get("seq")).collect();
            assert!(seqs[0].is_some() && seqs[1].is_none() && seqs[2].is_some());
        }
        let steps = step_names(&store, "beta").await;
        assert_eq!(steps, ["ok0", "ok1", "ok2"], "a stale claim writes no step");
        let audit = store.list_audit(&AuditQuery::default()).await.unwrap();
        assert_eq!(audit.len(), 4, "every entry is kept, held or not");
        drop_schema(&store).await;
    }

    /// A group PostgreSQL refuses writes nothing at all; through the queue,
    /// its writes are then made alone and only the refused one fails.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_write_fails_alone_and_the_rest_of_its_group_commits() {
        let store = std::sync::Arc::new(store().await);
        let (run, _) = runs(&store).await;
        let conn = store.conn().await.unwrap();
        // A real refusal from the server: a trigger on one step name.
        conn.batch_execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.step = 'refused' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON steps \
             FOR EACH ROW EXECUTE FUNCTION refuse();",
        )
        .await
        .unwrap();
        let tail = || Tail::Run(Some(run.0.clone()));
        let audited = entry("acme", &run, "create");
        let group = [
            write("acme", "s0", tail(), Some(&audited)),
            write("acme", "refused", tail(), Some(&audited)),
        ];
        let refs: Vec<&StepWrite> = group.iter().collect();
        assert!(matches!(together(&conn, &refs).await, Together::Refused));
        assert!(store.list_steps("acme").await.unwrap().is_empty());
        assert!(store
            .list_audit(&AuditQuery::default())
            .await
            .unwrap()
            .is_empty());

        let held = store.step_writes.hold().await;
        let names = ["s0", "refused", "s1", "s2"];
        let writes: Vec<_> = names
            .iter()
            .map(|&name| {
                let (store, run, audited) = (store.clone(), run.clone(), audited.clone());
                tokio::spawn(async move {
                    let state = StepState::new("acme", name, "d");
                    store.put_step_audited(&state, Some(&run), &audited).await
                })
            })
            .collect();
        while store.step_writes.queued() < names.len() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(held);
        for (name, written) in names.iter().zip(writes) {
            let written = written.await.unwrap();
            assert_eq!(written.is_err(), *name == "refused", "{name}: {written:?}");
        }
        assert_eq!(step_names(&store, "acme").await, ["s0", "s1", "s2"]);
        let audit = store.list_audit(&AuditQuery::default()).await.unwrap();
        assert_eq!(audit.len(), 3, "one entry per committed write");
        drop_schema(&store).await;
    }
}
