//! The one mapping from PostgreSQL errors to StackDock error kinds.

use deadpool_postgres::PoolError;
use stackdock_core::{Error, ErrorKind, ErrorStatus};
use tokio_postgres::error::SqlState;

/// Map a driver error. Only the SQLSTATE and the server's primary message are
/// kept: the `DETAIL` part can quote row values, which we never pass on.
pub fn from_pg(err: tokio_postgres::Error) -> Error {
    let Some(db) = err.as_db_error() else {
        // No server answer: connection refused, closed, or timed out.
        let timed_out = err.to_string().contains("timed out");
        let kind = if timed_out {
            ErrorKind::Timeout
        } else {
            ErrorKind::Unavailable
        };
        return Error::new(kind)
            .with_message("PostgreSQL connection failed")
            .with_source(err);
    };
    let code = db.code().clone();
    let message = db.message().to_owned();
    let error = match code.code() {
        c if c == SqlState::UNIQUE_VIOLATION.code() => Error::already_exists(message),
        c if c == SqlState::FOREIGN_KEY_VIOLATION.code() => Error::conflict(message),
        c if c == SqlState::T_R_SERIALIZATION_FAILURE.code()
            || c == SqlState::T_R_DEADLOCK_DETECTED.code() =>
        {
            Error::conflict(message).with_status(ErrorStatus::Temporary)
        }
        c if c == SqlState::CHECK_VIOLATION.code()
            || c == SqlState::NOT_NULL_VIOLATION.code()
            || c == SqlState::STRING_DATA_RIGHT_TRUNCATION.code() =>
        {
            Error::invalid_input("value", message)
        }
        c if c == SqlState::INSUFFICIENT_PRIVILEGE.code() => {
            Error::new(ErrorKind::PermissionDenied).with_message(message)
        }
        c if c.starts_with("28") => Error::new(ErrorKind::Unauthenticated).with_message(message),
        c if c == SqlState::QUERY_CANCELED.code() => {
            Error::new(ErrorKind::Timeout).with_message(message)
        }
        c if c.starts_with("08") || c.starts_with("53") || c.starts_with("57") => {
            Error::new(ErrorKind::Unavailable).with_message(message)
        }
        c if c == SqlState::UNDEFINED_TABLE.code() || c == SqlState::INVALID_SCHEMA_NAME.code() => {
            Error::config(format!("{message} (run MailStore::migrate first)"))
        }
        c => Error::provider(None, Some(c.to_owned()), message),
    };
    error.with_context("sqlstate", code.code().to_owned())
}

/// Map a pool error.
pub fn from_pool(err: PoolError) -> Error {
    match err {
        PoolError::Backend(e) => from_pg(e),
        PoolError::Timeout(_) => {
            Error::new(ErrorKind::Timeout).with_message("waiting for a database connection")
        }
        PoolError::Closed => {
            Error::new(ErrorKind::Unavailable).with_message("connection pool closed")
        }
        other => Error::internal(format!("connection pool: {other}")),
    }
}
