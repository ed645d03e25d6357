//! Time replaying 100,000 stored intakes (issue 5's target: under 10 s on this machine).
//!
//! `cargo run --release --example replay_timing [N]` stores N intakes (default 100,000) of the
//! sample catalog's 低保 matter in a fresh SQLite file, then times: reading them back, replaying
//! them under their own catalog version (each must reproduce its stored assessment exactly), and
//! the impact preview under a changed candidate catalog.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use yichuang::app::intake::CaseAssessment;
use yichuang::app::replay::{cases_since, check_replay, impact};
use yichuang::app::{store_catalog_version, CatalogRegistry};
use yichuang::catalog::{Catalog, CatalogSources};
use yichuang::decide::assess;
use yichuang::domain::application::{Application, Channel, IntakeContext};
use yichuang::store::{CaseRow, NewEvent, NewIntake, Store, StoreOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let catalog = Arc::new(Catalog::load_dir(&root.join("rules")).map_err(|e| e.to_string())?);
    let dir = tempfile::tempdir()?;
    let store = Store::open(
        &format!("sqlite://{}/replay.db", dir.path().display()),
        StoreOptions::default(),
    )?;
    store_catalog_version(&store, &catalog, "bench", 0)?;

    // Applications: the 低保 examples, alternating, assessed on working days of March 2026.
    let matter = catalog.matter("QS-MZ-001").ok_or("no QS-MZ-001")?;
    let apps: Vec<Application> = matter
        .spec
        .examples
        .iter()
        .map(|e| e.application.clone())
        .collect();
    let t = Instant::now();
    let threads = 16;
    std::thread::scope(|s| {
        for w in 0..threads {
            let (store, catalog, apps) = (&store, &catalog, &apps);
            s.spawn(move || {
                for i in (w..n).step_by(threads) {
                    let app = &apps[i % apps.len()];
                    let ctx = IntakeContext {
                        today: NaiveDate::from_ymd_opt(2026, 3, 2 + (i % 5) as u32)
                            .unwrap_or_default(),
                        township: Some(["baishui", "qingshi", "dongguan"][i % 3].to_string()),
                        village: None,
                        channel: Channel::Window,
                    };
                    let Ok(a) = assess(catalog, "QS-MZ-001", app, &ctx) else {
                        continue;
                    };
                    let assessment = serde_json::to_string(&CaseAssessment::Matter(a.clone()))
                        .unwrap_or_default();
                    let case = CaseRow {
                        id: format!("BENCH-{i:08}"),
                        matter_code: "QS-MZ-001".into(),
                        bundle_code: None,
                        status: "accepted".into(),
                        outcome: a.outcome.as_str().into(),
                        center_id: ctx.township.clone().unwrap_or_default(),
                        township: ctx.township.clone(),
                        village: None,
                        window_id: None,
                        channel: "window".into(),
                        clerk_id: "bench".into(),
                        agent_id: None,
                        applicant_kind: "natural_person".into(),
                        applicant_name: app.applicant.name.clone(),
                        applicant_id_number: app.applicant.id_number.clone(),
                        catalog_hash: catalog.hash.clone(),
                        application: serde_json::to_string(app).unwrap_or_default(),
                        assessment,
                        due_date: None,
                        received_on: ctx.today.to_string(),
                        created_at: i as i64,
                        updated_at: i as i64,
                        row_version: 1,
                    };
                    let _ = store.commit_intake(NewIntake {
                        case,
                        notices: Vec::new(),
                        events: vec![NewEvent {
                            seal: None,
                            actor: "bench".into(),
                            action: yichuang::domain::handling::EventKind::Intake,
                            catalog_hash: catalog.hash.clone(),
                            detail: "{}".into(),
                        }],
                        idempotency: None,
                        lifecycle: None,
                    });
                }
            });
        }
    });
    println!("stored {n} intakes in {:.1?}", t.elapsed());

    let t = Instant::now();
    let cases = cases_since(
        &store,
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
    )?;
    println!("read {} cases back in {:.2?}", cases.len(), t.elapsed());

    let registry = CatalogRegistry::new(
        Catalog::load_dir(&root.join("rules")).map_err(|e| e.to_string())?,
        0,
    );
    let t = Instant::now();
    let check = check_replay(&registry, &store, &cases, |_| {});
    println!(
        "replayed {} under their own version in {:.2?}: {} identical, {} different",
        check.cases,
        t.elapsed(),
        check.identical,
        check.different.len()
    );

    // A candidate with the 低保 standard lowered to 400 元: some applications would be refused.
    let mut sources = CatalogSources::read_dir(&root.join("rules"))?;
    if let Some(text) = sources.files.get_mut("matters/mz-dibao.yaml") {
        *text = text.replace(">= 900'", ">= 400'");
    }
    let candidate = Catalog::load(sources).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let report = impact(&candidate, &cases, |_| {});
    println!(
        "impact preview of {} cases in {:.2?}: {} outcomes, {} due dates, {} routes would change",
        report.cases,
        t.elapsed(),
        report.outcome,
        report.due,
        report.route
    );
    Ok(())
}
