//! Who may take, read and list which cases; authentication failures.

use serde_json::json;

use crate::helpers::*;
use crate::on_both_backends;

async fn case_visibility_by_role(app: &TestApp) {
    let r = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.case_id();
    let path = format!("/api/v1/cases/{id}");

    // Out of scope: answered as if the case did not exist, so ids cannot be probed.
    app.get(&path, Some(CLERK_QINGSHI))
        .await
        .assert_error(404, "not_found");
    // ... and the same for an id that does not exist, whatever its shape.
    let missing = app.get(&format!("{path}0"), Some(CLERK_QINGSHI)).await;
    missing.assert_error(404, "not_found");
    // The next case's id cannot be guessed from this one: its last 12 characters are random.
    let next = app
        .intake(CLERK_BAISHUI, DIBAO, &dibao_complete())
        .await
        .case_id();
    let tail = |s: &str| s[s.len() - 12..].to_string();
    assert_ne!(tail(&id), tail(&next), "{id} {next}");
    assert!(
        u64::from_str_radix(&tail(&next), 16).is_ok(),
        "{next} ends in 12 hex digits"
    );
    for token in [CLERK_BAISHUI, SUPERVISOR_COUNTY, SUPERVISOR_BAISHUI, ADMIN] {
        let g = app.get(&path, Some(token)).await;
        assert_eq!(g.status, 200, "{token}: {}", g.text);
        assert_eq!(g.body["case"]["id"], id.as_str());
    }
    // The agent did not submit it.
    app.get(&path, Some(AGENT_DONGCUN))
        .await
        .assert_error(404, "not_found");
    // The deciding department's approver sees the case once a step of it reaches the
    // department (the village review at the township center comes first).
    app.get(&path, Some(APPROVER_CIVIL))
        .await
        .assert_error(404, "not_found");

    // Notices, history and the printable page follow the case's visibility.
    let nid = r.body["notices"][0]["id"].as_str().unwrap().to_string();
    for p in [
        format!("{path}/notices"),
        format!("{path}/history"),
        format!("/api/v1/notices/{nid}"),
        format!("/api/v1/notices/{nid}/print"),
    ] {
        app.get(&p, Some(CLERK_QINGSHI))
            .await
            .assert_error(404, "not_found");
        assert_eq!(
            app.get(&p, Some(SUPERVISOR_BAISHUI)).await.status,
            200,
            "{p}"
        );
    }
}

async fn agent_sees_own_cases_only(app: &TestApp) {
    let clerk_case = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    let r = app
        .intake(AGENT_DONGCUN, DIBAO, &example_application(DIBAO_FILE, 4))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["outcome"], "accepted_promised");
    let case = &r.body["case"];
    assert_eq!(case["channel"], "agent");
    assert_eq!(case["window_id"], json!(null));
    assert_eq!(case["village"], "baishui-dongcun");
    assert_eq!(case["township"], "baishui");
    assert_eq!(case["center_id"], "baishui");
    assert_eq!(case["agent_id"], "agent-dongcun");
    // Numbered in the township center's series, after nothing else: the clerk took 0001.
    assert_eq!(r.notice_numbers(), ["白水镇政务〔2026〕受字第0002号"]);

    let own = app
        .get(
            &format!("/api/v1/cases/{}", r.case_id()),
            Some(AGENT_DONGCUN),
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.text);
    app.get(
        &format!("/api/v1/cases/{}", clerk_case.case_id()),
        Some(AGENT_DONGCUN),
    )
    .await
    .assert_error(404, "not_found");

    let list = app.get("/api/v1/cases", Some(AGENT_DONGCUN)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["cases"][0]["id"], r.case_id().as_str());

    // The baishui clerk sees the agent's case too: it belongs to the baishui center.
    assert_eq!(app.case_total(CLERK_BAISHUI).await, 2);

    // Agents do not choose a window.
    let w = app
        .post_json(
            "/api/v1/cases",
            Some(AGENT_DONGCUN),
            &json!({ "matter": DIBAO, "window": "bs-w01", "application": example_application(DIBAO_FILE, 4) }),
            &[],
        )
        .await;
    w.assert_error(422, "invalid_window");
}

async fn authentication_failures(app: &TestApp) {
    let body = json!({ "matter": DIBAO, "application": dibao_complete() });
    for r in [
        app.get("/api/v1/cases", None).await,
        app.post_json("/api/v1/cases", None, &body, &[]).await,
        app.get("/api/v1/cases", Some("dev-clerk-nowhere")).await,
        app.get("/api/v1/cases", Some("")).await,
        // The hash of a token is not a token.
        app.get(
            "/api/v1/cases",
            Some("d8eac7da32e039347607cfe9bb4054b36a05d7ffde6b5888218ff66657bfc5cd"),
        )
        .await,
    ] {
        r.assert_error(401, "unauthorized");
        assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
    }
    // Not a Bearer scheme.
    let basic = app
        .client
        .get(app.url("/api/v1/cases"))
        .insert_header(("Authorization", "Basic ZGV2LWFkbWluOg=="))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    assert_eq!(app.case_total(ADMIN).await, 0);
}

async fn only_clerks_and_agents_take_cases(app: &TestApp) {
    let body = json!({ "matter": DIBAO, "application": dibao_complete() });
    for token in [APPROVER_CIVIL, SUPERVISOR_COUNTY, SUPERVISOR_BAISHUI, ADMIN] {
        app.post_json("/api/v1/cases", Some(token), &body, &[])
            .await
            .assert_error(403, "forbidden");
    }
    assert_eq!(app.case_total(ADMIN).await, 0);
}

async fn listing_is_scoped_to_the_center(app: &TestApp) {
    let b1 = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    let b2 = app.intake(CLERK_BAISHUI, DIBAO, &dibao_defective()).await;
    let q1 = app.intake(CLERK_QINGSHI, DIBAO, &dibao_complete()).await;
    for r in [&b1, &b2, &q1] {
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let ids = |r: &Resp| -> Vec<String> {
        r.body["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let q = app.get("/api/v1/cases", Some(CLERK_QINGSHI)).await;
    assert_eq!(q.status, 200, "{}", q.text);
    assert_eq!(q.body["total"], 1);
    assert_eq!(ids(&q), [q1.case_id()]);

    let b = app.get("/api/v1/cases", Some(CLERK_BAISHUI)).await;
    assert_eq!(b.body["total"], 2);
    let mut got = ids(&b);
    got.sort();
    let mut want = vec![b1.case_id(), b2.case_id()];
    want.sort();
    assert_eq!(got, want);

    assert_eq!(app.case_total(SUPERVISOR_BAISHUI).await, 2);
    assert_eq!(app.case_total(SUPERVISOR_COUNTY).await, 3);
    assert_eq!(app.case_total(ADMIN).await, 3);
    app.get("/api/v1/cases", Some(APPROVER_CIVIL))
        .await
        .assert_error(403, "forbidden");

    // Filters.
    let s = app
        .get(
            "/api/v1/cases?status=awaiting_supplement",
            Some(CLERK_BAISHUI),
        )
        .await;
    assert_eq!(s.body["total"], 1, "{}", s.text);
    assert_eq!(ids(&s), [b2.case_id()]);
    // A qingshi clerk cannot widen the scope with a filter.
    let w = app
        .get("/api/v1/cases?window=bs-w01", Some(CLERK_QINGSHI))
        .await;
    assert_eq!(w.body["total"], 0, "{}", w.text);
    let p = app
        .get("/api/v1/cases?per_page=1&page=2", Some(SUPERVISOR_COUNTY))
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["total"], 3);
    assert_eq!(p.body["cases"].as_array().unwrap().len(), 1);
    let d = app
        .get(
            "/api/v1/cases?from=2026-03-03&to=2026-12-31",
            Some(SUPERVISOR_COUNTY),
        )
        .await;
    assert_eq!(d.body["total"], 0, "{}", d.text);
    let d = app
        .get(
            "/api/v1/cases?from=2026-03-02&to=2026-03-02",
            Some(SUPERVISOR_COUNTY),
        )
        .await;
    assert_eq!(d.body["total"], 3, "{}", d.text);
}

on_both_backends! {
    case_visibility_by_role => case_visibility_by_role_sqlite, case_visibility_by_role_postgres;
    agent_sees_own_cases_only => agent_sees_own_cases_only_sqlite, agent_sees_own_cases_only_postgres;
    authentication_failures => authentication_failures_sqlite, authentication_failures_postgres;
    only_clerks_and_agents_take_cases => only_clerks_and_agents_take_cases_sqlite, only_clerks_and_agents_take_cases_postgres;
    listing_is_scoped_to_the_center => listing_is_scoped_to_the_center_sqlite, listing_is_scoped_to_the_center_postgres;
}
