//! Transactions on both backends: a top-level write transaction (SQLite: `BEGIN IMMEDIATE`), a
//! savepoint inside one, and the commit-or-rollback that keeps an outage's error.

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;

use super::conn::DbConnection;
use super::StoreError;

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
pub(crate) fn savepoint<T>(
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
