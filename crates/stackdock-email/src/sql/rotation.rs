//! Mailbox password rotation as the core [`PasswordRotation`] extension:
//! reachable from any `Arc<dyn DockAdapter>` through
//! [`DockAdapter::password_rotation`].
//!
//! The new password is checked against the configured scheme's rules before
//! any SQL, hashed (only the `{SCHEME}` hash is stored, as on create) and
//! set in one statement within the adapter's scope: a tenant dock rotates
//! only its own mailboxes (another tenant's is `NotFound`). Dovecot checks
//! the new password on the next login.
//!
//! ```no_run
//! use std::sync::Arc;
//! use stackdock_core::secret::SecretString;
//! use stackdock_core::{DockAdapter, DockAdapterExt, ResourceId, ResourceKind};
//! # async fn f(dock: Arc<dyn DockAdapter>, from_vault: SecretString) -> stackdock_core::Result<()> {
//! let mailbox = ResourceId::new(ResourceKind::Mailbox, "alice@example.com");
//! let rotated = dock
//!     .require_password_rotation()?
//!     .rotate_password(&mailbox, Some(from_vault))
//!     .await?;
//! assert_eq!(rotated.user, "alice@example.com");
//! # Ok(()) }
//! ```

use rand::distributions::{Alphanumeric, DistString};
use stackdock_core::async_trait;
use stackdock_core::extension::{PasswordRotation, RotatedPassword};
use stackdock_core::secret::SecretString;
use stackdock_core::{DockAdapter, Error, Operation, ResourceId, ResourceKind, Result};

use super::adapter::PostfixDovecotAdapter;
use crate::convert::key_of;
use crate::hash::validate_password;

/// Length of generated passwords (alphanumeric, about 190 bits).
const GENERATED_LEN: usize = 32;

#[async_trait]
impl PasswordRotation for PostfixDovecotAdapter {
    async fn rotate_password(
        &self,
        id: &ResourceId,
        password: Option<SecretString>,
    ) -> Result<RotatedPassword> {
        if id.kind != ResourceKind::Mailbox {
            return Err(self.unsupported(Operation::Update, id.kind));
        }
        let address = key_of(id.kind, &id.id)
            .ok_or_else(|| Error::invalid_input("id", "not a valid address"))?;
        let password = password.unwrap_or_else(|| {
            SecretString::from(Alphanumeric.sample_string(&mut rand::thread_rng(), GENERATED_LEN))
        });
        validate_password(&password, self.store().hasher().scheme())?;
        self.store()
            .change_password(self.scope(), &address, &password)
            .await
            .map_err(|e| e.with_operation("rotate password"))?;
        Ok(RotatedPassword {
            id: id.clone(),
            user: address,
            password,
            connection: None,
        })
    }
}
