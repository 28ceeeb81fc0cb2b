//! The one error type of StackDock.
//!
//! Every adapter returns [`Error`]. Callers branch on [`Error::kind`] and ask
//! [`Error::is_temporary`] / [`Error::retry_after`] whether a retry makes sense;
//! the original cause stays reachable through [`std::error::Error::source`].
//!
//! Messages are meant to be shown to operators: they never contain a secret.
//! Adapters must not put credentials, passwords or tokens into any field of an
//! error (use [`crate::secret`] helpers to scrub provider messages when unsure).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in terms a caller can act on.
///
/// Marked `#[non_exhaustive]`: new kinds may be added, so match with a
/// wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The resource does not exist.
    NotFound,
    /// A resource with the same identity exists and is not ours (or cannot be adopted).
    AlreadyExists,
    /// The request conflicts with the current state (e.g. incompatible existing resource).
    Conflict,
    /// Credentials are missing, malformed or rejected.
    Unauthenticated,
    /// Credentials are valid but not allowed to do this.
    PermissionDenied,
    /// The provider asked us to slow down.
    RateLimited {
        /// How long the provider asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// The caller's input was rejected before (or by) the provider.
    InvalidInput {
        /// The offending field, in the spec's own naming (`name`, `records[0].ttl`, ...).
        field: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The adapter does not implement this operation.
    Unsupported {
        /// The operation that was asked for, e.g. `create server`.
        operation: String,
        /// The provider id of the adapter.
        provider: String,
    },
    /// The operation did not finish in time; its outcome may be unknown.
    Timeout,
    /// The provider is unreachable or temporarily failing.
    Unavailable,
    /// The provider answered with an error that maps to no other kind.
    Provider {
        /// HTTP status or protocol error code, when there is one.
        status: Option<u16>,
        /// The provider's own error code, e.g. `ENV_ALREADY_EXISTS` or a SQLSTATE.
        code: Option<String>,
        /// The provider's message (scrubbed of secrets).
        message: String,
    },
    /// The provider's answer could not be understood (malformed or unexpected body).
    InvalidResponse,
    /// The adapter's own configuration is invalid (missing URL, bad option ...).
    ConfigInvalid,
    /// A provisioning state transition that the state machine forbids.
    InvalidTransition {
        /// State the resource was in.
        from: String,
        /// State that was asked for.
        to: String,
    },
    /// The operation was abandoned on purpose (e.g. a safety threshold refused a plan).
    Refused,
    /// A bug or invariant violation inside the adapter.
    Internal,
}

impl ErrorKind {
    /// A short stable name for the kind, suitable for metrics labels and reason codes.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::RateLimited { .. } => "rate_limited",
            ErrorKind::InvalidInput { .. } => "invalid_input",
            ErrorKind::Unsupported { .. } => "unsupported",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Provider { .. } => "provider",
            ErrorKind::InvalidResponse => "invalid_response",
            ErrorKind::ConfigInvalid => "config_invalid",
            ErrorKind::InvalidTransition { .. } => "invalid_transition",
            ErrorKind::Refused => "refused",
            ErrorKind::Internal => "internal",
        }
    }

    /// Whether an error of this kind is, by default, worth retrying.
    ///
    /// Rate limits, time-outs, unavailability and 5xx provider errors are
    /// temporary; everything else is permanent.
    pub fn is_temporary_by_default(&self) -> bool {
        match self {
            ErrorKind::RateLimited { .. } | ErrorKind::Timeout | ErrorKind::Unavailable => true,
            ErrorKind::Provider {
                status: Some(status),
                ..
            } => (500..600).contains(status) && *status != 501,
            _ => false,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::NotFound => f.write_str("not found"),
            ErrorKind::AlreadyExists => f.write_str("already exists"),
            ErrorKind::Conflict => f.write_str("conflict"),
            ErrorKind::Unauthenticated => f.write_str("unauthenticated"),
            ErrorKind::PermissionDenied => f.write_str("permission denied"),
            ErrorKind::RateLimited { retry_after: None } => f.write_str("rate limited"),
            ErrorKind::RateLimited {
                retry_after: Some(d),
            } => write!(f, "rate limited (retry after {}ms)", d.as_millis()),
            ErrorKind::InvalidInput { field, reason } => {
                write!(f, "invalid input: {field}: {reason}")
            }
            ErrorKind::Unsupported {
                operation,
                provider,
            } => write!(f, "unsupported: {operation} is not supported by {provider}"),
            ErrorKind::Timeout => f.write_str("timed out"),
            ErrorKind::Unavailable => f.write_str("unavailable"),
            ErrorKind::Provider {
                status,
                code,
                message,
            } => {
                f.write_str("provider error")?;
                if let Some(status) = status {
                    write!(f, " {status}")?;
                }
                if let Some(code) = code {
                    write!(f, " [{code}]")?;
                }
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            ErrorKind::InvalidResponse => f.write_str("invalid response from provider"),
            ErrorKind::ConfigInvalid => f.write_str("invalid configuration"),
            ErrorKind::InvalidTransition { from, to } => {
                write!(f, "illegal provisioning transition {from} -> {to}")
            }
            ErrorKind::Refused => f.write_str("refused"),
            ErrorKind::Internal => f.write_str("internal error"),
        }
    }
}

/// Whether retrying can help, as OpenDAL classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStatus {
    /// Retrying the same request will fail the same way.
    Permanent,
    /// Retrying later may succeed.
    Temporary,
    /// It was temporary, but retries have been exhausted.
    Persistent,
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error returned by every StackDock operation.
///
/// ```
/// use stackdock_core::{Error, ErrorKind};
///
/// let err = Error::invalid_input("name", "must not be empty").with_operation("create database");
/// assert!(matches!(err.kind(), ErrorKind::InvalidInput { .. }));
/// assert!(!err.is_temporary());
/// assert_eq!(
///     err.to_string(),
///     "create database: invalid input: name: must not be empty"
/// );
/// ```
pub struct Error {
    // Boxed so `Result<T, Error>` stays one pointer wide on the happy path.
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    status: ErrorStatus,
    operation: Option<Cow<'static, str>>,
    message: Option<String>,
    context: Vec<(&'static str, String)>,
    source: Option<BoxError>,
    /// A provider's wait hint on an error that is not a rate limit (e.g. a 503's `Retry-After`).
    retry_after: Option<Duration>,
}

impl Error {
    /// A new error of `kind`, temporary or permanent by the kind's default.
    pub fn new(kind: ErrorKind) -> Self {
        let status = if kind.is_temporary_by_default() {
            ErrorStatus::Temporary
        } else {
            ErrorStatus::Permanent
        };
        Error {
            inner: Box::new(Inner {
                kind,
                status,
                operation: None,
                message: None,
                context: Vec::new(),
                source: None,
                retry_after: None,
            }),
        }
    }

    /// [`ErrorKind::NotFound`].
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound).with_message(what)
    }

    /// [`ErrorKind::AlreadyExists`].
    pub fn already_exists(what: impl Into<String>) -> Self {
        Error::new(ErrorKind::AlreadyExists).with_message(what)
    }

    /// [`ErrorKind::Conflict`].
    pub fn conflict(what: impl Into<String>) -> Self {
        Error::new(ErrorKind::Conflict).with_message(what)
    }

    /// [`ErrorKind::InvalidInput`] for `field`.
    pub fn invalid_input(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        })
    }

    /// [`ErrorKind::Unsupported`].
    pub fn unsupported(operation: impl Into<String>, provider: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unsupported {
            operation: operation.into(),
            provider: provider.into(),
        })
    }

    /// [`ErrorKind::Provider`].
    pub fn provider(status: Option<u16>, code: Option<String>, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Provider {
            status,
            code,
            message: message.into(),
        })
    }

    /// [`ErrorKind::RateLimited`].
    pub fn rate_limited(retry_after: Option<Duration>) -> Self {
        Error::new(ErrorKind::RateLimited { retry_after })
    }

    /// [`ErrorKind::ConfigInvalid`] with a message.
    pub fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::ConfigInvalid).with_message(message)
    }

    /// [`ErrorKind::InvalidResponse`] with a message.
    pub fn invalid_response(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidResponse).with_message(message)
    }

    /// [`ErrorKind::Internal`] with a message.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal).with_message(message)
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// Permanent, temporary, or temporary-but-retries-exhausted.
    pub fn status(&self) -> ErrorStatus {
        self.inner.status
    }

    /// Whether retrying later may succeed.
    pub fn is_temporary(&self) -> bool {
        self.inner.status == ErrorStatus::Temporary
    }

    /// How long the provider asked us to wait: a rate limit's wait, or a hint
    /// set with [`Error::with_retry_after`] (e.g. a 503's `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.inner.kind {
            ErrorKind::RateLimited {
                retry_after: Some(wait),
            } => Some(*wait),
            _ => self.inner.retry_after,
        }
    }

    /// Keep the provider's wait hint (e.g. `Retry-After` on a 503 that was not
    /// retried because the wait exceeded the retry budget).
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        match &mut self.inner.kind {
            ErrorKind::RateLimited { retry_after } => *retry_after = Some(wait),
            _ => self.inner.retry_after = Some(wait),
        }
        self
    }

    /// The operation that failed, e.g. `create database`.
    pub fn operation(&self) -> Option<&str> {
        self.inner.operation.as_deref()
    }

    /// Extra detail beyond the kind.
    pub fn message(&self) -> Option<&str> {
        self.inner.message.as_deref()
    }

    /// Key-value context (resource name, request id, ...).
    pub fn context(&self) -> &[(&'static str, String)] {
        &self.inner.context
    }

    /// Whether this is [`ErrorKind::NotFound`].
    pub fn is_not_found(&self) -> bool {
        self.inner.kind == ErrorKind::NotFound
    }

    /// Name the operation the caller asked for, replacing a deeper one: the
    /// deeper operation (e.g. `get zone` inside `create dns_zone`) is kept as
    /// the `step` context. Used by the [`CheckedLayer`](crate::layer::CheckedLayer).
    pub fn in_operation(mut self, operation: impl Into<Cow<'static, str>>) -> Self {
        let operation = operation.into();
        match self.inner.operation.take() {
            Some(step) if step != operation => {
                self.inner.context.push(("step", step.into_owned()));
            }
            _ => {}
        }
        self.inner.operation = Some(operation);
        self
    }

    /// Name the operation that failed (kept if already set by a deeper layer).
    pub fn with_operation(mut self, operation: impl Into<Cow<'static, str>>) -> Self {
        if self.inner.operation.is_none() {
            self.inner.operation = Some(operation.into());
        }
        self
    }

    /// Add detail to the error.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        let message = message.into();
        if !message.is_empty() {
            self.inner.message = Some(message);
        }
        self
    }

    /// Add a key-value pair of context. Never pass a secret.
    pub fn with_context(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.inner.context.push((key, value.into()));
        self
    }

    /// Keep the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// Keep an already boxed cause.
    pub fn with_boxed_source(mut self, source: BoxError) -> Self {
        self.inner.source = Some(source);
        self
    }

    /// Override whether the error is worth retrying.
    pub fn with_status(mut self, status: ErrorStatus) -> Self {
        self.inner.status = status;
        self
    }

    /// Mark a temporary error as persistent: retries were tried and exhausted.
    pub fn persistent(mut self) -> Self {
        if self.inner.status == ErrorStatus::Temporary {
            self.inner.status = ErrorStatus::Persistent;
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(op) = &self.inner.operation {
            write!(f, "{op}: ")?;
        }
        write!(f, "{}", self.inner.kind)?;
        if let Some(message) = &self.inner.message {
            write!(f, ": {message}")?;
        }
        if !self.inner.context.is_empty() {
            f.write_str(" (")?;
            for (i, (k, v)) in self.inner.context.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}={v}")?;
            }
            f.write_str(")")?;
        }
        if self.inner.status == ErrorStatus::Persistent {
            f.write_str(" [retries exhausted]")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("status", &self.inner.status);
        if let Some(op) = &self.inner.operation {
            d.field("operation", op);
        }
        if let Some(m) = &self.inner.message {
            d.field("message", m);
        }
        if !self.inner.context.is_empty() {
            d.field("context", &self.inner.context);
        }
        if let Some(wait) = &self.inner.retry_after {
            d.field("retry_after", wait);
        }
        if let Some(s) = &self.inner.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_classification() {
        assert!(Error::rate_limited(None).is_temporary());
        assert!(Error::new(ErrorKind::Timeout).is_temporary());
        assert!(Error::new(ErrorKind::Unavailable).is_temporary());
        assert!(Error::provider(Some(503), None, "x").is_temporary());
        assert!(!Error::provider(Some(501), None, "x").is_temporary());
        assert!(!Error::provider(Some(400), None, "x").is_temporary());
        assert!(!Error::not_found("x").is_temporary());
        assert!(!Error::invalid_input("a", "b").is_temporary());
        let e = Error::rate_limited(Some(Duration::from_secs(3))).persistent();
        assert_eq!(e.status(), ErrorStatus::Persistent);
        assert!(!e.is_temporary());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert!(e.to_string().ends_with("[retries exhausted]"));
    }

    #[test]
    fn display_and_source() {
        let io = std::io::Error::other("socket closed");
        let e = Error::new(ErrorKind::Unavailable)
            .with_operation("list servers")
            .with_context("dock", "gp-main")
            .with_source(io);
        assert_eq!(e.to_string(), "list servers: unavailable (dock=gp-main)");
        let src = std::error::Error::source(&e).expect("source kept");
        assert_eq!(src.to_string(), "socket closed");
        // the innermost operation wins
        let e = e.with_operation("outer");
        assert_eq!(e.operation(), Some("list servers"));
    }

    #[test]
    fn kind_names_are_stable() {
        assert_eq!(ErrorKind::NotFound.as_str(), "not_found");
        assert_eq!(
            ErrorKind::RateLimited { retry_after: None }.as_str(),
            "rate_limited"
        );
    }
}
