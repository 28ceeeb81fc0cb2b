//! GridPane system users as the core [`SystemUsers`] extension: reachable
//! from any `Arc<dyn DockAdapter>` through
//! [`DockAdapter::system_users`](stackdock_core::DockAdapter::system_users).
//!
//! | core call | GridPane request |
//! |---|---|
//! | `list_system_users(server)` | `GET /system-user` (every page), the server's users |
//! | `create_system_user(server, user)` | the list, then `POST /system-user` unless the name is taken on the server |
//! | `set_system_user_password(server, name, pw)` | the list, then `PUT /system-user/{id}` |
//! | `delete_system_user(server, name)` | the list, then `DELETE /system-user/{id}` if there |
//!
//! GridPane returns system users' passwords in clear; they are moved into
//! secrets and never reach `provider_data`, `Debug` or errors.
//!
//! ```no_run
//! use std::sync::Arc;
//! use stackdock_core::extension::NewSystemUser;
//! use stackdock_core::secret::SecretString;
//! use stackdock_core::{DockAdapter, DockAdapterExt, ResourceId, ResourceKind};
//! # async fn f(dock: Arc<dyn DockAdapter>, from_vault: SecretString) -> stackdock_core::Result<()> {
//! let server = ResourceId::new(ResourceKind::Server, "29330");
//! let users = dock.require_system_users()?;
//! users.create_system_user(&server, &NewSystemUser::new("acme", "Initial-Pass-123")).await?;
//! users.set_system_user_password(&server, "acme", from_vault).await?;
//! # Ok(()) }
//! ```

use stackdock_core::async_trait;
use stackdock_core::extension::{NewSystemUser, SystemUser as CoreSystemUser, SystemUsers};
use stackdock_core::secret::SecretString;
use stackdock_core::{Error, ResourceId, Result};

use crate::adapter::{require_id, GridPane};
use crate::input::{NewSystemUser as GpNewSystemUser, SystemUserUpdate};
use crate::model::SystemUser;

#[async_trait]
impl SystemUsers for GridPane {
    async fn list_system_users(&self, server: &ResourceId) -> Result<Vec<CoreSystemUser>> {
        let server_id = require_id(server)?;
        let users = self.client().list_system_users().await?;
        Ok(users
            .into_iter()
            .filter(|u| u.server_id == Some(server_id))
            .map(core_user)
            .collect())
    }

    async fn create_system_user(
        &self,
        server: &ResourceId,
        user: &NewSystemUser,
    ) -> Result<CoreSystemUser> {
        let new = GpNewSystemUser {
            username: user.username.clone(),
            server_id: require_id(server)?,
            password: user.password.clone(),
            ssh_public_key: user.ssh_public_key.clone(),
        };
        // Idempotent in the client: a user of this name on the server is returned.
        self.client().create_system_user(&new).await.map(core_user)
    }

    async fn set_system_user_password(
        &self,
        server: &ResourceId,
        username: &str,
        password: SecretString,
    ) -> Result<()> {
        let update = SystemUserUpdate {
            password: Some(password),
            ssh_public_key: None,
        };
        update.validate()?;
        let user = self
            .client()
            .find_system_user(username, require_id(server)?)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!("system user {username} on server {}", server.id))
            })?;
        self.client().update_system_user(user.id, &update).await
    }

    async fn delete_system_user(&self, server: &ResourceId, username: &str) -> Result<()> {
        let found = self
            .client()
            .find_system_user(username, require_id(server)?)
            .await?;
        match found {
            Some(user) => self.client().delete_system_user(user.id).await,
            None => Ok(()),
        }
    }
}

fn core_user(user: SystemUser) -> CoreSystemUser {
    CoreSystemUser {
        id: user.id.to_string(),
        username: user.username,
        ssh_access: user.ssh_access,
        provider_data: user.provider_data,
    }
}
