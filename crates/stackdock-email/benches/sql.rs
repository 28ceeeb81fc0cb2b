//! `MailStore` against the same statements sent with raw tokio-postgres, in one run.
//!
//! `cargo bench -p stackdock-email --bench sql` (PostgreSQL on 127.0.0.1:5432
//! or `STACKDOCK_TEST_PG_URL`). Returns at once unless run with `--bench`.
#![allow(missing_docs, clippy::print_stdout)]

use std::time::{Duration, Instant};

use stackdock_core::secret::SecretString;
use stackdock_email::model::{NewMailbox, Scope};
use stackdock_email::sql::{MailStore, SqlConfig};
use stackdock_email::{PasswordHasher, PasswordScheme};

const LOOKUPS: usize = 2000;
const CREATES: usize = 200;

fn report(name: &str, n: usize, ours: Duration, raw: Duration) {
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!(
        "{name:<28} stackdock {:>8.1} µs/op   raw tokio-postgres {:>8.1} µs/op   ratio {:.2}",
        per(ours),
        per(raw),
        ours.as_secs_f64() / raw.as_secs_f64()
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let url = std::env::var("STACKDOCK_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let schema = format!("sdmail_bench_{}", std::process::id());
    let store = MailStore::connect(
        &SqlConfig::new(url.clone())
            .with_schema(&schema)
            .with_bcrypt_cost(4)
            .with_max_connections(1),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let (raw, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let all = Scope::All;
    let mailbox = |address: String| NewMailbox {
        address,
        password: SecretString::from("Bench-Password-1"),
        quota_bytes: Some(1 << 30),
        enabled: true,
        tenant: None,
        labels: Default::default(),
    };
    store
        .create_mailbox(&all, &mailbox("bench@bench.example.com".into()))
        .await
        .unwrap();

    // Lookups.
    let select = format!(
        "SELECT u.email, d.name, u.quota, u.enabled, u.tenant, u.labels, u.created_at, u.updated_at \
         FROM \"{schema}\".virtual_users u JOIN \"{schema}\".virtual_domains d ON d.id = u.domain_id WHERE u.email = $1"
    );
    let stmt = raw.prepare(&select).await.unwrap();
    for _ in 0..100 {
        store
            .get_mailbox(&all, "bench@bench.example.com")
            .await
            .unwrap()
            .unwrap();
        raw.query_opt(&stmt, &[&"bench@bench.example.com"])
            .await
            .unwrap()
            .unwrap();
    }
    let t = Instant::now();
    for _ in 0..LOOKUPS {
        store
            .get_mailbox(&all, "bench@bench.example.com")
            .await
            .unwrap()
            .unwrap();
    }
    let ours = t.elapsed();
    let t = Instant::now();
    for _ in 0..LOOKUPS {
        raw.query_opt(&stmt, &[&"bench@bench.example.com"])
            .await
            .unwrap()
            .unwrap();
    }
    report("get mailbox", LOOKUPS, ours, t.elapsed());

    // Create + delete (both hash with bcrypt cost 4).
    let t = Instant::now();
    for i in 0..CREATES {
        let address = format!("u{i}@bench.example.com");
        store
            .create_mailbox(&all, &mailbox(address.clone()))
            .await
            .unwrap();
        store.delete_mailbox(&all, &address).await.unwrap();
    }
    let ours = t.elapsed();
    let hasher = PasswordHasher::new(PasswordScheme::BlfCrypt)
        .with_bcrypt_cost(4)
        .unwrap();
    let insert = format!(
        "INSERT INTO \"{schema}\".virtual_users (domain_id, email, password, quota) \
         SELECT id, $1, $2, $3 FROM \"{schema}\".virtual_domains WHERE name = 'bench.example.com'"
    );
    let delete = format!("DELETE FROM \"{schema}\".virtual_users WHERE email = $1");
    let t = Instant::now();
    for i in 0..CREATES {
        let address = format!("r{i}@bench.example.com");
        let hash = hasher
            .hash(&SecretString::from("Bench-Password-1"))
            .unwrap()
            .dovecot();
        raw.execute(&insert, &[&address, &hash, &(1i64 << 30)])
            .await
            .unwrap();
        raw.execute(&delete, &[&address]).await.unwrap();
    }
    report("create + delete mailbox", CREATES, ours, t.elapsed());

    raw.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}
