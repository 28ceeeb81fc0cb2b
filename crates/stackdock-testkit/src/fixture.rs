//! Fixtures: the test material the checks run on.

use stackdock_core::dns::RecordData;
use stackdock_core::spec::*;
use stackdock_core::{ListOptions, ResourceId, ResourceKind};

/// Test material for one resource kind.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// A valid spec; the fixture's kind is this spec's kind.
    pub create: ResourceSpec,
    /// The same resource with something changed; `None` skips the update checks.
    pub update: Option<ResourceSpec>,
    /// Specs that must fail with `InvalidInput` before any remote call.
    pub invalid: Vec<ResourceSpec>,
    /// Options for the listing check (e.g. the parent zone of records).
    pub list_options: ListOptions,
    /// Whether creating the same spec twice must give the same resource.
    pub idempotent_create: bool,
    /// An id that does not exist; defaults to `stackdock-conformance-missing`.
    pub missing_id: Option<ResourceId>,
    /// Skip the concurrency and cancellation checks (providers whose API
    /// cannot be made race-safe say why here; the report lists the skip).
    pub skip_races: Option<String>,
}

impl Fixture {
    /// A fixture around a valid create spec.
    pub fn new(create: impl Into<ResourceSpec>) -> Self {
        Fixture {
            create: create.into(),
            update: None,
            invalid: Vec::new(),
            list_options: ListOptions::default(),
            idempotent_create: true,
            missing_id: None,
            skip_races: None,
        }
    }

    /// The spec to update to.
    pub fn update(mut self, spec: impl Into<ResourceSpec>) -> Self {
        self.update = Some(spec.into());
        self
    }

    /// Add a spec that must be rejected as invalid input.
    pub fn invalid(mut self, spec: impl Into<ResourceSpec>) -> Self {
        self.invalid.push(spec.into());
        self
    }

    /// Options for the listing check.
    pub fn list_options(mut self, options: ListOptions) -> Self {
        self.list_options = options;
        self
    }

    /// Each create makes a new resource (deployments): skip the create-twice check.
    pub fn not_idempotent(mut self) -> Self {
        self.idempotent_create = false;
        self
    }

    /// An id that does not exist at the provider.
    pub fn missing_id(mut self, id: ResourceId) -> Self {
        self.missing_id = Some(id);
        self
    }

    /// Skip the concurrency and cancellation checks, saying why.
    pub fn skip_races(mut self, why: impl Into<String>) -> Self {
        self.skip_races = Some(why.into());
        self
    }

    /// The create spec with `tenant` set (for the tenant-isolation check).
    pub fn create_for_tenant(&self, tenant: &str) -> ResourceSpec {
        let mut spec = self.create.clone();
        spec_common_mut(&mut spec).tenant = Some(tenant.to_owned());
        spec
    }

    /// The kind under test.
    pub fn kind(&self) -> ResourceKind {
        self.create.kind()
    }
}

/// A valid spec of `kind`, used to probe operations an adapter does not support.
pub fn default_spec(kind: ResourceKind) -> ResourceSpec {
    match kind {
        ResourceKind::Server => ServerSpec {
            name: "conformance-server".into(),
            ..Default::default()
        }
        .into(),
        ResourceKind::WebService => WebServiceSpec {
            name: "conformance-web".into(),
            ..Default::default()
        }
        .into(),
        ResourceKind::Deployment => DeploymentSpec {
            service: "conformance-web".into(),
            ..Default::default()
        }
        .into(),
        ResourceKind::Domain => DomainSpec {
            name: "conformance.example.com".into(),
            ..Default::default()
        }
        .into(),
        ResourceKind::Database => DatabaseSpec {
            name: "conformance_db".into(),
            ..Default::default()
        }
        .into(),
        ResourceKind::DnsZone => DnsZoneSpec {
            name: "conformance.example".into(),
            ..Default::default()
        }
        .into(),
        ResourceKind::DnsRecord => DnsRecordSpec {
            zone: "conformance.example".into(),
            name: "www".into(),
            ttl: Some(300),
            data: RecordData::A {
                address: [192, 0, 2, 1].into(),
            },
            common: Common::default(),
        }
        .into(),
        ResourceKind::Mailbox => MailboxSpec {
            address: "conformance@conformance.example".into(),
            password: Some("conformance-Password-1".to_owned().into()),
            ..Default::default()
        }
        .into(),
        ResourceKind::MailForwarder => MailForwarderSpec {
            source: "alias@conformance.example".into(),
            destinations: vec!["conformance@conformance.example".into()],
            ..Default::default()
        }
        .into(),
        other => panic!("the testkit does not know {other} specs yet"),
    }
}

/// Hostile strings every adapter's validation should reject wherever a name
/// is expected: quotes, SQL and shell metacharacters, comments, NUL,
/// CR/LF header injection, look-alikes and overlong names.
pub fn hostile_names() -> Vec<String> {
    vec![
        String::new(),
        " ".into(),
        "x\"; DROP DATABASE postgres; --".into(),
        "x'; DROP TABLE users; --".into(),
        "a;b".into(),
        "a/*comment*/".into(),
        "a--b\n".into(),
        "nul\0byte".into(),
        "line\r\nBcc: victim@example.com".into(),
        "$(reboot)".into(),
        "`id`".into(),
        "x".repeat(300),
    ]
}

/// Fixtures for every kind, as the in-memory adapter accepts them. Provider
/// crates build their own; these double as examples.
pub fn memory_fixtures() -> Vec<Fixture> {
    let zone = "conformance.example";
    let label = |k: &str, v: &str| {
        let mut c = Common::default();
        c.labels.insert(k.into(), v.into());
        c
    };
    vec![
        Fixture::new(ServerSpec {
            name: "web-1".into(),
            region: Some("fra1".into()),
            ..Default::default()
        })
        .update(ServerSpec {
            name: "web-1".into(),
            region: Some("fra1".into()),
            plan: Some("large".into()),
            ..Default::default()
        })
        .invalid(ServerSpec {
            name: "".into(),
            ..Default::default()
        })
        .invalid(ServerSpec {
            name: "ok".into(),
            ipv4: Some("999.1.1.1".into()),
            ..Default::default()
        }),
        Fixture::new(WebServiceSpec {
            name: "shop".into(),
            framework: Some("nextjs".into()),
            ..Default::default()
        })
        .update(WebServiceSpec {
            name: "shop".into(),
            framework: Some("astro".into()),
            ..Default::default()
        })
        .invalid(WebServiceSpec {
            name: "shop\r\nX: y".into(),
            ..Default::default()
        })
        .invalid(WebServiceSpec {
            name: "ok".into(),
            repository: Some("not a repo".into()),
            ..Default::default()
        }),
        Fixture::new(DomainSpec {
            name: "shop.example.com".into(),
            ..Default::default()
        })
        .update(DomainSpec {
            name: "shop.example.com".into(),
            ssl: Some(false),
            ..Default::default()
        })
        .invalid(DomainSpec {
            name: "shop..example.com".into(),
            ..Default::default()
        })
        .invalid(DomainSpec {
            name: "x'; --".into(),
            ..Default::default()
        }),
        Fixture::new(DatabaseSpec {
            name: "shop_db".into(),
            connection_limit: Some(5),
            ..Default::default()
        })
        .update(DatabaseSpec {
            name: "shop_db".into(),
            connection_limit: Some(10),
            ..Default::default()
        })
        .invalid(DatabaseSpec {
            name: "".into(),
            ..Default::default()
        })
        .invalid(DatabaseSpec {
            name: "x".repeat(64),
            ..Default::default()
        }),
        Fixture::new(DnsZoneSpec {
            name: zone.into(),
            common: label("team", "a"),
            ..Default::default()
        })
        .update(DnsZoneSpec {
            name: zone.into(),
            nameservers: vec!["ns1.example.net".into(), "ns2.example.net".into()],
            common: label("team", "a"),
            ..Default::default()
        })
        .invalid(DnsZoneSpec {
            name: "-bad-.example".into(),
            ..Default::default()
        })
        .invalid(DnsZoneSpec {
            name: "localhost".into(),
            ..Default::default()
        }),
        Fixture::new(MailboxSpec {
            address: "alice@example.com".into(),
            password: Some("Correct-Horse-1".to_owned().into()),
            quota_bytes: Some(1 << 30),
            ..Default::default()
        })
        .update(MailboxSpec {
            address: "alice@example.com".into(),
            quota_bytes: Some(2 << 30),
            ..Default::default()
        })
        .invalid(MailboxSpec {
            address: "alice@example.com\r\nBcc: x@y.com".into(),
            password: Some("x".to_owned().into()),
            ..Default::default()
        })
        .invalid(MailboxSpec {
            address: "a'; DROP TABLE users; --@example.com".into(),
            password: Some("x".to_owned().into()),
            ..Default::default()
        }),
        Fixture::new(MailForwarderSpec {
            source: "sales@example.com".into(),
            destinations: vec!["alice@example.com".into()],
            ..Default::default()
        })
        .update(MailForwarderSpec {
            source: "sales@example.com".into(),
            destinations: vec!["alice@example.com".into(), "bob@example.com".into()],
            ..Default::default()
        })
        .invalid(MailForwarderSpec {
            source: "sales@example.com".into(),
            destinations: vec![],
            ..Default::default()
        })
        .invalid(MailForwarderSpec {
            source: "sales@example.com".into(),
            destinations: vec!["not-an-address".into()],
            ..Default::default()
        }),
    ]
}

/// The shared fields of a spec, mutable.
pub fn spec_common_mut(spec: &mut ResourceSpec) -> &mut Common {
    match spec {
        ResourceSpec::Server(s) => &mut s.common,
        ResourceSpec::WebService(s) => &mut s.common,
        ResourceSpec::Deployment(s) => &mut s.common,
        ResourceSpec::Domain(s) => &mut s.common,
        ResourceSpec::Database(s) => &mut s.common,
        ResourceSpec::DnsZone(s) => &mut s.common,
        ResourceSpec::DnsRecord(s) => &mut s.common,
        ResourceSpec::Mailbox(s) => &mut s.common,
        ResourceSpec::MailForwarder(s) => &mut s.common,
        other => panic!("the testkit does not know {} specs yet", other.kind()),
    }
}

/// The fixtures of a DNS provider: zones and records.
///
/// * zones: creates `kit-<zone>` (updated to two name servers), rejects
///   malformed zone names;
/// * records: an `A` record `www` in `zone` — which must already exist —
///   updated to another address and TTL, listed with `zone` as parent;
///   rejects an owner outside the zone, a TTL of 0 and a CNAME to an address.
///
/// A provider without name-server updates or with another parent
/// convention adjusts the returned fixtures (they are plain data).
///
/// ```
/// use stackdock_core::ResourceKind;
/// let fixtures = stackdock_testkit::dns_fixtures("conformance.example");
/// assert_eq!(fixtures[0].kind(), ResourceKind::DnsZone);
/// assert_eq!(fixtures[1].list_options.parent.as_deref(), Some("conformance.example"));
/// ```
pub fn dns_fixtures(zone: &str) -> Vec<Fixture> {
    let new_zone = format!("kit-{zone}");
    let zones = Fixture::new(DnsZoneSpec {
        name: new_zone.clone(),
        ..Default::default()
    })
    .update(DnsZoneSpec {
        name: new_zone,
        nameservers: vec!["ns1.kit.example".into(), "ns2.kit.example".into()],
        ..Default::default()
    })
    .invalid(DnsZoneSpec {
        name: "not a zone".into(),
        ..Default::default()
    })
    .invalid(DnsZoneSpec {
        name: "zone\r\nX-Injected: 1".into(),
        ..Default::default()
    });
    let record = |name: &str, ttl, data| DnsRecordSpec {
        zone: zone.to_owned(),
        name: name.to_owned(),
        ttl,
        data,
        common: Common::default(),
    };
    let a = |last| RecordData::A {
        address: [192, 0, 2, last].into(),
    };
    let records = Fixture::new(record("www", Some(300), a(10)))
        .update(record("www", Some(600), a(20)))
        .list_options(ListOptions::in_parent(zone))
        .invalid(record("www.elsewhere.example.", Some(300), a(10)))
        .invalid(record("www", Some(0), a(10)))
        .invalid(record(
            "alias",
            None,
            RecordData::CNAME {
                target: "192.0.2.1".into(),
            },
        ));
    vec![zones, records]
}
