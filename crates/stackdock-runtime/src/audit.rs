//! The audit log: every mutation attempt's outcome, denials and credential
//! decryptions; never a secret.
//!
//! [`AuditSink`] is where entries go; [`StoreAudit`] appends them to the
//! [`Store`] (append-only) and emits each one through `tracing` (target
//! `stackdock::audit`).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::model::AuditEntry;
use crate::store::Store;
use crate::Result;

/// Where audit entries go.
#[async_trait]
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Record `entry` durably. A failure stops the action being audited
    /// when it is reported before the action.
    async fn record(&self, entry: AuditEntry) -> Result<()>;
}

/// Appends to a [`Store`] and logs through `tracing`.
#[derive(Debug, Clone)]
pub struct StoreAudit {
    store: Arc<dyn Store>,
}

impl StoreAudit {
    /// Audit into `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreAudit { store }
    }
}

#[async_trait]
impl AuditSink for StoreAudit {
    async fn record(&self, entry: AuditEntry) -> Result<()> {
        let seq = self.store.append_audit(&entry).await?;
        log_entry(seq, &entry);
        Ok(())
    }
}

/// Emit an entry the store appended as `seq` through `tracing` (target
/// `stackdock::audit`): what [`StoreAudit`] does after each append, also
/// for the entries the runtime commits together with a step's state.
pub(crate) fn log_entry(seq: i64, entry: &AuditEntry) {
    tracing::info!(
        target: "stackdock::audit",
        seq,
        actor = %entry.actor,
        org = entry.org.as_deref().unwrap_or(""),
        scope = entry.scope.as_deref().unwrap_or(""),
        dock = entry.dock.as_deref().unwrap_or(""),
        resource = entry.resource.as_deref().unwrap_or(""),
        operation = %entry.operation,
        outcome = entry.outcome.as_str(),
        reason = entry.reason.as_deref().unwrap_or(""),
        run_id = entry.run_id.as_ref().map(|r| r.as_str()).unwrap_or(""),
        "audit"
    );
}
