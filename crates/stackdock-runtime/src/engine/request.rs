//! The worker entry point: a serialisable [`RunRequest`] and
//! [`Runtime::execute`], which executes a run that was already started (or
//! claimed) in the store.
//!
//! `apply` / `reconcile` / `destroy` / `sync` are each "admit the request,
//! start a run in the store, execute it". A worker that takes runs from a
//! queue does the last part only: it claims a run whose request was stored
//! with it, then calls [`Runtime::execute`].

use serde::Deserialize;

use super::*;

/// Everything needed to execute a run, serialisable (serde) so it can be
/// stored with a queued run and executed by another process.
///
/// ```
/// use stackdock_runtime::blueprint::Blueprint;
/// use stackdock_runtime::{ApplyOptions, RunRequest};
///
/// let blueprint = Blueprint::from_toml(r#"
///     scope = "acme"
///     [steps.zone]
///     dock = "dns"
///     spec = { kind = "dns_zone", name = "acme.example" }
/// "#)?;
/// let request = RunRequest::apply(&blueprint, "alice", ApplyOptions::keep());
/// let stored = serde_json::to_string(&request)?;
/// assert_eq!(serde_json::from_str::<RunRequest>(&stored)?, request);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    /// The scope the run holds (`dock:<id>` for a sync).
    pub scope: String,
    /// The organisation that owns the scope (empty for a sync).
    pub org: String,
    /// Who asked.
    pub actor: String,
    /// What the run does.
    pub operation: Operation,
    /// The blueprint, for an apply (and only then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blueprint: Option<Blueprint>,
    /// Options of an apply (ignored by the other operations).
    #[serde(default)]
    pub options: ApplyOptions,
    /// What a deploy deploys (and only a deploy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployRequest>,
}

impl RunRequest {
    /// Apply `blueprint` (its scope and org) as `actor`.
    pub fn apply(blueprint: &Blueprint, actor: &str, options: ApplyOptions) -> Self {
        RunRequest {
            scope: blueprint.scope.clone(),
            org: blueprint.org().to_owned(),
            actor: actor.to_owned(),
            operation: Operation::Apply,
            blueprint: Some(blueprint.clone()),
            options,
            deploy: None,
        }
    }

    /// Reconcile `scope` of `org` as `actor`.
    pub fn reconcile(scope: &str, org: &str, actor: &str) -> Self {
        Self::without_blueprint(scope, org, actor, Operation::Reconcile)
    }

    /// Destroy `scope` of `org` as `actor`.
    pub fn destroy(scope: &str, org: &str, actor: &str) -> Self {
        Self::without_blueprint(scope, org, actor, Operation::Destroy)
    }

    /// Deploy a web service of `scope` of `org` as `actor`.
    pub fn deploy(scope: &str, org: &str, actor: &str, deploy: DeployRequest) -> Self {
        RunRequest {
            deploy: Some(deploy),
            ..Self::without_blueprint(scope, org, actor, Operation::Deploy)
        }
    }

    /// Sync the inventory of `dock` as `actor` (the scope is `dock:<id>`).
    pub fn sync(dock: &str, actor: &str) -> Self {
        Self::without_blueprint(&format!("dock:{dock}"), "", actor, Operation::Sync)
    }

    fn without_blueprint(scope: &str, org: &str, actor: &str, operation: Operation) -> Self {
        RunRequest {
            scope: scope.to_owned(),
            org: org.to_owned(),
            actor: actor.to_owned(),
            operation,
            blueprint: None,
            options: ApplyOptions::default(),
            deploy: None,
        }
    }

    /// The dock a sync request lists.
    pub fn sync_dock(&self) -> Option<&str> {
        match self.operation {
            Operation::Sync => self.scope.strip_prefix("dock:"),
            _ => None,
        }
    }

    pub(super) fn invalid(&self, why: impl Into<String>) -> Error {
        Error::InvalidRequest(format!(
            "{} of scope {}: {}",
            self.operation,
            self.scope,
            why.into()
        ))
    }
}

/// What [`Runtime::execute`] did: a run report, or a sync report for a sync.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Executed {
    /// An apply, reconcile or destroy.
    Run(RunReport),
    /// A sync.
    Sync(SyncReport),
    /// A deploy (boxed: a deployment is large beside the other reports).
    Deploy(Box<DeployReport>),
}

impl Executed {
    /// The run as the store has it after the execution.
    pub fn run(&self) -> &OperationRun {
        match self {
            Executed::Run(r) => &r.run,
            Executed::Sync(s) => &s.run,
            Executed::Deploy(d) => &d.run,
        }
    }
}

impl Runtime {
    /// Check `request` before a run is started (or queued) for it, with no
    /// provider call: an apply's blueprint is valid and names the request's
    /// scope and org; the scope belongs to the request's org (the first
    /// apply claims it, atomically in the store; another org's scope is
    /// [`Error::NotFound`]); a sync's dock is registered; a deploy's web
    /// service is recorded and provisioned, on a dock that can deploy.
    ///
    /// A queue calls it before enqueueing; [`execute`](Runtime::execute)
    /// trusts that it was called.
    pub async fn admit(&self, request: &RunRequest) -> Result<()> {
        match request.operation {
            Operation::Apply => {
                let blueprint = self.blueprint_of(request)?;
                blueprint.validate()?;
                self.check_env_var_docks(blueprint)?;
                let owner = self.store.claim_scope(&request.scope, &request.org).await?;
                if owner != request.org {
                    return Err(Error::NotFound(format!("scope {}", request.scope)));
                }
            }
            Operation::Sync => {
                let dock = request
                    .sync_dock()
                    .ok_or_else(|| request.invalid("a sync's scope is dock:<id>"))?;
                self.docks.require(dock)?;
            }
            Operation::Deploy => self.admit_deploy(request).await?,
            _ => {
                let owner = self.store.scope_org(&request.scope).await?;
                if owner.is_some_and(|owner| owner != request.org) {
                    return Err(Error::NotFound(format!("scope {}", request.scope)));
                }
            }
        }
        Ok(())
    }

    /// Execute `run`, a run already started or claimed in the store (status
    /// `queued` or `running`, holding its scope), for `request` — the
    /// request that was [admitted](Runtime::admit) and stored with it.
    ///
    /// This is the worker entry point: `apply` is "admit + start a run in
    /// the store + execute", a worker is "claim a run + execute".
    ///
    /// * The run is finished in the store before this returns
    ///   (`succeeded` / `failed`), also when an error of the runtime itself
    ///   (the store failing under it) stops it: `Err` then, and the run is
    ///   finished as `failed` with reason `internal`.
    /// * Executing a run again — after the process executing it died, once
    ///   the run is claimed again — resumes from the store: every step is
    ///   driven from its recorded state, observe first, never a blind second
    ///   create (see "What resume does" in the crate docs). A rollback of the
    ///   resumed run still deletes only what *this run id* created.
    /// * `run.scope` / `run.operation` must match the request, and an apply
    ///   needs its blueprint: [`Error::InvalidRequest`] otherwise, before any
    ///   call and with the run left as it is.
    pub async fn execute(&self, run: &OperationRun, request: &RunRequest) -> Result<Executed> {
        self.check_matches(run, request)?;
        match request.operation {
            Operation::Sync => self.execute_sync(run, request).await.map(Executed::Sync),
            Operation::Deploy => self
                .execute_deploy(run, request)
                .await
                .map(|report| Executed::Deploy(Box::new(report))),
            _ => self.execute_run(run, request).await.map(Executed::Run),
        }
    }

    /// Every `env_var` step's dock, where it is registered here, has the
    /// `EnvVars` extension: a typed `unsupported` error otherwise, before
    /// the scope is claimed or any call made. (A dock not registered here
    /// fails when its step runs, as every step's does.)
    pub(super) fn check_env_var_docks(&self, blueprint: &Blueprint) -> Result<()> {
        for (name, def) in &blueprint.steps {
            if !blueprint::is_env_var(&def.spec) {
                continue;
            }
            if let Ok(dock) = self.docks.require(&def.dock) {
                env_var::extension(dock.as_ref(), name)?;
            }
        }
        Ok(())
    }

    fn check_matches(&self, run: &OperationRun, request: &RunRequest) -> Result<()> {
        if run.scope != request.scope || run.operation != request.operation {
            return Err(request.invalid(format!(
                "run {} is a {} of scope {}",
                run.id, run.operation, run.scope
            )));
        }
        if !run.status.is_active() {
            return Err(request.invalid(format!("run {} is already {}", run.id, run.status)));
        }
        Ok(())
    }

    fn blueprint_of<'r>(&self, request: &'r RunRequest) -> Result<&'r Blueprint> {
        let blueprint = request
            .blueprint
            .as_ref()
            .ok_or_else(|| request.invalid("an apply needs its blueprint"))?;
        if blueprint.scope != request.scope || blueprint.org() != request.org {
            return Err(request.invalid(format!(
                "the blueprint is for scope {} of org {}",
                blueprint.scope,
                blueprint.org()
            )));
        }
        Ok(blueprint)
    }

    pub(super) fn run_ctx(run: &OperationRun, request: &RunRequest) -> RunCtx {
        RunCtx {
            id: run.id.clone(),
            operation: request.operation,
            scope: request.scope.clone(),
            org: request.org.clone(),
            actor: request.actor.clone(),
            cancel: CancelFlag::default(),
        }
    }

    /// An apply, reconcile or destroy of a started run.
    pub(super) async fn execute_run(
        &self,
        run: &OperationRun,
        request: &RunRequest,
    ) -> Result<RunReport> {
        let ctx = Self::run_ctx(run, request);
        let span = tracing::info_span!("run", run_id = %ctx.id, scope = %ctx.scope, operation = %ctx.operation);
        let work = async {
            match request.operation {
                Operation::Apply => {
                    let blueprint = self.blueprint_of(request)?;
                    let deps = dependencies(blueprint)?;
                    self.apply_run(&ctx, blueprint, &deps, request.options)
                        .await
                }
                Operation::Reconcile => self.reconcile_run(&ctx).await,
                Operation::Destroy => self.destroy_run(&ctx).await,
                _ => Err(request.invalid("not an apply, reconcile or destroy")),
            }
        };
        let result = self.watched(&ctx, run, work.instrument(span)).await;
        self.release_on_error(&ctx, result).await
    }

    pub(super) async fn execute_sync(
        &self,
        run: &OperationRun,
        request: &RunRequest,
    ) -> Result<SyncReport> {
        let dock = request
            .sync_dock()
            .ok_or_else(|| request.invalid("a sync's scope is dock:<id>"))?;
        let ctx = Self::run_ctx(run, request);
        let span = tracing::info_span!("run", run_id = %ctx.id, dock, operation = "sync");
        let work = async {
            let adapter = self.docks.require(dock)?;
            self.sync_run(&ctx, dock, adapter.as_ref()).await
        };
        let result = self.watched(&ctx, run, work.instrument(span)).await;
        self.release_on_error(&ctx, result).await
    }

    /// Run `work` for `run` in its call context, with its cancel flag
    /// registered and tripped when the store records a cancel request.
    pub(super) async fn watched<T>(
        &self,
        ctx: &RunCtx,
        run: &OperationRun,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let _registered = self.register_cancel(ctx);
        if run.cancel_requested {
            ctx.cancel.cancel();
        }
        let watched = async {
            tokio::select! {
                biased;
                result = work => result,
                () = self.watch_store_cancel(ctx) => Err(Error::Cancelled { run: ctx.id.clone() }),
            }
        };
        self.call_context(ctx).scope(watched).await
    }

    /// Admit `request`, start its run in the store (or join the active one,
    /// or refuse with [`Error::ScopeBusy`]) and execute it.
    pub(super) async fn submit(&self, request: &RunRequest) -> Result<StartOutcome> {
        self.admit(request).await?;
        self.start(
            &request.scope,
            &request.org,
            request.operation,
            &request.actor,
        )
        .await
    }
}

/// Every step of `blueprint` → the steps it waits for.
pub(super) fn dependencies(blueprint: &Blueprint) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut deps = BTreeMap::new();
    for name in blueprint.steps.keys() {
        deps.insert(name.clone(), blueprint.dependencies(name)?);
    }
    Ok(deps)
}
