//! `stackdock principal add|list|remove`: the state's role table.

use std::process::ExitCode;

use stackdock_runtime::model::{AuditEntry, AuditOutcome};
use stackdock_runtime::rbac::{Access, Area};

use crate::cli::PrincipalCommand;
use crate::error::{CliError, CliResult};
use crate::home::PrincipalEntry;
use crate::output::{Table, Ui};
use crate::state::{State, Target};

const AREAS: [Area; 3] = [Area::Provisioning, Area::Docks, Area::Audit];

pub(crate) async fn run(ui: &Ui, state: &State, command: PrincipalCommand) -> CliResult<ExitCode> {
    match command {
        PrincipalCommand::Add { name, role, org } => add(ui, state, &name, &role, org).await,
        PrincipalCommand::List => list(ui, state).await,
        PrincipalCommand::Remove { name } => remove(ui, state, &name).await,
    }
}

/// Changing who may do what needs full access to every area.
async fn authorize_admin(state: &State, name: &str, operation: &str) -> CliResult<()> {
    for area in AREAS {
        state
            .authorize_own(
                Target::Resource(&format!("principal:{name}")),
                operation,
                area,
                Access::Full,
            )
            .await?;
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
}

async fn add(
    ui: &Ui,
    state: &State,
    name: &str,
    role: &str,
    org: Option<String>,
) -> CliResult<ExitCode> {
    authorize_admin(state, name, "principal_add").await?;
    if !valid_name(name) {
        return Err(CliError::usage(format!(
            "invalid principal name {name:?} (letters, digits, `_ - . @`)"
        )));
    }
    let _lock = state.home.lock()?;
    let mut config = state.home.load()?;
    if !config.roles.contains_key(role) {
        let known: Vec<&str> = config.roles.keys().map(String::as_str).collect();
        return Err(CliError::usage(format!(
            "no role {role:?} (known: {})",
            known.join(", ")
        )));
    }
    let org = org.unwrap_or_else(|| config.org.clone());
    config.principals.insert(
        name.to_owned(),
        PrincipalEntry {
            org: org.clone(),
            role: role.to_owned(),
        },
    );
    state.home.write_config(&config)?;
    audit(state, name, "principal_add", Some(role)).await?;
    if ui.json() {
        ui.print_json(&serde_json::json!({ "principal": name, "role": role, "org": org }))?;
    } else {
        ui.result(&format!(
            "principal {name} (org {org}) has role {role}; act as it with --as {name}"
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(ui: &Ui, state: &State) -> CliResult<ExitCode> {
    state
        .authorize_own(Target::State, "list_principals", Area::Audit, Access::Read)
        .await?;
    let config = &state.config;
    if ui.json() {
        ui.print_json(
            &serde_json::json!({ "principals": config.principals, "roles": config.roles }),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&["principal", "org", "role", "provisioning", "docks", "audit"]);
    for (name, entry) in &config.principals {
        let role = config.roles.get(&entry.role);
        let access = |area| {
            role.and_then(|r| r.get(&area))
                .copied()
                .unwrap_or(Access::None)
                .to_string()
        };
        table.row(vec![
            name.clone(),
            entry.org.clone(),
            entry.role.clone(),
            access(Area::Provisioning),
            access(Area::Docks),
            access(Area::Audit),
        ]);
    }
    table.print()?;
    Ok(ExitCode::SUCCESS)
}

async fn remove(ui: &Ui, state: &State, name: &str) -> CliResult<ExitCode> {
    authorize_admin(state, name, "principal_remove").await?;
    if name == state.principal.id {
        return Err(CliError::failed("a principal cannot remove itself")
            .hint("act as another principal with full access (--as NAME)"));
    }
    let _lock = state.home.lock()?;
    let mut config = state.home.load()?;
    if config.principals.remove(name).is_none() {
        return Err(CliError::failed(format!("no principal {name:?}")));
    }
    state.home.write_config(&config)?;
    audit(state, name, "principal_remove", None).await?;
    if ui.json() {
        ui.print_json(&serde_json::json!({ "removed": name }))?;
    } else {
        ui.result(&format!("principal {name} removed"))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn audit(state: &State, name: &str, operation: &str, role: Option<&str>) -> CliResult<()> {
    let mut entry = AuditEntry::new(&state.principal.id, operation, AuditOutcome::Succeeded);
    entry.org = Some(state.principal.org.clone());
    entry.resource = Some(format!("principal:{name}"));
    entry.message = role.map(|r| format!("role {r}"));
    state.audit.record(entry).await?;
    Ok(())
}
