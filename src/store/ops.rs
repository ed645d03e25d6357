//! The statements behind the store's operations, written once against `DbConnection`.
//! Only the document-counter upsert and the transaction start differ per backend.

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;

use super::audit;
use super::conn::{DbConnection, MultiBackend};
use super::handling::{write_lifecycle, CaseChange};
use super::mapping::AsText;
use super::outbox::{self, OutboxRoute};
use super::schema::{case_events, cases, document_counters, idempotency_keys, notices};
use super::{
    CaseFilter, CasePage, CaseRow, CaseUpdate, EventRow, IntakeReceipt, NewEvent, NewIntake,
    NewNotice, NoticeRow, StoreError,
};

/// A write request: what the writer thread (group commit) or a pooled connection executes.
#[derive(Debug)]
pub(crate) enum Job {
    /// The intake, and the keyed hash of the applicant's ID number (with keys).
    Intake(Box<NewIntake>, Option<String>),
    /// Entries of the personal-data read log.
    Reads(Vec<super::NewRead>),
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
            Job::Reads(r) => super::personal::insert_reads(conn, r).map(|_| Done::Logged),
            Job::Update(u) => apply_update(conn, u, routes).map(|r| Done::Receipt(Box::new(r))),
            Job::Change(c) => {
                super::handling::apply_change(conn, c, routes).map(|r| Done::Receipt(Box::new(r)))
            }
            #[cfg(test)]
            Job::Panic => panic!("injected panic in a store job"),
        }
    }

    fn has_idempotency_key(&self) -> bool {
        matches!(self, Job::Intake(i, _) if i.idempotency.is_some())
    }
}

type Tm = <DbConnection as Connection>::TransactionManager;

/// Runs `f` in a top-level write transaction. On SQLite the transaction starts with
/// `BEGIN IMMEDIATE`, taking the write lock up front: a deferred `BEGIN` that reads first and
/// writes later can fail with SQLITE_BUSY on the upgrade, which busy_timeout cannot resolve.
pub(crate) fn write_tx<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match conn {
        DbConnection::Pg(_) => Tm::begin_transaction(conn)?,
        // The MultiConnection transaction manager delegates its state to the inner
        // connection, so nested transactions on `conn` below become SAVEPOINTs.
        DbConnection::Sqlite(inner) => {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?
        }
    }
    let r = f(conn);
    finish_tx(conn, r)
}

/// Runs `f` in a savepoint of the caller's transaction.
fn savepoint<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    Tm::begin_transaction(conn)?;
    let r = f(conn);
    finish_tx(conn, r)
}

/// Commits on success, rolls back on failure. When the rollback fails too, the original error
/// is kept if it is an outage: SQLite rolls the whole transaction back by itself on a full disk
/// or an I/O error, so the ROLLBACK (TO SAVEPOINT) that follows fails with "not in a
/// transaction", which says nothing and would turn a clean 503 into a 500.
fn finish_tx<T>(conn: &mut DbConnection, r: Result<T, StoreError>) -> Result<T, StoreError> {
    match r {
        Ok(v) => {
            Tm::commit_transaction(conn)?;
            Ok(v)
        }
        Err(e) => match Tm::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
            Err(_) if e.is_unavailable() => Err(e),
            Err(re) => Err(re.into()),
        },
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
            Err(StoreError::Conflict(_)) if job.has_idempotency_key() && attempt == 0 => {
                attempt += 1
            }
            other => return other,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = case_events)]
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

#[derive(Insertable)]
#[diesel(table_name = idempotency_keys)]
struct IdempotencyInsert<'a> {
    user_id: &'a str,
    key: &'a str,
    case_id: &'a str,
    request_hash: &'a str,
    created_at: i64,
}

fn apply_intake(
    conn: &mut DbConnection,
    intake: &NewIntake,
    id_hash: Option<&str>,
    routes: &[OutboxRoute],
) -> Result<IntakeReceipt, StoreError> {
    if let Some((user, key, hash)) = &intake.idempotency {
        let found = idempotency_keys::table
            .find((user, key))
            .select((idempotency_keys::case_id, idempotency_keys::request_hash))
            // `get_result`, not `first`: a primary-key lookup needs no `LIMIT ?`, and a bound
            // LIMIT makes SQLite re-prepare the cached statement on every bind.
            .get_result::<(String, String)>(conn)
            .optional()?;
        if let Some((case_id, stored_hash)) = found {
            if &stored_hash != hash {
                return Err(StoreError::IdempotencyMismatch);
            }
            let case = load_case(conn, &case_id)?.ok_or_else(|| {
                StoreError::NotFound(format!("case {case_id} of idempotency key {key}"))
            })?;
            let notices = load_notices(conn, &case_id)?;
            return Ok(IntakeReceipt {
                case,
                notices,
                replayed: true,
            });
        }
    }

    let mut case = intake.case.clone();
    case.row_version = 1;
    diesel::insert_into(cases::table)
        .values((&case, cases::applicant_id_hash.eq(id_hash)))
        .execute(conn)?;
    let notices = insert_notices(conn, &case.id, &intake.notices, case.created_at)?;
    for e in &intake.events {
        insert_event(conn, &case.id, case.created_at, e, routes)?;
    }
    if let Some(l) = &intake.lifecycle {
        write_lifecycle(conn, &case.id, l)?;
    }
    if let Some((user, key, hash)) = &intake.idempotency {
        diesel::insert_into(idempotency_keys::table)
            .values(IdempotencyInsert {
                user_id: user,
                key,
                case_id: &case.id,
                request_hash: hash,
                created_at: case.created_at,
            })
            .execute(conn)?;
    }
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
            Some(c) => Err(StoreError::Conflict(format!(
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
    let notices = insert_notices(conn, &u.case_id, &u.notices, u.now_ms)?;
    for e in &u.events {
        insert_event(conn, &u.case_id, u.now_ms, e, routes)?;
    }
    if let Some(l) = &u.lifecycle {
        write_lifecycle(conn, &u.case_id, l)?;
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
    let hash = audit::entry_hash(
        prev,
        case_id,
        at,
        &e.actor,
        e.action.as_text(),
        &e.catalog_hash,
        &e.detail,
    );
    diesel::insert_into(case_events::table)
        .values(EventInsert {
            case_id,
            at,
            actor: &e.actor,
            action: e.action.as_text(),
            catalog_hash: &e.catalog_hash,
            detail: &e.detail,
            prev_hash: prev,
            hash: &hash,
        })
        .execute(conn)?;
    diesel::update(cases::table.find(case_id))
        .set(cases::audit_head.eq(&hash))
        .execute(conn)?;
    outbox::append(conn, &summary, at, e, routes)
}

/// Allocates a number for every notice and inserts them. Counters are taken in a fixed order
/// (center, kind, year) so two transactions never lock the same counter rows in opposite order.
pub(crate) fn insert_notices(
    conn: &mut DbConnection,
    case_id: &str,
    new: &[NewNotice],
    created_at: i64,
) -> Result<Vec<NoticeRow>, StoreError> {
    let mut order: Vec<usize> = (0..new.len()).collect();
    order.sort_by(|&a, &b| {
        (&new[a].center_id, new[a].kind.as_text(), new[a].year).cmp(&(
            &new[b].center_id,
            new[b].kind.as_text(),
            new[b].year,
        ))
    });
    let mut seqs = vec![0i64; new.len()];
    for i in order {
        let n = &new[i];
        seqs[i] = next_seq(conn, &n.center_id, n.kind.as_text(), i64::from(n.year))?;
    }
    let mut out = Vec::with_capacity(new.len());
    for (n, seq) in new.iter().zip(seqs) {
        let row = NoticeRow {
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
        };
        diesel::insert_into(notices::table)
            .values(&row)
            .execute(conn)?;
        out.push(row);
    }
    Ok(out)
}

/// Takes the next number of the series (center, kind, year) inside the caller's transaction,
/// so a rolled-back transaction gives its number back and the series stays gap-free.
fn next_seq(
    conn: &mut DbConnection,
    center: &str,
    kind: &str,
    year: i64,
) -> Result<i64, StoreError> {
    use document_counters::dsl as dc;
    let row = (
        dc::center_id.eq(center),
        dc::kind.eq(kind),
        dc::year.eq(year),
        dc::last_seq.eq(1i64),
    );
    match conn {
        // The upsert takes a row lock on the counter until COMMIT: concurrent transactions,
        // also from other service instances, queue behind it and read the committed value.
        DbConnection::Pg(c) => Ok(diesel::insert_into(dc::document_counters)
            .values(row)
            .on_conflict((dc::center_id, dc::kind, dc::year))
            .do_update()
            .set(dc::last_seq.eq(dc::last_seq + 1i64))
            .returning(dc::last_seq)
            .get_result::<i64>(c)?),
        // SQLite: the write transaction (BEGIN IMMEDIATE) already excludes every other writer.
        DbConnection::Sqlite(c) => {
            diesel::insert_into(dc::document_counters)
                .values(row)
                .on_conflict((dc::center_id, dc::kind, dc::year))
                .do_update()
                .set(dc::last_seq.eq(dc::last_seq + 1i64))
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
