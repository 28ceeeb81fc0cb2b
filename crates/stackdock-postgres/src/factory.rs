//! [`PostgresFactory`]: PostgreSQL docks from configuration.
//!
//! ```
//! use stackdock_core::factory::{Credentials, DockConfig, DockFactory};
//! use stackdock_core::secret::SecretString;
//! use stackdock_postgres::PostgresFactory;
//!
//! let dock: DockConfig = serde_json::from_str(r#"{
//!     "id": "pg-eu", "provider": "postgres",
//!     "settings": {"host": "10.0.0.5", "port": 5433, "user": "stackdock_admin",
//!                  "tls": "verify-full", "lock_timeout": 30},
//!     "credentials": {"password": "env:PG_EU_PASSWORD"}
//! }"#).unwrap();
//! let credentials = Credentials::from_values(
//!     "pg-eu",
//!     [("password".to_owned(), SecretString::from("resolved-password"))],
//! );
//! let adapter = PostgresFactory.build(&dock, &credentials).unwrap();
//! assert_eq!(adapter.dock_id(), "pg-eu");
//! assert_eq!(adapter.endpoint().as_deref(), Some("10.0.0.5:5433"));
//! ```

use std::sync::Arc;

use stackdock_core::factory::{Credentials, DockConfig, DockFactory};
use stackdock_core::{DockAdapter, Error, Result};

use crate::{PostgresAdapter, PostgresConfig, PROVIDER_ID};

/// Builds [`PostgresAdapter`]s (provider id `postgres`).
///
/// Settings are a [`PostgresConfig`] without its password (`host`, `port`,
/// `user`, `dbname`, `tls`, `ca_certificates_pem`, `max_connections`, the
/// timeouts in seconds, `public_host`, `public_port`, `application_name`,
/// `rotate_password_on_adopt`); the password is the credential `password`,
/// optional because a server may not ask for one (peer or trust
/// authentication). The dock id is the configured one. No connection is
/// opened: the pool connects on first use.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresFactory;

impl DockFactory for PostgresFactory {
    fn provider(&self) -> &str {
        PROVIDER_ID
    }

    fn build(&self, dock: &DockConfig, credentials: &Credentials) -> Result<Arc<dyn DockAdapter>> {
        let mut config: PostgresConfig = dock.settings_as()?;
        config.password = credentials.get("password").cloned();
        // Building the pool checks the TLS settings (a bad CA): name the dock.
        let adapter = PostgresAdapter::new(dock.id.clone(), config)
            .map_err(|e| Error::config(format!("dock {}: settings: {e}", dock.id)))?;
        Ok(Arc::new(adapter))
    }
}
