//! Configuration of the Postfix/Dovecot SQL backend.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use stackdock_core::secret::{redact_url, ExposeSecret, SecretString};
use stackdock_core::validate;
use stackdock_core::{Error, Result};
use stackdock_pg::TlsSettings;

use crate::hash::{PasswordHasher, PasswordScheme, DEFAULT_BCRYPT_COST};
use crate::model::Scope;

/// The prefix of [`SqlConfig::from_env`]'s variables.
pub const DEFAULT_ENV_PREFIX: &str = "STACKDOCK_MAIL_";

/// Default PostgreSQL schema holding the mail tables.
pub const DEFAULT_SCHEMA: &str = "mail";

/// How to reach the mail database and how to write to it.
///
/// `Debug` redacts the password in `url`. Deserialised from a dock's
/// `settings` (see [`PostfixDovecotFactory`](crate::PostfixDovecotFactory));
/// `url` is never read from there — a connection string carries the password,
/// so it is the credential `url` — and an unknown key is refused.
///
/// ```
/// use stackdock_email::sql::SqlConfig;
/// use stackdock_email::PasswordScheme;
/// let config = SqlConfig::new("postgres://mailadmin:hunter2@127.0.0.1/mail")
///     .with_schema("mail")
///     .with_password_scheme(PasswordScheme::Argon2id);
/// config.validate().unwrap();
/// assert!(!format!("{config:?}").contains("hunter2"));
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SqlConfig {
    /// `postgres://user:password@host:port/dbname` of a role that may create
    /// the schema (first run) and write to it. Never deserialised: a credential.
    #[serde(skip, default = "no_url")]
    pub url: SecretString,
    /// PostgreSQL schema for the tables (lower-case letters, digits, `_`).
    #[serde(default = "default_schema")]
    pub schema: String,
    /// Restrict this store to one tenant; `None` = operator access to all tenants.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Password scheme for new and changed passwords.
    #[serde(default)]
    pub password_scheme: PasswordScheme,
    /// bcrypt cost for `BLF-CRYPT` (4..=31).
    #[serde(default = "default_bcrypt_cost")]
    pub bcrypt_cost: u32,
    /// Connections in the pool.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long to wait for a connection.
    #[serde(default = "default_connect_timeout", with = "secs")]
    pub connect_timeout: Duration,
    /// Extra PEM CA certificates to trust for TLS (libpq's `sslrootcert`);
    /// the TLS mode is the URL's `sslmode` (any libpq value, default `prefer`).
    #[serde(default)]
    pub ca_certificates_pem: Option<String>,
}

/// The url of a config read from settings, until the credential is set
/// (an empty url fails [`SqlConfig::validate`]).
fn no_url() -> SecretString {
    SecretString::from(String::new())
}

fn default_schema() -> String {
    DEFAULT_SCHEMA.into()
}
fn default_bcrypt_cost() -> u32 {
    DEFAULT_BCRYPT_COST
}
fn default_max_connections() -> usize {
    8
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

impl fmt::Debug for SqlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlConfig")
            .field("url", &redact_url(self.url.expose_secret()))
            .field("schema", &self.schema)
            .field("tenant", &self.tenant)
            .field("password_scheme", &self.password_scheme)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("ca_certificates_pem", &self.ca_certificates_pem.is_some())
            .finish()
    }
}

impl SqlConfig {
    /// A config for `url` with defaults (schema `mail`, BLF-CRYPT, operator scope).
    pub fn new(url: impl Into<String>) -> Self {
        SqlConfig {
            url: SecretString::from(url.into()),
            schema: default_schema(),
            tenant: None,
            password_scheme: PasswordScheme::default(),
            bcrypt_cost: DEFAULT_BCRYPT_COST,
            max_connections: default_max_connections(),
            connect_timeout: default_connect_timeout(),
            ca_certificates_pem: None,
        }
    }

    /// From the environment: `STACKDOCK_MAIL_PG_URL` (required),
    /// `STACKDOCK_MAIL_SCHEMA`, `STACKDOCK_MAIL_TENANT`, `STACKDOCK_MAIL_PASSWORD_SCHEME`.
    /// The same as `from_env_prefixed("STACKDOCK_MAIL_")`.
    pub fn from_env() -> Result<Self> {
        Self::from_env_prefixed(DEFAULT_ENV_PREFIX)
    }

    /// Like [`from_env`](Self::from_env) with another prefix, so that two
    /// docks can be configured side by side: `from_env_prefixed("MAIL_EU_")`
    /// reads `MAIL_EU_PG_URL`, `MAIL_EU_SCHEMA`, `MAIL_EU_TENANT`,
    /// `MAIL_EU_PASSWORD_SCHEME`. Errors name the variable, never its value.
    pub fn from_env_prefixed(prefix: &str) -> Result<Self> {
        Self::from_lookup(prefix, |key| std::env::var(key).ok())
    }

    /// [`from_env_prefixed`](Self::from_env_prefixed) over any source of variables.
    pub(crate) fn from_lookup(prefix: &str, var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let key = |name: &str| format!("{prefix}{name}");
        let url = var(&key("PG_URL"))
            .filter(|u| !u.is_empty())
            .ok_or_else(|| Error::config(format!("{} is not set", key("PG_URL"))))?;
        let mut config = SqlConfig::new(url);
        if let Some(schema) = var(&key("SCHEMA")) {
            config.schema = schema;
        }
        config.tenant = var(&key("TENANT"));
        if let Some(scheme) = var(&key("PASSWORD_SCHEME")) {
            config.password_scheme = scheme.parse().map_err(|_| {
                Error::config(format!(
                    "{} is not a supported scheme",
                    key("PASSWORD_SCHEME")
                ))
            })?;
        }
        config
            .validate()
            .map_err(|e| Error::config(format!("{prefix}*: {e}")))?;
        Ok(config)
    }

    /// `host:port` of the server (the first one of several), for errors and
    /// logs; never a credential. `None` when the url does not parse.
    pub fn endpoint(&self) -> Option<String> {
        let (config, _tls) = self.pg_config().ok()?;
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let host = match config.get_hosts().first()? {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        };
        Some(format!("{host}:{port}"))
    }

    /// Use this PostgreSQL schema.
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Scope the store to one tenant.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Hash passwords with `scheme`.
    pub fn with_password_scheme(mut self, scheme: PasswordScheme) -> Self {
        self.password_scheme = scheme;
        self
    }

    /// bcrypt cost for BLF-CRYPT.
    pub fn with_bcrypt_cost(mut self, cost: u32) -> Self {
        self.bcrypt_cost = cost;
        self
    }

    /// Trust these PEM CA certificates for TLS too.
    pub fn with_ca_certificates_pem(mut self, pem: impl Into<String>) -> Self {
        self.ca_certificates_pem = Some(pem.into());
        self
    }

    /// Pool size.
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Check every field; errors are [`ErrorKind::ConfigInvalid`](stackdock_core::ErrorKind::ConfigInvalid).
    pub fn validate(&self) -> Result<()> {
        if self.url.expose_secret().is_empty() {
            return Err(Error::config("url is required"));
        }
        self.pg_config()?;
        check_schema_name(&self.schema).map_err(|_| {
            Error::config(
                "schema must be 1-63 lower-case letters, digits or '_', starting with a letter",
            )
        })?;
        self.scope()?;
        self.hasher()?;
        if self.max_connections == 0 {
            return Err(Error::config("max_connections must be at least 1"));
        }
        Ok(())
    }

    pub(crate) fn scope(&self) -> Result<Scope> {
        match &self.tenant {
            None => Ok(Scope::All),
            Some(t) => {
                Scope::tenant(t.clone()).map_err(|_| Error::config("tenant is not a valid name"))
            }
        }
    }

    pub(crate) fn hasher(&self) -> Result<PasswordHasher> {
        PasswordHasher::new(self.password_scheme).with_bcrypt_cost(self.bcrypt_cost)
    }

    /// The connection settings and TLS of `url` (any libpq `sslmode`).
    /// Parse errors never quote the URL.
    pub(crate) fn pg_config(&self) -> Result<(tokio_postgres::Config, TlsSettings)> {
        let info = stackdock_pg::conninfo::parse(self.url.expose_secret())?;
        let mut config = info.config;
        config.connect_timeout(self.connect_timeout);
        config.application_name("stackdock-email");
        let mut tls = TlsSettings::new(info.ssl_mode.unwrap_or_default());
        tls.ca_certificates_pem = self.ca_certificates_pem.clone();
        // A bad CA is a config error now, not at the first connection.
        tls.connector()?;
        Ok((config, tls))
    }
}

/// A schema name the crate accepts: a lower-case slug (`_` allowed), at most
/// 63 bytes, not starting with `pg_`.
pub fn check_schema_name(schema: &str) -> Result<()> {
    validate::slug("schema", schema, 63, true)?;
    if schema.starts_with("pg_") {
        return Err(Error::invalid_input("schema", "pg_ is reserved"));
    }
    Ok(())
}

pub(crate) use stackdock_pg::quote_ident;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(SqlConfig::new("postgres://u@127.0.0.1/db")
            .validate()
            .is_ok());
        assert!(SqlConfig::new("postgres://u@127.0.0.1/db")
            .with_schema("Mail")
            .validate()
            .is_err());
        assert!(SqlConfig::new("postgres://u@127.0.0.1/db")
            .with_schema("x\"; drop")
            .validate()
            .is_err());
        assert!(SqlConfig::new("postgres://u@127.0.0.1/db")
            .with_schema("pg_mail")
            .validate()
            .is_err());
        assert!(SqlConfig::new("postgres://u@127.0.0.1/db")
            .with_bcrypt_cost(3)
            .validate()
            .is_err());
        assert!(SqlConfig::new("postgres://u@127.0.0.1/db")
            .with_tenant("")
            .validate()
            .is_err());
        let bad = SqlConfig::new("postgres://u:sekrit@[::1/db")
            .validate()
            .unwrap_err();
        assert!(!bad.to_string().contains("sekrit"));
    }

    /// Issue 12 item 10: the SQL backend had no TLS (`NoTls`) and
    /// tokio-postgres refused libpq's verify-ca/verify-full/allow; its
    /// quoting let NUL through.
    #[test]
    fn every_libpq_sslmode_is_accepted_and_quoting_refuses_nul() {
        for mode in [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ] {
            let c = SqlConfig::new(format!("postgres://u@127.0.0.1/db?sslmode={mode}"));
            c.validate().unwrap();
            assert_eq!(c.pg_config().unwrap().1.mode.as_str(), mode);
        }
        let bad = SqlConfig::new("postgres://u:sekrit@h/db?sslmode=sekrit")
            .validate()
            .unwrap_err();
        assert!(!format!("{bad} {bad:?}").contains("sekrit"));
        assert!(SqlConfig::new("postgres://u@h/db")
            .with_ca_certificates_pem("not pem")
            .validate()
            .is_err());
        assert!(quote_ident("a\0b").is_err());
        assert_eq!(quote_ident("ma\"il").unwrap(), "\"ma\"\"il\"");
    }

    #[test]
    fn deserialises_with_defaults_and_never_a_url() {
        let c: SqlConfig = serde_json::from_str(r#"{"tenant": "t1"}"#).unwrap();
        assert_eq!(c.schema, "mail");
        assert_eq!(c.tenant.as_deref(), Some("t1"));
        assert_eq!(c.password_scheme, PasswordScheme::BlfCrypt);
        // No url yet: the credential is set by the factory.
        assert!(c.validate().is_err());
        let inline = serde_json::from_str::<SqlConfig>(r#"{"url": "postgres://u:pw@h/db"}"#)
            .expect_err("a url among the settings is refused");
        assert!(inline.to_string().contains("url"), "{inline}");
        assert!(!inline.to_string().contains("pw@"), "{inline}");
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn two_docks_from_prefixed_environments() {
        let env = vars(&[
            (
                "STACKDOCK_MAIL_PG_URL",
                "postgres://main:main-pw@10.0.0.1/mail",
            ),
            ("MAIL_EU_PG_URL", "postgres://eu:eu-pw@10.0.0.2:5433/mail"),
            ("MAIL_EU_SCHEMA", "mail_eu"),
            ("MAIL_EU_TENANT", "acme"),
            ("MAIL_BAD_PG_URL", "postgres://u@h/db"),
            ("MAIL_BAD_PASSWORD_SCHEME", "ROT13"),
        ]);
        let main = SqlConfig::from_lookup(DEFAULT_ENV_PREFIX, &env).unwrap();
        assert_eq!(main.schema, "mail");
        assert_eq!(main.endpoint().as_deref(), Some("10.0.0.1:5432"));
        let eu = SqlConfig::from_lookup("MAIL_EU_", &env).unwrap();
        assert_eq!(eu.schema, "mail_eu");
        assert_eq!(eu.tenant.as_deref(), Some("acme"));
        assert_eq!(eu.endpoint().as_deref(), Some("10.0.0.2:5433"));
        let e = SqlConfig::from_lookup("MAIL_US_", &env).unwrap_err();
        assert!(e.to_string().contains("MAIL_US_PG_URL"), "{e}");
        let e = SqlConfig::from_lookup("MAIL_BAD_", &env).unwrap_err();
        assert!(e.to_string().contains("MAIL_BAD_PASSWORD_SCHEME"), "{e}");
        assert!(!format!("{eu:?}").contains("eu-pw"));
    }
}
