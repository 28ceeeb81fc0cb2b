//! Schema migrations: numbered SQL files compiled in, applied in order
//! under an advisory lock so replicas starting together migrate once.
//!
//! Not sqlx's migrator: the store talks to PostgreSQL through the
//! workspace's one plumbing (`stackdock-pg`, tokio-postgres), and sqlx's
//! migrator only runs on a sqlx connection. The files follow sqlx's naming
//! (`NNNN_name.sql`) and its bookkeeping idea (a table of applied versions).

use tokio_postgres::Client;

use stackdock_runtime::{Error, Result};

use crate::db_error;

/// (version, name, SQL), in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (2, "queue", include_str!("../migrations/0002_queue.sql")),
    (3, "notify", include_str!("../migrations/0003_notify.sql")),
    (
        4,
        "retention",
        include_str!("../migrations/0004_retention.sql"),
    ),
    (
        5,
        "dock_slots",
        include_str!("../migrations/0005_dock_slots.sql"),
    ),
    (
        6,
        "rate_limit",
        include_str!("../migrations/0006_rate_limit.sql"),
    ),
    (
        7,
        "run_steps_unlocked",
        include_str!("../migrations/0007_run_steps_unlocked.sql"),
    ),
];

/// Create `schema` if needed and bring it to the latest version.
pub(crate) async fn run(client: &mut Client, schema: &str) -> Result<()> {
    // A session lock keyed by the schema: the second replica waits, then
    // finds everything applied.
    let key = format!("stackdock-runtime-postgres migrate {schema}");
    client
        .execute("SELECT pg_advisory_lock(hashtext($1))", &[&key])
        .await
        .map_err(db_error)?;
    let outcome = migrate_locked(client, schema).await;
    let unlock = client
        .execute("SELECT pg_advisory_unlock(hashtext($1))", &[&key])
        .await
        .map_err(db_error);
    outcome.and(unlock.map(drop))
}

async fn migrate_locked(client: &mut Client, schema: &str) -> Result<()> {
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; \
             CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ( \
                 version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        ))
        .await
        .map_err(db_error)?;
    let applied: Vec<i64> = client
        .query(
            &format!("SELECT version FROM {schema}.schema_migrations ORDER BY version"),
            &[],
        )
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if let Some(newer) = applied.iter().find(|v| **v > latest()) {
        return Err(Error::store(format!(
            "schema {schema} is at version {newer}, newer than this build knows ({})",
            latest()
        )));
    }
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        let tx = client.transaction().await.map_err(db_error)?;
        tx.batch_execute(&format!("SET LOCAL search_path TO {schema}"))
            .await
            .map_err(db_error)?;
        tx.batch_execute(sql).await.map_err(db_error)?;
        tx.execute(
            &format!("INSERT INTO {schema}.schema_migrations (version, name) VALUES ($1, $2)"),
            &[version as &(dyn tokio_postgres::types::ToSql + Sync), name],
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        tracing::info!(schema, version, name, "applied a store migration");
    }
    Ok(())
}

fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}
