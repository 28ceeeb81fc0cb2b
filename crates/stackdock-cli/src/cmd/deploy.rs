//! `stackdock deploy`: a new deployment of a tenant's web service, followed
//! to ready or failed with the same progress as `apply`.

use std::process::ExitCode;

use stackdock_runtime::rbac::{Access, Area};
use stackdock_runtime::{DeployReport, DeployRequest, Error as RuntimeError, RunRequest};

use crate::cli::{DeployArgs, DeployTarget};
use crate::error::{CliError, CliResult};
use crate::output::Ui;
use crate::progress::{short, Progress};
use crate::state::{State, Target};

pub(crate) async fn run(ui: &Ui, state: &State, args: &DeployArgs) -> CliResult<ExitCode> {
    let tenant = args.tenant.as_str();
    let owner = state.scope_org(tenant).await?;
    state
        .authorize(
            owner.as_deref(),
            Target::Scope(tenant),
            "deploy",
            Area::Provisioning,
            Access::Full,
        )
        .await?;
    // Build only the service's dock (building one opens its credentials);
    // an unknown step is the runtime's to explain, with no dock built.
    let step = state.store.get_step(tenant, &args.service).await?;
    let runtime = state.runtime(step.iter().map(|s| s.dock.as_str())).await?;
    let request = deploy_request(args);
    if args.detach {
        // Authorized above: the tenant has an owner.
        let org = owner.unwrap_or_default();
        let request = RunRequest::deploy(tenant, &org, &state.principal.id, request);
        let queued = runtime
            .enqueue(&request)
            .await
            .map_err(|e| explain(tenant, &args.service, step.as_ref(), e))?;
        return super::apply::report_queued(ui, state, &request, &queued).await;
    }

    let progress = Progress::start(ui, Some(tenant), runtime.subscribe());
    let result = runtime
        .session(state.principal.clone())
        .deploy(tenant, &request)
        .await;
    let result = match result {
        Ok(report) if report.joined => {
            ui.say(&format!(
                "run {} (deploy by {}) is already active on {tenant}; following it",
                report.run.id, report.run.actor
            ))?;
            runtime
                .wait(&report.run.id)
                .await
                .map(|run| DeployReport { run, ..report })
        }
        other => other,
    };
    drop(runtime);
    progress.finish().await;
    let report = result.map_err(|e| explain(tenant, &args.service, step.as_ref(), e))?;
    conclude(ui, tenant, &args.service, &report)
}

fn deploy_request(args: &DeployArgs) -> DeployRequest {
    let mut request = DeployRequest::new(&args.service);
    request.git_ref = args.git_ref.clone();
    request.redeploy_of = args.redeploy.clone();
    request.environment = args.target.map(|t| {
        match t {
            DeployTarget::Production => "production",
            DeployTarget::Preview => "preview",
        }
        .to_owned()
    });
    request
}

/// A refusal before any run, in one line: a dock that cannot deploy says
/// so; a step that is not a deployable web service is a usage error.
fn explain(
    tenant: &str,
    service: &str,
    step: Option<&stackdock_runtime::model::StepState>,
    e: RuntimeError,
) -> CliError {
    use stackdock_core::ErrorKind;
    match &e {
        RuntimeError::Dock(core) if matches!(core.kind(), ErrorKind::Unsupported { .. }) => {
            let dock = step.map(|s| s.dock.as_str()).unwrap_or("?");
            let provider = match core.kind() {
                ErrorKind::Unsupported { provider, .. } => provider.as_str(),
                _ => "its provider",
            };
            CliError::failed(format!(
                "{service} of {tenant} is on dock {dock} ({provider}), which has no deployments"
            ))
            .hint(format!(
                "deploy it with {provider}'s own tools; `stackdock deploy` works on docks that build deployments (vercel)"
            ))
            .caused_by(&e)
        }
        RuntimeError::InvalidRequest(message) => CliError::usage(
            message
                .strip_prefix("invalid run request: ")
                .unwrap_or(message)
                .to_owned(),
        )
        .hint(format!(
            "name a web service step of the tenant (`stackdock status {tenant}`)"
        )),
        _ => CliError::from(e),
    }
}

/// Print how the deploy ended; a failed build is exit 1 with what to do.
fn conclude(ui: &Ui, tenant: &str, service: &str, report: &DeployReport) -> CliResult<ExitCode> {
    let run = &report.run;
    if ui.json() {
        ui.print_json(&serde_json::json!({
            "report": report, "run": run, "joined": report.joined
        }))?;
    } else {
        ui.result(&format!(
            "deploy {tenant} {service}: {} (run {}){}",
            ui.paint(run.status.as_str()),
            short(run.id.as_str()),
            run.message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ))?;
    }
    if report.succeeded() {
        return Ok(ExitCode::SUCCESS);
    }
    Err(CliError::failed(format!(
        "deploy {tenant} {service}: run {} {}{}",
        run.id,
        run.status,
        run.message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    ))
    .hint(format!("see `stackdock run show {}`", run.id)))
}
