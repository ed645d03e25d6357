//! Every outcome kind through POST /api/v1/cases, with its notices and numbers.

use serde_json::json;

use crate::helpers::*;
use crate::on_both_backends;

async fn accepted_promised(app: &TestApp) {
    let r = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.case_id();
    assert_eq!(
        r.header("location").as_deref(),
        Some(format!("/api/v1/cases/{id}").as_str())
    );
    assert_eq!(r.body["outcome"], "accepted_promised");
    assert_eq!(r.body["replayed"], false);
    let case = &r.body["case"];
    assert_eq!(case["status"], "accepted");
    assert_eq!(case["outcome"], "accepted_promised");
    assert_eq!(case["matter_code"], DIBAO);
    assert_eq!(case["due_date"], "2026-03-30");
    assert_eq!(case["received_on"], "2026-03-02");
    assert_eq!(case["center_id"], "baishui");
    assert_eq!(case["township"], "baishui");
    assert_eq!(case["window_id"], "bs-w01");
    assert_eq!(case["channel"], "window");
    assert_eq!(case["clerk_id"], "clerk-baishui");
    assert_eq!(case["applicant"]["name"], "李秀英");
    assert_eq!(case["applicant"]["id_number"], "330112195003120017");
    assert_eq!(
        r.body["assessment"]["decider"]["unit_id"],
        "qingshan/civil-affairs"
    );

    assert_eq!(r.notice_kinds(), ["acceptance"]);
    assert_eq!(r.notice_numbers(), ["白水镇政务〔2026〕受字第0001号"]);
    let notice = &r.body["notices"][0];
    assert_eq!(notice["case_id"], id.as_str());
    assert_eq!(notice["issued_on"], "2026-03-02");
    assert_eq!(notice["content"]["seal"], "白水镇政务服务专用章");
    let nid = notice["id"].as_str().unwrap();
    assert_eq!(notice["print_url"], format!("/api/v1/notices/{nid}/print"));

    // The stored case reads back the same.
    let got = app
        .get(&format!("/api/v1/cases/{id}"), Some(CLERK_BAISHUI))
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body["case"], r.body["case"]);
    assert_eq!(got.body["assessment"]["outcome"], "accepted_promised");
    let n = app
        .get(&format!("/api/v1/notices/{nid}"), Some(CLERK_BAISHUI))
        .await;
    assert_eq!(n.status, 200, "{}", n.text);
    assert_eq!(n.body["number"], "白水镇政务〔2026〕受字第0001号");
}

async fn supplement_needed_lists_every_defect(app: &TestApp) {
    let r = app.intake(CLERK_BAISHUI, DIBAO, &dibao_defective()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["outcome"], "supplement_needed");
    assert_eq!(r.body["case"]["status"], "awaiting_supplement");
    assert_eq!(r.body["case"]["due_date"], json!(null));
    let mut ids = defect_ids(&r.body["assessment"]);
    ids.sort();
    assert_eq!(
        ids,
        [
            "application_form",
            "authorization",
            "disability_certificate",
            "household_register",
            "household_size",
            "income_proof"
        ]
    );
    assert_eq!(r.notice_kinds(), ["supplement"]);
    assert_eq!(r.notice_numbers(), ["白水镇政务〔2026〕补字第0001号"]);
    let titles = item_titles(&r.body["notices"][0]);
    for name in [
        "最低生活保障申请书",
        "户口簿",
        "家庭经济状况核对授权书",
        "残疾人证",
        "收入证明",
        "共同生活家庭成员人数",
    ] {
        assert_eq!(
            titles.iter().filter(|t| t.as_str() == name).count(),
            1,
            "{name} once in {titles:?}"
        );
    }
    assert_eq!(titles.len(), 6, "{titles:?}");
}

async fn refused_with_reason_and_basis(app: &TestApp) {
    // The example is taken at qingshi.
    let r = app
        .intake(CLERK_QINGSHI, DIBAO, &example_application(DIBAO_FILE, 2))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["outcome"], "refused");
    assert_eq!(r.body["case"]["status"], "refused");
    assert_eq!(r.body["case"]["center_id"], "qingshi");
    assert_eq!(r.notice_kinds(), ["refusal"]);
    assert_eq!(r.notice_numbers(), ["青石镇政务〔2026〕不受字第0001号"]);
    let items = r.body["notices"][0]["content"]["items"].as_array().unwrap();
    assert!(
        items.iter().any(|i| {
            i["detail"].as_str().unwrap().contains("机动车辆")
                && i["basis"] == "《最低生活保障审核确认办法》第十四条"
        }),
        "{items:?}"
    );
    assert_eq!(
        r.body["notices"][0]["content"]["seal"],
        "青石镇政务服务专用章"
    );
    // The remedies name the 复议机关 and the court from org.yaml, with the time limits.
    let content = &r.body["notices"][0]["content"];
    assert_eq!(content["remedies"]["review_body"], "青山县人民政府");
    assert_eq!(content["remedies"]["court"], "青山县人民法院");
    let last = content["paragraphs"].as_array().unwrap().last().unwrap();
    assert_eq!(
        last,
        "如对本决定不服，可以自收到本决定书之日起六十日内向青山县人民政府申请行政复议，或者在六个月内依法向青山县人民法院提起行政诉讼。"
    );
}

async fn refused_when_owns_vehicle_at_baishui(app: &TestApp) {
    let mut a = dibao_complete();
    a["fields"]["owns_vehicle"] = json!(true);
    let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["outcome"], "refused");
    assert_eq!(r.notice_kinds(), ["refusal"]);
    let ids: Vec<&str> = r.body["assessment"]["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["rule"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"vehicle_owned"), "{ids:?}");
}

async fn accepted_immediate(app: &TestApp) {
    let r = app
        .intake(CLERK_BAISHUI, GETIHU, &example_application(GETIHU_FILE, 0))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["outcome"], "accepted_immediate");
    assert_eq!(r.body["case"]["status"], "completed");
    assert_eq!(r.notice_kinds(), ["immediate_decision"]);
    assert_eq!(r.notice_numbers(), ["白水镇政务〔2026〕办字第0001号"]);
    let items = r.body["notices"][0]["content"]["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|i| i["detail"].as_str().unwrap().contains("白水市场监管所")),
        "{items:?}"
    );
}

async fn accepted_deferred(app: &TestApp) {
    // The example is taken at dongguan on 2026-09-28 with the income proof to follow.
    app.clock.set_day(day(2026, 9, 28));
    let r = app
        .intake(CLERK_DONGGUAN, DIBAO, &example_application(DIBAO_FILE, 3))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["outcome"], "accepted_deferred");
    assert_eq!(r.body["case"]["status"], "accepted");
    assert_eq!(r.body["case"]["received_on"], "2026-09-28");
    assert!(r.body["case"]["due_date"].is_string(), "{}", r.text);
    assert_eq!(r.notice_kinds(), ["acceptance", "deferral_commitment"]);
    assert_eq!(
        r.notice_numbers(),
        [
            "东关街道政务〔2026〕受字第0001号",
            "东关街道政务〔2026〕容字第0001号"
        ]
    );
    assert_eq!(item_titles(&r.body["notices"][1]), ["收入证明"]);
    assert_eq!(
        r.body["assessment"]["decider"]["unit_id"],
        "dongguan/social-affairs"
    );
}

/// Numbers run per center, per series and per year.
async fn numbers_per_center_series_and_year(app: &TestApp) {
    let a = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    let s = app.intake(CLERK_BAISHUI, DIBAO, &dibao_defective()).await;
    let b = app
        .intake(CLERK_BAISHUI, DIBAO, &dibao_complete_named("王建国"))
        .await;
    let q = app.intake(CLERK_QINGSHI, DIBAO, &dibao_complete()).await;
    assert_eq!(a.notice_numbers(), ["白水镇政务〔2026〕受字第0001号"]);
    assert_eq!(s.notice_numbers(), ["白水镇政务〔2026〕补字第0001号"]);
    assert_eq!(b.notice_numbers(), ["白水镇政务〔2026〕受字第0002号"]);
    assert_eq!(q.notice_numbers(), ["青石镇政务〔2026〕受字第0001号"]);
    assert_ne!(a.case_id(), b.case_id());

    app.clock.set_day(day(2027, 1, 4));
    let mut fresh = dibao_complete();
    // The income proof is valid for 90 days.
    fresh["materials"][4]["issued_on"] = json!("2026-12-20");
    let n = app.intake(CLERK_BAISHUI, DIBAO, &fresh).await;
    assert_eq!(n.status, 201, "{}", n.text);
    assert_eq!(n.notice_numbers(), ["白水镇政务〔2027〕受字第0001号"]);
    assert_eq!(n.body["case"]["received_on"], "2027-01-04");
}

/// A county clerk takes a matter accepted at the county center.
async fn county_center_numbers(app: &TestApp) {
    let r = app
        .intake(CLERK_COUNTY, GETIHU, &example_application(GETIHU_FILE, 0))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["case"]["center_id"], "qingshan");
    assert_eq!(r.body["case"]["township"], json!(null));
    assert_eq!(r.body["case"]["window_id"], "qs-w01");
    let number = &r.notice_numbers()[0];
    assert!(number.starts_with("青山县政务〔2026〕"), "{number}");
}

on_both_backends! {
    accepted_promised => accepted_promised_sqlite, accepted_promised_postgres;
    supplement_needed_lists_every_defect => supplement_needed_lists_every_defect_sqlite, supplement_needed_lists_every_defect_postgres;
    refused_with_reason_and_basis => refused_with_reason_and_basis_sqlite, refused_with_reason_and_basis_postgres;
    refused_when_owns_vehicle_at_baishui => refused_when_owns_vehicle_at_baishui_sqlite, refused_when_owns_vehicle_at_baishui_postgres;
    accepted_immediate => accepted_immediate_sqlite, accepted_immediate_postgres;
    accepted_deferred => accepted_deferred_sqlite, accepted_deferred_postgres;
    numbers_per_center_series_and_year => numbers_per_center_series_and_year_sqlite, numbers_per_center_series_and_year_postgres;
    county_center_numbers => county_center_numbers_sqlite, county_center_numbers_postgres;
}
