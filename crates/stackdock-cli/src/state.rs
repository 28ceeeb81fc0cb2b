//! An opened state: configuration, store, vault, the acting principal, and
//! docks built on demand through each provider's factory.

use std::sync::Arc;

use stackdock_core::context::CallContext;
use stackdock_core::factory::{DockConfig, DockFactories};
use stackdock_core::DockRegistry;
use stackdock_runtime::audit::{AuditSink, StoreAudit};
use stackdock_runtime::model::{AuditEntry, AuditOutcome};
use stackdock_runtime::rbac::{Access, Area, Decision, Policy, Principal, RolePolicy};
use stackdock_runtime::store::{SqliteStore, Store};
use stackdock_runtime::vault::{AesGcmVault, VaultCredentials};
use stackdock_runtime::Runtime;
use stackdock_runtime_postgres::{PostgresStore, PostgresStoreConfig};

use crate::error::{CliError, CliResult};
use crate::home::{Config, Home};

/// The vault organisation dock credentials are sealed under. Not a valid
/// blueprint org name, so no tenant's `vault:KEY` reference can open one.
pub(crate) const DOCK_VAULT_ORG: &str = "@docks";

/// The factory of every provider this binary knows.
pub(crate) fn factories() -> DockFactories {
    DockFactories::new()
        .with(stackdock_postgres::PostgresFactory)
        .with(stackdock_dns::PowerDnsFactory)
        .with(stackdock_dns::ZoneFileFactory)
        .with(stackdock_email::PostfixDovecotFactory)
        .with(stackdock_email::StalwartFactory)
        .with(stackdock_vercel::VercelFactory)
        .with(stackdock_gridpane::GridPaneFactory)
}

/// Where the state is: the directory of the configuration and key file,
/// and the store.
#[derive(Debug, Clone)]
pub(crate) struct Location {
    pub(crate) home: Home,
    pub(crate) store: StoreAt,
}

/// Which store.
#[derive(Clone)]
pub(crate) enum StoreAt {
    /// The embedded SQLite store in the state directory.
    Sqlite,
    /// A PostgreSQL store many replicas share.
    Postgres {
        /// The connection string (may carry a password: never printed).
        url: zeroize::Zeroizing<String>,
        /// The schema.
        schema: String,
    },
}

impl std::fmt::Debug for StoreAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreAt::Sqlite => f.write_str("Sqlite"),
            StoreAt::Postgres { schema, .. } => write!(f, "Postgres {{ schema: {schema} }}"),
        }
    }
}

/// Where the state is, from `--store`, `--store-schema` and `--home`.
pub(crate) fn locate(global: &crate::cli::Global) -> CliResult<Location> {
    match global.store.as_deref() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let home = match &global.home {
                Some(dir) => Home::new(dir),
                None => Home::new(Home::default_dir()?),
            };
            Ok(Location {
                home,
                store: StoreAt::Postgres {
                    url: zeroize::Zeroizing::new(url.to_owned()),
                    schema: global.store_schema.clone(),
                },
            })
        }
        Some(dir) => Ok(Location {
            home: Home::new(dir.strip_prefix("sqlite:").unwrap_or(dir)),
            store: StoreAt::Sqlite,
        }),
        None => Ok(Location {
            home: Home::new(Home::default_dir()?),
            store: StoreAt::Sqlite,
        }),
    }
}

/// Open (creating and migrating if needed) the store.
pub(crate) async fn open_store(location: &Location) -> CliResult<Arc<dyn Store>> {
    Ok(match &location.store {
        StoreAt::Sqlite => Arc::new(SqliteStore::open(&location.home.dir).await?),
        StoreAt::Postgres { url, schema } => {
            let config = PostgresStoreConfig::from_url(url)
                .and_then(|c| c.with_schema(schema))
                .map_err(|e| {
                    CliError::from(e).hint("check the postgres:// URL and --store-schema")
                })?;
            Arc::new(PostgresStore::connect(config).await?)
        }
    })
}

/// What an access check is about (recorded in the audit entry of a refusal).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// A tenant (or `dock:ID` sync scope).
    Scope(&'a str),
    /// A dock.
    Dock(&'a str),
    /// Anything else, as `kind:name`.
    Resource(&'a str),
    /// The state as a whole (lists).
    State,
}

impl Target<'_> {
    fn describe(&self) -> String {
        match self {
            Target::Scope(s) => format!("scope {s}"),
            Target::Dock(d) => format!("dock {d}"),
            Target::Resource(r) => r.replacen(':', " ", 1),
            Target::State => "state".into(),
        }
    }
}

/// An opened state, acting as one principal.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) home: Home,
    pub(crate) config: Config,
    pub(crate) principal: Principal,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) vault: Arc<AesGcmVault>,
    pub(crate) audit: Arc<dyn AuditSink>,
}

impl State {
    /// Open the state in `home` as `actor` (who must be in the role table;
    /// an unknown one is refused and audited).
    pub(crate) async fn open(location: &Location, actor: &str) -> CliResult<State> {
        let home = location.home.clone();
        let config = home.load()?;
        let keys = home.keys()?;
        let store = open_store(location).await?;
        let audit: Arc<dyn AuditSink> = Arc::new(StoreAudit::new(store.clone()));
        let vault = Arc::new(AesGcmVault::new(store.clone(), keys, audit.clone()));
        let principal = match config.principal(actor) {
            Ok(p) => p,
            Err(e) => {
                let mut entry = AuditEntry::new(actor, "authenticate", AuditOutcome::Denied);
                entry.reason = Some("unknown_principal".into());
                audit.record(entry).await?;
                return Err(e);
            }
        };
        Ok(State {
            home,
            config,
            principal,
            store,
            vault,
            audit,
        })
    }

    /// Check that the principal may have `need` on `area` of an object of
    /// `org` (`None`: an object that does not exist, or another
    /// organisation's); refusals are audited and are exit 4 (or not found).
    pub(crate) async fn authorize(
        &self,
        org: Option<&str>,
        object: Target<'_>,
        operation: &str,
        area: Area,
        need: Access,
    ) -> CliResult<()> {
        let decision = match org {
            Some(org) => RolePolicy.decide(&self.principal, org, area, need),
            None => Decision::NotFound,
        };
        if decision == Decision::Allow {
            return Ok(());
        }
        let not_found = decision == Decision::NotFound;
        let mut entry = AuditEntry::new(&self.principal.id, operation, AuditOutcome::Denied);
        entry.org = Some(self.principal.org.clone());
        match object {
            Target::Scope(s) => entry.scope = Some(s.to_owned()),
            Target::Dock(d) => entry.dock = Some(d.to_owned()),
            Target::Resource(r) => entry.resource = Some(r.to_owned()),
            Target::State => {}
        }
        entry.reason = Some(
            if not_found {
                "not_found"
            } else {
                "permission_denied"
            }
            .into(),
        );
        self.audit.record(entry).await?;
        Err(if not_found {
            CliError::failed(format!("not found: {}", object.describe()))
        } else {
            CliError::from(stackdock_runtime::Error::PermissionDenied { area, need })
        })
    }

    /// Check an action on the state's own objects (docks, vault, audit).
    pub(crate) async fn authorize_own(
        &self,
        object: Target<'_>,
        operation: &str,
        area: Area,
        need: Access,
    ) -> CliResult<()> {
        let org = self.principal.org.clone();
        self.authorize(Some(&org), object, operation, area, need)
            .await
    }

    /// The organisation owning `scope`, if any (for an authorisation check).
    pub(crate) async fn scope_org(&self, scope: &str) -> CliResult<Option<String>> {
        Ok(self.store.scope_org(scope).await?)
    }

    /// The principal's call context (vault decryptions are audited as it).
    pub(crate) fn call_context(&self) -> CallContext {
        CallContext::new()
            .with_actor(self.principal.id.clone())
            .with_org(self.principal.org.clone())
    }

    /// Build the named docks (credentials opened from the vault, each
    /// decryption audited as the principal). Unknown names are an error.
    pub(crate) async fn registry<'a>(
        &self,
        docks: impl IntoIterator<Item = &'a str>,
    ) -> CliResult<DockRegistry> {
        let mut configs: Vec<DockConfig> = Vec::new();
        for id in docks {
            if !configs.iter().any(|c| c.id == id) {
                configs.push(self.config.dock(id)?.clone());
            }
        }
        let credentials = VaultCredentials::new(self.vault.clone(), DOCK_VAULT_ORG);
        let registry = self
            .call_context()
            .scope(DockRegistry::from_config(
                &configs,
                &factories(),
                &credentials,
            ))
            .await?;
        Ok(registry)
    }

    /// A runtime over the store with the named docks, the vault and the
    /// built-in role policy.
    pub(crate) async fn runtime<'a>(
        &self,
        docks: impl IntoIterator<Item = &'a str>,
    ) -> CliResult<Runtime> {
        let registry = self.registry(docks).await?;
        Ok(Runtime::new(self.store.clone(), registry)
            .with_audit(self.audit.clone())
            .with_vault(self.vault.clone()))
    }
}
