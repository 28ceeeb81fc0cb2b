//! [`VercelFactory`]: Vercel docks from configuration.
//!
//! ```
//! use stackdock_core::factory::{Credentials, DockConfig, DockFactory};
//! use stackdock_core::secret::SecretString;
//! use stackdock_vercel::VercelFactory;
//!
//! let dock: DockConfig = serde_json::from_str(r#"{
//!     "id": "vercel-acme", "provider": "vercel",
//!     "settings": {"team": {"slug": "acme"}},
//!     "credentials": {"token": "env:VERCEL_ACME_TOKEN"}
//! }"#).unwrap();
//! let credentials = Credentials::from_values(
//!     "vercel-acme",
//!     [("token".to_owned(), SecretString::from("resolved-token"))],
//! );
//! let adapter = VercelFactory.build(&dock, &credentials).unwrap();
//! assert_eq!(adapter.dock_id(), "vercel-acme");
//! ```

use std::sync::Arc;

use stackdock_core::factory::{Credentials, DockConfig, DockFactory};
use stackdock_core::{DockAdapter, Result};
use stackdock_http::{rest_dock, RestConfig};

use crate::{VercelAdapter, VercelConfig, PROVIDER_ID};

/// Builds [`VercelAdapter`]s (provider id `vercel`).
///
/// Settings are a [`VercelConfig`] without its token (`team`, `base_url`,
/// `page_size`, `max_concurrency`, `request_timeout`); the token is the
/// credential `token`. The dock id is the configured one. No call is made:
/// the client connects on first use.
#[derive(Debug, Clone, Copy, Default)]
pub struct VercelFactory;

impl DockFactory for VercelFactory {
    fn provider(&self) -> &str {
        PROVIDER_ID
    }

    fn build(&self, dock: &DockConfig, credentials: &Credentials) -> Result<Arc<dyn DockAdapter>> {
        let rest: fn(&mut VercelConfig) -> &mut RestConfig = |c| &mut c.rest;
        rest_dock(dock, credentials, rest, |c| VercelAdapter::new(c.clone()))
    }
}
