//! Workers on one PostgreSQL store, measured in one run (not run by CI):
//!
//! * **throughput**: 60 single-step applies on a dock with 20 ms latency per
//!   call, executed by 1 worker vs 3 workers (concurrency 1 each). Target:
//!   3 workers ≥ 2.5× one.
//! * **claim latency**: an idle worker (woken by `LISTEN/NOTIFY`) starts a
//!   newly enqueued run — time from `enqueue` to its claim, p50
//!   and p95 over 40 runs. Target: p95 ≤ 100 ms.
//! * **durable-state overhead**: a 1,000-step apply on a zero-latency dock
//!   (deterministic ids: a look is a map lookup; 8 steps at a time),
//!   in-process and through a worker (whose writes are fenced), against the
//!   raw commits the steps need — two single-row upserts per step (intent,
//!   outcome), each its own transaction, 8 at a time on the same server.
//!   Five rounds alternating apply and raw commits; every round's ratios
//!   and the median. Target: ≤ 1.5×.
//!
//! ```text
//! STACKDOCK_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo bench -p stackdock-runtime-postgres --bench workers
//! ```
#![allow(clippy::print_stdout)] // a bench prints its results

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use stackdock_core::spec::ResourceSpec;
use stackdock_core::{
    Capabilities, Created, DockAdapter, DockRegistry, InMemoryAdapter, ListOptions, Observation,
    Page, ProviderInfo, Resource, ResourceId, ResourceKind,
};
use stackdock_runtime::blueprint::Blueprint;
use stackdock_runtime::model::RunId;
use stackdock_runtime::store::MemoryStore;
use stackdock_runtime::worker::{Worker, WorkerOptions};
use stackdock_runtime::{ApplyOptions, RunRequest, Runtime};
use stackdock_runtime_postgres::{PostgresStore, PostgresStoreConfig};
// The zero-latency dock of the durable-overhead measure (deterministic ids:
// a look is a map lookup), the same as the SQLite bench's in stackdock-runtime.
use stackdock_testkit::ZeroDock;

/// An in-memory dock with a fixed latency per call.
#[derive(Debug)]
struct Slow {
    inner: InMemoryAdapter,
    latency: Duration,
}

impl Slow {
    async fn call(&self) {
        // A zero-latency dock answers at once (a zero sleep still waits
        // for the timer's next tick, up to 1 ms).
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }
}

#[async_trait]
impl DockAdapter for Slow {
    fn provider(&self) -> &ProviderInfo {
        self.inner.provider()
    }
    fn dock_id(&self) -> &str {
        self.inner.dock_id()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn check_credentials(&self) -> stackdock_core::Result<()> {
        self.inner.check_credentials().await
    }
    async fn list(
        &self,
        kind: ResourceKind,
        options: &ListOptions,
    ) -> stackdock_core::Result<Page<Resource>> {
        self.call().await;
        self.inner.list(kind, options).await
    }
    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> stackdock_core::Result<Observation> {
        self.call().await;
        self.inner.observe(id, desired).await
    }
    async fn create(&self, spec: &ResourceSpec) -> stackdock_core::Result<Created> {
        self.call().await;
        self.inner.create(spec).await
    }
    async fn update(
        &self,
        id: &ResourceId,
        spec: &ResourceSpec,
    ) -> stackdock_core::Result<Resource> {
        self.call().await;
        self.inner.update(id, spec).await
    }
    async fn delete(&self, id: &ResourceId) -> stackdock_core::Result<()> {
        self.call().await;
        self.inner.delete(id).await
    }
}

fn url() -> String {
    std::env::var("STACKDOCK_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn store(schema: &str) -> Arc<PostgresStore> {
    let config = PostgresStoreConfig::from_url(&url())
        .unwrap()
        .with_schema(schema)
        .unwrap()
        .with_max_connections(16);
    Arc::new(PostgresStore::connect(config).await.expect("PostgreSQL"))
}

fn runtime(store: Arc<PostgresStore>, dock: Arc<dyn DockAdapter>) -> Runtime {
    let mut docks = DockRegistry::new();
    docks.insert(dock).unwrap();
    Runtime::new(store, docks)
}

fn request(scope: &str) -> RunRequest {
    let blueprint = Blueprint::builder(scope)
        .step_json(
            "zone",
            "slow",
            serde_json::json!({"kind": "dns_zone", "name": format!("{scope}.example")}),
        )
        .build()
        .unwrap();
    RunRequest::apply(&blueprint, "bench", ApplyOptions::keep())
}

fn slow_dock(latency: Duration) -> Arc<Slow> {
    Arc::new(Slow {
        inner: InMemoryAdapter::new("slow"),
        latency,
    })
}

/// Wall time for `workers` workers (concurrency 1 each) to execute `runs`
/// queued applies.
async fn throughput(schema: &str, workers: usize, runs: usize) -> Duration {
    let dock = slow_dock(Duration::from_millis(20));
    let client = runtime(store(schema).await, dock.clone());
    let mut ids = Vec::new();
    for i in 0..runs {
        let scope = format!("w{workers}-t{i}");
        ids.push(
            client
                .enqueue(&request(&scope))
                .await
                .unwrap()
                .run()
                .id
                .clone(),
        );
    }
    // Each worker's store connected (and its schema checked) before the
    // clock starts: the measure is executing runs, not starting replicas.
    let mut stores = Vec::new();
    for _ in 0..workers {
        stores.push(store(schema).await);
    }
    let start = Instant::now();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for (w, store) in stores.into_iter().enumerate() {
        let worker = Worker::new(runtime(store, dock.clone())).with_options(
            WorkerOptions::default()
                .with_id(format!("bench-{w}"))
                .with_concurrency(1)
                .with_idle_wait(Duration::from_millis(200)),
        );
        let mut stopped = stopped.clone();
        tasks.push(tokio::spawn(worker.run_until(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })));
    }
    for id in &ids {
        client.wait(id).await.unwrap();
    }
    let elapsed = start.elapsed();
    stop.send(true).unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    elapsed
}

/// Enqueue-to-first-dock-call latency of an idle worker, `samples` times.
async fn claim_latency(schema: &str, samples: usize) -> Vec<Duration> {
    let client_store = store(schema).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker_dock = slow_dock(Duration::ZERO);
    let worker = Worker::new(runtime(store(schema).await, worker_dock)).with_options(
        WorkerOptions::default()
            .with_id("bench-idle")
            .with_idle_wait(Duration::from_secs(5)),
    );
    let mut stopped_rx = stopped.clone();
    let task = tokio::spawn(worker.run_until(async move {
        let _ = stopped_rx.wait_for(|s| *s).await;
    }));
    let mut latencies = Vec::new();
    for i in 0..samples {
        tokio::time::sleep(Duration::from_millis(150)).await; // the worker is idle again
        let client = runtime(client_store.clone(), slow_dock(Duration::ZERO));
        // Claimed = attempts 1 (the store's own record of the claim), polled
        // every 2 ms: the measure includes up to 2 ms of polling.
        let start = Instant::now();
        let id: RunId = client
            .enqueue(&request(&format!("latency-{i}")))
            .await
            .unwrap()
            .run()
            .id
            .clone();
        loop {
            let run = client.store().get_run(&id).await.unwrap().unwrap();
            if run.attempts >= 1 {
                latencies.push(start.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        client.wait(&id).await.unwrap();
    }
    stop.send(true).unwrap();
    task.await.unwrap();
    latencies
}

/// A blueprint of `steps` independent databases on the zero-latency dock.
fn wide(scope: &str, steps: usize) -> Blueprint {
    let mut builder = Blueprint::builder(scope);
    for i in 0..steps {
        builder = builder.step_json(
            format!("d{i}"),
            "zero",
            serde_json::json!({"kind": "database", "name": format!("{}_d{i}", scope.replace('-', "_"))}),
        );
    }
    builder.build().unwrap()
}

/// Wall time of a `steps`-step apply, 8 steps at a time: in-process, or
/// queued and executed by a worker (fenced writes).
async fn wide_apply(schema: &str, scope: &str, steps: usize, by_worker: bool) -> Duration {
    let runtime = runtime(store(schema).await, Arc::new(ZeroDock::new("zero")))
        .with_concurrency(8)
        .with_default_dock_concurrency(8);
    let blueprint = wide(scope, steps);
    if !by_worker {
        return timed_apply(&runtime, &blueprint).await;
    }
    let worker = Worker::new(runtime.clone()).with_options(
        WorkerOptions::default()
            .with_id("bench-overhead")
            .with_concurrency(1),
    );
    // Enqueued before the worker starts, so its first claim takes the run
    // and the measure holds no LISTEN set-up.
    let start = Instant::now();
    let request = RunRequest::apply(&blueprint, "bench", ApplyOptions::keep());
    let id = runtime.enqueue(&request).await.unwrap().run().id.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(worker.run_until(async {
        let _ = stopped.await;
    }));
    let run = runtime.wait(&id).await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(run.status, stackdock_runtime::model::RunStatus::Succeeded);
    stop.send(()).unwrap();
    task.await.unwrap();
    elapsed
}

/// `commits` single-row upserts of a ~600-byte step body, each its own
/// transaction, 8 at a time (the apply's concurrency), on the same server,
/// into a fresh table of round `round`.
async fn raw_commits(schema: &str, round: usize, commits: usize) -> Duration {
    let info = stackdock_pg::conninfo::parse(&url()).unwrap();
    let tls = stackdock_pg::TlsSettings::new(info.ssl_mode.unwrap_or_default());
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(stackdock_pg::connect(&info.config, &tls).await.unwrap());
    }
    clients[0]
        .batch_execute(&format!(
            "CREATE TABLE {schema}.raw_steps_{round} (step TEXT PRIMARY KEY, state TEXT NOT NULL, body TEXT NOT NULL)"
        ))
        .await
        .unwrap();
    let sql = format!(
        "INSERT INTO {schema}.raw_steps_{round} (step, state, body) VALUES ($1, $2, $3) \
         ON CONFLICT (step) DO UPDATE SET state = excluded.state, body = excluded.body"
    );
    let body = "x".repeat(600);
    let start = Instant::now();
    let lanes = clients.iter().enumerate().map(|(lane, client)| {
        let (sql, body) = (&sql, &body);
        async move {
            let statement = client.prepare(sql).await.unwrap();
            for i in (lane..commits).step_by(8) {
                let state = if i % 2 == 0 {
                    "provisioning"
                } else {
                    "provisioned"
                };
                client
                    .execute(&statement, &[&format!("s{}", i / 2), &state, body])
                    .await
                    .unwrap();
            }
        }
    });
    futures::future::join_all(lanes).await;
    start.elapsed()
}

/// The same apply on the in-memory store: what the engine costs without a
/// durable write, for context.
async fn memory_apply(steps: usize) -> Duration {
    let mut docks = DockRegistry::new();
    docks.insert(Arc::new(ZeroDock::new("zero"))).unwrap();
    let runtime = Runtime::new(Arc::new(MemoryStore::new()), docks)
        .with_concurrency(8)
        .with_default_dock_concurrency(8);
    timed_apply(&runtime, &wide("memory", steps)).await
}

/// Wall time of an in-process apply of `blueprint`, which must succeed.
async fn timed_apply(runtime: &Runtime, blueprint: &Blueprint) -> Duration {
    let start = Instant::now();
    let report = runtime
        .apply(blueprint, "bench", ApplyOptions::keep())
        .await
        .unwrap();
    assert!(report.succeeded());
    start.elapsed()
}

/// What the apply's dock calls cost by themselves: each step's look (find)
/// and create on a fresh zero-latency dock, no runtime, no store.
async fn dock_calls(blueprint: &Blueprint) -> Duration {
    let specs: Vec<ResourceSpec> = blueprint
        .steps
        .values()
        .map(|def| serde_json::from_value(def.spec.clone()).unwrap())
        .collect();
    ZeroDock::new("zero").time_looks_and_creates(&specs).await
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let schema = format!("sd_bench_{}", &RunId::new().0[..8]);
    // `cargo bench ... -- overhead` runs only the measures named so.
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let wanted = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    if wanted("throughput") {
        throughput_ratio(&schema).await;
    }
    if wanted("latency") {
        claim_latency_percentiles(&schema).await;
    }
    if wanted("overhead") {
        durable_overhead(&schema).await;
    }
    drop_schema(&schema).await;
}

async fn throughput_ratio(schema: &str) {
    let runs = 60;
    let one = throughput(schema, 1, runs).await;
    let three = throughput(schema, 3, runs).await;
    let speedup = ratio(one, three);
    println!(
        "throughput, {runs} runs at 20 ms per call: 1 worker {one:?}, 3 workers {three:?}: {speedup:.2}x (target >= 2.5x) {}",
        if speedup >= 2.5 { "MET" } else { "NOT MET" }
    );
}

async fn claim_latency_percentiles(schema: &str) {
    let mut latencies = claim_latency(schema, 40).await;
    latencies.sort();
    let p50 = percentile(&latencies, 0.5);
    let p95 = percentile(&latencies, 0.95);
    println!(
        "claim latency (enqueue -> claimed by an idle worker), 40 runs: p50 {p50:?}, p95 {p95:?} (target p95 <= 100 ms) {}",
        if p95 <= Duration::from_millis(100) { "MET" } else { "NOT MET" }
    );
}

async fn durable_overhead(schema: &str) {
    // Rounds alternate the apply and its raw commits, so a busy machine
    // slows both alike; every round's ratios are printed, then the median.
    const STEPS: usize = 1_000;
    const ROUNDS: usize = 5;
    let (mut in_process, mut by_worker) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let apply = wide_apply(schema, &format!("wide-a{round}"), STEPS, false).await;
        let worker = wide_apply(schema, &format!("wide-b{round}"), STEPS, true).await;
        let raw = raw_commits(schema, round, 2 * STEPS).await;
        let calls = dock_calls(&wide("calls", STEPS)).await;
        let engine = memory_apply(STEPS).await;
        let (a, w) = (ratio(apply, raw), ratio(worker, raw));
        println!(
            "durable-state overhead, round {round}: {STEPS}-step apply in-process {apply:?} ({a:.2}x), through a worker {worker:?} ({w:.2}x), raw {} commits {raw:?}; the same apply on the memory store (the engine alone) {engine:?}, its look + create calls on the bare zero-latency dock {calls:?}",
            2 * STEPS
        );
        in_process.push(a);
        by_worker.push(w);
    }
    for (how, mut ratios) in [("in-process", in_process), ("through a worker", by_worker)] {
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        println!(
            "durable-state overhead, {STEPS}-step apply {how}, median of {ROUNDS}: {median:.2}x (target <= 1.5x) {}",
            if median <= 1.5 { "MET" } else { "NOT MET" }
        );
    }
}

async fn drop_schema(schema: &str) {
    let info = stackdock_pg::conninfo::parse(&url()).unwrap();
    let client = stackdock_pg::connect(
        &info.config,
        &stackdock_pg::TlsSettings::new(info.ssl_mode.unwrap_or_default()),
    )
    .await
    .unwrap();
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}
