//! `stackdock runs [--scope S]`, `stackdock run show ID`.

use std::process::ExitCode;

use stackdock_runtime::model::{AuditQuery, OperationRun, RunId};
use stackdock_runtime::rbac::{Access, Area};

use crate::cli::{RunCommand, RunsArgs};
use crate::error::{CliError, CliResult};
use crate::output::{or_dash, when, Table, Ui};
use crate::state::{State, Target};

/// The organisation a scope belongs to, for an access check: a tenant's
/// claimed org, the state's own org for a dock sync (`dock:ID`).
async fn org_of(state: &State, scope: &str) -> CliResult<Option<String>> {
    if scope.starts_with("dock:") {
        return Ok(Some(state.principal.org.clone()));
    }
    state.scope_org(scope).await
}

pub(crate) async fn list(ui: &Ui, state: &State, args: &RunsArgs) -> CliResult<ExitCode> {
    let scopes: Vec<String> = match &args.scope {
        Some(scope) => {
            let org = org_of(state, scope).await?;
            state
                .authorize(
                    org.as_deref(),
                    Target::Scope(scope),
                    "list_runs",
                    Area::Provisioning,
                    Access::Read,
                )
                .await?;
            vec![scope.clone()]
        }
        None => {
            state
                .authorize_own(Target::State, "list_runs", Area::Provisioning, Access::Read)
                .await?;
            let mut visible = Vec::new();
            let mut scopes = super::known_scopes(state).await?;
            scopes.extend(state.config.docks.iter().map(|d| format!("dock:{}", d.id)));
            for scope in scopes {
                if org_of(state, &scope).await?.as_deref() == Some(state.principal.org.as_str()) {
                    visible.push(scope);
                }
            }
            visible
        }
    };
    let mut runs: Vec<OperationRun> = Vec::new();
    for scope in &scopes {
        runs.extend(state.store.list_runs(scope).await?);
    }
    runs.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    runs.truncate(args.limit);
    if ui.json() {
        ui.print_json(&serde_json::json!({ "runs": runs }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        "run",
        "scope",
        "operation",
        "status",
        "actor",
        "started",
        "reason",
    ]);
    for run in &runs {
        table.row(vec![
            run.id.to_string(),
            run.scope.clone(),
            run.operation.to_string(),
            ui.paint(run.status.as_str()),
            run.actor.clone(),
            when(run.created_at),
            or_dash(run.reason.as_ref()),
        ]);
    }
    if table.is_empty() {
        ui.result("no runs")?;
    } else {
        table.print()?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn run(ui: &Ui, state: &State, command: RunCommand) -> CliResult<ExitCode> {
    match command {
        RunCommand::Show { id } => show(ui, state, &id).await,
        RunCommand::Cancel { id, wait } => cancel(ui, state, &id, wait).await,
    }
}

/// The run `id`, after checking `need` on its scope; another org's run and
/// a run that does not exist read the same.
async fn authorized_run(
    state: &State,
    id: &str,
    operation: &str,
    need: Access,
) -> CliResult<OperationRun> {
    let not_found =
        || CliError::failed(format!("not found: run {id}")).hint("see `stackdock runs`");
    let run = state.store.get_run(&RunId(id.to_owned())).await?;
    let org = match &run {
        Some(run) => org_of(state, &run.scope).await?,
        None => None,
    };
    state
        .authorize(
            org.as_deref(),
            Target::Resource(&format!("run:{id}")),
            operation,
            Area::Provisioning,
            need,
        )
        .await
        .map_err(|e| if org.is_none() { not_found() } else { e })?;
    run.ok_or_else(not_found)
}

async fn cancel(ui: &Ui, state: &State, id: &str, wait: bool) -> CliResult<ExitCode> {
    let run = authorized_run(state, id, "cancel", Access::Full).await?;
    let runtime = state.runtime([]).await?;
    let mut run = runtime.cancel(&run.id, &state.principal.id).await?;
    if wait && run.status.is_active() {
        run = runtime.wait(&run.id).await?;
    }
    if ui.json() {
        ui.print_json(&serde_json::json!({ "run": run }))?;
    } else if run.status.is_active() {
        ui.result(&format!(
            "run {} ({} {}): cancel requested; it stops once its in-flight calls return",
            run.id, run.operation, run.scope
        ))?;
    } else {
        ui.result(&format!(
            "run {} ({} {}): {}",
            run.id,
            run.operation,
            run.scope,
            ui.paint(run.status.as_str())
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(ui: &Ui, state: &State, id: &str) -> CliResult<ExitCode> {
    let run = authorized_run(state, id, "show_run", Access::Read).await?;
    let audit = state
        .store
        .list_audit(&AuditQuery {
            run_id: Some(run.id.clone()),
            ..Default::default()
        })
        .await?;
    if ui.json() {
        ui.print_json(&serde_json::json!({ "run": run, "audit": audit }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut facts = Table::new(&["field", "value"]);
    for (k, v) in [
        ("run", run.id.to_string()),
        ("scope", run.scope.clone()),
        ("operation", run.operation.to_string()),
        ("status", ui.paint(run.status.as_str())),
        ("actor", run.actor.clone()),
        ("attempts", run.attempts.to_string()),
        ("cancel requested", run.cancel_requested.to_string()),
        ("started", when(run.created_at)),
        ("finished", or_dash(run.finished_at.map(when))),
        ("reason", or_dash(run.reason.as_ref())),
        ("message", or_dash(run.message.as_ref())),
        (
            "steps",
            if run.steps.is_empty() {
                "-".into()
            } else {
                run.steps.join(", ")
            },
        ),
    ] {
        facts.row(vec![k.to_owned(), v]);
    }
    facts.print()?;
    if !audit.is_empty() {
        ui.result("")?;
        super::audit::table(ui, &audit).print()?;
    }
    Ok(ExitCode::SUCCESS)
}
