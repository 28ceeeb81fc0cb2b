//! The shared conformance suite on both backends: a throwaway PowerDNS
//! server and a directory of zone files, each behind a fault hook, with the
//! leak check over everything the run logged at TRACE level.

mod common;

use std::sync::Arc;

use common::faults::FaultBackend;
use stackdock_core::dns::RecordData;
use stackdock_core::spec::{Common, DnsRecordSpec, DnsZoneSpec};
use stackdock_core::{DockAdapter, ListOptions, ResourceId, ResourceKind, ResourceSpec};
use stackdock_dns::{
    AdapterOptions, DnsAdapter, DnsBackend, PowerDnsClient, PowerDnsConfig, ZoneFileBackend,
};
use stackdock_testkit::leak::{LeakCheck, LogCapture};
use stackdock_testkit::powerdns::{PowerDns, API_KEY};
use stackdock_testkit::{Fixture, Harness, Report};

/// The zone the record fixture lives in. It belongs to the tenant the
/// suite's tenant-isolation check creates for ("conformance-a"): a record's
/// tenant is its zone's.
const ZONE: &str = "conformance.example";
const ZONE_TENANT: &str = "conformance-a";

fn zone_spec(name: &str, tenant: Option<&str>) -> DnsZoneSpec {
    DnsZoneSpec {
        name: name.into(),
        nameservers: Vec::new(),
        common: Common {
            tenant: tenant.map(str::to_owned),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn record_spec(name: &str, ttl: Option<u32>, data: RecordData) -> DnsRecordSpec {
    DnsRecordSpec {
        zone: ZONE.into(),
        name: name.into(),
        ttl,
        data,
        common: Common::default(),
    }
}

fn a(s: &str) -> RecordData {
    RecordData::A {
        address: s.parse().unwrap(),
    }
}

fn zone_fixture() -> Fixture {
    Fixture::new(zone_spec("zone-under-test.example", None))
        .update(DnsZoneSpec {
            nameservers: vec!["ns1.example.net".into(), "ns2.example.net".into()],
            ..zone_spec("zone-under-test.example", None)
        })
        .invalid(zone_spec("-bad-.example", None))
        .invalid(zone_spec("localhost", None))
        .invalid(DnsZoneSpec {
            nameservers: vec!["not a host".into()],
            ..zone_spec("fine.example", None)
        })
        .invalid(DnsZoneSpec {
            nameservers: vec!["192.0.2.53".into()],
            ..zone_spec("fine.example", None)
        })
        .invalid(zone_spec("exa\u{200b}mple.example", None))
        .invalid(zone_spec("xn--zz.example", None))
}

fn record_fixture() -> Fixture {
    let mx = |exchange: &str| RecordData::MX {
        preference: 10,
        exchange: exchange.into(),
    };
    // A record's id is its content, so the update changes the TTL (same record).
    Fixture::new(record_spec("www2", Some(300), a("192.0.2.50")))
        .update(record_spec("www2", Some(600), a("192.0.2.50")))
        .list_options(ListOptions::in_parent(ZONE))
        .invalid(record_spec("www2", Some(0), a("192.0.2.50")))
        .invalid(record_spec("www.other.org.", None, a("192.0.2.50")))
        .invalid(record_spec("x", None, mx("bad host")))
        .invalid(record_spec("x", None, mx("1.2.3.4")))
        // ALIAS is PowerDNS-only and neither backend's adapter writes it.
        .invalid(record_spec(
            "x",
            None,
            RecordData::ALIAS {
                target: "a.example".into(),
            },
        ))
        .invalid(DnsRecordSpec {
            zone: "nope".into(),
            ..record_spec("x", None, a("192.0.2.1"))
        })
        // " " is not a spelling of the apex.
        .invalid(record_spec(" ", None, a("192.0.2.1")))
        .invalid(record_spec(
            "x",
            None,
            RecordData::CAA {
                flags: 0,
                tag: "issue".into(),
                value: "v".repeat(256),
            },
        ))
}

/// Runs the suite on `backend` (behind a fault hook) with the record
/// fixture's zone in place, and checks that every check ran and that
/// `secret` (the API key) never reached a log line.
async fn run_conformance<B: DnsBackend>(backend: B, secret: Option<&str>) -> Report {
    // Global: the multi-threaded runtime logs from its worker threads.
    let logs = LogCapture::start_global();
    let faulty = Arc::new(FaultBackend::new(backend));
    let adapter = Arc::new(DnsAdapter::from_arc(
        faulty.clone(),
        AdapterOptions::default(),
    ));
    let zone = ResourceSpec::from(zone_spec(ZONE, Some(ZONE_TENANT)));
    assert!(adapter.create(&zone).await.unwrap().was_created());
    let counter = faulty.clone();
    let mut harness = Harness::new(adapter.clone())
        .fixture(zone_fixture())
        .fixture(record_fixture())
        .remote_calls(move || counter.remote_calls())
        .faults(faulty);
    if let Some(s) = secret {
        harness = harness.secret(s);
    }
    let report = harness.run().await; // panics with the report on any failure
    let zone_id = ResourceId::new(ResourceKind::DnsZone, ZONE);
    adapter.delete(&zone_id).await.unwrap();
    assert!(!adapter.observe(&zone_id, None).await.unwrap().exists());
    assert_all_ran(&report);
    assert!(logs.text().contains("dns change done"), "nothing logged");
    LeakCheck::new()
        .logs(&logs)
        .debug("report", &report)
        .assert_clean(secret.as_slice());
    report
}

fn assert_all_ran(report: &Report) {
    // Per kind (zones, records): every check ran, none skipped.
    for check in [
        "validation_first",
        "observe_missing",
        "lifecycle",
        "create_twice",
        "delete_twice",
        "concurrent_creates",
        "concurrent_deletes",
        "cancelled_create",
        "tenant_isolation",
        "paging",
        "no_secrets",
        "nothing_half_made",
    ] {
        assert_eq!(report.count(check), 2, "{check}: {report}");
    }
    assert_eq!(report.skipped().count(), 0, "{report}");
    for check in ["lifecycle", "create_twice", "concurrent_creates"] {
        assert_eq!(report.touched_by(check), 2, "{check}: {report}");
    }
    for check in [
        "unsupported_is_explicit",
        "unsupported_arguments",
        "debug_has_no_secrets",
    ] {
        assert_eq!(report.count(check), 1, "{check}: {report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_passes_on_zone_files() {
    let dir = tempfile::tempdir().unwrap();
    run_conformance(ZoneFileBackend::new(dir.path()).unwrap(), None).await;
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_passes_on_powerdns() {
    let server = PowerDns::start();
    let client = PowerDnsClient::new(PowerDnsConfig::new(server.api_url(), API_KEY)).unwrap();
    run_conformance(client, Some(API_KEY)).await;
}
