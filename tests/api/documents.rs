//! Pre-check, printable notices, guides, the API description, health and the pinned catalog
//! version.

use serde_json::json;

use crate::helpers::*;
use crate::on_both_backends;

async fn precheck_stores_nothing(app: &TestApp) {
    let before = app.case_total(SUPERVISOR_COUNTY).await;
    let r = app
        .post_json(
            "/api/v1/assessments",
            Some(CLERK_BAISHUI),
            &json!({ "matter": DIBAO, "application": dibao_complete() }),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["outcome"], "accepted_promised");
    assert_eq!(r.body["matter_code"], DIBAO);
    assert_eq!(r.body["due"]["date"], "2026-03-30");
    assert!(r.body.get("case").is_none() && r.body.get("notices").is_none());

    let r = app
        .post_json(
            "/api/v1/assessments",
            Some(CLERK_BAISHUI),
            &json!({ "matter": DIBAO, "application": dibao_defective() }),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["outcome"], "supplement_needed");
    assert_eq!(defect_ids(&r.body).len(), 6);

    // Supervisors may try an application too.
    let r = app
        .post_json(
            "/api/v1/assessments",
            Some(SUPERVISOR_COUNTY),
            &json!({ "matter": GETIHU, "application": example_application(GETIHU_FILE, 0) }),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.post_json(
        "/api/v1/assessments",
        None,
        &json!({ "matter": DIBAO, "application": dibao_complete() }),
        &[],
    )
    .await
    .assert_error(401, "unauthorized");

    assert_eq!(app.case_total(SUPERVISOR_COUNTY).await, before);
    // Nor did it use up a number.
    let taken = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    assert_eq!(taken.notice_numbers(), ["白水镇政务〔2026〕受字第0001号"]);
}

async fn printable_notice(app: &TestApp) {
    let mut a = dibao_complete();
    a["applicant"]["name"] = json!("李<b>秀</b>英");
    let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let print_url = r.body["notices"][0]["print_url"]
        .as_str()
        .unwrap()
        .to_string();
    let p = app.get(&print_url, Some(CLERK_BAISHUI)).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert!(p.header("content-type").unwrap().starts_with("text/html"));
    for want in [
        "白水镇政务〔2026〕受字第0001号",
        "白水镇政务服务专用章",
        "2026年3月2日",
        "受理通知书",
        "最低生活保障审核确认",
        "李&lt;b&gt;秀&lt;",
        r.case_id().as_str(),
        // the center's contact details and the materials taken in (材料收取凭证)
        "白水镇白水街16号镇政府东侧",
        "0571-6511 2345",
        "材料收取凭证",
        "家庭经济状况核对授权书",
        "原件及复印件",
        // 低保 is 行政给付: its own basis, no permit law
        "《社会救助暂行办法》",
        // print layout: A4, page numbers and the number on every page
        "size: A4",
        "counter(pages)",
    ] {
        assert!(p.text.contains(want), "{want} not in the printed notice");
    }
    assert!(
        !p.text.contains("<b>秀"),
        "the applicant name is not escaped"
    );
    assert!(
        !p.text.contains("行政许可法"),
        "a 行政给付 notice cites the permit law"
    );
    // The notice JSON a front-end renders says the same as the print: every paragraph, item and
    // material of the content is on the page.
    let content = &r.body["notices"][0]["content"];
    let mut texts: Vec<String> = Vec::new();
    for para in content["paragraphs"].as_array().unwrap() {
        texts.push(para.as_str().unwrap().to_string());
    }
    for it in content["items"].as_array().unwrap() {
        texts.push(it["title"].as_str().unwrap().to_string());
        texts.push(it["detail"].as_str().unwrap().to_string());
    }
    for m in content["received"].as_array().unwrap() {
        texts.push(m["name"].as_str().unwrap().to_string());
    }
    assert_eq!(content["received"].as_array().unwrap().len(), 5);
    texts.push(
        content["contact"]["telephone"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    for t in texts {
        assert!(
            p.text.contains(&html_escaped(&t)),
            "the print does not say what the JSON says: {t}"
        );
    }
    app.get(&print_url, None)
        .await
        .assert_error(401, "unauthorized");
}

/// Text as the templates escape it (minijinja's HTML escaping).
fn html_escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

async fn guides_and_api_description(app: &TestApp) {
    let g = app.get("/api/v1/matters/QS-MZ-001/guide.html", None).await;
    assert_eq!(g.status, 200, "{}", g.text);
    assert!(g.header("content-type").unwrap().starts_with("text/html"));
    assert!(g.text.contains("最低生活保障审核确认"));
    assert!(g.text.contains("户口簿"));
    // A4 print layout, the table header repeated on every page, and where to go.
    assert!(g.text.contains("size: A4") && g.text.contains("<thead>"));
    assert!(g.text.contains("七、办理地点和咨询方式"));
    assert!(g.text.contains("0571-6500 1234"));
    let g = app.get("/api/v1/matters/QS-MZ-001/guide", None).await;
    assert_eq!(g.status, 200, "{}", g.text);
    assert!(g.body["markdown"]
        .as_str()
        .unwrap()
        .contains("最低生活保障"));
    app.get("/api/v1/matters/QS-XX-999/guide.html", None)
        .await
        .assert_error(404, "unknown_matter");

    let o = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(o.status, 200, "{}", o.text);
    let paths = o.body["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/cases",
        "/api/v1/assessments",
        "/api/v1/cases/{id}/supplements",
        "/api/v1/notices/{id}/print",
        "/api/v1/inbox",
        "/api/v1/cases/{id}/steps/{step}",
        "/api/v1/cases/{id}/pause",
        "/api/v1/cases/{id}/extension",
        "/api/v1/cases/{id}/delivery",
        "/api/v1/cases/{id}/rating",
        "/api/v1/supervision/figures",
        "/api/v1/scheduler/sweep",
    ] {
        assert!(paths.contains_key(p), "{p} missing from {:?}", paths.keys());
    }
    assert!(o.body["paths"]["/api/v1/cases"]["post"].is_object());

    let d = app.get("/api/docs", None).await;
    assert_eq!(d.status, 200);
    assert!(d.header("content-type").unwrap().starts_with("text/html"));
    // The page is self-contained: its one script runs under a policy naming that script's hash,
    // and nothing is loaded from another origin (a headless browser renders it in
    // scripts/api_docs_test.sh).
    let csp = d
        .header("content-security-policy")
        .expect("a CSP on /api/docs");
    let script = d
        .text
        .split_once("<script>")
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map(|(s, _)| s)
        .expect("an inline script");
    assert!(script.contains("/api/v1/openapi.json"));
    assert_eq!(d.text.matches("<script").count(), 1);
    let hash = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script))
    };
    assert!(
        csp.contains(&format!("script-src 'sha256-{hash}';")),
        "{csp}"
    );
    for directive in [
        "default-src 'none'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe-eval") && !csp.contains("script-src 'unsafe-inline'"));
    for external in ["http://", "https://", "src=\"//", "@import", "url("] {
        assert!(!d.text.contains(external), "{external} in the API page");
    }
    assert_eq!(
        d.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    // The page lists the error codes from the document.
    let codes = o.body["x-error-codes"].as_array().expect("x-error-codes");
    assert!(codes
        .iter()
        .any(|c| c["code"] == "unknown_matter" && c["status"] == 404));
    let tags: Vec<&str> = o.body["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let tag = op["tags"][0].as_str().unwrap_or_default();
            assert!(
                tags.contains(&tag),
                "{method} {path}: tag {tag} not in {tags:?}"
            );
        }
    }

    let m = app.get("/api/v1/matters?level=village", None).await;
    assert_eq!(m.status, 200, "{}", m.text);
    let codes: Vec<&str> = m
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&DIBAO) && !codes.contains(&"QS-WS-001"),
        "{codes:?}"
    );
    let b = app.get("/api/v1/bundles", None).await;
    assert!(b
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["code"] == BARBERSHOP && x["matters"] == json!([GETIHU, "QS-WS-001"])));
}

async fn health_and_pinned_catalog_version(app: &TestApp) {
    let h = app.get("/healthz", None).await;
    assert_eq!(h.status, 200, "{}", h.text);
    assert_eq!(h.body["status"], "ok");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["database"], "ok");
    let hash = ready.body["catalog"].as_str().unwrap().to_string();
    assert!(hash.len() >= 16, "{hash}");

    let c = app.get("/api/v1/catalog", Some(CLERK_BAISHUI)).await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["hash"], hash.as_str());
    app.get("/api/v1/catalog", None)
        .await
        .assert_error(401, "unauthorized");

    let r = app.intake(CLERK_BAISHUI, DIBAO, &dibao_defective()).await;
    assert_eq!(r.body["case"]["catalog_version"], hash.as_str());
    let id = r.case_id();
    app.post_json(
        &format!("/api/v1/cases/{id}/supplements"),
        Some(CLERK_BAISHUI),
        &json!({ "fields": { "household_size": 2 } }),
        &[],
    )
    .await;
    let h = app
        .get(&format!("/api/v1/cases/{id}/history"), Some(CLERK_BAISHUI))
        .await;
    for e in h.body.as_array().unwrap() {
        assert_eq!(e["catalog_version"], hash.as_str());
    }
    let got = app
        .get(&format!("/api/v1/cases/{id}"), Some(CLERK_BAISHUI))
        .await;
    assert_eq!(got.body["case"]["catalog_version"], hash.as_str());
}

/// Request ids: a sane one is echoed, another is replaced.
async fn request_ids(app: &TestApp) {
    let r = app
        .client
        .get(app.url("/healthz"))
        .insert_header(("X-Request-Id", "abc-123"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers().get("x-request-id").unwrap().to_str().unwrap(),
        "abc-123"
    );
    let r = app
        .client
        .get(app.url("/healthz"))
        .insert_header(("X-Request-Id", "a b\"<c>"))
        .send()
        .await
        .unwrap();
    let id = r.headers().get("x-request-id").unwrap().to_str().unwrap();
    assert!(id.starts_with('r'), "{id}");
}

/// A result with a number pattern (证照编号) gets the next number of its series, also when
/// intakes race: each number once, none skipped. The number is on the notice's JSON and print,
/// and on the decided event the exchange reports (the provincial ZZBH).
async fn results_are_numbered_without_gaps(app: &TestApp) {
    const HUJI: &str = "QS-GA-001";
    let answers = futures_util::future::join_all((0..6).map(|i| {
        let mut a = example_application("matters/ga-huji-zhengming.yaml", 0);
        a["applicant"]["name"] = json!(format!("申请人{i}"));
        async move { app.intake(CLERK_BAISHUI, HUJI, &a).await }
    }))
    .await;
    let mut numbers = Vec::new();
    for r in &answers {
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["outcome"], "accepted_immediate", "{}", r.text);
        let notice = &r.body["notices"][0];
        assert_eq!(notice["kind"], "immediate_decision");
        let number = notice["content"]["result"]["number"]
            .as_str()
            .unwrap_or_else(|| panic!("no result number: {notice}"))
            .to_string();
        let case = r.body["case"]["id"].as_str().unwrap();
        let h = app
            .get(&format!("/api/v1/cases/{case}/history"), Some(ADMIN))
            .await;
        let decided: Vec<&serde_json::Value> = h
            .body
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "decided")
            .collect();
        assert_eq!(decided.len(), 1, "{}", h.text);
        assert_eq!(
            decided[0]["detail"]["certificate_number"],
            number.as_str(),
            "{}",
            h.text
        );
        numbers.push(number);
    }
    numbers.sort();
    let expected: Vec<String> = (1..=6)
        .map(|n| format!("青公户证〔2026〕{n:06}号"))
        .collect();
    assert_eq!(numbers, expected);

    let id = answers[0].body["notices"][0]["id"].as_str().unwrap();
    let page = app
        .get(&format!("/api/v1/notices/{id}/print"), Some(CLERK_BAISHUI))
        .await;
    assert!(page.text.contains("证照编号"), "{}", page.text);
    let shown = answers[0].body["notices"][0]["content"]["result"]["number"]
        .as_str()
        .unwrap();
    assert!(page.text.contains(shown));
}

on_both_backends! {
    results_are_numbered_without_gaps => results_are_numbered_without_gaps_sqlite, results_are_numbered_without_gaps_postgres;
    precheck_stores_nothing => precheck_stores_nothing_sqlite, precheck_stores_nothing_postgres;
    printable_notice => printable_notice_sqlite, printable_notice_postgres;
    guides_and_api_description => guides_and_api_description_sqlite, guides_and_api_description_postgres;
    health_and_pinned_catalog_version => health_and_pinned_catalog_version_sqlite, health_and_pinned_catalog_version_postgres;
    request_ids => request_ids_sqlite, request_ids_postgres;
}
