//! Generated zones through a real PowerDNS: what we write reads back as the
//! same model (no phantom diffs from the server's own canonical forms).

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use stackdock_core::dns::RecordData;
use stackdock_dns::model::Zone;
use stackdock_dns::{Dns, DnsBackend, PlanOptions, PowerDnsClient, PowerDnsConfig};
use stackdock_testkit::powerdns::{PowerDns, API_KEY};

fn record(zone: &'static str) -> impl Strategy<Value = RecordData> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| RecordData::A {
            address: Ipv4Addr::from(b)
        }),
        // Includes IPv4-mapped/compatible forms, whose text forms differ between libraries.
        prop_oneof![
            any::<[u8; 16]>().prop_map(Ipv6Addr::from),
            any::<[u8; 4]>().prop_map(|b| Ipv4Addr::from(b).to_ipv6_mapped()),
            any::<[u8; 4]>().prop_map(|b| Ipv4Addr::from(b).to_ipv6_compatible()),
        ]
        .prop_map(|address| RecordData::AAAA { address }),
        any::<u16>().prop_map(move |p| RecordData::MX {
            preference: p,
            exchange: format!("mx.{zone}")
        }),
        "[ -~äß€\\\\\";()]{0,600}".prop_map(|t| RecordData::TXT { text: t }),
        (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(move |(p, w, port)| RecordData::SRV {
            priority: p,
            weight: w,
            port,
            target: zone.into()
        }),
        "[a-z0-9]{1,10}".prop_map(|l| RecordData::PTR {
            target: format!("{l}.example.net")
        }),
        ("[a-zA-Z0-9]{1,10}", "[ -~]{0,40}").prop_map(|(tag, v)| RecordData::CAA {
            flags: 0,
            tag,
            value: v
        }),
    ]
}

/// Plain, underscore (`_dmarc`) and wildcard owners.
fn owner() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{1,8}",
        "_[a-z0-9]{1,8}(\\._tcp)?",
        "\\*(\\.[a-z]{1,5})?",
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_zones_read_back_identically() {
    let server = PowerDns::start();
    let dns =
        Dns::new(PowerDnsClient::new(PowerDnsConfig::new(server.api_url(), API_KEY)).unwrap());
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy =
        proptest::collection::vec((owner(), 1u32..100_000, record("gen.example")), 1..60);
    for case in 0..32 {
        let records = strategy.new_tree(&mut runner).unwrap().current();
        let mut desired = Zone::new("gen.example").unwrap();
        for (owner, ttl, data) in &records {
            desired.add(owner, *ttl, data.clone()).unwrap();
        }
        dns.converge(&desired, &PlanOptions::default())
            .await
            .unwrap_or_else(|e| panic!("case {case}: {e}\n{desired}"));
        let again = dns.plan(&desired, &PlanOptions::default()).await.unwrap();
        assert!(
            again.is_empty(),
            "case {case}: phantom diff after a round trip through PowerDNS:\n{again}"
        );
        dns.backend().delete_zone("gen.example").await.unwrap();
    }
}
