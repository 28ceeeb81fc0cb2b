//! Configuration of the Stalwart backend.

use std::fmt;

use stackdock_core::{Error, Result};
use stackdock_http::{Auth, HttpConfig};

use crate::hash::{PasswordHasher, PasswordScheme, DEFAULT_BCRYPT_COST};
use crate::model::Scope;

/// How to reach a Stalwart (0.16+) server's JMAP management API.
///
/// ```
/// use stackdock_email::stalwart::StalwartConfig;
/// let config = StalwartConfig::new("https://mail.example.com", "admin", "hunter2").unwrap();
/// assert!(!format!("{config:?}").contains("hunter2"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct StalwartConfig {
    /// Base URL, credentials, retries and time-outs (the shared HTTP layer).
    pub http: HttpConfig,
    /// Restrict the adapter to one tenant (recorded in the account's description).
    pub tenant: Option<String>,
    /// Scheme of the hashes sent as account passwords (never plaintext).
    pub password_scheme: PasswordScheme,
    /// bcrypt cost for `BLF-CRYPT`.
    pub bcrypt_cost: u32,
}

impl fmt::Debug for StalwartConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StalwartConfig")
            .field("http", &self.http)
            .field("tenant", &self.tenant)
            .field("password_scheme", &self.password_scheme)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .finish()
    }
}

impl StalwartConfig {
    /// Basic authentication as an administrator.
    pub fn new(
        base_url: &str,
        admin: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self> {
        Ok(Self::with_http(
            HttpConfig::parse(base_url)?.with_auth(Auth::basic(admin, password)),
        ))
    }

    /// A bearer token (OAuth token or API key).
    pub fn bearer(base_url: &str, token: impl Into<String>) -> Result<Self> {
        Ok(Self::with_http(
            HttpConfig::parse(base_url)?.with_auth(Auth::bearer(token)),
        ))
    }

    /// From a prepared HTTP configuration.
    pub fn with_http(http: HttpConfig) -> Self {
        StalwartConfig {
            http,
            tenant: None,
            password_scheme: PasswordScheme::default(),
            bcrypt_cost: DEFAULT_BCRYPT_COST,
        }
    }

    /// From the environment: `STACKDOCK_STALWART_URL` and either
    /// `STACKDOCK_STALWART_TOKEN` or `STACKDOCK_STALWART_USER` + `STACKDOCK_STALWART_PASSWORD`.
    pub fn from_env() -> Result<Self> {
        let var = |k: &str| std::env::var(k).ok();
        let url = var("STACKDOCK_STALWART_URL")
            .ok_or_else(|| Error::config("STACKDOCK_STALWART_URL is not set"))?;
        let config = match (
            var("STACKDOCK_STALWART_TOKEN"),
            var("STACKDOCK_STALWART_USER"),
            var("STACKDOCK_STALWART_PASSWORD"),
        ) {
            (Some(token), _, _) => Self::bearer(&url, token)?,
            (None, Some(user), Some(pw)) => Self::new(&url, user, pw)?,
            _ => {
                return Err(Error::config(
                    "set STACKDOCK_STALWART_TOKEN or STACKDOCK_STALWART_USER and _PASSWORD",
                ))
            }
        };
        let config = match var("STACKDOCK_STALWART_TENANT") {
            Some(t) => config.with_tenant(t),
            None => config,
        };
        config.validate()?;
        Ok(config)
    }

    /// Scope the adapter to one tenant.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Hash passwords with `scheme`.
    pub fn with_password_scheme(mut self, scheme: PasswordScheme) -> Self {
        self.password_scheme = scheme;
        self
    }

    /// bcrypt cost.
    pub fn with_bcrypt_cost(mut self, cost: u32) -> Self {
        self.bcrypt_cost = cost;
        self
    }

    /// Check every field.
    pub fn validate(&self) -> Result<()> {
        self.http.validate()?;
        self.scope()?;
        self.hasher()?;
        Ok(())
    }

    pub(crate) fn scope(&self) -> Result<Scope> {
        match &self.tenant {
            None => Ok(Scope::All),
            Some(t) => {
                stackdock_core::validate::label("tenant", "tenant", t).map_err(|_| {
                    Error::config("tenant must be 1-63 bytes of letters, digits, '.', '_' or '-'")
                })?;
                Scope::tenant(t.clone())
            }
        }
    }

    pub(crate) fn hasher(&self) -> Result<PasswordHasher> {
        PasswordHasher::new(self.password_scheme).with_bcrypt_cost(self.bcrypt_cost)
    }
}
