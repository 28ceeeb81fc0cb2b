//! Memory cost of a huge response body, for `/usr/bin/time -v` (max RSS).
//!
//! Serves one answer with a close-delimited body of `<MiB>` MiB from a loopback
//! server in the same process, and reads it through `HttpClient` with the
//! default body cap, or with no cap when `--uncapped` is given:
//!
//! ```sh
//! cargo build --release -p stackdock-http --example huge_body
//! /usr/bin/time -v target/release/examples/huge_body 500 200
//! /usr/bin/time -v target/release/examples/huge_body 500 200 --uncapped
//! ```
#![allow(clippy::print_stdout)] // printing the outcome is this program's job

use stackdock_http::{HttpClient, HttpConfig, Request, RetryConfig, StatusErrorMapper};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const MIB: usize = 1024 * 1024;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mib: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(500);
    let status: u16 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200);
    let uncapped = args.iter().any(|a| a == "--uncapped");

    let base = serve_once(mib, status).await;
    let mut config = HttpConfig::parse(&base)
        .expect("loopback URL")
        .with_retry(RetryConfig::none());
    if uncapped {
        config = config.with_max_response_bytes(u64::MAX);
    }
    let client = HttpClient::new(config, StatusErrorMapper).expect("valid config");
    match client.send(Request::get("/huge")).await {
        Ok(response) => println!("read {} MiB", response.body.len() / MIB),
        Err(err) => println!("error: {err}"),
    }
}

/// A server answering one request with `mib` MiB of JSON whitespace, without `Content-Length`.
async fn serve_once(mib: usize, status: u16) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 4096];
        let _ = socket.read(&mut buf).await;
        let head = format!("HTTP/1.1 {status} X\r\nconnection: close\r\n\r\n");
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![b' '; MIB];
        for _ in 0..mib {
            if socket.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    format!("http://{addr}")
}
