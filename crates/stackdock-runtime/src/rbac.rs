//! Role-based access: who may do what, checked before any call (reads
//! included), scoped to organisations.
//!
//! * A [`Principal`] acts in one organisation with a permission per
//!   [`Area`] (`provisioning`, `docks`, `audit`): [`Access::Full`],
//!   [`Access::Read`] or [`Access::None`]. **An area not given is `none`:
//!   deny by default.**
//! * A [`Policy`] decides; [`RolePolicy`] is the built-in one.
//! * A principal asking about **another organisation's** scope gets
//!   [`Error::NotFound`] — the same answer as for a scope that does not
//!   exist — never "forbidden" with details.
//! * Every refusal is audited (`denied`, reason `permission_denied` or
//!   `not_found`).
//!
//! ```
//! use stackdock_runtime::rbac::{Access, Area, Decision, Policy, Principal, RolePolicy};
//! let alice = Principal::new("alice", "agency").with(Area::Provisioning, Access::Read);
//! assert_eq!(RolePolicy.decide(&alice, "agency", Area::Provisioning, Access::Read), Decision::Allow);
//! assert_eq!(RolePolicy.decide(&alice, "agency", Area::Provisioning, Access::Full), Decision::Deny);
//! assert_eq!(RolePolicy.decide(&alice, "agency", Area::Audit, Access::Read), Decision::Deny); // undefined = none
//! assert_eq!(RolePolicy.decide(&alice, "rival", Area::Provisioning, Access::Read), Decision::NotFound);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::Runtime;
use crate::model::{AuditEntry, AuditOutcome, AuditQuery};
use crate::{ApplyOptions, Error, Result, RunReport, ScopeStatus};

/// What a permission is about.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    /// Scopes: apply, destroy (full); status, runs (read).
    Provisioning,
    /// The configured docks.
    Docks,
    /// The audit log.
    Audit,
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Area::Provisioning => "provisioning",
            Area::Docks => "docks",
            Area::Audit => "audit",
        })
    }
}

/// How much of an area: `none < read < full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Nothing (also what an undefined permission means).
    None,
    /// Look, never change.
    Read,
    /// Look and change.
    Full,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::None => "none",
            Access::Read => "read",
            Access::Full => "full",
        })
    }
}

/// Who is asking, in which organisation, with which permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The actor id (written to runs and the audit).
    pub id: String,
    /// The organisation it acts in.
    pub org: String,
    /// Permissions per area; an area missing here is [`Access::None`].
    #[serde(default)]
    pub permissions: BTreeMap<Area, Access>,
}

impl Principal {
    /// A principal with no permission at all.
    pub fn new(id: impl Into<String>, org: impl Into<String>) -> Self {
        Principal {
            id: id.into(),
            org: org.into(),
            permissions: BTreeMap::new(),
        }
    }

    /// Grant `access` on `area`.
    pub fn with(mut self, area: Area, access: Access) -> Self {
        self.permissions.insert(area, access);
        self
    }

    /// The access on `area` (`none` when undefined).
    pub fn access(&self, area: Area) -> Access {
        self.permissions.get(&area).copied().unwrap_or(Access::None)
    }
}

/// What a [`Policy`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Refuse: the principal may see that the object exists.
    Deny,
    /// Refuse as if the object did not exist (another organisation's).
    NotFound,
}

/// Decides whether `principal` may have `need` access on `area` of an
/// object owned by `org`.
pub trait Policy: Send + Sync + fmt::Debug {
    /// The decision.
    fn decide(&self, principal: &Principal, org: &str, area: Area, need: Access) -> Decision;
}

/// The built-in policy: another org's objects are not found; otherwise the
/// principal's access on the area must be at least what is needed; an
/// undefined permission is `none`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RolePolicy;

impl Policy for RolePolicy {
    fn decide(&self, principal: &Principal, org: &str, area: Area, need: Access) -> Decision {
        if principal.org != org {
            Decision::NotFound
        } else if need > Access::None && principal.access(area) >= need {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }
}

/// The runtime as one principal sees it: every method checks the policy
/// before anything else (no store read beyond the scope's owner, no dock
/// call), and audits refusals.
#[derive(Debug, Clone)]
pub struct Session<'a> {
    runtime: &'a Runtime,
    policy: Arc<dyn Policy>,
    principal: Principal,
}

impl<'a> Session<'a> {
    pub(crate) fn new(runtime: &'a Runtime, policy: Arc<dyn Policy>, principal: Principal) -> Self {
        Session {
            runtime,
            policy,
            principal,
        }
    }

    /// Who this session is.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    async fn check(
        &self,
        org: Option<&str>,
        scope: &str,
        operation: &str,
        area: Area,
        need: Access,
    ) -> Result<String> {
        let decision = match org {
            Some(org) => self.policy.decide(&self.principal, org, area, need),
            None => Decision::NotFound,
        };
        if decision == Decision::Allow {
            return Ok(org.unwrap_or_default().to_owned());
        }
        let reason = if decision == Decision::NotFound {
            "not_found"
        } else {
            "permission_denied"
        };
        let mut entry = AuditEntry::new(&self.principal.id, operation, AuditOutcome::Denied);
        entry.org = Some(self.principal.org.clone());
        entry.scope = Some(scope.to_owned());
        entry.reason = Some(reason.to_owned());
        self.runtime.audit_sink().record(entry).await?;
        Err(match decision {
            Decision::NotFound => Error::NotFound(format!("scope {scope}")),
            _ => Error::PermissionDenied { area, need },
        })
    }

    async fn owner(&self, scope: &str) -> Result<Option<String>> {
        self.runtime.store().scope_org(scope).await
    }

    /// [`Runtime::apply`], needing `provisioning: full` in the blueprint's
    /// org; a scope another org owns is not found.
    pub async fn apply(
        &self,
        blueprint: &crate::blueprint::Blueprint,
        options: ApplyOptions,
    ) -> Result<RunReport> {
        let owner = self.owner(&blueprint.scope).await?;
        let org = owner.as_deref().unwrap_or(blueprint.org());
        if org != blueprint.org() {
            // Someone else's scope: answer as if it did not exist.
            self.check(
                None,
                &blueprint.scope,
                "apply",
                Area::Provisioning,
                Access::Full,
            )
            .await?;
        }
        self.check(
            Some(org),
            &blueprint.scope,
            "apply",
            Area::Provisioning,
            Access::Full,
        )
        .await?;
        self.runtime
            .apply(blueprint, &self.principal.id, options)
            .await
    }

    /// [`Runtime::destroy`], needing `provisioning: full`.
    pub async fn destroy(&self, scope: &str) -> Result<RunReport> {
        let owner = self.owner(scope).await?;
        let org = self
            .check(
                owner.as_deref(),
                scope,
                "destroy",
                Area::Provisioning,
                Access::Full,
            )
            .await?;
        self.runtime.destroy(scope, &org, &self.principal.id).await
    }

    /// [`Runtime::reconcile`], needing `provisioning: full`.
    pub async fn reconcile(&self, scope: &str) -> Result<RunReport> {
        let owner = self.owner(scope).await?;
        let org = self
            .check(
                owner.as_deref(),
                scope,
                "reconcile",
                Area::Provisioning,
                Access::Full,
            )
            .await?;
        self.runtime
            .reconcile(scope, &org, &self.principal.id)
            .await
    }

    /// [`Runtime::deploy`], needing `provisioning: full`.
    pub async fn deploy(
        &self,
        scope: &str,
        request: &crate::DeployRequest,
    ) -> Result<crate::DeployReport> {
        let owner = self.owner(scope).await?;
        let org = self
            .check(
                owner.as_deref(),
                scope,
                "deploy",
                Area::Provisioning,
                Access::Full,
            )
            .await?;
        self.runtime
            .deploy(scope, &org, &self.principal.id, request)
            .await
    }

    /// [`Runtime::cancel`] of a run, needing `provisioning: full` in the
    /// org of the run's scope (`docks: full` for a sync run); another org's
    /// run is not found.
    pub async fn cancel(&self, run: &crate::model::RunId) -> Result<crate::model::OperationRun> {
        let found = self
            .runtime
            .store()
            .get_run(run)
            .await?
            .ok_or_else(|| Error::NotFound(format!("run {run}")))?;
        let (org, area) = match found.scope.strip_prefix("dock:") {
            Some(_) => (Some(self.principal.org.clone()), Area::Docks),
            None => (self.owner(&found.scope).await?, Area::Provisioning),
        };
        let checked = self
            .check(org.as_deref(), &found.scope, "cancel", area, Access::Full)
            .await;
        if let Err(Error::NotFound(_)) = checked {
            return Err(Error::NotFound(format!("run {run}")));
        }
        checked?;
        self.runtime.cancel(run, &self.principal.id).await
    }

    /// [`Runtime::plan`], needing `provisioning: read` in the blueprint's
    /// org; a scope another org owns is not found.
    pub async fn plan(&self, blueprint: &crate::blueprint::Blueprint) -> Result<crate::plan::Plan> {
        let owner = self.owner(&blueprint.scope).await?;
        let org = owner.as_deref().unwrap_or(blueprint.org());
        let visible = (org == blueprint.org()).then_some(org);
        self.check(
            visible,
            &blueprint.scope,
            "plan",
            Area::Provisioning,
            Access::Read,
        )
        .await?;
        self.runtime.plan(blueprint).await
    }

    /// [`Runtime::status`], needing `provisioning: read`.
    pub async fn status(&self, scope: &str) -> Result<ScopeStatus> {
        let owner = self.owner(scope).await?;
        self.check(
            owner.as_deref(),
            scope,
            "status",
            Area::Provisioning,
            Access::Read,
        )
        .await?;
        self.runtime.status(scope).await
    }

    /// The scope's audit entries, needing `audit: read`.
    pub async fn audit(&self, scope: &str) -> Result<Vec<AuditEntry>> {
        let owner = self.owner(scope).await?;
        self.check(
            owner.as_deref(),
            scope,
            "read_audit",
            Area::Audit,
            Access::Read,
        )
        .await?;
        let query = AuditQuery {
            scope: Some(scope.to_owned()),
            ..Default::default()
        };
        self.runtime.store().list_audit(&query).await
    }

    /// [`Runtime::sync`] of one dock, needing `docks: full`.
    pub async fn sync(&self, dock: &str) -> Result<crate::SyncReport> {
        let org = self.principal.org.clone();
        self.check(Some(&org), dock, "sync", Area::Docks, Access::Full)
            .await?;
        self.runtime.sync(dock, &self.principal.id).await
    }

    /// The dock ids configured, needing `docks: read` in the principal's org.
    pub async fn docks(&self) -> Result<Vec<String>> {
        self.check(
            Some(&self.principal.org.clone()),
            "",
            "list_docks",
            Area::Docks,
            Access::Read,
        )
        .await?;
        Ok(self
            .runtime
            .docks()
            .iter()
            .map(|(id, _)| id.to_owned())
            .collect())
    }
}
