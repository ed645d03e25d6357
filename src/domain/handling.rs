//! The case after the first answer, as pure functions: `(case, handling, command, context) →
//! effects or a rejection`, the way [`crate::decide`] is for the intake. Nothing here reads a
//! clock, a database or a catalog file: the application layer loads the case, calls [`apply`],
//! and commits the [`Effects`] in one transaction.
//!
//! A case has one [`Part`] per matter (one for a single matter; one per matter of a bundle, 一件事
//! 一次办: one intake, but each matter is its own decision with its own steps, deadline, result
//! and delivery). Each accepted part has its route's [`Step`]s (its track).

use std::collections::BTreeSet;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::application::PresentedMaterial;
use super::assessment::{Assessment, Outcome};
use super::case::{Case, CaseStatus};
use super::deadline::{Colour, Deadline, WorkingDays};
use super::matter::{
    DeferredLapse, DeliveryMethod, Level, Matter, SpecialProcedureKind, StepRole, TimeoutPolicy,
};
use super::notice::{self, NoticeDraft, NoticeKind};
use super::org::Organisation;
use super::route::{activate_next, track_decision, Decision, Step, StepAct, StepState};
use super::unit::UnitId;
use crate::error_code::ErrorCode;

/// Art. 44: the certificate is delivered within 10 (working) days of the decision.
pub const DELIVERY_DAYS: u32 = 10;

/// Longest text of an opinion, reason, basis or note.
const MAX_TEXT: usize = 2000;

// ---------------------------------------------------------------- parts

/// Where one matter of a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartStatus {
    /// 一次性告知 issued; waiting for the applicant's 补正.
    AwaitingSupplement,
    /// 不予受理 at intake.
    Refused,
    /// Accepted, its route running.
    InProgress,
    /// In a 特别程序: its clock stands still.
    Paused,
    /// Decided (准予、不予、超时默认).
    Decided,
    /// Ended without a decision (容缺 materials not supplied in time).
    Terminated,
    /// 撤回 by the applicant.
    Withdrawn,
    /// 逾期未补正.
    Lapsed,
}

impl PartStatus {
    /// Accepted and not yet decided.
    pub fn is_open(self) -> bool {
        matches!(self, Self::InProgress | Self::Paused)
    }

    /// Not yet ended: accepted and undecided, or waiting for 补正.
    pub fn is_unfinished(self) -> bool {
        self.is_open() || self == Self::AwaitingSupplement
    }
}

/// A running 特别程序 (Art. 45).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Pause {
    pub kind: SpecialProcedureKind,
    pub reason: String,
    pub started_on: NaiveDate,
    pub expected_end: NaiveDate,
    pub by: String,
}

/// The decision of a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DecisionRecord {
    pub decision: Decision,
    pub on: NaiveDate,
    /// Decided no later than the promised date (after pauses and extensions).
    pub on_time: bool,
    /// Working days from acceptance to decision, paused days excluded.
    pub working_days_used: u32,
}

/// How a result reached the applicant (统一窗口出件).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Delivery {
    /// 窗口领取: the originals were checked against the copies (原件核验).
    WindowPickup {
        originals_checked: bool,
        #[serde(default)]
        window: Option<String>,
        #[serde(default)]
        receiver: Option<String>,
    },
    /// 邮寄送达.
    Mail {
        carrier: String,
        tracking_number: String,
    },
    /// 代办员带回: the village agent who submitted the case hands it over.
    ViaAgent {
        #[serde(default)]
        receiver: Option<String>,
    },
    /// 电子证照: issued to the applicant's electronic licence wallet.
    Electronic {
        #[serde(default)]
        reference: Option<String>,
    },
}

impl Delivery {
    /// The catalog's delivery option this method falls under (an agent picks up at the window).
    pub fn option(&self) -> DeliveryMethod {
        match self {
            Self::WindowPickup { .. } | Self::ViaAgent { .. } => DeliveryMethod::WindowPickup,
            Self::Mail { .. } => DeliveryMethod::Mail,
            Self::Electronic { .. } => DeliveryMethod::Electronic,
        }
    }
}

/// A result handed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryRecord {
    #[serde(flatten)]
    pub method: Delivery,
    pub by: String,
    pub on: NaiveDate,
    /// Within the Art. 44 limit.
    pub within_limit: bool,
}

/// One matter of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Part {
    /// The matter code (the track of its steps).
    pub track: String,
    pub status: PartStatus,
    /// The deciding unit (after per-township devolution).
    pub decider: UnitId,
    pub decider_level: Level,
    /// 即办件: decided at the window at intake.
    pub immediate: bool,
    /// One-time notices (一次性告知书) this matter was named in.
    pub supplement_notices: u32,
    pub accepted_on: Option<NaiveDate>,
    /// 承诺办结期限, moved by pauses and extensions.
    pub due: Option<Deadline>,
    /// 法定办结期限, moved the same way.
    pub statutory: Option<Deadline>,
    /// Yellow (预警) from this deadline.
    pub warn: Option<Deadline>,
    pub pause: Option<Pause>,
    pub paused_days: u32,
    pub extensions: u32,
    /// A timeout escalated it to the supervisor.
    pub escalated: bool,
    pub decision: Option<DecisionRecord>,
    /// Art. 44 delivery limit of a result.
    pub delivery_due: Option<Deadline>,
    pub delivery: Option<DeliveryRecord>,
    /// While awaiting 补正: the day the one-time notice lapses (逾期未补正).
    #[serde(default)]
    pub supplement_due: Option<Deadline>,
}

impl Part {
    /// Decided with a result to hand over.
    pub fn has_result(&self) -> bool {
        self.decision.is_some_and(|d| d.decision.has_result())
    }

    /// The colour of an open part's deadline today.
    pub fn colour(&self, today: NaiveDate) -> Option<Colour> {
        (self.status == PartStatus::InProgress)
            .then(|| Colour::of(today, self.warn.as_ref(), self.due.as_ref()))
    }
}

// ---------------------------------------------------------------- ratings

/// What a rating is about: the case as a whole (一事一评), or one service the applicant received
/// (一次一评: a notice, a handed-over result).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case", tag = "of", content = "id")]
pub enum RatingSubject {
    Case,
    /// A notice, by its id.
    Notice(String),
    /// The delivery of a matter's result, by the matter's code.
    Delivery(String),
}

/// The follow-up of a 差评 (整改、回访).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Followup {
    pub due: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    pub closed_by: Option<String>,
    /// What was done (整改情况).
    pub note: Option<String>,
    /// The applicant's answer when called back (回访).
    pub callback: Option<String>,
}

/// 好差评: five levels, 5 = 非常满意 … 1 = 非常不满意; 1 and 2 are 差评.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Rating {
    pub subject: RatingSubject,
    pub level: u8,
    pub comment: Option<String>,
    pub on: NaiveDate,
    pub by: String,
    pub followup: Option<Followup>,
}

impl Rating {
    pub fn is_bad(&self) -> bool {
        self.level <= 2
    }
}

/// The label of a rating level.
pub fn rating_label(level: u8) -> &'static str {
    match level {
        5 => "非常满意",
        4 => "满意",
        3 => "基本满意",
        2 => "不满意",
        _ => "非常不满意",
    }
}

// ---------------------------------------------------------------- the working set

/// Everything after the first answer: the parts, the route's steps and the ratings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handling {
    pub parts: Vec<Part>,
    pub steps: Vec<Step>,
    pub ratings: Vec<Rating>,
}

impl Handling {
    /// Units that hold or held a started step (after transfers and countersigns too): the
    /// units the case has reached. A step not started yet does not open the case to its unit.
    pub fn units_reached(&self) -> BTreeSet<&UnitId> {
        self.steps
            .iter()
            .filter(|s| s.started_on.is_some())
            .map(|s| &s.unit)
            .collect()
    }
}

/// Why a case is not finished yet (see [`finished`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfinished {
    /// Its status is not final: waiting for 补正, accepted and running, or paused.
    Open(CaseStatus),
    /// A matter's result (by the matter's code) has not been handed over yet.
    Undelivered(String),
    /// A 差评's follow-up (整改、回访) is not closed.
    FollowupOpen(RatingSubject),
}

impl std::fmt::Display for Unfinished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Open(s) => write!(f, "not ended ({})", s.label()),
            Self::Undelivered(track) => write!(f, "the result of {track} is not handed over"),
            Self::FollowupOpen(subject) => write!(f, "a 差评 follow-up is open ({subject:?})"),
        }
    }
}

/// A case is finished when nothing more is to happen to it: its status is final, no matter is
/// open, every result has been handed over and every 差评 followed up. Only a finished case may
/// leave the database for the archive (`yichuang archive`); the store also requires that no
/// due item of it is pending.
pub fn finished(status: CaseStatus, handling: &Handling) -> std::result::Result<(), Unfinished> {
    if !status.is_final() || handling.parts.iter().any(|p| p.status.is_open()) {
        return Err(Unfinished::Open(status));
    }
    if let Some(p) = handling
        .parts
        .iter()
        .find(|p| p.has_result() && p.delivery.is_none())
    {
        return Err(Unfinished::Undelivered(p.track.clone()));
    }
    if let Some(r) = handling
        .ratings
        .iter()
        .find(|r| r.followup.as_ref().is_some_and(|f| f.closed_on.is_none()))
    {
        return Err(Unfinished::FollowupOpen(r.subject.clone()));
    }
    Ok(())
}

// ---------------------------------------------------------------- what a change does

/// What the scheduler does at a due item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DueKind {
    /// A step's time ran out: its policy (remind, escalate, deem approved).
    StepTimeout,
    /// A matter's promised time ran out: the matter's policy.
    PartTimeout,
    /// 容缺 materials were not supplied by their date.
    DeferredLapse,
    /// A one-time notice was not answered by its date (逾期未补正).
    SupplementLapse,
}

/// Something the scheduler must do after a day has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueItem {
    pub kind: DueKind,
    /// The matter (for part timeouts and 容缺 lapses).
    pub track: Option<String>,
    /// The step (for step timeouts).
    pub step_id: Option<String>,
    /// Fires at 00:00 China time on the day after.
    pub due_on: NaiveDate,
}

/// Due items a change makes void.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancel {
    /// The step timeouts of a step.
    Step(String),
    /// Items of these kinds of one matter.
    Part { track: String, kinds: Vec<DueKind> },
}

/// The kind of an entry of a case's history (audit trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Intake,
    Supplement,
    StepApproved,
    StepRefused,
    StepReturned,
    StepTransferred,
    StepCountersignAdded,
    StepOverdueReminded,
    StepOverdueEscalated,
    StepDeemedApproved,
    /// The matter's promised time ran out (`case_` in the names of history from before parts).
    CaseOverdueReminded,
    CaseOverdueEscalated,
    CaseDeemedApproved,
    Decided,
    Paused,
    Resumed,
    Extended,
    DeferredSupplied,
    DeferredLapsed,
    Delivered,
    Rated,
    FollowupClosed,
    CatalogChanged,
    /// 撤回 at the applicant's request.
    Withdrawn,
    /// 逾期未补正: the one-time notice lapsed.
    Lapsed,
    /// Deadline dates set or moved by a newly published calendar.
    DatesSet,
}

/// One entry of the case's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub actor: String,
    pub kind: EventKind,
    pub detail: serde_json::Value,
}

/// Everything a change does, committed together by the application layer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// The case's new status, when it changes.
    pub status: Option<CaseStatus>,
    /// Parts to write (inserted or replaced, by track).
    pub parts: Vec<Part>,
    /// Steps to write (inserted or replaced, by id).
    pub steps: Vec<Step>,
    /// Ratings to write (inserted or replaced, by subject).
    pub ratings: Vec<Rating>,
    pub schedule: Vec<DueItem>,
    pub cancel: Vec<Cancel>,
    pub notices: Vec<NoticeDraft>,
    pub events: Vec<Event>,
    /// The application with materials added (容缺 materials supplied).
    pub application: Option<super::application::Application>,
}

impl Effects {
    /// The handling after these effects: parts, steps and ratings replaced by the changed ones
    /// (what the store commits, applied to a value; tests and previews use it).
    pub fn apply_to(&self, h: &mut Handling) {
        for p in &self.parts {
            match h.parts.iter_mut().find(|x| x.track == p.track) {
                Some(x) => *x = p.clone(),
                None => h.parts.push(p.clone()),
            }
        }
        for s in &self.steps {
            match h.steps.iter_mut().find(|x| x.id == s.id) {
                Some(x) => *x = s.clone(),
                None => h.steps.push(s.clone()),
            }
        }
        for r in &self.ratings {
            match h.ratings.iter_mut().find(|x| x.subject == r.subject) {
                Some(x) => *x = r.clone(),
                None => h.ratings.push(r.clone()),
            }
        }
    }
}

/// Why a command is not carried out. The code says what kind of "no" it is (wrong state 409,
/// not this unit's 403, a bad value 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }
    fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
}

type Result<T> = std::result::Result<T, Rejection>;

// ---------------------------------------------------------------- commands

/// Who acts: the user, and the unit they act for (an approver's department, a clerk's center).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: String,
    pub unit: Option<UnitId>,
}

/// What an approver does with a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepCommand {
    /// 同意 (a review forwards its opinion and every material to the next step, Art. 35).
    Approve { comment: Option<String> },
    /// 不同意, with the reason and legal basis.
    Refuse {
        reason: String,
        basis: String,
        comment: Option<String>,
    },
    /// 退回 to an earlier step of the route, by its step key.
    Return { to_step: String, reason: String },
    /// 转办 to another unit; the deadline runs on.
    Transfer { unit: UnitId, reason: String },
    /// 加签: a countersigning department alongside this step.
    Countersign { unit: UnitId, reason: String },
}

/// A change to an accepted case.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Step {
        step: String,
        action: StepCommand,
    },
    /// 特别程序 (Art. 45): the clock of the matters the actor holds stops from today.
    Pause {
        kind: SpecialProcedureKind,
        reason: String,
        expected_end: NaiveDate,
    },
    /// End the 特别程序: the deadlines move by the working days it took.
    Resume,
    /// Art. 42 extension, approved by the head of the agency.
    Extend {
        approved_by: String,
        reason: String,
    },
    /// 容缺 materials supplied (already checked against their standards).
    SupplyDeferred {
        materials: Vec<PresentedMaterial>,
    },
    /// A result handed over; `track` names the matter within a bundle.
    Deliver {
        track: Option<String>,
        method: Delivery,
    },
    /// 好差评 (国办发〔2019〕51号): the case as a whole once it has ended however it ended
    /// (一事一评), or one service the applicant received — a notice, a handed-over result —
    /// once each (一次一评). The application layer checks that a rated notice is the case's.
    Rate {
        subject: RatingSubject,
        level: u8,
        comment: Option<String>,
    },
    /// Close the follow-up of a 差评.
    CloseFollowup {
        note: String,
        callback: Option<String>,
    },
    /// 撤回: the applicant withdraws the application before its matters are decided (recorded
    /// by the window, or the agent who submitted it).
    Withdraw {
        reason: String,
    },
    /// The scheduler: a due item's day has passed (effective the day after `due_on`).
    Fire(DueItem),
    /// A calendar was published (a catalog went live): every deadline of the open matters is
    /// dated again on the newest calendar. A date past the old calendar's end is set; a date
    /// moves only if a day it depends on changed. Each change is recorded and the applicant is
    /// told in writing (办理期限告知书). Nothing to do is not an error: no effects.
    SetDates,
}

/// The rules a change needs from the case's catalog version: the organisation and the matters.
pub struct Rules<'a> {
    pub org: &'a Organisation,
    pub matters: Vec<&'a Matter>,
    /// Working days a one-time notice stays open unless a matter says otherwise.
    pub supplement_days: u32,
}

impl<'a> Rules<'a> {
    pub fn matter(&self, code: &str) -> Option<&'a Matter> {
        self.matters.iter().copied().find(|m| m.code == code)
    }
}

/// Everything besides the case that a change depends on.
pub struct Context<'a> {
    pub today: NaiveDate,
    /// Working days on the newest published calendar, in the case's region.
    pub days: WorkingDays<'a>,
    pub rules: Rules<'a>,
    /// Working days within which a 差评 is followed up.
    pub followup_days: u32,
}

// ---------------------------------------------------------------- the change under way

struct Change<'a> {
    case: &'a Case,
    ctx: &'a Context<'a>,
    actor: &'a str,
    today: NaiveDate,
    parts: Vec<Part>,
    steps: Vec<Step>,
    ratings: Vec<Rating>,
    touched_parts: BTreeSet<usize>,
    touched_steps: BTreeSet<usize>,
    touched_ratings: BTreeSet<usize>,
    fx: Effects,
}

impl<'a> Change<'a> {
    fn new(case: &'a Case, h: &Handling, ctx: &'a Context<'a>, actor: &'a str) -> Self {
        Self {
            case,
            ctx,
            actor,
            today: ctx.today,
            parts: h.parts.clone(),
            steps: h.steps.clone(),
            ratings: h.ratings.clone(),
            touched_parts: BTreeSet::new(),
            touched_steps: BTreeSet::new(),
            touched_ratings: BTreeSet::new(),
            fx: Effects::default(),
        }
    }

    fn days(&self) -> &WorkingDays<'a> {
        &self.ctx.days
    }

    fn event(&mut self, kind: EventKind, detail: serde_json::Value) {
        self.fx.events.push(Event {
            actor: self.actor.to_string(),
            kind,
            detail,
        });
    }

    fn part_index(&self, track: &str) -> Option<usize> {
        self.parts.iter().position(|p| p.track == track)
    }

    fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// The name of a matter of the case (the assessment's; the code if it is unknown).
    fn matter_name(&self, track: &str) -> String {
        self.case
            .assessment
            .parts()
            .iter()
            .find(|a| a.matter_code == track)
            .map_or_else(
                || self.case.assessment.name().to_string(),
                |a| a.matter_name.clone(),
            )
    }

    /// The track a notice is about: `None` for a single matter.
    /// The law a notice about `track` cites (the 行政许可法 for a 行政许可, else the matter's own
    /// basis).
    fn law(&self, track: &str) -> notice::MatterLaw {
        self.ctx.rules.matter(track).map_or(
            notice::MatterLaw {
                permit: true,
                basis: Vec::new(),
            },
            notice::MatterLaw::of,
        )
    }

    fn notice_track(&self, track: &str) -> Option<String> {
        self.case.subject.bundle().map(|_| track.to_string())
    }

    fn push_step(&mut self, mut s: Step) -> String {
        s.id = format!("{}-S{:02}", self.case.id, self.steps.len() + 1);
        s.seq = u32::try_from(self.steps.len()).unwrap_or(u32::MAX);
        let id = s.id.clone();
        self.touched_steps.insert(self.steps.len());
        self.steps.push(s);
        id
    }

    /// Schedule a step's timeout (when its date is known).
    fn schedule_step(&mut self, i: usize) {
        let s = &self.steps[i];
        if let Some(due) = s.due.and_then(|d| d.date) {
            self.fx.schedule.push(DueItem {
                kind: DueKind::StepTimeout,
                track: Some(s.track.clone()),
                step_id: Some(s.id.clone()),
                due_on: due,
            });
        }
    }

    fn schedule_part(&mut self, p: usize) {
        let part = &self.parts[p];
        if let Some(due) = part.due.and_then(|d| d.date) {
            self.fx.schedule.push(DueItem {
                kind: DueKind::PartTimeout,
                track: Some(part.track.clone()),
                step_id: None,
                due_on: due,
            });
        }
    }

    /// The part must be accepted and not paused or decided.
    fn ensure_running(&self, p: usize) -> Result<()> {
        let part = &self.parts[p];
        match part.status {
            PartStatus::InProgress => Ok(()),
            PartStatus::Paused => Err(Rejection::conflict(format!(
                "办件 {} 的“{}”正在特别程序中（时限暂停），请先结束特别程序再办理",
                self.case.id,
                self.matter_name(&part.track)
            ))),
            other => Err(Rejection::conflict(format!(
                "办件 {} 的“{}”已{}，不能再办理",
                self.case.id,
                self.matter_name(&part.track),
                part_status_label(other)
            ))),
        }
    }

    /// Indices of the parts in which `unit` holds an active step.
    fn parts_held_by(&self, unit: Option<&UnitId>) -> Vec<usize> {
        let Some(unit) = unit else {
            return Vec::new();
        };
        (0..self.parts.len())
            .filter(|&p| {
                let track = &self.parts[p].track;
                self.steps
                    .iter()
                    .any(|s| &s.track == track && s.state == StepState::Active && &s.unit == unit)
            })
            .collect()
    }

    /// After steps of `track` changed: start its next group, schedule the new steps' timeouts,
    /// and decide the part once its track has a decision.
    fn advance(&mut self, track: &str, refusal: Option<(&str, &str)>) -> Result<()> {
        let today = self.today;
        let days = *self.days();
        let started = activate_next(&mut self.steps, track, today, &days);
        for i in started {
            self.touched_steps.insert(i);
            self.schedule_step(i);
        }
        if let Some(decision) = track_decision(&self.steps, track) {
            self.decide(track, decision, refusal)?;
        }
        Ok(())
    }

    /// Record a part's decision, end its live steps and issue the result notice.
    fn decide(
        &mut self,
        track: &str,
        decision: Decision,
        refusal: Option<(&str, &str)>,
    ) -> Result<()> {
        let p = self
            .part_index(track)
            .ok_or_else(|| Rejection::conflict(format!("办件没有事项 {track}")))?;
        for i in 0..self.steps.len() {
            if self.steps[i].track == track && self.steps[i].state.is_live() {
                self.steps[i].state = StepState::Cancelled;
                self.touched_steps.insert(i);
                let id = self.steps[i].id.clone();
                self.fx.cancel.push(Cancel::Step(id));
            }
        }
        let today = self.today;
        let days = *self.days();
        let part = &mut self.parts[p];
        let accepted = part.accepted_on.unwrap_or(today);
        let used = days
            .between_or_covered(accepted, today)
            .saturating_sub(part.paused_days);
        let on_time = part.due.and_then(|d| d.date).is_none_or(|due| today <= due);
        part.decision = Some(DecisionRecord {
            decision,
            on: today,
            on_time,
            working_days_used: used,
        });
        part.status = if decision == Decision::Terminated {
            PartStatus::Terminated
        } else {
            PartStatus::Decided
        };
        part.pause = None;
        if decision.has_result() {
            part.delivery_due = Some(days.deadline(today, DELIVERY_DAYS));
        }
        self.touched_parts.insert(p);
        self.fx.cancel.push(Cancel::Part {
            track: track.to_string(),
            kinds: vec![DueKind::PartTimeout, DueKind::DeferredLapse],
        });
        let part = self.parts[p].clone();
        let matter = self.matter_name(track);
        let center = center_name(self.ctx.rules.org, self.case.place.township.as_deref());
        let facts = notice::DecisionFacts {
            applicant: &self.case.applicant.name,
            received_on: self.case.received_on,
            matter: &matter,
            decision,
            decider: &part.decider,
            spec: self.ctx.rules.matter(track),
            refusal,
            delivery: Some((part.delivery_due.and_then(|d| d.date), &center)),
        };
        let draft = notice::decision_notice(&facts, self.notice_track(track));
        self.fx.notices.push(draft);
        let record = part.decision;
        self.event(
            EventKind::Decided,
            serde_json::json!({
                "track": track,
                "decision": decision,
                "decided_on": today,
                "on_time": record.map(|r| r.on_time),
                "days_used": record.map(|r| r.working_days_used),
            }),
        );
        Ok(())
    }

    /// Move a part's deadlines and its active steps' by `n` working days.
    fn shift(&mut self, p: usize, n: u32) {
        if n == 0 {
            return;
        }
        let days = *self.days();
        let part = &mut self.parts[p];
        part.due = part.due.map(|d| d.shifted(n, &days));
        part.statutory = part.statutory.map(|d| d.shifted(n, &days));
        part.warn = part.warn.map(|d| d.shifted(n, &days));
        let track = part.track.clone();
        self.touched_parts.insert(p);
        for (i, s) in self.steps.iter_mut().enumerate() {
            if s.track == track && s.state == StepState::Active {
                s.due = s.due.map(|d| d.shifted(n, &days));
                s.warn = s.warn.map(|d| d.shifted(n, &days));
                self.touched_steps.insert(i);
            }
        }
    }

    /// Replace a part's pending timeouts (its own and its active steps') by ones at the current
    /// dates.
    fn reschedule(&mut self, p: usize) {
        let track = self.parts[p].track.clone();
        let active: Vec<usize> = (0..self.steps.len())
            .filter(|&i| self.steps[i].track == track && self.steps[i].state == StepState::Active)
            .collect();
        for i in active {
            let id = self.steps[i].id.clone();
            self.fx.cancel.push(Cancel::Step(id));
            self.schedule_step(i);
        }
        self.fx.cancel.push(Cancel::Part {
            track,
            kinds: vec![DueKind::PartTimeout],
        });
        self.schedule_part(p);
    }

    fn finish(mut self) -> Effects {
        self.fx.parts = self
            .touched_parts
            .iter()
            .map(|&i| self.parts[i].clone())
            .collect();
        self.fx.steps = self
            .touched_steps
            .iter()
            .map(|&i| self.steps[i].clone())
            .collect();
        self.fx.ratings = self
            .touched_ratings
            .iter()
            .map(|&i| self.ratings[i].clone())
            .collect();
        let after = CaseStatus::of_parts(&self.parts);
        if after != self.case.status {
            self.fx.status = Some(after);
        }
        self.fx
    }
}

fn part_status_label(s: PartStatus) -> &'static str {
    match s {
        PartStatus::AwaitingSupplement => "待补正",
        PartStatus::Refused => "不予受理",
        PartStatus::InProgress => "在办",
        PartStatus::Paused => "暂停",
        PartStatus::Decided => "办结",
        PartStatus::Terminated => "终止办理",
        PartStatus::Withdrawn => "撤回",
        PartStatus::Lapsed => "逾期未补正而终止",
    }
}

/// The name of the center that takes a case (and issues its results, 统一窗口出件).
pub fn center_name(org: &Organisation, township: Option<&str>) -> String {
    match township.and_then(|t| org.township(t)) {
        Some(t) => t.center.clone(),
        None => org.county.center.clone(),
    }
}

fn check_text(label: &str, t: &str) -> Result<()> {
    let n = t.trim().chars().count();
    if n == 0 || t.chars().count() > MAX_TEXT {
        return Err(Rejection::new(
            ErrorCode::TextRequired,
            format!("{label}不能为空，最多{MAX_TEXT}字"),
        ));
    }
    Ok(())
}

fn check_optional(t: Option<&str>) -> Result<()> {
    if t.is_some_and(|t| t.chars().count() > MAX_TEXT) {
        return Err(Rejection::new(
            ErrorCode::TextTooLong,
            format!("意见、理由或依据最多{MAX_TEXT}字"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- acceptance

/// The parts, steps and due items of a case whose intake (or supplement) was just answered.
/// Accepted matters get their route (the first group of steps started) and deadlines; a 即办
/// matter is decided at once with its result notice (also within a bundle); matters not accepted
/// are recorded with their status (for the figures: every intake counts).
pub fn open(case: &Case, previous: &Handling, ctx: &Context) -> Effects {
    let mut ch = Change::new(case, previous, ctx, &case.place.clerk_id);
    let outcome = case.outcome;
    let assessments = case.assessment.parts();
    let lapse = (outcome == Outcome::SupplementNeeded)
        .then(|| supplement_deadline(&ctx.rules, &assessments, ctx.today, &ctx.days));
    // A new answer replaces the lapse of an earlier one-time notice.
    for p in &previous.parts {
        if p.supplement_due.is_some() {
            ch.fx.cancel.push(Cancel::Part {
                track: p.track.clone(),
                kinds: vec![DueKind::SupplementLapse],
            });
        }
    }
    let mut scheduled = false;
    for a in case.assessment.parts() {
        let p = match ch.part_index(&a.matter_code) {
            Some(p) => p,
            None => {
                ch.parts.push(new_part(a));
                ch.parts.len() - 1
            }
        };
        ch.touched_parts.insert(p);
        let part = &mut ch.parts[p];
        part.decider = a.decider.unit_id.clone();
        part.decider_level = a.decider.level;
        match outcome {
            Outcome::Refused => part.status = PartStatus::Refused,
            Outcome::SupplementNeeded => {
                part.status = PartStatus::AwaitingSupplement;
                part.supplement_notices += 1;
                part.supplement_due = lapse;
                // One lapse for the case (every part lapses with it).
                if let (false, Some(by)) = (scheduled, lapse.and_then(|d| d.date)) {
                    scheduled = true;
                    ch.fx.schedule.push(DueItem {
                        kind: DueKind::SupplementLapse,
                        track: Some(a.matter_code.clone()),
                        step_id: None,
                        due_on: by,
                    });
                }
            }
            Outcome::AcceptedImmediate | Outcome::AcceptedPromised | Outcome::AcceptedDeferred => {
                part.supplement_due = None;
                accept_part(&mut ch, p, a);
            }
        }
        if outcome == Outcome::Refused {
            ch.parts[p].supplement_due = None;
        }
    }
    ch.finish()
}

fn new_part(a: &Assessment) -> Part {
    Part {
        track: a.matter_code.clone(),
        status: PartStatus::AwaitingSupplement,
        decider: a.decider.unit_id.clone(),
        decider_level: a.decider.level,
        immediate: false,
        supplement_notices: 0,
        accepted_on: None,
        due: None,
        statutory: None,
        warn: None,
        pause: None,
        paused_days: 0,
        extensions: 0,
        escalated: false,
        decision: None,
        delivery_due: None,
        delivery: None,
        supplement_due: None,
    }
}

/// The day a one-time notice of `assessments` (one matter, or a bundle's) lapses: the longest
/// `supplement_days` of their matters (the catalog's default for a matter that names none),
/// counted from `today`. The notice states it; the scheduler ends the case after it.
pub fn supplement_deadline(
    rules: &Rules,
    assessments: &[&Assessment],
    today: NaiveDate,
    days: &WorkingDays,
) -> Deadline {
    let n = assessments
        .iter()
        .map(|a| {
            rules
                .matter(&a.matter_code)
                .and_then(|m| m.handling.supplement_days)
                .unwrap_or(rules.supplement_days)
        })
        .max()
        .unwrap_or(rules.supplement_days);
    days.deadline(today, n)
}

fn accept_part(ch: &mut Change, p: usize, a: &Assessment) {
    let today = ch.today;
    let days = *ch.days();
    let immediate = a.outcome == Outcome::AcceptedImmediate;
    {
        let part = &mut ch.parts[p];
        part.status = PartStatus::InProgress;
        part.immediate = immediate;
        part.accepted_on = Some(today);
        part.due = a.due.map(|d| days.deadline(today, d.working_days));
        part.statutory = a
            .statutory_due
            .map(|d| days.deadline(today, d.working_days));
        part.warn = a.due.map(|d| days.warning(today, d.working_days));
    }
    if immediate {
        // 即办件 (Art. 34): decided at the window; the intake's 即办件办结通知书 is its result
        // notice for a single matter, a bundle gets one for this matter.
        let part = &mut ch.parts[p];
        part.status = PartStatus::Decided;
        part.decision = Some(DecisionRecord {
            decision: Decision::Approved,
            on: today,
            on_time: true,
            working_days_used: 0,
        });
        part.delivery_due = Some(days.deadline(today, DELIVERY_DAYS));
        if ch.case.subject.bundle().is_some() {
            let specs: Vec<&Matter> = ch.ctx.rules.matter(&a.matter_code).into_iter().collect();
            let mut draft = notice::intake_notice(
                NoticeKind::ImmediateDecision,
                &notice::IntakeFacts {
                    applicant: &ch.case.applicant.name,
                    matter: &a.matter_name,
                    today,
                    assessments: &[a],
                    bundle_defects: None,
                    matters: &specs,
                    presented: &ch.case.application.materials,
                },
            );
            draft.track = Some(a.matter_code.clone());
            ch.fx.notices.push(draft);
        }
        // The decision is reported as every decision is (the exchange's 办结), for a single
        // matter too.
        ch.event(
            EventKind::Decided,
            serde_json::json!({
                "track": a.matter_code, "decision": Decision::Approved, "decided_on": today,
                "on_time": true, "days_used": 0, "immediate": true,
            }),
        );
        return;
    }
    let track = a.matter_code.clone();
    if let Some(route) = &a.route {
        for planned in &route.steps {
            let _ = ch.push_step(Step {
                id: String::new(),
                track: track.clone(),
                seq: 0,
                group: planned.group,
                key: planned.id.clone(),
                name: planned.name.clone(),
                role: planned.role,
                unit: planned.unit.unit_id.clone(),
                unit_name: planned.unit.name.clone(),
                level: planned.unit.level,
                state: StepState::Pending,
                days: planned.days,
                started_on: None,
                due: None,
                warn: None,
                allow_countersign: planned.allow_countersign,
                refusal_decides: planned.refusal_decides,
                timeout: planned.timeout,
                escalated: false,
                acted: None,
            });
        }
    }
    let started = activate_next(&mut ch.steps, &track, today, &days);
    for i in started {
        ch.touched_steps.insert(i);
        ch.schedule_step(i);
    }
    ch.schedule_part(p);
    for d in &a.deferred {
        if let Some(by) = d.supply_by.date {
            ch.fx.schedule.push(DueItem {
                kind: DueKind::DeferredLapse,
                track: Some(track.clone()),
                step_id: None,
                due_on: by,
            });
        }
    }
}

// ---------------------------------------------------------------- changes

/// Carry out a command on an accepted case: the effects to commit, or why not.
pub fn apply(
    case: &Case,
    handling: &Handling,
    actor: &Actor,
    command: &Command,
    ctx: &Context,
) -> Result<Effects> {
    let mut ch = Change::new(case, handling, ctx, &actor.user);
    match command {
        Command::Step { step, action } => act_on_step(&mut ch, actor, step, action)?,
        Command::Pause {
            kind,
            reason,
            expected_end,
        } => pause(&mut ch, actor, *kind, reason, *expected_end)?,
        Command::Resume => resume(&mut ch, actor)?,
        Command::Extend {
            approved_by,
            reason,
        } => extend(&mut ch, actor, approved_by, reason)?,
        Command::SetDates => set_dates(&mut ch),
        Command::SupplyDeferred { materials } => supply_deferred(&mut ch, materials)?,
        Command::Deliver { track, method } => deliver(&mut ch, track.as_deref(), method)?,
        Command::Rate {
            subject,
            level,
            comment,
        } => rate(&mut ch, subject, *level, comment.as_deref())?,
        Command::CloseFollowup { note, callback } => {
            close_followup(&mut ch, note, callback.as_deref())?
        }
        Command::Withdraw { reason } => withdraw(&mut ch, reason)?,
        Command::Fire(item) => fire(&mut ch, item)?,
    }
    Ok(ch.finish())
}

/// 撤回: every matter not yet decided ends, its live steps and due items with it, and one notice
/// says so. Matters already decided (a bundle's 即办 licence) keep their decision.
/// One deadline dated again: `Some((from, to))` when its date changes. A date the new
/// calendar cannot give (a shorter calendar) is kept.
fn redate(d: &mut Option<Deadline>, days: &WorkingDays) -> Option<(Option<NaiveDate>, NaiveDate)> {
    let deadline = d.as_mut()?;
    let to = days.add(deadline.start, deadline.working_days)?;
    if deadline.date == Some(to) {
        return None;
    }
    let from = deadline.date.replace(to);
    Some((from, to))
}

/// `Command::SetDates`: date every deadline of the open matters on the newest calendar.
fn set_dates(ch: &mut Change) {
    let days = *ch.days();
    let mut items: Vec<notice::DateChange> = Vec::new();
    let mut changes = Vec::new();
    for p in 0..ch.parts.len() {
        let track = ch.parts[p].track.clone();
        let name = ch.matter_name(&track);
        let part = &mut ch.parts[p];
        let mut moved: Vec<(&'static str, Option<NaiveDate>, NaiveDate)> = Vec::new();
        let running = part.status.is_open();
        let (mut due_moved, mut lapse_moved, mut warn_moved) = (false, false, false);
        if running {
            if let Some((from, to)) = redate(&mut part.due, &days) {
                moved.push(("承诺办结日期", from, to));
                due_moved = true;
            }
            if let Some((from, to)) = redate(&mut part.statutory, &days) {
                moved.push(("法定办结日期", from, to));
            }
            // The yellow day is the center's own: recorded, not notified.
            warn_moved = redate(&mut part.warn, &days).is_some();
        }
        if part.status == PartStatus::AwaitingSupplement {
            if let Some((from, to)) = redate(&mut part.supplement_due, &days) {
                moved.push(("补正期限", from, to));
                lapse_moved = true;
            }
        }
        if part.status == PartStatus::Decided && part.has_result() && part.delivery.is_none() {
            if let Some((from, to)) = redate(&mut part.delivery_due, &days) {
                moved.push(("结果送达期限", from, to));
            }
        }
        let mut steps_moved = false;
        if running {
            for i in 0..ch.steps.len() {
                let s = &mut ch.steps[i];
                if s.track != track || s.state != StepState::Active {
                    continue;
                }
                let a = redate(&mut s.due, &days);
                let b = redate(&mut s.warn, &days);
                if a.is_some() || b.is_some() {
                    ch.touched_steps.insert(i);
                    steps_moved = true;
                    if let Some((from, to)) = a {
                        changes.push(serde_json::json!({
                            "matter": track, "step": s.id, "what": "step_due",
                            "from": from, "to": to,
                        }));
                    }
                }
            }
        }
        if moved.is_empty() && !steps_moved && !warn_moved {
            continue;
        }
        ch.touched_parts.insert(p);
        if due_moved || steps_moved {
            ch.reschedule(p);
        }
        if lapse_moved {
            ch.fx.cancel.push(Cancel::Part {
                track: track.clone(),
                kinds: vec![DueKind::SupplementLapse],
            });
            if let Some(due_on) = ch.parts[p].supplement_due.and_then(|d| d.date) {
                ch.fx.schedule.push(DueItem {
                    kind: DueKind::SupplementLapse,
                    track: Some(track.clone()),
                    step_id: None,
                    due_on,
                });
            }
        }
        for (what, from, to) in moved {
            changes.push(serde_json::json!({
                "matter": track, "what": what, "from": from, "to": to,
            }));
            items.push(notice::DateChange {
                matter: name.clone(),
                what,
                from,
                to,
            });
        }
    }
    if changes.is_empty() {
        return;
    }
    if !items.is_empty() {
        ch.fx.notices.push(notice::dates_notice(
            &ch.case.applicant.name,
            ch.case.assessment.name(),
            ch.case.received_on,
            &items,
        ));
    }
    ch.event(
        EventKind::DatesSet,
        serde_json::json!({ "changes": changes }),
    );
}

fn withdraw(ch: &mut Change, reason: &str) -> Result<()> {
    check_text("撤回理由", reason)?;
    let open: Vec<usize> = (0..ch.parts.len())
        .filter(|&p| ch.parts[p].status.is_unfinished())
        .collect();
    if open.is_empty() {
        return Err(Rejection::conflict(format!(
            "办件 {} 已办结或已终止，不能撤回",
            ch.case.id
        )));
    }
    let mut names = Vec::new();
    for p in open {
        let track = ch.parts[p].track.clone();
        for i in 0..ch.steps.len() {
            if ch.steps[i].track == track && ch.steps[i].state.is_live() {
                ch.steps[i].state = StepState::Cancelled;
                ch.touched_steps.insert(i);
                let id = ch.steps[i].id.clone();
                ch.fx.cancel.push(Cancel::Step(id));
            }
        }
        ch.fx.cancel.push(Cancel::Part {
            track: track.clone(),
            kinds: vec![
                DueKind::PartTimeout,
                DueKind::DeferredLapse,
                DueKind::SupplementLapse,
            ],
        });
        let part = &mut ch.parts[p];
        part.status = PartStatus::Withdrawn;
        part.pause = None;
        ch.touched_parts.insert(p);
        names.push(ch.matter_name(&track));
    }
    let draft = notice::withdrawal_notice(
        &ch.case.applicant.name,
        ch.case.assessment.name(),
        ch.case.received_on,
        ch.today,
        reason,
        &names,
    );
    ch.fx.notices.push(draft);
    ch.event(
        EventKind::Withdrawn,
        serde_json::json!({ "reason": reason, "matters": names }),
    );
    Ok(())
}

fn act_on_step(ch: &mut Change, actor: &Actor, step_id: &str, action: &StepCommand) -> Result<()> {
    check_step_command(action)?;
    let i = ch.step_index(step_id).ok_or_else(|| {
        Rejection::new(
            ErrorCode::NotFound,
            format!("办件 {} 没有办理环节 {step_id}", ch.case.id),
        )
    })?;
    let step = ch.steps[i].clone();
    if actor.unit.as_ref() != Some(&step.unit) {
        return Err(Rejection::forbidden(format!(
            "办理环节“{}”由{}办理，您无权操作",
            step.name, step.unit_name
        )));
    }
    let p = ch.part_index(&step.track).ok_or_else(|| {
        Rejection::conflict(format!(
            "办件 {} 的事项 {} 尚未受理",
            ch.case.id, step.track
        ))
    })?;
    ch.ensure_running(p)?;
    if step.state != StepState::Active {
        return Err(Rejection::conflict(format!(
            "办理环节“{}”当前状态为{}，不是待办",
            step.name,
            step_state_label(step.state)
        )));
    }
    let act = |comment: Option<String>, basis: Option<String>| StepAct {
        by: actor.user.clone(),
        on: ch.today,
        comment,
        basis,
    };
    match action {
        StepCommand::Approve { comment } => {
            let s = &mut ch.steps[i];
            s.state = StepState::Approved;
            s.acted = Some(act(comment.clone(), None));
            ch.touched_steps.insert(i);
            ch.fx.cancel.push(Cancel::Step(step.id.clone()));
            ch.event(
                EventKind::StepApproved,
                serde_json::json!({
                    "step": step.id, "step_key": step.key, "unit": step.unit,
                    "started_on": step.started_on, "comment": comment,
                    // Art. 35: a review forwards its opinion and every material; the next
                    // level does not ask the applicant again.
                    "forwarded_opinion": step.role == StepRole::Review,
                }),
            );
            ch.advance(&step.track, None)?;
        }
        StepCommand::Refuse {
            reason,
            basis,
            comment,
        } => {
            let text = match comment {
                Some(c) => format!("{reason}；{c}"),
                None => reason.clone(),
            };
            let s = &mut ch.steps[i];
            s.state = StepState::Refused;
            s.acted = Some(act(Some(text), Some(basis.clone())));
            ch.touched_steps.insert(i);
            ch.fx.cancel.push(Cancel::Step(step.id.clone()));
            ch.event(
                EventKind::StepRefused,
                serde_json::json!({
                    "step": step.id, "step_key": step.key, "unit": step.unit,
                    "started_on": step.started_on,
                    "reason": reason, "basis": basis, "comment": comment,
                    "decides": step.refusal_decides,
                }),
            );
            ch.advance(&step.track, Some((reason, basis)))?;
        }
        StepCommand::Return { to_step, reason } => return_to(ch, actor, &step, to_step, reason)?,
        StepCommand::Transfer { unit, reason } => {
            let (unit_name, level) = unit_in_jurisdiction(ch, unit)?;
            if *unit == step.unit {
                return Err(Rejection::new(
                    ErrorCode::SameUnit,
                    "转办的目标单位与当前单位相同",
                ));
            }
            let s = &mut ch.steps[i];
            s.state = StepState::Transferred;
            s.acted = Some(act(Some(reason.clone()), None));
            ch.touched_steps.insert(i);
            ch.fx.cancel.push(Cancel::Step(step.id.clone()));
            // The deadline runs on: the new unit inherits the step's due date.
            let new_id = ch.push_step(Step {
                unit: unit.clone(),
                unit_name,
                level,
                state: StepState::Active,
                acted: None,
                escalated: false,
                ..step.clone()
            });
            let n = ch.steps.len() - 1;
            ch.schedule_step(n);
            ch.event(
                EventKind::StepTransferred,
                serde_json::json!({
                    "step": step.id, "step_key": step.key, "to_step": new_id,
                    "from_unit": step.unit, "unit": step.unit, "to_unit": unit,
                    "started_on": step.started_on, "reason": reason,
                }),
            );
        }
        StepCommand::Countersign { unit, reason } => {
            if !step.allow_countersign {
                return Err(Rejection::conflict(format!(
                    "办理环节“{}”按规则不允许加签",
                    step.name
                )));
            }
            let (unit_name, level) = unit_in_jurisdiction(ch, unit)?;
            if ch.steps.iter().any(|s| {
                s.track == step.track
                    && s.group == step.group
                    && s.state.is_live()
                    && s.unit == *unit
            }) {
                return Err(Rejection::conflict(format!(
                    "{unit_name} 已在本环节办理，无需重复加签"
                )));
            }
            let new_id = ch.push_step(Step {
                key: format!("{}+countersign", step.key),
                name: format!("{}（加签会签）", step.name),
                role: StepRole::Countersign,
                unit: unit.clone(),
                unit_name,
                level,
                state: StepState::Active,
                allow_countersign: false,
                refusal_decides: true,
                escalated: false,
                acted: None,
                ..step.clone()
            });
            let n = ch.steps.len() - 1;
            ch.schedule_step(n);
            ch.event(
                EventKind::StepCountersignAdded,
                serde_json::json!({
                    "step": step.id, "step_key": step.key, "countersign_step": new_id,
                    "unit": unit, "started_on": step.started_on, "reason": reason,
                }),
            );
        }
    }
    Ok(())
}

fn check_step_command(action: &StepCommand) -> Result<()> {
    let (texts, required): (Vec<&str>, Vec<&str>) = match action {
        StepCommand::Approve { comment } => (comment.iter().map(String::as_str).collect(), vec![]),
        StepCommand::Refuse {
            reason,
            basis,
            comment,
        } => {
            let mut t = vec![reason.as_str(), basis.as_str()];
            t.extend(comment.iter().map(String::as_str));
            (t, vec![reason.as_str(), basis.as_str()])
        }
        StepCommand::Return { to_step, reason } => (
            vec![to_step.as_str(), reason.as_str()],
            vec![to_step.as_str(), reason.as_str()],
        ),
        StepCommand::Transfer { reason, .. } | StepCommand::Countersign { reason, .. } => {
            (vec![reason.as_str()], vec![reason.as_str()])
        }
    };
    for t in texts {
        check_optional(Some(t))?;
    }
    if required.iter().any(|t| t.trim().is_empty()) {
        return Err(Rejection::new(
            ErrorCode::ReasonRequired,
            "不同意、退回、转办和加签须写明理由（不同意还须写明法律依据）",
        ));
    }
    Ok(())
}

fn step_state_label(s: StepState) -> &'static str {
    match s {
        StepState::Pending => "待前序环节完成",
        StepState::Active => "待办",
        StepState::Approved => "已同意",
        StepState::Refused => "已不同意",
        StepState::DeemedApproved => "超时默认同意",
        StepState::Returned => "已退回",
        StepState::Transferred => "已转办",
        StepState::Superseded => "已重新办理",
        StepState::Cancelled => "已取消",
    }
}

/// A unit named in a transfer or countersign: a department of the county or of the case's
/// township (the case's jurisdiction).
fn unit_in_jurisdiction(ch: &Change, unit: &UnitId) -> Result<(String, Level)> {
    let org = ch.ctx.rules.org;
    let township = ch.case.place.township.as_deref();
    let found = match unit {
        UnitId::Department { place, department } if *place == org.county.id => org
            .county
            .departments
            .iter()
            .find(|d| &d.id == department)
            .map(|d| (d.name.clone(), Level::County)),
        UnitId::Department { place, department } if Some(place.as_str()) == township => org
            .township(place)
            .and_then(|t| t.departments.iter().find(|d| &d.id == department))
            .map(|d| (d.name.clone(), Level::Township)),
        _ => None,
    };
    found.ok_or_else(|| {
        Rejection::new(
            ErrorCode::UnknownUnit,
            format!("单位 {unit} 不是本县或本办件所在乡镇的部门，不能转办或加签"),
        )
    })
}

/// 退回: the current step and everything from the target step's group on run again from the
/// target step. The matter's own deadline does not move.
fn return_to(
    ch: &mut Change,
    actor: &Actor,
    step: &Step,
    to_key: &str,
    reason: &str,
) -> Result<()> {
    let target = ch
        .steps
        .iter()
        .filter(|s| s.track == step.track && s.state.counts() && s.key == to_key)
        .filter(|s| s.group < step.group)
        .max_by_key(|s| s.seq)
        .cloned()
        .ok_or_else(|| {
            Rejection::new(
                ErrorCode::UnknownStep,
                format!("只能退回到本办件此前的环节；“{to_key}”不是此前的环节"),
            )
        })?;
    let replaced: Vec<Step> = ch
        .steps
        .iter()
        .filter(|s| s.track == step.track && s.state.counts() && s.group >= target.group)
        .filter(|s| !s.is_countersign())
        .cloned()
        .collect();
    for i in 0..ch.steps.len() {
        let s = &ch.steps[i];
        if s.track == step.track && s.state.counts() && s.group >= target.group {
            let id = s.id.clone();
            let st = &mut ch.steps[i];
            if st.id == step.id {
                st.state = StepState::Returned;
                st.acted = Some(StepAct {
                    by: actor.user.clone(),
                    on: ch.today,
                    comment: Some(reason.to_string()),
                    basis: None,
                });
            } else {
                st.state = StepState::Superseded;
            }
            ch.touched_steps.insert(i);
            ch.fx.cancel.push(Cancel::Step(id));
        }
    }
    for old in replaced {
        ch.push_step(Step {
            state: StepState::Pending,
            started_on: None,
            due: None,
            warn: None,
            escalated: false,
            acted: None,
            ..old
        });
    }
    ch.event(
        EventKind::StepReturned,
        serde_json::json!({
            "step": step.id, "step_key": step.key, "unit": step.unit,
            "started_on": step.started_on, "to_step_key": to_key, "reason": reason,
        }),
    );
    ch.advance(&step.track, None)
}

fn pause(
    ch: &mut Change,
    actor: &Actor,
    kind: SpecialProcedureKind,
    reason: &str,
    expected_end: NaiveDate,
) -> Result<()> {
    check_text("特别程序的理由", reason)?;
    let held = held_parts(ch, actor, "启动特别程序")?;
    for &p in &held {
        ch.ensure_running(p)?;
        let spec = ch
            .ctx
            .rules
            .matter(&ch.parts[p].track)
            .map(|m| m.handling.special_procedures.clone())
            .unwrap_or_default();
        if !spec.is_empty() && !spec.contains(&kind) {
            return Err(Rejection::new(
                ErrorCode::SpecialProcedureNotAllowed,
                format!(
                    "本事项的特别程序为：{}；不包括“{}”",
                    spec.iter()
                        .map(|k| k.label())
                        .collect::<Vec<_>>()
                        .join("、"),
                    kind.label()
                ),
            ));
        }
    }
    if expected_end < ch.today {
        return Err(Rejection::new(
            ErrorCode::ExpectedEndPast,
            "特别程序的预计结束日期不能早于今天",
        ));
    }
    for p in held {
        let track = ch.parts[p].track.clone();
        let part = &mut ch.parts[p];
        part.status = PartStatus::Paused;
        part.pause = Some(Pause {
            kind,
            reason: reason.to_string(),
            started_on: ch.today,
            expected_end,
            by: actor.user.clone(),
        });
        ch.touched_parts.insert(p);
        // Nothing fires while the clock stands still; resuming schedules again.
        for s in ch
            .steps
            .iter()
            .filter(|s| s.track == track && s.state == StepState::Active)
        {
            ch.fx.cancel.push(Cancel::Step(s.id.clone()));
        }
        ch.fx.cancel.push(Cancel::Part {
            track: track.clone(),
            kinds: vec![DueKind::PartTimeout],
        });
        let matter = ch.matter_name(&track);
        let law = ch.law(&track);
        let draft = notice::pause_notice(
            &notice::About {
                applicant: &ch.case.applicant.name,
                matter: &matter,
                law: &law,
            },
            kind,
            reason,
            ch.today,
            expected_end,
            ch.notice_track(&track),
        );
        ch.fx.notices.push(draft);
        ch.event(
            EventKind::Paused,
            serde_json::json!({
                "track": track, "kind": kind, "reason": reason, "expected_end": expected_end,
            }),
        );
    }
    Ok(())
}

/// The parts the actor holds an active step in; none is a refusal naming `what`.
/// The open parts of the case whose active step `actor` holds. A case with no open part left
/// (decided, withdrawn, terminated) is a conflict for anyone: no one holds it any more.
fn held_parts(ch: &Change, actor: &Actor, what: &str) -> Result<Vec<usize>> {
    let held = ch.parts_held_by(actor.unit.as_ref());
    if held.is_empty() && !ch.parts.iter().any(|p| p.status.is_open()) {
        return Err(Rejection::conflict(format!(
            "办件 {} 已办结或已终止，不能{what}",
            ch.case.id
        )));
    }
    if held.is_empty() {
        return Err(Rejection::forbidden(format!(
            "只有正在办理本办件的单位可以{what}"
        )));
    }
    Ok(held)
}

fn resume(ch: &mut Change, actor: &Actor) -> Result<()> {
    let held: Vec<usize> = held_parts(ch, actor, "结束特别程序")?
        .into_iter()
        .filter(|&p| ch.parts[p].status == PartStatus::Paused)
        .collect();
    if held.is_empty() {
        return Err(Rejection::conflict(format!(
            "办件 {} 不在特别程序中",
            ch.case.id
        )));
    }
    for p in held {
        let Some(pause) = ch.parts[p].pause.clone() else {
            continue;
        };
        let n = ch.days().between_or_covered(pause.started_on, ch.today);
        ch.shift(p, n);
        let track = ch.parts[p].track.clone();
        let part = &mut ch.parts[p];
        part.paused_days = part.paused_days.saturating_add(n);
        part.status = PartStatus::InProgress;
        part.pause = None;
        let new_due = part.due.and_then(|d| d.date);
        ch.touched_parts.insert(p);
        ch.reschedule(p);
        let matter = ch.matter_name(&track);
        let draft = notice::resume_notice(
            &ch.case.applicant.name,
            &matter,
            pause.kind,
            ch.today,
            n,
            new_due,
            ch.notice_track(&track),
        );
        ch.fx.notices.push(draft);
        ch.event(
            EventKind::Resumed,
            serde_json::json!({
                "track": track, "kind": pause.kind, "started_on": pause.started_on,
                "paused_working_days": n, "new_due_date": new_due,
            }),
        );
    }
    Ok(())
}

fn extend(ch: &mut Change, actor: &Actor, approved_by: &str, reason: &str) -> Result<()> {
    check_text("批准延期的负责人", approved_by)?;
    check_text("延期理由", reason)?;
    let held = held_parts(ch, actor, "申请延长办理期限")?;
    let mut plan = Vec::new();
    for p in held {
        ch.ensure_running(p)?;
        let part = &ch.parts[p];
        let (ext_days, max) = ch
            .ctx
            .rules
            .matter(&part.track)
            .map(|m| (m.handling.extension_days, m.handling.max_extensions))
            .unwrap_or((10, 1));
        if part.extensions >= max {
            return Err(Rejection::conflict(format!(
                "本事项的办理期限最多延长{max}次，已延长{}次",
                part.extensions
            )));
        }
        if part.due.is_some_and(|d| d.is_past(ch.today)) {
            return Err(Rejection::conflict(
                "已超过办理期限，不能再延长；请尽快作出决定",
            ));
        }
        plan.push((p, ext_days));
    }
    for (p, ext_days) in plan {
        ch.shift(p, ext_days);
        ch.parts[p].extensions += 1;
        ch.touched_parts.insert(p);
        ch.reschedule(p);
        let track = ch.parts[p].track.clone();
        let new_due = ch.parts[p].due.and_then(|d| d.date);
        let matter = ch.matter_name(&track);
        let law = ch.law(&track);
        let draft = notice::extension_notice(
            &notice::About {
                applicant: &ch.case.applicant.name,
                matter: &matter,
                law: &law,
            },
            reason,
            approved_by,
            ext_days,
            new_due,
            ch.notice_track(&track),
        );
        ch.fx.notices.push(draft);
        ch.event(
            EventKind::Extended,
            serde_json::json!({
                "track": track, "approved_by": approved_by, "reason": reason,
                "working_days": ext_days, "new_due_date": new_due,
            }),
        );
    }
    Ok(())
}

/// The 容缺 materials still owed: by matter, those not yet in the application.
fn owed(case: &Case, materials: &[PresentedMaterial]) -> Vec<(String, String)> {
    case.assessment
        .parts()
        .iter()
        .flat_map(|a| {
            a.deferred
                .iter()
                .map(|d| (a.matter_code.clone(), d.id.clone()))
        })
        .filter(|(_, id)| !materials.iter().any(|m| &m.id == id))
        .collect()
}

fn supply_deferred(ch: &mut Change, materials: &[PresentedMaterial]) -> Result<()> {
    if ch.parts.iter().all(|p| !p.status.is_open()) {
        return Err(Rejection::conflict(format!("办件 {} 已办结", ch.case.id)));
    }
    if materials.is_empty() || materials.len() > 100 {
        return Err(Rejection::new(
            ErrorCode::Materials,
            "请提交容缺后补的材料（1到100项）",
        ));
    }
    let deferred: Vec<(String, String)> = owed(ch.case, &[]);
    for m in materials {
        if !deferred.iter().any(|(_, id)| id == &m.id) {
            return Err(Rejection::new(
                ErrorCode::NotDeferred,
                format!("材料 {} 不是本办件容缺后补的材料", m.id),
            ));
        }
    }
    let mut application = ch.case.application.clone();
    for m in materials {
        application.materials.retain(|x| x.id != m.id);
        application.materials.push(m.clone());
    }
    let still: Vec<(String, String)> = owed(ch.case, &application.materials);
    let tracks: BTreeSet<&String> = deferred.iter().map(|(t, _)| t).collect();
    for t in tracks {
        if !still.iter().any(|(x, _)| x == t) {
            ch.fx.cancel.push(Cancel::Part {
                track: t.clone(),
                kinds: vec![DueKind::DeferredLapse],
            });
        }
    }
    let supplied: Vec<&str> = materials.iter().map(|m| m.id.as_str()).collect();
    let still_owed: Vec<&str> = still.iter().map(|(_, id)| id.as_str()).collect();
    ch.event(
        EventKind::DeferredSupplied,
        serde_json::json!({ "materials": supplied, "still_owed": still_owed }),
    );
    ch.fx.application = Some(application);
    Ok(())
}

fn deliver(ch: &mut Change, track: Option<&str>, method: &Delivery) -> Result<()> {
    let p = match track {
        Some(t) => ch.part_index(t).ok_or_else(|| {
            Rejection::new(
                ErrorCode::NotFound,
                format!("办件 {} 没有事项 {t}", ch.case.id),
            )
        })?,
        None => {
            let waiting: Vec<usize> = (0..ch.parts.len())
                .filter(|&p| ch.parts[p].has_result() && ch.parts[p].delivery.is_none())
                .collect();
            match waiting.as_slice() {
                [p] => *p,
                [] if ch.parts.iter().any(|p| p.delivery.is_some()) => {
                    return Err(Rejection::conflict(format!(
                        "办件 {} 的结果已送达",
                        ch.case.id
                    )))
                }
                [] => {
                    return Err(Rejection::conflict(format!(
                        "办件 {} 尚未作出准予决定，没有可送达的结果",
                        ch.case.id
                    )))
                }
                _ => return Err(Rejection::new(
                    ErrorCode::InvalidRequest,
                    "本办件有多个事项的结果待送达，请用 matter 指明送达哪个事项的结果（事项编码）",
                )),
            }
        }
    };
    let part = &ch.parts[p];
    if !part.has_result() {
        return Err(Rejection::conflict(format!(
            "“{}”尚未作出准予决定，没有可送达的结果",
            ch.matter_name(&part.track)
        )));
    }
    if part.delivery.is_some() {
        return Err(Rejection::conflict(format!(
            "“{}”的结果已送达",
            ch.matter_name(&part.track)
        )));
    }
    let allowed = ch
        .ctx
        .rules
        .matter(&part.track)
        .map(|m| m.delivery.clone())
        .unwrap_or_else(|| vec![DeliveryMethod::WindowPickup]);
    if !allowed.contains(&method.option()) {
        return Err(Rejection::new(
            ErrorCode::DeliveryMethodNotAllowed,
            format!(
                "本事项的送达方式为：{}；不能{}",
                allowed
                    .iter()
                    .map(|m| m.label())
                    .collect::<Vec<_>>()
                    .join("、"),
                method.option().label()
            ),
        ));
    }
    match method {
        Delivery::WindowPickup {
            originals_checked, ..
        } if !originals_checked => {
            return Err(Rejection::new(
                ErrorCode::OriginalsNotChecked,
                "窗口领取前须核验原件（originals_checked 应为 true）",
            ))
        }
        Delivery::Mail {
            carrier,
            tracking_number,
        } => {
            check_text("快递公司", carrier)?;
            check_text("运单号", tracking_number)?;
        }
        Delivery::ViaAgent { .. } if ch.case.place.agent_id.is_none() => {
            return Err(Rejection::new(
                ErrorCode::NotAgentCase,
                "本办件不是代办件，不能由代办员带回",
            ))
        }
        _ => {}
    }
    let within_limit = part
        .delivery_due
        .and_then(|d| d.date)
        .is_none_or(|due| ch.today <= due);
    let track = part.track.clone();
    ch.parts[p].delivery = Some(DeliveryRecord {
        method: method.clone(),
        by: ch.actor.to_string(),
        on: ch.today,
        within_limit,
    });
    ch.touched_parts.insert(p);
    let mut detail = serde_json::to_value(method).unwrap_or_default();
    if let Some(o) = detail.as_object_mut() {
        o.insert("by".into(), serde_json::Value::String(ch.actor.to_string()));
    }
    ch.event(
        EventKind::Delivered,
        serde_json::json!({ "track": track, "delivery": detail, "within_limit": within_limit }),
    );
    Ok(())
}

fn rate(ch: &mut Change, subject: &RatingSubject, level: u8, comment: Option<&str>) -> Result<()> {
    if !(1..=5).contains(&level) {
        return Err(Rejection::new(
            ErrorCode::RatingLevel,
            "评价等级应为1（非常不满意）到5（非常满意）",
        ));
    }
    if comment.is_some_and(|c| c.chars().count() > 500) {
        return Err(Rejection::new(ErrorCode::TextTooLong, "评价内容最多500字"));
    }
    match subject {
        // 一事一评: once the case has ended, however it ended (refused at intake, withdrawn,
        // lapsed, decided).
        RatingSubject::Case => {
            if ch.parts.iter().any(|p| p.status.is_unfinished()) {
                return Err(Rejection::conflict(format!(
                    "办件 {} 尚未办结，办结（或终止）后方可对整件评价；已收到的告知书可以先行评价",
                    ch.case.id
                )));
            }
        }
        RatingSubject::Notice(_) => {}
        RatingSubject::Delivery(track) => {
            let handed = ch
                .parts
                .iter()
                .any(|p| &p.track == track && p.delivery.is_some());
            if !handed {
                return Err(Rejection::conflict(format!(
                    "办件 {} 的“{track}”办理结果尚未送达，送达后方可评价",
                    ch.case.id
                )));
            }
        }
    }
    if ch.ratings.iter().any(|r| &r.subject == subject) {
        let what = match subject {
            RatingSubject::Case => "该办件".to_string(),
            RatingSubject::Notice(id) => format!("告知书 {id}"),
            RatingSubject::Delivery(track) => format!("“{track}”的结果送达"),
        };
        return Err(Rejection::conflict(format!(
            "{what}已评价（每项服务评价一次）"
        )));
    }
    let bad = level <= 2;
    let followup = bad.then(|| Followup {
        due: Some(
            ch.days()
                .add(ch.today, ch.ctx.followup_days)
                .unwrap_or(ch.today),
        ),
        closed_on: None,
        closed_by: None,
        note: None,
        callback: None,
    });
    let due = followup.as_ref().and_then(|f| f.due);
    ch.ratings.push(Rating {
        subject: subject.clone(),
        level,
        comment: comment.map(str::to_string),
        on: ch.today,
        by: ch.actor.to_string(),
        followup,
    });
    ch.touched_ratings.insert(ch.ratings.len() - 1);
    ch.event(
        EventKind::Rated,
        serde_json::json!({
            "subject": subject, "level": level, "label": rating_label(level), "bad": bad,
            "followup_due": due,
        }),
    );
    Ok(())
}

fn close_followup(ch: &mut Change, note: &str, callback: Option<&str>) -> Result<()> {
    check_text("整改回访情况", note)?;
    check_optional(callback)?;
    let i = ch
        .ratings
        .iter()
        .position(|r| r.followup.as_ref().is_some_and(|f| f.closed_on.is_none()))
        .ok_or_else(|| Rejection::conflict(format!("办件 {} 没有待办结的差评整改", ch.case.id)))?;
    let today = ch.today;
    let actor = ch.actor.to_string();
    let Some(f) = ch.ratings[i].followup.as_mut() else {
        return Ok(());
    };
    let overdue = f.due.is_some_and(|d| today > d);
    f.closed_on = Some(today);
    f.closed_by = Some(actor);
    f.note = Some(note.to_string());
    f.callback = callback.map(str::to_string);
    ch.touched_ratings.insert(i);
    ch.event(
        EventKind::FollowupClosed,
        serde_json::json!({ "note": note, "callback": callback, "overdue": overdue }),
    );
    Ok(())
}

/// A due item whose day has passed. The transition takes effect on the day after its due day,
/// also when it is applied late (after downtime). Nothing to do is not a rejection: the effects
/// are empty and the item is closed.
/// 逾期未补正: the one-time notice due on `due_on` was not answered; every part still awaiting
/// 补正 ends, with one notice. An item of an earlier notice (since replaced) does nothing.
fn lapse(ch: &mut Change, p: usize, due_on: NaiveDate) -> Result<()> {
    let part = &ch.parts[p];
    if part.status != PartStatus::AwaitingSupplement
        || part.supplement_due.and_then(|d| d.date) != Some(due_on)
    {
        return Ok(());
    }
    let mut names = Vec::new();
    for q in 0..ch.parts.len() {
        if ch.parts[q].status == PartStatus::AwaitingSupplement {
            ch.parts[q].status = PartStatus::Lapsed;
            ch.touched_parts.insert(q);
            let track = ch.parts[q].track.clone();
            names.push(ch.matter_name(&track));
        }
    }
    let draft = notice::lapse_notice(
        &ch.case.applicant.name,
        ch.case.assessment.name(),
        ch.case.received_on,
        due_on,
        &names,
    );
    ch.fx.notices.push(draft);
    ch.event(
        EventKind::Lapsed,
        serde_json::json!({ "supplement_due": due_on, "matters": names }),
    );
    Ok(())
}

fn fire(ch: &mut Change, item: &DueItem) -> Result<()> {
    let effective = item.due_on.succ_opt().unwrap_or(item.due_on);
    ch.today = effective;
    let track = item
        .track
        .clone()
        .or_else(|| {
            // Items of cases from before parts name no matter: the case's only one.
            (ch.parts.len() == 1).then(|| ch.parts[0].track.clone())
        })
        .unwrap_or_default();
    let Some(p) = ch.part_index(&track) else {
        return Ok(());
    };
    let running = ch.parts[p].status == PartStatus::InProgress;
    if item.kind == DueKind::SupplementLapse {
        return lapse(ch, p, item.due_on);
    }
    match item.kind {
        DueKind::StepTimeout if running => {
            let Some(i) = item.step_id.as_deref().and_then(|id| ch.step_index(id)) else {
                return Ok(());
            };
            let step = ch.steps[i].clone();
            if step.state != StepState::Active {
                return Ok(());
            }
            let detail = serde_json::json!({
                "step": step.id, "step_key": step.key, "unit": step.unit,
                "started_on": step.started_on,
                "due_date": step.due.and_then(|d| d.date), "policy": step.timeout,
            });
            match step.timeout {
                TimeoutPolicy::Remind => ch.event(EventKind::StepOverdueReminded, detail),
                TimeoutPolicy::Escalate => {
                    ch.steps[i].escalated = true;
                    ch.touched_steps.insert(i);
                    ch.parts[p].escalated = true;
                    ch.touched_parts.insert(p);
                    ch.event(EventKind::StepOverdueEscalated, detail);
                }
                TimeoutPolicy::DeemApproved => {
                    let s = &mut ch.steps[i];
                    s.state = StepState::DeemedApproved;
                    s.acted = Some(StepAct {
                        by: ch.actor.to_string(),
                        on: effective,
                        comment: Some("超时未办理，按规则视为同意（超时默认）".into()),
                        basis: None,
                    });
                    ch.touched_steps.insert(i);
                    ch.event(EventKind::StepDeemedApproved, detail);
                    ch.advance(&track, None)?;
                }
            }
        }
        DueKind::PartTimeout if running => {
            let policy = ch
                .ctx
                .rules
                .matter(&track)
                .map(|m| m.handling.timeout)
                .unwrap_or_default();
            let detail = serde_json::json!({
                "track": track, "due_date": ch.parts[p].due.and_then(|d| d.date), "policy": policy,
            });
            match policy {
                TimeoutPolicy::Remind => ch.event(EventKind::CaseOverdueReminded, detail),
                TimeoutPolicy::Escalate => {
                    ch.parts[p].escalated = true;
                    ch.touched_parts.insert(p);
                    ch.event(EventKind::CaseOverdueEscalated, detail);
                }
                TimeoutPolicy::DeemApproved => {
                    ch.event(EventKind::CaseDeemedApproved, detail);
                    ch.decide(&track, Decision::DeemedApproved, None)?;
                }
            }
        }
        DueKind::DeferredLapse if ch.parts[p].status.is_open() => {
            let missing: Vec<String> = ch
                .case
                .assessment
                .parts()
                .iter()
                .filter(|a| a.matter_code == track)
                .flat_map(|a| a.deferred.iter())
                .filter(|d| d.supply_by.date.is_some_and(|by| by < effective))
                .filter(|d| !ch.case.application.materials.iter().any(|m| m.id == d.id))
                .map(|d| d.name.clone())
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            let lapse = ch
                .ctx
                .rules
                .matter(&track)
                .map(|m| m.handling.deferred_lapse)
                .unwrap_or_default();
            ch.event(
                EventKind::DeferredLapsed,
                serde_json::json!({ "track": track, "missing": missing, "lapse": lapse }),
            );
            let reason = format!(
                "容缺受理时承诺后补的材料（{}）未在约定期限内提交",
                missing.join("、")
            );
            match lapse {
                DeferredLapse::Terminate => ch.decide(&track, Decision::Terminated, None)?,
                DeferredLapse::Disapprove => ch.decide(
                    &track,
                    Decision::Disapproved,
                    Some((&reason, "容缺受理承诺书")),
                )?,
            }
        }
        _ => {}
    }
    Ok(())
}

/// What a fired item did, in a few words (for the sweep's report): `kind:policy`.
pub fn fired_summary(item: &DueItem, fx: &Effects) -> Option<String> {
    let ev = fx.events.first()?;
    let policy = ev
        .detail
        .get("policy")
        .or_else(|| ev.detail.get("lapse"))
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let kind = serde_json::to_value(item.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    Some(format!("{kind}:{policy}"))
}
