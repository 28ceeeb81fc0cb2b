//! Shared test helpers: fixture loading and a stateful fake of Vercel's API.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use stackdock_http::RetryConfig;
use stackdock_testkit::FaultHook;
use stackdock_vercel::{VercelAdapter, VercelConfig};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const TOKEN: &str = "vercel-test-token-5f4dcc3b5aa765d61d8327deb882cf99";
pub const TEAM: &str = "team_LLHUOMOoDlqOp8wPE4kFo9pE";

/// A fixture file from `tests/fixtures/` as JSON.
pub fn fixture(name: &str) -> Value {
    // Through the crate's directory by name, so that other crates' tests
    // that include this module (the CLI's deploy test) find the fixtures too.
    let path = format!(
        "{}/../stackdock-vercel/tests/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A config pointing at `server`, scoped to [`TEAM`], with fast retries.
pub fn config(server: &MockServer) -> VercelConfig {
    VercelConfig::new(TOKEN)
        .team_id(TEAM)
        .base_url(server.uri())
        .retry(RetryConfig {
            max_retries: 3,
            initial_backoff: std::time::Duration::from_millis(5),
            max_backoff: std::time::Duration::from_millis(20),
            retry_timeout: std::time::Duration::from_secs(10),
        })
}

/// The JSON bodies of every request the server received, in order, as
/// `(method path, body)`.
pub async fn bodies(server: &MockServer) -> Vec<(String, Value)> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| !r.body.is_empty())
        .map(|r| {
            (
                format!("{} {}", r.method, r.url.path()),
                serde_json::from_slice(&r.body).expect("request bodies are JSON"),
            )
        })
        .collect()
}

#[derive(Default)]
struct State {
    projects: Vec<Value>,
    deployments: Vec<Value>,
    /// project id -> domains
    domains: BTreeMap<String, Vec<Value>>,
    account_domains: Vec<Value>,
    /// zone -> records
    zones: BTreeMap<String, Vec<Value>>,
    /// project id -> envs
    envs: BTreeMap<String, Vec<Value>>,
    next: u64,
}

/// A stateful fake of the parts of Vercel's API this crate uses, answering
/// with bodies built from the fixture files. Requires `teamId=TEAM` on every
/// call (answers 403 otherwise), so team scoping is checked on every request.
#[derive(Clone, Default)]
pub struct FakeVercel {
    state: Arc<Mutex<State>>,
    calls: Arc<AtomicUsize>,
    /// The call number (of `calls`) to refuse with a 503, if any.
    fail_at: Arc<Mutex<Option<usize>>>,
    /// Builds end in ERROR instead of READY.
    builds_fail: Arc<std::sync::atomic::AtomicBool>,
}

fn err(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": {"code": code, "message": message}}))
}

fn ok(v: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(v)
}

fn query(req: &Request, key: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn page_of(items: Vec<Value>, req: &Request, key: &str, cursor_field: &str) -> Value {
    let limit: usize = query(req, "limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(20);
    let until: Option<i64> = query(req, "until").and_then(|u| u.parse().ok());
    let mut items: Vec<Value> = items
        .into_iter()
        .filter(|i| until.is_none_or(|u| i[cursor_field].as_i64().unwrap_or(0) < u))
        .collect();
    items.sort_by_key(|i| std::cmp::Reverse(i[cursor_field].as_i64().unwrap_or(0)));
    let more = items.len() > limit;
    items.truncate(limit);
    let next = if more {
        json!(items.last().and_then(|i| i[cursor_field].as_i64()))
    } else {
        Value::Null
    };
    json!({ key: items, "pagination": {"count": items.len(), "next": next, "prev": null} })
}

impl FakeVercel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Remote calls received so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// A counter for the conformance harness.
    pub fn counter(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let calls = self.calls.clone();
        move || calls.load(Ordering::SeqCst)
    }

    /// An adapter talking to `server` whose HTTP layer does not retry, so a
    /// fault placed with [`FaultHook::fail_call`] reaches the adapter.
    pub fn adapter_without_retries(server: &MockServer) -> VercelAdapter {
        let config = config(server).page_size(2).retry(RetryConfig {
            max_retries: 0,
            ..RetryConfig::default()
        });
        VercelAdapter::new(config).expect("valid config")
    }

    /// Start a server answering everything with this fake.
    pub async fn start(&self) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(self.clone())
            .mount(&server)
            .await;
        server
    }

    /// An adapter talking to `server`.
    pub fn adapter(server: &MockServer) -> VercelAdapter {
        VercelAdapter::new(config(server).page_size(2)).expect("valid config")
    }

    /// Add a project connected to GitHub `acme/<name>`; returns its id.
    pub fn seed_project(&self, name: &str) -> String {
        let mut s = self.state.lock().unwrap();
        s.next += 1;
        let id = format!("prj_seed{:04}", s.next);
        let mut p = fixture("project");
        p["id"] = json!(id);
        p["name"] = json!(name);
        p["latestDeployments"] = json!([]);
        p["link"]["repo"] = json!(name);
        s.projects.push(p);
        id
    }

    /// Add a project connected through `link` (a link object as Vercel
    /// returns it); returns its id.
    pub fn seed_project_with_link(&self, name: &str, link: Value) -> String {
        let id = self.seed_project(name);
        let mut s = self.state.lock().unwrap();
        let p = s
            .projects
            .iter_mut()
            .find(|p| p["id"] == json!(id))
            .unwrap();
        p["link"] = link;
        id
    }

    /// From now on builds go QUEUED -> BUILDING -> ERROR (a failed build)
    /// instead of ending READY.
    pub fn fail_builds(&self) {
        self.builds_fail.store(true, Ordering::SeqCst);
    }

    /// Add a zone served by Vercel DNS.
    pub fn seed_zone(&self, zone: &str) {
        self.state
            .lock()
            .unwrap()
            .zones
            .entry(zone.to_owned())
            .or_default();
    }

    /// Number of projects stored.
    pub fn project_count(&self) -> usize {
        self.state.lock().unwrap().projects.len()
    }

    /// The stored env var values of a project (to prove values reached the API).
    pub fn env_values(&self, project_id: &str) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.envs
            .get(project_id)
            .map(|e| {
                e.iter()
                    .map(|v| v["value"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn handle(&self, req: &Request) -> ResponseTemplate {
        if query(req, "teamId").as_deref() != Some(TEAM) {
            return err(403, "forbidden", "Not authorized");
        }
        let method = req.method.as_str().to_owned();
        let path = req.url.path().to_owned();
        let parts: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(|p| {
                url::form_urlencoded::parse(format!("x={p}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            })
            .collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let mut s = self.state.lock().unwrap();
        s.next += 1;
        let n = s.next;
        let now = 1_700_000_000_000i64 + n as i64 * 1000;
        match (method.as_str(), parts.as_slice()) {
            ("GET", ["v2", "user"]) => ok(fixture("user")),

            // ---- projects
            ("GET", ["v10", "projects"]) => {
                let limit: usize = query(req, "limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(20);
                let start: usize = query(req, "from")
                    .and_then(|f| f.strip_prefix("tok-").and_then(|i| i.parse().ok()))
                    .unwrap_or(0);
                let items: Vec<Value> =
                    s.projects.iter().skip(start).take(limit).cloned().collect();
                let next = if start + limit < s.projects.len() {
                    json!(format!("tok-{}", start + limit))
                } else {
                    Value::Null
                };
                ok(
                    json!({"projects": items, "pagination": {"count": items.len(), "next": next, "prev": null}}),
                )
            }
            ("GET", ["v9", "projects", p]) => match find_project(&s, p) {
                Some(i) => ok(s.projects[i].clone()),
                None => err(404, "not_found", "Project not found"),
            },
            ("POST", ["v11", "projects"]) => {
                let name = body["name"].as_str().unwrap_or("").to_owned();
                if s.projects.iter().any(|p| p["name"] == json!(name)) {
                    return err(
                        409,
                        "conflict",
                        &format!("A project with the name {name} already exists."),
                    );
                }
                let id = format!("prj_fake{n:06}");
                let mut p = fixture("project");
                p["id"] = json!(id);
                p["name"] = json!(name);
                p["createdAt"] = json!(now);
                p["updatedAt"] = json!(now);
                p["latestDeployments"] = json!([]);
                p["targets"] = json!({});
                p["env"] = json!([]);
                for (field, key) in [
                    ("framework", "framework"),
                    ("buildCommand", "buildCommand"),
                    ("outputDirectory", "outputDirectory"),
                    ("installCommand", "installCommand"),
                    ("devCommand", "devCommand"),
                    ("rootDirectory", "rootDirectory"),
                ] {
                    p[field] = body.get(key).cloned().unwrap_or(Value::Null);
                }
                set_regions(&mut p, &body);
                match body["gitRepository"]["repo"]
                    .as_str()
                    .and_then(|r| r.split_once('/'))
                {
                    Some((org, repo)) => {
                        p["link"]["org"] = json!(org);
                        p["link"]["repo"] = json!(repo);
                        p["link"]["type"] = body["gitRepository"]["type"].clone();
                    }
                    None => p["link"] = Value::Null,
                }
                let envs: Vec<Value> = body["environmentVariables"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| env_object(&e, &format!("env{n}x{i}"), now))
                    .collect();
                s.envs.insert(id.clone(), envs);
                s.projects.push(p.clone());
                ok(p)
            }
            ("PATCH", ["v9", "projects", p]) => match find_project(&s, p) {
                Some(i) => {
                    let proj = &mut s.projects[i];
                    for key in [
                        "name",
                        "framework",
                        "buildCommand",
                        "outputDirectory",
                        "installCommand",
                        "devCommand",
                        "rootDirectory",
                        "nodeVersion",
                    ] {
                        if let Some(v) = body.get(key) {
                            proj[key] = v.clone();
                        }
                    }
                    set_regions(proj, &body);
                    proj["updatedAt"] = json!(now);
                    ok(proj.clone())
                }
                None => err(404, "not_found", "Project not found"),
            },
            ("DELETE", ["v9", "projects", p]) => match find_project(&s, p) {
                Some(i) => {
                    let removed = s.projects.remove(i);
                    let id = removed["id"].as_str().unwrap_or("").to_owned();
                    s.deployments.retain(|d| d["projectId"] != json!(id));
                    s.domains.remove(&id);
                    s.envs.remove(&id);
                    ResponseTemplate::new(204)
                }
                None => err(404, "not_found", "Project not found"),
            },

            // ---- deployments
            ("POST", ["v13", "deployments"]) => {
                let project = body["project"].as_str().unwrap_or("");
                let Some(i) = find_project(&s, project) else {
                    return err(404, "not_found", "Project not found");
                };
                let project_id = s.projects[i]["id"].clone();
                let mut d = fixture("deployment_created");
                d["id"] = json!(format!("dpl_fake{n:06}"));
                d["url"] = json!(format!("acme-web-fake{n:06}-acme.vercel.app"));
                d["projectId"] = project_id;
                d["createdAt"] = json!(now);
                d["target"] = body.get("target").cloned().unwrap_or(Value::Null);
                match body.get("gitSource") {
                    Some(g) => {
                        d["gitSource"] = g.clone();
                        d["meta"] = json!({"githubCommitRef": g["ref"], "githubCommitSha": g.get("sha").cloned().unwrap_or(Value::Null)});
                    }
                    None => {
                        d["gitSource"] = Value::Null;
                        d["meta"] = json!({});
                    }
                }
                s.deployments.push(d.clone());
                ok(d)
            }
            ("GET", ["v13", "deployments", id]) => {
                match s.deployments.iter_mut().find(|d| d["id"] == json!(id)) {
                    Some(d) => {
                        // Builds progress one step per look.
                        let next = match d["readyState"].as_str() {
                            Some("QUEUED") => "BUILDING",
                            Some("BUILDING") if self.builds_fail.load(Ordering::SeqCst) => "ERROR",
                            Some("BUILDING") => "READY",
                            Some(other) => other,
                            None => "READY",
                        }
                        .to_owned();
                        let shown = d.clone();
                        d["readyState"] = json!(next);
                        d["status"] = json!(next);
                        ok(shown)
                    }
                    None => err(404, "not_found", "Deployment not found"),
                }
            }
            ("GET", ["v7", "deployments"]) => {
                let project = query(req, "projectId");
                let items: Vec<Value> = s
                    .deployments
                    .iter()
                    .filter(|d| project.as_ref().is_none_or(|p| d["projectId"] == json!(p)))
                    .map(|d| {
                        let mut item = fixture("deployments_list")["deployments"][0].clone();
                        item["uid"] = d["id"].clone();
                        item["url"] = d["url"].clone();
                        item["created"] = d["createdAt"].clone();
                        item["createdAt"] = d["createdAt"].clone();
                        item["state"] = d["readyState"].clone();
                        item["readyState"] = d["readyState"].clone();
                        item["target"] = d["target"].clone();
                        item["meta"] = d["meta"].clone();
                        item["projectId"] = d["projectId"].clone();
                        item
                    })
                    .collect();
                ok(page_of(items, req, "deployments", "created"))
            }
            ("PATCH", ["v12", "deployments", id, "cancel"]) => {
                match s.deployments.iter_mut().find(|d| d["id"] == json!(id)) {
                    Some(d) => {
                        d["readyState"] = json!("CANCELED");
                        ok(d.clone())
                    }
                    None => err(404, "not_found", "Deployment not found"),
                }
            }
            ("DELETE", ["v13", "deployments", id]) => {
                match s.deployments.iter().position(|d| d["id"] == json!(id)) {
                    Some(i) => {
                        s.deployments.remove(i);
                        ok(json!({"uid": id, "state": "DELETED"}))
                    }
                    None => err(404, "not_found", "Deployment not found"),
                }
            }

            // ---- project domains
            ("POST", ["v10", "projects", p, "domains"]) => {
                let Some(i) = find_project(&s, p) else {
                    return err(404, "not_found", "Project not found");
                };
                let pid = s.projects[i]["id"].as_str().unwrap_or("").to_owned();
                let name = body["name"].as_str().unwrap_or("").to_owned();
                if s.domains
                    .values()
                    .flatten()
                    .any(|d| d["name"] == json!(name))
                {
                    return err(
                        409,
                        "domain_already_in_use",
                        "already in use by another project",
                    );
                }
                let mut d = fixture("project_domain_unverified");
                d["name"] = json!(name);
                d["projectId"] = json!(pid);
                d["redirect"] = body.get("redirect").cloned().unwrap_or(Value::Null);
                d["gitBranch"] = body.get("gitBranch").cloned().unwrap_or(Value::Null);
                d["createdAt"] = json!(now);
                d["updatedAt"] = json!(now);
                s.domains.entry(pid).or_default().push(d.clone());
                ok(d)
            }
            ("GET", ["v9", "projects", p, "domains"]) => {
                let Some(i) = find_project(&s, p) else {
                    return err(404, "not_found", "Project not found");
                };
                let pid = s.projects[i]["id"].as_str().unwrap_or("").to_owned();
                let items = s.domains.get(&pid).cloned().unwrap_or_default();
                ok(page_of(items, req, "domains", "createdAt"))
            }
            (m, ["v9", "projects", p, "domains", d, rest @ ..]) => {
                let Some(i) = find_project(&s, p) else {
                    return err(404, "not_found", "Project not found");
                };
                let pid = s.projects[i]["id"].as_str().unwrap_or("").to_owned();
                let list = s.domains.entry(pid).or_default();
                let Some(j) = list.iter().position(|x| x["name"] == json!(d)) else {
                    return err(404, "not_found", "The project domain was not found");
                };
                match (m, rest) {
                    ("GET", []) => ok(list[j].clone()),
                    ("PATCH", []) => {
                        list[j]["redirect"] = body.get("redirect").cloned().unwrap_or(Value::Null);
                        list[j]["redirectStatusCode"] = body
                            .get("redirectStatusCode")
                            .cloned()
                            .unwrap_or(Value::Null);
                        list[j]["gitBranch"] =
                            body.get("gitBranch").cloned().unwrap_or(Value::Null);
                        list[j]["updatedAt"] = json!(now);
                        ok(list[j].clone())
                    }
                    ("POST", ["verify"]) => {
                        list[j]["verified"] = json!(true);
                        if let Some(o) = list[j].as_object_mut() {
                            o.remove("verification");
                        }
                        ok(list[j].clone())
                    }
                    ("DELETE", []) => {
                        list.remove(j);
                        ok(json!({}))
                    }
                    _ => err(404, "not_found", "unknown route"),
                }
            }

            // ---- account domains
            ("GET", ["v5", "domains"]) => ok(page_of(
                s.account_domains.clone(),
                req,
                "domains",
                "createdAt",
            )),
            ("POST", ["v7", "domains"]) => {
                let name = body["name"].as_str().unwrap_or("").to_owned();
                let mut d = fixture("domain_created")["domain"].clone();
                d["name"] = json!(name);
                d["createdAt"] = json!(now);
                s.account_domains.push(d.clone());
                ok(json!({ "domain": d }))
            }
            ("DELETE", ["v6", "domains", d]) => {
                match s.account_domains.iter().position(|x| x["name"] == json!(d)) {
                    Some(i) => {
                        let removed = s.account_domains.remove(i);
                        ok(json!({"uid": removed["id"]}))
                    }
                    None => err(404, "not_found", "Domain not found"),
                }
            }

            // ---- DNS records
            ("GET", ["v5", "domains", zone, "records"]) => match s.zones.get(*zone) {
                Some(records) => ok(page_of(records.clone(), req, "records", "createdAt")),
                None => err(404, "not_found", "Domain not found"),
            },
            ("GET", ["v5", "domains", d]) => {
                match s.account_domains.iter().find(|x| x["name"] == json!(d)) {
                    Some(x) => ok(json!({ "domain": x })),
                    None => err(404, "not_found", "Domain not found"),
                }
            }
            ("POST", ["v2", "domains", zone, "records"]) => {
                let Some(records) = s.zones.get_mut(*zone) else {
                    return err(404, "not_found", "Domain not found");
                };
                let id = format!("rec_fake{n:018}");
                let mut r = fixture("dns_records_list")["records"][0].clone();
                r["id"] = json!(id);
                r["createdAt"] = json!(now);
                r["updatedAt"] = json!(now);
                apply_record(&mut r, &body);
                records.push(r);
                ok(json!({"uid": id, "updated": now}))
            }
            ("PATCH", ["v1", "domains", "records", id]) => {
                let found = s.zones.iter_mut().find_map(|(zone, rs)| {
                    rs.iter_mut()
                        .find(|r| r["id"] == json!(id))
                        .map(|r| (zone.clone(), r))
                });
                match found {
                    Some((zone, r)) => {
                        apply_record(r, &body);
                        r["updatedAt"] = json!(now);
                        let mut out = fixture("dns_record_updated");
                        out["id"] = r["id"].clone();
                        out["domain"] = json!(zone);
                        out["name"] = r["name"].clone();
                        out["recordType"] = r["type"].clone();
                        out["value"] = r["value"].clone();
                        out["ttl"] = r["ttl"].clone();
                        ok(out)
                    }
                    None => err(404, "not_found", "DNS record not found"),
                }
            }
            ("DELETE", ["v2", "domains", zone, "records", id]) => {
                let Some(records) = s.zones.get_mut(*zone) else {
                    return err(404, "not_found", "Domain not found");
                };
                match records.iter().position(|r| r["id"] == json!(id)) {
                    Some(i) => {
                        records.remove(i);
                        ok(json!({}))
                    }
                    None => err(404, "not_found", "DNS record not found"),
                }
            }

            // ---- env
            ("GET", ["v10", "projects", p, "env"]) => {
                let Some(i) = find_project(&s, p) else {
                    return err(404, "not_found", "Project not found");
                };
                let pid = s.projects[i]["id"].as_str().unwrap_or("").to_owned();
                ok(json!({"envs": s.envs.get(&pid).cloned().unwrap_or_default()}))
            }
            ("POST", ["v10", "projects", p, "env"]) => {
                let Some(i) = find_project(&s, p) else {
                    return err(404, "not_found", "Project not found");
                };
                let pid = s.projects[i]["id"].as_str().unwrap_or("").to_owned();
                let upsert = query(req, "upsert").as_deref() == Some("true");
                let list = s.envs.entry(pid).or_default();
                let mut created = Vec::new();
                let mut failed = Vec::new();
                for (k, e) in body
                    .as_array()
                    .cloned()
                    .unwrap_or_else(|| vec![body.clone()])
                    .into_iter()
                    .enumerate()
                {
                    let existing = list.iter().position(|x| x["key"] == e["key"]);
                    match (existing, upsert) {
                        (Some(_), false) => failed.push(json!({"error": {"code": "ENV_ALREADY_EXISTS", "message": format!("A variable with the name `{}` already exists", e["key"].as_str().unwrap_or("")), "key": e["key"]}})),
                        (Some(x), true) => {
                            let id = list[x]["id"].as_str().unwrap_or("").to_owned();
                            list[x] = env_object(&e, &id, now);
                            created.push(list[x].clone());
                        }
                        (None, _) => {
                            let obj = env_object(&e, &format!("env{n}x{k}"), now);
                            list.push(obj.clone());
                            created.push(obj);
                        }
                    }
                }
                ResponseTemplate::new(201)
                    .set_body_json(json!({"created": created, "failed": failed}))
            }
            ("DELETE", ["v9", "projects", p, "env", id]) => {
                let Some(i) = find_project(&s, p) else {
                    return err(404, "not_found", "Project not found");
                };
                let pid = s.projects[i]["id"].as_str().unwrap_or("").to_owned();
                let list = s.envs.entry(pid).or_default();
                match list.iter().position(|x| x["id"] == json!(id)) {
                    Some(j) => ok(list.remove(j)),
                    None => err(404, "not_found", "Environment variable not found"),
                }
            }
            _ => err(
                404,
                "not_found",
                "The requested API endpoint was not found.",
            ),
        }
    }
}

fn find_project(s: &State, id_or_name: &str) -> Option<usize> {
    s.projects
        .iter()
        .position(|p| p["id"] == json!(id_or_name) || p["name"] == json!(id_or_name))
}

fn env_object(e: &Value, id: &str, now: i64) -> Value {
    let mut obj = fixture("envs_list")["envs"][0].clone();
    obj["id"] = json!(id);
    obj["key"] = e["key"].clone();
    obj["value"] = e["value"].clone();
    obj["type"] = e["type"].clone();
    obj["target"] = e["target"].clone();
    obj["createdAt"] = json!(now);
    obj["updatedAt"] = json!(now);
    if let Some(b) = e.get("gitBranch") {
        obj["gitBranch"] = b.clone();
    }
    obj
}

/// Apply a create/update body's `resourceConfig.functionDefaultRegions`
/// to a stored project (other resourceConfig fields stay as they are).
fn set_regions(project: &mut Value, body: &Value) {
    if let Some(regions) = body.pointer("/resourceConfig/functionDefaultRegions") {
        project["resourceConfig"]["functionDefaultRegions"] = regions.clone();
    }
}

/// Store a create/update body the way Vercel lists the record.
fn apply_record(r: &mut Value, body: &Value) {
    for key in ["name", "type", "ttl", "comment"] {
        if let Some(v) = body.get(key) {
            r[key] = v.clone();
        }
    }
    r["mxPriority"] = Value::Null;
    r["priority"] = Value::Null;
    if let Some(v) = body.get("value") {
        r["value"] = v.clone();
    }
    if let Some(p) = body.get("mxPriority") {
        r["mxPriority"] = p.clone();
    }
    if let Some(srv) = body.get("srv") {
        r["priority"] = srv["priority"].clone();
        r["value"] = json!(format!(
            "{} {} {}",
            srv["weight"],
            srv["port"],
            srv["target"].as_str().unwrap_or("")
        ));
    }
    if let Some(h) = body.get("https") {
        r["priority"] = h["priority"].clone();
        r["value"] = json!(format!(
            "{} {}",
            h["target"].as_str().unwrap_or("."),
            h["params"].as_str().unwrap_or("")
        )
        .trim()
        .to_owned());
    }
}

impl Respond for FakeVercel {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fail_at = self.fail_at.lock().unwrap();
        if *fail_at == Some(call) {
            // Refused before anything is changed, as an overloaded Vercel does.
            *fail_at = None;
            return err(503, "service_unavailable", "injected fault");
        }
        drop(fail_at);
        self.handle(request)
    }
}

/// The fake's fault hook: the k-th request from now is answered 503 without
/// being carried out.
impl FaultHook for FakeVercel {
    fn fail_call(&self, k: usize) {
        let now = self.calls.load(Ordering::SeqCst);
        *self.fail_at.lock().unwrap() = Some(now + k);
    }

    fn clear(&self) {
        *self.fail_at.lock().unwrap() = None;
    }
}
