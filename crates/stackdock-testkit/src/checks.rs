//! The checks, as plain functions over `&dyn DockAdapter` and a fixture.
//!
//! Each returns `Ok(touched)` — how many distinct resources it created — or
//! `Err(what went wrong)`, and cleans up what it created either way. Call
//! them directly for a provider-specific test, or run them all with the
//! [`Harness`](crate::Harness).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use futures::future::join_all;
use futures::StreamExt;
use stackdock_core::spec::ResourceSpec;
use stackdock_core::{
    CreateOutcome, Created, DockAdapter, DockAdapterExt, ErrorKind, ListOptions, Operation,
    Resource, ResourceId, ResourceKind,
};

use crate::fixture::{default_spec, Fixture};

/// A check's result: the resources it created, or what went wrong.
pub type Check = Result<usize, String>;

/// A hook an adapter may expose so the suite can fail its k-th remote call
/// (SQL statement, HTTP request) — for the "nothing half-made" check.
pub trait FaultHook: Send + Sync {
    /// Make the `k`-th remote call from now (1-based) fail.
    fn fail_call(&self, k: usize);
    /// Remove any pending fault.
    fn clear(&self);
}

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(format!($($arg)*));
        }
    };
}

/// The adapter, remembering what the check created through it.
struct Subject<'a> {
    adapter: &'a dyn DockAdapter,
    created: Mutex<BTreeSet<String>>,
}

impl<'a> Subject<'a> {
    fn new(adapter: &'a dyn DockAdapter) -> Self {
        Subject {
            adapter,
            created: Mutex::new(BTreeSet::new()),
        }
    }

    async fn create(&self, spec: &ResourceSpec) -> stackdock_core::Result<Created> {
        let created = self.adapter.create(spec).await?;
        self.remember(&created.resource);
        Ok(created)
    }

    fn remember(&self, resource: &Resource) {
        self.created
            .lock()
            .expect("not poisoned")
            .insert(resource.id().to_string());
    }

    fn touched(&self) -> usize {
        self.created.lock().expect("not poisoned").len()
    }

    /// Deletes `id`, then hands back `result` (or the delete's failure).
    async fn cleanup<T>(&self, id: &ResourceId, result: Result<T, String>) -> Result<T, String> {
        let deleted = self.adapter.delete(id).await;
        let value = result?;
        deleted.map_err(|e| format!("cleanup delete of {id} failed: {e}"))?;
        Ok(value)
    }
}

/// Errors that say nothing typed about what happened: a caller cannot act on
/// them, so the contract never allows them for races or cancellations.
fn untyped(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Provider { .. } | ErrorKind::Internal | ErrorKind::InvalidResponse
    )
}

/// Every resource of the fixture's kind and listing scope named like the
/// spec: its own name, or one derived from it (a temporary or half-made
/// copy such as `shop_tmp`), so orphans under another name are seen too.
async fn named(adapter: &dyn DockAdapter, fixture: &Fixture) -> Result<Vec<Resource>, String> {
    let spec = fixture
        .create
        .validate()
        .map_err(|e| format!("fixture spec is invalid: {e}"))?;
    let mut stream = adapter.list_stream(fixture.kind(), &fixture.list_options);
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        let item = item.map_err(|e| format!("list failed: {e}"))?;
        if item.name().starts_with(spec.name()) {
            out.push(item);
        }
    }
    Ok(out)
}

/// Invalid specs fail with `InvalidInput` and make no remote call.
pub async fn validation_first(
    adapter: &dyn DockAdapter,
    fixture: &Fixture,
    remote_calls: &(dyn Fn() -> usize + Send + Sync),
) -> Check {
    ensure!(!fixture.invalid.is_empty(), "fixture has no invalid specs");
    let subject = Subject::new(adapter);
    for spec in &fixture.invalid {
        let before = remote_calls();
        let result = subject.create(spec).await;
        let after = remote_calls();
        match result {
            Err(e) if matches!(e.kind(), ErrorKind::InvalidInput { .. }) => {}
            Err(e) => {
                return Err(format!(
                    "create({:?}) failed with {e} instead of InvalidInput",
                    spec.name()
                ))
            }
            Ok(r) => {
                let _ = adapter.delete(&r.id()).await;
                return Err(format!("create accepted invalid spec {:?}", spec.name()));
            }
        }
        ensure!(
            after == before,
            "invalid spec {:?} made {} remote call(s) before being rejected",
            spec.name(),
            after - before
        );
    }
    Ok(subject.touched())
}

/// Observing an id that does not exist is `Ok` and absent.
pub async fn observe_missing(adapter: &dyn DockAdapter, fixture: &Fixture) -> Check {
    let id = fixture
        .missing_id
        .clone()
        .unwrap_or_else(|| ResourceId::new(fixture.kind(), "stackdock-conformance-missing"));
    match adapter.observe(&id, None).await {
        Ok(o) if !o.exists() => Ok(0),
        Ok(_) => Err(format!(
            "observe({id}) reports a resource that should not exist"
        )),
        Err(e) => Err(format!(
            "observe({id}) failed instead of reporting absent: {e}"
        )),
    }
}

/// create → observe (up to date) → listed → update → observe → delete → absent.
pub async fn lifecycle(adapter: &dyn DockAdapter, fixture: &Fixture) -> Check {
    let subject = Subject::new(adapter);
    let created = subject
        .create(&fixture.create)
        .await
        .map_err(|e| format!("create failed: {e}"))?;
    let id = created.id();
    let result = lifecycle_steps(adapter, fixture, &created).await;
    let deleted = adapter.delete(&id).await;
    result?;
    deleted.map_err(|e| format!("delete failed: {e}"))?;
    let gone = adapter
        .observe(&id, None)
        .await
        .map_err(|e| format!("observe after delete failed: {e}"))?;
    ensure!(!gone.exists(), "observe after delete still reports {id}");
    Ok(subject.touched())
}

async fn lifecycle_steps(
    adapter: &dyn DockAdapter,
    fixture: &Fixture,
    created: &Created,
) -> Result<(), String> {
    let kind = fixture.kind();
    let ops = adapter.capabilities().for_kind(kind);
    let id = created.id();
    ensure!(
        created.kind() == kind,
        "create returned a {}",
        created.kind()
    );
    ensure!(
        created.outcome == CreateOutcome::Created,
        "the first create of a new resource reported {}",
        created.outcome
    );
    let r = &created.meta().reference;
    ensure!(
        r.provider == adapter.provider().id,
        "reference.provider is {:?}",
        r.provider
    );
    ensure!(
        r.dock_id == adapter.dock_id(),
        "reference.dock_id is {:?}",
        r.dock_id
    );
    ensure!(
        !r.provider_resource_id.is_empty(),
        "empty provider_resource_id"
    );
    let observed = adapter
        .observe(&id, Some(&fixture.create))
        .await
        .map_err(|e| format!("observe after create failed: {e}"))?;
    ensure!(observed.exists(), "observe after create reports absent");
    ensure!(
        observed.up_to_date,
        "observe after create is not up to date: {:?}",
        observed.diff
    );
    if ops.list {
        ensure!(
            list_contains(adapter, kind, &fixture.list_options, &id).await?,
            "list does not contain {id}"
        );
    }
    let Some(update) = fixture.update.as_ref().filter(|_| ops.update) else {
        return Ok(());
    };
    let before = adapter
        .observe(&id, Some(update))
        .await
        .map_err(|e| format!("observe before update failed: {e}"))?;
    ensure!(
        !before.up_to_date,
        "the fixture's update spec does not differ from the created resource"
    );
    let updated = adapter
        .update(&id, update)
        .await
        .map_err(|e| format!("update failed: {e}"))?;
    ensure!(
        updated.id() == id,
        "update changed the id to {}",
        updated.id()
    );
    let after = adapter
        .observe(&id, Some(update))
        .await
        .map_err(|e| format!("observe after update failed: {e}"))?;
    ensure!(
        after.up_to_date,
        "not up to date after update: {:?}",
        after.diff
    );
    Ok(())
}

/// Creating the same spec twice: the first call reports created, the second
/// adopted, with the same id.
pub async fn create_twice(adapter: &dyn DockAdapter, fixture: &Fixture) -> Check {
    let subject = Subject::new(adapter);
    let first = subject
        .create(&fixture.create)
        .await
        .map_err(|e| format!("first create failed: {e}"))?;
    let second = subject.create(&fixture.create).await;
    let result = (|| {
        let second = second.map_err(|e| format!("second create of the same spec failed: {e}"))?;
        ensure!(
            second.id() == first.id(),
            "second create made {} instead of adopting {}",
            second.id(),
            first.id()
        );
        ensure!(
            first.outcome == CreateOutcome::Created,
            "the first create reported {}",
            first.outcome
        );
        ensure!(
            second.outcome == CreateOutcome::Adopted,
            "the second create reported {} instead of adopted",
            second.outcome
        );
        Ok(())
    })();
    subject.cleanup(&first.id(), result).await?;
    Ok(subject.touched())
}

/// Deleting twice succeeds both times.
pub async fn delete_twice(adapter: &dyn DockAdapter, fixture: &Fixture) -> Check {
    let subject = Subject::new(adapter);
    let created = subject
        .create(&fixture.create)
        .await
        .map_err(|e| format!("create failed: {e}"))?;
    adapter
        .delete(&created.id())
        .await
        .map_err(|e| format!("first delete failed: {e}"))?;
    adapter
        .delete(&created.id())
        .await
        .map_err(|e| format!("deleting what is already gone failed: {e}"))?;
    Ok(subject.touched())
}

/// `n` concurrent creates of one spec: exactly one resource, created once
/// and adopted by the rest (or a typed error), never an untyped failure.
pub async fn concurrent_creates(adapter: &dyn DockAdapter, fixture: &Fixture, n: usize) -> Check {
    let subject = Subject::new(adapter);
    let results = join_all((0..n).map(|_| subject.create(&fixture.create))).await;
    let ids: BTreeMap<String, ResourceId> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|c| (c.id().to_string(), c.id()))
        .collect();
    let cleanup = cleanup_ids(adapter, ids.values()).await;
    let created = results
        .iter()
        .filter(|r| matches!(r, Ok(c) if c.was_created()))
        .count();
    if let Some(Err(e)) = results
        .iter()
        .find(|r| matches!(r, Err(e) if untyped(e.kind())))
    {
        return Err(format!("a concurrent create failed untyped: {e}"));
    }
    ensure!(
        ids.len() == 1,
        "{n} concurrent creates made {} resources: {:?}",
        ids.len(),
        ids.keys().collect::<Vec<_>>()
    );
    ensure!(
        created == 1,
        "{created} of {n} concurrent creates reported created (expected 1)"
    );
    cleanup?;
    Ok(subject.touched())
}

async fn cleanup_ids(
    adapter: &dyn DockAdapter,
    ids: impl Iterator<Item = &ResourceId>,
) -> Result<(), String> {
    for id in ids {
        adapter
            .delete(id)
            .await
            .map_err(|e| format!("cleanup delete of {id} failed: {e}"))?;
    }
    Ok(())
}

/// `n` concurrent deletes of one resource all succeed, and it is gone.
pub async fn concurrent_deletes(adapter: &dyn DockAdapter, fixture: &Fixture, n: usize) -> Check {
    let subject = Subject::new(adapter);
    let created = subject
        .create(&fixture.create)
        .await
        .map_err(|e| format!("create failed: {e}"))?;
    let id = created.id();
    let results = join_all((0..n).map(|_| adapter.delete(&id))).await;
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        let _ = adapter.delete(&id).await;
        return Err(format!("one of {n} concurrent deletes failed: {e}"));
    }
    let gone = adapter
        .observe(&id, None)
        .await
        .map_err(|e| format!("observe after deletes failed: {e}"))?;
    ensure!(
        !gone.exists(),
        "{id} still exists after {n} concurrent deletes"
    );
    Ok(subject.touched())
}

/// Points at which [`cancelled_create`] drops a create's future.
pub const CANCEL_AFTER: [Duration; 6] = [
    Duration::ZERO,
    Duration::from_micros(200),
    Duration::from_millis(1),
    Duration::from_millis(3),
    Duration::from_millis(10),
    Duration::from_millis(30),
];

/// A create dropped at several points and then repeated converges to
/// exactly one resource, and nothing is left once it is deleted.
pub async fn cancelled_create(adapter: &dyn DockAdapter, fixture: &Fixture) -> Check {
    let subject = Subject::new(adapter);
    for after in CANCEL_AFTER {
        if let Ok(Ok(created)) = tokio::time::timeout(after, subject.create(&fixture.create)).await
        {
            // It finished in time: nothing was cancelled this round.
            let _ = created;
        }
        let again = subject
            .create(&fixture.create)
            .await
            .map_err(|e| format!("create after a cancel at {after:?} failed: {e}"))?;
        let found = named(adapter, fixture).await?;
        let result = if found.len() == 1 {
            Ok(())
        } else {
            Err(format!(
                "after a cancel at {after:?} and a repeat, {} resources exist: {:?}",
                found.len(),
                found.iter().map(Resource::id).collect::<Vec<_>>()
            ))
        };
        subject.cleanup(&again.id(), result).await?;
        let left = named(adapter, fixture).await?;
        ensure!(
            left.is_empty(),
            "after a cancel at {after:?}, {} orphan(s) remain after delete: {:?}",
            left.len(),
            left.iter().map(Resource::id).collect::<Vec<_>>()
        );
    }
    Ok(subject.touched())
}

/// Tenant A's resource is invisible and immutable to requests scoped to
/// tenant B: never adopted, listed or changed for B.
pub async fn tenant_isolation(adapter: &dyn DockAdapter, fixture: &Fixture) -> Check {
    let subject = Subject::new(adapter);
    let mine = fixture.create_for_tenant("conformance-a");
    let theirs = fixture.create_for_tenant("conformance-b");
    let created = subject
        .create(&mine)
        .await
        .map_err(|e| format!("create for tenant A failed: {e}"))?;
    let id = created.id();
    let result = tenant_isolation_steps(adapter, fixture, &id, &mine, &theirs).await;
    subject.cleanup(&id, result).await?;
    Ok(subject.touched())
}

async fn tenant_isolation_steps(
    adapter: &dyn DockAdapter,
    fixture: &Fixture,
    id: &ResourceId,
    mine: &ResourceSpec,
    theirs: &ResourceSpec,
) -> Result<(), String> {
    if let Ok(got) = adapter.create(theirs).await {
        return Err(format!(
            "tenant B's create returned tenant A's {} ({})",
            got.id(),
            got.outcome
        ));
    }
    let caps = adapter.capabilities();
    if caps.arguments.list_by_tenant && caps.for_kind(fixture.kind()).list {
        let options = ListOptions {
            tenant: Some("conformance-b".into()),
            ..fixture.list_options.clone()
        };
        ensure!(
            !list_contains(adapter, fixture.kind(), &options, id).await?,
            "a listing for tenant B shows tenant A's {id}"
        );
    }
    if caps.for_kind(fixture.kind()).update {
        let update = fixture.update.clone().unwrap_or_else(|| theirs.clone());
        let mut update_b = update;
        crate::fixture::spec_common_mut(&mut update_b).tenant = Some("conformance-b".into());
        ensure!(
            adapter.update(id, &update_b).await.is_err(),
            "tenant B's update changed tenant A's {id}"
        );
    }
    let still = adapter
        .observe(id, Some(mine))
        .await
        .map_err(|e| format!("observe failed: {e}"))?;
    ensure!(
        still.exists() && still.up_to_date,
        "tenant A's {id} changed: {:?}",
        still.diff
    );
    Ok(())
}

/// Listing with `page_size = 1` walks every page: the fixture's resource is
/// there exactly once and no id repeats.
pub async fn paging(adapter: &dyn DockAdapter, fixture: &Fixture) -> Check {
    let subject = Subject::new(adapter);
    let created = subject
        .create(&fixture.create)
        .await
        .map_err(|e| format!("create failed: {e}"))?;
    let id = created.id();
    let options = ListOptions {
        page_size: Some(1),
        ..fixture.list_options.clone()
    };
    let result = async {
        let mut stream = adapter.list_stream(fixture.kind(), &options);
        let mut seen = BTreeSet::new();
        while let Some(item) = stream.next().await {
            let item = item.map_err(|e| format!("list with page_size 1 failed: {e}"))?;
            ensure!(seen.insert(item.id()), "{} listed twice", item.id());
        }
        ensure!(
            seen.contains(&id),
            "{id} missing from a page_size = 1 listing"
        );
        Ok(())
    }
    .await;
    subject.cleanup(&id, result).await?;
    Ok(subject.touched())
}

/// Every argument the adapter does not honour (tenant, labels, list filters)
/// is `Unsupported` before anything is made — never silently dropped.
pub async fn unsupported_arguments(adapter: &dyn DockAdapter, fixtures: &[Fixture]) -> Check {
    let args = adapter.capabilities().arguments;
    let subject = Subject::new(adapter);
    for fixture in fixtures {
        let ops = adapter.capabilities().for_kind(fixture.kind());
        let mut probes: Vec<(&str, ResourceSpec)> = Vec::new();
        if !args.tenancy {
            probes.push(("a tenant", fixture.create_for_tenant("conformance-a")));
        }
        if !args.labels {
            let mut spec = fixture.create.clone();
            crate::fixture::spec_common_mut(&mut spec)
                .labels
                .insert("conformance".into(), "yes".into());
            probes.push(("labels", spec));
        }
        for (what, spec) in probes.into_iter().filter(|_| ops.create) {
            match subject.create(&spec).await {
                Err(e) if matches!(e.kind(), ErrorKind::Unsupported { .. }) => {}
                Err(e) => {
                    return Err(format!(
                        "create with {what} failed with {e}, not Unsupported"
                    ))
                }
                Ok(c) => {
                    let _ = adapter.delete(&c.id()).await;
                    return Err(format!("create with {what} succeeded though not supported"));
                }
            }
        }
        if ops.list {
            list_arguments(adapter, fixture).await?;
        }
    }
    Ok(subject.touched())
}

async fn list_arguments(adapter: &dyn DockAdapter, fixture: &Fixture) -> Result<(), String> {
    let args = adapter.capabilities().arguments;
    let mut probes = Vec::new();
    if !args.list_by_tenant {
        probes.push((
            "a tenant filter",
            ListOptions {
                tenant: Some("conformance-a".into()),
                ..fixture.list_options.clone()
            },
        ));
    }
    if !args.list_by_labels {
        let mut options = fixture.list_options.clone();
        options.labels.insert("conformance".into(), "yes".into());
        probes.push(("a label filter", options));
    }
    if !args.parent_filter && fixture.list_options.parent.is_none() {
        probes.push((
            "a parent filter",
            ListOptions::in_parent("conformance-parent"),
        ));
    }
    for (what, options) in probes {
        match adapter.list(fixture.kind(), &options).await {
            Err(e) if matches!(e.kind(), ErrorKind::Unsupported { .. }) => {}
            Err(e) => return Err(format!("list with {what} failed with {e}, not Unsupported")),
            Ok(page) => {
                return Err(format!(
                    "list with {what} returned a page of {} instead of Unsupported",
                    page.items.len()
                ))
            }
        }
    }
    Ok(())
}

/// No registered secret appears in what the adapter hands back: the
/// resource (Debug, JSON, `provider_data`) and the errors of invalid specs.
pub async fn no_secrets(adapter: &dyn DockAdapter, fixture: &Fixture, secrets: &[String]) -> Check {
    let subject = Subject::new(adapter);
    let created = subject
        .create(&fixture.create)
        .await
        .map_err(|e| format!("create failed: {e}"))?;
    let mut printed = vec![
        format!("{:?}", created),
        serde_json::to_string(&created.resource).unwrap_or_default(),
        created.meta().provider_data.to_string(),
    ];
    for spec in &fixture.invalid {
        if let Err(e) = adapter.create(spec).await {
            printed.push(format!("{e} {e:?}"));
        }
    }
    let leaked = secrets.iter().find(|s| {
        crate::leak::encodings(s)
            .iter()
            .any(|enc| printed.iter().any(|p| p.contains(enc.as_str())))
    });
    let result = match leaked {
        Some(_) => Err("a registered secret appears in a resource or an error".to_owned()),
        None => Ok(()),
    };
    subject.cleanup(&created.id(), result).await?;
    Ok(subject.touched())
}

/// A create whose k-th remote call fails, for every k it makes, leaves
/// nothing half-made: the resource is absent, or a repeat of the create
/// finishes it with exactly one resource.
pub async fn nothing_half_made(
    adapter: &dyn DockAdapter,
    fixture: &Fixture,
    hook: &dyn FaultHook,
) -> Check {
    let subject = Subject::new(adapter);
    for k in 1..=64 {
        hook.fail_call(k);
        let result = subject.create(&fixture.create).await;
        hook.clear();
        match result {
            Ok(created) => {
                // The create needed fewer than k calls: every k was covered.
                subject.cleanup(&created.id(), Ok(())).await?;
                return Ok(subject.touched());
            }
            Err(e) if untyped(e.kind()) && !matches!(e.kind(), ErrorKind::Provider { .. }) => {
                return Err(format!("failing call {k} surfaced untyped: {e}"));
            }
            Err(_) => {}
        }
        let found = named(adapter, fixture).await?;
        if found.is_empty() {
            continue;
        }
        let again = subject
            .create(&fixture.create)
            .await
            .map_err(|e| format!("after failing call {k}, a repeat create failed: {e}"))?;
        let found = named(adapter, fixture).await?;
        let result = if found.len() == 1 {
            Ok(())
        } else {
            Err(format!(
                "after failing call {k} and a repeat, {} resources exist",
                found.len()
            ))
        };
        subject.cleanup(&again.id(), result).await?;
    }
    Err("the create still failed with 64 faults placed: the hook never ran out".into())
}

/// Every (kind, operation) outside the capabilities is `Unsupported`.
pub async fn unsupported_is_explicit(adapter: &dyn DockAdapter, fixtures: &[Fixture]) -> Check {
    let caps = adapter.capabilities();
    let subject = Subject::new(adapter);
    for kind in ResourceKind::ALL {
        let spec = fixtures
            .iter()
            .find(|f| f.kind() == kind)
            .map(|f| f.create.clone())
            .unwrap_or_else(|| default_spec(kind));
        let id = ResourceId::new(kind, "stackdock-conformance-unsupported");
        for op in Operation::ALL {
            if caps.supports(kind, op) {
                continue;
            }
            let result = match op {
                Operation::List => adapter
                    .list(kind, &ListOptions::default())
                    .await
                    .map(|_| ()),
                Operation::Observe => adapter.observe(&id, None).await.map(|_| ()),
                Operation::Create => subject.create(&spec).await.map(|_| ()),
                Operation::Update => adapter.update(&id, &spec).await.map(|_| ()),
                Operation::Delete => adapter.delete(&id).await,
                other => return Err(format!("the testkit does not know {other} yet")),
            };
            match result {
                Err(e) if matches!(e.kind(), ErrorKind::Unsupported { .. }) => {}
                Err(e) => {
                    return Err(format!(
                        "{} is not in capabilities but failed with {e}",
                        op.on(kind)
                    ))
                }
                Ok(()) => {
                    return Err(format!(
                        "{} is not in capabilities but succeeded",
                        op.on(kind)
                    ))
                }
            }
        }
    }
    Ok(subject.touched())
}

/// The adapter's `Debug` output holds none of the registered secrets.
pub fn debug_has_no_secrets(adapter: &dyn DockAdapter, secrets: &[String]) -> Check {
    let plain = format!("{adapter:?}");
    let pretty = format!("{adapter:#?}");
    for secret in secrets {
        ensure!(!secret.is_empty(), "an empty secret was registered");
        ensure!(
            !plain.contains(secret.as_str()) && !pretty.contains(secret.as_str()),
            "Debug output of the adapter contains a registered secret"
        );
    }
    Ok(0)
}

async fn list_contains(
    adapter: &dyn DockAdapter,
    kind: ResourceKind,
    options: &ListOptions,
    id: &ResourceId,
) -> Result<bool, String> {
    let mut stream = adapter.list_stream(kind, options);
    while let Some(item) = stream.next().await {
        let item: Resource = item.map_err(|e| format!("list failed: {e}"))?;
        if &item.id() == id {
            return Ok(true);
        }
    }
    Ok(false)
}
