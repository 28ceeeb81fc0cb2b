//! The one mapping from PostgreSQL errors to [`stackdock_core::Error`].

use stackdock_core::secret::scrub;
use stackdock_core::secret::SecretString;
use stackdock_core::{Error, ErrorKind, ErrorStatus};
use tokio_postgres::error::SqlState;

/// Map a tokio-postgres error by its SQLSTATE (or, without one, as a
/// connection problem). Messages are scrubbed of `secrets`.
pub fn map_pg_error(err: &tokio_postgres::Error, secrets: &[&SecretString]) -> Error {
    let Some(db) = err.as_db_error() else {
        // No SQLSTATE: the connection broke, timed out or never came up.
        let text = scrub(&err.to_string(), secrets.iter().copied());
        let kind = if text.contains("timed out") {
            ErrorKind::Timeout
        } else {
            ErrorKind::Unavailable
        };
        return Error::new(kind).with_message(text);
    };
    let code = db.code();
    let message = scrub(db.message(), secrets.iter().copied());
    let sqlstate = code.code().to_owned();
    let err = match code {
        c if *c == SqlState::INVALID_PASSWORD
            || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            Error::new(ErrorKind::Unauthenticated).with_message(message)
        }
        c if *c == SqlState::INSUFFICIENT_PRIVILEGE => {
            Error::new(ErrorKind::PermissionDenied).with_message(message)
        }
        c if *c == SqlState::DUPLICATE_OBJECT || *c == SqlState::DUPLICATE_DATABASE => {
            Error::already_exists(message)
        }
        c if *c == SqlState::UNDEFINED_OBJECT || *c == SqlState::UNDEFINED_DATABASE => {
            Error::not_found(message)
        }
        c if *c == SqlState::OBJECT_IN_USE || *c == SqlState::DEPENDENT_OBJECTS_STILL_EXIST => {
            Error::conflict(message)
        }
        c if *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::LOCK_NOT_AVAILABLE =>
        {
            Error::conflict(message).with_status(ErrorStatus::Temporary)
        }
        c if *c == SqlState::QUERY_CANCELED => Error::new(ErrorKind::Timeout).with_message(message),
        c if *c == SqlState::TOO_MANY_CONNECTIONS
            || *c == SqlState::CANNOT_CONNECT_NOW
            || *c == SqlState::ADMIN_SHUTDOWN
            || *c == SqlState::CRASH_SHUTDOWN
            || c.code().starts_with("08")
            || c.code().starts_with("53") =>
        {
            Error::new(ErrorKind::Unavailable).with_message(message)
        }
        // We build every statement ourselves: a syntax error is our bug.
        c if *c == SqlState::SYNTAX_ERROR => Error::internal(message),
        _ => Error::provider(None, Some(sqlstate.clone()), message),
    };
    err.with_context("sqlstate", sqlstate)
}

/// Map a pool error (waiting for or opening a connection).
pub fn map_pool_error(err: deadpool_postgres::PoolError, secrets: &[&SecretString]) -> Error {
    use deadpool_postgres::PoolError;
    match err {
        PoolError::Backend(e) => map_pg_error(&e, secrets),
        PoolError::Timeout(_) => {
            Error::new(ErrorKind::Timeout).with_message("timed out waiting for an admin connection")
        }
        other => Error::new(ErrorKind::Unavailable)
            .with_message(scrub(&other.to_string(), secrets.iter().copied())),
    }
}
