//! Rule changes without a restart: the reload gate, atomic activation, pinned versions for open
//! cases, and the directory watcher.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;

const CATALOG: &str = "/api/v1/catalog";
const RELOAD: &str = "/api/v1/catalog/reload";
const MARKED_ACCOUNT: &str = "6220000000000000";

/// A private copy of the sample catalog.
fn rules_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"), &rules);
    (dir, rules)
}

/// A new refusal rule that only an application with the marked bank account meets.
fn add_marked_refusal(rules: &Path) {
    edit(
        &rules.join(DIBAO_FILE),
        "refusals:\n",
        &format!(
            "refusals:\n  - id: marked_account\n    if: 'fields.bank_account == \"{MARKED_ACCOUNT}\"'\n    kind: ineligible\n    reason: 测试用规则\n    basis: 测试依据\n"
        ),
    );
}

async fn catalog_hash(app: &TestApp) -> String {
    let r = app.get(CATALOG, Some(ADMIN)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["hash"].as_str().unwrap().to_string()
}

fn marked(mut a: Value) -> Value {
    a["fields"]["bank_account"] = json!(MARKED_ACCOUNT);
    a
}

async fn valid_change_goes_live_and_open_cases_keep_their_version(backend: Backend) {
    let (_dir, rules) = rules_copy();
    let app = spawn_app_with(backend, rules.clone(), 0).await;
    let before = catalog_hash(&app).await;

    // A case waiting for materials under the first version.
    let r = app
        .intake(CLERK_BAISHUI, DIBAO, &marked(dibao_defective()))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["outcome"], "supplement_needed");
    let case_id = r.body["case"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["case"]["catalog_version"], before.as_str());

    add_marked_refusal(&rules);
    let r = app.post_json(RELOAD, Some(ADMIN), &json!({}), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["outcome"], "activated");
    let after = catalog_hash(&app).await;
    assert_ne!(before, after);
    assert_eq!(r.body["hash"], after.as_str());
    let status = app.get(CATALOG, Some(ADMIN)).await;
    assert_eq!(status.body["activated"]["by"], "admin");

    // New intakes are assessed under the new rule.
    let r = app
        .intake(CLERK_BAISHUI, DIBAO, &marked(dibao_complete()))
        .await;
    assert_eq!(r.body["outcome"], "refused", "{}", r.text);
    assert_eq!(r.body["case"]["catalog_version"], after.as_str());

    // The open case keeps the version it was taken under: no refusal on supplement.
    let mut complete = marked(dibao_complete());
    complete["fields"]["has_disabled_member"] = json!(false);
    let r = app
        .post_json(
            &format!("/api/v1/cases/{case_id}/supplements"),
            Some(CLERK_BAISHUI),
            &json!({ "fields": complete["fields"], "materials": complete["materials"] }),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["outcome"], "accepted_promised", "{}", r.text);
    assert_eq!(r.body["case"]["catalog_version"], before.as_str());

    // Reloading the same files again changes nothing.
    let r = app.post_json(RELOAD, Some(ADMIN), &json!({}), &[]).await;
    assert_eq!(r.body["outcome"], "unchanged");
}

async fn invalid_changes_never_go_live(backend: Backend) {
    let (_dir, rules) = rules_copy();
    let app = spawn_app_with(backend, rules.clone(), 0).await;
    let before = catalog_hash(&app).await;
    let original = std::fs::read_to_string(rules.join(DIBAO_FILE)).unwrap();
    let cases: [(&str, &str, &str); 4] = [
        (
            "subjects: [natural_person]",
            "subjects: [natural_person\n",
            "matters/mz-dibao.yaml:",
        ),
        (
            "if: 'fields.owns_vehicle == true'",
            "if: 'fields.owns_vehicle == == true'",
            "does not compile",
        ),
        ("due: 2026-03-30", "due: 2026-03-31", "example failed"),
        (
            "if: 'fields.owns_vehicle == true'",
            "if: 'let x = 0; loop { x += 1; } false'",
            "too many operations",
        ),
    ];
    for (from, to, expected) in cases {
        std::fs::write(rules.join(DIBAO_FILE), &original).unwrap();
        edit(&rules.join(DIBAO_FILE), from, to);
        let r = app.post_json(RELOAD, Some(ADMIN), &json!({}), &[]).await;
        r.assert_error(422, "catalog_rejected");
        let errors = r.body["details"]["errors"].to_string();
        assert!(errors.contains(expected), "{to}: {errors}");
        assert_eq!(catalog_hash(&app).await, before, "{to} went live");
        let status = app.get(CATALOG, Some(ADMIN)).await;
        assert_eq!(status.body["last_attempt"]["outcome"], "rejected");
        assert!(
            !status.body["last_attempt"]["errors"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{}",
            status.text
        );
        // The findings quote rule files: only county IT sees them.
        let seen = app.get(CATALOG, Some(AGENT_DONGCUN)).await;
        assert_eq!(seen.body["last_attempt"]["outcome"], "rejected");
        assert_eq!(
            seen.body["last_attempt"]["errors"],
            json!([]),
            "{}",
            seen.text
        );
        // The service goes on with the last good catalog.
        let r = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["case"]["catalog_version"], before.as_str());
    }
    std::fs::write(rules.join(DIBAO_FILE), &original).unwrap();

    // The printed notices' templates are rule files too: one that does not compile, or one
    // that compiles but does not render (an unknown filter), never goes live, and notices go
    // on printing with the last good one.
    let taken = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    let notice = taken.body["notices"][0]["id"].as_str().unwrap().to_string();
    let print = format!("/api/v1/notices/{notice}/print");
    let good = app.get(&print, Some(CLERK_BAISHUI)).await;
    assert_eq!(good.status, 200, "{}", good.text);
    let template = rules.join("templates/notice.html");
    let kept = std::fs::read_to_string(&template).unwrap();
    for broken in ["<p>\n{% if n.title %}\n", "{{ n.title | no_such_filter }}"] {
        std::fs::write(&template, broken).unwrap();
        let r = app.post_json(RELOAD, Some(ADMIN), &json!({}), &[]).await;
        r.assert_error(422, "catalog_rejected");
        let errors = r.body["details"]["errors"].to_string();
        assert!(
            errors.contains("templates/notice.html"),
            "{broken}: {errors}"
        );
        assert_eq!(catalog_hash(&app).await, before, "{broken} went live");
        let again = app.get(&print, Some(CLERK_BAISHUI)).await;
        assert_eq!(again.status, 200, "{}", again.text);
        assert_eq!(again.text, good.text, "{broken}: the print changed");
    }
    std::fs::write(&template, kept).unwrap();

    // The words of notices are rule files too (templates/wording.yaml): an entry naming a fact
    // it does not have never goes live; a rewording does, without a restart, for new notices
    // only: a notice issued before prints as it was issued.
    let wording = rules.join("templates/wording.yaml");
    let kept = std::fs::read_to_string(&wording).unwrap();
    let accepted = "{{ cite }}，决定予以受理。";
    assert!(kept.contains(accepted), "the sample wording changed");
    std::fs::write(
        &wording,
        kept.replace(
            accepted,
            "{{ cite }}，决定予以受理{{ acceptance_number }}。",
        ),
    )
    .unwrap();
    let r = app.post_json(RELOAD, Some(ADMIN), &json!({}), &[]).await;
    r.assert_error(422, "catalog_rejected");
    let errors = r.body["details"]["errors"].to_string();
    assert!(
        errors.contains("templates/wording.yaml") && errors.contains("acceptance"),
        "{errors}"
    );
    assert_eq!(
        catalog_hash(&app).await,
        before,
        "a broken wording went live"
    );
    std::fs::write(
        &wording,
        kept.replace(accepted, "{{ cite }}，经窗口审查，决定予以受理。"),
    )
    .unwrap();
    let r = app.post_json(RELOAD, Some(ADMIN), &json!({}), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let reworded = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    assert_eq!(reworded.status, 201, "{}", reworded.text);
    let id = reworded.body["notices"][0]["id"].as_str().unwrap();
    let shown = app
        .get(&format!("/api/v1/notices/{id}"), Some(CLERK_BAISHUI))
        .await;
    assert!(
        shown.text.contains("经窗口审查，决定予以受理"),
        "the notice JSON: {}",
        shown.text
    );
    let printed = app
        .get(&format!("/api/v1/notices/{id}/print"), Some(CLERK_BAISHUI))
        .await;
    assert!(printed.text.contains("经窗口审查，决定予以受理"));
    let again = app.get(&print, Some(CLERK_BAISHUI)).await;
    assert_eq!(again.text, good.text, "an earlier notice was reworded");
    std::fs::write(&wording, kept).unwrap();

    // Only the county IT admin reloads.
    let r = app
        .post_json(RELOAD, Some(CLERK_BAISHUI), &json!({}), &[])
        .await;
    r.assert_error(403, "forbidden");
}

async fn the_watcher_picks_up_a_change(backend: Backend) {
    let (_dir, rules) = rules_copy();
    let app = spawn_app_with(backend, rules.clone(), 100).await;
    let before = catalog_hash(&app).await;
    let text = std::fs::read_to_string(rules.join(DIBAO_FILE))
        .unwrap()
        .replace("QS-MZ-001", "QS-MZ-901")
        .replace(
            "name: 最低生活保障审核确认",
            "name: 最低生活保障审核确认（试点）",
        );
    std::fs::write(rules.join("matters/mz-dibao-pilot.yaml"), text).unwrap();
    // A generous bound: the gate runs every golden example in a debug build, on a machine that
    // may be busy with other builds.
    let deadline = Instant::now() + Duration::from_secs(90);
    while catalog_hash(&app).await == before {
        if Instant::now() >= deadline {
            let status = app.get(CATALOG, Some(ADMIN)).await;
            panic!("the change was not picked up: {}", status.text);
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let r = app.get("/api/v1/matters/QS-MZ-901", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let status = app.get(CATALOG, Some(ADMIN)).await;
    assert_eq!(status.body["activated"]["by"], "watch");
    assert_eq!(status.body["matters"], 32);
}

/// Replaying stored intakes reproduces them exactly; the impact preview counts what a candidate
/// catalog would change, before it goes live.
async fn impact_preview_and_exact_replay(backend: Backend) {
    let (_dir, rules) = rules_copy();
    let app = spawn_app_with(backend, rules.clone(), 0).await;
    for a in [
        dibao_complete(),
        marked(dibao_complete()),
        marked(dibao_defective()),
        dibao_defective(),
    ] {
        let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = app
        .intake(CLERK_BAISHUI, GETIHU, &example_application(GETIHU_FILE, 0))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let r = app
        .post_json(
            "/api/v1/catalog/replay-check",
            Some(ADMIN),
            &json!({"days": 30}),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["cases"], 5, "{}", r.text);
    assert_eq!(r.body["identical"], 5, "{}", r.text);

    // Unchanged rules: nothing would change.
    let r = app
        .post_json("/api/v1/catalog/impact", Some(ADMIN), &json!({}), &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["cases"].as_u64(), r.body["outcome"].as_u64()),
        (Some(5), Some(0)),
        "{}",
        r.text
    );

    // The marked-account refusal would turn the two marked applications into refusals.
    add_marked_refusal(&rules);
    let r = app
        .post_json(
            "/api/v1/catalog/impact",
            Some(ADMIN),
            &json!({"days": 30}),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["outcome"], 2, "{}", r.text);
    let m = &r.body["by_matter"][DIBAO];
    assert_eq!(
        (m["cases"].as_u64(), m["outcome"].as_u64()),
        (Some(4), Some(2)),
        "{}",
        r.text
    );
    assert!(m["examples"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["after"] == "refused"));
    assert_eq!(r.body["by_matter"][GETIHU]["outcome"], 0);
    // Nothing went live.
    let now = app
        .intake(CLERK_BAISHUI, DIBAO, &marked(dibao_complete()))
        .await;
    assert_eq!(now.body["outcome"], "accepted_promised");

    let r = app
        .post_json(
            "/api/v1/catalog/impact",
            Some(CLERK_BAISHUI),
            &json!({}),
            &[],
        )
        .await;
    r.assert_error(403, "forbidden");
}

/// A matter marked `apply_to_open_cases` moves open cases to its new version at their next step,
/// and their history records it.
async fn marked_change_applies_to_open_cases(backend: Backend) {
    let (_dir, rules) = rules_copy();
    let app = spawn_app_with(backend, rules.clone(), 0).await;
    let before = catalog_hash(&app).await;
    let r = app
        .intake(CLERK_BAISHUI, DIBAO, &marked(dibao_defective()))
        .await;
    let case_id = r.body["case"]["id"].as_str().unwrap().to_string();

    add_marked_refusal(&rules);
    edit(
        &rules.join(DIBAO_FILE),
        "result:",
        "apply_to_open_cases: true\nresult:",
    );
    let r = app.post_json(RELOAD, Some(ADMIN), &json!({}), &[]).await;
    assert_eq!(r.body["outcome"], "activated", "{}", r.text);
    let after = catalog_hash(&app).await;

    let mut complete = marked(dibao_complete());
    complete["fields"]["has_disabled_member"] = json!(false);
    let r = app
        .post_json(
            &format!("/api/v1/cases/{case_id}/supplements"),
            Some(CLERK_BAISHUI),
            &json!({ "fields": complete["fields"], "materials": complete["materials"] }),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["outcome"], "refused",
        "the new rule applies: {}",
        r.text
    );
    assert_eq!(r.body["case"]["catalog_version"], after.as_str());
    let history = app
        .get(
            &format!("/api/v1/cases/{case_id}/history"),
            Some(CLERK_BAISHUI),
        )
        .await;
    let last = history.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["detail"]["catalog_changed"]["from"], before.as_str());
    assert_eq!(last["detail"]["catalog_changed"]["to"], after.as_str());
    assert_eq!(last["catalog_version"], after.as_str());
}

/// After acceptance, a marked change reaches an open case at its next step action; an unmarked
/// matter's cases keep their version.
async fn marked_change_reaches_accepted_cases_at_their_next_step(backend: Backend) {
    let (_dir, rules) = rules_copy();
    let app = spawn_app_with(backend, rules.clone(), 0).await;
    let before = catalog_hash(&app).await;
    let marked_case = app
        .intake(CLERK_BAISHUI, DIBAO, &dibao_complete())
        .await
        .case_id();
    let other = app
        .intake(
            CLERK_BAISHUI,
            "QS-WS-001",
            &example_application(WEISHENG_FILE, 0),
        )
        .await
        .case_id();
    edit(
        &rules.join(DIBAO_FILE),
        "result:",
        "apply_to_open_cases: true\nresult:",
    );
    let r = app.post_json(RELOAD, Some(ADMIN), &json!({}), &[]).await;
    assert_eq!(r.body["outcome"], "activated", "{}", r.text);
    let after = catalog_hash(&app).await;
    for case in [&marked_case, &other] {
        let p = app
            .get(
                &format!("/api/v1/cases/{case}/progress"),
                Some(CLERK_BAISHUI),
            )
            .await;
        let step = p.body["steps"][0]["id"].as_str().unwrap().to_string();
        let r = app
            .post_json(
                &format!("/api/v1/cases/{case}/steps/{step}"),
                Some(CLERK_BAISHUI),
                &json!({"action": "approve"}),
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let version = |c: &str| {
        let c = c.to_string();
        let app = &app;
        async move {
            app.get(&format!("/api/v1/cases/{c}"), Some(CLERK_BAISHUI))
                .await
                .body["case"]["catalog_version"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(version(&marked_case).await, after);
    assert_eq!(version(&other).await, before);
    let history = app
        .get(
            &format!("/api/v1/cases/{marked_case}/history"),
            Some(CLERK_BAISHUI),
        )
        .await;
    let changed = history
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "catalog_changed")
        .unwrap_or_else(|| panic!("{}", history.text))
        .clone();
    assert_eq!(changed["detail"]["from"], before.as_str());
    assert_eq!(changed["detail"]["to"], after.as_str());
}

macro_rules! on_both {
    ($($f:ident => $s:ident, $p:ident;)*) => {$(
        #[actix_web::test]
        async fn $s() { $f(Backend::Sqlite).await }
        #[actix_web::test]
        async fn $p() { $f(Backend::Postgres).await }
    )*};
}

on_both! {
    valid_change_goes_live_and_open_cases_keep_their_version => valid_change_goes_live_sqlite, valid_change_goes_live_postgres;
    invalid_changes_never_go_live => invalid_changes_never_go_live_sqlite, invalid_changes_never_go_live_postgres;
    the_watcher_picks_up_a_change => the_watcher_picks_up_a_change_sqlite, the_watcher_picks_up_a_change_postgres;
    impact_preview_and_exact_replay => impact_preview_and_exact_replay_sqlite, impact_preview_and_exact_replay_postgres;
    marked_change_applies_to_open_cases => marked_change_applies_to_open_cases_sqlite, marked_change_applies_to_open_cases_postgres;
    marked_change_reaches_accepted_cases_at_their_next_step => marked_change_after_acceptance_sqlite, marked_change_after_acceptance_postgres;
}

fn instance(db_url: &str, rules: &Path) -> std::sync::Arc<yichuang::app::App> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = yichuang::config::Config {
        database_url: db_url.to_string(),
        rules_dir: rules.to_path_buf(),
        tokens_file: root.join("config/tokens.yaml"),
        reload_poll_ms: 0,
        fleet_poll_ms: 100,
        ..Default::default()
    };
    let clock = std::sync::Arc::new(yichuang::app::ManualClock::at(day(2026, 3, 2)));
    let app = std::sync::Arc::new(yichuang::app::start(config, clock).expect("instance starts"));
    yichuang::app::start_fleet_sync(&app);
    app
}

fn wait_for(apps: &[&std::sync::Arc<yichuang::app::App>], hash: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while apps.iter().any(|a| a.registry.current().hash != hash) {
        assert!(
            Instant::now() < deadline,
            "instances did not converge on {hash}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `rules publish` and `rules activate` on PostgreSQL: two instances converge to the published
/// version and back to the earlier one; a catalog that fails the gate is never published.
#[test]
fn fleet_instances_converge_on_publish_and_rollback() {
    let db = PgDb::new("yc_api");
    let (_a, rules) = rules_copy();
    let one = instance(&db.url, &rules);
    let two = instance(&db.url, &rules);
    let original = one.registry.current().hash.clone();
    assert_eq!(two.registry.current().hash, original);

    let (_b, changed) = rules_copy();
    add_marked_refusal(&changed);
    let (published, _) =
        yichuang::app::publish(&one.store, &changed, "county-it", one.clock.now_ms()).unwrap();
    assert_ne!(published, original);
    wait_for(&[&one, &two], &published);
    assert_eq!(two.registry.activation().by, "fleet");

    // Roll back to the first version (stored at start-up).
    one.store
        .record_activation(&original, "county-it", one.clock.now_ms())
        .unwrap();
    wait_for(&[&one, &two], &original);

    // A catalog that fails the gate is refused before anything is stored or activated.
    let (_c, broken) = rules_copy();
    edit(
        &broken.join(DIBAO_FILE),
        "due: 2026-03-30",
        "due: 2026-03-31",
    );
    let err =
        yichuang::app::publish(&one.store, &broken, "county-it", one.clock.now_ms()).unwrap_err();
    assert!(err.to_string().contains("example failed"), "{err}");
    assert_eq!(one.store.active_catalog().unwrap().unwrap().hash, original);
    let versions = one.store.catalog_versions().unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
}

/// An open case keeps its catalog version across a reload and a restart: the new instance loads
/// the old version back from the database by its hash.
#[test]
fn open_cases_keep_their_version_after_a_restart() {
    use yichuang::app::intake::{supplement, take, Intake, Supplement};
    use yichuang::domain::application::Application;
    use yichuang::domain::case::CaseSubject;
    let db = PgDb::new("yc_api");
    let (_a, rules) = rules_copy();
    let clerk = yichuang::auth::User {
        id: "clerk-baishui".into(),
        name: "王芳".into(),
        role: yichuang::auth::Role::Clerk,
        unit: "baishui".into(),
        window: Some("bs-w01".into()),
    };
    let mut config = yichuang::config::Config {
        database_url: db.url.clone(),
        rules_dir: rules.clone(),
        tokens_file: Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tokens.yaml"),
        reload_poll_ms: 0,
        ..Default::default()
    };
    let clock = || std::sync::Arc::new(yichuang::app::ManualClock::at(day(2026, 3, 2)));
    let first = yichuang::app::start(config.clone(), clock()).unwrap();
    let original = first.registry.current().hash.clone();
    let application: Application = serde_json::from_value(marked(dibao_defective())).unwrap();
    let req = Intake {
        subject: CaseSubject::Matter(DIBAO.into()),
        channel: None,
        window: None,
        application,
    };
    let taken = take(&first, &clerk, &req, None).unwrap();
    assert_eq!(taken.case.status, "awaiting_supplement");

    add_marked_refusal(&rules);
    assert_eq!(
        first.reload("admin").outcome,
        yichuang::app::ReloadOutcome::Activated
    );
    drop(first);

    // A new process on the same database, whose rules directory has the new version.
    config.rules_dir = rules;
    let second = yichuang::app::start(config, clock()).unwrap();
    assert_ne!(second.registry.current().hash, original);
    let mut complete = marked(dibao_complete());
    complete["fields"]["has_disabled_member"] = json!(false);
    let sup = Supplement {
        fields: serde_json::from_value(complete["fields"].clone()).unwrap(),
        materials: serde_json::from_value(complete["materials"].clone()).unwrap(),
        commitment_signed: None,
    };
    let done = supplement(&second, &clerk, &taken.case.id, &sup, None).unwrap();
    assert_eq!(done.case.catalog_hash, original);
    assert_eq!(done.case.outcome, "accepted_promised");
}
