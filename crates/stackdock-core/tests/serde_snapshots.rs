//! The JSON form of resources and specs is a stable API: these snapshots pin it.

use chrono::{TimeZone, Utc};
use stackdock_core::dns::RecordData;
use stackdock_core::provisioning::ProvisioningState;
use stackdock_core::resource::*;
use stackdock_core::secret::SecretString;
use stackdock_core::spec::*;

fn meta(kind: ResourceKind, id: &str, name: &str) -> ResourceMeta {
    let mut m =
        ResourceMeta::new("memory", "dock-1", kind, id, name).with_status(ResourceStatus::Active);
    m.created_at = Some(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap());
    m.tenant = Some("acme".into());
    m.labels.insert("env".into(), "prod".into());
    m
}

#[test]
fn resources_have_stable_json() {
    let resources: Vec<Resource> = vec![
        Server {
            meta: meta(ResourceKind::Server, "srv_1", "web-1"),
            region: Some("fra1".into()),
            plan: None,
            ipv4: Some("192.0.2.1".into()),
            ipv6: None,
            os: None,
            progress_percent: Some(100),
            install_command: Some(SecretString::from("wget https://x/?token=SECRET")),
        }
        .into(),
        Database {
            meta: meta(ResourceKind::Database, "shop", "shop").with_provider_data(
                serde_json::json!({
                    "datname": "shop", "password": "leaked?", "nested": {"api_key": "k"}
                }),
            ),
            engine: "postgresql".into(),
            owner: Some("shop_owner".into()),
            size_bytes: Some(8192),
            connection_limit: Some(10),
            connection: Some(
                ConnectionDetails::new("postgres", "127.0.0.1", 5432, "shop", "shop_owner")
                    .with_password(Some(SecretString::from("hunter2"))),
            ),
        }
        .into(),
        DnsRecord {
            meta: meta(
                ResourceKind::DnsRecord,
                "www.example.com./MX/10 mx.example.com.",
                "www.example.com",
            ),
            zone: "example.com".into(),
            ttl: 300,
            data: RecordData::MX {
                preference: 10,
                exchange: "mx.example.com".into(),
            },
        }
        .into(),
        Deployment {
            meta: meta(ResourceKind::Deployment, "dpl_1", "shop-abc"),
            service_id: "prj_1".into(),
            url: Some("https://shop-abc.vercel.app".into()),
            environment: Some("production".into()),
            git_ref: Some("main".into()),
            commit_sha: None,
            provisioning: ProvisioningState::Provisioning,
        }
        .into(),
        MailForwarder {
            meta: meta(ResourceKind::MailForwarder, "fwd_1", "@example.com"),
            domain: "example.com".into(),
            destinations: vec!["alice@example.com".into()],
            enabled: true,
        }
        .into(),
    ];
    let json = serde_json::to_string_pretty(&resources).unwrap();
    assert!(!json.contains("hunter2") && !json.contains("SECRET") && !json.contains("leaked"));
    insta::assert_snapshot!(json);
    // and it reads back
    let back: Vec<Resource> = serde_json::from_str(&json).unwrap();
    assert_eq!(back.len(), resources.len());
    assert_eq!(back[2], resources[2]);
}

#[test]
fn specs_have_stable_json_without_secrets() {
    let specs: Vec<ResourceSpec> = vec![
        DatabaseSpec {
            name: "shop".into(),
            password: Some(SecretString::from("hunter2")),
            connection_limit: Some(5),
            ..Default::default()
        }
        .into(),
        MailboxSpec {
            address: "alice@example.com".into(),
            password: Some(SecretString::from("hunter2")),
            quota_bytes: Some(1024),
            ..Default::default()
        }
        .into(),
        DnsRecordSpec {
            zone: "example.com".into(),
            name: "@".into(),
            ttl: None,
            data: RecordData::TXT {
                text: "v=spf1 -all".into(),
            },
            common: Common::default(),
        }
        .into(),
    ];
    let json = serde_json::to_string_pretty(&specs).unwrap();
    assert!(!json.contains("hunter2"));
    insta::assert_snapshot!(json);
}
