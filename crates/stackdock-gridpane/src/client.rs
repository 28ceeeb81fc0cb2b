//! [`GridPaneClient`]: typed calls to GridPane's REST API over `stackdock-http`.
//!
//! Every request goes through the shared HTTP layer (retries, rate limits,
//! concurrency limit, redacted tracing) with the one error mapping of
//! [`crate::error`]. Inputs are validated before anything is sent.

use std::fmt;

use futures::stream::BoxStream;
use futures::TryStreamExt;
use serde_json::Value;
use stackdock_core::secret::SecretString;
use stackdock_core::{Error, Result};
use stackdock_http::{encode_path_segment, Clock, HttpClient, PageOf, Request, RestClient};

use crate::config::{GridPaneConfig, API};
use crate::error::{map_error, GridPaneErrors};
use crate::input::*;
use crate::model::*;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage<T> {
    /// Items of the page.
    pub items: Vec<T>,
    /// The next page number; `None` on the last page.
    pub next_page: Option<u32>,
}

/// A bring-your-own server just registered with GridPane.
#[derive(Debug, Clone)]
pub struct CustomServerCreated {
    /// The new server's id.
    pub server_id: u64,
    /// The command to run as root on the fresh Ubuntu machine. It carries a
    /// one-time token: treat it as a secret.
    pub install_command: Option<SecretString>,
}

/// A server GridPane started building at a cloud provider.
#[derive(Debug, Clone)]
pub struct ProviderServerCreated {
    /// The new server's id.
    pub server_id: u64,
    /// GridPane's build status text.
    pub build_status: Option<String>,
    /// The temporary root password GridPane reports, if any.
    pub temp_password: Option<SecretString>,
}

/// The GridPane REST client. Cheap to clone.
///
/// ```no_run
/// use stackdock_gridpane::{GridPaneClient, GridPaneConfig};
/// # async fn f() -> stackdock_core::Result<()> {
/// let client = GridPaneClient::new(GridPaneConfig::from_env()?)?;
/// for server in client.list_servers().await? {
///     println!("{} {}", server.id, server.label);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct GridPaneClient {
    rest: RestClient,
}

impl fmt::Debug for GridPaneClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GridPaneClient")
            .field("base_url", &self.base_url())
            .field("per_page", &self.per_page())
            .finish_non_exhaustive()
    }
}

fn seg(id: u64) -> String {
    encode_path_segment(&id.to_string())
}

impl GridPaneClient {
    /// A client for the account in `config`; an invalid config is `ConfigInvalid`.
    pub fn new(config: GridPaneConfig) -> Result<Self> {
        config.validate()?;
        let agent = concat!("stackdock-gridpane/", env!("CARGO_PKG_VERSION"));
        let http = config.rest.http_config(&API)?.with_user_agent(agent);
        let http = HttpClient::new(http, GridPaneErrors::new(config.throttle_wait))?;
        let rest = RestClient::from_http(&config.rest, &API, http);
        Ok(GridPaneClient { rest })
    }

    /// Use another clock for retry waits (tests use `stackdock_http::ManualClock`).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.rest = self.rest.with_clock(clock);
        self
    }

    /// The kit's REST client under this one (dock id, endpoint, paging).
    pub fn rest(&self) -> &RestClient {
        &self.rest
    }

    fn http(&self) -> &HttpClient {
        self.rest.http()
    }

    /// The rate-limit state GridPane reported on its last answer that carried
    /// rate-limit headers (`None` before any did): how many calls are left in
    /// the window and when it resets, for scheduling bulk work per dock.
    pub fn rate_limit(&self) -> Option<stackdock_http::RateLimitInfo> {
        self.http().rate_limit()
    }

    /// The API base URL requests go to (never carries the token).
    pub fn base_url(&self) -> &str {
        self.rest.endpoint()
    }

    /// The page size used by the listing helpers.
    pub fn per_page(&self) -> u32 {
        self.rest.page_size(None)
    }

    async fn get_json(&self, path: String, op: &'static str) -> Result<Value> {
        self.http()
            .send_json(Request::get(path).operation(op))
            .await
    }

    async fn send_body(&self, req: Request) -> Result<Value> {
        let response = self.http().send(req).await?;
        if response.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        let body: Value = response.json()?;
        if reports_failure(&body) {
            // A 2xx that says `"success": false` may echo the request (token,
            // passwords): map the scrubbed body, as the layer does for non-2xx.
            return Err(map_error(422, &response.headers, &response.scrubbed_body()));
        }
        Ok(body)
    }

    /// The account behind the token (`GET /user`): the cheap credential check.
    pub async fn current_user(&self) -> Result<Value> {
        let mut user = self.get_json("/user".into(), "get current user").await?;
        strip_gridpane_secrets(&mut user);
        Ok(user)
    }

    /// The integrations of the account (`GET /user/integrations`): cloud
    /// providers, DNS, SMTP and backup storage. Their ids are what
    /// `integration_id`, `dns_integration_id` and `smtp` options take.
    /// Credentials in the answer are removed.
    pub async fn user_integrations(&self) -> Result<Vec<Integration>> {
        let body = self
            .get_json("/user/integrations".into(), "list integrations")
            .await?;
        let items = body
            .get("integrations")
            .or_else(|| body.get("data"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(items
            .into_iter()
            .filter_map(Integration::from_json)
            .collect())
    }

    /// Plans and their regions at a cloud provider (`GET /server/{provider}/plans`),
    /// as GridPane returns them (credentials removed).
    pub async fn server_plans(&self, provider: CloudProvider) -> Result<Value> {
        let path = format!("/server/{}/plans", encode_path_segment(provider.as_str()));
        let mut body = self.get_json(path, "list server plans").await?;
        strip_gridpane_secrets(&mut body);
        Ok(body)
    }

    /// One page of a Laravel-paginated list.
    async fn page_raw(
        &self,
        path: &'static str,
        nested: &'static str,
        page: u32,
        per_page: u32,
        op: &'static str,
    ) -> Result<ListPage<Value>> {
        let page = page.max(1);
        let req = Request::get(path)
            .query("page", page.to_string())
            .query("per_page", per_page.to_string())
            .operation(op);
        let mut body: Value = self.http().send_json(req).await?;
        let items = list_items(&mut body, nested).map_err(|e| e.with_operation(op))?;
        let next_page = next_page(&body, page, items.len());
        Ok(ListPage { items, next_page })
    }

    async fn page_of<T>(
        &self,
        path: &'static str,
        nested: &'static str,
        page: u32,
        per_page: Option<u32>,
        op: &'static str,
        parse: fn(Value) -> Result<T>,
    ) -> Result<ListPage<T>> {
        let per_page = self.rest.page_size(per_page);
        let raw = self.page_raw(path, nested, page, per_page, op).await?;
        let items = raw
            .items
            .into_iter()
            .map(parse)
            .collect::<Result<Vec<_>>>()
            .map_err(|e| e.with_operation(op))?;
        Ok(ListPage {
            items,
            next_page: raw.next_page,
        })
    }

    fn stream_of<T: Send + 'static>(
        &self,
        path: &'static str,
        nested: &'static str,
        op: &'static str,
        parse: fn(Value) -> Result<T>,
    ) -> BoxStream<'static, Result<T>> {
        let client = self.clone();
        stackdock_http::paginate(move |cursor: Option<u32>| {
            let client = client.clone();
            async move {
                let page = client
                    .page_of(path, nested, cursor.unwrap_or(1), None, op, parse)
                    .await?;
                Ok(PageOf::new(page.items, page.next_page))
            }
        })
    }

    // ---- servers -------------------------------------------------------

    /// One page of servers (`GET /server?page=&per_page=`).
    pub async fn servers_page(
        &self,
        page: u32,
        per_page: Option<u32>,
    ) -> Result<ListPage<ServerRecord>> {
        self.page_of(
            "/server",
            "servers",
            page,
            per_page,
            "list servers",
            ServerRecord::from_json,
        )
        .await
    }

    /// Every server, page by page.
    pub fn servers(&self) -> BoxStream<'static, Result<ServerRecord>> {
        self.stream_of(
            "/server",
            "servers",
            "list servers",
            ServerRecord::from_json,
        )
    }

    /// Every server, all pages collected.
    pub async fn list_servers(&self) -> Result<Vec<ServerRecord>> {
        self.servers().try_collect().await
    }

    /// One server; `NotFound` when it does not exist.
    pub async fn get_server(&self, id: u64) -> Result<ServerRecord> {
        let body = self
            .get_json(format!("/server/{}", seg(id)), "get server")
            .await?;
        ServerRecord::from_json(single_item(&body, "server")?)
            .map_err(|e| e.with_operation("get server"))
    }

    /// Build progress of a server (`GET /server/build-progress/{id}`).
    pub async fn build_progress(&self, id: u64) -> Result<BuildProgress> {
        let body = self
            .get_json(
                format!("/server/build-progress/{}", seg(id)),
                "get server build progress",
            )
            .await?;
        Ok(BuildProgress::from_json(id, &body))
    }

    /// Register a bring-your-own server (`POST /server/custom`). The answer
    /// carries the install command to run on the machine.
    pub async fn create_custom_server(
        &self,
        server: &NewCustomServer,
    ) -> Result<CustomServerCreated> {
        const OP: &str = "create custom server";
        server.validate().map_err(|e| e.with_operation(OP))?;
        let body = self
            .send_body(
                Request::post("/server/custom")
                    .json(&server.body())
                    .operation(OP),
            )
            .await?;
        let server_id = body
            .get("server_id")
            .and_then(id_of)
            .or_else(|| {
                single_item(&body, "server")
                    .ok()
                    .and_then(|s| s.get("id").and_then(id_of))
            })
            .ok_or_else(|| {
                Error::invalid_response("no server_id in the answer").with_operation(OP)
            })?;
        let install_command = body
            .get("command")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(|c| SecretString::from(c.to_owned()));
        Ok(CustomServerCreated {
            server_id,
            install_command,
        })
    }

    /// Ask GridPane to build a server at a cloud provider (`POST /server/{provider}`).
    pub async fn create_provider_server(
        &self,
        server: &NewProviderServer,
    ) -> Result<ProviderServerCreated> {
        const OP: &str = "create provider server";
        server.validate().map_err(|e| e.with_operation(OP))?;
        let path = format!("/server/{}", encode_path_segment(server.provider.as_str()));
        let body = self
            .send_body(Request::post(path).json(&server.body()).operation(OP))
            .await?;
        let server_id = body
            .get("server_id")
            .and_then(id_of)
            .or_else(|| {
                single_item(&body, "server")
                    .ok()
                    .and_then(|s| s.get("id").and_then(id_of))
            })
            .ok_or_else(|| {
                Error::invalid_response("no server_id in the answer").with_operation(OP)
            })?;
        Ok(ProviderServerCreated {
            server_id,
            build_status: str_of(&body, "build_status"),
            temp_password: body
                .get("temp_pass")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .map(|p| SecretString::from(p.to_owned())),
        })
    }

    /// Change one server setting (`PUT /server/{id}`).
    pub async fn update_server(&self, id: u64, setting: &ServerSetting) -> Result<()> {
        const OP: &str = "update server";
        setting.validate().map_err(|e| e.with_operation(OP))?;
        self.send_body(
            Request::put(format!("/server/{}", seg(id)))
                .json(&setting.body())
                .operation(OP),
        )
        .await
        .map(drop)
    }

    /// Delete a server (`DELETE /server/{id}`); `Ok` when it is already gone.
    pub async fn delete_server(&self, id: u64) -> Result<()> {
        ignore_missing(
            self.send_body(
                Request::delete(format!("/server/{}", seg(id))).operation("delete server"),
            )
            .await,
        )
    }

    // ---- sites ---------------------------------------------------------

    /// One page of sites (`GET /site`).
    pub async fn sites_page(
        &self,
        page: u32,
        per_page: Option<u32>,
    ) -> Result<ListPage<SiteRecord>> {
        self.page_of(
            "/site",
            "sites",
            page,
            per_page,
            "list sites",
            SiteRecord::from_json,
        )
        .await
    }

    /// Every site (staging and canary copies included), page by page.
    pub fn sites(&self) -> BoxStream<'static, Result<SiteRecord>> {
        self.stream_of("/site", "sites", "list sites", SiteRecord::from_json)
    }

    /// Every site, all pages collected.
    pub async fn list_sites(&self) -> Result<Vec<SiteRecord>> {
        self.sites().try_collect().await
    }

    /// One site (object or one-item array answers both work); `NotFound` when missing.
    pub async fn get_site(&self, id: u64) -> Result<SiteRecord> {
        let body = self
            .get_json(format!("/site/{}", seg(id)), "get site")
            .await?;
        SiteRecord::from_json(single_item(&body, "site")?).map_err(|e| e.with_operation("get site"))
    }

    /// Create a site (`POST /site`); building continues asynchronously.
    ///
    /// Returns the new site's id when GridPane's answer names it, `None`
    /// otherwise (look it up by URL).
    pub async fn create_site(&self, site: &NewSite) -> Result<Option<u64>> {
        const OP: &str = "create site";
        site.validate().map_err(|e| e.with_operation(OP))?;
        let body = self
            .send_body(Request::post("/site").json(&site.body()).operation(OP))
            .await?;
        Ok(body.get("site_id").and_then(id_of).or_else(|| {
            single_item(&body, "site")
                .ok()
                .and_then(|s| s.get("id").and_then(id_of))
        }))
    }

    /// Change ONE site setting (`PUT /site/{id}`).
    pub async fn update_site(&self, id: u64, setting: &SiteSetting) -> Result<()> {
        const OP: &str = "update site";
        setting.validate().map_err(|e| e.with_operation(OP))?;
        self.send_body(
            Request::put(format!("/site/{}", seg(id)))
                .json(&setting.body())
                .operation(OP),
        )
        .await
        .map(drop)
    }

    /// Delete a site through the safe form `DELETE /site` with both ids in the
    /// body, which GridPane checks against each other; `Ok` when already gone.
    pub async fn delete_site(&self, site_id: u64, server_id: u64) -> Result<()> {
        let body = serde_json::json!({ "site_id": site_id, "server_id": server_id });
        ignore_missing(
            self.send_body(
                Request::delete("/site")
                    .json(&body)
                    .operation("delete site"),
            )
            .await,
        )
    }

    // ---- domains -------------------------------------------------------

    /// One page of domains (`GET /domain`; items under `data.domains`).
    pub async fn domains_page(
        &self,
        page: u32,
        per_page: Option<u32>,
    ) -> Result<ListPage<DomainRecord>> {
        self.page_of(
            "/domain",
            "domains",
            page,
            per_page,
            "list domains",
            DomainRecord::from_json,
        )
        .await
    }

    /// Every domain, page by page.
    pub fn domains(&self) -> BoxStream<'static, Result<DomainRecord>> {
        self.stream_of(
            "/domain",
            "domains",
            "list domains",
            DomainRecord::from_json,
        )
    }

    /// Every domain, all pages collected.
    pub async fn list_domains(&self) -> Result<Vec<DomainRecord>> {
        self.domains().try_collect().await
    }

    /// One domain; `NotFound` when missing.
    pub async fn get_domain(&self, id: u64) -> Result<DomainRecord> {
        let body = self
            .get_json(format!("/domain/{}", seg(id)), "get domain")
            .await?;
        DomainRecord::from_json(single_item(&body, "domain")?)
            .map_err(|e| e.with_operation("get domain"))
    }

    /// Add an alias or redirect domain to a site (`POST /domain`). Returns the
    /// new domain's id when the answer names it.
    pub async fn add_domain(&self, domain: &NewDomain) -> Result<Option<u64>> {
        const OP: &str = "add domain";
        domain.validate().map_err(|e| e.with_operation(OP))?;
        let body = self
            .send_body(Request::post("/domain").json(&domain.body()).operation(OP))
            .await?;
        Ok(body.get("domain_id").and_then(id_of).or_else(|| {
            single_item(&body, "domain")
                .ok()
                .and_then(|d| d.get("id").and_then(id_of))
        }))
    }

    /// Change ONE domain setting (`PUT /domain/{id}`).
    pub async fn update_domain(&self, id: u64, setting: &DomainSetting) -> Result<()> {
        const OP: &str = "update domain";
        if let DomainSetting::Dns(dns) = setting {
            dns.validate().map_err(|e| e.with_operation(OP))?;
        }
        self.send_body(
            Request::put(format!("/domain/{}", seg(id)))
                .json(&setting.body())
                .operation(OP),
        )
        .await
        .map(drop)
    }

    /// Remove a domain (`DELETE /domain/{id}`); `Ok` when already gone.
    pub async fn delete_domain(&self, id: u64) -> Result<()> {
        ignore_missing(
            self.send_body(
                Request::delete(format!("/domain/{}", seg(id))).operation("delete domain"),
            )
            .await,
        )
    }

    // ---- system users --------------------------------------------------

    /// One page of system users (all servers).
    pub async fn system_users_page(
        &self,
        page: u32,
        per_page: Option<u32>,
    ) -> Result<ListPage<SystemUser>> {
        self.page_of(
            "/system-user",
            "system_users",
            page,
            per_page,
            "list system users",
            SystemUser::from_json,
        )
        .await
    }

    /// Every system user, page by page.
    pub fn system_users(&self) -> BoxStream<'static, Result<SystemUser>> {
        self.stream_of(
            "/system-user",
            "system_users",
            "list system users",
            SystemUser::from_json,
        )
    }

    /// Every system user, all pages collected.
    pub async fn list_system_users(&self) -> Result<Vec<SystemUser>> {
        self.system_users().try_collect().await
    }

    /// One system user; `NotFound` when missing.
    pub async fn get_system_user(&self, id: u64) -> Result<SystemUser> {
        let body = self
            .get_json(format!("/system-user/{}", seg(id)), "get system user")
            .await?;
        SystemUser::from_json(single_item(&body, "system_user")?)
            .map_err(|e| e.with_operation("get system user"))
    }

    /// Create a system user (`POST /system-user`).
    ///
    /// Idempotent: when a user with this name already exists on the server it
    /// is returned (GridPane would reject the duplicate), so a create whose
    /// answer was lost can be repeated.
    pub async fn create_system_user(&self, user: &NewSystemUser) -> Result<SystemUser> {
        const OP: &str = "create system user";
        user.validate().map_err(|e| e.with_operation(OP))?;
        if let Some(existing) = self
            .find_system_user(&user.username, user.server_id)
            .await?
        {
            return Ok(existing);
        }
        let body = self
            .send_body(
                Request::post("/system-user")
                    .json(&user.body())
                    .operation(OP),
            )
            .await?;
        match single_item(&body, "system_user") {
            Ok(raw) => SystemUser::from_json(raw).map_err(|e| e.with_operation(OP)),
            Err(_) => self
                .find_system_user(&user.username, user.server_id)
                .await?
                .ok_or_else(|| {
                    Error::invalid_response("the new system user is not listed").with_operation(OP)
                }),
        }
    }

    /// The system user with this name on this server, if any.
    pub async fn find_system_user(
        &self,
        username: &str,
        server_id: u64,
    ) -> Result<Option<SystemUser>> {
        let mut stream = self.system_users();
        while let Some(user) = stream.try_next().await? {
            if user.username == username && user.server_id == Some(server_id) {
                return Ok(Some(user));
            }
        }
        Ok(None)
    }

    /// Set a new password and/or SSH key (`PUT /system-user/{id}`).
    pub async fn update_system_user(&self, id: u64, update: &SystemUserUpdate) -> Result<()> {
        const OP: &str = "update system user";
        update.validate().map_err(|e| e.with_operation(OP))?;
        self.send_body(
            Request::put(format!("/system-user/{}", seg(id)))
                .json(&update.body())
                .operation(OP),
        )
        .await
        .map(drop)
    }

    /// Delete a system user; `Ok` when already gone.
    pub async fn delete_system_user(&self, id: u64) -> Result<()> {
        ignore_missing(
            self.send_body(
                Request::delete(format!("/system-user/{}", seg(id)))
                    .operation("delete system user"),
            )
            .await,
        )
    }

    // ---- backups -------------------------------------------------------

    /// Take a backup of a site now (`POST /backups/{site_id}`). Returns
    /// GridPane's answer (secrets removed).
    ///
    /// Not retried on time-outs: a repeated POST would take a second backup.
    pub async fn create_backup(&self, site_id: u64, backup: &BackupRequest) -> Result<Value> {
        const OP: &str = "create backup";
        backup.validate().map_err(|e| e.with_operation(OP))?;
        let mut body = self
            .send_body(
                Request::post(format!("/backups/{}", seg(site_id)))
                    .json(&backup.body())
                    .operation(OP),
            )
            .await?;
        strip_gridpane_secrets(&mut body);
        Ok(body)
    }

    /// Backups of a site that can be restored (`GET /backups/original/{site_id}`).
    pub async fn available_backups(&self, site_id: u64) -> Result<Vec<AvailableBackup>> {
        let body = self
            .get_json(
                format!("/backups/original/{}", seg(site_id)),
                "list available backups",
            )
            .await?;
        Ok(available_backups(&body))
    }

    /// Start restoring a site from one of its backups
    /// (`POST /backups/restore/{site_id}`). GridPane restores asynchronously.
    ///
    /// Not retried on time-outs: a repeated POST would restore again.
    pub async fn restore_backup(&self, site_id: u64, backup: &BackupSelection) -> Result<()> {
        const OP: &str = "restore backup";
        backup.validate().map_err(|e| e.with_operation(OP))?;
        self.send_body(
            Request::post(format!("/backups/restore/{}", seg(site_id)))
                .json(&backup.restore_body())
                .operation(OP),
        )
        .await
        .map(drop)
    }

    /// Purge (delete) one backup of a site (`PUT /backups/purge/{site_id}`).
    ///
    /// Not retried on time-outs: GridPane may refuse to purge what a first,
    /// unanswered attempt already purged. The adapter's
    /// [`delete_backup`](stackdock_core::extension::Backups::delete_backup)
    /// looks first, so deleting what is gone succeeds.
    pub async fn purge_backup(&self, site_id: u64, backup: &BackupSelection) -> Result<()> {
        const OP: &str = "purge backup";
        backup.validate().map_err(|e| e.with_operation(OP))?;
        self.send_body(
            Request::put(format!("/backups/purge/{}", seg(site_id)))
                .json(&backup.purge_body())
                .idempotent(false)
                .operation(OP),
        )
        .await
        .map(drop)
    }

    /// Change when one of a site's backup schedules runs
    /// (`PUT /backups/schedule/site/{site_id}`). Idempotent.
    pub async fn update_backup_schedule(
        &self,
        site_id: u64,
        update: &ScheduleUpdate,
    ) -> Result<()> {
        const OP: &str = "update backup schedule";
        update.validate().map_err(|e| e.with_operation(OP))?;
        self.send_body(
            Request::put(format!("/backups/schedule/site/{}", seg(site_id)))
                .json(&update.body())
                .operation(OP),
        )
        .await
        .map(drop)
    }

    /// Backup schedules of every site (`GET /backups/schedules`).
    pub async fn backup_schedules(&self) -> Result<Vec<SiteBackupSchedules>> {
        let body = self
            .get_json("/backups/schedules".into(), "list backup schedules")
            .await?;
        schedules_of(&body)
    }

    /// Backup schedules of one site (`GET /backups/schedules/site/{site_id}`).
    pub async fn site_backup_schedules(&self, site_id: u64) -> Result<Vec<SiteBackupSchedules>> {
        let body = self
            .get_json(
                format!("/backups/schedules/site/{}", seg(site_id)),
                "list site backup schedules",
            )
            .await?;
        schedules_of(&body)
    }
}

fn schedules_of(body: &Value) -> Result<Vec<SiteBackupSchedules>> {
    let entries = match body.get("data") {
        Some(Value::Array(items)) => items.clone(),
        Some(obj @ Value::Object(_)) => vec![obj.clone()],
        _ => {
            return Err(Error::invalid_response("no schedules in GridPane's answer")
                .with_operation("list backup schedules"))
        }
    };
    Ok(entries.iter().map(SiteBackupSchedules::from_json).collect())
}

/// Deleting what is already gone succeeds.
fn ignore_missing(result: Result<Value>) -> Result<()> {
    stackdock_http::gone(result.map(drop))
}
