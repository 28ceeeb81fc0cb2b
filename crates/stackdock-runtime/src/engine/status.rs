//! Reading a scope from the store alone: status and waiting for a run.

use super::*;

impl Runtime {
    /// The scope from the store alone: no provider is called.
    pub async fn status(&self, scope: &str) -> Result<ScopeStatus> {
        let runs = self.store.list_runs(scope).await?;
        let steps = self.store.list_steps(scope).await?;
        Ok(ScopeStatus {
            scope: scope.to_owned(),
            active_run: runs.iter().find(|r| r.status.is_active()).cloned(),
            last_run: runs.last().cloned(),
            steps: steps
                .into_iter()
                .map(|s| StepStatus {
                    failure: s.record.last_failure().cloned(),
                    state: s.record.state,
                    resource_id: s.record.resource_id.clone(),
                    outcome: s.record.outcome,
                    step: s.step,
                    dock: s.dock,
                    updated_at: s.updated_at,
                })
                .collect(),
        })
    }

    /// Wait until `run` is no longer active, and return it.
    ///
    /// The store is read again every 20 ms (a run executed by another
    /// process), and at once when this runtime — in-process, or a
    /// [`Worker`](crate::worker::Worker) built on it — finishes a run.
    pub async fn wait(&self, run: &RunId) -> Result<OperationRun> {
        let mut finished = self.finished.subscribe();
        loop {
            let current = self
                .store
                .get_run(run)
                .await?
                .ok_or_else(|| Error::NotFound(format!("run {run}")))?;
            if !current.status.is_active() {
                return Ok(current);
            }
            // A run finished here, or 20 ms passed: read the store again.
            let _ = tokio::time::timeout(Duration::from_millis(20), finished.changed()).await;
        }
    }
}
