//! Apply: bring a scope to its blueprint, step by step, intent first.

use super::*;

/// What a step drives: a resource through its dock, or an environment
/// variable through its dock's `EnvVars` extension.
pub(super) enum Desired {
    Resource(ResourceSpec),
    EnvVar(env_var::Wanted),
}

impl Runtime {
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
        let request = RunRequest::apply(blueprint, actor, options);
        match self.submit(&request).await? {
            StartOutcome::Joined(run) => Ok(joined(run)),
            StartOutcome::Started(run) => self.execute_run(&run, &request).await,
        }
    }

    pub(super) async fn apply_run(
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
        // The scope's records, read once: the run holds the scope, so no one
        // else writes them meanwhile (one read, not one per step).
        let recorded: BTreeMap<String, StepState> = self
            .store
            .list_steps(&ctx.scope)
            .await?
            .into_iter()
            .map(|s| (s.step.clone(), s))
            .collect();
        let outputs = Mutex::new(BTreeMap::<String, serde_json::Value>::new());
        let outcomes = Mutex::new(BTreeMap::new());
        let failure = run_dag(deps, self.concurrency, |step| {
            let (outputs, outcomes, recorded) = (&outputs, &outcomes, &recorded);
            async move {
                let needs = &deps[&step];
                let loaded = recorded.get(&step);
                let result = self
                    .apply_step(ctx, blueprint, &step, needs, loaded, outputs)
                    .await;
                self.finish_step(ctx, &step, result, outcomes)
            }
        })
        .await;
        // Only an apply prunes (a reconcile's blueprint is the records
        // themselves). The steps it prunes are the records read at the
        // start: the run touched none of them (they are not in the
        // blueprint) and holds the scope, so they are still as read.
        let failure = match failure {
            None if ctx.operation == Operation::Apply => {
                let recorded = recorded.into_values().collect();
                self.prune(ctx, blueprint, recorded, &outcomes).await?
            }
            other => other,
        };
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
        if ctx.cancel.is_cancelled() {
            return self.finish_cancelled(ctx, failure, steps).await;
        }
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

    /// Resolve a step's spec: references from earlier steps' outputs, then
    /// secrets (in memory only). Returns what to drive, and the spec as the
    /// store keeps it (no secret).
    pub(super) async fn resolve_spec(
        &self,
        ctx: &RunCtx,
        blueprint: &Blueprint,
        step: &str,
        loaded: Option<&StepState>,
        outputs: &Mutex<BTreeMap<String, serde_json::Value>>,
    ) -> Result<(Desired, serde_json::Value)> {
        let def = &blueprint.steps[step];
        let resolved = {
            let outputs = lock(outputs);
            blueprint::resolve(step, &def.spec, &outputs)?
        };
        if blueprint::is_env_var(&resolved) {
            return self
                .resolve_env_var(ctx, blueprint, step, resolved, loaded, outputs)
                .await;
        }
        // What the store keeps: the spec without secrets (they are not there yet).
        let without_secrets = blueprint::spec_from_json(step, &resolved)?;
        let recorded =
            serde_json::to_value(&without_secrets).map_err(|e| BlueprintError::InvalidSpec {
                step: step.to_owned(),
                reason: e.to_string(),
            })?;
        if def.secrets.is_empty() {
            // Parsed once: the spec is the one the record was made from.
            return Ok((Desired::Resource(without_secrets), recorded));
        }
        let mut with_secrets = resolved;
        for (field, reference) in &def.secrets {
            let secret = self
                .secret(ctx, blueprint, step, field, reference, outputs)
                .await?;
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
        Ok((Desired::Resource(spec?), recorded))
    }

    /// An `env_var` step: the spec parsed, the value built (in memory) and
    /// its digest beside the one last recorded.
    async fn resolve_env_var(
        &self,
        ctx: &RunCtx,
        blueprint: &Blueprint,
        step: &str,
        resolved: serde_json::Value,
        loaded: Option<&StepState>,
        outputs: &Mutex<BTreeMap<String, serde_json::Value>>,
    ) -> Result<(Desired, serde_json::Value)> {
        let def = &blueprint.steps[step];
        let parsed = blueprint::EnvVarStep::from_spec(step, &resolved)?;
        let recorded_step = match loaded.filter(|l| l.holds_resource()) {
            Some(set) => env_var::recorded_step(set)?,
            None => None,
        };
        if let Some(before) = recorded_step.as_ref().filter(|b| b.key != parsed.key) {
            return Err(BlueprintError::InvalidSpec {
                    step: step.to_owned(),
                    reason: format!(
                        "key changed from {} to {} while {} is set; give the step a new name (the old step's variable is then deleted) or destroy it first",
                        before.key, parsed.key, before.key
                    ),
                }
                .into());
        }
        let reference = def
            .secrets
            .get("value")
            .ok_or_else(|| BlueprintError::InvalidSpec {
                step: step.to_owned(),
                reason: "an env_var step takes its value from `secrets = { value = ... }`".into(),
            })?;
        let value = self
            .secret(ctx, blueprint, step, "value", reference, outputs)
            .await?;
        parsed
            .core_spec(value.clone())
            .validate()
            .map_err(|e| e.with_context("step", step.to_owned()))?;
        let digest = env_var::value_digest(&ctx.scope, step, &parsed.key, &value);
        let recorded_digest = loaded
            .and_then(|l| l.outputs.get("value_sha256"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        let recorded = parsed.to_json();
        Ok((
            Desired::EnvVar(env_var::Wanted {
                step: parsed,
                value,
                digest,
                recorded_digest,
                recorded: recorded_step,
                dock: def.dock.clone(),
            }),
            recorded,
        ))
    }

    /// The secret `reference` names for `field` of `step`, in memory.
    pub(super) async fn secret(
        &self,
        ctx: &RunCtx,
        blueprint: &Blueprint,
        step: &str,
        field: &str,
        reference: &SecretRef,
        outputs: &Mutex<BTreeMap<String, serde_json::Value>>,
    ) -> Result<SecretString> {
        let dock = &blueprint.steps[step].dock;
        if let SecretRef::Template(text) = reference {
            return self
                .render_template(ctx, blueprint, step, field, text, outputs)
                .await;
        }
        if let SecretRef::Generate = reference {
            let vault = self.vault_for(step, field, reference)?;
            let name = format!("{}/{step}/{field}", ctx.scope);
            // Sealed before the create call: a lost reply never loses the password.
            if !vault.contains(&ctx.org, dock, &name).await? {
                let fresh =
                    SecretString::from(Alphanumeric.sample_string(&mut rand::rngs::OsRng, 32));
                vault.seal(&ctx.org, dock, &name, &fresh).await?;
            }
        }
        self.open_secret(ctx, step, dock, field, reference).await
    }

    /// A secret that already exists (a `generate`d one is opened, never made).
    async fn open_secret(
        &self,
        ctx: &RunCtx,
        step: &str,
        dock: &str,
        field: &str,
        reference: &SecretRef,
    ) -> Result<SecretString> {
        match reference {
            SecretRef::Env(name) => std::env::var(name).map(SecretString::from).map_err(|_| {
                Error::from(stackdock_core::Error::config(format!(
                    "step {step}: secret {field}: environment variable {name} is not set"
                )))
            }),
            SecretRef::Vault(key) => {
                let vault = self.vault_for(step, field, reference)?;
                vault.open(&ctx.org, dock, key).await
            }
            SecretRef::Generate => {
                let vault = self.vault_for(step, field, reference)?;
                let name = format!("{}/{step}/{field}", ctx.scope);
                vault.open(&ctx.org, dock, &name).await
            }
            SecretRef::Template(_) => Err(BlueprintError::BadSecretRef {
                step: step.to_owned(),
                field: field.to_owned(),
            }
            .into()),
        }
    }

    fn vault_for(
        &self,
        step: &str,
        field: &str,
        reference: &SecretRef,
    ) -> Result<Arc<dyn CredentialVault>> {
        self.vault.clone().ok_or_else(|| {
            Error::from(stackdock_core::Error::config(format!(
                "step {step}: secret {field} ({reference}) needs a vault (Runtime::with_vault)"
            )))
        })
    }

    /// A `template:` secret: each `${target.path}` is a secret of `target`
    /// (a field of its `secrets`) or one of its outputs. Built in one pass,
    /// so a value that itself contains `${...}` is never expanded again.
    async fn render_template(
        &self,
        ctx: &RunCtx,
        blueprint: &Blueprint,
        step: &str,
        field: &str,
        text: &str,
        outputs: &Mutex<BTreeMap<String, serde_json::Value>>,
    ) -> Result<SecretString> {
        let bad = || BlueprintError::BadSecretRef {
            step: step.to_owned(),
            field: field.to_owned(),
        };
        let mut out = zeroize::Zeroizing::new(String::with_capacity(text.len() + 64));
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(bad)?;
            let reference = &after[..end];
            let (target, path) = reference.split_once('.').ok_or_else(bad)?;
            let target_def = blueprint.steps.get(target).ok_or_else(bad)?;
            match target_def.secrets.get(path) {
                Some(SecretRef::Template(_)) => return Err(bad().into()),
                Some(secret) => {
                    let opened = self
                        .open_secret(ctx, target, &target_def.dock, path, secret)
                        .await?;
                    out.push_str(opened.expose_secret());
                }
                None => {
                    let value = {
                        let outputs = lock(outputs);
                        blueprint::resolve(
                            step,
                            &serde_json::Value::String(format!("${{{reference}}}")),
                            &outputs,
                        )?
                    };
                    match value {
                        serde_json::Value::String(s) => out.push_str(&s),
                        other => out.push_str(&other.to_string()),
                    }
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(SecretString::from(out.to_string()))
    }

    pub(super) async fn apply_step(
        &self,
        ctx: &RunCtx,
        blueprint: &Blueprint,
        step: &str,
        needs: &BTreeSet<String>,
        loaded: Option<&StepState>,
        outputs: &Mutex<BTreeMap<String, serde_json::Value>>,
    ) -> Result<StepOutcome> {
        ctx.check_cancelled()?;
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
            if blueprint::is_env_var(&def.spec) {
                // Before any secret is opened or call made.
                env_var::extension(dock.as_ref(), step)?;
            }
            let (desired, recorded_spec) =
                self.resolve_spec(ctx, blueprint, step, loaded, outputs).await?;
            if let Some(old) = loaded.filter(|s| s.holds_resource() && s.dock != def.dock) {
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
                .cloned()
                .unwrap_or_else(|| StepState::new(&ctx.scope, step, &def.dock));
            state.dock = def.dock.clone();
            state.needs = needs.iter().cloned().collect();
            state.spec = recorded_spec;
            state.secrets = def.secrets.clone();
            let before = state.record.history.len() + state.record.dropped as usize;
            let mut record = state.record.clone();
            let sink = StepSink::new(self, ctx, state);
            let mut retries = 0;
            let result = loop {
                let permits = self.permits.acquire(&def.dock).await?;
                let attempt = match &desired {
                    Desired::Resource(spec) => {
                        drive::provision(dock.as_ref(), spec, &mut record, &sink)
                            .await
                            .map(|created| blueprint::outputs_of(&created.resource))
                    }
                    Desired::EnvVar(want) => match env_var::extension(dock.as_ref(), step) {
                        Ok(env) => env_var::provision(env, want, &mut record, &sink).await,
                        Err(e) => Err(e),
                    },
                };
                drop(permits);
                match attempt {
                    Err(e) if self.retry_after_backoff(ctx, step, &mut retries, &e).await => {}
                    other => break other,
                }
            };
            let (mut state, wrote) = sink.into_state();
            let new_outputs = result?;
            // Every transition the sink wrote carried the description (and,
            // once provisioned, the outputs): an up-to-date step writes only
            // when its description or outputs changed.
            let described_differently = !wrote
                && loaded.is_none_or(|l| {
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
}
