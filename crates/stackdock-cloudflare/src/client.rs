//! [`CloudflareClient`]: one account's REST client, marker and zone ids.

use serde_json::Value;
use stackdock_core::kit::Memo;
use stackdock_core::{Error, Result};
use stackdock_http::{encode_path_segment as seg, Request, RestClient};

use crate::config::{CloudflareConfig, API, DEFAULT_MARKER};

/// A client of one Cloudflare account. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CloudflareClient {
    /// The REST client (retries, `Retry-After`, paging, envelopes).
    pub rest: RestClient,
    /// The record comment marking records as ours.
    pub marker: String,
    /// The account new zones go to.
    pub account_id: Option<String>,
    /// Changes per batch request when applying a plan (default 200, the
    /// limit of Free zones).
    pub batch_size: usize,
    /// Zone name → zone id: records are addressed by zone id.
    pub zone_ids: Memo,
}

/// The most zones Cloudflare lists a page (records: 5,000).
pub const ZONES_PER_PAGE: u32 = 50;

/// `/zones/{zone_id}/dns_records`, and `/{record_id}` when given.
pub fn records_path(zone_id: &str, record_id: Option<&str>) -> String {
    let path = format!("/zones/{}/dns_records", seg(zone_id));
    record_id.map_or(path.clone(), |r| format!("{path}/{}", seg(r)))
}

impl CloudflareClient {
    /// A client for `config` (no call is made).
    pub fn new(config: &CloudflareConfig) -> Result<Self> {
        let marker = config.marker.as_deref().unwrap_or(DEFAULT_MARKER);
        Ok(CloudflareClient {
            rest: RestClient::new(&config.rest, &API, crate::error::ERRORS)?,
            marker: marker.to_owned(),
            account_id: config.account_id.clone(),
            batch_size: 200,
            zone_ids: Memo::default(),
        })
    }

    /// `GET /zones` (of the configured account), named `name` when given.
    pub fn zones_request(&self, name: Option<&str>) -> Request {
        let account = self.account_id.iter().map(|a| ("account.id", a.as_str()));
        let pairs = account.chain(name.map(|n| ("name", n)));
        pairs.fold(Request::get("/zones"), |req, (k, v)| req.query(k, v))
    }

    /// The zone named `name`, `None` when there is none.
    pub async fn zone_named(&self, name: &str) -> Result<Option<Value>> {
        self.rest.first(self.zones_request(Some(name))).await
    }

    /// The id of zone `name`, `None` when there is none (remembered).
    pub async fn zone_id(&self, name: &str) -> Result<Option<String>> {
        let find = async {
            let zone = self.zone_named(name).await?;
            Ok(zone.and_then(|z| z["id"].as_str().map(str::to_owned)))
        };
        self.zone_ids.get_or_find(name, find).await
    }

    /// [`CloudflareClient::zone_id`], or `InvalidInput` naming the zone.
    pub async fn require_zone_id(&self, name: &str) -> Result<String> {
        let missing = || Error::invalid_input("zone", format!("no zone {name} in this account"));
        self.zone_id(name).await?.ok_or_else(missing)
    }
}
