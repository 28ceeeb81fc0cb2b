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

use std::collections::HashMap;

use serde_json::{json, Value};
use stackdock_core::Result;
use stackdock_dns::model::Zone;
use stackdock_dns::plan::{plan, Ownership, Plan, PlanOptions, RecordOp};
use stackdock_http::Request;

use crate::adapter::{body, record_parts};
use crate::client::records_path;
use crate::CloudflareClient;

/// A plan and the batch requests that apply it.
#[derive(Debug, Clone)]
pub struct ZonePlan {
    /// What would change, for people (`Display`) and machines (serde).
    pub plan: Plan,
    /// The bodies of the batch requests, in order.
    pub batches: Vec<Value>,
    zone_id: String,
}

impl CloudflareClient {
    /// The plan that turns the zone (which must exist) into `desired`;
    /// marked ownership uses this dock's marker.
    pub async fn plan_zone(&self, desired: &Zone, options: &PlanOptions) -> Result<ZonePlan> {
        let zone_id = self.require_zone_id(&desired.name).await?;
        let records = self
            .rest
            .all(Request::get(records_path(&zone_id, None)))
            .await?;
        let mut ids = HashMap::new();
        let mut actual = Vec::new();
        for raw in &records {
            let Some((name, ttl, data)) = record_parts(raw) else {
                continue;
            };
            ids.insert((name.clone(), data.clone()), raw["id"].clone());
            actual.push((name, ttl, data, raw["comment"].as_str().map(str::to_owned)));
        }
        let actual = Zone::from_records(&desired.name, actual)?;
        let mut options = options.clone();
        if let Ownership::Marked(_) = options.ownership {
            options = options.with_ownership(Ownership::Marked(self.marker.clone()));
        }
        let plan = plan(desired, Some(&actual), &options)?;
        let id = |name: &str, data| ids.get(&(name.to_owned(), Clone::clone(data)));
        let ops: Vec<(&str, Value)> = (plan.record_ops().into_iter())
            .map(|op| match op {
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
            })
            .collect();
        let batches = ops.chunks(self.batch_size.max(1)).map(batch_body).collect();
        Ok(ZonePlan {
            plan,
            batches,
            zone_id,
        })
    }

    /// Send the plan's batches in order; returns how many requests it took.
    pub async fn apply_zone(&self, zone_plan: &ZonePlan) -> Result<usize> {
        for batch in &zone_plan.batches {
            let path = format!("{}/batch", records_path(&zone_plan.zone_id, None));
            let req = Request::post(path)
                .json(batch)
                .operation("batch dns records");
            self.rest.http().send_empty(req).await?;
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

fn batch_body(chunk: &[(&str, Value)]) -> Value {
    let mut batch = json!({ "deletes": [], "patches": [], "posts": [] });
    for (key, op) in chunk {
        if let Some(list) = batch[*key].as_array_mut() {
            list.push(op.clone());
        }
    }
    batch
}
