//! `stackdock worker`: claims queued runs from the store and executes them.

use std::process::ExitCode;
use std::time::Duration;

use stackdock_runtime::rbac::{Access, Area};
use stackdock_runtime::worker::{shutdown_signal, Worker, WorkerOptions};

use crate::cli::WorkerArgs;
use crate::error::{CliError, CliResult};
use crate::output::Ui;
use crate::progress::Progress;
use crate::state::{State, Target};

/// Claim and execute runs until SIGTERM / Ctrl-C; runs still in flight then
/// get the drain time, the rest are released for another worker.
pub(crate) async fn run(ui: &Ui, state: &State, args: &WorkerArgs) -> CliResult<ExitCode> {
    state
        .authorize_own(Target::State, "worker", Area::Provisioning, Access::Full)
        .await?;
    if args.lease < 3 {
        return Err(CliError::usage(
            "--lease: at least 3 seconds (renewed every third)",
        ));
    }
    // Any queued run may need any dock: build them all once.
    let docks: Vec<&str> = state.config.docks.iter().map(|d| d.id.as_str()).collect();
    let runtime = state.runtime(docks).await?;
    let mut options = WorkerOptions::default()
        .with_concurrency(args.concurrency)
        .with_lease(Duration::from_secs(args.lease))
        .with_drain(Duration::from_secs(args.drain));
    if let Some(id) = &args.id {
        options = options.with_id(id.clone());
    }
    ui.say(&format!(
        "worker {} claiming runs ({} at once, lease {} s); stop it with SIGTERM or Ctrl-C",
        options.id, options.concurrency, args.lease
    ))?;
    let progress = Progress::start(ui, None, runtime.subscribe());
    let report = Worker::new(runtime)
        .with_options(options)
        .run_until(shutdown_signal())
        .await;
    progress.finish().await;
    let counts = serde_json::json!({
        "claimed": report.claimed, "resumed": report.resumed, "succeeded": report.succeeded,
        "failed": report.failed, "lost": report.lost, "released": report.released,
        "store_errors": report.store_errors,
    });
    if ui.json() {
        ui.print_json(&serde_json::json!({ "worker": counts }))?;
    } else {
        ui.result(&format!(
            "worker stopped: {} claimed ({} resumed), {} succeeded, {} failed, {} lost, {} released, {} store errors",
            report.claimed, report.resumed, report.succeeded, report.failed, report.lost,
            report.released, report.store_errors
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
