//! Owner password rotation through `Arc<dyn DockAdapter>` from the registry
//! (issue 12 item 20), against the real PostgreSQL server.

mod common;

use std::sync::Arc;

use common::TestEnv;
use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::spec::{DatabaseSpec, ResourceSpec};
use stackdock_core::{
    DockAdapter, DockAdapterExt, DockRegistry, ErrorKind, ResourceId, ResourceKind,
};
use stackdock_postgres::scram;

fn registry_dock(env: &TestEnv) -> Arc<dyn DockAdapter> {
    let mut registry = DockRegistry::new();
    registry.insert(Arc::new(env.new_adapter())).unwrap();
    registry.require("test-dock").unwrap()
}

#[tokio::test]
async fn a_control_plane_rotates_an_owner_password_through_the_registry() {
    let env = TestEnv::new().await;
    let dock = registry_dock(&env);
    let name = env.name("rot");
    let spec = ResourceSpec::from(DatabaseSpec {
        name: name.clone(),
        ..Default::default()
    });
    let created = dock.create(&spec).await.unwrap();
    let id = ResourceId::new(ResourceKind::Database, &name);

    // The control plane generated and stored this password before the call.
    let chosen = SecretString::from("Vault-Stored-Pa55-4f9c2e".to_owned());
    let rotation = dock.require_password_rotation().unwrap();
    let rotated = rotation
        .rotate_password(&id, Some(chosen.clone()))
        .await
        .unwrap();
    assert_eq!(rotated.user, name);
    assert_eq!(rotated.password.expose_secret(), chosen.expose_secret());
    assert!(!format!("{rotated:?}").contains("Vault-Stored"));
    let stored = env.stored_verifier(&name).await;
    assert!(
        stored.starts_with("SCRAM-SHA-256$"),
        "only a verifier is stored"
    );
    assert!(scram::verify_password(&stored, chosen.expose_secret()).unwrap());
    // Rotating to the same password again leaves it set (idempotent).
    rotation
        .rotate_password(&id, Some(chosen.clone()))
        .await
        .unwrap();
    let again = env.stored_verifier(&name).await;
    assert!(scram::verify_password(&again, chosen.expose_secret()).unwrap());
    // Without a password the adapter generates one and hands it back.
    let generated = rotation.rotate_password(&id, None).await.unwrap();
    let now = env.stored_verifier(&name).await;
    assert!(scram::verify_password(&now, generated.password.expose_secret()).unwrap());
    assert!(!scram::verify_password(&now, chosen.expose_secret()).unwrap());

    dock.delete(&created.id()).await.unwrap();
    env.assert_clean().await;
}

#[tokio::test]
async fn bad_rotations_are_refused_before_any_sql_and_never_echo_the_password() {
    let env = TestEnv::new().await;
    let dock = registry_dock(&env);
    let rotation = dock.require_password_rotation().unwrap();
    let id = ResourceId::new(ResourceKind::Database, env.name("nothing"));
    // Empty after SASLprep (PostgreSQL would clear the password), NUL, newline.
    for bad in ["\u{00ad}", "secret\u{0}tail", "line\nbreak-pw"] {
        let err = rotation
            .rotate_password(&id, Some(SecretString::from(bad.to_owned())))
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput { .. }),
            "{bad:?}: {err}"
        );
        assert!(
            !err.to_string().contains("break-pw") && !err.to_string().contains("tail"),
            "{err}"
        );
    }
    // Not a database: this dock cannot update mailboxes.
    let mailbox = ResourceId::new(ResourceKind::Mailbox, "a@example.com");
    let err = rotation.rotate_password(&mailbox, None).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Unsupported { .. }), "{err}");
    // A database that is not there is NotFound, with the dock named.
    let err = rotation.rotate_password(&id, None).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("dock=test-dock"), "{err}");
    env.assert_clean().await;
}

#[tokio::test]
async fn a_database_another_tool_made_is_not_rotated() {
    let env = TestEnv::new().await;
    let dock = registry_dock(&env);
    let name = env.name("foreign");
    for sql in [
        format!("CREATE ROLE \"{name}\" LOGIN PASSWORD 'their-own-pw'"),
        format!("CREATE DATABASE \"{name}\" OWNER \"{name}\""),
    ] {
        env.admin.batch_execute(&sql).await.unwrap();
    }
    let before = env.stored_verifier(&name).await;
    let err = dock
        .require_password_rotation()
        .unwrap()
        .rotate_password(&ResourceId::new(ResourceKind::Database, &name), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Refused, "{err}");
    assert_eq!(env.stored_verifier(&name).await, before, "unchanged");
    for sql in [
        format!("DROP DATABASE \"{name}\""),
        format!("DROP ROLE \"{name}\""),
    ] {
        env.admin.batch_execute(&sql).await.unwrap();
    }
}
