//! Behaviour against wiremock answering with the fixture files: parsing,
//! pagination (at least three pages per list), rate limits, error bodies,
//! malformed bodies, waiting for deployments, team scoping.

mod common;

use std::time::Duration;

use common::{config, fixture, TEAM};
use serde_json::{json, Value};
use stackdock_core::dns::RecordData;
use stackdock_core::provisioning::ProvisioningState;
use stackdock_core::spec::{ResourceSpec, WebServiceSpec};
use stackdock_core::{
    DockAdapter, DockAdapterExt, ErrorKind, ListOptions, ResourceKind, ResourceStatus,
};
use stackdock_vercel::{
    DeploymentQuery, DeploymentTarget, EnvTarget, EnvType, NewEnvVar, NewProject, ReadyState,
    VercelAdapter, VercelClient, WaitOptions,
};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PROJECT: &str = "prj_12HKQaOmR5t5Uy6vdcQsNIiZgHGB";

async fn setup() -> (MockServer, VercelClient) {
    let server = MockServer::start().await;
    let client = VercelClient::new(config(&server)).unwrap();
    (server, client)
}

fn json_response(status: u16, v: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(v)
}

/// Page `n` of a listing: the fixture's list with items renamed and `next` set.
fn page(listing: &Value, key: &str, id_field: &str, n: usize, next: Value) -> Value {
    let mut body = listing.clone();
    let template = body[key][0].clone();
    body[key] = json!((0..2)
        .map(|i| {
            let mut item = template.clone();
            let id = format!("{}_{n}{i}", item[id_field].as_str().unwrap_or("x"));
            item[id_field] = json!(id);
            if key == "domains" || key == "projects" {
                item["name"] = json!(format!("p{n}{i}.acme.example"));
            }
            item
        })
        .collect::<Vec<_>>());
    body["pagination"]["next"] = next;
    body
}

/// Mount three pages at `route`: the first without the cursor parameter, then
/// `cursors[0]`, then `cursors[1]` (whose page ends the listing).
async fn three_pages(
    server: &MockServer,
    route: &str,
    listing: &Value,
    key: &str,
    id_field: &str,
    cursor_param: &str,
    cursors: [Value; 2],
) {
    let as_query = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Mock::given(method("GET"))
        .and(path(route))
        .and(query_param("teamId", TEAM))
        .and(query_param_is_missing(cursor_param))
        .respond_with(json_response(
            200,
            page(listing, key, id_field, 1, cursors[0].clone()),
        ))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(route))
        .and(query_param(cursor_param, as_query(&cursors[0])))
        .respond_with(json_response(
            200,
            page(listing, key, id_field, 2, cursors[1].clone()),
        ))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(route))
        .and(query_param(cursor_param, as_query(&cursors[1])))
        .respond_with(json_response(
            200,
            page(listing, key, id_field, 3, Value::Null),
        ))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn project_fixture_maps_to_a_web_service_without_secrets() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path(format!("/v9/projects/{PROJECT}")))
        .respond_with(json_response(200, fixture("project")))
        .mount(&server)
        .await;
    let p = client.get_project(PROJECT).await.unwrap().expect("exists");
    assert_eq!(p.meta.name, "acme-web");
    assert_eq!(p.framework.as_deref(), Some("nextjs"));
    assert_eq!(p.runtime.as_deref(), Some("22.x"));
    assert_eq!(p.repository.as_deref(), Some("acme/web"));
    assert_eq!(p.region.as_deref(), Some("iad1"));
    assert_eq!(p.url.as_deref(), Some("https://acme-web.vercel.app"));
    assert_eq!(p.urls.len(), 2);
    assert_eq!(p.meta.status, ResourceStatus::Active);
    let data = p.meta.provider_data.to_string();
    assert!(!data.contains("ciphertext"), "env values are stripped");
    assert!(!data.contains("decrypted"));
    assert!(data.contains("DATABASE_URL"), "the rest is kept");
}

#[tokio::test]
async fn projects_paginate_with_string_and_number_tokens() {
    let (server, client) = setup().await;
    three_pages(
        &server,
        "/v10/projects",
        &fixture("projects_list"),
        "projects",
        "id",
        "from",
        [
            json!("GAYDCMZUGQ4TEOBRGA2DMNRXHA3T"),
            json!(1_699_999_999_000i64),
        ],
    )
    .await;
    let all = client.list_projects().await.unwrap();
    assert_eq!(all.len(), 6);
    let names: Vec<_> = all.iter().map(|p| p.meta.name.as_str()).collect();
    assert_eq!(names[0], "p10.acme.example");
    assert_eq!(names[5], "p31.acme.example");
}

#[tokio::test]
async fn adapter_lists_every_page_through_list_all() {
    let (server, client) = setup().await;
    three_pages(
        &server,
        "/v7/deployments",
        &fixture("deployments_list"),
        "deployments",
        "uid",
        "until",
        [json!(1_700_000_099_999i64), json!(1_700_000_000_001i64)],
    )
    .await;
    let adapter = VercelAdapter::from_client(client);
    let all = adapter
        .list_all(ResourceKind::Deployment, &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 6);
    let d = all[0].as_deployment().unwrap();
    assert_eq!(d.service_id, PROJECT);
    assert_eq!(d.environment.as_deref(), Some("production"));
    assert_eq!(d.git_ref.as_deref(), Some("main"));
    assert_eq!(d.provisioning, ProvisioningState::Provisioned);
}

#[tokio::test]
async fn deployments_list_by_project_state_and_target() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v7/deployments"))
        .and(query_param("projectId", PROJECT))
        .and(query_param("state", "BUILDING,READY"))
        .and(query_param("target", "production"))
        .respond_with(json_response(
            200,
            page(
                &fixture("deployments_list"),
                "deployments",
                "uid",
                1,
                Value::Null,
            ),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let found = client
        .list_deployments(&DeploymentQuery {
            project_id: Some(PROJECT.into()),
            states: vec![ReadyState::Building, ReadyState::Ready],
            target: Some(DeploymentTarget::Production),
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
}

#[tokio::test]
async fn domains_records_and_account_domains_paginate() {
    let (server, client) = setup().await;
    three_pages(
        &server,
        &format!("/v9/projects/{PROJECT}/domains"),
        &fixture("project_domains_list"),
        "domains",
        "name",
        "until",
        [json!(1_700_000_700_000i64), json!(1_700_000_600_000i64)],
    )
    .await;
    three_pages(
        &server,
        "/v5/domains",
        &fixture("domains_list"),
        "domains",
        "id",
        "until",
        [json!(1_689_999_999_999i64), json!(1_689_999_000_000i64)],
    )
    .await;
    three_pages(
        &server,
        "/v5/domains/acme.example/records",
        &fixture("dns_records_list"),
        "records",
        "id",
        "until",
        [json!(1_700_000_999_999i64), json!(1_700_000_888_888i64)],
    )
    .await;
    assert_eq!(client.list_project_domains(PROJECT).await.unwrap().len(), 6);
    let account = client.list_domains().await.unwrap();
    assert_eq!(account.len(), 6);
    assert_eq!(
        account[0].nameservers,
        vec!["ns1.vercel-dns.com", "ns2.vercel-dns.com"]
    );
    assert_eq!(
        client.list_dns_records("acme.example").await.unwrap().len(),
        6
    );
}

#[tokio::test]
async fn dns_fixture_maps_every_record_type() {
    let (server, client) = setup().await;
    let mut body = fixture("dns_records_list");
    body["pagination"]["next"] = Value::Null;
    Mock::given(method("GET"))
        .and(path("/v5/domains/acme.example/records"))
        .respond_with(json_response(200, body))
        .mount(&server)
        .await;
    let records = client.list_dns_records("acme.example").await.unwrap();
    let data: Vec<(String, RecordData)> =
        records.into_iter().map(|r| (r.meta.name, r.data)).collect();
    assert_eq!(data.len(), 10);
    assert_eq!(
        data[0],
        (
            "acme.example".into(),
            RecordData::A {
                address: [76, 76, 21, 21].into()
            }
        )
    );
    assert_eq!(
        data[2],
        (
            "api.acme.example".into(),
            RecordData::ALIAS {
                target: "cname.vercel-dns.com".into()
            }
        )
    );
    assert_eq!(
        data[5],
        (
            "svc.acme.example".into(),
            RecordData::HTTPS {
                priority: 1,
                target: "".into(),
                params: "alpn=h2,h3".into()
            }
        )
    );
    assert_eq!(
        data[7],
        (
            "_sip._tcp.acme.example".into(),
            RecordData::SRV {
                priority: 10,
                weight: 5,
                port: 5060,
                target: "sip.acme.example".into()
            }
        )
    );
    assert_eq!(
        data[9].1,
        RecordData::NS {
            nameserver: "ns1.other-dns.example".into()
        }
    );
}

#[tokio::test]
async fn rate_limited_then_success() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path(format!("/v9/projects/{PROJECT}")))
        .respond_with(
            json_response(429, fixture("error_rate_limited"))
                .insert_header("retry-after", "0")
                .insert_header("x-ratelimit-limit", "100")
                .insert_header("x-ratelimit-remaining", "0"),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v9/projects/{PROJECT}")))
        .respond_with(json_response(200, fixture("project")))
        .expect(1)
        .mount(&server)
        .await;
    let p = client.get_project(PROJECT).await.unwrap();
    assert!(p.is_some());
}

#[tokio::test]
async fn error_bodies_map_to_kinds() {
    let (server, client) = setup().await;
    let cases = [
        ("prj_missing", 404, fixture("error_not_found")),
        ("prj_forbidden", 403, fixture("error_forbidden")),
        ("prj_badtoken", 403, fixture("error_invalid_token")),
        ("prj_broken", 500, fixture("error_internal")),
    ];
    for (id, status, body) in cases {
        Mock::given(method("GET"))
            .and(path(format!("/v9/projects/{id}")))
            .respond_with(json_response(status, body))
            .mount(&server)
            .await;
    }
    assert!(client.get_project("prj_missing").await.unwrap().is_none());
    let e = client.get_project("prj_forbidden").await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::PermissionDenied);
    let e = client.get_project("prj_badtoken").await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unauthenticated);
    let e = client.get_project("prj_broken").await.unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Provider { status: Some(500), code: Some(c), .. } if c == "internal_server_error")
    );
    assert!(!e.is_temporary(), "retries were exhausted: {e}");
    assert_eq!(e.operation(), Some("get web service"));
    // 500 on a GET is retried (3 retries in the test config).
    let hits = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/v9/projects/prj_broken")
        .count();
    assert_eq!(hits, 4);
}

#[tokio::test]
async fn conflict_on_create_with_no_project_to_adopt_is_conflict() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v9/projects/acme-web"))
        .respond_with(json_response(404, fixture("error_not_found")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v11/projects"))
        .respond_with(json_response(409, fixture("error_conflict")))
        .expect(1)
        .mount(&server)
        .await;
    let e = client
        .create_project(&NewProject {
            name: "acme-web".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict);
}

#[tokio::test]
async fn existing_project_is_adopted_when_compatible_and_conflict_when_not() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v9/projects/acme-web"))
        .respond_with(json_response(200, fixture("project")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v11/projects"))
        .respond_with(json_response(200, fixture("project")))
        .expect(0)
        .mount(&server)
        .await;
    let adapter = VercelAdapter::from_client(client);
    let same = ResourceSpec::from(WebServiceSpec {
        name: "acme-web".into(),
        framework: Some("nextjs".into()),
        repository: Some("acme/web".into()),
        ..Default::default()
    });
    let adopted = adapter.create(&same).await.unwrap();
    assert_eq!(adopted.id().id, PROJECT);
    let other = ResourceSpec::from(WebServiceSpec {
        name: "acme-web".into(),
        framework: Some("astro".into()),
        ..Default::default()
    });
    let e = adapter.create(&other).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict);
    assert!(e.to_string().contains("framework"), "{e}");
}

#[tokio::test]
async fn billing_errors_are_permission_denied() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path(format!("/v9/projects/{PROJECT}")))
        .respond_with(json_response(200, fixture("project")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v13/deployments"))
        .respond_with(json_response(402, fixture("error_payment_required")))
        .expect(1)
        .mount(&server)
        .await;
    let e = client
        .create_deployment(&stackdock_vercel::NewDeployment {
            project: PROJECT.into(),
            target: DeploymentTarget::Production,
            source: stackdock_vercel::DeploymentSource::Git {
                git_ref: None,
                sha: None,
            },
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::PermissionDenied);
    assert!(e.to_string().contains("billing"));
}

#[tokio::test]
async fn malformed_bodies_are_invalid_response() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path(format!("/v9/projects/{PROJECT}")))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>oops</html>"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v10/projects"))
        .respond_with(json_response(
            200,
            json!({"projects": "not a list", "pagination": null}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v13/deployments/dpl_noid"))
        .respond_with(json_response(200, json!({"readyState": "READY"})))
        .mount(&server)
        .await;
    let e = client.get_project(PROJECT).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidResponse);
    let e = client.list_projects().await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidResponse);
    let e = client.get_deployment("dpl_noid").await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidResponse);
}

#[tokio::test]
async fn non_advancing_cursor_is_an_error_not_a_loop() {
    let (server, client) = setup().await;
    let mut body = fixture("domains_list");
    body["pagination"]["next"] = json!(5);
    Mock::given(method("GET"))
        .and(path("/v5/domains"))
        .respond_with(json_response(200, body))
        .mount(&server)
        .await;
    let e = client.list_domains().await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidResponse);
}

#[tokio::test]
async fn env_vars_are_secrets_and_duplicates_already_exist() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path(format!("/v10/projects/{PROJECT}/env")))
        .respond_with(json_response(200, fixture("envs_list")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v10/projects/{PROJECT}/env")))
        .and(query_param_is_missing("upsert"))
        .respond_with(json_response(201, fixture("env_failed")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v10/projects/prj_other/env"))
        .respond_with(json_response(403, fixture("error_env_exists")))
        .mount(&server)
        .await;
    let envs = client.list_env(PROJECT).await.unwrap();
    assert_eq!(envs.len(), 3);
    assert_eq!(envs[1].kind, EnvType::Plain);
    assert_eq!(envs[1].targets, vec![EnvTarget::Preview]);
    assert_eq!(envs[1].git_branch.as_deref(), Some("staging"));
    assert_eq!(envs[2].targets, vec![EnvTarget::Production]);
    for e in &envs {
        let shown = format!("{e:?}");
        assert!(
            !shown.contains("api.acme.example") && !shown.contains("ciphertext"),
            "{shown}"
        );
        assert!(e.provider_data.get("value").is_none());
        assert!(e.provider_data.get("decrypted").is_none());
    }
    let var = NewEnvVar::new("DATABASE_URL", "pw", &[EnvTarget::Production]);
    let e = client
        .create_env(PROJECT, std::slice::from_ref(&var), false)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::AlreadyExists);
    let e = client
        .create_env("prj_other", &[var], false)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::AlreadyExists);
}

#[tokio::test]
async fn cancel_and_delete_deployments() {
    let (server, client) = setup().await;
    Mock::given(method("PATCH"))
        .and(path(
            "/v12/deployments/dpl_2N5JxP9T4qQnFcRkfk3yZs6b7Hq1/cancel",
        ))
        .respond_with(json_response(200, fixture("deployment_canceled")))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v13/deployments/dpl_2N5JxP9T4qQnFcRkfk3yZs6b7Hq1"))
        .respond_with(json_response(200, fixture("deployment_deleted")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v13/deployments/dpl_2N5JxP9T4qQnFcRkfk3yZs6b7Hq1"))
        .respond_with(json_response(404, fixture("error_not_found")))
        .mount(&server)
        .await;
    let d = client
        .cancel_deployment("dpl_2N5JxP9T4qQnFcRkfk3yZs6b7Hq1")
        .await
        .unwrap();
    assert_eq!(d.meta.status, ResourceStatus::Error);
    assert_eq!(d.provisioning, ProvisioningState::Failed);
    assert_eq!(d.environment.as_deref(), Some("preview"));
    client
        .delete_deployment("dpl_2N5JxP9T4qQnFcRkfk3yZs6b7Hq1")
        .await
        .unwrap();
    client
        .delete_deployment("dpl_2N5JxP9T4qQnFcRkfk3yZs6b7Hq1")
        .await
        .unwrap();
}

fn with_state(state: &str) -> Value {
    let mut d = fixture("deployment_created");
    d["readyState"] = json!(state);
    d
}

const DPL: &str = "dpl_2N5JxP9T4qQnFcRkfk3yZs6b7Hq1";

fn fast_wait() -> WaitOptions {
    WaitOptions {
        timeout: Duration::from_secs(5),
        initial_interval: Duration::from_millis(5),
        max_interval: Duration::from_millis(20),
    }
}

#[tokio::test]
async fn wait_until_ready_polls_through_the_build() {
    let (server, client) = setup().await;
    for state in ["QUEUED", "BUILDING", "INITIALIZING"] {
        Mock::given(method("GET"))
            .and(path(format!("/v13/deployments/{DPL}")))
            .respond_with(json_response(200, with_state(state)))
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(format!("/v13/deployments/{DPL}")))
        .respond_with(json_response(200, with_state("READY")))
        .mount(&server)
        .await;
    let d = client.wait_until_ready(DPL, &fast_wait()).await.unwrap();
    assert_eq!(d.provisioning, ProvisioningState::Provisioned);
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
}

#[tokio::test]
async fn wait_until_ready_reports_failed_builds_and_deadlines() {
    let (server, client) = setup().await;
    let mut failed = with_state("ERROR");
    failed["errorCode"] = json!("BUILD_FAILED");
    failed["errorMessage"] = json!("Command \"npm run build\" exited with 1");
    Mock::given(method("GET"))
        .and(path("/v13/deployments/dpl_failed"))
        .respond_with(json_response(200, failed))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v13/deployments/dpl_slow"))
        .respond_with(json_response(200, with_state("BUILDING")))
        .mount(&server)
        .await;
    let e = client
        .wait_until_ready("dpl_failed", &fast_wait())
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Provider { code: Some(c), .. } if c == "BUILD_FAILED"));
    let e = client
        .wait_until_ready(
            "dpl_slow",
            &WaitOptions {
                timeout: Duration::from_millis(60),
                ..fast_wait()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Timeout);
}

#[tokio::test]
async fn dropping_the_wait_stops_polling() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v13/deployments/dpl_slow"))
        .respond_with(json_response(200, with_state("BUILDING")))
        .mount(&server)
        .await;
    let waited = tokio::time::timeout(
        Duration::from_millis(100),
        client.wait_until_ready("dpl_slow", &fast_wait()),
    )
    .await;
    assert!(waited.is_err(), "still building when dropped");
    let after_drop = server.received_requests().await.unwrap().len();
    assert!(after_drop >= 2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.received_requests().await.unwrap().len(), after_drop);
}

#[tokio::test]
async fn team_slug_goes_on_every_call() {
    let server = MockServer::start().await;
    let client = VercelClient::new(config(&server).team_slug("acme")).unwrap();
    Mock::given(method("GET"))
        .and(path("/v2/user"))
        .and(query_param("slug", "acme"))
        .and(query_param_is_missing("teamId"))
        .respond_with(json_response(200, fixture("user")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/v9/projects/{PROJECT}")))
        .and(query_param("slug", "acme"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    client.check_credentials().await.unwrap();
    client.delete_project(PROJECT).await.unwrap();
    let auth = server.received_requests().await.unwrap()[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(auth, format!("Bearer {}", common::TOKEN));
}

#[tokio::test]
async fn unverified_project_domains_surface_verification_records() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/v9/projects/{PROJECT}/domains/shop.acme.example"
        )))
        .respond_with(json_response(200, fixture("project_domain_unverified")))
        .mount(&server)
        .await;
    let d = client
        .get_project_domain(PROJECT, "shop.acme.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.verified, Some(false));
    assert_eq!(d.meta.status, ResourceStatus::Pending);
    assert_eq!(d.verification.len(), 1);
    assert_eq!(d.verification[0].record_type, "TXT");
    assert_eq!(d.verification[0].name, "_vercel.acme.example");
    assert!(d.verification[0].value.starts_with("vc-domain-verify="));
    assert_eq!(
        d.meta.reference.provider_resource_id,
        format!("{PROJECT}/shop.acme.example")
    );
}

#[tokio::test]
async fn domain_held_by_another_project_is_already_exists() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/v9/projects/{PROJECT}/domains/shop.acme.example"
        )))
        .respond_with(json_response(404, fixture("error_not_found")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v10/projects/{PROJECT}/domains")))
        .respond_with(json_response(409, fixture("error_domain_in_use")))
        .mount(&server)
        .await;
    let e = client
        .add_project_domain(
            PROJECT,
            &stackdock_vercel::NewProjectDomain {
                name: "shop.acme.example".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::AlreadyExists);
}

#[tokio::test]
async fn env_listing_follows_pagination_when_present() {
    let (server, client) = setup().await;
    three_pages(
        &server,
        &format!("/v10/projects/{PROJECT}/env"),
        &fixture("envs_list"),
        "envs",
        "id",
        "until",
        [json!(1_700_000_000_400i64), json!(1_700_000_000_300i64)],
    )
    .await;
    let envs = client.list_env(PROJECT).await.unwrap();
    assert_eq!(envs.len(), 6);
    assert!(envs.iter().all(|e| e.provider_data.get("value").is_none()));
}

/// Links as @vercel/sdk models them: `repoId` is a number for GitHub and a
/// string for `vercel`, `v0` and `cursor-origin` links.
fn links_with_string_repo_ids() -> Vec<Value> {
    vec![
        json!({"type": "vercel", "org": "acme", "repo": "web", "repoId": "repo_9a8b7c6d",
               "deployHooks": [], "gitCredentialId": "", "productionBranch": "main"}),
        json!({"type": "v0", "org": "acme", "repo": "web", "repoId": "v0_repo_41",
               "deployHooks": [], "gitCredentialId": "", "productionBranch": "main"}),
        json!({"type": "cursor-origin", "owner": "acme", "repo": "web", "repoId": "crepo_17",
               "ownerId": "ns_acme", "deployHooks": [], "gitCredentialId": "",
               "productionBranch": "main"}),
    ]
}

#[tokio::test]
async fn string_repo_ids_read_in_get_list_and_inventory() {
    use stackdock_vercel::InventoryOptions;
    let (server, client) = setup().await;
    let projects: Vec<Value> = links_with_string_repo_ids()
        .into_iter()
        .enumerate()
        .map(|(i, link)| {
            let mut p = fixture("project");
            p["id"] = json!(format!("prj_link{i}"));
            p["link"] = link;
            p
        })
        .collect();
    for p in &projects {
        Mock::given(method("GET"))
            .and(path(format!("/v9/projects/{}", p["id"].as_str().unwrap())))
            .respond_with(json_response(200, p.clone()))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/v10/projects"))
        .respond_with(json_response(
            200,
            json!({"projects": projects, "pagination": {"count": 3, "next": null, "prev": null}}),
        ))
        .mount(&server)
        .await;
    for p in &projects {
        let got = client
            .get_project(p["id"].as_str().unwrap())
            .await
            .unwrap()
            .expect("exists");
        assert_eq!(got.repository.as_deref(), Some("acme/web"), "{}", p["link"]);
    }
    assert_eq!(client.list_projects().await.unwrap().len(), 3);
    let inv = client
        .inventory(&InventoryOptions {
            concurrency: 2,
            domains: false,
        })
        .await
        .unwrap();
    assert_eq!(inv.projects.len(), 3);
}

#[tokio::test]
async fn region_is_read_from_resource_config_and_legacy_payloads() {
    let (server, client) = setup().await;
    // Current shape: the region lives in resourceConfig only.
    let current = fixture("project");
    assert!(current.get("serverlessFunctionRegion").is_none());
    // Older payloads carry only the legacy field.
    let mut legacy = fixture("project");
    legacy["id"] = json!("prj_legacy");
    legacy.as_object_mut().unwrap().remove("resourceConfig");
    legacy["serverlessFunctionRegion"] = json!("fra1");
    for p in [current, legacy] {
        Mock::given(method("GET"))
            .and(path(format!("/v9/projects/{}", p["id"].as_str().unwrap())))
            .respond_with(json_response(200, p))
            .mount(&server)
            .await;
    }
    let p = client.get_project(PROJECT).await.unwrap().unwrap();
    assert_eq!(p.region.as_deref(), Some("iad1"));
    let p = client.get_project("prj_legacy").await.unwrap().unwrap();
    assert_eq!(p.region.as_deref(), Some("fra1"));
}

/// Every file in `tests/fixtures/` is loaded, by name, by some test (or the
/// benchmark): a fixture nothing reads cannot catch a parsing regression.
#[test]
fn every_fixture_is_loaded_by_a_test() {
    let root = env!("CARGO_MANIFEST_DIR");
    let sources: String = [
        "tests/wire.rs",
        "tests/lifecycle.rs",
        "tests/conformance.rs",
        "tests/request_bodies.rs",
        "tests/common/mod.rs",
        "benches/inventory.rs",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(format!("{root}/{f}")).unwrap())
    .collect();
    let mut unused = Vec::new();
    for entry in std::fs::read_dir(format!("{root}/tests/fixtures")).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        let name = file.strip_suffix(".json").expect("fixtures are JSON");
        if !sources.contains(&format!("fixture(\"{name}\")")) {
            unused.push(file);
        }
    }
    assert!(unused.is_empty(), "fixtures no test loads: {unused:?}");
}

/// The fields @vercel/sdk 1.28 (commit 426eb4b, `src/models/*.ts`) marks as
/// required in each response the fixtures stand for.
#[test]
fn fixtures_hold_the_fields_current_schemas_require() {
    const DEPLOYMENT: &[&str] = &[
        "build",
        "env",
        "inspectorUrl",
        "isInConcurrentBuildsQueue",
        "isInSystemBuildsQueue",
        "projectSettings",
        "aliasAssigned",
        "bootedAt",
        "buildingAt",
        "buildSkipped",
        "creator",
        "public",
        "status",
        "id",
        "readyState",
        "createdAt",
        "name",
        "type",
        "meta",
        "regions",
        "url",
        "version",
        "projectId",
        "plan",
        "createdIn",
        "ownerId",
        "routes",
    ];
    const PROJECT: &[&str] = &[
        "accountId",
        "alias",
        "deploymentExpiration",
        "directoryListing",
        "id",
        "name",
        "nodeVersion",
        "resourceConfig",
        "defaultResourceConfig",
    ];
    const PROJECT_DOMAIN: &[&str] = &["name", "apexName", "projectId", "verified"];
    const ACCOUNT_DOMAIN: &[&str] = &[
        "expiresAt",
        "verified",
        "nameservers",
        "intendedNameservers",
        "creator",
        "name",
        "teamId",
        "boughtAt",
        "createdAt",
        "id",
        "serviceType",
        "userId",
    ];
    const ENV: &[&str] = &["type", "value", "key"];
    let cases: &[(&str, &str, &[&str])] = &[
        ("project", "", PROJECT),
        ("project", "/resourceConfig", &["functionDefaultRegions"]),
        ("projects_list", "/projects/0", PROJECT),
        ("deployment", "", DEPLOYMENT),
        ("deployment_created", "", DEPLOYMENT),
        ("deployment_canceled", "", DEPLOYMENT),
        ("deployment_deleted", "", &["uid", "state"]),
        (
            "deployments_list",
            "/deployments/0",
            &[
                "createdAt",
                "readyState",
                "uid",
                "name",
                "projectId",
                "url",
                "created",
                "type",
                "creator",
                "inspectorUrl",
            ],
        ),
        ("dns_record_created", "", &["uid", "updated"]),
        (
            "dns_record_updated",
            "",
            &[
                "id",
                "name",
                "type",
                "value",
                "creator",
                "domain",
                "recordType",
            ],
        ),
        (
            "dns_records_list",
            "/records/0",
            &[
                "id",
                "slug",
                "name",
                "type",
                "value",
                "creator",
                "created",
                "updated",
                "createdAt",
                "updatedAt",
            ],
        ),
        ("domain", "/domain", ACCOUNT_DOMAIN),
        ("domains_list", "/domains/0", ACCOUNT_DOMAIN),
        ("env_created", "", &["failed"]),
        ("env_created", "/created/0", ENV),
        ("env_failed", "/failed/0/error", &["code", "message"]),
        ("envs_list", "", &["envs", "pagination"]),
        ("envs_list", "/envs/0", ENV),
        ("project_domain_verified", "", PROJECT_DOMAIN),
        ("project_domain_unverified", "", PROJECT_DOMAIN),
        ("project_domains_list", "/domains/0", PROJECT_DOMAIN),
        (
            "user",
            "/user",
            &[
                "createdAt",
                "softBlock",
                "billing",
                "resourceConfig",
                "stagingPrefix",
                "hasTrialAvailable",
                "id",
                "email",
                "name",
                "username",
                "avatar",
                "defaultTeamId",
            ],
        ),
    ];
    let mut missing = Vec::new();
    for (name, pointer, required) in cases {
        let body = fixture(name);
        let object = body.pointer(pointer).unwrap_or(&Value::Null);
        for field in *required {
            if object.get(field).is_none() {
                missing.push(format!("{name}{pointer}.{field}"));
            }
        }
    }
    assert!(missing.is_empty(), "missing required fields: {missing:?}");
    // A record update's `type` is the record kind, not the DNS type (that is `recordType`).
    let updated = fixture("dns_record_updated");
    assert!(["record", "record-sys"].contains(&updated["type"].as_str().unwrap()));
}

#[tokio::test]
async fn deployment_fixture_maps_to_a_deployment() {
    let (server, client) = setup().await;
    let body = fixture("deployment");
    let id = body["id"].as_str().unwrap().to_owned();
    Mock::given(method("GET"))
        .and(path(format!("/v13/deployments/{id}")))
        .respond_with(json_response(200, body))
        .mount(&server)
        .await;
    let d = client.get_deployment(&id).await.unwrap().expect("exists");
    assert_eq!(d.service_id, PROJECT);
    assert_eq!(d.provisioning, ProvisioningState::Provisioned);
    assert_eq!(d.environment.as_deref(), Some("production"));
    assert_eq!(d.git_ref.as_deref(), Some("main"));
    assert_eq!(
        d.commit_sha.as_deref(),
        Some("dc36199b2234c6586ebe05ec94078a895c707e29")
    );
    assert_eq!(
        d.url.as_deref(),
        Some("https://acme-web-8fr2zcmtd-acme.vercel.app")
    );
}

#[tokio::test]
async fn account_domain_fixture_reads_through_get_domain() {
    let (server, client) = setup().await;
    Mock::given(method("GET"))
        .and(path("/v5/domains/acme.example"))
        .respond_with(json_response(200, fixture("domain")))
        .mount(&server)
        .await;
    let d = client.get_domain("acme.example").await.unwrap().unwrap();
    assert_eq!(d.meta.name, "acme.example");
    assert_eq!(d.verified, Some(true));
    assert_eq!(d.meta.status, ResourceStatus::Active);
    assert_eq!(
        d.nameservers,
        vec!["ns1.vercel-dns.com", "ns2.vercel-dns.com"]
    );
}

#[tokio::test]
async fn created_record_takes_the_uid_vercel_answers() {
    let (server, client) = setup().await;
    let mut empty = fixture("dns_records_list");
    empty["records"] = json!([]);
    empty["pagination"]["next"] = Value::Null;
    Mock::given(method("GET"))
        .and(path("/v5/domains/acme.example/records"))
        .respond_with(json_response(200, empty))
        .mount(&server)
        .await;
    let created = fixture("dns_record_created");
    Mock::given(method("POST"))
        .and(path("/v2/domains/acme.example/records"))
        .respond_with(json_response(200, created.clone()))
        .expect(1)
        .mount(&server)
        .await;
    let data = RecordData::A {
        address: [192, 0, 2, 2].into(),
    };
    let r = client
        .create_dns_record("acme.example", "www", Some(600), &data, None)
        .await
        .unwrap();
    let uid = created["uid"].as_str().unwrap();
    assert_eq!(
        r.meta.reference.provider_resource_id,
        format!("acme.example/{uid}")
    );
    assert_eq!(r.meta.name, "www.acme.example");
    assert_eq!((r.ttl, r.data), (600, data));
}

#[tokio::test]
async fn created_env_vars_come_back_without_their_values() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path(format!("/v10/projects/{PROJECT}/env")))
        .respond_with(json_response(201, fixture("env_created")))
        .expect(1)
        .mount(&server)
        .await;
    let var = NewEnvVar::new(
        "DATABASE_URL",
        "postgres://app:hunter2@db/app",
        &[EnvTarget::Production, EnvTarget::Preview],
    );
    let created = client.create_env(PROJECT, &[var], false).await.unwrap();
    assert_eq!(created.len(), 1);
    let e = &created[0];
    assert_eq!(
        (e.id.as_str(), e.key.as_str()),
        ("zKsUGbAmdT7SdcMZ", "DATABASE_URL")
    );
    assert_eq!(e.kind, EnvType::Encrypted);
    assert_eq!(e.targets, vec![EnvTarget::Production, EnvTarget::Preview]);
    assert!(e.value.is_some(), "the ciphertext is kept, as a secret");
    let shown = format!("{e:?} {}", e.provider_data);
    assert!(
        !shown.contains("ciphertext") && !shown.contains("decrypted"),
        "{shown}"
    );
}

#[tokio::test]
async fn verified_project_domain_has_no_verification_records() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/v9/projects/{PROJECT}/domains/shop.acme.example/verify"
        )))
        .respond_with(json_response(200, fixture("project_domain_verified")))
        .expect(1)
        .mount(&server)
        .await;
    let d = client
        .verify_project_domain(PROJECT, "shop.acme.example")
        .await
        .unwrap();
    assert_eq!(d.verified, Some(true));
    assert_eq!(d.meta.status, ResourceStatus::Active);
    assert!(d.verification.is_empty());
    assert_eq!(d.service_id.as_deref(), Some(PROJECT));
}
