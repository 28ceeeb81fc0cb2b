//! The transition sink: every transition durable before the next call.

use super::*;

/// Writes every transition of one step to the store before the driver goes
/// on, audits every mutation's outcome, and reports the transition.
pub(super) struct StepSink<'a> {
    runtime: &'a Runtime,
    run: &'a RunCtx,
    state: Mutex<StepState>,
}

impl<'a> StepSink<'a> {
    pub(super) fn new(runtime: &'a Runtime, run: &'a RunCtx, state: StepState) -> Self {
        StepSink {
            runtime,
            run,
            state: Mutex::new(state),
        }
    }

    pub(super) fn into_state(self) -> StepState {
        self.state.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) async fn write(&self, record: &ProvisioningRecord) -> Result<()> {
        let (snapshot, previous_id) = {
            let mut state = lock(&self.state);
            let previous_id = state.record.resource_id.clone();
            state.record = record.clone();
            let last = record.history.last();
            if last.is_some_and(|t| {
                t.to == S::Provisioned && t.outcome == Some(CreateOutcome::Created)
            }) {
                state.created_by_run = Some(self.run.id.clone());
            }
            state.last_run = Some(self.run.id.clone());
            state.updated_at = Utc::now();
            (state.clone(), previous_id)
        };
        self.runtime
            .store
            .put_step(&snapshot, Some(&self.run.id))
            .await?;
        let Some(t) = record.history.last() else {
            return Ok(());
        };
        self.runtime.emit(
            self.run,
            RunEventKind::Transition {
                step: snapshot.step.clone(),
                from: t.from,
                to: t.to,
                reason: t.reason,
            },
        );
        let audited = match (t.from, t.to) {
            (S::Provisioning, S::Provisioned) => Some((
                "create",
                match t.outcome {
                    Some(CreateOutcome::Adopted) => AuditOutcome::Adopted,
                    _ => AuditOutcome::Succeeded,
                },
            )),
            (S::Provisioning, S::Failed) => Some(("create", AuditOutcome::Failed)),
            (S::Updating, S::Provisioned) => Some(("update", AuditOutcome::Succeeded)),
            (S::Updating, S::Failed) => Some(("update", AuditOutcome::Failed)),
            (S::Deprovisioning, S::Deprovisioned) if t.reason == Reason::Manual => {
                Some(("delete", AuditOutcome::Skipped))
            }
            (S::Deprovisioning, S::Deprovisioned) => Some(("delete", AuditOutcome::Succeeded)),
            (S::Deprovisioning, S::Failed) => Some(("delete", AuditOutcome::Failed)),
            _ => None,
        };
        if let Some((operation, outcome)) = audited {
            let id = record
                .resource_id
                .as_ref()
                .or(previous_id.as_ref())
                .map(|id| format!("{}:{}", id.kind, id.id))
                .or_else(|| Some(format!("step:{}", snapshot.step)));
            let mut entry = AuditEntry::new(&self.run.actor, operation, outcome);
            entry.org = Some(self.run.org.clone());
            entry.scope = Some(self.run.scope.clone());
            entry.dock = Some(snapshot.dock.clone());
            entry.resource = id;
            entry.reason = Some(match &t.failure {
                Some(f) => f.code.clone(),
                None => t.reason.as_str().to_owned(),
            });
            entry.run_id = Some(self.run.id.clone());
            entry.message = Some(t.message.clone());
            self.runtime.audit.record(entry).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl TransitionSink for StepSink<'_> {
    async fn persist(&self, record: &ProvisioningRecord) -> stackdock_core::Result<()> {
        self.write(record).await.map_err(Error::into_core)
    }
}
