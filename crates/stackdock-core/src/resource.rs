//! Universal resource types.
//!
//! Every resource has the same [`ResourceMeta`] (reference, name, status,
//! tenant, labels, times and the provider's raw payload) plus typed fields for
//! its kind. [`Resource`] is the enum of all kinds that the object-safe
//! [`DockAdapter`](crate::DockAdapter) passes around.
//!
//! The JSON form (serde) is stable and pinned by snapshot tests. Secrets
//! (passwords, install commands holding tokens) are never serialised.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::dns::RecordData;
use crate::secret::{redact_url, ExposeSecret, SecretString};

/// The kinds of resource StackDock manages.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// A virtual or physical server.
    Server,
    /// A web application or site (Vercel project, GridPane site).
    WebService,
    /// One deployment (build) of a web service.
    Deployment,
    /// A domain, on an account or attached to a web service.
    Domain,
    /// A database with its owner role.
    Database,
    /// A DNS zone.
    DnsZone,
    /// One DNS record.
    DnsRecord,
    /// A mailbox.
    Mailbox,
    /// A mail forwarder (alias).
    MailForwarder,
}

impl ResourceKind {
    /// Every kind, in a stable order.
    pub const ALL: [ResourceKind; 9] = [
        ResourceKind::Server,
        ResourceKind::WebService,
        ResourceKind::Deployment,
        ResourceKind::Domain,
        ResourceKind::Database,
        ResourceKind::DnsZone,
        ResourceKind::DnsRecord,
        ResourceKind::Mailbox,
        ResourceKind::MailForwarder,
    ];

    /// The kind's stable snake_case name, e.g. `dns_record`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Server => "server",
            ResourceKind::WebService => "web_service",
            ResourceKind::Deployment => "deployment",
            ResourceKind::Domain => "domain",
            ResourceKind::Database => "database",
            ResourceKind::DnsZone => "dns_zone",
            ResourceKind::DnsRecord => "dns_record",
            ResourceKind::Mailbox => "mailbox",
            ResourceKind::MailForwarder => "mail_forwarder",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str().replace('_', " "))
    }
}

/// How an adapter addresses one resource: its kind and the provider's id for it.
///
/// Ids are opaque strings chosen by the adapter. Adapters whose provider
/// addresses resources by name (PostgreSQL, PowerDNS, SQL mail backends) use a
/// deterministic id derived from the name, so a create whose outcome was lost
/// can be observed again by the same id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceId {
    /// The resource's kind.
    pub kind: ResourceKind,
    /// The provider's id.
    pub id: String,
}

impl ResourceId {
    /// A new id.
    pub fn new(kind: ResourceKind, id: impl Into<String>) -> Self {
        ResourceId {
            kind,
            id: id.into(),
        }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.as_str(), self.id)
    }
}

/// Where a resource lives: provider, dock (one configured account of a
/// provider) and the provider's id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceRef {
    /// Provider id, e.g. `vercel`.
    pub provider: String,
    /// The dock (configured provider account) the resource was seen through.
    pub dock_id: String,
    /// The resource's kind.
    pub kind: ResourceKind,
    /// The provider's id for the resource.
    pub provider_resource_id: String,
}

impl ResourceRef {
    /// The [`ResourceId`] to pass back to the adapter.
    pub fn id(&self) -> ResourceId {
        ResourceId::new(self.kind, self.provider_resource_id.clone())
    }
}

/// Universal lifecycle status of a resource, as the provider reports it.
///
/// Each adapter owns one mapping table from its provider's states onto this
/// enum; states it cannot map become [`ResourceStatus::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceStatus {
    /// Accepted, not started.
    Pending,
    /// Being created or built.
    Provisioning,
    /// Up and serving.
    Active,
    /// Being changed.
    Updating,
    /// Being removed.
    Deleting,
    /// Removed (providers that keep tombstones).
    Deleted,
    /// Disabled or suspended on purpose.
    Suspended,
    /// Failed; see the provider payload for why.
    Error,
    /// The provider reported something this adapter cannot map.
    #[default]
    Unknown,
}

/// What every resource carries, whatever its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceMeta {
    /// Where the resource lives.
    pub reference: ResourceRef,
    /// Its human name (project name, database name, address, FQDN ...).
    pub name: String,
    /// Universal status.
    pub status: ResourceStatus,
    /// The tenant it belongs to, when the adapter tracks tenancy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Labels (StackDock's own, or the provider's tags).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// When the provider says it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// When the provider says it last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The provider's raw payload with secret fields removed
    /// ([`strip_secret_fields`](crate::secret::strip_secret_fields)).
    /// Kept for callers who need provider detail; nothing in StackDock relies on it.
    #[serde(default)]
    pub provider_data: serde_json::Value,
}

impl ResourceMeta {
    /// Metadata for a resource just read from a provider; status [`ResourceStatus::Unknown`].
    pub fn new(
        provider: impl Into<String>,
        dock_id: impl Into<String>,
        kind: ResourceKind,
        provider_resource_id: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        ResourceMeta {
            reference: ResourceRef {
                provider: provider.into(),
                dock_id: dock_id.into(),
                kind,
                provider_resource_id: provider_resource_id.into(),
            },
            name: name.into(),
            status: ResourceStatus::Unknown,
            tenant: None,
            labels: BTreeMap::new(),
            created_at: None,
            updated_at: None,
            provider_data: serde_json::Value::Null,
        }
    }

    /// Set the status.
    pub fn with_status(mut self, status: ResourceStatus) -> Self {
        self.status = status;
        self
    }

    /// Set the provider payload, removing secret fields from it first.
    pub fn with_provider_data(mut self, data: serde_json::Value) -> Self {
        self.set_provider_data(data, |_| {});
        self
    }

    /// Set the provider payload: the one way adapters fill `provider_data`.
    /// `provider_rules` removes what only the provider knows is secret (e.g.
    /// env var values); core's [secret-field rule](crate::secret::is_secret_field)
    /// is applied after it, always.
    ///
    /// ```
    /// use stackdock_core::{ResourceKind, ResourceMeta};
    /// let mut meta = ResourceMeta::new("p", "d", ResourceKind::Database, "db", "db");
    /// meta.set_provider_data(
    ///     serde_json::json!({"name": "db", "sentry_dsn": "https://k@x", "value": "v"}),
    ///     |v| { v.as_object_mut().map(|m| m.remove("value")); },
    /// );
    /// assert_eq!(meta.provider_data, serde_json::json!({"name": "db"}));
    /// ```
    pub fn set_provider_data(
        &mut self,
        mut data: serde_json::Value,
        provider_rules: impl FnOnce(&mut serde_json::Value),
    ) {
        provider_rules(&mut data);
        crate::secret::strip_secret_fields(&mut data);
        self.provider_data = data;
    }
}

/// A server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Server {
    /// Common fields.
    pub meta: ResourceMeta,
    /// Region or data centre.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Plan or size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Public IPv4 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    /// Public IPv6 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
    /// Operating system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Build progress in percent, while provisioning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_percent: Option<u8>,
    /// For bring-your-own servers: the command to run on the machine to finish
    /// the set-up. It embeds a token, so it is a secret and never serialised.
    #[serde(skip)]
    pub install_command: Option<SecretString>,
}

impl PartialEq for Server {
    /// Compares everything but the install command (a secret).
    fn eq(&self, other: &Self) -> bool {
        self.meta == other.meta
            && self.region == other.region
            && self.plan == other.plan
            && self.ipv4 == other.ipv4
            && self.ipv6 == other.ipv6
            && self.os == other.os
            && self.progress_percent == other.progress_percent
    }
}

/// A web service: a site or application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebService {
    /// Common fields.
    pub meta: ResourceMeta,
    /// Primary URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Every URL it answers on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// The server it runs on, for server-based hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    /// Framework or application type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<String>,
    /// Runtime (e.g. `php 8.3`, `nodejs 20.x`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Source repository (`owner/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Environment (production, staging ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// One deployment of a web service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// Common fields.
    pub meta: ResourceMeta,
    /// The web service deployed.
    pub service_id: String,
    /// URL of this deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Target environment (production, preview ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Git ref deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// Commit deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<String>,
    /// Provisioning state derived from the provider's build state.
    pub provisioning: crate::provisioning::ProvisioningState,
}

/// A DNS record a provider asks for before it will trust a domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationRecord {
    /// Record type, e.g. `TXT`.
    pub record_type: String,
    /// Owner name, e.g. `_vercel.example.com`.
    pub name: String,
    /// Expected value.
    pub value: String,
    /// Why the provider asks for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    /// Common fields (`name` is the canonical domain name).
    pub meta: ResourceMeta,
    /// The web service it is attached to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// Whether the provider has verified ownership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Records to create for verification, while unverified.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verification: Vec<VerificationRecord>,
    /// Whether TLS is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl: Option<bool>,
    /// Where it redirects to, for redirect domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
    /// Name servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// Registration expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// How to reach a database. The password never prints or serialises.
#[derive(Clone, Serialize, Deserialize)]
pub struct ConnectionDetails {
    /// The URL scheme of the engine: `postgres`, `mysql`, `redis` ...
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database name.
    pub database: String,
    /// Login role.
    pub user: String,
    /// Password, when the adapter knows it (right after create or rotate).
    #[serde(skip)]
    pub password: Option<SecretString>,
}

fn default_scheme() -> String {
    "postgres".to_owned()
}

impl PartialEq for ConnectionDetails {
    /// Compares everything but the password (secrets are not comparable by value here).
    fn eq(&self, other: &Self) -> bool {
        self.scheme == other.scheme
            && self.host == other.host
            && self.port == other.port
            && self.database == other.database
            && self.user == other.user
    }
}

impl ConnectionDetails {
    /// Connection details for `scheme` (the engine's URL scheme), without a
    /// password.
    ///
    /// ```
    /// use stackdock_core::resource::ConnectionDetails;
    /// use stackdock_core::secret::ExposeSecret;
    /// let c = ConnectionDetails::new("mysql", "db.internal", 3306, "shop", "shop_owner");
    /// assert_eq!(c.url().expose_secret(), "mysql://shop_owner@db.internal:3306/shop");
    /// ```
    pub fn new(
        scheme: impl Into<String>,
        host: impl Into<String>,
        port: u16,
        database: impl Into<String>,
        user: impl Into<String>,
    ) -> Self {
        ConnectionDetails {
            scheme: scheme.into(),
            host: host.into(),
            port,
            database: database.into(),
            user: user.into(),
            password: None,
        }
    }

    /// The same details with a password.
    pub fn with_password(mut self, password: Option<SecretString>) -> Self {
        self.password = password;
        self
    }

    /// The full `scheme://user:password@host:port/database` URL, password
    /// included: a secret.
    pub fn url(&self) -> SecretString {
        let password = self
            .password
            .as_ref()
            .map(|p| format!(":{}", percent_encode(p.expose_secret())))
            .unwrap_or_default();
        SecretString::from(format!(
            "{}://{}{}@{}:{}/{}",
            self.scheme,
            percent_encode(&self.user),
            password,
            host_for_url(&self.host),
            self.port,
            percent_encode(&self.database)
        ))
    }

    /// The URL with the password replaced by `[REDACTED]`, safe to print.
    pub fn redacted_url(&self) -> String {
        redact_url(self.url().expose_secret())
    }
}

fn host_for_url(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl fmt::Debug for ConnectionDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionDetails")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field(
                "password",
                &self.password.as_ref().map(|_| crate::secret::REDACTED),
            )
            .finish()
    }
}

impl fmt::Display for ConnectionDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted_url())
    }
}

/// A database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Database {
    /// Common fields (`name` is the database name).
    pub meta: ResourceMeta,
    /// Engine, e.g. `postgresql`.
    pub engine: String,
    /// Owner role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Size on disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Connection limit (`None` = unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_limit: Option<i32>,
    /// How to connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionDetails>,
}

/// A DNS zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsZone {
    /// Common fields (`name` is the canonical zone name, no trailing dot).
    pub meta: ResourceMeta,
    /// SOA serial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<u32>,
    /// Apex name servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
}

/// One DNS record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsRecord {
    /// Common fields (`name` is the canonical owner name, e.g. `www.example.com`).
    pub meta: ResourceMeta,
    /// Canonical zone name.
    pub zone: String,
    /// Time to live, seconds.
    pub ttl: u32,
    /// Typed record data.
    pub data: RecordData,
}

/// A mailbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mailbox {
    /// Common fields (`name` is the canonical address).
    pub meta: ResourceMeta,
    /// Mail domain.
    pub domain: String,
    /// Quota in bytes (`None` = unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_bytes: Option<u64>,
    /// Whether it can log in and receive mail.
    pub enabled: bool,
}

/// A mail forwarder: one source, one or more destinations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailForwarder {
    /// Common fields (`name` is the source address, or `@domain` for a catch-all).
    pub meta: ResourceMeta,
    /// Mail domain.
    pub domain: String,
    /// Destination addresses.
    pub destinations: Vec<String>,
    /// Whether it is active.
    pub enabled: bool,
}

/// Any resource, tagged by kind.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum Resource {
    /// A server.
    Server(Server),
    /// A web service.
    WebService(WebService),
    /// A deployment.
    Deployment(Deployment),
    /// A domain.
    Domain(Domain),
    /// A database.
    Database(Database),
    /// A DNS zone.
    DnsZone(DnsZone),
    /// A DNS record.
    DnsRecord(DnsRecord),
    /// A mailbox.
    Mailbox(Mailbox),
    /// A mail forwarder.
    MailForwarder(MailForwarder),
}

macro_rules! resource_accessors {
    ($($variant:ident => $as:ident, $into:ident;)*) => {
        impl Resource {
            /// Common fields.
            pub fn meta(&self) -> &ResourceMeta {
                match self { $(Resource::$variant(r) => &r.meta,)* }
            }
            /// Common fields, mutably.
            pub fn meta_mut(&mut self) -> &mut ResourceMeta {
                match self { $(Resource::$variant(r) => &mut r.meta,)* }
            }
            /// The resource's kind.
            pub fn kind(&self) -> ResourceKind {
                match self { $(Resource::$variant(_) => ResourceKind::$variant,)* }
            }
            $(
                #[doc = concat!("The [`", stringify!($variant), "`], if this is one.")]
                pub fn $as(&self) -> Option<&$variant> {
                    match self { Resource::$variant(r) => Some(r), _ => None }
                }
                #[doc = concat!("Into a [`", stringify!($variant), "`], or a typed error if it is another kind.")]
                pub fn $into(self) -> crate::Result<$variant> {
                    match self {
                        Resource::$variant(r) => Ok(r),
                        other => Err(crate::Error::internal(format!(
                            "expected {}, got {}", ResourceKind::$variant, other.kind()
                        ))),
                    }
                }
            )*
        }
        $(
            impl From<$variant> for Resource {
                fn from(r: $variant) -> Self { Resource::$variant(r) }
            }
        )*
    };
}

resource_accessors! {
    Server => as_server, into_server;
    WebService => as_web_service, into_web_service;
    Deployment => as_deployment, into_deployment;
    Domain => as_domain, into_domain;
    Database => as_database, into_database;
    DnsZone => as_dns_zone, into_dns_zone;
    DnsRecord => as_dns_record, into_dns_record;
    Mailbox => as_mailbox, into_mailbox;
    MailForwarder => as_mail_forwarder, into_mail_forwarder;
}

impl Resource {
    /// The resource's name.
    pub fn name(&self) -> &str {
        &self.meta().name
    }

    /// The id to pass back to the adapter.
    pub fn id(&self) -> ResourceId {
        self.meta().reference.id()
    }

    /// Universal status.
    pub fn status(&self) -> ResourceStatus {
        self.meta().status
    }
}
