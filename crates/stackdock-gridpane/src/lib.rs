#![doc = include_str!("../README.md")]

pub mod adapter;
pub mod backups;
pub mod client;
pub mod config;
pub mod error;
pub mod factory;
pub mod input;
pub mod model;
pub mod system_users;

pub use adapter::{GridPaneAdapter, DEFAULT_PHP_VERSION, PROVIDER_ID};
pub use client::{CustomServerCreated, GridPaneClient, ListPage, ProviderServerCreated};
pub use config::{GridPaneConfig, DEFAULT_BASE_URL, DEFAULT_THROTTLE_WAIT};
pub use error::{map_error, GridPaneErrors};
pub use factory::GridPaneFactory;
pub use input::{
    BackupKind, BackupRequest, BackupSelection, BackupSource, BackupType, NewSystemUser,
    ScheduleUpdate, SystemUserUpdate,
};
pub use model::{
    AvailableBackup, BackupSchedule, BuildProgress, DomainRecord, Integration, ServerRecord,
    SiteBackupSchedules, SiteRecord, SystemUser,
};
