//! Hostile rule scripts over HTTP (tests/fixtures/hostile/): a pre-check that triggers one
//! answers 422 `rule_script_failed` naming the matter, file, line and rule while ordinary requests
//! go on; a reload or a start whose examples trigger them is refused. SQLite only: nothing here
//! depends on the database.

use std::sync::Arc;

use serde_json::{json, Value};
use yichuang::app::{ManualClock, StartError};
use yichuang::config::Config;

use crate::common::hostile::{
    hostile_cases, hostile_matter, write_hostile_rules, HostileCase, Stage, DORMANT, TRIGGER,
};
use crate::helpers::*;

fn application(case: &HostileCase, note: &str) -> Value {
    let doc: Value = serde_yaml::from_str(&hostile_matter(case, note)).unwrap();
    doc["examples"][0]["application"].clone()
}

#[actix_web::test]
async fn hostile_scripts_answer_422_naming_the_rule_and_never_go_live() {
    let cases: Vec<HostileCase> = hostile_cases()
        .into_iter()
        .filter(|c| c.stage == Stage::Run)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    // Dormant: the examples do not trigger the scripts, so the catalog passes the gate.
    write_hostile_rules(&rules, &cases, DORMANT);
    let app = spawn_app_with(Backend::Sqlite, rules.clone(), 0).await;
    let hash = app.get("/api/v1/catalog", Some(ADMIN)).await.body["hash"].clone();

    for c in &cases {
        let body = json!({ "matter": c.code, "application": application(c, TRIGGER) });
        let r = app
            .post_json("/api/v1/assessments", Some(CLERK_BAISHUI), &body, &[])
            .await;
        r.assert_error(422, "rule_script_failed");
        let d = &r.body["details"];
        assert_eq!(d["matter"], c.code.as_str(), "{}", r.text);
        assert_eq!(d["file"], c.file().as_str(), "{}", r.text);
        assert_eq!(d["script"], c.at.path(), "{}", r.text);
        assert!(d["line"].as_u64().is_some_and(|l| l > 1), "{}", r.text);
        assert!(
            r.body["message"].as_str().unwrap().contains(&c.error),
            "{}",
            r.text
        );
        // The same matter without the trigger is decided.
        let body = json!({ "matter": c.code, "application": application(c, DORMANT) });
        let r = app
            .post_json("/api/v1/assessments", Some(CLERK_BAISHUI), &body, &[])
            .await;
        assert_eq!(r.status, 200, "{}: {}", c.id, r.text);
        assert_eq!(r.body["outcome"], "accepted_immediate", "{}", r.text);
    }
    let r = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    assert_eq!(r.status, 201, "{}", r.text);

    // Examples that trigger the scripts: the reload is refused, naming every hostile matter.
    for c in &cases {
        std::fs::write(rules.join(c.file()), hostile_matter(c, TRIGGER)).unwrap();
    }
    let r = app
        .post_json("/api/v1/catalog/reload", Some(ADMIN), &json!({}), &[])
        .await;
    r.assert_error(422, "catalog_rejected");
    let errors = r.body["details"]["errors"].to_string();
    for c in &cases {
        assert!(
            errors.contains(&format!("[{}]", c.code)),
            "{}: {errors}",
            c.id
        );
    }
    let now = app.get("/api/v1/catalog", Some(ADMIN)).await;
    assert_eq!(now.body["hash"], hash, "the hostile catalog went live");

    // Nor does a service start on it.
    let db = tempfile::tempdir().unwrap();
    let config = Config {
        database_url: format!("sqlite://{}/yc.db", db.path().display()),
        rules_dir: rules,
        tokens_file: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tokens.yaml"),
        ..Config::default()
    };
    match yichuang::app::start(config, Arc::new(ManualClock::at(day(2026, 3, 2)))) {
        Err(StartError::Catalog(why)) => {
            for c in &cases {
                assert!(why.contains(&format!("[{}]", c.code)), "{}: {why}", c.id);
            }
        }
        Err(e) => panic!("unexpected start error: {e}"),
        Ok(_) => panic!("the service started on a catalog whose examples run hostile scripts"),
    }
}
