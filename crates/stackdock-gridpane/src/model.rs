//! GridPane's JSON, read leniently.
//!
//! GridPane's API is documented as beta and its answers vary: single items
//! come as `{"data": {...}}`, `{"data": [{...}]}` or `{"server": {...}}`; ids
//! are numbers (sometimes strings); lists sit in `data` or, for domains, in
//! `data.domains`. Records are therefore built from `serde_json::Value` with
//! small helpers rather than strict derives, and every record keeps the raw
//! payload (secrets removed) as `provider_data`.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use stackdock_core::secret::{
    is_secret_field_with, strip_secret_fields_with, SecretString, REDACTED,
};
use stackdock_core::{Error, ProvisioningState, ResourceStatus, Result};

/// GridPane field names that hold secrets and are not covered by
/// [`stackdock_core::secret::SECRET_FIELD_NAMES`] (compared the same way:
/// case-insensitively, ignoring `_` and `-`).
pub const GRIDPANE_SECRET_FIELDS: &[&str] = &[
    "callbacktoken",
    "applicationtoken",
    "command",
    "instructions",
    "sshprivatekey",
    "dbpassword",
];

/// Whether a field name holds a secret: the core list plus [`GRIDPANE_SECRET_FIELDS`].
pub fn is_gridpane_secret_field(name: &str) -> bool {
    is_secret_field_with(name, GRIDPANE_SECRET_FIELDS)
}

/// Remove secret fields ([`is_gridpane_secret_field`]) from a payload, recursively.
pub fn strip_gridpane_secrets(value: &mut Value) {
    strip_secret_fields_with(value, GRIDPANE_SECRET_FIELDS);
}

/// A GridPane id: a number, or a string of digits.
pub fn id_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn str_of(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn u64_of(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(id_of)
}

pub(crate) fn bool_of(v: &Value, key: &str) -> Option<bool> {
    match v.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_u64().map(|n| n != 0),
        Value::String(s) => match s.as_str() {
            "1" | "true" | "yes" => Some(true),
            "0" | "false" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// GridPane timestamps: RFC 3339 (`2023-02-10T03:39:59.000000Z`) or
/// `2023-02-09 22:40:16` (taken as UTC).
pub(crate) fn time_of(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    let s = v.get(key)?.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        })
}

fn has_id(v: &Value) -> bool {
    v.is_object() && v.get("id").and_then(id_of).is_some()
}

/// The one item in a single-item answer, whatever its wrapping:
/// `{"data": {...}}`, `{"data": [{...}]}`, `{"<key>": {...}}`,
/// `{"data": {"<key>s": [{...}]}}` or the bare object.
pub fn single_item(body: &Value, key: &str) -> Result<Value> {
    let plural = format!("{key}s");
    let candidates = [
        body.get("data"),
        body.get(key),
        body.get("data").and_then(|d| d.get(key)),
        body.get("data").and_then(|d| d.get(plural.as_str())),
        body.get(plural.as_str()),
        Some(body),
    ];
    for candidate in candidates.into_iter().flatten() {
        match candidate {
            v if has_id(v) => return Ok(v.clone()),
            Value::Array(items) => {
                if let Some(first) = items.iter().find(|i| has_id(i)) {
                    return Ok(first.clone());
                }
            }
            _ => {}
        }
    }
    if body
        .get("data")
        .is_some_and(|d| d.as_array().is_some_and(Vec::is_empty))
    {
        return Err(Error::not_found(format!("{key} (empty answer)")));
    }
    Err(Error::invalid_response(format!(
        "no {key} object in GridPane's answer"
    )))
}

/// The items of a list answer: `data` (array), `data.<nested>` or `<nested>`.
/// The items are moved out of `body`.
pub fn list_items(body: &mut Value, nested: &str) -> Result<Vec<Value>> {
    if body.get("data").is_some_and(Value::is_array) {
        return Ok(take_array(&mut body["data"]));
    }
    if body
        .get("data")
        .and_then(|d| d.get(nested))
        .is_some_and(Value::is_array)
    {
        return Ok(take_array(&mut body["data"][nested]));
    }
    if body.get(nested).is_some_and(Value::is_array) {
        return Ok(take_array(&mut body[nested]));
    }
    Err(Error::invalid_response(format!(
        "no list of {nested} in GridPane's answer"
    )))
}

fn take_array(v: &mut Value) -> Vec<Value> {
    match v.take() {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

/// Laravel paginator: the page after `page`, or `None` at the end.
///
/// More pages exist when `links.next` is set, or `meta.current_page` is below
/// `meta.last_page` (or `total_pages`). Either signal is enough, so a listing
/// is never cut short because one of them is missing; an empty page ends it.
pub fn next_page(body: &Value, page: u32, items_on_page: usize) -> Option<u32> {
    if items_on_page == 0 {
        return None;
    }
    let meta = body.get("meta");
    let current = meta
        .and_then(|m| m.get("current_page"))
        .and_then(id_of)
        .unwrap_or(u64::from(page));
    let last = meta.and_then(|m| {
        m.get("last_page")
            .and_then(id_of)
            .or_else(|| m.get("total_pages").and_then(id_of))
    });
    let link_next = body
        .get("links")
        .and_then(|l| l.get("next"))
        .is_some_and(|n| n.as_str().is_some_and(|s| !s.is_empty()));
    let more = link_next || last.is_some_and(|last| current < last);
    more.then(|| page.saturating_add(1))
}

/// Whether an answer says `"success": false`.
pub(crate) fn reports_failure(body: &Value) -> bool {
    body.get("success") == Some(&Value::Bool(false))
}

fn scrubbed(mut raw: Value) -> Value {
    strip_gridpane_secrets(&mut raw);
    raw
}

/// A GridPane server.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerRecord {
    /// Server id.
    pub id: u64,
    /// Label (name).
    pub label: String,
    /// Public IPv4 address.
    pub ip: Option<String>,
    /// Region / data centre as GridPane names it.
    pub region: Option<String>,
    /// Plan, when GridPane reports one (provider-built servers).
    pub plan: Option<String>,
    /// `active`, ...
    pub status: Option<String>,
    /// `nginx` or `openlitespeed`.
    pub webserver: Option<String>,
    /// `percona` or `mariadb`.
    pub database: Option<String>,
    /// Operating system, e.g. `ubuntu-22-04-x64`.
    pub os: Option<String>,
    /// Cloud provider name (`custom` for bring-your-own).
    pub provider: Option<String>,
    /// Server time zone, when reported.
    pub timezone: Option<String>,
    /// When the server was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// The raw payload without secrets (`server_key`, `temp_pass`, `callback_token` ...).
    pub provider_data: Value,
}

impl ServerRecord {
    /// Read a server object.
    pub fn from_json(raw: Value) -> Result<Self> {
        let id = u64_of(&raw, "id").ok_or_else(|| Error::invalid_response("server without id"))?;
        Ok(ServerRecord {
            id,
            label: str_of(&raw, "label")
                .or_else(|| str_of(&raw, "name"))
                .unwrap_or_default(),
            ip: str_of(&raw, "ip"),
            region: str_of(&raw, "region").or_else(|| str_of(&raw, "region_label")),
            plan: str_of(&raw, "plan_id")
                .or_else(|| str_of(&raw, "plan"))
                .or_else(|| str_of(&raw, "size")),
            status: str_of(&raw, "status"),
            webserver: str_of(&raw, "webserver"),
            database: str_of(&raw, "database"),
            os: str_of(&raw, "os_version").or_else(|| str_of(&raw, "os")),
            provider: raw
                .get("provider")
                .and_then(|p| str_of(p, "name"))
                .or_else(|| str_of(&raw, "provider")),
            timezone: str_of(&raw, "server_timezone"),
            created_at: time_of(&raw, "created_at"),
            updated_at: time_of(&raw, "updated_at"),
            provider_data: scrubbed(raw),
        })
    }

    /// Universal status from GridPane's server status.
    pub fn resource_status(&self) -> ResourceStatus {
        server_status(self.status.as_deref())
    }
}

/// GridPane server status → universal status (the one mapping table).
pub fn server_status(status: Option<&str>) -> ResourceStatus {
    match status.map(str::to_ascii_lowercase).as_deref() {
        Some("active") | Some("running") | Some("ready") => ResourceStatus::Active,
        Some("pending") | Some("queued") => ResourceStatus::Pending,
        Some("building") | Some("provisioning") | Some("preparing") | Some("installing")
        | Some("initializing") => ResourceStatus::Provisioning,
        Some("updating") => ResourceStatus::Updating,
        Some("deleting") | Some("destroying") => ResourceStatus::Deleting,
        Some("deleted") => ResourceStatus::Deleted,
        Some("suspended") | Some("disabled") | Some("inactive") => ResourceStatus::Suspended,
        Some("failed") | Some("error") | Some("build_failed") => ResourceStatus::Error,
        _ => ResourceStatus::Unknown,
    }
}

/// Answer of `GET /server/build-progress/{id}`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BuildProgress {
    /// The server.
    pub server_id: u64,
    /// Percent done, once the build has started.
    pub percentage: Option<u8>,
    /// `build_status` text while preparing (e.g. "preparing to initiate build...").
    pub status_text: Option<String>,
    /// `current_details` text once building.
    pub details: Option<String>,
    /// When the progress last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

impl BuildProgress {
    /// Read a build-progress answer.
    pub fn from_json(server_id: u64, raw: &Value) -> Self {
        let percentage = raw
            .get("build_percentage")
            .and_then(|p| {
                p.as_f64()
                    .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
            })
            .map(|p| p.clamp(0.0, 100.0) as u8);
        BuildProgress {
            server_id: u64_of(raw, "server_id").unwrap_or(server_id),
            percentage,
            status_text: str_of(raw, "build_status"),
            details: str_of(raw, "current_details"),
            updated_at: time_of(raw, "updated_at"),
        }
    }

    /// Provisioning state: preparing or a percentage below 100 → provisioning; 100 → provisioned.
    pub fn provisioning_state(&self) -> ProvisioningState {
        match self.percentage {
            Some(100) => ProvisioningState::Provisioned,
            _ => ProvisioningState::Provisioning,
        }
    }

    /// Percent done, 0 while preparing.
    pub fn percent(&self) -> u8 {
        self.percentage.unwrap_or(0)
    }
}

/// A GridPane site.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SiteRecord {
    /// Site id.
    pub id: u64,
    /// Primary domain.
    pub url: String,
    /// Server it runs on.
    pub server_id: Option<u64>,
    /// System user owning it.
    pub system_user_id: Option<u64>,
    /// PHP version, e.g. `8.3`.
    pub php_version: Option<String>,
    /// PHP process manager: `dynamic`, `static`, `ondemand`.
    pub pm: Option<String>,
    /// Web application firewall: `6G`, `7G`, `modsec`.
    pub waf: Option<String>,
    /// Page caching: `redis`, `fastcgi`, `none`.
    pub nginx_caching: Option<String>,
    /// `primary`, `staging` or `canary`.
    pub site_type: Option<String>,
    /// Whether SSL is on.
    pub is_ssl: Option<bool>,
    /// When the build finished (`None` while building).
    pub built_at: Option<DateTime<Utc>>,
    /// Whether GridPane's security settings suspend the site.
    pub suspended: bool,
    /// When the site was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// Raw payload without secrets.
    pub provider_data: Value,
}

impl SiteRecord {
    /// Read a site object.
    pub fn from_json(raw: Value) -> Result<Self> {
        let id = u64_of(&raw, "id").ok_or_else(|| Error::invalid_response("site without id"))?;
        Ok(SiteRecord {
            id,
            url: str_of(&raw, "url").unwrap_or_default(),
            server_id: u64_of(&raw, "server_id")
                .or_else(|| raw.get("server").and_then(|s| u64_of(s, "id"))),
            system_user_id: u64_of(&raw, "system_user_id"),
            php_version: str_of(&raw, "php_version"),
            pm: str_of(&raw, "pm"),
            waf: str_of(&raw, "waf"),
            nginx_caching: str_of(&raw, "nginx_caching"),
            site_type: str_of(&raw, "type"),
            is_ssl: bool_of(&raw, "is_ssl"),
            built_at: time_of(&raw, "built_at"),
            suspended: raw
                .get("site_security_settings")
                .and_then(|s| bool_of(s, "suspend_site"))
                .unwrap_or(false),
            created_at: time_of(&raw, "created_at").or_else(|| {
                raw.get("site_customizer")
                    .and_then(|c| time_of(c, "created_at"))
            }),
            updated_at: time_of(&raw, "updated_at"),
            provider_data: scrubbed(raw),
        })
    }

    /// Caching as a setting value (`none` when GridPane reports `null`).
    pub fn caching(&self) -> &str {
        self.nginx_caching.as_deref().unwrap_or("none")
    }

    /// Universal status: suspended, building (no `built_at` yet) or active.
    pub fn resource_status(&self) -> ResourceStatus {
        if self.suspended {
            ResourceStatus::Suspended
        } else if self.built_at.is_none() {
            ResourceStatus::Provisioning
        } else {
            ResourceStatus::Active
        }
    }
}

/// A domain attached to a GridPane site.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DomainRecord {
    /// Domain id.
    pub id: u64,
    /// The domain name.
    pub url: String,
    /// `primary`, `alias`, `redirect` ...
    pub domain_type: Option<String>,
    /// Routing: `none`, `www`, `root`.
    pub route: Option<String>,
    /// Site it is attached to.
    pub site_id: Option<u64>,
    /// Server of that site.
    pub server_id: Option<u64>,
    /// Whether SSL is on.
    pub is_ssl: bool,
    /// `succeed`, `pending`, `failed` or none.
    pub ssl_status: Option<String>,
    /// Whether the certificate is a wildcard.
    pub is_wildcard: bool,
    /// DNS management as the create/update body names it (`none_none`, `cloudflare_full` ...).
    pub dns_management: String,
    /// DNS integration id.
    pub dns_integration_id: Option<u64>,
    /// When GridPane saw it resolve to the server.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// When it was deleted (soft delete).
    pub deleted_at: Option<DateTime<Utc>>,
    /// Raw payload without secrets (the DNS integration's token and secret are removed).
    pub provider_data: Value,
}

impl DomainRecord {
    /// Read a domain object.
    pub fn from_json(raw: Value) -> Result<Self> {
        let id = u64_of(&raw, "id").ok_or_else(|| Error::invalid_response("domain without id"))?;
        let connection = str_of(&raw, "dns_connection_type").unwrap_or_else(|| "none".into());
        let provider = raw
            .get("user_dns")
            .and_then(|d| d.get("provider"))
            .and_then(|p| str_of(p, "name"));
        let dns_management = match (provider.as_deref(), connection.as_str()) {
            (Some(p), c) if p != "none" && c != "none" => format!("{p}_{c}"),
            _ => "none_none".to_owned(),
        };
        Ok(DomainRecord {
            id,
            url: str_of(&raw, "url").unwrap_or_default(),
            domain_type: str_of(&raw, "type"),
            route: str_of(&raw, "route"),
            site_id: u64_of(&raw, "site_id"),
            server_id: u64_of(&raw, "server_id"),
            is_ssl: bool_of(&raw, "is_ssl").unwrap_or(false),
            ssl_status: str_of(&raw, "ssl_status"),
            is_wildcard: bool_of(&raw, "is_wildcard").unwrap_or(false),
            dns_management,
            dns_integration_id: u64_of(&raw, "dns_management_id"),
            resolved_at: time_of(&raw, "resolved_at"),
            created_at: time_of(&raw, "created_at"),
            updated_at: time_of(&raw, "updated_at"),
            deleted_at: time_of(&raw, "deleted_at"),
            provider_data: scrubbed(raw),
        })
    }

    /// Whether this is a redirect domain.
    pub fn is_redirect(&self) -> bool {
        self.domain_type.as_deref() == Some("redirect")
    }

    /// Whether this is the site's primary domain.
    pub fn is_primary(&self) -> bool {
        self.domain_type.as_deref() == Some("primary")
    }

    /// Routing (`none` when unreported).
    pub fn routing(&self) -> &str {
        self.route.as_deref().unwrap_or("none")
    }

    /// Universal status.
    pub fn resource_status(&self) -> ResourceStatus {
        if self.deleted_at.is_some() {
            ResourceStatus::Deleted
        } else if self.ssl_status.as_deref() == Some("pending") {
            ResourceStatus::Updating
        } else {
            ResourceStatus::Active
        }
    }
}

/// A Linux system user on a GridPane server.
///
/// GridPane returns the user's password in plain text: it is kept only as a
/// [`SecretString`] and removed from `provider_data`; `Debug` redacts it.
#[derive(Clone)]
#[non_exhaustive]
pub struct SystemUser {
    /// System user id.
    pub id: u64,
    /// Linux user name.
    pub username: String,
    /// Server it lives on.
    pub server_id: Option<u64>,
    /// `succeed` once created on the server.
    pub status: Option<String>,
    /// Whether SSH login is allowed.
    pub ssh_access: bool,
    /// Whether it may sudo.
    pub sudo: bool,
    /// Its SSH public key, if set.
    pub public_key: Option<String>,
    /// Whether it is the primary user of its sites.
    pub is_primary: bool,
    /// Ids of the sites it owns.
    pub site_ids: Vec<u64>,
    /// The password GridPane reported, if any.
    pub password: Option<SecretString>,
    /// Raw payload without the password.
    pub provider_data: Value,
}

impl SystemUser {
    /// Read a system-user object, moving the password into a secret.
    pub fn from_json(raw: Value) -> Result<Self> {
        let id =
            u64_of(&raw, "id").ok_or_else(|| Error::invalid_response("system user without id"))?;
        let password = raw
            .get("password")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .map(|p| SecretString::from(p.to_owned()));
        let site_ids = raw
            .get("sites")
            .and_then(Value::as_array)
            .map(|sites| sites.iter().filter_map(|s| u64_of(s, "id")).collect())
            .unwrap_or_default();
        Ok(SystemUser {
            id,
            username: str_of(&raw, "username").unwrap_or_default(),
            server_id: u64_of(&raw, "server_id"),
            status: str_of(&raw, "status"),
            ssh_access: bool_of(&raw, "ssh_access").unwrap_or(false),
            sudo: bool_of(&raw, "sudo").unwrap_or(false),
            public_key: str_of(&raw, "public_key"),
            is_primary: bool_of(&raw, "is_primary").unwrap_or(false),
            site_ids,
            password,
            provider_data: scrubbed(raw),
        })
    }
}

impl fmt::Debug for SystemUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("server_id", &self.server_id)
            .field("status", &self.status)
            .field("ssh_access", &self.ssh_access)
            .field("sudo", &self.sudo)
            .field("is_primary", &self.is_primary)
            .field("site_ids", &self.site_ids)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .finish_non_exhaustive()
    }
}

/// An integration of the account (cloud provider, DNS, SMTP, backup storage).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Integration {
    /// Integration id.
    pub id: u64,
    /// Service, e.g. `cloudflare`, `digitalocean`, `aws-s3`.
    pub service: Option<String>,
    /// Name given in GridPane.
    pub name: Option<String>,
    /// Raw entry without credentials.
    pub provider_data: Value,
}

impl Integration {
    /// Read one entry of `GET /user/integrations`; `None` without an id.
    pub fn from_json(raw: Value) -> Option<Self> {
        let id = u64_of(&raw, "id")?;
        Some(Integration {
            id,
            service: str_of(&raw, "integrated_service").or_else(|| str_of(&raw, "service")),
            name: str_of(&raw, "integration_name").or_else(|| str_of(&raw, "name")),
            provider_data: scrubbed(raw),
        })
    }
}

/// One backup schedule of a site.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BackupSchedule {
    /// Schedule id.
    pub id: Option<u64>,
    /// `local` or `remote`.
    pub kind: String,
    /// `hourly`, `daily`, `weekly`, `monthly`.
    pub interval: Option<String>,
    /// Hour (`"05"`).
    pub hour: Option<String>,
    /// Minute (`"00"`).
    pub minute: Option<String>,
    /// Day (weekday 0-6 or day of month).
    pub day: Option<String>,
    /// Remote storage service id.
    pub service_id: Option<u64>,
    /// Remote storage service name, e.g. `aws-s3`.
    pub service_name: Option<String>,
}

impl BackupSchedule {
    fn from_json(raw: &Value) -> Self {
        BackupSchedule {
            id: u64_of(raw, "id"),
            kind: str_of(raw, "type").unwrap_or_default(),
            interval: str_of(raw, "bup_schedule"),
            hour: str_of(raw, "hour"),
            minute: str_of(raw, "minute"),
            day: str_of(raw, "day"),
            service_id: u64_of(raw, "service_id"),
            service_name: str_of(raw, "service_name"),
        }
    }
}

/// The backup schedules of one site.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SiteBackupSchedules {
    /// Server of the site.
    pub server_id: Option<u64>,
    /// The site.
    pub site_id: Option<u64>,
    /// The site's URL.
    pub url: Option<String>,
    /// Its schedules.
    pub schedules: Vec<BackupSchedule>,
}

impl SiteBackupSchedules {
    /// Read one entry of `GET /backups/schedules`.
    pub fn from_json(raw: &Value) -> Self {
        SiteBackupSchedules {
            server_id: u64_of(raw, "server_id"),
            site_id: u64_of(raw, "site_id"),
            url: str_of(raw, "url"),
            schedules: raw
                .get("schedule_backups")
                .and_then(Value::as_array)
                .map(|s| s.iter().map(BackupSchedule::from_json).collect())
                .unwrap_or_default(),
        }
    }
}

/// A backup that can be restored.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AvailableBackup {
    /// Backup id (GridPane uses ids or snapshot names).
    pub id: Option<String>,
    /// `local` or `remote`.
    pub kind: Option<String>,
    /// Tag given at creation, `manual` or `auto`.
    pub tag: Option<String>,
    /// When it was taken, as GridPane reports it.
    pub created_at: Option<String>,
    /// Raw entry without secrets.
    pub provider_data: Value,
}

impl AvailableBackup {
    /// Read one backup entry; `kind` is the list it came from when the entry does not say.
    pub fn from_json(raw: Value, kind: Option<&str>) -> Self {
        AvailableBackup {
            id: str_of(&raw, "id")
                .or_else(|| str_of(&raw, "backup_id"))
                .or_else(|| str_of(&raw, "name")),
            kind: str_of(&raw, "type").or_else(|| kind.map(str::to_owned)),
            tag: str_of(&raw, "tag"),
            created_at: str_of(&raw, "created_at")
                .or_else(|| str_of(&raw, "date"))
                .or_else(|| str_of(&raw, "time")),
            provider_data: scrubbed(raw),
        }
    }
}

/// Read `GET /backups/original/{site_id}`: a list in `data` / `backups`, or
/// lists keyed by kind (`{"data": {"local": [...], "remote": [...]}}`).
pub fn available_backups(body: &Value) -> Vec<AvailableBackup> {
    let root = body
        .get("data")
        .or_else(|| body.get("backups"))
        .unwrap_or(body);
    match root {
        Value::Array(items) => items
            .iter()
            .filter(|i| i.is_object())
            .map(|i| AvailableBackup::from_json(i.clone(), None))
            .collect(),
        Value::Object(map) => map
            .iter()
            .filter_map(|(kind, v)| v.as_array().map(|items| (kind, items)))
            .flat_map(|(kind, items)| {
                items
                    .iter()
                    .filter(|i| i.is_object())
                    .map(move |i| AvailableBackup::from_json(i.clone(), Some(kind)))
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn single_item_shapes() {
        let obj = json!({"data": {"id": 5, "url": "a.com"}});
        let arr = json!({"data": [{"id": 5, "url": "a.com"}]});
        let keyed = json!({"server": {"id": 5, "label": "x"}});
        let domains = json!({"data": {"domains": [{"id": 5}], "constants": {}}});
        let bare = json!({"id": "5"});
        for (body, key) in [
            (obj, "site"),
            (arr, "site"),
            (keyed, "server"),
            (domains, "domain"),
            (bare, "x"),
        ] {
            assert_eq!(
                id_of(&single_item(&body, key).unwrap()["id"]),
                Some(5),
                "{body}"
            );
        }
        assert!(single_item(&json!({"data": []}), "site")
            .unwrap_err()
            .is_not_found());
        assert!(single_item(&json!({"success": true}), "site").is_err());
    }

    #[test]
    fn next_page_signals() {
        let laravel = json!({"links": {"next": null}, "meta": {"current_page": 1, "last_page": 3}});
        assert_eq!(next_page(&laravel, 1, 10), Some(2));
        let end = json!({"links": {"next": null}, "meta": {"current_page": 3, "last_page": 3}});
        assert_eq!(next_page(&end, 3, 10), None);
        let total_pages = json!({"meta": {"current_page": 1, "total_pages": 2}});
        assert_eq!(next_page(&total_pages, 1, 10), Some(2));
        let only_link = json!({"links": {"next": "https://x/server?page=2"}});
        assert_eq!(next_page(&only_link, 1, 10), Some(2));
        assert_eq!(next_page(&only_link, 1, 0), None);
        assert_eq!(next_page(&json!({"data": []}), 1, 3), None);
    }

    #[test]
    fn system_user_password_is_secret() {
        let user = SystemUser::from_json(json!({
            "id": 1, "username": "deploy", "password": "pe2aideekooveiriew1rau3De",
            "sites": [{"id": 9, "url": "a.com"}]
        }))
        .unwrap();
        assert!(user.password.is_some());
        assert!(!format!("{user:?}").contains("pe2aide"));
        assert!(!user.provider_data.to_string().contains("pe2aide"));
        assert_eq!(user.site_ids, vec![9]);
    }

    #[test]
    fn secrets_are_stripped_from_servers_and_domains() {
        let server = ServerRecord::from_json(json!({
            "id": 1, "label": "a", "server_key": "k", "temp_pass": "p", "callback_token": "c",
            "provider": {"name": "custom"}
        }))
        .unwrap();
        let text = server.provider_data.to_string();
        assert!(
            !text.contains("server_key")
                && !text.contains("temp_pass")
                && !text.contains("callback_token")
        );
        let domain = DomainRecord::from_json(json!({
            "id": 2, "url": "a.com", "dns_connection_type": "full",
            "user_dns": {"token": "t0k", "secret": "s3c", "provider": {"name": "cloudflare"}}
        }))
        .unwrap();
        assert_eq!(domain.dns_management, "cloudflare_full");
        assert!(!domain.provider_data.to_string().contains("t0k"));
    }

    #[test]
    fn secret_field_names_match_core_rules() {
        for name in [
            "password",
            "Temp_Pass",
            "server-key",
            "callback_token",
            "application_token",
            "API_KEY",
        ] {
            assert!(is_gridpane_secret_field(name), "{name}");
            if stackdock_core::secret::is_secret_field(name) {
                continue;
            }
            assert!(is_secret_field_with(name, GRIDPANE_SECRET_FIELDS));
        }
        for name in ["username", "tokenizer", "pass", "commands_run", "id"] {
            assert!(!is_gridpane_secret_field(name), "{name}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic_and_pagination_always_advances(page in 1u32..1000, n in 0usize..5, last in proptest::option::of(0u64..2000), next in proptest::bool::ANY) {
            let body = json!({"data": vec![json!({"id": 1}); n], "meta": {"current_page": page, "last_page": last}, "links": {"next": if next { json!("x") } else { Value::Null }}});
            if let Some(p) = next_page(&body, page, n) {
                proptest::prop_assert_eq!(p, page + 1);
                proptest::prop_assert!(n > 0);
            }
            let _ = single_item(&body, "site");
        }
    }

    #[test]
    fn integrations_drop_credentials() {
        let i = Integration::from_json(json!({"id": 7, "integrated_service": "cloudflare", "integration_name": "Main", "token": "t", "secret": "s"})).unwrap();
        assert_eq!(i.service.as_deref(), Some("cloudflare"));
        assert_eq!(
            i.provider_data,
            json!({"id": 7, "integrated_service": "cloudflare", "integration_name": "Main"})
        );
        assert!(Integration::from_json(json!({"name": "no id"})).is_none());
    }

    #[test]
    fn timestamps() {
        let v =
            json!({"a": "2023-02-10T03:39:59.000000Z", "b": "2023-02-09 22:40:16", "c": "soon"});
        assert!(time_of(&v, "a").is_some());
        assert!(time_of(&v, "b").is_some());
        assert!(time_of(&v, "c").is_none());
    }

    #[test]
    fn build_progress_states() {
        let preparing = BuildProgress::from_json(
            1,
            &json!({"success": true, "server_id": 1, "build_status": "preparing to initiate build..."}),
        );
        assert_eq!(
            preparing.provisioning_state(),
            ProvisioningState::Provisioning
        );
        assert_eq!(preparing.percent(), 0);
        let half = BuildProgress::from_json(1, &json!({"build_percentage": 55}));
        assert_eq!(half.provisioning_state(), ProvisioningState::Provisioning);
        let done = BuildProgress::from_json(
            1,
            &json!({"build_percentage": 100, "current_details": "Provisioning complete!!!"}),
        );
        assert_eq!(done.provisioning_state(), ProvisioningState::Provisioned);
    }

    #[test]
    fn backups_lists() {
        let flat =
            json!({"success": true, "data": [{"id": 1, "type": "local", "tag": "pre-deploy"}]});
        assert_eq!(
            available_backups(&flat)[0].tag.as_deref(),
            Some("pre-deploy")
        );
        let keyed = json!({"data": {"local": [{"id": 1}], "remote": [{"id": 2}, {"id": 3}]}});
        let all = available_backups(&keyed);
        assert_eq!(all.len(), 3);
        assert_eq!(
            all.iter()
                .filter(|b| b.kind.as_deref() == Some("remote"))
                .count(),
            2
        );
    }
}
