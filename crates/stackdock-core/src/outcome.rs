//! What a create did: [`Created`] carries the resource and its
//! [`CreateOutcome`] (created by this call, or adopted).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::resource::Resource;

/// Whether a create made the resource or found it already there.
///
/// A rollback may delete only what its own create [`Created`](CreateOutcome::Created);
/// an adopted resource belongs to whoever made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateOutcome {
    /// This call made the resource.
    Created,
    /// The resource already existed, was ours and compatible with the spec:
    /// this call changed nothing and returns it.
    Adopted,
}

impl CreateOutcome {
    /// `created` or `adopted`.
    pub fn as_str(self) -> &'static str {
        match self {
            CreateOutcome::Created => "created",
            CreateOutcome::Adopted => "adopted",
        }
    }
}

impl fmt::Display for CreateOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`DockAdapter::create`](crate::DockAdapter::create) returns: the resource and whether this call
/// made it. Derefs to the [`Resource`].
///
/// ```
/// use stackdock_core::{CreateOutcome, DockAdapter, InMemoryAdapter};
/// use stackdock_core::spec::{DatabaseSpec, ResourceSpec};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dock = InMemoryAdapter::new("demo");
/// let spec = ResourceSpec::from(DatabaseSpec { name: "shop".into(), ..Default::default() });
/// let first = dock.create(&spec).await?;
/// let again = dock.create(&spec).await?;
/// assert_eq!(first.outcome, CreateOutcome::Created);
/// assert_eq!(again.outcome, CreateOutcome::Adopted);
/// assert_eq!(first.id(), again.id());
/// # Ok::<(), stackdock_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Created {
    /// The resource as the provider reports it.
    pub resource: Resource,
    /// Whether this call made it.
    pub outcome: CreateOutcome,
}

impl Created {
    /// This call made `resource`.
    pub fn new(resource: Resource) -> Self {
        Created {
            resource,
            outcome: CreateOutcome::Created,
        }
    }

    /// `resource` was already there and is returned unchanged.
    pub fn adopted(resource: Resource) -> Self {
        Created {
            resource,
            outcome: CreateOutcome::Adopted,
        }
    }

    /// Whether this call made the resource (only then may a rollback delete it).
    pub fn was_created(&self) -> bool {
        self.outcome == CreateOutcome::Created
    }

    /// The resource, dropping the outcome.
    pub fn into_resource(self) -> Resource {
        self.resource
    }
}

impl std::ops::Deref for Created {
    type Target = Resource;
    fn deref(&self) -> &Resource {
        &self.resource
    }
}

impl From<Created> for Resource {
    fn from(created: Created) -> Resource {
        created.resource
    }
}
