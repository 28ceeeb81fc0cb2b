//! Driving an adapter through the provisioning state machine.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use stackdock_core::drive::{deprovision, provision, reconcile, rollback, Discard};
use stackdock_core::provisioning::{ProvisioningRecord, Reason};
use stackdock_core::spec::DatabaseSpec;
use stackdock_core::*;

fn shop(limit: i32) -> ResourceSpec {
    DatabaseSpec {
        name: "shop".into(),
        connection_limit: Some(limit),
        ..Default::default()
    }
    .into()
}

#[tokio::test]
async fn provision_and_deprovision_persist_every_transition_before_each_call() {
    let adapter = InMemoryAdapter::new("t");
    let spec = shop(5);
    let mut record = ProvisioningRecord::new(ProvisioningSource::Api);
    let seen = Mutex::new(Vec::new());
    let sink = |r: &ProvisioningRecord| -> Result<()> {
        seen.lock().unwrap().push((r.state, adapter.remote_calls()));
        Ok(())
    };
    let created = provision(&adapter, &spec, &mut record, &sink)
        .await
        .unwrap();
    assert_eq!(created.outcome, CreateOutcome::Created);
    // "provisioning" was persisted after the look (1 call) and before the
    // create reached the provider (2nd call).
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (ProvisioningState::Provisioning, 1),
            (ProvisioningState::Provisioned, 2)
        ]
    );
    assert_eq!(record.resource_id, Some(created.id()));
    assert_eq!(record.outcome, Some(CreateOutcome::Created));
    let reasons: Vec<_> = record.history.iter().map(|t| t.reason).collect();
    assert_eq!(reasons, [Reason::CreateRequested, Reason::Created]);

    deprovision(&adapter, Some(&spec), &mut record, &sink)
        .await
        .unwrap();
    assert_eq!(record.state, ProvisioningState::Deprovisioned);
    assert_eq!(
        record.resource_id, None,
        "a deleted resource's id is cleared"
    );
    assert!(adapter.is_empty());
    // Deprovisioning again is a recorded no-op.
    let calls = adapter.remote_calls();
    deprovision(&adapter, Some(&spec), &mut record, &sink)
        .await
        .unwrap();
    assert_eq!(adapter.remote_calls(), calls);
    assert_eq!(
        record.history.last().unwrap().reason,
        Reason::NothingToDelete
    );
}

#[tokio::test]
async fn a_failed_write_of_intent_stops_the_remote_call() {
    let adapter = InMemoryAdapter::new("t");
    let mut record = ProvisioningRecord::new(ProvisioningSource::Api);
    let refuse = |r: &ProvisioningRecord| -> Result<()> {
        if r.state == ProvisioningState::Provisioning {
            Err(Error::new(ErrorKind::Unavailable).with_message("state store down"))
        } else {
            Ok(())
        }
    };
    let err = provision(&adapter, &shop(5), &mut record, &refuse)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unavailable);
    assert!(adapter.is_empty(), "created without a recorded intent");
    assert_eq!(adapter.remote_calls(), 1, "only the look before the create");
}

#[tokio::test]
async fn a_resource_already_there_is_adopted_without_a_create_and_never_rolled_back() {
    let adapter = InMemoryAdapter::new("t");
    let theirs = adapter.create(&shop(5)).await.unwrap();
    assert!(theirs.was_created());
    let mut record = ProvisioningRecord::new(ProvisioningSource::Api);
    let got = provision(&adapter, &shop(5), &mut record, &Discard)
        .await
        .unwrap();
    assert_eq!(got.outcome, CreateOutcome::Adopted);
    assert_eq!(record.outcome, Some(CreateOutcome::Adopted));
    assert!(!rollback(&adapter, &mut record, &Discard).await.unwrap());
    assert_eq!(adapter.len(), 1, "rollback deleted an adopted resource");
    // Ours is rolled back.
    let mut mine = ProvisioningRecord::new(ProvisioningSource::Api);
    let spec: ResourceSpec = DatabaseSpec {
        name: "mine".into(),
        ..Default::default()
    }
    .into();
    provision(&adapter, &spec, &mut mine, &Discard)
        .await
        .unwrap();
    assert!(rollback(&adapter, &mut mine, &Discard).await.unwrap());
    assert_eq!(adapter.len(), 1);
}

#[tokio::test]
async fn a_record_left_in_provisioning_resumes_by_looking_not_by_creating_again() {
    let adapter = InMemoryAdapter::new("t");
    let spec = shop(5);
    // A crash after the intent was recorded and the create ran, before its
    // reply was: the record says provisioning, the resource exists.
    let mut record = ProvisioningRecord::new(ProvisioningSource::Api);
    let crash = |r: &ProvisioningRecord| -> Result<()> {
        if r.state == ProvisioningState::Provisioned {
            Err(Error::internal("crashed before the outcome was saved"))
        } else {
            Ok(())
        }
    };
    provision(&adapter, &spec, &mut record, &crash)
        .await
        .unwrap_err();
    let mut stored = record.clone();
    stored.state = ProvisioningState::Provisioning; // what the store last saw
    stored.history.pop();
    let creates = AtomicUsize::new(0);
    let count = |r: &ProvisioningRecord| -> Result<()> {
        if r.state == ProvisioningState::Provisioning {
            creates.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    };
    let resumed = provision(&adapter, &spec, &mut stored, &count)
        .await
        .unwrap();
    assert_eq!(adapter.len(), 1, "resume created a second resource");
    assert_eq!(resumed.outcome, CreateOutcome::Created);
    assert_eq!(stored.state, ProvisioningState::Provisioned);
    let reasons: Vec<_> = stored.history.iter().map(|t| t.reason).collect();
    assert_eq!(
        reasons,
        [Reason::CreateRequested, Reason::Resumed, Reason::Created]
    );
}

#[tokio::test]
async fn a_failed_create_records_a_stable_code_and_can_be_retried() {
    let adapter = InMemoryAdapter::new("t");
    adapter.fail_next(
        Operation::Create,
        Error::rate_limited(Some(std::time::Duration::from_secs(1))),
    );
    let spec = shop(5);
    let mut record = ProvisioningRecord::new(ProvisioningSource::Api);
    let err = provision(&adapter, &spec, &mut record, &Discard)
        .await
        .unwrap_err();
    assert!(err.is_temporary());
    assert_eq!(record.state, ProvisioningState::Failed);
    assert_eq!(record.last_failure().unwrap().code, "rate_limited");
    assert!(adapter.is_empty(), "a failed create left something behind");

    // Failed -> Provisioning is legal: the retry finishes the job.
    provision(&adapter, &spec, &mut record, &Discard)
        .await
        .unwrap();
    assert_eq!(record.state, ProvisioningState::Provisioned);
    assert_eq!(adapter.len(), 1);
}

#[tokio::test]
async fn reconcile_leaves_alone_updates_drift_and_recreates_what_vanished() {
    let adapter = InMemoryAdapter::new("t");
    let spec = shop(5);
    let mut record = ProvisioningRecord::new(ProvisioningSource::Api);
    let created = reconcile(&adapter, &spec, &mut record, &Discard)
        .await
        .unwrap();
    let id = created.id();
    let calls = adapter.remote_calls();
    let transitions = record.history.len();
    let same = reconcile(&adapter, &spec, &mut record, &Discard)
        .await
        .unwrap();
    assert_eq!(same.id(), id);
    assert_eq!(adapter.remote_calls(), calls + 1, "up to date: one observe");
    assert_eq!(
        record.history.len(),
        transitions,
        "no transition when nothing changed"
    );

    let updated = reconcile(&adapter, &shop(9), &mut record, &Discard)
        .await
        .unwrap();
    assert_eq!(updated.as_database().unwrap().connection_limit, Some(9));
    let states: Vec<_> = record.history.iter().map(|t| t.to).collect();
    assert!(states.ends_with(&[
        ProvisioningState::Drifted,
        ProvisioningState::Updating,
        ProvisioningState::Provisioned
    ]));

    // Deleted out of band: found missing, created again.
    adapter.delete(&id).await.unwrap();
    let again = reconcile(&adapter, &shop(9), &mut record, &Discard)
        .await
        .unwrap();
    assert_ne!(again.id(), id);
    assert_eq!(adapter.len(), 1);
    let reasons: Vec<_> = record
        .history
        .iter()
        .rev()
        .take(3)
        .map(|t| t.reason)
        .collect();
    assert_eq!(
        reasons,
        [Reason::Created, Reason::CreateRequested, Reason::Vanished]
    );
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

/// Keeps, per persisted transition, the id of the resource handed with it
/// (`None` for a plain `persist`).
#[derive(Default)]
struct ResourceSink(Mutex<Vec<(ProvisioningState, Option<ResourceId>)>>);

#[async_trait::async_trait]
impl drive::TransitionSink for ResourceSink {
    async fn persist(&self, record: &ProvisioningRecord) -> Result<()> {
        self.0.lock().unwrap().push((record.state, None));
        Ok(())
    }

    async fn persist_provisioned(
        &self,
        record: &ProvisioningRecord,
        resource: &Resource,
    ) -> Result<()> {
        self.0
            .lock()
            .unwrap()
            .push((record.state, Some(resource.id())));
        Ok(())
    }
}

#[tokio::test]
async fn every_move_to_provisioned_hands_the_sink_its_resource() {
    let adapter = InMemoryAdapter::new("t");
    let sink = ResourceSink::default();
    let mut record = ProvisioningRecord::new(ProvisioningSource::Api);
    let id = provision(&adapter, &shop(5), &mut record, &sink)
        .await
        .unwrap()
        .id();
    // Drifted -> updated, then adopted by a fresh record.
    reconcile(&adapter, &shop(9), &mut record, &sink)
        .await
        .unwrap();
    let mut adopter = ProvisioningRecord::new(ProvisioningSource::Api);
    provision(&adapter, &shop(9), &mut adopter, &sink)
        .await
        .unwrap();
    let seen = sink.0.lock().unwrap().clone();
    let with_resource: Vec<_> = seen
        .iter()
        .filter(|(state, _)| *state == ProvisioningState::Provisioned)
        .map(|(_, resource)| resource.clone())
        .collect();
    assert_eq!(with_resource, vec![Some(id.clone()); 3], "{seen:?}");
    assert!(seen
        .iter()
        .filter(|(state, _)| *state != ProvisioningState::Provisioned)
        .all(|(_, resource)| resource.is_none()));
}
