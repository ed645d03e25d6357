//! How long one evaluation of each hostile rule script takes before its limit stops it, on a
//! release build, next to an ordinary decision:
//!
//!   cargo run --release --example hostile_timing            # 20 runs per script
//!   cargo run --release --example hostile_timing -- 100     # more runs
//!
//! The scripts are the run-stage cases of `tests/fixtures/hostile/cases.yaml`, each triggered
//! through `decide::assess` as an intake would. The figures go into RELIABILITY.md; the tests
//! check what happens (the error), never how long it takes.
//!
//!   cargo run --release --example hostile_timing -- --write-dormant DIR
//!
//! writes the dormant hostile catalog (it passes the gate) to DIR/rules and, for each script, a
//! request body that triggers it to DIR/bodies/<id>.json (used by scripts/hostile_load.sh).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::hostile::{hostile_cases, write_hostile_rules, HostileCase, Stage, DORMANT, TRIGGER};
use yichuang::authoring::example_context;
use yichuang::catalog::Catalog;
use yichuang::decide::{assess, DecideError};
use yichuang::domain::application::Application;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn triggered(
    catalog: &Catalog,
    case: &HostileCase,
) -> (Application, yichuang::domain::application::IntakeContext) {
    let ex = &catalog.matter(&case.code).expect("loaded").spec.examples[0];
    let mut app = ex.application.clone();
    app.fields.insert("note".into(), serde_json::json!(TRIGGER));
    (app, example_context(catalog, ex))
}

fn write_dormant(dir: &Path, cases: &[HostileCase]) {
    let rules = dir.join("rules");
    write_hostile_rules(&rules, cases, DORMANT);
    let catalog = Catalog::load_dir(&rules).expect("the dormant catalog loads");
    std::fs::create_dir_all(dir.join("bodies")).expect("bodies dir");
    for c in cases {
        let (app, _) = triggered(&catalog, c);
        let body = serde_json::json!({ "matter": c.code, "application": app });
        std::fs::write(dir.join(format!("bodies/{}.json", c.id)), body.to_string())
            .expect("body written");
    }
    println!("{} hostile matters in {}", cases.len(), rules.display());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cases: Vec<HostileCase> = hostile_cases()
        .into_iter()
        .filter(|c| c.stage == Stage::Run)
        .collect();
    if args.first().map(String::as_str) == Some("--write-dormant") {
        let dir = args.get(1).expect("--write-dormant DIR");
        write_dormant(Path::new(dir), &cases);
        return;
    }
    let runs: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20);

    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("rules");
    write_hostile_rules(&rules, &cases, TRIGGER);
    let catalog = Catalog::load_dir(&rules).expect("the hostile catalog loads");

    // An ordinary decision for comparison: the first example of 低保.
    let dibao = &catalog
        .matter("QS-MZ-001")
        .expect("sample matter")
        .spec
        .examples[0];
    let ctx = example_context(&catalog, dibao);
    let mut normal: Vec<Duration> = (0..runs.max(200))
        .map(|_| {
            let t = Instant::now();
            assess(&catalog, "QS-MZ-001", &dibao.application, &ctx).expect("decides");
            t.elapsed()
        })
        .collect();
    normal.sort();

    println!(
        "{} hostile scripts, {runs} evaluations each (release: {})\n",
        cases.len(),
        !cfg!(debug_assertions)
    );
    println!(
        "{:<10} {:<22} {:<24} {:>9} {:>9} {:>9}  error",
        "matter", "case", "rule", "min ms", "median", "max ms"
    );
    let mut worst = (Duration::ZERO, String::new());
    for c in &cases {
        let (app, ctx) = triggered(&catalog, c);
        let mut times = Vec::with_capacity(runs);
        let mut message = String::new();
        for _ in 0..runs {
            let t = Instant::now();
            let r = assess(&catalog, &c.code, &app, &ctx);
            times.push(t.elapsed());
            match r {
                Err(DecideError::Script(f)) => message = f.message,
                other => panic!("{}: expected a script failure, got {other:?}", c.id),
            }
        }
        times.sort();
        let max = times[times.len() - 1];
        if max > worst.0 {
            worst = (max, c.id.clone());
        }
        println!(
            "{:<10} {:<22} {:<24} {:>9.3} {:>9.3} {:>9.3}  {}",
            c.code,
            c.id,
            c.at.path(),
            ms(times[0]),
            ms(times[times.len() / 2]),
            ms(max),
            message.chars().take(48).collect::<String>()
        );
    }
    println!(
        "\nordinary decision (QS-MZ-001 example, {} runs): median {:.3} ms, max {:.3} ms",
        normal.len(),
        ms(normal[normal.len() / 2]),
        ms(normal[normal.len() - 1])
    );
    println!(
        "worst hostile evaluation: {:.1} ms ({})",
        ms(worst.0),
        worst.1
    );
}
