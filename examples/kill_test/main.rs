//! The kill test, full form: intake load against a release build, `kill -9` mid-load, restart,
//! check everything acknowledged (see `harness.rs`). Run by `scripts/kill_test.sh`.
//!
//! ```text
//! cargo run --release --example kill_test -- [--database URL] [--cycles 10] [--clients 16]
//!     [--kill-after-ms 300-1500] [--binary target/release/yichuang] [--drain-secs 180]
//! ```
//! Without `--database`, a fresh SQLite file in a temp dir. Exit 1 on any violation.

mod harness;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("temp dir: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut plan = harness::Plan {
        binary: root.join("target/release/yichuang"),
        root: root.clone(),
        database_url: format!("sqlite://{}/kill.db", tmp.path().display()),
        cycles: 10,
        clients: 16,
        kill_after_ms: (300, 1500),
        log: tmp.path().join("server.log"),
        drain_secs: 180,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(v) = it.next() else {
            eprintln!("{a} needs a value");
            return ExitCode::FAILURE;
        };
        let ok = match a.as_str() {
            "--database" => {
                plan.database_url = v.clone();
                true
            }
            "--binary" => {
                plan.binary = PathBuf::from(v);
                true
            }
            "--log" => {
                plan.log = PathBuf::from(v);
                true
            }
            "--cycles" => v.parse().map(|n| plan.cycles = n).is_ok(),
            "--drain-secs" => v.parse().map(|n| plan.drain_secs = n).is_ok(),
            "--clients" => v.parse().map(|n| plan.clients = n).is_ok(),
            "--kill-after-ms" => match v.split_once('-').map(|(a, b)| (a.parse(), b.parse())) {
                Some((Ok(lo), Ok(hi))) if lo <= hi => {
                    plan.kill_after_ms = (lo, hi);
                    true
                }
                _ => false,
            },
            _ => false,
        };
        if !ok {
            eprintln!("bad argument: {a} {v}");
            return ExitCode::FAILURE;
        }
    }
    println!(
        "kill test: {} cycles, {} clients, kill {}–{} ms into the load, {}",
        plan.cycles, plan.clients, plan.kill_after_ms.0, plan.kill_after_ms.1, plan.database_url
    );
    match harness::run(&plan, |line| println!("{line}")) {
        Ok(report) => {
            println!("{report}");
            if report.violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("kill test could not run: {e}");
            ExitCode::FAILURE
        }
    }
}
