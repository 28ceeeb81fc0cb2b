//! The typed progress of a run, for a CLI's progress bars or a UI's live view.
//!
//! Subscribe with [`Runtime::subscribe`](crate::Runtime::subscribe) (a
//! `tokio::sync::broadcast` of every run's events; filter on
//! [`RunEvent::run_id`]). Events are a view: the store is the record. A slow
//! subscriber that lags loses events, never slows a run.

use chrono::{DateTime, Utc};
use serde::Serialize;
use stackdock_core::provisioning::Reason;
use stackdock_core::{ProvisioningState, ResourceStatus};

use crate::model::{Operation, RunId, RunStatus};

/// One thing that happened in a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunEvent {
    /// The run.
    pub run_id: RunId,
    /// Its scope.
    pub scope: String,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub kind: RunEventKind,
}

/// What happened.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEventKind {
    /// The run started (this caller holds the scope).
    RunStarted {
        /// What it does.
        operation: Operation,
    },
    /// A step is being worked on.
    StepStarted {
        /// The step.
        step: String,
        /// Its dock.
        dock: String,
    },
    /// A step's record moved (already durably recorded when this is sent).
    Transition {
        /// The step.
        step: String,
        /// State before.
        from: ProvisioningState,
        /// State after.
        to: ProvisioningState,
        /// Why.
        reason: Reason,
    },
    /// A step is done.
    StepFinished {
        /// The step.
        step: String,
        /// How.
        outcome: StepOutcome,
    },
    /// A step's attempt failed with a temporary error; it is tried again
    /// (from its recorded state) after a backoff.
    Retry {
        /// The step.
        step: String,
        /// The attempt about to start (2 for the first retry).
        attempt: u32,
        /// The wait before it.
        #[serde(with = "duration_ms")]
        after: std::time::Duration,
        /// The error's stable code.
        code: String,
    },
    /// The run was asked to stop: no new step or retry starts; calls in
    /// flight return, then the run finishes `cancelled`.
    Cancelling,
    /// A step failed and the run compensates what it created.
    RollbackStarted,
    /// A deploy's deployment was created, or its status changed.
    Deployment {
        /// The web service step deployed.
        step: String,
        /// The provider's id of the deployment.
        deployment: String,
        /// Its universal status (`provisioning` while it builds).
        status: ResourceStatus,
        /// Its provisioning state (`provisioned` once ready, `failed`).
        state: ProvisioningState,
        /// Where it is served, once known.
        #[serde(skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// The run ended.
    RunFinished {
        /// How.
        status: RunStatus,
    },
}

/// How a step ended in a run.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StepOutcome {
    /// This run created the resource.
    Created,
    /// The resource was already there and is now managed.
    Adopted,
    /// Drift was found and fixed.
    Updated,
    /// Observed as asked; nothing changed.
    Unchanged,
    /// Deleted (destroy) or found already gone.
    Deleted,
    /// Deleted by a rollback (this run had created it).
    RolledBack,
    /// Deliberately left alone (adopted, or held by another scope).
    Skipped {
        /// Stable reason code.
        reason: String,
    },
    /// Failed.
    Failed {
        /// Stable code (an error kind).
        code: String,
    },
}

/// Durations as whole milliseconds in JSON.
mod duration_ms {
    pub(super) fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}
