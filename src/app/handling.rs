//! After acceptance (后台审批): a case's route becomes steps; approvers approve, refuse, return,
//! transfer and add countersigning departments; the clock pauses for 特别程序 (Art. 45) and is
//! extended (Art. 42); the scheduler applies timeouts and 容缺 lapses; the decision becomes a
//! numbered result notice.
//!
//! Every change is computed here from the stored handling row and steps and committed as one
//! [`HandlingChange`] (optimistic version check, notices, audit events and due items together).

use crate::error_code::ErrorCode;
use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::intake::{center_short_name, parse_assessment, to_json, CaseAssessment};
use super::notice::{self, NoticeContext, NoticeItem, NoticeKind};
use super::{App, AppError};
use crate::auth::{Role, User};
use crate::catalog::Catalog;
use crate::domain::assessment::{Assessment, Outcome};
use crate::domain::matter::{DeferredLapse, SpecialProcedureKind, TimeoutPolicy};
use crate::store::{
    CaseRow, HandlingChange, HandlingRow, NewDueItem, NewEvent, NewHandling, NewNotice, StepRow,
};

/// Art. 44: the certificate is delivered within 10 (working) days of the decision.
pub const DELIVERY_DAYS: u32 = 10;

// ---------------------------------------------------------------- states

pub const STEP_PENDING: &str = "pending";
pub const STEP_ACTIVE: &str = "active";
pub const STEP_APPROVED: &str = "approved";
pub const STEP_REFUSED: &str = "refused";
pub const STEP_DEEMED: &str = "deemed_approved";
pub const STEP_RETURNED: &str = "returned";
pub const STEP_TRANSFERRED: &str = "transferred";
pub const STEP_SUPERSEDED: &str = "superseded";
pub const STEP_CANCELLED: &str = "cancelled";

pub const IN_PROGRESS: &str = "in_progress";
pub const PAUSED: &str = "paused";
pub const DECIDED: &str = "decided";
pub const TERMINATED: &str = "terminated";

pub const STEP_TIMEOUT: &str = "step_timeout";
pub const CASE_TIMEOUT: &str = "case_timeout";
pub const DEFERRED_LAPSE: &str = "deferred_lapse";

fn is_live(s: &StepRow) -> bool {
    s.state == STEP_PENDING || s.state == STEP_ACTIVE
}

/// Steps that count for the route (not replaced by a return, transfer or re-run).
fn counts(s: &StepRow) -> bool {
    !matches!(
        s.state.as_str(),
        STEP_RETURNED | STEP_TRANSFERRED | STEP_SUPERSEDED | STEP_CANCELLED
    )
}

/// The colour of a deadline on `today`: green, yellow (预警) from `warn_on`, red after `due`.
pub fn colour(today: NaiveDate, warn_on: Option<&str>, due: Option<&str>) -> &'static str {
    let d = |s: Option<&str>| s.and_then(|v| v.parse::<NaiveDate>().ok());
    match (d(warn_on), d(due)) {
        (_, Some(due)) if today > due => "red",
        (Some(w), _) if today >= w => "yellow",
        _ => "green",
    }
}

/// Unix milliseconds of 00:00 China Standard Time on the day after `due`: a deadline runs to the
/// end of its last day.
pub fn fire_at_ms(due: NaiveDate) -> i64 {
    due.succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(i64::MAX, |t| t.and_utc().timestamp_millis() - 8 * 3_600_000)
}

/// Working-day arithmetic for one case, on its pinned catalog's calendar and region.
pub(crate) struct Days<'a> {
    catalog: &'a Catalog,
    region: Option<String>,
    warn_percent: u32,
}

impl<'a> Days<'a> {
    pub(crate) fn new(catalog: &'a Catalog, township: Option<&str>, warn_percent: u32) -> Self {
        Self {
            catalog,
            region: catalog.calendar_region(township),
            warn_percent,
        }
    }
    /// `None` past the published calendar (flagged on the case, never guessed).
    pub(crate) fn add(&self, start: NaiveDate, n: u32) -> Option<NaiveDate> {
        self.catalog
            .calendar
            .add_working_days(start, n, self.region.as_deref())
            .ok()
    }
    fn add_str(&self, start: Option<&str>, n: u32) -> Option<String> {
        let d = start?.parse::<NaiveDate>().ok()?;
        self.add(d, n).map(|d| d.to_string())
    }
    /// Yellow from the day the warning share of `days` has passed.
    fn warn_on(&self, start: NaiveDate, days: u32) -> Option<NaiveDate> {
        let share = (u64::from(days) * u64::from(self.warn_percent)).div_ceil(100);
        self.add(start, u32::try_from(share).unwrap_or(days))
    }
    /// Working days in `(from, to]`, 0 if either is outside the calendar or `to < from`.
    fn between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        self.catalog
            .calendar
            .working_days_between(from, to, self.region.as_deref())
            .unwrap_or(0)
            .max(0)
    }
}

fn snake<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn parse_policy(s: &str) -> TimeoutPolicy {
    serde_json::from_value(serde_json::Value::String(s.to_string())).unwrap_or_default()
}

fn parse_day(s: &str) -> Result<NaiveDate, AppError> {
    s.parse()
        .map_err(|_| AppError::Corrupt(format!("stored date '{s}' is not a date")))
}

// ---------------------------------------------------------------- acceptance

/// The handling of a case accepted now: its steps (the first group of each matter active), its
/// deadlines and the scheduler's due items. `None` unless the outcome is an acceptance.
pub(crate) fn new_handling(
    app: &App,
    catalog: &Catalog,
    case: &CaseRow,
    assessment: &CaseAssessment,
    today: NaiveDate,
    now_ms: i64,
) -> Option<NewHandling> {
    let outcome = assessment.outcome();
    if !outcome.is_accepted() {
        return None;
    }
    let days = Days::new(
        catalog,
        case.township.as_deref(),
        app.config.warning_percent,
    );
    let parts: Vec<&Assessment> = match assessment {
        CaseAssessment::Bundle(b) => b.matters.iter().collect(),
        CaseAssessment::Matter(a) => vec![a],
    };
    let first = parts.first()?;
    let (due, statutory) = match assessment {
        CaseAssessment::Bundle(b) => (
            b.due,
            parts
                .iter()
                .filter_map(|a| a.statutory_due)
                .max_by_key(|d| d.date),
        ),
        CaseAssessment::Matter(a) => (a.due, a.statutory_due),
    };
    let due_date = due.and_then(|d| d.date);
    let immediate = outcome == Outcome::AcceptedImmediate;
    let mut handling = HandlingRow {
        case_id: case.id.clone(),
        center_id: case.center_id.clone(),
        township: case.township.clone(),
        window_id: case.window_id.clone(),
        matter_code: case.matter_code.clone(),
        decider_unit: first.decider.unit_id.to_string(),
        decider_level: first.decider.level.as_str().to_string(),
        immediate: i64::from(immediate),
        accepted_on: today.to_string(),
        due_date: due_date.map(|d| d.to_string()),
        statutory_due: statutory.and_then(|d| d.date).map(|d| d.to_string()),
        warn_on: due
            .and_then(|d| days.warn_on(today, d.working_days))
            .map(|d| d.to_string()),
        state: IN_PROGRESS.into(),
        pause: None,
        paused_days: 0,
        extensions: 0,
        escalated: 0,
        decision: None,
        decided_on: None,
        on_time: None,
        days_used: None,
        delivery_due: None,
        delivered_on: None,
        delivery: None,
        rating: None,
        rating_comment: None,
        rated_on: None,
        followup_due: None,
        followup_closed_on: None,
        followup_note: None,
        version: 1,
        updated_at: now_ms,
    };
    if immediate {
        decide_now(&mut handling, &days, "approved", today);
        return Some(NewHandling {
            handling,
            steps: Vec::new(),
            due: Vec::new(),
        });
    }
    let mut steps = Vec::new();
    for a in &parts {
        let Some(route) = &a.route else { continue };
        for p in &route.steps {
            steps.push(StepRow {
                id: format!("{}-S{:02}", case.id, steps.len() + 1),
                case_id: case.id.clone(),
                track: a.matter_code.clone(),
                seq: i64::try_from(steps.len()).unwrap_or(i64::MAX),
                group_no: i64::from(p.group),
                step_key: p.id.clone(),
                name: p.name.clone(),
                role: snake(&p.role),
                unit_id: p.unit.unit_id.to_string(),
                unit_name: p.unit.name.clone(),
                level: p.unit.level.as_str().to_string(),
                state: STEP_PENDING.into(),
                days: i64::from(p.days),
                started_on: None,
                due_date: None,
                warn_on: None,
                allow_countersign: i64::from(p.allow_countersign),
                refusal_decides: i64::from(p.refusal_decides),
                timeout_policy: snake(&p.timeout),
                acted_by: None,
                acted_on: None,
                comment: None,
                basis: None,
                created_at: now_ms,
                updated_at: now_ms,
            });
        }
    }
    let mut due_items = Vec::new();
    let mut touched = BTreeSet::new();
    activate_next(&mut steps, &days, today, now_ms, &mut touched);
    for s in &steps {
        if s.state == STEP_ACTIVE {
            due_items.extend(step_due_item(s));
        }
    }
    if let Some(d) = due_date {
        due_items.push(case_due_item(&case.id, CASE_TIMEOUT, d));
    }
    for a in &parts {
        for d in &a.deferred {
            if let Some(by) = d.supply_by.date {
                due_items.push(case_due_item(&case.id, DEFERRED_LAPSE, by));
            }
        }
    }
    Some(NewHandling {
        handling,
        steps,
        due: due_items,
    })
}

fn case_due_item(case_id: &str, kind: &str, due: NaiveDate) -> NewDueItem {
    NewDueItem {
        case_id: case_id.to_string(),
        step_id: None,
        kind: kind.to_string(),
        due_on: due.to_string(),
        fire_at: fire_at_ms(due),
        state: "pending".into(),
    }
}

fn step_due_item(s: &StepRow) -> Option<NewDueItem> {
    let due = s.due_date.as_deref()?.parse::<NaiveDate>().ok()?;
    Some(NewDueItem {
        case_id: s.case_id.clone(),
        step_id: Some(s.id.clone()),
        kind: STEP_TIMEOUT.into(),
        due_on: due.to_string(),
        fire_at: fire_at_ms(due),
        state: "pending".into(),
    })
}

fn decide_now(h: &mut HandlingRow, days: &Days, decision: &str, today: NaiveDate) {
    let accepted = h.accepted_on.parse::<NaiveDate>().unwrap_or(today);
    h.state = if decision == "terminated" {
        TERMINATED
    } else {
        DECIDED
    }
    .to_string();
    h.decision = Some(decision.to_string());
    h.decided_on = Some(today.to_string());
    h.days_used = Some((days.between(accepted, today) - h.paused_days).max(0));
    h.on_time = Some(i64::from(
        h.due_date
            .as_deref()
            .and_then(|d| d.parse::<NaiveDate>().ok())
            .is_none_or(|due| today <= due),
    ));
    if decision != "terminated" {
        h.delivery_due = days.add(today, DELIVERY_DAYS).map(|d| d.to_string());
    }
}

/// Activates, in each track, the next group once every step of the current one has finished.
/// Returns nothing; `touched` collects the ids of changed steps.
fn activate_next(
    steps: &mut [StepRow],
    days: &Days,
    today: NaiveDate,
    now_ms: i64,
    touched: &mut BTreeSet<String>,
) {
    let tracks: BTreeSet<String> = steps.iter().map(|s| s.track.clone()).collect();
    for track in tracks {
        if track_decision(steps, &track).is_some() {
            continue;
        }
        let Some(group) = steps
            .iter()
            .filter(|s| s.track == track && is_live(s))
            .map(|s| s.group_no)
            .min()
        else {
            continue;
        };
        for s in steps
            .iter_mut()
            .filter(|s| s.track == track && s.group_no == group && s.state == STEP_PENDING)
        {
            let n = u32::try_from(s.days).unwrap_or(0);
            s.state = STEP_ACTIVE.into();
            s.started_on = Some(today.to_string());
            s.due_date = days.add(today, n).map(|d| d.to_string());
            s.warn_on = days.warn_on(today, n).map(|d| d.to_string());
            s.updated_at = now_ms;
            touched.insert(s.id.clone());
        }
    }
}

/// The decision of one track (matter), once it has one: a deciding refusal, or every step done.
fn track_decision(steps: &[StepRow], track: &str) -> Option<&'static str> {
    let mine: Vec<&StepRow> = steps
        .iter()
        .filter(|s| s.track == track && counts(s))
        .collect();
    if mine
        .iter()
        .any(|s| s.state == STEP_REFUSED && s.refusal_decides == 1)
    {
        return Some("disapproved");
    }
    if mine.iter().any(|s| is_live(s)) {
        return None;
    }
    if mine.iter().any(|s| s.state == STEP_DEEMED) {
        Some("deemed_approved")
    } else {
        Some("approved")
    }
}

/// The case's decision once every track has one: any refusal decides; a deemed approval is
/// recorded as such.
fn case_decision(steps: &[StepRow]) -> Option<&'static str> {
    let tracks: BTreeSet<&str> = steps.iter().map(|s| s.track.as_str()).collect();
    let mut out = "approved";
    for t in tracks {
        match track_decision(steps, t)? {
            "disapproved" => out = "disapproved",
            "deemed_approved" if out == "approved" => out = "deemed_approved",
            _ => {}
        }
    }
    Some(out)
}

// ---------------------------------------------------------------- the working set of one change

/// A case loaded for a change: the pinned catalog, the case, its handling and steps.
pub(crate) struct Working {
    pub catalog: std::sync::Arc<Catalog>,
    pub case: CaseRow,
    pub assessment: CaseAssessment,
    pub handling: HandlingRow,
    pub steps: Vec<StepRow>,
    expected_version: i64,
    touched: BTreeSet<String>,
    cancel_steps: Vec<String>,
    cancel_kinds: Vec<String>,
    due: Vec<NewDueItem>,
    notices: Vec<NewNotice>,
    events: Vec<NewEvent>,
    case_status: Option<String>,
    application: Option<String>,
    move_to_catalog: Option<String>,
    today: NaiveDate,
    now_ms: i64,
    warn_percent: u32,
}

impl Working {
    pub(crate) fn load(app: &App, case_id: &str) -> Result<Working, AppError> {
        let case = app
            .store
            .case(case_id)?
            .ok_or_else(|| AppError::NotFound(format!("办件 {case_id} 不存在")))?;
        let handling = app.store.handling(case_id)?.ok_or_else(|| {
            AppError::Conflict(format!(
                "办件 {case_id} 尚未受理（当前状态：{}），没有后台办理环节",
                case.status
            ))
        })?;
        let steps = app.store.steps_of_case(case_id)?;
        let catalog = app.registry.by_hash(&app.store, &case.catalog_hash)?;
        let assessment = parse_assessment(&case)?;
        Ok(Working {
            catalog,
            assessment,
            expected_version: handling.version,
            handling,
            steps,
            case,
            touched: BTreeSet::new(),
            cancel_steps: Vec::new(),
            cancel_kinds: Vec::new(),
            due: Vec::new(),
            notices: Vec::new(),
            events: Vec::new(),
            case_status: None,
            application: None,
            move_to_catalog: None,
            today: app.clock.today(),
            now_ms: app.clock.now_ms(),
            warn_percent: app.config.warning_percent,
        })
    }

    /// Load a case for a unit that holds it (an active step's unit or the deciding unit),
    /// while it is in progress; `what` names the action in the refusal.
    fn load_held(app: &App, user: &User, case_id: &str, what: &str) -> Result<Working, AppError> {
        let w = Working::load(app, case_id)?;
        if !holds_case(user, &w) {
            return Err(AppError::Forbidden(format!(
                "只有正在办理本办件的单位可以{what}"
            )));
        }
        Ok(w)
    }

    /// The handling rules of the case's matter under its pinned version.
    fn rules(&self) -> Option<&crate::domain::matter::Handling> {
        self.catalog
            .matter(&self.case.matter_code)
            .map(|m| &m.spec.handling)
    }

    fn days(&self) -> Days<'_> {
        Days::new(
            &self.catalog,
            self.case.township.as_deref(),
            self.warn_percent,
        )
    }

    fn event(&mut self, actor: &str, action: &str, detail: serde_json::Value) {
        self.events.push(NewEvent {
            actor: actor.to_string(),
            action: action.to_string(),
            catalog_hash: self.case.catalog_hash.clone(),
            detail: detail.to_string(),
        });
    }

    fn step_mut(&mut self, id: &str) -> Result<&mut StepRow, AppError> {
        self.steps
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| AppError::NotFound(format!("办理环节 {id} 不存在")))
    }

    fn finish_step(&mut self, id: &str) {
        self.touched.insert(id.to_string());
        self.cancel_steps.push(id.to_string());
    }

    fn push_step(&mut self, mut s: StepRow) -> String {
        s.id = format!("{}-S{:02}", self.case.id, self.steps.len() + 1);
        s.seq = i64::try_from(self.steps.len()).unwrap_or(i64::MAX);
        s.created_at = self.now_ms;
        s.updated_at = self.now_ms;
        let id = s.id.clone();
        self.touched.insert(id.clone());
        self.steps.push(s);
        id
    }

    /// Add a step that starts at once (a transfer or a countersign) with its timeout scheduled.
    fn push_active_step(&mut self, s: StepRow) -> String {
        // The due item names the step by the id `push_step` gives it.
        let id = self.push_step(s);
        if let Some(s) = self.steps.last() {
            self.due.extend(step_due_item(s));
        }
        id
    }

    fn ensure_open(&self) -> Result<(), AppError> {
        match self.handling.state.as_str() {
            IN_PROGRESS => Ok(()),
            PAUSED => Err(AppError::Conflict(format!(
                "办件 {} 正在特别程序中（时限暂停），请先结束特别程序再办理",
                self.case.id
            ))),
            _ => Err(AppError::Conflict(format!(
                "办件 {} 已办结（{}），不能再办理",
                self.case.id,
                self.handling.decision.as_deref().unwrap_or("")
            ))),
        }
    }

    /// After steps changed: activate the next groups, schedule their timeouts, and decide the
    /// case when every track has a decision.
    fn advance(&mut self, actor: &str, refusal: Option<(&str, &str)>) -> Result<(), AppError> {
        let today = self.today;
        let now = self.now_ms;
        let mut newly = BTreeSet::new();
        {
            let days = Days::new(
                &self.catalog,
                self.case.township.as_deref(),
                self.warn_percent,
            );
            activate_next(&mut self.steps, &days, today, now, &mut newly);
        }
        for id in &newly {
            if let Some(s) = self.steps.iter().find(|s| &s.id == id) {
                self.due.extend(step_due_item(s));
            }
        }
        self.touched.extend(newly);
        if let Some(decision) = case_decision(&self.steps) {
            self.decide(actor, decision, refusal)?;
        }
        Ok(())
    }

    /// Record the case's decision, end the live steps and issue the result notice.
    fn decide(
        &mut self,
        actor: &str,
        decision: &str,
        refusal: Option<(&str, &str)>,
    ) -> Result<(), AppError> {
        let today = self.today;
        for i in 0..self.steps.len() {
            if is_live(&self.steps[i]) {
                self.steps[i].state = STEP_CANCELLED.into();
                self.steps[i].updated_at = self.now_ms;
                let id = self.steps[i].id.clone();
                self.finish_step(&id);
            }
        }
        {
            let days = Days::new(
                &self.catalog,
                self.case.township.as_deref(),
                self.warn_percent,
            );
            decide_now(&mut self.handling, &days, decision, today);
        }
        self.cancel_kinds = vec![CASE_TIMEOUT.to_string(), DEFERRED_LAPSE.to_string()];
        let all: Vec<String> = self.steps.iter().map(|s| s.id.clone()).collect();
        self.cancel_steps.extend(all);
        self.case_status = Some(self.handling.state.clone());
        let kind = match decision {
            "approved" => NoticeKind::Approval,
            "deemed_approved" => NoticeKind::DeemedApproval,
            "terminated" => NoticeKind::Termination,
            _ => NoticeKind::Disapproval,
        };
        let matter = self.matter_name();
        let result_name = self.result_name();
        let mut paragraphs = Vec::new();
        let mut items = Vec::new();
        let applicant = self.case.applicant_name.clone();
        let received = notice::chinese_date(parse_day(&self.case.received_on)?);
        match kind {
            NoticeKind::Approval => paragraphs.push(format!(
                "{applicant}：您于{received}申请办理的“{matter}”，经审查，符合法定条件、标准，决定准予办理。{}",
                result_name
                    .as_ref()
                    .map(|r| format!("办理结果：{r}。"))
                    .unwrap_or_default()
            )),
            NoticeKind::DeemedApproval => paragraphs.push(format!(
                "{applicant}：您于{received}申请办理的“{matter}”，申请材料齐全，承办单位未在承诺时限内作出决定且未书面说明理由，依照本事项的超时默认办结规定，视为准予办理。{}",
                result_name
                    .as_ref()
                    .map(|r| format!("办理结果：{r}。"))
                    .unwrap_or_default()
            )),
            NoticeKind::Termination => paragraphs.push(format!(
                "{applicant}：您于{received}申请办理的“{matter}”系容缺受理，您承诺后补的材料未在约定期限内提交，根据容缺受理承诺书的约定，本申请终止办理。补齐材料后可重新申请。"
            )),
            _ => {
                paragraphs.push(format!(
                    "{applicant}：您于{received}申请办理的“{matter}”，经审查，决定不予办理，理由及依据如下。"
                ));
                let (reason, basis) = refusal.unwrap_or(("", ""));
                items.push(NoticeItem {
                    title: "不予办理的理由".into(),
                    detail: reason.to_string(),
                    basis: (!basis.is_empty()).then(|| basis.to_string()),
                    obtain_from: None,
                });
                paragraphs.push(
                    "如对本决定不服，可以自收到本决定书之日起六十日内依法申请行政复议，或者在六个月内依法提起行政诉讼。"
                        .to_string(),
                );
            }
        }
        if matches!(kind, NoticeKind::Approval | NoticeKind::DeemedApproval) {
            if let Some(d) = &self.handling.delivery_due {
                items.push(NoticeItem {
                    title: "领取".into(),
                    detail: format!(
                        "请于{}前到{}统一出件窗口领取（领取时核验原件），或选择邮寄送达",
                        notice::chinese_date(parse_day(d)?),
                        self.center_name()
                    ),
                    basis: Some("《中华人民共和国行政许可法》第四十四条".into()),
                    obtain_from: None,
                });
            }
        }
        self.notice(kind, paragraphs, items)?;
        self.event(
            actor,
            "decided",
            serde_json::json!({
                "decision": decision,
                "decided_on": today.to_string(),
                "on_time": self.handling.on_time == Some(1),
                "days_used": self.handling.days_used,
            }),
        );
        Ok(())
    }

    fn matter_name(&self) -> String {
        match &self.assessment {
            CaseAssessment::Bundle(b) => b.bundle_name.clone(),
            CaseAssessment::Matter(a) => a.matter_name.clone(),
        }
    }

    fn result_name(&self) -> Option<String> {
        let names: Vec<String> = self
            .parts()
            .iter()
            .filter_map(|a| self.catalog.matter(&a.matter_code))
            .map(|m| m.spec.result.name.clone())
            .collect();
        (!names.is_empty()).then(|| names.join("、"))
    }

    fn parts(&self) -> Vec<&Assessment> {
        match &self.assessment {
            CaseAssessment::Bundle(b) => b.matters.iter().collect(),
            CaseAssessment::Matter(a) => vec![a],
        }
    }

    fn center_name(&self) -> String {
        center_short_name(&self.catalog, self.case.township.as_deref()).1
    }

    fn notice(
        &mut self,
        kind: NoticeKind,
        paragraphs: Vec<String>,
        items: Vec<NoticeItem>,
    ) -> Result<(), AppError> {
        let (short, center, seal) = center_short_name(&self.catalog, self.case.township.as_deref());
        let matter = self.matter_name();
        let ctx = NoticeContext {
            case_id: &self.case.id,
            center: &center,
            seal: &seal,
            today: self.today,
            applicant_name: &self.case.applicant_name,
            matter: &matter,
        };
        let content = notice::content(kind, &ctx, paragraphs, items);
        let year = self.today.year();
        self.notices.push(NewNotice {
            // Unique: a case's handling version changes with every committed change.
            id: format!(
                "{}-N{}-{}",
                self.case.id,
                self.expected_version,
                self.notices.len() + 1
            ),
            kind: kind.as_str().to_string(),
            center_id: self.case.center_id.clone(),
            year,
            number_prefix: format!("{short}政务〔{year}〕{}字第", kind.series_char()),
            issued_on: self.today.to_string(),
            content: to_json(&content)?,
        });
        Ok(())
    }

    /// Commit everything collected, in one transaction.
    fn commit(self, app: &App, fired: Option<(i64, String)>) -> Result<ActionResult, AppError> {
        let steps = self
            .steps
            .iter()
            .filter(|s| self.touched.contains(&s.id))
            .cloned()
            .collect();
        let receipt = app.store.commit_handling(HandlingChange {
            case_id: self.case.id.clone(),
            expected_version: self.expected_version,
            handling: self.handling,
            steps,
            cancel_steps: self.cancel_steps,
            cancel_kinds: self.cancel_kinds,
            due: self.due,
            fired,
            case_status: self.case_status,
            application: self.application,
            move_to_catalog: self.move_to_catalog,
            notices: self.notices,
            events: self.events,
            now_ms: self.now_ms,
        })?;
        Ok(ActionResult {
            case: receipt.case,
            notices: receipt.notices,
        })
    }
}

/// What a change committed: the case and the notices it numbered.
#[derive(Debug, Clone)]
pub struct ActionResult {
    pub case: CaseRow,
    pub notices: Vec<crate::store::NoticeRow>,
}

// ---------------------------------------------------------------- who may act

/// The units a user acts for: an approver's department, or a clerk's center.
pub fn units_of(user: &User) -> Vec<String> {
    match user.role {
        Role::Approver => vec![user.unit.clone()],
        Role::Clerk => vec![format!("{}/center", user.unit)],
        _ => Vec::new(),
    }
}

fn acts_for(user: &User, unit: &str) -> bool {
    units_of(user).iter().any(|u| u == unit)
}

/// Pauses and extensions are asked for by a unit that holds the case: an active step's unit or
/// the deciding unit.
fn holds_case(user: &User, w: &Working) -> bool {
    acts_for(user, &w.handling.decider_unit)
        || w.steps
            .iter()
            .any(|s| s.state == STEP_ACTIVE && acts_for(user, &s.unit_id))
}

// ---------------------------------------------------------------- approver actions

/// What an approver does with a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepAction {
    /// 同意 (for a review step: forward the opinion and all materials to the next step).
    Approve {
        #[serde(default)]
        comment: Option<String>,
    },
    /// 不同意, with the reason and legal basis.
    Refuse {
        reason: String,
        basis: String,
        #[serde(default)]
        comment: Option<String>,
    },
    /// 退回 to an earlier step of the route, by its step key.
    Return { to_step: String, reason: String },
    /// 转办 to another unit.
    Transfer { unit: String, reason: String },
    /// 加签: add a countersigning department alongside this step.
    Countersign { unit: String, reason: String },
}

impl StepAction {
    fn texts(&self) -> Vec<&str> {
        match self {
            Self::Approve { comment } => comment.iter().map(String::as_str).collect(),
            Self::Refuse {
                reason,
                basis,
                comment,
            } => {
                let mut v = vec![reason.as_str(), basis.as_str()];
                v.extend(comment.iter().map(String::as_str));
                v
            }
            Self::Return { to_step, reason } => vec![to_step, reason],
            Self::Transfer { unit, reason } | Self::Countersign { unit, reason } => {
                vec![unit, reason]
            }
        }
    }

    /// Sizes: every text at most 2,000 characters; reasons are required.
    pub fn check(&self) -> Result<(), AppError> {
        if self.texts().iter().any(|t| t.chars().count() > 2000) {
            return Err(AppError::invalid(
                ErrorCode::TextTooLong,
                "意见、理由或依据最多2000字",
            ));
        }
        let required = match self {
            Self::Approve { .. } => Vec::new(),
            Self::Refuse { reason, basis, .. } => vec![reason, basis],
            Self::Return { to_step, reason } => vec![to_step, reason],
            Self::Transfer { unit, reason } | Self::Countersign { unit, reason } => {
                vec![unit, reason]
            }
        };
        if required.iter().any(|t| t.trim().is_empty()) {
            return Err(AppError::invalid(
                ErrorCode::ReasonRequired,
                "不同意、退回、转办和加签须写明理由（不同意还须写明法律依据）",
            ));
        }
        Ok(())
    }
}

/// A unit named in a transfer or countersign: a department of the county or of the case's
/// township (the case's jurisdiction).
fn unit_in_jurisdiction(
    catalog: &Catalog,
    township: Option<&str>,
    unit: &str,
) -> Result<(String, String, String), AppError> {
    let org = &catalog.org;
    let found = unit.split_once('/').and_then(|(place, dept)| {
        if place == org.county.id {
            org.county
                .departments
                .iter()
                .find(|d| d.id == dept)
                .map(|d| (d.name.clone(), "county"))
        } else if Some(place) == township {
            org.township(place)
                .and_then(|t| t.departments.iter().find(|d| d.id == dept))
                .map(|d| (d.name.clone(), "township"))
        } else {
            None
        }
    });
    match found {
        Some((name, level)) => Ok((unit.to_string(), name, level.to_string())),
        None => Err(AppError::invalid(
            ErrorCode::UnknownUnit,
            format!("单位 {unit} 不是本县或本办件所在乡镇的部门，不能转办或加签"),
        )),
    }
}

/// Act on a step assigned to the user's unit.
pub fn act_on_step(
    app: &App,
    user: &User,
    case_id: &str,
    step_id: &str,
    action: &StepAction,
) -> Result<ActionResult, AppError> {
    action.check()?;
    let mut w = Working::load(app, case_id)?;
    let step = w
        .steps
        .iter()
        .find(|s| s.id == step_id)
        .cloned()
        .ok_or_else(|| AppError::NotFound(format!("办件 {case_id} 没有办理环节 {step_id}")))?;
    if !acts_for(user, &step.unit_id) {
        return Err(AppError::Forbidden(format!(
            "办理环节“{}”由{}办理，您无权操作",
            step.name, step.unit_name
        )));
    }
    w.ensure_open()?;
    if step.state != STEP_ACTIVE {
        return Err(AppError::Conflict(format!(
            "办理环节“{}”当前状态为 {}，不是待办",
            step.name, step.state
        )));
    }
    follow_marked_change(app, &mut w, &user.id);
    let today = w.today.to_string();
    let now = w.now_ms;
    let actor = user.id.as_str();
    match action {
        StepAction::Approve { comment } => {
            let s = w.step_mut(step_id)?;
            s.state = STEP_APPROVED.into();
            s.acted_by = Some(actor.to_string());
            s.acted_on = Some(today);
            s.comment = comment.clone();
            s.updated_at = now;
            w.finish_step(step_id);
            let report_up = step.role == "review";
            w.event(
                actor,
                "step_approved",
                serde_json::json!({
                    "step": step_id, "step_key": step.step_key, "unit": step.unit_id,
                    "comment": comment,
                    // Art. 35: a review forwards its opinion and every material; the next
                    // level does not ask the applicant again.
                    "forwarded_opinion": report_up,
                }),
            );
            w.advance(actor, None)?;
        }
        StepAction::Refuse {
            reason,
            basis,
            comment,
        } => {
            let s = w.step_mut(step_id)?;
            s.state = STEP_REFUSED.into();
            s.acted_by = Some(actor.to_string());
            s.acted_on = Some(today);
            s.comment = Some(match comment {
                Some(c) => format!("{reason}；{c}"),
                None => reason.clone(),
            });
            s.basis = Some(basis.clone());
            s.updated_at = now;
            w.finish_step(step_id);
            w.event(
                actor,
                "step_refused",
                serde_json::json!({
                    "step": step_id, "step_key": step.step_key, "unit": step.unit_id,
                    "reason": reason, "basis": basis, "comment": comment,
                    "decides": step.refusal_decides == 1,
                }),
            );
            w.advance(actor, Some((reason, basis)))?;
        }
        StepAction::Return { to_step, reason } => return_to(&mut w, &step, to_step, reason, actor)?,
        StepAction::Transfer { unit, reason } => {
            let (unit_id, unit_name, level) =
                unit_in_jurisdiction(&w.catalog, w.case.township.as_deref(), unit)?;
            if unit_id == step.unit_id {
                return Err(AppError::invalid(
                    ErrorCode::SameUnit,
                    "转办的目标单位与当前单位相同",
                ));
            }
            let s = w.step_mut(step_id)?;
            s.state = STEP_TRANSFERRED.into();
            s.acted_by = Some(actor.to_string());
            s.acted_on = Some(today);
            s.comment = Some(reason.clone());
            s.updated_at = now;
            w.finish_step(step_id);
            // The deadline runs on: the new unit inherits the step's due date.
            let new_id = w.push_active_step(StepRow {
                unit_id: unit_id.clone(),
                unit_name,
                level,
                state: STEP_ACTIVE.into(),
                acted_by: None,
                acted_on: None,
                comment: None,
                basis: None,
                ..step.clone()
            });
            w.event(
                actor,
                "step_transferred",
                serde_json::json!({
                    "step": step_id, "to_step": new_id, "from_unit": step.unit_id,
                    "to_unit": unit_id, "reason": reason,
                }),
            );
        }
        StepAction::Countersign { unit, reason } => {
            if step.allow_countersign != 1 {
                return Err(AppError::Conflict(format!(
                    "办理环节“{}”按规则不允许加签",
                    step.name
                )));
            }
            let (unit_id, unit_name, level) =
                unit_in_jurisdiction(&w.catalog, w.case.township.as_deref(), unit)?;
            if w.steps.iter().any(|s| {
                s.track == step.track
                    && s.group_no == step.group_no
                    && is_live(s)
                    && s.unit_id == unit_id
            }) {
                return Err(AppError::Conflict(format!(
                    "{unit_name} 已在本环节办理，无需重复加签"
                )));
            }
            let new_id = w.push_active_step(StepRow {
                step_key: format!("{}+countersign", step.step_key),
                name: format!("{}（加签会签）", step.name),
                role: "countersign".into(),
                unit_id: unit_id.clone(),
                unit_name,
                level,
                state: STEP_ACTIVE.into(),
                allow_countersign: 0,
                refusal_decides: 1,
                acted_by: None,
                acted_on: None,
                comment: None,
                basis: None,
                ..step.clone()
            });
            w.event(
                actor,
                "step_countersign_added",
                serde_json::json!({
                    "step": step_id, "countersign_step": new_id, "unit": unit_id,
                    "reason": reason,
                }),
            );
        }
    }
    w.commit(app, None)
}

/// A rule change marked `apply_to_open_cases` reaches an open case at its next step: from here
/// on the case follows the active version (its history says so).
fn follow_marked_change(app: &App, w: &mut Working, actor: &str) {
    let active = app.registry.current();
    if super::intake::moves_to(&active, &w.case) {
        let from = std::mem::replace(&mut w.case.catalog_hash, active.hash.clone());
        w.catalog = active.clone();
        w.move_to_catalog = Some(active.hash.clone());
        w.event(
            actor,
            "catalog_changed",
            serde_json::json!({ "from": from, "to": active.hash, "reason": "apply_to_open_cases" }),
        );
    }
}

/// 退回: the current step and everything from the target step's group on are run again from
/// the target step. The case's own deadline does not move.
fn return_to(
    w: &mut Working,
    step: &StepRow,
    to_key: &str,
    reason: &str,
    actor: &str,
) -> Result<(), AppError> {
    let target = w
        .steps
        .iter()
        .filter(|s| s.track == step.track && counts(s) && s.step_key == to_key)
        .filter(|s| s.group_no < step.group_no)
        .max_by_key(|s| s.seq)
        .cloned()
        .ok_or_else(|| {
            AppError::invalid(
                ErrorCode::UnknownStep,
                format!("只能退回到本办件此前的环节；“{to_key}”不是此前的环节"),
            )
        })?;
    let today = w.today.to_string();
    let now = w.now_ms;
    // Everything of the track from the target's group on is replaced by fresh copies.
    let replaced: Vec<StepRow> = w
        .steps
        .iter()
        .filter(|s| s.track == step.track && counts(s) && s.group_no >= target.group_no)
        .filter(|s| !s.step_key.ends_with("+countersign"))
        .cloned()
        .collect();
    for i in 0..w.steps.len() {
        let s = &w.steps[i];
        if s.track == step.track && counts(s) && s.group_no >= target.group_no {
            let id = s.id.clone();
            let st = &mut w.steps[i];
            st.state = if st.id == step.id {
                STEP_RETURNED.into()
            } else {
                STEP_SUPERSEDED.into()
            };
            if st.id == step.id {
                st.acted_by = Some(actor.to_string());
                st.acted_on = Some(today.clone());
                st.comment = Some(reason.to_string());
            }
            st.updated_at = now;
            w.finish_step(&id);
        }
    }
    for old in replaced {
        w.push_step(StepRow {
            state: STEP_PENDING.into(),
            started_on: None,
            due_date: None,
            warn_on: None,
            acted_by: None,
            acted_on: None,
            comment: None,
            basis: None,
            ..old
        });
    }
    w.event(
        actor,
        "step_returned",
        serde_json::json!({
            "step": step.id, "step_key": step.step_key, "to_step_key": to_key, "reason": reason,
        }),
    );
    w.advance(actor, None)
}

// ---------------------------------------------------------------- clock: pause and extension

/// 特别程序 (Art. 45): the clock stops from today until it is resumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    pub kind: SpecialProcedureKind,
    pub reason: String,
    /// Expected end (told to the applicant).
    pub expected_end: NaiveDate,
}

/// The running 特别程序, as stored on the handling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Pause {
    pub kind: SpecialProcedureKind,
    pub reason: String,
    pub started_on: NaiveDate,
    pub expected_end: NaiveDate,
    pub by: String,
}

fn check_text(label: &str, t: &str) -> Result<(), AppError> {
    let n = t.trim().chars().count();
    if n == 0 || t.chars().count() > 2000 {
        return Err(AppError::invalid(
            ErrorCode::TextRequired,
            format!("{label}不能为空，最多2000字"),
        ));
    }
    Ok(())
}

pub fn pause(
    app: &App,
    user: &User,
    case_id: &str,
    req: &PauseRequest,
) -> Result<ActionResult, AppError> {
    check_text("特别程序的理由", &req.reason)?;
    let mut w = Working::load_held(app, user, case_id, "启动特别程序")?;
    w.ensure_open()?;
    let spec = w
        .rules()
        .map(|h| h.special_procedures.clone())
        .unwrap_or_default();
    if !spec.is_empty() && !spec.contains(&req.kind) {
        return Err(AppError::invalid(
            ErrorCode::SpecialProcedureNotAllowed,
            format!(
                "本事项的特别程序为：{}；不包括“{}”",
                spec.iter()
                    .map(|k| k.label())
                    .collect::<Vec<_>>()
                    .join("、"),
                req.kind.label()
            ),
        ));
    }
    if req.expected_end < w.today {
        return Err(AppError::invalid(
            ErrorCode::ExpectedEndPast,
            "特别程序的预计结束日期不能早于今天",
        ));
    }
    let p = Pause {
        kind: req.kind,
        reason: req.reason.clone(),
        started_on: w.today,
        expected_end: req.expected_end,
        by: user.id.clone(),
    };
    w.handling.state = PAUSED.into();
    w.handling.pause = Some(to_json(&p)?);
    w.case_status = Some(PAUSED.into());
    // Nothing fires while the clock stands still; resuming schedules again.
    let active: Vec<String> = w
        .steps
        .iter()
        .filter(|s| s.state == STEP_ACTIVE)
        .map(|s| s.id.clone())
        .collect();
    w.cancel_steps.extend(active);
    w.cancel_kinds.push(CASE_TIMEOUT.into());
    let matter = w.matter_name();
    w.notice(
        NoticeKind::SpecialProcedure,
        vec![
            format!(
                "{}：您申请办理的“{matter}”，需要进行{}。根据《中华人民共和国行政许可法》第四十五条，{}所需时间不计算在办理期限内。",
                w.case.applicant_name,
                req.kind.label(),
                req.kind.label()
            ),
        ],
        vec![
            NoticeItem {
                title: "特别程序".into(),
                detail: format!(
                    "{}：{}（自{}起，预计{}结束）",
                    req.kind.label(),
                    req.reason,
                    notice::chinese_date(w.today),
                    notice::chinese_date(req.expected_end)
                ),
                basis: Some("《中华人民共和国行政许可法》第四十五条".into()),
                obtain_from: None,
            },
        ],
    )?;
    w.event(
        &user.id,
        "paused",
        serde_json::json!({
            "kind": req.kind, "reason": req.reason, "expected_end": req.expected_end,
        }),
    );
    w.commit(app, None)
}

/// End the 特别程序: the deadlines move by the working days it took.
pub fn resume(app: &App, user: &User, case_id: &str) -> Result<ActionResult, AppError> {
    let mut w = Working::load_held(app, user, case_id, "结束特别程序")?;
    if w.handling.state != PAUSED {
        return Err(AppError::Conflict(format!("办件 {case_id} 不在特别程序中")));
    }
    let p: Pause = serde_json::from_str(w.handling.pause.as_deref().unwrap_or(""))
        .map_err(|e| AppError::Corrupt(format!("case {case_id} pause: {e}")))?;
    let paused = w.days().between(p.started_on, w.today);
    let n = u32::try_from(paused).unwrap_or(0);
    shift_deadlines(&mut w, n);
    w.handling.paused_days += paused;
    w.handling.state = IN_PROGRESS.into();
    w.handling.pause = None;
    w.case_status = Some(IN_PROGRESS.into());
    reschedule(&mut w);
    let matter = w.matter_name();
    let due_text = match &w.handling.due_date {
        Some(d) => notice::chinese_date(parse_day(d)?),
        None => "（超出已发布的工作日历，另行告知）".into(),
    };
    w.notice(
        NoticeKind::SpecialProcedure,
        vec![format!(
            "{}：您申请办理的“{matter}”的{}已于{}结束，用时{paused}个工作日，不计入办理期限。承诺办结日期相应顺延至{due_text}。",
            w.case.applicant_name,
            p.kind.label(),
            notice::chinese_date(w.today),
        )],
        Vec::new(),
    )?;
    w.event(
        &user.id,
        "resumed",
        serde_json::json!({
            "kind": p.kind, "started_on": p.started_on, "paused_working_days": paused,
            "new_due_date": w.handling.due_date,
        }),
    );
    w.commit(app, None)
}

/// Move the case's and its active steps' deadlines by `n` working days.
fn shift_deadlines(w: &mut Working, n: u32) {
    if n == 0 {
        return;
    }
    let (due, stat, warn) = {
        let days = w.days();
        (
            days.add_str(w.handling.due_date.as_deref(), n),
            days.add_str(w.handling.statutory_due.as_deref(), n),
            days.add_str(w.handling.warn_on.as_deref(), n),
        )
    };
    w.handling.due_date = due;
    w.handling.statutory_due = stat;
    w.handling.warn_on = warn;
    let now = w.now_ms;
    let shifted: Vec<(usize, Option<String>, Option<String>)> = {
        let days = w.days();
        w.steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state == STEP_ACTIVE)
            .map(|(i, s)| {
                (
                    i,
                    days.add_str(s.due_date.as_deref(), n),
                    days.add_str(s.warn_on.as_deref(), n),
                )
            })
            .collect()
    };
    for (i, due, warn) in shifted {
        let s = &mut w.steps[i];
        s.due_date = due;
        s.warn_on = warn;
        s.updated_at = now;
        let id = s.id.clone();
        w.touched.insert(id);
    }
}

/// Replace the pending timeouts of the case and its active steps by ones at the current dates.
fn reschedule(w: &mut Working) {
    let active: Vec<StepRow> = w
        .steps
        .iter()
        .filter(|s| s.state == STEP_ACTIVE)
        .cloned()
        .collect();
    for s in &active {
        w.cancel_steps.push(s.id.clone());
        w.due.extend(step_due_item(s));
    }
    w.cancel_kinds.push(CASE_TIMEOUT.into());
    if let Some(d) = w
        .handling
        .due_date
        .as_deref()
        .and_then(|d| d.parse::<NaiveDate>().ok())
    {
        w.due.push(case_due_item(&w.case.id, CASE_TIMEOUT, d));
    }
}

/// Art. 42 extension, approved by the head of the agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionRequest {
    /// The head who approved it (本机关负责人 / 本级人民政府负责人).
    pub approved_by: String,
    pub reason: String,
}

pub fn extend(
    app: &App,
    user: &User,
    case_id: &str,
    req: &ExtensionRequest,
) -> Result<ActionResult, AppError> {
    check_text("批准延期的负责人", &req.approved_by)?;
    check_text("延期理由", &req.reason)?;
    let mut w = Working::load_held(app, user, case_id, "申请延长办理期限")?;
    w.ensure_open()?;
    let handling = w
        .catalog
        .matter(&w.case.matter_code)
        .map(|m| {
            (
                m.spec.handling.extension_days,
                m.spec.handling.max_extensions,
            )
        })
        .unwrap_or((10, 1));
    let (ext_days, max) = handling;
    if w.handling.extensions >= i64::from(max) {
        return Err(AppError::Conflict(format!(
            "本事项的办理期限最多延长{max}次，已延长{}次",
            w.handling.extensions
        )));
    }
    if let Some(due) = w.handling.due_date.as_deref() {
        if w.today > parse_day(due)? {
            return Err(AppError::Conflict(
                "已超过办理期限，不能再延长；请尽快作出决定".into(),
            ));
        }
    }
    shift_deadlines(&mut w, ext_days);
    w.handling.extensions += 1;
    reschedule(&mut w);
    let matter = w.matter_name();
    let due_text = match &w.handling.due_date {
        Some(d) => notice::chinese_date(parse_day(d)?),
        None => "（超出已发布的工作日历，另行告知）".into(),
    };
    w.notice(
        NoticeKind::Extension,
        vec![format!(
            "{}：您申请办理的“{matter}”，因{}，经{}批准，根据《中华人民共和国行政许可法》第四十二条，办理期限延长{ext_days}个工作日，至{due_text}。",
            w.case.applicant_name, req.reason, req.approved_by
        )],
        Vec::new(),
    )?;
    w.event(
        &user.id,
        "extended",
        serde_json::json!({
            "approved_by": req.approved_by, "reason": req.reason, "working_days": ext_days,
            "new_due_date": w.handling.due_date,
        }),
    );
    w.commit(app, None)
}

// ---------------------------------------------------------------- 容缺 materials

/// The materials promised under 容缺, supplied now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeferredSupply {
    pub materials: Vec<crate::domain::application::PresentedMaterial>,
}

pub fn supply_deferred(
    app: &App,
    user: &User,
    case_id: &str,
    req: &DeferredSupply,
) -> Result<ActionResult, AppError> {
    let mut w = Working::load(app, case_id)?;
    if !user.takes_intakes() || !may_serve(user, &w.case) {
        return Err(AppError::Forbidden(
            "容缺材料由受理本办件的窗口或代办员接收".into(),
        ));
    }
    if w.handling.decision.is_some() {
        return Err(AppError::Conflict(format!("办件 {case_id} 已办结")));
    }
    let owed: Vec<String> = w
        .parts()
        .iter()
        .flat_map(|a| a.deferred.iter().map(|d| d.id.clone()))
        .collect();
    if req.materials.is_empty() || req.materials.len() > 100 {
        return Err(AppError::invalid(
            ErrorCode::Materials,
            "请提交容缺后补的材料（1到100项）",
        ));
    }
    for m in &req.materials {
        if !owed.contains(&m.id) {
            return Err(AppError::invalid(
                ErrorCode::NotDeferred,
                format!("材料 {} 不是本办件容缺后补的材料", m.id),
            ));
        }
    }
    let mut application: crate::domain::application::Application =
        serde_json::from_str(&w.case.application)
            .map_err(|e| AppError::Corrupt(format!("case {case_id} application: {e}")))?;
    for m in &req.materials {
        application.materials.retain(|x| x.id != m.id);
        application.materials.push(m.clone());
    }
    // Check the supplied materials against their standards under the case's own version.
    let supplied: Vec<&str> = req.materials.iter().map(|m| m.id.as_str()).collect();
    let defects = super::intake::deferred_defects(&w.catalog, &w.case, &application, &supplied)?;
    if !defects.is_empty() {
        return Err(AppError::Invalid {
            code: ErrorCode::MaterialDefective,
            message: "补交的容缺材料不符合要求，请按告知内容更正".into(),
            details: serde_json::to_value(&defects).unwrap_or_default(),
        });
    }
    let still_owed: Vec<&String> = owed
        .iter()
        .filter(|id| !application.materials.iter().any(|m| &&m.id == id))
        .collect();
    if still_owed.is_empty() {
        w.cancel_kinds.push(DEFERRED_LAPSE.into());
    }
    w.application = Some(to_json(&application)?);
    w.event(
        &user.id,
        "deferred_supplied",
        serde_json::json!({ "materials": supplied, "still_owed": still_owed }),
    );
    w.commit(app, None)
}

// ---------------------------------------------------------------- scheduler transitions

/// Carry out one due item (exactly once: the change marks it done under `state = 'pending'`).
/// Returns what was done, or `None` when there was nothing left to do.
pub(crate) fn fire(
    app: &App,
    item: &crate::store::DueItemRow,
    instance: &str,
) -> Result<Option<String>, AppError> {
    let mut w = Working::load(app, &item.case_id)?;
    // The transition takes effect on the day the deadline passed, also when it is applied
    // late (after downtime).
    let due_on = parse_day(&item.due_on)?;
    let effective = due_on.succ_opt().unwrap_or(due_on);
    w.today = effective;
    let actor = "scheduler";
    let mut did = None;
    let open = w.handling.state == IN_PROGRESS;
    match item.kind.as_str() {
        STEP_TIMEOUT if open => {
            let step_id = item.step_id.clone().unwrap_or_default();
            let step = w.steps.iter().find(|s| s.id == step_id).cloned();
            if let Some(step) = step.filter(|s| s.state == STEP_ACTIVE) {
                let policy = parse_policy(&step.timeout_policy);
                let detail = serde_json::json!({
                    "step": step.id, "step_key": step.step_key, "unit": step.unit_id,
                    "due_date": step.due_date, "policy": policy,
                });
                match policy {
                    TimeoutPolicy::Remind => w.event(actor, "step_overdue_reminded", detail),
                    TimeoutPolicy::Escalate => {
                        w.handling.escalated = 1;
                        w.event(actor, "step_overdue_escalated", detail);
                    }
                    TimeoutPolicy::DeemApproved => {
                        let now = w.now_ms;
                        let s = w.step_mut(&step_id)?;
                        s.state = STEP_DEEMED.into();
                        s.acted_by = Some(actor.into());
                        s.acted_on = Some(effective.to_string());
                        s.comment = Some("超时未办理，按规则视为同意（超时默认）".into());
                        s.updated_at = now;
                        w.finish_step(&step_id);
                        w.event(actor, "step_deemed_approved", detail);
                        w.advance(actor, None)?;
                    }
                }
                did = Some(format!("{}:{}", item.kind, snake(&policy)));
            }
        }
        CASE_TIMEOUT if open => {
            let policy = w
                .catalog
                .matter(&w.case.matter_code)
                .map(|m| m.spec.handling.timeout)
                .unwrap_or_default();
            let detail = serde_json::json!({
                "due_date": w.handling.due_date, "policy": policy,
            });
            match policy {
                TimeoutPolicy::Remind => w.event(actor, "case_overdue_reminded", detail),
                TimeoutPolicy::Escalate => {
                    w.handling.escalated = 1;
                    w.event(actor, "case_overdue_escalated", detail);
                }
                TimeoutPolicy::DeemApproved => {
                    w.event(actor, "case_deemed_approved", detail);
                    w.decide(actor, "deemed_approved", None)?;
                }
            }
            did = Some(format!("{}:{}", item.kind, snake(&policy)));
        }
        DEFERRED_LAPSE if w.handling.decision.is_none() => {
            let application: crate::domain::application::Application =
                serde_json::from_str(&w.case.application)
                    .map_err(|e| AppError::Corrupt(format!("case application: {e}")))?;
            let missing: Vec<String> = w
                .parts()
                .iter()
                .flat_map(|a| a.deferred.iter())
                .filter(|d| d.supply_by.date.is_some_and(|by| by < effective))
                .filter(|d| !application.materials.iter().any(|m| m.id == d.id))
                .map(|d| d.name.clone())
                .collect();
            if !missing.is_empty() {
                let lapse = w
                    .catalog
                    .matter(&w.case.matter_code)
                    .map(|m| m.spec.handling.deferred_lapse)
                    .unwrap_or_default();
                w.event(
                    actor,
                    "deferred_lapsed",
                    serde_json::json!({ "missing": missing, "lapse": lapse }),
                );
                let reason = format!(
                    "容缺受理时承诺后补的材料（{}）未在约定期限内提交",
                    missing.join("、")
                );
                match lapse {
                    DeferredLapse::Terminate => w.decide(actor, "terminated", None)?,
                    DeferredLapse::Disapprove => {
                        w.decide(actor, "disapproved", Some((&reason, "容缺受理承诺书")))?
                    }
                }
                did = Some(format!("{}:{}", item.kind, snake(&lapse)));
            }
        }
        _ => {}
    }
    w.commit(app, Some((item.id, instance.to_string())))?;
    Ok(did)
}

// ---------------------------------------------------------------- delivery and rating

/// Whether the user serves this case at the window: a clerk of its center, or the village agent
/// who submitted it.
fn may_serve(user: &User, case: &CaseRow) -> bool {
    match user.role {
        Role::Clerk => user.unit == case.center_id,
        Role::Agent => case.agent_id.as_deref() == Some(user.id.as_str()),
        _ => false,
    }
}

/// How a result reached the applicant (统一窗口出件).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeliveryRequest {
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
}

pub fn deliver(
    app: &App,
    user: &User,
    case_id: &str,
    req: &DeliveryRequest,
) -> Result<ActionResult, AppError> {
    let mut w = Working::load(app, case_id)?;
    if !may_serve(user, &w.case) {
        return Err(AppError::Forbidden(
            "结果由受理本办件的中心统一出件窗口（或代办员）送达".into(),
        ));
    }
    if w.handling.state != DECIDED {
        return Err(AppError::Conflict(format!(
            "办件 {case_id} 尚未作出决定，没有可送达的结果"
        )));
    }
    if w.handling.delivered_on.is_some() {
        return Err(AppError::Conflict(format!("办件 {case_id} 的结果已送达")));
    }
    match req {
        DeliveryRequest::WindowPickup {
            originals_checked, ..
        } => {
            if !originals_checked {
                return Err(AppError::invalid(
                    ErrorCode::OriginalsNotChecked,
                    "窗口领取前须核验原件（originals_checked 应为 true）",
                ));
            }
        }
        DeliveryRequest::Mail {
            carrier,
            tracking_number,
        } => {
            check_text("快递公司", carrier)?;
            check_text("运单号", tracking_number)?;
        }
        DeliveryRequest::ViaAgent { .. } => {
            if w.case.agent_id.is_none() {
                return Err(AppError::invalid(
                    ErrorCode::NotAgentCase,
                    "本办件不是代办件，不能由代办员带回",
                ));
            }
        }
    }
    let mut detail = serde_json::to_value(req).unwrap_or_default();
    if let Some(o) = detail.as_object_mut() {
        o.insert("by".into(), serde_json::Value::String(user.id.clone()));
    }
    let on_time = w
        .handling
        .delivery_due
        .as_deref()
        .and_then(|d| d.parse::<NaiveDate>().ok())
        .is_none_or(|due| w.today <= due);
    w.handling.delivered_on = Some(w.today.to_string());
    w.handling.delivery = Some(detail.to_string());
    w.case_status = Some("delivered".into());
    w.event(
        &user.id,
        "delivered",
        serde_json::json!({ "delivery": detail, "within_limit": on_time }),
    );
    w.commit(app, None)
}

/// 好差评: five levels, 5 = 非常满意 … 1 = 非常不满意.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    pub level: u8,
    #[serde(default)]
    pub comment: Option<String>,
}

pub fn rating_label(level: i64) -> &'static str {
    match level {
        5 => "非常满意",
        4 => "满意",
        3 => "基本满意",
        2 => "不满意",
        _ => "非常不满意",
    }
}

pub fn rate(
    app: &App,
    user: &User,
    case_id: &str,
    req: &RatingRequest,
) -> Result<ActionResult, AppError> {
    if !(1..=5).contains(&req.level) {
        return Err(AppError::invalid(
            ErrorCode::RatingLevel,
            "评价等级应为1（非常不满意）到5（非常满意）",
        ));
    }
    if req
        .comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > 500)
    {
        return Err(AppError::invalid(
            ErrorCode::TextTooLong,
            "评价内容最多500字",
        ));
    }
    let mut w = Working::load(app, case_id)?;
    if !may_serve(user, &w.case) {
        return Err(AppError::Forbidden(
            "评价由受理本办件的窗口（或代办员）为申请人登记".into(),
        ));
    }
    if w.handling.decision.is_none() {
        return Err(AppError::Conflict(format!(
            "办件 {case_id} 尚未办结，办结后方可评价"
        )));
    }
    if w.handling.rating.is_some() {
        return Err(AppError::Conflict(format!(
            "办件 {case_id} 已评价（一次一评）"
        )));
    }
    let level = i64::from(req.level);
    w.handling.rating = Some(level);
    w.handling.rating_comment = req.comment.clone();
    w.handling.rated_on = Some(w.today.to_string());
    let bad = level <= 2;
    if bad {
        let due = w.days().add(w.today, app.config.followup_days);
        w.handling.followup_due = Some(due.map_or_else(|| w.today.to_string(), |d| d.to_string()));
    }
    w.event(
        &user.id,
        "rated",
        serde_json::json!({
            "level": level, "label": rating_label(level), "bad": bad,
            "followup_due": w.handling.followup_due,
        }),
    );
    w.commit(app, None)
}

/// Closing the follow-up of a 差评.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowupClose {
    /// What was done (整改情况、回访结果).
    pub note: String,
}

pub fn close_followup(
    app: &App,
    user: &User,
    case_id: &str,
    req: &FollowupClose,
) -> Result<ActionResult, AppError> {
    check_text("整改回访情况", &req.note)?;
    let mut w = Working::load(app, case_id)?;
    let county = w.catalog.org.county.id.clone();
    let allowed = match user.role {
        Role::Supervisor => user.unit == county || user.unit == w.case.center_id,
        _ => false,
    };
    if !allowed {
        return Err(AppError::Forbidden(
            "差评整改由本中心或县级督查人员办结".into(),
        ));
    }
    if w.handling.followup_due.is_none() || w.handling.followup_closed_on.is_some() {
        return Err(AppError::Conflict(format!(
            "办件 {case_id} 没有待办结的差评整改"
        )));
    }
    let overdue = w
        .handling
        .followup_due
        .as_deref()
        .and_then(|d| d.parse::<NaiveDate>().ok())
        .is_some_and(|d| w.today > d);
    w.handling.followup_closed_on = Some(w.today.to_string());
    w.handling.followup_note = Some(req.note.clone());
    w.event(
        &user.id,
        "followup_closed",
        serde_json::json!({ "note": req.note, "overdue": overdue }),
    );
    w.commit(app, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, track: &str, group: i64, state: &str) -> StepRow {
        StepRow {
            id: id.into(),
            case_id: "c".into(),
            track: track.into(),
            seq: 0,
            group_no: group,
            step_key: id.into(),
            name: id.into(),
            role: "decide".into(),
            unit_id: "u".into(),
            unit_name: "u".into(),
            level: "county".into(),
            state: state.into(),
            days: 5,
            started_on: None,
            due_date: None,
            warn_on: None,
            allow_countersign: 0,
            refusal_decides: 1,
            timeout_policy: "remind".into(),
            acted_by: None,
            acted_on: None,
            comment: None,
            basis: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_parallel_group_needs_every_department() {
        let mut steps = vec![
            step("a", "m", 0, STEP_APPROVED),
            step("b", "m", 0, STEP_ACTIVE),
        ];
        assert_eq!(case_decision(&steps), None);
        steps[1].state = STEP_APPROVED.into();
        assert_eq!(case_decision(&steps), Some("approved"));
    }

    #[test]
    fn one_refusal_decides_unless_the_rule_says_otherwise() {
        let mut steps = vec![
            step("a", "m", 0, STEP_REFUSED),
            step("b", "m", 0, STEP_ACTIVE),
        ];
        assert_eq!(case_decision(&steps), Some("disapproved"));
        steps[0].refusal_decides = 0;
        assert_eq!(case_decision(&steps), None);
        steps[1].state = STEP_APPROVED.into();
        assert_eq!(case_decision(&steps), Some("approved"));
    }

    #[test]
    fn replaced_steps_do_not_count_and_a_deemed_step_marks_the_decision() {
        let steps = vec![
            step("a", "m", 0, STEP_RETURNED),
            step("b", "m", 0, STEP_DEEMED),
            step("c", "n", 0, STEP_APPROVED),
            step("d", "n", 1, STEP_SUPERSEDED),
        ];
        assert_eq!(case_decision(&steps), Some("deemed_approved"));
    }

    #[test]
    fn colours_follow_the_dates() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let (w, due) = (Some("2026-03-10"), Some("2026-03-12"));
        assert_eq!(colour(d("2026-03-09"), w, due), "green");
        assert_eq!(colour(d("2026-03-10"), w, due), "yellow");
        assert_eq!(colour(d("2026-03-12"), w, due), "yellow");
        assert_eq!(colour(d("2026-03-13"), w, due), "red");
    }

    #[test]
    fn a_deadline_fires_at_midnight_china_time_after_its_day() {
        let due = "2026-10-09".parse::<NaiveDate>().unwrap();
        // 2026-10-10 00:00 +08:00 = 2026-10-09 16:00 UTC
        assert_eq!(fire_at_ms(due), 1_791_561_600_000);
    }
}

// ---------------------------------------------------------------- reading progress

/// One step as shown to clerks, approvers, agents and supervisors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct StepView {
    pub id: String,
    pub case_id: String,
    /// The matter this step belongs to.
    pub track: String,
    /// Steps with the same group run in parallel.
    pub group: i64,
    pub step_key: String,
    pub name: String,
    /// `review`, `decide` or `countersign`.
    pub role: String,
    pub unit_id: String,
    pub unit_name: String,
    pub level: String,
    /// `pending`, `active`, `approved`, `refused`, `deemed_approved`, `returned`,
    /// `transferred`, `superseded` or `cancelled`.
    pub state: String,
    pub days: i64,
    pub started_on: Option<String>,
    pub due_date: Option<String>,
    /// `green`, `yellow` or `red` for an active step; `null` otherwise.
    pub colour: Option<String>,
    pub timeout_policy: String,
    pub allow_countersign: bool,
    pub acted_by: Option<String>,
    pub acted_on: Option<String>,
    /// The opinion or reason (a review's opinion is forwarded with the case, Art. 35).
    pub comment: Option<String>,
    pub basis: Option<String>,
}

impl StepView {
    pub fn new(s: &StepRow, today: NaiveDate) -> Self {
        Self {
            id: s.id.clone(),
            case_id: s.case_id.clone(),
            track: s.track.clone(),
            group: s.group_no,
            step_key: s.step_key.clone(),
            name: s.name.clone(),
            role: s.role.clone(),
            unit_id: s.unit_id.clone(),
            unit_name: s.unit_name.clone(),
            level: s.level.clone(),
            state: s.state.clone(),
            days: s.days,
            started_on: s.started_on.clone(),
            due_date: s.due_date.clone(),
            colour: (s.state == STEP_ACTIVE)
                .then(|| colour(today, s.warn_on.as_deref(), s.due_date.as_deref()).to_string()),
            timeout_policy: s.timeout_policy.clone(),
            allow_countersign: s.allow_countersign == 1,
            acted_by: s.acted_by.clone(),
            acted_on: s.acted_on.clone(),
            comment: s.comment.clone(),
            basis: s.basis.clone(),
        }
    }
}

/// Where an accepted case stands.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Progress {
    pub case_id: String,
    /// The case status (`accepted` … `in_progress`, `paused`, `decided`, `delivered`,
    /// `terminated`).
    pub status: String,
    /// `in_progress`, `paused`, `decided` or `terminated`.
    pub state: String,
    pub accepted_on: String,
    /// 承诺办结日期 after pauses and extensions.
    pub due_date: Option<String>,
    /// 法定办结日期 after pauses and extensions.
    pub statutory_due: Option<String>,
    /// `green`, `yellow` or `red` while in progress.
    pub colour: Option<String>,
    pub pause: Option<Pause>,
    pub paused_working_days: i64,
    pub extensions: i64,
    pub escalated: bool,
    /// `approved`, `disapproved`, `deemed_approved` or `terminated`.
    pub decision: Option<String>,
    pub decided_on: Option<String>,
    pub on_time: Option<bool>,
    pub working_days_used: Option<i64>,
    /// Art. 44 delivery limit.
    pub delivery_due: Option<String>,
    pub delivered_on: Option<String>,
    pub delivery: Option<serde_json::Value>,
    pub rating: Option<i64>,
    pub rating_label: Option<String>,
    pub rating_comment: Option<String>,
    pub followup_due: Option<String>,
    pub followup_closed_on: Option<String>,
    pub steps: Vec<StepView>,
}

/// The progress of a case the user may see: who may read the case, and the units that hold or
/// held one of its steps (after a transfer or countersign too).
pub fn progress(app: &App, user: &User, case_id: &str) -> Result<Progress, AppError> {
    let steps = app.store.steps_of_case(case_id)?;
    let units = units_of(user);
    let by_step = steps.iter().any(|s| units.contains(&s.unit_id));
    let case = if by_step {
        app.store
            .case(case_id)?
            .ok_or_else(|| AppError::NotFound(format!("办件 {case_id} 不存在")))?
    } else {
        super::intake::get_case(app, user, case_id)?.0
    };
    let h = app.store.handling(case_id)?.ok_or_else(|| {
        AppError::Conflict(format!(
            "办件 {case_id} 尚未受理（当前状态：{}），没有办理进度",
            case.status
        ))
    })?;
    let today = app.clock.today();
    let pause = match &h.pause {
        Some(p) => Some(
            serde_json::from_str::<Pause>(p)
                .map_err(|e| AppError::Corrupt(format!("case {case_id} pause: {e}")))?,
        ),
        None => None,
    };
    Ok(Progress {
        case_id: case.id.clone(),
        status: case.status.clone(),
        state: h.state.clone(),
        accepted_on: h.accepted_on.clone(),
        due_date: h.due_date.clone(),
        statutory_due: h.statutory_due.clone(),
        colour: (h.state == IN_PROGRESS)
            .then(|| colour(today, h.warn_on.as_deref(), h.due_date.as_deref()).to_string()),
        pause,
        paused_working_days: h.paused_days,
        extensions: h.extensions,
        escalated: h.escalated == 1,
        decision: h.decision.clone(),
        decided_on: h.decided_on.clone(),
        on_time: h.on_time.map(|v| v == 1),
        working_days_used: h.days_used,
        delivery_due: h.delivery_due.clone(),
        delivered_on: h.delivered_on.clone(),
        delivery: h
            .delivery
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok()),
        rating: h.rating,
        rating_label: h.rating.map(|r| rating_label(r).to_string()),
        rating_comment: h.rating_comment.clone(),
        followup_due: h.followup_due.clone(),
        followup_closed_on: h.followup_closed_on.clone(),
        steps: steps.iter().map(|s| StepView::new(s, today)).collect(),
    })
}

/// The steps waiting for the user's unit (approvers: their department; clerks: their center).
pub fn inbox(app: &App, user: &User, limit: i64) -> Result<Vec<StepView>, AppError> {
    let units = units_of(user);
    if units.is_empty() {
        return Err(AppError::Forbidden(
            "待办事项面向审批人员和窗口工作人员".into(),
        ));
    }
    let today = app.clock.today();
    Ok(app
        .store
        .inbox(&units, limit)?
        .iter()
        .map(|s| StepView::new(s, today))
        .collect())
}
