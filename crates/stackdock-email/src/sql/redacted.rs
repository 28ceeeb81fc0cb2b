//! Statement parameters that must not reach logs.
//!
//! tokio-postgres logs every statement's parameters with `Debug` at DEBUG
//! level (target `tokio_postgres::query`), and `tracing-log` forwards that to
//! `tracing` subscribers. A password hash is passed as [`HashParam`], whose
//! `Debug` is redacted, so that line never carries it.

use std::error::Error as StdError;
use std::fmt;

use bytes::BytesMut;
use stackdock_core::secret::REDACTED;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};

/// A `{SCHEME}hash` sent as a text parameter; prints as `[REDACTED]`.
pub(crate) struct HashParam(pub(crate) String);

impl fmt::Debug for HashParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl ToSql for HashParam {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <String as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_hash() {
        let param = Some(HashParam("{BLF-CRYPT}$2y$04$abcdefghijklmnopqrstuv".into()));
        let shown = format!("{param:?}");
        assert!(!shown.contains("BLF") && !shown.contains("$2y$"), "{shown}");
        assert!(shown.contains(REDACTED));
    }
}
