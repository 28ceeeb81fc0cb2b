//! [`VercelClient::inventory`]: every project with its latest deployments and
//! domains, as fast as the API allows.
//!
//! The projects listing is a chain of pages (each needs the previous page's
//! cursor), so its pages are the critical path. To keep that chain moving,
//! only the page's `pagination` is read before the next page is requested;
//! the projects themselves are decoded while that request is in flight.
//! Project objects already carry `latestDeployments`; domains need one
//! listing per project, started as soon as each project page is decoded, at
//! most [`InventoryOptions::concurrency`] at a time, overlapping the next page
//! fetches. When the last project page arrives, only its projects' domain
//! listings are left.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use stackdock_core::resource::{Deployment, Domain, WebService};
use stackdock_core::{Error, Result};
use stackdock_http::{encode_path_segment, Bytes, Request};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::client::VercelClient;
use crate::config::until;
use crate::mapping;
use crate::model::{split_page, Cursor};
use crate::types::{Inventory, InventoryOptions};

/// Just the cursor of a list page; everything else is skipped unparsed.
#[derive(Deserialize)]
struct PageHead {
    #[serde(default)]
    pagination: Option<HeadPagination>,
}

#[derive(Deserialize)]
struct HeadPagination {
    #[serde(default)]
    next: Option<Cursor>,
}

type DomainListing = Result<(Vec<Domain>, usize)>;

impl VercelClient {
    /// Every project with its latest deployments and domains.
    ///
    /// Fetches project pages one after the other (they form a cursor chain)
    /// and each project's domains concurrently, within `options.concurrency`
    /// and one less than the client's `max_concurrency` (so the page chain
    /// always finds a free slot). Dropping the future cancels every request
    /// still in flight.
    ///
    /// ```no_run
    /// use stackdock_vercel::{InventoryOptions, VercelClient, VercelConfig};
    /// # async fn f() -> stackdock_core::Result<()> {
    /// let client = VercelClient::new(VercelConfig::from_env()?.max_concurrency(65))?;
    /// let inv = client.inventory(&InventoryOptions { concurrency: 64, ..Default::default() }).await?;
    /// println!("{} projects, {} deployments, {} domains", inv.projects.len(), inv.deployments.len(), inv.domains.len());
    /// # Ok(()) }
    /// ```
    pub async fn inventory(&self, options: &InventoryOptions) -> Result<Inventory> {
        const OP: &str = "inventory";
        if options.concurrency == 0 {
            return Err(
                Error::invalid_input("concurrency", "must be at least 1").with_operation(OP)
            );
        }
        let limit = options
            .concurrency
            .min(self.max_concurrency().saturating_sub(1))
            .max(1);
        let semaphore = Arc::new(Semaphore::new(limit));
        let mut domain_tasks: JoinSet<DomainListing> = JoinSet::new();
        let mut inv = Inventory::default();
        let mut project_pages = 0usize;
        let mut pending = Some(self.spawn_project_page(None));
        while let Some(mut page) = pending.take() {
            // Collect finished domain listings while the page is in flight.
            let body = loop {
                tokio::select! {
                    biased;
                    page = &mut page => {
                        break page.map_err(|e| Error::internal(format!("page task failed: {e}")))??;
                    }
                    Some(done) = domain_tasks.join_next(), if !domain_tasks.is_empty() => {
                        absorb(&mut inv, done)?;
                    }
                }
            };
            project_pages += 1;
            // Start the next page before decoding this one: the chain is the critical path.
            let quick = quick_next(&body)
                .map(Ok)
                .unwrap_or_else(|| {
                    serde_json::from_slice::<PageHead>(&body)
                        .map(|h| h.pagination.and_then(|p| p.next))
                        .map_err(|e| Error::invalid_response(format!("projects page: {e}")))
                })
                .map_err(|e| e.with_operation(OP))?;
            if let Some(next) = &quick {
                pending = Some(self.spawn_project_page(Some(next.to_query())));
            }
            // Decode on the blocking pool so the runtime's workers stay free
            // for the I/O of the page chain and the domain listings.
            let dock = self.dock_id().to_owned();
            let mut decoding = AbortOnDrop(tokio::task::spawn_blocking(move || {
                decode_page(&dock, &body)
            }));
            let (projects, deployments, next) = loop {
                tokio::select! {
                    biased;
                    decoded = &mut decoding => {
                        break decoded
                            .map_err(|e| Error::internal(format!("decode task failed: {e}")))?
                            .map_err(|e| e.with_operation(OP))?;
                    }
                    Some(done) = domain_tasks.join_next(), if !domain_tasks.is_empty() => {
                        absorb(&mut inv, done)?;
                    }
                }
            };
            if next != quick {
                // The shortcut misread the cursor: follow the real one.
                pending = next.map(|c| self.spawn_project_page(Some(c.to_query())));
            }
            inv.deployments.extend(deployments);
            for project in projects {
                if options.domains {
                    let id = project.meta.reference.provider_resource_id.clone();
                    let client = self.clone();
                    let semaphore = semaphore.clone();
                    domain_tasks.spawn(async move {
                        let _permit = semaphore
                            .acquire_owned()
                            .await
                            .map_err(|_| Error::internal("inventory limiter closed"))?;
                        client.all_project_domains(&id).await
                    });
                }
                inv.projects.push(project);
            }
        }
        inv.requests += project_pages;
        // Domain listings still running after the last project page sit on
        // the critical path: the longest of them adds its pages.
        let mut tail = 0usize;
        while let Some(done) = domain_tasks.join_next().await {
            tail = tail.max(absorb(&mut inv, done)?);
        }
        inv.sequential_round_trips = project_pages + tail;
        Ok(inv)
    }

    /// Fetch one projects page (raw body) on its own task, so it starts now.
    fn spawn_project_page(&self, cursor: Option<String>) -> AbortOnDrop<Result<Bytes>> {
        let mut req = Request::get("/v10/projects")
            .query("limit", self.page_size().to_string())
            .operation("list web services");
        if let Some(c) = cursor {
            req = req.query("from", c);
        }
        let client = self.clone();
        AbortOnDrop(tokio::spawn(async move { client.send_raw(req).await }))
    }

    /// All domains of one project and the number of pages it took.
    async fn all_project_domains(&self, project_id: &str) -> DomainListing {
        let base = Request::get(format!(
            "/v9/projects/{}/domains",
            encode_path_segment(project_id)
        ));
        let base = base.operation("list domains");
        let mut options = stackdock_core::ListOptions::default();
        let mut out = Vec::new();
        let mut pages = 0;
        loop {
            let page = self
                .rest()
                .page_as(base.clone(), &options, until("/domains"));
            let page = page.await?;
            pages += 1;
            for raw in page.items {
                out.push(mapping::project_domain(self.dock_id(), raw, project_id)?);
            }
            match page.next_cursor {
                Some(c) if Some(&c) != options.cursor.as_ref() => options.cursor = Some(c),
                Some(_) => {
                    return Err(Error::invalid_response("pagination cursor did not advance"))
                }
                None => return Ok((out, pages)),
            }
        }
    }
}

type DecodedPage = (Vec<WebService>, Vec<Deployment>, Option<Cursor>);

/// A projects page as web services plus their latest deployments.
fn decode_page(dock_id: &str, body: &[u8]) -> Result<DecodedPage> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::invalid_response(format!("projects page: {e}")))?;
    let (items, next) = split_page(value, "projects")
        .ok_or_else(|| Error::invalid_response("Vercel answered without projects"))?;
    let mut projects = Vec::with_capacity(items.len());
    let mut deployments = Vec::with_capacity(items.len());
    for mut raw in items {
        deployments.extend(mapping::take_latest_deployments(dock_id, &mut raw)?);
        projects.push(mapping::project(dock_id, raw)?);
    }
    Ok((projects, deployments, next))
}

/// The `pagination.next` of a list body, read from the last `"pagination":`
/// key without decoding the items (Vercel puts it after them). `None` when
/// that shortcut does not apply; the caller checks it against the full decode.
fn quick_next(body: &[u8]) -> Option<Option<Cursor>> {
    const KEY: &[u8] = b"\"pagination\"";
    let at = body.windows(KEY.len()).rposition(|w| w == KEY)?;
    let rest = &body[at + KEY.len()..];
    let colon = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    if rest[colon] != b':' {
        return None;
    }
    let mut values = serde_json::Deserializer::from_slice(&rest[colon + 1..])
        .into_iter::<Option<HeadPagination>>();
    let pagination = values.next()?.ok()?;
    Some(pagination.and_then(|p| p.next))
}

/// Add one finished domain listing to the inventory; returns its page count.
fn absorb(
    inv: &mut Inventory,
    done: std::result::Result<DomainListing, tokio::task::JoinError>,
) -> Result<usize> {
    let (domains, pages) =
        done.map_err(|e| Error::internal(format!("domain listing task failed: {e}")))??;
    inv.requests += pages;
    inv.domains.extend(domains);
    Ok(pages)
}

/// A spawned task that is aborted when the handle is dropped, so dropping the
/// inventory future stops the page fetch too.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = std::result::Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_cursor_reads_the_trailing_pagination() {
        let body = br#"{"projects":[{"name":"pagination"}],"pagination":{"count":1,"next":"GAYDC","prev":null}}"#;
        assert_eq!(quick_next(body), Some(Some(Cursor::Text("GAYDC".into()))));
        let body = br#"{"projects":[],"pagination" : {"count":0,"next":1700000000000}}"#;
        assert_eq!(
            quick_next(body),
            Some(Some(Cursor::Number(1_700_000_000_000)))
        );
        assert_eq!(
            quick_next(br#"{"projects":[],"pagination":null}"#),
            Some(None)
        );
        assert_eq!(quick_next(br#"{"projects":[]}"#), None);
        // A value "pagination" (not a key) is not taken for the cursor.
        assert_eq!(
            quick_next(br#"{"pagination":{"next":5},"projects":[{"n":"pagination"}]}"#),
            None
        );
    }
}
