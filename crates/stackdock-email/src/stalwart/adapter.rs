//! [`StalwartAdapter`]: mailboxes and forwarders on Stalwart 0.16+.

use std::fmt;

use async_trait::async_trait;
use serde_json::{json, Value};
use stackdock_core::spec::ResourceSpec;
use stackdock_core::{
    Arguments, Capabilities, Created, DockAdapter, Error, ErrorKind, ErrorStatus, ListOptions,
    Observation, Operation, Operations, Page, ProviderInfo, Resource, ResourceId, ResourceKind,
    Result,
};

mod rotation;

use super::client::{required_id, StalwartClient};
use super::config::StalwartConfig;
use crate::convert::{forwarder_resource, key_of, mailbox_resource, planned_id};
use crate::hash::{validate_password, PasswordHash, PasswordHasher};
use crate::model::*;

/// Provider id of this adapter.
pub const PROVIDER_ID: &str = "stalwart";

/// What StackDock writes into an account's `description` to mark it as its own.
pub const OWNER_MARK: &str = "stackdock";

/// Mailboxes (Stalwart `User` accounts) and forwarders (account aliases, or a
/// domain's `catchAllAddress` for `@domain`) on Stalwart 0.16+ through its
/// JMAP management API.
///
/// * Passwords are hashed here and sent as a `$…` crypt string, never in plain text.
/// * Accounts created by StackDock carry `description = "stackdock"` (or
///   `"stackdock tenant=<t>"`): creating over an account without that mark is
///   `AlreadyExists`, and a tenant-scoped adapter sees only its tenant's accounts.
/// * Tenancy is per dock, not per spec: the adapter declares no tenancy
///   argument (a forwarder's tenant is its destination account's), so behind
///   the [`CheckedLayer`](stackdock_core::layer::CheckedLayer) specs and list
///   filters naming a tenant are `Unsupported`; configure one tenant-scoped
///   dock per tenant.
/// * A forwarder has exactly one destination, an existing account (Stalwart
///   aliases deliver to the account that holds them).
/// * A disabled mailbox is an account whose own permissions take away
///   `authenticate` and `emailReceive` (Stalwart has no enabled flag on
///   accounts; these are the permissions its login and delivery check).
///   Enabling it again sets the permissions back to `Inherit`.
/// * Not supported: labels and label filters (refused as `Unsupported` by the
///   [`CheckedLayer`](stackdock_core::layer::CheckedLayer) every dock is
///   wrapped in), disabled catch-alls and several destinations (`InvalidInput`
///   before any request).
/// * Domains are created when first needed and not removed.
/// * Creates of one address take turns within this adapter, so concurrent
///   creates report one `Created` and adopt the rest. Between processes, an
///   account or alias create that loses to another is refused by Stalwart
///   (`primaryKeyViolation`) and adopts the winner; two processes setting the
///   same catch-all at once may both report `Created`.
pub struct StalwartAdapter {
    info: ProviderInfo,
    dock_id: String,
    client: StalwartClient,
    hasher: PasswordHasher,
    scope: Scope,
    endpoint: String,
    /// Creates of one address take turns (striped by a hash of the address).
    turns: Vec<tokio::sync::Mutex<()>>,
}

/// How many create turns (lock stripes) an adapter keeps.
const TURNS: usize = 64;

impl fmt::Debug for StalwartAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StalwartAdapter")
            .field("dock_id", &self.dock_id)
            .field("scope", &self.scope)
            .field("client", &self.client)
            .field("password_scheme", &self.hasher.scheme())
            .finish()
    }
}

fn owner_of(account: &Value) -> Option<Option<String>> {
    let d = account.get("description")?.as_str()?;
    if d == OWNER_MARK {
        return Some(None);
    }
    d.strip_prefix("stackdock tenant=")
        .map(|t| Some(t.to_owned()))
}

fn mark_for(tenant: Option<&str>) -> String {
    match tenant {
        Some(t) => format!("{OWNER_MARK} tenant={t}"),
        None => OWNER_MARK.to_owned(),
    }
}

/// The account's own permissions for a mailbox that is `enabled` or not.
fn permissions_for(enabled: bool) -> Value {
    if enabled {
        return json!({"@type": "Inherit"});
    }
    json!({
        "@type": "Merge",
        "enabledPermissions": {},
        "disabledPermissions": {"authenticate": true, "emailReceive": true},
    })
}

/// Whether the account may log in (see [`permissions_for`]).
fn enabled_of(account: &Value) -> bool {
    let disabled = account
        .pointer("/permissions/disabledPermissions/authenticate")
        .and_then(Value::as_bool);
    disabled != Some(true)
}

fn quota_of(account: &Value) -> Option<u64> {
    account
        .pointer("/quotas/maxDiskQuota")
        .and_then(Value::as_u64)
        .filter(|q| *q > 0)
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The base URL without any user information, for errors and logs.
fn endpoint_of(config: &StalwartConfig) -> String {
    let mut url = config.http.base_url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

fn split(address: &str) -> (&str, &str) {
    address.rsplit_once('@').unwrap_or((address, ""))
}

/// An alias as it is before a move: its account, key and enabled flag.
struct AliasAt<'a> {
    account: &'a Value,
    key: &'a str,
    enabled: bool,
}

/// Where a forwarder lives.
enum Found {
    CatchAll {
        domain_id: String,
        destination: String,
    },
    Alias {
        account: Value,
        key: String,
        enabled: bool,
    },
}

impl StalwartAdapter {
    /// An adapter for `config` (no request is made until first use).
    pub fn new(dock_id: impl Into<String>, config: StalwartConfig) -> Result<Self> {
        Ok(StalwartAdapter {
            info: ProviderInfo::new(PROVIDER_ID, "Stalwart"),
            dock_id: dock_id.into(),
            client: StalwartClient::new(&config)?,
            hasher: config.hasher()?,
            scope: config.scope()?,
            endpoint: endpoint_of(&config),
            turns: (0..TURNS).map(|_| tokio::sync::Mutex::new(())).collect(),
        })
    }

    /// Waits for this adapter's other creates of `key` to finish.
    async fn turn(&self, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        self.turns[(h.finish() % TURNS as u64) as usize]
            .lock()
            .await
    }

    /// The spec's tenant must own what an update changes: a tenant-scoped
    /// request never reaches another tenant's account (`NotFound`).
    fn check_owner(&self, tenant: Option<&str>, owner: &Option<String>, what: &str) -> Result<()> {
        match tenant {
            Some(t) if owner.as_deref() != Some(t) => Err(Error::not_found(what.to_owned())),
            _ => Ok(()),
        }
    }

    /// The JMAP client.
    pub fn client(&self) -> &StalwartClient {
        &self.client
    }

    fn visible(&self, account: &Value) -> bool {
        match &self.scope {
            Scope::All => true,
            Scope::Tenant(t) => owner_of(account) == Some(Some(t.as_str().to_owned())),
        }
    }

    fn mailbox_record(&self, account: &Value, domain: &str) -> MailboxRecord {
        MailboxRecord {
            address: format!("{}@{domain}", str_of(account, "name")),
            domain: domain.to_owned(),
            quota_bytes: quota_of(account),
            enabled: enabled_of(account),
            tenant: owner_of(account).flatten(),
            labels: Default::default(),
            created_at: None,
            updated_at: None,
        }
    }

    fn mailbox(&self, account: &Value, domain: &str) -> Resource {
        let data = json!({"id": account.get("id"), "domainId": account.get("domainId"), "@type": account.get("@type")});
        mailbox_resource(
            &self.info.id,
            &self.dock_id,
            &self.mailbox_record(account, domain),
            data,
        )
    }

    fn forwarder(&self, record: &ForwarderRecord, data: Value) -> Resource {
        forwarder_resource(&self.info.id, &self.dock_id, record, data)
    }

    async fn hash(&self, password: &stackdock_core::secret::SecretString) -> Result<PasswordHash> {
        let hasher = self.hasher;
        let password = password.clone();
        tokio::task::spawn_blocking(move || hasher.hash(&password))
            .await
            .map_err(|_| Error::internal("password hashing task failed"))?
    }

    /// The visible account for a canonical address.
    async fn account(&self, address: &str) -> Result<Option<(Value, String)>> {
        let (local, domain) = split(address);
        let Some(d) = self.client.find_domain(domain).await? else {
            return Ok(None);
        };
        let domain_id = required_id(&d, "domain")?;
        Ok(self
            .client
            .find_account(local, &domain_id)
            .await?
            .filter(|a| self.visible(a) && str_of(a, "@type") == "User")
            .map(|a| (a, domain_id)))
    }

    async fn find_forwarder(&self, source: &str) -> Result<Option<Found>> {
        let (local, domain) = split(source);
        let Some(d) = self.client.find_domain(domain).await? else {
            return Ok(None);
        };
        let domain_id = required_id(&d, "domain")?;
        if local.is_empty() {
            return Ok(d
                .get("catchAllAddress")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
                .map(|a| Found::CatchAll {
                    domain_id,
                    destination: a.to_owned(),
                }));
        }
        for account in self.client.all_accounts(None).await? {
            let Some(aliases) = account.get("aliases").and_then(Value::as_object) else {
                continue;
            };
            let hit = aliases
                .iter()
                .find(|(_, a)| str_of(a, "name") == local && str_of(a, "domainId") == domain_id);
            if let Some((key, alias)) = hit {
                let enabled = alias
                    .get("enabled")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                let key = key.clone();
                return Ok(Some(Found::Alias {
                    account,
                    key,
                    enabled,
                }));
            }
        }
        Ok(None)
    }

    /// The forwarder record, if visible.
    async fn forwarder_record(
        &self,
        source: &str,
        found: &Found,
    ) -> Result<Option<(ForwarderRecord, Value)>> {
        let (destination, enabled, tenant, data) = match found {
            Found::CatchAll {
                domain_id,
                destination,
            } => {
                let owner = match self.account(destination).await? {
                    Some((a, _)) => owner_of(&a).flatten(),
                    None if self.scope == Scope::All => None,
                    None => return Ok(None),
                };
                (
                    destination.clone(),
                    true,
                    owner,
                    json!({"domainId": domain_id, "catchAll": true}),
                )
            }
            Found::Alias {
                account,
                key,
                enabled,
            } => {
                if !self.visible(account) {
                    return Ok(None);
                }
                let names = self
                    .client
                    .domain_names(&[str_of(account, "domainId").to_owned()])
                    .await?;
                let domain = names
                    .get(str_of(account, "domainId"))
                    .cloned()
                    .unwrap_or_default();
                let data = json!({"accountId": account.get("id"), "aliasKey": key});
                (
                    format!("{}@{domain}", str_of(account, "name")),
                    *enabled,
                    owner_of(account).flatten(),
                    data,
                )
            }
        };
        let record = ForwarderRecord {
            source: source.to_owned(),
            domain: domain_of(source).to_owned(),
            destinations: vec![destination],
            enabled,
            tenant,
            labels: Default::default(),
            created_at: None,
        };
        Ok(Some((record, data)))
    }

    fn check_mailbox_spec(
        &self,
        spec: &stackdock_core::spec::MailboxSpec,
    ) -> Result<stackdock_core::spec::MailboxSpec> {
        let s = validated_mailbox(spec)?;
        if let Some(pw) = &s.password {
            validate_password(pw, self.hasher.scheme())?;
        }
        self.scope.owner_for(s.common.tenant.as_deref())?;
        Ok(s)
    }

    fn check_forwarder_spec(
        &self,
        spec: &stackdock_core::spec::MailForwarderSpec,
    ) -> Result<NewForwarder> {
        let f = NewForwarder::from_spec(spec)?;
        if f.destinations.len() != 1 {
            return Err(Error::invalid_input(
                "destinations",
                "a Stalwart alias delivers to exactly one account",
            ));
        }
        if f.source.starts_with('@') && !f.enabled {
            return Err(Error::invalid_input(
                "enabled",
                "a Stalwart catch-all cannot be disabled; delete it",
            ));
        }
        self.scope.owner_for(f.tenant.as_deref())?;
        Ok(f)
    }

    /// The destination account, which must exist, be visible and belong to `owner`.
    async fn destination(&self, address: &str, owner: &Option<String>) -> Result<Value> {
        let bad = || {
            Error::invalid_input(
                "destinations",
                "must be an existing Stalwart account of the same tenant",
            )
        };
        let (account, _) = self.account(address).await?.ok_or_else(bad)?;
        if (self.scope != Scope::All || owner.is_some()) && owner_of(&account).flatten() != *owner {
            return Err(bad());
        }
        Ok(account)
    }

    /// Adds alias `source` to `account`; returns the key it was written
    /// under and the alias domain's id.
    async fn add_alias(
        &self,
        account: &Value,
        source: &str,
        enabled: bool,
    ) -> Result<(u64, String)> {
        let (local, domain) = split(source);
        let domain_id = self.client.ensure_domain(domain).await?;
        let next = account
            .get("aliases")
            .and_then(Value::as_object)
            .map(|a| {
                a.keys()
                    .filter_map(|k| k.parse::<u64>().ok())
                    .max()
                    .map_or(0, |m| m + 1)
            })
            .unwrap_or(0);
        let id = required_id(account, "account")?;
        let patch = json!({ format!("aliases/{next}"): {"name": local, "domainId": domain_id, "enabled": enabled} });
        self.client.update_account(&id, patch).await?;
        Ok((next, domain_id))
    }

    /// After adding alias `source` under key `mine`: when another process
    /// added the same alias to the account at the same time (under another
    /// key), the lowest key is kept and the others are removed by their
    /// writers. Returns whether `mine` is the one kept.
    async fn keep_one_alias(
        &self,
        holder: &Value,
        source: &str,
        (mine, domain_id): (u64, String),
    ) -> Result<bool> {
        let (local, _) = split(source);
        let (name, home) = (str_of(holder, "name"), str_of(holder, "domainId"));
        let Some(account) = self.client.find_account(name, home).await? else {
            return Ok(true);
        };
        let lowest = account
            .get("aliases")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(_, a)| str_of(a, "name") == local && str_of(a, "domainId") == domain_id)
            .filter_map(|(k, _)| k.parse::<u64>().ok())
            .min();
        match lowest {
            Some(first) if first < mine => {
                self.remove_alias(&account, &mine.to_string()).await?;
                Ok(false)
            }
            _ => Ok(true),
        }
    }

    async fn remove_alias(&self, account: &Value, key: &str) -> Result<()> {
        let id = required_id(account, "account")?;
        self.client
            .update_account(&id, json!({ format!("aliases/{key}"): null }))
            .await
    }

    /// An existing account for a mailbox create: ours with the same quota
    /// and enabled flag is adopted, another owner's is `AlreadyExists`, a
    /// difference is `Conflict`. (Stalwart masks secrets on get, so the
    /// password cannot be compared; it is kept.)
    fn adopt_account(
        &self,
        existing: &Value,
        owner: &Option<String>,
        s: &stackdock_core::spec::MailboxSpec,
    ) -> Result<Created> {
        if owner_of(existing).as_ref() != Some(owner) {
            return Err(Error::already_exists(format!(
                "account {} is not ours",
                s.address
            )));
        }
        if s.quota_bytes.is_some() && quota_of(existing) != s.quota_bytes {
            return Err(Error::conflict(format!(
                "account {} exists with a different quota",
                s.address
            )));
        }
        if enabled_of(existing) != s.enabled {
            return Err(Error::conflict(format!(
                "account {} exists with a different enabled flag",
                s.address
            )));
        }
        Ok(Created::adopted(
            self.mailbox(existing, domain_of(&s.address)),
        ))
    }

    /// Move alias `source` to account `to`. Stalwart keeps an alias unique,
    /// so it is freed first and put back if the move fails; when putting it
    /// back fails too, the error says the forwarder is gone (never silently).
    async fn move_alias(
        &self,
        from: AliasAt<'_>,
        to: &Value,
        source: &str,
        enabled: bool,
    ) -> Result<()> {
        self.remove_alias(from.account, from.key).await?;
        let Err(moved) = self.add_alias(to, source, enabled).await else {
            return Ok(());
        };
        let Err(restore) = self.add_alias(from.account, source, from.enabled).await else {
            return Err(moved);
        };
        let move_error = moved.to_string();
        Err(moved
            .with_message(format!(
                "forwarder {source} was freed for the move and could not be put back: \
                 it no longer exists; create it again"
            ))
            .with_context("move_error", move_error)
            .with_context("restore_error", restore.to_string())
            .with_status(ErrorStatus::Permanent))
    }

    async fn create_forwarder(&self, f: NewForwarder) -> Result<Created> {
        let owner = self.scope.owner_for(f.tenant.as_deref())?;
        let _turn = self.turn(&f.source).await;
        let destination = &f.destinations[0];
        if let Some(found) = self.find_forwarder(&f.source).await? {
            let Some((record, data)) = self.forwarder_record(&f.source, &found).await? else {
                return Err(Error::already_exists(format!(
                    "forwarder {} belongs to another tenant",
                    f.source
                )));
            };
            if record.tenant != owner {
                return Err(Error::already_exists(format!(
                    "forwarder {} belongs to another tenant",
                    f.source
                )));
            }
            if record.destinations != f.destinations || record.enabled != f.enabled {
                return Err(Error::conflict(format!(
                    "forwarder {} exists with different destinations or enabled flag",
                    f.source
                )));
            }
            return Ok(Created::adopted(self.forwarder(&record, data)));
        }
        let account = self.destination(destination, &owner).await?;
        if f.source.starts_with('@') {
            let domain_id = self.client.ensure_domain(domain_of(&f.source)).await?;
            self.client
                .update_domain(&domain_id, json!({"catchAllAddress": destination}))
                .await?;
        } else {
            let key = match self.add_alias(&account, &f.source, f.enabled).await {
                // Another process added it first: adopt theirs, or refuse.
                Err(e) if e.kind() == &ErrorKind::AlreadyExists => {
                    return self.adopt_raced_forwarder(&f, &owner, e).await;
                }
                added => added?,
            };
            if !self.keep_one_alias(&account, &f.source, key).await? {
                let lost = Error::already_exists(format!("forwarder {}", f.source));
                return self.adopt_raced_forwarder(&f, &owner, lost).await;
            }
        }
        let found = self
            .find_forwarder(&f.source)
            .await?
            .ok_or_else(|| Error::invalid_response("forwarder not found right after create"))?;
        let (record, data) = self
            .forwarder_record(&f.source, &found)
            .await?
            .ok_or_else(|| Error::invalid_response("forwarder not visible right after create"))?;
        Ok(Created::new(self.forwarder(&record, data)))
    }

    /// A forwarder another process created while this one was adding it:
    /// ours and the same is adopted; otherwise the add's error stands.
    async fn adopt_raced_forwarder(
        &self,
        f: &NewForwarder,
        owner: &Option<String>,
        lost: Error,
    ) -> Result<Created> {
        let Some(found) = self.find_forwarder(&f.source).await? else {
            return Err(lost);
        };
        match self.forwarder_record(&f.source, &found).await? {
            Some((record, data))
                if &record.tenant == owner
                    && record.destinations == f.destinations
                    && record.enabled == f.enabled =>
            {
                Ok(Created::adopted(self.forwarder(&record, data)))
            }
            _ => Err(lost),
        }
    }
}

#[async_trait]
impl DockAdapter for StalwartAdapter {
    fn provider(&self) -> &ProviderInfo {
        &self.info
    }

    fn dock_id(&self) -> &str {
        &self.dock_id
    }

    fn capabilities(&self) -> Capabilities {
        // No tenancy argument: a forwarder is an alias held by its
        // destination account, so its tenant is that account's and cannot be
        // chosen per spec. Tenants are separated by tenant-scoped docks
        // (`StalwartConfig::with_tenant`) instead. Nothing carries labels.
        let args = Arguments::new().with_parent_filter();
        Capabilities::new()
            .with_kind(ResourceKind::Mailbox, Operations::ALL)
            .with_kind(ResourceKind::MailForwarder, Operations::ALL)
            .with_arguments(args)
    }

    fn endpoint(&self) -> Option<String> {
        Some(self.endpoint.clone())
    }

    fn planned_id(&self, spec: &ResourceSpec) -> Option<ResourceId> {
        planned_id(spec)
    }

    async fn check_credentials(&self) -> Result<()> {
        self.client
            .call(
                "check credentials",
                vec![("x:Domain/query", json!({"filter": {}, "limit": 1}))],
                true,
            )
            .await
            .map(drop)
    }

    async fn list(&self, kind: ResourceKind, options: &ListOptions) -> Result<Page<Resource>> {
        // Domains are compared in canonical (lower-case, punycode) form.
        let parent = match &options.parent {
            Some(p) => Some(stackdock_core::validate::domain("parent", p)?),
            None => None,
        };
        let tenant_ok = |t: &Option<String>| options.tenant.is_none() || *t == options.tenant;
        let accounts = self.client.all_accounts(None).await?;
        let mut ids: Vec<String> = accounts
            .iter()
            .map(|a| str_of(a, "domainId").to_owned())
            .collect();
        for a in &accounts {
            if let Some(aliases) = a.get("aliases").and_then(Value::as_object) {
                ids.extend(aliases.values().map(|al| str_of(al, "domainId").to_owned()));
            }
        }
        ids.sort();
        ids.dedup();
        let names = self.client.domain_names(&ids).await?;
        let mut items = Vec::new();
        if kind == ResourceKind::Mailbox {
            for a in accounts
                .iter()
                .filter(|a| self.visible(a) && str_of(a, "@type") == "User")
            {
                let domain = names
                    .get(str_of(a, "domainId"))
                    .cloned()
                    .unwrap_or_default();
                let r = self.mailbox(a, &domain);
                if parent.as_deref().is_none_or(|p| p == domain) && tenant_ok(&r.meta().tenant) {
                    items.push(r);
                }
            }
        } else {
            for a in accounts.iter().filter(|a| self.visible(a)) {
                let Some(aliases) = a.get("aliases").and_then(Value::as_object) else {
                    continue;
                };
                let home = names
                    .get(str_of(a, "domainId"))
                    .cloned()
                    .unwrap_or_default();
                for (key, al) in aliases {
                    let domain = names
                        .get(str_of(al, "domainId"))
                        .cloned()
                        .unwrap_or_default();
                    let record = ForwarderRecord {
                        source: format!("{}@{domain}", str_of(al, "name")),
                        domain: domain.clone(),
                        destinations: vec![format!("{}@{home}", str_of(a, "name"))],
                        enabled: al.get("enabled").and_then(Value::as_bool).unwrap_or(true),
                        tenant: owner_of(a).flatten(),
                        labels: Default::default(),
                        created_at: None,
                    };
                    if parent.as_deref().is_none_or(|p| p == domain) && tenant_ok(&record.tenant) {
                        items.push(self.forwarder(
                            &record,
                            json!({"accountId": a.get("id"), "aliasKey": key}),
                        ));
                    }
                }
            }
            for d in self.client.all_domains().await? {
                let Some(dest) = d
                    .get("catchAllAddress")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                else {
                    continue;
                };
                let source = format!("@{}", str_of(&d, "name"));
                let found = Found::CatchAll {
                    domain_id: required_id(&d, "domain")?,
                    destination: dest.to_owned(),
                };
                if let Some((record, data)) = self.forwarder_record(&source, &found).await? {
                    if parent.as_deref().is_none_or(|p| p == record.domain)
                        && tenant_ok(&record.tenant)
                    {
                        items.push(self.forwarder(&record, data));
                    }
                }
            }
        }
        Ok(page_of(items, options))
    }

    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        let Some(key) = key_of(id.kind, &id.id) else {
            return Ok(Observation::absent());
        };
        let resource = if id.kind == ResourceKind::Mailbox {
            self.account(&key)
                .await?
                .map(|(a, _)| self.mailbox(&a, domain_of(&key)))
        } else {
            match self.find_forwarder(&key).await? {
                Some(found) => self
                    .forwarder_record(&key, &found)
                    .await?
                    .map(|(r, d)| self.forwarder(&r, d)),
                None => None,
            }
        };
        Ok(match resource {
            Some(r) => Observation::of(r, desired),
            None => Observation::absent(),
        })
    }

    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        let kind = spec.kind();
        let op = Operation::Create.on(kind);
        match spec {
            ResourceSpec::Mailbox(s) => {
                let s = self
                    .check_mailbox_spec(s)
                    .map_err(|e| e.with_operation(op.clone()))?;
                let password = s.password.clone().ok_or_else(|| {
                    Error::invalid_input("password", "a new mailbox needs a password")
                        .with_operation(op.clone())
                })?;
                let owner = self
                    .scope
                    .owner_for(s.common.tenant.as_deref())
                    .map_err(|e| e.with_operation(op.clone()))?;
                let hash = self
                    .hash(&password)
                    .await
                    .map_err(|e| e.with_operation(op.clone()))?;
                let (local, domain) = split(&s.address);
                let _turn = self.turn(&s.address).await;
                let domain_id = self.client.ensure_domain(domain).await?;
                if let Some(existing) = self.client.find_account(local, &domain_id).await? {
                    return self
                        .adopt_account(&existing, &owner, &s)
                        .map_err(|e| e.with_operation(op));
                }
                let mut account = json!({
                    "@type": "User",
                    "name": local,
                    "domainId": domain_id,
                    "description": mark_for(owner.as_deref()),
                    "credentials": {"0": {"@type": "Password", "secret": hash.crypt()}},
                    "roles": {"@type": "User"},
                    "permissions": permissions_for(s.enabled),
                    "encryptionAtRest": {"@type": "Disabled"},
                });
                if let Some(q) = s.quota_bytes {
                    account["quotas"] = json!({"maxDiskQuota": q});
                }
                let id = match self.client.create_account(account.clone()).await {
                    Err(e) if e.kind() == &ErrorKind::AlreadyExists => {
                        // A concurrent create won the name: adopt theirs or conflict.
                        let existing = self.client.find_account(local, &domain_id).await?;
                        let existing = existing.ok_or(e)?;
                        return self
                            .adopt_account(&existing, &owner, &s)
                            .map_err(|e| e.with_operation(op));
                    }
                    created => created?,
                };
                account["id"] = json!(id);
                Ok(Created::new(self.mailbox(&account, domain)))
            }
            ResourceSpec::MailForwarder(s) => {
                let f = self
                    .check_forwarder_spec(s)
                    .map_err(|e| e.with_operation(op.clone()))?;
                self.create_forwarder(f)
                    .await
                    .map_err(|e| e.with_operation(op))
            }
            _ => Err(self.unsupported(Operation::Create, kind)),
        }
    }

    /// Mailbox password rotation (see the `rotation` module).
    fn password_rotation(&self) -> Option<&dyn stackdock_core::extension::PasswordRotation> {
        Some(self)
    }

    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        let op = Operation::Update.on(id.kind);
        let key = key_of(id.kind, &id.id).ok_or_else(|| {
            Error::invalid_input("id", "not a valid address").with_operation(op.clone())
        })?;
        match spec {
            ResourceSpec::Mailbox(s) => {
                let s = self
                    .check_mailbox_spec(s)
                    .map_err(|e| e.with_operation(op.clone()))?;
                if s.address != key {
                    return Err(
                        Error::invalid_input("address", "cannot be changed by an update")
                            .with_operation(op),
                    );
                }
                let hash = match &s.password {
                    Some(pw) => Some(
                        self.hash(pw)
                            .await
                            .map_err(|e| e.with_operation(op.clone()))?,
                    ),
                    None => None,
                };
                let (mut account, _) = self.account(&key).await?.ok_or_else(|| {
                    Error::not_found(format!("mailbox {key}")).with_operation(op.clone())
                })?;
                self.check_owner(
                    s.common.tenant.as_deref(),
                    &owner_of(&account).flatten(),
                    &format!("mailbox {key}"),
                )
                .map_err(|e| e.with_operation(op.clone()))?;
                let mut patch = serde_json::Map::new();
                if let Some(h) = &hash {
                    patch.insert("credentials/0/secret".into(), json!(h.crypt()));
                }
                if let Some(q) = s.quota_bytes {
                    patch.insert("quotas".into(), json!({"maxDiskQuota": q}));
                    account["quotas"] = json!({"maxDiskQuota": q});
                }
                if enabled_of(&account) != s.enabled {
                    patch.insert("permissions".into(), permissions_for(s.enabled));
                    account["permissions"] = permissions_for(s.enabled);
                }
                if !patch.is_empty() {
                    let account_id = required_id(&account, "account")?;
                    self.client
                        .update_account(&account_id, Value::Object(patch))
                        .await?;
                }
                Ok(self.mailbox(&account, domain_of(&key)))
            }
            ResourceSpec::MailForwarder(s) => {
                let f = self
                    .check_forwarder_spec(s)
                    .map_err(|e| e.with_operation(op.clone()))?;
                if f.source != key {
                    return Err(
                        Error::invalid_input("source", "cannot be changed by an update")
                            .with_operation(op),
                    );
                }
                let found = self.find_forwarder(&key).await?;
                let Some(found) = found else {
                    return Err(Error::not_found(format!("forwarder {key}")).with_operation(op));
                };
                let Some((record, _)) = self.forwarder_record(&key, &found).await? else {
                    return Err(Error::not_found(format!("forwarder {key}")).with_operation(op));
                };
                let owner = record.tenant.clone();
                self.check_owner(f.tenant.as_deref(), &owner, &format!("forwarder {key}"))
                    .map_err(|e| e.with_operation(op.clone()))?;
                let new_dest = self
                    .destination(&f.destinations[0], &owner)
                    .await
                    .map_err(|e| e.with_operation(op.clone()))?;
                match &found {
                    Found::CatchAll { domain_id, .. } => {
                        self.client
                            .update_domain(domain_id, json!({"catchAllAddress": f.destinations[0]}))
                            .await?;
                    }
                    Found::Alias {
                        account,
                        key: alias_key,
                        ..
                    } => {
                        if required_id(account, "account")? == required_id(&new_dest, "account")? {
                            let (local, _) = split(&key);
                            let domain_id = self.client.ensure_domain(domain_of(&key)).await?;
                            let patch = json!({ format!("aliases/{alias_key}"): {"name": local, "domainId": domain_id, "enabled": f.enabled} });
                            self.client
                                .update_account(&required_id(account, "account")?, patch)
                                .await?;
                        } else {
                            let from = AliasAt {
                                account,
                                key: alias_key,
                                enabled: record.enabled,
                            };
                            self.move_alias(from, &new_dest, &key, f.enabled)
                                .await
                                .map_err(|e| e.with_operation(op.clone()))?;
                        }
                    }
                }
                let found = self
                    .find_forwarder(&key)
                    .await?
                    .ok_or_else(|| Error::invalid_response("forwarder vanished after update"))?;
                let (record, data) = self
                    .forwarder_record(&key, &found)
                    .await?
                    .ok_or_else(|| Error::invalid_response("forwarder not visible after update"))?;
                Ok(self.forwarder(&record, data))
            }
            _ => Err(self.unsupported(Operation::Update, id.kind)),
        }
    }

    async fn delete(&self, id: &ResourceId) -> Result<()> {
        let Some(key) = key_of(id.kind, &id.id) else {
            return Ok(());
        };
        if id.kind == ResourceKind::Mailbox {
            if let Some((account, _)) = self.account(&key).await? {
                self.client
                    .destroy_account(&required_id(&account, "account")?)
                    .await?;
            }
            return Ok(());
        }
        let Some(found) = self.find_forwarder(&key).await? else {
            return Ok(());
        };
        if self.forwarder_record(&key, &found).await?.is_none() {
            return Ok(()); // another tenant's: not ours to delete
        }
        match &found {
            Found::CatchAll { domain_id, .. } => {
                self.client
                    .update_domain(domain_id, json!({"catchAllAddress": null}))
                    .await
            }
            Found::Alias { account, key, .. } => self.remove_alias(account, key).await,
        }
    }
}

/// One page of `items` (sorted here by name, the cursor being the last name
/// of the previous page): Stalwart's queries are read whole, then paged.
fn page_of(mut items: Vec<Resource>, options: &ListOptions) -> Page<Resource> {
    items.sort_by(|a, b| a.name().cmp(b.name()));
    if let Some(after) = &options.cursor {
        items.retain(|r| r.name() > after.as_str());
    }
    let size = options.page_size.map_or(usize::MAX, |s| s as usize);
    if items.len() <= size {
        return Page::last(items);
    }
    items.truncate(size);
    let next_cursor = items.last().map(|r| r.name().to_owned());
    Page { items, next_cursor }
}
