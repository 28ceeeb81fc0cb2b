//! Connection strings: `postgres://` URLs and libpq `key=value` strings,
//! with every libpq `sslmode`.
//!
//! tokio-postgres parses both forms but knows only `disable`, `prefer` and
//! `require`. [`parse`] takes `sslmode` out **token by token** (the URL's
//! query parameters after the credentials, or the `key=value` pairs with
//! their quoting), so a password holding `&sslmode=` or `sslmode=` is never
//! read as a mode nor rewritten, and hands the rest to tokio-postgres.
//! Errors never repeat the input: it holds the password.
//!
//! ```
//! use stackdock_pg::{conninfo, SslMode};
//! let c = conninfo::parse("postgres://app:pa%2Fss@db:5433/shop?sslmode=verify-full").unwrap();
//! assert_eq!(c.ssl_mode, Some(SslMode::VerifyFull));
//! assert_eq!(c.config.get_password(), Some(&b"pa/ss"[..]));
//! let c = conninfo::parse("host=db user=app password='a b&sslmode=x' sslmode=allow").unwrap();
//! assert_eq!(c.ssl_mode, Some(SslMode::Allow));
//! assert_eq!(c.config.get_password(), Some(&b"a b&sslmode=x"[..]));
//! ```

use stackdock_core::{Error, Result};

use crate::tls::SslMode;

/// A parsed connection string.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnInfo {
    /// Everything but the TLS mode (its own `ssl_mode` is left at tokio-postgres's default).
    pub config: tokio_postgres::Config,
    /// The `sslmode` the string named, if any.
    pub ssl_mode: Option<SslMode>,
}

const SSLMODE: &str = "sslmode";

fn invalid() -> Error {
    Error::config("not a valid PostgreSQL connection URL or key=value string")
}

/// Parse a `postgres://` / `postgresql://` URL or a `key=value` string.
pub fn parse(input: &str) -> Result<ConnInfo> {
    let (rest, ssl_mode) = if is_url(input) {
        split_url(input)?
    } else {
        split_key_values(input)?
    };
    let config = rest.parse().map_err(|_| invalid())?;
    Ok(ConnInfo { config, ssl_mode })
}

fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// Remove `sslmode` from a URL's query. The query starts at the first `?`
/// after the credentials, which end at the first `@` (tokio-postgres's rule,
/// so both read the same parts).
fn split_url(url: &str) -> Result<(String, Option<SslMode>)> {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let creds_end = url[after_scheme..]
        .find('@')
        .map_or(after_scheme, |i| after_scheme + i + 1);
    let Some(q) = url[creds_end..].find('?').map(|i| creds_end + i) else {
        return Ok((url.to_owned(), None));
    };
    let mut mode = None;
    let mut kept = Vec::new();
    for param in url[q + 1..].split('&') {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        if percent_decode(key)? == SSLMODE {
            mode = Some(SslMode::from_sslmode(&percent_decode(value)?)?);
        } else {
            kept.push(param);
        }
    }
    let mut out = url[..q].to_owned();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    Ok((out, mode))
}

fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(invalid)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| invalid())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| invalid())
}

/// Remove `sslmode` from a `key=value` string, reading values the way libpq
/// does (`'...'` quoting, `\` escapes), and write the rest back quoted.
fn split_key_values(input: &str) -> Result<(String, Option<SslMode>)> {
    let mut mode = None;
    let mut out = String::with_capacity(input.len());
    for (key, value) in KeyValues::new(input) {
        let (key, value) = (key?, value?);
        if key == SSLMODE {
            mode = Some(SslMode::from_sslmode(&value)?);
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&key);
        out.push_str("='");
        for c in value.chars() {
            if c == '\'' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('\'');
    }
    Ok((out, mode))
}

/// Tokenizer of libpq `key = value` pairs.
struct KeyValues<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl<'a> KeyValues<'a> {
    fn new(s: &'a str) -> Self {
        KeyValues {
            chars: s.chars().peekable(),
        }
    }

    fn skip_ws(&mut self) {
        while self.chars.next_if(|c| c.is_whitespace()).is_some() {}
    }

    fn key(&mut self) -> Result<String> {
        let mut key = String::new();
        while let Some(c) = self.chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        self.skip_ws();
        if key.is_empty() || self.chars.next() != Some('=') {
            return Err(invalid());
        }
        self.skip_ws();
        Ok(key)
    }

    fn value(&mut self) -> Result<String> {
        let quoted = self.chars.next_if_eq(&'\'').is_some();
        let mut value = String::new();
        loop {
            match self.chars.next() {
                Some('\'') if quoted => return Ok(value),
                Some('\\') => value.push(self.chars.next().ok_or_else(invalid)?),
                Some(c) if quoted || !c.is_whitespace() => value.push(c),
                Some(_) => return Ok(value),
                None if quoted => return Err(invalid()),
                None => return Ok(value),
            }
        }
    }
}

impl Iterator for KeyValues<'_> {
    type Item = (Result<String>, Result<String>);

    fn next(&mut self) -> Option<Self::Item> {
        self.skip_ws();
        self.chars.peek()?;
        let key = self.key();
        if key.is_err() {
            // Stop at the first malformed pair.
            self.chars = "".chars().peekable();
            return Some((key, Err(invalid())));
        }
        Some((key, self.value()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(c: &ConnInfo) -> String {
        String::from_utf8(c.config.get_password().unwrap().to_vec()).unwrap()
    }

    #[test]
    fn every_sslmode_is_read_from_both_forms() {
        for mode in SslMode::ALL {
            let url = parse(&format!(
                "postgres://u@h/db?sslmode={mode}&application_name=x"
            ))
            .unwrap();
            assert_eq!(url.ssl_mode, Some(mode));
            assert_eq!(url.config.get_application_name(), Some("x"));
            let kv = parse(&format!("host=h user=u sslmode={mode} dbname=d")).unwrap();
            assert_eq!(kv.ssl_mode, Some(mode));
            assert_eq!(kv.config.get_dbname(), Some("d"));
        }
        assert_eq!(parse("postgres://u@h/db").unwrap().ssl_mode, None);
        assert_eq!(parse("host=h user=u").unwrap().ssl_mode, None);
    }

    #[test]
    fn a_password_holding_sslmode_is_neither_read_nor_rewritten() {
        let c = parse("postgres://u:a&sslmode=require@h/db").unwrap();
        assert_eq!(c.ssl_mode, None);
        assert_eq!(password(&c), "a&sslmode=require");
        let c = parse("postgres://u:p?sslmode=x@h/db?sslmode=verify-ca").unwrap();
        assert_eq!(c.ssl_mode, Some(SslMode::VerifyCa));
        assert_eq!(password(&c), "p?sslmode=x");
        let c = parse(r"host=h user=u password='x sslmode=bogus \' y' sslmode=disable").unwrap();
        assert_eq!(c.ssl_mode, Some(SslMode::Disable));
        assert_eq!(password(&c), "x sslmode=bogus ' y");
        let c = parse(r"host=h user=u password=back\\slash").unwrap();
        assert_eq!(password(&c), r"back\slash");
    }

    #[test]
    fn errors_never_echo_the_input() {
        for bad in [
            "postgres://u:topsecret@h/db?sslmode=topsecret",
            "postgres://u:topsecret@h:notaport/db",
            "host=h password=topsecret sslmode=topsecret",
            "host=h password='topsecret",
            "host=h topsecret",
            "postgres://u:topsecret@h/db?sslmode=%zz",
        ] {
            let err = parse(bad).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(!text.contains("topsecret"), "{bad}: {text}");
        }
    }

    /// libpq `key=value` quoting of `v`.
    fn kv_quote(v: &str) -> String {
        format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
    }

    proptest::proptest! {
        /// Whatever the password holds (`&sslmode=`, quotes, `@`, spaces),
        /// it comes back unchanged and never decides the mode.
        #[test]
        fn any_password_survives_and_never_sets_the_mode(
            pw in "[a-z&=@?#/ '\\\\]{0,12}(sslmode=(require|bogus))?[a-z&@ ]{0,6}"
        ) {
            let c = parse(&format!(
                "host=h user=u password={} sslmode=verify-ca", kv_quote(&pw)
            )).unwrap();
            proptest::prop_assert_eq!(c.ssl_mode, Some(SslMode::VerifyCa));
            proptest::prop_assert_eq!(c.config.get_password(), Some(pw.as_bytes()));
            // In a URL the password must be percent-encoded where it holds '@'
            // (the credentials end at the first '@'); everything else is literal.
            let encoded = pw.replace('%', "%25").replace('@', "%40");
            let c = parse(&format!("postgres://u:{encoded}@h/db?sslmode=disable")).unwrap();
            proptest::prop_assert_eq!(c.ssl_mode, Some(SslMode::Disable));
            proptest::prop_assert_eq!(c.config.get_password(), Some(pw.as_bytes()));
        }
    }

    #[test]
    fn percent_encoded_sslmode_keys_and_values_count() {
        let c = parse("postgres://u@h/db?ssl%6Dode=verify%2Dfull").unwrap();
        assert_eq!(c.ssl_mode, Some(SslMode::VerifyFull));
    }
}
