//! How much the core's conveniences cost over calling an adapter directly.
//!
//! `cargo bench --bench core_overhead` lists 10,000 in-memory resources two
//! ways in the same run — through `DockAdapterExt::list_all` (the stream
//! pagination every caller uses) and through a hand-written loop over
//! `DockAdapter::list` (the raw API) — and reports the ratio.
// criterion_group! generates an undocumented public fn.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use stackdock::spec::DatabaseSpec;
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

criterion_group!(benches, bench);
criterion_main!(benches);
