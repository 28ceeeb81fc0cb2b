//! [`CloudflareFactory`]: Cloudflare docks from configuration.

use std::sync::Arc;

use stackdock_core::factory::{Credentials, DockConfig, DockFactory};
use stackdock_core::{DockAdapter, Result};
use stackdock_http::{rest_dock, RestConfig};

use crate::{adapter, CloudflareConfig, PROVIDER_ID};

/// Builds Cloudflare adapters: settings are a [`CloudflareConfig`] without
/// its token (`account_id`, `marker`, `base_url`, `page_size`, ...); the
/// token is the credential `token`; the dock id is the configured one.
///
/// ```
/// use stackdock_core::factory::{Credentials, DockConfig, DockFactory};
/// use stackdock_core::secret::SecretString;
/// let dock: DockConfig = serde_json::from_str(r#"{
///     "id": "cf-acme", "provider": "cloudflare", "settings": {"account_id": "0123abcd"},
///     "credentials": {"token": "env:CF_ACME_TOKEN"}
/// }"#).unwrap();
/// let credentials = Credentials::from_values("cf-acme", [("token".to_owned(), SecretString::from("t"))]);
/// let adapter = stackdock_cloudflare::CloudflareFactory.build(&dock, &credentials).unwrap();
/// assert_eq!(adapter.dock_id(), "cf-acme");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CloudflareFactory;

impl DockFactory for CloudflareFactory {
    fn provider(&self) -> &str {
        PROVIDER_ID
    }

    fn build(&self, dock: &DockConfig, creds: &Credentials) -> Result<Arc<dyn DockAdapter>> {
        let rest: fn(&mut CloudflareConfig) -> &mut RestConfig = |c| &mut c.rest;
        rest_dock(dock, creds, rest, adapter)
    }
}
