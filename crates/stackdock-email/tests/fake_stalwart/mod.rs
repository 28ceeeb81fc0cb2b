//! A stateful fake of Stalwart 0.16's JMAP management endpoint (wiremock):
//! session discovery with a 307 redirect, `x:Domain/{query,get,set}` and
//! `x:Account/{query,get,set}` with JSON-pointer updates, `#ids` back
//! references, `notCreated`/`notUpdated`/`notDestroyed` and method errors,
//! shaped like the real server's answers.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const ADMIN_AUTH: &str = "Basic YWRtaW46c3RhbHdhcnQtYWRtaW4tcHc="; // admin:stalwart-admin-pw
pub const ADMIN_PASSWORD: &str = "stalwart-admin-pw";

#[derive(Default)]
pub struct State {
    pub domains: BTreeMap<String, Value>,
    pub accounts: BTreeMap<String, Value>,
    /// Account passwords as received (the fake keeps them to let tests verify the hashes).
    pub secrets: BTreeMap<String, String>,
    next_id: u64,
    /// Every JMAP request body received.
    pub bodies: Vec<Value>,
    /// Every HTTP request received.
    pub calls: usize,
    /// Problems the fake noticed in requests (plaintext passwords ...).
    pub violations: Vec<String>,
    /// Scripted outcomes of the next account updates: `false` refuses one
    /// with `serverFail`, `true` applies it; once empty, updates apply.
    pub account_update_outcomes: VecDeque<bool>,
    /// The HTTP request (counted from 1) answered with a 503; 0 = none.
    pub fail_in: usize,
}

#[derive(Clone)]
pub struct FakeStalwart {
    pub server: Arc<MockServer>,
    pub state: Arc<Mutex<State>>,
}

impl FakeStalwart {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        let base = server.uri();
        Mock::given(method("GET"))
            .and(path("/.well-known/jmap"))
            .respond_with(Counted(
                state.clone(),
                Box::new(|_, _| {
                    ResponseTemplate::new(307).insert_header("Location", "/jmap/session")
                }),
            ))
            .mount(&server)
            .await;
        let session_base = base.clone();
        Mock::given(method("GET"))
            .and(path("/jmap/session"))
            .respond_with(Counted(state.clone(), Box::new(move |_, req| {
                if let Some(denied) = unauthorized(req) {
                    return denied;
                }
                ResponseTemplate::new(200).set_body_json(json!({
                    "capabilities": {"urn:ietf:params:jmap:core": {}, "urn:stalwart:jmap": {}},
                    "accounts": {"d333333": {"name": "admin", "isPersonal": true, "isReadOnly": false}},
                    "primaryAccounts": {"urn:stalwart:jmap": "d333333"},
                    "username": "admin",
                    "apiUrl": format!("{session_base}/jmap/"),
                    "downloadUrl": format!("{session_base}/jmap/download/{{accountId}}/{{blobId}}/{{name}}"),
                    "state": "s1"
                }))
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/jmap/"))
            .respond_with(Counted(state.clone(), Box::new(|state, req| {
                if let Some(denied) = unauthorized(req) {
                    return denied;
                }
                let body: Value = match serde_json::from_slice(&req.body) {
                    Ok(b) => b,
                    Err(_) => {
                        return ResponseTemplate::new(400).set_body_json(json!({
                            "type": "urn:ietf:params:jmap:error:notJSON", "status": 400, "detail": "not JSON"}))
                    }
                };
                state.bodies.push(body.clone());
                let using: Vec<&str> = body["using"].as_array().map(|u| u.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                if !using.contains(&"urn:stalwart:jmap") {
                    return ResponseTemplate::new(400).set_body_json(json!({
                        "type": "urn:ietf:params:jmap:error:unknownCapability", "status": 400, "detail": "missing urn:stalwart:jmap"}));
                }
                let mut responses: Vec<Value> = Vec::new();
                for call in body["methodCalls"].as_array().cloned().unwrap_or_default() {
                    let name = call[0].as_str().unwrap_or_default().to_owned();
                    let id = call[2].clone();
                    let args = resolve_refs(&call[1], &responses);
                    let (rname, rargs) = match args.get("accountId").and_then(Value::as_str) {
                        Some("d333333") => state.method(&name, &args),
                        _ => ("error".into(), json!({"type": "accountNotFound"})),
                    };
                    responses.push(json!([rname, rargs, id]));
                }
                ResponseTemplate::new(200).set_body_json(json!({"methodResponses": responses, "sessionState": "s1"}))
            })))
            .mount(&server)
            .await;
        FakeStalwart {
            server: Arc::new(server),
            state,
        }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn calls(&self) -> usize {
        self.state.lock().unwrap().calls
    }

    /// Make the `k`-th HTTP request from now (1-based) fail with a 503.
    pub fn fail_call(&self, k: usize) {
        self.state().fail_in = k.max(1);
    }

    /// Remove a pending fault.
    pub fn clear_faults(&self) {
        self.state().fail_in = 0;
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

type Handler = Box<dyn Fn(&mut State, &Request) -> ResponseTemplate + Send + Sync>;

struct Counted(Arc<Mutex<State>>, Handler);

impl Respond for Counted {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        match state.fail_in {
            0 => {}
            1 => {
                // Refused before the request is looked at: nothing changes.
                state.fail_in = 0;
                return ResponseTemplate::new(503).set_body_json(json!({
                    "type": "about:blank", "title": "Service Unavailable", "status": 503,
                    "detail": "fault injected"}));
            }
            k => state.fail_in = k - 1,
        }
        state.calls += 1;
        (self.1)(&mut state, request)
    }
}

fn unauthorized(req: &Request) -> Option<ResponseTemplate> {
    let auth = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if auth == Some(ADMIN_AUTH) {
        return None;
    }
    Some(
        ResponseTemplate::new(401)
            .insert_header("WWW-Authenticate", "Bearer realm=\"Stalwart\", Basic realm=\"Stalwart\"")
            .set_body_json(json!({"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "You have to authenticate first."})),
    )
}

/// `#ids: {resultOf, name, path}` back references (RFC 8620 §3.7).
fn resolve_refs(args: &Value, previous: &[Value]) -> Value {
    let mut out = Map::new();
    for (k, v) in args.as_object().cloned().unwrap_or_default() {
        if let Some(key) = k.strip_prefix('#') {
            let result_of = v["resultOf"].as_str().unwrap_or_default();
            let resolved = previous
                .iter()
                .find(|r| r[2].as_str() == Some(result_of))
                .and_then(|r| r[1].pointer(v["path"].as_str().unwrap_or_default()))
                .cloned()
                .unwrap_or(Value::Null);
            out.insert(key.to_owned(), resolved);
        } else {
            out.insert(k, v);
        }
    }
    Value::Object(out)
}

fn is_hash(secret: &str) -> bool {
    ["$2y$", "$2b$", "$6$", "$argon2id$"]
        .iter()
        .any(|p| secret.starts_with(p))
}

fn apply_pointer(target: &mut Value, pointer: &str, value: Value) {
    let parts: Vec<&str> = pointer.split('/').collect();
    let mut node = target;
    for part in &parts[..parts.len() - 1] {
        if !node.get(*part).is_some_and(Value::is_object) {
            node[*part] = json!({});
        }
        node = node.get_mut(*part).unwrap();
    }
    let last = parts[parts.len() - 1];
    if value.is_null() {
        if let Some(obj) = node.as_object_mut() {
            obj.remove(last);
        }
    } else {
        node[last] = value;
    }
}

impl State {
    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:04}", self.next_id)
    }

    fn method(&mut self, name: &str, args: &Value) -> (String, Value) {
        let out = match name {
            "x:Domain/query" => self.query(true, args),
            "x:Account/query" => self.query(false, args),
            "x:Domain/get" => self.get(true, args),
            "x:Account/get" => self.get(false, args),
            "x:Domain/set" => self.set_domain(args),
            "x:Account/set" => self.set_account(args),
            _ => {
                return (
                    "error".into(),
                    json!({"type": "unknownMethod", "description": format!("{name} is unknown")}),
                )
            }
        };
        (name.to_owned(), out)
    }

    fn query(&self, domains: bool, args: &Value) -> Value {
        let filter = &args["filter"];
        let items = if domains {
            &self.domains
        } else {
            &self.accounts
        };
        let ids: Vec<String> = items
            .iter()
            .filter(|(_, o)| {
                filter
                    .as_object()
                    .map(|f| f.iter().all(|(k, v)| &o[k] == v))
                    .unwrap_or(true)
            })
            .map(|(id, _)| id.clone())
            .collect();
        let position = args["position"].as_u64().unwrap_or(0) as usize;
        let limit = args["limit"].as_u64().unwrap_or(1000) as usize;
        let page: Vec<String> = ids.iter().skip(position).take(limit).cloned().collect();
        json!({"accountId": "d333333", "queryState": "q1", "canCalculateChanges": false,
               "position": position, "ids": page, "total": ids.len()})
    }

    fn get(&self, domains: bool, args: &Value) -> Value {
        let items = if domains {
            &self.domains
        } else {
            &self.accounts
        };
        let wanted: Vec<String> = match args["ids"].as_array() {
            Some(ids) => ids
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            None => items.keys().cloned().collect(),
        };
        let list: Vec<Value> = wanted
            .iter()
            .filter_map(|id| items.get(id).cloned())
            .collect();
        let not_found: Vec<&String> = wanted
            .iter()
            .filter(|id| !items.contains_key(*id))
            .collect();
        json!({"accountId": "d333333", "state": "g1", "list": list, "notFound": not_found})
    }

    fn set_domain(&mut self, args: &Value) -> Value {
        let mut created = Map::new();
        let mut not_created = Map::new();
        let mut updated = Map::new();
        let mut not_updated = Map::new();
        let mut destroyed = Vec::new();
        let mut not_destroyed = Map::new();
        for (key, obj) in args["create"].as_object().cloned().unwrap_or_default() {
            let name = obj["name"].as_str().unwrap_or_default();
            if self.domains.values().any(|d| d["name"] == name) {
                not_created.insert(
                    key,
                    json!({"type": "primaryKeyViolation", "description": "domain exists"}),
                );
                continue;
            }
            let missing: Vec<&str> = [
                "name",
                "certificateManagement",
                "dkimManagement",
                "dnsManagement",
            ]
            .into_iter()
            .filter(|f| obj.get(*f).is_none())
            .collect();
            if !missing.is_empty() {
                not_created.insert(
                    key,
                    json!({"type": "invalidProperties", "properties": missing}),
                );
                continue;
            }
            let id = self.new_id("b");
            let mut stored = obj.clone();
            stored["id"] = json!(id);
            self.domains.insert(id.clone(), stored);
            created.insert(key, json!({"id": id}));
        }
        for (id, patch) in args["update"].as_object().cloned().unwrap_or_default() {
            let Some(domain) = self.domains.get_mut(&id) else {
                not_updated.insert(id, json!({"type": "notFound"}));
                continue;
            };
            for (ptr, v) in patch.as_object().cloned().unwrap_or_default() {
                apply_pointer(domain, &ptr, v);
            }
            updated.insert(id, Value::Null);
        }
        for id in args["destroy"].as_array().cloned().unwrap_or_default() {
            let id = id.as_str().unwrap_or_default().to_owned();
            if self.domains.remove(&id).is_some() {
                destroyed.push(id);
            } else {
                not_destroyed.insert(id, json!({"type": "notFound"}));
            }
        }
        set_response(
            created,
            not_created,
            updated,
            not_updated,
            destroyed,
            not_destroyed,
        )
    }

    fn check_account(&mut self, account: &Value, own_id: Option<&str>) -> Result<(), Value> {
        let domain_id = account["domainId"].as_str().unwrap_or_default();
        if !self.domains.contains_key(domain_id) {
            return Err(
                json!({"type": "invalidProperties", "properties": ["domainId"], "description": "domain does not exist"}),
            );
        }
        let name = account["name"].as_str().unwrap_or_default();
        let taken = |id: &String, a: &Value| {
            Some(id.as_str()) != own_id
                && ((a["name"] == name && a["domainId"] == domain_id)
                    || a["aliases"].as_object().is_some_and(|al| {
                        al.values()
                            .any(|x| x["name"] == name && x["domainId"] == domain_id)
                    }))
        };
        if self.accounts.iter().any(|(id, a)| taken(id, a)) {
            return Err(json!({"type": "primaryKeyViolation", "description": "address in use"}));
        }
        for alias in account["aliases"]
            .as_object()
            .cloned()
            .unwrap_or_default()
            .values()
        {
            if !self
                .domains
                .contains_key(alias["domainId"].as_str().unwrap_or_default())
            {
                return Err(json!({"type": "invalidProperties", "properties": ["aliases"]}));
            }
            let clash = self.accounts.iter().any(|(id, a)| {
                Some(id.as_str()) != own_id
                    && ((a["name"] == alias["name"] && a["domainId"] == alias["domainId"])
                        || a["aliases"].as_object().is_some_and(|al| {
                            al.values().any(|x| {
                                x["name"] == alias["name"] && x["domainId"] == alias["domainId"]
                            })
                        }))
            });
            if clash {
                return Err(json!({"type": "primaryKeyViolation", "description": "alias in use"}));
            }
        }
        if let Some(creds) = account["credentials"].as_object() {
            // Stored accounts have their secrets masked; only check secrets being sent.
            for secret in creds.values().filter_map(|c| c.get("secret")) {
                let secret = secret.as_str().unwrap_or_default();
                if !is_hash(secret) {
                    self.violations
                        .push("a password was sent that is not a hash".into());
                    return Err(
                        json!({"type": "invalidProperties", "properties": ["credentials"], "description": "weak password"}),
                    );
                }
            }
        }
        Ok(())
    }

    /// What `get` shows: secrets masked, as Stalwart does.
    fn masked(mut account: Value) -> Value {
        if let Some(creds) = account["credentials"].as_object_mut() {
            for c in creds.values_mut() {
                c.as_object_mut().map(|o| o.remove("secret"));
            }
        }
        account
    }

    fn set_account(&mut self, args: &Value) -> Value {
        let mut created = Map::new();
        let mut not_created = Map::new();
        let mut updated = Map::new();
        let mut not_updated = Map::new();
        let mut destroyed = Vec::new();
        let mut not_destroyed = Map::new();
        for (key, obj) in args["create"].as_object().cloned().unwrap_or_default() {
            if let Err(e) = self.check_account(&obj, None) {
                not_created.insert(key, e);
                continue;
            }
            let id = self.new_id("a");
            if let Some(secret) = obj.pointer("/credentials/0/secret").and_then(Value::as_str) {
                self.secrets.insert(id.clone(), secret.to_owned());
            }
            let mut stored = Self::masked(obj.clone());
            stored["id"] = json!(id);
            self.accounts.insert(id.clone(), stored);
            created.insert(key, json!({"id": id}));
        }
        for (id, patch) in args["update"].as_object().cloned().unwrap_or_default() {
            let Some(current) = self.accounts.get(&id).cloned() else {
                not_updated.insert(id, json!({"type": "notFound"}));
                continue;
            };
            if self.account_update_outcomes.pop_front() == Some(false) {
                not_updated.insert(id, json!({"type": "serverFail", "description": "injected"}));
                continue;
            }
            let mut next = current.clone();
            let mut secret = None;
            for (ptr, v) in patch.as_object().cloned().unwrap_or_default() {
                if ptr == "credentials/0/secret" {
                    secret = v.as_str().map(str::to_owned);
                    continue;
                }
                apply_pointer(&mut next, &ptr, v);
            }
            let mut check = next.clone();
            if let Some(s) = &secret {
                check["credentials"] = json!({"0": {"@type": "Password", "secret": s}});
            }
            if let Err(e) = self.check_account(&check, Some(&id)) {
                not_updated.insert(id, e);
                continue;
            }
            if let Some(s) = secret {
                self.secrets.insert(id.clone(), s);
            }
            self.accounts.insert(id.clone(), next);
            updated.insert(id, Value::Null);
        }
        for id in args["destroy"].as_array().cloned().unwrap_or_default() {
            let id = id.as_str().unwrap_or_default().to_owned();
            if self.accounts.remove(&id).is_some() {
                self.secrets.remove(&id);
                destroyed.push(id);
            } else {
                not_destroyed.insert(id, json!({"type": "notFound"}));
            }
        }
        set_response(
            created,
            not_created,
            updated,
            not_updated,
            destroyed,
            not_destroyed,
        )
    }
}

fn set_response(
    created: Map<String, Value>,
    not_created: Map<String, Value>,
    updated: Map<String, Value>,
    not_updated: Map<String, Value>,
    destroyed: Vec<String>,
    not_destroyed: Map<String, Value>,
) -> Value {
    let opt = |m: Map<String, Value>| {
        if m.is_empty() {
            Value::Null
        } else {
            Value::Object(m)
        }
    };
    json!({
        "accountId": "d333333", "oldState": "s1", "newState": "s2",
        "created": opt(created), "notCreated": opt(not_created),
        "updated": opt(updated), "notUpdated": opt(not_updated),
        "destroyed": if destroyed.is_empty() { Value::Null } else { json!(destroyed) },
        "notDestroyed": opt(not_destroyed),
    })
}
