//! The one mapping from Vercel error responses to [`stackdock_core::Error`].
//!
//! Vercel answers errors as `{"error": {"code": "...", "message": "...", ...}}`;
//! some responses have an empty or non-JSON body, and then the status decides.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use stackdock_core::provisioning::sanitize_message;
use stackdock_core::{Error, ErrorKind};
use stackdock_http::{parse_retry_after, ErrorMapper, HeaderMap};

/// The `error` object of a Vercel error body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    invalid_token: Option<bool>,
    /// Rate-limit details on `rate_limited` errors.
    #[serde(default)]
    limit: Option<LimitBody>,
    /// The SDK's shape of a 429: `retryAfter: {value: seconds, str}`.
    #[serde(default)]
    retry_after: Option<RetryAfterBody>,
    /// The env var key a conflict is about (never the value).
    #[serde(default)]
    key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LimitBody {
    /// Unix seconds.
    #[serde(default)]
    reset: Option<f64>,
    /// Unix milliseconds.
    #[serde(default)]
    reset_ms: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
struct RetryAfterBody {
    #[serde(default)]
    value: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    error: ErrorBody,
}

/// [`ErrorMapper`] for Vercel, installed in the client's HTTP layer.
#[derive(Debug, Clone, Copy, Default)]
pub struct VercelErrorMapper;

impl ErrorMapper for VercelErrorMapper {
    fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
        map_error(status, headers, body, SystemTime::now())
    }
}

fn until(now: SystemTime, unix_secs: f64) -> Option<Duration> {
    if !unix_secs.is_finite() || unix_secs <= 0.0 {
        return None;
    }
    let at = UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(unix_secs).ok()?)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Map one non-2xx Vercel response to an error kind.
///
/// * `not_found` / 404 / 410 → `NotFound`
/// * 401, or 403 with `invalidToken` → `Unauthenticated`
/// * `ENV_ALREADY_EXISTS` (sent as 400 or 403) → `AlreadyExists`
/// * `forbidden` / `not_authorized_for_scope` / other 403 → `PermissionDenied`
/// * 402 (billing: plan limits, payment needed) → `PermissionDenied`, code kept
/// * 409 → `Conflict`
/// * `rate_limited` / `too_many_requests` / 429 → `RateLimited`, waiting for
///   `Retry-After` (or `X-RateLimit-Reset`), else the body's `limit.reset`
///   (`resetMs`), else the SDK's `retryAfter.value`
/// * 400 / `bad_request` → `InvalidInput` (field = the error's `key`, else `request`)
/// * 503 → `Unavailable`; anything else → `Provider` with status and code
///
/// Messages are sanitised; the code goes into the error's context.
///
/// ```
/// use std::time::SystemTime;
/// use stackdock_core::ErrorKind;
/// use stackdock_http::HeaderMap;
/// let body = br#"{"error":{"code":"ENV_ALREADY_EXISTS","message":"A variable with the name `API` already exists"}}"#;
/// let err = stackdock_vercel::error::map_error(403, &HeaderMap::new(), body, SystemTime::now());
/// assert_eq!(err.kind(), &ErrorKind::AlreadyExists);
/// ```
pub fn map_error(status: u16, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Error {
    let parsed: Option<ErrorBody> = serde_json::from_slice::<Envelope>(body)
        .ok()
        .map(|e| e.error);
    let malformed = parsed.is_none() && !body.iter().all(u8::is_ascii_whitespace);
    let e = parsed.unwrap_or_default();
    let code = e.code.clone().filter(|c| !c.is_empty());
    let message = e
        .message
        .as_deref()
        .map(sanitize_message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let code_is = |c: &str| code.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(c));

    let error = if status == 429 || code_is("rate_limited") || code_is("too_many_requests") {
        let wait = parse_retry_after(headers, now)
            .or_else(|| {
                e.limit
                    .as_ref()
                    .and_then(|l| l.reset)
                    .and_then(|s| until(now, s))
            })
            .or_else(|| {
                e.limit
                    .as_ref()
                    .and_then(|l| l.reset_ms)
                    .and_then(|ms| until(now, ms / 1000.0))
            })
            .or_else(|| {
                e.retry_after
                    .as_ref()
                    .and_then(|r| r.value)
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
            });
        Error::rate_limited(wait).with_message(message)
    } else if code_is("ENV_ALREADY_EXISTS") {
        Error::already_exists(message)
    } else if status == 404 || status == 410 || code_is("not_found") {
        Error::not_found(message)
    } else if status == 401 || (status == 403 && e.invalid_token == Some(true)) {
        Error::new(ErrorKind::Unauthenticated).with_message(message)
    } else if status == 402 {
        Error::new(ErrorKind::PermissionDenied).with_message(format!("billing: {message}"))
    } else if status == 403 || code_is("forbidden") || code_is("not_authorized_for_scope") {
        Error::new(ErrorKind::PermissionDenied).with_message(message)
    } else if status == 409 {
        Error::conflict(message)
    } else if status == 400 || code_is("bad_request") {
        Error::invalid_input(e.key.clone().unwrap_or_else(|| "request".into()), message)
    } else if status == 503 {
        Error::new(ErrorKind::Unavailable).with_message(message)
    } else {
        Error::provider(Some(status), code.clone(), message)
    };
    let mut error = error.with_context("status", status.to_string());
    if let Some(code) = code {
        error = error.with_context("code", code);
    }
    if malformed {
        error = error.with_context("body", "not a Vercel error object");
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackdock_http::HeaderValue;

    fn map(status: u16, body: &str) -> Error {
        map_error(
            status,
            &HeaderMap::new(),
            body.as_bytes(),
            SystemTime::now(),
        )
    }

    #[test]
    fn kinds_by_code_and_status() {
        let nf = map(
            404,
            r#"{"error":{"code":"not_found","message":"Project not found"}}"#,
        );
        assert_eq!(nf.kind(), &ErrorKind::NotFound);
        assert_eq!(nf.message(), Some("Project not found"));
        let forbidden = map(
            403,
            r#"{"error":{"code":"forbidden","message":"Not authorized"}}"#,
        );
        assert_eq!(forbidden.kind(), &ErrorKind::PermissionDenied);
        let bad_token = map(
            403,
            r#"{"error":{"code":"forbidden","message":"Not authorized","invalidToken":true}}"#,
        );
        assert_eq!(bad_token.kind(), &ErrorKind::Unauthenticated);
        assert_eq!(map(402, "").kind(), &ErrorKind::PermissionDenied);
        assert_eq!(map(409, "").kind(), &ErrorKind::Conflict);
        assert_eq!(map(503, "").kind(), &ErrorKind::Unavailable);
        let e500 = map(
            500,
            r#"{"error":{"code":"internal_server_error","message":"boom"}}"#,
        );
        assert!(matches!(
            e500.kind(),
            ErrorKind::Provider {
                status: Some(500),
                ..
            }
        ));
        assert!(e500.is_temporary());
        let bad = map(
            400,
            r#"{"error":{"code":"bad_request","message":"Invalid request: `name` is required","key":"name"}}"#,
        );
        assert!(matches!(bad.kind(), ErrorKind::InvalidInput { field, .. } if field == "name"));
    }

    #[test]
    fn rate_limits_prefer_header_then_body() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let body = br#"{"error":{"code":"rate_limited","message":"Rate limit exceeded","limit":{"remaining":0,"reset":1700000030,"resetMs":1700000030000,"total":100}}}"#;
        let e = map_error(429, &HeaderMap::new(), body, now);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        let e = map_error(429, &headers, body, now);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        let sdk = br#"{"error":{"code":"too_many_requests","message":"slow down","retryAfter":{"value":12,"str":"12s"}}}"#;
        assert_eq!(
            map_error(429, &HeaderMap::new(), sdk, now).retry_after(),
            Some(Duration::from_secs(12))
        );
    }

    #[test]
    fn empty_and_malformed_bodies_map_by_status() {
        let e = map(404, "");
        assert_eq!(e.kind(), &ErrorKind::NotFound);
        let e = map(500, "<html>Bad gateway</html>");
        assert!(matches!(
            e.kind(),
            ErrorKind::Provider {
                status: Some(500),
                ..
            }
        ));
        assert!(e.to_string().contains("not a Vercel error object"));
    }

    #[test]
    fn messages_are_sanitised() {
        let e = map(
            400,
            r#"{"error":{"code":"bad_request","message":"bad token: abc123"}}"#,
        );
        assert!(!e.to_string().contains("abc123"));
    }
}
