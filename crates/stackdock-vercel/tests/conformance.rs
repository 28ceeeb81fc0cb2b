//! The shared conformance suite against a stateful fake of Vercel's API.

mod common;

use std::sync::Arc;

use common::{FakeVercel, TOKEN};
use stackdock_core::dns::RecordData;
use stackdock_core::spec::{Common, DeploymentSpec, DnsRecordSpec, DomainSpec, WebServiceSpec};
use stackdock_core::{ListOptions, ResourceId, ResourceKind};
use stackdock_testkit::{Fixture, Harness};

#[tokio::test]
async fn conformance_suite_passes_against_fake_vercel() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let project = fake.seed_project("conformance-base");
    fake.seed_zone("conformance.example");
    // No retries in the HTTP layer, so the faults the suite places reach the adapter.
    let adapter = Arc::new(FakeVercel::adapter_without_retries(&server));
    let zone = "conformance.example";

    let web = Fixture::new(WebServiceSpec {
        name: "conformance-web".into(),
        framework: Some("nextjs".into()),
        repository: Some("acme/conformance-web".into()),
        ..Default::default()
    })
    .update(WebServiceSpec {
        name: "conformance-web".into(),
        framework: Some("astro".into()),
        runtime: Some("20.x".into()),
        ..Default::default()
    })
    .invalid(WebServiceSpec {
        name: "Conformance Web".into(),
        ..Default::default()
    })
    .invalid(WebServiceSpec {
        name: "shop\r\nX: y".into(),
        ..Default::default()
    })
    .invalid(WebServiceSpec {
        name: "ok".into(),
        repository: Some("not a repo".into()),
        ..Default::default()
    })
    .invalid(WebServiceSpec {
        name: "ok".into(),
        server_id: Some("srv-1".into()),
        ..Default::default()
    });

    let deployment = Fixture::new(DeploymentSpec {
        service: project.clone(),
        environment: Some("production".into()),
        git_ref: Some("main".into()),
        ..Default::default()
    })
    .not_idempotent()
    .list_options(ListOptions::in_parent(project.clone()))
    .invalid(DeploymentSpec {
        service: project.clone(),
        environment: Some("staging-eu".into()),
        ..Default::default()
    })
    .invalid(DeploymentSpec {
        service: project.clone(),
        git_ref: Some("main..evil".into()),
        ..Default::default()
    })
    .invalid(DeploymentSpec {
        service: project.clone(),
        commit_sha: Some("not-hex".into()),
        ..Default::default()
    });

    let domain = Fixture::new(DomainSpec {
        name: "shop.conformance.example".into(),
        service_id: Some(project.clone()),
        ..Default::default()
    })
    .update(DomainSpec {
        name: "shop.conformance.example".into(),
        service_id: Some(project.clone()),
        redirect: Some("www.conformance.example".into()),
        ..Default::default()
    })
    .list_options(ListOptions::in_parent(project.clone()))
    .missing_id(ResourceId::new(
        ResourceKind::Domain,
        format!("{project}/missing.conformance.example"),
    ))
    .invalid(DomainSpec {
        name: "shop..conformance.example".into(),
        service_id: Some(project.clone()),
        ..Default::default()
    })
    .invalid(DomainSpec {
        name: "x'; --".into(),
        service_id: Some(project.clone()),
        ..Default::default()
    })
    .invalid(DomainSpec {
        name: "tls.conformance.example".into(),
        service_id: Some(project.clone()),
        ssl: Some(false),
        ..Default::default()
    });

    let record = Fixture::new(DnsRecordSpec {
        zone: zone.into(),
        name: "www".into(),
        ttl: Some(300),
        data: RecordData::A {
            address: [192, 0, 2, 1].into(),
        },
        common: Common::default(),
    })
    .update(DnsRecordSpec {
        zone: zone.into(),
        name: "www".into(),
        ttl: Some(600),
        data: RecordData::A {
            address: [192, 0, 2, 2].into(),
        },
        common: Common::default(),
    })
    .list_options(ListOptions::in_parent(zone))
    .missing_id(ResourceId::new(
        ResourceKind::DnsRecord,
        format!("{zone}/rec_missing"),
    ))
    .invalid(DnsRecordSpec {
        zone: zone.into(),
        name: "www".into(),
        ttl: Some(30),
        data: RecordData::A {
            address: [192, 0, 2, 1].into(),
        },
        common: Common::default(),
    })
    .invalid(DnsRecordSpec {
        zone: zone.into(),
        name: "ptr".into(),
        ttl: None,
        data: RecordData::PTR {
            target: "host.conformance.example".into(),
        },
        common: Common::default(),
    })
    .invalid(DnsRecordSpec {
        zone: zone.into(),
        name: "www.other.org.".into(),
        ttl: None,
        data: RecordData::A {
            address: [192, 0, 2, 1].into(),
        },
        common: Common::default(),
    });

    let report = Harness::new(adapter)
        .fixture(web)
        .fixture(deployment)
        .fixture(domain)
        .fixture(record)
        .remote_calls(fake.counter())
        .secret(TOKEN)
        .faults(Arc::new(fake.clone()))
        .run()
        .await;
    // `run` panics on any failure; here is what ran. Per kind (4):
    for check in [
        "validation_first",
        "observe_missing",
        "lifecycle",
        "delete_twice",
        "concurrent_deletes",
        "paging",
        "no_secrets",
        "nothing_half_made",
    ] {
        assert_eq!(report.count(check), 4, "{check}: {report}");
    }
    // Each kind through the whole lifecycle with one resource.
    assert_eq!(report.touched_by("lifecycle"), 4, "{report}");
    // A deployment create always starts a new deployment (Vercel has no
    // idempotency key for it), so the create-twice and race checks run for
    // the three idempotent kinds and are reported skipped for deployments.
    for check in ["create_twice", "concurrent_creates", "cancelled_create"] {
        assert_eq!(report.count(check), 3, "{check}: {report}");
    }
    assert_eq!(report.touched_by("create_twice"), 3, "{report}");
    assert_eq!(report.touched_by("concurrent_creates"), 3, "{report}");
    // Vercel objects have no tenant: not declared, so not run ...
    assert_eq!(report.count("tenant_isolation"), 0, "{report}");
    // ... and refused as Unsupported, like labels and tenant filters.
    for check in [
        "unsupported_is_explicit",
        "unsupported_arguments",
        "debug_has_no_secrets",
    ] {
        assert_eq!(report.count(check), 1, "{check}: {report}");
    }
    // Everything the suite created was cleaned up again.
    assert_eq!(fake.project_count(), 1);
}

#[tokio::test]
async fn inventory_collects_projects_deployments_and_domains() {
    use stackdock_vercel::{InventoryOptions, NewProjectDomain};
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let ids: Vec<String> = (0..7)
        .map(|i| fake.seed_project(&format!("inv-{i}")))
        .collect();
    let adapter = FakeVercel::adapter(&server); // page size 2: 4 project pages
    for (i, id) in ids.iter().enumerate() {
        for d in 0..(i % 4) {
            adapter
                .client()
                .add_project_domain(
                    id,
                    &NewProjectDomain {
                        name: format!("d{d}.inv-{i}.example"),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
        }
    }
    let inv = adapter
        .client()
        .inventory(&InventoryOptions {
            concurrency: 3,
            domains: true,
        })
        .await
        .unwrap();
    assert_eq!(inv.projects.len(), 7);
    assert_eq!(
        inv.deployments.len(),
        0,
        "seeded projects have no deployments"
    );
    assert_eq!(inv.domains.len(), 1 + 2 + 3 + 1 + 2);
    // 4 project pages; domain listings of up to 3 domains take 2 pages of 2.
    assert!(
        inv.sequential_round_trips >= 5,
        "{}",
        inv.sequential_round_trips
    );
    assert_eq!(
        inv.requests,
        4 + 7 + 1,
        "one project needs a second domains page"
    );
    let domains_of_3: Vec<_> = inv
        .domains
        .iter()
        .filter(|d| d.service_id.as_deref() == Some(ids[3].as_str()))
        .collect();
    assert_eq!(domains_of_3.len(), 3);
}
