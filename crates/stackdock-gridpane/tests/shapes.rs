//! Single items and lists parse in every shape GridPane has been seen to use.

mod common;

use serde_json::json;
use stackdock_core::{DockAdapter, ResourceId, ResourceKind, ResourceStatus};
use stackdock_gridpane::{GridPaneAdapter, GridPaneClient};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn serve(server: &MockServer, p: &str, body: serde_json::Value) {
    Mock::given(method("GET"))
        .and(path(format!("{}{p}", common::PREFIX)))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

#[tokio::test]
async fn servers_as_keyed_object_or_array() {
    let server = MockServer::start().await;
    serve(
        &server,
        "/server/29328",
        common::fixture("server-keyed.json"),
    )
    .await;
    serve(
        &server,
        "/server/29330",
        common::fixture("server-array.json"),
    )
    .await;
    let client = GridPaneClient::new(common::config_for(&server)).unwrap();
    let keyed = client.get_server(29328).await.unwrap();
    assert_eq!(keyed.label, "prod-web-1");
    assert_eq!(keyed.provider.as_deref(), Some("custom"));
    let array = client.get_server(29330).await.unwrap();
    assert_eq!(array.label, "prod-web-2");
    for s in [keyed, array] {
        let raw = s.provider_data.to_string();
        assert!(!raw.contains("fixture-server-key") && !raw.contains("fixture-callback-token"));
    }
}

#[tokio::test]
async fn sites_as_object_or_one_item_array() {
    let server = MockServer::start().await;
    let single = common::fixture("site.json");
    serve(&server, "/site/474559", single.clone()).await;
    serve(
        &server,
        "/site/474560",
        json!({"data": [single["data"].clone()]}),
    )
    .await;
    let adapter = GridPaneAdapter::new(common::config_for(&server)).unwrap();
    for id in ["474559", "474560"] {
        let seen = adapter
            .observe(&ResourceId::new(ResourceKind::WebService, id), None)
            .await
            .unwrap();
        let site = seen.resource.unwrap().into_web_service().unwrap();
        assert_eq!(site.meta.name, "blog.example.net");
        assert_eq!(site.url.as_deref(), Some("https://blog.example.net"));
        assert_eq!(site.runtime.as_deref(), Some("8.0"));
        assert_eq!(site.server_id.as_deref(), Some("29330"));
        assert_eq!(site.meta.status, ResourceStatus::Active);
        assert!(!site
            .meta
            .provider_data
            .to_string()
            .contains("fixture-application-token"));
    }
    let client = GridPaneClient::new(common::config_for(&server)).unwrap();
    let record = client.get_site(474559).await.unwrap();
    assert_eq!(record.caching(), "redis");
    assert_eq!(record.pm.as_deref(), Some("ondemand"));
}

#[tokio::test]
async fn domains_under_data_domains() {
    let server = MockServer::start().await;
    serve(&server, "/domain", common::fixture("domains.json")).await;
    let client = GridPaneClient::new(common::config_for(&server)).unwrap();
    let domains = client.list_domains().await.unwrap();
    assert_eq!(domains.len(), 4);
    assert_eq!(domains[0].dns_management, "cloudflare_full");
    assert_eq!(domains[3].dns_management, "none_none");
    assert!(domains[0].is_primary());
    for d in &domains {
        let raw = d.provider_data.to_string();
        assert!(!raw.contains("fixture-dns-api-token"), "DNS token leaked");
        assert!(
            !raw.contains("dns-account@example.org"),
            "DNS secret leaked"
        );
    }
}

#[tokio::test]
async fn build_progress_fixtures() {
    let server = MockServer::start().await;
    serve(
        &server,
        "/server/build-progress/1",
        common::fixture("build-progress-preparing.json"),
    )
    .await;
    serve(
        &server,
        "/server/build-progress/2",
        common::fixture("build-progress-complete.json"),
    )
    .await;
    let client = GridPaneClient::new(common::config_for(&server)).unwrap();
    let preparing = client.build_progress(1).await.unwrap();
    assert_eq!(
        preparing.provisioning_state(),
        stackdock_core::ProvisioningState::Provisioning
    );
    assert!(preparing.status_text.unwrap().starts_with("preparing"));
    let done = client.build_progress(2).await.unwrap();
    assert_eq!(
        done.provisioning_state(),
        stackdock_core::ProvisioningState::Provisioned
    );
    assert_eq!(done.percentage, Some(100));
}

#[tokio::test]
async fn custom_server_answer_yields_the_install_command() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{}/server/custom", common::PREFIX)))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(common::fixture("custom-server-created.json")),
        )
        .mount(&server)
        .await;
    let client = GridPaneClient::new(common::config_for(&server)).unwrap();
    let created = client
        .create_custom_server(&stackdock_gridpane::input::NewCustomServer {
            name: "byo-1".into(),
            ip: "203.0.113.9".parse().unwrap(),
            datacenter: "Hetzner FSN1".into(),
            webserver: stackdock_gridpane::input::Webserver::Nginx,
            database: stackdock_gridpane::input::DatabaseEngine::Percona,
        })
        .await
        .unwrap();
    assert_eq!(created.server_id, 1984);
    use stackdock_core::secret::ExposeSecret;
    assert!(created
        .install_command
        .as_ref()
        .unwrap()
        .expose_secret()
        .contains("FIXTURE-INSTALL-TOKEN"));
    assert!(!format!("{created:?}").contains("FIXTURE-INSTALL-TOKEN"));
}

#[tokio::test]
async fn integrations_list_without_credentials() {
    let (_fake, _server, client) = common::start_client().await;
    let integrations = client.user_integrations().await.unwrap();
    assert_eq!(
        integrations.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![12, 2524, 7627]
    );
    assert_eq!(integrations[1].service.as_deref(), Some("cloudflare"));
    let raw = format!("{integrations:?}");
    assert!(!raw.contains("fixture-do-token") && !raw.contains("fixture-s3-secret"));
}
