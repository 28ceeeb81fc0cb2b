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
//! * **Outcomes and races**: a create reports
//!   [`Created`](stackdock_core::CreateOutcome::Created) only when it made
//!   the zone or record (or completed a zone a killed create left empty),
//!   [`Adopted`](stackdock_core::CreateOutcome::Adopted) when it found it.
//!   Writes to one zone (its creation, its records) run one at a time per
//!   adapter (a per-zone async lock), and a failed zone create looks again:
//!   PowerDNS answers a lost race with 409 or, on SQLite, a 500 (UNIQUE
//!   constraint); a zone that is then there and ours is adopted.
//! * **Arguments**: tenancy (the zone's tenant: PowerDNS `account`, the
//!   zone-file header), tenant and parent (zone) filters on listings. Labels
//!   are not stored by either backend, so they are not declared: the
//!   [`CheckedLayer`](stackdock_core::layer::CheckedLayer) refuses them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use stackdock_core::dns::RecordData;
use stackdock_core::resource::{DnsRecord, DnsZone};
use stackdock_core::spec::{DnsRecordSpec, DnsZoneSpec};
use stackdock_core::{
    Arguments, Capabilities, Created, DockAdapter, Error, ErrorKind, ListOptions, Observation,
    Operation, Operations, Page, ProviderInfo, Resource, ResourceId, ResourceKind, ResourceMeta,
    ResourceSpec, ResourceStatus, Result,
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
    /// One write lock per zone name, so writes to a zone from this adapter
    /// never interleave their read-modify-write cycles (see [`Self::zone_lock`]).
    zone_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
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

/// How often a record create writes when another process keeps replacing
/// the record's set under it.
const RECORD_WRITE_ATTEMPTS: usize = 3;

/// How often a create looks again at an unmarked zone before judging it
/// (20, 40 ... 100 ms apart: 300 ms in all), see `DnsAdapter::settled`.
const SETTLE_LOOKS: u64 = 5;

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
            zone_locks: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for the write lock of `zone`. Held for the whole
    /// read-check-write of a create, update or delete, so 20 concurrent
    /// creates of one zone or record give one `Created` and 19 `Adopted`.
    /// A dropped future releases it. Locks of zones no one holds or waits for
    /// are removed, so the map stays as small as the zones being written.
    async fn zone_lock(&self, zone: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.zone_locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            locks.entry(zone.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
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

    /// The zone spec. The [`CheckedLayer`](stackdock_core::layer::CheckedLayer)
    /// has validated it and checked its kind; a bare call with another kind
    /// is refused here too.
    fn zone_spec(spec: &ResourceSpec) -> Result<&DnsZoneSpec> {
        match spec {
            ResourceSpec::DnsZone(s) => Ok(s),
            other => Err(Error::invalid_input(
                "kind",
                format!("expected a dns_zone spec, got {}", other.kind()),
            )),
        }
    }

    /// The record spec (validated by the layer: its name is the canonical
    /// absolute owner) and the one-record set it describes. Backend rules
    /// the core does not know (e.g. record types a backend cannot store)
    /// fail here, before any remote call.
    fn valid_record_spec<'s>(
        &self,
        spec: &'s ResourceSpec,
    ) -> Result<(&'s DnsRecordSpec, RecordSet)> {
        let s = match spec {
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
            c.apply_to(&mut after);
        }
        after.validate()?;
        self.backend.apply_changes(&zone.name, &changes).await
    }

    /// The zone a create of `s` makes: the template (its name servers
    /// replaced by the spec's), the spec's tenant, every set marked ours.
    fn new_zone(&self, s: &DnsZoneSpec) -> Result<Zone> {
        let mut template = self.options.template.clone();
        if !s.nameservers.is_empty() {
            template.nameservers = s.nameservers.clone();
        }
        if let Some(overrides) = &s.template {
            template.apply(overrides);
        }
        let mut zone = template.build(&s.name, serial::next_today(0))?;
        zone.tenant = s.common.tenant.clone();
        for set in zone.rrsets.values_mut() {
            // The SOA too: its marker is what makes the zone ours.
            set.owner = Some(self.options.owner.clone());
        }
        self.backend.check_zone(&zone)?;
        Ok(zone)
    }

    async fn create_zone(&self, spec: &ResourceSpec) -> Result<Created> {
        let s = Self::zone_spec(spec)?;
        let zone = self.new_zone(s)?;
        let _writing = self.zone_lock(&s.name).await;
        if let Some(existing) = self.backend.get_zone_at(&s.name, &[&s.name]).await? {
            return self.take_existing_zone(existing, zone, spec).await;
        }
        if let Err(failed) = self.backend.create_zone(&zone).await {
            return self.after_failed_create(zone, spec, failed).await;
        }
        let made = self.require_zone(&s.name, &[&s.name]).await?;
        Ok(Created::new(self.zone_resource(&made)))
    }

    /// The zone create failed: another process may have won the race
    /// (PowerDNS answers 409, or 500 when SQLite's UNIQUE constraint fires),
    /// or the answer was lost after the server made it. Look again, a few
    /// times for a racer whose transaction is still committing: a zone that
    /// is there now is judged like one found before the create (adopted when
    /// ours); when none is, the create's own error stands.
    async fn after_failed_create(
        &self,
        wanted: Zone,
        spec: &ResourceSpec,
        failed: Error,
    ) -> Result<Created> {
        if matches!(failed.kind(), ErrorKind::InvalidInput { .. }) {
            return Err(failed); // refused as sent: there is nothing to look for
        }
        for attempt in 0..3u64 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
            }
            match self
                .backend
                .get_zone_at(&wanted.name, &[&wanted.name])
                .await
            {
                Ok(Some(existing)) => return self.take_existing_zone(existing, wanted, spec).await,
                Ok(None) => {}
                Err(_) => break, // the look failed too: report the create's error
            }
        }
        Err(failed)
    }

    /// Create found `existing` (apex sets only): adopt it when it is ours,
    /// complete it when a killed create left it empty (then this call made
    /// it: created), take it over only when [`AdapterOptions::adopt_zones`]
    /// says so.
    async fn take_existing_zone(
        &self,
        existing: Zone,
        wanted: Zone,
        spec: &ResourceSpec,
    ) -> Result<Created> {
        if existing.tenant.as_deref() != spec.tenant() {
            return Err(Error::already_exists(format!(
                "zone {} exists and is not ours",
                existing.name
            )));
        }
        let existing = self.settled(existing).await?;
        if self.is_ours(&existing) {
            return self.adopt_zone(&existing, spec).map(Created::adopted);
        }
        if existing.owner().is_none() && existing.rrsets.is_empty() {
            let whole = self.backend.get_zone(&existing.name).await?;
            if whole.is_some_and(|z| z.rrsets.is_empty()) {
                return self.complete_empty_zone(wanted).await.map(Created::new);
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
        Ok(Created::adopted(resource))
    }

    /// `existing` once its SOA carries a marker, or as it is after a few
    /// looks. A zone without a marked SOA may be a create still being
    /// written (ours, dropped by its caller a moment ago, or another
    /// process's): PowerDNS commits the zone row, then its records and their
    /// comments. Judging it mid-way would call our own zone foreign, or
    /// complete a zone the server is still filling.
    async fn settled(&self, mut existing: Zone) -> Result<Zone> {
        for look in 1..=SETTLE_LOOKS {
            if existing.owner().is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20 * look)).await;
            match self
                .backend
                .get_zone_at(&existing.name, &[&existing.name])
                .await?
            {
                Some(now) => existing = now,
                None => break, // deleted meanwhile: judged as last seen
            }
        }
        Ok(existing)
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

    /// Put our marker on a foreign zone's SOA (served data unchanged).
    async fn mark_ours(&self, zone: &Zone) -> Result<()> {
        let Some(before) = zone.get(&zone.name, stackdock_core::dns::RecordType::SOA) else {
            return Err(Error::conflict(format!(
                "zone {} has no SOA to mark",
                zone.name
            )));
        };
        let after = before.clone().owned_by(self.options.owner.clone());
        let change = Change::update(before.clone(), after);
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
        let s = Self::zone_spec(spec)?;
        if s.name != id.id {
            return Err(Error::invalid_input("name", "a zone cannot be renamed"));
        }
        let _writing = self.zone_lock(&s.name).await;
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
                    Some(Change::update(before, after))
                }
                None => Some(Change::Add(after)),
            };
            if let Some(change) = change {
                self.apply_checked(&zone, vec![change]).await?;
            }
        }
        Ok(self.zone_resource(&self.require_zone(&s.name, &[&s.name]).await?))
    }

    /// Create a record: under the zone's lock, read its set, adopt the
    /// record when it is there, else add it and read again. The read after
    /// the write is what the outcome rests on: a write that failed but whose
    /// record is there (an answer lost, another process faster) adopts it; a
    /// write that succeeded but whose record is gone (another process replaced
    /// the set at the same moment) is made again.
    async fn create_record(&self, spec: &ResourceSpec) -> Result<Created> {
        let (s, new) = self.valid_record_spec(spec)?;
        let _writing = self.zone_lock(&s.zone).await;
        for _ in 0..RECORD_WRITE_ATTEMPTS {
            let zone = self.require_zone(&s.zone, &[&new.name]).await?;
            self.check_tenant(s, &zone)?;
            if let Some(found) = self.find_record(&zone, s, &new)? {
                return Ok(Created::adopted(found));
            }
            let written = self
                .apply_checked(&zone, vec![self.record_add(&zone, s, &new)?])
                .await;
            let now = match self.require_zone(&s.zone, &[&new.name]).await {
                Ok(now) => now,
                Err(look) => return Err(written.err().unwrap_or(look)),
            };
            match (written, self.find_record(&now, s, &new)?) {
                (Ok(()), Some(made)) => return Ok(Created::new(made)),
                (Err(_), Some(found)) => return Ok(Created::adopted(found)),
                (Err(e), None) => return Err(e),
                (Ok(()), None) => continue,
            }
        }
        Err(Error::conflict(format!(
            "record set {} kept changing while adding the record: try again",
            new.key()
        )))
    }

    /// The record `new` describes when its set holds it: ours (or
    /// unmarked) with a compatible TTL. Another tool's is `AlreadyExists`,
    /// another TTL is `Conflict`.
    fn find_record(
        &self,
        zone: &Zone,
        s: &DnsRecordSpec,
        new: &RecordSet,
    ) -> Result<Option<Resource>> {
        let data = &new.records[0];
        let Some(existing) = zone
            .rrsets
            .get(&new.key())
            .filter(|set| set.records.contains(data))
        else {
            return Ok(None);
        };
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
        Ok(Some(self.record_resource(zone, existing, data)))
    }

    /// The change that adds `new`'s record to its set (or makes the set).
    fn record_add(&self, zone: &Zone, s: &DnsRecordSpec, new: &RecordSet) -> Result<Change> {
        let data = &new.records[0];
        Ok(match zone.rrsets.get(&new.key()) {
            Some(existing) => {
                self.check_set_owner(existing)?;
                let mut after = existing.clone();
                after.records.push(data.clone());
                crate::model::sort_records(&mut after.records);
                after.ttl = s.ttl.unwrap_or(existing.ttl);
                Change::update(existing.clone(), after)
            }
            None => Change::Add(new.clone().owned_by(self.options.owner.clone())),
        })
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
        let _writing = self.zone_lock(&s.zone).await;
        let zone = self.require_zone(&s.zone, &[&old.owner, &new.name]).await?;
        self.check_tenant(s, &zone)?;
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
            changes.push(Change::update(old_set, after.clone()));
            after
        } else {
            changes.push(if remaining.records.is_empty() {
                Change::Delete(old_set)
            } else {
                Change::update(old_set, remaining)
            });
            match zone.rrsets.get(&new.key()) {
                Some(existing) => {
                    self.check_set_owner(existing)?;
                    let mut after = existing.clone();
                    after.records.push(data.clone());
                    crate::model::sort_records(&mut after.records);
                    after.ttl = s.ttl.unwrap_or(existing.ttl);
                    changes.push(Change::update(existing.clone(), after.clone()));
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
        let _writing = self.zone_lock(&name).await;
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
        let _writing = self.zone_lock(&old.zone).await;
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
            Change::update(set, after)
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
        let tenant = options.tenant.as_deref();
        match kind {
            // Zones have no parent: a parent filter is refused, never ignored.
            ResourceKind::DnsZone if options.parent.is_some() => Err(Error::unsupported(
                "list dns_zone with a parent filter (zones have no parent)",
                self.info.id.clone(),
            )),
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

    /// Zones and records, fully. Tenancy is the zone's tenant (PowerDNS
    /// `account`, the zone-file header), listings filter by tenant and by
    /// zone (records' parent); pages are capped at
    /// [`AdapterOptions::page_size`]. No labels: neither backend stores them.
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_kind(ResourceKind::DnsZone, Operations::ALL)
            .with_kind(ResourceKind::DnsRecord, Operations::ALL)
            .with_arguments(
                Arguments::new()
                    .with_tenancy()
                    .with_list_by_tenant()
                    .with_parent_filter()
                    .with_max_page_size(self.options.page_size),
            )
    }

    fn endpoint(&self) -> Option<String> {
        self.backend.endpoint()
    }

    fn rate_limit(&self) -> Option<stackdock_core::RateLimit> {
        self.backend.rate_limit()
    }

    /// Ids are names: a zone's is its canonical name, a record's
    /// `<zone>/<owner>/<TYPE>/<content>` ([`record_id`]).
    fn planned_id(&self, spec: &ResourceSpec) -> Option<ResourceId> {
        match spec {
            ResourceSpec::DnsZone(s) => Some(ResourceId::new(ResourceKind::DnsZone, &s.name)),
            ResourceSpec::DnsRecord(_) => {
                let (s, set) = self.valid_record_spec(spec).ok()?;
                let id = record_id(&s.zone, &set.name, &set.records[0]);
                Some(ResourceId::new(ResourceKind::DnsRecord, id))
            }
            _ => None,
        }
    }

    async fn check_credentials(&self) -> Result<()> {
        self.backend.check().await
    }

    async fn list(&self, kind: ResourceKind, options: &ListOptions) -> Result<Page<Resource>> {
        self.list_inner(kind, options).await
    }

    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        self.observe_inner(id, desired).await
    }

    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        let kind = spec.kind();
        self.options.validate()?;
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
        result
    }

    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        self.options.validate()?;
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
        result
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
        result
    }
}
