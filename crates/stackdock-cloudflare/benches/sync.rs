//! Zone-sync benchmark: a 10,000-record zone synced through the batch
//! endpoint, every answer delayed by a fixed latency, against the critical
//! path.
//!
//! ```text
//! cargo bench -p stackdock-cloudflare --bench sync
//! BENCH_RECORDS=10000 BENCH_LATENCY_MS=20 BENCH_RUNS=3 cargo bench -p stackdock-cloudflare --bench sync
//! ```
//!
//! The server answers from bodies prepared before the clock starts
//! (Cloudflare-shaped envelopes and records; the stateful fake of the tests
//! spends more time per request than the latency, which would hide the
//! adapter), so its only cost is the injected latency. Three syncs, each on a
//! fresh client (the zone id lookup included):
//! * `create`: the zone is empty; every record is posted (lookup, one
//!   listing page, `records / 200` batches);
//! * `no-change`: the zone already holds the desired records, marked ours
//!   (lookup, `records / 5000` listing pages, no batch);
//! * `change-10%`: a tenth of the records get another address (lookup,
//!   listing pages, the deletes and posts in batches).
//!
//! Reported per sync: wall time, the planning share of it, the requests, and
//! two floors measured in the same run: the critical path (requests ×
//! latency) and a bare replay (the same requests, bodies included, sent in
//! sequence through bare reqwest). The target is ≤ 1.1 × the critical path.
//! Not run by CI.
#![allow(clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stackdock_cloudflare::{CloudflareClient, CloudflareConfig};
use stackdock_core::dns::RecordData;
use stackdock_dns::model::Zone;
use stackdock_dns::plan::PlanOptions;
use wiremock::matchers::{method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "bench-token";
const ZONE_ID: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const MARKER: &str = "managed-by:stackdock";
const PER_PAGE: usize = 5000;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn address(i: u32, bump: bool) -> std::net::Ipv4Addr {
    [
        10,
        (i >> 16) as u8,
        (i >> 8) as u8,
        (i as u8).wrapping_add(u8::from(bump)),
    ]
    .into()
}

/// The desired zone: `records` A records, every `changed_every`-th moved.
fn desired(records: u32, changed_every: u32) -> Zone {
    let mut zone = Zone::new("bench.example").expect("zone name");
    for i in 0..records {
        let bump = changed_every > 0 && i % changed_every == 0;
        let data = RecordData::A {
            address: address(i, bump),
        };
        zone.add(&format!("h{i}"), 300, data).expect("record");
    }
    zone
}

fn envelope(result: Value, info: Option<Value>) -> Vec<u8> {
    let mut body = json!({ "success": true, "errors": [], "messages": [], "result": result });
    if let Some(info) = info {
        body["result_info"] = info;
    }
    serde_json::to_vec(&body).expect("serialise")
}

/// The listing pages of a zone holding `records` marked A records.
fn pages(records: u32) -> Vec<Vec<u8>> {
    let all: Vec<Value> = (0..records)
        .map(|i| {
            json!({
                "id": format!("{i:032x}"), "name": format!("h{i}.bench.example"), "type": "A",
                "content": address(i, false).to_string(), "proxiable": true, "proxied": false,
                "ttl": 300, "settings": {}, "meta": {}, "comment": MARKER, "tags": [],
                "created_on": "2026-12-06T10:00:00Z", "modified_on": "2026-12-06T10:00:00Z",
            })
        })
        .collect();
    let total_pages = all.len().div_ceil(PER_PAGE).max(1);
    (0..total_pages)
        .map(|p| {
            let items: Vec<Value> = all.iter().skip(p * PER_PAGE).take(PER_PAGE).cloned().collect();
            let info = json!({ "page": p + 1, "per_page": PER_PAGE, "count": items.len(), "total_count": all.len(), "total_pages": total_pages });
            envelope(Value::Array(items), Some(info))
        })
        .collect()
}

/// A server that answers every call after `latency` from prepared bodies.
async fn server(latency: Duration, zone_records: u32) -> MockServer {
    let server = MockServer::start().await;
    let ok = |body: Vec<u8>| {
        ResponseTemplate::new(200)
            .set_body_raw(body, "application/json")
            .set_delay(latency)
    };
    let zone = json!({ "id": ZONE_ID, "name": "bench.example", "status": "active", "name_servers": ["ada.ns.cloudflare.com"] });
    let info = json!({ "page": 1, "per_page": 5, "count": 1, "total_count": 1, "total_pages": 1 });
    Mock::given(method("GET"))
        .and(path("/zones"))
        .respond_with(ok(envelope(json!([zone]), Some(info))))
        .mount(&server)
        .await;
    for (i, page) in pages(zone_records).into_iter().enumerate() {
        Mock::given(method("GET"))
            .and(path(format!("/zones/{ZONE_ID}/dns_records")))
            .and(query_param("page", (i + 1).to_string()))
            .respond_with(ok(page))
            .mount(&server)
            .await;
    }
    let batch = envelope(
        json!({ "deletes": [], "patches": [], "puts": [], "posts": [] }),
        None,
    );
    Mock::given(method("POST"))
        .and(path_regex("/dns_records/batch$"))
        .respond_with(ok(batch))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/user/tokens/verify"))
        .respond_with(ok(envelope(json!({ "status": "active" }), None)))
        .mount(&server)
        .await;
    server
}

fn client(url: &str) -> CloudflareClient {
    let mut config = CloudflareConfig::new(TOKEN);
    config.rest = config.rest.base_url(url);
    CloudflareClient::new(&config).expect("client")
}

/// The same requests, bodies included, replayed in sequence through bare reqwest.
async fn bare_replay(url: &str, requests: &[Request]) -> Duration {
    let http = reqwest::Client::new();
    let started = Instant::now();
    for r in requests {
        let method = reqwest::Method::from_bytes(r.method.as_str().as_bytes()).expect("method");
        let mut target = format!("{url}{}", r.url.path());
        if let Some(q) = r.url.query() {
            target = format!("{target}?{q}");
        }
        let req = http
            .request(method, target)
            .bearer_auth(TOKEN)
            .body(r.body.clone());
        req.send()
            .await
            .expect("bare request")
            .bytes()
            .await
            .expect("bare body");
    }
    started.elapsed()
}

async fn sync(what: &str, zone_records: u32, desired: &Zone, latency: Duration) {
    let server = server(latency, zone_records).await;
    let url = server.uri();
    let client = client(&url);
    let started = Instant::now();
    let zone_plan = client
        .plan_zone(desired, &PlanOptions::default().forced())
        .await
        .expect("plan");
    let planned = started.elapsed();
    client.apply_zone(&zone_plan).await.expect("apply");
    let took = started.elapsed();
    let requests = server.received_requests().await.expect("recorded");
    let bare = bare_replay(&url, &requests).await;
    let floor = latency * requests.len() as u32;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what:>11}: {:>7.1} ms (planning {:>6.1} ms) {:>3} requests | critical path {:>7.1} ms: {:.3}x | bare replay {:>7.1} ms: {:.3}x",
        ms(took),
        ms(planned),
        requests.len(),
        ms(floor),
        took.as_secs_f64() / floor.as_secs_f64(),
        ms(bare),
        took.as_secs_f64() / bare.as_secs_f64(),
    );
}

fn main() {
    let records = env_or("BENCH_RECORDS", 10_000) as u32;
    let latency = Duration::from_millis(env_or("BENCH_LATENCY_MS", 20));
    let runs = env_or("BENCH_RUNS", 3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (unchanged, changed) = (desired(records, 0), desired(records, 10));
    println!(
        "zone sync of {records} records, {} ms per request",
        latency.as_millis()
    );
    runtime.block_on(async {
        for run in 1..=runs {
            println!("run {run}");
            sync("create", 0, &unchanged, latency).await;
            sync("no-change", records, &unchanged, latency).await;
            sync("change-10%", records, &changed, latency).await;
        }
    });
}
