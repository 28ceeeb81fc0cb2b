//! `stackdock audit [--scope S] [--actor A] [--since T]`.

use std::process::ExitCode;

use chrono::{DateTime, Duration, Utc};
use stackdock_runtime::model::{AuditEntry, AuditQuery};
use stackdock_runtime::rbac::{Access, Area};

use crate::cli::AuditArgs;
use crate::error::{CliError, CliResult};
use crate::output::{or_dash, when, Table, Ui};
use crate::state::{State, Target, DOCK_VAULT_ORG};

pub(crate) async fn run(ui: &Ui, state: &State, args: &AuditArgs) -> CliResult<ExitCode> {
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let entries: Vec<AuditEntry> = match &args.scope {
        Some(scope) => {
            let runtime = state.runtime([]).await?;
            runtime
                .session(state.principal.clone())
                .audit(scope)
                .await?
        }
        None => {
            state
                .authorize_own(Target::State, "read_audit", Area::Audit, Access::Read)
                .await?;
            let org = state.principal.org.clone();
            state
                .store
                .list_audit(&AuditQuery::default())
                .await?
                .into_iter()
                // The principal's org only, plus the state's own entries (dock
                // syncs carry no org; dock credentials are sealed under their own).
                .filter(|e| {
                    e.org
                        .as_deref()
                        .is_none_or(|o| o == org || o.is_empty() || o == DOCK_VAULT_ORG)
                })
                .collect()
        }
    };
    let entries: Vec<AuditEntry> = entries
        .into_iter()
        .filter(|e| args.actor.as_ref().is_none_or(|a| &e.actor == a))
        .filter(|e| since.is_none_or(|t| e.at >= t))
        .collect();
    if ui.json() {
        ui.print_json(&serde_json::json!({ "audit": entries }))?;
    } else if entries.is_empty() {
        ui.result("no audit entries")?;
    } else {
        table(ui, &entries).print()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Audit entries as a table.
pub(crate) fn table(ui: &Ui, entries: &[AuditEntry]) -> Table {
    let mut table = Table::new(&[
        "seq",
        "at",
        "actor",
        "scope",
        "dock",
        "resource",
        "operation",
        "outcome",
        "reason",
    ]);
    for e in entries {
        table.row(vec![
            e.seq.to_string(),
            when(e.at),
            e.actor.clone(),
            or_dash(e.scope.as_ref()),
            or_dash(e.dock.as_ref()),
            or_dash(e.resource.as_ref()),
            e.operation.clone(),
            ui.paint(e.outcome.as_str()),
            or_dash(e.reason.as_ref()),
        ]);
    }
    table
}

/// RFC 3339, or a duration back from now (`30s`, `15m`, `2h`, `7d`).
fn parse_since(text: &str) -> CliResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let bad = || {
        CliError::usage(format!(
            "--since {text:?}: expected an RFC 3339 time or a duration like 30s, 15m, 2h, 7d"
        ))
    };
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| bad())?;
    let back = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(Utc::now() - back)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_and_durations() {
        let t = parse_since("2026-12-06T10:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-06T10:00:00+00:00");
        let an_hour_ago = parse_since("1h").unwrap();
        assert!(Utc::now() - an_hour_ago >= Duration::minutes(59));
        assert!(parse_since("1w").is_err());
        assert!(parse_since("yesterday").is_err());
    }
}
