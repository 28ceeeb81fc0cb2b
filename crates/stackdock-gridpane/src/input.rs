//! Typed, validated inputs of GridPane's mutating calls.
//!
//! Every value here is checked when it is built (`validate` / `FromStr`), so
//! a bad input fails with `InvalidInput` before any request is sent. Each
//! input knows the exact JSON body GridPane expects (`body()`).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde_json::{json, Map, Value};
use stackdock_core::extension::BackupFrequency;
use stackdock_core::secret::{ExposeSecret, SecretString, REDACTED};
use stackdock_core::{validate, Error, Result};

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value GridPane uses.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
                    .ok_or_else(|| {
                        let allowed: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        Error::invalid_input($field, format!("{s:?} is not one of {}", allowed.join(", ")))
                    })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Web server of a GridPane server.
    Webserver, "options.webserver" {
        /// Nginx.
        Nginx => "nginx",
        /// OpenLiteSpeed.
        OpenLiteSpeed => "openlitespeed",
    }
);

string_enum!(
    /// Database engine of a GridPane server.
    DatabaseEngine, "options.database" {
        /// Percona MySQL.
        Percona => "percona",
        /// MariaDB.
        MariaDb => "mariadb",
    }
);

impl DatabaseEngine {
    /// GridPane's default engine for a web server: Percona with Nginx, MariaDB with OpenLiteSpeed.
    pub fn default_for(webserver: Webserver) -> Self {
        match webserver {
            Webserver::Nginx => DatabaseEngine::Percona,
            Webserver::OpenLiteSpeed => DatabaseEngine::MariaDb,
        }
    }
}

string_enum!(
    /// Cloud provider GridPane builds a server at (`POST /server/{provider}`).
    CloudProvider, "options.provider" {
        /// DigitalOcean.
        DigitalOcean => "digitalocean",
        /// Vultr.
        Vultr => "vultr",
        /// Linode / Akamai.
        Linode => "linode",
        /// AWS Lightsail.
        AwsLightsail => "aws-lightsail",
        /// UpCloud.
        UpCloud => "upcloud",
    }
);

string_enum!(
    /// PHP process manager of a site.
    ProcessManager, "options.pm" {
        /// `dynamic`.
        Dynamic => "dynamic",
        /// `static`.
        Static => "static",
        /// `ondemand`.
        OnDemand => "ondemand",
    }
);

string_enum!(
    /// Page caching of a site.
    Caching, "options.nginx_caching" {
        /// Redis page cache.
        Redis => "redis",
        /// FastCGI cache.
        FastCgi => "fastcgi",
        /// No page cache.
        None => "none",
    }
);

string_enum!(
    /// Web application firewall of a site.
    Waf, "options.waf" {
        /// 6G firewall.
        SixG => "6G",
        /// 7G firewall.
        SevenG => "7G",
        /// ModSecurity.
        ModSec => "modsec",
    }
);

string_enum!(
    /// How GridPane manages DNS for a site or domain.
    DnsManagement, "options.dns_management" {
        /// No DNS management.
        None => "none_none",
        /// Cloudflare, full management.
        CloudflareFull => "cloudflare_full",
        /// Cloudflare, ACME challenge only.
        CloudflareChallenge => "cloudflare_challenge",
        /// DNS Made Easy, full management.
        DnsmeFull => "dnsme_full",
        /// DNS Made Easy, ACME challenge only.
        DnsmeChallenge => "dnsme_challenge",
    }
);

string_enum!(
    /// Kind of a domain added to a site.
    DomainType, "options.type" {
        /// Serves the site.
        Alias => "alias",
        /// Redirects to the site's primary domain.
        Redirect => "redirect",
    }
);

string_enum!(
    /// www / root routing of a domain.
    Routing, "options.routing" {
        /// No routing.
        None => "none",
        /// Route to `www.`.
        Www => "www",
        /// Route to the bare domain.
        Root => "root",
    }
);

/// DNS management with the integration that performs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsIntegration {
    /// Management mode.
    pub management: DnsManagement,
    /// Integration id (`GET /user/integrations`); required unless the mode is `none_none`.
    pub integration_id: Option<u64>,
}

impl DnsIntegration {
    /// No DNS management.
    pub const NONE: DnsIntegration = DnsIntegration {
        management: DnsManagement::None,
        integration_id: None,
    };

    /// Check that an integration id is given exactly when one is needed.
    pub fn validate(&self) -> Result<()> {
        match (self.management, self.integration_id) {
            (DnsManagement::None, Some(_)) => Err(Error::invalid_input(
                "options.dns_integration_id",
                "given without a dns_management mode",
            )),
            (DnsManagement::None, None) => Ok(()),
            (_, None) => Err(Error::invalid_input(
                "options.dns_integration_id",
                "required when dns_management is not none_none",
            )),
            (_, Some(_)) => Ok(()),
        }
    }
}

/// A server label: GridPane uses it as a host name, so letters, digits and dashes.
pub fn check_server_label(label: &str) -> Result<()> {
    validate::slug("name", label, 63, false)?;
    if label.starts_with('-') || label.ends_with('-') {
        return Err(Error::invalid_input(
            "name",
            "must not start or end with '-'",
        ));
    }
    Ok(())
}

/// A PHP version as GridPane writes it: `8.3`.
pub fn check_php_version(field: &str, version: &str) -> Result<()> {
    let ok = version.split_once('.').is_some_and(|(major, minor)| {
        matches!(major, "5" | "7" | "8" | "9")
            && (1..=2).contains(&minor.len())
            && minor.bytes().all(|b| b.is_ascii_digit())
    });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(
            field,
            format!("{version:?} is not a PHP version like \"8.3\""),
        ))
    }
}

/// A Linux user name as GridPane accepts it: lower-case letter first, then
/// lower-case letters and digits, at most 32 characters.
pub fn check_username(field: &str, username: &str) -> Result<()> {
    let mut chars = username.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok
        || username.len() > 32
        || !username
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(Error::invalid_input(
            field,
            "must be 1-32 lower-case letters and digits, starting with a letter",
        ));
    }
    Ok(())
}

/// An OpenSSH public key on one line.
pub fn check_ssh_public_key(key: &str) -> Result<()> {
    let field = "ssh_public_key";
    let mut parts = key.split_whitespace();
    let algo = parts.next().unwrap_or_default();
    let data = parts.next().unwrap_or_default();
    let known = algo.starts_with("ssh-") || algo.starts_with("ecdsa-") || algo.starts_with("sk-");
    if key.contains(['\n', '\r']) || !known || data.len() < 16 {
        return Err(Error::invalid_input(
            field,
            "expected one OpenSSH public key line, e.g. \"ssh-ed25519 AAAA... me@host\"",
        ));
    }
    if algo.contains("PRIVATE") || key.contains("PRIVATE KEY") {
        return Err(Error::invalid_input(field, "this is a private key"));
    }
    Ok(())
}

/// A password GridPane will accept for a system user: 8 to 128 printable characters.
pub fn check_password(password: &SecretString) -> Result<()> {
    let p = password.expose_secret();
    if p.chars().count() < 8 || p.chars().count() > 128 || p.chars().any(char::is_control) {
        return Err(Error::invalid_input(
            "password",
            "must be 8 to 128 printable characters",
        ));
    }
    Ok(())
}

/// An address GridPane can reach a bring-your-own server at over the internet.
///
/// GridPane connects to the machine from its own network, so only a globally
/// routable unicast address can work. Refused, with the reason: unspecified
/// (`0.0.0.0/8`), loopback, link-local (`169.254.0.0/16`, which includes the
/// cloud metadata endpoint `169.254.169.254`), private (RFC 1918), shared
/// carrier-grade NAT (`100.64.0.0/10`), benchmarking (`198.18.0.0/15`),
/// multicast, reserved (`240.0.0.0/4`) and broadcast. The documentation ranges
/// (`192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`) are accepted so that
/// examples and tests can use them; they never reach a real machine.
///
/// ```
/// use stackdock_gridpane::input::check_server_ipv4;
/// assert!(check_server_ipv4("ip", "169.254.169.254".parse().unwrap()).is_err());
/// assert!(check_server_ipv4("ip", "203.0.113.44".parse().unwrap()).is_ok());
/// ```
pub fn check_server_ipv4(field: &str, ip: Ipv4Addr) -> Result<()> {
    match non_routable_reason(ip) {
        Some(reason) => Err(Error::invalid_input(
            field,
            format!("{ip} is {reason}: GridPane must reach the server over the internet"),
        )),
        None => Ok(()),
    }
}

/// Why GridPane could not reach `ip`, when it could not.
fn non_routable_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    let reason = if ip.is_broadcast() {
        "the broadcast address"
    } else if a == 0 {
        "an unspecified (\"this network\") address"
    } else if ip.is_loopback() {
        "a loopback address"
    } else if ip.is_link_local() {
        "a link-local address (cloud metadata lives there)"
    } else if ip.is_private() {
        "a private address"
    } else if a == 100 && (64..128).contains(&b) {
        "a shared carrier-grade NAT address"
    } else if a == 198 && (18..20).contains(&b) {
        "a benchmarking address"
    } else if ip.is_multicast() {
        "a multicast address"
    } else if a >= 240 {
        "a reserved address"
    } else {
        return None;
    };
    Some(reason)
}

fn id_text(id: u64) -> Value {
    Value::from(id)
}

/// A bring-your-own server (`POST /server/custom`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomServer {
    /// Label.
    pub name: String,
    /// IPv4 address of the machine (GridPane accepts IPv4 only).
    pub ip: Ipv4Addr,
    /// Data centre name shown in GridPane.
    pub datacenter: String,
    /// Web server.
    pub webserver: Webserver,
    /// Database engine.
    pub database: DatabaseEngine,
}

impl NewCustomServer {
    /// Check the fields.
    pub fn validate(&self) -> Result<()> {
        check_server_label(&self.name)?;
        check_server_ipv4("ip", self.ip)?;
        validate::resource_name("region", &self.datacenter, 64)
    }

    /// The request body.
    pub fn body(&self) -> Value {
        json!({
            "name": self.name,
            "ip": self.ip.to_string(),
            "datacenter": self.datacenter,
            "webserver": self.webserver.as_str(),
            "database": self.database.as_str(),
        })
    }
}

/// A server GridPane builds at a cloud provider (`POST /server/{provider}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProviderServer {
    /// Cloud provider.
    pub provider: CloudProvider,
    /// Id of the provider integration in GridPane.
    pub integration_id: u64,
    /// Label.
    pub name: String,
    /// Region id from `GET /server/{provider}/plans`.
    pub region_id: String,
    /// Plan id from `GET /server/{provider}/plans`.
    pub plan_id: String,
    /// Web server.
    pub webserver: Webserver,
    /// Database engine.
    pub database: DatabaseEngine,
    /// Turn on the provider's own backups.
    pub enable_auto_backups: Option<bool>,
    /// Blueprint to apply.
    pub blueprint_id: Option<u64>,
}

impl NewProviderServer {
    /// Check the fields.
    pub fn validate(&self) -> Result<()> {
        check_server_label(&self.name)?;
        validate::slug("region", &self.region_id, 64, true)?;
        validate::slug("plan", &self.plan_id, 64, true)
    }

    /// The request body.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "integration_id": id_text(self.integration_id),
            "name": self.name,
            "region_id": self.region_id,
            "plan_id": self.plan_id,
            "webserver": self.webserver.as_str(),
            "database": self.database.as_str(),
        });
        if let Some(b) = self.enable_auto_backups {
            body["enable_auto_backups"] = Value::Bool(b);
        }
        if let Some(id) = self.blueprint_id {
            body["blueprint_id"] = id_text(id);
        }
        body
    }
}

/// One server setting (`PUT /server/{id}` takes one action per body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSetting {
    /// `{"server_timezone": "UTC"}`.
    Timezone(String),
    /// `{"update_backups_system": true, "enable_site_local_backups": bool}`.
    UpgradeBackups {
        /// Also turn on local backups for every site.
        enable_site_local_backups: bool,
    },
}

impl ServerSetting {
    /// Check the value.
    pub fn validate(&self) -> Result<()> {
        if let ServerSetting::Timezone(tz) = self {
            let ok = !tz.is_empty()
                && tz.len() <= 64
                && tz
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_-+".contains(&b));
            if !ok {
                return Err(Error::invalid_input(
                    "options.server_timezone",
                    "expected an IANA time zone such as UTC or Europe/Berlin",
                ));
            }
        }
        Ok(())
    }

    /// The request body.
    pub fn body(&self) -> Value {
        match self {
            ServerSetting::Timezone(tz) => json!({ "server_timezone": tz }),
            ServerSetting::UpgradeBackups {
                enable_site_local_backups,
            } => json!({
                "update_backups_system": true,
                "enable_site_local_backups": enable_site_local_backups,
            }),
        }
    }
}

/// Who owns a new site's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteOwner {
    /// An existing system user.
    SystemUserId(u64),
    /// A system user name (GridPane creates it when it does not exist).
    Username(String),
}

/// A new site (`POST /site`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSite {
    /// Primary domain (canonical, lower case).
    pub url: String,
    /// Server to build it on.
    pub server_id: u64,
    /// PHP version, e.g. `8.3`.
    pub php_version: String,
    /// Process manager.
    pub pm: ProcessManager,
    /// Page caching.
    pub nginx_caching: Caching,
    /// Owner.
    pub owner: SiteOwner,
    /// Firewall.
    pub waf: Option<Waf>,
    /// SMTP integration id.
    pub smtp: Option<u64>,
    /// DNS management of the primary domain.
    pub dns: DnsIntegration,
    /// Bundle to install.
    pub bundle_id: Option<u64>,
}

impl NewSite {
    /// Check the fields.
    pub fn validate(&self) -> Result<()> {
        validate::domain("name", &self.url)?;
        check_php_version("runtime", &self.php_version)?;
        if let SiteOwner::Username(u) = &self.owner {
            check_username("options.username", u)?;
        }
        self.dns.validate()
    }

    /// The request body.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("url".into(), json!(self.url));
        body.insert("server_id".into(), id_text(self.server_id));
        body.insert("php_version".into(), json!(self.php_version));
        body.insert("pm".into(), json!(self.pm.as_str()));
        body.insert("nginx_caching".into(), json!(self.nginx_caching.as_str()));
        match &self.owner {
            SiteOwner::SystemUserId(id) => body.insert("system_user_id".into(), id_text(*id)),
            SiteOwner::Username(u) => body.insert("username".into(), json!(u)),
        };
        if let Some(waf) = self.waf {
            body.insert("waf".into(), json!(waf.as_str()));
        }
        if let Some(smtp) = self.smtp {
            body.insert("smtp".into(), id_text(smtp));
        }
        if let Some(id) = self.dns.integration_id {
            body.insert("dns_integration_id".into(), id_text(id));
            body.insert("dns_management".into(), json!(self.dns.management.as_str()));
        }
        if let Some(bundle) = self.bundle_id {
            body.insert("bundle_id".into(), id_text(bundle));
        }
        Value::Object(body)
    }
}

/// One site setting (`PUT /site/{id}` takes one setting per body).
///
/// [`SiteSetting::ORDER`] is the order an update that changes several applies
/// them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteSetting {
    /// `{"php_version": "8.3"}`.
    PhpVersion(String),
    /// `{"pm": "dynamic"}`.
    ProcessManager(ProcessManager),
    /// `{"nginx_caching": "redis"}`.
    Caching(Caching),
    /// `{"system_user_id": 12}`.
    SystemUser(u64),
}

impl SiteSetting {
    /// Order of application: the PHP version first (it rebuilds the PHP-FPM
    /// pool), then the pool's process manager, then page caching (which
    /// depends on neither), and the owner last, because moving files to another
    /// user is the slowest and most disruptive step.
    pub const ORDER: [&'static str; 4] = ["php_version", "pm", "nginx_caching", "system_user_id"];

    /// The API name of the setting.
    pub fn key(&self) -> &'static str {
        match self {
            SiteSetting::PhpVersion(_) => "php_version",
            SiteSetting::ProcessManager(_) => "pm",
            SiteSetting::Caching(_) => "nginx_caching",
            SiteSetting::SystemUser(_) => "system_user_id",
        }
    }

    /// Check the value.
    pub fn validate(&self) -> Result<()> {
        match self {
            SiteSetting::PhpVersion(v) => check_php_version("runtime", v),
            _ => Ok(()),
        }
    }

    /// The request body.
    pub fn body(&self) -> Value {
        match self {
            SiteSetting::PhpVersion(v) => json!({ "php_version": v }),
            SiteSetting::ProcessManager(pm) => json!({ "pm": pm.as_str() }),
            SiteSetting::Caching(c) => json!({ "nginx_caching": c.as_str() }),
            SiteSetting::SystemUser(id) => json!({ "system_user_id": id }),
        }
    }
}

/// A domain to add to a site (`POST /domain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDomain {
    /// The domain (canonical).
    pub url: String,
    /// The site.
    pub site_id: u64,
    /// The site's server.
    pub server_id: u64,
    /// Alias or redirect.
    pub kind: DomainType,
    /// DNS management.
    pub dns: DnsIntegration,
}

impl NewDomain {
    /// Check the fields.
    pub fn validate(&self) -> Result<()> {
        validate::domain("name", &self.url)?;
        self.dns.validate()
    }

    /// The request body.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "domain_url": self.url,
            "site_id": self.site_id,
            "server_id": self.server_id,
            "type": self.kind.as_str(),
            "dns_management": self.dns.management.as_str(),
        });
        if let Some(id) = self.dns.integration_id {
            body["dns_integration_id"] = id_text(id);
        }
        body
    }
}

/// One domain setting (`PUT /domain/{id}` takes one per body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainSetting {
    /// `{"dns_management": ..., "dns_integration_id": N}`.
    Dns(DnsIntegration),
    /// `{"wildcard": bool}`.
    Wildcard(bool),
    /// `{"routing": "www"}`.
    Routing(Routing),
    /// `{"ssl": bool}`.
    Ssl(bool),
    /// `{"switch_to_primary_type": true}` (aliases only, with staging off).
    MakePrimary,
}

impl DomainSetting {
    /// Order of application: DNS management first (certificates are issued
    /// through it), then wildcard and routing (they decide which names the
    /// certificate covers), then SSL, and the switch to primary last, once the
    /// domain serves with its final settings.
    pub const ORDER: [&'static str; 5] =
        ["dns_management", "wildcard", "routing", "ssl", "primary"];

    /// The setting's name.
    pub fn key(&self) -> &'static str {
        match self {
            DomainSetting::Dns(_) => "dns_management",
            DomainSetting::Wildcard(_) => "wildcard",
            DomainSetting::Routing(_) => "routing",
            DomainSetting::Ssl(_) => "ssl",
            DomainSetting::MakePrimary => "primary",
        }
    }

    /// The request body.
    pub fn body(&self) -> Value {
        match self {
            DomainSetting::Dns(dns) => {
                let mut body = json!({ "dns_management": dns.management.as_str() });
                if let Some(id) = dns.integration_id {
                    body["dns_integration_id"] = id_text(id);
                }
                body
            }
            DomainSetting::Wildcard(w) => json!({ "wildcard": w }),
            DomainSetting::Routing(r) => json!({ "routing": r.as_str() }),
            DomainSetting::Ssl(s) => json!({ "ssl": s }),
            DomainSetting::MakePrimary => json!({ "switch_to_primary_type": true }),
        }
    }
}

/// A new system user (`POST /system-user`).
#[derive(Clone)]
pub struct NewSystemUser {
    /// Linux user name.
    pub username: String,
    /// Server to create it on.
    pub server_id: u64,
    /// Its password.
    pub password: SecretString,
    /// Optional SSH public key.
    pub ssh_public_key: Option<String>,
}

impl fmt::Debug for NewSystemUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSystemUser")
            .field("username", &self.username)
            .field("server_id", &self.server_id)
            .field("password", &REDACTED)
            .field("ssh_public_key", &self.ssh_public_key)
            .finish()
    }
}

impl NewSystemUser {
    /// Check the fields.
    pub fn validate(&self) -> Result<()> {
        check_username("username", &self.username)?;
        check_password(&self.password)?;
        if let Some(key) = &self.ssh_public_key {
            check_ssh_public_key(key)?;
        }
        Ok(())
    }

    /// The request body. It holds the password: never log it.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "username": self.username,
            "server_id": self.server_id,
            "password": self.password.expose_secret(),
            "password_confirmation": self.password.expose_secret(),
        });
        if let Some(key) = &self.ssh_public_key {
            body["ssh_public_key"] = json!(key);
        }
        body
    }
}

/// A change to a system user (`PUT /system-user/{id}`): a new password, a new SSH key, or both.
#[derive(Clone, Default)]
pub struct SystemUserUpdate {
    /// New password.
    pub password: Option<SecretString>,
    /// New SSH public key.
    pub ssh_public_key: Option<String>,
}

impl fmt::Debug for SystemUserUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemUserUpdate")
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .field("ssh_public_key", &self.ssh_public_key)
            .finish()
    }
}

impl SystemUserUpdate {
    /// Check the fields.
    pub fn validate(&self) -> Result<()> {
        if self.password.is_none() && self.ssh_public_key.is_none() {
            return Err(Error::invalid_input(
                "password",
                "give a new password, a new SSH key, or both",
            ));
        }
        if let Some(p) = &self.password {
            check_password(p)?;
        }
        if let Some(key) = &self.ssh_public_key {
            check_ssh_public_key(key)?;
        }
        Ok(())
    }

    /// The request body. It may hold the password: never log it.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        if let Some(p) = &self.password {
            body.insert("password".into(), json!(p.expose_secret()));
            body.insert("password_confirmation".into(), json!(p.expose_secret()));
        }
        if let Some(key) = &self.ssh_public_key {
            body.insert("ssh_public_key".into(), json!(key));
        }
        Value::Object(body)
    }
}

/// Where a backup goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupKind {
    /// On the server.
    Local,
    /// To remote storage through this backup integration.
    Remote {
        /// Backup integration id (`GET /backups/integrations/{site_id}`).
        integration_id: u64,
    },
}

/// A backup to take now (`POST /backups/{site_id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRequest {
    /// Local or remote.
    pub kind: BackupKind,
    /// Optional tag: up to 32 letters, digits and dashes, not `manual` or `auto`.
    pub tag: Option<String>,
}

impl BackupRequest {
    /// A local backup.
    pub fn local() -> Self {
        BackupRequest {
            kind: BackupKind::Local,
            tag: None,
        }
    }

    /// A remote backup through an integration.
    pub fn remote(integration_id: u64) -> Self {
        BackupRequest {
            kind: BackupKind::Remote { integration_id },
            tag: None,
        }
    }

    /// Set the tag.
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Check the tag.
    pub fn validate(&self) -> Result<()> {
        if let Some(tag) = &self.tag {
            let ok = !tag.is_empty()
                && tag.len() <= 32
                && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !ok {
                return Err(Error::invalid_input(
                    "tag",
                    "must be 1-32 letters, digits and dashes",
                ));
            }
            if matches!(tag.to_ascii_lowercase().as_str(), "manual" | "auto") {
                return Err(Error::invalid_input("tag", "manual and auto are reserved"));
            }
        }
        Ok(())
    }

    /// The request body.
    pub fn body(&self) -> Value {
        let mut body = match self.kind {
            BackupKind::Local => json!({ "type": "local" }),
            BackupKind::Remote { integration_id } => {
                json!({ "type": "remote", "integration_id": integration_id })
            }
        };
        if let Some(tag) = &self.tag {
            body["tag"] = json!(tag);
        }
        body
    }
}

string_enum!(
    /// Where a backup is stored, as GridPane's restore and purge calls name it
    /// (`backup_source`).
    BackupSource, "backup.storage" {
        /// On the server.
        Local => "local",
        /// Amazon S3.
        AwsS3 => "aws-s3",
        /// Backblaze B2.
        Backblaze => "backblaze",
        /// Dropbox.
        Dropbox => "dropbox",
        /// Wasabi.
        Wasabi => "wasabi",
    }
);

string_enum!(
    /// Whether a backup was taken by hand or by a schedule (`backup_type`).
    BackupType, "backup.trigger" {
        /// Taken on request.
        Manual => "manual",
        /// Taken by a schedule.
        Automatic => "automatic",
    }
);

/// One backup of a site, named the way GridPane's restore
/// (`POST /backups/restore/{site_id}`) and purge
/// (`PUT /backups/purge/{site_id}`) calls take it.
///
/// ```
/// use stackdock_gridpane::input::{BackupSelection, BackupSource, BackupType};
/// let backup = BackupSelection::new(BackupSource::Wasabi, BackupType::Manual, "2021-12-25 08:59 mytag");
/// assert!(backup.validate().is_ok());
/// assert_eq!(backup.restore_body()["source_type"], "original");
/// let bad = BackupSelection::new(BackupSource::Local, BackupType::Manual, "yesterday; rm -rf /");
/// assert!(bad.validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSelection {
    /// Where it is stored.
    pub source: BackupSource,
    /// Manual or automatic.
    pub backup_type: BackupType,
    /// `YYYY-MM-DD HH:MM`, then ` tag` for a tagged backup.
    pub backup: String,
}

impl BackupSelection {
    /// The backup `name` in `source`.
    pub fn new(source: BackupSource, backup_type: BackupType, name: impl Into<String>) -> Self {
        BackupSelection {
            source,
            backup_type,
            backup: name.into(),
        }
    }

    /// The name must be `YYYY-MM-DD HH:MM` optionally followed by a space and
    /// a tag of 1-32 letters, digits and dashes: what GridPane documents.
    pub fn validate(&self) -> Result<()> {
        let bad = || {
            Error::invalid_input(
                "backup.name",
                "must be \"YYYY-MM-DD HH:MM\" optionally followed by \" <tag>\" (1-32 letters, digits, dashes)",
            )
        };
        let (stamp, tag) = match self.backup.get(16..) {
            Some("") => (self.backup.as_str(), None),
            Some(rest) => match rest.strip_prefix(' ') {
                Some(tag) => (&self.backup[..16], Some(tag)),
                None => return Err(bad()),
            },
            None => return Err(bad()),
        };
        let stamp_ok = stamp.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b' ',
            13 => b == b':',
            _ => b.is_ascii_digit(),
        });
        let tag_ok = tag.is_none_or(|t| {
            !t.is_empty()
                && t.len() <= 32
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        if stamp_ok && tag_ok {
            Ok(())
        } else {
            Err(bad())
        }
    }

    /// The restore body; `source_type` is `original` (a backup this site took).
    pub fn restore_body(&self) -> Value {
        json!({
            "backup_source": self.source.as_str(),
            "source_type": "original",
            "backup_type": self.backup_type.as_str(),
            "backup": self.backup,
        })
    }

    /// The purge body.
    pub fn purge_body(&self) -> Value {
        json!({
            "backup_source": self.source.as_str(),
            "backup_type": self.backup_type.as_str(),
            "backup": self.backup,
        })
    }
}

/// A new time for one of a site's backup schedules
/// (`PUT /backups/schedule/site/{site_id}`).
///
/// ```
/// use stackdock_core::extension::BackupFrequency;
/// use stackdock_gridpane::input::ScheduleUpdate;
/// let monthly = ScheduleUpdate { id: 23, frequency: BackupFrequency::Monthly { day: 1, hour: 0, minute: 0 } };
/// assert_eq!(monthly.body(), serde_json::json!({"id": 23, "bup_schedule": "monthly", "minute": 0, "hour": 0, "day": 1}));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleUpdate {
    /// The schedule's id (`GET /backups/schedules/site/{site_id}`).
    pub id: u64,
    /// When it runs.
    pub frequency: BackupFrequency,
}

impl ScheduleUpdate {
    /// Ranges: minute 0-59, hour 0-23, weekday 0-6 (0 = Sunday), day of month 1-28.
    pub fn validate(&self) -> Result<()> {
        self.frequency.validate()
    }

    /// The body: `bup_schedule` and `minute` always, `hour` unless hourly,
    /// `day` for weekly (weekday) and monthly (day of month).
    pub fn body(&self) -> Value {
        let (schedule, minute, hour, day) = match self.frequency {
            BackupFrequency::Hourly { minute } => ("hourly", minute, None, None),
            BackupFrequency::Daily { hour, minute } => ("daily", minute, Some(hour), None),
            BackupFrequency::Weekly {
                weekday,
                hour,
                minute,
            } => ("weekly", minute, Some(hour), Some(weekday)),
            BackupFrequency::Monthly { day, hour, minute } => {
                ("monthly", minute, Some(hour), Some(day))
            }
        };
        let mut body = json!({ "id": self.id, "bup_schedule": schedule, "minute": minute });
        if let Some(hour) = hour {
            body["hour"] = json!(hour);
        }
        if let Some(day) = day {
            body["day"] = json!(day);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn enums_parse_case_insensitively() {
        assert_eq!("7g".parse::<Waf>().unwrap(), Waf::SevenG);
        assert_eq!(
            "OnDemand".parse::<ProcessManager>().unwrap(),
            ProcessManager::OnDemand
        );
        let err = "apache".parse::<Webserver>().unwrap_err();
        assert!(err.to_string().contains("nginx, openlitespeed"));
    }

    #[test]
    fn dns_integration_rules() {
        assert!(DnsIntegration::NONE.validate().is_ok());
        let missing = DnsIntegration {
            management: DnsManagement::CloudflareFull,
            integration_id: None,
        };
        assert!(missing.validate().is_err());
    }

    #[test]
    fn backup_tags() {
        assert!(BackupRequest::local()
            .with_tag("pre-deploy-1")
            .validate()
            .is_ok());
        assert!(BackupRequest::local()
            .with_tag("manual")
            .validate()
            .is_err());
        assert!(BackupRequest::local().with_tag("a b").validate().is_err());
        assert!(BackupRequest::local()
            .with_tag("x".repeat(33))
            .validate()
            .is_err());
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let u = NewSystemUser {
            username: "deploy".into(),
            server_id: 1,
            password: SecretString::from("Correct-Horse-9".to_owned()),
            ssh_public_key: None,
        };
        assert!(!format!("{u:?}").contains("Correct-Horse"));
        let up = SystemUserUpdate {
            password: Some(SecretString::from("Correct-Horse-9".to_owned())),
            ssh_public_key: None,
        };
        assert!(!format!("{up:?}").contains("Correct-Horse"));
    }

    #[test]
    fn custom_servers_need_an_internet_reachable_address() {
        let server = |ip: &str| NewCustomServer {
            name: "web-1".into(),
            ip: ip.parse().unwrap(),
            datacenter: "fra1".into(),
            webserver: Webserver::Nginx,
            database: DatabaseEngine::MariaDb,
        };
        for bad in [
            "169.254.169.254",
            "169.254.0.1",
            "127.0.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "10.0.0.5",
            "172.16.4.4",
            "192.168.1.1",
            "100.64.0.1",
            "198.18.0.1",
            "240.0.0.1",
        ] {
            let err = server(bad).validate().unwrap_err();
            assert!(
                matches!(err.kind(), stackdock_core::ErrorKind::InvalidInput { field, .. } if field == "ip"),
                "{bad}: {err}"
            );
        }
        for good in ["203.0.113.44", "8.8.8.8", "100.128.0.1", "172.32.0.1"] {
            server(good)
                .validate()
                .unwrap_or_else(|e| panic!("{good}: {e}"));
        }
    }

    #[test]
    fn ssh_keys() {
        assert!(check_ssh_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB me@host").is_ok());
        assert!(check_ssh_public_key("-----BEGIN OPENSSH PRIVATE KEY-----").is_err());
        assert!(check_ssh_public_key("ssh-rsa AAAA\nssh-rsa BBBB").is_err());
    }

    proptest! {
        #[test]
        fn php_versions(major in 0u8..12, minor in 0u16..200) {
            let v = format!("{major}.{minor}");
            let ok = check_php_version("runtime", &v).is_ok();
            prop_assert_eq!(ok, matches!(major, 5 | 7 | 8 | 9) && minor < 100);
        }

        #[test]
        fn usernames_never_accept_shell_metacharacters(s in "\\PC{0,40}") {
            if check_username("u", &s).is_ok() {
                prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
                prop_assert!(!s.is_empty() && s.len() <= 32);
            }
        }

        #[test]
        fn server_labels_are_host_safe(s in "\\PC{0,70}") {
            if check_server_label(&s).is_ok() {
                prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            }
        }
    }
}
