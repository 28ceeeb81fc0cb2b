//! What the adapter and client send: every mutating request body is pinned
//! by an insta snapshot (passwords redacted), and the answers are checked.

mod common;

use serde_json::json;
use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::spec::{Common, DomainSpec, ServerSpec, WebServiceSpec};
use stackdock_core::{
    CreateOutcome, DockAdapter, ErrorKind, ResourceId, ResourceKind, ResourceSpec, ResourceStatus,
};
use stackdock_gridpane::{BackupRequest, NewSystemUser, SystemUserUpdate};

fn options(v: serde_json::Value) -> Common {
    Common {
        options: serde_json::from_value(v).unwrap(),
        ..Default::default()
    }
}

macro_rules! snapshot_requests {
    ($name:expr, $requests:expr) => {
        insta::assert_json_snapshot!($name, $requests, {
            "[].body.password" => "[password]",
            "[].body.password_confirmation" => "[password]",
        })
    };
}

#[tokio::test]
async fn bring_your_own_server_returns_the_install_command_as_a_secret() {
    let (fake, _server, adapter) = common::start_adapter().await;
    let spec = ServerSpec {
        name: "byo-web-4".into(),
        region: Some("Falkenstein".into()),
        ipv4: Some("203.0.113.44".into()),
        common: options(json!({"webserver": "openlitespeed"})),
        ..Default::default()
    };
    let created = adapter
        .create(&spec.into())
        .await
        .unwrap()
        .into_resource()
        .into_server()
        .unwrap();
    snapshot_requests!("create_custom_server", fake.take_mutations());

    let command = created
        .install_command
        .as_ref()
        .expect("install command returned");
    assert!(command.expose_secret().contains(common::INSTALL_TOKEN));
    assert!(!format!("{created:?}").contains(common::INSTALL_TOKEN));
    assert!(!serde_json::to_string(&created)
        .unwrap()
        .contains(common::INSTALL_TOKEN));
    let data = created.meta.provider_data.to_string();
    assert!(!data.contains("fake-callback-token") && !data.contains("fake-server-key"));
    // Registered but not installed yet: GridPane is preparing the build.
    assert_eq!(created.meta.status, ResourceStatus::Provisioning);
    assert_eq!(created.progress_percent, Some(0));
    assert_eq!(created.ipv4.as_deref(), Some("203.0.113.44"));
}

#[tokio::test]
async fn provider_built_server_maps_build_progress() {
    let (fake, _server, adapter) = common::start_adapter().await;
    let spec = ServerSpec {
        name: "do-web-9".into(),
        region: Some("nyc1".into()),
        plan: Some("s-2vcpu-4gb".into()),
        common: options(json!({
            "provider": "digitalocean", "integration_id": 12, "database": "percona",
            "enable_auto_backups": true, "blueprint_id": 7
        })),
        ..Default::default()
    };
    let created = adapter
        .create(&spec.clone().into())
        .await
        .unwrap()
        .into_resource()
        .into_server()
        .unwrap();
    snapshot_requests!("create_provider_server", fake.take_mutations());
    assert_eq!(created.meta.status, ResourceStatus::Provisioning);
    assert_eq!(created.progress_percent, Some(45));
    assert_eq!(created.plan.as_deref(), Some("s-2vcpu-4gb"));
    assert!(created.install_command.is_none());
    let data = created.meta.provider_data.to_string();
    assert!(!data.contains("fake-temp-root-pass"));

    // The build finishes: observe reports it provisioned.
    let id = created.meta.reference.id();
    fake.lock()
        .servers
        .get_mut(&id.id.parse().unwrap())
        .unwrap()["status"] = json!("active");
    let seen = adapter.observe(&id, Some(&spec.into())).await.unwrap();
    assert!(seen.up_to_date, "{:?}", seen.diff);
    let server = seen.resource.unwrap().into_server().unwrap();
    assert_eq!(server.meta.status, ResourceStatus::Active);
    assert_eq!(server.progress_percent, Some(100));
}

#[tokio::test]
async fn server_update_sends_one_action_per_put() {
    let (fake, _server, adapter) = common::start_adapter().await;
    let id = ResourceId::new(ResourceKind::Server, "29330");
    let spec = ServerSpec {
        name: "prod-web-2".into(),
        common: options(json!({"server_timezone": "Europe/Berlin"})),
        ..Default::default()
    };
    adapter.update(&id, &spec.clone().into()).await.unwrap();
    // Applying the same spec again changes nothing.
    adapter.update(&id, &spec.into()).await.unwrap();
    snapshot_requests!("update_server", fake.take_mutations());

    let rename = ServerSpec {
        name: "renamed".into(),
        ..Default::default()
    };
    let err = adapter.update(&id, &rename.into()).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidInput { field, .. } if field == "name"));
    assert!(fake.take_mutations().is_empty());
}

#[tokio::test]
async fn site_create_sends_every_option() {
    let (fake, _server, adapter) = common::start_adapter().await;
    let spec = WebServiceSpec {
        name: "Shop.Example.ORG".into(),
        server_id: Some("29328".into()),
        runtime: Some("8.1".into()),
        common: options(json!({
            "system_user_id": 104238, "pm": "static", "nginx_caching": "fastcgi", "waf": "modsec",
            "smtp": 31, "dns_management": "cloudflare_full", "dns_integration_id": 2524, "bundle_id": 4
        })),
        ..Default::default()
    };
    let site = adapter
        .create(&spec.into())
        .await
        .unwrap()
        .into_resource()
        .into_web_service()
        .unwrap();
    snapshot_requests!("create_site", fake.take_mutations());
    assert_eq!(site.meta.name, "shop.example.org");
    assert_eq!(site.runtime.as_deref(), Some("8.1"));
    assert_eq!(site.server_id.as_deref(), Some("29328"));
    assert_eq!(site.framework.as_deref(), Some("wordpress"));
    assert!(!site
        .meta
        .provider_data
        .to_string()
        .contains("fake-app-token"));
}

#[tokio::test]
async fn site_update_applies_settings_in_documented_order() {
    let (fake, _server, adapter) = common::start_adapter().await;
    let id = ResourceId::new(ResourceKind::WebService, "474559");
    let spec = WebServiceSpec {
        name: "blog.example.net".into(),
        server_id: Some("29330".into()),
        runtime: Some("8.3".into()),
        common: options(
            json!({"system_user_id": 104238, "nginx_caching": "fastcgi", "pm": "dynamic"}),
        ),
        ..Default::default()
    };
    let updated = adapter
        .update(&id, &spec.into())
        .await
        .unwrap()
        .into_web_service()
        .unwrap();
    let puts = fake.take_mutations();
    let keys: Vec<String> = puts
        .iter()
        .map(|r| r.body.as_object().unwrap().keys().next().unwrap().clone())
        .collect();
    assert_eq!(
        keys,
        ["php_version", "pm", "nginx_caching", "system_user_id"]
    );
    snapshot_requests!("update_site", puts);
    assert_eq!(updated.runtime.as_deref(), Some("8.3"));
}

#[tokio::test]
async fn site_update_reports_which_settings_were_applied_when_one_fails() {
    let (fake, _server, adapter) = common::start_adapter().await;
    fake.fail_setting("pm");
    let id = ResourceId::new(ResourceKind::WebService, "474559");
    let spec = WebServiceSpec {
        name: "blog.example.net".into(),
        runtime: Some("8.3".into()),
        common: options(json!({"nginx_caching": "fastcgi", "pm": "dynamic"})),
        ..Default::default()
    };
    let err = adapter.update(&id, &spec.into()).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { field, .. } if field == "pm"),
        "{err}"
    );
    let context: Vec<(&str, &str)> = err
        .context()
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    assert!(context.contains(&("applied", "php_version")), "{context:?}");
    assert!(context.contains(&("failed", "pm")));
    assert!(context.contains(&("not_attempted", "nginx_caching")));
    snapshot_requests!("update_site_partial_failure", fake.take_mutations());
    // The applied setting stuck; the rest did not.
    let site = &fake.lock().sites[&474559];
    assert_eq!(site["php_version"], "8.3");
    assert_eq!(site["nginx_caching"], "redis");
}

#[tokio::test]
async fn site_delete_uses_the_safe_form_and_is_idempotent() {
    let (fake, _server, adapter) = common::start_adapter().await;
    let id = ResourceId::new(ResourceKind::WebService, "474559");
    adapter.delete(&id).await.unwrap();
    adapter.delete(&id).await.unwrap();
    snapshot_requests!("delete_site", fake.take_mutations());
}

#[tokio::test]
async fn alias_domain_with_ssl_routing_and_wildcard() {
    let (fake, _server, adapter) = common::start_adapter().await;
    let spec = DomainSpec {
        name: "www.blog.example.net".into(),
        service_id: Some("474559".into()),
        ssl: Some(true),
        common: options(json!({
            "dns_management": "cloudflare_full", "dns_integration_id": 2524,
            "routing": "root", "wildcard": true
        })),
        ..Default::default()
    };
    let domain = adapter
        .create(&spec.clone().into())
        .await
        .unwrap()
        .into_resource()
        .into_domain()
        .unwrap();
    snapshot_requests!("add_alias_domain", fake.take_mutations());
    assert_eq!(domain.ssl, Some(true));
    assert_eq!(domain.service_id.as_deref(), Some("474559"));
    assert!(!domain
        .meta
        .provider_data
        .to_string()
        .contains("fake-dns-token"));
    // Repeating the create adopts the domain and sends nothing.
    let again = adapter.create(&spec.into()).await.unwrap();
    assert_eq!(again.id(), domain.meta.reference.id());
    assert!(fake.take_mutations().is_empty());
}

#[tokio::test]
async fn redirect_domain_and_make_primary() {
    let (fake, _server, adapter) = common::start_adapter().await;
    let redirect = DomainSpec {
        name: "old-blog.example.net".into(),
        service_id: Some("474559".into()),
        redirect: Some("blog.example.net".into()),
        ..Default::default()
    };
    let created = adapter
        .create(&redirect.clone().into())
        .await
        .unwrap()
        .into_resource()
        .into_domain()
        .unwrap();
    assert_eq!(created.redirect.as_deref(), Some("blog.example.net"));
    let wrong_target = DomainSpec {
        name: "older-blog.example.net".into(),
        redirect: Some("elsewhere.example.net".into()),
        ..redirect
    };
    let err = adapter.create(&wrong_target.into()).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidInput { field, .. } if field == "redirect"));

    let id = ResourceId::new(ResourceKind::Domain, "464450");
    let promote = DomainSpec {
        name: "www-shop.example.org".into(),
        service_id: Some("425622".into()),
        ssl: Some(true),
        common: options(
            json!({"primary": true, "dns_management": "cloudflare_challenge", "dns_integration_id": 2524}),
        ),
        ..Default::default()
    };
    let promoted = adapter
        .update(&id, &promote.into())
        .await
        .unwrap()
        .into_domain()
        .unwrap();
    snapshot_requests!("redirect_and_primary_domains", fake.take_mutations());
    assert_eq!(promoted.meta.provider_data["type"], "primary");
    adapter.delete(&created.meta.reference.id()).await.unwrap();
    adapter.delete(&created.meta.reference.id()).await.unwrap();
    snapshot_requests!("delete_domain", fake.take_mutations());
}

#[tokio::test]
async fn system_users_keep_passwords_secret() {
    let (fake, _server, adapter) = common::start_adapter().await;
    let client = adapter.client();
    let password = SecretString::from("Tr1cky-Passw0rd!".to_owned());
    let new = NewSystemUser {
        username: "deploy".into(),
        server_id: 29330,
        password: password.clone(),
        ssh_public_key: Some(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests deploy@ci".into(),
        ),
    };
    let user = client.create_system_user(&new).await.unwrap();
    assert_eq!(user.username, "deploy");
    assert_eq!(
        user.password.as_ref().unwrap().expose_secret(),
        "Tr1cky-Passw0rd!"
    );
    assert!(!format!("{user:?}").contains("Tr1cky"));
    assert!(!user.provider_data.to_string().contains("Tr1cky"));
    // Creating it again returns the same user instead of failing on the duplicate.
    assert_eq!(client.create_system_user(&new).await.unwrap().id, user.id);

    let update = SystemUserUpdate {
        password: Some(SecretString::from("An0ther-Passw0rd".to_owned())),
        ssh_public_key: None,
    };
    client.update_system_user(user.id, &update).await.unwrap();
    let key_only = SystemUserUpdate {
        password: None,
        ssh_public_key: Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISecondKey deploy@laptop".into()),
    };
    client.update_system_user(user.id, &key_only).await.unwrap();
    let fetched = client.get_system_user(user.id).await.unwrap();
    assert_eq!(
        fetched.password.as_ref().unwrap().expose_secret(),
        "An0ther-Passw0rd"
    );
    assert!(fetched.ssh_access);
    client.delete_system_user(user.id).await.unwrap();
    client.delete_system_user(user.id).await.unwrap();
    let requests = fake.take_mutations();
    let raw = serde_json::to_string(&requests).unwrap();
    assert!(raw.contains("Tr1cky"), "the fake saw the real password");
    snapshot_requests!("system_users", requests);

    let listed = client.list_system_users().await.unwrap();
    assert!(listed
        .iter()
        .all(|u| !u.provider_data.to_string().contains("fixture-plaintext-pw")));
    assert!(listed.iter().any(|u| u.password.is_some()));
}

#[tokio::test]
async fn backups_local_remote_available_and_schedules() {
    let (fake, _server, client) = common::start_client().await;
    client
        .create_backup(474559, &BackupRequest::local().with_tag("pre-deploy"))
        .await
        .unwrap();
    client
        .create_backup(474559, &BackupRequest::remote(7627))
        .await
        .unwrap();
    snapshot_requests!("backups", fake.take_mutations());
    let available = client.available_backups(474559).await.unwrap();
    assert_eq!(available.len(), 2);
    assert!(available
        .iter()
        .any(|b| b.kind.as_deref() == Some("local") && b.tag.as_deref() == Some("pre-deploy")));
    assert!(available
        .iter()
        .any(|b| b.kind.as_deref() == Some("remote")));
    let schedules = client.backup_schedules().await.unwrap();
    assert_eq!(schedules.len(), 2);
    assert_eq!(
        schedules[0].schedules[1].service_name.as_deref(),
        Some("aws-s3")
    );
    let err = client
        .create_backup(474559, &BackupRequest::local().with_tag("auto"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidInput { .. }));
    assert!(fake.take_mutations().is_empty(), "rejected before sending");
}

#[tokio::test]
async fn invalid_specs_send_nothing() {
    let (fake, _server, adapter) = common::start_adapter().await;
    let before = fake.calls();
    let bad = ResourceSpec::from(DomainSpec {
        name: "shop.example.com".into(),
        service_id: Some("425622".into()),
        common: options(json!({"colour": "red"})),
        ..Default::default()
    });
    let err = adapter.create(&bad).await.unwrap_err();
    assert!(err.to_string().contains("options.colour"), "{err}");
    assert_eq!(fake.calls(), before);
}

#[tokio::test]
async fn server_delete_is_idempotent() {
    let (fake, _server, adapter) = common::start_adapter().await;
    let id = ResourceId::new(ResourceKind::Server, "41522");
    adapter.delete(&id).await.unwrap();
    adapter.delete(&id).await.unwrap();
    snapshot_requests!("delete_server", fake.take_mutations());
    assert!(!adapter.observe(&id, None).await.unwrap().exists());
}

#[tokio::test]
async fn adoption_conflicts_when_incompatible() {
    let (fake, _server, adapter) = common::start_adapter().await;
    // The fixture site blog.example.net lives on server 29330.
    let elsewhere = WebServiceSpec {
        name: "blog.example.net".into(),
        server_id: Some("29328".into()),
        common: options(json!({"username": "blog"})),
        ..Default::default()
    };
    let err = adapter.create(&elsewhere.into()).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    assert!(err.to_string().contains("server_id"), "{err}");
    // Same server, same settings as reported: adopted.
    let same = WebServiceSpec {
        name: "blog.example.net".into(),
        server_id: Some("29330".into()),
        runtime: Some("8.0".into()),
        common: options(
            json!({"username": "bloguser", "pm": "ondemand", "nginx_caching": "redis", "waf": "7G"}),
        ),
        ..Default::default()
    };
    let adopted = adapter.create(&same.into()).await.unwrap();
    assert_eq!(adopted.id().id, "474559");
    assert_eq!(adopted.outcome, CreateOutcome::Adopted);
    // Unset options are GridPane's business: the minimal spec adopts too.
    let minimal = WebServiceSpec {
        name: "blog.example.net".into(),
        server_id: Some("29330".into()),
        common: options(json!({"username": "bloguser"})),
        ..Default::default()
    };
    assert_eq!(
        adapter.create(&minimal.into()).await.unwrap().id().id,
        "474559"
    );
    let other_pm = WebServiceSpec {
        name: "blog.example.net".into(),
        server_id: Some("29330".into()),
        common: options(json!({"username": "bloguser", "pm": "static"})),
        ..Default::default()
    };
    let err = adapter.create(&other_pm.into()).await.unwrap_err();
    assert!(err.to_string().contains("options.pm"), "{err}");
    // An existing server (nginx + mariadb) is adopted when the spec does not ask otherwise.
    let existing = ServerSpec {
        name: "prod-web-1".into(),
        region: Some("Ashburn - VA".into()),
        ipv4: Some("192.0.2.34".into()),
        ..Default::default()
    };
    assert_eq!(
        adapter
            .create(&existing.clone().into())
            .await
            .unwrap()
            .id()
            .id,
        "29328"
    );
    let other_db = ServerSpec {
        common: options(json!({"database": "percona"})),
        ..existing
    };
    let err = adapter.create(&other_db.into()).await.unwrap_err();
    assert!(err.to_string().contains("options.database"), "{err}");
    // A server label in use with another address.
    let taken = ServerSpec {
        name: "prod-web-1".into(),
        region: Some("Ashburn - VA".into()),
        ipv4: Some("203.0.113.99".into()),
        ..Default::default()
    };
    let err = adapter.create(&taken.into()).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    // A domain attached to another site is not this spec's to adopt.
    let other_site = DomainSpec {
        name: "www-shop.example.org".into(),
        service_id: Some("474559".into()),
        ..Default::default()
    };
    let err = adapter.create(&other_site.into()).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::AlreadyExists, "{err}");
    assert!(fake.take_mutations().is_empty(), "conflicts change nothing");
}

#[tokio::test]
async fn a_domain_create_interrupted_after_the_add_is_finished_by_repeating_it() {
    let (fake, _server, adapter) = common::start_adapter().await;
    fake.fail_setting("ssl");
    let spec = DomainSpec {
        name: "secure.blog.example.net".into(),
        service_id: Some("474559".into()),
        ssl: Some(true),
        ..Default::default()
    };
    let err = adapter.create(&spec.clone().into()).await.unwrap_err();
    assert!(
        err.context()
            .iter()
            .any(|(k, v)| *k == "failed" && v == "ssl"),
        "{err}"
    );
    fake.lock().fail_settings.clear();
    let finished = adapter.create(&spec.clone().into()).await.unwrap();
    // GridPane keeps no mark of who added a domain: the repeat cannot prove
    // the domain is its own, so it never claims it (a rollback must not
    // delete what it cannot prove it made).
    assert_eq!(finished.outcome, CreateOutcome::Adopted);
    let domain = finished.into_resource().into_domain().unwrap();
    assert_eq!(domain.ssl, Some(true));
    let posts = fake
        .take_mutations()
        .into_iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 1, "the domain was added once");
    let seen = adapter
        .observe(&domain.meta.reference.id(), Some(&spec.into()))
        .await
        .unwrap();
    assert!(seen.up_to_date);
}

#[tokio::test]
async fn a_metadata_or_private_address_is_refused_before_any_request() {
    let (fake, _server, adapter) = common::start_adapter().await;
    for ip in ["169.254.169.254", "10.1.2.3", "127.0.0.1"] {
        let spec = ServerSpec {
            name: "byo-web-5".into(),
            region: Some("Falkenstein".into()),
            ipv4: Some(ip.into()),
            ..Default::default()
        };
        let err = adapter.create(&spec.into()).await.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput { field, .. } if field == "ipv4"),
            "{ip}: {err}"
        );
    }
    assert_eq!(fake.calls(), 0, "nothing was sent");
}
