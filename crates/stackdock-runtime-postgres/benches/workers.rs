//! Workers on one PostgreSQL store, measured in one run (not run by CI):
//!
//! * **throughput**: 60 single-step applies on a dock with 20 ms latency per
//!   call, executed by 1 worker vs 3 workers (concurrency 1 each). Target:
//!   3 workers ≥ 2.5× one.
//! * **claim latency**: an idle worker (woken by `LISTEN/NOTIFY`) starts a
//!   newly enqueued run — time from `enqueue` to its claim, p50
//!   and p95 over 40 runs. Target: p95 ≤ 100 ms.
//! * **durable-state overhead**: a 1,000-step apply on a zero-latency dock
//!   (8 steps at a time), in-process and through a worker (whose writes are
//!   fenced), against the raw commits the steps need — two single-row
//!   upserts per step (intent, outcome), each its own transaction, 8 at a
//!   time on the same server. Target: ≤ 1.5×.
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
use stackdock_runtime::worker::{Worker, WorkerOptions};
use stackdock_runtime::{ApplyOptions, RunRequest, Runtime};
use stackdock_runtime_postgres::{PostgresStore, PostgresStoreConfig};

/// An in-memory dock with a fixed latency per call.
#[derive(Debug)]
struct Slow {
    inner: InMemoryAdapter,
    latency: Duration,
}

impl Slow {
    async fn call(&self) {
        tokio::time::sleep(self.latency).await;
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

fn runtime(store: Arc<PostgresStore>, dock: Arc<Slow>) -> Runtime {
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
    let start = Instant::now();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let worker = Worker::new(runtime(store(schema).await, dock.clone())).with_options(
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

/// A blueprint of `steps` independent zones.
fn wide(scope: &str, steps: usize) -> Blueprint {
    let mut builder = Blueprint::builder(scope);
    for i in 0..steps {
        builder = builder.step_json(
            format!("z{i}"),
            "slow",
            serde_json::json!({"kind": "dns_zone", "name": format!("z{i}.{scope}.example")}),
        );
    }
    builder.build().unwrap()
}

/// Wall time of a `steps`-step apply, 8 steps at a time: in-process, or
/// queued and executed by a worker (fenced writes).
async fn wide_apply(schema: &str, scope: &str, steps: usize, by_worker: bool) -> Duration {
    let runtime = runtime(store(schema).await, slow_dock(Duration::ZERO))
        .with_concurrency(8)
        .with_default_dock_concurrency(8);
    let blueprint = wide(scope, steps);
    if !by_worker {
        let start = Instant::now();
        let report = runtime
            .apply(&blueprint, "bench", ApplyOptions::keep())
            .await
            .unwrap();
        assert!(report.succeeded());
        return start.elapsed();
    }
    let worker = Worker::new(runtime.clone()).with_options(
        WorkerOptions::default()
            .with_id("bench-overhead")
            .with_concurrency(1),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(worker.run_until(async {
        let _ = stopped.await;
    }));
    let start = Instant::now();
    let request = RunRequest::apply(&blueprint, "bench", ApplyOptions::keep());
    let id = runtime.enqueue(&request).await.unwrap().run().id.clone();
    let run = runtime.wait(&id).await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(run.status, stackdock_runtime::model::RunStatus::Succeeded);
    stop.send(()).unwrap();
    task.await.unwrap();
    elapsed
}

/// `commits` single-row upserts of a ~600-byte step body, each its own
/// transaction, 8 at a time (the apply's concurrency), on the same server.
async fn raw_commits(schema: &str, commits: usize) -> Duration {
    let info = stackdock_pg::conninfo::parse(&url()).unwrap();
    let tls = stackdock_pg::TlsSettings::new(info.ssl_mode.unwrap_or_default());
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(stackdock_pg::connect(&info.config, &tls).await.unwrap());
    }
    clients[0]
        .batch_execute(&format!(
            "CREATE TABLE {schema}.raw_steps (step TEXT PRIMARY KEY, state TEXT NOT NULL, body TEXT NOT NULL)"
        ))
        .await
        .unwrap();
    let sql = format!(
        "INSERT INTO {schema}.raw_steps (step, state, body) VALUES ($1, $2, $3) \
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let schema = format!("sd_bench_{}", &RunId::new().0[..8]);
    let runs = 60;
    let one = throughput(&schema, 1, runs).await;
    let three = throughput(&schema, 3, runs).await;
    let ratio = one.as_secs_f64() / three.as_secs_f64();
    println!(
        "throughput, {runs} runs at 20 ms per call: 1 worker {one:?}, 3 workers {three:?}: {ratio:.2}x (target >= 2.5x) {}",
        if ratio >= 2.5 { "MET" } else { "NOT MET" }
    );
    let mut latencies = claim_latency(&schema, 40).await;
    latencies.sort();
    let p50 = percentile(&latencies, 0.5);
    let p95 = percentile(&latencies, 0.95);
    println!(
        "claim latency (enqueue -> claimed by an idle worker), 40 runs: p50 {p50:?}, p95 {p95:?} (target p95 <= 100 ms) {}",
        if p95 <= Duration::from_millis(100) { "MET" } else { "NOT MET" }
    );
    const STEPS: usize = 1_000;
    let in_process = wide_apply(&schema, "wide-a", STEPS, false).await;
    let by_worker = wide_apply(&schema, "wide-b", STEPS, true).await;
    let raw = raw_commits(&schema, 2 * STEPS).await;
    for (how, took) in [("in-process", in_process), ("through a worker", by_worker)] {
        let ratio = took.as_secs_f64() / raw.as_secs_f64();
        println!(
            "durable-state overhead, {STEPS}-step apply {how}: {took:?}, raw {} commits {raw:?}: {ratio:.2}x (target <= 1.5x) {}",
            2 * STEPS,
            if ratio <= 1.5 { "MET" } else { "NOT MET" }
        );
    }
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
