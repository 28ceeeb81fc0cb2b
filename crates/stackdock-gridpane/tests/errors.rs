//! Error bodies (401 / 404 / 422) and throttling ("Beep, Beep", 429).

mod common;

use std::time::{Duration, Instant, UNIX_EPOCH};

use stackdock_core::{DockAdapter, ErrorKind, ErrorStatus, ResourceId, ResourceKind};
use stackdock_gridpane::{GridPaneAdapter, GridPaneClient, GridPaneConfig, DEFAULT_THROTTLE_WAIT};
use stackdock_http::{ManualClock, RetryConfig};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use common::{FakeGridPane, Throttle};

async fn mock_once(server: &MockServer, verb: &str, p: &str, status: u16, fixture: &str) {
    Mock::given(method(verb))
        .and(path(format!("{}{p}", common::PREFIX)))
        .respond_with(ResponseTemplate::new(status).set_body_json(common::fixture(fixture)))
        .mount(server)
        .await;
}

#[tokio::test]
async fn unauthenticated_token_is_reported_without_the_token() {
    let fake = FakeGridPane::seeded();
    let server = fake.start().await;
    let config = GridPaneConfig::new("wrong-token-value-123")
        .with_base_url(&format!("{}{}", server.uri(), common::PREFIX))
        .unwrap();
    let adapter = GridPaneAdapter::new(config).unwrap();
    let err = adapter.check_credentials().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthenticated);
    assert_eq!(err.message(), Some("Unauthenticated."));
    assert!(!err.to_string().contains("wrong-token-value-123"));
    assert!(!format!("{err:?}").contains("wrong-token-value-123"));
    assert!(!format!("{adapter:?}").contains("wrong-token-value-123"));
    assert_eq!(fake.calls(), 1, "401 is not retried");

    let good = GridPaneAdapter::new(common::config_for(&server)).unwrap();
    good.check_credentials().await.unwrap();
}

#[tokio::test]
async fn fixture_error_bodies_map_to_kinds() {
    let server = MockServer::start().await;
    mock_once(&server, "GET", "/site/999999", 404, "error-404.json").await;
    mock_once(&server, "POST", "/site", 422, "error-422.json").await;
    mock_once(&server, "GET", "/user", 401, "error-401.json").await;
    let client = GridPaneClient::new(common::config_for(&server)).unwrap();

    let err = client.get_site(999_999).await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.operation(), Some("get site"));

    let site = stackdock_gridpane::input::NewSite {
        url: "blog.example.net".into(),
        server_id: 29330,
        php_version: "8.3".into(),
        pm: stackdock_gridpane::input::ProcessManager::Dynamic,
        nginx_caching: stackdock_gridpane::input::Caching::None,
        owner: stackdock_gridpane::input::SiteOwner::Username("blog".into()),
        waf: None,
        smtp: None,
        dns: stackdock_gridpane::input::DnsIntegration::NONE,
        bundle_id: None,
    };
    let err = client.create_site(&site).await.unwrap_err();
    match err.kind() {
        ErrorKind::InvalidInput { field, reason } => {
            assert_eq!(field, "php_version, url");
            assert!(reason.contains("already been taken"), "{reason}");
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    assert!(!err.is_temporary());
    assert_eq!(
        client.current_user().await.unwrap_err().kind(),
        &ErrorKind::Unauthenticated
    );
}

#[tokio::test]
async fn missing_resources_observe_as_absent_and_delete_as_done() {
    let (_fake, _server, adapter) = common::start_adapter().await;
    for kind in [
        ResourceKind::Server,
        ResourceKind::WebService,
        ResourceKind::Domain,
    ] {
        let id = ResourceId::new(kind, "123456789");
        assert!(!adapter.observe(&id, None).await.unwrap().exists());
        adapter.delete(&id).await.unwrap();
    }
    let err = adapter
        .update(
            &ResourceId::new(ResourceKind::Server, "123456789"),
            &stackdock_core::spec::ServerSpec {
                name: "x".into(),
                ..Default::default()
            }
            .into(),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    let err = adapter
        .delete(&ResourceId::new(ResourceKind::Server, "abc"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidInput { .. }));
}

#[tokio::test]
async fn beep_beep_then_success_waits_31_seconds() {
    let fake = FakeGridPane::seeded();
    let server = fake.start().await;
    let config = common::config_for(&server).with_throttle_wait(DEFAULT_THROTTLE_WAIT);
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let client = GridPaneClient::new(config)
        .unwrap()
        .with_clock(clock.clone());
    fake.throttle_next(Throttle::BeepBody, 1);
    let servers = client.list_servers().await.unwrap();
    assert_eq!(servers.len(), 3);
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(31)]);
    assert_eq!(fake.calls(), 2, "the throttled request was repeated once");
}

#[tokio::test]
async fn beep_beep_on_a_put_is_retried_too() {
    let fake = FakeGridPane::seeded();
    let server = fake.start().await;
    let clock = ManualClock::new(UNIX_EPOCH);
    let client =
        GridPaneClient::new(common::config_for(&server).with_throttle_wait(DEFAULT_THROTTLE_WAIT))
            .unwrap()
            .with_clock(clock.clone());
    fake.throttle_next(Throttle::BeepBody, 2);
    client
        .update_site(
            474559,
            &stackdock_gridpane::input::SiteSetting::PhpVersion("8.2".into()),
        )
        .await
        .unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(31); 2]);
    assert_eq!(fake.lock().sites[&474559]["php_version"], "8.2");
}

#[tokio::test]
async fn http_429_honours_retry_after() {
    let fake = FakeGridPane::seeded();
    let server = fake.start().await;
    let clock = ManualClock::new(UNIX_EPOCH);
    let client = GridPaneClient::new(common::config_for(&server))
        .unwrap()
        .with_clock(clock.clone());
    fake.throttle_next(Throttle::TooMany(3), 1);
    client.get_server(29328).await.unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(3)]);
}

#[tokio::test]
async fn throttling_that_never_ends_is_a_persistent_rate_limit() {
    let fake = FakeGridPane::seeded();
    let server = fake.start().await;
    let clock = ManualClock::new(UNIX_EPOCH);
    let retry = RetryConfig {
        max_retries: 2,
        ..RetryConfig::default()
    };
    let client = GridPaneClient::new(common::config_for(&server).with_retry(retry))
        .unwrap()
        .with_clock(clock.clone());
    fake.throttle_next(Throttle::BeepBody, 100);
    let err = client.list_servers().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::RateLimited { .. }), "{err}");
    assert_eq!(err.status(), ErrorStatus::Persistent);
    assert_eq!(fake.calls(), 3);
}

#[tokio::test]
async fn throttle_wait_really_waits_on_the_default_clock() {
    let fake = FakeGridPane::seeded();
    let server = fake.start().await;
    let client = GridPaneClient::new(
        common::config_for(&server).with_throttle_wait(Duration::from_millis(300)),
    )
    .unwrap();
    fake.throttle_next(Throttle::BeepBody, 1);
    let started = Instant::now();
    client.get_site(474559).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn answers_that_say_success_false_are_errors() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path(format!("{}/domain/5", common::PREFIX)))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "success": false, "message": "Staging must be disabled before switching the primary domain."
        })))
        .mount(&server)
        .await;
    let client = GridPaneClient::new(common::config_for(&server)).unwrap();
    let err = client
        .update_domain(5, &stackdock_gridpane::input::DomainSetting::MakePrimary)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("Staging must be disabled"),
        "{err}"
    );
}
