//! `stackdock deploy` through the real binary, against stackdock-vercel's
//! wiremock fake of Vercel's API (bodies built from its fixture files,
//! shaped like Vercel's): a build that goes QUEUED -> BUILDING -> READY, one
//! that ends in ERROR, and a dock without deployments (GridPane).

mod common;
#[path = "../../stackdock-vercel/tests/common/mod.rs"]
mod vercel;

use common::{last_json, Sd};
use serde_json::Value;
use stackdock_core::{ProvisioningRecord, ProvisioningSource, ProvisioningState, ResourceId};
use stackdock_runtime::model::StepState;
use stackdock_runtime::store::{SqliteStore, Store};
use vercel::{FakeVercel, TEAM, TOKEN};
use wiremock::MockServer;

const BLUEPRINT: &str = r#"
scope = "agency"

[steps.site]
dock = "vc"
spec = { kind = "web_service", name = "agency-site", framework = "nextjs", repository = "acme/agency-site" }
"#;

/// `init`, a Vercel dock on `server`, the tenant applied.
fn applied(server: &MockServer) -> Sd {
    let sd = Sd::init();
    let out = sd
        .cmd()
        .env("VERCEL_TEST_TOKEN", TOKEN)
        .args([
            "dock",
            "add",
            "vc",
            "--provider",
            "vercel",
            "--set",
            &format!("base_url={}", server.uri()),
            "--set",
            &format!("team.id={TEAM}"),
            "--secret",
            "token=env:VERCEL_TEST_TOKEN",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let file = sd.file("agency.toml", BLUEPRINT);
    sd.ok(&["apply", "-f", file.to_str().unwrap()]);
    sd
}

/// How many times the server was asked for one deployment.
async fn looks_at_deployments(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "GET" && r.url.path().starts_with("/v13/deployments/"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_follows_a_vercel_build_to_ready_and_records_a_run() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let sd = applied(&server);
    let status_before = sd.json(&["status", "agency"]);

    // Piped: one plain line per change.
    let out = sd.ok(&[
        "deploy",
        "agency",
        "site",
        "--ref",
        "main",
        "--target",
        "production",
    ]);
    assert!(out.contains("deploy agency"), "{out}");
    assert!(
        out.lines().any(|l| l.contains("site")
            && l.contains("deployment dpl_fake")
            && l.contains("building")),
        "{out}"
    );
    let ready = out
        .lines()
        .find(|l| l.contains("deployment dpl_fake") && l.contains(" ready https://"))
        .unwrap_or_else(|| panic!("no ready line: {out}"));
    assert!(ready.contains(".vercel.app"), "{ready}");
    assert!(out.contains("deploy agency site: succeeded"), "{out}");
    // QUEUED, BUILDING, READY: looked at three times, one create.
    assert_eq!(looks_at_deployments(&server).await, 3);
    let creates: Vec<Value> = vercel::bodies(&server)
        .await
        .into_iter()
        .filter(|(call, _)| call == "POST /v13/deployments")
        .map(|(_, body)| body)
        .collect();
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0]["target"], "production");
    assert_eq!(creates[0]["gitSource"]["ref"], "main");

    // With -o json: JSON events, then the report.
    let text = sd.ok(&["-o", "json", "deploy", "agency", "site"]);
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let states: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"]["event"] == "deployment")
        .map(|e| e["kind"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["provisioning", "provisioned"], "{text}");
    let report = last_json(&text);
    assert_eq!(report["run"]["operation"], "deploy");
    assert_eq!(report["run"]["status"], "succeeded");
    assert_eq!(
        report["report"]["deployment"]["provisioning"],
        "provisioned"
    );

    // A run like any other, audited; the tenant's steps untouched.
    let runs = sd.json(&["runs", "--scope", "agency"]);
    let deploys = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["operation"] == "deploy" && r["status"] == "succeeded")
        .count();
    assert_eq!(deploys, 2, "{runs}");
    let audit = sd.ok(&["-o", "json", "audit", "--scope", "agency"]);
    assert!(audit.contains("deployment:dpl_fake"), "{audit}");
    assert_eq!(
        sd.json(&["status", "agency"])["status"]["steps"],
        status_before["status"]["steps"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_build_is_exit_1_with_one_actionable_line() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let sd = applied(&server);
    fake.fail_builds();

    let err = sd.fails(1, &["deploy", "agency", "site"]);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("deploy agency site"), "{err}");
    assert!(err.contains("failed at the provider"), "{err}");
    assert!(err.contains("build logs"), "{err}");
    assert!(err.contains("stackdock run show"), "{err}");
    assert!(!err.contains(TOKEN));
    assert_eq!(looks_at_deployments(&server).await, 3);

    // A step that is not a web service, or none, is usage with no call.
    let before = fake.calls();
    let err = sd.fails(2, &["deploy", "agency", "www"]);
    assert!(err.contains("its web services: site"), "{err}");
    assert_eq!(fake.calls(), before);
}

/// GridPane has no deployments: its capabilities say so, and the command
/// says so in one line, with no call (the dock points at nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dock_without_deployments_says_so_in_one_line() {
    let sd = Sd::init();
    let out = sd
        .cmd()
        .env("GP_TOKEN", "gridpane-test-token-0123456789")
        .args([
            "dock",
            "add",
            "gp",
            "--provider",
            "gridpane",
            "--set",
            "base_url=http://127.0.0.1:9/oauth/api/v1",
            "--secret",
            "token=env:GP_TOKEN",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // The tenant's site as an apply on GridPane would have recorded it.
    let store = SqliteStore::open(&sd.state()).await.unwrap();
    store.claim_scope("shop", "default").await.unwrap();
    let mut step = StepState::new("shop", "site", "gp");
    step.spec = serde_json::json!({"kind": "web_service", "name": "shop.example"});
    step.record = ProvisioningRecord::new(ProvisioningSource::Api);
    step.record.state = ProvisioningState::Provisioned;
    step.record.resource_id = Some(ResourceId::new(
        stackdock_core::ResourceKind::WebService,
        "42",
    ));
    store.put_step(&step, None).await.unwrap();

    let err = sd.fails(1, &["deploy", "shop", "site"]);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("dock gp (gridpane), which has no deployments"),
        "{err}"
    );
    let runs = sd.json(&["runs", "--scope", "shop"]);
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(0), "{runs}");
}

/// `deploy --detach` queues the run (audited `enqueue`); a `stackdock
/// worker` process claims it and follows the build to ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_deploy_is_executed_by_a_worker() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let sd = applied(&server);
    let queued = sd.json(&["deploy", "agency", "site", "--detach"]);
    assert_eq!(queued["run"]["status"], "queued", "{queued}");
    assert_eq!(queued["run"]["operation"], "deploy");
    let run = queued["run"]["id"].as_str().unwrap().to_owned();
    assert_eq!(looks_at_deployments(&server).await, 0, "nothing built yet");

    let worker = sd.spawn(&["-q", "worker", "--lease", "3", "--drain", "5", "--id", "w1"]);
    let shown = loop {
        let shown = sd.json(&["run", "show", &run]);
        if !matches!(shown["run"]["status"].as_str(), Some("queued" | "running")) {
            break shown;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(worker.wait_with_output().unwrap().status.success());

    assert_eq!(shown["run"]["status"], "succeeded", "{shown}");
    assert_eq!(shown["run"]["reason"], "ready", "{shown}");
    assert_eq!(looks_at_deployments(&server).await, 3);
    let audit = shown["audit"].as_array().unwrap();
    assert!(audit.iter().any(|e| e["operation"] == "enqueue"), "{shown}");
    assert!(
        audit
            .iter()
            .any(|e| e["operation"] == "deploy" && e["reason"] == "ready"),
        "{shown}"
    );
}

/// An `env_var` step on the Vercel dock: planned, set with its value from
/// the environment of the `apply` process, kept (no-op) and never written to
/// the state directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_env_var_step_is_planned_set_and_its_value_never_stored() {
    const API_KEY: &str = "sk-live-7f1c2e9a-never-in-the-state";
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let sd = applied(&server);
    let text = format!(
        "{BLUEPRINT}\n[steps.api_key]\ndock = \"vc\"\nspec = {{ kind = \"env_var\", service = \"${{site.id}}\", key = \"API_KEY\", targets = [\"production\"] }}\nsecrets = {{ value = \"env:STACKDOCK_TEST_API_KEY\" }}\n"
    );
    let file = sd.file("agency-env.toml", &text);
    let file = file.to_str().unwrap();
    insta::assert_snapshot!("env_var_plan_before", sd.ok(&["plan", "-f", file]));

    let out = sd
        .cmd()
        .env("STACKDOCK_TEST_API_KEY", API_KEY)
        .args(["apply", "-f", file])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let status = sd.json(&["status", "agency"]);
    let project = status["status"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "site")
        .unwrap()["resource_id"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(fake.env_values(&project), [API_KEY]);
    insta::assert_snapshot!("env_var_plan_after", sd.ok(&["plan", "-f", file]));
    // `status --refresh` observes the project, and leaves the variable to
    // plan / apply (observe does not know it) instead of reporting an error.
    let refreshed = sd.json(&["status", "agency", "--refresh"]);
    assert!(refreshed["observed"].get("site").is_some(), "{refreshed}");
    assert!(
        refreshed["observed"].get("api_key").is_none(),
        "{refreshed}"
    );
    assert!(!common::contains(&sd.state_bytes(), API_KEY));
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!shown.contains(API_KEY), "{shown}");
}
