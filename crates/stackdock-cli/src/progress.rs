//! Per-step progress of a run: indicatif bars when stdout is a terminal,
//! plain lines when it is not, one JSON event per line with `--output json`,
//! nothing with `-q`. Events are a view; the store is the record.

use std::collections::BTreeMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use stackdock_core::ProvisioningState;
use stackdock_runtime::events::{RunEvent, RunEventKind, StepOutcome};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::output::{out_line, Ui};

/// A running renderer; [`Progress::finish`] once the run's runtime is dropped.
pub(crate) struct Progress {
    task: JoinHandle<()>,
}

impl Progress {
    /// Render the events of runs on `scope` (every scope: `None`) from `events`.
    pub(crate) fn start(
        ui: &Ui,
        scope: Option<&str>,
        events: broadcast::Receiver<RunEvent>,
    ) -> Self {
        let mut renderer: Box<dyn Render> = if ui.quiet {
            Box::new(Silent)
        } else if ui.json() {
            Box::new(JsonLines)
        } else if ui.terminal {
            Box::new(Bars::new(*ui))
        } else {
            Box::new(Lines { ui: *ui })
        };
        let scope = scope.map(str::to_owned);
        let task = tokio::spawn(async move {
            let mut events = events;
            loop {
                match events.recv().await {
                    Ok(event) if scope.as_ref().is_none_or(|s| *s == event.scope) => {
                        renderer.event(&event)
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => renderer.lagged(n),
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
            renderer.done();
        });
        Progress { task }
    }

    /// Wait until every event sent was rendered (the sender must be gone).
    pub(crate) async fn finish(self) {
        let _ = self.task.await;
    }
}

trait Render: Send {
    fn event(&mut self, event: &RunEvent);
    fn lagged(&mut self, _missed: u64) {}
    fn done(&mut self) {}
}

struct Silent;

impl Render for Silent {
    fn event(&mut self, _: &RunEvent) {}
}

struct JsonLines;

impl Render for JsonLines {
    fn event(&mut self, event: &RunEvent) {
        if let Ok(line) = serde_json::to_string(event) {
            let _ = out_line(&line);
        }
    }
}

/// How a step ended, in a word or two.
pub(crate) fn outcome_text(outcome: &StepOutcome) -> String {
    match outcome {
        StepOutcome::Created => "created".into(),
        StepOutcome::Adopted => "adopted".into(),
        StepOutcome::Updated => "updated".into(),
        StepOutcome::Unchanged => "unchanged".into(),
        StepOutcome::Deleted => "deleted".into(),
        StepOutcome::RolledBack => "rolled_back".into(),
        StepOutcome::Skipped { reason } => format!("skipped ({reason})"),
        StepOutcome::Failed { code } => format!("failed ({code})"),
        _ => "done".into(),
    }
}

/// The first word of [`outcome_text`], for colouring.
fn outcome_word(outcome: &StepOutcome) -> String {
    outcome_text(outcome)
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// One line per event, for logs and pipes.
struct Lines {
    ui: Ui,
}

impl Lines {
    fn line(&self, event: &RunEvent) -> Option<String> {
        let run = short(event.run_id.as_str());
        Some(match &event.kind {
            RunEventKind::RunStarted { operation } => {
                format!("run {run}: {operation} {} started", event.scope)
            }
            RunEventKind::StepStarted { step, dock } => format!("  {step:<16} on {dock}"),
            RunEventKind::Transition {
                step,
                from,
                to,
                reason,
            } => format!(
                "  {step:<16} {} -> {} ({})",
                from.as_str(),
                self.ui.paint(to.as_str()),
                reason.as_str()
            ),
            RunEventKind::StepFinished { step, outcome } => {
                let text = outcome_text(outcome);
                let word = outcome_word(outcome);
                format!(
                    "  {step:<16} {}{}",
                    self.ui.paint(&word),
                    &text[word.len()..]
                )
            }
            RunEventKind::RollbackStarted => "  rolling back what this run created".into(),
            RunEventKind::Deployment {
                step,
                deployment,
                state,
                url,
                ..
            } => format!(
                "  {step:<16} deployment {deployment} {}{}",
                self.ui.paint(deployment_word(*state)),
                url.as_deref().map(|u| format!(" {u}")).unwrap_or_default()
            ),
            RunEventKind::RunFinished { status } => {
                format!("run {run}: {}", self.ui.paint(status.as_str()))
            }
            _ => return None,
        })
    }
}

impl Render for Lines {
    fn event(&mut self, event: &RunEvent) {
        if let Some(line) = self.line(event) {
            let _ = out_line(&line);
        }
    }

    fn lagged(&mut self, missed: u64) {
        let _ = out_line(&format!(
            "  ({missed} progress events missed; the store has them all)"
        ));
    }
}

/// A spinner per step on a terminal.
struct Bars {
    ui: Ui,
    multi: MultiProgress,
    steps: BTreeMap<String, ProgressBar>,
}

impl Bars {
    fn new(ui: Ui) -> Self {
        Bars {
            ui,
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            steps: BTreeMap::new(),
        }
    }

    fn bar(&mut self, step: &str) -> &ProgressBar {
        let multi = &self.multi;
        self.steps.entry(step.to_owned()).or_insert_with(|| {
            let style =
                ProgressStyle::with_template("{spinner} {prefix:<16} {wide_msg} {elapsed:>4}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner())
                    .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✓");
            let bar = multi.add(ProgressBar::new_spinner().with_style(style));
            bar.set_prefix(step.to_owned());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        })
    }

    fn print(&self, text: &str) {
        let _ = self.multi.println(text);
    }
}

impl Render for Bars {
    fn event(&mut self, event: &RunEvent) {
        let run = short(event.run_id.as_str());
        match &event.kind {
            RunEventKind::RunStarted { operation } => {
                self.print(&format!("run {run}: {operation} {}", event.scope));
            }
            RunEventKind::StepStarted { step, dock } => {
                let msg = format!("on {dock}");
                self.bar(step).set_message(msg);
            }
            RunEventKind::Transition {
                step, to, reason, ..
            } => {
                let msg = format!("{} ({})", to.as_str(), reason.as_str());
                self.bar(step).set_message(msg);
            }
            RunEventKind::StepFinished { step, outcome } => {
                let text = outcome_text(outcome);
                let word = outcome_word(outcome);
                let msg = format!("{}{}", self.ui.paint(&word), &text[word.len()..]);
                self.bar(step).finish_with_message(msg);
            }
            RunEventKind::RollbackStarted => self.print("rolling back what this run created"),
            RunEventKind::Deployment {
                step,
                deployment,
                state,
                url,
                ..
            } => {
                let word = self.ui.paint(deployment_word(*state));
                let msg = format!("deployment {deployment} {word}");
                let bar = self.bar(step);
                match state {
                    ProvisioningState::Provisioning | ProvisioningState::Pending => {
                        bar.set_message(msg)
                    }
                    _ => bar.finish_with_message(match url {
                        Some(url) => format!("{msg} {url}"),
                        None => msg,
                    }),
                }
            }
            RunEventKind::RunFinished { status } => {
                for bar in self.steps.values() {
                    if !bar.is_finished() {
                        bar.finish();
                    }
                }
                self.print(&format!("run {run}: {}", self.ui.paint(status.as_str())));
            }
            _ => {}
        }
    }

    fn done(&mut self) {
        for bar in self.steps.values() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

/// A deployment's state in a word: `building` until the provider says
/// `ready` or `failed`.
fn deployment_word(state: ProvisioningState) -> &'static str {
    match state {
        ProvisioningState::Pending | ProvisioningState::Provisioning => "building",
        ProvisioningState::Provisioned => "ready",
        ProvisioningState::Failed => "failed",
        ProvisioningState::Deprovisioned => "deleted",
        _ => "unknown",
    }
}

/// The first block of a run id, enough to tell runs apart on a screen.
pub(crate) fn short(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}
