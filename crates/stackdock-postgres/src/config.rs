//! Admin connection settings.

use std::fmt;
use std::time::Duration;

use stackdock_core::secret::{ExposeSecret, SecretString, REDACTED};
use stackdock_core::{Error, Result};

pub use stackdock_pg::SslMode;

/// The name this crate gave [`SslMode`] before it moved to `stackdock-pg`
/// (the same type: every libpq `sslmode`).
pub type TlsMode = SslMode;

/// How the adapter reaches the server as an administrator (a superuser, or a
/// role with `CREATEROLE` and `CREATEDB` that may `SET ROLE` to the roles it
/// creates), and what it tells tenants.
///
/// `Debug` never shows the password.
///
/// ```
/// use stackdock_postgres::PostgresConfig;
/// let cfg = PostgresConfig::from_url("postgres://admin:hunter2@db.internal:5433/postgres?sslmode=disable").unwrap();
/// assert_eq!(cfg.host, "db.internal");
/// assert_eq!(cfg.port, 5433);
/// assert!(!format!("{cfg:?}").contains("hunter2"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct PostgresConfig {
    /// Host name, IP address, or a Unix socket directory (starting with `/`).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Admin role.
    pub user: String,
    /// Admin password, when the server asks for one.
    pub password: Option<SecretString>,
    /// Maintenance database the admin connects to (never a tenant database:
    /// `DROP DATABASE` cannot run from inside its target). Default `postgres`.
    pub dbname: String,
    /// TLS, as libpq's `sslmode` (default `prefer`); see [`stackdock_pg::tls`]
    /// for what each mode checks.
    pub tls: SslMode,
    /// Extra PEM-encoded CA certificates to trust besides the web PKI roots
    /// (libpq's `sslrootcert`); with them `prefer`/`require` check the chain.
    pub ca_certificates_pem: Option<String>,
    /// Most admin connections open at once. Default 8.
    pub max_connections: usize,
    /// Time to open a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Time to wait for a free pooled connection (each create, update or
    /// delete holds one for its duration). Default 60 s.
    pub pool_wait_timeout: Duration,
    /// Time to wait for another create, update or delete of the same
    /// database name to finish. Default 60 s.
    pub lock_timeout: Duration,
    /// Host name given to tenants in their connection details; default [`host`](Self::host).
    pub public_host: Option<String>,
    /// Port given to tenants; default [`port`](Self::port).
    pub public_port: Option<u16>,
    /// `application_name` of the admin sessions. Default `stackdock`.
    pub application_name: String,
    /// When a create finds the database already made by an earlier call
    /// whose reply was lost, set the owner's password again (the spec's, or a
    /// newly generated one) and return it, instead of adopting without a
    /// password. The recovery for callers that let the adapter generate
    /// passwords; callers that supply the password in the spec get it back
    /// without this. Default `false`.
    pub rotate_password_on_adopt: bool,
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
            dbname: "postgres".into(),
            tls: SslMode::default(),
            ca_certificates_pem: None,
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
            pool_wait_timeout: Duration::from_secs(60),
            lock_timeout: Duration::from_secs(60),
            public_host: None,
            public_port: None,
            application_name: "stackdock".into(),
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
    /// files are not read.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`from_env`](Self::from_env) over any lookup (testable without touching the process environment).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let host = get("PGHOST").unwrap_or_else(|| "localhost".into());
        let port = match get("PGPORT") {
            Some(p) => p
                .parse()
                .map_err(|_| Error::config("PGPORT is not a port number"))?,
            None => 5432,
        };
        let user = get("PGUSER")
            .or_else(|| get("USER"))
            .ok_or_else(|| Error::config("neither PGUSER nor USER is set"))?;
        let mut cfg = PostgresConfig::new(host, port, user);
        cfg.password = get("PGPASSWORD").map(SecretString::from);
        if let Some(db) = get("PGDATABASE") {
            cfg.dbname = db;
        }
        if let Some(mode) = get("PGSSLMODE") {
            cfg.tls = SslMode::from_sslmode(&mode)?;
        }
        if let Some(t) = get("PGCONNECT_TIMEOUT") {
            let secs: u64 = t
                .parse()
                .map_err(|_| Error::config("PGCONNECT_TIMEOUT is not a number of seconds"))?;
            cfg.connect_timeout = Duration::from_secs(secs.max(1));
        }
        if let Some(app) = get("PGAPPNAME") {
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
}
