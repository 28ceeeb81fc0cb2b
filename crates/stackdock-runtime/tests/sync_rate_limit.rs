//! A sync records the request budget the dock's provider reported: a
//! PowerDNS dock behind a proxy that adds `X-RateLimit-*` headers (wiremock,
//! PowerDNS's own response shapes), synced by the runtime into a real SQLite
//! store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use stackdock_core::{DockRegistry, RateLimit};
use stackdock_runtime::model::RunStatus;
use stackdock_runtime::store::{SqliteStore, Store};
use stackdock_runtime::Runtime;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const API_KEY: &str = "pdns-key";
const LIMIT: u64 = 60;
const RESET: i64 = 1_700_000_060;

/// PowerDNS's zone list (no zones); every answer spends one request of the
/// budget and says what is left.
struct Budget {
    remaining: Arc<AtomicU64>,
}

impl Respond for Budget {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let left = self.remaining.fetch_sub(1, Ordering::SeqCst) - 1;
        ResponseTemplate::new(200)
            .insert_header("X-RateLimit-Limit", LIMIT.to_string().as_str())
            .insert_header("X-RateLimit-Remaining", left.to_string().as_str())
            .insert_header("X-RateLimit-Reset", RESET.to_string().as_str())
            .set_body_json(serde_json::json!([]))
    }
}

#[tokio::test]
async fn a_sync_records_the_rate_limit_the_provider_reported() {
    let server = MockServer::start().await;
    let remaining = Arc::new(AtomicU64::new(LIMIT));
    Mock::given(method("GET"))
        .and(path("/api/v1/servers/localhost/zones"))
        .and(header("X-API-Key", API_KEY))
        .respond_with(Budget {
            remaining: remaining.clone(),
        })
        .mount(&server)
        .await;
    let client = stackdock_dns::PowerDnsClient::new(stackdock_dns::PowerDnsConfig::new(
        server.uri(),
        API_KEY,
    ))
    .unwrap();
    let mut docks = DockRegistry::new();
    docks
        .insert(Arc::new(stackdock_dns::DnsAdapter::new(
            client,
            stackdock_dns::AdapterOptions::default().with_dock_id("dns"),
        )))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let runtime = Runtime::new(store.clone(), docks);

    let report = runtime.sync("dns", "ops").await.unwrap();
    assert_eq!(
        report.run.status,
        RunStatus::Succeeded,
        "{:?}",
        report.error
    );
    let spent = LIMIT - remaining.load(Ordering::SeqCst);
    assert!(spent > 0, "the sync listed through the HTTP API");
    // The budget the last response left, not the first one's.
    let expected = RateLimit {
        limit: Some(LIMIT),
        remaining: Some(LIMIT - spent),
        reset_at: chrono::DateTime::from_timestamp(RESET, 0),
    };
    assert_eq!(report.rate_limit, Some(expected));
    let syncs = store.dock_syncs().await.unwrap();
    let dns = syncs.iter().find(|s| s.dock == "dns").unwrap();
    assert_eq!(
        dns.rate_limit,
        Some(expected),
        "recorded on the dock's sync"
    );
}
