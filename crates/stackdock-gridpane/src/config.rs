//! Configuration of a GridPane dock: API base URL, token, paging and throttling.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use stackdock_core::secret::{ExposeSecret, SecretString, REDACTED};
use stackdock_core::{Error, Result};
use stackdock_http::RetryConfig;
use url::Url;

/// The public GridPane API.
pub const DEFAULT_BASE_URL: &str = "https://my.gridpane.com/oauth/api/v1";

/// The API path under a GridPane host (also on agency / white-label hosts).
pub const API_PATH: &str = "/oauth/api/v1";

/// Items asked for per page. GridPane's own default is 10; 100 keeps listings
/// to few requests while staying well under the largest page size seen (500).
pub const DEFAULT_PER_PAGE: u32 = 100;

/// Largest `per_page` accepted by this crate.
pub const MAX_PER_PAGE: u32 = 500;

/// How long to wait after a "Beep, Beep" throttle answer when no `Retry-After`
/// header says otherwise: GridPane's own tooling sleeps 31 seconds.
pub const DEFAULT_THROTTLE_WAIT: Duration = Duration::from_secs(31);

/// Settings of one GridPane account ("dock").
///
/// `Debug` never prints the token. Deserialised from a dock's `settings`
/// (see [`GridPaneFactory`](crate::GridPaneFactory)); the token is never read
/// from there — it is the credential `token` — and an unknown key, a token
/// written inline among them, is refused.
///
/// ```
/// use stackdock_gridpane::GridPaneConfig;
/// let config = GridPaneConfig::new("gp-personal-access-token")
///     .with_agency_host("panel.my-agency.example")
///     .unwrap()
///     .with_dock_id("agency-main");
/// assert_eq!(config.base_url.as_str(), "https://panel.my-agency.example/oauth/api/v1");
/// assert!(!format!("{config:?}").contains("gp-personal-access-token"));
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GridPaneConfig {
    /// API base URL, e.g. `https://my.gridpane.com/oauth/api/v1`. Agency
    /// accounts use their own host with the same path.
    #[serde(default = "default_base_url")]
    pub base_url: Url,
    /// Personal access token (GridPane dashboard → Settings → GridPane API).
    /// Never deserialised: a credential, not a setting.
    #[serde(skip, default = "no_token")]
    pub token: SecretString,
    /// Dock id; defaults to `gridpane`.
    #[serde(default)]
    pub dock_id: Option<String>,
    /// Items per page when listing (1..=500).
    #[serde(default = "default_per_page")]
    pub per_page: u32,
    /// Wait after a throttle answer that carries no `Retry-After` header.
    #[serde(default = "default_throttle_wait", with = "seconds")]
    pub throttle_wait: Duration,
    /// Timeout of one request attempt.
    #[serde(default = "default_request_timeout", with = "seconds")]
    pub request_timeout: Duration,
    /// Retry policy of the shared HTTP layer.
    #[serde(skip, default = "default_retry")]
    pub retry: RetryConfig,
}

/// The token of a config read from settings, until the credential is set
/// (an empty token fails [`GridPaneConfig::validate`]).
fn no_token() -> SecretString {
    SecretString::from(String::new())
}

fn default_base_url() -> Url {
    Url::parse(DEFAULT_BASE_URL).expect("the default base URL is valid")
}
fn default_per_page() -> u32 {
    DEFAULT_PER_PAGE
}
fn default_throttle_wait() -> Duration {
    DEFAULT_THROTTLE_WAIT
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_retry() -> RetryConfig {
    // A throttle wait of 31 s must fit in the total retry budget a few times.
    RetryConfig {
        retry_timeout: Duration::from_secs(180),
        ..RetryConfig::default()
    }
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        if !secs.is_finite() || secs < 0.0 {
            return Err(serde::de::Error::custom(
                "expected a non-negative number of seconds",
            ));
        }
        Ok(Duration::from_secs_f64(secs))
    }
}

impl GridPaneConfig {
    /// A configuration for `my.gridpane.com` with this token and the defaults.
    pub fn new(token: impl Into<String>) -> Self {
        GridPaneConfig {
            base_url: default_base_url(),
            token: SecretString::from(token.into()),
            dock_id: None,
            per_page: DEFAULT_PER_PAGE,
            throttle_wait: DEFAULT_THROTTLE_WAIT,
            request_timeout: default_request_timeout(),
            retry: default_retry(),
        }
    }

    /// Read `GRIDPANE_TOKEN` (required), `GRIDPANE_BASE_URL` or
    /// `GRIDPANE_HOST` (agency host), and `GRIDPANE_DOCK_ID`.
    pub fn from_env() -> Result<Self> {
        Self::from_env_prefixed("GRIDPANE_")
    }

    /// Like [`from_env`](Self::from_env) with another prefix, so that two
    /// docks can be configured side by side: `from_env_prefixed("GRIDPANE_AGENCY_")`
    /// reads `GRIDPANE_AGENCY_TOKEN`, `GRIDPANE_AGENCY_HOST`, … Without a
    /// `<prefix>DOCK_ID` the dock id is the prefix in lower case without its
    /// trailing `_` (`gridpane_agency`).
    pub fn from_env_prefixed(prefix: &str) -> Result<Self> {
        Self::from_lookup(prefix, |key| std::env::var(key).ok())
    }

    /// [`from_env_prefixed`](Self::from_env_prefixed) over any source of variables.
    pub(crate) fn from_lookup(prefix: &str, var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let token_key = format!("{prefix}TOKEN");
        let token = var(&token_key)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::config(format!("{token_key} is not set")))?;
        let mut config = GridPaneConfig::new(token);
        let named = |key: &str| {
            let key = format!("{prefix}{key}");
            move |e: Error| Error::config(format!("{key}: {e}"))
        };
        if let Some(url) = var(&format!("{prefix}BASE_URL")) {
            config = config.with_base_url(&url).map_err(named("BASE_URL"))?;
        } else if let Some(host) = var(&format!("{prefix}HOST")) {
            config = config.with_agency_host(&host).map_err(named("HOST"))?;
        }
        if let Some(dock) = var(&format!("{prefix}DOCK_ID")) {
            config = config.with_dock_id(dock);
        } else if prefix != "GRIDPANE_" {
            config = config.with_dock_id(prefix.trim_end_matches('_').to_ascii_lowercase());
        }
        config.validate()?;
        Ok(config)
    }

    /// Use another API base URL (a test server, or an agency host with its full path).
    pub fn with_base_url(mut self, base_url: &str) -> Result<Self> {
        let trimmed = base_url.trim_end_matches('/');
        self.base_url = Url::parse(trimmed).map_err(|e| {
            Error::config(format!(
                "base_url {:?} is not a URL: {e}",
                stackdock_core::secret::redact_url(base_url)
            ))
        })?;
        self.validate_url()?;
        Ok(self)
    }

    /// Use an agency (white-label) host, e.g. `panel.agency.example`: the base
    /// URL becomes `https://<host>/oauth/api/v1`.
    pub fn with_agency_host(self, host: &str) -> Result<Self> {
        let host = host.trim().trim_end_matches('/');
        let host = host.strip_prefix("https://").unwrap_or(host);
        if host.is_empty() || host.contains(['/', '@', ' ', '?', '#']) {
            return Err(Error::config(format!("{host:?} is not a host name")));
        }
        self.with_base_url(&format!("https://{host}{API_PATH}"))
    }

    /// Set the dock id.
    pub fn with_dock_id(mut self, dock_id: impl Into<String>) -> Self {
        self.dock_id = Some(dock_id.into());
        self
    }

    /// Set the page size used when listing.
    pub fn with_per_page(mut self, per_page: u32) -> Self {
        self.per_page = per_page;
        self
    }

    /// Set the wait after a throttle answer without `Retry-After`.
    pub fn with_throttle_wait(mut self, wait: Duration) -> Self {
        self.throttle_wait = wait;
        self
    }

    /// Set the retry policy.
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Set the per-attempt request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The dock id (`gridpane` unless set).
    pub fn dock_id(&self) -> &str {
        self.dock_id.as_deref().unwrap_or("gridpane")
    }

    /// Check the configuration before any request is made.
    pub fn validate(&self) -> Result<()> {
        self.validate_url()?;
        let token = self.token.expose_secret();
        if token.trim().is_empty() {
            return Err(Error::config("the GridPane token is empty"));
        }
        if token.chars().any(|c| c.is_control() || c == ' ') {
            return Err(Error::config(
                "the GridPane token contains whitespace or control characters",
            ));
        }
        if !(1..=MAX_PER_PAGE).contains(&self.per_page) {
            return Err(Error::config(format!(
                "per_page must be between 1 and {MAX_PER_PAGE}"
            )));
        }
        if let Some(dock) = &self.dock_id {
            stackdock_core::validate::resource_name("dock_id", dock, 128)
                .map_err(|e| Error::config(e.to_string()))?;
        }
        Ok(())
    }

    fn validate_url(&self) -> Result<()> {
        if !matches!(self.base_url.scheme(), "http" | "https") {
            return Err(Error::config("base_url must be an http or https URL"));
        }
        if !self.base_url.username().is_empty() || self.base_url.password().is_some() {
            return Err(Error::config(
                "base_url must not carry credentials: set the token instead",
            ));
        }
        if self.base_url.query().is_some() || self.base_url.fragment().is_some() {
            return Err(Error::config("base_url must not have a query or fragment"));
        }
        Ok(())
    }
}

impl fmt::Debug for GridPaneConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GridPaneConfig")
            .field("base_url", &self.base_url.as_str())
            .field("token", &REDACTED)
            .field("dock_id", &self.dock_id())
            .field("per_page", &self.per_page)
            .field("throttle_wait", &self.throttle_wait)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agency_host_and_base_url() {
        let c = GridPaneConfig::new("t")
            .with_agency_host("https://panel.example.org/")
            .unwrap();
        assert_eq!(
            c.base_url.as_str(),
            "https://panel.example.org/oauth/api/v1"
        );
        let c = GridPaneConfig::new("t")
            .with_base_url("http://127.0.0.1:9/oauth/api/v1/")
            .unwrap();
        assert_eq!(c.base_url.as_str(), "http://127.0.0.1:9/oauth/api/v1");
        assert!(GridPaneConfig::new("t")
            .with_agency_host("evil.example/path")
            .is_err());
        assert!(GridPaneConfig::new("t")
            .with_base_url("https://user:pw@my.gridpane.com/oauth/api/v1")
            .is_err());
    }

    #[test]
    fn validation_and_debug() {
        assert!(GridPaneConfig::new("").validate().is_err());
        assert!(GridPaneConfig::new("a b").validate().is_err());
        assert!(GridPaneConfig::new("tok")
            .with_per_page(0)
            .validate()
            .is_err());
        assert!(GridPaneConfig::new("tok")
            .with_per_page(501)
            .validate()
            .is_err());
        let c = GridPaneConfig::new("super-secret-token");
        c.validate().unwrap();
        assert!(!format!("{c:?}").contains("super-secret-token"));
        assert!(!format!("{c:#?}").contains("super-secret-token"));
        assert_eq!(c.dock_id(), "gridpane");
    }

    #[test]
    fn deserializes_with_defaults_and_never_a_token() {
        let c: GridPaneConfig = serde_json::from_str(r#"{"throttle_wait":2.5}"#).unwrap();
        assert_eq!(c.base_url.as_str(), DEFAULT_BASE_URL);
        assert_eq!(c.throttle_wait, Duration::from_millis(2500));
        assert_eq!(c.per_page, DEFAULT_PER_PAGE);
        // No token yet: the credential is set by the factory.
        assert!(c.validate().is_err());
        let inline = serde_json::from_str::<GridPaneConfig>(r#"{"token":"written-inline"}"#)
            .expect_err("a token among the settings is refused");
        assert!(inline.to_string().contains("token"), "{inline}");
        assert!(!inline.to_string().contains("written-inline"), "{inline}");
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
            ("GRIDPANE_TOKEN", "main-token"),
            ("GRIDPANE_AGENCY_TOKEN", "agency-token"),
            ("GRIDPANE_AGENCY_HOST", "panel.agency.example"),
        ]);
        let main = GridPaneConfig::from_lookup("GRIDPANE_", &env).unwrap();
        assert_eq!(main.dock_id(), "gridpane");
        assert_eq!(main.base_url.as_str(), DEFAULT_BASE_URL);
        let agency = GridPaneConfig::from_lookup("GRIDPANE_AGENCY_", &env).unwrap();
        assert_eq!(agency.dock_id(), "gridpane_agency");
        assert_eq!(
            agency.base_url.as_str(),
            "https://panel.agency.example/oauth/api/v1"
        );
        assert_eq!(agency.token.expose_secret(), "agency-token");
        let e = GridPaneConfig::from_lookup("GRIDPANE_EU_", &env).unwrap_err();
        assert!(e.to_string().contains("GRIDPANE_EU_TOKEN"), "{e}");
        let bad = vars(&[("GP_TOKEN", "t"), ("GP_HOST", "evil.example/path")]);
        let e = GridPaneConfig::from_lookup("GP_", &bad).unwrap_err();
        assert!(e.to_string().contains("GP_HOST"), "{e}");
    }
}
