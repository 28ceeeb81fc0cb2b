//! Mailbox password rotation through `Arc<dyn DockAdapter>` from the
//! registry (issue 12 item 20), proven by a real Dovecot login against real
//! PostgreSQL.

mod support;

use std::sync::Arc;

use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::spec::{MailboxSpec, ResourceSpec};
use stackdock_core::{
    DockAdapter, DockAdapterExt, DockRegistry, ErrorKind, ResourceId, ResourceKind,
};
use stackdock_email::PostfixDovecotAdapter;
use support::{Dovecot, TestSchema};

async fn registry_dock(dock_id: &str, adapter: PostfixDovecotAdapter) -> Arc<dyn DockAdapter> {
    let mut registry = DockRegistry::new();
    registry.insert(Arc::new(adapter)).unwrap();
    registry.require(dock_id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_mailbox_password_logs_in_through_dovecot() {
    let schema = TestSchema::new();
    let adapter = PostfixDovecotAdapter::connect("mail-main", schema.config())
        .await
        .unwrap();
    let dock = registry_dock("mail-main", adapter).await;
    let dovecot = Dovecot::start(&schema.name);
    let address = "rotate-me@mail.example.com";
    let old = "Old-Correct-Horse-1";
    dock.create(&ResourceSpec::from(MailboxSpec {
        address: address.into(),
        password: Some(SecretString::from(old)),
        ..Default::default()
    }))
    .await
    .unwrap();
    assert!(
        dovecot.auth_async(address, old).await,
        "login before rotation"
    );

    let mailbox = ResourceId::new(ResourceKind::Mailbox, address);
    let rotation = dock.require_password_rotation().unwrap();
    let chosen = SecretString::from("Vault-Chosen-Battery-2");
    let rotated = rotation
        .rotate_password(&mailbox, Some(chosen.clone()))
        .await
        .unwrap();
    assert_eq!(rotated.user, address);
    assert!(!format!("{rotated:?}").contains("Vault-Chosen"));
    assert!(dovecot.auth_async(address, chosen.expose_secret()).await);
    assert!(
        !dovecot.auth_async(address, old).await,
        "old password refused"
    );

    let generated = rotation.rotate_password(&mailbox, None).await.unwrap();
    assert!(generated.password.expose_secret().len() >= 32);
    assert!(
        dovecot
            .auth_async(address, generated.password.expose_secret())
            .await
    );
    assert!(!dovecot.auth_async(address, chosen.expose_secret()).await);
    schema.cleanup().await;
}

#[tokio::test]
async fn bad_rotations_change_nothing() {
    let schema = TestSchema::new();
    let adapter = PostfixDovecotAdapter::connect("mail-main", schema.config())
        .await
        .unwrap();
    let dock = registry_dock("mail-main", adapter).await;
    let address = "keep@mail.example.com";
    dock.create(&ResourceSpec::from(MailboxSpec {
        address: address.into(),
        password: Some(SecretString::from("Keep-This-Password-3")),
        ..Default::default()
    }))
    .await
    .unwrap();
    let before = schema.snapshot().await;
    let rotation = dock.require_password_rotation().unwrap();
    let mailbox = ResourceId::new(ResourceKind::Mailbox, address);
    for bad in ["", "nul\0inside-pw", "line\nbreak-pw"] {
        let err = rotation
            .rotate_password(&mailbox, Some(SecretString::from(bad)))
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput { .. }),
            "{bad:?}: {err}"
        );
        assert!(!err.to_string().contains("-pw"), "{err}");
    }
    let missing = ResourceId::new(ResourceKind::Mailbox, "nobody@mail.example.com");
    let err = rotation.rotate_password(&missing, None).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("dock=mail-main"), "{err}");
    assert_eq!(schema.snapshot().await, before, "nothing changed");
    schema.cleanup().await;
}

#[tokio::test]
async fn a_tenant_dock_cannot_rotate_another_tenants_mailbox() {
    let schema = TestSchema::new();
    let operator = PostfixDovecotAdapter::connect("mail-op", schema.config())
        .await
        .unwrap();
    let operator = registry_dock("mail-op", operator).await;
    operator
        .create(&ResourceSpec::from(MailboxSpec {
            address: "boss@acme.example".into(),
            password: Some(SecretString::from("Acme-Boss-Password-4")),
            common: stackdock_core::spec::Common {
                tenant: Some("acme".into()),
                ..Default::default()
            },
            ..Default::default()
        }))
        .await
        .unwrap();
    let before = schema.snapshot().await;
    let other =
        PostfixDovecotAdapter::connect("mail-globex", schema.config().with_tenant("globex"))
            .await
            .unwrap();
    let other = registry_dock("mail-globex", other).await;
    let err = other
        .require_password_rotation()
        .unwrap()
        .rotate_password(
            &ResourceId::new(ResourceKind::Mailbox, "boss@acme.example"),
            None,
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(schema.snapshot().await, before, "nothing changed");
    schema.cleanup().await;
}
