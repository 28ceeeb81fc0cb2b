//! Plan (desired vs recorded vs observed, no mutating call) and the pruning
//! of steps a blueprint no longer has.

use stackdock_core::DockAdapterExt;

use crate::plan::{Plan, PlanAction, PlannedStep};

use super::*;

impl Runtime {
    /// What [`apply`](Runtime::apply) of `blueprint` would do, step by step
    /// — the blueprint against the store's records against what the docks
    /// report — with **no mutating call**: only `observe` / `find`, no run,
    /// no write. Steps whose spec needs outputs of a step not made yet are
    /// planned from the record alone ("known after apply").
    ///
    /// Steps recorded for the scope but gone from the blueprint are listed
    /// last, children first: `delete` when this scope created them,
    /// `release` when it adopted them (or another scope holds them too).
    pub async fn plan(&self, blueprint: &Blueprint) -> Result<Plan> {
        blueprint.validate()?;
        self.check_env_var_docks(blueprint)?;
        let owner = self.store.scope_org(&blueprint.scope).await?;
        if owner.is_some_and(|o| o != blueprint.org()) {
            return Err(Error::NotFound(format!("scope {}", blueprint.scope)));
        }
        let recorded: BTreeMap<String, StepState> = self
            .store
            .list_steps(&blueprint.scope)
            .await?
            .into_iter()
            .map(|s| (s.step.clone(), s))
            .collect();
        let mut outputs = BTreeMap::new();
        let mut steps = Vec::new();
        for name in blueprint.order()? {
            let def = &blueprint.steps[&name];
            let planned = self
                .plan_step(&name, def, recorded.get(&name), &mut outputs)
                .await?;
            steps.push(planned);
        }
        for state in self.pruned(blueprint, recorded.into_values().collect()) {
            let (action, reason) = self.prune_action(&state).await?;
            steps.push(PlannedStep {
                step: state.step.clone(),
                dock: state.dock.clone(),
                action,
                resource_id: state.resource_id().cloned(),
                changes: Vec::new(),
                reason: reason.to_owned(),
            });
        }
        Ok(Plan {
            scope: blueprint.scope.clone(),
            steps,
        })
    }

    async fn plan_step(
        &self,
        name: &str,
        def: &blueprint::StepDef,
        recorded: Option<&StepState>,
        outputs: &mut BTreeMap<String, serde_json::Value>,
    ) -> Result<PlannedStep> {
        let dock = self.docks.require(&def.dock)?;
        let live = recorded.filter(|r| r.holds_resource() && r.record.state != S::Provisioning);
        let mut planned = PlannedStep {
            step: name.to_owned(),
            dock: def.dock.clone(),
            action: PlanAction::NoOp,
            resource_id: recorded.and_then(|r| r.resource_id().cloned()),
            changes: Vec::new(),
            reason: String::new(),
        };
        if blueprint::is_env_var(&def.spec) {
            let env = env_var::extension(dock.as_ref(), name)?;
            return self
                .plan_env_var(env, name, def, recorded, live.is_some(), planned, outputs)
                .await;
        }
        let spec = match blueprint::resolve(name, &def.spec, outputs) {
            Ok(resolved) => blueprint::spec_from_json(name, &resolved)?,
            Err(BlueprintError::MissingOutput { .. }) => {
                planned.action = match live {
                    Some(_) => PlanAction::Update,
                    None => PlanAction::Create,
                };
                planned.reason = "needs values known after apply".into();
                return Ok(planned);
            }
            Err(other) => return Err(other.into()),
        };
        let _permits = self.permits.acquire(&def.dock).await?;
        let found = match live.and_then(StepState::resource_id) {
            Some(id) => {
                let observed = dock.observe(id, Some(&spec)).await?;
                let (action, reason) = match (&observed.resource, observed.up_to_date) {
                    (None, _) => (PlanAction::Create, "recorded resource vanished: re-create"),
                    (Some(_), true) => (PlanAction::NoOp, "up to date"),
                    (Some(_), false) => (PlanAction::Update, "drifted from the blueprint"),
                };
                planned.changes = observed.diff.iter().map(ToString::to_string).collect();
                (planned.action, planned.reason) = (action, reason.into());
                observed.resource
            }
            None => {
                let found = dock.find(&spec).await?;
                (planned.action, planned.reason) = match (&found, recorded) {
                    (None, _) => (PlanAction::Create, "absent".into()),
                    (Some(_), Some(r)) if r.record.state == S::Provisioning => (
                        PlanAction::Adopt,
                        "found after a create whose outcome was not recorded: kept as created"
                            .into(),
                    ),
                    (Some(_), _) => (PlanAction::Adopt, "already there".into()),
                };
                found
            }
        };
        if let Some(resource) = found {
            planned.resource_id = Some(resource.id());
            outputs.insert(name.to_owned(), blueprint::outputs_of(&resource));
        }
        Ok(planned)
    }

    /// An `env_var` step: from the service's listing and the record, with
    /// no secret opened (the value is compared by digest at apply).
    #[allow(clippy::too_many_arguments)]
    async fn plan_env_var(
        &self,
        env: &dyn stackdock_core::extension::EnvVars,
        name: &str,
        def: &blueprint::StepDef,
        recorded: Option<&StepState>,
        live: bool,
        mut planned: PlannedStep,
        outputs: &BTreeMap<String, serde_json::Value>,
    ) -> Result<PlannedStep> {
        let step = match blueprint::resolve(name, &def.spec, outputs) {
            Ok(resolved) => blueprint::EnvVarStep::from_spec(name, &resolved)?,
            Err(BlueprintError::MissingOutput { .. }) => {
                planned.action = if live {
                    PlanAction::Update
                } else {
                    PlanAction::Create
                };
                planned.reason = "needs values known after apply".into();
                return Ok(planned);
            }
            Err(other) => return Err(other.into()),
        };
        let template_changed = recorded.is_some_and(|r| {
            r.holds_resource() && r.secrets.get("value") != def.secrets.get("value")
        });
        let _permits = self.permits.acquire(&def.dock).await?;
        let (action, reason, changes) =
            env_var::plan(env, &step, recorded, template_changed).await?;
        planned.resource_id = Some(env_var::variable_id(&step));
        (planned.action, planned.reason, planned.changes) = (action, reason, changes);
        Ok(planned)
    }

    /// Recorded steps holding a resource that `blueprint` no longer has,
    /// children first (a step comes after every pruned step that needs it).
    pub(super) fn pruned(&self, blueprint: &Blueprint, recorded: Vec<StepState>) -> Vec<StepState> {
        let mut left: Vec<StepState> = recorded
            .into_iter()
            .filter(|s| s.holds_resource() && !blueprint.steps.contains_key(&s.step))
            .collect();
        let mut ordered = Vec::with_capacity(left.len());
        while !left.is_empty() {
            let needed: BTreeSet<String> = left.iter().flat_map(|s| s.needs.clone()).collect();
            let (ready, rest): (Vec<_>, Vec<_>) =
                left.into_iter().partition(|s| !needed.contains(&s.step));
            if ready.is_empty() {
                // A cycle in recorded needs cannot come from a valid
                // blueprint; take the rest as they are rather than loop.
                ordered.extend(rest);
                break;
            }
            ordered.extend(ready);
            left = rest;
        }
        ordered
    }

    /// Delete what this scope created; release what it adopted or shares.
    pub(super) async fn prune_action(
        &self,
        state: &StepState,
    ) -> Result<(PlanAction, &'static str)> {
        if state.record.outcome != Some(CreateOutcome::Created) {
            return Ok((
                PlanAction::Release,
                "removed from the blueprint; adopted, so released, not deleted",
            ));
        }
        if self.held_elsewhere(state).await? {
            return Ok((
                PlanAction::Release,
                "removed from the blueprint; held by another scope, so released",
            ));
        }
        Ok((PlanAction::Delete, "removed from the blueprint"))
    }

    /// After an apply's steps all succeeded: delete (children first) what
    /// the scope created for steps the blueprint no longer has, release what
    /// it adopted — of `recorded`, the scope's steps as the run found them.
    /// Returns the first failure; later steps are left recorded for the
    /// next apply.
    pub(super) async fn prune(
        &self,
        ctx: &RunCtx,
        blueprint: &Blueprint,
        recorded: Vec<StepState>,
        outcomes: &Mutex<BTreeMap<String, StepOutcome>>,
    ) -> Result<Option<StepFailure>> {
        for state in self.pruned(blueprint, recorded) {
            let step = state.step.clone();
            let (action, why) = self.prune_action(&state).await?;
            let result = match action {
                PlanAction::Delete => self.destroy_step(ctx, state).await,
                _ => self.release_step(ctx, state, why, "released").await,
            };
            if let Err(failure) = self.finish_step(ctx, &step, result, outcomes) {
                return Ok(Some(failure));
            }
        }
        Ok(None)
    }
}
