//! One replica's worker process: a `PostgresStore`, the docks, a `Worker`
//! until SIGTERM (then it drains and releases what it could not finish).
//! The multi-process tests of this crate start several of these.
//!
//! ```text
//! STACKDOCK_STATE_URL=postgres://app@db/control STACKDOCK_STATE_SCHEMA=plane \
//! STACKDOCK_PG_DOCK_URL=postgres://admin@pg.internal/postgres \
//!   cargo run -p stackdock-runtime-postgres --example worker
//! ```
//!
//! Environment:
//! * `STACKDOCK_STATE_URL` (required), `STACKDOCK_STATE_SCHEMA` (default `stackdock`):
//!   the shared store.
//! * `STACKDOCK_PG_DOCK_URL` (required): the PostgreSQL server the `pg` dock
//!   provisions databases on (`stackdock-postgres`).
//! * `STACKDOCK_WORKER_ID`, `STACKDOCK_CONCURRENCY` (4), `STACKDOCK_LEASE_MS`
//!   (30000), `STACKDOCK_DRAIN_MS` (30000): the worker.
//! * `STACKDOCK_RECORD_CALLS=1`: record every create and delete of the `pg`
//!   dock, with its outcome, in the table `dock_calls` of the store's schema
//!   (what the tests count duplicates with), and `STACKDOCK_CALL_LATENCY_MS`
//!   of latency before and after each (so a kill lands mid-call).
//! * `STACKDOCK_PDNS_URL` and `STACKDOCK_PDNS_KEY` (optional): a `dns` dock
//!   on that PowerDNS API (`stackdock-dns`).
//! * `STACKDOCK_DOCK_LIMIT=N`: at most N calls in flight on the `pg` dock
//!   over **every** worker of the store (`PostgresDockSlots`, leased like
//!   the runs for `STACKDOCK_LEASE_MS`), not N per process.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use stackdock_core::spec::ResourceSpec;
use stackdock_core::{
    Capabilities, Created, DockAdapter, DockRegistry, ListOptions, Observation, Page, ProviderInfo,
    Resource, ResourceId, ResourceKind,
};
use stackdock_postgres::PostgresAdapter;
use stackdock_runtime::worker::{shutdown_signal, Worker, WorkerOptions};
use stackdock_runtime::Runtime;
use stackdock_runtime_postgres::{PostgresStore, PostgresStoreConfig, DEFAULT_SCHEMA};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env_ms(name: &str, default: u64) -> Duration {
    Duration::from_millis(env(name).and_then(|v| v.parse().ok()).unwrap_or(default))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let schema = env("STACKDOCK_STATE_SCHEMA").unwrap_or_else(|| DEFAULT_SCHEMA.into());
    let state_url = env("STACKDOCK_STATE_URL").ok_or("STACKDOCK_STATE_URL is required")?;
    let config = PostgresStoreConfig::from_url(&state_url)?
        .with_schema(&schema)?
        .with_connect_timeout(Duration::from_secs(3))
        .with_wait_timeout(Duration::from_secs(5));
    let store = Arc::new(PostgresStore::connect(config).await?);

    let dock_url = env("STACKDOCK_PG_DOCK_URL").ok_or("STACKDOCK_PG_DOCK_URL is required")?;
    let pg: Arc<dyn DockAdapter> = Arc::new(PostgresAdapter::from_url("pg", &dock_url)?);
    let pg = if env("STACKDOCK_RECORD_CALLS").is_some() {
        Arc::new(Recorder::new(pg, &state_url, &schema).await?) as Arc<dyn DockAdapter>
    } else {
        pg
    };
    let mut docks = DockRegistry::new();
    docks.insert(pg)?;
    if let (Some(url), Some(key)) = (env("STACKDOCK_PDNS_URL"), env("STACKDOCK_PDNS_KEY")) {
        let client =
            stackdock_dns::PowerDnsClient::new(stackdock_dns::PowerDnsConfig::new(url, key))?;
        docks.insert(Arc::new(stackdock_dns::DnsAdapter::new(
            client,
            stackdock_dns::AdapterOptions::default().with_dock_id("dns"),
        )))?;
    }

    let lease = env_ms("STACKDOCK_LEASE_MS", 30_000);
    let mut runtime = Runtime::new(store.clone(), docks);
    if let Some(limit) = env("STACKDOCK_DOCK_LIMIT").and_then(|v| v.parse().ok()) {
        let mut slots = store.dock_slots().with_lease(lease);
        if let Some(id) = env("STACKDOCK_WORKER_ID") {
            slots = slots.with_holder(id);
        }
        runtime = runtime
            .with_dock_concurrency("pg", limit)
            .with_shared_dock_limits(Arc::new(slots));
    }
    let mut options = WorkerOptions::default()
        .with_concurrency(
            env("STACKDOCK_CONCURRENCY")
                .and_then(|v| v.parse().ok())
                .unwrap_or(4),
        )
        .with_lease(lease)
        .with_drain(env_ms("STACKDOCK_DRAIN_MS", 30_000))
        .with_idle_wait(Duration::from_secs(1));
    if let Some(id) = env("STACKDOCK_WORKER_ID") {
        options = options.with_id(id);
    }
    let report = Worker::new(runtime)
        .with_options(options)
        .run_until(shutdown_signal())
        .await;
    eprintln!("worker report: {report:?}");
    Ok(())
}

/// The `pg` dock, recording each create and delete (worker, operation,
/// resource, outcome) in `dock_calls`: a row `started` before the call and
/// one with the outcome after, so a call cut short by a kill still shows.
#[derive(Debug)]
struct Recorder {
    inner: Arc<dyn DockAdapter>,
    /// A pool, not one connection: it must outlive a database restart.
    db: stackdock_pg::Pool,
    table: String,
    worker: String,
    latency: Duration,
}

impl Recorder {
    async fn new(
        inner: Arc<dyn DockAdapter>,
        url: &str,
        schema: &str,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let info = stackdock_pg::conninfo::parse(url)?;
        let tls = stackdock_pg::TlsSettings::new(info.ssl_mode.unwrap_or_default());
        let db =
            stackdock_pg::build_pool(info.config, &tls, &stackdock_pg::PoolOptions::default())?;
        // Under a transaction-level advisory lock: concurrent CREATE TABLE
        // IF NOT EXISTS of one table is not race-free in PostgreSQL.
        db.get().await?.batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock(hashtext('{schema}.dock_calls')); \
             CREATE TABLE IF NOT EXISTS {schema}.dock_calls ( \
               seq BIGINT GENERATED ALWAYS AS IDENTITY, worker TEXT NOT NULL, op TEXT NOT NULL, \
               resource TEXT NOT NULL, outcome TEXT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()); \
             COMMIT"
        ))
        .await?;
        Ok(Recorder {
            inner,
            db,
            table: format!("{schema}.dock_calls"),
            worker: env("STACKDOCK_WORKER_ID").unwrap_or_else(|| std::process::id().to_string()),
            latency: env_ms("STACKDOCK_CALL_LATENCY_MS", 0),
        })
    }

    /// Record a call, retrying for up to 20 s while the table's database is
    /// unreachable (a restart): the record must not change the call's outcome.
    async fn record(&self, op: &str, resource: &str, outcome: &str) -> stackdock_core::Result<()> {
        let mut tries = 0;
        loop {
            match self.try_record(op, resource, outcome).await {
                Ok(()) => return Ok(()),
                Err(e) if tries < 100 => {
                    tries += 1;
                    tracing::debug!(error = %e, "recording a call failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn try_record(
        &self,
        op: &str,
        resource: &str,
        outcome: &str,
    ) -> stackdock_core::Result<()> {
        let conn = self
            .db
            .get()
            .await
            .map_err(|e| stackdock_pg::map_pool_error(e, &[]))?;
        let sql = format!(
            "INSERT INTO {} (worker, op, resource, outcome) VALUES ($1, $2, $3, $4)",
            self.table
        );
        conn.execute(&sql, &[&self.worker, &op, &resource, &outcome])
            .await
            .map(drop)
            .map_err(|e| stackdock_pg::map_pg_error(&e, &[]))
    }

    async fn pause(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }
}

#[async_trait]
impl DockAdapter for Recorder {
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
    async fn check_credentials(&self) -> stackdock_core::Result<()> {
        self.inner.check_credentials().await
    }
    async fn list(
        &self,
        kind: ResourceKind,
        options: &ListOptions,
    ) -> stackdock_core::Result<Page<Resource>> {
        self.inner.list(kind, options).await
    }
    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> stackdock_core::Result<Observation> {
        self.inner.observe(id, desired).await
    }
    async fn create(&self, spec: &ResourceSpec) -> stackdock_core::Result<Created> {
        let name = spec.name().to_owned();
        self.record("create", &name, "started").await?;
        self.pause().await;
        let result = self.inner.create(spec).await;
        let outcome = match &result {
            Ok(created) if created.was_created() => "created",
            Ok(_) => "adopted",
            Err(_) => "failed",
        };
        self.pause().await;
        self.record("create", &name, outcome).await?;
        result
    }
    async fn update(
        &self,
        id: &ResourceId,
        spec: &ResourceSpec,
    ) -> stackdock_core::Result<Resource> {
        self.inner.update(id, spec).await
    }
    async fn delete(&self, id: &ResourceId) -> stackdock_core::Result<()> {
        self.record("delete", &id.id, "started").await?;
        self.pause().await;
        let result = self.inner.delete(id).await;
        self.record(
            "delete",
            &id.id,
            if result.is_ok() { "deleted" } else { "failed" },
        )
        .await?;
        result
    }
}
