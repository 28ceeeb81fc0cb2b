//! Provision and delete N tenant databases with the crate, and the same SQL
//! through `psql` in the same run; print per-tenant times and the ratios.
//!
//! ```text
//! cargo bench -p stackdock-postgres --bench provision
//! STACKDOCK_BENCH_N=20 STACKDOCK_BENCH_CONCURRENCY=8 cargo bench -p stackdock-postgres --bench provision
//! ```
//!
//! Server: `STACKDOCK_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! Both sides hash the password client-side (SCRAM) inside the timed loop and
//! run the same statements; psql is one process per tenant, as a provisioning
//! shell script would run it. Everything made is removed at the end.
#![allow(clippy::print_stdout, missing_docs)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use rand::distributions::{Alphanumeric, DistString};
use stackdock_core::spec::DatabaseSpec;
use stackdock_core::{DockAdapter, ResourceId, ResourceKind, ResourceSpec};
use stackdock_postgres::sql::{quote_ident, quote_literal};
use stackdock_postgres::{scram, PostgresAdapter, PostgresConfig};

fn admin_url() -> String {
    std::env::var("STACKDOCK_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

fn spec(name: &str) -> ResourceSpec {
    ResourceSpec::from(DatabaseSpec {
        name: name.into(),
        ..Default::default()
    })
}

fn id(name: &str) -> ResourceId {
    ResourceId::new(ResourceKind::Database, name)
}

/// Run `script` through one `psql` process (each statement is sent on its own,
/// so CREATE DATABASE runs outside a transaction as it must).
fn psql(script: &str) {
    let mut child = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &admin_url()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("psql runs (apt-get install postgresql-client)");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(script.as_bytes())
        .expect("write to psql");
    let status = child.wait().expect("psql finishes");
    assert!(status.success(), "psql failed");
}

/// The statements the crate runs to provision `name` (marker comments included).
fn psql_create_script(name: &str) -> String {
    let password = Alphanumeric.sample_string(&mut rand::rngs::OsRng, 32);
    let verifier = quote_literal(&scram::hash_password(&password).unwrap()).unwrap();
    let q = quote_ident(name).unwrap();
    let marker = |object: &str, state: &str| {
        quote_literal(&format!(
            r#"{{"managed_by":"stackdock","v":1,"object":"{object}","state":"{state}","database":"{name}","role":"{name}"}}"#
        ))
        .unwrap()
    };
    format!(
        "CREATE ROLE {q} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT -1 PASSWORD {verifier};\n\
         COMMENT ON ROLE {q} IS {};\n\
         CREATE DATABASE {q} WITH OWNER {q} TEMPLATE template0 CONNECTION LIMIT -1;\n\
         REVOKE ALL PRIVILEGES ON DATABASE {q} FROM PUBLIC;\n\
         GRANT ALL PRIVILEGES ON DATABASE {q} TO {q};\n\
         COMMENT ON ROLE {q} IS {};\n\
         COMMENT ON DATABASE {q} IS {};\n",
        marker("role", "provisioning"),
        marker("role", "ready"),
        marker("database", "ready"),
    )
}

fn psql_delete_script(name: &str) -> String {
    let q = quote_ident(name).unwrap();
    format!(
        "DROP DATABASE IF EXISTS {q} WITH (FORCE);\n\
         REASSIGN OWNED BY {q} TO CURRENT_USER;\nDROP OWNED BY {q};\nDROP ROLE {q};\n"
    )
}

struct Timing {
    create: Duration,
    delete: Duration,
}

async fn crate_run(adapter: &Arc<PostgresAdapter>, names: &[String], concurrency: usize) -> Timing {
    let start = Instant::now();
    let results: Vec<_> = stream::iter(names.iter().map(|n| {
        let adapter = adapter.clone();
        let spec = spec(n);
        async move { adapter.create(&spec).await }
    }))
    .buffer_unordered(concurrency)
    .collect()
    .await;
    let create = start.elapsed();
    for r in results {
        r.expect("crate create");
    }
    psql("CHECKPOINT;"); // as in the sequential run: deletes start clean
    let start = Instant::now();
    let results: Vec<_> = stream::iter(names.iter().map(|n| {
        let adapter = adapter.clone();
        let id = id(n);
        async move { adapter.delete(&id).await }
    }))
    .buffer_unordered(concurrency)
    .collect()
    .await;
    let delete = start.elapsed();
    for r in results {
        r.expect("crate delete");
    }
    Timing { create, delete }
}

fn timed<T>(f: impl FnOnce() -> T) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn per(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1000.0 / n as f64
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --benches` / clippy builds: nothing to measure
    }
    let n = env_usize("STACKDOCK_BENCH_N", 50);
    let concurrency = env_usize("STACKDOCK_BENCH_CONCURRENCY", 4);
    let prefix = format!(
        "sdb_{}_",
        Alphanumeric
            .sample_string(&mut rand::thread_rng(), 6)
            .to_ascii_lowercase()
    );
    let names =
        |tag: &str| -> Vec<String> { (0..n).map(|i| format!("{prefix}{tag}_{i:03}")).collect() };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = PostgresConfig::from_url(&admin_url())
        .expect("admin URL")
        .with_max_connections(concurrency.max(1));
    let adapter = Arc::new(PostgresAdapter::new("bench", config).expect("adapter"));

    println!(
        "stackdock-postgres provision bench: N={n}, server {}",
        stackdock_core::secret::redact_url(&admin_url())
    );
    // Warm up both paths (connections, prepared statements, page cache).
    let warm: Vec<String> = (0..2).map(|i| format!("{prefix}warm_{i}")).collect();
    rt.block_on(crate_run(&adapter, &warm, 1));
    for w in &warm {
        psql(&psql_create_script(&format!("{w}p")));
        psql(&psql_delete_script(&format!("{w}p")));
    }

    // Sequential: one tenant at a time, the crate and psql alternating which
    // goes first, so both see the same server and disk conditions. DROP
    // DATABASE makes the server checkpoint, which costs whatever is dirty:
    // start the delete phase from a clean checkpoint (untimed).
    let crate_names = names("crate");
    let psql_names = names("psql");
    let mut crate_seq = Timing {
        create: Duration::ZERO,
        delete: Duration::ZERO,
    };
    let mut psql_seq = Timing {
        create: Duration::ZERO,
        delete: Duration::ZERO,
    };
    for i in 0..n {
        let by_crate = || {
            rt.block_on(adapter.create(&spec(&crate_names[i])))
                .expect("crate create");
        };
        let by_psql = || psql(&psql_create_script(&psql_names[i]));
        if i % 2 == 0 {
            crate_seq.create += timed(by_crate);
            psql_seq.create += timed(by_psql);
        } else {
            psql_seq.create += timed(by_psql);
            crate_seq.create += timed(by_crate);
        }
    }
    psql("CHECKPOINT;");
    for i in 0..n {
        let by_crate = || {
            rt.block_on(adapter.delete(&id(&crate_names[i])))
                .expect("crate delete");
        };
        let by_psql = || psql(&psql_delete_script(&psql_names[i]));
        if i % 2 == 0 {
            crate_seq.delete += timed(by_crate);
            psql_seq.delete += timed(by_psql);
        } else {
            psql_seq.delete += timed(by_psql);
            crate_seq.delete += timed(by_crate);
        }
    }
    psql("CHECKPOINT;");
    let par = rt.block_on(crate_run(&adapter, &names("par"), concurrency));

    let row = |label: &str, t: &Timing| {
        println!(
            "{label:<28} create {:>8.2} ms/tenant   delete {:>8.2} ms/tenant",
            per(t.create, n),
            per(t.delete, n)
        )
    };
    row("psql (sequential)", &psql_seq);
    row("crate (sequential)", &crate_seq);
    row(&format!("crate (concurrency {concurrency})"), &par);
    println!(
        "ratio crate/psql sequential: create {:.2}x, delete {:.2}x (target <= 1.10x)",
        crate_seq.create.as_secs_f64() / psql_seq.create.as_secs_f64(),
        crate_seq.delete.as_secs_f64() / psql_seq.delete.as_secs_f64()
    );
    println!(
        "speed-up of concurrency {concurrency} over sequential crate: create {:.2}x, delete {:.2}x",
        crate_seq.create.as_secs_f64() / par.create.as_secs_f64(),
        crate_seq.delete.as_secs_f64() / par.delete.as_secs_f64()
    );
    println!("SQL texts sent by the crate: {}", adapter.sql_sent());
    let left = Command::new("psql")
        .args(["-X", "-At", "-d", &admin_url(), "-c"])
        .arg(format!(
            "SELECT count(*) FROM (SELECT datname::text n FROM pg_database UNION ALL SELECT rolname::text FROM pg_roles) x WHERE starts_with(n, '{prefix}')"
        ))
        .output()
        .expect("psql runs");
    let left = String::from_utf8_lossy(&left.stdout).trim().to_owned();
    assert_eq!(left, "0", "the benchmark left databases or roles behind");
}
