//! [`DnsAdapter`]: the [`DockAdapter`] over any [`DnsBackend`].
//!
//! * **Zones** (`dns_zone`): id = canonical zone name (`example.com`). A new
//!   zone gets the [`ZoneTemplate`](crate::ZoneTemplate) records; the spec's
//!   `nameservers` replace the template's; the spec's tenant becomes the
//!   zone's tenant (PowerDNS `account`). Update changes the apex NS set.
//! * **Records** (`dns_record`): one record. The id is deterministic,
//!   `<zone>/<owner>/<TYPE>/<content>` (content in presentation form), so a
//!   create whose answer was lost can be observed again. Create adds the
//!   record to its record set; update replaces the record in its set (the id
//!   changes with the content: use the id of the returned resource); delete
//!   removes it from its set. Each is one backend change (one PATCH).
//! * **Ownership**: sets the adapter creates carry its marker
//!   ([`AdapterOptions::owner`]); sets marked by another tool are not
//!   changed (`Conflict`), unmarked sets (e.g. a server-made SOA/NS) may be.
//!   A zone is ours when its apex SOA carries our marker (every zone the
//!   adapter creates). Creating a zone that exists is adoption only when it
//!   is ours, or empty without SOA (what a create killed part-way leaves:
//!   it is then completed); a zone another tool made is `AlreadyExists`
//!   unless [`AdapterOptions::adopt_zones`]. Updating or deleting a zone
//!   that is not ours is `PermissionDenied`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use stackdock_core::dns::RecordData;
use stackdock_core::resource::{DnsRecord, DnsZone};
use stackdock_core::spec::{DnsRecordSpec, DnsZoneSpec};
use stackdock_core::{
    Capabilities, DockAdapter, Error, ErrorKind, ListOptions, Observation, Operation, Operations,
    Page, ProviderInfo, Resource, ResourceId, ResourceKind, ResourceMeta, ResourceSpec,
    ResourceStatus, Result,
};

use crate::backend::DnsBackend;
use crate::config::AdapterOptions;
use crate::model::{RecordSet, RecordSetKey, Zone};
use crate::plan::Change;
use crate::presentation::parse_rdata;
use crate::serial;

/// A [`DockAdapter`] for DNS zones and records over a backend. See the [module docs](self).
pub struct DnsAdapter<B> {
    backend: Arc<B>,
    info: ProviderInfo,
    dock_id: String,
    options: AdapterOptions,
}

impl<B: DnsBackend> fmt::Debug for DnsAdapter<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsAdapter")
            .field("provider", &self.info.id)
            .field("dock_id", &self.dock_id)
            .field("backend", &self.backend)
            .finish()
    }
}

/// A parsed record id.
struct RecordId {
    zone: String,
    owner: String,
    data: RecordData,
}

/// The deterministic id of one record: `<zone>/<owner>/<TYPE>/<content>`.
pub fn record_id(zone: &str, owner: &str, data: &RecordData) -> String {
    format!("{zone}/{owner}/{}/{data}", data.record_type())
}

fn parse_record_id(id: &str) -> Option<RecordId> {
    let mut parts = id.splitn(4, '/');
    let zone = stackdock_core::validate::domain("zone", parts.next()?).ok()?;
    let owner = stackdock_core::spec::absolute_owner(&format!("{}.", parts.next()?), &zone).ok()?;
    let rtype = parts.next()?.parse().ok()?;
    let data = parse_rdata(rtype, parts.next()?, "").ok()?;
    Some(RecordId { zone, owner, data })
}

impl<B: DnsBackend> DnsAdapter<B> {
    /// An adapter over `backend`.
    pub fn new(backend: B, options: AdapterOptions) -> Self {
        Self::from_arc(Arc::new(backend), options)
    }

    /// An adapter over a shared backend (e.g. one also used by [`crate::Dns`]).
    pub fn from_arc(backend: Arc<B>, options: AdapterOptions) -> Self {
        let info = backend.provider().clone();
        DnsAdapter {
            dock_id: options.dock_id.clone().unwrap_or_else(|| info.id.clone()),
            backend,
            info,
            options,
        }
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    fn meta(
        &self,
        kind: ResourceKind,
        id: &str,
        name: &str,
        tenant: Option<&String>,
    ) -> ResourceMeta {
        let mut meta = ResourceMeta::new(&self.info.id, &self.dock_id, kind, id, name)
            .with_status(ResourceStatus::Active);
        meta.tenant = tenant.cloned();
        meta
    }

    fn zone_resource(&self, zone: &Zone) -> Resource {
        let meta = self
            .meta(
                ResourceKind::DnsZone,
                &zone.name,
                &zone.name,
                zone.tenant.as_ref(),
            )
            .with_provider_data(serde_json::json!({
                "name": zone.name,
                "account": zone.tenant,
                "serial": zone.serial(),
            }));
        Resource::DnsZone(DnsZone {
            meta,
            serial: zone.serial(),
            nameservers: zone.nameservers(),
        })
    }

    fn record_resource(&self, zone: &Zone, set: &RecordSet, data: &RecordData) -> Resource {
        let id = record_id(&zone.name, &set.name, data);
        let meta = self
            .meta(
                ResourceKind::DnsRecord,
                &id,
                &set.name,
                zone.tenant.as_ref(),
            )
            .with_provider_data(serde_json::json!({
                "name": format!("{}.", set.name),
                "type": set.rtype,
                "ttl": set.ttl,
                "content": data.to_string(),
                "owner": set.owner,
            }));
        Resource::DnsRecord(DnsRecord {
            meta,
            zone: zone.name.clone(),
            ttl: set.ttl,
            data: data.clone(),
        })
    }

    /// The zone with the record sets at `names` only (apex for zone-level views).
    async fn require_zone(&self, name: &str, names: &[&str]) -> Result<Zone> {
        self.backend
            .get_zone_at(name, names)
            .await?
            .ok_or_else(|| Error::not_found(format!("zone {name}")))
    }

    fn check_set_owner(&self, set: &RecordSet) -> Result<()> {
        match &set.owner {
            Some(owner) if *owner != self.options.owner => Err(Error::conflict(format!(
                "record set {} is managed by {owner}",
                set.key()
            ))),
            _ => Ok(()),
        }
    }

    /// A record spec naming a tenant may only touch that tenant's zones.
    fn check_tenant(&self, spec: &DnsRecordSpec, zone: &Zone) -> Result<()> {
        if spec.common.tenant.is_some() && spec.common.tenant != zone.tenant {
            return Err(Error::new(ErrorKind::PermissionDenied)
                .with_message(format!("zone {} belongs to another tenant", zone.name)));
        }
        Ok(())
    }

    /// Neither backend stores labels: refuse them rather than drop them silently.
    fn refuse_labels(spec: &ResourceSpec) -> Result<()> {
        if spec.common().labels.is_empty() {
            return Ok(());
        }
        Err(Error::invalid_input(
            "labels",
            "DNS zones and records cannot carry labels (neither PowerDNS nor zone files store them)",
        ))
    }

    fn valid_zone_spec(spec: &ResourceSpec) -> Result<DnsZoneSpec> {
        Self::refuse_labels(spec)?;
        match spec.validate()? {
            ResourceSpec::DnsZone(s) => Ok(s),
            other => Err(Error::invalid_input(
                "kind",
                format!("expected a dns_zone spec, got {}", other.kind()),
            )),
        }
    }

    /// Validated record spec and the one-record set it describes.
    fn valid_record_spec(&self, spec: &ResourceSpec) -> Result<(DnsRecordSpec, RecordSet)> {
        Self::refuse_labels(spec)?;
        let s = match spec.validate()? {
            ResourceSpec::DnsRecord(s) => s,
            other => {
                return Err(Error::invalid_input(
                    "kind",
                    format!("expected a dns_record spec, got {}", other.kind()),
                ))
            }
        };
        let set = RecordSet::new(
            &s.zone,
            &format!("{}.", s.name),
            s.ttl.unwrap_or(self.options.default_ttl),
            vec![s.data.clone()],
        )?;
        Ok((s, set))
    }

    /// Apply `changes` after checking the zone they produce is valid.
    async fn apply_checked(&self, zone: &Zone, changes: Vec<Change>) -> Result<()> {
        let mut after = zone.clone();
        for c in &changes {
            match c {
                Change::Delete(s) => {
                    after.rrsets.remove(&s.key());
                }
                Change::Add(s) | Change::Update { after: s, .. } => {
                    after.insert(s.clone());
                }
            }
        }
        after.validate()?;
        self.backend.apply_changes(&zone.name, &changes).await
    }

    async fn create_zone(&self, spec: &ResourceSpec) -> Result<Resource> {
        let s = Self::valid_zone_spec(spec)?;
        let mut template = self.options.template.clone();
        if !s.nameservers.is_empty() {
            template.nameservers = s.nameservers.clone();
        }
        let mut zone = template.build(&s.name, serial::next_today(0))?;
        zone.tenant = s.common.tenant.clone();
        for set in zone.rrsets.values_mut() {
            // The SOA too: its marker is what makes the zone ours.
            set.owner = Some(self.options.owner.clone());
        }
        self.backend.check_zone(&zone)?;
        if let Some(existing) = self.backend.get_zone_at(&s.name, &[&s.name]).await? {
            return self.take_existing_zone(existing, zone, spec).await;
        }
        match self.backend.create_zone(&zone).await {
            Ok(()) => {}
            // Lost a race with another creator: judge what is there now.
            Err(e) if e.kind() == &ErrorKind::AlreadyExists || e.kind() == &ErrorKind::Conflict => {
                let existing = self.require_zone(&s.name, &[&s.name]).await?;
                return self.take_existing_zone(existing, zone, spec).await;
            }
            Err(e) => return Err(e),
        }
        Ok(self.zone_resource(&self.require_zone(&s.name, &[&s.name]).await?))
    }

    /// Zone-level changes (name servers, delete) only on zones we own.
    fn require_ours(&self, zone: &Zone) -> Result<()> {
        if self.is_ours(zone) {
            return Ok(());
        }
        Err(
            Error::new(ErrorKind::PermissionDenied).with_message(format!(
                "zone {} is not managed by {}: change it with the tool that made it",
                zone.name, self.options.owner
            )),
        )
    }

    /// Whether `zone` carries our marker on its apex SOA.
    fn is_ours(&self, zone: &Zone) -> bool {
        zone.owner() == Some(self.options.owner.as_str())
    }

    /// Create found `existing` (apex sets only): adopt it when it is ours,
    /// complete it when a killed create left it empty, take it over only
    /// when [`AdapterOptions::adopt_zones`] says so.
    async fn take_existing_zone(
        &self,
        existing: Zone,
        wanted: Zone,
        spec: &ResourceSpec,
    ) -> Result<Resource> {
        if existing.tenant.as_deref() != spec.tenant() {
            return Err(Error::already_exists(format!(
                "zone {} exists and is not ours",
                existing.name
            )));
        }
        if self.is_ours(&existing) {
            return self.adopt_zone(&existing, spec);
        }
        if existing.owner().is_none() && existing.rrsets.is_empty() {
            let whole = self.backend.get_zone(&existing.name).await?;
            if whole.is_some_and(|z| z.rrsets.is_empty()) {
                return self.complete_empty_zone(wanted).await;
            }
        }
        if !self.options.adopt_zones {
            return Err(Error::already_exists(format!(
                "zone {} exists and is not managed by {} (set adopt_zones to take it over)",
                existing.name, self.options.owner
            )));
        }
        let resource = self.adopt_zone(&existing, spec)?;
        self.mark_ours(&existing).await?;
        Ok(resource)
    }

    /// A create killed part-way left the zone empty (no SOA): add everything.
    async fn complete_empty_zone(&self, wanted: Zone) -> Result<Resource> {
        let changes = wanted.rrsets.values().cloned().map(Change::Add).collect();
        let empty = Zone {
            rrsets: Default::default(),
            ..wanted.clone()
        };
        self.apply_checked(&empty, changes).await?;
        Ok(self.zone_resource(&self.require_zone(&wanted.name, &[&wanted.name]).await?))
    }

    /// Put our marker on a foreign zone's SOA (served data unchanged).
    async fn mark_ours(&self, zone: &Zone) -> Result<()> {
        let Some(before) = zone.get(&zone.name, stackdock_core::dns::RecordType::SOA) else {
            return Err(Error::conflict(format!(
                "zone {} has no SOA to mark",
                zone.name
            )));
        };
        let after = before.clone().owned_by(self.options.owner.clone());
        let change = Change::Update {
            before: before.clone(),
            after,
        };
        self.backend.apply_changes(&zone.name, &[change]).await
    }

    fn adopt_zone(&self, existing: &Zone, spec: &ResourceSpec) -> Result<Resource> {
        let resource = self.zone_resource(existing);
        let (diff, _) = spec.diff(&resource);
        if !diff.is_empty() {
            let fields: Vec<_> = diff.iter().map(|d| d.field.as_str()).collect();
            return Err(Error::conflict(format!(
                "zone {} exists with different {}",
                existing.name,
                fields.join(", ")
            )));
        }
        Ok(resource)
    }

    async fn update_zone(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        let s = Self::valid_zone_spec(spec)?;
        if s.name != id.id {
            return Err(Error::invalid_input("name", "a zone cannot be renamed"));
        }
        let zone = self.require_zone(&s.name, &[&s.name]).await?;
        if s.common.tenant.is_some() && s.common.tenant != zone.tenant {
            return Err(Error::invalid_input(
                "tenant",
                "a zone cannot move to another tenant",
            ));
        }
        self.require_ours(&zone)?;
        if !s.nameservers.is_empty() {
            let records = s
                .nameservers
                .iter()
                .map(|n| RecordData::NS {
                    nameserver: n.clone(),
                })
                .collect();
            let before = zone
                .get(&zone.name, stackdock_core::dns::RecordType::NS)
                .cloned();
            let ttl = before.as_ref().map_or(self.options.template.ttl, |b| b.ttl);
            let mut after = RecordSet::new(&zone.name, "@", ttl, records)?;
            after.owner = Some(self.options.owner.clone());
            let change = match before {
                Some(before) if before.records == after.records => None,
                Some(before) => {
                    self.check_set_owner(&before)?;
                    Some(Change::Update { before, after })
                }
                None => Some(Change::Add(after)),
            };
            if let Some(change) = change {
                self.apply_checked(&zone, vec![change]).await?;
            }
        }
        Ok(self.zone_resource(&self.require_zone(&s.name, &[&s.name]).await?))
    }

    async fn create_record(&self, spec: &ResourceSpec) -> Result<Resource> {
        let (s, new) = self.valid_record_spec(spec)?;
        let zone = self.require_zone(&s.zone, &[&new.name]).await?;
        self.check_tenant(&s, &zone)?;
        let data = &new.records[0].clone();
        let change = match zone.rrsets.get(&new.key()) {
            Some(existing) if existing.records.contains(data) => {
                if existing
                    .owner
                    .as_ref()
                    .is_some_and(|o| *o != self.options.owner)
                {
                    return Err(Error::already_exists(format!(
                        "record {} exists and is managed by another tool",
                        record_id(&zone.name, &new.name, data)
                    )));
                }
                if s.ttl.is_some_and(|t| t != existing.ttl) {
                    return Err(Error::conflict(format!(
                        "record {} exists with TTL {}",
                        record_id(&zone.name, &new.name, data),
                        existing.ttl
                    )));
                }
                return Ok(self.record_resource(&zone, existing, data));
            }
            Some(existing) => {
                self.check_set_owner(existing)?;
                let mut after = existing.clone();
                after.records.push(data.clone());
                crate::model::sort_records(&mut after.records);
                after.ttl = s.ttl.unwrap_or(existing.ttl);
                Change::Update {
                    before: existing.clone(),
                    after,
                }
            }
            None => Change::Add(new.clone().owned_by(self.options.owner.clone())),
        };
        let after = change.after().cloned().unwrap_or(new);
        self.apply_checked(&zone, vec![change]).await?;
        Ok(self.record_resource(&zone, &after, data))
    }

    async fn update_record(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        let (s, new) = self.valid_record_spec(spec)?;
        let old = parse_record_id(&id.id).ok_or_else(|| Error::not_found(id.to_string()))?;
        if old.zone != s.zone {
            return Err(Error::invalid_input(
                "zone",
                "a record cannot move to another zone",
            ));
        }
        let zone = self.require_zone(&s.zone, &[&old.owner, &new.name]).await?;
        self.check_tenant(&s, &zone)?;
        let old_key = RecordSetKey::new(old.owner.clone(), old.data.record_type());
        let old_set = zone
            .rrsets
            .get(&old_key)
            .filter(|set| set.records.contains(&old.data))
            .cloned()
            .ok_or_else(|| Error::not_found(id.to_string()))?;
        self.check_set_owner(&old_set)?;
        let data = new.records[0].clone();
        let mut changes = Vec::new();
        let mut remaining = old_set.clone();
        remaining.records.retain(|r| *r != old.data);
        let target = if new.key() == old_key {
            let mut after = remaining;
            after.records.push(data.clone());
            crate::model::sort_records(&mut after.records);
            after.ttl = s.ttl.unwrap_or(old_set.ttl);
            if after == old_set {
                return Ok(self.record_resource(&zone, &old_set, &data));
            }
            changes.push(Change::Update {
                before: old_set,
                after: after.clone(),
            });
            after
        } else {
            changes.push(if remaining.records.is_empty() {
                Change::Delete(old_set)
            } else {
                Change::Update {
                    before: old_set,
                    after: remaining,
                }
            });
            match zone.rrsets.get(&new.key()) {
                Some(existing) => {
                    self.check_set_owner(existing)?;
                    let mut after = existing.clone();
                    after.records.push(data.clone());
                    crate::model::sort_records(&mut after.records);
                    after.ttl = s.ttl.unwrap_or(existing.ttl);
                    changes.push(Change::Update {
                        before: existing.clone(),
                        after: after.clone(),
                    });
                    after
                }
                None => {
                    let after = new.owned_by(self.options.owner.clone());
                    changes.push(Change::Add(after.clone()));
                    after
                }
            }
        };
        self.apply_checked(&zone, changes).await?;
        Ok(self.record_resource(&zone, &target, &data))
    }

    /// Delete a zone only if it is ours; already gone is success.
    async fn delete_zone(&self, id: &str) -> Result<()> {
        let Ok(name) = stackdock_core::validate::domain("id", id) else {
            return Ok(()); // no such zone can exist
        };
        let Some(zone) = self.backend.get_zone_at(&name, &[&name]).await? else {
            return Ok(());
        };
        self.require_ours(&zone)?;
        self.backend.delete_zone(&name).await.map(drop)
    }

    async fn delete_record(&self, id: &ResourceId) -> Result<()> {
        let Some(old) = parse_record_id(&id.id) else {
            return Ok(()); // no such record can exist
        };
        let Some(zone) = self.backend.get_zone_at(&old.zone, &[&old.owner]).await? else {
            return Ok(());
        };
        let key = RecordSetKey::new(old.owner.clone(), old.data.record_type());
        let Some(set) = zone
            .rrsets
            .get(&key)
            .filter(|s| s.records.contains(&old.data))
            .cloned()
        else {
            return Ok(());
        };
        self.check_set_owner(&set)?;
        let mut after = set.clone();
        after.records.retain(|r| *r != old.data);
        let change = if after.records.is_empty() {
            Change::Delete(set)
        } else {
            Change::Update { before: set, after }
        };
        self.apply_checked(&zone, vec![change]).await
    }

    fn page<T>(&self, mut items: Vec<(String, T)>, options: &ListOptions) -> Page<T> {
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let size = options
            .page_size
            .unwrap_or(self.options.page_size)
            .clamp(1, self.options.page_size.max(1)) as usize;
        let start = match &options.cursor {
            Some(c) => items.partition_point(|(k, _)| k <= c),
            None => 0,
        };
        let mut rest: Vec<_> = items.into_iter().skip(start).collect();
        let next_cursor = if rest.len() > size {
            rest.truncate(size);
            rest.last().map(|(k, _)| k.clone())
        } else {
            None
        };
        Page {
            items: rest.into_iter().map(|(_, v)| v).collect(),
            next_cursor,
        }
    }

    async fn list_inner(
        &self,
        kind: ResourceKind,
        options: &ListOptions,
    ) -> Result<Page<Resource>> {
        if !options.labels.is_empty() {
            // Neither backend stores labels: nothing carries the asked-for labels.
            return Ok(Page::last(Vec::new()));
        }
        let tenant = options.tenant.as_deref();
        match kind {
            ResourceKind::DnsZone => {
                let mut items = Vec::new();
                for summary in self.backend.list_zones(tenant).await? {
                    if tenant.is_some() && summary.tenant.as_deref() != tenant {
                        continue; // defence in depth: never another tenant's zone
                    }
                    let meta = self
                        .meta(
                            ResourceKind::DnsZone,
                            &summary.name,
                            &summary.name,
                            summary.tenant.as_ref(),
                        )
                        .with_provider_data(summary.provider_data.clone());
                    let resource = Resource::DnsZone(DnsZone {
                        meta,
                        serial: summary.serial,
                        nameservers: Vec::new(),
                    });
                    items.push((summary.name, resource));
                }
                Ok(self.page(items, options))
            }
            ResourceKind::DnsRecord => {
                let zones: Vec<String> = match &options.parent {
                    Some(parent) => vec![stackdock_core::validate::domain("parent", parent)?],
                    None => self
                        .backend
                        .list_zones(tenant)
                        .await?
                        .into_iter()
                        .map(|z| z.name)
                        .collect(),
                };
                let mut items = Vec::new();
                for name in zones {
                    let Some(zone) = self.backend.get_zone(&name).await? else {
                        continue;
                    };
                    if tenant.is_some() && zone.tenant.as_deref() != tenant {
                        continue;
                    }
                    for set in zone.rrsets.values() {
                        for data in &set.records {
                            let r = self.record_resource(&zone, set, data);
                            items.push((r.id().id, r));
                        }
                    }
                }
                Ok(self.page(items, options))
            }
            other => Err(self.unsupported(Operation::List, other)),
        }
    }

    async fn observe_inner(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        if let Some(spec) = desired {
            if spec.kind() != id.kind {
                return Err(Error::invalid_input("kind", "spec kind does not match id"));
            }
        }
        match id.kind {
            ResourceKind::DnsZone => {
                let Ok(name) = stackdock_core::validate::domain("id", &id.id) else {
                    return Ok(Observation::absent());
                };
                Ok(match self.backend.get_zone_at(&name, &[&name]).await? {
                    Some(zone) => Observation::of(self.zone_resource(&zone), desired),
                    None => Observation::absent(),
                })
            }
            ResourceKind::DnsRecord => {
                let Some(rid) = parse_record_id(&id.id) else {
                    return Ok(Observation::absent());
                };
                let Some(zone) = self.backend.get_zone_at(&rid.zone, &[&rid.owner]).await? else {
                    return Ok(Observation::absent());
                };
                let key = RecordSetKey::new(rid.owner, rid.data.record_type());
                Ok(
                    match zone
                        .rrsets
                        .get(&key)
                        .filter(|s| s.records.contains(&rid.data))
                    {
                        Some(set) => {
                            Observation::of(self.record_resource(&zone, set, &rid.data), desired)
                        }
                        None => Observation::absent(),
                    },
                )
            }
            other => Err(self.unsupported(Operation::Observe, other)),
        }
    }
}

/// One audit entry per mutation: what was asked, on which dock, the outcome.
/// Specs and ids of DNS resources hold no secrets.
fn audit(
    dock: &str,
    op: Operation,
    kind: ResourceKind,
    target: &str,
    outcome: std::result::Result<(), &Error>,
) {
    match outcome {
        Ok(()) => {
            tracing::info!(dock, operation = %op, kind = kind.as_str(), target, "dns change done")
        }
        Err(e) => {
            tracing::warn!(dock, operation = %op, kind = kind.as_str(), target, error = %e, "dns change failed")
        }
    }
}

#[async_trait]
impl<B: DnsBackend> DockAdapter for DnsAdapter<B> {
    fn provider(&self) -> &ProviderInfo {
        &self.info
    }

    fn dock_id(&self) -> &str {
        &self.dock_id
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            dns_zone: Operations::ALL,
            dns_record: Operations::ALL,
            ..Default::default()
        }
    }

    async fn check_credentials(&self) -> Result<()> {
        self.backend.check().await
    }

    async fn list(&self, kind: ResourceKind, options: &ListOptions) -> Result<Page<Resource>> {
        self.list_inner(kind, options)
            .await
            .map_err(|e| e.with_operation(Operation::List.on(kind)))
    }

    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        self.observe_inner(id, desired)
            .await
            .map_err(|e| e.with_operation(Operation::Observe.on(id.kind)))
    }

    async fn create(&self, spec: &ResourceSpec) -> Result<Resource> {
        let kind = spec.kind();
        self.options
            .validate()
            .map_err(|e| e.with_operation(Operation::Create.on(kind)))?;
        let result = match kind {
            ResourceKind::DnsZone => self.create_zone(spec).await,
            ResourceKind::DnsRecord => self.create_record(spec).await,
            other => return Err(self.unsupported(Operation::Create, other)),
        };
        audit(
            &self.dock_id,
            Operation::Create,
            kind,
            spec.name(),
            result.as_ref().map(drop),
        );
        result.map_err(|e| e.with_operation(Operation::Create.on(kind)))
    }

    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        let op = Operation::Update.on(id.kind);
        self.options
            .validate()
            .map_err(|e| e.with_operation(op.clone()))?;
        if spec.kind() != id.kind {
            return Err(
                Error::invalid_input("kind", "spec kind does not match id").with_operation(op)
            );
        }
        let result = match id.kind {
            ResourceKind::DnsZone => self.update_zone(id, spec).await,
            ResourceKind::DnsRecord => self.update_record(id, spec).await,
            other => return Err(self.unsupported(Operation::Update, other)),
        };
        audit(
            &self.dock_id,
            Operation::Update,
            id.kind,
            &id.id,
            result.as_ref().map(drop),
        );
        result.map_err(|e| e.with_operation(op))
    }

    async fn delete(&self, id: &ResourceId) -> Result<()> {
        let result = match id.kind {
            ResourceKind::DnsZone => self.delete_zone(&id.id).await,
            ResourceKind::DnsRecord => self.delete_record(id).await,
            other => return Err(self.unsupported(Operation::Delete, other)),
        };
        audit(
            &self.dock_id,
            Operation::Delete,
            id.kind,
            &id.id,
            result.as_ref().map(drop),
        );
        result.map_err(|e| e.with_operation(Operation::Delete.on(id.kind)))
    }
}
