//! The outbox delivered to a real HTTP receiver bound by the test (a std TcpListener server):
//! every event of a case in order with valid signatures; the receiver down for a while and back;
//! dead letters and resend; two instances on one PostgreSQL database.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use yichuang::config::{Config, Profile, Subscriber};

use crate::helpers::*;

const SECRET: &str = "test-secret-0123456789abcdef";

#[derive(Debug, Clone)]
struct Received {
    id: String,
    signature: String,
    body: String,
}

/// A receiver: answers 200 when up, 503 when down; records every request it answered 200.
#[derive(Clone)]
struct Receiver {
    url: String,
    up: Arc<AtomicBool>,
    got: Arc<Mutex<Vec<Received>>>,
    in_flight: Arc<Mutex<HashSet<String>>>,
    /// Requests for an event while the same event was in flight (two senders at once).
    overlaps: Arc<AtomicUsize>,
    delay: Duration,
}

impl Receiver {
    fn start(delay: Duration) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        let r = Receiver {
            url,
            up: Arc::new(AtomicBool::new(true)),
            got: Arc::default(),
            in_flight: Arc::default(),
            overlaps: Arc::default(),
            delay,
        };
        let me = r.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let me = me.clone();
                std::thread::spawn(move || me.serve(conn));
            }
        });
        r
    }

    fn serve(&self, conn: std::net::TcpStream) {
        let mut w = conn.try_clone().unwrap();
        let mut rd = BufReader::new(conn);
        loop {
            let mut line = String::new();
            if rd.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut headers = BTreeMap::new();
            loop {
                let mut h = String::new();
                if rd.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
            let len: usize = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            if rd.read_exact(&mut body).is_err() {
                return;
            }
            let id = headers
                .get("x-yichuang-event-id")
                .cloned()
                .unwrap_or_default();
            if !self.in_flight.lock().unwrap().insert(id.clone()) {
                self.overlaps.fetch_add(1, Ordering::SeqCst);
            }
            std::thread::sleep(self.delay);
            let up = self.up.load(Ordering::SeqCst);
            if up {
                self.got.lock().unwrap().push(Received {
                    id: id.clone(),
                    signature: headers
                        .get("x-yichuang-signature")
                        .cloned()
                        .unwrap_or_default(),
                    body: String::from_utf8(body).unwrap(),
                });
            }
            self.in_flight.lock().unwrap().remove(&id);
            let answer = if up {
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            } else {
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown"
            };
            if w.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

fn subscriber(url: &str, max_attempts: u32) -> Subscriber {
    Subscriber {
        name: "hall".into(),
        url: url.into(),
        events: vec!["*".into()],
        profile: Profile::Native,
        secret: Some(SECRET.into()),
        secret_file: None,
        timeout_ms: 2_000,
        max_attempts,
        backoff_ms: 20,
        backoff_max_ms: 200,
        concurrency: 4,
    }
}

fn with_receiver(url: String, max_attempts: u32) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.subscribers = vec![subscriber(&url, max_attempts)];
        c.outbox_poll_ms = 20;
    }
}

/// What a receiver does: check `t=…,v1=…` against HMAC-SHA256(secret, "<t>.<body>").
fn signature_valid(sig: &str, body: &str) -> bool {
    let Some((t, v1)) = sig
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hex == v1
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Resp {
    let r = app.post_json(path, Some(token), &body, &[]).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    r
}

async fn approve_active(app: &TestApp, token: &str, case: &str, unit: &str) {
    let p = app
        .get(&format!("/api/v1/cases/{case}/progress"), Some(token))
        .await;
    let step = p.body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == "active" && s["unit"] == unit)
        .unwrap_or_else(|| panic!("no active step for {unit}: {}", p.text))["id"]
        .as_str()
        .unwrap()
        .to_string();
    post(
        app,
        token,
        &format!("/api/v1/cases/{case}/steps/{step}"),
        json!({"action": "approve", "comment": "同意，经核实属实"}),
    )
    .await;
}

/// A case through intake, three approvals, pause, resume, extension, decision, delivery and
/// rating; and a second case withdrawn. Returns both case ids.
async fn run_cases(app: &TestApp) -> Vec<String> {
    let r = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let case = r.case_id();
    app.clock.set_day(day(2026, 3, 3));
    approve_active(app, CLERK_BAISHUI, &case, "baishui/center").await;
    approve_active(app, CLERK_BAISHUI, &case, "baishui/center").await;
    post(
        app,
        APPROVER_CIVIL,
        &format!("/api/v1/cases/{case}/pause"),
        json!({"kind": "appraisal", "reason": "家庭经济状况评估", "expected_end": "2026-03-06"}),
    )
    .await;
    app.clock.set_day(day(2026, 3, 5));
    post(
        app,
        APPROVER_CIVIL,
        &format!("/api/v1/cases/{case}/resume"),
        json!({}),
    )
    .await;
    post(
        app,
        APPROVER_CIVIL,
        &format!("/api/v1/cases/{case}/extension"),
        json!({"reason": "情况复杂", "approved_by": "县民政局局长"}),
    )
    .await;
    approve_active(app, APPROVER_CIVIL, &case, "qingshan/civil-affairs").await;
    post(
        app,
        CLERK_BAISHUI,
        &format!("/api/v1/cases/{case}/delivery"),
        json!({"method": "window_pickup", "originals_checked": true}),
    )
    .await;
    post(
        app,
        CLERK_BAISHUI,
        &format!("/api/v1/cases/{case}/rating"),
        json!({"level": 2, "comment": "等太久"}),
    )
    .await;
    let r = app
        .intake(CLERK_BAISHUI, DIBAO, &dibao_complete_named("李四"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let second = r.case_id();
    post(
        app,
        CLERK_BAISHUI,
        &format!("/api/v1/cases/{second}/withdrawal"),
        json!({"reason": "申请人撤回"}),
    )
    .await;
    vec![case, second]
}

/// Waits until the receiver holds `n` distinct event ids.
async fn wait_for(rx: &Receiver, n: usize) {
    let started = Instant::now();
    loop {
        let ids: HashSet<String> = rx.received().into_iter().map(|r| r.id).collect();
        if ids.len() >= n {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {} of {n} events arrived",
            ids.len()
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every event of each case arrived, first in order of its sequence, each signed, the body's id
/// the header's; a duplicate only with the same id and the same body.
async fn check_delivered(app: &TestApp, rx: &Receiver, cases: &[String]) {
    let mut total = 0;
    let mut histories = BTreeMap::new();
    for c in cases {
        let h = history_actions(app, c).await;
        total += h.len();
        histories.insert(c.clone(), h);
    }
    wait_for(rx, total).await;
    let got = rx.received();
    let mut first: BTreeMap<String, String> = BTreeMap::new();
    let mut order: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for r in &got {
        assert!(signature_valid(&r.signature, &r.body), "{r:?}");
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["id"], r.id.as_str());
        if let Some(body) = first.get(&r.id) {
            assert_eq!(body, &r.body, "a duplicate is the same event");
            continue;
        }
        first.insert(r.id.clone(), r.body.clone());
        order
            .entry(v["case_id"].as_str().unwrap().to_string())
            .or_default()
            .push((
                v["seq"].as_i64().unwrap(),
                v["kind"].as_str().unwrap().into(),
            ));
    }
    for (case, h) in &histories {
        let seen = &order[case];
        let seqs: Vec<i64> = seen.iter().map(|s| s.0).collect();
        let kinds: Vec<&str> = seen.iter().map(|s| s.1.as_str()).collect();
        assert_eq!(seqs, (1..=h.len() as i64).collect::<Vec<_>>(), "{case}");
        assert_eq!(
            kinds,
            h.iter().map(String::as_str).collect::<Vec<_>>(),
            "{case}"
        );
    }
}

async fn every_event_in_order(app: &TestApp, rx: &Receiver) {
    let cases = run_cases(app).await;
    let h = history_actions(app, &cases[0]).await;
    for kind in [
        "intake",
        "step_approved",
        "paused",
        "resumed",
        "extended",
        "decided",
        "delivered",
        "rated",
    ] {
        assert!(h.iter().any(|k| k == kind), "{kind} in {h:?}");
    }
    assert!(history_actions(app, &cases[1])
        .await
        .contains(&"withdrawn".to_string()));
    check_delivered(app, rx, &cases).await;
    let m = app.get("/metrics", None).await;
    assert!(
        m.text
            .contains("yichuang_outbox_delivered_total{subscriber=\"hall\"}"),
        "{}",
        m.text
    );
}

async fn receiver_down_then_back(app: &TestApp, rx: &Receiver) {
    rx.up.store(false, Ordering::SeqCst);
    let cases = run_cases(app).await;
    actix_web::rt::time::sleep(Duration::from_millis(600)).await;
    assert!(rx.received().is_empty());
    let pending = app.get("/api/v1/outbox?state=pending", Some(ADMIN)).await;
    assert_eq!(pending.status, 200, "{}", pending.text);
    assert!(
        pending
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["attempts"].as_i64() > Some(0)),
        "{}",
        pending.text
    );
    rx.up.store(true, Ordering::SeqCst);
    check_delivered(app, rx, &cases).await;
}

async fn dead_letter_then_resend(app: &TestApp, rx: &Receiver) {
    rx.up.store(false, Ordering::SeqCst);
    let cases = run_cases(app).await;
    // Two attempts, then dead; the case's later events wait behind it.
    let started = Instant::now();
    let dead = loop {
        let d = app.get("/api/v1/outbox?state=dead", Some(ADMIN)).await;
        if d.body.as_array().is_some_and(|a| a.len() == cases.len()) {
            break d.body;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{}", d.text);
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    for d in dead.as_array().unwrap() {
        assert_eq!(d["attempts"], 2, "{d}");
        assert_eq!(d["seq"], 1, "{d}");
        assert!(d["last_error"].as_str().unwrap().contains("503"), "{d}");
    }
    rx.up.store(true, Ordering::SeqCst);
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.received().is_empty(), "nothing passes a dead event");
    for d in dead.as_array().unwrap() {
        let id = d["event_id"].as_str().unwrap();
        let r = app
            .post_json(
                &format!("/api/v1/outbox/{id}/resend"),
                Some(ADMIN),
                &json!({}),
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["resent"], 1);
    }
    app.post_json("/api/v1/outbox/nope:1/resend", Some(ADMIN), &json!({}), &[])
        .await
        .assert_error(404, "not_found");
    app.get("/api/v1/outbox", Some(CLERK_BAISHUI))
        .await
        .assert_error(403, "forbidden");
    check_delivered(app, rx, &cases).await;
}

macro_rules! with_receiver_on_both {
    ($($name:ident($attempts:expr) => $sqlite:ident, $postgres:ident;)*) => {
        $(
            #[actix_web::test]
            async fn $sqlite() {
                let rx = Receiver::start(Duration::ZERO);
                let app = spawn_app_configured(Backend::Sqlite, with_receiver(rx.url.clone(), $attempts)).await;
                $name(&app, &rx).await;
            }
            #[actix_web::test]
            async fn $postgres() {
                let rx = Receiver::start(Duration::ZERO);
                let app = spawn_app_configured(Backend::Postgres, with_receiver(rx.url.clone(), $attempts)).await;
                $name(&app, &rx).await;
            }
        )*
    };
}

with_receiver_on_both! {
    every_event_in_order(12) => every_event_in_order_sqlite, every_event_in_order_postgres;
    receiver_down_then_back(1000) => receiver_down_then_back_sqlite, receiver_down_then_back_postgres;
    dead_letter_then_resend(2) => dead_letter_then_resend_sqlite, dead_letter_then_resend_postgres;
    archive_waits_for_reports(1000) => archive_waits_for_reports_sqlite, archive_waits_for_reports_postgres;
}

/// One text column of a raw query, past the service.
#[derive(diesel::QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    t: String,
}

/// One count of a raw query, past the service.
#[derive(diesel::QueryableByName)]
struct CountRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The rows of `sql` on the service's database, on either backend.
fn raw_query<T>(app: &TestApp, sql: &str) -> Vec<T>
where
    T: diesel::deserialize::QueryableByName<diesel::sqlite::Sqlite>
        + diesel::deserialize::QueryableByName<diesel::pg::Pg>
        + 'static,
{
    use diesel::prelude::*;
    match app.backend {
        Backend::Sqlite => diesel::sql_query(sql)
            .load(
                &mut diesel::SqliteConnection::establish(
                    app.database_url.trim_start_matches("sqlite://"),
                )
                .unwrap(),
            )
            .unwrap(),
        Backend::Postgres => diesel::sql_query(sql)
            .load(&mut diesel::PgConnection::establish(&app.database_url).unwrap())
            .unwrap(),
    }
}

/// Everything a database holds as text, past the service: the SQLite file and its WAL, or on
/// PostgreSQL every row of the tables that keep what happens after intake.
fn raw_text(app: &TestApp) -> String {
    match app.backend {
        Backend::Sqlite => {
            let path = app.database_url.trim_start_matches("sqlite://");
            let mut bytes = std::fs::read(path).unwrap();
            bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Backend::Postgres => [
            "case_events",
            "case_parts",
            "case_steps",
            "ratings",
            "outbox_events",
        ]
        .iter()
        .flat_map(|table| {
            raw_query::<TextRow>(
                app,
                &format!("SELECT coalesce(string_agg(x::text, ' '), '') AS t FROM {table} x"),
            )
        })
        .map(|r| r.t)
        .collect(),
    }
}

/// With keys, the free text written after intake — a pause's reason, an extension's, step
/// opinions, the receiver of a result, a rating's comment, a follow-up's note, a withdrawal's
/// reason — is sealed at rest, in its own column and in the audit trail and outbox that repeat
/// it; the history shows it, the audit chains verify, and subscribers receive it in plain text.
async fn free_text_sealed_at_rest(app: &TestApp, rx: &Receiver) {
    let cases = run_cases(app).await;
    let case = &cases[0];
    post(
        app,
        SUPERVISOR_BAISHUI,
        &format!("/api/v1/cases/{case}/followup/close"),
        json!({"note": "已回访整改", "callback": "满意"}),
    )
    .await;
    let secrets = [
        "家庭经济状况评估",
        "情况复杂",
        "县民政局局长",
        "等太久",
        "已回访整改",
        "申请人撤回",
        "经核实属实",
    ];
    let raw = raw_text(app);
    for s in secrets {
        assert!(!raw.contains(s), "{s:?} is stored in plain text");
    }
    assert!(raw.contains("yc1:test2026:"), "nothing sealed");
    // The service opens what it sealed.
    let h = app
        .get(&format!("/api/v1/cases/{case}/history"), Some(ADMIN))
        .await;
    assert_eq!(h.status, 200, "{}", h.text);
    for s in ["家庭经济状况评估", "情况复杂", "经核实属实", "已回访整改"] {
        assert!(h.text.contains(s), "{s} not in the history: {}", h.text);
    }
    let p = app
        .get(
            &format!("/api/v1/cases/{case}/progress"),
            Some(CLERK_BAISHUI),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert!(
        p.text.contains("经核实属实") && p.text.contains("等太久"),
        "{}",
        p.text
    );
    app.assert_audit_intact();
    // Subscribers get plain JSON details.
    let total =
        history_actions(app, &cases[0]).await.len() + history_actions(app, &cases[1]).await.len();
    wait_for(rx, total).await;
    let extended: Vec<Value> = rx
        .received()
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap())
        .filter(|v| v["kind"] == "extended")
        .collect();
    assert_eq!(
        extended[0]["detail"]["reason"], "情况复杂",
        "{}",
        extended[0]
    );
}

/// Outbox rows of a case, past the service: events and deliveries.
fn outbox_rows(app: &TestApp, case: &str) -> (i64, i64) {
    let count = |table: &str| {
        let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE case_id = '{case}'");
        raw_query::<CountRow>(app, &sql)[0].n
    };
    (count("outbox_events"), count("outbox_deliveries"))
}

/// A finished case is archived only once every report of it reached every subscriber: while one
/// is undelivered the case is held; once delivered, its outbox rows leave with it.
async fn archive_waits_for_reports(app: &TestApp, rx: &Receiver) {
    rx.up.store(false, Ordering::SeqCst);
    let r = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let case = r.case_id();
    post(
        app,
        CLERK_BAISHUI,
        &format!("/api/v1/cases/{case}/withdrawal"),
        json!({"reason": "申请人撤回"}),
    )
    .await;
    let store =
        yichuang::store::Store::open(&app.database_url, yichuang::store::StoreOptions::default())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let before = day(2026, 12, 31);
    let r = yichuang::store::archive::archive(&store, before, &dir.path().join("a1")).unwrap();
    assert!(
        r.file.is_none(),
        "nothing archived while a report is undelivered"
    );
    assert_eq!(r.held.len(), 1, "{:?}", r.held);
    assert!(r.held[0].reason.contains("outbox"), "{:?}", r.held);
    let (events, deliveries) = outbox_rows(app, &case);
    assert!(events >= 2 && deliveries >= 2, "{events} {deliveries}");

    rx.up.store(true, Ordering::SeqCst);
    wait_for(rx, usize::try_from(events).unwrap()).await;
    // The delivery is recorded after the receiver answered: wait for the store to say so.
    let started = Instant::now();
    loop {
        let r = yichuang::store::archive::archive(&store, before, &dir.path().join("a2")).unwrap();
        if r.file.is_some() {
            assert_eq!(r.removed.cases, 1, "{:?}", r.removed);
            assert_eq!(r.removed.outbox_events, usize::try_from(events).unwrap());
            assert_eq!(
                r.removed.outbox_deliveries,
                usize::try_from(deliveries).unwrap()
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "still held: {:?}",
            r.held
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(outbox_rows(app, &case), (0, 0));
}

/// The free-text columns of matters, steps and ratings, past the service.
fn raw_free_text(app: &TestApp) -> String {
    let sql = "SELECT coalesce(pause, '') || ' ' || coalesce(delivery, '') AS t FROM case_parts \
        UNION ALL SELECT coalesce(comment, '') AS t FROM case_steps \
        UNION ALL SELECT coalesce(comment, '') || ' ' || coalesce(followup_note, '') || ' ' || \
        coalesce(followup_callback, '') AS t FROM ratings";
    raw_query::<TextRow>(app, sql)
        .into_iter()
        .map(|r| r.t)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A database that ran without keys is sealed in place by `personal-data encrypt`, the free
/// text of matters, steps and ratings included, while the service runs; it then reads the same.
async fn existing_free_text_is_sealed_in_place(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = run_cases(&app).await;
    let case = &cases[0];
    post(
        &app,
        SUPERVISOR_BAISHUI,
        &format!("/api/v1/cases/{case}/followup/close"),
        json!({"note": "已回访整改", "callback": "满意"}),
    )
    .await;
    // Step opinions, the rating's comment and follow-up, the delivery record (the pause was
    // resumed: its reason left the matter's row, it is in the history).
    let secrets = ["经核实属实", "等太久", "已回访整改", "originals_checked"];
    let before = raw_free_text(&app);
    for s in secrets {
        assert!(before.contains(s), "{s} in plain text before: {before}");
    }
    let keys = yichuang::store::crypto::Keyring::load(
        &manifest_dir().join("tests/fixtures/personal-data-test.keys"),
    )
    .unwrap();
    let p = yichuang::store::encrypt_personal_data(&app.database_url, &keys, 2, None, &mut |_| {})
        .unwrap();
    assert!(p.finished, "{p:?}");
    assert!(p.free_text_todo >= 4 && p.free_text_done >= 4, "{p:?}");
    let after = raw_free_text(&app);
    for s in secrets {
        assert!(!after.contains(s), "{s} still in plain text: {after}");
    }
    assert!(after.contains("yc1:test2026:"), "{after}");
    // A second run finds nothing left.
    let again =
        yichuang::store::encrypt_personal_data(&app.database_url, &keys, 2, None, &mut |_| {})
            .unwrap();
    assert_eq!((again.free_text_todo, again.batches), (0, 0), "{again:?}");
    // The store with the keys reads the same handling as before.
    let store = yichuang::store::Store::open(
        &app.database_url,
        yichuang::store::StoreOptions {
            keys: Some(std::sync::Arc::new(keys)),
            ..yichuang::store::StoreOptions::default()
        },
    )
    .unwrap();
    let h = store.handling(case).unwrap();
    assert!(h
        .steps
        .iter()
        .any(|s| s.acted.as_ref().and_then(|a| a.comment.as_deref()) == Some("同意，经核实属实")));
    assert_eq!(h.ratings[0].comment.as_deref(), Some("等太久"));
}

#[actix_web::test]
async fn existing_free_text_is_sealed_in_place_sqlite() {
    existing_free_text_is_sealed_in_place(Backend::Sqlite).await;
}

#[actix_web::test]
async fn existing_free_text_is_sealed_in_place_postgres() {
    existing_free_text_is_sealed_in_place(Backend::Postgres).await;
}

async fn free_text_sealed_on(backend: Backend) {
    let rx = Receiver::start(Duration::ZERO);
    let url = rx.url.clone();
    let app = spawn_app_configured(backend, move |c: &mut Config| {
        with_receiver(url, 12)(c);
        c.key_file = Some(manifest_dir().join("tests/fixtures/personal-data-test.keys"));
    })
    .await;
    free_text_sealed_at_rest(&app, &rx).await;
}

#[actix_web::test]
async fn free_text_sealed_at_rest_sqlite() {
    free_text_sealed_on(Backend::Sqlite).await;
}

#[actix_web::test]
async fn free_text_sealed_at_rest_postgres() {
    free_text_sealed_on(Backend::Postgres).await;
}

/// The provincial profile over HTTP: the sample template writes each event of real cases in the
/// provincial field names — the application number, the matter, the applicant, each 办理环节
/// with its unit, opinion, start and end, the result, the delivery and the 好差评.
async fn provincial_profile(app: &TestApp, rx: &Receiver) {
    let cases = run_cases(app).await;
    let total =
        history_actions(app, &cases[0]).await.len() + history_actions(app, &cases[1]).await.len();
    wait_for(rx, total).await;
    let got: Vec<Value> = rx
        .received()
        .iter()
        .map(|r| {
            assert!(signature_valid(&r.signature, &r.body), "{r:?}");
            serde_json::from_str(&r.body).unwrap()
        })
        .collect();
    let of = |kind: &str| -> Vec<&Value> { got.iter().filter(|v| v["SJLX"] == kind).collect() };
    for v in &got {
        assert!(v["SBLSH"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
        assert_eq!(v["SXBM"], DIBAO, "{v}");
        assert!(v["SQR"]["SQRMC"].is_string(), "{v}");
    }
    let steps = of("step_approved");
    assert!(!steps.is_empty());
    for v in steps {
        let step = &v["BLHJ"];
        assert!(step["BLBM"].is_string(), "{v}");
        assert!(step["BLR"].is_string(), "{v}");
        // 开始时间: the day the step started, never empty.
        let start = step["KSSJ"]
            .as_str()
            .unwrap_or_else(|| panic!("KSSJ in {v}"));
        assert!(start.parse::<chrono::NaiveDate>().is_ok(), "{v}");
        assert!(step["JSSJ"].is_string(), "{v}");
    }
    let decided = of("decided");
    assert_eq!(decided.len(), 1);
    assert_eq!(decided[0]["BJ"]["BJJGDM"], "1", "{}", decided[0]);
    assert_eq!(decided[0]["BJ"]["BJJG"], "approved");
    let delivered = of("delivered");
    assert_eq!(
        delivered[0]["WL"]["SDFS"], "window_pickup",
        "{}",
        delivered[0]
    );
    let rated = of("rated");
    assert_eq!(rated[0]["HCP"]["PJDJ"], 2, "{}", rated[0]);
    assert_eq!(rated[0]["HCP"]["CP"], true);

    // A 即办件 with a numbered result: its 办结 carries the certificate number (ZZBH).
    let r = app
        .intake(
            CLERK_BAISHUI,
            "QS-GA-001",
            &example_application("matters/ga-huji-zhengming.yaml", 0),
        )
        .await;
    assert_eq!(r.body["outcome"], "accepted_immediate", "{}", r.text);
    let number = r.body["notices"][0]["content"]["result"]["number"].clone();
    assert!(number.is_string(), "{}", r.text);
    let case = r.body["case"]["id"].as_str().unwrap();
    wait_for(rx, total + history_actions(app, case).await.len()).await;
    let got: Vec<Value> = rx
        .received()
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    let bj: Vec<&Value> = got
        .iter()
        .filter(|v| v["SJLX"] == "decided" && v["SXBM"] == "QS-GA-001")
        .collect();
    assert_eq!(bj.len(), 1, "{got:?}");
    assert_eq!(bj[0]["BJ"]["ZZBH"], number, "{}", bj[0]);
    assert_eq!(bj[0]["BJ"]["BJJGDM"], "1", "{}", bj[0]);
}

fn with_provincial_receiver(url: String) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        let mut s = subscriber(&url, 12);
        s.profile = Profile::Provincial;
        c.subscribers = vec![s];
        c.outbox_poll_ms = 20;
    }
}

#[actix_web::test]
async fn provincial_profile_sqlite() {
    let rx = Receiver::start(Duration::ZERO);
    let app = spawn_app_configured(Backend::Sqlite, with_provincial_receiver(rx.url.clone())).await;
    provincial_profile(&app, &rx).await;
}

/// Two instances on one PostgreSQL database deliver to one slow receiver: every event arrives,
/// and never is one event sent by both at the same time.
#[actix_web::test]
async fn two_instances_never_send_one_event_at_once() {
    let rx = Receiver::start(Duration::from_millis(15));
    let app = spawn_app_configured(Backend::Postgres, with_receiver(rx.url.clone(), 1000)).await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = Config {
        database_url: app.database_url.clone(),
        rules_dir: root.join("rules"),
        tokens_file: root.join("config/tokens.yaml"),
        reload_poll_ms: 0,
        scheduler_poll_ms: 0,
        ..Config::default()
    };
    with_receiver(rx.url.clone(), 1000)(&mut config);
    let clock = Arc::new(yichuang::app::ManualClock::at(day(2026, 3, 2)));
    let second = Arc::new(yichuang::app::start(config, clock).expect("the second instance"));
    yichuang::app::outbox::start_outbox(&second);
    let mut cases = Vec::new();
    for i in 0..12 {
        let r = app
            .intake(
                CLERK_BAISHUI,
                DIBAO,
                &dibao_complete_named(&format!("申请人{i}")),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        cases.push(r.case_id());
    }
    check_delivered(&app, &rx, &cases).await;
    assert_eq!(rx.overlaps.load(Ordering::SeqCst), 0);
    drop(second);
}

/// With personal data encrypted at rest, the outbox keeps the applicant's name and ID number
/// sealed as the case row does, and opens them only to deliver: the receiver gets the plain
/// values, the stored payload never holds them.
#[actix_web::test]
async fn encrypted_cases_are_delivered_in_plain_and_stored_sealed() {
    let rx = Receiver::start(Duration::ZERO);
    let url = rx.url.clone();
    let app = spawn_app_configured(Backend::Sqlite, move |c| {
        with_receiver(url, 12)(c);
        c.key_file = Some(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/personal-data-test.keys"),
        );
    })
    .await;
    let application = dibao_complete();
    let name = application["applicant"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let id_number = application["applicant"]["id_number"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app.intake(CLERK_BAISHUI, DIBAO, &application).await;
    assert_eq!(r.status, 201, "{}", r.text);
    wait_for(&rx, 1).await;
    let got = rx.received();
    assert!(
        got[0].body.contains(&name) && got[0].body.contains(&id_number),
        "{}",
        got[0].body
    );
    let path = app
        .database_url
        .strip_prefix("sqlite://")
        .expect("a SQLite test database")
        .to_string();
    let c = stored_outbox_payloads(&path);
    assert!(!c.is_empty(), "no outbox payload stored");
    for payload in c {
        assert!(
            !payload.contains(&name),
            "plain name in the outbox: {payload}"
        );
        assert!(
            !payload.contains(&id_number),
            "plain ID number in the outbox: {payload}"
        );
    }
}

/// The stored outbox payloads, read through the project's own store connection.
fn stored_outbox_payloads(path: &str) -> Vec<String> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct P {
        #[diesel(sql_type = diesel::sql_types::Text)]
        payload: String,
    }
    let mut c = diesel::sqlite::SqliteConnection::establish(path).unwrap();
    diesel::sql_query("SELECT payload FROM outbox_events")
        .load::<P>(&mut c)
        .unwrap()
        .into_iter()
        .map(|p| p.payload)
        .collect()
}
