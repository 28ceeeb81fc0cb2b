//! Admin connection settings.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use stackdock_core::secret::{ExposeSecret, SecretString, REDACTED};
use stackdock_core::{Error, Result};

pub use stackdock_pg::SslMode;

/// The name this crate gave [`SslMode`] before it moved to `stackdock-pg`
/// (the same type: every libpq `sslmode`).
pub type TlsMode = SslMode;

/// The prefix of libpq's environment variables (`PGHOST`, `PGUSER`, ...).
pub const DEFAULT_ENV_PREFIX: &str = "PG";

/// How the adapter reaches the server as an administrator (a superuser, or a
/// role with `CREATEROLE` and `CREATEDB` that may `SET ROLE` to the roles it
/// creates), and what it tells tenants.
///
/// `Debug` never shows the password. Deserialised from a dock's `settings`
/// (see [`PostgresFactory`](crate::PostgresFactory)): every field but `user`
/// has its default, durations are seconds, `tls` is a libpq `sslmode`; the
/// password is never read from there (it is the credential `password`), and
/// an unknown key — a password written inline among them — is refused.
///
/// ```
/// use stackdock_postgres::PostgresConfig;
/// let cfg = PostgresConfig::from_url("postgres://admin:hunter2@db.internal:5433/postgres?sslmode=disable").unwrap();
/// assert_eq!(cfg.host, "db.internal");
/// assert_eq!(cfg.port, 5433);
/// assert!(!format!("{cfg:?}").contains("hunter2"));
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PostgresConfig {
    /// Host name, IP address, or a Unix socket directory (starting with `/`).
    #[serde(default = "default_host")]
    pub host: String,
    /// Port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Admin role.
    pub user: String,
    /// Admin password, when the server asks for one. Never deserialised: a
    /// credential, not a setting.
    #[serde(skip)]
    pub password: Option<SecretString>,
    /// Maintenance database the admin connects to (never a tenant database:
    /// `DROP DATABASE` cannot run from inside its target). Default `postgres`.
    #[serde(default = "default_dbname")]
    pub dbname: String,
    /// TLS, as libpq's `sslmode` (default `prefer`); see [`stackdock_pg::tls`]
    /// for what each mode checks.
    #[serde(default, deserialize_with = "sslmode")]
    pub tls: SslMode,
    /// Extra PEM-encoded CA certificates to trust besides the web PKI roots
    /// (libpq's `sslrootcert`); with them `prefer`/`require` check the chain.
    #[serde(default)]
    pub ca_certificates_pem: Option<String>,
    /// Most admin connections open at once. Default 8.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Time to open a connection. Default 10 s.
    #[serde(default = "default_connect_timeout", deserialize_with = "seconds")]
    pub connect_timeout: Duration,
    /// Time to wait for a free pooled connection (each create, update or
    /// delete holds one for its duration). Default 60 s.
    #[serde(default = "default_wait", deserialize_with = "seconds")]
    pub pool_wait_timeout: Duration,
    /// Time to wait for another create, update or delete of the same
    /// database name to finish. Default 60 s.
    #[serde(default = "default_wait", deserialize_with = "seconds")]
    pub lock_timeout: Duration,
    /// Host name given to tenants in their connection details; default [`host`](Self::host).
    #[serde(default)]
    pub public_host: Option<String>,
    /// Port given to tenants; default [`port`](Self::port).
    #[serde(default)]
    pub public_port: Option<u16>,
    /// `application_name` of the admin sessions. Default `stackdock`.
    #[serde(default = "default_application_name")]
    pub application_name: String,
    /// When a create finds the database already made by an earlier call
    /// whose reply was lost, set the owner's password again (the spec's, or a
    /// newly generated one) and return it, instead of adopting without a
    /// password. The recovery for callers that let the adapter generate
    /// passwords; callers that supply the password in the spec get it back
    /// without this. Default `false`.
    #[serde(default)]
    pub rotate_password_on_adopt: bool,
}

fn default_host() -> String {
    "localhost".into()
}

fn default_port() -> u16 {
    5432
}

fn default_dbname() -> String {
    "postgres".into()
}

fn default_max_connections() -> usize {
    8
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_wait() -> Duration {
    Duration::from_secs(60)
}

fn default_application_name() -> String {
    "stackdock".into()
}

/// A libpq `sslmode` string (the error never repeats the value).
fn sslmode<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<SslMode, D::Error> {
    let value = String::deserialize(d)?;
    SslMode::from_sslmode(&value).map_err(|e| serde::de::Error::custom(e.to_string()))
}

/// A non-negative number of seconds.
fn seconds<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(serde::de::Error::custom(
            "expected a non-negative number of seconds",
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .field("dbname", &self.dbname)
            .field("tls", &self.tls)
            .field("ca_certificates_pem", &self.ca_certificates_pem.is_some())
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("pool_wait_timeout", &self.pool_wait_timeout)
            .field("lock_timeout", &self.lock_timeout)
            .field("public_host", &self.public_host)
            .field("public_port", &self.public_port)
            .field("application_name", &self.application_name)
            .field("rotate_password_on_adopt", &self.rotate_password_on_adopt)
            .finish()
    }
}

impl PostgresConfig {
    /// Settings for `user` on `host:port`, everything else at its default.
    pub fn new(host: impl Into<String>, port: u16, user: impl Into<String>) -> Self {
        PostgresConfig {
            host: host.into(),
            port,
            user: user.into(),
            password: None,
            dbname: default_dbname(),
            tls: SslMode::default(),
            ca_certificates_pem: None,
            max_connections: default_max_connections(),
            connect_timeout: default_connect_timeout(),
            pool_wait_timeout: default_wait(),
            lock_timeout: default_wait(),
            public_host: None,
            public_port: None,
            application_name: default_application_name(),
            rotate_password_on_adopt: false,
        }
    }

    /// Parse a `postgres://user:password@host:port/dbname?sslmode=...` URL, or a
    /// libpq `key=value` string (`host=... user=...`), with any libpq
    /// `sslmode` (default `prefer`), through [`stackdock_pg::conninfo`].
    ///
    /// Parse errors never echo the input (it may hold the password).
    pub fn from_url(url: &str) -> Result<Self> {
        let info = stackdock_pg::conninfo::parse(url)?;
        let parsed = info.config;
        let host = match parsed.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(p)) => p.to_string_lossy().into_owned(),
            None => "localhost".into(),
        };
        let port = parsed.get_ports().first().copied().unwrap_or(5432);
        let user = parsed
            .get_user()
            .map(str::to_owned)
            .ok_or_else(|| Error::config("the connection URL names no user"))?;
        let mut cfg = PostgresConfig::new(host, port, user);
        if let Some(pw) = parsed.get_password() {
            let pw = String::from_utf8(pw.to_vec())
                .map_err(|_| Error::config("the password is not UTF-8"))?;
            cfg.password = Some(SecretString::from(pw));
        }
        if let Some(db) = parsed.get_dbname() {
            cfg.dbname = db.to_owned();
        }
        if let Some(t) = parsed.get_connect_timeout() {
            cfg.connect_timeout = *t;
        }
        if let Some(app) = parsed.get_application_name() {
            cfg.application_name = app.to_owned();
        }
        cfg.tls = info.ssl_mode.unwrap_or_default();
        Ok(cfg)
    }

    /// Settings from the standard libpq variables: `PGHOST` (default
    /// `localhost`), `PGPORT` (5432), `PGUSER` (else `USER`), `PGPASSWORD`,
    /// `PGDATABASE` (default `postgres`), `PGSSLMODE` (default `prefer`),
    /// `PGCONNECT_TIMEOUT` (seconds), `PGAPPNAME`. `PGPASSFILE` and service
    /// files are not read. The same as `from_env_prefixed("PG")`.
    pub fn from_env() -> Result<Self> {
        Self::from_env_prefixed(DEFAULT_ENV_PREFIX)
    }

    /// Like [`from_env`](Self::from_env) with another prefix, so that two
    /// servers can be configured side by side: `from_env_prefixed("PG_EU_")`
    /// reads `PG_EU_HOST`, `PG_EU_PORT`, `PG_EU_USER`, `PG_EU_PASSWORD`, …
    /// Only the libpq prefix `PG` falls back to `USER` for the user.
    pub fn from_env_prefixed(prefix: &str) -> Result<Self> {
        Self::from_lookup_prefixed(prefix, |k| std::env::var(k).ok())
    }

    /// [`from_env`](Self::from_env) over any lookup (testable without touching the process environment).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Self::from_lookup_prefixed(DEFAULT_ENV_PREFIX, get)
    }

    /// [`from_env_prefixed`](Self::from_env_prefixed) over any lookup.
    /// Errors name the variable, never its value.
    pub fn from_lookup_prefixed(
        prefix: &str,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let key = |name: &str| format!("{prefix}{name}");
        let var = |name: &str| get(&key(name));
        let host = var("HOST").unwrap_or_else(default_host);
        let port = match var("PORT") {
            Some(p) => p
                .parse()
                .map_err(|_| Error::config(format!("{} is not a port number", key("PORT"))))?,
            None => default_port(),
        };
        let user = var("USER")
            .or_else(|| {
                (prefix == DEFAULT_ENV_PREFIX)
                    .then(|| get("USER"))
                    .flatten()
            })
            .ok_or_else(|| Error::config(format!("{} is not set", key("USER"))))?;
        let mut cfg = PostgresConfig::new(host, port, user);
        cfg.password = var("PASSWORD").map(SecretString::from);
        if let Some(db) = var("DATABASE") {
            cfg.dbname = db;
        }
        if let Some(mode) = var("SSLMODE") {
            cfg.tls = SslMode::from_sslmode(&mode)
                .map_err(|e| Error::config(format!("{}: {e}", key("SSLMODE"))))?;
        }
        if let Some(t) = var("CONNECT_TIMEOUT") {
            let secs: u64 = t.parse().map_err(|_| {
                Error::config(format!(
                    "{} is not a number of seconds",
                    key("CONNECT_TIMEOUT")
                ))
            })?;
            cfg.connect_timeout = Duration::from_secs(secs.max(1));
        }
        if let Some(app) = var("APPNAME") {
            cfg.application_name = app;
        }
        Ok(cfg)
    }

    /// Set the admin password.
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(SecretString::from(password.into()));
        self
    }

    /// Set the maintenance database.
    pub fn with_dbname(mut self, dbname: impl Into<String>) -> Self {
        self.dbname = dbname.into();
        self
    }

    /// Set the TLS mode.
    pub fn with_tls(mut self, tls: SslMode) -> Self {
        self.tls = tls;
        self
    }

    /// Trust these PEM CA certificates too.
    pub fn with_ca_certificates_pem(mut self, pem: impl Into<String>) -> Self {
        self.ca_certificates_pem = Some(pem.into());
        self
    }

    /// Set the pool size.
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Set the connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Rotate the owner's password when a create adopts a database an
    /// earlier, interrupted create made (see [`rotate_password_on_adopt`](Self::rotate_password_on_adopt)).
    pub fn with_rotate_password_on_adopt(mut self, on: bool) -> Self {
        self.rotate_password_on_adopt = on;
        self
    }

    /// Host and port handed to tenants (e.g. a load balancer in front of the server).
    pub fn with_public_endpoint(mut self, host: impl Into<String>, port: u16) -> Self {
        self.public_host = Some(host.into());
        self.public_port = Some(port);
        self
    }

    /// The tokio-postgres settings for the admin connection.
    pub(crate) fn to_pg_config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name(&self.application_name)
            .connect_timeout(self.connect_timeout);
        if let Some(pw) = &self.password {
            c.password(pw.expose_secret());
        }
        c
    }

    /// The TLS mode and trusted CAs of the admin connection.
    pub(crate) fn tls_settings(&self) -> stackdock_pg::TlsSettings {
        let mut tls = stackdock_pg::TlsSettings::new(self.tls);
        tls.ca_certificates_pem = self.ca_certificates_pem.clone();
        tls
    }

    /// `host:port` of the admin connection, for error context and logs
    /// (`[addr]:port` for IPv6; `dir:port` for a Unix socket directory).
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('/') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Host given to tenants.
    pub(crate) fn tenant_host(&self) -> &str {
        self.public_host.as_deref().unwrap_or(&self.host)
    }

    /// Port given to tenants.
    pub(crate) fn tenant_port(&self) -> u16 {
        self.public_port.unwrap_or(self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn url_parsing() {
        let c = PostgresConfig::from_url("postgres://postgres@127.0.0.1:5432/postgres").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.user.as_str()),
            ("127.0.0.1", 5432, "postgres")
        );
        assert!(c.password.is_none());
        assert_eq!(c.tls, SslMode::Prefer, "libpq's default");
        let c = PostgresConfig::from_url("postgresql://a:p%40ss@h/maint?sslmode=require").unwrap();
        assert_eq!(c.password.as_ref().unwrap().expose_secret(), "p@ss");
        assert_eq!(c.dbname, "maint");
        assert_eq!(c.tls, SslMode::Require);
        let c = PostgresConfig::from_url("host=/run/postgresql user=root sslmode=prefer").unwrap();
        assert_eq!(c.host, "/run/postgresql");
        assert_eq!(c.tls, SslMode::Prefer);
        let c =
            PostgresConfig::from_url("postgres://u@h/db?sslmode=verify-full&application_name=x")
                .unwrap();
        assert_eq!(c.tls, SslMode::VerifyFull);
        assert_eq!(c.application_name, "x");
        let c = PostgresConfig::from_url("host=h user=u sslmode=verify-ca dbname=d").unwrap();
        assert_eq!((c.tls, c.dbname.as_str()), (SslMode::VerifyCa, "d"));
        let c = PostgresConfig::from_url("postgres://u@h/db?sslmode=allow").unwrap();
        assert_eq!(c.tls, SslMode::Allow);
        let c = PostgresConfig::from_url("postgres://u@h/db?sslmode=disable").unwrap();
        assert_eq!(c.tls, SslMode::Disable);
        assert!(PostgresConfig::from_url("postgres://u@h/db?sslmode=bogus").is_err());
        let err = PostgresConfig::from_url("postgres://u:topsecret@h:notaport/x").unwrap_err();
        assert!(!err.to_string().contains("topsecret"));
        assert!(!format!("{err:?}").contains("topsecret"));
    }

    /// Issue 16 item 6: `sslmode=` inside the password was read as the mode
    /// (echoed in the error) or rewritten.
    #[test]
    fn a_password_holding_sslmode_is_kept_and_never_echoed() {
        let c = PostgresConfig::from_url("postgres://u:pw&sslmode=require@h/db").unwrap();
        assert_eq!(c.password.unwrap().expose_secret(), "pw&sslmode=require");
        assert_eq!(c.tls, SslMode::Prefer);
        let err =
            PostgresConfig::from_url("postgres://u:pw&sslmode=Secret9@h/db?sslmode=x").unwrap_err();
        assert!(!format!("{err} {err:?}").contains("Secret9"), "{err:?}");
        let err = PostgresConfig::from_url("postgres://u:a&sslmode=Secret9@h/db").map(|c| c.tls);
        assert_eq!(err.unwrap(), SslMode::Prefer);
        let c = PostgresConfig::from_url(
            "host=h user=u password='x sslmode=disable' sslmode=verify-full",
        )
        .unwrap();
        assert_eq!(c.password.unwrap().expose_secret(), "x sslmode=disable");
        assert_eq!(c.tls, SslMode::VerifyFull);
    }

    #[test]
    fn env_parsing() {
        let env: HashMap<&str, &str> = [
            ("PGHOST", "db"),
            ("PGPORT", "6432"),
            ("PGUSER", "admin"),
            ("PGPASSWORD", "hunter2"),
            ("PGSSLMODE", "verify-full"),
            ("PGCONNECT_TIMEOUT", "3"),
        ]
        .into();
        let c = PostgresConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.user.as_str()),
            ("db", 6432, "admin")
        );
        assert_eq!(c.tls, SslMode::VerifyFull);
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
        assert_eq!(c.dbname, "postgres");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains(REDACTED));
        assert!(PostgresConfig::from_lookup(|k| (k == "PGUSER").then(|| "x".into())).is_ok());
        assert!(PostgresConfig::from_lookup(|_| None).is_err());
        assert!(PostgresConfig::from_lookup(|k| match k {
            "PGUSER" => Some("x".into()),
            "PGSSLMODE" => Some("bogus".into()),
            _ => None,
        })
        .is_err());
    }

    #[test]
    fn two_servers_from_prefixed_environments() {
        let env: HashMap<&str, &str> = [
            ("PGUSER", "main"),
            ("PG_EU_HOST", "10.1.0.5"),
            ("PG_EU_PORT", "6432"),
            ("PG_EU_USER", "eu_admin"),
            ("PG_EU_PASSWORD", "eu-secret"),
            ("PG_EU_SSLMODE", "verify-full"),
            ("PG_BAD_USER", "x"),
            ("PG_BAD_PORT", "eu-secret-port"),
            ("USER", "os_user"),
        ]
        .into();
        let get = |k: &str| env.get(k).map(|v| v.to_string());
        let main = PostgresConfig::from_lookup(get).unwrap();
        assert_eq!(
            (main.host.as_str(), main.user.as_str()),
            ("localhost", "main")
        );
        let eu = PostgresConfig::from_lookup_prefixed("PG_EU_", get).unwrap();
        assert_eq!((eu.host.as_str(), eu.port), ("10.1.0.5", 6432));
        assert_eq!(eu.user, "eu_admin");
        assert_eq!(eu.password.as_ref().unwrap().expose_secret(), "eu-secret");
        assert_eq!(eu.tls, SslMode::VerifyFull);
        assert_eq!(eu.endpoint(), "10.1.0.5:6432");
        // Errors name the variable, never its value; only libpq's PG falls
        // back to USER.
        let e = PostgresConfig::from_lookup_prefixed("PG_BAD_", get).unwrap_err();
        assert!(e.to_string().contains("PG_BAD_PORT"), "{e}");
        assert!(!e.to_string().contains("eu-secret-port"), "{e}");
        let e = PostgresConfig::from_lookup_prefixed("PG_US_", get).unwrap_err();
        assert!(e.to_string().contains("PG_US_USER"), "{e}");
    }

    #[test]
    fn settings_deserialise_with_defaults_and_never_a_password() {
        let c: PostgresConfig =
            serde_json::from_str(r#"{"user":"admin","tls":"require","lock_timeout":2.5}"#).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("localhost", 5432));
        assert_eq!(c.tls, SslMode::Require);
        assert_eq!(c.lock_timeout, Duration::from_millis(2500));
        assert_eq!(c.connect_timeout, Duration::from_secs(10));
        assert!(c.password.is_none());
        let e = serde_json::from_str::<PostgresConfig>(r#"{"user":"a","password":"inline-pw"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("password"), "{e}");
        assert!(!e.to_string().contains("inline-pw"), "{e}");
        let e =
            serde_json::from_str::<PostgresConfig>(r#"{"user":"a","tls":"hunter2"}"#).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let ipv6 = PostgresConfig::new("::1", 5432, "a");
        assert_eq!(ipv6.endpoint(), "[::1]:5432");
    }
}
