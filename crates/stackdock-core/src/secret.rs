//! Secrets that never print.
//!
//! StackDock carries every credential, password and token as a
//! [`SecretString`] (from the `secrecy` crate): its `Debug` prints
//! `[REDACTED]`, it has no `Display`, and it is not serialised. Reading the
//! value takes an explicit [`ExposeSecret::expose_secret`] call, which makes
//! each use easy to audit.
//!
//! This module adds the helpers adapters need around that: a stable redaction
//! marker, URL redaction, and scrubbing of provider messages that may echo a
//! secret back.
//!
//! ```
//! use stackdock_core::secret::{redact_url, SecretString, ExposeSecret};
//!
//! let token = SecretString::from("s3cr3t-token");
//! assert!(!format!("{token:?}").contains("s3cr3t"));
//! assert_eq!(token.expose_secret(), "s3cr3t-token");
//!
//! assert_eq!(
//!     redact_url("postgres://app:hunter2@db.local:5432/app"),
//!     "postgres://app:[REDACTED]@db.local:5432/app"
//! );
//! ```

pub use secrecy::{ExposeSecret, SecretBox, SecretString};

/// What StackDock prints in place of a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Replace the password of a URL's user-info (`scheme://user:password@host`),
/// and the value of any `password=` query parameter, by [`REDACTED`].
///
/// The user-info runs to the **last** `@`: a password may hold `/`, `?`, `#`
/// or `@` unencoded (parsers such as tokio-postgres accept them), and cutting
/// at the first of those would print the rest of it. An `@` later in the
/// query can make this redact more than the password, never less.
///
/// Strings that are not URLs, or carry no password, are returned unchanged.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let (userinfo, after) = match rest.rfind('@') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => ("", rest),
    };
    let mut out = format!("{}://", &url[..scheme_end]);
    match userinfo.find(':') {
        Some(colon) => {
            out.push_str(&userinfo[..colon + 1]);
            out.push_str(REDACTED);
        }
        None => out.push_str(userinfo),
    }
    out.push_str(&redact_password_params(after));
    out
}

/// `password=<value>` query parameters with the value replaced by [`REDACTED`].
fn redact_password_params(tail: &str) -> String {
    let Some(q) = tail.find('?') else {
        return tail.to_owned();
    };
    let params: Vec<String> = tail[q + 1..]
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={REDACTED}"),
            _ => p.to_owned(),
        })
        .collect();
    format!("{}?{}", &tail[..q], params.join("&"))
}

/// Remove every occurrence of the given secrets from `message`.
///
/// Use it on provider error messages and logs that may echo a request back.
/// Empty secrets are ignored.
///
/// ```
/// use stackdock_core::secret::{scrub, SecretString};
/// let pw = SecretString::from("hunter2");
/// assert_eq!(scrub("bad password hunter2", [&pw]), "bad password [REDACTED]");
/// ```
pub fn scrub<'a>(message: &str, secrets: impl IntoIterator<Item = &'a SecretString>) -> String {
    let mut out = message.to_owned();
    for secret in secrets {
        let value = secret.expose_secret();
        if !value.is_empty() {
            out = out.replace(value, REDACTED);
        }
    }
    out
}

/// Field names whose values are treated as secrets wherever they appear in a
/// provider payload (compared case-insensitively, ignoring `_` and `-`).
pub const SECRET_FIELD_NAMES: &[&str] = &[
    "password",
    "passwordconfirmation",
    "temppass",
    "secret",
    "secrets",
    "token",
    "accesstoken",
    "refreshtoken",
    "apikey",
    "privatekey",
    "serverkey",
    "credentials",
    "dsn",
    "connectionstring",
    "connectionuri",
    "connectionurl",
    "databaseurl",
    "secretkey",
    "accesskey",
    "signingkey",
    "encryptionkey",
    "sshkey",
    "clientsecret",
    "passphrase",
    "passwd",
    "passwordhash",
    "authorization",
    "cookie",
];

/// Endings that make any field name a secret (`db_password`,
/// `admin_token`, `stripe_secret_key` ...), compared like
/// [`SECRET_FIELD_NAMES`].
pub const SECRET_FIELD_SUFFIXES: &[&str] = &[
    "password",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "secretkey",
    "accesskey",
    "passphrase",
    "dsn",
    "connectionstring",
];

/// Whether a JSON field name names a secret (see [`SECRET_FIELD_NAMES`]).
pub fn is_secret_field(name: &str) -> bool {
    is_secret_field_with(name, &[])
}

/// Like [`is_secret_field`], also matching a provider's own secret field
/// names (`extra`, written lower-case without `_` or `-`, e.g. `"callbacktoken"`).
///
/// ```
/// use stackdock_core::secret::is_secret_field_with;
/// assert!(is_secret_field_with("callback_token", &["callbacktoken"]));
/// assert!(is_secret_field_with("password", &[]));
/// assert!(!is_secret_field_with("username", &["callbacktoken"]));
/// // Endings count too, and connection strings are secrets.
/// assert!(is_secret_field_with("DB_PASSWORD", &[]));
/// assert!(is_secret_field_with("connection_string", &[]));
/// assert!(is_secret_field_with("sentry-dsn", &[]));
/// assert!(!is_secret_field_with("public_key", &[]));
/// ```
pub fn is_secret_field_with(name: &str, extra: &[&str]) -> bool {
    // Called for every key of every payload: fold into a stack buffer.
    let mut buffer = [0u8; 64];
    let mut len = 0;
    for b in name.bytes().filter(|b| *b != b'_' && *b != b'-') {
        if len == buffer.len() {
            return is_secret_folded(&folded_long(name), extra);
        }
        buffer[len] = b.to_ascii_lowercase();
        len += 1;
    }
    is_secret_folded(&buffer[..len], extra)
}

fn folded_long(name: &str) -> Vec<u8> {
    name.bytes()
        .filter(|b| *b != b'_' && *b != b'-')
        .map(|b| b.to_ascii_lowercase())
        .collect()
}

fn is_secret_folded(folded: &[u8], extra: &[&str]) -> bool {
    SECRET_FIELD_NAMES
        .iter()
        .chain(extra)
        .any(|candidate| candidate.as_bytes() == folded)
        || SECRET_FIELD_SUFFIXES
            .iter()
            .any(|suffix| folded.ends_with(suffix.as_bytes()))
}

/// Remove secret fields (by [`is_secret_field`]) from a provider payload, recursively.
///
/// This is what every adapter applies before a payload becomes a resource's
/// `provider_data`. Providers whose payloads use a secret-looking name for
/// something harmless can post-process, but the default errs on the safe side.
///
/// ```
/// use serde_json::json;
/// use stackdock_core::secret::strip_secret_fields;
/// let mut v = json!({"username": "deploy", "password": "pw", "nested": [{"api_key": "k"}]});
/// strip_secret_fields(&mut v);
/// assert_eq!(v, json!({"username": "deploy", "nested": [{}]}));
/// ```
pub fn strip_secret_fields(value: &mut serde_json::Value) {
    strip_secret_fields_with(value, &[]);
}

/// Like [`strip_secret_fields`], also removing a provider's own secret field
/// names (see [`is_secret_field_with`]).
pub fn strip_secret_fields_with(value: &mut serde_json::Value, extra: &[&str]) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| !is_secret_field_with(k, extra));
            for v in map.values_mut() {
                strip_secret_fields_with(v, extra);
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                strip_secret_fields_with(v, extra);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_urls() {
        assert_eq!(redact_url("https://example.com/a"), "https://example.com/a");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("postgres://u:p%40ss@h:1/db?x=1"),
            "postgres://u:[REDACTED]@h:1/db?x=1"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

    /// Issue 16 item 6: the user-info used to end at the first `/`, `?` or
    /// `#`, so a password holding one printed in full.
    #[test]
    fn redacts_passwords_holding_url_delimiters() {
        for (url, shown) in [
            ("postgres://u:pa/ss@h/db", "postgres://u:[REDACTED]@h/db"),
            (
                "postgres://u:p?a#s@h:5/db?x=1",
                "postgres://u:[REDACTED]@h:5/db?x=1",
            ),
            ("postgres://u:a@b/c@h/db", "postgres://u:[REDACTED]@h/db"),
            (
                "postgres://u:p&sslmode=x@h/db",
                "postgres://u:[REDACTED]@h/db",
            ),
            (
                "postgres://h/db?user=u&password=hunter2&x=1",
                "postgres://h/db?user=u&password=[REDACTED]&x=1",
            ),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = SecretString::from("topsecret");
        assert!(!format!("{s:?}").contains("topsecret"));
        assert!(!format!("{s:#?}").contains("topsecret"));
    }

    #[test]
    fn secret_field_names() {
        assert!(is_secret_field("password"));
        assert!(is_secret_field("temp_pass"));
        assert!(is_secret_field("API-Key"));
        assert!(!is_secret_field("username"));
        for key in ["password", "API-Key", "api_key", "Token", "privateKey"] {
            assert!(is_secret_field(key), "{key}");
        }
        for key in ["name", "passwords", "tokenId", "K\u{212A}"] {
            assert!(!is_secret_field(key), "{key}");
        }
        assert!(!is_secret_field("passwords_reset_at"));
        assert!(!is_secret_field(""));
        assert!(is_secret_field("X_API_KEY".trim_start_matches("X_")));
    }
}
