//! Retries with the same Idempotency-Key return the first answer and create nothing new.

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

on_both_backends! {
    idempotent_retry => idempotent_retry_sqlite, idempotent_retry_postgres;
    invalid_idempotency_keys => invalid_idempotency_keys_sqlite, invalid_idempotency_keys_postgres;
}
