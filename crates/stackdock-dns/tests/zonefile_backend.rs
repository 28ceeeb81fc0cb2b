//! The zone-file backend (the quickstart's embedded default): plan/apply,
//! serials, ownership with hand-written records, and named-checkzone.

use std::cmp::Ordering;
use std::process::Command;

use stackdock_core::dns::{RecordData, RecordType};
use stackdock_core::layer::standard;
use stackdock_core::spec::{DnsRecordSpec, DnsZoneSpec};
use stackdock_core::{ErrorKind, ResourceSpec};
use stackdock_dns::{
    serial, zonefile, AdapterOptions, Dns, DnsAdapter, DnsBackend, PlanOptions, ZoneFileBackend,
    ZoneTemplate,
};

fn checkzone(zone: &str, dir: &std::path::Path) {
    let path = zonefile::path_for(dir, zone).unwrap();
    let out = Command::new("named-checkzone")
        .arg(zone)
        .arg(&path)
        .output()
        .expect("named-checkzone installed");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(&path).unwrap()
    );
}

#[tokio::test]
async fn plan_apply_on_zone_files() {
    let dir = tempfile::tempdir().unwrap();
    let dns = Dns::new(ZoneFileBackend::new(dir.path()).unwrap());
    let mut desired = ZoneTemplate::default().build("files.example", 1).unwrap();
    for i in 0..12 {
        desired
            .add(
                &format!("h{i}"),
                300,
                RecordData::A {
                    address: format!("192.0.2.{i}").parse().unwrap(),
                },
            )
            .unwrap();
    }
    dns.converge(&desired, &PlanOptions::default())
        .await
        .unwrap();
    checkzone("files.example", dir.path());
    let s1 = dns
        .backend()
        .get_zone("files.example")
        .await
        .unwrap()
        .unwrap()
        .serial()
        .unwrap();

    // Someone edits the file by hand and adds a record (no marker): ours to leave alone.
    let path = zonefile::path_for(dir.path(), "files.example").unwrap();
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("handmade 600 IN TXT \"by a person\"\n");
    std::fs::write(&path, text).unwrap();

    // No change: nothing written, serial unchanged.
    let calls = dns.backend().remote_calls();
    let plan = dns
        .converge(&desired, &PlanOptions::default())
        .await
        .unwrap();
    assert!(plan.is_empty(), "{plan}");
    assert_eq!(
        dns.backend().remote_calls() - calls,
        1,
        "one read, no write"
    );

    // A change bumps the serial and keeps the hand-made record.
    desired.rrsets.remove(&stackdock_dns::RecordSetKey::new(
        "h0.files.example",
        RecordType::A,
    ));
    dns.converge(&desired, &PlanOptions::default())
        .await
        .unwrap();
    let zone = dns
        .backend()
        .get_zone("files.example")
        .await
        .unwrap()
        .unwrap();
    let s2 = zone.serial().unwrap();
    assert_eq!(
        serial::compare(s1, s2),
        Some(Ordering::Less),
        "{s1} -> {s2}"
    );
    assert!(zone.get("h0.files.example", RecordType::A).is_none());
    assert!(zone
        .get("handmade.files.example", RecordType::TXT)
        .is_some());
    checkzone("files.example", dir.path());

    // Threshold: deleting 8 of 21 records is refused, forced it goes through.
    for i in 1..9 {
        desired.rrsets.remove(&stackdock_dns::RecordSetKey::new(
            format!("h{i}.files.example"),
            RecordType::A,
        ));
    }
    let err = dns
        .converge(&desired, &PlanOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Refused);
    dns.converge(&desired, &PlanOptions::default().forced())
        .await
        .unwrap();
    assert!(dns
        .backend()
        .get_zone("files.example")
        .await
        .unwrap()
        .unwrap()
        .get("h5.files.example", RecordType::A)
        .is_none());
}

#[tokio::test]
async fn adapter_writes_valid_zone_files() {
    let dir = tempfile::tempdir().unwrap();
    // As applications get it: behind the layer that canonicalises specs.
    let adapter = standard(std::sync::Arc::new(DnsAdapter::new(
        ZoneFileBackend::new(dir.path()).unwrap(),
        AdapterOptions::default(),
    )));
    adapter
        .create(&ResourceSpec::from(DnsZoneSpec {
            name: "Quick.Example.".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    let records = [
        (
            "@",
            RecordData::TXT {
                text: format!("v=spf1 {}-all", "include:a.example ".repeat(20)),
            },
        ),
        (
            "_dmarc",
            RecordData::TXT {
                text: "v=DMARC1; p=none".into(),
            },
        ),
        (
            "v6",
            RecordData::AAAA {
                address: "2001:db8::1".parse().unwrap(),
            },
        ),
        (
            "_imaps._tcp",
            RecordData::SRV {
                priority: 0,
                weight: 1,
                port: 993,
                target: "quick.example".into(),
            },
        ),
        (
            "@",
            RecordData::CAA {
                flags: 0,
                tag: "issue".into(),
                value: "letsencrypt.org".into(),
            },
        ),
        (
            "blog",
            RecordData::CNAME {
                target: "www.quick.example".into(),
            },
        ),
    ];
    for (name, data) in records {
        adapter
            .create(&ResourceSpec::from(DnsRecordSpec {
                zone: "quick.example".into(),
                name: name.into(),
                ttl: Some(300),
                data,
                common: Default::default(),
            }))
            .await
            .unwrap();
    }
    checkzone("quick.example", dir.path());
    let text =
        std::fs::read_to_string(zonefile::path_for(dir.path(), "quick.example").unwrap()).unwrap();
    assert!(text.contains("$ORIGIN quick.example.\n"));
    assert!(text.contains("; owner=stackdock"));
}

#[tokio::test]
async fn zone_file_tenancy() {
    use stackdock_core::spec::Common;
    use stackdock_core::{DockAdapterExt, ListOptions, ResourceKind};
    let dir = tempfile::tempdir().unwrap();
    // As applications get it: behind the layer that canonicalises specs.
    let adapter = standard(std::sync::Arc::new(DnsAdapter::new(
        ZoneFileBackend::new(dir.path()).unwrap(),
        AdapterOptions::default(),
    )));
    for (zone, tenant) in [
        ("a.example", "acme"),
        ("b.example", "globex"),
        ("c.example", "acme"),
    ] {
        adapter
            .create(&ResourceSpec::from(DnsZoneSpec {
                name: zone.into(),
                common: Common {
                    tenant: Some(tenant.into()),
                    ..Default::default()
                },
                ..Default::default()
            }))
            .await
            .unwrap();
    }
    let acme = adapter
        .list_all(ResourceKind::DnsZone, &ListOptions::for_tenant("acme"))
        .await
        .unwrap();
    assert_eq!(
        acme.iter().map(|r| r.name()).collect::<Vec<_>>(),
        vec!["a.example", "c.example"]
    );
    assert!(acme
        .iter()
        .all(|r| r.meta().tenant.as_deref() == Some("acme")));
    let records = adapter
        .list_all(ResourceKind::DnsRecord, &ListOptions::for_tenant("globex"))
        .await
        .unwrap();
    assert!(!records.is_empty());
    assert!(records
        .iter()
        .all(|r| r.as_dns_record().unwrap().zone == "b.example"));
    // The tenant survives a rewrite of the file.
    let text =
        std::fs::read_to_string(zonefile::path_for(dir.path(), "b.example").unwrap()).unwrap();
    assert!(text.contains("; stackdock:tenant=globex"));
}
