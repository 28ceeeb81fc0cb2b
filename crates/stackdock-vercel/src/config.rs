//! Configuration of a Vercel dock: token, team scope, endpoint and limits.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use stackdock_core::secret::{ExposeSecret, SecretString, REDACTED};
use stackdock_core::{Error, Result};
use stackdock_http::{Auth, HttpConfig, RetryConfig};

/// Vercel's public API endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.vercel.com";

/// Largest page Vercel serves (`limit` above 100 is rejected).
pub const MAX_PAGE_SIZE: u32 = 100;

/// Which team the calls act on. Without one, Vercel uses the token owner's
/// personal account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamScope {
    /// `teamId=team_…` on every call.
    Id(String),
    /// `slug=<team-slug>` on every call.
    Slug(String),
}

impl TeamScope {
    /// The query pair Vercel expects.
    pub fn query_pair(&self) -> (&'static str, &str) {
        match self {
            TeamScope::Id(id) => ("teamId", id),
            TeamScope::Slug(slug) => ("slug", slug),
        }
    }
}

/// How to reach one Vercel account or team.
///
/// Deserialised from a dock's `settings`; the token is never read from
/// there (it is a credential: `credentials.token = "env:…"`), and an unknown
/// key — a token written inline among them — is refused.
///
/// ```
/// use stackdock_vercel::VercelConfig;
/// let config = VercelConfig::new("vercel-token").team_id("team_abc");
/// assert!(!format!("{config:?}").contains("vercel-token"));
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VercelConfig {
    /// Access token (`Authorization: Bearer …`). Never deserialised.
    #[serde(skip, default = "no_token")]
    pub token: SecretString,
    /// Team to act on; the personal account when `None`.
    #[serde(default)]
    pub team: Option<TeamScope>,
    /// API endpoint (default [`DEFAULT_BASE_URL`]); tests point it at a fake server.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Items per page when listing (1..=100, default 100).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Concurrent in-flight requests (default 16).
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
    /// Per-attempt request timeout (default 30 s).
    #[serde(default = "default_timeout", with = "duration_secs")]
    pub request_timeout: Duration,
    /// Retry policy of the shared HTTP layer.
    #[serde(skip)]
    pub retry: RetryConfig,
    /// Dock id reported in resource references (default `vercel`).
    #[serde(default = "default_dock_id")]
    pub dock_id: String,
}

/// The token of a config read from settings, until the credential is set.
fn no_token() -> SecretString {
    SecretString::from(String::new())
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}
fn default_page_size() -> u32 {
    MAX_PAGE_SIZE
}
fn default_concurrency() -> usize {
    16
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_dock_id() -> String {
    "vercel".to_owned()
}

mod duration_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        f64::deserialize(d)
            .and_then(|s| Duration::try_from_secs_f64(s).map_err(serde::de::Error::custom))
    }
}

impl VercelConfig {
    /// A configuration for the personal account of `token`'s owner.
    pub fn new(token: impl Into<String>) -> Self {
        VercelConfig {
            token: SecretString::from(token.into()),
            team: None,
            base_url: default_base_url(),
            page_size: default_page_size(),
            max_concurrency: default_concurrency(),
            request_timeout: default_timeout(),
            retry: RetryConfig::default(),
            dock_id: default_dock_id(),
        }
    }

    /// Read `VERCEL_TOKEN` (required), `VERCEL_TEAM_ID` or `VERCEL_TEAM_SLUG`,
    /// and `VERCEL_API_URL`.
    pub fn from_env() -> Result<Self> {
        Self::from_env_prefixed("VERCEL_")
    }

    /// Like [`from_env`](Self::from_env) with another prefix, so that two
    /// docks can be configured side by side: `from_env_prefixed("VERCEL_EU_")`
    /// reads `VERCEL_EU_TOKEN`, `VERCEL_EU_TEAM_ID`, … The dock id is the
    /// prefix in lower case without its trailing `_` (`vercel_eu`).
    pub fn from_env_prefixed(prefix: &str) -> Result<Self> {
        Self::from_lookup(prefix, |key| std::env::var(key).ok())
    }

    /// [`from_env_prefixed`](Self::from_env_prefixed) over any source of variables.
    pub(crate) fn from_lookup(prefix: &str, var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let token_key = format!("{prefix}TOKEN");
        let token = var(&token_key)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::config(format!("{token_key} is not set")))?;
        let mut config = VercelConfig::new(token);
        if let Some(id) = var(&format!("{prefix}TEAM_ID")) {
            config = config.team_id(id);
        } else if let Some(slug) = var(&format!("{prefix}TEAM_SLUG")) {
            config = config.team_slug(slug);
        }
        if let Some(url) = var(&format!("{prefix}API_URL")) {
            config.base_url = url;
        }
        if prefix != "VERCEL_" {
            config.dock_id = prefix.trim_end_matches('_').to_ascii_lowercase();
        }
        Ok(config)
    }

    /// Act on the team with this id (`team_…`).
    pub fn team_id(mut self, id: impl Into<String>) -> Self {
        self.team = Some(TeamScope::Id(id.into()));
        self
    }

    /// Act on the team with this slug.
    pub fn team_slug(mut self, slug: impl Into<String>) -> Self {
        self.team = Some(TeamScope::Slug(slug.into()));
        self
    }

    /// Use another endpoint (a fake server in tests).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Items per page when listing (clamped to 1..=100).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size;
        self
    }

    /// Concurrent in-flight requests.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n;
        self
    }

    /// Retry policy.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Dock id reported in resource references.
    pub fn dock_id(mut self, dock_id: impl Into<String>) -> Self {
        self.dock_id = dock_id.into();
        self
    }

    /// Check the configuration and build the shared HTTP layer's configuration.
    pub fn http_config(&self) -> Result<HttpConfig> {
        if self.token.expose_secret().trim().is_empty() {
            return Err(Error::config("the Vercel token is empty"));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(Error::config(format!(
                "page_size must be between 1 and {MAX_PAGE_SIZE}"
            )));
        }
        if let Some(team) = &self.team {
            let (_, value) = team.query_pair();
            if value.is_empty()
                || !value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            {
                return Err(Error::config(
                    "team id or slug must be non-empty [A-Za-z0-9_-]",
                ));
            }
        }
        let mut http = HttpConfig::parse(&self.base_url)?
            .with_auth(Auth::Bearer(self.token.clone()))
            .with_retry(self.retry.clone())
            .with_max_concurrency(self.max_concurrency);
        http.request_timeout = self.request_timeout;
        if let Some(team) = &self.team {
            let (key, value) = team.query_pair();
            http = http.with_default_query(key, value);
        }
        http.validate()?;
        Ok(http)
    }
}

impl fmt::Debug for VercelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VercelConfig")
            .field("token", &REDACTED)
            .field("team", &self.team)
            .field(
                "base_url",
                &stackdock_core::secret::redact_url(&self.base_url),
            )
            .field("page_size", &self.page_size)
            .field("max_concurrency", &self.max_concurrency)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field("dock_id", &self.dock_id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_token_and_team_goes_into_every_query() {
        let config = VercelConfig::new("tok-123").team_slug("acme");
        assert!(!format!("{config:?}").contains("tok-123"));
        let http = config.http_config().unwrap();
        assert_eq!(
            http.default_query,
            vec![("slug".to_owned(), "acme".to_owned())]
        );
        assert!(!format!("{http:?}").contains("tok-123"));
    }

    #[test]
    fn rejects_bad_settings() {
        assert!(VercelConfig::new(" ").http_config().is_err());
        assert!(VercelConfig::new("t").page_size(101).http_config().is_err());
        assert!(VercelConfig::new("t")
            .team_id("a&b=c")
            .http_config()
            .is_err());
        assert!(VercelConfig::new("t")
            .base_url("ftp://x")
            .http_config()
            .is_err());
    }

    #[test]
    fn deserializes_with_defaults() {
        let config: VercelConfig = serde_json::from_str(r#"{"team":{"id":"team_1"}}"#).unwrap();
        assert_eq!(config.team, Some(TeamScope::Id("team_1".into())));
        assert_eq!(config.page_size, 100);
        assert_eq!(config.base_url, DEFAULT_BASE_URL);
        assert!(config.token.expose_secret().is_empty());
    }

    #[test]
    fn a_token_in_settings_is_refused() {
        let err = serde_json::from_str::<VercelConfig>(r#"{"token":"t"}"#)
            .expect_err("token is not a setting");
        assert!(err.to_string().contains("token"), "{err}");
    }

    #[test]
    fn prefixed_env_reads_its_own_variables() {
        let vars = |key: &str| match key {
            "VERCEL_EU_TOKEN" => Some("tok-eu".to_owned()),
            "VERCEL_EU_TEAM_SLUG" => Some("acme-eu".to_owned()),
            "VERCEL_TOKEN" => Some("tok-default".to_owned()),
            _ => None,
        };
        let eu = VercelConfig::from_lookup("VERCEL_EU_", vars).unwrap();
        assert_eq!(eu.token.expose_secret(), "tok-eu");
        assert_eq!(eu.team, Some(TeamScope::Slug("acme-eu".into())));
        assert_eq!(eu.dock_id, "vercel_eu");
        let default = VercelConfig::from_lookup("VERCEL_", vars).unwrap();
        assert_eq!(default.token.expose_secret(), "tok-default");
        assert_eq!(default.dock_id, "vercel");
        let err = VercelConfig::from_lookup("VERCEL_US_", vars).unwrap_err();
        assert!(err.to_string().contains("VERCEL_US_TOKEN"), "{err}");
    }
}
