//! Personal data at rest (issue 13): sealed columns, the keyed ID-number index, key rotation, the
//! resumable encrypt command, file modes and the append-only read log — on a real SQLite file and
//! a real PostgreSQL database.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use common::PgDb;
use diesel::prelude::*;
use yichuang::store::crypto::Keyring;
use yichuang::store::{
    encrypt_personal_data, CaseFilter, NewRead, ReadFilter, Store, StoreError, StoreOptions,
};

const NAME: &str = "张三";
const ID_NUMBER: &str = "110101199003074514";
const PHONE: &str = "13812345678";

fn key(b: u8) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode([b; 32])
}

/// A key ring with data keys `ids` (the first active) and one search key.
fn ring(ids: &[(&str, u8)]) -> Arc<Keyring> {
    let mut text = format!("active: {}\nsearch: {}\n", ids[0].0, key(99));
    for (id, b) in ids {
        text.push_str(&format!("{id}: {}\n", key(*b)));
    }
    Arc::new(Keyring::parse(&text, "test").unwrap())
}

enum Place {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Pg(#[allow(dead_code)] PgDb),
}

struct Db {
    url: String,
    path: Option<std::path::PathBuf>,
    _place: Place,
}

fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("yc.db");
    Db {
        url: format!("sqlite://{}", path.display()),
        path: Some(path),
        _place: Place::Sqlite(dir),
    }
}

fn postgres() -> Db {
    let db = PgDb::new("yc_pd");
    Db {
        url: db.url.clone(),
        path: None,
        _place: Place::Pg(db),
    }
}

fn open(db: &Db, keys: Option<Arc<Keyring>>) -> Store {
    Store::open(
        &db.url,
        StoreOptions {
            keys,
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

/// An intake whose application carries the applicant's phone and a family member's ID number.
fn intake(id: &str) -> yichuang::store::NewIntake {
    let mut i = common::intake(id);
    i.case.application = format!(
        r#"{{"applicant":{{"name":"{NAME}","id_number":"{ID_NUMBER}","phone":"{PHONE}"}},"fields":{{"family":[{{"id_number":"11010120100101001X"}}]}}}}"#
    );
    i.notices[0].content = format!(r#"{{"applicant":"{NAME}","text":"受理"}}"#);
    i
}

/// Raw values of a case, read past the store.
fn raw_case(db: &Db, id: &str) -> (String, Option<String>, String, Option<String>) {
    use yichuang::store::schema::cases::dsl as c;
    let q = c::cases.find(id).select((
        c::applicant_name,
        c::applicant_id_number,
        c::application,
        c::applicant_id_hash,
    ));
    match &db.path {
        Some(p) => q
            .first(&mut diesel::SqliteConnection::establish(p.to_str().unwrap()).unwrap())
            .unwrap(),
        None => q
            .first(&mut diesel::PgConnection::establish(&db.url).unwrap())
            .unwrap(),
    }
}

fn raw_exec(db: &Db, sql: &str) -> QueryResult<usize> {
    match &db.path {
        Some(p) => diesel::sql_query(sql)
            .execute(&mut diesel::SqliteConnection::establish(p.to_str().unwrap()).unwrap()),
        None => {
            diesel::sql_query(sql).execute(&mut diesel::PgConnection::establish(&db.url).unwrap())
        }
    }
}

fn raw_notice_content(db: &Db, id: &str) -> String {
    use yichuang::store::schema::notices::dsl as n;
    let q = n::notices.find(id).select(n::content);
    match &db.path {
        Some(p) => q
            .first(&mut diesel::SqliteConnection::establish(p.to_str().unwrap()).unwrap())
            .unwrap(),
        None => q
            .first(&mut diesel::PgConnection::establish(&db.url).unwrap())
            .unwrap(),
    }
}

fn sealed_columns_and_search(db: Db) {
    let keys = ring(&[("k1", 1)]);
    let store = open(&db, Some(keys.clone()));
    let r = store.commit_intake(intake("c1")).unwrap();
    // The receipt and every read give the plain values back.
    assert_eq!(r.case.applicant_name, NAME);
    assert!(r.notices[0].content.contains(NAME));
    let c = store.case("c1").unwrap().unwrap();
    assert_eq!(c.applicant_name, NAME);
    assert_eq!(c.applicant_id_number.as_deref(), Some(ID_NUMBER));
    assert!(c.application.contains(PHONE));
    assert!(store.notices_of_case("c1").unwrap()[0]
        .content
        .contains(NAME));

    // The columns hold envelopes, and the hash column is not the number.
    let (name, number, application, hash) = raw_case(&db, "c1");
    for v in [&name, number.as_ref().unwrap(), &application] {
        assert!(v.starts_with("yc1:k1:"), "{v}");
        assert!(
            !v.contains(NAME) && !v.contains(ID_NUMBER) && !v.contains(PHONE),
            "{v}"
        );
    }
    let hash = hash.unwrap();
    assert_eq!(hash.len(), 64);
    assert!(!hash.contains(ID_NUMBER));
    let content = raw_notice_content(&db, "c1-n1");
    assert!(
        content.starts_with("yc1:k1:") && !content.contains(NAME),
        "{content}"
    );

    // Search by ID number goes through the hash (lower-case x is the same number).
    store.commit_intake(intake("c2")).unwrap();
    let mut other = intake("c3");
    other.case.applicant_id_number = Some("11010519491231002X".into());
    store.commit_intake(other).unwrap();
    let page = store
        .list_cases(&CaseFilter {
            applicant_id_number: Some(ID_NUMBER.into()),
            limit: 10,
            ..CaseFilter::default()
        })
        .unwrap();
    let mut ids: Vec<_> = page.cases.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!((ids, page.total), (vec!["c1", "c2"], 2));
    let page = store
        .list_cases(&CaseFilter {
            applicant_id_number: Some("11010519491231002x".into()),
            limit: 10,
            ..CaseFilter::default()
        })
        .unwrap();
    assert_eq!(page.cases[0].id, "c3");
    assert_eq!(
        page.cases[0].applicant_id_number.as_deref(),
        Some("11010519491231002X")
    );

    // Updates seal the application too.
    drop(store);
    // The SQLite file (and its WAL) holds neither the name nor the ID number anywhere.
    if let Some(p) = &db.path {
        for suffix in ["", "-wal"] {
            let f = format!("{}{suffix}", p.display());
            if let Ok(bytes) = std::fs::read(&f) {
                for needle in [NAME, ID_NUMBER, PHONE, "11010120100101001X"] {
                    assert!(
                        !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                        "{needle} in {f}"
                    );
                }
            }
        }
    }

    // Without keys a sealed value is a clear error, not plain text and not a panic.
    let keyless = open(&db, None);
    let e = keyless.case("c1").unwrap_err();
    assert!(matches!(e, StoreError::Decrypt(_)), "{e:?}");
    assert!(e.to_string().contains("no personal-data key"), "{e}");
}

fn moved_ciphertext_fails(db: Db) {
    let store = open(&db, Some(ring(&[("k1", 1)])));
    store.commit_intake(intake("a")).unwrap();
    store.commit_intake(intake("b")).unwrap();
    // Copy a's sealed application into b, and a's name into b's application column.
    raw_exec(
        &db,
        "UPDATE cases SET application = (SELECT application FROM cases WHERE id = 'a') WHERE id = 'b'",
    )
    .unwrap();
    let e = store.case("b").unwrap_err();
    assert!(matches!(e, StoreError::Decrypt(_)), "{e:?}");
    assert!(e.to_string().contains("cases.application of b"), "{e}");
    raw_exec(
        &db,
        "UPDATE cases SET application = (SELECT applicant_name FROM cases WHERE id = 'a') WHERE id = 'a'",
    )
    .unwrap();
    assert!(matches!(store.case("a"), Err(StoreError::Decrypt(_))));
    // A notice moved to another case fails as well.
    raw_exec(
        &db,
        "UPDATE notices SET content = (SELECT content FROM notices WHERE id = 'a-n1') WHERE id = 'b-n1'",
    )
    .unwrap();
    assert!(matches!(store.notice("b-n1"), Err(StoreError::Decrypt(_))));
    // Listing a page with the broken row is an error too, never a panic.
    assert!(matches!(
        store.list_cases(&CaseFilter {
            limit: 10,
            ..CaseFilter::default()
        }),
        Err(StoreError::Decrypt(_))
    ));
}

fn rotation(db: Db) {
    let old = open(&db, Some(ring(&[("k1", 1)])));
    old.commit_intake(intake("r1")).unwrap();
    drop(old);
    // Rotated: k2 active, k1 kept for reading.
    let rotated = ring(&[("k2", 2), ("k1", 1)]);
    let store = open(&db, Some(rotated.clone()));
    assert_eq!(store.case("r1").unwrap().unwrap().applicant_name, NAME);
    store.commit_intake(intake("r2")).unwrap();
    assert!(raw_case(&db, "r2").0.starts_with("yc1:k2:"));
    assert!(raw_case(&db, "r1").0.starts_with("yc1:k1:"));
    // Re-encrypt what is under k1, then k1 can go.
    let p = encrypt_personal_data(&db.url, &rotated, 100, None, &mut |_| {}).unwrap();
    assert!(p.finished);
    assert_eq!((p.cases_done, p.notices_done), (1, 1));
    let (name, number, application, _) = raw_case(&db, "r1");
    for v in [
        name,
        number.unwrap(),
        application,
        raw_notice_content(&db, "r1-n1"),
    ] {
        assert!(v.starts_with("yc1:k2:"), "{v}");
    }
    drop(store);
    let only_new = open(&db, Some(ring(&[("k2", 2)])));
    for id in ["r1", "r2"] {
        let c = only_new.case(id).unwrap().unwrap();
        assert_eq!(c.applicant_id_number.as_deref(), Some(ID_NUMBER));
    }
    // The index still finds both (the search key did not change).
    let page = only_new
        .list_cases(&CaseFilter {
            applicant_id_number: Some(ID_NUMBER.into()),
            limit: 10,
            ..CaseFilter::default()
        })
        .unwrap();
    assert_eq!(page.total, 2);
    // With k1 gone, a value still under k1 names the missing key.
    let only_old = open(&db, Some(ring(&[("k1", 1)])));
    let e = only_old.case("r1").unwrap_err();
    assert!(e.to_string().contains("'k2'"), "{e}");
}

fn encrypt_resumes(db: Db) {
    // An existing database in plain text.
    let plain = open(&db, None);
    for i in 0..5 {
        plain.commit_intake(intake(&format!("p{i}"))).unwrap();
    }
    drop(plain);
    assert_eq!(raw_case(&db, "p0").0, NAME);
    let keys = ring(&[("k1", 1)]);
    // Interrupted after one batch of two cases.
    let p = encrypt_personal_data(&db.url, &keys, 2, Some(1), &mut |_| {}).unwrap();
    assert!(!p.finished);
    assert_eq!((p.cases_todo, p.notices_todo, p.cases_done), (5, 5, 2));
    // Meanwhile the service runs with the keys: both kinds of rows read, and search finds both.
    let store = open(&db, Some(keys.clone()));
    for i in 0..5 {
        assert_eq!(
            store
                .case(&format!("p{i}"))
                .unwrap()
                .unwrap()
                .applicant_name,
            NAME
        );
    }
    let page = store
        .list_cases(&CaseFilter {
            applicant_id_number: Some(ID_NUMBER.into()),
            limit: 10,
            ..CaseFilter::default()
        })
        .unwrap();
    assert_eq!(page.total, 5);
    // The next run goes on from where the first stopped.
    let mut seen = Vec::new();
    let p = encrypt_personal_data(&db.url, &keys, 2, None, &mut |p| seen.push(*p)).unwrap();
    assert!(p.finished);
    assert_eq!((p.cases_todo, p.cases_done, p.notices_done), (3, 3, 5));
    assert!(seen.len() >= 3, "progress reported per batch: {seen:?}");
    for i in 0..5 {
        let (name, _, application, hash) = raw_case(&db, &format!("p{i}"));
        assert!(name.starts_with("yc1:k1:") && application.starts_with("yc1:k1:"));
        assert!(hash.is_some());
    }
    // A third run finds nothing to do.
    let p = encrypt_personal_data(&db.url, &keys, 2, None, &mut |_| {}).unwrap();
    assert_eq!(
        (p.finished, p.cases_todo, p.notices_todo, p.batches),
        (true, 0, 0, 0)
    );
    assert_eq!(
        store.notices_of_case("p4").unwrap()[0].content,
        format!(r#"{{"applicant":"{NAME}","text":"受理"}}"#)
    );
}

fn read_log(db: Db) {
    let store = open(&db, Some(ring(&[("k1", 1)])));
    let read = |at: i64, user: &str, case: &str| NewRead {
        at,
        user_id: user.into(),
        role: "clerk".into(),
        case_id: case.into(),
        endpoint: "GET /api/v1/cases/{id}".into(),
    };
    store
        .log_reads(vec![
            read(1_000, "u1", "c1"),
            read(2_000, "u2", "c1"),
            read(3_000, "u1", "c2"),
        ])
        .unwrap();
    let (rows, total) = store
        .personal_data_reads(&ReadFilter {
            limit: 10,
            ..ReadFilter::default()
        })
        .unwrap();
    assert_eq!(total, 3);
    assert_eq!(rows[0].at, 3_000, "newest first");
    let (rows, total) = store
        .personal_data_reads(&ReadFilter {
            case_id: Some("c1".into()),
            user_id: Some("u1".into()),
            limit: 10,
            ..ReadFilter::default()
        })
        .unwrap();
    assert_eq!((total, rows[0].at), (1, 1_000));
    let (_, total) = store
        .personal_data_reads(&ReadFilter {
            from_ms: Some(2_000),
            to_ms: Some(3_000),
            limit: 10,
            ..ReadFilter::default()
        })
        .unwrap();
    assert_eq!(total, 1);
    // Append-only: the database itself refuses changes.
    for sql in [
        "UPDATE personal_data_reads SET user_id = 'someone-else'",
        "DELETE FROM personal_data_reads",
    ] {
        let e = raw_exec(&db, sql).unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    if db.path.is_none() {
        let e = raw_exec(&db, "TRUNCATE personal_data_reads").unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
    }
}

#[test]
fn sqlite_sealed_columns_and_search() {
    sealed_columns_and_search(sqlite());
}
#[test]
fn postgres_sealed_columns_and_search() {
    sealed_columns_and_search(postgres());
}
#[test]
fn sqlite_moved_ciphertext_fails() {
    moved_ciphertext_fails(sqlite());
}
#[test]
fn postgres_moved_ciphertext_fails() {
    moved_ciphertext_fails(postgres());
}
#[test]
fn sqlite_rotation() {
    rotation(sqlite());
}
#[test]
fn postgres_rotation() {
    rotation(postgres());
}
#[test]
fn sqlite_encrypt_resumes() {
    encrypt_resumes(sqlite());
}
#[test]
fn postgres_encrypt_resumes() {
    encrypt_resumes(postgres());
}
#[test]
fn sqlite_read_log() {
    read_log(sqlite());
}
#[test]
fn postgres_read_log() {
    read_log(postgres());
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The database, its WAL and SHM, backups and archives are created 0600, whatever the umask; an
/// existing database readable by others is tightened at open.
#[test]
fn sqlite_files_are_0600() {
    let db = sqlite();
    let path = db.path.clone().unwrap();
    let store = open(&db, Some(ring(&[("k1", 1)])));
    let mut finished = intake("m1");
    finished.case.status = "refused".into();
    store.commit_intake(finished).unwrap();
    let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
    let shm = std::path::PathBuf::from(format!("{}-shm", path.display()));
    assert!(wal.exists() && shm.exists());
    for p in [&path, &wal, &shm] {
        assert_eq!(mode(p), 0o600, "{}", p.display());
    }
    let dir = path.parent().unwrap();
    let backup = dir.join("backups/b1.db");
    yichuang::store::backup::backup(&db.url, &backup).unwrap();
    assert_eq!(mode(&backup), 0o600);
    let restored = dir.join("restored.db");
    yichuang::store::backup::restore(&backup, &format!("sqlite://{}", restored.display()), false)
        .unwrap();
    assert_eq!(mode(&restored), 0o600);
    let archive = dir.join("archive.jsonl");
    yichuang::store::archive::archive(
        &store,
        chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
        &archive,
    )
    .unwrap();
    assert!(archive.exists());
    assert_eq!(mode(&archive), 0o600);
    drop(store);

    // A database left 0644 by an older version is tightened.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = open(&db, None);
    assert_eq!(mode(&path), 0o600);
    drop(store);
}

/// `yichuang personal-data keygen` makes a usable key file; `personal-data encrypt` stops after
/// `--max-batches`, says so, and a second run finishes; the service's reads then work with the key.
#[test]
fn the_encrypt_command_resumes() {
    let db = sqlite();
    let plain = open(&db, None);
    for i in 0..4 {
        plain.commit_intake(intake(&format!("q{i}"))).unwrap();
    }
    drop(plain);
    let dir = db.path.as_ref().unwrap().parent().unwrap().to_path_buf();
    let run = |args: &[&str], keys: Option<&std::path::Path>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_yichuang"));
        c.args(args)
            .env_remove("YICHUANG_KEYS")
            .env_remove("YICHUANG_KEY_FILE");
        if let Some(k) = keys {
            c.env("YICHUANG_KEY_FILE", k);
        }
        c.output().unwrap()
    };
    let out = run(&["personal-data", "keygen", "--id", "2026a"], None);
    assert!(out.status.success());
    let key_file = dir.join("keys.yaml");
    std::fs::write(&key_file, &out.stdout).unwrap();
    let keys = Arc::new(Keyring::load(&key_file).unwrap());
    assert_eq!(keys.active(), "2026a");

    // Without keys the command refuses (exit 2) and changes nothing.
    let args = [
        "personal-data",
        "encrypt",
        "--database",
        &db.url,
        "--batch",
        "3",
        "--max-batches",
        "1",
    ];
    let out = run(&args, None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(raw_case(&db, "q0").0, NAME);

    let out = run(&args, Some(&key_file));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("stopped after 1 batches"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("3/4 cases"));
    let sealed = (0..4)
        .filter(|i| raw_case(&db, &format!("q{i}")).0.starts_with("yc1:2026a:"))
        .count();
    assert_eq!(sealed, 3);

    let out = run(&args[..6], Some(&key_file));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("nothing left"), "{stdout}");
    let store = open(&db, Some(keys));
    for i in 0..4 {
        let id = format!("q{i}");
        assert!(raw_case(&db, &id).0.starts_with("yc1:2026a:"));
        assert_eq!(store.case(&id).unwrap().unwrap().applicant_name, NAME);
    }
}
