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
//! 2. **Quoting** ([`quote_ident`], [`quote_literal`], the workspace's one
//!    quoting from [`stackdock_pg::quote`]): every identifier and literal is
//!    quoted anyway, so a validator bug still cannot become an injection.
//!
//! ```
//! use stackdock_postgres::sql::{identifier, quote_ident, quote_literal};
//! assert!(identifier("name", "acme_shop").is_ok());
//! assert!(identifier("name", "x\"; DROP DATABASE postgres; --").is_err());
//! assert_eq!(quote_ident("we\"ird").unwrap(), "\"we\"\"ird\"");
//! assert_eq!(quote_literal("it's").unwrap(), "'it''s'");
//! assert_eq!(quote_literal(r"a\b").unwrap(), r" E'a\\b'");
//! ```

use stackdock_core::{Error, Result};
pub use stackdock_pg::quote::{quote_ident, quote_literal};

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
    "information_schema",
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
            "is a reserved or system name (postgres, template0/1, pg_*, public, information_schema, ...)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
            "information_schema",
            "аdmin", // Cyrillic а
        ] {
            assert!(identifier("n", bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
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
