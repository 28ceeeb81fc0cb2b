//! Snapshots of every request body the crate sends (through the fake, so
//! each body was also accepted by a Cloudflare-shaped handler).

mod common;

use common::{config, fake};
use serde_json::Value;
use stackdock_cloudflare::adapter;
use stackdock_core::dns::RecordData;
use stackdock_core::spec::{DnsRecordSpec, DnsZoneSpec, ResourceSpec};
use stackdock_core::DockAdapter;

fn record(name: &str, ttl: Option<u32>, data: RecordData) -> ResourceSpec {
    ResourceSpec::from(DnsRecordSpec {
        zone: "bodies.example".into(),
        name: name.into(),
        ttl,
        data,
        common: Default::default(),
    })
}

/// `METHOD path` and body of every request that carried one.
fn sent(fake: &stackdock_testkit::fake_rest::FakeRest<common::State>) -> Vec<(String, Value)> {
    let requests = fake
        .requests()
        .into_iter()
        .filter(|(_, _, body)| !body.is_null());
    let id = |path: &str| {
        path.split('/')
            .map(|p| if p.len() == 32 { "{id}" } else { p })
            .collect::<Vec<_>>()
            .join("/")
    };
    requests
        .map(|(method, path, body)| (format!("{method} {}", id(&path)), body))
        .collect()
}

#[tokio::test]
async fn record_and_zone_bodies() {
    let fake = fake();
    fake.state().add_zone("bodies.example");
    let server = fake.start().await;
    let dock = adapter(&config(&server.uri(), None)).unwrap();
    let specs = [
        record(
            "www",
            Some(300),
            RecordData::A {
                address: [192, 0, 2, 1].into(),
            },
        ),
        record(
            "v6",
            None,
            RecordData::AAAA {
                address: "2001:db8::1".parse().unwrap(),
            },
        ),
        record(
            "alias",
            Some(120),
            RecordData::CNAME {
                target: "www.bodies.example".into(),
            },
        ),
        record(
            "@",
            Some(3600),
            RecordData::MX {
                preference: 10,
                exchange: "mail.bodies.example".into(),
            },
        ),
        record(
            "@",
            None,
            RecordData::TXT {
                text: "v=spf1 include:_spf.example \"quoted\" -all".into(),
            },
        ),
        record(
            "_sip._tcp",
            Some(600),
            RecordData::SRV {
                priority: 10,
                weight: 5,
                port: 5060,
                target: "sip.bodies.example".into(),
            },
        ),
        record(
            "@",
            Some(3600),
            RecordData::CAA {
                flags: 0,
                tag: "issue".into(),
                value: "letsencrypt.org".into(),
            },
        ),
    ];
    let mut ids = Vec::new();
    for spec in &specs {
        let made = dock.create(spec).await.unwrap();
        assert!(made.was_created());
        // What was sent reads back as the spec: observe is up to date.
        assert!(
            dock.observe(&made.id(), Some(spec))
                .await
                .unwrap()
                .up_to_date,
            "{spec:?}"
        );
        ids.push(made.id());
    }
    let moved = record(
        "www",
        Some(600),
        RecordData::A {
            address: [192, 0, 2, 2].into(),
        },
    );
    dock.update(&ids[0], &moved).await.unwrap();
    let zone = ResourceSpec::from(DnsZoneSpec {
        name: "new-zone.example".into(),
        ..Default::default()
    });
    dock.create(&zone).await.unwrap();
    insta::assert_json_snapshot!("bodies", sent(&fake));
}
