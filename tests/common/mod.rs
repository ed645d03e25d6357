//! Fixtures shared by the test binaries: a fresh PostgreSQL database per test, and copies of the
//! sample catalog to edit. (Each binary uses a part of it.)
#![allow(dead_code)]

pub mod hostile;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use yichuang::domain::handling::EventKind;
use yichuang::domain::notice::NoticeKind;
use yichuang::store::{CaseRow, NewEvent, NewIntake, NewNotice};

/// The PostgreSQL server of the tests: `YICHUANG_TEST_PG`, by default the local one.
pub fn pg_base() -> String {
    std::env::var("YICHUANG_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn unique_suffix() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh PostgreSQL database, dropped (with FORCE) when the guard goes.
pub struct PgDb {
    pub name: String,
    pub url: String,
}

impl PgDb {
    /// A new database named `<prefix>_<unique>`.
    pub fn new(prefix: &str) -> PgDb {
        let name = format!("{prefix}_{}", unique_suffix());
        let mut admin = PgConnection::establish(&format!("{}/postgres", pg_base()))
            .expect("PostgreSQL must be running for the tests (see YICHUANG_TEST_PG)");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let url = format!("{}/{name}", pg_base());
        PgDb { name, url }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&format!("{}/postgres", pg_base())) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// Copy a directory tree (a rules directory).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Replace the first `from` in a file with `to` (the text must be there).
pub fn edit(file: &Path, from: &str, to: &str) {
    let t = std::fs::read_to_string(file).unwrap();
    assert!(t.contains(from), "{} has no {from:?}", file.display());
    std::fs::write(file, t.replacen(from, to, 1)).unwrap();
}

// ---------------------------------------------------------------- store rows

pub const CENTER: &str = "baishui";
pub const PREFIX: &str = "白水镇政务〔2026〕受字第";

pub fn case_row(id: &str, center: &str) -> CaseRow {
    CaseRow {
        id: id.into(),
        matter_code: "MZ-001".into(),
        bundle_code: None,
        status: "accepted".into(),
        outcome: "accept".into(),
        center_id: center.into(),
        township: Some(center.into()),
        village: None,
        window_id: Some("w1".into()),
        channel: "window".into(),
        clerk_id: "clerk-1".into(),
        agent_id: None,
        applicant_kind: "person".into(),
        applicant_name: "张三".into(),
        applicant_id_number: Some("110101199003074514".into()),
        catalog_hash: "h1".into(),
        application: r#"{"fields":{}}"#.into(),
        assessment: r#"{"outcome":"accept"}"#.into(),
        due_date: Some("2026-12-10".into()),
        received_on: "2026-11-22".into(),
        created_at: 1_763_800_000_000,
        updated_at: 1_763_800_000_000,
        row_version: 7, // ignored: stored as 1
    }
}

pub fn notice(id: &str, kind: NoticeKind, prefix: &str) -> NewNotice {
    NewNotice {
        id: id.into(),
        kind,
        center_id: CENTER.into(),
        year: 2026,
        number_prefix: prefix.into(),
        issued_on: "2026-11-22".into(),
        content: r#"{"text":"受理"}"#.into(),
        result_series: None,
    }
}

pub fn event(action: EventKind) -> NewEvent {
    NewEvent {
        seal: None,
        actor: "clerk-1".into(),
        action,
        catalog_hash: "h1".into(),
        detail: r#"{"k":1}"#.into(),
    }
}

pub fn intake(id: &str) -> NewIntake {
    NewIntake {
        case: case_row(id, CENTER),
        notices: vec![notice(&format!("{id}-n1"), NoticeKind::Acceptance, PREFIX)],
        events: vec![event(EventKind::Intake)],
        idempotency: None,
        lifecycle: None,
    }
}
