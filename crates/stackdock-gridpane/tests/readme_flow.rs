//! The README example, step by step, against the fake GridPane.

mod common;

use serde_json::json;
use stackdock_core::secret::SecretString;
use stackdock_core::spec::{Common, DomainSpec, WebServiceSpec};
use stackdock_core::{CreateOutcome, DockAdapter, ResourceStatus};
use stackdock_gridpane::{BackupRequest, NewSystemUser};

fn options(v: serde_json::Value) -> Common {
    Common {
        options: serde_json::from_value(v).unwrap(),
        ..Default::default()
    }
}

#[tokio::test]
async fn readme_example_runs_and_cleans_up() {
    let (fake, _server, adapter) = common::start_adapter().await;
    adapter.check_credentials().await.unwrap();
    let server_id: u64 = 29330;
    let sites_before = fake.lock().sites.len();
    let users_before = fake.lock().users.len();

    let site_spec = WebServiceSpec {
        name: "shop.example.com.au".into(),
        server_id: Some(server_id.to_string()),
        runtime: Some("8.3".into()),
        common: options(
            json!({"username": "shop", "pm": "ondemand", "nginx_caching": "redis", "waf": "7G"}),
        ),
        ..Default::default()
    };
    let site = adapter.create(&site_spec.clone().into()).await.unwrap();
    assert_eq!(site.outcome, CreateOutcome::Created);
    assert_eq!(site.status(), ResourceStatus::Active);
    let site_id: u64 = site.id().id.parse().unwrap();
    let again = adapter.create(&site_spec.into()).await.unwrap();
    assert_eq!(
        (again.id(), again.outcome),
        (site.id(), CreateOutcome::Adopted)
    );

    let alias = adapter
        .create(
            &DomainSpec {
                name: "shop.example.org.au".into(),
                service_id: Some(site_id.to_string()),
                ssl: Some(true),
                common: options(json!({"routing": "root"})),
                ..Default::default()
            }
            .into(),
        )
        .await
        .unwrap();
    let seen = adapter.observe(&alias.id(), None).await.unwrap();
    let domain = seen.resource.unwrap().into_domain().unwrap();
    assert_eq!(domain.ssl, Some(true));
    assert_eq!(domain.meta.provider_data["route"], "root");

    let client = adapter.client();
    let user = client
        .create_system_user(&NewSystemUser {
            username: "deploy".into(),
            server_id,
            password: SecretString::from("a-Long-random-passw0rd".to_owned()),
            ssh_public_key: Some(
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyMaterial deploy@ci".into(),
            ),
        })
        .await
        .unwrap();
    client
        .create_backup(site_id, &BackupRequest::local().with_tag("before-launch"))
        .await
        .unwrap();
    let backups = client.available_backups(site_id).await.unwrap();
    assert_eq!(backups.len(), 1);
    assert_eq!(backups[0].tag.as_deref(), Some("before-launch"));

    adapter.delete(&alias.id()).await.unwrap();
    adapter.delete(&site.id()).await.unwrap();
    client.delete_system_user(user.id).await.unwrap();

    let state = fake.lock();
    assert_eq!(state.sites.len(), sites_before);
    assert!(!state
        .domains
        .values()
        .any(|d| d["site_id"] == json!(site_id)));
    // GridPane created the site's own user "shop" from `username`; "deploy" is gone.
    assert_eq!(state.users.len(), users_before + 1);
    assert!(!state.users.values().any(|u| u["username"] == "deploy"));
}
