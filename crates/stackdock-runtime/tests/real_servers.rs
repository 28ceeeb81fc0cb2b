//! A tenant on real servers: a PostgreSQL database, a PowerDNS zone and
//! records that use the database's outputs, a Postfix/Dovecot mailbox and
//! forwarder (their SQL backend on PostgreSQL) — applied, observed, drifted
//! out of band, reconciled, destroyed; and a fault at every remote call.
//!
//! PostgreSQL comes from `scripts/test.sh` (`STACKDOCK_TEST_PG_URL`, or the
//! server on 127.0.0.1:5432); PowerDNS is started here on loopback (installed
//! by `scripts/services/powerdns.sh`). No soft skips: a missing server fails.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::Fixture;
use stackdock_core::layer::{standard, RetryPolicy};
use stackdock_core::secret::ExposeSecret;
use stackdock_core::spec::ResourceSpec;
use stackdock_core::{
    Capabilities, Created, DockAdapter, DockAdapterExt, DockRegistry, ListOptions, Observation,
    Page, ProviderInfo, Resource, ResourceId, ResourceKind, Result,
};
use stackdock_runtime::blueprint::{Blueprint, SecretRef};
use stackdock_runtime::model::{AuditQuery, RunStatus};
use stackdock_runtime::store::{SqliteStore, Store};
use stackdock_runtime::{ApplyOptions, Runtime};

const API_KEY: &str = stackdock_testkit::powerdns::API_KEY;
const STEPS: usize = 6;

fn pg_url() -> String {
    std::env::var("STACKDOCK_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn unique() -> String {
    uuid_like()[..10].to_owned()
}

fn uuid_like() -> String {
    stackdock_runtime::model::RunId::new().0.replace('-', "")
}

/// A throwaway pdns_server (sqlite3 backend, API on), killed on drop.
type Pdns = stackdock_testkit::powerdns::PowerDns;

/// Every remote call of every dock goes through one counter; the k-th fails.
#[derive(Debug)]
struct Faults {
    calls: AtomicUsize,
    fail_at: AtomicUsize,
    /// The call that waits for `gate` first (0: none).
    hold_at: AtomicUsize,
    gate: tokio::sync::Semaphore,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            calls: AtomicUsize::new(0),
            fail_at: AtomicUsize::new(0),
            hold_at: AtomicUsize::new(0),
            gate: tokio::sync::Semaphore::new(0),
        }
    }
}

impl Faults {
    async fn check(&self) -> Result<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.hold_at.load(Ordering::SeqCst) {
            drop(self.gate.acquire().await.unwrap());
        }
        if n == self.fail_at.load(Ordering::SeqCst) {
            return Err(stackdock_core::Error::provider(
                Some(400),
                None,
                "injected fault",
            ));
        }
        Ok(())
    }
}

/// A real adapter behind the fault counter.
#[derive(Debug)]
struct Faulty {
    inner: Arc<dyn DockAdapter>,
    faults: Arc<Faults>,
}

#[async_trait]
impl DockAdapter for Faulty {
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
        self.faults.check().await?;
        self.inner.list(kind, options).await
    }
    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        self.faults.check().await?;
        self.inner.observe(id, desired).await
    }
    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        self.faults.check().await?;
        self.inner.create(spec).await
    }
    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        self.faults.check().await?;
        self.inner.update(id, spec).await
    }
    async fn delete(&self, id: &ResourceId) -> Result<()> {
        self.faults.check().await?;
        self.inner.delete(id).await
    }
}

/// The three real docks (`pg`, `dns`, `mail`), bare (for out-of-band
/// changes and leftover counts) and as the runtime sees them.
struct Servers {
    _pdns: Pdns,
    pg: Arc<dyn DockAdapter>,
    dns: Arc<dyn DockAdapter>,
    mail: Arc<dyn DockAdapter>,
    mail_schema: String,
}

impl Servers {
    async fn start() -> Servers {
        let pdns = Pdns::start();
        let pg: Arc<dyn DockAdapter> = Arc::new(
            stackdock_postgres::PostgresAdapter::from_url("pg", &pg_url()).expect("PostgreSQL URL"),
        );
        let client = stackdock_dns::PowerDnsClient::new(stackdock_dns::PowerDnsConfig::new(
            pdns.api_url(),
            API_KEY,
        ))
        .unwrap();
        let dns: Arc<dyn DockAdapter> = Arc::new(stackdock_dns::DnsAdapter::new(
            client,
            stackdock_dns::AdapterOptions::default().with_dock_id("dns"),
        ));
        let mail_schema = format!("sdrt_{}", unique());
        let mail: Arc<dyn DockAdapter> = Arc::new(
            stackdock_email::sql::PostfixDovecotAdapter::connect(
                "mail",
                stackdock_email::sql::SqlConfig::new(pg_url())
                    .with_schema(&mail_schema)
                    .with_bcrypt_cost(4),
            )
            .await
            .expect("the Postfix/Dovecot SQL backend on PostgreSQL"),
        );
        Servers {
            _pdns: pdns,
            pg,
            dns,
            mail,
            mail_schema,
        }
    }

    fn registry(&self, faults: &Arc<Faults>) -> DockRegistry {
        let mut docks = DockRegistry::new();
        for inner in [&self.pg, &self.dns, &self.mail] {
            docks
                .insert_layered(standard(Arc::new(Faulty {
                    inner: inner.clone(),
                    faults: faults.clone(),
                })))
                .unwrap();
        }
        docks
    }

    /// What exists on the real servers for `tenant`: databases, zones,
    /// records in its zone, mailboxes and forwarders of its domain.
    async fn leftovers(&self, tenant: &Tenant) -> Vec<String> {
        let mut found = Vec::new();
        let databases = self
            .pg
            .list_all(ResourceKind::Database, &ListOptions::default())
            .await
            .unwrap();
        found.extend(
            databases
                .iter()
                .map(|r| r.meta().name.clone())
                .filter(|n| *n == tenant.database),
        );
        let zones = self
            .dns
            .list_all(ResourceKind::DnsZone, &ListOptions::default())
            .await
            .unwrap();
        found.extend(
            zones
                .iter()
                .map(|r| r.meta().name.clone())
                .filter(|n| n.trim_end_matches('.') == tenant.zone),
        );
        for kind in [ResourceKind::Mailbox, ResourceKind::MailForwarder] {
            let items = self
                .mail
                .list_all(kind, &ListOptions::default())
                .await
                .unwrap();
            found.extend(
                items
                    .iter()
                    .map(|r| r.meta().name.clone())
                    .filter(|n| n.ends_with(&format!("@{}", tenant.zone))),
            );
        }
        found
    }

    async fn drop_mail_schema(&self) {
        let (client, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                self.mail_schema
            ))
            .await
            .unwrap();
    }
}

/// A tenant's unique names.
struct Tenant {
    scope: String,
    database: String,
    zone: String,
}

impl Tenant {
    fn new() -> Tenant {
        let id = unique();
        Tenant {
            scope: format!("t{id}"),
            database: format!("sdrt_{id}"),
            zone: format!("t{id}.example"),
        }
    }

    fn blueprint(&self) -> Blueprint {
        Blueprint::builder(&self.scope)
            .org("agency")
            .step_json(
                "db",
                "pg",
                serde_json::json!({"kind": "database", "name": self.database}),
            )
            .secret("password", SecretRef::Generate)
            .step_json(
                "zone",
                "dns",
                serde_json::json!({"kind": "dns_zone", "name": self.zone}),
            )
            .step_json(
                "db_txt",
                "dns",
                serde_json::json!({
                    "kind": "dns_record", "zone": "${zone.name}", "name": "_db", "ttl": 300,
                    "data": {"type": "TXT", "text": "host=${db.host} port=${db.port} db=${db.name}"}
                }),
            )
            .step_json(
                "www",
                "dns",
                serde_json::json!({
                    "kind": "dns_record", "zone": "${zone.name}", "name": "app", "ttl": 300,
                    "data": {"type": "A", "address": "192.0.2.10"}
                }),
            )
            .step_json(
                "mailbox",
                "mail",
                serde_json::json!({"kind": "mailbox", "address": format!("info@{}", self.zone)}),
            )
            .needs("zone")
            .secret("password", SecretRef::Generate)
            .step_json(
                "forwarder",
                "mail",
                serde_json::json!({
                    "kind": "mail_forwarder", "source": format!("sales@{}", self.zone),
                    "destinations": ["${mailbox.name}"]
                }),
            )
            .build()
            .unwrap()
    }
}

/// A runtime on a fresh SQLite store over the real docks behind `faults`,
/// without retries (each injected fault is seen once).
async fn fixture(servers: &Servers, faults: &Arc<Faults>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let fx = Fixture::over(store, Some(dir), servers.registry(faults));
    Fixture {
        runtime: fx.runtime.with_retry(RetryPolicy::none()),
        ..fx
    }
}

/// Everything logged (every level) while it is installed, for the secret scan.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process-wide log capture (every level), installed once as the global
/// subscriber: a thread-local one misses events while other tests run.
fn capture() -> Captured {
    static CAPTURE: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let logs = Captured::default();
            let writer = logs.clone();
            tracing::subscriber::set_global_default(
                tracing_subscriber::fmt()
                    .with_max_level(tracing::Level::TRACE)
                    .with_ansi(false)
                    .with_writer(move || writer.clone())
                    .finish(),
            )
            .expect("no other global subscriber in this test binary");
            logs
        })
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_on_real_servers_applies_drifts_reconciles_and_destroys() {
    let logs = capture();
    let servers = Servers::start().await;
    let faults = Arc::new(Faults::default());
    let fx = fixture(&servers, &faults).await;
    let tenant = Tenant::new();
    let bp = tenant.blueprint();

    let report = fx
        .runtime
        .apply(&bp, "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    assert!(report.succeeded(), "{:?}", report.failure);
    assert_eq!(
        servers.leftovers(&tenant).await.len(),
        4,
        "database, zone, mailbox, forwarder"
    );
    let txt = fx
        .store
        .get_step(&tenant.scope, "db_txt")
        .await
        .unwrap()
        .unwrap();
    assert!(txt.spec["data"]["text"]
        .as_str()
        .unwrap()
        .contains(&tenant.database));

    // Observe: the plan against the real servers is empty, and an unchanged
    // apply makes no mutating call (no audit entry either).
    let plan = fx.runtime.plan(&bp).await.unwrap();
    assert!(plan.is_empty(), "{plan}");
    // Decryptions of the generated passwords are audited; mutations are not there.
    let mutations = |audit: Vec<stackdock_runtime::model::AuditEntry>| {
        audit
            .into_iter()
            .filter(|e| e.operation != "decrypt")
            .count()
    };
    let audit_before = mutations(fx.store.list_audit(&AuditQuery::default()).await.unwrap());
    let again = fx
        .runtime
        .apply(&bp, "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    assert!(again.succeeded() && again.run.steps.is_empty(), "{again:?}");
    assert_eq!(
        mutations(fx.store.list_audit(&AuditQuery::default()).await.unwrap()),
        audit_before,
        "an unchanged apply audits no mutation"
    );

    // Drift out of band: the TXT record and the forwarder vanish behind the runtime's back.
    for step in ["db_txt", "forwarder"] {
        let state = fx
            .store
            .get_step(&tenant.scope, step)
            .await
            .unwrap()
            .unwrap();
        let dock = if step == "db_txt" {
            &servers.dns
        } else {
            &servers.mail
        };
        dock.delete(state.resource_id().unwrap()).await.unwrap();
    }
    let drifted = fx.runtime.plan(&bp).await.unwrap();
    assert_eq!(drifted.mutations(), 2, "{drifted}");
    let reconciled = fx
        .runtime
        .reconcile(&tenant.scope, "agency", "controller")
        .await
        .unwrap();
    assert!(reconciled.succeeded(), "{:?}", reconciled.failure);
    assert!(fx.runtime.plan(&bp).await.unwrap().is_empty());

    let destroyed = fx
        .runtime
        .destroy(&tenant.scope, "agency", "alice")
        .await
        .unwrap();
    assert!(destroyed.succeeded(), "{:?}", destroyed.failure);
    assert!(
        servers.leftovers(&tenant).await.is_empty(),
        "{:?}",
        servers.leftovers(&tenant).await
    );

    // Audit: one entry per mutation (6 creates + 2 re-creates, 6 deletes).
    let audit = fx
        .store
        .list_audit(&AuditQuery {
            scope: Some(tenant.scope.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let count = |op: &str| audit.iter().filter(|e| e.operation == op).count();
    assert_eq!(
        (count("create"), count("update"), count("delete")),
        (STEPS + 2, 0, STEPS)
    );

    // No generated password anywhere in the state (SQLite file and WAL) or the audit.
    let mut secrets = Vec::new();
    for (dock, step) in [("pg", "db"), ("mail", "mailbox")] {
        let name = format!("{}/{step}/password", tenant.scope);
        secrets.push(
            fx.vault
                .open("agency", dock, &name)
                .await
                .unwrap()
                .expose_secret()
                .to_owned(),
        );
    }
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        logged.contains("run finished"),
        "the capture sees the runtime's logs"
    );
    for secret in &secrets {
        assert!(
            !logged.contains(secret.as_str()),
            "a secret reached the logs"
        );
    }
    let audit_text =
        serde_json::to_string(&fx.store.list_audit(&AuditQuery::default()).await.unwrap()).unwrap();
    for entry in std::fs::read_dir(fx.dir.as_ref().unwrap().path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for secret in &secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a secret reached the state"
            );
            assert!(
                !audit_text.contains(secret.as_str()),
                "a secret reached the audit"
            );
        }
    }
    servers.drop_mail_schema().await;
}

/// Remote calls of a clean apply of a fresh tenant.
async fn calls_of_a_clean_apply(servers: &Servers) -> usize {
    let faults = Arc::new(Faults::default());
    let fx = fixture(servers, &faults).await;
    let tenant = Tenant::new();
    let report = fx
        .runtime
        .apply(&tenant.blueprint(), "a", ApplyOptions::rollback())
        .await
        .unwrap();
    assert!(report.succeeded(), "{:?}", report.failure);
    let calls = faults.calls.load(Ordering::SeqCst);
    fx.runtime
        .destroy(&tenant.scope, "agency", "a")
        .await
        .unwrap();
    assert!(servers.leftovers(&tenant).await.is_empty());
    calls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_at_every_remote_call_on_real_servers_rolls_back_or_is_finished_by_one_reconcile() {
    let servers = Servers::start().await;
    let calls = calls_of_a_clean_apply(&servers).await;
    assert!(calls >= 2 * STEPS, "{calls} calls");
    for k in 1..=calls {
        // Rollback: nothing is left on the servers.
        let faults = Arc::new(Faults::default());
        faults.fail_at.store(k, Ordering::SeqCst);
        let fx = fixture(&servers, &faults).await;
        let tenant = Tenant::new();
        let report = fx
            .runtime
            .apply(&tenant.blueprint(), "a", ApplyOptions::rollback())
            .await
            .unwrap();
        assert_eq!(report.run.status, RunStatus::Failed, "fault at call {k}");
        assert_eq!(
            report.run.reason.as_deref(),
            Some("rolled_back"),
            "fault at call {k}: {:?}",
            report.run.message
        );
        let left = servers.leftovers(&tenant).await;
        assert!(left.is_empty(), "fault at call {k}: rollback left {left:?}");

        // Keep: one reconcile finishes what was recorded, the next apply the rest.
        let faults = Arc::new(Faults::default());
        faults.fail_at.store(k, Ordering::SeqCst);
        let fx = fixture(&servers, &faults).await;
        let tenant = Tenant::new();
        let kept = fx
            .runtime
            .apply(&tenant.blueprint(), "a", ApplyOptions::keep())
            .await
            .unwrap();
        assert_eq!(kept.run.status, RunStatus::Failed, "fault at call {k}");
        let reconciled = fx
            .runtime
            .reconcile(&tenant.scope, "agency", "a")
            .await
            .unwrap();
        assert!(
            reconciled.succeeded(),
            "fault at call {k}: {:?}",
            reconciled.failure
        );
        let finished = fx
            .runtime
            .apply(&tenant.blueprint(), "a", ApplyOptions::keep())
            .await
            .unwrap();
        assert!(
            finished.succeeded(),
            "fault at call {k}: {:?}",
            finished.failure
        );
        assert_eq!(
            servers.leftovers(&tenant).await.len(),
            4,
            "fault at call {k}: exactly one of each"
        );
        let destroyed = fx
            .runtime
            .destroy(&tenant.scope, "agency", "a")
            .await
            .unwrap();
        assert!(destroyed.succeeded() && servers.leftovers(&tenant).await.is_empty());
    }
    servers.drop_mail_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_aborted_at_random_points_resume_with_exactly_one_of_each_on_real_servers() {
    use rand::Rng;
    let servers = Servers::start().await;
    let faults = Arc::new(Faults::default());
    // How long a clean apply takes here: the window the aborts fall in.
    let window = {
        let fx = fixture(&servers, &faults).await;
        let tenant = Tenant::new();
        let started = Instant::now();
        let report = fx
            .runtime
            .apply(&tenant.blueprint(), "a", ApplyOptions::keep())
            .await
            .unwrap();
        assert!(report.succeeded(), "{:?}", report.failure);
        fx.runtime
            .destroy(&tenant.scope, "agency", "a")
            .await
            .unwrap();
        started.elapsed()
    };
    for trial in 0..20 {
        let fx = Arc::new(fixture(&servers, &faults).await);
        let tenant = Tenant::new();
        let cut = window.mul_f64(rand::thread_rng().gen_range(0.0..1.0));
        let task = {
            let (fx, bp) = (fx.clone(), tenant.blueprint());
            tokio::spawn(async move { fx.runtime.apply(&bp, "a", ApplyOptions::rollback()).await })
        };
        tokio::time::sleep(cut).await;
        task.abort();
        let _ = task.await;
        // The dead run still holds the scope: end it as an operator would.
        // Its start may still commit after the abort (the SQLite driver's
        // worker finishes a statement already sent), so a resume can meet
        // it: end that one too, then resume.
        let resumed = loop {
            if let Some(dead) = fx.store.active_run(&tenant.scope).await.unwrap() {
                fx.store
                    .finish_run(&dead.id, RunStatus::Cancelled, Some("process_died"), None)
                    .await
                    .unwrap();
            }
            let report = fx
                .runtime
                .apply(&tenant.blueprint(), "a", ApplyOptions::rollback())
                .await
                .unwrap();
            if !report.joined {
                break report;
            }
        };
        assert!(
            resumed.succeeded(),
            "trial {trial} (cut at {cut:?}): {:?}",
            resumed.failure
        );
        let left = servers.leftovers(&tenant).await;
        assert_eq!(
            left.len(),
            4,
            "trial {trial} (cut at {cut:?}): exactly one of each: {left:?}"
        );
        let destroyed = fx
            .runtime
            .destroy(&tenant.scope, "agency", "a")
            .await
            .unwrap();
        assert!(
            destroyed.succeeded(),
            "trial {trial}: {:?}",
            destroyed.failure
        );
        let left = servers.leftovers(&tenant).await;
        assert!(
            left.is_empty(),
            "trial {trial} (cut at {cut:?}): leaked {left:?}"
        );
    }
    servers.drop_mail_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_applies_on_real_servers_are_one_run_and_a_destroy_meanwhile_is_busy() {
    let servers = Servers::start().await;
    let faults = Arc::new(Faults::default());
    let fx = Arc::new(fixture(&servers, &faults).await);
    let tenant = Tenant::new();
    let applies: Vec<_> = (0..50)
        .map(|i| {
            let (fx, bp) = (fx.clone(), tenant.blueprint());
            tokio::spawn(async move {
                fx.runtime
                    .apply(&bp, &format!("user{i}"), ApplyOptions::rollback())
                    .await
            })
        })
        .collect();
    let active = loop {
        if let Some(run) = fx.store.active_run(&tenant.scope).await.unwrap() {
            break run;
        }
        tokio::task::yield_now().await;
    };
    match fx.runtime.destroy(&tenant.scope, "agency", "mallory").await {
        Err(stackdock_runtime::Error::ScopeBusy { active_run, .. }) => {
            assert_eq!(active_run, active.id)
        }
        // The apply may already be over on a fast machine: then the destroy ran.
        Ok(report) => panic!("the destroy must meet the active apply, it ran: {report:?}"),
        Err(other) => panic!("{other}"),
    }
    for apply in applies {
        let report = apply.await.unwrap().unwrap();
        assert_eq!(report.run.id, active.id, "every apply is the one run");
    }
    assert_eq!(
        fx.runtime.wait(&active.id).await.unwrap().status,
        RunStatus::Succeeded
    );
    assert_eq!(fx.store.list_runs(&tenant.scope).await.unwrap().len(), 1);
    assert_eq!(servers.leftovers(&tenant).await.len(), 4);
    fx.runtime
        .destroy(&tenant.scope, "agency", "a")
        .await
        .unwrap();
    assert!(servers.leftovers(&tenant).await.is_empty());
    servers.drop_mail_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_never_deletes_what_another_scope_adopted_meanwhile_on_real_servers() {
    let servers = Servers::start().await;
    let database = format!("sdrt_{}", unique());
    let blueprint = |scope: &str, with_zone: bool| {
        let mut b = Blueprint::builder(scope).org("agency").step_json(
            "db",
            "pg",
            serde_json::json!({"kind": "database", "name": database}),
        );
        if with_zone {
            b = b
                .step_json(
                    "zone",
                    "dns",
                    serde_json::json!({"kind": "dns_zone", "name": format!("{scope}.example")}),
                )
                .needs("db");
        }
        b.build().unwrap()
    };
    // A creates the database, then is held before its zone's first call,
    // which fails once released.
    let faults_a = Arc::new(Faults::default());
    faults_a.hold_at.store(3, Ordering::SeqCst);
    faults_a.fail_at.store(3, Ordering::SeqCst);
    let a = Arc::new(fixture(&servers, &faults_a).await);
    let scope_a = format!("a{}", unique());
    let applying = {
        let (a, bp) = (a.clone(), blueprint(&scope_a, true));
        tokio::spawn(async move {
            a.runtime
                .apply(&bp, "alice", ApplyOptions::rollback())
                .await
        })
    };
    while faults_a.calls.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // B (same store, another scope) adopts the database meanwhile.
    let b = Runtime::new(
        a.store.clone(),
        servers.registry(&Arc::new(Faults::default())),
    )
    .with_vault(a.vault.clone())
    .with_retry(RetryPolicy::none());
    let scope_b = format!("b{}", unique());
    let adopted = b
        .apply(&blueprint(&scope_b, false), "bob", ApplyOptions::rollback())
        .await
        .unwrap();
    assert!(adopted.succeeded(), "{:?}", adopted.failure);
    assert_eq!(
        adopted.steps["db"],
        stackdock_runtime::events::StepOutcome::Adopted
    );

    faults_a.gate.add_permits(1);
    let failed = applying.await.unwrap().unwrap();
    assert_eq!(failed.run.status, RunStatus::Failed);
    assert!(
        matches!(
            failed.steps["db"],
            stackdock_runtime::events::StepOutcome::Skipped { .. }
        ),
        "{:?}",
        failed.steps
    );
    let databases = servers
        .pg
        .list_all(ResourceKind::Database, &ListOptions::default())
        .await
        .unwrap();
    assert!(
        databases.iter().any(|d| d.meta().name == database),
        "A's rollback deleted the database B adopted"
    );
    // Each scope still records it: destroying one releases it, the last deletes it.
    let exists = || async {
        servers
            .pg
            .list_all(ResourceKind::Database, &ListOptions::default())
            .await
            .unwrap()
            .iter()
            .any(|d| d.meta().name == database)
    };
    let released = b.destroy(&scope_b, "agency", "bob").await.unwrap();
    assert!(released.succeeded(), "{:?}", released.failure);
    assert!(exists().await, "A still holds it: B's destroy releases it");
    let destroyed = a
        .runtime
        .destroy(&scope_a, "agency", "alice")
        .await
        .unwrap();
    assert!(destroyed.succeeded(), "{:?}", destroyed.failure);
    assert!(!exists().await, "the last scope holding it deletes it");
    servers.drop_mail_schema().await;
}
