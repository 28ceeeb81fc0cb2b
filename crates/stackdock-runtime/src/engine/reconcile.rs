//! Reconcile: observe every recorded step and repair it, from the store alone.

use super::*;

impl Runtime {
    /// Observe every recorded step of `scope` and bring it back to what was
    /// last applied, from the store alone (no blueprint): nothing for what
    /// is up to date, an update for drift, a re-create for what vanished,
    /// and a resume (look first) for what a dead run left half-done.
    /// Secrets come from the references recorded with each step. Steps a
    /// failed apply never reached are not recorded: apply the blueprint
    /// again for those. Deduplicated like every run; failures are kept.
    pub async fn reconcile(&self, scope: &str, org: &str, actor: &str) -> Result<RunReport> {
        let request = RunRequest::reconcile(scope, org, actor);
        match self.submit(&request).await? {
            StartOutcome::Joined(run) => Ok(joined(run)),
            StartOutcome::Started(run) => self.execute_run(&run, &request).await,
        }
    }

    pub(super) async fn reconcile_run(&self, ctx: &RunCtx) -> Result<RunReport> {
        let recorded: Vec<StepState> = self
            .store
            .list_steps(&ctx.scope)
            .await?
            .into_iter()
            .filter(|s| s.record.state != S::Deprovisioned && !s.spec.is_null())
            .collect();
        let names: BTreeSet<String> = recorded.iter().map(|s| s.step.clone()).collect();
        let blueprint = Blueprint {
            scope: ctx.scope.clone(),
            org: Some(ctx.org.clone()),
            steps: recorded
                .into_iter()
                .map(|s| {
                    let def = blueprint::StepDef {
                        dock: s.dock,
                        // Recorded specs are resolved: the order is the recorded needs.
                        needs: s.needs.into_iter().filter(|n| names.contains(n)).collect(),
                        spec: s.spec,
                        secrets: s.secrets,
                    };
                    (s.step, def)
                })
                .collect(),
        };
        let deps = dependencies(&blueprint)?;
        self.apply_run(ctx, &blueprint, &deps, ApplyOptions::keep())
            .await
    }
}
