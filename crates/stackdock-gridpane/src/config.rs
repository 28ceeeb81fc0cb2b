//! Configuration of a GridPane dock: API base URL, token, paging and throttling.

use std::time::Duration;

use serde::Deserialize;
use stackdock_core::secret::ExposeSecret;
use stackdock_core::{Error, Result};
use stackdock_http::{Paging, RestApi, RestConfig, RetryConfig};
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

/// GridPane's REST API as the kit sees it: bearer token, Laravel page
/// numbers (`page`, `per_page`), `GET /user` to check the token.
pub const API: RestApi = RestApi {
    name: "GridPane",
    base_url: DEFAULT_BASE_URL,
    env_prefix: "GRIDPANE_",
    dock_id: crate::adapter::PROVIDER_ID,
    default_page_size: DEFAULT_PER_PAGE,
    max_page_size: MAX_PER_PAGE,
    min_page_size: 1,
    envelope: "",
    paging: Paging::Number {
        page: "page",
        per_page: "per_page",
        items: "/data",
        total_pages: "/meta/last_page",
    },
    check_path: "/user",
};

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
/// assert_eq!(config.base_url(), "https://panel.my-agency.example/oauth/api/v1");
/// assert!(!format!("{config:?}").contains("gp-personal-access-token"));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "Settings")]
#[non_exhaustive]
pub struct GridPaneConfig {
    /// Token (a personal access token: GridPane dashboard → Settings →
    /// GridPane API), base URL (default [`DEFAULT_BASE_URL`]; agency accounts
    /// use their own host with the same path), items per page (1..=500,
    /// default [`DEFAULT_PER_PAGE`]), request timeout, retry policy (a total
    /// budget of 180 s, so a 31 s throttle wait fits a few times) and dock id
    /// (default `gridpane`).
    #[serde(flatten)]
    pub rest: RestConfig,
    /// Wait after a throttle answer that carries no `Retry-After` header.
    pub throttle_wait: Duration,
}

/// A dock's settings: the configuration without its token, with GridPane's
/// retry budget (the kit's retry policy is not a setting).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(flatten)]
    rest: RestConfig,
    #[serde(default = "default_throttle_wait", with = "seconds")]
    throttle_wait: Duration,
    /// GridPane's name of the page size (the kit's `page_size` works too).
    #[serde(default)]
    per_page: Option<u32>,
}

impl From<Settings> for GridPaneConfig {
    fn from(settings: Settings) -> Self {
        let retry = GridPaneConfig::new("").rest.retry;
        let page_size = settings.per_page.or(settings.rest.page_size);
        let rest = RestConfig {
            retry,
            page_size,
            ..settings.rest
        };
        let throttle_wait = settings.throttle_wait;
        GridPaneConfig {
            rest,
            throttle_wait,
        }
    }
}

impl Default for GridPaneConfig {
    fn default() -> Self {
        GridPaneConfig::new("")
    }
}

fn default_throttle_wait() -> Duration {
    DEFAULT_THROTTLE_WAIT
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
    /// Settings for the public API with `token` and the defaults.
    pub fn new(token: impl Into<String>) -> Self {
        // A throttle wait of 31 s must fit in the total retry budget a few times.
        let retry = RetryConfig {
            retry_timeout: Duration::from_secs(180),
            ..RetryConfig::default()
        };
        let rest = RestConfig::new(token).retry(retry);
        let throttle_wait = DEFAULT_THROTTLE_WAIT;
        GridPaneConfig {
            rest,
            throttle_wait,
        }
    }

    /// Read `GRIDPANE_TOKEN` (required), and `GRIDPANE_BASE_URL` or
    /// `GRIDPANE_HOST` (an agency host), and `GRIDPANE_DOCK_ID`.
    pub fn from_env() -> Result<Self> {
        Self::from_env_prefixed(API.env_prefix)
    }

    /// Like [`from_env`](Self::from_env) with another prefix, so two docks
    /// can be configured side by side: `from_env_prefixed("GRIDPANE_AGENCY_")`
    /// reads `GRIDPANE_AGENCY_TOKEN`, `GRIDPANE_AGENCY_HOST`, … The dock id is
    /// `<prefix>DOCK_ID`, else the prefix in lower case without its trailing
    /// `_` (`gridpane_agency`).
    pub fn from_env_prefixed(prefix: &str) -> Result<Self> {
        Self::from_lookup(prefix, |key| std::env::var(key).ok())
    }

    pub(crate) fn from_lookup(prefix: &str, var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let rest = RestConfig::from_lookup(prefix, &var)?;
        let mut config = GridPaneConfig::new("");
        config.rest.token = rest.token;
        config.rest.dock_id = rest.dock_id;
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
        }
        config.validate()?;
        Ok(config)
    }

    /// Use another API base URL (trailing `/` removed); it must be http(s)
    /// without credentials, query or fragment.
    pub fn with_base_url(mut self, base_url: &str) -> Result<Self> {
        let trimmed = base_url.trim_end_matches('/');
        let url = Url::parse(trimmed).map_err(|e| {
            let shown = stackdock_core::secret::redact_url(base_url);
            Error::config(format!("base_url {shown:?} is not a URL: {e}"))
        })?;
        validate_url(&url)?;
        self.rest.base_url = Some(url.as_str().trim_end_matches('/').to_owned());
        Ok(self)
    }

    /// Use an agency (white-label) host: `https://<host>/oauth/api/v1`.
    pub fn with_agency_host(self, host: &str) -> Result<Self> {
        let host = host.trim().trim_end_matches('/');
        let host = host.strip_prefix("https://").unwrap_or(host);
        if host.is_empty() || host.contains(['/', '@', ' ', '?', '#']) {
            return Err(Error::config(format!("{host:?} is not a host name")));
        }
        self.with_base_url(&format!("https://{host}{API_PATH}"))
    }

    /// Dock id put into resource references.
    pub fn with_dock_id(mut self, dock_id: impl Into<String>) -> Self {
        self.rest.dock_id = Some(dock_id.into());
        self
    }

    /// Items per page when listing (1..=500).
    pub fn with_per_page(mut self, per_page: u32) -> Self {
        self.rest.page_size = Some(per_page);
        self
    }

    /// Wait after a throttle answer without `Retry-After`.
    pub fn with_throttle_wait(mut self, wait: Duration) -> Self {
        self.throttle_wait = wait;
        self
    }

    /// Retry policy of the shared HTTP layer.
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.rest.retry = retry;
        self
    }

    /// Timeout of one request attempt.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.rest.request_timeout = timeout;
        self
    }

    /// The dock id (`gridpane` unless configured).
    pub fn dock_id(&self) -> &str {
        self.rest.dock_id.as_deref().unwrap_or(API.dock_id)
    }

    /// The API base URL requests go to.
    pub fn base_url(&self) -> &str {
        self.rest.base_url.as_deref().unwrap_or(API.base_url)
    }

    /// Items per page when listing.
    pub fn per_page(&self) -> u32 {
        self.rest.page_size.unwrap_or(DEFAULT_PER_PAGE)
    }

    /// Check the settings: an http(s) base URL without credentials, a token
    /// without whitespace, `per_page` in 1..=500, a valid dock id.
    pub fn validate(&self) -> Result<()> {
        let url = Url::parse(self.base_url()).map_err(|e| Error::config(e.to_string()))?;
        validate_url(&url)?;
        let token = self.rest.token.expose_secret();
        if token.trim().is_empty() {
            return Err(Error::config("the GridPane token is empty"));
        }
        if token.chars().any(|c| c.is_control() || c == ' ') {
            return Err(Error::config(
                "the GridPane token contains whitespace or control characters",
            ));
        }
        if !(1..=MAX_PER_PAGE).contains(&self.per_page()) {
            let e = format!("per_page must be between 1 and {MAX_PER_PAGE}");
            return Err(Error::config(e));
        }
        if let Some(dock) = &self.rest.dock_id {
            stackdock_core::validate::resource_name("dock_id", dock, 128)
                .map_err(|e| Error::config(e.to_string()))?;
        }
        Ok(())
    }
}

fn validate_url(url: &Url) -> Result<()> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::config("base_url must be an http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config(
            "base_url must not carry credentials: set the token instead",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config("base_url must not have a query or fragment"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agency_host_and_base_url() {
        let c = GridPaneConfig::new("t")
            .with_agency_host("https://panel.example.org/")
            .unwrap();
        assert_eq!(c.base_url(), "https://panel.example.org/oauth/api/v1");
        let c = GridPaneConfig::new("t")
            .with_base_url("http://127.0.0.1:9/oauth/api/v1/")
            .unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:9/oauth/api/v1");
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
        assert_eq!(c.base_url(), DEFAULT_BASE_URL);
        assert_eq!(c.throttle_wait, Duration::from_millis(2500));
        assert_eq!(c.per_page(), DEFAULT_PER_PAGE);
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
        assert_eq!(main.base_url(), DEFAULT_BASE_URL);
        let agency = GridPaneConfig::from_lookup("GRIDPANE_AGENCY_", &env).unwrap();
        assert_eq!(agency.dock_id(), "gridpane_agency");
        assert_eq!(
            agency.base_url(),
            "https://panel.agency.example/oauth/api/v1"
        );
        assert_eq!(agency.rest.token.expose_secret(), "agency-token");
        let e = GridPaneConfig::from_lookup("GRIDPANE_EU_", &env).unwrap_err();
        assert!(e.to_string().contains("GRIDPANE_EU_TOKEN"), "{e}");
        let bad = vars(&[("GP_TOKEN", "t"), ("GP_HOST", "evil.example/path")]);
        let e = GridPaneConfig::from_lookup("GP_", &bad).unwrap_err();
        assert!(e.to_string().contains("GP_HOST"), "{e}");
    }
}
