//! The leak check against an echoing server: no secret a request carries
//! (credential in every encoding, secret headers, query values, body fields)
//! comes back in an error, a `Debug` or a TRACE log line, and no answer can
//! forge a log line with a raw CR/LF.

mod common;

use common::*;
use serde_json::json;
use stackdock_core::secret::SecretString;
use stackdock_core::Error;
use stackdock_http::{Auth, HttpClient, Request, RetryConfig, StatusErrorMapper};
use stackdock_testkit::leak::{sentinel, LeakCheck, LogCapture};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// Answers every request with `status` and a body repeating the whole request:
/// method, URL, every header, the body, and a forged log line.
struct Echo {
    status: u16,
    json: bool,
}

impl Respond for Echo {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let mut dump = format!("{} {}\r\n", req.method, req.url);
        for (name, value) in &req.headers {
            dump.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or("?")));
        }
        dump.push_str(&String::from_utf8_lossy(&req.body));
        dump.push_str("\n2026-01-01T00:00:00Z  INFO forged: all good");
        let template = ResponseTemplate::new(self.status);
        if self.json {
            template.set_body_json(json!({"message": dump, "error": {"message": dump}}))
        } else {
            template.set_body_string(dump)
        }
    }
}

struct Secrets {
    password: String,
    api_key: String,
    query_key: String,
    header_token: String,
    body_password: String,
    env_value: String,
}

impl Secrets {
    fn new() -> Self {
        Secrets {
            password: sentinel("basic"),
            api_key: sentinel("default-header"),
            query_key: sentinel("query"),
            header_token: sentinel("header"),
            body_password: sentinel("body"),
            env_value: sentinel("env-value"),
        }
    }

    fn all(&self) -> Vec<&str> {
        vec![
            &self.password,
            &self.api_key,
            &self.query_key,
            &self.header_token,
            &self.body_password,
            &self.env_value,
        ]
    }
}

async fn echoing(status: u16, json: bool) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(Echo { status, json })
        .mount(&server)
        .await;
    server
}

fn client_for(server: &MockServer, s: &Secrets) -> HttpClient {
    let config = config(server)
        .with_auth(Auth::basic("admin", &s.password))
        .with_default_header("X-Api-Key", &s.api_key)
        .with_default_query("api_key", &s.query_key)
        .with_retry(RetryConfig {
            max_retries: 1,
            ..RetryConfig::default()
        });
    client_with(config, StatusErrorMapper).0
}

fn secret_request(s: &Secrets) -> Request {
    Request::post("/v1/users")
        .header("x-auth-token", &s.header_token)
        .json(&json!({
            "name": "deploy",
            "password": s.body_password,
            "env": [{"key": "DATABASE_URL", "value": s.env_value}],
        }))
        .secret(&SecretString::from(s.env_value.clone()))
        .operation("create user")
}

fn assert_clean(s: &Secrets, err: &Error, logs: &LogCapture) {
    let check = LeakCheck::new().error(err).logs(logs);
    check.assert_clean(&s.all());
    check.assert_clean_of_basic("admin", &s.password);
}

#[tokio::test]
async fn echoed_json_errors_carry_no_secret_and_no_line_break() {
    let s = Secrets::new();
    let server = echoing(400, true).await;
    let logs = LogCapture::start();
    let err = client_for(&server, &s)
        .send(secret_request(&s))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("[REDACTED]"), "{err}");
    assert_clean(&s, &err, &logs);
}

#[tokio::test]
async fn echoed_text_errors_after_retries_carry_no_secret_and_no_line_break() {
    let s = Secrets::new();
    let server = echoing(503, false).await;
    let logs = LogCapture::start();
    let err = client_for(&server, &s)
        .send(secret_request(&s).idempotent(true))
        .await
        .unwrap_err();
    assert!(
        logs.text().contains("http retries exhausted"),
        "{}",
        logs.text()
    );
    assert!(err.to_string().contains("[REDACTED]"), "{err}");
    assert_clean(&s, &err, &logs);
}

#[tokio::test]
async fn a_failure_reported_in_a_2xx_body_is_scrubbed_the_same_way() {
    let s = Secrets::new();
    let server = echoing(200, true).await;
    let response = client_for(&server, &s)
        .send(secret_request(&s))
        .await
        .unwrap();
    let err = StatusErrorMapper.map_error_for_test(&response.scrubbed_body());
    let logs = LogCapture::start();
    assert_clean(&s, &err, &logs);
}

/// What a provider mapper does with a 2xx body that says it failed.
trait MapForTest {
    fn map_error_for_test(&self, body: &[u8]) -> Error;
}

impl MapForTest for StatusErrorMapper {
    fn map_error_for_test(&self, body: &[u8]) -> Error {
        stackdock_http::ErrorMapper::map_error(self, 422, &Default::default(), body)
    }
}
