//! `stackdock init`: the state directory, its store, vault key and roles.

use std::os::unix::fs::PermissionsExt;
use std::process::ExitCode;

use stackdock_runtime::audit::{AuditSink, StoreAudit};
use stackdock_runtime::model::{AuditEntry, AuditOutcome};
use stackdock_runtime::store::STATE_FILE;

use crate::cli::InitArgs;
use crate::error::{io_error, CliError, CliResult};
use crate::home::{Config, CONFIG_FILE, KEY_FILE, LOCAL_OPERATOR};
use crate::output::Ui;
use crate::state::{open_store, Location, StoreAt};

/// Create (or find already made) the state in `home`.
pub(crate) async fn run(ui: &Ui, location: &Location, args: &InitArgs) -> CliResult<ExitCode> {
    let home = &location.home;
    if !args
        .org
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        || args.org.is_empty()
    {
        return Err(CliError::usage(format!(
            "invalid organisation {:?} (letters, digits, `_` and `-`)",
            args.org
        )));
    }
    if home.exists() {
        home.keys()?; // an existing state must still be usable
        open_store(location).await?; // and its store reachable (migrated)
        return done(ui, location, false);
    }
    std::fs::create_dir_all(&home.dir).map_err(|e| io_error("cannot create", &home.dir, &e))?;
    std::fs::set_permissions(&home.dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| io_error("cannot restrict", &home.dir, &e))?;
    let _lock = home.lock()?;
    if !home.key_path().exists() {
        home.create_key_file()?;
    }
    let store = open_store(location).await?;
    // The configuration last: its presence is what "initialised" means.
    home.write_config(&Config::initial(&args.org))?;
    let mut entry = AuditEntry::new(LOCAL_OPERATOR, "init", AuditOutcome::Succeeded);
    entry.org = Some(args.org.clone());
    StoreAudit::new(store).record(entry).await?;
    done(ui, location, true)
}

fn done(ui: &Ui, location: &Location, created: bool) -> CliResult<ExitCode> {
    let home = &location.home;
    let store = match &location.store {
        StoreAt::Sqlite => STATE_FILE.to_owned(),
        StoreAt::Postgres { schema, .. } => format!("PostgreSQL schema {schema}"),
    };
    if ui.json() {
        ui.print_json(&serde_json::json!({
            "state": home.dir,
            "created": created,
            "store": store,
            "config": home.config_path(),
            "vault_key": home.key_path(),
            "operator": LOCAL_OPERATOR,
        }))?;
    } else if created {
        ui.result(&format!(
            "initialised {}: store {store}, configuration {CONFIG_FILE}, vault key {KEY_FILE} (mode 0600; back it up, it is never in the store); acting as `{LOCAL_OPERATOR}`",
            home.dir.display()
        ))?;
        ui.say("next: stackdock dock add NAME --provider ... (see `stackdock dock add --help`)")?;
    } else {
        ui.say(&format!(
            "{} is already initialised; nothing changed",
            home.dir.display()
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
