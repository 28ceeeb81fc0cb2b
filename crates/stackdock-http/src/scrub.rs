//! Keeping a request's secrets out of everything a response turns into:
//! error messages, log lines, `Debug` output.
//!
//! Servers echo requests back (validation errors quote the field, proxies dump
//! the headers), so every secret a request carries is registered in a
//! [`Secrets`] set, in every form it travels in, and response text that leaves
//! the layer is scrubbed of all of them and of control characters (a raw CR/LF
//! from a body would otherwise forge log lines).

use base64::Engine as _;
use stackdock_core::secret::{is_secret_field, REDACTED};

/// Longest part of an error body handed to a mapper (1 MiB).
pub(crate) const MAX_SCRUBBED_BODY: usize = 1024 * 1024;

/// The secrets one request carries, each in every encoding a server could echo.
#[derive(Clone, Debug, Default)]
pub(crate) struct Secrets {
    /// Longest first, so a longer form is replaced before a shorter one inside it.
    forms: Vec<String>,
}

impl Secrets {
    /// Register `secret`: raw, percent-encoded (query and form style),
    /// JSON-escaped and base64 (standard and URL-safe).
    pub(crate) fn add(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let json = serde_json::to_string(secret).unwrap_or_default();
        let forms = [
            secret.to_owned(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            crate::request::encode_path_segment(secret),
            json.trim_matches('"').to_owned(),
            base64::engine::general_purpose::STANDARD.encode(secret),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
        ];
        for form in forms {
            self.add_form(form);
        }
    }

    /// Register HTTP basic credentials: the password, and `user:password` in base64
    /// (what an echoed `Authorization: Basic …` header shows).
    pub(crate) fn add_basic(&mut self, username: &str, password: &str) {
        self.add(password);
        self.add(&format!("{username}:{password}"));
    }

    /// Every secret of `other` too.
    pub(crate) fn extend(&mut self, other: &Secrets) {
        for form in &other.forms {
            self.add_form(form.clone());
        }
    }

    fn add_form(&mut self, form: String) {
        if form.is_empty() || self.forms.contains(&form) {
            return;
        }
        let at = self.forms.partition_point(|f| f.len() >= form.len());
        self.forms.insert(at, form);
    }

    /// Whether nothing is registered.
    pub(crate) fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// `text` with every registered secret replaced by `[REDACTED]` and control
    /// characters escaped: safe for an error message or a log line.
    pub(crate) fn scrub_text(&self, text: &str) -> String {
        let mut out = escape_controls(text);
        for form in &self.forms {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), REDACTED);
            }
        }
        out
    }

    /// A response body made safe to hand to an error mapper.
    ///
    /// JSON stays JSON (mappers parse it): every string and key is scrubbed and
    /// its control characters are escaped inside the string. Anything else is
    /// scrubbed as (lossy UTF-8) text. Only the first [`MAX_SCRUBBED_BODY`]
    /// bytes are kept: an error message needs no more, and scrubbing copies.
    pub(crate) fn scrub_body(&self, body: &[u8]) -> Vec<u8> {
        let body = self.cut(body);
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(mut value) => {
                self.scrub_json(&mut value);
                serde_json::to_vec(&value).unwrap_or_default()
            }
            Err(_) => self.scrub_text(&String::from_utf8_lossy(body)).into_bytes(),
        }
    }

    /// `body` cut to [`MAX_SCRUBBED_BODY`], minus the longest secret form's
    /// length, so that no secret straddling the cut survives as a fragment.
    fn cut<'a>(&self, body: &'a [u8]) -> &'a [u8] {
        if body.len() <= MAX_SCRUBBED_BODY {
            return body;
        }
        let longest = self.forms.first().map_or(0, String::len);
        &body[..MAX_SCRUBBED_BODY.saturating_sub(longest)]
    }

    fn scrub_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => *s = self.scrub_text(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_json(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut v) in entries {
                    self.scrub_json(&mut v);
                    map.insert(self.scrub_text(&key), v);
                }
            }
            _ => {}
        }
    }
}

/// Control characters (CR, LF, tab, ESC, …) and Unicode line separators as
/// visible escapes, so one message stays one log line.
pub(crate) fn escape_controls(text: &str) -> String {
    if !text.chars().any(needs_escape) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Whether a header carries a credential, judged by its name: the well-known
/// auth headers, and any name mentioning a key, token, secret, password,
/// signature, session or cookie (`X-Api-Key`, `X-Auth-Token`, …).
pub(crate) fn is_secret_header(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    is_secret_field(name)
        || [
            "auth",
            "key",
            "token",
            "secret",
            "password",
            "signature",
            "session",
            "cookie",
            "credential",
        ]
        .iter()
        .any(|word| folded.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_of_a_secret_is_scrubbed() {
        let mut secrets = Secrets::default();
        secrets.add_basic("admin", "p@ss/w\"rd+1");
        let b64 = base64::engine::general_purpose::STANDARD.encode("admin:p@ss/w\"rd+1");
        for echoed in [
            "p@ss/w\"rd+1".to_owned(),
            "p%40ss%2Fw%22rd%2B1".to_owned(),
            "p@ss/w\\\"rd+1".to_owned(),
            format!("authorization: Basic {b64}"),
        ] {
            let out = secrets.scrub_text(&format!("echo {echoed} end"));
            assert!(
                out.contains(REDACTED) && !out.contains("rd+1") && !out.contains(&b64),
                "{out}"
            );
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        let secrets = Secrets::default();
        assert_eq!(
            secrets.scrub_text("a\r\nINFO forged\u{1b}[31m\u{2028}"),
            "a\\r\\nINFO forged\\u{1b}[31m\\u{2028}"
        );
        assert_eq!(escape_controls("plain"), "plain");
    }

    #[test]
    fn json_bodies_stay_json() {
        let mut secrets = Secrets::default();
        secrets.add("hunter2");
        let body = br#"{"message":"bad\npassword hunter2","errors":{"hunter2":["x"]}}"#;
        let out: serde_json::Value = serde_json::from_slice(&secrets.scrub_body(body)).unwrap();
        assert_eq!(out["message"], "bad\\npassword [REDACTED]");
        assert!(out["errors"].get("[REDACTED]").is_some(), "{out}");
        assert_eq!(
            secrets.scrub_body(b"not json hunter2\n"),
            b"not json [REDACTED]\\n"
        );
    }

    #[test]
    fn long_bodies_are_cut_without_leaving_a_fragment() {
        let mut secrets = Secrets::default();
        secrets.add("straddling-secret");
        let mut body = vec![b'x'; MAX_SCRUBBED_BODY - 5];
        body.extend_from_slice(b"straddling-secret tail");
        let out = secrets.scrub_body(&body);
        assert!(out.len() < MAX_SCRUBBED_BODY, "{}", out.len());
        assert!(!String::from_utf8_lossy(&out).contains("strad"));
    }

    #[test]
    fn secret_headers_by_name() {
        for name in [
            "Authorization",
            "X-Api-Key",
            "x-auth-token",
            "Cookie",
            "X-Signature",
        ] {
            assert!(is_secret_header(name), "{name}");
        }
        for name in ["Accept", "X-Team", "Content-Type", "X-Request-Id"] {
            assert!(!is_secret_header(name), "{name}");
        }
    }
}
