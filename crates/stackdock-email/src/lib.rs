//! Mailboxes and forwarders for Postfix/Dovecot (PostgreSQL) and Stalwart.
//!
//! * [`hash`]: password hashing in the `{SCHEME}` formats Dovecot verifies.

pub mod hash;

pub use hash::{PasswordHash, PasswordHasher, PasswordScheme};
