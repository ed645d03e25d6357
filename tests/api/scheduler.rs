//! The deadline scheduler across restarts and instances: every due transition is applied
//! exactly once — none missed during downtime, none applied twice by a second sweep, a
//! restarted service, a crashed instance's lease or a second instance on the same PostgreSQL.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use yichuang::app::intake;
use yichuang::app::scheduler::{sweep, SweepReport};
use yichuang::app::{App, ManualClock};
use yichuang::config::Config;

use crate::helpers::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn start(url: &str, clock: &Arc<ManualClock>) -> App {
    let config = Config {
        database_url: url.to_string(),
        rules_dir: root().join("rules"),
        tokens_file: root().join("config/tokens.yaml"),
        reload_poll_ms: 0,
        scheduler_poll_ms: 0,
        ..Config::default()
    };
    yichuang::app::start(config, clock.clone()).expect("the service starts")
}

fn take(app: &App, token: &str, matter: &str, application: Value) -> String {
    let user = app.users().authenticate(token).expect("dev token").clone();
    let req = intake::Intake {
        subject: yichuang::domain::case::CaseSubject::Matter(matter.into()),
        channel: None,
        window: None,
        application: serde_json::from_value(application).unwrap(),
    };
    let r = intake::take(app, &user, &req, None).expect("intake");
    assert!(r.assessment.outcome().is_accepted(), "{matter}");
    r.case.id
}

fn count(app: &App, case: &str, action: &str) -> usize {
    app.store
        .events_of_case(case)
        .unwrap()
        .iter()
        .filter(|e| e.action == action)
        .count()
}

fn fired(r: &SweepReport) -> usize {
    r.fired
}

/// Stop the service with deadlines falling due while it is down; a restarted service applies
/// each of them once, in order, and a crashed instance's lease is taken over when it runs out.
fn restart_catches_up_exactly_once(url: &str) {
    let clock = Arc::new(ManualClock::at(day(2026, 3, 2)));
    let (dibao, weisheng, shipin) = {
        let app = start(url, &clock);
        (
            take(&app, CLERK_BAISHUI, "QS-MZ-001", dibao_complete()),
            take(
                &app,
                CLERK_BAISHUI,
                "QS-WS-001",
                example_application("matters/ws-gonggong-changsuo.yaml", 0),
            ),
            take(
                &app,
                CLERK_BAISHUI,
                "QS-SC-004",
                example_application("matters/sc-shipin-jingying.yaml", 0),
            ),
        )
        // The service stops here.
    };
    // Down from 3/2 to 3/13: due meanwhile are the hygiene review's reminder (3/3), the food
    // permit's window review (3/3) and then its inspection (started 3/4, due 3/11), both deemed
    // approved, and the 低保 village review's escalation (due 3/12).
    clock.set_day(day(2026, 3, 13));
    let app = start(url, &clock);
    // An instance that leased the items and died before carrying them out holds them back only
    // until its lease runs out.
    let leased = app
        .store
        .claim_due(
            yichuang::app::Clock::now_ms(&*clock),
            "dead-instance",
            60_000,
            100,
        )
        .unwrap();
    assert_eq!(leased.len(), 3, "{leased:?}");
    assert_eq!(sweep(&app).unwrap().claimed, 0);
    clock.advance_ms(61_000);
    let r = sweep(&app).unwrap();
    assert_eq!(fired(&r), 4, "{r:?}");
    assert_eq!(count(&app, &weisheng, "step_overdue_reminded"), 1);
    assert_eq!(count(&app, &dibao, "step_overdue_escalated"), 1);
    assert_eq!(count(&app, &shipin, "step_deemed_approved"), 2);
    let steps = app.store.handling(&shipin).unwrap().steps;
    let decide = steps.iter().find(|s| s.key == "county_decide").unwrap();
    assert_eq!(
        (
            decide.state,
            decide.started_on.map(|d| d.to_string()),
            decide.due.and_then(|d| d.date).map(|d| d.to_string())
        ),
        (
            yichuang::domain::route::StepState::Active,
            Some("2026-03-12".to_string()),
            Some("2026-03-17".to_string())
        )
    );
    assert_eq!(
        sweep(&app).unwrap().claimed,
        0,
        "a second sweep has nothing to do"
    );
    drop(app);

    // Started again the same day: nothing fires twice.
    let app = start(url, &clock);
    assert_eq!(sweep(&app).unwrap().claimed, 0);
    assert_eq!(count(&app, &shipin, "step_deemed_approved"), 2);
    assert_eq!(count(&app, &weisheng, "step_overdue_reminded"), 1);
}

#[test]
fn restart_catches_up_exactly_once_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    restart_catches_up_exactly_once(&format!("sqlite://{}/yc.db", dir.path().display()));
}

#[test]
fn restart_catches_up_exactly_once_postgres() {
    let db = PgDb::new("yc_sched");
    restart_catches_up_exactly_once(&db.url);
}

/// Two instances on one PostgreSQL database sweep at the same moment: every due transition is
/// applied once in all.
#[test]
fn two_instances_never_apply_a_transition_twice() {
    let db = PgDb::new("yc_sched2");
    let clock = Arc::new(ManualClock::at(day(2026, 3, 2)));
    let a = Arc::new(start(&db.url, &clock));
    let b = Arc::new(start(&db.url, &clock));
    let application = example_application("matters/ws-gonggong-changsuo.yaml", 0);
    let cases: Vec<String> = (0..40)
        .map(|i| {
            let app = if i % 2 == 0 { &a } else { &b };
            take(app, CLERK_BAISHUI, "QS-WS-001", application.clone())
        })
        .collect();
    clock.set_day(day(2026, 3, 4)); // every window review (due 3/3) is overdue: remind
    let runs: Vec<_> = [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .map(|app| std::thread::spawn(move || sweep(&app).unwrap()))
        .collect();
    let reports: Vec<SweepReport> = runs.into_iter().map(|h| h.join().unwrap()).collect();
    let total: usize = reports.iter().map(fired).sum();
    assert_eq!(total, 40, "{reports:?}");
    for c in &cases {
        assert_eq!(count(&a, c, "step_overdue_reminded"), 1, "{c}");
    }
    assert_eq!(sweep(&a).unwrap().claimed + sweep(&b).unwrap().claimed, 0);
}
