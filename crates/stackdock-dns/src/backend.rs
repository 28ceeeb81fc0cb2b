//! What a DNS backend does, and [`Dns`]: plan/apply on top of any backend.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use stackdock_core::{Error, ErrorKind, ProviderInfo, Result};

use crate::model::{CheckedZone, RecordSet, Zone};
use crate::plan::{
    plan_validated, plan_validated_owned, plan_validated_with, Change, Ownership, Plan,
    PlanOptions, Unchanged,
};

/// The canonical form of a zone name handed to a backend entry point.
///
/// Every public backend method calls this before any I/O, so a name such as
/// `../outside/victim`, `/etc/passwd`, `a/b` or `%2e%2e` is an
/// [`InvalidInput`](stackdock_core::ErrorKind::InvalidInput) error and never
/// reaches a path or a URL.
pub fn zone_name(name: &str) -> Result<String> {
    stackdock_core::validate::domain("zone", name)
}

/// A zone as a listing shows it (without records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSummary {
    /// Canonical zone name.
    pub name: String,
    /// Tenant (PowerDNS `account`).
    pub tenant: Option<String>,
    /// SOA serial, when known.
    pub serial: Option<u32>,
    /// The backend's raw description, secrets removed.
    pub provider_data: serde_json::Value,
}

/// A place where zones live: a PowerDNS server, a directory of zone files.
///
/// Backends apply changes; they do not decide them (that is [`crate::plan`](mod@crate::plan)).
/// Each method is one remote round trip where the backend allows it.
#[async_trait]
pub trait DnsBackend: Send + Sync + fmt::Debug + 'static {
    /// Who the backend is (`powerdns`, `zonefile`).
    fn provider(&self) -> &ProviderInfo;

    /// Backend-specific limits on a zone, checked before any remote call
    /// (e.g. PowerDNS's 40-byte `account`). Default: none.
    fn check_zone(&self, zone: &Zone) -> Result<()> {
        let _ = zone;
        Ok(())
    }

    /// Where the backend is (base URL, directory), for error context and
    /// logs; never a credential. Default: not known.
    fn endpoint(&self) -> Option<String> {
        None
    }

    /// The request budget the backend's last response reported, when its
    /// API reports one (an HTTP proxy in front of PowerDNS may). Never makes
    /// a call. Default: `None`.
    fn rate_limit(&self) -> Option<stackdock_core::RateLimit> {
        None
    }

    /// A cheap call that proves the backend is reachable and the credentials work.
    async fn check(&self) -> Result<()>;

    /// Zones, only those of `tenant` when given (never another tenant's).
    async fn list_zones(&self, tenant: Option<&str>) -> Result<Vec<ZoneSummary>>;

    /// A whole zone with its records; `None` when it does not exist.
    async fn get_zone(&self, name: &str) -> Result<Option<Zone>>;

    /// [`get_zone`](Self::get_zone) without the record sets `skip` returns
    /// `true` for, decided as each set is read: a planner leaves out the
    /// sets that already are as desired instead of holding a second copy of
    /// a big zone. The default reads the whole zone, then filters.
    async fn get_zone_skipping(
        &self,
        name: &str,
        skip: &mut (dyn for<'r> FnMut(&'r RecordSet) -> bool + Send),
    ) -> Result<Option<Zone>> {
        Ok(self.get_zone(name).await?.map(|mut zone| {
            zone.rrsets.retain(|_, set| !skip(set));
            zone
        }))
    }

    /// The zone with only the record sets owned by one of `names` (canonical);
    /// `None` when the zone does not exist. Backends that can filter on the
    /// server (PowerDNS `rrset_name`) send less over the wire.
    async fn get_zone_at(&self, name: &str, names: &[&str]) -> Result<Option<Zone>> {
        Ok(self.get_zone(name).await?.map(|mut zone| {
            zone.rrsets.retain(|k, _| names.contains(&k.name.as_str()));
            zone
        }))
    }

    /// Create `zone` with all its record sets in one call;
    /// [`AlreadyExists`](stackdock_core::ErrorKind::AlreadyExists) if it exists.
    async fn create_zone(&self, zone: &Zone) -> Result<()>;

    /// [`create_zone`](Self::create_zone) from sets the caller keeps (a
    /// plan's adds). The default builds a [`Zone`] from copies; a backend
    /// that can write its request straight from the sets overrides it (a
    /// 50,000-set zone is then not copied).
    async fn create_zone_from(
        &self,
        name: &str,
        tenant: Option<&str>,
        sets: &[&RecordSet],
    ) -> Result<()> {
        let mut zone = Zone::new(name)?;
        zone.tenant = tenant.map(str::to_owned);
        for set in sets {
            zone.insert((*set).clone());
        }
        self.create_zone(&zone).await
    }

    /// Delete a zone; `Ok(false)` when it was already gone.
    async fn delete_zone(&self, name: &str) -> Result<bool>;

    /// Apply record-set changes to an existing zone in one call, deletes
    /// first, bumping the SOA serial.
    async fn apply_changes(&self, zone: &str, changes: &[Change]) -> Result<()>;

    /// How many remote calls this backend has made (for tests and benchmarks).
    fn remote_calls(&self) -> usize;
}

/// Plan/apply over one backend.
///
/// ```no_run
/// use stackdock_core::dns::RecordData;
/// use stackdock_dns::{Dns, Zone, ZoneFileBackend, PlanOptions};
/// # async fn demo() -> stackdock_core::Result<()> {
/// let dns = Dns::new(ZoneFileBackend::new("/var/lib/stackdock/zones")?);
/// let mut desired = Zone::new("example.com")?;
/// desired.add("@", 3600, RecordData::A { address: "192.0.2.10".parse().unwrap() })?;
/// let plan = dns.plan(&desired, &PlanOptions::default()).await?;
/// println!("{plan}");
/// dns.apply(&plan).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Dns<B> {
    backend: Arc<B>,
}

impl<B: DnsBackend> Dns<B> {
    /// Plan/apply over `backend`.
    pub fn new(backend: B) -> Self {
        Dns {
            backend: Arc::new(backend),
        }
    }

    /// Plan/apply over a shared backend.
    pub fn from_arc(backend: Arc<B>) -> Self {
        Dns { backend }
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    /// Read the zone (one call) and plan the changes that make it `desired`.
    /// Invalid input fails before the read.
    pub async fn plan(&self, desired: &Zone, options: &PlanOptions) -> Result<Plan> {
        // Validated without a copy when `desired` is already canonical.
        let checked = CheckedZone::new(desired)?;
        self.backend.check_zone(&checked)?;
        let mut unchanged = Unchanged::new(&checked, options);
        let actual = (self.backend)
            .get_zone_skipping(&checked.name, &mut |set| unchanged.skip(set))
            .await?;
        plan_validated_with(&checked, actual.as_ref(), options, Some(&unchanged))
    }

    /// [`Dns::plan`] for a desired zone the caller no longer needs (one
    /// read from a file, say): it is validated in place, and a new zone's
    /// record sets move into the plan instead of being copied, so a
    /// 50,000-set zone is held once rather than twice. The plan is the one
    /// [`Dns::plan`] gives.
    ///
    /// ```no_run
    /// use stackdock_dns::{zonefile, Dns, PlanOptions, ZoneFileBackend};
    /// # async fn demo() -> stackdock_core::Result<()> {
    /// let dns = Dns::new(ZoneFileBackend::new("/var/lib/stackdock/zones")?);
    /// let text = std::fs::read_to_string("example.com.zone").expect("zone file");
    /// let desired = zonefile::parse(&text, "example.com")?;
    /// let plan = dns.plan_owned(desired, &PlanOptions::default()).await?;
    /// dns.apply(&plan).await?;
    /// # Ok(()) }
    /// ```
    pub async fn plan_owned(&self, desired: Zone, options: &PlanOptions) -> Result<Plan> {
        let desired = CheckedZone::owned(desired)?;
        self.backend.check_zone(&desired)?;
        let mut unchanged = Unchanged::new(&desired, options);
        let actual = (self.backend)
            .get_zone_skipping(&desired.name, &mut |set| unchanged.skip(set))
            .await?;
        match actual {
            Some(actual) => plan_validated_with(&desired, Some(&actual), options, Some(&unchanged)),
            None => plan_validated_owned(desired.into_zone(), None, options),
        }
    }

    /// Apply a plan: nothing when it is empty, otherwise one call (create
    /// the zone with every record set, or one batch of changes).
    pub async fn apply(&self, plan: &Plan) -> Result<()> {
        if plan.is_empty() {
            return Ok(());
        }
        let (adds, updates, deletes) = plan.counts();
        // Audit trail: what was asked and the outcome (names and counts only, never credentials).
        tracing::info!(
            provider = %self.backend.provider().id,
            zone = %plan.zone,
            create_zone = plan.create_zone,
            adds, updates, deletes,
            "applying DNS plan"
        );
        let result = self.apply_inner(plan).await;
        match &result {
            Ok(()) => tracing::info!(zone = %plan.zone, "DNS plan applied"),
            Err(e) => tracing::warn!(zone = %plan.zone, error = %e, "DNS plan failed"),
        }
        result
    }

    async fn apply_inner(&self, plan: &Plan) -> Result<()> {
        if !plan.create_zone {
            return self.backend.apply_changes(&plan.zone, &plan.changes).await;
        }
        let sets: Vec<&RecordSet> = plan.changes.iter().filter_map(Change::after).collect();
        let created = self
            .backend
            .create_zone_from(&plan.zone, plan.tenant.as_deref(), &sets)
            .await;
        match created {
            Err(e) if e.kind() == &ErrorKind::AlreadyExists => self.resume_create(plan, e).await,
            other => other,
        }
    }

    /// A create that finds its zone already there. An earlier attempt of the
    /// same plan may have been killed part-way (PowerDNS creates the zone row
    /// before its records: an empty zone without SOA is left), and the
    /// temporary error invited a retry. When the zone is ours (its SOA
    /// carries the plan's marker) or empty and unmarked, with the plan's
    /// tenant, converge it to the plan; otherwise `AlreadyExists` stands.
    async fn resume_create(&self, plan: &Plan, exists: Error) -> Result<()> {
        let marker = plan
            .changes
            .iter()
            .find_map(|c| c.after().and_then(|s| s.owner.clone()));
        let Some(actual) = self.backend.get_zone(&plan.zone).await? else {
            return Err(exists);
        };
        let empty = actual.record_count() == 0;
        let ours = marker.is_some() && actual.owner() == marker.as_deref();
        if actual.tenant != plan.tenant || !(empty || ours) {
            return Err(exists);
        }
        tracing::info!(zone = %plan.zone, empty, "zone exists from an earlier attempt: converging it");
        let mut desired = Zone::new(&plan.zone)?;
        desired.tenant = plan.tenant.clone();
        for set in plan.changes.iter().filter_map(Change::after) {
            desired.insert(set.clone());
        }
        let ownership = marker.map_or(Ownership::Exclusive, Ownership::Marked);
        // The plan was approved as a create: the threshold does not apply.
        let options = PlanOptions::default().with_ownership(ownership).forced();
        let resumed = plan_validated(&desired, Some(&actual), &options)?;
        if resumed.is_empty() {
            return Ok(());
        }
        self.backend
            .apply_changes(&plan.zone, &resumed.changes)
            .await
    }

    /// Plan and apply; returns the plan that was applied.
    pub async fn converge(&self, desired: &Zone, options: &PlanOptions) -> Result<Plan> {
        let plan = self.plan(desired, options).await?;
        self.apply(&plan).await?;
        Ok(plan)
    }
}
