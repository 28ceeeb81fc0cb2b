//! Whole-zone plan/apply with `stackdock-dns`'s plan types (feature `plan`).
//!
//! [`CloudflareClient::plan_zone`] reads every record of the zone (5,000 a
//! page), marks sets whose records all carry this dock's comment marker as
//! ours, and plans with [`stackdock_dns::plan::plan`]: the same ownership
//! rule and safety threshold as the PowerDNS and zone-file backends.
//! [`CloudflareClient::apply_zone`] sends it through
//! `POST /zones/{zone_id}/dns_records/batch` — deletes, then patches (TTL
//! or marker of records that stay), then posts — `batch_size` changes a
//! request in that order, so a new 10,000-record zone takes 2 reads and 50
//! batches on a Free plan.
//!
//! Reading is built for big zones: the pages after the first are fetched
//! in parallel (at most [`PAGES_IN_FLIGHT`] at once), each is decoded on
//! the blocking pool as soon as it arrives (decoding page 1 never holds
//! back the request for page 2), straight into typed records borrowing
//! from its bytes (no JSON tree), then noted in a [`RecordSieve`] while
//! later pages are in flight: only the records of sets not already as
//! desired are grouped, checked and planned, and the desired zone is
//! checked once, before any call.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};
use stackdock_core::dns::{from_parts, RecordData};
use stackdock_core::{Error, Result};
use stackdock_dns::model::{check_owner_marker, CheckedZone, Zone};
use stackdock_dns::plan::{Noted, Ownership, Plan, PlanOptions, RecordOp, RecordSieve};
use stackdock_http::{Request, Response};
use tokio::task::JoinSet;

use crate::adapter::body;
use crate::client::records_path;
use crate::config::API;
use crate::CloudflareClient;

/// The most listing pages requested at once when reading a zone.
pub const PAGES_IN_FLIGHT: usize = 8;

/// A plan and the batch requests that apply it.
#[derive(Debug, Clone)]
pub struct ZonePlan {
    /// What would change, for people (`Display`) and machines (serde).
    pub plan: Plan,
    /// The bodies of the batch requests, in order.
    pub batches: Vec<Value>,
    zone_id: String,
}

/// One record of a listing page, borrowing from the page's bytes.
#[derive(Deserialize)]
struct Listed<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    rtype: Cow<'a, str>,
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default)]
    priority: Option<u64>,
    #[serde(default)]
    ttl: Option<u64>,
    #[serde(default, borrow)]
    comment: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Listing<'a> {
    #[serde(borrow)]
    result: Vec<Listed<'a>>,
}

#[derive(Deserialize)]
struct PageCount {
    #[serde(default)]
    result_info: Option<PageInfo>,
}

#[derive(Deserialize)]
struct PageInfo {
    #[serde(default)]
    total_pages: u32,
}

/// A listed record as planning needs it.
struct Record {
    id: String,
    name: String,
    ttl: u32,
    data: RecordData,
    comment: Option<String>,
    noted: Noted,
}

fn unreadable(e: serde_json::Error) -> Error {
    // The place, never the values (they may hold record data).
    let at = format!("line {} column {}", e.line(), e.column());
    Error::invalid_response(format!("unreadable Cloudflare record listing at {at}"))
}

/// The records of one listing page that StackDock carries (as `record_parts`).
fn read_page(body: &[u8]) -> Result<Vec<Record>> {
    let page: Listing<'_> = serde_json::from_slice(body).map_err(unreadable)?;
    let mut out = Vec::with_capacity(page.result.len());
    for r in page.result {
        let priority = r.priority.map(u16::try_from).transpose();
        let (Ok(priority), Some(content)) = (priority, r.content) else {
            continue;
        };
        let data = from_parts(&r.rtype, priority, &content);
        let ttl = r.ttl.and_then(|t| u32::try_from(t).ok());
        let (Some(data), Some(ttl)) = (data, ttl) else {
            continue;
        };
        let name = match r.name {
            Cow::Borrowed(n) if !n.bytes().any(|b| b.is_ascii_uppercase()) => n.to_owned(),
            name => name.to_ascii_lowercase(),
        };
        let (id, comment) = (r.id.into_owned(), r.comment.map(Cow::into_owned));
        out.push(Record {
            id,
            name,
            ttl,
            data,
            comment,
            noted: Noted::default(),
        });
    }
    Ok(out)
}

/// `total_pages` of a listing page. Read from the end when `result_info`
/// is among the envelope's last keys (Cloudflare's order: it follows
/// `result`), so the next pages are requested without parsing page 1's
/// 5,000 records first; otherwise from the whole page.
fn total_pages(body: &[u8]) -> Result<u32> {
    let info = match page_info_at_end(body) {
        Some(info) => Some(info),
        None => {
            serde_json::from_slice::<PageCount>(body)
                .map_err(unreadable)?
                .result_info
        }
    };
    Ok(info.map_or(1, |i| i.total_pages.max(1)))
}

/// The last `"result_info"` key's value when that key is the envelope's:
/// its object ends where the body does (a record's nested key never does).
fn page_info_at_end(body: &[u8]) -> Option<PageInfo> {
    let key = b"\"result_info\"";
    let at = body.windows(key.len()).rposition(|w| w == key)?;
    let before = body[..at].trim_ascii_end().last();
    let value = body[at + key.len()..]
        .trim_ascii_start()
        .strip_prefix(b":")?;
    let mut values = serde_json::Deserializer::from_slice(value).into_iter::<PageInfo>();
    let info = values.next()?.ok()?;
    let rest = value[values.byte_offset()..].trim_ascii();
    // `}`, or `, "k": v ... }` that closes an object when opened with `{`.
    let closes = match rest.split_first()? {
        (b'}', after) => after.is_empty(),
        (b',', keys) => serde_json::from_slice::<IgnoredAny>(&[&b"{"[..], keys].concat()).is_ok(),
        _ => false,
    };
    (matches!(before, Some(b',' | b'{')) && closes).then_some(info)
}

/// Page `page`'s records, decoded on the blocking pool.
async fn decode(page: u32, response: Response) -> Result<(u32, Vec<Record>)> {
    let decoding = tokio::task::spawn_blocking(move || read_page(&response.body));
    Ok((page, decoding.await.map_err(task_failed)??))
}

fn task_failed(e: tokio::task::JoinError) -> Error {
    Error::internal(format!("record listing task failed: {e}"))
}

impl CloudflareClient {
    fn records_page(&self, zone_id: &str, page: u32) -> Request {
        let per_page = API.max_page_size.to_string();
        let req = Request::get(records_path(zone_id, None)).query("page", page.to_string());
        req.query("per_page", per_page)
            .operation("list dns records")
    }

    /// Every record of zone `zone_id`, page by page: page 1, then the
    /// others at most [`PAGES_IN_FLIGHT`] at once. Pages are decoded on the
    /// blocking pool, so decoding one never holds back another's request;
    /// each is noted in `sieve` as it comes back, while later ones are in
    /// flight.
    async fn all_records(
        &self,
        zone_id: &str,
        sieve: &mut RecordSieve<'_>,
    ) -> Result<Vec<Vec<Record>>> {
        let first = self.rest.http().send(self.records_page(zone_id, 1)).await?;
        let total = total_pages(&first.body)?;
        let mut pages: Vec<Vec<Record>> = Vec::new(); // sized by pages read, not by `total_pages`
        let mut tasks = JoinSet::new(); // dropped on error: the rest are aborted
        tasks.spawn(decode(1, first));
        let (mut next, mut fetching) = (2, 0);
        loop {
            while next <= total && fetching < PAGES_IN_FLIGHT {
                let (http, req) = (self.rest.http().clone(), self.records_page(zone_id, next));
                tasks.spawn(async move { decode(next, http.send(req).await?).await });
                (next, fetching) = (next + 1, fetching + 1);
            }
            let Some(done) = tasks.join_next().await else {
                return Ok(pages); // not concatenated: that would copy every record
            };
            let (page, mut records) = done.map_err(task_failed)??;
            for r in &mut records {
                r.noted = sieve.note(&r.name, r.ttl, &r.data, r.comment.as_deref());
            }
            fetching -= usize::from(page > 1);
            let at = page as usize - 1;
            if pages.len() <= at {
                pages.resize_with(at + 1, Vec::new);
            }
            pages[at] = records;
        }
    }

    /// The plan that turns the zone (which must exist) into `desired`;
    /// marked ownership uses this dock's marker.
    pub async fn plan_zone(&self, desired: &Zone, options: &PlanOptions) -> Result<ZonePlan> {
        // Bad input — the zone, or this dock's marker as an owner — fails
        // before any call.
        let desired = CheckedZone::new(desired)?;
        let mut options = options.clone();
        if let Ownership::Marked(_) = options.ownership {
            check_owner_marker(&self.marker)?;
            options = options.with_ownership(Ownership::Marked(self.marker.clone()));
        }
        let zone_id = self.require_zone_id(&desired.name).await?;
        let mut sieve = RecordSieve::new(&desired, &options);
        let records = self.all_records(&zone_id, &mut sieve).await?;
        // Only the records of sets not already as desired are grouped and planned.
        let sifted = sieve.finish();
        let needed = records.iter().flatten();
        let needed = needed.filter(|r| sifted.needed(r.noted));
        let actual = Zone::from_records(
            &desired.name,
            needed.map(|r| (r.name.clone(), r.ttl, r.data.clone(), r.comment.clone())),
        )?;
        let plan = sifted.plan(Some(&actual))?;
        let batches = self.batches(&plan.record_ops(), &records);
        // Freeing a big zone read is work nobody waits for.
        tokio::task::spawn_blocking(move || drop((actual, records)));
        Ok(ZonePlan {
            plan,
            batches,
            zone_id,
        })
    }

    /// The batch bodies of `ops`, `batch_size` a request; record ids are
    /// looked up only for the records deleted or restamped.
    fn batches(&self, ops: &[RecordOp<'_>], records: &[Vec<Record>]) -> Vec<Value> {
        let mut ids: HashMap<(&str, &RecordData), Option<&str>> = HashMap::new();
        for op in ops {
            if let RecordOp::Delete { name, data } | RecordOp::Restamp { name, data, .. } = *op {
                ids.insert((name, data), None);
            }
        }
        if !ids.is_empty() {
            for r in records.iter().flatten() {
                if let Some(id) = ids.get_mut(&(r.name.as_str(), &r.data)) {
                    *id = Some(r.id.as_str());
                }
            }
        }
        let id = |name, data| ids.get(&(name, data)).copied().flatten();
        let empty = || json!({ "deletes": [], "patches": [], "posts": [] });
        let (mut batches, mut batch, mut size) = (Vec::new(), empty(), 0);
        for op in ops {
            let (key, op) = match *op {
                RecordOp::Delete { name, data } => ("deletes", json!({ "id": id(name, data) })),
                RecordOp::Restamp {
                    name, data, ttl, ..
                } => {
                    let patch =
                        json!({ "id": id(name, data), "ttl": ttl, "comment": &self.marker });
                    ("patches", patch)
                }
                RecordOp::Add {
                    name, data, ttl, ..
                } => ("posts", body(name, Some(ttl), data, &self.marker)),
            };
            if let Some(list) = batch[key].as_array_mut() {
                list.push(op);
            }
            size += 1;
            if size == self.batch_size.max(1) {
                batches.push(std::mem::replace(&mut batch, empty()));
                size = 0;
            }
        }
        if size > 0 {
            batches.push(batch);
        }
        batches
    }

    /// Send the plan's batches in order; returns how many requests it took.
    pub async fn apply_zone(&self, zone_plan: &ZonePlan) -> Result<usize> {
        let path = format!("{}/batch", records_path(&zone_plan.zone_id, None));
        let request = |batch| {
            Request::post(&path)
                .json(batch)
                .operation("batch dns records")
        };
        let mut requests = zone_plan.batches.iter().map(request);
        let mut next = requests.next();
        while let Some(req) = next {
            // The next body is serialised while this one is in flight.
            let (sent, following) =
                tokio::join!(self.rest.http().send_empty(req), async { requests.next() });
            sent?;
            next = following;
        }
        Ok(zone_plan.batches.len())
    }

    /// Plan, then apply: the zone ends up as `desired` (our sets only).
    pub async fn sync_zone(&self, desired: &Zone, options: &PlanOptions) -> Result<Plan> {
        let zone_plan = self.plan_zone(desired, options).await?;
        self.apply_zone(&zone_plan).await?;
        Ok(zone_plan.plan)
    }
}
