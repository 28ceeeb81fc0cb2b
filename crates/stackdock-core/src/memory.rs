//! [`InMemoryAdapter`]: every resource kind, kept in memory.
//!
//! It behaves like a real provider — generated ids, validation before
//! anything changes, `NotFound`, `AlreadyExists`, `Conflict`, idempotent
//! create and delete, paginated listing, tenancy — so tests, examples and
//! the quickstart can run with no network. It also counts the calls that a
//! real provider would have served ([`InMemoryAdapter::remote_calls`]) and
//! can inject faults ([`InMemoryAdapter::fail_next`]).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::Utc;
use futures::future::BoxFuture;
use rand::distributions::{Alphanumeric, DistString};

use crate::adapter::{Created, DockAdapter, ListOptions, Observation, Page, ProviderInfo};
use crate::capability::{Arguments, Capabilities, Operation, Operations};
use crate::provisioning::ProvisioningState;
use crate::resource::*;
use crate::secret::SecretString;
use crate::spec::{Canonical, ResourceSpec};
use crate::{Error, Result};

/// Default page size of [`InMemoryAdapter::list`].
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// Largest page size [`InMemoryAdapter::list`] serves.
pub const MAX_PAGE_SIZE: u32 = 1000;

#[derive(Default)]
struct Store {
    /// Resources by (kind, id).
    items: BTreeMap<(ResourceKind, String), Resource>,
    next_id: u64,
    faults: VecDeque<(Operation, Error)>,
    /// Fail the remote call this many calls from now (1 = the next one).
    countdown: Option<(usize, Error)>,
}

/// An adapter that keeps everything in memory. See the [module docs](self).
///
/// ```
/// use stackdock_core::{DockAdapter, InMemoryAdapter, ErrorKind};
/// use stackdock_core::spec::{DnsZoneSpec, ResourceSpec};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let adapter = InMemoryAdapter::new("demo");
/// let bad = ResourceSpec::from(DnsZoneSpec { name: "not a zone".into(), ..Default::default() });
/// let err = adapter.create(&bad).await.unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::InvalidInput { .. }));
/// assert_eq!(adapter.remote_calls(), 0); // rejected before any "remote" call
/// # });
/// ```
pub struct InMemoryAdapter {
    info: ProviderInfo,
    dock_id: String,
    store: Mutex<Store>,
    calls: AtomicUsize,
}

impl fmt::Debug for InMemoryAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.store.lock().map(|s| s.items.len()).unwrap_or(0);
        f.debug_struct("InMemoryAdapter")
            .field("dock_id", &self.dock_id)
            .field("resources", &count)
            .field("remote_calls", &self.remote_calls())
            .finish()
    }
}

impl InMemoryAdapter {
    /// A new, empty adapter with this dock id.
    pub fn new(dock_id: impl Into<String>) -> Self {
        InMemoryAdapter {
            info: ProviderInfo::new("memory", "In-memory"),
            dock_id: dock_id.into(),
            store: Mutex::new(Store::default()),
            calls: AtomicUsize::new(0),
        }
    }

    /// How many operations reached the "provider" (passed validation).
    pub fn remote_calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Make the next `op` fail with `error`, after validation, before any change.
    pub fn fail_next(&self, op: Operation, error: Error) {
        self.lock().faults.push_back((op, error));
    }

    /// Make the `k`-th remote call from now (1-based, any operation) fail
    /// with `error`, after validation, before any change.
    pub fn fail_call_number(&self, k: usize, error: Error) {
        self.lock().countdown = Some((k.max(1), error));
    }

    /// Remove every pending injected fault.
    pub fn clear_faults(&self) {
        let mut store = self.lock();
        store.faults.clear();
        store.countdown = None;
    }

    /// Number of resources stored.
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        // A poisoned lock only means another test thread panicked; the data is still consistent
        // because every mutation below is a single insert/remove.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Count a remote call and pop an injected fault for `op`.
    fn remote(&self, store: &mut Store, op: Operation) -> Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some((k, _)) = &mut store.countdown {
            if *k > 1 {
                *k -= 1;
            } else if let Some((_, err)) = store.countdown.take() {
                return Err(err);
            }
        }
        if let Some(pos) = store.faults.iter().position(|(o, _)| *o == op) {
            let (_, err) = store.faults.remove(pos).expect("position is valid");
            return Err(err);
        }
        Ok(())
    }

    fn meta(&self, kind: ResourceKind, id: &str, name: &str, spec: &ResourceSpec) -> ResourceMeta {
        let now = Utc::now();
        let common = spec.common();
        let mut meta = ResourceMeta::new(&self.info.id, &self.dock_id, kind, id, name)
            .with_status(ResourceStatus::Active);
        meta.tenant = common.tenant.clone();
        meta.labels = common.labels.clone();
        meta.created_at = Some(now);
        meta.updated_at = Some(now);
        meta.set_provider_data(
            serde_json::json!({ "id": id, "options": common.options }),
            |_| {},
        );
        meta
    }

    /// The natural key of a spec: resources with the same key are "the same".
    fn natural_key(spec: &ResourceSpec) -> Option<String> {
        match spec {
            ResourceSpec::Deployment(_) => None, // every deployment is new
            ResourceSpec::DnsRecord(r) => {
                Some(format!("{} {} {}", r.name, r.data.record_type(), r.data))
            }
            other => Some(other.name().to_owned()),
        }
    }

    fn key_of(resource: &Resource) -> Option<String> {
        match resource {
            Resource::Deployment(_) => None,
            Resource::DnsRecord(r) => Some(format!(
                "{} {} {}",
                r.meta.name,
                r.data.record_type(),
                r.data
            )),
            other => Some(other.name().to_owned()),
        }
    }

    fn parent_of(resource: &Resource) -> Option<&str> {
        match resource {
            Resource::Deployment(d) => Some(&d.service_id),
            Resource::Domain(d) => d.service_id.as_deref(),
            Resource::DnsRecord(r) => Some(&r.zone),
            Resource::Mailbox(m) => Some(&m.domain),
            Resource::MailForwarder(f) => Some(&f.domain),
            Resource::WebService(w) => w.server_id.as_deref(),
            _ => None,
        }
    }

    fn materialize(
        &self,
        store: &Store,
        id: &str,
        spec: &ResourceSpec,
        previous: Option<&Resource>,
    ) -> Result<Resource> {
        let kind = spec.kind();
        let mut meta = self.meta(kind, id, spec.name(), spec);
        if let Some(prev) = previous {
            meta.created_at = prev.meta().created_at;
        }
        Ok(match spec {
            ResourceSpec::Server(s) => Resource::Server(Server {
                meta,
                region: s.region.clone().or(Some("local-1".into())),
                plan: s.plan.clone(),
                ipv4: s.ipv4.clone().or(Some("192.0.2.10".into())),
                ipv6: None,
                os: Some("debian-12".into()),
                progress_percent: Some(100),
                install_command: None,
            }),
            ResourceSpec::WebService(s) => Resource::WebService(WebService {
                url: Some(format!("https://{}.memory.invalid", slugify(&s.name))),
                urls: vec![format!("https://{}.memory.invalid", slugify(&s.name))],
                server_id: s.server_id.clone(),
                framework: s.framework.clone(),
                runtime: s.runtime.clone(),
                repository: s.repository.clone(),
                region: s.region.clone(),
                environment: Some("production".into()),
                meta,
            }),
            ResourceSpec::Deployment(s) => {
                let service = store
                    .items
                    .values()
                    .find(|r| {
                        r.kind() == ResourceKind::WebService
                            && (r.id().id == s.service || r.name() == s.service)
                    })
                    .ok_or_else(|| Error::not_found(format!("web service {}", s.service)))?;
                meta.name = format!("{}-{}", service.name(), id);
                Resource::Deployment(Deployment {
                    service_id: service.id().id,
                    url: Some(format!(
                        "https://{}-{}.memory.invalid",
                        slugify(service.name()),
                        id
                    )),
                    environment: s.environment.clone().or(Some("preview".into())),
                    git_ref: s.git_ref.clone(),
                    commit_sha: s.commit_sha.clone(),
                    provisioning: ProvisioningState::Provisioned,
                    meta,
                })
            }
            ResourceSpec::Domain(s) => Resource::Domain(Domain {
                service_id: s.service_id.clone(),
                verified: Some(true),
                verification: Vec::new(),
                ssl: Some(s.ssl.unwrap_or(true)),
                redirect: s.redirect.clone(),
                nameservers: vec!["ns1.memory.invalid".into(), "ns2.memory.invalid".into()],
                expires_at: None,
                meta,
            }),
            ResourceSpec::Database(s) => {
                let owner = s
                    .owner
                    .clone()
                    .unwrap_or_else(|| format!("{}_owner", s.name));
                let password = match (&s.password, previous) {
                    (Some(p), _) => Some(p.clone()),
                    (None, Some(Resource::Database(prev))) => {
                        prev.connection.as_ref().and_then(|c| c.password.clone())
                    }
                    (None, _) => Some(SecretString::from(
                        Alphanumeric.sample_string(&mut rand::thread_rng(), 32),
                    )),
                };
                Resource::Database(Database {
                    engine: "memory".into(),
                    owner: Some(owner.clone()),
                    size_bytes: Some(0),
                    connection_limit: s.connection_limit,
                    connection: Some(
                        ConnectionDetails::new("postgres", "localhost", 5432, &s.name, owner)
                            .with_password(password),
                    ),
                    meta,
                })
            }
            ResourceSpec::DnsZone(s) => Resource::DnsZone(DnsZone {
                serial: Some(1),
                nameservers: if s.nameservers.is_empty() {
                    vec!["ns1.memory.invalid".into(), "ns2.memory.invalid".into()]
                } else {
                    s.nameservers.clone()
                },
                meta,
            }),
            ResourceSpec::DnsRecord(s) => {
                if !store
                    .items
                    .values()
                    .any(|r| r.kind() == ResourceKind::DnsZone && r.name() == s.zone)
                {
                    return Err(Error::not_found(format!("zone {}", s.zone)));
                }
                Resource::DnsRecord(DnsRecord {
                    zone: s.zone.clone(),
                    ttl: s.ttl.unwrap_or(3600),
                    data: s.data.clone(),
                    meta,
                })
            }
            ResourceSpec::Mailbox(s) => {
                if previous.is_none() && s.password.is_none() {
                    return Err(Error::invalid_input(
                        "password",
                        "a new mailbox needs a password",
                    ));
                }
                Resource::Mailbox(Mailbox {
                    domain: s
                        .address
                        .rsplit_once('@')
                        .map(|(_, d)| d.to_owned())
                        .unwrap_or_default(),
                    quota_bytes: s.quota_bytes,
                    enabled: s.enabled,
                    meta,
                })
            }
            ResourceSpec::MailForwarder(s) => Resource::MailForwarder(MailForwarder {
                domain: s
                    .source
                    .rsplit_once('@')
                    .map(|(_, d)| d.to_owned())
                    .unwrap_or_default(),
                destinations: s.destinations.clone(),
                enabled: s.enabled,
                meta,
            }),
        })
    }

    /// `observe` after the checks: the "remote" part.
    fn observe_now(&self, id: &ResourceId, desired: Option<Canonical<'_>>) -> Result<Observation> {
        let op = || Operation::Observe.on(id.kind);
        let mut store = self.lock();
        self.remote(&mut store, Operation::Observe)
            .map_err(|e| e.with_operation(op()))?;
        Ok(match store.items.get(&(id.kind, id.id.clone())) {
            Some(resource) => Observation::of_checked(resource.clone(), desired),
            None => Observation::absent(),
        })
    }

    /// `create` after the checks: the "remote" part.
    fn create_now(&self, spec: Canonical<'_>) -> Result<Created> {
        let kind = spec.kind();
        let op = || Operation::Create.on(kind);
        let mut store = self.lock();
        self.remote(&mut store, Operation::Create)
            .map_err(|e| e.with_operation(op()))?;
        if let Some(key) = Self::natural_key(&spec) {
            let existing = store
                .items
                .values()
                .find(|r| r.kind() == kind && Self::key_of(r).as_deref() == Some(key.as_str()));
            if let Some(existing) = existing {
                if existing.meta().tenant.as_deref() != spec.tenant() {
                    return Err(Error::already_exists(format!(
                        "{kind} {key} belongs to another tenant"
                    ))
                    .with_operation(op()));
                }
                let (diff, _) = spec.diff(existing);
                if !diff.is_empty() {
                    let fields: Vec<_> = diff.iter().map(|d| d.field.as_str()).collect();
                    return Err(Error::conflict(format!(
                        "{kind} {key} exists with different {}",
                        fields.join(", ")
                    ))
                    .with_operation(op()));
                }
                return Ok(Created::adopted(existing.clone()));
            }
        }
        store.next_id += 1;
        let id = format!("{}_{:06}", id_prefix(kind), store.next_id);
        let resource = self
            .materialize(&store, &id, &spec, None)
            .map_err(|e| e.with_operation(op()))?;
        store.items.insert((kind, id), resource.clone());
        Ok(Created::new(resource))
    }

    /// `update` after the checks: the "remote" part.
    fn update_now(&self, id: &ResourceId, spec: Canonical<'_>) -> Result<Resource> {
        let op = || Operation::Update.on(id.kind);
        let mut store = self.lock();
        self.remote(&mut store, Operation::Update)
            .map_err(|e| e.with_operation(op()))?;
        let key = (id.kind, id.id.clone());
        let previous = store
            .items
            .get(&key)
            .cloned()
            .ok_or_else(|| Error::not_found(id.to_string()).with_operation(op()))?;
        if previous.meta().tenant.as_deref() != spec.tenant() {
            // Another tenant's resource is invisible to this request.
            return Err(Error::not_found(id.to_string()).with_operation(op()));
        }
        if Self::natural_key(&spec) != Self::key_of(&previous) && id.kind != ResourceKind::DnsRecord
        {
            return Err(
                Error::invalid_input("name", "cannot be changed by an update").with_operation(op()),
            );
        }
        let resource = self
            .materialize(&store, &id.id, &spec, Some(&previous))
            .map_err(|e| e.with_operation(op()))?;
        store.items.insert(key, resource.clone());
        Ok(resource)
    }
}

fn slugify(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn id_prefix(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Server => "srv",
        ResourceKind::WebService => "svc",
        ResourceKind::Deployment => "dpl",
        ResourceKind::Domain => "dom",
        ResourceKind::Database => "db",
        ResourceKind::DnsZone => "zone",
        ResourceKind::DnsRecord => "rec",
        ResourceKind::Mailbox => "mbx",
        ResourceKind::MailForwarder => "fwd",
    }
}

#[async_trait]
impl DockAdapter for InMemoryAdapter {
    fn provider(&self) -> &ProviderInfo {
        &self.info
    }

    fn dock_id(&self) -> &str {
        &self.dock_id
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::new().with_arguments(
            Arguments::new()
                .with_tenancy()
                .with_labels()
                .with_list_by_tenant()
                .with_list_by_labels()
                .with_parent_filter()
                .with_max_page_size(MAX_PAGE_SIZE)
                .with_provider_assigned_ids(),
        );
        for kind in ResourceKind::ALL {
            caps = caps.with_kind(kind, Operations::ALL);
        }
        caps.with_kind(ResourceKind::Deployment, Operations::NO_UPDATE)
    }

    async fn check_credentials(&self) -> Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn list(&self, kind: ResourceKind, options: &ListOptions) -> Result<Page<Resource>> {
        let op = || Operation::List.on(kind);
        let page_size = options
            .page_size
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE) as usize;
        let mut store = self.lock();
        self.remote(&mut store, Operation::List)
            .map_err(|e| e.with_operation(op()))?;
        let after = options.cursor.clone();
        let matching: Vec<Resource> = store
            .items
            .range((kind, after.clone().unwrap_or_default())..)
            .filter(|((k, id), _)| *k == kind && Some(id) != after.as_ref())
            .map(|(_, r)| r)
            .filter(|r| {
                options
                    .parent
                    .as_deref()
                    .is_none_or(|p| Self::parent_of(r) == Some(p))
            })
            .filter(|r| options.tenant.is_none() || r.meta().tenant == options.tenant)
            .filter(|r| {
                options
                    .labels
                    .iter()
                    .all(|(k, v)| r.meta().labels.get(k) == Some(v))
            })
            .take(page_size + 1)
            .cloned()
            .collect();
        let mut items = matching;
        let next_cursor = if items.len() > page_size {
            items.truncate(page_size);
            items.last().map(|r| r.id().id)
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        let desired = match desired {
            Some(spec) => {
                let invalid = |e: Error| e.with_operation(Operation::Observe.on(id.kind));
                if spec.kind() != id.kind {
                    return Err(invalid(Error::invalid_input(
                        "kind",
                        "spec kind does not match id",
                    )));
                }
                Some(spec.canonical().map_err(invalid)?)
            }
            None => None,
        };
        self.observe_now(id, desired.as_deref().map(Canonical::trusted))
    }

    fn observe_checked<'a>(
        &'a self,
        id: &'a ResourceId,
        desired: Option<Canonical<'a>>,
    ) -> BoxFuture<'a, Result<Observation>> {
        Box::pin(async move { self.observe_now(id, desired) })
    }

    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        // Validated here too: the adapter stays safe when called bare.
        let spec = spec
            .canonical()
            .map_err(|e| e.with_operation(Operation::Create.on(spec.kind())))?;
        self.create_now(Canonical::trusted(&spec))
    }

    fn create_checked<'a>(&'a self, spec: Canonical<'a>) -> BoxFuture<'a, Result<Created>> {
        Box::pin(async move { self.create_now(spec) })
    }

    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        let op = || Operation::Update.on(id.kind);
        if spec.kind() != id.kind {
            return Err(
                Error::invalid_input("kind", "spec kind does not match id").with_operation(op())
            );
        }
        if id.kind == ResourceKind::Deployment {
            return Err(self.unsupported(Operation::Update, id.kind));
        }
        let spec = spec.canonical().map_err(|e| e.with_operation(op()))?;
        self.update_now(id, Canonical::trusted(&spec))
    }

    fn update_checked<'a>(
        &'a self,
        id: &'a ResourceId,
        spec: Canonical<'a>,
    ) -> BoxFuture<'a, Result<Resource>> {
        Box::pin(async move { self.update_now(id, spec) })
    }

    async fn delete(&self, id: &ResourceId) -> Result<()> {
        let op = || Operation::Delete.on(id.kind);
        let mut store = self.lock();
        self.remote(&mut store, Operation::Delete)
            .map_err(|e| e.with_operation(op()))?;
        if let Some(removed) = store.items.remove(&(id.kind, id.id.clone())) {
            // Children go with their parent, as they do at real providers.
            let parent_key = match removed.kind() {
                ResourceKind::DnsZone => Some(removed.name().to_owned()),
                ResourceKind::WebService => Some(removed.id().id),
                _ => None,
            };
            if let Some(parent) = parent_key {
                store.items.retain(|_, r| {
                    !(matches!(r.kind(), ResourceKind::DnsRecord | ResourceKind::Deployment)
                        && Self::parent_of(r) == Some(parent.as_str()))
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::DnsZoneSpec;
    use crate::ErrorKind;

    fn zone(name: &str) -> ResourceSpec {
        DnsZoneSpec {
            name: name.into(),
            ..Default::default()
        }
        .into()
    }

    #[tokio::test]
    async fn bare_observe_validates_the_desired_spec_before_looking() {
        let adapter = InMemoryAdapter::new("bare");
        let id = adapter.create(&zone("example.com")).await.unwrap().id();
        let calls = adapter.remote_calls();
        // Compared in canonical form, as through the layer.
        let seen = adapter.observe(&id, Some(&zone("Example.COM."))).await;
        assert!(seen.unwrap().up_to_date);
        let err = adapter
            .observe(&id, Some(&zone("not a zone")))
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput { .. }),
            "{err}"
        );
        assert_eq!(
            adapter.remote_calls(),
            calls + 1,
            "rejected before any call"
        );
    }

    #[tokio::test]
    async fn bare_errors_name_the_operation() {
        let adapter = InMemoryAdapter::new("bare");
        let id = adapter.create(&zone("example.com")).await.unwrap().id();
        let observe = Operation::Observe.on(id.kind);
        let create = Operation::Create.on(id.kind);
        adapter.fail_next(Operation::Observe, Error::not_found("gone"));
        let err = adapter.observe(&id, None).await.unwrap_err();
        assert_eq!(err.operation(), Some(observe.as_str()));
        adapter.fail_next(Operation::Create, Error::not_found("gone"));
        let err = adapter.create(&zone("example.org")).await.unwrap_err();
        assert_eq!(err.operation(), Some(create.as_str()));
        let err = adapter.create(&zone("not a zone")).await.unwrap_err();
        assert_eq!(err.operation(), Some(create.as_str()));
    }
}
