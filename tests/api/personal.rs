//! Personal data over HTTP (issue 13): encrypted at rest under the service's keys, reads logged
//! and queryable by admins and supervisors only, lists masked per role, search by ID number and
//! replay unchanged.

use serde_json::json;

use crate::helpers::*;
use crate::{on_both_backends, on_both_backends_configured};

const ID: &str = "330112195003120017";
const NAME: &str = "李秀英";

fn with_keys(c: &mut yichuang::config::Config) {
    c.key_file = Some(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/personal-data-test.keys"),
    );
}

/// The raw columns of a case, past the service.
fn raw_name_and_id(app: &TestApp, id: &str) -> (String, Option<String>, String) {
    use diesel::prelude::*;
    use yichuang::store::schema::cases::dsl as c;
    let q = c::cases
        .find(id)
        .select((c::applicant_name, c::applicant_id_number, c::application));
    match app.backend {
        Backend::Sqlite => {
            let path = app.database_url.trim_start_matches("sqlite://");
            q.first(&mut diesel::SqliteConnection::establish(path).unwrap())
                .unwrap()
        }
        Backend::Postgres => q
            .first(&mut diesel::PgConnection::establish(&app.database_url).unwrap())
            .unwrap(),
    }
}

async fn reads_of(app: &TestApp, token: &str, query: &str) -> Resp {
    app.get(
        &format!("/api/v1/supervision/personal-data-reads{query}"),
        Some(token),
    )
    .await
}

async fn encrypted_logged_and_masked(app: &TestApp) {
    let r = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.case_id();
    assert_eq!(r.body["case"]["applicant"]["name"], NAME);

    // At rest: envelopes, no name, no ID number, no phone.
    let (name, number, application) = raw_name_and_id(app, &id);
    for v in [&name, number.as_ref().unwrap(), &application] {
        assert!(v.starts_with("yc1:test2026:"), "{v}");
        assert!(!v.contains(NAME) && !v.contains(ID) && !v.contains("13800001234"));
    }

    // Reads by the clerk: full values, each logged with its endpoint.
    let r = app
        .get(&format!("/api/v1/cases/{id}"), Some(CLERK_BAISHUI))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["case"]["applicant"]["id_number"], ID);
    let r = app
        .get(&format!("/api/v1/cases/{id}/notices"), Some(CLERK_BAISHUI))
        .await;
    assert_eq!(r.status, 200);
    let notice = r.body[0]["id"].as_str().unwrap().to_string();
    let r = app
        .get(
            &format!("/api/v1/notices/{notice}/print"),
            Some(CLERK_BAISHUI),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.text.contains(NAME),
        "the printed notice names the applicant"
    );
    let r = app
        .get(
            &format!("/api/v1/cases/{id}/history"),
            Some(SUPERVISOR_COUNTY),
        )
        .await;
    assert_eq!(r.status, 200);

    // Search by ID number through the keyed hash; the clerk sees the full number.
    let r = app
        .get(
            &format!("/api/v1/cases?applicant_id={ID}"),
            Some(CLERK_BAISHUI),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["cases"][0]["applicant"]["id_number"], ID);
    assert_eq!(r.body["cases"][0]["applicant"]["name"], NAME);
    // A supervisor's and an admin's lists are masked, and not logged as reads.
    for token in [SUPERVISOR_COUNTY, ADMIN] {
        let r = app
            .get(&format!("/api/v1/cases?applicant_id={ID}"), Some(token))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["total"], 1);
        assert_eq!(
            r.body["cases"][0]["applicant"]["id_number"],
            "330***********0017"
        );
        assert_eq!(r.body["cases"][0]["applicant"]["name"], "李**");
        assert!(!r.text.contains(ID));
    }

    // The read log: refused to clerks, agents and approvers; open to supervisors and admins.
    for token in [CLERK_BAISHUI, AGENT_DONGCUN, APPROVER_CIVIL] {
        reads_of(app, token, "")
            .await
            .assert_error(403, "forbidden");
    }
    let r = reads_of(app, ADMIN, &format!("?case={id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let endpoints: Vec<&str> = r.body["reads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["endpoint"].as_str().unwrap())
        .collect();
    for e in [
        "GET /api/v1/cases/{id}",
        "GET /api/v1/cases/{id}/notices",
        "GET /api/v1/notices/{id}/print",
        "GET /api/v1/cases/{id}/history",
        "GET /api/v1/cases",
    ] {
        assert!(endpoints.contains(&e), "{e} not in {endpoints:?}");
    }
    assert_eq!(r.body["total"], 5, "{}", r.text);
    let r = reads_of(app, SUPERVISOR_COUNTY, "?user=supervisor-county").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total"], 1, "{}", r.text);
    assert_eq!(r.body["reads"][0]["role"], "supervisor");
    assert_eq!(r.body["reads"][0]["case_id"], id.as_str());
    let r = reads_of(app, ADMIN, "?from=2026-03-02&to=2026-03-02").await;
    assert_eq!(r.body["total"], 5, "{}", r.text);

    // A township's supervisor sees the reads of its own center's cases only; the county's, all.
    let other = app.intake(CLERK_QINGSHI, DIBAO, &dibao_complete()).await;
    assert_eq!(other.status, 201, "{}", other.text);
    let other = other.case_id();
    let r = app
        .get(&format!("/api/v1/cases/{other}"), Some(CLERK_QINGSHI))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = reads_of(app, SUPERVISOR_BAISHUI, "").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total"], 5, "{}", r.text);
    assert!(!r.text.contains(&other), "{}", r.text);
    let r = reads_of(app, SUPERVISOR_BAISHUI, &format!("?case={other}")).await;
    assert_eq!(r.body["total"], 0, "{}", r.text);
    let r = reads_of(app, SUPERVISOR_COUNTY, "").await;
    assert_eq!(r.body["total"], 6, "{}", r.text);
    assert!(r.text.contains(&other), "{}", r.text);
    let r = reads_of(app, ADMIN, "?from=2026-03-03").await;
    assert_eq!(r.body["total"], 0, "{}", r.text);
    reads_of(app, ADMIN, "?per_page=0")
        .await
        .assert_error(400, "invalid_query");

    // Replay still reproduces the stored assessment exactly (it reads the decrypted application).
    let r = app
        .post_json(
            "/api/v1/catalog/replay-check",
            Some(ADMIN),
            &json!({"days": 30}),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["cases"].as_u64(), r.body["identical"].as_u64()),
        (Some(2), Some(2)),
        "{}",
        r.text
    );
}

/// Without keys (the development start) the same reads work and are logged; the columns are plain.
async fn plain_without_keys(app: &TestApp) {
    let r = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.case_id();
    assert_eq!(raw_name_and_id(app, &id).0, NAME);
    let r = app
        .get(
            &format!("/api/v1/cases?applicant_id={ID}"),
            Some(CLERK_BAISHUI),
        )
        .await;
    assert_eq!(r.body["total"], 1, "{}", r.text);
    let r = reads_of(app, ADMIN, "").await;
    assert_eq!(r.body["total"], 1, "{}", r.text);
}

on_both_backends_configured! {
    encrypted_logged_and_masked(with_keys) => encrypted_logged_and_masked_sqlite, encrypted_logged_and_masked_postgres;
}

on_both_backends! {
    plain_without_keys => plain_without_keys_sqlite, plain_without_keys_postgres;
}
