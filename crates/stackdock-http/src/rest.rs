//! What every REST provider crate used to copy: its configuration, a client
//! that knows the dock, page-number and cursor paging mapped to StackDock's
//! cursors, and the `NotFound` helpers.
//!
//! A provider describes its API once in a [`RestApi`] constant, flattens a
//! [`RestConfig`] into its own configuration and builds a [`RestClient`]:
//!
//! ```
//! use stackdock_http::{Paging, RestApi, RestClient, RestConfig, StatusErrorMapper};
//!
//! const EXAMPLE: RestApi = RestApi {
//!     name: "Example",
//!     base_url: "https://api.example.com/v1",
//!     env_prefix: "EXAMPLE_",
//!     dock_id: "example",
//!     default_page_size: 50,
//!     max_page_size: 100,
//!     min_page_size: 1,
//!     envelope: "",
//!     paging: Paging::pages("/items", "/pages"),
//!     check_path: "/me",
//! };
//!
//! let config = RestConfig::new("example-token").page_size(500);
//! assert!(!format!("{config:?}").contains("example-token"));
//! let client = RestClient::new(&config, &EXAMPLE, StatusErrorMapper).unwrap();
//! assert_eq!(client.dock_id(), "example");
//! assert_eq!(client.page_size(None), 100); // clamped to the API's maximum
//! assert_eq!(client.page_size(Some(7)), 7);
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use stackdock_core::factory::{Credentials, DockConfig};
use stackdock_core::kit::KitProvider;
use stackdock_core::secret::{redact_url, ExposeSecret, SecretString, REDACTED};
use stackdock_core::{
    Arguments, DockAdapter, Error, ListOptions, Page, ProviderInfo, RateLimit, Result,
};

use crate::clock::Clock;
use crate::config::{Auth, HttpConfig, RetryConfig};
use crate::error::ErrorMapper;
use crate::request::Request;
use crate::HttpClient;

/// A provider's API, described once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestApi {
    /// Human name for messages (`Cloudflare`).
    pub name: &'static str,
    /// The public endpoint.
    pub base_url: &'static str,
    /// Prefix of the environment variables [`RestConfig::from_env`] reads by default.
    pub env_prefix: &'static str,
    /// Dock id when none is configured.
    pub dock_id: &'static str,
    /// Items per page when the caller does not say.
    pub default_page_size: u32,
    /// The largest page the API serves.
    pub max_page_size: u32,
    /// The smallest page the API serves (larger requests are sent instead).
    pub min_page_size: u32,
    /// JSON pointer of the object in a single-object answer (`/result` in
    /// `{"result": {…}}`; `""` for the whole body).
    pub envelope: &'static str,
    /// How listings page.
    pub paging: Paging,
    /// A cheap `GET` that succeeds only with valid credentials (the
    /// adapter's `check_credentials`).
    pub check_path: &'static str,
}

/// How an API's listings page; [`RestClient::page`] maps either to
/// StackDock cursors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `?<page>=N&<per_page>=M`, the page count at a JSON pointer of the
    /// answer; the cursor is the page number.
    Number {
        /// Query key of the 1-based page number.
        page: &'static str,
        /// Query key of the page size.
        per_page: &'static str,
        /// JSON pointer of the items.
        items: &'static str,
        /// JSON pointer of the number of pages.
        total_pages: &'static str,
    },
    /// `?<cursor>=C&<limit>=M`, the next cursor (string or number, null at
    /// the end) at a JSON pointer; the cursor is passed through.
    Cursor {
        /// Query key of the cursor.
        cursor: &'static str,
        /// Query key of the page size.
        limit: &'static str,
        /// JSON pointer of the items.
        items: &'static str,
        /// JSON pointer of the next cursor.
        next: &'static str,
    },
}

impl Paging {
    /// [`Paging::Number`] with the usual `page` and `per_page` query keys.
    pub const fn pages(items: &'static str, total_pages: &'static str) -> Self {
        Paging::Number {
            page: "page",
            per_page: "per_page",
            items,
            total_pages,
        }
    }
}

/// How the token travels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthStyle {
    /// `Authorization: Bearer <token>`.
    #[default]
    Bearer,
    /// `<name>: <token>`, e.g. `X-Auth-Token`.
    Header(String),
}

/// The common part of a REST provider's configuration; flatten it into the
/// provider's own (`#[serde(flatten)] rest: RestConfig`).
///
/// The token is a credential: never deserialised from settings, never
/// printed by `Debug`.
#[derive(Clone, Deserialize)]
pub struct RestConfig {
    /// The API token. Never deserialised.
    #[serde(skip, default = "no_token")]
    pub token: SecretString,
    /// How the token is sent (default bearer).
    #[serde(default)]
    pub auth: AuthStyle,
    /// API endpoint; the provider's [`RestApi::base_url`] when `None`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Items per page when listing; the API's default when `None`.
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Concurrent in-flight requests (default 16).
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
    /// Per-attempt request timeout in seconds (default 30).
    #[serde(default = "default_timeout", with = "duration_secs")]
    pub request_timeout: Duration,
    /// Retry policy of the HTTP layer.
    #[serde(skip)]
    pub retry: RetryConfig,
    /// Dock id in resource references; the provider's [`RestApi::dock_id`] when `None`.
    #[serde(default)]
    pub dock_id: Option<String>,
    /// The clock of retry waits (tests inject a [`ManualClock`](crate::ManualClock)).
    #[serde(skip)]
    pub clock: Option<Arc<dyn Clock>>,
}

fn no_token() -> SecretString {
    SecretString::from(String::new())
}
fn default_concurrency() -> usize {
    16
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

mod duration_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        f64::deserialize(d)
            .and_then(|s| Duration::try_from_secs_f64(s).map_err(serde::de::Error::custom))
    }
}

/// No token (a dock built from settings gets it from its credentials).
impl Default for RestConfig {
    fn default() -> Self {
        RestConfig::new("")
    }
}

impl RestConfig {
    /// Defaults everywhere, with `token`.
    pub fn new(token: impl Into<String>) -> Self {
        RestConfig {
            token: SecretString::from(token.into()),
            auth: AuthStyle::Bearer,
            base_url: None,
            page_size: None,
            max_concurrency: default_concurrency(),
            request_timeout: default_timeout(),
            retry: RetryConfig::default(),
            dock_id: None,
            clock: None,
        }
    }

    /// Read `<prefix>TOKEN` (required) and `<prefix>API_URL`; the dock id is
    /// the prefix in lower case without its trailing `_`, so two docks can be
    /// configured side by side (`CLOUDFLARE_EU_TOKEN` → dock `cloudflare_eu`).
    pub fn from_env(prefix: &str) -> Result<Self> {
        Self::from_lookup(prefix, |key| std::env::var(key).ok())
    }

    /// [`RestConfig::from_env`] over any source of variables.
    pub fn from_lookup(prefix: &str, var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let key = format!("{prefix}TOKEN");
        let token = var(&key)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| Error::config(format!("{key} is not set")))?;
        let mut config = RestConfig::new(token);
        config.base_url = var(&format!("{prefix}API_URL"));
        config.dock_id = Some(prefix.trim_end_matches('_').to_ascii_lowercase());
        Ok(config)
    }

    /// Use another endpoint (a fake server in tests).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Items per page when listing (clamped to the API's maximum).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size);
        self
    }

    /// Retry policy.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Concurrent in-flight requests.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n;
        self
    }

    /// Dock id in resource references.
    pub fn dock_id(mut self, dock_id: impl Into<String>) -> Self {
        self.dock_id = Some(dock_id.into());
        self
    }

    /// The clock of retry waits.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Check the configuration and build the HTTP layer's configuration.
    pub fn http_config(&self, api: &RestApi) -> Result<HttpConfig> {
        if self.token.expose_secret().trim().is_empty() {
            return Err(Error::config(format!("the {} token is empty", api.name)));
        }
        if self.page_size == Some(0) {
            return Err(Error::config("page_size must be at least 1"));
        }
        let auth = match &self.auth {
            AuthStyle::Bearer => Auth::Bearer(self.token.clone()),
            AuthStyle::Header(name) => Auth::Header {
                name: name.clone(),
                value: self.token.clone(),
            },
        };
        let mut http = HttpConfig::parse(self.base_url.as_deref().unwrap_or(api.base_url))?
            .with_auth(auth)
            .with_retry(self.retry.clone())
            .with_max_concurrency(self.max_concurrency);
        http.request_timeout = self.request_timeout;
        http.validate()?;
        Ok(http)
    }
}

impl fmt::Debug for RestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestConfig")
            .field("token", &REDACTED)
            .field("auth", &self.auth)
            .field("base_url", &self.base_url.as_deref().map(redact_url))
            .field("page_size", &self.page_size)
            .field("max_concurrency", &self.max_concurrency)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field("dock_id", &self.dock_id)
            .finish()
    }
}

/// An [`HttpClient`] that knows its dock, endpoint and paging limits. Cheap
/// to clone.
#[derive(Clone)]
pub struct RestClient {
    http: HttpClient,
    dock_id: String,
    endpoint: String,
    default_page_size: u32,
    api: RestApi,
}

impl fmt::Debug for RestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestClient")
            .field("dock_id", &self.dock_id)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl RestClient {
    /// A client for `config` on `api`, mapping errors with `mapper`.
    pub fn new(config: &RestConfig, api: &RestApi, mapper: impl ErrorMapper) -> Result<Self> {
        let http = HttpClient::new(config.http_config(api)?, mapper)?;
        Ok(Self::from_http(config, api, http))
    }

    /// A client over an HTTP layer the provider built itself (from
    /// [`RestConfig::http_config`] plus what its API needs on every call: a
    /// default query, a user agent, other timeouts). The dock id, page size
    /// and clock come from `config`.
    ///
    /// ```
    /// use stackdock_http::{HttpClient, Paging, RestApi, RestClient, RestConfig, StatusErrorMapper};
    /// # const API: RestApi = RestApi { name: "Example", base_url: "https://api.example.com",
    /// #     env_prefix: "EXAMPLE_", dock_id: "example", default_page_size: 20, max_page_size: 100,
    /// #     min_page_size: 1, envelope: "", paging: Paging::pages("/items", "/pages"), check_path: "/me" };
    /// let config = RestConfig::new("t");
    /// let http = config.http_config(&API).unwrap().with_default_query("team", "acme");
    /// let client = RestClient::from_http(&config, &API, HttpClient::new(http, StatusErrorMapper).unwrap());
    /// assert_eq!(client.page_size(None), 20);
    /// ```
    pub fn from_http(config: &RestConfig, api: &RestApi, mut http: HttpClient) -> Self {
        if let Some(clock) = &config.clock {
            http = http.with_clock(clock.clone());
        }
        let max = api.max_page_size.max(1);
        RestClient {
            // As configured (a parsed URL would gain a trailing `/`).
            endpoint: redact_url(config.base_url.as_deref().unwrap_or(api.base_url)),
            http,
            dock_id: config.dock_id.clone().unwrap_or_else(|| api.dock_id.into()),
            default_page_size: config
                .page_size
                .unwrap_or(api.default_page_size)
                .clamp(1, max),
            api: *api,
        }
    }

    /// Use another clock for retry waits (tests use a [`ManualClock`](crate::ManualClock)).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.http = self.http.with_clock(clock);
        self
    }

    /// The HTTP layer, for calls the helpers below do not cover.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The dock id put into resource references.
    pub fn dock_id(&self) -> &str {
        &self.dock_id
    }

    /// The endpoint, any password in it redacted.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The page size to ask for: the caller's, else the configured one,
    /// clamped to the API's `min_page_size..=max_page_size`.
    pub fn page_size(&self, requested: Option<u32>) -> u32 {
        let max = self.api.max_page_size.max(1);
        requested
            .unwrap_or(self.default_page_size)
            .clamp(self.api.min_page_size.clamp(1, max), max)
    }

    fn unwrap<T: DeserializeOwned>(&self, mut body: serde_json::Value, pointer: &str) -> Result<T> {
        let value = body.pointer_mut(pointer).map(serde_json::Value::take);
        serde_json::from_value(value.unwrap_or_default()).map_err(|e| {
            let at = if pointer.is_empty() { "body" } else { pointer };
            Error::invalid_response(format!(
                "the {} answer's {at} could not be read: {e}",
                self.api.name
            ))
        })
    }

    /// `GET path`: the enveloped object, `None` when the provider says not found.
    pub async fn get<T: DeserializeOwned>(&self, path: impl Into<String>) -> Result<Option<T>> {
        let body = found(self.http.send_json(Request::get(path)).await)?;
        body.map(|b| self.unwrap(b, self.api.envelope)).transpose()
    }

    /// `POST path` with a JSON body: the enveloped object.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: impl Into<String>,
        body: &impl serde::Serialize,
    ) -> Result<T> {
        let answer = self.http.send_json(Request::post(path).json(body)).await?;
        self.unwrap(answer, self.api.envelope)
    }

    /// `PUT path` with a JSON body: the enveloped object.
    pub async fn put<T: DeserializeOwned>(
        &self,
        path: impl Into<String>,
        body: &impl serde::Serialize,
    ) -> Result<T> {
        let answer = self.http.send_json(Request::put(path).json(body)).await?;
        self.unwrap(answer, self.api.envelope)
    }

    /// `DELETE path`; a `NotFound` is success (deleting what is gone).
    pub async fn delete(&self, path: impl Into<String>) -> Result<()> {
        gone(self.http.send_empty(Request::delete(path)).await)
    }

    /// One page of the listing `req` (a `GET` with any filters), at the
    /// cursor and page size of `options`, per the API's [`Paging`].
    pub async fn page(
        &self,
        req: Request,
        options: &ListOptions,
    ) -> Result<Page<serde_json::Value>> {
        self.page_capped(req, options, self.api.max_page_size).await
    }

    /// [`RestClient::page`] for an endpoint that serves smaller pages than
    /// the API's maximum (Cloudflare: 5,000 records but 50 zones a page).
    pub async fn page_capped(
        &self,
        req: Request,
        options: &ListOptions,
        max_page_size: u32,
    ) -> Result<Page<serde_json::Value>> {
        self.page_in(req, options, max_page_size, self.api.paging)
            .await
    }

    /// [`RestClient::page`] for an endpoint that pages its own way (another
    /// cursor key, items under another name ...).
    ///
    /// ```no_run
    /// # async fn f(client: stackdock_http::RestClient) -> stackdock_core::Result<()> {
    /// use stackdock_http::{Paging, Request};
    /// let projects = Paging::Cursor { cursor: "from", limit: "limit", items: "/projects", next: "/pagination/next" };
    /// let page = client.page_as(Request::get("/v10/projects"), &Default::default(), projects).await?;
    /// # Ok(()) }
    /// ```
    pub async fn page_as(
        &self,
        req: Request,
        options: &ListOptions,
        paging: Paging,
    ) -> Result<Page<serde_json::Value>> {
        self.page_in(req, options, self.api.max_page_size, paging)
            .await
    }

    async fn page_in(
        &self,
        req: Request,
        options: &ListOptions,
        max_page_size: u32,
        paging: Paging,
    ) -> Result<Page<serde_json::Value>> {
        let size = self.page_size(options.page_size).min(max_page_size.max(1));
        let size = size.to_string();
        let cursor = options.cursor.clone();
        match paging {
            Paging::Number {
                page,
                per_page,
                items,
                total_pages,
            } => {
                let number = PageNumber::of(options, 0)?.page;
                let req = req.query(page, number.to_string()).query(per_page, size);
                let body: serde_json::Value = self.http.send_json(req).await?;
                let total = body
                    .pointer(total_pages)
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0);
                let total = u32::try_from(total).unwrap_or(u32::MAX);
                let next_cursor = (number < total).then(|| (number + 1).to_string());
                Ok(Page {
                    items: self.unwrap(body, items)?,
                    next_cursor,
                })
            }
            Paging::Cursor {
                cursor: key,
                limit,
                items,
                next,
            } => {
                let mut req = req.query(limit, size);
                if let Some(c) = cursor {
                    req = req.query(key, c);
                }
                let body: serde_json::Value = self.http.send_json(req).await?;
                let next_cursor = match body.pointer(next) {
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                };
                Ok(Page {
                    items: self.unwrap(body, items)?,
                    next_cursor,
                })
            }
        }
    }

    /// The first item of the listing `req` (a lookup by name ...), asked
    /// for with the smallest page the API serves.
    pub async fn first(&self, req: Request) -> Result<Option<serde_json::Value>> {
        let options = ListOptions {
            page_size: Some(self.api.min_page_size.max(1)),
            ..Default::default()
        };
        Ok(self.page(req, &options).await?.items.into_iter().next())
    }

    /// Every item of the listing `req`, all pages at the largest page size
    /// (fails on a cursor that does not advance).
    pub async fn all(&self, req: Request) -> Result<Vec<serde_json::Value>> {
        let options = ListOptions {
            page_size: Some(self.api.max_page_size),
            ..Default::default()
        };
        self.all_as(req, &options, self.api.paging).await
    }

    /// Every item of the listing `req` from `options`' cursor on, at its page
    /// size (the configured one when `None`), for an endpoint that pages its
    /// own way (see [`RestClient::page_as`]); fails on a cursor that does not
    /// advance.
    pub async fn all_as(
        &self,
        req: Request,
        options: &ListOptions,
        paging: Paging,
    ) -> Result<Vec<serde_json::Value>> {
        let mut options = options.clone();
        let mut out = Vec::new();
        loop {
            let page = self.page_as(req.clone(), &options, paging).await?;
            out.extend(page.items);
            match page.next_cursor {
                Some(next) if Some(&next) != options.cursor.as_ref() => options.cursor = Some(next),
                Some(_) => {
                    return Err(Error::invalid_response("pagination cursor did not advance"))
                }
                None => return Ok(out),
            }
        }
    }

    /// Send any request; the enveloped object of the answer.
    pub async fn send<T: DeserializeOwned>(&self, req: Request) -> Result<T> {
        let answer = self.http.send_json(req).await?;
        self.unwrap(answer, self.api.envelope)
    }
}

/// A REST client is the provider part of a kit adapter: identity from the
/// [`RestApi`] (provider id = its default dock id), the dock id and
/// endpoint of the configuration, credentials checked with
/// [`RestApi::check_path`].
#[stackdock_core::async_trait]
impl KitProvider for RestClient {
    fn info(&self) -> ProviderInfo {
        ProviderInfo::new(self.api.dock_id, self.api.name)
    }

    fn dock_id(&self) -> &str {
        &self.dock_id
    }

    fn endpoint(&self) -> Option<String> {
        Some(self.endpoint.clone())
    }

    /// What REST APIs have in common: the provider assigns ids, and pages
    /// hold at most [`RestApi::max_page_size`] items. Add the rest (parent
    /// filters, labels ...) with [`KitAdapter::with_arguments`](stackdock_core::kit::KitAdapter::with_arguments).
    fn arguments(&self) -> Arguments {
        let args = Arguments::new().with_provider_assigned_ids();
        args.with_max_page_size(self.api.max_page_size)
    }

    async fn check_credentials(&self) -> Result<()> {
        let req = Request::get(self.api.check_path).operation("check credentials");
        self.http.send_empty(req).await
    }

    /// What the last response's rate-limit headers said
    /// ([`HttpClient::rate_limit`]).
    fn rate_limit(&self) -> Option<RateLimit> {
        self.http.rate_limit().map(RateLimit::from)
    }
}

/// A REST provider's [`DockFactory::build`](stackdock_core::factory::DockFactory::build):
/// the dock's settings as the provider's configuration `C` (which reaches
/// its flattened [`RestConfig`] through `rest`), the credential `token` and
/// the dock id put into it, then `build`. No call is made.
///
/// ```
/// use stackdock_core::factory::{Credentials, DockConfig};
/// use stackdock_core::secret::SecretString;
/// use stackdock_http::{rest_dock, RestConfig};
///
/// let dock: DockConfig = serde_json::from_str(r#"{
///     "id": "example-eu", "provider": "example", "settings": {"page_size": 20},
///     "credentials": {"token": "env:EXAMPLE_EU_TOKEN"}
/// }"#).unwrap();
/// let credentials = Credentials::from_values("example-eu", [("token".to_owned(), SecretString::from("t"))]);
/// let built = rest_dock(&dock, &credentials, |c: &mut RestConfig| c, |c| {
///     assert_eq!((c.dock_id.as_deref(), c.page_size), (Some("example-eu"), Some(20)));
///     Ok(stackdock_core::InMemoryAdapter::new("example-eu"))
/// });
/// assert!(built.is_ok());
/// ```
pub fn rest_dock<C, A>(
    dock: &DockConfig,
    credentials: &Credentials,
    rest: fn(&mut C) -> &mut RestConfig,
    build: fn(&C) -> Result<A>,
) -> Result<Arc<dyn DockAdapter>>
where
    C: DeserializeOwned,
    A: DockAdapter + 'static,
{
    let mut config: C = dock.settings_as()?;
    let common = rest(&mut config);
    common.token = credentials.require("token")?.clone();
    common.dock_id = Some(dock.id.clone());
    let named = |e: Error| Error::config(format!("dock {}: {e}", dock.id));
    Ok(Arc::new(build(&config).map_err(named)?))
}

/// `Ok(None)` for a `NotFound`.
///
/// ```
/// use stackdock_core::Error;
/// assert_eq!(stackdock_http::found(Err::<u8, _>(Error::not_found("x"))).unwrap(), None);
/// assert_eq!(stackdock_http::found(Ok(1)).unwrap(), Some(1));
/// ```
pub fn found<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// `Ok(())` for a `NotFound`: deleting what is gone succeeds.
pub fn gone(result: Result<()>) -> Result<()> {
    found(result).map(drop)
}

/// Page-number paging (`?page=N&per_page=M`) mapped to StackDock cursors:
/// the cursor is the decimal page number.
///
/// ```
/// use stackdock_core::ListOptions;
/// use stackdock_http::PageNumber;
/// let first = PageNumber::of(&ListOptions::default(), 50).unwrap();
/// assert_eq!((first.page, first.per_page), (1, 50));
/// assert_eq!(first.page(vec![1, 2], 3).next_cursor.as_deref(), Some("2"));
/// let last = PageNumber::of(&ListOptions { cursor: Some("3".into()), ..Default::default() }, 50).unwrap();
/// assert_eq!(last.page(vec![5], 3).next_cursor, None);
/// assert!(PageNumber::of(&ListOptions { cursor: Some("x".into()), ..Default::default() }, 50).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageNumber {
    /// 1-based page to ask for.
    pub page: u32,
    /// Items per page to ask for.
    pub per_page: u32,
}

impl PageNumber {
    /// The page `options.cursor` names (1 when none) of `per_page` items.
    pub fn of(options: &ListOptions, per_page: u32) -> Result<Self> {
        let page =
            match options.cursor.as_deref() {
                None => 1,
                Some(c) => c.parse::<u32>().ok().filter(|p| *p >= 1).ok_or_else(|| {
                    Error::invalid_input("cursor", "not a cursor of this listing")
                })?,
            };
        Ok(PageNumber { page, per_page })
    }

    /// The query pairs `page` and `per_page`.
    pub fn query(&self, req: Request) -> Request {
        req.query("page", self.page.to_string())
            .query("per_page", self.per_page.to_string())
    }

    /// This page's items, with a next cursor unless it is page `total_pages` or later.
    pub fn page<T>(&self, items: Vec<T>, total_pages: u32) -> Page<T> {
        let next_cursor = (self.page < total_pages).then(|| (self.page + 1).to_string());
        Page { items, next_cursor }
    }
}
