//! What an adapter can do, as plain data.
//!
//! Callers read [`Capabilities`] to decide what to offer; the conformance
//! suite reads it to decide which checks to run. Anything not marked
//! supported returns [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::resource::ResourceKind;

/// An operation on a resource kind.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// List resources.
    List,
    /// Observe one resource without changing it.
    Observe,
    /// Create a resource.
    Create,
    /// Update a resource to match a spec.
    Update,
    /// Delete a resource.
    Delete,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 5] = [
        Operation::List,
        Operation::Observe,
        Operation::Create,
        Operation::Update,
        Operation::Delete,
    ];

    /// Lower-case verb.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::List => "list",
            Operation::Observe => "observe",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }

    /// `"create database"`-style label for errors and logs.
    pub fn on(self, kind: ResourceKind) -> String {
        format!("{} {}", self.as_str(), kind)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which operations an adapter supports for one resource kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Operations {
    /// `list`
    pub list: bool,
    /// `observe`
    pub observe: bool,
    /// `create`
    pub create: bool,
    /// `update`
    pub update: bool,
    /// `delete`
    pub delete: bool,
}

impl Operations {
    /// Nothing supported.
    pub const NONE: Operations = Operations {
        list: false,
        observe: false,
        create: false,
        update: false,
        delete: false,
    };
    /// Everything supported.
    pub const ALL: Operations = Operations {
        list: true,
        observe: true,
        create: true,
        update: true,
        delete: true,
    };
    /// List and observe only.
    pub const READ_ONLY: Operations = Operations {
        list: true,
        observe: true,
        create: false,
        update: false,
        delete: false,
    };
    /// Everything but update (resources that are replaced, not changed).
    pub const NO_UPDATE: Operations = Operations {
        update: false,
        ..Operations::ALL
    };

    /// Whether `op` is supported.
    pub fn supports(self, op: Operation) -> bool {
        match op {
            Operation::List => self.list,
            Operation::Observe => self.observe,
            Operation::Create => self.create,
            Operation::Update => self.update,
            Operation::Delete => self.delete,
        }
    }

    /// Whether anything is supported.
    pub fn any(self) -> bool {
        self != Operations::NONE
    }
}

/// Everything an adapter supports: one [`Operations`] per resource kind.
///
/// `Copy + Default` (nothing supported) so adapters fill in only what they do:
///
/// Built with [`Capabilities::new`] and its `with_*` methods, so that a new
/// resource kind or argument is not a breaking change for adapters.
///
/// ```
/// use stackdock_core::{Arguments, Capabilities, Operations, Operation, ResourceKind};
/// let caps = Capabilities::new()
///     .with_kind(ResourceKind::Database, Operations::ALL)
///     .with_arguments(Arguments::new().with_tenancy().with_list_by_tenant());
/// assert!(caps.supports(ResourceKind::Database, Operation::Create));
/// assert!(!caps.supports(ResourceKind::Server, Operation::List));
/// assert_eq!(caps.kinds().collect::<Vec<_>>(), vec![ResourceKind::Database]);
/// assert!(caps.arguments.tenancy && !caps.arguments.labels);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Capabilities {
    /// Servers.
    pub server: Operations,
    /// Web services.
    pub web_service: Operations,
    /// Deployments.
    pub deployment: Operations,
    /// Domains.
    pub domain: Operations,
    /// Databases.
    pub database: Operations,
    /// DNS zones.
    pub dns_zone: Operations,
    /// DNS records.
    pub dns_record: Operations,
    /// Mailboxes.
    pub mailbox: Operations,
    /// Mail forwarders.
    pub mail_forwarder: Operations,
    /// Which arguments beyond the operation the adapter honours.
    pub arguments: Arguments,
}

impl Capabilities {
    /// Nothing supported yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Support `operations` on `kind`.
    pub fn with_kind(mut self, kind: ResourceKind, operations: Operations) -> Self {
        *self.kind_mut(kind) = operations;
        self
    }

    /// Honour these arguments (see [`Arguments`]).
    pub fn with_arguments(mut self, arguments: Arguments) -> Self {
        self.arguments = arguments;
        self
    }

    fn kind_mut(&mut self, kind: ResourceKind) -> &mut Operations {
        match kind {
            ResourceKind::Server => &mut self.server,
            ResourceKind::WebService => &mut self.web_service,
            ResourceKind::Deployment => &mut self.deployment,
            ResourceKind::Domain => &mut self.domain,
            ResourceKind::Database => &mut self.database,
            ResourceKind::DnsZone => &mut self.dns_zone,
            ResourceKind::DnsRecord => &mut self.dns_record,
            ResourceKind::Mailbox => &mut self.mailbox,
            ResourceKind::MailForwarder => &mut self.mail_forwarder,
        }
    }

    /// The operations supported for `kind`.
    pub fn for_kind(&self, kind: ResourceKind) -> Operations {
        match kind {
            ResourceKind::Server => self.server,
            ResourceKind::WebService => self.web_service,
            ResourceKind::Deployment => self.deployment,
            ResourceKind::Domain => self.domain,
            ResourceKind::Database => self.database,
            ResourceKind::DnsZone => self.dns_zone,
            ResourceKind::DnsRecord => self.dns_record,
            ResourceKind::Mailbox => self.mailbox,
            ResourceKind::MailForwarder => self.mail_forwarder,
        }
    }

    /// Whether `op` is supported on `kind`.
    pub fn supports(&self, kind: ResourceKind, op: Operation) -> bool {
        self.for_kind(kind).supports(op)
    }

    /// The kinds with at least one supported operation.
    pub fn kinds(&self) -> impl Iterator<Item = ResourceKind> + '_ {
        ResourceKind::ALL
            .into_iter()
            .filter(|k| self.for_kind(*k).any())
    }
}

/// Which arguments an adapter honours, beyond the operations themselves.
///
/// One rule everywhere: an argument the adapter does not honour is
/// [`Unsupported`](crate::ErrorKind::Unsupported), raised by the
/// [`CheckedLayer`](crate::layer::CheckedLayer) before any remote call —
/// never a silently empty page or a silently dropped field.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Arguments {
    /// Specs may carry a tenant; resources record it and other tenants'
    /// resources are invisible to a tenant-scoped request.
    pub tenancy: bool,
    /// Specs may carry labels, and resources report them.
    pub labels: bool,
    /// [`ListOptions::tenant`](crate::ListOptions::tenant) filters listings.
    pub list_by_tenant: bool,
    /// [`ListOptions::labels`](crate::ListOptions::labels) filters listings.
    pub list_by_labels: bool,
    /// [`ListOptions::parent`](crate::ListOptions::parent) filters listings.
    pub parent_filter: bool,
    /// The largest page size the adapter serves; larger requests are capped
    /// to it (never an error). `None`: no cap of its own.
    pub max_page_size: Option<u32>,
    /// The provider assigns ids at create time, so the id of a spec is not
    /// known before the call: find it again by natural key (name, parent and
    /// tenant) with [`DockAdapterExt::find`](crate::DockAdapterExt::find).
    pub provider_assigned_ids: bool,
    /// Creates return before the resource is ready (deployments, servers);
    /// observe until its status settles.
    pub async_builds: bool,
}

impl Arguments {
    /// No argument beyond the operations.
    pub fn new() -> Self {
        Self::default()
    }

    /// See [`Arguments::tenancy`].
    pub fn with_tenancy(mut self) -> Self {
        self.tenancy = true;
        self
    }

    /// See [`Arguments::labels`].
    pub fn with_labels(mut self) -> Self {
        self.labels = true;
        self
    }

    /// See [`Arguments::list_by_tenant`].
    pub fn with_list_by_tenant(mut self) -> Self {
        self.list_by_tenant = true;
        self
    }

    /// See [`Arguments::list_by_labels`].
    pub fn with_list_by_labels(mut self) -> Self {
        self.list_by_labels = true;
        self
    }

    /// See [`Arguments::parent_filter`].
    pub fn with_parent_filter(mut self) -> Self {
        self.parent_filter = true;
        self
    }

    /// See [`Arguments::max_page_size`].
    pub fn with_max_page_size(mut self, max: u32) -> Self {
        self.max_page_size = Some(max);
        self
    }

    /// See [`Arguments::provider_assigned_ids`].
    pub fn with_provider_assigned_ids(mut self) -> Self {
        self.provider_assigned_ids = true;
        self
    }

    /// See [`Arguments::async_builds`].
    pub fn with_async_builds(mut self) -> Self {
        self.async_builds = true;
        self
    }
}
