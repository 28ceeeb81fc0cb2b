//! [`GridPaneFactory`]: GridPane docks from configuration.
//!
//! ```
//! use stackdock_core::factory::{Credentials, DockConfig, DockFactory};
//! use stackdock_core::secret::SecretString;
//! use stackdock_gridpane::GridPaneFactory;
//!
//! let dock: DockConfig = serde_json::from_str(r#"{
//!     "id": "gp-agency", "provider": "gridpane",
//!     "settings": {"base_url": "https://panel.agency.example/oauth/api/v1", "per_page": 50},
//!     "credentials": {"token": "env:GRIDPANE_AGENCY_TOKEN"}
//! }"#).unwrap();
//! let credentials = Credentials::from_values(
//!     "gp-agency",
//!     [("token".to_owned(), SecretString::from("resolved-token"))],
//! );
//! let adapter = GridPaneFactory.build(&dock, &credentials).unwrap();
//! assert_eq!(adapter.dock_id(), "gp-agency");
//! assert_eq!(adapter.endpoint().as_deref(), Some("https://panel.agency.example/oauth/api/v1"));
//! ```

use std::sync::Arc;

use stackdock_core::factory::{Credentials, DockConfig, DockFactory};
use stackdock_core::{DockAdapter, Error, Result};
use stackdock_http::{rest_dock, RestConfig};

use crate::{GridPaneAdapter, GridPaneConfig, PROVIDER_ID};

/// Builds [`GridPaneAdapter`]s (provider id `gridpane`).
///
/// Settings are a [`GridPaneConfig`] without its token (`base_url`,
/// `per_page`, `throttle_wait`, `request_timeout`); the token is the
/// credential `token`. The dock id is the configured one. No call is made:
/// the client connects on first use.
#[derive(Debug, Clone, Copy, Default)]
pub struct GridPaneFactory;

impl DockFactory for GridPaneFactory {
    fn provider(&self) -> &str {
        PROVIDER_ID
    }

    fn build(&self, dock: &DockConfig, credentials: &Credentials) -> Result<Arc<dyn DockAdapter>> {
        let rest: fn(&mut GridPaneConfig) -> &mut RestConfig = |c| &mut c.rest;
        let build = |c: &GridPaneConfig| {
            // Check the settings now, so errors name them.
            let named = |e: Error| Error::config(format!("settings: {e}"));
            c.validate().map_err(named)?;
            GridPaneAdapter::new(c.clone())
        };
        rest_dock(dock, credentials, rest, build)
    }
}
