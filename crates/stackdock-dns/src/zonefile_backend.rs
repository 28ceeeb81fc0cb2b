//! The zone-file backend: one RFC 1035 master file per zone in a directory.
//!
//! The embedded default (the quickstart uses it): no server needed, and the
//! directory can be served by BIND, Knot or NSD, or loaded into PowerDNS.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use stackdock_core::dns::{RecordData, RecordType};
use stackdock_core::{Error, ProviderInfo, Result};

use crate::backend::{zone_name, DnsBackend, ZoneSummary};
use crate::config::ZoneFileConfig;
use crate::model::Zone;
use crate::plan::Change;
use crate::{serial, zonefile};

/// Zones as files `<zone>.zone` in one directory. See the [module docs](self).
#[derive(Debug)]
pub struct ZoneFileBackend {
    info: ProviderInfo,
    config: ZoneFileConfig,
    /// Serialises read-modify-write cycles within this process. The guard
    /// moves into the blocking task, so a caller that drops its future does
    /// not free the lock while the task is still writing.
    write_lock: Arc<tokio::sync::Mutex<()>>,
    /// Whether the directory is known to exist (made on first use when the
    /// backend was built without I/O, by a factory).
    ready: Arc<std::sync::atomic::AtomicBool>,
    calls: Arc<AtomicUsize>,
}

impl ZoneFileBackend {
    /// A backend over `directory` (created if missing) with default settings.
    pub fn new(directory: impl Into<PathBuf>) -> Result<Self> {
        Self::with_config(ZoneFileConfig::new(directory))
    }

    /// A backend from a full configuration; the directory is created now.
    pub fn with_config(config: ZoneFileConfig) -> Result<Self> {
        create_directory(&config.directory)?;
        let backend = Self::lazy(config);
        backend.ready.store(true, Ordering::SeqCst);
        Ok(backend)
    }

    /// A backend that touches nothing until its first call, which creates
    /// the directory if missing (what a [`DockFactory`](stackdock_core::factory::DockFactory)
    /// builds: no I/O at build time).
    pub fn lazy(config: ZoneFileConfig) -> Self {
        ZoneFileBackend {
            info: ProviderInfo::new("zonefile", "Zone files"),
            config,
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
            ready: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The directory holding the zone files.
    pub fn directory(&self) -> &Path {
        &self.config.directory
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(PathBuf) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let dir = self.config.directory.clone();
        let ready = self.ready.clone();
        tokio::task::spawn_blocking(move || {
            if !ready.load(Ordering::SeqCst) {
                create_directory(&dir)?;
                ready.store(true, Ordering::SeqCst);
            }
            f(dir)
        })
        .await
        .map_err(|e| Error::internal(format!("zone file task failed: {e}")))?
    }

    /// [`Self::blocking`] holding the write lock until the task ends.
    async fn writing<T: Send + 'static>(
        &self,
        f: impl FnOnce(PathBuf) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let guard = self.write_lock.clone().lock_owned().await;
        self.blocking(move |dir| {
            let result = f(dir);
            drop(guard);
            result
        })
        .await
    }

    /// Set the SOA serial to the next `YYYYMMDDnn` after `previous`.
    fn bump_serial(zone: &mut Zone, previous: u32) {
        let apex = zone.name.clone();
        if let Some(set) = zone
            .rrsets
            .get_mut(&crate::model::RecordSetKey::new(apex, RecordType::SOA))
        {
            for r in &mut set.records {
                if let RecordData::SOA { serial: s, .. } = r {
                    *s = serial::next_today(previous);
                }
            }
        }
    }
}

#[async_trait]
impl DnsBackend for ZoneFileBackend {
    fn provider(&self) -> &ProviderInfo {
        &self.info
    }

    fn endpoint(&self) -> Option<String> {
        Some(self.config.directory.display().to_string())
    }

    async fn check(&self) -> Result<()> {
        self.count();
        let probe = self.config.directory.clone();
        self.blocking(move |_| {
            let meta = std::fs::metadata(&probe)
                .map_err(|e| Error::config(format!("zone directory: {e}")))?;
            if meta.permissions().readonly() {
                return Err(Error::new(stackdock_core::ErrorKind::PermissionDenied)
                    .with_message("zone directory is read-only"));
            }
            Ok(())
        })
        .await
    }

    async fn list_zones(&self, tenant: Option<&str>) -> Result<Vec<ZoneSummary>> {
        self.count();
        let tenant = tenant.map(str::to_owned);
        self.blocking(move |dir| {
            let mut out = Vec::new();
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| Error::provider(None, None, format!("listing zone directory: {e}")))?;
            for entry in entries.flatten() {
                let file = entry.file_name();
                let Some(file) = file.to_str() else {
                    continue;
                };
                let Some(name) = zonefile::zone_of_file(&dir, file)? else {
                    continue;
                };
                let Some(zone) = zonefile::read(&dir, &name)? else {
                    continue;
                };
                if tenant.is_some() && zone.tenant != tenant {
                    continue;
                }
                out.push(ZoneSummary {
                    provider_data: serde_json::json!({
                        "file": zonefile::path_for(&dir, &zone.name)?,
                        "records": zone.record_count(),
                    }),
                    serial: zone.serial(),
                    name: zone.name,
                    tenant: zone.tenant,
                });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await
    }

    async fn get_zone(&self, name: &str) -> Result<Option<Zone>> {
        let name = zone_name(name)?;
        self.count();
        self.blocking(move |dir| zonefile::read(&dir, &name)).await
    }

    async fn create_zone(&self, zone: &Zone) -> Result<()> {
        let mut zone = zone.clone();
        zone.validate()?;
        self.count();
        let template = self.config.soa_template.clone();
        self.writing(move |dir| {
            if zonefile::path_for(&dir, &zone.name)?.exists() {
                return Err(Error::already_exists(format!("zone {}", zone.name)));
            }
            if zone.get(&zone.name, RecordType::SOA).is_none() {
                // Like PowerDNS: a zone created without an SOA gets one.
                let soa = template.soa(&zone.name, serial::next_today(0))?;
                let ttl = template.ttl;
                let apex = format!("{}.", zone.name);
                zone.add(&apex, ttl, soa)?;
            }
            zonefile::write_atomic(&dir, &zone).map(drop)
        })
        .await
    }

    async fn delete_zone(&self, name: &str) -> Result<bool> {
        let name = zone_name(name)?;
        self.count();
        self.writing(move |dir| zonefile::remove(&dir, &name)).await
    }

    async fn apply_changes(&self, zone: &str, changes: &[Change]) -> Result<()> {
        let name = zone_name(zone)?;
        if changes.is_empty() {
            return Ok(());
        }
        self.count();
        let changes = changes.to_vec();
        self.writing(move |dir| {
            let mut zone = zonefile::read(&dir, &name)?
                .ok_or_else(|| Error::not_found(format!("zone {name}")))?;
            let previous = zone.serial().unwrap_or(0);
            for change in &changes {
                change.apply_to(&mut zone);
            }
            zone.validate()?;
            Self::bump_serial(&mut zone, previous);
            zonefile::write_atomic(&dir, &zone).map(drop)
        })
        .await
    }

    fn remote_calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Creates the zone directory (and its parents) when missing.
fn create_directory(directory: &Path) -> Result<()> {
    std::fs::create_dir_all(directory).map_err(|e| {
        Error::config(format!(
            "zone directory {} cannot be created: {e}",
            directory.display()
        ))
    })
}
