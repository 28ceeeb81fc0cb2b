//! [`VercelAdapter`]: the [`DockAdapter`] for Vercel.
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

use std::fmt;

use serde_json::Value;
use stackdock_core::async_trait;
use stackdock_core::spec::{
    DeploymentSpec, DnsRecordSpec, DomainSpec, ResourceSpec, WebServiceSpec,
};
use stackdock_core::{
    Arguments, Capabilities, CreateOutcome, Created, DockAdapter, Error, ListOptions, Observation,
    Operation, Operations, Page, ProviderInfo, Resource, ResourceId, ResourceKind, Result,
};

use crate::client::VercelClient;
use crate::config::{VercelConfig, MAX_PAGE_SIZE};
use crate::mapping;
use crate::types::{
    DeploymentSource, DeploymentTarget, GitProvider, NewDeployment, NewProject, NewProjectDomain,
};

/// The Vercel adapter (provider id `vercel`). Typed calls beyond the
/// universal resources (env vars, account domains, cancel, wait) are on
/// [`VercelAdapter::client`].
#[derive(Clone)]
pub struct VercelAdapter {
    client: VercelClient,
    info: ProviderInfo,
}

impl fmt::Debug for VercelAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VercelAdapter")
            .field("client", &self.client)
            .finish()
    }
}

/// The `<a>/<b>` halves of a compound id.
fn split_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('/')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
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

impl VercelAdapter {
    /// An adapter for `config`.
    pub fn new(config: VercelConfig) -> Result<Self> {
        Ok(Self::from_client(VercelClient::new(config)?))
    }

    /// An adapter over an existing client.
    pub fn from_client(client: VercelClient) -> Self {
        VercelAdapter {
            client,
            info: ProviderInfo::new(mapping::PROVIDER_ID, "Vercel"),
        }
    }

    /// The typed client, for env vars, account domains, cancel and wait.
    pub fn client(&self) -> &VercelClient {
        &self.client
    }

    /// Vercel's own rule on top of what the layer checks: only projects take
    /// provider options.
    fn check_options(spec: &ResourceSpec) -> Result<()> {
        if !matches!(spec, ResourceSpec::WebService(_)) && !spec.common().options.is_empty() {
            return Err(Error::invalid_input(
                "options",
                "no provider options for this kind",
            ));
        }
        Ok(())
    }

    fn new_project(s: &WebServiceSpec) -> Result<NewProject> {
        if s.server_id.is_some() {
            return Err(Error::invalid_input(
                "server_id",
                "Vercel projects run on no server",
            ));
        }
        if let Some(bad) = s
            .common
            .options
            .keys()
            .find(|k| !WEB_OPTIONS.contains(&k.as_str()))
        {
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
        Ok(NewProject {
            name: s.name.clone(),
            framework: s.framework.clone(),
            repository: s.repository.clone(),
            git_provider,
            build_command: s.build_command.clone(),
            dev_command: option_str(s, "dev_command")?.map(str::to_owned),
            install_command: option_str(s, "install_command")?.map(str::to_owned),
            output_directory: s.output_directory.clone(),
            root_directory: option_str(s, "root_directory")?.map(str::to_owned),
            node_version: s.runtime.clone(),
            region: s.region.clone(),
            environment_variables: Vec::new(),
        })
    }

    fn new_deployment(s: &DeploymentSpec) -> Result<NewDeployment> {
        let target = match s.environment.as_deref() {
            None | Some("preview") => DeploymentTarget::Preview,
            Some("production") => DeploymentTarget::Production,
            Some(_) => return Err(Error::invalid_input("environment", "production or preview")),
        };
        let source = match &s.redeploy_of {
            Some(id) => {
                if s.git_ref.is_some() || s.commit_sha.is_some() {
                    return Err(Error::invalid_input(
                        "redeploy_of",
                        "a redeploy takes no git_ref or commit_sha",
                    ));
                }
                DeploymentSource::Redeploy {
                    deployment_id: id.clone(),
                }
            }
            None => DeploymentSource::Git {
                git_ref: s.git_ref.clone(),
                sha: s.commit_sha.clone(),
            },
        };
        Ok(NewDeployment {
            project: s.service.clone(),
            target,
            source,
        })
    }

    fn check_domain_spec(s: &DomainSpec) -> Result<()> {
        if s.ssl == Some(false) {
            return Err(Error::invalid_input(
                "ssl",
                "Vercel always serves domains over TLS",
            ));
        }
        if s.service_id.is_none() && s.redirect.is_some() {
            return Err(Error::invalid_input(
                "redirect",
                "only domains attached to a project can redirect",
            ));
        }
        if let Some(p) = &s.service_id {
            crate::input::project_ref("service_id", p)?;
        }
        Ok(())
    }

    /// Vercel's listing rules beyond the layer's gate: projects have no
    /// parent, and records are listed per zone.
    fn check_list(kind: ResourceKind, o: &ListOptions) -> Result<()> {
        if kind == ResourceKind::WebService && o.parent.is_some() {
            return Err(Error::invalid_input(
                "parent",
                "Vercel projects have no parent",
            ));
        }
        if kind == ResourceKind::DnsRecord && o.parent.is_none() {
            return Err(Error::invalid_input(
                "parent",
                "list DNS records of a zone: set parent",
            ));
        }
        Ok(())
    }

    async fn list_page(&self, kind: ResourceKind, o: &ListOptions) -> Result<Page<Resource>> {
        Self::check_list(kind, o)?;
        let limit = o
            .page_size
            .unwrap_or(self.client.page_size())
            .clamp(1, MAX_PAGE_SIZE);
        let cursor = o.cursor.as_deref();
        let parent = o.parent.as_deref();
        let c = &self.client;
        let (items, next_cursor) = match (kind, parent) {
            (ResourceKind::WebService, _) => resources(c.projects_page(cursor, limit).await?),
            (ResourceKind::Deployment, _) => {
                resources(c.deployments_page(parent, cursor, limit).await?)
            }
            (ResourceKind::Domain, Some(project)) => {
                resources(c.project_domains_page(project, cursor, limit).await?)
            }
            (ResourceKind::Domain, None) => resources(c.domains_page(cursor, limit).await?),
            (ResourceKind::DnsRecord, zone) => resources(
                c.dns_records_page(zone.unwrap_or(""), cursor, limit)
                    .await?,
            ),
            (other, _) => return Err(self.unsupported(Operation::List, other)),
        };
        Ok(Page { items, next_cursor })
    }

    /// The resource `id` names; `None` when it does not exist (an id that
    /// cannot be Vercel's names nothing).
    async fn lookup(&self, id: &ResourceId) -> Result<Option<Resource>> {
        Ok(match id.kind {
            ResourceKind::WebService => {
                if crate::input::project_ref("id", &id.id).is_err() {
                    return Ok(None);
                }
                self.client.get_project(&id.id).await?.map(Resource::from)
            }
            ResourceKind::Deployment => {
                if crate::input::deployment_ref("id", &id.id).is_err() {
                    return Ok(None);
                }
                self.client
                    .get_deployment(&id.id)
                    .await?
                    .map(Resource::from)
            }
            ResourceKind::Domain => match split_id(&id.id) {
                Some((project, domain)) => {
                    if crate::input::project_ref("id", project).is_err()
                        || stackdock_core::validate::domain("id", domain).is_err()
                    {
                        return Ok(None);
                    }
                    self.client
                        .get_project_domain(project, domain)
                        .await?
                        .map(Resource::from)
                }
                None => {
                    if stackdock_core::validate::domain("id", &id.id).is_err() {
                        return Ok(None);
                    }
                    self.client.get_domain(&id.id).await?.map(Resource::from)
                }
            },
            ResourceKind::DnsRecord => match id.id.rsplit_once('/') {
                Some((zone, record)) if stackdock_core::validate::domain("id", zone).is_ok() => {
                    self.client
                        .get_dns_record(zone, record)
                        .await?
                        .map(Resource::from)
                }
                _ => None,
            },
            other => return Err(self.unsupported(Operation::Observe, other)),
        })
    }

    // ---- create / update per kind

    async fn create_spec(&self, spec: &ResourceSpec) -> Result<Created> {
        Self::check_options(spec)?;
        match spec {
            ResourceSpec::WebService(s) => {
                let p = Self::new_project(s)?;
                Ok(made(self.client.create_project_outcome(&p).await?))
            }
            ResourceSpec::Deployment(s) => {
                // Every deployment create starts a new deployment: always created.
                let d = Self::new_deployment(s)?;
                let deployment = self.client.create_deployment(&d).await?;
                Ok(Created::new(deployment.into()))
            }
            ResourceSpec::Domain(s) => self.create_domain(s).await,
            ResourceSpec::DnsRecord(DnsRecordSpec {
                zone,
                name,
                ttl,
                data,
                ..
            }) => Ok(made(
                self.client
                    .create_dns_record_outcome(zone, name, *ttl, data, None)
                    .await?,
            )),
            other => Err(self.unsupported(Operation::Create, other.kind())),
        }
    }

    async fn create_domain(&self, s: &DomainSpec) -> Result<Created> {
        Self::check_domain_spec(s)?;
        match &s.service_id {
            Some(project) => {
                let d = NewProjectDomain {
                    name: s.name.clone(),
                    redirect: s.redirect.clone(),
                    ..Default::default()
                };
                Ok(made(
                    self.client.add_project_domain_outcome(project, &d).await?,
                ))
            }
            None => Ok(made(self.client.add_domain_outcome(&s.name).await?)),
        }
    }

    async fn update_spec(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        Self::check_options(spec)?;
        match spec {
            ResourceSpec::WebService(s) => {
                let wanted = Self::new_project(s)?;
                let current = self
                    .client
                    .get_project(&id.id)
                    .await?
                    .ok_or_else(|| Error::not_found(id.to_string()))?;
                let update = crate::plan::project_update(wanted, &current)?;
                let updated = self.client.update_project(&id.id, &update).await?;
                Ok(updated.into())
            }
            ResourceSpec::Domain(s) => {
                Self::check_domain_spec(s)?;
                match split_id(&id.id) {
                    Some((project, domain)) => {
                        self.update_project_domain(id, project, domain, s).await
                    }
                    None => self.update_account_domain(id, s).await,
                }
            }
            ResourceSpec::DnsRecord(s) => self.update_record(id, s).await,
            other => Err(self.unsupported(Operation::Update, other.kind())),
        }
    }

    /// Account domains have nothing a spec can change: the spec must agree.
    async fn update_account_domain(&self, id: &ResourceId, s: &DomainSpec) -> Result<Resource> {
        let current = self
            .client
            .get_domain(&id.id)
            .await?
            .ok_or_else(|| Error::not_found(id.to_string()))?;
        if s.name != current.meta.name || s.service_id.is_some() {
            return Err(Error::invalid_input(
                "service_id",
                "attach a domain to a project by creating it with service_id",
            ));
        }
        Ok(Resource::from(current))
    }

    async fn update_project_domain(
        &self,
        id: &ResourceId,
        project: &str,
        domain: &str,
        s: &DomainSpec,
    ) -> Result<Resource> {
        if s.name != domain {
            return Err(Error::invalid_input(
                "name",
                "cannot be changed by an update",
            ));
        }
        if s.service_id.as_deref().is_some_and(|p| p != project) {
            return Err(Error::invalid_input(
                "service_id",
                "moving a domain to another project: delete it and create it there",
            ));
        }
        // The spec has no git branch: keep the one the domain has.
        let current = self
            .client
            .get_project_domain(project, domain)
            .await?
            .ok_or_else(|| Error::not_found(id.to_string()))?;
        let git_branch = current.meta.provider_data["gitBranch"]
            .as_str()
            .map(str::to_owned);
        let d = NewProjectDomain {
            name: s.name.clone(),
            redirect: s.redirect.clone(),
            git_branch,
            ..Default::default()
        };
        let updated = self.client.update_project_domain(project, &d).await?;
        Ok(updated.into())
    }

    async fn update_record(&self, id: &ResourceId, s: &DnsRecordSpec) -> Result<Resource> {
        let Some((zone, record)) = id.id.rsplit_once('/') else {
            return Err(Error::not_found(id.to_string()));
        };
        if zone != s.zone {
            return Err(Error::invalid_input(
                "zone",
                "a record cannot move to another zone",
            ));
        }
        let updated = self
            .client
            .update_dns_record(zone, record, &s.name, s.ttl, &s.data)
            .await?;
        Ok(updated.into())
    }
}

/// A typed create result as the contract's [`Created`].
fn made<T: Into<Resource>>((resource, outcome): (T, CreateOutcome)) -> Created {
    match outcome {
        CreateOutcome::Created => Created::new(resource.into()),
        CreateOutcome::Adopted => Created::adopted(resource.into()),
    }
}

/// A page of typed items as a page of resources.
fn resources<T: Into<Resource>>(
    (items, next): (Vec<T>, Option<String>),
) -> (Vec<Resource>, Option<String>) {
    (items.into_iter().map(Into::into).collect(), next)
}

#[async_trait]
impl DockAdapter for VercelAdapter {
    fn provider(&self) -> &ProviderInfo {
        &self.info
    }

    fn dock_id(&self) -> &str {
        self.client.dock_id()
    }

    /// Projects, deployments (no update: a deployment is replaced by a new
    /// one), domains and DNS records. Listings filter by parent (project for
    /// deployments and domains, zone for records); Vercel assigns project,
    /// deployment and record ids; deployments build after the create returns.
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_kind(ResourceKind::WebService, Operations::ALL)
            .with_kind(ResourceKind::Deployment, Operations::NO_UPDATE)
            .with_kind(ResourceKind::Domain, Operations::ALL)
            .with_kind(ResourceKind::DnsRecord, Operations::ALL)
            .with_arguments(
                Arguments::new()
                    .with_parent_filter()
                    .with_max_page_size(MAX_PAGE_SIZE)
                    .with_provider_assigned_ids()
                    .with_async_builds(),
            )
    }

    /// The API base URL (never the token, which travels in a header).
    fn endpoint(&self) -> Option<String> {
        Some(self.client.base_url().to_owned())
    }

    /// Project environment variables (see [`crate::env`]).
    fn env_vars(&self) -> Option<&dyn stackdock_core::extension::EnvVars> {
        Some(self)
    }

    /// Only account domains have an id known before the create (the domain
    /// name). A project domain's id starts with the project *id*, which the
    /// spec may give as a name; everything else gets an id from Vercel.
    fn planned_id(&self, spec: &ResourceSpec) -> Option<ResourceId> {
        match spec {
            ResourceSpec::Domain(DomainSpec {
                name,
                service_id: None,
                ..
            }) => Some(ResourceId::new(ResourceKind::Domain, name.clone())),
            _ => None,
        }
    }

    async fn check_credentials(&self) -> Result<()> {
        self.client.check_credentials().await
    }

    async fn list(&self, kind: ResourceKind, options: &ListOptions) -> Result<Page<Resource>> {
        self.list_page(kind, options).await
    }

    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        Ok(match self.lookup(id).await? {
            Some(resource) => Observation::of(resource, desired),
            None => Observation::absent(),
        })
    }

    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        self.create_spec(spec).await
    }

    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        self.update_spec(id, spec).await
    }

    async fn delete(&self, id: &ResourceId) -> Result<()> {
        match id.kind {
            ResourceKind::WebService => self.client.delete_project(&id.id).await,
            ResourceKind::Deployment => self.client.delete_deployment(&id.id).await,
            ResourceKind::Domain => match split_id(&id.id) {
                Some((project, domain)) => self.client.remove_project_domain(project, domain).await,
                None => self.client.remove_domain(&id.id).await,
            },
            ResourceKind::DnsRecord => match id.id.rsplit_once('/') {
                Some((zone, record)) => self.client.delete_dns_record(zone, record).await,
                None => Err(Error::invalid_input("id", "expected <zone>/<record id>")),
            },
            other => Err(self.unsupported(Operation::Delete, other)),
        }
    }
}
