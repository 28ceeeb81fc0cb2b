//! `stackdock sync [DOCK]` and `stackdock inventory [--dock D] [--kind K]`.

use std::process::ExitCode;

use stackdock_core::ResourceKind;
use stackdock_runtime::rbac::{Access, Area};

use crate::cli::{InventoryArgs, SyncArgs};
use crate::error::{CliError, CliResult};
use crate::output::{or_dash, when, Table, Ui};
use crate::state::{State, Target};

pub(crate) async fn sync(ui: &Ui, state: &State, args: &SyncArgs) -> CliResult<ExitCode> {
    let docks: Vec<String> = match &args.dock {
        Some(dock) => vec![state.config.dock(dock)?.id.clone()],
        None => state.config.docks.iter().map(|d| d.id.clone()).collect(),
    };
    let mut table = Table::new(&["dock", "status", "seen", "added", "vanished", "error"]);
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for dock in &docks {
        let runtime = state.runtime([dock.as_str()]).await?;
        let report = runtime.session(state.principal.clone()).sync(dock).await?;
        let report = if report.joined {
            let run = runtime.wait(&report.run.id).await?;
            stackdock_runtime::SyncReport { run, ..report }
        } else {
            report
        };
        let total = |f: fn(&stackdock_runtime::model::InventoryDelta) -> u64| {
            report.kinds.values().map(f).sum::<u64>().to_string()
        };
        table.row(vec![
            dock.clone(),
            ui.paint(report.run.status.as_str()),
            total(|d| d.seen),
            total(|d| d.added),
            total(|d| d.vanished),
            or_dash(report.error.as_ref()),
        ]);
        if report.error.is_some()
            || report.run.status != stackdock_runtime::model::RunStatus::Succeeded
        {
            failed.push(dock.clone());
        }
        reports.push(report);
    }
    if ui.json() {
        ui.print_json(&serde_json::json!({ "syncs": reports }))?;
    } else if table.is_empty() {
        ui.result("no docks to sync")?;
    } else {
        table.print()?;
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(
            CliError::failed(format!("sync failed for {}", failed.join(", "))).hint(
                "see the error column; `stackdock dock check DOCK` tests a dock's credentials",
            ),
        )
    }
}

pub(crate) async fn inventory(ui: &Ui, state: &State, args: &InventoryArgs) -> CliResult<ExitCode> {
    state
        .authorize_own(Target::State, "read_inventory", Area::Docks, Access::Read)
        .await?;
    let kind = args.kind.as_deref().map(parse_kind).transpose()?;
    let items: Vec<_> = state
        .store
        .list_inventory(args.dock.as_deref())
        .await?
        .into_iter()
        .filter(|i| kind.is_none_or(|k| i.kind == k))
        .collect();
    if ui.json() {
        ui.print_json(&serde_json::json!({ "inventory": items }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&["dock", "kind", "id", "name", "last seen", "vanished"]);
    for item in &items {
        table.row(vec![
            item.dock.clone(),
            item.kind.as_str().to_owned(),
            item.provider_resource_id.clone(),
            item.name.clone(),
            when(item.last_seen_at),
            or_dash(item.vanished_at.map(when)),
        ]);
    }
    if table.is_empty() {
        ui.result("the inventory is empty: run `stackdock sync` first")?;
    } else {
        table.print()?;
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_kind(text: &str) -> CliResult<ResourceKind> {
    ResourceKind::ALL
        .into_iter()
        .find(|k| k.as_str() == text)
        .ok_or_else(|| {
            let known: Vec<&str> = ResourceKind::ALL.iter().map(|k| k.as_str()).collect();
            CliError::usage(format!(
                "--kind {text:?}: expected one of {}",
                known.join(", ")
            ))
        })
}
