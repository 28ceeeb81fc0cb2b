//! Snapshots of every request body the crate sends, through the stateful fake.
//! Env var values must reach Vercel, so the tests check the raw body holds
//! them and the snapshots redact them.

mod common;

use common::{bodies, FakeVercel};
use serde_json::{json, Value};
use stackdock_core::dns::RecordData;
use stackdock_core::spec::{DnsRecordSpec, ResourceSpec, WebServiceSpec};
use stackdock_core::DockAdapter;
use stackdock_vercel::{
    DeploymentSource, DeploymentTarget, EnvTarget, EnvType, GitProvider, NewDeployment, NewEnvVar,
    NewProject, NewProjectDomain, ProjectUpdate,
};

const SECRET_VALUE: &str = "postgres://app:hunter2@db.acme.example/app";

fn body_of<'a>(all: &'a [(String, Value)], route: &str) -> &'a Value {
    &all.iter()
        .find(|(r, _)| r == route)
        .unwrap_or_else(|| panic!("no {route} in {all:?}"))
        .1
}

#[tokio::test]
async fn project_bodies() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let adapter = FakeVercel::adapter(&server);
    let client = adapter.client();
    let project = client
        .create_project(&NewProject {
            name: "acme-shop".into(),
            framework: Some("nextjs".into()),
            repository: Some("acme/shop".into()),
            git_provider: GitProvider::GitHub,
            build_command: Some("pnpm build".into()),
            install_command: Some("pnpm install".into()),
            output_directory: Some(".next".into()),
            root_directory: Some("apps/shop".into()),
            node_version: Some("20.x".into()),
            region: Some("fra1".into()),
            environment_variables: vec![
                NewEnvVar::new(
                    "DATABASE_URL",
                    SECRET_VALUE,
                    &[EnvTarget::Production, EnvTarget::Preview],
                ),
                NewEnvVar::new("FEATURE_FLAG", "on", &[EnvTarget::Preview])
                    .kind(EnvType::Plain)
                    .git_branch("staging"),
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(project.runtime.as_deref(), Some("20.x"));
    let id = project.meta.reference.provider_resource_id.clone();
    assert_eq!(
        fake.env_values(&id)[0],
        SECRET_VALUE,
        "the value reached Vercel"
    );
    assert!(!format!("{project:?}").contains("hunter2"));
    assert!(!project.meta.provider_data.to_string().contains("hunter2"));

    client
        .update_project(
            &id,
            &ProjectUpdate {
                framework: Some("astro".into()),
                output_directory: Some("dist".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // Through the adapter: only what the spec sets is sent.
    adapter
        .update(
            &project.meta.reference.id(),
            &ResourceSpec::from(WebServiceSpec {
                name: "acme-shop".into(),
                region: Some("iad1".into()),
                ..Default::default()
            }),
        )
        .await
        .unwrap();

    let all = bodies(&server).await;
    let create = body_of(&all, "POST /v11/projects");
    assert!(create.to_string().contains(SECRET_VALUE));
    // The region goes in the current field, not the legacy one.
    assert_eq!(
        create["resourceConfig"],
        serde_json::json!({"functionDefaultRegions": ["fra1"]})
    );
    assert!(create.get("serverlessFunctionRegion").is_none());
    insta::assert_json_snapshot!("create_project", create, {
        ".environmentVariables[].value" => "[redacted]",
    });
    let patches: Vec<&Value> = all
        .iter()
        .filter(|(r, _)| r.starts_with("PATCH /v9/projects/"))
        .map(|(_, b)| b)
        .collect();
    insta::assert_json_snapshot!("update_project", patches);
}

#[tokio::test]
async fn deployment_bodies() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let project = fake.seed_project("acme-web");
    let client = FakeVercel::adapter(&server).client().clone();
    let from_git = client
        .create_deployment(&NewDeployment {
            project: project.clone(),
            target: DeploymentTarget::Production,
            source: DeploymentSource::Git {
                git_ref: Some("release/2024-11".into()),
                sha: Some("dc36199b2234c6586ebe05ec94078a895c707e29".into()),
            },
        })
        .await
        .unwrap();
    client
        .create_deployment(&NewDeployment {
            project: "acme-web".into(),
            target: DeploymentTarget::Preview,
            source: DeploymentSource::Redeploy {
                deployment_id: from_git.meta.reference.provider_resource_id.clone(),
            },
        })
        .await
        .unwrap();
    let all = bodies(&server).await;
    let posts: Vec<&Value> = all
        .iter()
        .filter(|(r, _)| r == "POST /v13/deployments")
        .map(|(_, b)| b)
        .collect();
    insta::assert_json_snapshot!("create_deployments", posts);
}

/// The `gitSource` type follows the project's link (@vercel/sdk 1.28
/// create-deployment `gitSource` variants).
#[tokio::test]
async fn deployment_git_sources_follow_the_link_type() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let client = FakeVercel::adapter(&server).client().clone();
    let links = [
        json!({"type": "github-limited", "org": "acme", "repo": "web", "repoId": 123456789,
               "productionBranch": "main", "deployHooks": [], "gitCredentialId": ""}),
        json!({"type": "cursor-origin", "owner": "acme", "repo": "web", "repoId": "crepo_17",
               "ownerId": "ns_acme", "productionBranch": "main", "deployHooks": [],
               "gitCredentialId": ""}),
        json!({"type": "vercel", "org": "acme", "repo": "web", "productionBranch": "main",
               "deployHooks": [], "gitCredentialId": ""}),
    ];
    for (i, link) in links.into_iter().enumerate() {
        let project = fake.seed_project_with_link(&format!("acme-link-{i}"), link);
        client
            .create_deployment(&NewDeployment {
                project,
                target: DeploymentTarget::Preview,
                source: DeploymentSource::Git {
                    git_ref: None,
                    sha: Some("dc36199b2234c6586ebe05ec94078a895c707e29".into()),
                },
            })
            .await
            .unwrap();
    }
    let all = bodies(&server).await;
    let sources: Vec<&Value> = all
        .iter()
        .filter(|(r, _)| r == "POST /v13/deployments")
        .map(|(_, b)| &b["gitSource"])
        .collect();
    assert_eq!(sources[0]["type"], "github-limited");
    insta::assert_json_snapshot!("deployment_git_sources", sources);
}

#[tokio::test]
async fn domain_bodies() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let project = fake.seed_project("acme-web");
    let client = FakeVercel::adapter(&server).client().clone();
    let added = client
        .add_project_domain(
            &project,
            &NewProjectDomain {
                name: "www.acme.example".into(),
                redirect: Some("acme.example".into()),
                redirect_status_code: Some(308),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(added.verified, Some(false));
    assert_eq!(added.verification.len(), 1);
    client
        .update_project_domain(
            &project,
            &NewProjectDomain {
                name: "www.acme.example".into(),
                git_branch: Some("staging".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // `None` clears the branch: the PATCH carries an explicit `null`.
    let cleared = client
        .update_project_domain(
            &project,
            &NewProjectDomain {
                name: "www.acme.example".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.meta.provider_data["gitBranch"], Value::Null);
    let patches: Vec<Value> = bodies(&server)
        .await
        .into_iter()
        .filter(|(r, _)| r.starts_with("PATCH "))
        .map(|(_, b)| b)
        .collect();
    assert_eq!(patches[0]["gitBranch"], "staging");
    assert_eq!(
        patches[1].get("gitBranch"),
        Some(&Value::Null),
        "{}",
        patches[1]
    );
    let verified = client
        .verify_project_domain(&project, "www.acme.example")
        .await
        .unwrap();
    assert_eq!(verified.verified, Some(true));
    assert!(verified.verification.is_empty());
    client.add_domain("acme.example").await.unwrap();
    let all = bodies(&server).await;
    let sent: Vec<&(String, Value)> = all.iter().filter(|(r, _)| r.contains("domains")).collect();
    insta::assert_json_snapshot!("domain_bodies", sent);
}

#[tokio::test]
async fn dns_record_bodies_for_every_type() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    fake.seed_zone("acme.example");
    let adapter = FakeVercel::adapter(&server);
    let records = vec![
        (
            "@",
            RecordData::A {
                address: [76, 76, 21, 21].into(),
            },
        ),
        (
            "www",
            RecordData::AAAA {
                address: "2001:db8::1".parse().unwrap(),
            },
        ),
        (
            "api",
            RecordData::ALIAS {
                target: "cname.vercel-dns.com".into(),
            },
        ),
        (
            "@",
            RecordData::CAA {
                flags: 0,
                tag: "issue".into(),
                value: "letsencrypt.org".into(),
            },
        ),
        (
            "blog",
            RecordData::CNAME {
                target: "cname.vercel-dns.com".into(),
            },
        ),
        (
            "svc",
            RecordData::HTTPS {
                priority: 1,
                target: "".into(),
                params: "alpn=h2,h3".into(),
            },
        ),
        (
            "@",
            RecordData::MX {
                preference: 10,
                exchange: "mx1.mail.example".into(),
            },
        ),
        (
            "_sip._tcp",
            RecordData::SRV {
                priority: 10,
                weight: 5,
                port: 5060,
                target: "sip.acme.example".into(),
            },
        ),
        (
            "@",
            RecordData::TXT {
                text: "v=spf1 include:_spf.mail.example ~all".into(),
            },
        ),
        (
            "sub",
            RecordData::NS {
                nameserver: "ns1.other-dns.example".into(),
            },
        ),
    ];
    let mut ids = Vec::new();
    for (name, data) in &records {
        let spec = ResourceSpec::from(DnsRecordSpec {
            zone: "acme.example".into(),
            name: (*name).into(),
            ttl: Some(300),
            data: data.clone(),
            common: Default::default(),
        });
        let created = adapter.create(&spec).await.unwrap();
        ids.push(created.id());
        // What Vercel lists reads back as the same record: up to date.
        let observed = adapter.observe(&created.id(), Some(&spec)).await.unwrap();
        assert!(observed.up_to_date, "{name} {data:?}: {:?}", observed.diff);
    }
    adapter
        .update(
            &ids[7],
            &ResourceSpec::from(DnsRecordSpec {
                zone: "acme.example".into(),
                name: "_sip._tcp".into(),
                ttl: Some(600),
                data: RecordData::SRV {
                    priority: 20,
                    weight: 5,
                    port: 5061,
                    target: "sip2.acme.example".into(),
                },
                common: Default::default(),
            }),
        )
        .await
        .unwrap();
    let all = bodies(&server).await;
    let sent: Vec<&(String, Value)> = all.iter().filter(|(r, _)| r.contains("records")).collect();
    insta::assert_json_snapshot!("dns_record_bodies", sent);
}

#[tokio::test]
async fn env_bodies_carry_the_value_but_snapshots_do_not() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let project = fake.seed_project("acme-web");
    let client = FakeVercel::adapter(&server).client().clone();
    let vars = vec![
        NewEnvVar::new("DATABASE_URL", SECRET_VALUE, &[EnvTarget::Production])
            .kind(EnvType::Sensitive),
        NewEnvVar::new(
            "API_URL",
            "https://api.acme.example",
            &[EnvTarget::Preview, EnvTarget::Development],
        )
        .kind(EnvType::Plain),
    ];
    let created = client.create_env(&project, &vars, true).await.unwrap();
    assert_eq!(created.len(), 2);
    for var in &created {
        assert!(!format!("{var:?}").contains("hunter2"));
        assert!(!var.provider_data.to_string().contains("hunter2"));
        assert!(var.provider_data.get("value").is_none());
    }
    assert!(fake.env_values(&project).contains(&SECRET_VALUE.to_owned()));
    let all = bodies(&server).await;
    let sent = body_of(&all, &format!("POST /v10/projects/{project}/env"));
    assert!(sent.to_string().contains(SECRET_VALUE));
    insta::assert_json_snapshot!("create_env", sent, { "[].value" => "[redacted]" });
}
