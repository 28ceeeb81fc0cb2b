#![doc = include_str!("../README.md")]

mod config;
mod dock_slots;
mod migrate;
mod step_write;
mod store;

pub use config::{PostgresStoreConfig, DEFAULT_SCHEMA};
pub use dock_slots::PostgresDockSlots;
pub use store::PostgresStore;

/// A PostgreSQL error as the runtime's store error: the SQLSTATE map of
/// `stackdock-pg` (kind, temporary or not, secrets scrubbed), then sanitised.
pub(crate) fn db_error(e: tokio_postgres::Error) -> stackdock_runtime::Error {
    stackdock_runtime::Error::store(stackdock_pg::map_pg_error(&e, &[]))
}

/// A pool error (no free connection in time, or none could be opened).
pub(crate) fn pool_error(e: stackdock_pg::PoolError) -> stackdock_runtime::Error {
    stackdock_runtime::Error::store(stackdock_pg::map_pool_error(e, &[]))
}

/// A poisoned lock is still consistent here: every critical section leaves
/// its data whole.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
