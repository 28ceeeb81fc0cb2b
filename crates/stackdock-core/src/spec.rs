//! Typed desired-state specs, one per resource kind.
//!
//! A spec says what the caller wants; adapters create or update resources to
//! match it, and [`ResourceSpec::diff`] compares it with what a provider
//! reports. Fields left `None` are "don't care": they are never reported as
//! drift, and whatever the provider fills in for them shows up as
//! late-initialised in an [`Observation`](crate::Observation).
//!
//! Specs derive `Default`; build them with struct-update syntax so new
//! optional fields don't break your code:
//!
//! ```
//! use stackdock_core::spec::DatabaseSpec;
//! let spec = DatabaseSpec { name: "acme_app".into(), connection_limit: Some(20), ..Default::default() };
//! assert!(spec.password.is_none()); // the adapter generates one
//! ```
//!
//! Secrets in specs (passwords, env values) are `SecretString`s: they print
//! redacted and are skipped when a spec is serialised.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dns::RecordData;
use crate::resource::{Resource, ResourceKind};
use crate::secret::SecretString;
use crate::validate::{self, NameRules};
use crate::{Error, Result};

/// Provider-specific options that have no universal field (e.g. GridPane's
/// `webserver`). Adapters document the keys they read.
pub type ProviderOptions = BTreeMap<String, serde_json::Value>;

/// Fields every spec shares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Common {
    /// The tenant the resource belongs to, for adapters that track tenancy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Labels to set where the provider supports them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Provider-specific options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: ProviderOptions,
}

/// Desired server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerSpec {
    /// Server name / label.
    pub name: String,
    /// Region or data centre.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Plan or size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// IPv4 address of an existing machine (bring-your-own servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
}

/// Desired web service.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WebServiceSpec {
    /// Name (Vercel project name) or primary domain (GridPane site URL).
    pub name: String,
    /// The server it runs on, for server-based hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    /// Framework preset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<String>,
    /// Runtime version (e.g. PHP `8.3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Source repository (`owner/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Build command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_command: Option<String>,
    /// Output directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_directory: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
}

/// Desired deployment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeploymentSpec {
    /// The web service to deploy (provider id or name).
    pub service: String,
    /// Target environment; `None` means the provider's default (preview on Vercel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Git ref to deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// Exact commit to deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<String>,
    /// Redeploy an existing deployment instead of building from git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeploy_of: Option<String>,
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
}

/// Desired domain.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DomainSpec {
    /// The domain name.
    pub name: String,
    /// Attach to this web service (`None` = account-level domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// Redirect to this domain instead of serving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
    /// Whether TLS should be on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl: Option<bool>,
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
}

/// Desired database and owner role.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DatabaseSpec {
    /// Database name.
    pub name: String,
    /// Owner role; adapters derive one from the name when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Owner password; generated when `None`. Never serialised.
    #[serde(default, skip_serializing)]
    pub password: Option<SecretString>,
    /// Connection limit (`None` = unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_limit: Option<i32>,
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
}

/// Desired DNS zone.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DnsZoneSpec {
    /// Zone name.
    pub name: String,
    /// Apex name servers; adapters use their defaults when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// The records a new zone starts with, overriding the dock's template
    /// for this zone only (a per-tenant apex address needs no dock per
    /// tenant). Used at create time; observe does not compare them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ZoneDefaults>,
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
}

/// Per-zone overrides of a dock's zone template; `None` keeps the dock's.
///
/// ```
/// use stackdock_core::spec::{DnsZoneSpec, ZoneDefaults};
/// let spec = DnsZoneSpec {
///     name: "acme.example".into(),
///     template: Some(ZoneDefaults { apex_ipv4: Some([203, 0, 113, 7].into()), ..Default::default() }),
///     ..Default::default()
/// };
/// assert_eq!(spec.template.unwrap().www_cname, None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneDefaults {
    /// The apex A record (and glue of in-zone name servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apex_ipv4: Option<std::net::Ipv4Addr>,
    /// Whether `www` starts as a CNAME of the apex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub www_cname: Option<bool>,
    /// The apex MX exchange (preference 10); a host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mx: Option<String>,
}

/// Desired DNS record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DnsRecordSpec {
    /// The zone it belongs to.
    pub zone: String,
    /// Owner name: absolute (`www.example.com`), or relative to the zone
    /// (`www`, `@` for the apex). Canonicalised to absolute without a dot.
    pub name: String,
    /// TTL in seconds; adapter default when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    /// Record data.
    pub data: RecordData,
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
}

/// Desired mailbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MailboxSpec {
    /// The address.
    pub address: String,
    /// Password; required on create, `None` on update means "keep". Never serialised.
    #[serde(default, skip_serializing)]
    pub password: Option<SecretString>,
    /// Quota in bytes (`None` = unlimited on create, "keep" on update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_bytes: Option<u64>,
    /// Whether it may log in and receive mail (default `true`).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
}

/// Mailboxes and forwarders are enabled unless a spec says otherwise, in
/// serde as in `Default`.
fn enabled_by_default() -> bool {
    true
}

impl Default for MailboxSpec {
    fn default() -> Self {
        MailboxSpec {
            address: String::new(),
            password: None,
            quota_bytes: None,
            enabled: true,
            common: Common::default(),
        }
    }
}

/// Desired mail forwarder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MailForwarderSpec {
    /// Source address, or `@domain` for a catch-all.
    pub source: String,
    /// Destination addresses (at least one).
    pub destinations: Vec<String>,
    /// Whether it is active (default `true`).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Shared fields.
    #[serde(flatten)]
    pub common: Common,
}

impl Default for MailForwarderSpec {
    fn default() -> Self {
        MailForwarderSpec {
            source: String::new(),
            destinations: Vec::new(),
            enabled: true,
            common: Common::default(),
        }
    }
}

/// Any spec, tagged by kind.
#[non_exhaustive]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ResourceSpec {
    /// A server.
    Server(ServerSpec),
    /// A web service.
    WebService(WebServiceSpec),
    /// A deployment.
    Deployment(DeploymentSpec),
    /// A domain.
    Domain(DomainSpec),
    /// A database.
    Database(DatabaseSpec),
    /// A DNS zone.
    DnsZone(DnsZoneSpec),
    /// A DNS record.
    DnsRecord(DnsRecordSpec),
    /// A mailbox.
    Mailbox(MailboxSpec),
    /// A mail forwarder.
    MailForwarder(MailForwarderSpec),
}

macro_rules! spec_from {
    ($($variant:ident($ty:ident)),*) => {
        $(impl From<$ty> for ResourceSpec {
            fn from(s: $ty) -> Self { ResourceSpec::$variant(s) }
        })*
    };
}
spec_from!(
    Server(ServerSpec),
    WebService(WebServiceSpec),
    Deployment(DeploymentSpec),
    Domain(DomainSpec),
    Database(DatabaseSpec),
    DnsZone(DnsZoneSpec),
    DnsRecord(DnsRecordSpec),
    Mailbox(MailboxSpec),
    MailForwarder(MailForwarderSpec)
);

/// One field where a spec and the provider's state differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDiff {
    /// Field name, as in the spec.
    pub field: String,
    /// What the spec asks for (`null` for late-initialised fields).
    pub desired: serde_json::Value,
    /// What the provider has.
    pub actual: serde_json::Value,
}

impl std::fmt::Display for FieldDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} -> {}", self.field, self.actual, self.desired)
    }
}

/// Accumulates the diff of optional spec fields against actual values.
struct Differ {
    drift: Vec<FieldDiff>,
    late: Vec<FieldDiff>,
}

impl Differ {
    fn new() -> Self {
        Differ {
            drift: Vec::new(),
            late: Vec::new(),
        }
    }

    /// Compare a field the spec may leave unset.
    fn opt<T: Serialize + PartialEq>(
        &mut self,
        field: &str,
        desired: Option<&T>,
        actual: Option<&T>,
    ) {
        match (desired, actual) {
            (Some(d), a) if Some(d) != a => self.drift.push(FieldDiff {
                field: field.into(),
                desired: json(d),
                actual: a.map(json).unwrap_or(serde_json::Value::Null),
            }),
            (None, Some(a)) => self.late.push(FieldDiff {
                field: field.into(),
                desired: serde_json::Value::Null,
                actual: json(a),
            }),
            _ => {}
        }
    }

    /// Compare a field the spec always sets.
    fn req<T: Serialize + PartialEq>(&mut self, field: &str, desired: &T, actual: &T) {
        if desired != actual {
            self.drift.push(FieldDiff {
                field: field.into(),
                desired: json(desired),
                actual: json(actual),
            });
        }
    }
}

fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn check_common(common: &Common) -> Result<()> {
    if let Some(tenant) = &common.tenant {
        validate::resource_name("tenant", tenant, 128)?;
    }
    for (k, v) in &common.labels {
        validate::label("labels", k, v)?;
    }
    Ok(())
}

/// Canonical absolute owner name of a record spec (resolves `@` and relative names).
///
/// ```
/// use stackdock_core::spec::absolute_owner;
/// assert_eq!(absolute_owner("www", "example.com").unwrap(), "www.example.com");
/// assert_eq!(absolute_owner("@", "example.com").unwrap(), "example.com");
/// assert_eq!(absolute_owner("WWW.Example.com.", "example.com").unwrap(), "www.example.com");
/// assert!(absolute_owner("www.other.org.", "example.com").is_err());
/// ```
pub fn absolute_owner(name: &str, zone: &str) -> Result<String> {
    canonical_owner(name, zone).map(Cow::into_owned)
}

/// [`absolute_owner`], borrowing `name` when it is canonical and absolute
/// (checking the names of a big zone that is canonical already copies none).
///
/// ```
/// use std::borrow::Cow;
/// use stackdock_core::spec::canonical_owner;
/// let same = canonical_owner("www.example.com", "example.com").unwrap();
/// assert!(matches!(same, Cow::Borrowed("www.example.com")));
/// assert_eq!(canonical_owner("www", "example.com").unwrap(), "www.example.com");
/// ```
pub fn canonical_owner<'a>(name: &'a str, zone: &str) -> Result<Cow<'a, str>> {
    let zone = validate::canonical_dns_name("zone", zone, NameRules::Hostname)?;
    // No trimming: " " is a bad name, not a way to say "the apex".
    if name.is_empty() || name == "@" {
        return Ok(Cow::Owned(zone.into_owned()));
    }
    let absolute = name.ends_with('.');
    let canonical = validate::canonical_dns_name("name", name, NameRules::RecordOwner)?;
    if validate::is_in_zone(&canonical, &zone) {
        return Ok(canonical);
    }
    if absolute {
        return Err(Error::invalid_input(
            "name",
            format!("{canonical} is not inside zone {zone}"),
        ));
    }
    let joined = format!("{canonical}.{zone}");
    validate::dns_name("name", &joined, NameRules::RecordOwner).map(Cow::Owned)
}

/// A copy of a spec, made the first time canonicalisation changes a field:
/// a spec that is canonical already is never copied.
struct Fix<'a, S> {
    original: &'a S,
    copy: Option<S>,
}

impl<'a, S: Clone + Into<ResourceSpec>> Fix<'a, S> {
    fn new(original: &'a S) -> Self {
        Fix {
            original,
            copy: None,
        }
    }

    /// The spec as fixed so far.
    fn current(&self) -> &S {
        self.copy.as_ref().unwrap_or(self.original)
    }

    /// The copy to change (made now if there is none yet).
    fn copy(&mut self) -> &mut S {
        self.copy.get_or_insert_with(|| self.original.clone())
    }

    /// Puts a validator's result into the field `place` picks, when it
    /// differs from what was given.
    fn field(&mut self, value: Cow<'_, str>, place: impl FnOnce(&mut S) -> &mut String) {
        if let Cow::Owned(value) = value {
            *place(self.copy()) = value;
        }
    }

    fn done(self) -> Option<ResourceSpec> {
        self.copy.map(Into::into)
    }
}

fn check_server(s: &ServerSpec) -> Result<()> {
    validate::resource_name("name", &s.name, 128)?;
    if let Some(ip) = &s.ipv4 {
        ip.parse::<std::net::Ipv4Addr>()
            .map_err(|_| Error::invalid_input("ipv4", "not an IPv4 address"))?;
    }
    Ok(())
}

fn check_web_service(s: &WebServiceSpec) -> Result<()> {
    validate::resource_name("name", &s.name, 253)?;
    if let Some(repo) = &s.repository {
        let ok = repo.split('/').count() >= 2
            && repo.split('/').all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            });
        if !ok {
            return Err(Error::invalid_input("repository", "expected owner/name"));
        }
    }
    Ok(())
}

fn check_deployment(s: &DeploymentSpec) -> Result<()> {
    validate::resource_name("service", &s.service, 253)?;
    if let Some(r) = &s.git_ref {
        validate::resource_name("git_ref", r, 255)?;
    }
    if let Some(sha) = &s.commit_sha {
        if !(7..=64).contains(&sha.len()) || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid_input(
                "commit_sha",
                "expected a hex commit id",
            ));
        }
    }
    Ok(())
}

fn check_database(s: &DatabaseSpec) -> Result<()> {
    validate::resource_name("name", &s.name, 63)?;
    if let Some(owner) = &s.owner {
        validate::resource_name("owner", owner, 63)?;
    }
    if let Some(limit) = s.connection_limit {
        if limit < -1 {
            return Err(Error::invalid_input(
                "connection_limit",
                "must be -1 (unlimited) or more",
            ));
        }
    }
    Ok(())
}

fn canonical_domain(s: &DomainSpec) -> Result<Option<ResourceSpec>> {
    let mut fix = Fix::new(s);
    fix.field(validate::canonical_domain("name", &s.name)?, |d| {
        &mut d.name
    });
    if let Some(redirect) = &s.redirect {
        let redirect = validate::canonical_domain("redirect", redirect)?;
        fix.field(redirect, |d| d.redirect.get_or_insert_default());
    }
    Ok(fix.done())
}

fn canonical_zone(s: &DnsZoneSpec) -> Result<Option<ResourceSpec>> {
    let mut fix = Fix::new(s);
    fix.field(validate::canonical_domain("name", &s.name)?, |z| {
        &mut z.name
    });
    for (i, ns) in s.nameservers.iter().enumerate() {
        let ns = validate::canonical_dns_name("nameservers", ns, NameRules::Hostname)?;
        fix.field(ns, |z| &mut z.nameservers[i]);
    }
    if let Some(mx) = s.template.as_ref().and_then(|t| t.mx.as_ref()) {
        let mx = validate::canonical_dns_name("template.mx", mx, NameRules::Hostname)?;
        fix.field(mx, |z| {
            z.template
                .get_or_insert_default()
                .mx
                .get_or_insert_default()
        });
    }
    Ok(fix.done())
}

fn canonical_record(s: &DnsRecordSpec) -> Result<Option<ResourceSpec>> {
    let mut fix = Fix::new(s);
    let zone = validate::canonical_domain("zone", &s.zone)?;
    let name = canonical_owner(&s.name, &zone)?;
    fix.field(name, |r| &mut r.name);
    fix.field(zone, |r| &mut r.zone);
    if let Some(ttl) = s.ttl {
        if ttl == 0 || ttl > MAX_TTL {
            return Err(Error::invalid_input(
                "ttl",
                format!("must be between 1 and {MAX_TTL}"),
            ));
        }
    }
    if let Some(data) = s.data.canonical_form()? {
        fix.copy().data = data;
    }
    Ok(fix.done())
}

fn canonical_forwarder(s: &MailForwarderSpec) -> Result<Option<ResourceSpec>> {
    let mut fix = Fix::new(s);
    let source = match s.source.strip_prefix('@') {
        Some(domain) => match validate::canonical_domain("source", domain)? {
            Cow::Borrowed(_) => Cow::Borrowed(s.source.as_str()),
            Cow::Owned(domain) => Cow::Owned(format!("@{domain}")),
        },
        None => validate::canonical_email_address("source", &s.source)?,
    };
    fix.field(source, |f| &mut f.source);
    if s.destinations.is_empty() {
        return Err(Error::invalid_input(
            "destinations",
            "a forwarder needs at least one destination",
        ));
    }
    for (i, d) in s.destinations.iter().enumerate() {
        let d = validate::canonical_email_address("destinations", d)?;
        fix.field(d, |f| &mut f.destinations[i]);
    }
    // Canonical destinations are sorted and distinct.
    if !fix.current().destinations.windows(2).all(|w| w[0] < w[1]) {
        let destinations = &mut fix.copy().destinations;
        destinations.sort();
        destinations.dedup();
    }
    Ok(fix.done())
}

/// Largest TTL DNS allows (RFC 2181: 2^31 - 1).
pub const MAX_TTL: u32 = 2_147_483_647;

impl ResourceSpec {
    /// The kind this spec describes.
    pub fn kind(&self) -> ResourceKind {
        match self {
            ResourceSpec::Server(_) => ResourceKind::Server,
            ResourceSpec::WebService(_) => ResourceKind::WebService,
            ResourceSpec::Deployment(_) => ResourceKind::Deployment,
            ResourceSpec::Domain(_) => ResourceKind::Domain,
            ResourceSpec::Database(_) => ResourceKind::Database,
            ResourceSpec::DnsZone(_) => ResourceKind::DnsZone,
            ResourceSpec::DnsRecord(_) => ResourceKind::DnsRecord,
            ResourceSpec::Mailbox(_) => ResourceKind::Mailbox,
            ResourceSpec::MailForwarder(_) => ResourceKind::MailForwarder,
        }
    }

    /// The name the resource will have, as given (see [`ResourceSpec::validate`]
    /// for the canonical form).
    pub fn name(&self) -> &str {
        match self {
            ResourceSpec::Server(s) => &s.name,
            ResourceSpec::WebService(s) => &s.name,
            ResourceSpec::Deployment(s) => &s.service,
            ResourceSpec::Domain(s) => &s.name,
            ResourceSpec::Database(s) => &s.name,
            ResourceSpec::DnsZone(s) => &s.name,
            ResourceSpec::DnsRecord(s) => &s.name,
            ResourceSpec::Mailbox(s) => &s.address,
            ResourceSpec::MailForwarder(s) => &s.source,
        }
    }

    /// Shared fields.
    pub fn common(&self) -> &Common {
        match self {
            ResourceSpec::Server(s) => &s.common,
            ResourceSpec::WebService(s) => &s.common,
            ResourceSpec::Deployment(s) => &s.common,
            ResourceSpec::Domain(s) => &s.common,
            ResourceSpec::Database(s) => &s.common,
            ResourceSpec::DnsZone(s) => &s.common,
            ResourceSpec::DnsRecord(s) => &s.common,
            ResourceSpec::Mailbox(s) => &s.common,
            ResourceSpec::MailForwarder(s) => &s.common,
        }
    }

    /// The tenant, if set.
    pub fn tenant(&self) -> Option<&str> {
        self.common().tenant.as_deref()
    }

    /// Provider-independent validation, done before any remote call.
    ///
    /// Adapters call this first and add their own rules (identifier sets,
    /// plan names ...). On success it returns the spec with names in
    /// canonical form (DNS names lower-case punycode, addresses lower-case,
    /// record owners absolute).
    ///
    /// ```
    /// use stackdock_core::spec::{DomainSpec, ResourceSpec};
    /// let spec = ResourceSpec::from(DomainSpec { name: "Shop.Example.COM.".into(), ..Default::default() });
    /// assert_eq!(spec.validate().unwrap().name(), "shop.example.com");
    /// let bad = ResourceSpec::from(DomainSpec { name: "x'; --".into(), ..Default::default() });
    /// assert!(bad.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<ResourceSpec> {
        self.canonical().map(Cow::into_owned)
    }

    /// [`ResourceSpec::validate`] without a copy when the spec is canonical
    /// already: the same checks, the same errors, and the spec itself
    /// borrowed back unless a name had to change.
    ///
    /// A spec is typically validated more than once on its way to a provider
    /// (the [`CheckedLayer`](crate::layer::CheckedLayer), then an adapter
    /// that must stay safe when called without the layer, then the diff);
    /// only the first pass may allocate.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use stackdock_core::spec::{DomainSpec, ResourceSpec};
    /// let given = ResourceSpec::from(DomainSpec { name: "Shop.Example.COM.".into(), ..Default::default() });
    /// let canonical = given.canonical().unwrap().into_owned();
    /// assert_eq!(canonical.name(), "shop.example.com");
    /// assert!(matches!(canonical.canonical().unwrap(), Cow::Borrowed(_)));
    /// ```
    pub fn canonical(&self) -> Result<Cow<'_, ResourceSpec>> {
        check_common(self.common())?;
        Ok(match self.canonical_form()? {
            Some(fixed) => Cow::Owned(fixed),
            None => Cow::Borrowed(self),
        })
    }

    /// The kind's own checks; the canonical spec when it differs from `self`.
    fn canonical_form(&self) -> Result<Option<ResourceSpec>> {
        match self {
            ResourceSpec::Server(s) => check_server(s).map(|()| None),
            ResourceSpec::WebService(s) => check_web_service(s).map(|()| None),
            ResourceSpec::Deployment(s) => check_deployment(s).map(|()| None),
            ResourceSpec::Database(s) => check_database(s).map(|()| None),
            ResourceSpec::Domain(s) => canonical_domain(s),
            ResourceSpec::DnsZone(s) => canonical_zone(s),
            ResourceSpec::DnsRecord(s) => canonical_record(s),
            ResourceSpec::Mailbox(s) => {
                let mut fix = Fix::new(s);
                let address = validate::canonical_email_address("address", &s.address)?;
                fix.field(address, |m| &mut m.address);
                Ok(fix.done())
            }
            ResourceSpec::MailForwarder(s) => canonical_forwarder(s),
        }
    }

    /// Compare this spec with what the provider reports.
    ///
    /// Returns `(drift, late_initialised)`: fields the spec sets that differ,
    /// and fields the spec leaves unset that the provider filled in. Secrets
    /// are never compared. Callers normally use
    /// [`Observation::of`](crate::Observation::of) instead.
    pub fn diff(&self, actual: &Resource) -> (Vec<FieldDiff>, Vec<FieldDiff>) {
        let spec = self.canonical().unwrap_or(Cow::Borrowed(self));
        spec.diff_canonical(actual)
    }

    /// [`ResourceSpec::diff`] of a spec that is canonical already.
    fn diff_canonical(&self, actual: &Resource) -> (Vec<FieldDiff>, Vec<FieldDiff>) {
        let mut d = Differ::new();
        let spec = self;
        match (spec, actual) {
            (ResourceSpec::Server(s), Resource::Server(r)) => {
                d.opt("region", s.region.as_ref(), r.region.as_ref());
                d.opt("plan", s.plan.as_ref(), r.plan.as_ref());
                d.opt("ipv4", s.ipv4.as_ref(), r.ipv4.as_ref());
            }
            (ResourceSpec::WebService(s), Resource::WebService(r)) => {
                d.opt("framework", s.framework.as_ref(), r.framework.as_ref());
                d.opt("runtime", s.runtime.as_ref(), r.runtime.as_ref());
                d.opt("repository", s.repository.as_ref(), r.repository.as_ref());
                d.opt("server_id", s.server_id.as_ref(), r.server_id.as_ref());
                d.opt("region", s.region.as_ref(), r.region.as_ref());
            }
            (ResourceSpec::Deployment(s), Resource::Deployment(r)) => {
                d.opt(
                    "environment",
                    s.environment.as_ref(),
                    r.environment.as_ref(),
                );
                d.opt("git_ref", s.git_ref.as_ref(), r.git_ref.as_ref());
                d.opt("commit_sha", s.commit_sha.as_ref(), r.commit_sha.as_ref());
            }
            (ResourceSpec::Domain(s), Resource::Domain(r)) => {
                d.opt("service_id", s.service_id.as_ref(), r.service_id.as_ref());
                d.opt("redirect", s.redirect.as_ref(), r.redirect.as_ref());
                d.opt("ssl", s.ssl.as_ref(), r.ssl.as_ref());
            }
            (ResourceSpec::Database(s), Resource::Database(r)) => {
                d.opt("owner", s.owner.as_ref(), r.owner.as_ref());
                // -1 and "unset" both mean unlimited.
                let norm = |v: Option<i32>| v.filter(|l| *l >= 0);
                match (s.connection_limit, norm(r.connection_limit)) {
                    (Some(want), have) if norm(Some(want)) != have => d.drift.push(FieldDiff {
                        field: "connection_limit".into(),
                        desired: json(&want),
                        actual: json(&have.unwrap_or(-1)),
                    }),
                    (None, Some(have)) => d.late.push(FieldDiff {
                        field: "connection_limit".into(),
                        desired: serde_json::Value::Null,
                        actual: json(&have),
                    }),
                    _ => {}
                }
            }
            (ResourceSpec::DnsZone(s), Resource::DnsZone(r)) => {
                if !s.nameservers.is_empty() {
                    let mut want = s.nameservers.clone();
                    let mut have = r.nameservers.clone();
                    want.sort();
                    have.sort();
                    d.req("nameservers", &want, &have);
                }
            }
            (ResourceSpec::DnsRecord(s), Resource::DnsRecord(r)) => {
                d.opt("ttl", s.ttl.as_ref(), Some(&r.ttl));
                d.req("data", &s.data, &r.data);
            }
            (ResourceSpec::Mailbox(s), Resource::Mailbox(r)) => {
                d.opt(
                    "quota_bytes",
                    s.quota_bytes.as_ref(),
                    r.quota_bytes.as_ref(),
                );
                d.req("enabled", &s.enabled, &r.enabled);
            }
            (ResourceSpec::MailForwarder(s), Resource::MailForwarder(r)) => {
                let mut have = r.destinations.clone();
                have.sort();
                d.req("destinations", &s.destinations, &have);
                d.req("enabled", &s.enabled, &r.enabled);
            }
            (spec, actual) => d.drift.push(FieldDiff {
                field: "kind".into(),
                desired: json(&spec.kind()),
                actual: json(&actual.kind()),
            }),
        }
        if let Some(tenant) = &spec.common().tenant {
            d.req("tenant", &Some(tenant.clone()), &actual.meta().tenant);
        }
        (d.drift, d.late)
    }
}

/// A spec that passed [`ResourceSpec::canonical`]: valid, and in canonical
/// form. Only this crate makes one — the
/// [`CheckedLayer`](crate::layer::CheckedLayer), after its checks — and hands
/// it to the adapter's `*_checked` methods
/// ([`DockAdapter::create_checked`](crate::DockAdapter::create_checked) and
/// its siblings), so that an adapter which validates in `create` (to stay
/// safe when called bare) need not validate the same spec again.
///
/// It derefs to the spec:
///
/// ```
/// use std::sync::Arc;
/// use stackdock_core::layer::{CheckedLayer, Layer};
/// use stackdock_core::spec::{Canonical, DnsZoneSpec, ResourceSpec};
/// use stackdock_core::{DockAdapter, Created, InMemoryAdapter, Result};
/// use futures::future::BoxFuture;
///
/// /// Sees what the layer hands on.
/// #[derive(Debug)]
/// struct Peek(InMemoryAdapter);
///
/// #[stackdock_core::async_trait]
/// impl DockAdapter for Peek {
///     fn provider(&self) -> &stackdock_core::ProviderInfo { self.0.provider() }
///     fn dock_id(&self) -> &str { self.0.dock_id() }
///     fn capabilities(&self) -> stackdock_core::Capabilities { self.0.capabilities() }
///     async fn check_credentials(&self) -> Result<()> { Ok(()) }
///     fn create_checked<'a>(&'a self, spec: Canonical<'a>) -> BoxFuture<'a, Result<Created>> {
///         assert_eq!(spec.name(), "example.com"); // validated and canonical
///         self.0.create_checked(spec)
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dock = CheckedLayer.layer(Arc::new(Peek(InMemoryAdapter::new("demo"))));
/// let spec = ResourceSpec::from(DnsZoneSpec { name: "Example.COM.".into(), ..Default::default() });
/// assert!(dock.create(&spec).await.unwrap().was_created());
/// # });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Canonical<'a>(&'a ResourceSpec);

impl<'a> Canonical<'a> {
    /// `spec`, which the caller has just passed through
    /// [`ResourceSpec::canonical`] (its `Ok` value).
    pub(crate) fn trusted(spec: &'a ResourceSpec) -> Self {
        Canonical(spec)
    }

    /// The spec itself.
    pub fn spec(self) -> &'a ResourceSpec {
        self.0
    }

    /// [`ResourceSpec::diff`] without validating the spec again.
    pub fn diff(self, actual: &Resource) -> (Vec<FieldDiff>, Vec<FieldDiff>) {
        self.0.diff_canonical(actual)
    }
}

impl std::ops::Deref for Canonical<'_> {
    type Target = ResourceSpec;

    fn deref(&self) -> &ResourceSpec {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(zone: &str, name: &str, data: RecordData) -> ResourceSpec {
        DnsRecordSpec {
            zone: zone.into(),
            name: name.into(),
            ttl: Some(300),
            data,
            common: Common::default(),
        }
        .into()
    }

    /// Specs in every kind, some canonical and some not.
    fn samples() -> Vec<ResourceSpec> {
        let mx = |exchange: &str| RecordData::MX {
            preference: 10,
            exchange: exchange.into(),
        };
        vec![
            DatabaseSpec {
                name: "shop".into(),
                ..Default::default()
            }
            .into(),
            DomainSpec {
                name: "Shop.Example.com.".into(),
                redirect: Some("WWW.example.com".into()),
                ..Default::default()
            }
            .into(),
            DomainSpec {
                name: "shop.example.com".into(),
                redirect: Some("www.example.com".into()),
                ..Default::default()
            }
            .into(),
            DnsZoneSpec {
                name: "example.com".into(),
                nameservers: vec!["ns1.example.net".into(), "NS2.example.net.".into()],
                template: Some(ZoneDefaults {
                    mx: Some("Mail.example.com".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }
            .into(),
            record("example.com", "www", mx("mail.example.com")),
            record("example.com", "@", mx("mail.example.com")),
            record("example.com", "www.example.com", mx("mail.example.com")),
            record("Example.com", "www.example.com", mx("MAIL.example.com.")),
            record(
                "example.com",
                "www.example.com",
                RecordData::MX {
                    preference: 0,
                    exchange: ".".into(),
                },
            ),
            MailboxSpec {
                address: "Alice@Example.com".into(),
                ..Default::default()
            }
            .into(),
            MailboxSpec {
                address: "bücher@bücher.de".into(),
                ..Default::default()
            }
            .into(),
            MailForwarderSpec {
                source: "@Example.com".into(),
                destinations: vec!["b@example.com".into(), "a@example.com".into()],
                ..Default::default()
            }
            .into(),
            MailForwarderSpec {
                source: "sales@example.com".into(),
                destinations: vec!["a@example.com".into(), "A@example.com".into()],
                ..Default::default()
            }
            .into(),
        ]
    }

    fn json_of(spec: &ResourceSpec) -> serde_json::Value {
        serde_json::to_value(spec).unwrap()
    }

    #[test]
    fn a_canonical_spec_is_borrowed_back_and_others_are_fixed() {
        for spec in samples() {
            let Ok(once) = spec.canonical() else {
                continue; // invalid samples (bücher@) are the next test's
            };
            let once = once.into_owned();
            let again = once.canonical().unwrap();
            assert!(
                matches!(again, Cow::Borrowed(_)),
                "canonical form copied again: {once:?}"
            );
            let was_canonical = matches!(spec.canonical().unwrap(), Cow::Borrowed(_));
            assert_eq!(
                was_canonical,
                json_of(&spec) == json_of(&once),
                "borrowed exactly when nothing changed: {spec:?}"
            );
        }
    }

    #[test]
    fn canonical_forms_are_the_ones_validate_gives() {
        let forms: Vec<_> = samples()
            .iter()
            .map(|s| s.validate().map(|s| json_of(&s)))
            .collect();
        let fwd = forms[11].as_ref().unwrap();
        assert_eq!(fwd["source"], "@example.com");
        assert_eq!(
            fwd["destinations"],
            serde_json::json!(["a@example.com", "b@example.com"])
        );
        assert_eq!(
            forms[12].as_ref().unwrap()["destinations"],
            serde_json::json!(["a@example.com"])
        );
        assert_eq!(
            forms[3].as_ref().unwrap()["nameservers"][1],
            "ns2.example.net"
        );
        assert_eq!(
            forms[3].as_ref().unwrap()["template"]["mx"],
            "mail.example.com"
        );
        assert_eq!(forms[5].as_ref().unwrap()["name"], "example.com");
        assert_eq!(
            forms[7].as_ref().unwrap()["data"]["exchange"],
            "mail.example.com"
        );
        assert_eq!(forms[8].as_ref().unwrap()["data"]["exchange"], "");
        assert!(forms[10].is_err(), "a non-ASCII local part is refused");
    }
}
