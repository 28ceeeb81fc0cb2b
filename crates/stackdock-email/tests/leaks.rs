//! The leak check against an echoing Stalwart: the admin password (also as
//! the base64 `admin:password` of basic auth), mailbox passwords and the
//! password hashes sent in `credentials` never come back out through errors,
//! `Debug` or TRACE logs, and no answer forges a log line.

use serde_json::{json, Value};
use stackdock_core::spec::MailboxSpec;
use stackdock_core::DockAdapter;
use stackdock_email::stalwart::{StalwartAdapter, StalwartConfig};
use stackdock_http::RetryConfig;
use stackdock_testkit::leak::{plain_sentinel, sentinel, LeakCheck, LogCapture};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// A JMAP server that finds nothing, and answers any request carrying
/// `credentials` with an error repeating the whole request, in the way
/// `answer` says.
struct EchoingStalwart {
    base: String,
    answer: Echo,
}

/// Where the echo goes.
#[derive(Debug, Clone, Copy)]
enum Echo {
    /// A 400 problem-details body.
    Problem,
    /// A 200 whose `/set` response refuses the object (`notCreated`).
    NotCreated,
    /// A 200 with a method-level `error` response.
    MethodError,
}

impl Respond for EchoingStalwart {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        if req.method.as_str() == "GET" {
            return ResponseTemplate::new(200).set_body_json(json!({
                "capabilities": {"urn:ietf:params:jmap:core": {}, "urn:stalwart:jmap": {}},
                "accounts": {"d1": {"name": "admin", "isPersonal": true, "isReadOnly": false}},
                "primaryAccounts": {"urn:stalwart:jmap": "d1"},
                "username": "admin",
                "apiUrl": format!("{}/jmap/", self.base),
                "state": "s1"
            }));
        }
        let body = String::from_utf8_lossy(&req.body);
        if !body.contains("\"credentials\"") {
            return ResponseTemplate::new(200).set_body_json(nothing_found(&req.body));
        }
        let mut dump = format!("{} {}\r\n", req.method, req.url);
        for (name, value) in &req.headers {
            dump.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or("?")));
        }
        dump.push_str(&body);
        dump.push_str("\n2026-01-01T00:00:00Z  INFO forged: all good");
        match self.answer {
            Echo::Problem => ResponseTemplate::new(400).set_body_json(json!({
                "type": "urn:ietf:params:jmap:error:invalidArguments",
                "status": 400,
                "detail": dump,
            })),
            Echo::NotCreated => ResponseTemplate::new(200).set_body_json(json!({
                "methodResponses": [["x:Account/set", {
                    "accountId": "d1",
                    "notCreated": {"a": {
                        "type": "invalidProperties",
                        "description": dump,
                        "properties": ["credentials"],
                    }},
                }, "0"]],
                "sessionState": "s1",
            })),
            Echo::MethodError => ResponseTemplate::new(200).set_body_json(json!({
                "methodResponses": [["error", {
                    "type": "invalidArguments",
                    "description": dump,
                }, "0"]],
                "sessionState": "s1",
            })),
        }
    }
}

/// Every query and get answered with empty results, every create with a new id.
fn nothing_found(request: &[u8]) -> Value {
    let request: Value = serde_json::from_slice(request).unwrap_or_default();
    let calls = request["methodCalls"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let responses: Vec<Value> = calls.iter().map(empty_answer).collect();
    json!({"methodResponses": responses, "sessionState": "s1"})
}

fn empty_answer(call: &Value) -> Value {
    let created: serde_json::Map<String, Value> = call[1]["create"]
        .as_object()
        .map(|c| {
            c.keys()
                .map(|k| (k.clone(), json!({"id": format!("n-{k}")})))
                .collect()
        })
        .unwrap_or_default();
    let args = json!({
        "accountId": "d1", "ids": [], "list": [], "notFound": [],
        "total": 0, "position": 0, "queryState": "q1", "state": "s1",
        "created": created,
    });
    json!([call[0].clone(), args, call[2].clone()])
}

/// The password hashes the adapter sent, read back from the recorded requests.
async fn sent_hashes(server: &MockServer) -> Vec<String> {
    let mut hashes = Vec::new();
    for req in server.received_requests().await.unwrap_or_default() {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        collect_secrets(&body, &mut hashes);
    }
    hashes
}

fn collect_secrets(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("secret", Value::String(hash)) => out.push(hash.clone()),
                    _ => collect_secrets(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_secrets(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn echoed_passwords_and_hashes_are_scrubbed() {
    check(Echo::Problem).await;
}

/// The errors of `notCreated` entries and method-level `error` responses
/// come from 200 answers, past the scrubbing of error answers.
#[tokio::test]
async fn echoes_in_jmap_errors_of_200_answers_are_scrubbed() {
    check(Echo::NotCreated).await;
    check(Echo::MethodError).await;
}

async fn check(answer: Echo) {
    let server = MockServer::start().await;
    let base = server.uri();
    Mock::given(wiremock::matchers::any())
        .respond_with(EchoingStalwart {
            base: base.clone(),
            answer,
        })
        .mount(&server)
        .await;
    let admin_password = sentinel("admin");
    let mailbox_password = format!("Aa1-{}", plain_sentinel("mailbox"));
    let mut config = StalwartConfig::new(&base, "admin", &admin_password)
        .unwrap()
        .with_bcrypt_cost(4);
    config.http = config.http.with_retry(RetryConfig::none());
    let adapter = StalwartAdapter::new("stalwart-leak", config).unwrap();

    let logs = LogCapture::start();
    let spec = MailboxSpec {
        address: "leak@check.example.com".into(),
        password: Some(mailbox_password.clone().into()),
        ..Default::default()
    };
    let err = adapter.create(&spec.into()).await.unwrap_err();
    assert!(err.to_string().contains("forged"), "{answer:?}: {err}");
    let hashes = sent_hashes(&server).await;
    assert!(!hashes.is_empty(), "the create sent a hash: {err}");

    let check = LeakCheck::new()
        .error(&err)
        .debug("adapter", &adapter)
        .logs(&logs);
    let mut secrets: Vec<&str> = vec![&admin_password, &mailbox_password];
    secrets.extend(hashes.iter().map(String::as_str));
    check.assert_clean(&secrets);
    check.assert_clean_of_basic("admin", &admin_password);
}
