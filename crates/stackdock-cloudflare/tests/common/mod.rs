//! A stateful fake of Cloudflare API v4 (zones, DNS records, the batch
//! endpoint), built on the testkit's `FakeRest`. Answers are shaped like
//! Cloudflare's: the `{"success", "errors", "messages", "result",
//! "result_info"}` envelope, page-number paging with `per_page` bounds
//! (zones 5–50, records 5–5,000), the error codes 81044 (record does not
//! exist), 81058 (identical record), 1061 (zone exists), 7003 (unknown
//! object), 10000 (authentication) and 971 (throttled), and records
//! carrying `id, name, type, content, priority, proxiable, proxied, ttl,
//! settings, meta, comment, tags, created_on, modified_on` (SRV and CAA also
//! `data`).

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::{json, Value};
use stackdock_cloudflare::{CloudflareClient, CloudflareConfig};
use stackdock_http::RetryConfig;
use stackdock_testkit::fake_rest::{page_of, Call, FakeRest, Reply};

pub(crate) const TOKEN: &str = "cf-test-token-9f8e7d";
pub(crate) const ACCOUNT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const NOW: &str = "2026-12-06T10:00:00.000000Z";

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) zones: Vec<Value>,
    /// Records per zone id, in creation order.
    pub(crate) records: BTreeMap<String, Vec<Value>>,
    next: u64,
}

impl State {
    fn id(&mut self) -> String {
        self.next += 1;
        format!("{:032x}", 0x5eed_0000_u64 + self.next)
    }

    /// A zone as Cloudflare reports it.
    pub(crate) fn add_zone(&mut self, name: &str) -> String {
        let id = self.id();
        self.zones.push(json!({
            "id": id, "name": name, "status": "active", "paused": false, "type": "full",
            "development_mode": 0,
            "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
            "original_name_servers": null, "original_registrar": null, "original_dnshost": null,
            "created_on": NOW, "modified_on": NOW, "activated_on": NOW,
            "meta": { "step": 2, "custom_certificate_quota": 0, "page_rule_quota": 3, "phishing_detected": false },
            "owner": { "id": null, "type": "user", "email": null },
            "account": { "id": ACCOUNT, "name": "Acme" },
            "tenant": { "id": null, "name": null }, "tenant_unit": { "id": null },
            "permissions": ["#dns_records:edit", "#dns_records:read", "#zone:read"],
            "plan": { "id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website", "price": 0 },
        }));
        self.records.insert(id.clone(), Vec::new());
        id
    }

    fn zone_index(&self, id: &str) -> Option<usize> {
        self.zones.iter().position(|z| z["id"] == id)
    }

    /// A record as Cloudflare stores it, from a create / overwrite body.
    fn record(&mut self, body: &Value, id: Option<String>) -> Result<Value, Reply> {
        let (Some(rtype), Some(name)) = (body["type"].as_str(), body["name"].as_str()) else {
            return Err(error(400, 9000, "DNS record type and name are required."));
        };
        let data = body.get("data").cloned();
        let content = match (rtype, &data) {
            ("SRV", Some(d)) => format!(
                "{} {} {} {}",
                d["priority"],
                d["weight"],
                d["port"],
                str_of(&d["target"])
            ),
            ("CAA", Some(d)) => format!(
                "{} {} \"{}\"",
                d["flags"],
                str_of(&d["tag"]),
                str_of(&d["value"])
            ),
            _ => str_of(&body["content"]),
        };
        if content.is_empty() {
            return Err(error(400, 9005, "Content for record is invalid."));
        }
        let ttl = body["ttl"].as_u64().unwrap_or(1);
        if ttl != 1 && !(60..=86400).contains(&ttl) {
            return Err(error(
                400,
                9021,
                "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.",
            ));
        }
        let mut record = json!({
            "id": id.unwrap_or_else(|| self.id()), "name": name, "type": rtype, "content": content,
            "proxiable": matches!(rtype, "A" | "AAAA" | "CNAME"), "proxied": body["proxied"].as_bool().unwrap_or(false),
            "ttl": ttl, "settings": {}, "meta": {},
            "comment": body.get("comment").cloned().unwrap_or(Value::Null),
            "tags": body.get("tags").cloned().unwrap_or(json!([])),
            "created_on": NOW, "modified_on": NOW,
        });
        if let Some(p) = body
            .get("priority")
            .or_else(|| data.as_ref().and_then(|d| d.get("priority")))
        {
            record["priority"] = p.clone();
        }
        if let Some(d) = data {
            record["data"] = d;
        }
        Ok(record)
    }

    fn identical(&self, zone_id: &str, record: &Value) -> bool {
        self.records[zone_id].iter().any(|r| {
            r["id"] != record["id"]
                && r["type"] == record["type"]
                && r["name"] == record["name"]
                && r["content"] == record["content"]
        })
    }
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn ok(result: Value) -> Reply {
    Reply::json(
        200,
        json!({ "success": true, "errors": [], "messages": [], "result": result }),
    )
}

fn error(status: u16, code: u64, message: &str) -> Reply {
    Reply::json(status, envelope_error(code, message))
}

fn envelope_error(code: u64, message: &str) -> Value {
    json!({ "success": false, "errors": [{ "code": code, "message": message }], "messages": [], "result": null })
}

fn listing(items: &[Value], call: &Call, max: usize) -> Reply {
    let page: usize = call.query("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let per_page: usize = call
        .query("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(max.min(100));
    if !(5..=max).contains(&per_page) || page == 0 {
        return error(400, 1004, &format!("per_page must be between 5 and {max}"));
    }
    let (result, total_pages) = page_of(items, page, per_page);
    Reply::json(
        200,
        json!({
            "success": true, "errors": [], "messages": [], "result": result,
            "result_info": { "page": page, "per_page": per_page, "count": result.len(), "total_count": items.len(), "total_pages": total_pages },
        }),
    )
}

fn no_route(call: &Call) -> Reply {
    let path = call.path.trim_start_matches("/client/v4");
    error(
        400,
        7003,
        &format!("Could not route to {path}, perhaps your object identifier is invalid?"),
    )
}

/// The fake, ready to `start`.
pub(crate) fn fake() -> FakeRest<State> {
    FakeRest::new(State::default())
        .auth("authorization", &format!("Bearer {TOKEN}"))
        .auth_status(403)
        .errors(|status, message| {
            let code = match status {
                403 => 10000,
                429 => 971,
                _ => 1000,
            };
            envelope_error(code, message)
        })
        .route("GET", "/user/tokens/verify", |_, _| {
            ok(json!({ "id": "ed17574386854bf78a67040be0a770b0", "status": "active" }))
        })
        .route("GET", "/zones", |s, call| {
            let zones: Vec<Value> = s
                .zones
                .iter()
                .filter(|z| {
                    call.query("name").is_none_or(|n| z["name"] == n)
                        && call
                            .query("account.id")
                            .is_none_or(|a| z["account"]["id"] == a)
                })
                .cloned()
                .collect();
            listing(&zones, call, 50)
        })
        .route("POST", "/zones", |s, call| {
            let name = str_of(&call.body["name"]);
            if call.body["account"]["id"] != ACCOUNT {
                return error(400, 1002, "Invalid or missing account.");
            }
            if s.zones.iter().any(|z| z["name"] == name) {
                return error(400, 1061, &format!("{name} already exists"));
            }
            let id = s.add_zone(&name);
            let i = s.zone_index(&id).unwrap();
            let zone = &mut s.zones[i];
            zone["status"] = json!("pending");
            ok(zone.clone())
        })
        .route("GET", "/zones/{zone_id}", |s, call| {
            match s.zone_index(call.param("zone_id")) {
                Some(i) => ok(s.zones[i].clone()),
                None => no_route(call),
            }
        })
        .route("DELETE", "/zones/{zone_id}", |s, call| {
            let id = call.param("zone_id").to_owned();
            match s.zone_index(&id) {
                Some(i) => {
                    s.zones.remove(i);
                    s.records.remove(&id);
                    ok(json!({ "id": id }))
                }
                None => no_route(call),
            }
        })
        .route("GET", "/zones/{zone_id}/dns_records", |s, call| {
            let Some(records) = s.records.get(call.param("zone_id")) else {
                return no_route(call);
            };
            let records: Vec<Value> = records
                .iter()
                .filter(|r| {
                    call.query("name.exact")
                        .or(call.query("name"))
                        .is_none_or(|n| r["name"] == n)
                        && call.query("type").is_none_or(|t| r["type"] == t)
                })
                .cloned()
                .collect();
            listing(&records, call, 5000)
        })
        .route("POST", "/zones/{zone_id}/dns_records", |s, call| {
            let zone_id = call.param("zone_id").to_owned();
            if !s.records.contains_key(&zone_id) {
                return no_route(call);
            }
            let record = match s.record(&call.body, None) {
                Ok(r) => r,
                Err(e) => return e,
            };
            if s.identical(&zone_id, &record) {
                return error(400, 81058, "An identical record already exists.");
            }
            s.records.get_mut(&zone_id).unwrap().push(record.clone());
            ok(record)
        })
        .route("GET", "/zones/{zone_id}/dns_records/{id}", |s, call| {
            let Some(records) = s.records.get(call.param("zone_id")) else {
                return no_route(call);
            };
            match records.iter().find(|r| r["id"] == call.param("id")) {
                Some(r) => ok(r.clone()),
                None => error(404, 81044, "Record does not exist."),
            }
        })
        .route("PUT", "/zones/{zone_id}/dns_records/{id}", |s, call| {
            let zone_id = call.param("zone_id").to_owned();
            let Some(i) = s
                .records
                .get(&zone_id)
                .and_then(|rs| rs.iter().position(|r| r["id"] == call.param("id")))
            else {
                return error(404, 81044, "Record does not exist.");
            };
            let record = match s.record(&call.body, Some(call.param("id").to_owned())) {
                Ok(r) => r,
                Err(e) => return e,
            };
            if s.identical(&zone_id, &record) {
                return error(400, 81058, "An identical record already exists.");
            }
            s.records.get_mut(&zone_id).unwrap()[i] = record.clone();
            ok(record)
        })
        .route("DELETE", "/zones/{zone_id}/dns_records/{id}", |s, call| {
            let zone_id = call.param("zone_id").to_owned();
            let Some(records) = s.records.get_mut(&zone_id) else {
                return no_route(call);
            };
            match records.iter().position(|r| r["id"] == call.param("id")) {
                Some(i) => {
                    records.remove(i);
                    ok(json!({ "id": call.param("id") }))
                }
                None => error(404, 81044, "Record does not exist."),
            }
        })
        .route("POST", "/zones/{zone_id}/dns_records/batch", |s, call| {
            batch(s, call)
        })
}

/// `{deletes, patches, puts, posts}` applied in that order, all or nothing.
fn batch(s: &mut State, call: &Call) -> Reply {
    let zone_id = call.param("zone_id").to_owned();
    let Some(before) = s.records.get(&zone_id).cloned() else {
        return no_route(call);
    };
    let list = |key: &str| call.body[key].as_array().cloned().unwrap_or_default();
    let mut result = json!({ "deletes": [], "patches": [], "puts": [], "posts": [] });
    let outcome = (|| -> Result<(), Reply> {
        for d in list("deletes") {
            let records = s.records.get_mut(&zone_id).unwrap();
            let i = records
                .iter()
                .position(|r| r["id"] == d["id"])
                .ok_or_else(|| error(404, 81044, "Record does not exist."))?;
            result["deletes"]
                .as_array_mut()
                .unwrap()
                .push(records.remove(i));
        }
        for p in list("patches") {
            let records = s.records.get_mut(&zone_id).unwrap();
            let r = records
                .iter_mut()
                .find(|r| r["id"] == p["id"])
                .ok_or_else(|| error(404, 81044, "Record does not exist."))?;
            for (k, v) in p.as_object().unwrap() {
                r[k] = v.clone();
            }
            result["patches"].as_array_mut().unwrap().push(r.clone());
        }
        let key = |r: &Value| format!("{}|{}|{}", r["type"], r["name"], r["content"]);
        let mut existing: std::collections::HashSet<String> =
            s.records[&zone_id].iter().map(key).collect();
        for body in list("posts") {
            let record = s.record(&body, None)?;
            if !existing.insert(key(&record)) {
                return Err(error(400, 81058, "An identical record already exists."));
            }
            s.records.get_mut(&zone_id).unwrap().push(record.clone());
            result["posts"].as_array_mut().unwrap().push(record);
        }
        Ok(())
    })();
    match outcome {
        Ok(()) => ok(result),
        Err(e) => {
            s.records.insert(zone_id, before);
            e
        }
    }
}

/// A Cloudflare config pointed at the fake, without retries (so injected
/// faults reach the adapter) unless `retry` is given.
pub(crate) fn config(url: &str, retry: Option<RetryConfig>) -> CloudflareConfig {
    let mut config = CloudflareConfig::new(TOKEN);
    config.account_id = Some(ACCOUNT.to_owned());
    config.rest = config
        .rest
        .base_url(url)
        .retry(retry.unwrap_or_else(RetryConfig::none));
    config
}

pub(crate) fn client(url: &str) -> CloudflareClient {
    CloudflareClient::new(&config(url, None)).unwrap()
}
