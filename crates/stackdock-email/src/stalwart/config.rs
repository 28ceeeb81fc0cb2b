//! Configuration of the Stalwart backend.

use std::fmt;

use serde::Deserialize;

use stackdock_core::{Error, Result};
use stackdock_http::{Auth, HttpConfig};

use crate::hash::{PasswordHasher, PasswordScheme, DEFAULT_BCRYPT_COST};
use crate::model::Scope;

/// The prefix of [`StalwartConfig::from_env`]'s variables.
pub const DEFAULT_ENV_PREFIX: &str = "STACKDOCK_STALWART_";

/// A Stalwart dock's `settings` (see [`StalwartFactory`](crate::StalwartFactory)):
/// everything but the secret, which is the credential `token` (bearer) or,
/// with `user` set, the credential `password` (basic authentication).
/// An unknown key — a secret written inline — is refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StalwartSettings {
    /// Base URL of the server, e.g. `https://mail.example.com`.
    pub base_url: String,
    /// Administrator for basic authentication; without it the credential
    /// `token` is sent as a bearer token.
    #[serde(default)]
    pub user: Option<String>,
    /// Restrict the dock to one tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Scheme of the hashes sent as account passwords.
    #[serde(default)]
    pub password_scheme: PasswordScheme,
    /// bcrypt cost for `BLF-CRYPT`.
    #[serde(default = "default_bcrypt_cost")]
    pub bcrypt_cost: u32,
}

fn default_bcrypt_cost() -> u32 {
    DEFAULT_BCRYPT_COST
}

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
    /// `STACKDOCK_STALWART_TOKEN` or `STACKDOCK_STALWART_USER` + `STACKDOCK_STALWART_PASSWORD`
    /// (and `STACKDOCK_STALWART_TENANT`). The same as
    /// `from_env_prefixed("STACKDOCK_STALWART_")`.
    pub fn from_env() -> Result<Self> {
        Self::from_env_prefixed(DEFAULT_ENV_PREFIX)
    }

    /// Like [`from_env`](Self::from_env) with another prefix, so that two
    /// servers can be configured side by side: `from_env_prefixed("STALWART_EU_")`
    /// reads `STALWART_EU_URL`, `STALWART_EU_TOKEN`, … Errors name the
    /// variable, never its value.
    pub fn from_env_prefixed(prefix: &str) -> Result<Self> {
        Self::from_lookup(prefix, |key| std::env::var(key).ok())
    }

    /// [`from_env_prefixed`](Self::from_env_prefixed) over any source of variables.
    pub(crate) fn from_lookup(prefix: &str, var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let key = |name: &str| format!("{prefix}{name}");
        let url =
            var(&key("URL")).ok_or_else(|| Error::config(format!("{} is not set", key("URL"))))?;
        let named = |e: Error| Error::config(format!("{}: {e}", key("URL")));
        let config = match (var(&key("TOKEN")), var(&key("USER")), var(&key("PASSWORD"))) {
            (Some(token), _, _) => Self::bearer(&url, token).map_err(named)?,
            (None, Some(user), Some(pw)) => Self::new(&url, user, pw).map_err(named)?,
            _ => {
                return Err(Error::config(format!(
                    "set {} or {} and {}",
                    key("TOKEN"),
                    key("USER"),
                    key("PASSWORD")
                )))
            }
        };
        let config = match var(&key("TENANT")) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
            ("STACKDOCK_STALWART_URL", "https://mail.example.com"),
            ("STACKDOCK_STALWART_TOKEN", "main-token"),
            ("STALWART_EU_URL", "https://mail.eu.example.com"),
            ("STALWART_EU_USER", "admin"),
            ("STALWART_EU_PASSWORD", "eu-password"),
            ("STALWART_EU_TENANT", "acme"),
            ("STALWART_BAD_URL", "not a url"),
            ("STALWART_BAD_TOKEN", "t"),
        ]);
        let main = StalwartConfig::from_lookup(DEFAULT_ENV_PREFIX, &env).unwrap();
        assert_eq!(main.tenant, None);
        let eu = StalwartConfig::from_lookup("STALWART_EU_", &env).unwrap();
        assert_eq!(eu.tenant.as_deref(), Some("acme"));
        assert!(!format!("{eu:?}").contains("eu-password"));
        let e = StalwartConfig::from_lookup("STALWART_US_", &env).unwrap_err();
        assert!(e.to_string().contains("STALWART_US_URL"), "{e}");
        let e = StalwartConfig::from_lookup("STALWART_BAD_", &env).unwrap_err();
        assert!(e.to_string().contains("STALWART_BAD_URL"), "{e}");
    }
}
