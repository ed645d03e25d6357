//! Rows and statements of a case's handling after acceptance: the handling row (deadlines,
//! pause, decision, delivery, rating), the route's steps, and the scheduler's due items.

use diesel::prelude::*;

use super::conn::DbConnection;
use super::ops::{insert_event, insert_notices, load_case};
use super::schema::{case_handling, case_steps, cases, due_items};
use super::{IntakeReceipt, NewEvent, NewNotice, StoreError};

/// The handling of one accepted case (one row per case).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = case_handling)]
#[diesel(treat_none_as_null = true)]
pub struct HandlingRow {
    pub case_id: String,
    pub center_id: String,
    pub township: Option<String>,
    pub window_id: Option<String>,
    pub matter_code: String,
    pub decider_unit: String,
    pub decider_level: String,
    /// 1 for 即办件.
    pub immediate: i64,
    pub accepted_on: String,
    /// 承诺办结日期, moved by pauses and extensions.
    pub due_date: Option<String>,
    /// 法定办结日期, moved by pauses and extensions.
    pub statutory_due: Option<String>,
    /// Yellow from this date.
    pub warn_on: Option<String>,
    /// `in_progress`, `paused`, `decided` or `terminated`.
    pub state: String,
    /// JSON of the running 特别程序.
    pub pause: Option<String>,
    pub paused_days: i64,
    pub extensions: i64,
    pub escalated: i64,
    /// `approved`, `disapproved`, `deemed_approved` or `terminated`.
    pub decision: Option<String>,
    pub decided_on: Option<String>,
    pub on_time: Option<i64>,
    pub days_used: Option<i64>,
    pub delivery_due: Option<String>,
    pub delivered_on: Option<String>,
    /// JSON.
    pub delivery: Option<String>,
    pub rating: Option<i64>,
    pub rating_comment: Option<String>,
    pub rated_on: Option<String>,
    pub followup_due: Option<String>,
    pub followup_closed_on: Option<String>,
    pub followup_note: Option<String>,
    /// Optimistic-lock counter: 1 at acceptance, +1 on every change.
    pub version: i64,
    pub updated_at: i64,
}

/// One step of a case's route.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = case_steps)]
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
}

/// A due item to schedule.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = due_items)]
pub struct NewDueItem {
    pub case_id: String,
    pub step_id: Option<String>,
    pub kind: String,
    pub due_on: String,
    pub fire_at: i64,
    pub state: String,
}

/// The handling created when a case is accepted (inside its intake or supplement transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHandling {
    pub handling: HandlingRow,
    pub steps: Vec<StepRow>,
    pub due: Vec<NewDueItem>,
}

/// One change to an accepted case, committed in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlingChange {
    pub case_id: String,
    /// The handling row must still be at this version (else `Conflict`).
    pub expected_version: i64,
    /// The new handling row (its version is set by the store).
    pub handling: HandlingRow,
    /// Steps to insert or overwrite (by id).
    pub steps: Vec<StepRow>,
    /// Cancel the pending due items of these steps.
    pub cancel_steps: Vec<String>,
    /// Cancel the pending case-level due items of these kinds.
    pub cancel_kinds: Vec<String>,
    pub due: Vec<NewDueItem>,
    /// The due item this change carries out: marked done, guarded by `state = 'pending'`, so a
    /// transition fires once however many instances try.
    pub fired: Option<(i64, String)>,
    /// New `cases.status`, if it changes.
    pub case_status: Option<String>,
    /// New stored application (JSON), when materials were added.
    pub application: Option<String>,
    /// Move the case to this catalog version (a change marked to apply to open cases).
    pub move_to_catalog: Option<String>,
    pub notices: Vec<NewNotice>,
    pub events: Vec<NewEvent>,
    pub now_ms: i64,
}

pub(crate) fn insert_handling(
    conn: &mut DbConnection,
    h: &NewHandling,
    now_ms: i64,
) -> Result<(), StoreError> {
    let mut row = h.handling.clone();
    row.version = 1;
    row.updated_at = now_ms;
    diesel::insert_into(case_handling::table)
        .values(&row)
        .execute(conn)?;
    for s in &h.steps {
        diesel::insert_into(case_steps::table)
            .values(s)
            .execute(conn)?;
    }
    insert_due(conn, &h.due)
}

fn insert_due(conn: &mut DbConnection, due: &[NewDueItem]) -> Result<(), StoreError> {
    for d in due {
        diesel::insert_into(due_items::table)
            .values(d)
            .execute(conn)?;
    }
    Ok(())
}

pub(crate) fn apply_change(
    conn: &mut DbConnection,
    c: &HandlingChange,
) -> Result<IntakeReceipt, StoreError> {
    if let Some((item, by)) = &c.fired {
        let done = diesel::update(
            due_items::table
                .filter(due_items::id.eq(item))
                .filter(due_items::state.eq("pending")),
        )
        .set((
            due_items::state.eq("done"),
            due_items::done_at.eq(c.now_ms),
            due_items::done_by.eq(by),
        ))
        .execute(conn)?;
        if done == 0 {
            return Err(StoreError::Conflict(format!(
                "due item {item} was already carried out or cancelled"
            )));
        }
    }
    let mut row = c.handling.clone();
    row.version = c.expected_version + 1;
    row.updated_at = c.now_ms;
    let changed = diesel::update(
        case_handling::table
            .filter(case_handling::case_id.eq(&c.case_id))
            .filter(case_handling::version.eq(c.expected_version)),
    )
    .set(&row)
    .execute(conn)?;
    if changed == 0 {
        return Err(StoreError::Conflict(format!(
            "case {} changed meanwhile (expected handling version {})",
            c.case_id, c.expected_version
        )));
    }
    for s in &c.steps {
        let updated = diesel::update(case_steps::table.find(&s.id))
            .set(s)
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(case_steps::table)
                .values(s)
                .execute(conn)?;
        }
    }
    if !c.cancel_steps.is_empty() {
        diesel::update(
            due_items::table
                .filter(due_items::case_id.eq(&c.case_id))
                .filter(due_items::state.eq("pending"))
                .filter(due_items::step_id.eq_any(&c.cancel_steps)),
        )
        .set(due_items::state.eq("cancelled"))
        .execute(conn)?;
    }
    if !c.cancel_kinds.is_empty() {
        diesel::update(
            due_items::table
                .filter(due_items::case_id.eq(&c.case_id))
                .filter(due_items::state.eq("pending"))
                .filter(due_items::step_id.is_null())
                .filter(due_items::kind.eq_any(&c.cancel_kinds)),
        )
        .set(due_items::state.eq("cancelled"))
        .execute(conn)?;
    }
    insert_due(conn, &c.due)?;
    let status_changed = match (&c.case_status, &c.application) {
        (None, None) => None,
        (status, application) => Some(
            diesel::update(cases::table.find(&c.case_id))
                .set((
                    status.as_ref().map(|s| cases::status.eq(s)),
                    application.as_ref().map(|a| cases::application.eq(a)),
                    cases::updated_at.eq(c.now_ms),
                    cases::row_version.eq(cases::row_version + 1i64),
                ))
                .execute(conn)?,
        ),
    };
    if status_changed == Some(0) {
        return Err(StoreError::NotFound(format!("case {}", c.case_id)));
    }
    if let Some(hash) = &c.move_to_catalog {
        diesel::update(cases::table.find(&c.case_id))
            .set(cases::catalog_hash.eq(hash))
            .execute(conn)?;
    }
    let notices = insert_notices(conn, &c.case_id, &c.notices, c.now_ms)?;
    for e in &c.events {
        insert_event(conn, &c.case_id, c.now_ms, e)?;
    }
    let case = load_case(conn, &c.case_id)?
        .ok_or_else(|| StoreError::NotFound(format!("case {}", c.case_id)))?;
    Ok(IntakeReceipt {
        case,
        notices,
        replayed: false,
    })
}

pub(crate) fn load_handling(
    conn: &mut DbConnection,
    case_id: &str,
) -> Result<Option<HandlingRow>, StoreError> {
    Ok(case_handling::table
        .find(case_id)
        .select(HandlingRow::as_select())
        .first(conn)
        .optional()?)
}

pub(crate) fn load_steps(
    conn: &mut DbConnection,
    case_id: &str,
) -> Result<Vec<StepRow>, StoreError> {
    Ok(case_steps::table
        .filter(case_steps::case_id.eq(case_id))
        .order(case_steps::seq)
        .select(StepRow::as_select())
        .load(conn)?)
}

pub(crate) fn load_due(
    conn: &mut DbConnection,
    case_id: &str,
) -> Result<Vec<DueItemRow>, StoreError> {
    Ok(due_items::table
        .filter(due_items::case_id.eq(case_id))
        .order(due_items::id)
        .select(DueItemRow::as_select())
        .load(conn)?)
}

/// Active steps waiting for one of `units`, oldest first.
pub(crate) fn inbox(
    conn: &mut DbConnection,
    units: &[String],
    limit: i64,
) -> Result<Vec<StepRow>, StoreError> {
    Ok(case_steps::table
        .filter(case_steps::unit_id.eq_any(units))
        .filter(case_steps::state.eq("active"))
        .order((case_steps::due_date.asc(), case_steps::id.asc()))
        .limit(limit)
        .select(StepRow::as_select())
        .load(conn)?)
}

/// Takes a lease on up to `limit` pending due items whose time has come. On PostgreSQL the
/// candidate rows are locked with `FOR UPDATE SKIP LOCKED`, so instances sweeping at once take
/// different items; on SQLite the write transaction excludes every other writer.
pub(crate) fn claim_due(
    conn: &mut DbConnection,
    now_ms: i64,
    owner: &str,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<DueItemRow>, StoreError> {
    use due_items::dsl as d;
    let ids: Vec<i64> = match conn {
        DbConnection::Pg(c) => d::due_items
            .filter(d::state.eq("pending"))
            .filter(d::fire_at.le(now_ms))
            .filter(d::lease_until.is_null().or(d::lease_until.lt(now_ms)))
            .order(d::fire_at.asc())
            .limit(limit)
            .select(d::id)
            .for_update()
            .skip_locked()
            .load(c)?,
        DbConnection::Sqlite(c) => d::due_items
            .filter(d::state.eq("pending"))
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
    Ok(d::due_items
        .filter(d::id.eq_any(&ids))
        .order(d::fire_at.asc())
        .select(DueItemRow::as_select())
        .load(conn)?)
}
