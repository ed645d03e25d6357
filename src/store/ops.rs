//! The statements behind the store's operations, written once against `DbConnection`.
//! Only the document-counter upsert and the transaction start differ per backend.

use std::borrow::Cow;

use diesel::prelude::*;

use crate::domain::handling::EventKind;
use crate::domain::matter::NumberPattern;

use super::audit;
use super::batch::insert_rows;
use super::columns::{Columns, Together};
use super::conn::{DbConnection, MultiBackend};
use super::handling::{write_lifecycle, CaseChange};
use super::mapping::{AsText, DueState};
use super::outbox::{self, OutboxRoute};
use super::schema::{
    case_events, cases, document_counters, due_items, idempotency_keys, notices,
    personal_data_reads,
};
use super::tx::{savepoint, write_tx};
use super::{
    CaseFilter, CasePage, CaseRow, CaseUpdate, EventRow, IntakeReceipt, NewEvent, NewIntake,
    NewNotice, NewRead, NoticeRow, RequestKey, StoreError,
};

/// A write request: what the writer thread (group commit) or a pooled connection executes.
#[derive(Debug)]
pub(crate) enum Job {
    /// The intake, and the keyed hash of the applicant's ID number (with keys).
    Intake(Box<NewIntake>, Option<String>),
    /// Entries of the personal-data read log.
    Reads(Vec<NewRead>),
    Update(Box<CaseUpdate>),
    Change(Box<CaseChange>),
    /// Fault injection for the writer's own tests: panics inside the transaction.
    #[cfg(test)]
    Panic,
}

/// What a committed job answers.
#[derive(Debug)]
pub(crate) enum Done {
    Receipt(Box<IntakeReceipt>),
    /// Read-log entries written.
    Logged,
}

impl Job {
    /// Runs the job on `conn` (inside the caller's transaction); `routes` are the subscribers
    /// whose outbox deliveries its events create.
    pub(crate) fn apply(
        &self,
        conn: &mut DbConnection,
        routes: &[OutboxRoute],
    ) -> Result<Done, StoreError> {
        match self {
            Job::Intake(i, h) => {
                apply_intake(conn, i, h.as_deref(), routes).map(|r| Done::Receipt(Box::new(r)))
            }
            Job::Reads(r) => {
                insert_rows!(conn, personal_data_reads::table, r).map(|()| Done::Logged)
            }
            Job::Update(u) => apply_update(conn, u, routes).map(|r| Done::Receipt(Box::new(r))),
            Job::Change(c) => apply_change(conn, c, routes).map(|r| Done::Receipt(Box::new(r))),
            #[cfg(test)]
            Job::Panic => panic!("injected panic in a store job"),
        }
    }

    fn has_idempotency_key(&self) -> bool {
        match self {
            Job::Intake(i, _) => i.idempotency.is_some(),
            Job::Update(u) => u.idempotency.is_some(),
            Job::Change(c) => c.idempotency.is_some(),
            Job::Reads(_) => false,
            #[cfg(test)]
            Job::Panic => false,
        }
    }
}

/// Runs one job in a (nested, when inside a batch) transaction, retrying the transient cases:
/// PostgreSQL deadlocks/serialization failures, and an idempotency key inserted concurrently
/// by another transaction (the retry then finds it and replays).
pub(crate) fn run_job(
    conn: &mut DbConnection,
    job: &Job,
    top_level: bool,
    routes: &[OutboxRoute],
) -> Result<Done, StoreError> {
    let mut attempt = 0;
    loop {
        let r = if top_level {
            write_tx(conn, |c| job.apply(c, routes))
        } else {
            savepoint(conn, |c| job.apply(c, routes))
        };
        match r {
            Err(e) if e.is_retryable() && attempt < 5 => attempt += 1,
            Err(StoreError::Duplicate(_)) if job.has_idempotency_key() && attempt == 0 => {
                attempt += 1
            }
            other => return other,
        }
    }
}

/// The hash of audit entry `e` of `case_id` following `prev` (see `audit.rs`).
fn chained_hash(prev: &str, case_id: &str, at: i64, e: &NewEvent) -> String {
    audit::entry_hash(
        prev,
        case_id,
        at,
        &e.actor,
        e.action.as_text(),
        &e.catalog_hash,
        &e.detail,
    )
}

#[derive(Clone, Insertable)]
#[diesel(table_name = case_events)]
#[diesel(treat_none_as_default_value = false)]
struct EventInsert<'a> {
    case_id: &'a str,
    at: i64,
    actor: &'a str,
    action: &'a str,
    catalog_hash: &'a str,
    detail: &'a str,
    prev_hash: &'a str,
    hash: &'a str,
}

impl<'a> EventInsert<'a> {
    fn of(case_id: &'a str, at: i64, e: &'a NewEvent, prev: &'a str, hash: &'a str) -> Self {
        Self {
            case_id,
            at,
            actor: &e.actor,
            action: e.action.as_text(),
            catalog_hash: &e.catalog_hash,
            detail: &e.detail,
            prev_hash: prev,
            hash,
        }
    }
}

#[derive(Clone, Insertable)]
#[diesel(table_name = idempotency_keys)]
#[diesel(treat_none_as_default_value = false)]
struct IdempotencyInsert<'a> {
    user_id: &'a str,
    key: &'a str,
    case_id: &'a str,
    request_hash: &'a str,
    created_at: i64,
    notice_ids: Option<String>,
}

impl<'a> IdempotencyInsert<'a> {
    /// The row of key `k` of a write to `case_id`: `numbered` are the notices a change numbered
    /// (`None` for an intake, whose retry answers with every notice of its case).
    fn of(k: &'a RequestKey, case_id: &'a str, numbered: Option<&[NoticeRow]>, at: i64) -> Self {
        Self {
            user_id: &k.user_id,
            key: &k.key,
            case_id,
            request_hash: &k.request_hash,
            created_at: at,
            notice_ids: numbered.map(|n| {
                serde_json::Value::from(n.iter().map(|n| n.id.as_str()).collect::<Vec<_>>())
                    .to_string()
            }),
        }
    }
}

/// What the write under key `k` committed, if one did: the case, and the notices the write
/// numbered (an intake: every notice of its case). `IdempotencyMismatch` when the key was used
/// for another request. Runs inside the caller's transaction or on its own.
pub(crate) fn replay(
    conn: &mut DbConnection,
    k: &RequestKey,
) -> Result<Option<IntakeReceipt>, StoreError> {
    let found = idempotency_keys::table
        .find((&k.user_id, &k.key))
        .select((
            idempotency_keys::case_id,
            idempotency_keys::request_hash,
            idempotency_keys::notice_ids,
        ))
        // `get_result`, not `first`: a primary-key lookup needs no `LIMIT ?`, and a bound
        // LIMIT makes SQLite re-prepare the cached statement on every bind.
        .get_result::<(String, String, Option<String>)>(conn)
        .optional()?;
    let Some((case_id, stored_hash, numbered)) = found else {
        return Ok(None);
    };
    if stored_hash != k.request_hash {
        return Err(StoreError::IdempotencyMismatch);
    }
    let case = load_case(conn, &case_id)?.ok_or_else(|| {
        StoreError::NotFound(format!("case {case_id} of idempotency key {}", k.key))
    })?;
    let mut notices = load_notices(conn, &case_id)?;
    if let Some(ids) = numbered {
        let ids: Vec<String> = serde_json::from_str(&ids).map_err(|e| {
            StoreError::Corrupt(format!("notice ids of idempotency key {}: {e}", k.key))
        })?;
        notices.retain(|n| ids.contains(&n.id));
    }
    Ok(Some(IntakeReceipt {
        case,
        notices,
        replayed: true,
    }))
}

/// Stores key `k` of a write to `case_id` (see [`IdempotencyInsert::of`]), inside the caller's
/// transaction.
pub(crate) fn record_key(
    conn: &mut DbConnection,
    k: &RequestKey,
    case_id: &str,
    numbered: Option<&[NoticeRow]>,
    at: i64,
) -> Result<(), StoreError> {
    diesel::insert_into(idempotency_keys::table)
        .values(IdempotencyInsert::of(k, case_id, numbered, at))
        .execute(conn)?;
    Ok(())
}

fn apply_intake(
    conn: &mut DbConnection,
    intake: &NewIntake,
    id_hash: Option<&str>,
    routes: &[OutboxRoute],
) -> Result<IntakeReceipt, StoreError> {
    if let Some(k) = &intake.idempotency {
        if let Some(first) = replay(conn, k)? {
            return Ok(first);
        }
    }

    let mut case = intake.case.clone();
    case.row_version = 1;
    diesel::insert_into(cases::table)
        .values((&case, cases::applicant_id_hash.eq(id_hash)))
        .execute(conn)?;
    let (new_notices, events) = number_results(conn, &intake.notices, &intake.events)?;
    let notices = insert_notices(conn, &case.id, &new_notices, case.created_at)?;
    for e in events.iter() {
        insert_event(conn, &case.id, case.created_at, e, routes)?;
    }
    if let Some(l) = &intake.lifecycle {
        write_lifecycle(conn, &case.id, l)?;
    }
    if let Some(k) = &intake.idempotency {
        record_key(conn, k, &case.id, None, case.created_at)?;
    }
    Ok(IntakeReceipt {
        case,
        notices,
        replayed: false,
    })
}

/// Runs the jobs of one batch inside the caller's transaction and answers each, in order: the
/// intakes together ([`apply_intakes`]), every other job on its own. `tick` is called as the work
/// goes on (the writer's watchdog). An error fails the whole batch; the writer then redoes it
/// job by job, each in its own savepoint, so only the failing job fails.
pub(crate) fn apply_all(
    conn: &mut DbConnection,
    jobs: &[&Job],
    routes: &[OutboxRoute],
    tick: &dyn Fn(),
) -> Result<Vec<Done>, StoreError> {
    let intakes: Vec<(usize, &NewIntake, Option<&str>)> = jobs
        .iter()
        .enumerate()
        .filter_map(|(at, j)| match j {
            Job::Intake(i, h) => Some((at, i.as_ref(), h.as_deref())),
            _ => None,
        })
        .collect();
    let mut out: Vec<Option<Done>> = jobs.iter().map(|_| None).collect();
    if intakes.len() > 1 {
        let pairs: Vec<(&NewIntake, Option<&str>)> =
            intakes.iter().map(|&(_, i, h)| (i, h)).collect();
        let receipts = apply_intakes(conn, &pairs, routes)?;
        for ((at, _, _), r) in intakes.iter().zip(receipts) {
            out[*at] = Some(Done::Receipt(Box::new(r)));
        }
        tick();
    }
    for (at, job) in jobs.iter().enumerate() {
        if out[at].is_none() {
            out[at] = Some(job.apply(conn, routes)?);
            tick();
        }
    }
    every_answered(out)
}

/// The answers of a set in its order; a missing one is an error of the store itself, never a
/// reply given to the wrong request.
fn every_answered<T>(out: Vec<Option<T>>) -> Result<Vec<T>, StoreError> {
    out.into_iter()
        .map(|r| r.ok_or_else(|| StoreError::Query("a write of the batch was not answered".into())))
        .collect()
}

/// Writes several new cases at once: the same rows as [`apply_intake`] for each, but every
/// table's rows of the whole set in one multi-row statement (on PostgreSQL each statement is a
/// network round trip, and this is what lets a batch of intakes cost about as much as one).
/// A new case's audit chain starts at [`audit::GENESIS`] and its outbox sequence at 1, so both
/// are computed here rather than read back; each notice series is counted up once for all the
/// numbers the set takes from it. An intake whose idempotency key is already stored is replayed
/// as `apply_intake` does. Runs inside the caller's transaction.
pub(crate) fn apply_intakes(
    conn: &mut DbConnection,
    intakes: &[(&NewIntake, Option<&str>)],
    routes: &[OutboxRoute],
) -> Result<Vec<IntakeReceipt>, StoreError> {
    use super::outbox::{CaseSummary, PreparedEvent};
    use std::collections::HashSet;

    let keys: Vec<&str> = intakes
        .iter()
        .filter_map(|(i, _)| i.idempotency.as_ref().map(|k| k.key.as_str()))
        .collect();
    let known: HashSet<(String, String)> = if keys.is_empty() {
        HashSet::new()
    } else {
        idempotency_keys::table
            .filter(idempotency_keys::key.eq_any(&keys))
            .select((idempotency_keys::user_id, idempotency_keys::key))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect()
    };
    let mut out: Vec<Option<IntakeReceipt>> = intakes.iter().map(|_| None).collect();
    let mut fresh: Vec<usize> = Vec::with_capacity(intakes.len());
    for (at, (i, h)) in intakes.iter().enumerate() {
        let replay = i
            .idempotency
            .as_ref()
            .is_some_and(|k| known.contains(&(k.user_id.clone(), k.key.clone())));
        let all_new = i.lifecycle.as_ref().is_none_or(|l| l.only_inserts());
        // A numbered result (证照编号) is written into its notice and event before they are
        // chained: that intake takes the one-case path.
        let numbered = i.notices.iter().any(|n| n.result_series.is_some());
        if replay || !all_new || numbered {
            out[at] = Some(apply_intake(conn, i, *h, routes)?);
        } else {
            fresh.push(at);
        }
    }

    // Rows, built before anything is written.
    let mut cases_rows: Vec<CaseRow> = Vec::with_capacity(fresh.len());
    let mut heads: Vec<String> = Vec::with_capacity(fresh.len());
    let mut chain: Vec<(usize, usize, String, String)> = Vec::new();
    let mut outbox_rows: Vec<PreparedEvent> = Vec::new();
    // The events as stored (details sealed when the store has keys), per intake of `fresh`.
    let mut stored: Vec<Vec<Cow<'_, NewEvent>>> = Vec::with_capacity(fresh.len());
    for &at in &fresh {
        let i = intakes[at].0;
        let mut case = i.case.clone();
        case.row_version = 1;
        let summary = CaseSummary::of_row(&case);
        let mut prev = audit::GENESIS.to_string();
        let events = i
            .events
            .iter()
            .map(|e| e.stored(&case.id))
            .collect::<Result<Vec<_>, _>>()?;
        for (k, e) in events.iter().enumerate() {
            let hash = chained_hash(&prev, &case.id, case.created_at, e);
            let seq = i64::try_from(k).unwrap_or(0) + 1;
            outbox_rows.push(PreparedEvent::new(&summary, seq, case.created_at, e)?);
            chain.push((stored.len(), k, prev, hash.clone()));
            prev = hash;
        }
        stored.push(events);
        heads.push(prev);
        cases_rows.push(case);
    }

    // Each case with its chain head and the hash of its applicant's ID number.
    let case_values: Vec<(&CaseRow, Option<&str>, Option<&str>)> = fresh
        .iter()
        .zip(&cases_rows)
        .zip(&heads)
        .map(|((&at, c), head)| {
            // A case without events keeps no chain head, as `apply_intake` leaves it.
            let head = (!intakes[at].0.events.is_empty()).then_some(head.as_str());
            (c, head, intakes[at].1)
        })
        .collect();
    let events: Vec<EventInsert<'_>> = chain
        .iter()
        .map(|(n, k, prev, hash)| {
            let i = intakes[fresh[*n]].0;
            EventInsert::of(&i.case.id, i.case.created_at, &stored[*n][*k], prev, hash)
        })
        .collect();
    let lifecycles: Vec<&super::handling::LifecycleWrite> = fresh
        .iter()
        .filter_map(|&at| intakes[at].0.lifecycle.as_deref())
        .collect();
    let keys: Vec<IdempotencyInsert<'_>> = fresh
        .iter()
        .filter_map(|&at| {
            let i = intakes[at].0;
            i.idempotency
                .as_ref()
                .map(|k| IdempotencyInsert::of(k, &i.case.id, None, i.case.created_at))
        })
        .collect();
    match conn {
        // One statement of fixed text for every table (see `columns`).
        DbConnection::Pg(_) if fresh.is_empty() => {}
        DbConnection::Pg(c) => {
            let mut tables = vec![case_columns(&case_values), event_columns(&events)];
            tables.extend(outbox::prepared_columns(&outbox_rows, routes));
            tables.extend(super::handling::new_lifecycle_columns(&lifecycles));
            tables.push(key_columns(&keys));
            Together(tables).write(c)?;
        }
        DbConnection::Sqlite(_) => {
            let case_values: Vec<_> = case_values
                .iter()
                .map(|&(c, head, id_hash)| {
                    (
                        c,
                        cases::audit_head.eq(head),
                        cases::applicant_id_hash.eq(id_hash),
                    )
                })
                .collect();
            insert_rows!(conn, cases::table, case_values)?;
            insert_rows!(conn, case_events::table, events)?;
            outbox::insert_prepared(conn, &outbox_rows, routes)?;
            super::handling::insert_new_lifecycles(conn, &lifecycles)?;
            insert_rows!(conn, idempotency_keys::table, keys)?;
        }
    }

    // Numbers last: taken after every other row, the counters' row locks are held only until
    // the COMMIT that follows, so another writer's transaction does all of its other work
    // meanwhile.
    let wanted: Vec<(&str, i64, &NewNotice)> = fresh
        .iter()
        .flat_map(|&at| {
            let i = intakes[at].0;
            i.notices
                .iter()
                .map(|n| (i.case.id.as_str(), i.case.created_at, n))
        })
        .collect();
    let mut numbered = number_notices(conn, &wanted)?.into_iter();
    let notice_rows: Vec<Vec<NoticeRow>> = fresh
        .iter()
        .map(|&at| {
            numbered
                .by_ref()
                .take(intakes[at].0.notices.len())
                .collect()
        })
        .collect();
    let all_notices: Vec<&NoticeRow> = notice_rows.iter().flatten().collect();
    match conn {
        DbConnection::Pg(_) if all_notices.is_empty() => {}
        DbConnection::Pg(c) => Together(vec![notice_columns(&all_notices)]).write(c)?,
        DbConnection::Sqlite(_) => insert_rows!(conn, notices::table, all_notices)?,
    }

    for ((at, case), notices) in fresh.iter().zip(cases_rows).zip(notice_rows) {
        out[*at] = Some(IntakeReceipt {
            case,
            notices,
            replayed: false,
        });
    }
    every_answered(out)
}

/// PostgreSQL columns of the new cases of a batch (with each one's chain head and ID hash).
fn case_columns<'a>(rows: &[(&'a CaseRow, Option<&'a str>, Option<&'a str>)]) -> Columns<'a> {
    Columns::new("cases")
        .text(cases::id, rows.iter().map(|r| r.0.id.as_str()))
        .text(
            cases::matter_code,
            rows.iter().map(|r| r.0.matter_code.as_str()),
        )
        .maybe_text(
            cases::bundle_code,
            rows.iter().map(|r| r.0.bundle_code.as_deref()),
        )
        .text(cases::status, rows.iter().map(|r| r.0.status.as_str()))
        .text(cases::outcome, rows.iter().map(|r| r.0.outcome.as_str()))
        .text(
            cases::center_id,
            rows.iter().map(|r| r.0.center_id.as_str()),
        )
        .maybe_text(
            cases::township,
            rows.iter().map(|r| r.0.township.as_deref()),
        )
        .maybe_text(cases::village, rows.iter().map(|r| r.0.village.as_deref()))
        .maybe_text(
            cases::window_id,
            rows.iter().map(|r| r.0.window_id.as_deref()),
        )
        .text(cases::channel, rows.iter().map(|r| r.0.channel.as_str()))
        .text(cases::clerk_id, rows.iter().map(|r| r.0.clerk_id.as_str()))
        .maybe_text(
            cases::agent_id,
            rows.iter().map(|r| r.0.agent_id.as_deref()),
        )
        .text(
            cases::applicant_kind,
            rows.iter().map(|r| r.0.applicant_kind.as_str()),
        )
        .text(
            cases::applicant_name,
            rows.iter().map(|r| r.0.applicant_name.as_str()),
        )
        .maybe_text(
            cases::applicant_id_number,
            rows.iter().map(|r| r.0.applicant_id_number.as_deref()),
        )
        .text(
            cases::catalog_hash,
            rows.iter().map(|r| r.0.catalog_hash.as_str()),
        )
        .text(
            cases::application,
            rows.iter().map(|r| r.0.application.as_str()),
        )
        .text(
            cases::assessment,
            rows.iter().map(|r| r.0.assessment.as_str()),
        )
        .maybe_text(
            cases::due_date,
            rows.iter().map(|r| r.0.due_date.as_deref()),
        )
        .text(
            cases::received_on,
            rows.iter().map(|r| r.0.received_on.as_str()),
        )
        .int(cases::created_at, rows.iter().map(|r| r.0.created_at))
        .int(cases::updated_at, rows.iter().map(|r| r.0.updated_at))
        .int(cases::row_version, rows.iter().map(|r| r.0.row_version))
        .maybe_text(cases::audit_head, rows.iter().map(|r| r.1))
        .maybe_text(cases::applicant_id_hash, rows.iter().map(|r| r.2))
}

/// PostgreSQL columns of a batch's audit entries.
fn event_columns<'a>(rows: &[EventInsert<'a>]) -> Columns<'a> {
    Columns::new("case_events")
        .text(case_events::case_id, rows.iter().map(|r| r.case_id))
        .int(case_events::at, rows.iter().map(|r| r.at))
        .text(case_events::actor, rows.iter().map(|r| r.actor))
        .text(case_events::action, rows.iter().map(|r| r.action))
        .text(
            case_events::catalog_hash,
            rows.iter().map(|r| r.catalog_hash),
        )
        .text(case_events::detail, rows.iter().map(|r| r.detail))
        .maybe_text(
            case_events::prev_hash,
            rows.iter().map(|r| Some(r.prev_hash)),
        )
        .maybe_text(case_events::hash, rows.iter().map(|r| Some(r.hash)))
}

/// PostgreSQL columns of a batch's idempotency keys.
fn key_columns<'a>(rows: &'a [IdempotencyInsert<'a>]) -> Columns<'a> {
    Columns::new("idempotency_keys")
        .text(idempotency_keys::user_id, rows.iter().map(|r| r.user_id))
        .text(idempotency_keys::key, rows.iter().map(|r| r.key))
        .text(idempotency_keys::case_id, rows.iter().map(|r| r.case_id))
        .text(
            idempotency_keys::request_hash,
            rows.iter().map(|r| r.request_hash),
        )
        .int(
            idempotency_keys::created_at,
            rows.iter().map(|r| r.created_at),
        )
        .maybe_text(
            idempotency_keys::notice_ids,
            rows.iter().map(|r| r.notice_ids.as_deref()),
        )
}

/// PostgreSQL columns of a batch's notices.
fn notice_columns<'a>(rows: &[&'a NoticeRow]) -> Columns<'a> {
    Columns::new("notices")
        .text(notices::id, rows.iter().map(|r| r.id.as_str()))
        .text(notices::case_id, rows.iter().map(|r| r.case_id.as_str()))
        .text(notices::kind, rows.iter().map(|r| r.kind.as_str()))
        .text(
            notices::center_id,
            rows.iter().map(|r| r.center_id.as_str()),
        )
        .int4(notices::year, rows.iter().map(|r| r.year))
        .int(notices::seq, rows.iter().map(|r| r.seq))
        .text(notices::number, rows.iter().map(|r| r.number.as_str()))
        .text(
            notices::issued_on,
            rows.iter().map(|r| r.issued_on.as_str()),
        )
        .text(notices::content, rows.iter().map(|r| r.content.as_str()))
        .int(notices::created_at, rows.iter().map(|r| r.created_at))
}

fn apply_change(
    conn: &mut DbConnection,
    c: &CaseChange,
    routes: &[super::outbox::OutboxRoute],
) -> Result<IntakeReceipt, StoreError> {
    if let Some(k) = &c.idempotency {
        if let Some(first) = replay(conn, k)? {
            return Ok(first);
        }
    }
    if let Some((item, by)) = &c.fired {
        let done = diesel::update(
            due_items::table
                .filter(due_items::id.eq(item))
                .filter(due_items::state.eq(DueState::Pending.as_text())),
        )
        .set((
            due_items::state.eq(DueState::Done.as_text()),
            due_items::done_at.eq(c.now_ms),
            due_items::done_by.eq(by),
        ))
        .execute(conn)?;
        if done == 0 {
            return Err(StoreError::DueItemTaken(*item));
        }
    }
    let changed = diesel::update(
        cases::table
            .filter(cases::id.eq(&c.case_id))
            .filter(cases::row_version.eq(c.expected_version)),
    )
    .set((
        c.status.map(|s| cases::status.eq(s.as_text())),
        c.application.as_ref().map(|a| cases::application.eq(a)),
        c.due_date.as_ref().map(|d| cases::due_date.eq(d)),
        c.move_to_catalog
            .as_ref()
            .map(|h| cases::catalog_hash.eq(h)),
        cases::updated_at.eq(c.now_ms),
        cases::row_version.eq(cases::row_version + 1i64),
    ))
    .execute(conn)?;
    if changed == 0 {
        return match load_case(conn, &c.case_id)? {
            None => Err(StoreError::NotFound(format!("case {}", c.case_id))),
            Some(now) => Err(StoreError::Stale(format!(
                "case {} is at version {}, the change expected {}",
                c.case_id, now.row_version, c.expected_version
            ))),
        };
    }
    write_lifecycle(conn, &c.case_id, &c.lifecycle)?;
    let (new_notices, events) = number_results(conn, &c.notices, &c.events)?;
    let notices = insert_notices(conn, &c.case_id, &new_notices, c.now_ms)?;
    for e in events.iter() {
        insert_event(conn, &c.case_id, c.now_ms, e, routes)?;
    }
    if let Some(k) = &c.idempotency {
        record_key(conn, k, &c.case_id, Some(&notices), c.now_ms)?;
    }
    let case = load_case(conn, &c.case_id)?
        .ok_or_else(|| StoreError::NotFound(format!("case {}", c.case_id)))?;
    Ok(IntakeReceipt {
        case,
        notices,
        replayed: false,
    })
}

fn apply_update(
    conn: &mut DbConnection,
    u: &CaseUpdate,
    routes: &[OutboxRoute],
) -> Result<IntakeReceipt, StoreError> {
    if let Some(k) = &u.idempotency {
        if let Some(first) = replay(conn, k)? {
            return Ok(first);
        }
    }
    let changed = diesel::update(
        cases::table
            .filter(cases::id.eq(&u.case_id))
            .filter(cases::row_version.eq(u.expected_row_version)),
    )
    .set((
        cases::status.eq(&u.status),
        cases::outcome.eq(&u.outcome),
        cases::application.eq(&u.application),
        cases::assessment.eq(&u.assessment),
        cases::due_date.eq(&u.due_date),
        cases::updated_at.eq(u.now_ms),
        cases::row_version.eq(cases::row_version + 1i64),
    ))
    .execute(conn)?;
    if changed == 0 {
        return match load_case(conn, &u.case_id)? {
            None => Err(StoreError::NotFound(format!("case {}", u.case_id))),
            Some(c) => Err(StoreError::Stale(format!(
                "case {} is at row_version {}, the update expected {}",
                u.case_id, c.row_version, u.expected_row_version
            ))),
        };
    }
    if let Some(hash) = &u.move_to_catalog {
        diesel::update(cases::table.filter(cases::id.eq(&u.case_id)))
            .set(cases::catalog_hash.eq(hash))
            .execute(conn)?;
    }
    let (new_notices, events) = number_results(conn, &u.notices, &u.events)?;
    let notices = insert_notices(conn, &u.case_id, &new_notices, u.now_ms)?;
    for e in events.iter() {
        insert_event(conn, &u.case_id, u.now_ms, e, routes)?;
    }
    if let Some(l) = &u.lifecycle {
        write_lifecycle(conn, &u.case_id, l)?;
    }
    if let Some(k) = &u.idempotency {
        record_key(conn, k, &u.case_id, Some(&notices), u.now_ms)?;
    }
    let case = load_case(conn, &u.case_id)?
        .ok_or_else(|| StoreError::NotFound(format!("case {}", u.case_id)))?;
    Ok(IntakeReceipt {
        case,
        notices,
        replayed: false,
    })
}

/// Writes one audit entry, chained to the case's previous one: the single place `case_events`
/// rows are written, so every kind of event is chained the same way (see `audit.rs`). Reads the
/// case's chain head (locking the case row on PostgreSQL, so two transactions never extend the
/// same chain from the same head), stores the entry with its `prev_hash` and `hash`, and moves
/// the head to it. The same event goes to the outbox (with a delivery per subscriber in
/// `routes` that wants its kind), so the outbox holds exactly the committed events.
/// Runs inside the caller's transaction.
pub(crate) fn insert_event(
    conn: &mut DbConnection,
    case_id: &str,
    at: i64,
    e: &NewEvent,
    routes: &[OutboxRoute],
) -> Result<(), StoreError> {
    let head: Option<(Option<String>, outbox::CaseSummary)> = match conn {
        DbConnection::Pg(c) => cases::table
            .find(case_id)
            .select((cases::audit_head, outbox::CaseSummary::as_select()))
            .for_update()
            .get_result(c)
            .optional()?,
        // SQLite: the write transaction (BEGIN IMMEDIATE) already excludes every other writer.
        DbConnection::Sqlite(c) => cases::table
            .find(case_id)
            .select((cases::audit_head, outbox::CaseSummary::as_select()))
            .get_result(c)
            .optional()?,
    };
    let Some((head, summary)) = head else {
        return Err(StoreError::NotFound(format!("case {case_id}")));
    };
    let prev = head.as_deref().unwrap_or(audit::GENESIS);
    let stored = e.stored(case_id)?;
    let e: &NewEvent = &stored;
    let hash = chained_hash(prev, case_id, at, e);
    diesel::insert_into(case_events::table)
        .values(EventInsert::of(case_id, at, e, prev, &hash))
        .execute(conn)?;
    diesel::update(cases::table.find(case_id))
        .set(cases::audit_head.eq(&hash))
        .execute(conn)?;
    outbox::append(conn, &summary, at, e, routes)
}

/// Numbers the results the notices name (证照编号), each from the series of its pattern, inside
/// the caller's transaction (gap-free, as notice numbers are), and writes each number into its
/// notice's content and into the decided event of the same matter, before they are stored and
/// chained. Within one change the series are taken in the order of their patterns, and before
/// the notice numbers. (A writer batch applies its numbered intakes one after another, so two
/// batches on PostgreSQL with several writers may still lock two patterns' counters in crossed
/// order: the deadlock is retried by `run_job`.)
fn number_results<'a>(
    conn: &mut DbConnection,
    notices: &'a [NewNotice],
    events: &'a [NewEvent],
) -> Result<Numbered<'a>, StoreError> {
    if notices.iter().all(|n| n.result_series.is_none()) {
        return Ok((Cow::Borrowed(notices), Cow::Borrowed(events)));
    }
    let mut notices = notices.to_vec();
    let mut events = events.to_vec();
    let mut order: Vec<usize> = (0..notices.len())
        .filter(|&i| notices[i].result_series.is_some())
        .collect();
    order.sort_by(|&a, &b| {
        let pattern = |i: usize| notices[i].result_series.as_ref().map(|s| &s.pattern);
        pattern(a).cmp(&pattern(b))
    });
    for i in order {
        let n = &mut notices[i];
        let Some(series) = n.result_series.clone() else {
            continue;
        };
        // The catalog refused a pattern that does not parse; one stored before that check
        // numbers nothing rather than failing the change.
        let Ok(pattern) = NumberPattern::parse(&series.pattern) else {
            continue;
        };
        let year = i64::from(pattern.series_year(n.year));
        let seq = take_numbers(conn, RESULT_SERIES, &series.pattern, year, 1)?;
        let number = pattern.format(n.year, seq);
        n.content = with_field(&n.content, &["result", "number"], &number)?;
        for e in events.iter_mut().filter(|e| {
            e.action == EventKind::Decided
                && serde_json::from_str::<serde_json::Value>(&e.detail)
                    .is_ok_and(|d| d["track"] == series.track.as_str())
        }) {
            e.detail = with_field(&e.detail, &["certificate_number"], &number)?;
        }
    }
    Ok((Cow::Owned(notices), Cow::Owned(events)))
}

/// A change's notices and events with their result numbers written in (borrowed when none).
type Numbered<'a> = (Cow<'a, [NewNotice]>, Cow<'a, [NewEvent]>);

/// The `center_id` of result-number series in `document_counters` (their `kind` is the pattern).
const RESULT_SERIES: &str = "*result";

/// `json` with the string at `path` set to `value` (objects on the way are created).
fn with_field(json: &str, path: &[&str], value: &str) -> Result<String, StoreError> {
    let mut doc: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| StoreError::Query(format!("a stored document is not JSON: {e}")))?;
    let mut at = &mut doc;
    for key in path {
        if !at.is_object() {
            *at = serde_json::json!({});
        }
        at = &mut at[*key];
    }
    *at = serde_json::Value::String(value.to_string());
    Ok(doc.to_string())
}

/// Allocates a number for every notice of a case and inserts them.
pub(crate) fn insert_notices(
    conn: &mut DbConnection,
    case_id: &str,
    new: &[NewNotice],
    created_at: i64,
) -> Result<Vec<NoticeRow>, StoreError> {
    let wanted: Vec<(&str, i64, &NewNotice)> =
        new.iter().map(|n| (case_id, created_at, n)).collect();
    let rows = number_notices(conn, &wanted)?;
    let refs: Vec<&NoticeRow> = rows.iter().collect();
    insert_rows!(conn, notices::table, refs)?;
    Ok(rows)
}

/// The rows of `wanted` notices (case id, creation time, notice), numbered, in `wanted`'s
/// order. Each series (center, kind, year) is counted up once for all the numbers it gives,
/// in a fixed order of series so two transactions never lock counter rows in opposite order;
/// within a series the numbers follow `wanted`'s order.
fn number_notices(
    conn: &mut DbConnection,
    wanted: &[(&str, i64, &NewNotice)],
) -> Result<Vec<NoticeRow>, StoreError> {
    let series = |&w: &usize| {
        let n = wanted[w].2;
        (n.center_id.as_str(), n.kind.as_text(), n.year)
    };
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    order.sort_by(|a, b| series(a).cmp(&series(b)));
    let mut seqs = vec![0i64; wanted.len()];
    for group in order.chunk_by(|a, b| series(a) == series(b)) {
        let (center, kind, year) = series(&group[0]);
        let count = i64::try_from(group.len()).unwrap_or(i64::MAX);
        let last = take_numbers(conn, center, kind, i64::from(year), count)?;
        for (seq, &w) in (last - count + 1..).zip(group) {
            seqs[w] = seq;
        }
    }
    Ok(wanted
        .iter()
        .zip(seqs)
        .map(|(&(case_id, created_at, n), seq)| notice_row(case_id, n, seq, created_at))
        .collect())
}

/// The stored notice `n` of `case_id`, number `seq` of its series.
fn notice_row(case_id: &str, n: &NewNotice, seq: i64, created_at: i64) -> NoticeRow {
    NoticeRow {
        id: n.id.clone(),
        case_id: case_id.to_string(),
        kind: n.kind.as_text().to_string(),
        center_id: n.center_id.clone(),
        year: n.year,
        seq,
        number: format!("{}{seq:04}号", n.number_prefix),
        issued_on: n.issued_on.clone(),
        content: n.content.clone(),
        created_at,
    }
}

/// Takes the next `count` numbers of the series (center, kind, year) inside the caller's
/// transaction, so a rolled-back transaction gives them back and the series stays gap-free, and
/// returns the last of them (the first is `last - count + 1`).
fn take_numbers(
    conn: &mut DbConnection,
    center: &str,
    kind: &str,
    year: i64,
    count: i64,
) -> Result<i64, StoreError> {
    use document_counters::dsl as dc;
    let row = (
        dc::center_id.eq(center),
        dc::kind.eq(kind),
        dc::year.eq(year),
        dc::last_seq.eq(count),
    );
    match conn {
        // The upsert takes a row lock on the counter until COMMIT: concurrent transactions,
        // also from other service instances, queue behind it and read the committed value.
        DbConnection::Pg(c) => Ok(diesel::insert_into(dc::document_counters)
            .values(row)
            .on_conflict((dc::center_id, dc::kind, dc::year))
            .do_update()
            .set(dc::last_seq.eq(dc::last_seq + count))
            .returning(dc::last_seq)
            .get_result::<i64>(c)?),
        // SQLite: the write transaction (BEGIN IMMEDIATE) already excludes every other writer.
        DbConnection::Sqlite(c) => {
            diesel::insert_into(dc::document_counters)
                .values(row)
                .on_conflict((dc::center_id, dc::kind, dc::year))
                .do_update()
                .set(dc::last_seq.eq(dc::last_seq + count))
                .execute(c)?;
            Ok(dc::document_counters
                .find((center, kind, year))
                .select(dc::last_seq)
                .get_result::<i64>(c)?)
        }
    }
}

pub(crate) fn load_case(conn: &mut DbConnection, id: &str) -> Result<Option<CaseRow>, StoreError> {
    Ok(cases::table
        .find(id)
        .select(CaseRow::as_select())
        .first(conn)
        .optional()?)
}

pub(crate) fn load_notices(
    conn: &mut DbConnection,
    case_id: &str,
) -> Result<Vec<NoticeRow>, StoreError> {
    Ok(notices::table
        .filter(notices::case_id.eq(case_id))
        .order((notices::created_at, notices::kind, notices::seq))
        .select(NoticeRow::as_select())
        .load(conn)?)
}

pub(crate) fn load_notice(
    conn: &mut DbConnection,
    id: &str,
) -> Result<Option<NoticeRow>, StoreError> {
    Ok(notices::table
        .find(id)
        .select(NoticeRow::as_select())
        .first(conn)
        .optional()?)
}

pub(crate) fn load_events(
    conn: &mut DbConnection,
    case_id: &str,
) -> Result<Vec<EventRow>, StoreError> {
    Ok(case_events::table
        .filter(case_events::case_id.eq(case_id))
        .order(case_events::id)
        .select(EventRow::as_select())
        .load(conn)?)
}

fn filtered<'a>(
    f: &'a CaseFilter,
    id_hash: Option<&'a str>,
) -> cases::BoxedQuery<'a, MultiBackend> {
    let mut q = cases::table.into_boxed();
    if let Some(ids) = &f.center_ids {
        q = q.filter(cases::center_id.eq_any(ids));
    }
    if let Some(v) = &f.agent_id {
        q = q.filter(cases::agent_id.eq(v));
    }
    if let Some(v) = f.status {
        q = q.filter(cases::status.eq(super::mapping::AsText::as_text(v)));
    }
    if let Some(v) = &f.matter_code {
        q = q.filter(cases::matter_code.eq(v));
    }
    if let Some(v) = &f.window_id {
        q = q.filter(cases::window_id.eq(v));
    }
    if let Some(v) = &f.applicant_id_number {
        q = match id_hash {
            // Encrypted cases by their keyed hash; cases not yet encrypted by the number.
            Some(h) => q.filter(
                cases::applicant_id_hash
                    .eq(h)
                    .or(cases::applicant_id_number.eq(v)),
            ),
            None => q.filter(cases::applicant_id_number.eq(v)),
        };
    }
    // Dates are TEXT `YYYY-MM-DD`, so string order is date order.
    if let Some(v) = &f.received_from {
        q = q.filter(cases::received_on.ge(v));
    }
    if let Some(v) = &f.received_to {
        q = q.filter(cases::received_on.le(v));
    }
    q
}

/// Largest page `list_cases` returns.
pub const MAX_PAGE: i64 = 1000;

pub(crate) fn list_cases(
    conn: &mut DbConnection,
    f: &CaseFilter,
    id_hash: Option<&str>,
) -> Result<CasePage, StoreError> {
    let total = filtered(f, id_hash).count().get_result::<i64>(conn)?;
    let limit = f.limit.clamp(0, MAX_PAGE);
    let offset = f.offset.max(0);
    let cases = if limit == 0 {
        Vec::new()
    } else {
        filtered(f, id_hash)
            .order((cases::created_at.desc(), cases::id.desc()))
            .limit(limit)
            .offset(offset)
            .select(CaseRow::as_select())
            .load(conn)?
    };
    Ok(CasePage { cases, total })
}

#[cfg(test)]
mod tests {
    //! The intakes of a batch written together must leave exactly the rows that writing them
    //! one by one leaves, on both backends.
    use super::*;
    use crate::domain::handling::EventKind;
    use crate::domain::notice::NoticeKind;
    use crate::store::conn::{apply_pragmas, run_migrations, Target};
    use crate::store::handling::{LifecycleWrite, PartRow, RatingRow, StepRow};
    use crate::store::schema::{case_parts, case_steps, due_items, outbox_deliveries};
    use diesel::connection::SimpleConnection;

    const AT: i64 = 1_796_000_000_000;

    fn part(case_id: &str, track: &str) -> PartRow {
        PartRow {
            case_id: case_id.into(),
            track: track.into(),
            center_id: "baishui".into(),
            township: Some("baishui".into()),
            window_id: Some("w1".into()),
            status: "in_progress".into(),
            supplement_notices: 1,
            decider_unit: "county/minzheng".into(),
            decider_level: "county".into(),
            immediate: 2,
            accepted_on: Some("2026-12-03".into()),
            due_days: Some(20),
            due_date: Some("2026-12-31".into()),
            statutory_days: Some(21),
            statutory_due: Some("2027-01-04".into()),
            warn_days: Some(3),
            warn_on: Some("2026-12-28".into()),
            pause: Some(r#"{"p":1}"#.into()),
            paused_days: 4,
            extensions: 5,
            escalated: 6,
            decision: Some("approve".into()),
            decided_on: Some("2026-12-04".into()),
            on_time: Some(1),
            days_used: Some(7),
            delivery_due: Some("2026-12-09".into()),
            delivered_on: Some("2026-12-05".into()),
            delivery: Some("pickup".into()),
            rating: Some(5),
            updated_at: AT + 1,
            supplement_due: Some(r#"{"days":5}"#.into()),
        }
    }

    fn step(case_id: &str, track: &str, seq: i64) -> StepRow {
        StepRow {
            id: format!("{case_id}-s{seq}"),
            case_id: case_id.into(),
            track: track.into(),
            seq,
            group_no: seq,
            step_key: format!("review{seq}"),
            name: "审核".into(),
            role: "approver".into(),
            unit_id: "county/minzheng".into(),
            unit_name: "县民政局".into(),
            level: "county".into(),
            state: if seq == 1 { "active" } else { "waiting" }.into(),
            days: 5,
            started_on: (seq == 1).then(|| "2026-12-03".into()),
            due_date: (seq == 1).then(|| "2026-12-10".into()),
            warn_on: (seq == 1).then(|| "2026-12-08".into()),
            allow_countersign: seq - 1,
            refusal_decides: 1,
            timeout_policy: "remind".into(),
            acted_by: (seq == 2).then(|| "approver-1".into()),
            acted_on: (seq == 2).then(|| "2026-12-04".into()),
            comment: (seq == 2).then(|| "同意".into()),
            basis: (seq == 2).then(|| "《条例》第十条".into()),
            created_at: AT,
            updated_at: AT + seq,
            due_days: Some(5),
            warn_days: (seq == 1).then_some(2),
            escalated: seq,
        }
    }

    /// A 好差评 with every column set (none for odd `n`'s follow-up columns).
    fn rating(case_id: &str, n: usize) -> RatingRow {
        let odd = !n.is_multiple_of(2);
        RatingRow {
            case_id: case_id.into(),
            subject: "case".into(),
            level: 4,
            comment: Some("满意".into()),
            rated_on: "2026-12-05".into(),
            rated_by: "applicant".into(),
            followup_due: (!odd).then(|| "2026-12-10".into()),
            followup_closed_on: (!odd).then(|| "2026-12-09".into()),
            followup_closed_by: (!odd).then(|| "chief-1".into()),
            followup_note: (!odd).then(|| "已回访".into()),
            followup_callback: (!odd).then(|| "phone".into()),
            created_at: AT + 2,
        }
    }

    /// Intake `n`: two notices of two series, two events, a part with two steps, and (for even
    /// `n`) an idempotency key.
    fn intake(n: usize) -> NewIntake {
        let id = format!("case-{n:03}");
        let notice = |k: &str, kind: NoticeKind| NewNotice {
            id: format!("{id}-{k}"),
            kind,
            center_id: "baishui".into(),
            year: 2026,
            number_prefix: format!("白水镇政务〔2026〕{k}字第"),
            issued_on: "2026-12-03".into(),
            content: format!(r#"{{"n":{n}}}"#),
            result_series: None,
        };
        let event = |action| NewEvent {
            seal: None,
            actor: "clerk-1".into(),
            action,
            catalog_hash: "h1".into(),
            detail: format!(r#"{{"n":{n}}}"#),
        };
        NewIntake {
            case: CaseRow {
                id: id.clone(),
                matter_code: "QS-MZ-001".into(),
                bundle_code: n.is_multiple_of(4).then(|| "B-01".into()),
                status: "in_progress".into(),
                outcome: "accept".into(),
                center_id: "baishui".into(),
                township: Some("baishui".into()),
                village: n.is_multiple_of(3).then(|| "dongcun".into()),
                window_id: Some("w1".into()),
                channel: "window".into(),
                clerk_id: "clerk-1".into(),
                agent_id: n.is_multiple_of(5).then(|| "agent-1".into()),
                applicant_kind: "natural_person".into(),
                applicant_name: format!("申请人{n}"),
                applicant_id_number: Some("330112195003120017".into()),
                catalog_hash: "h1".into(),
                application: format!(r#"{{"fields":{{"n":{n}}}}}"#),
                assessment: r#"{"outcome":"accept"}"#.into(),
                due_date: Some("2026-12-31".into()),
                received_on: "2026-12-03".into(),
                created_at: AT + i64::try_from(n).unwrap(),
                updated_at: AT + i64::try_from(n).unwrap(),
                row_version: 9,
            },
            notices: vec![
                notice("受", NoticeKind::Acceptance),
                notice("办", NoticeKind::ImmediateDecision),
            ],
            events: vec![event(EventKind::Intake), event(EventKind::Decided)],
            idempotency: n.is_multiple_of(2).then(|| RequestKey {
                user_id: "clerk-1".into(),
                key: format!("key-{n}"),
                request_hash: "h".into(),
            }),
            lifecycle: Some(Box::new(LifecycleWrite::of_all_rows(
                vec![part(&id, "QS-MZ-001")],
                vec![step(&id, "QS-MZ-001", 1), step(&id, "QS-MZ-001", 2)],
                vec![rating(&id, n)],
            ))),
        }
    }

    fn jobs(range: std::ops::Range<usize>) -> Vec<Job> {
        range
            .map(|n| Job::Intake(Box::new(intake(n)), Some(format!("idhash-{n}"))))
            .collect()
    }

    fn routes() -> Vec<OutboxRoute> {
        vec![
            OutboxRoute {
                subscriber: "all".into(),
                kinds: None,
            },
            OutboxRoute {
                subscriber: "decisions".into(),
                kinds: Some(vec![EventKind::Decided]),
            },
        ]
    }

    /// Everything the intakes wrote, as text, in a fixed order (ids the database assigns left
    /// out).
    fn rows(c: &mut DbConnection) -> Vec<String> {
        let mut out = Vec::new();
        let cases: Vec<(CaseRow, Option<String>, Option<String>)> = cases::table
            .order(cases::id)
            .select((
                CaseRow::as_select(),
                cases::audit_head,
                cases::applicant_id_hash,
            ))
            .load(c)
            .unwrap();
        out.extend(cases.iter().map(|r| format!("{r:?}")));
        let n: Vec<NoticeRow> = notices::table
            .order(notices::id)
            .select(NoticeRow::as_select())
            .load(c)
            .unwrap();
        out.extend(n.iter().map(|r| format!("{r:?}")));
        let e: Vec<EventRow> = case_events::table
            .order((case_events::case_id, case_events::id))
            .select(EventRow::as_select())
            .load(c)
            .unwrap();
        out.extend(
            e.into_iter()
                .map(|r| format!("{:?}", EventRow { id: 0, ..r })),
        );
        let o: Vec<outbox::OutboxEventRow> = super::super::schema::outbox_events::table
            .order(super::super::schema::outbox_events::id)
            .select(outbox::OutboxEventRow::as_select())
            .load(c)
            .unwrap();
        out.extend(o.iter().map(|r| format!("{r:?}")));
        type Delivery = (String, String, String, i64, String, i64, i64, i64);
        let d: Vec<Delivery> = outbox_deliveries::table
            .order((outbox_deliveries::subscriber, outbox_deliveries::event_id))
            .select((
                outbox_deliveries::subscriber,
                outbox_deliveries::event_id,
                outbox_deliveries::case_id,
                outbox_deliveries::seq,
                outbox_deliveries::state,
                outbox_deliveries::attempts,
                outbox_deliveries::next_attempt_at,
                outbox_deliveries::created_at,
            ))
            .load(c)
            .unwrap();
        out.extend(d.iter().map(|r| format!("{r:?}")));
        let p: Vec<PartRow> = case_parts::table
            .order(case_parts::case_id)
            .select(PartRow::as_select())
            .load(c)
            .unwrap();
        out.extend(p.iter().map(|r| format!("{r:?}")));
        let s: Vec<StepRow> = case_steps::table
            .order(case_steps::id)
            .select(StepRow::as_select())
            .load(c)
            .unwrap();
        out.extend(s.iter().map(|r| format!("{r:?}")));
        type Due = (
            String,
            Option<String>,
            Option<String>,
            String,
            String,
            i64,
            String,
        );
        let due: Vec<Due> = due_items::table
            .order((due_items::case_id, due_items::step_id))
            .select((
                due_items::case_id,
                due_items::step_id,
                due_items::track,
                due_items::kind,
                due_items::due_on,
                due_items::fire_at,
                due_items::state,
            ))
            .load(c)
            .unwrap();
        out.extend(due.iter().map(|r| format!("{r:?}")));
        type Key = (String, String, String, String, i64, Option<String>);
        let keys: Vec<Key> = idempotency_keys::table
            .order(idempotency_keys::key)
            .select((
                idempotency_keys::user_id,
                idempotency_keys::key,
                idempotency_keys::case_id,
                idempotency_keys::request_hash,
                idempotency_keys::created_at,
                idempotency_keys::notice_ids,
            ))
            .load(c)
            .unwrap();
        out.extend(keys.iter().map(|r| format!("{r:?}")));
        let rated: Vec<RatingRow> = super::super::schema::ratings::table
            .order(super::super::schema::ratings::case_id)
            .select(RatingRow::as_select())
            .load(c)
            .unwrap();
        assert!(!rated.is_empty());
        out.extend(rated.iter().map(|r| format!("{r:?}")));
        let counters: Vec<(String, String, i64, i64)> = document_counters::table
            .order((document_counters::kind, document_counters::year))
            .select((
                document_counters::center_id,
                document_counters::kind,
                document_counters::year,
                document_counters::last_seq,
            ))
            .load(c)
            .unwrap();
        out.extend(counters.iter().map(|r| format!("{r:?}")));
        out
    }

    /// Writes 40 intakes together (in two batches, the second with replays of the first's
    /// keys) into `together` and one by one into `single`, and compares what is stored.
    fn together_equals_one_by_one(together: &mut DbConnection, single: &mut DbConnection) {
        let first = jobs(0..30);
        let refs: Vec<&Job> = first.iter().collect();
        let done = write_tx(together, |c| apply_all(c, &refs, &routes(), &|| {})).unwrap();
        assert_eq!(done.len(), 30);
        for job in &first {
            write_tx(single, |c| job.apply(c, &routes())).unwrap();
        }
        // The second batch: ten new intakes between replays of keys the first one stored.
        let mut second = jobs(30..40);
        second.insert(3, jobs(4..5).remove(0));
        second.push(jobs(10..11).remove(0));
        let refs: Vec<&Job> = second.iter().collect();
        let done = write_tx(together, |c| apply_all(c, &refs, &routes(), &|| {})).unwrap();
        let replayed: Vec<(String, bool, usize)> = done
            .iter()
            .map(|d| match d {
                Done::Receipt(r) => (r.case.id.clone(), r.replayed, r.notices.len()),
                Done::Logged => unreachable!(),
            })
            .collect();
        assert_eq!(replayed[3], ("case-004".to_string(), true, 2));
        assert_eq!(replayed[11], ("case-010".to_string(), true, 2));
        assert_eq!(replayed.iter().filter(|r| r.1).count(), 2, "{replayed:?}");
        // Receipts of new cases carry their numbers: the second batch continues each series.
        if let Done::Receipt(r) = &done[0] {
            assert_eq!(r.case.id, "case-030");
            assert_eq!(r.case.row_version, 1);
            assert_eq!(r.notices[0].seq, 31, "{:?}", r.notices);
            assert_eq!(r.notices[0].number, "白水镇政务〔2026〕受字第0031号");
        }
        for job in &jobs(30..40) {
            write_tx(single, |c| job.apply(c, &routes())).unwrap();
        }
        let a = rows(together);
        let b = rows(single);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y);
        }
        // Enough rows that a batch needs more than one statement per table.
        assert!(
            a.len() > 2 * crate::store::batch::ROWS_PER_INSERT,
            "{}",
            a.len()
        );
        // And the chains verify.
        let report = crate::store::audit::verify(together, &mut |_, _| {}).unwrap();
        assert!(report.intact(), "{report:?}");
        assert_eq!(report.cases, 40);
    }

    fn sqlite(dir: &tempfile::TempDir, name: &str) -> DbConnection {
        let target =
            Target::parse(&format!("sqlite://{}/{name}.db", dir.path().display())).unwrap();
        let mut c = target.connect().unwrap();
        apply_pragmas(&mut c).unwrap();
        run_migrations(&mut c).unwrap();
        c
    }

    /// Every row type written by `insert_rows!` goes to SQLite as one multi-row statement (not
    /// diesel's row-by-row fallback inside a savepoint of its own).
    #[test]
    fn single_statement_batches() {
        macro_rules! one {
            ($q:expr) => {{
                let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&$q).to_string();
                assert!(
                    !sql.contains("BEGIN") && sql.matches("INSERT").count() == 1,
                    "{sql}"
                );
            }};
        }
        let i = intake(1);
        let case = &i.case;
        let row = (
            case,
            cases::audit_head.eq(Some("h")),
            cases::applicant_id_hash.eq(None::<&str>),
        );
        one!(diesel::insert_into(cases::table).values(vec![row, row]));
        let n = notice_row(&case.id, &i.notices[0], 1, AT);
        one!(diesel::insert_into(notices::table).values(vec![&n, &n]));
        let e = EventInsert::of(&case.id, AT, &i.events[0], "p", "h");
        one!(diesel::insert_into(case_events::table).values(vec![e.clone(), e]));
        let key = RequestKey {
            user_id: "u".into(),
            key: "k".into(),
            request_hash: "h".into(),
        };
        let k = IdempotencyInsert::of(&key, &case.id, Some(&[]), AT);
        one!(diesel::insert_into(idempotency_keys::table).values(vec![k.clone(), k]));
        let lifecycle = LifecycleWrite::of_rows(
            vec![part(&case.id, "t"), part(&case.id, "u")],
            vec![step(&case.id, "t", 1), step(&case.id, "t", 2)],
        );
        for sql in lifecycle
            .batch_sql_for_test()
            .into_iter()
            .chain(outbox::batch_sql_for_test(&case.id))
        {
            assert!(
                !sql.contains("BEGIN") && sql.matches("INSERT").count() == 1,
                "{sql}"
            );
        }
    }

    #[test]
    fn sqlite_intakes_written_together_equal_intakes_written_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, mut b) = (sqlite(&dir, "a"), sqlite(&dir, "b"));
        together_equals_one_by_one(&mut a, &mut b);
    }

    /// A fresh database on the tests' PostgreSQL server, dropped afterwards.
    struct PgDb(String);

    impl PgDb {
        fn new() -> (Self, DbConnection) {
            let base = std::env::var("YICHUANG_TEST_PG")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
            let name = format!(
                "yc_bulk_{}_{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
                    % 1_000_000_000
            );
            let mut admin = Target::parse(&format!("{base}/postgres"))
                .unwrap()
                .connect()
                .unwrap();
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
            let mut c = Target::parse(&format!("{base}/{name}"))
                .unwrap()
                .connect()
                .unwrap();
            run_migrations(&mut c).unwrap();
            (Self(name), c)
        }
    }

    impl Drop for PgDb {
        fn drop(&mut self) {
            let base = std::env::var("YICHUANG_TEST_PG")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
            if let Ok(mut admin) =
                Target::parse(&format!("{base}/postgres")).and_then(|t| t.connect())
            {
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0));
            }
        }
    }

    #[test]
    fn postgres_intakes_written_together_equal_intakes_written_one_by_one() {
        let (_a, mut a) = PgDb::new();
        let (_b, mut b) = PgDb::new();
        together_equals_one_by_one(&mut a, &mut b);
    }
}
