//! Intake (受理), pre-check, supplements (补正) and case reads.

use crate::error_code::ErrorCode;
use std::collections::BTreeMap;

use chrono::Datelike;
use serde::Serialize;

use super::{to_json, App, AppError};
use crate::auth::{CaseScope, Role, User};
use crate::catalog::Catalog;
use crate::decide::{assess, assess_bundle};
use crate::domain::application::{Application, Channel, IntakeContext, PresentedMaterial};
use crate::domain::assessment::Outcome;
use crate::domain::case::{ApplicantRecord, Case, CaseId, CasePlace, CaseStatus, CaseSubject};
use crate::domain::handling::{supplement_deadline, Rules};
use crate::domain::handling::{EventKind, Handling};
use crate::domain::notice::{
    intake_notice, supplement_due_item, IntakeFacts, NoticeHeader, NoticeKind,
};
use crate::store::mapping::AsText;
use crate::store::{
    CaseFilter, CasePage, CaseRow, CaseUpdate, IntakeReceipt, NewEvent, NewIntake, NewNotice,
    NoticeRow, RequestKey,
};

/// An application to take or to pre-check: what is applied for, by which channel and window,
/// and the application itself (the http layer's `IntakeRequest`, checked).
#[derive(Debug, Clone, PartialEq)]
pub struct Intake {
    pub subject: CaseSubject,
    /// `window` (default) or `online`; agents always submit as `agent`.
    pub channel: Option<Channel>,
    /// The window taking the case; defaults to the clerk's own window.
    pub window: Option<String>,
    pub application: Application,
}

impl Intake {
    /// The intake as it was submitted, the JSON its idempotency key is checked against (the
    /// same bytes as the request body's fields, in their order, so stored keys stay valid).
    pub(crate) fn as_submitted(&self) -> Submitted<'_> {
        Submitted {
            matter: match &self.subject {
                CaseSubject::Matter(m) => Some(m),
                CaseSubject::Bundle(_) => None,
            },
            bundle: self.subject.bundle(),
            channel: self.channel,
            window: self.window.as_deref(),
            application: &self.application,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct Submitted<'a> {
    matter: Option<&'a str>,
    bundle: Option<&'a str>,
    channel: Option<Channel>,
    window: Option<&'a str>,
    application: &'a Application,
}

/// Corrections and added materials for a case waiting for them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Supplement {
    /// Field values to set (they replace the earlier values).
    pub fields: BTreeMap<String, serde_json::Value>,
    /// Materials presented now (each replaces an earlier one with the same id).
    pub materials: Vec<PresentedMaterial>,
    /// The applicant now signs (or withdraws) the 容缺 commitment.
    pub commitment_signed: Option<bool>,
}

pub use crate::domain::case::CaseAssessment;

/// The answer to an intake or a supplement.
#[derive(Debug, Clone)]
pub struct IntakeResult {
    pub case: CaseRow,
    pub assessment: CaseAssessment,
    pub notices: Vec<NoticeRow>,
    pub replayed: bool,
}

/// Case status after an outcome (a bundle's parts may refine it, see `open_lifecycle`).
pub fn status_of(outcome: Outcome) -> CaseStatus {
    match outcome {
        Outcome::Refused => CaseStatus::Refused,
        Outcome::SupplementNeeded => CaseStatus::AwaitingSupplement,
        Outcome::AcceptedImmediate => CaseStatus::Completed,
        Outcome::AcceptedPromised | Outcome::AcceptedDeferred => CaseStatus::Accepted,
    }
}

/// Where an intake is taken, from who takes it.
struct Place {
    township: Option<String>,
    village: Option<String>,
    center_id: String,
    channel: Channel,
    window: Option<String>,
}

fn place_of(catalog: &Catalog, user: &User, req: &Intake) -> Result<Place, AppError> {
    let org = &catalog.org;
    match user.role {
        Role::Agent => {
            let (t, _) = org.village(&user.unit).ok_or_else(|| {
                AppError::Forbidden(format!("代办员所属村 {} 不在组织机构中", user.unit))
            })?;
            if req.window.is_some() {
                return Err(AppError::invalid(
                    ErrorCode::InvalidWindow,
                    "村级代办员提交的申请不指定窗口",
                ));
            }
            Ok(Place {
                township: Some(t.id.clone()),
                village: Some(user.unit.clone()),
                center_id: t.id.clone(),
                channel: Channel::Agent,
                window: None,
            })
        }
        Role::Clerk => {
            let township = if user.unit == org.county.id {
                None
            } else {
                Some(user.unit.clone())
            };
            let windows = match township.as_deref().and_then(|t| org.township(t)) {
                Some(t) => &t.windows,
                None => &org.county.windows,
            };
            let window = req.window.clone().or_else(|| user.window.clone());
            if let Some(w) = &window {
                if !windows.iter().any(|x| &x.id == w) {
                    return Err(AppError::invalid(
                        ErrorCode::InvalidWindow,
                        format!("窗口 {w} 不属于本中心，请选择本中心的窗口"),
                    ));
                }
            }
            let channel = req.channel.unwrap_or(Channel::Window);
            if channel == Channel::Agent {
                return Err(AppError::invalid(
                    ErrorCode::InvalidChannel,
                    "窗口人员不能以“村级代办”渠道提交，请选择窗口受理或网上申请",
                ));
            }
            Ok(Place {
                center_id: user.unit.clone(),
                township,
                village: None,
                channel,
                window,
            })
        }
        _ => Err(AppError::Forbidden(
            "只有窗口工作人员和村级代办员可以受理申请".into(),
        )),
    }
}

fn assess_subject(
    catalog: &Catalog,
    subject: &CaseSubject,
    application: &Application,
    ctx: &IntakeContext,
) -> Result<CaseAssessment, AppError> {
    Ok(match subject {
        CaseSubject::Matter(m) => CaseAssessment::Matter(assess(catalog, m, application, ctx)?),
        CaseSubject::Bundle(b) => {
            CaseAssessment::Bundle(assess_bundle(catalog, b, application, ctx)?)
        }
    })
}

/// What a stored case is for.
fn subject_of(case: &CaseRow) -> CaseSubject {
    match &case.bundle_code {
        Some(b) => CaseSubject::Bundle(b.clone()),
        None => CaseSubject::Matter(case.matter_code.clone()),
    }
}

/// The channel a stored case came by.
fn channel_of(case: &CaseRow) -> Result<Channel, AppError> {
    Ok(Channel::parse(&case.channel)?)
}

/// The defects of the materials `supplied` for a case accepted under 容缺, assessed under the
/// case's own catalog version as on the day it was received.
pub(crate) fn deferred_defects(
    catalog: &Catalog,
    case: &CaseRow,
    application: &Application,
    supplied: &[&str],
) -> Result<Vec<crate::domain::assessment::Defect>, AppError> {
    let today = case
        .received_on
        .parse()
        .map_err(|_| AppError::Corrupt(format!("case {} received_on", case.id)))?;
    let channel = channel_of(case)?;
    let ctx = IntakeContext {
        today,
        township: case.township.clone(),
        village: case.village.clone(),
        channel,
    };
    let assessment = assess_subject(catalog, &subject_of(case), application, &ctx)?;
    Ok(assessment
        .parts()
        .into_iter()
        .flat_map(|a| a.defects.iter())
        .filter(|d| supplied.contains(&d.id.as_str()))
        .cloned()
        .collect())
}

/// A dry-run assessment: nothing is stored.
pub fn precheck(app: &App, user: &User, req: &Intake) -> Result<CaseAssessment, AppError> {
    let catalog = app.registry.current();
    let place = match user.role {
        Role::Clerk | Role::Agent => place_of(&catalog, user, req)?,
        // Supervisors and admins may try an application as if taken at the county center.
        _ => Place {
            township: None,
            village: None,
            center_id: catalog.org.county.id.clone(),
            channel: Channel::Window,
            window: None,
        },
    };
    let ctx = IntakeContext {
        today: app.clock.today(),
        township: place.township,
        village: place.village,
        channel: place.channel,
    };
    assess_subject(&catalog, &req.subject, &req.application, &ctx)
}

struct NoticePlan<'a> {
    catalog: &'a Catalog,
    case_id: &'a str,
    center_id: &'a str,
    township: Option<&'a str>,
    applicant: &'a str,
    today: chrono::NaiveDate,
    /// The materials as presented (for the 受理通知书's list of materials taken in).
    presented: &'a [crate::domain::application::PresentedMaterial],
}

fn notices_for(
    app: &App,
    plan: &NoticePlan,
    assessment: &CaseAssessment,
) -> Result<Vec<NewNotice>, AppError> {
    let (short, center, seal) = plan.catalog.org.issuing_center(plan.township);
    let (matter, bundle_defects) = match assessment {
        CaseAssessment::Bundle(b) => (b.bundle_name.clone(), Some(b.defects.as_slice())),
        CaseAssessment::Matter(a) => (a.matter_name.clone(), None),
    };
    let header = NoticeHeader {
        case_id: plan.case_id,
        center: &center,
        seal: &seal,
        today: plan.today,
        applicant_name: plan.applicant,
        matter: &matter,
        org: &plan.catalog.org,
        township: plan.township,
        words: &plan.catalog.templates,
    };
    let parts = assessment.parts();
    let specs: Vec<&crate::domain::matter::Matter> = parts
        .iter()
        .filter_map(|a| plan.catalog.matter(&a.matter_code))
        .map(|m| &m.spec)
        .collect();
    let facts = IntakeFacts {
        applicant: plan.applicant,
        matter: &matter,
        today: plan.today,
        assessments: &parts,
        bundle_defects,
        matters: &specs,
        presented: plan.presented,
    };
    let mut out = Vec::new();
    for kind in NoticeKind::for_outcome(assessment.outcome()) {
        let mut draft = intake_notice(*kind, &facts);
        if *kind == NoticeKind::Supplement {
            // The same deadline the lifecycle schedules (domain::handling::supplement_deadline).
            let cal = super::handling::Calendar::of(app, plan.township);
            let rules = Rules {
                org: &plan.catalog.org,
                matters: parts
                    .iter()
                    .filter_map(|a| plan.catalog.matter(&a.matter_code))
                    .map(|m| &m.spec)
                    .collect(),
                supplement_days: plan.catalog.manifest.supplement_days,
            };
            let due = supplement_deadline(&rules, &parts, plan.today, &cal.days());
            draft.items.push(supplement_due_item(due.date));
        }
        let result_series = draft.result_series.clone();
        let content = header.content(draft);
        let year = plan.today.year();
        out.push(NewNotice {
            id: app.new_id("N"),
            kind: *kind,
            center_id: plan.center_id.to_string(),
            year,
            number_prefix: format!("{short}政务〔{year}〕{}字第", kind.series_char()),
            issued_on: plan.today.to_string(),
            content: to_json(&content)?,
            result_series,
        });
    }
    Ok(out)
}

fn request_hash(req: &impl Serialize) -> Result<String, AppError> {
    Ok(crate::digest::sha256_hex(to_json(req)?.as_bytes()))
}

pub(crate) fn parse_assessment(case: &CaseRow) -> Result<CaseAssessment, AppError> {
    serde_json::from_str(&case.assessment)
        .map_err(|e| AppError::Corrupt(format!("case {} assessment: {e}", case.id)))
}

pub(crate) fn result_of(receipt: IntakeReceipt) -> Result<IntakeResult, AppError> {
    let assessment = parse_assessment(&receipt.case)?;
    Ok(IntakeResult {
        case: receipt.case,
        assessment,
        notices: receipt.notices,
        replayed: receipt.replayed,
    })
}

/// Take an application: assess it, and commit the case, its notices with their numbers and the
/// audit entry in one transaction before answering.
pub fn take(
    app: &App,
    user: &User,
    req: &Intake,
    idempotency_key: Option<&str>,
) -> Result<IntakeResult, AppError> {
    let catalog = app.registry.current();
    let place = place_of(&catalog, user, req)?;
    let today = app.clock.today();
    let ctx = IntakeContext {
        today,
        township: place.township.clone(),
        village: place.village.clone(),
        channel: place.channel,
    };
    let assessment = assess_subject(&catalog, &req.subject, &req.application, &ctx)?;
    let outcome = assessment.outcome();
    let case_id = app.new_id(&catalog.org.county.id.to_uppercase());
    let now = app.clock.now_ms();
    let plan = NoticePlan {
        catalog: &catalog,
        case_id: &case_id,
        center_id: &place.center_id,
        township: place.township.as_deref(),
        applicant: &req.application.applicant.name,
        today,
        presented: &req.application.materials,
    };
    let notices = notices_for(app, &plan, &assessment)?;
    let (matter_code, bundle_code) = match assessment {
        CaseAssessment::Bundle(ref b) => (b.bundle_code.clone(), Some(b.bundle_code.clone())),
        CaseAssessment::Matter(ref a) => (a.matter_code.clone(), None),
    };
    let applicant = &req.application.applicant;
    let case = CaseRow {
        id: case_id,
        matter_code,
        bundle_code,
        status: status_of(outcome).as_text().to_string(),
        outcome: outcome.as_text().to_string(),
        center_id: place.center_id.clone(),
        township: place.township.clone(),
        village: place.village.clone(),
        window_id: place.window.clone(),
        channel: place.channel.as_text().to_string(),
        clerk_id: user.id.clone(),
        agent_id: (user.role == Role::Agent).then(|| user.id.clone()),
        applicant_kind: applicant.kind.as_text().to_string(),
        applicant_name: applicant.name.clone(),
        applicant_id_number: applicant.id_number.clone(),
        catalog_hash: catalog.hash.clone(),
        application: to_json(&req.application)?,
        assessment: to_json(&assessment)?,
        due_date: assessment.due_date().map(|d| d.to_string()),
        received_on: today.to_string(),
        created_at: now,
        updated_at: now,
        row_version: 1,
    };
    let event = NewEvent {
        seal: None,
        actor: user.id.clone(),
        action: EventKind::Intake,
        catalog_hash: catalog.hash.clone(),
        detail: to_json(&serde_json::json!({
            "outcome": outcome.as_text(),
            "channel": place.channel.as_text(),
            "window": place.window,
        }))?,
    };
    let idempotency = match idempotency_key {
        Some(k) => Some(RequestKey {
            user_id: user.id.clone(),
            key: k.to_string(),
            request_hash: request_hash(&req.as_submitted())?,
        }),
        None => None,
    };
    // The case as the lifecycle sees it, from the typed values (no JSON round trip).
    let typed = Case {
        id: CaseId(case.id.clone()),
        subject: match &case.bundle_code {
            Some(b) => CaseSubject::Bundle(b.clone()),
            None => CaseSubject::Matter(case.matter_code.clone()),
        },
        status: status_of(outcome),
        outcome,
        place: CasePlace {
            center_id: place.center_id.clone(),
            township: place.township.clone(),
            village: place.village.clone(),
            window_id: place.window.clone(),
            channel: place.channel,
            clerk_id: user.id.clone(),
            agent_id: case.agent_id.clone(),
        },
        applicant: ApplicantRecord {
            kind: applicant.kind,
            name: applicant.name.clone(),
            id_number: applicant.id_number.clone(),
        },
        catalog_hash: catalog.hash.clone(),
        application: req.application.clone(),
        assessment,
        due_date: None,
        received_on: today,
        created_at_ms: now,
        updated_at_ms: now,
        version: 1,
    };
    let mut case = case;
    let mut notices = notices;
    let mut events = vec![event];
    let opened = super::handling::open_lifecycle(
        app,
        &catalog,
        &mut case,
        &typed,
        &Handling::default(),
        now,
    )?;
    notices.extend(opened.notices);
    events.extend(opened.events);
    let receipt = app.store.commit_intake(NewIntake {
        case,
        notices,
        events,
        idempotency,
        lifecycle: Some(Box::new(opened.lifecycle)),
    })?;
    if !receipt.replayed {
        crate::metrics::intake(outcome.as_text());
    }
    result_of(receipt)
}

/// Read a case the user may see (a case out of the user's scope is not found).
pub fn get_case(app: &App, user: &User, id: &str) -> Result<(CaseRow, CaseAssessment), AppError> {
    let l = super::handling::Loaded::load(app, id)?;
    super::handling::authorize(app, user, super::access::Action::Read, id, &l.facts())?;
    Ok((l.row, l.case.assessment))
}

/// Search the cases a user may see.
pub fn list_cases(app: &App, user: &User, mut filter: CaseFilter) -> Result<CasePage, AppError> {
    let catalog = app.registry.current();
    match user.case_scope(&catalog.org) {
        CaseScope::All => {}
        CaseScope::Centers(c) => filter.center_ids = Some(c),
        CaseScope::Agent(id) => filter.agent_id = Some(id),
        CaseScope::Unit(_) => {
            return Err(AppError::Forbidden(
                "审批人员请从待办事项查看办件；办件检索面向窗口、代办员和督查人员".into(),
            ))
        }
    }
    Ok(app.store.list_cases(&filter)?)
}

/// Add materials or corrected fields to a case waiting for them; it is re-assessed under its own
/// catalog version and either accepted or given a new complete notice.
pub fn supplement(
    app: &App,
    user: &User,
    case_id: &str,
    req: &Supplement,
    key: Option<&RequestKey>,
) -> Result<IntakeResult, AppError> {
    // A retry of a supplement that committed answers with what it committed.
    super::handling::keyed(app, key, result_of, || {
        supplement_once(app, user, case_id, req, key)
    })
}

fn supplement_once(
    app: &App,
    user: &User,
    case_id: &str,
    req: &Supplement,
    key: Option<&RequestKey>,
) -> Result<IntakeResult, AppError> {
    let loaded = super::handling::Loaded::load(app, case_id)?;
    super::handling::authorize(
        app,
        user,
        super::access::Action::Supplement,
        case_id,
        &loaded.facts(),
    )?;
    if loaded.case.status == CaseStatus::Lapsed {
        return Err(AppError::invalid(
            ErrorCode::CaseLapsed,
            format!(
                "办件 {case_id} 已因逾期未补正而终止办理，不能再补正。请以补齐的材料重新提交申请（新建办件）"
            ),
        ));
    }
    if loaded.case.status != CaseStatus::AwaitingSupplement {
        return Err(AppError::Conflict(format!(
            "办件 {case_id} 当前状态为“{}”，不需要补正",
            loaded.case.status.label()
        )));
    }
    let previous = loaded.handling;
    let typed = loaded.case;
    let case = loaded.row;
    // Open cases keep their version, unless the active version of their matter is marked to
    // apply to open cases: then the case moves to it now, and its history says so.
    let active = app.registry.current();
    let moves = super::handling::moves_to(&active, &case);
    let catalog = if moves {
        active.clone()
    } else {
        app.registry.by_hash(&app.store, &case.catalog_hash)?
    };
    let mut application: Application = serde_json::from_str(&case.application)
        .map_err(|e| AppError::Corrupt(format!("case {case_id} application: {e}")))?;
    for (k, v) in &req.fields {
        application.fields.insert(k.clone(), v.clone());
    }
    for m in &req.materials {
        application.materials.retain(|x| x.id != m.id);
        application.materials.push(m.clone());
    }
    if let Some(c) = req.commitment_signed {
        application.commitment_signed = c;
    }
    let today = app.clock.today();
    let channel = channel_of(&case)?;
    let ctx = IntakeContext {
        today,
        township: case.township.clone(),
        village: case.village.clone(),
        channel,
    };
    let assessment = assess_subject(&catalog, &subject_of(&case), &application, &ctx)?;
    let outcome = assessment.outcome();
    let plan = NoticePlan {
        catalog: &catalog,
        case_id,
        center_id: &case.center_id,
        township: case.township.as_deref(),
        applicant: &application.applicant.name,
        today,
        presented: &application.materials,
    };
    let mut notices = notices_for(app, &plan, &assessment)?;
    let now = app.clock.now_ms();
    let mut updated = CaseRow {
        catalog_hash: catalog.hash.clone(),
        status: status_of(outcome).as_text().to_string(),
        outcome: outcome.as_text().to_string(),
        application: to_json(&application)?,
        assessment: to_json(&assessment)?,
        due_date: assessment.due_date().map(|d| d.to_string()),
        updated_at: now,
        ..case.clone()
    };
    let typed = Case {
        status: status_of(outcome),
        outcome,
        catalog_hash: catalog.hash.clone(),
        application: application.clone(),
        assessment: assessment.clone(),
        updated_at_ms: now,
        ..typed
    };
    let opened =
        super::handling::open_lifecycle(app, &catalog, &mut updated, &typed, &previous, now)?;
    notices.extend(opened.notices);
    let mut events = vec![NewEvent {
        seal: None,
        actor: user.id.clone(),
        action: EventKind::Supplement,
        catalog_hash: catalog.hash.clone(),
        detail: to_json(&serde_json::json!({
            "outcome": outcome.as_text(),
            "fields": req.fields.keys().collect::<Vec<_>>(),
            "materials": req.materials.iter().map(|m| &m.id).collect::<Vec<_>>(),
            "catalog_changed": moves.then(|| serde_json::json!({
                "from": case.catalog_hash,
                "to": catalog.hash,
                "reason": "apply_to_open_cases",
            })),
        }))?,
    }];
    events.extend(opened.events);
    let receipt = app.store.update_case(CaseUpdate {
        case_id: case_id.to_string(),
        expected_row_version: case.row_version,
        status: updated.status,
        outcome: updated.outcome,
        application: updated.application,
        assessment: updated.assessment,
        due_date: updated.due_date,
        notices,
        events,
        now_ms: now,
        move_to_catalog: moves.then(|| catalog.hash.clone()),
        lifecycle: Some(Box::new(opened.lifecycle)),
        idempotency: key.cloned(),
    })?;
    result_of(receipt)
}

/// 容缺 materials handed in: checked against their standards under the case's own version as on
/// the day it was received, then recorded.
pub fn supply_deferred(
    app: &App,
    user: &User,
    case_id: &str,
    materials: Vec<crate::domain::application::PresentedMaterial>,
    key: Option<&RequestKey>,
) -> Result<super::handling::ActionResult, AppError> {
    // The checks below give a retry the same answer; `change` answers it from its key.
    let l = super::handling::Loaded::load(app, case_id)?;
    super::handling::authorize(
        app,
        user,
        super::access::Action::SupplyDeferred,
        case_id,
        &l.facts(),
    )?;
    let owed: Vec<&str> = l
        .case
        .assessment
        .parts()
        .iter()
        .flat_map(|a| a.deferred.iter().map(|d| d.id.as_str()))
        .collect();
    if let Some(m) = materials.iter().find(|m| !owed.contains(&m.id.as_str())) {
        return Err(AppError::invalid(
            ErrorCode::NotDeferred,
            format!("材料 {} 不是本办件容缺后补的材料", m.id),
        ));
    }
    let mut application = l.case.application.clone();
    for m in &materials {
        application.materials.retain(|x| x.id != m.id);
        application.materials.push(m.clone());
    }
    let ids: Vec<&str> = materials.iter().map(|m| m.id.as_str()).collect();
    let defects = deferred_defects(&l.catalog, &l.row, &application, &ids)?;
    if !defects.is_empty() {
        return Err(AppError::Invalid {
            code: ErrorCode::MaterialDefective,
            message: "补交的容缺材料不符合要求，请按告知内容更正".into(),
            details: serde_json::to_value(&defects).unwrap_or_default(),
        });
    }
    super::handling::change(
        app,
        user,
        case_id,
        super::access::Action::SupplyDeferred,
        &crate::domain::handling::Command::SupplyDeferred { materials },
        key,
    )
}
