//! The intake decision against the sample catalog and small catalogs written for each test.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::json;
use yichuang::authoring::run_examples;
use yichuang::catalog::{Catalog, CatalogSources, Severity};
use yichuang::decide::{assess, assess_bundle, DecideError};
use yichuang::domain::application::{Application, Channel, IntakeContext};
use yichuang::domain::assessment::{DefectKind, MaterialStatus, Outcome};
use yichuang::domain::matter::{Level, RefusalKind};
use yichuang::rules::ScriptLimits;

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
}

fn sample() -> Catalog {
    match Catalog::load_dir(&rules_dir()) {
        Ok(c) => c,
        Err(e) => panic!("sample catalog does not load: {:#?}", e.diagnostics),
    }
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn at(today: &str, township: Option<&str>) -> IntakeContext {
    IntakeContext {
        today: date(today),
        township: township.map(str::to_string),
        village: None,
        channel: Channel::Window,
    }
}

fn app(v: serde_json::Value) -> Application {
    serde_json::from_value(v).unwrap()
}

/// The sample catalog's shared files plus the given matter and bundle files.
fn fixture(files: &[(&str, &str)]) -> CatalogSources {
    let mut sources = CatalogSources::default();
    let base = rules_dir();
    for f in [
        "catalog.yaml",
        "org.yaml",
        "calendar/2025.yaml",
        "calendar/2026.yaml",
    ] {
        sources.files.insert(
            f.to_string(),
            std::fs::read_to_string(base.join(f)).unwrap(),
        );
    }
    for (path, text) in files {
        sources
            .files
            .insert((*path).to_string(), (*text).to_string());
    }
    sources
}

fn load(files: &[(&str, &str)]) -> Catalog {
    match Catalog::load(fixture(files)) {
        Ok(c) => c,
        Err(e) => panic!("fixture does not load: {:#?}", e.diagnostics),
    }
}

fn dibao_complete() -> Application {
    app(json!({
        "applicant": {"kind": "natural_person", "name": "李秀英", "id_number": "330112195003120017", "phone": "13800001234"},
        "fields": {
            "household_size": 2, "monthly_income": 1200,
            "members": [
                {"name": "李秀英", "id_number": "330112195003120017", "relation": "本人"},
                {"name": "王建国", "id_number": "330112194208080042", "relation": "配偶"}
            ],
            "owns_vehicle": false, "bank_account": "6228480012345678",
            "address": "青山县白水镇东村3组12号"
        },
        "materials": [
            {"id": "application_form", "signed": true}, {"id": "id_cards"},
            {"id": "household_register"}, {"id": "authorization", "signed": true},
            {"id": "income_proof", "issued_on": "2026-02-20"}
        ]
    }))
}

#[test]
fn sample_catalog_lints_clean_and_every_example_passes() {
    let catalog = sample();
    let errors: Vec<_> = catalog
        .warnings
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(
        catalog.matters.len() >= 30,
        "only {} matters",
        catalog.matters.len()
    );
    assert!(catalog.bundles.len() >= 2);
    let results = run_examples(&catalog);
    let failed: Vec<_> = results.iter().filter(|r| !r.passed()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    for m in catalog.matters.values() {
        assert!(
            m.spec.examples.len() >= 3,
            "{} has fewer than 3 examples",
            m.spec.code
        );
    }
}

#[test]
fn accepted_promised_case_gets_due_date_and_report_up_route() {
    let catalog = sample();
    let a = assess(
        &catalog,
        "QS-MZ-001",
        &dibao_complete(),
        &at("2026-03-02", Some("baishui")),
    )
    .unwrap();
    assert_eq!(a.outcome, Outcome::AcceptedPromised);
    // 20 working days after Monday 2026-03-02, no holidays in March.
    assert_eq!(a.due.unwrap().date, Some(date("2026-03-30")));
    assert_eq!(a.statutory_due.unwrap().date, Some(date("2026-04-14")));
    assert_eq!(a.decider.unit_id.to_string(), "qingshan/civil-affairs");
    let route = a.route.unwrap();
    assert!(
        route.report_up,
        "township review then county decision is a report-up"
    );
    assert!(!route.joint);
    let ids: Vec<_> = route.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["village_review", "township_review", "county_decide"]);
    assert_eq!(route.steps[0].unit.unit_id.to_string(), "baishui/center");
    // Steps run one after another: 8, 5 and 7 working days.
    assert_eq!(route.steps[0].due.date, Some(date("2026-03-12")));
    assert_eq!(route.steps[1].due.date, Some(date("2026-03-19")));
    assert_eq!(route.steps[2].due.date, Some(date("2026-03-30")));
    assert!(a.defects.is_empty() && a.refusals.is_empty());
    assert!(a
        .materials
        .iter()
        .all(|m| m.status == MaterialStatus::Provided));
}

#[test]
fn devolved_township_decides_itself() {
    let catalog = sample();
    let a = assess(
        &catalog,
        "QS-MZ-001",
        &dibao_complete(),
        &at("2026-03-02", Some("dongguan")),
    )
    .unwrap();
    assert_eq!(a.outcome, Outcome::AcceptedPromised);
    assert_eq!(a.decider.unit_id.to_string(), "dongguan/social-affairs");
    assert_eq!(a.decider.level, Level::Township);
    let route = a.route.unwrap();
    assert!(!route.report_up);
    let ids: Vec<_> = route.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["village_review", "township_decide"]);
    // The same application in another township goes up to the county.
    let b = assess(
        &catalog,
        "QS-MZ-001",
        &dibao_complete(),
        &at("2026-03-02", Some("qingshi")),
    )
    .unwrap();
    assert_eq!(b.decider.unit_id.to_string(), "qingshan/civil-affairs");
}

#[test]
fn one_time_notice_lists_every_defect_at_once() {
    let catalog = sample();
    let mut a = dibao_complete();
    a.fields.insert("household_size".into(), json!(3)); // members list has 2
    a.fields.insert("has_disabled_member".into(), json!(true));
    a.fields.insert("bank_account".into(), json!("12345")); // too short
    a.applicant.phone = Some("12345".into());
    a.materials
        .retain(|m| m.id == "application_form" || m.id == "id_cards");
    a.materials[0].signed = false;
    a.materials[1].expires_on = Some(date("2025-12-31"));
    let r = assess(
        &catalog,
        "QS-MZ-001",
        &a,
        &at("2026-03-02", Some("baishui")),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::SupplementNeeded);
    let got: Vec<(&str, DefectKind)> = r.defects.iter().map(|d| (d.id.as_str(), d.kind)).collect();
    for expected in [
        ("applicant.phone", DefectKind::FieldInvalid),
        ("bank_account", DefectKind::FieldInvalid),
        ("household_size", DefectKind::Correction),
        ("application_form", DefectKind::Unsigned),
        ("id_cards", DefectKind::Expired),
        ("household_register", DefectKind::Missing),
        ("authorization", DefectKind::Missing),
        ("disability_certificate", DefectKind::Missing),
        ("income_proof", DefectKind::Missing),
    ] {
        assert!(got.contains(&expected), "missing {expected:?} in {got:?}");
    }
    assert_eq!(got.len(), 9, "{got:?}");
    // Each defect says where to obtain the material and why it is required.
    let reg = r
        .defects
        .iter()
        .find(|d| d.id == "household_register")
        .unwrap();
    assert_eq!(reg.obtain_from.as_deref(), Some("青山县公安局白水派出所"));
    let cert = r
        .defects
        .iter()
        .find(|d| d.id == "disability_certificate")
        .unwrap();
    assert_eq!(cert.obtain_from.as_deref(), Some("青山县残疾人联合会"));
    let auth = r.defects.iter().find(|d| d.id == "authorization").unwrap();
    assert_eq!(auth.basis.as_deref(), Some("《社会救助暂行办法》第十一条"));
    let proof = r.defects.iter().find(|d| d.id == "income_proof").unwrap();
    assert!(proof.reason.contains("容缺"), "{}", proof.reason);
    assert!(r.route.is_none() && r.due.is_none());
}

#[test]
fn refusal_gives_reason_basis_and_all_rules_that_apply() {
    let catalog = sample();
    let mut a = dibao_complete();
    a.fields.insert("owns_vehicle".into(), json!(true));
    a.fields.insert("monthly_income".into(), json!(5000));
    let r = assess(
        &catalog,
        "QS-MZ-001",
        &a,
        &at("2026-03-02", Some("baishui")),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Refused);
    let rules: Vec<_> = r.refusals.iter().map(|x| x.rule.as_str()).collect();
    assert_eq!(rules, ["vehicle_owned", "income_above_standard"]);
    assert!(r
        .refusals
        .iter()
        .all(|x| !x.basis.is_empty() && !x.reason.is_empty()));
}

#[test]
fn taking_a_matter_at_the_wrong_level_names_the_competent_center() {
    let catalog = sample();
    // 低保 is accepted by townships and village agents, not by the county center.
    let r = assess(
        &catalog,
        "QS-MZ-001",
        &dibao_complete(),
        &at("2026-03-02", None),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Refused);
    let refusal = &r.refusals[0];
    assert_eq!(refusal.rule, "not_accepted_at_level");
    assert_eq!(refusal.kind, RefusalKind::OutsidePower);
    assert!(
        refusal
            .competent_agency
            .as_deref()
            .unwrap()
            .contains("乡镇"),
        "{refusal:?}"
    );
    // 低保 is a 行政给付: its own basis, not the permit law.
    assert!(refusal.basis.contains("社会救助暂行办法"), "{refusal:?}");
    assert!(!refusal.basis.contains("行政许可法"), "{refusal:?}");
}

#[test]
fn applicant_of_the_wrong_kind_is_refused() {
    let catalog = sample();
    let mut a = dibao_complete();
    a.applicant.kind = yichuang::domain::matter::SubjectKind::EnterpriseLegalPerson;
    let r = assess(
        &catalog,
        "QS-MZ-001",
        &a,
        &at("2026-03-02", Some("baishui")),
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Refused);
    assert_eq!(r.refusals[0].rule, "subject_not_served");
}

#[test]
fn deferrable_material_is_accepted_under_commitment_with_a_date() {
    let catalog = sample();
    let mut a = dibao_complete();
    a.materials.retain(|m| m.id != "income_proof");
    let without = assess(
        &catalog,
        "QS-MZ-001",
        &a,
        &at("2026-03-02", Some("baishui")),
    )
    .unwrap();
    assert_eq!(without.outcome, Outcome::SupplementNeeded);
    a.commitment_signed = true;
    let with = assess(
        &catalog,
        "QS-MZ-001",
        &a,
        &at("2026-03-02", Some("baishui")),
    )
    .unwrap();
    assert_eq!(with.outcome, Outcome::AcceptedDeferred);
    assert_eq!(with.deferred.len(), 1);
    assert_eq!(with.deferred[0].id, "income_proof");
    // defer_days 10 after 2026-03-02.
    assert_eq!(with.deferred[0].supply_by.date, Some(date("2026-03-16")));
    assert!(with.route.is_some());
}

#[test]
fn village_agent_submission_is_accepted_through_the_township() {
    let catalog = sample();
    let ctx = IntakeContext {
        today: date("2026-03-02"),
        township: None,
        village: Some("baishui-dongcun".into()),
        channel: Channel::Agent,
    };
    let a = assess(&catalog, "QS-MZ-001", &dibao_complete(), &ctx).unwrap();
    assert_eq!(a.outcome, Outcome::AcceptedPromised);
    assert_eq!(a.accepting_level, Level::Village);
    assert_eq!(
        a.route.unwrap().steps[0].unit.unit_id.to_string(),
        "baishui/center"
    );
}

#[test]
fn deadline_past_the_calendar_is_flagged_not_guessed() {
    let catalog = sample();
    let mut app = dibao_complete();
    app.materials[4].issued_on = Some(date("2026-12-01"));
    let a = assess(
        &catalog,
        "QS-MZ-001",
        &app,
        &at("2026-12-21", Some("baishui")),
    )
    .unwrap();
    assert_eq!(a.outcome, Outcome::AcceptedPromised);
    let due = a.due.unwrap();
    assert!(due.beyond_coverage);
    assert_eq!(due.date, None);
    assert!(
        a.warnings.iter().any(|w| w.contains("工作日历")),
        "{:?}",
        a.warnings
    );
}

#[test]
fn unknown_matter_field_or_material_is_an_error_naming_it() {
    let catalog = sample();
    let ctx = at("2026-03-02", Some("baishui"));
    assert_eq!(
        assess(&catalog, "NOPE", &dibao_complete(), &ctx).unwrap_err(),
        DecideError::UnknownMatter("NOPE".into())
    );
    let mut a = dibao_complete();
    a.fields.insert("shoe_size".into(), json!(42));
    match assess(&catalog, "QS-MZ-001", &a, &ctx).unwrap_err() {
        DecideError::UnknownFields { fields, .. } => assert_eq!(fields, ["shoe_size"]),
        e => panic!("{e:?}"),
    }
    let mut a = dibao_complete();
    a.materials
        .push(serde_json::from_value(json!({"id": "passport"})).unwrap());
    match assess(&catalog, "QS-MZ-001", &a, &ctx).unwrap_err() {
        DecideError::UnknownMaterials { materials, .. } => assert_eq!(materials, ["passport"]),
        e => panic!("{e:?}"),
    }
    let bad_town = assess(
        &catalog,
        "QS-MZ-001",
        &dibao_complete(),
        &at("2026-03-02", Some("atlantis")),
    );
    assert_eq!(
        bad_town.unwrap_err(),
        DecideError::UnknownTownship("atlantis".into())
    );
}

#[test]
fn the_decision_is_deterministic() {
    let catalog = sample();
    let ctx = at("2026-03-02", Some("baishui"));
    let a = serde_json::to_string(&assess(&catalog, "QS-MZ-001", &dibao_complete(), &ctx).unwrap())
        .unwrap();
    let b = serde_json::to_string(&assess(&catalog, "QS-MZ-001", &dibao_complete(), &ctx).unwrap())
        .unwrap();
    assert_eq!(a, b);
}

const TINY: &str = r#"
code: T-001
name: 测试事项
type: public_service
basis: [测试依据]
subjects: [natural_person]
jurisdiction:
  accept: [township]
  decide: { level: township, department: social-affairs }
  devolved:
    - townships: [dongguan, hongqi]
      decide: { level: township, department: social-affairs }
handling: { kind: immediate, statutory_days: 0, promised_days: 0 }
form:
  - { id: amount, label: 金额, type: number, required: true }
materials:
  - { id: applicant_id_card, name: 申请人身份证, form: copy }
  - { id: premises_proof, name: 经营场所证明 }
  - id: extra
    name: 附加材料
    when: 'WHEN'
result: { name: 测试结果, type: other }
"#;

fn tiny(when: &str) -> String {
    TINY.replace("WHEN", when)
}

fn tiny_app() -> Application {
    app(json!({
        "applicant": {"kind": "natural_person", "name": "张三", "id_number": "330112198802200076"},
        "fields": {"amount": 10},
        "materials": [{"id": "applicant_id_card", "form": "copy"}, {"id": "premises_proof"}]
    }))
}

#[test]
fn immediate_matter_is_decided_at_the_window() {
    let catalog = load(&[("matters/t.yaml", &tiny("fields.amount > 100"))]);
    let a = assess(
        &catalog,
        "T-001",
        &tiny_app(),
        &at("2026-03-02", Some("baishui")),
    )
    .unwrap();
    assert_eq!(a.outcome, Outcome::AcceptedImmediate);
    assert_eq!(a.due.unwrap().date, Some(date("2026-03-02")));
    assert!(a.route.is_none());
    assert_eq!(a.decider.unit_id.to_string(), "baishui/social-affairs");
    // The conditional material is required only when its condition holds.
    assert!(!a.materials.iter().any(|m| m.id == "extra"));
    let mut big = tiny_app();
    big.fields.insert("amount".into(), json!(500));
    let b = assess(&catalog, "T-001", &big, &at("2026-03-02", Some("baishui"))).unwrap();
    assert_eq!(b.outcome, Outcome::SupplementNeeded);
    assert_eq!(b.defects[0].id, "extra");
}

#[test]
fn bundle_asks_for_a_shared_material_once() {
    let second = TINY.replace("T-001", "T-002").replace("WHEN", "false");
    let bundle = "code: B-001\nname: 测试一件事\nmatters: [T-001, T-002]\n";
    let catalog = load(&[
        ("matters/t1.yaml", &tiny("false")),
        ("matters/t2.yaml", &second),
        ("bundles/b.yaml", bundle),
    ]);
    let mut a = tiny_app();
    a.materials.clear();
    let r = assess_bundle(&catalog, "B-001", &a, &at("2026-03-02", Some("baishui"))).unwrap();
    assert_eq!(r.outcome, Outcome::SupplementNeeded);
    assert_eq!(r.matters.len(), 2);
    let ids: Vec<_> = r.defects.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["applicant_id_card", "premises_proof"]);
    // Each matter still records its own list.
    assert_eq!(r.matters[0].defects.len(), 2);
    assert_eq!(r.matters[1].defects.len(), 2);
    let ok = assess_bundle(
        &catalog,
        "B-001",
        &tiny_app(),
        &at("2026-03-02", Some("baishui")),
    )
    .unwrap();
    assert_eq!(ok.outcome, Outcome::AcceptedImmediate);
}

fn runaway(when: &str) -> DecideError {
    let catalog = load(&[("matters/t.yaml", &tiny(when))]);
    assess(
        &catalog,
        "T-001",
        &tiny_app(),
        &at("2026-03-02", Some("baishui")),
    )
    .unwrap_err()
}

#[test]
fn endless_loop_fails_that_evaluation_with_its_location() {
    let e = runaway("let x = 0; loop { x += 1; } false");
    let DecideError::Script(f) = e else {
        panic!("{e:?}")
    };
    assert_eq!(f.origin.matter, "T-001");
    assert_eq!(f.origin.file, "matters/t.yaml");
    assert_eq!(f.origin.path, "materials[2].when");
    assert_eq!(f.line, 21, "{f}");
    assert!(f.message.contains("operations"), "{f}");
}

#[test]
fn endless_recursion_fails_cleanly() {
    let e = runaway("fn f(x) { f(x + 1) } f(0)");
    let DecideError::Script(f) = e else {
        panic!("{e:?}")
    };
    assert!(
        f.message.contains("call depth") || f.message.contains("调用层级"),
        "{f}"
    );
}

#[test]
fn huge_strings_arrays_and_maps_fail_cleanly() {
    for script in [
        r#"let s = "x"; loop { s += s; } false"#,
        "let a = []; loop { a.push(1); } false",
        "let m = #{}; let i = 0; loop { m[`k${i}`] = i; i += 1; } false",
    ] {
        let e = runaway(script);
        let DecideError::Script(f) = e else {
            panic!("{script}: {e:?}")
        };
        assert!(
            f.message.contains("too large") || f.message.contains("operations"),
            "{script}: {f}"
        );
    }
}

#[test]
fn a_condition_that_is_not_boolean_is_a_clear_error() {
    let e = runaway("fields.amount + 1");
    let DecideError::Script(f) = e else {
        panic!("{e:?}")
    };
    assert!(f.message.contains("true or false"), "{f}");
}

#[test]
fn tighter_limits_apply_to_every_script() {
    let limits = ScriptLimits {
        max_operations: 10,
        ..ScriptLimits::default()
    };
    let catalog = Catalog::load_with_limits(
        fixture(&[(
            "matters/t.yaml",
            &tiny("let t = 0; for i in 0..100 { t += i; } t > 5"),
        )]),
        limits,
    )
    .unwrap();
    let e = assess(
        &catalog,
        "T-001",
        &tiny_app(),
        &at("2026-03-02", Some("baishui")),
    )
    .unwrap_err();
    assert!(matches!(e, DecideError::Script(_)), "{e:?}");
}

#[test]
fn invalid_form_does_not_turn_into_a_script_error() {
    let catalog = load(&[("matters/t.yaml", &tiny("fields.amount > 100"))]);
    let mut a = tiny_app();
    a.fields.insert("amount".into(), json!("lots"));
    let r = assess(&catalog, "T-001", &a, &at("2026-03-02", Some("baishui"))).unwrap();
    assert_eq!(r.outcome, Outcome::SupplementNeeded);
    assert!(r
        .defects
        .iter()
        .any(|d| d.id == "amount" && d.kind == DefectKind::FieldInvalid));
}

fn lint_errors(files: &[(&str, &str)]) -> Vec<String> {
    let (_, diags) = Catalog::load_for_lint(fixture(files), ScriptLimits::default());
    diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(ToString::to_string)
        .collect()
}

#[test]
fn lint_points_at_file_line_and_column() {
    // Bad YAML: a tab-less but mis-indented key.
    let bad_yaml = tiny("true").replace("name: 测试事项", "name: 测试事项\n  oops: [");
    let e = lint_errors(&[("matters/t.yaml", &bad_yaml)]);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("matters/t.yaml:4:"), "{e:?}");

    // A script syntax error, located inside the file.
    let e = lint_errors(&[("matters/t.yaml", &tiny("fields.amount >> > 1"))]);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("matters/t.yaml:21:"), "{e:?}");
    assert!(
        e[0].contains("[T-001]") && e[0].contains("materials[2].when"),
        "{e:?}"
    );

    // An unknown department.
    let unknown = tiny("true").replace(
        "department: social-affairs }\n  devolved",
        "department: no-such-office }\n  devolved",
    );
    let e = lint_errors(&[("matters/t.yaml", &unknown)]);
    assert!(
        e.iter()
            .any(|x| x.starts_with("matters/t.yaml:9:") && x.contains("no-such-office")),
        "{e:?}"
    );

    // A script naming a field that the form does not have.
    let e = lint_errors(&[("matters/t.yaml", &tiny("fields.amout > 1"))]);
    assert!(
        e.iter()
            .any(|x| x.contains("fields.amout") && x.starts_with("matters/t.yaml:21:")),
        "{e:?}"
    );

    // A promised limit above the statutory one.
    let over = tiny("true").replace(
        "{ kind: immediate, statutory_days: 0, promised_days: 0 }",
        "{ kind: immediate, statutory_days: 10, promised_days: 12 }",
    );
    let e = lint_errors(&[("matters/t.yaml", &over)]);
    assert!(e.iter().any(|x| x.contains("承诺时限")), "{e:?}");

    // Duplicate matter codes in two files.
    let e = lint_errors(&[
        ("matters/a.yaml", &tiny("true")),
        ("matters/b.yaml", &tiny("true")),
    ]);
    assert!(
        e.iter().any(|x| x.contains("duplicate matter code")),
        "{e:?}"
    );
}

#[test]
fn lint_catches_examples_that_name_missing_fields() {
    let with_example = format!(
        "{}examples:\n  - name: x\n    today: 2026-03-02\n    township: baishui\n    application:\n      applicant: {{ kind: natural_person, name: 张三 }}\n      fields: {{ amont: 1 }}\n    expect: {{ outcome: accepted_immediate }}\n",
        tiny("true")
    );
    let e = lint_errors(&[("matters/t.yaml", &with_example)]);
    assert!(
        e.iter()
            .any(|x| x.contains("'amont'") && x.starts_with("matters/t.yaml:29:")),
        "{e:?}"
    );
}

#[test]
fn promised_limit_not_30_percent_below_statutory_is_a_warning_only() {
    let text = tiny("true").replace(
        "{ kind: immediate, statutory_days: 0, promised_days: 0 }",
        "{ kind: immediate, statutory_days: 20, promised_days: 18 }",
    );
    let catalog = load(&[("matters/t.yaml", &text)]);
    assert!(catalog.warnings.iter().any(|w| w.message.contains("30%")));
}

/// Steps of u32::MAX working days (found by tests/fuzz.rs): their sum does not fit a u32; the
/// catalog loads with the warning, and decisions mark the due dates beyond the calendar.
#[test]
fn route_days_beyond_u32_add_up_without_overflow() {
    let text = std::fs::read_to_string(rules_dir().join("matters/mz-dibao.yaml"))
        .unwrap()
        .replace("days: 8 }", "days: 4294967295 }")
        .replace("days: 5 }", "days: 4294967295 }");
    let catalog = load(&[("matters/mz-dibao.yaml", &text)]);
    assert!(
        catalog
            .warnings
            .iter()
            .any(|w| w.message.contains("8589934597 个工作日")),
        "{:#?}",
        catalog.warnings
    );
    let a = assess(
        &catalog,
        "QS-MZ-001",
        &dibao_complete(),
        &at("2026-03-02", Some("baishui")),
    )
    .unwrap();
    assert!(a.due.as_ref().is_some_and(|d| d.date.is_some()), "{a:?}");
    let route = a.route.expect("a route");
    assert!(route.steps[0].due.beyond_coverage && route.steps[0].due.date.is_none());
}

#[test]
fn a_bundle_whose_matters_disagree_on_a_shared_material_does_not_load() {
    let second = TINY
        .replace("T-001", "T-002")
        .replace("WHEN", "false")
        .replace("name: 经营场所证明", "name: 租赁合同");
    let bundle = "code: B-001\nname: 测试一件事\nmatters: [T-001, T-002]\n";
    let e = lint_errors(&[
        ("matters/t1.yaml", &tiny("false")),
        ("matters/t2.yaml", &second),
        ("bundles/b.yaml", bundle),
    ]);
    assert!(
        e.iter()
            .any(|x| x.starts_with("bundles/b.yaml") && x.contains("premises_proof")),
        "{e:?}"
    );
}
