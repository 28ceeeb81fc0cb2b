//! The executing half: runs a [`Plan`]'s statements on an admin session,
//! step by step, undoing what this call made when a step fails, with the
//! fault hooks the rollback and lost-reply tests use.

use std::sync::Mutex;

use chrono::Utc;

use stackdock_core::{Error, ErrorKind, Result};

use crate::client::{PgClient, Session};
use crate::plan::{drop_database_sql, drop_new_role_sql, set_password_sql, Plan};

/// The steps of provisioning, in order. `CREATE DATABASE` cannot run in a
/// transaction, so these are separate; a failure at any step undoes the
/// steps this call already made, in reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProvisionStep {
    /// `CREATE ROLE ... LOGIN PASSWORD '<SCRAM verifier>'` plus its marker
    /// comment, in one transaction (or `ALTER ROLE ... PASSWORD` when an
    /// earlier, interrupted provisioning left the role).
    CreateRole,
    /// `CREATE DATABASE ... OWNER ... TEMPLATE template0 [CONNECTION LIMIT n]`.
    CreateDatabase,
    /// In one transaction: revoke every privilege on the database from
    /// `PUBLIC` (CONNECT and TEMPORARY are PUBLIC's defaults), grant all of
    /// them to the owner, and set the role's marker to `ready` (copied onto
    /// the database's comment), which makes the database StackDock's.
    SecureDatabase,
}

impl ProvisionStep {
    /// Every step, in order.
    pub const ALL: [ProvisionStep; 3] = [
        ProvisionStep::CreateRole,
        ProvisionStep::CreateDatabase,
        ProvisionStep::SecureDatabase,
    ];

    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProvisionStep::CreateRole => "create_role",
            ProvisionStep::CreateDatabase => "create_database",
            ProvisionStep::SecureDatabase => "secure_database",
        }
    }
}

/// When an injected fault fires, relative to its step.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultTiming {
    /// Instead of running the step.
    Before,
    /// After the step ran and succeeded (as if the reply was lost).
    After,
    /// After the step ran and succeeded, never return: the caller's future
    /// has to be dropped, as when its reply is lost and it gives up.
    HangAfter,
}

/// The SQLSTATE-like code of injected faults.
#[doc(hidden)]
pub const INJECTED_FAULT_CODE: &str = "stackdock_injected_fault";

fn injected(step: ProvisionStep, timing: FaultTiming) -> Error {
    Error::provider(
        None,
        Some(INJECTED_FAULT_CODE.into()),
        format!("fault injected {timing:?} step {}", step.as_str()),
    )
}

fn is_after_fault(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Provider { code: Some(c), message, .. }
        if c == INJECTED_FAULT_CODE && message.starts_with("fault injected After"))
}

/// Runs provisioning on the admin pool.
pub(crate) struct Executor {
    client: PgClient,
    fault: Mutex<Option<(ProvisionStep, FaultTiming)>>,
    /// Whether the admin is a superuser, asked once.
    superuser: tokio::sync::OnceCell<bool>,
}

impl Executor {
    /// An executor on `client`'s pool.
    pub(crate) fn new(client: PgClient) -> Self {
        Executor {
            client,
            fault: Mutex::new(None),
            superuser: tokio::sync::OnceCell::new(),
        }
    }

    /// The admin pool.
    pub(crate) fn client(&self) -> &PgClient {
        &self.client
    }

    /// Make the next provisioning fail (or hang) at `step`, at `timing`.
    pub(crate) fn inject(&self, step: ProvisionStep, timing: FaultTiming) {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner()) = Some((step, timing));
    }

    fn take_fault(&self, step: ProvisionStep, timing: FaultTiming) -> Option<Error> {
        let mut f = self.fault.lock().unwrap_or_else(|e| e.into_inner());
        if *f == Some((step, timing)) {
            *f = None;
            return Some(injected(step, timing));
        }
        None
    }

    async fn step(&self, s: &Session<'_>, step: ProvisionStep, sql: &str) -> Result<()> {
        if let Some(e) = self.take_fault(step, FaultTiming::Before) {
            return Err(e);
        }
        s.batch(sql).await?;
        if let Some(e) = self.take_fault(step, FaultTiming::After) {
            return Err(e);
        }
        if self.take_fault(step, FaultTiming::HangAfter).is_some() {
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    /// Whether the admin is a superuser (asked once per executor).
    pub(crate) async fn is_superuser(&self, s: &Session<'_>) -> Result<bool> {
        self.superuser
            .get_or_try_init(|| async {
                let rows = s
                    .query(
                        "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user",
                        &[],
                    )
                    .await?;
                Ok(rows
                    .first()
                    .and_then(|r| r.try_get::<_, bool>(0).ok())
                    .unwrap_or(false))
            })
            .await
            .copied()
    }

    /// Run a compensating statement on the session, or on a fresh connection
    /// when the session's connection is what broke.
    async fn undo(&self, s: &Session<'_>, sql: &str) -> Result<()> {
        match s.batch(sql).await {
            Err(e) if matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout) => {
                self.client.batch(sql).await
            }
            other => other,
        }
    }

    /// Run the provisioning steps of `plan`; on failure undo what this call
    /// made, in reverse, and return the original error.
    pub(crate) async fn provision(
        &self,
        s: &Session<'_>,
        plan: &Plan,
        dock_id: &str,
        role_exists: bool,
        db_exists: bool,
        verifier: &str,
    ) -> Result<()> {
        let created_at = Utc::now();
        let mut made_role = false;
        let mut made_db = false;
        let result: Result<()> = async {
            let role_sql = if role_exists {
                set_password_sql(&plan.role, verifier)?
            } else {
                let admin_joins_role = !self.is_superuser(s).await?;
                plan.create_role_sql(dock_id, created_at, verifier, admin_joins_role)?
            };
            // Mark before running: an `After` fault means the step *did* run.
            let r = self.step(s, ProvisionStep::CreateRole, &role_sql).await;
            if !role_exists && !matches!(&r, Err(e) if !is_after_fault(e)) {
                made_role = true;
            }
            r?;
            if !db_exists {
                let sql = plan.create_database_sql()?;
                let r = self.step(s, ProvisionStep::CreateDatabase, &sql).await;
                if !matches!(&r, Err(e) if !is_after_fault(e)) {
                    made_db = true;
                }
                r?;
            }
            let sql = plan.secure_sql(dock_id, created_at)?;
            self.step(s, ProvisionStep::SecureDatabase, &sql).await
        }
        .await;
        let Err(original) = result else {
            return Ok(());
        };
        let original = lost_race_is_temporary(original, plan);
        Err(self.roll_back(s, plan, made_db, made_role, original).await)
    }

    /// Undo in reverse order; keep the original error, note undo failures.
    async fn roll_back(
        &self,
        s: &Session<'_>,
        plan: &Plan,
        made_db: bool,
        made_role: bool,
        mut original: Error,
    ) -> Error {
        if made_db {
            if let Err(e) = self.undo_sql(s, drop_database_sql(&plan.name)).await {
                tracing::warn!(database = %plan.name, error = %e, "rollback: dropping the database failed");
                original = original.with_context("rollback_error", e.to_string());
            }
        }
        if made_role {
            if let Err(e) = self.undo_sql(s, drop_new_role_sql(&plan.role)).await {
                tracing::warn!(role = %plan.role, error = %e, "rollback: dropping the role failed");
                original = original.with_context("rollback_error", e.to_string());
            }
        }
        original
    }

    async fn undo_sql(&self, s: &Session<'_>, sql: Result<String>) -> Result<()> {
        self.undo(s, &sql?).await
    }
}

/// A name taken between our check and the step was taken by someone outside
/// StackDock (we hold the lock for this name): worth a retry to adopt or report.
fn lost_race_is_temporary(original: Error, plan: &Plan) -> Error {
    if !matches!(original.kind(), ErrorKind::AlreadyExists) {
        return original;
    }
    Error::conflict(format!(
        "{} was created concurrently by someone else: {}",
        plan.name,
        original.message().unwrap_or_default()
    ))
    .with_status(stackdock_core::ErrorStatus::Temporary)
}
