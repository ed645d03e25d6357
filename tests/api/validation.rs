//! Bad requests: always a 4xx in the error shape with a Chinese message, never a 5xx.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both_backends;

const CASES: &str = "/api/v1/cases";
const JSON: &str = "application/json";

async fn malformed_json_and_wrong_types(app: &TestApp) {
    for raw in [
        r#"{"matter": "QS-MZ-001", "application": "#,
        "not json at all",
        "",
        "[]",
        "null",
        r#"{"matter": "QS-MZ-001", "application": {"applicant": {"kind": "natural_person", "name": "李秀英"}}, }"#,
    ] {
        let r = app.post_raw(CASES, Some(CLERK_BAISHUI), JSON, raw).await;
        assert!(
            r.status.is_client_error(),
            "{raw:?}: {} {}",
            r.status,
            r.text
        );
        assert_error_shape(&r);
        assert_eq!(r.body["error"], "invalid_body", "{raw:?}: {}", r.text);
    }
    let base = dibao_complete();
    let mut cases: Vec<Value> = vec![
        json!({ "matter": 123, "application": base }),
        json!({ "matter": DIBAO, "application": [] }),
        json!({ "matter": DIBAO }),
        json!({ "matter": DIBAO, "channel": "carrier_pigeon", "application": base }),
    ];
    let mut a = base.clone();
    a["materials"] = json!({ "id": "application_form" });
    cases.push(json!({ "matter": DIBAO, "application": a }));
    let mut a = base.clone();
    a["commitment_signed"] = json!("yes");
    cases.push(json!({ "matter": DIBAO, "application": a }));
    let mut a = base.clone();
    a["applicant"]["kind"] = json!("alien");
    cases.push(json!({ "matter": DIBAO, "application": a }));
    let mut a = base.clone();
    a["materials"][4]["issued_on"] = json!("2026-02-30");
    cases.push(json!({ "matter": DIBAO, "application": a }));
    let mut a = base.clone();
    a["applicant"].as_object_mut().unwrap().remove("name");
    cases.push(json!({ "matter": DIBAO, "application": a }));
    for body in cases {
        let r = app.post_json(CASES, Some(CLERK_BAISHUI), &body, &[]).await;
        r.assert_error(422, "invalid_body");
    }
    assert_eq!(app.case_total(CLERK_BAISHUI).await, 0);
}

/// A form value of the wrong type is the applicant's mistake, told in the notice.
async fn wrong_field_type_is_a_defect(app: &TestApp) {
    let mut a = dibao_complete();
    a["fields"]["household_size"] = json!("两人");
    let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["outcome"], "supplement_needed");
    assert!(defect_ids(&r.body["assessment"]).contains(&"household_size".to_string()));
}

async fn unknown_codes_fields_and_materials(app: &TestApp) {
    let r = app
        .intake(CLERK_BAISHUI, "QS-XX-999", &dibao_complete())
        .await;
    r.assert_error(404, "unknown_matter");
    assert!(r.body["message"].as_str().unwrap().contains("QS-XX-999"));

    let r = app
        .post_json(
            CASES,
            Some(CLERK_BAISHUI),
            &json!({ "bundle": "QS-YJS-NOPE", "application": dibao_complete() }),
            &[],
        )
        .await;
    r.assert_error(404, "unknown_bundle");

    let mut a = dibao_complete();
    a["fields"]["houshold_size"] = json!(2);
    let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
    r.assert_error(422, "unknown_fields");
    assert_eq!(r.body["details"]["fields"], json!(["houshold_size"]));
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("houshold_size"));

    let mut a = dibao_complete();
    a["materials"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "id": "marriage_certificate" }));
    let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
    r.assert_error(422, "unknown_materials");
    assert_eq!(
        r.body["details"]["materials"],
        json!(["marriage_certificate"])
    );

    // Unknown keys of the request itself are named too.
    let r = app
        .post_json(
            CASES,
            Some(CLERK_BAISHUI),
            &json!({ "matter": DIBAO, "applicaton": dibao_complete() }),
            &[],
        )
        .await;
    r.assert_error(422, "invalid_body");
    let mut a = dibao_complete();
    a["applicant"]["nickname"] = json!("阿英");
    let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
    r.assert_error(422, "invalid_body");
    assert!(
        r.body["message"].as_str().unwrap().contains("nickname"),
        "{}",
        r.text
    );

    // Neither, or both, of matter and bundle.
    for body in [
        json!({ "application": dibao_complete() }),
        json!({ "matter": DIBAO, "bundle": BARBERSHOP, "application": dibao_complete() }),
    ] {
        app.post_json(CASES, Some(CLERK_BAISHUI), &body, &[])
            .await
            .assert_error(422, "matter_or_bundle");
    }

    // A window of another center, a clerk posing as an agent.
    app.post_json(
        CASES,
        Some(CLERK_BAISHUI),
        &json!({ "matter": DIBAO, "window": "qsz-w01", "application": dibao_complete() }),
        &[],
    )
    .await
    .assert_error(422, "invalid_window");
    app.post_json(
        CASES,
        Some(CLERK_BAISHUI),
        &json!({ "matter": DIBAO, "channel": "agent", "application": dibao_complete() }),
        &[],
    )
    .await
    .assert_error(422, "invalid_channel");
    assert_eq!(app.case_total(CLERK_BAISHUI).await, 0);
}

async fn body_limit_and_content_type(app: &TestApp) {
    // > 256 KiB of otherwise valid JSON.
    let mut a = dibao_complete();
    a["fields"]["address"] = json!("青".repeat(100_000));
    let big = serde_json::to_vec(&json!({ "matter": DIBAO, "application": a })).unwrap();
    assert!(big.len() > 256 * 1024);
    let r = app.post_raw(CASES, Some(CLERK_BAISHUI), JSON, big).await;
    r.assert_error(413, "body_too_large");

    let body =
        serde_json::to_vec(&json!({ "matter": DIBAO, "application": dibao_complete() })).unwrap();
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        let r = app
            .post_raw(CASES, Some(CLERK_BAISHUI), ct, body.clone())
            .await;
        r.assert_error(415, "unsupported_media_type");
    }
    // JSON with a charset is fine.
    let r = app
        .post_raw(
            CASES,
            Some(CLERK_BAISHUI),
            "application/json; charset=utf-8",
            body,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(app.case_total(CLERK_BAISHUI).await, 1);
}

/// Emoji, NUL, bidi controls, zero-width characters and escaped lone surrogates in names and
/// fields: whatever the answer, it is not a 5xx, and text that is taken is stored as sent.
async fn odd_unicode_never_5xx(app: &TestApp) {
    let names = [
        "李秀英😀",
        "\u{202e}英秀李",
        "李\u{200b}秀\u{200d}英",
        "\u{feff}\u{fffd}",
        "𠀀𪚥",
        "<script>alert(1)</script>",
    ];
    for name in names {
        let mut a = dibao_complete();
        a["applicant"]["name"] = json!(name);
        a["fields"]["address"] = json!(format!("青山县白水镇{name}"));
        a["fields"]["members"][0]["name"] = json!(name);
        let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
        assert!(
            r.status.is_success() || r.status.is_client_error(),
            "{} for name {name:?} on {:?}: {}",
            r.status,
            app.backend,
            r.text
        );
        if r.status.is_client_error() {
            assert_error_shape(&r);
        } else {
            let got = app
                .get(
                    &format!("/api/v1/cases/{}", r.case_id()),
                    Some(CLERK_BAISHUI),
                )
                .await;
            assert_eq!(got.status, 200, "{}", got.text);
            assert_eq!(got.body["case"]["applicant"]["name"], name);
        }
    }
    // Escaped lone surrogates are not valid Unicode text.
    for raw_name in [r"\ud800", r"\udfff", r"李\ud83d秀英"] {
        let raw = format!(
            r#"{{"matter":"QS-MZ-001","application":{{"applicant":{{"kind":"natural_person","name":"{raw_name}","id_number":"330112195003120017"}}}}}}"#
        );
        let r = app.post_raw(CASES, Some(CLERK_BAISHUI), JSON, raw).await;
        r.assert_error(422, "invalid_body");
    }
    // Invalid UTF-8 bytes.
    let mut raw =
        br#"{"matter":"QS-MZ-001","application":{"applicant":{"kind":"natural_person","name":""#
            .to_vec();
    raw.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    raw.extend_from_slice(br#""}}}"#);
    let r = app.post_raw(CASES, Some(CLERK_BAISHUI), JSON, raw).await;
    assert!(r.status.is_client_error(), "{} {}", r.status, r.text);
    assert_error_shape(&r);
    // Odd text in a header.
    let key = actix_web::http::header::HeaderValue::from_bytes("ключ-😀".as_bytes()).unwrap();
    let r = app
        .client
        .post(app.url(CASES))
        .insert_header(("Authorization", format!("Bearer {CLERK_BAISHUI}")))
        .insert_header(("Idempotency-Key", key))
        .send_json(&json!({ "matter": DIBAO, "application": dibao_complete() }))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// NUL is valid JSON text (`"\u0000"`). In a form field it is stored on both backends; in the
/// applicant's name it must not be a 5xx either (PostgreSQL TEXT cannot hold NUL).
async fn nul_characters_never_5xx(app: &TestApp) {
    let mut a = dibao_complete();
    a["fields"]["address"] = json!("青山县白水镇东村\u{0}3组12号");
    let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
    assert!(
        r.status.as_u16() < 500,
        "NUL in a form field on {:?}: {} {}",
        app.backend,
        r.status,
        r.text
    );

    let mut a = dibao_complete();
    a["applicant"]["name"] = json!("李\u{0}秀英");
    let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
    assert!(
        r.status.as_u16() < 500,
        "NUL in applicant.name on {:?}: {} {}",
        app.backend,
        r.status,
        r.text
    );
    if r.status.is_client_error() {
        assert_error_shape(&r);
    }
}

async fn invalid_applicant_id_number_is_told(app: &TestApp) {
    let mut a = dibao_complete();
    // Wrong check digit.
    a["applicant"]["id_number"] = json!("330112195003120018");
    let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["outcome"], "supplement_needed");
    assert_eq!(defect_ids(&r.body["assessment"]), ["applicant.id_number"]);
    assert_eq!(r.notice_kinds(), ["supplement"]);
    assert_eq!(item_titles(&r.body["notices"][0]), ["申请人身份证号码"]);

    // Not a number at all, in a family member.
    let mut a = dibao_complete();
    a["fields"]["members"][1]["id_number"] = json!("abc");
    let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["outcome"], "supplement_needed");
    assert_eq!(defect_ids(&r.body["assessment"]), ["members[1].id_number"]);
}

async fn unknown_routes_and_methods(app: &TestApp) {
    for path in [
        "/nope",
        "/api/v1/nope",
        "/api/v2/cases",
        "/api/v1/cases/x/y/z",
    ] {
        let r = app.get(path, Some(CLERK_BAISHUI)).await;
        r.assert_error(404, "not_found");
    }
    let r = app
        .post_json("/api/v1/nope", Some(CLERK_BAISHUI), &json!({}), &[])
        .await;
    r.assert_error(404, "not_found");
    // Unknown ids.
    app.get(
        "/api/v1/cases/QINGSHAN-20260302-000000000000",
        Some(CLERK_BAISHUI),
    )
    .await
    .assert_error(404, "not_found");
    app.get(
        "/api/v1/notices/N-20260302-000000000000",
        Some(CLERK_BAISHUI),
    )
    .await
    .assert_error(404, "not_found");
    app.get(
        "/api/v1/notices/N-20260302-000000000000/print",
        Some(CLERK_BAISHUI),
    )
    .await
    .assert_error(404, "not_found");
    app.get("/api/v1/matters/QS-XX-999", None)
        .await
        .assert_error(404, "unknown_matter");
}

/// A known path with a method it does not serve answers in the same JSON error shape.
async fn wrong_method_answers_in_error_shape(app: &TestApp) {
    let r = app
        .client
        .delete(app.url("/api/v1/cases"))
        .insert_header(("Authorization", format!("Bearer {CLERK_BAISHUI}")))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let mut r = r;
    let bytes = r.body().await.unwrap();
    assert!(status.is_client_error(), "{status}");
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "DELETE /api/v1/cases answered {status} with body {:?}",
        String::from_utf8_lossy(&bytes)
    );
}

/// Odd ids in paths and odd filter values are looked up and not found (or refused), never a 5xx.
async fn odd_ids_and_filters_never_5xx(app: &TestApp) {
    app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    let long = "x".repeat(4000);
    let mut server_errors = Vec::new();
    for path in [
        "/api/v1/cases/%F0%9F%98%80".to_string(),
        "/api/v1/cases/'%20OR%201=1--".to_string(),
        format!("/api/v1/cases/{long}"),
        "/api/v1/cases/%00".to_string(),
        // Percent-encoded bytes that are not UTF-8: the JSON error shape, not an empty 400.
        "/api/v1/cases/%FF%FE".to_string(),
        "/api/v1/matters/%C0%AF".to_string(),
        "/api/v1/notices/%80/print".to_string(),
        "/api/v1/cases?matter=%FF".to_string(),
        "/api/v1/notices/%00/print".to_string(),
        "/api/v1/cases?applicant_id=%00".to_string(),
        "/api/v1/cases?status=%00".to_string(),
        "/api/v1/cases?matter=%E2%80%AE%F0%9F%98%80".to_string(),
    ] {
        let r = app.get(&path, Some(SUPERVISOR_COUNTY)).await;
        if r.status.is_server_error() {
            server_errors.push(format!("GET {path} -> {} {}", r.status, r.text));
        } else if r.status.is_client_error() {
            assert_error_shape(&r);
        } else {
            assert_eq!(r.body["total"], 0, "{path}: {}", r.text);
        }
    }
    assert!(
        server_errors.is_empty(),
        "5xx on {:?}:\n{}",
        app.backend,
        server_errors.join("\n")
    );
}

async fn bad_queries(app: &TestApp) {
    for q in [
        "per_page=0",
        "per_page=-1",
        "per_page=abc",
        "page=0",
        "from=notadate",
        "to=2026-02-30",
        "sort=id",
    ] {
        let r = app
            .get(&format!("/api/v1/cases?{q}"), Some(SUPERVISOR_COUNTY))
            .await;
        r.assert_error(400, "invalid_query");
    }
    let r = app.get("/api/v1/matters?level=planet", None).await;
    r.assert_error(400, "invalid_query");
    let r = app
        .get("/api/v1/cases?per_page=200", Some(SUPERVISOR_COUNTY))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// The API description documents `per_page` as 1–200; a larger page is refused like
/// `per_page=0`, not silently served.
async fn per_page_above_documented_maximum(app: &TestApp) {
    let doc = app.get("/api/v1/openapi.json", None).await;
    let params = doc.body["paths"]["/api/v1/cases"]["get"]["parameters"]
        .as_array()
        .expect("GET /api/v1/cases has parameters");
    let per_page = params
        .iter()
        .find(|p| p["name"] == "per_page")
        .expect("per_page is documented");
    let max = per_page["schema"]["maximum"]
        .as_i64()
        .expect("per_page has a documented maximum");
    assert_eq!(max, 200);
    let ok = app
        .get(
            &format!("/api/v1/cases?per_page={max}"),
            Some(SUPERVISOR_COUNTY),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let r = app
        .get(
            &format!("/api/v1/cases?per_page={}", max + 1),
            Some(SUPERVISOR_COUNTY),
        )
        .await;
    assert_eq!(
        r.status,
        400,
        "per_page={} is outside the documented 1–{max}: {}",
        max + 1,
        r.text
    );
    r.assert_error(400, "invalid_query");
}

/// Sizes are checked by the DTOs' `validator` rules before anything else, with every failing part
/// named in `details`.
async fn oversized_parts_are_named(app: &TestApp) {
    let long_code = "Q".repeat(100);
    let r = app
        .intake(CLERK_BAISHUI, &long_code, &dibao_complete())
        .await;
    r.assert_error(422, "invalid_request");
    assert!(r.body["details"]["matter"].is_array(), "{}", r.text);
    assert!(r.body["message"].as_str().unwrap().contains("matter"));

    let mut a = dibao_complete();
    a["applicant"]["name"] = json!("张".repeat(101));
    let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
    r.assert_error(422, "invalid_request");
    assert!(r.body["details"]["application"].is_array(), "{}", r.text);
    assert!(r.body["message"].as_str().unwrap().contains("申请人姓名"));

    let mut a = dibao_complete();
    for i in 0..201 {
        a["fields"][format!("f{i}")] = json!(1);
    }
    let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
    r.assert_error(422, "invalid_request");
    assert!(r.body["message"].as_str().unwrap().contains("表单字段过多"));
}

/// Answers schemathesis (scripts/schemathesis.sh) found undocumented: a body that is not JSON on
/// the admin endpoints that take one (415), and an idempotent retry of an intake (200). Each is
/// answered and documented.
async fn answers_found_by_schemathesis_are_documented(app: &TestApp) {
    let doc = app.get("/api/v1/openapi.json", None).await;
    for path in ["/api/v1/catalog/impact", "/api/v1/catalog/replay-check"] {
        let r = app.post_raw(path, Some(ADMIN), "text/plain", "x").await;
        r.assert_error(415, "unsupported_media_type");
        let responses = &doc.body["paths"][path]["post"]["responses"];
        assert!(responses["415"].is_object(), "{path}: {responses}");
        assert!(responses["413"].is_object(), "{path}: {responses}");
    }
    let key = [("Idempotency-Key", "schemathesis-200")];
    let body = json!({ "matter": DIBAO, "application": dibao_complete() });
    let first = app.post_json(CASES, Some(CLERK_BAISHUI), &body, &key).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = app.post_json(CASES, Some(CLERK_BAISHUI), &body, &key).await;
    assert_eq!(again.status, 200, "{}", again.text);
    let responses = &doc.body["paths"][CASES]["post"]["responses"];
    assert_eq!(responses["200"]["content"], responses["201"]["content"]);
    // Every operation has an id, and a new case links to where its id leads.
    let links = responses["201"]["links"].as_object().expect("links");
    assert!(links.contains_key("get_api_v1_cases_id"), "{links:?}");
}

on_both_backends! {
    answers_found_by_schemathesis_are_documented => answers_found_by_schemathesis_are_documented_sqlite, answers_found_by_schemathesis_are_documented_postgres;
    oversized_parts_are_named => oversized_parts_are_named_sqlite, oversized_parts_are_named_postgres;
    malformed_json_and_wrong_types => malformed_json_and_wrong_types_sqlite, malformed_json_and_wrong_types_postgres;
    wrong_field_type_is_a_defect => wrong_field_type_is_a_defect_sqlite, wrong_field_type_is_a_defect_postgres;
    unknown_codes_fields_and_materials => unknown_codes_fields_and_materials_sqlite, unknown_codes_fields_and_materials_postgres;
    body_limit_and_content_type => body_limit_and_content_type_sqlite, body_limit_and_content_type_postgres;
    odd_unicode_never_5xx => odd_unicode_never_5xx_sqlite, odd_unicode_never_5xx_postgres;
    nul_characters_never_5xx => nul_characters_never_5xx_sqlite, nul_characters_never_5xx_postgres;
    invalid_applicant_id_number_is_told => invalid_applicant_id_number_is_told_sqlite, invalid_applicant_id_number_is_told_postgres;
    unknown_routes_and_methods => unknown_routes_and_methods_sqlite, unknown_routes_and_methods_postgres;
    wrong_method_answers_in_error_shape => wrong_method_answers_in_error_shape_sqlite, wrong_method_answers_in_error_shape_postgres;
    odd_ids_and_filters_never_5xx => odd_ids_and_filters_never_5xx_sqlite, odd_ids_and_filters_never_5xx_postgres;
    bad_queries => bad_queries_sqlite, bad_queries_postgres;
    per_page_above_documented_maximum => per_page_above_documented_maximum_sqlite, per_page_above_documented_maximum_postgres;
}
