//! The leak check against an echoing GridPane (and the rate-limit state the
//! client exposes, read from the same kind of fake): the token and system-user
//! passwords never come back out through errors (2xx `"success": false`
//! answers included), `Debug` or TRACE logs, and no answer forges a log line.

use serde_json::json;
use stackdock_core::secret::SecretString;
use stackdock_core::spec::ServerSpec;
use stackdock_core::{DockAdapter, Error};
use stackdock_gridpane::{GridPaneAdapter, GridPaneConfig, NewSystemUser, SystemUserUpdate};
use stackdock_http::RetryConfig;
use stackdock_testkit::leak::{sentinel, LeakCheck, LogCapture};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// Answers with `status` and `{"success": false, "message": <the whole request>}`,
/// plus a forged log line.
struct Echo(u16);

impl Respond for Echo {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let mut dump = format!("{} {}\r\n", req.method, req.url);
        for (name, value) in &req.headers {
            dump.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or("?")));
        }
        dump.push_str(&String::from_utf8_lossy(&req.body));
        dump.push_str("\n2026-01-01T00:00:00Z  INFO forged: all good");
        ResponseTemplate::new(self.0).set_body_json(json!({
            "success": false,
            "message": dump,
            "errors": {"password": [dump]},
        }))
    }
}

async fn echoing_adapter(status: u16, token: &str) -> (MockServer, GridPaneAdapter) {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(Echo(status))
        .mount(&server)
        .await;
    let config = GridPaneConfig::new(token)
        .with_base_url(&format!("{}/oauth/api/v1", server.uri()))
        .unwrap()
        .with_retry(RetryConfig::none());
    let adapter = GridPaneAdapter::new(config).unwrap();
    (server, adapter)
}

fn failures(results: Vec<Result<(), Error>>) -> Vec<Error> {
    results
        .into_iter()
        .map(|r| r.expect_err("the echoing fake fails every call"))
        .collect()
}

async fn system_user_calls(adapter: &GridPaneAdapter, password: &str, rotated: &str) -> Vec<Error> {
    let client = adapter.client();
    let update = SystemUserUpdate {
        password: Some(SecretString::from(rotated.to_owned())),
        ssh_public_key: None,
    };
    let new_user = NewSystemUser {
        username: "leakcheck".into(),
        server_id: 7,
        password: SecretString::from(password.to_owned()),
        ssh_public_key: None,
    };
    let server = ServerSpec {
        name: "byo-leak-1".into(),
        region: Some("Falkenstein".into()),
        ipv4: Some("203.0.113.45".into()),
        ..Default::default()
    };
    failures(vec![
        client.update_system_user(7, &update).await,
        client.create_system_user(&new_user).await.map(drop),
        adapter.create(&server.into()).await.map(drop),
    ])
}

async fn check(status: u16) {
    let token = sentinel("gp-token");
    let (password, rotated) = (sentinel("password"), sentinel("rotated"));
    let logs = LogCapture::start();
    let (_server, adapter) = echoing_adapter(status, &token).await;
    let errors = system_user_calls(&adapter, &password, &rotated).await;
    let mut check = LeakCheck::new().logs(&logs).debug("adapter", &adapter);
    for err in &errors {
        check = check.error(err);
    }
    check.assert_clean(&[&token, &password, &rotated]);
}

#[tokio::test]
async fn success_false_answers_echoing_the_request_leak_nothing() {
    check(200).await;
}

#[tokio::test]
async fn error_answers_echoing_the_request_leak_nothing() {
    check(422).await;
    check(500).await;
}

#[tokio::test]
async fn laravel_rate_limit_headers_are_exposed_per_dock() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-RateLimit-Limit", "60")
                .insert_header("X-RateLimit-Remaining", "57")
                .set_body_json(json!({"id": 1, "name": "agency"})),
        )
        .mount(&server)
        .await;
    let config = GridPaneConfig::new("gp-token")
        .with_base_url(&format!("{}/oauth/api/v1", server.uri()))
        .unwrap();
    let adapter = GridPaneAdapter::new(config).unwrap();
    assert_eq!(adapter.client().rate_limit(), None);
    adapter.client().current_user().await.unwrap();
    let info = adapter.client().rate_limit().expect("headers seen");
    assert_eq!((info.limit, info.remaining), (Some(60), Some(57)));
    // The same numbers through the core trait, behind the registry's layers,
    // where a control plane reads them.
    let dock = stackdock_core::layer::standard(std::sync::Arc::new(adapter));
    let budget = dock.rate_limit().expect("reported through the adapter");
    assert_eq!((budget.limit, budget.remaining), (Some(60), Some(57)));
}
