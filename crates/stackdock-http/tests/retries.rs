//! Retry, rate-limit and idempotency behaviour against a wiremock server.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use stackdock_core::{ErrorKind, ErrorStatus};
use stackdock_http::{Request, RetryConfig};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn mount_once(server: &MockServer, verb: &str, p: &str, response: ResponseTemplate) {
    Mock::given(method(verb))
        .and(path(p))
        .respond_with(response)
        .up_to_n_times(1)
        .mount(server)
        .await;
}

async fn mount_ok(server: &MockServer, verb: &str, p: &str) {
    Mock::given(method(verb))
        .and(path(p))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(server)
        .await;
}

#[tokio::test]
async fn waits_retry_after_seconds_then_succeeds() {
    let server = MockServer::start().await;
    mount_once(
        &server,
        "GET",
        "/v1/x",
        ResponseTemplate::new(429).insert_header("Retry-After", "2"),
    )
    .await;
    mount_ok(&server, "GET", "/v1/x").await;
    let (client, clock) = client(&server);

    let body: Value = client.send_json(Request::get("/v1/x")).await.unwrap();

    assert_eq!(body, json!({"ok": true}));
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(2)]);
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn waits_retry_after_http_date() {
    let server = MockServer::start().await;
    let date = httpdate::fmt_http_date(t0() + Duration::from_secs(5));
    mount_once(
        &server,
        "GET",
        "/x",
        ResponseTemplate::new(429).insert_header("Retry-After", date.as_str()),
    )
    .await;
    mount_ok(&server, "GET", "/x").await;
    let (client, clock) = client(&server);

    client.send_empty(Request::get("/x")).await.unwrap();

    assert_eq!(clock.sleeps(), vec![Duration::from_secs(5)]);
}

#[tokio::test]
async fn falls_back_to_x_ratelimit_reset() {
    let server = MockServer::start().await;
    let reset = (T0 + 7).to_string();
    mount_once(
        &server,
        "GET",
        "/x",
        ResponseTemplate::new(429).insert_header("X-RateLimit-Reset", reset.as_str()),
    )
    .await;
    mount_ok(&server, "GET", "/x").await;
    let (client, clock) = client(&server);

    client.send_empty(Request::get("/x")).await.unwrap();

    assert_eq!(clock.sleeps(), vec![Duration::from_secs(7)]);
}

#[tokio::test]
async fn rate_limit_is_retried_even_for_post() {
    // 429 means the server did not process the request: repeating it cannot duplicate anything.
    let server = MockServer::start().await;
    mount_once(
        &server,
        "POST",
        "/things",
        ResponseTemplate::new(429).insert_header("Retry-After", "1"),
    )
    .await;
    mount_ok(&server, "POST", "/things").await;
    let (client, clock) = client(&server);

    client
        .send_empty(Request::post("/things").json(&json!({"name": "a"})))
        .await
        .unwrap();

    assert_eq!(clock.sleeps(), vec![Duration::from_secs(1)]);
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn get_503_twice_then_success_with_jittered_backoff() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/x"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    mount_ok(&server, "GET", "/x").await;
    let (client, clock) = client(&server);

    let body: Value = client.send_json(Request::get("/x")).await.unwrap();

    assert_eq!(body["ok"], true);
    assert_eq!(request_count(&server).await, 3);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2);
    // full jitter within min(max_backoff, 200ms * 2^(n-1))
    assert!(sleeps[0] <= Duration::from_millis(200), "{sleeps:?}");
    assert!(sleeps[1] <= Duration::from_millis(400), "{sleeps:?}");
}

#[tokio::test]
async fn post_503_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let (client, clock) = client(&server);

    let err = client
        .send(Request::post("/things").operation("create thing"))
        .await
        .unwrap_err();

    assert_eq!(request_count(&server).await, 1);
    assert!(clock.sleeps().is_empty());
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Provider {
                status: Some(503),
                ..
            }
        ),
        "{err:?}"
    );
    // still temporary: the caller may decide to retry after checking state
    assert_eq!(err.status(), ErrorStatus::Temporary);
    assert_eq!(err.operation(), Some("create thing"));
}

#[tokio::test]
async fn post_marked_idempotent_is_retried_on_503() {
    let server = MockServer::start().await;
    mount_once(&server, "POST", "/q", ResponseTemplate::new(503)).await;
    mount_ok(&server, "POST", "/q").await;
    let (client, _clock) = client(&server);

    client
        .send_empty(Request::post("/q").idempotent(true))
        .await
        .unwrap();

    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn post_that_times_out_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(10)))
        .mount(&server)
        .await;
    let mut config = config(&server);
    config.request_timeout = Duration::from_secs(1);
    let (client, clock) = client_with(config, stackdock_http::StatusErrorMapper);

    let err = client
        .send(Request::post("/deployments"))
        .await
        .unwrap_err();

    assert_eq!(err.kind(), &ErrorKind::Timeout);
    assert!(
        std::error::Error::source(&err).is_some(),
        "reqwest error kept as source"
    );
    assert_eq!(request_count(&server).await, 1);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn get_that_times_out_is_retried() {
    let server = MockServer::start().await;
    mount_once(
        &server,
        "GET",
        "/slow",
        ResponseTemplate::new(200).set_delay(Duration::from_secs(10)),
    )
    .await;
    mount_ok(&server, "GET", "/slow").await;
    let mut config = config(&server);
    config.request_timeout = Duration::from_secs(1);
    let (client, clock) = client_with(config, stackdock_http::StatusErrorMapper);

    let body: Value = client.send_json(Request::get("/slow")).await.unwrap();

    assert_eq!(body["ok"], true);
    assert_eq!(request_count(&server).await, 2);
    assert_eq!(clock.sleeps().len(), 1);
}

#[tokio::test]
async fn retry_timeout_caps_total_wait() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "4"))
        .mount(&server)
        .await;
    let mut config = config(&server);
    config.retry = RetryConfig {
        max_retries: 100,
        retry_timeout: Duration::from_secs(10),
        ..RetryConfig::default()
    };
    let (client, clock) = client_with(config, stackdock_http::StatusErrorMapper);

    let err = client.send(Request::get("/x")).await.unwrap_err();

    // 4 s + 4 s fit in 10 s; a third wait would end at 12 s, so the layer gives up instead.
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(4); 2]);
    assert_eq!(request_count(&server).await, 3);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(4)));
    assert_eq!(err.status(), ErrorStatus::Persistent);
}

#[tokio::test]
async fn wait_longer_than_retry_timeout_is_not_attempted() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "600"))
        .mount(&server)
        .await;
    let (client, clock) = client(&server);

    let err = client.send(Request::get("/x")).await.unwrap_err();

    assert!(
        clock.sleeps().is_empty(),
        "no point sleeping past the 3 min budget"
    );
    assert_eq!(request_count(&server).await, 1);
    assert_eq!(
        err.kind(),
        &ErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(600))
        }
    );
    assert_eq!(err.status(), ErrorStatus::Persistent);
}

#[tokio::test]
async fn exhausted_rate_limit_is_persistent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .mount(&server)
        .await;
    let mut config = config(&server);
    config.retry.max_retries = 3;
    let (client, clock) = client_with(config, stackdock_http::StatusErrorMapper);

    let err = client
        .send(Request::get("/x").operation("list servers"))
        .await
        .unwrap_err();

    assert_eq!(request_count(&server).await, 4);
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(1); 3]);
    assert!(matches!(err.kind(), ErrorKind::RateLimited { .. }));
    assert_eq!(err.status(), ErrorStatus::Persistent);
    assert_eq!(err.operation(), Some("list servers"));
    assert!(err.to_string().contains("[retries exhausted]"), "{err}");
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"message": "no such project"})),
        )
        .mount(&server)
        .await;
    let (client, clock) = client(&server);

    let err = client
        .send(Request::get("/v9/projects/p1"))
        .await
        .unwrap_err();

    assert!(err.is_not_found());
    assert_eq!(err.status(), ErrorStatus::Permanent);
    assert!(err.to_string().contains("no such project"), "{err}");
    assert_eq!(err.operation(), Some("GET /v9/projects/p1"));
    assert_eq!(request_count(&server).await, 1);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn connection_refused_is_unavailable_without_url_in_source() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config =
        stackdock_http::HttpConfig::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    config.retry.max_retries = 2;
    let (client, clock) = client_with(config, stackdock_http::StatusErrorMapper);

    let err = client
        .send(Request::get("/x").query("secret", "qs-secret"))
        .await
        .unwrap_err();

    assert_eq!(err.kind(), &ErrorKind::Unavailable);
    assert_eq!(err.status(), ErrorStatus::Persistent);
    assert_eq!(clock.sleeps().len(), 2);
    let source = std::error::Error::source(&err)
        .expect("source kept")
        .to_string();
    assert!(!source.contains("qs-secret"), "{source}");
    assert!(!format!("{err:?}").contains("qs-secret"));
}

#[tokio::test]
async fn get_5xx_that_never_recovers_is_persistent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .mount(&server)
        .await;
    let mut config = config(&server);
    config.retry.max_retries = 2;
    let (client, clock) = client_with(config, stackdock_http::StatusErrorMapper);

    let err = client.send(Request::get("/x")).await.unwrap_err();

    assert_eq!(request_count(&server).await, 3);
    assert_eq!(clock.sleeps().len(), 2);
    assert!(matches!(
        err.kind(),
        ErrorKind::Provider {
            status: Some(502),
            ..
        }
    ));
    assert_eq!(err.status(), ErrorStatus::Persistent);
    assert!(
        err.context().contains(&("attempts", "3".to_owned())),
        "{err:?}"
    );
}

#[tokio::test]
async fn with_retries_off_errors_stay_temporary() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3"))
        .mount(&server)
        .await;
    let config = config(&server).with_retry(RetryConfig::none());
    let (client, clock) = client_with(config, stackdock_http::StatusErrorMapper);

    let err = client.send(Request::get("/x")).await.unwrap_err();

    assert_eq!(request_count(&server).await, 1);
    assert!(clock.sleeps().is_empty());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!(
        err.status(),
        ErrorStatus::Temporary,
        "the caller may still retry"
    );
}

#[tokio::test]
async fn per_request_timeout_overrides_the_client_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(500)))
        .mount(&server)
        .await;
    let (client, _) = client_with(
        config(&server).with_retry(RetryConfig::none()),
        stackdock_http::StatusErrorMapper,
    );

    let err = client
        .send(Request::get("/x").timeout(Duration::from_millis(100)))
        .await
        .unwrap_err();

    assert_eq!(err.kind(), &ErrorKind::Timeout);
}

#[tokio::test]
async fn dot_segments_are_rejected_before_any_request() {
    let server = MockServer::start().await;
    let (client, _) = client(&server);
    for id in ["..", ".", "%2e%2E", ".%2e"] {
        let err = client
            .send(Request::delete(format!("/v9/projects/{id}")))
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput { .. }),
            "{id}: {err:?}"
        );
    }
    assert_eq!(request_count(&server).await, 0);
}

#[tokio::test]
async fn server_errors_honour_retry_after_but_not_the_rate_limit_window() {
    let server = MockServer::start().await;
    let far_reset = (T0 + 3_600).to_string();
    mount_once(
        &server,
        "GET",
        "/a",
        ResponseTemplate::new(503).insert_header("Retry-After", "3"),
    )
    .await;
    mount_ok(&server, "GET", "/a").await;
    // Providers send X-RateLimit-Reset on every response; on a 503 it says nothing about recovery.
    mount_once(
        &server,
        "GET",
        "/b",
        ResponseTemplate::new(503).insert_header("X-RateLimit-Reset", far_reset.as_str()),
    )
    .await;
    mount_ok(&server, "GET", "/b").await;
    let (client, clock) = client(&server);

    client.send_empty(Request::get("/a")).await.unwrap();
    client.send_empty(Request::get("/b")).await.unwrap();

    let sleeps = clock.sleeps();
    assert_eq!(sleeps[0], Duration::from_secs(3));
    assert!(
        sleeps[1] <= Duration::from_millis(200),
        "backoff, not an hour: {sleeps:?}"
    );
}
