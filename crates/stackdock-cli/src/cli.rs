//! The command line, as clap derive types. The names are the interface.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// A StackDock control plane in one binary: docks, tenants as blueprints,
/// durable runs, reconcile, audit and an encrypted vault.
///
/// Exit codes: 0 ok, 1 failed, 2 usage, 3 busy (another run holds the
/// scope), 4 denied.
#[derive(Debug, Parser)]
#[command(
    name = "stackdock",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// The state: a directory (embedded SQLite store, configuration and
    /// vault key file; default $XDG_STATE_HOME/stackdock), or a
    /// postgres:// URL shared by many replicas (configuration and key file
    /// then in --home).
    #[arg(
        long,
        global = true,
        env = "STACKDOCK_STORE",
        hide_env_values = true,
        value_name = "DIR|URL"
    )]
    pub(crate) store: Option<String>,

    /// With a PostgreSQL store: the schema the state lives in.
    #[arg(
        long,
        global = true,
        env = "STACKDOCK_STORE_SCHEMA",
        value_name = "SCHEMA",
        default_value = "stackdock"
    )]
    pub(crate) store_schema: String,

    /// With a PostgreSQL store: the directory of the configuration and the
    /// vault key file (default $XDG_STATE_HOME/stackdock).
    #[arg(long, global = true, env = "STACKDOCK_HOME", value_name = "DIR")]
    pub(crate) home: Option<std::path::PathBuf>,

    /// Act as this principal (an identity and role from the state's role
    /// table); `init` creates the local operator `operator`.
    #[arg(
        long = "as",
        global = true,
        env = "STACKDOCK_AS",
        value_name = "ACTOR",
        default_value = "operator"
    )]
    pub(crate) principal: String,

    /// How to print results.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    pub(crate) output: Output,

    /// More detail: the cause chain of errors, then logs (-vv debug).
    #[arg(long, short = 'v', global = true, action = ArgAction::Count)]
    pub(crate) verbose: u8,

    /// Print only results and errors, no progress.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,

    /// No colours (also when NO_COLOR is set).
    #[arg(long, global = true)]
    pub(crate) no_color: bool,
}

/// Result format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// Aligned columns for people.
    Table,
    /// JSON for programs (progress as one JSON event per line).
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the state: embedded SQLite store, vault key file (0600), the
    /// built-in roles and the local operator principal.
    Init(InitArgs),
    /// Configure the docks (provider accounts) tenants are provisioned on.
    #[command(subcommand)]
    Dock(DockCommand),
    /// What `apply` of a blueprint would do (no mutating call).
    Plan(PlanArgs),
    /// Provision or update a tenant from a blueprint file.
    Apply(ApplyArgs),
    /// A new deployment of a tenant's web service, followed until it is
    /// ready or failed (no other step of the tenant is touched).
    Deploy(DeployArgs),
    /// A tenant as the store has it (no provider is called unless --refresh).
    Status(StatusArgs),
    /// Observe a tenant's resources and repair drift, from the store alone.
    Reconcile(ReconcileArgs),
    /// Delete everything recorded for a tenant, children first.
    Destroy(DestroyArgs),
    /// Runs, newest first.
    Runs(RunsArgs),
    /// One run.
    #[command(subcommand)]
    Run(RunCommand),
    /// The audit log.
    Audit(AuditArgs),
    /// List docks' resources into the inventory.
    Sync(SyncArgs),
    /// The inventory, as the last sync left it (no provider is called).
    Inventory(InventoryArgs),
    /// The credential vault.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Who may act on this state (principals and their roles).
    #[command(subcommand)]
    Principal(PrincipalCommand),
    /// Claim and execute queued runs (`apply --detach`) until SIGTERM or
    /// Ctrl-C; run one per replica on a shared PostgreSQL store.
    Worker(WorkerArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// Runs executed at once by this worker.
    #[arg(long, default_value_t = 4)]
    pub(crate) concurrency: usize,
    /// Seconds a claim lasts without a heartbeat (renewed every third).
    #[arg(long, default_value_t = 30)]
    pub(crate) lease: u64,
    /// On stop, seconds runs in flight may go on before they are released.
    #[arg(long, default_value_t = 30)]
    pub(crate) drain: u64,
    /// This worker's id in leases (default: host-pid-random).
    #[arg(long)]
    pub(crate) id: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The organisation of the local operator.
    #[arg(long, default_value = "default")]
    pub(crate) org: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DockCommand {
    /// Add a dock; secrets go only into the encrypted vault.
    Add(DockAddArgs),
    /// The configured docks.
    List,
    /// Build a dock and check its credentials with a cheap call.
    Check {
        /// The dock.
        name: String,
    },
    /// Remove a dock and its sealed credentials from the configuration.
    Remove {
        /// The dock.
        name: String,
    },
}

/// The providers a dock can be of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Provider {
    /// PostgreSQL databases and roles.
    Postgres,
    /// PowerDNS zones and records (HTTP API).
    Powerdns,
    /// DNS zones as RFC 1035 zone files in a directory.
    Zonefile,
    /// Postfix/Dovecot mailboxes and forwarders on PostgreSQL.
    PostfixDovecot,
    /// Stalwart mailboxes and forwarders (JMAP).
    Stalwart,
    /// Vercel projects, deployments, domains, DNS, env vars.
    Vercel,
    /// GridPane servers, sites, domains.
    Gridpane,
}

impl Provider {
    /// The provider id its factory is registered under.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Provider::Postgres => "postgres",
            Provider::Powerdns => "powerdns",
            Provider::Zonefile => "zonefile",
            Provider::PostfixDovecot => "postfix-dovecot",
            Provider::Stalwart => "stalwart",
            Provider::Vercel => "vercel",
            Provider::Gridpane => "gridpane",
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct DockAddArgs {
    /// The dock id (letters, digits, `_`, `-`).
    pub(crate) name: String,
    /// Its provider.
    #[arg(long, value_enum)]
    pub(crate) provider: Provider,
    /// A setting, KEY=VALUE (dotted keys nest; VALUE is JSON when it parses
    /// as JSON, text otherwise). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) settings: Vec<String>,
    /// A credential, KEY=env:VAR | KEY=file:PATH | KEY=prompt; the value is
    /// read now and sealed in the vault. Repeatable.
    #[arg(long = "secret", value_name = "KEY=SOURCE")]
    pub(crate) secrets: Vec<String>,
    /// Replace a dock of the same name.
    #[arg(long)]
    pub(crate) replace: bool,
    /// Create or upgrade the dock's schema first (postfix-dovecot: the
    /// virtual domain, user and alias tables Postfix and Dovecot read).
    #[arg(long)]
    pub(crate) migrate: bool,
}

/// What to do when a step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OnFailure {
    /// Delete what this run created (never what it adopted).
    Rollback,
    /// Leave everything for a later apply or reconcile.
    Keep,
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// The blueprint (TOML, or JSON when the name ends in .json).
    #[arg(long = "file", short = 'f', value_name = "FILE")]
    pub(crate) file: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// The blueprint (TOML, or JSON when the name ends in .json).
    #[arg(long = "file", short = 'f', value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// What to do when a step fails.
    #[arg(long, value_enum, default_value_t = OnFailure::Rollback)]
    pub(crate) on_failure: OnFailure,
    /// Wait for the run to finish (the default), following an apply of the
    /// tenant already running if there is one.
    #[arg(long)]
    pub(crate) wait: bool,
    /// Queue the run for a `stackdock worker` and return its id at once.
    #[arg(long, conflicts_with = "wait")]
    pub(crate) detach: bool,
}

/// Where a deployment goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DeployTarget {
    /// The production environment (its domains move to the new build).
    Production,
    /// A preview URL of its own.
    Preview,
}

#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// The tenant (scope).
    pub(crate) tenant: String,
    /// The blueprint step of the web service to deploy.
    pub(crate) service: String,
    /// Build this branch or tag (default: the service's production branch).
    #[arg(long = "ref", value_name = "BRANCH", conflicts_with = "redeploy")]
    pub(crate) git_ref: Option<String>,
    /// Rebuild this existing deployment instead of building from git.
    #[arg(long, value_name = "ID")]
    pub(crate) redeploy: Option<String>,
    /// The environment (default: the provider's; preview on Vercel).
    #[arg(long, value_enum)]
    pub(crate) target: Option<DeployTarget>,
    /// Follow the build until it is ready or failed (the default), or the
    /// deploy of the tenant already running if there is one.
    #[arg(long)]
    pub(crate) wait: bool,
    /// Queue the deploy for a `stackdock worker` and return its run id at once.
    #[arg(long, conflicts_with = "wait")]
    pub(crate) detach: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The tenant (scope).
    pub(crate) tenant: String,
    /// Observe every resource at its provider first (no change is made).
    #[arg(long)]
    pub(crate) refresh: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true))]
pub(crate) struct ReconcileArgs {
    /// The tenant (scope).
    #[arg(group = "which")]
    pub(crate) tenant: Option<String>,
    /// Every tenant with recorded state.
    #[arg(long, group = "which")]
    pub(crate) all: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DestroyArgs {
    /// The tenant (scope).
    pub(crate) tenant: String,
    /// Do not ask for confirmation (required when not on a terminal).
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RunsArgs {
    /// Only runs of this scope (a tenant, or `dock:ID` for syncs).
    #[arg(long)]
    pub(crate) scope: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    pub(crate) limit: usize,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RunCommand {
    /// A run, the steps it touched and its audit entries.
    Show {
        /// The run id.
        id: String,
    },
    /// Ask an active run to stop: in-flight provider calls finish, nothing
    /// new starts, nothing is rolled back; the run ends `cancelled`.
    Cancel {
        /// The run id.
        id: String,
        /// Wait until the run has stopped.
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Only this scope.
    #[arg(long)]
    pub(crate) scope: Option<String>,
    /// Only this actor.
    #[arg(long)]
    pub(crate) actor: Option<String>,
    /// Only entries at or after this time (RFC 3339, or a duration back
    /// from now: 30s, 15m, 2h, 7d).
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// One dock (default: every configured dock).
    pub(crate) dock: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct InventoryArgs {
    /// Only this dock.
    #[arg(long)]
    pub(crate) dock: Option<String>,
    /// Only this kind (database, dns_zone, dns_record, mailbox, ...).
    #[arg(long)]
    pub(crate) kind: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum VaultCommand {
    /// Re-seal every secret with a new master key, then retire the old one.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PrincipalCommand {
    /// Add (or replace) a principal with a role.
    Add {
        /// The principal's id (what `--as` names).
        name: String,
        /// Its role (`operator`: full; `viewer`: read; `auditor`: audit read).
        #[arg(long)]
        role: String,
        /// Its organisation (default: the state's).
        #[arg(long)]
        org: Option<String>,
    },
    /// The principals and their roles.
    List,
    /// Remove a principal.
    Remove {
        /// The principal's id.
        name: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}
