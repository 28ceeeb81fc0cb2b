//! [`StalwartClient`]: Stalwart's JMAP management API (`x:Domain`, `x:Account`).

use std::collections::HashMap;
use std::fmt;

use serde_json::{json, Value};
use stackdock_core::{Error, Result};
use stackdock_http::{HttpClient, Request, Response, Url};
use tokio::sync::OnceCell;

use super::config::StalwartConfig;
use super::error::{jmap_error, StalwartErrors};

/// Capabilities every management request declares.
pub const USING: [&str; 2] = ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"];
/// Accounts fetched per `x:Account/query` page while scanning.
pub const SCAN_PAGE: u64 = 500;

#[derive(Debug, Clone)]
struct Session {
    api_path: String,
    account_id: String,
}

/// A JMAP client for Stalwart's management objects. Session discovery
/// (`/.well-known/jmap`, redirects followed within the origin) happens once.
#[derive(Clone)]
pub struct StalwartClient {
    http: HttpClient,
    base: Url,
    session: std::sync::Arc<OnceCell<Session>>,
}

impl fmt::Debug for StalwartClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StalwartClient")
            .field("base", &self.base.as_str())
            .field("session", &self.session.get().map(|s| &s.api_path))
            .finish()
    }
}

impl StalwartClient {
    /// A client for `config` (no request is made yet).
    pub fn new(config: &StalwartConfig) -> Result<Self> {
        config.validate()?;
        Ok(StalwartClient {
            http: HttpClient::new(config.http.clone(), StalwartErrors)?,
            base: config.http.base_url.clone(),
            session: std::sync::Arc::new(OnceCell::new()),
        })
    }

    async fn session(&self) -> Result<&Session> {
        self.session
            .get_or_try_init(|| async {
                let session: Value = self
                    .http
                    .send_json(Request::get("/.well-known/jmap").operation("discover JMAP session"))
                    .await?;
                let api_url = session
                    .get("apiUrl")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Error::invalid_response("JMAP session without apiUrl"))?;
                let api = self
                    .base
                    .join(api_url)
                    .map_err(|_| Error::invalid_response("JMAP session apiUrl is not a URL"))?;
                if api.origin() != self.base.origin() {
                    // Credentials only go to the configured origin.
                    return Err(Error::config(format!(
                        "the JMAP apiUrl points to another origin ({})",
                        api.origin().ascii_serialization()
                    )));
                }
                let account_id = session
                    .pointer("/primaryAccounts/urn:stalwart:jmap")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| {
                        session
                            .get("accounts")
                            .and_then(Value::as_object)
                            .and_then(|a| a.keys().next().cloned())
                    })
                    .ok_or_else(|| Error::invalid_response("JMAP session has no account"))?;
                let mut api_path = api.path().to_owned();
                if let Some(q) = api.query() {
                    api_path = format!("{api_path}?{q}");
                }
                Ok(Session {
                    api_path,
                    account_id,
                })
            })
            .await
    }

    /// Send method calls (`[name, arguments, callId]`, `accountId` added) in
    /// one request; returns each response's arguments in order. A method-level
    /// `error` response becomes the mapped error. Reads may be retried.
    pub async fn call(
        &self,
        op: &'static str,
        calls: Vec<(&str, Value)>,
        read_only: bool,
    ) -> Result<Vec<Value>> {
        self.exchange(op, calls, read_only).await.map(|r| r.args)
    }

    /// [`StalwartClient::call`], keeping the answer for errors built later
    /// from what it says (`notCreated` …).
    async fn exchange(
        &self,
        op: &'static str,
        calls: Vec<(&str, Value)>,
        read_only: bool,
    ) -> Result<Replies> {
        let session = self.session().await.map_err(|e| e.with_operation(op))?;
        let method_calls: Vec<Value> = calls
            .into_iter()
            .enumerate()
            .map(|(i, (name, mut args))| {
                if let Some(obj) = args.as_object_mut() {
                    obj.insert("accountId".into(), json!(session.account_id));
                }
                json!([name, args, i.to_string()])
            })
            .collect();
        let body = json!({ "using": USING, "methodCalls": method_calls });
        let answer = self
            .http
            .send(
                Request::post(session.api_path.clone())
                    .json(&body)
                    .idempotent(read_only)
                    .operation(op),
            )
            .await?;
        let response: Value = answer.json().map_err(|e| e.with_operation(op))?;
        let responses = response
            .get("methodResponses")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                Error::invalid_response("JMAP response without methodResponses").with_operation(op)
            })?;
        let mut args = Vec::with_capacity(responses.len());
        for (i, r) in responses.iter().enumerate() {
            let name = r.get(0).and_then(Value::as_str).unwrap_or_default();
            if name == "error" {
                let pointer = format!("/methodResponses/{i}/1");
                let raw = r.get(1).unwrap_or(&Value::Null);
                return Err(scrubbed_jmap_error(&answer, &pointer, raw).with_operation(op));
            }
            args.push(r.get(1).cloned().unwrap_or(Value::Null));
        }
        Ok(Replies { args, answer })
    }

    /// One `/set` call; returns `created.<key>` / `updated.<id>` (or `Null`),
    /// mapping `notCreated` / `notUpdated` / `notDestroyed`.
    async fn set(&self, op: &'static str, method: &str, args: Value) -> Result<Value> {
        let mut replies = self.exchange(op, vec![(method, args)], false).await?;
        let r = replies.args.pop().unwrap_or(Value::Null);
        for key in ["notCreated", "notUpdated", "notDestroyed"] {
            if let Some(errors) = r.get(key).and_then(Value::as_object) {
                if let Some((object, raw)) = errors.iter().next() {
                    let object = object.replace('~', "~0").replace('/', "~1");
                    let pointer = format!("/methodResponses/0/1/{key}/{object}");
                    let error = scrubbed_jmap_error(&replies.answer, &pointer, raw);
                    return Err(error.with_operation(op));
                }
            }
        }
        Ok(r)
    }

    /// Query then get (one request, back-reference); the objects found.
    async fn query_get(
        &self,
        op: &'static str,
        object: &str,
        query: Value,
    ) -> Result<(Vec<Value>, u64)> {
        let query_name = format!("{object}/query");
        let get_name = format!("{object}/get");
        let r = self
            .call(
                op,
                vec![
                    (&query_name, query),
                    (
                        &get_name,
                        json!({"#ids": {"resultOf": "0", "name": query_name, "path": "/ids"}}),
                    ),
                ],
                true,
            )
            .await?;
        let total = r
            .first()
            .and_then(|q| q.get("total"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let list = r
            .get(1)
            .and_then(|g| g.get("list"))
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| {
                Error::invalid_response(format!("{get_name} without list")).with_operation(op)
            })?;
        Ok((list, total))
    }

    /// The domain object named `name`.
    pub async fn find_domain(&self, name: &str) -> Result<Option<Value>> {
        let (list, _) = self
            .query_get(
                "find mail domain",
                "x:Domain",
                json!({"filter": {"name": name}, "limit": 2}),
            )
            .await?;
        Ok(list
            .into_iter()
            .find(|d| d.get("name").and_then(Value::as_str) == Some(name)))
    }

    /// Domain names by id.
    pub async fn domain_names(&self, ids: &[String]) -> Result<HashMap<String, String>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let r = self
            .call(
                "get mail domains",
                vec![("x:Domain/get", json!({"ids": ids}))],
                true,
            )
            .await?;
        Ok(r.first()
            .and_then(|g| g.get("list"))
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|d| Some((id_of(d)?, d.get("name")?.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Every domain (for catch-alls).
    pub async fn all_domains(&self) -> Result<Vec<Value>> {
        Ok(self
            .query_get("list mail domains", "x:Domain", json!({"filter": {}}))
            .await?
            .0)
    }

    /// The domain's id, creating it (manual certificate, DKIM and DNS management) when missing.
    pub async fn ensure_domain(&self, name: &str) -> Result<String> {
        if let Some(d) = self.find_domain(name).await? {
            return required_id(&d, "domain");
        }
        let create = json!({"create": {"d": {
            "name": name, "isEnabled": true,
            "certificateManagement": {"@type": "Manual"},
            "dkimManagement": {"@type": "Manual"},
            "dnsManagement": {"@type": "Manual"},
        }}});
        match self.set("create mail domain", "x:Domain/set", create).await {
            Ok(r) => r
                .pointer("/created/d/id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Error::invalid_response("x:Domain/set created no id")),
            // Someone created it in between: use theirs.
            Err(e) if e.kind() == &stackdock_core::ErrorKind::AlreadyExists => self
                .find_domain(name)
                .await?
                .and_then(|d| required_id(&d, "domain").ok())
                .ok_or_else(|| {
                    Error::conflict(format!("domain {name} exists but cannot be found"))
                }),
            Err(e) => Err(e),
        }
    }

    /// Patch a domain (JSON-pointer keys).
    pub async fn update_domain(&self, id: &str, patch: Value) -> Result<()> {
        self.set(
            "update mail domain",
            "x:Domain/set",
            json!({"update": {id: patch}}),
        )
        .await
        .map(drop)
    }

    /// The account `local@domain` (by local part and domain id).
    pub async fn find_account(&self, local: &str, domain_id: &str) -> Result<Option<Value>> {
        let (list, _) = self
            .query_get(
                "find mail account",
                "x:Account",
                json!({"filter": {"name": local, "domainId": domain_id}, "limit": 2}),
            )
            .await?;
        Ok(list.into_iter().find(|a| {
            a.get("name").and_then(Value::as_str) == Some(local)
                && a.get("domainId").and_then(Value::as_str) == Some(domain_id)
        }))
    }

    /// Every account (optionally of one domain), all pages.
    pub async fn all_accounts(&self, domain_id: Option<&str>) -> Result<Vec<Value>> {
        let filter = match domain_id {
            Some(d) => json!({"domainId": d}),
            None => json!({}),
        };
        let mut out = Vec::new();
        let mut position = 0u64;
        loop {
            let query = json!({"filter": filter, "position": position, "limit": SCAN_PAGE, "calculateTotal": true});
            let (list, total) = self
                .query_get("list mail accounts", "x:Account", query)
                .await?;
            let n = list.len() as u64;
            out.extend(list);
            position += n;
            if n == 0 || position >= total {
                return Ok(out);
            }
        }
    }

    /// Create an account; returns its id.
    pub async fn create_account(&self, account: Value) -> Result<String> {
        let r = self
            .set(
                "create mail account",
                "x:Account/set",
                json!({"create": {"a": account}}),
            )
            .await?;
        r.pointer("/created/a/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| Error::invalid_response("x:Account/set created no id"))
    }

    /// Patch an account (JSON-pointer keys).
    pub async fn update_account(&self, id: &str, patch: Value) -> Result<()> {
        self.set(
            "update mail account",
            "x:Account/set",
            json!({"update": {id: patch}}),
        )
        .await
        .map(drop)
    }

    /// Destroy an account (Stalwart schedules removal of its mail).
    pub async fn destroy_account(&self, id: &str) -> Result<()> {
        match self
            .set(
                "delete mail account",
                "x:Account/set",
                json!({"destroy": [id]}),
            )
            .await
        {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(drop),
        }
    }
}

/// The arguments of each method response of one JMAP request, and the
/// answer they came in.
struct Replies {
    args: Vec<Value>,
    answer: Response,
}

/// The JMAP error object `raw` at `pointer` in `answer`, mapped from the
/// answer's scrubbed copy: a 200 answer's errors (`notCreated`,
/// method-level `error`) echo the request like error answers do, and take
/// the same one scrubbing path (every secret the request carried, control
/// characters).
fn scrubbed_jmap_error(answer: &Response, pointer: &str, raw: &Value) -> Error {
    let scrubbed: Value = serde_json::from_slice(&answer.scrubbed_body()).unwrap_or_default();
    if let Some(error) = scrubbed.pointer(pointer) {
        return jmap_error(error);
    }
    // The scrubbed copy is cut at a size limit: keep only the error's type
    // (a JMAP token such as `alreadyExists`), which decides the kind.
    let kind = raw
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or("unknown");
    jmap_error(&json!({ "type": kind, "description": "details too long to report" }))
}

/// The `id` of a JMAP object.
pub(crate) fn id_of(object: &Value) -> Option<String> {
    object.get("id").and_then(Value::as_str).map(str::to_owned)
}

/// The non-empty `id` of a JMAP object the server returned: an object
/// without one is the server's error, never turned into a request for `""`.
pub(crate) fn required_id(object: &Value, what: &str) -> Result<String> {
    id_of(object)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Error::invalid_response(format!("{what} without an id")))
}
