//! Typed-client flows against the stateful fake and wiremock: account domains,
//! env var lifecycle, adoption finishing an interrupted create, rollback.

mod common;

use common::{config, fixture, FakeVercel};
use serde_json::json;
use stackdock_core::spec::{DomainSpec, ResourceSpec};
use stackdock_core::{DockAdapter, DockAdapterExt, ErrorKind, ListOptions, ResourceKind};
use stackdock_vercel::{EnvTarget, NewEnvVar, NewProject, VercelClient};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn account_domains_through_the_adapter() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let adapter = FakeVercel::adapter(&server);
    let spec = ResourceSpec::from(DomainSpec {
        name: "New.Example.".into(),
        ..Default::default()
    });
    let created = adapter.create(&spec).await.unwrap();
    assert_eq!(created.id().id, "new.example");
    assert!(created.was_created());
    let again = adapter.create(&spec).await.unwrap();
    assert_eq!(again.id(), created.id(), "adding twice adopts");
    assert_eq!(again.outcome, stackdock_core::CreateOutcome::Adopted);
    let listed = adapter
        .list_all(ResourceKind::Domain, &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let d = adapter
        .client()
        .get_domain("new.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.verified, Some(false));
    assert_eq!(
        d.nameservers,
        vec!["ns1.registrar.example", "ns2.registrar.example"]
    );
    adapter.delete(&created.id()).await.unwrap();
    adapter.delete(&created.id()).await.unwrap();
    assert!(adapter
        .client()
        .get_domain("new.example")
        .await
        .unwrap()
        .is_none());
    let e = adapter
        .create(&ResourceSpec::from(DomainSpec {
            name: "redirect.example".into(),
            redirect: Some("new.example".into()),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput { .. }));
}

#[tokio::test]
async fn env_var_lifecycle() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let project = fake.seed_project("acme-web");
    let client = FakeVercel::adapter(&server).client().clone();
    let var = NewEnvVar::new("API_URL", "https://one.example", &[EnvTarget::Production]);
    client
        .create_env(&project, std::slice::from_ref(&var), false)
        .await
        .unwrap();
    let e = client
        .create_env(&project, std::slice::from_ref(&var), false)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::AlreadyExists);
    let changed = NewEnvVar::new("API_URL", "https://two.example", &[EnvTarget::Production]);
    client.create_env(&project, &[changed], true).await.unwrap();
    assert_eq!(fake.env_values(&project), vec!["https://two.example"]);
    let listed = client.list_env(&project).await.unwrap();
    assert_eq!(listed.len(), 1);
    client.delete_env(&project, &listed[0].id).await.unwrap();
    client.delete_env(&project, &listed[0].id).await.unwrap();
    assert!(client.list_env(&project).await.unwrap().is_empty());
    let calls = fake.calls();
    let e = client
        .create_env(
            &project,
            &[NewEnvVar::new("BAD KEY", "x", &[EnvTarget::Preview])],
            true,
        )
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput { .. }));
    assert_eq!(fake.calls(), calls, "rejected before any call");
}

#[tokio::test]
async fn adopting_a_project_adds_missing_env_vars() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let project = fake.seed_project("acme-web");
    let client = FakeVercel::adapter(&server).client().clone();
    let adopted = client
        .create_project(&NewProject {
            name: "acme-web".into(),
            framework: Some("nextjs".into()),
            environment_variables: vec![NewEnvVar::new(
                "DATABASE_URL",
                "postgres://app@db/app",
                &[EnvTarget::Production],
            )],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(adopted.meta.reference.provider_resource_id, project);
    assert_eq!(fake.env_values(&project), vec!["postgres://app@db/app"]);
    assert_eq!(fake.project_count(), 1);
}

#[tokio::test]
async fn failed_node_version_rolls_the_new_project_back() {
    let server = MockServer::start().await;
    let client = VercelClient::new(config(&server)).unwrap();
    Mock::given(method("GET"))
        .and(path("/v9/projects/acme-web"))
        .respond_with(ResponseTemplate::new(404).set_body_json(fixture("error_not_found")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v11/projects"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("project")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/v9/projects/prj_12HKQaOmR5t5Uy6vdcQsNIiZgHGB"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": {"code": "bad_request", "message": "Invalid request: `nodeVersion` should be equal to one of the allowed values", "key": "nodeVersion"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v9/projects/prj_12HKQaOmR5t5Uy6vdcQsNIiZgHGB"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    // A version from the API's enum that Vercel still refuses afterwards.
    let e = client
        .create_project(&NewProject {
            name: "acme-web".into(),
            node_version: Some("24.x".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput { field, .. } if field == "nodeVersion"));
}

#[tokio::test]
async fn observing_a_record_of_an_unknown_zone_is_absent() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let adapter = FakeVercel::adapter(&server);
    let id = stackdock_core::ResourceId::new(ResourceKind::DnsRecord, "nowhere.example/rec_1");
    let observed = adapter.observe(&id, None).await.unwrap();
    assert!(!observed.exists());
}

#[tokio::test]
async fn values_outside_the_api_enums_fail_before_any_call() {
    use stackdock_vercel::{DeploymentQuery, ProjectUpdate, ReadyState};
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let client = FakeVercel::adapter(&server).client().clone();
    let project = |framework: &str, node: &str| NewProject {
        name: "acme-enum".into(),
        framework: Some(framework.into()),
        node_version: Some(node.into()),
        ..Default::default()
    };
    for (p, field) in [
        (project("next-js", "22.x"), "framework"),
        (project("nextjs", "23.x"), "runtime"),
        (project("nextjs", "8.10.x"), "runtime"),
    ] {
        let e = client.create_project(&p).await.unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::InvalidInput { field: f, .. } if f == field),
            "{e}"
        );
    }
    let bad_update = ProjectUpdate {
        framework: Some("gatsbyjs".into()),
        ..Default::default()
    };
    assert!(client
        .update_project("acme-enum", &bad_update)
        .await
        .is_err());
    for state in [ReadyState::Deleted, ReadyState::parse("PAUSED")] {
        let q = DeploymentQuery {
            states: vec![ReadyState::Ready, state],
            ..Default::default()
        };
        let e = client.list_deployments(&q).await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidInput { .. }), "{e}");
    }
    assert_eq!(fake.calls(), 0, "nothing reached Vercel");
    assert_eq!(fake.project_count(), 0);
}

#[tokio::test]
async fn adapter_domain_update_keeps_the_git_branch() {
    use stackdock_vercel::NewProjectDomain;
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let project = fake.seed_project("acme-branch");
    let adapter = FakeVercel::adapter(&server);
    let domain = adapter
        .client()
        .add_project_domain(
            &project,
            &NewProjectDomain {
                name: "staging.acme.example".into(),
                git_branch: Some("staging".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // DomainSpec has no branch: an update through the adapter must not clear it.
    let spec = ResourceSpec::from(DomainSpec {
        name: "staging.acme.example".into(),
        service_id: Some(project.clone()),
        redirect: Some("acme.example".into()),
        ..Default::default()
    });
    adapter
        .update(&domain.meta.reference.id(), &spec)
        .await
        .unwrap();
    let after = adapter
        .client()
        .get_project_domain(&project, "staging.acme.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.redirect.as_deref(), Some("acme.example"));
    assert_eq!(after.meta.provider_data["gitBranch"], "staging");
}
