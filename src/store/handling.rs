//! Rows and statements of a case's lifecycle after the first answer: its parts (one per
//! matter), the route's steps, the ratings and the scheduler's due items. The rows are the
//! store's own; the app reads and writes the domain's [`Handling`] and [`Effects`], converted in
//! `mapping.rs`.

use diesel::prelude::*;

use super::conn::DbConnection;
use super::crypto::Keyring;
use super::mapping::{self, AsText, DueState};
use super::personal::FreeText;
use super::schema::{case_parts, case_steps, due_items, ratings};
use super::{NewEvent, NewNotice, StoreError};
use crate::domain::case::{Case, CaseStatus};
use crate::domain::handling::{Cancel, DueItem, Effects, Handling, RatingSubject};

/// One matter of a case.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = case_parts)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(treat_none_as_null = true)]
pub struct PartRow {
    pub case_id: String,
    pub track: String,
    pub center_id: String,
    pub township: Option<String>,
    pub window_id: Option<String>,
    pub status: String,
    pub supplement_notices: i64,
    pub decider_unit: String,
    pub decider_level: String,
    pub immediate: i64,
    pub accepted_on: Option<String>,
    pub due_days: Option<i64>,
    pub due_date: Option<String>,
    pub statutory_days: Option<i64>,
    pub statutory_due: Option<String>,
    pub warn_days: Option<i64>,
    pub warn_on: Option<String>,
    pub pause: Option<String>,
    pub paused_days: i64,
    pub extensions: i64,
    pub escalated: i64,
    pub decision: Option<String>,
    pub decided_on: Option<String>,
    pub on_time: Option<i64>,
    pub days_used: Option<i64>,
    pub delivery_due: Option<String>,
    pub delivered_on: Option<String>,
    pub delivery: Option<String>,
    pub rating: Option<i64>,
    pub updated_at: i64,
    /// JSON of the deadline (start, working days, date or null).
    pub supplement_due: Option<String>,
}

/// One step of a case's route.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = case_steps)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(treat_none_as_null = true)]
pub struct StepRow {
    pub id: String,
    pub case_id: String,
    pub track: String,
    pub seq: i64,
    pub group_no: i64,
    pub step_key: String,
    pub name: String,
    pub role: String,
    pub unit_id: String,
    pub unit_name: String,
    pub level: String,
    pub state: String,
    pub days: i64,
    pub started_on: Option<String>,
    pub due_date: Option<String>,
    pub warn_on: Option<String>,
    pub allow_countersign: i64,
    pub refusal_decides: i64,
    pub timeout_policy: String,
    pub acted_by: Option<String>,
    pub acted_on: Option<String>,
    pub comment: Option<String>,
    pub basis: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub due_days: Option<i64>,
    pub warn_days: Option<i64>,
    pub escalated: i64,
}

/// One 好差评.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = ratings)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(treat_none_as_null = true)]
pub struct RatingRow {
    pub case_id: String,
    pub subject: String,
    pub level: i64,
    pub comment: Option<String>,
    pub rated_on: String,
    pub rated_by: String,
    pub followup_due: Option<String>,
    pub followup_closed_on: Option<String>,
    pub followup_closed_by: Option<String>,
    pub followup_note: Option<String>,
    pub followup_callback: Option<String>,
    pub created_at: i64,
}

/// Something the scheduler must do at a time.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = due_items)]
pub struct DueItemRow {
    pub id: i64,
    pub case_id: String,
    pub step_id: Option<String>,
    pub kind: String,
    pub due_on: String,
    pub fire_at: i64,
    pub state: String,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub done_at: Option<i64>,
    pub done_by: Option<String>,
    pub track: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = due_items)]
#[diesel(treat_none_as_default_value = false)]
struct NewDueItem {
    case_id: String,
    step_id: Option<String>,
    track: Option<String>,
    kind: String,
    due_on: String,
    fire_at: i64,
    state: String,
}

/// A due item as stored: its id guards that it is carried out once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDueItem {
    pub id: i64,
    pub case_id: String,
    pub item: DueItem,
}

/// The lifecycle rows an intake, a supplement or a change writes: the parts, steps and ratings
/// it touched, the due items it schedules and those it makes void. Built from the domain's
/// [`Effects`] for the case.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LifecycleWrite {
    parts: Vec<PartRow>,
    steps: Vec<StepRow>,
    ratings: Vec<RatingRow>,
    due: Vec<NewDueItem>,
    cancel: Vec<Cancel>,
}

/// Unix milliseconds of 00:00 China Standard Time on the day after `due`: a deadline runs to
/// the end of its last day.
pub fn fire_at_ms(due: chrono::NaiveDate) -> i64 {
    due.succ_opt()
        .map_or(i64::MAX, crate::domain::china_time::start_of_day_ms)
}

impl LifecycleWrite {
    pub(crate) fn rows_mut(&mut self) -> (&mut [PartRow], &mut [StepRow], &mut [RatingRow]) {
        (&mut self.parts, &mut self.steps, &mut self.ratings)
    }

    /// The rows of `fx` for `case`, at `now_ms`. `case_rating` is the case's own rating after
    /// the change (repeated on every part for the figures).
    pub fn of(case: &Case, handling: &Handling, fx: &Effects, now_ms: i64) -> Self {
        let rating = fx
            .ratings
            .iter()
            .chain(handling.ratings.iter())
            .find(|r| r.subject == RatingSubject::Case)
            .map(|r| r.level);
        let mut parts: Vec<PartRow> = fx
            .parts
            .iter()
            .map(|p| mapping::part_row(case, p, now_ms, rating))
            .collect();
        // A new case rating is repeated on the parts the change did not touch.
        if fx.ratings.iter().any(|r| r.subject == RatingSubject::Case) {
            for p in &handling.parts {
                if !fx.parts.iter().any(|q| q.track == p.track) {
                    parts.push(mapping::part_row(case, p, now_ms, rating));
                }
            }
        }
        Self {
            parts,
            steps: fx
                .steps
                .iter()
                .map(|s| mapping::step_row(case.id.as_str(), s, now_ms, now_ms))
                .collect(),
            ratings: fx
                .ratings
                .iter()
                .map(|r| mapping::rating_row(case.id.as_str(), r, now_ms))
                .collect(),
            due: fx
                .schedule
                .iter()
                .map(|d| NewDueItem {
                    case_id: case.id.0.clone(),
                    step_id: d.step_id.clone(),
                    track: d.track.clone(),
                    kind: d.kind.as_text().to_string(),
                    due_on: mapping::day(d.due_on),
                    fire_at: fire_at_ms(d.due_on),
                    state: DueState::Pending.as_text().to_string(),
                })
                .collect(),
            cancel: fx.cancel.clone(),
        }
    }
}

/// One change to a case after its first answer, committed in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseChange {
    pub case_id: String,
    /// The case must still be at this `row_version` (else [`StoreError::Stale`]).
    pub expected_version: i64,
    pub status: Option<CaseStatus>,
    /// New stored application (JSON), when materials were added.
    pub application: Option<String>,
    /// Move the case to this catalog version (a change marked to apply to open cases).
    pub move_to_catalog: Option<String>,
    /// The case's promised date (`cases.due_date`), when the change moved or set it.
    pub due_date: Option<String>,
    pub lifecycle: LifecycleWrite,
    /// The due item this change carries out: marked done, guarded by its pending state, so a
    /// transition fires once however many instances try.
    pub fired: Option<(i64, String)>,
    pub notices: Vec<NewNotice>,
    pub events: Vec<NewEvent>,
    pub now_ms: i64,
    pub idempotency: Option<super::RequestKey>,
}

/// Writes the lifecycle rows (inside the caller's transaction).
pub(crate) fn write_lifecycle(
    conn: &mut DbConnection,
    case_id: &str,
    w: &LifecycleWrite,
) -> Result<(), StoreError> {
    for p in &w.parts {
        let updated = diesel::update(case_parts::table.find((&p.case_id, &p.track)))
            .set(p)
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(case_parts::table)
                .values(p)
                .execute(conn)?;
        }
    }
    for s in &w.steps {
        // A step keeps the time it was created.
        let updated = diesel::update(case_steps::table.find(&s.id))
            .set((
                case_steps::state.eq(&s.state),
                case_steps::started_on.eq(&s.started_on),
                case_steps::due_date.eq(&s.due_date),
                case_steps::warn_on.eq(&s.warn_on),
                case_steps::due_days.eq(&s.due_days),
                case_steps::warn_days.eq(&s.warn_days),
                case_steps::escalated.eq(s.escalated),
                case_steps::acted_by.eq(&s.acted_by),
                case_steps::acted_on.eq(&s.acted_on),
                case_steps::comment.eq(&s.comment),
                case_steps::basis.eq(&s.basis),
                case_steps::updated_at.eq(s.updated_at),
            ))
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(case_steps::table)
                .values(s)
                .execute(conn)?;
        }
    }
    for r in &w.ratings {
        let updated = diesel::update(ratings::table.find((&r.case_id, &r.subject)))
            .set((
                ratings::followup_due.eq(&r.followup_due),
                ratings::followup_closed_on.eq(&r.followup_closed_on),
                ratings::followup_closed_by.eq(&r.followup_closed_by),
                ratings::followup_note.eq(&r.followup_note),
                ratings::followup_callback.eq(&r.followup_callback),
            ))
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(ratings::table)
                .values(r)
                .execute(conn)?;
        }
    }
    let pending = DueState::Pending.as_text();
    let cancelled = DueState::Cancelled.as_text();
    for c in &w.cancel {
        let q = due_items::table
            .filter(due_items::case_id.eq(case_id))
            .filter(due_items::state.eq(pending));
        match c {
            Cancel::Step(step) => {
                diesel::update(q.filter(due_items::step_id.eq(step)))
                    .set(due_items::state.eq(cancelled))
                    .execute(conn)?;
            }
            Cancel::Part { track, kinds } => {
                let kinds: Vec<&str> = kinds.iter().map(|k| k.as_text()).collect();
                // Items from before parts name no track: they are the case's own matter's.
                diesel::update(
                    q.filter(due_items::step_id.is_null())
                        .filter(due_items::kind.eq_any(&kinds))
                        .filter(due_items::track.eq(track).or(due_items::track.is_null())),
                )
                .set(due_items::state.eq(cancelled))
                .execute(conn)?;
            }
        }
    }
    for d in &w.due {
        diesel::insert_into(due_items::table)
            .values(d)
            .execute(conn)?;
    }
    Ok(())
}

impl LifecycleWrite {
    /// Whether these rows are all new (a case's first write: nothing to update or cancel).
    pub(crate) fn only_inserts(&self) -> bool {
        self.cancel.is_empty()
    }

    /// Rows as a test writes them: the parts, steps and ratings given, and one pending step
    /// timeout per step, due on the step's date.
    #[cfg(test)]
    pub(crate) fn of_rows(parts: Vec<PartRow>, steps: Vec<StepRow>) -> Self {
        Self::of_all_rows(parts, steps, vec![])
    }

    #[cfg(test)]
    pub(crate) fn of_all_rows(
        parts: Vec<PartRow>,
        steps: Vec<StepRow>,
        ratings: Vec<RatingRow>,
    ) -> Self {
        let due = steps
            .iter()
            .map(|s| NewDueItem {
                case_id: s.case_id.clone(),
                step_id: Some(s.id.clone()),
                track: Some(s.track.clone()),
                kind: crate::domain::handling::DueKind::StepTimeout
                    .as_text()
                    .to_string(),
                due_on: s.due_date.clone().unwrap_or_default(),
                fire_at: s.created_at + 86_400_000,
                state: DueState::Pending.as_text().to_string(),
            })
            .collect();
        Self {
            parts,
            steps,
            ratings,
            due,
            cancel: vec![],
        }
    }

    /// The SQL of `insert_new_lifecycles`'s statements for these rows (SQLite), for the test
    /// that each batch is one statement. (Ratings are checked with a copy of a part's case.)
    #[cfg(test)]
    pub(crate) fn batch_sql_for_test(&self) -> Vec<String> {
        use diesel::sqlite::Sqlite;
        let rating = RatingRow {
            case_id: "c".into(),
            subject: "case".into(),
            level: 5,
            comment: None,
            rated_on: "2026-12-03".into(),
            rated_by: "applicant".into(),
            followup_due: None,
            followup_closed_on: None,
            followup_closed_by: None,
            followup_note: None,
            followup_callback: None,
            created_at: 0,
        };
        let parts: Vec<&PartRow> = self.parts.iter().collect();
        let steps: Vec<&StepRow> = self.steps.iter().collect();
        let due: Vec<&NewDueItem> = self.due.iter().collect();
        vec![
            diesel::debug_query::<Sqlite, _>(&diesel::insert_into(case_parts::table).values(parts))
                .to_string(),
            diesel::debug_query::<Sqlite, _>(&diesel::insert_into(case_steps::table).values(steps))
                .to_string(),
            diesel::debug_query::<Sqlite, _>(
                &diesel::insert_into(ratings::table).values(vec![&rating, &rating]),
            )
            .to_string(),
            diesel::debug_query::<Sqlite, _>(&diesel::insert_into(due_items::table).values(due))
                .to_string(),
        ]
    }
}

/// Inserts the lifecycle rows of new cases, all of them in one statement per table (as many
/// as `ROWS_PER_INSERT` allows), inside the caller's transaction. Only for cases written in
/// this transaction, whose rows cannot exist yet ([`LifecycleWrite::only_inserts`]).
pub(crate) fn insert_new_lifecycles(
    conn: &mut DbConnection,
    writes: &[&LifecycleWrite],
) -> Result<(), StoreError> {
    let parts: Vec<&PartRow> = writes.iter().flat_map(|w| &w.parts).collect();
    super::batch::insert_rows!(conn, case_parts::table, parts)?;
    let steps: Vec<&StepRow> = writes.iter().flat_map(|w| &w.steps).collect();
    super::batch::insert_rows!(conn, case_steps::table, steps)?;
    let ratings: Vec<&RatingRow> = writes.iter().flat_map(|w| &w.ratings).collect();
    super::batch::insert_rows!(conn, ratings::table, ratings)?;
    let due: Vec<&NewDueItem> = writes.iter().flat_map(|w| &w.due).collect();
    super::batch::insert_rows!(conn, due_items::table, due)?;
    Ok(())
}

/// PostgreSQL: the rows of [`insert_new_lifecycles`] as columns, for one statement with the
/// other rows of a batch of intakes.
pub(crate) fn new_lifecycle_columns<'a>(
    writes: &[&'a LifecycleWrite],
) -> Vec<super::columns::Columns<'a>> {
    use super::columns::Columns;
    let parts: Vec<&PartRow> = writes.iter().flat_map(|w| &w.parts).collect();
    let steps: Vec<&StepRow> = writes.iter().flat_map(|w| &w.steps).collect();
    let ratings: Vec<&RatingRow> = writes.iter().flat_map(|w| &w.ratings).collect();
    let due: Vec<&NewDueItem> = writes.iter().flat_map(|w| &w.due).collect();
    let parts = Columns::new("case_parts")
        .text(
            case_parts::case_id,
            parts.iter().map(|r| r.case_id.as_str()),
        )
        .text(case_parts::track, parts.iter().map(|r| r.track.as_str()))
        .text(
            case_parts::center_id,
            parts.iter().map(|r| r.center_id.as_str()),
        )
        .maybe_text(
            case_parts::township,
            parts.iter().map(|r| r.township.as_deref()),
        )
        .maybe_text(
            case_parts::window_id,
            parts.iter().map(|r| r.window_id.as_deref()),
        )
        .text(case_parts::status, parts.iter().map(|r| r.status.as_str()))
        .int(
            case_parts::supplement_notices,
            parts.iter().map(|r| r.supplement_notices),
        )
        .text(
            case_parts::decider_unit,
            parts.iter().map(|r| r.decider_unit.as_str()),
        )
        .text(
            case_parts::decider_level,
            parts.iter().map(|r| r.decider_level.as_str()),
        )
        .int(case_parts::immediate, parts.iter().map(|r| r.immediate))
        .maybe_text(
            case_parts::accepted_on,
            parts.iter().map(|r| r.accepted_on.as_deref()),
        )
        .maybe_int(case_parts::due_days, parts.iter().map(|r| r.due_days))
        .maybe_text(
            case_parts::due_date,
            parts.iter().map(|r| r.due_date.as_deref()),
        )
        .maybe_int(
            case_parts::statutory_days,
            parts.iter().map(|r| r.statutory_days),
        )
        .maybe_text(
            case_parts::statutory_due,
            parts.iter().map(|r| r.statutory_due.as_deref()),
        )
        .maybe_int(case_parts::warn_days, parts.iter().map(|r| r.warn_days))
        .maybe_text(
            case_parts::warn_on,
            parts.iter().map(|r| r.warn_on.as_deref()),
        )
        .maybe_text(case_parts::pause, parts.iter().map(|r| r.pause.as_deref()))
        .int(case_parts::paused_days, parts.iter().map(|r| r.paused_days))
        .int(case_parts::extensions, parts.iter().map(|r| r.extensions))
        .int(case_parts::escalated, parts.iter().map(|r| r.escalated))
        .maybe_text(
            case_parts::decision,
            parts.iter().map(|r| r.decision.as_deref()),
        )
        .maybe_text(
            case_parts::decided_on,
            parts.iter().map(|r| r.decided_on.as_deref()),
        )
        .maybe_int(case_parts::on_time, parts.iter().map(|r| r.on_time))
        .maybe_int(case_parts::days_used, parts.iter().map(|r| r.days_used))
        .maybe_text(
            case_parts::delivery_due,
            parts.iter().map(|r| r.delivery_due.as_deref()),
        )
        .maybe_text(
            case_parts::delivered_on,
            parts.iter().map(|r| r.delivered_on.as_deref()),
        )
        .maybe_text(
            case_parts::delivery,
            parts.iter().map(|r| r.delivery.as_deref()),
        )
        .maybe_int(case_parts::rating, parts.iter().map(|r| r.rating))
        .int(case_parts::updated_at, parts.iter().map(|r| r.updated_at))
        .maybe_text(
            case_parts::supplement_due,
            parts.iter().map(|r| r.supplement_due.as_deref()),
        );
    let steps = Columns::new("case_steps")
        .text(case_steps::id, steps.iter().map(|r| r.id.as_str()))
        .text(
            case_steps::case_id,
            steps.iter().map(|r| r.case_id.as_str()),
        )
        .text(case_steps::track, steps.iter().map(|r| r.track.as_str()))
        .int(case_steps::seq, steps.iter().map(|r| r.seq))
        .int(case_steps::group_no, steps.iter().map(|r| r.group_no))
        .text(
            case_steps::step_key,
            steps.iter().map(|r| r.step_key.as_str()),
        )
        .text(case_steps::name, steps.iter().map(|r| r.name.as_str()))
        .text(case_steps::role, steps.iter().map(|r| r.role.as_str()))
        .text(
            case_steps::unit_id,
            steps.iter().map(|r| r.unit_id.as_str()),
        )
        .text(
            case_steps::unit_name,
            steps.iter().map(|r| r.unit_name.as_str()),
        )
        .text(case_steps::level, steps.iter().map(|r| r.level.as_str()))
        .text(case_steps::state, steps.iter().map(|r| r.state.as_str()))
        .int(case_steps::days, steps.iter().map(|r| r.days))
        .maybe_text(
            case_steps::started_on,
            steps.iter().map(|r| r.started_on.as_deref()),
        )
        .maybe_text(
            case_steps::due_date,
            steps.iter().map(|r| r.due_date.as_deref()),
        )
        .maybe_text(
            case_steps::warn_on,
            steps.iter().map(|r| r.warn_on.as_deref()),
        )
        .int(
            case_steps::allow_countersign,
            steps.iter().map(|r| r.allow_countersign),
        )
        .int(
            case_steps::refusal_decides,
            steps.iter().map(|r| r.refusal_decides),
        )
        .text(
            case_steps::timeout_policy,
            steps.iter().map(|r| r.timeout_policy.as_str()),
        )
        .maybe_text(
            case_steps::acted_by,
            steps.iter().map(|r| r.acted_by.as_deref()),
        )
        .maybe_text(
            case_steps::acted_on,
            steps.iter().map(|r| r.acted_on.as_deref()),
        )
        .maybe_text(
            case_steps::comment,
            steps.iter().map(|r| r.comment.as_deref()),
        )
        .maybe_text(case_steps::basis, steps.iter().map(|r| r.basis.as_deref()))
        .int(case_steps::created_at, steps.iter().map(|r| r.created_at))
        .int(case_steps::updated_at, steps.iter().map(|r| r.updated_at))
        .maybe_int(case_steps::due_days, steps.iter().map(|r| r.due_days))
        .maybe_int(case_steps::warn_days, steps.iter().map(|r| r.warn_days))
        .int(case_steps::escalated, steps.iter().map(|r| r.escalated));
    let ratings = Columns::new("ratings")
        .text(ratings::case_id, ratings.iter().map(|r| r.case_id.as_str()))
        .text(ratings::subject, ratings.iter().map(|r| r.subject.as_str()))
        .int(ratings::level, ratings.iter().map(|r| r.level))
        .maybe_text(
            ratings::comment,
            ratings.iter().map(|r| r.comment.as_deref()),
        )
        .text(
            ratings::rated_on,
            ratings.iter().map(|r| r.rated_on.as_str()),
        )
        .text(
            ratings::rated_by,
            ratings.iter().map(|r| r.rated_by.as_str()),
        )
        .maybe_text(
            ratings::followup_due,
            ratings.iter().map(|r| r.followup_due.as_deref()),
        )
        .maybe_text(
            ratings::followup_closed_on,
            ratings.iter().map(|r| r.followup_closed_on.as_deref()),
        )
        .maybe_text(
            ratings::followup_closed_by,
            ratings.iter().map(|r| r.followup_closed_by.as_deref()),
        )
        .maybe_text(
            ratings::followup_note,
            ratings.iter().map(|r| r.followup_note.as_deref()),
        )
        .maybe_text(
            ratings::followup_callback,
            ratings.iter().map(|r| r.followup_callback.as_deref()),
        )
        .int(ratings::created_at, ratings.iter().map(|r| r.created_at));
    let due = Columns::new("due_items")
        .text(due_items::case_id, due.iter().map(|r| r.case_id.as_str()))
        .maybe_text(due_items::step_id, due.iter().map(|r| r.step_id.as_deref()))
        .maybe_text(due_items::track, due.iter().map(|r| r.track.as_deref()))
        .text(due_items::kind, due.iter().map(|r| r.kind.as_str()))
        .text(due_items::due_on, due.iter().map(|r| r.due_on.as_str()))
        .int(due_items::fire_at, due.iter().map(|r| r.fire_at))
        .text(due_items::state, due.iter().map(|r| r.state.as_str()));
    vec![parts, steps, ratings, due]
}

/// The parts, steps and ratings of a case.
pub(crate) fn load_handling(
    conn: &mut DbConnection,
    case_id: &str,
    keys: Option<&Keyring>,
) -> Result<Handling, StoreError> {
    let mut parts: Vec<PartRow> = case_parts::table
        .filter(case_parts::case_id.eq(case_id))
        .order(case_parts::track)
        .select(PartRow::as_select())
        .load(conn)?;
    let mut steps = load_steps(conn, case_id)?;
    let mut rated: Vec<RatingRow> = ratings::table
        .filter(ratings::case_id.eq(case_id))
        .order(ratings::created_at)
        .select(RatingRow::as_select())
        .load(conn)?;
    parts.iter_mut().try_for_each(|r| r.open(keys))?;
    steps.iter_mut().try_for_each(|r| r.open(keys))?;
    rated.iter_mut().try_for_each(|r| r.open(keys))?;
    Ok(Handling {
        parts: parts
            .iter()
            .map(mapping::part_of)
            .collect::<Result<_, _>>()?,
        steps: steps
            .iter()
            .map(mapping::step_of)
            .collect::<Result<_, _>>()?,
        ratings: rated
            .iter()
            .map(mapping::rating_of)
            .collect::<Result<_, _>>()?,
    })
}

fn load_steps(conn: &mut DbConnection, case_id: &str) -> Result<Vec<StepRow>, StoreError> {
    Ok(case_steps::table
        .filter(case_steps::case_id.eq(case_id))
        .order(case_steps::seq)
        .select(StepRow::as_select())
        .load(conn)?)
}

/// The pending due items of a case, in order.
pub(crate) fn load_due(
    conn: &mut DbConnection,
    case_id: &str,
) -> Result<Vec<StoredDueItem>, StoreError> {
    let rows: Vec<DueItemRow> = due_items::table
        .filter(due_items::case_id.eq(case_id))
        .filter(due_items::state.eq(DueState::Pending.as_text()))
        .order(due_items::id)
        .select(DueItemRow::as_select())
        .load(conn)?;
    rows.iter().map(stored_due).collect()
}

fn stored_due(r: &DueItemRow) -> Result<StoredDueItem, StoreError> {
    let (id, case_id, item) = mapping::due_item_of(r)?;
    Ok(StoredDueItem { id, case_id, item })
}

/// Active steps waiting for one of `units`, earliest due first.
pub(crate) fn inbox(
    conn: &mut DbConnection,
    units: &[String],
    limit: i64,
    keys: Option<&Keyring>,
) -> Result<Vec<(String, crate::domain::route::Step)>, StoreError> {
    let rows: Vec<StepRow> = case_steps::table
        .filter(case_steps::unit_id.eq_any(units))
        .filter(case_steps::state.eq(crate::domain::route::StepState::Active.as_text()))
        .order((case_steps::due_date.asc(), case_steps::id.asc()))
        .limit(limit)
        .select(StepRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|mut r| {
            r.open(keys)?;
            Ok((r.case_id.clone(), mapping::step_of(&r)?))
        })
        .collect()
}

/// Takes a lease on up to `limit` pending due items whose time has come. On PostgreSQL the
/// candidate rows are locked with `FOR UPDATE SKIP LOCKED`, so instances sweeping at once take
/// different items; on SQLite the write transaction excludes every other writer.
/// Ids of cases with a matter still running, waiting for 补正, or decided with its result not
/// yet handed over, after `after` in id order. With `since` (a `YYYY-MM-DD` day), only those
/// with a deadline a calendar that changed from that day on may move: one without a date yet,
/// or dated on or after it (a 补正 deadline, kept as JSON, always counts).
pub(crate) fn cases_with_open_parts(
    conn: &mut DbConnection,
    after: Option<&str>,
    limit: i64,
    since: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    use crate::domain::handling::PartStatus;
    use crate::domain::route::StepState;
    use case_parts::dsl as p;
    let open = [
        PartStatus::InProgress.as_text(),
        PartStatus::Paused.as_text(),
        PartStatus::AwaitingSupplement.as_text(),
        PartStatus::Decided.as_text(),
    ];
    let after = after.unwrap_or("");
    let parts = p::case_parts
        .filter(p::status.eq_any(open))
        .filter(p::case_id.gt(after))
        .filter(p::delivered_on.is_null())
        .select(p::case_id)
        .distinct()
        .order(p::case_id.asc())
        .limit(limit);
    let Some(since) = since else {
        return Ok(match conn {
            DbConnection::Pg(c) => parts.load(c)?,
            DbConnection::Sqlite(c) => parts.load(c)?,
        });
    };
    let moves = p::due_date
        .is_null()
        .and(p::due_days.is_not_null())
        .or(p::due_date.assume_not_null().ge(since))
        .or(p::statutory_due
            .is_null()
            .and(p::statutory_days.is_not_null()))
        .or(p::statutory_due.assume_not_null().ge(since))
        .or(p::warn_on.is_null().and(p::warn_days.is_not_null()))
        .or(p::warn_on.assume_not_null().ge(since))
        .or(p::supplement_due.is_not_null())
        .or(p::status.eq(PartStatus::Decided.as_text()).and(
            p::delivery_due
                .is_null()
                .or(p::delivery_due.assume_not_null().ge(since)),
        ));
    let parts = parts.filter(moves);
    use case_steps::dsl as s;
    let steps = s::case_steps
        .filter(s::state.eq(StepState::Active.as_text()))
        .filter(s::case_id.gt(after))
        .filter(
            s::due_date
                .is_null()
                .and(s::due_days.is_not_null())
                .or(s::due_date.assume_not_null().ge(since))
                .or(s::warn_on.is_null().and(s::warn_days.is_not_null()))
                .or(s::warn_on.assume_not_null().ge(since)),
        )
        .select(s::case_id)
        .distinct()
        .order(s::case_id.asc())
        .limit(limit);
    let (mut ids, more): (Vec<String>, Vec<String>) = match conn {
        DbConnection::Pg(c) => (parts.load(c)?, steps.load(c)?),
        DbConnection::Sqlite(c) => (parts.load(c)?, steps.load(c)?),
    };
    // Each list holds its first `limit` ids after `after`, so the first `limit` of both do too.
    ids.extend(more);
    ids.sort_unstable();
    ids.dedup();
    ids.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(ids)
}

/// Pending due items, and those among them whose time has passed.
pub(crate) fn due_counts(
    conn: &mut DbConnection,
    now_ms: i64,
) -> Result<super::DueCounts, StoreError> {
    use due_items::dsl as d;
    let pending = DueState::Pending.as_text();
    let all = d::due_items.filter(d::state.eq(pending));
    let (pending, overdue): (i64, i64) = match conn {
        DbConnection::Pg(c) => (
            all.count().get_result(c)?,
            all.filter(d::fire_at.le(now_ms)).count().get_result(c)?,
        ),
        DbConnection::Sqlite(c) => (
            all.count().get_result(c)?,
            all.filter(d::fire_at.le(now_ms)).count().get_result(c)?,
        ),
    };
    Ok(super::DueCounts { pending, overdue })
}

pub(crate) fn claim_due(
    conn: &mut DbConnection,
    now_ms: i64,
    owner: &str,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<StoredDueItem>, StoreError> {
    use due_items::dsl as d;
    let pending = DueState::Pending.as_text();
    let ids: Vec<i64> = match conn {
        DbConnection::Pg(c) => d::due_items
            .filter(d::state.eq(pending))
            .filter(d::fire_at.le(now_ms))
            .filter(d::lease_until.is_null().or(d::lease_until.lt(now_ms)))
            .order(d::fire_at.asc())
            .limit(limit)
            .select(d::id)
            .for_update()
            .skip_locked()
            .load(c)?,
        DbConnection::Sqlite(c) => d::due_items
            .filter(d::state.eq(pending))
            .filter(d::fire_at.le(now_ms))
            .filter(d::lease_until.is_null().or(d::lease_until.lt(now_ms)))
            .order(d::fire_at.asc())
            .limit(limit)
            .select(d::id)
            .load(c)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(d::due_items.filter(d::id.eq_any(&ids)))
        .set((
            d::lease_owner.eq(owner),
            d::lease_until.eq(now_ms + lease_ms),
        ))
        .execute(conn)?;
    let rows: Vec<DueItemRow> = d::due_items
        .filter(d::id.eq_any(&ids))
        .order(d::fire_at.asc())
        .select(DueItemRow::as_select())
        .load(conn)?;
    rows.iter().map(stored_due).collect()
}
