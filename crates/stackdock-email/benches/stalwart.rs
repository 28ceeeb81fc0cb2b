//! `StalwartAdapter::observe` against the same JMAP requests sent with bare
//! reqwest, both to the in-process fake endpoint, in one run.
//!
//! `cargo bench -p stackdock-email --bench stalwart`. Returns at once unless run with `--bench`.
#![allow(missing_docs, clippy::print_stdout)]

#[path = "../tests/fake_stalwart/mod.rs"]
mod fake_stalwart;

use std::time::Instant;

use serde_json::{json, Value};
use stackdock_core::spec::{MailboxSpec, ResourceSpec};
use stackdock_core::DockAdapter;
use stackdock_email::stalwart::{StalwartAdapter, StalwartConfig};

const N: usize = 500;

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
    let fake = fake_stalwart::FakeStalwart::start().await;
    let config = StalwartConfig::new(&fake.uri(), "admin", fake_stalwart::ADMIN_PASSWORD)
        .unwrap()
        .with_bcrypt_cost(4);
    let adapter = StalwartAdapter::new("bench", config).unwrap();
    let created = adapter
        .create(&ResourceSpec::from(MailboxSpec {
            address: "bench@bench.example.com".into(),
            password: Some("Bench-Password-1".to_owned().into()),
            ..Default::default()
        }))
        .await
        .unwrap();
    let id = created.id();
    let domain_id = created.meta().provider_data["domainId"]
        .as_str()
        .unwrap()
        .to_owned();

    let raw = reqwest::Client::new();
    let api = format!("{}/jmap/", fake.uri());
    let call = |method_calls: Value| {
        raw.post(&api)
            .header("Authorization", fake_stalwart::ADMIN_AUTH)
            .json(&json!({"using": ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"], "methodCalls": method_calls}))
            .send()
    };
    let domain_calls = json!([
        ["x:Domain/query", {"accountId": "d333333", "filter": {"name": "bench.example.com"}, "limit": 2}, "0"],
        ["x:Domain/get", {"accountId": "d333333", "#ids": {"resultOf": "0", "name": "x:Domain/query", "path": "/ids"}}, "1"]
    ]);
    let account_calls = json!([
        ["x:Account/query", {"accountId": "d333333", "filter": {"name": "bench", "domainId": domain_id}, "limit": 2}, "0"],
        ["x:Account/get", {"accountId": "d333333", "#ids": {"resultOf": "0", "name": "x:Account/query", "path": "/ids"}}, "1"]
    ]);

    for _ in 0..50 {
        adapter.observe(&id, None).await.unwrap();
    }
    let t = Instant::now();
    for _ in 0..N {
        assert!(adapter.observe(&id, None).await.unwrap().exists());
    }
    let ours = t.elapsed();
    let t = Instant::now();
    for _ in 0..N {
        let d: Value = call(domain_calls.clone())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(d["methodResponses"][1][1]["list"][0]["id"].is_string());
        let a: Value = call(account_calls.clone())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(a["methodResponses"][1][1]["list"][0]["id"].is_string());
    }
    let raw_time = t.elapsed();
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / N as f64;
    println!(
        "observe mailbox (2 JMAP requests)  stackdock {:>8.1} µs/op   raw reqwest {:>8.1} µs/op   ratio {:.2}",
        per(ours),
        per(raw_time),
        ours.as_secs_f64() / raw_time.as_secs_f64()
    );
}
