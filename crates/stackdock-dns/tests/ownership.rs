//! Zone ownership on both backends: a zone is ours only when its SOA carries
//! our marker; taking over a zone another tool made is explicit and is not
//! "changing everything"; a create killed part-way is completed on retry.

use std::sync::Arc;

use stackdock_core::dns::RecordData;
use stackdock_core::spec::DnsZoneSpec;
use stackdock_core::{DockAdapter, ErrorKind, ResourceId, ResourceKind, ResourceSpec};
use stackdock_dns::model::Zone;
use stackdock_dns::plan::{Ownership, PlanOptions, DEFAULT_OWNER};
use stackdock_dns::{
    AdapterOptions, Dns, DnsAdapter, DnsBackend, PowerDnsClient, PowerDnsConfig, ZoneFileBackend,
    ZoneTemplate,
};
use stackdock_testkit::powerdns::{PowerDns, API_KEY};

/// A zone as another tool (octoDNS, a panel) makes it: `sets` A sets, no markers.
fn foreign_zone(name: &str, sets: usize) -> Zone {
    let mut z = ZoneTemplate::default().build(name, 2024010101).unwrap();
    for i in 0..sets {
        let address = std::net::Ipv4Addr::from(0xC000_0200 + i as u32);
        z.add(&format!("h{i}"), 300, RecordData::A { address })
            .unwrap();
    }
    z
}

/// Make `zone` as a tool without our marker would.
async fn make_foreign<B: DnsBackend>(dns: &Dns<B>, zone: &Zone) {
    let exclusive = PlanOptions::default().with_ownership(Ownership::Exclusive);
    dns.converge(zone, &exclusive).await.unwrap();
    let made = dns.backend().get_zone(&zone.name).await.unwrap().unwrap();
    assert_eq!(made.owner(), None, "made without a marker");
}

fn zone_spec(name: &str) -> ResourceSpec {
    ResourceSpec::from(DnsZoneSpec {
        name: name.into(),
        ..Default::default()
    })
}

async fn foreign_zones_are_not_ours<B: DnsBackend>(backend: Arc<B>) {
    let dns = Dns::from_arc(backend.clone());
    let zone = foreign_zone("foreign.example", 3);
    make_foreign(&dns, &zone).await;
    let adapter = DnsAdapter::from_arc(backend.clone(), AdapterOptions::default());
    let err = adapter
        .create(&zone_spec("foreign.example"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::AlreadyExists, "{err}");
    let id = ResourceId::new(ResourceKind::DnsZone, "foreign.example");
    let err = adapter.delete(&id).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied, "{err}");
    let other_ns = ResourceSpec::from(DnsZoneSpec {
        name: "foreign.example".into(),
        nameservers: vec!["ns9.example.net".into()],
        ..Default::default()
    });
    let err = adapter.update(&id, &other_ns).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied, "{err}");
    let still = backend.get_zone("foreign.example").await.unwrap().unwrap();
    assert_eq!(still.record_count(), zone.record_count(), "nothing deleted");

    // Explicit adoption marks the zone ours without changing what is served.
    let adopting =
        DnsAdapter::from_arc(backend.clone(), AdapterOptions::default().adopting_zones());
    let taken = adopting
        .create(&zone_spec("foreign.example"))
        .await
        .unwrap();
    assert!(!taken.was_created(), "another tool made it: adopted");
    let adopted = backend.get_zone("foreign.example").await.unwrap().unwrap();
    assert_eq!(adopted.owner(), Some(DEFAULT_OWNER));
    for (key, set) in &zone.rrsets {
        if key.rtype != stackdock_core::dns::RecordType::SOA {
            assert_eq!(adopted.rrsets[key].records, set.records, "{key}");
        }
    }
    adapter.delete(&id).await.unwrap();
    assert!(backend.get_zone("foreign.example").await.unwrap().is_none());
    adapter.delete(&id).await.unwrap();
}

async fn taking_over_a_big_zone<B: DnsBackend>(backend: Arc<B>) {
    let dns = Dns::from_arc(backend.clone());
    let zone = foreign_zone("octodns.example", 500);
    make_foreign(&dns, &zone).await;
    let err = dns.plan(&zone, &PlanOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict);
    let message = err.to_string();
    assert!(message.len() < 2_000, "{} bytes: {message}", message.len());
    assert!(message.contains("and 487 more (507 in all)"), "{message}");
    // Adopting only adds markers: not refused by the safety threshold.
    let plan = dns
        .plan(&zone, &PlanOptions::default().adopting())
        .await
        .unwrap();
    assert_eq!(plan.records_touched(), 0, "ownership only");
    dns.apply(&plan).await.unwrap();
    let after = backend.get_zone("octodns.example").await.unwrap().unwrap();
    assert_eq!(after.owner(), Some(DEFAULT_OWNER), "the zone is ours");
    let again = dns.plan(&zone, &PlanOptions::default()).await.unwrap();
    assert!(again.is_empty(), "{again}");
    // Changing served data is still counted.
    let mut fewer = zone.clone();
    fewer
        .rrsets
        .retain(|k, _| !(k.name.starts_with("h1") || k.name.starts_with("h2")));
    let err = dns.plan(&fewer, &PlanOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Refused, "{err}");
}

/// Retrying a create after it died part-way, on a zone left empty (no SOA).
async fn killed_create_is_completed<B: DnsBackend>(backend: Arc<B>, name: &str) {
    let dns = Dns::from_arc(backend.clone());
    let desired = foreign_zone(name, 2);
    let plan = dns.plan(&desired, &PlanOptions::default()).await.unwrap();
    assert!(!plan.create_zone, "the empty zone is there");
    dns.apply(&plan).await.unwrap();
    let made = backend.get_zone(name).await.unwrap().unwrap();
    assert_eq!(made.owner(), Some(DEFAULT_OWNER));
    assert!(dns
        .plan(&desired, &PlanOptions::default())
        .await
        .unwrap()
        .is_empty());
}

/// The same plan, computed before the crash, applied again after it.
async fn retried_create_plan_converges<B: DnsBackend>(backend: Arc<B>, leave_empty: impl Fn(&str)) {
    let dns = Dns::from_arc(backend.clone());
    let desired = foreign_zone("retry.example", 2);
    let plan = dns.plan(&desired, &PlanOptions::default()).await.unwrap();
    assert!(plan.create_zone);
    leave_empty("retry.example"); // the first attempt got as far as an empty zone
    dns.apply(&plan).await.unwrap();
    assert!(dns
        .plan(&desired, &PlanOptions::default())
        .await
        .unwrap()
        .is_empty());
    // A retry when the first attempt had fully succeeded is a no-op success too.
    dns.apply(&plan).await.unwrap();

    // The adapter's create on an empty zone completes it as well.
    leave_empty("adapter.example");
    let adapter = DnsAdapter::from_arc(backend.clone(), AdapterOptions::default());
    let completed = adapter.create(&zone_spec("adapter.example")).await.unwrap();
    assert!(
        completed.was_created(),
        "completing a half-made zone is made by this call"
    );
    let made = backend.get_zone("adapter.example").await.unwrap().unwrap();
    assert_eq!(made.owner(), Some(DEFAULT_OWNER));
    assert!(made.nameservers().len() == 2, "template records added");
}

fn pdns(server: &PowerDns) -> Arc<PowerDnsClient> {
    Arc::new(PowerDnsClient::new(PowerDnsConfig::new(server.api_url(), API_KEY)).unwrap())
}

/// What a pdns_server killed between creating the zone row and its records leaves.
fn pdns_empty_zone(server: &PowerDns, name: &str) {
    let db = server.database();
    let status = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(format!(
            "INSERT INTO domains (name, type, account) VALUES ('{name}', 'NATIVE', '')"
        ))
        .status()
        .unwrap();
    assert!(status.success());
}

fn empty_zone_file(dir: &std::path::Path, name: &str) {
    let path = stackdock_dns::zonefile::path_for(dir, name).unwrap();
    std::fs::write(path, "").unwrap();
}

#[tokio::test]
async fn zone_files_ownership() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(ZoneFileBackend::new(dir.path()).unwrap());
    foreign_zones_are_not_ours(backend.clone()).await;
    taking_over_a_big_zone(backend.clone()).await;
    empty_zone_file(dir.path(), "crashed.example");
    killed_create_is_completed(backend.clone(), "crashed.example").await;
    let path = dir.path().to_path_buf();
    retried_create_plan_converges(backend, move |name| empty_zone_file(&path, name)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn powerdns_ownership() {
    let server = PowerDns::start();
    foreign_zones_are_not_ours(pdns(&server)).await;
    taking_over_a_big_zone(pdns(&server)).await;
    pdns_empty_zone(&server, "crashed.example");
    killed_create_is_completed(pdns(&server), "crashed.example").await;
    retried_create_plan_converges(pdns(&server), |name| pdns_empty_zone(&server, name)).await;
}
