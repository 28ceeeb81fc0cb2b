//! Faults the layer must contain: huge bodies, failing hosts, slow attempts,
//! lost connections, and the rate-limit state it exposes.

mod common;

use std::time::{Duration, Instant, UNIX_EPOCH};

use common::*;
use stackdock_core::{ErrorKind, ErrorStatus};
use stackdock_http::{
    CircuitBreakerConfig, HttpClient, HttpConfig, RateLimitInfo, Request, RetryConfig,
    StatusErrorMapper, DEFAULT_MAX_RESPONSE_BYTES,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

const MIB: u64 = 1024 * 1024;

/// A one-connection-at-a-time HTTP server: reads a request, then hands the socket to `serve`.
async fn raw_server<F, Fut>(serve: F) -> String
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            read_request(&mut socket).await;
            tokio::spawn(serve(socket));
        }
    });
    format!("http://{addr}")
}

/// Read up to the end of the headers and a `Content-Length` body.
async fn read_request(socket: &mut TcpStream) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
        let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap_or(0));
        if request.len() >= end + 4 + length {
            return;
        }
    }
}

/// Stream an endless body, 64 KiB at a time, until the client hangs up.
async fn endless_body(mut socket: TcpStream) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
    if socket.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk = vec![b' '; 64 * 1024];
    while socket.write_all(&chunk).await.is_ok() {}
}

fn raw_client(base: &str, config: impl FnOnce(HttpConfig) -> HttpConfig) -> HttpClient {
    let config = config(
        HttpConfig::parse(base)
            .unwrap()
            .with_retry(RetryConfig::none()),
    );
    HttpClient::new(config, StatusErrorMapper).unwrap()
}

#[tokio::test]
async fn an_endless_body_is_cut_at_the_cap_while_streaming() {
    let base = raw_server(endless_body).await;
    let client = raw_client(&base, |c| c.with_max_response_bytes(MIB));
    // Without a cap the client would buffer forever: bound the test instead of hanging.
    let result = tokio::time::timeout(Duration::from_secs(20), client.send(Request::get("/x")))
        .await
        .expect("the read stops at the cap");
    let err = result.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidResponse, "{err}");
    assert!(!err.is_temporary(), "a body too large is not retried");
    assert!(
        err.context()
            .iter()
            .any(|(k, v)| *k == "max_response_bytes" && v == "1048576"),
        "{err}"
    );
}

#[tokio::test]
async fn a_declared_length_past_the_cap_is_refused_before_reading() {
    let base = raw_server(|mut socket: TcpStream| async move {
        let head = "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 10737418240\r\n\r\n";
        let _ = socket.write_all(head.as_bytes()).await;
        // Never send the body: only the declared length can end the request.
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let client = raw_client(&base, |c| c.with_max_response_bytes(MIB));
    let started = Instant::now();
    let err = client.send(Request::get("/x")).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidResponse, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        HttpConfig::parse("http://x").unwrap().max_response_bytes,
        DEFAULT_MAX_RESPONSE_BYTES
    );
    assert_eq!(DEFAULT_MAX_RESPONSE_BYTES, 32 * MIB);
}

#[tokio::test]
async fn bodies_under_the_cap_arrive_whole() {
    let server = MockServer::start().await;
    let body = "x".repeat(100_000);
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string(body.clone()))
        .mount(&server)
        .await;
    let client = raw_client(&server.uri(), |c| c.with_max_response_bytes(100_000));
    let response = client.send(Request::get("/x")).await.unwrap();
    assert_eq!(response.body.len(), body.len());
}

#[tokio::test]
async fn a_failing_host_is_short_circuited_then_probed() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(3)
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let breaker = CircuitBreakerConfig {
        failure_threshold: 3,
        cool_down: Duration::from_secs(30),
    };
    let config = config(&server)
        .with_retry(RetryConfig::none())
        .with_circuit_breaker(breaker);
    let (client, clock) = client_with(config, StatusErrorMapper);

    for _ in 0..3 {
        let err = client.send(Request::get("/x")).await.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Provider {
                    status: Some(503),
                    ..
                }
            ),
            "{err}"
        );
    }
    let err = client.send(Request::get("/x")).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unavailable, "{err}");
    assert!(err.is_temporary());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(
        request_count(&server).await,
        3,
        "the open breaker sent nothing"
    );

    clock.advance(Duration::from_secs(30));
    client.send(Request::get("/x")).await.unwrap();
    client.send(Request::get("/x")).await.unwrap();
    assert_eq!(
        request_count(&server).await,
        5,
        "the probe succeeded: closed again"
    );
}

#[tokio::test]
async fn retry_timeout_is_a_hard_cap_on_a_slow_attempt() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let config = config(&server).with_retry(RetryConfig {
        retry_timeout: Duration::from_millis(300),
        ..RetryConfig::default()
    });
    let client = HttpClient::new(config, StatusErrorMapper).unwrap();
    let started = Instant::now();
    let err = client.send(Request::get("/x")).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), &ErrorKind::Timeout, "{err}");
    assert_eq!(err.status(), ErrorStatus::Persistent, "{err}");
    assert!(took < Duration::from_secs(2), "took {took:?}, cap 300 ms");
}

#[tokio::test]
async fn on_a_manual_clock_attempts_take_no_time_and_are_never_cut() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(200)))
        .mount(&server)
        .await;
    let config = config(&server).with_retry(RetryConfig {
        retry_timeout: Duration::from_millis(50),
        ..RetryConfig::default()
    });
    let (client, _clock) = client_with(config, StatusErrorMapper);
    client.send(Request::get("/x")).await.unwrap();
}

#[test]
fn zero_budgets_and_caps_are_config_errors() {
    let base = HttpConfig::parse("http://127.0.0.1:9").unwrap();
    let zero_budget = base.clone().with_retry(RetryConfig {
        retry_timeout: Duration::ZERO,
        ..RetryConfig::default()
    });
    let zero_cap = base.with_max_response_bytes(0);
    for config in [zero_budget, zero_cap] {
        let err = HttpClient::new(config, StatusErrorMapper).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::ConfigInvalid, "{err}");
    }
}

#[tokio::test]
async fn a_retry_after_beyond_the_budget_is_kept_on_the_error() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "600"))
        .mount(&server)
        .await;
    let config = config(&server).with_retry(RetryConfig {
        retry_timeout: Duration::from_secs(12),
        ..RetryConfig::default()
    });
    let (client, clock) = client_with(config, StatusErrorMapper);
    let err = client.send(Request::get("/x")).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(600)), "{err:?}");
    assert_eq!(err.status(), ErrorStatus::Persistent);
    assert!(clock.sleeps().is_empty(), "no pointless wait");
    // A POST is not retried on a 503, but the hint still reaches the caller.
    let err = client.send(Request::post("/x")).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(600)), "{err:?}");
}

#[tokio::test]
async fn a_post_reset_after_sending_is_not_called_a_failed_connect() {
    let base = raw_server(|socket: TcpStream| async move {
        // Reset (RST), not a clean close: the request was read, no answer comes.
        // (Deprecated because a non-zero linger blocks on drop; zero does not.)
        #[allow(deprecated)]
        socket.set_linger(Some(Duration::ZERO)).unwrap();
        drop(socket);
    })
    .await;
    let client = raw_client(&base, |c| c);
    let err = client
        .send(Request::post("/servers").json(&serde_json::json!({"name": "a"})))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("could not connect"), "{text}");
    assert!(text.contains("after the request was sent"), "{text}");

    // A port nobody listens on is still "could not connect".
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = raw_client(&closed, |c| c)
        .send(Request::post("/servers"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("could not connect"), "{err}");
}

#[tokio::test]
async fn the_last_rate_limit_state_is_exposed() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-RateLimit-Limit", "100")
                .insert_header("X-RateLimit-Remaining", "42")
                .insert_header("X-RateLimit-Reset", "1700000060"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("RateLimit-Remaining", "5")
                .insert_header("RateLimit-Reset", "30"),
        )
        .mount(&server)
        .await;
    let (client, _clock) = client(&server);
    assert_eq!(client.rate_limit(), None);
    client.send(Request::get("/x")).await.unwrap();
    let expected = RateLimitInfo {
        limit: Some(100),
        remaining: Some(42),
        reset: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_060)),
    };
    assert_eq!(client.clone().rate_limit(), Some(expected));
    // Error answers count too; IETF headers give the reset as delay-seconds.
    client.send(Request::get("/x")).await.unwrap_err();
    let info = client.rate_limit().unwrap();
    assert_eq!(info.remaining, Some(5));
    assert_eq!(info.reset, Some(t0() + Duration::from_secs(30)));
}
