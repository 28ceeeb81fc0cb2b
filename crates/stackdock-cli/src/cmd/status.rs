//! `stackdock status TENANT [--refresh]`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde::Serialize;
use stackdock_core::ResourceSpec;
use stackdock_runtime::ScopeStatus;

use crate::cli::StatusArgs;
use crate::error::CliResult;
use crate::output::{or_dash, when, Table, Ui};
use crate::progress::short;
use crate::state::State;

/// What a provider said of one step's resource (`--refresh`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "observed")]
enum Observed {
    UpToDate,
    Drifted { fields: Vec<String> },
    Missing,
    Error { message: String },
}

impl Observed {
    fn text(&self) -> String {
        match self {
            Observed::UpToDate => "up to date".into(),
            Observed::Drifted { fields } => format!("drifted ({})", fields.join(", ")),
            Observed::Missing => "missing".into(),
            Observed::Error { message } => format!("error: {message}"),
        }
    }
}

pub(crate) async fn run(ui: &Ui, state: &State, args: &StatusArgs) -> CliResult<ExitCode> {
    let steps = state.store.list_steps(&args.tenant).await?;
    let docks: Vec<String> = if args.refresh {
        steps
            .iter()
            .filter(|s| s.holds_resource())
            .map(|s| s.dock.clone())
            .collect()
    } else {
        Vec::new()
    };
    // The session checks access before reading anything else.
    let empty = state.runtime([]).await?;
    let status = empty
        .session(state.principal.clone())
        .status(&args.tenant)
        .await?;
    let mut observed = BTreeMap::new();
    if args.refresh {
        let registry = state.registry(docks.iter().map(String::as_str)).await?;
        // An env var step's "resource" is a variable of its web service, not
        // something `observe` knows: the next apply or reconcile checks it.
        let observable = |s: &&stackdock_runtime::model::StepState| {
            s.holds_resource() && s.spec.get("kind").and_then(|k| k.as_str()) != Some("env_var")
        };
        for step in steps.iter().filter(observable) {
            let (Some(id), Ok(dock)) = (step.resource_id(), registry.require(&step.dock)) else {
                continue;
            };
            let spec: Option<ResourceSpec> = serde_json::from_value(step.spec.clone()).ok();
            let seen = match state
                .call_context()
                .scope(dock.observe(id, spec.as_ref()))
                .await
            {
                Ok(o) if o.resource.is_none() => Observed::Missing,
                Ok(o) if o.up_to_date => Observed::UpToDate,
                Ok(o) => Observed::Drifted {
                    fields: o.diff.iter().map(|d| d.field.clone()).collect(),
                },
                Err(e) => Observed::Error {
                    message: e.to_string(),
                },
            };
            observed.insert(step.step.clone(), seen);
        }
    }
    if ui.json() {
        ui.print_json(&serde_json::json!({ "status": status, "observed": observed }))?;
    } else {
        render(ui, &status, args.refresh.then_some(&observed))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn render(
    ui: &Ui,
    status: &ScopeStatus,
    observed: Option<&BTreeMap<String, Observed>>,
) -> CliResult<()> {
    let run_text = |r: &stackdock_runtime::model::OperationRun| {
        format!(
            "{} {} {} by {}",
            short(r.id.as_str()),
            r.operation,
            ui.paint(r.status.as_str()),
            r.actor
        )
    };
    ui.result(&format!(
        "tenant {}: last run {}; active run {}",
        status.scope,
        or_dash(status.last_run.as_ref().map(run_text)),
        or_dash(status.active_run.as_ref().map(run_text)),
    ))?;
    let mut header = vec!["step", "dock", "state", "outcome", "resource", "updated"];
    if observed.is_some() {
        header.push("observed");
    }
    let mut table = Table::new(&header);
    for step in &status.steps {
        let mut row = vec![
            step.step.clone(),
            step.dock.clone(),
            ui.paint(step.state.as_str()),
            or_dash(step.outcome.map(|o| o.as_str())),
            or_dash(step.resource_id.as_ref()),
            when(step.updated_at),
        ];
        if let Some(observed) = observed {
            row.push(or_dash(observed.get(&step.step).map(Observed::text)));
        }
        if let Some(failure) = &step.failure {
            if step.state == stackdock_core::ProvisioningState::Failed {
                row[3] = format!("{} ({})", row[3], failure.code);
            }
        }
        table.row(row);
    }
    if table.is_empty() {
        ui.result("no recorded steps")?;
    } else {
        table.print()?;
    }
    Ok(())
}
