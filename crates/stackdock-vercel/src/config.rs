//! Configuration of a Vercel dock: token, team scope, endpoint and limits.

use serde::Deserialize;
use stackdock_core::{Error, Result};
use stackdock_http::{HttpConfig, Paging, RestApi, RestConfig, RetryConfig};

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

/// Vercel's REST API as the kit sees it: bearer token, cursor paging
/// (`limit` and `until`; each listing names its items), pages of at most 100.
pub const API: RestApi = RestApi {
    name: "Vercel",
    base_url: DEFAULT_BASE_URL,
    env_prefix: "VERCEL_",
    dock_id: crate::mapping::PROVIDER_ID,
    default_page_size: MAX_PAGE_SIZE,
    max_page_size: MAX_PAGE_SIZE,
    min_page_size: 1,
    envelope: "",
    paging: until("/records"),
    check_path: "/v2/user",
};

/// Cursor paging of a listing whose items are at `items`, continued with
/// `until` (most listings; the projects list continues with `from`).
pub const fn until(items: &'static str) -> Paging {
    Paging::Cursor {
        cursor: "until",
        limit: "limit",
        items,
        next: "/pagination/next",
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VercelConfig {
    /// Token (`Authorization: Bearer …`), endpoint (default
    /// [`DEFAULT_BASE_URL`]), page size (1..=100, default 100), concurrency,
    /// timeout, retries and dock id (default `vercel`).
    #[serde(flatten)]
    pub rest: RestConfig,
    /// Team to act on; the personal account when `None`.
    #[serde(default)]
    pub team: Option<TeamScope>,
}

impl VercelConfig {
    /// A configuration for the personal account of `token`'s owner.
    pub fn new(token: impl Into<String>) -> Self {
        let rest = RestConfig::new(token);
        VercelConfig { rest, team: None }
    }

    /// Read `VERCEL_TOKEN` (required), `VERCEL_TEAM_ID` or `VERCEL_TEAM_SLUG`,
    /// and `VERCEL_API_URL`.
    pub fn from_env() -> Result<Self> {
        Self::from_env_prefixed(API.env_prefix)
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
        let rest = RestConfig::from_lookup(prefix, &var)?;
        let config = VercelConfig { rest, team: None };
        Ok(
            match (
                var(&format!("{prefix}TEAM_ID")),
                var(&format!("{prefix}TEAM_SLUG")),
            ) {
                (Some(id), _) => config.team_id(id),
                (None, Some(slug)) => config.team_slug(slug),
                (None, None) => config,
            },
        )
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
        self.rest = self.rest.base_url(url);
        self
    }

    /// Items per page when listing (1..=100).
    pub fn page_size(mut self, size: u32) -> Self {
        self.rest = self.rest.page_size(size);
        self
    }

    /// Concurrent in-flight requests.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.rest = self.rest.max_concurrency(n);
        self
    }

    /// Retry policy.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.rest = self.rest.retry(retry);
        self
    }

    /// Dock id reported in resource references.
    pub fn dock_id(mut self, dock_id: impl Into<String>) -> Self {
        self.rest = self.rest.dock_id(dock_id);
        self
    }

    /// Check the configuration and build the shared HTTP layer's
    /// configuration: the kit's, with the team on every call.
    pub fn http_config(&self) -> Result<HttpConfig> {
        if !(1..=MAX_PAGE_SIZE).contains(&self.rest.page_size.unwrap_or(MAX_PAGE_SIZE)) {
            let e = format!("page_size must be between 1 and {MAX_PAGE_SIZE}");
            return Err(Error::config(e));
        }
        let http = self.rest.http_config(&API)?;
        let Some(team) = &self.team else {
            return Ok(http);
        };
        let (key, value) = team.query_pair();
        let safe = |b: u8| b.is_ascii_alphanumeric() || b"-_".contains(&b);
        if value.is_empty() || !value.bytes().all(safe) {
            let e = "team id or slug must be non-empty [A-Za-z0-9_-]";
            return Err(Error::config(e));
        }
        Ok(http.with_default_query(key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackdock_core::secret::ExposeSecret;

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
        assert_eq!(config.rest.page_size.unwrap_or(API.default_page_size), 100);
        assert_eq!(
            config.rest.base_url.as_deref().unwrap_or(API.base_url),
            DEFAULT_BASE_URL
        );
        assert!(config.rest.token.expose_secret().is_empty());
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
        assert_eq!(eu.rest.token.expose_secret(), "tok-eu");
        assert_eq!(eu.team, Some(TeamScope::Slug("acme-eu".into())));
        assert_eq!(eu.rest.dock_id.as_deref(), Some("vercel_eu"));
        let default = VercelConfig::from_lookup("VERCEL_", vars).unwrap();
        assert_eq!(default.rest.token.expose_secret(), "tok-default");
        assert_eq!(default.rest.dock_id.as_deref(), Some("vercel"));
        let err = VercelConfig::from_lookup("VERCEL_US_", vars).unwrap_err();
        assert!(err.to_string().contains("VERCEL_US_TOKEN"), "{err}");
    }
}
