//! Group commit of step writes: the writes that queued up behind the
//! writer while it committed go into its next transaction together.
//!
//! Every step write of a run waits for its commit (`synchronous = FULL`:
//! an fsync) before its step goes on, so with several steps in flight the
//! writer is always behind: while one commit syncs, the other steps' writes
//! queue. Committing them one by one costs one sync each; committing what
//! queued in one transaction costs one sync for all of them, and each
//! caller still returns only once its own write is durable. Nothing waits
//! for a group to fill: a write that finds the writer idle commits at once,
//! alone, exactly as before.
//!
//! Each write of a group is a savepoint, so a write that fails (a broken
//! constraint) is undone alone and its caller gets the error; the others
//! commit. When the transaction itself fails (the commit, or SQLite
//! abandoning the transaction), every write of the group gets an error and
//! none of them is in the file.
//!
//! Leadership instead of a writer task: the caller that gets the leader
//! lock commits whatever is queued, its own write included, and hands
//! every caller its result; a caller whose write an earlier leader already
//! committed finds its result waiting. There is no long-lived task to tie
//! the store to one tokio runtime.

use std::collections::VecDeque;
use std::sync::Mutex;

use sqlx::SqlitePool;
use tokio::sync::oneshot;

use super::StepWrite;
use crate::{Error, Result};

/// At most this many writes in one transaction (a bound on how long one
/// group holds the writer).
const MAX_GROUP: usize = 64;

/// A queued write and where its result goes.
type Pending = (StepWrite, oneshot::Sender<Result<i64>>);

/// The queue of step writes waiting for the writer, and its leader lock.
#[derive(Default)]
pub(super) struct GroupCommit {
    queue: Mutex<VecDeque<Pending>>,
    leader: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("queued", &self.queue().len())
            .finish_non_exhaustive()
    }
}

impl GroupCommit {
    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commit `write` on `writer` (alone or with the writes queued with
    /// it); returns once it is durable, with the last row id it inserted.
    ///
    /// Run it in a task of its own: a leader dropped half-way would leave
    /// the writes it took unanswered.
    pub(super) async fn write(
        self: std::sync::Arc<Self>,
        writer: SqlitePool,
        write: StepWrite,
    ) -> Result<i64> {
        let (done, mut result) = oneshot::channel();
        self.queue().push_back((write, done));
        let _leading = self.leader.lock().await;
        loop {
            match result.try_recv() {
                Ok(result) => return result,
                Err(oneshot::error::TryRecvError::Closed) => {
                    return Err(Error::store("step write abandoned by its group"))
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            // Still queued: lead. Every write queued before ours is taken
            // first, so ours is in the group or in the next one.
            let group: Vec<Pending> = {
                let mut queue = self.queue();
                let n = queue.len().min(MAX_GROUP);
                queue.drain(..n).collect()
            };
            commit(&writer, group).await;
        }
    }
}

/// Commit `group` in one transaction and answer each of its callers.
async fn commit(writer: &SqlitePool, group: Vec<Pending>) {
    let mut conn = match writer.acquire().await {
        Ok(conn) => conn,
        Err(e) => return fail(group.into_iter().map(|(_, done)| done), &e),
    };
    if group.len() == 1 {
        // Alone: one script, its own transaction, one round trip.
        for (write, done) in group {
            let result = match write.query(false).execute(&mut *conn).await {
                Ok(done) => Ok(done.last_insert_rowid()),
                Err(error) => {
                    // End the script's transaction (an error when SQLite
                    // already did is fine).
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                    Err(Error::from(error))
                }
            };
            let _ = done.send(result);
        }
        return;
    }
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        return fail(group.into_iter().map(|(_, done)| done), &e);
    }
    let mut written = Vec::with_capacity(group.len());
    let mut group = group.into_iter();
    while let Some((write, done)) = group.next() {
        match write.query(true).execute(&mut *conn).await {
            Ok(result) => written.push((done, result.last_insert_rowid())),
            Err(error) => {
                let undone = sqlx::query("ROLLBACK TO step_write; RELEASE step_write")
                    .execute(&mut *conn)
                    .await;
                if undone.is_err() {
                    // The transaction is gone with everything written in it.
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                    let _ = done.send(Err(Error::from(error)));
                    let rest = written
                        .into_iter()
                        .map(|(done, _)| done)
                        .chain(group.map(|(_, done)| done));
                    return fail(rest, &"the group's transaction was rolled back");
                }
                let _ = done.send(Err(Error::from(error)));
            }
        }
    }
    match sqlx::query("COMMIT").execute(&mut *conn).await {
        Ok(_) => {
            for (done, row_id) in written {
                let _ = done.send(Ok(row_id));
            }
        }
        Err(error) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            fail(written.into_iter().map(|(done, _)| done), &error);
        }
    }
}

/// Answer every caller of a group that was not committed.
fn fail(
    callers: impl Iterator<Item = oneshot::Sender<Result<i64>>>,
    cause: &dyn std::fmt::Display,
) {
    for done in callers {
        let _ = done.send(Err(Error::store(format!(
            "step write not committed: {cause}"
        ))));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::model::{AuditEntry, AuditOutcome, AuditQuery, Operation, RunId, StepState};
    use crate::store::sqlite::SqliteStore;
    use crate::store::Store;

    /// Twelve writes forced into one group (the leader lock held until
    /// all are queued): the four naming a run that does not exist break a
    /// foreign key and are undone alone, with an error each; the other
    /// eight are committed, with their audit entries, and survive a reopen.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_commits_its_writes_and_undoes_a_failing_one_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let run = store
            .start_run("acme", Operation::Apply, "alice")
            .await
            .unwrap()
            .run()
            .clone();
        let held = store.group.leader.lock().await;
        let writes: Vec<_> = (0..12)
            .map(|i| {
                let store = store.clone();
                let run = if i % 3 == 1 {
                    RunId("no-such-run".into())
                } else {
                    run.id.clone()
                };
                tokio::spawn(async move {
                    let state = StepState::new("acme", &format!("s{i:02}"), "d");
                    let mut entry = AuditEntry::new("alice", "create", AuditOutcome::Succeeded);
                    entry.scope = Some("acme".into());
                    entry.run_id = Some(run.clone());
                    store.put_step_audited(&state, Some(&run), &entry).await
                })
            })
            .collect();
        while store.group.queue().len() < 12 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(held);
        let mut seqs = Vec::new();
        for (i, write) in writes.into_iter().enumerate() {
            match (i % 3 == 1, write.await.unwrap()) {
                (false, Ok(seq)) => seqs.push(seq),
                (true, Err(crate::Error::Store(message))) => {
                    assert!(message.contains("FOREIGN KEY"), "{message}")
                }
                (bad_run, other) => panic!("write {i} (bad run: {bad_run}): {other:?}"),
            }
        }
        assert!(store.group.queue().is_empty());
        store.close().await;

        let store = SqliteStore::open(dir.path()).await.unwrap();
        let steps: Vec<String> = store
            .list_steps("acme")
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.step)
            .collect();
        let committed = ["s00", "s02", "s03", "s05", "s06", "s08", "s09", "s11"];
        assert_eq!(steps, committed);
        let audit = store
            .list_audit(&AuditQuery {
                scope: Some("acme".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let audit_seqs: Vec<i64> = audit.iter().map(|e| e.seq).collect();
        seqs.sort_unstable();
        assert_eq!(
            audit_seqs, seqs,
            "one entry per committed write, by its seq"
        );
        assert!(audit.iter().all(|e| e.run_id.as_ref() == Some(&run.id)));
        let mut noted = store.get_run(&run.id).await.unwrap().unwrap().steps;
        noted.sort();
        assert_eq!(noted, committed, "the run notes the steps it committed");
    }

    /// A write that finds the writer idle commits alone, at once.
    #[tokio::test]
    async fn a_lone_write_commits_without_waiting_for_a_group() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        let state = StepState::new("acme", "db", "d");
        tokio::time::timeout(Duration::from_secs(10), store.put_step(&state, None))
            .await
            .expect("a lone write does not wait")
            .unwrap();
        assert_eq!(store.get_step("acme", "db").await.unwrap(), Some(state));
    }
}
