//! [`Runtime`]: apply a blueprint, destroy a scope, read status — with
//! intent recorded before every remote call. The guarantees are written out
//! in the crate docs.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use futures::stream::{FuturesUnordered, StreamExt};
use rand::distributions::{Alphanumeric, DistString};
use serde::Serialize;
use stackdock_core::context::CallContext;
use stackdock_core::drive::{self, TransitionSink};
use stackdock_core::provisioning::{Failure, Reason, Step};
use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::{
    CreateOutcome, DockAdapter, DockRegistry, ProvisioningRecord, ProvisioningState as S,
    ResourceId, ResourceSpec,
};
use tokio::sync::broadcast;
use tracing::Instrument;
use zeroize::Zeroize;

use crate::audit::{AuditSink, StoreAudit};
use crate::blueprint::{self, Blueprint, BlueprintError, SecretRef};
use crate::events::{RunEvent, RunEventKind, StepOutcome};
use crate::model::{
    AuditEntry, AuditOutcome, DockSync, InventoryItem, Operation, OperationRun, RunId, RunStatus,
    StartOutcome, StepState,
};
use crate::rbac::{Policy, Principal, RolePolicy, Session};
use crate::store::Store;
use crate::vault::CredentialVault;
use crate::{Error, Result};

/// What to do when a step of an apply fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Delete, in reverse order, what this run created (never what it
    /// adopted, never what another scope holds).
    #[default]
    Rollback,
    /// Leave everything as recorded; a later apply finishes the job.
    Keep,
}

/// Options of [`Runtime::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplyOptions {
    /// What to do when a step fails.
    pub on_failure: OnFailure,
}

impl ApplyOptions {
    /// Roll back on failure.
    pub fn rollback() -> Self {
        ApplyOptions {
            on_failure: OnFailure::Rollback,
        }
    }

    /// Keep partial state on failure.
    pub fn keep() -> Self {
        ApplyOptions {
            on_failure: OnFailure::Keep,
        }
    }
}

/// The step that failed a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepFailure {
    /// The step.
    pub step: String,
    /// Stable code (an error kind, or `blueprint`, `vault`, `state_store`).
    pub code: String,
    /// Sanitised message.
    pub message: String,
}

/// What [`Runtime::apply`] / [`Runtime::destroy`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// The run as the store has it now.
    pub run: OperationRun,
    /// `true` when this call joined a run already active (same operation on
    /// the same scope) instead of starting one; nothing else is filled in
    /// then: [`Runtime::wait`] for it.
    pub joined: bool,
    /// How each step this call worked on ended.
    pub steps: BTreeMap<String, StepOutcome>,
    /// The first failure, if any.
    pub failure: Option<StepFailure>,
    /// Steps whose resources the rollback deleted, in order.
    pub rolled_back: Vec<String>,
}

impl RunReport {
    /// Whether the run succeeded.
    pub fn succeeded(&self) -> bool {
        self.run.status == RunStatus::Succeeded
    }
}

/// What [`Runtime::sync`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncReport {
    /// The sync run.
    pub run: OperationRun,
    /// `true` when another sync of the dock was running and this call joined it.
    pub joined: bool,
    /// What changed, per kind listed successfully.
    pub kinds: BTreeMap<stackdock_core::ResourceKind, crate::model::InventoryDelta>,
    /// The first listing error (sanitised), if any.
    pub error: Option<String>,
}

/// One step as the store has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepStatus {
    /// The step.
    pub step: String,
    /// Its dock.
    pub dock: String,
    /// Provisioning state.
    pub state: S,
    /// The provider's id, while it exists.
    pub resource_id: Option<ResourceId>,
    /// Created or adopted.
    pub outcome: Option<CreateOutcome>,
    /// Why it failed, when it did.
    pub failure: Option<Failure>,
    /// When last written.
    pub updated_at: chrono::DateTime<Utc>,
}

/// A scope as the store has it (no provider is asked).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeStatus {
    /// The scope.
    pub scope: String,
    /// The run holding it, if any.
    pub active_run: Option<OperationRun>,
    /// The most recent run.
    pub last_run: Option<OperationRun>,
    /// Every recorded step.
    pub steps: Vec<StepStatus>,
}

/// The control-plane engine. See the crate docs for its guarantees.
#[derive(Debug, Clone)]
pub struct Runtime {
    store: Arc<dyn Store>,
    docks: DockRegistry,
    vault: Option<Arc<dyn CredentialVault>>,
    audit: Arc<dyn AuditSink>,
    concurrency: usize,
    events: broadcast::Sender<RunEvent>,
    policy: Arc<dyn Policy>,
}

/// How a run ends.
struct Ending {
    status: RunStatus,
    reason: Option<&'static str>,
    message: Option<String>,
    failure: Option<StepFailure>,
    rolled_back: Vec<String>,
}

/// Who and what a run is, carried through its steps.
#[derive(Debug, Clone)]
struct RunCtx {
    id: RunId,
    operation: Operation,
    scope: String,
    org: String,
    actor: String,
}

impl Runtime {
    /// A runtime over `store` and `docks`, auditing into the store, 8 steps
    /// at a time, no vault.
    pub fn new(store: Arc<dyn Store>, docks: DockRegistry) -> Self {
        Runtime {
            audit: Arc::new(StoreAudit::new(store.clone())),
            store,
            docks,
            vault: None,
            concurrency: 8,
            events: broadcast::channel(1024).0,
            policy: Arc::new(RolePolicy),
        }
    }

    /// Use `vault` for `generate` and `vault:KEY` secrets.
    pub fn with_vault(mut self, vault: Arc<dyn CredentialVault>) -> Self {
        self.vault = Some(vault);
        self
    }

    /// Send audit entries to `audit` instead of the store.
    pub fn with_audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = audit;
        self
    }

    /// Work on at most `n` (≥ 1) independent steps at a time.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The docks.
    pub fn docks(&self) -> &DockRegistry {
        &self.docks
    }

    /// Check access with `policy` in [`session`](Runtime::session)s
    /// (default: [`RolePolicy`](crate::rbac::RolePolicy)).
    pub fn with_policy(mut self, policy: Arc<dyn Policy>) -> Self {
        self.policy = policy;
        self
    }

    /// The runtime as `principal` sees it: every call checked by the policy first.
    pub fn session(&self, principal: Principal) -> Session<'_> {
        Session::new(self, self.policy.clone(), principal)
    }

    pub(crate) fn audit_sink(&self) -> &Arc<dyn AuditSink> {
        &self.audit
    }

    /// Every run's events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<RunEvent> {
        self.events.subscribe()
    }

    /// Files how a step of an apply or a destroy ended: its event, its
    /// outcome in the run's report, and the failure the DAG runner stops on.
    fn finish_step(
        &self,
        ctx: &RunCtx,
        step: &str,
        result: Result<StepOutcome>,
        outcomes: &Mutex<BTreeMap<String, StepOutcome>>,
    ) -> std::result::Result<(), StepFailure> {
        let outcome = match &result {
            Ok(o) => o.clone(),
            Err(e) => StepOutcome::Failed {
                code: failure_of(step, e).code,
            },
        };
        self.emit(
            ctx,
            RunEventKind::StepFinished {
                step: step.to_owned(),
                outcome: outcome.clone(),
            },
        );
        lock(outcomes).insert(step.to_owned(), outcome);
        result.map(|_| ()).map_err(|e| failure_of(step, &e))
    }

    fn emit(&self, run: &RunCtx, kind: RunEventKind) {
        // No subscriber is fine: events are a view, the store is the record.
        let _ = self.events.send(RunEvent {
            run_id: run.id.clone(),
            scope: run.scope.clone(),
            at: Utc::now(),
            kind,
        });
    }

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

    /// Wait until `run` is no longer active (polling the store), and return it.
    pub async fn wait(&self, run: &RunId) -> Result<OperationRun> {
        loop {
            let current = self
                .store
                .get_run(run)
                .await?
                .ok_or_else(|| Error::NotFound(format!("run {run}")))?;
            if !current.status.is_active() {
                return Ok(current);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Start `operation` on `scope`, auditing a refusal.
    async fn start(
        &self,
        scope: &str,
        org: &str,
        operation: Operation,
        actor: &str,
    ) -> Result<StartOutcome> {
        match self.store.start_run(scope, operation, actor).await {
            Err(Error::ScopeBusy {
                scope,
                active_run,
                operation: active_op,
            }) => {
                let mut entry = AuditEntry::new(actor, operation.as_str(), AuditOutcome::Denied);
                entry.org = Some(org.to_owned());
                entry.scope = Some(scope.clone());
                entry.reason = Some("scope_busy".into());
                entry.message = Some(format!("run {active_run} ({active_op}) holds the scope"));
                self.audit.record(entry).await?;
                Err(Error::ScopeBusy {
                    scope,
                    active_run,
                    operation: active_op,
                })
            }
            other => other,
        }
    }

    /// Bring `blueprint.scope` to `blueprint` as `actor`.
    ///
    /// * Another operation active on the scope: [`Error::ScopeBusy`].
    /// * An apply already active on the scope: a report with `joined` set.
    /// * Otherwise a new run: steps in dependency order (independent ones
    ///   concurrently), each through [`drive::provision`] with every
    ///   transition written to the store before the next remote call; on a
    ///   failure, [`OnFailure`]. The run's outcome is in the report (and the
    ///   store); `Err` is only for what prevented a run.
    pub async fn apply(
        &self,
        blueprint: &Blueprint,
        actor: &str,
        options: ApplyOptions,
    ) -> Result<RunReport> {
        blueprint.validate()?;
        let mut deps = BTreeMap::new();
        for name in blueprint.steps.keys() {
            deps.insert(name.clone(), blueprint.dependencies(name)?);
        }
        // The first apply claims the scope for its org; another org's scope
        // is not found, whoever asks.
        let owner = self
            .store
            .claim_scope(&blueprint.scope, blueprint.org())
            .await?;
        if owner != blueprint.org() {
            return Err(Error::NotFound(format!("scope {}", blueprint.scope)));
        }
        let run = match self
            .start(&blueprint.scope, blueprint.org(), Operation::Apply, actor)
            .await?
        {
            StartOutcome::Joined(run) => return Ok(joined(run)),
            StartOutcome::Started(run) => run,
        };
        let ctx = RunCtx {
            id: run.id.clone(),
            operation: Operation::Apply,
            scope: blueprint.scope.clone(),
            org: blueprint.org().to_owned(),
            actor: actor.to_owned(),
        };
        let span =
            tracing::info_span!("run", run_id = %ctx.id, scope = %ctx.scope, operation = "apply");
        let result = self
            .call_context(&ctx)
            .scope(
                self.apply_run(&ctx, blueprint, &deps, options)
                    .instrument(span),
            )
            .await;
        self.release_on_error(&ctx, result).await
    }

    /// A run that stopped on an error of its own (the store failing under
    /// it) must not keep its scope: finish it as failed (a no-op when it
    /// already finished) and hand the error back.
    async fn release_on_error(&self, ctx: &RunCtx, result: Result<RunReport>) -> Result<RunReport> {
        if let Err(error) = &result {
            let message = error.to_string();
            if let Err(e) = self
                .store
                .finish_run(&ctx.id, RunStatus::Failed, Some("internal"), Some(&message))
                .await
            {
                tracing::error!(run_id = %ctx.id, error = %e, "could not finish a failed run");
            }
            self.emit(
                ctx,
                RunEventKind::RunFinished {
                    status: RunStatus::Failed,
                },
            );
        }
        result
    }

    fn call_context(&self, ctx: &RunCtx) -> CallContext {
        CallContext::new()
            .with_actor(ctx.actor.clone())
            .with_org(ctx.org.clone())
            .with_run_id(ctx.id.to_string())
    }

    async fn apply_run(
        &self,
        ctx: &RunCtx,
        blueprint: &Blueprint,
        deps: &BTreeMap<String, BTreeSet<String>>,
        options: ApplyOptions,
    ) -> Result<RunReport> {
        self.emit(
            ctx,
            RunEventKind::RunStarted {
                operation: ctx.operation,
            },
        );
        let outputs = Mutex::new(BTreeMap::<String, serde_json::Value>::new());
        let outcomes = Mutex::new(BTreeMap::new());
        let failure = run_dag(deps, self.concurrency, |step| {
            let (outputs, outcomes) = (&outputs, &outcomes);
            async move {
                let result = self.apply_step(ctx, blueprint, &step, outputs).await;
                self.finish_step(ctx, &step, result, outcomes)
            }
        })
        .await;
        let mut steps = outcomes.into_inner().unwrap_or_else(|p| p.into_inner());
        let Some(failure) = failure else {
            return self
                .finish(
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
                .await;
        };
        tracing::warn!(step = %failure.step, code = %failure.code, "step failed");
        let mut rolled_back = Vec::new();
        let mut message = format!("step {} failed: {}", failure.step, failure.message);
        let mut reason = "kept";
        if options.on_failure == OnFailure::Rollback {
            self.emit(ctx, RunEventKind::RollbackStarted);
            let (deleted, errors) = self.rollback(ctx, &mut steps).await?;
            rolled_back = deleted;
            reason = "rolled_back";
            if !errors.is_empty() {
                reason = "rollback_incomplete";
                message.push_str(&format!("; rollback incomplete: {}", errors.join("; ")));
            }
        }
        self.finish(
            ctx,
            Ending {
                status: RunStatus::Failed,
                reason: Some(reason),
                message: Some(message),
                failure: Some(failure),
                rolled_back,
            },
            steps,
        )
        .await
    }

    async fn finish(
        &self,
        ctx: &RunCtx,
        ending: Ending,
        steps: BTreeMap<String, StepOutcome>,
    ) -> Result<RunReport> {
        let Ending {
            status,
            reason,
            message,
            failure,
            rolled_back,
        } = ending;
        let message = message.or_else(|| {
            failure
                .as_ref()
                .map(|f| format!("step {} failed: {}", f.step, f.message))
        });
        let run = self
            .store
            .finish_run(
                &ctx.id,
                status,
                reason.or(Some(status.as_str())),
                message.as_deref(),
            )
            .await?;
        self.emit(ctx, RunEventKind::RunFinished { status });
        tracing::info!(status = %status, "run finished");
        Ok(RunReport {
            run,
            joined: false,
            steps,
            failure,
            rolled_back,
        })
    }

    /// Resolve a step's spec: references from earlier steps' outputs, then
    /// secrets (in memory only).
    async fn resolve_spec(
        &self,
        ctx: &RunCtx,
        step: &str,
        def: &blueprint::StepDef,
        outputs: &Mutex<BTreeMap<String, serde_json::Value>>,
    ) -> Result<(ResourceSpec, serde_json::Value)> {
        let resolved = {
            let outputs = lock(outputs);
            blueprint::resolve(step, &def.spec, &outputs)?
        };
        // What the store keeps: the spec without secrets (they are not there yet).
        let recorded =
            serde_json::to_value(blueprint::spec_from_json(step, &resolved)?).map_err(|e| {
                BlueprintError::InvalidSpec {
                    step: step.to_owned(),
                    reason: e.to_string(),
                }
            })?;
        if def.secrets.is_empty() {
            return Ok((blueprint::spec_from_json(step, &resolved)?, recorded));
        }
        let mut with_secrets = resolved;
        for (field, reference) in &def.secrets {
            let secret = self.secret(ctx, step, &def.dock, field, reference).await?;
            if let Some(object) = with_secrets.as_object_mut() {
                object.insert(
                    field.clone(),
                    serde_json::Value::String(secret.expose_secret().to_owned()),
                );
            }
        }
        let spec = blueprint::spec_from_json(step, &with_secrets);
        // The plaintext copies in the JSON are wiped; the spec keeps its own
        // in `SecretString`s (zeroized on drop).
        if let Some(object) = with_secrets.as_object_mut() {
            for field in def.secrets.keys() {
                if let Some(serde_json::Value::String(text)) = object.get_mut(field) {
                    text.zeroize();
                }
            }
        }
        Ok((spec?, recorded))
    }

    async fn secret(
        &self,
        ctx: &RunCtx,
        step: &str,
        dock: &str,
        field: &str,
        reference: &SecretRef,
    ) -> Result<SecretString> {
        let vault = || {
            self.vault.clone().ok_or_else(|| {
                Error::from(stackdock_core::Error::config(format!(
                    "step {step}: secret {field} ({reference}) needs a vault (Runtime::with_vault)"
                )))
            })
        };
        match reference {
            SecretRef::Env(name) => std::env::var(name).map(SecretString::from).map_err(|_| {
                Error::from(stackdock_core::Error::config(format!(
                    "step {step}: secret {field}: environment variable {name} is not set"
                )))
            }),
            SecretRef::Vault(key) => vault()?.open(&ctx.org, dock, key).await,
            SecretRef::Generate => {
                let vault = vault()?;
                let name = format!("{}/{step}/{field}", ctx.scope);
                // Sealed before the create call: a lost reply never loses the password.
                if !vault.contains(&ctx.org, dock, &name).await? {
                    let fresh =
                        SecretString::from(Alphanumeric.sample_string(&mut rand::rngs::OsRng, 32));
                    vault.seal(&ctx.org, dock, &name, &fresh).await?;
                }
                vault.open(&ctx.org, dock, &name).await
            }
        }
    }

    async fn apply_step(
        &self,
        ctx: &RunCtx,
        blueprint: &Blueprint,
        step: &str,
        outputs: &Mutex<BTreeMap<String, serde_json::Value>>,
    ) -> Result<StepOutcome> {
        let def = &blueprint.steps[step];
        let span = tracing::info_span!("step", step, dock = %def.dock);
        async {
            self.emit(
                ctx,
                RunEventKind::StepStarted {
                    step: step.to_owned(),
                    dock: def.dock.clone(),
                },
            );
            let dock = self.docks.require(&def.dock)?;
            let (spec, recorded_spec) = self.resolve_spec(ctx, step, def, outputs).await?;
            let loaded = self.store.get_step(&ctx.scope, step).await?;
            if let Some(old) = loaded.as_ref().filter(|s| s.holds_resource() && s.dock != def.dock) {
                return Err(BlueprintError::InvalidSpec {
                    step: step.to_owned(),
                    reason: format!(
                        "moved from dock {} to {} while its resource exists there; destroy the scope (or the step) first",
                        old.dock, def.dock
                    ),
                }
                .into());
            }
            let mut state = loaded
                .clone()
                .unwrap_or_else(|| StepState::new(&ctx.scope, step, &def.dock));
            state.dock = def.dock.clone();
            state.needs = blueprint.dependencies(step)?.into_iter().collect();
            state.spec = recorded_spec;
            state.secrets = def.secrets.clone();
            let before = state.record.history.len() + state.record.dropped as usize;
            let mut record = state.record.clone();
            let sink = StepSink::new(self, ctx, state);
            let result = drive::provision(dock.as_ref(), &spec, &mut record, &sink).await;
            let mut state = sink.into_state();
            let created = result?;
            let new_outputs = blueprint::outputs_of(&created.resource);
            let described_differently = loaded.as_ref().is_none_or(|l| {
                (&l.needs, &l.spec, &l.secrets) != (&state.needs, &state.spec, &state.secrets)
            });
            if state.outputs != new_outputs || state.record != record || described_differently {
                state.outputs = new_outputs.clone();
                state.record = record.clone();
                state.updated_at = Utc::now();
                self.store.put_step(&state, None).await?;
            }
            lock(outputs).insert(step.to_owned(), new_outputs);
            let after = record.history.len() + record.dropped as usize;
            let new = &record.history[record.history.len().saturating_sub(after - before)..];
            Ok(match new.last().map(|t| t.reason) {
                None | Some(Reason::UpToDate) => StepOutcome::Unchanged,
                Some(Reason::Updated) => StepOutcome::Updated,
                Some(_)
                    if new
                        .iter()
                        .any(|t| t.outcome == Some(CreateOutcome::Created)) =>
                {
                    StepOutcome::Created
                }
                Some(_) => StepOutcome::Adopted,
            })
        }
        .instrument(span)
        .await
    }

    /// Delete, newest first, what this run created; never what it adopted
    /// or what another scope's live step holds.
    async fn rollback(
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
            let mut record = state.record.clone();
            let sink = StepSink::new(self, ctx, state);
            match drive::rollback(dock.as_ref(), &mut record, &sink).await {
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
    async fn held_elsewhere(&self, state: &StepState) -> Result<bool> {
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

    async fn audit_skip(
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

    /// Observe every recorded step of `scope` and bring it back to what was
    /// last applied, from the store alone (no blueprint): nothing for what
    /// is up to date, an update for drift, a re-create for what vanished,
    /// and a resume (look first) for what a dead run left half-done.
    /// Secrets come from the references recorded with each step. Steps a
    /// failed apply never reached are not recorded: apply the blueprint
    /// again for those. Deduplicated like every run; failures are kept.
    pub async fn reconcile(&self, scope: &str, org: &str, actor: &str) -> Result<RunReport> {
        if self
            .store
            .scope_org(scope)
            .await?
            .is_some_and(|owner| owner != org)
        {
            return Err(Error::NotFound(format!("scope {scope}")));
        }
        let run = match self.start(scope, org, Operation::Reconcile, actor).await? {
            StartOutcome::Joined(run) => return Ok(joined(run)),
            StartOutcome::Started(run) => run,
        };
        let ctx = RunCtx {
            id: run.id.clone(),
            operation: Operation::Reconcile,
            scope: scope.to_owned(),
            org: org.to_owned(),
            actor: actor.to_owned(),
        };
        let span = tracing::info_span!("run", run_id = %ctx.id, scope = %ctx.scope, operation = "reconcile");
        let result = self
            .call_context(&ctx)
            .scope(self.reconcile_run(&ctx).instrument(span))
            .await;
        self.release_on_error(&ctx, result).await
    }

    async fn reconcile_run(&self, ctx: &RunCtx) -> Result<RunReport> {
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
        let mut deps = BTreeMap::new();
        for name in blueprint.steps.keys() {
            deps.insert(name.clone(), blueprint.dependencies(name)?);
        }
        self.apply_run(ctx, &blueprint, &deps, ApplyOptions::keep())
            .await
    }

    /// List every kind `dock` can list into the inventory: upsert by
    /// (dock, kind, provider id), mark what is no longer listed vanished,
    /// record `last_sync_at` / `last_sync_error`. A sync is a run on the
    /// scope `dock:<id>`: a second sync of the same dock while one runs
    /// joins it instead of listing again. Never changes anything at the
    /// provider. A kind whose listing fails keeps its previous inventory.
    pub async fn sync(&self, dock: &str, actor: &str) -> Result<SyncReport> {
        let adapter = self.docks.require(dock)?;
        let scope = format!("dock:{dock}");
        let run = match self.start(&scope, "", Operation::Sync, actor).await? {
            StartOutcome::Joined(run) => {
                return Ok(SyncReport {
                    run,
                    joined: true,
                    kinds: BTreeMap::new(),
                    error: None,
                })
            }
            StartOutcome::Started(run) => run,
        };
        let ctx = RunCtx {
            id: run.id.clone(),
            operation: Operation::Sync,
            scope,
            org: String::new(),
            actor: actor.to_owned(),
        };
        let span = tracing::info_span!("run", run_id = %ctx.id, dock, operation = "sync");
        let result = self
            .call_context(&ctx)
            .scope(self.sync_run(&ctx, dock, adapter.as_ref()).instrument(span))
            .await;
        if let Err(error) = &result {
            let message = error.to_string();
            let _ = self
                .store
                .finish_run(&ctx.id, RunStatus::Failed, Some("internal"), Some(&message))
                .await;
        }
        result
    }

    async fn sync_run(
        &self,
        ctx: &RunCtx,
        dock: &str,
        adapter: &dyn DockAdapter,
    ) -> Result<SyncReport> {
        use stackdock_core::{DockAdapterExt, ListOptions, Operation as DockOp, ResourceKind};
        self.emit(
            ctx,
            RunEventKind::RunStarted {
                operation: Operation::Sync,
            },
        );
        let capabilities = adapter.capabilities();
        let mut kinds = BTreeMap::new();
        let mut error = None;
        for kind in ResourceKind::ALL {
            if !capabilities.supports(kind, DockOp::List) {
                continue;
            }
            let listed = match adapter.list_all(kind, &ListOptions::default()).await {
                Ok(listed) => listed,
                Err(e) => {
                    error.get_or_insert_with(|| {
                        stackdock_core::provisioning::sanitize_message(&format!("list {kind}: {e}"))
                    });
                    continue;
                }
            };
            let at = Utc::now();
            let items: Vec<InventoryItem> = listed
                .iter()
                .map(|r| InventoryItem {
                    dock: dock.to_owned(),
                    kind,
                    provider_resource_id: r.meta().reference.provider_resource_id.clone(),
                    name: r.meta().name.clone(),
                    resource: serde_json::to_value(r).unwrap_or_default(),
                    first_seen_at: at,
                    last_seen_at: at,
                    vanished_at: None,
                })
                .collect();
            kinds.insert(
                kind,
                self.store.sync_inventory(dock, kind, &items, at).await?,
            );
        }
        let now = Utc::now();
        let previous = self
            .store
            .dock_syncs()
            .await?
            .into_iter()
            .find(|s| s.dock == dock);
        let items = self
            .store
            .list_inventory(Some(dock))
            .await?
            .iter()
            .filter(|i| i.vanished_at.is_none())
            .count() as u64;
        self.store
            .put_dock_sync(&DockSync {
                dock: dock.to_owned(),
                last_sync_at: Some(now),
                last_success_at: if error.is_none() {
                    Some(now)
                } else {
                    previous.and_then(|p| p.last_success_at)
                },
                last_sync_error: error.clone(),
                items,
            })
            .await?;
        let status = if error.is_none() {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        };
        let run = self
            .store
            .finish_run(
                &ctx.id,
                status,
                Some(if error.is_none() {
                    "synced"
                } else {
                    "list_failed"
                }),
                error.as_deref(),
            )
            .await?;
        self.emit(ctx, RunEventKind::RunFinished { status });
        Ok(SyncReport {
            run,
            joined: false,
            kinds,
            error,
        })
    }

    /// Delete everything recorded for `scope`, children first (from the
    /// store alone: no blueprint needed). Idempotent: a destroyed scope
    /// destroys again with no remote call. A resource another scope's live
    /// step also holds is released, not deleted.
    pub async fn destroy(&self, scope: &str, org: &str, actor: &str) -> Result<RunReport> {
        if self
            .store
            .scope_org(scope)
            .await?
            .is_some_and(|owner| owner != org)
        {
            return Err(Error::NotFound(format!("scope {scope}")));
        }
        let run = match self.start(scope, org, Operation::Destroy, actor).await? {
            StartOutcome::Joined(run) => return Ok(joined(run)),
            StartOutcome::Started(run) => run,
        };
        let ctx = RunCtx {
            id: run.id.clone(),
            operation: Operation::Destroy,
            scope: scope.to_owned(),
            org: org.to_owned(),
            actor: actor.to_owned(),
        };
        let span =
            tracing::info_span!("run", run_id = %ctx.id, scope = %ctx.scope, operation = "destroy");
        let result = self
            .call_context(&ctx)
            .scope(self.destroy_run(&ctx).instrument(span))
            .await;
        self.release_on_error(&ctx, result).await
    }

    async fn destroy_run(&self, ctx: &RunCtx) -> Result<RunReport> {
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

    async fn destroy_step(&self, ctx: &RunCtx, state: StepState) -> Result<StepOutcome> {
        let span = tracing::info_span!("step", step = %state.step, dock = %state.dock);
        async {
            if state.record.state == S::Deprovisioned {
                return Ok(StepOutcome::Deleted);
            }
            self.emit(
                ctx,
                RunEventKind::StepStarted {
                    step: state.step.clone(),
                    dock: state.dock.clone(),
                },
            );
            let mut record = state.record.clone();
            if self.held_elsewhere(&state).await? {
                // Release, do not delete: another scope manages it too.
                let sink = StepSink::new(self, ctx, state);
                let why = "held by another scope; released, not deleted";
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
                return Ok(StepOutcome::Skipped {
                    reason: "held_by_another_scope".into(),
                });
            }
            let dock = self.docks.require(&state.dock)?;
            let spec: Option<ResourceSpec> = serde_json::from_value(state.spec.clone()).ok();
            let sink = StepSink::new(self, ctx, state);
            drive::deprovision(dock.as_ref(), spec.as_ref(), &mut record, &sink).await?;
            Ok(StepOutcome::Deleted)
        }
        .instrument(span)
        .await
    }
}

fn joined(run: OperationRun) -> RunReport {
    RunReport {
        run,
        joined: true,
        steps: BTreeMap::new(),
        failure: None,
        rolled_back: Vec::new(),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn failure_of(step: &str, error: &Error) -> StepFailure {
    let code = match error {
        Error::Dock(e) => e.kind().as_str().to_owned(),
        Error::Blueprint(_) => "blueprint".into(),
        Error::Vault(_) => "vault".into(),
        Error::Store(_) => "state_store".into(),
        Error::ScopeBusy { .. } => "scope_busy".into(),
        Error::NotFound(_) => "not_found".into(),
        Error::PermissionDenied { .. } => "permission_denied".into(),
    };
    StepFailure {
        step: step.to_owned(),
        code,
        message: stackdock_core::provisioning::sanitize_message(&error.to_string()),
    }
}

/// Run `f` on every node of `deps` (node → nodes it waits for), at most
/// `limit` at a time, each once all it waits for succeeded. After a failure
/// nothing new starts; what is in flight finishes. Returns the first failure.
async fn run_dag<F, Fut>(
    deps: &BTreeMap<String, BTreeSet<String>>,
    limit: usize,
    f: F,
) -> Option<StepFailure>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = std::result::Result<(), StepFailure>>,
{
    let mut done = BTreeSet::new();
    let mut started = BTreeSet::new();
    let mut in_flight = FuturesUnordered::new();
    let mut failure = None;
    loop {
        if failure.is_none() {
            for (node, needs) in deps {
                if in_flight.len() >= limit {
                    break;
                }
                if !started.contains(node) && needs.iter().all(|n| done.contains(n)) {
                    started.insert(node.clone());
                    let fut = f(node.clone());
                    let node = node.clone();
                    in_flight.push(async move { (node, fut.await) });
                }
            }
        }
        match in_flight.next().await {
            None => {
                if failure.is_none() && started.len() < deps.len() {
                    // Only a dependency cycle leaves nodes that can never start.
                    let stuck: Vec<_> = deps
                        .keys()
                        .filter(|n| !started.contains(*n))
                        .cloned()
                        .collect();
                    failure = Some(StepFailure {
                        step: stuck[0].clone(),
                        code: "blueprint".into(),
                        message: format!("dependency cycle through {}", stuck.join(", ")),
                    });
                }
                break;
            }
            Some((node, Ok(()))) => {
                done.insert(node);
            }
            Some((_, Err(e))) => {
                failure.get_or_insert(e);
            }
        }
    }
    failure
}

/// Writes every transition of one step to the store before the driver goes
/// on, audits every mutation's outcome, and reports the transition.
struct StepSink<'a> {
    runtime: &'a Runtime,
    run: &'a RunCtx,
    state: Mutex<StepState>,
}

impl<'a> StepSink<'a> {
    fn new(runtime: &'a Runtime, run: &'a RunCtx, state: StepState) -> Self {
        StepSink {
            runtime,
            run,
            state: Mutex::new(state),
        }
    }

    fn into_state(self) -> StepState {
        self.state.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    async fn write(&self, record: &ProvisioningRecord) -> Result<()> {
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
