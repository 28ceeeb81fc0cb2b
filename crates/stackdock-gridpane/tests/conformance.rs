//! The StackDock conformance suite against a stateful fake of GridPane.

mod common;

use std::sync::Arc;

use serde_json::json;
use stackdock_core::spec::{Common, DomainSpec, ServerSpec, WebServiceSpec};
use stackdock_core::{ListOptions, ResourceSpec};
use stackdock_testkit::{Fixture, Harness};

fn options(v: serde_json::Value) -> Common {
    Common {
        options: serde_json::from_value(v).unwrap(),
        ..Default::default()
    }
}

fn server_fixture() -> Fixture {
    let byo = ServerSpec {
        name: "conformance-byo".into(),
        region: Some("Ashburn - VA".into()),
        ipv4: Some("203.0.113.10".into()),
        ..Default::default()
    };
    Fixture::new(byo.clone())
        .invalid(ServerSpec {
            name: "Not A Label!".into(),
            ..byo.clone()
        })
        .invalid(ServerSpec {
            ipv4: Some("999.1.1.1".into()),
            ..byo.clone()
        })
        .invalid(ServerSpec {
            ipv4: None,
            ..byo.clone()
        })
        .invalid(ServerSpec {
            region: None,
            ..byo.clone()
        })
        .invalid(ServerSpec {
            common: options(json!({"provider": "digitalocean"})),
            ipv4: None,
            plan: Some("s-1vcpu-1gb".into()),
            ..byo.clone()
        })
        .invalid(ServerSpec {
            common: options(json!({"webserver": "apache"})),
            ..byo.clone()
        })
        .invalid(ServerSpec {
            common: options(json!({"server_timezone": "UTC"})),
            ..byo
        })
}

fn site_fixture() -> Fixture {
    let site = WebServiceSpec {
        name: "conformance.example.com".into(),
        server_id: Some("29330".into()),
        runtime: Some("8.2".into()),
        common: options(
            json!({"username": "conformance", "pm": "dynamic", "nginx_caching": "none", "waf": "7G"}),
        ),
        ..Default::default()
    };
    let update = WebServiceSpec {
        runtime: Some("8.3".into()),
        common: options(
            json!({"username": "conformance", "pm": "ondemand", "nginx_caching": "redis"}),
        ),
        ..site.clone()
    };
    Fixture::new(site.clone())
        .update(update)
        .invalid(WebServiceSpec {
            name: "not a domain".into(),
            ..site.clone()
        })
        .invalid(WebServiceSpec {
            server_id: None,
            ..site.clone()
        })
        .invalid(WebServiceSpec {
            server_id: Some("web-2".into()),
            ..site.clone()
        })
        .invalid(WebServiceSpec {
            runtime: Some("php 8.2".into()),
            ..site.clone()
        })
        .invalid(WebServiceSpec {
            repository: Some("acme/shop".into()),
            ..site.clone()
        })
        .invalid(WebServiceSpec {
            common: options(json!({"pm": "turbo", "username": "x"})),
            ..site.clone()
        })
        .invalid(WebServiceSpec {
            common: options(json!({"username": "Bad User"})),
            ..site.clone()
        })
        .invalid(WebServiceSpec {
            common: options(json!({"pm": "dynamic"})),
            ..site.clone()
        })
        .invalid(WebServiceSpec {
            common: options(json!({"username": "x", "dns_integration_id": 2524})),
            ..site
        })
}

fn domain_fixture() -> Fixture {
    // Settings beyond the add (SSL, routing) make the create several calls,
    // so the fault and cancel checks also hit a domain added but not yet set up.
    let domain = DomainSpec {
        name: "conformance-alias.example.com".into(),
        service_id: Some("474559".into()),
        ssl: Some(true),
        common: options(json!({"routing": "www"})),
        ..Default::default()
    };
    let update = DomainSpec {
        ssl: Some(false),
        common: options(json!({"routing": "root", "wildcard": true})),
        ..domain.clone()
    };
    Fixture::new(domain.clone())
        .update(update)
        .list_options(ListOptions::in_parent("474559"))
        .invalid(DomainSpec {
            name: "-bad-.example.com".into(),
            ..domain.clone()
        })
        .invalid(DomainSpec {
            service_id: None,
            ..domain.clone()
        })
        .invalid(DomainSpec {
            service_id: Some("blog".into()),
            ..domain.clone()
        })
        .invalid(DomainSpec {
            common: options(json!({"routing": "sideways"})),
            ..domain.clone()
        })
        .invalid(DomainSpec {
            common: options(json!({"dns_management": "cloudflare_full"})),
            ..domain.clone()
        })
        .invalid(DomainSpec {
            redirect: Some("conformance-alias.example.com".into()),
            ..domain
        })
}

#[tokio::test]
async fn conformance_suite_passes_against_the_fake() {
    let fake = common::FakeGridPane::seeded();
    let server = fake.start().await;
    // No retries in the HTTP layer, so the faults the suite places reach the adapter.
    let adapter = common::adapter_without_retries(&server);
    let counter = fake.clone();
    let report = Harness::new(Arc::new(adapter))
        .fixture(server_fixture())
        .fixture(site_fixture())
        .fixture(domain_fixture())
        .remote_calls(move || counter.calls())
        .secret(common::TOKEN)
        // Secrets the fake puts in its answers: the install command's token,
        // server keys, the site's application token, DNS credentials.
        .secret(common::INSTALL_TOKEN)
        .secret("fake-callback-token")
        .secret("fake-server-key")
        .secret("fake-app-token")
        .secret("fake-generated-site-user-pw")
        .faults(Arc::new(fake.clone()))
        .run()
        .await;
    // `run` panics on any failure; here is what ran. Servers, sites and
    // domains each (3):
    for check in [
        "validation_first",
        "observe_missing",
        "lifecycle",
        "create_twice",
        "delete_twice",
        "concurrent_creates",
        "concurrent_deletes",
        "cancelled_create",
        "paging",
        "no_secrets",
        "nothing_half_made",
    ] {
        assert_eq!(report.count(check), 3, "{check}: {report}");
    }
    // Each kind through the whole lifecycle with one resource, the second
    // create adopting the first, the 20 racers making one resource.
    for check in ["lifecycle", "create_twice", "concurrent_creates"] {
        assert_eq!(report.touched_by(check), 3, "{check}: {report}");
    }
    // GridPane keeps no tenants: not declared, so not run ...
    assert_eq!(report.count("tenant_isolation"), 0, "{report}");
    // ... and refused as Unsupported, like labels and tenant filters.
    for check in [
        "unsupported_is_explicit",
        "unsupported_arguments",
        "debug_has_no_secrets",
    ] {
        assert_eq!(report.count(check), 1, "{check}: {report}");
    }
    // Everything the suite created was deleted again.
    let state = fake.lock();
    assert!(!state
        .servers
        .values()
        .any(|s| s["label"] == "conformance-byo"));
    assert!(!state
        .sites
        .values()
        .any(|s| s["url"] == "conformance.example.com"));
    assert!(!state
        .domains
        .values()
        .any(|d| d["url"] == "conformance-alias.example.com"));
}

#[tokio::test]
async fn spec_kinds_without_support_are_unsupported() {
    let (_fake, _server, adapter) = common::start_adapter().await;
    use stackdock_core::DockAdapter;
    let spec = ResourceSpec::from(stackdock_core::spec::DatabaseSpec {
        name: "db".into(),
        ..Default::default()
    });
    let err = adapter.create(&spec).await.unwrap_err();
    assert!(matches!(
        err.kind(),
        stackdock_core::ErrorKind::Unsupported { .. }
    ));
}
