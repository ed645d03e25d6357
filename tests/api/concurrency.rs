//! Many requests at once over real connections: gapless, unique numbers; one case per
//! idempotency key; one winner among concurrent supplements.

use std::collections::BTreeSet;

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::*;
use crate::on_both_backends;

const N: usize = 200;

async fn concurrent_intakes_get_gapless_numbers(app: &TestApp) {
    let requests = (0..N).map(|i| async move {
        app.intake(
            CLERK_BAISHUI,
            DIBAO,
            &dibao_complete_named(&format!("申请人{i}")),
        )
        .await
    });
    let answers = join_all(requests).await;
    let mut ids = BTreeSet::new();
    let mut numbers = Vec::new();
    for r in &answers {
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["outcome"], "accepted_promised");
        ids.insert(r.case_id());
        numbers.extend(r.notice_numbers());
    }
    assert_eq!(ids.len(), N, "case ids are not distinct");
    numbers.sort();
    let want: Vec<String> = (1..=N)
        .map(|i| format!("白水镇政务〔2026〕受字第{i:04}号"))
        .collect();
    assert_eq!(numbers, want);
    assert_eq!(app.case_total(CLERK_BAISHUI).await, N as i64);
    // The next one continues the series.
    let next = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    assert_eq!(next.notice_numbers(), ["白水镇政务〔2026〕受字第0201号"]);
}

async fn concurrent_retries_make_one_case(app: &TestApp) {
    let body = json!({ "matter": DIBAO, "application": dibao_complete() });
    let answers = join_all((0..20).map(|_| {
        app.post_json(
            "/api/v1/cases",
            Some(CLERK_BAISHUI),
            &body,
            &[("Idempotency-Key", "double-click")],
        )
    }))
    .await;
    let ids: BTreeSet<String> = answers
        .iter()
        .map(|r| {
            assert!(
                r.status == 201 || r.status == 200,
                "{} {}",
                r.status,
                r.text
            );
            r.case_id()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(answers.iter().filter(|r| r.status == 201).count(), 1);
    assert!(answers
        .iter()
        .all(|r| r.notice_numbers() == ["白水镇政务〔2026〕受字第0001号"]));
    assert_eq!(app.case_total(CLERK_BAISHUI).await, 1);
}

async fn concurrent_supplements_one_wins(app: &TestApp) {
    let first = app.intake(CLERK_BAISHUI, DIBAO, &dibao_defective()).await;
    let id = first.case_id();
    let path = format!("/api/v1/cases/{id}/supplements");
    let body = dibao_full_supplement();
    let answers =
        join_all((0..10).map(|_| app.post_json(&path, Some(CLERK_BAISHUI), &body, &[]))).await;
    let ok = answers.iter().filter(|r| r.status == 200).count();
    for r in answers.iter().filter(|r| r.status != 200) {
        r.assert_error(409, "conflict");
    }
    assert_eq!(ok, 1, "exactly one supplement wins");
    let n = app
        .get(&format!("/api/v1/cases/{id}/notices"), Some(CLERK_BAISHUI))
        .await;
    let kinds: Vec<&str> = n
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "acceptance").count(),
        1,
        "{kinds:?}"
    );
    let h = app
        .get(&format!("/api/v1/cases/{id}/history"), Some(CLERK_BAISHUI))
        .await;
    assert_eq!(h.body.as_array().unwrap().len(), 2, "{}", h.text);
}

on_both_backends! {
    concurrent_intakes_get_gapless_numbers => concurrent_intakes_get_gapless_numbers_sqlite, concurrent_intakes_get_gapless_numbers_postgres;
    concurrent_retries_make_one_case => concurrent_retries_make_one_case_sqlite, concurrent_retries_make_one_case_postgres;
    concurrent_supplements_one_wins => concurrent_supplements_one_wins_sqlite, concurrent_supplements_one_wins_postgres;
}
