//! `stackdock apply`, `reconcile`, `destroy`: runs on a tenant, with progress.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::process::ExitCode;

use stackdock_runtime::blueprint::Blueprint;
use stackdock_runtime::model::{AuditEntry, AuditOutcome, OperationRun, RunStatus};
use stackdock_runtime::{ApplyOptions, RunReport, RunRequest, Runtime};

use crate::cli::{ApplyArgs, DestroyArgs, OnFailure, PlanArgs, ReconcileArgs};
use crate::error::{io_error, CliError, CliResult, Exit};
use crate::output::{Table, Ui};
use crate::progress::{outcome_text, short, Progress};
use crate::state::{State, Target};
use stackdock_runtime::rbac::{Access, Area};

/// Read and validate a blueprint file (TOML, or JSON by extension).
pub(crate) fn read_blueprint(path: &std::path::Path) -> CliResult<Blueprint> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let mut err = io_error("cannot read the blueprint", path, &e);
        err.exit = Exit::Usage;
        err
    })?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        Blueprint::from_json(&text)
    } else {
        Blueprint::from_toml(&text)
    };
    parsed.map_err(|e| {
        CliError::usage(format!("{}: {e}", path.display()))
            .hint("fix the blueprint (see examples/ for complete ones)")
    })
}

/// The docks a blueprint needs, each configured (or an error naming the step).
fn blueprint_docks<'a>(state: &State, blueprint: &'a Blueprint) -> CliResult<BTreeSet<&'a str>> {
    let mut docks = BTreeSet::new();
    for (step, def) in &blueprint.steps {
        if !state.config.docks.iter().any(|d| d.id == def.dock) {
            return Err(CliError::usage(format!(
                "step {step} of tenant {} is on dock {:?}, which is not configured",
                blueprint.scope, def.dock
            ))
            .hint("add it with `stackdock dock add` or fix the blueprint"));
        }
        docks.insert(def.dock.as_str());
    }
    Ok(docks)
}

/// The docks a tenant's recorded steps are on.
async fn recorded_docks(state: &State, scope: &str) -> CliResult<BTreeSet<String>> {
    Ok(state
        .store
        .list_steps(scope)
        .await?
        .into_iter()
        .map(|s| s.dock)
        .collect())
}

/// Check `provisioning: full` on `scope` before any dock is built (building
/// one opens its credentials); the runtime's session checks again. A scope
/// of another org reads as not found. `org` is the blueprint's, if any.
async fn precheck(
    state: &State,
    scope: &str,
    org: Option<&str>,
    operation: &str,
    need: Access,
) -> CliResult<()> {
    let owner = state.scope_org(scope).await?;
    let org = match (owner.as_deref(), org) {
        (Some(owner), Some(wanted)) if owner != wanted => None,
        (Some(owner), _) => Some(owner),
        (None, wanted) => wanted,
    };
    state
        .authorize(
            org,
            Target::Scope(scope),
            operation,
            Area::Provisioning,
            need,
        )
        .await
}

pub(crate) async fn apply(ui: &Ui, state: &State, args: &ApplyArgs) -> CliResult<ExitCode> {
    let blueprint = read_blueprint(&args.file)?;
    precheck(
        state,
        &blueprint.scope,
        Some(blueprint.org()),
        "apply",
        Access::Full,
    )
    .await?;
    let docks = blueprint_docks(state, &blueprint)?;
    let runtime = state.runtime(docks).await?;
    let options = match args.on_failure {
        OnFailure::Rollback => ApplyOptions::rollback(),
        OnFailure::Keep => ApplyOptions::keep(),
    };
    let scope = blueprint.scope.clone();
    if args.detach {
        let request = RunRequest::apply(&blueprint, &state.principal.id, options);
        return detach(ui, state, &runtime, request).await;
    }
    let outcome = follow(ui, runtime, &scope, |rt| {
        let principal = state.principal.clone();
        async move { rt.session(principal).apply(&blueprint, options).await }
    })
    .await?;
    conclude(ui, "apply", &scope, outcome)
}

/// Queue `request` for a worker; print the run (queued, or the one already
/// active that it joined).
async fn detach(
    ui: &Ui,
    state: &State,
    runtime: &Runtime,
    request: RunRequest,
) -> CliResult<ExitCode> {
    let queued = runtime.enqueue(&request).await?;
    report_queued(ui, state, &request, &queued).await
}

/// Audit and print a run `request` queued (or joined) for a worker.
pub(super) async fn report_queued(
    ui: &Ui,
    state: &State,
    request: &RunRequest,
    queued: &stackdock_runtime::model::StartOutcome,
) -> CliResult<ExitCode> {
    let run = queued.run();
    // Queueing is audited (who asked, for which run), so `runs` and `audit`
    // see a queued run before a worker touches it.
    let mut entry = AuditEntry::new(&state.principal.id, "enqueue", AuditOutcome::Succeeded);
    entry.org = Some(request.org.clone());
    entry.scope = Some(run.scope.clone());
    entry.run_id = Some(run.id.clone());
    entry.reason = Some(
        if queued.is_started() {
            "queued"
        } else {
            "joined"
        }
        .into(),
    );
    state.audit.record(entry).await?;
    if ui.json() {
        ui.print_json(&serde_json::json!({ "run": run, "joined": !queued.is_started() }))?;
    } else if queued.is_started() {
        ui.result(&format!(
            "{} {}: queued as run {} for a `stackdock worker`; follow it with `stackdock run show {}`",
            run.operation, run.scope, run.id, run.id
        ))?;
    } else {
        ui.result(&format!(
            "{} {}: run {} ({}) is already {}; not queued again",
            run.operation, run.scope, run.id, run.actor, run.status
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What an apply of the blueprint would do, with no mutating call.
pub(crate) async fn plan(ui: &Ui, state: &State, args: &PlanArgs) -> CliResult<ExitCode> {
    let blueprint = read_blueprint(&args.file)?;
    precheck(
        state,
        &blueprint.scope,
        Some(blueprint.org()),
        "plan",
        Access::Read,
    )
    .await?;
    let docks = blueprint_docks(state, &blueprint)?;
    let runtime = state.runtime(docks).await?;
    let plan = state
        .call_context()
        .scope(runtime.session(state.principal.clone()).plan(&blueprint))
        .await?;
    if ui.json() {
        ui.print_json(&serde_json::json!({ "plan": plan, "mutations": plan.mutations() }))?;
    } else {
        ui.result(plan.to_string().trim_end())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn destroy(ui: &Ui, state: &State, args: &DestroyArgs) -> CliResult<ExitCode> {
    if !args.yes {
        confirm_destroy(&args.tenant)?;
    }
    precheck(state, &args.tenant, None, "destroy", Access::Full).await?;
    let docks = recorded_docks(state, &args.tenant).await?;
    let runtime = state.runtime(docks.iter().map(String::as_str)).await?;
    let outcome = follow(ui, runtime, &args.tenant, |rt| {
        let principal = state.principal.clone();
        let scope = args.tenant.clone();
        async move { rt.session(principal).destroy(&scope).await }
    })
    .await?;
    conclude(ui, "destroy", &args.tenant, outcome)
}

fn confirm_destroy(tenant: &str) -> CliResult<()> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(format!(
            "destroy {tenant} deletes every resource of the tenant"
        ))
        .hint("pass --yes to confirm when not on a terminal"));
    }
    eprint!("destroy deletes every resource of {tenant}; type its name to confirm: ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError::failed(format!("cannot read the answer: {}", e.kind())))?;
    if answer.trim() != tenant {
        return Err(CliError::failed("not confirmed; nothing was done"));
    }
    Ok(())
}

pub(crate) async fn reconcile(ui: &Ui, state: &State, args: &ReconcileArgs) -> CliResult<ExitCode> {
    let scopes = match &args.tenant {
        Some(tenant) => vec![tenant.clone()],
        None => reconcilable_scopes(state).await?,
    };
    let mut worst: Option<CliError> = None;
    let mut summary = Table::new(&["tenant", "status", "run"]);
    for scope in &scopes {
        precheck(state, scope, None, "reconcile", Access::Full).await?;
        let docks = recorded_docks(state, scope).await?;
        let runtime = state.runtime(docks.iter().map(String::as_str)).await?;
        let result = follow(ui, runtime, scope, |rt| {
            let principal = state.principal.clone();
            let scope = scope.clone();
            async move { rt.session(principal).reconcile(&scope).await }
        })
        .await
        .and_then(|outcome| {
            let run = outcome.run.clone();
            conclude(ui, "reconcile", scope, outcome).map(|_| run)
        });
        match result {
            Ok(run) => summary.row(vec![
                scope.clone(),
                ui.paint(run.status.as_str()),
                run.id.to_string(),
            ]),
            Err(e) if args.tenant.is_some() => return Err(e),
            Err(e) => {
                summary.row(vec![scope.clone(), ui.paint("failed"), e.message.clone()]);
                if worst.as_ref().is_none_or(|w| w.exit == Exit::Busy) {
                    worst = Some(e);
                }
            }
        }
    }
    if args.all && !ui.json() && !ui.quiet {
        if summary.is_empty() {
            ui.result("no tenant with recorded state")?;
        } else {
            summary.print()?;
        }
    }
    match worst {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Tenants of the principal's organisation with a live recorded step.
async fn reconcilable_scopes(state: &State) -> CliResult<Vec<String>> {
    let mut out = Vec::new();
    for scope in state.store.list_scopes().await? {
        if scope.org != state.principal.org {
            continue;
        }
        let steps = state.store.list_steps(&scope.scope).await?;
        if steps.iter().any(|s| s.holds_resource()) {
            out.push(scope.scope);
        }
    }
    Ok(out)
}

/// What a run command ended with.
pub(crate) struct Outcome {
    report: Option<RunReport>,
    run: OperationRun,
    joined: bool,
}

/// Start a run through `start`, rendering its progress; a run joined
/// (already active, same operation) is followed until it ends.
async fn follow<F, Fut>(ui: &Ui, runtime: Runtime, scope: &str, start: F) -> CliResult<Outcome>
where
    F: FnOnce(Runtime) -> Fut,
    Fut: std::future::Future<Output = stackdock_runtime::Result<RunReport>>,
{
    let progress = Progress::start(ui, Some(scope), runtime.subscribe());
    let result = start(runtime.clone()).await;
    let outcome = match result {
        Ok(report) if report.joined => {
            ui.say(&format!(
                "run {} ({} by {}) is already active on {scope}; following it",
                report.run.id, report.run.operation, report.run.actor
            ))?;
            let run = runtime.wait(&report.run.id).await;
            run.map(|run| Outcome {
                report: None,
                run,
                joined: true,
            })
        }
        Ok(report) => Ok(Outcome {
            run: report.run.clone(),
            report: Some(report),
            joined: false,
        }),
        Err(e) => Err(e),
    };
    // Every event was sent before the call returned: closing the channel
    // lets the renderer drain them and stop.
    drop(runtime);
    progress.finish().await;
    Ok(outcome?)
}

/// Print how the run ended; a failed run is exit 1 with its reason.
fn conclude(ui: &Ui, what: &str, scope: &str, outcome: Outcome) -> CliResult<ExitCode> {
    let run = &outcome.run;
    if ui.json() {
        ui.print_json(&serde_json::json!({
            "report": outcome.report, "run": run, "joined": outcome.joined
        }))?;
    } else if let Some(report) = &outcome.report {
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for o in report.steps.values() {
            *counts.entry(outcome_text(o)).or_default() += 1;
        }
        let counts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
        ui.result(&format!(
            "{what} {scope}: {} (run {}){}",
            ui.paint(run.status.as_str()),
            short(run.id.as_str()),
            if counts.is_empty() {
                String::new()
            } else {
                format!(": {}", counts.join(", "))
            }
        ))?;
    } else {
        ui.result(&format!(
            "{what} {scope}: {} (run {})",
            ui.paint(run.status.as_str()),
            short(run.id.as_str())
        ))?;
    }
    match run.status {
        RunStatus::Succeeded => Ok(ExitCode::SUCCESS),
        status => Err(CliError::failed(format!(
            "{what} {scope}: run {} {status}{}",
            run.id,
            run.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
        ))
        .hint(format!(
            "see `stackdock run show {}`; fix the cause and run it again (with --on-failure keep the state stays for `stackdock reconcile {scope}`)",
            run.id
        ))),
    }
}
