//! Core v2 behaviour of the adapter: created / adopted outcomes, races
//! between processes, the layer's refusals, ids found by natural key and the
//! factory.

mod common;

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use serde_json::json;
use stackdock_core::factory::{Credentials, DockConfig, DockFactories, DockFactory};
use stackdock_core::layer::standard;
use stackdock_core::secret::SecretString;
use stackdock_core::spec::{Common, DomainSpec, ResourceSpec, ServerSpec, WebServiceSpec};
use stackdock_core::{
    CreateOutcome, DockAdapter, DockAdapterExt, DockRegistry, ErrorKind, ListOptions,
};
use stackdock_gridpane::{GridPaneAdapter, GridPaneFactory};

use common::{config_for, FakeGridPane, TOKEN};

fn options(v: serde_json::Value) -> Common {
    Common {
        options: serde_json::from_value(v).unwrap(),
        ..Default::default()
    }
}

fn server_spec() -> ResourceSpec {
    ServerSpec {
        name: "outcome-byo".into(),
        region: Some("Ashburn - VA".into()),
        ipv4: Some("203.0.113.77".into()),
        ..Default::default()
    }
    .into()
}

fn site_spec() -> ResourceSpec {
    WebServiceSpec {
        name: "outcome.example.com".into(),
        server_id: Some("29330".into()),
        common: options(json!({"username": "outcome"})),
        ..Default::default()
    }
    .into()
}

fn domain_spec() -> ResourceSpec {
    DomainSpec {
        name: "outcome-alias.example.com".into(),
        service_id: Some("474559".into()),
        ..Default::default()
    }
    .into()
}

#[tokio::test]
async fn each_kind_is_created_once_then_adopted_and_found_by_name() {
    let (fake, _server, adapter) = common::start_adapter().await;
    for spec in [server_spec(), site_spec(), domain_spec()] {
        let first = adapter.create(&spec).await.unwrap();
        assert_eq!(first.outcome, CreateOutcome::Created, "{spec:?}");
        let again = adapter.create(&spec).await.unwrap();
        assert_eq!(again.outcome, CreateOutcome::Adopted, "{spec:?}");
        assert_eq!(again.id(), first.id());
        // GridPane assigns ids: none is planned, the natural key finds it.
        assert_eq!(adapter.planned_id(&spec), None);
        let found = adapter.find(&spec).await.unwrap().expect("found by name");
        assert_eq!(found.id(), first.id());
    }
    let posts = fake
        .take_mutations()
        .into_iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 3, "one POST per resource");
}

/// Two adapters stand in for two processes: their create locks do not
/// serialise each other, and slow listings make both see "absent", so both
/// send the POST. GridPane refuses the second; the loser looks again and
/// adopts the winner's resource.
#[tokio::test]
async fn creates_racing_across_processes_make_one_resource() {
    let fake = FakeGridPane::seeded();
    let server = fake.start().await;
    fake.lock().slow_lists = Some(Duration::from_millis(150));
    let a = GridPaneAdapter::new(config_for(&server)).unwrap();
    let b = GridPaneAdapter::new(config_for(&server)).unwrap();
    for spec in [server_spec(), site_spec(), domain_spec()] {
        fake.take_requests();
        let results = join_all((0..10).map(|i| {
            let dock = if i % 2 == 0 { &a } else { &b };
            dock.create(&spec)
        }))
        .await;
        let created: Vec<_> = results
            .into_iter()
            .map(|r| r.expect("every racer succeeds"))
            .collect();
        let posts = fake
            .take_mutations()
            .into_iter()
            .filter(|r| r.method == "POST")
            .count();
        assert_eq!(posts, 2, "both processes sent their create: {spec:?}");
        let made = created.iter().filter(|c| c.was_created()).count();
        assert_eq!(made, 1, "exactly one racer made {spec:?}");
        assert!(created.iter().all(|c| c.id() == created[0].id()));
        let same_name = a
            .list_all(spec.kind(), &ListOptions::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.name() == spec.name())
            .count();
        assert_eq!(same_name, 1, "{spec:?}");
    }
}

#[tokio::test]
async fn the_layer_refuses_tenants_and_labels_before_any_call() {
    let (fake, server, adapter) = common::start_adapter().await;
    let dock = standard(Arc::new(adapter));
    let before = fake.calls();
    let mut tenant = server_spec();
    if let ResourceSpec::Server(s) = &mut tenant {
        s.common.tenant = Some("acme".into());
    }
    let e = dock.create(&tenant).await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
    let mut labelled = site_spec();
    if let ResourceSpec::WebService(s) = &mut labelled {
        s.common.labels.insert("team".into(), "a".into());
    }
    let e = dock.create(&labelled).await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Unsupported { .. }), "{e}");
    assert_eq!(fake.calls(), before, "refused before any call");
    // Errors carry the dock and the endpoint, never the token.
    let missing_site = ResourceSpec::from(DomainSpec {
        name: "orphan.example.com".into(),
        service_id: Some("1".into()),
        ..Default::default()
    });
    let e = dock.create(&missing_site).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let text = format!("{e} {e:?}");
    assert!(text.contains(&server.uri()), "{text}");
    assert!(text.contains("dock=gp-test"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
}

fn two_docks() -> Vec<DockConfig> {
    serde_json::from_str(
        r#"[
            {"id": "gp-main", "provider": "gridpane",
             "credentials": {"token": "env:GRIDPANE_MAIN_TOKEN"}},
            {"id": "gp-agency", "provider": "gridpane",
             "settings": {"base_url": "http://127.0.0.1:9/oauth/api/v1", "per_page": 50, "throttle_wait": 5},
             "credentials": {"token": "file:/run/secrets/gridpane-agency"}}
        ]"#,
    )
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
async fn two_docks_of_gridpane_from_one_config() {
    let factories = DockFactories::new().with(GridPaneFactory);
    let mut registry = DockRegistry::new();
    for dock in &two_docks() {
        let adapter = factories.build(dock, &token(&dock.id)).unwrap();
        registry.insert(adapter).unwrap();
    }
    assert_eq!(registry.by_provider("gridpane").count(), 2);
    let main = registry.require("gp-main").unwrap();
    let agency = registry.require("gp-agency").unwrap();
    assert_eq!(
        main.endpoint().as_deref(),
        Some("https://my.gridpane.com/oauth/api/v1")
    );
    assert_eq!(
        agency.endpoint().as_deref(),
        Some("http://127.0.0.1:9/oauth/api/v1")
    );
    for dock in [&main, &agency] {
        let debug = format!("{dock:?}");
        assert!(!debug.contains("-token"), "{debug}");
    }
    // Built without I/O: the agency dock points at a closed port, and only
    // a call finds that out (a typed error naming the dock).
    let e = agency.check_credentials().await.unwrap_err();
    assert!(e.to_string().contains("gp-agency"), "{e}");
}

#[test]
fn factory_errors_name_the_dock_and_the_key() {
    let docks = two_docks();
    let none = Credentials::from_values("gp-main", []);
    let e = GridPaneFactory.build(&docks[0], &none).unwrap_err();
    assert!(
        e.to_string().contains("gp-main") && e.to_string().contains("token"),
        "{e}"
    );
    let mut inline = docks[1].clone();
    inline.settings["token"] = "written-inline".into();
    let e = GridPaneFactory
        .build(&inline, &token("gp-agency"))
        .unwrap_err();
    assert!(
        e.to_string().contains("gp-agency") && e.to_string().contains("token"),
        "{e}"
    );
    assert!(!e.to_string().contains("written-inline"), "{e}");
    let mut bad = docks[1].clone();
    bad.settings["per_page"] = 5000.into();
    let e = GridPaneFactory
        .build(&bad, &token("gp-agency"))
        .unwrap_err();
    assert!(
        e.to_string().contains("gp-agency") && e.to_string().contains("per_page"),
        "{e}"
    );
    let empty = Credentials::from_values(
        "gp-main",
        [("token".to_owned(), SecretString::from(String::new()))],
    );
    let e = GridPaneFactory.build(&docks[0], &empty).unwrap_err();
    assert!(
        e.to_string().contains("gp-main") && e.to_string().contains("token"),
        "{e}"
    );
}
