//! Mailbox password rotation on Stalwart as the core [`PasswordRotation`]
//! extension, reachable from any `Arc<dyn DockAdapter>` through
//! [`DockAdapter::password_rotation`].
//!
//! The password (given, or generated) is checked against the configured
//! scheme's rules before any call and hashed locally; only the hash travels,
//! as one JMAP `x:Account/set` update of `credentials/0/secret` — the same
//! patch an update with a password sends. Only mailboxes this dock made and
//! can see are changed: another tenant's is `NotFound`, an account StackDock
//! did not make is `Refused`.

use rand::distributions::{Alphanumeric, DistString};
use serde_json::json;
use stackdock_core::extension::{PasswordRotation, RotatedPassword};
use stackdock_core::secret::SecretString;
use stackdock_core::{DockAdapter, Error, ErrorKind, Operation, ResourceId, ResourceKind, Result};

use super::{owner_of, required_id, StalwartAdapter};
use crate::convert::key_of;
use crate::hash::validate_password;

/// Length of generated passwords (alphanumeric, about 190 bits).
const GENERATED_LEN: usize = 32;

#[async_trait::async_trait]
impl PasswordRotation for StalwartAdapter {
    async fn rotate_password(
        &self,
        id: &ResourceId,
        password: Option<SecretString>,
    ) -> Result<RotatedPassword> {
        const OP: &str = "rotate password";
        if id.kind != ResourceKind::Mailbox {
            return Err(self.unsupported(Operation::Update, id.kind));
        }
        let address = key_of(id.kind, &id.id)
            .ok_or_else(|| Error::invalid_input("id", "not a valid address"))?;
        let password = password.unwrap_or_else(|| {
            SecretString::from(Alphanumeric.sample_string(&mut rand::thread_rng(), GENERATED_LEN))
        });
        validate_password(&password, self.hasher.scheme())?;
        let hash = self.hash(&password).await?;
        let (account, _) = self
            .account(&address)
            .await?
            .ok_or_else(|| Error::not_found(format!("mailbox {address}")).with_operation(OP))?;
        if owner_of(&account).is_none() {
            return Err(Error::new(ErrorKind::Refused)
                .with_message(format!("mailbox {address} was not made by StackDock"))
                .with_operation(OP));
        }
        let account_id = required_id(&account, "account")?;
        let patch = json!({ "credentials/0/secret": hash.crypt() });
        self.client
            .update_account(&account_id, patch)
            .await
            .map_err(|e| e.with_operation(OP))?;
        Ok(RotatedPassword {
            id: id.clone(),
            user: address,
            password,
            connection: None,
        })
    }
}
