//! How much the core's conveniences cost over calling an adapter directly.
//!
//! `cargo bench --bench core_overhead` measures, in the same run:
//! * listing 10,000 in-memory resources through `DockAdapterExt::list_all`
//!   (the stream pagination every caller uses) against a hand-written loop
//!   over `DockAdapter::list` (the raw API);
//! * `observe` and `create` (of an existing spec: the adopt path) through the
//!   registry's standard layers (retry + checked) and through the
//!   `CheckedLayer` alone, against the bare in-memory adapter.
//!
//! Each prints the ratio (target for the layers: ≤ 1.05× bare).
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

/// Mean time per call of `call`, over about a second (after a warm-up).
fn per_call(call: &dyn Fn()) -> Duration {
    for _ in 0..10_000 {
        call();
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(1) {
        for _ in 0..1_000 {
            call();
        }
        n += 1_000;
    }
    start.elapsed() / n
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
    let docks: [(&str, Arc<dyn DockAdapter>); 3] = [
        ("bare", bare.clone()),
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

    // Ratios, interleaved three times so machine noise hits every variant.
    let mut best = [[Duration::MAX; 2]; 3];
    for _ in 0..3 {
        for (i, (_, dock)) in docks.iter().enumerate() {
            let observe = per_call(&|| {
                rt.block_on(dock.observe(&id, Some(&spec)))
                    .expect("observe");
            });
            let create = per_call(&|| {
                rt.block_on(dock.create(&spec)).expect("create");
            });
            best[i][0] = best[i][0].min(observe);
            best[i][1] = best[i][1].min(create);
        }
    }
    for (i, (name, _)) in docks.iter().enumerate().skip(1) {
        eprintln!(
            "layers {name}: observe {:?} vs bare {:?} = {:.3}x; create {:?} vs bare {:?} = {:.3}x",
            best[i][0],
            best[0][0],
            best[i][0].as_secs_f64() / best[0][0].as_secs_f64(),
            best[i][1],
            best[0][1],
            best[i][1].as_secs_f64() / best[0][1].as_secs_f64(),
        );
    }
}

criterion_group!(benches, bench, layers);
criterion_main!(benches);
