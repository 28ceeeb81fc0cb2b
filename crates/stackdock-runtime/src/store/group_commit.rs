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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// How long a leader may wait for the writers it expects (None: never).
    gather: Option<Duration>,
    /// Writes between [`GroupCommit::write`] and their answer.
    active: AtomicUsize,
    /// How many writers there are lately: the most writes active at once,
    /// less one per group since (so it follows a shrinking crowd down).
    crowd: AtomicUsize,
    /// Rung on every write queued, for a gathering leader.
    arrived: tokio::sync::Notify,
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
            gather: None,
            active: AtomicUsize::new(0),
            crowd: AtomicUsize::new(0),
            arrived: tokio::sync::Notify::new(),
        }
    }

    /// Let a leader wait up to `wait` for the writers it expects before it
    /// commits, so that a steady crowd of writers shares one commit instead
    /// of splitting into two alternating halves.
    ///
    /// Without it, the writers answered by one commit come back while the
    /// next commit (of those that queued meanwhile) is under way, so 8
    /// writers settle into groups of about 4: two commits — two flushes —
    /// for what one could carry. With it, a leader waits until as many
    /// writes are queued as there have lately been writers active at once
    /// (the crowd; a lone writer is a crowd of one and never waits), or
    /// until `wait` has passed (timer resolution: about a millisecond).
    /// For a database whose commit costs a flush and whose writers come
    /// back within microseconds.
    pub fn gathering(mut self, wait: Duration) -> Self {
        self.gather = Some(wait);
        self
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
        let active = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.crowd.fetch_max(active, Ordering::SeqCst);
        self.queue().push_back(Queued { write, done });
        self.arrived.notify_one();
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
        let answer = loop {
            match result.try_recv() {
                Ok(result) => break result,
                Err(oneshot::error::TryRecvError::Closed) => {
                    break Err(Error::store("step write abandoned by its group"))
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            self.gather_crowd().await;
            // Still queued: every write queued before ours is taken first,
            // so ours is in this group or the next.
            let group: Vec<Queued<W, T>> = {
                let mut queue = self.queue();
                let n = queue.len().min(self.max_group);
                queue.drain(..n).collect()
            };
            let _ = self
                .crowd
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                    Some(c.saturating_sub(1).max(group.len()))
                });
            commit(group).await;
        };
        self.active.fetch_sub(1, Ordering::SeqCst);
        answer
    }

    /// With [`gathering`](Self::gathering): wait until the crowd's writes
    /// are queued, or the wait is over.
    async fn gather_crowd(&self) {
        let Some(wait) = self.gather else { return };
        let want = self.crowd.load(Ordering::SeqCst).min(self.max_group);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.arrived.notified();
            if self.queued() >= want {
                return;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return;
            }
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

    /// With gathering, a leader that has seen 8 writers at once waits for
    /// the 8th write before it commits (one group of 8, not 4 and 4); a
    /// lone writer never waits (its writes would take the 10 s wait each).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_gathering_leader_waits_for_the_crowd_and_a_lone_writer_never_does() {
        let group = Arc::new(GroupCommit::<u32, ()>::new(64).gathering(Duration::from_secs(10)));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let commit = {
            let sizes = sizes.clone();
            move |writes: Vec<Queued<u32, ()>>| {
                sizes.lock().unwrap().push(writes.len());
                async move { writes.into_iter().for_each(|q| q.answer(Ok(()))) }
            }
        };
        let spawn = |i: u32| {
            let (group, commit) = (group.clone(), commit.clone());
            tokio::spawn(async move { group.write(i, commit).await })
        };
        let held = group.hold().await;
        let crowd: Vec<_> = (0..8).map(spawn).collect();
        while group.queued() < 8 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(held);
        for write in crowd {
            write.await.unwrap().unwrap();
        }
        let first_half: Vec<_> = (0..4).map(spawn).collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            group.queued(),
            4,
            "the leader waits for the rest of the crowd"
        );
        let second_half: Vec<_> = (4..8).map(spawn).collect();
        for write in first_half.into_iter().chain(second_half) {
            write.await.unwrap().unwrap();
        }
        assert_eq!(*sizes.lock().unwrap(), [8, 8]);

        let lone = Arc::new(GroupCommit::<u32, ()>::new(64).gathering(Duration::from_secs(10)));
        tokio::time::timeout(Duration::from_secs(5), async {
            for i in 0..3 {
                lone.write(i, commit.clone()).await.unwrap();
            }
        })
        .await
        .expect("a lone writer does not wait for a crowd");
    }
}
