//! The leak check of the conformance suite: no secret a request carries may
//! come back out of an adapter (errors, `Debug`, serialised resources, logs)
//! in any encoding.
//!
//! Every adapter runs it against an echoing fake (a server that repeats the
//! request's headers, query and body in its answers) or, for SQL, a failing
//! server. The test
//!
//! 1. makes [`sentinel`] secrets and configures them where secrets go
//!    (credential, passwords, environment values, …);
//! 2. captures TRACE logs with [`LogCapture`] while it drives the adapter into
//!    errors and successes;
//! 3. feeds everything printed, serialised and logged to a [`LeakCheck`] and
//!    calls [`LeakCheck::assert_clean`]: no sentinel may appear raw,
//!    base64-encoded (also as the `user:password` pair of HTTP basic auth),
//!    percent-encoded or JSON-escaped, and no text may hold a raw CR or LF
//!    (a forged log line).
//!
//! ```
//! use stackdock_core::Error;
//! use stackdock_testkit::leak::{sentinel, LeakCheck, LogCapture};
//!
//! let password = sentinel("password");
//! let logs = LogCapture::start();
//! tracing::debug!(user = "deploy", "created");
//! let err = Error::provider(Some(400), None, "password [REDACTED] rejected");
//! LeakCheck::new()
//!     .error(&err)
//!     .logs(&logs)
//!     .assert_clean(&[&password]);
//! ```

use std::fmt::Debug;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use stackdock_core::Error;

/// A fresh secret no test data can contain by chance: `sdleak-<label>-<unique>`,
/// with a `/`, `+`, `&`, `"` and `%` in it so that every encoding differs from
/// the raw value (and a scrubber that forgets one is caught).
///
/// ```
/// let a = stackdock_testkit::leak::sentinel("token");
/// let b = stackdock_testkit::leak::sentinel("token");
/// assert_ne!(a, b);
/// assert!(a.starts_with("sdleak-token-"));
/// ```
pub fn sentinel(label: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("sdleak-{label}-{nanos:08x}{n:04x}/+&\"%Zq")
}

/// A sentinel with only letters, digits and `-`, for places that reject
/// special characters (header values of some providers, user names).
pub fn plain_sentinel(label: &str) -> String {
    sentinel(label)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

/// Every form a secret could be printed in: raw, base64 (standard and
/// URL-safe, padded or not), percent-encoded (upper- and lower-case hex,
/// spaces as `+` or `%20`) and JSON-escaped.
pub fn encodings(secret: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut forms = vec![secret.to_owned()];
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        forms.push(engine.encode(secret));
    }
    let percent = percent_encode(secret);
    forms.push(percent.to_ascii_lowercase().replace("%2f", "%2F"));
    forms.push(percent.replace("%20", "+"));
    forms.push(percent);
    forms.push(
        serde_json::to_string(secret)
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned(),
    );
    forms.sort();
    forms.dedup();
    forms
}

/// `user:password` as HTTP basic auth carries it (base64), plus the password's own forms.
pub fn basic_auth_encodings(username: &str, password: &str) -> Vec<String> {
    let mut forms = encodings(password);
    forms.extend(encodings(&format!("{username}:{password}")));
    forms
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Captures every `tracing` event at TRACE level while it lives: of the
/// current thread ([`LogCapture::start`], for `#[tokio::test]`s, which run
/// on one thread unless told otherwise) or of the whole process
/// ([`LogCapture::start_global`], for multi-threaded runtimes).
pub struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
    /// Where this capture's text starts in `buffer`.
    from: usize,
    _guard: Option<tracing::subscriber::DefaultGuard>,
}

impl LogCapture {
    /// Start capturing the current thread's events.
    pub fn start() -> Self {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        LogCapture {
            _guard: Some(tracing::subscriber::set_default(trace_subscriber(
                buffer.clone(),
            ))),
            buffer,
            from: 0,
        }
    }

    /// Start capturing every thread's events, for tests on a multi-threaded
    /// runtime (where spawned tasks log from worker threads).
    ///
    /// The first call installs a process-wide TRACE subscriber (events of
    /// the `log` crate are not forwarded: only `tracing`'s); the capture
    /// holds what is logged after it started, by any test of the process
    /// running at the same time too — for a leak check, a superset.
    ///
    /// # Panics
    ///
    /// When another global subscriber was installed first: the capture
    /// would see nothing, and a leak check on it could not fail.
    ///
    /// ```
    /// use stackdock_testkit::leak::LogCapture;
    /// let capture = LogCapture::start_global();
    /// std::thread::spawn(|| tracing::trace!(field = "from a worker", "an event"))
    ///     .join()
    ///     .unwrap();
    /// assert!(capture.text().contains("from a worker"));
    /// ```
    pub fn start_global() -> Self {
        static GLOBAL: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
        let buffer = GLOBAL
            .get_or_init(|| {
                let buffer = Arc::new(Mutex::new(Vec::new()));
                tracing::subscriber::set_global_default(trace_subscriber(buffer.clone()))
                    .expect("LogCapture::start_global: another global subscriber is installed");
                buffer
            })
            .clone();
        let from = lock(&buffer).len();
        LogCapture {
            buffer,
            from,
            _guard: None,
        }
    }

    /// Everything logged since the capture started.
    pub fn text(&self) -> String {
        let bytes = lock(&self.buffer);
        String::from_utf8_lossy(&bytes[self.from..]).into_owned()
    }
}

fn lock(buffer: &Mutex<Vec<u8>>) -> std::sync::MutexGuard<'_, Vec<u8>> {
    buffer.lock().unwrap_or_else(|e| e.into_inner())
}

/// A TRACE-level text subscriber writing into `buffer`.
fn trace_subscriber(buffer: Arc<Mutex<Vec<u8>>>) -> impl tracing::Subscriber + Send + Sync {
    let writer = SharedWriter(buffer);
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
}

impl Debug for LogCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogCapture").finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything an adapter printed, serialised or logged, to be searched for secrets.
#[derive(Debug, Default)]
pub struct LeakCheck {
    /// (where it came from, the text)
    places: Vec<(String, String)>,
    /// Places that are single messages: a raw CR/LF in them forges a log line.
    one_line: Vec<usize>,
}

impl LeakCheck {
    /// An empty check.
    pub fn new() -> Self {
        LeakCheck::default()
    }

    /// Add free text under a label.
    pub fn text(mut self, label: impl Into<String>, text: impl Into<String>) -> Self {
        self.places.push((label.into(), text.into()));
        self
    }

    /// Add an error's `Display` and `Debug` (and its sources'); its `Display`
    /// must also be one line.
    pub fn error(mut self, err: &Error) -> Self {
        self.one_line.push(self.places.len());
        self.places.push(("error Display".into(), err.to_string()));
        self.places.push(("error Debug".into(), format!("{err:?}")));
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            self.places.push(("error source".into(), s.to_string()));
            source = s.source();
        }
        self
    }

    /// Add any result: the error as with [`LeakCheck::error`], or the value's `Debug`.
    pub fn result<T: Debug>(self, label: &str, result: &Result<T, Error>) -> Self {
        match result {
            Ok(value) => self.debug(label, value),
            Err(err) => self.error(err),
        }
    }

    /// Add a value's `Debug`.
    pub fn debug(self, label: &str, value: &impl Debug) -> Self {
        self.text(format!("{label} Debug"), format!("{value:?}"))
    }

    /// Add a value's JSON serialisation (a resource as a control plane stores it).
    pub fn json(self, label: &str, value: &impl serde::Serialize) -> Self {
        let text = serde_json::to_string(value)
            .unwrap_or_else(|e| panic!("{label} does not serialise: {e}"));
        self.text(format!("{label} JSON"), text)
    }

    /// Add the captured logs.
    pub fn logs(self, capture: &LogCapture) -> Self {
        self.text("logs", capture.text())
    }

    /// Panic, naming the place and the encoding, if any secret appears in any
    /// place in any of its [`encodings`], or if a one-line place holds a raw
    /// CR or LF.
    pub fn assert_clean(&self, secrets: &[&str]) {
        let found = self.leaks(secrets);
        assert!(found.is_empty(), "leak check failed:\n{}", found.join("\n"));
    }

    /// [`LeakCheck::assert_clean`] for HTTP basic credentials: also the base64 of `user:password`.
    pub fn assert_clean_of_basic(&self, username: &str, password: &str) {
        let found = self.find(&basic_auth_encodings(username, password));
        assert!(found.is_empty(), "leak check failed:\n{}", found.join("\n"));
    }

    /// What [`LeakCheck::assert_clean`] would complain about, one line per finding.
    pub fn leaks(&self, secrets: &[&str]) -> Vec<String> {
        let forms: Vec<String> = secrets.iter().flat_map(|s| encodings(s)).collect();
        self.find(&forms)
    }

    fn find(&self, forms: &[String]) -> Vec<String> {
        let mut found = Vec::new();
        for (label, text) in &self.places {
            for form in forms {
                if text.contains(form.as_str()) {
                    found.push(format!("secret as {form:?} in {label}:\n  {text}"));
                }
            }
        }
        for &i in &self.one_line {
            let (label, text) = &self.places[i];
            if text.contains(['\r', '\n']) {
                found.push(format!("raw CR/LF in {label}: {text:?}"));
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_encoding() {
        let secret = sentinel("pw");
        for form in encodings(&secret) {
            let err = Error::provider(Some(400), None, format!("echo {form}"));
            let found = LeakCheck::new().error(&err).leaks(&[&secret]);
            assert!(!found.is_empty(), "{form} not caught");
        }
        LeakCheck::new()
            .error(&Error::provider(Some(400), None, "echo [REDACTED]"))
            .assert_clean(&[&secret]);
    }

    #[test]
    fn finds_basic_auth_and_line_breaks() {
        let pw = plain_sentinel("basic");
        // "adm:" is not a multiple of 3 bytes, so the password's own base64 is not inside.
        let header = format!(
            "authorization: Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("adm:{pw}"))
        );
        let check = LeakCheck::new().text("body", header);
        assert!(
            check.leaks(&[&pw]).is_empty(),
            "the password alone is not in it"
        );
        assert!(check.leaks(&[&pw]).is_empty());
        assert!(!check.find(&basic_auth_encodings("adm", &pw)).is_empty());
        let forged = Error::provider(Some(400), None, "bad\nINFO forged");
        assert!(!LeakCheck::new().error(&forged).leaks(&[]).is_empty());
    }

    #[test]
    fn captures_trace_logs() {
        let capture = LogCapture::start();
        tracing::trace!(field = "visible", "a trace event");
        assert!(capture.text().contains("visible"), "{}", capture.text());
    }
}
