//! Configuration of a Vercel dock: token, team scope, endpoint and limits.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
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
/// ```
/// use stackdock_vercel::VercelConfig;
/// let config = VercelConfig::new("vercel-token").team_id("team_abc");
/// assert!(!format!("{config:?}").contains("vercel-token"));
/// ```
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct VercelConfig {
    /// Access token (`Authorization: Bearer …`).
    #[serde(deserialize_with = "secret_from_string")]
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

fn secret_from_string<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::from)
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
        let token = std::env::var("VERCEL_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::config("VERCEL_TOKEN is not set"))?;
        let mut config = VercelConfig::new(token);
        if let Ok(id) = std::env::var("VERCEL_TEAM_ID") {
            config = config.team_id(id);
        } else if let Ok(slug) = std::env::var("VERCEL_TEAM_SLUG") {
            config = config.team_slug(slug);
        }
        if let Ok(url) = std::env::var("VERCEL_API_URL") {
            config.base_url = url;
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
        let config: VercelConfig =
            serde_json::from_str(r#"{"token":"t","team":{"id":"team_1"}}"#).unwrap();
        assert_eq!(config.team, Some(TeamScope::Id("team_1".into())));
        assert_eq!(config.page_size, 100);
        assert_eq!(config.base_url, DEFAULT_BASE_URL);
    }
}
