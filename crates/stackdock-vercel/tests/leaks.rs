//! The leak check against an echoing Vercel: the token and environment
//! variable values never come back out through errors, `Debug` or TRACE logs,
//! and no answer forges a log line.

use serde_json::json;
use stackdock_core::Error;
use stackdock_http::RetryConfig;
use stackdock_testkit::leak::{sentinel, LeakCheck, LogCapture};
use stackdock_vercel::{EnvTarget, NewEnvVar, NewProject, VercelClient, VercelConfig};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// Answers lookups with 404 (so creates go ahead) and everything else with
/// `status` and a Vercel error body repeating the whole request, plus a forged
/// log line.
struct Echo(u16);

impl Respond for Echo {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        if req.method.as_str() == "GET" {
            return ResponseTemplate::new(404)
                .set_body_json(json!({"error": {"code": "not_found", "message": "none"}}));
        }
        let mut dump = format!("{} {}\r\n", req.method, req.url);
        for (name, value) in &req.headers {
            dump.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or("?")));
        }
        dump.push_str(&String::from_utf8_lossy(&req.body));
        dump.push_str("\n2026-01-01T00:00:00Z  INFO forged: all good");
        ResponseTemplate::new(self.0)
            .set_body_json(json!({"error": {"code": "bad_request", "message": dump}}))
    }
}

async fn echoing_client(status: u16, token: &str) -> (MockServer, VercelClient) {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(Echo(status))
        .mount(&server)
        .await;
    let config = VercelConfig::new(token)
        .team_id("team_leakcheck")
        .base_url(server.uri())
        .retry(RetryConfig::none());
    (server, VercelClient::new(config).unwrap())
}

async fn check(status: u16) {
    let token = sentinel("vercel-token");
    let value = sentinel("env-value");
    let logs = LogCapture::start();
    let (_server, client) = echoing_client(status, &token).await;
    let vars = [NewEnvVar::new(
        "DATABASE_URL",
        value.clone(),
        &[EnvTarget::Production],
    )];
    let env_err: Error = client
        .create_env("prj_leakcheck", &vars, false)
        .await
        .expect_err("the echoing fake fails every call");
    let project = NewProject {
        name: "leakcheck".into(),
        environment_variables: vars.to_vec(),
        ..Default::default()
    };
    let project_err = client
        .create_project(&project)
        .await
        .expect_err("the echoing fake fails every call");
    LeakCheck::new()
        .error(&env_err)
        .error(&project_err)
        .debug("client", &client)
        .logs(&logs)
        .assert_clean(&[&token, &value]);
}

#[tokio::test]
async fn env_var_values_echoed_in_errors_are_scrubbed() {
    check(400).await;
    check(500).await;
}

/// Vercel answers a bulk env create with `201` and a `failed[]` entry per
/// variable it refused; the entry's `error` repeats the variable, its value
/// included (`{code, message, key, value, target}`), and a message may echo
/// the request. That error is built from a 2xx body, past the scrubbing of
/// error answers: it must be scrubbed all the same.
struct RefusesEnv;

impl Respond for RefusesEnv {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let sent: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let var = &sent[0];
        ResponseTemplate::new(201).set_body_json(json!({
            "created": [],
            "failed": [{"error": {
                "code": "bad_value",
                "message": format!(
                    "invalid value {}\n2026-01-01T00:00:00Z  INFO forged: all good",
                    var["value"].as_str().unwrap_or_default()
                ),
                "key": var["key"],
                "value": var["value"],
                "target": var["target"],
            }}],
        }))
    }
}

#[tokio::test]
async fn env_values_echoed_in_failed_entries_are_scrubbed() {
    let token = sentinel("vercel-token");
    let value = sentinel("env-value");
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(RefusesEnv)
        .mount(&server)
        .await;
    let config = VercelConfig::new(&token)
        .team_id("team_leakcheck")
        .base_url(server.uri())
        .retry(RetryConfig::none());
    let client = VercelClient::new(config).unwrap();
    let logs = LogCapture::start();
    let vars = [NewEnvVar::new(
        "DATABASE_URL",
        value.clone(),
        &[EnvTarget::Production],
    )];
    let err = client
        .create_env("prj_leakcheck", &vars, false)
        .await
        .expect_err("every variable was refused");
    assert!(err.to_string().contains("invalid value"), "{err}");
    LeakCheck::new()
        .error(&err)
        .logs(&logs)
        .assert_clean(&[&token, &value]);
}
