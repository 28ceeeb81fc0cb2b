//! A stateful fake of GridPane's API for tests, built from wiremock `Respond`.
//!
//! It is seeded from the fixture files (shaped like captured GridPane
//! answers), keeps servers, sites, domains, system users and backups in
//! memory, answers with Laravel-style pagination and error bodies, checks the
//! bearer token, can throttle ("Beep, Beep") and fail chosen settings, and
//! records every request for the snapshot tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use stackdock_gridpane::{GridPaneAdapter, GridPaneClient, GridPaneConfig};
use stackdock_http::RetryConfig;
use stackdock_testkit::FaultHook;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const TOKEN: &str = "gp-test-token-5f1e9c";
pub const PREFIX: &str = "/oauth/api/v1";
pub const INSTALL_TOKEN: &str = "FAKE-INSTALL-TOKEN-93ab";

pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture exists"))
        .expect("fixture is JSON")
}

/// One request the fake received.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub body: Value,
}

/// How the fake throttles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// 200 with a "Beep, Beep" body.
    BeepBody,
    /// 429 with `Retry-After: <secs>`.
    TooMany(u64),
}

#[derive(Default)]
pub struct State {
    pub servers: BTreeMap<u64, Value>,
    pub sites: BTreeMap<u64, Value>,
    pub domains: BTreeMap<u64, Value>,
    pub users: BTreeMap<u64, Value>,
    pub backups: BTreeMap<u64, Vec<Value>>,
    /// `GET /backups/schedules` entries (seeded from the fixture).
    pub schedules: Vec<Value>,
    /// Restores started: (site id, body).
    pub restores: Vec<(u64, Value)>,
    pub next_id: u64,
    pub requests: Vec<Recorded>,
    pub throttle: Option<(Throttle, usize)>,
    /// `PUT` bodies whose key is listed here fail with 422.
    pub fail_settings: Vec<String>,
    /// Answer single GETs of servers as `{"server": {...}}` instead of `{"data": [{...}]}`.
    pub keyed_server_get: bool,
    /// Requests received since the fake started (never drained, unlike `requests`).
    pub seen: usize,
    /// The request number (of `seen`) whose answer is lost, if any.
    pub fail_at: Option<usize>,
    /// Delay answers to listings (read when asked, sent late), so that
    /// concurrent "look, then create" callers all see the same old state.
    pub slow_lists: Option<std::time::Duration>,
}

#[derive(Clone, Default)]
pub struct FakeGridPane {
    pub state: Arc<Mutex<State>>,
}

fn now() -> &'static str {
    "2026-11-23T10:00:00.000000Z"
}

fn err(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn not_found(model: &str, id: impl std::fmt::Display) -> ResponseTemplate {
    err(
        404,
        json!({"message": format!("No query results for model [App\\Models\\{model}] {id}")}),
    )
}

fn invalid(errors: Value) -> ResponseTemplate {
    err(
        422,
        json!({"message": "The given data was invalid.", "errors": errors}),
    )
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn id_in(v: &Value, key: &str) -> Option<u64> {
    match v.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn query(req: &Request, key: &str) -> Option<u32> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
}

/// A Laravel paginator answer; `nested` puts items under `data.<nested>` (domains).
fn paginated(
    req: &Request,
    path: &str,
    items: Vec<Value>,
    nested: Option<&str>,
) -> ResponseTemplate {
    let per_page = query(req, "per_page").unwrap_or(10).max(1) as usize;
    let page = query(req, "page").unwrap_or(1).max(1) as usize;
    let total = items.len();
    let last = total.div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let base = format!("https://my.gridpane.com{PREFIX}/{path}");
    let link = |p: usize| json!(format!("{base}?page={p}"));
    let data = match nested {
        Some(key) => {
            json!({ key: slice, "constants": {"type": [{"text": "alias", "value": "alias"}]} })
        }
        None => json!(slice),
    };
    let count = data
        .get(nested.unwrap_or(""))
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or_else(|| data.as_array().map(Vec::len).unwrap_or(0));
    ok(json!({
        "data": data,
        "links": {
            "first": link(1),
            "last": link(last),
            "prev": if page > 1 { link(page - 1) } else { Value::Null },
            "next": if page < last { link(page + 1) } else { Value::Null },
        },
        "meta": {
            "current_page": page,
            "from": if count == 0 { Value::Null } else { json!((page - 1) * per_page + 1) },
            "last_page": last,
            "path": base,
            "per_page": per_page,
            "to": if count == 0 { Value::Null } else { json!((page - 1) * per_page + count) },
            "total": total,
        }
    }))
}

impl FakeGridPane {
    /// A fake seeded with the fixture files.
    pub fn seeded() -> Self {
        let fake = FakeGridPane::default();
        {
            let mut s = fake.state.lock().unwrap();
            s.next_id = 900_000;
            for v in fixture("servers.json")["data"].as_array().unwrap() {
                s.servers.insert(id_in(v, "id").unwrap(), v.clone());
            }
            for v in fixture("sites.json")["data"].as_array().unwrap() {
                s.sites.insert(id_in(v, "id").unwrap(), v.clone());
            }
            let single = fixture("site.json")["data"].clone();
            s.sites.insert(id_in(&single, "id").unwrap(), single);
            for v in fixture("domains.json")["data"]["domains"]
                .as_array()
                .unwrap()
            {
                s.domains.insert(id_in(v, "id").unwrap(), v.clone());
            }
            for v in fixture("system-users.json")["data"].as_array().unwrap() {
                s.users.insert(id_in(v, "id").unwrap(), v.clone());
            }
            s.schedules = fixture("backup-schedules.json")["data"]
                .as_array()
                .unwrap()
                .clone();
        }
        fake
    }

    /// Start a wiremock server answering everything with this fake.
    pub async fn start(&self) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(self.clone())
            .mount(&server)
            .await;
        server
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn calls(&self) -> usize {
        self.lock().requests.len()
    }

    pub fn take_requests(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.lock().requests)
    }

    /// Requests that changed something (everything but GET).
    pub fn take_mutations(&self) -> Vec<Recorded> {
        self.take_requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }

    pub fn throttle_next(&self, how: Throttle, times: usize) {
        self.lock().throttle = Some((how, times));
    }

    pub fn fail_setting(&self, key: &str) {
        self.lock().fail_settings.push(key.to_owned());
    }

    fn new_id(s: &mut State) -> u64 {
        s.next_id += 1;
        s.next_id
    }
}

pub fn config_for(server: &MockServer) -> GridPaneConfig {
    GridPaneConfig::new(TOKEN)
        .with_base_url(&format!("{}{PREFIX}", server.uri()))
        .unwrap()
        .with_dock_id("gp-test")
        .with_throttle_wait(std::time::Duration::from_millis(50))
}

pub async fn start_adapter() -> (FakeGridPane, MockServer, GridPaneAdapter) {
    let fake = FakeGridPane::seeded();
    let server = fake.start().await;
    let adapter = GridPaneAdapter::new(config_for(&server)).unwrap();
    (fake, server, adapter)
}

/// A GridPane dock built the way a control plane builds it: configuration,
/// factory, registry (so every layer is in between). Dock id `gp-main`.
pub async fn registry_dock() -> (
    FakeGridPane,
    MockServer,
    std::sync::Arc<dyn stackdock_core::DockAdapter>,
) {
    use stackdock_core::factory::{Credentials, DockConfig, DockFactories};
    let fake = FakeGridPane::seeded();
    let server = fake.start().await;
    let config: DockConfig = serde_json::from_value(json!({
        "id": "gp-main", "provider": "gridpane",
        "settings": {"base_url": format!("{}{PREFIX}", server.uri())},
        "credentials": {"token": "env:UNUSED_HERE"}
    }))
    .unwrap();
    let credentials = Credentials::from_values(
        "gp-main",
        [(
            "token".to_owned(),
            stackdock_core::secret::SecretString::from(TOKEN),
        )],
    );
    let adapter = DockFactories::new()
        .with(stackdock_gridpane::GridPaneFactory)
        .build(&config, &credentials)
        .unwrap();
    let mut registry = stackdock_core::DockRegistry::new();
    registry.insert(adapter).unwrap();
    let dock = registry.require("gp-main").unwrap();
    (fake, server, dock)
}

/// An adapter whose HTTP layer does not retry, so a fault placed with
/// [`FaultHook::fail_call`] reaches the adapter.
pub fn adapter_without_retries(server: &MockServer) -> GridPaneAdapter {
    let config = config_for(server).with_retry(RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    });
    GridPaneAdapter::new(config).unwrap()
}

pub async fn start_client() -> (FakeGridPane, MockServer, GridPaneClient) {
    let fake = FakeGridPane::seeded();
    let server = fake.start().await;
    let client = GridPaneClient::new(config_for(&server)).unwrap();
    (fake, server, client)
}

impl Respond for FakeGridPane {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = if req.body.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&req.body) {
                Ok(v) => v,
                Err(_) => return err(400, json!({"message": "Malformed JSON body"})),
            }
        };
        let mut path = req.url.path().to_owned();
        if let Some(q) = req.url.query() {
            path = format!("{path}?{q}");
        }
        let mut s = self.lock();
        s.requests.push(Recorded {
            method: req.method.to_string(),
            path: path.clone(),
            body: body.clone(),
        });
        s.seen += 1;
        let lost = s.fail_at == Some(s.seen);
        if lost {
            s.fail_at = None;
        }
        let mut answer = self.answer(&mut s, req, &body);
        if let Some(delay) = s
            .slow_lists
            .filter(|_| req.method.as_str() == "GET" && query(req, "page").is_some())
        {
            answer = answer.set_delay(delay);
        }
        if lost {
            // Carried out, but the answer never arrives: the hardest failure
            // for a create (did it happen or not?).
            return err(503, json!({"message": "injected fault: answer lost"}));
        }
        answer
    }
}

impl FakeGridPane {
    fn answer(&self, s: &mut State, req: &Request, body: &Value) -> ResponseTemplate {
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if auth != Some(&format!("Bearer {TOKEN}")) {
            return err(401, json!({"message": "Unauthenticated."}));
        }
        if let Some((how, left)) = s.throttle {
            s.throttle = (left > 1).then_some((how, left - 1));
            return match how {
                Throttle::BeepBody => ok(fixture("throttle.json")),
                Throttle::TooMany(secs) => err(429, fixture("throttle.json"))
                    .insert_header("retry-after", secs.to_string().as_str()),
            };
        }
        let Some(rest) = req.url.path().strip_prefix(PREFIX) else {
            return err(404, json!({"message": "Not Found"}));
        };
        let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
        let method = req.method.as_str();
        route(s, req, method, &segs, body)
    }
}

/// The fake's fault hook: the answer to the k-th request from now is lost
/// (a 503 after the request was carried out).
impl FaultHook for FakeGridPane {
    fn fail_call(&self, k: usize) {
        let mut s = self.lock();
        s.fail_at = Some(s.seen + k);
    }

    fn clear(&self) {
        self.lock().fail_at = None;
    }
}

fn route(
    s: &mut State,
    req: &Request,
    method: &str,
    segs: &[&str],
    body: &Value,
) -> ResponseTemplate {
    let num = |i: usize| segs.get(i).and_then(|v| v.parse::<u64>().ok());
    match (method, segs) {
        ("GET", ["user"]) => ok(fixture("user.json")),
        ("GET", ["user", "integrations"]) => ok(fixture("user-integrations.json")),

        // ---- servers
        ("GET", ["server"]) => {
            paginated(req, "server", s.servers.values().cloned().collect(), None)
        }
        ("POST", ["server", "custom"]) => create_custom_server(s, body),
        ("POST", ["server", provider]) if !provider.chars().all(|c| c.is_ascii_digit()) => {
            create_provider_server(s, provider, body)
        }
        ("GET", ["server", "build-progress", _]) => {
            match num(2).and_then(|id| s.servers.get(&id)) {
                None => not_found("Server", segs[2]),
                Some(server) => match server["status"].as_str() {
                    Some("active") => ok(
                        json!({"success": true, "server_id": server["id"], "build_percentage": 100,
                    "current_details": "Provisioning complete!!!", "updated_at": now()}),
                    ),
                    Some("building") => ok(
                        json!({"success": true, "server_id": server["id"], "build_percentage": 45,
                    "current_details": "Installing nginx", "updated_at": now()}),
                    ),
                    _ => ok(json!({"success": true, "server_id": server["id"],
                    "build_status": "preparing to initiate build... waiting for ready callback from server!"})),
                },
            }
        }
        ("GET", ["server", _]) => match num(1).and_then(|id| s.servers.get(&id)) {
            None => not_found("Server", segs[1]),
            Some(server) if s.keyed_server_get => ok(json!({ "server": server })),
            Some(server) => ok(json!({ "data": [server] })),
        },
        ("PUT", ["server", _]) => {
            let Some(id) = num(1).filter(|id| s.servers.contains_key(id)) else {
                return not_found("Server", segs[1]);
            };
            if let Some(resp) = one_setting(
                s,
                body,
                &[
                    &["server_timezone"],
                    &["update_backups_system", "enable_site_local_backups"],
                    &["update_backups_system"],
                ],
            ) {
                return resp;
            }
            let server = s.servers.get_mut(&id).unwrap();
            if let Some(tz) = body.get("server_timezone") {
                server["server_timezone"] = tz.clone();
            }
            if body.get("update_backups_system").is_some() {
                server["update_backups"] = json!(true);
            }
            ok(json!({"success": true, "message": "Server update queued"}))
        }
        ("DELETE", ["server", _]) => match num(1).and_then(|id| s.servers.remove(&id)) {
            None => not_found("Server", segs[1]),
            Some(_) => ok(json!({"success": true, "message": "Server deleted"})),
        },

        // ---- sites
        ("GET", ["site"]) => paginated(req, "site", s.sites.values().cloned().collect(), None),
        ("POST", ["site"]) => create_site(s, body),
        ("GET", ["site", _]) => match num(1).and_then(|id| s.sites.get(&id)) {
            None => not_found("Site", segs[1]),
            Some(site) => ok(json!({ "data": site })),
        },
        ("PUT", ["site", _]) => {
            let Some(id) = num(1).filter(|id| s.sites.contains_key(id)) else {
                return not_found("Site", segs[1]);
            };
            if let Some(resp) = one_setting(
                s,
                body,
                &[
                    &["php_version"],
                    &["pm"],
                    &["nginx_caching"],
                    &["system_user_id"],
                ],
            ) {
                return resp;
            }
            if let Some(v) = body.get("php_version") {
                if !matches!(
                    v.as_str(),
                    Some("7.4" | "8.0" | "8.1" | "8.2" | "8.3" | "8.4")
                ) {
                    return invalid(
                        json!({"php_version": ["The selected php version is invalid."]}),
                    );
                }
            }
            let site = s.sites.get_mut(&id).unwrap();
            for (k, v) in body.as_object().unwrap() {
                site[k.as_str()] = v.clone();
            }
            ok(json!({"success": true, "message": "Site setting updated"}))
        }
        ("DELETE", ["site"]) => {
            let (Some(site_id), Some(server_id)) =
                (id_in(body, "site_id"), id_in(body, "server_id"))
            else {
                return invalid(
                    json!({"site_id": ["The site id field is required."], "server_id": ["The server id field is required."]}),
                );
            };
            match s.sites.get(&site_id) {
                None => not_found("Site", site_id),
                Some(site) if id_in(site, "server_id") != Some(server_id) => err(
                    422,
                    json!({"message": "The site does not belong to that server."}),
                ),
                Some(_) => {
                    s.sites.remove(&site_id);
                    s.domains
                        .retain(|_, d| id_in(d, "site_id") != Some(site_id));
                    ok(json!({"success": true, "message": "Site deleted"}))
                }
            }
        }
        ("DELETE", ["site", _]) => match num(1).and_then(|id| s.sites.remove(&id)) {
            None => not_found("Site", segs[1]),
            Some(_) => ok(json!({"success": true})),
        },

        // ---- domains
        ("GET", ["domain"]) => paginated(
            req,
            "domain",
            s.domains.values().cloned().collect(),
            Some("domains"),
        ),
        ("POST", ["domain"]) => add_domain(s, body),
        ("GET", ["domain", _]) => match num(1).and_then(|id| s.domains.get(&id)) {
            None => not_found("Domain", segs[1]),
            Some(d) => ok(json!({ "data": { "domains": [d] } })),
        },
        ("PUT", ["domain", _]) => update_domain(s, num(1), segs[1], body),
        ("DELETE", ["domain", _]) => match num(1).and_then(|id| s.domains.get(&id).cloned()) {
            None => not_found("Domain", segs[1]),
            Some(d) if d["type"] == "primary" => err(
                422,
                json!({"message": "The primary domain cannot be deleted."}),
            ),
            Some(_) => {
                s.domains.remove(&num(1).unwrap());
                ok(json!({"success": true, "message": "Domain deleted"}))
            }
        },

        // ---- system users
        ("GET", ["system-user"]) => paginated(
            req,
            "system-user",
            s.users.values().cloned().collect(),
            None,
        ),
        ("POST", ["system-user"]) => create_user(s, body),
        ("GET", ["system-user", _]) => match num(1).and_then(|id| s.users.get(&id)) {
            None => not_found("SystemUser", segs[1]),
            Some(u) => ok(json!({ "data": u })),
        },
        ("PUT", ["system-user", _]) => {
            let Some(id) = num(1).filter(|id| s.users.contains_key(id)) else {
                return not_found("SystemUser", segs[1]);
            };
            if body.get("password") != body.get("password_confirmation") {
                return invalid(json!({"password": ["The password confirmation does not match."]}));
            }
            let user = s.users.get_mut(&id).unwrap();
            if let Some(p) = body.get("password") {
                user["password"] = p.clone();
            }
            if let Some(k) = body.get("ssh_public_key") {
                user["public_key"] = k.clone();
                user["ssh_access"] = json!(true);
            }
            ok(json!({"success": true, "message": "System user updated"}))
        }
        ("DELETE", ["system-user", _]) => match num(1).and_then(|id| s.users.remove(&id)) {
            None => not_found("SystemUser", segs[1]),
            Some(_) => ok(json!({"success": true})),
        },

        // ---- backups
        ("POST", ["backups", _]) => {
            let Some(site_id) = num(1).filter(|id| s.sites.contains_key(id)) else {
                return not_found("Site", segs[1]);
            };
            let kind = body["type"].as_str().unwrap_or_default().to_owned();
            if kind != "local" && kind != "remote" {
                return invalid(json!({"type": ["The selected type is invalid."]}));
            }
            if kind == "remote" && body.get("integration_id").is_none() {
                return invalid(
                    json!({"integration_id": ["The integration id field is required when type is remote."]}),
                );
            }
            let n = s.backups.get(&site_id).map(Vec::len).unwrap_or(0) + 1;
            let tag = body.get("tag").and_then(Value::as_str);
            // The restore/purge name: "date time[ tag]"; minutes advance per backup.
            let stamp = format!("2026-11-23 10:{n:02}");
            let name = tag.map_or(stamp.clone(), |t| format!("{stamp} {t}"));
            let source = if kind == "local" { "local" } else { "aws-s3" };
            s.backups.entry(site_id).or_default().push(json!({
                "id": format!("{site_id}-{kind}-{n}"), "type": kind,
                "backup": name, "backup_source": source, "backup_type": "manual",
                "tag": tag.map_or(json!("manual"), |t| json!(t)),
                "created_at": format!("2026-11-23T10:{n:02}:00.000000Z"),
            }));
            ok(json!({"success": true, "message": format!("{kind} backup started")}))
        }
        ("GET", ["backups", "original", _]) => {
            let Some(site_id) = num(2).filter(|id| s.sites.contains_key(id)) else {
                return not_found("Site", segs[2]);
            };
            let all = s.backups.get(&site_id).cloned().unwrap_or_default();
            let of = |k: &str| {
                all.iter()
                    .filter(|b| b["type"] == k)
                    .cloned()
                    .collect::<Vec<_>>()
            };
            ok(json!({"success": true, "data": {"local": of("local"), "remote": of("remote")}}))
        }
        ("GET", ["backups", "schedules"]) => ok(json!({"success": true, "data": s.schedules})),
        ("GET", ["backups", "schedules", "site", _]) => {
            let Some(site_id) = num(3) else {
                return not_found("Site", segs[3]);
            };
            let of_site: Vec<Value> = s
                .schedules
                .iter()
                .filter(|e| id_in(e, "site_id") == Some(site_id))
                .cloned()
                .collect();
            ok(json!({"success": true, "data": of_site}))
        }
        ("PUT", ["backups", "schedule", "site", _]) => {
            let site_id = num(3).unwrap_or_default();
            schedule_update(&mut s.schedules, site_id, body)
        }
        ("POST", ["backups", "restore", _]) => {
            let Some(site_id) = num(2).filter(|id| s.sites.contains_key(id)) else {
                return not_found("Site", segs[2]);
            };
            if body["source_type"] != "original" && body["source_type"] != "alternative" {
                return invalid(json!({"source_type": ["The selected source type is invalid."]}));
            }
            if find_backup(&s.backups, site_id, body).is_none() {
                return invalid(json!({"backup": ["The selected backup is invalid."]}));
            }
            s.restores.push((site_id, body.clone()));
            ok(json!({"success": true, "message": "Restore started"}))
        }
        ("PUT", ["backups", "purge", _]) => {
            let Some(site_id) = num(2).filter(|id| s.sites.contains_key(id)) else {
                return not_found("Site", segs[2]);
            };
            let Some(index) = find_backup(&s.backups, site_id, body) else {
                return invalid(json!({"backup": ["The selected backup is invalid."]}));
            };
            s.backups.get_mut(&site_id).unwrap().remove(index);
            ok(json!({"success": true, "message": "Backup purged"}))
        }
        _ => err(404, json!({"message": "Not Found"})),
    }
}

/// The backup a restore/purge body names (`backup`, `backup_source`, `backup_type`).
fn find_backup(backups: &BTreeMap<u64, Vec<Value>>, site_id: u64, body: &Value) -> Option<usize> {
    backups.get(&site_id)?.iter().position(|b| {
        b["backup"] == body["backup"]
            && b["backup_source"] == body["backup_source"]
            && b["backup_type"] == body["backup_type"]
    })
}

/// `PUT /backups/schedule/site/{id}` with the documented rules: `id` and
/// `bup_schedule` and `minute` always, `hour` unless hourly, `day` for weekly
/// (0-6) and monthly (1-28).
fn schedule_update(schedules: &mut [Value], site_id: u64, body: &Value) -> ResponseTemplate {
    let kind = body["bup_schedule"].as_str().unwrap_or_default();
    let number = |k: &str| body.get(k).and_then(Value::as_u64);
    let ok_ranges = match kind {
        "hourly" => number("minute").is_some_and(|m| m < 60),
        "daily" => {
            number("minute").is_some_and(|m| m < 60) && number("hour").is_some_and(|h| h < 24)
        }
        "weekly" => {
            number("minute").is_some_and(|m| m < 60)
                && number("hour").is_some_and(|h| h < 24)
                && number("day").is_some_and(|d| d <= 6)
        }
        "monthly" => {
            number("minute").is_some_and(|m| m < 60)
                && number("hour").is_some_and(|h| h < 24)
                && number("day").is_some_and(|d| (1..=28).contains(&d))
        }
        _ => false,
    };
    if !ok_ranges {
        return invalid(json!({"bup_schedule": ["The schedule is invalid."]}));
    }
    let id = number("id");
    let schedule = schedules
        .iter_mut()
        .filter(|e| id_in(e, "site_id") == Some(site_id))
        .flat_map(|e| e["schedule_backups"].as_array_mut().unwrap().iter_mut())
        .find(|sch| id_in(sch, "id") == id);
    let Some(schedule) = schedule else {
        return invalid(json!({"id": ["The selected id is invalid."]}));
    };
    schedule["bup_schedule"] = json!(kind);
    schedule["minute"] = json!(format!("{:02}", number("minute").unwrap()));
    schedule["hour"] = json!(format!("{:02}", number("hour").unwrap_or(0)));
    schedule["day"] = json!(number("day").unwrap_or(0).to_string());
    ok(json!({"success": true, "message": "Backup schedule updated"}))
}

/// GridPane's PUT endpoints take one action per body.
fn one_setting(s: &State, body: &Value, allowed: &[&[&str]]) -> Option<ResponseTemplate> {
    let keys: Vec<&str> = body
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    let matches = allowed.iter().any(|set| {
        let mut want = set.to_vec();
        want.sort_unstable();
        want == sorted
    });
    if !matches {
        return Some(err(
            422,
            json!({"message": "Only one setting can be updated per request."}),
        ));
    }
    if keys.iter().any(|k| s.fail_settings.iter().any(|f| f == k)) {
        return Some(invalid(
            json!({ keys[0]: [format!("The {} could not be changed right now.", keys[0])] }),
        ));
    }
    None
}

fn server_object(
    id: u64,
    label: &str,
    ip: Option<&str>,
    region: &str,
    status: &str,
    provider: &str,
    body: &Value,
) -> Value {
    json!({
        "id": id, "label": label, "ip": ip, "region": region, "region_label": region,
        "sub_id": id.to_string(), "subdomain": "Zt5Qm8Rk2P",
        "database": body["database"], "webserver": body["webserver"], "os_version": "ubuntu-24-04-x64",
        "status": status, "cpu": null, "ram": null, "user_id": 437, "provider_id": 3,
        "temp_pass": null, "callback_token": "fake-callback-token", "uuid": "6f4d5b2a-1111-4c3e-9d8e-000000000000",
        "server_key": "fake-server-key", "update_backups": false, "is_paired": false,
        "sites": [], "system_users": [], "ssh_keys": [],
        "provider": {"id": 3, "name": provider, "full_name": provider, "logo_path": format!("/img/{provider}.svg")},
        "created_at": now(), "updated_at": now(),
    })
}

fn create_custom_server(s: &mut State, body: &Value) -> ResponseTemplate {
    let mut errors = serde_json::Map::new();
    for field in ["name", "ip", "datacenter", "webserver", "database"] {
        if body
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            errors.insert(
                field.into(),
                json!([format!("The {field} field is required.")]),
            );
        }
    }
    let name = body["name"].as_str().unwrap_or_default();
    if s.servers.values().any(|v| v["label"] == name) {
        errors.insert("name".into(), json!(["The name has already been taken."]));
    }
    if !errors.is_empty() {
        return invalid(Value::Object(errors));
    }
    let id = FakeGridPane::new_id(s);
    let server = server_object(
        id,
        name,
        body["ip"].as_str(),
        body["datacenter"].as_str().unwrap(),
        "pending",
        "custom",
        body,
    );
    s.servers.insert(id, server);
    ok(json!({
        "success": true,
        "instructions": "Run the following command as root on your fresh Ubuntu server.",
        "command": format!("wget -qO gridpane-me.sh https://my.gridpane.com/gridpane-me.sh?token={INSTALL_TOKEN} && bash gridpane-me.sh"),
        "server_id": id,
    }))
}

fn create_provider_server(s: &mut State, provider: &str, body: &Value) -> ResponseTemplate {
    if ![
        "digitalocean",
        "vultr",
        "linode",
        "aws-lightsail",
        "upcloud",
    ]
    .contains(&provider)
    {
        return err(404, json!({"message": "Not Found"}));
    }
    for field in ["integration_id", "name", "region_id", "plan_id"] {
        if body.get(field).is_none() {
            return invalid(json!({ field: [format!("The {field} field is required.")] }));
        }
    }
    let id = FakeGridPane::new_id(s);
    let mut server = server_object(
        id,
        body["name"].as_str().unwrap(),
        Some("198.51.100.200"),
        body["region_id"].as_str().unwrap(),
        "building",
        provider,
        body,
    );
    server["plan_id"] = body["plan_id"].clone();
    s.servers.insert(id, server);
    ok(
        json!({"server_id": id, "building": {"id": id, "status": "building"}, "build_status": "building", "temp_pass": "fake-temp-root-pass"}),
    )
}

fn create_site(s: &mut State, body: &Value) -> ResponseTemplate {
    let mut errors = serde_json::Map::new();
    for field in ["url", "server_id", "php_version", "pm", "nginx_caching"] {
        if body.get(field).is_none() {
            errors.insert(
                field.into(),
                json!([format!("The {field} field is required.")]),
            );
        }
    }
    if body.get("system_user_id").is_none() && body.get("username").is_none() {
        errors.insert(
            "system_user_id".into(),
            json!(["The system user id field is required when username is not present."]),
        );
    }
    let url = body["url"].as_str().unwrap_or_default().to_owned();
    if s.sites.values().any(|v| v["url"] == url.as_str()) {
        errors.insert("url".into(), json!(["The url has already been taken."]));
    }
    let server_id = id_in(body, "server_id").unwrap_or(0);
    if !s.servers.contains_key(&server_id) {
        errors.insert(
            "server_id".into(),
            json!(["The selected server id is invalid."]),
        );
    }
    if body.get("dns_integration_id").is_some() && body.get("dns_management").is_none() {
        errors.insert(
            "dns_management".into(),
            json!(["The dns management field is required when dns integration id is present."]),
        );
    }
    if !errors.is_empty() {
        return invalid(Value::Object(errors));
    }
    let user_id = match (id_in(body, "system_user_id"), body["username"].as_str()) {
        (Some(id), _) => id,
        (None, Some(name)) => match s
            .users
            .values()
            .find(|u| u["username"] == name && id_in(u, "server_id") == Some(server_id))
        {
            Some(u) => id_in(u, "id").unwrap(),
            None => {
                let id = FakeGridPane::new_id(s);
                s.users.insert(id, json!({"id": id, "username": name, "details": null, "status": "succeed",
                    "public_key": null, "server_id": server_id, "user_id": 437, "sudo": false, "ssh_access": false,
                    "password": "fake-generated-site-user-pw", "is_primary": true, "sites": []}));
                id
            }
        },
        _ => unreachable!(),
    };
    let id = FakeGridPane::new_id(s);
    s.sites.insert(id, json!({
        "id": id, "url": url, "is_ssl": false, "ssl_status": null, "server_id": server_id, "user_id": 437,
        "system_user_id": user_id, "bundle_id": body.get("bundle_id"), "php_version": body["php_version"],
        "pm": body["pm"], "waf": body.get("waf").cloned().unwrap_or(json!("6G")),
        "nginx_caching": if body["nginx_caching"] == "none" { Value::Null } else { body["nginx_caching"].clone() },
        "type": "primary", "built_at": now(), "created_at": now(), "updated_at": now(),
        "site_security_settings": {"site_id": id, "suspend_site": false},
        "site_customizer": {"site_id": id, "application_token": "fake-app-token", "smtp_service_user_id": body.get("smtp")},
    }));
    let domain_id = FakeGridPane::new_id(s);
    s.domains.insert(domain_id, json!({
        "id": domain_id, "url": url, "route": "none", "type": "primary", "dns_management_id": body.get("dns_integration_id"),
        "is_ssl": false, "ssl_status": null, "dns_connection_type": "none", "site_id": id, "server_id": server_id,
        "user_id": 437, "is_wildcard": false, "resolved_at": null, "status": null, "created_at": now(),
        "updated_at": now(), "deleted_at": null, "user_dns": null,
    }));
    // GridPane answers the create without the new id; clients look the site up by URL.
    ok(json!({"success": true, "message": format!("Site {url} is being built")}))
}

fn add_domain(s: &mut State, body: &Value) -> ResponseTemplate {
    let url = body["domain_url"].as_str().unwrap_or_default().to_owned();
    let (Some(site_id), Some(server_id)) = (id_in(body, "site_id"), id_in(body, "server_id"))
    else {
        return invalid(json!({"site_id": ["The site id field is required."]}));
    };
    let Some(site) = s.sites.get(&site_id) else {
        return invalid(json!({"site_id": ["The selected site id is invalid."]}));
    };
    if id_in(site, "server_id") != Some(server_id) {
        return invalid(json!({"server_id": ["The server does not host that site."]}));
    }
    if s.domains.values().any(|d| d["url"] == url.as_str()) {
        return invalid(json!({"domain_url": ["The domain url has already been taken."]}));
    }
    let kind = body["type"].as_str().unwrap_or_default();
    if kind != "alias" && kind != "redirect" {
        return invalid(json!({"type": ["The selected type is invalid."]}));
    }
    let management = body["dns_management"].as_str().unwrap_or("none_none");
    if management != "none_none" && body.get("dns_integration_id").is_none() {
        return invalid(
            json!({"dns_integration_id": ["The dns integration id field is required unless dns management is none_none."]}),
        );
    }
    let id = FakeGridPane::new_id(s);
    let (provider, connection) = management.split_once('_').unwrap_or(("none", "none"));
    let domain = json!({
        "id": id, "url": url, "route": "none", "type": kind,
        "dns_management_id": body.get("dns_integration_id"), "is_ssl": false, "ssl_status": null,
        "dns_connection_type": connection, "site_id": site_id, "server_id": server_id, "user_id": 437,
        "is_wildcard": false, "resolved_at": null, "status": null, "created_at": now(), "updated_at": now(),
        "deleted_at": null,
        "user_dns": if provider == "none" { Value::Null } else {
            json!({"id": body.get("dns_integration_id"), "token": "fake-dns-token", "secret": "fake-dns-secret",
                   "provider": {"id": 2, "name": provider}})
        },
    });
    s.domains.insert(id, domain.clone());
    ok(json!({"success": true, "message": "Domain added", "domain": domain}))
}

fn update_domain(s: &mut State, id: Option<u64>, raw: &str, body: &Value) -> ResponseTemplate {
    let Some(id) = id.filter(|id| s.domains.contains_key(id)) else {
        return not_found("Domain", raw);
    };
    if let Some(resp) = one_setting(
        s,
        body,
        &[
            &["ssl"],
            &["routing"],
            &["wildcard"],
            &["switch_to_primary_type"],
            &["dns_management", "dns_integration_id"],
            &["dns_management"],
        ],
    ) {
        return resp;
    }
    let domain = s.domains.get(&id).cloned().unwrap();
    if body.get("switch_to_primary_type").is_some() {
        if domain["type"] != "alias" {
            return err(
                422,
                json!({"message": "Only alias domains can become primary."}),
            );
        }
        let site_id = id_in(&domain, "site_id");
        for d in s.domains.values_mut() {
            if id_in(d, "site_id") == site_id && d["type"] == "primary" {
                d["type"] = json!("alias");
            }
        }
        let url = domain["url"].clone();
        if let Some(site) = site_id.and_then(|sid| s.sites.get_mut(&sid)) {
            site["url"] = url;
        }
    }
    let d = s.domains.get_mut(&id).unwrap();
    if let Some(v) = body.get("ssl") {
        d["is_ssl"] = v.clone();
        d["ssl_status"] = if v == true {
            json!("succeed")
        } else {
            Value::Null
        };
    }
    if let Some(v) = body.get("routing") {
        d["route"] = v.clone();
    }
    if let Some(v) = body.get("wildcard") {
        d["is_wildcard"] = v.clone();
    }
    if body.get("switch_to_primary_type").is_some() {
        d["type"] = json!("primary");
    }
    if let Some(m) = body.get("dns_management").and_then(Value::as_str) {
        let (provider, connection) = m.split_once('_').unwrap_or(("none", "none"));
        d["dns_connection_type"] = json!(connection);
        d["dns_management_id"] = body
            .get("dns_integration_id")
            .cloned()
            .unwrap_or(Value::Null);
        d["user_dns"] = if provider == "none" {
            Value::Null
        } else {
            json!({"id": body.get("dns_integration_id"), "token": "fake-dns-token", "provider": {"id": 2, "name": provider}})
        };
    }
    d["updated_at"] = json!(now());
    ok(json!({"success": true, "message": "Domain updated"}))
}

fn create_user(s: &mut State, body: &Value) -> ResponseTemplate {
    let username = body["username"].as_str().unwrap_or_default().to_owned();
    let server_id = id_in(body, "server_id").unwrap_or(0);
    if body.get("password") != body.get("password_confirmation") {
        return invalid(json!({"password": ["The password confirmation does not match."]}));
    }
    if !s.servers.contains_key(&server_id) {
        return invalid(json!({"server_id": ["The selected server id is invalid."]}));
    }
    if s.users
        .values()
        .any(|u| u["username"] == username.as_str() && id_in(u, "server_id") == Some(server_id))
    {
        return invalid(json!({"username": ["The username has already been taken."]}));
    }
    let id = FakeGridPane::new_id(s);
    let user = json!({
        "id": id, "username": username, "details": null, "status": "succeed",
        "public_key": body.get("ssh_public_key"), "server_id": server_id, "user_id": 437,
        "restricted_site_id": null, "restricted_path": null, "sudo": false,
        "ssh_access": body.get("ssh_public_key").is_some(), "password": body["password"],
        "is_primary": false, "is_primary_with_no_restricted_users": false, "sites": [],
    });
    s.users.insert(id, user.clone());
    ok(json!({"success": true, "data": user}))
}
