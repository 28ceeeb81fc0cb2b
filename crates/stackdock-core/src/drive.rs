//! Drivers: call an adapter and move a [`ProvisioningRecord`] with it.
//!
//! Each driver reports every transition to a [`TransitionSink`] *before* the
//! next remote call, and stops if the sink fails: intent is durable before
//! the provider is asked, or the provider is not asked at all (Crossplane's
//! create-pending marker, done with a fallible, async write).
//!
//! # Guarantees
//!
//! Written the way kube-runtime documents its finalizer helper: what each
//! driver does, and what it assumes of the caller.
//!
//! * **[`provision`]** looks before it creates. From `pending`, `failed`,
//!   `missing` or `deprovisioned` it first finds the resource
//!   ([`DockAdapterExt::find`]): if it is already there the record goes
//!   straight to `provisioned` as **adopted** and no create is sent.
//!   Otherwise it records `provisioning` (reason `create_requested`), then
//!   creates, and records the adapter's own outcome (created / adopted).
//! * A record left in **`provisioning` by a crash** is resumed: the driver
//!   records `resumed`, finds the resource, and if it is there records it as
//!   **created** (the record's `create_requested` was written only after the
//!   resource was observed absent); otherwise it creates. It never sends a
//!   second create blindly.
//! * A resource found in status **`provisioning`** (a create of it was
//!   interrupted part-way, e.g. a database whose ownership marker was never
//!   finished) is not taken as done: the driver calls `create`, which the
//!   adapter contract makes finish it or adopt it, never duplicate it.
//! * A `provisioned` record is **re-provisioned** by [`reconcile`]: observe,
//!   then nothing (up to date), an update (drifted) or a re-create (vanished).
//! * **[`deprovision`]** deletes the recorded resource (delete of what is
//!   gone succeeds), or — with no id recorded — finds it by the spec first;
//!   on a `deprovisioned` record it is a no-op transition. The id is cleared.
//! * **[`rollback`]** deletes only what the record's own create **created**,
//!   never what it adopted; an adopted record is left as it is.
//!
//! The caller must run at most one driver per record at a time (the
//! runtime's scope lock does) and persist what the sink receives.
//!
//! ```
//! use stackdock_core::drive::{deprovision, provision, Discard};
//! use stackdock_core::spec::{DatabaseSpec, ResourceSpec};
//! use stackdock_core::{CreateOutcome, InMemoryAdapter, ProvisioningRecord, ProvisioningSource, ProvisioningState};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let dock = InMemoryAdapter::new("demo");
//! let spec = ResourceSpec::from(DatabaseSpec { name: "shop".into(), ..Default::default() });
//! let mut record = ProvisioningRecord::new(ProvisioningSource::Api);
//! let created = provision(&dock, &spec, &mut record, &Discard).await?;
//! assert_eq!(created.outcome, CreateOutcome::Created);
//! assert_eq!(record.state, ProvisioningState::Provisioned);
//! deprovision(&dock, Some(&spec), &mut record, &Discard).await?;
//! deprovision(&dock, Some(&spec), &mut record, &Discard).await?; // again: no-op
//! assert_eq!(record.state, ProvisioningState::Deprovisioned);
//! # Ok::<(), stackdock_core::Error>(()) }).unwrap();
//! ```

use async_trait::async_trait;

use crate::adapter::{Created, DockAdapter, DockAdapterExt};
use crate::context::CallContext;
use crate::outcome::CreateOutcome;
use crate::provisioning::{ProvisioningRecord, ProvisioningState as S, Reason, Step};
use crate::resource::{Resource, ResourceId, ResourceStatus};
use crate::spec::ResourceSpec;
use crate::{Error, Result};

/// Where drivers write each transition, before the next remote call.
///
/// A failed write stops the driver: the provider is not called with an
/// intent that was not recorded.
#[async_trait]
pub trait TransitionSink: Send + Sync {
    /// Durably record the record as it is now.
    async fn persist(&self, record: &ProvisioningRecord) -> Result<()>;

    /// Durably record the record as it is now, having just moved to
    /// `provisioned` with `resource` (created, adopted, updated or found up
    /// to date). Drivers call this instead of [`persist`](Self::persist) for
    /// those transitions, so a sink that keeps what it learns of the
    /// resource (its outputs) writes it in the same durable write as the
    /// outcome. The default ignores `resource`.
    async fn persist_provisioned(
        &self,
        record: &ProvisioningRecord,
        resource: &Resource,
    ) -> Result<()> {
        let _ = resource;
        self.persist(record).await
    }
}

/// A sink that keeps nothing (tests, one-shot tools).
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

#[async_trait]
impl TransitionSink for Discard {
    async fn persist(&self, _record: &ProvisioningRecord) -> Result<()> {
        Ok(())
    }
}

/// Any synchronous `Fn(&ProvisioningRecord) -> Result<()>` is a sink.
#[async_trait]
impl<F> TransitionSink for F
where
    F: Fn(&ProvisioningRecord) -> Result<()> + Send + Sync,
{
    async fn persist(&self, record: &ProvisioningRecord) -> Result<()> {
        self(record)
    }
}

/// Moves `record` and persists it; an unrecorded intent is never acted on.
async fn advance(
    record: &mut ProvisioningRecord,
    sink: &dyn TransitionSink,
    to: S,
    step: Step,
) -> Result<()> {
    record.transition(to, step.by(actor()))?;
    sink.persist(record).await
}

/// Moves `record` to `provisioned` with `resource` and persists both.
async fn provisioned(
    record: &mut ProvisioningRecord,
    sink: &dyn TransitionSink,
    resource: &Resource,
    step: Step,
) -> Result<()> {
    record.transition(S::Provisioned, step.by(actor()))?;
    sink.persist_provisioned(record, resource).await
}

/// Records a failure, persists it, and hands the error back.
async fn failed(record: &mut ProvisioningRecord, sink: &dyn TransitionSink, error: Error) -> Error {
    if let Err(e) = record.fail_with(&error, actor()) {
        return e;
    }
    match sink.persist(record).await {
        Ok(()) => error,
        Err(persist) => persist,
    }
}

fn actor() -> Option<String> {
    CallContext::current().and_then(|c| c.actor)
}

fn describe(spec: &ResourceSpec) -> String {
    format!("{} {}", spec.kind(), spec.name())
}

/// Create `spec`, or adopt it when it is already there; see the
/// [guarantees](self). Returns what was made or found, with its outcome for
/// *this* call.
pub async fn provision(
    adapter: &dyn DockAdapter,
    spec: &ResourceSpec,
    record: &mut ProvisioningRecord,
    sink: &dyn TransitionSink,
) -> Result<Created> {
    match record.state {
        S::Provisioned | S::Drifted | S::Updating => {
            let resource = reconcile(adapter, spec, record, sink).await?;
            Ok(Created::adopted(resource))
        }
        S::Failed if record.resource_id.is_some() => {
            let resource = reconcile(adapter, spec, record, sink).await?;
            Ok(Created::adopted(resource))
        }
        _ => create_path(adapter, spec, record, sink).await,
    }
}

/// Provisioning of a record that has no live resource yet.
async fn create_path(
    adapter: &dyn DockAdapter,
    spec: &ResourceSpec,
    record: &mut ProvisioningRecord,
    sink: &dyn TransitionSink,
) -> Result<Created> {
    if record.state == S::Provisioning {
        resume_create(adapter, spec, record, sink).await
    } else {
        first_create(adapter, spec, record, sink).await
    }
}

/// From pending / failed / missing / deprovisioned: look, then create.
async fn first_create(
    adapter: &dyn DockAdapter,
    spec: &ResourceSpec,
    record: &mut ProvisioningRecord,
    sink: &dyn TransitionSink,
) -> Result<Created> {
    if let Some(existing) = finished(adapter.find(spec).await?) {
        let reason = if record.state == S::Missing {
            Reason::Reappeared
        } else {
            Reason::Adopted
        };
        record.resource_id = Some(existing.id());
        if record.state != S::Pending && !record.state.can_transition_to(S::Provisioned) {
            advance(
                record,
                sink,
                S::Provisioning,
                Step::new(reason, describe(spec)),
            )
            .await?;
        }
        let step = Step::new(
            reason,
            format!("{} found as {}", describe(spec), existing.id()),
        )
        .with_outcome(CreateOutcome::Adopted);
        provisioned(record, sink, &existing, step).await?;
        return Ok(Created::adopted(existing));
    }
    record.resource_id = adapter.planned_id(spec);
    let step = Step::new(
        Reason::CreateRequested,
        format!("{} observed absent; create requested", describe(spec)),
    );
    advance(record, sink, S::Provisioning, step).await?;
    create(adapter, spec, record, sink).await
}

/// A record left in `provisioning`: its create was asked after the resource
/// was observed absent, so whatever is there now is this record's.
async fn resume_create(
    adapter: &dyn DockAdapter,
    spec: &ResourceSpec,
    record: &mut ProvisioningRecord,
    sink: &dyn TransitionSink,
) -> Result<Created> {
    let step = Step::new(Reason::Resumed, format!("{} resumed", describe(spec)));
    advance(record, sink, S::Provisioning, step).await?;
    match adapter.find(spec).await.map(finished) {
        Ok(Some(existing)) => {
            record.resource_id = Some(existing.id());
            let step = Step::new(
                Reason::Created,
                format!(
                    "{} found as {} after a resume",
                    describe(spec),
                    existing.id()
                ),
            )
            .with_outcome(CreateOutcome::Created);
            provisioned(record, sink, &existing, step).await?;
            Ok(Created::new(existing))
        }
        Ok(None) => create(adapter, spec, record, sink).await,
        Err(error) => Err(failed(record, sink, error).await),
    }
}

/// A found resource that is done being made; one still `provisioning` (a
/// create interrupted part-way) is `None`, so the driver creates and the
/// adapter finishes or adopts it instead of the record calling it done.
fn finished(found: Option<Resource>) -> Option<Resource> {
    found.filter(|r| r.status() != ResourceStatus::Provisioning)
}

/// The create call itself, from `provisioning`.
async fn create(
    adapter: &dyn DockAdapter,
    spec: &ResourceSpec,
    record: &mut ProvisioningRecord,
    sink: &dyn TransitionSink,
) -> Result<Created> {
    match adapter.create(spec).await {
        Ok(created) => {
            record.resource_id = Some(created.id());
            let reason = match created.outcome {
                CreateOutcome::Created => Reason::Created,
                CreateOutcome::Adopted => Reason::Adopted,
            };
            let step = Step::new(
                reason,
                format!("{} {} as {}", describe(spec), created.outcome, created.id()),
            )
            .with_outcome(created.outcome);
            provisioned(record, sink, &created.resource, step).await?;
            Ok(created)
        }
        Err(error) => Err(failed(record, sink, error).await),
    }
}

/// Change the recorded resource to match `spec` (`updating → provisioned`).
pub async fn update(
    adapter: &dyn DockAdapter,
    spec: &ResourceSpec,
    record: &mut ProvisioningRecord,
    sink: &dyn TransitionSink,
) -> Result<Resource> {
    let id = recorded_id(record)?;
    let step = Step::new(Reason::UpdateRequested, format!("update {id} requested"));
    advance(record, sink, S::Updating, step).await?;
    match adapter.update(&id, spec).await {
        Ok(resource) => {
            record.resource_id = Some(resource.id());
            let step = Step::new(Reason::Updated, format!("{} updated", resource.id()));
            provisioned(record, sink, &resource, step).await?;
            Ok(resource)
        }
        Err(error) => Err(failed(record, sink, error).await),
    }
}

fn recorded_id(record: &ProvisioningRecord) -> Result<ResourceId> {
    record
        .resource_id
        .clone()
        .ok_or_else(|| Error::invalid_input("record", "no resource id recorded yet"))
}

/// Observe the recorded resource and bring it back to `spec`: nothing when
/// it is up to date, an update when it drifted, a re-create when it
/// vanished. A record without a resource provisions.
pub async fn reconcile(
    adapter: &dyn DockAdapter,
    spec: &ResourceSpec,
    record: &mut ProvisioningRecord,
    sink: &dyn TransitionSink,
) -> Result<Resource> {
    let id = match &record.resource_id {
        Some(id)
            if !matches!(
                record.state,
                S::Provisioning | S::Pending | S::Deprovisioned
            ) =>
        {
            id.clone()
        }
        _ => {
            return Ok(create_path(adapter, spec, record, sink)
                .await?
                .into_resource())
        }
    };
    let observed = adapter.observe(&id, Some(spec)).await?;
    match observed.resource {
        None => {
            if record.state.can_transition_to(S::Missing) && record.state != S::Missing {
                let step = Step::new(Reason::Vanished, format!("{id} no longer exists"));
                advance(record, sink, S::Missing, step).await?;
            }
            Ok(first_create(adapter, spec, record, sink)
                .await?
                .into_resource())
        }
        Some(_) if !observed.up_to_date => {
            if record.state.can_transition_to(S::Drifted) {
                let fields: Vec<_> = observed.diff.iter().map(|d| d.field.as_str()).collect();
                let step = Step::new(
                    Reason::DriftDetected,
                    format!("{id} differs in {}", fields.join(", ")),
                );
                advance(record, sink, S::Drifted, step).await?;
            }
            update(adapter, spec, record, sink).await
        }
        Some(resource) => {
            if record.state != S::Provisioned {
                let step = Step::new(Reason::UpToDate, format!("{id} is as asked"));
                provisioned(record, sink, &resource, step).await?;
            }
            Ok(resource)
        }
    }
}

/// Delete the recorded resource; see the [guarantees](self). With no id
/// recorded (a provider-assigned id never learned), `spec` finds it.
pub async fn deprovision(
    adapter: &dyn DockAdapter,
    spec: Option<&ResourceSpec>,
    record: &mut ProvisioningRecord,
    sink: &dyn TransitionSink,
) -> Result<()> {
    if record.state == S::Deprovisioned {
        let step = Step::new(Reason::NothingToDelete, "already deprovisioned");
        return advance(record, sink, S::Deprovisioned, step).await;
    }
    let id = match (&record.resource_id, spec) {
        (Some(id), _) => Some(id.clone()),
        (None, Some(spec)) if record.state != S::Pending => {
            adapter.find(spec).await?.map(|r| r.id())
        }
        _ => None,
    };
    let Some(id) = id else {
        let (reason, message) = match record.state {
            S::Pending => (Reason::Abandoned, "nothing was asked of the provider"),
            _ => (Reason::NothingToDelete, "nothing was made"),
        };
        if !record.state.can_transition_to(S::Deprovisioned) {
            advance(record, sink, S::Deprovisioning, Step::new(reason, message)).await?;
        }
        return advance(record, sink, S::Deprovisioned, Step::new(reason, message)).await;
    };
    record.resource_id = Some(id.clone());
    let step = Step::new(Reason::DeleteRequested, format!("delete {id} requested"));
    advance(record, sink, S::Deprovisioning, step).await?;
    match adapter.delete(&id).await {
        Ok(()) => {
            let step = Step::new(Reason::Deleted, format!("{id} deleted"));
            advance(record, sink, S::Deprovisioned, step).await
        }
        Err(error) => Err(failed(record, sink, error).await),
    }
}

/// Undo this record's create: delete the resource only if the record's own
/// create made it. Returns whether anything was deleted; an adopted (or
/// never made) resource is left alone and the record unchanged.
pub async fn rollback(
    adapter: &dyn DockAdapter,
    record: &mut ProvisioningRecord,
    sink: &dyn TransitionSink,
) -> Result<bool> {
    if !record.may_delete_on_rollback() {
        return Ok(false);
    }
    deprovision(adapter, None, record, sink).await?;
    Ok(true)
}
