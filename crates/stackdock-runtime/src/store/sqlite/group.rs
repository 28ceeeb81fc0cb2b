//! SQLite's commit of a group of step writes (see
//! [`GroupCommit`](crate::store::group_commit::GroupCommit) for the queue
//! and its guarantees).
//!
//! Each write of a group is a savepoint, so a write that fails (a broken
//! constraint) is undone alone and its caller gets the error; the others
//! commit. When the transaction itself fails (the commit, or SQLite
//! abandoning the transaction), every write of the group gets an error and
//! none of them is in the file.

use sqlx::SqlitePool;

use super::StepWrite;
use crate::store::group_commit::Queued;
use crate::Error;

/// At most this many writes in one transaction (a bound on how long one
/// group holds the writer).
pub(super) const MAX_GROUP: usize = 64;

/// A queued SQLite step write; answered with the last row id it inserted.
pub(super) type Pending = Queued<StepWrite, i64>;

/// Commit `group` in one transaction and answer each of its callers.
pub(super) async fn commit(writer: &SqlitePool, group: Vec<Pending>) {
    let mut conn = match writer.acquire().await {
        Ok(conn) => conn,
        Err(e) => return group.into_iter().for_each(|q| q.not_committed(&e)),
    };
    if group.len() == 1 {
        // Alone: one script, its own transaction, one round trip.
        for queued in group {
            let result = match queued.write.query(false).execute(&mut *conn).await {
                Ok(done) => Ok(done.last_insert_rowid()),
                Err(error) => {
                    // End the script's transaction (an error when SQLite
                    // already did is fine).
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                    Err(Error::from(error))
                }
            };
            queued.answer(result);
        }
        return;
    }
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        return group.into_iter().for_each(|q| q.not_committed(&e));
    }
    let mut written = Vec::with_capacity(group.len());
    let mut group = group.into_iter();
    while let Some(queued) = group.next() {
        match queued.write.query(true).execute(&mut *conn).await {
            Ok(result) => written.push((queued, result.last_insert_rowid())),
            Err(error) => {
                let undone = sqlx::query("ROLLBACK TO step_write; RELEASE step_write")
                    .execute(&mut *conn)
                    .await;
                if undone.is_err() {
                    // The transaction is gone with everything written in it.
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                    queued.answer(Err(Error::from(error)));
                    let rest = written.into_iter().map(|(q, _)| q).chain(group);
                    let cause = "the group's transaction was rolled back";
                    return rest.for_each(|q| q.not_committed(&cause));
                }
                queued.answer(Err(Error::from(error)));
            }
        }
    }
    match sqlx::query("COMMIT").execute(&mut *conn).await {
        Ok(_) => {
            for (queued, row_id) in written {
                queued.answer(Ok(row_id));
            }
        }
        Err(error) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            written
                .into_iter()
                .for_each(|(q, _)| q.not_committed(&error));
        }
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
        let held = store.group.hold().await;
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
        while store.group.queued() < 12 {
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
        assert_eq!(store.group.queued(), 0);
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
