//! [`GridPaneAdapter`]: GridPane servers, sites and domains behind [`DockAdapter`](stackdock_core::DockAdapter).
//!
//! | kind | GridPane | id |
//! |---|---|---|
//! | [`Server`] | server | server id |
//! | [`WebService`] | site | site id |
//! | [`Domain`] | domain on a site | domain id |
//!
//! System users and backups have no universal kind: use the typed methods of
//! [`GridPaneClient`] ([`GridPaneAdapter::client`]).
//!
//! Provider options (`spec.common.options`) read by this adapter:
//!
//! * servers: `provider` (`custom` — the default when `ipv4` is set — or
//!   `digitalocean`, `vultr`, `linode`, `aws-lightsail`, `upcloud`),
//!   `integration_id` (provider builds), `webserver` (`nginx` | `openlitespeed`),
//!   `database` (`percona` | `mariadb`), `enable_auto_backups`, `blueprint_id`;
//!   on update only: `server_timezone`, `update_backups_system`,
//!   `enable_site_local_backups`.
//! * sites: `pm` (`dynamic` default | `static` | `ondemand`), `nginx_caching`
//!   (`none` default | `redis` | `fastcgi`), `system_user_id` or `username`
//!   (one is required), `waf` (`6G` | `7G` | `modsec`), `smtp` (integration
//!   id), `dns_management` + `dns_integration_id`, `bundle_id`. The PHP version
//!   is `spec.runtime` (`"8.3"`, default [`DEFAULT_PHP_VERSION`]).
//! * domains: `dns_management` + `dns_integration_id`, `routing` (`none` |
//!   `www` | `root`), `wildcard` (bool), `primary` (bool: make it the site's
//!   primary domain). `spec.ssl` turns SSL on or off; `spec.redirect` makes a
//!   redirect domain (it must name the site's primary domain, where GridPane
//!   redirects to).
//!
//! Unknown option keys are rejected, never ignored. GridPane keeps no labels
//! and no tenancy, so the capabilities declare neither: behind the
//! [`CheckedLayer`](stackdock_core::layer::CheckedLayer) (which every
//! registry dock and the conformance harness use) a spec or a listing that
//! sets them is `Unsupported` before any call. The layer also gates kinds and
//! validates specs; this adapter checks only GridPane's own rules.
//!
//! # Outcomes, races and cancellation
//!
//! A create looks for the resource by its natural key (server label, site
//! URL, domain name) before it sends the `POST`, all under a per-key lock of
//! this process, so concurrent creates of one spec send one `POST`: that call
//! reports [`Created`], the others adopt ([`CreateOutcome::Adopted`]). A
//! `POST` that GridPane refuses (422: the label, URL or domain is taken by a
//! concurrent caller elsewhere) is followed by another look, and the winner's
//! resource is adopted. A create dropped at any point leaves at most the
//! resource its `POST` made, which the repeated create finds and adopts; a
//! domain's settings (SSL, routing, ...) are then finished by the repeat.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fmt;
use std::future::{ready, Future};
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use async_trait::async_trait;
use futures::TryStreamExt;
use serde_json::Value;
use stackdock_core::kit::{find_or_create, FoundOrMade, KindHandler, KitAdapter, KitProvider};
use stackdock_core::resource::{Domain, Server, WebService};
use stackdock_core::secret::SecretString;
use stackdock_core::spec::{DomainSpec, ProviderOptions, ServerSpec, WebServiceSpec};
use stackdock_core::{
    Arguments, CreateOutcome, Created, Error, ErrorKind, ListOptions, Page, ProviderInfo, Resource,
    ResourceId, ResourceKind, ResourceMeta, ResourceSpec, ResourceStatus, Result,
};
use stackdock_http::{found, PageNumber};

use crate::client::GridPaneClient;
use crate::config::GridPaneConfig;
use crate::input::*;
use crate::model::{DomainRecord, ServerRecord, SiteRecord};

/// Provider id of this adapter.
pub const PROVIDER_ID: &str = "gridpane";

/// PHP version of new sites whose spec sets no `runtime`.
pub const DEFAULT_PHP_VERSION: &str = "8.3";

const SERVER_OPTIONS: &[&str] = &[
    "provider",
    "integration_id",
    "webserver",
    "database",
    "enable_auto_backups",
    "blueprint_id",
    "server_timezone",
    "update_backups_system",
    "enable_site_local_backups",
];
const SERVER_UPDATE_ONLY: &[&str] = &[
    "server_timezone",
    "update_backups_system",
    "enable_site_local_backups",
];
const SITE_OPTIONS: &[&str] = &[
    "pm",
    "nginx_caching",
    "system_user_id",
    "username",
    "waf",
    "smtp",
    "dns_management",
    "dns_integration_id",
    "bundle_id",
];
const DOMAIN_OPTIONS: &[&str] = &[
    "dns_management",
    "dns_integration_id",
    "routing",
    "wildcard",
    "primary",
];

/// How many locks [`CreateLocks`] stripes natural keys over.
const CREATE_STRIPES: usize = 32;

/// Serialises "look, then create" per natural key (kind and name) within
/// this process, so concurrent creates of one spec make one `POST` and the
/// others adopt its result. Striped: bounded memory, and two keys that share
/// a stripe only wait for each other. Across processes the re-read after a
/// refused `POST` keeps creates single (see [`may_have_lost_a_race`]).
#[derive(Clone)]
struct CreateLocks(Arc<[tokio::sync::Mutex<()>; CREATE_STRIPES]>);

impl Default for CreateLocks {
    fn default() -> Self {
        CreateLocks(Arc::new(std::array::from_fn(|_| {
            tokio::sync::Mutex::new(())
        })))
    }
}

impl CreateLocks {
    /// Held until the guard drops, also when the create's future is dropped.
    async fn lock(&self, kind: ResourceKind, name: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let mut hasher = DefaultHasher::new();
        (kind.to_string(), name.to_ascii_lowercase()).hash(&mut hasher);
        let stripe = (hasher.finish() % CREATE_STRIPES as u64) as usize;
        self.0[stripe].lock().await
    }
}

/// GridPane as a [`DockAdapter`](stackdock_core::DockAdapter): the kit's adapter over [`Servers`],
/// [`Sites`] and [`Domains`]. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct GridPaneAdapter(Arc<KitAdapter<GridPane>>);

stackdock_core::delegate_dock_adapter!(GridPaneAdapter, |this| &*this.0);

impl GridPaneAdapter {
    /// An adapter for the account in `config`.
    pub fn new(config: GridPaneConfig) -> Result<Self> {
        let dock_id = config.dock_id().to_owned();
        Ok(GridPaneAdapter::from_client(
            GridPaneClient::new(config)?,
            dock_id,
        ))
    }

    /// An adapter around an existing client.
    pub fn from_client(client: GridPaneClient, dock_id: impl Into<String>) -> Self {
        let (dock_id, creates) = (dock_id.into(), CreateLocks::default());
        let gp = GridPane {
            client,
            dock_id,
            creates,
        };
        let kit = KitAdapter::new(gp.clone()).with(Servers(gp.clone()));
        GridPaneAdapter(Arc::new(kit.with(Sites(gp.clone())).with(Domains(gp))))
    }

    /// The typed client, for system users, backups and build progress.
    pub fn client(&self) -> &GridPaneClient {
        self.0.provider().client()
    }
}

/// The provider part of the adapter (client, dock id, create locks), shared
/// by the kind handlers; the backups and system users extensions.
#[derive(Clone)]
pub struct GridPane {
    client: GridPaneClient,
    dock_id: String,
    creates: CreateLocks,
}

impl fmt::Debug for GridPane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GridPane")
            .field("dock_id", &self.dock_id)
            .field("client", &self.client)
            .finish()
    }
}

/// Servers, sites and domains; listings of sites filter by server and of
/// domains by site (`parent`); GridPane assigns the ids and builds servers
/// and sites after the create returns. No tenancy and no labels: GridPane
/// keeps neither, so the layer refuses them.
#[async_trait]
impl KitProvider for GridPane {
    fn info(&self) -> ProviderInfo {
        ProviderInfo::new(PROVIDER_ID, "GridPane")
    }

    fn dock_id(&self) -> &str {
        &self.dock_id
    }

    /// The API base URL (the token travels in a header, never in the URL).
    fn endpoint(&self) -> Option<String> {
        Some(self.client().base_url().to_owned())
    }

    fn arguments(&self) -> Arguments {
        let args = self.client().rest().arguments().with_parent_filter();
        args.with_async_builds()
    }

    async fn check_credentials(&self) -> Result<()> {
        let user = self.client().current_user().await;
        user.map(drop)
            .map_err(|e| e.with_operation("check credentials"))
    }

    /// What GridPane's last `X-RateLimit-*` headers said (Laravel's throttle).
    fn rate_limit(&self) -> Option<stackdock_core::RateLimit> {
        self.client().rest().rate_limit()
    }

    /// Site backups: list, take, restore, purge and schedules (see
    /// [`crate::backups`]).
    fn backups(&self) -> Option<&dyn stackdock_core::extension::Backups> {
        Some(self)
    }

    /// System users of servers: list, create, set password, delete (see
    /// [`crate::system_users`]).
    fn system_users(&self) -> Option<&dyn stackdock_core::extension::SystemUsers> {
        Some(self)
    }
}

impl GridPane {
    /// The typed client.
    pub fn client(&self) -> &GridPaneClient {
        &self.client
    }

    fn meta(&self, kind: ResourceKind, id: u64, name: &str) -> ResourceMeta {
        ResourceMeta::new(PROVIDER_ID, &self.dock_id, kind, id.to_string(), name)
    }

    /// A server resource; with `progress`, servers that are not active get
    /// their build progress (one more request) mapped onto status and percent.
    async fn server_resource(&self, record: ServerRecord, progress: bool) -> Result<Server> {
        let mut status = record.resource_status();
        let mut percent = (status == ResourceStatus::Active).then_some(100);
        let building = matches!(
            status,
            ResourceStatus::Pending | ResourceStatus::Provisioning | ResourceStatus::Unknown
        );
        if progress && building {
            match self.client().build_progress(record.id).await {
                Ok(p) => {
                    percent = Some(p.percent());
                    status = match p.provisioning_state() {
                        stackdock_core::ProvisioningState::Provisioned => ResourceStatus::Active,
                        _ => ResourceStatus::Provisioning,
                    };
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.server_from(record, status, percent))
    }

    fn server_from(&self, r: ServerRecord, status: ResourceStatus, percent: Option<u8>) -> Server {
        let mut meta = self
            .meta(ResourceKind::Server, r.id, &r.label)
            .with_status(status);
        meta.created_at = r.created_at;
        meta.updated_at = r.updated_at;
        let ip = r.ip.as_deref().unwrap_or_default();
        Server {
            region: r.region.clone(),
            plan: r.plan.clone(),
            ipv4: ip.parse::<Ipv4Addr>().ok().map(|_| ip.to_owned()),
            ipv6: ip.parse::<Ipv6Addr>().ok().map(|_| ip.to_owned()),
            os: r.os.clone(),
            progress_percent: percent,
            install_command: None,
            // Already stripped of core and GridPane secret fields by the record.
            meta: ResourceMeta {
                provider_data: r.provider_data,
                ..meta
            },
        }
    }

    fn site_from(&self, r: SiteRecord) -> WebService {
        let mut meta = self
            .meta(ResourceKind::WebService, r.id, &r.url)
            .with_status(r.resource_status());
        meta.created_at = r.created_at;
        meta.updated_at = r.updated_at;
        let scheme = if r.is_ssl == Some(true) {
            "https"
        } else {
            "http"
        };
        let url = format!("{scheme}://{}", r.url);
        let environment = match r.site_type.as_deref() {
            None | Some("primary") => "production".to_owned(),
            Some(other) => other.to_owned(),
        };
        WebService {
            url: Some(url.clone()),
            urls: vec![url],
            server_id: r.server_id.map(|s| s.to_string()),
            framework: Some("wordpress".into()),
            runtime: r.php_version.clone(),
            repository: None,
            region: None,
            environment: Some(environment),
            // Already stripped of core and GridPane secret fields by the record.
            meta: ResourceMeta {
                provider_data: r.provider_data,
                ..meta
            },
        }
    }

    fn domain_from(&self, r: DomainRecord, redirect_target: Option<String>) -> Domain {
        let mut meta = self
            .meta(ResourceKind::Domain, r.id, &r.url)
            .with_status(r.resource_status());
        meta.created_at = r.created_at;
        meta.updated_at = r.updated_at;
        Domain {
            service_id: r.site_id.map(|s| s.to_string()),
            verified: Some(r.resolved_at.is_some()),
            verification: Vec::new(),
            ssl: Some(r.is_ssl),
            redirect: if r.is_redirect() {
                redirect_target
            } else {
                None
            },
            nameservers: Vec::new(),
            expires_at: None,
            // Already stripped of core and GridPane secret fields by the record.
            meta: ResourceMeta {
                provider_data: r.provider_data,
                ..meta
            },
        }
    }

    /// The URL a redirect domain points at: its site's primary domain.
    async fn redirect_target(&self, record: &DomainRecord) -> Result<Option<String>> {
        match (record.is_redirect(), record.site_id) {
            (true, Some(site)) => match self.client().get_site(site).await {
                Ok(site) => Ok(Some(site.url)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            },
            _ => Ok(None),
        }
    }

    async fn domain_resource(&self, record: DomainRecord) -> Result<Domain> {
        let target = self.redirect_target(&record).await?;
        Ok(self.domain_from(record, target))
    }

    async fn find_server(&self, label: &str) -> Result<Option<ServerRecord>> {
        let mut stream = self.client().servers();
        while let Some(server) = stream.try_next().await? {
            if server.label == label {
                return Ok(Some(server));
            }
        }
        Ok(None)
    }

    async fn find_site(&self, url: &str) -> Result<Option<SiteRecord>> {
        let mut stream = self.client().sites();
        while let Some(site) = stream.try_next().await? {
            if site.url.eq_ignore_ascii_case(url) {
                return Ok(Some(site));
            }
        }
        Ok(None)
    }

    async fn find_domain(&self, url: &str) -> Result<Option<DomainRecord>> {
        let mut stream = self.client().domains();
        while let Some(domain) = stream.try_next().await? {
            if domain.url.eq_ignore_ascii_case(url) && domain.deleted_at.is_none() {
                return Ok(Some(domain));
            }
        }
        Ok(None)
    }

    // ---- servers -------------------------------------------------------

    /// Create a server, or adopt the one with this label.
    async fn create_server(&self, spec: &ServerSpec) -> Result<Created> {
        let plan = server_plan(spec)?;
        let _serialised = self.creates.lock(ResourceKind::Server, &spec.name).await;
        let find = || self.find_server(&spec.name);
        let adopt = |existing| self.adopt_server(spec, &plan, existing);
        let post = self.post_server(&plan);
        let (server_id, install_command) =
            match find_or_create(find, adopt, post, may_have_lost_a_race).await? {
                FoundOrMade::Adopted(adopted) => return Ok(adopted),
                FoundOrMade::Created(made) => made,
            };
        let mut server = match self.client().get_server(server_id).await {
            Ok(record) => self.server_resource(record, true).await?,
            // Just created: GridPane may not list it yet. Report what we asked for.
            Err(e) if e.is_not_found() => Server {
                meta: self
                    .meta(ResourceKind::Server, server_id, &spec.name)
                    .with_status(ResourceStatus::Provisioning),
                region: spec.region.clone(),
                plan: spec.plan.clone(),
                ipv4: spec.ipv4.clone(),
                ipv6: None,
                os: None,
                progress_percent: Some(0),
                install_command: None,
            },
            Err(e) => return Err(e),
        };
        server.install_command = install_command;
        Ok(Created::new(Resource::Server(server)))
    }

    /// The one `POST` of a server create: its id and, for a bring-your-own
    /// server, the install command.
    async fn post_server(&self, plan: &ServerPlan) -> Result<(u64, Option<SecretString>)> {
        Ok(match plan {
            ServerPlan::Custom(c) => {
                let created = self.client().create_custom_server(c).await?;
                (created.server_id, created.install_command)
            }
            ServerPlan::Provider(p) => (
                self.client().create_provider_server(p).await?.server_id,
                None,
            ),
        })
    }

    /// An existing server with the spec's label: adopted when it matches
    /// what the spec asks for, `Conflict` otherwise.
    async fn adopt_server(
        &self,
        spec: &ServerSpec,
        plan: &ServerPlan,
        existing: ServerRecord,
    ) -> Result<Created> {
        let found = self.server_resource(existing.clone(), true).await?;
        let resource = Resource::Server(found);
        let mut differs = known_drift(&ResourceSpec::Server(spec.clone()), &resource);
        let (webserver, database) = match plan {
            ServerPlan::Custom(c) => (c.webserver.as_str(), c.database.as_str()),
            ServerPlan::Provider(p) => (p.webserver.as_str(), p.database.as_str()),
        };
        // Defaults are not a wish: only compare what the spec asks for.
        let asked = |key: &str| spec.common.options.contains_key(key);
        if asked("webserver")
            && existing
                .webserver
                .as_deref()
                .is_some_and(|w| w != webserver)
        {
            differs.push("options.webserver".into());
        }
        if asked("database") && existing.database.as_deref().is_some_and(|d| d != database) {
            differs.push("options.database".into());
        }
        if !differs.is_empty() {
            return Err(Error::conflict(format!(
                "server {} exists with different {}",
                spec.name,
                differs.join(", ")
            )));
        }
        Ok(Created::adopted(resource))
    }

    async fn update_server(&self, id: u64, spec: &ServerSpec) -> Result<Resource> {
        check_server_label(&spec.name)?;
        let opts = Opts::new(&spec.common.options, SERVER_OPTIONS)?;
        let timezone = opts.string("server_timezone")?;
        let upgrade = opts.bool("update_backups_system")?;
        let local_backups = opts.bool("enable_site_local_backups")?;
        let webserver = opts.parse::<Webserver>("webserver")?;
        let database = opts.parse::<DatabaseEngine>("database")?;
        if local_backups.is_some() && upgrade != Some(true) {
            return Err(Error::invalid_input(
                "options.enable_site_local_backups",
                "only used with update_backups_system: true",
            ));
        }
        let mut settings = Vec::new();
        if let Some(tz) = &timezone {
            let setting = ServerSetting::Timezone(tz.clone());
            setting.validate()?;
            settings.push(setting);
        }
        let record = self.client().get_server(id).await?;
        if record.label != spec.name {
            return Err(Error::invalid_input(
                "name",
                "GridPane cannot rename a server",
            ));
        }
        let fixed = [
            ("region", spec.region.as_ref(), record.region.as_ref()),
            ("plan", spec.plan.as_ref(), record.plan.as_ref()),
            ("ipv4", spec.ipv4.as_ref(), record.ip.as_ref()),
        ];
        for (field, want, have) in fixed {
            if let (Some(want), Some(have)) = (want, have) {
                if want != have {
                    return Err(Error::invalid_input(
                        field,
                        "cannot be changed on an existing server",
                    ));
                }
            }
        }
        if let (Some(w), Some(have)) = (webserver, record.webserver.as_deref()) {
            if w.as_str() != have {
                return Err(Error::invalid_input(
                    "options.webserver",
                    "cannot be changed on an existing server",
                ));
            }
        }
        if let (Some(d), Some(have)) = (database, record.database.as_deref()) {
            if d.as_str() != have {
                return Err(Error::invalid_input(
                    "options.database",
                    "cannot be changed on an existing server",
                ));
            }
        }
        settings.retain(|s| !matches!(s, ServerSetting::Timezone(tz) if record.timezone.as_deref() == Some(tz.as_str())));
        let upgraded = record
            .provider_data
            .get("update_backups")
            .and_then(Value::as_bool)
            == Some(true);
        if upgrade == Some(true) && !upgraded {
            settings.push(ServerSetting::UpgradeBackups {
                enable_site_local_backups: local_backups.unwrap_or(false),
            });
        }
        let client = self.client();
        apply_in_order(settings, server_setting_key, |s| async move {
            client.update_server(id, &s).await
        })
        .await?;
        let record = self.client().get_server(id).await?;
        Ok(Resource::Server(self.server_resource(record, true).await?))
    }

    // ---- sites ---------------------------------------------------------

    /// Create a site, or adopt the one with this primary domain.
    async fn create_site(&self, spec: &WebServiceSpec) -> Result<Created> {
        let site = new_site(spec)?;
        let _serialised = self.creates.lock(ResourceKind::WebService, &site.url).await;
        let find = || self.find_site(&site.url);
        let adopt = |existing| ready(self.adopt_site(spec, &site, existing));
        let post = self.client().create_site(&site);
        let id = match find_or_create(find, adopt, post, may_have_lost_a_race).await? {
            FoundOrMade::Adopted(adopted) => return Ok(adopted),
            FoundOrMade::Created(Some(id)) => id,
            // GridPane's answer may not name the new site: it is the one with
            // this URL (URLs are unique, and ours was accepted).
            FoundOrMade::Created(None) => self
                .find_site(&site.url)
                .await?
                .map(|s| s.id)
                .ok_or_else(|| Error::invalid_response("the new site is not listed"))?,
        };
        let resource = match self.client().get_site(id).await {
            Ok(record) => self.site_from(record),
            Err(e) if e.is_not_found() => {
                let mut ws = self.site_from(SiteRecord::from_json(serde_json::json!({
                    "id": id, "url": site.url, "server_id": site.server_id,
                    "php_version": site.php_version, "pm": site.pm.as_str(),
                    "nginx_caching": site.nginx_caching.as_str(),
                }))?);
                ws.meta.status = ResourceStatus::Provisioning;
                ws
            }
            Err(e) => return Err(e),
        };
        Ok(Created::new(Resource::WebService(resource)))
    }

    /// An existing site with the spec's URL: adopted when it matches what
    /// the spec asks for, `Conflict` otherwise.
    fn adopt_site(
        &self,
        spec: &WebServiceSpec,
        site: &NewSite,
        existing: SiteRecord,
    ) -> Result<Created> {
        let mut differs = known_drift(
            &ResourceSpec::WebService(spec.clone()),
            &Resource::WebService(self.site_from(existing.clone())),
        );
        // Defaults are not a wish: only compare what the spec asks for.
        let asked = |key: &str| spec.common.options.contains_key(key);
        if asked("pm")
            && existing
                .pm
                .as_deref()
                .is_some_and(|pm| pm != site.pm.as_str())
        {
            differs.push("options.pm".into());
        }
        if asked("nginx_caching") && existing.caching() != site.nginx_caching.as_str() {
            differs.push("options.nginx_caching".into());
        }
        if let (Some(want), Some(have)) = (site.waf, existing.waf.as_deref()) {
            if !want.as_str().eq_ignore_ascii_case(have) {
                differs.push("options.waf".into());
            }
        }
        if let (Some(want), Some(have)) = (opts_system_user(site), existing.system_user_id) {
            if want != have {
                differs.push("options.system_user_id".into());
            }
        }
        if !differs.is_empty() {
            return Err(Error::conflict(format!(
                "site {} exists with different {}",
                site.url,
                differs.join(", ")
            )));
        }
        Ok(Created::adopted(Resource::WebService(
            self.site_from(existing),
        )))
    }

    async fn update_site(&self, id: u64, spec: &WebServiceSpec) -> Result<Resource> {
        let opts = site_options(spec)?;
        let url = stackdock_core::validate::domain("name", &spec.name)?;
        let record = self.client().get_site(id).await?;
        if !record.url.eq_ignore_ascii_case(&url) {
            return Err(Error::invalid_input(
                "name",
                "a site's primary domain cannot be changed by an update",
            ));
        }
        if let Some(server) = &spec.server_id {
            if record.server_id.map(|s| s.to_string()).as_deref() != Some(server.as_str()) {
                return Err(Error::invalid_input(
                    "server_id",
                    "moving a site to another server is a clone, not an update",
                ));
            }
        }
        if let (Some(want), Some(have)) = (opts.waf, record.waf.as_deref()) {
            if !want.as_str().eq_ignore_ascii_case(have) {
                return Err(Error::invalid_input(
                    "options.waf",
                    "can only be chosen when the site is created",
                ));
            }
        }
        let mut settings = Vec::new();
        if let Some(php) = &spec.runtime {
            if record.php_version.as_deref() != Some(php.as_str()) {
                settings.push(SiteSetting::PhpVersion(php.clone()));
            }
        }
        if let Some(pm) = opts.pm {
            if record.pm.as_deref() != Some(pm.as_str()) {
                settings.push(SiteSetting::ProcessManager(pm));
            }
        }
        if let Some(caching) = opts.caching {
            if record.caching() != caching.as_str() {
                settings.push(SiteSetting::Caching(caching));
            }
        }
        if let Some(user) = opts.system_user_id {
            if record.system_user_id != Some(user) {
                settings.push(SiteSetting::SystemUser(user));
            }
        }
        let client = self.client();
        apply_in_order(settings, SiteSetting::key, |s| async move {
            client.update_site(id, &s).await
        })
        .await?;
        Ok(Resource::WebService(
            self.site_from(self.client().get_site(id).await?),
        ))
    }

    async fn delete_site(&self, id: u64) -> Result<()> {
        let site = match self.client().get_site(id).await {
            Ok(site) => site,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        let server = site
            .server_id
            .ok_or_else(|| Error::invalid_response("site without server_id"))?;
        self.client().delete_site(id, server).await
    }

    // ---- domains -------------------------------------------------------

    /// Add a domain to a site, or adopt it when the site already has it,
    /// then bring its settings to the spec's.
    async fn create_domain(&self, spec: &DomainSpec) -> Result<Created> {
        let plan = domain_plan(spec)?;
        let _serialised = self.creates.lock(ResourceKind::Domain, &spec.name).await;
        let site = self.domain_site(spec, &plan).await?;
        let find = || self.find_domain(&spec.name);
        let adopt = |existing| ready(adoptable_domain(spec, &plan, existing));
        let post = self.add_domain(spec, &plan, &site);
        let made = find_or_create(find, adopt, post, may_have_lost_a_race).await?;
        let (record, outcome) = match made {
            FoundOrMade::Adopted(record) => (record, CreateOutcome::Adopted),
            FoundOrMade::Created(id) => (self.new_domain(spec, id).await?, CreateOutcome::Created),
        };
        // Settings after the add: if one fails (or the call is dropped), a
        // repeated create finds the domain and finishes them. That repeat
        // reports adopted: GridPane keeps no mark of who added a domain, so
        // it cannot prove the domain is this create's (the drivers record a
        // resumed create as created from their own record).
        let id = record.id;
        self.converge_domain(&record, &plan, spec.ssl).await?;
        let record = self.client().get_domain(id).await?;
        let target = record.is_redirect().then(|| site.url.clone());
        let resource = Resource::Domain(self.domain_from(record, target));
        Ok(match outcome {
            CreateOutcome::Created => Created::new(resource),
            _ => Created::adopted(resource),
        })
    }

    /// The site a domain spec names; its redirect must point at the site's
    /// primary domain, where GridPane redirects to.
    async fn domain_site(&self, spec: &DomainSpec, plan: &DomainPlan) -> Result<SiteRecord> {
        let site = match self.client().get_site(plan.site_id).await {
            Ok(site) => site,
            Err(e) if e.is_not_found() => {
                return Err(Error::not_found(format!("web service {}", plan.site_id)))
            }
            Err(e) => return Err(e),
        };
        if let Some(target) = &spec.redirect {
            if !target.eq_ignore_ascii_case(&site.url) {
                return Err(Error::invalid_input(
                    "redirect",
                    format!(
                        "GridPane redirect domains point at the site's primary domain {}",
                        site.url
                    ),
                ));
            }
        }
        Ok(site)
    }

    /// The one `POST` of a domain create: the new domain's id, when
    /// GridPane's answer names it.
    async fn add_domain(
        &self,
        spec: &DomainSpec,
        plan: &DomainPlan,
        site: &SiteRecord,
    ) -> Result<Option<u64>> {
        let server_id = site
            .server_id
            .ok_or_else(|| Error::invalid_response("site without server_id"))?;
        let new = NewDomain {
            url: spec.name.clone(),
            site_id: plan.site_id,
            server_id,
            kind: plan.kind,
            dns: plan.dns.unwrap_or(DnsIntegration::NONE),
        };
        self.client().add_domain(&new).await
    }

    /// The domain just added (with id `id` when GridPane said it).
    async fn new_domain(&self, spec: &DomainSpec, id: Option<u64>) -> Result<DomainRecord> {
        let id = match id {
            Some(id) => id,
            None => self
                .find_domain(&spec.name)
                .await?
                .map(|d| d.id)
                .ok_or_else(|| Error::invalid_response("the new domain is not listed"))?,
        };
        self.client().get_domain(id).await
    }

    async fn converge_domain(
        &self,
        record: &DomainRecord,
        plan: &DomainPlan,
        ssl: Option<bool>,
    ) -> Result<()> {
        let mut settings = Vec::new();
        if let Some(dns) = plan.dns {
            let integration_differs =
                dns.integration_id.is_some() && record.dns_integration_id != dns.integration_id;
            if record.dns_management != dns.management.as_str() || integration_differs {
                settings.push(DomainSetting::Dns(dns));
            }
        }
        if let Some(w) = plan.wildcard {
            if w != record.is_wildcard {
                settings.push(DomainSetting::Wildcard(w));
            }
        }
        if let Some(r) = plan.routing {
            if r.as_str() != record.routing() {
                settings.push(DomainSetting::Routing(r));
            }
        }
        if let Some(s) = ssl {
            if s != record.is_ssl {
                settings.push(DomainSetting::Ssl(s));
            }
        }
        match plan.primary {
            Some(true) if !record.is_primary() => settings.push(DomainSetting::MakePrimary),
            Some(false) if record.is_primary() => {
                return Err(Error::invalid_input(
                    "options.primary",
                    "a primary domain stops being primary when another domain is made primary",
                ))
            }
            _ => {}
        }
        let client = self.client();
        let id = record.id;
        apply_in_order(settings, DomainSetting::key, |s| async move {
            client.update_domain(id, &s).await
        })
        .await
    }

    async fn update_domain(&self, id: u64, spec: &DomainSpec) -> Result<Resource> {
        let plan = domain_plan(spec)?;
        let record = self.client().get_domain(id).await?;
        if !record.url.eq_ignore_ascii_case(&spec.name) {
            return Err(Error::invalid_input(
                "name",
                "cannot be changed by an update",
            ));
        }
        if record.site_id != Some(plan.site_id) {
            return Err(Error::invalid_input(
                "service_id",
                "a domain cannot move to another site",
            ));
        }
        if record.is_redirect() != spec.redirect.is_some() {
            return Err(Error::invalid_input(
                "redirect",
                "an alias cannot become a redirect (or back): remove the domain and add it again",
            ));
        }
        self.converge_domain(&record, &plan, spec.ssl).await?;
        let record = self.client().get_domain(id).await?;
        Ok(Resource::Domain(self.domain_resource(record).await?))
    }

    /// Domains of one listing page, without deleted ones and those of
    /// other sites than `parent`; a redirect's target read once per site.
    async fn domains_of(
        &self,
        page: Vec<DomainRecord>,
        parent: Option<&str>,
    ) -> Result<Vec<Resource>> {
        let mut targets: HashMap<u64, Option<String>> = HashMap::new();
        let mut items = Vec::new();
        for d in page {
            let site = d.site_id.map(|i| i.to_string());
            if d.deleted_at.is_some() || parent.is_some_and(|p| site.as_deref() != Some(p)) {
                continue;
            }
            let target = match (d.is_redirect(), d.site_id) {
                (true, Some(site)) => match targets.get(&site) {
                    Some(t) => t.clone(),
                    None => {
                        let t = self.redirect_target(&d).await?;
                        targets.insert(site, t.clone());
                        t
                    }
                },
                _ => None,
            };
            items.push(Resource::Domain(self.domain_from(d, target)));
        }
        Ok(items)
    }
}

/// The page a cursor names and the page size of `o`.
fn page_of(o: &ListOptions) -> Result<(u32, Option<u32>)> {
    Ok((PageNumber::of(o, 0)?.page, o.page_size))
}

/// A listing page with the next page number as the cursor.
fn page(items: Vec<Resource>, next: Option<u32>) -> Page<Resource> {
    let next_cursor = next.map(|n| n.to_string());
    Page { items, next_cursor }
}

/// `None` for a `NotFound`, else the resource `make` builds.
async fn found_or<T, F>(got: Result<T>, make: impl FnOnce(T) -> F) -> Result<Option<Resource>>
where
    F: Future<Output = Result<Option<Resource>>>,
{
    match found(got)? {
        Some(r) => make(r).await,
        None => Ok(None),
    }
}

/// The number of a GridPane id: `InvalidInput` for anything else.
fn number(id: &str) -> Result<u64> {
    parse_id(id).ok_or_else(|| Error::invalid_input("id", "GridPane ids are numbers"))
}

/// Servers (id: the server id).
#[derive(Debug, Clone)]
pub struct Servers(GridPane);

#[async_trait]
impl KindHandler for Servers {
    type Spec = ServerSpec;

    async fn list(&self, o: &ListOptions) -> Result<Page<Resource>> {
        let (number, per_page) = page_of(o)?;
        let p = self.0.client().servers_page(number, per_page).await?;
        let server = |r: ServerRecord| {
            let status = r.resource_status();
            let percent = (status == ResourceStatus::Active).then_some(100);
            Resource::Server(self.0.server_from(r, status, percent))
        };
        Ok(page(p.items.into_iter().map(server).collect(), p.next_page))
    }

    /// GridPane ids are numbers: anything else cannot exist there.
    async fn get(&self, id: &str) -> Result<Option<Resource>> {
        let Some(num) = parse_id(id) else {
            return Ok(None);
        };
        let server = |r| async {
            Ok(Some(Resource::Server(
                self.0.server_resource(r, true).await?,
            )))
        };
        found_or(self.0.client().get_server(num).await, server).await
    }

    async fn create(&self, spec: &ServerSpec) -> Result<Created> {
        self.0.create_server(spec).await
    }

    async fn update(&self, id: &str, spec: &ServerSpec) -> Result<Resource> {
        self.0.update_server(number(id)?, spec).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.0.client().delete_server(number(id)?).await
    }
}

/// Sites (`WebService`, id: the site id), listed by server.
#[derive(Debug, Clone)]
pub struct Sites(GridPane);

#[async_trait]
impl KindHandler for Sites {
    type Spec = WebServiceSpec;

    async fn list(&self, o: &ListOptions) -> Result<Page<Resource>> {
        let (number, per_page) = page_of(o)?;
        let p = self.0.client().sites_page(number, per_page).await?;
        let parent = o.parent.as_deref();
        let on_parent = |s: &SiteRecord| {
            parent.is_none_or(|par| s.server_id.map(|i| i.to_string()).as_deref() == Some(par))
        };
        let site = |s| Resource::WebService(self.0.site_from(s));
        let items = p.items.into_iter().filter(on_parent).map(site).collect();
        Ok(page(items, p.next_page))
    }

    async fn get(&self, id: &str) -> Result<Option<Resource>> {
        let Some(num) = parse_id(id) else {
            return Ok(None);
        };
        let site = |r| async { Ok(Some(Resource::WebService(self.0.site_from(r)))) };
        found_or(self.0.client().get_site(num).await, site).await
    }

    async fn create(&self, spec: &WebServiceSpec) -> Result<Created> {
        self.0.create_site(spec).await
    }

    async fn update(&self, id: &str, spec: &WebServiceSpec) -> Result<Resource> {
        self.0.update_site(number(id)?, spec).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.0.delete_site(number(id)?).await
    }
}

/// Domains of sites (id: the domain id), listed by site.
#[derive(Debug, Clone)]
pub struct Domains(GridPane);

#[async_trait]
impl KindHandler for Domains {
    type Spec = DomainSpec;

    async fn list(&self, o: &ListOptions) -> Result<Page<Resource>> {
        let (number, per_page) = page_of(o)?;
        let p = self.0.client().domains_page(number, per_page).await?;
        let items = self.0.domains_of(p.items, o.parent.as_deref()).await?;
        Ok(page(items, p.next_page))
    }

    /// A deleted domain is absent.
    async fn get(&self, id: &str) -> Result<Option<Resource>> {
        let Some(num) = parse_id(id) else {
            return Ok(None);
        };
        let domain = |r: DomainRecord| async {
            if r.deleted_at.is_some() {
                return Ok(None);
            }
            Ok(Some(Resource::Domain(self.0.domain_resource(r).await?)))
        };
        found_or(self.0.client().get_domain(num).await, domain).await
    }

    async fn create(&self, spec: &DomainSpec) -> Result<Created> {
        self.0.create_domain(spec).await
    }

    async fn update(&self, id: &str, spec: &DomainSpec) -> Result<Resource> {
        self.0.update_domain(number(id)?, spec).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.0.client().delete_domain(number(id)?).await
    }
}

// ---- spec → GridPane inputs (all checks happen here, before any request) --

fn parse_id(id: &str) -> Option<u64> {
    (!id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()))
        .then(|| id.parse().ok())
        .flatten()
}

pub(crate) fn require_id(id: &ResourceId) -> Result<u64> {
    number(&id.id)
}

fn numeric_field(field: &str, value: Option<&String>) -> Result<Option<u64>> {
    value
        .map(|v| {
            parse_id(v)
                .ok_or_else(|| Error::invalid_input(field, "expected a GridPane id (a number)"))
        })
        .transpose()
}

/// An existing domain of the spec's name may be adopted only when it is on
/// the spec's site (`AlreadyExists` otherwise: it is another site's) and of
/// the same type (`Conflict` otherwise).
fn adoptable_domain(
    spec: &DomainSpec,
    plan: &DomainPlan,
    existing: DomainRecord,
) -> Result<DomainRecord> {
    if existing.site_id != Some(plan.site_id) {
        return Err(Error::already_exists(format!(
            "domain {} is attached to another site",
            spec.name
        )));
    }
    if existing.is_redirect() != (plan.kind == DomainType::Redirect) {
        return Err(Error::conflict(format!(
            "domain {} exists as a {} domain",
            spec.name,
            existing.domain_type.as_deref().unwrap_or("different")
        )));
    }
    Ok(existing)
}

/// Whether a refused create may have lost a race: GridPane refuses a second
/// server label, site URL or domain with 422 (`InvalidInput`), so after such
/// an answer the adapter looks again and adopts what a concurrent caller made.
fn may_have_lost_a_race(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::InvalidInput { .. } | ErrorKind::Conflict | ErrorKind::AlreadyExists
    )
}

/// Drift that can be judged: fields GridPane reports (provider value not null).
fn known_drift(spec: &ResourceSpec, actual: &Resource) -> Vec<String> {
    spec.diff(actual)
        .0
        .into_iter()
        .filter(|d| !d.actual.is_null())
        .map(|d| d.field)
        .collect()
}

/// Apply settings one PUT at a time, in the given (documented) order. If one
/// fails, the error says which were applied, which failed and which were not tried.
async fn apply_in_order<S, F, Fut>(
    settings: Vec<S>,
    key: fn(&S) -> &'static str,
    mut put: F,
) -> Result<()>
where
    F: FnMut(S) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let keys: Vec<&'static str> = settings.iter().map(key).collect();
    let list = |k: &[&str]| {
        if k.is_empty() {
            "none".to_owned()
        } else {
            k.join(",")
        }
    };
    for (i, setting) in settings.into_iter().enumerate() {
        if let Err(e) = put(setting).await {
            return Err(e
                .with_context("applied", list(&keys[..i]))
                .with_context("failed", keys[i])
                .with_context("not_attempted", list(&keys[i + 1..])));
        }
    }
    Ok(())
}

fn server_setting_key(s: &ServerSetting) -> &'static str {
    match s {
        ServerSetting::Timezone(_) => "server_timezone",
        ServerSetting::UpgradeBackups { .. } => "update_backups_system",
    }
}

/// Typed access to `spec.common.options`, rejecting unknown keys.
struct Opts<'a>(&'a ProviderOptions);

impl<'a> Opts<'a> {
    fn new(options: &'a ProviderOptions, allowed: &[&str]) -> Result<Self> {
        if let Some(bad) = options.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(Error::invalid_input(
                format!("options.{bad}"),
                format!("unknown option; GridPane reads {}", allowed.join(", ")),
            ));
        }
        Ok(Opts(options))
    }

    fn has(&self, key: &str) -> bool {
        self.0.get(key).is_some_and(|v| !v.is_null())
    }

    fn string(&self, key: &str) -> Result<Option<String>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Error::invalid_input(
                format!("options.{key}"),
                "expected a string",
            )),
        }
    }

    fn parse<T: std::str::FromStr<Err = Error>>(&self, key: &str) -> Result<Option<T>> {
        self.string(key)?.map(|s| s.parse()).transpose()
    }

    fn id(&self, key: &str) -> Result<Option<u64>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => crate::model::id_of(v)
                .filter(|id| *id > 0)
                .map(Some)
                .ok_or_else(|| {
                    Error::invalid_input(
                        format!("options.{key}"),
                        "expected a GridPane id (a positive number)",
                    )
                }),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Error::invalid_input(
                format!("options.{key}"),
                "expected true or false",
            )),
        }
    }

    fn dns(&self) -> Result<Option<DnsIntegration>> {
        let management = self.parse::<DnsManagement>("dns_management")?;
        let integration_id = self.id("dns_integration_id")?;
        match (management, integration_id) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(Error::invalid_input(
                "options.dns_management",
                "required with dns_integration_id",
            )),
            (Some(management), integration_id) => {
                let dns = DnsIntegration {
                    management,
                    integration_id,
                };
                dns.validate()?;
                Ok(Some(dns))
            }
        }
    }
}

#[derive(Debug)]
enum ServerPlan {
    Custom(NewCustomServer),
    Provider(NewProviderServer),
}

fn server_plan(s: &ServerSpec) -> Result<ServerPlan> {
    check_server_label(&s.name)?;
    let opts = Opts::new(&s.common.options, SERVER_OPTIONS)?;
    if let Some(key) = SERVER_UPDATE_ONLY.iter().find(|k| opts.has(k)) {
        return Err(Error::invalid_input(
            format!("options.{key}"),
            "applies to built servers: set it with an update",
        ));
    }
    let webserver = opts
        .parse::<Webserver>("webserver")?
        .unwrap_or(Webserver::Nginx);
    let database = opts
        .parse::<DatabaseEngine>("database")?
        .unwrap_or(DatabaseEngine::default_for(webserver));
    let region = s.region.clone().ok_or_else(|| {
        Error::invalid_input(
            "region",
            "required: the data centre (custom) or region id (provider builds)",
        )
    })?;
    let provider = opts.string("provider")?;
    match provider.as_deref() {
        None | Some("custom") => {
            for key in ["integration_id", "enable_auto_backups", "blueprint_id"] {
                if opts.has(key) {
                    return Err(Error::invalid_input(
                        format!("options.{key}"),
                        "only for provider-built servers",
                    ));
                }
            }
            if s.plan.is_some() {
                return Err(Error::invalid_input(
                    "plan",
                    "a bring-your-own server has no plan",
                ));
            }
            let ip = s
                .ipv4
                .as_deref()
                .ok_or_else(|| {
                    Error::invalid_input(
                        "ipv4",
                        "required for a bring-your-own server (or set options.provider)",
                    )
                })?
                .parse::<Ipv4Addr>()
                .map_err(|_| Error::invalid_input("ipv4", "not an IPv4 address"))?;
            check_server_ipv4("ipv4", ip)?;
            let server = NewCustomServer {
                name: s.name.clone(),
                ip,
                datacenter: region,
                webserver,
                database,
            };
            server.validate()?;
            Ok(ServerPlan::Custom(server))
        }
        Some(p) => {
            let provider: CloudProvider = p.parse()?;
            if s.ipv4.is_some() {
                return Err(Error::invalid_input(
                    "ipv4",
                    "the provider assigns the address of a built server",
                ));
            }
            let integration_id = opts.id("integration_id")?.ok_or_else(|| {
                Error::invalid_input(
                    "options.integration_id",
                    "required for provider-built servers",
                )
            })?;
            let plan_id = s.plan.clone().ok_or_else(|| {
                Error::invalid_input("plan", "required for provider-built servers")
            })?;
            let blueprint_id = opts.id("blueprint_id")?;
            let server = NewProviderServer {
                provider,
                integration_id,
                name: s.name.clone(),
                region_id: region,
                plan_id,
                webserver,
                database,
                enable_auto_backups: opts.bool("enable_auto_backups")?,
                blueprint_id,
            };
            server.validate()?;
            Ok(ServerPlan::Provider(server))
        }
    }
}

struct SiteOptions {
    pm: Option<ProcessManager>,
    caching: Option<Caching>,
    system_user_id: Option<u64>,
    username: Option<String>,
    waf: Option<Waf>,
    smtp: Option<u64>,
    dns: Option<DnsIntegration>,
    bundle_id: Option<u64>,
}

fn site_options(s: &WebServiceSpec) -> Result<SiteOptions> {
    for (field, set) in [
        ("repository", s.repository.is_some()),
        ("build_command", s.build_command.is_some()),
        ("output_directory", s.output_directory.is_some()),
        ("region", s.region.is_some()),
    ] {
        if set {
            return Err(Error::invalid_input(
                field,
                "GridPane sites have no such setting",
            ));
        }
    }
    if let Some(f) = &s.framework {
        if !f.eq_ignore_ascii_case("wordpress") {
            return Err(Error::invalid_input(
                "framework",
                "GridPane sites are WordPress",
            ));
        }
    }
    if let Some(php) = &s.runtime {
        check_php_version("runtime", php)?;
    }
    numeric_field("server_id", s.server_id.as_ref())?;
    let opts = Opts::new(&s.common.options, SITE_OPTIONS)?;
    let username = opts.string("username")?;
    if let Some(u) = &username {
        check_username("options.username", u)?;
    }
    let out = SiteOptions {
        pm: opts.parse("pm")?,
        caching: opts.parse("nginx_caching")?,
        system_user_id: opts.id("system_user_id")?,
        username,
        waf: opts.parse("waf")?,
        smtp: opts.id("smtp")?,
        dns: opts.dns()?,
        bundle_id: opts.id("bundle_id")?,
    };
    if out.system_user_id.is_some() && out.username.is_some() {
        return Err(Error::invalid_input(
            "options.username",
            "give system_user_id or username, not both",
        ));
    }
    Ok(out)
}

fn new_site(s: &WebServiceSpec) -> Result<NewSite> {
    let opts = site_options(s)?;
    let server_id = numeric_field("server_id", s.server_id.as_ref())?.ok_or_else(|| {
        Error::invalid_input("server_id", "required: the server to build the site on")
    })?;
    let owner = match (opts.system_user_id, opts.username) {
        (Some(id), _) => SiteOwner::SystemUserId(id),
        (None, Some(u)) => SiteOwner::Username(u),
        (None, None) => return Err(Error::invalid_input(
            "options.system_user_id",
            "set options.system_user_id (existing user) or options.username (new or existing user)",
        )),
    };
    let site = NewSite {
        url: stackdock_core::validate::domain("name", &s.name)?,
        server_id,
        php_version: s
            .runtime
            .clone()
            .unwrap_or_else(|| DEFAULT_PHP_VERSION.to_owned()),
        pm: opts.pm.unwrap_or(ProcessManager::Dynamic),
        nginx_caching: opts.caching.unwrap_or(Caching::None),
        owner,
        waf: opts.waf,
        smtp: opts.smtp,
        dns: opts.dns.unwrap_or(DnsIntegration::NONE),
        bundle_id: opts.bundle_id,
    };
    site.validate()?;
    Ok(site)
}

fn opts_system_user(site: &NewSite) -> Option<u64> {
    match site.owner {
        SiteOwner::SystemUserId(id) => Some(id),
        SiteOwner::Username(_) => None,
    }
}

struct DomainPlan {
    site_id: u64,
    kind: DomainType,
    dns: Option<DnsIntegration>,
    routing: Option<Routing>,
    wildcard: Option<bool>,
    primary: Option<bool>,
}

fn domain_plan(s: &DomainSpec) -> Result<DomainPlan> {
    let site_id = numeric_field("service_id", s.service_id.as_ref())?.ok_or_else(|| {
        Error::invalid_input("service_id", "required: GridPane domains belong to a site")
    })?;
    let opts = Opts::new(&s.common.options, DOMAIN_OPTIONS)?;
    let kind = if s.redirect.is_some() {
        DomainType::Redirect
    } else {
        DomainType::Alias
    };
    if s.redirect.as_deref() == Some(s.name.as_str()) {
        return Err(Error::invalid_input(
            "redirect",
            "a domain cannot redirect to itself",
        ));
    }
    let primary = opts.bool("primary")?;
    if primary == Some(true) && kind == DomainType::Redirect {
        return Err(Error::invalid_input(
            "options.primary",
            "a redirect domain cannot be primary",
        ));
    }
    Ok(DomainPlan {
        site_id,
        kind,
        dns: opts.dns()?,
        routing: opts.parse("routing")?,
        wildcard: opts.bool("wildcard")?,
        primary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use stackdock_core::spec::Common;

    fn opts(v: Value) -> ProviderOptions {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn server_plans() {
        let byo = ServerSpec {
            name: "web-1".into(),
            region: Some("Ashburn - VA".into()),
            ipv4: Some("203.0.113.10".into()),
            ..Default::default()
        };
        assert!(matches!(server_plan(&byo).unwrap(), ServerPlan::Custom(_)));
        let mut no_ip = byo.clone();
        no_ip.ipv4 = None;
        assert!(server_plan(&no_ip).is_err());
        let mut cloud = byo.clone();
        cloud.ipv4 = None;
        cloud.region = Some("nyc1".into());
        cloud.plan = Some("s-1vcpu-1gb".into());
        cloud.common.options = opts(json!({"provider": "digitalocean", "integration_id": 12}));
        assert!(matches!(
            server_plan(&cloud).unwrap(),
            ServerPlan::Provider(_)
        ));
        cloud.common.options = opts(json!({"provider": "digitalocean"}));
        assert!(server_plan(&cloud).is_err());
        cloud.common.options = opts(json!({"provider": "hetzner", "integration_id": 12}));
        assert!(server_plan(&cloud).is_err());
        let mut unknown = byo.clone();
        unknown.common.options = opts(json!({"colour": "blue"}));
        let err = server_plan(&unknown).unwrap_err();
        assert!(err.to_string().contains("options.colour"));
    }

    #[test]
    fn site_inputs() {
        let spec = WebServiceSpec {
            name: "blog.example.com".into(),
            server_id: Some("29330".into()),
            runtime: Some("8.2".into()),
            common: Common {
                options: opts(json!({"username": "blog", "pm": "ondemand", "waf": "7G",
                    "dns_management": "cloudflare_full", "dns_integration_id": 2524})),
                ..Default::default()
            },
            ..Default::default()
        };
        let site = new_site(&spec).unwrap();
        assert_eq!(site.pm, ProcessManager::OnDemand);
        assert_eq!(site.body()["dns_integration_id"], json!(2524));
        let mut both = spec.clone();
        both.common
            .options
            .insert("system_user_id".into(), json!(5));
        assert!(new_site(&both).is_err());
        let mut owner_missing = spec.clone();
        owner_missing.common.options.remove("username");
        assert!(new_site(&owner_missing).is_err());
        let mut repo = spec.clone();
        repo.repository = Some("a/b".into());
        assert!(new_site(&repo).is_err());
        let mut bad_php = spec;
        bad_php.runtime = Some("php 8.2".into());
        assert!(new_site(&bad_php).is_err());
    }

    #[test]
    fn domain_inputs() {
        let spec = DomainSpec {
            name: "shop.example.com".into(),
            service_id: Some("474559".into()),
            ssl: Some(true),
            common: Common {
                options: opts(json!({"routing": "www", "wildcard": false})),
                ..Default::default()
            },
            ..Default::default()
        };
        let plan = domain_plan(&spec).unwrap();
        assert_eq!(plan.kind, DomainType::Alias);
        assert_eq!(plan.routing, Some(Routing::Www));
        let mut no_site = spec.clone();
        no_site.service_id = None;
        assert!(domain_plan(&no_site).is_err());
        let mut half_dns = spec;
        half_dns.common.options = opts(json!({"dns_management": "cloudflare_full"}));
        assert!(domain_plan(&half_dns).is_err());
    }

    #[test]
    fn ids() {
        assert_eq!(parse_id("42"), Some(42));
        assert_eq!(parse_id("stackdock-conformance-missing"), None);
        assert_eq!(parse_id(""), None);
        assert_eq!(parse_id("99999999999999999999999"), None);
    }
}
