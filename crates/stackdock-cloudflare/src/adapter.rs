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
use stackdock_core::kit::{create_or_adopt, dns_record, dns_zone, parent, require, KitAdapter};
use stackdock_core::{async_trait, Created, Error, ListOptions, Operations, Page};
use stackdock_core::{kit::KindHandler, spec::DnsRecordSpec, spec::DnsZoneSpec};
use stackdock_core::{kit::KitProvider, Resource, ResourceKind, ResourceStatus as Status, Result};
use stackdock_http::{encode_path_segment as seg, Request, RestClient};

use crate::{client::records_path, client::ZONES_PER_PAGE, CloudflareClient, CloudflareConfig};

/// The Cloudflare adapter.
pub type CloudflareAdapter = KitAdapter<RestClient>;

fn unreadable() -> Error {
    Error::invalid_response("unreadable record")
}

/// The adapter for `config` (no call is made).
pub fn adapter(config: &CloudflareConfig) -> Result<CloudflareAdapter> {
    let c = CloudflareClient::new(config)?;
    let args = c.rest.arguments().with_parent_filter(); // records list per zone
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
    let (id, name) = (raw["id"].as_str().unwrap_or_default(), text(&raw["name"]));
    let meta = rest.meta(ResourceKind::DnsZone, id, name, raw.clone());
    let nameservers = servers.into_iter().flatten().collect();
    dns_zone(meta.with_status(status), nameservers)
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
    let meta = meta.with_status(Status::Active);
    Some(dns_record(meta, zone, ttl, data))
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
        let honoured = spec.nameservers.is_empty() && spec.template.is_none();
        require(honoured, "nameservers", "set by Cloudflare")
    }

    async fn list(&self, o: &ListOptions) -> Result<Page<Resource>> {
        let req = self.0.zones_request(None);
        let page = self.0.rest.page_capped(req, o, ZONES_PER_PAGE).await?;
        Ok(page.filter_map(|raw| Some(zone(&self.0.rest, raw))))
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
    /// The record with the spec's name, type and data; `AlreadyExists`
    /// when it is not ours.
    async fn find(&self, zone_id: &str, s: &DnsRecordSpec) -> Result<Option<Resource>> {
        let req = Request::get(records_path(zone_id, None));
        let req = req.query("name.exact", &s.name);
        let req = req.query("type", s.data.record_type().as_str());
        let same = |raw: &Value| record_parts(raw).is_some_and(|r| r.2 == s.data);
        match self.0.rest.all(req).await?.into_iter().find(same) {
            Some(raw) if raw["comment"] != *self.0.marker => Err(Error::already_exists("not ours")),
            found => Ok(found.and_then(|raw| record(&self.0.rest, &s.zone, raw))),
        }
    }

    /// Record `id`: its zone, path and raw answer, `None` when it does not exist.
    async fn fetch<'a>(&self, id: &'a str) -> Result<Option<(&'a str, String, Value)>> {
        let Some((zone, record)) = id.rsplit_once('/') else {
            return Ok(None);
        };
        let Some(zone_id) = self.0.zone_id(zone).await? else {
            return Ok(None);
        };
        let path = records_path(&zone_id, Some(record));
        Ok(self.0.rest.get(&path).await?.map(|raw| (zone, path, raw)))
    }

    /// The path of record `id` when it exists; `Conflict` when it is not ours.
    async fn owned(&self, id: &str) -> Result<Option<String>> {
        match self.fetch(id).await? {
            Some(f) if f.2["comment"] != *self.0.marker => Err(Error::conflict("not ours")),
            found => Ok(found.map(|(_, path, _)| path)),
        }
    }
}

#[async_trait]
impl KindHandler for Records {
    type Spec = DnsRecordSpec;

    fn check(&self, s: &DnsRecordSpec) -> Result<()> {
        use RecordType::{ALIAS, HTTPS, SOA};
        let managed = !matches!(s.data.record_type(), SOA | ALIAS | HTTPS);
        require(managed, "data", "record type not managed on Cloudflare")?;
        let ttl_ok = s.ttl.is_none_or(|t| t == 1 || (30..=86400).contains(&t));
        require(ttl_ok, "ttl", "1 (automatic) or 30 to 86400")
    }

    async fn list(&self, o: &ListOptions) -> Result<Page<Resource>> {
        let (zone, rest) = (parent(o)?, &self.0.rest);
        let zone_id = self.0.require_zone_id(zone).await?;
        let page = rest.page(Request::get(records_path(&zone_id, None)), o);
        Ok(page.await?.filter_map(|raw| record(rest, zone, raw)))
    }

    async fn get(&self, id: &str) -> Result<Option<Resource>> {
        let found = self.fetch(id).await?;
        Ok(found.and_then(|(zone, _, raw)| record(&self.0.rest, zone, raw)))
    }

    async fn create(&self, s: &DnsRecordSpec) -> Result<Created> {
        let zone_id = self.0.require_zone_id(&s.zone).await?;
        let body = body(&s.name, s.ttl, &s.data, &self.0.marker);
        let create = async {
            let made = self.0.rest.post(records_path(&zone_id, None), &body);
            record(&self.0.rest, &s.zone, made.await?).ok_or_else(unreadable)
        };
        create_or_adopt(&s.clone().into(), || self.find(&zone_id, s), create).await
    }

    async fn update(&self, id: &str, s: &DnsRecordSpec) -> Result<Resource> {
        let same_zone = id.starts_with(&format!("{}/", s.zone));
        require(same_zone, "zone", "a record cannot move to another zone")?;
        let missing = || Error::not_found(id.to_owned());
        let path = self.owned(id).await?.ok_or_else(missing)?;
        let body = body(&s.name, s.ttl, &s.data, &self.0.marker);
        let made = self.0.rest.put(path, &body).await?;
        record(&self.0.rest, &s.zone, made).ok_or_else(unreadable)
    }

    async fn delete(&self, id: &str) -> Result<()> {
        match self.owned(id).await? {
            Some(path) => self.0.rest.delete(path).await,
            None => Ok(()),
        }
    }
}
