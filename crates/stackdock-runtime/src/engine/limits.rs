//! What bounds a runtime's work: call permits (overall and per dock), the
//! retry policy for temporary errors, and a run's cancel flag.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::lock;
use crate::dock_slots::{DockSlot, DockSlots};
use crate::Result;

/// Permits for steps in flight: one pool for the whole runtime (every run
/// it executes), one per dock, and, when replicas share a dock's limit, a
/// slot of it.
#[derive(Debug)]
pub(super) struct Permits {
    overall: Arc<Semaphore>,
    per_dock_default: usize,
    per_dock: BTreeMap<String, usize>,
    docks: Mutex<HashMap<String, Arc<Semaphore>>>,
    shared: Option<Arc<dyn DockSlots>>,
}

/// The permits of one step attempt; released on drop.
pub(super) struct Held {
    _dock: OwnedSemaphorePermit,
    _shared: Option<DockSlot>,
    _overall: OwnedSemaphorePermit,
}

impl Permits {
    pub(super) fn new(
        overall: usize,
        per_dock_default: usize,
        per_dock: BTreeMap<String, usize>,
        shared: Option<Arc<dyn DockSlots>>,
    ) -> Self {
        Permits {
            overall: Arc::new(Semaphore::new(overall.max(1))),
            per_dock_default: per_dock_default.max(1),
            per_dock,
            docks: Mutex::new(HashMap::new()),
            shared,
        }
    }

    fn limit(&self, dock: &str) -> usize {
        self.per_dock
            .get(dock)
            .copied()
            .unwrap_or(self.per_dock_default)
            .max(1)
    }

    fn dock(&self, dock: &str) -> Arc<Semaphore> {
        let limit = self.limit(dock);
        lock(&self.docks)
            .entry(dock.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(limit)))
            .clone()
    }

    /// Wait for a permit of `dock`, then a shared slot of it (when replicas
    /// share the limit), then one of the overall pool: the dock's first, so
    /// a busy dock does not hold overall permits it cannot use, and the
    /// local one before the shared one, so this process never waits on the
    /// backend for more slots than it may use.
    pub(super) async fn acquire(&self, dock: &str) -> Result<Held> {
        let local = self.dock(dock).acquire_owned().await;
        let shared = match &self.shared {
            Some(slots) => Some(slots.acquire(dock, self.limit(dock)).await?),
            None => None,
        };
        let overall = self.overall.clone().acquire_owned().await;
        match (local, overall) {
            (Ok(local), Ok(overall)) => Ok(Held {
                _dock: local,
                _shared: shared,
                _overall: overall,
            }),
            // The semaphores are never closed.
            _ => unreachable!("runtime semaphores are never closed"),
        }
    }
}

/// A run's cancel flag: tripped by [`Runtime::cancel`](super::Runtime::cancel)
/// in this process, or by the poller that sees the store's cancel request;
/// with whether the cancellation was announced yet.
#[derive(Debug, Clone)]
pub(super) struct CancelFlag(Arc<watch::Sender<bool>>, Arc<AtomicBool>);

impl Default for CancelFlag {
    fn default() -> Self {
        CancelFlag(
            Arc::new(watch::channel(false).0),
            Arc::new(AtomicBool::new(false)),
        )
    }
}

impl CancelFlag {
    /// True the first time it is called on a tripped flag: whoever sees the
    /// cancellation first (the store poller, or the run ending cancelled
    /// before the poller ran) announces it, once.
    pub(super) fn first_announcement(&self) -> bool {
        self.is_cancelled() && !self.1.swap(true, Ordering::AcqRel)
    }

    pub(super) fn cancel(&self) {
        self.0.send_replace(true);
    }

    pub(super) fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the flag is tripped.
    pub(super) async fn cancelled(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives as long as `self`: `wait_for` cannot fail.
        let _ = rx.wait_for(|cancelled| *cancelled).await;
    }
}
