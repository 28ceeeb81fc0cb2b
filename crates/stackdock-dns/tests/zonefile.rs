//! Zone files: render → parse round trips on generated zones, and
//! `named-checkzone` (Debian `bind9-utils`) accepts what we write.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use stackdock_core::dns::RecordData;
use stackdock_dns::model::{Zone, ZoneTemplate};
use stackdock_dns::zonefile;

const ZONE: &str = "example.com";

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?"
}

fn record() -> impl Strategy<Value = RecordData> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| RecordData::A {
            address: Ipv4Addr::from(b)
        }),
        any::<[u8; 16]>().prop_map(|b| RecordData::AAAA {
            address: Ipv6Addr::from(b)
        }),
        any::<u16>().prop_map(|p| RecordData::MX {
            preference: p,
            exchange: ZONE.into()
        }),
        // Quotes, backslashes, semicolons, parentheses, non-ASCII, long (chunked) strings.
        "[ -~äß€\\\\\";()]{0,600}".prop_map(|t| RecordData::TXT { text: t }),
        (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(p, w, port)| RecordData::SRV {
            priority: p,
            weight: w,
            port,
            target: ZONE.into()
        }),
        label().prop_map(|l| RecordData::PTR {
            target: format!("{l}.example.net")
        }),
        "[ -~]{0,40}".prop_map(|v| RecordData::CAA {
            flags: 0,
            tag: "issue".into(),
            value: v
        }),
    ]
}

fn zone() -> impl Strategy<Value = Zone> {
    (
        proptest::collection::vec((label(), 1u32..100_000, record()), 0..40),
        proptest::collection::vec((label(), label()), 0..5),
        proptest::option::of("[a-z][a-z0-9-]{0,10}"),
    )
        .prop_map(|(records, cnames, tenant)| {
            let mut z = ZoneTemplate::default().build(ZONE, 2024010101).unwrap();
            z.tenant = tenant;
            for (owner, ttl, data) in records {
                // Owners of plain data live under "d-", CNAMEs under "c-": never both at one name.
                z.add(&format!("d-{owner}"), ttl, data).unwrap();
            }
            for (owner, target) in cnames {
                let name = format!("c-{owner}");
                if z.get(
                    &format!("{name}.{ZONE}"),
                    stackdock_core::dns::RecordType::CNAME,
                )
                .is_none()
                {
                    z.add(
                        &name,
                        300,
                        RecordData::CNAME {
                            target: format!("{target}.{ZONE}"),
                        },
                    )
                    .unwrap();
                }
            }
            for s in z.rrsets.values_mut() {
                if s.rtype != stackdock_core::dns::RecordType::SOA {
                    s.owner = Some("stackdock".into());
                }
            }
            z.validate().unwrap();
            z
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn render_then_parse_is_identity(z in zone()) {
        let text = zonefile::render(&z);
        let back = zonefile::parse(&text, ZONE).unwrap();
        prop_assert_eq!(back, z);
    }
}

fn named_checkzone(zone: &str, path: &std::path::Path) -> std::process::Output {
    Command::new("named-checkzone")
        .arg(zone)
        .arg(path)
        .output()
        .expect(
            "named-checkzone (Debian bind9-utils) is installed: run scripts/services/powerdns.sh",
        )
}

#[test]
fn named_checkzone_accepts_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..8 {
        let z = zone().new_tree(&mut runner).unwrap().current();
        let path = zonefile::write_atomic(dir.path(), &z).unwrap();
        let out = named_checkzone(ZONE, &path);
        assert!(
            out.status.success(),
            "named-checkzone rejected:\n{}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&path).unwrap()
        );
    }
    // And it rejects a broken zone: the check is real.
    std::fs::write(dir.path().join("bad.zone"), "$TTL 60\n@ IN A 192.0.2.1\n").unwrap();
    // Rejected for the reason we planted, not because the tool failed to run.
    let bad = named_checkzone(ZONE, &dir.path().join("bad.zone"));
    let said = String::from_utf8_lossy(&bad.stdout);
    assert!(
        !bad.status.success() && said.contains("has 0 SOA records"),
        "named-checkzone did not reject the zone for its missing SOA: {said} {}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
