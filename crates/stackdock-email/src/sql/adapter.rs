//! [`PostfixDovecotAdapter`]: the [`DockAdapter`] over a [`MailStore`].

use std::fmt;

use async_trait::async_trait;
use stackdock_core::spec::{MailForwarderSpec, MailboxSpec, ResourceSpec};
use stackdock_core::{
    Arguments, Capabilities, CreateOutcome, Created, DockAdapter, Error, ListOptions, Observation,
    Operation, Operations, Page, ProviderInfo, Resource, ResourceId, ResourceKind, Result,
};

use super::client::{ListFilter, MailStore, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use super::config::SqlConfig;
use super::schema::CURRENT_VERSION;
use crate::convert::{forwarder_resource, key_of, mailbox_resource, planned_id};
use crate::hash::validate_password;
use crate::model::*;

/// Provider id of this adapter.
pub const PROVIDER_ID: &str = "postfix-dovecot";

/// Mailboxes and forwarders of a Postfix/Dovecot server whose virtual users
/// live in PostgreSQL. Resource ids are the canonical address (mailboxes) and
/// the source address or `@domain` (forwarders), so a create whose outcome was
/// lost can be observed again by the same id.
///
/// Tenancy: with [`SqlConfig::tenant`] set the adapter only ever sees and
/// changes that tenant's rows, and declares no tenancy argument (its specs
/// and list filters name no tenant); without it, it is an operator adapter and a
/// spec's `tenant` decides ownership (and narrows updates to that tenant).
///
/// Build it from configuration with [`PostfixDovecotFactory`](crate::PostfixDovecotFactory)
/// or [`new`](Self::new) (no I/O; the schema is migrated only by an explicit
/// [`MailStore::migrate`]), or with [`connect`](Self::connect), which migrates.
///
/// ```no_run
/// use stackdock_core::{DockAdapter, spec::{MailboxSpec, ResourceSpec}};
/// use stackdock_email::sql::{PostfixDovecotAdapter, SqlConfig};
/// # async fn demo() -> stackdock_core::Result<()> {
/// let adapter = PostfixDovecotAdapter::connect("mail-main", SqlConfig::new("postgres://mailadmin@127.0.0.1/mail")).await?;
/// let mailbox = adapter.create(&ResourceSpec::from(MailboxSpec {
///     address: "alice@example.com".into(),
///     password: Some("Correct-Horse-1".to_owned().into()),
///     ..Default::default()
/// })).await?;
/// adapter.delete(&mailbox.id()).await?;
/// # Ok(()) }
/// ```
pub struct PostfixDovecotAdapter {
    info: ProviderInfo,
    dock_id: String,
    store: MailStore,
    scope: Scope,
    endpoint: Option<String>,
}

impl fmt::Debug for PostfixDovecotAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostfixDovecotAdapter")
            .field("dock_id", &self.dock_id)
            .field("scope", &self.scope)
            .field("store", &self.store)
            .finish()
    }
}

impl PostfixDovecotAdapter {
    /// Connect and apply pending schema migrations.
    pub async fn connect(dock_id: impl Into<String>, config: SqlConfig) -> Result<Self> {
        let adapter = Self::new(dock_id, config)?;
        adapter.store.migrate().await?;
        Ok(adapter)
    }

    /// An adapter for `config` without any I/O: the pool connects on first
    /// use and the schema is not migrated (call
    /// [`store().migrate()`](MailStore::migrate) once per deployment).
    pub fn new(dock_id: impl Into<String>, config: SqlConfig) -> Result<Self> {
        let store = MailStore::open(&config)?;
        let adapter = Self::with_store(dock_id, store, config.scope()?)?;
        Ok(adapter.with_endpoint(config.endpoint()))
    }

    /// Wrap an existing store (no migration).
    pub fn with_store(dock_id: impl Into<String>, store: MailStore, scope: Scope) -> Result<Self> {
        Ok(PostfixDovecotAdapter {
            info: ProviderInfo::new(PROVIDER_ID, "Postfix + Dovecot (PostgreSQL)"),
            dock_id: dock_id.into(),
            store,
            scope,
            endpoint: None,
        })
    }

    /// The `host:port` named in errors and logs (never a credential).
    pub fn with_endpoint(mut self, endpoint: Option<String>) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// The store, for operations beyond the universal ones (add/remove destinations ...).
    pub fn store(&self) -> &MailStore {
        &self.store
    }

    /// The scope this adapter acts in.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The scope for one spec: an operator adapter narrows to the spec's tenant.
    fn scope_for(&self, tenant: Option<&str>) -> Result<Scope> {
        match (&self.scope, tenant) {
            (Scope::All, Some(t)) => Scope::tenant(t),
            (scope, t) => {
                scope.owner_for(t)?;
                Ok(scope.clone())
            }
        }
    }

    fn provider_data(&self, domain: &str) -> serde_json::Value {
        serde_json::json!({ "schema": self.store.schema(), "domain": domain })
    }

    fn mailbox(&self, r: &MailboxRecord) -> Resource {
        mailbox_resource(
            &self.info.id,
            &self.dock_id,
            r,
            self.provider_data(&r.domain),
        )
    }

    fn forwarder(&self, r: &ForwarderRecord) -> Resource {
        forwarder_resource(
            &self.info.id,
            &self.dock_id,
            r,
            self.provider_data(&r.domain),
        )
    }

    async fn update_mailbox(&self, key: &str, s: &MailboxSpec) -> Result<Resource> {
        let s = validated_mailbox(s)?;
        if s.address != key {
            return Err(Error::invalid_input(
                "address",
                "cannot be changed by an update",
            ));
        }
        if let Some(pw) = &s.password {
            validate_password(pw, self.store.hasher().scheme())?;
        }
        // A spec's tenant narrows the update to that tenant's rows.
        let scope = self.scope_for(s.common.tenant.as_deref())?;
        let change = MailboxChange {
            password: s.password.clone(),
            quota_bytes: s.quota_bytes.map(Some),
            enabled: Some(s.enabled),
            labels: Some(s.common.labels.clone()),
        };
        let record = self.store.update_mailbox(&scope, key, &change).await?;
        Ok(self.mailbox(&record))
    }

    async fn update_forwarder(&self, key: &str, s: &MailForwarderSpec) -> Result<Resource> {
        let s = validated_forwarder(s)?;
        if s.source != key {
            return Err(Error::invalid_input(
                "source",
                "cannot be changed by an update",
            ));
        }
        let scope = self.scope_for(s.common.tenant.as_deref())?;
        let record = self
            .store
            .set_forwarder(
                &scope,
                key,
                &s.destinations,
                s.enabled,
                Some(&s.common.labels),
            )
            .await?;
        Ok(self.forwarder(&record))
    }
}

#[async_trait]
impl DockAdapter for PostfixDovecotAdapter {
    fn provider(&self) -> &ProviderInfo {
        &self.info
    }

    fn dock_id(&self) -> &str {
        &self.dock_id
    }

    /// Mailbox password rotation (see [`super::rotation`]).
    fn password_rotation(&self) -> Option<&dyn stackdock_core::extension::PasswordRotation> {
        Some(self)
    }

    fn capabilities(&self) -> Capabilities {
        // Rows carry labels, and the listing query filters by domain and
        // labels. Tenants: an operator dock records the spec's tenant and
        // filters by it; a tenant-scoped dock *is* one tenant (every row it
        // makes is that tenant's), so specs and filters do not name tenants.
        let args = Arguments::new()
            .with_labels()
            .with_list_by_labels()
            .with_parent_filter()
            .with_max_page_size(MAX_PAGE_SIZE);
        let args = match self.scope {
            Scope::All => args.with_tenancy().with_list_by_tenant(),
            _ => args,
        };
        Capabilities::new()
            .with_kind(ResourceKind::Mailbox, Operations::ALL)
            .with_kind(ResourceKind::MailForwarder, Operations::ALL)
            .with_arguments(args)
    }

    fn endpoint(&self) -> Option<String> {
        self.endpoint.clone()
    }

    fn planned_id(&self, spec: &ResourceSpec) -> Option<ResourceId> {
        planned_id(spec)
    }

    async fn check_credentials(&self) -> Result<()> {
        let version = self.store.schema_version().await?;
        if version != CURRENT_VERSION {
            return Err(Error::config(format!(
                "mail schema {} is at version {version}, expected {CURRENT_VERSION}",
                self.store.schema()
            )));
        }
        Ok(())
    }

    async fn list(&self, kind: ResourceKind, options: &ListOptions) -> Result<Page<Resource>> {
        // The domain column holds canonical (lower-case, punycode) names.
        let domain = match &options.parent {
            Some(p) => Some(stackdock_core::validate::domain("parent", p)?),
            None => None,
        };
        if let (Some(t), Some(want)) = (self.scope.as_tenant(), options.tenant.as_deref()) {
            if t != want {
                // Another tenant's rows are never visible to this dock.
                return Ok(Page::last(Vec::new()));
            }
        }
        // The layer caps the size already; the clamp keeps a bare call from
        // asking for more rows than one query returns (a silent truncation).
        let page_size = options
            .page_size
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE);
        let filter = ListFilter {
            domain,
            tenant: options.tenant.clone(),
            labels: options.labels.clone(),
            after: options.cursor.clone(),
            limit: Some(page_size + 1),
        };
        let mut items: Vec<Resource> = match kind {
            ResourceKind::Mailbox => self
                .store
                .list_mailboxes(&self.scope, &filter)
                .await?
                .iter()
                .map(|r| self.mailbox(r))
                .collect(),
            _ => self
                .store
                .list_forwarders(&self.scope, &filter)
                .await?
                .iter()
                .map(|r| self.forwarder(r))
                .collect(),
        };
        let next_cursor = if items.len() > page_size as usize {
            items.truncate(page_size as usize);
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
        let Some(key) = key_of(id.kind, &id.id) else {
            return Ok(Observation::absent());
        };
        let found = match id.kind {
            ResourceKind::Mailbox => self
                .store
                .get_mailbox(&self.scope, &key)
                .await?
                .map(|r| self.mailbox(&r)),
            _ => self
                .store
                .get_forwarder(&self.scope, &key)
                .await?
                .map(|r| self.forwarder(&r)),
        };
        Ok(match found {
            Some(resource) => Observation::of(resource, desired),
            None => Observation::absent(),
        })
    }

    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        let kind = spec.kind();
        let op = Operation::Create.on(kind);
        let (resource, outcome) = match spec {
            ResourceSpec::Mailbox(s) => {
                let new = NewMailbox::from_spec(s).map_err(|e| e.with_operation(op.clone()))?;
                let (record, outcome) =
                    self.store.create_mailbox_outcome(&self.scope, &new).await?;
                (self.mailbox(&record), outcome)
            }
            ResourceSpec::MailForwarder(s) => {
                let new = NewForwarder::from_spec(s).map_err(|e| e.with_operation(op.clone()))?;
                let (record, outcome) = self
                    .store
                    .create_forwarder_outcome(&self.scope, &new)
                    .await?;
                (self.forwarder(&record), outcome)
            }
            _ => return Err(self.unsupported(Operation::Create, kind)),
        };
        Ok(match outcome {
            CreateOutcome::Created => Created::new(resource),
            _ => Created::adopted(resource),
        })
    }

    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        let op = Operation::Update.on(id.kind);
        let key = key_of(id.kind, &id.id).ok_or_else(|| {
            Error::invalid_input("id", "not a valid address").with_operation(op.clone())
        })?;
        match spec {
            ResourceSpec::Mailbox(s) => self.update_mailbox(&key, s).await,
            ResourceSpec::MailForwarder(s) => self.update_forwarder(&key, s).await,
            _ => Err(self.unsupported(Operation::Update, id.kind)),
        }
        .map_err(|e| e.with_operation(op))
    }

    async fn delete(&self, id: &ResourceId) -> Result<()> {
        let Some(key) = key_of(id.kind, &id.id) else {
            return Ok(());
        };
        match id.kind {
            ResourceKind::Mailbox => self.store.delete_mailbox(&self.scope, &key).await?,
            _ => self.store.delete_forwarder(&self.scope, &key).await?,
        };
        Ok(())
    }
}
