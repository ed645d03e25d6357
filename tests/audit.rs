//! The tamper-evident case history on SQLite and PostgreSQL: entries written through the store
//! chain by SHA-256, and rows altered, deleted or inserted directly in the database (append-only
//! triggers dropped or disabled first, as someone with database access could) are caught by
//! `store::verify_audit` and by `yichuang audit verify`, which names the first broken entry.

use std::process::{Command, Output};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};
use yichuang::domain::handling::EventKind;
use yichuang::store::audit::{entry_hash, AuditReport, BreakKind, GENESIS};
use yichuang::store::{verify_audit, CaseUpdate, EventRow, Store, StoreOptions};

mod common;
use common::{event, intake, PgDb};

// ---------------------------------------------------------------- fixtures

enum Db {
    Sqlite(#[allow(dead_code)] tempfile::TempDir, String),
    Pg(PgDb),
}

impl Db {
    fn sqlite() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/yc.db", dir.path().display());
        Db::Sqlite(dir, url)
    }

    fn pg() -> Db {
        Db::Pg(PgDb::new("yc_audit"))
    }

    fn url(&self) -> &str {
        match self {
            Db::Sqlite(_, url) => url,
            Db::Pg(db) => &db.url,
        }
    }

    /// Runs SQL directly on the database, around the store.
    fn exec(&self, sql: &str) -> Result<(), diesel::result::Error> {
        match self {
            Db::Sqlite(_, url) => {
                let mut c = SqliteConnection::establish(url.trim_start_matches("sqlite://"))
                    .expect("open the SQLite file");
                // The store's checkpoint thread may still hold the file for a moment.
                c.batch_execute("PRAGMA busy_timeout = 5000")?;
                c.batch_execute(sql)
            }
            Db::Pg(db) => {
                let mut c = PgConnection::establish(&db.url).expect("connect");
                c.batch_execute(sql)
            }
        }
    }

    /// Lifts the append-only triggers of `case_events`.
    fn lift_append_only(&self) {
        let sql = match self {
            Db::Sqlite(..) => {
                "DROP TRIGGER case_events_no_update; DROP TRIGGER case_events_no_delete;"
            }
            Db::Pg(_) => "ALTER TABLE case_events DISABLE TRIGGER case_events_no_update_delete;",
        };
        self.exec(sql).unwrap();
    }
}

fn supplement(case_id: &str, expected: i64, n: i64) -> CaseUpdate {
    let mut e = event(EventKind::Supplement);
    e.detail = format!(r#"{{"round":{n}}}"#);
    CaseUpdate {
        case_id: case_id.into(),
        expected_row_version: expected,
        status: "supplemented".into(),
        outcome: "accept".into(),
        application: r#"{"fields":{}}"#.into(),
        assessment: r#"{"outcome":"accept"}"#.into(),
        due_date: None,
        notices: vec![],
        events: vec![e],
        now_ms: 1_763_900_000_000 + n,
        move_to_catalog: None,
        lifecycle: None,
        idempotency: None,
    }
}

/// a1: 1 entry; a2: 3 entries; a3: 2 entries. Returns the store (closed by the caller).
fn populate(url: &str) -> Store {
    let s = Store::open(url, StoreOptions::default()).unwrap();
    for id in ["a1", "a2", "a3"] {
        s.commit_intake(intake(id)).unwrap();
    }
    s.update_case(supplement("a2", 1, 1)).unwrap();
    s.update_case(supplement("a2", 2, 2)).unwrap();
    s.update_case(supplement("a3", 1, 3)).unwrap();
    s
}

/// The hash of `e` chained to `prev`, with its actor and detail replaced.
fn rehash(e: &EventRow, prev: &str, actor: &str, detail: &str) -> String {
    entry_hash(
        prev,
        &e.case_id,
        e.at,
        actor,
        &e.action,
        &e.catalog_hash,
        detail,
    )
}

fn verify(db: &Db) -> AuditReport {
    verify_audit(db.url()).unwrap()
}

fn expect_first_break(r: &AuditReport, case_id: &str, event_id: Option<i64>, kind: BreakKind) {
    let b = r
        .first_break()
        .unwrap_or_else(|| panic!("no break found: {r:?}"));
    assert_eq!(
        (b.case_id.as_str(), b.event_id, b.kind),
        (case_id, event_id, kind),
        "{r:?}"
    );
}

// ---------------------------------------------------------------- store level

/// Every entry links to the one before it (the first to genesis) and carries the hash of its
/// own content; the case row keeps the last hash.
fn entries_are_chained(db: &Db) {
    let s = populate(db.url());
    let trail: Vec<EventRow> = s.events_of_case("a2").unwrap();
    assert_eq!(trail.len(), 3);
    let mut prev = GENESIS.to_string();
    for e in &trail {
        assert_eq!(e.prev_hash.as_deref(), Some(prev.as_str()));
        let h = rehash(e, &prev, &e.actor, &e.detail);
        assert_eq!(e.hash.as_deref(), Some(h.as_str()));
        prev = h;
    }
    drop(s);
    let r = verify(db);
    assert!(r.intact(), "{r:?}");
    assert_eq!((r.cases, r.entries, r.pre_chain_entries), (3, 6, 0));
    // The triggers still refuse changes made without lifting them.
    assert!(db.exec("UPDATE case_events SET detail = '{}'").is_err());
    assert!(db.exec("DELETE FROM case_events").is_err());
}

fn an_altered_entry_is_named(db: &Db) {
    let s = populate(db.url());
    let trail = s.events_of_case("a2").unwrap();
    drop(s);
    let middle = &trail[1];
    db.lift_append_only();
    db.exec(&format!(
        "UPDATE case_events SET detail = '{{\"round\":9}}' WHERE id = {}",
        middle.id
    ))
    .unwrap();
    let r = verify(db);
    assert_eq!(r.broken, 1, "{r:?}");
    expect_first_break(&r, "a2", Some(middle.id), BreakKind::Altered);
    let b = r.first_break().unwrap();
    assert_eq!(Some(b.stored.as_str()), middle.hash.as_deref());
    let prev = middle.prev_hash.as_deref().unwrap();
    let recomputed = rehash(middle, prev, &middle.actor, r#"{"round":9}"#);
    assert_eq!(b.expected, recomputed);

    // Put back exactly as it was: intact again (the check is about content, not about touching).
    db.exec(&format!(
        "UPDATE case_events SET detail = '{}' WHERE id = {}",
        middle.detail, middle.id
    ))
    .unwrap();
    assert!(verify(db).intact());

    // Altered and re-hashed by someone who knows the scheme: the next entry no longer links.
    let forged = rehash(middle, prev, "someone-else", &middle.detail);
    db.exec(&format!(
        "UPDATE case_events SET actor = 'someone-else', hash = '{forged}' WHERE id = {}",
        middle.id
    ))
    .unwrap();
    let r = verify(db);
    expect_first_break(&r, "a2", Some(trail[2].id), BreakKind::Unlinked);
    assert_eq!(
        r.first_break().unwrap().stored,
        middle.hash.clone().unwrap()
    );
    assert_eq!(r.first_break().unwrap().expected, forged);
}

fn deleted_entries_are_named(db: &Db) {
    let s = populate(db.url());
    let a1 = s.events_of_case("a1").unwrap();
    let a2 = s.events_of_case("a2").unwrap();
    let a3 = s.events_of_case("a3").unwrap();
    drop(s);
    db.lift_append_only();
    // A middle entry of a2: the entry after it no longer links.
    db.exec(&format!("DELETE FROM case_events WHERE id = {}", a2[1].id))
        .unwrap();
    // The last entry of a3: the case row's head gives it away.
    db.exec(&format!("DELETE FROM case_events WHERE id = {}", a3[1].id))
        .unwrap();
    // The whole trail of a1.
    db.exec(&format!("DELETE FROM case_events WHERE id = {}", a1[0].id))
        .unwrap();
    let r = verify(db);
    assert_eq!(r.broken, 3, "{r:?}");
    // Earliest entry first: a3's remaining entry (written before a2's third), then a2's third,
    // then the case without entries.
    let unlinked = &r.breaks[1];
    assert_eq!(unlinked.expected, a2[0].hash.clone().unwrap());
    assert_eq!(unlinked.stored, a2[1].hash.clone().unwrap());
    let head = &r.breaks[0];
    assert!(
        head.expected.starts_with(a3[1].hash.as_deref().unwrap()),
        "{head:?}"
    );
    assert!(
        head.stored.starts_with(a3[0].hash.as_deref().unwrap()),
        "{head:?}"
    );
    let kinds: Vec<_> = r
        .breaks
        .iter()
        .map(|b| (b.case_id.as_str(), b.event_id, b.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("a3", Some(a3[0].id), BreakKind::HeadMismatch),
            ("a2", Some(a2[2].id), BreakKind::Unlinked),
            ("a1", None, BreakKind::NoTrail),
        ]
    );
}

/// Inserts an entry without a hash (as SQL around the store would) and expects verify to name it.
fn expect_unhashed_entry_named(db: &Db, case_id: &str) {
    db.exec(&format!(
        "INSERT INTO case_events (case_id, at, actor, action, catalog_hash, detail) \
         VALUES ('{case_id}', 5, 'x', 'note', 'h1', '{{}}')"
    ))
    .unwrap();
    let r = verify(db);
    assert_eq!(r.broken, 1, "{r:?}");
    assert_eq!(r.first_break().unwrap().kind, BreakKind::Unchained);
    assert_eq!(r.first_break().unwrap().case_id, case_id);
}

fn entries_written_around_the_store_are_named(db: &Db) {
    drop(populate(db.url()));
    expect_unhashed_entry_named(db, "a1");
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[test] fn $name() { super::$name(&super::Db::sqlite()); } )* }
        mod postgres { $( #[test] fn $name() { super::$name(&super::Db::pg()); } )* }
    };
}

on_both!(
    entries_are_chained,
    an_altered_entry_is_named,
    deleted_entries_are_named,
    entries_written_around_the_store_are_named,
    entries_from_before_the_chain_are_reported_not_broken,
    cli_verify_names_the_first_broken_entry,
);

// ---------------------------------------------------------------- before the chain

/// A database with cases and entries written before the audit-chain migration: the migration
/// leaves them as they are and verify counts them as "before the chain"; the trail continues
/// chained from genesis, and an entry without a hash written after the migration is a break.
fn entries_from_before_the_chain_are_reported_not_broken(db: &Db) {
    use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
    const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
    const PG: EmbeddedMigrations = embed_migrations!("migrations/postgres");
    const CHAIN: &str = "2026-11-23-000004";
    fn before_chain<C: MigrationHarness<B>, B: diesel::backend::Backend>(
        c: &mut C,
        m: EmbeddedMigrations,
    ) {
        for mig in c.pending_migrations(m).unwrap() {
            if mig.name().to_string().as_str() < CHAIN {
                c.run_migration(&*mig).unwrap();
            }
        }
    }
    match db {
        Db::Sqlite(_, url) => {
            let mut c = SqliteConnection::establish(url.trim_start_matches("sqlite://")).unwrap();
            before_chain(&mut c, SQLITE);
        }
        Db::Pg(p) => {
            let mut c = PgConnection::establish(&p.url).unwrap();
            before_chain(&mut c, PG);
        }
    }
    let case_columns = "id, matter_code, status, outcome, center_id, channel, clerk_id, \
        applicant_kind, applicant_name, catalog_hash, application, assessment, received_on, \
        created_at, updated_at, row_version";
    db.exec(&format!(
        "INSERT INTO cases ({case_columns}) VALUES \
           ('old1', 'MZ-001', 'accepted', 'accept', 'baishui', 'window', 'c', 'person', 'x', 'h1', '{{}}', '{{}}', '2026-01-05', 1, 1, 1); \
         INSERT INTO case_events (case_id, at, actor, action, catalog_hash, detail) VALUES \
           ('old1', 1, 'c', 'intake', 'h1', '{{}}'), ('old1', 2, 'c', 'supplement', 'h1', '{{}}');"
    ))
    .unwrap();

    let s = Store::open(db.url(), StoreOptions::default()).unwrap();
    let r = verify(db);
    assert!(r.intact(), "{r:?}");
    assert_eq!((r.cases, r.entries, r.pre_chain_entries), (1, 2, 2));

    // New entries of that case and new cases are chained.
    s.update_case(supplement("old1", 1, 1)).unwrap();
    s.commit_intake(intake("new1")).unwrap();
    let trail = s.events_of_case("old1").unwrap();
    assert_eq!(trail[2].prev_hash.as_deref(), Some(GENESIS));
    drop(s);
    let r = verify(db);
    assert!(r.intact(), "{r:?}");
    assert_eq!((r.cases, r.entries, r.pre_chain_entries), (2, 4, 2));

    // An unhashed entry after the migration is no "old" entry.
    expect_unhashed_entry_named(db, "new1");
}

// ---------------------------------------------------------------- the command line

fn yichuang(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yichuang"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn cli_verify_names_the_first_broken_entry(db: &Db) {
    let s = populate(db.url());
    let a2 = s.events_of_case("a2").unwrap();
    drop(s);
    let o = yichuang(&["audit", "verify", "--database", db.url()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("intact: 3 cases, 6 entries"), "{out}");
    // Without a terminal (here: a pipe) no progress bar is drawn: the output stays clean.
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("audit verify ["),
        "{o:?}"
    );
    // On a terminal (a pseudo-terminal from util-linux `script`) the bar is drawn on stderr.
    let shown = Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "{} audit verify --database '{}'",
            env!("CARGO_BIN_EXE_yichuang"),
            db.url()
        ))
        .arg("/dev/null")
        .output()
        .expect("script (util-linux) runs");
    let tty = String::from_utf8_lossy(&shown.stdout);
    assert!(
        tty.contains("audit verify [") && tty.contains("/3 ("),
        "{tty}"
    );
    assert!(tty.contains("intact: 3 cases"), "{tty}");

    db.lift_append_only();
    db.exec(&format!(
        "UPDATE case_events SET detail = '{{\"round\":7}}' WHERE id = {}",
        a2[1].id
    ))
    .unwrap();
    let o = yichuang(&["audit", "verify", "--database", db.url()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("BROKEN"), "{out}");
    assert!(out.contains("case:     a2"), "{out}");
    assert!(out.contains(&format!("entry:    {}", a2[1].id)), "{out}");
    assert!(
        out.contains(&format!("stored:   {}", a2[1].hash.as_deref().unwrap())),
        "{out}"
    );
    assert!(out.contains("expected: "), "{out}");
    assert!(out.contains("altered"), "{out}");
}

#[test]
fn cli_verify_of_a_missing_database_fails_without_creating_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.db");
    let o = yichuang(&[
        "audit",
        "verify",
        "--database",
        &format!("sqlite://{}", path.display()),
    ]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no SQLite database"),
        "{o:?}"
    );
    assert!(!path.exists());
}
