//! The provider kit: typed per-kind handlers behind one generic adapter.
//!
//! A provider crate implements [`KindHandler`] once per resource kind it
//! supports — typed `list` / `get` / `create` / `update` / `delete` over its
//! own client — and a small [`KitProvider`] (identity, arguments, credential
//! check). [`KitAdapter`] turns them into a [`DockAdapter`] and does what
//! every adapter used to write by hand:
//!
//! * **capabilities** from each handler's [`KindHandler::operations`] and the
//!   provider's [`Arguments`];
//! * **dispatch** by kind, and a typed [`Unsupported`](crate::ErrorKind::Unsupported)
//!   for any kind or operation not declared;
//! * **kind checks** (an id and a spec of different kinds are `InvalidInput`,
//!   and so is a listing of a top-level kind — server, database, zone — by parent)
//!   and **validation** ([`ResourceSpec::validate`], then the handler's own
//!   [`KindHandler::check`]) before any remote call;
//! * **observation building**: `get` → [`Observation::of`] / [`Observation::absent`];
//! * **delete of what is gone is `Ok`** (a `NotFound` from the handler is success);
//! * **error context**: every error names the caller's operation.
//!
//! Behind the registry's [`CheckedLayer`](crate::layer::CheckedLayer) the
//! handler still sees only canonical, supported input; used bare, the kit
//! adapter enforces the same rules itself.
//!
//! [`adopt_or_conflict`] is the create-side rule: an existing resource is
//! adopted when it is ours and matches the spec, and is a typed error
//! otherwise; [`create_or_adopt`] is the race-safe create built on it, and
//! [`find_or_create`] the same create with a provider's own adopt rule and
//! race signal.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use stackdock_core::kit::{KindHandler, KitAdapter, KitProvider};
//! use stackdock_core::resource::{Database, Resource, ResourceMeta};
//! use stackdock_core::spec::{DatabaseSpec, ResourceSpec};
//! use stackdock_core::{async_trait, Created, DockAdapter, Operations, ProviderInfo, ResourceKind, Result};
//!
//! #[derive(Debug)]
//! struct Demo;
//! #[async_trait]
//! impl KitProvider for Demo {
//!     fn info(&self) -> ProviderInfo { ProviderInfo::new("demo", "Demo") }
//!     fn dock_id(&self) -> &str { "demo" }
//!     async fn check_credentials(&self) -> Result<()> { Ok(()) }
//! }
//!
//! #[derive(Default)]
//! struct Databases(Mutex<Vec<String>>);
//! fn database(name: &str) -> Resource {
//!     let meta = ResourceMeta::new("demo", "demo", ResourceKind::Database, name, name);
//!     Resource::Database(Database { meta, engine: "demo".into(), owner: None, size_bytes: None, connection_limit: None, connection: None })
//! }
//! #[async_trait]
//! impl KindHandler for Databases {
//!     type Spec = DatabaseSpec;
//!     fn operations(&self) -> Operations { Operations::NO_UPDATE }
//!     async fn get(&self, id: &str) -> Result<Option<Resource>> {
//!         Ok(self.0.lock().unwrap().iter().find(|n| *n == id).map(|n| database(n)))
//!     }
//!     async fn create(&self, spec: &DatabaseSpec) -> Result<Created> {
//!         if let Some(existing) = self.get(&spec.name).await? {
//!             return stackdock_core::kit::adopt_or_conflict(existing, &spec.clone().into());
//!         }
//!         self.0.lock().unwrap().push(spec.name.clone());
//!         Ok(Created::new(database(&spec.name)))
//!     }
//!     async fn delete(&self, id: &str) -> Result<()> {
//!         self.0.lock().unwrap().retain(|n| n != id);
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let dock = KitAdapter::new(Demo).with(Databases::default());
//! let spec = ResourceSpec::from(DatabaseSpec { name: "shop".into(), ..Default::default() });
//! assert!(dock.create(&spec).await?.was_created());
//! assert!(!dock.create(&spec).await?.was_created()); // adopted
//! assert!(dock.observe(&dock.create(&spec).await?.id(), Some(&spec)).await?.up_to_date);
//! assert!(dock.update(&dock.create(&spec).await?.id(), &spec).await.is_err()); // Unsupported
//! # Ok::<(), stackdock_core::Error>(()) }).unwrap();
//! ```

use std::fmt;

use async_trait::async_trait;

use crate::adapter::{
    Created, DockAdapter, ListOptions, Observation, Page, ProviderInfo, RateLimit,
};
use crate::capability::{Arguments, Capabilities, Operation, Operations};
use crate::dns::RecordData;
use crate::extension::{Backups, EnvVars, PasswordRotation, SystemUsers};
use crate::resource::{Resource, ResourceId, ResourceKind, ResourceMeta};
use crate::spec::{
    DatabaseSpec, DeploymentSpec, DnsRecordSpec, DnsZoneSpec, DomainSpec, MailForwarderSpec,
    MailboxSpec, ResourceSpec, ServerSpec, WebServiceSpec,
};
use crate::{Error, Result};

/// A typed spec of one resource kind, taken out of a [`ResourceSpec`].
pub trait KindSpec: Send + Sync + 'static {
    /// The kind this spec describes.
    const KIND: ResourceKind;
    /// The typed spec inside `spec`, when it is of [`KindSpec::KIND`].
    fn of(spec: &ResourceSpec) -> Option<&Self>;
}

macro_rules! kind_specs {
    ($($ty:ident => $variant:ident),* $(,)?) => {$(
        impl KindSpec for $ty {
            const KIND: ResourceKind = ResourceKind::$variant;
            fn of(spec: &ResourceSpec) -> Option<&Self> {
                match spec {
                    ResourceSpec::$variant(s) => Some(s),
                    _ => None,
                }
            }
        }
    )*};
}

kind_specs!(
    ServerSpec => Server,
    WebServiceSpec => WebService,
    DeploymentSpec => Deployment,
    DomainSpec => Domain,
    DatabaseSpec => Database,
    DnsZoneSpec => DnsZone,
    DnsRecordSpec => DnsRecord,
    MailboxSpec => Mailbox,
    MailForwarderSpec => MailForwarder,
);

/// Who a kit-built adapter is: identity, honoured arguments, credential check.
#[async_trait]
pub trait KitProvider: Send + Sync + fmt::Debug + 'static {
    /// Provider id and display name.
    fn info(&self) -> ProviderInfo;
    /// The dock id put into resource references.
    fn dock_id(&self) -> &str;
    /// Where the dock talks to (never a credential).
    fn endpoint(&self) -> Option<String> {
        None
    }
    /// Arguments honoured by every kind (default: none).
    fn arguments(&self) -> Arguments {
        Arguments::new()
    }
    /// Check the credentials with a cheap call.
    async fn check_credentials(&self) -> Result<()>;

    /// The request budget the provider's last response reported (the
    /// adapter's [`DockAdapter::rate_limit`]). Default: `None`.
    fn rate_limit(&self) -> Option<RateLimit> {
        None
    }

    /// Backups of sites, when the provider has them (the adapter's
    /// [`DockAdapter::backups`]).
    fn backups(&self) -> Option<&dyn Backups> {
        None
    }

    /// Environment variables of web services, when the provider has them.
    fn env_vars(&self) -> Option<&dyn EnvVars> {
        None
    }

    /// Password rotation, when the provider has it.
    fn password_rotation(&self) -> Option<&dyn PasswordRotation> {
        None
    }

    /// Login users of servers, when the provider has them.
    fn system_users(&self) -> Option<&dyn SystemUsers> {
        None
    }

    /// The common part of a resource this provider reports: reference
    /// (provider, dock, kind, id), name, and the raw payload (secret fields
    /// stripped). Set the status and times on the result.
    fn meta(
        &self,
        kind: ResourceKind,
        id: impl Into<String>,
        name: impl Into<String>,
        raw: serde_json::Value,
    ) -> ResourceMeta
    where
        Self: Sized,
    {
        ResourceMeta::new(self.info().id, self.dock_id(), kind, id, name).with_provider_data(raw)
    }
}

/// The parent a listing must name (the zone of records ...), or
/// `InvalidInput` saying so.
///
/// ```
/// use stackdock_core::{kit::parent, ListOptions};
/// assert_eq!(parent(&ListOptions::in_parent("example.com")).unwrap(), "example.com");
/// assert!(parent(&ListOptions::default()).is_err());
/// ```
pub fn parent(options: &ListOptions) -> Result<&str> {
    options
        .parent
        .as_deref()
        .ok_or_else(|| Error::invalid_input("parent", "this listing needs a parent"))
}

/// A DNS zone resource (the serial is left unset: most REST APIs do not
/// report one).
pub fn dns_zone(meta: ResourceMeta, nameservers: Vec<String>) -> Resource {
    let serial = None;
    Resource::DnsZone(crate::resource::DnsZone {
        meta,
        serial,
        nameservers,
    })
}

/// A DNS record resource of `zone`.
pub fn dns_record(meta: ResourceMeta, zone: &str, ttl: u32, data: RecordData) -> Resource {
    let zone = zone.to_owned();
    Resource::DnsRecord(crate::resource::DnsRecord {
        meta,
        zone,
        ttl,
        data,
    })
}

/// `Ok(())` when `holds`, else `InvalidInput` on `field` with `reason`: a
/// provider's own rule in one line.
///
/// ```
/// use stackdock_core::kit::require;
/// assert!(require(true, "ttl", "at least 60").is_ok());
/// assert!(require(false, "ttl", "at least 60").is_err());
/// ```
pub fn require(holds: bool, field: &str, reason: &str) -> Result<()> {
    match holds {
        true => Ok(()),
        false => Err(Error::invalid_input(field, reason)),
    }
}

/// A small shared map from names to provider ids (a zone's name to its id
/// ...), for APIs that address children by a parent id the spec does not
/// carry. Cheap to clone; clones share the map.
///
/// ```
/// use stackdock_core::kit::Memo;
/// let memo = Memo::default();
/// memo.insert("example.com", "z1");
/// assert_eq!(memo.get("example.com").as_deref(), Some("z1"));
/// memo.forget_value("z1");
/// assert_eq!(memo.get("example.com"), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Memo(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>);

impl Memo {
    fn map(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, String>> {
        // A panic while inserting cannot leave the map inconsistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The id remembered for `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        self.map().get(name).cloned()
    }

    /// Remember `id` for `name`.
    pub fn insert(&self, name: impl Into<String>, id: impl Into<String>) {
        self.map().insert(name.into(), id.into());
    }

    /// The id remembered for `name`, else what `find` says (remembered
    /// when it is `Some`).
    pub async fn get_or_find<Fut>(&self, name: &str, find: Fut) -> Result<Option<String>>
    where
        Fut: std::future::Future<Output = Result<Option<String>>>,
    {
        if let Some(id) = self.get(name) {
            return Ok(Some(id));
        }
        let found = find.await?;
        if let Some(id) = &found {
            self.insert(name, id.clone());
        }
        Ok(found)
    }

    /// Forget every name remembered with `id` (it was deleted).
    pub fn forget_value(&self, id: &str) {
        self.map().retain(|_, v| v != id);
    }
}

/// Typed operations on one resource kind. Implement the operations you
/// declare in [`KindHandler::operations`]; the others are never called (the
/// [`KitAdapter`] answers `Unsupported` for them).
///
/// Ids are the handler's own `provider_resource_id`s. Specs arrive
/// validated and canonical ([`ResourceSpec::validate`] then
/// [`KindHandler::check`]).
#[async_trait]
pub trait KindHandler: Send + Sync + 'static {
    /// The spec type of this kind (e.g. [`DnsZoneSpec`]).
    type Spec: KindSpec;

    /// Which operations this kind supports (default: all five). Declare
    /// only what you implement: a declared operation left to its default
    /// body fails with `Internal`, which the conformance suite reports.
    fn operations(&self) -> Operations {
        Operations::ALL
    }

    /// The provider's own rules beyond core validation (run before any call).
    fn check(&self, spec: &Self::Spec) -> Result<()> {
        let _ = spec;
        Ok(())
    }

    /// The id a spec's resource will have, when ids are deterministic.
    fn planned_id(&self, spec: &Self::Spec) -> Option<String> {
        let _ = spec;
        None
    }

    /// One page of resources.
    async fn list(&self, options: &ListOptions) -> Result<Page<Resource>> {
        let _ = options;
        Err(not_implemented(Operation::List, Self::Spec::KIND))
    }

    /// The resource `id` names, `None` when it does not exist.
    async fn get(&self, id: &str) -> Result<Option<Resource>>;

    /// Create (or adopt, see [`adopt_or_conflict`]).
    async fn create(&self, spec: &Self::Spec) -> Result<Created> {
        let _ = spec;
        Err(not_implemented(Operation::Create, Self::Spec::KIND))
    }

    /// Change the resource to match `spec`.
    async fn update(&self, id: &str, spec: &Self::Spec) -> Result<Resource> {
        let _ = (id, spec);
        Err(not_implemented(Operation::Update, Self::Spec::KIND))
    }

    /// Delete; a `NotFound` is turned into success by the adapter.
    async fn delete(&self, id: &str) -> Result<()> {
        let _ = id;
        Err(not_implemented(Operation::Delete, Self::Spec::KIND))
    }
}

fn not_implemented(op: Operation, kind: ResourceKind) -> Error {
    Error::internal(format!(
        "the handler declares {} but does not implement it",
        op.on(kind)
    ))
}

/// The result of a create that found `existing` already there: adopted when
/// it is ours (same tenant) and matches `spec` ([`Observation::of`], the one
/// diff), [`AlreadyExists`](crate::ErrorKind::AlreadyExists) when another
/// tenant's, [`Conflict`](crate::ErrorKind::Conflict) naming the differing
/// fields otherwise.
///
/// ```
/// use stackdock_core::kit::adopt_or_conflict;
/// use stackdock_core::resource::{DnsZone, Resource, ResourceMeta};
/// use stackdock_core::spec::{DnsZoneSpec, ResourceSpec};
/// use stackdock_core::{ErrorKind, ResourceKind};
/// let meta = ResourceMeta::new("p", "d", ResourceKind::DnsZone, "z1", "example.com");
/// let zone = Resource::DnsZone(DnsZone { meta, serial: None, nameservers: vec!["ns1.p.net".into()] });
/// let spec = ResourceSpec::from(DnsZoneSpec { name: "example.com".into(), ..Default::default() });
/// assert!(!adopt_or_conflict(zone.clone(), &spec).unwrap().was_created());
/// let other = ResourceSpec::from(DnsZoneSpec { name: "example.com".into(), nameservers: vec!["ns9.x.net".into()], ..Default::default() });
/// assert_eq!(adopt_or_conflict(zone, &other).unwrap_err().kind(), &ErrorKind::Conflict);
/// ```
pub fn adopt_or_conflict(existing: Resource, spec: &ResourceSpec) -> Result<Created> {
    if existing.meta().tenant.as_deref() != spec.tenant() {
        return Err(Error::already_exists(format!(
            "{} {} exists and belongs to another tenant",
            existing.kind(),
            existing.name()
        )));
    }
    let seen = Observation::of(existing, Some(spec));
    match seen.resource {
        Some(resource) if seen.up_to_date => Ok(Created::adopted(resource)),
        _ => {
            let fields: Vec<String> = seen.diff.iter().map(ToString::to_string).collect();
            Err(Error::conflict(format!(
                "{} {} exists and differs: {}",
                spec.kind(),
                spec.name(),
                fields.join("; ")
            )))
        }
    }
}

/// The race-safe create every provider writes: look first (`find`), adopt
/// what is there ([`adopt_or_conflict`]); else `create`; when the create
/// loses a race ([`AlreadyExists`](crate::ErrorKind::AlreadyExists)), look
/// again and adopt the winner's. Concurrent and repeated creates of one
/// spec so end with one resource, created once.
///
/// `find` returns the existing resource of the spec's identity, or an
/// `AlreadyExists` error when one exists that is not ours (another tool's).
///
/// ```
/// use stackdock_core::kit::create_or_adopt;
/// use stackdock_core::resource::{DnsZone, Resource, ResourceMeta};
/// use stackdock_core::spec::{DnsZoneSpec, ResourceSpec};
/// use stackdock_core::{Error, ResourceKind};
/// let zone = || Resource::DnsZone(DnsZone {
///     meta: ResourceMeta::new("p", "d", ResourceKind::DnsZone, "z1", "example.com"),
///     serial: None, nameservers: vec![] });
/// let spec = ResourceSpec::from(DnsZoneSpec { name: "example.com".into(), ..Default::default() });
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // Lost the race: the create says "exists", the second look finds the winner's.
/// let looks = std::sync::atomic::AtomicUsize::new(0);
/// let find = || async { Ok((looks.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0).then(zone)) };
/// let made = create_or_adopt(&spec, find, async { Err(Error::already_exists("taken")) }).await.unwrap();
/// assert!(!made.was_created());
/// # });
/// ```
pub async fn create_or_adopt<F, Fut, C>(spec: &ResourceSpec, find: F, create: C) -> Result<Created>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Option<Resource>>>,
    C: std::future::Future<Output = Result<Resource>>,
{
    let adopt = |existing| std::future::ready(adopt_or_conflict(existing, spec));
    let lost_race = |e: &Error| *e.kind() == crate::ErrorKind::AlreadyExists;
    match find_or_create(find, adopt, create, lost_race).await? {
        FoundOrMade::Adopted(created) => Ok(created),
        FoundOrMade::Created(made) => Ok(Created::new(made)),
    }
}

/// What [`find_or_create`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoundOrMade<A, C> {
    /// It found one: what `adopt` made of it.
    Adopted(A),
    /// Nothing was there: what `create` answered.
    Created(C),
}

impl<T> FoundOrMade<T, T> {
    /// The result and whether this call created it.
    pub fn outcome(self) -> (T, crate::CreateOutcome) {
        match self {
            FoundOrMade::Adopted(t) => (t, crate::CreateOutcome::Adopted),
            FoundOrMade::Created(t) => (t, crate::CreateOutcome::Created),
        }
    }
}

/// The race-safe create with a provider's own rules, under
/// [`create_or_adopt`]: look (`find`) and `adopt` what is there (`adopt`
/// may refuse it: `Conflict`, `AlreadyExists`); else `create`; when the
/// create fails in a way that may mean another caller made it first
/// (`lost_race`: a 409, a "name taken" 422 ...), look again and adopt the
/// winner's, else return the create's error.
///
/// The create's answer comes back as it is (`FoundOrMade::Created`), so
/// what follows a create — reading the new resource, finishing its
/// settings — runs outside: a failure there is never taken for a lost race
/// (which would report as adopted, and so never roll back, what this call
/// made).
///
/// ```
/// use stackdock_core::kit::{find_or_create, FoundOrMade};
/// use stackdock_core::{Error, ErrorKind};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let looks = std::sync::atomic::AtomicUsize::new(0);
/// // Nothing there at first; the create answers 409; the second look finds the winner's.
/// let find = || async { Ok((looks.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0).then_some("prj_1")) };
/// let adopt = |id: &'static str| async move { Ok(id.to_owned()) };
/// let create = async { Err::<u64, _>(Error::conflict("taken")) };
/// let conflict = |e: &Error| *e.kind() == ErrorKind::Conflict;
/// let done = find_or_create(find, adopt, create, conflict).await.unwrap();
/// assert_eq!(done, FoundOrMade::Adopted("prj_1".to_owned()));
/// # });
/// ```
pub async fn find_or_create<T, A, C, F, FFut, AD, AFut, CFut>(
    find: F,
    adopt: AD,
    create: CFut,
    lost_race: impl Fn(&Error) -> bool,
) -> Result<FoundOrMade<A, C>>
where
    F: Fn() -> FFut,
    FFut: std::future::Future<Output = Result<Option<T>>>,
    AD: Fn(T) -> AFut,
    AFut: std::future::Future<Output = Result<A>>,
    CFut: std::future::Future<Output = Result<C>>,
{
    if let Some(existing) = find().await? {
        return adopt(existing).await.map(FoundOrMade::Adopted);
    }
    match create.await {
        Ok(made) => Ok(FoundOrMade::Created(made)),
        Err(e) if lost_race(&e) => match find().await? {
            Some(existing) => adopt(existing).await.map(FoundOrMade::Adopted),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// A [`KindHandler`] with its spec type erased, as the adapter holds it.
#[async_trait]
trait Erased: Send + Sync {
    fn kind(&self) -> ResourceKind;
    fn operations(&self) -> Operations;
    fn planned_id(&self, spec: &ResourceSpec) -> Option<String>;
    fn check(&self, spec: &ResourceSpec) -> Result<()>;
    async fn list(&self, options: &ListOptions) -> Result<Page<Resource>>;
    async fn get(&self, id: &str) -> Result<Option<Resource>>;
    async fn create(&self, spec: &ResourceSpec) -> Result<Created>;
    async fn update(&self, id: &str, spec: &ResourceSpec) -> Result<Resource>;
    async fn delete(&self, id: &str) -> Result<()>;
}

fn typed<S: KindSpec>(spec: &ResourceSpec) -> Result<&S> {
    S::of(spec).ok_or_else(|| {
        Error::invalid_input(
            "kind",
            format!("a {} spec given for a {}", spec.kind(), S::KIND),
        )
    })
}

#[async_trait]
impl<H: KindHandler> Erased for H {
    fn kind(&self) -> ResourceKind {
        H::Spec::KIND
    }
    fn operations(&self) -> Operations {
        KindHandler::operations(self)
    }
    fn planned_id(&self, spec: &ResourceSpec) -> Option<String> {
        KindHandler::planned_id(self, typed(spec).ok()?)
    }
    fn check(&self, spec: &ResourceSpec) -> Result<()> {
        KindHandler::check(self, typed(spec)?)
    }
    async fn list(&self, options: &ListOptions) -> Result<Page<Resource>> {
        KindHandler::list(self, options).await
    }
    async fn get(&self, id: &str) -> Result<Option<Resource>> {
        KindHandler::get(self, id).await
    }
    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        KindHandler::create(self, typed(spec)?).await
    }
    async fn update(&self, id: &str, spec: &ResourceSpec) -> Result<Resource> {
        KindHandler::update(self, id, typed(spec)?).await
    }
    async fn delete(&self, id: &str) -> Result<()> {
        KindHandler::delete(self, id).await
    }
}

/// The generic adapter over a [`KitProvider`] and its [`KindHandler`]s. See
/// the [module docs](self).
pub struct KitAdapter<P> {
    provider: P,
    info: ProviderInfo,
    arguments: Arguments,
    handlers: Vec<Box<dyn Erased>>,
}

impl<P: KitProvider> fmt::Debug for KitAdapter<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<ResourceKind> = self.handlers.iter().map(|h| h.kind()).collect();
        f.debug_struct("KitAdapter")
            .field("provider", &self.provider)
            .field("kinds", &kinds)
            .finish()
    }
}

impl<P: KitProvider> KitAdapter<P> {
    /// An adapter with no kinds yet.
    pub fn new(provider: P) -> Self {
        let info = provider.info();
        let arguments = provider.arguments();
        KitAdapter {
            provider,
            info,
            arguments,
            handlers: Vec::new(),
        }
    }

    /// Honour these arguments (replacing the provider's [`KitProvider::arguments`]).
    pub fn with_arguments(mut self, arguments: Arguments) -> Self {
        self.arguments = arguments;
        self
    }

    /// Serve a kind through `handler` (replacing an earlier handler of that kind).
    pub fn with<H: KindHandler>(mut self, handler: H) -> Self {
        self.handlers.retain(|h| h.kind() != H::Spec::KIND);
        self.handlers.push(Box::new(handler));
        self
    }

    /// The provider part (its client, configuration ...).
    pub fn provider(&self) -> &P {
        &self.provider
    }

    /// The handler of `kind` when it supports `op`, else a typed `Unsupported`.
    fn handler(&self, op: Operation, kind: ResourceKind) -> Result<&dyn Erased> {
        self.handlers
            .iter()
            .find(|h| h.kind() == kind && h.operations().supports(op))
            .map(|h| h.as_ref())
            .ok_or_else(|| self.unsupported(op, kind))
    }

    fn checked(&self, handler: &dyn Erased, spec: &ResourceSpec) -> Result<ResourceSpec> {
        let spec = spec.validate()?;
        handler.check(&spec)?;
        Ok(spec)
    }
}

fn kinds_agree(id: &ResourceId, spec: &ResourceSpec) -> Result<()> {
    if id.kind == spec.kind() {
        return Ok(());
    }
    Err(Error::invalid_input(
        "kind",
        format!(
            "a {} spec cannot describe the {} {}",
            spec.kind(),
            id.kind,
            id.id
        ),
    ))
}

/// Kinds that live under another resource (a zone, a service, a mail
/// domain, a server), so that a listing may name it.
fn has_parent(kind: ResourceKind) -> bool {
    !matches!(
        kind,
        ResourceKind::Server | ResourceKind::Database | ResourceKind::DnsZone
    )
}

fn context(op: Operation, kind: ResourceKind) -> impl Fn(Error) -> Error {
    move |e| e.with_operation(op.on(kind))
}

#[async_trait]
impl<P: KitProvider> DockAdapter for KitAdapter<P> {
    fn provider(&self) -> &ProviderInfo {
        &self.info
    }

    fn dock_id(&self) -> &str {
        self.provider.dock_id()
    }

    fn capabilities(&self) -> Capabilities {
        self.handlers
            .iter()
            .fold(Capabilities::new(), |caps, h| {
                caps.with_kind(h.kind(), h.operations())
            })
            .with_arguments(self.arguments)
    }

    fn endpoint(&self) -> Option<String> {
        self.provider.endpoint()
    }

    fn planned_id(&self, spec: &ResourceSpec) -> Option<ResourceId> {
        let handler = self.handlers.iter().find(|h| h.kind() == spec.kind())?;
        let id = handler.planned_id(&spec.validate().ok()?)?;
        Some(ResourceId::new(spec.kind(), id))
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        self.provider.rate_limit()
    }

    async fn check_credentials(&self) -> Result<()> {
        self.provider.check_credentials().await
    }

    async fn list(&self, kind: ResourceKind, options: &ListOptions) -> Result<Page<Resource>> {
        let handler = self.handler(Operation::List, kind)?;
        options.validate()?;
        if options.parent.is_some() && !has_parent(kind) {
            let reason = format!("a {kind} has no parent to list by");
            return Err(Error::invalid_input("parent", reason));
        }
        handler
            .list(options)
            .await
            .map_err(context(Operation::List, kind))
    }

    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        let handler = self.handler(Operation::Observe, id.kind)?;
        let desired = match desired {
            Some(spec) => {
                kinds_agree(id, spec)?;
                Some(spec.validate()?)
            }
            None => None,
        };
        let found = handler
            .get(&id.id)
            .await
            .map_err(context(Operation::Observe, id.kind))?;
        Ok(match found {
            Some(resource) => Observation::of(resource, desired.as_ref()),
            None => Observation::absent(),
        })
    }

    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        let handler = self.handler(Operation::Create, spec.kind())?;
        let spec = self.checked(handler, spec)?;
        handler
            .create(&spec)
            .await
            .map_err(context(Operation::Create, spec.kind()))
    }

    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        let handler = self.handler(Operation::Update, id.kind)?;
        kinds_agree(id, spec)?;
        let spec = self.checked(handler, spec)?;
        handler
            .update(&id.id, &spec)
            .await
            .map_err(context(Operation::Update, id.kind))
    }

    async fn delete(&self, id: &ResourceId) -> Result<()> {
        let handler = self.handler(Operation::Delete, id.kind)?;
        match handler.delete(&id.id).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map_err(context(Operation::Delete, id.kind)),
        }
    }

    fn backups(&self) -> Option<&dyn Backups> {
        self.provider.backups()
    }

    fn env_vars(&self) -> Option<&dyn EnvVars> {
        self.provider.env_vars()
    }

    fn password_rotation(&self) -> Option<&dyn PasswordRotation> {
        self.provider.password_rotation()
    }

    fn system_users(&self) -> Option<&dyn SystemUsers> {
        self.provider.system_users()
    }
}

/// Implement [`DockAdapter`] for a named adapter type by delegating every
/// method to the adapter `|this| <expr>` borrows from it (a [`KitAdapter`]
/// field, or one behind an `Arc` so the type stays `Clone`): a provider keeps
/// its own adapter type — with its constructors and typed accessors — while
/// the kit does the work. Extensions are delegated too, so put them on the
/// [`KitProvider`].
///
/// ```
/// use stackdock_core::kit::{KitAdapter, KitProvider};
/// use stackdock_core::{async_trait, DockAdapter, ProviderInfo, Result};
///
/// #[derive(Debug)]
/// struct Demo;
/// #[async_trait]
/// impl KitProvider for Demo {
///     fn info(&self) -> ProviderInfo { ProviderInfo::new("demo", "Demo") }
///     fn dock_id(&self) -> &str { "demo-1" }
///     async fn check_credentials(&self) -> Result<()> { Ok(()) }
/// }
///
/// /// The demo adapter, with a constructor of its own.
/// #[derive(Debug, Clone)]
/// pub struct DemoAdapter(std::sync::Arc<KitAdapter<Demo>>);
/// impl DemoAdapter {
///     pub fn new() -> Self { DemoAdapter(KitAdapter::new(Demo).into()) }
/// }
/// stackdock_core::delegate_dock_adapter!(DemoAdapter, |this| &*this.0);
///
/// let dock: Box<dyn DockAdapter> = Box::new(DemoAdapter::new());
/// assert_eq!(dock.dock_id(), "demo-1");
/// ```
#[macro_export]
macro_rules! delegate_dock_adapter {
    ($ty:ty, |$this:ident| $inner:expr) => {
        #[$crate::async_trait]
        impl $crate::DockAdapter for $ty {
            fn provider(&self) -> &$crate::ProviderInfo {
                $crate::DockAdapter::provider({
                    let $this = self;
                    $inner
                })
            }
            fn dock_id(&self) -> &str {
                $crate::DockAdapter::dock_id({
                    let $this = self;
                    $inner
                })
            }
            fn capabilities(&self) -> $crate::Capabilities {
                $crate::DockAdapter::capabilities({
                    let $this = self;
                    $inner
                })
            }
            fn endpoint(&self) -> ::std::option::Option<::std::string::String> {
                $crate::DockAdapter::endpoint({
                    let $this = self;
                    $inner
                })
            }
            fn planned_id(
                &self,
                spec: &$crate::ResourceSpec,
            ) -> ::std::option::Option<$crate::ResourceId> {
                $crate::DockAdapter::planned_id(
                    {
                        let $this = self;
                        $inner
                    },
                    spec,
                )
            }
            async fn check_credentials(&self) -> $crate::Result<()> {
                $crate::DockAdapter::check_credentials({
                    let $this = self;
                    $inner
                })
                .await
            }
            async fn list(
                &self,
                kind: $crate::ResourceKind,
                options: &$crate::ListOptions,
            ) -> $crate::Result<$crate::Page<$crate::Resource>> {
                $crate::DockAdapter::list(
                    {
                        let $this = self;
                        $inner
                    },
                    kind,
                    options,
                )
                .await
            }
            async fn observe(
                &self,
                id: &$crate::ResourceId,
                desired: ::std::option::Option<&$crate::ResourceSpec>,
            ) -> $crate::Result<$crate::Observation> {
                $crate::DockAdapter::observe(
                    {
                        let $this = self;
                        $inner
                    },
                    id,
                    desired,
                )
                .await
            }
            async fn create(&self, spec: &$crate::ResourceSpec) -> $crate::Result<$crate::Created> {
                $crate::DockAdapter::create(
                    {
                        let $this = self;
                        $inner
                    },
                    spec,
                )
                .await
            }
            async fn update(
                &self,
                id: &$crate::ResourceId,
                spec: &$crate::ResourceSpec,
            ) -> $crate::Result<$crate::Resource> {
                $crate::DockAdapter::update(
                    {
                        let $this = self;
                        $inner
                    },
                    id,
                    spec,
                )
                .await
            }
            async fn delete(&self, id: &$crate::ResourceId) -> $crate::Result<()> {
                $crate::DockAdapter::delete(
                    {
                        let $this = self;
                        $inner
                    },
                    id,
                )
                .await
            }
            fn rate_limit(&self) -> ::std::option::Option<$crate::RateLimit> {
                $crate::DockAdapter::rate_limit({
                    let $this = self;
                    $inner
                })
            }
            fn backups(&self) -> ::std::option::Option<&dyn $crate::extension::Backups> {
                $crate::DockAdapter::backups({
                    let $this = self;
                    $inner
                })
            }
            fn env_vars(&self) -> ::std::option::Option<&dyn $crate::extension::EnvVars> {
                $crate::DockAdapter::env_vars({
                    let $this = self;
                    $inner
                })
            }
            fn password_rotation(
                &self,
            ) -> ::std::option::Option<&dyn $crate::extension::PasswordRotation> {
                $crate::DockAdapter::password_rotation({
                    let $this = self;
                    $inner
                })
            }
            fn system_users(&self) -> ::std::option::Option<&dyn $crate::extension::SystemUsers> {
                $crate::DockAdapter::system_users({
                    let $this = self;
                    $inner
                })
            }
        }
    };
}
