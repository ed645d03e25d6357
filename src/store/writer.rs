//! Group commit: a writer thread owns one connection, takes everything pending and commits it
//! in ONE transaction, each request inside its own savepoint, and answers every caller only
//! after COMMIT returned. With `synchronous=FULL` the fsync per commit is the bottleneck; sharing
//! it between up to `MAX_BATCH` requests is what turns ~4,000 commits/s into many more intakes/s.
//!
//! SQLite has one writer (the database takes one write transaction at a time). PostgreSQL can
//! have several, taking batches from the same queue: while one waits for its COMMIT, the next
//! gathers and writes the following batch. They are two sessions like two service instances
//! would be, and what keeps those correct keeps these (row locks on counters and case rows,
//! retried conflicts).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::r2d2::R2D2Connection;

use super::conn::{DbConnection, Session, Target};
use super::ops::{apply_all, run_job, Done, Job};
use super::outbox::SharedRoutes;
use super::tx::write_tx;
use super::StoreError;

/// Most requests committed in one transaction.
pub const MAX_BATCH: usize = 256;

type Reply = Result<Done, StoreError>;

/// Where a request stands between its caller and the writer. A caller gives up when the writer
/// has been stuck on the database for the write timeout; the writer runs only requests it could
/// move from `PENDING` to `TAKEN`, so a request whose caller has already been told "not saved" is
/// never committed afterwards.
const PENDING: u8 = 0;
const TAKEN: u8 = 1;
const ABANDONED: u8 = 2;

struct Request {
    job: Job,
    reply: Sender<Reply>,
    state: Arc<Claim>,
}

/// A request's state, and which writer took it (valid once `TAKEN`).
struct Claim {
    state: AtomicU8,
    writer: AtomicUsize,
}

/// The writer's last sign of life while it works: when it started a batch or finished a request
/// in it, in milliseconds after `epoch` plus one; 0 while it waits for work. A batch that keeps
/// finishing requests is slow, not stuck.
struct Progress {
    epoch: Instant,
    last: AtomicU64,
}

impl Progress {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    fn tick(&self) {
        self.last.store(self.now(), Ordering::Release);
    }

    fn idle(&self) {
        self.last.store(0, Ordering::Release);
    }

    /// How long the writer has been working without finishing anything (zero when idle).
    fn stuck_for(&self) -> Duration {
        match self.last.load(Ordering::Acquire) {
            0 => Duration::ZERO,
            since => Duration::from_millis(self.now().saturating_sub(since)),
        }
    }
}

pub(crate) struct Writer {
    tx: Option<Sender<Request>>,
    handles: Vec<JoinHandle<()>>,
    timeout: Duration,
    /// One per writer thread.
    progress: Arc<[Progress]>,
}

impl Writer {
    /// Starts `threads` writer threads (at least one; the first on the already opened and
    /// configured connection, the others connect when they first write). Callers give up once
    /// the writer holding their request has been stuck on one batch for `timeout`.
    pub(crate) fn start(
        target: Target,
        session: Session,
        conn: DbConnection,
        timeout: Duration,
        routes: SharedRoutes,
        threads: usize,
    ) -> Result<Writer, StoreError> {
        let (tx, rx) = mpsc::channel::<Request>();
        let rx = Arc::new(Mutex::new(rx));
        let epoch = Instant::now();
        let progress: Arc<[Progress]> = (0..threads.max(1))
            .map(|_| Progress {
                epoch,
                last: AtomicU64::new(0),
            })
            .collect();
        let mut first = Some(conn);
        let mut handles = Vec::with_capacity(progress.len());
        for n in 0..progress.len() {
            let (rx, p, routes) = (rx.clone(), progress.clone(), routes.clone());
            let (target, conn) = (target.clone(), first.take());
            let handle = std::thread::Builder::new()
                .name(format!("yichuang-store-writer-{n}"))
                .spawn(move || {
                    let me = WriterThread { n, progress: &p[n] };
                    writer_loop(&rx, target, session, conn, &me, &routes)
                })
                .map_err(|e| {
                    StoreError::Unavailable(format!("cannot start a writer thread: {e}"))
                })?;
            handles.push(handle);
        }
        Ok(Writer {
            tx: Some(tx),
            handles,
            timeout,
            progress,
        })
    }

    /// How long the request has been held up: by the writer that took it, or, while it waits
    /// in the queue, by the writer stuck longest (a writer stuck while writing holds the queue,
    /// so the others cannot take the request either; a request given up while still queued is
    /// never written).
    fn stuck_for(&self, claim: &Claim) -> Duration {
        if claim.state.load(Ordering::Acquire) == TAKEN {
            let n = claim.writer.load(Ordering::Acquire);
            return self
                .progress
                .get(n)
                .map_or(Duration::ZERO, Progress::stuck_for);
        }
        self.progress
            .iter()
            .map(Progress::stuck_for)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// Hands the job to the writer and blocks until its transaction committed or failed — or
    /// until it has waited the write timeout and the writer has been stuck on the database all
    /// that time (`Unavailable`: the database hangs or is locked). A writer that keeps committing is waited for, however long
    /// the queue: a busy database is not a broken one (the HTTP request limit still applies).
    pub(crate) fn submit(&self, job: Job) -> Reply {
        let (reply, answer) = mpsc::channel();
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("the store is shutting down".into()))?;
        let state = Arc::new(Claim {
            state: AtomicU8::new(PENDING),
            writer: AtomicUsize::new(0),
        });
        tx.send(Request {
            job,
            reply,
            state: state.clone(),
        })
        .map_err(|_| StoreError::Unavailable("the store writer thread has stopped".into()))?;
        let tick = (self.timeout / 4).max(Duration::from_millis(5));
        let started = Instant::now();
        loop {
            match answer.recv_timeout(tick) {
                Ok(r) => return r,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(StoreError::Unavailable(
                        "the store writer thread stopped before answering".into(),
                    ))
                }
                // Waited the whole timeout, and all that time the writer finished nothing.
                Err(RecvTimeoutError::Timeout)
                    if started.elapsed() >= self.timeout
                        && self.stuck_for(&state) >= self.timeout =>
                {
                    return Err(self.give_up(&state))
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    fn give_up(&self, claim: &Claim) -> StoreError {
        let ms = self.timeout.as_millis();
        if claim
            .state
            .compare_exchange(PENDING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            StoreError::Unavailable(format!(
                "the database has not answered the writer for {ms} ms; the write was not saved"
            ))
        } else {
            // Its transaction is running: it may still commit. A retry with the same
            // idempotency key returns the case if it did.
            StoreError::Unavailable(format!(
                "the database has not answered the writer for {ms} ms; the write may still be committed"
            ))
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the loop once the pending requests are done.
        self.tx.take();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Idle time after which the writer pings its connection before using it.
const IDLE_PING: Duration = Duration::from_secs(1);

/// Who a writer thread is: its number and its sign of life.
struct WriterThread<'a> {
    n: usize,
    progress: &'a Progress,
}

/// Takes the next batch: waits for one request, then takes what else is queued (up to
/// `MAX_BATCH`). `None` once the store is closed. The queue stays held (the guard returned)
/// until the batch's statements are written: with several writers, the next one then takes
/// everything that arrived meanwhile and writes it while this one waits for its COMMIT, instead
/// of the writers splitting the queue into small batches.
fn next_batch(rx: &Mutex<Receiver<Request>>) -> Option<(Queue<'_>, Vec<Request>)> {
    let rx = rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let first = rx.recv().ok()?;
    let mut batch = Vec::with_capacity(16);
    batch.push(first);
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(r) => batch.push(r),
            Err(_) => break,
        }
    }
    Some((rx, batch))
}

/// The write queue, held by the writer that is gathering or writing a batch.
type Queue<'a> = std::sync::MutexGuard<'a, Receiver<Request>>;

/// A writer's connection: the one it holds (if any), how to make a new one, and since when it
/// has been idle.
struct Link {
    target: Target,
    session: Session,
    conn: Option<DbConnection>,
    idle_since: Instant,
}

fn writer_loop(
    rx: &Mutex<Receiver<Request>>,
    target: Target,
    session: Session,
    conn: Option<DbConnection>,
    me: &WriterThread<'_>,
    routes: &SharedRoutes,
) {
    let progress = me.progress;
    let mut link = Link {
        target,
        session,
        conn,
        idle_since: Instant::now(),
    };
    while let Some((queue, mut batch)) = next_batch(rx) {
        let queue = std::cell::Cell::new(Some(queue));
        let release = || drop(queue.take());
        // Requests whose callers gave up are dropped unrun.
        batch.retain(|r| {
            r.state.writer.store(me.n, Ordering::Release);
            r.state
                .state
                .compare_exchange(PENDING, TAKEN, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        });
        if batch.is_empty() {
            continue;
        }
        // The thread must outlive anything a batch does: a panic fails that batch (the
        // connection, in an unknown state, is dropped) and the writer goes on.
        progress.tick();
        let started = Instant::now();
        let routes = super::outbox::current(routes);
        let ran = catch_unwind(AssertUnwindSafe(|| {
            run_batch(&mut link, &batch, progress, &routes, &release)
        }));
        release();
        progress.idle();
        crate::metrics::commit(batch.len(), started.elapsed());
        let replies = match ran {
            Ok(replies) => replies,
            Err(_) => {
                link.conn = None;
                tracing::error!("the store writer caught a panic; the batch was not committed");
                let e = StoreError::Unavailable("internal error in the store writer".into());
                batch.iter().map(|_| Err(e.clone())).collect()
            }
        };
        for (r, res) in batch.into_iter().zip(replies) {
            let _ = r.reply.send(res);
        }
    }
}

/// Commits one batch on the writer's connection (reconnecting first if it has none) and returns
/// one reply per request.
fn run_batch(
    link: &mut Link,
    batch: &[Request],
    progress: &Progress,
    routes: &[super::outbox::OutboxRoute],
    release: &dyn Fn(),
) -> Vec<Reply> {
    let fail_all = |e: &StoreError| batch.iter().map(|_| Err(e.clone())).collect();
    // A PostgreSQL connection that sat idle may have been closed by a server restart or
    // failover: check it before the batch rather than failing the batch.
    if link.idle_since.elapsed() >= IDLE_PING {
        if let Some(DbConnection::Pg(_)) = link.conn {
            if link.conn.as_mut().is_some_and(|c| c.ping().is_err()) {
                link.conn = None;
            }
        }
    }
    let c = match link.conn.take() {
        Some(c) => Ok(c),
        None => link.target.connect().and_then(|mut c| {
            link.session.apply(&mut c)?;
            Ok(c)
        }),
    };
    let mut c = match c {
        Ok(c) => c,
        Err(e) => return fail_all(&as_unavailable(e)),
    };
    let outcome = commit_batch(&mut c, batch, progress, routes, release);
    link.idle_since = Instant::now();
    match outcome {
        Ok(results) => {
            link.conn = Some(c);
            results
        }
        Err(e) => {
            // The batch is rolled back. (One exception no database avoids: a PostgreSQL
            // connection lost during COMMIT leaves the outcome unknown; the caller sees
            // `Unavailable` and a retry with the same idempotency key returns the case if
            // it did commit.) After an outage start over with a fresh connection.
            if !e.is_unavailable() && !c.is_broken() {
                link.conn = Some(c);
            }
            fail_all(&e)
        }
    }
}

fn as_unavailable(e: StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m),
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// One transaction for the whole batch. First optimistically without savepoints (nearly every
/// batch commits as it is, and two statements fewer per request matter at thousands of intakes a
/// second); if any request fails, that attempt is rolled back whole and the batch is redone with
/// one savepoint per request, so a request that fails rolls back alone and gets its own error. An
/// outage (disk full, I/O error, lost connection) fails the whole batch, because nothing of it can
/// be committed.
fn commit_batch(
    conn: &mut DbConnection,
    batch: &[Request],
    progress: &Progress,
    routes: &[super::outbox::OutboxRoute],
    release: &dyn Fn(),
) -> Result<Vec<Reply>, StoreError> {
    if batch.len() > 1 {
        let jobs: Vec<&Job> = batch.iter().map(|r| &r.job).collect();
        let optimistic = write_tx(conn, |c| {
            let done = apply_all(c, &jobs, routes, &|| progress.tick())?;
            // Written: the next writer may gather while this one commits.
            release();
            Ok(done.into_iter().map(Ok).collect::<Vec<Reply>>())
        });
        match optimistic {
            Ok(out) => return Ok(out),
            Err(e) if e.is_unavailable() => return Err(e),
            Err(_) => {}
        }
    }
    write_tx(conn, |c| {
        let mut out = Vec::with_capacity(batch.len());
        for r in batch {
            let res = run_job(c, &r.job, false, routes);
            progress.tick();
            if let Err(e) = &res {
                if e.is_unavailable() {
                    return Err(e.clone());
                }
            }
            out.push(res);
        }
        release();
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conn::{apply_pragmas, run_migrations};
    use crate::store::CaseUpdate;

    fn update_of_a_missing_case() -> Job {
        Job::Update(Box::new(CaseUpdate {
            case_id: "no-such-case".into(),
            expected_row_version: 1,
            status: "accepted".into(),
            outcome: "accept".into(),
            application: "{}".into(),
            assessment: "{}".into(),
            due_date: None,
            notices: vec![],
            events: vec![crate::store::NewEvent {
                seal: None,
                actor: "t".into(),
                action: crate::domain::handling::EventKind::Supplement,
                catalog_hash: "h".into(),
                detail: "{}".into(),
            }],
            now_ms: 0,
            move_to_catalog: None,
            lifecycle: None,
            idempotency: None,
        }))
    }

    #[test]
    fn a_panicking_job_fails_its_batch_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let target = Target::parse(&format!("sqlite://{}/w.db", dir.path().display())).unwrap();
        let mut c = target.connect().unwrap();
        apply_pragmas(&mut c).unwrap();
        run_migrations(&mut c).unwrap();
        let w = Writer::start(
            target,
            Session::default(),
            c,
            Duration::from_secs(60),
            SharedRoutes::default(),
            1,
        )
        .unwrap();
        let e = w.submit(Job::Panic).unwrap_err();
        assert!(e.is_unavailable(), "{e:?}");
        assert!(e.to_string().contains("internal error"), "{e}");
        // Still running, on a fresh connection: the next job gets the database's answer.
        for _ in 0..2 {
            let e = w.submit(update_of_a_missing_case()).unwrap_err();
            assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
        }
    }
}
