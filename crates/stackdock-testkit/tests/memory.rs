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
    // `run` has already panicked on any failure; what matters here is that
    // every check ran for every kind and did real work.
    for check in [
        "validation_first",
        "observe_missing",
        "lifecycle",
        "delete_twice",
    ] {
        assert_eq!(report.count(check), 9, "{check}: {report}");
    }
    // Deployments are not idempotent by design: 8 kinds, and each second
    // create adopted the first (one resource per kind, not two).
    assert_eq!(report.count("create_twice"), 8, "{report}");
    assert_eq!(report.touched_by("create_twice"), 8);
    assert_eq!(report.touched_by("lifecycle"), 9);
    assert_eq!(report.touched_by("delete_twice"), 9);
    // Rejected specs created nothing.
    assert_eq!(report.touched_by("validation_first"), 0);
    assert_eq!(report.count("unsupported_is_explicit"), 1);
    assert_eq!(report.count("debug_has_no_secrets"), 1);
    assert_eq!(report.passed.len(), 9 * 4 + 8 + 2, "{report}");
    // only the two parents are left
    assert_eq!(adapter.len(), 2);
}

/// One way to break the contract; each maps to exactly one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    /// Keeps the contract.
    None,
    /// Talks to the provider before validating.
    CallsBeforeValidating,
    /// Observing a missing id is an error instead of absent.
    ObserveMissingFails,
    /// `update` reports success and changes nothing.
    UpdateIsANoOp,
    /// A second create of the same spec makes a second resource.
    CreateDuplicates,
    /// Deleting what is gone fails.
    DeleteNotIdempotent,
    /// Creates a kind its capabilities leave out, silently.
    UnsupportedSucceeds,
    /// Prints its token in `Debug`.
    TokenInDebug,
}

/// A database-only adapter over the in-memory one, broken by one [`Flaw`].
struct Broken {
    info: ProviderInfo,
    flaw: Flaw,
    token: &'static str,
    inner: InMemoryAdapter,
    calls: std::sync::atomic::AtomicUsize,
    /// Names created so far (the duplicating flaw renames repeats).
    names: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl std::fmt::Debug for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = if self.flaw == Flaw::TokenInDebug {
            self.token
        } else {
            "[redacted]"
        };
        f.debug_struct("Broken").field("token", &token).finish()
    }
}

impl Broken {
    fn new(flaw: Flaw) -> Self {
        Broken {
            // Resources come from the inner adapter, so the double reports
            // its identity.
            info: ProviderInfo::new("memory", "Broken"),
            flaw,
            token: "tok_very_secret",
            inner: InMemoryAdapter::new("inner"),
            calls: Default::default(),
            names: Default::default(),
        }
    }

    fn call(&self) {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn unsupported(&self, spec_kind: ResourceKind, op: Operation) -> Result<()> {
        if spec_kind == ResourceKind::Database
            || (self.flaw == Flaw::UnsupportedSucceeds && op == Operation::Create)
        {
            Ok(())
        } else {
            Err(Error::unsupported(op.on(spec_kind), "broken"))
        }
    }
}

#[async_trait]
impl DockAdapter for Broken {
    fn provider(&self) -> &ProviderInfo {
        &self.info
    }
    fn dock_id(&self) -> &str {
        self.inner.dock_id()
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            database: Operations::ALL,
            ..Default::default()
        }
    }
    async fn check_credentials(&self) -> Result<()> {
        Ok(())
    }
    async fn list(&self, kind: ResourceKind, options: &ListOptions) -> Result<Page<Resource>> {
        self.unsupported(kind, Operation::List)?;
        self.inner.list(kind, options).await
    }
    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        self.unsupported(id.kind, Operation::Observe)?;
        self.call();
        let o = self.inner.observe(id, desired).await?;
        if !o.exists() && self.flaw == Flaw::ObserveMissingFails {
            return Err(Error::not_found("missing"));
        }
        Ok(o)
    }
    async fn create(&self, spec: &ResourceSpec) -> Result<Resource> {
        self.unsupported(spec.kind(), Operation::Create)?;
        if self.flaw == Flaw::CallsBeforeValidating {
            self.call();
        }
        let spec = spec.validate()?;
        self.call();
        if self.flaw == Flaw::CreateDuplicates {
            if let ResourceSpec::Database(mut db) = spec.clone() {
                // Every create of a name seen before makes a new resource.
                let repeat = {
                    let mut names = self.names.lock().unwrap();
                    let repeat = !names.insert(db.name.clone());
                    db.name = format!("{}_{}", db.name, names.len());
                    names.insert(db.name.clone());
                    repeat
                };
                if repeat {
                    return self.inner.create(&db.into()).await;
                }
            }
        }
        self.inner.create(&spec).await
    }
    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        self.unsupported(id.kind, Operation::Update)?;
        self.call();
        if self.flaw == Flaw::UpdateIsANoOp {
            return self
                .inner
                .observe(id, None)
                .await?
                .resource
                .ok_or_else(|| Error::not_found("gone"));
        }
        self.inner.update(id, spec).await
    }
    async fn delete(&self, id: &ResourceId) -> Result<()> {
        self.unsupported(id.kind, Operation::Delete)?;
        self.call();
        if self.flaw == Flaw::DeleteNotIdempotent && !self.inner.observe(id, None).await?.exists() {
            return Err(Error::not_found("gone"));
        }
        self.inner.delete(id).await
    }
}

async fn report_for(flaw: Flaw) -> stackdock_testkit::Report {
    let adapter = Arc::new(Broken::new(flaw));
    let counter = adapter.clone();
    Harness::new(adapter)
        .fixture(
            Fixture::new(DatabaseSpec {
                name: "db1".into(),
                connection_limit: Some(5),
                ..Default::default()
            })
            .update(DatabaseSpec {
                name: "db1".into(),
                connection_limit: Some(10),
                ..Default::default()
            })
            .invalid(DatabaseSpec {
                name: "".into(),
                ..Default::default()
            }),
        )
        .remote_calls(move || counter.calls.load(std::sync::atomic::Ordering::SeqCst))
        .secret("tok_very_secret")
        .run_collect()
        .await
}

#[tokio::test]
async fn each_check_catches_the_flaw_it_is_for_and_only_that() {
    // Without a flaw the double passes all seven: the failures below are
    // the flaws', not the double's.
    let clean = report_for(Flaw::None).await;
    assert!(clean.failed.is_empty(), "{clean}");
    assert_eq!(clean.passed.len(), 7, "{clean}");
    // Each flaw is caught by the check written for it; observing a missing
    // id also ends every lifecycle, so that flaw fails both.
    let cases: [(Flaw, &[&str]); 7] = [
        (Flaw::CallsBeforeValidating, &["validation_first"]),
        (Flaw::ObserveMissingFails, &["observe_missing", "lifecycle"]),
        (Flaw::UpdateIsANoOp, &["lifecycle"]),
        (Flaw::CreateDuplicates, &["create_twice"]),
        (Flaw::DeleteNotIdempotent, &["delete_twice"]),
        (Flaw::UnsupportedSucceeds, &["unsupported_is_explicit"]),
        (Flaw::TokenInDebug, &["debug_has_no_secrets"]),
    ];
    for (flaw, checks) in cases {
        let report = report_for(flaw).await;
        for check in checks {
            assert!(
                report.failed_check(check),
                "{flaw:?} not caught by {check}:\n{report}"
            );
        }
        assert_eq!(
            report.failed.len(),
            checks.len(),
            "{flaw:?} should fail only {checks:?}:\n{report}"
        );
        // The checks the flaw does not touch still ran and passed.
        assert_eq!(report.passed.len(), 7 - checks.len(), "{flaw:?}:\n{report}");
    }
}
