//! Group commit: one writer thread owns one connection, takes everything pending and commits it
//! in ONE transaction, each request inside its own savepoint, and answers every caller only
//! after COMMIT returned. With `synchronous=FULL` the fsync per commit is the bottleneck; sharing
//! it between up to `MAX_BATCH` requests is what turns ~4,000 commits/s into many more intakes/s.

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::r2d2::R2D2Connection;

use super::conn::{apply_pragmas, DbConnection, Target};
use super::ops::{run_job, write_tx, Job};
use super::{IntakeReceipt, StoreError};

/// Most requests committed in one transaction.
pub const MAX_BATCH: usize = 256;

type Reply = Result<IntakeReceipt, StoreError>;

struct Request {
    job: Job,
    reply: Sender<Reply>,
}

pub(crate) struct Writer {
    tx: Option<Sender<Request>>,
    handle: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread on an already opened (and PRAGMA-configured) connection.
    pub(crate) fn start(target: Target, conn: DbConnection) -> Result<Writer, StoreError> {
        let (tx, rx) = mpsc::channel::<Request>();
        let handle = std::thread::Builder::new()
            .name("yichuang-store-writer".into())
            .spawn(move || writer_loop(rx, target, Some(conn)))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Hands the job to the writer and blocks until its transaction committed (or failed).
    pub(crate) fn submit(&self, job: Job) -> Reply {
        let (reply, answer) = mpsc::channel();
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("the store is shutting down".into()))?;
        tx.send(Request { job, reply })
            .map_err(|_| StoreError::Unavailable("the store writer thread has stopped".into()))?;
        answer.recv().map_err(|_| {
            StoreError::Unavailable("the store writer thread stopped before answering".into())
        })?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the loop once the pending requests are done.
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Idle time after which the writer pings its connection before using it.
const IDLE_PING: Duration = Duration::from_secs(1);

fn writer_loop(rx: Receiver<Request>, target: Target, mut conn: Option<DbConnection>) {
    let mut idle_since = Instant::now();
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }

        // A PostgreSQL connection that sat idle may have been closed by a server restart or
        // failover: check it before the batch rather than failing the batch.
        if idle_since.elapsed() >= IDLE_PING {
            if let Some(DbConnection::Pg(_)) = &conn {
                if conn.as_mut().is_some_and(|c| c.ping().is_err()) {
                    conn = None;
                }
            }
        }
        let c = match conn.take() {
            Some(c) => Ok(c),
            None => target.connect().and_then(|mut c| {
                apply_pragmas(&mut c)?;
                Ok(c)
            }),
        };
        let mut c = match c {
            Ok(c) => c,
            Err(e) => {
                let e = as_unavailable(e);
                for r in batch {
                    let _ = r.reply.send(Err(e.clone()));
                }
                continue;
            }
        };

        let outcome = commit_batch(&mut c, &batch);
        idle_since = Instant::now();
        match outcome {
            Ok(results) => {
                conn = Some(c);
                for (r, res) in batch.into_iter().zip(results) {
                    let _ = r.reply.send(res);
                }
            }
            Err(e) => {
                // The batch is rolled back. (One exception no database avoids: a PostgreSQL
                // connection lost during COMMIT leaves the outcome unknown; the caller sees
                // `Unavailable` and a retry with the same idempotency key returns the case if
                // it did commit.) After an outage start over with a fresh connection.
                if !e.is_unavailable() && !c.is_broken() {
                    conn = Some(c);
                }
                for r in batch {
                    let _ = r.reply.send(Err(e.clone()));
                }
            }
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
fn commit_batch(conn: &mut DbConnection, batch: &[Request]) -> Result<Vec<Reply>, StoreError> {
    if batch.len() > 1 {
        let optimistic = write_tx(conn, |c| {
            batch
                .iter()
                .map(|r| r.job.apply(c).map(Ok))
                .collect::<Result<Vec<Reply>, StoreError>>()
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
            let res = run_job(c, &r.job, false);
            if let Err(e) = &res {
                if e.is_unavailable() {
                    return Err(e.clone());
                }
            }
            out.push(res);
        }
        Ok(out)
    })
}
