//! The in-memory adapter passes the whole conformance suite, and the suite
//! catches adapters that break the contract.

use std::sync::Arc;

use async_trait::async_trait;
use stackdock_core::dns::RecordData;
use stackdock_core::spec::*;
use stackdock_core::*;
use stackdock_testkit::{memory_fixtures, Fixture, Harness};

fn record(name: &str, ttl: u32, last_octet: u8) -> DnsRecordSpec {
    DnsRecordSpec {
        zone: "records.example".into(),
        name: name.into(),
        ttl: Some(ttl),
        data: RecordData::A {
            address: [192, 0, 2, last_octet].into(),
        },
        common: Common::default(),
    }
}

#[tokio::test]
async fn in_memory_adapter_passes_everything() {
    let adapter = Arc::new(InMemoryAdapter::new("conformance"));
    // Parents for the child kinds.
    adapter
        .create(
            &DnsZoneSpec {
                name: "records.example".into(),
                ..Default::default()
            }
            .into(),
        )
        .await
        .unwrap();
    let service = adapter
        .create(
            &WebServiceSpec {
                name: "deploy-target".into(),
                ..Default::default()
            }
            .into(),
        )
        .await
        .unwrap();

    let child_fixtures = vec![
        Fixture::new(record("www", 300, 1))
            .update(record("www", 600, 1))
            .invalid(record("bad name!", 300, 1))
            .invalid(record("www", 0, 1))
            .invalid(DnsRecordSpec {
                data: RecordData::CNAME {
                    target: "-x-.example".into(),
                },
                ..record("alias", 300, 1)
            })
            .list_options(ListOptions::in_parent("records.example")),
        Fixture::new(DeploymentSpec {
            service: service.id().id,
            git_ref: Some("main".into()),
            ..Default::default()
        })
        .not_idempotent()
        .invalid(DeploymentSpec {
            service: "".into(),
            ..Default::default()
        })
        .invalid(DeploymentSpec {
            service: "deploy-target".into(),
            commit_sha: Some("not-hex!".into()),
            ..Default::default()
        })
        .list_options(ListOptions::in_parent(service.id().id)),
    ];

    let counter = adapter.clone();
    let report = Harness::new(adapter.clone())
        .fixtures(memory_fixtures())
        .fixtures(child_fixtures)
        .remote_calls(move || counter.remote_calls())
        .secret("Correct-Horse-1")
        .run()
        .await;
    // 9 kinds x (validation, observe_missing, lifecycle, delete_twice) + create_twice for 8 + 2 global
    assert!(report.passed.len() >= 40, "{report}");
    assert!(report.failed.is_empty());
    // only the two parents are left
    assert_eq!(adapter.len(), 2);
}

/// An adapter that breaks the contract in every way the suite checks.
#[derive(Debug)]
struct Broken {
    info: ProviderInfo,
    // Only read by the derived Debug, which is the leak under test.
    #[allow(dead_code)]
    token: &'static str,
    inner: InMemoryAdapter,
}

#[async_trait]
impl DockAdapter for Broken {
    fn provider(&self) -> &ProviderInfo {
        &self.info
    }
    fn dock_id(&self) -> &str {
        "broken"
    }
    fn capabilities(&self) -> Capabilities {
        // claims nothing for servers, but will answer anyway
        Capabilities {
            database: Operations::ALL,
            ..Default::default()
        }
    }
    async fn check_credentials(&self) -> Result<()> {
        Ok(())
    }
    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        let o = self.inner.observe(id, desired).await?;
        if o.exists() {
            Ok(o)
        } else {
            Err(Error::not_found("missing")) // should be Ok(absent)
        }
    }
    async fn create(&self, spec: &ResourceSpec) -> Result<Resource> {
        // no validation, and a silent no-op for unsupported kinds
        if spec.kind() != ResourceKind::Database {
            return Err(Error::internal("nope"));
        }
        self.inner.create(spec).await
    }
    async fn delete(&self, id: &ResourceId) -> Result<()> {
        // not idempotent
        let o = self.inner.observe(id, None).await?;
        if !o.exists() {
            return Err(Error::not_found("gone"));
        }
        self.inner.delete(id).await
    }
}

#[tokio::test]
async fn the_suite_catches_broken_adapters() {
    let adapter = Arc::new(Broken {
        info: ProviderInfo::new("broken", "Broken"),
        token: "tok_very_secret",
        inner: InMemoryAdapter::new("inner"),
    });
    let report = Harness::new(adapter)
        .fixture(
            Fixture::new(DatabaseSpec {
                name: "db1".into(),
                ..Default::default()
            })
            .invalid(DatabaseSpec {
                name: "".into(),
                ..Default::default()
            }),
        )
        .remote_calls(|| 0)
        .secret("tok_very_secret")
        .run_collect()
        .await;
    let failed = report.failed.join("\n");
    for check in [
        "observe_missing",
        "delete_twice",
        "unsupported_is_explicit",
        "debug_has_no_secrets",
    ] {
        assert!(failed.contains(check), "{check} not caught:\n{report}");
    }
}
