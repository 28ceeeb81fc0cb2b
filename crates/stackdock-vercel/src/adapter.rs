//! [`VercelAdapter`]: the [`DockAdapter`](stackdock_core::DockAdapter) for Vercel.
//!
//! | kind | Vercel object | id |
//! |---|---|---|
//! | `WebService` | project | project id (`prj_…`) |
//! | `Deployment` | deployment | deployment id (`dpl_…`) |
//! | `Domain` | project domain (`service_id` set) or account domain | `<project id>/<domain>` or `<domain>` |
//! | `DnsRecord` | Vercel DNS record | `<zone>/<record id>` |
//!
//! Provider options read from `WebServiceSpec::common.options`:
//! `install_command`, `dev_command`, `root_directory` (strings) and
//! `git_provider` (`github`, `gitlab`, `bitbucket`).
//!
//! Vercel has no labels or tenants on these objects, so the capabilities
//! declare neither: behind the [`CheckedLayer`](stackdock_core::layer::CheckedLayer)
//! (which every registry dock and the conformance harness use) a spec or a
//! listing that sets them is `Unsupported` before any call. Use one dock per
//! team instead.

use std::sync::Arc;

use serde_json::Value;
use stackdock_core::kit::{require, KindHandler, KitAdapter};
use stackdock_core::spec::{
    Common as CommonSpec, DeploymentSpec, DnsRecordSpec, DomainSpec, WebServiceSpec,
};
use stackdock_core::{async_trait, CreateOutcome, Created, Error, ListOptions, Operations, Page};
use stackdock_core::{Resource, Result};
use stackdock_http::{encode_path_segment as seg, Request};

use crate::client::{VercelClient, PROJECTS};
use crate::config::{until, VercelConfig};
use crate::types::{
    DeploymentQuery, DeploymentSource, DeploymentTarget, GitProvider, NewDeployment, NewProject,
    NewProjectDomain,
};
use crate::{input, mapping};

/// The Vercel adapter (provider id `vercel`): the kit's adapter over
/// [`Projects`], [`Deployments`], [`Domains`] and [`Records`]. Typed calls
/// beyond the universal resources (env vars, account domains, cancel, wait)
/// are on [`VercelAdapter::client`].
#[derive(Debug, Clone)]
pub struct VercelAdapter(Arc<KitAdapter<VercelClient>>);

stackdock_core::delegate_dock_adapter!(VercelAdapter, |this| &*this.0);

impl VercelAdapter {
    /// An adapter for `config`.
    pub fn new(config: VercelConfig) -> Result<Self> {
        Ok(Self::from_client(VercelClient::new(config)?))
    }

    /// An adapter over an existing client.
    pub fn from_client(client: VercelClient) -> Self {
        let kit = KitAdapter::new(client.clone()).with(Projects(client.clone()));
        let kit = kit.with(Deployments(client.clone()));
        let kit = kit.with(Domains(client.clone())).with(Records(client));
        VercelAdapter(Arc::new(kit))
    }

    /// The typed client, for env vars, account domains, cancel and wait.
    pub fn client(&self) -> &VercelClient {
        self.0.provider()
    }
}

/// The `<a>/<b>` halves of a compound id.
fn split_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('/')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
}

/// Vercel's own rule on top of what the layer checks: only projects take
/// provider options.
fn no_options(common: &CommonSpec) -> Result<()> {
    let none = common.options.is_empty();
    require(none, "options", "no provider options for this kind")
}

fn option_str<'a>(spec: &'a WebServiceSpec, key: &str) -> Result<Option<&'a str>> {
    match spec.common.options.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::invalid_input(
            format!("options.{key}"),
            "must be a string",
        )),
    }
}

const WEB_OPTIONS: &[&str] = &[
    "install_command",
    "dev_command",
    "root_directory",
    "git_provider",
];

/// A typed create result as the contract's [`Created`].
fn made<T: Into<Resource>>((resource, outcome): (T, CreateOutcome)) -> Created {
    match outcome {
        CreateOutcome::Created => Created::new(resource.into()),
        CreateOutcome::Adopted => Created::adopted(resource.into()),
    }
}

impl VercelClient {
    /// One page of a listing at `o`'s cursor and page size, each item mapped.
    async fn page_of<T: Into<Resource>>(
        &self,
        req: Request,
        o: &ListOptions,
        (paging, op): (stackdock_http::Paging, &'static str),
        map: impl Fn(Value) -> Result<Option<T>>,
    ) -> Result<Page<Resource>> {
        let page = self.rest().page_as(req.operation(op), o, paging).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for raw in page.items {
            items.extend(map(raw)?.map(Into::into));
        }
        let next_cursor = page.next_cursor;
        Ok(Page { items, next_cursor })
    }
}

/// Projects (`WebService`, id `prj_…`). Provider options read from
/// `WebServiceSpec::common.options`: `install_command`, `dev_command`,
/// `root_directory` (strings) and `git_provider` (`github`, `gitlab`,
/// `bitbucket`).
#[derive(Debug, Clone)]
pub struct Projects(pub VercelClient);

fn new_project(s: &WebServiceSpec) -> Result<NewProject> {
    let on_server = s.server_id.is_some();
    require(!on_server, "server_id", "Vercel projects run on no server")?;
    let unknown = s
        .common
        .options
        .keys()
        .find(|k| !WEB_OPTIONS.contains(&k.as_str()));
    if let Some(bad) = unknown {
        return Err(Error::invalid_input(
            format!("options.{bad}"),
            format!("unknown option; known: {}", WEB_OPTIONS.join(", ")),
        ));
    }
    let git_provider = match option_str(s, "git_provider")? {
        None => GitProvider::GitHub,
        Some(p) => GitProvider::parse(p).ok_or_else(|| {
            Error::invalid_input("options.git_provider", "github, gitlab or bitbucket")
        })?,
    };
    let option = |key| Ok::<_, Error>(option_str(s, key)?.map(str::to_owned));
    Ok(NewProject {
        name: s.name.clone(),
        framework: s.framework.clone(),
        repository: s.repository.clone(),
        git_provider,
        build_command: s.build_command.clone(),
        dev_command: option("dev_command")?,
        install_command: option("install_command")?,
        output_directory: s.output_directory.clone(),
        root_directory: option("root_directory")?,
        node_version: s.runtime.clone(),
        region: s.region.clone(),
        environment_variables: Vec::new(),
    })
}

#[async_trait]
impl KindHandler for Projects {
    type Spec = WebServiceSpec;

    fn check(&self, s: &WebServiceSpec) -> Result<()> {
        new_project(s).map(drop)
    }

    async fn list(&self, o: &ListOptions) -> Result<Page<Resource>> {
        require(
            o.parent.is_none(),
            "parent",
            "Vercel projects have no parent",
        )?;
        let dock = self.0.dock_id();
        let map = |raw| mapping::project(dock, raw).map(Some);
        let req = Request::get("/v10/projects");
        self.0
            .page_of(req, o, (PROJECTS, "list web services"), map)
            .await
    }

    /// `None` also for an id that cannot be Vercel's.
    async fn get(&self, id: &str) -> Result<Option<Resource>> {
        if input::project_ref("id", id).is_err() {
            return Ok(None);
        }
        Ok(self.0.get_project(id).await?.map(Resource::from))
    }

    async fn create(&self, s: &WebServiceSpec) -> Result<Created> {
        Ok(made(self.0.create_project_outcome(&new_project(s)?).await?))
    }

    async fn update(&self, id: &str, s: &WebServiceSpec) -> Result<Resource> {
        let missing = || Error::not_found(format!("web service {id}"));
        let current = self.0.get_project(id).await?.ok_or_else(missing)?;
        let update = crate::plan::project_update(new_project(s)?, &current)?;
        Ok(self.0.update_project(id, &update).await?.into())
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.0.delete_project(id).await
    }
}

/// Deployments (id `dpl_…`): no update — a deployment is replaced by a new
/// one, and every create starts one (Vercel has no idempotency key).
#[derive(Debug, Clone)]
pub struct Deployments(pub VercelClient);

fn new_deployment(s: &DeploymentSpec) -> Result<NewDeployment> {
    let target = match s.environment.as_deref() {
        None | Some("preview") => DeploymentTarget::Preview,
        Some("production") => DeploymentTarget::Production,
        Some(_) => return Err(Error::invalid_input("environment", "production or preview")),
    };
    let source = match &s.redeploy_of {
        Some(id) => {
            let plain = s.git_ref.is_none() && s.commit_sha.is_none();
            require(
                plain,
                "redeploy_of",
                "a redeploy takes no git_ref or commit_sha",
            )?;
            let deployment_id = id.clone();
            DeploymentSource::Redeploy { deployment_id }
        }
        None => DeploymentSource::Git {
            git_ref: s.git_ref.clone(),
            sha: s.commit_sha.clone(),
        },
    };
    let project = s.service.clone();
    Ok(NewDeployment {
        project,
        target,
        source,
    })
}

#[async_trait]
impl KindHandler for Deployments {
    type Spec = DeploymentSpec;

    fn operations(&self) -> Operations {
        Operations::NO_UPDATE
    }

    fn check(&self, s: &DeploymentSpec) -> Result<()> {
        no_options(&s.common)?;
        new_deployment(s).map(drop)
    }

    async fn list(&self, o: &ListOptions) -> Result<Page<Resource>> {
        let project = o.parent.as_deref();
        let project_id = project.map(str::to_owned);
        let req = VercelClient::deployments_request(&DeploymentQuery {
            project_id,
            ..Default::default()
        })?;
        let dock = self.0.dock_id();
        let map = |raw| mapping::deployment(dock, raw, project).map(Some);
        let paging = (until("/deployments"), "list deployments");
        self.0.page_of(req, o, paging, map).await
    }

    async fn get(&self, id: &str) -> Result<Option<Resource>> {
        if input::deployment_ref("id", id).is_err() {
            return Ok(None);
        }
        Ok(self.0.get_deployment(id).await?.map(Resource::from))
    }

    async fn create(&self, s: &DeploymentSpec) -> Result<Created> {
        let deployment = self.0.create_deployment(&new_deployment(s)?).await?;
        Ok(Created::new(deployment.into()))
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.0.delete_deployment(id).await
    }
}

/// Domains: attached to a project (`service_id` set, id
/// `<project id>/<domain>`) or the account's (id `<domain>`).
#[derive(Debug, Clone)]
pub struct Domains(pub VercelClient);

impl Domains {
    /// Account domains have nothing a spec can change: the spec must agree.
    async fn update_account_domain(&self, id: &str, s: &DomainSpec) -> Result<Resource> {
        let missing = || Error::not_found(format!("domain {id}"));
        let current = self.0.get_domain(id).await?.ok_or_else(missing)?;
        let same = s.name == current.meta.name && s.service_id.is_none();
        let why = "attach a domain to a project by creating it with service_id";
        require(same, "service_id", why)?;
        Ok(Resource::from(current))
    }

    async fn update_project_domain(
        &self,
        id: &str,
        (project, domain): (&str, &str),
        s: &DomainSpec,
    ) -> Result<Resource> {
        require(s.name == domain, "name", "cannot be changed by an update")?;
        let moved = s.service_id.as_deref().is_some_and(|p| p != project);
        let why = "moving a domain to another project: delete it and create it there";
        require(!moved, "service_id", why)?;
        // The spec has no git branch: keep the one the domain has.
        let missing = || Error::not_found(format!("domain {id}"));
        let current = self.0.get_project_domain(project, domain).await?;
        let current = current.ok_or_else(missing)?;
        let git_branch = current.meta.provider_data["gitBranch"].as_str();
        let d = NewProjectDomain {
            name: s.name.clone(),
            redirect: s.redirect.clone(),
            git_branch: git_branch.map(str::to_owned),
            ..Default::default()
        };
        Ok(self.0.update_project_domain(project, &d).await?.into())
    }
}

#[async_trait]
impl KindHandler for Domains {
    type Spec = DomainSpec;

    fn check(&self, s: &DomainSpec) -> Result<()> {
        no_options(&s.common)?;
        let tls = s.ssl != Some(false);
        require(tls, "ssl", "Vercel always serves domains over TLS")?;
        let redirects = s.service_id.is_some() || s.redirect.is_none();
        let why = "only domains attached to a project can redirect";
        require(redirects, "redirect", why)?;
        if let Some(p) = &s.service_id {
            input::project_ref("service_id", p)?;
        }
        Ok(())
    }

    /// Only account domains have an id known before the create (the domain
    /// name). A project domain's id starts with the project *id*, which the
    /// spec may give as a name.
    fn planned_id(&self, s: &DomainSpec) -> Option<String> {
        s.service_id.is_none().then(|| s.name.clone())
    }

    async fn list(&self, o: &ListOptions) -> Result<Page<Resource>> {
        let dock = self.0.dock_id();
        let paging = (until("/domains"), "list domains");
        let Some(project) = o.parent.as_deref() else {
            let map = |raw| mapping::account_domain(dock, raw).map(Some);
            return self
                .0
                .page_of(Request::get("/v5/domains"), o, paging, map)
                .await;
        };
        input::project_ref("parent", project)?;
        let req = Request::get(format!("/v9/projects/{}/domains", seg(project)));
        let map = |raw| mapping::project_domain(dock, raw, project).map(Some);
        self.0.page_of(req, o, paging, map).await
    }

    /// `None` also for an id that cannot be Vercel's.
    async fn get(&self, id: &str) -> Result<Option<Resource>> {
        let valid = |d| stackdock_core::validate::domain("id", d).is_ok();
        let found = match split_id(id) {
            Some((project, domain)) => {
                if input::project_ref("id", project).is_err() || !valid(domain) {
                    return Ok(None);
                }
                self.0.get_project_domain(project, domain).await?
            }
            None if valid(id) => self.0.get_domain(id).await?,
            None => None,
        };
        Ok(found.map(Resource::from))
    }

    async fn create(&self, s: &DomainSpec) -> Result<Created> {
        let Some(project) = &s.service_id else {
            return Ok(made(self.0.add_domain_outcome(&s.name).await?));
        };
        let d = NewProjectDomain {
            name: s.name.clone(),
            redirect: s.redirect.clone(),
            ..Default::default()
        };
        Ok(made(self.0.add_project_domain_outcome(project, &d).await?))
    }

    async fn update(&self, id: &str, s: &DomainSpec) -> Result<Resource> {
        match split_id(id) {
            Some(parts) => self.update_project_domain(id, parts, s).await,
            None => self.update_account_domain(id, s).await,
        }
    }

    async fn delete(&self, id: &str) -> Result<()> {
        match split_id(id) {
            Some((project, domain)) => self.0.remove_project_domain(project, domain).await,
            None => self.0.remove_domain(id).await,
        }
    }
}

/// Vercel DNS records (id `<zone>/<record id>`), listed per zone.
#[derive(Debug, Clone)]
pub struct Records(pub VercelClient);

#[async_trait]
impl KindHandler for Records {
    type Spec = DnsRecordSpec;

    fn check(&self, s: &DnsRecordSpec) -> Result<()> {
        no_options(&s.common)
    }

    async fn list(&self, o: &ListOptions) -> Result<Page<Resource>> {
        let zone = o.parent.as_deref().unwrap_or_default();
        let why = "list DNS records of a zone: set parent";
        require(!zone.is_empty(), "parent", why)?;
        let zone = input::domain("parent", zone)?;
        let req = VercelClient::records_request(&zone);
        let dock = self.0.dock_id();
        let map = |raw| mapping::record(dock, &zone, raw);
        let paging = (until("/records"), "list dns records");
        self.0.page_of(req, o, paging, map).await
    }

    async fn get(&self, id: &str) -> Result<Option<Resource>> {
        let Some((zone, record)) = id.rsplit_once('/') else {
            return Ok(None);
        };
        if stackdock_core::validate::domain("id", zone).is_err() {
            return Ok(None);
        }
        Ok(self
            .0
            .get_dns_record(zone, record)
            .await?
            .map(Resource::from))
    }

    async fn create(&self, s: &DnsRecordSpec) -> Result<Created> {
        let (zone, name, data) = (&s.zone, &s.name, &s.data);
        let outcome = self
            .0
            .create_dns_record_outcome(zone, name, s.ttl, data, None);
        Ok(made(outcome.await?))
    }

    async fn update(&self, id: &str, s: &DnsRecordSpec) -> Result<Resource> {
        let Some((zone, record)) = id.rsplit_once('/') else {
            return Err(Error::not_found(format!("dns record {id}")));
        };
        require(
            zone == s.zone,
            "zone",
            "a record cannot move to another zone",
        )?;
        let (name, data) = (&s.name, &s.data);
        let updated = self.0.update_dns_record(zone, record, name, s.ttl, data);
        Ok(updated.await?.into())
    }

    async fn delete(&self, id: &str) -> Result<()> {
        match id.rsplit_once('/') {
            Some((zone, record)) => self.0.delete_dns_record(zone, record).await,
            None => Err(Error::invalid_input("id", "expected <zone>/<record id>")),
        }
    }
}
