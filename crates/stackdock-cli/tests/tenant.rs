//! The `stackdock` binary end to end against real servers: PostgreSQL
//! (`$STACKDOCK_TEST_PG_URL`, started by scripts/test.sh), a throwaway
//! PowerDNS, and the Postfix/Dovecot schema on PostgreSQL.
//!
//! init → dock add → apply (the examples/ hosting tenant) → status (JSON)
//! → out-of-band drift → status --refresh → reconcile → destroy → nothing
//! left on the servers; two applies of one tenant at once (one run, the
//! other follows it), a destroy meanwhile (exit 3), a read-only principal
//! (exit 4, audited).

mod common;
#[path = "../../stackdock-email/tests/support/mod.rs"]
mod mail;

use std::str::FromStr;

use common::{last_json, Sd};
use hickory_proto::rr::RecordType;
use serde_json::Value;
use stackdock_testkit::powerdns as pdns;

/// The hosting tenant example with every `acme` replaced by `tenant`.
fn hosting_blueprint(sd: &Sd, tenant: &str) -> String {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/hosting-tenant.toml"
    );
    let text = std::fs::read_to_string(example)
        .unwrap()
        .replace("acme", tenant);
    sd.file("tenant.toml", &text).display().to_string()
}

/// `dock add` of the three docks on the test servers.
fn add_docks(sd: &Sd, pdns: &pdns::PowerDns, mail_schema: &str) {
    let pg = tokio_postgres::Config::from_str(&mail::pg_url()).unwrap();
    let host = match &pg.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        other => panic!("STACKDOCK_TEST_PG_URL must be a TCP host, not {other:?}"),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = pg.get_user().unwrap_or("postgres").to_owned();
    let mut pg_add = sd.cmd();
    pg_add.args([
        "dock",
        "add",
        "pg",
        "--provider",
        "postgres",
        "--set",
        &format!("host={host}"),
        "--set",
        &format!("port={port}"),
        "--set",
        &format!("user={user}"),
        "--set",
        "tls=disable",
    ]);
    if let Some(pw) = pg.get_password() {
        pg_add.env(
            "SD_TEST_PG_PASSWORD",
            String::from_utf8_lossy(pw).to_string(),
        );
        pg_add.args(["--secret", "password=env:SD_TEST_PG_PASSWORD"]);
    }
    pg_add.assert().success();
    sd.add_powerdns_dock(&pdns.api_url(), pdns::API_KEY, &[]);
    sd.cmd()
        .env("SD_TEST_MAIL_URL", mail::pg_url())
        .args([
            "dock",
            "add",
            "mail",
            "--provider",
            "postfix-dovecot",
            "--set",
            &format!("schema={mail_schema}"),
            "--set",
            "bcrypt_cost=4",
            "--secret",
            "url=env:SD_TEST_MAIL_URL",
        ])
        .assert()
        .success();
    for dock in ["pg", "dns", "mail"] {
        sd.ok(&["dock", "check", dock]);
    }
}

/// The steps of `status -o json`, by name: (state, outcome).
fn steps(status: &Value) -> Vec<(String, String, String)> {
    status["status"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_owned(),
                s["state"].as_str().unwrap().to_owned(),
                s["outcome"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

async fn database_exists(pg: &tokio_postgres::Client, name: &str) -> Option<i32> {
    pg.query_opt(
        "SELECT datconnlimit FROM pg_database WHERE datname = $1",
        &[&name],
    )
    .await
    .unwrap()
    .map(|r| r.get(0))
}

async fn mail_rows(pg: &tokio_postgres::Client, schema: &str, domain: &str) -> i64 {
    let sql = format!(
        "SELECT (SELECT count(*) FROM \"{schema}\".virtual_users WHERE email LIKE '%@' || $1) \
         + (SELECT count(*) FROM \"{schema}\".virtual_aliases WHERE source LIKE '%@' || $1)"
    );
    pg.query_one(&sql, &[&domain]).await.unwrap().get(0)
}

async fn pdns_zone(pdns: &pdns::PowerDns, zone: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .get(format!(
            "{}/api/v1/servers/localhost/zones/{zone}.",
            pdns.api_url()
        ))
        .header("X-API-Key", pdns::API_KEY)
        .send()
        .await
        .unwrap()
        .status()
}

/// Delete one RRset behind StackDock's back.
async fn pdns_delete_rrset(pdns: &pdns::PowerDns, zone: &str, name: &str, rtype: &str) {
    let body =
        serde_json::json!({ "rrsets": [{ "name": name, "type": rtype, "changetype": "DELETE" }] });
    let status = reqwest::Client::new()
        .patch(format!(
            "{}/api/v1/servers/localhost/zones/{zone}.",
            pdns.api_url()
        ))
        .header("X-API-Key", pdns::API_KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hosting_tenant_from_apply_to_nothing_left() {
    let pdns = pdns::PowerDns::start();
    let mail_schema = mail::TestSchema::new();
    mail_schema
        .store(stackdock_email::PasswordScheme::BlfCrypt)
        .await; // migrated
    let pg = mail::raw_client().await;
    let sd = Sd::init();
    add_docks(&sd, &pdns, &mail_schema.name);
    let u = uuid::Uuid::new_v4().simple().to_string();
    let tenant = format!("t{}", &u[..10]);
    let zone = format!("{tenant}.example");
    let database = format!("{tenant}_app");
    let file = hosting_blueprint(&sd, &tenant);

    // The plan: everything to create, nothing called that mutates.
    let plan = sd.json(&["plan", "-f", &file]);
    assert_eq!(plan["mutations"], 6, "{plan}");
    assert_eq!(database_exists(&pg, &database).await, None);

    // A read-only principal is refused before anything happens, and audited.
    sd.ok(&["principal", "add", "ro", "--role", "viewer"]);
    let err = sd.fails(4, &["--as", "ro", "apply", "-f", &file]);
    assert!(err.contains("permission denied"), "{err}");
    assert_eq!(database_exists(&pg, &database).await, None);

    // Apply while the mail tables are locked: the run is held mid-way, so a
    // second apply of the tenant must follow it and a destroy is busy.
    let mut lock_conn = mail::raw_client().await;
    let lock = lock_conn.transaction().await.unwrap();
    lock.batch_execute(&format!(
        "LOCK TABLE \"{s}\".virtual_users, \"{s}\".virtual_aliases IN ACCESS EXCLUSIVE MODE",
        s = mail_schema.name
    ))
    .await
    .unwrap();
    let first = sd.spawn(&["-o", "json", "apply", "-f", &file]);
    let active = wait_for_active_run(&sd, &tenant);
    let second = sd.spawn(&["-o", "json", "apply", "-f", &file]);
    let err = sd.fails(3, &["destroy", &tenant, "--yes"]);
    assert!(err.contains(&active) && err.contains("busy"), "{err}");
    let err = sd.fails(4, &["--as", "ro", "destroy", &tenant, "--yes"]);
    assert!(err.contains("permission denied"), "{err}");
    lock.commit().await.unwrap();
    let (first, second) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    for out in [&first, &second] {
        assert!(
            out.status.success(),
            "stdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (a, b) = (
        last_json(&String::from_utf8_lossy(&first.stdout)),
        last_json(&String::from_utf8_lossy(&second.stdout)),
    );
    assert_eq!(a["run"]["id"], active.as_str());
    assert_eq!(
        b["run"]["id"],
        active.as_str(),
        "the second apply followed the first run"
    );
    assert_eq!(b["joined"], true);
    let runs = sd.json(&["runs", "--scope", &tenant]);
    let applies: Vec<&Value> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["operation"] == "apply")
        .collect();
    assert_eq!(applies.len(), 1, "{runs}");

    // Status from the store, parsed.
    let status = sd.json(&["status", &tenant]);
    let mut expected: Vec<(String, String, String)> =
        ["db", "db_txt", "owner", "sales", "shop", "zone"]
            .iter()
            .map(|s| (s.to_string(), "provisioned".into(), "created".into()))
            .collect();
    expected.sort();
    assert_eq!(steps(&status), expected);
    assert_eq!(database_exists(&pg, &database).await, Some(20));
    assert_eq!(pdns_zone(&pdns, &zone).await, reqwest::StatusCode::OK);
    assert_eq!(
        pdns::ask(pdns.dns_port, &format!("shop.{zone}."), RecordType::A).texts(),
        vec!["192.0.2.10"]
    );
    assert_eq!(mail_rows(&pg, &mail_schema.name, &zone).await, 2);
    // The denials are in the audit log.
    let audit = sd.json(&["audit", "--actor", "ro"]);
    let ops: Vec<&str> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, vec!["apply", "destroy"], "{audit}");

    // Out-of-band drift: a connection limit changed, a record deleted.
    pg.batch_execute(&format!("ALTER DATABASE \"{database}\" CONNECTION LIMIT 3"))
        .await
        .unwrap();
    pdns_delete_rrset(&pdns, &zone, &format!("shop.{zone}."), "A").await;
    let refreshed = sd.json(&["status", &tenant, "--refresh"]);
    assert_eq!(
        refreshed["observed"]["db"]["observed"], "drifted",
        "{refreshed}"
    );
    assert_eq!(
        refreshed["observed"]["shop"]["observed"], "missing",
        "{refreshed}"
    );
    assert_eq!(
        refreshed["observed"]["zone"]["observed"], "up_to_date",
        "{refreshed}"
    );
    sd.ok(&["reconcile", &tenant]);
    assert_eq!(database_exists(&pg, &database).await, Some(20));
    assert_eq!(
        pdns::ask(pdns.dns_port, &format!("shop.{zone}."), RecordType::A).texts(),
        vec!["192.0.2.10"]
    );
    let refreshed = sd.json(&["status", &tenant, "--refresh"]);
    for step in ["db", "db_txt", "owner", "sales", "shop", "zone"] {
        assert_eq!(
            refreshed["observed"][step]["observed"], "up_to_date",
            "{step}: {refreshed}"
        );
    }

    // Destroy: nothing left on any server; a second destroy changes nothing.
    sd.ok(&["destroy", &tenant, "--yes"]);
    assert_eq!(database_exists(&pg, &database).await, None);
    assert_eq!(
        pdns_zone(&pdns, &zone).await,
        reqwest::StatusCode::NOT_FOUND
    );
    assert_eq!(mail_rows(&pg, &mail_schema.name, &zone).await, 0);
    let roles: i64 = pg
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE $1",
            &[&format!("{tenant}%")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(roles, 0, "a role of the tenant is left");
    sd.ok(&["destroy", &tenant, "--yes"]);
    let status = sd.json(&["status", &tenant]);
    assert!(
        steps(&status)
            .iter()
            .all(|(_, state, _)| state == "deprovisioned"),
        "{status}"
    );
    mail_schema.cleanup().await;
}

/// The lines a child writes, as they come.
fn lines_of(out: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Poll `status` until a run holds `tenant`; its id.
fn wait_for_active_run(sd: &Sd, tenant: &str) -> String {
    for _ in 0..600 {
        let out = sd.run(&["-o", "json", "status", tenant]);
        if out.status.success() {
            let status = last_json(&String::from_utf8_lossy(&out.stdout));
            if let Some(id) = status["status"]["active_run"]["id"].as_str() {
                return id.to_owned();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no run became active on {tenant}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_cancelled_from_another_process_stops_and_the_next_apply_finishes() {
    let pdns = pdns::PowerDns::start();
    let mail_schema = mail::TestSchema::new();
    mail_schema
        .store(stackdock_email::PasswordScheme::BlfCrypt)
        .await;
    let pg = mail::raw_client().await;
    let sd = Sd::init();
    add_docks(&sd, &pdns, &mail_schema.name);
    let u = uuid::Uuid::new_v4().simple().to_string();
    let tenant = format!("c{}", &u[..10]);
    let file = sd
        .file(
            "cancel.toml",
            &format!(
                "scope = \"{tenant}\"\n\
                 [steps.owner]\ndock = \"mail\"\nspec = {{ kind = \"mailbox\", address = \"owner@{tenant}.example\" }}\n\
                 secrets = {{ password = \"generate\" }}\n\
                 [steps.db]\ndock = \"pg\"\nneeds = [\"owner\"]\nspec = {{ kind = \"database\", name = \"{tenant}_db\" }}\n"
            ),
        )
        .display()
        .to_string();
    let mut lock_conn = mail::raw_client().await;
    let lock = lock_conn.transaction().await.unwrap();
    lock.batch_execute(&format!(
        "LOCK TABLE \"{s}\".virtual_users IN ACCESS EXCLUSIVE MODE",
        s = mail_schema.name
    ))
    .await
    .unwrap();
    let mut apply = sd.spawn(&["-o", "json", "apply", "-f", &file]);
    let events = lines_of(apply.stdout.take().unwrap());
    let active = wait_for_active_run(&sd, &tenant);
    let cancelled = sd.json(&["run", "cancel", &active]);
    assert_eq!(cancelled["run"]["cancel_requested"], true, "{cancelled}");
    // The executing process notices (it polls the store) and says so.
    let seen: Vec<String> = events
        .iter()
        .take_while(|l| !l.contains("\"cancelling\""))
        .collect();
    assert!(!seen.iter().any(|l| l.contains("run_finished")), "{seen:?}");
    lock.commit().await.unwrap();
    let rest: Vec<String> = events.iter().collect();
    let out = apply.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stderr}\nseen {seen:#?}\nrest {rest:#?}"
    );
    assert!(stderr.contains("cancelled"), "{stderr}");
    // With -o json: the events, the report, then the error.
    let report = last_json(
        rest.iter()
            .rev()
            .find(|l| l.contains("\"report\""))
            .unwrap(),
    );
    assert_eq!(report["run"]["status"], "cancelled", "{rest:?}");
    assert_eq!(last_json(rest.last().unwrap())["error"]["exit"], 1);
    // Nothing new started after the cancel: the database was never asked for.
    assert_eq!(database_exists(&pg, &format!("{tenant}_db")).await, None);
    let run = sd.json(&["run", "show", &active]);
    assert_eq!(run["run"]["status"], "cancelled", "{run}");
    // The next apply finishes the job; destroy leaves nothing.
    sd.ok(&["apply", "-f", &file]);
    assert!(database_exists(&pg, &format!("{tenant}_db"))
        .await
        .is_some());
    sd.ok(&["destroy", &tenant, "--yes"]);
    assert_eq!(database_exists(&pg, &format!("{tenant}_db")).await, None);
    assert_eq!(
        mail_rows(&pg, &mail_schema.name, &format!("{tenant}.example")).await,
        0
    );
    // The dock secrets never reached the state in clear.
    assert!(!common::contains(&sd.state_bytes(), pdns::API_KEY));
    mail_schema.cleanup().await;
}
