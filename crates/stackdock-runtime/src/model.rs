//! What the store keeps: runs, per-step state, audit entries, sealed secrets.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use stackdock_core::{ProvisioningRecord, RateLimit, ResourceId, ResourceKind};

use crate::blueprint::SecretRef;

/// The id of an [`OperationRun`] (a UUID v4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub String);

impl RunId {
    /// A fresh random id.
    pub fn new() -> Self {
        RunId(uuid::Uuid::new_v4().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RunId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a run does to its scope.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Bring the scope to its blueprint.
    Apply,
    /// Delete everything recorded for the scope.
    Destroy,
    /// Observe and repair (not implemented yet; reserved so runs can name it).
    Reconcile,
    /// Inventory sync (not implemented yet; reserved).
    Sync,
    /// A new deployment of a recorded web service, followed to ready or
    /// failed ([`Runtime::deploy`](crate::Runtime::deploy)).
    Deploy,
}

impl Operation {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "apply",
            Operation::Destroy => "destroy",
            Operation::Reconcile => "reconcile",
            Operation::Sync => "sync",
            Operation::Deploy => "deploy",
        }
    }

    /// Parse [`as_str`](Operation::as_str).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "apply" => Operation::Apply,
            "destroy" => Operation::Destroy,
            "reconcile" => Operation::Reconcile,
            "sync" => Operation::Sync,
            "deploy" => Operation::Deploy,
            _ => return None,
        })
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a run is.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Accepted, not started.
    Queued,
    /// Executing.
    Running,
    /// Finished; every step reached its goal.
    Succeeded,
    /// Finished with a failed step (rolled back or kept, per the options).
    Failed,
    /// Stopped by a caller.
    Cancelled,
}

impl RunStatus {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Parse [`as_str`](RunStatus::as_str).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => RunStatus::Queued,
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            _ => return None,
        })
    }

    /// Queued or running: the run holds its scope.
    pub fn is_active(self) -> bool {
        matches!(self, RunStatus::Queued | RunStatus::Running)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One apply / destroy / reconcile / sync of a scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationRun {
    /// Its id.
    pub id: RunId,
    /// The scope (tenant) it works on.
    pub scope: String,
    /// What it does.
    pub operation: Operation,
    /// Who asked.
    pub actor: String,
    /// Where it is.
    pub status: RunStatus,
    /// How many times it was started (1 for a run that never resumed).
    pub attempts: u32,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// A stable reason code for how it ended (`step_failed`, `rolled_back`, ...).
    pub reason: Option<String>,
    /// A sanitised human message.
    pub message: Option<String>,
    /// The steps it touched, in the order it first touched them.
    pub steps: Vec<String>,
    /// Someone asked it to stop ([`Store::request_cancel`](crate::store::Store::request_cancel));
    /// whichever process executes it finishes it as `cancelled` at its next check.
    #[serde(default)]
    pub cancel_requested: bool,
}

/// What [`Store::start_run`](crate::store::Store::start_run) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOutcome {
    /// A new run was created (status running) and holds the scope.
    Started(OperationRun),
    /// The same operation was already active on the scope: this is that run.
    Joined(OperationRun),
}

impl StartOutcome {
    /// The run, started or joined.
    pub fn run(&self) -> &OperationRun {
        match self {
            StartOutcome::Started(r) | StartOutcome::Joined(r) => r,
        }
    }

    /// Whether this call created the run.
    pub fn is_started(&self) -> bool {
        matches!(self, StartOutcome::Started(_))
    }
}

/// A worker's claim on a run: it executes the run until `expires_at`
/// unless it renews the lease ([`Store::renew_lease`]) first. Past that
/// moment any worker may claim the run again and resume it.
///
/// `attempt` is the fencing token: each claim increments the run's
/// `attempts`, and a lease of an earlier attempt no longer renews or
/// releases anything.
///
/// [`Store::renew_lease`]: crate::store::Store::renew_lease
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The run.
    pub run_id: RunId,
    /// Who holds it (a worker id, unique per worker process).
    pub worker: String,
    /// The run's `attempts` when it was claimed.
    pub attempt: u32,
    /// When the claim lapses unless renewed (the store's clock).
    pub expires_at: DateTime<Utc>,
}

/// What [`Store::claim_run`](crate::store::Store::claim_run) hands a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedRun {
    /// The run, now `running` with `attempts` incremented.
    pub run: OperationRun,
    /// The request stored with it by
    /// [`Store::submit_run`](crate::store::Store::submit_run) (a serialised
    /// `RunRequest`).
    pub request: serde_json::Value,
    /// The claim.
    pub lease: Lease,
}

impl ClaimedRun {
    /// Whether an earlier claim of this run lapsed or was released, so this
    /// one resumes it (observe first: its steps may be half done).
    pub fn is_resumed(&self) -> bool {
        self.run.attempts > 1
    }
}

/// The recorded state of one step of a scope. Keyed by (scope, step): it
/// survives runs, and each run that touches it says so.
///
/// Never holds a secret: `spec` is the resolved spec *serialised*, which
/// skips every secret field; `outputs` is the resource's serialised form,
/// which skips passwords too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    /// The scope.
    pub scope: String,
    /// The step name (unique in the scope).
    pub step: String,
    /// The dock it lives on.
    pub dock: String,
    /// The steps it depends on (so destroy can go children first from the
    /// store alone).
    pub needs: Vec<String>,
    /// The resolved spec as JSON, secrets skipped.
    pub spec: serde_json::Value,
    /// Where the spec's secret fields come from (references, never values),
    /// so a reconcile can re-create without the blueprint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, SecretRef>,
    /// The provisioning record (state, id, created/adopted, history).
    pub record: ProvisioningRecord,
    /// The run whose own create made the resource; only that run may
    /// delete it on rollback.
    pub created_by_run: Option<RunId>,
    /// The last run that wrote this step.
    pub last_run: Option<RunId>,
    /// The resource's outputs (its serialised form), for references.
    pub outputs: serde_json::Value,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
}

impl StepState {
    /// A step not yet asked of its dock.
    pub fn new(scope: &str, step: &str, dock: &str) -> Self {
        StepState {
            scope: scope.to_owned(),
            step: step.to_owned(),
            dock: dock.to_owned(),
            needs: Vec::new(),
            spec: serde_json::Value::Null,
            secrets: BTreeMap::new(),
            record: ProvisioningRecord::new(stackdock_core::ProvisioningSource::Api),
            created_by_run: None,
            last_run: None,
            outputs: serde_json::Value::Null,
            updated_at: Utc::now(),
        }
    }

    /// The recorded resource id, if any.
    pub fn resource_id(&self) -> Option<&ResourceId> {
        self.record.resource_id.as_ref()
    }

    /// Whether the step holds a live resource (anything but pending or
    /// deprovisioned with an id recorded).
    pub fn holds_resource(&self) -> bool {
        use stackdock_core::ProvisioningState as S;
        self.record.resource_id.is_some()
            && !matches!(self.record.state, S::Pending | S::Deprovisioned)
    }
}

/// How an audited action ended.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// It did what was asked.
    Succeeded,
    /// A create found the resource already there and adopted it.
    Adopted,
    /// It failed (see the reason code).
    Failed,
    /// It was refused before any call (policy, busy scope, shared resource).
    Denied,
    /// It was deliberately not done (e.g. a rollback leaving an adopted resource).
    Skipped,
}

impl AuditOutcome {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Succeeded => "succeeded",
            AuditOutcome::Adopted => "adopted",
            AuditOutcome::Failed => "failed",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Skipped => "skipped",
        }
    }

    /// Parse [`as_str`](AuditOutcome::as_str).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "succeeded" => AuditOutcome::Succeeded,
            "adopted" => AuditOutcome::Adopted,
            "failed" => AuditOutcome::Failed,
            "denied" => AuditOutcome::Denied,
            "skipped" => AuditOutcome::Skipped,
            _ => return None,
        })
    }
}

/// One append-only audit entry. Never holds a secret: the message is
/// sanitised and no field carries a value of a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log (assigned by the store; 0 before it is stored).
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// The organisation.
    pub org: Option<String>,
    /// The scope.
    pub scope: Option<String>,
    /// The dock.
    pub dock: Option<String>,
    /// The resource (`kind:id`, or a step / secret name).
    pub resource: Option<String>,
    /// What was attempted (`create`, `update`, `delete`, `decrypt`, ...).
    pub operation: String,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Stable reason code (`created`, `deleted`, an error kind, ...).
    pub reason: Option<String>,
    /// The run it belongs to.
    pub run_id: Option<RunId>,
    /// Sanitised human message.
    pub message: Option<String>,
}

impl AuditEntry {
    /// An entry for `operation` by `actor`, now; fill in the rest with the fields.
    pub fn new(
        actor: impl Into<String>,
        operation: impl Into<String>,
        outcome: AuditOutcome,
    ) -> Self {
        AuditEntry {
            seq: 0,
            at: Utc::now(),
            actor: actor.into(),
            org: None,
            scope: None,
            dock: None,
            resource: None,
            operation: operation.into(),
            outcome,
            reason: None,
            run_id: None,
            message: None,
        }
    }
}

/// Which audit entries to read; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this scope.
    pub scope: Option<String>,
    /// Only this run.
    pub run_id: Option<RunId>,
    /// Only this operation.
    pub operation: Option<String>,
}

/// A secret as the vault keeps it: ciphertext, nonce, the id of the key that
/// sealed it, and the (org, dock, name) it is bound to as associated data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// The organisation.
    pub org: String,
    /// The dock.
    pub dock: String,
    /// The secret's name.
    pub name: String,
    /// The id of the master key that sealed it.
    pub key_id: String,
    /// The 96-bit nonce, random per seal.
    pub nonce: Vec<u8>,
    /// AES-256-GCM ciphertext with its tag.
    pub ciphertext: Vec<u8>,
    /// When it was sealed.
    pub updated_at: DateTime<Utc>,
}

/// One resource a dock listed, as the inventory keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryItem {
    /// The dock.
    pub dock: String,
    /// Its kind.
    pub kind: ResourceKind,
    /// The provider's id.
    pub provider_resource_id: String,
    /// Its name.
    pub name: String,
    /// The resource as serialised (secret fields skipped).
    pub resource: serde_json::Value,
    /// When a sync first saw it.
    pub first_seen_at: DateTime<Utc>,
    /// When a sync last saw it.
    pub last_seen_at: DateTime<Utc>,
    /// When a sync first missed it (cleared if it comes back).
    pub vanished_at: Option<DateTime<Utc>>,
}

/// What one kind's sync changed in the inventory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryDelta {
    /// Items listed.
    pub seen: u64,
    /// Items not known before (or known as vanished).
    pub added: u64,
    /// Known items the listing no longer has, now marked vanished.
    pub vanished: u64,
}

/// The last sync of one dock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockSync {
    /// The dock.
    pub dock: String,
    /// When the last sync ended.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// When the last successful sync ended.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last sync's error (sanitised); `None` when it succeeded.
    pub last_sync_error: Option<String>,
    /// Items (not vanished) after the last successful sync.
    pub items: u64,
    /// The provider's request budget as the dock reported it at the end of
    /// the last sync ([`DockAdapter::rate_limit`](stackdock_core::DockAdapter::rate_limit));
    /// `None` when the provider reports none. A UI shows it without calling
    /// the provider.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}

/// What [`Store::prune`](crate::store::Store::prune) deletes: each field is
/// a cut-off, `None` keeps everything of that kind. Active runs and step
/// state are never pruned (they are the scope's state, not its history).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Finished runs (and the list of steps they touched) that finished before this.
    pub finished_runs_before: Option<DateTime<Utc>>,
    /// Audit entries written before this.
    pub audit_before: Option<DateTime<Utc>>,
    /// Inventory items that vanished before this.
    pub vanished_inventory_before: Option<DateTime<Utc>>,
}

impl Retention {
    /// Keep `days` of history of each kind, counted back from `now`.
    pub fn days(days: u32, now: DateTime<Utc>) -> Self {
        let cut = now - chrono::Duration::days(i64::from(days));
        Retention {
            finished_runs_before: Some(cut),
            audit_before: Some(cut),
            vanished_inventory_before: Some(cut),
        }
    }
}

/// What one [`Store::prune`](crate::store::Store::prune) deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pruned {
    /// Finished runs.
    pub runs: u64,
    /// Audit entries.
    pub audit: u64,
    /// Vanished inventory items.
    pub inventory: u64,
}
