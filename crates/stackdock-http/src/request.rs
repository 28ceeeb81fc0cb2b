//! Request builder and buffered response.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use stackdock_core::secret::{is_secret_field, ExposeSecret, SecretString, REDACTED};
use stackdock_core::{Error, Result};

use crate::scrub::{is_secret_header, Secrets};

/// One API call, relative to the client's base URL.
///
/// **Secrets the request carries are registered with it**, so that no answer
/// can echo them into an error, a log line or a `Debug`: values of query keys
/// and JSON body fields with secret names (by
/// [`is_secret_field`](stackdock_core::secret::is_secret_field): `password`,
/// `token`, `api_key`, …), values of secret-looking headers (`Authorization`,
/// `X-Api-Key`, `X-Auth-Token`, …), and anything passed to
/// [`Request::secret`] (e.g. an environment variable's value, which travels
/// under the harmless name `value`).
///
/// ```
/// use stackdock_http::{encode_path_segment, Request};
///
/// let id = "prj/1";
/// let req = Request::patch(format!("/v9/projects/{}", encode_path_segment(id)))
///     .json(&serde_json::json!({"framework": "nextjs"}))
///     .operation("update web service");
/// assert!(!req.is_idempotent());
/// assert_eq!(req.path(), "/v9/projects/prj%2F1");
/// ```
#[derive(Clone)]
pub struct Request {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Option<Bytes>,
    pub(crate) body_error: Option<String>,
    pub(crate) idempotent: bool,
    pub(crate) operation: Option<Cow<'static, str>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) secrets: Secrets,
}

impl Request {
    /// A request with any method. GET, HEAD, PUT, DELETE and OPTIONS are
    /// idempotent by default; POST and PATCH are not.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        Request {
            method,
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            body_error: None,
            idempotent,
            operation: None,
            timeout: None,
            secrets: Secrets::default(),
        }
    }

    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Self {
        Request::new(Method::GET, path)
    }

    /// `POST path` (not idempotent unless marked).
    pub fn post(path: impl Into<String>) -> Self {
        Request::new(Method::POST, path)
    }

    /// `PUT path`.
    pub fn put(path: impl Into<String>) -> Self {
        Request::new(Method::PUT, path)
    }

    /// `PATCH path` (not idempotent unless marked).
    pub fn patch(path: impl Into<String>) -> Self {
        Request::new(Method::PATCH, path)
    }

    /// `DELETE path`.
    pub fn delete(path: impl Into<String>) -> Self {
        Request::new(Method::DELETE, path)
    }

    /// Add a query pair (values are percent-encoded when sent).
    ///
    /// The value of a secret-named key (`api_key`, `token`, …) is registered as a
    /// secret of the request.
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        if is_secret_field(&key) {
            self.secrets.add(&value);
        }
        self.query.push((key, value));
        self
    }

    /// Serialise `body` as the JSON request body now. A serialisation failure
    /// is reported by `send` as [`ErrorKind::Internal`](stackdock_core::ErrorKind::Internal).
    ///
    /// Values of secret-named fields (`password`, `password_confirmation`,
    /// `token`, … at any depth) are registered as secrets of the request.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match to_sized_vec(body) {
            Ok(bytes) => {
                // Walked as it is written (no `Value` tree: a 10 MB DNS zone
                // body would cost ~10x its size), and the wire keeps the field order.
                let mut reader = serde_json::Deserializer::from_slice(&bytes);
                let scan = SecretScan {
                    secrets: &mut self.secrets,
                    secret: false,
                };
                let _ = serde::de::DeserializeSeed::deserialize(scan, &mut reader);
                self.body = Some(Bytes::from(bytes));
                self.body_error = None;
            }
            Err(e) => self.body_error = Some(e.to_string()),
        }
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
        self.headers
            .push(("content-type", "application/json".into()));
        self
    }

    /// Add a header. Invalid names or values are reported by `send`.
    ///
    /// The value of a secret-looking header (`Authorization`, `X-Api-Key`,
    /// anything naming a key, token, secret, password, signature, session or
    /// cookie) is registered as a secret of the request.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        if is_secret_header(name) {
            self.secrets.add(&value);
        }
        self.headers.push((name, value));
        self
    }

    /// Register a secret this request carries under a name that does not look
    /// secret (an environment variable's `value`, a password hash), so that no
    /// answer echoes it into an error, a log line or a `Debug`.
    ///
    /// ```
    /// use stackdock_core::secret::SecretString;
    /// use stackdock_http::Request;
    ///
    /// let value = SecretString::from("postgres://app:pw@db/app");
    /// let req = Request::post("/v10/projects/p1/env")
    ///     .json(&serde_json::json!({"key": "DATABASE_URL", "value": "postgres://app:pw@db/app"}))
    ///     .secret(&value);
    /// assert!(!format!("{req:?}").contains("pw@db"));
    /// ```
    pub fn secret(mut self, secret: &SecretString) -> Self {
        self.secrets.add(secret.expose_secret());
        self
    }

    /// Whether repeating the request is harmless; decides whether time-outs and
    /// 5xx are retried. Rate limits (429) are always retried.
    pub fn idempotent(mut self, yes: bool) -> Self {
        self.idempotent = yes;
        self
    }

    /// Name the operation (e.g. `create web service`) for errors and tracing.
    pub fn operation(mut self, op: impl Into<Cow<'static, str>>) -> Self {
        self.operation = Some(op.into());
        self
    }

    /// Override the client's per-attempt request timeout for this request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The HTTP method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path relative to the base URL.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the request will be retried on time-outs and 5xx.
    pub fn is_idempotent(&self) -> bool {
        self.idempotent
    }
}

/// Registers the strings held by secret-named keys of a JSON body (directly
/// or in arrays: `"password": "…"`, `"secrets": ["…"]`), at any depth, while
/// reading it (nothing else is kept).
struct SecretScan<'s> {
    secrets: &'s mut Secrets,
    /// Whether the nearest key (through arrays) is secret-named.
    secret: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for SecretScan<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for SecretScan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<(), E> {
        if self.secret {
            self.secrets.add(v);
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<(), A::Error> {
        let secret = self.secret;
        while seq
            .next_element_seed(SecretScan {
                secrets: &mut *self.secrets,
                secret,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            // Judged by the nearest key, so type tags deeper inside a secret-named
            // object stay readable: `"credentials": {"@type": "Password", "secret": "…"}`.
            let secret = is_secret_field(&key);
            map.next_value_seed(SecretScan {
                secrets: &mut *self.secrets,
                secret,
            })?;
        }
        Ok(())
    }
}

/// Percent-encode one path segment (everything except unreserved characters),
/// so an id like `a/b?c` cannot change the path or query it is put into.
///
/// ```
/// assert_eq!(stackdock_http::encode_path_segment("a b/c?d"), "a%20b%2Fc%3Fd");
/// assert_eq!(stackdock_http::encode_path_segment("prj_1-A.b~"), "prj_1-A.b~");
/// ```
pub fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `body` as JSON in a buffer of exactly its size, measured by a first
/// pass. Written into a growing vector, a 10 MB body (a DNS zone) is copied
/// about four times over, and once the allocator has raised its mmap
/// threshold (after any large free) the outgrown buffers stay resident:
/// +4 MiB at the peak of a 50,000-record zone create. The extra pass costs
/// about what the copies did.
fn to_sized_vec<T: Serialize + ?Sized>(body: &T) -> serde_json::Result<Vec<u8>> {
    let mut size = CountingWriter(0);
    serde_json::to_writer(&mut size, body)?;
    let mut bytes = Vec::with_capacity(size.0);
    serde_json::to_writer(&mut bytes, body)?;
    Ok(bytes)
}

/// Counts the bytes written to it.
struct CountingWriter(usize);

impl std::io::Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A successful response with its whole body.
///
/// `Debug` prints the status, header names and body length only: bodies can hold
/// generated credentials.
#[derive(Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The secrets of the request that got this answer.
    pub(crate) secrets: Arc<Secrets>,
}

impl Response {
    /// A response as if received for a request carrying no secret (for tests
    /// of code that consumes responses).
    pub fn new(status: u16, headers: HeaderMap, body: Bytes) -> Self {
        Response {
            status,
            headers,
            body,
            secrets: Arc::default(),
        }
    }

    /// The body scrubbed of every secret of the request (in every encoding)
    /// and of control characters: what to hand to an [`ErrorMapper`](crate::ErrorMapper)
    /// when a 2xx answer turns out to report a failure (`{"success": false, …}`).
    /// The layer does the same for non-2xx answers itself.
    pub fn scrubbed_body(&self) -> Vec<u8> {
        self.secrets.scrub_body(&self.body)
    }

    /// Decode the body as JSON; a malformed or unexpected body is
    /// [`ErrorKind::InvalidResponse`](stackdock_core::ErrorKind::InvalidResponse).
    ///
    /// An empty body (e.g. `204 No Content`) decodes as JSON `null`, so `()` and
    /// `Option<T>` accept it.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return serde_json::from_slice(b"null").map_err(|_| {
                Error::invalid_response(format!(
                    "empty response body where {} was expected",
                    short_type_name::<T>()
                ))
            });
        }
        decode_json(&self.body)
    }

    /// The rate-limit headers (`X-RateLimit-Limit/-Remaining/-Reset`, or the
    /// IETF `RateLimit-Limit/-Remaining/-Reset`), when any is present.
    pub fn rate_limit(&self) -> Option<RateLimitInfo> {
        rate_limit_at(&self.headers, SystemTime::now())
    }

    /// A header as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl fmt::Debug for Request {
    /// Query values of secret-looking keys, header values and the body are left
    /// out: requests carry passwords when creating users or mailboxes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let query: Vec<(&str, &str)> = self
            .query
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
        let headers: Vec<&str> = self.headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &query)
            .field("headers", &headers)
            .field("body_bytes", &self.body.as_ref().map(Bytes::len))
            .field("idempotent", &self.idempotent)
            .field("operation", &self.operation)
            .finish()
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.keys().map(|k| k.as_str()).collect();
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &headers)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// Rate-limit state a provider reported on a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// Requests allowed per window.
    pub limit: Option<u64>,
    /// Requests left in the window.
    pub remaining: Option<u64>,
    /// When the window resets (from epoch seconds, or delay-seconds below 10⁹).
    pub reset: Option<SystemTime>,
}

/// The core's provider-neutral form, which a dock reports through
/// [`DockAdapter::rate_limit`](stackdock_core::DockAdapter::rate_limit).
impl From<RateLimitInfo> for stackdock_core::RateLimit {
    fn from(info: RateLimitInfo) -> Self {
        stackdock_core::RateLimit {
            limit: info.limit,
            remaining: info.remaining,
            reset_at: info.reset.map(chrono::DateTime::<chrono::Utc>::from),
        }
    }
}

/// The rate-limit state in `headers`, with reset times relative to `now`.
///
/// A reset below 10⁹ cannot be an epoch and is read as delay-seconds (the IETF
/// `RateLimit-Reset` always is; some providers send `X-RateLimit-Reset` so too).
pub(crate) fn rate_limit_at(headers: &HeaderMap, now: SystemTime) -> Option<RateLimitInfo> {
    // (legacy name, IETF name): static strings, so every response costs no allocation.
    let number = |(legacy, ietf): (&str, &str)| -> Option<u64> {
        let value = headers.get(legacy).or_else(|| headers.get(ietf))?;
        value.to_str().ok()?.trim().parse().ok()
    };
    let reset = number(("x-ratelimit-reset", "ratelimit-reset")).map(|s| {
        if s < 1_000_000_000 {
            now + Duration::from_secs(s)
        } else {
            UNIX_EPOCH + Duration::from_secs(s)
        }
    });
    let info = RateLimitInfo {
        limit: number(("x-ratelimit-limit", "ratelimit-limit")),
        remaining: number(("x-ratelimit-remaining", "ratelimit-remaining")),
        reset,
    };
    (info.limit.is_some() || info.remaining.is_some() || info.reset.is_some()).then_some(info)
}

/// Decode JSON without echoing body values into the error: serde messages such
/// as `invalid type: string "..."` quote the payload, which may hold a secret.
pub(crate) fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        let detail = e.to_string();
        // Field names are schema, not data: keep those messages, they are the useful ones.
        let safe = ["missing field", "unknown field", "duplicate field"]
            .iter()
            .any(|p| detail.starts_with(p));
        let what = match e.classify() {
            serde_json::error::Category::Data if safe => detail,
            serde_json::error::Category::Data => "unexpected JSON shape".to_owned(),
            serde_json::error::Category::Eof => "truncated JSON".to_owned(),
            _ => "malformed JSON".to_owned(),
        };
        Error::invalid_response(format!(
            "could not decode response body as {}: {what} at line {} column {}",
            short_type_name::<T>(),
            e.line(),
            e.column()
        ))
    })
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackdock_core::ErrorKind;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Thing {
        id: u32,
    }

    #[test]
    fn json_errors_never_quote_values() {
        let e = decode_json::<Thing>(br#"{"id":"hunter2"}"#).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidResponse);
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = decode_json::<Thing>(br#"{}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `id`"), "{e}");
        let e = decode_json::<Thing>(b"{not json").unwrap_err();
        assert!(e.to_string().contains("malformed JSON"), "{e}");
    }

    #[test]
    fn debug_leaves_out_bodies_and_secret_values() {
        let req = Request::post("/mailboxes")
            .query("password", "pw-in-query")
            .query("domain", "example.com")
            .header("x-signature", "sig-value")
            .json(&serde_json::json!({"password": "pw-in-body"}));
        let printed = format!("{req:?}");
        for secret in ["pw-in-query", "sig-value", "pw-in-body"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("example.com"), "{printed}");
        let response = Response::new(
            201,
            HeaderMap::new(),
            Bytes::from_static(br#"{"temp_pass":"generated"}"#),
        );
        assert!(!format!("{response:?}").contains("generated"));
    }

    #[test]
    fn json_bodies_are_written_once_at_their_size() {
        let names: Vec<String> = (0..1000).map(|i| format!("h{i}.example.com.")).collect();
        let value = serde_json::json!({"kind": "Native", "rrsets": names});
        let bytes = to_sized_vec(&value).unwrap();
        assert_eq!(bytes, serde_json::to_vec(&value).unwrap());
        assert_eq!(bytes.capacity(), bytes.len(), "sized before writing");
        let req = Request::post("/x").json(&value);
        assert_eq!(req.body.as_deref(), Some(&bytes[..]));
    }

    #[test]
    fn empty_bodies_decode_as_null() {
        let empty = Response::new(204, HeaderMap::new(), Bytes::new());
        empty.json::<()>().unwrap();
        assert_eq!(empty.json::<Option<Thing>>().unwrap().map(|t| t.id), None);
        let err = empty.json::<Thing>().unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidResponse);
        assert!(err.to_string().contains("empty response body"), "{err}");
    }

    #[test]
    fn secret_body_fields_are_registered_by_their_own_key() {
        let req = Request::post("/x").json(&serde_json::json!({
            "name": "deploy",
            "password": "pw-1",
            "secrets": ["hash-1"],
            "credentials": {"0": {"@type": "Password", "secret": "hash-2"}},
        }));
        let out = req.secrets.scrub_text("deploy pw-1 hash-1 Password hash-2");
        assert_eq!(out, "deploy [REDACTED] [REDACTED] Password [REDACTED]");
    }

    #[test]
    fn idempotency_defaults() {
        assert!(Request::get("/").is_idempotent());
        assert!(Request::put("/").is_idempotent());
        assert!(Request::delete("/").is_idempotent());
        assert!(!Request::post("/").is_idempotent());
        assert!(!Request::patch("/").is_idempotent());
        assert!(Request::post("/").idempotent(true).is_idempotent());
    }

    #[test]
    fn rate_limit_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "3".parse().unwrap());
        headers.insert("x-ratelimit-reset", "1700000000".parse().unwrap());
        let r = Response::new(200, headers, Bytes::new());
        let info = r.rate_limit().unwrap();
        assert_eq!(info.remaining, Some(3));
        assert_eq!(info.limit, None);
        assert_eq!(
            info.reset,
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        let r = Response::new(200, HeaderMap::new(), Bytes::new());
        assert_eq!(r.rate_limit(), None);
    }
}
