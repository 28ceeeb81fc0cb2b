//! Cancelling a run, and retrying a step's temporary failures with backoff.

use super::*;

impl Runtime {
    /// Ask run `id` to stop, wherever it executes.
    ///
    /// The request is recorded in the store first
    /// ([`Store::request_cancel`]), so a runtime in another process
    /// executing the run sees it at its next check (every
    /// [`with_cancel_poll`](Runtime::with_cancel_poll) interval; at once in
    /// this process). The executor then starts no new step and no new retry,
    /// lets calls in flight return (their outcomes are recorded as usual),
    /// and finishes the run `cancelled` — without a rollback: what was done
    /// is kept, and the next apply, reconcile or destroy continues from the
    /// store. A run claimed after the request finishes at once, with no call.
    ///
    /// Returns the run as the store has it (still active until its executor
    /// finishes it; [`wait`](Runtime::wait) for that). Cancelling a finished
    /// run changes nothing. Audited as `cancel`.
    pub async fn cancel(&self, id: &RunId, actor: &str) -> Result<OperationRun> {
        let run = self.store.request_cancel(id).await?;
        if let Some(flag) = lock(&self.executing).get(id) {
            flag.cancel();
        }
        let mut entry = AuditEntry::new(actor, "cancel", AuditOutcome::Succeeded);
        entry.org = self.store.scope_org(&run.scope).await?;
        entry.scope = Some(run.scope.clone());
        entry.run_id = Some(run.id.clone());
        entry.reason = Some(if run.status.is_active() {
            "cancel_requested".into()
        } else {
            format!("already_{}", run.status)
        });
        self.audit.record(entry).await?;
        Ok(run)
    }

    /// Register `ctx`'s cancel flag for [`cancel`](Runtime::cancel) in this
    /// process; the guard removes it.
    pub(super) fn register_cancel(&self, ctx: &RunCtx) -> Registered<'_> {
        lock(&self.executing).insert(ctx.id.clone(), ctx.cancel.clone());
        Registered {
            runtime: self,
            id: ctx.id.clone(),
        }
    }

    /// Trip `ctx`'s flag when the store says the run was cancelled (checked
    /// at once, then every poll interval), and announce the cancellation
    /// once ([`RunEventKind::Cancelling`]) however it came. Never returns;
    /// run it beside the work.
    pub(super) async fn watch_store_cancel(&self, ctx: &RunCtx) {
        loop {
            match self.store.get_run(&ctx.id).await {
                Ok(Some(run)) if run.cancel_requested => {
                    ctx.cancel.cancel();
                    break;
                }
                Ok(_) => {}
                // A failing store fails the run's own writes; nothing to add here.
                Err(e) => tracing::debug!(error = %e, "cancel poll failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.cancel_poll) => {}
                () = ctx.cancel.cancelled() => break,
            }
        }
        self.announce_cancelling(ctx);
        std::future::pending().await
    }

    /// Announce a tripped cancel flag ([`RunEventKind::Cancelling`]), once
    /// per run: from the store poller, or — when the run saw the flag and
    /// ended before the poller ran — from the run's own ending, so a
    /// subscriber always sees `Cancelling` before `RunFinished { cancelled }`.
    pub(super) fn announce_cancelling(&self, ctx: &RunCtx) {
        if ctx.cancel.first_announcement() {
            tracing::info!(run_id = %ctx.id, "cancel requested: no new step starts");
            self.emit(ctx, RunEventKind::Cancelling);
        }
    }

    /// After a failed attempt of `step`: whether to try again. Yes for a
    /// temporary error — also one whose retries the dock's own retry layer
    /// exhausted (`Persistent`): this retry is coarser, a whole step later —
    /// while retries are left and the run is not cancelled,
    /// after the backoff (the provider's `retry_after`, else full jitter
    /// under core's exponential ceiling), announced as a
    /// [`RunEventKind::Retry`]. The retry re-drives the step from its
    /// recorded state: observe first, never a blind second create.
    pub(super) async fn retry_after_backoff(
        &self,
        ctx: &RunCtx,
        step: &str,
        retries: &mut u32,
        error: &stackdock_core::Error,
    ) -> bool {
        if error.status() == stackdock_core::ErrorStatus::Permanent
            || *retries >= self.retry.max_retries
            || ctx.cancel.is_cancelled()
        {
            return false;
        }
        *retries += 1;
        let wait = error
            .retry_after()
            .unwrap_or_else(|| self.retry.backoff(*retries))
            .min(self.retry.max_backoff);
        tracing::warn!(
            step,
            retry = *retries,
            ?wait,
            code = error.kind().as_str(),
            "temporary failure; retrying"
        );
        self.emit(
            ctx,
            RunEventKind::Retry {
                step: step.to_owned(),
                attempt: *retries + 1,
                after: wait,
                code: error.kind().as_str().to_owned(),
            },
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => true,
            _ = ctx.cancel.cancelled() => false,
        }
    }
}

/// Removes a run's cancel flag from the runtime when its execution ends.
pub(super) struct Registered<'a> {
    runtime: &'a Runtime,
    id: RunId,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        lock(&self.runtime.executing).remove(&self.id);
    }
}
