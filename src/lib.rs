//! # StackDock
//!
//! Provision, observe and sync hosting resources — servers, web services,
//! deployments, domains, DNS, databases, mailboxes — across providers through
//! one interface.
//!
//! This facade re-exports [`stackdock_core`] and, behind features, each
//! provider crate.
//!
//! ```
//! use stackdock::core::{DockAdapter, InMemoryAdapter};
//! let adapter = InMemoryAdapter::new("demo");
//! assert_eq!(adapter.dock_id(), "demo");
//! ```

pub use stackdock_core as core;
pub use stackdock_core::*;
