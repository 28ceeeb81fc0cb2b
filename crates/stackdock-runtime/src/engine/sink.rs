//! The transition sink: every transition durable before the next call.

use super::*;

/// Writes every transition of one step to the store before the driver goes
/// on, audits every mutation's outcome, and reports the transition.
///
/// One durable write per transition: the step's state (with the resource's
/// outputs once it is provisioned) and, for a mutation's outcome, its audit
/// entry are committed together ([`Store::put_step_audited`]) when the
/// runtime audits into its store.
pub(super) struct StepSink<'a> {
    runtime: &'a Runtime,
    run: &'a RunCtx,
    state: Mutex<StepState>,
    wrote: std::sync::atomic::AtomicBool,
}

impl<'a> StepSink<'a> {
    pub(super) fn new(runtime: &'a Runtime, run: &'a RunCtx, state: StepState) -> Self {
        StepSink {
            runtime,
            run,
            state: Mutex::new(state),
            wrote: Default::default(),
        }
    }

    /// The step's state as last written, and whether anything was written
    /// (each write carries the whole state, description included).
    pub(super) fn into_state(self) -> (StepState, bool) {
        let wrote = self.wrote.into_inner();
        (
            self.state.into_inner().unwrap_or_else(|p| p.into_inner()),
            wrote,
        )
    }

    pub(super) async fn write(
        &self,
        record: &ProvisioningRecord,
        outputs: Option<serde_json::Value>,
    ) -> Result<()> {
        // The sink's state stays the last one *written*: after a failed
        // write, the step's final write sees the record still differs.
        let (snapshot, previous_id) = {
            let mut state = lock(&self.state).clone();
            let previous_id = state.record.resource_id.clone();
            state.record = record.clone();
            if let Some(outputs) = outputs {
                state.outputs = outputs;
            }
            let last = record.history.last();
            if last.is_some_and(|t| {
                t.to == S::Provisioned && t.outcome == Some(CreateOutcome::Created)
            }) {
                state.created_by_run = Some(self.run.id.clone());
            }
            state.last_run = Some(self.run.id.clone());
            state.updated_at = Utc::now();
            (state, previous_id)
        };
        let entry = record
            .history
            .last()
            .and_then(|t| self.audit_entry(t, record, previous_id.as_ref(), &snapshot));
        let store = &self.runtime.store;
        match &entry {
            Some(entry) if self.runtime.audit_in_store => {
                let seq = store
                    .put_step_audited(&snapshot, Some(&self.run.id), entry)
                    .await?;
                crate::audit::log_entry(seq, entry);
            }
            _ => store.put_step(&snapshot, Some(&self.run.id)).await?,
        }
        *lock(&self.state) = snapshot.clone();
        self.wrote.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = record.history.last() {
            self.runtime.emit(
                self.run,
                RunEventKind::Transition {
                    step: snapshot.step.clone(),
                    from: t.from,
                    to: t.to,
                    reason: t.reason,
                },
            );
        }
        match entry {
            Some(entry) if !self.runtime.audit_in_store => self.runtime.audit.record(entry).await,
            _ => Ok(()),
        }
    }

    /// The audit entry of a mutation's outcome (`None` for other transitions).
    fn audit_entry(
        &self,
        t: &stackdock_core::provisioning::Transition,
        record: &ProvisioningRecord,
        previous_id: Option<&ResourceId>,
        snapshot: &StepState,
    ) -> Option<AuditEntry> {
        let (operation, outcome) = match (t.from, t.to) {
            (S::Provisioning, S::Provisioned) => (
                "create",
                match t.outcome {
                    Some(CreateOutcome::Adopted) => AuditOutcome::Adopted,
                    _ => AuditOutcome::Succeeded,
                },
            ),
            (S::Provisioning, S::Failed) => ("create", AuditOutcome::Failed),
            (S::Updating, S::Provisioned) => ("update", AuditOutcome::Succeeded),
            (S::Updating, S::Failed) => ("update", AuditOutcome::Failed),
            (S::Deprovisioning, S::Deprovisioned) if t.reason == Reason::Manual => {
                ("delete", AuditOutcome::Skipped)
            }
            (S::Deprovisioning, S::Deprovisioned) => ("delete", AuditOutcome::Succeeded),
            (S::Deprovisioning, S::Failed) => ("delete", AuditOutcome::Failed),
            _ => return None,
        };
        let id = record
            .resource_id
            .as_ref()
            .or(previous_id)
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
        Some(entry)
    }
}

#[async_trait]
impl TransitionSink for StepSink<'_> {
    async fn persist(&self, record: &ProvisioningRecord) -> stackdock_core::Result<()> {
        self.write(record, None).await.map_err(Error::into_core)
    }

    async fn persist_provisioned(
        &self,
        record: &ProvisioningRecord,
        resource: &stackdock_core::Resource,
    ) -> stackdock_core::Result<()> {
        self.write(record, Some(blueprint::outputs_of(resource)))
            .await
            .map_err(Error::into_core)
    }
}
