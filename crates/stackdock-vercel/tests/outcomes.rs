//! Core v2 behaviour of the adapter: created / adopted outcomes, races
//! between processes, the layer's refusals, planned ids and the factory.

mod common;

use std::sync::Arc;

use common::{FakeVercel, TEAM, TOKEN};
use futures::future::join_all;
use stackdock_core::dns::RecordData;
use stackdock_core::factory::{Credentials, DockConfig, DockFactories, DockFactory};
use stackdock_core::layer::standard;
use stackdock_core::secret::SecretString;
use stackdock_core::spec::{Common, DnsRecordSpec, DomainSpec, ResourceSpec, WebServiceSpec};
use stackdock_core::{
    CreateOutcome, DockAdapter, DockAdapterExt, DockRegistry, ErrorKind, ListOptions, ResourceKind,
};
use stackdock_vercel::VercelFactory;

fn record_spec(zone: &str) -> ResourceSpec {
    ResourceSpec::from(DnsRecordSpec {
        zone: zone.into(),
        name: "api".into(),
        ttl: Some(300),
        data: RecordData::A {
            address: [192, 0, 2, 7].into(),
        },
        common: Common::default(),
    })
}

/// Two adapters with separate clients stand in for two processes: the
/// in-process lock does not serialise them, so only the re-read after the
/// add keeps the record single.
#[tokio::test]
async fn record_creates_racing_across_processes_leave_one_record() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    fake.seed_zone("race.example");
    let a = FakeVercel::adapter(&server);
    let b = FakeVercel::adapter(&server);
    let spec = record_spec("race.example");
    let results = join_all((0..20).map(|i| {
        let dock = if i % 2 == 0 { &a } else { &b };
        dock.create(&spec)
    }))
    .await;
    let created: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("every racer succeeds"))
        .collect();
    let records = a
        .list_all(
            ResourceKind::DnsRecord,
            &ListOptions::in_parent("race.example"),
        )
        .await
        .unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(created.iter().all(|c| c.id() == records[0].id()));
    let made = created.iter().filter(|c| c.was_created()).count();
    assert_eq!(made, 1, "exactly one racer made the record");
}

#[tokio::test]
async fn projects_are_created_once_then_adopted_or_refused() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let dock = FakeVercel::adapter(&server);
    let spec = |framework: &str| {
        ResourceSpec::from(WebServiceSpec {
            name: "outcome-web".into(),
            framework: Some(framework.into()),
            ..Default::default()
        })
    };
    let first = dock.create(&spec("nextjs")).await.unwrap();
    assert_eq!(first.outcome, CreateOutcome::Created);
    let second = dock.create(&spec("nextjs")).await.unwrap();
    assert_eq!(second.outcome, CreateOutcome::Adopted);
    assert_eq!(second.id(), first.id());
    let e = dock.create(&spec("astro")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    // Provider-assigned id: no planned id, but `find` locates it by name.
    assert_eq!(dock.planned_id(&spec("nextjs")), None);
    let found = dock.find(&spec("nextjs")).await.unwrap().expect("found");
    assert_eq!(found.id(), first.id());
    assert_eq!(fake.project_count(), 1);
}

#[tokio::test]
async fn account_domain_ids_are_planned() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let dock = standard(Arc::new(FakeVercel::adapter(&server)));
    let spec = ResourceSpec::from(DomainSpec {
        name: "Planned.Example.".into(),
        ..Default::default()
    });
    let planned = dock
        .planned_id(&spec)
        .expect("account domains have planned ids");
    assert_eq!(planned.id, "planned.example");
    let created = dock.create(&spec).await.unwrap();
    assert_eq!(created.id(), planned);
    let attached = ResourceSpec::from(DomainSpec {
        name: "shop.planned.example".into(),
        service_id: Some("some-project".into()),
        ..Default::default()
    });
    assert_eq!(
        dock.planned_id(&attached),
        None,
        "the project may be named, not id'd"
    );
}

#[tokio::test]
async fn the_layer_refuses_tenants_labels_and_filters_before_any_call() {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let dock = standard(Arc::new(FakeVercel::adapter(&server)));
    let common = Common {
        tenant: Some("acme".into()),
        ..Default::default()
    };
    let tenant = ResourceSpec::from(WebServiceSpec {
        name: "tenant-web".into(),
        common,
        ..Default::default()
    });
    let before = fake.calls();
    let e = dock.create(&tenant).await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
    let mut by_label = ListOptions::default();
    by_label.labels.insert("team".into(), "a".into());
    let e = dock
        .list(ResourceKind::WebService, &by_label)
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
    assert_eq!(fake.calls(), before, "refused before any call");
    // Errors carry the endpoint, never the token.
    let e = dock
        .list(ResourceKind::DnsRecord, &ListOptions::default())
        .await
        .unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(text.contains(&server.uri()), "{text}");
    assert!(!text.contains(TOKEN));
}

fn two_docks() -> Vec<DockConfig> {
    serde_json::from_str(&format!(
        r#"[
            {{"id": "vercel-eu", "provider": "vercel",
              "settings": {{"team": {{"id": "{TEAM}"}}, "base_url": "http://127.0.0.1:9", "page_size": 10}},
              "credentials": {{"token": "env:VERCEL_EU_TOKEN"}}}},
            {{"id": "vercel-us", "provider": "vercel",
              "settings": {{"team": {{"slug": "acme-us"}}}},
              "credentials": {{"token": "env:VERCEL_US_TOKEN"}}}}
        ]"#
    ))
    .unwrap()
}

fn token(dock: &str) -> Credentials {
    Credentials::from_values(
        dock,
        [(
            "token".to_owned(),
            SecretString::from(format!("{dock}-token")),
        )],
    )
}

#[tokio::test]
async fn two_docks_of_vercel_from_one_config() {
    let docks = two_docks();
    let factories = DockFactories::new().with(VercelFactory);
    let mut registry = DockRegistry::new();
    for dock in &docks {
        let adapter = factories.build(dock, &token(&dock.id)).unwrap();
        registry.insert(adapter).unwrap();
    }
    assert_eq!(registry.by_provider("vercel").count(), 2);
    let eu = registry.require("vercel-eu").unwrap();
    let us = registry.require("vercel-us").unwrap();
    assert_eq!(eu.endpoint().as_deref(), Some("http://127.0.0.1:9"));
    assert_eq!(us.endpoint().as_deref(), Some("https://api.vercel.com"));
    for dock in [&eu, &us] {
        let debug = format!("{dock:?}");
        assert!(!debug.contains("-token"), "{debug}");
    }
}

#[test]
fn factory_errors_name_the_dock_and_the_key() {
    let docks = two_docks();
    let none = Credentials::from_values("vercel-eu", []);
    let e = VercelFactory.build(&docks[0], &none).unwrap_err();
    assert!(
        e.to_string().contains("vercel-eu") && e.to_string().contains("token"),
        "{e}"
    );
    let mut inline = docks[1].clone();
    inline.settings["token"] = "written-inline".into();
    let e = VercelFactory
        .build(&inline, &token("vercel-us"))
        .unwrap_err();
    assert!(
        e.to_string().contains("vercel-us") && e.to_string().contains("token"),
        "{e}"
    );
    assert!(!e.to_string().contains("written-inline"), "{e}");
    let mut bad = docks[1].clone();
    bad.settings["page_size"] = 500.into();
    let e = VercelFactory.build(&bad, &token("vercel-us")).unwrap_err();
    assert!(
        e.to_string().contains("vercel-us") && e.to_string().contains("page_size"),
        "{e}"
    );
}
