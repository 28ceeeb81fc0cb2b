//! Stalwart mailbox password rotation through `Arc<dyn DockAdapter>` from the
//! registry (issue 12 item 20), against the stateful JMAP fake.

mod fake_stalwart;

use std::sync::Arc;

use fake_stalwart::{FakeStalwart, ADMIN_PASSWORD};
use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::spec::{MailboxSpec, ResourceSpec};
use stackdock_core::{
    DockAdapter, DockAdapterExt, DockRegistry, ErrorKind, ResourceId, ResourceKind,
};
use stackdock_email::stalwart::{StalwartAdapter, StalwartConfig};
use stackdock_email::{PasswordHash, PasswordScheme};
use stackdock_http::RetryConfig;

fn dock(uri: &str, id: &str, tenant: Option<&str>) -> Arc<dyn DockAdapter> {
    let mut config = StalwartConfig::new(uri, "admin", ADMIN_PASSWORD)
        .unwrap()
        .with_bcrypt_cost(4);
    config.http = config.http.with_retry(RetryConfig::none());
    if let Some(t) = tenant {
        config = config.with_tenant(t);
    }
    let mut registry = DockRegistry::new();
    registry
        .insert(Arc::new(StalwartAdapter::new(id, config).unwrap()))
        .unwrap();
    registry.require(id).unwrap()
}

fn verifies(fake: &FakeStalwart, account_id: &str, password: &str) -> bool {
    let stored = fake.state().secrets[account_id].clone();
    let name = PasswordScheme::BlfCrypt.dovecot_name();
    PasswordHash::parse_dovecot(&format!("{{{name}}}{stored}"))
        .unwrap()
        .verify(&SecretString::from(password))
        .unwrap()
}

#[tokio::test]
async fn a_stalwart_mailbox_password_rotates_through_the_registry() {
    let fake = FakeStalwart::start().await;
    let ops = dock(&fake.uri(), "mail-acme", Some("acme"));
    let address = "rotate@stalwart.example.com";
    let created = ops
        .create(&ResourceSpec::from(MailboxSpec {
            address: address.into(),
            password: Some(SecretString::from("First-Password-11")),
            ..Default::default()
        }))
        .await
        .unwrap();
    let account_id = created.meta().provider_data["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mailbox = ResourceId::new(ResourceKind::Mailbox, address);
    let rotation = ops.require_password_rotation().unwrap();
    let rotated = rotation
        .rotate_password(&mailbox, Some(SecretString::from("Vault-Chosen-Pass-22")))
        .await
        .unwrap();
    assert_eq!(rotated.user, address);
    assert!(!format!("{rotated:?}").contains("Vault-Chosen"));
    assert!(verifies(&fake, &account_id, "Vault-Chosen-Pass-22"));
    assert!(!verifies(&fake, &account_id, "First-Password-11"));
    let generated = rotation.rotate_password(&mailbox, None).await.unwrap();
    assert!(verifies(
        &fake,
        &account_id,
        generated.password.expose_secret()
    ));
    // Only the hash travelled.
    let bodies = serde_json::to_string(&fake.state().bodies).unwrap();
    assert!(
        !bodies.contains("Vault-Chosen") && !bodies.contains(generated.password.expose_secret())
    );

    // Another tenant's dock cannot see it; bad passwords send nothing.
    let globex = dock(&fake.uri(), "mail-globex", Some("globex"));
    let err = globex
        .require_password_rotation()
        .unwrap()
        .rotate_password(&mailbox, None)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let calls = fake.calls();
    let err = rotation
        .rotate_password(&mailbox, Some(SecretString::from("new\nline-Pass-3")))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("line-Pass"), "{err}");
    assert_eq!(fake.calls(), calls, "nothing was sent");
    assert!(verifies(
        &fake,
        &account_id,
        generated.password.expose_secret()
    ));
}

#[tokio::test]
async fn an_account_stackdock_did_not_make_is_refused_and_unchanged() {
    let fake = FakeStalwart::start().await;
    let ops = dock(&fake.uri(), "mail-ops", None);
    let address = "theirs@stalwart.example.com";
    let created = ops
        .create(&ResourceSpec::from(MailboxSpec {
            address: address.into(),
            password: Some(SecretString::from("Their-Own-Pass-44")),
            ..Default::default()
        }))
        .await
        .unwrap();
    let account_id = created.meta().provider_data["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another tool made it: no StackDock marker on the account.
    fake.state()
        .accounts
        .get_mut(&account_id)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("description");
    let err = ops
        .require_password_rotation()
        .unwrap()
        .rotate_password(&ResourceId::new(ResourceKind::Mailbox, address), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Refused, "{err}");
    assert!(
        verifies(&fake, &account_id, "Their-Own-Pass-44"),
        "unchanged"
    );
}
