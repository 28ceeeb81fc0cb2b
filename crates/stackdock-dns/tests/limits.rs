//! Every record type at its length limits renders and parses back on both
//! backends (zone files checked by named-checkzone, and a real PowerDNS);
//! one byte over a limit is refused before any call and leaves the zone usable.

use std::process::Command;

use stackdock_core::dns::{RecordData, MAX_CAA_TAG_LEN, MAX_CAA_VALUE_LEN, MAX_TXT_LEN};
use stackdock_core::spec::MAX_TTL;
use stackdock_core::validate::MAX_DNS_NAME_LEN;
use stackdock_core::ErrorKind;
use stackdock_dns::model::Zone;
use stackdock_dns::{
    zonefile, Dns, DnsBackend, PlanOptions, PowerDnsClient, PowerDnsConfig, ZoneFileBackend,
    ZoneTemplate,
};
use stackdock_testkit::powerdns::{PowerDns, API_KEY};

const ZONE: &str = "limits.example";

/// A name of exactly `total` bytes ending in `suffix`, in 63-byte labels.
fn long_name(suffix: &str, total: usize) -> String {
    let mut labels = Vec::new();
    let mut left = total - suffix.len();
    while left > 0 {
        let len = (left - 1).min(63);
        labels.push("x".repeat(len));
        left -= len + 1;
    }
    let name = format!("{}.{suffix}", labels.join("."));
    assert_eq!(name.len(), total, "{name}");
    name
}

fn caa(tag: String, value: String) -> RecordData {
    RecordData::CAA {
        flags: 128,
        tag,
        value,
    }
}

/// Every supported type at its limits.
fn zone_at_limits() -> Zone {
    let mut z = ZoneTemplate::disabled()
        .with_nameservers(vec![long_name("example.net", MAX_DNS_NAME_LEN)])
        .build(ZONE, 2024010101)
        .unwrap();
    let far = long_name("example.net", MAX_DNS_NAME_LEN);
    let deep = format!("{}.", long_name(ZONE, MAX_DNS_NAME_LEN));
    let ttl = MAX_TTL;
    let records = [
        RecordData::A {
            address: "255.255.255.255".parse().unwrap(),
        },
        RecordData::AAAA {
            address: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap(),
        },
        RecordData::MX {
            preference: u16::MAX,
            exchange: far.clone(),
        },
        RecordData::TXT {
            // Every kind of byte that needs an escape, up to the limit.
            text: format!("\"\\;() é{}", "t".repeat(MAX_TXT_LEN - 9)),
        },
        RecordData::SRV {
            priority: u16::MAX,
            weight: u16::MAX,
            port: u16::MAX,
            target: far.clone(),
        },
        caa(
            "t".repeat(MAX_CAA_TAG_LEN),
            format!("\"\\; é{}", "v".repeat(MAX_CAA_VALUE_LEN - 6)),
        ),
    ];
    for data in records {
        z.add(&deep, ttl, data).unwrap();
    }
    z.add(
        "cname",
        ttl,
        RecordData::CNAME {
            target: far.clone(),
        },
    )
    .unwrap();
    z.add(
        "ptr",
        ttl,
        RecordData::PTR {
            target: far.clone(),
        },
    )
    .unwrap();
    z.add("sub", ttl, RecordData::NS { nameserver: far })
        .unwrap();
    z.add(
        "nomail",
        ttl,
        RecordData::MX {
            preference: 0,
            exchange: ".".into(),
        },
    )
    .unwrap();
    z.add(
        "_none._tcp",
        ttl,
        RecordData::SRV {
            priority: 0,
            weight: 0,
            port: 0,
            target: ".".into(),
        },
    )
    .unwrap();
    z
}

/// What is one byte over a limit, each refused with `InvalidInput`.
fn over_the_limits() -> Vec<(&'static str, RecordData)> {
    vec![
        (
            "caa value",
            caa("issue".into(), "v".repeat(MAX_CAA_VALUE_LEN + 1)),
        ),
        ("caa tag", caa("t".repeat(MAX_CAA_TAG_LEN + 1), "x".into())),
        ("caa tag 256", caa("t".repeat(256), "x".into())),
        (
            "txt",
            RecordData::TXT {
                text: "t".repeat(MAX_TXT_LEN + 1),
            },
        ),
        (
            "mx ip",
            RecordData::MX {
                preference: 10,
                exchange: "1.2.3.4".into(),
            },
        ),
        (
            "cname ip",
            RecordData::CNAME {
                target: "1.2.3.4".into(),
            },
        ),
    ]
}

async fn limits_round_trip<B: DnsBackend>(dns: &Dns<B>) {
    let desired = zone_at_limits();
    dns.converge(&desired, &PlanOptions::default())
        .await
        .unwrap();
    let again = dns.plan(&desired, &PlanOptions::default()).await.unwrap();
    assert!(again.is_empty(), "phantom diff at the limits:\n{again}");
    for (what, data) in over_the_limits() {
        let err = desired
            .clone()
            .add("over", 300, data)
            .err()
            .unwrap_or_else(|| panic!("{what} accepted"));
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput { .. }),
            "{what}: {err}"
        );
    }
    // A set smuggled in past Zone::add is refused by plan before any call.
    let mut smuggled = desired.clone();
    let set = smuggled.rrsets.values().next().unwrap().clone();
    let mut bad_set = set.clone();
    bad_set.name = format!("over.{ZONE}");
    bad_set.rtype = stackdock_core::dns::RecordType::CAA;
    bad_set.records = vec![caa("issue".into(), "v".repeat(MAX_CAA_VALUE_LEN + 1))];
    smuggled.insert(bad_set);
    let calls = dns.backend().remote_calls();
    let err = dns
        .plan(&smuggled, &PlanOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { .. }),
        "{err}"
    );
    assert_eq!(
        dns.backend().remote_calls(),
        calls,
        "refused before any call"
    );
    // The zone is still readable and unchanged.
    let still = dns.plan(&desired, &PlanOptions::default()).await.unwrap();
    assert!(still.is_empty(), "{still}");
}

#[tokio::test]
async fn zone_files_at_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let dns = Dns::new(ZoneFileBackend::new(dir.path()).unwrap());
    limits_round_trip(&dns).await;
    let path = zonefile::path_for(dir.path(), ZONE).unwrap();
    let out = Command::new("named-checkzone")
        .arg(ZONE)
        .arg(&path)
        .output()
        .expect("named-checkzone installed");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn powerdns_at_the_limits() {
    let server = PowerDns::start();
    let dns =
        Dns::new(PowerDnsClient::new(PowerDnsConfig::new(server.api_url(), API_KEY)).unwrap());
    limits_round_trip(&dns).await;
}
