//! One module per command group; [`run`] dispatches.

mod apply;
mod audit;
mod deploy;
mod dock;
mod init;
mod principal;
mod runs;
mod status;
mod sync;
mod vault;
mod worker;

use std::collections::BTreeSet;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, Command, CompletionsArgs};
use crate::error::{CliError, CliResult};
use crate::output::Ui;
use crate::state::{locate, State};

/// Run one parsed command line.
pub(crate) async fn run(cli: Cli, ui: Ui) -> CliResult<ExitCode> {
    let location = locate(&cli.global)?;
    let actor = cli.global.principal.as_str();
    match cli.command {
        Command::Init(args) => init::run(&ui, &location, &args).await,
        Command::Completions(args) => completions(&args),
        command => {
            let state = State::open(&location, actor).await?;
            dispatch(&ui, &state, command).await
        }
    }
}

async fn dispatch(ui: &Ui, state: &State, command: Command) -> CliResult<ExitCode> {
    match command {
        Command::Dock(c) => dock::run(ui, state, c).await,
        Command::Principal(c) => principal::run(ui, state, c).await,
        Command::Plan(a) => apply::plan(ui, state, &a).await,
        Command::Apply(a) => apply::apply(ui, state, &a).await,
        Command::Deploy(a) => deploy::run(ui, state, &a).await,
        Command::Status(a) => status::run(ui, state, &a).await,
        Command::Reconcile(a) => apply::reconcile(ui, state, &a).await,
        Command::Destroy(a) => apply::destroy(ui, state, &a).await,
        Command::Runs(a) => runs::list(ui, state, &a).await,
        Command::Run(c) => runs::run(ui, state, c).await,
        Command::Audit(a) => audit::run(ui, state, &a).await,
        Command::Sync(a) => sync::sync(ui, state, &a).await,
        Command::Inventory(a) => sync::inventory(ui, state, &a).await,
        Command::Vault(c) => vault::run(ui, state, c).await,
        Command::Worker(a) => worker::run(ui, state, &a).await,
        Command::Init(_) | Command::Completions(_) => {
            Err(CliError::failed("internal: dispatched twice"))
        }
    }
}

fn completions(args: &CompletionsArgs) -> CliResult<ExitCode> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "stackdock", &mut out);
    crate::output::out_line(String::from_utf8_lossy(&out).trim_end())?;
    Ok(ExitCode::SUCCESS)
}

/// Every scope the audit log names (every run that changed or was refused
/// something is audited there), destroyed tenants included — the history
/// `runs` lists. Scopes with live steps come from `Store::list_scopes`.
pub(crate) async fn known_scopes(state: &State) -> CliResult<BTreeSet<String>> {
    let entries = state
        .store
        .list_audit(&stackdock_runtime::model::AuditQuery::default())
        .await?;
    Ok(entries.into_iter().filter_map(|e| e.scope).collect())
}
