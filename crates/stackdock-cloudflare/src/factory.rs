//! [`CloudflareFactory`]: Cloudflare docks from configuration.

use std::sync::Arc;

use stackdock_core::factory::{Credentials, DockConfig, DockFactory};
use stackdock_core::{DockAdapter, Result};

use crate::{CloudflareConfig, PROVIDER_ID};

/// Builds Cloudflare adapters: settings are a [`CloudflareConfig`] without
/// its token (`account_id`, `marker`, `base_url`, `page_size`, ...); the
/// token is the credential `token`; the dock id is the configured one.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloudflareFactory;

impl DockFactory for CloudflareFactory {
    fn provider(&self) -> &str {
        PROVIDER_ID
    }

    fn build(&self, dock: &DockConfig, credentials: &Credentials) -> Result<Arc<dyn DockAdapter>> {
        let mut config: CloudflareConfig = dock.settings_as()?;
        config.rest.token = credentials.require("token")?.clone();
        config.rest.dock_id = Some(dock.id.clone());
        Ok(Arc::new(crate::adapter::adapter(&config)?))
    }
}
