//! Inventory benchmark: 10,000 projects with their latest deployments and
//! domains from a local fake of Vercel that adds 20 ms to every request.
//!
//! ```text
//! cargo bench -p stackdock-vercel --bench inventory
//! BENCH_PROJECTS=10000 BENCH_LATENCY_MS=20 BENCH_CONCURRENCY=256 BENCH_RUNS=3 BENCH_DOMAINS=1 cargo bench -p stackdock-vercel --bench inventory
//! ```
//!
//! Reports, per run, the wall time against two floors measured in the same run:
//! * the lower bound: sequential round trips on the critical path (project
//!   pages + the domain listing after the last page) × the injected latency;
//! * the raw chain: the same number of sequential requests sent with a bare
//!   TCP client (no parsing), i.e. what the server and timer really allow;
//! * the HTTP-layer chain: the same requests through `stackdock-http` alone.
//!
//! CPU time comes from `/proc/self/stat` (utime + stime) minus the server
//! thread's own `/proc/self/task/<tid>/stat`, per 1,000 resources found.
#![allow(clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stackdock_vercel::{InventoryOptions, VercelClient, VercelConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const PAGE: usize = 100;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Data {
    /// Projects pages; page `n` is served for `from=tok-<n*100>` (page 0 without `from`).
    pages: Vec<Vec<u8>>,
    /// Domains listing per project index.
    domains: Vec<Vec<u8>>,
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture JSON")
}

fn build_data(projects: usize) -> Data {
    let template = fixture("project");
    let domain_list = fixture("project_domains_list");
    let domain_template = domain_list["domains"][0].clone();
    let mut pages = Vec::new();
    let mut domains = Vec::with_capacity(projects);
    for start in (0..projects).step_by(PAGE) {
        let end = (start + PAGE).min(projects);
        let items: Vec<Value> = (start..end)
            .map(|i| {
                let mut p = template.clone();
                p["id"] = json!(format!("prj_bench{i:06}"));
                p["name"] = json!(format!("bench-{i}"));
                p["latestDeployments"][0]["id"] = json!(format!("dpl_bench{i:06}"));
                p["createdAt"] = json!(1_700_000_000_000i64 - i as i64);
                p
            })
            .collect();
        let next = if end < projects {
            json!(format!("tok-{end}"))
        } else {
            Value::Null
        };
        let body = json!({"projects": items, "pagination": {"count": end - start, "next": next, "prev": null}});
        pages.push(serde_json::to_vec(&body).expect("serialise"));
    }
    for i in 0..projects {
        // One to three domains per project.
        let list: Vec<Value> = (0..(1 + i % 3))
            .map(|d| {
                let mut dom = domain_template.clone();
                dom["name"] = json!(format!("d{d}.bench-{i}.example"));
                dom["projectId"] = json!(format!("prj_bench{i:06}"));
                dom
            })
            .collect();
        let body = json!({"domains": list, "pagination": {"count": 1 + i % 3, "next": null, "prev": null}});
        domains.push(serde_json::to_vec(&body).expect("serialise"));
    }
    Data { pages, domains }
}

fn route<'a>(data: &'a Data, target: &str) -> Option<&'a [u8]> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path == "/v10/projects" {
        let from = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("from=tok-"))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        return data.pages.get(from / PAGE).map(Vec::as_slice);
    }
    let id = path
        .strip_prefix("/v9/projects/prj_bench")?
        .strip_suffix("/domains")?;
    data.domains
        .get(id.parse::<usize>().ok()?)
        .map(Vec::as_slice)
}

async fn serve_connection(stream: TcpStream, data: Arc<Data>, latency: Duration) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        // Skip headers (GET requests carry no body).
        loop {
            let mut header = String::new();
            match reader.read_line(&mut header).await {
                Ok(0) | Err(_) => return,
                Ok(_) if header == "\r\n" || header == "\n" => break,
                Ok(_) => {}
            }
        }
        tokio::time::sleep(latency).await;
        let (status, body): (&str, &[u8]) = match route(&data, &target) {
            Some(body) => ("200 OK", body),
            None => (
                "404 Not Found",
                br#"{"error":{"code":"not_found","message":"not found"}}"#,
            ),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        if write.write_all(head.as_bytes()).await.is_err() || write.write_all(body).await.is_err() {
            return;
        }
    }
}

/// Start the fake on its own thread and runtime; returns its address and the
/// `/proc` stat path of that thread.
fn start_server(data: Arc<Data>, latency: Duration) -> (std::net::SocketAddr, String) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let me = std::fs::read_link("/proc/thread-self")
                .map(|p| format!("/proc/{}/stat", p.display()))
                .unwrap_or_default();
            tx.send((listener.local_addr().expect("addr"), me))
                .expect("send");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve_connection(stream, data.clone(), latency));
            }
        });
    });
    rx.recv().expect("server started")
}

/// utime + stime of a `/proc/.../stat` file.
fn cpu_of(stat_path: &str) -> Duration {
    let Ok(text) = std::fs::read_to_string(stat_path) else {
        return Duration::ZERO;
    };
    let after = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command name: state is field 3, utime 14, stime 15.
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// `n` sequential keep-alive GETs of the project pages with a bare TCP client.
async fn raw_chain(addr: std::net::SocketAddr, n: usize) -> Duration {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut reader = BufReader::new(stream);
    let started = Instant::now();
    for i in 0..n {
        let from = if i == 0 {
            String::new()
        } else {
            format!("&from=tok-{}", i * PAGE)
        };
        let req = format!("GET /v10/projects?limit=100{from} HTTP/1.1\r\nhost: bench\r\n\r\n");
        reader
            .get_mut()
            .write_all(req.as_bytes())
            .await
            .expect("write");
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await.expect("read");
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().expect("length");
            }
        }
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body).await.expect("body");
    }
    started.elapsed()
}

/// The same chain through the shared HTTP layer alone (no JSON decoding).
async fn layer_chain(http: &stackdock_http::HttpClient, n: usize) -> Duration {
    let started = Instant::now();
    for i in 0..n {
        let mut req = stackdock_http::Request::get("/v10/projects").query("limit", "100");
        if i > 0 {
            req = req.query("from", format!("tok-{}", i * PAGE));
        }
        http.send(req).await.expect("page");
    }
    started.elapsed()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let projects = env_or("BENCH_PROJECTS", 10_000) as usize;
    let latency = Duration::from_millis(env_or("BENCH_LATENCY_MS", 20));
    let concurrency = env_or("BENCH_CONCURRENCY", 256) as usize;
    let runs = env_or("BENCH_RUNS", 3).max(1);

    let data = Arc::new(build_data(projects));
    let (addr, server_stat) = start_server(data.clone(), latency);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    let client = VercelClient::new(
        VercelConfig::new("bench-token")
            .base_url(format!("http://{addr}"))
            .max_concurrency(concurrency + 1),
    )
    .expect("client");
    let with_domains = env_or("BENCH_DOMAINS", 1) != 0;
    let http = stackdock_http::HttpClient::new(
        stackdock_http::HttpConfig::parse(&format!("http://{addr}")).expect("url"),
        stackdock_http::StatusErrorMapper,
    )
    .expect("http client");
    let options = InventoryOptions {
        concurrency,
        domains: with_domains,
    };
    println!(
        "inventory bench: {projects} projects, {} ms per request, concurrency {concurrency}, {runs} runs",
        latency.as_millis()
    );
    let mut ratios = Vec::new();
    for run in 1..=runs {
        let cpu_before = cpu_of("/proc/self/stat");
        let server_before = cpu_of(&server_stat);
        let started = Instant::now();
        let inv = rt.block_on(client.inventory(&options)).expect("inventory");
        let wall = started.elapsed();
        let server_cpu = cpu_of(&server_stat).saturating_sub(server_before);
        let client_cpu = cpu_of("/proc/self/stat")
            .saturating_sub(cpu_before)
            .saturating_sub(server_cpu);
        assert_eq!(inv.projects.len(), projects);
        assert_eq!(inv.deployments.len(), projects);
        if with_domains {
            let expected_domains: usize = (0..projects).map(|i| 1 + i % 3).sum();
            assert_eq!(inv.domains.len(), expected_domains);
        }

        let chain = inv.sequential_round_trips;
        let lower_bound = latency * chain as u32;
        let raw = rt.block_on(raw_chain(addr, chain.min(data.pages.len())))
            + latency * chain.saturating_sub(data.pages.len()) as u32;
        let layer = rt.block_on(layer_chain(&http, chain.min(data.pages.len())))
            + latency * chain.saturating_sub(data.pages.len()) as u32;
        let ratio = wall.as_secs_f64() / lower_bound.as_secs_f64();
        ratios.push(ratio);
        println!(
            "run {run}: {} resources ({} requests) in {:.3} s | lower bound {} x {} ms = {:.3} s -> ratio {:.3} | raw chain {:.3} s -> ratio {:.3} | HTTP-layer chain {:.3} s -> ratio {:.3} | client CPU {:.0} ms = {:.1} ms per 1,000 resources (server thread {:.0} ms)",
            inv.len(),
            inv.requests,
            wall.as_secs_f64(),
            chain,
            latency.as_millis(),
            lower_bound.as_secs_f64(),
            ratio,
            raw.as_secs_f64(),
            wall.as_secs_f64() / raw.as_secs_f64(),
            layer.as_secs_f64(),
            wall.as_secs_f64() / layer.as_secs_f64(),
            client_cpu.as_secs_f64() * 1000.0,
            client_cpu.as_secs_f64() * 1000.0 / (inv.len() as f64 / 1000.0),
            server_cpu.as_secs_f64() * 1000.0,
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "best ratio to lower bound {:.3}, median {:.3} (target <= 1.10)",
        ratios[0],
        ratios[ratios.len() / 2]
    );
}
