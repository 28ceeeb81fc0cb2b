//! # stackdock-testkit: one conformance suite for every adapter
//!
//! Public async checks over `Arc<dyn DockAdapter>`, switched on by the
//! adapter's [`Capabilities`](stackdock_core::Capabilities). The in-memory
//! adapter passes all of them in plain unit tests; every provider crate runs
//! them against its real server or a stateful fake of its API.
//!
//! For each [`Fixture`] (one per resource kind the adapter supports) the
//! [`Harness`] checks:
//!
//! 1. **lifecycle**: create → observe with the spec (exists, up to date) →
//!    listed (all pages) → update → observe with the new spec (up to date) →
//!    delete → observe (absent);
//! 2. **idempotent create**: creating the same spec twice yields the same id;
//! 3. **idempotent delete**: deleting twice succeeds;
//! 4. **validation first**: each invalid spec fails with `InvalidInput` and
//!    makes no remote call;
//! 5. **observe of a missing id** is `Ok` and absent, not an error;
//!
//! and once per adapter:
//!
//! 6. **unsupported is explicit**: every (kind, operation) not in the
//!    capabilities returns `Unsupported`;
//! 7. **no secrets in Debug**: the adapter's `Debug` output holds none of the
//!    registered secrets.
//!
//! ```
//! use std::sync::Arc;
//! use stackdock_core::InMemoryAdapter;
//! use stackdock_testkit::{memory_fixtures, Harness};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let adapter = Arc::new(InMemoryAdapter::new("conformance"));
//! let counter = adapter.clone();
//! let report = Harness::new(adapter)
//!     .fixtures(memory_fixtures())
//!     .remote_calls(move || counter.remote_calls())
//!     .run()
//!     .await; // panics with the report if any check failed
//! // Seven kinds, each through the whole lifecycle, one resource each.
//! assert_eq!(report.count("lifecycle"), 7);
//! assert_eq!(report.touched_by("lifecycle"), 7);
//! # });
//! ```

// The leak check of the conformance suite (documented in leak.rs: an outer doc
// here would make rustdoc resolve that file's links from this scope).
pub mod leak;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use stackdock_core::dns::RecordData;
use stackdock_core::spec::*;
use stackdock_core::{
    DockAdapter, DockAdapterExt, ErrorKind, ListOptions, Operation, Resource, ResourceId,
    ResourceKind,
};

/// Test material for one resource kind.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// A valid spec; the fixture's kind is this spec's kind.
    pub create: ResourceSpec,
    /// The same resource with something changed; `None` skips the update checks.
    pub update: Option<ResourceSpec>,
    /// Specs that must fail with `InvalidInput` before any remote call.
    pub invalid: Vec<ResourceSpec>,
    /// Options for the listing check (e.g. the parent zone of records).
    pub list_options: ListOptions,
    /// Whether creating the same spec twice must give the same resource.
    pub idempotent_create: bool,
    /// An id that does not exist; defaults to `stackdock-conformance-missing`.
    pub missing_id: Option<ResourceId>,
}

impl Fixture {
    /// A fixture around a valid create spec.
    pub fn new(create: impl Into<ResourceSpec>) -> Self {
        Fixture {
            create: create.into(),
            update: None,
            invalid: Vec::new(),
            list_options: ListOptions::default(),
            idempotent_create: true,
            missing_id: None,
        }
    }

    /// The spec to update to.
    pub fn update(mut self, spec: impl Into<ResourceSpec>) -> Self {
        self.update = Some(spec.into());
        self
    }

    /// Add a spec that must be rejected as invalid input.
    pub fn invalid(mut self, spec: impl Into<ResourceSpec>) -> Self {
        self.invalid.push(spec.into());
        self
    }

    /// Options for the listing check.
    pub fn list_options(mut self, options: ListOptions) -> Self {
        self.list_options = options;
        self
    }

    /// Each create makes a new resource (deployments): skip the create-twice check.
    pub fn not_idempotent(mut self) -> Self {
        self.idempotent_create = false;
        self
    }

    /// An id that does not exist at the provider.
    pub fn missing_id(mut self, id: ResourceId) -> Self {
        self.missing_id = Some(id);
        self
    }

    /// The kind under test.
    pub fn kind(&self) -> ResourceKind {
        self.create.kind()
    }
}

type Counter = Box<dyn Fn() -> usize + Send + Sync>;

/// Runs the conformance checks against one adapter.
pub struct Harness {
    adapter: Arc<dyn DockAdapter>,
    fixtures: Vec<Fixture>,
    remote_calls: Option<Counter>,
    secrets: Vec<String>,
    /// Ids of the resources the running check created (see [`Report::touched`]).
    created: Mutex<BTreeSet<String>>,
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("adapter", &self.adapter.provider().id)
            .field("fixtures", &self.fixtures.len())
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

/// What the suite found.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Checks that passed, by name.
    pub passed: Vec<String>,
    /// Checks that did not apply (capability off, no update spec ...), with why.
    pub skipped: Vec<String>,
    /// Checks that failed, with what went wrong.
    pub failed: Vec<String>,
    /// For each check that ran (passed or failed), how many distinct
    /// resources it created at the adapter: proof that a check did work,
    /// not just that it returned.
    pub touched: BTreeMap<String, usize>,
}

impl Report {
    /// How many times the check named `check` (the last part of a check's
    /// name, e.g. `"lifecycle"`) passed, across all fixtures.
    pub fn count(&self, check: &str) -> usize {
        self.passed
            .iter()
            .filter(|name| check_of(name) == check)
            .count()
    }

    /// How many distinct resources the check named `check` created, summed
    /// across all fixtures.
    pub fn touched_by(&self, check: &str) -> usize {
        self.touched
            .iter()
            .filter(|(name, _)| check_of(name) == check)
            .map(|(_, n)| n)
            .sum()
    }

    /// Whether the check named `check` failed for any fixture.
    pub fn failed_check(&self, check: &str) -> bool {
        self.failed
            .iter()
            .any(|f| check_of(f.split(':').next().unwrap_or(f)) == check)
    }
}

/// `provider/kind/check` → `check`.
fn check_of(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "conformance: {} passed, {} failed, {} skipped",
            self.passed.len(),
            self.failed.len(),
            self.skipped.len()
        )?;
        for p in &self.failed {
            writeln!(f, "  FAILED {p}")?;
        }
        for p in &self.skipped {
            writeln!(f, "  skipped {p}")?;
        }
        Ok(())
    }
}

/// Outcome of one check.
type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(format!($($arg)*));
        }
    };
}

impl Harness {
    /// A harness for `adapter` with no fixtures yet.
    pub fn new(adapter: Arc<dyn DockAdapter>) -> Self {
        Harness {
            adapter,
            fixtures: Vec::new(),
            remote_calls: None,
            secrets: Vec::new(),
            created: Mutex::new(BTreeSet::new()),
        }
    }

    /// Add a fixture (one per kind the adapter supports).
    pub fn fixture(mut self, fixture: Fixture) -> Self {
        self.fixtures.push(fixture);
        self
    }

    /// Add several fixtures.
    pub fn fixtures(mut self, fixtures: impl IntoIterator<Item = Fixture>) -> Self {
        self.fixtures.extend(fixtures);
        self
    }

    /// How to count the remote calls made so far (requests received by a fake
    /// server, statements run ...). Without it the "no remote call on invalid
    /// input" check is skipped.
    pub fn remote_calls(mut self, counter: impl Fn() -> usize + Send + Sync + 'static) -> Self {
        self.remote_calls = Some(Box::new(counter));
        self
    }

    /// A string that must never appear in the adapter's `Debug` output.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// Run every check, then panic with the report if anything failed.
    pub async fn run(self) -> Report {
        let report = self.run_collect().await;
        if !report.failed.is_empty() {
            panic!("{report}");
        }
        eprintln!("{report}");
        report
    }

    /// Run every check and return the report without panicking.
    pub async fn run_collect(self) -> Report {
        let mut report = Report::default();
        let provider = self.adapter.provider().id.clone();
        let caps = self.adapter.capabilities();
        for fixture in &self.fixtures {
            let kind = fixture.kind();
            let ops = caps.for_kind(kind);
            let name = |check: &str| format!("{provider}/{}/{check}", kind.as_str());

            if let Some(counter) = &self.remote_calls {
                let result = self.check_invalid(fixture, counter).await;
                self.record(&mut report, name("validation_first"), result);
            } else {
                report.skipped.push(format!(
                    "{} (no remote-call counter)",
                    name("validation_first")
                ));
            }

            if ops.observe {
                let result = self.check_missing(fixture).await;
                self.record(&mut report, name("observe_missing"), result);
            }

            if ops.create && ops.observe && ops.delete {
                let result = self.check_lifecycle(fixture).await;
                self.record(&mut report, name("lifecycle"), result);
                if fixture.idempotent_create {
                    let result = self.check_create_twice(fixture).await;
                    self.record(&mut report, name("create_twice"), result);
                } else {
                    report.skipped.push(format!(
                        "{} (not idempotent by design)",
                        name("create_twice")
                    ));
                }
                let result = self.check_delete_twice(fixture).await;
                self.record(&mut report, name("delete_twice"), result);
            } else {
                report.skipped.push(format!(
                    "{} (needs create, observe and delete)",
                    name("lifecycle")
                ));
            }
        }
        let result = self.check_unsupported().await;
        self.record(
            &mut report,
            format!("{provider}/unsupported_is_explicit"),
            result,
        );
        let result = self.check_debug();
        self.record(
            &mut report,
            format!("{provider}/debug_has_no_secrets"),
            result,
        );
        report
    }

    /// Files a check's result, with the resources it created.
    fn record(&self, report: &mut Report, name: String, result: Check) {
        let touched = std::mem::take(&mut *self.created.lock().expect("not poisoned")).len();
        report.touched.insert(name.clone(), touched);
        match result {
            Ok(()) => report.passed.push(name),
            Err(why) => report.failed.push(format!("{name}: {why}")),
        }
    }

    /// `create` through the adapter, remembering what it returned.
    async fn create(&self, spec: &ResourceSpec) -> stackdock_core::Result<Resource> {
        let created = self.adapter.create(spec).await?;
        self.created
            .lock()
            .expect("not poisoned")
            .insert(created.id().to_string());
        Ok(created)
    }

    async fn check_invalid(&self, fixture: &Fixture, counter: &Counter) -> Check {
        ensure!(!fixture.invalid.is_empty(), "fixture has no invalid specs");
        for spec in &fixture.invalid {
            let before = counter();
            let result = self.create(spec).await;
            let after = counter();
            match result {
                Err(e) if matches!(e.kind(), ErrorKind::InvalidInput { .. }) => {}
                Err(e) => {
                    return Err(format!(
                        "create({:?}) failed with {e} instead of InvalidInput",
                        spec.name()
                    ))
                }
                Ok(r) => {
                    let _ = self.adapter.delete(&r.id()).await;
                    return Err(format!("create accepted invalid spec {:?}", spec.name()));
                }
            }
            ensure!(
                after == before,
                "invalid spec {:?} made {} remote call(s) before being rejected",
                spec.name(),
                after - before
            );
        }
        Ok(())
    }

    async fn check_missing(&self, fixture: &Fixture) -> Check {
        let id = fixture
            .missing_id
            .clone()
            .unwrap_or_else(|| ResourceId::new(fixture.kind(), "stackdock-conformance-missing"));
        match self.adapter.observe(&id, None).await {
            Ok(o) if !o.exists() => Ok(()),
            Ok(_) => Err(format!(
                "observe({id}) reports a resource that should not exist"
            )),
            Err(e) => Err(format!(
                "observe({id}) failed instead of reporting absent: {e}"
            )),
        }
    }

    async fn check_lifecycle(&self, fixture: &Fixture) -> Check {
        let adapter = &self.adapter;
        let kind = fixture.kind();
        let ops = adapter.capabilities().for_kind(kind);
        let created = self
            .create(&fixture.create)
            .await
            .map_err(|e| format!("create failed: {e}"))?;
        let id = created.id();
        let result = async {
            ensure!(
                created.kind() == kind,
                "create returned a {}",
                created.kind()
            );
            let r = &created.meta().reference;
            ensure!(
                r.provider == adapter.provider().id,
                "reference.provider is {:?}",
                r.provider
            );
            ensure!(
                r.dock_id == adapter.dock_id(),
                "reference.dock_id is {:?}",
                r.dock_id
            );
            ensure!(
                !r.provider_resource_id.is_empty(),
                "empty provider_resource_id"
            );

            let observed = adapter
                .observe(&id, Some(&fixture.create))
                .await
                .map_err(|e| format!("observe after create failed: {e}"))?;
            ensure!(observed.exists(), "observe after create reports absent");
            ensure!(
                observed.up_to_date,
                "observe after create is not up to date: {:?}",
                observed.diff
            );

            if ops.list {
                let found = contains(adapter.as_ref(), kind, &fixture.list_options, &id).await?;
                ensure!(found, "list does not contain {id}");
            }

            if let (Some(update), true) = (&fixture.update, ops.update) {
                let before = adapter
                    .observe(&id, Some(update))
                    .await
                    .map_err(|e| format!("observe before update failed: {e}"))?;
                ensure!(
                    !before.up_to_date,
                    "the fixture's update spec does not differ from the created resource"
                );
                let updated = adapter
                    .update(&id, update)
                    .await
                    .map_err(|e| format!("update failed: {e}"))?;
                ensure!(
                    updated.id() == id,
                    "update changed the id to {}",
                    updated.id()
                );
                let after = adapter
                    .observe(&id, Some(update))
                    .await
                    .map_err(|e| format!("observe after update failed: {e}"))?;
                ensure!(
                    after.up_to_date,
                    "not up to date after update: {:?}",
                    after.diff
                );
            }
            Ok(())
        }
        .await;
        let deleted = adapter.delete(&id).await;
        result?;
        deleted.map_err(|e| format!("delete failed: {e}"))?;
        let gone = adapter
            .observe(&id, None)
            .await
            .map_err(|e| format!("observe after delete failed: {e}"))?;
        ensure!(!gone.exists(), "observe after delete still reports {id}");
        Ok(())
    }

    async fn check_create_twice(&self, fixture: &Fixture) -> Check {
        let first = self
            .create(&fixture.create)
            .await
            .map_err(|e| format!("first create failed: {e}"))?;
        let second = self.create(&fixture.create).await;
        let cleanup = self.adapter.delete(&first.id()).await;
        let second = second.map_err(|e| format!("second create of the same spec failed: {e}"))?;
        cleanup.map_err(|e| format!("cleanup failed: {e}"))?;
        ensure!(
            second.id() == first.id(),
            "second create made {} instead of adopting {}",
            second.id(),
            first.id()
        );
        Ok(())
    }

    async fn check_delete_twice(&self, fixture: &Fixture) -> Check {
        let created = self
            .create(&fixture.create)
            .await
            .map_err(|e| format!("create failed: {e}"))?;
        self.adapter
            .delete(&created.id())
            .await
            .map_err(|e| format!("first delete failed: {e}"))?;
        self.adapter
            .delete(&created.id())
            .await
            .map_err(|e| format!("deleting what is already gone failed: {e}"))?;
        Ok(())
    }

    async fn check_unsupported(&self) -> Check {
        let caps = self.adapter.capabilities();
        for kind in ResourceKind::ALL {
            let spec = self
                .fixtures
                .iter()
                .find(|f| f.kind() == kind)
                .map(|f| f.create.clone())
                .unwrap_or_else(|| default_spec(kind));
            let id = ResourceId::new(kind, "stackdock-conformance-unsupported");
            for op in Operation::ALL {
                if caps.supports(kind, op) {
                    continue;
                }
                let result = match op {
                    Operation::List => self
                        .adapter
                        .list(kind, &ListOptions::default())
                        .await
                        .map(|_| ()),
                    Operation::Observe => self.adapter.observe(&id, None).await.map(|_| ()),
                    Operation::Create => self.create(&spec).await.map(|_| ()),
                    Operation::Update => self.adapter.update(&id, &spec).await.map(|_| ()),
                    Operation::Delete => self.adapter.delete(&id).await,
                };
                match result {
                    Err(e) if matches!(e.kind(), ErrorKind::Unsupported { .. }) => {}
                    Err(e) => {
                        return Err(format!(
                            "{} is not in capabilities but failed with {e}",
                            op.on(kind)
                        ))
                    }
                    Ok(()) => {
                        return Err(format!(
                            "{} is not in capabilities but succeeded",
                            op.on(kind)
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    fn check_debug(&self) -> Check {
        let plain = format!("{:?}", self.adapter);
        let pretty = format!("{:#?}", self.adapter);
        for secret in &self.secrets {
            ensure!(!secret.is_empty(), "an empty secret was registered");
            ensure!(
                !plain.contains(secret.as_str()) && !pretty.contains(secret.as_str()),
                "Debug output of the adapter contains a registered secret"
            );
        }
        Ok(())
    }
}

async fn contains(
    adapter: &dyn DockAdapter,
    kind: ResourceKind,
    options: &ListOptions,
    id: &ResourceId,
) -> Result<bool, String> {
    let mut stream = adapter.list_stream(kind, options);
    while let Some(item) = stream.next().await {
        let item: Resource = item.map_err(|e| format!("list failed: {e}"))?;
        if &item.id() == id {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A valid spec of `kind`, used to probe operations an adapter does not support.
pub fn default_spec(kind: ResourceKind) -> ResourceSpec {
    match kind {
        ResourceKind::Server => ServerSpec {
            name: "conformance-server".into(),
            ..Default::default()
        }
        .into(),
        ResourceKind::WebService => WebServiceSpec {
            name: "conformance-web".into(),
            ..Default::default()
        }
        .into(),
        ResourceKind::Deployment => DeploymentSpec {
            service: "conformance-web".into(),
            ..Default::default()
        }
        .into(),
        ResourceKind::Domain => DomainSpec {
            name: "conformance.example.com".into(),
            ..Default::default()
        }
        .into(),
        ResourceKind::Database => DatabaseSpec {
            name: "conformance_db".into(),
            ..Default::default()
        }
        .into(),
        ResourceKind::DnsZone => DnsZoneSpec {
            name: "conformance.example".into(),
            ..Default::default()
        }
        .into(),
        ResourceKind::DnsRecord => DnsRecordSpec {
            zone: "conformance.example".into(),
            name: "www".into(),
            ttl: Some(300),
            data: RecordData::A {
                address: [192, 0, 2, 1].into(),
            },
            common: Common::default(),
        }
        .into(),
        ResourceKind::Mailbox => MailboxSpec {
            address: "conformance@conformance.example".into(),
            password: Some("conformance-Password-1".to_owned().into()),
            ..Default::default()
        }
        .into(),
        ResourceKind::MailForwarder => MailForwarderSpec {
            source: "alias@conformance.example".into(),
            destinations: vec!["conformance@conformance.example".into()],
            ..Default::default()
        }
        .into(),
    }
}

/// Hostile strings every adapter's validation should reject wherever a name
/// is expected: quotes, SQL and shell metacharacters, comments, NUL,
/// CR/LF header injection, look-alikes and overlong names.
pub fn hostile_names() -> Vec<String> {
    vec![
        String::new(),
        " ".into(),
        "x\"; DROP DATABASE postgres; --".into(),
        "x'; DROP TABLE users; --".into(),
        "a;b".into(),
        "a/*comment*/".into(),
        "a--b\n".into(),
        "nul\0byte".into(),
        "line\r\nBcc: victim@example.com".into(),
        "$(reboot)".into(),
        "`id`".into(),
        "x".repeat(300),
    ]
}

/// Fixtures for every kind, as the in-memory adapter accepts them. Provider
/// crates build their own; these double as examples.
pub fn memory_fixtures() -> Vec<Fixture> {
    let zone = "conformance.example";
    let label = |k: &str, v: &str| {
        let mut c = Common::default();
        c.labels.insert(k.into(), v.into());
        c
    };
    vec![
        Fixture::new(ServerSpec {
            name: "web-1".into(),
            region: Some("fra1".into()),
            ..Default::default()
        })
        .update(ServerSpec {
            name: "web-1".into(),
            region: Some("fra1".into()),
            plan: Some("large".into()),
            ..Default::default()
        })
        .invalid(ServerSpec {
            name: "".into(),
            ..Default::default()
        })
        .invalid(ServerSpec {
            name: "ok".into(),
            ipv4: Some("999.1.1.1".into()),
            ..Default::default()
        }),
        Fixture::new(WebServiceSpec {
            name: "shop".into(),
            framework: Some("nextjs".into()),
            ..Default::default()
        })
        .update(WebServiceSpec {
            name: "shop".into(),
            framework: Some("astro".into()),
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
        }),
        Fixture::new(DomainSpec {
            name: "shop.example.com".into(),
            ..Default::default()
        })
        .update(DomainSpec {
            name: "shop.example.com".into(),
            ssl: Some(false),
            ..Default::default()
        })
        .invalid(DomainSpec {
            name: "shop..example.com".into(),
            ..Default::default()
        })
        .invalid(DomainSpec {
            name: "x'; --".into(),
            ..Default::default()
        }),
        Fixture::new(DatabaseSpec {
            name: "shop_db".into(),
            connection_limit: Some(5),
            ..Default::default()
        })
        .update(DatabaseSpec {
            name: "shop_db".into(),
            connection_limit: Some(10),
            ..Default::default()
        })
        .invalid(DatabaseSpec {
            name: "".into(),
            ..Default::default()
        })
        .invalid(DatabaseSpec {
            name: "x".repeat(64),
            ..Default::default()
        }),
        Fixture::new(DnsZoneSpec {
            name: zone.into(),
            common: label("team", "a"),
            ..Default::default()
        })
        .update(DnsZoneSpec {
            name: zone.into(),
            nameservers: vec!["ns1.example.net".into(), "ns2.example.net".into()],
            common: label("team", "a"),
        })
        .invalid(DnsZoneSpec {
            name: "-bad-.example".into(),
            ..Default::default()
        })
        .invalid(DnsZoneSpec {
            name: "localhost".into(),
            ..Default::default()
        }),
        Fixture::new(MailboxSpec {
            address: "alice@example.com".into(),
            password: Some("Correct-Horse-1".to_owned().into()),
            quota_bytes: Some(1 << 30),
            ..Default::default()
        })
        .update(MailboxSpec {
            address: "alice@example.com".into(),
            quota_bytes: Some(2 << 30),
            ..Default::default()
        })
        .invalid(MailboxSpec {
            address: "alice@example.com\r\nBcc: x@y.com".into(),
            password: Some("x".to_owned().into()),
            ..Default::default()
        })
        .invalid(MailboxSpec {
            address: "a'; DROP TABLE users; --@example.com".into(),
            password: Some("x".to_owned().into()),
            ..Default::default()
        }),
        Fixture::new(MailForwarderSpec {
            source: "sales@example.com".into(),
            destinations: vec!["alice@example.com".into()],
            ..Default::default()
        })
        .update(MailForwarderSpec {
            source: "sales@example.com".into(),
            destinations: vec!["alice@example.com".into(), "bob@example.com".into()],
            ..Default::default()
        })
        .invalid(MailForwarderSpec {
            source: "sales@example.com".into(),
            destinations: vec![],
            ..Default::default()
        })
        .invalid(MailForwarderSpec {
            source: "sales@example.com".into(),
            destinations: vec!["not-an-address".into()],
            ..Default::default()
        }),
    ]
}
