//! The client: one `send` that retries, waits out rate limits and maps errors.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION};
use serde::de::DeserializeOwned;
use stackdock_core::secret::{is_secret_field, ExposeSecret, SecretString};
use stackdock_core::{Error, ErrorKind, Result};
use tokio::sync::Semaphore;
use tracing::Instrument as _;
use url::Url;

use crate::clock::{Clock, TokioClock};
use crate::config::{Auth, HttpConfig};
use crate::error::{transport_error, ErrorMapper};
use crate::redact::redacted_path;
use crate::request::{Request, Response};
use crate::retry_after::{parse_retry_after, retry_after_only};

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
        let inner = &*self.inner;
        if let Some(e) = &req.body_error {
            return Err(Error::internal(format!(
                "request body could not be serialised: {e}"
            )));
        }
        let url = self.url_for(req)?;
        let headers = self.headers_for(req)?;
        let path = redacted_path(&url);
        let retry = &inner.config.retry;
        let start = inner.clock.elapsed();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let (result, elapsed_ms) = {
                // Only in-flight attempts hold a slot; waiting retries do not.
                let _permit = inner
                    .semaphore
                    .acquire()
                    .await
                    .map_err(|_| Error::internal("concurrency limiter closed"))?;
                let started = tokio::time::Instant::now();
                let result = self.attempt(req, &url, headers.clone()).await;
                (result, started.elapsed().as_millis() as u64)
            };

            let (err, wait) = match result {
                Err(e) => {
                    let err = transport_error(e);
                    tracing::debug!(method = %req.method, path = %path, attempt, elapsed_ms, error = %err, "http transport error");
                    if !req.idempotent {
                        // The server may have acted on it: repeating could duplicate a create.
                        return Err(err.with_context("attempts", attempt.to_string()));
                    }
                    (err, None)
                }
                Ok(response) => {
                    let status = response.status;
                    tracing::debug!(method = %req.method, path = %path, status, attempt, elapsed_ms, "http response");
                    match self.classify(req, response) {
                        Ok(response) => return Ok(response),
                        Err(Verdict::Fail(err)) => return Err(err),
                        Err(Verdict::Retry(err, wait)) => (err, wait),
                    }
                }
            };

            let exhausted = |err: Error| {
                err.persistent()
                    .with_context("attempts", attempt.to_string())
            };
            if retry.max_retries == 0 {
                // Retries are off: nothing was exhausted, the caller may still retry.
                return Err(err);
            }
            if attempt > retry.max_retries {
                tracing::debug!(method = %req.method, path = %path, attempt, error = %err, "http retries exhausted");
                return Err(exhausted(err));
            }
            let wait = wait.unwrap_or_else(|| retry.backoff(attempt));
            let spent = inner.clock.elapsed().saturating_sub(start);
            if spent.saturating_add(wait) > retry.retry_timeout {
                tracing::debug!(method = %req.method, path = %path, attempt, wait_ms = wait.as_millis() as u64, "http retry_timeout reached");
                return Err(exhausted(err));
            }
            tracing::debug!(method = %req.method, path = %path, attempt, wait_ms = wait.as_millis() as u64, reason = err.kind().as_str(), "http retrying");
            inner.clock.sleep(wait).await;
        }
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
        let body = scrub_bytes(&response.body, inner.config.auth.secret());
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
            _ => Err(Verdict::Fail(err)),
        }
    }

    async fn attempt(
        &self,
        req: &Request,
        url: &Url,
        headers: HeaderMap,
    ) -> std::result::Result<Response, reqwest::Error> {
        let mut builder = self
            .inner
            .http
            .request(req.method.clone(), url.clone())
            .headers(headers);
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        if let Some(timeout) = req.timeout {
            builder = builder.timeout(timeout);
        }
        let response = builder.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        Ok(Response {
            status,
            headers,
            body,
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
            if is_secret_field(name) {
                value.set_sensitive(true);
            }
            headers.insert(header_name, value);
        }
        Ok(headers)
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

/// Replace the credential in a provider's error body (some echo the request back).
fn scrub_bytes<'a>(body: &'a Bytes, secret: Option<&SecretString>) -> Cow<'a, [u8]> {
    let Some(secret) = secret
        .map(|s| s.expose_secret().as_bytes())
        .filter(|s| !s.is_empty())
    else {
        return Cow::Borrowed(body);
    };
    if !body.windows(secret.len()).any(|w| w == secret) {
        return Cow::Borrowed(body);
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with(secret) {
            out.extend_from_slice(stackdock_core::secret::REDACTED.as_bytes());
            i += secret.len();
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_the_credential_from_bodies() {
        let secret = SecretString::from("tok3n");
        let body = Bytes::from_static(b"bad token tok3n, tok3n!");
        assert_eq!(
            &*scrub_bytes(&body, Some(&secret)),
            b"bad token [REDACTED], [REDACTED]!"
        );
        assert!(matches!(scrub_bytes(&body, None), Cow::Borrowed(_)));
    }
}
