//! 一件事: QS-YJS-BARBERSHOP = QS-SC-001 (immediate) + QS-WS-001 (promised), one form and one set
//! of materials, shared materials asked for once.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both_backends;

/// The union of the two baishui examples (QS-SC-001 #0 and QS-WS-001 #0): same applicant, same
/// premises and phone.
pub(crate) fn barbershop_complete() -> Value {
    let sc = example_application(GETIHU_FILE, 0);
    let ws = example_application(WEISHENG_FILE, 0);
    let mut fields = sc["fields"].as_object().unwrap().clone();
    for (k, v) in ws["fields"].as_object().unwrap() {
        if let Some(old) = fields.get(k) {
            assert_eq!(old, v, "the examples disagree on {k}");
        }
        fields.insert(k.clone(), v.clone());
    }
    let mut materials: Vec<Value> = Vec::new();
    for m in sc["materials"]
        .as_array()
        .unwrap()
        .iter()
        .chain(ws["materials"].as_array().unwrap())
    {
        if !materials.iter().any(|x| x["id"] == m["id"]) {
            materials.push(m.clone());
        }
    }
    json!({ "applicant": sc["applicant"], "fields": fields, "materials": materials })
}

fn without_material(mut app: Value, id: &str) -> Value {
    app["materials"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["id"] != id);
    app
}

async fn bundle_intake(app: &TestApp, application: &Value) -> Resp {
    app.post_json(
        "/api/v1/cases",
        Some(CLERK_BAISHUI),
        &json!({ "bundle": BARBERSHOP, "application": application }),
        &[],
    )
    .await
}

async fn bundle_complete_is_accepted(app: &TestApp) {
    let r = bundle_intake(app, &barbershop_complete()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["outcome"], "accepted_promised");
    assert_eq!(r.body["case"]["status"], "accepted");
    assert_eq!(r.body["case"]["matter_code"], BARBERSHOP);
    assert_eq!(r.body["case"]["bundle_code"], BARBERSHOP);
    // The latest of the matters' dates: QS-WS-001's 10 working days.
    assert_eq!(r.body["case"]["due_date"], "2026-03-16");
    let outcomes: Vec<&str> = r.body["assessment"]["matters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["accepted_immediate", "accepted_promised"]);
    // One 受理通知书 for the bundle, and the 即办 licence decided at once with its own notice
    // (the bundle promises 营业执照当场核发).
    assert_eq!(r.notice_kinds(), ["acceptance", "immediate_decision"]);
    assert_eq!(
        r.notice_numbers(),
        [
            "白水镇政务〔2026〕受字第0001号",
            "白水镇政务〔2026〕办字第0001号"
        ]
    );
    assert_eq!(r.body["notices"][0]["content"]["matter"], "我要开理发店");
    assert_ne!(r.body["notices"][1]["content"]["matter"], "我要开理发店");
    // The 受理通知书 gives the promised and the statutory date of the matter still running, and
    // leaves out the licence already issued.
    let titles = item_titles(&r.body["notices"][0]);
    assert!(
        titles.contains(&"公共场所卫生许可 承诺办结时限".to_string()),
        "{titles:?}"
    );
    assert!(
        titles.contains(&"公共场所卫生许可 法定办结时限".to_string()),
        "{titles:?}"
    );
    assert!(
        !titles.iter().any(|t| t.starts_with("个体工商户设立登记")),
        "{titles:?}"
    );
    // Progress shows each matter: the licence decided, the permit in progress.
    let p = app
        .get(
            &format!("/api/v1/cases/{}/progress", r.case_id()),
            Some(CLERK_BAISHUI),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    let statuses: Vec<(&str, &str)> = p.body["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["status"].as_str().unwrap(),
                x["immediate"]
                    .as_bool()
                    .map_or("?", |b| if b { "immediate" } else { "promised" }),
            )
        })
        .collect();
    assert!(statuses.contains(&("decided", "immediate")), "{}", p.text);
    assert!(
        statuses.contains(&("in_progress", "promised")),
        "{}",
        p.text
    );
}

async fn bundle_shared_material_listed_once(app: &TestApp) {
    let r = bundle_intake(
        app,
        &without_material(barbershop_complete(), "premises_proof"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["outcome"], "supplement_needed");
    assert_eq!(r.body["case"]["status"], "awaiting_supplement");
    // Both matters lack it ...
    for m in r.body["assessment"]["matters"].as_array().unwrap() {
        assert!(defect_ids(m).contains(&"premises_proof".to_string()), "{m}");
    }
    // ... and the notice asks for it once.
    assert_eq!(r.notice_kinds(), ["supplement"]);
    let titles = item_titles(&r.body["notices"][0]);
    assert_eq!(titles, ["经营场所证明（房屋产权证明或租赁合同）"]);

    // Supplying it once completes the bundle.
    let id = r.case_id();
    let s = app
        .post_json(
            &format!("/api/v1/cases/{id}/supplements"),
            Some(CLERK_BAISHUI),
            &json!({ "materials": [ { "id": "premises_proof" } ] }),
            &[],
        )
        .await;
    assert_eq!(s.status, 200, "{}", s.text);
    assert_eq!(s.body["outcome"], "accepted_promised");
    assert_eq!(s.body["case"]["bundle_code"], BARBERSHOP);
}

/// Both matters have a material with id `application_form`, but they are different documents
/// (个体工商户登记（备案）申请书 and 公共场所卫生许可申请表). When it is missing the one-time notice
/// (一次性告知) must name both, or the applicant comes back a second time.
async fn bundle_same_id_different_materials_both_listed(app: &TestApp) {
    // Each matter's own application form is a different document with its own id.
    let r = bundle_intake(
        app,
        &without_material(
            without_material(barbershop_complete(), "application_form"),
            "hygiene_license_application",
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["outcome"], "supplement_needed");
    let titles = item_titles(&r.body["notices"][0]);
    assert!(
        titles.contains(&"个体工商户登记（备案）申请书".to_string()),
        "{titles:?}"
    );
    assert!(
        titles.contains(&"公共场所卫生许可申请表".to_string()),
        "the notice does not name the hygiene licence application form: {titles:?}"
    );
}

on_both_backends! {
    bundle_complete_is_accepted => bundle_complete_is_accepted_sqlite, bundle_complete_is_accepted_postgres;
    bundle_shared_material_listed_once => bundle_shared_material_listed_once_sqlite, bundle_shared_material_listed_once_postgres;
    bundle_same_id_different_materials_both_listed => bundle_same_id_different_materials_both_listed_sqlite, bundle_same_id_different_materials_both_listed_postgres;
}
