//! `yichuang backup` and `yichuang restore` with the real binary on real SQLite files: a backup
//! taken while clients keep posting intakes restores to a database that passes `audit verify`
//! and holds every intake acknowledged before the backup began; restore refuses what it must;
//! PostgreSQL is pointed to pg_dump (exit 2).

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use yichuang::store::{Store, StoreOptions};

mod common;
#[path = "common/service.rs"]
mod service;
use service::{dibao, sqlite_file, text, yichuang, Dibao, Server, CLERK};

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    id: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn open(path: &Path) -> SqliteConnection {
    let mut c = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    c.batch_execute("PRAGMA busy_timeout = 5000").unwrap();
    c
}

fn case_ids(path: &Path) -> HashSet<String> {
    diesel::sql_query("SELECT id FROM cases")
        .load::<Id>(&mut open(path))
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

fn count(path: &Path, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .load::<Count>(&mut open(path))
        .unwrap()[0]
        .n
}

/// An intake acknowledged to a client, and when the answer arrived.
struct Ack {
    case_id: String,
    at: Instant,
}

/// `clients` threads posting intakes (complete, incomplete, refused in turn) until `stop`.
fn load(
    addr: &str,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<(Vec<Ack>, Vec<String>)>> {
    (0..clients)
        .map(|w| {
            let addr = addr.to_string();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut http = service::Http::new(&addr);
                let (mut acks, mut unexpected) = (Vec::new(), Vec::new());
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let kind = match n % 3 {
                        0 => Dibao::Incomplete,
                        1 => Dibao::Complete,
                        _ => Dibao::Refused,
                    };
                    match http.post("/api/v1/cases", CLERK, &dibao(kind, n * 10 + w as u64)) {
                        Ok(a) if a.status == 201 => acks.push(Ack {
                            case_id: a.body["case"]["id"].as_str().unwrap_or_default().into(),
                            at: Instant::now(),
                        }),
                        Ok(a) => unexpected.push(format!("{} {}", a.status, a.body)),
                        Err(e) => unexpected.push(format!("no answer: {e}")),
                    }
                }
                (acks, unexpected)
            })
        })
        .collect()
}

#[test]
fn a_backup_under_intake_load_restores_every_acknowledged_intake() {
    let dir = tempfile::tempdir().unwrap();
    let live = format!("sqlite://{}/live.db", dir.path().display());
    let server = Server::start(&live, &dir.path().join("server.log"));

    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(&server.addr, 4, stop.clone());
    // Let the database grow under load first, so the backup has something to copy.
    std::thread::sleep(Duration::from_millis(2500));

    let backup = dir.path().join("backups/live-backup.db");
    let began = Instant::now();
    let out = yichuang(&[
        "backup",
        "--to",
        backup.to_str().unwrap(),
        "--database",
        &live,
    ]);
    let ended = Instant::now();
    // The load goes on after the backup too.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let mut acks = Vec::new();
    let mut unexpected = Vec::new();
    for c in clients {
        let (a, u) = c.join().unwrap();
        acks.extend(a);
        unexpected.extend(u);
    }
    server.stop();
    assert!(out.status.success(), "{}", text(&out));
    assert!(unexpected.is_empty(), "{unexpected:?}");

    let before: Vec<&Ack> = acks.iter().filter(|a| a.at < began).collect();
    let during = acks
        .iter()
        .filter(|a| a.at >= began && a.at <= ended)
        .count();
    let after = acks.len() - before.len() - during;
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!(
        "acknowledged: {} before the backup began, {during} while it ran ({:.0?}), {after} after",
        before.len(),
        ended - began
    );
    assert!(before.len() > 100, "too little load before the backup");
    // The service kept taking intakes while the backup ran: it was taken under load.
    assert!(
        during > 0,
        "no intake was acknowledged while the backup ran"
    );

    // The backup names its figures.
    let stdout = String::from_utf8_lossy(&out.stdout);
    for label in [
        "size:",
        "cases:",
        "snapshot:",
        "time:",
        "audit verify intact",
    ] {
        assert!(stdout.contains(label), "{stdout}");
    }
    // No working file is left next to it.
    let names: Vec<String> = std::fs::read_dir(backup.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["live-backup.db"]);

    // Restore into a new database; `audit verify` passes on it.
    let restored = format!("sqlite://{}/restored/yichuang.db", dir.path().display());
    let out = yichuang(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--database",
        &restored,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = yichuang(&["audit", "verify", "--database", &restored]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact"));

    // Every intake acknowledged before the backup began is there, whole.
    let restored_path = sqlite_file(&restored);
    let ids = case_ids(&restored_path);
    let missing: Vec<&str> = before
        .iter()
        .map(|a| a.case_id.as_str())
        .filter(|id| !ids.contains(*id))
        .collect();
    assert!(missing.is_empty(), "missing after restore: {missing:?}");
    assert_eq!(
        count(
            &restored_path,
            "SELECT COUNT(*) AS n FROM cases c WHERE NOT EXISTS (SELECT 1 FROM notices n WHERE n.case_id = c.id) \
             OR NOT EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id)"
        ),
        0,
        "a restored case lacks its notices or its audit entry"
    );
    // Nothing the service never had; the live database went on past the snapshot.
    let live_ids = case_ids(&sqlite_file(&live));
    assert!(ids.is_subset(&live_ids));
    assert!(live_ids.len() > ids.len());
    assert!(ids.len() >= before.len());
}

/// A database with `n` cases written through the store, closed.
fn database_with_cases(path: &Path, prefix: &str, n: usize) -> String {
    let url = format!("sqlite://{}", path.display());
    let s = Store::open(&url, StoreOptions::default()).unwrap();
    for i in 0..n {
        s.commit_intake(common::intake(&format!("{prefix}{i}")))
            .unwrap();
    }
    drop(s);
    url
}

fn backup_of(url: &str, to: &Path) {
    let out = yichuang(&["backup", "--to", to.to_str().unwrap(), "--database", url]);
    assert!(out.status.success(), "{}", text(&out));
}

fn refused(out: &std::process::Output, code: i32, says: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(says), "expected {says:?}: {}", text(out));
}

#[test]
fn restore_refuses_an_existing_target_and_unsound_backups() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let source = database_with_cases(&d.join("source.db"), "s", 5);
    let good = d.join("good.db");
    backup_of(&source, &good);

    // The target exists: refused without --force, the target untouched.
    let target_url = database_with_cases(&d.join("target.db"), "t", 2);
    let target = sqlite_file(&target_url);
    let before = std::fs::read(&target).unwrap();
    let out = yichuang(&[
        "restore",
        "--from",
        good.to_str().unwrap(),
        "--database",
        &target_url,
    ]);
    refused(&out, 1, "--force");
    assert_eq!(std::fs::read(&target).unwrap(), before);

    // A damaged file: a page in the middle overwritten.
    let damaged = d.join("damaged.db");
    let mut bytes = std::fs::read(&good).unwrap();
    let page = 4096 * (bytes.len() / 4096 / 2);
    bytes[page..page + 4096].fill(0x5a);
    std::fs::write(&damaged, bytes).unwrap();
    // A backup whose audit trail was altered (triggers dropped, as someone with the file could).
    let tampered = d.join("tampered.db");
    std::fs::copy(&good, &tampered).unwrap();
    open(&tampered)
        .batch_execute(
            "DROP TRIGGER case_events_no_update; \
             UPDATE case_events SET detail = '{\"k\":2}' WHERE case_id = 's3';",
        )
        .unwrap();
    // A SQLite file that is not a yichuang database, and one that is not SQLite at all.
    let foreign = d.join("foreign.db");
    open(&foreign)
        .batch_execute("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let text_file = d.join("notes.db");
    std::fs::write(&text_file, "备份说明\n".repeat(2000)).unwrap();

    for (file, says) in [
        (&damaged, "not a sound yichuang database"),
        (&tampered, "audit verify"),
        (&foreign, "not a yichuang database"),
        (&text_file, "not a sound yichuang database"),
        (&d.join("missing.db"), "cannot read"),
    ] {
        for force in [false, true] {
            let mut args = vec![
                "restore",
                "--from",
                file.to_str().unwrap(),
                "--database",
                &target_url,
            ];
            if force {
                args.push("--force");
            }
            let out = yichuang(&args);
            refused(&out, 1, says);
            assert_eq!(
                std::fs::read(&target).unwrap(),
                before,
                "{}",
                file.display()
            );
        }
    }
    let tampered_said = String::from_utf8_lossy(
        &yichuang(&[
            "restore",
            "--from",
            tampered.to_str().unwrap(),
            "--database",
            &target_url,
        ])
        .stderr,
    )
    .into_owned();
    assert!(tampered_said.contains("case s3"), "{tampered_said}");

    // The target has a stale WAL holding transactions of its own (not checkpointed): --force
    // replaces the database and removes the WAL, which would otherwise be replayed into the
    // restored file.
    let wal = d.join("target.db-wal");
    let shm = d.join("target.db-shm");
    {
        let mut c = open(&target);
        c.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; \
             CREATE TABLE stale_marker (x); INSERT INTO stale_marker VALUES (1);",
        )
        .unwrap();
        // Keep the WAL as it is while the connection is open (closing it checkpoints).
        std::fs::copy(&wal, d.join("wal.keep")).unwrap();
        std::fs::copy(&shm, d.join("shm.keep")).unwrap();
    }
    std::fs::copy(d.join("wal.keep"), &wal).unwrap();
    std::fs::copy(d.join("shm.keep"), &shm).unwrap();
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    let out = yichuang(&[
        "restore",
        "--from",
        good.to_str().unwrap(),
        "--database",
        &target_url,
        "--force",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("replaced"), "{said}");
    assert!(said.contains("target.db-wal (stale)"), "{said}");
    assert!(!wal.exists() && !shm.exists());
    let ids = case_ids(&target);
    let want: HashSet<String> = (0..5).map(|i| format!("s{i}")).collect();
    assert_eq!(ids, want);
    assert_eq!(
        count(
            &target,
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'stale_marker'"
        ),
        0
    );
    let out = yichuang(&["audit", "verify", "--database", &target_url]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn backup_never_overwrites_never_creates_and_sends_postgresql_to_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let source = database_with_cases(&d.join("source.db"), "s", 2);

    // An existing destination is never overwritten.
    let existing = d.join("existing.db");
    std::fs::write(&existing, "keep me").unwrap();
    let out = yichuang(&[
        "backup",
        "--to",
        existing.to_str().unwrap(),
        "--database",
        &source,
    ]);
    refused(&out, 1, "never overwritten");
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");

    // A missing database is not created.
    let missing = format!("sqlite://{}/nothing/here.db", d.display());
    let out = yichuang(&[
        "backup",
        "--to",
        d.join("b.db").to_str().unwrap(),
        "--database",
        &missing,
    ]);
    refused(&out, 1, "no SQLite database");
    assert!(!d.join("nothing").exists() && !d.join("b.db").exists());

    // The backup itself is a single file in rollback-journal mode, verified.
    let b = d.join("b2.db");
    backup_of(&source, &b);
    assert_eq!(case_ids(&b).len(), 2);
    let header = std::fs::read(&b).unwrap();
    assert_eq!((header[18], header[19]), (1, 1), "not in WAL mode");

    // PostgreSQL: exit 2, pointing to pg_dump and the deployment guide; no password shown.
    let pg = format!("{}/yc_never_created", common::pg_base()).replace("postgres@", "postgres:pw@");
    for args in [
        vec!["backup", "--to", "x.db", "--database", pg.as_str()],
        vec!["restore", "--from", "x.db", "--database", pg.as_str()],
    ] {
        let out = yichuang(&args);
        refused(&out, 2, "pg_dump");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("docs/deploy.md"), "{err}");
        assert!(!err.contains(":pw@"), "{err}");
    }
    // The configuration's database is the default target.
    let config = d.join("c.yaml");
    std::fs::write(&config, format!("database_url: {source}\n")).unwrap();
    let out = yichuang(&[
        "backup",
        "--to",
        d.join("b3.db").to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(case_ids(&d.join("b3.db")).len(), 2);
}
