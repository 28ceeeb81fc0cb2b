//! `env_var` steps on stackdock-vercel's wiremock fake of Vercel's API
//! (bodies shaped like Vercel's): a database's URL, built from its outputs
//! and its generated password, set as DATABASE_URL on a Vercel project;
//! re-applied (no-op), changed, drifted, rolled back and destroyed; and the
//! value nowhere in the state file, audit, events or `Debug`.

#[path = "../../stackdock-vercel/tests/common/mod.rs"]
mod vercel;

use std::sync::Arc;

use stackdock_core::extension::{EnvVarSpec, EnvVars};
use stackdock_core::secret::ExposeSecret;
use stackdock_core::{
    DockAdapter, DockAdapterExt, DockRegistry, ErrorKind, InMemoryAdapter, ResourceId, ResourceKind,
};
use stackdock_runtime::audit::StoreAudit;
use stackdock_runtime::blueprint::Blueprint;
use stackdock_runtime::events::{RunEvent, StepOutcome};
use stackdock_runtime::model::{AuditQuery, StepState};
use stackdock_runtime::plan::{Plan, PlanAction, PlannedStep};
use stackdock_runtime::store::{SqliteStore, Store};
use stackdock_runtime::vault::{AesGcmVault, CredentialVault, MasterKeys};
use stackdock_runtime::{ApplyOptions, Error, RunReport, Runtime};
use tokio::sync::broadcast::Receiver;
use vercel::FakeVercel;
use wiremock::{MockServer, Request};

const TEMPLATE: &str =
    "template:postgres://${db.user}:${db.password}@${db.host}:${db.port}/${db.name}";

fn blueprint(template: &str, extra: &str) -> Blueprint {
    Blueprint::from_toml(&format!(
        r#"
scope = "site"
org = "agency"

[steps.project]
dock = "vercel"
spec = {{ kind = "web_service", name = "agency-site", framework = "nextjs", repository = "acme/agency-site" }}

[steps.db]
dock = "pg"
spec = {{ kind = "database", name = "agency_site" }}
secrets = {{ password = "generate" }}

[steps.database_url]
dock = "vercel"
spec = {{ kind = "env_var", service = "${{project.id}}", key = "DATABASE_URL", targets = ["production", "preview"] }}
secrets = {{ value = "{template}" }}
{extra}"#
    ))
    .unwrap()
}

struct Site {
    fake: FakeVercel,
    server: MockServer,
    runtime: Runtime,
    store: Arc<dyn Store>,
    vault: Arc<dyn CredentialVault>,
    pg: Arc<InMemoryAdapter>,
    vercel: Arc<dyn DockAdapter>,
    dir: tempfile::TempDir,
}

impl Site {
    async fn new() -> Self {
        let fake = FakeVercel::new();
        let server = fake.start().await;
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        let vault: Arc<dyn CredentialVault> = Arc::new(AesGcmVault::new(
            store.clone(),
            MasterKeys::generate("k1"),
            Arc::new(StoreAudit::new(store.clone())),
        ));
        let pg = Arc::new(InMemoryAdapter::new("pg"));
        let vercel: Arc<dyn DockAdapter> = Arc::new(FakeVercel::adapter(&server));
        let runtime = runtime(&store, &vault, &pg, vercel.clone());
        Site {
            fake,
            server,
            runtime,
            store,
            vault,
            pg,
            vercel,
            dir,
        }
    }

    /// The URL the template makes, from the database's outputs and its
    /// password as sealed in the vault.
    async fn expected_url(&self, suffix: &str) -> String {
        self.expected_url_of("agency", suffix).await
    }

    async fn expected_url_of(&self, org: &str, suffix: &str) -> String {
        let step = self.step("db").await;
        let out = &step.outputs;
        let password = self
            .vault
            .open(org, "pg", "site/db/password")
            .await
            .unwrap();
        format!(
            "postgres://{}:{}@{}:{}/{}{suffix}",
            out["user"].as_str().unwrap(),
            password.expose_secret(),
            out["host"].as_str().unwrap(),
            out["port"],
            out["name"].as_str().unwrap(),
        )
    }

    /// Asserts the project holds one variable, the URL the template makes.
    async fn assert_holds_expected_url(&self, project: &str) {
        assert_eq!(
            self.fake.env_values(project),
            [self.expected_url("").await],
            "one variable, the expected URL"
        );
    }

    /// The recorded state of one of the site's steps.
    async fn step(&self, name: &str) -> StepState {
        self.store.get_step("site", name).await.unwrap().unwrap()
    }

    async fn project_id(&self) -> String {
        let step = self.step("project").await;
        step.resource_id().unwrap().id.clone()
    }

    /// The Vercel dock's env vars, and the project as the service they are on.
    fn env_of(&self, project: &str) -> (&dyn EnvVars, ResourceId) {
        let env = self.vercel.require_env_vars().unwrap();
        (env, ResourceId::new(ResourceKind::WebService, project))
    }

    async fn apply(&self, bp: &Blueprint, options: ApplyOptions) -> RunReport {
        self.runtime.apply(bp, "alice", options).await.unwrap()
    }

    async fn reconcile(&self) -> RunReport {
        self.runtime
            .reconcile("site", "agency", "controller")
            .await
            .unwrap()
    }

    async fn destroy(&self) -> RunReport {
        self.runtime
            .destroy("site", "agency", "alice")
            .await
            .unwrap()
    }

    /// Every request the fake Vercel received so far.
    async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    async fn env_sets(&self) -> usize {
        self.requests()
            .await
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/env"))
            .count()
    }

    /// Every byte of the SQLite state (database, WAL, shared memory).
    fn state_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        bytes
    }
}

/// A runtime over the in-memory `pg` dock and `vercel`, with the site's
/// store and vault, that does not retry.
fn runtime(
    store: &Arc<dyn Store>,
    vault: &Arc<dyn CredentialVault>,
    pg: &Arc<InMemoryAdapter>,
    vercel: Arc<dyn DockAdapter>,
) -> Runtime {
    let mut docks = DockRegistry::new();
    docks.insert(pg.clone()).unwrap();
    docks.insert(vercel).unwrap();
    Runtime::new(store.clone(), docks)
        .with_vault(vault.clone())
        .with_retry(stackdock_core::layer::RetryPolicy::none())
}

/// The variable's step in `plan`.
fn variable_in(plan: &Plan) -> &PlannedStep {
    plan.steps
        .iter()
        .find(|s| s.step == "database_url")
        .unwrap()
}

/// Asserts what `report`'s run did with the variable.
fn assert_variable(report: &RunReport, outcome: StepOutcome) {
    assert_eq!(report.steps["database_url"], outcome, "{report:?}");
}

fn drain(events: &mut Receiver<RunEvent>) -> Vec<RunEvent> {
    let mut out = Vec::new();
    while let Ok(e) = events.try_recv() {
        out.push(e);
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn a_database_url_is_set_on_the_project_kept_and_changed_and_destroyed() {
    let site = Site::new().await;
    let mut events = site.runtime.subscribe();
    let bp = blueprint(TEMPLATE, "");

    let plan = site.runtime.plan(&bp).await.unwrap();
    let step = variable_in(&plan);
    assert_eq!(step.action, PlanAction::Create, "{plan}");

    let report = site.apply(&bp, ApplyOptions::rollback()).await;
    assert!(report.succeeded(), "{report:?}");
    assert_variable(&report, StepOutcome::Created);
    let project = site.project_id().await;
    let url = site.expected_url("").await;
    assert_eq!(site.fake.env_values(&project), std::slice::from_ref(&url));
    let (env, service) = site.env_of(&project);
    let var = env.list_env_vars(&service).await.unwrap();
    assert_eq!(var.len(), 1);
    assert_eq!(var[0].key, "DATABASE_URL");
    assert_eq!(var[0].environments, ["production", "preview"]);

    // Again: nothing to set, and the plan says so — without opening a secret.
    let decrypts = || async {
        let query = AuditQuery {
            operation: Some("decrypt".into()),
            ..Default::default()
        };
        site.store.list_audit(&query).await.unwrap().len()
    };
    let opened = decrypts().await;
    assert!(opened > 0, "the apply opened the password");
    let plan = site.runtime.plan(&bp).await.unwrap();
    assert!(plan.is_empty(), "{plan}");
    assert_eq!(decrypts().await, opened, "a plan decrypts nothing");
    let sets = site.env_sets().await;
    let again = site.apply(&bp, ApplyOptions::rollback()).await;
    assert!(again.succeeded(), "{again:?}");
    assert_variable(&again, StepOutcome::Unchanged);
    assert_eq!(site.env_sets().await, sets, "a second apply sets nothing");

    // A changed template: the plan shows an update, the apply re-sets it.
    let changed = blueprint(&format!("{TEMPLATE}?sslmode=require"), "");
    let plan = site.runtime.plan(&changed).await.unwrap();
    let step = variable_in(&plan);
    assert_eq!(step.action, PlanAction::Update, "{plan}");
    assert!(!plan.to_string().contains(&url), "{plan}");
    let report = site.apply(&changed, ApplyOptions::rollback()).await;
    assert_variable(&report, StepOutcome::Updated);
    let new_url = site.expected_url("?sslmode=require").await;
    assert_eq!(
        site.fake.env_values(&project),
        std::slice::from_ref(&new_url)
    );

    // Destroy removes it (the project goes too).
    let destroyed = site.destroy().await;
    assert!(destroyed.succeeded(), "{destroyed:?}");
    assert_variable(&destroyed, StepOutcome::Deleted);
    assert!(site.fake.env_values(&project).is_empty());

    // The value (and the password in it) is nowhere we keep or show.
    let password = site
        .vault
        .open("agency", "pg", "site/db/password")
        .await
        .unwrap();
    let password = password.expose_secret();
    let bytes = site.state_bytes();
    assert!(!bytes.is_empty());
    for secret in [url.as_str(), new_url.as_str(), password] {
        assert!(!contains(&bytes, secret), "the state files hold a secret");
    }
    let audit = site.store.list_audit(&AuditQuery::default()).await.unwrap();
    assert!(audit.iter().any(|e| e
        .resource
        .as_deref()
        .is_some_and(|r| r.ends_with("/env/DATABASE_URL"))));
    let audit = format!("{audit:?}{}", serde_json::to_string(&audit).unwrap());
    let events = drain(&mut events);
    assert!(!events.is_empty());
    let events = format!("{events:?}{}", serde_json::to_string(&events).unwrap());
    let steps = format!("{:?}", site.store.list_steps("site").await.unwrap());
    let shown = format!("{audit}{events}{steps}{report:?}{destroyed:?}{bp:?}");
    for secret in [url.as_str(), new_url.as_str(), password] {
        assert!(!shown.contains(secret), "a secret is shown");
    }
}

#[tokio::test]
async fn a_variable_removed_behind_our_back_is_set_again_by_reconcile() {
    let site = Site::new().await;
    let bp = blueprint(TEMPLATE, "");
    assert!(site.apply(&bp, ApplyOptions::keep()).await.succeeded());
    let project = site.project_id().await;
    let (env, service) = site.env_of(&project);
    env.delete_env_var(&service, "DATABASE_URL").await.unwrap();

    let plan = site.runtime.plan(&bp).await.unwrap();
    let step = variable_in(&plan);
    assert_eq!(step.action, PlanAction::Create, "{plan}");

    let report = site.reconcile().await;
    assert!(report.succeeded(), "{report:?}");
    assert_variable(&report, StepOutcome::Created);
    site.assert_holds_expected_url(&project).await;

    // Moved to production only, behind our back: drift, and set back.
    env.delete_env_var(&service, "DATABASE_URL").await.unwrap();
    env.set_env_vars(
        &service,
        &[EnvVarSpec::new(
            "DATABASE_URL",
            "postgres://elsewhere",
            ["production"],
        )],
    )
    .await
    .unwrap();
    let report = site.reconcile().await;
    assert_variable(&report, StepOutcome::Updated);
    let vars = env.list_env_vars(&service).await.unwrap();
    assert_eq!(vars.len(), 1);
    assert_eq!(vars[0].environments, ["production", "preview"]);
    site.assert_holds_expected_url(&project).await;

    // Made sensitive (write-only) with a note: the plan says so, the apply
    // replaces the variable (an upsert does not change its type).
    let mut sensitive = bp.clone();
    let spec = &mut sensitive.steps.get_mut("database_url").unwrap().spec;
    spec["sensitive"] = true.into();
    spec["comment"] = "from the db step".into();
    let plan = site.runtime.plan(&sensitive).await.unwrap();
    let step = variable_in(&plan);
    assert_eq!(step.action, PlanAction::Update, "{plan}");
    assert_eq!(
        step.changes,
        ["sensitive: false -> true", "comment changed"],
        "{plan}"
    );
    let report = site.apply(&sensitive, ApplyOptions::keep()).await;
    assert_variable(&report, StepOutcome::Updated);
    let vars = env.list_env_vars(&service).await.unwrap();
    assert_eq!((vars.len(), vars[0].sensitive), (1, true), "{vars:?}");
    site.assert_holds_expected_url(&project).await;
    let again = site.apply(&sensitive, ApplyOptions::keep()).await;
    assert_variable(&again, StepOutcome::Unchanged);

    // A key renamed in place would orphan the old variable: refused, named.
    let renamed = bp.to_toml().unwrap().replace("DATABASE_URL", "DB_URL");
    let renamed = Blueprint::from_toml(&renamed).unwrap();
    let report = site.apply(&renamed, ApplyOptions::keep()).await;
    let failure = report.failure.expect("refused");
    assert_eq!(
        (failure.step.as_str(), failure.code.as_str()),
        ("database_url", "blueprint")
    );
    assert!(
        failure
            .message
            .contains("key changed from DATABASE_URL to DB_URL"),
        "{failure:?}"
    );
    assert_eq!(env.list_env_vars(&service).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_failure_after_the_variable_rolls_it_back_and_an_adopted_one_is_never_deleted() {
    let site = Site::new().await;
    // A step after the variable fails: the rollback deletes what this run made.
    let after = "\n[steps.after]\ndock = \"pg\"\nneeds = [\"database_url\"]\nspec = { kind = \"database\", name = \"after\" }\n";
    let bp = blueprint(TEMPLATE, after);
    // The pg dock's third call: after the db's find and create, the first
    // call of `after` (which waits for the variable).
    site.pg.fail_call_number(
        3,
        stackdock_core::Error::provider(Some(400), None, "injected fault"),
    );
    let report = site.apply(&bp, ApplyOptions::rollback()).await;
    assert!(!report.succeeded());
    assert_eq!(report.failure.as_ref().unwrap().step, "after", "{report:?}");
    assert!(
        report.rolled_back.contains(&"database_url".to_owned()),
        "{report:?}"
    );
    let projects = site.fake.project_count();
    assert_eq!(projects, 0, "the project is rolled back too");

    // A variable already on the project is adopted: set, but released (not
    // deleted) by destroy.
    let project = site.fake.seed_project("agency-site");
    let (env, service) = site.env_of(&project);
    env.set_env_vars(
        &service,
        &[EnvVarSpec::new(
            "DATABASE_URL",
            "postgres://theirs",
            ["production", "preview"],
        )],
    )
    .await
    .unwrap();
    let bp = blueprint(TEMPLATE, "");
    let report = site.apply(&bp, ApplyOptions::rollback()).await;
    assert!(report.succeeded(), "{report:?}");
    site.assert_holds_expected_url(&project).await;
    let destroyed = site.destroy().await;
    assert!(destroyed.succeeded(), "{destroyed:?}");
    assert!(
        matches!(
            &destroyed.steps["database_url"],
            StepOutcome::Skipped { .. }
        ),
        "{destroyed:?}"
    );
    // (The adopted project itself is deleted by destroy, as every recorded
    // resource is; the variable was never asked to go.)
    let env_deletes = site
        .requests()
        .await
        .iter()
        .filter(|r| r.method.as_str() == "DELETE" && r.url.path().contains("/env/"))
        .count();
    assert_eq!(env_deletes, 1, "only the rollback deleted a variable");
}

#[tokio::test]
async fn a_dock_without_env_vars_is_a_typed_error_before_any_call() {
    let site = Site::new().await;
    // The variable asked of the in-memory PostgreSQL dock, which has no env vars.
    let text = blueprint(TEMPLATE, "").to_toml().unwrap().replace(
        "dock = \"vercel\"\nspec = { kind = \"env_var\"",
        "dock = \"pg\"\nspec = { kind = \"env_var\"",
    );
    let mut bp = Blueprint::from_toml(&text).unwrap();
    bp.steps.get_mut("database_url").unwrap().dock = "pg".into();
    let calls = site.pg.remote_calls();
    let requests = site.requests().await.len();

    for error in [
        site.runtime
            .apply(&bp, "alice", ApplyOptions::rollback())
            .await
            .unwrap_err(),
        site.runtime.plan(&bp).await.unwrap_err(),
    ] {
        match &error {
            Error::Dock(e) => assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{error}"),
            other => panic!("expected an unsupported dock error, got {other:?}"),
        }
        assert!(error.to_string().contains("env vars"), "{error}");
        assert!(error.to_string().contains("database_url"), "{error}");
    }
    assert_eq!(site.pg.remote_calls(), calls);
    assert_eq!(site.requests().await.len(), requests);
    assert!(site.store.list_steps("site").await.unwrap().is_empty());
    assert_eq!(
        site.store.scope_org("site").await.unwrap(),
        None,
        "the scope was not claimed"
    );
}

#[test]
fn the_value_is_a_secret_reference_and_a_literal_is_refused() {
    let literal = r#"
scope = "site"
[steps.url]
dock = "vercel"
spec = { kind = "env_var", service = "prj_1", key = "DATABASE_URL", targets = ["production"], value = "postgres://x" }
"#;
    let error = Blueprint::from_toml(literal).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("value must be a secret reference"),
        "{error}"
    );
    assert!(!error.to_string().contains("postgres://x"), "{error}");

    let no_value = r#"
scope = "site"
[steps.url]
dock = "vercel"
spec = { kind = "env_var", service = "prj_1", key = "DATABASE_URL", targets = ["production"] }
"#;
    assert!(Blueprint::from_toml(no_value).is_err());

    let bad_key = r#"
scope = "site"
[steps.url]
dock = "vercel"
spec = { kind = "env_var", service = "prj_1", key = "1BAD", targets = ["production"] }
secrets = { value = "env:X" }
"#;
    assert!(Blueprint::from_toml(bad_key)
        .unwrap_err()
        .to_string()
        .contains("key"));

    // A template names steps: unknown ones are refused, known ones are needs.
    let unknown = blueprint(TEMPLATE, "")
        .to_toml()
        .unwrap()
        .replace("${db.password}", "${nope.password}");
    assert!(Blueprint::from_toml(&unknown).is_err());
    let bp = blueprint(TEMPLATE, "");
    let needs: Vec<_> = bp
        .dependencies("database_url")
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(needs, ["db", "project"]);
}

#[tokio::test]
async fn the_agency_site_example_applies_and_sets_its_database_url() {
    let site = Site::new().await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/agency-site.toml"
    ))
    .unwrap();
    let bp = Blueprint::from_toml(&text).unwrap();
    // The example's docks: Vercel (the fake), PostgreSQL and DNS in memory.
    let mut docks = DockRegistry::new();
    docks.insert(site.pg.clone()).unwrap();
    docks.insert(Arc::new(InMemoryAdapter::new("dns"))).unwrap();
    docks.insert(site.vercel.clone()).unwrap();
    let runtime = Runtime::new(site.store.clone(), docks).with_vault(site.vault.clone());

    let plan = runtime.plan(&bp).await.unwrap();
    assert_eq!(plan.count(PlanAction::Create), bp.steps.len(), "{plan}");
    let report = runtime
        .apply(&bp, "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    assert!(report.succeeded(), "{report:?}");
    let project = site.project_id().await;
    assert_eq!(
        site.fake.env_values(&project),
        [site.expected_url_of("default", "").await]
    );
    let (env, service) = site.env_of(&project);
    let vars = env.list_env_vars(&service).await.unwrap();
    assert!(vars[0].sensitive, "{vars:?}");
    assert!(runtime.plan(&bp).await.unwrap().is_empty());
}

/// The Vercel adapter with its env var set held after it took effect, so a
/// test can kill the run between the set and its recorded outcome.
#[derive(Debug)]
struct ReplyHeld {
    inner: Arc<dyn DockAdapter>,
    reply: Arc<tokio::sync::Semaphore>,
    sets: std::sync::atomic::AtomicUsize,
}

#[stackdock_core::async_trait]
impl DockAdapter for ReplyHeld {
    fn provider(&self) -> &stackdock_core::ProviderInfo {
        self.inner.provider()
    }
    fn dock_id(&self) -> &str {
        self.inner.dock_id()
    }
    fn capabilities(&self) -> stackdock_core::Capabilities {
        self.inner.capabilities()
    }
    async fn check_credentials(&self) -> stackdock_core::Result<()> {
        self.inner.check_credentials().await
    }
    async fn list(
        &self,
        kind: ResourceKind,
        options: &stackdock_core::ListOptions,
    ) -> stackdock_core::Result<stackdock_core::Page<stackdock_core::Resource>> {
        self.inner.list(kind, options).await
    }
    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&stackdock_core::ResourceSpec>,
    ) -> stackdock_core::Result<stackdock_core::Observation> {
        self.inner.observe(id, desired).await
    }
    async fn create(
        &self,
        spec: &stackdock_core::ResourceSpec,
    ) -> stackdock_core::Result<stackdock_core::Created> {
        self.inner.create(spec).await
    }
    async fn update(
        &self,
        id: &ResourceId,
        spec: &stackdock_core::ResourceSpec,
    ) -> stackdock_core::Result<stackdock_core::Resource> {
        self.inner.update(id, spec).await
    }
    async fn delete(&self, id: &ResourceId) -> stackdock_core::Result<()> {
        self.inner.delete(id).await
    }
    fn env_vars(&self) -> Option<&dyn stackdock_core::extension::EnvVars> {
        Some(self)
    }
}

#[stackdock_core::async_trait]
impl stackdock_core::extension::EnvVars for ReplyHeld {
    async fn list_env_vars(
        &self,
        service: &ResourceId,
    ) -> stackdock_core::Result<Vec<stackdock_core::extension::EnvVar>> {
        self.inner.require_env_vars()?.list_env_vars(service).await
    }
    async fn set_env_vars(
        &self,
        service: &ResourceId,
        vars: &[EnvVarSpec],
    ) -> stackdock_core::Result<Vec<stackdock_core::extension::EnvVar>> {
        let stored = self
            .inner
            .require_env_vars()?
            .set_env_vars(service, vars)
            .await;
        self.sets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        drop(self.reply.acquire().await.expect("gate open"));
        stored
    }
    async fn delete_env_var(&self, service: &ResourceId, key: &str) -> stackdock_core::Result<()> {
        self.inner
            .require_env_vars()?
            .delete_env_var(service, key)
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_whose_reply_was_lost_is_set_again_on_resume_and_recorded_created() {
    let site = Site::new().await;
    let held = Arc::new(ReplyHeld {
        inner: site.vercel.clone(),
        reply: Arc::new(tokio::sync::Semaphore::new(0)),
        sets: Default::default(),
    });
    let runtime = runtime(&site.store, &site.vault, &site.pg, held.clone());
    let bp = blueprint(TEMPLATE, "");
    let task = {
        let (runtime, bp) = (runtime.clone(), bp.clone());
        tokio::spawn(async move { runtime.apply(&bp, "alice", ApplyOptions::keep()).await })
    };
    // The variable is set at Vercel; the reply has not come back: kill the run.
    while held.sets.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let step = site.step("database_url").await;
    assert_eq!(
        step.record.state,
        stackdock_core::ProvisioningState::Provisioning
    );
    let stale = site.store.active_run("site").await.unwrap().unwrap();
    site.store
        .finish_run(
            &stale.id,
            stackdock_runtime::model::RunStatus::Cancelled,
            Some("abandoned"),
            None,
        )
        .await
        .unwrap();

    held.reply.add_permits(1_000);
    let resumed = runtime
        .apply(&bp, "alice", ApplyOptions::keep())
        .await
        .unwrap();
    assert!(resumed.succeeded(), "{resumed:?}");
    assert_variable(&resumed, StepOutcome::Created);
    let project = site.project_id().await;
    site.assert_holds_expected_url(&project).await;
    let step = site.step("database_url").await;
    assert!(step
        .record
        .history
        .iter()
        .any(|t| t.reason == stackdock_core::provisioning::Reason::Resumed));
    assert_eq!(step.created_by_run, Some(resumed.run.id.clone()));
    assert!(step.record.may_delete_on_rollback(), "ours to delete");
}
