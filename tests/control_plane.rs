//! What an application built on the facade does: several docks in one
//! registry, an inventory across all of them, tenant isolation, and the
//! conformance suite run through the facade's re-exports.

use std::sync::Arc;

use futures::future::try_join_all;
use stackdock::spec::*;
use stackdock::*;
use stackdock_testkit::{memory_fixtures, Harness};

async fn seed(adapter: &InMemoryAdapter, tenant: &str, n: usize) {
    for i in 0..n {
        let spec = DatabaseSpec {
            name: format!("{tenant}_db{i}"),
            common: Common {
                tenant: Some(tenant.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        adapter.create(&spec.into()).await.unwrap();
    }
}

#[tokio::test]
async fn inventory_across_docks_keeps_tenants_apart() {
    let eu = Arc::new(InMemoryAdapter::new("eu"));
    let us = Arc::new(InMemoryAdapter::new("us"));
    seed(&eu, "acme", 30).await;
    seed(&eu, "globex", 5).await;
    seed(&us, "acme", 12).await;
    let mut registry = DockRegistry::new();
    registry.insert(eu).unwrap();
    registry.insert(us).unwrap();

    let options = ListOptions {
        tenant: Some("acme".into()),
        page_size: Some(7),
        ..Default::default()
    };
    let per_dock = try_join_all(registry.iter().map(|(_, dock)| {
        let options = options.clone();
        async move { dock.list_all(ResourceKind::Database, &options).await }
    }))
    .await
    .unwrap();
    let all: Vec<Resource> = per_dock.into_iter().flatten().collect();
    assert_eq!(all.len(), 42);
    assert!(all
        .iter()
        .all(|r| r.meta().tenant.as_deref() == Some("acme")));
    let docks: std::collections::BTreeSet<_> = all
        .iter()
        .map(|r| r.meta().reference.dock_id.clone())
        .collect();
    assert_eq!(docks.into_iter().collect::<Vec<_>>(), ["eu", "us"]);
}

#[tokio::test]
async fn conformance_through_the_facade() {
    let adapter = Arc::new(InMemoryAdapter::new("facade"));
    let counter = adapter.clone();
    let report = Harness::new(adapter)
        .fixtures(memory_fixtures())
        .remote_calls(move || counter.remote_calls())
        .run()
        .await;
    // `run` panics on any failure; the seven memory fixtures each went
    // through the lifecycle with one resource.
    assert_eq!(report.count("lifecycle"), 7, "{report}");
    assert_eq!(report.touched_by("lifecycle"), 7, "{report}");
    assert_eq!(report.touched_by("create_twice"), 7, "{report}");
}
