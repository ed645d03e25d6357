//! `yichuang archive` with the real binary, on SQLite and PostgreSQL, while the service runs:
//! finished cases go to a verified JSON Lines file and leave the database with their whole
//! history; open and unfinished cases stay untouched; `audit verify` passes afterwards; a second
//! run archives nothing; an existing file is never overwritten; a damaged file is detected.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use serde_json::{json, Value};
use sha2::Digest;

mod common;
#[path = "common/service.rs"]
mod service;
use service::{dibao, intake, text, today_in_china, yichuang, Dibao, Server, CLERK};

#[derive(QueryableByName, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Runs a query returning `id` and `n` on either backend.
fn rows(url: &str, sql: &str) -> Vec<Row> {
    let mut r = match url.strip_prefix("sqlite://") {
        Some(path) => diesel::sql_query(sql)
            .load::<Row>(&mut SqliteConnection::establish(path).unwrap())
            .unwrap(),
        None => diesel::sql_query(sql)
            .load::<Row>(&mut PgConnection::establish(url).unwrap())
            .unwrap(),
    };
    r.sort();
    r
}

const TABLES: [&str; 9] = [
    "case_events",
    "notices",
    "case_parts",
    "case_steps",
    "ratings",
    "due_items",
    "idempotency_keys",
    "outbox_events",
    "outbox_deliveries",
];

/// Every case's row version and chain head, and its rows in every table: what must not change
/// for a case that stays.
fn state(url: &str) -> BTreeMap<String, Vec<Row>> {
    let mut s = BTreeMap::new();
    s.insert(
        "cases".to_string(),
        rows(
            url,
            "SELECT id || ':' || COALESCE(audit_head, '') AS id, row_version AS n FROM cases",
        ),
    );
    for t in TABLES {
        s.insert(
            t.to_string(),
            rows(
                url,
                &format!("SELECT case_id AS id, COUNT(*) AS n FROM {t} GROUP BY case_id"),
            ),
        );
    }
    s
}

/// The state restricted to cases not in `gone`.
fn without(
    state: &BTreeMap<String, Vec<Row>>,
    gone: &BTreeSet<String>,
) -> BTreeMap<String, Vec<Row>> {
    state
        .iter()
        .map(|(t, rows)| {
            let kept = rows
                .iter()
                .filter(|r| !gone.contains(r.id.split(':').next().unwrap_or_default()))
                .cloned()
                .collect();
            (t.clone(), kept)
        })
        .collect()
}

/// Any row of `ids` in any table.
fn traces(url: &str, ids: &BTreeSet<String>) -> Vec<String> {
    let mut found = Vec::new();
    for (t, rs) in state(url) {
        for r in rs {
            let id = r.id.split(':').next().unwrap_or_default().to_string();
            if ids.contains(&id) {
                found.push(format!("{t}: {id}"));
            }
        }
    }
    found
}

fn shop(n: u32) -> Value {
    json!({"matter": "QS-SC-001", "application": {
        "applicant": {"kind": "natural_person", "name": format!("张伟{n}"),
                      "id_number": "330112198506150131", "phone": "13905710001"},
        "fields": {"business_name": format!("青山县白水镇张伟理发店{n}"), "organization_form": "个人经营",
            "industry": "理发美容", "business_scope": "理发服务",
            "premises_address": "青山县白水镇东村商业街8号", "capital": 30000, "employees": 2,
            "phone": "13905710001", "designated_spot_only": false},
        "materials": [{"id": "application_form", "signed": true},
                      {"id": "applicant_id_card", "expires_on": "2035-06-15"},
                      {"id": "premises_proof"}]}})
}

fn archive(url: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["archive", "--database", url];
    args.extend_from_slice(extra);
    yichuang(&args)
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The body of an archive file (everything after the header line) and its header.
fn split(bytes: &[u8]) -> (Value, &[u8]) {
    let at = bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
    (
        serde_json::from_slice(&bytes[..at - 1]).unwrap(),
        &bytes[at..],
    )
}

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn verify_says(file: &Path, code: i32, says: &str) {
    let out = yichuang(&["archive", "--verify", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(code), "{}", text(&out));
    assert!(
        stdout(&out).contains(says),
        "expected {says:?}: {}",
        text(&out)
    );
}

fn scenario(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(url, &d.join("server.log"));
    let mut http = server.http();

    // Finished: refused at intake, withdrawn, a 即办件 whose result was handed over.
    let refused: Vec<String> = (0..3)
        .map(|n| intake(&mut http, &dibao(Dibao::Refused, n)).0)
        .collect();
    let accepted: Vec<String> = (0..4)
        .map(|n| intake(&mut http, &dibao(Dibao::Complete, n)).0)
        .collect();
    for id in &accepted[..2] {
        let a = http
            .post(
                &format!("/api/v1/cases/{id}/withdrawal"),
                CLERK,
                &json!({"reason": "申请人撤回"}),
            )
            .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let immediate: Vec<String> = (0..3).map(|n| intake(&mut http, &shop(n)).0).collect();
    for id in &immediate[1..] {
        let a = http
            .post(
                &format!("/api/v1/cases/{id}/delivery"),
                CLERK,
                &json!({"method": "window_pickup", "originals_checked": true, "window": "bs-w02"}),
            )
            .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
    }
    // Rated: 非常满意 on one delivered result (finished, its rating goes with it); a 差评 on the
    // other, whose follow-up is open (not finished until a supervisor closes it).
    for (id, level) in [(&immediate[1], 5), (&immediate[2], 1)] {
        let a = http
            .post(
                &format!("/api/v1/cases/{id}/rating"),
                CLERK,
                &json!({"level": level, "comment": "评价"}),
            )
            .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
    }
    // Not finished: accepted and running, waiting for 补正, a 即办 result not handed over yet.
    let waiting: Vec<String> = (0..2)
        .map(|n| intake(&mut http, &dibao(Dibao::Incomplete, n)).0)
        .collect();

    let finished: BTreeSet<String> = refused
        .iter()
        .chain(&accepted[..2])
        .chain(&immediate[1..2])
        .cloned()
        .collect();
    let staying: BTreeSet<String> = accepted[2..]
        .iter()
        .chain([&immediate[0], &immediate[2]])
        .chain(&waiting)
        .cloned()
        .collect();
    let today = today_in_china();
    let tomorrow = (today + chrono::Duration::days(1)).to_string();
    let today = today.to_string();

    // A dry run: everything changed today is not before today; before tomorrow, exactly the
    // finished cases, and the undelivered 即办件 named as not finished.
    let out = archive(url, &["--before", &today, "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains(": 0 finished case(s)"),
        "{}",
        text(&out)
    );
    let before = state(url);
    let out = archive(url, &["--before", &tomorrow, "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = stdout(&out);
    assert!(said.contains(": 6 finished case(s)"), "{said}");
    let (listed, held) = said.split_once("not finished").unwrap_or((&said, ""));
    for id in &finished {
        assert!(listed.contains(id.as_str()), "{id} not listed: {said}");
    }
    for id in &staying {
        assert!(!listed.contains(id.as_str()), "{id} listed: {said}");
    }
    assert_eq!(held.lines().count(), 3, "{said}");
    for (id, why) in [
        (&immediate[0], "not handed over"),
        (&immediate[2], "follow-up"),
    ] {
        assert!(
            said.lines()
                .any(|l| l.contains(id.as_str()) && l.contains(why)),
            "{id}: {said}"
        );
    }
    assert_eq!(state(url), before, "the dry run changed the database");

    // The archive.
    let file = d.join("archive/2026-before.jsonl");
    let out = archive(
        url,
        &["--before", &tomorrow, "--to", file.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    eprintln!("{}", stdout(&out));
    assert!(
        stdout(&out).contains("deleted:    6 cases"),
        "{}",
        text(&out)
    );

    // The file: a header with version, count and the body's digest; one case per line with
    // its whole history.
    let bytes = std::fs::read(&file).unwrap();
    let (header, body) = split(&bytes);
    assert_eq!(header["format"], "yichuang-archive");
    assert_eq!(header["version"], 1);
    assert_eq!(header["count"], 6);
    assert_eq!(header["body_sha256"], sha256(body));
    let mut in_file = BTreeSet::new();
    for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let record: Value = serde_json::from_slice(line).unwrap();
        let id = record["case"]["id"].as_str().unwrap().to_string();
        assert!(!record["events"].as_array().unwrap().is_empty(), "{id}");
        assert!(!record["notices"].as_array().unwrap().is_empty(), "{id}");
        assert!(!record["parts"].as_array().unwrap().is_empty(), "{id}");
        assert_eq!(
            record["case"]["audit_head"],
            record["events"].as_array().unwrap().last().unwrap()["hash"],
            "{id}"
        );
        if id == immediate[1] {
            assert_eq!(record["ratings"].as_array().unwrap().len(), 1, "{record}");
        }
        in_file.insert(id);
    }
    assert_eq!(in_file, finished);
    verify_says(&file, 0, "intact: 6 cases");

    // Gone from every table, recorded in the ledger with the file's digest; every other case
    // exactly as it was; the audit chains of the rest intact.
    assert_eq!(traces(url, &finished), Vec::<String>::new());
    let ledger = rows(
        url,
        "SELECT case_id || ':' || archive_sha256 AS id, entries AS n FROM archived_cases",
    );
    let digest = header["body_sha256"].as_str().unwrap();
    assert_eq!(ledger.len(), 6);
    assert!(
        ledger.iter().all(|r| r.id.ends_with(digest) && r.n >= 1),
        "{ledger:?}"
    );
    assert_eq!(state(url), without(&before, &finished));
    let out = yichuang(&["audit", "verify", "--database", url]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains(&format!("intact: {} cases", staying.len())),
        "{}",
        text(&out)
    );
    // The service goes on: an archived case is not found, a staying one is.
    let gone = http
        .send(
            "GET",
            &format!("/api/v1/cases/{}", refused[0]),
            Some(CLERK),
            "",
        )
        .unwrap();
    assert_eq!(gone.status, 404);
    let here = http
        .send(
            "GET",
            &format!("/api/v1/cases/{}", accepted[3]),
            Some(CLERK),
            "",
        )
        .unwrap();
    assert_eq!(here.status, 200);

    // Running it again archives nothing and writes nothing (also with the same file name).
    let after = state(url);
    for name in ["again.jsonl", "archive/2026-before.jsonl"] {
        let out = archive(
            url,
            &[
                "--before",
                &tomorrow,
                "--to",
                d.join(name).to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            stdout(&out).contains("nothing written, nothing deleted"),
            "{}",
            text(&out)
        );
    }
    assert!(!d.join("again.jsonl").exists());
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    assert_eq!(state(url), after);

    // Something new to archive, and the file name taken: refused, nothing deleted, no working
    // files left behind.
    let late = intake(&mut http, &dibao(Dibao::Refused, 9)).0;
    let out = archive(
        url,
        &["--before", &tomorrow, "--to", file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("never overwritten"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    let left = traces(url, &BTreeSet::from([late.clone()]));
    for t in ["cases", "case_events", "notices"] {
        assert!(left.contains(&format!("{t}: {late}")), "{left:?}");
    }
    let names: Vec<String> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["2026-before.jsonl"]);
    // The 差评 followed up: that case is finished now too.
    let a = http
        .post(
            &format!("/api/v1/cases/{}/followup/close", immediate[2]),
            "dev-supervisor-baishui",
            &json!({"note": "已回访整改"}),
        )
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let second = d.join("archive/late.jsonl");
    let out = archive(
        url,
        &["--before", &tomorrow, "--to", second.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("deleted:    2 cases"),
        "{}",
        text(&out)
    );
    assert_eq!(
        traces(url, &BTreeSet::from([late.clone(), immediate[2].clone()])),
        Vec::<String>::new()
    );
    let out = yichuang(&["audit", "verify", "--database", url]);
    assert!(out.status.success(), "{}", text(&out));
    server.stop();

    // Damaged copies of the file are detected.
    let damaged = |name: &str, bytes: Vec<u8>| {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    // One byte of the body changed.
    let mut b = bytes.clone();
    let at = bytes.len() - body.len() + body.len() / 2;
    b[at] = if b[at] == b'0' { b'1' } else { b'0' };
    verify_says(&damaged("flipped.jsonl", b), 1, "SHA-256");
    // The last case dropped.
    let mut lines: Vec<&[u8]> = bytes.split_inclusive(|c| *c == b'\n').collect();
    lines.pop();
    verify_says(
        &damaged("short.jsonl", lines.concat()),
        1,
        "the header says 6",
    );
    // The last line cut in half.
    let cut = bytes.len() - lines.concat().len();
    verify_says(
        &damaged("cut.jsonl", bytes[..bytes.len() - cut / 2].to_vec()),
        1,
        "cut off",
    );
    // An audit entry altered and the header's digest recomputed to match: the chain says it.
    let mut records: Vec<Value> = body
        .split(|c| *c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    records[0]["events"][0]["actor"] = json!("someone-else");
    let new_body: Vec<u8> = records
        .iter()
        .flat_map(|r| {
            let mut l = serde_json::to_vec(r).unwrap();
            l.push(b'\n');
            l
        })
        .collect();
    let mut h = header.clone();
    h["body_sha256"] = json!(sha256(&new_body));
    let mut forged = serde_json::to_vec(&h).unwrap();
    forged.push(b'\n');
    forged.extend(new_body);
    verify_says(&damaged("forged.jsonl", forged), 1, "audit chain");
    // Not an archive at all.
    verify_says(
        &damaged("other.jsonl", b"{\"a\":1}\n".to_vec()),
        1,
        "header",
    );
    // The original still verifies.
    verify_says(&file, 0, "intact");
}

#[test]
fn archive_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    scenario(&format!("sqlite://{}/yc.db", dir.path().display()));
}

#[test]
fn archive_on_postgres() {
    let db = common::PgDb::new("yc_archive");
    scenario(&db.url);
}
