//! Turning HTTP failures into [`stackdock_core::Error`]s.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use stackdock_core::{Error, ErrorKind};

use crate::retry_after::parse_retry_after;

/// A provider's ONE mapping from error responses to [`ErrorKind`]s.
///
/// The layer calls [`ErrorMapper::map_error`] for every non-2xx response it
/// does not retry (or that exhausted its retries). Implementations parse the
/// provider's error body and fall back to [`status_error`] when they do not
/// understand it. Bodies reach the mapper with the client's credential
/// already scrubbed out.
///
/// ```
/// use reqwest::header::HeaderMap;
/// use stackdock_core::Error;
/// use stackdock_http::{status_error, ErrorMapper};
///
/// struct Vercel;
/// impl ErrorMapper for Vercel {
///     fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
///         #[derive(serde::Deserialize)]
///         struct Body { error: Inner }
///         #[derive(serde::Deserialize)]
///         struct Inner { code: String, message: String }
///         match serde_json::from_slice::<Body>(body) {
///             Ok(b) if b.error.code == "not_found" => Error::not_found(b.error.message),
///             Ok(b) => Error::provider(Some(status), Some(b.error.code), b.error.message),
///             Err(_) => status_error(status, headers, body),
///         }
///     }
/// }
/// ```
pub trait ErrorMapper: Send + Sync + 'static {
    /// Map a non-2xx response to an Error (the ONE error mapping of a provider).
    ///
    /// Returning [`ErrorKind::RateLimited`] makes the layer wait and retry
    /// (for any method); returning a temporary error makes it retry idempotent
    /// requests.
    fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Error;

    /// Providers that signal throttling in a body (GridPane "Beep, Beep", maybe with status 200):
    /// return `Some(wait)` to have the layer treat the response as rate limited and retry after `wait`
    /// (`None` inside = use `Retry-After` or backoff). Default: `None`.
    ///
    /// Called for every response, successful or not, before anything else.
    fn throttle_hint(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<Option<Duration>> {
        let _ = (status, headers, body);
        None
    }
}

/// An [`ErrorMapper`] that maps by status only (see [`status_error`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusErrorMapper;

impl ErrorMapper for StatusErrorMapper {
    fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
        status_error(status, headers, body)
    }
}

/// An [`ErrorMapper`] for APIs whose error bodies carry a code and a
/// message: it reads the first error object at a JSON pointer, maps codes
/// to kinds from three lists, a 400 / 422 with any other code to
/// [`ErrorKind::InvalidInput`] (the field from the error's
/// `source.pointer` when the API gives one), and everything else — and any
/// body it cannot read — by status ([`status_error`]). Codes may be JSON
/// numbers or strings; compare them as text.
///
/// ```
/// use stackdock_core::ErrorKind;
/// use stackdock_http::{ErrorCodes, ErrorMapper, HeaderMap};
/// const CODES: ErrorCodes = ErrorCodes {
///     error: "/errors/0",
///     not_found: &["81044"],
///     already_exists: &["81057"],
///     unauthenticated: &["9109"],
/// };
/// let body = br#"{"success":false,"errors":[{"code":81057,"message":"Record already exists."}]}"#;
/// assert_eq!(CODES.map_error(400, &HeaderMap::new(), body).kind(), &ErrorKind::AlreadyExists);
/// let body = br#"{"errors":[{"code":9005,"message":"bad content","source":{"pointer":"/content"}}]}"#;
/// assert!(matches!(CODES.map_error(400, &HeaderMap::new(), body).kind(),
///     ErrorKind::InvalidInput { field, .. } if field == "content"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ErrorCodes {
    /// JSON pointer of the error object (with `code` and `message`), e.g. `/errors/0`.
    pub error: &'static str,
    /// Codes meaning the resource does not exist.
    pub not_found: &'static [&'static str],
    /// Codes meaning it already exists.
    pub already_exists: &'static [&'static str],
    /// Codes meaning the credentials were refused.
    pub unauthenticated: &'static [&'static str],
}

impl ErrorMapper for ErrorCodes {
    fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
        let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let Some(error) = value
            .pointer(self.error)
            .filter(|_| status != 429 && status < 500)
        else {
            return status_error(status, headers, body);
        };
        let code = match &error["code"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let message = truncate(error["message"].as_str().unwrap_or_default(), 300);
        let err = if self.not_found.contains(&code.as_str()) {
            Error::not_found(message)
        } else if self.already_exists.contains(&code.as_str()) {
            Error::already_exists(message)
        } else if self.unauthenticated.contains(&code.as_str()) {
            Error::new(ErrorKind::Unauthenticated).with_message(message)
        } else if matches!(status, 400 | 422) {
            let field = error.pointer("/source/pointer").and_then(|p| p.as_str());
            let field = field.map(|p| p.trim_start_matches('/').replace('/', "."));
            rejected_input(status, field.as_deref(), message)
        } else {
            return status_error(status, headers, body);
        };
        err.with_context("code", code)
    }
}

/// The default mapping by status, for bodies a provider mapper does not understand.
///
/// | status | kind |
/// |---|---|
/// | 401 | `Unauthenticated` |
/// | 403 | `PermissionDenied` |
/// | 404, 410 | `NotFound` |
/// | 408 | `Timeout` (temporary) |
/// | 409 | `Conflict` |
/// | 429 | `RateLimited { retry_after }` from `Retry-After` / `X-RateLimit-Reset` (temporary) |
/// | 5xx | `Provider { status }`, temporary except 501 |
/// | other (incl. 400, 422) | `Provider { status }` (permanent): without a field name the layer cannot say *which* input was invalid |
///
/// The message is a short excerpt of the body (its `message`/`error` field when
/// it is JSON), so operators see what the provider said.
pub fn status_error(status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    let message = body_message(body);
    let err = match status {
        401 => Error::new(ErrorKind::Unauthenticated),
        403 => Error::new(ErrorKind::PermissionDenied),
        404 | 410 => Error::new(ErrorKind::NotFound),
        408 => Error::new(ErrorKind::Timeout),
        409 => Error::new(ErrorKind::Conflict),
        429 => Error::rate_limited(parse_retry_after(headers, SystemTime::now())),
        _ => return Error::provider(Some(status), None, message),
    };
    err.with_message(message)
        .with_context("status", status.to_string())
}

/// A short human-readable excerpt of an error body: its `message` /
/// `error_description` / `error.message` / `error` field when it is JSON,
/// the trimmed text otherwise, at most 300 characters. Bodies reach an
/// [`ErrorMapper`] already scrubbed of the client's secrets.
///
/// ```
/// use stackdock_http::error_message;
/// assert_eq!(error_message(br#"{"error":{"message":"name is taken"}}"#), "name is taken");
/// assert_eq!(error_message(b" upstream down "), "upstream down");
/// ```
pub fn error_message(body: &[u8]) -> String {
    body_message(body)
}

/// The provider refused the caller's input (a 400 or 422 that names what
/// was wrong): [`ErrorKind::InvalidInput`] with the field (`request` when the
/// provider did not name one) and the provider's message, permanent.
///
/// ```
/// use stackdock_core::ErrorKind;
/// let e = stackdock_http::rejected_input(422, Some("content"), "not an IPv4 address");
/// assert!(matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "content"));
/// ```
pub fn rejected_input(status: u16, field: Option<&str>, message: impl Into<String>) -> Error {
    Error::invalid_input(field.unwrap_or("request"), message)
        .with_context("status", status.to_string())
}

fn body_message(body: &[u8]) -> String {
    const MAX: usize = 300;
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let pick = |v: &serde_json::Value| -> Option<String> {
            v.get("message")
                .or_else(|| v.get("error_description"))
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        };
        let found = pick(&value)
            .or_else(|| value.get("error").and_then(pick))
            .or_else(|| {
                value
                    .get("error")
                    .and_then(|e| e.as_str())
                    .map(str::to_owned)
            });
        if let Some(found) = found {
            return truncate(&found, MAX);
        }
    }
    let text = String::from_utf8_lossy(body);
    truncate(text.trim(), MAX)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

/// Map a transport failure. The URL is removed from the source because it could
/// carry query values the caller considers sensitive.
///
/// A connection lost after it was up (reset, closed early) is told apart from
/// one that never opened: the server may have acted on the request in the
/// first case (a `POST` may have created something), never in the second.
pub(crate) fn transport_error(err: reqwest::Error, reading_body: bool) -> Error {
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Unavailable
    };
    let message = if err.is_timeout() {
        "request timed out"
    } else if reading_body {
        "connection lost while reading the response"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "connection lost after the request was sent; the server may have acted on it"
    };
    Error::new(kind)
        .with_message(message)
        .with_source(err.without_url())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn default_mapping_by_status() {
        let h = HeaderMap::new();
        let kind = |s| status_error(s, &h, b"").kind().clone();
        assert_eq!(kind(401), ErrorKind::Unauthenticated);
        assert_eq!(kind(403), ErrorKind::PermissionDenied);
        assert_eq!(kind(404), ErrorKind::NotFound);
        assert_eq!(kind(409), ErrorKind::Conflict);
        assert!(matches!(
            kind(422),
            ErrorKind::Provider {
                status: Some(422),
                ..
            }
        ));
        assert!(!status_error(400, &h, b"").is_temporary());
        assert!(status_error(503, &h, b"").is_temporary());
        assert!(!status_error(501, &h, b"").is_temporary());
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(
            status_error(429, &h, b"").retry_after(),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn messages_come_from_the_body() {
        let h = HeaderMap::new();
        let e = status_error(
            400,
            &h,
            br#"{"error":{"code":"bad","message":"name is taken"}}"#,
        );
        assert!(e.to_string().contains("name is taken"), "{e}");
        let e = status_error(500, &h, b"upstream exploded");
        assert!(e.to_string().contains("upstream exploded"), "{e}");
        let long = "x".repeat(1000);
        let e = status_error(500, &h, long.as_bytes());
        assert!(e.to_string().len() < 400);
    }
}
