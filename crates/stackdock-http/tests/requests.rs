//! Request shaping, auth, redaction, error mapping and concurrency against wiremock.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use stackdock_core::{Error, ErrorKind};
use stackdock_http::{status_error, Auth, ErrorMapper, HttpClient, Request, StatusErrorMapper};
use wiremock::matchers::{basic_auth, body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

const TOKEN: &str = "tok-9f8e7d6c5b4a";

async fn ok_when(server: &MockServer, matcher: impl wiremock::Match + 'static) {
    Mock::given(matcher)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn bearer_auth_user_agent_and_default_query_are_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/projects/a%2Fb"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header(
            "user-agent",
            concat!("stackdock/", env!("CARGO_PKG_VERSION")),
        ))
        .and(header("content-type", "application/json"))
        .and(header("x-trace", "yes"))
        .and(query_param("teamId", "team_1"))
        .and(query_param("force", "true"))
        .and(body_json(json!({"name": "web"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "p1"})))
        .expect(1)
        .mount(&server)
        .await;
    let config = stackdock_http::HttpConfig::parse(&format!("{}/api/v1/", server.uri()))
        .unwrap()
        .with_auth(Auth::bearer(TOKEN))
        .with_default_query("teamId", "team_1")
        .with_default_header("x-trace", "yes");
    let (client, _) = client_with(config, StatusErrorMapper);

    let created: Value = client
        .send_json(
            Request::post(format!(
                "/projects/{}",
                stackdock_http::encode_path_segment("a/b")
            ))
            .query("force", "true")
            .json(&json!({"name": "web"})),
        )
        .await
        .unwrap();

    assert_eq!(created["id"], "p1");
}

#[tokio::test]
async fn api_key_header_auth_is_sent() {
    let server = MockServer::start().await;
    ok_when(&server, header("x-api-key", TOKEN)).await;
    let config = config(&server).with_auth(Auth::header("X-Api-Key", TOKEN));
    let (client, _) = client_with(config, StatusErrorMapper);
    client.send_empty(Request::get("/x")).await.unwrap();
}

#[tokio::test]
async fn basic_auth_is_sent() {
    let server = MockServer::start().await;
    ok_when(&server, basic_auth("admin", TOKEN)).await;
    let config = config(&server).with_auth(Auth::basic("admin", TOKEN));
    let (client, _) = client_with(config, StatusErrorMapper);
    client.send_empty(Request::get("/x")).await.unwrap();
}

#[test]
fn debug_never_prints_credentials() {
    let auths = [
        Auth::bearer(TOKEN),
        Auth::header("X-Api-Key", TOKEN),
        Auth::basic("admin", TOKEN),
    ];
    for auth in auths {
        let config = stackdock_http::HttpConfig::parse("https://api.example.com/v1")
            .unwrap()
            .with_auth(auth)
            .with_default_query("api_key", TOKEN)
            .with_default_query("teamId", "team_1")
            .with_default_header("X-Other-Key", TOKEN);
        let printed = format!("{config:?} {config:#?}");
        assert!(!printed.contains(TOKEN), "{printed}");
        assert!(
            printed.contains("team_1"),
            "non-secret values stay visible: {printed}"
        );
        let client = HttpClient::new(config, StatusErrorMapper).unwrap();
        let printed = format!("{client:?} {client:#?}");
        assert!(!printed.contains(TOKEN), "{printed}");
        assert!(printed.contains("[REDACTED]"));
    }
}

#[test]
fn invalid_configs_are_rejected() {
    let bad = [
        stackdock_http::HttpConfig::parse("https://u:pw@api.example.com").unwrap(),
        stackdock_http::HttpConfig::parse("ftp://api.example.com").unwrap(),
        stackdock_http::HttpConfig::parse("https://api.example.com")
            .unwrap()
            .with_max_concurrency(0),
        stackdock_http::HttpConfig::parse("https://api.example.com")
            .unwrap()
            .with_auth(Auth::header("bad header", "v")),
    ];
    for config in bad {
        let err = HttpClient::new(config, StatusErrorMapper).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::ConfigInvalid);
        assert!(!err.to_string().contains("pw"), "{err}");
    }
    assert_eq!(
        stackdock_http::HttpConfig::parse("not a url")
            .unwrap_err()
            .kind(),
        &ErrorKind::ConfigInvalid
    );
}

#[tokio::test]
async fn malformed_json_is_invalid_response() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"id\": \"p1\", "))
        .mount(&server)
        .await;
    let (client, clock) = client(&server);

    let err = client
        .send_json::<Value>(Request::get("/v9/projects/p1").operation("observe web service"))
        .await
        .unwrap_err();

    assert_eq!(err.kind(), &ErrorKind::InvalidResponse);
    assert_eq!(err.operation(), Some("observe web service"));
    assert!(clock.sleeps().is_empty(), "a bad body is not retried");
}

/// A provider mapper in the style of GridPane: throttling is a "Beep, Beep" body.
struct BeepMapper;

impl ErrorMapper for BeepMapper {
    fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) if v["code"] == "project_locked" => {
                Error::conflict(v["message"].as_str().unwrap_or_default().to_owned())
            }
            _ => status_error(status, headers, body),
        }
    }

    fn throttle_hint(
        &self,
        _status: u16,
        _headers: &HeaderMap,
        body: &[u8],
    ) -> Option<Option<Duration>> {
        let text = std::str::from_utf8(body).ok()?;
        text.contains("Beep, Beep")
            .then_some(Some(Duration::from_secs(31)))
    }
}

#[tokio::test]
async fn throttle_hint_in_a_200_body_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200).set_body_string("Beep, Beep"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&server)
        .await;
    let (client, clock) = client_with(config(&server), BeepMapper);

    let body: Value = client.send_json(Request::put("/server/1")).await.unwrap();

    assert_eq!(body["success"], true);
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(31)]);
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn provider_mapper_decides_the_kind_and_never_sees_the_token() {
    let server = MockServer::start().await;
    // A provider that echoes the request's credential in its error body.
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": "project_locked",
            "message": format!("project is locked (token {TOKEN})"),
        })))
        .mount(&server)
        .await;
    let config = config(&server).with_auth(Auth::bearer(TOKEN));
    let (client, _) = client_with(config, BeepMapper);

    let err = client
        .send(Request::delete("/v9/projects/p1"))
        .await
        .unwrap_err();

    assert_eq!(err.kind(), &ErrorKind::Conflict);
    assert!(err.to_string().contains("project is locked"), "{err}");
    assert!(!format!("{err} {err:?}").contains(TOKEN), "{err:?}");
}

/// Counts requests the server is handling. A request counts as finished a third of the way
/// through its response delay: a request that respects the limit cannot arrive
/// before the previous response is complete, while a client ignoring the limit
/// sends all of them at once.
#[derive(Clone, Default)]
struct InFlight {
    current: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

const DELAY: Duration = Duration::from_millis(900);

impl Respond for InFlight {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let now = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        let current = self.current.clone();
        std::thread::spawn(move || {
            std::thread::sleep(DELAY / 3);
            current.fetch_sub(1, Ordering::SeqCst);
        });
        ResponseTemplate::new(200)
            .set_body_json(json!({}))
            .set_delay(DELAY)
    }
}

#[tokio::test]
async fn concurrency_limit_is_respected() {
    let server = MockServer::start().await;
    let counter = InFlight::default();
    Mock::given(method("GET"))
        .respond_with(counter.clone())
        .mount(&server)
        .await;
    let (client, _) = client_with(config(&server).with_max_concurrency(2), StatusErrorMapper);

    let calls = (0..6).map(|i| client.send_empty(Request::get(format!("/item/{i}"))));
    let results = futures::future::join_all(calls).await;

    assert!(results.iter().all(Result::is_ok));
    assert_eq!(request_count(&server).await, 6);
    assert_eq!(counter.max.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn without_a_tight_limit_requests_run_in_parallel() {
    // Guards the test above: the counter does see parallel requests.
    let server = MockServer::start().await;
    let counter = InFlight::default();
    Mock::given(method("GET"))
        .respond_with(counter.clone())
        .mount(&server)
        .await;
    let (client, _) = client_with(config(&server).with_max_concurrency(16), StatusErrorMapper);

    let calls = (0..6).map(|i| client.send_empty(Request::get(format!("/item/{i}"))));
    futures::future::join_all(calls).await;

    assert!(counter.max.load(Ordering::SeqCst) > 2);
}

#[tokio::test]
async fn same_origin_redirects_are_followed_cross_origin_are_not() {
    let server = MockServer::start().await;
    let other = MockServer::start().await;
    Mock::given(path("/old"))
        .respond_with(ResponseTemplate::new(301).insert_header("location", "/new"))
        .mount(&server)
        .await;
    ok_when(&server, path("/new")).await;
    Mock::given(path("/away"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/steal", other.uri()).as_str()),
        )
        .mount(&server)
        .await;
    let config = config(&server).with_auth(Auth::header("X-Api-Key", TOKEN));
    let (client, _) = client_with(config, StatusErrorMapper);

    client.send_empty(Request::get("/old")).await.unwrap();
    let err = client.send(Request::get("/away")).await.unwrap_err();

    assert!(
        matches!(
            err.kind(),
            ErrorKind::Provider {
                status: Some(302),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        request_count(&other).await,
        0,
        "the API key never leaves the origin"
    );
}

/// A mapper for a provider whose 429 body can say "daily quota": not worth retrying today.
struct QuotaMapper;

impl ErrorMapper for QuotaMapper {
    fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
        if body == b"daily quota exceeded" {
            return Error::rate_limited(Some(Duration::from_secs(86_400)))
                .with_status(stackdock_core::ErrorStatus::Permanent);
        }
        status_error(status, headers, body)
    }
}

#[tokio::test]
async fn rate_limit_marked_permanent_by_the_mapper_is_final() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).set_body_string("daily quota exceeded"))
        .mount(&server)
        .await;
    let (client, clock) = client_with(config(&server), QuotaMapper);

    let err = client.send(Request::get("/x")).await.unwrap_err();

    assert_eq!(request_count(&server).await, 1);
    assert!(clock.sleeps().is_empty());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(86_400)));
    assert_eq!(err.status(), stackdock_core::ErrorStatus::Permanent);
}
