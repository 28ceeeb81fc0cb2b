//! Configuration of the backends and the adapter.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::{Error, Result};

use crate::model::{ZoneTemplate, DEFAULT_TTL};
use crate::plan::DEFAULT_OWNER;

/// Where the zone-file backend keeps its files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ZoneFileConfig {
    /// Directory of `<zone>.zone` files (created if missing).
    pub directory: PathBuf,
    /// Where the SOA of a zone created without one comes from.
    #[serde(default)]
    pub soa_template: ZoneTemplate,
}

impl ZoneFileConfig {
    /// Files in `directory`, default SOA.
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        ZoneFileConfig {
            directory: directory.into(),
            soa_template: ZoneTemplate::default(),
        }
    }
}

/// How to reach a PowerDNS Authoritative server's HTTP API (4.7+).
///
/// `Debug` never shows the API key.
#[derive(Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PowerDnsConfig {
    /// Base URL of the web server, e.g. `http://127.0.0.1:8081` (the crate adds `/api/v1`).
    pub url: String,
    /// The `api-key` of pdns.conf, sent as `X-API-Key`. Never serialised
    /// nor read from settings: it comes from the credential `api_key`.
    #[serde(skip, default = "empty_secret")]
    pub api_key: SecretString,
    /// Server id in the API path; always `localhost` for the Authoritative server.
    #[serde(default = "default_server_id")]
    pub server_id: String,
    /// Zone kind on create: `Native` (default), `Master` ...
    #[serde(default = "default_kind")]
    pub zone_kind: String,
    /// SOA-EDIT-API of new zones: how the server bumps serials (`DEFAULT` = YYYYMMDDnn).
    #[serde(default = "default_soa_edit_api")]
    pub soa_edit_api: String,
    /// Per-request timeout.
    #[serde(default = "default_timeout")]
    pub request_timeout: Duration,
    /// Retries of idempotent requests on 5xx and connection errors (0 = off).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
}

fn empty_secret() -> SecretString {
    SecretString::from(String::new())
}
fn default_server_id() -> String {
    "localhost".into()
}
fn default_kind() -> String {
    "Native".into()
}
fn default_soa_edit_api() -> String {
    "DEFAULT".into()
}
fn default_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_retries() -> u32 {
    3
}

impl fmt::Debug for PowerDnsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PowerDnsConfig")
            .field("url", &stackdock_core::secret::redact_url(&self.url))
            .field("api_key", &stackdock_core::secret::REDACTED)
            .field("server_id", &self.server_id)
            .field("zone_kind", &self.zone_kind)
            .field("soa_edit_api", &self.soa_edit_api)
            .finish()
    }
}

impl PowerDnsConfig {
    /// A configuration for the server at `url` with `api_key`.
    pub fn new(url: impl Into<String>, api_key: impl Into<String>) -> Self {
        PowerDnsConfig {
            url: url.into(),
            api_key: SecretString::from(api_key.into()),
            server_id: default_server_id(),
            zone_kind: default_kind(),
            soa_edit_api: default_soa_edit_api(),
            request_timeout: default_timeout(),
            max_retries: default_retries(),
        }
    }

    /// From `STACKDOCK_POWERDNS_URL` and `STACKDOCK_POWERDNS_API_KEY`.
    pub fn from_env() -> Result<Self> {
        Self::from_env_prefixed("STACKDOCK_POWERDNS_")
    }

    /// From `<prefix>URL` and `<prefix>API_KEY`, so several servers can be
    /// configured side by side (`from_env_prefixed("PDNS_EU_")`).
    pub fn from_env_prefixed(prefix: &str) -> Result<Self> {
        let var = |name: &str| {
            let key = format!("{prefix}{name}");
            std::env::var(&key).map_err(|_| Error::config(format!("{key} is not set")))
        };
        Ok(Self::new(var("URL")?, var("API_KEY")?))
    }

    /// Check the configuration before any call.
    pub fn validate(&self) -> Result<()> {
        if self.api_key.expose_secret().is_empty() {
            return Err(Error::config("PowerDNS api_key is empty"));
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(Error::config(
                "PowerDNS url must start with http:// or https://",
            ));
        }
        stackdock_core::validate::slug("server_id", &self.server_id, 63, false)
            .map_err(|e| Error::config(e.to_string()))?;
        // PowerDNS silently turns an unknown kind into Native: refuse it here instead.
        const KINDS: [&str; 7] = [
            "native",
            "master",
            "slave",
            "primary",
            "secondary",
            "producer",
            "consumer",
        ];
        if !KINDS.contains(&self.zone_kind.to_ascii_lowercase().as_str()) {
            return Err(Error::config(format!(
                "unknown PowerDNS zone kind {:?}",
                self.zone_kind
            )));
        }
        const SOA_EDITS: [&str; 6] = [
            "",
            "DEFAULT",
            "INCREASE",
            "EPOCH",
            "SOA-EDIT",
            "SOA-EDIT-INCREASE",
        ];
        if !SOA_EDITS.contains(&self.soa_edit_api.to_ascii_uppercase().as_str()) {
            return Err(Error::config(format!(
                "unknown SOA-EDIT-API {:?}",
                self.soa_edit_api
            )));
        }
        Ok(())
    }
}

/// How the [`DnsAdapter`](crate::DnsAdapter) behaves, whatever the backend.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AdapterOptions {
    /// Dock id (defaults to the provider id).
    #[serde(default)]
    pub dock_id: Option<String>,
    /// Records of new zones.
    #[serde(default)]
    pub template: ZoneTemplate,
    /// Ownership marker put on record sets the adapter creates.
    #[serde(default = "default_owner")]
    pub owner: String,
    /// TTL of records whose spec leaves it unset.
    #[serde(default = "default_ttl")]
    pub default_ttl: u32,
    /// Page size of listings when the caller gives none (also the cap).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Let creating a zone that exists without our marker (made by another
    /// tool) take it over: its SOA gets our marker. Off by default: such a
    /// create is `AlreadyExists`, and deleting such a zone is refused.
    #[serde(default)]
    pub adopt_zones: bool,
}

fn default_owner() -> String {
    DEFAULT_OWNER.into()
}
fn default_ttl() -> u32 {
    DEFAULT_TTL
}
fn default_page_size() -> u32 {
    100
}

impl Default for AdapterOptions {
    fn default() -> Self {
        AdapterOptions {
            dock_id: None,
            template: ZoneTemplate::default(),
            owner: default_owner(),
            default_ttl: default_ttl(),
            page_size: default_page_size(),
            adopt_zones: false,
        }
    }
}

impl AdapterOptions {
    /// Use this dock id.
    pub fn with_dock_id(mut self, dock_id: impl Into<String>) -> Self {
        self.dock_id = Some(dock_id.into());
        self
    }

    /// Check the options (the ownership marker ends up in comments and files).
    pub fn validate(&self) -> Result<()> {
        crate::model::check_owner_marker(&self.owner).map_err(|e| Error::config(e.to_string()))?;
        crate::model::check_ttl(self.default_ttl).map_err(|e| Error::config(e.to_string()))?;
        if self.page_size == 0 {
            return Err(Error::config("page_size must be at least 1"));
        }
        Ok(())
    }

    /// Take over existing zones another tool made (see [`AdapterOptions::adopt_zones`]).
    pub fn adopting_zones(mut self) -> Self {
        self.adopt_zones = true;
        self
    }

    /// Use this template for new zones.
    pub fn with_template(mut self, template: ZoneTemplate) -> Self {
        self.template = template;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let c = PowerDnsConfig::new("http://127.0.0.1:8081", "very-secret-key");
        assert!(!format!("{c:?}").contains("very-secret-key"));
        assert!(!serde_json::to_string(&c)
            .unwrap()
            .contains("very-secret-key"));
        assert!(c.validate().is_ok());
        assert!(PowerDnsConfig::new("ftp://x", "k").validate().is_err());
        assert!(PowerDnsConfig::new("http://x", "").validate().is_err());
        let mut typo = PowerDnsConfig::new("http://x", "k");
        typo.zone_kind = "Nativ".into();
        assert!(typo.validate().is_err());
        let mut soa = PowerDnsConfig::new("http://x", "k");
        soa.soa_edit_api = "sometimes".into();
        assert!(soa.validate().is_err());
    }

    #[test]
    fn adapter_options_are_checked() {
        assert!(AdapterOptions::default().validate().is_ok());
        let bad = AdapterOptions {
            owner: "two words".into(),
            ..AdapterOptions::default()
        };
        assert!(bad.validate().is_err());
    }
}
