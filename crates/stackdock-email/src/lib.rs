#![doc = include_str!("../README.md")]
//!
//! # Modules
//!
//! * [`hash`]: password hashing in the `{SCHEME}` formats Dovecot verifies.
//! * [`model`]: the mail model and its validation, shared by every backend.
//! * [`sql`]: the Postfix/Dovecot backend on PostgreSQL.

mod convert;
pub mod hash;
pub mod model;
pub mod sql;

pub use hash::{PasswordHash, PasswordHasher, PasswordScheme};
pub use model::Scope;
pub use sql::{MailStore, PostfixDovecotAdapter, SqlConfig};
