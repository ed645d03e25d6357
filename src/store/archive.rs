//! Archiving finished cases (`yichuang archive --before DATE --to FILE`).
//!
//! A case is *finished* when the domain says so ([`crate::domain::handling::finished`]: a final
//! status, every result handed over, every 差评 followed up) and none of its due items is
//! pending; it is archived when, in addition, its last change (`cases.updated_at`: any entry of
//! its history — decision, delivery, rating, follow-up) came before DATE, 00:00 China Standard
//! Time. How long a county keeps finished cases in the service is its own retention rule (档案
//! 保管期限); this module decides nothing about it.
//!
//! **The file.** JSON Lines: a header line ([`Header`]: format, version, the number of cases, the
//! SHA-256 of the body, the cut-off date, …), then one line per case ([`ArchivedCase`]) with every
//! column of the case row and of every row that belongs to it: its audit entries (the whole hash
//! chain), notices, parts, steps, ratings, due items and idempotency keys. The body is written to
//! a working file, the header put in front of it, the result fsynced and given its name without
//! ever replacing a file; then it is read back from disk and verified ([`verify_archive`]: the
//! count, the digest, every line readable, every case's chain recomputed from genesis to the
//! case's chain head). Only then are the cases deleted — exactly those the verified file holds,
//! in one transaction per batch, each only if its `row_version` and chain head are still those in
//! the file (a case changed meanwhile stays, and is archived by a later run).
//!
//! **The audit chain.** Chains are per case (`audit.rs`): each case's entries chain from a fixed
//! genesis to the head on its own row, and no chain refers to another case. Deleting a case with
//! all of its entries therefore leaves every remaining chain verifiable (`audit verify` checks the
//! remaining cases and finds no orphan entry). What would otherwise be lost is the evidence that
//! the case existed and how its chain ended; the `archived_cases` ledger keeps it: per case its
//! status, chain head, number of entries and the digest of the file's body, written in the same
//! transaction as the deletion. It is append-only, and `case_events` accepts a deletion only for a
//! case in it (migration `2026-12-02-000008_archive`). The document counters are not touched, so
//! numbers are never reused; the gaps the deleted notices leave are explained by the ledger.

use std::collections::HashSet;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::audit;
use super::backup::{self, BackupError};
use super::conn::DbConnection;
use super::handling::{load_due, load_handling};
use super::mapping::AsText;
use super::schema::{
    archived_cases, audit_chain, case_events, case_parts, case_steps, cases, due_items,
    idempotency_keys, notices, outbox_deliveries, outbox_events, ratings,
};
use super::tx::write_tx;
use super::{Backend, EventRow, Store, StoreError};
use crate::domain::case::CaseStatus;
use crate::domain::handling::finished;

/// The `format` of an archive's header.
pub const FORMAT: &str = "yichuang-archive";
/// The layout of this build's archives.
pub const VERSION: u32 = 1;
/// Cases deleted per transaction.
pub const BATCH: usize = 200;
/// Cases read per read transaction.
const PAGE: i64 = 200;

/// Why archiving stopped. Nothing is deleted unless the file verified.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The file does not verify; every problem found is listed.
    #[error("the archive {path} does not verify: {}", problems.join("; "))]
    Corrupt {
        path: PathBuf,
        problems: Vec<String>,
    },
    /// What was read back is not what was written (another process replaced the file?).
    #[error("the archive {0} read back holds other cases than were written; nothing deleted")]
    Mismatch(PathBuf),
    #[error(transparent)]
    File(#[from] BackupError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ArchiveError {
    let what = what.into();
    move |source| ArchiveError::File(BackupError::Io { what, source })
}

// ---------------------------------------------------------------- the rows, every column

/// The `cases` row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = cases)]
#[serde(deny_unknown_fields)]
pub struct CaseCols {
    pub id: String,
    pub matter_code: String,
    pub bundle_code: Option<String>,
    pub status: String,
    pub outcome: String,
    pub center_id: String,
    pub township: Option<String>,
    pub village: Option<String>,
    pub window_id: Option<String>,
    pub channel: String,
    pub clerk_id: String,
    pub agent_id: Option<String>,
    pub applicant_kind: String,
    pub applicant_name: String,
    pub applicant_id_number: Option<String>,
    pub catalog_hash: String,
    pub application: String,
    pub assessment: String,
    pub due_date: Option<String>,
    pub received_on: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub row_version: i64,
    pub audit_head: Option<String>,
    #[serde(default)]
    pub applicant_id_hash: Option<String>,
}

/// A `case_events` row (an audit entry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = case_events)]
#[serde(deny_unknown_fields)]
pub struct EventCols {
    pub id: i64,
    pub case_id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub catalog_hash: String,
    pub detail: String,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

/// A `notices` row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = notices)]
#[serde(deny_unknown_fields)]
pub struct NoticeCols {
    pub id: String,
    pub case_id: String,
    pub kind: String,
    pub center_id: String,
    pub year: i32,
    pub seq: i64,
    pub number: String,
    pub issued_on: String,
    pub content: String,
    pub created_at: i64,
}

/// A `case_parts` row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = case_parts)]
#[serde(deny_unknown_fields)]
pub struct PartCols {
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
    pub supplement_due: Option<String>,
}

/// A `case_steps` row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = case_steps)]
#[serde(deny_unknown_fields)]
pub struct StepCols {
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

/// A `ratings` row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = ratings)]
#[serde(deny_unknown_fields)]
pub struct RatingCols {
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

/// A `due_items` row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = due_items)]
#[serde(deny_unknown_fields)]
pub struct DueCols {
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

/// An `idempotency_keys` row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = idempotency_keys)]
#[serde(deny_unknown_fields)]
pub struct KeyCols {
    pub user_id: String,
    pub key: String,
    pub case_id: String,
    pub request_hash: String,
    pub created_at: i64,
    /// A change's key: the notices it numbered (JSON array); `None` for an intake's key.
    #[serde(default)]
    pub notice_ids: Option<String>,
}

/// One line of the body: a case and everything that belongs to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchivedCase {
    pub case: CaseCols,
    /// The audit trail in id order: the case's whole hash chain.
    pub events: Vec<EventCols>,
    pub notices: Vec<NoticeCols>,
    pub parts: Vec<PartCols>,
    pub steps: Vec<StepCols>,
    pub ratings: Vec<RatingCols>,
    pub due_items: Vec<DueCols>,
    pub idempotency_keys: Vec<KeyCols>,
}

/// The first line of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] of the layout.
    pub version: u32,
    /// Lines (cases) in the body.
    pub count: u64,
    /// SHA-256 (hex) of the body: every byte after the header line.
    pub body_sha256: String,
    /// Cases whose last change came before this day (China Standard Time).
    pub before: NaiveDate,
    /// When the file was written (RFC 3339, UTC).
    pub created_at: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The database's `audit_chain.legacy_through_id`: entries up to it may predate the chain.
    pub audit_legacy_through_id: i64,
}

/// A case of the dry run's list, or one kept back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub case_id: String,
    pub status: CaseStatus,
    pub received_on: String,
    /// `cases.updated_at`, unix milliseconds.
    pub last_change_ms: i64,
    /// Audit entries.
    pub entries: usize,
}

/// A case with a final status and its last change before the day that is not finished yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub case_id: String,
    pub status: CaseStatus,
    pub reason: String,
}

/// What a scan of the database found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub finished: Vec<Summary>,
    pub held: Vec<Held>,
}

/// A case as the verified file holds it: what its deletion is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCase {
    pub case_id: String,
    pub status: String,
    pub received_on: String,
    pub row_version: i64,
    pub audit_head: Option<String>,
    pub entries: i64,
}

/// An archive file that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedArchive {
    pub path: PathBuf,
    pub header: Header,
    pub bytes: u64,
    pub cases: Vec<FileCase>,
    /// Audit entries in the file, and those from before the chain (not covered by it).
    pub entries: u64,
    pub pre_chain_entries: u64,
}

/// Rows deleted, by table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    pub cases: usize,
    pub events: usize,
    pub notices: usize,
    pub parts: usize,
    pub steps: usize,
    pub ratings: usize,
    pub due_items: usize,
    pub idempotency_keys: usize,
    /// Outbox events (each delivered to every subscriber that wanted it) and their deliveries.
    pub outbox_events: usize,
    pub outbox_deliveries: usize,
}

/// What [`archive`] did.
#[derive(Debug, Clone, Default)]
pub struct ArchiveReport {
    /// The verified file; `None` when there was nothing to archive (no file is written).
    pub file: Option<VerifiedArchive>,
    /// Cases with a final status and an old last change that are not finished.
    pub held: Vec<Held>,
    pub removed: Removed,
    /// Cases of the file that changed after they were read: not deleted (archived again later).
    pub kept: Vec<String>,
    /// Cases of the file already gone from the database.
    pub gone: Vec<String>,
    pub batches: usize,
}

pub use crate::domain::china_time::start_of_day_ms;

// ---------------------------------------------------------------- reading the database

/// Runs `f` in a read transaction: one snapshot (REPEATABLE READ on PostgreSQL).
fn read_tx<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, ArchiveError>,
) -> Result<T, ArchiveError> {
    conn.transaction(|c| {
        if let DbConnection::Pg(pg) = c {
            diesel::connection::SimpleConnection::batch_execute(
                pg,
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            )
            .map_err(StoreError::from)?;
        }
        f(c)
    })
}

impl From<diesel::result::Error> for ArchiveError {
    fn from(e: diesel::result::Error) -> Self {
        ArchiveError::Store(e.into())
    }
}

/// One case's rows, every column.
fn read_case(conn: &mut DbConnection, id: &str) -> Result<Option<ArchivedCase>, StoreError> {
    let Some(case) = cases::table
        .find(id)
        .select(CaseCols::as_select())
        .get_result(conn)
        .optional()?
    else {
        return Ok(None);
    };
    Ok(Some(ArchivedCase {
        case,
        events: case_events::table
            .filter(case_events::case_id.eq(id))
            .order(case_events::id)
            .select(EventCols::as_select())
            .load(conn)?,
        notices: notices::table
            .filter(notices::case_id.eq(id))
            .order(notices::id)
            .select(NoticeCols::as_select())
            .load(conn)?,
        parts: case_parts::table
            .filter(case_parts::case_id.eq(id))
            .order(case_parts::track)
            .select(PartCols::as_select())
            .load(conn)?,
        steps: case_steps::table
            .filter(case_steps::case_id.eq(id))
            .order((case_steps::seq, case_steps::id))
            .select(StepCols::as_select())
            .load(conn)?,
        ratings: ratings::table
            .filter(ratings::case_id.eq(id))
            .order(ratings::subject)
            .select(RatingCols::as_select())
            .load(conn)?,
        due_items: due_items::table
            .filter(due_items::case_id.eq(id))
            .order(due_items::id)
            .select(DueCols::as_select())
            .load(conn)?,
        idempotency_keys: idempotency_keys::table
            .filter(idempotency_keys::case_id.eq(id))
            .order((idempotency_keys::user_id, idempotency_keys::key))
            .select(KeyCols::as_select())
            .load(conn)?,
    }))
}

/// What one case of a scan is.
enum Found {
    Finished(Box<ArchivedCase>, CaseStatus),
    Held(Held),
}

/// Every case whose last change came before `before_ms`, in id order, a page per read
/// transaction: a case is read whole in the same snapshot in which it was found finished.
fn scan(
    store: &Store,
    before_ms: i64,
    mut each: impl FnMut(Found) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let mut conn = store.conn()?;
    let keys = store.keys();
    let mut after: Option<String> = None;
    loop {
        let (last, found) = read_tx(&mut conn, |c| {
            let mut q = cases::table
                .filter(cases::updated_at.lt(before_ms))
                .select((cases::id, cases::status))
                .order(cases::id.asc())
                .limit(PAGE)
                .into_boxed();
            if let Some(a) = &after {
                q = q.filter(cases::id.gt(a.clone()));
            }
            let rows: Vec<(String, String)> = q.load(c)?;
            let last = rows.last().map(|(id, _)| id.clone());
            let mut found = Vec::new();
            for (id, status) in rows {
                let status = CaseStatus::parse(&status)?;
                if !status.is_final() {
                    continue;
                }
                let handling = load_handling(c, &id, keys)?;
                if let Err(why) = finished(status, &handling) {
                    found.push(Found::Held(Held {
                        case_id: id,
                        status,
                        reason: why.to_string(),
                    }));
                    continue;
                }
                let pending = load_due(c, &id)?.len();
                if pending > 0 {
                    found.push(Found::Held(Held {
                        case_id: id,
                        status,
                        reason: format!("{pending} due item(s) pending"),
                    }));
                    continue;
                }
                let unsent = undelivered(c, &id)?;
                if unsent > 0 {
                    found.push(Found::Held(Held {
                        case_id: id,
                        status,
                        reason: format!(
                            "{unsent} outbox delivery(ies) not delivered (pending, or dead: resend or wait)"
                        ),
                    }));
                    continue;
                }
                if let Some(record) = read_case(c, &id)? {
                    found.push(Found::Finished(Box::new(record), status));
                }
            }
            Ok((last, found))
        })?;
        let Some(last) = last else { break };
        after = Some(last);
        for f in found {
            each(f)?;
        }
    }
    Ok(())
}

fn summary(record: &ArchivedCase, status: CaseStatus) -> Summary {
    Summary {
        case_id: record.case.id.clone(),
        status,
        received_on: record.case.received_on.clone(),
        last_change_ms: record.case.updated_at,
        entries: record.events.len(),
    }
}

/// The dry run: the cases an archive with this cut-off would hold, and those kept back.
pub fn select(store: &Store, before: NaiveDate) -> Result<Selection, ArchiveError> {
    let mut sel = Selection::default();
    scan(store, start_of_day_ms(before), |f| {
        match f {
            Found::Finished(record, status) => sel.finished.push(summary(&record, status)),
            Found::Held(h) => sel.held.push(h),
        }
        Ok(())
    })?;
    Ok(sel)
}

fn legacy_through(store: &Store) -> Result<i64, StoreError> {
    Ok(audit_chain::table
        .select(audit_chain::legacy_through_id)
        .get_result(&mut *store.conn()?)?)
}

// ---------------------------------------------------------------- the file

/// Archives every finished case whose last change came before `before` into a new file `to`
/// (never replaced), verifies the file as read back from disk, then deletes exactly the cases it
/// holds, [`BATCH`] per transaction. With nothing to archive, no file is written.
pub fn archive(store: &Store, before: NaiveDate, to: &Path) -> Result<ArchiveReport, ArchiveError> {
    archive_with(store, before, to, &mut |_, _, _| {})
}

/// Where an archive run is, for a progress bar: the stage, cases done, cases in all (0 while
/// not yet known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveStage {
    Writing,
    Deleting,
}

/// As [`archive`], calling `progress(stage, done, total)` as it goes.
pub fn archive_with(
    store: &Store,
    before: NaiveDate,
    to: &Path,
    progress: &mut dyn FnMut(ArchiveStage, u64, u64),
) -> Result<ArchiveReport, ArchiveError> {
    let mut report = ArchiveReport::default();
    let legacy = legacy_through(store)?;
    let dir = backup::parent_dir(to);
    std::fs::create_dir_all(&dir)
        .map_err(io(format!("cannot create directory {}", dir.display())))?;
    let body_path = backup::sibling(to, "body")?;
    let written = write_body(store, before, &body_path, &mut report.held, progress);
    let (count, digest, ids) = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&body_path);
            return Err(e);
        }
    };
    if count == 0 {
        let _ = std::fs::remove_file(&body_path);
        return Ok(report);
    }
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        count,
        body_sha256: digest,
        before,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        backend: match store.backend() {
            Backend::Sqlite => "sqlite".into(),
            Backend::Postgres => "postgres".into(),
        },
        audit_legacy_through_id: legacy,
    };
    let partial = backup::sibling(to, "partial")?;
    let assembled = assemble(&header, &body_path, &partial);
    let _ = std::fs::remove_file(&body_path);
    if let Err(e) = assembled {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    backup::publish_no_clobber(&partial, to)?;

    // Read back from disk: what is deleted is what the file holds.
    let verified = verify_archive(to)?;
    let read: Vec<(&str, i64)> = verified
        .cases
        .iter()
        .map(|c| (c.case_id.as_str(), c.row_version))
        .collect();
    let wrote: Vec<(&str, i64)> = ids.iter().map(|(id, v)| (id.as_str(), *v)).collect();
    if read != wrote || verified.header.body_sha256 != header.body_sha256 {
        return Err(ArchiveError::Mismatch(to.to_path_buf()));
    }
    delete(store, &verified, &mut report, progress)?;
    report.file = Some(verified);
    Ok(report)
}

type Written = (u64, String, Vec<(String, i64)>);

/// Writes one line per finished case to `path`; the count, the body's SHA-256 and the cases'
/// (id, row_version).
fn write_body(
    store: &Store,
    before: NaiveDate,
    path: &Path,
    held: &mut Vec<Held>,
    progress: &mut dyn FnMut(ArchiveStage, u64, u64),
) -> Result<Written, ArchiveError> {
    let file = backup::create_private(path).map_err(ArchiveError::File)?;
    let mut out = BufWriter::new(file);
    let mut hash = sha2::Sha256::new();
    let mut count = 0u64;
    let mut ids = Vec::new();
    let mut line = Vec::new();
    scan(store, start_of_day_ms(before), |f| {
        match f {
            Found::Finished(record, _) => {
                line.clear();
                serde_json::to_writer(&mut line, &*record).map_err(|e| {
                    ArchiveError::Store(StoreError::Corrupt(format!(
                        "case {} cannot be written as JSON: {e}",
                        record.case.id
                    )))
                })?;
                line.push(b'\n');
                hash.update(&line);
                out.write_all(&line)
                    .map_err(io(format!("cannot write {}", path.display())))?;
                count += 1;
                progress(ArchiveStage::Writing, count, 0);
                ids.push((record.case.id.clone(), record.case.row_version));
            }
            Found::Held(h) => held.push(h),
        }
        Ok(())
    })?;
    let file = out
        .into_inner()
        .map_err(|e| io(format!("cannot write {}", path.display()))(e.into_error()))?;
    file.sync_all()
        .map_err(io(format!("cannot sync {}", path.display())))?;
    Ok((count, backup::hex(&hash.finalize()), ids))
}

/// The header line, then the body, into a new file `to`, fsynced.
fn assemble(header: &Header, body: &Path, to: &Path) -> Result<(), ArchiveError> {
    let mut out = backup::create_private(to).map_err(ArchiveError::File)?;
    let mut head = serde_json::to_vec(header)
        .map_err(|e| ArchiveError::Store(StoreError::Corrupt(e.to_string())))?;
    head.push(b'\n');
    out.write_all(&head)
        .map_err(io(format!("cannot write {}", to.display())))?;
    let mut src =
        std::fs::File::open(body).map_err(io(format!("cannot read {}", body.display())))?;
    std::io::copy(&mut src, &mut out).map_err(io(format!("cannot write {}", to.display())))?;
    out.sync_all()
        .map_err(io(format!("cannot sync {}", to.display())))
}

/// Reads an archive back and checks it: the header (format, version), every line complete and
/// readable with rows that all belong to its case, no case twice, each case's audit chain
/// recomputed from genesis to the case's chain head (the `audit verify` check of one case), the
/// number of lines and the SHA-256 of the body against the header. Every problem is listed (the
/// first ten broken lines at most).
pub fn verify_archive(path: &Path) -> Result<VerifiedArchive, ArchiveError> {
    let corrupt = |problems: Vec<String>| ArchiveError::Corrupt {
        path: path.to_path_buf(),
        problems,
    };
    let file = std::fs::File::open(path).map_err(io(format!("cannot read {}", path.display())))?;
    let bytes = file
        .metadata()
        .map_err(io(format!("cannot read {}", path.display())))?
        .len();
    let mut r = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let read = |r: &mut std::io::BufReader<std::fs::File>, line: &mut Vec<u8>| {
        line.clear();
        r.read_until(b'\n', line)
            .map_err(io(format!("cannot read {}", path.display())))
    };
    if read(&mut r, &mut line)? == 0 {
        return Err(corrupt(vec!["the file is empty".into()]));
    }
    let header: Header = serde_json::from_slice(line.strip_suffix(b"\n").unwrap_or(&line))
        .map_err(|e| corrupt(vec![format!("the header line cannot be read: {e}")]))?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(corrupt(vec![format!(
            "the header says format {:?} version {}, this build reads {FORMAT:?} version {VERSION}",
            header.format, header.version
        )]));
    }
    let mut hash = sha2::Sha256::new();
    let mut lines = 0u64;
    let mut problems = Vec::new();
    let mut bad_lines = 0usize;
    let mut seen = HashSet::new();
    let mut cases = Vec::new();
    let (mut entries, mut pre_chain) = (0u64, 0u64);
    while read(&mut r, &mut line)? > 0 {
        hash.update(&line);
        lines += 1;
        let n = lines + 1; // the line number in the file
        let problem = match line.strip_suffix(b"\n") {
            None => Some(format!("line {n} is cut off (no end of line)")),
            Some(text) => match serde_json::from_slice::<ArchivedCase>(text) {
                Err(e) => Some(format!("line {n} cannot be read: {e}")),
                Ok(record) => {
                    let mut audit = audit::AuditReport::default();
                    let checked = check_record(&record, header.audit_legacy_through_id, &mut audit);
                    entries += record.events.len() as u64;
                    pre_chain += audit.pre_chain_entries;
                    if !seen.insert(record.case.id.clone()) {
                        Some(format!("line {n}: case {} appears twice", record.case.id))
                    } else if let Err(p) = checked {
                        Some(format!("line {n}: {p}"))
                    } else {
                        cases.push(FileCase {
                            case_id: record.case.id.clone(),
                            status: record.case.status.clone(),
                            received_on: record.case.received_on.clone(),
                            row_version: record.case.row_version,
                            audit_head: record.case.audit_head.clone(),
                            entries: record.events.len() as i64,
                        });
                        None
                    }
                }
            },
        };
        if let Some(p) = problem {
            bad_lines += 1;
            if bad_lines <= 10 {
                problems.push(p);
            }
        }
    }
    let digest = backup::hex(&hash.finalize());
    let mut head = Vec::new();
    if digest != header.body_sha256 {
        head.push(format!(
            "the body's SHA-256 is {digest}, the header says {}",
            header.body_sha256
        ));
    }
    if lines != header.count {
        head.push(format!(
            "the body holds {lines} case lines, the header says {}",
            header.count
        ));
    }
    if bad_lines > 10 {
        problems.push(format!("{} more broken lines", bad_lines - 10));
    }
    head.extend(problems);
    if !head.is_empty() {
        return Err(corrupt(head));
    }
    Ok(VerifiedArchive {
        path: path.to_path_buf(),
        header,
        bytes,
        cases,
        entries,
        pre_chain_entries: pre_chain,
    })
}

/// The rows of a record belong to its case, and its audit chain is intact up to its head.
fn check_record(
    record: &ArchivedCase,
    legacy_through: i64,
    report: &mut audit::AuditReport,
) -> Result<(), String> {
    let id = record.case.id.as_str();
    let foreign = record.events.iter().any(|e| e.case_id != id)
        || record.notices.iter().any(|r| r.case_id != id)
        || record.parts.iter().any(|r| r.case_id != id)
        || record.steps.iter().any(|r| r.case_id != id)
        || record.ratings.iter().any(|r| r.case_id != id)
        || record.due_items.iter().any(|r| r.case_id != id)
        || record.idempotency_keys.iter().any(|r| r.case_id != id);
    if foreign {
        return Err(format!("case {id} holds rows of another case"));
    }
    if record.events.windows(2).any(|w| w[0].id >= w[1].id) {
        return Err(format!("case {id}: audit entries out of order"));
    }
    let trail: Vec<EventRow> = record
        .events
        .iter()
        .map(|e| EventRow {
            id: e.id,
            case_id: e.case_id.clone(),
            at: e.at,
            actor: e.actor.clone(),
            action: e.action.clone(),
            catalog_hash: e.catalog_hash.clone(),
            detail: e.detail.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        })
        .collect();
    let refs: Vec<&EventRow> = trail.iter().collect();
    match audit::check_case(
        id,
        record.case.audit_head.as_deref(),
        &refs,
        legacy_through,
        report,
    ) {
        None => Ok(()),
        Some(b) => Err(format!("audit chain: {b}")),
    }
}

// ---------------------------------------------------------------- deleting

/// Deletes the cases of a verified file, [`BATCH`] per transaction: each only if its row version
/// and chain head are still those in the file; records each in `archived_cases` first.
fn delete(
    store: &Store,
    file: &VerifiedArchive,
    report: &mut ArchiveReport,
    progress: &mut dyn FnMut(ArchiveStage, u64, u64),
) -> Result<(), ArchiveError> {
    let mut conn = store.conn()?;
    let now = chrono::Utc::now().timestamp_millis();
    let total = file.cases.len() as u64;
    let mut done = 0u64;
    for batch in file.cases.chunks(BATCH) {
        done += batch.len() as u64;
        progress(ArchiveStage::Deleting, done, total);
        let (removed, kept, gone) = write_tx(&mut conn, |c| {
            let mut removed = Removed::default();
            let (mut kept, mut gone) = (Vec::new(), Vec::new());
            for fc in batch {
                let q = cases::table
                    .find(&fc.case_id)
                    .select((cases::row_version, cases::audit_head));
                let current: Option<(i64, Option<String>)> = match c {
                    DbConnection::Pg(pg) => q.for_update().get_result(pg).optional()?,
                    // BEGIN IMMEDIATE already excludes every other writer.
                    DbConnection::Sqlite(lite) => q.get_result(lite).optional()?,
                };
                match current {
                    None => gone.push(fc.case_id.clone()),
                    Some((v, head))
                        if v == fc.row_version
                            && head == fc.audit_head
                            && undelivered(c, &fc.case_id)? == 0 =>
                    {
                        remove_case(c, fc, &file.header.body_sha256, now, &mut removed)?;
                    }
                    Some(_) => kept.push(fc.case_id.clone()),
                }
            }
            Ok((removed, kept, gone))
        })?;
        report.batches += 1;
        report.kept.extend(kept);
        report.gone.extend(gone);
        let r = &mut report.removed;
        r.cases += removed.cases;
        r.events += removed.events;
        r.notices += removed.notices;
        r.parts += removed.parts;
        r.steps += removed.steps;
        r.ratings += removed.ratings;
        r.due_items += removed.due_items;
        r.idempotency_keys += removed.idempotency_keys;
        r.outbox_events += removed.outbox_events;
        r.outbox_deliveries += removed.outbox_deliveries;
    }
    Ok(())
}

/// Outbox deliveries of a case not (yet) delivered: a case is archived only when every event
/// reached every subscriber that wanted it, so archiving never drops a report.
fn undelivered(c: &mut DbConnection, case_id: &str) -> Result<i64, StoreError> {
    Ok(outbox_deliveries::table
        .filter(outbox_deliveries::case_id.eq(case_id))
        .filter(outbox_deliveries::state.ne(super::outbox::OutboxState::Delivered.as_text()))
        .count()
        .get_result(c)?)
}

#[derive(Insertable)]
#[diesel(table_name = archived_cases)]
struct LedgerRow<'a> {
    case_id: &'a str,
    status: &'a str,
    received_on: &'a str,
    audit_head: Option<&'a str>,
    entries: i64,
    archive_sha256: &'a str,
    archived_at: i64,
}

fn remove_case(
    c: &mut DbConnection,
    fc: &FileCase,
    digest: &str,
    now: i64,
    removed: &mut Removed,
) -> Result<(), StoreError> {
    let id = fc.case_id.as_str();
    // The ledger row first: case_events accepts the deletion of an archived case's entries only.
    diesel::insert_into(archived_cases::table)
        .values(LedgerRow {
            case_id: id,
            status: &fc.status,
            received_on: &fc.received_on,
            audit_head: fc.audit_head.as_deref(),
            entries: fc.entries,
            archive_sha256: digest,
            archived_at: now,
        })
        .execute(c)?;
    removed.due_items +=
        diesel::delete(due_items::table.filter(due_items::case_id.eq(id))).execute(c)?;
    removed.steps +=
        diesel::delete(case_steps::table.filter(case_steps::case_id.eq(id))).execute(c)?;
    removed.ratings += diesel::delete(ratings::table.filter(ratings::case_id.eq(id))).execute(c)?;
    removed.parts +=
        diesel::delete(case_parts::table.filter(case_parts::case_id.eq(id))).execute(c)?;
    removed.idempotency_keys +=
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::case_id.eq(id)))
            .execute(c)?;
    removed.notices += diesel::delete(notices::table.filter(notices::case_id.eq(id))).execute(c)?;
    // Delivered reports: the archive keeps the audit trail they were made of.
    removed.outbox_deliveries +=
        diesel::delete(outbox_deliveries::table.filter(outbox_deliveries::case_id.eq(id)))
            .execute(c)?;
    removed.outbox_events +=
        diesel::delete(outbox_events::table.filter(outbox_events::case_id.eq(id))).execute(c)?;
    removed.events +=
        diesel::delete(case_events::table.filter(case_events::case_id.eq(id))).execute(c)?;
    removed.cases += diesel::delete(cases::table.find(id)).execute(c)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column of every table a case spans is in the archive: a migration that adds a
    /// column fails here until the row above has it.
    #[test]
    fn the_rows_hold_every_column() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/cols.db", dir.path().display());
        crate::store::migrate(&url).unwrap();
        let mut c = crate::store::conn::Target::parse(&url)
            .unwrap()
            .connect()
            .unwrap();
        #[derive(QueryableByName)]
        struct Col {
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
        }
        let keys = |v: serde_json::Value| -> Vec<String> {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let record = serde_json::to_value(ArchivedCase {
            events: vec![EventCols::default()],
            notices: vec![NoticeCols::default()],
            parts: vec![PartCols::default()],
            steps: vec![StepCols::default()],
            ratings: vec![RatingCols::default()],
            due_items: vec![DueCols::default()],
            idempotency_keys: vec![KeyCols::default()],
            ..ArchivedCase::default()
        })
        .unwrap();
        for (table, field) in [
            ("cases", "case"),
            ("case_events", "events"),
            ("notices", "notices"),
            ("case_parts", "parts"),
            ("case_steps", "steps"),
            ("ratings", "ratings"),
            ("due_items", "due_items"),
            ("idempotency_keys", "idempotency_keys"),
        ] {
            let mut cols: Vec<String> =
                diesel::sql_query(format!("SELECT name FROM pragma_table_info('{table}')"))
                    .load::<Col>(&mut c)
                    .unwrap()
                    .into_iter()
                    .map(|c| c.name)
                    .collect();
            cols.sort();
            let v = &record[field];
            let row = if v.is_array() {
                v[0].clone()
            } else {
                v.clone()
            };
            assert_eq!(keys(row), cols, "{table}");
        }
        // And every table that refers to a case is one of them (besides the ledger).
        #[derive(QueryableByName)]
        struct Fk {
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
        }
        let referring: Vec<String> = diesel::sql_query(
            "SELECT m.name AS name FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' AND f.\"table\" = 'cases' ORDER BY m.name",
        )
        .load::<Fk>(&mut c)
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
        assert_eq!(
            referring,
            [
                "case_events",
                "case_parts",
                "case_steps",
                "due_items",
                "idempotency_keys",
                "notices",
                "ratings"
            ]
        );
    }

    #[test]
    fn the_cut_off_is_midnight_in_china() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        // 2025-12-31 16:00 UTC.
        assert_eq!(start_of_day_ms(d), 1_767_196_800_000);
    }
}
