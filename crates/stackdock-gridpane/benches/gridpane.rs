//! Adapter overhead against raw HTTP, in the same run, on a local fake GridPane.
//!
//! `cargo bench -p stackdock-gridpane --bench gridpane`
//!
//! Both sides fetch the same pages from the same wiremock server on loopback:
//! the baseline with plain `reqwest` + `serde_json::Value`, the adapter with
//! `list_all` (paging, mapping into universal resources, secret stripping)
//! and `observe`. The ratio is adapter time / raw time.

#![allow(clippy::print_stdout)] // printing the numbers is what a benchmark is for

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stackdock_core::{DockAdapter, DockAdapterExt, ListOptions, ResourceId, ResourceKind};
use stackdock_gridpane::{GridPaneAdapter, GridPaneConfig};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PAGES: usize = 5;
const PER_PAGE: usize = 100;
const TOKEN: &str = "bench-token";

fn server_item(id: usize) -> Value {
    let path = format!("{}/tests/fixtures/servers.json", env!("CARGO_MANIFEST_DIR"));
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut item = fixture["data"][0].clone();
    item["id"] = json!(id);
    item["label"] = json!(format!("bench-{id}"));
    item
}

async fn start() -> MockServer {
    let server = MockServer::start().await;
    let base = "/oauth/api/v1";
    for page in 1..=PAGES {
        let items: Vec<Value> = (0..PER_PAGE)
            .map(|i| server_item(page * 1000 + i))
            .collect();
        let next = (page < PAGES)
            .then(|| format!("https://my.gridpane.com{base}/server?page={}", page + 1));
        let body = json!({
            "data": items,
            "links": {"next": next},
            "meta": {"current_page": page, "last_page": PAGES, "per_page": PER_PAGE, "total": PAGES * PER_PAGE},
        });
        Mock::given(method("GET"))
            .and(path(format!("{base}/server")))
            .and(query_param("page", page.to_string()))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
    }
    let site = {
        let path = format!("{}/tests/fixtures/site.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str::<Value>(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    Mock::given(method("GET"))
        .and(path(format!("{base}/site/474559")))
        .respond_with(ResponseTemplate::new(200).set_body_json(site))
        .mount(&server)
        .await;
    server
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Medians of interleaved samples: raw and adapter alternate, so load from
/// other processes on the machine hits both sides alike.
fn report(name: &str, raw: Vec<Duration>, adapter: Vec<Duration>) {
    let (raw, adapter) = (median(raw), median(adapter));
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<28} raw {:>8.3} ms   adapter {:>8.3} ms   ratio {:.2}x (medians)",
        ms(raw),
        ms(adapter),
        adapter.as_secs_f64() / raw.as_secs_f64()
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --benches` and clippy builds: nothing to measure.
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = start().await;
        let base = format!("{}/oauth/api/v1", server.uri());
        let config = GridPaneConfig::new(TOKEN)
            .with_base_url(&base)
            .unwrap()
            .with_per_page(PER_PAGE as u32);
        let adapter = GridPaneAdapter::new(config).unwrap();
        let raw = reqwest::Client::new();

        let raw_list = || async {
            let mut all = Vec::new();
            let mut page = 1;
            loop {
                let body: Value = raw
                    .get(format!("{base}/server"))
                    .query(&[("page", page.to_string()), ("per_page", PER_PAGE.to_string())])
                    .bearer_auth(TOKEN)
                    .header("accept", "application/json")
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let items = body["data"].as_array().unwrap().clone();
                all.extend(items);
                if body["links"]["next"].is_null() {
                    break;
                }
                page += 1;
            }
            all.len()
        };
        let adapter_list = || async {
            adapter
                .list_all(ResourceKind::Server, &ListOptions::default())
                .await
                .unwrap()
                .len()
        };
        // Warm up both paths (connections, caches) and check they agree.
        assert_eq!(raw_list().await, PAGES * PER_PAGE);
        assert_eq!(adapter_list().await, PAGES * PER_PAGE);

        println!("stackdock-gridpane benchmark (wiremock on loopback, {PAGES} pages x {PER_PAGE} servers)");
        let (mut raw_samples, mut adapter_samples) = (Vec::new(), Vec::new());
        for _ in 0..60 {
            let t = Instant::now();
            raw_list().await;
            raw_samples.push(t.elapsed());
            let t = Instant::now();
            adapter_list().await;
            adapter_samples.push(t.elapsed());
        }
        report("list 500 servers", raw_samples, adapter_samples);

        let id = ResourceId::new(ResourceKind::WebService, "474559");
        let raw_get = || async {
            let body: Value = raw
                .get(format!("{base}/site/474559"))
                .bearer_auth(TOKEN)
                .header("accept", "application/json")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(body["data"]["id"].is_number());
        };
        let (mut raw_samples, mut adapter_samples) = (Vec::new(), Vec::new());
        for _ in 0..500 {
            let t = Instant::now();
            raw_get().await;
            raw_samples.push(t.elapsed());
            let t = Instant::now();
            assert!(adapter.observe(&id, None).await.unwrap().exists());
            adapter_samples.push(t.elapsed());
        }
        report("observe one site", raw_samples, adapter_samples);
    });
}
