//! 电子监察: the center's figures, yellow/red lists and open 差评 follow-ups.

use crate::error_code::ErrorCode;
use chrono::NaiveDate;
use serde::Serialize;

use super::{App, AppError};
use crate::auth::{Role, User, Users};
use crate::catalog::Catalog;
use crate::domain::deadline::Colour;
use crate::domain::route::Step;
use crate::store::{FigureCounts, FigureKey, IntakeCounts, PartOfCase};

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
    /// Township, matter code, deciding unit, window, level, clerk id, or `all`.
    pub key: String,
    /// The key in words: 白水镇, the matter's name, the department, the window, 县级, the clerk's
    /// name (`null` for an id no longer in the organisation, catalog or tokens file).
    pub name: Option<String>,
    /// 接件量: matters applied for in the period (by day of receipt), whatever the answer.
    pub taken: i64,
    /// 补办件: of those, matters named in a one-time notice (一次性告知).
    pub supplement_noticed: i64,
    /// 退回件: of those, matters refused at intake (不予受理).
    pub refused_at_intake: i64,
    /// Of those, withdrawn by the applicant (撤回).
    pub withdrawn: i64,
    /// Of those, closed as 逾期未补正.
    pub lapsed: i64,
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
    /// 现场办结: decided at the window at intake (即办件 decided at acceptance).
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
    /// Matters of the cases received in the period whose case was rated as a whole (一事一评),
    /// however it ended.
    pub rated: i64,
    /// 满意率 = ratings of 基本满意 or better / rated.
    pub satisfaction_rate: Option<f64>,
    /// 差评 (不满意 and 非常不满意).
    pub bad_ratings: i64,
    /// Ratings of each level, 非常不满意 (1) to 非常满意 (5).
    pub ratings_by_level: [i64; 5],
}

fn rate(n: i64, base: i64) -> Option<f64> {
    // Rounded to 4 decimals so hand-computed values compare exactly.
    (base > 0).then(|| ((n as f64 / base as f64) * 10_000.0).round() / 10_000.0)
}

impl Figures {
    /// One group's figures from its counts of accepted matters and of intakes (either may be
    /// missing: a group with intakes but no acceptance, or the other way round in the period).
    fn of(
        key: String,
        name: Option<String>,
        c: Option<&FigureCounts>,
        i: Option<&IntakeCounts>,
    ) -> Self {
        let z = FigureCounts::default();
        let c = c.unwrap_or(&z);
        Self {
            key,
            name,
            taken: i.map_or(0, |i| i.taken),
            supplement_noticed: i.map_or(0, |i| i.supplement_noticed),
            refused_at_intake: i.map_or(0, |i| i.refused_at_intake),
            withdrawn: i.map_or(0, |i| i.withdrawn),
            lapsed: i.map_or(0, |i| i.lapsed),
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
            rated: i.map_or(0, |i| i.rated),
            satisfaction_rate: i.and_then(|i| rate(i.satisfied, i.rated)),
            bad_ratings: i.map_or(0, |i| i.bad),
            ratings_by_level: i.map_or([0; 5], |i| {
                [i.rating_1, i.rating_2, i.rating_3, i.rating_4, i.rating_5]
            }),
        }
    }
}

/// The name of a group's key, in the words the hall uses.
fn key_name(catalog: &Catalog, users: &Users, key: FigureKey, k: &str) -> Option<String> {
    let org = &catalog.org;
    match key {
        FigureKey::All => Some("全部".into()),
        FigureKey::Township => org
            .township(k)
            .map(|t| t.name.clone())
            .or_else(|| k.parse().ok().and_then(|u| org.unit_name(&u)))
            .or_else(|| (k == org.county.id).then(|| org.county.center.clone())),
        FigureKey::Matter => catalog
            .matters
            .get(k)
            .map(|m| m.spec.name.clone())
            .or_else(|| catalog.bundles.get(k).map(|b| b.name.clone())),
        FigureKey::Department => k.parse().ok().and_then(|u| org.unit_name(&u)),
        FigureKey::Window => org.window_name(k).map(str::to_string),
        FigureKey::Level => {
            use crate::store::mapping::AsText as _;
            crate::domain::matter::Level::from_text(k).map(|l| l.label().to_string())
        }
        FigureKey::Clerk => users.name_of(k).map(str::to_string),
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
        "clerk" => FigureKey::Clerk,
        other => {
            return Err(AppError::invalid(
                ErrorCode::InvalidQuery,
                format!(
                    "by 应为 all、township、matter、department、window、level 或 clerk，而不是“{other}”"
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
    let (from, to) = (from.to_string(), to.to_string());
    let accepted = app
        .store
        .figures(key, &from, &to, scope.as_deref(), &today)?;
    let taken = app
        .store
        .intake_figures(key, &from, &to, scope.as_deref())?;
    let mut groups: std::collections::BTreeMap<
        String,
        (Option<&FigureCounts>, Option<&IntakeCounts>),
    > = std::collections::BTreeMap::new();
    for c in &accepted {
        groups.entry(c.key.clone()).or_default().0 = Some(c);
    }
    for i in &taken {
        groups.entry(i.key.clone()).or_default().1 = Some(i);
    }
    let (catalog, users) = (app.registry.current(), app.users());
    Ok(groups
        .into_iter()
        .map(|(k, (c, i))| {
            let name = key_name(&catalog, &users, key, &k);
            Figures::of(k, name, c, i)
        })
        .collect())
}

/// The figures as CSV (UTF-8 with a BOM so spreadsheet programs read the Chinese header).
pub fn figures_csv(rows: &[Figures]) -> String {
    let mut out = String::from(
        "\u{feff}分组,名称,接件量,补办件,退回件,撤回,逾期未补正,受理量,办结量,办结率,按时办结量,按时办结率,现场办结量,现场办结率,即办件,即办件占比,当前超期,平均用时（工作日）,评价数,满意率,差评数,非常不满意,不满意,基本满意,满意,非常满意\n",
    );
    let f = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let cell = |v: &str| {
        if v.contains([',', '"', '\n']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v.to_string()
        }
    };
    for r in rows {
        let key = cell(&r.key);
        let name = cell(r.name.as_deref().unwrap_or_default());
        let [l1, l2, l3, l4, l5] = r.ratings_by_level;
        out.push_str(&format!(
            "{key},{name},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{l1},{l2},{l3},{l4},{l5}\n",
            r.taken,
            r.supplement_noticed,
            r.refused_at_intake,
            r.withdrawn,
            r.lapsed,
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
