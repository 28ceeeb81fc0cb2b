//! Postfix + Dovecot virtual mailboxes in PostgreSQL.
//!
//! * [`MailStore`]: the tables (schema created and migrated by the crate),
//!   every operation of the model, tenant-scoped, transactional.
//! * [`PostfixDovecotAdapter`]: the [`DockAdapter`](stackdock_core::DockAdapter)
//!   (provider id `postfix-dovecot`) for mailboxes and forwarders.
//! * [`templates`]: the Dovecot `dovecot-sql.conf.ext` and Postfix `pgsql:`
//!   map files that read the schema.

pub mod adapter;
pub mod client;
pub mod config;
pub mod error;
mod redacted;
pub mod rotation;
pub mod schema;
pub mod templates;

pub use adapter::{PostfixDovecotAdapter, PROVIDER_ID};
pub use client::{ListFilter, MailStore};
pub use config::SqlConfig;
