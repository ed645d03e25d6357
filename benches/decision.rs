//! Criterion benchmarks of the intake decision and of catalog loading.
//!
//! `cargo bench --bench decision` — numbers are recorded in BENCHMARKS.md.

use std::path::Path;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use yichuang::catalog::{Catalog, CatalogSources};
use yichuang::decide::assess;
use yichuang::domain::application::{Application, Channel, IntakeContext};
use yichuang::domain::assessment::Outcome;

fn base_sources() -> CatalogSources {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = CatalogSources::default();
    for f in [
        "catalog.yaml",
        "org.yaml",
        "calendar/2025.yaml",
        "calendar/2026.yaml",
    ] {
        let text = std::fs::read_to_string(root.join("rules").join(f)).expect("sample file");
        sources.files.insert(f.to_string(), text);
    }
    sources
}

fn fixture(name: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join("benches/fixtures").join(name)).expect("fixture")
}

fn application(name: &str) -> Application {
    serde_json::from_str(&fixture(name)).expect("application")
}

fn catalog_with(n: usize) -> CatalogSources {
    let mut sources = base_sources();
    let text = fixture("typical-matter.yaml");
    for i in 0..n {
        sources.files.insert(
            format!("matters/bench-{i:05}.yaml"),
            text.replace("BENCH-0001", &format!("BENCH-{i:05}")),
        );
    }
    sources
}

fn bench_assess(c: &mut Criterion) {
    let mut sources = catalog_with(1);
    sources.files.insert(
        "matters/bench-rhai.yaml".into(),
        fixture("rhai-matter.yaml"),
    );
    let catalog = Catalog::load(sources).expect("bench catalog loads");
    let ctx = IntakeContext {
        today: NaiveDate::from_ymd_opt(2026, 3, 2).expect("date"),
        township: Some("baishui".into()),
        village: None,
        channel: Channel::Window,
    };
    let app = application("typical-application.json");
    let a = assess(&catalog, "BENCH-00000", &app, &ctx).expect("assessment");
    assert_eq!(a.outcome, Outcome::AcceptedPromised, "{:?}", a.defects);
    c.bench_function(
        "assess typical matter (16 fields, 9 materials, conditional route)",
        |b| b.iter(|| assess(&catalog, "BENCH-00000", &app, &ctx)),
    );
    let json = serde_json::to_string(&app).expect("json");
    c.bench_function("assess typical matter from JSON text", |b| {
        b.iter(|| {
            let app: Application = serde_json::from_str(&json).expect("json");
            assess(&catalog, "BENCH-00000", &app, &ctx)
        })
    });
    // Conditions as policy staff write them for rhai (closures over the members, `age`,
    // working days, string checks, a division); the native evaluator answers the forms it
    // knows and rhai the rest, with the same results (`rules::fast` tests).
    let app = application("rhai-application.json");
    let a = assess(&catalog, "BENCH-RHAI-0001", &app, &ctx).expect("assessment");
    assert_eq!(a.outcome, Outcome::AcceptedPromised, "{:?}", a.defects);
    c.bench_function(
        "assess a matter with scripted household rules (4 members, 11 conditions written for rhai)",
        |b| b.iter(|| assess(&catalog, "BENCH-RHAI-0001", &app, &ctx)),
    );
}

fn bench_load(c: &mut Criterion) {
    let mut group = c.benchmark_group("catalog");
    group.sample_size(10);
    group.bench_function("load + validate + compile 5,000 matters", |b| {
        b.iter_batched(
            || catalog_with(5_000),
            |sources| {
                let catalog = Catalog::load(sources).expect("loads");
                assert_eq!(catalog.matters.len(), 5_000);
                catalog
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_assess, bench_load);
criterion_main!(benches);
