//! How much the core's conveniences cost over calling an adapter directly.
//!
//! `cargo bench --bench core_overhead` measures, in the same run:
//! * listing 10,000 in-memory resources through `DockAdapterExt::list_all`
//!   (the stream pagination every caller uses) against a hand-written loop
//!   over `DockAdapter::list` (the raw API);
//! * `observe` and `create` (of an existing spec: the adopt path) through the
//!   registry's standard layers (retry + checked), through the
//!   `CheckedLayer` alone, and through a layer that only forwards, written
//!   the usual way (`async fn` through `async_trait`: one more boxed future
//!   and state machine per call), against the bare in-memory adapter. The
//!   bare adapter validates the spec itself, as it must when called without
//!   the layer; behind the layer it receives the layer's validated spec
//!   (`DockAdapter::create_checked`) and does not validate it again.
//!
//! Each prints the ratio (target for the layers: ≤ 1.05× bare). The layer
//! ratios come from 1,500 rounds of 200-call batches per dock and operation,
//! the docks taking turns, so that load from other processes hits bare and
//! layered alike; the fastest batch of each is compared (and the median,
//! printed beside it). Run it alone for the criterion numbers; the ratios
//! hold up on a loaded machine.
// criterion_group! generates an undocumented public fn.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use stackdock::spec::{DatabaseSpec, ResourceSpec};
use stackdock::*;

const N: usize = 10_000;

fn setup(rt: &tokio::runtime::Runtime) -> InMemoryAdapter {
    let adapter = InMemoryAdapter::new("bench");
    rt.block_on(async {
        for i in 0..N {
            adapter
                .create(
                    &DatabaseSpec {
                        name: format!("db{i:05}"),
                        ..Default::default()
                    }
                    .into(),
                )
                .await
                .expect("create");
        }
    });
    adapter
}

async fn raw_pages(adapter: &InMemoryAdapter) -> usize {
    let mut opts = ListOptions {
        page_size: Some(100),
        ..Default::default()
    };
    let mut count = 0;
    loop {
        let page = adapter
            .list(ResourceKind::Database, &opts)
            .await
            .expect("list");
        count += page.items.len();
        match page.next_cursor {
            Some(c) => opts.cursor = Some(c),
            None => return count,
        }
    }
}

async fn via_stream(adapter: &InMemoryAdapter) -> usize {
    let opts = ListOptions {
        page_size: Some(100),
        ..Default::default()
    };
    adapter
        .list_all(ResourceKind::Database, &opts)
        .await
        .expect("list_all")
        .len()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let adapter = setup(&rt);
    let mut group = c.benchmark_group("list_10k");
    group.bench_function("raw_list_pages", |b| {
        b.to_async(&rt).iter(|| raw_pages(&adapter))
    });
    group.bench_function("list_all_stream", |b| {
        b.to_async(&rt).iter(|| via_stream(&adapter))
    });
    group.finish();

    // The ratio, measured back to back in this run.
    let time = |f: &dyn Fn() -> usize| {
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < Duration::from_secs(2) {
            assert_eq!(f(), N);
            n += 1;
        }
        start.elapsed() / n
    };
    let raw = time(&|| rt.block_on(raw_pages(&adapter)));
    let stream = time(&|| rt.block_on(via_stream(&adapter)));
    eprintln!(
        "list 10k: raw {raw:?}, list_all {stream:?}, ratio {:.3}",
        stream.as_secs_f64() / raw.as_secs_f64()
    );
}

/// A layer that only forwards, as an `async fn`: one more boxed future,
/// state machine and virtual call per operation.
#[derive(Debug)]
struct Forward(Arc<dyn DockAdapter>);

#[stackdock::async_trait]
impl DockAdapter for Forward {
    fn provider(&self) -> &ProviderInfo {
        self.0.provider()
    }

    fn dock_id(&self) -> &str {
        self.0.dock_id()
    }

    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }

    async fn check_credentials(&self) -> Result<()> {
        self.0.check_credentials().await
    }

    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        self.0.observe(id, desired).await
    }

    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        self.0.create(spec).await
    }
}

/// Calls per timed batch of the ratio measurement.
const BATCH: u32 = 200;
/// Batches per (dock, operation): taken in turn (bare, checked, standard,
/// bare, …) so that load from other processes hits every variant alike.
const ROUNDS: usize = 1500;

async fn observe_batch(dock: &dyn DockAdapter, id: &ResourceId, spec: &ResourceSpec) {
    for _ in 0..BATCH {
        dock.observe(id, Some(spec)).await.expect("observe");
    }
}

async fn create_batch(dock: &dyn DockAdapter, spec: &ResourceSpec) {
    for _ in 0..BATCH {
        dock.create(spec).await.expect("create");
    }
}

/// Per-call times of one batch, fastest and median over the rounds.
struct Times(Vec<Duration>);

impl Times {
    fn push(&mut self, batch: Duration) {
        self.0.push(batch / BATCH);
    }

    fn fastest(&self) -> Duration {
        self.0.iter().copied().min().unwrap_or_default()
    }

    fn median(&mut self) -> Duration {
        self.0.sort();
        self.0[self.0.len() / 2]
    }
}

fn layers(c: &mut Criterion) {
    use stackdock::layer::{CheckedLayer, Layer};
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bare = Arc::new(InMemoryAdapter::new("bench"));
    let spec: ResourceSpec = DatabaseSpec {
        name: "shop".into(),
        connection_limit: Some(5),
        ..Default::default()
    }
    .into();
    let id = rt.block_on(bare.create(&spec)).expect("create").id();
    let docks: [(&str, Arc<dyn DockAdapter>); 4] = [
        ("bare", bare.clone()),
        ("forward", Arc::new(Forward(bare.clone()))),
        ("checked", CheckedLayer.layer(bare.clone())),
        ("standard", stackdock::layer::standard(bare.clone())),
    ];
    let mut group = c.benchmark_group("layers");
    for (name, dock) in &docks {
        group.bench_function(format!("observe/{name}"), |b| {
            b.to_async(&rt).iter(|| dock.observe(&id, Some(&spec)))
        });
        group.bench_function(format!("create/{name}"), |b| {
            b.to_async(&rt).iter(|| dock.create(&spec))
        });
    }
    group.finish();

    // Ratios: many short batches, every dock in turn, in this one run. The
    // fastest batch is the call without interference (noise only ever adds
    // time); the median is printed beside it.
    let mut times: Vec<[Times; 2]> = docks
        .iter()
        .map(|_| [Times(Vec::new()), Times(Vec::new())])
        .collect();
    for _ in 0..ROUNDS {
        for (i, (_, dock)) in docks.iter().enumerate() {
            let start = Instant::now();
            rt.block_on(observe_batch(&**dock, &id, &spec));
            times[i][0].push(start.elapsed());
            let start = Instant::now();
            rt.block_on(create_batch(&**dock, &spec));
            times[i][1].push(start.elapsed());
        }
    }
    let (bare, layered) = times.split_at_mut(1);
    let bare = &mut bare[0];
    for ((name, _), layered) in docks.iter().skip(1).zip(layered) {
        for (op, (mine, base)) in ["observe", "create"]
            .iter()
            .zip(layered.iter_mut().zip(bare.iter_mut()))
        {
            eprintln!(
                "layers {name} {op}: {:?} vs bare {:?} = {:.3}x (median {:?} vs {:?} = {:.3}x)",
                mine.fastest(),
                base.fastest(),
                mine.fastest().as_secs_f64() / base.fastest().as_secs_f64(),
                mine.median(),
                base.median(),
                mine.median().as_secs_f64() / base.median().as_secs_f64(),
            );
        }
    }
}

criterion_group!(benches, bench, layers);
criterion_main!(benches);
