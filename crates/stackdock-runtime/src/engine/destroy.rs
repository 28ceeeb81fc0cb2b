//! Destroy: delete everything recorded for a scope, children first.

use super::*;

impl Runtime {
    /// Delete everything recorded for `scope`, children first (from the
    /// store alone: no blueprint needed). Idempotent: a destroyed scope
    /// destroys again with no remote call. A resource another scope's live
    /// step also holds is released, not deleted.
    pub async fn destroy(&self, scope: &str, org: &str, actor: &str) -> Result<RunReport> {
        let request = RunRequest::destroy(scope, org, actor);
        match self.submit(&request).await? {
            StartOutcome::Joined(run) => Ok(joined(run)),
            StartOutcome::Started(run) => self.execute_run(&run, &request).await,
        }
    }

    pub(super) async fn destroy_run(&self, ctx: &RunCtx) -> Result<RunReport> {
        self.emit(
            ctx,
            RunEventKind::RunStarted {
                operation: Operation::Destroy,
            },
        );
        let states = self.store.list_steps(&ctx.scope).await?;
        let names: BTreeSet<String> = states.iter().map(|s| s.step.clone()).collect();
        // Children first: a step waits for every step that needs it.
        let mut dependents: BTreeMap<String, BTreeSet<String>> =
            names.iter().map(|n| (n.clone(), BTreeSet::new())).collect();
        for state in &states {
            for needed in state.needs.iter().filter(|n| names.contains(*n)) {
                dependents
                    .entry(needed.clone())
                    .or_default()
                    .insert(state.step.clone());
            }
        }
        let by_name: BTreeMap<String, StepState> =
            states.into_iter().map(|s| (s.step.clone(), s)).collect();
        let outcomes = Mutex::new(BTreeMap::new());
        let failure = run_dag(&dependents, self.concurrency, |step| {
            let (outcomes, by_name) = (&outcomes, &by_name);
            async move {
                let state = by_name[&step].clone();
                let result = self.destroy_step(ctx, state).await;
                self.finish_step(ctx, &step, result, outcomes)
            }
        })
        .await;
        let steps = outcomes.into_inner().unwrap_or_else(|p| p.into_inner());
        match failure {
            None => {
                self.finish(
                    ctx,
                    Ending {
                        status: RunStatus::Succeeded,
                        reason: None,
                        message: None,
                        failure: None,
                        rolled_back: Vec::new(),
                    },
                    steps,
                )
                .await
            }
            Some(f) if ctx.cancel.is_cancelled() => self.finish_cancelled(ctx, f, steps).await,
            Some(f) => {
                self.finish(
                    ctx,
                    Ending {
                        status: RunStatus::Failed,
                        reason: Some("step_failed"),
                        message: None,
                        failure: Some(f),
                        rolled_back: Vec::new(),
                    },
                    steps,
                )
                .await
            }
        }
    }

    pub(super) async fn destroy_step(&self, ctx: &RunCtx, state: StepState) -> Result<StepOutcome> {
        let span = tracing::info_span!("step", step = %state.step, dock = %state.dock);
        async {
            if state.record.state == S::Deprovisioned {
                return Ok(StepOutcome::Deleted);
            }
            ctx.check_cancelled()?;
            self.emit(
                ctx,
                RunEventKind::StepStarted {
                    step: state.step.clone(),
                    dock: state.dock.clone(),
                },
            );
            if blueprint::is_env_var(&state.spec)
                && state.record.outcome != Some(CreateOutcome::Created)
            {
                // A variable this scope found already there: its value may
                // be what the app runs on; not ours to remove.
                let why = "env var adopted, not created here; released, not deleted";
                return self.release_step(ctx, state, why, "adopted").await;
            }
            if self.held_elsewhere(&state).await? {
                // Release, do not delete: another scope manages it too.
                let why = "held by another scope; released, not deleted";
                return self
                    .release_step(ctx, state, why, "held_by_another_scope")
                    .await;
            }
            self.delete_step(ctx, state).await
        }
        .instrument(span)
        .await
    }

    /// Delete a step's resource (retrying temporary failures).
    async fn delete_step(&self, ctx: &RunCtx, state: StepState) -> Result<StepOutcome> {
        let dock = self.docks.require(&state.dock)?;
        let spec: Option<ResourceSpec> = serde_json::from_value(state.spec.clone()).ok();
        let env_step = env_var::recorded_step(&state)?;
        let (step, dock_id) = (state.step.clone(), state.dock.clone());
        let mut record = state.record.clone();
        let sink = StepSink::new(self, ctx, state);
        let mut retries = 0;
        loop {
            let permits = self.permits.acquire(&dock_id).await?;
            let attempt = match &env_step {
                Some(env_step) => match env_var::extension(dock.as_ref(), &step) {
                    Ok(env) => env_var::deprovision(env, env_step, &mut record, &sink).await,
                    Err(e) => Err(e),
                },
                None => drive::deprovision(dock.as_ref(), spec.as_ref(), &mut record, &sink).await,
            };
            drop(permits);
            match attempt {
                Err(e) if self.retry_after_backoff(ctx, &step, &mut retries, &e).await => {}
                other => break other?,
            }
        }
        Ok(StepOutcome::Deleted)
    }

    /// Stop managing a step's resource without calling its dock: recorded
    /// `deprovisioned` (reason `manual`, `why`), audited as a skipped delete.
    pub(super) async fn release_step(
        &self,
        ctx: &RunCtx,
        state: StepState,
        why: &str,
        code: &str,
    ) -> Result<StepOutcome> {
        let mut record = state.record.clone();
        let sink = StepSink::new(self, ctx, state);
        if record.state != S::Deprovisioning {
            record
                .transition(S::Deprovisioning, Step::new(Reason::Manual, why))
                .map_err(Error::from)?;
            sink.persist(&record).await?;
        }
        record
            .transition(S::Deprovisioned, Step::new(Reason::Manual, why))
            .map_err(Error::from)?;
        sink.persist(&record).await?;
        Ok(StepOutcome::Skipped {
            reason: code.to_owned(),
        })
    }
}
