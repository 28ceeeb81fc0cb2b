//! Stalwart 0.16+ through its JMAP management API (`x:Domain`, `x:Account`),
//! over the shared `stackdock-http` layer (retries, rate limits, redacted tracing).
//!
//! * [`StalwartClient`]: session discovery and the management methods.
//! * [`StalwartAdapter`]: the [`DockAdapter`](stackdock_core::DockAdapter)
//!   (provider id `stalwart`) for mailboxes and forwarders.

pub mod adapter;
pub mod client;
pub mod config;
pub mod error;

pub use adapter::{StalwartAdapter, PROVIDER_ID};
pub use client::StalwartClient;
pub use config::StalwartConfig;
