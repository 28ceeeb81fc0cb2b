//! [`PowerDnsFactory`] and [`ZoneFileFactory`]: DNS docks from configuration.
//!
//! ```
//! use stackdock_core::factory::{Credentials, DockConfig, DockFactory};
//! use stackdock_core::secret::SecretString;
//! use stackdock_dns::PowerDnsFactory;
//!
//! let dock: DockConfig = serde_json::from_str(r#"{
//!     "id": "dns-eu", "provider": "powerdns",
//!     "settings": {"url": "http://10.0.0.5:8081", "adapter": {"owner": "stackdock"}},
//!     "credentials": {"api_key": "env:PDNS_EU_API_KEY"}
//! }"#).unwrap();
//! let credentials = Credentials::from_values(
//!     "dns-eu",
//!     [("api_key".to_owned(), SecretString::from("resolved-key"))],
//! );
//! let adapter = PowerDnsFactory.build(&dock, &credentials).unwrap();
//! assert_eq!(adapter.dock_id(), "dns-eu");
//! assert_eq!(adapter.endpoint().as_deref(), Some("http://10.0.0.5:8081"));
//! ```

use std::sync::Arc;

use serde::Deserialize;
use stackdock_core::factory::{Credentials, DockConfig, DockFactory};
use stackdock_core::secret::ExposeSecret;
use stackdock_core::{DockAdapter, Error, Result};

use crate::{
    AdapterOptions, DnsAdapter, PowerDnsClient, PowerDnsConfig, ZoneFileBackend, ZoneFileConfig,
};

/// A dock's settings: the backend's config at the top level, the
/// [`AdapterOptions`] under `adapter`.
#[derive(Deserialize)]
struct Settings<T> {
    #[serde(flatten)]
    backend: T,
    #[serde(default)]
    adapter: AdapterOptions,
}

/// The settings as `T`, refusing a secret written inline; errors name the dock.
fn settings<T: serde::de::DeserializeOwned>(
    dock: &DockConfig,
    secret_keys: &[&str],
) -> Result<Settings<T>> {
    for key in secret_keys {
        if dock.settings.get(key).is_some() {
            return Err(Error::config(format!(
                "dock {}: settings: {key} is a credential: set credentials.{key} = \"env:NAME\" | \"file:/path\" | \"vault:KEY\"",
                dock.id
            )));
        }
    }
    let mut settings: Settings<T> = dock.settings_as()?;
    settings.adapter.dock_id = Some(dock.id.clone());
    settings.adapter.validate().map_err(|e| named(dock, e))?;
    Ok(settings)
}

fn named(dock: &DockConfig, e: Error) -> Error {
    Error::config(format!("dock {}: settings: {e}", dock.id))
}

/// Builds [`PowerDnsAdapter`](crate::PowerDnsAdapter)s (provider id `powerdns`).
///
/// Settings are a [`PowerDnsConfig`] without its key (`url`, `server_id`,
/// `zone_kind`, `soa_edit_api`, `request_timeout`, `max_retries`) and
/// `adapter` ([`AdapterOptions`]); the key is the credential `api_key`.
/// No call is made: the client connects on first use.
#[derive(Debug, Clone, Copy, Default)]
pub struct PowerDnsFactory;

impl DockFactory for PowerDnsFactory {
    fn provider(&self) -> &str {
        "powerdns"
    }

    fn build(&self, dock: &DockConfig, credentials: &Credentials) -> Result<Arc<dyn DockAdapter>> {
        let Settings {
            backend: mut config,
            adapter,
        } = settings::<PowerDnsConfig>(dock, &["api_key"])?;
        config.api_key = credentials.require("api_key")?.clone();
        if config.api_key.expose_secret().is_empty() {
            return Err(Error::config(format!(
                "dock {}: credential api_key is empty",
                dock.id
            )));
        }
        let client = PowerDnsClient::new(config).map_err(|e| named(dock, e))?;
        Ok(Arc::new(DnsAdapter::new(client, adapter)))
    }
}

/// Builds [`ZoneFileAdapter`](crate::ZoneFileAdapter)s (provider id `zonefile`).
///
/// Settings are a [`ZoneFileConfig`] (`directory`, `soa_template`) and
/// `adapter` ([`AdapterOptions`]); no credentials. The directory is made
/// on first use, not at build time.
#[derive(Debug, Clone, Copy, Default)]
pub struct ZoneFileFactory;

impl DockFactory for ZoneFileFactory {
    fn provider(&self) -> &str {
        "zonefile"
    }

    fn build(&self, dock: &DockConfig, _credentials: &Credentials) -> Result<Arc<dyn DockAdapter>> {
        let Settings {
            backend: config,
            adapter,
        } = settings::<ZoneFileConfig>(dock, &[])?;
        if config.directory.as_os_str().is_empty() {
            return Err(Error::config(format!(
                "dock {}: settings: directory is empty",
                dock.id
            )));
        }
        Ok(Arc::new(DnsAdapter::new(
            ZoneFileBackend::lazy(config),
            adapter,
        )))
    }
}
