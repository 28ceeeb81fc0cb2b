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
//! two floors measured in the same run: the critical path (rounds ×
//! latency, where a round is what must wait for the answer before it: the
//! zone lookup, listing page 1, the other pages [`PAGES_IN_FLIGHT`] at once,
//! then each batch) and a bare replay (the same requests, bodies included,
//! sent round by round through bare reqwest). The target is ≤ 1.1 × the
//! critical path. Also reported: the CPU time the whole process (server
//! included) spent on the sync and on the bare replay; wall ratios move
//! with the machine's load, CPU time hardly does.
//! Not run by CI.
#![allow(clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stackdock_cloudflare::plan::PAGES_IN_FLIGHT;
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

/// The requests of a sync in the rounds of its critical path: the zone
/// lookup; listing page 1 (it tells how many pages there are); the other
/// pages, [`PAGES_IN_FLIGHT`] a round; then every batch after the one
/// before it (the batches of a plan are applied in order).
fn rounds(requests: &[Request]) -> Vec<Vec<&Request>> {
    let page = |r: &Request| {
        let mut pairs = r.url.query_pairs();
        pairs
            .find(|(k, _)| k == "page")
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let (mut lookup, mut pages, mut batches) =
        (Vec::new(), Vec::<Vec<&Request>>::new(), Vec::new());
    for r in requests {
        let path = r.url.path();
        if path.ends_with("/batch") {
            batches.push(vec![r]);
        } else if !path.ends_with("/dns_records") {
            lookup.push(r);
        } else {
            let n = page(r).unwrap_or(1);
            let round = if n <= 1 {
                0
            } else {
                1 + (n - 2) / PAGES_IN_FLIGHT
            };
            if pages.len() <= round {
                pages.resize_with(round + 1, Vec::new);
            }
            pages[round].push(r);
        }
    }
    let rounds = std::iter::once(lookup).chain(pages).chain(batches);
    rounds.filter(|round| !round.is_empty()).collect()
}

/// The same requests, bodies included, replayed round by round through bare
/// reqwest (the requests of one round at once).
async fn bare_replay(url: &str, rounds: &[Vec<&Request>]) -> Duration {
    let http = reqwest::Client::new();
    let started = Instant::now();
    for round in rounds {
        let mut sent = tokio::task::JoinSet::new();
        for r in round {
            let method = reqwest::Method::from_bytes(r.method.as_str().as_bytes()).expect("method");
            let mut target = format!("{url}{}", r.url.path());
            if let Some(q) = r.url.query() {
                target = format!("{target}?{q}");
            }
            let req = http
                .request(method, target)
                .bearer_auth(TOKEN)
                .body(r.body.clone());
            sent.spawn(async move {
                let response = req.send().await.expect("bare request");
                response.bytes().await.expect("bare body");
            });
        }
        while sent.join_next().await.is_some() {}
    }
    started.elapsed()
}

/// CPU time (user + system) of every thread of this process so far, from
/// each thread's `/proc` schedstat (nanoseconds): the server's, the
/// client's and the bare replay's alike. Unlike wall time, a loaded machine
/// barely moves it.
fn cpu() -> Duration {
    let threads = std::fs::read_dir("/proc/self/task").into_iter().flatten();
    let schedstats = threads
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok());
    let ns = schedstats.filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok());
    Duration::from_nanos(ns.sum())
}

async fn sync(what: &str, zone_records: u32, desired: &Zone, latency: Duration) {
    let server = server(latency, zone_records).await;
    let url = server.uri();
    let client = client(&url);
    let (started, cpu_before) = (Instant::now(), cpu());
    let zone_plan = client
        .plan_zone(desired, &PlanOptions::default().forced())
        .await
        .expect("plan");
    let planned = started.elapsed();
    client.apply_zone(&zone_plan).await.expect("apply");
    let (took, cpu_ours) = (started.elapsed(), cpu().saturating_sub(cpu_before));
    let requests = server.received_requests().await.expect("recorded");
    let rounds = rounds(&requests);
    let cpu_before = cpu();
    let bare = bare_replay(&url, &rounds).await;
    let cpu_bare = cpu().saturating_sub(cpu_before);
    let floor = latency * rounds.len() as u32;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what:>11}: {:>7.1} ms (planning {:>6.1} ms) {:>3} requests in {:>3} rounds | critical path {:>7.1} ms: {:.3}x | bare replay {:>7.1} ms: {:.3}x | CPU {:>5.1} ms, bare {:>5.1} ms",
        ms(took),
        ms(planned),
        requests.len(),
        rounds.len(),
        ms(floor),
        took.as_secs_f64() / floor.as_secs_f64(),
        ms(bare),
        took.as_secs_f64() / bare.as_secs_f64(),
        ms(cpu_ours),
        ms(cpu_bare),
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
