//! Persistence: sync diesel 2.3 + r2d2 over SQLite (the embedded default) and PostgreSQL (several
//! instances behind a load balancer) with one code path, one schema and per-backend migrations
//! of the same names.
//!
//! Callers run these functions on blocking threads (`web::block`). Write operations
//! (`commit_intake`, `update_case`) are each one transaction: case, notices with their numbers,
//! the audit event and the idempotency key commit together or not at all (invariant 6). With
//! [`StoreOptions::group_commit`] they go through one writer thread that commits whatever is
//! pending in a single transaction (one savepoint per request) and answers after COMMIT.
//!
//! No diesel type appears in the public signatures; the row structs are plain structs.

pub mod archive;
pub mod audit;
pub mod backup;
mod batch;
mod columns;
mod conn;
pub mod crypto;
mod error;
mod figures;
mod handling;
pub mod mapping;
mod ops;
pub mod outbox;
mod personal;
pub mod schema;
mod tx;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;

pub use conn::DbConnection;
pub use error::StoreError;
pub use figures::{FigureCounts, FigureKey, IntakeCounts, PartOfCase, RatingOfCase};
pub use handling::{fire_at_ms, CaseChange, LifecycleWrite, StoredDueItem};
pub use mapping::case_of;
pub use ops::MAX_PAGE;
pub use personal::{encrypt_personal_data, EncryptProgress, ReadFilter, ReadRow, READ_PAGE};
pub use writer::MAX_BATCH;

use crate::domain::handling::{EventKind, Handling};
use crate::domain::notice::NoticeKind;
use crate::domain::route::Step;
use conn::{DbManager, Session, Target};
use ops::Job;
use writer::Writer;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Pooled connections for reads (and for writes when `group_commit` is off).
    pub pool_size: u32,
    /// How long to wait for a pooled connection (and for the first connections at open); also
    /// bounds making a PostgreSQL connection (libpq `connect_timeout`, at least 2 s).
    pub connect_timeout: Duration,
    /// With group commit: a write fails with `Unavailable` once the writer has been stuck on the
    /// database (no request of its batch finished) for this long — the database hangs or is
    /// locked. A writer that keeps committing is waited for, however long its queue.
    pub write_timeout: Duration,
    /// PostgreSQL `statement_timeout` of the store's sessions (`None`: the server's setting).
    pub statement_timeout: Option<Duration>,
    /// SQLite: the largest database in bytes (`PRAGMA max_page_count`); writes past it fail as
    /// on a full disk (`Unavailable`). `None`: no limit.
    pub sqlite_max_bytes: Option<u64>,
    /// Send writes through writer threads that commit pending requests together.
    pub group_commit: bool,
    /// PostgreSQL: writer threads (each a session of its own) taking batches from one queue.
    /// SQLite always has one.
    pub pg_writers: usize,
    /// Personal-data keys: with them, names, ID numbers, applications and notice contents are
    /// sealed before they are written and opened after they are read (`crypto`); without them
    /// they are stored as given, and a sealed value read back is a `Decrypt` error.
    pub keys: Option<Arc<crypto::Keyring>>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            statement_timeout: None,
            sqlite_max_bytes: None,
            group_commit: true,
            pg_writers: DEFAULT_PG_WRITERS,
            keys: None,
        }
    }
}

/// PostgreSQL writer threads unless configured: measured with `scripts/load.sh` (BENCHMARKS.md).
pub const DEFAULT_PG_WRITERS: usize = 1;

/// SQLite's page size in this store (the default; never changed).
const SQLITE_PAGE_BYTES: u64 = 4096;

/// The longest `/readyz` (through [`Store::ping`]) waits for a connection.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// One activation of a catalog version (the latest is the active one).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = schema::catalog_activations)]
pub struct ActivationRow {
    pub id: i64,
    pub hash: String,
    pub activated_at: i64,
    pub activated_by: String,
}

/// A deployed catalog version, stored under its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = schema::catalog_versions)]
pub struct CatalogVersionRow {
    pub hash: String,
    pub version: String,
    pub name: String,
    /// JSON object: path → file text.
    pub files: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub activated_by: Option<String>,
}

/// A case as stored. Timestamps are unix milliseconds; dates are `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = schema::cases)]
#[diesel(treat_none_as_default_value = false)]
pub struct CaseRow {
    pub id: String,
    pub matter_code: String,
    pub bundle_code: Option<String>,
    pub status: String,
    pub outcome: String,
    /// Township id or county id of the service center that took the case.
    pub center_id: String,
    pub township: Option<String>,
    pub village: Option<String>,
    pub window_id: Option<String>,
    pub channel: String,
    /// 首问负责人.
    pub clerk_id: String,
    pub agent_id: Option<String>,
    pub applicant_kind: String,
    pub applicant_name: String,
    pub applicant_id_number: Option<String>,
    /// The catalog version the case is pinned to.
    pub catalog_hash: String,
    /// JSON.
    pub application: String,
    /// JSON.
    pub assessment: String,
    pub due_date: Option<String>,
    pub received_on: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Optimistic-lock counter: 1 at intake, +1 on every update.
    pub row_version: i64,
}

/// A numbered notice (受理通知书, 一次性告知书, …).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = schema::notices)]
#[diesel(treat_none_as_default_value = false)]
pub struct NoticeRow {
    pub id: String,
    pub case_id: String,
    pub kind: String,
    pub center_id: String,
    pub year: i32,
    /// Position in the series (center_id, kind, year), from 1, without gaps.
    pub seq: i64,
    /// `{number_prefix}{seq:04}号`, unique.
    pub number: String,
    pub issued_on: String,
    /// JSON.
    pub content: String,
    pub created_at: i64,
}

/// One entry of the append-only audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = schema::case_events)]
pub struct EventRow {
    pub id: i64,
    pub case_id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub catalog_hash: String,
    /// JSON.
    pub detail: String,
    /// The hash of the case's previous entry, or `audit::GENESIS` (None: from before the chain).
    pub prev_hash: Option<String>,
    /// SHA-256 chaining this entry, see `audit::entry_hash`.
    pub hash: Option<String>,
}

/// A notice to number and store with a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotice {
    pub id: String,
    pub kind: NoticeKind,
    pub center_id: String,
    pub year: i32,
    /// e.g. "白水镇政务〔2026〕受字第"; the number is `{prefix}{seq:04}号`.
    pub number_prefix: String,
    pub issued_on: String,
    /// JSON.
    pub content: String,
    /// The series the result it names is numbered from (证照编号); the store writes the number
    /// into `content` and into the decided event of the same matter.
    pub result_series: Option<crate::domain::notice::ResultSeries>,
}

/// One read of a case's personal data, to log (`personal_data_reads`).
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = schema::personal_data_reads)]
pub struct NewRead {
    pub at: i64,
    pub user_id: String,
    /// The reader's role (`clerk`, `supervisor`, …) at the time.
    pub role: String,
    pub case_id: String,
    /// The route pattern, e.g. `GET /api/v1/cases/{id}`.
    pub endpoint: String,
}

/// The audit entry written with a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub actor: String,
    pub action: EventKind,
    pub catalog_hash: String,
    /// JSON.
    pub detail: String,
    /// Set by the store when it has keys: the detail (reasons, opinions, receivers, comments)
    /// is sealed as it is written, inside the write, after the store wrote its result number
    /// into it. The audit chain covers the stored (sealed) detail.
    pub seal: Option<EventSeal>,
}

/// The keys an event's detail is sealed with (see [`NewEvent::seal`]).
#[derive(Clone)]
pub struct EventSeal(pub(crate) Arc<crypto::Keyring>);

impl PartialEq for EventSeal {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for EventSeal {}

impl std::fmt::Debug for EventSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSeal")
    }
}

/// The Idempotency-Key of a write: a retry under the same key by the same user answers with
/// what the first request committed; the same key for another request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    pub user_id: String,
    pub key: String,
    /// SHA-256 of what was asked (for a change: its path and body).
    pub request_hash: String,
}

/// Everything an intake commits at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIntake {
    /// Stored with `row_version` 1 whatever the caller put there.
    pub case: CaseRow,
    pub notices: Vec<NewNotice>,
    /// The intake's audit entry first, then those of matters decided at once.
    pub events: Vec<NewEvent>,
    pub idempotency: Option<RequestKey>,
    /// The case's parts, steps and due items (see `domain::handling::open`).
    pub lifecycle: Option<Box<LifecycleWrite>>,
}

/// What a committed intake or update returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeReceipt {
    pub case: CaseRow,
    /// The notices numbered by this call; on a replay, all notices of the case.
    pub notices: Vec<NoticeRow>,
    /// True when an earlier request with the same idempotency key is returned.
    pub replayed: bool,
}

/// The database connection pool at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub idle: u32,
    pub in_use: u32,
    pub max: u32,
}

/// Pending due items, and those among them already past their time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueCounts {
    pub pending: i64,
    pub overdue: i64,
}

/// A re-assessment of an open case (补正).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseUpdate {
    pub case_id: String,
    pub expected_row_version: i64,
    pub status: String,
    pub outcome: String,
    pub application: String,
    pub assessment: String,
    pub due_date: Option<String>,
    pub notices: Vec<NewNotice>,
    /// The supplement's audit entry first, then those of what it opens.
    pub events: Vec<NewEvent>,
    pub now_ms: i64,
    /// Move the case to this catalog version (a change marked to apply to open cases).
    pub move_to_catalog: Option<String>,
    /// The parts, steps and due items the new answer opens.
    pub lifecycle: Option<Box<LifecycleWrite>>,
    pub idempotency: Option<RequestKey>,
}

/// Filters for [`Store::list_cases`]; `None` means "any". Newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// `None` = all centers; `Some(vec![])` = none.
    pub center_ids: Option<Vec<String>>,
    pub agent_id: Option<String>,
    pub status: Option<crate::domain::case::CaseStatus>,
    pub matter_code: Option<String>,
    pub window_id: Option<String>,
    pub applicant_id_number: Option<String>,
    /// Inclusive `YYYY-MM-DD`.
    pub received_from: Option<String>,
    /// Inclusive `YYYY-MM-DD`.
    pub received_to: Option<String>,
    /// Page size, clamped to `0..=MAX_PAGE`.
    pub limit: i64,
    pub offset: i64,
}

/// One page of cases and the number of all matching cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasePage {
    pub cases: Vec<CaseRow>,
    pub total: i64,
}

struct Inner {
    backend: Backend,
    pool: r2d2::Pool<DbManager>,
    /// Without group commit on SQLite, writers of this process queue here instead of in
    /// SQLite's busy handler, which polls with growing sleeps and, with dozens of writers,
    /// lets some of them time out ("database is locked") although the database is fine.
    /// Other processes on the same file still meet `busy_timeout`.
    sqlite_writers: std::sync::Mutex<()>,
    /// Tells the SQLite checkpoint thread to stop when the store is dropped.
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// The subscribers whose outbox deliveries new events create (shared with the writer).
    routes: outbox::SharedRoutes,
    keys: Option<Arc<crypto::Keyring>>,
    // Declared last: dropped after the pool, joins the writer thread.
    writer: Option<Writer>,
}

/// The store. Cheap to clone (one `Arc`), `Send + Sync`.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend)
            .field("group_commit", &self.inner.writer.is_some())
            .field("keys", &self.inner.keys)
            .finish()
    }
}

/// Applies the pending migrations of the database at `url` (creating a SQLite file if needed).
pub fn migrate(url: &str) -> Result<(), StoreError> {
    let target = Target::parse(url)?;
    let mut c = target.connect()?;
    conn::apply_pragmas(&mut c)?;
    conn::run_migrations(&mut c)
}

/// Checks the audit trail of the database at `url` (every case's hash chain and chain head, see
/// [`audit`]) in one read snapshot. Never creates or migrates the database: a missing SQLite
/// file is an error.
pub fn verify_audit(url: &str) -> Result<audit::AuditReport, StoreError> {
    verify_audit_with(url, &mut |_, _| {})
}

/// As [`verify_audit`], calling `progress(cases checked, cases in all)` as it goes.
pub fn verify_audit_with(
    url: &str,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<audit::AuditReport, StoreError> {
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
    audit::verify(&mut c, progress)
}

/// How often the checkpoint thread runs: small, frequent checkpoints keep each one short (measured
/// on this 2-core machine: every 50 ms gave the best p99 of the intervals tried, see BENCHMARKS.md).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// SQLite: copy the WAL back into the database file on a thread of its own (PASSIVE: it never
/// blocks the writer), so commits do not stall behind a checkpoint and the tail latency of
/// intakes stays low. The writer's own `wal_autocheckpoint` remains as a safety net.
fn start_checkpointer(mut conn: DbConnection, stop: Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::Ordering;
    let spawned = std::thread::Builder::new()
        .name("yichuang-checkpoint".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(e) = diesel::connection::SimpleConnection::batch_execute(
                    &mut conn,
                    "PRAGMA wal_checkpoint(PASSIVE);",
                ) {
                    tracing::debug!(error = %e, "WAL checkpoint skipped");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no checkpoint thread; SQLite checkpoints in the writer");
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Store {
    /// Opens (and for SQLite creates) the database, applies pending migrations, fills the pool
    /// and, with `group_commit`, starts the writer thread.
    pub fn open(url: &str, opts: StoreOptions) -> Result<Store, StoreError> {
        let target = Target::parse(url)?.with_timeouts(opts.connect_timeout);
        let backend = target.backend();
        let session = Session {
            statement_timeout_ms: opts.statement_timeout.map_or(0, |t| {
                u64::try_from(t.as_millis().max(1)).unwrap_or(u64::MAX)
            }),
            sqlite_max_pages: opts
                .sqlite_max_bytes
                .map_or(0, |b| b.div_ceil(SQLITE_PAGE_BYTES).max(1)),
        };

        // Migrate on a single connection first, so a fresh SQLite file gets WAL mode and the
        // schema before the pool opens more connections.
        let mut first = target.connect()?;
        conn::apply_pragmas(&mut first)?;
        conn::run_migrations(&mut first)?;
        session.apply(&mut first)?;

        let pool = r2d2::Pool::builder()
            .max_size(opts.pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(opts.connect_timeout)
            .connection_customizer(Box::new(session))
            .build(DbManager::new(target.clone()))
            .map_err(StoreError::from)?;

        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if backend == Backend::Sqlite {
            start_checkpointer(target.connect()?, stop.clone());
        }
        let routes = outbox::SharedRoutes::default();
        let writer = if opts.group_commit {
            Some(Writer::start(
                target,
                session,
                first,
                opts.write_timeout,
                routes.clone(),
                match backend {
                    Backend::Sqlite => 1,
                    Backend::Postgres => opts.pg_writers.max(1),
                },
            )?)
        } else {
            None
        };
        Ok(Store {
            inner: Arc::new(Inner {
                backend,
                pool,
                sqlite_writers: std::sync::Mutex::new(()),
                writer,
                stop,
                routes,
                keys: opts.keys.clone(),
            }),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<DbManager>, StoreError> {
        Ok(self.inner.pool.get()?)
    }

    /// Checks that a pooled connection answers a trivial query, waiting at most a second (or the
    /// connect timeout, if shorter) for one.
    pub fn ping(&self) -> Result<(), StoreError> {
        let wait = PING_TIMEOUT.min(self.inner.pool.connection_timeout());
        let mut c = self.inner.pool.get_timeout(wait)?;
        c.ping().map_err(StoreError::from)?;
        Ok(())
    }

    /// The connection pool now: idle and in-use connections, and its size (for `/metrics`).
    pub fn pool_state(&self) -> PoolState {
        let s = self.inner.pool.state();
        PoolState {
            idle: s.idle_connections,
            in_use: s.connections.saturating_sub(s.idle_connections),
            max: self.inner.pool.max_size(),
        }
    }

    /// Ids of cases whose deadlines a published calendar may date (see
    /// `app::handling::date_open_cases`), `limit` at a time after `after`; with `since`, only
    /// those with a deadline undated or dated on or after that day.
    pub fn cases_with_open_parts(
        &self,
        after: Option<&str>,
        limit: i64,
        since: Option<chrono::NaiveDate>,
    ) -> Result<Vec<String>, StoreError> {
        let since = since.map(mapping::day);
        handling::cases_with_open_parts(&mut *self.conn()?, after, limit, since.as_deref())
    }

    /// Due items waiting to fire, and those of them whose time has passed (for `/metrics`).
    pub fn due_counts(&self, now_ms: i64) -> Result<DueCounts, StoreError> {
        handling::due_counts(&mut *self.conn()?, now_ms)
    }

    /// Stores a catalog version under its content hash; an existing hash is left as it is.
    pub fn save_catalog_version(&self, v: &CatalogVersionRow) -> Result<(), StoreError> {
        let inserted = {
            let mut c = self.conn()?;
            diesel::insert_into(schema::catalog_versions::table)
                .values(v)
                .execute(&mut *c)
                .map_err(StoreError::from)
        };
        // (The connection is back in the pool before the lookup below takes one.)
        match inserted {
            Ok(_) => Ok(()),
            // Content-addressed: the same hash is the same content.
            Err(StoreError::Duplicate(_)) if self.catalog_version(&v.hash)?.is_some() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Cases received on or after `from`, in id order after `after_id` (keyset pagination, for
    /// reading a whole period without the cost of large offsets).
    pub fn cases_received_since(
        &self,
        from: &str,
        after_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<CaseRow>, StoreError> {
        let mut c = self.conn()?;
        let mut q = schema::cases::table
            .filter(schema::cases::received_on.ge(from))
            .into_boxed();
        if let Some(after) = after_id {
            q = q.filter(schema::cases::id.gt(after));
        }
        let rows = q
            .order(schema::cases::id.asc())
            .limit(limit.clamp(1, MAX_PAGE))
            .select(CaseRow::as_select())
            .load(&mut *c)?;
        rows.into_iter().map(|r| self.open_case(r)).collect()
    }

    /// Make a stored catalog version the active one for every instance on this database.
    pub fn record_activation(
        &self,
        hash: &str,
        by: &str,
        at_ms: i64,
    ) -> Result<ActivationRow, StoreError> {
        use schema::catalog_activations::dsl as a;
        let mut c = self.conn()?;
        diesel::insert_into(a::catalog_activations)
            .values((
                a::hash.eq(hash),
                a::activated_at.eq(at_ms),
                a::activated_by.eq(by),
            ))
            .execute(&mut *c)?;
        Ok(a::catalog_activations
            .order(a::id.desc())
            .select(ActivationRow::as_select())
            .first(&mut *c)?)
    }

    /// The fingerprint of the calendar every open case was last dated on, if recorded.
    pub fn dated_calendar(&self) -> Result<Option<String>, StoreError> {
        use schema::calendar_dating::dsl as d;
        let mut c = self.conn()?;
        Ok(d::calendar_dating
            .find(1i64)
            .select(d::fingerprint)
            .get_result(&mut *c)
            .optional()?)
    }

    /// Records that every open case has been dated on the calendar with `fingerprint`.
    pub fn record_dated_calendar(&self, fingerprint: &str, at_ms: i64) -> Result<(), StoreError> {
        use schema::calendar_dating::dsl as d;
        let mut c = self.conn()?;
        let row = (
            d::id.eq(1i64),
            d::fingerprint.eq(fingerprint),
            d::dated_at.eq(at_ms),
        );
        let set = (d::fingerprint.eq(fingerprint), d::dated_at.eq(at_ms));
        // An upsert is built per backend (`MultiConnection` has no ON CONFLICT).
        match &mut *c {
            DbConnection::Pg(c) => diesel::insert_into(d::calendar_dating)
                .values(row)
                .on_conflict(d::id)
                .do_update()
                .set(set)
                .execute(c)?,
            DbConnection::Sqlite(c) => diesel::insert_into(d::calendar_dating)
                .values(row)
                .on_conflict(d::id)
                .do_update()
                .set(set)
                .execute(c)?,
        };
        Ok(())
    }

    /// The latest activation, if any catalog was ever published to this database.
    pub fn active_catalog(&self) -> Result<Option<ActivationRow>, StoreError> {
        use schema::catalog_activations::dsl as a;
        let mut c = self.conn()?;
        Ok(a::catalog_activations
            .order(a::id.desc())
            .select(ActivationRow::as_select())
            .first(&mut *c)
            .optional()?)
    }

    /// Every activation, newest first.
    pub fn activations(&self) -> Result<Vec<ActivationRow>, StoreError> {
        use schema::catalog_activations::dsl as a;
        let mut c = self.conn()?;
        Ok(a::catalog_activations
            .order(a::id.desc())
            .select(ActivationRow::as_select())
            .load(&mut *c)?)
    }

    /// Every stored version (without its files), oldest first.
    pub fn catalog_versions(&self) -> Result<Vec<(String, String, String, i64)>, StoreError> {
        use schema::catalog_versions::dsl as v;
        let mut c = self.conn()?;
        Ok(v::catalog_versions
            .order(v::created_at.asc())
            .select((v::hash, v::version, v::name, v::created_at))
            .load(&mut *c)?)
    }

    pub fn catalog_version(&self, hash: &str) -> Result<Option<CatalogVersionRow>, StoreError> {
        let mut c = self.conn()?;
        Ok(schema::catalog_versions::table
            .find(hash)
            .select(CatalogVersionRow::as_select())
            .first(&mut *c)
            .optional()?)
    }

    fn write(&self, job: Job) -> Result<ops::Done, StoreError> {
        match &self.inner.writer {
            Some(w) => w.submit(job),
            None => {
                let mut c = self.conn()?;
                let _turn = match self.inner.backend {
                    // A poisoned lock only means another writer panicked; the database
                    // rolled its transaction back, so carrying on is safe.
                    Backend::Sqlite => Some(
                        self.inner
                            .sqlite_writers
                            .lock()
                            .unwrap_or_else(|p| p.into_inner()),
                    ),
                    Backend::Postgres => None,
                };
                let started = std::time::Instant::now();
                let routes = outbox::current(&self.inner.routes);
                let done = ops::run_job(&mut c, &job, true, &routes);
                crate::metrics::commit(1, started.elapsed());
                done
            }
        }
    }

    /// A write that answers with a receipt, its personal data opened again.
    fn write_case(&self, job: Job) -> Result<IntakeReceipt, StoreError> {
        match self.write(job)? {
            ops::Done::Receipt(r) => self.open_receipt(*r),
            ops::Done::Logged => Err(StoreError::Query(
                "the store answered a case write with a read-log count".into(),
            )),
        }
    }

    /// Commits a new case with its numbered notices, its audit event and its idempotency key
    /// in one transaction. A known key with the same request hash returns the stored case
    /// (`replayed: true`); with another hash, `IdempotencyMismatch`.
    pub fn commit_intake(&self, mut intake: NewIntake) -> Result<IntakeReceipt, StoreError> {
        let id_hash = self.seal_case(&mut intake.case)?;
        self.seal_notices(&intake.case.id, &mut intake.notices)?;
        self.seal_free_text(intake.lifecycle.as_deref_mut(), &mut intake.events)?;
        self.write_case(Job::Intake(Box::new(intake), id_hash))
    }

    /// Re-assesses an open case if it is still at `expected_row_version` (else `Stale`):
    /// updates it, numbers and stores the new notices and the event, in one transaction.
    pub fn update_case(&self, mut update: CaseUpdate) -> Result<IntakeReceipt, StoreError> {
        update.application = self.seal_application(&update.case_id, &update.application)?;
        self.seal_notices(&update.case_id, &mut update.notices)?;
        self.seal_free_text(update.lifecycle.as_deref_mut(), &mut update.events)?;
        self.write_case(Job::Update(Box::new(update)))
    }

    pub fn case(&self, id: &str) -> Result<Option<CaseRow>, StoreError> {
        let row = ops::load_case(&mut *self.conn()?, id)?;
        row.map(|r| self.open_case(r)).transpose()
    }

    /// A page of cases. A search by ID number looks for its keyed hash (and, for cases not yet
    /// encrypted, the number itself).
    pub fn list_cases(&self, f: &CaseFilter) -> Result<CasePage, StoreError> {
        let id_hash = f
            .applicant_id_number
            .as_deref()
            .and_then(|n| self.id_hash(n));
        let page = ops::list_cases(&mut *self.conn()?, f, id_hash.as_deref())?;
        Ok(CasePage {
            cases: page
                .cases
                .into_iter()
                .map(|r| self.open_case(r))
                .collect::<Result<_, _>>()?,
            total: page.total,
        })
    }

    pub fn notices_of_case(&self, case_id: &str) -> Result<Vec<NoticeRow>, StoreError> {
        let rows = ops::load_notices(&mut *self.conn()?, case_id)?;
        rows.into_iter().map(|n| self.open_notice(n)).collect()
    }

    pub fn notice(&self, id: &str) -> Result<Option<NoticeRow>, StoreError> {
        let row = ops::load_notice(&mut *self.conn()?, id)?;
        row.map(|n| self.open_notice(n)).transpose()
    }

    /// Commits one change to a case after its first answer (see [`CaseChange`]).
    pub fn commit_change(&self, mut change: CaseChange) -> Result<IntakeReceipt, StoreError> {
        if let Some(a) = &change.application {
            change.application = Some(self.seal_application(&change.case_id, a)?);
        }
        self.seal_notices(&change.case_id, &mut change.notices)?;
        self.seal_free_text(Some(&mut change.lifecycle), &mut change.events)?;
        self.write_case(Job::Change(Box::new(change)))
    }

    /// What the write under Idempotency-Key `k` committed, if one did (see `ops::replay`).
    pub fn replay(&self, k: &RequestKey) -> Result<Option<IntakeReceipt>, StoreError> {
        let found = ops::replay(&mut *self.conn()?, k)?;
        found.map(|r| self.open_receipt(r)).transpose()
    }

    /// The parts, steps (returned, transferred and superseded ones included, in order) and
    /// ratings of a case.
    pub fn handling(&self, case_id: &str) -> Result<Handling, StoreError> {
        handling::load_handling(&mut *self.conn()?, case_id, self.keys())
    }

    /// The pending due items of a case.
    pub fn due_items_of_case(&self, case_id: &str) -> Result<Vec<StoredDueItem>, StoreError> {
        handling::load_due(&mut *self.conn()?, case_id)
    }

    /// Active steps waiting for any of `units`, earliest due first, with their case ids.
    pub fn inbox(&self, units: &[String], limit: i64) -> Result<Vec<(String, Step)>, StoreError> {
        handling::inbox(
            &mut *self.conn()?,
            units,
            limit.clamp(1, MAX_PAGE),
            self.keys(),
        )
    }

    /// Leases up to `limit` due items whose time has come to `owner` for `lease_ms`.
    pub fn claim_due(
        &self,
        now_ms: i64,
        owner: &str,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<StoredDueItem>, StoreError> {
        let mut c = self.conn()?;
        tx::write_tx(&mut c, |c| {
            handling::claim_due(c, now_ms, owner, lease_ms, limit)
        })
    }

    /// Supervision counts of cases accepted in `from..=to`, optionally of one center.
    pub fn figures(
        &self,
        key: FigureKey,
        from: &str,
        to: &str,
        center: Option<&str>,
        today: &str,
    ) -> Result<Vec<FigureCounts>, StoreError> {
        figures::figures(&mut *self.conn()?, key, from, to, center, today)
    }

    /// What happened at intake to the applications received in `from..=to`, grouped by `key`.
    pub fn intake_figures(
        &self,
        key: FigureKey,
        from: &str,
        to: &str,
        center: Option<&str>,
    ) -> Result<Vec<IntakeCounts>, StoreError> {
        figures::intake_figures(&mut *self.conn()?, key, from, to, center)
    }

    /// Cases in progress that are yellow or red on `today`.
    pub fn case_alerts(
        &self,
        today: &str,
        center: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PartOfCase>, StoreError> {
        figures::case_alerts(
            &mut *self.conn()?,
            today,
            center,
            limit.clamp(1, MAX_PAGE),
            self.keys(),
        )
    }

    /// Active steps that are yellow or red on `today`.
    pub fn step_alerts(
        &self,
        today: &str,
        center: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(String, Step)>, StoreError> {
        figures::step_alerts(
            &mut *self.conn()?,
            today,
            center,
            limit.clamp(1, MAX_PAGE),
            self.keys(),
        )
    }

    /// 差评 follow-ups not yet closed.
    pub fn open_followups(
        &self,
        center: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RatingOfCase>, StoreError> {
        figures::open_followups(
            &mut *self.conn()?,
            center,
            limit.clamp(1, MAX_PAGE),
            self.keys(),
        )
    }

    /// Decided cases not delivered within the Art. 44 limit.
    pub fn undelivered(
        &self,
        today: &str,
        center: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PartOfCase>, StoreError> {
        figures::undelivered(
            &mut *self.conn()?,
            today,
            center,
            limit.clamp(1, MAX_PAGE),
            self.keys(),
        )
    }

    /// The audit trail of a case, details opened.
    pub fn events_of_case(&self, case_id: &str) -> Result<Vec<EventRow>, StoreError> {
        let rows = ops::load_events(&mut *self.conn()?, case_id)?;
        rows.into_iter().map(|e| self.open_event(e)).collect()
    }
}
