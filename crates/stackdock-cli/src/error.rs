//! One error type for every command: a one-line message a person can act
//! on, the exit code, and the cause chain (printed under `-v`). Messages
//! come from typed errors that never carry a secret.

use std::fmt;
use std::process::ExitCode;

use stackdock_runtime::Error as RuntimeError;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 1: the command (or the run it started) failed.
    Failed,
    /// 2: the command line or an input file is wrong.
    Usage,
    /// 3: another run holds the scope.
    Busy,
    /// 4: the principal may not do this.
    Denied,
}

impl Exit {
    pub(crate) fn code(self) -> ExitCode {
        ExitCode::from(match self {
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Busy => 3,
            Exit::Denied => 4,
        })
    }
}

/// What went wrong, for a person.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) exit: Exit,
    /// What happened, naming the dock / resource / file.
    pub(crate) message: String,
    /// What to do about it.
    pub(crate) hint: Option<String>,
    /// The cause chain, outermost first (shown under `-v`).
    pub(crate) causes: Vec<String>,
}

pub(crate) type CliResult<T> = Result<T, CliError>;

impl CliError {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            exit,
            message: message.into(),
            hint: None,
            causes: Vec::new(),
        }
    }

    /// Exit 1.
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self::new(Exit::Failed, message)
    }

    /// Exit 2.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// Exit 4.
    pub(crate) fn denied(message: impl Into<String>) -> Self {
        Self::new(Exit::Denied, message)
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Add the sources of `error` to the cause chain.
    pub(crate) fn caused_by(mut self, error: &(dyn std::error::Error + 'static)) -> Self {
        let mut next = error.source();
        while let Some(cause) = next {
            self.causes.push(cause.to_string());
            next = cause.source();
        }
        self
    }

    /// The one line printed on stderr.
    pub(crate) fn line(&self) -> String {
        match &self.hint {
            Some(hint) => format!("error: {}; {hint}", self.message),
            None => format!("error: {}", self.message),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line())
    }
}

impl From<RuntimeError> for CliError {
    fn from(e: RuntimeError) -> Self {
        let base = CliError::new(exit_of(&e), e.to_string()).caused_by(&e);
        match &e {
            RuntimeError::ScopeBusy { active_run, .. } => base.hint(format!(
                "wait for it (`stackdock run show {active_run}`) and try again"
            )),
            RuntimeError::PermissionDenied { .. } => {
                base.hint("ask an operator for a role that grants it (`stackdock principal add`)")
            }
            RuntimeError::Blueprint(_) => CliError {
                exit: Exit::Usage,
                ..base.hint("fix the blueprint file")
            },
            RuntimeError::Vault(_) => {
                base.hint("check the vault key file of the state directory (`stackdock vault rotate` keeps old keys until re-sealed)")
            }
            RuntimeError::Store(_) => base.hint("check the --store path or URL and that it is reachable"),
            RuntimeError::Dock(core) => {
                let hint = dock_hint(core);
                match hint {
                    Some(h) => base.hint(h),
                    None => base,
                }
            }
            _ => base,
        }
    }
}

impl From<stackdock_core::Error> for CliError {
    fn from(e: stackdock_core::Error) -> Self {
        CliError::from(RuntimeError::Dock(e))
    }
}

fn exit_of(e: &RuntimeError) -> Exit {
    match e {
        RuntimeError::ScopeBusy { .. } => Exit::Busy,
        RuntimeError::PermissionDenied { .. } => Exit::Denied,
        _ => Exit::Failed,
    }
}

/// What a person can do about a dock error, by kind.
fn dock_hint(e: &stackdock_core::Error) -> Option<&'static str> {
    use stackdock_core::ErrorKind as K;
    Some(match e.kind() {
        K::InvalidInput { .. } => "fix the blueprint or the value named above",
        K::Unauthenticated => "check the dock's credentials (`stackdock dock add NAME --replace --secret ...`)",
        K::PermissionDenied => "the dock's account lacks a permission the operation needs",
        K::Unavailable | K::Timeout => "the provider did not answer; check the dock's address (`stackdock dock check NAME`) and retry",
        K::RateLimited { .. } => "the provider is rate limiting; retry later",
        K::ConfigInvalid => "fix the dock's settings (`stackdock dock add NAME --replace ...`)",
        K::NotFound => "check the name (`stackdock dock list`, `stackdock runs`)",
        _ => return None,
    })
}

/// A `{context}: {error}` message for I/O on a path, never the file's contents.
pub(crate) fn io_error(context: &str, path: &std::path::Path, e: &std::io::Error) -> CliError {
    CliError::failed(format!("{context} {}: {}", path.display(), e.kind())).caused_by(e)
}
