//! Plan, then apply: the difference between a desired and an actual zone.
//!
//! # Ownership rule
//!
//! A zone may be shared with other tools (a mail provider's DKIM records, an
//! ACME client's `_acme-challenge` TXT). With the default
//! [`Ownership::Marked`] a plan touches only record sets that are **ours**:
//!
//! * every set in the desired zone is stored with our ownership marker
//!   (PowerDNS: an rrset comment whose `account` is the marker; zone files: a
//!   `; owner=<marker>` comment on the record line);
//! * an actual set that carries our marker and is not desired is deleted;
//! * an actual set without our marker is never deleted; if the desired zone
//!   wants the same name and type, the plan refuses with
//!   [`Conflict`](stackdock_core::ErrorKind::Conflict) unless
//!   [`PlanOptions::adopt`] is set (then it is updated and marked ours);
//! * the apex SOA is never deleted and its serial is the backend's.
//!
//! # Zone ownership
//!
//! A **zone** is ours when its apex SOA set carries our marker (PowerDNS: the
//! SOA rrset comment; zone files: `; owner=<marker>` on the SOA line), which
//! every zone we create gets. The SOA is planned like any other set: on a
//! zone another tool made (unmarked SOA) a desired SOA that differs is a
//! `Conflict` unless [`PlanOptions::adopt`], which also marks the zone ours.
//! [`Zone::owner`] reads the zone's marker.
//!
//! [`Ownership::Exclusive`] manages every set of the zone (octoDNS-style).
//!
//! # Safety threshold
//!
//! A plan that would update or delete more than
//! [`PlanOptions::max_change_ratio`] (30 %) of the records of an existing
//! zone that holds at least [`PlanOptions::min_records_for_threshold`] (10)
//! records is refused with [`Refused`](stackdock_core::ErrorKind::Refused)
//! unless [`PlanOptions::force`] is set. Adds never count, and neither do
//! ownership-only updates (adding our marker to a set whose served data
//! stays the same), so adopting a zone another tool made is not "changing
//! everything".
//!
//! Error messages name at most [`MAX_NAMES_IN_ERRORS`] record sets, then a count.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

use stackdock_core::dns::{RecordData, RecordType};
use stackdock_core::spec::canonical_owner;
use stackdock_core::{Error, ErrorKind, Result};

use crate::model::{check_owner_marker, CheckedZone, RecordSet, RecordSetKey, Zone};

/// The ownership marker used when none is configured.
pub const DEFAULT_OWNER: &str = "stackdock";

/// How many record-set names an error message lists before "and N more".
pub const MAX_NAMES_IN_ERRORS: usize = 20;

/// `a, b, c` for at most [`MAX_NAMES_IN_ERRORS`] names, then `and N more`:
/// a zone of 50,000 sets must not make a 246 KB error message.
pub fn name_list(names: &[String]) -> String {
    let shown = names.len().min(MAX_NAMES_IN_ERRORS);
    let mut out = names[..shown].join(", ");
    if names.len() > shown {
        out.push_str(&format!(
            " and {} more ({} in all)",
            names.len() - shown,
            names.len()
        ));
    }
    out
}

/// Which record sets a plan may touch. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ownership {
    /// Only sets carrying this marker (and the desired ones, which get it).
    Marked(String),
    /// Every set in the zone.
    Exclusive,
}

impl Default for Ownership {
    fn default() -> Self {
        Ownership::Marked(DEFAULT_OWNER.to_owned())
    }
}

impl Ownership {
    /// The marker desired sets are stored with (`None` when exclusive).
    pub fn marker(&self) -> Option<&str> {
        match self {
            Ownership::Marked(m) => Some(m),
            Ownership::Exclusive => None,
        }
    }

    fn owns(&self, set: &RecordSet) -> bool {
        match self {
            Ownership::Exclusive => true,
            Ownership::Marked(m) => set.owner.as_deref() == Some(m.as_str()),
        }
    }
}

/// How to plan.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PlanOptions {
    /// Which sets may be touched.
    pub ownership: Ownership,
    /// Take over sets that exist without our marker when the desired zone names them.
    pub adopt: bool,
    /// Apply even when the safety threshold is exceeded.
    pub force: bool,
    /// Largest share of an existing zone's records an unforced plan may update or delete.
    pub max_change_ratio: f64,
    /// Zones with fewer records than this are not protected by the threshold.
    pub min_records_for_threshold: usize,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            ownership: Ownership::default(),
            adopt: false,
            force: false,
            max_change_ratio: 0.30,
            min_records_for_threshold: 10,
        }
    }
}

impl PlanOptions {
    /// Proceed past the safety threshold.
    pub fn forced(mut self) -> Self {
        self.force = true;
        self
    }

    /// Use this ownership rule.
    pub fn with_ownership(mut self, ownership: Ownership) -> Self {
        self.ownership = ownership;
        self
    }

    /// Adopt unmarked sets the desired zone names.
    pub fn adopting(mut self) -> Self {
        self.adopt = true;
        self
    }
}

/// One change to one record set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// Create a set that does not exist.
    Add(RecordSet),
    /// Replace a set's TTL, records or marker. Boxed: a change is the size
    /// of one set, and a zone's plan (50,000 adds) is a vector of them.
    Update {
        /// The set as it is.
        before: Box<RecordSet>,
        /// The set as it will be.
        after: Box<RecordSet>,
    },
    /// Remove a set.
    Delete(RecordSet),
}

impl Change {
    /// An update of `before` to `after`.
    ///
    /// ```
    /// use stackdock_core::dns::RecordData;
    /// use stackdock_dns::model::RecordSet;
    /// use stackdock_dns::plan::Change;
    /// let a = |last| vec![RecordData::A { address: [192, 0, 2, last].into() }];
    /// let before = RecordSet::new("example.com", "www", 300, a(1)).unwrap();
    /// let after = RecordSet::new("example.com", "www", 300, a(2)).unwrap();
    /// let change = Change::update(before, after.clone());
    /// assert_eq!(change.after(), Some(&after));
    /// ```
    pub fn update(before: RecordSet, after: RecordSet) -> Change {
        Change::Update {
            before: Box::new(before),
            after: Box::new(after),
        }
    }

    /// The key of the set changed.
    pub fn key(&self) -> RecordSetKey {
        match self {
            Change::Add(s) | Change::Delete(s) => s.key(),
            Change::Update { after, .. } => after.key(),
        }
    }

    /// The set as it will be (`None` for deletes).
    pub fn after(&self) -> Option<&RecordSet> {
        match self {
            Change::Add(s) => Some(s),
            Change::Update { after, .. } => Some(after),
            Change::Delete(_) => None,
        }
    }

    /// Make this change to `zone` (in memory, unvalidated).
    ///
    /// ```
    /// use stackdock_core::dns::RecordData;
    /// use stackdock_dns::model::{RecordSet, Zone};
    /// use stackdock_dns::plan::Change;
    /// let a = vec![RecordData::A { address: [192, 0, 2, 1].into() }];
    /// let mut zone = Zone::new("example.com").unwrap();
    /// let set = RecordSet::new("example.com", "www", 300, a).unwrap();
    /// Change::Add(set.clone()).apply_to(&mut zone);
    /// assert_eq!(zone.get("www.example.com", set.rtype), Some(&set));
    /// Change::Delete(set.clone()).apply_to(&mut zone);
    /// assert!(zone.rrsets.is_empty());
    /// ```
    pub fn apply_to(&self, zone: &mut Zone) {
        match self.after() {
            Some(set) => drop(zone.insert(set.clone())),
            None => drop(zone.rrsets.remove(&self.key())),
        }
    }
}

/// What applying would do to one zone. Print it for a person with `Display`;
/// serialise it (JSON) for a machine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// The zone.
    pub zone: String,
    /// The tenant the zone gets when it is created.
    pub tenant: Option<String>,
    /// Whether the zone does not exist yet and will be created with the adds.
    pub create_zone: bool,
    /// Changes, deletes first, then updates, then adds; each group by key.
    pub changes: Vec<Change>,
    /// Records in the zone before the plan.
    pub existing_records: usize,
}

impl Plan {
    /// Whether applying would change nothing.
    pub fn is_empty(&self) -> bool {
        !self.create_zone && self.changes.is_empty()
    }

    /// Count of (adds, updates, deletes).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for ch in &self.changes {
            match ch {
                Change::Add(_) => c.0 += 1,
                Change::Update { .. } => c.1 += 1,
                Change::Delete(_) => c.2 += 1,
            }
        }
        c
    }

    /// Records of the existing zone whose served data would be updated or
    /// deleted (ownership-only updates change nothing served: not counted).
    pub fn records_touched(&self) -> usize {
        self.changes
            .iter()
            .map(|c| match c {
                Change::Add(_) => 0,
                Change::Update { before, after } if same_served_data(before, after) => 0,
                Change::Update { before, .. } => before.len(),
                Change::Delete(s) => s.len(),
            })
            .sum()
    }
}

/// One record-level step of a [`Plan`], for APIs that change records one
/// by one rather than whole sets (Cloudflare, Vercel, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOp<'a> {
    /// Delete this record.
    Delete {
        /// Owner name (canonical, absolute).
        name: &'a str,
        /// The record.
        data: &'a RecordData,
    },
    /// Keep this record, with a new TTL or ownership marker.
    Restamp {
        /// Owner name.
        name: &'a str,
        /// The record.
        data: &'a RecordData,
        /// Its TTL from now on.
        ttl: u32,
        /// Its marker from now on.
        owner: Option<&'a str>,
    },
    /// Create this record.
    Add {
        /// Owner name.
        name: &'a str,
        /// The record.
        data: &'a RecordData,
        /// Its TTL.
        ttl: u32,
        /// Its marker.
        owner: Option<&'a str>,
    },
}

impl Plan {
    /// The plan as record-level steps: every delete, then every restamp,
    /// then every add (so a name freed by a delete can be reused, e.g. a
    /// CNAME replacing an A). Records an update keeps unchanged are not
    /// listed.
    ///
    /// ```
    /// use stackdock_core::dns::RecordData;
    /// use stackdock_dns::model::Zone;
    /// use stackdock_dns::plan::{plan, PlanOptions, RecordOp};
    /// let a = |last| RecordData::A { address: [192, 0, 2, last].into() };
    /// let mut actual = Zone::new("example.com").unwrap();
    /// actual.add("www", 300, a(1)).unwrap();
    /// actual.rrsets.values_mut().for_each(|s| s.owner = Some("stackdock".into()));
    /// let mut desired = Zone::new("example.com").unwrap();
    /// desired.add("www", 300, a(2)).unwrap();
    /// let p = plan(&desired, Some(&actual), &PlanOptions::default()).unwrap();
    /// let ops = p.record_ops();
    /// assert!(matches!(ops[0], RecordOp::Delete { data, .. } if *data == a(1)));
    /// assert!(matches!(ops[1], RecordOp::Add { data, ttl: 300, .. } if *data == a(2)));
    /// ```
    pub fn record_ops(&self) -> Vec<RecordOp<'_>> {
        let (mut deletes, mut restamps, mut adds) = (Vec::new(), Vec::new(), Vec::new());
        for change in &self.changes {
            let (before, after) = match change {
                Change::Add(set) => (None, Some(set)),
                Change::Delete(set) => (Some(set), None),
                Change::Update { before, after } => (Some(&**before), Some(&**after)),
            };
            if let Some(b) = before {
                let restamp = after.filter(|a| a.ttl != b.ttl || a.owner != b.owner);
                for data in &b.records {
                    let name = b.name.as_str();
                    match after {
                        Some(a) if a.records.contains(data) => {
                            if let Some(a) = restamp {
                                let owner = a.owner.as_deref();
                                restamps.push(RecordOp::Restamp {
                                    name,
                                    data,
                                    ttl: a.ttl,
                                    owner,
                                });
                            }
                        }
                        _ => deletes.push(RecordOp::Delete { name, data }),
                    }
                }
            }
            if let Some(a) = after {
                let new = a
                    .records
                    .iter()
                    .filter(|d| !before.is_some_and(|b| b.records.contains(d)));
                adds.extend(new.map(|data| RecordOp::Add {
                    name: &a.name,
                    data,
                    ttl: a.ttl,
                    owner: a.owner.as_deref(),
                }));
            }
        }
        deletes.into_iter().chain(restamps).chain(adds).collect()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, u, d) = self.counts();
        write!(f, "zone {}", self.zone)?;
        if self.create_zone {
            f.write_str(" (new)")?;
        }
        writeln!(f, ": {a} to add, {u} to update, {d} to delete")?;
        for change in &self.changes {
            match change {
                Change::Delete(s) => {
                    for line in s.to_string().lines() {
                        writeln!(f, "- {line}")?;
                    }
                }
                Change::Update { before, after } => {
                    writeln!(f, "~ {}", after.key())?;
                    for line in before.to_string().lines() {
                        writeln!(f, "  - {line}")?;
                    }
                    for line in after.to_string().lines() {
                        writeln!(f, "  + {line}")?;
                    }
                    if before.owner != after.owner {
                        writeln!(
                            f,
                            "  owner {} -> {}",
                            before.owner.as_deref().unwrap_or("(none)"),
                            after.owner.as_deref().unwrap_or("(none)")
                        )?;
                    }
                }
                Change::Add(s) => {
                    for line in s.to_string().lines() {
                        writeln!(f, "+ {line}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The plan that turns `actual` (`None` = the zone does not exist) into `desired`.
///
/// `desired` is validated first (nothing remote happens on invalid input).
/// See the [module docs](self) for ownership and the safety threshold.
///
/// ```
/// use stackdock_core::dns::RecordData;
/// use stackdock_dns::model::Zone;
/// use stackdock_dns::plan::{plan, PlanOptions};
/// let mut desired = Zone::new("example.com").unwrap();
/// desired.add("www", 300, RecordData::A { address: "192.0.2.10".parse().unwrap() }).unwrap();
/// let p = plan(&desired, None, &PlanOptions::default()).unwrap();
/// assert!(p.create_zone);
/// assert_eq!(p.to_string(), "zone example.com (new): 1 to add, 0 to update, 0 to delete\n+ www.example.com. 300 IN A 192.0.2.10\n");
/// ```
pub fn plan(desired: &Zone, actual: Option<&Zone>, options: &PlanOptions) -> Result<Plan> {
    plan_checked(&CheckedZone::new(desired)?, actual, options)
}

/// [`plan`] for a desired zone checked already (before the first remote
/// call, say): it is not checked again.
///
/// ```
/// use stackdock_core::dns::RecordData;
/// use stackdock_dns::model::{CheckedZone, Zone};
/// use stackdock_dns::plan::{plan, plan_checked, PlanOptions};
/// let mut desired = Zone::new("example.com").unwrap();
/// desired.add("www", 300, RecordData::A { address: [192, 0, 2, 10].into() }).unwrap();
/// let checked = CheckedZone::new(&desired).unwrap(); // bad input fails here
/// let options = PlanOptions::default();
/// assert_eq!(plan_checked(&checked, None, &options).unwrap(), plan(&desired, None, &options).unwrap());
/// ```
pub fn plan_checked(
    desired: &CheckedZone<'_>,
    actual: Option<&Zone>,
    options: &PlanOptions,
) -> Result<Plan> {
    plan_validated(desired, actual, options)
}

/// [`plan_validated`] for a desired zone the caller hands over: when the
/// zone is new its sets move into the plan instead of being copied.
pub(crate) fn plan_validated_owned(
    desired: Zone,
    actual: Option<&Zone>,
    options: &PlanOptions,
) -> Result<Plan> {
    if actual.is_some() {
        return plan_validated(&desired, actual, options);
    }
    check_options(options)?;
    let marker = options.ownership.marker();
    let changes = (desired.rrsets.into_values())
        .map(|mut set| {
            set.owner = marker.map(str::to_owned);
            Change::Add(set)
        })
        .collect();
    Ok(Plan {
        zone: desired.name,
        tenant: desired.tenant,
        create_zone: true,
        changes,
        existing_records: 0,
    })
}

fn check_options(options: &PlanOptions) -> Result<()> {
    if let Some(marker) = options.ownership.marker() {
        check_owner_marker(marker)?;
    }
    if !(0.0..=1.0).contains(&options.max_change_ratio) {
        return Err(Error::invalid_input(
            "max_change_ratio",
            "must be between 0 and 1",
        ));
    }
    Ok(())
}

/// The sets of the zone read back that already are as desired and ours,
/// found while it is read so that it need not hold them: a no-op plan of a
/// 50,000-set zone then holds one zone, not two.
#[derive(Debug)]
pub(crate) struct Unchanged<'a> {
    /// The desired keys in key order (a set is looked up by its key).
    wanted: Vec<&'a RecordSetKey>,
    /// Whether the desired set at each index was found unchanged, one bit each.
    seen: Vec<u64>,
    desired: &'a Zone,
    marker: Option<&'a str>,
    /// Records of the sets left out (they count for the safety threshold).
    records: usize,
}

impl<'a> Unchanged<'a> {
    /// For planning towards `desired` (validated) with `options`.
    pub(crate) fn new(desired: &'a Zone, options: &'a PlanOptions) -> Self {
        Unchanged {
            wanted: desired.rrsets.keys().collect(),
            seen: vec![0; desired.rrsets.len().div_ceil(64)],
            desired,
            marker: options.ownership.marker(),
            records: 0,
        }
    }

    /// Whether `have` is as desired and ours: then it is noted and the
    /// planner needs nothing more of it (the rule of [`plan`]'s no-op case).
    pub(crate) fn skip(&mut self, have: &RecordSet) -> bool {
        let at = (have.name.as_str(), have.rtype);
        let found = (self.wanted).binary_search_by(|k| (k.name.as_str(), k.rtype).cmp(&at));
        let Ok(i) = found else {
            return false;
        };
        let want = &self.desired.rrsets[self.wanted[i]];
        if !(same_served_data(have, want) && have.owner.as_deref() == self.marker) {
            return false;
        }
        self.mark(i, have.len());
        true
    }

    /// Note the desired set at index `i` (key order), of `records` records,
    /// found unchanged.
    fn mark(&mut self, i: usize, records: usize) {
        self.seen[i / 64] |= 1 << (i % 64);
        self.records += records;
    }

    /// Whether the desired set at index `i` (key order) was found unchanged.
    fn left_out(&self, i: usize) -> bool {
        self.seen
            .get(i / 64)
            .is_some_and(|bits| bits & (1 << (i % 64)) != 0)
    }
}

/// Reading a zone record by record, for APIs that list records one at a
/// time (Cloudflare, Vercel, ...): each record is noted as it is read, and
/// those of sets already as desired and ours (in a sync that changes
/// little, nearly all) need no grouping, no checking and no planning. The
/// rest go to [`Zone::from_records`], and [`Sifted::plan`] makes of them
/// the plan [`plan`] makes of the whole zone.
///
/// A record matches when its owner (canonical), type, data, TTL and marker
/// are those of a record of a desired set, seen once. A set is unchanged
/// when every one of its records matched and nothing else was read at its
/// name and type (a record that differs, a duplicate, an owner that is the
/// same name once canonical). Sets of more than [`RecordSieve::MAX_SET`]
/// records are always planned whole.
///
/// ```
/// use stackdock_core::dns::RecordData;
/// use stackdock_dns::model::{CheckedZone, Zone};
/// use stackdock_dns::plan::{PlanOptions, RecordSieve};
/// let a = |last| RecordData::A { address: [192, 0, 2, last].into() };
/// let mut desired = Zone::new("example.com").unwrap();
/// desired.add("www", 300, a(1)).unwrap().add("api", 300, a(2)).unwrap();
/// let desired = CheckedZone::new(&desired).unwrap();
/// let options = PlanOptions::default(); // marker "stackdock"
/// let listed = [
///     ("www.example.com", 300, a(1), Some("stackdock")), // as desired
///     ("api.example.com", 300, a(3), Some("stackdock")), // another address
/// ];
/// let mut sieve = RecordSieve::new(&desired, &options);
/// let noted: Vec<_> = listed.iter().map(|(n, t, d, m)| sieve.note(n, *t, d, *m)).collect();
/// let sifted = sieve.finish();
/// let needed = listed.iter().zip(&noted).filter(|(_, noted)| sifted.needed(**noted));
/// let needed: Vec<_> = needed
///     .map(|((n, t, d, m), _)| (n.to_string(), *t, d.clone(), m.map(str::to_owned)))
///     .collect();
/// assert_eq!(needed.len(), 1, "www is as desired: only api is grouped and planned");
/// let actual = Zone::from_records("example.com", needed).unwrap();
/// assert_eq!(sifted.plan(Some(&actual)).unwrap().counts(), (0, 1, 0));
/// ```
#[derive(Debug)]
pub struct RecordSieve<'a> {
    desired: &'a Zone,
    options: &'a PlanOptions,
    /// The desired sets in key order, and where each is by name and type
    /// (built at the first record noted: a sieve made before the first
    /// remote call costs nothing then).
    sets: Vec<&'a RecordSet>,
    index: HashMap<(&'a str, RecordType), usize>,
    /// Per desired set: which of its records were read (bit `j`: record
    /// `j`), and whether anything else was read at its name and type.
    found: Vec<(u64, bool)>,
}

/// What [`RecordSieve::note`] found of one record; keep it with the record
/// for [`Sifted::needed`] of the same sieve (it is an index into that
/// sieve's desired sets). The default, a record not noted, is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Noted(Option<usize>);

impl<'a> RecordSieve<'a> {
    /// The most records a desired set may hold to be matched record by
    /// record (one bit each); bigger sets are planned whole.
    pub const MAX_SET: usize = 64;

    /// A sieve for planning towards `desired` with `options`.
    pub fn new(desired: &'a CheckedZone<'_>, options: &'a PlanOptions) -> Self {
        RecordSieve {
            desired,
            options,
            sets: Vec::new(),
            index: HashMap::new(),
            found: Vec::new(),
        }
    }

    fn build_index(&mut self) {
        self.sets = self.desired.rrsets.values().collect();
        self.index = (self.sets.iter().enumerate())
            .map(|(i, set)| ((set.name.as_str(), set.rtype), i))
            .collect();
        self.found = vec![(0, false); self.sets.len()];
    }

    /// Note one record read: owner `name` (as read), its TTL, data and
    /// ownership marker.
    pub fn note(&mut self, name: &str, ttl: u32, data: &RecordData, marker: Option<&str>) -> Noted {
        if self.sets.len() != self.desired.rrsets.len() {
            self.build_index();
        }
        let rtype = data.record_type();
        let Some(&i) = self.index.get(&(name, rtype)) else {
            self.spoil_same_once_canonical(name, rtype);
            return Noted(None);
        };
        let set = self.sets[i];
        let (seen, spoiled) = &mut self.found[i];
        let ours = marker == self.options.ownership.marker() && ttl == set.ttl;
        let small = set.records.len() <= Self::MAX_SET;
        let at = (ours && small)
            .then(|| set.records.iter().position(|d| d == data))
            .flatten()
            .filter(|j| *seen & (1 << j) == 0);
        match at {
            Some(j) => {
                *seen |= 1 << j;
                Noted(Some(i))
            }
            None => {
                *spoiled = true;
                Noted(None)
            }
        }
    }

    /// A record whose owner is not a desired name as read, but is one once
    /// canonical (`WWW.example.com`, `www.example.com.`): grouping would put
    /// it in that set, which is then not known unchanged.
    fn spoil_same_once_canonical(&mut self, name: &str, rtype: RecordType) {
        let absolute = format!("{name}.");
        let Ok(owner) = canonical_owner(&absolute, &self.desired.name) else {
            return;
        };
        if let Some(&i) = self.index.get(&(owner.as_ref(), rtype)) {
            self.found[i].1 = true;
        }
    }

    /// Every record was noted: which sets are unchanged is now known.
    pub fn finish(self) -> Sifted<'a> {
        let mut unchanged = Unchanged::new(self.desired, self.options);
        for (i, (set, (seen, spoiled))) in self.sets.iter().zip(&self.found).enumerate() {
            let all = u64::MAX >> (64 - set.records.len().clamp(1, 64));
            if !spoiled && *seen == all {
                unchanged.mark(i, set.len());
            }
        }
        Sifted {
            unchanged,
            desired: self.desired,
            options: self.options,
        }
    }
}

/// A [`RecordSieve`] after the last record: which records still matter, and
/// the plan.
#[derive(Debug)]
pub struct Sifted<'a> {
    unchanged: Unchanged<'a>,
    desired: &'a Zone,
    options: &'a PlanOptions,
}

impl Sifted<'_> {
    /// Whether a record noted `noted` must go to [`Zone::from_records`]
    /// for [`Sifted::plan`] (its set is not known to be unchanged).
    pub fn needed(&self, noted: Noted) -> bool {
        noted.0.is_none_or(|i| !self.unchanged.left_out(i))
    }

    /// The plan, `actual` being the zone of the needed records (`None`:
    /// there is no zone); the one [`plan`] makes of the whole zone.
    pub fn plan(&self, actual: Option<&Zone>) -> Result<Plan> {
        plan_validated_with(self.desired, actual, self.options, Some(&self.unchanged))
    }
}

/// [`plan`] for a desired zone that [`Zone::validate`] already accepted.
/// Only the sets that change are copied into the plan (a no-op plan of a
/// 50,000-set zone copies nothing).
pub(crate) fn plan_validated(
    desired: &Zone,
    actual: Option<&Zone>,
    options: &PlanOptions,
) -> Result<Plan> {
    plan_validated_with(desired, actual, options, None)
}

/// [`plan_validated`] for an `actual` zone read without the sets `unchanged` left out.
pub(crate) fn plan_validated_with(
    desired: &Zone,
    actual: Option<&Zone>,
    options: &PlanOptions,
    unchanged: Option<&Unchanged<'_>>,
) -> Result<Plan> {
    check_options(options)?;
    let marker = options.ownership.marker().map(str::to_owned);
    // Every set as stored, the SOA included: a marked SOA makes the zone ours.
    let stored = |set: &RecordSet| RecordSet {
        owner: marker.clone(),
        ..set.clone()
    };
    let Some(actual) = actual else {
        return Ok(Plan {
            zone: desired.name.clone(),
            tenant: desired.tenant.clone(),
            create_zone: true,
            changes: desired
                .rrsets
                .values()
                .map(|s| Change::Add(stored(s)))
                .collect(),
            existing_records: 0,
        });
    };
    if actual.name != desired.name {
        return Err(Error::invalid_input(
            "zone",
            "desired and actual zones differ in name",
        ));
    }
    if desired.tenant.is_some() && desired.tenant != actual.tenant {
        return Err(Error::new(ErrorKind::PermissionDenied)
            .with_message(format!("zone {} belongs to another tenant", actual.name)));
    }
    let mut deletes = Vec::new();
    let mut updates = Vec::new();
    let mut adds = Vec::new();
    let mut unowned = Vec::new();
    // Both maps are sorted by key: walk them side by side (one comparison
    // per step, not a lookup per set: zones of 50,000 sets).
    let left_out = |i: usize| unchanged.is_some_and(|u| u.left_out(i));
    let mut wanted = 0;
    let mut wants = desired.rrsets.iter().peekable();
    let mut haves = actual.rrsets.iter().peekable();
    loop {
        let order = match (wants.peek(), haves.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((w, _)), Some((h, _))) => w.cmp(h),
        };
        match order {
            Ordering::Less => {
                let (_, want) = wants.next().expect("peeked");
                wanted += 1;
                if !left_out(wanted - 1) {
                    adds.push(Change::Add(stored(want)));
                }
            }
            Ordering::Greater => {
                let (key, have) = haves.next().expect("peeked");
                let is_soa = key.rtype == RecordType::SOA && key.name == actual.name;
                if !is_soa && options.ownership.owns(have) {
                    deletes.push(Change::Delete(have.clone()));
                }
            }
            Ordering::Equal => {
                let ((key, want), (_, have)) =
                    (wants.next().expect("peeked"), haves.next().expect("peeked"));
                wanted += 1;
                if same_served_data(have, want) && have.owner == marker {
                    continue;
                }
                if !options.ownership.owns(have) && !options.adopt {
                    unowned.push(key.to_string());
                    continue;
                }
                updates.push(Change::update(have.clone(), stored(want)));
            }
        }
    }
    if !unowned.is_empty() {
        return Err(Error::conflict(format!(
            "record sets exist that are not managed by {}: {} (set `adopt` to take them over)",
            marker.as_deref().unwrap_or("us"),
            name_list(&unowned)
        )));
    }
    let mut changes = deletes;
    changes.extend(updates);
    changes.extend(adds);
    let plan = Plan {
        zone: actual.name.clone(),
        tenant: actual.tenant.clone(),
        create_zone: false,
        changes,
        existing_records: actual.record_count() + unchanged.map_or(0, |u| u.records),
    };
    check_threshold(&plan, options)?;
    Ok(plan)
}

/// Whether two sets serve the same data (owner ignored; an SOA's serial
/// too, since the backend owns it).
fn same_served_data(a: &RecordSet, b: &RecordSet) -> bool {
    if a.rtype == RecordType::SOA {
        same_soa_ignoring_serial(a, b)
    } else {
        a.same_data(b)
    }
}

fn same_soa_ignoring_serial(a: &RecordSet, b: &RecordSet) -> bool {
    use stackdock_core::dns::RecordData::SOA;
    let strip = |s: &RecordSet| {
        s.records
            .iter()
            .map(|r| match r {
                SOA {
                    mname,
                    rname,
                    refresh,
                    retry,
                    expire,
                    minimum,
                    ..
                } => Some((
                    mname.clone(),
                    rname.clone(),
                    *refresh,
                    *retry,
                    *expire,
                    *minimum,
                )),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    a.ttl == b.ttl && strip(a) == strip(b)
}

fn check_threshold(plan: &Plan, options: &PlanOptions) -> Result<()> {
    if options.force || plan.existing_records < options.min_records_for_threshold {
        return Ok(());
    }
    let touched = plan.records_touched();
    let ratio = touched as f64 / plan.existing_records as f64;
    if ratio > options.max_change_ratio {
        return Err(Error::new(ErrorKind::Refused).with_message(format!(
            "plan for {} would update or delete {touched} of {} records ({:.0}% > {:.0}%); use force to apply it",
            plan.zone,
            plan.existing_records,
            ratio * 100.0,
            options.max_change_ratio * 100.0
        )));
    }
    Ok(())
}

/// Sets in `zone` this ownership rule manages (for listings and reports).
pub fn owned_keys(zone: &Zone, ownership: &Ownership) -> BTreeSet<RecordSetKey> {
    zone.rrsets
        .iter()
        .filter(|(_, s)| ownership.owns(s))
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use stackdock_core::dns::RecordData;

    fn a(last: u8) -> RecordData {
        RecordData::A {
            address: std::net::Ipv4Addr::new(192, 0, 2, last),
        }
    }

    fn zone_with(n: u8, owner: Option<&str>) -> Zone {
        let mut z = Zone::new("example.com").unwrap();
        for i in 0..n {
            z.add(&format!("h{i}"), 300, a(i)).unwrap();
        }
        for s in z.rrsets.values_mut() {
            s.owner = owner.map(str::to_owned);
        }
        z
    }

    #[test]
    fn a_change_is_the_size_of_one_set() {
        // A new zone's plan holds one change per set (50,000 for a big
        // zone): an update's two sets are boxed so that adds stay small.
        assert!(std::mem::size_of::<Change>() <= std::mem::size_of::<RecordSet>() + 8);
    }

    #[test]
    fn a_desired_zone_handed_over_plans_as_one_lent() {
        let desired = zone_with(5, None).with_tenant("acme");
        let mut changed = zone_with(3, Some(DEFAULT_OWNER));
        changed.add("h1", 60, a(9)).unwrap();
        for options in [
            PlanOptions::default(),
            PlanOptions::default().with_ownership(Ownership::Exclusive),
        ] {
            for actual in [None, Some(&changed)] {
                let lent = plan(&desired, actual, &options);
                let owned = plan_validated_owned(desired.clone(), actual, &options);
                assert_eq!(format!("{lent:?}"), format!("{owned:?}"));
            }
        }
        let bad = PlanOptions {
            max_change_ratio: 2.0,
            ..PlanOptions::default()
        };
        assert!(plan_validated_owned(desired, None, &bad).is_err());
    }

    #[test]
    fn sets_left_out_while_reading_plan_as_if_read() {
        let desired = zone_with(12, None);
        let mut actual = zone_with(10, Some(DEFAULT_OWNER));
        actual.add("h3", 60, a(3)).unwrap(); // ours, another TTL: updated
        actual.add("gone", 300, a(50)).unwrap(); // ours, not desired: deleted
        actual.add("h4", 300, a(99)).unwrap(); // ours, more records: updated
        for set in actual.rrsets.values_mut() {
            set.owner = Some(DEFAULT_OWNER.into());
        }
        actual.add("h5", 300, a(5)).unwrap(); // same data, unmarked: adopted
        actual.rrsets.values_mut().last().unwrap().owner = None;
        actual.add("mail", 300, a(60)).unwrap(); // another tool's: left alone
        for options in [
            PlanOptions::default().adopting(),
            PlanOptions::default()
                .with_ownership(Ownership::Exclusive)
                .forced(),
            PlanOptions {
                max_change_ratio: 0.05,
                ..PlanOptions::default().adopting()
            },
        ] {
            let whole = plan(&desired, Some(&actual), &options);
            let mut unchanged = Unchanged::new(&desired, &options);
            let mut read = actual.clone();
            read.rrsets.retain(|_, set| !unchanged.skip(set));
            assert!(
                read.rrsets.len() < actual.rrsets.len()
                    || options.ownership == Ownership::Exclusive
            );
            let skipped = plan_validated_with(&desired, Some(&read), &options, Some(&unchanged));
            assert_eq!(format!("{whole:?}"), format!("{skipped:?}"));
        }
    }

    #[test]
    fn same_state_plans_nothing() {
        let desired = zone_with(5, None);
        let actual = zone_with(5, Some(DEFAULT_OWNER));
        let p = plan(&desired, Some(&actual), &PlanOptions::default()).unwrap();
        assert!(p.is_empty(), "{p}");
    }

    #[test]
    fn unowned_sets_are_left_alone_and_never_taken_silently() {
        let desired = zone_with(2, None);
        let mut actual = zone_with(2, Some(DEFAULT_OWNER));
        actual
            .add(
                "dkim",
                300,
                RecordData::TXT {
                    text: "v=DKIM1; p=abc".into(),
                },
            )
            .unwrap();
        let p = plan(&desired, Some(&actual), &PlanOptions::default()).unwrap();
        assert!(p.is_empty(), "foreign TXT untouched: {p}");

        // A desired set colliding with a foreign one is a conflict...
        let mut want = desired.clone();
        want.add(
            "dkim",
            300,
            RecordData::TXT {
                text: "mine".into(),
            },
        )
        .unwrap();
        let err = plan(&want, Some(&actual), &PlanOptions::default()).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Conflict);
        // ...unless adopting.
        let p = plan(&want, Some(&actual), &PlanOptions::default().adopting()).unwrap();
        assert_eq!(p.counts(), (0, 1, 0));
    }

    #[test]
    fn deletes_come_first_and_plan_prints() {
        let mut desired = zone_with(3, None);
        desired
            .rrsets
            .remove(&RecordSetKey::new("h0.example.com", RecordType::A));
        desired.add("new", 60, a(99)).unwrap();
        desired.add("h1", 600, a(1)).unwrap();
        let actual = zone_with(3, Some(DEFAULT_OWNER));
        let p = plan(&desired, Some(&actual), &PlanOptions::default()).unwrap();
        assert!(matches!(p.changes[0], Change::Delete(_)));
        assert!(matches!(p.changes.last(), Some(Change::Add(_))));
        let text = p.to_string();
        assert_eq!(
            text,
            "zone example.com: 1 to add, 1 to update, 1 to delete\n\
             - h0.example.com. 300 IN A 192.0.2.0\n\
             ~ h1.example.com. A\n  - h1.example.com. 300 IN A 192.0.2.1\n  + h1.example.com. 600 IN A 192.0.2.1\n\
             + new.example.com. 60 IN A 192.0.2.99\n"
        );
    }

    #[test]
    fn plans_serialise_for_machines() {
        let desired = zone_with(1, None);
        let p = plan(&desired, None, &PlanOptions::default()).unwrap();
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["create_zone"], true);
        assert_eq!(json["changes"][0]["action"], "add");
        assert_eq!(json["changes"][0]["name"], "h0.example.com");
        assert_eq!(json["changes"][0]["owner"], DEFAULT_OWNER);
    }

    #[test]
    fn threshold_refuses_and_force_proceeds() {
        let actual = zone_with(10, Some(DEFAULT_OWNER));
        let mut desired = actual.clone();
        for i in 0..4 {
            desired.rrsets.remove(&RecordSetKey::new(
                format!("h{i}.example.com"),
                RecordType::A,
            ));
        }
        let err = plan(&desired, Some(&actual), &PlanOptions::default()).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Refused);
        let p = plan(&desired, Some(&actual), &PlanOptions::default().forced()).unwrap();
        assert_eq!(p.counts(), (0, 0, 4));
        // 3 of 10 is exactly 30%: allowed.
        let mut desired = actual.clone();
        for i in 0..3 {
            desired.rrsets.remove(&RecordSetKey::new(
                format!("h{i}.example.com"),
                RecordType::A,
            ));
        }
        assert!(plan(&desired, Some(&actual), &PlanOptions::default()).is_ok());
        // Small zones are not protected.
        let small = zone_with(9, Some(DEFAULT_OWNER));
        assert!(plan(
            &Zone::new("example.com").unwrap(),
            Some(&small),
            &PlanOptions::default()
        )
        .is_ok());
    }

    /// `(host, address, ttl, marker, spelling)` per record read: `spelling`
    /// 0 as canonical, 1 upper-case, 2 with a trailing dot.
    type Listed = (u8, u8, u32, Option<&'static str>, u8);

    fn listed_records(listed: &[Listed]) -> Vec<(String, u32, RecordData, Option<String>)> {
        let name = |host: u8, spelling: u8| match spelling {
            0 => format!("h{host}.example.com"),
            1 => format!("H{host}.example.com"),
            _ => format!("h{host}.example.com."),
        };
        (listed.iter())
            .map(|&(h, v, ttl, m, sp)| (name(h, sp), ttl, a(v), m.map(str::to_owned)))
            .collect()
    }

    /// The plan of the records the sieve keeps, next to the plan of them all.
    fn sifted_and_whole(
        desired: &Zone,
        listed: &[Listed],
        options: &PlanOptions,
    ) -> (Result<Plan>, Result<Plan>, usize) {
        let records = listed_records(listed);
        let whole = Zone::from_records("example.com", records.clone()).unwrap();
        let checked = CheckedZone::new(desired).unwrap();
        let mut sieve = RecordSieve::new(&checked, options);
        let noted: Vec<Noted> = (records.iter())
            .map(|(name, ttl, data, m)| sieve.note(name, *ttl, data, m.as_deref()))
            .collect();
        let sifted = sieve.finish();
        let kept: Vec<_> = (records.into_iter().zip(noted))
            .filter(|(_, noted)| sifted.needed(*noted))
            .map(|(record, _)| record)
            .collect();
        let (left_out, read) = (
            listed.len() - kept.len(),
            Zone::from_records("example.com", kept),
        );
        let sifted_plan = sifted.plan(Some(&read.unwrap()));
        (sifted_plan, plan(desired, Some(&whole), options), left_out)
    }

    #[test]
    fn a_sieve_leaves_out_only_records_of_sets_as_desired() {
        let mut desired = zone_with(4, None);
        desired.add("h1", 300, a(7)).unwrap(); // two records
        let ours = Some(DEFAULT_OWNER);
        let as_desired: Vec<Listed> = vec![
            (0, 0, 300, ours, 0),
            (1, 1, 300, ours, 0),
            (1, 7, 300, ours, 0),
            (2, 2, 300, ours, 0),
            (3, 3, 300, ours, 0),
        ];
        let (sifted, whole, left_out) =
            sifted_and_whole(&desired, &as_desired, &PlanOptions::default());
        assert!(sifted.unwrap().is_empty() && whole.unwrap().is_empty());
        assert_eq!(left_out, 5, "nothing to group or plan");
        // (record read too, what it is, whether its set is then planned whole)
        let others: [(Listed, &str, bool); 6] = [
            ((0, 0, 300, ours, 0), "a duplicate", true),
            ((0, 9, 300, ours, 0), "another record", true),
            ((0, 0, 300, ours, 1), "the same owner upper-case", true),
            ((2, 2, 60, ours, 0), "another TTL", true),
            ((3, 3, 300, Some("other-tool"), 0), "another marker", true),
            ((0, 0, 300, ours, 2), "an owner grouping drops", false),
        ];
        for (other, what, spoils) in others {
            let mut listed = as_desired.clone();
            if what.starts_with("another ") && what != "another record" {
                listed.retain(|l| l.0 != other.0); // instead of the desired one
            }
            listed.push(other);
            let (sifted, whole, left_out) =
                sifted_and_whole(&desired, &listed, &PlanOptions::default().adopting());
            assert_eq!(format!("{sifted:?}"), format!("{whole:?}"), "{what}");
            let at_its_name = listed.iter().filter(|l| l.0 == other.0).count();
            let expected = if spoils {
                listed.len() - at_its_name
            } else {
                5
            };
            assert_eq!(left_out, expected, "{what}: records left out");
        }
        let missing = &as_desired[1..];
        let (sifted, whole, _) = sifted_and_whole(&desired, missing, &PlanOptions::default());
        assert_eq!(sifted.unwrap(), whole.unwrap(), "a record not read");
    }

    proptest! {
        #[test]
        fn applying_a_plan_reaches_the_desired_state(
            have in proptest::collection::btree_map(0u8..30, 0u8..4, 0..20),
            want in proptest::collection::btree_map(0u8..30, 0u8..4, 0..20),
        ) {
            let build = |m: &std::collections::BTreeMap<u8, u8>, owner: Option<&str>| {
                let mut z = Zone::new("example.com").unwrap();
                for (h, v) in m {
                    z.add(&format!("h{h}"), 300 + u32::from(*v), a(*v)).unwrap();
                }
                for s in z.rrsets.values_mut() { s.owner = owner.map(str::to_owned); }
                z
            };
            let actual = build(&have, Some(DEFAULT_OWNER));
            let desired = build(&want, None);
            let p = plan(&desired, Some(&actual), &PlanOptions::default().forced()).unwrap();
            let mut result = actual.clone();
            for c in &p.changes {
                c.apply_to(&mut result);
            }
            let expected = build(&want, Some(DEFAULT_OWNER));
            prop_assert_eq!(result, expected);
            let again = plan(&desired, Some(&build(&want, Some(DEFAULT_OWNER))), &PlanOptions::default()).unwrap();
            prop_assert!(again.is_empty());
        }

        #[test]
        fn a_sieve_plans_as_the_whole_zone_would(
            want in proptest::collection::btree_map(0u8..8, (0u8..3, 0u8..3), 0..8),
            listed in proptest::collection::vec(
                (0u8..9, 0u8..4, prop_oneof![Just(300u32), Just(60)],
                 prop_oneof![Just(Some(DEFAULT_OWNER)), Just(None), Just(Some("other"))], 0u8..3),
                0..16,
            ),
            exclusive in any::<bool>(),
            adopt in any::<bool>(),
            force in any::<bool>(),
        ) {
            let mut desired = Zone::new("example.com").unwrap();
            for (h, (v, more)) in &want {
                for extra in 0..*more {
                    desired.add(&format!("h{h}"), 300, a(v + extra)).unwrap();
                }
                desired.add(&format!("h{h}"), 300, a(*v)).unwrap();
            }
            let mut options = PlanOptions { force, adopt, ..PlanOptions::default() };
            if exclusive {
                options = options.with_ownership(Ownership::Exclusive);
            }
            let (sifted, whole, _) = sifted_and_whole(&desired, &listed, &options);
            prop_assert_eq!(format!("{sifted:?}"), format!("{whole:?}"));
        }
    }
}
