//! The store conformance suite against both stores, plus what only the
//! SQLite store promises (durability across reopen, append-only audit).

use std::sync::Arc;

use stackdock_runtime::model::{AuditEntry, AuditOutcome, AuditQuery, Operation, RunStatus};
use stackdock_runtime::store::{MemoryStore, SqliteStore, Store, STATE_FILE};
use stackdock_runtime::store_conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    store_conformance::all(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state")).await.unwrap();
    assert!(store.path().ends_with(STATE_FILE));
    store_conformance::all(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_state_survives_reopen_and_the_scope_lock_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let run = store
        .start_run("acme", Operation::Apply, "alice")
        .await
        .unwrap()
        .run()
        .clone();
    let mut entry = AuditEntry::new("alice", "create", AuditOutcome::Succeeded);
    entry.scope = Some("acme".into());
    store.append_audit(&entry).await.unwrap();
    store.close().await;
    drop(store);

    // Migrations are idempotent; the active run still holds the scope.
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let again = store
        .start_run("acme", Operation::Apply, "bob")
        .await
        .unwrap();
    assert!(!again.is_started());
    assert_eq!(again.run().id, run.id);
    let audit = store
        .list_audit(&AuditQuery {
            scope: Some("acme".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    store
        .finish_run(&run.id, RunStatus::Cancelled, Some("operator"), None)
        .await
        .unwrap();
    assert!(store
        .start_run("acme", Operation::Destroy, "bob")
        .await
        .unwrap()
        .is_started());
}

#[tokio::test]
async fn sqlite_audit_rows_cannot_be_changed_or_deleted() {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::ConnectOptions;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    store
        .append_audit(&AuditEntry::new("alice", "create", AuditOutcome::Succeeded))
        .await
        .unwrap();
    // A prune opens the way for its own transaction only.
    let old = chrono::Utc::now() - chrono::Duration::days(1);
    store
        .prune(&stackdock_runtime::model::Retention {
            audit_before: Some(old),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut raw = SqliteConnectOptions::new()
        .filename(store.path())
        .connect()
        .await
        .unwrap();
    let update = sqlx::query("UPDATE audit SET actor = 'mallory'")
        .execute(&mut raw)
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM audit").execute(&mut raw).await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    let entries = store.list_audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(entries[0].actor, "alice");
}
