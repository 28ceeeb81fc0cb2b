//! The backend-independent model: zones made of record sets.
//!
//! **Names.** Every name in the model is in StackDock's one canonical form
//! (see [`stackdock_core::validate`]): lower-case ASCII, IDN as punycode, no
//! trailing dot, absolute (owner names include the zone). [`Zone::add`] and
//! [`RecordSet::new`] accept relative names (`www`, `@`) and absolute ones
//! with or without a trailing dot, and canonicalise them; backends add the
//! dot where their protocol wants it.
//!
//! **Record sets.** All records of one owner name and type share a TTL and
//! are changed together (as in PowerDNS and RFC 2181 §5); a record set is the
//! unit of planning.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use stackdock_core::dns::{RecordData, RecordType};
use stackdock_core::spec::{absolute_owner, MAX_TTL};
use stackdock_core::validate::{self, NameRules};
use stackdock_core::{Error, Result};

use crate::presentation::SUPPORTED_TYPES;

/// Smallest TTL accepted (core rejects 0: nothing would be cached).
pub const MIN_TTL: u32 = 1;
/// Default TTL for records whose spec leaves it unset.
pub const DEFAULT_TTL: u32 = 3600;

/// Identity of a record set: canonical owner name and type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordSetKey {
    /// Canonical absolute owner name (no trailing dot).
    pub name: String,
    /// Record type.
    pub rtype: RecordType,
}

impl RecordSetKey {
    /// A key; `name` must already be canonical.
    pub fn new(name: impl Into<String>, rtype: RecordType) -> Self {
        RecordSetKey {
            name: name.into(),
            rtype,
        }
    }
}

impl fmt::Display for RecordSetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}. {}", self.name, self.rtype)
    }
}

/// All records of one owner name and type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSet {
    /// Canonical absolute owner name.
    pub name: String,
    /// Record type.
    pub rtype: RecordType,
    /// TTL of every record in the set.
    pub ttl: u32,
    /// The records, sorted by presentation form, without duplicates.
    pub records: Vec<RecordData>,
    /// Ownership marker: who manages this set (see [`crate::plan`](mod@crate::plan)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl RecordSet {
    /// A record set of `records` at `name` (relative to `zone`, or absolute).
    ///
    /// Canonicalises the owner and every name inside the data, validates
    /// the content per type and the TTL, sorts and de-duplicates records.
    pub fn new(zone: &str, name: &str, ttl: u32, records: Vec<RecordData>) -> Result<Self> {
        let zone = validate::domain("zone", zone)?;
        let name = absolute_owner(name, &zone)?;
        let rtype = records
            .first()
            .map(RecordData::record_type)
            .ok_or_else(|| {
                Error::invalid_input("records", "a record set needs at least one record")
            })?;
        let mut set = RecordSet {
            name,
            rtype,
            ttl,
            records,
            owner: None,
        };
        set.normalise(&zone)?;
        Ok(set)
    }

    /// Set the ownership marker.
    pub fn owned_by(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// The key of this set.
    pub fn key(&self) -> RecordSetKey {
        RecordSetKey::new(self.name.clone(), self.rtype)
    }

    /// Validate and canonicalise in place (names, content, TTL, order).
    pub fn normalise(&mut self, zone: &str) -> Result<()> {
        if self.is_canonical(zone) {
            return Ok(());
        }
        check_type(self.rtype)?;
        check_ttl(self.ttl)?;
        if self.records.is_empty() {
            return Err(Error::invalid_input(
                "records",
                format!("record set {} has no records", self.key()),
            ));
        }
        // The rules of a record spec (core `ResourceSpec::validate`), applied
        // once per set for the owner and once per record for the data: no
        // per-record spec is built (zones of 50,000 records).
        self.name = absolute_owner(&format!("{}.", self.name), zone)?;
        for data in &mut self.records {
            if data.record_type() != self.rtype {
                return Err(Error::invalid_input(
                    "records",
                    format!(
                        "{} record in the {} set at {}",
                        data.record_type(),
                        self.rtype,
                        self.name
                    ),
                ));
            }
            data.canonicalise()?;
        }
        sort_records(&mut self.records);
        if matches!(self.rtype, RecordType::CNAME | RecordType::SOA) && self.records.len() > 1 {
            return Err(Error::invalid_input(
                "records",
                format!("{} may hold only one {} record", self.name, self.rtype),
            ));
        }
        if let Some(owner) = &self.owner {
            check_owner_marker(owner)?;
        }
        Ok(())
    }

    /// Whether [`RecordSet::normalise`] would accept this set and leave it
    /// as it is, found without copying (sets of two or more records aside,
    /// whose order is checked on their presentation forms). `false` for a
    /// set that is invalid or not canonical: [`RecordSet::normalise`] says
    /// which. `zone` must be canonical.
    ///
    /// ```
    /// use stackdock_core::dns::RecordData;
    /// use stackdock_dns::model::RecordSet;
    /// let a = RecordData::A { address: [192, 0, 2, 1].into() };
    /// let mut set = RecordSet::new("example.com", "www", 300, vec![a]).unwrap();
    /// assert!(set.is_canonical("example.com"));
    /// set.name = "WWW.example.com".into();
    /// assert!(!set.is_canonical("example.com"));
    /// ```
    pub fn is_canonical(&self, zone: &str) -> bool {
        let name = validate::canonical_dns_name("name", &self.name, NameRules::RecordOwner);
        let one = matches!(self.rtype, RecordType::CNAME | RecordType::SOA);
        check_type(self.rtype).is_ok()
            && check_ttl(self.ttl).is_ok()
            && matches!(name, Ok(Cow::Borrowed(_)))
            && validate::is_in_zone(&self.name, zone)
            && !self.records.is_empty()
            && !(one && self.records.len() > 1)
            && self.records.iter().all(|data| {
                data.record_type() == self.rtype && matches!(data.canonical_form(), Ok(None))
            })
            && is_sorted_records(&self.records)
            && self
                .owner
                .as_deref()
                .is_none_or(|o| check_owner_marker(o).is_ok())
    }

    /// Whether two sets hold the same data (TTL and records; owner ignored).
    pub fn same_data(&self, other: &RecordSet) -> bool {
        self.ttl == other.ttl && self.records == other.records
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether it holds no record (never true for a validated set).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

impl fmt::Display for RecordSet {
    /// Zone-file lines, one per record, names absolute.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.records.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}. {} IN {} {}", self.name, self.ttl, self.rtype, r)?;
        }
        Ok(())
    }
}

/// Sort records by presentation form and drop duplicates.
pub fn sort_records(records: &mut Vec<RecordData>) {
    if records.len() < 2 {
        return;
    }
    let mut keyed: Vec<(String, RecordData)> =
        records.drain(..).map(|r| (r.to_string(), r)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|a, b| a.0 == b.0);
    records.extend(keyed.into_iter().map(|(_, r)| r));
}

/// Whether records are in [`sort_records`] order, without duplicates.
fn is_sorted_records(records: &[RecordData]) -> bool {
    if records.len() < 2 {
        return true;
    }
    let mut previous: Option<String> = None;
    for r in records {
        let text = r.to_string();
        if previous.as_ref().is_some_and(|p| *p >= text) {
            return false;
        }
        previous = Some(text);
    }
    true
}

fn check_type(rtype: RecordType) -> Result<()> {
    if SUPPORTED_TYPES.contains(&rtype) {
        Ok(())
    } else {
        Err(Error::invalid_input(
            "type",
            format!("record type {rtype} is not supported by stackdock-dns"),
        ))
    }
}

/// TTL bounds: 1 to 2^31-1 seconds (RFC 2181 §8).
pub fn check_ttl(ttl: u32) -> Result<()> {
    if (MIN_TTL..=MAX_TTL).contains(&ttl) {
        Ok(())
    } else {
        Err(Error::invalid_input(
            "ttl",
            format!("must be between {MIN_TTL} and {MAX_TTL}"),
        ))
    }
}

/// Ownership markers are stored in PowerDNS comments and zone-file comments:
/// keep them to a small safe alphabet, and to 40 bytes (PowerDNS comment `account` column).
pub fn check_owner_marker(owner: &str) -> Result<()> {
    if owner.is_empty()
        || owner.len() > 40
        || !owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        return Err(Error::invalid_input(
            "owner",
            "ownership marker must be 1 to 40 characters of letters, digits and -_.:",
        ));
    }
    Ok(())
}

/// A DNS zone: its name, tenant and record sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    /// Canonical zone name.
    pub name: String,
    /// The tenant the zone belongs to (PowerDNS `account`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Record sets by key.
    pub rrsets: BTreeMap<RecordSetKey, RecordSet>,
}

impl Zone {
    /// An empty zone (validates and canonicalises the name).
    pub fn new(name: &str) -> Result<Self> {
        Ok(Zone {
            name: validate::domain("zone", name)?,
            tenant: None,
            rrsets: BTreeMap::new(),
        })
    }

    /// A zone read from an API that holds records one by one (Cloudflare,
    /// Vercel, ...): `(owner, ttl, data, marker)` per record, grouped into
    /// sets. A set is marked when all its records carry the same marker; its
    /// TTL is its first record's. Records of types or shapes StackDock does
    /// not manage are left out (they are never planned over).
    ///
    /// ```
    /// use stackdock_core::dns::RecordData;
    /// use stackdock_dns::model::Zone;
    /// let a = |last| RecordData::A { address: [192, 0, 2, last].into() };
    /// let zone = Zone::from_records("example.com", [
    ///     ("www.example.com".to_owned(), 300, a(1), Some("me".to_owned())),
    ///     ("www.example.com".to_owned(), 300, a(2), Some("me".to_owned())),
    ///     ("api.example.com".to_owned(), 60, a(3), None),
    /// ]).unwrap();
    /// assert_eq!(zone.record_count(), 3);
    /// assert_eq!(zone.get("www.example.com", a(1).record_type()).unwrap().owner.as_deref(), Some("me"));
    /// assert_eq!(zone.get("api.example.com", a(3).record_type()).unwrap().owner, None);
    /// ```
    pub fn from_records(
        name: &str,
        records: impl IntoIterator<Item = (String, u32, RecordData, Option<String>)>,
    ) -> Result<Self> {
        let mut zone = Zone::new(name)?;
        // Sorted by owner and type (stably: a set's first record keeps its
        // place), then grouped by neighbours: no map of groups, and the sets
        // come out in key order, so the zone's map is built in one pass.
        let mut records: Vec<_> = records.into_iter().collect();
        records.sort_by(|a, b| (&a.0, a.2.record_type()).cmp(&(&b.0, b.2.record_type())));
        let mut sets = Vec::new();
        let mut records = records.into_iter().peekable();
        while let Some((owner, ttl, data, marker)) = records.next() {
            let rtype = data.record_type();
            let (mut group, mut marker) = (vec![data], Some(marker));
            while let Some(next) = records.next_if(|n| n.0 == owner && n.2.record_type() == rtype) {
                group.push(next.2);
                marker = marker.filter(|m| *m == next.3);
            }
            if let Some(set) = zone.set_from_records(owner, ttl, group, marker.flatten()) {
                sets.push((set.key(), set));
            }
        }
        zone.rrsets = sets.into_iter().collect();
        Ok(zone)
    }

    /// One set of [`Zone::from_records`]; `None` when it is not valid here.
    fn set_from_records(
        &self,
        owner: String,
        ttl: u32,
        mut records: Vec<RecordData>,
        marker: Option<String>,
    ) -> Option<RecordSet> {
        // The zone name was checked once; a canonical set (records parsed
        // by `from_parts`, names as APIs give them) is checked without a
        // copy, and `normalise` makes the owner absolute otherwise.
        sort_records(&mut records);
        let rtype = records.first()?.record_type();
        let mut set = RecordSet {
            name: owner,
            rtype,
            ttl,
            records,
            owner: None,
        };
        set.normalise(&self.name).ok()?;
        set.owner = marker;
        Some(set)
    }

    /// Set the tenant.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Add one record (relative or absolute owner); it joins the set of its
    /// name and type, whose TTL becomes `ttl`.
    pub fn add(&mut self, name: &str, ttl: u32, data: RecordData) -> Result<&mut Self> {
        let set = RecordSet::new(&self.name, name, ttl, vec![data])?;
        match self.rrsets.get_mut(&set.key()) {
            Some(existing) => {
                let mut records = existing.records.clone();
                records.extend(set.records);
                sort_records(&mut records);
                if matches!(set.rtype, RecordType::CNAME | RecordType::SOA) && records.len() > 1 {
                    return Err(Error::invalid_input(
                        "records",
                        format!("{} may hold only one {} record", set.name, set.rtype),
                    ));
                }
                existing.ttl = ttl;
                existing.records = records;
            }
            None => {
                self.rrsets.insert(set.key(), set);
            }
        }
        Ok(self)
    }

    /// Insert or replace a whole record set.
    pub fn insert(&mut self, set: RecordSet) -> Option<RecordSet> {
        self.rrsets.insert(set.key(), set)
    }

    /// The set at `name` (canonical) and `rtype`.
    pub fn get(&self, name: &str, rtype: RecordType) -> Option<&RecordSet> {
        self.rrsets.get(&RecordSetKey::new(name, rtype))
    }

    /// Total number of records.
    pub fn record_count(&self) -> usize {
        self.rrsets.values().map(RecordSet::len).sum()
    }

    /// The SOA serial, if the zone has an SOA.
    pub fn serial(&self) -> Option<u32> {
        self.get(&self.name, RecordType::SOA)
            .and_then(|s| match s.records.first() {
                Some(RecordData::SOA { serial, .. }) => Some(*serial),
                _ => None,
            })
    }

    /// The zone's ownership marker: the marker of its apex SOA set (see
    /// [zone ownership](mod@crate::plan#zone-ownership)); `None` for a zone
    /// another tool made, or one with no SOA.
    pub fn owner(&self) -> Option<&str> {
        self.get(&self.name, RecordType::SOA)
            .and_then(|s| s.owner.as_deref())
    }

    /// Apex name servers.
    pub fn nameservers(&self) -> Vec<String> {
        self.get(&self.name, RecordType::NS)
            .map(|s| {
                s.records
                    .iter()
                    .filter_map(|r| match r {
                        RecordData::NS { nameserver } => Some(nameserver.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Validate the whole zone and canonicalise it in place.
    ///
    /// Checks every set (names inside the zone, content per type, TTL), and
    /// the zone rules: CNAME exclusivity (a CNAME owner holds no other data,
    /// RFC 1034 §3.6.2; so no CNAME at the apex), SOA only at the apex.
    pub fn validate(&mut self) -> Result<()> {
        self.name = validate::domain("zone", &self.name)?;
        if let Some(t) = &self.tenant {
            validate::resource_name("tenant", t, 128)?;
        }
        let mut moved = false;
        for (key, set) in self.rrsets.iter_mut() {
            set.normalise(&self.name)?;
            moved |= set.name != key.name || set.rtype != key.rtype;
        }
        if moved {
            // Some key was not canonical: re-key the map (rare; a rebuild of
            // a 50,000-set map on every validation would not be).
            let sets = std::mem::take(&mut self.rrsets);
            for (_, set) in sets {
                if let Some(previous) = self.rrsets.insert(set.key(), set) {
                    return Err(Error::invalid_input(
                        "rrsets",
                        format!("duplicate record set {}", previous.key()),
                    ));
                }
            }
        }
        self.check_rules()
    }

    /// This zone validated and canonical, without copying it when it
    /// already is (a zone built with [`Zone::add`] or parsed from a file):
    /// each set is checked on a copy of its own, one at a time.
    pub fn canonical(&self) -> Result<std::borrow::Cow<'_, Zone>> {
        let name = validate::domain("zone", &self.name)?;
        let mut canonical = name == self.name;
        if let Some(t) = &self.tenant {
            validate::resource_name("tenant", t, 128)?;
        }
        for (key, set) in &self.rrsets {
            if !canonical {
                break;
            }
            canonical = set.is_canonical(&name) && key.name == set.name && key.rtype == set.rtype;
        }
        if !canonical {
            let mut owned = self.clone();
            owned.validate()?;
            return Ok(std::borrow::Cow::Owned(owned));
        }
        self.check_rules()?;
        Ok(std::borrow::Cow::Borrowed(self))
    }

    fn check_rules(&self) -> Result<()> {
        // Keys are sorted by name: the sets of one name are neighbours, so
        // one pass without allocating checks a 50,000-set zone.
        let mut keys = self.rrsets.keys().peekable();
        while let Some(first) = keys.next() {
            let name = first.name.as_str();
            let (mut count, mut cname, mut soa) = (0, false, false);
            for key in std::iter::once(first)
                .chain(std::iter::from_fn(|| keys.next_if(|k| k.name == name)))
            {
                count += 1;
                cname |= key.rtype == RecordType::CNAME;
                soa |= key.rtype == RecordType::SOA;
            }
            self.check_name_rules(name, count, cname, soa)?;
        }
        Ok(())
    }

    /// CNAME alone and never at the apex; SOA only at the apex.
    fn check_name_rules(&self, name: &str, sets: usize, cname: bool, soa: bool) -> Result<()> {
        if cname && sets > 1 {
            return Err(Error::invalid_input(
                "rrsets",
                format!("{name} has a CNAME and other records; a CNAME must be alone at its name"),
            ));
        }
        if cname && name == self.name {
            return Err(Error::invalid_input(
                "rrsets",
                "a CNAME is not allowed at the zone apex",
            ));
        }
        if soa && name != self.name {
            return Err(Error::invalid_input(
                "rrsets",
                format!("SOA at {name}: only the apex has one"),
            ));
        }
        Ok(())
    }
}

/// A zone that passed [`Zone::canonical`]: valid, every name and record in
/// canonical form. Only [`CheckedZone::new`] and [`CheckedZone::owned`]
/// make one, so a function that takes it knows the zone was checked and
/// need not check it again (a sync checks a 50,000-set zone once, before
/// any call, not once more inside the planner).
///
/// ```
/// use stackdock_core::dns::RecordData;
/// use stackdock_dns::model::{CheckedZone, Zone};
/// let mut zone = Zone::new("example.com").unwrap();
/// zone.add("www", 300, RecordData::A { address: [192, 0, 2, 1].into() }).unwrap();
/// let checked = CheckedZone::new(&zone).unwrap();
/// assert_eq!(checked.record_count(), 1); // it is the zone (`Deref`)
/// zone.rrsets.values_mut().for_each(|set| set.ttl = 0);
/// assert!(CheckedZone::new(&zone).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedZone<'a>(Cow<'a, Zone>);

impl<'a> CheckedZone<'a> {
    /// `zone` checked, borrowed when it is canonical already (a zone built
    /// with [`Zone::add`] or parsed from a file), else a canonical copy.
    pub fn new(zone: &'a Zone) -> Result<Self> {
        zone.canonical().map(CheckedZone)
    }

    /// `zone` checked and canonicalised in place (no copy).
    pub fn owned(mut zone: Zone) -> Result<CheckedZone<'static>> {
        zone.validate()?;
        Ok(CheckedZone(Cow::Owned(zone)))
    }

    /// The zone itself (copied only when it is borrowed).
    pub fn into_zone(self) -> Zone {
        self.0.into_owned()
    }
}

impl std::ops::Deref for CheckedZone<'_> {
    type Target = Zone;

    fn deref(&self) -> &Zone {
        &self.0
    }
}

impl fmt::Display for Zone {
    /// The zone as absolute zone-file lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for set in self.rrsets.values() {
            writeln!(f, "{set}")?;
        }
        Ok(())
    }
}

/// SOA timers for new zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoaTimers {
    /// Refresh, seconds.
    pub refresh: u32,
    /// Retry, seconds.
    pub retry: u32,
    /// Expire, seconds.
    pub expire: u32,
    /// Negative-caching TTL, seconds.
    pub minimum: u32,
}

impl Default for SoaTimers {
    fn default() -> Self {
        SoaTimers {
            refresh: 10800,
            retry: 3600,
            expire: 604800,
            minimum: 3600,
        }
    }
}

/// The records a new zone starts with. `{zone}` in any name stands for the
/// zone's name.
///
/// The default: SOA (primary = first name server, `hostmaster.{zone}`), NS
/// `ns1.{zone}` and `ns2.{zone}`, apex A, `www` CNAME to the apex, MX 10 to
/// the apex; name servers inside the zone get A glue records pointing at the
/// apex address so the zone is complete. The default apex address is the
/// documentation address `192.0.2.1`: set [`ZoneTemplate::apex_ipv4`] to your
/// web server. Switch the template off with [`ZoneTemplate::disabled`].
///
/// ```
/// use stackdock_dns::model::ZoneTemplate;
/// let zone = ZoneTemplate::default().build("example.com", 2024010101).unwrap();
/// assert_eq!(zone.nameservers(), vec!["ns1.example.com", "ns2.example.com"]);
/// assert!(zone.get("www.example.com", stackdock_core::dns::RecordType::CNAME).is_some());
/// assert_eq!(ZoneTemplate::disabled().build("example.com", 1).unwrap().rrsets.len(), 1); // SOA only
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ZoneTemplate {
    /// Whether to add anything beyond the SOA (and the name servers).
    pub enabled: bool,
    /// TTL of the template records.
    pub ttl: u32,
    /// Apex name servers (`{zone}` = zone name).
    pub nameservers: Vec<String>,
    /// Responsible mailbox in DNS form.
    pub hostmaster: String,
    /// SOA timers.
    pub soa: SoaTimers,
    /// Apex A record (and glue for in-zone name servers); `None` = none.
    pub apex_ipv4: Option<Ipv4Addr>,
    /// Add `www` as a CNAME of the apex.
    pub www_cname: bool,
    /// Apex MX: preference and exchange (`{zone}` = zone name); `None` = none.
    pub mx: Option<(u16, String)>,
}

impl ZoneTemplate {
    /// This template with a zone spec's own overrides (`None` keeps ours).
    pub fn apply(&mut self, overrides: &stackdock_core::spec::ZoneDefaults) {
        if let Some(ip) = overrides.apex_ipv4 {
            self.apex_ipv4 = Some(ip);
        }
        if let Some(www) = overrides.www_cname {
            self.www_cname = www;
        }
        if let Some(mx) = &overrides.mx {
            self.mx = Some((10, mx.clone()));
        }
    }
}

impl Default for ZoneTemplate {
    fn default() -> Self {
        ZoneTemplate {
            enabled: true,
            ttl: DEFAULT_TTL,
            nameservers: vec!["ns1.{zone}".into(), "ns2.{zone}".into()],
            hostmaster: "hostmaster.{zone}".into(),
            soa: SoaTimers::default(),
            apex_ipv4: Some(Ipv4Addr::new(192, 0, 2, 1)),
            www_cname: true,
            mx: Some((10, "{zone}".into())),
        }
    }
}

impl ZoneTemplate {
    /// A template that adds only the SOA and the name servers given to it
    /// (none by default).
    pub fn disabled() -> Self {
        ZoneTemplate {
            enabled: false,
            nameservers: Vec::new(),
            ..ZoneTemplate::default()
        }
    }

    /// Set the name servers.
    pub fn with_nameservers(mut self, nameservers: Vec<String>) -> Self {
        self.nameservers = nameservers;
        self
    }

    /// Set the apex address.
    pub fn with_apex_ipv4(mut self, address: Option<Ipv4Addr>) -> Self {
        self.apex_ipv4 = address;
        self
    }

    /// The SOA record this template gives `zone` (canonical) with `serial`.
    pub fn soa(&self, zone: &str, serial: u32) -> Result<RecordData> {
        let subst = |s: &str| s.replace("{zone}", zone);
        let mname = self
            .nameservers
            .first()
            .map(|n| subst(n))
            .unwrap_or_else(|| format!("ns1.{zone}"));
        Ok(RecordData::SOA {
            mname: validate::dns_name("soa.mname", &mname, validate::NameRules::Hostname)?,
            rname: validate::dns_name(
                "soa.rname",
                &subst(&self.hostmaster),
                validate::NameRules::RecordOwner,
            )?,
            serial,
            refresh: self.soa.refresh,
            retry: self.soa.retry,
            expire: self.soa.expire,
            minimum: self.soa.minimum,
        })
    }

    /// The zone this template creates.
    pub fn build(&self, zone: &str, serial: u32) -> Result<Zone> {
        let mut out = Zone::new(zone)?;
        let name = out.name.clone();
        let subst = |s: &str| s.replace("{zone}", &name);
        let ttl = self.ttl;
        out.add("@", ttl, self.soa(&name, serial)?)?;
        for ns in &self.nameservers {
            let ns = validate::dns_name("nameservers", &subst(ns), validate::NameRules::Hostname)?;
            out.add(
                "@",
                ttl,
                RecordData::NS {
                    nameserver: ns.clone(),
                },
            )?;
            if let (true, Some(address)) = (self.enabled, self.apex_ipv4) {
                if validate::is_in_zone(&ns, &name) && ns != name {
                    out.add(&format!("{ns}."), ttl, RecordData::A { address })?;
                }
            }
        }
        if self.enabled {
            if let Some(address) = self.apex_ipv4 {
                out.add("@", ttl, RecordData::A { address })?;
            }
            if self.www_cname {
                out.add(
                    "www",
                    ttl,
                    RecordData::CNAME {
                        target: name.clone(),
                    },
                )?;
            }
            if let Some((preference, exchange)) = &self.mx {
                out.add(
                    "@",
                    ttl,
                    RecordData::MX {
                        preference: *preference,
                        exchange: subst(exchange),
                    },
                )?;
            }
        }
        out.validate()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_canonicalised_everywhere() {
        let mut z = Zone::new("Example.COM.").unwrap();
        z.add(
            "WWW",
            300,
            RecordData::CNAME {
                target: "Example.com.".into(),
            },
        )
        .unwrap();
        z.add(
            "mail.example.com.",
            300,
            RecordData::A {
                address: "192.0.2.5".parse().unwrap(),
            },
        )
        .unwrap();
        z.add(
            "@",
            300,
            RecordData::MX {
                preference: 5,
                exchange: "MAIL.example.com".into(),
            },
        )
        .unwrap();
        assert!(z.get("www.example.com", RecordType::CNAME).is_some());
        assert!(z.get("mail.example.com", RecordType::A).is_some());
        let mx = z.get("example.com", RecordType::MX).unwrap();
        assert_eq!(mx.records[0].to_string(), "5 mail.example.com.");
        assert!(z
            .add(
                "www.other.org.",
                300,
                RecordData::A {
                    address: "192.0.2.1".parse().unwrap()
                }
            )
            .is_err());
    }

    #[test]
    fn zone_rules() {
        let a = RecordData::A {
            address: "192.0.2.1".parse().unwrap(),
        };
        let mut z = Zone::new("example.com").unwrap();
        z.add(
            "www",
            300,
            RecordData::CNAME {
                target: "example.com".into(),
            },
        )
        .unwrap();
        z.add("www", 300, a.clone()).unwrap();
        assert!(z.validate().is_err(), "CNAME and A at one name");

        let mut z = Zone::new("example.com").unwrap();
        z.add(
            "@",
            300,
            RecordData::CNAME {
                target: "other.org".into(),
            },
        )
        .unwrap();
        assert!(z.validate().is_err(), "CNAME at apex");

        let mut z = Zone::new("example.com").unwrap();
        z.add(
            "x",
            300,
            RecordData::CNAME {
                target: "a.org".into(),
            },
        )
        .unwrap();
        assert!(
            z.add(
                "x",
                300,
                RecordData::CNAME {
                    target: "b.org".into()
                }
            )
            .is_err(),
            "two CNAMEs"
        );

        assert!(RecordSet::new("example.com", "x", 0, vec![a.clone()]).is_err());
        assert!(RecordSet::new("example.com", "x", MAX_TTL + 1, vec![a.clone()]).is_err());
        assert!(RecordSet::new("example.com", "x", MAX_TTL, vec![a.clone()]).is_ok());
        assert!(RecordSet::new("example.com", &"a".repeat(64), 60, vec![a.clone()]).is_err());
        assert!(RecordSet::new(
            "example.com",
            "x",
            60,
            vec![RecordData::MX {
                preference: 1,
                exchange: "bad host".into()
            }]
        )
        .is_err());
        assert!(RecordSet::new(
            "example.com",
            "x",
            60,
            vec![RecordData::CAA {
                flags: 0,
                tag: "is sue".into(),
                value: "x".into()
            }]
        )
        .is_err());
        assert!(RecordSet::new(
            "example.com",
            "x",
            60,
            vec![RecordData::ALIAS {
                target: "x.org".into()
            }]
        )
        .is_err());
        let idn = RecordSet::new("bücher.de", "straße", 60, vec![a]).unwrap();
        assert_eq!(idn.name, "xn--strae-oqa.xn--bcher-kva.de");
    }

    #[test]
    fn validation_re_keys_sets_put_in_under_other_names() {
        let a = RecordData::A {
            address: "192.0.2.1".parse().unwrap(),
        };
        let set = |name: &str| RecordSet {
            name: name.into(),
            rtype: RecordType::A,
            ttl: 60,
            records: vec![a.clone()],
            owner: None,
        };
        let mut z = Zone::new("example.com").unwrap();
        z.rrsets.insert(
            RecordSetKey::new("x", RecordType::A),
            set("WWW.example.com"),
        );
        z.validate().unwrap();
        assert!(z.get("www.example.com", RecordType::A).is_some());
        assert_eq!(z.rrsets.len(), 1);
        z.rrsets.insert(
            RecordSetKey::new("y", RecordType::A),
            set("www.EXAMPLE.com"),
        );
        let err = z.validate().unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
    }

    #[test]
    fn canonical_zones_are_checked_without_a_copy() {
        use std::borrow::Cow;
        let z = ZoneTemplate::default().build("example.com", 1).unwrap();
        assert!(matches!(z.canonical().unwrap(), Cow::Borrowed(_)));
        let mut upper = z.clone();
        upper.name = "EXAMPLE.com".into();
        match upper.canonical().unwrap() {
            Cow::Owned(fixed) => assert_eq!(fixed, z),
            Cow::Borrowed(_) => panic!("a non-canonical zone came back as is"),
        }
        let mut bad = z.clone();
        for set in bad.rrsets.values_mut() {
            set.ttl = 0;
        }
        assert!(bad.canonical().is_err());
        let mut cname_apex = z;
        cname_apex
            .add(
                "@",
                60,
                RecordData::CNAME {
                    target: "a.example.net".into(),
                },
            )
            .unwrap();
        assert!(cname_apex.canonical().is_err(), "zone rules apply too");
    }

    #[test]
    fn template_is_configurable() {
        let z = ZoneTemplate::default()
            .build("example.com", 2024010101)
            .unwrap();
        assert_eq!(z.serial(), Some(2024010101));
        assert!(z.get("ns1.example.com", RecordType::A).is_some(), "glue");
        assert!(z.get("example.com", RecordType::MX).is_some());
        let custom = ZoneTemplate {
            www_cname: false,
            mx: None,
            ..ZoneTemplate::default()
        }
        .with_nameservers(vec![
            "ns1.dns.example.net".into(),
            "ns2.dns.example.net".into(),
        ])
        .build("example.org", 1)
        .unwrap();
        assert!(custom.get("www.example.org", RecordType::CNAME).is_none());
        assert!(custom.get("example.org", RecordType::MX).is_none());
        assert_eq!(
            custom.nameservers(),
            vec!["ns1.dns.example.net", "ns2.dns.example.net"]
        );
        assert_eq!(
            custom.rrsets.len(),
            3,
            "SOA, NS, apex A: no glue for out-of-zone servers"
        );
    }
}
