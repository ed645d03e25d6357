//! 补正: a case waiting for materials is completed through POST /cases/{id}/supplements.

use serde_json::json;

use crate::helpers::*;
use crate::on_both_backends;

async fn supplement_then_acceptance(app: &TestApp) {
    let first = app.intake(CLERK_BAISHUI, DIBAO, &dibao_defective()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.body["outcome"], "supplement_needed");
    let id = first.case_id();

    let r = app
        .post_json(
            &format!("/api/v1/cases/{id}/supplements"),
            Some(CLERK_BAISHUI),
            &dibao_full_supplement(),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.case_id(), id);
    assert_eq!(r.body["outcome"], "accepted_promised");
    assert_eq!(r.body["case"]["status"], "accepted");
    assert_eq!(r.body["case"]["due_date"], "2026-03-30");
    assert_eq!(r.body["case"]["row_version"], 2);
    assert_eq!(r.notice_kinds(), ["acceptance"]);
    assert_eq!(r.notice_numbers(), ["白水镇政务〔2026〕受字第0001号"]);

    // Nothing left to supplement: 409 in the error shape.
    let again = app
        .post_json(
            &format!("/api/v1/cases/{id}/supplements"),
            Some(CLERK_BAISHUI),
            &dibao_full_supplement(),
            &[],
        )
        .await;
    again.assert_error(409, "conflict");

    let h = app
        .get(&format!("/api/v1/cases/{id}/history"), Some(CLERK_BAISHUI))
        .await;
    assert_eq!(h.status, 200, "{}", h.text);
    let actions: Vec<&str> = h
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["intake", "supplement"]);
    assert!(h
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor"] == "clerk-baishui"));

    let n = app
        .get(&format!("/api/v1/cases/{id}/notices"), Some(CLERK_BAISHUI))
        .await;
    assert_eq!(n.status, 200, "{}", n.text);
    let mut kinds: Vec<&str> = n
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["kind"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["acceptance", "supplement"]);

    let got = app
        .get(&format!("/api/v1/cases/{id}"), Some(CLERK_BAISHUI))
        .await;
    assert_eq!(got.body["case"]["status"], "accepted");
}

/// A case completed by a later supplement is accepted on the day of the supplement: the
/// acceptance notice bears that day and the promised date runs from it.
async fn supplement_on_a_later_day(app: &TestApp) {
    let first = app.intake(CLERK_BAISHUI, DIBAO, &dibao_defective()).await;
    let id = first.case_id();
    app.clock.set_day(day(2026, 3, 9));
    // What the same complete application would be promised if taken today.
    let today = app
        .post_json(
            "/api/v1/assessments",
            Some(CLERK_BAISHUI),
            &json!({ "matter": DIBAO, "application": dibao_complete() }),
            &[],
        )
        .await;
    let expected_due = today.body["due"]["date"].as_str().unwrap().to_string();
    assert!(expected_due.as_str() > "2026-03-30", "{expected_due}");
    let r = app
        .post_json(
            &format!("/api/v1/cases/{id}/supplements"),
            Some(CLERK_BAISHUI),
            &dibao_full_supplement(),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["case"]["due_date"], expected_due.as_str());
    assert_eq!(r.body["case"]["received_on"], "2026-03-02");
    assert_eq!(r.body["notices"][0]["issued_on"], "2026-03-09");
    assert_eq!(r.body["notices"][0]["content"]["issued_on"], "2026-03-09");
}

/// A partial supplement gives a new complete notice naming only what is still missing.
async fn partial_supplement_gives_new_notice(app: &TestApp) {
    let first = app.intake(CLERK_BAISHUI, DIBAO, &dibao_defective()).await;
    let id = first.case_id();
    let r = app
        .post_json(
            &format!("/api/v1/cases/{id}/supplements"),
            Some(CLERK_BAISHUI),
            &json!({
                "fields": { "household_size": 2 },
                "materials": [ { "id": "application_form", "signed": true } ]
            }),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["outcome"], "supplement_needed");
    assert_eq!(r.body["case"]["status"], "awaiting_supplement");
    assert_eq!(r.notice_numbers(), ["白水镇政务〔2026〕补字第0002号"]);
    let mut ids = defect_ids(&r.body["assessment"]);
    ids.sort();
    assert_eq!(
        ids,
        [
            "authorization",
            "disability_certificate",
            "household_register",
            "income_proof"
        ]
    );
    assert_eq!(item_titles(&r.body["notices"][0]).len(), 4);
}

async fn supplement_access_and_unknown_case(app: &TestApp) {
    let first = app.intake(CLERK_BAISHUI, DIBAO, &dibao_defective()).await;
    let id = first.case_id();
    let path = format!("/api/v1/cases/{id}/supplements");
    app.post_json(&path, Some(CLERK_QINGSHI), &dibao_full_supplement(), &[])
        .await
        .assert_error(404, "not_found");
    app.post_json(
        &path,
        Some(SUPERVISOR_BAISHUI),
        &dibao_full_supplement(),
        &[],
    )
    .await
    .assert_error(403, "forbidden");
    app.post_json(&path, None, &dibao_full_supplement(), &[])
        .await
        .assert_error(401, "unauthorized");
    app.post_json(
        "/api/v1/cases/QINGSHAN-20260302-000000000000/supplements",
        Some(CLERK_BAISHUI),
        &dibao_full_supplement(),
        &[],
    )
    .await
    .assert_error(404, "not_found");
    // Still waiting, untouched.
    let got = app
        .get(&format!("/api/v1/cases/{id}"), Some(CLERK_BAISHUI))
        .await;
    assert_eq!(got.body["case"]["status"], "awaiting_supplement");
    assert_eq!(got.body["case"]["row_version"], 1);
}

/// 逾期未补正: the one-time notice says by when; after that day the scheduler ends the case with
/// a numbered notice, and a late supplement is refused with what to do instead.
async fn a_one_time_notice_lapses(app: &TestApp) {
    let first = app.intake(CLERK_BAISHUI, DIBAO, &dibao_defective()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let id = first.case_id();
    // 20 working days (the catalog's default) from Monday 2026-03-02.
    let items = first.body["notices"][0]["content"]["items"]
        .as_array()
        .unwrap()
        .clone();
    let due = items
        .iter()
        .find(|i| i["title"] == "补正期限")
        .unwrap_or_else(|| panic!("no 补正期限: {}", first.text));
    assert!(
        due["detail"]
            .as_str()
            .unwrap()
            .contains("请于2026年3月30日前补正"),
        "{due}"
    );
    // The day itself is still in time.
    app.clock.set_day(day(2026, 3, 30));
    let s = app
        .post_json("/api/v1/scheduler/sweep", Some(ADMIN), &json!({}), &[])
        .await;
    assert_eq!(s.body["fired"], 0, "{}", s.text);
    app.clock.set_day(day(2026, 3, 31));
    let s = app
        .post_json("/api/v1/scheduler/sweep", Some(ADMIN), &json!({}), &[])
        .await;
    assert_eq!(s.body["fired"], 1, "{}", s.text);
    let c = app
        .get(&format!("/api/v1/cases/{id}"), Some(CLERK_BAISHUI))
        .await;
    assert_eq!(c.body["case"]["status"], "lapsed", "{}", c.text);
    let notices = app
        .get(&format!("/api/v1/cases/{id}/notices"), Some(CLERK_BAISHUI))
        .await;
    let last = notices.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "lapse", "{}", notices.text);
    assert_eq!(last["number"], "白水镇政务〔2026〕逾字第0001号");
    let late = app
        .post_json(
            &format!("/api/v1/cases/{id}/supplements"),
            Some(CLERK_BAISHUI),
            &dibao_full_supplement(),
            &[],
        )
        .await;
    late.assert_error(409, "case_lapsed");
    assert!(late.text.contains("重新提交申请"), "{}", late.text);
    // A 补办件 that lapsed: counted as taken, noticed and lapsed, never accepted.
    let f = app
        .get(
            "/api/v1/supervision/figures?from=2026-03-01&to=2026-03-31&by=township",
            Some(SUPERVISOR_COUNTY),
        )
        .await;
    assert_eq!(f.status, 200, "{}", f.text);
    let b = &f.body[0];
    assert_eq!(
        (
            &b["key"],
            &b["taken"],
            &b["supplement_noticed"],
            &b["lapsed"],
            &b["received"]
        ),
        (
            &json!("baishui"),
            &json!(1),
            &json!(1),
            &json!(1),
            &json!(0)
        ),
        "{}",
        f.text
    );
}

/// A one-time notice given just before 中秋 and 国庆 (2026-09-21): its 20 working days skip
/// both holidays and count the make-up working Saturday 10-10, so it is open until 2026-10-26
/// and lapses on the 27th (counted by hand from the State Council's 2026 notice).
async fn a_one_time_notice_lapses_across_national_day(app: &TestApp) {
    app.clock.set_day(day(2026, 9, 21));
    let first = app.intake(CLERK_BAISHUI, DIBAO, &dibao_defective()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let id = first.case_id();
    assert!(
        first.text.contains("请于2026年10月26日前补正"),
        "{}",
        first.text
    );
    app.clock.set_day(day(2026, 10, 26));
    let s = app
        .post_json("/api/v1/scheduler/sweep", Some(ADMIN), &json!({}), &[])
        .await;
    assert_eq!(s.body["fired"], 0, "{}", s.text);
    app.clock.set_day(day(2026, 10, 27));
    let s = app
        .post_json("/api/v1/scheduler/sweep", Some(ADMIN), &json!({}), &[])
        .await;
    assert_eq!(s.body["fired"], 1, "{}", s.text);
    let c = app
        .get(&format!("/api/v1/cases/{id}"), Some(CLERK_BAISHUI))
        .await;
    assert_eq!(c.body["case"]["status"], "lapsed", "{}", c.text);
}

on_both_backends! {
    a_one_time_notice_lapses_across_national_day => lapses_across_national_day_sqlite, lapses_across_national_day_postgres;
    a_one_time_notice_lapses => notice_lapses_sqlite, notice_lapses_postgres;
    supplement_then_acceptance => supplement_then_acceptance_sqlite, supplement_then_acceptance_postgres;
    supplement_on_a_later_day => supplement_on_a_later_day_sqlite, supplement_on_a_later_day_postgres;
    partial_supplement_gives_new_notice => partial_supplement_gives_new_notice_sqlite, partial_supplement_gives_new_notice_postgres;
    supplement_access_and_unknown_case => supplement_access_and_unknown_case_sqlite, supplement_access_and_unknown_case_postgres;
}
