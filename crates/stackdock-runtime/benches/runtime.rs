//! The runtime's speed targets as ratios measured in one run (issue 13):
//!
//! 1. Apply of a 20-resource DAG, 20 ms per dock call: wall / critical path
//!    (the latencies along the longest dependency chain) ≤ 1.1.
//! 2. Reconcile sweep of 1,000 tenants × 8 resources, all up to date, 10 ms
//!    per observe, 64 at a time: wall / (8,000 × 10 ms / 64) ≤ 1.2, and zero
//!    mutating calls.
//! 3. SQLite durable overhead: a 1,000-step run on a zero-latency dock
//!    (deterministic ids: a look is a map lookup) / the raw SQLite commits
//!    the steps need (two per step: intent and outcome, same file
//!    settings) ≤ 1.5.
//!
//! `cargo bench -p stackdock-runtime --bench runtime` (not run by CI).

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)] // a bench prints its results

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use stackdock_core::spec::ResourceSpec;
use stackdock_core::{
    Capabilities, Created, DockAdapter, DockRegistry, InMemoryAdapter, ListOptions, Observation,
    Page, ProviderInfo, Resource, ResourceId, ResourceKind, Result,
};
use stackdock_runtime::blueprint::Blueprint;
use stackdock_runtime::controller::{ControllerConfig, ScopeRef};
use stackdock_runtime::store::{MemoryStore, SqliteStore, Store};
use stackdock_runtime::{ApplyOptions, Runtime};
// The zero-latency dock of the SQLite bench (deterministic ids: a look is a
// map lookup).
use stackdock_testkit::ZeroDock;

/// An in-memory dock with a settable latency per call and a count of
/// mutating calls.
#[derive(Debug)]
struct Latency {
    inner: InMemoryAdapter,
    micros: AtomicU64,
    mutations: AtomicUsize,
}

impl Latency {
    fn new(dock: &str) -> Self {
        Latency {
            inner: InMemoryAdapter::new(dock),
            micros: AtomicU64::new(0),
            mutations: AtomicUsize::new(0),
        }
    }

    fn set(&self, latency: Duration) {
        self.micros
            .store(latency.as_micros() as u64, Ordering::SeqCst);
    }

    async fn wait(&self) {
        let micros = self.micros.load(Ordering::SeqCst);
        if micros > 0 {
            tokio::time::sleep(Duration::from_micros(micros)).await;
        }
    }
}

#[async_trait]
impl DockAdapter for Latency {
    fn provider(&self) -> &ProviderInfo {
        self.inner.provider()
    }
    fn dock_id(&self) -> &str {
        self.inner.dock_id()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn planned_id(&self, spec: &ResourceSpec) -> Option<ResourceId> {
        self.inner.planned_id(spec)
    }
    async fn check_credentials(&self) -> Result<()> {
        self.inner.check_credentials().await
    }
    async fn list(&self, kind: ResourceKind, options: &ListOptions) -> Result<Page<Resource>> {
        self.wait().await;
        self.inner.list(kind, options).await
    }
    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        self.wait().await;
        self.inner.observe(id, desired).await
    }
    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        self.wait().await;
        self.mutations.fetch_add(1, Ordering::SeqCst);
        self.inner.create(spec).await
    }
    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        self.wait().await;
        self.mutations.fetch_add(1, Ordering::SeqCst);
        self.inner.update(id, spec).await
    }
    async fn delete(&self, id: &ResourceId) -> Result<()> {
        self.wait().await;
        self.mutations.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(id).await
    }
}

fn runtime(store: Arc<dyn Store>, dock: Arc<dyn DockAdapter>, concurrency: usize) -> Runtime {
    let mut docks = DockRegistry::new();
    docks.insert(dock).unwrap();
    Runtime::new(store, docks)
        .with_concurrency(concurrency)
        .with_default_dock_concurrency(concurrency)
}

/// `width` chains of `depth` databases, each needing the one before it.
fn dag(scope: &str, width: usize, depth: usize) -> Blueprint {
    let mut builder = Blueprint::builder(scope);
    for level in 0..depth {
        for lane in 0..width {
            let name = format!("s{level}_{lane}");
            builder = builder.step_json(
                &name,
                "d",
                serde_json::json!({"kind": "database", "name": format!("{scope}_{name}")}),
            );
            if level > 0 {
                builder = builder.needs(format!("s{}_{lane}", level - 1));
            }
        }
    }
    builder.build().unwrap()
}

async fn dag_apply() {
    const LATENCY: Duration = Duration::from_millis(20);
    let (width, depth) = (5, 4);
    let dock = Arc::new(Latency::new("d"));
    dock.set(LATENCY);
    let runtime = runtime(Arc::new(MemoryStore::new()), dock.clone(), 32);
    // Each fresh step makes two calls (look, then create).
    let critical = LATENCY * 2 * depth as u32;
    let mut best = Duration::MAX;
    for trial in 0..5 {
        let started = Instant::now();
        let report = runtime
            .apply(
                &dag(&format!("dag{trial}"), width, depth),
                "bench",
                ApplyOptions::keep(),
            )
            .await
            .unwrap();
        best = best.min(started.elapsed());
        assert!(report.succeeded());
    }
    // The physical floor of the same sleeps, in this process.
    let started = Instant::now();
    for _ in 0..2 * depth {
        tokio::time::sleep(LATENCY).await;
    }
    let floor = started.elapsed();
    println!(
        "dag apply (20 resources, 20 ms/call): best of 5 {:.1} ms, critical path {:.1} ms -> {:.3}x (target <= 1.1); same sleeps in a row {:.1} ms -> {:.3}x",
        ms(best),
        ms(critical),
        ratio(best, critical),
        ms(floor),
        ratio(best, floor)
    );
}

async fn reconcile_sweep() {
    const TENANTS: usize = 1_000;
    const OBSERVE: Duration = Duration::from_millis(10);
    const CONCURRENCY: usize = 64;
    let dock = Arc::new(Latency::new("d"));
    let runtime = runtime(Arc::new(MemoryStore::new()), dock.clone(), CONCURRENCY);
    let mut scopes = Vec::with_capacity(TENANTS);
    for t in 0..TENANTS {
        let scope = format!("t{t}");
        runtime
            .apply(&dag(&scope, 8, 1), "bench", ApplyOptions::keep())
            .await
            .unwrap();
        scopes.push(ScopeRef::new(scope, "default"));
    }
    let config = ControllerConfig {
        concurrency: CONCURRENCY,
        ..ControllerConfig::default()
    };
    // The engine's own cost: the same sweep with no latency.
    let started = Instant::now();
    runtime
        .controller(scopes.clone(), config.clone())
        .sweep()
        .await;
    let cpu = started.elapsed();
    dock.set(OBSERVE);
    let before = dock.mutations.load(Ordering::SeqCst);
    let controller = runtime.controller(scopes, config);
    let started = Instant::now();
    let sweep = controller.sweep().await;
    let wall = started.elapsed();
    assert_eq!(sweep.reconciled, TENANTS, "{sweep:?}");
    let mutations = dock.mutations.load(Ordering::SeqCst) - before;
    let bound = OBSERVE * (TENANTS as u32 * 8) / CONCURRENCY as u32;
    println!(
        "reconcile sweep ({TENANTS} tenants x 8, 10 ms/observe, {CONCURRENCY} at a time): {:.0} ms, lower bound {:.0} ms -> {:.3}x (target <= 1.2); mutating calls {mutations} (target 0); the same sweep at zero latency {:.0} ms",
        ms(wall),
        ms(bound),
        ratio(wall, bound),
        ms(cpu)
    );
}

async fn sqlite_overhead() {
    const STEPS: usize = 1_000;
    const ROUNDS: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("run")).await.unwrap());
    // Rounds alternate the run and its raw commits, so a busy machine
    // slows both alike; the best of each is compared.
    let mut best = [Duration::MAX; 4];
    for round in 0..ROUNDS {
        let blueprint = dag(&format!("big{round}"), STEPS, 1);
        let times = [
            timed_apply(&store, &blueprint, 8).await,
            raw_commits(dir.path().join(format!("raw{round}")), 2 * STEPS).await,
            // One step at a time: every write commits alone (nothing queues
            // behind the writer to share its commit), so this is the
            // runtime's cost per write, before group commit.
            timed_apply(&store, &dag(&format!("one{round}"), STEPS, 1), 1).await,
            dock_calls(&blueprint).await,
        ];
        for (best, time) in best.iter_mut().zip(times) {
            *best = (*best).min(time);
        }
    }
    let [run, raw, serial, calls] = best;
    println!(
        "sqlite durable overhead ({STEPS}-step run, best of {ROUNDS} alternating rounds): {:.0} ms, raw {} commits {:.0} ms -> {:.3}x (target <= 1.5); one step at a time (every write its own commit) {:.0} ms -> {:.3}x; the same look + create calls on the bare zero-latency dock {:.1} ms",
        ms(run),
        2 * STEPS,
        ms(raw),
        ratio(run, raw),
        ms(serial),
        ratio(serial, raw),
        ms(calls)
    );
}

/// The wall time of a successful apply of `blueprint` on a fresh
/// zero-latency dock, `concurrency` steps at a time.
async fn timed_apply(
    store: &Arc<dyn Store>,
    blueprint: &Blueprint,
    concurrency: usize,
) -> Duration {
    let runtime = runtime(store.clone(), Arc::new(ZeroDock::new("d")), concurrency);
    let started = Instant::now();
    let report = runtime
        .apply(blueprint, "bench", ApplyOptions::keep())
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(report.succeeded());
    elapsed
}

/// What the run's dock calls cost by themselves: each step's look (find)
/// and create on a fresh zero-latency dock, no runtime, no store.
async fn dock_calls(blueprint: &Blueprint) -> Duration {
    let specs: Vec<ResourceSpec> = blueprint
        .steps
        .values()
        .map(|def| serde_json::from_value(def.spec.clone()).unwrap())
        .collect();
    ZeroDock::new("d").time_looks_and_creates(&specs).await
}

/// `commits` single-row upserts, each its own transaction, on a file with
/// the store's settings (WAL, synchronous FULL).
async fn raw_commits(dir: std::path::PathBuf, commits: usize) -> Duration {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    std::fs::create_dir_all(&dir).unwrap();
    let options = SqliteConnectOptions::new()
        .filename(dir.join("raw.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE steps (step TEXT PRIMARY KEY, state TEXT NOT NULL, body TEXT NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let body = "x".repeat(600);
    let started = Instant::now();
    for i in 0..commits {
        sqlx::query(
            "INSERT INTO steps (step, state, body) VALUES (?, ?, ?) \
             ON CONFLICT (step) DO UPDATE SET state = excluded.state, body = excluded.body",
        )
        .bind(format!("s{}", i / 2))
        .bind(if i % 2 == 0 {
            "provisioning"
        } else {
            "provisioned"
        })
        .bind(&body)
        .execute(&pool)
        .await
        .unwrap();
    }
    started.elapsed()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
        let wanted = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
        if wanted("dag") {
            dag_apply().await;
        }
        if wanted("sweep") {
            reconcile_sweep().await;
        }
        if wanted("sqlite") {
            sqlite_overhead().await;
        }
    });
}
