//! Records to universal resources, and id parsing, shared by the backends.

use stackdock_core::resource::{MailForwarder, Mailbox};
use stackdock_core::{Resource, ResourceKind, ResourceMeta, ResourceStatus};

use crate::model::{forwarder_source, ForwarderRecord, MailboxRecord};

pub(crate) fn mailbox_resource(
    provider: &str,
    dock_id: &str,
    record: &MailboxRecord,
    provider_data: serde_json::Value,
) -> Resource {
    let mut meta = ResourceMeta::new(
        provider,
        dock_id,
        ResourceKind::Mailbox,
        &record.address,
        &record.address,
    )
    .with_status(if record.enabled {
        ResourceStatus::Active
    } else {
        ResourceStatus::Suspended
    })
    .with_provider_data(provider_data);
    meta.tenant = record.tenant.clone();
    meta.labels = record.labels.clone();
    meta.created_at = record.created_at;
    meta.updated_at = record.updated_at;
    Resource::Mailbox(Mailbox {
        meta,
        domain: record.domain.clone(),
        quota_bytes: record.quota_bytes,
        enabled: record.enabled,
    })
}

pub(crate) fn forwarder_resource(
    provider: &str,
    dock_id: &str,
    record: &ForwarderRecord,
    provider_data: serde_json::Value,
) -> Resource {
    let mut meta = ResourceMeta::new(
        provider,
        dock_id,
        ResourceKind::MailForwarder,
        &record.source,
        &record.source,
    )
    .with_status(if record.enabled {
        ResourceStatus::Active
    } else {
        ResourceStatus::Suspended
    })
    .with_provider_data(provider_data);
    meta.tenant = record.tenant.clone();
    meta.labels = record.labels.clone();
    meta.created_at = record.created_at;
    Resource::MailForwarder(MailForwarder {
        meta,
        domain: record.domain.clone(),
        destinations: record.destinations.clone(),
        enabled: record.enabled,
    })
}

/// The canonical key behind a resource id, or `None` when the id cannot name
/// anything this crate stores (then observe is absent and delete a no-op,
/// without a remote call).
pub(crate) fn key_of(kind: ResourceKind, id: &str) -> Option<String> {
    match kind {
        ResourceKind::Mailbox => stackdock_core::validate::email_address("id", id).ok(),
        ResourceKind::MailForwarder => forwarder_source(id).ok(),
        _ => None,
    }
}

/// The id a mailbox or forwarder spec's resource has: its canonical address
/// (or `@domain`), so it is known before any call. `None` for other kinds
/// and for specs whose address is invalid.
pub(crate) fn planned_id(
    spec: &stackdock_core::ResourceSpec,
) -> Option<stackdock_core::ResourceId> {
    use stackdock_core::{ResourceId, ResourceSpec};
    match spec {
        ResourceSpec::Mailbox(m) => key_of(ResourceKind::Mailbox, &m.address)
            .map(|a| ResourceId::new(ResourceKind::Mailbox, a)),
        ResourceSpec::MailForwarder(f) => key_of(ResourceKind::MailForwarder, &f.source)
            .map(|s| ResourceId::new(ResourceKind::MailForwarder, s)),
        _ => None,
    }
}
