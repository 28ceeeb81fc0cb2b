//! The PowerDNS Authoritative HTTP API (v1, 4.7+) as a [`DnsBackend`].
//!
//! Requests go through `stackdock-http` (retries of idempotent requests,
//! time-outs, redacted tracing) with `X-API-Key` auth and
//! [`PowerDnsErrorMapper`].
//!
//! * Zone ids are encoded as PowerDNS does: the absolute name, every byte
//!   outside `[A-Za-z0-9.-]` as `=XX` ([`zone_id`]).
//! * A zone is created with all its record sets in one `POST`; a plan's
//!   changes go in one `PATCH` (deletes first), and PowerDNS bumps the SOA
//!   serial per the zone's SOA-EDIT-API (`DEFAULT` = `YYYYMMDDnn`).
//! * Tenancy: the zone's `account` is the tenant.
//! * Ownership markers: an rrset comment `{"content": "stackdock-owner=<m>",
//!   "account": "<m>"}`. Record types outside the ten this crate models
//!   (DNSKEY, ALIAS ...) and disabled records are not part of the model and
//!   are never touched by a PATCH.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use stackdock_core::dns::{RecordData, RecordType};
use stackdock_core::secret::ExposeSecret;
use stackdock_core::{Error, ProviderInfo, Result};
use stackdock_http::{Auth, HttpClient, HttpConfig, Request, RetryConfig};

use crate::backend::{zone_name, DnsBackend, ZoneSummary};
use crate::config::PowerDnsConfig;
use crate::error::PowerDnsErrorMapper;
use crate::model::{RecordSet, Zone};
use crate::plan::Change;
use crate::presentation::parse_rdata;

const OWNER_COMMENT: &str = "stackdock-owner=";

/// The PowerDNS zone id of a canonical zone name: absolute, bytes outside
/// `[A-Za-z0-9.-]` as `=XX`.
///
/// ```
/// use stackdock_dns::client::zone_id;
/// assert_eq!(zone_id("example.com"), "example.com.");
/// assert_eq!(zone_id("0/25.2.0.192.in-addr.arpa"), "0=2F25.2.0.192.in-addr.arpa.");
/// assert_eq!(zone_id(""), "=2E");
/// ```
pub fn zone_id(name: &str) -> String {
    let absolute = if name.is_empty() {
        ".".to_owned()
    } else {
        format!("{name}.")
    };
    if absolute == "." {
        return "=2E".to_owned();
    }
    let mut out = String::with_capacity(absolute.len());
    for b in absolute.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    out
}

/// An rrset as the API sends and receives it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApiRrset {
    /// Absolute owner name.
    pub name: String,
    /// Record type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// TTL (absent on DELETE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    /// `REPLACE` or `DELETE` in a PATCH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changetype: Option<String>,
    /// Records.
    #[serde(default)]
    pub records: Vec<ApiRecord>,
    /// Comments (only sent when we set an ownership marker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<Vec<ApiComment>>,
}

/// One record of an rrset.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApiRecord {
    /// Canonical presentation content.
    pub content: String,
    /// Whether it is disabled.
    #[serde(default)]
    pub disabled: bool,
}

/// An rrset comment.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApiComment {
    /// Text.
    pub content: String,
    /// Account (we put the ownership marker here).
    #[serde(default)]
    pub account: String,
}

#[derive(Debug, Deserialize)]
struct ApiZone {
    name: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    serial: Option<u32>,
}

/// An IPv6 address in RFC 5952 form with hexadecimal groups only.
///
/// PowerDNS rejects the dotted-quad tail that `Ipv6Addr`'s `Display` uses
/// for IPv4-mapped addresses (`::ffff:192.0.2.1` is "Invalid IPv6 address").
///
/// ```
/// use stackdock_dns::client::ipv6_hex;
/// assert_eq!(ipv6_hex(&"::ffff:192.0.2.1".parse().unwrap()), "::ffff:c000:201");
/// assert_eq!(ipv6_hex(&"2001:db8:0:0:1:0:0:1".parse().unwrap()), "2001:db8::1:0:0:1");
/// assert_eq!(ipv6_hex(&"::".parse().unwrap()), "::");
/// assert_eq!(ipv6_hex(&"1::".parse().unwrap()), "1::");
/// assert_eq!(ipv6_hex(&"1:0:2:3:4:5:6:7".parse().unwrap()), "1:0:2:3:4:5:6:7");
/// ```
pub fn ipv6_hex(address: &std::net::Ipv6Addr) -> String {
    let groups = address.segments();
    // Longest run of at least two zero groups (first one on ties), per RFC 5952.
    let (mut best_start, mut best_len) = (0usize, 0usize);
    let mut i = 0;
    while i < 8 {
        if groups[i] == 0 {
            let start = i;
            while i < 8 && groups[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best_start = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    let hex = |g: &[u16]| {
        g.iter()
            .map(|x| format!("{x:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if best_len < 2 {
        return hex(&groups);
    }
    format!(
        "{}::{}",
        hex(&groups[..best_start]),
        hex(&groups[best_start + best_len..])
    )
}

/// Record content as PowerDNS accepts it: presentation form, AAAA in hex groups.
fn content(data: &RecordData) -> String {
    match data {
        RecordData::AAAA { address } => ipv6_hex(address),
        other => other.to_string(),
    }
}

/// The API form of a record set, for a POST (`changetype` None) or a PATCH REPLACE.
pub fn rrset_to_api(set: &RecordSet, changetype: Option<&str>) -> ApiRrset {
    ApiRrset {
        name: format!("{}.", set.name),
        rtype: set.rtype.as_str().to_owned(),
        ttl: Some(set.ttl),
        changetype: changetype.map(str::to_owned),
        records: set
            .records
            .iter()
            .map(|r| ApiRecord {
                content: content(r),
                disabled: false,
            })
            .collect(),
        comments: set.owner.as_ref().map(|m| {
            vec![ApiComment {
                content: format!("{OWNER_COMMENT}{m}"),
                account: m.clone(),
            }]
        }),
    }
}

/// The body of a PATCH of record sets.
#[derive(Debug, Serialize)]
pub struct PatchBody {
    /// The rrsets, in the order PowerDNS applies them.
    pub rrsets: Vec<ApiRrset>,
}

/// The body of a zone-creating POST, serialised straight from the zone:
/// no intermediate JSON tree, so a 50,000-record zone costs its bytes on
/// the wire, not several times that.
#[derive(Debug, Serialize)]
pub struct CreateZoneBody<'a> {
    /// Tenant (empty = none).
    pub account: &'a str,
    /// Zone kind (`Native` ...).
    pub kind: &'a str,
    /// Absolute zone name.
    pub name: String,
    /// Always empty: apex NS records travel in `rrsets`.
    pub nameservers: [&'a str; 0],
    /// Every record set of the zone, converted one at a time while writing.
    pub rrsets: ZoneRrsets<'a>,
    /// How PowerDNS bumps the serial on API changes.
    pub soa_edit_api: &'a str,
}

/// Record sets as API rrsets, each built while it is written.
#[derive(Debug)]
pub struct ZoneRrsets<'a>(pub Vec<&'a RecordSet>);

impl Serialize for ZoneRrsets<'_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|s| rrset_to_api(s, None)))
    }
}

/// The PATCH body of a plan's changes: deletes first, then replaces.
pub fn patch_body(changes: &[Change]) -> PatchBody {
    let mut rrsets = Vec::with_capacity(changes.len());
    for c in changes.iter().filter(|c| matches!(c, Change::Delete(_))) {
        let key = c.key();
        rrsets.push(ApiRrset {
            name: format!("{}.", key.name),
            rtype: key.rtype.as_str().to_owned(),
            ttl: None,
            changetype: Some("DELETE".into()),
            records: Vec::new(),
            comments: None,
        });
    }
    for c in changes {
        match c {
            Change::Delete(_) => {}
            Change::Add(set) => rrsets.push(rrset_to_api(set, Some("REPLACE"))),
            Change::Update { before, after } => {
                let mut after = after.clone();
                if after.rtype == RecordType::SOA {
                    // Send the current serial: SOA-EDIT-API then bumps it past that.
                    let current = before.records.first().and_then(|r| match r {
                        RecordData::SOA { serial, .. } => Some(*serial),
                        _ => None,
                    });
                    for r in &mut after.records {
                        if let (RecordData::SOA { serial, .. }, Some(c)) = (r, current) {
                            *serial = c;
                        }
                    }
                }
                rrsets.push(rrset_to_api(&after, Some("REPLACE")));
            }
        }
    }
    PatchBody { rrsets }
}

/// The POST body that creates `zone` with all its record sets.
pub fn create_body<'a>(zone: &'a Zone, config: &'a PowerDnsConfig) -> CreateZoneBody<'a> {
    let sets = zone.rrsets.values().collect();
    create_body_from(&zone.name, zone.tenant.as_deref(), sets, config)
}

/// The POST body that creates zone `name` with `sets`.
pub fn create_body_from<'a>(
    name: &str,
    tenant: Option<&'a str>,
    sets: Vec<&'a RecordSet>,
    config: &'a PowerDnsConfig,
) -> CreateZoneBody<'a> {
    CreateZoneBody {
        account: tenant.unwrap_or_default(),
        kind: &config.zone_kind,
        name: format!("{name}."),
        nameservers: [],
        rrsets: ZoneRrsets(sets),
        soa_edit_api: &config.soa_edit_api,
    }
}

/// An rrset as read from a zone GET, borrowing from the response bytes.
#[derive(Deserialize)]
struct RrsetIn<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    rtype: Cow<'a, str>,
    #[serde(default)]
    ttl: Option<u32>,
    #[serde(default, borrow)]
    records: Vec<RecordIn<'a>>,
    #[serde(default, borrow)]
    comments: Vec<CommentIn<'a>>,
}

#[derive(Deserialize)]
struct RecordIn<'a> {
    #[serde(borrow)]
    content: Cow<'a, str>,
    #[serde(default)]
    disabled: bool,
}

#[derive(Deserialize)]
struct CommentIn<'a> {
    #[serde(borrow)]
    content: Cow<'a, str>,
}

/// One API rrset as a model set; `None` for types and records the model
/// leaves alone (unsupported types, disabled records).
fn rrset_from_api(rrset: RrsetIn<'_>) -> Result<Option<RecordSet>> {
    let Ok(rtype) = rrset.rtype.parse::<RecordType>() else {
        return Ok(None);
    };
    if !crate::presentation::SUPPORTED_TYPES.contains(&rtype) {
        return Ok(None);
    }
    let mut records = Vec::with_capacity(rrset.records.len());
    for r in rrset.records.iter().filter(|r| !r.disabled) {
        let data = parse_rdata(rtype, &r.content, "").map_err(|e| {
            Error::invalid_response(format!(
                "PowerDNS returned content {:?} for {} {}: {e}",
                r.content, rrset.name, rrset.rtype
            ))
        })?;
        records.push(data);
    }
    if records.is_empty() {
        return Ok(None);
    }
    crate::model::sort_records(&mut records);
    let owner = rrset
        .comments
        .iter()
        .find_map(|c| c.content.strip_prefix(OWNER_COMMENT).map(str::to_owned));
    let name = stackdock_core::validate::dns_name(
        "name",
        &rrset.name,
        stackdock_core::validate::NameRules::RecordOwner,
    )
    .map_err(|e| {
        Error::invalid_response(format!("PowerDNS returned name {:?}: {e}", rrset.name))
    })?;
    // Trusted server data: built directly (no per-record re-validation) for speed on big zones.
    Ok(Some(RecordSet {
        name,
        rtype,
        ttl: rrset.ttl.unwrap_or(crate::model::DEFAULT_TTL),
        records,
        owner,
    }))
}

/// Reads a zone GET's JSON, converting each rrset as soon as it is read:
/// the API structs of a 50,000-record zone are never all in memory.
struct ZoneIn<'s> {
    /// The first conversion error (serde's own errors would hide its text).
    error: Option<Error>,
    /// Sets left out as they are read (see `DnsBackend::get_zone_skipping`).
    skip: Skip<'s>,
}

/// Which record sets a zone read leaves out.
type Skip<'s> = &'s mut (dyn for<'r> FnMut(&'r RecordSet) -> bool + Send + 's);

impl<'de> serde::de::Visitor<'de> for &mut ZoneIn<'_> {
    type Value = Option<Zone>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a PowerDNS zone")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Option<Zone>, A::Error> {
        let (mut name, mut account) = (None::<String>, String::new());
        let mut sets = std::collections::BTreeMap::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "name" => name = Some(map.next_value()?),
                "account" => account = map.next_value::<Option<String>>()?.unwrap_or_default(),
                "rrsets" => map.next_value_seed(RrsetsIn {
                    zone: &mut *self,
                    sets: &mut sets,
                })?,
                _ => drop(map.next_value::<serde::de::IgnoredAny>()?),
            }
        }
        let Some(name) = name else {
            return Err(serde::de::Error::missing_field("name"));
        };
        match Zone::new(&name) {
            Ok(mut zone) => {
                zone.tenant = Some(account).filter(|a| !a.is_empty());
                zone.rrsets = sets;
                Ok(Some(zone))
            }
            Err(e) => {
                self.error.get_or_insert(e);
                Ok(None)
            }
        }
    }
}

struct RrsetsIn<'z, 's> {
    zone: &'z mut ZoneIn<'s>,
    sets: &'z mut std::collections::BTreeMap<crate::model::RecordSetKey, RecordSet>,
}

impl<'de> serde::de::DeserializeSeed<'de> for RrsetsIn<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for RrsetsIn<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of rrsets")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<(), A::Error> {
        while let Some(rrset) = seq.next_element::<RrsetIn<'de>>()? {
            if self.zone.error.is_some() {
                continue;
            }
            match rrset_from_api(rrset) {
                Ok(Some(set)) if (self.zone.skip)(&set) => {}
                Ok(Some(set)) => {
                    self.sets.insert(set.key(), set);
                }
                Ok(None) => {}
                Err(e) => self.zone.error = Some(e),
            }
        }
        Ok(())
    }
}

/// The zone in a zone GET's body.
fn zone_from_json(body: &[u8]) -> Result<Zone> {
    zone_from_json_skipping(body, &mut |_| false)
}

/// [`zone_from_json`] without the sets `skip` accepts.
fn zone_from_json_skipping(body: &[u8], skip: Skip<'_>) -> Result<Zone> {
    let mut reader = ZoneIn { error: None, skip };
    let mut de = serde_json::Deserializer::from_slice(body);
    // Shape errors name the place, never the values (they may hold record data).
    let shape = |e: serde_json::Error| {
        Error::invalid_response(format!(
            "could not decode the PowerDNS zone at line {} column {}",
            e.line(),
            e.column()
        ))
    };
    let zone = serde::Deserializer::deserialize_map(&mut de, &mut reader).map_err(shape)?;
    de.end().map_err(shape)?;
    match (zone, reader.error) {
        (_, Some(e)) => Err(e),
        (Some(zone), None) => Ok(zone),
        (None, None) => Err(Error::invalid_response("PowerDNS zone without a name")),
    }
}

/// PowerDNS keeps `account` in a `VARCHAR(40)` column (the SQL backends'
/// schema); a longer tenant would be cut or rejected by the database.
fn check_account(tenant: Option<&str>) -> Result<()> {
    match tenant {
        Some(t) if t.len() > 40 => Err(Error::invalid_input(
            "tenant",
            "PowerDNS stores the tenant as the zone account: at most 40 bytes",
        )),
        _ => Ok(()),
    }
}

/// Whether a PowerDNS version string (`4.7.3`, `4.9.0-alpha1`) is 4.7 or later.
/// Unparsable versions (custom builds) are given the benefit of the doubt.
fn version_supported(version: &str) -> bool {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty());
    match (
        parts.next().and_then(|p| p.parse::<u32>().ok()),
        parts.next().and_then(|p| p.parse::<u32>().ok()),
    ) {
        (Some(major), Some(minor)) => (major, minor) >= (4, 7),
        _ => true,
    }
}

/// A PowerDNS server. See the [module docs](self).
#[derive(Clone)]
pub struct PowerDnsClient {
    http: HttpClient,
    info: ProviderInfo,
    config: Arc<PowerDnsConfig>,
    calls: Arc<AtomicUsize>,
}

impl fmt::Debug for PowerDnsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PowerDnsClient")
            .field("config", &self.config)
            .field("remote_calls", &self.calls.load(Ordering::SeqCst))
            .finish()
    }
}

impl PowerDnsClient {
    /// A client for the server in `config` (validated; no call is made).
    pub fn new(config: PowerDnsConfig) -> Result<Self> {
        config.validate()?;
        let base = format!("{}/api/v1", config.url.trim_end_matches('/'));
        let retry = if config.max_retries == 0 {
            RetryConfig::none()
        } else {
            RetryConfig {
                max_retries: config.max_retries,
                ..RetryConfig::default()
            }
        };
        let http_config = HttpConfig::parse(&base)?
            .with_auth(Auth::header("X-API-Key", config.api_key.expose_secret()))
            .with_retry(retry)
            .with_timeouts(std::time::Duration::from_secs(10), config.request_timeout);
        let http = HttpClient::new(
            http_config,
            PowerDnsErrorMapper::new(config.api_key.clone()),
        )?;
        Ok(PowerDnsClient {
            http,
            info: ProviderInfo::new("powerdns", "PowerDNS"),
            config: Arc::new(config),
            calls: Arc::new(AtomicUsize::new(0)),
        })
    }

    fn zones_path(&self) -> String {
        format!("/servers/{}/zones", self.config.server_id)
    }

    fn zone_path(&self, name: &str) -> String {
        // zone_id output is [A-Za-z0-9.=-] only: safe in a path as is.
        format!("{}/{}", self.zones_path(), zone_id(name))
    }

    async fn send(&self, req: Request) -> Result<stackdock_http::Response> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.http.send(req).await
    }
}

#[async_trait]
impl DnsBackend for PowerDnsClient {
    fn provider(&self) -> &ProviderInfo {
        &self.info
    }

    /// The base URL, with any user info in it redacted.
    fn endpoint(&self) -> Option<String> {
        Some(stackdock_core::secret::redact_url(&self.config.url).to_string())
    }

    /// What the last response's rate-limit headers said (PowerDNS sends
    /// none; a proxy in front of it may).
    fn rate_limit(&self) -> Option<stackdock_core::RateLimit> {
        self.http.rate_limit().map(stackdock_core::RateLimit::from)
    }

    async fn check(&self) -> Result<()> {
        #[derive(Deserialize)]
        struct Server {
            #[serde(default)]
            version: String,
        }
        let server: Server = self
            .send(
                Request::get(format!("/servers/{}", self.config.server_id))
                    .operation("check credentials"),
            )
            .await?
            .json()?;
        if !version_supported(&server.version) {
            return Err(Error::config(format!(
                "PowerDNS {} is too old: stackdock-dns needs 4.7 or later",
                server.version
            )));
        }
        Ok(())
    }

    async fn list_zones(&self, tenant: Option<&str>) -> Result<Vec<ZoneSummary>> {
        let resp = self
            .send(
                Request::get(self.zones_path())
                    .query("dnssec", "false")
                    .operation("list zones"),
            )
            .await?;
        let zones: Vec<serde_json::Value> = resp.json()?;
        let mut out = Vec::with_capacity(zones.len());
        for raw in zones {
            let api: ApiZone = serde_json::from_value(raw.clone())
                .map_err(|e| Error::invalid_response(format!("zone list entry: {e}")))?;
            let account = Some(api.account.clone()).filter(|a| !a.is_empty());
            if tenant.is_some() && account.as_deref() != tenant {
                continue;
            }
            let name = stackdock_core::validate::dns_name(
                "name",
                &api.name,
                stackdock_core::validate::NameRules::Hostname,
            )?;
            let mut data = raw;
            stackdock_core::secret::strip_secret_fields(&mut data);
            out.push(ZoneSummary {
                name,
                tenant: account,
                serial: api.serial,
                provider_data: data,
            });
        }
        Ok(out)
    }

    async fn get_zone(&self, name: &str) -> Result<Option<Zone>> {
        let req = Request::get(self.zone_path(&zone_name(name)?)).operation("get zone");
        match self.send(req).await {
            Ok(resp) => zone_from_json(&resp.body).map(Some),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get_zone_skipping(
        &self,
        name: &str,
        skip: &mut (dyn for<'r> FnMut(&'r RecordSet) -> bool + Send),
    ) -> Result<Option<Zone>> {
        // Each set is offered to `skip` as soon as it is converted: the sets
        // a planner finds unchanged are never held.
        let req = Request::get(self.zone_path(&zone_name(name)?)).operation("get zone");
        match self.send(req).await {
            Ok(resp) => zone_from_json_skipping(&resp.body, skip).map(Some),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get_zone_at(&self, name: &str, names: &[&str]) -> Result<Option<Zone>> {
        let mut req = Request::get(self.zone_path(&zone_name(name)?)).operation("get zone");
        if let [only] = names {
            req = req.query("rrset_name", format!("{only}."));
        }
        match self.send(req).await {
            Ok(resp) => {
                let mut zone = zone_from_json(&resp.body)?;
                zone.rrsets.retain(|k, _| names.contains(&k.name.as_str()));
                Ok(Some(zone))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn check_zone(&self, zone: &Zone) -> Result<()> {
        check_account(zone.tenant.as_deref())
    }

    async fn create_zone(&self, zone: &Zone) -> Result<()> {
        let sets: Vec<&RecordSet> = zone.rrsets.values().collect();
        self.create_zone_from(&zone.name, zone.tenant.as_deref(), &sets)
            .await
    }

    async fn create_zone_from(
        &self,
        name: &str,
        tenant: Option<&str>,
        sets: &[&RecordSet],
    ) -> Result<()> {
        // Name only: the content is checked by the server, and re-validating a
        // 50k-record zone here would double the client-side cost.
        let name = zone_name(name)?;
        check_account(tenant)?;
        let body = create_body_from(&name, tenant, sets.to_vec(), &self.config);
        let req = Request::post(self.zones_path())
            .query("rrsets", "false")
            .json(&body)
            .operation("create zone");
        self.send(req).await.map(drop)
    }

    async fn delete_zone(&self, name: &str) -> Result<bool> {
        match self
            .send(Request::delete(self.zone_path(&zone_name(name)?)).operation("delete zone"))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn apply_changes(&self, zone: &str, changes: &[Change]) -> Result<()> {
        let path = self.zone_path(&zone_name(zone)?);
        if changes.is_empty() {
            return Ok(());
        }
        // Every rrset in the body is a REPLACE or a DELETE, so sending it
        // again leaves the zone as one send would: a 5xx (PowerDNS's SQL
        // backend busy with a request whose caller went away) is retried.
        let req = Request::patch(path)
            .json(&patch_body(changes))
            .idempotent(true)
            .operation("change records");
        self.send(req).await.map(drop)
    }

    fn remote_calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tenants_are_refused_before_the_call() {
        assert!(check_account(Some(&"t".repeat(40))).is_ok());
        assert!(check_account(Some(&"t".repeat(41))).is_err());
        assert!(check_account(None).is_ok());
    }

    #[test]
    fn zones_are_read_one_rrset_at_a_time() {
        let body = br#"{"account": "acme", "kind": "Native", "name": "example.com.", "rrsets": [
            {"name": "www.example.com.", "type": "A", "ttl": 60, "records": [
                {"content": "192.0.2.2", "disabled": false}, {"content": "192.0.2.1", "disabled": false}],
             "comments": [{"content": "stackdock-owner=me", "account": "me"}]},
            {"name": "example.com.", "type": "DNSKEY", "ttl": 60, "records": [{"content": "x", "disabled": false}]},
            {"name": "t.example.com.", "type": "TXT", "ttl": 60, "records": [{"content": "\"a\\\"b\"", "disabled": false}]},
            {"name": "off.example.com.", "type": "A", "ttl": 60, "records": [{"content": "192.0.2.9", "disabled": true}]}
        ], "serial": 1}"#;
        let zone = zone_from_json(body).unwrap();
        assert_eq!(zone.name, "example.com");
        assert_eq!(zone.tenant.as_deref(), Some("acme"));
        assert_eq!(zone.rrsets.len(), 2, "DNSKEY and disabled records left out");
        let www = zone.get("www.example.com", RecordType::A).unwrap();
        assert_eq!(www.owner.as_deref(), Some("me"));
        assert_eq!(www.records[0].to_string(), "192.0.2.1", "sorted");
        let txt = &zone.get("t.example.com", RecordType::TXT).unwrap().records[0];
        assert_eq!(
            txt,
            &RecordData::TXT {
                text: "a\"b".into()
            }
        );

        let bad = br#"{"name": "example.com.", "rrsets": [{"name": "a.example.com.", "type": "A", "records": [{"content": "999.1.1.1"}]}]}"#;
        let err = zone_from_json(bad).unwrap_err();
        assert!(err.to_string().contains("999.1.1.1"), "{err}");
        let shape = br#"{"name": "example.com.", "rrsets": [{"name": 7, "type": "secret-value"}]}"#;
        let err = zone_from_json(shape).unwrap_err();
        assert!(!err.to_string().contains("secret-value"), "{err}");
        assert!(zone_from_json(br#"{"rrsets": []}"#).is_err());
    }

    #[test]
    fn versions() {
        assert!(version_supported("4.7.3"));
        assert!(version_supported("4.9.0-alpha1"));
        assert!(version_supported("5.0.0"));
        assert!(!version_supported("4.6.4"));
        assert!(!version_supported("4.1.0"));
        assert!(version_supported("git-master"));
    }
}
