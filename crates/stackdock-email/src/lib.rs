#![doc = include_str!("../README.md")]
//!
//! # Modules
//!
//! * [`factory`]: [`PostfixDovecotFactory`] and [`StalwartFactory`], docks from configuration.
//! * [`hash`]: password hashing in the `{SCHEME}` formats Dovecot verifies.
//! * [`model`]: the mail model and its validation, shared by every backend.
//! * [`sql`]: the Postfix/Dovecot backend on PostgreSQL.
//! * [`stalwart`]: the Stalwart (JMAP management API) backend.

mod convert;
pub mod factory;
pub mod hash;
pub mod model;
pub mod sql;
pub mod stalwart;

pub use factory::{PostfixDovecotFactory, StalwartFactory};
pub use hash::{PasswordHash, PasswordHasher, PasswordScheme};
pub use model::{Scope, Tenant};
pub use sql::{MailStore, PostfixDovecotAdapter, SqlConfig};
pub use stalwart::{StalwartAdapter, StalwartConfig};
