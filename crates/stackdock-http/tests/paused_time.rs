//! Retry waits under paused tokio time, with the default clock, end to end.
//!
//! wiremock serves from its own thread, so while a response is in flight the
//! paused runtime sees no work and auto-advances into reqwest's timeouts.
//! This test therefore serves from a tiny HTTP/1.1 server spawned on the test's
//! own runtime: loopback I/O is then always ready when the runtime looks for
//! work, and the clock only advances across the client's retry sleep.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stackdock_http::{HttpClient, HttpConfig, Request, StatusErrorMapper};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serve the scripted raw responses, one per request, on connections that close after each.
async fn scripted_server(responses: Vec<String>) -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let queue = Arc::new(Mutex::new(VecDeque::from(responses)));
    let served = Arc::new(Mutex::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let response = queue
                .lock()
                .unwrap()
                .pop_front()
                .expect("more requests than scripted");
            *counter.lock().unwrap() += 1;
            socket.write_all(response.as_bytes()).await.unwrap();
            socket.shutdown().await.unwrap();
        }
    });
    (format!("http://{addr}"), served)
}

fn raw(status: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}

#[tokio::test(start_paused = true)]
async fn waits_exactly_retry_after_then_succeeds() {
    let (url, served) = scripted_server(vec![
        raw("429 Too Many Requests", "retry-after: 2\r\n", ""),
        raw(
            "200 OK",
            "content-type: application/json\r\n",
            r#"{"ok":true}"#,
        ),
    ])
    .await;
    let client = HttpClient::new(HttpConfig::parse(&url).unwrap(), StatusErrorMapper).unwrap();

    let start = tokio::time::Instant::now();
    let body: serde_json::Value = client.send_json(Request::get("/x")).await.unwrap();

    assert_eq!(body["ok"], true);
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(*served.lock().unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn retry_timeout_is_measured_on_tokio_time() {
    let (url, served) = scripted_server(vec![
        raw("429 Too Many Requests", "retry-after: 30\r\n", ""),
        raw("429 Too Many Requests", "retry-after: 30\r\n", ""),
        raw("429 Too Many Requests", "retry-after: 30\r\n", ""),
    ])
    .await;
    let mut config = HttpConfig::parse(&url).unwrap();
    config.retry.retry_timeout = Duration::from_secs(70);
    let client = HttpClient::new(config, StatusErrorMapper).unwrap();

    let start = tokio::time::Instant::now();
    let err = client.send(Request::get("/x")).await.unwrap_err();

    // 30 s + 30 s fit in 70 s, a third wait would not.
    assert_eq!(start.elapsed(), Duration::from_secs(60));
    assert_eq!(*served.lock().unwrap(), 3);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(err.status(), stackdock_core::ErrorStatus::Persistent);
}
