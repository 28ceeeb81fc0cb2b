//! `Runtime::deploy`: a deployment of a tenant's recorded web service,
//! followed to ready or failed, on a fake dock whose builds go through the
//! states a script gives them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stackdock_core::resource::Deployment;
use stackdock_core::{
    async_trait, Capabilities, Created, DockAdapter, DockRegistry, ErrorKind, InMemoryAdapter,
    Observation, Operations, ProviderInfo, ProvisioningState, Resource, ResourceId, ResourceKind,
    ResourceMeta, ResourceSpec, ResourceStatus,
};
use stackdock_runtime::blueprint::Blueprint;
use stackdock_runtime::events::RunEventKind;
use stackdock_runtime::model::{AuditEntry, AuditOutcome, AuditQuery, Operation, RunStatus};
use stackdock_runtime::store::{MemoryStore, Store};
use stackdock_runtime::{ApplyOptions, DeployRequest, Error, Executed, RunRequest, Runtime};

/// A dock with web services (in memory) whose deployments build through
/// `script`: the state the n-th look at a deployment shows (the last one
/// repeats).
#[derive(Debug)]
struct Builds {
    inner: InMemoryAdapter,
    script: Vec<ProvisioningState>,
    deployments: Mutex<BTreeMap<String, (Deployment, usize)>>,
    creates: AtomicUsize,
    deployable: bool,
    /// Looks at a deployment still to answer 503-like (temporary) errors.
    unavailable: AtomicUsize,
}

impl Builds {
    fn new(script: &[ProvisioningState]) -> Arc<Self> {
        Arc::new(Builds {
            inner: InMemoryAdapter::new("web"),
            script: script.to_vec(),
            deployments: Mutex::default(),
            creates: AtomicUsize::new(0),
            deployable: true,
            unavailable: AtomicUsize::new(0),
        })
    }

    /// A dock of web services without deployments (as GridPane's).
    fn without_deployments() -> Arc<Self> {
        Arc::new(Builds {
            deployable: false,
            ..Arc::into_inner(Builds::new(&[])).unwrap()
        })
    }

    fn creates(&self) -> usize {
        self.creates.load(Ordering::SeqCst)
    }

    fn status_of(state: ProvisioningState) -> ResourceStatus {
        match state {
            ProvisioningState::Provisioned => ResourceStatus::Active,
            ProvisioningState::Failed => ResourceStatus::Error,
            _ => ResourceStatus::Provisioning,
        }
    }
}

#[async_trait]
impl DockAdapter for Builds {
    fn provider(&self) -> &ProviderInfo {
        self.inner.provider()
    }

    fn dock_id(&self) -> &str {
        self.inner.dock_id()
    }

    fn capabilities(&self) -> Capabilities {
        let deployments = if self.deployable {
            Operations::NO_UPDATE
        } else {
            Operations::NONE
        };
        self.inner
            .capabilities()
            .with_kind(ResourceKind::Deployment, deployments)
    }

    async fn check_credentials(&self) -> stackdock_core::Result<()> {
        Ok(())
    }

    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> stackdock_core::Result<Observation> {
        if id.kind != ResourceKind::Deployment {
            return self.inner.observe(id, desired).await;
        }
        if self
            .unavailable
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(stackdock_core::Error::new(ErrorKind::Unavailable).with_message("busy"));
        }
        let mut deployments = self.deployments.lock().unwrap();
        let Some((deployment, looks)) = deployments.get_mut(&id.id) else {
            return Ok(Observation::absent());
        };
        let state = self.script[(*looks).min(self.script.len() - 1)];
        *looks += 1;
        deployment.provisioning = state;
        deployment.meta.status = Self::status_of(state);
        Ok(Observation::of(
            Resource::Deployment(deployment.clone()),
            None,
        ))
    }

    async fn create(&self, spec: &ResourceSpec) -> stackdock_core::Result<Created> {
        let ResourceSpec::Deployment(s) = spec else {
            return self.inner.create(spec).await;
        };
        let n = self.creates.fetch_add(1, Ordering::SeqCst) + 1;
        let id = format!("dpl_{n}");
        let mut meta = ResourceMeta::new("memory", "web", ResourceKind::Deployment, &id, &id);
        meta.status = ResourceStatus::Provisioning;
        let deployment = Deployment {
            meta,
            service_id: s.service.clone(),
            url: Some(format!("https://{id}.example")),
            environment: s.environment.clone(),
            git_ref: s.git_ref.clone(),
            commit_sha: None,
            provisioning: ProvisioningState::Provisioning,
        };
        self.deployments
            .lock()
            .unwrap()
            .insert(id, (deployment.clone(), 0));
        Ok(Created::new(Resource::Deployment(deployment)))
    }

    async fn list(
        &self,
        kind: ResourceKind,
        options: &stackdock_core::ListOptions,
    ) -> stackdock_core::Result<stackdock_core::Page<Resource>> {
        self.inner.list(kind, options).await
    }

    async fn update(
        &self,
        id: &ResourceId,
        spec: &ResourceSpec,
    ) -> stackdock_core::Result<Resource> {
        self.inner.update(id, spec).await
    }

    async fn delete(&self, id: &ResourceId) -> stackdock_core::Result<()> {
        self.inner.delete(id).await
    }
}

struct Fx {
    store: Arc<dyn Store>,
    runtime: Runtime,
    builds: Arc<Builds>,
}

const TENANT: &str = r#"
    scope = "acme"
    [steps.site]
    dock = "web"
    spec = { kind = "web_service", name = "acme-site" }
    [steps.zone]
    dock = "web"
    spec = { kind = "dns_zone", name = "acme.example" }
"#;

async fn applied(builds: Arc<Builds>) -> Fx {
    applied_with(builds, true).await
}

/// `retried`: behind the standard layers (the dock's own retries), else
/// behind the checks only, so every error reaches the runtime.
async fn applied_with(builds: Arc<Builds>, retried: bool) -> Fx {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mut docks = DockRegistry::new();
    if retried {
        docks.insert(builds.clone()).unwrap();
    } else {
        let checked = stackdock_core::layer::Checked::new(builds.clone() as Arc<dyn DockAdapter>);
        docks.insert_layered(Arc::new(checked)).unwrap();
    }
    let runtime = Runtime::new(store.clone(), docks)
        .with_deploy_poll(Duration::from_millis(1), Duration::from_millis(4));
    let blueprint = Blueprint::from_toml(TENANT).unwrap();
    let report = runtime
        .apply(&blueprint, "alice", ApplyOptions::rollback())
        .await
        .unwrap();
    assert!(report.succeeded(), "{:?}", report.failure);
    Fx {
        store,
        runtime,
        builds,
    }
}

use ProvisioningState::{Failed, Provisioned, Provisioning};

#[tokio::test]
async fn a_deploy_follows_the_build_to_ready_and_leaves_the_steps_alone() {
    let fx = applied(Builds::new(&[Provisioning, Provisioning, Provisioned])).await;
    let steps_before = fx.store.list_steps("acme").await.unwrap();
    let mut events = fx.runtime.subscribe();

    let report = fx
        .runtime
        .deploy(
            "acme",
            "default",
            "alice",
            &DeployRequest::new("site").git_ref("main"),
        )
        .await
        .unwrap();

    assert!(report.succeeded(), "{:?}", report.failure);
    assert_eq!(report.run.operation, Operation::Deploy);
    assert_eq!(report.run.reason.as_deref(), Some("ready"));
    assert!(
        report
            .run
            .message
            .as_deref()
            .unwrap()
            .contains("https://dpl_1.example"),
        "{:?}",
        report.run.message
    );
    let deployment = report.deployment.unwrap();
    assert_eq!(deployment.provisioning, Provisioned);
    assert_eq!(deployment.git_ref.as_deref(), Some("main"));
    assert_eq!(fx.builds.creates(), 1);

    // The deployment was created for the service the step recorded.
    let site = steps_before.iter().find(|s| s.step == "site").unwrap();
    assert_eq!(deployment.service_id, site.resource_id().unwrap().id);

    // Progress: created (building), then ready — one event per change.
    let mut states = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let RunEventKind::Deployment { state, .. } = event.kind {
            states.push(state);
        }
    }
    assert_eq!(states, [Provisioning, Provisioned]);

    // No step touched: the next apply has nothing to do, nothing to prune.
    assert_eq!(fx.store.list_steps("acme").await.unwrap(), steps_before);
    let plan = fx
        .runtime
        .plan(&Blueprint::from_toml(TENANT).unwrap())
        .await
        .unwrap();
    assert_eq!(plan.mutations(), 0, "{plan}");

    // Audited: the id the moment it was known, then how it ended.
    let audit = fx
        .store
        .list_audit(&AuditQuery {
            run_id: Some(report.run.id.clone()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let deploys: Vec<(&str, AuditOutcome, Option<&str>)> = audit
        .iter()
        .filter(|e| e.operation == "deploy")
        .map(|e| {
            (
                e.resource.as_deref().unwrap(),
                e.outcome,
                e.reason.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        deploys,
        [
            ("deployment:dpl_1", AuditOutcome::Succeeded, Some("created")),
            ("deployment:dpl_1", AuditOutcome::Succeeded, Some("ready")),
        ]
    );
}

#[tokio::test]
async fn a_build_that_errors_fails_the_run_with_build_failed() {
    let fx = applied(Builds::new(&[Provisioning, Failed])).await;
    let report = fx
        .runtime
        .deploy("acme", "default", "alice", &DeployRequest::new("site"))
        .await
        .unwrap();
    assert_eq!(report.run.status, RunStatus::Failed);
    assert_eq!(report.run.reason.as_deref(), Some("deploy_failed"));
    let failure = report.failure.unwrap();
    assert_eq!(
        (failure.step.as_str(), failure.code.as_str()),
        ("site", "build_failed")
    );
    assert!(failure.message.contains("dpl_1"), "{}", failure.message);
    assert!(fx.store.active_run("acme").await.unwrap().is_none());
}

#[tokio::test]
async fn a_dock_without_deployments_is_unsupported_before_any_run() {
    let fx = applied(Builds::without_deployments()).await;
    let runs_before = fx.store.list_runs("acme").await.unwrap().len();
    let err = fx
        .runtime
        .deploy("acme", "default", "alice", &DeployRequest::new("site"))
        .await
        .unwrap_err();
    let Error::Dock(core) = &err else {
        panic!("{err:?}");
    };
    assert!(
        matches!(core.kind(), ErrorKind::Unsupported { .. }),
        "{core:?}"
    );
    assert_eq!(fx.store.list_runs("acme").await.unwrap().len(), runs_before);
}

#[tokio::test]
async fn only_a_recorded_provisioned_web_service_is_deployed() {
    let fx = applied(Builds::new(&[Provisioned])).await;
    for (service, says) in [
        ("nope", "its web services: site"),
        ("zone", "not a web service"),
    ] {
        let err = fx
            .runtime
            .deploy("acme", "default", "alice", &DeployRequest::new(service))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidRequest(m) if m.contains(says)),
            "{service}: {err:?}"
        );
    }
    // A redeploy takes no git ref; another org's tenant does not exist.
    let both = DeployRequest::new("site")
        .git_ref("main")
        .redeploy_of("dpl_x");
    let err = fx
        .runtime
        .deploy("acme", "default", "alice", &both)
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Dock(e) if matches!(e.kind(), ErrorKind::InvalidInput { .. })));
    let err = fx
        .runtime
        .deploy("acme", "other-org", "mallory", &DeployRequest::new("site"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(fx.builds.creates(), 0);
}

#[tokio::test]
async fn a_deploy_is_a_run_like_any_other_busy_and_joined() {
    let fx = applied(Builds::new(&[Provisioned])).await;
    let apply = fx
        .store
        .start_run("acme", Operation::Apply, "bob")
        .await
        .unwrap();
    let err = fx
        .runtime
        .deploy("acme", "default", "alice", &DeployRequest::new("site"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ScopeBusy { .. }), "{err:?}");
    fx.store
        .finish_run(&apply.run().id, RunStatus::Succeeded, None, None)
        .await
        .unwrap();

    let active = fx
        .store
        .start_run("acme", Operation::Deploy, "bob")
        .await
        .unwrap();
    let joined = fx
        .runtime
        .deploy("acme", "default", "alice", &DeployRequest::new("site"))
        .await
        .unwrap();
    assert!(joined.joined);
    assert_eq!(joined.run.id, active.run().id);
    assert_eq!(fx.builds.creates(), 0);
}

/// A deploy run claimed again after its worker died: the deployment its
/// first attempt audited is followed, never a second one created; without
/// an audited id it refuses to create blindly.
#[tokio::test]
async fn a_resumed_deploy_follows_what_was_created_or_refuses_to_guess() {
    let fx = applied(Builds::new(&[Provisioning, Provisioned])).await;
    let request = RunRequest::deploy("acme", "default", "alice", DeployRequest::new("site"));
    let json = serde_json::to_value(&request).unwrap();
    let resumed = |fx: &Fx| {
        let store = fx.store.clone();
        let json = json.clone();
        async move {
            store
                .submit_run("acme", Operation::Deploy, "alice", &json)
                .await
                .unwrap();
            let first = store
                .claim_run("w1", Duration::from_secs(60))
                .await
                .unwrap()
                .unwrap();
            assert!(store.release_run(&first.lease).await.unwrap());
            let again = store
                .claim_run("w2", Duration::from_secs(60))
                .await
                .unwrap()
                .unwrap();
            assert!(again.is_resumed());
            again
        }
    };

    // No id recorded: unknown whether a deployment was started.
    let claimed = resumed(&fx).await;
    let stored: RunRequest = serde_json::from_value(claimed.request.clone()).unwrap();
    let Executed::Deploy(report) = fx.runtime.execute(&claimed.run, &stored).await.unwrap() else {
        panic!("a deploy reports a deploy");
    };
    assert_eq!(report.run.status, RunStatus::Failed);
    assert_eq!(report.failure.unwrap().code, "outcome_unknown");
    assert_eq!(fx.builds.creates(), 0);

    // The first attempt created dpl_1 and audited it, then died.
    let site = fx.store.get_step("acme", "site").await.unwrap().unwrap();
    let spec = ResourceSpec::Deployment(stackdock_core::spec::DeploymentSpec {
        service: site.resource_id().unwrap().id.clone(),
        ..Default::default()
    });
    fx.builds.create(&spec).await.unwrap();
    let claimed = resumed(&fx).await;
    let mut entry = AuditEntry::new("alice", "deploy", AuditOutcome::Succeeded);
    entry.scope = Some("acme".into());
    entry.resource = Some("deployment:dpl_1".into());
    entry.reason = Some("created".into());
    entry.run_id = Some(claimed.run.id.clone());
    fx.store.append_audit(&entry).await.unwrap();
    let Executed::Deploy(report) = fx.runtime.execute(&claimed.run, &stored).await.unwrap() else {
        panic!("a deploy reports a deploy");
    };
    assert!(report.succeeded(), "{:?}", report.failure);
    assert_eq!(
        report
            .deployment
            .unwrap()
            .meta
            .reference
            .provider_resource_id,
        "dpl_1"
    );
    assert_eq!(fx.builds.creates(), 1, "no second deployment");
}

#[tokio::test]
async fn a_cancelled_deploy_stops_following_and_keeps_the_deployment() {
    // Builds forever.
    let fx = applied(Builds::new(&[Provisioning])).await;
    let mut events = fx.runtime.subscribe();
    let runtime = fx.runtime.clone();
    let deploy = tokio::spawn(async move {
        runtime
            .deploy("acme", "default", "alice", &DeployRequest::new("site"))
            .await
    });
    // Cancel once the deployment exists.
    let run_id = loop {
        let event = events.recv().await.unwrap();
        if matches!(event.kind, RunEventKind::Deployment { .. }) {
            break event.run_id;
        }
    };
    fx.runtime.cancel(&run_id, "alice").await.unwrap();
    let report = deploy.await.unwrap().unwrap();
    assert_eq!(report.run.status, RunStatus::Cancelled);
    assert_eq!(fx.builds.creates(), 1);
    assert!(fx.store.active_run("acme").await.unwrap().is_none());
}

#[tokio::test]
async fn temporary_observe_failures_are_ridden_out_until_five_in_a_row() {
    let fx = applied_with(Builds::new(&[Provisioning, Provisioned]), false).await;
    fx.builds.unavailable.store(4, Ordering::SeqCst);
    let report = fx
        .runtime
        .deploy("acme", "default", "alice", &DeployRequest::new("site"))
        .await
        .unwrap();
    assert!(report.succeeded(), "{:?}", report.failure);
    assert_eq!(fx.builds.creates(), 1);

    // Five in a row: the deploy gives up, naming the deployment.
    fx.builds.unavailable.store(5, Ordering::SeqCst);
    let report = fx
        .runtime
        .deploy("acme", "default", "alice", &DeployRequest::new("site"))
        .await
        .unwrap();
    assert_eq!(report.run.status, RunStatus::Failed);
    assert_eq!(
        fx.builds.unavailable.load(Ordering::SeqCst),
        0,
        "five looks"
    );
    let failure = report.failure.unwrap();
    assert_eq!(failure.code, "unavailable");
    assert!(
        failure.message.contains("dpl_2 could not be observed"),
        "{}",
        failure.message
    );
}
