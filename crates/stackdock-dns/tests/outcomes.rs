//! Core v2 behaviour of the adapter: created / adopted outcomes, races
//! between processes, the layer's refusals, planned ids and the factories.

use std::sync::Arc;

use stackdock_core::dns::RecordData;
use stackdock_core::factory::{Credentials, DockConfig, DockFactories, DockFactory};
use stackdock_core::layer::standard;
use stackdock_core::secret::SecretString;
use stackdock_core::spec::{Common, DnsRecordSpec, DnsZoneSpec, ResourceSpec};
use stackdock_core::{
    CreateOutcome, Created, DockAdapter, DockAdapterExt, DockRegistry, ErrorKind, ListOptions,
    ResourceKind,
};
use stackdock_dns::{
    AdapterOptions, DnsAdapter, DnsBackend, PowerDnsClient, PowerDnsConfig, PowerDnsFactory,
    ZoneFileBackend, ZoneFileFactory,
};
use stackdock_testkit::powerdns::{PowerDns, API_KEY};

fn zone_spec(name: &str, nameservers: &[&str]) -> ResourceSpec {
    ResourceSpec::from(DnsZoneSpec {
        name: name.into(),
        nameservers: nameservers.iter().map(|n| n.to_string()).collect(),
        common: Common::default(),
        ..Default::default()
    })
}

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

/// A layered PowerDNS dock with its own client: two of them stand in for
/// two processes (their per-zone locks do not serialise each other).
fn pdns_dock(server: &PowerDns) -> Arc<dyn DockAdapter> {
    let client = PowerDnsClient::new(PowerDnsConfig::new(server.api_url(), API_KEY)).unwrap();
    standard(Arc::new(DnsAdapter::new(client, AdapterOptions::default())))
}

/// `n` creates of `spec`, alternating between `docks`, all at once.
async fn race(docks: &[Arc<dyn DockAdapter>], spec: &ResourceSpec, n: usize) -> Vec<Created> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let dock = docks[i % docks.len()].clone();
        let spec = spec.clone();
        set.spawn(async move { dock.create(&spec).await });
    }
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        out.push(joined.unwrap().expect("every racer succeeds or adopts"));
    }
    out
}

/// Issue 11: processes creating one zone on PowerDNS (SQLite) got a
/// 500 from the UNIQUE constraint. Now the loser looks again and adopts;
/// the server's create is atomic, so exactly one racer reports created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_creates_racing_across_processes_give_one_created() {
    let server = PowerDns::start();
    // Twenty processes, one create each.
    let docks: Vec<_> = (0..20).map(|_| pdns_dock(&server)).collect();
    let spec = zone_spec("race.example", &[]);
    let created = race(&docks, &spec, 20).await;
    let made = created.iter().filter(|c| c.was_created()).count();
    assert_eq!(made, 1, "exactly one racer made the zone");
    assert!(created.iter().all(|c| c.id().id == "race.example"));
    let zones = docks[0]
        .list_all(ResourceKind::DnsZone, &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(zones.len(), 1, "{zones:?}");
}

/// Records racing in one zone across processes converge to one record.
/// (Within one adapter the zone lock also makes exactly one of them
/// `Created`; across processes PowerDNS has no conditional write, so two
/// may both have written the same set: never two records.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_creates_racing_across_processes_leave_one_record() {
    let server = PowerDns::start();
    let docks: Vec<_> = (0..20).map(|_| pdns_dock(&server)).collect();
    docks[0]
        .create(&zone_spec("records.example", &[]))
        .await
        .unwrap();
    let spec = record_spec("records.example");
    let created = race(&docks, &spec, 20).await;
    assert!(created.iter().any(Created::was_created));
    let records: Vec<_> = docks[0]
        .list_all(
            ResourceKind::DnsRecord,
            &ListOptions::in_parent("records.example"),
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.name() == "api.records.example")
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(created.iter().all(|c| c.id() == records[0].id()));
    // One process: exactly one created.
    let one = [docks[0].clone()];
    let spec = ResourceSpec::from(DnsRecordSpec {
        name: "solo".into(),
        ..match record_spec("records.example") {
            ResourceSpec::DnsRecord(r) => r,
            _ => unreachable!(),
        }
    });
    let created = race(&one, &spec, 20).await;
    assert_eq!(created.iter().filter(|c| c.was_created()).count(), 1);
}

/// On both backends: created, then adopted, then a conflicting spec
/// refused; ids are planned before the call.
async fn outcomes_and_planned_ids(dock: Arc<dyn DockAdapter>) {
    let zone = zone_spec("Outcome.Example.", &[]);
    let planned = dock.planned_id(&zone).expect("zone ids are names");
    assert_eq!(planned.id, "outcome.example");
    let first = dock.create(&zone).await.unwrap();
    assert_eq!(first.outcome, CreateOutcome::Created);
    assert_eq!(first.id(), planned);
    let again = dock.create(&zone).await.unwrap();
    assert_eq!(again.outcome, CreateOutcome::Adopted);
    let other_ns = zone_spec("outcome.example", &["ns9.example.net"]);
    let e = dock.create(&other_ns).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");

    let record = record_spec("outcome.example");
    let planned = dock.planned_id(&record).expect("record ids are content");
    assert_eq!(
        planned.id,
        "outcome.example/api.outcome.example/A/192.0.2.7"
    );
    let made = dock.create(&record).await.unwrap();
    assert!(made.was_created());
    assert_eq!(made.id(), planned);
    assert_eq!(
        dock.create(&record).await.unwrap().outcome,
        CreateOutcome::Adopted
    );
    let found = dock.find(&record).await.unwrap().expect("found");
    assert_eq!(found.id(), planned);
    dock.delete(&first.id()).await.unwrap();
}

#[tokio::test]
async fn outcomes_and_planned_ids_on_zone_files() {
    let dir = tempfile::tempdir().unwrap();
    let backend = ZoneFileBackend::new(dir.path()).unwrap();
    let dock = standard(Arc::new(DnsAdapter::new(
        backend,
        AdapterOptions::default(),
    )));
    assert_eq!(
        dock.endpoint().as_deref(),
        Some(dir.path().to_str().unwrap())
    );
    outcomes_and_planned_ids(dock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_and_planned_ids_on_powerdns() {
    let server = PowerDns::start();
    outcomes_and_planned_ids(pdns_dock(&server)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_refuses_labels_and_zone_parents_before_any_call() {
    let server = PowerDns::start();
    let client = PowerDnsClient::new(PowerDnsConfig::new(server.api_url(), API_KEY)).unwrap();
    let raw = Arc::new(DnsAdapter::new(client, AdapterOptions::default()));
    let dock = standard(raw.clone());
    let mut common = Common::default();
    common.labels.insert("team".into(), "web".into());
    let labelled = ResourceSpec::from(DnsZoneSpec {
        name: "labels.example".into(),
        nameservers: Vec::new(),
        common,
        ..Default::default()
    });
    let before = raw.backend().remote_calls();
    let e = dock.create(&labelled).await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
    let mut by_label = ListOptions::default();
    by_label.labels.insert("team".into(), "web".into());
    let e = dock
        .list(ResourceKind::DnsRecord, &by_label)
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
    let e = dock
        .list(ResourceKind::DnsZone, &ListOptions::in_parent("example"))
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
    assert_eq!(
        raw.backend().remote_calls(),
        before,
        "refused before any call"
    );
    // Errors carry the endpoint, never the key.
    let e = dock
        .update(
            &stackdock_core::ResourceId::new(ResourceKind::DnsZone, "absent.example"),
            &zone_spec("absent.example", &[]),
        )
        .await
        .unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(text.contains(&server.api_url()), "{text}");
    assert!(!text.contains(API_KEY), "{text}");
}

fn two_of_each(dir: &std::path::Path) -> Vec<DockConfig> {
    serde_json::from_value(serde_json::json!([
        {"id": "dns-eu", "provider": "powerdns",
         "settings": {"url": "http://127.0.0.1:9", "adapter": {"page_size": 50}},
         "credentials": {"api_key": "env:PDNS_EU_API_KEY"}},
        {"id": "dns-us", "provider": "powerdns",
         "settings": {"url": "https://pdns.us.example:8081", "server_id": "localhost"},
         "credentials": {"api_key": "env:PDNS_US_API_KEY"}},
        {"id": "zones-a", "provider": "zonefile",
         "settings": {"directory": dir.join("a")}},
        {"id": "zones-b", "provider": "zonefile",
         "settings": {"directory": dir.join("b"), "adapter": {"owner": "team-b"}}}
    ]))
    .unwrap()
}

fn key(dock: &str) -> Credentials {
    Credentials::from_values(
        dock,
        [(
            "api_key".to_owned(),
            SecretString::from(format!("{dock}-api-key")),
        )],
    )
}

#[tokio::test]
async fn two_docks_of_each_backend_from_one_config() {
    let dir = tempfile::tempdir().unwrap();
    let factories = DockFactories::new()
        .with(PowerDnsFactory)
        .with(ZoneFileFactory);
    let mut registry = DockRegistry::new();
    for dock in &two_of_each(dir.path()) {
        registry
            .insert(factories.build(dock, &key(&dock.id)).unwrap())
            .unwrap();
    }
    assert_eq!(registry.by_provider("powerdns").count(), 2);
    assert_eq!(registry.by_provider("zonefile").count(), 2);
    let eu = registry.require("dns-eu").unwrap();
    let us = registry.require("dns-us").unwrap();
    assert_eq!(eu.endpoint().as_deref(), Some("http://127.0.0.1:9"));
    assert_eq!(
        us.endpoint().as_deref(),
        Some("https://pdns.us.example:8081")
    );
    assert_eq!(eu.capabilities().arguments.max_page_size, Some(50));
    for dock in [&eu, &us] {
        let debug = format!("{dock:?}");
        assert!(!debug.contains("-api-key"), "{debug}");
    }
    // Building made no directory; the first call does.
    assert!(!dir.path().join("a").exists());
    let b = registry.require("zones-b").unwrap();
    let made = b.create(&zone_spec("b.example", &[])).await.unwrap();
    assert!(made.was_created());
    assert_eq!(made.meta().reference.dock_id, "zones-b");
    assert!(dir.path().join("b").join("b.example.zone").exists());
    let a = registry.require("zones-a").unwrap();
    let zones = a
        .list_all(ResourceKind::DnsZone, &ListOptions::default())
        .await
        .unwrap();
    assert!(zones.is_empty(), "docks do not share a directory");
}

#[test]
fn factory_errors_name_the_dock_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let docks = two_of_each(dir.path());
    let none = Credentials::from_values("dns-eu", []);
    let e = PowerDnsFactory.build(&docks[0], &none).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("dns-eu") && text.contains("api_key"), "{e}");
    let mut inline = docks[1].clone();
    inline.settings["api_key"] = "written-inline".into();
    let e = PowerDnsFactory.build(&inline, &key("dns-us")).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("dns-us") && text.contains("api_key"), "{e}");
    assert!(!text.contains("written-inline"), "{e}");
    let mut bad = docks[1].clone();
    bad.settings["url"] = "ftp://pdns.example".into();
    let e = PowerDnsFactory.build(&bad, &key("dns-us")).unwrap_err();
    assert!(
        e.to_string().contains("dns-us") && e.to_string().contains("url"),
        "{e}"
    );
    let mut bad = docks[3].clone();
    bad.settings["adapter"]["page_size"] = 0.into();
    let e = ZoneFileFactory.build(&bad, &key("zones-b")).unwrap_err();
    assert!(
        e.to_string().contains("zones-b") && e.to_string().contains("page_size"),
        "{e}"
    );
    let mut missing = docks[2].clone();
    missing.settings = serde_json::json!({});
    let e = ZoneFileFactory
        .build(&missing, &key("zones-a"))
        .unwrap_err();
    assert!(
        e.to_string().contains("zones-a") && e.to_string().contains("directory"),
        "{e}"
    );
}

#[test]
fn powerdns_config_from_prefixed_environment() {
    // Names unique to this test: no other test reads them.
    std::env::set_var("STACKDOCK_TEST_PDNS_EU_URL", "http://10.0.0.5:8081");
    std::env::set_var("STACKDOCK_TEST_PDNS_EU_API_KEY", "eu-key");
    let config = PowerDnsConfig::from_env_prefixed("STACKDOCK_TEST_PDNS_EU_").unwrap();
    assert_eq!(config.url, "http://10.0.0.5:8081");
    let e = PowerDnsConfig::from_env_prefixed("STACKDOCK_TEST_PDNS_NONE_").unwrap_err();
    assert!(
        e.to_string().contains("STACKDOCK_TEST_PDNS_NONE_URL"),
        "{e}"
    );
}
