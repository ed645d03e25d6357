//! Store integration tests on real SQLite files (temp dirs) and a real PostgreSQL (one database
//! per test, dropped at the end). Every behaviour is written once as a function taking a
//! `Store` and run on SQLite and PostgreSQL, each with group commit on and off.
//!
//! PostgreSQL comes from `YICHUANG_TEST_PG` (default `postgres://postgres@127.0.0.1:5432`).

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use yichuang::domain::handling::EventKind;
use yichuang::domain::notice::NoticeKind;
use yichuang::store::outbox::{
    Attempt, AttemptOutcome, DeliveryView, OutboxFilter, OutboxRoute, OutboxState, Pruned,
};
use yichuang::store::{
    migrate, Backend, CaseFilter, CaseUpdate, CatalogVersionRow, NewNotice, RequestKey, Store,
    StoreError, StoreOptions,
};

// ---------------------------------------------------------------- fixtures

mod common;
use common::{case_row, event, intake, notice, pg_base, PgDb, CENTER, PREFIX};

/// Keeps the temp dir / database alive as long as the store.
enum Place {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Pg(#[allow(dead_code)] PgDb),
}

struct Ctx {
    store: Store,
    url: String,
    // Declared last so the store closes before its database goes.
    _place: Place,
}

fn opts(group_commit: bool) -> StoreOptions {
    StoreOptions {
        group_commit,
        ..StoreOptions::default()
    }
}

fn sqlite_ctx(group_commit: bool) -> Ctx {
    let dir = tempfile::tempdir().unwrap();
    // A nested, not yet existing directory: open must create it.
    let url = format!("sqlite://{}/data/nested/yc.db", dir.path().display());
    let store = Store::open(&url, opts(group_commit)).unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    Ctx {
        store,
        url,
        _place: Place::Sqlite(dir),
    }
}

fn pg_ctx(group_commit: bool) -> Ctx {
    pg_ctx_with(opts(group_commit))
}

fn pg_ctx_with(o: StoreOptions) -> Ctx {
    let db = PgDb::new("yc_test");
    let url = db.url.clone();
    let store = Store::open(&url, o).unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    Ctx {
        store,
        url,
        _place: Place::Pg(db),
    }
}

/// Runs a behaviour on SQLite and PostgreSQL, with group commit on and off, and on PostgreSQL
/// with three writer sessions sharing the queue.
macro_rules! on_all_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite_group_commit { $( #[test] fn $name() { let c = super::sqlite_ctx(true); super::$name(&c.store); } )* }
        mod sqlite_direct { $( #[test] fn $name() { let c = super::sqlite_ctx(false); super::$name(&c.store); } )* }
        mod postgres_group_commit { $( #[test] fn $name() { let c = super::pg_ctx(true); super::$name(&c.store); } )* }
        mod postgres_direct { $( #[test] fn $name() { let c = super::pg_ctx(false); super::$name(&c.store); } )* }
        mod postgres_three_writers { $( #[test] fn $name() { let c = super::pg_ctx_with(super::StoreOptions { pg_writers: 3, ..super::opts(true) }); super::$name(&c.store); } )* }
    };
}

on_all_backends!(
    intake_is_atomic,
    failing_item_does_not_affect_others,
    idempotent_replay,
    concurrent_numbers_are_gap_free,
    stale_update_conflicts,
    list_cases_filters_and_paginates,
    catalog_versions_are_content_addressed,
    outbox_rows_commit_with_the_change,
    outbox_claims_in_order_per_case,
    outbox_prune_keeps_the_undelivered_and_each_cases_latest,
);

fn seqs_of_series(store: &Store, case_ids: &[String], kind: &str) -> Vec<i64> {
    let mut seqs = Vec::new();
    for id in case_ids {
        for n in store.notices_of_case(id).unwrap() {
            if n.kind == kind {
                seqs.push(n.seq);
            }
        }
    }
    seqs.sort_unstable();
    seqs
}

// ---------------------------------------------------------------- behaviours

fn intake_is_atomic(store: &Store) {
    let mut i = intake("c1");
    i.notices.push(notice(
        "c1-n2",
        NoticeKind::Supplement,
        "白水镇政务〔2026〕告字第",
    ));
    let r = store.commit_intake(i).unwrap();
    assert!(!r.replayed);
    assert_eq!(r.case.row_version, 1);
    assert_eq!(r.notices.len(), 2);
    assert_eq!(r.notices[0].number, "白水镇政务〔2026〕受字第0001号");
    assert_eq!(r.notices[1].number, "白水镇政务〔2026〕告字第0001号");

    let stored = store.case("c1").unwrap().unwrap();
    assert_eq!(stored, r.case);
    assert_eq!(store.notices_of_case("c1").unwrap().len(), 2);
    assert_eq!(store.notice("c1-n1").unwrap().unwrap(), r.notices[0]);
    let ev = store.events_of_case("c1").unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].action, "intake");
    assert_eq!(ev[0].at, r.case.created_at);

    // A second intake that fails after the case and its number were written (the notice id
    // is taken) leaves nothing behind and does not consume the number.
    let mut bad = intake("c2");
    bad.notices[0].id = "c1-n1".into();
    let e = store.commit_intake(bad).unwrap_err();
    assert!(matches!(e, StoreError::Duplicate(_)), "{e:?}");
    assert!(store.case("c2").unwrap().is_none());
    assert!(store.events_of_case("c2").unwrap().is_empty());

    let r3 = store.commit_intake(intake("c3")).unwrap();
    assert_eq!(r3.notices[0].seq, 2);
    assert_eq!(r3.notices[0].number, "白水镇政务〔2026〕受字第0002号");
    assert!(store.case("missing").unwrap().is_none());
    assert!(store.notice("missing").unwrap().is_none());
}

fn failing_item_does_not_affect_others(store: &Store) {
    store.commit_intake(intake("dup")).unwrap();
    // 24 good intakes and 8 duplicates of "dup", released together so that with group commit
    // they share batches.
    let barrier = Arc::new(Barrier::new(32));
    let handles: Vec<_> = (0..32)
        .map(|t| {
            let s = store.clone();
            let b = barrier.clone();
            std::thread::spawn(move || {
                let mut i = intake(&format!("ok{t}"));
                if t % 4 == 0 {
                    i.case.id = "dup".into();
                }
                i.notices[0].id = format!("n{t}");
                b.wait();
                (t, s.commit_intake(i))
            })
        })
        .collect();
    let mut ok = Vec::new();
    for h in handles {
        let (t, r) = h.join().unwrap();
        if t % 4 == 0 {
            let e = r.unwrap_err();
            assert!(matches!(e, StoreError::Duplicate(_)), "{e:?}");
            assert!(store.notice(&format!("n{t}")).unwrap().is_none());
        } else {
            let r = r.unwrap();
            assert_eq!(store.case(&r.case.id).unwrap().unwrap(), r.case);
            ok.push(r.case.id);
        }
    }
    assert_eq!(ok.len(), 24);
    // Every committed intake has its outbox row; the rolled-back duplicates none.
    for id in &ok {
        let out = store.outbox_events_of_case(id).unwrap();
        assert_eq!(out.len(), 1, "{id}");
        assert_eq!(out[0].id, format!("{id}:1"));
    }
    assert_eq!(store.outbox_events_of_case("dup").unwrap().len(), 1);
    ok.push("dup".into());
    // The rolled-back duplicates gave their numbers back.
    assert_eq!(
        seqs_of_series(store, &ok, "acceptance"),
        (1..=25).collect::<Vec<_>>()
    );
}

fn rk(user: &str, key: &str, hash: &str) -> RequestKey {
    RequestKey {
        user_id: user.into(),
        key: key.into(),
        request_hash: hash.into(),
    }
}

fn idempotent_replay(store: &Store) {
    let key = Some(rk("u1", "k1", "hash-a"));
    let mut first = intake("i1");
    first.idempotency = key.clone();
    let r1 = store.commit_intake(first).unwrap();
    assert!(!r1.replayed);

    // The retry carries a freshly generated case id; the stored case comes back.
    let mut retry = intake("i1-retry");
    retry.notices[0].id = "i1-retry-n1".into();
    retry.idempotency = key.clone();
    let r2 = store.commit_intake(retry).unwrap();
    assert!(r2.replayed);
    assert_eq!(r2.case, r1.case);
    assert_eq!(r2.notices, r1.notices);
    assert!(store.case("i1-retry").unwrap().is_none());

    let mut other = intake("i1-other");
    other.idempotency = Some(rk("u1", "k1", "hash-b"));
    assert_eq!(
        store.commit_intake(other).unwrap_err(),
        StoreError::IdempotencyMismatch
    );

    // The same key of another user is another request.
    let mut u2 = intake("i2");
    u2.idempotency = Some(rk("u2", "k1", "hash-a"));
    assert!(!store.commit_intake(u2).unwrap().replayed);

    // Concurrent retries of one request: exactly one case, everyone gets it.
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let s = store.clone();
            std::thread::spawn(move || {
                let mut i = intake(&format!("race{t}"));
                i.idempotency = Some(rk("u3", "k", "h"));
                s.commit_intake(i).unwrap()
            })
        })
        .collect();
    let receipts: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ids: BTreeSet<_> = receipts.iter().map(|r| r.case.id.clone()).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(receipts.iter().filter(|r| !r.replayed).count(), 1);
}

fn concurrent_numbers_are_gap_free(store: &Store) {
    let handles: Vec<_> = (0..16)
        .map(|t| {
            let s = store.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let mut n = t;
                while n < 200 {
                    let r = s.commit_intake(intake(&format!("cc{n}"))).unwrap();
                    out.push(r.notices[0].clone());
                    n += 16;
                }
                out
            })
        })
        .collect();
    let notices: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let mut seqs: Vec<i64> = notices.iter().map(|n| n.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    let numbers: BTreeSet<_> = notices.iter().map(|n| n.number.clone()).collect();
    assert_eq!(numbers.len(), 200);
    assert!(numbers.contains("白水镇政务〔2026〕受字第0001号"));
    assert!(numbers.contains("白水镇政务〔2026〕受字第0200号"));
}

fn update(case_id: &str, expected: i64, notices: Vec<NewNotice>) -> CaseUpdate {
    CaseUpdate {
        case_id: case_id.into(),
        expected_row_version: expected,
        status: "supplemented".into(),
        outcome: "accept".into(),
        application: r#"{"fields":{"x":1}}"#.into(),
        assessment: r#"{"outcome":"accept","v":2}"#.into(),
        due_date: Some("2026-12-20".into()),
        notices,
        events: vec![event(EventKind::Supplement)],
        now_ms: 1_763_900_000_000,
        move_to_catalog: None,
        lifecycle: None,
        idempotency: None,
    }
}

fn stale_update_conflicts(store: &Store) {
    store.commit_intake(intake("u1")).unwrap();
    let r = store
        .update_case(update(
            "u1",
            1,
            vec![notice("u1-n2", NoticeKind::Acceptance, PREFIX)],
        ))
        .unwrap();
    assert_eq!(r.case.row_version, 2);
    assert_eq!(r.case.status, "supplemented");
    assert_eq!(r.case.updated_at, 1_763_900_000_000);
    assert_eq!(r.case.due_date.as_deref(), Some("2026-12-20"));
    assert_eq!(r.notices[0].number, "白水镇政务〔2026〕受字第0002号");

    // A second clerk still holding version 1.
    let e = store
        .update_case(update(
            "u1",
            1,
            vec![notice("u1-n3", NoticeKind::Acceptance, PREFIX)],
        ))
        .unwrap_err();
    assert!(matches!(e, StoreError::Stale(_)), "{e:?}");
    assert!(store.notice("u1-n3").unwrap().is_none());
    assert_eq!(store.case("u1").unwrap().unwrap().row_version, 2);

    let e = store.update_case(update("nope", 1, vec![])).unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");

    let actions: Vec<_> = store
        .events_of_case("u1")
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["intake", "supplement"]);
    // The conflicting update gave its number back.
    let r = store.commit_intake(intake("u2")).unwrap();
    assert_eq!(r.notices[0].seq, 3);
}

fn list_cases_filters_and_paginates(store: &Store) {
    for i in 0..30 {
        let center = if i % 3 == 0 { "county" } else { CENTER };
        let mut c = intake(&format!("l{i:02}"));
        c.case = case_row(&format!("l{i:02}"), center);
        c.case.created_at = 1_000 + i;
        c.case.status = if i % 2 == 0 { "accepted" } else { "refused" }.into();
        c.case.matter_code = if i < 10 { "A" } else { "B" }.into();
        c.case.received_on = format!("2026-11-{:02}", i % 28 + 1);
        c.case.agent_id = (i == 7).then(|| "agent-9".to_string());
        c.case.window_id = Some(format!("w{}", i % 5));
        c.case.applicant_id_number = Some(format!("id{}", i % 4));
        c.notices[0].center_id = center.into();
        c.notices[0].number_prefix = format!("{center}第");
        store.commit_intake(c).unwrap();
    }
    let all = CaseFilter {
        limit: 100,
        ..CaseFilter::default()
    };
    let p = store.list_cases(&all).unwrap();
    assert_eq!(p.total, 30);
    assert_eq!(p.cases.len(), 30);
    assert_eq!(p.cases[0].id, "l29", "newest first");

    let page = store
        .list_cases(&CaseFilter {
            limit: 7,
            offset: 21,
            ..CaseFilter::default()
        })
        .unwrap();
    assert_eq!(page.total, 30);
    let ids: Vec<_> = page.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["l08", "l07", "l06", "l05", "l04", "l03", "l02"]);

    let f = |f: CaseFilter| store.list_cases(&CaseFilter { limit: 100, ..f }).unwrap();
    assert_eq!(
        f(CaseFilter {
            center_ids: Some(vec!["county".into()]),
            ..Default::default()
        })
        .total,
        10
    );
    assert_eq!(
        f(CaseFilter {
            center_ids: Some(vec!["county".into(), CENTER.into()]),
            ..Default::default()
        })
        .total,
        30
    );
    assert_eq!(
        f(CaseFilter {
            center_ids: Some(vec![]),
            ..Default::default()
        })
        .total,
        0
    );
    let st = f(CaseFilter {
        status: Some(yichuang::domain::case::CaseStatus::Refused),
        matter_code: Some("A".into()),
        ..Default::default()
    });
    assert_eq!(st.total, 5);
    assert!(st
        .cases
        .iter()
        .all(|c| c.status == "refused" && c.matter_code == "A"));
    let ag = f(CaseFilter {
        agent_id: Some("agent-9".into()),
        ..Default::default()
    });
    assert_eq!(ag.cases.len(), 1);
    assert_eq!(ag.cases[0].id, "l07");
    assert_eq!(
        f(CaseFilter {
            window_id: Some("w0".into()),
            ..Default::default()
        })
        .total,
        6
    );
    assert_eq!(
        f(CaseFilter {
            applicant_id_number: Some("id1".into()),
            ..Default::default()
        })
        .total,
        8
    );
    // received_on = 2026-11-(i%28+1): days 05..=10 are i = 4..=9 (and none of 28, 29).
    let dr = f(CaseFilter {
        received_from: Some("2026-11-05".into()),
        received_to: Some("2026-11-10".into()),
        ..Default::default()
    });
    assert_eq!(dr.total, 6);
    // Counting and paging agree under a filter.
    let small = store
        .list_cases(&CaseFilter {
            center_ids: Some(vec![CENTER.into()]),
            limit: 3,
            offset: 18,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(small.total, 20);
    assert_eq!(small.cases.len(), 2);
}

fn catalog_versions_are_content_addressed(store: &Store) {
    let v = CatalogVersionRow {
        hash: "sha256:abc".into(),
        version: "2026.11.1".into(),
        name: "样例县".into(),
        files: r#"{"matters/dibao.yaml":"code: MZ-001"}"#.into(),
        created_at: 5,
        activated_at: Some(6),
        activated_by: Some("admin".into()),
    };
    store.save_catalog_version(&v).unwrap();
    store.save_catalog_version(&v).unwrap();
    assert_eq!(store.catalog_version("sha256:abc").unwrap(), Some(v));
    assert_eq!(store.catalog_version("sha256:none").unwrap(), None);
    store.ping().unwrap();
}

// ---------------------------------------------------------------- backend-specific set-ups

fn migrations_twice(url: &str) {
    migrate(url).unwrap();
    migrate(url).unwrap();
    let s1 = Store::open(url, StoreOptions::default()).unwrap();
    s1.commit_intake(intake("m1")).unwrap();
    drop(s1);
    let s2 = Store::open(url, StoreOptions::default()).unwrap();
    assert!(s2.case("m1").unwrap().is_some());
}

#[test]
fn sqlite_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    migrations_twice(&format!("sqlite:{}/a/yc.db", dir.path().display()));
    // A plain path works too.
    migrations_twice(&format!("{}/b.db", dir.path().display()));
}

#[test]
fn postgres_migrations_are_idempotent() {
    let db = PgDb::new("yc_test");
    migrations_twice(&db.url);
}

#[test]
fn sqlite_pragmas_are_set() {
    let c = sqlite_ctx(true);
    let mut raw =
        diesel::SqliteConnection::establish(c.url.strip_prefix("sqlite://").unwrap()).unwrap();
    // journal_mode=WAL is persistent in the file; busy_timeout, synchronous and foreign_keys
    // are per connection and not observable from another connection.
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Mode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        journal_mode: String,
    }
    let m: Mode = diesel::sql_query("PRAGMA journal_mode")
        .get_result(&mut raw)
        .unwrap();
    assert_eq!(m.journal_mode, "wal");
}

/// Two service instances on one PostgreSQL database, committing concurrently.
fn two_instances(group_commit: bool) {
    let db = PgDb::new("yc_test");
    let a = Store::open(&db.url, opts(group_commit)).unwrap();
    let b = Store::open(&db.url, opts(group_commit)).unwrap();
    let handles: Vec<_> = (0..16)
        .map(|t| {
            let s = if t % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let mut n = t;
                while n < 200 {
                    let mut i = intake(&format!("ti{n}"));
                    // Two series per intake, in an order that differs between threads, to
                    // exercise lock ordering across instances.
                    let other = notice(&format!("ti{n}-b"), NoticeKind::Supplement, "告字第");
                    if t % 3 == 0 {
                        i.notices.insert(0, other);
                    } else {
                        i.notices.push(other);
                    }
                    let r = s.commit_intake(i).unwrap();
                    out.extend(r.notices);
                    n += 16;
                }
                out
            })
        })
        .collect();
    let notices: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    for kind in ["acceptance", "supplement"] {
        let mut seqs: Vec<i64> = notices
            .iter()
            .filter(|n| n.kind == kind)
            .map(|n| n.seq)
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>(), "{kind}");
    }
    let numbers: BTreeSet<_> = notices.iter().map(|n| n.number.clone()).collect();
    assert_eq!(numbers.len(), 400);
    drop((a, b));
}

#[test]
fn postgres_two_instances_group_commit() {
    two_instances(true);
}

#[test]
fn postgres_two_instances_direct() {
    two_instances(false);
}

#[test]
fn postgres_down_is_unavailable() {
    // Nothing listens on port 1.
    let e = Store::open(
        "postgres://postgres@127.0.0.1:1/postgres",
        StoreOptions {
            connect_timeout: Duration::from_millis(500),
            ..StoreOptions::default()
        },
    )
    .unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
}

#[test]
fn bad_url_scheme_is_rejected() {
    let e = Store::open("mysql://x/y", StoreOptions::default()).unwrap_err();
    assert!(matches!(e, StoreError::Connect(_)), "{e:?}");
}

/// Clears the immutable flag again so the temp dir can be removed.
struct Immutable(std::path::PathBuf);

impl Immutable {
    /// `chattr +i`: the one way found to make a file unwritable for root (root ignores mode
    /// bits, and `PRAGMA query_only` is not the same failure). None when not supported here.
    fn set(path: &std::path::Path) -> Option<Immutable> {
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Immutable(path.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

fn read_only_sqlite(group_commit: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("yc.db");
    let url = format!("sqlite://{}", path.display());
    let s = Store::open(&url, opts(group_commit)).unwrap();
    s.commit_intake(intake("ro1")).unwrap();
    drop(s);
    let Some(_guard) = Immutable::set(&path) else {
        eprintln!("SKIPPED: chattr +i is not available here, cannot make the file read-only");
        return;
    };
    match Store::open(&url, opts(group_commit)) {
        Err(e) => {
            eprintln!("read-only SQLite: open refused: {e}");
            assert!(e.is_unavailable(), "{e:?}");
        }
        Ok(s) => {
            eprintln!("read-only SQLite: opened; writes are refused");
            // Reads still work; writes are refused as an outage, not as a bad request.
            assert!(s.case("ro1").unwrap().is_some());
            let e = s.commit_intake(intake("ro2")).unwrap_err();
            eprintln!("read-only SQLite: {e}");
            assert!(e.is_unavailable(), "{e:?}");
            assert!(e.to_string().contains("readonly"), "{e}");
            let e = s.update_case(update("ro1", 1, vec![])).unwrap_err();
            assert!(e.is_unavailable(), "{e:?}");
            assert!(s.case("ro2").unwrap().is_none());
        }
    }
}

#[test]
fn sqlite_read_only_file_is_unavailable_group_commit() {
    read_only_sqlite(true);
}

#[test]
fn sqlite_read_only_file_is_unavailable_direct() {
    read_only_sqlite(false);
}

/// The server drops every connection (restart, failover, admin): the request in flight may
/// fail as `Unavailable`, never as anything else, and the store reconnects by itself.
fn pg_connections_killed(group_commit: bool) {
    let db = PgDb::new("yc_test");
    let s = Store::open(&db.url, opts(group_commit)).unwrap();
    s.commit_intake(intake("k1")).unwrap();
    let mut admin = PgConnection::establish(&format!("{}/postgres", pg_base())).unwrap();
    admin
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            db.name
        ))
        .unwrap();
    let mut ok = vec!["k1".to_string()];
    match s.commit_intake(intake("k2")) {
        Ok(_) => ok.push("k2".into()),
        Err(e) => {
            eprintln!("after the connections were killed: {e}");
            assert!(e.is_unavailable(), "{e:?}");
        }
    }
    s.commit_intake(intake("k3")).unwrap();
    ok.push("k3".into());
    assert!(s.case("k3").unwrap().is_some());
    // Killed again, then idle for a while: the writer notices before the next batch.
    admin
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            db.name
        ))
        .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    s.commit_intake(intake("k4")).unwrap();
    ok.push("k4".into());
    let n = ok.len() as i64;
    assert_eq!(
        seqs_of_series(&s, &ok, "acceptance"),
        (1..=n).collect::<Vec<_>>()
    );
    drop(s);
}

#[test]
fn postgres_reconnects_after_connections_are_killed_group_commit() {
    pg_connections_killed(true);
}

#[test]
fn postgres_reconnects_after_connections_are_killed_direct() {
    pg_connections_killed(false);
}

// ---------------------------------------------------------------- hanging and full databases

/// Holds a lock that every intake needs, from a connection of its own, until dropped.
enum Blocker {
    Sqlite(diesel::SqliteConnection),
    Pg(PgConnection),
}

impl Blocker {
    fn take(url: &str) -> Blocker {
        match url.strip_prefix("sqlite://") {
            Some(path) => {
                let mut c = diesel::SqliteConnection::establish(path).unwrap();
                c.batch_execute("PRAGMA busy_timeout = 5000; BEGIN IMMEDIATE")
                    .unwrap();
                Blocker::Sqlite(c)
            }
            None => {
                let mut c = PgConnection::establish(url).unwrap();
                c.batch_execute("BEGIN; LOCK TABLE document_counters IN ACCESS EXCLUSIVE MODE")
                    .unwrap();
                Blocker::Pg(c)
            }
        }
    }

    fn release(self) {
        match self {
            Blocker::Sqlite(mut c) => c.batch_execute("ROLLBACK").unwrap(),
            Blocker::Pg(mut c) => c.batch_execute("ROLLBACK").unwrap(),
        }
    }
}

/// The database hangs (a lock held elsewhere): every write answers `Unavailable` after the write
/// timeout instead of waiting. A write whose caller was told "not saved" is never committed
/// later; the writer carries on when the lock goes.
fn writes_time_out_while_the_database_hangs(url: &str) {
    let s = Store::open(
        url,
        StoreOptions {
            write_timeout: Duration::from_millis(300),
            statement_timeout: None,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    s.commit_intake(intake("h0")).unwrap();
    let blocker = Blocker::take(url);
    // The first write is taken by the writer and hangs in the database; the others wait in the
    // queue behind it.
    let first = {
        let s = s.clone();
        std::thread::spawn(move || s.commit_intake(intake("h1")))
    };
    std::thread::sleep(Duration::from_millis(100));
    let queued: Vec<_> = (2..5)
        .map(|n| {
            let s = s.clone();
            std::thread::spawn(move || s.commit_intake(intake(&format!("h{n}"))))
        })
        .collect();
    let mut not_saved = Vec::new();
    for (n, h) in std::iter::once(first).chain(queued).enumerate() {
        let e = h.join().unwrap().unwrap_err();
        eprintln!("h{}: {e}", n + 1);
        assert!(e.is_unavailable(), "{e:?}");
        if e.to_string().contains("was not saved") {
            not_saved.push(format!("h{}", n + 1));
        }
    }
    assert!(
        !not_saved.is_empty(),
        "the queued writes were not abandoned"
    );
    blocker.release();
    s.commit_intake(intake("h5")).unwrap();
    for id in &not_saved {
        assert!(
            s.case(id).unwrap().is_none(),
            "{id} was committed after 'not saved'"
        );
    }
    let present: Vec<String> = (0..6)
        .map(|n| format!("h{n}"))
        .filter(|id| s.case(id).unwrap().is_some())
        .collect();
    let n = present.len() as i64;
    assert_eq!(
        seqs_of_series(&s, &present, "acceptance"),
        (1..=n).collect::<Vec<_>>()
    );
}

#[test]
fn sqlite_writes_time_out_while_the_database_is_locked() {
    let c = sqlite_ctx(true);
    writes_time_out_while_the_database_hangs(&c.url);
}

#[test]
fn postgres_writes_time_out_while_the_database_hangs() {
    let db = PgDb::new("yc_test");
    writes_time_out_while_the_database_hangs(&db.url);
}

/// With `statement_timeout` the server cancels the stuck statement: the batch is rolled back
/// and the caller gets a definite `Unavailable` before its own timeout.
#[test]
fn postgres_statement_timeout_rolls_the_write_back() {
    let db = PgDb::new("yc_test");
    let s = Store::open(
        &db.url,
        StoreOptions {
            write_timeout: Duration::from_secs(60),
            statement_timeout: Some(Duration::from_millis(300)),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let blocker = Blocker::take(&db.url);
    let e = s.commit_intake(intake("st1")).unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert!(e.to_string().contains("statement timeout"), "{e}");
    blocker.release();
    assert!(s.case("st1").unwrap().is_none());
    let r = s.commit_intake(intake("st2")).unwrap();
    assert_eq!(r.notices[0].seq, 1);
}

/// A full database (here: SQLite's `max_page_count`, which fails exactly as a full disk does,
/// with SQLITE_FULL): writes are `Unavailable`, everything committed before stays readable
/// and numbered without gaps, and the writer keeps answering.
fn sqlite_full(group_commit: bool) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/yc.db", dir.path().display());
    let s = Store::open(
        &url,
        StoreOptions {
            sqlite_max_bytes: Some(1 << 20),
            group_commit,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let big = format!(r#"{{"fields":{{"note":"{}"}}}}"#, "材".repeat(3000));
    let mut committed = Vec::new();
    let error = loop {
        let id = format!("f{}", committed.len());
        let mut i = intake(&id);
        i.case.application = big.clone();
        match s.commit_intake(i) {
            Ok(_) => committed.push(id),
            Err(e) => break e,
        }
        assert!(committed.len() < 1000, "1 MiB never filled up");
    };
    eprintln!("after {} intakes: {error}", committed.len());
    assert!(error.is_unavailable(), "{error:?}");
    assert!(error.to_string().contains("full"), "{error}");
    assert!(committed.len() > 10, "{}", committed.len());
    // Still answering, with the same clean error; reads work.
    let mut i = intake("again");
    i.case.application = big;
    let e = s.commit_intake(i).unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    let n = committed.len() as i64;
    assert_eq!(
        seqs_of_series(&s, &committed, "acceptance"),
        (1..=n).collect::<Vec<_>>()
    );
}

#[test]
fn sqlite_full_database_is_unavailable_group_commit() {
    sqlite_full(true);
}

#[test]
fn sqlite_full_database_is_unavailable_direct() {
    sqlite_full(false);
}

// ---------------------------------------------------------------- outbox

fn routes() -> Vec<OutboxRoute> {
    vec![
        OutboxRoute {
            subscriber: "all".into(),
            kinds: None,
        },
        OutboxRoute {
            subscriber: "ratings".into(),
            kinds: Some(vec![EventKind::Rated]),
        },
    ]
}

fn deliveries(store: &Store, subscriber: &str) -> Vec<DeliveryView> {
    store
        .outbox_list(&OutboxFilter {
            subscriber: Some(subscriber.into()),
            limit: 1000,
            ..OutboxFilter::default()
        })
        .unwrap()
}

/// An outbox row (and its deliveries) exists exactly for each committed event: a rolled-back
/// intake or update leaves none, a committed one always has one, numbered per case.
fn outbox_rows_commit_with_the_change(store: &Store) {
    store.set_outbox_routes(routes());
    let mut i = intake("c1");
    i.events.push(event(EventKind::Decided));
    store.commit_intake(i).unwrap();
    let out = store.outbox_events_of_case("c1").unwrap();
    let ids: Vec<&str> = out.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["c1:1", "c1:2"]);
    assert_eq!(out[0].kind, "intake");
    assert_eq!(out[1].kind, "decided");
    let payload: serde_json::Value = serde_json::from_str(&out[0].payload).unwrap();
    assert_eq!(payload["id"], "c1:1");
    assert_eq!(payload["case"]["applicant_name"], "张三");
    assert_eq!(payload["detail"]["k"], 1);
    assert_eq!(deliveries(store, "all").len(), 2);
    assert!(deliveries(store, "ratings").is_empty());

    // Rolled back after the case, its event and its outbox row were written (the notice id is
    // taken): nothing of it is in the outbox.
    let mut bad = intake("c2");
    bad.notices[0].id = "c1-n1".into();
    store.commit_intake(bad).unwrap_err();
    assert!(store.outbox_events_of_case("c2").unwrap().is_empty());
    assert_eq!(deliveries(store, "all").len(), 2);

    // A stale update is rolled back; a current one adds the next event of the case.
    let mut stale = update("c1", 7, vec![]);
    stale.events = vec![event(EventKind::Rated)];
    store.update_case(stale).unwrap_err();
    assert_eq!(store.outbox_events_of_case("c1").unwrap().len(), 2);
    let mut ok = update("c1", 1, vec![]);
    ok.events = vec![event(EventKind::Rated)];
    store.update_case(ok).unwrap();
    let out = store.outbox_events_of_case("c1").unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(out[2].id, "c1:3");
    assert_eq!(deliveries(store, "all").len(), 3);
    let rated = deliveries(store, "ratings");
    assert_eq!(rated.len(), 1);
    assert_eq!(rated[0].event_id, "c1:3");
    assert_eq!(rated[0].state, OutboxState::Pending);
}

/// A delivery is claimed only when the case's earlier events to that subscriber are delivered;
/// a lease keeps it from a second claim; a failure backs off; a dead one blocks until resent.
fn outbox_claims_in_order_per_case(store: &Store) {
    store.set_outbox_routes(routes());
    let mut i = intake("c1");
    i.events.push(event(EventKind::Decided));
    i.events.push(event(EventKind::Delivered));
    store.commit_intake(i).unwrap();
    store.commit_intake(intake("c2")).unwrap();
    let now = 1_000_000;
    let first = store.outbox_claim("all", now, "a", 60_000, 100).unwrap();
    let got: BTreeSet<&str> = first.iter().map(|c| c.event_id.as_str()).collect();
    assert_eq!(got, BTreeSet::from(["c1:1", "c2:1"]));
    // Leased: another instance gets nothing.
    assert!(store
        .outbox_claim("all", now, "b", 60_000, 100)
        .unwrap()
        .is_empty());
    let fail = |id: &str, retry_at: i64, dead: bool| Attempt {
        subscriber: "all".into(),
        event_id: id.into(),
        outcome: AttemptOutcome::Failed {
            error: "connection refused".into(),
            retry_at,
            dead,
        },
    };
    let delivered = |id: &str| Attempt {
        subscriber: "all".into(),
        event_id: id.into(),
        outcome: AttemptOutcome::Delivered,
    };
    // Another instance cannot record an outcome for a lease it does not hold.
    assert_eq!(
        store.outbox_finish("b", now, &[delivered("c1:1")]).unwrap(),
        0
    );
    let n = store
        .outbox_finish(
            "a",
            now,
            &[fail("c1:1", now + 5_000, false), delivered("c2:1")],
        )
        .unwrap();
    assert_eq!(n, 2);
    // c1:1 waits for its retry, and c1:2 behind it.
    assert!(store
        .outbox_claim("all", now + 1, "a", 60_000, 100)
        .unwrap()
        .is_empty());
    let again = store
        .outbox_claim("all", now + 5_000, "b", 60_000, 100)
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].event_id, "c1:1");
    assert_eq!(again[0].attempts, 1);
    store.outbox_finish("b", now, &[delivered("c1:1")]).unwrap();
    let next = store
        .outbox_claim("all", now + 5_000, "b", 60_000, 100)
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].event_id, "c1:2");
    assert_eq!(next[0].kind, EventKind::Decided);
    // Dead: c1:3 stays blocked until it is resent.
    store
        .outbox_finish("b", now, &[fail("c1:2", now, true)])
        .unwrap();
    assert!(store
        .outbox_claim("all", now + 10_000, "a", 60_000, 100)
        .unwrap()
        .is_empty());
    let dead = store
        .outbox_list(&OutboxFilter {
            state: Some(OutboxState::Dead),
            limit: 10,
            ..OutboxFilter::default()
        })
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event_id, "c1:2");
    assert_eq!(dead[0].last_error.as_deref(), Some("connection refused"));
    let backlog = store.outbox_backlog().unwrap();
    assert_eq!(backlog.len(), 1);
    assert_eq!((backlog[0].undelivered, backlog[0].dead), (2, 1));
    assert_eq!(store.outbox_resend_dead(None).unwrap(), 1);
    let resent = store
        .outbox_claim("all", now + 10_000, "a", 60_000, 100)
        .unwrap();
    assert_eq!(resent[0].event_id, "c1:2");
    assert_eq!(resent[0].attempts, 0);
}

/// Pruning deletes delivered events before the cut-off with their deliveries, page by page, but
/// never an undelivered one nor a case's latest (whose number the case's next event follows).
fn outbox_prune_keeps_the_undelivered_and_each_cases_latest(store: &Store) {
    store.set_outbox_routes(routes());
    let mut i = intake("c1");
    i.events.push(event(EventKind::Decided));
    i.events.push(event(EventKind::Delivered));
    store.commit_intake(i).unwrap();
    store.commit_intake(intake("c2")).unwrap();
    let mut i = intake("c3");
    i.events.push(event(EventKind::Decided));
    store.commit_intake(i).unwrap();
    // Deliver everything to "all" except c3:2, which fails and waits.
    let now = 1_000_000;
    loop {
        let claimed = store.outbox_claim("all", now, "a", 60_000, 100).unwrap();
        if claimed.is_empty() {
            break;
        }
        let outcomes: Vec<Attempt> = claimed
            .iter()
            .map(|c| Attempt {
                subscriber: "all".into(),
                event_id: c.event_id.clone(),
                outcome: if c.event_id == "c3:2" {
                    AttemptOutcome::Failed {
                        error: "503".into(),
                        retry_at: i64::MAX / 2,
                        dead: false,
                    }
                } else {
                    AttemptOutcome::Delivered
                },
            })
            .collect();
        store.outbox_finish("a", now, &outcomes).unwrap();
    }
    let ids = |case: &str| -> Vec<String> {
        store
            .outbox_events_of_case(case)
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect()
    };
    // Nothing occurred before the epoch.
    assert_eq!(store.outbox_prune(0, 100).unwrap(), Pruned::default());
    assert_eq!(deliveries(store, "all").len(), 6);

    // One candidate per page: the walk goes on past the ones it must keep.
    let p = store.outbox_prune(i64::MAX / 2, 1).unwrap();
    assert_eq!(
        p,
        Pruned {
            events: 3,
            deliveries: 3
        }
    );
    assert_eq!(ids("c1"), ["c1:3"]);
    assert_eq!(ids("c2"), ["c2:1"]);
    assert_eq!(ids("c3"), ["c3:2"]);
    let left: BTreeSet<String> = deliveries(store, "all")
        .into_iter()
        .map(|d| d.event_id)
        .collect();
    assert_eq!(
        left,
        BTreeSet::from(["c1:3".into(), "c2:1".into(), "c3:2".into()])
    );
    // Again: nothing more to delete.
    assert_eq!(
        store.outbox_prune(i64::MAX / 2, 100).unwrap(),
        Pruned::default()
    );

    // The case's next event follows its latest number, never one a receiver already has.
    let mut next = update("c1", 1, vec![]);
    next.events = vec![event(EventKind::Rated)];
    store.update_case(next).unwrap();
    assert_eq!(ids("c1"), ["c1:3", "c1:4"]);
}
