//! Configuration of a Cloudflare dock: the common REST settings, the account
//! new zones go to and the ownership marker.

use serde::Deserialize;
use stackdock_core::Result;
use stackdock_http::{Paging, RestApi, RestConfig};

/// Provider id of the adapter.
pub const PROVIDER_ID: &str = "cloudflare";

/// Cloudflare API v4: answers are `{"success", "errors", "messages",
/// "result", "result_info"}`; records list 5 to 5,000 a page.
pub const API: RestApi = RestApi {
    name: "Cloudflare",
    base_url: "https://api.cloudflare.com/client/v4",
    env_prefix: "CLOUDFLARE_",
    dock_id: PROVIDER_ID,
    default_page_size: 100,
    max_page_size: 5000,
    min_page_size: 5,
    envelope: "/result",
    paging: Paging::pages("/result", "/result_info/total_pages"),
    check_path: "/user/tokens/verify",
};

/// The marker of records written by docks that configure none.
pub const DEFAULT_MARKER: &str = "managed-by:stackdock";

/// How to reach one Cloudflare account.
///
/// ```
/// use stackdock_cloudflare::CloudflareConfig;
/// let mut config = CloudflareConfig::new("cf-token");
/// config.account_id = Some("0123abcd".into());
/// assert!(!format!("{config:?}").contains("cf-token"));
/// assert_eq!(config.marker, None); // "managed-by:stackdock"
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct CloudflareConfig {
    /// Token, endpoint, paging, retries, dock id.
    #[serde(flatten)]
    pub rest: RestConfig,
    /// The account new zones are created in (`account.id`); filters zone listings.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The record `comment` marking records as ours (default
    /// [`DEFAULT_MARKER`]): only records carrying it are updated or deleted.
    #[serde(default)]
    pub marker: Option<String>,
}

impl CloudflareConfig {
    /// A configuration with `token` and the defaults.
    pub fn new(token: impl Into<String>) -> Self {
        let rest = RestConfig::new(token);
        Self {
            rest,
            ..Self::default()
        }
    }

    /// Read `CLOUDFLARE_TOKEN`, `CLOUDFLARE_API_URL` and `CLOUDFLARE_ACCOUNT_ID`.
    pub fn from_env() -> Result<Self> {
        let mut config = Self::new("");
        config.rest = RestConfig::from_env(API.env_prefix)?;
        config.account_id = std::env::var("CLOUDFLARE_ACCOUNT_ID").ok();
        Ok(config)
    }
}
