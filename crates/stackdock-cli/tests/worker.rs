//! `apply --detach` queues; `stackdock worker` processes claim and execute —
//! on the SQLite state directory, and two workers on one PostgreSQL store.

mod common;

use std::process::{Child, Command};

use common::{last_json, Sd};

fn blueprint(sd: &Sd, tenant: &str) -> String {
    sd.file(
        &format!("{tenant}.toml"),
        &format!(
            "scope = \"{tenant}\"\n\
             [steps.zone]\ndock = \"files\"\nspec = {{ kind = \"dns_zone\", name = \"{tenant}.example\" }}\n\
             [steps.shop]\ndock = \"files\"\nspec = {{ kind = \"dns_record\", zone = \"${{zone.name}}\", name = \"shop\", data = {{ type = \"A\", address = \"192.0.2.7\" }} }}\n"
        ),
    )
    .display()
    .to_string()
}

fn worker(sd: &Sd, id: &str) -> Child {
    sd.spawn(&[
        "-o", "json", "worker", "--lease", "3", "--drain", "5", "--id", id,
    ])
}

/// SIGTERM (a supervisor's stop) and the worker's closing report.
fn stop(child: Child) -> serde_json::Value {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    last_json(&String::from_utf8_lossy(&out.stdout))["worker"].clone()
}

fn wait_finished(sd: &Sd, run: &str) -> serde_json::Value {
    for _ in 0..600 {
        let shown = sd.json(&["run", "show", run]);
        if !matches!(shown["run"]["status"].as_str(), Some("queued" | "running")) {
            return shown;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("run {run} did not finish");
}

#[test]
fn a_detached_apply_is_queued_once_and_a_worker_executes_it() {
    let sd = Sd::init();
    sd.add_zone_dock();
    let file = blueprint(&sd, "acme");
    let queued = sd.json(&["apply", "-f", &file, "--detach"]);
    assert_eq!(queued["run"]["status"], "queued");
    assert_eq!(queued["joined"], false);
    let id = queued["run"]["id"].as_str().unwrap().to_owned();
    let again = sd.json(&["apply", "-f", &file, "--detach"]);
    assert_eq!(
        (again["run"]["id"].as_str(), &again["joined"]),
        (Some(id.as_str()), &serde_json::json!(true))
    );
    // Queued, visible, and holding the tenant: a destroy is busy.
    assert_eq!(sd.json(&["runs"])["runs"][0]["status"], "queued");
    sd.fails(3, &["destroy", "acme", "--yes"]);
    let w = worker(&sd, "w1");
    let shown = wait_finished(&sd, &id);
    assert_eq!(shown["run"]["status"], "succeeded", "{shown}");
    let report = stop(w);
    assert_eq!(
        (report["claimed"].as_u64(), report["succeeded"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let status = sd.json(&["status", "acme"]);
    assert!(
        status["status"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "provisioned"),
        "{status}"
    );
}

#[test]
fn two_workers_on_one_postgresql_store_execute_each_run_once() {
    let url = std::env::var("STACKDOCK_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let schema = format!("sdcli_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let _cleanup = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let sd = Sd::new();
    let home = sd.dir.path().join("home").display().to_string();
    let sd = sd
        .with_env("STACKDOCK_STORE", url.clone())
        .with_env("STACKDOCK_STORE_SCHEMA", schema.clone())
        .with_env("STACKDOCK_HOME", home);
    sd.json(&["init"]);
    sd.add_zone_dock();
    let tenants: Vec<String> = (0..4).map(|i| format!("t{i}")).collect();
    let mut ids = Vec::new();
    for t in &tenants {
        let file = blueprint(&sd, t);
        ids.push(
            sd.json(&["apply", "-f", &file, "--detach"])["run"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let workers = [worker(&sd, "pg-w1"), worker(&sd, "pg-w2")];
    for id in &ids {
        for _ in 0..600 {
            let shown = sd.json(&["run", "show", id]);
            if shown["run"]["status"] == "succeeded" {
                break;
            }
            assert!(
                matches!(shown["run"]["status"].as_str(), Some("queued" | "running")),
                "{shown}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let [a, b] = workers;
    let (a, b) = (stop(a), stop(b));
    assert_eq!(
        a["claimed"].as_u64().unwrap() + b["claimed"].as_u64().unwrap(),
        4,
        "{a} {b}"
    );
    // Each resource created exactly once, whoever executed it.
    for t in &tenants {
        let audit = sd.json(&["audit", "--scope", t]);
        let creates = audit["audit"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["operation"] == "create")
            .count();
        assert_eq!(creates, 2, "{t}: {audit}");
    }
}

/// Drops the test's store schema when the test ends, passed or not.
struct DropSchema {
    url: String,
    schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("PostgreSQL for the store test");
            tokio::spawn(conn);
            client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .await
                .unwrap();
        });
    }
}
