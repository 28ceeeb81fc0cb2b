//! Against a real, throwaway PowerDNS (`stackdock_testkit::powerdns`): what the crate writes
//! is what the server answers over DNS.

use std::cmp::Ordering;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType as Qt;
use stackdock_core::dns::{RecordData, RecordType};
use stackdock_core::ErrorKind;
use stackdock_dns::model::{RecordSet, Zone, ZoneTemplate};
use stackdock_dns::plan::{Change, Ownership, PlanOptions};
use stackdock_dns::{serial, Dns, DnsBackend, PowerDnsClient, PowerDnsConfig};
use stackdock_testkit::powerdns::{ask, PowerDns, API_KEY};

fn client(server: &PowerDns) -> PowerDnsClient {
    PowerDnsClient::new(PowerDnsConfig::new(server.api_url(), API_KEY)).unwrap()
}

fn a(s: &str) -> RecordData {
    RecordData::A {
        address: s.parse().unwrap(),
    }
}

fn site_zone(name: &str, www: &str) -> Zone {
    let mut z = ZoneTemplate::default()
        .build(name, serial::next_today(0))
        .unwrap();
    z.add("www", 300, a(www)).unwrap();
    // www is a CNAME in the template; the A above would clash: replace the set.
    z.rrsets.remove(&stackdock_dns::RecordSetKey::new(
        format!("www.{name}"),
        RecordType::CNAME,
    ));
    z.add(
        "api",
        300,
        RecordData::AAAA {
            address: "2001:db8::10".parse().unwrap(),
        },
    )
    .unwrap();
    z.add(
        "_sip._tcp",
        300,
        RecordData::SRV {
            priority: 10,
            weight: 5,
            port: 5060,
            target: format!("sip.{name}"),
        },
    )
    .unwrap();
    z.add(
        "@",
        300,
        RecordData::CAA {
            flags: 0,
            tag: "issue".into(),
            value: "letsencrypt.org".into(),
        },
    )
    .unwrap();
    z.add(
        "long",
        300,
        RecordData::TXT {
            text: format!("v=test \"quoted\" {}", "x".repeat(400)),
        },
    )
    .unwrap();
    z.add(
        "odd",
        300,
        RecordData::TXT {
            text: "héllo \\ \"q\" ; (x) €".into(),
        },
    )
    .unwrap();
    z
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_answers_follow_plan_and_apply() {
    let server = PowerDns::start();
    let dns = Dns::new(client(&server));
    let port = server.dns_port;
    let mut desired = site_zone("example.com", "192.0.2.10");

    let created = dns
        .converge(&desired, &PlanOptions::default())
        .await
        .unwrap();
    assert!(created.create_zone);

    let answer = ask(port, "www.example.com.", Qt::A);
    assert_eq!(answer.rcode, ResponseCode::NoError);
    assert!(answer.authoritative);
    assert_eq!(answer.texts(), vec!["192.0.2.10"]);
    assert_eq!(
        ask(port, "api.example.com.", Qt::AAAA).texts(),
        vec!["2001:db8::10"]
    );
    assert_eq!(
        ask(port, "example.com.", Qt::MX).texts(),
        vec!["10 example.com."]
    );
    assert_eq!(
        ask(port, "example.com.", Qt::NS).texts(),
        vec!["ns1.example.com.", "ns2.example.com."]
    );
    assert_eq!(
        ask(port, "_sip._tcp.example.com.", Qt::SRV).texts(),
        vec!["10 5 5060 sip.example.com."]
    );
    assert_eq!(
        ask(port, "long.example.com.", Qt::TXT).txt(),
        vec![format!("v=test \"quoted\" {}", "x".repeat(400))],
        "TXT longer than 255 bytes is split into strings and joined back"
    );
    assert_eq!(
        ask(port, "odd.example.com.", Qt::TXT).txt(),
        vec!["héllo \\ \"q\" ; (x) €"]
    );
    // PowerDNS re-renders content; reading it back must give the same model (no phantom diff).
    assert!(dns
        .plan(&desired, &PlanOptions::default())
        .await
        .unwrap()
        .is_empty());
    let serial1 = ask(port, "example.com.", Qt::SOA).soa_serial().unwrap();

    // Change one record, delete one, add one.
    desired.rrsets.remove(&stackdock_dns::RecordSetKey::new(
        "api.example.com",
        RecordType::AAAA,
    ));
    desired.rrsets.remove(&stackdock_dns::RecordSetKey::new(
        "www.example.com",
        RecordType::A,
    ));
    desired.add("www", 600, a("192.0.2.20")).unwrap();
    desired.add("www", 600, a("192.0.2.21")).unwrap();
    desired
        .add(
            "blog",
            300,
            RecordData::CNAME {
                target: "www.example.com".into(),
            },
        )
        .unwrap();
    let plan = dns.plan(&desired, &PlanOptions::default()).await.unwrap();
    assert_eq!(plan.counts(), (1, 1, 1), "{plan}");
    let calls = dns.backend().remote_calls();
    dns.apply(&plan).await.unwrap();
    assert_eq!(
        dns.backend().remote_calls() - calls,
        1,
        "one PATCH for the whole plan"
    );

    assert_eq!(
        ask(port, "www.example.com.", Qt::A).texts(),
        vec!["192.0.2.20", "192.0.2.21"]
    );
    let gone = ask(port, "api.example.com.", Qt::AAAA);
    assert_eq!(gone.rcode, ResponseCode::NXDomain);
    assert!(gone.records.is_empty());
    assert_eq!(
        ask(port, "blog.example.com.", Qt::CNAME).texts(),
        vec!["www.example.com."]
    );
    let serial2 = ask(port, "example.com.", Qt::SOA).soa_serial().unwrap();
    assert_eq!(
        serial::compare(serial1, serial2),
        Some(Ordering::Less),
        "{serial1} -> {serial2}"
    );
    assert_eq!(
        serial2 / 100,
        serial::day_base(chrono::Utc::now().date_naive()) / 100,
        "YYYYMMDDnn of today"
    );

    // Converging again changes nothing and makes no remote change.
    let again = dns.plan(&desired, &PlanOptions::default()).await.unwrap();
    assert!(again.is_empty(), "{again}");
    let calls = dns.backend().remote_calls();
    dns.apply(&again).await.unwrap();
    assert_eq!(
        dns.backend().remote_calls(),
        calls,
        "an empty plan makes no call"
    );
    assert_eq!(
        ask(port, "example.com.", Qt::SOA).soa_serial(),
        Some(serial2),
        "serial unchanged"
    );

    assert!(dns.backend().delete_zone("example.com").await.unwrap());
    assert!(
        !dns.backend().delete_zone("example.com").await.unwrap(),
        "idempotent"
    );
    assert_eq!(
        ask(port, "www.example.com.", Qt::A).rcode,
        ResponseCode::Refused
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_and_safety_threshold() {
    let server = PowerDns::start();
    let dns = Dns::new(client(&server));
    let port = server.dns_port;
    let mut desired = Zone::new("shared.example").unwrap();
    for i in 0..12 {
        desired
            .add(&format!("h{i}"), 300, a(&format!("192.0.2.{i}")))
            .unwrap();
    }
    dns.converge(&desired, &PlanOptions::default())
        .await
        .unwrap();

    // Another tool's records in the same zone: unmarked, and marked by someone else.
    let foreign = RecordSet::new(
        "shared.example",
        "dkim._domainkey",
        300,
        vec![RecordData::TXT {
            text: "v=DKIM1; p=abc".into(),
        }],
    )
    .unwrap();
    let acme = RecordSet::new(
        "shared.example",
        "_acme-challenge",
        60,
        vec![RecordData::TXT {
            text: "token".into(),
        }],
    )
    .unwrap()
    .owned_by("certbot");
    dns.backend()
        .apply_changes("shared.example", &[Change::Add(foreign), Change::Add(acme)])
        .await
        .unwrap();

    // Removing 3 of 12 of ours (25%) is allowed and leaves the foreign records alone.
    for i in 0..3 {
        desired.rrsets.remove(&stackdock_dns::RecordSetKey::new(
            format!("h{i}.shared.example"),
            RecordType::A,
        ));
    }
    let plan = dns
        .converge(&desired, &PlanOptions::default())
        .await
        .unwrap();
    assert_eq!(plan.counts(), (0, 0, 3), "{plan}");
    assert_eq!(
        ask(port, "h0.shared.example.", Qt::A).rcode,
        ResponseCode::NXDomain
    );
    assert_eq!(
        ask(port, "dkim._domainkey.shared.example.", Qt::TXT).txt(),
        vec!["v=DKIM1; p=abc"]
    );
    assert_eq!(
        ask(port, "_acme-challenge.shared.example.", Qt::TXT).txt(),
        vec!["token"]
    );

    // Wanting a name another tool holds is a conflict, not a silent takeover.
    let mut grab = desired.clone();
    grab.add(
        "_acme-challenge",
        60,
        RecordData::TXT {
            text: "mine".into(),
        },
    )
    .unwrap();
    let err = dns.plan(&grab, &PlanOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict);

    // Deleting 6 of the 11 records left (> 30%) is refused...
    let before = ask(port, "shared.example.", Qt::SOA).soa_serial().unwrap();
    let mut shrink = desired.clone();
    for i in 3..9 {
        shrink.rrsets.remove(&stackdock_dns::RecordSetKey::new(
            format!("h{i}.shared.example"),
            RecordType::A,
        ));
    }
    let calls = dns.backend().remote_calls();
    let err = dns
        .converge(&shrink, &PlanOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Refused, "{err}");
    assert_eq!(
        dns.backend().remote_calls() - calls,
        1,
        "only the read happened"
    );
    assert_eq!(
        ask(port, "h5.shared.example.", Qt::A).texts(),
        vec!["192.0.2.5"]
    );
    // ...and force proceeds.
    dns.converge(&shrink, &PlanOptions::default().forced())
        .await
        .unwrap();
    assert_eq!(
        ask(port, "h5.shared.example.", Qt::A).rcode,
        ResponseCode::NXDomain
    );
    assert_eq!(
        ask(port, "h10.shared.example.", Qt::A).texts(),
        vec!["192.0.2.10"]
    );
    assert_eq!(
        ask(port, "dkim._domainkey.shared.example.", Qt::TXT).txt(),
        vec!["v=DKIM1; p=abc"]
    );
    let after = ask(port, "shared.example.", Qt::SOA).soa_serial().unwrap();
    assert_eq!(serial::compare(before, after), Some(Ordering::Less));

    // Exclusive ownership manages everything (the SOA aside).
    let plan = dns
        .plan(
            &shrink,
            &PlanOptions::default()
                .with_ownership(Ownership::Exclusive)
                .forced(),
        )
        .await
        .unwrap();
    assert_eq!(plan.counts().2, 2, "both foreign sets would go: {plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenancy_and_error_mapping() {
    let server = PowerDns::start();
    let backend = client(&server);
    let mut z1 = Zone::new("one.example").unwrap().with_tenant("tenant-a");
    z1.add("www", 300, a("192.0.2.1")).unwrap();
    let z2 = Zone::new("two.example").unwrap().with_tenant("tenant-b");
    let z3 = Zone::new("three.example").unwrap();
    for z in [&z1, &z2, &z3] {
        backend.create_zone(z).await.unwrap();
    }
    let names =
        |v: Vec<stackdock_dns::ZoneSummary>| v.into_iter().map(|z| z.name).collect::<Vec<_>>();
    assert_eq!(
        names(backend.list_zones(Some("tenant-a")).await.unwrap()),
        vec!["one.example"]
    );
    assert_eq!(
        names(backend.list_zones(Some("tenant-b")).await.unwrap()),
        vec!["two.example"]
    );
    assert!(backend
        .list_zones(Some("tenant-c"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(backend.list_zones(None).await.unwrap().len(), 3);
    let got = backend.get_zone("one.example").await.unwrap().unwrap();
    assert_eq!(got.tenant.as_deref(), Some("tenant-a"));
    assert_eq!(
        got.get("www.one.example", RecordType::A).unwrap().records,
        vec![a("192.0.2.1")]
    );

    // Reading only the sets at one name (server-side rrset_name filter).
    let at = backend
        .get_zone_at("one.example", &["www.one.example"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(at.rrsets.len(), 1);
    assert_eq!(at.tenant.as_deref(), Some("tenant-a"));
    assert!(backend
        .get_zone_at("missing.example", &["x.missing.example"])
        .await
        .unwrap()
        .is_none());

    // 409: exists.
    let err = backend.create_zone(&z1).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::AlreadyExists, "{err}");
    // 404: missing zone, on read (None), on delete (false) and on PATCH (NotFound).
    assert!(backend.get_zone("missing.example").await.unwrap().is_none());
    assert!(!backend.delete_zone("missing.example").await.unwrap());
    let add =
        Change::Add(RecordSet::new("missing.example", "x", 60, vec![a("192.0.2.9")]).unwrap());
    let err = backend
        .apply_changes("missing.example", std::slice::from_ref(&add))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound, "{err}");
    // 422 with PowerDNS's message kept: a CNAME next to existing data (sent raw, bypassing our checks).
    let clash = Change::Add(
        RecordSet::new(
            "one.example",
            "www",
            60,
            vec![RecordData::CNAME {
                target: "one.example".into(),
            }],
        )
        .unwrap(),
    );
    let err = backend
        .apply_changes("one.example", &[clash])
        .await
        .unwrap_err();
    match err.kind() {
        ErrorKind::InvalidInput { reason, .. } => {
            assert!(reason.to_lowercase().contains("cname"), "{reason}")
        }
        other => panic!("expected InvalidInput, got {other:?}: {err}"),
    }
    // 401: wrong key, and the key never shows in errors or Debug.
    let wrong =
        PowerDnsClient::new(PowerDnsConfig::new(server.api_url(), "wrong-key-123")).unwrap();
    let err = wrong.list_zones(None).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthenticated, "{err}");
    assert!(!format!("{err} {err:?} {wrong:?} {backend:?}").contains("wrong-key-123"));
    assert!(!format!("{backend:?}").contains(API_KEY));
    backend.check().await.unwrap();
}
