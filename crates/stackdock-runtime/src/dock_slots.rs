//! [`DockSlots`]: a dock's concurrency limit shared by every replica.
//!
//! [`Runtime::with_dock_concurrency`](crate::Runtime::with_dock_concurrency)
//! bounds the steps in flight on a dock *in one process*. A control plane
//! that runs as several replicas would multiply that bound by the number of
//! replicas — and a provider's rate limit is per account, not per replica.
//! Give the runtime a [`DockSlots`]
//! ([`Runtime::with_shared_dock_limits`](crate::Runtime::with_shared_dock_limits))
//! and each step attempt also holds one of the dock's `limit` slots counted
//! where every replica sees them (PostgreSQL: `PostgresDockSlots` of the
//! crate `stackdock-runtime-postgres`, a slot table claimed with `SKIP
//! LOCKED` under a lease).
//!
//! The guarantees an implementation gives:
//!
//! * **Bounded**: at most `limit` slots of a dock are held at once, across
//!   every process that uses the same implementation on the same backend
//!   (replicas configured with different limits share the slots below the
//!   highest of them: configure them the same).
//! * **Released** when the [`DockSlot`] is dropped (the step attempt ended,
//!   or its execution was dropped), and **recovered** when its holder dies
//!   (a lease that is no longer renewed lapses).

use std::fmt;

use async_trait::async_trait;

use crate::Result;

/// A dock's concurrency limit shared by every replica; see the
/// [module docs](self).
///
/// ```
/// use async_trait::async_trait;
/// use stackdock_runtime::dock_slots::{DockSlot, DockSlots};
///
/// /// Counts slots in this process only (what the runtime does anyway).
/// #[derive(Debug, Default)]
/// struct Local(tokio::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Semaphore>>>);
///
/// #[async_trait]
/// impl DockSlots for Local {
///     async fn acquire(&self, dock: &str, limit: usize) -> stackdock_runtime::Result<DockSlot> {
///         let semaphore = self.0.lock().await.entry(dock.to_owned())
///             .or_insert_with(|| std::sync::Arc::new(tokio::sync::Semaphore::new(limit)))
///             .clone();
///         let permit = semaphore.acquire_owned().await.expect("never closed");
///         Ok(DockSlot::new(permit))
///     }
/// }
/// ```
#[async_trait]
pub trait DockSlots: Send + Sync + fmt::Debug {
    /// Wait for one of the `limit` (≥ 1) slots of `dock`; it is held until
    /// the returned [`DockSlot`] is dropped. An error is a backend failure
    /// the caller cannot wait out (typed as [`Error::Store`](crate::Error::Store)).
    async fn acquire(&self, dock: &str, limit: usize) -> Result<DockSlot>;
}

/// One held slot of a [`DockSlots`]: released when dropped.
pub struct DockSlot {
    _held: Box<dyn Send + Sync>,
}

impl DockSlot {
    /// A slot held for as long as `held` lives (its `Drop` releases it).
    pub fn new(held: impl Send + Sync + 'static) -> Self {
        DockSlot {
            _held: Box::new(held),
        }
    }
}

impl fmt::Debug for DockSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockSlot").finish_non_exhaustive()
    }
}
