//! Site backups through `Arc<dyn DockAdapter>` from the registry (issue 12
//! item 20): list, take, restore, delete and schedule changes against the
//! GridPane fake, with the exact request bodies GridPane documents.

mod common;

use std::sync::Arc;

use serde_json::json;
use stackdock_core::extension::{
    BackupFrequency, BackupRef, BackupSchedule, BackupTrigger, NewBackup,
};
use stackdock_core::{DockAdapter, DockAdapterExt, ErrorKind, ResourceId, ResourceKind};
use wiremock::MockServer;

const SITE: &str = "474559";

async fn dock() -> (common::FakeGridPane, MockServer, Arc<dyn DockAdapter>) {
    common::registry_dock().await
}

fn site() -> ResourceId {
    ResourceId::new(ResourceKind::WebService, SITE)
}

#[tokio::test]
async fn backups_are_taken_listed_restored_and_deleted_through_the_registry() {
    let (fake, _server, dock) = dock().await;
    let backups = dock.require_backups().unwrap();
    backups
        .create_backup(&site(), &NewBackup::local().with_tag("pre-deploy"))
        .await
        .unwrap();
    backups
        .create_backup(&site(), &NewBackup::remote("7627"))
        .await
        .unwrap();
    let listed = backups.list_backups(&site()).await.unwrap();
    assert_eq!(listed.len(), 2);
    // Newest first; each names what restore and purge take.
    assert_eq!(
        listed[0].backup,
        BackupRef::new("2026-11-23 10:02", "aws-s3", BackupTrigger::Manual)
    );
    let tagged = BackupRef::new(
        "2026-11-23 10:01 pre-deploy",
        "local",
        BackupTrigger::Manual,
    );
    assert_eq!(listed[1].backup, tagged);
    assert_eq!(listed[1].tag.as_deref(), Some("pre-deploy"));
    fake.take_requests();

    backups.restore_backup(&site(), &tagged).await.unwrap();
    let sent = fake.take_mutations();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method, "POST");
    assert_eq!(
        sent[0].path,
        format!("{}/backups/restore/{SITE}", common::PREFIX)
    );
    assert_eq!(
        sent[0].body,
        json!({"backup_source": "local", "source_type": "original",
               "backup_type": "manual", "backup": "2026-11-23 10:01 pre-deploy"})
    );
    assert_eq!(fake.lock().restores.len(), 1);

    backups.delete_backup(&site(), &tagged).await.unwrap();
    let sent = fake.take_mutations();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method, "PUT");
    assert_eq!(
        sent[0].path,
        format!("{}/backups/purge/{SITE}", common::PREFIX)
    );
    assert_eq!(
        sent[0].body,
        json!({"backup_source": "local", "backup_type": "manual",
               "backup": "2026-11-23 10:01 pre-deploy"})
    );
    assert_eq!(backups.list_backups(&site()).await.unwrap().len(), 1);
    // Deleting what is gone succeeds and purges nothing.
    backups.delete_backup(&site(), &tagged).await.unwrap();
    assert!(fake.take_mutations().is_empty());
}

#[tokio::test]
async fn schedule_changes_send_the_documented_body_and_are_idempotent() {
    let (fake, _server, dock) = dock().await;
    let backups = dock.require_backups().unwrap();
    let schedules = backups.backup_schedules(&site()).await.unwrap();
    assert_eq!(
        schedules,
        vec![
            BackupSchedule {
                id: "59474".into(),
                storage: "local".into(),
                frequency: BackupFrequency::Weekly {
                    weekday: 0,
                    hour: 5,
                    minute: 0
                },
            },
            BackupSchedule {
                id: "59475".into(),
                storage: "aws-s3".into(),
                frequency: BackupFrequency::Weekly {
                    weekday: 0,
                    hour: 6,
                    minute: 0
                },
            },
        ]
    );
    let mut monthly = schedules[1].clone();
    monthly.frequency = BackupFrequency::Monthly {
        day: 1,
        hour: 0,
        minute: 0,
    };
    let mut hourly = schedules[0].clone();
    hourly.frequency = BackupFrequency::Hourly { minute: 30 };
    fake.take_requests();
    for _ in 0..2 {
        backups
            .set_backup_schedule(&site(), &monthly)
            .await
            .unwrap();
    }
    backups.set_backup_schedule(&site(), &hourly).await.unwrap();
    let sent = fake.take_mutations();
    let path = format!("{}/backups/schedule/site/{SITE}", common::PREFIX);
    assert!(sent.iter().all(|r| r.method == "PUT" && r.path == path));
    let monthly_body =
        json!({"id": 59475, "bup_schedule": "monthly", "minute": 0, "hour": 0, "day": 1});
    assert_eq!(sent[0].body, monthly_body);
    assert_eq!(sent[1].body, monthly_body);
    assert_eq!(
        sent[2].body,
        json!({"id": 59474, "bup_schedule": "hourly", "minute": 30})
    );
    let now = backups.backup_schedules(&site()).await.unwrap();
    assert_eq!(now[0].frequency, hourly.frequency);
    assert_eq!(now[1].frequency, monthly.frequency);
}

#[tokio::test]
async fn invalid_backup_calls_send_nothing() {
    let (fake, _server, dock) = dock().await;
    let backups = dock.require_backups().unwrap();
    let before = fake.calls();
    let good = BackupRef::new("2026-11-23 10:01", "local", BackupTrigger::Manual);
    let errors = [
        // Not a GridPane backup_source.
        backups
            .restore_backup(
                &site(),
                &BackupRef::new("2026-11-23 10:01", "remote", BackupTrigger::Manual),
            )
            .await
            .unwrap_err(),
        // Not GridPane's "YYYY-MM-DD HH:MM[ tag]".
        backups
            .delete_backup(
                &site(),
                &BackupRef::new("latest; rm -rf /", "local", BackupTrigger::Manual),
            )
            .await
            .unwrap_err(),
        // Not a site, not a GridPane id.
        backups
            .restore_backup(&ResourceId::new(ResourceKind::Server, SITE), &good)
            .await
            .unwrap_err(),
        backups
            .restore_backup(&ResourceId::new(ResourceKind::WebService, "../1"), &good)
            .await
            .unwrap_err(),
        // Day 31 does not exist in every month; GridPane allows 1-28.
        backups
            .set_backup_schedule(
                &site(),
                &BackupSchedule {
                    id: "59474".into(),
                    storage: "local".into(),
                    frequency: BackupFrequency::Monthly {
                        day: 31,
                        hour: 0,
                        minute: 0,
                    },
                },
            )
            .await
            .unwrap_err(),
        // GridPane reserves the tag "auto".
        backups
            .create_backup(&site(), &NewBackup::local().with_tag("auto"))
            .await
            .unwrap_err(),
        backups
            .create_backup(&site(), &NewBackup::remote("s3-bucket"))
            .await
            .unwrap_err(),
    ];
    for err in &errors {
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("dock=gp-main"), "{err}");
    }
    assert_eq!(fake.calls(), before, "nothing was sent");
}

#[tokio::test]
async fn provider_errors_are_typed_and_never_carry_the_token() {
    let (_fake, _server, dock) = dock().await;
    let backups = dock.require_backups().unwrap();
    let missing = ResourceId::new(ResourceKind::WebService, "999999");
    let err = backups.list_backups(&missing).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let unknown = BackupRef::new("2020-01-01 00:00", "local", BackupTrigger::Manual);
    let err = backups.restore_backup(&site(), &unknown).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { .. }),
        "{err}"
    );
    let text = format!("{err} {err:?}");
    assert!(!text.contains(common::TOKEN), "{text}");
    assert!(text.contains("restore backup"), "{text}");
}
