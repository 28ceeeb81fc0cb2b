//! `stackdock`: a StackDock control plane in one binary.
//!
//! Docks (provider accounts) are configured once with their secrets sealed
//! in an AES-256-GCM vault; tenants are blueprints applied as durable,
//! deduplicated runs on the `stackdock-runtime` engine and its embedded
//! SQLite store; status, runs, audit and inventory read the store alone.
//! See the crate README for a walk from `init` to a destroyed tenant.
//!
//! Exit codes: 0 ok, 1 failed, 2 usage, 3 busy (another run holds the
//! scope), 4 denied.

mod cli;
mod cmd;
mod error;
mod home;
mod output;
mod progress;
mod state;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::error::{CliError, Exit};
use crate::output::Ui;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print and succeed; anything else is usage (2).
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.code()
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_tracing(&cli.global);
    let ui = Ui::new(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(&ui, &CliError::failed(format!("cannot start: {e}"))),
    };
    match runtime.block_on(cmd::run(cli, ui)) {
        Ok(code) => code,
        Err(e) => report(&ui, &e),
    }
}

/// Print `e` (one line on stderr, its causes under -v, and a JSON object on
/// stdout with `--output json`) and return its exit code.
fn report(ui: &Ui, e: &CliError) -> ExitCode {
    eprintln!("{}", e.line());
    if ui.verbose > 0 {
        for cause in &e.causes {
            eprintln!("  caused by: {cause}");
        }
    }
    if ui.json() {
        let exit = match e.exit {
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Busy => 3,
            Exit::Denied => 4,
        };
        let _ = ui.print_json(&serde_json::json!({
            "error": { "message": e.message, "hint": e.hint, "exit": exit, "causes": e.causes }
        }));
    }
    e.exit.code()
}

/// Logs on stderr: errors by default (the one-line error says the rest),
/// warnings with -v, info with -vv, debug with -vvv; `RUST_LOG` overrides.
/// The runtime's logs never carry a secret.
fn init_tracing(global: &cli::Global) {
    use std::io::IsTerminal;
    let level = match (global.quiet, global.verbose) {
        (true, _) | (false, 0) => "error",
        (false, 1) => "warn",
        (false, 2) => "info",
        (false, _) => "debug",
    };
    let ansi = std::io::stderr().is_terminal()
        && !global.no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}
