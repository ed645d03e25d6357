//! Personal data in the store: sealing and opening the sensitive columns (see `crypto`), the
//! append-only log of reads of personal data, and the resumable command that encrypts an existing
//! database in place (`yichuang personal-data encrypt`).

use diesel::prelude::*;

use super::conn::{self, DbConnection, Target};
use super::crypto::{self, Keyring};
use super::handling::{LifecycleWrite, PartRow, RatingRow, StepRow};
use super::ops::{Done, Job};
use super::schema::{case_parts, case_steps, cases, notices, personal_data_reads, ratings};
use super::tx::write_tx;
use super::{
    CaseRow, EventRow, IntakeReceipt, NewEvent, NewNotice, NewRead, NoticeRow, Store, StoreError,
};

/// The sealed columns, as named in the associated data of their values.
pub(crate) const NAME: &str = "cases.applicant_name";
pub(crate) const ID_NUMBER: &str = "cases.applicant_id_number";
pub(crate) const APPLICATION: &str = "cases.application";
pub(crate) const NOTICE: &str = "notices.content";
/// The free text written after intake: reasons, opinions, receivers, comments and notes.
pub(crate) const PAUSE: &str = "case_parts.pause";
pub(crate) const DELIVERY: &str = "case_parts.delivery";
pub(crate) const STEP_COMMENT: &str = "case_steps.comment";
pub(crate) const RATING_COMMENT: &str = "ratings.comment";
pub(crate) const FOLLOWUP_NOTE: &str = "ratings.followup_note";
pub(crate) const FOLLOWUP_CALLBACK: &str = "ratings.followup_callback";
/// An audit entry's detail (and the outbox event made of it); its row is the case.
pub(crate) const EVENT_DETAIL: &str = "case_events.detail";

/// Seals an optional column value in place.
fn seal_opt(
    k: &Keyring,
    column: &str,
    row: &str,
    v: &mut Option<String>,
) -> Result<(), StoreError> {
    if let Some(plain) = v.as_deref() {
        *v = Some(k.seal(column, row, plain)?);
    }
    Ok(())
}

/// Opens an optional column value in place (a plain value stays as it is).
fn open_opt(
    k: Option<&Keyring>,
    column: &str,
    row: &str,
    v: &mut Option<String>,
) -> Result<(), StoreError> {
    if let Some(stored) = v.as_deref() {
        *v = Some(crypto::open(k, column, row, stored)?);
    }
    Ok(())
}

/// A row of the lifecycle with free text: its row in the associated data, and each sealed
/// column with its value. Sealing and opening are written once, over this list.
pub(crate) trait FreeText {
    fn free_text(&mut self) -> (String, Vec<(&'static str, &mut Option<String>)>);

    fn seal(&mut self, k: &Keyring) -> Result<(), StoreError> {
        let (row, columns) = self.free_text();
        columns
            .into_iter()
            .try_for_each(|(column, v)| seal_opt(k, column, &row, v))
    }

    fn open(&mut self, k: Option<&Keyring>) -> Result<(), StoreError> {
        let (row, columns) = self.free_text();
        columns
            .into_iter()
            .try_for_each(|(column, v)| open_opt(k, column, &row, v))
    }
}

impl FreeText for PartRow {
    fn free_text(&mut self) -> (String, Vec<(&'static str, &mut Option<String>)>) {
        (
            format!("{}/{}", self.case_id, self.track),
            vec![(PAUSE, &mut self.pause), (DELIVERY, &mut self.delivery)],
        )
    }
}

impl FreeText for StepRow {
    fn free_text(&mut self) -> (String, Vec<(&'static str, &mut Option<String>)>) {
        (
            format!("{}/{}", self.case_id, self.id),
            vec![(STEP_COMMENT, &mut self.comment)],
        )
    }
}

impl FreeText for RatingRow {
    fn free_text(&mut self) -> (String, Vec<(&'static str, &mut Option<String>)>) {
        (
            format!("{}/{}", self.case_id, self.subject),
            vec![
                (RATING_COMMENT, &mut self.comment),
                (FOLLOWUP_NOTE, &mut self.followup_note),
                (FOLLOWUP_CALLBACK, &mut self.followup_callback),
            ],
        )
    }
}

impl LifecycleWrite {
    /// Seals the free text of every row it writes.
    pub(crate) fn seal(&mut self, k: &Keyring) -> Result<(), StoreError> {
        let (parts, steps, ratings) = self.rows_mut();
        parts.iter_mut().try_for_each(|r| r.seal(k))?;
        steps.iter_mut().try_for_each(|r| r.seal(k))?;
        ratings.iter_mut().try_for_each(|r| r.seal(k))
    }
}

impl NewEvent {
    /// The event as stored: its detail sealed when it carries the store's keys.
    pub(crate) fn stored(
        &self,
        case_id: &str,
    ) -> Result<std::borrow::Cow<'_, NewEvent>, StoreError> {
        match &self.seal {
            None => Ok(std::borrow::Cow::Borrowed(self)),
            Some(s) => Ok(std::borrow::Cow::Owned(NewEvent {
                detail: s.0.seal(EVENT_DETAIL, case_id, &self.detail)?,
                seal: None,
                ..self.clone()
            })),
        }
    }
}

/// The row of a notice in its associated data: the case and the notice.
fn notice_row(case_id: &str, notice_id: &str) -> String {
    format!("{case_id}/{notice_id}")
}

/// A logged read.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = personal_data_reads)]
pub struct ReadRow {
    pub id: i64,
    pub at: i64,
    pub user_id: String,
    pub role: String,
    pub case_id: String,
    pub endpoint: String,
}

/// Which logged reads to return (newest first); `None` is "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadFilter {
    /// Only reads of cases taken at this center (a township supervisor's scope).
    pub center_id: Option<String>,
    pub case_id: Option<String>,
    pub user_id: Option<String>,
    /// Inclusive, unix milliseconds.
    pub from_ms: Option<i64>,
    /// Exclusive, unix milliseconds.
    pub to_ms: Option<i64>,
    /// Clamped to `1..=READ_PAGE`.
    pub limit: i64,
    pub offset: i64,
}

/// Largest page of the read log.
pub const READ_PAGE: i64 = 1000;

impl Store {
    pub(crate) fn keys(&self) -> Option<&Keyring> {
        self.inner.keys.as_deref()
    }

    /// True when the store seals personal data (keys configured).
    pub fn encrypts_personal_data(&self) -> bool {
        self.inner.keys.is_some()
    }

    /// Seals the name, ID number and application of a new case; returns the keyed hash of its
    /// ID number. Without keys the row is left as it is.
    pub(crate) fn seal_case(&self, row: &mut CaseRow) -> Result<Option<String>, StoreError> {
        let Some(k) = self.keys() else {
            return Ok(None);
        };
        let hash = row.applicant_id_number.as_deref().map(|n| k.id_hash(n));
        row.applicant_name = k.seal(NAME, &row.id, &row.applicant_name)?;
        if let Some(n) = &row.applicant_id_number {
            row.applicant_id_number = Some(k.seal(ID_NUMBER, &row.id, n)?);
        }
        row.application = k.seal(APPLICATION, &row.id, &row.application)?;
        Ok(hash)
    }

    pub(crate) fn seal_application(
        &self,
        case_id: &str,
        plain: &str,
    ) -> Result<String, StoreError> {
        match self.keys() {
            Some(k) => Ok(k.seal(APPLICATION, case_id, plain)?),
            None => Ok(plain.to_string()),
        }
    }

    pub(crate) fn seal_notices(
        &self,
        case_id: &str,
        notices: &mut [NewNotice],
    ) -> Result<(), StoreError> {
        if let Some(k) = self.keys() {
            for n in notices {
                n.content = k.seal(NOTICE, &notice_row(case_id, &n.id), &n.content)?;
            }
        }
        Ok(())
    }

    /// Seals the free text of a write (handling rows now, event details inside the write).
    pub(crate) fn seal_free_text(
        &self,
        lifecycle: Option<&mut LifecycleWrite>,
        events: &mut [NewEvent],
    ) -> Result<(), StoreError> {
        let Some(k) = self.inner.keys.as_ref() else {
            return Ok(());
        };
        if let Some(l) = lifecycle {
            l.seal(k)?;
        }
        for e in events {
            e.seal = Some(super::EventSeal(k.clone()));
        }
        Ok(())
    }

    pub(crate) fn open_event(&self, mut e: EventRow) -> Result<EventRow, StoreError> {
        e.detail = crypto::open(self.keys(), EVENT_DETAIL, &e.case_id, &e.detail)?;
        Ok(e)
    }

    /// The keyed hash of an ID number (with keys).
    pub(crate) fn id_hash(&self, id_number: &str) -> Option<String> {
        self.keys().map(|k| k.id_hash(id_number))
    }

    pub(crate) fn open_case(&self, mut row: CaseRow) -> Result<CaseRow, StoreError> {
        let k = self.keys();
        row.applicant_name = crypto::open(k, NAME, &row.id, &row.applicant_name)?;
        if let Some(n) = &row.applicant_id_number {
            row.applicant_id_number = Some(crypto::open(k, ID_NUMBER, &row.id, n)?);
        }
        row.application = crypto::open(k, APPLICATION, &row.id, &row.application)?;
        Ok(row)
    }

    pub(crate) fn open_notice(&self, mut n: NoticeRow) -> Result<NoticeRow, StoreError> {
        n.content = crypto::open(
            self.keys(),
            NOTICE,
            &notice_row(&n.case_id, &n.id),
            &n.content,
        )?;
        Ok(n)
    }

    /// An outbox payload for delivery: the case summary's name and ID number are stored as the
    /// case row holds them (sealed, with keys) and are opened only to be sent.
    pub(crate) fn open_outbox_payload(
        &self,
        case_id: &str,
        payload: String,
    ) -> Result<String, StoreError> {
        let Some(k) = self.keys() else {
            return Ok(payload);
        };
        let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&payload) else {
            return Ok(payload);
        };
        for (field, column) in [("applicant_name", NAME), ("applicant_id_number", ID_NUMBER)] {
            if let Some(serde_json::Value::String(s)) = v["case"].get(field) {
                let plain = crypto::open(Some(k), column, case_id, s)?;
                v["case"][field] = serde_json::Value::String(plain);
            }
        }
        // A sealed detail is stored as a string; opened, it is the JSON it was.
        if let Some(serde_json::Value::String(s)) = v.get("detail") {
            if crypto::is_sealed(s) {
                let plain = crypto::open(Some(k), EVENT_DETAIL, case_id, s)?;
                v["detail"] =
                    serde_json::from_str(&plain).unwrap_or(serde_json::Value::String(plain));
            }
        }
        serde_json::to_string(&v).map_err(|e| StoreError::Query(format!("outbox payload: {e}")))
    }

    pub(crate) fn open_receipt(&self, r: IntakeReceipt) -> Result<IntakeReceipt, StoreError> {
        Ok(IntakeReceipt {
            case: self.open_case(r.case)?,
            notices: r
                .notices
                .into_iter()
                .map(|n| self.open_notice(n))
                .collect::<Result<_, _>>()?,
            replayed: r.replayed,
        })
    }

    /// Appends reads to the personal-data read log (through the group-commit writer, so they
    /// share its transactions). Committed before it returns.
    pub fn log_reads(&self, reads: Vec<NewRead>) -> Result<(), StoreError> {
        if reads.is_empty() {
            return Ok(());
        }
        match self.write(Job::Reads(reads))? {
            Done::Logged => Ok(()),
            Done::Receipt(_) => Err(StoreError::Query(
                "the store answered a read log with a receipt".into(),
            )),
        }
    }

    /// Logged reads, newest first, and how many match in all.
    pub fn personal_data_reads(&self, f: &ReadFilter) -> Result<(Vec<ReadRow>, i64), StoreError> {
        use personal_data_reads::dsl as r;
        let filtered = || {
            let mut q = r::personal_data_reads.into_boxed();
            if let Some(center) = &f.center_id {
                q = q.filter(
                    r::case_id.eq_any(
                        super::schema::cases::table
                            .filter(super::schema::cases::center_id.eq(center.clone()))
                            .select(super::schema::cases::id),
                    ),
                );
            }
            if let Some(v) = &f.case_id {
                q = q.filter(r::case_id.eq(v.clone()));
            }
            if let Some(v) = &f.user_id {
                q = q.filter(r::user_id.eq(v.clone()));
            }
            if let Some(v) = f.from_ms {
                q = q.filter(r::at.ge(v));
            }
            if let Some(v) = f.to_ms {
                q = q.filter(r::at.lt(v));
            }
            q
        };
        let mut c = self.conn()?;
        let total = filtered().count().get_result::<i64>(&mut *c)?;
        let rows = filtered()
            .order((r::at.desc(), r::id.desc()))
            .limit(f.limit.clamp(1, READ_PAGE))
            .offset(f.offset.max(0))
            .select(ReadRow::as_select())
            .load(&mut *c)?;
        Ok((rows, total))
    }
}

/// Where `yichuang personal-data encrypt` stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncryptProgress {
    /// Cases and notices sealed under the active key by this run.
    pub cases_done: u64,
    pub notices_done: u64,
    /// Left to do when the run started.
    pub cases_todo: i64,
    pub notices_todo: i64,
    /// Rows of matters, steps and ratings whose free text (reasons, opinions, receivers,
    /// comments, notes) was sealed by this run, and how many were left when it started.
    pub free_text_done: u64,
    pub free_text_todo: i64,
    /// Batches committed by this run.
    pub batches: u64,
    /// True when nothing is left (false when stopped by `max_batches`).
    pub finished: bool,
}

/// `LIKE` pattern of values sealed under `key` (`_` in a key id escaped).
fn sealed_under(key: &str) -> String {
    format!(
        "{}{}:%",
        crypto::PREFIX,
        key.replace('\\', "\\\\")
            .replace('_', "\\_")
            .replace('%', "\\%")
    )
}

fn cases_todo(pattern: &str) -> cases::BoxedQuery<'_, conn::MultiBackend> {
    cases::table
        .filter(
            cases::application
                .not_like(pattern)
                .escape('\\')
                .or(cases::applicant_name.not_like(pattern).escape('\\'))
                .or(cases::applicant_id_number.is_not_null().and(
                    cases::applicant_id_number
                        .not_like(pattern)
                        .escape('\\')
                        .or(cases::applicant_id_hash.is_null()),
                )),
        )
        .into_boxed()
}

/// A nullable text column with a value not sealed under the active key.
macro_rules! unsealed {
    ($col:expr, $pattern:expr) => {
        $col.is_not_null()
            .and($col.assume_not_null().not_like($pattern).escape('\\'))
    };
}

fn parts_todo(pattern: &str) -> case_parts::BoxedQuery<'_, conn::MultiBackend> {
    case_parts::table
        .filter(unsealed!(case_parts::pause, pattern).or(unsealed!(case_parts::delivery, pattern)))
        .into_boxed()
}

fn steps_todo(pattern: &str) -> case_steps::BoxedQuery<'_, conn::MultiBackend> {
    case_steps::table
        .filter(unsealed!(case_steps::comment, pattern))
        .into_boxed()
}

fn ratings_todo(pattern: &str) -> ratings::BoxedQuery<'_, conn::MultiBackend> {
    ratings::table
        .filter(
            unsealed!(ratings::comment, pattern)
                .or(unsealed!(ratings::followup_note, pattern))
                .or(unsealed!(ratings::followup_callback, pattern)),
        )
        .into_boxed()
}

/// Rows whose free text is left to seal.
fn free_text_todo(c: &mut DbConnection, pattern: &str) -> Result<i64, StoreError> {
    Ok(parts_todo(pattern).count().get_result::<i64>(c)?
        + steps_todo(pattern).count().get_result::<i64>(c)?
        + ratings_todo(pattern).count().get_result::<i64>(c)?)
}

/// Seals, under the active key, the free text of up to `batch` rows of matters, steps and
/// ratings. Each row is written back only if its sealed columns are still as read (a row the
/// service rewrote meanwhile is sealed already). Returns how many rows were looked at.
fn seal_free_text_batch(
    c: &mut DbConnection,
    keys: &Keyring,
    pattern: &str,
    batch: i64,
) -> Result<u64, StoreError> {
    // A row's free text opened (plain, or under any key) and sealed again under the active one.
    let resealed = |r: &mut dyn FreeText| -> Result<(), StoreError> {
        r.open(Some(keys))?;
        r.seal(keys)
    };
    let mut n = 0;
    let parts: Vec<PartRow> = parts_todo(pattern)
        .order((case_parts::case_id.asc(), case_parts::track.asc()))
        .limit(batch)
        .select(PartRow::as_select())
        .load(c)?;
    for r in &parts {
        let mut new = r.clone();
        resealed(&mut new)?;
        diesel::update(
            case_parts::table
                .find((&r.case_id, &r.track))
                .filter(case_parts::updated_at.eq(r.updated_at)),
        )
        .set((
            case_parts::pause.eq(new.pause),
            case_parts::delivery.eq(new.delivery),
        ))
        .execute(c)?;
        n += 1;
    }
    let steps: Vec<StepRow> = steps_todo(pattern)
        .order(case_steps::id.asc())
        .limit(batch)
        .select(StepRow::as_select())
        .load(c)?;
    for r in &steps {
        let mut new = r.clone();
        resealed(&mut new)?;
        diesel::update(
            case_steps::table
                .find(&r.id)
                .filter(case_steps::updated_at.eq(r.updated_at)),
        )
        .set(case_steps::comment.eq(new.comment))
        .execute(c)?;
        n += 1;
    }
    let rated: Vec<RatingRow> = ratings_todo(pattern)
        .order((ratings::case_id.asc(), ratings::subject.asc()))
        .limit(batch)
        .select(RatingRow::as_select())
        .load(c)?;
    for r in &rated {
        let mut new = r.clone();
        resealed(&mut new)?;
        // A rating changes only when its follow-up closes: compare that.
        let sealed = (
            ratings::comment.eq(new.comment),
            ratings::followup_note.eq(new.followup_note),
            ratings::followup_callback.eq(new.followup_callback),
        );
        let this = ratings::table
            .filter(ratings::case_id.eq(&r.case_id))
            .filter(ratings::subject.eq(&r.subject));
        match &r.followup_closed_on {
            Some(d) => diesel::update(this.filter(ratings::followup_closed_on.eq(d)))
                .set(sealed)
                .execute(c)?,
            None => diesel::update(this.filter(ratings::followup_closed_on.is_null()))
                .set(sealed)
                .execute(c)?,
        };
        n += 1;
    }
    Ok(n)
}

fn notices_todo(pattern: &str) -> notices::BoxedQuery<'_, conn::MultiBackend> {
    notices::table
        .filter(notices::content.not_like(pattern).escape('\\'))
        .into_boxed()
}

/// Seals, under the active key, every case and notice of the database at `url` that is in plain
/// text or under another key, `batch` rows per transaction, and sets the keyed hash of ID numbers.
/// Restartable at any point: a killed run loses at most its open batch, and the next run finds
/// what is left by looking at the values themselves. Safe while the service runs (with the same
/// keys): a row changed meanwhile is skipped, and picked up by the next batch if still unsealed.
/// Stops after `max_batches` batches when given.
pub fn encrypt_personal_data(
    url: &str,
    keys: &Keyring,
    batch: i64,
    max_batches: Option<u64>,
    progress: &mut dyn FnMut(&EncryptProgress),
) -> Result<EncryptProgress, StoreError> {
    let target = Target::parse(url)?;
    if let Target::Sqlite(path) = &target {
        if !path.is_file() {
            return Err(StoreError::Connect(format!(
                "no SQLite database at {}",
                path.display()
            )));
        }
    }
    let mut c = target.connect()?;
    conn::apply_pragmas(&mut c)?;
    conn::run_migrations(&mut c)?;
    let pattern = sealed_under(keys.active());
    let batch = batch.clamp(1, 10_000);
    let mut p = EncryptProgress {
        cases_todo: cases_todo(&pattern).count().get_result(&mut c)?,
        notices_todo: notices_todo(&pattern).count().get_result(&mut c)?,
        free_text_todo: free_text_todo(&mut c, &pattern)?,
        ..Default::default()
    };
    progress(&p);
    loop {
        if max_batches.is_some_and(|m| p.batches >= m) {
            return Ok(p);
        }
        let (cases_n, notices_n) = write_tx(&mut c, |c| seal_batch(c, keys, &pattern, batch))?;
        let rows_n = if cases_n == 0 && notices_n == 0 {
            write_tx(&mut c, |c| seal_free_text_batch(c, keys, &pattern, batch))?
        } else {
            0
        };
        if cases_n == 0 && notices_n == 0 && rows_n == 0 {
            p.finished = true;
            progress(&p);
            return Ok(p);
        }
        p.batches += 1;
        p.cases_done += cases_n;
        p.notices_done += notices_n;
        p.free_text_done += rows_n;
        progress(&p);
    }
}

type CaseSecrets = (String, String, Option<String>, String);

/// One batch: up to `batch` cases, then (when no case is left) up to `batch` notices. Returns
/// how many rows were looked at (sealed, or skipped because they changed meanwhile).
fn seal_batch(
    c: &mut DbConnection,
    keys: &Keyring,
    pattern: &str,
    batch: i64,
) -> Result<(u64, u64), StoreError> {
    let rows: Vec<CaseSecrets> = cases_todo(pattern)
        .order(cases::id.asc())
        .limit(batch)
        .select((
            cases::id,
            cases::applicant_name,
            cases::applicant_id_number,
            cases::application,
        ))
        .load(c)?;
    let k = Some(keys);
    let mut cases_n = 0;
    for (id, name, number, application) in &rows {
        let plain_number = number
            .as_deref()
            .map(|n| crypto::open(k, ID_NUMBER, id, n))
            .transpose()?;
        let sealed_number = plain_number
            .as_deref()
            .map(|n| keys.seal(ID_NUMBER, id, n))
            .transpose()?;
        let hash = plain_number.as_deref().map(|n| keys.id_hash(n));
        let new_name = keys.seal(NAME, id, &crypto::open(k, NAME, id, name)?)?;
        let new_app = keys.seal(
            APPLICATION,
            id,
            &crypto::open(k, APPLICATION, id, application)?,
        )?;
        // Compare-and-set: a row the service changed since it was read is left for the next batch.
        diesel::update(
            cases::table
                .filter(cases::id.eq(id))
                .filter(cases::application.eq(application))
                .filter(cases::applicant_name.eq(name)),
        )
        .set((
            cases::applicant_name.eq(new_name),
            cases::applicant_id_number.eq(sealed_number),
            cases::applicant_id_hash.eq(hash),
            cases::application.eq(new_app),
        ))
        .execute(c)?;
        cases_n += 1;
    }
    if cases_n > 0 {
        return Ok((cases_n, 0));
    }
    let rows: Vec<(String, String, String)> = notices_todo(pattern)
        .order(notices::id.asc())
        .limit(batch)
        .select((notices::id, notices::case_id, notices::content))
        .load(c)?;
    let mut notices_n = 0;
    for (id, case_id, content) in &rows {
        let row = notice_row(case_id, id);
        let sealed = keys.seal(NOTICE, &row, &crypto::open(k, NOTICE, &row, content)?)?;
        diesel::update(
            notices::table
                .filter(notices::id.eq(id))
                .filter(notices::content.eq(content)),
        )
        .set(notices::content.eq(sealed))
        .execute(c)?;
        notices_n += 1;
    }
    Ok((0, notices_n))
}
