//! Record-level behaviour of the DockAdapter, checked over DNS on a real
//! PowerDNS (the conformance suite is in `conformance.rs`).

use std::sync::Arc;

use hickory_proto::rr::RecordType as Qt;
use stackdock_core::dns::RecordData;
use stackdock_core::layer::standard;
use stackdock_core::spec::{Common, DnsRecordSpec, DnsZoneSpec};
use stackdock_core::{DockAdapterExt, ErrorKind, ListOptions, ResourceKind, ResourceSpec};
use stackdock_dns::{AdapterOptions, DnsBackend, PowerDnsAdapter, PowerDnsClient, PowerDnsConfig};
use stackdock_testkit::powerdns::{ask, PowerDns, API_KEY};

const ZONE: &str = "conformance.example";

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_through_the_adapter_are_served() {
    let server = PowerDns::start();
    let port = server.dns_port;
    let client = PowerDnsClient::new(PowerDnsConfig::new(server.api_url(), API_KEY)).unwrap();
    let raw = PowerDnsAdapter::new(client, AdapterOptions::default().with_dock_id("dns-main"));
    let backend = raw.backend().clone();
    // As applications get it: behind the layer that validates specs first.
    let adapter = standard(Arc::new(raw));

    let zone = adapter
        .create(&ResourceSpec::from(zone_spec(ZONE, Some("acme"))))
        .await
        .unwrap();
    assert_eq!(zone.meta().tenant.as_deref(), Some("acme"));
    assert_eq!(zone.meta().reference.dock_id, "dns-main");
    // PowerDNS keeps the tenant in a 40-byte column: refused before any call.
    let calls = backend.remote_calls();
    let long = zone_spec("long.example", Some(&"t".repeat(41)));
    let err = adapter.create(&ResourceSpec::from(long)).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { .. }),
        "{err}"
    );
    assert_eq!(backend.remote_calls(), calls);
    // Template records are served.
    assert_eq!(
        ask(port, &format!("www.{ZONE}."), Qt::CNAME).texts(),
        vec![format!("{ZONE}.")]
    );
    assert_eq!(
        ask(port, &format!("{ZONE}."), Qt::A).texts(),
        vec!["192.0.2.1"]
    );
    let serial0 = ask(port, &format!("{ZONE}."), Qt::SOA)
        .soa_serial()
        .unwrap();

    // Two records of one set; ids are deterministic.
    let r1 = adapter
        .create(&ResourceSpec::from(record_spec(
            "app",
            Some(120),
            a("192.0.2.7"),
        )))
        .await
        .unwrap();
    let r2 = adapter
        .create(&ResourceSpec::from(record_spec(
            "app",
            None,
            a("192.0.2.8"),
        )))
        .await
        .unwrap();
    assert_eq!(
        r1.id().id,
        "conformance.example/app.conformance.example/A/192.0.2.7"
    );
    assert_eq!(
        ask(port, &format!("app.{ZONE}."), Qt::A).texts(),
        vec!["192.0.2.7", "192.0.2.8"]
    );

    // Update one record's content: its set is REPLACEd, the other record stays.
    let updated = adapter
        .update(
            &r1.id(),
            &ResourceSpec::from(record_spec("app", Some(120), a("192.0.2.9"))),
        )
        .await
        .unwrap();
    assert_eq!(
        updated.id().id,
        "conformance.example/app.conformance.example/A/192.0.2.9"
    );
    assert_eq!(
        ask(port, &format!("app.{ZONE}."), Qt::A).texts(),
        vec!["192.0.2.8", "192.0.2.9"]
    );
    assert!(!adapter.observe(&r1.id(), None).await.unwrap().exists());

    // A CNAME next to the A set is refused before any call.
    let err = adapter
        .create(&ResourceSpec::from(record_spec(
            "app",
            None,
            RecordData::CNAME {
                target: ZONE.into(),
            },
        )))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { .. }),
        "{err}"
    );

    // Another tenant cannot add records to this zone, nor see it.
    let other = DnsRecordSpec {
        common: Common {
            tenant: Some("globex".into()),
            ..Default::default()
        },
        ..record_spec("evil", None, a("192.0.2.66"))
    };
    let err = adapter
        .create(&ResourceSpec::from(other))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied);
    let hijack = DnsRecordSpec {
        common: Common {
            tenant: Some("globex".into()),
            ..Default::default()
        },
        ..record_spec("app", None, a("192.0.2.66"))
    };
    let err = adapter
        .update(&r2.id(), &ResourceSpec::from(hijack))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied);
    adapter
        .create(&ResourceSpec::from(zone_spec(
            "globex.example",
            Some("globex"),
        )))
        .await
        .unwrap();
    let acme = adapter
        .list_all(ResourceKind::DnsZone, &ListOptions::for_tenant("acme"))
        .await
        .unwrap();
    assert_eq!(
        acme.iter().map(|r| r.name()).collect::<Vec<_>>(),
        vec![ZONE]
    );
    let globex_records = adapter
        .list_all(ResourceKind::DnsRecord, &ListOptions::for_tenant("globex"))
        .await
        .unwrap();
    assert!(globex_records
        .iter()
        .all(|r| r.as_dns_record().unwrap().zone == "globex.example"));
    // The same zone name for another tenant is not adopted.
    let err = adapter
        .create(&ResourceSpec::from(zone_spec(ZONE, Some("globex"))))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::AlreadyExists);

    // Deleting both records removes the set; the serial moved forward each time.
    adapter.delete(&updated.id()).await.unwrap();
    adapter.delete(&r2.id()).await.unwrap();
    assert_eq!(
        ask(port, &format!("app.{ZONE}."), Qt::A).rcode,
        hickory_proto::op::ResponseCode::NXDomain
    );
    let serial1 = ask(port, &format!("{ZONE}."), Qt::SOA)
        .soa_serial()
        .unwrap();
    assert_eq!(
        stackdock_dns::serial::compare(serial0, serial1),
        Some(std::cmp::Ordering::Less)
    );
    // Paginated listing sees every record exactly once.
    let page = adapter
        .list(
            ResourceKind::DnsRecord,
            &ListOptions {
                page_size: Some(2),
                ..ListOptions::in_parent(ZONE)
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.next_cursor.is_some());
    let all = adapter
        .list_all(ResourceKind::DnsRecord, &ListOptions::in_parent(ZONE))
        .await
        .unwrap();
    let mut ids: Vec<_> = all.iter().map(|r| r.id().id).collect();
    ids.dedup();
    assert_eq!(ids.len(), all.len());
}
