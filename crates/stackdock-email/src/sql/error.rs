//! PostgreSQL errors map to StackDock error kinds through the workspace's one
//! SQLSTATE table ([`stackdock_pg::error`]); the mail store adds one hint.

use deadpool_postgres::PoolError;
use stackdock_core::Error;
use tokio_postgres::error::SqlState;

/// Map a driver error. Only the SQLSTATE and the server's primary message are
/// kept: the `DETAIL` part can quote row values, which we never pass on.
/// A missing table or schema means the store was never migrated: say so.
pub fn from_pg(err: tokio_postgres::Error) -> Error {
    let code = err.code();
    if code == Some(&SqlState::UNDEFINED_TABLE) || code == Some(&SqlState::INVALID_SCHEMA_NAME) {
        let message = err.as_db_error().map(|d| d.message()).unwrap_or_default();
        let sqlstate = code.map(|c| c.code().to_owned()).unwrap_or_default();
        return Error::config(format!("{message} (run MailStore::migrate first)"))
            .with_context("sqlstate", sqlstate);
    }
    stackdock_pg::map_pg_error(&err, &[])
}

/// Map a pool error.
pub fn from_pool(err: PoolError) -> Error {
    stackdock_pg::map_pool_error(err, &[])
}
