//! The one mapping from PowerDNS API errors to [`stackdock_core::Error`].

use stackdock_core::secret::{scrub, SecretString};
use stackdock_core::{Error, ErrorKind};
use stackdock_http::{status_error, ErrorMapper, HeaderMap};

/// Maps PowerDNS `{"error": "..."}` bodies to error kinds, keeping the message.
///
/// | status | kind |
/// |---|---|
/// | 404 | `NotFound` |
/// | 409 | `AlreadyExists` (PowerDNS answers 409 only for "zone exists") |
/// | 422 | `InvalidInput { field: "request", reason: <message> }` |
/// | 400 | `Provider { status: 400 }` (malformed request: a bug on our side) |
/// | other | by status ([`status_error`]): 401 `Unauthenticated`, 5xx temporary ... |
///
/// Messages are scrubbed of the API key in case the server echoes it.
pub struct PowerDnsErrorMapper {
    api_key: SecretString,
}

impl PowerDnsErrorMapper {
    /// A mapper that scrubs `api_key` from messages.
    pub fn new(api_key: SecretString) -> Self {
        PowerDnsErrorMapper { api_key }
    }
}

/// The `error` (and `errors`) of a PowerDNS error body, or the body's text.
fn message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        error: String,
        #[serde(default)]
        errors: Vec<String>,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(b) if b.errors.is_empty() => b.error,
        Ok(b) => format!("{} ({})", b.error, b.errors.join("; ")),
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(500)])
            .trim()
            .to_owned(),
    }
}

/// Map a PowerDNS error response (see [`PowerDnsErrorMapper`]).
pub fn map_error(status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    let msg = message(body);
    let err = match status {
        404 => Error::not_found(msg),
        409 => Error::already_exists(msg),
        422 => Error::invalid_input("request", msg),
        400 => Error::provider(Some(400), None, msg),
        _ => return status_error(status, headers, body),
    };
    err.with_context("status", status.to_string())
}

impl ErrorMapper for PowerDnsErrorMapper {
    fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
        let err = map_error(status, headers, body);
        // Rebuild kinds that carry text so the scrub reaches every field.
        let scrubbed = |s: &str| scrub(s, [&self.api_key]);
        match err.kind().clone() {
            ErrorKind::InvalidInput { field, reason } => {
                Error::invalid_input(field, scrubbed(&reason))
                    .with_context("status", status.to_string())
            }
            ErrorKind::Provider {
                status: st,
                code,
                message,
            } => Error::provider(st, code, scrubbed(&message)),
            _ => {
                let m = err.message().map(scrubbed);
                let mut out = Error::new(err.kind().clone()).with_status(err.status());
                if let Some(m) = m {
                    out = out.with_message(m);
                }
                out.with_context("status", status.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_pdns_bodies() {
        let h = HeaderMap::new();
        let e = map_error(404, &h, br#"{"error": "Not Found"}"#);
        assert_eq!(e.kind(), &ErrorKind::NotFound);
        assert_eq!(e.message(), Some("Not Found"));
        let e = map_error(409, &h, br#"{"error": "Conflict"}"#);
        assert_eq!(e.kind(), &ErrorKind::AlreadyExists);
        let e = map_error(
            422,
            &h,
            br#"{"error": "RRset www.example.com. IN CNAME: Conflicts with pre-existing RRset"}"#,
        );
        match e.kind() {
            ErrorKind::InvalidInput { reason, .. } => {
                assert!(reason.contains("Conflicts with pre-existing"))
            }
            other => panic!("{other:?}"),
        }
        let e = map_error(500, &h, br#"{"error": "boom"}"#);
        assert!(e.is_temporary());
        let e = map_error(401, &h, b"Unauthorized");
        assert_eq!(e.kind(), &ErrorKind::Unauthenticated);
        let m = PowerDnsErrorMapper::new(SecretString::from("k3y-value"));
        let e = m.map_error(422, &h, br#"{"error": "bad key k3y-value"}"#);
        assert!(!format!("{e} {e:?}").contains("k3y-value"));
    }
}
