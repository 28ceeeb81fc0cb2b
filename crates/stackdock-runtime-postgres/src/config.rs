//! [`PostgresStoreConfig`]: where the store connects, how (TLS), in which
//! schema, with how many connections.

use std::time::Duration;

use stackdock_pg::{conninfo, ConnInfo, PoolOptions, SslMode, TlsSettings};
use stackdock_runtime::{Error, Result};

/// The schema the store uses unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "stackdock";

/// How to reach the database the replicas share.
///
/// Built from a libpq connection string (a `postgres://` URL or
/// `key=value` pairs) by [`stackdock_pg::conninfo`], the workspace's one
/// parser: every libpq `sslmode` (`disable`, `allow`, `prefer` — the
/// default —, `require`, `verify-ca`, `verify-full`) carried out with rustls.
/// `Debug` never shows the password.
///
/// ```
/// use stackdock_runtime_postgres::PostgresStoreConfig;
/// let config = PostgresStoreConfig::from_url("postgres://app:s3cret@db:5432/control?sslmode=verify-full")?
///     .with_schema("tenant_plane")?
///     .with_max_connections(16);
/// assert_eq!(config.schema(), "tenant_plane");
/// assert!(!format!("{config:?}").contains("s3cret"));
/// # Ok::<(), stackdock_runtime::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStoreConfig {
    pub(crate) info: ConnInfo,
    pub(crate) tls: TlsSettings,
    pub(crate) schema: String,
    pub(crate) pool: PoolOptions,
}

impl PostgresStoreConfig {
    /// Parse a connection string; the schema is [`DEFAULT_SCHEMA`], the
    /// pool [`PoolOptions::default`] (8 connections).
    pub fn from_url(conninfo: &str) -> Result<Self> {
        let info = conninfo::parse(conninfo).map_err(config_error)?;
        let tls = TlsSettings::new(info.ssl_mode.unwrap_or_default());
        Ok(PostgresStoreConfig {
            info,
            tls,
            schema: DEFAULT_SCHEMA.to_owned(),
            pool: PoolOptions::default(),
        })
    }

    /// Keep the state in `schema` (created by the first replica that opens
    /// it): several control planes can share one database, each in its own
    /// schema. Lower-case letters, digits and `_`, not starting with a
    /// digit, at most 63 characters.
    pub fn with_schema(mut self, schema: &str) -> Result<Self> {
        validate_schema(schema)?;
        self.schema = schema.to_owned();
        Ok(self)
    }

    /// Also trust these PEM CA certificates (libpq's `sslrootcert`).
    pub fn with_ca_certificates_pem(mut self, pem: impl Into<String>) -> Self {
        self.tls = self.tls.with_ca_certificates_pem(pem);
        self
    }

    /// Override the URL's `sslmode`.
    pub fn with_ssl_mode(mut self, mode: SslMode) -> Self {
        self.tls.mode = mode;
        self
    }

    /// Most connections this replica opens (default 8).
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.pool = self.pool.with_max_connections(n);
        self
    }

    /// Time to open one connection (default 10 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.pool = self.pool.with_connect_timeout(timeout);
        self
    }

    /// Time to wait for a free connection (default 60 s).
    pub fn with_wait_timeout(mut self, timeout: Duration) -> Self {
        self.pool = self.pool.with_wait_timeout(timeout);
        self
    }

    /// The schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The TLS mode.
    pub fn ssl_mode(&self) -> SslMode {
        self.tls.mode
    }

    /// The connection settings with the schema first on the `search_path`
    /// (a startup parameter, so every pooled connection has it from its
    /// first statement on).
    pub(crate) fn session_config(&self) -> tokio_postgres::Config {
        let mut config = self.info.config.clone();
        let search_path = format!("-c search_path={}", self.schema);
        let options = match config.get_options() {
            Some(existing) if !existing.trim().is_empty() => format!("{existing} {search_path}"),
            _ => search_path,
        };
        config.options(&options);
        config
    }
}

/// Schema names are restricted to what needs no quoting anywhere (SQL,
/// the `options` startup parameter).
fn validate_schema(schema: &str) -> Result<()> {
    let mut chars = schema.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && schema.len() <= 63 && !schema.starts_with("pg_") {
        Ok(())
    } else {
        Err(Error::store(
            "configuration: a schema name is 1-63 of [a-z0-9_], not starting with a digit or pg_",
        ))
    }
}

fn config_error(e: stackdock_core::Error) -> Error {
    Error::store(format!("configuration: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked() {
        for good in ["stackdock", "_x", "tenant_2"] {
            assert!(validate_schema(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "2x",
            "Upper",
            "a b",
            "a;drop",
            "pg_catalog",
            &"a".repeat(64),
        ] {
            assert!(validate_schema(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_schema_goes_on_the_search_path_after_existing_options() {
        let c = PostgresStoreConfig::from_url(
            "postgres://u@h/db?options=-c%20statement_timeout%3D5000",
        )
        .unwrap()
        .with_schema("plane")
        .unwrap();
        assert_eq!(
            c.session_config().get_options(),
            Some("-c statement_timeout=5000 -c search_path=plane")
        );
    }

    #[test]
    fn sslmode_comes_from_the_url_and_defaults_to_prefer() {
        let c = PostgresStoreConfig::from_url("postgres://u@h/db?sslmode=verify-ca").unwrap();
        assert_eq!(c.ssl_mode(), SslMode::VerifyCa);
        let c = PostgresStoreConfig::from_url("host=h user=u").unwrap();
        assert_eq!(c.ssl_mode(), SslMode::Prefer);
        assert!(
            PostgresStoreConfig::from_url("postgres://u:pw@h/db?sslmode=bogus")
                .unwrap_err()
                .to_string()
                .contains("sslmode")
        );
    }
}
