//! The case after intake as pure transitions: `domain::handling::{open, apply}` on the sample
//! catalog, with no database and no HTTP. Each test opens a real intake's case and carries
//! commands out on the value, as the app does before it commits.

use std::path::Path;

use chrono::NaiveDate;
use yichuang::catalog::Catalog;
use yichuang::decide::assess;
use yichuang::domain::application::{Channel, IntakeContext};
use yichuang::domain::assessment::Outcome;
use yichuang::domain::case::{
    ApplicantRecord, Case, CaseAssessment, CaseId, CasePlace, CaseStatus, CaseSubject,
};
use yichuang::domain::deadline::WorkingDays;
use yichuang::domain::handling::{
    apply, open, Actor, Command, Context, DueKind, Effects, Handling, PartStatus, Rules,
    StepCommand,
};
use yichuang::domain::matter::{SpecialProcedureKind, SubjectKind};
use yichuang::domain::notice::NoticeKind;
use yichuang::domain::route::{Decision, StepState};
use yichuang::error_code::ErrorCode;

const DIBAO: &str = "QS-MZ-001";

fn catalog() -> Catalog {
    Catalog::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"))
        .unwrap_or_else(|e| panic!("sample catalog: {e:?}"))
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// The case of the matter's first example, taken at its township on its day.
fn case_of(catalog: &Catalog, code: &str) -> Case {
    example_case(catalog, code, 0, Outcome::AcceptedPromised)
}

/// The case of the matter's example `index`, answered with `outcome`.
fn example_case(catalog: &Catalog, code: &str, index: usize, outcome: Outcome) -> Case {
    let m = catalog.matter(code).unwrap();
    let ex = &m.spec.examples[index];
    let ctx = IntakeContext {
        today: ex.today,
        township: ex.township.clone(),
        village: None,
        channel: Channel::Window,
    };
    let a = assess(catalog, code, &ex.application, &ctx).unwrap();
    assert_eq!(a.outcome, outcome, "{}", ex.name);
    Case {
        id: CaseId("QINGSHAN-TEST-1".into()),
        subject: CaseSubject::Matter(code.into()),
        status: if outcome == Outcome::SupplementNeeded {
            CaseStatus::AwaitingSupplement
        } else {
            CaseStatus::Accepted
        },
        outcome: a.outcome,
        place: CasePlace {
            center_id: ex.township.clone().unwrap_or_default(),
            township: ex.township.clone(),
            village: None,
            window_id: None,
            channel: Channel::Window,
            clerk_id: "clerk".into(),
            agent_id: None,
        },
        applicant: ApplicantRecord {
            kind: SubjectKind::NaturalPerson,
            name: "李秀英".into(),
            id_number: None,
        },
        catalog_hash: catalog.hash.clone(),
        application: ex.application.clone(),
        assessment: CaseAssessment::Matter(a),
        due_date: None,
        received_on: ex.today,
        created_at_ms: 0,
        updated_at_ms: 0,
        version: 1,
    }
}

/// A case opened on the catalog, and the commands carried out on it day by day.
struct World {
    catalog: Catalog,
    case: Case,
    handling: Handling,
}

impl World {
    fn new(code: &str) -> Self {
        let catalog = catalog();
        let case = case_of(&catalog, code);
        World::opened(catalog, case).0
    }

    /// `case` opened on `catalog` on the day it was received, and what opening it did.
    fn opened(catalog: Catalog, case: Case) -> (World, Effects) {
        let mut w = World {
            catalog,
            case,
            handling: Handling::default(),
        };
        let today = w.case.received_on;
        let fx = w
            .with(today, |case, h, ctx| Ok(open(case, h, ctx)))
            .unwrap();
        fx.apply_to(&mut w.handling);
        (w, fx)
    }

    fn with(
        &self,
        today: NaiveDate,
        f: impl FnOnce(
            &Case,
            &Handling,
            &Context,
        ) -> Result<Effects, yichuang::domain::handling::Rejection>,
    ) -> Result<Effects, yichuang::domain::handling::Rejection> {
        let region = self
            .catalog
            .calendar_region(self.case.place.township.as_deref());
        let ctx = Context {
            today,
            days: WorkingDays::new(&self.catalog.calendar, region.as_deref(), 80),
            rules: Rules {
                org: &self.catalog.org,
                matters: vec![&self.catalog.matter(self.case.subject.code()).unwrap().spec],
                supplement_days: self.catalog.manifest.supplement_days,
            },
            followup_days: 5,
        };
        f(&self.case, &self.handling, &ctx)
    }

    /// Carry out `command` as `unit` on `today`; the handling moves on when it is accepted.
    fn run(
        &mut self,
        today: &str,
        unit: Option<&str>,
        command: Command,
    ) -> Result<Effects, yichuang::domain::handling::Rejection> {
        let actor = Actor {
            user: "someone".into(),
            unit: unit.map(|u| u.parse().unwrap()),
        };
        let fx = self.with(day(today), |case, h, ctx| {
            apply(case, h, &actor, &command, ctx)
        })?;
        fx.apply_to(&mut self.handling);
        if let Some(s) = fx.status {
            self.case.status = s;
        }
        self.case.version += 1;
        Ok(fx)
    }

    fn active(&self) -> Vec<(String, String)> {
        self.handling
            .steps
            .iter()
            .filter(|s| s.state == StepState::Active)
            .map(|s| (s.id.clone(), s.unit.to_string()))
            .collect()
    }

    fn approve_active(&mut self, today: &str) -> Effects {
        let mut last = Effects::default();
        for (id, unit) in self.active() {
            last = self
                .run(
                    today,
                    Some(&unit),
                    Command::Step {
                        step: id,
                        action: StepCommand::Approve {
                            comment: Some("同意".into()),
                        },
                    },
                )
                .unwrap();
        }
        last
    }
}

#[test]
fn opening_an_accepted_case_starts_the_first_group_and_schedules_its_deadlines() {
    let catalog = catalog();
    let case = case_of(&catalog, DIBAO);
    let (w, fx) = World::opened(catalog, case);
    let part = &w.handling.parts[0];
    assert_eq!(part.status, PartStatus::InProgress);
    assert_eq!(part.accepted_on, Some(day("2026-03-02")));
    assert_eq!(part.due.and_then(|d| d.date), Some(day("2026-03-30")));
    assert_eq!(w.active().len(), 1, "{:?}", w.handling.steps);
    assert!(w
        .handling
        .steps
        .iter()
        .skip(1)
        .all(|s| s.state == StepState::Pending));
    let kinds: Vec<DueKind> = fx.schedule.iter().map(|d| d.kind).collect();
    assert!(kinds.contains(&DueKind::StepTimeout), "{kinds:?}");
    assert!(kinds.contains(&DueKind::PartTimeout), "{kinds:?}");
}

#[test]
fn approving_every_step_decides_the_matter_with_its_notice() {
    let mut w = World::new(DIBAO);
    let mut days = ["2026-03-04", "2026-03-06", "2026-03-09", "2026-03-10"].iter();
    let mut fx = Effects::default();
    while !w.active().is_empty() {
        fx = w.approve_active(days.next().unwrap());
    }
    let part = &w.handling.parts[0];
    let decision = part.decision.unwrap();
    assert_eq!(decision.decision, Decision::Approved);
    assert!(decision.on_time);
    assert_eq!(part.status, PartStatus::Decided);
    assert!(part.delivery_due.is_some(), "Art. 44 delivery limit");
    assert_eq!(w.case.status, CaseStatus::Decided);
    assert_eq!(
        fx.notices.iter().map(|n| n.kind).collect::<Vec<_>>(),
        [NoticeKind::Approval]
    );
    // Its timeouts are void once decided.
    assert!(!fx.cancel.is_empty());
    // The step's record names when it started (the provincial exchange's 办理环节 开始时间).
    let approved = fx
        .events
        .iter()
        .find(|e| e.kind == yichuang::domain::handling::EventKind::StepApproved)
        .unwrap();
    let step = &approved.detail["step"];
    let started = w
        .handling
        .steps
        .iter()
        .find(|s| s.id == *step)
        .and_then(|s| s.started_on)
        .unwrap();
    assert_eq!(approved.detail["started_on"], started.to_string());
}

#[test]
fn a_deciding_refusal_decides_at_once_and_ends_the_other_steps() {
    let mut w = World::new(DIBAO);
    let (id, unit) = w.active()[0].clone();
    let fx = w
        .run(
            "2026-03-04",
            Some(&unit),
            Command::Step {
                step: id,
                action: StepCommand::Refuse {
                    reason: "家庭人均收入高于当地低保标准".into(),
                    basis: "《社会救助暂行办法》第九条".into(),
                    comment: None,
                },
            },
        )
        .unwrap();
    let part = &w.handling.parts[0];
    assert_eq!(
        part.decision.map(|d| d.decision),
        Some(Decision::Disapproved)
    );
    assert!(w.handling.steps.iter().all(|s| !s.state.is_live()));
    let notice = &fx.notices[0];
    assert_eq!(notice.kind, NoticeKind::Disapproval);
    assert!(notice
        .items
        .iter()
        .any(|i| i.basis.as_deref() == Some("《社会救助暂行办法》第九条")));
}

#[test]
fn only_the_steps_unit_acts_and_a_done_step_is_a_conflict() {
    let mut w = World::new(DIBAO);
    let (id, unit) = w.active()[0].clone();
    let approve = || Command::Step {
        step: id.clone(),
        action: StepCommand::Approve { comment: None },
    };
    let e = w
        .run("2026-03-04", Some("qingshan/civil-affairs"), approve())
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden, "{e}");
    w.run("2026-03-04", Some(&unit), approve()).unwrap();
    let e = w.run("2026-03-05", Some(&unit), approve()).unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict, "{e}");
    // A refusal needs its reason and basis.
    let (next, next_unit) = w.active()[0].clone();
    let e = w
        .run(
            "2026-03-05",
            Some(&next_unit),
            Command::Step {
                step: next,
                action: StepCommand::Refuse {
                    reason: " ".into(),
                    basis: String::new(),
                    comment: None,
                },
            },
        )
        .unwrap_err();
    assert_eq!(e.code.status(), 422, "{e}");
}

#[test]
fn a_pause_moves_the_deadlines_by_the_working_days_it_took() {
    let mut w = World::new(DIBAO);
    let (_, unit) = w.active()[0].clone();
    let due_before = w.handling.parts[0].due.unwrap();
    let kind = w
        .catalog
        .matter(DIBAO)
        .unwrap()
        .spec
        .handling
        .special_procedures
        .first()
        .copied()
        .unwrap_or(SpecialProcedureKind::Appraisal);
    let fx = w
        .run(
            "2026-03-04",
            Some(&unit),
            Command::Pause {
                kind,
                reason: "家庭经济状况核对".into(),
                expected_end: day("2026-03-10"),
            },
        )
        .unwrap();
    assert_eq!(fx.notices[0].kind, NoticeKind::SpecialProcedure);
    assert_eq!(w.handling.parts[0].status, PartStatus::Paused);
    assert_eq!(w.case.status, CaseStatus::Paused);
    // Nothing moves while paused.
    let (id, _) = w.active()[0].clone();
    let e = w
        .run(
            "2026-03-05",
            Some(&unit),
            Command::Step {
                step: id,
                action: StepCommand::Approve { comment: None },
            },
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    // Resumed on Monday 3/9: 3/4, 3/5, 3/6 were paused (from the day it started).
    w.run("2026-03-09", Some(&unit), Command::Resume).unwrap();
    let part = &w.handling.parts[0];
    assert_eq!(part.status, PartStatus::InProgress);
    let paused = part.paused_days;
    assert!(paused >= 3, "{paused}");
    assert_eq!(
        part.due.unwrap().working_days,
        due_before.working_days + paused
    );
    assert!(part.due.unwrap().date > due_before.date);
}

#[test]
fn the_scheduler_fires_a_step_timeout_by_the_matters_policy() {
    let mut w = World::new(DIBAO);
    let step = w
        .handling
        .steps
        .iter()
        .find(|s| s.state == StepState::Active)
        .unwrap()
        .clone();
    let due = step.due.and_then(|d| d.date).unwrap();
    let item = yichuang::domain::handling::DueItem {
        kind: DueKind::StepTimeout,
        track: Some(step.track.clone()),
        step_id: Some(step.id.clone()),
        due_on: due,
    };
    let after = (due + chrono::Days::new(1)).to_string();
    let fx = w.run(&after, None, Command::Fire(item)).unwrap();
    // 低保 escalates an overrun step to the supervisor.
    assert!(!fx.events.is_empty(), "{fx:?}");
    let fired = w.handling.steps.iter().find(|s| s.id == step.id).unwrap();
    assert!(fired.escalated, "{fired:?}");
}

#[test]
fn a_withdrawal_ends_the_open_matters_with_a_notice() {
    let mut w = World::new(DIBAO);
    let (step, unit) = w.active()[0].clone();
    let e = w
        .run(
            "2026-03-04",
            None,
            Command::Withdraw {
                reason: "  ".into(),
            },
        )
        .unwrap_err();
    assert_eq!(e.code.status(), 422, "a reason is required: {e}");
    let fx = w
        .run(
            "2026-03-04",
            None,
            Command::Withdraw {
                reason: "申请人家庭情况变化，申请撤回".into(),
            },
        )
        .unwrap();
    assert_eq!(w.handling.parts[0].status, PartStatus::Withdrawn);
    assert_eq!(w.case.status, CaseStatus::Withdrawn);
    assert!(w.handling.steps.iter().all(|s| !s.state.is_live()));
    assert_eq!(fx.notices.len(), 1);
    assert_eq!(fx.notices[0].kind, NoticeKind::Withdrawal);
    // Every timeout of the case is void.
    assert!(fx
        .cancel
        .iter()
        .any(|c| matches!(c, yichuang::domain::handling::Cancel::Step(id) if *id == step)));
    // Nothing happens to it any more.
    let again = w
        .run(
            "2026-03-05",
            None,
            Command::Withdraw {
                reason: "再次撤回".into(),
            },
        )
        .unwrap_err();
    assert_eq!(again.code, ErrorCode::Conflict);
    let act = w
        .run(
            "2026-03-05",
            Some(&unit),
            Command::Step {
                step,
                action: StepCommand::Approve { comment: None },
            },
        )
        .unwrap_err();
    assert_eq!(act.code, ErrorCode::Conflict);
}

#[test]
fn a_one_time_notice_lapses_after_its_working_days_with_a_notice() {
    let catalog = catalog();
    let case = example_case(&catalog, DIBAO, 1, Outcome::SupplementNeeded);
    let (mut w, fx) = World::opened(catalog, case);
    let part = &w.handling.parts[0];
    assert_eq!(part.status, PartStatus::AwaitingSupplement);
    let due = part.supplement_due.unwrap();
    assert_eq!(due.working_days, w.catalog.manifest.supplement_days);
    let by = due.date.unwrap();
    let item = fx
        .schedule
        .iter()
        .find(|d| d.kind == DueKind::SupplementLapse)
        .unwrap()
        .clone();
    assert_eq!(item.due_on, by);
    // An item of an earlier notice does nothing.
    let stale = yichuang::domain::handling::DueItem {
        due_on: by - chrono::Days::new(1),
        ..item.clone()
    };
    let none = w.run(&by.to_string(), None, Command::Fire(stale)).unwrap();
    assert!(none.notices.is_empty() && none.parts.is_empty(), "{none:?}");
    let after = (by + chrono::Days::new(1)).to_string();
    let fx = w.run(&after, None, Command::Fire(item)).unwrap();
    assert_eq!(w.handling.parts[0].status, PartStatus::Lapsed);
    assert_eq!(w.case.status, CaseStatus::Lapsed);
    assert_eq!(fx.notices[0].kind, NoticeKind::Lapse);
}

// ---------------------------------------------------------------- every command in every state

/// Where a case stands when a command comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Accepted; its first step active at the township's center.
    Running,
    /// The holder started a 特别程序.
    Paused,
    /// Every step approved: decided, the result not yet handed over.
    Decided,
    /// The result handed over at the window.
    Delivered,
    /// Delivered and rated.
    Rated,
    /// Withdrawn before the decision.
    Withdrawn,
}

/// What the test sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Try {
    /// Approve the first step as the unit that holds it.
    Approve,
    /// Approve the first step as a unit that never held it.
    ApproveAsOutsider,
    Pause,
    Resume,
    Extend,
    Deliver,
    Rate,
    Withdraw,
}

/// The DIBAO case brought to `at` on working days of March 2026; the first step's id and unit.
fn case_at(at: At) -> (World, String, String) {
    let mut w = World::new(DIBAO);
    let (first, holder) = w.active()[0].clone();
    let pause = Command::Pause {
        kind: SpecialProcedureKind::Appraisal,
        reason: "家庭经济状况核对".into(),
        expected_end: day("2026-03-10"),
    };
    let deliver = Command::Deliver {
        track: None,
        method: yichuang::domain::handling::Delivery::WindowPickup {
            originals_checked: true,
            window: None,
            receiver: None,
        },
    };
    let center = Some("baishui/center");
    match at {
        At::Running => {}
        At::Paused => {
            w.run("2026-03-04", Some(&holder), pause).unwrap();
        }
        At::Decided | At::Delivered | At::Rated => {
            for d in ["2026-03-04", "2026-03-05", "2026-03-06", "2026-03-09"] {
                w.approve_active(d);
            }
            assert_eq!(w.handling.parts[0].status, PartStatus::Decided);
            if at != At::Decided {
                w.run("2026-03-10", center, deliver).unwrap();
            }
            if at == At::Rated {
                w.run("2026-03-10", center, rate()).unwrap();
            }
        }
        At::Withdrawn => {
            let reason = "申请人申请撤回".into();
            w.run("2026-03-04", None, Command::Withdraw { reason })
                .unwrap();
        }
    }
    (w, first, holder)
}

fn rate() -> Command {
    Command::Rate {
        subject: yichuang::domain::handling::RatingSubject::Case,
        level: 5,
        comment: None,
    }
}

/// Each command tried in one state, and its answer: `None` carried out, else the refusal's code.
type Row = [(Try, Option<ErrorCode>); 8];

/// Each command in each state, as the unit it would come from: carried out (`Ok`) or refused
/// with its code — refusals for a wrong state, a wrong unit, while paused, and twice.
#[test]
fn every_command_in_every_state() {
    use ErrorCode::{Conflict, Forbidden};
    use Try::*;
    const OK: Option<ErrorCode> = None;
    #[rustfmt::skip]
    let table: &[(At, Row)] = &[
        (At::Running, [(Approve, OK), (ApproveAsOutsider, Some(Forbidden)), (Pause, OK),
            (Resume, Some(Conflict)), (Extend, OK), (Deliver, Some(Conflict)),
            (Rate, Some(Conflict)), (Withdraw, OK)]),
        (At::Paused, [(Approve, Some(Conflict)), (ApproveAsOutsider, Some(Forbidden)),
            (Pause, Some(Conflict)), (Resume, OK), (Extend, Some(Conflict)),
            (Deliver, Some(Conflict)), (Rate, Some(Conflict)), (Withdraw, OK)]),
        (At::Decided, [(Approve, Some(Conflict)), (ApproveAsOutsider, Some(Forbidden)),
            (Pause, Some(Conflict)), (Resume, Some(Conflict)), (Extend, Some(Conflict)),
            (Deliver, OK), (Rate, OK), (Withdraw, Some(Conflict))]),
        (At::Delivered, [(Approve, Some(Conflict)), (ApproveAsOutsider, Some(Forbidden)),
            (Pause, Some(Conflict)), (Resume, Some(Conflict)), (Extend, Some(Conflict)),
            (Deliver, Some(Conflict)), (Rate, OK), (Withdraw, Some(Conflict))]),
        (At::Rated, [(Approve, Some(Conflict)), (ApproveAsOutsider, Some(Forbidden)),
            (Pause, Some(Conflict)), (Resume, Some(Conflict)), (Extend, Some(Conflict)),
            (Deliver, Some(Conflict)), (Rate, Some(Conflict)), (Withdraw, Some(Conflict))]),
        (At::Withdrawn, [(Approve, Some(Conflict)), (ApproveAsOutsider, Some(Forbidden)),
            (Pause, Some(Conflict)), (Resume, Some(Conflict)), (Extend, Some(Conflict)),
            (Deliver, Some(Conflict)), (Rate, OK), (Withdraw, Some(Conflict))]),
    ];
    let mut wrong = Vec::new();
    for (at, row) in table {
        for (what, expected) in row {
            let (mut w, first, holder) = case_at(*at);
            let status_before = w.case.status;
            let center = "baishui/center";
            let (unit, command) = match what {
                Approve | ApproveAsOutsider => (
                    if *what == Approve {
                        holder.as_str()
                    } else {
                        "qingshan/health"
                    },
                    Command::Step {
                        step: first.clone(),
                        action: StepCommand::Approve { comment: None },
                    },
                ),
                Pause => (
                    holder.as_str(),
                    Command::Pause {
                        kind: SpecialProcedureKind::Appraisal,
                        reason: "再次核对".into(),
                        expected_end: day("2026-03-20"),
                    },
                ),
                Resume => (holder.as_str(), Command::Resume),
                Extend => (
                    holder.as_str(),
                    Command::Extend {
                        approved_by: "县民政局局长".into(),
                        reason: "需入户调查".into(),
                    },
                ),
                Deliver => (
                    center,
                    Command::Deliver {
                        track: None,
                        method: yichuang::domain::handling::Delivery::WindowPickup {
                            originals_checked: true,
                            window: None,
                            receiver: None,
                        },
                    },
                ),
                Rate => (center, rate()),
                Withdraw => (
                    center,
                    Command::Withdraw {
                        reason: "不再申请".into(),
                    },
                ),
            };
            let got = w.run("2026-03-11", Some(unit), command);
            let code = got.as_ref().err().map(|e| e.code);
            if code != *expected {
                wrong.push(format!(
                    "{at:?} × {what:?}: expected {expected:?}, got {:?}",
                    got.map(|_| ()).map_err(|e| format!("{:?} {e}", e.code))
                ));
            }
            // A refusal changes nothing.
            if code.is_some() {
                assert_eq!(w.case.status, status_before, "{at:?} × {what:?}");
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
