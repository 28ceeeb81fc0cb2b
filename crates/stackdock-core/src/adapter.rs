//! The [`DockAdapter`] trait that every provider crate implements.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};
use serde::{Deserialize, Serialize};

use crate::capability::{Capabilities, Operation};
use crate::extension::{Backups, EnvVars, PasswordRotation, SystemUsers};
pub use crate::outcome::{CreateOutcome, Created};
use crate::resource::{Resource, ResourceId, ResourceKind};
use crate::spec::{Canonical, FieldDiff, ResourceSpec};
use crate::{Error, Result};

/// Who an adapter is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInfo {
    /// Stable provider id, e.g. `vercel`, `postgres`, `powerdns`.
    pub id: String,
    /// Human name, e.g. `Vercel`.
    pub display_name: String,
}

impl ProviderInfo {
    /// A new provider description.
    pub fn new(id: impl Into<String>, display_name: impl Into<String>) -> Self {
        ProviderInfo {
            id: id.into(),
            display_name: display_name.into(),
        }
    }
}

/// The provider's request budget as its last response reported it
/// (`X-RateLimit-*` / IETF `RateLimit-*` headers), for a control plane to
/// record and show. Each field is `None` when the provider did not say.
///
/// ```
/// use stackdock_core::{DockAdapter, InMemoryAdapter, RateLimit};
/// // An adapter without an HTTP API reports nothing.
/// assert_eq!(InMemoryAdapter::new("local").rate_limit(), None);
/// let budget = RateLimit { limit: Some(100), remaining: Some(7), reset_at: None };
/// assert_eq!(budget.remaining, Some(7));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub limit: Option<u64>,
    /// Requests left in the window.
    pub remaining: Option<u64>,
    /// When the window resets.
    pub reset_at: Option<DateTime<Utc>>,
}

/// How to list resources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListOptions {
    /// Only children of this parent (zone for records, web service for
    /// deployments and domains, mail domain for mailboxes and forwarders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Only resources of this tenant. Adapters that track tenancy must never
    /// return another tenant's resources when this is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Only resources carrying all these labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Items per page; the adapter's default (and cap) when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// Where to continue: the `next_cursor` of the previous [`Page`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl ListOptions {
    /// Children of `parent`.
    pub fn in_parent(parent: impl Into<String>) -> Self {
        ListOptions {
            parent: Some(parent.into()),
            ..Default::default()
        }
    }

    /// Resources of `tenant`.
    pub fn for_tenant(tenant: impl Into<String>) -> Self {
        ListOptions {
            tenant: Some(tenant.into()),
            ..Default::default()
        }
    }

    /// Provider-independent checks, done before any remote call (the
    /// [`CheckedLayer`](crate::layer::CheckedLayer) runs them for every dock).
    ///
    /// ```
    /// use stackdock_core::ListOptions;
    /// assert!(ListOptions::for_tenant("acme").validate().is_ok());
    /// let zero = ListOptions { page_size: Some(0), ..Default::default() };
    /// assert!(zero.validate().is_err());
    /// assert!(ListOptions::for_tenant("a\nb").validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        if let Some(parent) = &self.parent {
            crate::validate::resource_name("parent", parent, 253)?;
        }
        if let Some(tenant) = &self.tenant {
            crate::validate::resource_name("tenant", tenant, 128)?;
        }
        for (k, v) in &self.labels {
            crate::validate::label("labels", k, v)?;
        }
        if self.page_size == Some(0) {
            return Err(Error::invalid_input("page_size", "must be at least 1"));
        }
        if let Some(cursor) = &self.cursor {
            crate::validate::resource_name("cursor", cursor, 4096)?;
        }
        Ok(())
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as [`ListOptions::cursor`] to get the next page; `None` at the end.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A last page.
    pub fn last(items: Vec<T>) -> Self {
        Page {
            items,
            next_cursor: None,
        }
    }

    /// The same page with each item mapped, items mapped to `None` left out
    /// (a provider's raw items into resources, skipping what it cannot carry).
    ///
    /// ```
    /// use stackdock_core::Page;
    /// let page = Page { items: vec!["1", "x", "3"], next_cursor: Some("2".to_owned()) };
    /// let numbers = page.filter_map(|s| s.parse::<u8>().ok());
    /// assert_eq!(numbers.items, vec![1, 3]);
    /// assert_eq!(numbers.next_cursor.as_deref(), Some("2"));
    /// ```
    pub fn filter_map<U>(self, f: impl FnMut(T) -> Option<U>) -> Page<U> {
        Page {
            items: self.items.into_iter().filter_map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// What observing a resource found. Observing never changes anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The resource as the provider reports it; `None` when it does not exist.
    pub resource: Option<Resource>,
    /// Whether it matches the desired spec (`true` when no spec was given and it exists).
    pub up_to_date: bool,
    /// Fields that differ from the spec.
    pub diff: Vec<FieldDiff>,
    /// Fields the spec left unset that the provider filled in.
    pub late_initialized: Vec<FieldDiff>,
}

impl Observation {
    /// The resource does not exist.
    pub fn absent() -> Self {
        Observation {
            resource: None,
            up_to_date: false,
            diff: Vec::new(),
            late_initialized: Vec::new(),
        }
    }

    /// Observation of an existing resource, compared with `desired` when given.
    ///
    /// This is the one diff every adapter uses, so "up to date" means the same
    /// across providers.
    pub fn of(resource: Resource, desired: Option<&ResourceSpec>) -> Self {
        let (diff, late_initialized) = desired.map(|s| s.diff(&resource)).unwrap_or_default();
        Self::with_diff(resource, diff, late_initialized)
    }

    /// [`Observation::of`] with a desired spec that is canonical already
    /// (no second validation pass).
    pub fn of_checked(resource: Resource, desired: Option<Canonical<'_>>) -> Self {
        let (diff, late_initialized) = desired.map(|s| s.diff(&resource)).unwrap_or_default();
        Self::with_diff(resource, diff, late_initialized)
    }

    fn with_diff(
        resource: Resource,
        diff: Vec<FieldDiff>,
        late_initialized: Vec<FieldDiff>,
    ) -> Self {
        Observation {
            up_to_date: diff.is_empty(),
            resource: Some(resource),
            diff,
            late_initialized,
        }
    }

    /// Whether the resource exists.
    pub fn exists(&self) -> bool {
        self.resource.is_some()
    }
}

/// A provider adapter: one configured account ("dock") of one provider.
///
/// Object-safe, `Send + Sync`: keep adapters as `Arc<dyn DockAdapter>` in a
/// [`DockRegistry`](crate::DockRegistry).
///
/// # Contract
///
/// Every implementation promises, and the conformance suite in
/// `stackdock-testkit` checks:
///
/// * **Validation first.** Invalid specs fail with
///   [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) before any
///   remote call, and change nothing.
/// * **Observe never mutates.** It reports whether the resource exists,
///   whether it matches the desired spec, what differs and what the provider
///   filled in. A resource that does not exist is `Ok` with
///   [`Observation::absent`], not an error.
/// * **Create is idempotent and says what it did.** Creating a resource that
///   already exists and is ours (same name, same tenant, compatible with the
///   spec) returns it as [`CreateOutcome::Adopted`]; only a call that made the
///   resource reports [`CreateOutcome::Created`]. One that exists but is not
///   ours is [`AlreadyExists`](crate::ErrorKind::AlreadyExists); one that is
///   ours but incompatible is [`Conflict`](crate::ErrorKind::Conflict).
/// * **Race- and cancel-safe.** Concurrent creates of one spec end with one
///   resource (created once, adopted by the others) or a typed error, never a
///   raw provider failure; a create whose future is dropped at any point and
///   then repeated converges to exactly one resource.
/// * **Delete is idempotent.** Deleting a resource that is already gone succeeds.
/// * **Nothing half-made.** A create that fails part-way rolls back what it
///   made, or leaves a state that repeating the create finishes.
/// * **Unsupported is explicit.** Operations not marked in
///   [`capabilities`](DockAdapter::capabilities) return
///   [`Unsupported`](crate::ErrorKind::Unsupported) — never a panic or a silent no-op.
/// * **No secrets in output.** `Debug`, errors, logs and `provider_data` never
///   contain a credential or password.
///
/// All methods but the identity ones have default implementations that return
/// `Unsupported`, so an adapter implements only what it supports.
///
/// Adapters are used through the [layers](crate::layer): the
/// [`DockRegistry`](crate::DockRegistry) wraps every dock in the
/// [`CheckedLayer`](crate::layer::CheckedLayer), which gates capabilities
/// (operations and arguments), checks that ids and specs agree, validates
/// specs and list options and adds the dock, provider, operation and endpoint
/// to every error — so an adapter receives only canonical, supported input.
/// The layer calls [`observe_checked`](DockAdapter::observe_checked),
/// [`create_checked`](DockAdapter::create_checked) and
/// [`update_checked`](DockAdapter::update_checked) with the spec it has
/// validated; they forward to `observe`, `create` and `update` unless an
/// adapter overrides them to skip validating the same spec twice.
///
/// ```
/// use std::sync::Arc;
/// use stackdock_core::{DockAdapter, DockAdapterExt, InMemoryAdapter, ResourceKind, ListOptions};
/// use stackdock_core::spec::{DatabaseSpec, ResourceSpec};
///
/// # tokio_test();
/// # fn tokio_test() { tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let adapter: Arc<dyn DockAdapter> = Arc::new(InMemoryAdapter::new("demo"));
/// let db = adapter
///     .create(&ResourceSpec::from(DatabaseSpec { name: "shop".into(), ..Default::default() }))
///     .await?;
/// assert!(db.was_created());
/// let all = adapter.list_all(ResourceKind::Database, &ListOptions::default()).await?;
/// assert_eq!(all.len(), 1);
/// adapter.delete(&db.id()).await?;
/// adapter.delete(&db.id()).await?; // already gone: still Ok
/// # Ok::<(), stackdock_core::Error>(()) }).unwrap(); }
/// ```
#[async_trait]
pub trait DockAdapter: Send + Sync + fmt::Debug {
    /// Who this adapter is.
    fn provider(&self) -> &ProviderInfo;

    /// The id of this dock (a configured account of the provider).
    fn dock_id(&self) -> &str;

    /// What this adapter can do.
    fn capabilities(&self) -> Capabilities;

    /// Where the dock talks to (base URL, `host:port`, a directory), for error
    /// context and logs. Never holds a credential.
    fn endpoint(&self) -> Option<String> {
        None
    }

    /// The id `spec`'s resource has (or will have), known before any call,
    /// when the provider's ids are deterministic (derived from the name).
    /// `None` when the provider assigns ids
    /// ([`Arguments::provider_assigned_ids`](crate::Arguments::provider_assigned_ids)):
    /// find the resource again with [`DockAdapterExt::find`].
    ///
    /// A control plane records this id with its intent before the create, so
    /// a create whose outcome is unknown can be observed and cleaned up.
    fn planned_id(&self, spec: &ResourceSpec) -> Option<ResourceId> {
        let _ = spec;
        None
    }

    /// Check the credentials with a cheap call.
    async fn check_credentials(&self) -> Result<()>;

    /// One page of resources of `kind`.
    async fn list(&self, kind: ResourceKind, options: &ListOptions) -> Result<Page<Resource>> {
        let _ = options;
        Err(self.unsupported(Operation::List, kind))
    }

    /// Look at one resource without changing it.
    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        let _ = desired;
        Err(self.unsupported(Operation::Observe, id.kind))
    }

    /// Create a resource, or adopt it when it is already there (see the
    /// contract above).
    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        Err(self.unsupported(Operation::Create, spec.kind()))
    }

    /// Change a resource to match `spec`.
    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        let _ = spec;
        Err(self.unsupported(Operation::Update, id.kind))
    }

    /// Delete a resource (succeeds when it is already gone).
    async fn delete(&self, id: &ResourceId) -> Result<()> {
        Err(self.unsupported(Operation::Delete, id.kind))
    }

    /// [`observe`](DockAdapter::observe) as the
    /// [`CheckedLayer`](crate::layer::CheckedLayer) calls it: the operation
    /// gated, the id and the spec of one kind, the spec validated and
    /// canonical. The default forwards to `observe` (no extra future); an
    /// adapter that validates in `observe`, to stay safe when called bare,
    /// overrides it to skip that second pass.
    fn observe_checked<'a>(
        &'a self,
        id: &'a ResourceId,
        desired: Option<Canonical<'a>>,
    ) -> BoxFuture<'a, Result<Observation>> {
        self.observe(id, desired.map(Canonical::spec))
    }

    /// [`create`](DockAdapter::create) as the
    /// [`CheckedLayer`](crate::layer::CheckedLayer) calls it (see
    /// [`observe_checked`](DockAdapter::observe_checked)): the operation and
    /// the spec's arguments gated, the spec validated and canonical.
    fn create_checked<'a>(&'a self, spec: Canonical<'a>) -> BoxFuture<'a, Result<Created>> {
        self.create(spec.spec())
    }

    /// [`update`](DockAdapter::update) as the
    /// [`CheckedLayer`](crate::layer::CheckedLayer) calls it (see
    /// [`observe_checked`](DockAdapter::observe_checked)).
    fn update_checked<'a>(
        &'a self,
        id: &'a ResourceId,
        spec: Canonical<'a>,
    ) -> BoxFuture<'a, Result<Resource>> {
        self.update(id, spec.spec())
    }

    /// The typed error for an operation this adapter does not support.
    fn unsupported(&self, op: Operation, kind: ResourceKind) -> Error {
        Error::unsupported(op.on(kind), self.provider().id.clone())
    }

    /// The provider's request budget as its last response reported it, when
    /// the dock's API reports one (HTTP providers sending rate-limit
    /// headers). Reads what the adapter already holds; never makes a call.
    /// Default: `None`.
    fn rate_limit(&self) -> Option<RateLimit> {
        None
    }

    /// Backups of sites (list, take, restore, delete, schedules), when this
    /// dock has them. See [`extension`](crate::extension).
    fn backups(&self) -> Option<&dyn Backups> {
        None
    }

    /// Environment variables of web services, when this dock has them.
    fn env_vars(&self) -> Option<&dyn EnvVars> {
        None
    }

    /// Password rotation (database owners, mailboxes), when this dock has it.
    fn password_rotation(&self) -> Option<&dyn PasswordRotation> {
        None
    }

    /// Login users of servers, when this dock has them.
    fn system_users(&self) -> Option<&dyn SystemUsers> {
        None
    }
}

/// Conveniences available on every adapter (including `dyn DockAdapter`).
#[async_trait]
pub trait DockAdapterExt: DockAdapter {
    /// Every page of a listing, as a stream that never truncates.
    fn list_stream<'a>(
        &'a self,
        kind: ResourceKind,
        options: &ListOptions,
    ) -> BoxStream<'a, Result<Resource>> {
        let first = options.clone();
        stream::try_unfold(Some(first), move |state| async move {
            let Some(opts) = state else {
                return Ok(None);
            };
            let page = self.list(kind, &opts).await?;
            let next = match page.next_cursor {
                Some(cursor) if Some(&cursor) != opts.cursor.as_ref() => Some(ListOptions {
                    cursor: Some(cursor),
                    ..opts
                }),
                Some(_) => {
                    return Err(Error::invalid_response("pagination cursor did not advance")
                        .with_operation(Operation::List.on(kind)))
                }
                None => None,
            };
            Ok(Some((stream::iter(page.items.into_iter().map(Ok)), next)))
        })
        .map(|r| match r {
            Ok(s) => s.left_stream(),
            Err(e) => stream::once(async move { Err(e) }).right_stream(),
        })
        .flatten()
        .boxed()
    }

    /// Every resource of `kind`, all pages collected.
    async fn list_all(&self, kind: ResourceKind, options: &ListOptions) -> Result<Vec<Resource>> {
        let mut stream = self.list_stream(kind, options);
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            out.push(item?);
        }
        Ok(out)
    }

    /// The resource, or [`ErrorKind::NotFound`](crate::ErrorKind::NotFound).
    async fn get(&self, id: &ResourceId) -> Result<Resource> {
        self.observe(id, None).await?.resource.ok_or_else(|| {
            Error::not_found(id.to_string()).with_operation(Operation::Observe.on(id.kind))
        })
    }

    /// The existing resource `spec` describes, if any, found by id where ids
    /// are deterministic ([`DockAdapter::planned_id`]) and otherwise by
    /// natural key: same kind, name, parent and tenant. Never mutates.
    async fn find(&self, spec: &ResourceSpec) -> Result<Option<Resource>> {
        if let Some(id) = self.planned_id(spec) {
            return Ok(self.observe(&id, None).await?.resource);
        }
        let kind = spec.kind();
        let options = ListOptions {
            parent: spec.parent().map(str::to_owned),
            ..Default::default()
        };
        let mut stream = self.list_stream(kind, &options);
        while let Some(item) = stream.next().await {
            let item = item?;
            if item.name() == spec.name() && item.meta().tenant.as_deref() == spec.tenant() {
                return Ok(Some(item));
            }
        }
        Ok(None)
    }

    /// [`DockAdapter::backups`], or [`Unsupported`](crate::ErrorKind::Unsupported).
    fn require_backups(&self) -> Result<&dyn Backups> {
        self.backups()
            .ok_or_else(|| missing_extension(self, "backups"))
    }

    /// [`DockAdapter::env_vars`], or [`Unsupported`](crate::ErrorKind::Unsupported).
    fn require_env_vars(&self) -> Result<&dyn EnvVars> {
        self.env_vars()
            .ok_or_else(|| missing_extension(self, "env vars"))
    }

    /// [`DockAdapter::password_rotation`], or [`Unsupported`](crate::ErrorKind::Unsupported).
    fn require_password_rotation(&self) -> Result<&dyn PasswordRotation> {
        self.password_rotation()
            .ok_or_else(|| missing_extension(self, "password rotation"))
    }

    /// [`DockAdapter::system_users`], or [`Unsupported`](crate::ErrorKind::Unsupported).
    fn require_system_users(&self) -> Result<&dyn SystemUsers> {
        self.system_users()
            .ok_or_else(|| missing_extension(self, "system users"))
    }
}

impl<T: DockAdapter + ?Sized> DockAdapterExt for T {}

fn missing_extension(adapter: &(impl DockAdapter + ?Sized), what: &str) -> Error {
    Error::unsupported(what, adapter.provider().id.clone()).with_context("dock", adapter.dock_id())
}

impl ResourceSpec {
    /// The parent a listing of this spec's kind is scoped to: the zone of a
    /// record, the service of a deployment, the mail domain of a mailbox or
    /// forwarder. `None` for top-level kinds.
    ///
    /// ```
    /// use stackdock_core::spec::{MailboxSpec, ResourceSpec};
    /// let spec = ResourceSpec::from(MailboxSpec { address: "a@example.com".into(), ..Default::default() });
    /// assert_eq!(spec.parent(), Some("example.com"));
    /// ```
    pub fn parent(&self) -> Option<&str> {
        match self {
            ResourceSpec::DnsRecord(r) => Some(&r.zone),
            ResourceSpec::Deployment(d) => Some(&d.service),
            ResourceSpec::Mailbox(m) => m.address.rsplit_once('@').map(|(_, d)| d),
            ResourceSpec::MailForwarder(f) => f.source.rsplit_once('@').map(|(_, d)| d),
            ResourceSpec::Domain(d) => d.service_id.as_deref(),
            ResourceSpec::WebService(w) => w.server_id.as_deref(),
            _ => None,
        }
    }
}
