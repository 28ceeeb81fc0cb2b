//! The one mapping from GridPane answers to [`stackdock_core::Error`].
//!
//! GridPane is a Laravel application: errors come as `{"message": "..."}`,
//! validation failures as `{"message": "...", "errors": {"field": ["..."]}}`,
//! a bad token as 401 `{"message": "Unauthenticated."}`. Throttling shows up
//! either as HTTP 429 or as a body containing `Beep, Beep` (sometimes with a
//! 2xx status), which GridPane's own scripts answer by sleeping 31 seconds.

use std::time::{Duration, SystemTime};

use serde::Deserialize;
use stackdock_core::{Error, ErrorKind};
use stackdock_http::ErrorMapper;
use stackdock_http::HeaderMap;

/// Text GridPane puts in a throttled answer.
pub const THROTTLE_MARKER: &str = "Beep, Beep";

/// Longest provider message kept in an error.
const MAX_MESSAGE: usize = 300;

/// The [`ErrorMapper`] of the GridPane client: [`map_error`] plus throttle detection.
#[derive(Debug, Clone)]
pub struct GridPaneErrors {
    throttle_wait: Duration,
}

impl GridPaneErrors {
    /// A mapper that waits `throttle_wait` after a throttle answer without `Retry-After`.
    pub fn new(throttle_wait: Duration) -> Self {
        GridPaneErrors { throttle_wait }
    }

    /// How long to wait before retrying this answer, if it is a throttle answer.
    pub fn throttle_wait(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
        if status == 429 || is_throttle_body(body) {
            Some(
                stackdock_http::parse_retry_after(headers, SystemTime::now())
                    .unwrap_or(self.throttle_wait),
            )
        } else {
            None
        }
    }
}

impl ErrorMapper for GridPaneErrors {
    fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
        let err = map_error(status, headers, body);
        match err.kind() {
            ErrorKind::RateLimited { retry_after: None } => {
                Error::rate_limited(Some(self.throttle_wait))
                    .with_message(err.message().unwrap_or_default().to_owned())
            }
            _ => err,
        }
    }

    fn throttle_hint(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<Option<Duration>> {
        self.throttle_wait(status, headers, body).map(Some)
    }
}

/// Whether a body is GridPane's throttle answer.
pub fn is_throttle_body(body: &[u8]) -> bool {
    let marker = THROTTLE_MARKER.as_bytes();
    body.windows(marker.len())
        .any(|w| w.eq_ignore_ascii_case(marker))
}

#[derive(Deserialize, Default)]
struct LaravelError {
    #[serde(default)]
    message: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    errors: Option<serde_json::Value>,
}

/// Map a non-2xx GridPane answer (or a 2xx answer that says it failed) to an [`Error`].
///
/// | answer | kind |
/// |---|---|
/// | 429, or a body with `Beep, Beep` | `RateLimited` (`Retry-After` when sent) |
/// | 401 | `Unauthenticated` |
/// | 403 | `PermissionDenied` |
/// | 404, 410 | `NotFound` |
/// | 409 | `Conflict` |
/// | 400, 422 | `InvalidInput`, `field` = the fields named in `errors` (comma-separated), else `request` |
/// | 502, 503, 504 | `Unavailable` |
/// | anything else | `Provider { status, message }` |
///
/// ```
/// use stackdock_core::ErrorKind;
/// use stackdock_gridpane::error::map_error;
/// let body = br#"{"message":"The given data was invalid.","errors":{"url":["The url has already been taken."]}}"#;
/// let err = map_error(422, &Default::default(), body);
/// assert!(matches!(err.kind(), ErrorKind::InvalidInput { field, .. } if field == "url"));
/// ```
pub fn map_error(status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    if status == 429 || is_throttle_body(body) {
        let wait = stackdock_http::parse_retry_after(headers, SystemTime::now());
        return Error::rate_limited(wait).with_message("GridPane asked to slow down");
    }
    let parsed: LaravelError = serde_json::from_slice(body).unwrap_or_default();
    let message = parsed
        .message
        .as_ref()
        .or(parsed.error.as_ref())
        .map(value_text)
        .unwrap_or_else(|| {
            if body.is_empty() || serde_json::from_slice::<serde_json::Value>(body).is_ok() {
                String::new()
            } else {
                // Not JSON (an HTML error page from a proxy): keep only a hint.
                "non-JSON error body".to_owned()
            }
        });
    let message = truncate(&message);
    let err = match status {
        401 => Error::new(ErrorKind::Unauthenticated).with_message(message),
        403 => Error::new(ErrorKind::PermissionDenied).with_message(message),
        404 | 410 => Error::not_found(message),
        409 => Error::conflict(message),
        400 | 422 => {
            let (fields, reasons) = field_errors(parsed.errors.as_ref());
            if fields.is_empty() {
                let reason = if message.is_empty() {
                    "GridPane rejected the request".to_owned()
                } else {
                    message
                };
                Error::invalid_input("request", reason)
            } else {
                Error::invalid_input(fields.join(", "), truncate(&reasons.join("; ")))
            }
        }
        502..=504 => Error::new(ErrorKind::Unavailable).with_message(message),
        _ => Error::provider(Some(status), None, message),
    };
    err.with_context("status", status.to_string())
}

/// Field names and messages of a Laravel `errors` object, in field order.
fn field_errors(errors: Option<&serde_json::Value>) -> (Vec<String>, Vec<String>) {
    let mut fields = Vec::new();
    let mut reasons = Vec::new();
    match errors {
        Some(serde_json::Value::Object(map)) => {
            for (field, msgs) in map {
                fields.push(field.clone());
                match msgs {
                    serde_json::Value::Array(items) => {
                        reasons.extend(items.iter().map(value_text));
                    }
                    other => reasons.push(value_text(other)),
                }
            }
        }
        Some(serde_json::Value::Array(items)) => reasons.extend(items.iter().map(value_text)),
        _ => {}
    }
    (fields, reasons)
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_MESSAGE {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX_MESSAGE).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    fn kind(status: u16, body: &str) -> ErrorKind {
        map_error(status, &HeaderMap::new(), body.as_bytes())
            .kind()
            .clone()
    }

    #[test]
    fn laravel_bodies() {
        assert_eq!(
            kind(401, r#"{"message":"Unauthenticated."}"#),
            ErrorKind::Unauthenticated
        );
        assert_eq!(
            kind(404, r#"{"message":"No query results"}"#),
            ErrorKind::NotFound
        );
        assert_eq!(kind(403, "{}"), ErrorKind::PermissionDenied);
        assert_eq!(
            kind(
                422,
                r#"{"message":"The given data was invalid.","errors":{"url":["taken"],"php_version":["bad","worse"]}}"#
            ),
            ErrorKind::InvalidInput {
                field: "php_version, url".into(),
                reason: "bad; worse; taken".into()
            }
        );
        assert_eq!(
            kind(422, r#"{"message":"Site is still building"}"#),
            ErrorKind::InvalidInput {
                field: "request".into(),
                reason: "Site is still building".into()
            }
        );
        assert_eq!(kind(503, "<html>"), ErrorKind::Unavailable);
        assert!(matches!(
            kind(500, "oops"),
            ErrorKind::Provider {
                status: Some(500),
                ..
            }
        ));
        assert!(map_error(500, &HeaderMap::new(), b"x").is_temporary());
    }

    #[test]
    fn throttling() {
        let mapper = GridPaneErrors::new(Duration::from_secs(31));
        let headers = HeaderMap::new();
        let body = br#"{"message":"Beep, Beep! Slow down."}"#;
        assert_eq!(
            mapper.throttle_hint(200, &headers, body),
            Some(Some(Duration::from_secs(31)))
        );
        assert_eq!(
            mapper.throttle_hint(429, &headers, b""),
            Some(Some(Duration::from_secs(31)))
        );
        assert_eq!(
            mapper.throttle_hint(200, &headers, br#"{"success":true}"#),
            None
        );
        let mut with_header = HeaderMap::new();
        with_header.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(
            mapper.throttle_hint(429, &with_header, body),
            Some(Some(Duration::from_secs(7)))
        );
        let err = mapper.map_error(429, &headers, body);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(31)));
        assert!(err.is_temporary());
    }

    proptest::proptest! {
        #[test]
        fn any_body_maps_without_panicking(status in 400u16..600, body in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let err = map_error(status, &HeaderMap::new(), &body);
            proptest::prop_assert!(err.to_string().chars().count() < 800);
        }
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(1000);
        let err = map_error(
            500,
            &HeaderMap::new(),
            format!(r#"{{"message":"{long}"}}"#).as_bytes(),
        );
        assert!(err.to_string().len() < 400);
    }
}
