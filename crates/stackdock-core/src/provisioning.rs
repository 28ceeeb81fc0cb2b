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
//!      │             │   ▲            │             │
//!      │             ▼   │ (retry)    ▼             ▼
//!      │           Failed ────► Deprovisioning ◄── Failed
//!      └──────────────────────────────┘  │
//!                                        ▼
//!                                  Deprovisioned
//! ```
//!
//! [`provision`] and [`deprovision`] drive an adapter through these states and
//! report each transition to a callback *before* the remote call, so a caller
//! can persist intent first (lesson from Crossplane's create-pending marker).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::adapter::DockAdapter;
use crate::resource::{Resource, ResourceId};
use crate::spec::ResourceSpec;
use crate::{Error, ErrorKind, Result};

/// Where a managed resource is in its life.
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
    /// The last create or update failed.
    Failed,
    /// Delete asked of the provider, not finished.
    Deprovisioning,
    /// Gone.
    Deprovisioned,
}

impl ProvisioningState {
    /// Every state.
    pub const ALL: [ProvisioningState; 7] = [
        ProvisioningState::Pending,
        ProvisioningState::Provisioning,
        ProvisioningState::Provisioned,
        ProvisioningState::Updating,
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
pub const TRANSITIONS: &[(ProvisioningState, ProvisioningState)] = &[
    // create
    (S::Pending, S::Provisioning),
    (S::Pending, S::Deprovisioned), // abandoned before anything was asked
    (S::Provisioning, S::Provisioned),
    (S::Provisioning, S::Failed),
    // adopt a resource that already exists (manual / IaC import)
    (S::Pending, S::Provisioned),
    // update
    (S::Provisioned, S::Updating),
    (S::Updating, S::Provisioned),
    (S::Updating, S::Failed),
    // retry after a failure
    (S::Failed, S::Provisioning),
    (S::Failed, S::Updating),
    // delete
    (S::Provisioned, S::Deprovisioning),
    (S::Failed, S::Deprovisioning),
    (S::Provisioning, S::Deprovisioning), // cancel a build under way
    (S::Deprovisioning, S::Deprovisioned),
    (S::Deprovisioning, S::Failed),
    // re-create something that was removed
    (S::Deprovisioned, S::Provisioning),
];

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

/// One recorded state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// State before.
    pub from: ProvisioningState,
    /// State after.
    pub to: ProvisioningState,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Why (free text, no secrets).
    pub reason: String,
    /// Set for transitions into `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// The provisioning history of one managed resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningRecord {
    /// Current state.
    pub state: ProvisioningState,
    /// How it came to be managed.
    pub source: ProvisioningSource,
    /// The provider's id, saved the moment it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<ResourceId>,
    /// Every transition, oldest first.
    pub history: Vec<Transition>,
}

impl ProvisioningRecord {
    /// A new record in [`ProvisioningState::Pending`].
    pub fn new(source: ProvisioningSource) -> Self {
        ProvisioningRecord {
            state: ProvisioningState::Pending,
            source,
            resource_id: None,
            history: Vec::new(),
        }
    }

    /// Move to `to`, recording `reason`; illegal moves are a typed error and change nothing.
    pub fn transition(
        &mut self,
        to: ProvisioningState,
        reason: impl Into<String>,
    ) -> Result<&Transition> {
        self.push(to, reason.into(), None)
    }

    /// Move to [`ProvisioningState::Failed`] with a reason code and a message (sanitised here).
    pub fn fail(&mut self, code: impl Into<String>, message: &str) -> Result<&Transition> {
        let failure = Failure {
            code: code.into(),
            message: sanitize_message(message),
        };
        self.push(
            ProvisioningState::Failed,
            failure.message.clone(),
            Some(failure),
        )
    }

    /// Move to `Failed` because of an adapter error: its kind is the code.
    pub fn fail_with(&mut self, error: &Error) -> Result<&Transition> {
        self.fail(error.kind().as_str(), &error.to_string())
    }

    /// The last failure, if the record is in `Failed`.
    pub fn last_failure(&self) -> Option<&Failure> {
        if self.state != ProvisioningState::Failed {
            return None;
        }
        self.history.last().and_then(|t| t.failure.as_ref())
    }

    fn push(
        &mut self,
        to: ProvisioningState,
        reason: String,
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
        self.history.push(Transition {
            from,
            to,
            at: Utc::now(),
            reason: sanitize_message(&reason),
            failure,
        });
        tracing::debug!(from = %from, to = %to, "provisioning transition");
        Ok(self.history.last().expect("just pushed"))
    }
}

/// Create `spec` through `adapter`, walking `record` through
/// `Provisioning -> Provisioned | Failed`.
///
/// `on_transition` runs after each transition and *before* the next remote
/// call, so the caller can persist the record (intent first). On success the
/// provider's id is saved in the record.
pub async fn provision(
    adapter: &dyn DockAdapter,
    spec: &ResourceSpec,
    record: &mut ProvisioningRecord,
    on_transition: &mut (dyn FnMut(&ProvisioningRecord) + Send),
) -> Result<Resource> {
    record.transition(
        ProvisioningState::Provisioning,
        format!("create {} {} requested", spec.kind(), spec.name()),
    )?;
    on_transition(record);
    match adapter.create(spec).await {
        Ok(resource) => {
            record.resource_id = Some(resource.id());
            record.transition(
                ProvisioningState::Provisioned,
                format!("{} created as {}", spec.kind(), resource.id()),
            )?;
            on_transition(record);
            Ok(resource)
        }
        Err(error) => {
            record.fail_with(&error)?;
            on_transition(record);
            Err(error)
        }
    }
}

/// Delete the resource recorded in `record`, walking it through
/// `Deprovisioning -> Deprovisioned | Failed`.
pub async fn deprovision(
    adapter: &dyn DockAdapter,
    record: &mut ProvisioningRecord,
    on_transition: &mut (dyn FnMut(&ProvisioningRecord) + Send),
) -> Result<()> {
    let Some(id) = record.resource_id.clone() else {
        record.transition(ProvisioningState::Deprovisioned, "nothing was created")?;
        on_transition(record);
        return Ok(());
    };
    record.transition(
        ProvisioningState::Deprovisioning,
        format!("delete {id} requested"),
    )?;
    on_transition(record);
    match adapter.delete(&id).await {
        Ok(()) => {
            record.transition(ProvisioningState::Deprovisioned, format!("{id} deleted"))?;
            on_transition(record);
            Ok(())
        }
        Err(error) => {
            record.fail_with(&error)?;
            on_transition(record);
            Err(error)
        }
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
                let result = record.transition(to, "test").cloned();
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
    fn no_self_loops_and_deprovisioned_only_leads_to_reprovisioning() {
        for s in ProvisioningState::ALL {
            assert!(!s.can_transition_to(s), "{s} -> {s}");
        }
        let outs: Vec<_> = TRANSITIONS
            .iter()
            .filter(|(f, _)| *f == S::Deprovisioned)
            .map(|(_, t)| *t)
            .collect();
        assert_eq!(outs, vec![S::Provisioning]);
    }

    #[test]
    fn failures_record_code_and_sanitised_message() {
        let mut r = ProvisioningRecord::new(ProvisioningSource::InfrastructureAsCode);
        r.transition(S::Provisioning, "go").unwrap();
        let err = Error::provider(Some(500), None, "boom password=hunter2\r\nnext line");
        r.fail_with(&err).unwrap();
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
