//! Provider operations that are not CRUD, reachable from any dock.
//!
//! Some things a control plane needs are not resources with a
//! create/observe/update/delete life cycle: restoring a site from a backup,
//! changing its backup schedule, setting a project's environment variables,
//! rotating a database owner's or a mailbox's password, managing a server's
//! login users. Each is a small typed **extension trait** here ([`Backups`],
//! [`EnvVars`], [`PasswordRotation`], [`SystemUsers`]), and
//! [`DockAdapter`](crate::DockAdapter) has one accessor per trait
//! (`backups()`, `env_vars()`, `password_rotation()`, `system_users()`)
//! that returns `None` unless the adapter implements it. A control plane that
//! holds only an `Arc<dyn DockAdapter>` from the
//! [`DockRegistry`](crate::DockRegistry) asks the dock, never its concrete
//! type — the way OpenDAL exposes optional capabilities through its operator
//! and `object_store` through extension traits.
//!
//! The accessors are forwarded by every [layer](crate::layer): behind the
//! [`CheckedLayer`](crate::layer::CheckedLayer) each extension call gets the
//! same treatment as CRUD — the target id's kind and the arguments are
//! validated before any remote call (an invalid one is
//! [`InvalidInput`](crate::ErrorKind::InvalidInput) and nothing is sent), and
//! errors carry the dock, provider, operation and endpoint. Secrets
//! (passwords, env values) travel as [`SecretString`]
//! and never appear in `Debug`, errors or logs. The
//! [`RetryLayer`](crate::layer::RetryLayer) forwards extension calls without
//! retrying them: some (taking a backup, restoring one) are not idempotent,
//! and HTTP providers already retry safe requests in their transport.
//!
//! [`DockAdapterExt`](crate::DockAdapterExt) adds `require_backups()`,
//! `require_env_vars()`, `require_password_rotation()` and
//! `require_system_users()`, which turn a
//! missing extension into a typed
//! [`Unsupported`](crate::ErrorKind::Unsupported) error:
//!
//! ```
//! use std::sync::Arc;
//! use stackdock_core::{DockAdapter, DockAdapterExt, ErrorKind, InMemoryAdapter, ResourceId, ResourceKind};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let dock: Arc<dyn DockAdapter> = stackdock_core::layer::standard(Arc::new(InMemoryAdapter::new("demo")));
//! // The in-memory dock has no backups: asking is a typed error, not a panic.
//! assert!(dock.backups().is_none());
//! let err = dock.require_backups().unwrap_err();
//! assert!(matches!(err.kind(), ErrorKind::Unsupported { .. }));
//! // A dock that has them is used through the trait, whatever its type:
//! if let Some(backups) = dock.backups() {
//!     let site = ResourceId::new(ResourceKind::WebService, "474559");
//!     for backup in backups.list_backups(&site).await? {
//!         println!("{} {:?}", backup.backup.name, backup.taken_at);
//!     }
//! }
//! # Ok::<(), stackdock_core::Error>(()) }).unwrap();
//! ```

mod checked;
mod types;

use async_trait::async_trait;

use crate::resource::ResourceId;
use crate::secret::SecretString;
use crate::Result;

pub use types::{
    env_key, system_username, validate_password, Backup, BackupFrequency, BackupRef,
    BackupSchedule, BackupTrigger, EnvVar, EnvVarSpec, NewBackup, NewSystemUser, RotatedPassword,
    SystemUser, MAX_ENV_VALUE_BYTES, MAX_PASSWORD_BYTES,
};

/// Backups of a site or service: list, take, restore, delete, and the
/// schedules that take them automatically.
///
/// The target is the [`WebService`](crate::ResourceKind::WebService) whose
/// data is backed up (a GridPane site). Backups are named by a
/// [`BackupRef`] as [`list_backups`](Backups::list_backups) reports it; pass
/// it back unchanged to restore or delete.
///
/// # Guarantees
/// * Every argument is validated before any remote call.
/// * [`delete_backup`](Backups::delete_backup) of a backup that is already
///   gone succeeds; [`set_backup_schedule`](Backups::set_backup_schedule) is
///   idempotent (setting the same schedule twice changes nothing).
/// * [`create_backup`](Backups::create_backup) and
///   [`restore_backup`](Backups::restore_backup) are **not** idempotent: each
///   call starts one backup or restore on the provider, which runs there
///   asynchronously. They are never retried automatically.
#[async_trait]
pub trait Backups: Send + Sync + std::fmt::Debug {
    /// The backups of `site` that can be restored, newest first when the
    /// provider says when each was taken.
    async fn list_backups(&self, site: &ResourceId) -> Result<Vec<Backup>>;

    /// Start a backup of `site` now. The provider takes it asynchronously; it
    /// appears in [`list_backups`](Backups::list_backups) once done.
    async fn create_backup(&self, site: &ResourceId, request: &NewBackup) -> Result<()>;

    /// Start restoring `site` from `backup` (as listed). This overwrites the
    /// site's current files and database on the provider.
    async fn restore_backup(&self, site: &ResourceId, backup: &BackupRef) -> Result<()>;

    /// Delete (purge) one backup of `site`; `Ok` when it is already gone.
    async fn delete_backup(&self, site: &ResourceId, backup: &BackupRef) -> Result<()>;

    /// The schedules that back `site` up automatically.
    async fn backup_schedules(&self, site: &ResourceId) -> Result<Vec<BackupSchedule>>;

    /// Change one of `site`'s schedules (the one with `schedule.id`) to run
    /// at `schedule.frequency`.
    async fn set_backup_schedule(&self, site: &ResourceId, schedule: &BackupSchedule)
        -> Result<()>;
}

/// Environment variables of a web service (a Vercel project).
///
/// # Guarantees
/// * Every argument is validated before any remote call; values are secrets
///   and never appear in `Debug`, errors or logs.
/// * [`set_env_vars`](EnvVars::set_env_vars) is an upsert: a variable with the
///   same key and environments is overwritten, so repeating the call is safe.
/// * [`delete_env_var`](EnvVars::delete_env_var) removes every variable with
///   the key and succeeds when there is none.
#[async_trait]
pub trait EnvVars: Send + Sync + std::fmt::Debug {
    /// Every variable of `service`. Values are present only where the
    /// provider returns them (never for sensitive variables).
    async fn list_env_vars(&self, service: &ResourceId) -> Result<Vec<EnvVar>>;

    /// Create or overwrite `vars` on `service` in one call; returns them as
    /// the provider stored them.
    async fn set_env_vars(&self, service: &ResourceId, vars: &[EnvVarSpec]) -> Result<Vec<EnvVar>>;

    /// Delete every variable named `key` on `service`.
    async fn delete_env_var(&self, service: &ResourceId, key: &str) -> Result<()>;
}

/// Set a new password on a resource that has one: a database's owner role, a
/// mailbox.
///
/// A control plane generates the password and stores it (e.g. in its vault)
/// *before* the call and passes it in, so a lost reply never loses the
/// password; with `None` the adapter generates one and returns it.
///
/// # Guarantees
/// * The password is validated before any remote call and never appears in
///   `Debug`, errors or logs.
/// * Idempotent: rotating to the same password twice leaves it set.
/// * Only resources this dock owns are changed (a foreign database or mailbox
///   is refused, as for update).
#[async_trait]
pub trait PasswordRotation: Send + Sync + std::fmt::Debug {
    /// Set `password` (or a generated one) on `id`; returns the password now in force.
    async fn rotate_password(
        &self,
        id: &ResourceId,
        password: Option<SecretString>,
    ) -> Result<RotatedPassword>;
}

/// Login (SSH/SFTP) users of a server: a GridPane system user owns sites'
/// files on its server.
///
/// The target is the [`Server`](crate::ResourceKind::Server); users are named
/// by their user name, unique per server.
///
/// # Guarantees
/// * Every argument is validated before any remote call; passwords never
///   appear in `Debug`, errors or logs.
/// * [`create_system_user`](SystemUsers::create_system_user) is idempotent:
///   a user of that name already on the server is returned, not duplicated.
/// * [`delete_system_user`](SystemUsers::delete_system_user) succeeds when
///   the user is already gone; setting the same password twice leaves it set.
#[async_trait]
pub trait SystemUsers: Send + Sync + std::fmt::Debug {
    /// The users of `server`.
    async fn list_system_users(&self, server: &ResourceId) -> Result<Vec<SystemUser>>;

    /// Create `user` on `server` (or return the one already there).
    async fn create_system_user(
        &self,
        server: &ResourceId,
        user: &NewSystemUser,
    ) -> Result<SystemUser>;

    /// Set a new password for `username` on `server`.
    async fn set_system_user_password(
        &self,
        server: &ResourceId,
        username: &str,
        password: SecretString,
    ) -> Result<()>;

    /// Delete `username` from `server`.
    async fn delete_system_user(&self, server: &ResourceId, username: &str) -> Result<()>;
}
