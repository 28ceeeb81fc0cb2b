//! GridPane site backups as the core [`Backups`] extension: reachable from
//! any `Arc<dyn DockAdapter>` through
//! [`DockAdapter::backups`](stackdock_core::DockAdapter::backups).
//!
//! | core call | GridPane request |
//! |---|---|
//! | `list_backups` | `GET /backups/original/{site_id}` |
//! | `create_backup` | `POST /backups/{site_id}` |
//! | `restore_backup` | `POST /backups/restore/{site_id}` (`source_type: original`) |
//! | `delete_backup` | `GET /backups/original/{site_id}`, then `PUT /backups/purge/{site_id}` if listed |
//! | `backup_schedules` | `GET /backups/schedules/site/{site_id}` |
//! | `set_backup_schedule` | `PUT /backups/schedule/site/{site_id}` |
//!
//! A backup is named as GridPane's restore and purge calls name it:
//! `backup` (`YYYY-MM-DD HH:MM[ tag]`), `backup_source` (`local`, `aws-s3`,
//! `backblaze`, `dropbox`, `wasabi`) and `backup_type` (`manual`,
//! `automatic`). GridPane does not publish the shape of the available-backups
//! answer; entries are read by those same field names, falling back to
//! `id`, the list they came in (`local` / `remote`) and the tag.
//!
//! ```no_run
//! use std::sync::Arc;
//! use stackdock_core::extension::{BackupFrequency, NewBackup};
//! use stackdock_core::{DockAdapter, DockAdapterExt, ResourceId, ResourceKind};
//! # async fn f(dock: Arc<dyn DockAdapter>) -> stackdock_core::Result<()> {
//! let site = ResourceId::new(ResourceKind::WebService, "474559");
//! let backups = dock.require_backups()?;
//! backups.create_backup(&site, &NewBackup::local().with_tag("pre-deploy")).await?;
//! let latest = backups.list_backups(&site).await?.into_iter().next();
//! if let Some(latest) = latest {
//!     backups.restore_backup(&site, &latest.backup).await?;
//! }
//! for mut schedule in backups.backup_schedules(&site).await? {
//!     schedule.frequency = BackupFrequency::Daily { hour: 3, minute: 30 };
//!     backups.set_backup_schedule(&site, &schedule).await?;
//! }
//! # Ok(()) }
//! ```

use async_trait::async_trait;
use serde_json::Value;
use stackdock_core::extension::{
    Backup, BackupFrequency, BackupRef, BackupSchedule, BackupTrigger, Backups, NewBackup,
};
use stackdock_core::{Error, ResourceId, Result};

use crate::adapter::{require_id, GridPane};
use crate::input::{BackupRequest, BackupSelection, BackupType, ScheduleUpdate};
use crate::model::{self, AvailableBackup};

#[async_trait]
impl Backups for GridPane {
    async fn list_backups(&self, site: &ResourceId) -> Result<Vec<Backup>> {
        let site_id = require_id(site)?;
        let mut backups: Vec<Backup> = self
            .client()
            .available_backups(site_id)
            .await?
            .into_iter()
            .map(core_backup)
            .collect();
        // Newest first; GridPane's stamps (`YYYY-MM-DD HH:MM`, ISO 8601) sort as text.
        backups.sort_by(|a, b| b.taken_at.cmp(&a.taken_at));
        Ok(backups)
    }

    async fn create_backup(&self, site: &ResourceId, request: &NewBackup) -> Result<()> {
        let site_id = require_id(site)?;
        let mut backup = match &request.remote_storage {
            None => BackupRequest::local(),
            Some(id) => BackupRequest::remote(id.parse().map_err(|_| {
                Error::invalid_input(
                    "remote_storage",
                    "a GridPane backup integration id (a number)",
                )
            })?),
        };
        backup.tag = request.tag.clone();
        self.client()
            .create_backup(site_id, &backup)
            .await
            .map(drop)
    }

    async fn restore_backup(&self, site: &ResourceId, backup: &BackupRef) -> Result<()> {
        let site_id = require_id(site)?;
        let selection = selection(backup)?;
        self.client().restore_backup(site_id, &selection).await
    }

    async fn delete_backup(&self, site: &ResourceId, backup: &BackupRef) -> Result<()> {
        let site_id = require_id(site)?;
        let selection = selection(backup)?;
        // Purging what is gone is not something GridPane documents as a
        // success: look first, so deleting twice succeeds.
        let listed = self.list_backups(site).await?;
        if !listed.iter().any(|b| &b.backup == backup) {
            return Ok(());
        }
        self.client().purge_backup(site_id, &selection).await
    }

    async fn backup_schedules(&self, site: &ResourceId) -> Result<Vec<BackupSchedule>> {
        let site_id = require_id(site)?;
        let sites = self.client().site_backup_schedules(site_id).await?;
        Ok(sites
            .iter()
            .filter(|s| s.site_id.is_none_or(|id| id == site_id))
            .flat_map(|s| s.schedules.iter())
            .filter_map(core_schedule)
            .collect())
    }

    async fn set_backup_schedule(
        &self,
        site: &ResourceId,
        schedule: &BackupSchedule,
    ) -> Result<()> {
        let site_id = require_id(site)?;
        let id = schedule
            .id
            .parse()
            .map_err(|_| Error::invalid_input("schedule.id", "GridPane ids are numbers"))?;
        let update = ScheduleUpdate {
            id,
            frequency: schedule.frequency,
        };
        self.client().update_backup_schedule(site_id, &update).await
    }
}

/// The restore/purge selection a core reference names; GridPane's own rules
/// (storage names, backup name pattern) are checked here, before any call.
fn selection(backup: &BackupRef) -> Result<BackupSelection> {
    let backup_type = match backup.trigger {
        BackupTrigger::Manual => BackupType::Manual,
        BackupTrigger::Automatic => BackupType::Automatic,
    };
    let selection = BackupSelection::new(backup.storage.parse()?, backup_type, &backup.name);
    selection.validate()?;
    Ok(selection)
}

fn text<'a>(raw: &'a Value, key: &str) -> Option<&'a str> {
    raw.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// One listed backup in core terms (see the module docs for the field names).
fn core_backup(entry: AvailableBackup) -> Backup {
    let raw = &entry.provider_data;
    let name = text(raw, "backup")
        .map(str::to_owned)
        .or_else(|| entry.id.clone())
        .unwrap_or_default();
    let storage = text(raw, "backup_source")
        .or_else(|| text(raw, "service_name"))
        .or(entry.kind.as_deref())
        .unwrap_or("local")
        .to_owned();
    let automatic = text(raw, "backup_type") == Some("automatic")
        || matches!(entry.tag.as_deref(), Some("auto" | "automatic"));
    let trigger = if automatic {
        BackupTrigger::Automatic
    } else {
        BackupTrigger::Manual
    };
    Backup {
        backup: BackupRef::new(name, storage, trigger),
        tag: entry.tag,
        taken_at: entry.created_at,
        provider_data: entry.provider_data,
    }
}

/// A GridPane schedule in core terms; `None` (and a warning) for one whose
/// times GridPane reports in a form we cannot read.
fn core_schedule(schedule: &model::BackupSchedule) -> Option<BackupSchedule> {
    let number = |v: &Option<String>| v.as_deref().and_then(|s| s.trim().parse::<u8>().ok());
    let (minute, hour, day) = (
        number(&schedule.minute),
        number(&schedule.hour),
        number(&schedule.day),
    );
    let frequency = match schedule.interval.as_deref()? {
        "hourly" => BackupFrequency::Hourly { minute: minute? },
        "daily" => BackupFrequency::Daily {
            hour: hour?,
            minute: minute?,
        },
        "weekly" => BackupFrequency::Weekly {
            weekday: day?,
            hour: hour?,
            minute: minute?,
        },
        "monthly" => BackupFrequency::Monthly {
            day: day?,
            hour: hour?,
            minute: minute?,
        },
        other => {
            tracing::warn!(schedule = ?schedule.id, interval = other, "unknown GridPane backup interval");
            return None;
        }
    };
    let storage = match schedule.kind.as_str() {
        "local" => "local".to_owned(),
        _ => schedule
            .service_name
            .clone()
            .unwrap_or_else(|| schedule.kind.clone()),
    };
    Some(BackupSchedule {
        id: schedule.id?.to_string(),
        storage,
        frequency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn listed_backups_name_what_restore_and_purge_take() {
        let raw = json!({"backup": "2026-11-23 10:00 pre-deploy", "backup_source": "aws-s3",
            "backup_type": "manual", "tag": "pre-deploy", "created_at": "2026-11-23T10:00:00Z"});
        let backup = core_backup(AvailableBackup::from_json(raw, Some("remote")));
        assert_eq!(
            backup.backup,
            BackupRef::new(
                "2026-11-23 10:00 pre-deploy",
                "aws-s3",
                BackupTrigger::Manual
            )
        );
        assert!(selection(&backup.backup).is_ok());
        let auto = core_backup(AvailableBackup::from_json(
            json!({"id": "x", "tag": "auto"}),
            Some("local"),
        ));
        assert_eq!(auto.backup.trigger, BackupTrigger::Automatic);
        assert_eq!(auto.backup.storage, "local");
    }

    #[test]
    fn unknown_storage_is_invalid_input() {
        let bad = BackupRef::new("2026-11-23 10:00", "remote", BackupTrigger::Manual);
        let err = selection(&bad).unwrap_err();
        assert!(
            matches!(err.kind(), stackdock_core::ErrorKind::InvalidInput { .. }),
            "{err}"
        );
    }
}
