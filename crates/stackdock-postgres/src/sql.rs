//! Identifier validation and SQL quoting.
//!
//! PostgreSQL utility statements (`CREATE ROLE`, `CREATE DATABASE`, `GRANT`,
//! `ALTER ROLE ... PASSWORD`) take no bind parameters, so their text is built
//! here. Two layers keep it safe:
//!
//! 1. **Validation** ([`identifier`]): names StackDock creates must match
//!    `^[a-z][a-z0-9_]{0,62}$` (at most 63 bytes, PostgreSQL's `NAMEDATALEN - 1`,
//!    so the server never silently truncates two long names into one) and must
//!    not be a reserved or system name ([`is_reserved`]).
//! 2. **Quoting** ([`quote_ident`], [`quote_literal`]): every identifier and
//!    literal is quoted anyway, so a validator bug still cannot become an
//!    injection.
//!
//! ```
//! use stackdock_postgres::sql::{identifier, quote_ident, quote_literal};
//! assert!(identifier("name", "acme_shop").is_ok());
//! assert!(identifier("name", "x\"; DROP DATABASE postgres; --").is_err());
//! assert_eq!(quote_ident("we\"ird").unwrap(), "\"we\"\"ird\"");
//! assert_eq!(quote_literal("it's").unwrap(), "'it''s'");
//! assert_eq!(quote_literal(r"a\b").unwrap(), r"E'a\\b'");
//! ```

use stackdock_core::{Error, Result};

/// Longest identifier PostgreSQL keeps (`NAMEDATALEN - 1`), in bytes.
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// Names that are never accepted for a database or a role, whatever their case.
///
/// `postgres` and the templates are the server's own databases; `public`,
/// `none`, `current_user`, `current_role`, `session_user` are reserved role
/// names (PostgreSQL refuses or misreads them in `GRANT`/`ALTER ROLE`); `all`,
/// `sameuser`, `samerole`, `replication` are `pg_hba.conf` keywords; anything
/// starting with `pg_` is reserved for system roles and catalogs.
pub const RESERVED_NAMES: &[&str] = &[
    "postgres",
    "template0",
    "template1",
    "public",
    "none",
    "current_user",
    "current_role",
    "session_user",
    "user",
    "all",
    "sameuser",
    "samerole",
    "replication",
];

/// Whether `name` is reserved (see [`RESERVED_NAMES`]) or starts with `pg_`.
pub fn is_reserved(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("pg_") || RESERVED_NAMES.contains(&lower.as_str())
}

/// Validate a database or role name StackDock may create or touch.
///
/// Accepts `^[a-z][a-z0-9_]{0,62}$` minus [`RESERVED_NAMES`] and `pg_*`.
/// Lower case only: unquoted SQL folds names to lower case, so these names
/// mean the same thing quoted or not, in psql, in `pg_hba.conf` and in URLs.
pub fn identifier(field: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid_input(field, "must not be empty"));
    }
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err(Error::invalid_input(
            field,
            format!(
                "is {} bytes; PostgreSQL keeps at most {MAX_IDENTIFIER_BYTES}",
                name.len()
            ),
        ));
    }
    if !name.as_bytes()[0].is_ascii_lowercase() {
        return Err(Error::invalid_input(
            field,
            "must start with a lower-case ASCII letter",
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(Error::invalid_input(
            field,
            format!("may only hold a-z, 0-9 and '_'; found U+{:04X}", bad as u32),
        ));
    }
    if is_reserved(name) {
        return Err(Error::invalid_input(
            field,
            "is a reserved or system name (postgres, template0/1, pg_*, public, ...)",
        ));
    }
    Ok(())
}

fn reject_nul(what: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(Error::invalid_input(
            what,
            "PostgreSQL text cannot hold a NUL byte",
        ));
    }
    Ok(())
}

/// Quote an identifier: wrap in `"` and double every embedded `"`.
///
/// Always quotes (unlike the server's `quote_ident`, which quotes only when
/// needed): for the lower-case names [`identifier`] accepts both forms are the
/// same name. NUL cannot appear in PostgreSQL text and is rejected.
pub fn quote_ident(name: &str) -> Result<String> {
    reject_nul("identifier", name)?;
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

/// Quote a string literal the way the server's `quote_literal` does: wrap in
/// `'`, double every `'`; when the value holds a backslash, double those too
/// and use the `E'...'` form, which reads the same whatever
/// `standard_conforming_strings` is set to.
pub fn quote_literal(value: &str) -> Result<String> {
    reject_nul("literal", value)?;
    let has_backslash = value.contains('\\');
    let mut out = String::with_capacity(value.len() + 3);
    if has_backslash {
        out.push('E');
    }
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quote_ident_cases() {
        assert_eq!(quote_ident("abc").unwrap(), "\"abc\"");
        assert_eq!(quote_ident("").unwrap(), "\"\"");
        assert_eq!(quote_ident("a\"b").unwrap(), "\"a\"\"b\"");
        assert_eq!(quote_ident("\"").unwrap(), "\"\"\"\"");
        assert_eq!(
            quote_ident("x\"; DROP DATABASE postgres; --").unwrap(),
            "\"x\"\"; DROP DATABASE postgres; --\""
        );
        assert_eq!(quote_ident("Ünïcode").unwrap(), "\"Ünïcode\"");
        assert!(quote_ident("a\0b").is_err());
    }

    #[test]
    fn quote_literal_cases() {
        assert_eq!(quote_literal("abc").unwrap(), "'abc'");
        assert_eq!(quote_literal("").unwrap(), "''");
        assert_eq!(quote_literal("O'Brien").unwrap(), "'O''Brien'");
        assert_eq!(quote_literal("a\\'b").unwrap(), "E'a\\\\''b'");
        assert_eq!(
            quote_literal("'; DROP ROLE x; --").unwrap(),
            "'''; DROP ROLE x; --'"
        );
        assert_eq!(quote_literal("{\"k\":\"v\"}").unwrap(), "'{\"k\":\"v\"}'");
        assert!(quote_literal("\0").is_err());
    }

    #[test]
    fn identifiers() {
        for ok in [
            "a",
            "acme",
            "acme_shop_2",
            &"a".repeat(63),
            "postgresx",
            "templates",
        ] {
            assert!(identifier("n", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            &"a".repeat(64),
            "Acme",
            "1abc",
            "_abc",
            "a-b",
            "a b",
            "a;b",
            "a\"b",
            "a'b",
            "a\0b",
            "postgres",
            "template0",
            "template1",
            "pg_anything",
            "public",
            "current_user",
            "session_user",
            "none",
            "аdmin", // Cyrillic а
        ] {
            assert!(identifier("n", bad).is_err(), "{bad:?}");
        }
    }

    /// Undo `quote_ident`: what the SQL lexer does with a quoted identifier.
    fn unquote_ident(q: &str) -> Option<String> {
        let inner = q.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::new();
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                // inside, a quote only ever appears doubled
                if chars.next() != Some('"') {
                    return None;
                }
            }
            out.push(c);
        }
        Some(out)
    }

    /// Undo `quote_literal` the way the SQL lexer reads `'...'` and `E'...'`.
    fn unquote_literal(q: &str) -> Option<String> {
        let (escaped, rest) = match q.strip_prefix('E') {
            Some(r) => (true, r),
            None => (false, q),
        };
        let inner = rest.strip_prefix('\'')?.strip_suffix('\'')?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\'' => {
                    if chars.next() != Some('\'') {
                        return None;
                    }
                    out.push('\'');
                }
                '\\' if escaped => {
                    if chars.next() != Some('\\') {
                        return None;
                    }
                    out.push('\\');
                }
                c => out.push(c),
            }
        }
        Some(out)
    }

    proptest! {
        #[test]
        fn quoting_round_trips(s in "[^\u{0}]{0,40}") {
            let qi = quote_ident(&s).unwrap();
            prop_assert_eq!(unquote_ident(&qi), Some(s.clone()));
            let ql = quote_literal(&s).unwrap();
            prop_assert_eq!(unquote_literal(&ql), Some(s.clone()));
        }

        #[test]
        fn accepted_identifiers_are_plain(s in "\\PC{0,70}") {
            if identifier("n", &s).is_ok() {
                prop_assert!(s.len() <= MAX_IDENTIFIER_BYTES);
                prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
                prop_assert!(!s.starts_with("pg_"));
            }
        }
    }
}
