//! The case after its first answer, in three moves: load the case and its handling, let the
//! domain decide (`domain::handling::{open, apply}`, pure), commit the effects in one
//! transaction. A version conflict (someone changed the case meanwhile) is retried here, once
//! for every caller: the HTTP routes and the scheduler alike.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::access::{self, Action, CaseFacts, Denied};
use super::{App, AppError};
use crate::auth::{Role, User};
use crate::catalog::Catalog;
use crate::domain::case::Case;
use crate::domain::deadline::{Colour, WorkingDays};
use crate::domain::handling::{
    self as lifecycle, Actor, Command, Context, DeliveryRecord, Effects, EventKind, Handling, Part,
    PartStatus, Pause, Rating, Rejection, Rules,
};
use crate::domain::matter::Level;
use crate::domain::notice::{NoticeDraft, NoticeHeader};
use crate::domain::route::Decision;
use crate::domain::route::Step;
use crate::domain::unit::UnitId;
use crate::error_code::ErrorCode;
use crate::store::{
    case_of, CaseChange, CaseRow, IntakeReceipt, LifecycleWrite, NewEvent, NewNotice, NoticeRow,
    RequestKey, StoreError, StoredDueItem,
};

/// Attempts of one change when the case changed meanwhile (each attempt loads it again).
const ATTEMPTS: u32 = 3;

/// Run one load → decide → commit attempt again while it meets a version conflict (someone
/// changed the case meanwhile): the one retry loop of every change, whoever asks for it.
fn retrying<T>(mut attempt_once: impl FnMut() -> Result<T, AppError>) -> Result<T, AppError> {
    let mut attempt = 1;
    loop {
        match attempt_once() {
            Err(AppError::Store(StoreError::Stale(_))) if attempt < ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

impl From<Rejection> for AppError {
    fn from(r: Rejection) -> Self {
        match r.code {
            ErrorCode::Conflict => AppError::Conflict(r.message),
            ErrorCode::NotFound => AppError::NotFound(r.message),
            ErrorCode::Forbidden => AppError::Forbidden(r.message),
            code => AppError::invalid(code, r.message),
        }
    }
}

fn not_found(case_id: &str) -> AppError {
    AppError::NotFound(format!("办件 {case_id} 不存在"))
}

/// A case loaded for reading or changing it.
pub(crate) struct Loaded {
    /// The catalog version the case is pinned to.
    pub catalog: Arc<Catalog>,
    pub row: CaseRow,
    pub case: Case,
    pub handling: Handling,
}

impl Loaded {
    pub(crate) fn load(app: &App, case_id: &str) -> Result<Loaded, AppError> {
        let row = app.store.case(case_id)?.ok_or_else(|| not_found(case_id))?;
        let case = case_of(&row)?;
        let handling = app.store.handling(case_id)?;
        let catalog = app.registry.by_hash(&app.store, &case.catalog_hash)?;
        Ok(Loaded {
            catalog,
            row,
            case,
            handling,
        })
    }

    /// What the access policy needs to know.
    pub(crate) fn facts(&self) -> CaseFacts {
        facts(&self.case, &self.handling)
    }
}

/// The policy's facts of a case.
pub(crate) fn facts(case: &Case, h: &Handling) -> CaseFacts {
    CaseFacts {
        center_id: case.place.center_id.clone(),
        agent_id: case.place.agent_id.clone(),
        step_units: h.units_reached().iter().map(|u| u.to_string()).collect(),
    }
}

/// Ask the policy; a case out of the user's scope is answered as not found.
pub(crate) fn authorize(
    app: &App,
    user: &User,
    action: Action,
    case_id: &str,
    facts: &CaseFacts,
) -> Result<(), AppError> {
    let county = app.registry.current().org.county.id.clone();
    match access::authorize(user, &county, action, facts) {
        Ok(()) => Ok(()),
        Err(Denied::NotInScope) => Err(not_found(case_id)),
        Err(Denied::Forbidden(reason)) => Err(AppError::Forbidden(reason.to_string())),
    }
}

/// The unit a user acts for on a route.
fn unit_of(user: &User) -> Option<UnitId> {
    match user.role {
        Role::Approver => user.unit.parse().ok(),
        Role::Clerk => Some(UnitId::Center {
            place: user.unit.clone(),
        }),
        _ => None,
    }
}

/// Working days on the newest published calendar (a fact about the world, not a rule of the
/// case's catalog version), in the region of the case's township.
pub(crate) struct Calendar {
    newest: Arc<Catalog>,
    region: Option<String>,
    warn_percent: u32,
}

impl Calendar {
    pub(crate) fn of(app: &App, township: Option<&str>) -> Self {
        let newest = app.registry.current();
        let region = newest.calendar_region(township);
        Self {
            newest,
            region,
            warn_percent: app.config.warning_percent,
        }
    }

    pub(crate) fn days(&self) -> WorkingDays<'_> {
        WorkingDays::new(
            &self.newest.calendar,
            self.region.as_deref(),
            self.warn_percent,
        )
    }
}

/// The rules of a case under its pinned catalog: the organisation and the case's matters.
pub(crate) fn rules<'a>(catalog: &'a Catalog, case: &Case) -> Rules<'a> {
    Rules {
        org: &catalog.org,
        matters: case
            .assessment
            .parts()
            .iter()
            .filter_map(|a| catalog.matter(&a.matter_code))
            .map(|m| &m.spec)
            .collect(),
        supplement_days: catalog.manifest.supplement_days,
    }
}

/// Run `f` with the context of a change to `case` today: the clock's day, working days on the
/// newest calendar in the case's region, the case's matters under `catalog`.
fn with_context<T>(app: &App, catalog: &Catalog, case: &Case, f: impl FnOnce(&Context) -> T) -> T {
    let cal = Calendar::of(app, case.place.township.as_deref());
    let ctx = Context {
        today: app.clock.today(),
        days: cal.days(),
        rules: rules(catalog, case),
        followup_days: app.config.followup_days,
    };
    f(&ctx)
}

/// The notices and events of `fx`, as the store takes them. `version` makes notice ids unique
/// (the case's version changes with every committed change).
pub(crate) fn notices_and_events(
    catalog: &Catalog,
    case: &Case,
    fx: &Effects,
    version: i64,
    today: NaiveDate,
) -> Result<(Vec<NewNotice>, Vec<NewEvent>), AppError> {
    let (short, center, seal) = catalog.org.issuing_center(case.place.township.as_deref());
    let mut notices = Vec::new();
    for (i, draft) in fx.notices.iter().enumerate() {
        notices.push(new_notice(
            case,
            draft.clone(),
            NoticeIds {
                id: format!("{}-N{version}-{}", case.id, i + 1),
                org: &catalog.org,
                words: &catalog.templates,
                short: &short,
                center: &center,
                seal: &seal,
            },
            today,
        )?);
    }
    let events = fx
        .events
        .iter()
        .map(|e| NewEvent {
            seal: None,
            actor: e.actor.clone(),
            action: e.kind,
            catalog_hash: case.catalog_hash.clone(),
            detail: e.detail.to_string(),
        })
        .collect();
    Ok((notices, events))
}

struct NoticeIds<'a> {
    id: String,
    org: &'a crate::domain::org::Organisation,
    words: &'a crate::print::Templates,
    short: &'a str,
    center: &'a str,
    seal: &'a str,
}

fn new_notice(
    case: &Case,
    draft: NoticeDraft,
    ids: NoticeIds,
    today: NaiveDate,
) -> Result<NewNotice, AppError> {
    let kind = draft.kind;
    let matter = match &draft.track {
        Some(track) => case
            .assessment
            .parts()
            .iter()
            .find(|a| &a.matter_code == track)
            .map_or_else(
                || case.assessment.name().to_string(),
                |a| a.matter_name.clone(),
            ),
        None => case.assessment.name().to_string(),
    };
    let header = NoticeHeader {
        case_id: case.id.as_str(),
        center: ids.center,
        seal: ids.seal,
        today,
        applicant_name: &case.applicant.name,
        matter: &matter,
        org: ids.org,
        township: case.place.township.as_deref(),
        words: ids.words,
    };
    let result_series = draft.result_series.clone();
    let content = header.content(draft);
    let year = today.year();
    Ok(NewNotice {
        id: ids.id,
        kind,
        center_id: case.place.center_id.clone(),
        year,
        number_prefix: format!("{}政务〔{year}〕{}字第", ids.short, kind.series_char()),
        issued_on: today.to_string(),
        content: super::to_json(&content)?,
        result_series,
    })
}

/// What a change committed: the case and the notices it numbered.
#[derive(Debug, Clone)]
pub struct ActionResult {
    pub case: CaseRow,
    pub notices: Vec<NoticeRow>,
    /// True when this answers a retry under the Idempotency-Key of a change already committed.
    pub replayed: bool,
}

impl From<IntakeReceipt> for ActionResult {
    fn from(r: IntakeReceipt) -> Self {
        Self {
            case: r.case,
            notices: r.notices,
            replayed: r.replayed,
        }
    }
}

/// Carry out `command` on a case for `user`, if the policy allows `action`: the domain decides,
/// the store commits. Retried when the case changed meanwhile. With an Idempotency-Key `key`,
/// a retry of a change that committed (its answer lost to a timeout, say) answers with what
/// that change committed instead of being decided again.
pub fn change(
    app: &App,
    user: &User,
    case_id: &str,
    action: Action,
    command: &Command,
    key: Option<&RequestKey>,
) -> Result<ActionResult, AppError> {
    keyed(
        app,
        key,
        |r| Ok(r.into()),
        || retrying(|| change_once(app, user, case_id, action, command, key)),
    )
}

/// Runs a write under Idempotency-Key `key`: when a request under the key committed already,
/// its answer (`answer_of` the stored receipt) is given instead. Looked up before, and again
/// after a refusal: a retry racing the first request may be refused by the state the first
/// one left (a step already acted on), and is then answered as the retry it is.
pub(crate) fn keyed<T>(
    app: &App,
    key: Option<&RequestKey>,
    answer_of: impl Fn(IntakeReceipt) -> Result<T, AppError>,
    write: impl FnOnce() -> Result<T, AppError>,
) -> Result<T, AppError> {
    let Some(k) = key else {
        return write();
    };
    if let Some(first) = app.store.replay(k)? {
        return answer_of(first);
    }
    match write() {
        Err(refused) => match app.store.replay(k)? {
            Some(first) => answer_of(first),
            None => Err(refused),
        },
        done => done,
    }
}

fn change_once(
    app: &App,
    user: &User,
    case_id: &str,
    action: Action,
    command: &Command,
    key: Option<&RequestKey>,
) -> Result<ActionResult, AppError> {
    let mut l = Loaded::load(app, case_id)?;
    authorize(app, user, action, case_id, &l.facts())?;
    if l.handling.parts.is_empty() {
        return Err(AppError::Conflict(format!(
            "办件 {case_id} 尚未受理（当前状态：{}），没有后台办理环节",
            l.case.status.label()
        )));
    }
    // 一次一评 of a notice: it must be one the applicant received in this case.
    if let Command::Rate {
        subject: lifecycle::RatingSubject::Notice(notice),
        ..
    } = command
    {
        let theirs = app
            .store
            .notice(notice)?
            .is_some_and(|n| n.case_id == case_id);
        if !theirs {
            return Err(AppError::NotFound(format!(
                "办件 {case_id} 没有编号为 {notice} 的告知书"
            )));
        }
    }
    let mut extra = Vec::new();
    follow_marked_change(app, &mut l, &user.id, &mut extra);
    let actor = Actor {
        user: user.id.clone(),
        unit: unit_of(user),
    };
    let fx = with_context(app, &l.catalog, &l.case, |ctx| {
        lifecycle::apply(&l.case, &l.handling, &actor, command, ctx)
    })?;
    commit(app, &l, fx, extra, None, key)
}

/// Whether an open case moves to the `active` catalog at its next step: a different version
/// whose matter (or one of the bundle's matters) is marked `apply_to_open_cases`.
pub(crate) fn moves_to(active: &Catalog, case: &CaseRow) -> bool {
    let marked = |code: &str| {
        active
            .matter(code)
            .is_some_and(|m| m.spec.apply_to_open_cases)
    };
    case.catalog_hash != active.hash
        && match &case.bundle_code {
            Some(b) => active
                .bundles
                .get(b)
                .is_some_and(|bundle| bundle.matters.iter().any(|m| marked(m))),
            None => marked(&case.matter_code),
        }
}

/// A change marked in the active catalog to apply to open cases moves the case to it first.
fn follow_marked_change(app: &App, l: &mut Loaded, actor: &str, events: &mut Vec<NewEvent>) {
    let active = app.registry.current();
    if moves_to(&active, &l.row) {
        let from = std::mem::replace(&mut l.case.catalog_hash, active.hash.clone());
        l.row.catalog_hash = active.hash.clone();
        l.catalog = active.clone();
        events.push(NewEvent {
            seal: None,
            actor: actor.to_string(),
            action: EventKind::CatalogChanged,
            catalog_hash: active.hash.clone(),
            detail: serde_json::json!({
                "from": from, "to": active.hash, "reason": "apply_to_open_cases",
            })
            .to_string(),
        });
    }
}

fn commit(
    app: &App,
    l: &Loaded,
    fx: Effects,
    mut events: Vec<NewEvent>,
    fired: Option<(i64, String)>,
    key: Option<&RequestKey>,
) -> Result<ActionResult, AppError> {
    let today = app.clock.today();
    let (notices, more) = notices_and_events(&l.catalog, &l.case, &fx, l.case.version, today)?;
    events.extend(more);
    let moved = events
        .iter()
        .any(|e| e.action == EventKind::CatalogChanged)
        .then(|| l.catalog.hash.clone());
    let application = fx.application.as_ref().map(super::to_json).transpose()?;
    let now_ms = app.clock.now_ms();
    // The case's promised date follows its matters' (the latest, once every running one has a
    // date): a pause, an extension or a newly published calendar moves it.
    let due_date = if fx.parts.is_empty() {
        None
    } else {
        let mut after = l.handling.clone();
        fx.apply_to(&mut after);
        let dues: Vec<Option<NaiveDate>> = after
            .parts
            .iter()
            .filter(|p| p.status.is_open() && p.accepted_on.is_some())
            .map(|p| p.due.and_then(|d| d.date))
            .collect();
        dues.iter()
            .copied()
            .collect::<Option<Vec<NaiveDate>>>()
            .and_then(|d| d.into_iter().max())
            .map(|d| d.to_string())
            .filter(|d| l.row.due_date.as_deref() != Some(d.as_str()))
    };
    let receipt = app.store.commit_change(CaseChange {
        case_id: l.case.id.0.clone(),
        expected_version: l.case.version,
        status: fx.status,
        application,
        due_date,
        move_to_catalog: moved,
        lifecycle: LifecycleWrite::of(&l.case, &l.handling, &fx, now_ms),
        fired,
        notices,
        events,
        now_ms,
        idempotency: key.cloned(),
    })?;
    Ok(receipt.into())
}

// ---------------------------------------------------------------- the scheduler's transitions

/// Carry out one due item: `Some(summary)` when it had an effect, `None` when there was nothing
/// left to do (the item is closed either way). A version conflict is retried here; a
/// [`StoreError::DueItemTaken`] means another instance carried it out first.
pub fn fire(app: &App, stored: &StoredDueItem, owner: &str) -> Result<Option<String>, AppError> {
    retrying(|| fire_once(app, stored, owner))
}

fn fire_once(app: &App, stored: &StoredDueItem, owner: &str) -> Result<Option<String>, AppError> {
    let l = Loaded::load(app, &stored.case_id)?;
    let mut item = stored.item.clone();
    // Items from before parts name no matter: they are the case's own.
    if item.track.is_none() && item.step_id.is_none() {
        item.track = l.handling.parts.first().map(|p| p.track.clone());
    }
    let fx = {
        let cal = Calendar::of(app, l.case.place.township.as_deref());
        let ctx = Context {
            today: app.clock.today(),
            days: cal.days(),
            rules: rules(&l.catalog, &l.case),
            followup_days: app.config.followup_days,
        };
        let actor = Actor {
            user: "scheduler".into(),
            unit: None,
        };
        lifecycle::apply(
            &l.case,
            &l.handling,
            &actor,
            &Command::Fire(item.clone()),
            &ctx,
        )?
    };
    let summary = lifecycle::fired_summary(&item, &fx);
    commit(
        app,
        &l,
        fx,
        Vec::new(),
        Some((stored.id, owner.to_string())),
        None,
    )?;
    Ok(summary)
}

// ---------------------------------------------------------------- a calendar published

/// Date the deadlines of one case on the newest calendar (`Command::SetDates`): `true` when
/// something changed (committed with its history entry and notice).
pub fn set_dates(app: &App, case_id: &str) -> Result<bool, AppError> {
    retrying(|| set_dates_once(app, case_id))
}

fn set_dates_once(app: &App, case_id: &str) -> Result<bool, AppError> {
    let l = Loaded::load(app, case_id)?;
    if l.handling.parts.is_empty() {
        return Ok(false);
    }
    let actor = Actor {
        user: CALENDAR_ACTOR.into(),
        unit: None,
    };
    let fx = with_context(app, &l.catalog, &l.case, |ctx| {
        lifecycle::apply(&l.case, &l.handling, &actor, &Command::SetDates, ctx)
    })?;
    if fx == Effects::default() {
        return Ok(false);
    }
    commit(app, &l, fx, Vec::new(), None, None)?;
    Ok(true)
}

/// Who sets dates in the history: the published calendar.
pub const CALENDAR_ACTOR: &str = "calendar";

/// What one pass of [`date_open_cases`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatingPass {
    pub visited: usize,
    /// Cases whose dates were set or moved.
    pub changed: usize,
    /// Cases that failed (logged; left for the next pass).
    pub failed: usize,
}

/// After a calendar was published (a catalog went live, or at start): date every open case on
/// it — with `since`, the first day the new calendar differs from the one the cases were dated
/// on, only those with a deadline that can move. Cases are visited in id order, a page at a
/// time; a case that fails is logged and left for the next run.
pub fn date_open_cases(app: &App, since: Option<NaiveDate>) -> Result<DatingPass, AppError> {
    let (mut visited, mut changed, mut failed) = (0, 0, 0);
    let mut after: Option<String> = None;
    loop {
        let ids = app
            .store
            .cases_with_open_parts(after.as_deref(), 500, since)?;
        let Some(last) = ids.last().cloned() else {
            break;
        };
        for id in &ids {
            visited += 1;
            match set_dates(app, id) {
                Ok(true) => changed += 1,
                Ok(false) => {}
                Err(e) => {
                    failed += 1;
                    tracing::warn!(case = %id, error = %e, "dates not set");
                }
            }
        }
        after = Some(last);
    }
    if changed > 0 {
        tracing::info!(
            visited,
            changed,
            "deadline dates set on the published calendar"
        );
    }
    Ok(DatingPass {
        visited,
        changed,
        failed,
    })
}

// ---------------------------------------------------------------- reading progress

/// One step as shown to clerks, approvers, agents and supervisors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct StepView {
    pub case_id: String,
    #[serde(flatten)]
    pub step: Step,
    /// The step's due date (null while pending or past the published calendar).
    pub due_date: Option<NaiveDate>,
    /// Who acted on it, when, with which opinion and basis (as in `acted`).
    pub acted_by: Option<String>,
    pub acted_on: Option<NaiveDate>,
    pub comment: Option<String>,
    pub basis: Option<String>,
    /// For an active step: green, yellow, red, or date_pending past the published calendar.
    pub colour: Option<Colour>,
}

impl StepView {
    pub fn new(case_id: &str, s: &Step, today: NaiveDate) -> Self {
        Self {
            case_id: case_id.to_string(),
            step: s.clone(),
            due_date: s.due.and_then(|d| d.date),
            acted_by: s.acted.as_ref().map(|a| a.by.clone()),
            acted_on: s.acted.as_ref().map(|a| a.on),
            comment: s.acted.as_ref().and_then(|a| a.comment.clone()),
            basis: s.acted.as_ref().and_then(|a| a.basis.clone()),
            colour: s.colour(today),
        }
    }
}

/// One matter of a case as shown: its state, deadlines, decision and delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PartView {
    /// The matter's code.
    pub matter_code: String,
    pub matter_name: String,
    pub status: PartStatus,
    pub decider: UnitId,
    pub decider_level: Level,
    /// 即办件: decided at the window.
    pub immediate: bool,
    pub accepted_on: Option<NaiveDate>,
    /// 承诺办结日期 after pauses and extensions; null while past the published calendar.
    pub due_date: Option<NaiveDate>,
    /// The promised working days after pauses and extensions.
    pub due_working_days: Option<u32>,
    /// 法定办结日期 after pauses and extensions.
    pub statutory_due: Option<NaiveDate>,
    /// While in progress: green, yellow, red, or date_pending.
    pub colour: Option<Colour>,
    pub pause: Option<Pause>,
    pub paused_working_days: u32,
    pub extensions: u32,
    pub escalated: bool,
    pub decision: Option<Decision>,
    pub decided_on: Option<NaiveDate>,
    pub on_time: Option<bool>,
    pub working_days_used: Option<u32>,
    /// Art. 44 delivery limit.
    pub delivery_due: Option<NaiveDate>,
    pub delivered_on: Option<NaiveDate>,
    pub delivery: Option<DeliveryRecord>,
}

impl PartView {
    fn new(p: &Part, matter_name: String, today: NaiveDate) -> Self {
        Self {
            matter_code: p.track.clone(),
            matter_name,
            status: p.status,
            decider: p.decider.clone(),
            decider_level: p.decider_level,
            immediate: p.immediate,
            accepted_on: p.accepted_on,
            due_date: p.due.and_then(|d| d.date),
            due_working_days: p.due.map(|d| d.working_days),
            statutory_due: p.statutory.and_then(|d| d.date),
            colour: p.colour(today),
            pause: p.pause.clone(),
            paused_working_days: p.paused_days,
            extensions: p.extensions,
            escalated: p.escalated,
            decision: p.decision.map(|d| d.decision),
            decided_on: p.decision.map(|d| d.on),
            on_time: p.decision.map(|d| d.on_time),
            working_days_used: p.decision.map(|d| d.working_days_used),
            delivery_due: p.delivery_due.and_then(|d| d.date),
            delivered_on: p.delivery.as_ref().map(|d| d.on),
            delivery: p.delivery.clone(),
        }
    }
}

/// A 好差评 as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RatingView {
    #[serde(flatten)]
    pub rating: Rating,
    /// 非常满意 … 非常不满意.
    pub label: String,
}

/// Where a case stands after its first answer.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Progress {
    pub case_id: String,
    pub status: crate::domain::case::CaseStatus,
    /// The case's promised date: the latest of its matters' (null while any is pending).
    pub due_date: Option<NaiveDate>,
    /// Each matter (one for a single matter).
    pub parts: Vec<PartView>,
    pub steps: Vec<StepView>,
    pub ratings: Vec<RatingView>,
}

/// The progress of a case the user may read.
pub fn progress(app: &App, user: &User, case_id: &str) -> Result<Progress, AppError> {
    let l = Loaded::load(app, case_id)?;
    authorize(app, user, Action::Read, case_id, &l.facts())?;
    if l.handling.parts.is_empty() {
        return Err(AppError::Conflict(format!(
            "办件 {case_id} 尚未受理（当前状态：{}），没有办理进度",
            l.case.status.label()
        )));
    }
    Ok(progress_of(app.clock.today(), &l.case, &l.handling))
}

pub(crate) fn progress_of(today: NaiveDate, case: &Case, h: &Handling) -> Progress {
    let name = |code: &str| {
        case.assessment
            .parts()
            .iter()
            .find(|a| a.matter_code == code)
            .map_or_else(|| code.to_string(), |a| a.matter_name.clone())
    };
    let accepted: Vec<&Part> = h.parts.iter().filter(|p| p.accepted_on.is_some()).collect();
    let due_date = if accepted
        .iter()
        .any(|p| p.due.is_some_and(|d| d.is_pending()))
    {
        None
    } else {
        accepted
            .iter()
            .filter_map(|p| p.due.and_then(|d| d.date))
            .max()
    };
    Progress {
        case_id: case.id.0.clone(),
        status: case.status,
        due_date,
        parts: h
            .parts
            .iter()
            .map(|p| PartView::new(p, name(&p.track), today))
            .collect(),
        steps: h
            .steps
            .iter()
            .map(|s| StepView::new(case.id.as_str(), s, today))
            .collect(),
        ratings: h
            .ratings
            .iter()
            .map(|r| RatingView {
                rating: r.clone(),
                label: lifecycle::rating_label(r.level).to_string(),
            })
            .collect(),
    }
}

/// The steps waiting for the user's unit (approvers: their department; clerks: their center).
pub fn inbox(app: &App, user: &User, limit: i64) -> Result<Vec<StepView>, AppError> {
    let units = access::units_of(user);
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
        .map(|(case_id, s)| StepView::new(case_id, s, today))
        .collect())
}

// ---------------------------------------------------------------- opening a case

/// What the intake's (or a supplement's) answer opens: the parts, steps and due items, and the
/// notices and events of the matters decided at once within a bundle.
pub(crate) struct Opened {
    pub lifecycle: LifecycleWrite,
    pub notices: Vec<NewNotice>,
    pub events: Vec<NewEvent>,
}

/// Open the lifecycle of a case just answered (`case` as it will be stored, typed; `row` the
/// same as the store writes it, whose status follows the parts; `previous` its handling before
/// a supplement). The case's status follows from its parts (a bundle with a
/// 即办 part and a promised one is accepted, not completed).
pub(crate) fn open_lifecycle(
    app: &App,
    catalog: &Catalog,
    row: &mut CaseRow,
    case: &Case,
    previous: &Handling,
    now_ms: i64,
) -> Result<Opened, AppError> {
    let today = app.clock.today();
    let fx = with_context(app, catalog, case, |ctx| {
        lifecycle::open(case, previous, ctx)
    });
    if let Some(status) = fx.status {
        row.status = crate::store::mapping::AsText::as_text(status).to_string();
    }
    let (mut notices, events) = notices_and_events(catalog, case, &fx, case.version, today)?;
    for n in &mut notices {
        // Distinct from the ids of the answer's own notices.
        n.id = n.id.replacen("-N", "-O", 1);
    }
    Ok(Opened {
        lifecycle: LifecycleWrite::of(case, previous, &fx, now_ms),
        notices,
        events,
    })
}

/// Hand over a result. A village agent records only a delivery through the agent (代办员带回);
/// the window records every method the matter allows.
pub fn deliver(
    app: &App,
    user: &User,
    case_id: &str,
    track: Option<String>,
    method: lifecycle::Delivery,
    key: Option<&RequestKey>,
) -> Result<ActionResult, AppError> {
    if user.role == Role::Agent && !matches!(method, lifecycle::Delivery::ViaAgent { .. }) {
        // Out-of-scope cases still answer 404 first.
        let l = Loaded::load(app, case_id)?;
        authorize(app, user, Action::Deliver, case_id, &l.facts())?;
        return Err(AppError::Forbidden(
            "代办员只能登记由代办员带回的送达；窗口领取、邮寄和电子证照由受理中心窗口登记".into(),
        ));
    }
    change(
        app,
        user,
        case_id,
        Action::Deliver,
        &Command::Deliver { track, method },
        key,
    )
}
