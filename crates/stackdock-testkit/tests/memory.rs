//! The in-memory adapter passes the whole conformance suite, and the suite
//! catches adapters that break the contract.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use stackdock_core::dns::RecordData;
use stackdock_core::secret::ExposeSecret;
use stackdock_core::spec::*;
use stackdock_core::*;
use stackdock_testkit::{checks, memory_fixtures, FaultHook, Fixture, Harness};

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
        .faults(adapter.clone())
        .secret("Correct-Horse-1")
        .run()
        .await;
    // `run` has already panicked on any failure; what matters here is that
    // every check ran for every kind and did real work. Deployments are not
    // idempotent by design (8 of 9 kinds for the create-twice and race
    // checks).
    for (check, kinds) in [
        ("validation_first", 9),
        ("observe_missing", 9),
        ("lifecycle", 9),
        ("delete_twice", 9),
        ("concurrent_deletes", 9),
        ("paging", 9),
        ("no_secrets", 9),
        ("nothing_half_made", 9),
        ("create_twice", 8),
        ("concurrent_creates", 8),
        ("cancelled_create", 8),
        ("tenant_isolation", 8),
        ("unsupported_is_explicit", 1),
        ("unsupported_arguments", 1),
        ("debug_has_no_secrets", 1),
    ] {
        assert_eq!(report.count(check), kinds, "{check}: {report}");
    }
    // Each second create adopted the first; 20 concurrent creates made one
    // resource per kind; rejected specs made nothing.
    assert_eq!(report.touched_by("create_twice"), 8);
    assert_eq!(report.touched_by("concurrent_creates"), 8);
    assert_eq!(report.touched_by("lifecycle"), 9);
    assert_eq!(report.touched_by("validation_first"), 0);
    // The four deployment checks that need idempotent creates or tenancy,
    // and the update the lifecycle could not do (deployments are replaced).
    assert_eq!(report.skipped().count(), 5, "{report}");
    // only the two parents are left
    assert_eq!(adapter.len(), 2);
}

/// One way to break the contract.
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
    /// Says "created" when it adopted.
    ClaimsCreatedOnAdopt,
    /// Deleting what is gone fails.
    DeleteNotIdempotent,
    /// Looks, awaits, then inserts: concurrent creates race.
    RacyCreate,
    /// Makes a half resource, awaits, then finishes it: a dropped create
    /// leaves an orphan that a repeat does not reuse.
    CancelLeavesOrphan,
    /// Adopts another tenant's resource.
    TenantBlind,
    /// Repeats items in its pages.
    PagesRepeat,
    /// Puts the password into provider data.
    SecretInProviderData,
    /// Two remote calls per create; a failed second one leaves the first's
    /// work behind, which a repeat does not finish.
    HalfMade,
    /// Creates a kind its capabilities leave out, silently.
    UnsupportedSucceeds,
    /// Claims no tenancy but accepts tenants silently.
    DropsArguments,
    /// Prints its token in `Debug`.
    TokenInDebug,
}

/// A database-only adapter over the in-memory one, broken by one [`Flaw`].
struct Broken {
    info: ProviderInfo,
    flaw: Flaw,
    token: &'static str,
    inner: InMemoryAdapter,
    calls: AtomicUsize,
    /// Names created so far (the duplicating flaw renames repeats).
    names: Mutex<std::collections::BTreeSet<String>>,
    fail_at: Mutex<Option<usize>>,
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
            calls: AtomicUsize::new(0),
            names: Mutex::new(Default::default()),
            fail_at: Mutex::new(None),
        }
    }

    fn call(&self) -> Result<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fail_at = self.fail_at.lock().unwrap();
        if *fail_at == Some(n) {
            *fail_at = None;
            return Err(Error::new(ErrorKind::Unavailable));
        }
        Ok(())
    }

    fn unsupported(&self, kind: ResourceKind, op: Operation) -> Result<()> {
        if kind == ResourceKind::Database
            || (self.flaw == Flaw::UnsupportedSucceeds && op == Operation::Create)
        {
            Ok(())
        } else {
            Err(Error::unsupported(op.on(kind), "broken"))
        }
    }

    fn renamed(&self, spec: &ResourceSpec) -> ResourceSpec {
        let ResourceSpec::Database(mut db) = spec.clone() else {
            return spec.clone();
        };
        let mut names = self.names.lock().unwrap();
        if !names.insert(db.name.clone()) {
            db.name = format!("{}_{}", db.name, names.len());
            names.insert(db.name.clone());
        }
        db.into()
    }
}

impl FaultHook for Broken {
    fn fail_call(&self, k: usize) {
        *self.fail_at.lock().unwrap() = Some(self.calls.load(Ordering::SeqCst) + k);
    }
    fn clear(&self) {
        *self.fail_at.lock().unwrap() = None;
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
        let mut arguments = Arguments::new();
        if self.flaw != Flaw::DropsArguments {
            arguments = arguments.with_tenancy().with_list_by_tenant();
        }
        Capabilities::new()
            .with_kind(ResourceKind::Database, Operations::ALL)
            .with_arguments(arguments)
    }
    async fn check_credentials(&self) -> Result<()> {
        Ok(())
    }
    async fn list(&self, kind: ResourceKind, options: &ListOptions) -> Result<Page<Resource>> {
        self.unsupported(kind, Operation::List)?;
        let filtered = !options.labels.is_empty() || options.parent.is_some();
        if self.flaw != Flaw::DropsArguments && filtered {
            return Err(Error::unsupported(
                "list with a label or parent filter",
                "broken",
            ));
        }
        self.call()?;
        let mut page = self.inner.list(kind, options).await?;
        if self.flaw == Flaw::PagesRepeat {
            let again = page.items.clone();
            page.items.extend(again);
        }
        Ok(page)
    }
    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        self.unsupported(id.kind, Operation::Observe)?;
        self.call()?;
        let o = self.inner.observe(id, desired).await?;
        if !o.exists() && self.flaw == Flaw::ObserveMissingFails {
            return Err(Error::not_found("missing"));
        }
        Ok(o)
    }
    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        self.unsupported(spec.kind(), Operation::Create)?;
        if self.flaw == Flaw::CallsBeforeValidating {
            self.call()?;
        }
        let mut spec = spec.validate()?;
        let has_labels = !spec.common().labels.is_empty();
        if self.flaw != Flaw::DropsArguments && has_labels {
            return Err(Error::unsupported("create with labels", "broken"));
        }
        if self.flaw == Flaw::TenantBlind {
            spec_common(&mut spec).tenant = None;
        }
        if self.flaw == Flaw::DropsArguments {
            spec_common(&mut spec).tenant = None;
        }
        self.call()?;
        match self.flaw {
            Flaw::CreateDuplicates => return self.inner.create(&self.renamed(&spec)).await,
            Flaw::RacyCreate => {
                let exists = self.inner.find(&spec).await?;
                tokio::task::yield_now().await;
                if let Some(existing) = exists {
                    return Ok(Created::adopted(existing));
                }
                return self.inner.create(&self.renamed(&spec)).await;
            }
            Flaw::CancelLeavesOrphan | Flaw::HalfMade => {
                if let Some(existing) = self.inner.find(&spec).await? {
                    return Ok(Created::adopted(existing));
                }
                // Part one under a temporary name, then the rename.
                let half = self
                    .inner
                    .create(&self.renamed(&self.renamed(&spec)))
                    .await?;
                // A window wider than every cancel point, so some cancel
                // lands inside it however slow the machine is.
                tokio::time::sleep(Duration::from_millis(100)).await;
                self.call()?;
                self.inner.delete(&half.id()).await?;
                return self.inner.create(&spec).await;
            }
            _ => {}
        }
        let mut created = self.inner.create(&spec).await?;
        if self.flaw == Flaw::ClaimsCreatedOnAdopt {
            created.outcome = CreateOutcome::Created;
        }
        if self.flaw == Flaw::SecretInProviderData {
            if let ResourceSpec::Database(db) = &spec {
                let pw = db.password.as_ref().map(|p| p.expose_secret().to_owned());
                created.resource.meta_mut().provider_data = serde_json::json!({ "pw": pw });
            }
        }
        Ok(created)
    }
    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        self.unsupported(id.kind, Operation::Update)?;
        self.call()?;
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
        self.call()?;
        if self.flaw == Flaw::DeleteNotIdempotent && !self.inner.observe(id, None).await?.exists() {
            return Err(Error::not_found("gone"));
        }
        self.inner.delete(id).await
    }
}

fn spec_common(spec: &mut ResourceSpec) -> &mut Common {
    stackdock_testkit::fixture::spec_common_mut(spec)
}

fn fixture() -> Fixture {
    Fixture::new(DatabaseSpec {
        name: "db1".into(),
        connection_limit: Some(5),
        password: Some(SECRET.to_owned().into()),
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
    })
}

const SECRET: &str = "pw_very_secret_1";

/// Runs `check` on a double with `flaw`, through no layer.
async fn run(flaw: Flaw, check: &str) -> stackdock_testkit::Check {
    let broken = Broken::new(flaw);
    let a: &dyn DockAdapter = &broken;
    let f = fixture();
    let calls = || broken.calls.load(Ordering::SeqCst);
    let secrets = [SECRET.to_owned(), "tok_very_secret".to_owned()];
    match check {
        "validation_first" => checks::validation_first(a, &f, &calls).await,
        "observe_missing" => checks::observe_missing(a, &f).await,
        "lifecycle" => checks::lifecycle(a, &f).await,
        "create_twice" => checks::create_twice(a, &f).await,
        "delete_twice" => checks::delete_twice(a, &f).await,
        "concurrent_creates" => checks::concurrent_creates(a, &f, 20).await,
        "concurrent_deletes" => checks::concurrent_deletes(a, &f, 20).await,
        "cancelled_create" => checks::cancelled_create(a, &f).await,
        "tenant_isolation" => checks::tenant_isolation(a, &f).await,
        "paging" => checks::paging(a, &f).await,
        "no_secrets" => checks::no_secrets(a, &f, &secrets).await,
        "nothing_half_made" => checks::nothing_half_made(a, &f, &broken).await,
        "unsupported_is_explicit" => checks::unsupported_is_explicit(a, &[f]).await,
        "unsupported_arguments" => checks::unsupported_arguments(a, &[f]).await,
        "debug_has_no_secrets" => checks::debug_has_no_secrets(a, &secrets),
        other => panic!("no check {other}"),
    }
}

/// Each check, and a flaw that only it (among checks of its kind) catches.
const CASES: [(&str, Flaw); 15] = [
    ("validation_first", Flaw::CallsBeforeValidating),
    ("observe_missing", Flaw::ObserveMissingFails),
    ("lifecycle", Flaw::UpdateIsANoOp),
    ("create_twice", Flaw::ClaimsCreatedOnAdopt),
    ("delete_twice", Flaw::DeleteNotIdempotent),
    ("concurrent_creates", Flaw::RacyCreate),
    ("concurrent_deletes", Flaw::DeleteNotIdempotent),
    ("cancelled_create", Flaw::CancelLeavesOrphan),
    ("tenant_isolation", Flaw::TenantBlind),
    ("paging", Flaw::PagesRepeat),
    ("no_secrets", Flaw::SecretInProviderData),
    ("nothing_half_made", Flaw::HalfMade),
    ("unsupported_is_explicit", Flaw::UnsupportedSucceeds),
    ("unsupported_arguments", Flaw::DropsArguments),
    ("debug_has_no_secrets", Flaw::TokenInDebug),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_passes_a_sound_adapter_and_catches_its_flaw() {
    for (check, flaw) in CASES {
        // The sound double passes: the failure below is the flaw's.
        let sound = run(Flaw::None, check).await;
        assert!(sound.is_ok(), "{check} fails a sound adapter: {sound:?}");
        let broken = run(flaw, check).await;
        assert!(broken.is_err(), "{check} did not catch {flaw:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_caught_by_every_check_that_creates_twice() {
    for check in ["create_twice", "concurrent_creates", "cancelled_create"] {
        assert!(
            run(Flaw::CreateDuplicates, check).await.is_err(),
            "{check} missed duplicate creates"
        );
    }
}

#[tokio::test]
async fn the_harness_tests_adapters_behind_the_checked_layer() {
    // Behind the layer, an adapter that never validates still rejects
    // invalid specs before any call, and dropped arguments are refused.
    let broken = Arc::new(Broken::new(Flaw::DropsArguments));
    let counter = broken.clone();
    let report = Harness::new(broken)
        .fixture(fixture())
        .remote_calls(move || counter.calls.load(Ordering::SeqCst))
        .run_collect()
        .await;
    assert!(!report.failed_check("unsupported_arguments"), "{report}");
    assert!(!report.failed_check("validation_first"), "{report}");
}
