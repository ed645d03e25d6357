//! The kill test, short form (the full form is `scripts/kill_test.sh`, figures in
//! RELIABILITY.md): the built binary under intake load is killed with SIGKILL twice mid-load and
//! restarted; after each restart every acknowledged intake is present and complete, no case is
//! half-written, document numbers are unique and gap-free per series, the audit chains are intact.

#[path = "../examples/kill_test/harness.rs"]
mod harness;

mod common;

use std::path::PathBuf;

fn plan(database_url: String, dir: &std::path::Path) -> harness::Plan {
    harness::Plan {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_yichuang")),
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        database_url,
        cycles: 2,
        clients: 4,
        kill_after_ms: (300, 800),
        log: dir.join("server.log"),
        drain_secs: 0,
    }
}

fn run(plan: &harness::Plan) {
    let report = harness::run(plan, |line| eprintln!("{line}")).expect("the kill test runs");
    eprintln!("{report}");
    assert!(report.violations.is_empty(), "{report}");
    assert_eq!(report.cycles, 2);
    assert!(report.acknowledged > 0, "{report}");
    assert_eq!(report.unexpected_responses, 0, "{report}");
    // A subscriber received events during the load, each committed, in order per case.
    assert!(report.events_received > 0, "{report}");
}

#[test]
fn sqlite_survives_kill_9_mid_load() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/kill.db", dir.path().display());
    run(&plan(url, dir.path()));
}

#[test]
fn postgres_survives_kill_9_mid_load() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::PgDb::new("yc_kill");
    run(&plan(db.url.clone(), dir.path()));
}
