//! [`VercelClient`]: typed calls to Vercel's REST API over the shared HTTP layer.

use std::fmt;
use std::sync::Arc;

use serde_json::{json, Value};
use stackdock_core::dns::RecordData;
use stackdock_core::extension::EnvVars;
use stackdock_core::kit::KitProvider;
use stackdock_core::resource::{Deployment, DnsRecord, Domain, WebService};
use stackdock_core::secret::ExposeSecret;
use stackdock_core::{async_trait, Arguments, Error, ErrorKind, ListOptions, ProviderInfo, Result};
use stackdock_http::{
    encode_path_segment as seg, found, gone, HttpClient, Paging, Request, RestClient,
};

use crate::config::{until, VercelConfig, API};
use crate::error::VercelErrorMapper;
use crate::input;
use crate::mapping;
use crate::model::{
    split_page, AddDomainBody, ApiProject, CreateDeploymentBody, CreateProjectBody, EnvBody,
    GitRepositoryBody, ProjectDomainBody, ResourceConfigBody, UpdateProjectBody,
};
use crate::types::{
    DeploymentQuery, DeploymentSource, DeploymentTarget, EnvVar, NewDeployment, NewEnvVar,
    NewProject, NewProjectDomain, ProjectUpdate, ReadyState, WaitOptions,
};

/// The projects list continues with `from` (a number or a string).
pub(crate) const PROJECTS: Paging = Paging::Cursor {
    cursor: "from",
    limit: "limit",
    items: "/projects",
    next: "/pagination/next",
};

/// A client of one Vercel account or team. Cheap to clone.
///
/// Every call goes through `stackdock-http` (retries, 429 handling,
/// concurrency limit) and carries the team scope.
///
/// ```no_run
/// use stackdock_vercel::{VercelClient, VercelConfig};
/// # async fn f() -> stackdock_core::Result<()> {
/// let client = VercelClient::new(VercelConfig::from_env()?)?;
/// for project in client.list_projects().await? {
///     println!("{} {:?}", project.meta.name, project.framework);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct VercelClient {
    inner: Arc<Inner>,
}

struct Inner {
    rest: RestClient,
    /// One lock per zone around "list the zone, then add the record": Vercel
    /// accepts duplicate records, so without it concurrent creates of one
    /// record in this process would each add one.
    record_locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    max_concurrency: usize,
    team: Option<crate::config::TeamScope>,
}

impl fmt::Debug for VercelClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VercelClient")
            .field("dock_id", &self.dock_id())
            .field("team", &self.inner.team)
            .field("page_size", &self.page_size())
            .finish_non_exhaustive()
    }
}

fn malformed(op: &'static str, what: &str) -> Error {
    Error::invalid_response(format!("Vercel answered without {what}")).with_operation(op)
}

impl VercelClient {
    /// A client for `config`.
    pub fn new(config: VercelConfig) -> Result<Self> {
        let http = HttpClient::new(config.http_config()?, VercelErrorMapper)?;
        Ok(VercelClient {
            inner: Arc::new(Inner {
                rest: RestClient::from_http(&config.rest, &API, http),
                record_locks: Default::default(),
                max_concurrency: config.rest.max_concurrency,
                team: config.team.clone(),
            }),
        })
    }

    /// The kit's REST client under this one (paging, envelopes, dock id).
    pub fn rest(&self) -> &RestClient {
        &self.inner.rest
    }

    /// The dock id put into resource references.
    pub fn dock_id(&self) -> &str {
        self.inner.rest.dock_id()
    }

    /// The API endpoint this client talks to (a password in it redacted).
    pub fn base_url(&self) -> &str {
        self.inner.rest.endpoint()
    }

    /// The lock serialising record creates in `zone` within this process.
    pub(crate) fn record_lock(&self, zone: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .inner
            .record_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(zone.to_owned()).or_default().clone()
    }

    pub(crate) fn page_size(&self) -> u32 {
        self.inner.rest.page_size(None)
    }

    pub(crate) fn max_concurrency(&self) -> usize {
        self.inner.max_concurrency
    }

    pub(crate) async fn send_raw(&self, req: Request) -> Result<stackdock_http::Bytes> {
        self.inner.rest.http().send(req).await.map(|r| r.body)
    }

    async fn value(&self, req: Request) -> Result<Value> {
        self.inner.rest.http().send_json::<Value>(req).await
    }

    /// `DELETE`: success when it is already gone.
    async fn delete(&self, req: Request) -> Result<()> {
        gone(self.inner.rest.http().send_empty(req).await)
    }

    /// Every item of a listing, all pages at the configured page size.
    pub(crate) async fn all(
        &self,
        req: Request,
        paging: Paging,
        op: &'static str,
    ) -> Result<Vec<Value>> {
        let options = ListOptions::default();
        let all = self.inner.rest.all_as(req.operation(op), &options, paging);
        all.await.map_err(|e| e.with_operation(op))
    }

    /// Every item of a listing, each mapped by `map`.
    async fn all_of<T>(
        &self,
        req: Request,
        paging: Paging,
        op: &'static str,
        map: impl Fn(Value) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.all(req, paging, op)
            .await?
            .into_iter()
            .map(map)
            .collect()
    }

    /// Check the token with a cheap call (`GET /v2/user`).
    pub async fn check_credentials(&self) -> Result<()> {
        KitProvider::check_credentials(&self.inner.rest).await
    }

    // ---- projects -------------------------------------------------------

    pub(crate) async fn project_raw(&self, id_or_name: &str) -> Result<Option<Value>> {
        input::project_ref("project", id_or_name)?;
        found(
            self.value(
                Request::get(format!("/v9/projects/{}", seg(id_or_name)))
                    .operation("get web service"),
            )
            .await,
        )
    }

    /// A project by id or name; `None` when it does not exist.
    pub async fn get_project(&self, id_or_name: &str) -> Result<Option<WebService>> {
        self.project_raw(id_or_name)
            .await?
            .map(|raw| mapping::project(self.dock_id(), raw))
            .transpose()
    }

    /// Every project, following the `from` continuation token.
    pub async fn list_projects(&self) -> Result<Vec<WebService>> {
        let (req, dock) = (Request::get("/v10/projects"), self.dock_id());
        let map = |raw| mapping::project(dock, raw);
        self.all_of(req, PROJECTS, "list web services", map).await
    }

    /// `POST /v11/projects`: create `p` (already checked) and return Vercel's
    /// raw answer. Env var values go in the body and nowhere else.
    pub(crate) async fn post_project(&self, p: &NewProject) -> Result<Value> {
        let env: Vec<EnvBody<'_>> = p.environment_variables.iter().map(env_body).collect();
        let body = CreateProjectBody {
            name: &p.name,
            framework: p.framework.as_deref(),
            git_repository: p.repository.as_deref().map(|repo| GitRepositoryBody {
                repo,
                kind: p.git_provider.as_str(),
            }),
            build_command: p.build_command.as_deref(),
            dev_command: p.dev_command.as_deref(),
            install_command: p.install_command.as_deref(),
            output_directory: p.output_directory.as_deref(),
            root_directory: p.root_directory.as_deref(),
            resource_config: ResourceConfigBody::region(p.region.as_deref()),
            environment_variables: env,
        };
        let mut req = Request::post("/v11/projects")
            .json(&body)
            .operation("create web service");
        for v in &p.environment_variables {
            req = req.secret(&v.value);
        }
        self.value(req).await
    }
    /// Change a project's settings.
    pub async fn update_project(&self, id_or_name: &str, u: &ProjectUpdate) -> Result<WebService> {
        const OP: &str = "update web service";
        input::project_update(id_or_name, u).map_err(|e| e.with_operation(OP))?;
        let body = UpdateProjectBody {
            name: u.name.as_deref(),
            framework: u.framework.as_deref(),
            build_command: u.build_command.as_deref(),
            dev_command: u.dev_command.as_deref(),
            install_command: u.install_command.as_deref(),
            output_directory: u.output_directory.as_deref(),
            root_directory: u.root_directory.as_deref(),
            node_version: u.node_version.as_deref(),
            resource_config: ResourceConfigBody::region(u.region.as_deref()),
        };
        if body.is_empty() {
            return self.get_project(id_or_name).await?.ok_or_else(|| {
                Error::not_found(format!("project {id_or_name}")).with_operation(OP)
            });
        }
        let raw = self
            .value(
                Request::patch(format!("/v9/projects/{}", seg(id_or_name)))
                    .json(&body)
                    .operation(OP),
            )
            .await?;
        mapping::project(self.dock_id(), raw)
    }

    /// Delete a project (and with it its deployments, domains and env vars).
    /// Succeeds when it is already gone.
    pub async fn delete_project(&self, id_or_name: &str) -> Result<()> {
        input::project_ref("id", id_or_name)?;
        self.delete(
            Request::delete(format!("/v9/projects/{}", seg(id_or_name)))
                .operation("delete web service"),
        )
        .await
    }

    // ---- deployments ----------------------------------------------------

    /// Start a deployment from the project's connected repository, or a
    /// redeploy of an existing deployment. Every call makes a new deployment.
    pub async fn create_deployment(&self, d: &NewDeployment) -> Result<Deployment> {
        const OP: &str = "create deployment";
        input::new_deployment(d).map_err(|e| e.with_operation(OP))?;
        let raw = self
            .project_raw(&d.project)
            .await?
            .ok_or_else(|| Error::not_found(format!("project {}", d.project)).with_operation(OP))?;
        let project = ApiProject::deserialize_from(&raw)?;
        let target = match d.target {
            DeploymentTarget::Production => Some("production"),
            DeploymentTarget::Preview => None,
        };
        let (git_source, deployment_id) = match &d.source {
            DeploymentSource::Git { git_ref, sha } => {
                let link = project.link.as_ref().ok_or_else(|| {
                    Error::invalid_input(
                        "service",
                        format!("project {} has no connected git repository", project.name),
                    )
                    .with_operation(OP)
                })?;
                let git_ref = git_ref
                    .clone()
                    .or_else(|| link.production_branch.clone())
                    .unwrap_or_else(|| "main".into());
                (
                    Some(
                        link.git_source(&git_ref, sha.as_deref())
                            .map_err(|e| e.with_operation(OP))?,
                    ),
                    None,
                )
            }
            DeploymentSource::Redeploy { deployment_id } => (None, Some(deployment_id.as_str())),
        };
        let body = CreateDeploymentBody {
            name: &project.name,
            project: &project.id,
            target,
            git_source,
            deployment_id,
        };
        let raw = self
            .value(Request::post("/v13/deployments").json(&body).operation(OP))
            .await?;
        mapping::deployment(self.dock_id(), raw, Some(&project.id))
    }

    pub(crate) async fn deployment_raw(&self, id: &str) -> Result<Option<Value>> {
        input::deployment_ref("id", id)?;
        found(
            self.value(
                Request::get(format!("/v13/deployments/{}", seg(id))).operation("get deployment"),
            )
            .await,
        )
    }

    /// A deployment by id or URL; `None` when it does not exist.
    pub async fn get_deployment(&self, id: &str) -> Result<Option<Deployment>> {
        self.deployment_raw(id)
            .await?
            .map(|raw| mapping::deployment(self.dock_id(), raw, None))
            .transpose()
    }

    pub(crate) fn deployments_request(q: &DeploymentQuery) -> Result<Request> {
        let mut req = Request::get("/v7/deployments");
        if let Some(p) = &q.project_id {
            input::project_ref("project_id", p)?;
            req = req.query("projectId", p.clone());
        }
        for state in &q.states {
            input::state_filter(state)?;
        }
        if !q.states.is_empty() {
            let states: Vec<&str> = q.states.iter().map(ReadyState::as_str).collect();
            req = req.query("state", states.join(","));
        }
        if let Some(t) = q.target {
            req = req.query("target", t.as_str());
        }
        Ok(req)
    }

    /// Every deployment matching `q`, following the `until` cursor.
    pub async fn list_deployments(&self, q: &DeploymentQuery) -> Result<Vec<Deployment>> {
        let req = Self::deployments_request(q).map_err(|e| e.with_operation("list deployments"))?;
        let map = |raw| mapping::deployment(self.dock_id(), raw, None);
        self.all_of(req, until("/deployments"), "list deployments", map)
            .await
    }

    /// Cancel a queued or building deployment.
    pub async fn cancel_deployment(&self, id: &str) -> Result<Deployment> {
        input::deployment_ref("id", id).map_err(|e| e.with_operation("cancel deployment"))?;
        let raw = self
            .value(
                Request::patch(format!("/v12/deployments/{}/cancel", seg(id)))
                    .operation("cancel deployment"),
            )
            .await?;
        mapping::deployment(self.dock_id(), raw, None)
    }

    /// Delete a deployment; succeeds when it is already gone.
    pub async fn delete_deployment(&self, id: &str) -> Result<()> {
        input::deployment_ref("id", id).map_err(|e| e.with_operation("delete deployment"))?;
        self.delete(
            Request::delete(format!("/v13/deployments/{}", seg(id))).operation("delete deployment"),
        )
        .await
    }

    /// Poll a deployment until it is `READY`, with backoff, for at most
    /// `options.timeout`.
    ///
    /// Returns the ready deployment. A build that ends `ERROR`, `CANCELED` or
    /// `BLOCKED` is a `Provider` error carrying Vercel's error code; running out
    /// of time is `Timeout`; a deployment that disappears is `NotFound`.
    /// Dropping the future stops the polling (nothing runs in the background).
    pub async fn wait_until_ready(&self, id: &str, options: &WaitOptions) -> Result<Deployment> {
        const OP: &str = "wait for deployment";
        let deadline = tokio::time::Instant::now() + options.timeout;
        let mut interval = options.initial_interval;
        loop {
            let raw = self
                .deployment_raw(id)
                .await?
                .ok_or_else(|| Error::not_found(format!("deployment {id}")).with_operation(OP))?;
            let state = mapping::ready_state(&raw);
            if state.is_terminal() {
                let code = raw
                    .get("errorCode")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let message = raw
                    .get("errorMessage")
                    .and_then(Value::as_str)
                    .map(stackdock_core::provisioning::sanitize_message);
                let deployment = mapping::deployment(self.dock_id(), raw, None)?;
                return match state {
                    ReadyState::Ready => Ok(deployment),
                    other => Err(Error::provider(
                        None,
                        code.or_else(|| Some(other.as_str().to_ascii_lowercase())),
                        message.unwrap_or_else(|| format!("deployment ended {}", other.as_str())),
                    )
                    .with_operation(OP)
                    .with_context("deployment", id.to_owned())),
                };
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(Error::new(ErrorKind::Timeout)
                    .with_message(format!("deployment {id} still {}", state.as_str()))
                    .with_operation(OP));
            }
            tokio::time::sleep(interval.min(deadline - now)).await;
            interval = (interval * 2).min(options.max_interval.max(options.initial_interval));
        }
    }

    // ---- project domains ------------------------------------------------

    /// A domain attached to a project; `None` when it is not attached.
    pub async fn get_project_domain(&self, project: &str, domain: &str) -> Result<Option<Domain>> {
        input::project_ref("service_id", project)?;
        let domain = input::domain("name", domain)?;
        let raw = found(
            self.value(
                Request::get(format!(
                    "/v9/projects/{}/domains/{}",
                    seg(project),
                    seg(&domain)
                ))
                .operation("get domain"),
            )
            .await,
        )?;
        raw.map(|raw| mapping::project_domain(self.dock_id(), raw, project))
            .transpose()
    }

    /// Every domain of a project.
    pub async fn list_project_domains(&self, project: &str) -> Result<Vec<Domain>> {
        input::project_ref("service_id", project)?;
        let req = Request::get(format!("/v9/projects/{}/domains", seg(project)));
        let map = |raw| mapping::project_domain(self.dock_id(), raw, project);
        self.all_of(req, until("/domains"), "list domains", map)
            .await
    }

    /// `POST /v10/projects/{project}/domains`: attach `name` (checked,
    /// canonical) with `d`'s redirect and branch.
    pub(crate) async fn post_project_domain(
        &self,
        project: &str,
        name: &str,
        redirect: Option<&str>,
        d: &NewProjectDomain,
    ) -> Result<Domain> {
        let body = ProjectDomainBody {
            name: Some(name),
            redirect,
            redirect_status_code: d.redirect_status_code,
            git_branch: d.git_branch.as_deref(),
        };
        let raw = self
            .value(
                Request::post(format!("/v10/projects/{}/domains", seg(project)))
                    .json(&body)
                    .operation("create domain"),
            )
            .await?;
        mapping::project_domain(self.dock_id(), raw, project)
    }

    /// Set a project domain's redirect and git branch to exactly what `d`
    /// says (`None` clears them).
    pub async fn update_project_domain(
        &self,
        project: &str,
        d: &NewProjectDomain,
    ) -> Result<Domain> {
        const OP: &str = "update domain";
        input::project_ref("service_id", project).map_err(|e| e.with_operation(OP))?;
        let name = input::domain("name", &d.name).map_err(|e| e.with_operation(OP))?;
        let redirect = d
            .redirect
            .as_deref()
            .map(|r| input::domain("redirect", r))
            .transpose()
            .map_err(|e| e.with_operation(OP))?;
        if let Some(b) = &d.git_branch {
            input::git_ref("git_branch", b).map_err(|e| e.with_operation(OP))?;
        }
        let body = ProjectDomainBody {
            name: None,
            redirect: redirect.as_deref(),
            redirect_status_code: redirect.as_ref().and(d.redirect_status_code),
            git_branch: d.git_branch.as_deref(),
        };
        let raw = self
            .value(
                Request::patch(format!(
                    "/v9/projects/{}/domains/{}",
                    seg(project),
                    seg(&name)
                ))
                .json(&body)
                .operation(OP),
            )
            .await?;
        mapping::project_domain(self.dock_id(), raw, project)
    }

    /// Ask Vercel to check the verification records of a project domain.
    pub async fn verify_project_domain(&self, project: &str, domain: &str) -> Result<Domain> {
        const OP: &str = "verify domain";
        input::project_ref("service_id", project).map_err(|e| e.with_operation(OP))?;
        let name = input::domain("name", domain).map_err(|e| e.with_operation(OP))?;
        let raw = self
            .value(
                Request::post(format!(
                    "/v9/projects/{}/domains/{}/verify",
                    seg(project),
                    seg(&name)
                ))
                .operation(OP),
            )
            .await?;
        mapping::project_domain(self.dock_id(), raw, project)
    }

    /// Detach a domain from a project; succeeds when it is not attached.
    pub async fn remove_project_domain(&self, project: &str, domain: &str) -> Result<()> {
        const OP: &str = "delete domain";
        input::project_ref("service_id", project).map_err(|e| e.with_operation(OP))?;
        let name = input::domain("name", domain).map_err(|e| e.with_operation(OP))?;
        self.delete(
            Request::delete(format!(
                "/v9/projects/{}/domains/{}",
                seg(project),
                seg(&name)
            ))
            .operation(OP),
        )
        .await
    }

    // ---- account domains ------------------------------------------------

    /// Every domain of the account or team.
    pub async fn list_domains(&self) -> Result<Vec<Domain>> {
        let (req, dock) = (Request::get("/v5/domains"), self.dock_id());
        let map = |raw| mapping::account_domain(dock, raw);
        self.all_of(req, until("/domains"), "list account domains", map)
            .await
    }

    /// An account domain by name; `None` when the account does not hold it.
    pub async fn get_domain(&self, name: &str) -> Result<Option<Domain>> {
        let name = input::domain("name", name)?;
        let raw = found(
            self.value(
                Request::get(format!("/v5/domains/{}", seg(&name))).operation("get account domain"),
            )
            .await,
        )?;
        raw.map(|mut raw| {
            let inner = raw
                .get_mut("domain")
                .map(Value::take)
                .ok_or_else(|| malformed("get account domain", "domain"))?;
            mapping::account_domain(self.dock_id(), inner)
        })
        .transpose()
    }

    /// `POST /v7/domains`: add `name` (checked, canonical) to the account.
    pub(crate) async fn post_domain(&self, name: &str) -> Result<Domain> {
        const OP: &str = "add account domain";
        let mut raw = self
            .value(
                Request::post("/v7/domains")
                    .json(&AddDomainBody {
                        name,
                        method: "add",
                    })
                    .operation(OP),
            )
            .await?;
        let inner = raw
            .get_mut("domain")
            .map(Value::take)
            .ok_or_else(|| malformed(OP, "domain"))?;
        mapping::account_domain(self.dock_id(), inner)
    }
    /// Remove a domain from the account; succeeds when it is not there.
    pub async fn remove_domain(&self, name: &str) -> Result<()> {
        const OP: &str = "remove account domain";
        let name = input::domain("name", name).map_err(|e| e.with_operation(OP))?;
        self.delete(Request::delete(format!("/v6/domains/{}", seg(&name))).operation(OP))
            .await
    }

    // ---- DNS records ----------------------------------------------------

    pub(crate) fn records_request(zone: &str) -> Request {
        Request::get(format!("/v5/domains/{}/records", seg(zone)))
    }

    /// Every DNS record of a zone served by Vercel DNS (types StackDock cannot
    /// represent are left out).
    pub async fn list_dns_records(&self, zone: &str) -> Result<Vec<DnsRecord>> {
        let zone = input::domain("zone", zone)?;
        let (req, dock) = (Self::records_request(&zone), self.dock_id());
        let map = |raw| mapping::record(dock, &zone, raw);
        let records = self.all_of(req, until("/records"), "list dns records", map);
        Ok(records.await?.into_iter().flatten().collect())
    }

    /// One record of a zone (Vercel has no single-record read, so this lists
    /// the zone); `None` when it or its zone does not exist.
    pub async fn get_dns_record(&self, zone: &str, record_id: &str) -> Result<Option<DnsRecord>> {
        let wanted = mapping::record_id(zone, record_id);
        // A zone Vercel does not serve holds no records.
        Ok(found(self.list_dns_records(zone).await)?
            .unwrap_or_default()
            .into_iter()
            .find(|r| r.meta.reference.provider_resource_id == wanted))
    }

    /// `POST /v2/domains/{zone}/records`: create a record from checked,
    /// canonical parts; the result is built from what was sent (Vercel
    /// answers with only `{uid, updated}`).
    pub(crate) async fn post_dns_record(
        &self,
        zone: &str,
        owner: &str,
        ttl: u32,
        data: RecordData,
        comment: Option<&str>,
    ) -> Result<DnsRecord> {
        const OP: &str = "create dns record";
        let name = mapping::relative_name(owner, zone);
        let body = mapping::record_body(name, &data, ttl, comment)?;
        let raw = self
            .value(
                Request::post(format!("/v2/domains/{}/records", seg(zone)))
                    .json(&body)
                    .operation(OP),
            )
            .await?;
        let uid = raw
            .get("uid")
            .or_else(|| raw.get("id"))
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(OP, "uid"))?
            .to_owned();
        Ok(mapping::local_record(
            self.dock_id(),
            zone,
            &uid,
            owner,
            ttl,
            data,
            raw,
        ))
    }

    /// Change a record's owner, TTL or data (not its type: Vercel cannot).
    pub async fn update_dns_record(
        &self,
        zone: &str,
        record_id: &str,
        owner: &str,
        ttl: Option<u32>,
        data: &RecordData,
    ) -> Result<DnsRecord> {
        const OP: &str = "update dns record";
        let (zone, owner, ttl) =
            input::record(zone, owner, ttl, data).map_err(|e| e.with_operation(OP))?;
        input::deployment_ref("id", record_id).map_err(|e| e.with_operation(OP))?;
        let data = input::canonical_data(data)?;
        let current = self
            .get_dns_record(&zone, record_id)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!("dns record {record_id}")).with_operation(OP)
            })?;
        if current.data.record_type() != data.record_type() {
            return Err(Error::invalid_input(
                "data",
                "Vercel cannot change a record's type; delete it and create a new one",
            )
            .with_operation(OP));
        }
        let name = mapping::relative_name(&owner, &zone);
        let body = mapping::record_body(name, &data, ttl, None)?;
        let raw = self
            .value(
                Request::patch(format!("/v1/domains/records/{}", seg(record_id)))
                    .json(&body)
                    .operation(OP),
            )
            .await?;
        Ok(mapping::local_record(
            self.dock_id(),
            &zone,
            record_id,
            &owner,
            ttl,
            data,
            raw,
        ))
    }

    /// Delete a record; succeeds when it is already gone.
    pub async fn delete_dns_record(&self, zone: &str, record_id: &str) -> Result<()> {
        const OP: &str = "delete dns record";
        let zone = input::domain("zone", zone).map_err(|e| e.with_operation(OP))?;
        input::deployment_ref("id", record_id).map_err(|e| e.with_operation(OP))?;
        self.delete(
            Request::delete(format!(
                "/v2/domains/{}/records/{}",
                seg(&zone),
                seg(record_id)
            ))
            .operation(OP),
        )
        .await
    }

    // ---- environment variables ------------------------------------------

    /// Every env var of a project. Values come back as Vercel returns them
    /// (plain text for `plain`, otherwise ciphertext or nothing), as secrets.
    pub async fn list_env(&self, project: &str) -> Result<Vec<EnvVar>> {
        const OP: &str = "list env vars";
        input::project_ref("project", project).map_err(|e| e.with_operation(OP))?;
        // Usually one answer; follow `pagination.next` when Vercel adds it.
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req = Request::get(format!("/v10/projects/{}/env", seg(project))).operation(OP);
            if let Some(c) = &cursor {
                req = req.query("until", c.clone());
            }
            let raw = self.value(req).await?;
            let (items, next) = split_page(raw, "envs").ok_or_else(|| malformed(OP, "envs"))?;
            for item in items {
                out.push(mapping::env_var(item)?);
            }
            match next.map(|c| c.to_query()) {
                Some(c) if Some(&c) != cursor.as_ref() => cursor = Some(c),
                Some(_) => {
                    return Err(Error::invalid_response("pagination cursor did not advance")
                        .with_operation(OP))
                }
                None => return Ok(out),
            }
        }
    }

    /// Create env vars in one call; with `upsert` an existing variable of the
    /// same key and target is overwritten, without it that is `AlreadyExists`.
    ///
    /// Vercel may create some and refuse others: the refusals are returned as
    /// the error; repeating the call with `upsert` finishes the job.
    pub async fn create_env(
        &self,
        project: &str,
        vars: &[NewEnvVar],
        upsert: bool,
    ) -> Result<Vec<EnvVar>> {
        const OP: &str = "create env vars";
        input::project_ref("project", project).map_err(|e| e.with_operation(OP))?;
        if vars.is_empty() {
            return Ok(Vec::new());
        }
        for v in vars {
            input::env_var(v).map_err(|e| e.with_operation(OP))?;
        }
        let body: Vec<EnvBody<'_>> = vars.iter().map(env_body).collect();
        let mut req = Request::post(format!("/v10/projects/{}/env", seg(project)))
            .json(&body)
            .operation(OP);
        // Values travel under the harmless name `value`: register them so no echo prints them.
        for v in vars {
            req = req.secret(&v.value);
        }
        if upsert {
            // Overwriting makes the request safe to repeat.
            req = req.query("upsert", "true").idempotent(true);
        }
        let response = self.inner.rest.http().send(req).await?;
        let mut raw: Value = response.json().map_err(|e| e.with_operation(OP))?;
        if raw
            .get("failed")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
        {
            return Err(env_refused(&response, &raw).with_operation(OP));
        }
        let created = match raw.get_mut("created").map(Value::take) {
            Some(Value::Array(items)) => items,
            Some(one @ Value::Object(_)) => vec![one],
            _ => return Err(malformed(OP, "created")),
        };
        created.into_iter().map(mapping::env_var).collect()
    }

    /// Delete an env var; succeeds when it is already gone.
    pub async fn delete_env(&self, project: &str, env_id: &str) -> Result<()> {
        const OP: &str = "delete env var";
        input::project_ref("project", project).map_err(|e| e.with_operation(OP))?;
        input::deployment_ref("id", env_id).map_err(|e| e.with_operation(OP))?;
        self.delete(
            Request::delete(format!("/v9/projects/{}/env/{}", seg(project), seg(env_id)))
                .operation(OP),
        )
        .await
    }
}

/// The error of the first `failed[]` entry of a bulk env create (a `2xx`
/// answer, decoded as `raw`). Each entry repeats the variable, its value
/// included, so the error is built from the scrubbed body, like the errors
/// of `4xx` answers; only the code, which decides the kind, is read raw (the
/// scrubbed copy is cut at a size limit).
fn env_refused(response: &stackdock_http::Response, raw: &Value) -> Error {
    let scrubbed: Value = serde_json::from_slice(&response.scrubbed_body()).unwrap_or_default();
    let err = scrubbed
        .pointer("/failed/0/error")
        .cloned()
        .unwrap_or(Value::Null);
    let status = match raw.pointer("/failed/0/error/code").and_then(Value::as_str) {
        Some("ENV_ALREADY_EXISTS") => 403,
        _ => 400,
    };
    let body = serde_json::to_vec(&json!({ "error": err })).unwrap_or_default();
    crate::error::map_error(
        status,
        &stackdock_http::HeaderMap::new(),
        &body,
        std::time::SystemTime::now(),
    )
}

fn env_body(v: &NewEnvVar) -> EnvBody<'_> {
    EnvBody {
        key: &v.key,
        value: v.value.expose_secret(),
        kind: v.kind.as_str(),
        target: v.targets.iter().map(|t| t.as_str()).collect(),
        git_branch: v.git_branch.as_deref(),
        comment: v.comment.as_deref(),
    }
}

/// The client is the provider part of the [`VercelAdapter`](crate::VercelAdapter):
/// identity, endpoint and credential check from the kit's REST client, the
/// arguments Vercel honours, and env vars as the core extension.
#[async_trait]
impl KitProvider for VercelClient {
    fn info(&self) -> ProviderInfo {
        self.inner.rest.info()
    }

    fn dock_id(&self) -> &str {
        self.inner.rest.dock_id()
    }

    fn endpoint(&self) -> Option<String> {
        Some(self.base_url().to_owned())
    }

    /// Parent filters (project for deployments and domains, zone for
    /// records), pages of at most 100, provider-assigned ids, builds that
    /// finish after the create returns.
    fn arguments(&self) -> Arguments {
        let args = self.inner.rest.arguments().with_parent_filter();
        args.with_async_builds()
    }

    async fn check_credentials(&self) -> Result<()> {
        VercelClient::check_credentials(self).await
    }

    /// What Vercel's last `X-RateLimit-*` headers said.
    fn rate_limit(&self) -> Option<stackdock_core::RateLimit> {
        self.inner.rest.rate_limit()
    }

    /// Project environment variables (see [`crate::env`]).
    fn env_vars(&self) -> Option<&dyn EnvVars> {
        Some(self)
    }
}
