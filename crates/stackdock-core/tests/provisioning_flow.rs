//! Driving an adapter through the provisioning state machine.

use stackdock_core::provisioning::{deprovision, provision, ProvisioningRecord};
use stackdock_core::spec::DatabaseSpec;
use stackdock_core::*;

#[tokio::test]
async fn provision_and_deprovision_record_every_transition_before_each_call() {
    let adapter = InMemoryAdapter::new("t");
    let spec: ResourceSpec = DatabaseSpec {
        name: "shop".into(),
        ..Default::default()
    }
    .into();
    let mut record = ProvisioningRecord::new(ProvisioningSource::Api);
    let mut seen = Vec::new();
    let mut calls_at_transition = Vec::new();
    let resource = provision(&adapter, &spec, &mut record, &mut |r| {
        seen.push(r.state);
        calls_at_transition.push(adapter.remote_calls());
    })
    .await
    .unwrap();
    // "provisioning" was reported before the create reached the provider
    assert_eq!(
        seen,
        [
            ProvisioningState::Provisioning,
            ProvisioningState::Provisioned
        ]
    );
    assert_eq!(calls_at_transition, [0, 1]);
    assert_eq!(record.resource_id, Some(resource.id()));

    deprovision(&adapter, &mut record, &mut |r| seen.push(r.state))
        .await
        .unwrap();
    assert_eq!(record.state, ProvisioningState::Deprovisioned);
    assert!(adapter.is_empty());
    let states: Vec<_> = record.history.iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(states.len(), 4);
}

#[tokio::test]
async fn a_failed_create_records_a_stable_code_and_can_be_retried() {
    let adapter = InMemoryAdapter::new("t");
    adapter.fail_next(
        Operation::Create,
        Error::rate_limited(Some(std::time::Duration::from_secs(1))),
    );
    let spec: ResourceSpec = DatabaseSpec {
        name: "shop".into(),
        ..Default::default()
    }
    .into();
    let mut record = ProvisioningRecord::new(ProvisioningSource::Api);
    let err = provision(&adapter, &spec, &mut record, &mut |_| {})
        .await
        .unwrap_err();
    assert!(err.is_temporary());
    assert_eq!(record.state, ProvisioningState::Failed);
    assert_eq!(record.last_failure().unwrap().code, "rate_limited");
    assert!(adapter.is_empty(), "a failed create left something behind");

    // Failed -> Provisioning is legal: the retry finishes the job.
    provision(&adapter, &spec, &mut record, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(record.state, ProvisioningState::Provisioned);
    assert_eq!(adapter.len(), 1);
}

#[tokio::test]
async fn reconcile_creates_then_leaves_alone_then_updates() {
    let adapter = InMemoryAdapter::new("t");
    let spec: ResourceSpec = DatabaseSpec {
        name: "shop".into(),
        connection_limit: Some(5),
        ..Default::default()
    }
    .into();
    let created = adapter.reconcile(None, &spec).await.unwrap();
    let id = created.id();
    let calls = adapter.remote_calls();
    let same = adapter.reconcile(Some(&id), &spec).await.unwrap();
    assert_eq!(same.id(), id);
    assert_eq!(
        adapter.remote_calls(),
        calls + 1,
        "up-to-date reconcile should only observe"
    );
    let changed: ResourceSpec = DatabaseSpec {
        name: "shop".into(),
        connection_limit: Some(9),
        ..Default::default()
    }
    .into();
    let updated = adapter.reconcile(Some(&id), &changed).await.unwrap();
    assert_eq!(updated.as_database().unwrap().connection_limit, Some(9));
    let obs = adapter.observe(&id, Some(&changed)).await.unwrap();
    assert!(obs.up_to_date);
    let obs = adapter.observe(&id, Some(&spec)).await.unwrap();
    assert!(!obs.up_to_date);
    assert_eq!(obs.diff[0].field, "connection_limit");
}

#[tokio::test]
async fn listing_pages_never_truncate_and_respect_tenancy() {
    let adapter = InMemoryAdapter::new("t");
    for i in 0..125 {
        let mut spec = DatabaseSpec {
            name: format!("db{i:03}"),
            ..Default::default()
        };
        spec.common.tenant = Some(if i % 5 == 0 { "b" } else { "a" }.into());
        adapter.create(&spec.into()).await.unwrap();
    }
    let opts = ListOptions {
        page_size: Some(10),
        ..Default::default()
    };
    let first = adapter.list(ResourceKind::Database, &opts).await.unwrap();
    assert_eq!(first.items.len(), 10);
    assert!(first.next_cursor.is_some());
    let all = adapter
        .list_all(ResourceKind::Database, &opts)
        .await
        .unwrap();
    assert_eq!(all.len(), 125);
    let b = adapter
        .list_all(
            ResourceKind::Database,
            &ListOptions {
                tenant: Some("b".into()),
                page_size: Some(7),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(b.len(), 25);
    assert!(b.iter().all(|r| r.meta().tenant.as_deref() == Some("b")));
}

#[tokio::test]
async fn create_adopts_ours_and_refuses_others() {
    let adapter = InMemoryAdapter::new("t");
    let mut spec = DatabaseSpec {
        name: "shop".into(),
        connection_limit: Some(5),
        ..Default::default()
    };
    spec.common.tenant = Some("a".into());
    let first = adapter.create(&spec.clone().into()).await.unwrap();
    assert_eq!(
        adapter.create(&spec.clone().into()).await.unwrap().id(),
        first.id()
    );
    let mut other_tenant = spec.clone();
    other_tenant.common.tenant = Some("b".into());
    let err = adapter.create(&other_tenant.into()).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::AlreadyExists);
    let mut incompatible = spec;
    incompatible.connection_limit = Some(50);
    let err = adapter.create(&incompatible.into()).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict);
    assert_eq!(err.operation(), Some("create database"));
}

#[tokio::test]
async fn registry_holds_object_safe_adapters() {
    use std::sync::Arc;
    let mut registry = DockRegistry::new();
    registry
        .insert(Arc::new(InMemoryAdapter::new("one")))
        .unwrap();
    registry
        .insert(Arc::new(InMemoryAdapter::new("two")))
        .unwrap();
    assert!(registry
        .insert(Arc::new(InMemoryAdapter::new("one")))
        .is_err());
    assert_eq!(registry.by_provider("memory").count(), 2);
    let adapter = registry.require("two").unwrap();
    adapter.check_credentials().await.unwrap();
    assert!(registry.require("three").unwrap_err().is_not_found());
}
