//! Overhead of the layer (auth header, URL building, concurrency slot, retry
//! bookkeeping, tracing, error mapping) over a bare `reqwest` GET + JSON decode,
//! against the same local wiremock server in the same run.
//!
//! `cargo bench -p stackdock-http --bench overhead`
#![allow(clippy::print_stdout)] // printing the numbers is this program's job

use std::time::{Duration, Instant};

use serde_json::Value;
use stackdock_http::{Auth, HttpClient, HttpConfig, Request, StatusErrorMapper};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const REQUESTS: usize = 2_000;
const ROUNDS: usize = 3;
const PARALLEL: usize = 8;

fn main() {
    // `cargo test --benches` and clippy build this too: only run under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let server = MockServer::start().await;
    let body = serde_json::json!({"projects": [{"id": "prj_1", "name": "web"}], "pagination": {"next": null}});
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let url = format!("{}/v9/projects?teamId=team_1", server.uri());
    let raw = reqwest::Client::new();
    let config = HttpConfig::parse(&server.uri())
        .expect("server URI")
        .with_auth(Auth::bearer("bench-token"))
        .with_default_query("teamId", "team_1");
    let layer = HttpClient::new(config, StatusErrorMapper).expect("client");

    let raw_once = || {
        let raw = raw.clone();
        let url = url.clone();
        async move {
            let response = raw
                .get(&url)
                .bearer_auth("bench-token")
                .send()
                .await
                .expect("raw send");
            let bytes = response.bytes().await.expect("raw body");
            serde_json::from_slice::<Value>(&bytes).expect("raw json");
        }
    };
    let layer_once = || {
        let layer = layer.clone();
        async move {
            layer
                .send_json::<Value>(Request::get("/v9/projects"))
                .await
                .expect("layer send");
        }
    };

    // Warm up both connection pools.
    for _ in 0..100 {
        raw_once().await;
        layer_once().await;
    }

    let mut best = [Duration::MAX; 4];
    for _ in 0..ROUNDS {
        best[0] = best[0].min(sequential(&raw_once).await);
        best[1] = best[1].min(sequential(&layer_once).await);
        best[2] = best[2].min(parallel(&raw_once).await);
        best[3] = best[3].min(parallel(&layer_once).await);
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / REQUESTS as f64;
    println!(
        "{REQUESTS} GET + JSON decode against a local wiremock server, best of {ROUNDS} rounds"
    );
    println!(
        "sequential: raw reqwest {:.1} µs/req, stackdock-http {:.1} µs/req, ratio {:.2}",
        per(best[0]),
        per(best[1]),
        best[1].as_secs_f64() / best[0].as_secs_f64()
    );
    println!(
        "{PARALLEL} in parallel: raw reqwest {:.1} µs/req, stackdock-http {:.1} µs/req, ratio {:.2}",
        per(best[2]),
        per(best[3]),
        best[3].as_secs_f64() / best[2].as_secs_f64()
    );
}

async fn sequential<F, Fut>(once: &F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let start = Instant::now();
    for _ in 0..REQUESTS {
        once().await;
    }
    start.elapsed()
}

async fn parallel<F, Fut>(once: &F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    for _ in 0..REQUESTS / PARALLEL {
        let batch: Vec<_> = (0..PARALLEL).map(|_| tokio::spawn(once())).collect();
        for task in batch {
            task.await.expect("task");
        }
    }
    start.elapsed()
}
