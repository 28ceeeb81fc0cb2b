//! The provisioning state machine.
//!
//! StackDock records where each resource is in its life as a
//! [`ProvisioningRecord`]: the current [`ProvisioningState`], how it came to be
//! managed ([`ProvisioningSource`]) and every [`Transition`] with its time,
//! reason and — on failure — a stable reason code and a sanitised message.
//!
//! Legal moves are listed in one table, [`TRANSITIONS`]; anything else is an
//! [`ErrorKind::InvalidTransition`].
//!
//! ```text
//!   Pending ──► Provisioning ──► Provisioned ──► Updating ──► Provisioned
//!      │          │  ▲ (resume)    │   ▲  │          │
//!      │          ▼  │             ▼   │  ▼          ▼
//!      │        Failed ◄──── Drifted ──┘ Missing ──► Provisioning (re-create)
//!      │          │              │         │
//!      │          ▼              ▼         ▼
//!      └──────► Deprovisioning ◄─┴─────────┘ ──► Deprovisioned (re-run: no-op)
//! ```
//!
//! Every transition carries a stable [`Reason`] code, a sanitised message,
//! the actor when known and, for creates, whether the resource was
//! [created or adopted](CreateOutcome). The state types depend only on
//! resources; the drivers that move a record while calling an adapter live
//! above the adapter trait, in [`drive`](crate::drive).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::resource::ResourceId;
use crate::{Error, ErrorKind, Result};

pub use crate::outcome::CreateOutcome;

/// Where a managed resource is in its life.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvisioningState {
    /// Known to StackDock, nothing asked of the provider yet.
    Pending,
    /// Create asked of the provider, not finished.
    Provisioning,
    /// Exists and matches what was asked.
    Provisioned,
    /// An update is under way.
    Updating,
    /// Exists but no longer matches what was asked (found by observe).
    Drifted,
    /// Was provisioned, and observe no longer finds it (deleted out of band).
    Missing,
    /// The last create or update failed.
    Failed,
    /// Delete asked of the provider, not finished.
    Deprovisioning,
    /// Gone.
    Deprovisioned,
}

impl ProvisioningState {
    /// Every state.
    pub const ALL: [ProvisioningState; 9] = [
        ProvisioningState::Pending,
        ProvisioningState::Provisioning,
        ProvisioningState::Provisioned,
        ProvisioningState::Updating,
        ProvisioningState::Drifted,
        ProvisioningState::Missing,
        ProvisioningState::Failed,
        ProvisioningState::Deprovisioning,
        ProvisioningState::Deprovisioned,
    ];

    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProvisioningState::Pending => "pending",
            ProvisioningState::Provisioning => "provisioning",
            ProvisioningState::Provisioned => "provisioned",
            ProvisioningState::Updating => "updating",
            ProvisioningState::Drifted => "drifted",
            ProvisioningState::Missing => "missing",
            ProvisioningState::Failed => "failed",
            ProvisioningState::Deprovisioning => "deprovisioning",
            ProvisioningState::Deprovisioned => "deprovisioned",
        }
    }

    /// Whether nothing more will happen without a new request.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ProvisioningState::Provisioned
                | ProvisioningState::Failed
                | ProvisioningState::Deprovisioned
        )
    }

    /// Whether `self -> to` is in [`TRANSITIONS`].
    pub fn can_transition_to(self, to: ProvisioningState) -> bool {
        TRANSITIONS.contains(&(self, to))
    }
}

impl fmt::Display for ProvisioningState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

use ProvisioningState as S;

/// Every legal transition, `(from, to)`. Nothing else is allowed.
///
/// The self-loops are resumptions: a record left in `provisioning`,
/// `updating` or `deprovisioning` by a crash is driven again (observe first);
/// `provisioned → provisioned` is a re-provision that adopts;
/// `deprovisioned → deprovisioned` a repeated deprovision.
pub const TRANSITIONS: &[(ProvisioningState, ProvisioningState)] = &[
    // create
    (S::Pending, S::Provisioning),
    (S::Pending, S::Deprovisioned), // abandoned before anything was asked
    (S::Provisioning, S::Provisioned),
    (S::Provisioning, S::Failed),
    (S::Provisioning, S::Provisioning), // resumed after a crash
    // adopt a resource that already exists (manual / IaC import)
    (S::Pending, S::Provisioned),
    (S::Provisioned, S::Provisioned), // re-provision: observed, adopted, nothing to do
    // update
    (S::Provisioned, S::Updating),
    (S::Updating, S::Provisioned),
    (S::Updating, S::Failed),
    (S::Updating, S::Updating), // resumed after a crash
    (S::Updating, S::Missing),  // resumed, and it is gone
    // what observe finds out of band
    (S::Provisioned, S::Drifted),
    (S::Provisioned, S::Missing),
    (S::Drifted, S::Provisioned), // the drift went away
    (S::Drifted, S::Updating),
    (S::Drifted, S::Missing),
    (S::Missing, S::Provisioned),  // it came back
    (S::Missing, S::Provisioning), // re-create what vanished
    // retry after a failure, or find that it worked after all
    (S::Failed, S::Provisioning),
    (S::Failed, S::Updating),
    (S::Failed, S::Provisioned),
    // delete
    (S::Provisioned, S::Deprovisioning),
    (S::Drifted, S::Deprovisioning),
    (S::Missing, S::Deprovisioning),
    (S::Failed, S::Deprovisioning),
    (S::Provisioning, S::Deprovisioning), // cancel a build under way
    (S::Updating, S::Deprovisioning),     // delete what an interrupted update left
    (S::Deprovisioning, S::Deprovisioning), // resumed after a crash
    (S::Deprovisioning, S::Deprovisioned),
    (S::Deprovisioning, S::Failed),
    (S::Failed, S::Deprovisioned),  // failed before anything was made
    (S::Missing, S::Deprovisioned), // nothing left to delete
    (S::Deprovisioned, S::Deprovisioned), // deprovision again: nothing to do
    // re-create something that was removed
    (S::Deprovisioned, S::Provisioning),
];

/// Why a transition happened: a stable code for machines (dashboards,
/// alerts, the audit), next to the human message.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A create was asked of the provider.
    CreateRequested,
    /// The create made the resource.
    Created,
    /// The create found the resource already there, ours and compatible.
    Adopted,
    /// A run picked up a record left mid-operation (after a crash).
    Resumed,
    /// An update was asked of the provider.
    UpdateRequested,
    /// The update finished.
    Updated,
    /// Observe found the resource as asked.
    UpToDate,
    /// Observe found the resource differing from what was asked.
    DriftDetected,
    /// Observe no longer finds the resource.
    Vanished,
    /// Observe finds again a resource that had vanished.
    Reappeared,
    /// A delete was asked of the provider.
    DeleteRequested,
    /// The delete finished (or the resource was already gone).
    Deleted,
    /// Nothing had been made, so there was nothing to delete.
    NothingToDelete,
    /// Given up before anything was asked of the provider.
    Abandoned,
    /// The operation failed; see the [`Failure`].
    Failed,
    /// A state set by a caller with its own reason (imports, manual fixes).
    Manual,
}

impl Reason {
    /// The stable code, e.g. `create_requested`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::CreateRequested => "create_requested",
            Reason::Created => "created",
            Reason::Adopted => "adopted",
            Reason::Resumed => "resumed",
            Reason::UpdateRequested => "update_requested",
            Reason::Updated => "updated",
            Reason::UpToDate => "up_to_date",
            Reason::DriftDetected => "drift_detected",
            Reason::Vanished => "vanished",
            Reason::Reappeared => "reappeared",
            Reason::DeleteRequested => "delete_requested",
            Reason::Deleted => "deleted",
            Reason::NothingToDelete => "nothing_to_delete",
            Reason::Abandoned => "abandoned",
            Reason::Failed => "failed",
            Reason::Manual => "manual",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a resource came to be managed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvisioningSource {
    /// Created through StackDock's API.
    #[default]
    Api,
    /// Made by hand at the provider and adopted.
    Manual,
    /// Declared in infrastructure-as-code.
    InfrastructureAsCode,
}

/// Why a transition into [`ProvisioningState::Failed`] happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Stable machine-readable code, e.g. `rate_limited`, `invalid_input` (an
    /// [`ErrorKind::as_str`] value for adapter errors).
    pub code: String,
    /// Human message, sanitised: no control characters, no URL passwords,
    /// nothing after `password=`/`token=`, at most [`MAX_MESSAGE_LEN`] bytes.
    pub message: String,
}

/// Longest failure message kept.
pub const MAX_MESSAGE_LEN: usize = 512;

/// Make a message safe to store and show: strip control characters, redact
/// URL passwords and `key=value` secrets, and cut it to [`MAX_MESSAGE_LEN`].
///
/// ```
/// use stackdock_core::provisioning::sanitize_message;
/// let m = sanitize_message("connect postgres://u:pw@h/db failed\npassword=hunter2 token: abc");
/// assert_eq!(m, "connect postgres://u:[REDACTED]@h/db failed password=[REDACTED] token: [REDACTED]");
/// ```
pub fn sanitize_message(message: &str) -> String {
    const SECRET_KEYS: &[&str] = &[
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "api_key",
        "api-key",
        "authorization",
    ];
    const AUTH_SCHEMES: &[&str] = &["bearer", "basic", "token", "digest"];
    let mut words = Vec::new();
    let mut redact_next = false;
    for word in message.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        let lower = word.to_ascii_lowercase();
        if redact_next {
            // "Authorization: Bearer <token>": keep the scheme, redact what follows it.
            if AUTH_SCHEMES.contains(&lower.as_str()) {
                words.push(word.to_owned());
                continue;
            }
            words.push(crate::secret::REDACTED.to_owned());
            redact_next = false;
            continue;
        }
        if let Some((key, _)) = word.split_once('=') {
            let key_lower = key.to_ascii_lowercase();
            if SECRET_KEYS.iter().any(|k| key_lower.ends_with(k)) {
                words.push(format!("{key}={}", crate::secret::REDACTED));
                continue;
            }
        }
        let is_key = word.ends_with(':')
            && SECRET_KEYS
                .iter()
                .any(|k| lower.trim_end_matches(':').ends_with(k));
        if is_key || lower == "bearer" {
            words.push(word.to_owned());
            redact_next = true;
            continue;
        }
        words.push(crate::secret::redact_url(word));
    }
    let mut out = words.join(" ");
    if out.len() > MAX_MESSAGE_LEN {
        let mut cut = MAX_MESSAGE_LEN;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// One move of a [`ProvisioningRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// State before.
    pub from: ProvisioningState,
    /// State after.
    pub to: ProvisioningState,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Why, as a stable code.
    pub reason: Reason,
    /// Why, for people (sanitised: no secrets, no control characters).
    pub message: String,
    /// Who asked, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// For transitions that end a create: whether it created or adopted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<CreateOutcome>,
    /// Set for transitions into `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// How many transitions a record keeps; older ones are dropped (the first
/// one, how the record started, is always kept).
pub const MAX_HISTORY: usize = 64;

/// The provisioning history of one managed resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningRecord {
    /// Current state.
    pub state: ProvisioningState,
    /// How it came to be managed.
    pub source: ProvisioningSource,
    /// The provider's id: the planned id before a create where ids are
    /// deterministic, the provider's the moment it is known, cleared once
    /// the resource is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<ResourceId>,
    /// Whether the resource was created by this record's own create (only
    /// then may a rollback delete it) or adopted; `None` until known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<CreateOutcome>,
    /// Transitions, oldest first (at most [`MAX_HISTORY`]).
    pub history: Vec<Transition>,
    /// How many transitions were dropped from `history` to bound it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What to record with a transition besides the target state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The reason code.
    pub reason: Reason,
    /// The message (sanitised when recorded).
    pub message: String,
    /// Who asked.
    pub actor: Option<String>,
    /// The create outcome, for transitions that end a create.
    pub outcome: Option<CreateOutcome>,
}

impl Step {
    /// A step with `reason` and `message`.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Step {
            reason,
            message: message.into(),
            actor: None,
            outcome: None,
        }
    }

    /// Record who asked.
    pub fn by(mut self, actor: Option<String>) -> Self {
        self.actor = actor;
        self
    }

    /// Record the create outcome.
    pub fn with_outcome(mut self, outcome: CreateOutcome) -> Self {
        self.outcome = Some(outcome);
        self
    }
}

impl ProvisioningRecord {
    /// A new record in [`ProvisioningState::Pending`].
    pub fn new(source: ProvisioningSource) -> Self {
        ProvisioningRecord {
            state: ProvisioningState::Pending,
            source,
            resource_id: None,
            outcome: None,
            history: Vec::new(),
            dropped: 0,
        }
    }

    /// Move to `to` for `reason` ([`Reason::Manual`] for callers' own moves);
    /// illegal moves are a typed error and change nothing.
    ///
    /// ```
    /// use stackdock_core::provisioning::{ProvisioningRecord, ProvisioningSource, ProvisioningState, Reason, Step};
    /// let mut record = ProvisioningRecord::new(ProvisioningSource::Manual);
    /// record.transition(ProvisioningState::Provisioned, Step::new(Reason::Adopted, "imported")).unwrap();
    /// assert!(record.transition(ProvisioningState::Pending, Step::new(Reason::Manual, "back")).is_err());
    /// assert_eq!(record.history.last().unwrap().reason, Reason::Adopted);
    /// ```
    pub fn transition(&mut self, to: ProvisioningState, step: Step) -> Result<&Transition> {
        self.push(to, step, None)
    }

    /// Move to [`ProvisioningState::Failed`] with a failure code and a message (sanitised here).
    pub fn fail(
        &mut self,
        code: impl Into<String>,
        message: &str,
        actor: Option<String>,
    ) -> Result<&Transition> {
        let failure = Failure {
            code: code.into(),
            message: sanitize_message(message),
        };
        let step = Step::new(Reason::Failed, failure.message.clone()).by(actor);
        self.push(ProvisioningState::Failed, step, Some(failure))
    }

    /// [`fail`](ProvisioningRecord::fail) with the error's kind as the code.
    pub fn fail_with(&mut self, error: &Error, actor: Option<String>) -> Result<&Transition> {
        self.fail(error.kind().as_str(), &error.to_string(), actor)
    }

    /// The failure that put the record in `Failed`, if it is there.
    pub fn last_failure(&self) -> Option<&Failure> {
        if self.state != ProvisioningState::Failed {
            return None;
        }
        self.history.last().and_then(|t| t.failure.as_ref())
    }

    /// Whether a rollback of this record may delete its resource: only when
    /// this record's own create made it.
    pub fn may_delete_on_rollback(&self) -> bool {
        self.outcome == Some(CreateOutcome::Created) && self.resource_id.is_some()
    }

    fn push(
        &mut self,
        to: ProvisioningState,
        step: Step,
        failure: Option<Failure>,
    ) -> Result<&Transition> {
        let from = self.state;
        if !from.can_transition_to(to) {
            return Err(Error::new(ErrorKind::InvalidTransition {
                from: from.to_string(),
                to: to.to_string(),
            }));
        }
        self.state = to;
        if let Some(outcome) = step.outcome {
            self.outcome = Some(outcome);
        }
        if to == ProvisioningState::Deprovisioned {
            // The resource is gone: its id must not be reused by mistake.
            self.resource_id = None;
        }
        if self.history.len() >= MAX_HISTORY {
            self.history.remove(1);
            self.dropped += 1;
        }
        self.history.push(Transition {
            from,
            to,
            at: Utc::now(),
            reason: step.reason,
            message: sanitize_message(&step.message),
            actor: step.actor,
            outcome: step.outcome,
            failure,
        });
        tracing::debug!(from = %from, to = %to, reason = %step.reason, "provisioning transition");
        Ok(self.history.last().expect("just pushed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_matches_the_table() {
        for from in ProvisioningState::ALL {
            for to in ProvisioningState::ALL {
                let legal = TRANSITIONS.contains(&(from, to));
                let mut record = ProvisioningRecord::new(ProvisioningSource::Api);
                record.state = from;
                let result = record
                    .transition(to, Step::new(Reason::Manual, "test"))
                    .cloned();
                assert_eq!(result.is_ok(), legal, "{from} -> {to}");
                if legal {
                    assert_eq!(record.state, to);
                    assert_eq!(record.history.len(), 1);
                    let t = &record.history[0];
                    assert_eq!((t.from, t.to), (from, to));
                } else {
                    let err = result.unwrap_err();
                    assert!(matches!(err.kind(), ErrorKind::InvalidTransition { .. }));
                    assert_eq!(record.state, from, "illegal transition changed the state");
                    assert!(record.history.is_empty());
                }
            }
        }
    }

    #[test]
    fn self_loops_are_only_resumptions_and_repeats() {
        let loops: Vec<_> = ProvisioningState::ALL
            .into_iter()
            .filter(|s| s.can_transition_to(*s))
            .collect();
        assert_eq!(
            loops,
            [
                S::Provisioning,
                S::Provisioned,
                S::Updating,
                S::Deprovisioning,
                S::Deprovisioned
            ]
        );
        let outs: Vec<_> = TRANSITIONS
            .iter()
            .filter(|(f, _)| *f == S::Deprovisioned)
            .map(|(_, t)| *t)
            .collect();
        assert_eq!(outs, vec![S::Deprovisioned, S::Provisioning]);
    }

    #[test]
    fn history_is_bounded_and_keeps_how_it_started() {
        let mut r = ProvisioningRecord::new(ProvisioningSource::Api);
        r.transition(S::Provisioning, Step::new(Reason::CreateRequested, "go"))
            .unwrap();
        for _ in 0..200 {
            r.transition(S::Provisioning, Step::new(Reason::Resumed, "again"))
                .unwrap();
        }
        assert_eq!(r.history.len(), MAX_HISTORY);
        assert_eq!(r.history[0].reason, Reason::CreateRequested);
        assert_eq!(r.dropped, 201 - MAX_HISTORY as u64);
    }

    #[test]
    fn deprovisioned_clears_the_stale_id() {
        let mut r = ProvisioningRecord::new(ProvisioningSource::Api);
        r.transition(S::Provisioning, Step::new(Reason::CreateRequested, "go"))
            .unwrap();
        r.resource_id = Some(ResourceId::new(crate::ResourceKind::Database, "db"));
        r.transition(
            S::Provisioned,
            Step::new(Reason::Created, "made").with_outcome(CreateOutcome::Created),
        )
        .unwrap();
        assert!(r.may_delete_on_rollback());
        r.transition(S::Deprovisioning, Step::new(Reason::DeleteRequested, "rm"))
            .unwrap();
        r.transition(S::Deprovisioned, Step::new(Reason::Deleted, "gone"))
            .unwrap();
        assert_eq!(r.resource_id, None);
        assert!(!r.may_delete_on_rollback());
    }

    #[test]
    fn failures_record_code_and_sanitised_message() {
        let mut r = ProvisioningRecord::new(ProvisioningSource::InfrastructureAsCode);
        r.transition(S::Provisioning, Step::new(Reason::CreateRequested, "go"))
            .unwrap();
        let err = Error::provider(Some(500), None, "boom password=hunter2\r\nnext line");
        r.fail_with(&err, Some("alice".into())).unwrap();
        assert_eq!(r.history[1].actor.as_deref(), Some("alice"));
        assert_eq!(r.history[1].reason, Reason::Failed);
        let f = r.last_failure().unwrap();
        assert_eq!(f.code, "provider");
        assert!(!f.message.contains("hunter2"));
        assert!(!f.message.contains('\n'));
        assert_eq!(r.state, S::Failed);
        assert!(r.history[1].at >= r.history[0].at);
    }

    #[test]
    fn long_messages_are_cut() {
        let m = sanitize_message(&"é".repeat(1000));
        assert!(m.len() <= MAX_MESSAGE_LEN + '…'.len_utf8());
    }
}
