//! The client: one `send` that retries, waits out rate limits and maps errors.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION};
use serde::de::DeserializeOwned;
use stackdock_core::secret::ExposeSecret;
use stackdock_core::{Error, ErrorKind, Result};
use tokio::sync::Semaphore;
use tracing::Instrument as _;
use url::Url;

use crate::breaker::Breakers;
use crate::clock::{Clock, TokioClock};
use crate::config::{Auth, HttpConfig};
use crate::error::{transport_error, ErrorMapper};
use crate::redact::redacted_path;
use crate::request::{rate_limit_at, RateLimitInfo, Request, Response};
use crate::retry_after::{parse_retry_after, retry_after_only};
use crate::scrub::{is_secret_header, Secrets};

/// An HTTP client for one provider account. Cheap to clone (an `Arc` inside);
/// clones share the connection pool and the concurrency limit.
///
/// ```no_run
/// use stackdock_http::{Auth, HttpClient, HttpConfig, Request, StatusErrorMapper};
///
/// # async fn f() -> stackdock_core::Result<()> {
/// let config = HttpConfig::parse("https://my.gridpane.com/oauth/api/v1")?
///     .with_auth(Auth::bearer("gp-token"));
/// let client = HttpClient::new(config, StatusErrorMapper)?;
/// let servers: serde_json::Value = client
///     .send_json(Request::get("/server").query("per_page", "100").operation("list servers"))
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    http: reqwest::Client,
    config: HttpConfig,
    /// Base URL without query, without trailing slash: request paths are appended to it.
    base: String,
    /// Base URL query pairs followed by `config.default_query`.
    fixed_query: Vec<(String, String)>,
    /// Accept, default headers and auth, the secret ones marked sensitive.
    headers: HeaderMap,
    mapper: Arc<dyn ErrorMapper>,
    semaphore: Arc<Semaphore>,
    clock: Arc<dyn Clock>,
    /// Credential, secret default headers and query values, in all their encodings.
    secrets: Arc<Secrets>,
    /// Shared by clones, like the pool: one breaker state per host.
    breakers: Arc<Breakers>,
    /// The last rate-limit state a provider reported.
    rate_limit: Arc<Mutex<Option<RateLimitInfo>>>,
    /// `scheme://host:port` of the base URL: the circuit breaker's key.
    origin: String,
}

impl HttpClient {
    /// Build a client; an invalid configuration is [`ErrorKind::ConfigInvalid`].
    pub fn new(config: HttpConfig, mapper: impl ErrorMapper) -> Result<Self> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirect(same_origin_redirects())
            .build()
            .map_err(|e| {
                Error::config("could not build the HTTP client").with_source(e.without_url())
            })?;

        let mut base_url = config.base_url.clone();
        let mut fixed_query: Vec<(String, String)> = base_url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        fixed_query.extend(config.default_query.iter().cloned());
        base_url.set_query(None);
        base_url.set_fragment(None);
        let base = base_url.as_str().trim_end_matches('/').to_owned();

        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        for (name, value) in &config.default_headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::config(format!("default header name {name:?} is invalid")))?;
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                Error::config(format!("default header {name} has an invalid value"))
            })?;
            // Callers sometimes pass API keys here; keep them out of reqwest's Debug.
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        if let Some((name, value)) = auth_header(&config.auth)? {
            headers.insert(name, value);
        }

        let semaphore = Arc::new(Semaphore::new(config.max_concurrency));
        let config_secrets = config.secrets();
        let origin = config.base_url.origin().ascii_serialization();
        Ok(HttpClient {
            inner: Arc::new(Inner {
                http,
                config,
                base,
                fixed_query,
                headers,
                mapper: Arc::new(mapper),
                semaphore,
                clock: Arc::new(TokioClock::new()),
                secrets: Arc::new(config_secrets),
                breakers: Arc::default(),
                rate_limit: Arc::default(),
                origin,
            }),
        })
    }

    /// Use another [`Clock`] for retry waits and `Retry-After` dates (tests use
    /// [`ManualClock`](crate::ManualClock) to assert waits exactly without waiting).
    pub fn with_clock(self, clock: impl Clock) -> Self {
        let mut inner = (*self.inner).clone();
        inner.clock = Arc::new(clock);
        HttpClient {
            inner: Arc::new(inner),
        }
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &HttpConfig {
        &self.inner.config
    }

    /// Send `req`: wait for a concurrency slot, retry per the [`RetryConfig`](crate::RetryConfig),
    /// and map any non-2xx answer through the provider's [`ErrorMapper`].
    ///
    /// Retried: 429 and throttle hints (always: the server did not process the
    /// request), and for idempotent requests time-outs, connection failures and
    /// temporary errors (5xx except 501). A retryable error that runs out of
    /// retries or of `retry_timeout` is returned [`persistent`](Error::persistent).
    pub async fn send(&self, req: Request) -> Result<Response> {
        let op = operation_name(&req);
        self.send_inner(&req, &op)
            .await
            .map_err(|e| e.with_operation(op))
    }

    /// [`HttpClient::send`], then decode the body as JSON; a malformed body is
    /// [`ErrorKind::InvalidResponse`].
    pub async fn send_json<T: DeserializeOwned>(&self, req: Request) -> Result<T> {
        let op = operation_name(&req);
        let response = self
            .send_inner(&req, &op)
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        response.json().map_err(|e| e.with_operation(op))
    }

    /// [`HttpClient::send`], ignoring the body.
    pub async fn send_empty(&self, req: Request) -> Result<()> {
        self.send(req).await.map(drop)
    }

    async fn send_inner(&self, req: &Request, op: &str) -> Result<Response> {
        let span = tracing::debug_span!("http_request", operation = %op);
        self.send_with_retries(req).instrument(span).await
    }

    async fn send_with_retries(&self, req: &Request) -> Result<Response> {
        if let Some(e) = &req.body_error {
            return Err(Error::internal(format!(
                "request body could not be serialised: {e}"
            )));
        }
        let url = self.url_for(req)?;
        let call = Call {
            req,
            headers: self.headers_for(req)?,
            path: redacted_path(&url),
            host: &self.inner.origin,
            secrets: self.secrets_for(req),
            start: self.inner.clock.elapsed(),
            url,
        };
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let (err, provider_wait) = match self.one_attempt(&call, attempt).await? {
                Step::Done(response) => return Ok(response),
                Step::Retry(err, wait) => (err, wait),
            };
            let wait = self.retry_wait(&call, attempt, err, provider_wait)?;
            self.inner.clock.sleep(wait).await;
        }
    }

    /// One attempt within the circuit breaker and the `retry_timeout` deadline.
    async fn one_attempt(&self, call: &Call<'_>, attempt: u32) -> Result<Step> {
        let inner = &*self.inner;
        let breaker = &inner.config.circuit_breaker;
        let with_attempts = |e: Error| e.with_context("attempts", attempt.to_string());
        inner
            .breakers
            .admit(breaker, call.host, inner.clock.elapsed())
            .map_err(with_attempts)?;
        let spent = inner.clock.elapsed().saturating_sub(call.start);
        let remaining = inner.config.retry.retry_timeout.saturating_sub(spent);
        let started = tokio::time::Instant::now();
        // The deadline covers waiting for a slot and the whole attempt: `retry_timeout` is a hard cap.
        let result = tokio::select! {
            result = self.attempt_in_slot(call) => Ok(result),
            () = inner.clock.deadline(remaining) => Err(()),
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let result = match result {
            Ok(result) => result,
            Err(_) => {
                let (method, path) = (&call.req.method, &call.path);
                tracing::debug!(%method, %path, attempt, elapsed_ms, "http retry_timeout reached during the attempt");
                self.record_health(call, true);
                return Err(with_attempts(self.deadline_error()));
            }
        };
        match result {
            Err(failure) => self.after_failure(call, attempt, elapsed_ms, failure),
            Ok(response) => self.after_response(call, attempt, elapsed_ms, response),
        }
    }

    /// An attempt that got no answer: retried only when repeating it is harmless.
    fn after_failure(
        &self,
        call: &Call<'_>,
        attempt: u32,
        elapsed_ms: u64,
        failure: AttemptError,
    ) -> Result<Step> {
        self.record_health(call, failure.is_transport());
        let err = failure.into_error();
        let (method, path) = (&call.req.method, &call.path);
        tracing::debug!(%method, %path, attempt, elapsed_ms, error = %err, "http transport error");
        if !call.req.idempotent || !err.is_temporary() {
            // The server may have acted on it: repeating could duplicate a create.
            return Err(err.with_context("attempts", attempt.to_string()));
        }
        Ok(Step::Retry(err, None))
    }

    /// An attempt that got an answer: note the host's health and rate limit, then classify.
    fn after_response(
        &self,
        call: &Call<'_>,
        attempt: u32,
        elapsed_ms: u64,
        response: Response,
    ) -> Result<Step> {
        let status = response.status;
        self.record_health(call, is_failure_status(status));
        self.remember_rate_limit(&response.headers);
        let (method, path) = (&call.req.method, &call.path);
        tracing::debug!(%method, %path, status, attempt, elapsed_ms, "http response");
        match self.classify(call.req, response) {
            Ok(response) => Ok(Step::Done(response)),
            Err(Verdict::Fail(err)) => Err(err),
            Err(Verdict::Retry(err, wait)) => Ok(Step::Retry(err, wait)),
        }
    }

    /// The wait before the next retry, or the error to return when there is none.
    fn retry_wait(
        &self,
        call: &Call<'_>,
        attempt: u32,
        err: Error,
        provider_wait: Option<Duration>,
    ) -> Result<Duration> {
        let inner = &*self.inner;
        let retry = &inner.config.retry;
        let (method, path) = (&call.req.method, &call.path);
        // Whatever happens, the caller keeps the provider's own wait hint.
        let give_up = |err: Error| match provider_wait {
            Some(wait) => err.with_retry_after(wait),
            None => err,
        };
        let exhausted = |err: Error| {
            give_up(err)
                .persistent()
                .with_context("attempts", attempt.to_string())
        };
        if retry.max_retries == 0 {
            // Retries are off: nothing was exhausted, the caller may still retry.
            return Err(give_up(err));
        }
        if attempt > retry.max_retries {
            tracing::debug!(%method, %path, attempt, error = %err, "http retries exhausted");
            return Err(exhausted(err));
        }
        let wait = provider_wait.unwrap_or_else(|| retry.backoff(attempt));
        let spent = inner.clock.elapsed().saturating_sub(call.start);
        if spent.saturating_add(wait) > retry.retry_timeout {
            tracing::debug!(%method, %path, attempt, wait_ms = wait.as_millis() as u64, "http retry_timeout reached");
            return Err(exhausted(err));
        }
        tracing::debug!(%method, %path, attempt, wait_ms = wait.as_millis() as u64, reason = err.kind().as_str(), "http retrying");
        Ok(wait)
    }

    fn deadline_error(&self) -> Error {
        let retry = &self.inner.config.retry;
        let err = Error::new(ErrorKind::Timeout).with_message(format!(
            "retry_timeout of {} ms reached",
            retry.retry_timeout.as_millis()
        ));
        if retry.max_retries == 0 {
            err
        } else {
            err.persistent()
        }
    }

    fn record_health(&self, call: &Call<'_>, failed: bool) {
        let inner = &*self.inner;
        inner.breakers.record(
            &inner.config.circuit_breaker,
            call.host,
            failed,
            inner.clock.elapsed(),
        );
    }

    fn remember_rate_limit(&self, headers: &HeaderMap) {
        if let Some(info) = rate_limit_at(headers, self.inner.clock.now()) {
            *self
                .inner
                .rate_limit
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(info);
        }
    }

    /// The rate-limit state the provider reported on the last answer that
    /// carried rate-limit headers (`X-RateLimit-Limit/-Remaining/-Reset`, or the
    /// IETF `RateLimit-Limit/-Remaining/-Reset`), shared by all clones of this
    /// client; `None` until such an answer arrived. A dock can report it to
    /// callers that schedule work around the provider's budget.
    pub fn rate_limit(&self) -> Option<RateLimitInfo> {
        *self
            .inner
            .rate_limit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Decide what a response means: success, a retry (with the wait the provider asked for), or a final error.
    fn classify(
        &self,
        req: &Request,
        response: Response,
    ) -> std::result::Result<Response, Verdict> {
        let inner = &*self.inner;
        let status = response.status;
        let header_wait = || parse_retry_after(&response.headers, inner.clock.now());
        if let Some(hint) = inner
            .mapper
            .throttle_hint(status, &response.headers, &response.body)
        {
            let wait = hint.or_else(header_wait);
            let err = Error::rate_limited(wait)
                .with_message("the provider signalled throttling")
                .with_context("status", status.to_string());
            return Err(Verdict::Retry(err, wait));
        }
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let body = response.scrubbed_body();
        let mut err = inner.mapper.map_error(status, &response.headers, &body);
        if status == 429 && !matches!(err.kind(), ErrorKind::RateLimited { .. }) {
            // 429 means "not processed, slow down" whatever the body says.
            let message = err.message().unwrap_or_default().to_owned();
            err = Error::rate_limited(header_wait()).with_message(message);
        }
        match err.kind() {
            // A mapper can mark a rate limit permanent (e.g. a daily quota): then it is final.
            ErrorKind::RateLimited { retry_after } if err.is_temporary() => {
                let wait = header_wait().or(*retry_after);
                Err(Verdict::Retry(err, wait))
            }
            _ if req.idempotent && err.is_temporary() => {
                let wait = retry_after_only(&response.headers, inner.clock.now());
                Err(Verdict::Retry(err, wait))
            }
            _ => {
                let hint = retry_after_only(&response.headers, inner.clock.now());
                Err(Verdict::Fail(match hint {
                    Some(wait) if err.is_temporary() => err.with_retry_after(wait),
                    _ => err,
                }))
            }
        }
    }

    /// Wait for a concurrency slot, then send. Only in-flight attempts hold a
    /// slot; waiting retries do not.
    async fn attempt_in_slot(
        &self,
        call: &Call<'_>,
    ) -> std::result::Result<Response, AttemptError> {
        let _permit = self
            .inner
            .semaphore
            .acquire()
            .await
            .map_err(|_| AttemptError::Internal("concurrency limiter closed"))?;
        self.attempt(call).await
    }

    async fn attempt(&self, call: &Call<'_>) -> std::result::Result<Response, AttemptError> {
        let req = call.req;
        let mut builder = self
            .inner
            .http
            .request(req.method.clone(), call.url.clone())
            .headers(call.headers.clone());
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        if let Some(timeout) = req.timeout {
            builder = builder.timeout(timeout);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| AttemptError::Transport(e, Phase::Sending))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = read_capped(response, self.inner.config.max_response_bytes).await?;
        Ok(Response {
            status,
            headers,
            body,
            secrets: call.secrets.clone(),
        })
    }

    fn url_for(&self, req: &Request) -> Result<Url> {
        let inner = &*self.inner;
        let path_only = req.path.split(['?', '#']).next().unwrap_or_default();
        if path_only.split('/').any(is_dot_segment) {
            // URL parsing would resolve it and silently hit another endpoint
            // (`DELETE /projects/..` becoming `DELETE /`).
            return Err(Error::invalid_input(
                "path",
                "a path segment is `.` or `..`; ids interpolated into paths must not be",
            ));
        }
        let slash = if req.path.starts_with('/') { "" } else { "/" };
        let mut url = Url::parse(&format!("{}{slash}{}", inner.base, req.path))
            .map_err(|e| Error::internal(format!("request path does not form a valid URL: {e}")))?;
        if !inner.fixed_query.is_empty() || !req.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(inner.fixed_query.iter().chain(req.query.iter()));
        }
        Ok(url)
    }

    fn headers_for(&self, req: &Request) -> Result<HeaderMap> {
        let mut headers = self.inner.headers.clone();
        for (name, value) in &req.headers {
            let header_name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::internal(format!("header name {name:?} is invalid")))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| Error::internal(format!("header {name} has an invalid value")))?;
            if is_secret_header(name) {
                value.set_sensitive(true);
            }
            headers.insert(header_name, value);
        }
        Ok(headers)
    }
}

impl HttpClient {
    /// The client's secrets plus the request's own, when it has any.
    fn secrets_for(&self, req: &Request) -> Arc<Secrets> {
        if req.secrets.is_empty() {
            return self.inner.secrets.clone();
        }
        let mut secrets = (*self.inner.secrets).clone();
        secrets.extend(&req.secrets);
        Arc::new(secrets)
    }
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("config", &self.inner.config)
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

/// One `send`, prepared once and shared by its attempts.
struct Call<'a> {
    req: &'a Request,
    url: Url,
    headers: HeaderMap,
    /// Path and query with secret values redacted: what tracing prints.
    path: String,
    /// The origin the circuit breaker keys on (every path is appended to the base URL).
    host: &'a str,
    secrets: Arc<Secrets>,
    /// [`Clock::elapsed`] at the first attempt.
    start: Duration,
}

/// What one attempt leads to.
enum Step {
    Done(Response),
    /// Retry after the provider's wait (or backoff when `None`), if retries remain.
    Retry(Error, Option<Duration>),
}

/// When a transport failure happened: before any answer, or while reading the body.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Sending,
    ReadingBody,
}

/// Why an attempt produced no response.
enum AttemptError {
    Transport(reqwest::Error, Phase),
    TooLarge { limit: u64 },
    Internal(&'static str),
}

impl AttemptError {
    /// Whether it says something about the host's health (for the circuit breaker).
    fn is_transport(&self) -> bool {
        matches!(self, AttemptError::Transport(..))
    }

    fn into_error(self) -> Error {
        match self {
            AttemptError::Transport(e, phase) => transport_error(e, phase == Phase::ReadingBody),
            AttemptError::TooLarge { limit } => Error::invalid_response(format!(
                "response body exceeds the {limit}-byte limit (HttpConfig::max_response_bytes)"
            ))
            .with_context("max_response_bytes", limit.to_string()),
            AttemptError::Internal(what) => Error::internal(what),
        }
    }
}

/// Read the body chunk by chunk, never holding more than `limit` bytes.
async fn read_capped(
    mut response: reqwest::Response,
    limit: u64,
) -> std::result::Result<Bytes, AttemptError> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(AttemptError::TooLarge { limit });
    }
    // Content-Length (at most `limit`, already checked) sizes the buffer
    // once: growing it by doubling copies the body four times over for a
    // 10 MB zone and leaves the smaller buffers behind in the heap (+4 MiB
    // of resident memory). A Content-Length that lies costs address space
    // only: pages the body never reaches are never touched.
    let hint = response.content_length().unwrap_or(0).min(limit);
    let mut body = bytes::BytesMut::with_capacity(hint as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| AttemptError::Transport(e, Phase::ReadingBody))?
    {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(AttemptError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Failures that say the host is unwell: 5xx except 501 (not implemented is an answer).
fn is_failure_status(status: u16) -> bool {
    (500..600).contains(&status) && status != 501
}

enum Verdict {
    /// Retry after the given wait (or backoff when `None`), if retries remain.
    Retry(Error, Option<Duration>),
    /// Return this error now.
    Fail(Error),
}

/// `.`/`..` including the percent-encoded forms URL parsers also resolve.
fn is_dot_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase().replace("%2e", ".");
    lower == "." || lower == ".."
}

fn operation_name(req: &Request) -> Cow<'static, str> {
    match &req.operation {
        Some(op) => op.clone(),
        None => {
            let path = req.path.split('?').next().unwrap_or_default();
            Cow::Owned(format!("{} {path}", req.method))
        }
    }
}

fn auth_header(auth: &Auth) -> Result<Option<(HeaderName, HeaderValue)>> {
    let (name, value) = match auth {
        Auth::None => return Ok(None),
        Auth::Bearer(token) => (AUTHORIZATION, format!("Bearer {}", token.expose_secret())),
        Auth::Header { name, value } => (
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::config(format!("auth header name {name:?} is invalid")))?,
            value.expose_secret().to_owned(),
        ),
        Auth::Basic { username, password } => {
            let raw = format!("{username}:{}", password.expose_secret());
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            (AUTHORIZATION, format!("Basic {encoded}"))
        }
    };
    let mut value = HeaderValue::from_str(&value)
        .map_err(|_| Error::config("the credential contains characters not allowed in a header"))?;
    value.set_sensitive(true);
    Ok(Some((name, value)))
}

/// Follow redirects only within the same origin, so credentials in custom
/// headers (which reqwest does not strip) never reach another host.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("too many redirects");
        }
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same_origin {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}
