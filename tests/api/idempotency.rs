//! Retries with the same Idempotency-Key return the first answer and create nothing new.

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::*;
use crate::on_both_backends;

async fn idempotent_retry(app: &TestApp) {
    let body = json!({ "matter": DIBAO, "application": dibao_complete() });
    let key = [("Idempotency-Key", "retry-7f3a")];
    let first = app
        .post_json("/api/v1/cases", Some(CLERK_BAISHUI), &body, &key)
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(first.body["replayed"], false);

    let second = app
        .post_json("/api/v1/cases", Some(CLERK_BAISHUI), &body, &key)
        .await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(
        second.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(second.body["replayed"], true);
    assert_eq!(second.case_id(), first.case_id());
    assert_eq!(second.notice_numbers(), first.notice_numbers());
    assert_eq!(second.notice_numbers(), ["白水镇政务〔2026〕受字第0001号"]);
    assert_eq!(second.header("location"), first.header("location"));

    // Same key, another body.
    let other = json!({ "matter": DIBAO, "application": dibao_complete_named("王建国") });
    app.post_json("/api/v1/cases", Some(CLERK_BAISHUI), &other, &key)
        .await
        .assert_error(422, "idempotency_key_reused");

    assert_eq!(app.case_total(CLERK_BAISHUI).await, 1);

    // The key belongs to its user: another clerk's request with the same key is a new case.
    let q = app
        .post_json("/api/v1/cases", Some(CLERK_QINGSHI), &body, &key)
        .await;
    assert_eq!(q.status, 201, "{}", q.text);
    assert_ne!(q.case_id(), first.case_id());

    // A fresh intake after the replay gets the next number, not a skipped one.
    let next = app
        .post_json(
            "/api/v1/cases",
            Some(CLERK_BAISHUI),
            &other,
            &[("Idempotency-Key", "retry-other")],
        )
        .await;
    assert_eq!(next.status, 201, "{}", next.text);
    assert_eq!(next.notice_numbers(), ["白水镇政务〔2026〕受字第0002号"]);
}

async fn invalid_idempotency_keys(app: &TestApp) {
    let body = json!({ "matter": DIBAO, "application": dibao_complete() });
    let long = "k".repeat(129);
    app.post_json(
        "/api/v1/cases",
        Some(CLERK_BAISHUI),
        &body,
        &[("Idempotency-Key", long.as_str())],
    )
    .await
    .assert_error(400, "invalid_idempotency_key");
    app.post_json(
        "/api/v1/cases",
        Some(CLERK_BAISHUI),
        &body,
        &[("Idempotency-Key", "   ")],
    )
    .await
    .assert_error(400, "invalid_idempotency_key");
    assert_eq!(app.case_total(CLERK_BAISHUI).await, 0);
}

/// A change whose answer was lost (a timeout, a 503 after the commit) is sent again with its
/// key: it answers with what the first one committed and does nothing twice — step actions,
/// the clock, supplements — while the same key for anything else is refused.
async fn every_change_is_idempotent_by_key(app: &TestApp) {
    app.clock.set_day(day(2026, 9, 28));
    let r = app
        .intake(
            CLERK_BAISHUI,
            "QS-WS-001",
            &example_application(WEISHENG_FILE, 0),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let case = r.case_id();
    let p = app
        .get(
            &format!("/api/v1/cases/{case}/progress"),
            Some(CLERK_BAISHUI),
        )
        .await;
    let step = active_step(&p.body, "baishui/center");
    let step_path = format!("/api/v1/cases/{case}/steps/{step}");
    let approve = json!({"action": "approve", "comment": "初审通过"});
    let key = [("Idempotency-Key", "approve-1")];

    // A step action, then its retry.
    let first = app
        .post_json(&step_path, Some(CLERK_BAISHUI), &approve, &key)
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.header("idempotent-replayed"), None);
    let retry = app
        .post_json(&step_path, Some(CLERK_BAISHUI), &approve, &key)
        .await;
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(retry.body["progress"], first.body["progress"]);
    // Without the key the same approval is refused: the step is no longer open.
    app.post_json(&step_path, Some(CLERK_BAISHUI), &approve, &[])
        .await
        .assert_error(409, "conflict");
    // The same key for another body or another path is another request.
    let other = json!({"action": "approve", "comment": "同意"});
    app.post_json(&step_path, Some(CLERK_BAISHUI), &other, &key)
        .await
        .assert_error(422, "idempotency_key_reused");
    app.post_json(
        &format!("/api/v1/cases/{case}/resume"),
        Some(CLERK_BAISHUI),
        &json!({}),
        &key,
    )
    .await
    .assert_error(422, "idempotency_key_reused");

    // A change that numbers a notice: the retry answers with the same number and takes none.
    app.clock.set_day(day(2026, 9, 30));
    let pause_path = format!("/api/v1/cases/{case}/pause");
    let pause = json!({"kind": "inspection", "reason": "集中空调通风系统送检", "expected_end": "2026-10-09"});
    let key = [("Idempotency-Key", "pause-1")];
    let first = app
        .post_json(&pause_path, Some(APPROVER_HEALTH), &pause, &key)
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.notice_numbers(), ["白水镇政务〔2026〕特字第0001号"]);
    let retry = app
        .post_json(&pause_path, Some(APPROVER_HEALTH), &pause, &key)
        .await;
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(retry.notice_numbers(), first.notice_numbers());
    assert_eq!(retry.body["notices"], first.body["notices"]);
    // The key is the user's own: another user's request with it is a request of its own
    // (here refused: the window does not hold the step), not a replay of the first.
    app.post_json(&pause_path, Some(CLERK_BAISHUI), &pause, &key)
        .await
        .assert_error(403, "forbidden");

    app.clock.set_day(day(2026, 10, 9));
    let resume_path = format!("/api/v1/cases/{case}/resume");
    let key = [("Idempotency-Key", "resume-1")];
    for _ in 0..2 {
        let r = app
            .post_json(&resume_path, Some(APPROVER_HEALTH), &json!({}), &key)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["progress"]["parts"][0]["paused_working_days"], 2);
        // The notice that the clock runs again, numbered once.
        assert_eq!(r.notice_numbers(), ["白水镇政务〔2026〕特字第0002号"]);
    }
    // Retries racing each other (a client that retried before the first answer came): each
    // gets the one extension, only one request carried it out.
    let ext_path = format!("/api/v1/cases/{case}/extension");
    let ext = json!({"approved_by": "县卫生健康局局长 张卫", "reason": "检测报告需复核"});
    let key = [("Idempotency-Key", "extend-1")];
    let answers =
        join_all((0..6).map(|_| app.post_json(&ext_path, Some(APPROVER_HEALTH), &ext, &key))).await;
    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.notice_numbers(), answers[0].notice_numbers());
        assert_eq!(r.body["progress"]["parts"][0]["extensions"], 1);
    }
    let fresh = answers
        .iter()
        .filter(|r| r.header("idempotent-replayed").is_none())
        .count();
    assert_eq!(fresh, 1);

    let actions = history_actions(app, &case).await;
    let count = |a: &str| actions.iter().filter(|x| x.as_str() == a).count();
    assert_eq!(count("extended"), 1, "{actions:?}");
    assert_eq!(count("step_approved"), 1, "{actions:?}");
    assert_eq!(count("paused"), 1, "{actions:?}");
    assert_eq!(count("resumed"), 1, "{actions:?}");
    // The next special procedure gets the next number: none was taken by the retries.
    let again = json!({"kind": "inspection", "reason": "复检", "expected_end": "2026-10-16"});
    let next = app
        .post_json(&pause_path, Some(APPROVER_HEALTH), &again, &[])
        .await;
    assert_eq!(next.status, 200, "{}", next.text);
    assert_eq!(next.notice_numbers(), ["白水镇政务〔2026〕特字第0003号"]);

    // A supplement, then its retry.
    app.clock.set_day(day(2026, 3, 2));
    let defective = app.intake(CLERK_BAISHUI, DIBAO, &dibao_defective()).await;
    assert_eq!(defective.status, 201, "{}", defective.text);
    let id = defective.case_id();
    let path = format!("/api/v1/cases/{id}/supplements");
    let body = dibao_full_supplement();
    let key = [("Idempotency-Key", "supplement-1")];
    let first = app.post_json(&path, Some(CLERK_BAISHUI), &body, &key).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["case"]["status"], "accepted");
    let retry = app.post_json(&path, Some(CLERK_BAISHUI), &body, &key).await;
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(retry.body["case"], first.body["case"]);
    assert_eq!(retry.notice_numbers(), first.notice_numbers());
    assert_eq!(retry.notice_kinds(), ["acceptance"]);
    let supplements = history_actions(app, &id)
        .await
        .into_iter()
        .filter(|a| a == "supplement")
        .count();
    assert_eq!(supplements, 1);
    // An intake's key is not a change's.
    app.post_json(
        "/api/v1/cases",
        Some(CLERK_BAISHUI),
        &json!({ "matter": DIBAO, "application": dibao_complete() }),
        &key,
    )
    .await
    .assert_error(422, "idempotency_key_reused");
    app.assert_audit_intact();
}

on_both_backends! {
    idempotent_retry => idempotent_retry_sqlite, idempotent_retry_postgres;
    every_change_is_idempotent_by_key => every_change_is_idempotent_by_key_sqlite, every_change_is_idempotent_by_key_postgres;
    invalid_idempotency_keys => invalid_idempotency_keys_sqlite, invalid_idempotency_keys_postgres;
}
