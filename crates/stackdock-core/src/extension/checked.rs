//! The extension traits behind the [`CheckedLayer`](crate::layer::CheckedLayer):
//! validation before any call and error context, as for CRUD.

use async_trait::async_trait;

use super::types::{system_username, validate_env_batch, validate_password};
use super::*;
use crate::layer::Checked;
use crate::resource::ResourceKind;
use crate::validate::resource_name;
use crate::{DockAdapter, Error};

impl Checked {
    /// Adds the dock, provider, endpoint and the caller's operation, unless
    /// an inner `Checked` already did.
    fn extension_context(&self, op: &'static str) -> impl Fn(Error) -> Error + '_ {
        move |e: Error| {
            if e.context().iter().any(|(k, _)| *k == "dock") {
                return e;
            }
            let e = e
                .in_operation(op)
                .with_context("dock", self.dock_id())
                .with_context("provider", self.provider().id.clone());
            match self.endpoint() {
                Some(endpoint) => e.with_context("endpoint", endpoint),
                None => e,
            }
        }
    }

    fn unsupported_extension(&self, op: &'static str) -> Error {
        Error::unsupported(op, self.provider().id.clone())
    }
}

/// The target must be of `kind` and have a sane id.
fn target(field: &str, id: &ResourceId, kind: ResourceKind) -> Result<()> {
    if id.kind != kind {
        return Err(Error::invalid_input(
            field,
            format!("must be a {kind}, not a {}", id.kind),
        ));
    }
    resource_name(field, &id.id, 253)
}

/// Runs `call` on the inner adapter's extension after `check`, with context.
macro_rules! checked_call {
    ($self:ident, $op:literal, $accessor:ident, $check:expr, |$ext:ident| $call:expr) => {{
        let context = $self.extension_context($op);
        let $ext = $self
            .inner()
            .$accessor()
            .ok_or_else(|| $self.unsupported_extension($op))
            .map_err(&context)?;
        let checked: Result<()> = $check;
        checked.map_err(&context)?;
        $call.await.map_err(context)
    }};
}

#[async_trait]
impl Backups for Checked {
    async fn list_backups(&self, site: &ResourceId) -> Result<Vec<Backup>> {
        checked_call!(
            self,
            "list backups",
            backups,
            target("site", site, ResourceKind::WebService),
            |inner| inner.list_backups(site)
        )
    }

    async fn create_backup(&self, site: &ResourceId, request: &NewBackup) -> Result<()> {
        checked_call!(
            self,
            "create backup",
            backups,
            target("site", site, ResourceKind::WebService).and_then(|()| request.validate()),
            |inner| inner.create_backup(site, request)
        )
    }

    async fn restore_backup(&self, site: &ResourceId, backup: &BackupRef) -> Result<()> {
        checked_call!(
            self,
            "restore backup",
            backups,
            target("site", site, ResourceKind::WebService).and_then(|()| backup.validate()),
            |inner| inner.restore_backup(site, backup)
        )
    }

    async fn delete_backup(&self, site: &ResourceId, backup: &BackupRef) -> Result<()> {
        checked_call!(
            self,
            "delete backup",
            backups,
            target("site", site, ResourceKind::WebService).and_then(|()| backup.validate()),
            |inner| inner.delete_backup(site, backup)
        )
    }

    async fn backup_schedules(&self, site: &ResourceId) -> Result<Vec<BackupSchedule>> {
        checked_call!(
            self,
            "list backup schedules",
            backups,
            target("site", site, ResourceKind::WebService),
            |inner| inner.backup_schedules(site)
        )
    }

    async fn set_backup_schedule(
        &self,
        site: &ResourceId,
        schedule: &BackupSchedule,
    ) -> Result<()> {
        checked_call!(
            self,
            "set backup schedule",
            backups,
            target("site", site, ResourceKind::WebService).and_then(|()| schedule.validate()),
            |inner| inner.set_backup_schedule(site, schedule)
        )
    }
}

#[async_trait]
impl EnvVars for Checked {
    async fn list_env_vars(&self, service: &ResourceId) -> Result<Vec<EnvVar>> {
        checked_call!(
            self,
            "list env vars",
            env_vars,
            target("service", service, ResourceKind::WebService),
            |inner| inner.list_env_vars(service)
        )
    }

    async fn set_env_vars(&self, service: &ResourceId, vars: &[EnvVarSpec]) -> Result<Vec<EnvVar>> {
        checked_call!(
            self,
            "set env vars",
            env_vars,
            target("service", service, ResourceKind::WebService)
                .and_then(|()| validate_env_batch(vars)),
            |inner| inner.set_env_vars(service, vars)
        )
    }

    async fn delete_env_var(&self, service: &ResourceId, key: &str) -> Result<()> {
        checked_call!(
            self,
            "delete env var",
            env_vars,
            target("service", service, ResourceKind::WebService)
                .and_then(|()| super::types::env_key("key", key)),
            |inner| inner.delete_env_var(service, key)
        )
    }
}

#[async_trait]
impl PasswordRotation for Checked {
    async fn rotate_password(
        &self,
        id: &ResourceId,
        password: Option<SecretString>,
    ) -> Result<RotatedPassword> {
        // A rotation is an update of the resource: the same capability gate.
        let gate = || {
            if self
                .capabilities()
                .supports(id.kind, crate::Operation::Update)
            {
                resource_name("id", &id.id, 253)
            } else {
                Err(self.unsupported_extension("rotate password"))
            }
        };
        checked_call!(
            self,
            "rotate password",
            password_rotation,
            gate().and_then(|()| password.as_ref().map_or(Ok(()), validate_password)),
            |inner| inner.rotate_password(id, password)
        )
    }
}

#[async_trait]
impl SystemUsers for Checked {
    async fn list_system_users(&self, server: &ResourceId) -> Result<Vec<SystemUser>> {
        checked_call!(
            self,
            "list system users",
            system_users,
            target("server", server, ResourceKind::Server),
            |inner| inner.list_system_users(server)
        )
    }

    async fn create_system_user(
        &self,
        server: &ResourceId,
        user: &NewSystemUser,
    ) -> Result<SystemUser> {
        checked_call!(
            self,
            "create system user",
            system_users,
            target("server", server, ResourceKind::Server).and_then(|()| user.validate()),
            |inner| inner.create_system_user(server, user)
        )
    }

    async fn set_system_user_password(
        &self,
        server: &ResourceId,
        username: &str,
        password: SecretString,
    ) -> Result<()> {
        checked_call!(
            self,
            "set system user password",
            system_users,
            target("server", server, ResourceKind::Server)
                .and_then(|()| system_username("username", username))
                .and_then(|()| validate_password(&password)),
            |inner| inner.set_system_user_password(server, username, password)
        )
    }

    async fn delete_system_user(&self, server: &ResourceId, username: &str) -> Result<()> {
        checked_call!(
            self,
            "delete system user",
            system_users,
            target("server", server, ResourceKind::Server)
                .and_then(|()| system_username("username", username)),
            |inner| inner.delete_system_user(server, username)
        )
    }
}
