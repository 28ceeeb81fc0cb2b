//! Vercel-specific inputs and outputs of [`VercelClient`](crate::VercelClient)
//! that have no universal StackDock resource (env vars, deployment sources,
//! wait and inventory options).

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use stackdock_core::provisioning::ProvisioningState;
use stackdock_core::resource::{Deployment, Domain, WebService};
use stackdock_core::secret::{SecretString, REDACTED};
use stackdock_core::ResourceStatus;

/// A deployment's `readyState`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReadyState {
    /// Waiting for a build slot.
    Queued,
    /// Building.
    Building,
    /// Built, being rolled out.
    Initializing,
    /// Serving.
    Ready,
    /// The build failed.
    Error,
    /// Cancelled before it finished.
    Canceled,
    /// Refused by Vercel (e.g. the commit author is not a team member).
    Blocked,
    /// Removed.
    Deleted,
    /// A state this crate does not know.
    Other(String),
}

impl ReadyState {
    /// Parse Vercel's upper-case state name.
    pub fn parse(s: &str) -> Self {
        match s {
            "QUEUED" => ReadyState::Queued,
            "BUILDING" => ReadyState::Building,
            "INITIALIZING" => ReadyState::Initializing,
            "READY" => ReadyState::Ready,
            "ERROR" => ReadyState::Error,
            "CANCELED" => ReadyState::Canceled,
            "BLOCKED" => ReadyState::Blocked,
            "DELETED" => ReadyState::Deleted,
            other => ReadyState::Other(other.to_owned()),
        }
    }

    /// Vercel's name for the state.
    pub fn as_str(&self) -> &str {
        match self {
            ReadyState::Queued => "QUEUED",
            ReadyState::Building => "BUILDING",
            ReadyState::Initializing => "INITIALIZING",
            ReadyState::Ready => "READY",
            ReadyState::Error => "ERROR",
            ReadyState::Canceled => "CANCELED",
            ReadyState::Blocked => "BLOCKED",
            ReadyState::Deleted => "DELETED",
            ReadyState::Other(s) => s,
        }
    }

    /// The one mapping table onto StackDock's universal status and provisioning state.
    ///
    /// | readyState | status | provisioning |
    /// |---|---|---|
    /// | QUEUED, BUILDING, INITIALIZING | Provisioning | Provisioning |
    /// | READY | Active | Provisioned |
    /// | ERROR, CANCELED, BLOCKED | Error | Failed |
    /// | DELETED | Deleted | Deprovisioned |
    /// | anything else | Unknown | Pending |
    pub fn universal(&self) -> (ResourceStatus, ProvisioningState) {
        match self {
            ReadyState::Queued | ReadyState::Building | ReadyState::Initializing => (
                ResourceStatus::Provisioning,
                ProvisioningState::Provisioning,
            ),
            ReadyState::Ready => (ResourceStatus::Active, ProvisioningState::Provisioned),
            ReadyState::Error | ReadyState::Canceled | ReadyState::Blocked => {
                (ResourceStatus::Error, ProvisioningState::Failed)
            }
            ReadyState::Deleted => (ResourceStatus::Deleted, ProvisioningState::Deprovisioned),
            ReadyState::Other(_) => (ResourceStatus::Unknown, ProvisioningState::Pending),
        }
    }

    /// Whether nothing more will happen to the deployment.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            ReadyState::Ready
                | ReadyState::Error
                | ReadyState::Canceled
                | ReadyState::Blocked
                | ReadyState::Deleted
        )
    }
}

/// Where a deployment goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeploymentTarget {
    /// A preview deployment (Vercel's default).
    #[default]
    Preview,
    /// Production.
    Production,
}

impl DeploymentTarget {
    /// `preview` or `production`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentTarget::Preview => "preview",
            DeploymentTarget::Production => "production",
        }
    }
}

/// What to deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentSource {
    /// A branch or tag of the project's connected repository, optionally pinned to a commit.
    Git {
        /// Branch or tag; the production branch when `None`.
        git_ref: Option<String>,
        /// Exact commit.
        sha: Option<String>,
    },
    /// Rebuild an existing deployment.
    Redeploy {
        /// Id of the deployment to redeploy.
        deployment_id: String,
    },
}

/// A deployment to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeployment {
    /// Project id or name.
    pub project: String,
    /// Preview or production.
    pub target: DeploymentTarget,
    /// Git source or redeploy.
    pub source: DeploymentSource,
}

/// Filters of [`VercelClient::list_deployments`](crate::VercelClient::list_deployments).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentQuery {
    /// Only this project's deployments.
    pub project_id: Option<String>,
    /// Only deployments in these states (empty = all).
    pub states: Vec<ReadyState>,
    /// Only this target.
    pub target: Option<DeploymentTarget>,
}

/// How [`VercelClient::wait_until_ready`](crate::VercelClient::wait_until_ready) polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitOptions {
    /// Give up (with `ErrorKind::Timeout`) after this long.
    pub timeout: Duration,
    /// First pause between polls; doubles up to `max_interval`.
    pub initial_interval: Duration,
    /// Longest pause between polls.
    pub max_interval: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(15 * 60),
            initial_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(20),
        }
    }
}

/// Git host of a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GitProvider {
    /// github.com
    #[default]
    GitHub,
    /// gitlab.com
    GitLab,
    /// bitbucket.org
    Bitbucket,
}

impl GitProvider {
    /// Vercel's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            GitProvider::GitHub => "github",
            GitProvider::GitLab => "gitlab",
            GitProvider::Bitbucket => "bitbucket",
        }
    }

    /// Parse Vercel's name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "github" => Some(GitProvider::GitHub),
            "gitlab" => Some(GitProvider::GitLab),
            "bitbucket" => Some(GitProvider::Bitbucket),
            _ => None,
        }
    }
}

/// A project to create. Build the common case from a
/// [`WebServiceSpec`](stackdock_core::spec::WebServiceSpec) through the adapter,
/// or fill this in to also pass initial environment variables.
#[derive(Debug, Clone, Default)]
pub struct NewProject {
    /// Project name (lower case, digits, `.`, `_`, `-`; at most 100 bytes).
    pub name: String,
    /// Framework preset, e.g. `nextjs`.
    pub framework: Option<String>,
    /// Repository to connect, `owner/name`.
    pub repository: Option<String>,
    /// Host of `repository`.
    pub git_provider: GitProvider,
    /// Build command override.
    pub build_command: Option<String>,
    /// Dev command override.
    pub dev_command: Option<String>,
    /// Install command override.
    pub install_command: Option<String>,
    /// Output directory override.
    pub output_directory: Option<String>,
    /// Root directory inside the repository.
    pub root_directory: Option<String>,
    /// Node.js version, e.g. `22.x` (set right after create; rolled back on failure).
    pub node_version: Option<String>,
    /// Default region of the project's functions, e.g. `fra1` (sent as
    /// `resourceConfig.functionDefaultRegions`).
    pub region: Option<String>,
    /// Environment variables to create with the project.
    pub environment_variables: Vec<NewEnvVar>,
}

/// Changes to a project; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectUpdate {
    /// New name.
    pub name: Option<String>,
    /// Framework preset.
    pub framework: Option<String>,
    /// Build command.
    pub build_command: Option<String>,
    /// Dev command.
    pub dev_command: Option<String>,
    /// Install command.
    pub install_command: Option<String>,
    /// Output directory.
    pub output_directory: Option<String>,
    /// Root directory.
    pub root_directory: Option<String>,
    /// Node.js version.
    pub node_version: Option<String>,
    /// Default region of the project's functions (sent as
    /// `resourceConfig.functionDefaultRegions: [region]`, which replaces the
    /// project's list of regions).
    pub region: Option<String>,
}

/// A domain to attach to a project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewProjectDomain {
    /// The domain.
    pub name: String,
    /// Redirect to this domain instead of serving.
    pub redirect: Option<String>,
    /// 301, 302, 307 or 308 (with `redirect`).
    pub redirect_status_code: Option<u16>,
    /// Serve this git branch's latest preview on the domain.
    pub git_branch: Option<String>,
}

/// How an env var's value is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum EnvType {
    /// Readable by anyone on the team.
    Plain,
    /// Encrypted at rest, readable back.
    Encrypted,
    /// Never readable back.
    Sensitive,
    /// Provided by Vercel (`VERCEL_URL` ...).
    System,
    /// Legacy secret reference (responses only).
    Secret,
    /// A type this crate does not know.
    Other(String),
}

impl EnvType {
    /// Vercel's name.
    pub fn as_str(&self) -> &str {
        match self {
            EnvType::Plain => "plain",
            EnvType::Encrypted => "encrypted",
            EnvType::Sensitive => "sensitive",
            EnvType::System => "system",
            EnvType::Secret => "secret",
            EnvType::Other(s) => s,
        }
    }

    /// Parse Vercel's name.
    pub fn parse(s: &str) -> Self {
        match s {
            "plain" => EnvType::Plain,
            "encrypted" => EnvType::Encrypted,
            "sensitive" => EnvType::Sensitive,
            "system" => EnvType::System,
            "secret" => EnvType::Secret,
            other => EnvType::Other(other.to_owned()),
        }
    }
}

/// Which deployments see an env var.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvTarget {
    /// Production deployments.
    Production,
    /// Preview deployments (optionally one git branch).
    Preview,
    /// `vercel dev` / `vercel env pull`.
    Development,
}

impl EnvTarget {
    /// Vercel's name.
    pub fn as_str(self) -> &'static str {
        match self {
            EnvTarget::Production => "production",
            EnvTarget::Preview => "preview",
            EnvTarget::Development => "development",
        }
    }

    /// Parse Vercel's name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "production" => Some(EnvTarget::Production),
            "preview" => Some(EnvTarget::Preview),
            "development" => Some(EnvTarget::Development),
            _ => None,
        }
    }
}

/// An environment variable to create. The value is a secret: it is sent to
/// Vercel and nowhere else (not in `Debug`, logs or errors).
#[derive(Clone)]
pub struct NewEnvVar {
    /// Name, e.g. `DATABASE_URL`.
    pub key: String,
    /// Value.
    pub value: SecretString,
    /// Storage type (plain, encrypted, sensitive).
    pub kind: EnvType,
    /// Targets (at least one).
    pub targets: Vec<EnvTarget>,
    /// Only this git branch (preview target only).
    pub git_branch: Option<String>,
    /// Free-text comment.
    pub comment: Option<String>,
}

impl NewEnvVar {
    /// An encrypted variable for the given targets.
    pub fn new(key: impl Into<String>, value: impl Into<String>, targets: &[EnvTarget]) -> Self {
        NewEnvVar {
            key: key.into(),
            value: SecretString::from(value.into()),
            kind: EnvType::Encrypted,
            targets: targets.to_vec(),
            git_branch: None,
            comment: None,
        }
    }

    /// Set the storage type.
    pub fn kind(mut self, kind: EnvType) -> Self {
        self.kind = kind;
        self
    }

    /// Restrict to a git branch (preview only).
    pub fn git_branch(mut self, branch: impl Into<String>) -> Self {
        self.git_branch = Some(branch.into());
        self
    }
}

impl fmt::Debug for NewEnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewEnvVar")
            .field("key", &self.key)
            .field("value", &REDACTED)
            .field("kind", &self.kind)
            .field("targets", &self.targets)
            .field("git_branch", &self.git_branch)
            .field("comment", &self.comment)
            .finish()
    }
}

/// An environment variable as Vercel reports it.
#[derive(Clone)]
pub struct EnvVar {
    /// Vercel's id.
    pub id: String,
    /// Name.
    pub key: String,
    /// Value as returned (plain text for `plain`, ciphertext or absent
    /// otherwise). Never printed, never in `provider_data`.
    pub value: Option<SecretString>,
    /// Storage type.
    pub kind: EnvType,
    /// Targets.
    pub targets: Vec<EnvTarget>,
    /// Git branch, for branch-specific preview variables.
    pub git_branch: Option<String>,
    /// Comment.
    pub comment: Option<String>,
    /// Creation time.
    pub created_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: Option<DateTime<Utc>>,
    /// The raw payload without `value` / `decrypted` and other secret fields.
    pub provider_data: serde_json::Value,
}

impl fmt::Debug for EnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvVar")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("value", &self.value.as_ref().map(|_| REDACTED))
            .field("kind", &self.kind)
            .field("targets", &self.targets)
            .field("git_branch", &self.git_branch)
            .field("comment", &self.comment)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("provider_data", &self.provider_data)
            .finish()
    }
}

/// Options of [`VercelClient::inventory`](crate::VercelClient::inventory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InventoryOptions {
    /// Most per-project domain listings in flight at once (they overlap
    /// with paging through the projects). Also bounded by the client's
    /// `max_concurrency`.
    pub concurrency: usize,
    /// Fetch each project's domains (one extra listing per project).
    pub domains: bool,
}

impl Default for InventoryOptions {
    fn default() -> Self {
        InventoryOptions {
            concurrency: 16,
            domains: true,
        }
    }
}

/// Everything [`VercelClient::inventory`](crate::VercelClient::inventory) found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// Every project (their `provider_data` leaves out `latestDeployments`,
    /// which are in [`Inventory::deployments`]).
    pub projects: Vec<WebService>,
    /// The latest deployments Vercel reports with each project.
    pub deployments: Vec<Deployment>,
    /// Every project's domains.
    pub domains: Vec<Domain>,
    /// HTTP requests made.
    pub requests: usize,
    /// Requests that had to wait for the one before them (pages of the
    /// projects listing, plus the longest per-project domain listing
    /// after the last project page): the critical path.
    pub sequential_round_trips: usize,
}

impl Inventory {
    /// Resources found.
    pub fn len(&self) -> usize {
        self.projects.len() + self.deployments.len() + self.domains.len()
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
