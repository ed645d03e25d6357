//! 电子监察: the center's figures, yellow/red lists and open 差评 follow-ups.

use crate::error_code::ErrorCode;
use chrono::NaiveDate;
use serde::Serialize;

use super::{App, AppError};
use crate::auth::{Role, User};
use crate::domain::deadline::Colour;
use crate::domain::route::Step;
use crate::store::{FigureCounts, FigureKey, PartOfCase};

/// Whose figures a user sees: `None` the whole county, `Some(center)` one township's center.
pub fn supervision_scope(app: &App, user: &User) -> Result<Option<String>, AppError> {
    let county = app.registry.current().org.county.id.clone();
    match user.role {
        Role::Admin => Ok(None),
        Role::Supervisor if user.unit == county => Ok(None),
        Role::Supervisor => Ok(Some(user.unit.clone())),
        _ => Err(AppError::Forbidden(
            "监察数据仅向督查人员和管理员开放".into(),
        )),
    }
}

/// The figures of one group (rates are `null` when their base is 0).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Figures {
    /// Township, matter code, deciding unit, window, level, or `all`.
    pub key: String,
    /// 受理量: cases accepted in the period.
    pub received: i64,
    /// 办结量: of those, decided (approved, not approved, deemed approved or terminated).
    pub finished: i64,
    /// 办结率 = finished / received.
    pub completion_rate: Option<f64>,
    /// Finished no later than the promised date (after pauses and extensions).
    pub on_time: i64,
    /// 按时办结率 = on_time / finished.
    pub on_time_rate: Option<f64>,
    /// 现场办结: decided on the day of acceptance.
    pub on_the_spot: i64,
    /// 现场办结率 = on_the_spot / finished.
    pub on_the_spot_rate: Option<f64>,
    /// 即办件 accepted.
    pub immediate: i64,
    /// 即办件占比 = immediate / received.
    pub immediate_share: Option<f64>,
    /// In progress and past the promised date today (paused cases are not counted).
    pub overdue_now: i64,
    /// Average working days from acceptance to decision, paused days excluded.
    pub average_working_days: Option<f64>,
    /// Cases rated (一次一评).
    pub rated: i64,
    /// 满意率 = ratings of 基本满意 or better / rated.
    pub satisfaction_rate: Option<f64>,
    /// 差评 (不满意 and 非常不满意).
    pub bad_ratings: i64,
}

fn rate(n: i64, base: i64) -> Option<f64> {
    // Rounded to 4 decimals so hand-computed values compare exactly.
    (base > 0).then(|| ((n as f64 / base as f64) * 10_000.0).round() / 10_000.0)
}

impl From<&FigureCounts> for Figures {
    fn from(c: &FigureCounts) -> Self {
        Self {
            key: c.key.clone(),
            received: c.received,
            finished: c.finished,
            completion_rate: rate(c.finished, c.received),
            on_time: c.on_time,
            on_time_rate: rate(c.on_time, c.finished),
            on_the_spot: c.on_the_spot,
            on_the_spot_rate: rate(c.on_the_spot, c.finished),
            immediate: c.immediate,
            immediate_share: rate(c.immediate, c.received),
            overdue_now: c.overdue_now,
            average_working_days: rate(c.days_used, c.finished),
            rated: c.rated,
            satisfaction_rate: rate(c.satisfied, c.rated),
            bad_ratings: c.bad,
        }
    }
}

/// Parse a grouping name.
pub fn figure_key(by: Option<&str>) -> Result<FigureKey, AppError> {
    Ok(match by.unwrap_or("all") {
        "all" => FigureKey::All,
        "township" => FigureKey::Township,
        "matter" => FigureKey::Matter,
        "department" => FigureKey::Department,
        "window" => FigureKey::Window,
        "level" => FigureKey::Level,
        other => {
            return Err(AppError::invalid(
                ErrorCode::InvalidQuery,
                format!(
                    "by 应为 all、township、matter、department、window 或 level，而不是“{other}”"
                ),
            ))
        }
    })
}

/// The figures of cases accepted from `from` to `to` inclusive.
pub fn figures(
    app: &App,
    user: &User,
    key: FigureKey,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Figures>, AppError> {
    let scope = supervision_scope(app, user)?;
    if to < from || (to - from).num_days() > 3660 {
        return Err(AppError::invalid(
            ErrorCode::InvalidPeriod,
            "统计期间有误：结束日期不能早于开始日期，且不超过十年",
        ));
    }
    let today = app.clock.today().to_string();
    let rows = app.store.figures(
        key,
        &from.to_string(),
        &to.to_string(),
        scope.as_deref(),
        &today,
    )?;
    Ok(rows.iter().map(Figures::from).collect())
}

/// The figures as CSV (UTF-8 with a BOM so spreadsheet programs read the Chinese header).
pub fn figures_csv(rows: &[Figures]) -> String {
    let mut out = String::from(
        "\u{feff}分组,受理量,办结量,办结率,按时办结量,按时办结率,现场办结量,现场办结率,即办件,即办件占比,当前超期,平均用时（工作日）,评价数,满意率,差评数\n",
    );
    let f = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    for r in rows {
        let key = if r.key.contains([',', '"', '\n']) {
            format!("\"{}\"", r.key.replace('"', "\"\""))
        } else {
            r.key.clone()
        };
        out.push_str(&format!(
            "{key},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.received,
            r.finished,
            f(r.completion_rate),
            r.on_time,
            f(r.on_time_rate),
            r.on_the_spot,
            f(r.on_the_spot_rate),
            r.immediate,
            f(r.immediate_share),
            r.overdue_now,
            f(r.average_working_days),
            r.rated,
            f(r.satisfaction_rate),
            r.bad_ratings,
        ));
    }
    out
}

/// A case or step whose deadline is yellow or red.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Alert {
    pub case_id: String,
    /// The step, for a step's deadline.
    pub step_id: Option<String>,
    pub name: String,
    /// The unit responsible (the deciding unit for a case).
    pub unit: String,
    pub due_date: Option<NaiveDate>,
    /// Yellow, red, or date_pending (past the published calendar).
    pub colour: Colour,
    /// Escalated to the supervisor by a timeout policy.
    pub escalated: bool,
}

/// Yellow and red cases and steps, and results not delivered within 10 working days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Alerts {
    pub today: NaiveDate,
    pub cases: Vec<Alert>,
    pub steps: Vec<Alert>,
    /// Results past the Art. 44 delivery limit.
    pub undelivered: Vec<Alert>,
}

fn case_alert(today: NaiveDate, p: &PartOfCase) -> Alert {
    Alert {
        case_id: p.case_id.clone(),
        step_id: None,
        name: p.part.track.clone(),
        unit: p.part.decider.to_string(),
        due_date: p.part.due.and_then(|d| d.date),
        colour: p.part.colour(today).unwrap_or(Colour::Green),
        escalated: p.part.escalated,
    }
}

fn step_alert(today: NaiveDate, case_id: &str, s: &Step) -> Alert {
    Alert {
        case_id: case_id.to_string(),
        step_id: Some(s.id.clone()),
        name: s.name.clone(),
        unit: s.unit.to_string(),
        due_date: s.due.and_then(|d| d.date),
        colour: s.colour(today).unwrap_or(Colour::Green),
        escalated: s.escalated,
    }
}

pub fn alerts(app: &App, user: &User, limit: i64) -> Result<Alerts, AppError> {
    let scope = supervision_scope(app, user)?;
    let today = app.clock.today();
    let t = today.to_string();
    let cases = app.store.case_alerts(&t, scope.as_deref(), limit)?;
    let steps = app.store.step_alerts(&t, scope.as_deref(), limit)?;
    let undelivered = app.store.undelivered(&t, scope.as_deref(), limit)?;
    Ok(Alerts {
        today,
        cases: cases.iter().map(|p| case_alert(today, p)).collect(),
        steps: steps
            .iter()
            .map(|(case_id, s)| step_alert(today, case_id, s))
            .collect(),
        undelivered: undelivered
            .iter()
            .map(|p| Alert {
                colour: Colour::Red,
                due_date: p.part.delivery_due.and_then(|d| d.date),
                ..case_alert(today, p)
            })
            .collect(),
    })
}

/// A 差评 waiting for its follow-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Followup {
    pub case_id: String,
    pub center_id: String,
    pub matter_code: String,
    /// What was rated: the case, a notice, or a matter's delivery.
    pub subject: crate::domain::handling::RatingSubject,
    pub rating: u8,
    pub comment: Option<String>,
    pub rated_on: NaiveDate,
    pub due: Option<NaiveDate>,
    pub overdue: bool,
}

pub fn followups(app: &App, user: &User, limit: i64) -> Result<Vec<Followup>, AppError> {
    let scope = supervision_scope(app, user)?;
    let today = app.clock.today();
    let rows = app.store.open_followups(scope.as_deref(), limit)?;
    Ok(rows
        .iter()
        .map(|r| {
            let due = r.rating.followup.as_ref().and_then(|f| f.due);
            Followup {
                case_id: r.case_id.clone(),
                center_id: r.center_id.clone(),
                matter_code: r.matter_code.clone(),
                subject: r.rating.subject.clone(),
                rating: r.rating.level,
                comment: r.rating.comment.clone(),
                rated_on: r.rating.on,
                due,
                overdue: due.is_some_and(|d| today > d),
            }
        })
        .collect())
}
