//! Deploy: a new deployment of a tenant's recorded web service, followed
//! until the provider says it is ready or failed.
//!
//! A deploy is a run like any other (deduplicated per scope, busy against
//! another operation, audited, cancellable) that touches **no step** of the
//! scope: the deployment is not recorded as a step, so the next apply does
//! not prune it and a destroy does not wait for it; the run and its audit
//! entries are the record.

use serde::Deserialize;
use stackdock_core::resource::Deployment;
use stackdock_core::spec::DeploymentSpec;
use stackdock_core::{Operation as DockOp, Resource, ResourceKind};

use super::*;

/// What to deploy: which web service of the scope, from what, where.
///
/// ```
/// use stackdock_runtime::DeployRequest;
///
/// let request = DeployRequest::new("web").git_ref("main").environment("production");
/// assert_eq!(request.service, "web");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeployRequest {
    /// The step of the scope that records the web service (its name in the
    /// blueprint).
    pub service: String,
    /// Build this branch or tag (default: the service's production branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// Rebuild this existing deployment (its provider id) instead of
    /// building from git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeploy_of: Option<String>,
    /// The target environment (`production`, `preview`); default: the
    /// provider's (preview on Vercel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl DeployRequest {
    /// A deployment of the web service recorded by step `service`.
    pub fn new(service: impl Into<String>) -> Self {
        DeployRequest {
            service: service.into(),
            ..DeployRequest::default()
        }
    }

    /// Build `git_ref` (a branch or tag).
    pub fn git_ref(mut self, git_ref: impl Into<String>) -> Self {
        self.git_ref = Some(git_ref.into());
        self
    }

    /// Rebuild the existing deployment `id`.
    pub fn redeploy_of(mut self, id: impl Into<String>) -> Self {
        self.redeploy_of = Some(id.into());
        self
    }

    /// Deploy to `environment` (`production`, `preview`).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// The validated spec for the service whose provider id is `service_id`.
    fn spec(&self, service_id: &str) -> Result<ResourceSpec> {
        if self.git_ref.is_some() && self.redeploy_of.is_some() {
            return Err(stackdock_core::Error::invalid_input(
                "redeploy_of",
                "a redeploy takes no git ref",
            )
            .into());
        }
        let spec = ResourceSpec::Deployment(DeploymentSpec {
            service: service_id.to_owned(),
            environment: self.environment.clone(),
            git_ref: self.git_ref.clone(),
            redeploy_of: self.redeploy_of.clone(),
            ..DeploymentSpec::default()
        });
        Ok(spec.validate()?)
    }
}

/// What [`Runtime::deploy`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeployReport {
    /// The run as the store has it now.
    pub run: OperationRun,
    /// `true` when a deploy of the scope was already active and this call
    /// joined it; nothing else is filled in then: [`Runtime::wait`] for it.
    pub joined: bool,
    /// The step whose web service was deployed.
    pub service: String,
    /// The deployment as last observed (`None` when none was created).
    pub deployment: Option<Deployment>,
    /// Why it failed, when it did.
    pub failure: Option<StepFailure>,
}

impl DeployReport {
    /// Whether the deployment is ready.
    pub fn succeeded(&self) -> bool {
        self.run.status == RunStatus::Succeeded
    }
}

/// How often a deploy looks at its deployment: after `initial`, doubling up
/// to `max`. See [`Runtime::with_deploy_poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DeployPoll {
    pub(super) initial: Duration,
    pub(super) max: Duration,
}

impl Default for DeployPoll {
    fn default() -> Self {
        DeployPoll {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
        }
    }
}

/// Observations of a fresh deployment that may say "not found" (eventual
/// consistency right after the create) before that is believed.
const ABSENT_GRACE: u32 = 3;
/// Temporary observe failures in a row a deploy rides out.
const OBSERVE_FAILURES: u32 = 5;

/// The web service a deploy builds, resolved from the store.
struct Target {
    step: StepState,
    adapter: Arc<dyn DockAdapter>,
    spec: ResourceSpec,
}

/// How a deploy ends, before it is written.
struct DeployEnd {
    status: RunStatus,
    reason: &'static str,
    message: String,
    failure: Option<StepFailure>,
}

impl DeployEnd {
    fn failed(service: &str, code: &str, message: String) -> Self {
        DeployEnd {
            status: RunStatus::Failed,
            reason: "deploy_failed",
            failure: Some(StepFailure {
                step: service.to_owned(),
                code: code.to_owned(),
                message: message.clone(),
            }),
            message,
        }
    }
}

impl Runtime {
    /// Look at a deployment being built after `initial`, then less often,
    /// doubling up to `max` (default 250 ms, up to 10 s).
    pub fn with_deploy_poll(mut self, initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        self.deploy_poll = DeployPoll {
            initial,
            max: max.max(initial),
        };
        self
    }

    /// Start a new deployment of the web service that step
    /// `request.service` of `scope` records, and follow it until the
    /// provider says it is ready (run `succeeded`) or failed (`failed`,
    /// reason `deploy_failed`, failure code `build_failed`).
    ///
    /// * Checked before any provider call ([`admit`](Runtime::admit)): the
    ///   scope is `org`'s, the step exists, records a provisioned web
    ///   service, its dock is registered and can create deployments — a
    ///   dock that cannot is a typed `Unsupported` error from its
    ///   capabilities. The request is validated as a deployment spec.
    /// * A run on the scope (operation `deploy`): a second deploy of the
    ///   scope while one runs joins it; another operation makes it
    ///   [`Error::ScopeBusy`].
    /// * The deployment is created once. Its id is audited (`deploy` /
    ///   `succeeded` / `created`, resource `deployment:<id>`) the moment it
    ///   is known; the deploy then observes it with backoff
    ///   ([`with_deploy_poll`](Runtime::with_deploy_poll)), emitting a
    ///   [`RunEventKind::Deployment`] at every status change, and audits how
    ///   it ended (`ready` / `build_failed`).
    /// * Executed again after its process died, the run follows the
    ///   deployment its first attempt audited; if no id was audited it does
    ///   **not** create a second one blindly: it fails with reason
    ///   `outcome_unknown`.
    /// * Cancelled ([`cancel`](Runtime::cancel)): it stops following; the
    ///   build goes on at the provider.
    /// * No step of the scope is touched: an apply, reconcile or destroy
    ///   afterwards sees the scope as before.
    pub async fn deploy(
        &self,
        scope: &str,
        org: &str,
        actor: &str,
        request: &DeployRequest,
    ) -> Result<DeployReport> {
        let request = RunRequest::deploy(scope, org, actor, request.clone());
        match self.submit(&request).await? {
            StartOutcome::Joined(run) => Ok(DeployReport {
                run,
                joined: true,
                service: request.deploy.map(|d| d.service).unwrap_or_default(),
                deployment: None,
                failure: None,
            }),
            StartOutcome::Started(run) => self.execute_deploy(&run, &request).await,
        }
    }

    /// [`admit`](Runtime::admit) for a deploy: the scope's owner, then the target.
    pub(super) async fn admit_deploy(&self, request: &RunRequest) -> Result<()> {
        let deploy = deploy_of(request)?;
        let owner = self.store.scope_org(&request.scope).await?;
        if owner.as_deref() != Some(request.org.as_str()) {
            return Err(Error::NotFound(format!("scope {}", request.scope)));
        }
        self.deploy_target(&request.scope, deploy).await.map(drop)
    }

    /// The recorded web service step `deploy.service` of `scope`, its dock,
    /// and the deployment spec — with no provider call.
    async fn deploy_target(&self, scope: &str, deploy: &DeployRequest) -> Result<Target> {
        let steps = self.store.list_steps(scope).await?;
        let is_web =
            |s: &StepState| s.spec.get("kind").and_then(|k| k.as_str()) == Some("web_service");
        let Some(step) = steps.iter().find(|s| s.step == deploy.service) else {
            let web: Vec<&str> = steps
                .iter()
                .filter(|s| is_web(s))
                .map(|s| s.step.as_str())
                .collect();
            return Err(Error::InvalidRequest(format!(
                "tenant {scope} has no step {}; its web services: {}",
                deploy.service,
                if web.is_empty() {
                    "none".to_owned()
                } else {
                    web.join(", ")
                }
            )));
        };
        if !is_web(step) {
            return Err(Error::InvalidRequest(format!(
                "step {} of tenant {scope} is not a web service",
                step.step
            )));
        }
        let id = match step.resource_id() {
            Some(id) if step.record.state == S::Provisioned => id.clone(),
            _ => {
                return Err(Error::InvalidRequest(format!(
                "web service {} of tenant {scope} is {}, not provisioned; apply the tenant first",
                step.step,
                step.record.state.as_str()
            )))
            }
        };
        let adapter = self.docks.require(&step.dock)?;
        if !adapter
            .capabilities()
            .supports(ResourceKind::Deployment, DockOp::Create)
        {
            return Err(adapter
                .unsupported(DockOp::Create, ResourceKind::Deployment)
                .with_context("dock", step.dock.clone())
                .into());
        }
        let spec = deploy.spec(&id.id)?;
        Ok(Target {
            step: step.clone(),
            adapter,
            spec,
        })
    }

    /// A deploy of a started (or claimed) run.
    pub(super) async fn execute_deploy(
        &self,
        run: &OperationRun,
        request: &RunRequest,
    ) -> Result<DeployReport> {
        let deploy = deploy_of(request)?;
        let ctx = Self::run_ctx(run, request);
        let span =
            tracing::info_span!("run", run_id = %ctx.id, scope = %ctx.scope, operation = "deploy");
        let work = self.deploy_run(&ctx, run, deploy);
        let result = self.watched(&ctx, run, work.instrument(span)).await;
        self.release_on_error(&ctx, result).await
    }

    async fn deploy_run(
        &self,
        ctx: &RunCtx,
        run: &OperationRun,
        deploy: &DeployRequest,
    ) -> Result<DeployReport> {
        self.emit(
            ctx,
            RunEventKind::RunStarted {
                operation: Operation::Deploy,
            },
        );
        let service = deploy.service.as_str();
        let target = match self.deploy_target(&ctx.scope, deploy).await {
            Ok(target) => target,
            Err(e @ Error::Store(_)) => return Err(e),
            Err(e) => {
                let failure = failure_of(service, &e);
                let end = DeployEnd::failed(service, &failure.code, failure.message);
                return self.end_deploy(ctx, service, end, None).await;
            }
        };
        self.emit(
            ctx,
            RunEventKind::StepStarted {
                step: service.to_owned(),
                dock: target.step.dock.clone(),
            },
        );
        let (id, created) = match self.audited_deployment(ctx).await? {
            Some(id) => (id, None),
            None if run.attempts > 1 => {
                let end = DeployEnd::failed(
                    service,
                    "outcome_unknown",
                    "an earlier attempt of this run may have started a deployment whose id was never recorded; look at the provider, then deploy again".into(),
                );
                return self.end_deploy(ctx, service, end, None).await;
            }
            None => match self.create_deployment(ctx, &target).await? {
                Ok(deployment) => (
                    deployment.meta.reference.provider_resource_id.clone(),
                    Some(deployment),
                ),
                Err(end) => return self.end_deploy(ctx, service, end, None).await,
            },
        };
        let (end, deployment) = self.follow_deployment(ctx, &target, &id, created).await;
        self.end_deploy(ctx, service, end, deployment).await
    }

    /// The deployment an earlier attempt of this run created, from the audit log.
    async fn audited_deployment(&self, ctx: &RunCtx) -> Result<Option<String>> {
        let entries = self
            .store
            .list_audit(&crate::model::AuditQuery {
                run_id: Some(ctx.id.clone()),
                operation: Some("deploy".into()),
                ..Default::default()
            })
            .await?;
        Ok(entries.iter().find_map(|e| {
            e.resource
                .as_deref()
                .and_then(|r| r.strip_prefix("deployment:"))
                .map(str::to_owned)
        }))
    }

    /// Create the deployment and audit its id at once. `Ok(Err(end))` when
    /// the provider refused (nothing was created, or nothing we can follow).
    async fn create_deployment(
        &self,
        ctx: &RunCtx,
        target: &Target,
    ) -> Result<std::result::Result<Deployment, DeployEnd>> {
        let service = target.step.step.as_str();
        if ctx.cancel.is_cancelled() {
            return Ok(Err(cancelled_end("before a deployment was created")));
        }
        // Like a step's attempt: the call holds a permit of its dock.
        let held = self.permits.acquire(&target.step.dock).await?;
        let created = target.adapter.create(&target.spec).await;
        drop(held);
        let created = match created {
            Ok(created) => created,
            Err(e) => {
                self.audit_deploy(
                    ctx,
                    target,
                    None,
                    AuditOutcome::Failed,
                    e.kind().as_str(),
                    &e.to_string(),
                )
                .await?;
                let failure = failure_of(service, &Error::Dock(e));
                return Ok(Err(DeployEnd::failed(
                    service,
                    &failure.code,
                    failure.message,
                )));
            }
        };
        let Resource::Deployment(deployment) = created.resource else {
            let message = format!(
                "dock {} answered a deploy with another kind of resource",
                target.step.dock
            );
            return Ok(Err(DeployEnd::failed(service, "invalid_response", message)));
        };
        let id = deployment.meta.reference.provider_resource_id.clone();
        self.audit_deploy(
            ctx,
            target,
            Some(&id),
            AuditOutcome::Succeeded,
            "created",
            "deployment started",
        )
        .await?;
        self.emit_deployment(ctx, service, &deployment);
        Ok(Ok(deployment))
    }

    /// Observe deployment `id` (as `created` showed it, when this run just
    /// created it) with backoff until it is ready, failed or gone, or the
    /// run is cancelled.
    async fn follow_deployment(
        &self,
        ctx: &RunCtx,
        target: &Target,
        id: &str,
        created: Option<Deployment>,
    ) -> (DeployEnd, Option<Deployment>) {
        let service = target.step.step.as_str();
        let rid = ResourceId::new(ResourceKind::Deployment, id);
        let mut wait = self.deploy_poll.initial;
        let (mut absent, mut failures) = (0u32, 0u32);
        let mut last = created;
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = ctx.cancel.cancelled() => {
                    return (cancelled_end(&format!("deployment {id} goes on at the provider")), last);
                }
            }
            wait = (wait * 2).min(self.deploy_poll.max);
            let observed = match self.permits.acquire(&target.step.dock).await {
                Ok(_held) => target
                    .adapter
                    .observe(&rid, None)
                    .await
                    .map_err(Error::Dock),
                Err(e) => Err(e),
            };
            let observed = match observed {
                Ok(observed) => observed,
                Err(e) if is_temporary(&e) && failures + 1 < OBSERVE_FAILURES => {
                    failures += 1;
                    tracing::warn!(deployment = id, error = %e, "observe failed; looking again");
                    continue;
                }
                Err(e) => {
                    let failure = failure_of(service, &e);
                    let message =
                        format!("deployment {id} could not be observed: {}", failure.message);
                    return (DeployEnd::failed(service, &failure.code, message), last);
                }
            };
            failures = 0;
            let deployment = match observed.resource {
                Some(Resource::Deployment(d)) => d,
                _ if absent + 1 < ABSENT_GRACE
                    && last
                        .as_ref()
                        .is_none_or(|d| d.provisioning != S::Provisioned) =>
                {
                    absent += 1;
                    continue;
                }
                _ => {
                    let message = format!("deployment {id} is gone at the provider");
                    return (
                        DeployEnd::failed(service, "deployment_vanished", message),
                        last,
                    );
                }
            };
            if last.as_ref().is_none_or(|l| {
                l.meta.status != deployment.meta.status || l.provisioning != deployment.provisioning
            }) {
                self.emit_deployment(ctx, service, &deployment);
            }
            let state = deployment.provisioning;
            last = Some(deployment);
            let url = last.as_ref().and_then(|d| d.url.clone());
            match state {
                S::Provisioned => {
                    let message = match url {
                        Some(url) => format!("deployment {id} is ready at {url}"),
                        None => format!("deployment {id} is ready"),
                    };
                    let end = DeployEnd {
                        status: RunStatus::Succeeded,
                        reason: "ready",
                        message,
                        failure: None,
                    };
                    return (end, last);
                }
                S::Failed => {
                    let message = format!(
                        "deployment {id} failed at the provider (its build errored, was cancelled or was blocked); read its build logs{}, fix the cause and deploy again",
                        url.map(|u| format!(" ({u})")).unwrap_or_default()
                    );
                    return (DeployEnd::failed(service, "build_failed", message), last);
                }
                S::Deprovisioned => {
                    let message = format!("deployment {id} was deleted at the provider");
                    return (
                        DeployEnd::failed(service, "deployment_vanished", message),
                        last,
                    );
                }
                _ => {}
            }
        }
    }

    fn emit_deployment(&self, ctx: &RunCtx, service: &str, deployment: &Deployment) {
        self.emit(
            ctx,
            RunEventKind::Deployment {
                step: service.to_owned(),
                deployment: deployment.meta.reference.provider_resource_id.clone(),
                status: deployment.meta.status,
                state: deployment.provisioning,
                url: deployment.url.clone(),
            },
        );
    }

    async fn audit_deploy(
        &self,
        ctx: &RunCtx,
        target: &Target,
        deployment: Option<&str>,
        outcome: AuditOutcome,
        reason: &str,
        message: &str,
    ) -> Result<()> {
        let mut entry = AuditEntry::new(&ctx.actor, "deploy", outcome);
        entry.org = Some(ctx.org.clone());
        entry.scope = Some(ctx.scope.clone());
        entry.dock = Some(target.step.dock.clone());
        entry.resource = Some(match deployment {
            Some(id) => format!("deployment:{id}"),
            None => format!("step:{}", target.step.step),
        });
        entry.reason = Some(reason.to_owned());
        entry.run_id = Some(ctx.id.clone());
        entry.message = Some(stackdock_core::provisioning::sanitize_message(message));
        self.audit.record(entry).await
    }

    /// Write how the deploy ended: its audit entry (when a deployment was
    /// followed), the run, the last event.
    async fn end_deploy(
        &self,
        ctx: &RunCtx,
        service: &str,
        end: DeployEnd,
        deployment: Option<Deployment>,
    ) -> Result<DeployReport> {
        if let Some(d) = &deployment {
            let (outcome, reason) = match (&end.failure, end.status) {
                (_, RunStatus::Cancelled) => (AuditOutcome::Skipped, "cancelled"),
                (Some(f), _) => (AuditOutcome::Failed, f.code.as_str()),
                (None, _) => (AuditOutcome::Succeeded, "ready"),
            };
            let mut entry = AuditEntry::new(&ctx.actor, "deploy", outcome);
            entry.org = Some(ctx.org.clone());
            entry.scope = Some(ctx.scope.clone());
            entry.dock = Some(d.meta.reference.dock_id.clone());
            entry.resource = Some(format!(
                "deployment:{}",
                d.meta.reference.provider_resource_id
            ));
            entry.reason = Some(reason.to_owned());
            entry.run_id = Some(ctx.id.clone());
            entry.message = Some(stackdock_core::provisioning::sanitize_message(&end.message));
            self.audit.record(entry).await?;
        }
        let message = stackdock_core::provisioning::sanitize_message(&end.message);
        let run = self
            .store
            .finish_run(&ctx.id, end.status, Some(end.reason), Some(&message))
            .await?;
        self.announce_cancelling(ctx);
        self.emit(ctx, RunEventKind::RunFinished { status: end.status });
        tracing::info!(status = %end.status, "deploy finished");
        Ok(DeployReport {
            run,
            joined: false,
            service: service.to_owned(),
            deployment,
            failure: end.failure,
        })
    }
}

/// A failure worth looking again after: a dock's temporary error, or the
/// shared dock limits' backend failing.
fn is_temporary(e: &Error) -> bool {
    match e {
        Error::Dock(e) => e.status() != stackdock_core::ErrorStatus::Permanent,
        Error::Store(_) => true,
        _ => false,
    }
}

fn cancelled_end(what: &str) -> DeployEnd {
    DeployEnd {
        status: RunStatus::Cancelled,
        reason: "cancelled",
        message: format!("cancelled on request; {what}"),
        failure: None,
    }
}

/// The deploy part of a deploy request.
fn deploy_of(request: &RunRequest) -> Result<&DeployRequest> {
    request
        .deploy
        .as_ref()
        .ok_or_else(|| request.invalid("a deploy needs its service"))
}
