//! The access matrix: every endpoint × every role × own / other center → allowed, or refused
//! with 401 (no credentials), 403 (a case the user sees but may not change this way) or 404 (a
//! case out of the user's scope: answered as if it did not exist, so ids cannot be probed).
//! "Allowed" means the request got past the access checks: a 2xx, or a 404/409/422 about the
//! request itself — never a 5xx. The rules are those of `app::access` (its own table is
//! unit-tested there).
//!
//! The case under test is a 低保 application taken at 白水镇 by its clerk: its first step is the
//! 白水镇 center's, its deciding unit 县民政局 (`dev-approver-civil`). State-changing requests
//! run first for every refused role on one case, then for each allowed role on a fresh case, so
//! one allowed change never masks another cell.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both_backends;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Allow,
    Deny,
    /// 404 not_found: the case is out of the user's scope.
    Hidden,
}
use Want::{Allow as A, Deny as D, Hidden as H};

/// The roles, in the order of every row below.
const ROLES: [(&str, Option<&str>); 10] = [
    ("anonymous", None),
    ("clerk, own center (白水)", Some(CLERK_BAISHUI)),
    ("clerk, other township (青石)", Some(CLERK_QINGSHI)),
    ("clerk, county center", Some(CLERK_COUNTY)),
    ("agent, not theirs", Some(AGENT_DONGCUN)),
    ("approver, deciding unit", Some(APPROVER_CIVIL)),
    ("approver, other unit", Some(APPROVER_HEALTH)),
    ("supervisor, county", Some(SUPERVISOR_COUNTY)),
    ("supervisor, own township", Some(SUPERVISOR_BAISHUI)),
    ("admin", Some(ADMIN)),
];

struct Row {
    method: &'static str,
    /// `{case}`, `{step}` and `{notice}` are filled in.
    path: &'static str,
    body: Value,
    /// Changes the case when allowed: each allowed role gets a fresh case.
    changes: bool,
    /// Allowed or denied per role, in `ROLES` order (anonymous is always 401).
    want: [Want; 9],
}

fn rows() -> Vec<Row> {
    // The deciding department (县民政局) sees the case once a step reaches it; the first step is
    // the township center's.
    let read = [A, H, H, H, H, H, A, A, A];
    // Only the center (or agent) that took the case serves it; others see it or not.
    let serve = [A, H, H, H, H, H, D, D, D];
    let pause =
        json!({"kind": "appraisal", "reason": "家庭经济状况核对", "expected_end": "2026-03-20"});
    let r = |method, path, body, changes, want| Row {
        method,
        path,
        body,
        changes,
        want,
    };
    vec![
        r("GET", "/api/v1/cases/{case}", Value::Null, false, read),
        r(
            "GET",
            "/api/v1/cases/{case}/notices",
            Value::Null,
            false,
            read,
        ),
        r(
            "GET",
            "/api/v1/cases/{case}/history",
            Value::Null,
            false,
            read,
        ),
        r(
            "GET",
            "/api/v1/cases/{case}/progress",
            Value::Null,
            false,
            read,
        ),
        r("GET", "/api/v1/notices/{notice}", Value::Null, false, read),
        r(
            "GET",
            "/api/v1/notices/{notice}/print",
            Value::Null,
            false,
            read,
        ),
        r(
            "GET",
            "/api/v1/cases",
            Value::Null,
            false,
            [A, A, A, A, D, D, A, A, A],
        ),
        r(
            "GET",
            "/api/v1/inbox",
            Value::Null,
            false,
            [A, A, A, D, A, A, D, D, D],
        ),
        r(
            "POST",
            "/api/v1/cases",
            json!({"matter": DIBAO, "application": dibao_complete()}),
            false,
            [A, A, A, A, D, D, D, D, D],
        ),
        // A dry run stores nothing: every signed-in role may try an application.
        r(
            "POST",
            "/api/v1/assessments",
            json!({"matter": DIBAO, "application": dibao_complete()}),
            false,
            [A, A, A, A, A, A, A, A, A],
        ),
        r(
            "POST",
            "/api/v1/cases/{case}/supplements",
            json!({"materials": [{"id": "id_cards"}]}),
            false,
            serve,
        ),
        r(
            "POST",
            "/api/v1/cases/{case}/steps/{step}",
            json!({"action": "approve", "comment": "同意"}),
            true,
            serve,
        ),
        r("POST", "/api/v1/cases/{case}/pause", pause, true, serve),
        r(
            "POST",
            "/api/v1/cases/{case}/extension",
            json!({"approved_by": "局长", "reason": "需入户复核"}),
            true,
            serve,
        ),
        r(
            "POST",
            "/api/v1/cases/{case}/resume",
            json!({}),
            false,
            serve,
        ),
        r(
            "POST",
            "/api/v1/cases/{case}/deferred-materials",
            json!({"materials": [{"id": "income_proof"}]}),
            false,
            serve,
        ),
        r(
            "POST",
            "/api/v1/cases/{case}/delivery",
            json!({"method": "window_pickup", "originals_checked": true}),
            false,
            serve,
        ),
        r(
            "POST",
            "/api/v1/cases/{case}/rating",
            json!({"level": 5}),
            false,
            serve,
        ),
        r(
            "POST",
            "/api/v1/cases/{case}/followup/close",
            json!({"note": "已回访"}),
            false,
            [D, H, H, H, H, H, A, A, D],
        ),
        r(
            "POST",
            "/api/v1/cases/{case}/withdrawal",
            json!({"reason": "申请人撤回"}),
            true,
            serve,
        ),
        r(
            "GET",
            "/api/v1/supervision/figures?from=2026-01-01&to=2026-12-31",
            Value::Null,
            false,
            [D, D, D, D, D, D, A, A, A],
        ),
        r(
            "GET",
            "/api/v1/supervision/alerts",
            Value::Null,
            false,
            [D, D, D, D, D, D, A, A, A],
        ),
        r(
            "GET",
            "/api/v1/supervision/followups",
            Value::Null,
            false,
            [D, D, D, D, D, D, A, A, A],
        ),
        r(
            "POST",
            "/api/v1/scheduler/sweep",
            json!({}),
            false,
            [D, D, D, D, D, D, D, D, A],
        ),
        r(
            "POST",
            "/api/v1/catalog/reload",
            json!({}),
            false,
            [D, D, D, D, D, D, D, D, A],
        ),
        r(
            "GET",
            "/api/v1/catalog",
            Value::Null,
            false,
            [A, A, A, A, A, A, A, A, A],
        ),
    ]
}

/// A fresh 低保 case at 白水镇: (case id, first step id, first notice id).
async fn fresh_case(app: &TestApp) -> (String, String, String) {
    let r = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let case = r.case_id();
    let notice = r.body["notices"][0]["id"].as_str().unwrap().to_string();
    let p = app
        .get(
            &format!("/api/v1/cases/{case}/progress"),
            Some(CLERK_BAISHUI),
        )
        .await;
    let step = p.body["steps"][0]["id"].as_str().unwrap().to_string();
    (case, step, notice)
}

async fn call(
    app: &TestApp,
    row: &Row,
    token: Option<&str>,
    ids: &(String, String, String),
) -> Resp {
    let path = row
        .path
        .replace("{case}", &ids.0)
        .replace("{step}", &ids.1)
        .replace("{notice}", &ids.2);
    match row.method {
        "GET" => app.get(&path, token).await,
        _ => app.post_json(&path, token, &row.body, &[]).await,
    }
}

fn verdict(r: &Resp) -> Result<Option<Want>, String> {
    match r.status.as_u16() {
        s if s >= 500 => Err(format!("{s}: {}", r.text)),
        401 => Ok(None),
        403 => Ok(Some(D)),
        404 if r.body["error"] == "not_found" => Ok(Some(H)),
        _ => Ok(Some(A)),
    }
}

async fn access_matrix(app: &TestApp) {
    let shared = fresh_case(app).await;
    let mut mismatches = Vec::new();
    let mut cells = 0;
    for row in rows() {
        // Refused roles (and anonymous) first, all on the shared case.
        for (i, (role, token)) in ROLES.iter().enumerate() {
            let want = if i == 0 { None } else { Some(row.want[i - 1]) };
            if row.changes && want == Some(A) {
                continue;
            }
            let r = call(app, &row, *token, &shared).await;
            cells += 1;
            if matches!(r.status.as_u16(), 401 | 403 | 404) {
                assert_error_shape(&r);
            }
            match verdict(&r) {
                Err(e) => mismatches.push(format!(
                    "{} {} as {role}: server error {e}",
                    row.method, row.path
                )),
                Ok(got) if got != want => mismatches.push(format!(
                    "{} {} as {role}: expected {want:?}, got {} {}",
                    row.method,
                    row.path,
                    r.status,
                    r.text.chars().take(200).collect::<String>()
                )),
                Ok(_) => {}
            }
        }
        // Allowed roles of a state-changing row, each on a case of its own.
        if row.changes {
            for (i, (role, token)) in ROLES.iter().enumerate().skip(1) {
                if row.want[i - 1] != A {
                    continue;
                }
                let own = fresh_case(app).await;
                let r = call(app, &row, *token, &own).await;
                cells += 1;
                if !r.status.is_success() {
                    mismatches.push(format!(
                        "{} {} as {role}: expected success, got {} {}",
                        row.method, row.path, r.status, r.text
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {cells} cells differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert_eq!(cells, rows().len() * ROLES.len());
}

on_both_backends! {
    access_matrix => access_matrix_sqlite, access_matrix_postgres;
}

// ---------------------------------------------------------------- the policy's own table

use yichuang::app::access::{Action, Expect, Relation, ACTIONS, TABLE};

/// What a case is like when the request comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaseKind {
    /// Accepted; the first step is the 白水镇 center's.
    Accepted,
    /// A one-time notice is open (no step yet).
    AwaitingSupplement,
    /// Refused at intake (no step at all).
    Refused,
}

/// Each role's relations to the case (a user may have two: the clerk of the center whose step
/// is active acts on it as an approver does).
fn relations(token: &str, kind: CaseKind) -> Vec<Relation> {
    match token {
        CLERK_BAISHUI if kind == CaseKind::Accepted => {
            vec![Relation::CenterClerk, Relation::ActiveApprover]
        }
        CLERK_BAISHUI => vec![Relation::CenterClerk],
        CLERK_QINGSHI | CLERK_COUNTY => vec![Relation::OtherClerk],
        AGENT_DONGCUN => vec![Relation::OtherAgent],
        APPROVER_CIVIL | APPROVER_HEALTH => vec![Relation::OtherApprover],
        SUPERVISOR_COUNTY => vec![Relation::CountySupervisor],
        SUPERVISOR_BAISHUI => vec![Relation::CenterSupervisor],
        ADMIN => vec![Relation::Admin],
        other => panic!("no relation for {other}"),
    }
}

/// The policy's answer for a role and an action: the most permissive of its relations' cells.
fn expected(token: &str, kind: CaseKind, action: Action) -> Want {
    let column = ACTIONS
        .iter()
        .position(|a| *a == action)
        .expect("the action has a column");
    let rank = |e: Expect| match e {
        Expect::Allowed => 2,
        Expect::Forbidden => 1,
        Expect::NotFound => 0,
    };
    let best = relations(token, kind)
        .into_iter()
        .map(|r| {
            TABLE
                .iter()
                .find(|(rel, _)| *rel == r)
                .map(|(_, row)| row[column])
                .expect("the relation has a row")
        })
        .max_by_key(|e| rank(*e))
        .expect("at least one relation");
    match best {
        Expect::Allowed => A,
        Expect::Forbidden => D,
        Expect::NotFound => H,
    }
}

/// The case endpoints and the action each asks the policy for.
fn case_rows() -> Vec<(&'static str, &'static str, Value, Action)> {
    let pause =
        json!({"kind": "appraisal", "reason": "家庭经济状况核对", "expected_end": "2026-03-20"});
    vec![
        ("GET", "/api/v1/cases/{case}", Value::Null, Action::Read),
        (
            "GET",
            "/api/v1/cases/{case}/notices",
            Value::Null,
            Action::Read,
        ),
        (
            "GET",
            "/api/v1/cases/{case}/history",
            Value::Null,
            Action::Read,
        ),
        (
            "GET",
            "/api/v1/cases/{case}/progress",
            Value::Null,
            Action::Read,
        ),
        ("GET", "/api/v1/notices/{notice}", Value::Null, Action::Read),
        (
            "GET",
            "/api/v1/notices/{notice}/print",
            Value::Null,
            Action::Read,
        ),
        (
            "POST",
            "/api/v1/cases/{case}/supplements",
            json!({"materials": [{"id": "id_cards"}]}),
            Action::Supplement,
        ),
        (
            "POST",
            "/api/v1/cases/{case}/steps/{step}",
            json!({"action": "approve", "comment": "同意"}),
            Action::ActOnStep,
        ),
        (
            "POST",
            "/api/v1/cases/{case}/pause",
            pause,
            Action::HoldClock,
        ),
        (
            "POST",
            "/api/v1/cases/{case}/extension",
            json!({"approved_by": "局长", "reason": "需入户复核"}),
            Action::HoldClock,
        ),
        (
            "POST",
            "/api/v1/cases/{case}/resume",
            json!({}),
            Action::HoldClock,
        ),
        (
            "POST",
            "/api/v1/cases/{case}/deferred-materials",
            json!({"materials": [{"id": "income_proof"}]}),
            Action::SupplyDeferred,
        ),
        (
            "POST",
            "/api/v1/cases/{case}/delivery",
            json!({"method": "window_pickup", "originals_checked": true}),
            Action::Deliver,
        ),
        (
            "POST",
            "/api/v1/cases/{case}/rating",
            json!({"level": 5}),
            Action::Rate,
        ),
        (
            "POST",
            "/api/v1/cases/{case}/followup/close",
            json!({"note": "已回访"}),
            Action::CloseFollowup,
        ),
        (
            "POST",
            "/api/v1/cases/{case}/withdrawal",
            json!({"reason": "申请人撤回"}),
            Action::Withdraw,
        ),
    ]
}

/// A fresh case of `kind` at 白水镇: (case id, a step id, its first notice id).
async fn case_of_kind(app: &TestApp, kind: CaseKind) -> (String, String, String) {
    let r = match kind {
        CaseKind::Accepted => return fresh_case(app).await,
        CaseKind::AwaitingSupplement => app.intake(CLERK_BAISHUI, DIBAO, &dibao_defective()).await,
        CaseKind::Refused => {
            app.intake(
                CLERK_BAISHUI,
                "QS-WS-001",
                &example_application(WEISHENG_FILE, 3),
            )
            .await
        }
    };
    assert_eq!(r.status, 201, "{}", r.text);
    let case = r.case_id();
    let notice = r.body["notices"][0]["id"].as_str().unwrap().to_string();
    // No step exists yet: any id; the policy answers before the step is looked for.
    (case.clone(), format!("{case}-S01"), notice)
}

/// Every case endpoint × every role × three kinds of case, expected straight from
/// `app::access::TABLE` (the policy's own table): the HTTP answers and the table cannot drift.
/// A change the policy allows runs on a case of its own, so it never masks another cell.
async fn access_follows_the_policy_table(app: &TestApp) {
    let mut mismatches = Vec::new();
    let mut cells = 0;
    for kind in [
        CaseKind::Accepted,
        CaseKind::AwaitingSupplement,
        CaseKind::Refused,
    ] {
        let shared = case_of_kind(app, kind).await;
        for (method, path, body, action) in case_rows() {
            let row = Row {
                method,
                path,
                body,
                changes: method == "POST",
                want: [A; 9],
            };
            for (role, token) in ROLES.iter().skip(1) {
                let token = token.expect("a signed-in role");
                let want = expected(token, kind, action);
                let ids = if row.changes && want == A {
                    case_of_kind(app, kind).await
                } else {
                    shared.clone()
                };
                let r = call(app, &row, Some(token), &ids).await;
                cells += 1;
                match verdict(&r) {
                    Err(e) => mismatches.push(format!("{kind:?} {method} {path} as {role}: {e}")),
                    Ok(got) if got != Some(want) => mismatches.push(format!(
                        "{kind:?} {method} {path} as {role}: the table says {want:?}, got {} {}",
                        r.status,
                        r.text.chars().take(160).collect::<String>()
                    )),
                    Ok(_) => {}
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {cells} cells differ from access::TABLE:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert_eq!(cells, 3 * case_rows().len() * (ROLES.len() - 1));
}

on_both_backends! {
    access_follows_the_policy_table => access_table_sqlite, access_table_postgres;
}
