//! Quoting for the SQL text that cannot take bind parameters (utility
//! statements such as `CREATE ROLE`, `COMMENT ON`, schema names in DDL).
//!
//! The escaping is postgres-protocol's (`escape_identifier` /
//! `escape_literal`, the Rust port of libpq's `PQescapeInternal`); this module
//! adds the one check it leaves out: PostgreSQL text cannot hold NUL, and a
//! NUL would end the string early on the server, so it is refused.
//!
//! ```
//! use stackdock_pg::quote::{quote_ident, quote_literal};
//! assert_eq!(quote_ident("we\"ird").unwrap(), "\"we\"\"ird\"");
//! assert_eq!(quote_literal("it's").unwrap(), "'it''s'");
//! // With a backslash: libpq's ` E'...'` form, right whatever standard_conforming_strings says.
//! assert_eq!(quote_literal(r"a\b").unwrap(), r" E'a\\b'");
//! assert!(quote_ident("a\0b").is_err());
//! ```

use postgres_protocol::escape::{escape_identifier, escape_literal};
use stackdock_core::{Error, Result};

fn reject_nul(what: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(Error::invalid_input(
            what,
            "PostgreSQL text cannot hold a NUL byte",
        ));
    }
    Ok(())
}

/// `"name"`, every `"` doubled. Always quotes, so case and keywords are kept
/// as written. Refuses NUL.
pub fn quote_ident(name: &str) -> Result<String> {
    reject_nul("identifier", name)?;
    Ok(escape_identifier(name))
}

/// `'value'`, every `'` doubled; with a backslash, ` E'...'` with every `\`
/// doubled too. Refuses NUL.
pub fn quote_literal(value: &str) -> Result<String> {
    reject_nul("literal", value)?;
    Ok(escape_literal(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nul_is_refused_everywhere_in_the_text() {
        for bad in ["\0", "a\0", "\0a", "a\0b"] {
            assert!(quote_ident(bad).is_err());
            assert!(quote_literal(bad).is_err());
        }
    }

    /// What the SQL lexer makes of a quoted identifier.
    fn unquote_ident(q: &str) -> Option<String> {
        q.strip_prefix('"')?
            .strip_suffix('"')
            .map(|inner| inner.replace("\"\"", "\""))
    }

    /// What the SQL lexer makes of `'...'` and ` E'...'` (as quoted here).
    fn unquote_literal(q: &str) -> Option<String> {
        let (escaped, rest) = match q.strip_prefix(" E") {
            Some(r) => (true, r),
            None => (false, q),
        };
        let inner = rest.strip_prefix('\'')?.strip_suffix('\'')?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            let doubled = c == '\'' || (escaped && c == '\\');
            if doubled && chars.next() != Some(c) {
                return None;
            }
            out.push(c);
        }
        Some(out)
    }

    proptest! {
        #[test]
        fn quoting_round_trips(s in "[^\u{0}]{0,40}") {
            prop_assert_eq!(unquote_ident(&quote_ident(&s).unwrap()), Some(s.clone()));
            prop_assert_eq!(unquote_literal(&quote_literal(&s).unwrap()), Some(s.clone()));
        }
    }
}
