//! The one mapping from PostgreSQL errors to [`stackdock_core::Error`].
//!
//! By SQLSTATE (class or exact code) to an [`ErrorKind`]; the error keeps the
//! code in its `sqlstate` context. Only the server's primary message is kept,
//! scrubbed of the secrets passed in: the `DETAIL` part can quote row values.

use deadpool_postgres::PoolError;
use stackdock_core::secret::{scrub, SecretString};
use stackdock_core::{Error, ErrorKind, ErrorStatus};
use tokio_postgres::error::SqlState;

/// The [`ErrorKind`] of a SQLSTATE, and `Temporary` when retrying is worth
/// it even though the kind is not temporary by default (a lost race);
/// `None` for codes that stay provider errors.
fn kind_of(code: &SqlState) -> Option<(ErrorKind, Option<ErrorStatus>)> {
    const DEFAULT: Option<ErrorStatus> = None;
    const RETRY: Option<ErrorStatus> = Some(ErrorStatus::Temporary);
    let c = code.code();
    let kind = match code {
        _ if *code == SqlState::UNIQUE_VIOLATION
            || *code == SqlState::DUPLICATE_OBJECT
            || *code == SqlState::DUPLICATE_DATABASE =>
        {
            (ErrorKind::AlreadyExists, DEFAULT)
        }
        _ if *code == SqlState::UNDEFINED_OBJECT || *code == SqlState::UNDEFINED_DATABASE => {
            (ErrorKind::NotFound, DEFAULT)
        }
        _ if *code == SqlState::FOREIGN_KEY_VIOLATION
            || *code == SqlState::OBJECT_IN_USE
            || *code == SqlState::DEPENDENT_OBJECTS_STILL_EXIST =>
        {
            (ErrorKind::Conflict, DEFAULT)
        }
        _ if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::LOCK_NOT_AVAILABLE =>
        {
            (ErrorKind::Conflict, RETRY)
        }
        _ if *code == SqlState::INSUFFICIENT_PRIVILEGE => (ErrorKind::PermissionDenied, DEFAULT),
        _ if *code == SqlState::QUERY_CANCELED => (ErrorKind::Timeout, RETRY),
        // 28: invalid authorization (wrong password, no pg_hba entry).
        _ if c.starts_with("28") => (ErrorKind::Unauthenticated, DEFAULT),
        // 08 connection, 53 resources, 57 operator intervention (shutdown, ...).
        _ if c.starts_with("08") || c.starts_with("53") || c.starts_with("57") => {
            (ErrorKind::Unavailable, RETRY)
        }
        // Statements are built by StackDock: a syntax error is our bug.
        _ if *code == SqlState::SYNTAX_ERROR => (ErrorKind::Internal, DEFAULT),
        _ => return None,
    };
    Some(kind)
}

/// Map a tokio-postgres error by its SQLSTATE (or, without one, as a
/// connection problem). Messages are scrubbed of `secrets`.
///
/// Check, not-null and length violations (classes `23`/`22`) become
/// [`ErrorKind::InvalidInput`] on field `value`.
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
    let err = if *code == SqlState::CHECK_VIOLATION
        || *code == SqlState::NOT_NULL_VIOLATION
        || *code == SqlState::STRING_DATA_RIGHT_TRUNCATION
    {
        Error::invalid_input("value", message)
    } else {
        match kind_of(code) {
            Some((kind, None)) => Error::new(kind).with_message(message),
            Some((kind, Some(status))) => {
                Error::new(kind).with_message(message).with_status(status)
            }
            None => Error::provider(None, Some(sqlstate.clone()), message),
        }
    };
    err.with_context("sqlstate", sqlstate)
}

/// Map a pool error (waiting for, or opening, a connection).
pub fn map_pool_error(err: PoolError, secrets: &[&SecretString]) -> Error {
    match err {
        PoolError::Backend(e) => map_pg_error(&e, secrets),
        PoolError::Timeout(_) => Error::new(ErrorKind::Timeout)
            .with_message("timed out waiting for a database connection"),
        PoolError::Closed => {
            Error::new(ErrorKind::Unavailable).with_message("the connection pool is closed")
        }
        other => Error::new(ErrorKind::Unavailable)
            .with_message(scrub(&other.to_string(), secrets.iter().copied())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        let kind = |c: &str| kind_of(&SqlState::from_code(c)).map(|(k, _)| k);
        assert_eq!(kind("23505"), Some(ErrorKind::AlreadyExists));
        assert_eq!(kind("42710"), Some(ErrorKind::AlreadyExists));
        assert_eq!(kind("42P04"), Some(ErrorKind::AlreadyExists));
        assert_eq!(kind("42704"), Some(ErrorKind::NotFound));
        assert_eq!(kind("23503"), Some(ErrorKind::Conflict));
        assert_eq!(kind("40001"), Some(ErrorKind::Conflict));
        assert_eq!(kind("42501"), Some(ErrorKind::PermissionDenied));
        assert_eq!(kind("28P01"), Some(ErrorKind::Unauthenticated));
        assert_eq!(kind("28000"), Some(ErrorKind::Unauthenticated));
        assert_eq!(kind("57P01"), Some(ErrorKind::Unavailable));
        assert_eq!(kind("53300"), Some(ErrorKind::Unavailable));
        assert_eq!(kind("57014"), Some(ErrorKind::Timeout));
        assert_eq!(kind("42601"), Some(ErrorKind::Internal));
        assert_eq!(kind("XX000"), None);
        let (_, status) = kind_of(&SqlState::T_R_DEADLOCK_DETECTED).unwrap();
        assert_eq!(status, Some(ErrorStatus::Temporary));
    }
}
