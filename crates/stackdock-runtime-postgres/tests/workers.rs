//! Worker **processes** on one PostgreSQL store (the `worker` example of
//! this crate, built by `cargo test`), provisioning real databases on the
//! test server through the `stackdock-postgres` dock, each create and
//! delete recorded in a table:
//!
//! * 3 workers, 300 submissions for 100 scopes from 3 concurrent clients:
//!   each scope's database created exactly once, no run lost or run twice;
//! * kill -9 of workers at random points (20 kills, each replaced): the
//!   runs are resumed after their leases lapse, no duplicate create, and
//!   after a destroy of every scope nothing is left on the server;
//! * a destroy submitted on another replica while an apply runs: `ScopeBusy`;
//! * a dock limit shared by every worker process: never more calls in
//!   flight on the dock than the limit, even across a kill -9 of a worker
//!   holding a slot.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use stackdock_core::DockRegistry;
use stackdock_runtime::blueprint::Blueprint;
use stackdock_runtime::model::{OperationRun, RunId, RunStatus};
use stackdock_runtime::store::Store;
use stackdock_runtime::{ApplyOptions, RunRequest, Runtime};

/// The `worker` example, next to this test's binary.
fn worker_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("examples").join("worker"))
        .unwrap();
    assert!(
        bin.exists(),
        "{} is missing: run these tests with `cargo test -p stackdock-runtime-postgres` (which builds the examples)",
        bin.display()
    );
    bin
}

/// A worker process and where its log goes.
struct WorkerProcess {
    id: String,
    child: Child,
}

struct Cluster {
    url: String,
    /// Where the `pg` dock provisions (default: the store's server).
    dock_url: String,
    schema: String,
    lease_ms: u64,
    latency_ms: u64,
    /// `STACKDOCK_DOCK_LIMIT`: the `pg` dock's limit shared by every worker.
    dock_limit: Option<usize>,
    /// The PowerDNS API of the `dns` dock, when the blueprints use one.
    pdns_url: Option<String>,
    logs: tempfile::TempDir,
    workers: Vec<WorkerProcess>,
    spawned: usize,
}

impl Cluster {
    fn new(url: &str, schema: &str, lease_ms: u64, latency_ms: u64) -> Self {
        Cluster {
            url: url.to_owned(),
            dock_url: url.to_owned(),
            schema: schema.to_owned(),
            lease_ms,
            latency_ms,
            dock_limit: None,
            pdns_url: None,
            logs: tempfile::tempdir().unwrap(),
            workers: Vec::new(),
            spawned: 0,
        }
    }

    fn spawn(&mut self) {
        self.spawned += 1;
        let id = format!("w{}", self.spawned);
        let log = std::fs::File::create(self.logs.path().join(format!("{id}.log"))).unwrap();
        let mut command = Command::new(worker_binary());
        if let Some(limit) = self.dock_limit {
            command.env("STACKDOCK_DOCK_LIMIT", limit.to_string());
        }
        if let Some(url) = &self.pdns_url {
            command
                .env("STACKDOCK_PDNS_URL", url)
                .env("STACKDOCK_PDNS_KEY", stackdock_testkit::powerdns::API_KEY);
        }
        let child = command
            .env("STACKDOCK_STATE_URL", &self.url)
            .env("STACKDOCK_STATE_SCHEMA", &self.schema)
            .env("STACKDOCK_PG_DOCK_URL", &self.dock_url)
            .env("STACKDOCK_WORKER_ID", &id)
            .env("STACKDOCK_RECORD_CALLS", "1")
            .env("STACKDOCK_CALL_LATENCY_MS", self.latency_ms.to_string())
            .env("STACKDOCK_LEASE_MS", self.lease_ms.to_string())
            .env("STACKDOCK_CONCURRENCY", "4")
            .env("STACKDOCK_DRAIN_MS", "20000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start a worker process");
        self.workers.push(WorkerProcess { id, child });
    }

    /// SIGKILL the worker `id`.
    fn kill(&mut self, id: &str) {
        let index = self.workers.iter().position(|w| w.id == id).unwrap();
        let mut worker = self.workers.remove(index);
        worker.child.kill().unwrap(); // SIGKILL on unix
        worker.child.wait().unwrap();
    }

    /// SIGTERM every worker and wait for a clean exit.
    fn stop(&mut self) {
        for worker in &self.workers {
            let status = Command::new("kill")
                .args(["-TERM", &worker.child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
        }
        for mut worker in self.workers.drain(..) {
            let status = worker.child.wait().unwrap();
            assert!(
                status.success(),
                "worker {} exited with {status}",
                worker.id
            );
        }
    }

    fn log_tail(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(self.logs.path()).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<_> = text.lines().rev().take(12).collect();
            out.push_str(&format!("{}: {:?}\n", path.display(), tail));
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            let _ = worker.child.kill();
            let _ = worker.child.wait();
        }
    }
}

/// A client replica: its own store (pool) and runtime.
async fn client(url: &str, schema: &str) -> Runtime {
    let store: Arc<dyn Store> = Arc::new(common::store_at(url, schema).await);
    Runtime::new(store, DockRegistry::new())
}

/// Scope `i`: a database, and with `two`, a second one that needs it.
fn blueprint(prefix: &str, i: usize, two: bool) -> Blueprint {
    let mut builder = Blueprint::builder(format!("tenant-{i:03}")).step_json(
        "db",
        "pg",
        serde_json::json!({"kind": "database", "name": format!("{prefix}_{i:03}")}),
    );
    if two {
        builder = builder
            .step_json(
                "stats",
                "pg",
                serde_json::json!({"kind": "database", "name": format!("{prefix}_{i:03}_st")}),
            )
            .needs("db");
    }
    builder.build().unwrap()
}

/// Scope `i` of [`blueprint`] with two databases, plus a real PowerDNS
/// zone (`{prefix}-{i}.example.`) and a record in it on the `dns` dock.
fn blueprint_with_zone(prefix: &str, i: usize) -> Blueprint {
    let mut builder = Blueprint::builder(format!("tenant-{i:03}"))
        .step_json(
            "db",
            "pg",
            serde_json::json!({"kind": "database", "name": format!("{prefix}_{i:03}")}),
        )
        .step_json(
            "stats",
            "pg",
            serde_json::json!({"kind": "database", "name": format!("{prefix}_{i:03}_st")}),
        )
        .needs("db")
        .step_json(
            "zone",
            "dns",
            serde_json::json!({"kind": "dns_zone", "name": zone_name(prefix, i)}),
        );
    builder = builder
        .step_json(
            "www",
            "dns",
            serde_json::json!({
                "kind": "dns_record", "zone": "${zone.name}", "name": "app", "ttl": 300,
                "data": {"type": "A", "address": "192.0.2.10"}
            }),
        )
        .needs("zone");
    builder.build().unwrap()
}

fn zone_name(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:03}.example.")
}

/// The zones on the PowerDNS server at `api` whose names start with
/// `prefix-`, without the final dot, sorted.
async fn zones_on(api: &str, prefix: &str) -> Vec<String> {
    use stackdock_core::{DockAdapterExt, ListOptions, ResourceKind};
    let client = stackdock_dns::PowerDnsClient::new(stackdock_dns::PowerDnsConfig::new(
        api,
        stackdock_testkit::powerdns::API_KEY,
    ))
    .unwrap();
    let dns = stackdock_dns::DnsAdapter::new(
        client,
        stackdock_dns::AdapterOptions::default().with_dock_id("dns"),
    );
    let mut found: Vec<String> = dns
        .list_all(ResourceKind::DnsZone, &ListOptions::default())
        .await
        .unwrap()
        .iter()
        .map(|z| z.meta().name.trim_end_matches('.').to_owned())
        .filter(|name| name.starts_with(&format!("{prefix}-")))
        .collect();
    found.sort();
    found
}

/// Submit `requests` from 3 client replicas at once, each in its own
/// shuffled order, every request 3 times in all; the runs of each scope.
/// A submission joins the scope's active run or starts one; a scope can
/// get a second run only after its first finished (then it finds nothing
/// to do).
async fn submit_from_three_clients(
    url: &str,
    schema: &str,
    requests: Vec<RunRequest>,
) -> BTreeMap<String, BTreeSet<RunId>> {
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let runtime = client(url, schema).await;
        let mut mine = requests.clone();
        mine.shuffle(&mut rand::thread_rng());
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for request in mine {
                let outcome = runtime.enqueue(&request).await.unwrap();
                got.push((
                    request.scope.clone(),
                    outcome.is_started(),
                    outcome.run().id.clone(),
                ));
            }
            got
        }));
    }
    let mut runs: BTreeMap<String, BTreeSet<RunId>> = BTreeMap::new();
    let mut started = BTreeSet::new();
    for task in tasks {
        for (scope, is_started, id) in task.await.unwrap() {
            if is_started {
                assert!(started.insert(id.clone()), "a run is started once");
            }
            runs.entry(scope).or_default().insert(id);
        }
    }
    let all: BTreeSet<_> = runs.values().flatten().cloned().collect();
    assert_eq!(
        all, started,
        "every submission got a run that was started (none lost)"
    );
    assert_eq!(runs.len(), requests.len());
    runs
}

/// Wait until every run finished (or panic after `limit`, with the logs).
async fn wait_all(
    store: &dyn Store,
    runs: &BTreeMap<String, BTreeSet<RunId>>,
    limit: Duration,
    cluster: &Cluster,
) -> Vec<OperationRun> {
    let deadline = Instant::now() + limit;
    let mut done = Vec::new();
    for id in runs.values().flatten() {
        loop {
            let run = store.get_run(id).await.unwrap().unwrap();
            if !run.status.is_active() {
                done.push(run);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "run {id} still {}; logs:\n{}",
                run.status,
                cluster.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    done
}

/// (resource, started, created, adopted, failed) create calls recorded.
async fn create_calls(url: &str, schema: &str) -> Vec<(String, i64, i64, i64, i64)> {
    common::client_at(url)
        .await
        .query(
            &format!(
                "SELECT resource, count(*) FILTER (WHERE outcome = 'started'), \
                 count(*) FILTER (WHERE outcome = 'created'), count(*) FILTER (WHERE outcome = 'adopted'), \
                 count(*) FILTER (WHERE outcome = 'failed') \
                 FROM {schema}.dock_calls WHERE op = 'create' GROUP BY resource ORDER BY resource"
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
}

/// Databases and roles on the server whose names start with `prefix`.
async fn leftovers(url: &str, prefix: &str) -> (Vec<String>, Vec<String>) {
    let c = common::client_at(url).await;
    let pattern = format!("{prefix}\\_%");
    let names = |sql: &'static str| {
        let c = &c;
        let pattern = pattern.clone();
        async move {
            c.query(sql, &[&pattern])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>()
        }
    };
    (
        names("SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY 1").await,
        names("SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY 1").await,
    )
}

/// Drop what a failed test left on the server.
async fn drop_leftovers(url: &str, prefix: &str) {
    let (dbs, roles) = leftovers(url, prefix).await;
    let c = common::client_at(url).await;
    for db in dbs {
        let _ = c
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
            .await;
    }
    for role in roles {
        let _ = c
            .batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\""))
            .await;
    }
}

/// Destroy every scope through the queue; then nothing of `prefix` is left.
async fn destroy_all_and_expect_nothing_left(
    url: &str,
    schema: &str,
    prefix: &str,
    scopes: &[String],
    cluster: &Cluster,
) {
    let requests: Vec<_> = scopes
        .iter()
        .map(|scope| RunRequest::destroy(scope, "default", "cleaner"))
        .collect();
    let runs = submit_from_three_clients(url, schema, requests).await;
    let store = common::store_at(url, schema).await;
    for run in wait_all(&store, &runs, Duration::from_secs(90), cluster).await {
        assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    }
    assert_eq!(
        leftovers(&cluster.dock_url, prefix).await,
        (vec![], vec![]),
        "0 leaked databases and roles"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_worker_processes_run_300_submissions_for_100_scopes_each_once() {
    let server = common::private_server();
    let url = &server.url();
    let schema = "plane".to_owned();
    {
        let prefix = "sdw".to_owned();
        drop(common::store_at(url, &schema).await); // migrate before the workers start
        let mut cluster = Cluster::new(url, &schema, 10_000, 0);
        for _ in 0..3 {
            cluster.spawn();
        }
        let outcome = async {
            let requests: Vec<_> = (0..100)
                .map(|i| {
                    RunRequest::apply(
                        &blueprint(&prefix, i, false),
                        "client",
                        ApplyOptions::rollback(),
                    )
                })
                .collect();
            let runs = submit_from_three_clients(url, &schema, requests).await;
            assert_eq!(runs.len(), 100);
            let store = common::store_at(url, &schema).await;
            let done = wait_all(&store, &runs, Duration::from_secs(90), &cluster).await;
            for run in &done {
                assert_eq!(
                    (run.status, run.attempts),
                    (RunStatus::Succeeded, 1),
                    "{run:?}"
                );
            }
            let calls = create_calls(url, &schema).await;
            assert_eq!(calls.len(), 100, "one database per scope was asked for");
            for (resource, started, created, adopted, failed) in &calls {
                assert_eq!(
                    (*started, *created, *adopted, *failed),
                    (1, 1, 0, 0),
                    "{resource}: one create call, and it created"
                );
            }
            assert_eq!(
                leftovers(url, &prefix).await.0.len(),
                100,
                "100 real databases"
            );
            let scopes: Vec<_> = runs.keys().cloned().collect();
            destroy_all_and_expect_nothing_left(url, &schema, &prefix, &scopes, &cluster).await;
        };
        let result = AssertUnwindSafe(outcome).catch_unwind().await;
        cluster.stop();
        drop_leftovers(url, &prefix).await;
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}

/// One kill of the kill -9 test.
#[derive(Debug)]
struct Trial {
    victim: String,
    at_ms: u128,
    held: Vec<RunId>,
}

/// The runs a worker holds right now.
async fn held_by(url: &str, schema: &str, worker: &str) -> Vec<RunId> {
    common::client_at(url)
        .await
        .query(
            &format!("SELECT id FROM {schema}.runs WHERE status = 'running' AND lease_worker = $1"),
            &[&worker],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| RunId(r.get(0)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_of_workers_at_random_points_loses_and_duplicates_nothing() {
    let server = common::private_server();
    let url = &server.url();
    let schema = "plane".to_owned();
    {
        let prefix = "sdw".to_owned();
        drop(common::store_at(url, &schema).await);
        let pdns = stackdock_testkit::powerdns::PowerDns::start();
        let mut cluster = Cluster::new(url, &schema, 1_500, 40);
        cluster.pdns_url = Some(pdns.api_url());
        for _ in 0..3 {
            cluster.spawn();
        }
        let mut cluster_ref = AssertUnwindSafe(&mut cluster);
        let outcome = async {
            let cluster = &mut **cluster_ref;
            // Every other scope also gets a real PowerDNS zone and record.
            let requests: Vec<_> = (0..40)
                .map(|i| {
                    let blueprint = if i % 2 == 0 {
                        blueprint_with_zone(&prefix, i)
                    } else {
                        blueprint(&prefix, i, true)
                    };
                    RunRequest::apply(&blueprint, "client", ApplyOptions::keep())
                })
                .collect();
            let runs = submit_from_three_clients(url, &schema, requests).await;
            let started = Instant::now();
            let mut rng = rand::rngs::StdRng::from_entropy();
            let mut trials = Vec::new();
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(rng.gen_range(50..400))).await;
                let victim = cluster.workers[rng.gen_range(0..cluster.workers.len())]
                    .id
                    .clone();
                let held = held_by(url, &schema, &victim).await;
                cluster.kill(&victim);
                cluster.spawn();
                trials.push(Trial {
                    victim,
                    at_ms: started.elapsed().as_millis(),
                    held,
                });
            }
            let store = common::store_at(url, &schema).await;
            let done = wait_all(&store, &runs, Duration::from_secs(100), cluster).await;
            let attempts: BTreeMap<_, _> =
                done.iter().map(|r| (r.id.clone(), r.attempts)).collect();
            eprintln!(
                "| trial | killed | at ms | runs it held | of those resumed by another worker |"
            );
            eprintln!("|---|---|---|---|---|");
            let mut resumed_total = 0;
            for (n, trial) in trials.iter().enumerate() {
                let resumed = trial
                    .held
                    .iter()
                    .filter(|id| attempts.get(*id).is_some_and(|a| *a > 1))
                    .count();
                resumed_total += resumed;
                eprintln!(
                    "| {} | {} | {} | {} | {} |",
                    n + 1,
                    trial.victim,
                    trial.at_ms,
                    trial.held.len(),
                    resumed
                );
            }
            for run in &done {
                assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
            }
            assert!(
                resumed_total > 0,
                "some kill must have hit a run in flight: {trials:?}"
            );
            let calls = create_calls(url, &schema).await;
            assert_eq!(calls.len(), 80, "two databases per scope were asked for");
            let mut cut = 0;
            for (resource, started, created, adopted, failed) in &calls {
                assert!(*created <= 1, "{resource}: created {created} times");
                assert_eq!(
                    *adopted, 0,
                    "{resource}: a create call on an existing database (a blind second create)"
                );
                assert_eq!(*failed, 0, "{resource}: a create failed");
                cut += usize::from(*started > *created);
            }
            eprintln!("create calls cut short by a kill (then observed, resumed): {cut}; runs resumed: {}",
                attempts.values().filter(|a| **a > 1).count());
            assert_eq!(
                leftovers(url, &prefix).await.0.len(),
                80,
                "every database exists"
            );
            let zones = zones_on(&pdns.api_url(), &prefix).await;
            let expected: Vec<_> = (0..40)
                .step_by(2)
                .map(|i| zone_name(&prefix, i).trim_end_matches('.').to_owned())
                .collect();
            assert_eq!(zones, expected, "every zone exists, once");
            let scopes: Vec<_> = runs.keys().cloned().collect();
            destroy_all_and_expect_nothing_left(url, &schema, &prefix, &scopes, cluster).await;
            let leaked = zones_on(&pdns.api_url(), &prefix).await;
            eprintln!(
                "PowerDNS: 20 zones (and a record in each) applied, {} leaked after destroy",
                leaked.len()
            );
            assert_eq!(leaked, Vec::<String>::new(), "0 leaked zones");
        };
        let result = AssertUnwindSafe(outcome).catch_unwind().await;
        cluster.stop();
        drop_leftovers(url, &prefix).await;
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}

/// The lines of every worker's log.
fn logs(cluster: &Cluster) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(cluster.logs.path()).unwrap() {
        out.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_ride_out_a_database_restart_mid_batch() {
    // The store's server is restarted; the dock provisions on the shared
    // test server, so what is measured is the store's outage alone.
    let server = common::private_server();
    let url = &server.url();
    let dock_url = &common::url();
    let schema = "plane".to_owned();
    let prefix = format!("sdr{}", &RunId::new().0[..6]);
    drop(common::store_at(url, &schema).await);
    let mut cluster = Cluster::new(url, &schema, 3_000, 30);
    cluster.dock_url = dock_url.clone();
    for _ in 0..3 {
        cluster.spawn();
    }
    let mut cluster_ref = AssertUnwindSafe(&mut cluster);
    let outcome = async {
        let cluster = &mut **cluster_ref;
        let requests: Vec<_> = (0..30)
            .map(|i| {
                RunRequest::apply(&blueprint(&prefix, i, true), "client", ApplyOptions::keep())
            })
            .collect();
        let runs = submit_from_three_clients(url, &schema, requests.clone()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let store = common::store_at(url, &schema).await;
        let finished_before = count_finished(&store, &runs).await;
        server.restart(); // every session of the store cut; back a moment later
        let done = wait_all(&store, &runs, Duration::from_secs(90), cluster).await;
        assert!(
            finished_before < runs.len(),
            "the restart must land mid-batch"
        );
        // A run whose store writes failed during the outage may end failed
        // (reason internal); nothing is stuck, and the apply submitted again
        // finishes the scope with no duplicate.
        let failed: Vec<_> = done
            .iter()
            .filter(|r| r.status != RunStatus::Succeeded)
            .map(|r| r.scope.clone())
            .collect();
        let again: Vec<_> = requests
            .iter()
            .filter(|r| failed.contains(&r.scope))
            .cloned()
            .collect();
        if !again.is_empty() {
            let rerun = submit_from_three_clients(url, &schema, again).await;
            for run in wait_all(&store, &rerun, Duration::from_secs(60), cluster).await {
                assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
            }
        }
        for (resource, _, created, adopted, _) in create_calls(url, &schema).await {
            assert!(
                created <= 1 && adopted == 0,
                "{resource}: created {created}, adopted {adopted}"
            );
        }
        assert_eq!(
            leftovers(dock_url, &prefix).await.0.len(),
            60,
            "every database exists once"
        );
        let resumed = done.iter().filter(|r| r.attempts > 1).count();
        eprintln!(
            "restart: {finished_before}/30 runs finished before it; {resumed} resumed after it; {} failed by it and applied again",
            failed.len()
        );
        let scopes: Vec<_> = runs.keys().cloned().collect();
        destroy_all_and_expect_nothing_left(url, &schema, &prefix, &scopes, cluster).await;
    };
    let result = AssertUnwindSafe(outcome).catch_unwind().await;
    cluster.stop();
    drop_leftovers(dock_url, &prefix).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    let logs = logs(&cluster);
    let warnings = logs.lines().filter(|l| l.contains("WARN")).count();
    eprintln!("worker warnings during the restart: {warnings}");
    for line in logs
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
    {
        // Every error the outage caused is a store error of a temporary
        // kind (unavailable / timed out), a step failed by one (its code
        // `state_store`; the run resumes it), a lease given up because of
        // it, or the pool dropping a connection the restart closed.
        assert!(
            line.contains("unavailable")
                || line.contains("timed out")
                || (line.contains("step failed") && line.contains("state_store"))
                || line.contains("lease")
                || line.contains("could not be recycled"),
            "unexpected error during the restart: {line}"
        );
    }
}

async fn count_finished(store: &dyn Store, runs: &BTreeMap<String, BTreeSet<RunId>>) -> usize {
    let mut n = 0;
    for id in runs.values().flatten() {
        n += usize::from(!store.get_run(id).await.unwrap().unwrap().status.is_active());
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destroy_submitted_on_another_replica_during_an_apply_is_scope_busy() {
    let server = common::private_server();
    let url = &server.url();
    let schema = "plane".to_owned();
    drop(common::store_at(url, &schema).await);
    let mut cluster = Cluster::new(url, &schema, 10_000, 1_500);
    cluster.spawn();
    let replica_a = client(url, &schema).await;
    let replica_b = client(url, &schema).await;
    let apply = RunRequest::apply(&blueprint("sdb", 1, true), "alice", ApplyOptions::keep());
    let run = replica_a.enqueue(&apply).await.unwrap().run().clone();
    let store = common::store_at(url, &schema).await;
    while store.get_run(&run.id).await.unwrap().unwrap().status != RunStatus::Running {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let destroy = RunRequest::destroy(&apply.scope, "default", "bob");
    match replica_b.enqueue(&destroy).await {
        Err(stackdock_runtime::Error::ScopeBusy {
            active_run,
            operation,
            ..
        }) => {
            assert_eq!(
                (active_run, operation),
                (run.id.clone(), stackdock_runtime::model::Operation::Apply)
            );
        }
        other => panic!("expected ScopeBusy, got {other:?}"),
    }
    let done = replica_b.wait(&run.id).await.unwrap();
    assert_eq!(done.status, RunStatus::Succeeded);
    let destroyed = replica_b.enqueue(&destroy).await.unwrap();
    assert!(
        destroyed.is_started(),
        "once the apply finished, the destroy runs"
    );
    assert_eq!(
        replica_a.wait(&destroyed.run().id).await.unwrap().status,
        RunStatus::Succeeded
    );
    cluster.stop();
}

/// The most create and delete calls in flight at once, from the call
/// records: each `started` row and the next row of the same call (same
/// worker, operation, resource). A call a kill cut short has no end: it
/// counts at the instant it started only (its slot lapses with its lease).
async fn max_calls_in_flight(url: &str, schema: &str) -> i64 {
    common::client_at(url)
        .await
        .query_one(
            &format!(
                "WITH calls AS (SELECT s.at AS started, \
                   COALESCE((SELECT min(e.at) FROM {schema}.dock_calls e WHERE e.worker = s.worker \
                     AND e.op = s.op AND e.resource = s.resource AND e.outcome <> 'started' AND e.seq > s.seq), s.at) AS ended \
                   FROM {schema}.dock_calls s WHERE s.outcome = 'started') \
                 SELECT COALESCE(max((SELECT count(*) FROM calls o \
                   WHERE o.started <= c.started AND (o.ended > c.started OR o = c))), 0) FROM calls c"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// A worker holding a slot of the `pg` dock now (polled until one does,
/// for up to 30 s).
async fn a_slot_holder(url: &str, schema: &str, live: &[String]) -> String {
    let client = common::client_at(url).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = client
            .query(
                &format!(
                    "SELECT holder FROM {schema}.dock_slots WHERE dock = 'pg' \
                     AND holder IS NOT NULL AND expires_at > clock_timestamp()"
                ),
                &[],
            )
            .await
            .unwrap();
        if let Some(holder) = rows
            .iter()
            .map(|r| r.get::<_, String>(0))
            .find(|h| live.contains(h))
        {
            return holder;
        }
        assert!(
            Instant::now() < deadline,
            "no worker took a slot of the shared limit"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dock_limit_is_shared_by_every_worker_process_and_survives_a_kill_9() {
    const LIMIT: usize = 2;
    let server = common::private_server();
    let url = &server.url();
    let schema = "plane".to_owned();
    let prefix = "sdl".to_owned();
    drop(common::store_at(url, &schema).await);
    // Each worker may run 4 runs at once and 2 calls on `pg` (its own
    // bound): 6 in flight over 3 processes unless the limit is shared.
    let mut cluster = Cluster::new(url, &schema, 1_500, 100);
    cluster.dock_limit = Some(LIMIT);
    for _ in 0..3 {
        cluster.spawn();
    }
    let mut cluster_ref = AssertUnwindSafe(&mut cluster);
    let outcome = async {
        let cluster = &mut **cluster_ref;
        let requests: Vec<_> = (0..24)
            .map(|i| {
                RunRequest::apply(
                    &blueprint(&prefix, i, false),
                    "client",
                    ApplyOptions::keep(),
                )
            })
            .collect();
        let runs = submit_from_three_clients(url, &schema, requests).await;
        // kill -9 a worker while it holds a slot: the slot must come back
        // (its lease lapses) or the batch stalls at one call at a time.
        let live: Vec<_> = cluster.workers.iter().map(|w| w.id.clone()).collect();
        let victim = a_slot_holder(url, &schema, &live).await;
        cluster.kill(&victim);
        cluster.spawn();
        let store = common::store_at(url, &schema).await;
        for run in wait_all(&store, &runs, Duration::from_secs(90), cluster).await {
            assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
        }
        for (resource, _, created, adopted, failed) in create_calls(url, &schema).await {
            assert_eq!((created, adopted, failed), (1, 0, 0), "{resource}");
        }
        let scopes: Vec<_> = runs.keys().cloned().collect();
        destroy_all_and_expect_nothing_left(url, &schema, &prefix, &scopes, cluster).await;
        let max = max_calls_in_flight(url, &schema).await;
        eprintln!("shared limit {LIMIT}: at most {max} calls in flight over 3 worker processes (victim {victim})");
        assert_eq!(
            max, LIMIT as i64,
            "the limit is reached (so this test can fail) and never exceeded"
        );
    };
    let result = AssertUnwindSafe(outcome).catch_unwind().await;
    cluster.stop();
    drop_leftovers(url, &prefix).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
