//! The runtime's store conformance suite on PostgreSQL — the same checks
//! the memory and SQLite stores pass — plus what only this store promises.

mod common;

use std::sync::Arc;

use stackdock_runtime::model::{AuditEntry, AuditOutcome, AuditQuery, Operation, RunStatus};
use stackdock_runtime::store::Store;
use stackdock_runtime::store_conformance;
use stackdock_runtime_postgres::PostgresStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_conforms() {
    common::in_fresh_schema("sd_conform", |schema| async move {
        let store = common::store(&schema).await;
        assert_eq!(store.schema(), schema);
        store_conformance::all(Arc::new(store)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once_and_share_the_scope_lock() {
    common::in_fresh_schema("sd_replicas", |schema| async move {
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let schema = schema.clone();
                tokio::spawn(async move { common::store(&schema).await })
            })
            .collect();
        let mut replicas = Vec::new();
        for open in opens {
            replicas.push(open.await.unwrap());
        }
        let versions: Vec<i64> = common::client()
            .await
            .query(
                &format!("SELECT version FROM {schema}.schema_migrations ORDER BY version"),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(
            versions,
            [1, 2, 3, 4, 5, 6, 7],
            "every migration applied, once"
        );

        let first = replicas[0]
            .start_run("acme", Operation::Apply, "alice")
            .await
            .unwrap();
        let joined = replicas[1]
            .start_run("acme", Operation::Apply, "bob")
            .await
            .unwrap();
        assert_eq!(joined.run().id, first.run().id);
        assert!(matches!(
            replicas[2]
                .start_run("acme", Operation::Destroy, "carol")
                .await,
            Err(stackdock_runtime::Error::ScopeBusy { .. })
        ));
        // Reconnecting (a replica restart) keeps the state and the lock.
        replicas.iter().for_each(PostgresStore::close);
        let again = common::store(&schema).await;
        let joined = again
            .start_run("acme", Operation::Apply, "dave")
            .await
            .unwrap();
        assert_eq!(joined.run().id, first.run().id);
        again
            .finish_run(&first.run().id, RunStatus::Succeeded, None, None)
            .await
            .unwrap();
        assert!(again
            .start_run("acme", Operation::Destroy, "carol")
            .await
            .unwrap()
            .is_started());
    })
    .await;
}

#[tokio::test]
async fn audit_rows_cannot_be_changed_or_deleted() {
    common::in_fresh_schema("sd_audit", |schema| async move {
        let store = common::store(&schema).await;
        store
            .append_audit(&AuditEntry::new("alice", "create", AuditOutcome::Succeeded))
            .await
            .unwrap();
        // A prune opens the way for its own transaction only.
        let old = chrono::Utc::now() - chrono::Duration::days(1);
        let pruned = store
            .prune(&stackdock_runtime::model::Retention {
                audit_before: Some(old),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(pruned.audit, 0);
        let raw = common::client().await;
        for sql in [
            "UPDATE {s}.audit SET actor = 'mallory'",
            "DELETE FROM {s}.audit",
            "TRUNCATE {s}.audit",
        ] {
            let err = raw
                .batch_execute(&sql.replace("{s}", &schema))
                .await
                .expect_err(sql);
            assert!(
                err.as_db_error().unwrap().message().contains("append-only"),
                "{sql}: {err}"
            );
        }
        let entries = store.list_audit(&AuditQuery::default()).await.unwrap();
        assert_eq!(entries[0].actor, "alice");
    })
    .await;
}

#[tokio::test]
async fn a_schema_from_a_newer_build_is_refused() {
    common::in_fresh_schema("sd_newer", |schema| async move {
        drop(common::store(&schema).await);
        common::client()
            .await
            .batch_execute(&format!(
                "INSERT INTO {schema}.schema_migrations (version, name) VALUES (999, 'future')"
            ))
            .await
            .unwrap();
        let err = PostgresStore::connect(common::config(&schema))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_database_is_a_store_error_without_the_password() {
    let config = stackdock_runtime_postgres::PostgresStoreConfig::from_url(
        "postgres://app:hunter2@127.0.0.1:1/control?sslmode=disable",
    )
    .unwrap()
    .with_connect_timeout(std::time::Duration::from_secs(2));
    let err = PostgresStore::connect(config).await.unwrap_err();
    assert!(matches!(err, stackdock_runtime::Error::Store(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("hunter2"));
}

#[tokio::test]
async fn the_store_connects_under_the_sslmodes_any_server_accepts() {
    use stackdock_pg::SslMode;
    common::in_fresh_schema("sd_sslmode", |schema| async move {
        for mode in [SslMode::Disable, SslMode::Allow, SslMode::Prefer] {
            let store = PostgresStore::connect(common::config(&schema).with_ssl_mode(mode))
                .await
                .unwrap_or_else(|e| panic!("{mode}: {e}"));
            let scope = format!("tls-{mode}");
            assert!(store
                .start_run(&scope, Operation::Sync, "probe")
                .await
                .unwrap()
                .is_started());
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claimers_on_three_replicas_take_each_of_120_runs_once() {
    use std::collections::BTreeSet;
    use std::time::Duration;
    common::in_fresh_schema("sd_claims", |schema| async move {
        let mut replicas = Vec::new();
        for _ in 0..3 {
            replicas.push(Arc::new(common::store(&schema).await));
        }
        let mut submitted = BTreeSet::new();
        for i in 0..120 {
            let replica = &replicas[i % 3];
            let scope = format!("tenant-{i}");
            let run = replica
                .submit_run(
                    &scope,
                    Operation::Apply,
                    "client",
                    &serde_json::json!({"i": i}),
                )
                .await
                .unwrap();
            submitted.insert(run.run().id.clone());
        }
        let claimers: Vec<_> = (0..12)
            .map(|c| {
                let store = replicas[c % 3].clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    while let Some(claim) = store
                        .claim_run(&format!("w{c}"), Duration::from_secs(60))
                        .await
                        .unwrap()
                    {
                        mine.push(claim.run.id);
                    }
                    mine
                })
            })
            .collect();
        let mut claimed = Vec::new();
        for claimer in claimers {
            claimed.extend(claimer.await.unwrap());
        }
        assert_eq!(claimed.len(), 120, "no run claimed twice");
        assert_eq!(claimed.into_iter().collect::<BTreeSet<_>>(), submitted);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_waiter_is_woken_by_a_submit_on_another_replica_not_by_other_schemas() {
    use std::time::Duration;
    common::in_fresh_schema("sd_wake", |schema| async move {
        let other_schema = format!("{schema}_x");
        let waiter = Arc::new(common::store(&schema).await);
        let submitter = common::store(&schema).await;
        let neighbour = common::store(&other_schema).await;
        // The first wait opens the LISTEN connection and returns at once,
        // however long it may wait: a run submitted before it listened was
        // announced to nobody, so its caller claims again instead of
        // sleeping. Later notifications queue on that connection.
        tokio::time::timeout(
            Duration::from_secs(30),
            waiter.wait_for_work(Duration::from_secs(3600)),
        )
        .await
        .expect("a wait that opened the listener returns for a new claim");
        let waiting = {
            let waiter = waiter.clone();
            tokio::spawn(async move { waiter.wait_for_work(Duration::from_secs(3600)).await })
        };
        neighbour
            .submit_run("t", Operation::Apply, "c", &serde_json::json!({}))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !waiting.is_finished(),
            "another schema's run must not wake this schema's workers"
        );
        submitter
            .submit_run("t", Operation::Apply, "c", &serde_json::json!({}))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .expect("a submit wakes the idle waiter")
            .unwrap();
        common::client()
            .await
            .batch_execute(&format!("DROP SCHEMA {other_schema} CASCADE"))
            .await
            .unwrap();
    })
    .await;
}
