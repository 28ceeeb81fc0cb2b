//! The mail model shared by every backend, and the validation that runs
//! before anything is sent.
//!
//! Addresses follow [`stackdock_core::validate::email_address`] (dot-atom
//! local parts, IDN domains to punycode, RFC 5321 lengths, lower case).
//! Forwarder sources may also be `@domain` (catch-all).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use stackdock_core::secret::SecretString;
use stackdock_core::spec::{MailForwarderSpec, MailboxSpec};
use stackdock_core::validate;
use stackdock_core::{Error, Result};

/// Smallest quota accepted: 1 MiB (`None` means unlimited).
pub const MIN_QUOTA_BYTES: u64 = 1 << 20;
/// Largest quota accepted: 1 PiB.
pub const MAX_QUOTA_BYTES: u64 = 1 << 50;
/// Most destinations one forwarder may have.
pub const MAX_DESTINATIONS: usize = 1000;

/// A tenant name, validated ([`validate::resource_name`], at most 128 bytes:
/// no control characters, no escapes). The only way to build a
/// [`Scope::Tenant`], so no unvalidated tenant reaches a query or a row.
///
/// ```compile_fail
/// // A raw string cannot become a scope without validation.
/// let scope = stackdock_email::Scope::Tenant(stackdock_email::Tenant("a\nb".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tenant(String);

impl Tenant {
    /// Validate a tenant name.
    pub fn new(name: impl Into<String>) -> Result<Tenant> {
        let name = name.into();
        validate::resource_name("tenant", &name, MAX_TENANT_BYTES)?;
        Ok(Tenant(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Longest tenant name: the size of the schema's `tenant` columns.
pub const MAX_TENANT_BYTES: usize = 128;

/// Who an operation acts for. Nothing outside the scope is ever returned or changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Scope {
    /// Operator access: every tenant (and rows without a tenant).
    #[default]
    All,
    /// Only this tenant's domains, mailboxes and forwarders.
    Tenant(Tenant),
}

impl Scope {
    /// A tenant scope, validated.
    pub fn tenant(tenant: impl Into<String>) -> Result<Scope> {
        Tenant::new(tenant).map(Scope::Tenant)
    }

    /// The tenant, when scoped.
    pub fn as_tenant(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Tenant(t) => Some(t.as_str()),
        }
    }

    /// The tenant a new row gets: the scope's, or (operator scope) the
    /// requested one, validated. A scoped caller asking for another tenant is refused.
    pub fn owner_for(&self, requested: Option<&str>) -> Result<Option<String>> {
        match (self, requested) {
            (Scope::All, None) => Ok(None),
            (Scope::All, Some(r)) => Tenant::new(r).map(|t| Some(t.0)),
            (Scope::Tenant(t), None) => Ok(Some(t.0.clone())),
            (Scope::Tenant(t), Some(r)) if r == t.as_str() => Ok(Some(t.0.clone())),
            (Scope::Tenant(_), Some(_)) => Err(Error::invalid_input(
                "tenant",
                "differs from the tenant this store is scoped to",
            )),
        }
    }
}

/// A mailbox to create. `Debug` redacts the password.
#[derive(Debug, Clone)]
pub struct NewMailbox {
    /// Canonical address.
    pub address: String,
    /// Initial password (hashed before it is stored).
    pub password: SecretString,
    /// Quota in bytes; `None` = unlimited.
    pub quota_bytes: Option<u64>,
    /// Whether it may log in and receive mail.
    pub enabled: bool,
    /// Owner tenant (see [`Scope::owner_for`]).
    pub tenant: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

impl NewMailbox {
    /// Validate a spec into a new mailbox (a password is required).
    pub fn from_spec(spec: &MailboxSpec) -> Result<NewMailbox> {
        let spec = validated_mailbox(spec)?;
        let password = spec
            .password
            .clone()
            .ok_or_else(|| Error::invalid_input("password", "a new mailbox needs a password"))?;
        Ok(NewMailbox {
            address: spec.address,
            password,
            quota_bytes: spec.quota_bytes,
            enabled: spec.enabled,
            tenant: spec.common.tenant,
            labels: spec.common.labels,
        })
    }
}

/// Changes to a mailbox; `None` fields stay as they are. `Debug` redacts the password.
#[derive(Debug, Clone, Default)]
pub struct MailboxChange {
    /// New password.
    pub password: Option<SecretString>,
    /// New quota (`Some(None)` = unlimited).
    pub quota_bytes: Option<Option<u64>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Replace the labels.
    pub labels: Option<BTreeMap<String, String>>,
}

/// A forwarder to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewForwarder {
    /// Canonical source address, or `@domain` for a catch-all.
    pub source: String,
    /// Canonical, sorted, de-duplicated destinations.
    pub destinations: Vec<String>,
    /// Whether it is active.
    pub enabled: bool,
    /// Owner tenant.
    pub tenant: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

impl NewForwarder {
    /// Validate a spec into a new forwarder.
    pub fn from_spec(spec: &MailForwarderSpec) -> Result<NewForwarder> {
        let spec = validated_forwarder(spec)?;
        Ok(NewForwarder {
            source: spec.source,
            destinations: spec.destinations,
            enabled: spec.enabled,
            tenant: spec.common.tenant,
            labels: spec.common.labels,
        })
    }
}

/// A stored mailbox (never its password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxRecord {
    /// Canonical address.
    pub address: String,
    /// Its domain.
    pub domain: String,
    /// Quota in bytes; `None` = unlimited.
    pub quota_bytes: Option<u64>,
    /// Whether it may log in and receive mail.
    pub enabled: bool,
    /// Owner tenant.
    pub tenant: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// When it was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A stored forwarder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwarderRecord {
    /// Source address or `@domain`.
    pub source: String,
    /// Its domain.
    pub domain: String,
    /// Destinations, sorted.
    pub destinations: Vec<String>,
    /// Whether it is active.
    pub enabled: bool,
    /// Owner tenant.
    pub tenant: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// When it was created.
    pub created_at: Option<DateTime<Utc>>,
}

/// A stored mail domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRecord {
    /// Canonical domain name.
    pub name: String,
    /// Owner tenant.
    pub tenant: Option<String>,
    /// When it was created.
    pub created_at: Option<DateTime<Utc>>,
}

/// The domain part of a canonical address or `@domain` source.
pub fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
}

/// Validate a quota: `None` (unlimited) or [`MIN_QUOTA_BYTES`]..=[`MAX_QUOTA_BYTES`].
pub fn check_quota(quota: Option<u64>) -> Result<()> {
    match quota {
        Some(q) if !(MIN_QUOTA_BYTES..=MAX_QUOTA_BYTES).contains(&q) => Err(Error::invalid_input(
            "quota_bytes",
            format!(
                "must be between {MIN_QUOTA_BYTES} and {MAX_QUOTA_BYTES} bytes (leave unset for unlimited)"
            ),
        )),
        _ => Ok(()),
    }
}

/// Canonical forwarder source: an address or `@domain`.
pub fn forwarder_source(source: &str) -> Result<String> {
    match source.strip_prefix('@') {
        Some(domain) => Ok(format!("@{}", validate::domain("source", domain)?)),
        None => validate::email_address("source", source),
    }
}

/// Validate and canonicalise a mailbox spec (core rules plus quota bounds).
pub fn validated_mailbox(spec: &MailboxSpec) -> Result<MailboxSpec> {
    let spec = match stackdock_core::ResourceSpec::from(spec.clone()).validate()? {
        stackdock_core::ResourceSpec::Mailbox(s) => s,
        _ => return Err(Error::internal("validation changed the spec kind")),
    };
    check_quota(spec.quota_bytes)?;
    Ok(spec)
}

/// Validate and canonicalise a forwarder spec (core rules plus limits and no self-loop).
pub fn validated_forwarder(spec: &MailForwarderSpec) -> Result<MailForwarderSpec> {
    if spec.destinations.len() > MAX_DESTINATIONS {
        return Err(Error::invalid_input(
            "destinations",
            format!("at most {MAX_DESTINATIONS} destinations"),
        ));
    }
    let spec = match stackdock_core::ResourceSpec::from(spec.clone()).validate()? {
        stackdock_core::ResourceSpec::MailForwarder(s) => s,
        _ => return Err(Error::internal("validation changed the spec kind")),
    };
    if spec.destinations.contains(&spec.source) {
        return Err(Error::invalid_input(
            "destinations",
            "a forwarder must not forward to its own source",
        ));
    }
    Ok(spec)
}

/// Canonical destinations for add/remove operations: validated, sorted, unique.
pub fn destinations(list: &[String]) -> Result<Vec<String>> {
    if list.is_empty() {
        return Err(Error::invalid_input(
            "destinations",
            "no destinations given",
        ));
    }
    if list.len() > MAX_DESTINATIONS {
        return Err(Error::invalid_input(
            "destinations",
            format!("at most {MAX_DESTINATIONS} destinations"),
        ));
    }
    let mut out = list
        .iter()
        .map(|d| validate::email_address("destinations", d))
        .collect::<Result<Vec<_>>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scopes() {
        assert_eq!(Scope::All.owner_for(Some("a")).unwrap(), Some("a".into()));
        assert_eq!(Scope::All.owner_for(None).unwrap(), None);
        let t = Scope::tenant("acme").unwrap();
        assert_eq!(t.owner_for(None).unwrap(), Some("acme".into()));
        assert!(t.owner_for(Some("other")).is_err());
        assert!(Scope::tenant("bad\nname").is_err());
    }

    #[test]
    fn operator_scope_validates_the_requested_tenant() {
        for bad in [
            "",
            "a\nb",
            "\u{1b}[31mred",
            &"t".repeat(MAX_TENANT_BYTES + 1),
        ] {
            let err = Scope::All.owner_for(Some(bad)).unwrap_err();
            assert_eq!(err.kind().as_str(), "invalid_input", "{bad:?}: {err}");
        }
    }

    #[test]
    fn quotas() {
        assert!(check_quota(None).is_ok());
        assert!(check_quota(Some(0)).is_err());
        assert!(check_quota(Some(MIN_QUOTA_BYTES)).is_ok());
        assert!(check_quota(Some(u64::MAX)).is_err());
    }

    #[test]
    fn forwarders() {
        let spec = MailForwarderSpec {
            source: "@Example.COM".into(),
            destinations: vec![
                "B@example.com".into(),
                "a@example.com".into(),
                "b@example.com".into(),
            ],
            ..Default::default()
        };
        let f = NewForwarder::from_spec(&spec).unwrap();
        assert_eq!(f.source, "@example.com");
        assert_eq!(f.destinations, vec!["a@example.com", "b@example.com"]);
        let looped = MailForwarderSpec {
            source: "a@example.com".into(),
            destinations: vec!["A@example.com".into()],
            ..Default::default()
        };
        assert!(NewForwarder::from_spec(&looped).is_err());
        let too_many = MailForwarderSpec {
            source: "a@example.com".into(),
            destinations: (0..=MAX_DESTINATIONS)
                .map(|i| format!("u{i}@example.com"))
                .collect(),
            ..Default::default()
        };
        assert!(NewForwarder::from_spec(&too_many).is_err());
    }

    proptest! {
        #[test]
        fn accepted_sources_are_sql_and_header_safe(s in "\\PC{0,80}") {
            if let Ok(src) = forwarder_source(&s) {
                prop_assert!(src.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"@.+-_=".contains(&b)));
                prop_assert!(src.len() <= 254);
            }
        }
    }
}
