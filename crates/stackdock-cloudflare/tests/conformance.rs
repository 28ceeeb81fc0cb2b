//! The shared conformance suite, zones and records, against the fake.

mod common;

use std::sync::Arc;

use common::{config, fake, TOKEN};
use stackdock_cloudflare::adapter;
use stackdock_testkit::{dns_fixtures, Harness};

#[tokio::test]
async fn conformance_suite_passes_for_zones_and_records() {
    let fake = fake();
    fake.state().add_zone("conformance.example");
    let server = fake.start().await;
    let dock = Arc::new(adapter(&config(&server.uri(), None)).unwrap());
    let counter = fake.clone();
    let report = Harness::new(dock)
        .fixtures(dns_fixtures("conformance.example"))
        .remote_calls(move || counter.calls())
        .faults(Arc::new(fake.clone()))
        .secret(TOKEN)
        .run()
        .await;
    for check in [
        "lifecycle",
        "concurrent_creates",
        "cancelled_create",
        "paging",
        "nothing_half_made",
    ] {
        assert_eq!(report.count(check), 2, "{check}: {report}");
        assert_eq!(
            report.passed().filter(|r| r.check == check).count(),
            2,
            "{report}"
        );
    }
    // Zones cannot be updated on Cloudflare: the suite says it skipped that.
    let skipped: Vec<_> = report.skipped().map(|r| (r.check, r.kind)).collect();
    assert!(
        skipped.contains(&("update", Some(stackdock_core::ResourceKind::DnsZone))),
        "{report}"
    );
    // Everything the suite made is gone again; the seeded zone stays, empty.
    let state = fake.state();
    assert_eq!(state.zones.len(), 1);
    assert!(
        state.records.values().all(Vec::is_empty),
        "{:?}",
        state.records
    );
}
