//! Which PowerDNS requests are sent again after a temporary failure.
//!
//! A record change is a PATCH whose rrsets are all REPLACE or DELETE, so a
//! replay leaves the zone as one send would. PowerDNS answers 500 when its SQL
//! backend is busy — seen when a caller's earlier PATCH was cancelled and the
//! server was still committing it while the repeat arrived.

use stackdock_core::dns::RecordData;
use stackdock_dns::{Change, DnsBackend, PowerDnsClient, PowerDnsConfig, RecordSet};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ZONE_PATH: &str = "/api/v1/servers/localhost/zones/example.com.";

fn a_record() -> Change {
    let address = "192.0.2.1".parse().unwrap();
    let set = RecordSet::new("example.com", "www", 300, vec![RecordData::A { address }]).unwrap();
    Change::Add(set)
}

#[tokio::test]
async fn a_record_change_is_sent_again_after_a_busy_backend() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path(ZONE_PATH))
        .respond_with(ResponseTemplate::new(500).set_body_json(serde_json::json!({
            "error": "Database error: database is locked"
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(ZONE_PATH))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let client = PowerDnsClient::new(PowerDnsConfig::new(server.uri(), "api-key")).unwrap();

    client
        .apply_changes("example.com", &[a_record()])
        .await
        .expect("the busy answer is retried");

    let patches = server.received_requests().await.unwrap();
    assert_eq!(patches.len(), 2, "one failed PATCH, one replay");
    assert_eq!(
        patches[0].body, patches[1].body,
        "the replay is the same change"
    );
}

#[tokio::test]
async fn a_refused_record_change_is_not_sent_again() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path(ZONE_PATH))
        .respond_with(
            ResponseTemplate::new(422)
                .set_body_json(serde_json::json!({"error": "RRset www.example.com. IN A: bad"})),
        )
        .mount(&server)
        .await;
    let client = PowerDnsClient::new(PowerDnsConfig::new(server.uri(), "api-key")).unwrap();

    let err = client
        .apply_changes("example.com", &[a_record()])
        .await
        .unwrap_err();

    assert!(!err.is_temporary(), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}
