//! # stackdock-core
//!
//! The small core every StackDock provider crate builds on. It depends on no
//! provider and no HTTP client.
//!
//! * [`DockAdapter`]: the async, object-safe trait each provider implements —
//!   identity, [`Capabilities`], credential check, and list / observe /
//!   create / update / delete over universal resources.
//! * [`resource`]: universal resource types ([`Server`](resource::Server),
//!   [`WebService`](resource::WebService), [`Database`](resource::Database),
//!   [`DnsRecord`](resource::DnsRecord), ...) with typed fields plus the
//!   provider's raw payload; [`spec`]: the typed desired-state specs.
//! * [`Error`]: one error type with a [`ErrorKind`] and a retry classification.
//! * [`provisioning`]: the provisioning state machine; [`drive`]: the drivers
//!   that call an adapter and move a record, persisting intent first.
//! * [`layer`]: what every dock is wrapped in (capability gate, validation,
//!   error context, retries); [`factory`]: docks from configuration.
//! * [`extension`]: provider operations that are not CRUD (backups, env
//!   vars, password rotation), reachable from any `dyn DockAdapter`.
//! * [`context`]: who is asking, carried with the task.
//! * [`secret`]: secrets that never print.
//! * [`validate`]: the validators every adapter runs before a remote call.
//! * [`kit`]: typed per-kind handlers behind one generic adapter, for new
//!   provider crates.
//! * [`InMemoryAdapter`]: a complete adapter kept in memory, for tests and demos.
//!
//! ```
//! use stackdock_core::{DockAdapter, InMemoryAdapter, ResourceKind, Operation};
//! let adapter = InMemoryAdapter::new("demo");
//! assert_eq!(adapter.provider().id, "memory");
//! assert!(adapter.capabilities().supports(ResourceKind::DnsRecord, Operation::Update));
//! ```

pub mod adapter;
pub mod capability;
pub mod context;
pub mod dns;
pub mod drive;
pub mod error;
pub mod extension;
pub mod factory;
pub mod kit;
pub mod layer;
pub mod memory;
pub mod outcome;
pub mod provisioning;
pub mod registry;
pub mod resource;
pub mod secret;
pub mod spec;
pub mod validate;

pub use adapter::{
    DockAdapter, DockAdapterExt, ListOptions, Observation, Page, ProviderInfo, RateLimit,
};
pub use capability::{Arguments, Capabilities, Operation, Operations};
pub use error::{Error, ErrorKind, ErrorStatus, Result};
pub use memory::InMemoryAdapter;
pub use outcome::{CreateOutcome, Created};
pub use provisioning::{ProvisioningRecord, ProvisioningSource, ProvisioningState};
pub use registry::DockRegistry;
pub use resource::{Resource, ResourceId, ResourceKind, ResourceMeta, ResourceRef, ResourceStatus};
pub use spec::ResourceSpec;

/// Re-exported so adapters and callers use the same version.
pub use async_trait::async_trait;

/// The README's examples, compiled and run as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
