//! A small stateful fake of a REST API, so a provider's fake is only its routes.
//!
//! [`FakeRest`] runs a [`wiremock`] server whose one catch-all mock
//! dispatches every request to the routes you register (`GET
//! /zones/{zone_id}/dns_records`), over state you own. It does the
//! plumbing every provider fake used to copy:
//!
//! * **auth check**: requests without the expected header value are
//!   answered `401` with the provider's error body;
//! * **call counter** for the suite's `validation_first`
//!   ([`FakeRest::calls`]);
//! * **fault injection**: the next requests answered `429` with a
//!   `Retry-After`, or with a 5xx ([`FakeRest::inject`]); and the
//!   [`FaultHook`] of the `nothing_half_made` check (fail the k-th call);
//! * **pages**: [`page_of`] slices a listing by page number;
//! * **request log**: every method, path and JSON body, for snapshots of
//!   what the adapter sent ([`FakeRest::requests`]);
//! * **latency**: a fixed delay on every answer, for benchmarks
//!   ([`FakeRest::latency`]).
//!
//! Error bodies are the provider's own shape: pass a function from status
//! and message to the body ([`FakeRest::errors`]).
//!
//! ```
//! use serde_json::json;
//! use stackdock_testkit::fake_rest::{FakeRest, Reply};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let fake = FakeRest::new(Vec::<String>::new())
//!     .auth("authorization", "Bearer t0ken")
//!     .route("POST", "/items", |items, call| {
//!         items.push(call.body["name"].as_str().unwrap_or_default().to_owned());
//!         Reply::json(200, json!({ "id": items.len() }))
//!     })
//!     .route("GET", "/items/{id}", |items, call| {
//!         let i: usize = call.param("id").parse().unwrap_or(0);
//!         match items.get(i.wrapping_sub(1)) {
//!             Some(name) => Reply::json(200, json!({ "name": name })),
//!             None => Reply::error(404, "no such item"),
//!         }
//!     });
//! let server = fake.start().await;
//! let url = server.uri();
//! let http = reqwest::Client::new();
//! let created: serde_json::Value = http.post(format!("{url}/items")).header("authorization", "Bearer t0ken")
//!     .json(&json!({ "name": "a" })).send().await.unwrap().json().await.unwrap();
//! assert_eq!(created["id"], 1);
//! let denied = http.get(format!("{url}/items/1")).send().await.unwrap();
//! assert_eq!(denied.status(), 401);
//! assert_eq!(fake.calls(), 2);
//! # });
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

use crate::checks::FaultHook;

/// One request as a route sees it.
#[derive(Debug, Clone)]
pub struct Call {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path (without the query).
    pub path: String,
    /// The `{name}` segments of the route's pattern.
    pub params: BTreeMap<String, String>,
    /// Query pairs (the last value of a repeated key).
    pub query: BTreeMap<String, String>,
    /// The JSON body (`null` when there is none or it is not JSON).
    pub body: Value,
}

impl Call {
    /// The path parameter `name` (empty when the pattern has none).
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map_or("", String::as_str)
    }

    /// The query value of `key`.
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }
}

/// What a route answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A JSON body with a status.
    Json(u16, Value),
    /// An error with a message, rendered by the fake's error-body function.
    Error(u16, String),
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: Value) -> Self {
        Reply::Json(status, body)
    }

    /// An error answer in the provider's shape.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Reply::Error(status, message.into())
    }
}

/// A fault to answer the next requests with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `429` with `Retry-After: <seconds>`.
    RateLimited {
        /// The `Retry-After` in seconds.
        retry_after: u64,
    },
    /// A server error with this status.
    Status(u16),
}

type Handler<S> = Box<dyn Fn(&mut S, &Call) -> Reply + Send + Sync>;
type ErrorBody = Box<dyn Fn(u16, &str) -> Value + Send + Sync>;

struct Route<S> {
    method: String,
    pattern: Vec<String>,
    handler: Handler<S>,
}

struct Shared<S> {
    state: Mutex<S>,
    routes: Vec<Route<S>>,
    auth: Option<(String, String)>,
    auth_status: u16,
    latency: std::time::Duration,
    errors: ErrorBody,
    calls: AtomicUsize,
    faults: Mutex<VecDeque<Fault>>,
    fail_at: Mutex<Option<usize>>,
    log: Mutex<Vec<(String, String, Value)>>,
}

/// The fake. Cheap to clone; clones share state, counters and faults. See
/// the [module docs](self).
pub struct FakeRest<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for FakeRest<S> {
    fn clone(&self) -> Self {
        FakeRest {
            shared: self.shared.clone(),
        }
    }
}

impl<S> fmt::Debug for FakeRest<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeRest")
            .field("routes", &self.shared.routes.len())
            .field("calls", &self.shared.calls.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

fn default_error(status: u16, message: &str) -> Value {
    json!({ "status": status, "message": message })
}

impl<S: Send + 'static> FakeRest<S> {
    /// A fake over `state`, with no routes yet.
    pub fn new(state: S) -> Self {
        FakeRest {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                routes: Vec::new(),
                auth: None,
                auth_status: 401,
                latency: std::time::Duration::ZERO,
                errors: Box::new(default_error),
                calls: AtomicUsize::new(0),
                faults: Mutex::new(VecDeque::new()),
                fail_at: Mutex::new(None),
                log: Mutex::new(Vec::new()),
            }),
        }
    }

    fn configure(mut self, change: impl FnOnce(&mut Shared<S>)) -> Self {
        let shared = Arc::get_mut(&mut self.shared).expect("configure the fake before cloning it");
        change(shared);
        self
    }

    /// Require header `name` to be exactly `value` (else `401`).
    pub fn auth(self, name: &str, value: &str) -> Self {
        let auth = (name.to_ascii_lowercase(), value.to_owned());
        self.configure(|s| s.auth = Some(auth))
    }

    /// The status of a refused credential (default 401; Cloudflare says 403).
    pub fn auth_status(self, status: u16) -> Self {
        self.configure(|s| s.auth_status = status)
    }

    /// Answer every request only after `latency` (benchmarks measure
    /// against a fixed round trip).
    pub fn latency(self, latency: std::time::Duration) -> Self {
        self.configure(|s| s.latency = latency)
    }

    /// How error bodies look at this provider.
    pub fn errors(self, body: impl Fn(u16, &str) -> Value + Send + Sync + 'static) -> Self {
        self.configure(|s| s.errors = Box::new(body))
    }

    /// Answer `method` on `pattern` (`/zones/{zone_id}`: `{…}` matches one segment).
    pub fn route(
        self,
        method: &str,
        pattern: &str,
        handler: impl Fn(&mut S, &Call) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let route = Route {
            method: method.to_ascii_uppercase(),
            pattern: segments(pattern),
            handler: Box::new(handler),
        };
        self.configure(|s| s.routes.push(route))
    }

    /// Start the server (it stops when the returned handle is dropped; its
    /// base URL is `server.uri()`).
    pub async fn start(&self) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(Responder(self.clone()))
            .mount(&server)
            .await;
        server
    }

    /// Requests received so far (including refused and faulted ones).
    pub fn calls(&self) -> usize {
        self.shared.calls.load(Ordering::SeqCst)
    }

    /// Answer each of the next `count` requests with `fault`.
    pub fn inject(&self, fault: Fault, count: usize) {
        let mut faults = lock(&self.shared.faults);
        faults.extend(std::iter::repeat_n(fault, count));
    }

    /// The state, for seeding and assertions.
    pub fn state(&self) -> MutexGuard<'_, S> {
        lock(&self.shared.state)
    }

    /// Every request so far: method, path (with query) and JSON body.
    pub fn requests(&self) -> Vec<(String, String, Value)> {
        lock(&self.shared.log).clone()
    }

    /// Forget the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    fn answer(&self, request: &wiremock::Request) -> ResponseTemplate {
        let shared = &self.shared;
        let n = shared.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let call = call_of(request);
        let mut logged = call.path.clone();
        if let Some(q) = request.url.query() {
            logged = format!("{logged}?{q}");
        }
        lock(&shared.log).push((call.method.clone(), logged, call.body.clone()));
        if let Some(reply) = self.refusal(request, n) {
            return reply;
        }
        let route = shared
            .routes
            .iter()
            .find_map(|r| matches(r, &call).map(|params| (r, params)));
        let reply = match route {
            Some((route, params)) => {
                let call = Call { params, ..call };
                (route.handler)(&mut lock(&shared.state), &call)
            }
            None => Reply::error(404, format!("no route for {} {}", call.method, call.path)),
        };
        self.render(reply)
    }

    /// Auth failures, injected faults and the fault hook's failed call.
    fn refusal(&self, request: &wiremock::Request, n: usize) -> Option<ResponseTemplate> {
        let shared = &self.shared;
        if let Some((name, value)) = &shared.auth {
            let given = request
                .headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok());
            if given != Some(value.as_str()) {
                let refused = Reply::error(shared.auth_status, "invalid credentials");
                return Some(self.render(refused));
            }
        }
        let mut fail_at = lock(&shared.fail_at);
        if *fail_at == Some(n) {
            *fail_at = None;
            return Some(self.render(Reply::error(503, "injected failure")));
        }
        drop(fail_at);
        match lock(&shared.faults).pop_front()? {
            Fault::RateLimited { retry_after } => Some(
                self.render(Reply::error(429, "rate limited"))
                    .insert_header("retry-after", retry_after.to_string().as_str()),
            ),
            Fault::Status(status) => Some(self.render(Reply::error(status, "injected failure"))),
        }
    }

    fn render(&self, reply: Reply) -> ResponseTemplate {
        let (status, body) = match reply {
            Reply::Json(status, body) => (status, body),
            Reply::Error(status, message) => (status, (self.shared.errors)(status, &message)),
        };
        ResponseTemplate::new(status)
            .set_body_json(body)
            .set_delay(self.shared.latency)
    }
}

/// The `nothing_half_made` hook: the k-th request from now is answered 503.
impl<S: Send + 'static> FaultHook for FakeRest<S> {
    fn fail_call(&self, k: usize) {
        *lock(&self.shared.fail_at) = Some(self.calls() + k);
    }

    fn clear(&self) {
        *lock(&self.shared.fail_at) = None;
    }
}

struct Responder<S>(FakeRest<S>);

impl<S: Send + 'static> Respond for Responder<S> {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        self.0.answer(request)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking route must not wedge the whole fake.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn call_of(request: &wiremock::Request) -> Call {
    Call {
        method: request.method.to_string(),
        path: request.url.path().to_owned(),
        params: BTreeMap::new(),
        query: request.url.query_pairs().into_owned().collect(),
        body: serde_json::from_slice(&request.body).unwrap_or(Value::Null),
    }
}

fn matches<S>(route: &Route<S>, call: &Call) -> Option<BTreeMap<String, String>> {
    let path = segments(&call.path);
    if route.method != call.method || path.len() != route.pattern.len() {
        return None;
    }
    let mut params = BTreeMap::new();
    for (want, got) in route.pattern.iter().zip(path) {
        match want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            Some(name) => {
                params.insert(name.to_owned(), got);
            }
            None if *want == got => {}
            None => return None,
        }
    }
    Some(params)
}

/// Page `page` (1-based) of `per_page` items, and the number of pages
/// (at least 1, as page-number APIs report for an empty listing).
///
/// ```
/// let (items, pages) = stackdock_testkit::fake_rest::page_of(&[1, 2, 3, 4, 5], 2, 2);
/// assert_eq!((items, pages), (vec![3, 4], 3));
/// ```
pub fn page_of<T: Clone>(items: &[T], page: usize, per_page: usize) -> (Vec<T>, usize) {
    let per_page = per_page.max(1);
    let pages = items.len().div_ceil(per_page).max(1);
    let start = page.saturating_sub(1).saturating_mul(per_page);
    let slice = items.iter().skip(start).take(per_page).cloned().collect();
    (slice, pages)
}
