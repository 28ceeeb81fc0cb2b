//! Group commit: the writes that queued up while a commit was under way go
//! into the next transaction together.
//!
//! Every step write of a run waits for its commit (an fsync) before its
//! step goes on, so with several steps in flight the store is always
//! behind: while one commit syncs, the other steps' writes queue.
//! Committing them one by one costs one commit each; committing what
//! queued in one transaction costs one for all of them, and each caller
//! still returns only once its own write is durable. Nothing waits for a
//! group to fill: a write that finds no commit under way commits at once,
//! alone.
//!
//! [`GroupCommit`] is the queue and the leadership; a store brings the
//! commit itself (SQLite: savepoints in one `BEGIN IMMEDIATE`; PostgreSQL:
//! one pipelined transaction), which must answer every write it is handed.
//!
//! Leadership instead of a writer task: the caller that gets the leader
//! lock commits whatever is queued, its own write included, and hands
//! every caller its result; a caller whose write an earlier leader already
//! committed finds its result waiting. There is no long-lived task to tie
//! a store to one tokio runtime.
//!
//! # Guarantees
//! * A write is answered exactly once: with its commit's result, or with
//!   an error when its group was not committed (then none of it is).
//! * A caller dropped half-way (a cancelled run) does not abandon its
//!   group: [`GroupCommit::write`] runs the leader in a task of its own, so
//!   every write taken into a group is committed or rolled back and every
//!   other caller answered.
//! * Writes are taken in the order they were queued, at most `max_group`
//!   a transaction.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::{Error, Result};

/// A queued write and where its result goes: answer it with
/// [`Queued::answer`].
#[derive(Debug)]
pub struct Queued<W, T> {
    /// What to write.
    pub write: W,
    done: oneshot::Sender<Result<T>>,
}

impl<W, T> Queued<W, T> {
    /// Hand the write's caller its result.
    pub fn answer(self, result: Result<T>) {
        let _ = self.done.send(result); // a caller that gave up does not care
    }

    /// Answer with an error saying the write's group was not committed
    /// because of `cause`.
    pub fn not_committed(self, cause: &dyn std::fmt::Display) {
        self.answer(Err(Error::store(format!(
            "step write not committed: {cause}"
        ))));
    }
}

/// The queue of writes waiting for a commit, and its leader lock.
///
/// ```
/// use std::sync::Arc;
/// use stackdock_runtime::store::group_commit::{GroupCommit, Queued};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let group = Arc::new(GroupCommit::<u32, u32>::new(64));
/// // A "commit" that doubles every write of its group.
/// let commit = |writes: Vec<Queued<u32, u32>>| async move {
///     for queued in writes {
///         let doubled = queued.write * 2;
///         queued.answer(Ok(doubled));
///     }
/// };
/// assert_eq!(group.write(21, commit).await?, 42);
/// # Ok::<(), stackdock_runtime::Error>(()) }).unwrap();
/// ```
pub struct GroupCommit<W, T> {
    queue: Mutex<VecDeque<Queued<W, T>>>,
    leader: tokio::sync::Mutex<()>,
    max_group: usize,
}

impl<W, T> std::fmt::Debug for GroupCommit<W, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("queued", &self.queued())
            .field("max_group", &self.max_group)
            .finish_non_exhaustive()
    }
}

impl<W, T> GroupCommit<W, T> {
    /// An empty queue whose groups hold at most `max_group` writes (a bound
    /// on how long one group holds the writer; at least 1). One group is
    /// committed at a time.
    pub fn new(max_group: usize) -> Self {
        GroupCommit {
            queue: Mutex::default(),
            leader: tokio::sync::Mutex::new(()),
            max_group: max_group.max(1),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Queued<W, T>>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many writes wait for a group.
    pub fn queued(&self) -> usize {
        self.queue().len()
    }

    /// Hold the leader lock: writes queue up, and none is committed, until
    /// the guard is dropped. For tests that force writes into one group.
    pub async fn hold(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.leader.lock().await
    }
}

impl<W: Send + 'static, T: Send + 'static> GroupCommit<W, T> {
    /// Commit `write` (alone, or with the writes queued with it) through
    /// `commit`, which is handed each group and must answer every write in
    /// it; returns this write's result once its group committed.
    ///
    /// The leader runs in a task of its own, so a caller dropped half-way
    /// never leaves a group unanswered (see the module's guarantees).
    pub async fn write<C, F>(self: &Arc<Self>, write: W, commit: C) -> Result<T>
    where
        C: Fn(Vec<Queued<W, T>>) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        self.queue().push_back(Queued { write, done });
        let leading = tokio::spawn(self.clone().lead(result, commit));
        leading
            .await
            .map_err(|e| Error::store(format!("step write did not finish: {e}")))?
    }

    /// Wait for the leader lock; then either this write's result is there
    /// (an earlier leader committed it) or lead: commit what is queued,
    /// this write included within a group or two.
    async fn lead<C, F>(
        self: Arc<Self>,
        mut result: oneshot::Receiver<Result<T>>,
        commit: C,
    ) -> Result<T>
    where
        C: Fn(Vec<Queued<W, T>>) -> F,
        F: Future<Output = ()>,
    {
        let _leading = self.leader.lock().await;
        loop {
            match result.try_recv() {
                Ok(result) => return result,
                Err(oneshot::error::TryRecvError::Closed) => {
                    return Err(Error::store("step write abandoned by its group"))
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            // Still queued: every write queued before ours is taken first,
            // so ours is in this group or the next.
            let group: Vec<Queued<W, T>> = {
                let mut queue = self.queue();
                let n = queue.len().min(self.max_group);
                queue.drain(..n).collect()
            };
            commit(group).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Writes queued while the leader lock is held go into one group, in
    /// order; each caller gets its own answer; a failing write fails alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_queued_behind_a_commit_share_the_next_group() {
        let group = Arc::new(GroupCommit::<u32, u32>::new(64));
        let commits = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        let held = group.hold().await;
        let writes: Vec<_> = (0..5)
            .map(|i| {
                let (group, commits) = (group.clone(), commits.clone());
                tokio::spawn(async move {
                    let commit = move |writes: Vec<Queued<u32, u32>>| {
                        let commits = commits.clone();
                        async move {
                            commits
                                .lock()
                                .unwrap()
                                .push(writes.iter().map(|q| q.write).collect());
                            for q in writes {
                                let result = if q.write == 3 {
                                    Err(Error::store("three is refused"))
                                } else {
                                    Ok(q.write * 10)
                                };
                                q.answer(result);
                            }
                        }
                    };
                    group.write(i, commit).await
                })
            })
            .collect();
        while group.queued() < 5 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut queued: Vec<u32> = group.queue().iter().map(|q| q.write).collect();
        queued.sort_unstable();
        assert_eq!(queued, [0, 1, 2, 3, 4]);
        drop(held);
        for (i, write) in writes.into_iter().enumerate() {
            match write.await.unwrap() {
                Ok(v) => assert_eq!(v, i as u32 * 10),
                Err(e) => assert_eq!(i, 3, "{e}"),
            }
        }
        let commits = commits.lock().unwrap();
        assert_eq!(commits.len(), 1, "one group: {commits:?}");
        assert_eq!(commits[0].len(), 5);
    }

    /// A caller dropped while its write waits in the queue does not stop
    /// the write: its group is still committed and the others answered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_caller_does_not_abandon_its_group() {
        let group = Arc::new(GroupCommit::<u32, ()>::new(64));
        let committed = Arc::new(AtomicUsize::new(0));
        let commit = {
            let committed = committed.clone();
            move |writes: Vec<Queued<u32, ()>>| {
                let committed = committed.clone();
                async move {
                    for q in writes {
                        committed.fetch_add(1, Ordering::SeqCst);
                        q.answer(Ok(()));
                    }
                }
            }
        };
        let held = group.hold().await;
        let dropped = {
            let (group, commit) = (group.clone(), commit.clone());
            tokio::spawn(async move { group.write(1, commit).await })
        };
        let kept = {
            let (group, commit) = (group.clone(), commit.clone());
            tokio::spawn(async move { group.write(2, commit).await })
        };
        while group.queued() < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        dropped.abort();
        drop(held);
        kept.await.unwrap().unwrap();
        tokio::time::timeout(Duration::from_secs(5), async {
            while committed.load(Ordering::SeqCst) < 2 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("the dropped caller's write is committed too");
    }

    /// At most `max_group` writes a group.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn groups_are_bounded() {
        let group = Arc::new(GroupCommit::<u32, ()>::new(2));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let held = group.hold().await;
        let writes: Vec<_> = (0..5)
            .map(|i| {
                let (group, sizes) = (group.clone(), sizes.clone());
                tokio::spawn(async move {
                    let commit = move |writes: Vec<Queued<u32, ()>>| {
                        sizes.lock().unwrap().push(writes.len());
                        async move { writes.into_iter().for_each(|q| q.answer(Ok(()))) }
                    };
                    group.write(i, commit).await
                })
            })
            .collect();
        while group.queued() < 5 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(held);
        for write in writes {
            write.await.unwrap().unwrap();
        }
        assert!(sizes.lock().unwrap().iter().all(|&n| n <= 2));
    }
}
