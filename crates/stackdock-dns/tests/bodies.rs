//! The exact JSON sent to PowerDNS, pinned by snapshots.

use stackdock_core::dns::RecordData;
use stackdock_dns::client::{create_body, patch_body};
use stackdock_dns::model::{Zone, ZoneTemplate};
use stackdock_dns::plan::{plan, PlanOptions, DEFAULT_OWNER};
use stackdock_dns::PowerDnsConfig;

fn actual() -> Zone {
    let mut z = ZoneTemplate::default()
        .build("example.com", 2024010101)
        .unwrap();
    z.tenant = Some("acme".into());
    z.add(
        "old",
        300,
        RecordData::A {
            address: "192.0.2.99".parse().unwrap(),
        },
    )
    .unwrap();
    z.add(
        "txt",
        300,
        RecordData::TXT {
            text: format!("say \"hi\" {}", "y".repeat(260)),
        },
    )
    .unwrap();
    // Our zone: every set marked, the SOA too (that makes the zone ours).
    for s in z.rrsets.values_mut() {
        s.owner = Some(DEFAULT_OWNER.into());
    }
    z
}

#[test]
fn create_zone_body() {
    let config = PowerDnsConfig::new("http://127.0.0.1:8081", "secret-key");
    let zone = actual();
    let body = create_body(&zone, &config);
    assert!(!serde_json::to_string(&body).unwrap().contains("secret-key"));
    insta::assert_json_snapshot!(body);
}

#[test]
fn patch_body_puts_deletes_first() {
    let have = actual();
    let mut want = have.clone();
    want.tenant = None;
    want.rrsets.remove(&stackdock_dns::RecordSetKey::new(
        "old.example.com",
        stackdock_core::dns::RecordType::A,
    ));
    want.add(
        "new",
        60,
        RecordData::MX {
            preference: 5,
            exchange: "mail.example.net".into(),
        },
    )
    .unwrap();
    want.add(
        "@",
        3600,
        RecordData::A {
            address: "192.0.2.2".parse().unwrap(),
        },
    )
    .unwrap();
    let p = plan(&want, Some(&have), &PlanOptions::default().forced()).unwrap();
    insta::assert_snapshot!("patch_plan_text", p.to_string());
    insta::assert_json_snapshot!(patch_body(&p.changes));
}
