//! Request tracing: useful fields, no credentials.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use serde_json::json;
use stackdock_http::{Auth, Request, StatusErrorMapper};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "tok-in-header-5a4b";
const QUERY_SECRET: &str = "key-in-query-3c2d";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_method_path_status_attempt_without_secrets() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_body_string(format!("echo {TOKEN}")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    let config = config(&server)
        .with_auth(Auth::bearer(TOKEN))
        .with_default_query("api_key", QUERY_SECRET);
    let (client, _) = client_with(config, StatusErrorMapper);

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    client
        .send_empty(
            Request::get("/v1/servers")
                .query("page", "2")
                .operation("list servers"),
        )
        .await
        .unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for expected in [
        "operation=list servers",
        "method=GET",
        "path=/v1/servers?api_key=[REDACTED]&page=2",
        "status=503",
        "status=200",
        "attempt=1",
        "attempt=2",
        "elapsed_ms=",
        "http retrying",
    ] {
        assert!(logs.contains(expected), "missing {expected:?} in:\n{logs}");
    }
    assert!(!logs.contains(TOKEN), "{logs}");
    assert!(!logs.contains(QUERY_SECRET), "{logs}");
}
