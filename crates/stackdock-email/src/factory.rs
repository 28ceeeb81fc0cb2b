//! [`PostfixDovecotFactory`] and [`StalwartFactory`]: mail docks from configuration.
//!
//! ```
//! use stackdock_core::factory::{Credentials, DockConfig, DockFactory};
//! use stackdock_core::secret::SecretString;
//! use stackdock_email::{PostfixDovecotFactory, StalwartFactory};
//!
//! let sql: DockConfig = serde_json::from_str(r#"{
//!     "id": "mail-eu", "provider": "postfix-dovecot",
//!     "settings": {"schema": "mail", "password_scheme": "ARGON2ID"},
//!     "credentials": {"url": "env:MAIL_EU_PG_URL"}
//! }"#).unwrap();
//! let credentials = Credentials::from_values(
//!     "mail-eu",
//!     [("url".to_owned(), SecretString::from("postgres://mailadmin:pw@10.0.0.5/mail"))],
//! );
//! let adapter = PostfixDovecotFactory.build(&sql, &credentials).unwrap();
//! assert_eq!(adapter.dock_id(), "mail-eu");
//! assert_eq!(adapter.endpoint().as_deref(), Some("10.0.0.5:5432"));
//!
//! let stalwart: DockConfig = serde_json::from_str(r#"{
//!     "id": "stalwart-main", "provider": "stalwart",
//!     "settings": {"base_url": "https://mail.example.com", "user": "admin"},
//!     "credentials": {"password": "env:STALWART_ADMIN_PASSWORD"}
//! }"#).unwrap();
//! let credentials = Credentials::from_values(
//!     "stalwart-main",
//!     [("password".to_owned(), SecretString::from("resolved-password"))],
//! );
//! let adapter = StalwartFactory.build(&stalwart, &credentials).unwrap();
//! assert_eq!(adapter.endpoint().as_deref(), Some("https://mail.example.com/"));
//! ```

use std::sync::Arc;

use stackdock_core::factory::{Credentials, DockConfig, DockFactory};
use stackdock_core::{DockAdapter, Error, Result};

use crate::sql::{PostfixDovecotAdapter, SqlConfig};
use crate::stalwart::config::StalwartSettings;
use crate::stalwart::{StalwartAdapter, StalwartConfig};

/// Names the dock in a settings error.
fn named(dock: &DockConfig) -> impl Fn(Error) -> Error + '_ {
    move |e| Error::config(format!("dock {}: settings: {e}", dock.id))
}

/// Builds [`PostfixDovecotAdapter`]s (provider id `postfix-dovecot`).
///
/// Settings are a [`SqlConfig`] without its url (`schema`, `tenant`,
/// `password_scheme`, `bcrypt_cost`, `max_connections`, `connect_timeout` in
/// seconds); the connection string, which carries the password, is the
/// credential `url`. No connection is opened and the schema is not migrated:
/// run [`MailStore::migrate`](crate::sql::MailStore::migrate) explicitly (once
/// per deployment, e.g. from an install step).
#[derive(Debug, Clone, Copy, Default)]
pub struct PostfixDovecotFactory;

impl DockFactory for PostfixDovecotFactory {
    fn provider(&self) -> &str {
        crate::sql::PROVIDER_ID
    }

    fn build(&self, dock: &DockConfig, credentials: &Credentials) -> Result<Arc<dyn DockAdapter>> {
        let mut config: SqlConfig = dock.settings_as()?;
        config.url = credentials.require("url")?.clone();
        config.validate().map_err(named(dock))?;
        let adapter = PostfixDovecotAdapter::new(dock.id.clone(), config).map_err(named(dock))?;
        Ok(Arc::new(adapter))
    }
}

/// Builds [`StalwartAdapter`]s (provider id `stalwart`).
///
/// Settings are [`StalwartSettings`] (`base_url`, `user`, `tenant`,
/// `password_scheme`, `bcrypt_cost`). With `user`, the credential `password`
/// authenticates (basic); without it, the credential `token` (bearer). No
/// request is made: the session is discovered on first use.
#[derive(Debug, Clone, Copy, Default)]
pub struct StalwartFactory;

impl DockFactory for StalwartFactory {
    fn provider(&self) -> &str {
        crate::stalwart::PROVIDER_ID
    }

    fn build(&self, dock: &DockConfig, credentials: &Credentials) -> Result<Arc<dyn DockAdapter>> {
        let settings: StalwartSettings = dock.settings_as()?;
        let config = match &settings.user {
            Some(user) => {
                let password = credentials.require_text("password")?;
                StalwartConfig::new(&settings.base_url, user.clone(), password)
            }
            None => StalwartConfig::bearer(&settings.base_url, credentials.require_text("token")?),
        }
        .map_err(named(dock))?;
        let mut config = config
            .with_password_scheme(settings.password_scheme)
            .with_bcrypt_cost(settings.bcrypt_cost);
        config.tenant = settings.tenant;
        config.validate().map_err(named(dock))?;
        let adapter = StalwartAdapter::new(dock.id.clone(), config).map_err(named(dock))?;
        Ok(Arc::new(adapter))
    }
}
