//! Rollback: delete what this run created, never what it adopted or
//! what another scope holds.

use super::*;

impl Runtime {
    /// Delete, newest first, what this run created; never what it adopted
    /// or what another scope's live step holds.
    pub(super) async fn rollback(
        &self,
        ctx: &RunCtx,
        outcomes: &mut BTreeMap<String, StepOutcome>,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let run = self
            .store
            .get_run(&ctx.id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("run {}", ctx.id)))?;
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for step in run.steps.iter().rev() {
            let Some(state) = self.store.get_step(&ctx.scope, step).await? else {
                continue;
            };
            if !state.holds_resource() {
                continue;
            }
            let ours = state.created_by_run.as_ref() == Some(&ctx.id)
                && state.record.may_delete_on_rollback();
            let skip = if !ours {
                Some("not_created_by_this_run")
            } else if self.held_elsewhere(&state).await? {
                Some("held_by_another_scope")
            } else {
                None
            };
            if let Some(reason) = skip {
                self.audit_skip(ctx, &state, "rollback", reason).await?;
                outcomes.insert(
                    step.clone(),
                    StepOutcome::Skipped {
                        reason: reason.into(),
                    },
                );
                continue;
            }
            let dock = match self.docks.require(&state.dock) {
                Ok(d) => d,
                Err(e) => {
                    errors.push(format!("{step}: {e}"));
                    continue;
                }
            };
            let env_step = env_var::recorded_step(&state)?;
            let mut record = state.record.clone();
            let sink = StepSink::new(self, ctx, state);
            let undone = match &env_step {
                Some(env_step) => match env_var::extension(dock.as_ref(), step) {
                    Ok(env) => env_var::deprovision(env, env_step, &mut record, &sink)
                        .await
                        .map(|()| true),
                    Err(e) => Err(e),
                },
                None => drive::rollback(dock.as_ref(), &mut record, &sink).await,
            };
            match undone {
                Ok(true) => {
                    deleted.push(step.clone());
                    outcomes.insert(step.clone(), StepOutcome::RolledBack);
                    self.emit(
                        ctx,
                        RunEventKind::StepFinished {
                            step: step.clone(),
                            outcome: StepOutcome::RolledBack,
                        },
                    );
                }
                Ok(false) => {}
                Err(e) => errors.push(format!("{step}: {e}")),
            }
        }
        Ok((deleted, errors))
    }

    /// Whether a live step of another scope (or another step) records the
    /// same resource on the same dock.
    pub(super) async fn held_elsewhere(&self, state: &StepState) -> Result<bool> {
        let Some(id) = state.resource_id() else {
            return Ok(false);
        };
        Ok(self
            .store
            .steps_holding(&state.dock, id)
            .await?
            .iter()
            .any(|other| other.scope != state.scope || other.step != state.step))
    }

    pub(super) async fn audit_skip(
        &self,
        ctx: &RunCtx,
        state: &StepState,
        operation: &str,
        reason: &str,
    ) -> Result<()> {
        let mut entry = AuditEntry::new(&ctx.actor, operation, AuditOutcome::Skipped);
        entry.org = Some(ctx.org.clone());
        entry.scope = Some(ctx.scope.clone());
        entry.dock = Some(state.dock.clone());
        entry.resource = state
            .resource_id()
            .map(|id| format!("{}:{}", id.kind, id.id));
        entry.reason = Some(reason.to_owned());
        entry.run_id = Some(ctx.id.clone());
        entry.message = Some(format!("step {} left in place", state.step));
        self.audit.record(entry).await
    }
}
