//! `env_var` steps: one environment variable of a web service, driven
//! through its dock's [`EnvVars`] extension with the same record, sink,
//! audit and retries as a resource.
//!
//! # Guarantees
//!
//! * **Intent first.** Every transition is written through the step's sink
//!   before the next call, as the resource drivers of `stackdock_core::drive`
//!   do: `provisioning` (create requested) before a first set, `updating`
//!   before a re-set, `deprovisioning` before a delete.
//! * **Look before setting.** The service's variables are listed first. A
//!   variable already there that this step did not set is **adopted** (and
//!   its value set to the blueprint's): rollback and destroy never delete
//!   an adopted variable, they release it.
//! * **No-op when nothing changed.** A recorded variable that is still
//!   there, in the same environments, whose value digest (`value_sha256`,
//!   in the step's outputs) matches the value the blueprint makes now, is
//!   not set again. Providers that never return values (Vercel's encrypted
//!   and sensitive variables) cannot show a value changed behind our back:
//!   drift there is a vanished variable or changed environments.
//! * **A resumed step re-sets.** A record left in `provisioning` or
//!   `updating` by a crash sets the value again: the set is an upsert, so
//!   repeating it is safe.
//! * **The value stays in memory.** It is built just before the call, given
//!   to the extension as a `SecretString`, and dropped; the store keeps the
//!   template text (a reference) and the digest only.

use sha2::{Digest, Sha256};
use stackdock_core::extension::{EnvVar, EnvVars};
use stackdock_core::{DockAdapterExt, ResourceKind};

use crate::blueprint::EnvVarStep;

use super::*;

/// An `env_var` step as a run wants it, value included (in memory only).
pub(super) struct Wanted {
    pub(super) step: EnvVarStep,
    pub(super) value: SecretString,
    /// Salted SHA-256 of `value` (see [`value_digest`]).
    pub(super) digest: String,
    /// The digest of the value last set, from the step's recorded outputs.
    pub(super) recorded_digest: Option<String>,
    /// The step as last recorded (its comment and sensitivity as last set).
    pub(super) recorded: Option<EnvVarStep>,
    pub(super) dock: String,
}

impl std::fmt::Debug for Wanted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wanted")
            .field("step", &self.step)
            .field("value", &"[REDACTED]")
            .field("dock", &self.dock)
            .finish_non_exhaustive()
    }
}

/// The hex SHA-256 of `value`, salted with where it is set (scope, step,
/// key), so equal values of two steps do not share a digest and no table of
/// precomputed digests applies.
pub(super) fn value_digest(scope: &str, step: &str, key: &str, value: &SecretString) -> String {
    let mut hasher = Sha256::new();
    for part in ["stackdock/env_var/v1", scope, step, key] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.update(value.expose_secret().as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The recorded spec of an env var step (`None` for a resource step).
pub(super) fn recorded_step(state: &StepState) -> Result<Option<EnvVarStep>> {
    if !crate::blueprint::is_env_var(&state.spec) {
        return Ok(None);
    }
    Ok(Some(EnvVarStep::from_spec(&state.step, &state.spec)?))
}

/// The web service an env var step names.
pub(super) fn service_id(step: &EnvVarStep) -> ResourceId {
    ResourceId::new(ResourceKind::WebService, step.service.clone())
}

/// What the step records as its resource: the variable, under its service.
pub(super) fn variable_id(step: &EnvVarStep) -> ResourceId {
    ResourceId::new(
        ResourceKind::WebService,
        format!("{}/env/{}", step.service, step.key),
    )
}

/// The step's outputs: what later steps may reference, and the digest of
/// the value now set (`None`: not set by this step yet, so the next apply
/// sets it whatever it finds).
fn outputs(want: &Wanted, live: &[EnvVar], digest: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "name": want.step.key,
        "key": want.step.key,
        "id": variable_id(&want.step).id,
        "dock": want.dock,
        "service": want.step.service,
        "targets": want.step.targets,
        "provider_ids": live.iter().map(|v| v.id.clone()).collect::<Vec<_>>(),
        "value_sha256": digest,
    })
}

/// The variables named `key`, and the environments they cover together.
fn live_with_key(vars: Vec<EnvVar>, key: &str) -> (Vec<EnvVar>, BTreeSet<String>) {
    let live: Vec<EnvVar> = vars.into_iter().filter(|v| v.key == key).collect();
    let targets = live
        .iter()
        .flat_map(|v| v.environments.iter().cloned())
        .collect();
    (live, targets)
}

/// Whether the key's live copies must be deleted before the set: they
/// cover other environments, or are of another sensitivity.
fn must_replace(want: &Wanted, live: &[EnvVar], live_targets: &BTreeSet<String>) -> bool {
    let wanted: BTreeSet<&String> = want.step.targets.iter().collect();
    live_targets.iter().collect::<BTreeSet<_>>() != wanted
        || live.iter().any(|v| v.sensitive != want.step.sensitive)
}

/// The dock's env var extension, or a typed `unsupported` error naming the
/// step: what a blueprint asking a dock without it gets, before any call.
pub(super) fn extension<'d>(
    dock: &'d dyn DockAdapter,
    step: &str,
) -> stackdock_core::Result<&'d dyn EnvVars> {
    dock.require_env_vars()
        .map_err(|e| e.with_context("step", step.to_owned()))
}

async fn advance(
    record: &mut ProvisioningRecord,
    sink: &StepSink<'_>,
    to: S,
    step: Step,
    outputs: Option<serde_json::Value>,
) -> stackdock_core::Result<()> {
    record.transition(to, step.by(actor()))?;
    sink.write(record, outputs).await.map_err(Error::into_core)
}

async fn failed(
    record: &mut ProvisioningRecord,
    sink: &StepSink<'_>,
    error: stackdock_core::Error,
) -> stackdock_core::Error {
    if let Err(e) = record.fail_with(&error, actor()) {
        return e;
    }
    match sink.write(record, None).await {
        Ok(()) => error,
        Err(persist) => persist.into_core(),
    }
}

fn actor() -> Option<String> {
    CallContext::current().and_then(|c| c.actor)
}

/// Set the variable (its intent already recorded) and record it
/// `provisioned` with `done`: the reason, and the outcome for a create.
/// `replace`: delete the key's copies first (other environments, or another
/// sensitivity, which an upsert does not overwrite).
async fn set(
    env: &dyn EnvVars,
    want: &Wanted,
    record: &mut ProvisioningRecord,
    sink: &StepSink<'_>,
    replace: bool,
    done: (Reason, Option<CreateOutcome>),
) -> stackdock_core::Result<serde_json::Value> {
    let service = service_id(&want.step);
    let key = &want.step.key;
    if replace {
        // An upsert only overwrites the same key *and* environments (and
        // type): drop the old copies first.
        if let Err(e) = env.delete_env_var(&service, key).await {
            return Err(failed(record, sink, e).await);
        }
    }
    let spec = want.step.core_spec(want.value.clone());
    let stored = match env
        .set_env_vars(&service, std::slice::from_ref(&spec))
        .await
    {
        Ok(stored) => stored,
        Err(e) => return Err(failed(record, sink, e).await),
    };
    record.resource_id = Some(variable_id(&want.step));
    let out = outputs(want, &stored, Some(&want.digest));
    let mut step = Step::new(done.0, format!("env var {key} set on {service}"));
    if let Some(outcome) = done.1 {
        step = step.with_outcome(outcome);
    }
    advance(record, sink, S::Provisioned, step, Some(out.clone())).await?;
    Ok(out)
}

/// Bring the variable to `want`; see the [guarantees](self). Returns the
/// step's outputs.
pub(super) async fn provision(
    env: &dyn EnvVars,
    want: &Wanted,
    record: &mut ProvisioningRecord,
    sink: &StepSink<'_>,
) -> stackdock_core::Result<serde_json::Value> {
    let key = want.step.key.clone();
    // A create whose intent was recorded but whose outcome was not (a dead
    // run, or a failed set whose reply was lost): setting again is an upsert,
    // and whatever is there now is this record's.
    let unfinished_create = record.state == S::Provisioning
        || (record.state == S::Failed && record.outcome.is_none() && record.resource_id.is_some());
    if unfinished_create {
        let step = Step::new(Reason::Resumed, format!("env var {key} resumed"));
        advance(record, sink, S::Provisioning, step, None).await?;
        let (live, live_targets) =
            live_with_key(env.list_env_vars(&service_id(&want.step)).await?, &key);
        let replace = !live.is_empty() && must_replace(want, &live, &live_targets);
        let done = (Reason::Created, Some(CreateOutcome::Created));
        return set(env, want, record, sink, replace, done).await;
    }
    let (live, live_targets) =
        live_with_key(env.list_env_vars(&service_id(&want.step)).await?, &key);
    let recorded = record.resource_id.is_some()
        && matches!(
            record.state,
            S::Provisioned | S::Drifted | S::Updating | S::Failed
        );
    if live.is_empty() {
        if recorded && record.state.can_transition_to(S::Missing) {
            let step = Step::new(Reason::Vanished, format!("env var {key} no longer exists"));
            advance(record, sink, S::Missing, step, None).await?;
        }
        let step = Step::new(
            Reason::CreateRequested,
            format!("env var {key} observed absent; set requested"),
        );
        record.resource_id = Some(variable_id(&want.step));
        advance(record, sink, S::Provisioning, step, None).await?;
        let done = (Reason::Created, Some(CreateOutcome::Created));
        return set(env, want, record, sink, false, done).await;
    }
    let replace = must_replace(want, &live, &live_targets);
    if !recorded {
        // There, but not set by this step: adopt it, then set our value
        // (the provider does not show the one it has).
        record.resource_id = Some(variable_id(&want.step));
        if record.state != S::Pending && !record.state.can_transition_to(S::Provisioned) {
            let step = Step::new(Reason::Adopted, format!("env var {key}"));
            advance(record, sink, S::Provisioning, step, None).await?;
        }
        let step = Step::new(Reason::Adopted, format!("env var {key} found; adopted"))
            .with_outcome(CreateOutcome::Adopted);
        advance(
            record,
            sink,
            S::Provisioned,
            step,
            // No digest yet: a crash before the set below leaves the next
            // apply setting it, not taking the provider's value as ours.
            Some(outputs(want, &live, None)),
        )
        .await?;
        return update(env, want, record, sink, replace).await;
    }
    let value_changed = want.recorded_digest.as_deref() != Some(want.digest.as_str());
    let described_differently = want
        .recorded
        .as_ref()
        .is_some_and(|r| (r.sensitive, &r.comment) != (want.step.sensitive, &want.step.comment));
    if replace || value_changed || described_differently || record.state != S::Provisioned {
        if replace && record.state.can_transition_to(S::Drifted) {
            let step = Step::new(
                Reason::DriftDetected,
                format!("env var {key} differs in environments or sensitivity"),
            );
            advance(record, sink, S::Drifted, step, None).await?;
        }
        return update(env, want, record, sink, replace).await;
    }
    Ok(outputs(want, &live, Some(&want.digest)))
}

async fn update(
    env: &dyn EnvVars,
    want: &Wanted,
    record: &mut ProvisioningRecord,
    sink: &StepSink<'_>,
    replace: bool,
) -> stackdock_core::Result<serde_json::Value> {
    let key = &want.step.key;
    let step = Step::new(
        Reason::UpdateRequested,
        format!("env var {key}: set requested"),
    );
    advance(record, sink, S::Updating, step, None).await?;
    set(env, want, record, sink, replace, (Reason::Updated, None)).await
}

/// Delete the recorded variable (every copy of its key on its service);
/// gone already is success. The spec is the step's recorded one.
pub(super) async fn deprovision(
    env: &dyn EnvVars,
    step: &EnvVarStep,
    record: &mut ProvisioningRecord,
    sink: &StepSink<'_>,
) -> stackdock_core::Result<()> {
    if record.state == S::Deprovisioned {
        let step = Step::new(Reason::NothingToDelete, "already deprovisioned");
        return advance(record, sink, S::Deprovisioned, step, None).await;
    }
    let id = variable_id(step);
    record.resource_id = Some(id.clone());
    let message = format!("delete {id} requested");
    advance(
        record,
        sink,
        S::Deprovisioning,
        Step::new(Reason::DeleteRequested, message),
        None,
    )
    .await?;
    match env.delete_env_var(&service_id(step), &step.key).await {
        Ok(()) => {
            let done = Step::new(Reason::Deleted, format!("{id} deleted"));
            advance(record, sink, S::Deprovisioned, done, None).await
        }
        Err(error) => Err(failed(record, sink, error).await),
    }
}

/// What a plan says of an env var step, from a listing only (no value is
/// built: that would open secrets). `template_changed`: the recorded
/// template text differs from the blueprint's.
pub(super) async fn plan(
    env: &dyn EnvVars,
    step: &EnvVarStep,
    recorded: Option<&StepState>,
    template_changed: bool,
) -> stackdock_core::Result<(crate::plan::PlanAction, String, Vec<String>)> {
    use crate::plan::PlanAction as A;
    let (live, live_targets) =
        live_with_key(env.list_env_vars(&service_id(step)).await?, &step.key);
    let wanted: BTreeSet<String> = step.targets.iter().cloned().collect();
    let ours = recorded.is_some_and(|r| {
        r.holds_resource()
            && r.record.state != S::Provisioning
            && r.resource_id() == Some(&variable_id(step))
    });
    let mut changes = Vec::new();
    if !live.is_empty() && live_targets != wanted {
        changes.push(format!(
            "targets: {} -> {}",
            live_targets.into_iter().collect::<Vec<_>>().join(","),
            step.targets.join(",")
        ));
    }
    if live.iter().any(|v| v.sensitive != step.sensitive) {
        changes.push(format!(
            "sensitive: {} -> {}",
            !step.sensitive, step.sensitive
        ));
    }
    let before = recorded.and_then(|r| recorded_step(r).ok().flatten());
    if before.is_some_and(|b| b.comment != step.comment) {
        changes.push("comment changed".into());
    }
    if template_changed {
        changes.push("value: (template changed)".into());
    }
    Ok(match (live.is_empty(), ours) {
        (true, true) => (
            A::Create,
            "recorded variable vanished: set again".into(),
            changes,
        ),
        (true, false) => (A::Create, "absent".into(), changes),
        (false, false) => (A::Adopt, "already there: adopted and set".into(), changes),
        (false, true) if !changes.is_empty() => {
            (A::Update, "differs from the blueprint".into(), changes)
        }
        (false, true) => (
            A::NoOp,
            "set; value compared by digest at apply".into(),
            changes,
        ),
    })
}
