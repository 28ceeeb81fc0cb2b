//! # stackdock-testkit: one conformance suite for every adapter
//!
//! Each check is a plain `pub async fn` in [`checks`] over `&dyn DockAdapter`
//! and a [`Fixture`] (as `object_store`'s integration tests are); the
//! [`Harness`] is a thin runner that switches them on by the adapter's
//! [`Capabilities`](stackdock_core::Capabilities) and returns a typed
//! [`Report`]. The in-memory adapter passes all of them in plain unit tests;
//! every provider crate runs them against its real server or a stateful fake
//! of its API.
//!
//! The harness tests the adapter the way applications get it: behind the
//! [`CheckedLayer`] that the
//! [`DockRegistry`](stackdock_core::DockRegistry) puts around every dock
//! ([`Harness::bare`] turns that off, to test an adapter's own checks).
//!
//! Per fixture (one per resource kind the adapter supports):
//!
//! | check | what it proves |
//! |---|---|
//! | `validation_first` | invalid specs fail with `InvalidInput`, no remote call |
//! | `observe_missing` | a missing id observes as absent, not an error |
//! | `lifecycle` | create (outcome *created*) → observe → listed → update → observe → delete → absent |
//! | `update` | listed as skipped when the lifecycle could not update (kind without update, fixture without an update spec) |
//! | `create_twice` | same id; first *created*, second *adopted* |
//! | `delete_twice` | deleting what is gone succeeds |
//! | `concurrent_creates` | 20 at once: one resource, created once, adopted by the rest, never untyped errors |
//! | `concurrent_deletes` | 20 at once all succeed, it is gone |
//! | `cancelled_create` | dropped at several points then repeated: exactly one resource, no orphan |
//! | `tenant_isolation` | (tenancy) tenant B never adopts, lists or changes tenant A's resource |
//! | `paging` | `page_size = 1` walks every page, no repeats |
//! | `no_secrets` | no registered secret in the resource or in errors, in any encoding |
//! | `nothing_half_made` | (fault hook) failing the k-th remote call, for every k, leaves nothing half-made |
//!
//! Per adapter: `unsupported_is_explicit`, `unsupported_arguments` (an
//! argument not honoured is `Unsupported`, never dropped) and
//! `debug_has_no_secrets`. A check that does not apply is listed as skipped
//! with the reason, never passed silently.
//!
//! ```
//! use std::sync::Arc;
//! use stackdock_core::InMemoryAdapter;
//! use stackdock_testkit::{memory_fixtures, Harness};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let adapter = Arc::new(InMemoryAdapter::new("conformance"));
//! let counter = adapter.clone();
//! let report = Harness::new(adapter.clone())
//!     .fixtures(memory_fixtures())
//!     .remote_calls(move || counter.remote_calls())
//!     .faults(adapter)
//!     .run()
//!     .await; // panics with the report if any check failed
//! // Seven kinds, each through the whole lifecycle, one resource each.
//! assert_eq!(report.count("lifecycle"), 7);
//! assert_eq!(report.touched_by("lifecycle"), 7);
//! assert_eq!(report.count("concurrent_creates"), 7);
//! # });
//! ```
//!
//! Throwaway real servers for the crates' integration tests, one way each:
//! [`powerdns`] (a `pdns_server` and a DNS client to check what it serves)
//! and [`pg_cluster`] (a private PostgreSQL cluster: restarts, SCRAM, TLS).
//!
//! For benchmarks: [`ZeroDock`], a dock that costs next to nothing
//! (deterministic ids, a look is a map lookup).

pub mod checks;
pub mod fake_rest;
pub mod fixture;
// The leak check of the conformance suite (documented in leak.rs: an outer doc
// here would make rustdoc resolve that file's links from this scope).
pub mod leak;
pub mod pg_cluster;
pub mod powerdns;
pub mod report;
pub mod zero_dock;

use std::fmt;
use std::sync::Arc;

use stackdock_core::layer::{CheckedLayer, Layer};
use stackdock_core::{DockAdapter, Error, InMemoryAdapter};

pub use checks::{Check, FaultHook};
pub use fixture::{default_spec, dns_fixtures, hostile_names, memory_fixtures, Fixture};
pub use report::{CheckResult, Outcome, Report};
pub use zero_dock::ZeroDock;

/// How many concurrent calls the race checks make.
pub const RACE_WIDTH: usize = 20;

type Counter = Box<dyn Fn() -> usize + Send + Sync>;

/// Runs the conformance checks against one adapter.
pub struct Harness {
    adapter: Arc<dyn DockAdapter>,
    layered: bool,
    fixtures: Vec<Fixture>,
    remote_calls: Option<Counter>,
    secrets: Vec<String>,
    faults: Option<Arc<dyn FaultHook>>,
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("adapter", &self.adapter.provider().id)
            .field("layered", &self.layered)
            .field("fixtures", &self.fixtures.len())
            .field("secrets", &self.secrets.len())
            .field("faults", &self.faults.is_some())
            .finish()
    }
}

impl Harness {
    /// A harness for `adapter` (tested behind the `CheckedLayer`).
    pub fn new(adapter: Arc<dyn DockAdapter>) -> Self {
        Harness {
            adapter,
            layered: true,
            fixtures: Vec::new(),
            remote_calls: None,
            secrets: Vec::new(),
            faults: None,
        }
    }

    /// Test the adapter without the `CheckedLayer`: its own validation and
    /// capability checks must then hold by themselves.
    pub fn bare(mut self) -> Self {
        self.layered = false;
        self
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
    /// server, statements run ...). Without it `validation_first` is skipped.
    pub fn remote_calls(mut self, counter: impl Fn() -> usize + Send + Sync + 'static) -> Self {
        self.remote_calls = Some(Box::new(counter));
        self
    }

    /// A string that must never appear in the adapter's output.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// The adapter's fault hook: enables `nothing_half_made`.
    pub fn faults(mut self, hook: Arc<dyn FaultHook>) -> Self {
        self.faults = Some(hook);
        self
    }

    /// Run every check, then panic with the report if anything failed.
    pub async fn run(self) -> Report {
        let report = self.run_collect().await;
        if !report.is_ok() {
            panic!("{report}");
        }
        eprintln!("{report}");
        report
    }

    /// Run every check and return the report without panicking.
    pub async fn run_collect(self) -> Report {
        let adapter = if self.layered {
            CheckedLayer.layer(self.adapter.clone())
        } else {
            self.adapter.clone()
        };
        let mut report = Report {
            provider: adapter.provider().id.clone(),
            results: Vec::new(),
        };
        for fixture in &self.fixtures {
            self.run_fixture(adapter.as_ref(), fixture, &mut report)
                .await;
        }
        let fixtures = &self.fixtures;
        let a = adapter.as_ref();
        let whole = [
            (
                "unsupported_is_explicit",
                checks::unsupported_is_explicit(a, fixtures).await,
            ),
            (
                "unsupported_arguments",
                checks::unsupported_arguments(a, fixtures).await,
            ),
            (
                "debug_has_no_secrets",
                checks::debug_has_no_secrets(a, &self.secrets),
            ),
        ];
        for (check, result) in whole {
            push(&mut report, check, None, Ok(result));
        }
        report
    }

    async fn run_fixture(&self, a: &dyn DockAdapter, fixture: &Fixture, report: &mut Report) {
        let kind = Some(fixture.kind());
        let ops = a.capabilities().for_kind(fixture.kind());
        let args = a.capabilities().arguments;
        let full = ops.create && ops.observe && ops.delete;
        const NEEDS_CRUD: &str = "needs create, observe and delete";
        let races = match (&fixture.skip_races, fixture.idempotent_create) {
            (Some(why), _) => Err(why.clone()),
            (None, false) => Err("creates are not idempotent by design".to_owned()),
            _ => Ok(()),
        };

        let result = match &self.remote_calls {
            Some(counter) => Ok(checks::validation_first(a, fixture, counter.as_ref()).await),
            None => Err("no remote-call counter".to_owned()),
        };
        push(report, "validation_first", kind, result);
        let result = if ops.observe {
            Ok(checks::observe_missing(a, fixture).await)
        } else {
            Err("observe not supported".to_owned())
        };
        push(report, "observe_missing", kind, result);
        if !full {
            for check in [
                "lifecycle",
                "create_twice",
                "delete_twice",
                "paging",
                "no_secrets",
            ] {
                push(report, check, kind, Err(NEEDS_CRUD.to_owned()));
            }
            return;
        }
        push(
            report,
            "lifecycle",
            kind,
            Ok(checks::lifecycle(a, fixture).await),
        );
        // The lifecycle updates only where it can: say so when it could not,
        // rather than let a passed lifecycle stand for a tested update.
        let no_update = if !ops.update {
            Some("update not supported on this kind")
        } else if fixture.update.is_none() {
            Some("the fixture gives no update spec")
        } else {
            None
        };
        if let Some(why) = no_update {
            push(report, "update", kind, Err(why.to_owned()));
        }
        let result = if fixture.idempotent_create {
            Ok(checks::create_twice(a, fixture).await)
        } else {
            Err("not idempotent by design".to_owned())
        };
        push(report, "create_twice", kind, result);
        push(
            report,
            "delete_twice",
            kind,
            Ok(checks::delete_twice(a, fixture).await),
        );
        let result = match races.clone() {
            Ok(()) => Ok(checks::concurrent_creates(a, fixture, RACE_WIDTH).await),
            Err(why) => Err(why),
        };
        push(report, "concurrent_creates", kind, result);
        push(
            report,
            "concurrent_deletes",
            kind,
            Ok(checks::concurrent_deletes(a, fixture, RACE_WIDTH).await),
        );
        let result = match races {
            Ok(()) => Ok(checks::cancelled_create(a, fixture).await),
            Err(why) => Err(why),
        };
        push(report, "cancelled_create", kind, result);
        let result = if args.tenancy && fixture.idempotent_create {
            Ok(checks::tenant_isolation(a, fixture).await)
        } else {
            Err("the adapter does not support tenancy".to_owned())
        };
        push(report, "tenant_isolation", kind, result);
        let result = if ops.list {
            Ok(checks::paging(a, fixture).await)
        } else {
            Err("list not supported".to_owned())
        };
        push(report, "paging", kind, result);
        let result = Ok(checks::no_secrets(a, fixture, &self.secrets).await);
        push(report, "no_secrets", kind, result);
        let result = match &self.faults {
            Some(hook) => Ok(checks::nothing_half_made(a, fixture, hook.as_ref()).await),
            None => Err("the adapter exposes no fault hook".to_owned()),
        };
        push(report, "nothing_half_made", kind, result);
    }
}

/// Files one check: `Ok(result)` when it ran, `Err(why)` when skipped.
fn push(
    report: &mut Report,
    check: &'static str,
    kind: Option<stackdock_core::ResourceKind>,
    ran: Result<Check, String>,
) {
    let (outcome, touched) = match ran {
        Ok(Ok(touched)) => (Outcome::Passed, touched),
        Ok(Err(why)) => (Outcome::Failed(why), 0),
        Err(why) => (Outcome::Skipped(why), 0),
    };
    report.results.push(CheckResult {
        check,
        kind,
        outcome,
        touched,
    });
}

/// The in-memory adapter's fault hook: its k-th remote call fails with a
/// temporary `Unavailable`.
impl FaultHook for InMemoryAdapter {
    fn fail_call(&self, k: usize) {
        self.fail_call_number(k, Error::new(stackdock_core::ErrorKind::Unavailable));
    }

    fn clear(&self) {
        self.clear_faults();
    }
}
