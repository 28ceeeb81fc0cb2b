//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stackdock_http::{ErrorMapper, HttpClient, HttpConfig, ManualClock, StatusErrorMapper};
use wiremock::MockServer;

/// Wall time the manual clock starts at: Tue, 14 Nov 2023 22:13:20 GMT.
pub(crate) const T0: u64 = 1_700_000_000;

pub(crate) fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0)
}

pub(crate) fn config(server: &MockServer) -> HttpConfig {
    HttpConfig::parse(&server.uri()).expect("mock server URI parses")
}

/// A client on a [`ManualClock`]: retry waits are instant and recorded.
pub(crate) fn client_with(
    config: HttpConfig,
    mapper: impl ErrorMapper,
) -> (HttpClient, ManualClock) {
    let clock = ManualClock::new(t0());
    let client = HttpClient::new(config, mapper)
        .expect("valid config")
        .with_clock(clock.clone());
    (client, clock)
}

pub(crate) fn client(server: &MockServer) -> (HttpClient, ManualClock) {
    client_with(config(server), StatusErrorMapper)
}

pub(crate) async fn request_count(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .expect("request recording is on")
        .len()
}
