//! Quickstart: provision a demo tenant with no configuration and no network.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! DNS goes to the embedded zone-file backend of `stackdock-dns`: real RFC 1035
//! zone files under `target/quickstart/zones/` (they pass `named-checkzone`).
//! Everything else runs against the in-memory adapter (a complete adapter
//! that behaves like a real provider). Each provisioning state transition is
//! printed as it happens — *before* the provider is called — which is where
//! a real control plane would persist it. Then the tenant is observed for
//! drift and torn down again.
#![allow(clippy::print_stdout)]

use std::sync::Arc;

use stackdock::dns::RecordData;
use stackdock::drive::{deprovision, provision};
use stackdock::provisioning::ProvisioningRecord;
use stackdock::spec::*;
use stackdock::*;
use stackdock_dns::{AdapterOptions, ZoneFileAdapter, ZoneFileBackend};

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
        // The zone template already gives SOA, NS, apex A, www and MX.
        record(
            "shop",
            RecordData::CNAME {
                target: "cname.vercel-dns.com".into(),
            },
        ),
        record(
            "@",
            RecordData::TXT {
                text: "v=spf1 mx -all".into(),
            },
        ),
        record(
            "_dmarc",
            RecordData::TXT {
                text: "v=DMARC1; p=quarantine".into(),
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
            "  {label:<40} {:>14} -> {:<14} {:<17} {}",
            t.from.as_str(),
            t.to.as_str(),
            t.reason,
            t.message
        );
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let zone_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/quickstart/zones");
    let mut registry = DockRegistry::new();
    registry.insert(Arc::new(InMemoryAdapter::new("local")))?;
    registry.insert(Arc::new(ZoneFileAdapter::new(
        ZoneFileBackend::new(&zone_dir)?,
        AdapterOptions::default().with_dock_id("zones"),
    )))?;
    for (id, dock) in registry.iter() {
        dock.check_credentials().await?;
        println!("dock {id:?}: {}", dock.provider().display_name);
    }
    // DNS to the zone files, everything else to the in-memory dock.
    let dock_for = |kind: ResourceKind| match kind {
        ResourceKind::DnsZone | ResourceKind::DnsRecord => registry.require("zones"),
        _ => registry.require("local"),
    };
    println!("\nprovisioning tenant \"acme\":");

    let mut managed = Vec::new();
    for spec in demo_tenant() {
        let dock = dock_for(spec.kind())?;
        let label = match &spec {
            ResourceSpec::DnsRecord(r) => format!("dns record {} {}", r.name, r.data.record_type()),
            other => format!("{} {}", other.kind(), other.name()),
        };
        let mut record = ProvisioningRecord::new(ProvisioningSource::Api);
        // The sink is where a control plane persists intent before each call.
        let sink = |r: &ProvisioningRecord| -> Result<()> {
            print_transition(&label, r);
            Ok(())
        };
        provision(dock.as_ref(), &spec, &mut record, &sink).await?;
        managed.push((label, spec, record));
    }

    println!("\nobserving for drift:");
    for (label, spec, record) in &managed {
        let id = record
            .resource_id
            .as_ref()
            .expect("provisioned resources have ids");
        let observation = dock_for(spec.kind())?.observe(id, Some(spec)).await?;
        println!(
            "  {label:<40} exists={} up_to_date={}",
            observation.exists(),
            observation.up_to_date
        );
    }
    let zones = dock_for(ResourceKind::DnsRecord)?
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
    let zone_file = zone_dir.join("acme.example.zone");
    if let Ok(text) = std::fs::read_to_string(&zone_file) {
        println!("\n{}:\n{text}", zone_file.display());
    }
    if let Some(db) = managed
        .iter()
        .find(|(_, s, _)| s.kind() == ResourceKind::Database)
    {
        let resource = dock_for(ResourceKind::Database)?
            .get(db.2.resource_id.as_ref().expect("id"))
            .await?;
        if let Some(conn) = resource.as_database().and_then(|d| d.connection.as_ref()) {
            println!("\ndatabase connection (password redacted): {conn}");
        }
    }

    println!("\ntearing down (children first):");
    for (label, spec, record) in managed.iter_mut().rev() {
        let dock = dock_for(spec.kind())?;
        let sink = |r: &ProvisioningRecord| -> Result<()> {
            print_transition(label, r);
            Ok(())
        };
        deprovision(dock.as_ref(), Some(spec), record, &sink).await?;
    }
    let left = dock_for(ResourceKind::DnsZone)?
        .list_all(ResourceKind::DnsZone, &ListOptions::for_tenant("acme"))
        .await?;
    println!("\ndone: {} zones left for tenant acme", left.len());
    Ok(())
}
