//! The runtime's error type.

use crate::blueprint::BlueprintError;
use crate::model::{Operation, RunId};
use crate::vault::VaultError;

/// What can go wrong in the runtime. Messages never contain a secret.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another operation is active on the scope (Temporal's "fail" conflict
    /// policy); the same operation would have joined it instead.
    #[error("scope {scope} is busy: run {active_run} ({operation}) is active")]
    ScopeBusy {
        /// The scope asked for.
        scope: String,
        /// The run that holds it.
        active_run: RunId,
        /// What that run is doing.
        operation: Operation,
    },
    /// The principal may see the object but not do this with it.
    #[error("permission denied: {need} access to {area} is required")]
    PermissionDenied {
        /// The area.
        area: crate::rbac::Area,
        /// The access that was needed.
        need: crate::rbac::Access,
    },
    /// A run, scope or secret that does not exist (or belongs to another
    /// organisation: the answer is the same).
    #[error("not found: {0}")]
    NotFound(String),
    /// The blueprint is invalid (cycle, unknown step or reference, bad spec).
    #[error("blueprint: {0}")]
    Blueprint(#[from] BlueprintError),
    /// The vault refused (unknown key id, wrong key, tampered or moved ciphertext).
    #[error("vault: {0}")]
    Vault(#[from] VaultError),
    /// A [`RunRequest`](crate::RunRequest) that does not fit the run it was
    /// given with (another scope or operation, a finished run, an apply
    /// without its blueprint).
    #[error("invalid run request: {0}")]
    InvalidRequest(String),
    /// The run was cancelled ([`Runtime::cancel`](crate::Runtime::cancel))
    /// before this step started.
    #[error("run {run} was cancelled")]
    Cancelled {
        /// The run.
        run: RunId,
    },
    /// A worker's claim of a run is no longer the current one (its lease
    /// lapsed and another worker claimed the run, or it was released or
    /// finished): the store refused this write of run or step state
    /// (fencing). Stop executing the run; its current holder carries on.
    #[error("run {run}: attempt {attempt} no longer holds it; write refused")]
    LeaseLost {
        /// The run.
        run: RunId,
        /// The attempt whose lease was lost.
        attempt: u32,
    },
    /// The state store failed (I/O, SQL, migration); the message is sanitised.
    #[error("state store: {0}")]
    Store(String),
    /// A dock (adapter) call failed.
    #[error(transparent)]
    Dock(#[from] stackdock_core::Error),
}

impl Error {
    /// A store error from any displayable cause, sanitised.
    pub fn store(cause: impl std::fmt::Display) -> Self {
        Error::Store(stackdock_core::provisioning::sanitize_message(
            &cause.to_string(),
        ))
    }

    /// The same error as a core error, for traits of `stackdock-core`
    /// ([`TransitionSink`](stackdock_core::drive::TransitionSink),
    /// [`CredentialSource`](stackdock_core::factory::CredentialSource)).
    pub fn into_core(self) -> stackdock_core::Error {
        use stackdock_core::{Error as CoreError, ErrorKind};
        match self {
            Error::Dock(e) => e,
            Error::NotFound(what) => CoreError::not_found(what),
            Error::PermissionDenied { area, need } => CoreError::new(ErrorKind::PermissionDenied)
                .with_message(format!("{need} access to {area} is required")),
            Error::Store(m) => {
                CoreError::new(ErrorKind::Unavailable).with_message(format!("state store: {m}"))
            }
            Error::Vault(e) => CoreError::config(format!("vault: {e}")),
            other => CoreError::internal(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::store(e)
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::store(e)
    }
}

/// The runtime's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
