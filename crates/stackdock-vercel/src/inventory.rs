//! [`VercelClient::inventory`]: every project with its latest deployments and
//! domains, as fast as the API allows.
//!
//! The projects listing is a chain of pages (each needs the previous page's
//! cursor), so its pages are the critical path. Project objects already carry
//! `latestDeployments`; domains need one listing per project, and those are
//! started as soon as each project page arrives, at most
//! [`InventoryOptions::concurrency`] at a time, overlapping the next page
//! fetches. When the last project page arrives, only its projects' domain
//! listings are left.

use std::sync::Arc;

use serde_json::Value;
use stackdock_core::resource::Domain;
use stackdock_core::{Error, Result};
use stackdock_http::{encode_path_segment, Request};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::client::VercelClient;
use crate::mapping;
use crate::types::{Inventory, InventoryOptions};

impl VercelClient {
    /// Every project with its latest deployments and domains.
    ///
    /// Fetches project pages one after the other (they form a cursor chain)
    /// and each project's domains concurrently, within
    /// `options.concurrency` (and the client's `max_concurrency`). Dropping the
    /// future cancels every request still in flight.
    ///
    /// ```no_run
    /// use stackdock_vercel::{InventoryOptions, VercelClient, VercelConfig};
    /// # async fn f() -> stackdock_core::Result<()> {
    /// let client = VercelClient::new(VercelConfig::from_env()?.max_concurrency(64))?;
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
        let limit = self.page_size();
        let semaphore = Arc::new(Semaphore::new(options.concurrency));
        let mut tasks: JoinSet<Result<(Vec<Domain>, usize, usize)>> = JoinSet::new();
        let mut inv = Inventory::default();
        let mut cursor: Option<String> = None;
        let mut project_pages = 0usize;
        let mut last_page_batch = 0usize;
        loop {
            let current = cursor.take();
            let page = self.raw_page(
                Request::get("/v10/projects"),
                "projects",
                "from",
                current.as_deref(),
                limit,
                "list web services",
            );
            tokio::pin!(page);
            // Collect finished domain listings while the page is in flight.
            let (items, next) = loop {
                tokio::select! {
                    biased;
                    done = tasks.join_next(), if !tasks.is_empty() => {
                        if let Some(done) = done {
                            absorb(&mut inv, done, &mut 0)?;
                        }
                    }
                    page = &mut page => break page?,
                }
            };
            project_pages += 1;
            last_page_batch += 1;
            for raw in items {
                inv.deployments
                    .extend(mapping::latest_deployments(self.dock_id(), &raw)?);
                let project = mapping::project(self.dock_id(), raw)?;
                if options.domains {
                    let id = project.meta.reference.provider_resource_id.clone();
                    let client = self.clone();
                    let semaphore = semaphore.clone();
                    let batch = last_page_batch;
                    tasks.spawn(async move {
                        let _permit = semaphore
                            .acquire_owned()
                            .await
                            .map_err(|_| Error::internal("inventory limiter closed"))?;
                        let (domains, pages) = client.all_project_domains(&id).await?;
                        Ok((domains, pages, batch))
                    });
                }
                inv.projects.push(project);
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        inv.requests += project_pages;
        // Domain listings of the last project page sit on the critical path.
        let mut tail = 0usize;
        while let Some(done) = tasks.join_next().await {
            absorb(&mut inv, done, &mut tail)?;
        }
        let _ = last_page_batch;
        inv.sequential_round_trips = project_pages + tail;
        Ok(inv)
    }

    /// All domains of one project and the number of pages it took.
    async fn all_project_domains(&self, project_id: &str) -> Result<(Vec<Domain>, usize)> {
        let base = Request::get(format!(
            "/v9/projects/{}/domains",
            encode_path_segment(project_id)
        ));
        let mut cursor: Option<String> = None;
        let mut out = Vec::new();
        let mut pages = 0;
        loop {
            let (items, next): (Vec<Value>, Option<String>) = self
                .raw_page(
                    base.clone(),
                    "domains",
                    "until",
                    cursor.as_deref(),
                    self.page_size(),
                    "list domains",
                )
                .await?;
            pages += 1;
            for raw in items {
                out.push(mapping::project_domain(self.dock_id(), raw, project_id)?);
            }
            match next {
                Some(c) if Some(&c) != cursor.as_ref() => cursor = Some(c),
                Some(_) => {
                    return Err(Error::invalid_response("pagination cursor did not advance"))
                }
                None => return Ok((out, pages)),
            }
        }
    }
}

/// Add one finished domain listing to the inventory; `tail` keeps the most
/// pages any listing finished after the last project page needed.
fn absorb(
    inv: &mut Inventory,
    done: std::result::Result<Result<(Vec<Domain>, usize, usize)>, tokio::task::JoinError>,
    tail: &mut usize,
) -> Result<()> {
    let (domains, pages, _) =
        done.map_err(|e| Error::internal(format!("domain listing task failed: {e}")))??;
    inv.requests += pages;
    *tail = (*tail).max(pages);
    inv.domains.extend(domains);
    Ok(())
}
