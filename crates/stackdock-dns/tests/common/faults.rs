//! A backend wrapper whose k-th remote call fails, for the conformance
//! suite's `nothing_half_made` check.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use stackdock_core::{Error, ErrorKind, ProviderInfo, Result};
use stackdock_dns::plan::Change;
use stackdock_dns::{DnsBackend, RecordSet, Zone, ZoneSummary};
use stackdock_testkit::FaultHook;

/// Delegates to `inner`; the armed call fails with a temporary
/// `Unavailable`. Reads fail before they are sent; writes fail *after* the
/// inner backend made them (the answer is lost), the harder case.
#[derive(Debug)]
pub struct FaultBackend<B> {
    inner: B,
    calls: AtomicUsize,
    fail_at: AtomicUsize,
}

impl<B> FaultBackend<B> {
    pub fn new(inner: B) -> Self {
        FaultBackend {
            inner,
            calls: AtomicUsize::new(0),
            fail_at: AtomicUsize::new(0),
        }
    }

    /// Whether this call is the armed one.
    fn armed(&self) -> bool {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        n == self.fail_at.load(Ordering::SeqCst)
    }

    fn fault() -> Error {
        Error::new(ErrorKind::Unavailable).with_message("injected fault")
    }

    fn read(&self) -> Result<()> {
        if self.armed() {
            return Err(Self::fault());
        }
        Ok(())
    }

    fn write<T>(&self, result: Result<T>) -> Result<T> {
        if self.armed() {
            return Err(Self::fault());
        }
        result
    }
}

impl<B: Send + Sync> FaultHook for FaultBackend<B> {
    fn fail_call(&self, k: usize) {
        self.fail_at
            .store(self.calls.load(Ordering::SeqCst) + k, Ordering::SeqCst);
    }

    fn clear(&self) {
        self.fail_at.store(0, Ordering::SeqCst);
    }
}

#[async_trait]
impl<B: DnsBackend> DnsBackend for FaultBackend<B> {
    fn provider(&self) -> &ProviderInfo {
        self.inner.provider()
    }
    fn check_zone(&self, zone: &Zone) -> Result<()> {
        self.inner.check_zone(zone)
    }
    fn endpoint(&self) -> Option<String> {
        self.inner.endpoint()
    }
    async fn check(&self) -> Result<()> {
        self.read()?;
        self.inner.check().await
    }
    async fn list_zones(&self, tenant: Option<&str>) -> Result<Vec<ZoneSummary>> {
        self.read()?;
        self.inner.list_zones(tenant).await
    }
    async fn get_zone(&self, name: &str) -> Result<Option<Zone>> {
        self.read()?;
        self.inner.get_zone(name).await
    }
    async fn get_zone_at(&self, name: &str, names: &[&str]) -> Result<Option<Zone>> {
        self.read()?;
        self.inner.get_zone_at(name, names).await
    }
    async fn create_zone(&self, zone: &Zone) -> Result<()> {
        let result = self.inner.create_zone(zone).await;
        self.write(result)
    }
    async fn create_zone_from(
        &self,
        name: &str,
        tenant: Option<&str>,
        sets: &[&RecordSet],
    ) -> Result<()> {
        let result = self.inner.create_zone_from(name, tenant, sets).await;
        self.write(result)
    }
    async fn delete_zone(&self, name: &str) -> Result<bool> {
        let result = self.inner.delete_zone(name).await;
        self.write(result)
    }
    async fn apply_changes(&self, zone: &str, changes: &[Change]) -> Result<()> {
        let result = self.inner.apply_changes(zone, changes).await;
        self.write(result)
    }
    fn remote_calls(&self) -> usize {
        self.inner.remote_calls()
    }
}
