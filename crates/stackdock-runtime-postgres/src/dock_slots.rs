//! [`PostgresDockSlots`]: a dock's concurrency limit shared by every
//! replica, counted in the store's database.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use stackdock_runtime::dock_slots::{DockSlot, DockSlots};
use stackdock_runtime::Result;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::store::{millis, PostgresStore};

/// The [`DockSlots`] of a [`PostgresStore`]: every replica that uses it on
/// the same database (and schema) shares each dock's limit.
///
/// How it works: the table `dock_slots` has one row per slot of a dock
/// (`0..limit`, created on first use). A step attempt takes a free row —
/// no holder, or a lease that lapsed — picked with `FOR UPDATE SKIP
/// LOCKED`, so concurrent takers never get the same slot, and stamps it
/// with its holder, a fencing token from a sequence and a lease on the
/// database's clock. While the slot is held a background task renews the
/// lease every third of it; dropping the [`DockSlot`] releases the row
/// (matched by its token, so a holder whose lease lapsed can never free a
/// slot someone else took since). A replica that dies (kill -9, a lost
/// machine) stops renewing: its slots are free again when their leases
/// lapse. A waiter polls with jittered backoff (5 ms doubling to
/// [`with_max_poll`](PostgresDockSlots::with_max_poll), default 100 ms).
///
/// What it does not do: stop a call in flight whose slot lapsed (its
/// renewals failed for a whole lease, e.g. the database was unreachable);
/// that is logged, and the limit may be exceeded by that call until it
/// returns.
///
/// ```no_run
/// use std::sync::Arc;
/// use stackdock_core::DockRegistry;
/// use stackdock_runtime::Runtime;
/// use stackdock_runtime_postgres::{PostgresStore, PostgresStoreConfig};
/// # async fn demo(docks: DockRegistry) -> stackdock_runtime::Result<()> {
/// let store = PostgresStore::connect(PostgresStoreConfig::from_url("postgres://app@db/control")?).await?;
/// // At most 2 calls in flight on the dock `cloudflare`, over every replica.
/// let runtime = Runtime::new(Arc::new(store.clone()), docks)
///     .with_dock_concurrency("cloudflare", 2)
///     .with_shared_dock_limits(Arc::new(store.dock_slots()));
/// # let _ = runtime; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresDockSlots {
    store: PostgresStore,
    holder: String,
    lease: Duration,
    max_poll: Duration,
    /// (dock, limit) pairs whose slot rows this process made sure exist.
    created: Arc<Mutex<HashSet<(String, usize)>>>,
}

impl PostgresStore {
    /// This store's shared dock limits, leased for 30 s at a time.
    pub fn dock_slots(&self) -> PostgresDockSlots {
        PostgresDockSlots {
            store: self.clone(),
            holder: format!(
                "{}-{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "replica".into()),
                std::process::id()
            ),
            lease: Duration::from_secs(30),
            max_poll: Duration::from_millis(100),
            created: Arc::default(),
        }
    }
}

impl PostgresDockSlots {
    /// How long a slot lasts without a renewal (default 30 s; renewed every
    /// third of it): how long a dead replica's slots stay taken.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// The longest pause between two tries of a waiter (default 100 ms).
    pub fn with_max_poll(mut self, max_poll: Duration) -> Self {
        self.max_poll = max_poll.max(Duration::from_millis(1));
        self
    }

    /// Name this replica in the slots it holds (default `<host>-<pid>`).
    pub fn with_holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = holder.into();
        self
    }

    /// Make sure slots `0..limit` of `dock` exist (once per process).
    async fn ensure_slots(&self, dock: &str, limit: usize) -> Result<()> {
        let key = (dock.to_owned(), limit);
        if crate::lock(&self.created).contains(&key) {
            return Ok(());
        }
        let limit_sql = i32::try_from(limit).unwrap_or(i32::MAX);
        self.store
            .execute(
                "INSERT INTO dock_slots (dock, slot) SELECT $1, generate_series(0, $2 - 1) \
                 ON CONFLICT DO NOTHING",
                &[&dock, &limit_sql],
            )
            .await?;
        crate::lock(&self.created).insert(key);
        Ok(())
    }

    /// Take a free slot of `dock` below `limit`, if there is one now.
    async fn try_take(&self, dock: &str, limit: usize) -> Result<Option<(i32, i64)>> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let rows = self
            .store
            .query(
                "WITH free AS (SELECT dock, slot FROM dock_slots WHERE dock = $1 AND slot < $2 \
                   AND (holder IS NULL OR expires_at < clock_timestamp()) \
                   ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 UPDATE dock_slots d SET holder = $3, token = nextval('dock_slot_tokens'), \
                   expires_at = clock_timestamp() + $4 * interval '1 millisecond' \
                 FROM free WHERE d.dock = free.dock AND d.slot = free.slot \
                 RETURNING d.slot, d.token",
                &[&dock, &limit, &self.holder, &millis(self.lease)],
            )
            .await?;
        Ok(rows.first().map(|row| (row.get(0), row.get(1))))
    }
}

#[async_trait]
impl DockSlots for PostgresDockSlots {
    async fn acquire(&self, dock: &str, limit: usize) -> Result<DockSlot> {
        let limit = limit.max(1);
        let mut tries = 0u32;
        // Store errors are retried for one lease (a database restart),
        // then returned: the step fails as a store error.
        let mut failing_since: Option<Instant> = None;
        loop {
            let taken = match self.ensure_slots(dock, limit).await {
                Ok(()) => self.try_take(dock, limit).await,
                Err(e) => Err(e),
            };
            match taken {
                Ok(Some((slot, token))) => return Ok(self.held(dock, slot, token)),
                Ok(None) => failing_since = None,
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.lease {
                        return Err(e);
                    }
                    tracing::debug!(dock, error = %e, "cannot take a dock slot; retrying");
                }
            }
            tries = tries.saturating_add(1);
            let ceiling = stackdock_core::layer::backoff_ceiling(
                Duration::from_millis(5),
                self.max_poll,
                tries,
            );
            let pause = stackdock_core::layer::full_jitter(ceiling, &mut rand::thread_rng());
            tokio::time::sleep(pause).await;
        }
    }
}

impl PostgresDockSlots {
    fn held(&self, dock: &str, slot: i32, token: i64) -> DockSlot {
        let mut held = Held {
            store: self.store.clone(),
            dock: dock.to_owned(),
            slot,
            token,
            heartbeat: None,
        };
        held.heartbeat = Some(tokio::spawn(renew(held.key(), self.lease)));
        DockSlot::new(held)
    }
}

/// One taken slot; its `Drop` stops the renewals and releases the row.
struct Held {
    store: PostgresStore,
    dock: String,
    slot: i32,
    token: i64,
    heartbeat: Option<JoinHandle<()>>,
}

/// What identifies a taken slot in the table.
#[derive(Clone)]
struct SlotKey {
    store: PostgresStore,
    dock: String,
    slot: i32,
    token: i64,
}

impl Held {
    fn key(&self) -> SlotKey {
        SlotKey {
            store: self.store.clone(),
            dock: self.dock.clone(),
            slot: self.slot,
            token: self.token,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(heartbeat) = self.heartbeat.take() {
            heartbeat.abort();
        }
        let key = self.key();
        // No runtime (the process is ending): the lease lapses instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = key.release().await {
                    tracing::warn!(dock = %key.dock, error = %e, "cannot release a dock slot; its lease will lapse");
                }
            });
        }
    }
}

impl SlotKey {
    async fn release(&self) -> Result<()> {
        self.store
            .execute(
                "UPDATE dock_slots SET holder = NULL, token = NULL, expires_at = NULL \
                 WHERE dock = $1 AND slot = $2 AND token = $3",
                &[&self.dock, &self.slot, &self.token],
            )
            .await
            .map(drop)
    }

    /// Extend the lease; `false` when the slot is no longer ours.
    async fn extend(&self, lease: Duration) -> Result<bool> {
        self.store
            .execute(
                "UPDATE dock_slots SET expires_at = clock_timestamp() + $4 * interval '1 millisecond' \
                 WHERE dock = $1 AND slot = $2 AND token = $3",
                &[&self.dock, &self.slot, &self.token, &millis(lease)],
            )
            .await
            .map(|n| n == 1)
    }
}

/// Renew a slot every third of its lease until aborted or lost.
async fn renew(key: SlotKey, lease: Duration) {
    loop {
        tokio::time::sleep(lease / 3).await;
        match key.extend(lease).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(dock = %key.dock, slot = key.slot, "a dock slot lapsed while held: the shared limit may be exceeded until this call returns");
                return;
            }
            Err(e) => {
                tracing::warn!(dock = %key.dock, error = %e, "cannot renew a dock slot; trying again")
            }
        }
    }
}
