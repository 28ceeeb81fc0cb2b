//! System users through `Arc<dyn DockAdapter>` from the registry (issue 12
//! item 20): create (idempotent), list, set password, delete, against the
//! GridPane fake.

mod common;

use serde_json::json;
use stackdock_core::extension::NewSystemUser;
use stackdock_core::secret::SecretString;
use stackdock_core::{DockAdapterExt, ErrorKind, ResourceId, ResourceKind};

const PASSWORD: &str = "Initial-Secret-Pass-81";

fn server() -> ResourceId {
    ResourceId::new(ResourceKind::Server, "29330")
}

#[tokio::test]
async fn system_users_are_managed_through_the_registry() {
    let (fake, _server, dock) = common::registry_dock().await;
    let users = dock.require_system_users().unwrap();
    let listed = users.list_system_users(&server()).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        vec!["bloguser"],
        "only this server's users"
    );
    assert!(!json!(listed).to_string().contains("password"));

    let new = NewSystemUser::new("acme", PASSWORD);
    let made = users.create_system_user(&server(), &new).await.unwrap();
    let again = users.create_system_user(&server(), &new).await.unwrap();
    assert_eq!(made.id, again.id, "a second create returns the same user");
    assert!(!format!("{made:?}").contains(PASSWORD));
    let posts: Vec<_> = fake
        .take_mutations()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].body["username"], "acme");
    assert_eq!(posts[0].body["server_id"], 29330);

    users
        .set_system_user_password(&server(), "acme", SecretString::from("Rotated-Pass-9876"))
        .await
        .unwrap();
    let puts = fake.take_mutations();
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].method, "PUT");
    assert_eq!(
        puts[0].path,
        format!("{}/system-user/{}", common::PREFIX, made.id)
    );
    assert_eq!(
        puts[0].body,
        json!({"password": "Rotated-Pass-9876", "password_confirmation": "Rotated-Pass-9876"})
    );

    users.delete_system_user(&server(), "acme").await.unwrap();
    users.delete_system_user(&server(), "acme").await.unwrap(); // gone: still Ok
    let deletes = fake.take_mutations();
    assert_eq!(deletes.iter().filter(|r| r.method == "DELETE").count(), 1);
    assert_eq!(users.list_system_users(&server()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn bad_system_user_calls_send_nothing_and_never_echo_passwords() {
    let (fake, _server, dock) = common::registry_dock().await;
    let users = dock.require_system_users().unwrap();
    let before = fake.calls();
    let errors = [
        users
            .create_system_user(&server(), &NewSystemUser::new("root;id", PASSWORD))
            .await
            .unwrap_err(),
        users
            .create_system_user(&server(), &NewSystemUser::new("acme", "short"))
            .await
            .unwrap_err(),
        users
            .set_system_user_password(&server(), "acme", SecretString::from("bad\nSecret-Pass-1"))
            .await
            .unwrap_err(),
        users
            .list_system_users(&ResourceId::new(ResourceKind::Server, "abc"))
            .await
            .unwrap_err(),
    ];
    for err in &errors {
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput { .. }),
            "{err}"
        );
        let text = format!("{err} {err:?}");
        assert!(
            !text.contains("Secret-Pass") && !text.contains(common::TOKEN),
            "{text}"
        );
    }
    assert_eq!(fake.calls(), before, "nothing was sent");
    let err = users
        .set_system_user_password(&server(), "nobody", SecretString::from("Another-Pass-123"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}
