//! Client configuration: base URL, credentials, timeouts, retry policy, limits.

use std::fmt;
use std::time::Duration;

use stackdock_core::secret::{is_secret_field, ExposeSecret, SecretString, REDACTED};
use stackdock_core::{Error, Result};
use url::Url;

use crate::redact::redacted_url;
use crate::scrub::{is_secret_header, Secrets};

/// How requests authenticate. Credentials always travel in headers, never in the
/// URL, so that they cannot leak through error messages that quote the URL.
#[derive(Clone, Default)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(SecretString),
    /// An API-key header, e.g. `X-Api-Key: <value>`.
    Header {
        /// Header name, e.g. `X-Api-Key`.
        name: String,
        /// Header value.
        value: SecretString,
    },
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        /// User name (not secret; it is printed by `Debug`).
        username: String,
        /// Password.
        password: SecretString,
    },
}

impl Auth {
    /// A bearer token.
    pub fn bearer(token: impl Into<String>) -> Self {
        Auth::Bearer(SecretString::from(token.into()))
    }

    /// An API-key header.
    pub fn header(name: impl Into<String>, value: impl Into<String>) -> Self {
        Auth::Header {
            name: name.into(),
            value: SecretString::from(value.into()),
        }
    }

    /// HTTP basic authentication.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Auth::Basic {
            username: username.into(),
            password: SecretString::from(password.into()),
        }
    }

    /// Register the credential, in every encoding it travels in, to be scrubbed from answers.
    pub(crate) fn register(&self, secrets: &mut Secrets) {
        match self {
            Auth::None => {}
            Auth::Bearer(token) => secrets.add(token.expose_secret()),
            Auth::Header { value, .. } => secrets.add(value.expose_secret()),
            Auth::Basic { username, password } => {
                secrets.add_basic(username, password.expose_secret())
            }
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Bearer(_) => f.debug_tuple("Bearer").field(&REDACTED).finish(),
            Auth::Header { name, .. } => f
                .debug_struct("Header")
                .field("name", name)
                .field("value", &REDACTED)
                .finish(),
            Auth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &REDACTED)
                .finish(),
        }
    }
}

/// When and how often to retry, in the shape of `object_store`'s `RetryConfig`.
///
/// The wait before retry `n` (1-based) is chosen uniformly in
/// `[0, min(max_backoff, initial_backoff * 2^(n-1))]` ("full jitter"), unless the
/// provider said how long to wait (`Retry-After`, `X-RateLimit-Reset`, a throttle
/// hint), in which case exactly that wait is used. No retry is started if the
/// total time since the first attempt plus the wait would exceed `retry_timeout`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryConfig {
    /// Retries after the first attempt (default 5). `0` disables retries.
    pub max_retries: u32,
    /// Upper bound of the first backoff (default 200 ms).
    pub initial_backoff: Duration,
    /// Upper bound of any computed backoff (default 30 s). Provider-requested waits are not capped by it.
    pub max_backoff: Duration,
    /// Cap on the total time spent on one request including retries and waits (default 3 min).
    pub retry_timeout: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            retry_timeout: Duration::from_secs(180),
        }
    }
}

impl RetryConfig {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryConfig {
            max_retries: 0,
            ..RetryConfig::default()
        }
    }

    /// The jittered backoff before retry number `retry` (1-based).
    pub fn backoff(&self, retry: u32) -> Duration {
        self.backoff_with(retry, &mut rand::thread_rng())
    }

    /// [`RetryConfig::backoff`] with a caller-provided random source (for tests).
    pub(crate) fn backoff_with(&self, retry: u32, rng: &mut impl rand::Rng) -> Duration {
        // The same rule as core's RetryLayer: one definition of full jitter.
        stackdock_core::layer::full_jitter(self.backoff_ceiling(retry), rng)
    }

    /// `min(max_backoff, initial_backoff * 2^(retry-1))`: the upper bound of [`RetryConfig::backoff`].
    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        stackdock_core::layer::backoff_ceiling(self.initial_backoff, self.max_backoff, retry)
    }
}

/// When to stop calling a host that keeps failing (a circuit breaker per host).
///
/// After `failure_threshold` consecutive failed attempts to one host
/// (connection failures, time-outs, 5xx except 501), requests to it fail at
/// once with a temporary [`ErrorKind::Unavailable`](stackdock_core::ErrorKind::Unavailable)
/// whose [`retry_after`](stackdock_core::Error::retry_after) says when the
/// breaker lets a request through again. After `cool_down` one probe request
/// goes out (half-open): success closes the breaker, failure opens it for
/// another `cool_down`. Any other answer (2xx, 4xx, 429) proves the host is up
/// and resets the count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CircuitBreakerConfig {
    /// Consecutive failed attempts that open the breaker (default 10, more than
    /// one request's default retries); `0` disables the breaker.
    pub failure_threshold: u32,
    /// How long the breaker stays open before a probe (default 30 s).
    pub cool_down: Duration,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            failure_threshold: 10,
            cool_down: Duration::from_secs(30),
        }
    }
}

impl CircuitBreakerConfig {
    /// A breaker that never opens.
    pub fn disabled() -> Self {
        CircuitBreakerConfig {
            failure_threshold: 0,
            ..CircuitBreakerConfig::default()
        }
    }
}

/// Default cap of one response body: 32 MiB, far above any real API page.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;

/// Everything an [`HttpClient`](crate::HttpClient) needs to talk to one provider.
///
/// `Debug` never prints a credential: auth values, secret query values and
/// default header values are redacted.
///
/// ```
/// use std::time::Duration;
/// use stackdock_http::{Auth, HttpConfig};
///
/// let mut config = HttpConfig::new("https://api.vercel.com".parse().unwrap());
/// config.auth = Auth::bearer("vercel-token");
/// config.default_query.push(("teamId".into(), "team_123".into()));
/// config.request_timeout = Duration::from_secs(20);
/// assert!(!format!("{config:?}").contains("vercel-token"));
/// ```
#[derive(Clone)]
pub struct HttpConfig {
    /// Prefix of every request path, e.g. `https://my.gridpane.com/oauth/api/v1`.
    pub base_url: Url,
    /// Credentials.
    pub auth: Auth,
    /// `User-Agent` header (default `stackdock/<version>`).
    pub user_agent: String,
    /// TCP + TLS connect timeout (default 10 s).
    pub connect_timeout: Duration,
    /// Timeout of one attempt, from sending to the end of the body (default 30 s).
    pub request_timeout: Duration,
    /// Retry policy.
    pub retry: RetryConfig,
    /// Concurrent in-flight requests per client (default 16). Waiting retries do not hold a slot.
    pub max_concurrency: usize,
    /// Query pairs appended to every request (e.g. Vercel `teamId`).
    pub default_query: Vec<(String, String)>,
    /// Headers added to every request. Values of secret-looking names
    /// (`Authorization`, `X-Api-Key`, anything naming a key, token, secret,
    /// password, signature, session or cookie) are scrubbed from answers.
    pub default_headers: Vec<(String, String)>,
    /// Largest response body accepted (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    /// Bodies are streamed and the read stops at the cap, with
    /// [`ErrorKind::InvalidResponse`](stackdock_core::ErrorKind::InvalidResponse)
    /// and a `max_response_bytes` context entry; a larger `Content-Length` is
    /// refused before reading anything.
    pub max_response_bytes: u64,
    /// Per-host circuit breaker.
    pub circuit_breaker: CircuitBreakerConfig,
}

impl HttpConfig {
    /// A configuration with no auth and the defaults documented on each field.
    pub fn new(base_url: Url) -> Self {
        HttpConfig {
            base_url,
            auth: Auth::None,
            user_agent: concat!("stackdock/", env!("CARGO_PKG_VERSION")).to_owned(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            retry: RetryConfig::default(),
            max_concurrency: 16,
            default_query: Vec::new(),
            default_headers: Vec::new(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            circuit_breaker: CircuitBreakerConfig::default(),
        }
    }

    /// Parse `base_url` and build [`HttpConfig::new`]; a bad URL is [`ErrorKind::ConfigInvalid`](stackdock_core::ErrorKind::ConfigInvalid).
    pub fn parse(base_url: &str) -> Result<Self> {
        let url = Url::parse(base_url).map_err(|e| {
            Error::config(format!(
                "base_url {:?} is not a valid URL: {e}",
                stackdock_core::secret::redact_url(base_url)
            ))
        })?;
        Ok(HttpConfig::new(url))
    }

    /// Set the credentials.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Set the retry policy.
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Set the `User-Agent`.
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Set connect and per-attempt request timeouts.
    pub fn with_timeouts(mut self, connect: Duration, request: Duration) -> Self {
        self.connect_timeout = connect;
        self.request_timeout = request;
        self
    }

    /// Set the concurrency limit.
    pub fn with_max_concurrency(mut self, max_concurrency: usize) -> Self {
        self.max_concurrency = max_concurrency;
        self
    }

    /// Append a query pair to every request.
    pub fn with_default_query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.default_query.push((key.into(), value.into()));
        self
    }

    /// Add a header to every request.
    pub fn with_default_header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.default_headers.push((name.into(), value.into()));
        self
    }

    /// Set the largest response body accepted.
    pub fn with_max_response_bytes(mut self, max_response_bytes: u64) -> Self {
        self.max_response_bytes = max_response_bytes;
        self
    }

    /// Set the circuit breaker policy.
    pub fn with_circuit_breaker(mut self, circuit_breaker: CircuitBreakerConfig) -> Self {
        self.circuit_breaker = circuit_breaker;
        self
    }

    /// Every secret the configuration carries (credential, secret default
    /// headers and query values), to be scrubbed from answers.
    pub(crate) fn secrets(&self) -> Secrets {
        let mut secrets = Secrets::default();
        self.auth.register(&mut secrets);
        for (name, value) in &self.default_headers {
            if is_secret_header(name) {
                secrets.add(value);
            }
        }
        let base_query = self
            .base_url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()));
        for (key, value) in base_query.chain(self.default_query.iter().cloned()) {
            if is_secret_field(&key) {
                secrets.add(&value);
            }
        }
        secrets
    }

    /// Check the configuration before any request is made.
    pub fn validate(&self) -> Result<()> {
        if !matches!(self.base_url.scheme(), "http" | "https") {
            return Err(Error::config("base_url must be an http or https URL"));
        }
        if self.base_url.password().is_some() || !self.base_url.username().is_empty() {
            // reqwest errors quote URLs; credentials belong in `auth`.
            return Err(Error::config(
                "base_url must not contain credentials: use HttpConfig::auth",
            ));
        }
        if self.max_concurrency == 0 || self.max_concurrency > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(Error::config(format!(
                "max_concurrency must be between 1 and {}",
                tokio::sync::Semaphore::MAX_PERMITS
            )));
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::config("timeouts must be greater than zero"));
        }
        if self.retry.retry_timeout.is_zero() {
            // It caps every attempt too: a zero budget would fail each request unsent.
            return Err(Error::config(
                "retry.retry_timeout must be greater than zero",
            ));
        }
        if self.max_response_bytes == 0 {
            return Err(Error::config(
                "max_response_bytes must be greater than zero",
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let query: Vec<(&str, &str)> = self
            .default_query
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    if is_secret_field(k) {
                        REDACTED
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        // Header values are left out entirely: callers sometimes put API keys there.
        let headers: Vec<(&str, &str)> = self
            .default_headers
            .iter()
            .map(|(k, _)| (k.as_str(), REDACTED))
            .collect();
        f.debug_struct("HttpConfig")
            .field("base_url", &redacted_url(&self.base_url))
            .field("auth", &self.auth)
            .field("user_agent", &self.user_agent)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field("max_concurrency", &self.max_concurrency)
            .field("default_query", &query)
            .field("default_headers", &headers)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("circuit_breaker", &self.circuit_breaker)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_ceiling_doubles_then_caps() {
        let retry = RetryConfig::default();
        let ms = |n| retry.backoff_ceiling(n).as_millis();
        assert_eq!([ms(1), ms(2), ms(3), ms(4)], [200, 400, 800, 1600]);
        assert_eq!(ms(9), 30_000);
        assert_eq!(ms(u32::MAX), 30_000, "no overflow for huge retry counts");
    }

    #[test]
    fn full_jitter_stays_in_bounds_and_spreads() {
        let retry = RetryConfig::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for n in 1..=12 {
            let ceiling = retry.backoff_ceiling(n);
            let samples: Vec<Duration> =
                (0..500).map(|_| retry.backoff_with(n, &mut rng)).collect();
            assert!(samples.iter().all(|d| *d <= ceiling), "retry {n}");
            // Full jitter uses the whole window, not just its top.
            assert!(samples.iter().any(|d| *d < ceiling / 4), "retry {n}");
            assert!(samples.iter().any(|d| *d > ceiling * 3 / 4), "retry {n}");
        }
        let none = RetryConfig {
            initial_backoff: Duration::ZERO,
            ..RetryConfig::default()
        };
        assert_eq!(none.backoff(3), Duration::ZERO);
    }
}
