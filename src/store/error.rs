//! The store layer's one error type and the mapping from diesel / r2d2 errors.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Everything the store can fail with. `Unavailable` means "the database cannot take the request
/// right now" (down, locked past the busy timeout, disk full, read-only, pool exhausted): callers
/// answer 503 and may retry; every other variant is about the request itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The URL or the connection settings are wrong (not a transient outage).
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// The connection pool could not be built.
    #[error("connection pool error: {0}")]
    Pool(String),
    /// A query failed for a reason that is neither a conflict nor an outage.
    #[error("query failed: {0}")]
    Query(String),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The named row does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The case changed since it was read: its `row_version` is not the one the write expected
    /// (read it again and decide again).
    #[error("the case changed meanwhile: {0}")]
    Stale(String),
    /// A row with the same key exists already (a uniqueness rule).
    #[error("already exists: {0}")]
    Duplicate(String),
    /// A row the write refers to does not exist (a foreign key).
    #[error("refers to a missing row: {0}")]
    MissingReference(String),
    /// The due item was carried out or cancelled by another instance first.
    #[error("due item {0} was already carried out or cancelled")]
    DueItemTaken(i64),
    /// The idempotency key was used before with a different request body.
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    /// A stored value cannot be read back into its type (a state, a date, a JSON document).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// Personal data stored encrypted cannot be opened: no key, a key missing from the key
    /// ring, or a value altered or moved from another row (see `crypto`).
    #[error("personal data cannot be decrypted: {0}")]
    Decrypt(String),
    /// The database is down, timed out, full or read-only; the request was not committed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// True when the failure is an outage rather than a problem with the request (HTTP 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// A transient lock conflict between concurrent transactions (PostgreSQL deadlock or
    /// serialization failure) that is worth retrying.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            StoreError::Query(m) | StoreError::Unavailable(m) => {
                m.contains("deadlock detected") || m.contains("could not serialize")
            }
            _ => false,
        }
    }
}

/// Messages (SQLite `sqlite3_errmsg`, libpq) that mean the database cannot take writes or
/// cannot be reached, as opposed to a problem with the statement.
const UNAVAILABLE_MARKERS: &[&str] = &[
    "database is locked",
    "database table is locked",
    "disk I/O error",
    "database or disk is full",
    "attempt to write a readonly database",
    "unable to open database file",
    "readonly database",
    "connection refused",
    "Connection refused",
    "server closed the connection",
    "terminating connection",
    "could not connect",
    "no connection to the server",
    "the database system is",
    "could not extend file",
    "No space left on device",
    // statement_timeout, lock_timeout, an administrator's pg_cancel_backend: rolled back.
    "canceling statement due to",
    "could not receive data from server",
    "could not send data to server",
    "timeout expired",
    "Connection timed out",
    "Broken pipe",
];

pub(crate) fn looks_unavailable(msg: &str) -> bool {
    UNAVAILABLE_MARKERS.iter().any(|m| msg.contains(m))
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => StoreError::NotFound("row".into()),
            DieselError::DatabaseError(kind, info) => {
                let msg = match info.details() {
                    Some(d) => format!("{} ({d})", info.message()),
                    None => info.message().to_string(),
                };
                match kind {
                    DatabaseErrorKind::UniqueViolation => StoreError::Duplicate(msg),
                    DatabaseErrorKind::ForeignKeyViolation => StoreError::MissingReference(msg),
                    DatabaseErrorKind::ClosedConnection
                    | DatabaseErrorKind::UnableToSendCommand
                    | DatabaseErrorKind::ReadOnlyTransaction => StoreError::Unavailable(msg),
                    _ if looks_unavailable(&msg) => StoreError::Unavailable(msg),
                    _ => StoreError::Query(msg),
                }
            }
            DieselError::BrokenTransactionManager => {
                StoreError::Unavailable("the connection's transaction state is broken".into())
            }
            other => {
                let msg = other.to_string();
                if looks_unavailable(&msg) {
                    StoreError::Unavailable(msg)
                } else {
                    StoreError::Query(msg)
                }
            }
        }
    }
}

impl From<diesel::ConnectionError> for StoreError {
    fn from(e: diesel::ConnectionError) -> Self {
        match e {
            diesel::ConnectionError::InvalidConnectionUrl(m) => StoreError::Connect(m),
            diesel::ConnectionError::InvalidCString(e) => StoreError::Connect(e.to_string()),
            other => {
                // Refused, unreachable, authentication not yet possible, file not openable:
                // an outage from the caller's point of view.
                StoreError::Unavailable(format!("cannot connect: {other}"))
            }
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        // r2d2 only fails a checkout by timing out; its message carries the last connect error.
        StoreError::Unavailable(format!("no database connection available: {e}"))
    }
}

impl From<super::crypto::CryptoError> for StoreError {
    fn from(e: super::crypto::CryptoError) -> Self {
        StoreError::Decrypt(e.to_string())
    }
}
