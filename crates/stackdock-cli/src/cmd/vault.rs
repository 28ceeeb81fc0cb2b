//! `stackdock vault rotate`.

use std::process::ExitCode;
use std::sync::Arc;

use stackdock_runtime::model::{AuditEntry, AuditOutcome};
use stackdock_runtime::rbac::{Access, Area};
use stackdock_runtime::vault::{AesGcmVault, CredentialVault};

use crate::cli::VaultCommand;
use crate::error::{CliError, CliResult};
use crate::home::MasterKeySpec;
use crate::output::Ui;
use crate::state::{State, Target};

pub(crate) async fn run(ui: &Ui, state: &State, command: VaultCommand) -> CliResult<ExitCode> {
    match command {
        VaultCommand::Rotate => rotate(ui, state).await,
    }
}

/// A new current key first (old ones still open), every secret re-sealed,
/// then the old keys dropped. A crash in between leaves a key file that
/// opens everything; running rotate again finishes.
async fn rotate(ui: &Ui, state: &State) -> CliResult<ExitCode> {
    state
        .authorize_own(
            Target::Resource("vault:keys"),
            "vault_rotate",
            Area::Docks,
            Access::Full,
        )
        .await?;
    let _lock = state.home.lock()?;
    let mut specs = state.home.key_specs()?;
    let next = specs
        .iter()
        .filter_map(|s| s.id.strip_prefix('k').and_then(|n| n.parse::<u64>().ok()))
        .max()
        .unwrap_or(0)
        + 1;
    let fresh = MasterKeySpec::generate(&format!("k{next}"));
    let new_id = fresh.id.clone();
    specs.insert(0, fresh);
    state.home.write_keys(&specs)?;
    let vault = AesGcmVault::new(state.store.clone(), state.home.keys()?, state.audit.clone());
    let resealed = state
        .call_context()
        .scope(Arc::new(vault).rotate())
        .await
        .map_err(|e| {
            CliError::from(e)
                .hint("the key file keeps the old keys; run `stackdock vault rotate` again")
        })?;
    specs.truncate(1);
    state.home.write_keys(&specs)?;
    let mut entry = AuditEntry::new(&state.principal.id, "vault_rotate", AuditOutcome::Succeeded);
    entry.org = Some(state.principal.org.clone());
    entry.resource = Some(format!("key:{new_id}"));
    entry.message = Some(format!("{resealed} secrets re-sealed"));
    state.audit.record(entry).await?;
    if ui.json() {
        ui.print_json(&serde_json::json!({ "key_id": new_id, "resealed": resealed }))?;
    } else {
        ui.result(&format!(
            "vault key rotated to {new_id}: {resealed} secrets re-sealed; old keys removed from {}",
            state.home.key_path().display()
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
