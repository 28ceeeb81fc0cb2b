//! Quickstart: provision a demo tenant with no configuration and no network.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! Everything runs against the in-memory adapter (a complete adapter that
//! behaves like a real provider). Each provisioning state transition is
//! printed as it happens — *before* the provider is called — which is where
//! a real control plane would persist it. Then the tenant is observed for
//! drift and torn down again.
#![allow(clippy::print_stdout)]

use std::sync::Arc;

use stackdock::dns::RecordData;
use stackdock::provisioning::{deprovision, provision, ProvisioningRecord};
use stackdock::spec::*;
use stackdock::*;

fn tenant_common() -> Common {
    Common {
        tenant: Some("acme".into()),
        ..Default::default()
    }
}

fn demo_tenant() -> Vec<ResourceSpec> {
    let record = |name: &str, data: RecordData| -> ResourceSpec {
        DnsRecordSpec {
            zone: "acme.example".into(),
            name: name.into(),
            ttl: Some(300),
            data,
            common: tenant_common(),
        }
        .into()
    };
    vec![
        WebServiceSpec {
            name: "acme-shop".into(),
            framework: Some("nextjs".into()),
            common: tenant_common(),
            ..Default::default()
        }
        .into(),
        DatabaseSpec {
            name: "acme_shop".into(),
            connection_limit: Some(20),
            common: tenant_common(),
            ..Default::default()
        }
        .into(),
        DnsZoneSpec {
            name: "acme.example".into(),
            common: tenant_common(),
            ..Default::default()
        }
        .into(),
        record(
            "@",
            RecordData::A {
                address: [192, 0, 2, 10].into(),
            },
        ),
        record(
            "www",
            RecordData::CNAME {
                target: "acme.example".into(),
            },
        ),
        record(
            "@",
            RecordData::MX {
                preference: 10,
                exchange: "mail.acme.example".into(),
            },
        ),
        record(
            "@",
            RecordData::TXT {
                text: "v=spf1 mx -all".into(),
            },
        ),
        MailboxSpec {
            address: "owner@acme.example".into(),
            password: Some("demo-Password-123".to_owned().into()),
            quota_bytes: Some(1 << 30),
            common: tenant_common(),
            ..Default::default()
        }
        .into(),
        MailForwarderSpec {
            source: "sales@acme.example".into(),
            destinations: vec!["owner@acme.example".into()],
            common: tenant_common(),
            ..Default::default()
        }
        .into(),
    ]
}

fn print_transition(label: &str, record: &ProvisioningRecord) {
    if let Some(t) = record.history.last() {
        println!(
            "  {label:<40} {:>14} -> {:<14} {}",
            t.from.as_str(),
            t.to.as_str(),
            t.reason
        );
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut registry = DockRegistry::new();
    registry.insert(Arc::new(InMemoryAdapter::new("local")))?;
    let dock = registry.require("local")?;
    dock.check_credentials().await?;
    println!(
        "dock {:?} ({}), provisioning tenant \"acme\":",
        dock.dock_id(),
        dock.provider().display_name
    );

    let mut managed = Vec::new();
    for spec in demo_tenant() {
        let label = match &spec {
            ResourceSpec::DnsRecord(r) => format!("dns record {} {}", r.name, r.data.record_type()),
            other => format!("{} {}", other.kind(), other.name()),
        };
        let mut record = ProvisioningRecord::new(ProvisioningSource::Api);
        provision(dock.as_ref(), &spec, &mut record, &mut |r| {
            print_transition(&label, r)
        })
        .await?;
        managed.push((label, spec, record));
    }

    println!("\nobserving for drift:");
    for (label, spec, record) in &managed {
        let id = record
            .resource_id
            .as_ref()
            .expect("provisioned resources have ids");
        let observation = dock.observe(id, Some(spec)).await?;
        println!(
            "  {label:<40} exists={} up_to_date={}",
            observation.exists(),
            observation.up_to_date
        );
    }
    let zones = dock
        .list_all(
            ResourceKind::DnsRecord,
            &ListOptions::in_parent("acme.example"),
        )
        .await?;
    println!("\nzone acme.example holds {} records:", zones.len());
    for r in zones.iter().filter_map(|r| r.as_dns_record()) {
        println!(
            "  {:<20} {:>5} {:<5} {}",
            r.meta.name,
            r.ttl,
            r.data.record_type(),
            r.data
        );
    }
    if let Some(db) = managed
        .iter()
        .find(|(_, s, _)| s.kind() == ResourceKind::Database)
    {
        let resource = dock.get(db.2.resource_id.as_ref().expect("id")).await?;
        if let Some(conn) = resource.as_database().and_then(|d| d.connection.as_ref()) {
            println!("\ndatabase connection (password redacted): {conn}");
        }
    }

    println!("\ntearing down (children first):");
    for (label, _, record) in managed.iter_mut().rev() {
        deprovision(dock.as_ref(), record, &mut |r| print_transition(label, r)).await?;
    }
    let left = dock
        .list_all(ResourceKind::DnsZone, &ListOptions::for_tenant("acme"))
        .await?;
    println!("\ndone: {} zones left for tenant acme", left.len());
    Ok(())
}
