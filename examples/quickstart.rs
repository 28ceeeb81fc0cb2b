//! Quickstart: a control plane in one file, with no configuration and no network.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! A demo tenant is a **blueprint** (web service, database with a generated
//! password, DNS zone and records that use the database's outputs, mailbox,
//! forwarder), applied by `stackdock-runtime` as a durable run on the embedded
//! SQLite store under `target/quickstart/state/` — every step's intent is in
//! the store before the provider is asked, and each transition is printed as
//! it happens. Then: status from the store alone, drift made out of band,
//! a reconcile that repairs it, and destroy (children first).
//!
//! DNS goes to the embedded zone-file backend of `stackdock-dns`: real RFC
//! 1035 zone files under `target/quickstart/zones/`. Everything else runs on
//! the in-memory adapter, a complete adapter that behaves like a provider.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::sync::Arc;

use stackdock::spec::{DatabaseSpec, ResourceSpec};
use stackdock::*;
use stackdock_dns::{AdapterOptions, ZoneFileAdapter, ZoneFileBackend};
use stackdock_runtime::audit::StoreAudit;
use stackdock_runtime::blueprint::Blueprint;
use stackdock_runtime::events::{RunEvent, RunEventKind};
use stackdock_runtime::store::{SqliteStore, Store};
use stackdock_runtime::vault::{AesGcmVault, MasterKeys};
use stackdock_runtime::{ApplyOptions, Runtime};

/// The tenant. Secrets are references (`generate`): generated, sealed in the
/// vault before the create, never written to the store in the clear.
const TENANT: &str = r#"
scope = "acme"

[steps.site]
dock = "local"
spec = { kind = "web_service", name = "acme-shop", framework = "nextjs", tenant = "acme" }

[steps.db]
dock = "local"
spec = { kind = "database", name = "acme_shop", connection_limit = 20, tenant = "acme" }
secrets = { password = "generate" }

[steps.zone]
dock = "zones"
spec = { kind = "dns_zone", name = "acme.example", tenant = "acme" }

[steps.shop_cname]
dock = "zones"
spec = { kind = "dns_record", zone = "${zone.name}", name = "shop", ttl = 300, data = { type = "CNAME", target = "cname.vercel-dns.com" }, tenant = "acme" }

[steps.db_txt]
dock = "zones"
spec = { kind = "dns_record", zone = "${zone.name}", name = "_db", ttl = 300, data = { type = "TXT", text = "${db.host}:${db.port}" }, tenant = "acme" }

[steps.owner]
dock = "local"
needs = ["zone"]
spec = { kind = "mailbox", address = "owner@acme.example", quota_bytes = 1073741824, tenant = "acme" }
secrets = { password = "generate" }

[steps.sales]
dock = "local"
needs = ["owner"]
spec = { kind = "mail_forwarder", source = "sales@acme.example", destinations = ["owner@acme.example"], tenant = "acme" }
"#;

fn print_event(event: &RunEvent) {
    match &event.kind {
        RunEventKind::RunStarted { operation } => println!("  run {} {operation:?}", event.run_id),
        RunEventKind::Transition {
            step,
            from,
            to,
            reason,
        } => println!(
            "    {step:<12} {:>14} -> {:<14} {reason}",
            from.as_str(),
            to.as_str()
        ),
        RunEventKind::StepFinished { step, outcome } => {
            println!("    {step:<12} done: {outcome:?}")
        }
        RunEventKind::RunFinished { status } => println!("  run finished: {status:?}"),
        _ => {}
    }
}

async fn print_status(runtime: &Runtime) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let status = runtime.status("acme").await?;
    for step in &status.steps {
        let id = step.resource_id.as_ref().map(ToString::to_string);
        println!(
            "  {:<12} {:<8} {:<14} {:<8} {}",
            step.step,
            step.dock,
            step.state.as_str(),
            step.outcome.map(|o| o.as_str()).unwrap_or("-"),
            id.unwrap_or_default()
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/quickstart");
    // A fresh demo each time: the vault key below lives only for this run.
    let _ = std::fs::remove_dir_all(&base);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&base.join("state")).await?);
    let local = Arc::new(InMemoryAdapter::new("local"));
    let mut docks = DockRegistry::new();
    docks.insert(local.clone())?;
    docks.insert(Arc::new(ZoneFileAdapter::new(
        ZoneFileBackend::new(base.join("zones"))?,
        AdapterOptions::default().with_dock_id("zones"),
    )))?;
    let audit = Arc::new(StoreAudit::new(store.clone()));
    let vault = AesGcmVault::new(store.clone(), MasterKeys::generate("demo-key"), audit);
    let runtime = Runtime::new(store.clone(), docks).with_vault(Arc::new(vault));
    // Every event of a call is sent before the call returns: print them
    // after each call, in order.
    let mut events = runtime.subscribe();
    let mut drain = move || {
        while let Ok(event) = events.try_recv() {
            print_event(&event);
        }
    };

    println!(
        "applying tenant \"acme\" (state in {}):",
        base.join("state").display()
    );
    let blueprint = Blueprint::from_toml(TENANT)?;
    runtime
        .apply(&blueprint, "quickstart", ApplyOptions::rollback())
        .await?;
    drain();
    println!("\nstatus from the store alone (no provider call):");
    print_status(&runtime).await?;
    let zone_file = base.join("zones/acme.example.zone");
    println!(
        "\n{}:\n{}",
        zone_file.display(),
        std::fs::read_to_string(&zone_file)?
    );

    println!("applying the same blueprint again (nothing to do):");
    let calls = local.remote_calls();
    runtime
        .apply(&blueprint, "quickstart", ApplyOptions::rollback())
        .await?;
    drain();
    println!(
        "  {} calls to the local dock (an unchanged blueprint only observes)",
        local.remote_calls() - calls
    );

    println!("\ndrift out of band: the database's limit changed, the mailbox deleted");
    let db_id = report_id(&runtime, "db").await?;
    let changed: ResourceSpec = DatabaseSpec {
        name: "acme_shop".into(),
        connection_limit: Some(5),
        common: spec::Common {
            tenant: Some("acme".into()),
            ..Default::default()
        },
        ..Default::default()
    }
    .into();
    local.update(&db_id, &changed).await?;
    local.delete(&report_id(&runtime, "owner").await?).await?;
    println!("reconciling:");
    runtime
        .reconcile("acme", blueprint.org(), "quickstart")
        .await?;
    drain();
    print_status(&runtime).await?;

    println!("\ndestroying (children first):");
    runtime
        .destroy("acme", blueprint.org(), "quickstart")
        .await?;
    drain();
    println!("\ndone: {} resources left on the local dock", local.len());
    Ok(())
}

/// The resource id a step recorded.
async fn report_id(
    runtime: &Runtime,
    step: &str,
) -> std::result::Result<ResourceId, Box<dyn std::error::Error>> {
    let status = runtime.status("acme").await?;
    status
        .steps
        .into_iter()
        .find(|s| s.step == step)
        .and_then(|s| s.resource_id)
        .ok_or_else(|| format!("step {step} has no resource").into())
}
