//! # StackDock
//!
//! Provision, observe and sync hosting resources — servers, web services,
//! deployments, domains, DNS zones and records, PostgreSQL databases,
//! mailboxes and forwarders — across providers through one interface.
//!
//! This facade re-exports [`stackdock_core`] (always) and each provider
//! crate behind a feature of the same name:
//!
//! | feature    | crate                 | provider                              |
//! |------------|-----------------------|---------------------------------------|
//! | `postgres` | `stackdock-postgres`  | tenant databases on PostgreSQL        |
//! | `dns`      | `stackdock-dns`       | PowerDNS HTTP API and RFC 1035 zone files |
//! | `email`    | `stackdock-email`     | Postfix/Dovecot on SQL, Stalwart      |
//! | `vercel`   | `stackdock-vercel`    | Vercel REST API                       |
//! | `gridpane` | `stackdock-gridpane`  | GridPane REST API                     |
//! | `cloudflare` | `stackdock-cloudflare` | Cloudflare DNS (with plan/apply)    |
//! | `full`     | all of the above      |                                       |
//! | `runtime`  | `stackdock-runtime`   | the control-plane engine (not a provider) |
//!
//! ```
//! use std::sync::Arc;
//! use stackdock::{DockAdapter, DockRegistry, InMemoryAdapter};
//!
//! let mut registry = DockRegistry::new();
//! registry.insert(Arc::new(InMemoryAdapter::new("demo"))).unwrap();
//! assert_eq!(registry.require("demo").unwrap().provider().id, "memory");
//! ```

pub use stackdock_core as core;
pub use stackdock_core::*;

/// Tenant databases on PostgreSQL (feature `postgres`).
#[cfg(feature = "postgres")]
pub use stackdock_postgres as postgres;

/// DNS zones and records on PowerDNS and in zone files (feature `dns`).
///
/// With the feature this is the DNS crate, which re-exports the core's
/// record types ([`RecordData`](stackdock_core::dns::RecordData) ...), so
/// `stackdock::dns::RecordData` names the same type with and without it.
#[cfg(feature = "dns")]
pub use stackdock_dns as dns;

/// Mailboxes and forwarders on Postfix/Dovecot SQL and Stalwart (feature `email`).
#[cfg(feature = "email")]
pub use stackdock_email as email;

/// Vercel projects, deployments, domains, DNS and env vars (feature `vercel`).
#[cfg(feature = "vercel")]
pub use stackdock_vercel as vercel;

/// The control-plane engine: blueprints, durable deduplicated runs,
/// rollback of only what a run created, audit, the vault (feature `runtime`).
#[cfg(feature = "runtime")]
pub use stackdock_runtime as runtime;

/// GridPane servers, sites, domains, system users and backups (feature `gridpane`).
#[cfg(feature = "gridpane")]
pub use stackdock_gridpane as gridpane;

/// The README's examples, compiled and run as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Cloudflare DNS zones and records, with plan/apply (feature `cloudflare`).
#[cfg(feature = "cloudflare")]
pub use stackdock_cloudflare as cloudflare;
