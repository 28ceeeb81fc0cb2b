//! What an adapter can do, as plain data.
//!
//! Callers read [`Capabilities`] to decide what to offer; the conformance
//! suite reads it to decide which checks to run. Anything not marked
//! supported returns [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::resource::ResourceKind;

/// An operation on a resource kind.
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
/// ```
/// use stackdock_core::{Capabilities, Operations, Operation, ResourceKind};
/// let caps = Capabilities { database: Operations::ALL, ..Default::default() };
/// assert!(caps.supports(ResourceKind::Database, Operation::Create));
/// assert!(!caps.supports(ResourceKind::Server, Operation::List));
/// assert_eq!(caps.kinds().collect::<Vec<_>>(), vec![ResourceKind::Database]);
/// ```
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
}

impl Capabilities {
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
