#![doc = include_str!("../README.md")]

pub mod adapter;
pub mod backend;
pub mod client;
pub mod config;
pub mod error;
pub mod factory;
pub mod model;
pub mod plan;
pub mod presentation;
pub mod serial;
pub mod zonefile;
pub mod zonefile_backend;

pub use adapter::{record_id, DnsAdapter};
pub use backend::{Dns, DnsBackend, ZoneSummary};
pub use client::PowerDnsClient;
pub use config::{AdapterOptions, PowerDnsConfig, ZoneFileConfig};
pub use factory::{PowerDnsFactory, ZoneFileFactory};
pub use model::{RecordSet, RecordSetKey, Zone, ZoneTemplate};
pub use plan::{plan, Change, Ownership, Plan, PlanOptions};
pub use zonefile_backend::ZoneFileBackend;

// The record types and data of the core, so `stackdock::dns::RecordData`
// (the facade re-exports this crate as `stackdock::dns`) names core's type.
// No item of this crate shares a name with them.
pub use stackdock_core::dns::*;

/// The adapter over zone files (provider id `zonefile`).
pub type ZoneFileAdapter = DnsAdapter<ZoneFileBackend>;

/// The adapter over a PowerDNS server (provider id `powerdns`).
pub type PowerDnsAdapter = DnsAdapter<PowerDnsClient>;
