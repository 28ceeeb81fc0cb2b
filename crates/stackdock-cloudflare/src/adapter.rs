//! The adapter: a [`KitAdapter`] over [`Zones`] and [`Records`].
//!
//! | kind | Cloudflare object | id |
//! |---|---|---|
//! | `DnsZone` | zone (no update: Cloudflare assigns name servers) | zone id |
//! | `DnsRecord` | DNS record | `<zone name>/<record id>` |
//!
//! **Ownership.** Records this dock writes carry the configured
//! [`marker`](crate::CloudflareConfig::marker) as their `comment`. Updating
//! or deleting a record without it is a `Conflict`, and a create that finds
//! an identical record without it is `AlreadyExists`: records of other tools
//! (or made by hand) in a shared zone are never touched. TTL 1 is
//! Cloudflare's "automatic"; a spec without a TTL gets it.

use serde_json::{json, Value};
use stackdock_core::dns::{content_parts, from_parts, RecordData, RecordType};
use stackdock_core::kit::KitProvider;
use stackdock_core::kit::{create_or_adopt, dns_record, dns_zone, parent, KindHandler, KitAdapter};
use stackdock_core::spec::{DnsRecordSpec, DnsZoneSpec};
use stackdock_core::{async_trait, Arguments, Created, Error, ListOptions, Operations, Page};
use stackdock_core::{Resource, ResourceKind, ResourceStatus as Status, Result};
use stackdock_http::{encode_path_segment as seg, Request, RestClient};

use crate::client::{records_path, ZONES_PER_PAGE};
use crate::{CloudflareClient, CloudflareConfig, API};

/// The Cloudflare adapter.
pub type CloudflareAdapter = KitAdapter<RestClient>;

/// The adapter for `config` (no call is made).
pub fn adapter(config: &CloudflareConfig) -> Result<CloudflareAdapter> {
    let c = CloudflareClient::new(config)?;
    let args = Arguments::new()
        .with_parent_filter()
        .with_provider_assigned_ids();
    let args = args.with_max_page_size(API.max_page_size);
    let adapter = KitAdapter::new(c.rest.clone()).with_arguments(args);
    Ok(adapter.with(Zones(c.clone())).with(Records(c)))
}

fn zone(rest: &RestClient, raw: Value) -> Resource {
    let status = match raw["status"].as_str() {
        Some("active") => Status::Active,
        Some("pending" | "initializing") => Status::Pending,
        Some("moved" | "deactivated") => Status::Suspended,
        _ => Status::Unknown,
    };
    let text = |v: &Value| v.as_str().unwrap_or_default().to_ascii_lowercase();
    let servers = raw["name_servers"].as_array().map(|a| a.iter().map(text));
    let (id, name) = (text(&raw["id"]), text(&raw["name"]));
    let meta = rest.meta(ResourceKind::DnsZone, id, name, raw.clone());
    dns_zone(
        meta.with_status(status),
        servers.into_iter().flatten().collect(),
    )
}

/// A record's owner, TTL and typed data (`None` for types StackDock does
/// not carry): MX and SRV keep their priority in `priority`.
pub(crate) fn record_parts(raw: &Value) -> Option<(String, u32, RecordData)> {
    let priority = raw["priority"].as_u64().map(u16::try_from);
    let (rtype, content) = (raw["type"].as_str()?, raw["content"].as_str()?);
    let data = from_parts(rtype, priority.transpose().ok()?, content)?;
    let ttl = u32::try_from(raw["ttl"].as_u64()?).ok()?;
    Some((raw["name"].as_str()?.to_ascii_lowercase(), ttl, data))
}

fn record(rest: &RestClient, zone: &str, raw: Value) -> Option<Resource> {
    let (name, ttl, data) = record_parts(&raw)?;
    let id = format!("{zone}/{}", raw["id"].as_str()?);
    let meta = rest.meta(ResourceKind::DnsRecord, id, name, raw);
    Some(dns_record(
        meta.with_status(Status::Active),
        zone,
        ttl,
        data,
    ))
}

fn malformed() -> Error {
    Error::invalid_response("Cloudflare answered with an unreadable record")
}

/// The body of a record create or overwrite, marked ours: SRV and CAA
/// travel as `data`, MX as `content` and `priority`.
pub(crate) fn body(name: &str, ttl: Option<u32>, data: &RecordData, marker: &str) -> Value {
    let (priority, content) = content_parts(data);
    let (ttl, rtype) = (ttl.unwrap_or(1), data.record_type());
    let mut body = json!({ "type": rtype, "name": name, "ttl": ttl, "comment": marker });
    if matches!(rtype, RecordType::SRV | RecordType::CAA) {
        body["data"] = serde_json::to_value(data).unwrap_or_default();
        body["data"].as_object_mut().and_then(|d| d.remove("type"));
    } else {
        body["content"] = json!(content);
    }
    if let (Some(p), RecordType::MX) = (priority, rtype) {
        body["priority"] = json!(p);
    }
    body
}

/// DNS zones.
#[derive(Debug, Clone)]
pub struct Zones(pub CloudflareClient);

#[async_trait]
impl KindHandler for Zones {
    type Spec = DnsZoneSpec;

    fn operations(&self) -> Operations {
        Operations::NO_UPDATE
    }

    fn check(&self, spec: &DnsZoneSpec) -> Result<()> {
        if spec.nameservers.is_empty() && spec.template.is_none() {
            return Ok(());
        }
        Err(Error::invalid_input("nameservers", "set by Cloudflare"))
    }

    async fn list(&self, o: &ListOptions) -> Result<Page<Resource>> {
        let mut o = o.clone();
        o.page_size = Some(o.page_size.unwrap_or(ZONES_PER_PAGE).min(ZONES_PER_PAGE));
        let page = self.0.rest.page(self.0.zones_request(None), &o);
        Ok(page.await?.filter_map(|raw| Some(zone(&self.0.rest, raw))))
    }

    async fn get(&self, id: &str) -> Result<Option<Resource>> {
        let found = self.0.rest.get(format!("/zones/{}", seg(id))).await?;
        Ok(found.map(|raw| zone(&self.0.rest, raw)))
    }

    async fn create(&self, spec: &DnsZoneSpec) -> Result<Created> {
        let missing = || Error::config("account_id is required to create zones");
        let account = self.0.account_id.as_deref().ok_or_else(missing)?;
        let rest = &self.0.rest;
        let find = || async {
            let found = self.0.zone_named(&spec.name).await?;
            Ok(found.map(|raw| zone(rest, raw)))
        };
        let body = json!({ "name": spec.name, "account": { "id": account }, "type": "full" });
        let create = async { Ok(zone(rest, rest.post("/zones", &body).await?)) };
        create_or_adopt(&spec.clone().into(), find, create).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.0.zone_ids.forget_value(id);
        self.0.rest.delete(format!("/zones/{}", seg(id))).await
    }
}

/// DNS records, ours by comment marker.
#[derive(Debug, Clone)]
pub struct Records(pub CloudflareClient);

impl Records {
    fn ours(&self, raw: &Value) -> bool {
        raw["comment"].as_str() == Some(&self.0.marker)
    }

    /// The record with the spec's name, type and data; `AlreadyExists`
    /// when it is not ours.
    async fn find(&self, zone_id: &str, s: &DnsRecordSpec) -> Result<Option<Resource>> {
        let req = Request::get(records_path(zone_id, None));
        let req = req.query("name.exact", &s.name);
        let req = req.query("type", s.data.record_type().as_str());
        let same = |raw: &Value| record_parts(raw).is_some_and(|r| r.2 == s.data);
        match self.0.rest.all(req).await?.into_iter().find(same) {
            Some(raw) if !self.ours(&raw) => Err(Error::already_exists("not ours")),
            found => Ok(found.and_then(|raw| record(&self.0.rest, &s.zone, raw))),
        }
    }

    /// The path of record `id` when it exists; `Conflict` when it is not ours.
    async fn owned(&self, id: &str) -> Result<Option<String>> {
        let Some((_, path)) = self.0.locate(id).await? else {
            return Ok(None);
        };
        match self.0.rest.get::<Value>(&path).await? {
            Some(raw) if !self.ours(&raw) => Err(Error::conflict("not ours")),
            found => Ok(found.map(|_| path)),
        }
    }
}

#[async_trait]
impl KindHandler for Records {
    type Spec = DnsRecordSpec;

    fn operations(&self) -> Operations {
        Operations::ALL
    }

    fn check(&self, s: &DnsRecordSpec) -> Result<()> {
        use RecordType::{ALIAS, HTTPS, SOA};
        if matches!(s.data.record_type(), SOA | ALIAS | HTTPS) {
            return Err(Error::invalid_input("data", "type not managed here"));
        }
        match s.ttl {
            Some(t) if t != 1 && !(30..=86400).contains(&t) => {
                Err(Error::invalid_input("ttl", "1 or 30 to 86400"))
            }
            _ => Ok(()),
        }
    }

    async fn list(&self, o: &ListOptions) -> Result<Page<Resource>> {
        let (zone, rest) = (parent(o)?, &self.0.rest);
        let zone_id = self.0.require_zone_id(zone).await?;
        let page = rest.page(Request::get(records_path(&zone_id, None)), o);
        Ok(page.await?.filter_map(|raw| record(rest, zone, raw)))
    }

    async fn get(&self, id: &str) -> Result<Option<Resource>> {
        let Some((zone, path)) = self.0.locate(id).await? else {
            return Ok(None);
        };
        let found = self.0.rest.get(path).await?;
        Ok(found.and_then(|raw| record(&self.0.rest, zone, raw)))
    }

    async fn create(&self, s: &DnsRecordSpec) -> Result<Created> {
        let zone_id = self.0.require_zone_id(&s.zone).await?;
        let body = body(&s.name, s.ttl, &s.data, &self.0.marker);
        let create = async {
            let made = self.0.rest.post(records_path(&zone_id, None), &body);
            record(&self.0.rest, &s.zone, made.await?).ok_or_else(malformed)
        };
        create_or_adopt(&s.clone().into(), || self.find(&zone_id, s), create).await
    }

    async fn update(&self, id: &str, s: &DnsRecordSpec) -> Result<Resource> {
        if !id.starts_with(&format!("{}/", s.zone)) {
            return Err(Error::invalid_input("zone", "records stay in their zone"));
        }
        let missing = || Error::not_found(id.to_owned());
        let path = self.owned(id).await?.ok_or_else(missing)?;
        let body = body(&s.name, s.ttl, &s.data, &self.0.marker);
        let made = self.0.rest.put(path, &body).await?;
        record(&self.0.rest, &s.zone, made).ok_or_else(malformed)
    }

    async fn delete(&self, id: &str) -> Result<()> {
        match self.owned(id).await? {
            Some(path) => self.0.rest.delete(path).await,
            None => Ok(()),
        }
    }
}
