//! Sync: list a dock's resources into the inventory.

use super::*;

impl Runtime {
    /// List every kind `dock` can list into the inventory: upsert by
    /// (dock, kind, provider id), mark what is no longer listed vanished,
    /// record `last_sync_at` / `last_sync_error` and the request budget the
    /// provider reported ([`DockAdapter::rate_limit`]). A sync is a run on the
    /// scope `dock:<id>`: a second sync of the same dock while one runs
    /// joins it instead of listing again. Never changes anything at the
    /// provider. A kind whose listing fails keeps its previous inventory.
    pub async fn sync(&self, dock: &str, actor: &str) -> Result<SyncReport> {
        let request = RunRequest::sync(dock, actor);
        match self.submit(&request).await? {
            StartOutcome::Joined(run) => Ok(SyncReport {
                run,
                joined: true,
                kinds: BTreeMap::new(),
                error: None,
                rate_limit: None,
            }),
            StartOutcome::Started(run) => self.execute_sync(&run, &request).await,
        }
    }

    pub(super) async fn sync_run(
        &self,
        ctx: &RunCtx,
        dock: &str,
        adapter: &dyn DockAdapter,
    ) -> Result<SyncReport> {
        use stackdock_core::{DockAdapterExt, ListOptions, Operation as DockOp, ResourceKind};
        self.emit(
            ctx,
            RunEventKind::RunStarted {
                operation: Operation::Sync,
            },
        );
        let capabilities = adapter.capabilities();
        let mut kinds = BTreeMap::new();
        let mut error = None;
        for kind in ResourceKind::ALL {
            if !capabilities.supports(kind, DockOp::List) {
                continue;
            }
            let listed = match adapter.list_all(kind, &ListOptions::default()).await {
                Ok(listed) => listed,
                Err(e) => {
                    error.get_or_insert_with(|| {
                        stackdock_core::provisioning::sanitize_message(&format!("list {kind}: {e}"))
                    });
                    continue;
                }
            };
            let at = Utc::now();
            let items: Vec<InventoryItem> = listed
                .iter()
                .map(|r| InventoryItem {
                    dock: dock.to_owned(),
                    kind,
                    provider_resource_id: r.meta().reference.provider_resource_id.clone(),
                    name: r.meta().name.clone(),
                    resource: serde_json::to_value(r).unwrap_or_default(),
                    first_seen_at: at,
                    last_seen_at: at,
                    vanished_at: None,
                })
                .collect();
            kinds.insert(
                kind,
                self.store.sync_inventory(dock, kind, &items, at).await?,
            );
        }
        // Read after the listings: the budget their last response left.
        let rate_limit = adapter.rate_limit();
        let now = Utc::now();
        let previous = self
            .store
            .dock_syncs()
            .await?
            .into_iter()
            .find(|s| s.dock == dock);
        let items = self
            .store
            .list_inventory(Some(dock))
            .await?
            .iter()
            .filter(|i| i.vanished_at.is_none())
            .count() as u64;
        self.store
            .put_dock_sync(&DockSync {
                dock: dock.to_owned(),
                last_sync_at: Some(now),
                last_success_at: if error.is_none() {
                    Some(now)
                } else {
                    previous.and_then(|p| p.last_success_at)
                },
                last_sync_error: error.clone(),
                items,
                rate_limit,
            })
            .await?;
        let status = if error.is_none() {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        };
        let run = self
            .store
            .finish_run(
                &ctx.id,
                status,
                Some(if error.is_none() {
                    "synced"
                } else {
                    "list_failed"
                }),
                error.as_deref(),
            )
            .await?;
        self.announce_cancelling(ctx);
        self.emit(ctx, RunEventKind::RunFinished { status });
        Ok(SyncReport {
            run,
            joined: false,
            kinds,
            error,
            rate_limit,
        })
    }
}
