//! Zone templates per spec: two tenants' zones on one dock, each with its
//! own apex address, without a dock per tenant (issue 11).

use stackdock_core::layer::standard;
use stackdock_core::spec::{DnsZoneSpec, ResourceSpec, ZoneDefaults};
use stackdock_dns::{AdapterOptions, ZoneFileAdapter, ZoneFileBackend};

fn zone(name: &str, defaults: Option<ZoneDefaults>) -> ResourceSpec {
    DnsZoneSpec {
        name: name.into(),
        template: defaults,
        ..Default::default()
    }
    .into()
}

#[tokio::test]
async fn each_zone_spec_can_bring_its_own_apex_address_and_mx() {
    let dir = tempfile::tempdir().unwrap();
    let dock = standard(std::sync::Arc::new(ZoneFileAdapter::new(
        ZoneFileBackend::new(dir.path()).unwrap(),
        AdapterOptions::default(),
    )));
    let a = ZoneDefaults {
        apex_ipv4: Some([203, 0, 113, 10].into()),
        www_cname: Some(false),
        mx: Some("Mail.Provider.Example.".into()),
    };
    dock.create(&zone("tenant-a.example", Some(a)))
        .await
        .unwrap();
    dock.create(&zone("tenant-b.example", None)).await.unwrap();
    let read =
        |name: &str| std::fs::read_to_string(dir.path().join(format!("{name}.zone"))).unwrap();
    let a = read("tenant-a.example");
    let b = read("tenant-b.example");
    assert!(a.contains("203.0.113.10"), "{a}");
    assert!(
        !a.contains("192.0.2.1"),
        "the dock's default leaked into A: {a}"
    );
    assert!(a.contains("mail.provider.example."), "{a}");
    assert!(!a.lines().any(|l| l.starts_with("www")), "{a}");
    // The other zone keeps the dock's template.
    assert!(
        b.contains("192.0.2.1") && b.lines().any(|l| l.starts_with("www")),
        "{b}"
    );
    // A bad MX host in the template is refused before anything is written.
    let bad = ZoneDefaults {
        mx: Some("not a host".into()),
        ..Default::default()
    };
    assert!(dock
        .create(&zone("tenant-c.example", Some(bad)))
        .await
        .is_err());
    assert!(!dir.path().join("tenant-c.example.zone").exists());
}
