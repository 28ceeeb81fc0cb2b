//! `stackdock dock add|list|check|remove`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde_json::{Map, Value};
use stackdock_core::factory::{CredentialRef, Credentials, DockConfig};
use stackdock_core::secret::SecretString;
use stackdock_runtime::model::{AuditEntry, AuditOutcome};
use stackdock_runtime::rbac::{Access, Area};
use stackdock_runtime::vault::CredentialVault;
use zeroize::Zeroizing;

use crate::cli::{DockAddArgs, DockCommand};
use crate::error::{CliError, CliResult};
use crate::output::{or_dash, when, Table, Ui};
use crate::state::{factories, State, Target, DOCK_VAULT_ORG};

/// Whether a setting of `provider` named `key` is a credential (those go
/// through `--secret`, into the vault). A mail dock's `url` carries its
/// database password; a PowerDNS `url` is only an address.
fn is_credential(provider: &str, key: &str) -> bool {
    matches!(key, "password" | "token" | "api_key" | "secret")
        || (provider == "postfix-dovecot" && key == "url")
}

pub(crate) async fn run(ui: &Ui, state: &State, command: DockCommand) -> CliResult<ExitCode> {
    match command {
        DockCommand::Add(args) => add(ui, state, &args).await,
        DockCommand::List => list(ui, state).await,
        DockCommand::Check { name } => check(ui, state, &name).await,
        DockCommand::Remove { name } => remove(ui, state, &name).await,
    }
}

async fn add(ui: &Ui, state: &State, args: &DockAddArgs) -> CliResult<ExitCode> {
    state
        .authorize_own(
            Target::Dock(&args.name),
            "dock_add",
            Area::Docks,
            Access::Full,
        )
        .await?;
    let provider = args.provider.id();
    let mut dock = DockConfig::new(&args.name, provider);
    dock.settings = parse_settings(&args.settings, provider)?;
    let secrets = read_secrets(&args.name, &args.secrets)?;
    // Build it once with the values (no I/O) so a bad setting is refused
    // before anything is sealed or written.
    let values = secrets.iter().map(|(k, v)| (k.clone(), v.clone()));
    factories()
        .build(&dock, &Credentials::from_values(&args.name, values))
        .map_err(|e| CliError::from(e).hint("fix the --set / --secret values"))?;
    if args.migrate {
        migrate(&dock, &secrets).await?;
    }
    dock.credentials = secrets
        .keys()
        .map(|k| (k.clone(), CredentialRef::Vault(k.clone())))
        .collect();
    let _lock = state.home.lock()?;
    let mut config = state.home.load()?;
    let existing = config.docks.iter().position(|d| d.id == args.name);
    if existing.is_some() && !args.replace {
        return Err(
            CliError::failed(format!("dock {} already exists", args.name))
                .hint("pass --replace to change it"),
        );
    }
    if let Some(i) = existing {
        drop_stale_secrets(state, &config.docks[i], &secrets).await?;
    }
    for (key, value) in &secrets {
        state
            .vault
            .seal(DOCK_VAULT_ORG, &args.name, key, value)
            .await?;
    }
    match existing {
        Some(i) => config.docks[i] = dock.clone(),
        None => config.docks.push(dock.clone()),
    }
    state.home.write_config(&config)?;
    audit(state, &args.name, "dock_add", AuditOutcome::Succeeded).await?;
    if ui.json() {
        ui.print_json(&dock)?;
    } else {
        let sealed: Vec<&str> = secrets.keys().map(String::as_str).collect();
        ui.result(&format!(
            "dock {} ({provider}) {}; credentials sealed in the vault: {}",
            args.name,
            if existing.is_some() {
                "replaced"
            } else {
                "added"
            },
            if sealed.is_empty() {
                "none".into()
            } else {
                sealed.join(", ")
            }
        ))?;
        ui.say(&format!(
            "check it with: stackdock dock check {}",
            args.name
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A replaced dock keeps only the credentials it is given now: when the old
/// configuration sealed a key the new one does not have (a token swapped for
/// a key pair, say), every old ciphertext of the dock is deleted before the
/// new ones are sealed, so a leaked credential replaced with `--replace` is
/// not kept, even encrypted. Keys the new set also has are simply resealed.
/// If sealing then fails, the same command run again finishes the job.
async fn drop_stale_secrets(
    state: &State,
    old: &DockConfig,
    new: &BTreeMap<String, SecretString>,
) -> CliResult<()> {
    let stale = old
        .credentials
        .values()
        .any(|source| matches!(source, CredentialRef::Vault(name) if !new.contains_key(name)));
    if stale {
        state
            .call_context()
            .scope(state.vault.delete_dock(DOCK_VAULT_ORG, &old.id))
            .await?;
    }
    Ok(())
}

/// Create or upgrade a postfix-dovecot dock's schema (idempotent).
async fn migrate(dock: &DockConfig, secrets: &BTreeMap<String, SecretString>) -> CliResult<()> {
    if dock.provider != stackdock_email::sql::PROVIDER_ID {
        return Err(CliError::usage(format!(
            "--migrate: a {} dock has no schema to migrate",
            dock.provider
        )));
    }
    let mut config: stackdock_email::SqlConfig = dock.settings_as()?;
    config.url = secrets
        .get("url")
        .cloned()
        .ok_or_else(|| CliError::usage("--migrate needs --secret url=..."))?;
    let store = stackdock_email::MailStore::connect(&config).await?;
    store.migrate().await?;
    Ok(())
}

/// `KEY=VALUE` settings as a JSON object: dotted keys nest, a VALUE that
/// parses as JSON is that JSON, otherwise text. Credentials are refused.
fn parse_settings(pairs: &[String], provider: &str) -> CliResult<Value> {
    let mut root = Map::new();
    for pair in pairs {
        let (key, raw) = pair
            .split_once('=')
            .ok_or_else(|| CliError::usage(format!("--set {pair:?}: expected KEY=VALUE")))?;
        let path: Vec<&str> = key.split('.').collect();
        if path.iter().any(|p| p.is_empty()) {
            return Err(CliError::usage(format!("--set: bad key {key:?}")));
        }
        if path.iter().any(|p| is_credential(provider, p)) {
            let last = path[path.len() - 1];
            return Err(CliError::usage(format!(
                "--set {key}: a {provider} dock's {last} is a credential"
            ))
            .hint(format!(
                "pass it as --secret {last}=env:VAR | file:PATH | prompt"
            )));
        }
        let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
        insert_path(&mut root, &path, value)?;
    }
    Ok(if root.is_empty() {
        Value::Null
    } else {
        Value::Object(root)
    })
}

fn insert_path(map: &mut Map<String, Value>, path: &[&str], value: Value) -> CliResult<()> {
    let (first, rest) = path.split_first().expect("a key has a part");
    if rest.is_empty() {
        map.insert((*first).to_owned(), value);
        return Ok(());
    }
    let child = map
        .entry((*first).to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    match child {
        Value::Object(inner) => insert_path(inner, rest, value),
        _ => Err(CliError::usage(format!(
            "--set: {first} is both a value and a table"
        ))),
    }
}

/// Read every `KEY=env:VAR|file:PATH|prompt` now; the values only ever go
/// to the vault.
fn read_secrets(dock: &str, pairs: &[String]) -> CliResult<BTreeMap<String, SecretString>> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        let (key, source) = pair.split_once('=').ok_or_else(|| {
            CliError::usage(format!(
                "--secret {:?}: expected KEY=SOURCE",
                pair.split('=').next().unwrap_or("")
            ))
        })?;
        if key.is_empty() || key.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(CliError::usage("--secret: bad key"));
        }
        let value = read_secret(dock, key, source)?;
        if out.insert(key.to_owned(), value).is_some() {
            return Err(CliError::usage(format!("--secret {key} given twice")));
        }
    }
    Ok(out)
}

fn read_secret(dock: &str, key: &str, source: &str) -> CliResult<SecretString> {
    let text = if source == "prompt" {
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return Err(
                CliError::usage(format!("--secret {key}=prompt needs a terminal"))
                    .hint(format!("use --secret {key}=env:VAR or {key}=file:PATH")),
            );
        }
        Zeroizing::new(
            rpassword::prompt_password(format!("{key} for dock {dock}: "))
                .map_err(|e| CliError::failed(format!("cannot read {key}: {}", e.kind())))?,
        )
    } else {
        let reference: CredentialRef = source.parse().map_err(|_| {
            CliError::usage(format!(
                "--secret {key}: expected env:VAR, file:PATH or prompt (a secret is never given inline)"
            ))
        })?;
        match reference {
            CredentialRef::Env(var) => Zeroizing::new(std::env::var(&var).map_err(|_| {
                CliError::usage(format!(
                    "--secret {key}: environment variable {var} is not set"
                ))
            })?),
            CredentialRef::File(path) => {
                let mut text = Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| {
                    CliError::usage(format!(
                        "--secret {key}: cannot read {}: {}",
                        path.display(),
                        e.kind()
                    ))
                })?);
                while text.ends_with('\n') || text.ends_with('\r') {
                    text.pop();
                }
                text
            }
            CredentialRef::Vault(_) => {
                return Err(CliError::usage(format!(
                    "--secret {key}: expected env:VAR, file:PATH or prompt"
                )))
            }
        }
    };
    if text.is_empty() {
        return Err(CliError::usage(format!(
            "--secret {key}: the value is empty"
        )));
    }
    Ok(SecretString::from(text.to_string()))
}

async fn list(ui: &Ui, state: &State) -> CliResult<ExitCode> {
    state
        .authorize_own(Target::State, "list_docks", Area::Docks, Access::Read)
        .await?;
    let syncs = state.store.dock_syncs().await?;
    if ui.json() {
        ui.print_json(&serde_json::json!({ "docks": state.config.docks, "syncs": syncs }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        "dock",
        "provider",
        "settings",
        "credentials",
        "last sync",
        "items",
        "rate limit",
    ]);
    for dock in &state.config.docks {
        let sync = syncs.iter().find(|s| s.dock == dock.id);
        let credentials: Vec<String> = dock
            .credentials
            .iter()
            .map(|(k, r)| format!("{k}={r}"))
            .collect();
        table.row(vec![
            dock.id.clone(),
            dock.provider.clone(),
            if dock.settings.is_null() {
                "-".into()
            } else {
                dock.settings.to_string()
            },
            if credentials.is_empty() {
                "-".into()
            } else {
                credentials.join(",")
            },
            or_dash(sync.and_then(|s| s.last_sync_at).map(when)),
            or_dash(sync.map(|s| s.items)),
            or_dash(sync.and_then(|s| s.rate_limit).map(budget)),
        ]);
    }
    if table.is_empty() {
        ui.result("no docks yet: stackdock dock add NAME --provider ...")?;
    } else {
        table.print()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A dock's request budget as its last sync recorded it: `remaining/limit`
/// (`?` for what the provider did not say) and when the window resets.
fn budget(rate: stackdock_core::RateLimit) -> String {
    let count = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    let left = format!("{}/{}", count(rate.remaining), count(rate.limit));
    match rate.reset_at {
        Some(at) => format!("{left} until {}", when(at)),
        None => left,
    }
}

async fn check(ui: &Ui, state: &State, name: &str) -> CliResult<ExitCode> {
    state
        .authorize_own(Target::Dock(name), "check_dock", Area::Docks, Access::Read)
        .await?;
    let registry = state.registry([name]).await?;
    let dock = registry.require(name)?;
    let provider = dock.provider().display_name.clone();
    let endpoint = dock.endpoint();
    state
        .call_context()
        .scope(dock.check_credentials())
        .await
        .map_err(|e| {
            CliError::from(e).hint(format!(
                "fix the dock's address or credentials (`stackdock dock add {name} --replace ...`)"
            ))
        })?;
    if ui.json() {
        ui.print_json(&serde_json::json!({
            "dock": name, "provider": dock.provider().id, "endpoint": endpoint, "credentials": "ok"
        }))?;
    } else {
        ui.result(&format!(
            "dock {name}: {provider} at {}: credentials {}",
            or_dash(endpoint),
            ui.paint("ok")
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn remove(ui: &Ui, state: &State, name: &str) -> CliResult<ExitCode> {
    state
        .authorize_own(Target::Dock(name), "dock_remove", Area::Docks, Access::Full)
        .await?;
    let _lock = state.home.lock()?;
    let mut config = state.home.load()?;
    let Some(index) = config.docks.iter().position(|d| d.id == name) else {
        return Err(CliError::failed(format!("no dock {name:?} is configured"))
            .hint("see `stackdock dock list`"));
    };
    if let Some((scope, step)) = held_on(state, name).await? {
        return Err(CliError::failed(format!(
            "dock {name} still holds step {step} of tenant {scope}"
        ))
        .hint(format!(
            "destroy the tenant first (`stackdock destroy {scope}`)"
        )));
    }
    // Its ciphertexts first: if the configuration cannot be written after,
    // the dock is still listed (without credentials) and removing it again
    // finishes the job; the other order could leave ciphertexts no command
    // reaches.
    let deleted = state
        .call_context()
        .scope(state.vault.delete_dock(DOCK_VAULT_ORG, name))
        .await?;
    config.docks.remove(index);
    state.home.write_config(&config)?;
    audit(state, name, "dock_remove", AuditOutcome::Succeeded).await?;
    if ui.json() {
        ui.print_json(&serde_json::json!({ "removed": name, "secrets_deleted": deleted }))?;
    } else {
        ui.result(&format!(
            "dock {name} removed ({deleted} sealed credential(s) deleted)"
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A live step of any tenant (of any organisation) on `dock`, if one exists.
async fn held_on(state: &State, dock: &str) -> CliResult<Option<(String, String)>> {
    for scope in state.store.list_scopes().await? {
        for step in state.store.list_steps(&scope.scope).await? {
            if step.dock == dock && step.holds_resource() {
                return Ok(Some((scope.scope, step.step)));
            }
        }
    }
    Ok(None)
}

async fn audit(state: &State, dock: &str, operation: &str, outcome: AuditOutcome) -> CliResult<()> {
    let mut entry = AuditEntry::new(&state.principal.id, operation, outcome);
    entry.org = Some(state.principal.org.clone());
    entry.dock = Some(dock.to_owned());
    state.audit.record(entry).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_column_says_what_is_left_and_until_when() {
        let full = stackdock_core::RateLimit {
            limit: Some(60),
            remaining: Some(57),
            reset_at: chrono::DateTime::from_timestamp(1_700_000_060, 0),
        };
        assert_eq!(budget(full), "57/60 until 2023-11-14 22:14:20");
        let partial = stackdock_core::RateLimit {
            remaining: Some(3),
            ..Default::default()
        };
        assert_eq!(budget(partial), "3/?");
    }

    #[test]
    fn settings_nest_on_dots_and_take_json_values() {
        let pdns = parse_settings(&["url=http://127.0.0.1:8081".into()], "powerdns").unwrap();
        assert_eq!(pdns, serde_json::json!({"url": "http://127.0.0.1:8081"}));
        // A mail dock's url carries its database password: a credential.
        assert!(parse_settings(&["url=postgres://u:pw@h/db".into()], "postfix-dovecot").is_err());
        let v = parse_settings(
            &[
                "host=127.0.0.1".into(),
                "adapter.owner=stackdock".into(),
                "port=5433".into(),
            ],
            "postgres",
        )
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"host": "127.0.0.1", "port": 5433, "adapter": {"owner": "stackdock"}})
        );
    }

    #[test]
    fn credentials_in_settings_are_refused_without_echoing_the_value() {
        let e = parse_settings(&["password=hunter2".into()], "postgres").unwrap_err();
        assert!(!e.line().contains("hunter2"), "{}", e.line());
        assert_eq!(e.exit, crate::error::Exit::Usage);
    }
}
