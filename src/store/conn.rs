//! Connections: the multi-backend connection enum, URL → backend, the r2d2 manager that builds
//! the right variant, SQLite PRAGMAs, and the embedded per-backend migrations.

use std::path::PathBuf;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::R2D2Connection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{Backend, StoreError};

/// One connection type for both backends; queries written once against it run on either.
/// Backend-specific statements match on the variant and use the inner connection.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

pub(crate) const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub(crate) const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Where the store lives, parsed from the URL scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Postgres(String),
    Sqlite(PathBuf),
}

impl Target {
    /// `postgres://…` / `postgresql://…` → PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or a plain
    /// path → SQLite.
    pub fn parse(url: &str) -> Result<Target, StoreError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target::Postgres(url.to_string()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() {
            return Err(StoreError::Connect(format!("no database path in {url:?}")));
        }
        if path.contains("://") {
            return Err(StoreError::Connect(format!(
                "unsupported database URL scheme in {url:?} (use postgres://, sqlite:// or a path)"
            )));
        }
        Ok(Target::Sqlite(PathBuf::from(path)))
    }

    /// PostgreSQL: bound how long making a connection, and waiting on a dead server, can take
    /// — libpq `connect_timeout` (whole seconds; libpq treats less than 2 as 2), TCP keepalives
    /// (a silent server is noticed within about 25 s) and `tcp_user_timeout` (unacknowledged data
    /// after the server went away) — unless the URL sets them itself.
    pub fn with_timeouts(self, connect: std::time::Duration) -> Target {
        match self {
            Target::Postgres(url) => {
                let secs = connect.as_millis().div_ceil(1000).max(2);
                let params = [
                    ("connect_timeout", secs.to_string()),
                    ("keepalives_idle", "10".to_string()),
                    ("keepalives_interval", "5".to_string()),
                    ("keepalives_count", "3".to_string()),
                    ("tcp_user_timeout", (secs * 1000).to_string()),
                ];
                let mut url = url;
                for (k, v) in params {
                    let present = url
                        .split(['?', '&'])
                        .skip(1)
                        .any(|p| p.split('=').next() == Some(k));
                    if !present {
                        url.push(if url.contains('?') { '&' } else { '?' });
                        url.push_str(&format!("{k}={v}"));
                    }
                }
                Target::Postgres(url)
            }
            other => other,
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Target::Postgres(_) => Backend::Postgres,
            Target::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Opens one connection of the right variant (PRAGMAs are applied separately, see
    /// [`Session`]). For SQLite the parent directory is created first; SQLite creates
    /// the file itself.
    pub fn connect(&self) -> Result<DbConnection, StoreError> {
        match self {
            Target::Postgres(url) => Ok(DbConnection::Pg(PgConnection::establish(url)?)),
            Target::Sqlite(path) => {
                if let Some(dir) = path.parent() {
                    if !dir.as_os_str().is_empty() && !dir.exists() {
                        std::fs::create_dir_all(dir).map_err(|e| {
                            StoreError::Unavailable(format!(
                                "cannot create directory {}: {e}",
                                dir.display()
                            ))
                        })?;
                    }
                }
                secure_sqlite_files(path)?;
                let p = path.to_str().ok_or_else(|| {
                    StoreError::Connect(format!("database path is not UTF-8: {}", path.display()))
                })?;
                Ok(DbConnection::Sqlite(SqliteConnection::establish(p)?))
            }
        }
    }
}

/// The database file holds personal data: create it with mode 0600 before SQLite does (SQLite
/// would use 0644 less the umask), and take group and other access away from an existing one
/// and from its `-wal` and `-shm` (SQLite creates those with the mode of the database file).
fn secure_sqlite_files(path: &std::path::Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if path == std::path::Path::new(":memory:") {
            return Ok(());
        }
        let unavailable = |what: &str, p: &std::path::Path, e: std::io::Error| {
            StoreError::Unavailable(format!("cannot {what} {}: {e}", p.display()))
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(unavailable("create", path, e)),
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let p = std::path::PathBuf::from(name);
            if let Ok(m) = std::fs::metadata(&p) {
                let mode = m.permissions().mode();
                if m.is_file() && mode & 0o077 != 0 {
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode & 0o700))
                        .map_err(|e| unavailable("restrict the mode of", &p, e))?;
                    tracing::warn!(path = %p.display(), from = format!("{:o}", mode & 0o777), "database file was readable by others; mode set to 0600");
                }
            }
        }
    }
    Ok(())
}

/// r2d2 manager that builds the variant chosen from the URL (diesel's `ConnectionManager`
/// would try each variant in turn, and PostgreSQL's libpq would be handed SQLite paths).
#[derive(Debug, Clone)]
pub struct DbManager {
    target: Target,
}

impl DbManager {
    pub fn new(target: Target) -> Self {
        DbManager { target }
    }
}

/// Settings of the service's sessions, applied after migrations (which must not be cut short)
/// to every pooled connection and to the writer's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Session {
    /// PostgreSQL `statement_timeout` in milliseconds (0: the server's setting). A statement
    /// stuck behind a lock is cancelled and its transaction rolled back.
    pub statement_timeout_ms: u64,
    /// SQLite `max_page_count` (0: no limit): past it writes fail as on a full disk.
    pub sqlite_max_pages: u64,
}

impl Session {
    /// The SQLite PRAGMAs ([`apply_pragmas`]) and these settings.
    pub(crate) fn apply(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        apply_pragmas(conn)?;
        match conn {
            DbConnection::Pg(c) if self.statement_timeout_ms > 0 => {
                c.batch_execute(&format!(
                    "SET statement_timeout = {}",
                    self.statement_timeout_ms
                ))?;
            }
            DbConnection::Sqlite(c) if self.sqlite_max_pages > 0 => {
                c.batch_execute(&format!(
                    "PRAGMA max_page_count = {}",
                    self.sqlite_max_pages
                ))?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl r2d2::ManageConnection for DbManager {
    type Connection = DbConnection;
    type Error = StoreError;

    fn connect(&self) -> Result<DbConnection, StoreError> {
        self.target.connect()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        conn.ping().map_err(StoreError::from)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// Per-connection SQLite settings, applied to every connection (see also [`Session`]).
///
/// * `busy_timeout=5000` first, so the following statements wait for locks instead of failing.
/// * `journal_mode=WAL`: readers never block the writer and the writer never blocks readers.
/// * `synchronous=FULL`: in WAL mode `NORMAL` only syncs the WAL at checkpoints, so after a
///   power loss (not a mere process crash) the last acknowledged transactions can vanish. An
///   intake acknowledged to the clerk carries a document number that is printed and handed to
///   the applicant (invariant 6: nothing acknowledged is lost), so every COMMIT must be on disk
///   before we answer. `FULL` fsyncs the WAL on each commit; group commit amortises that cost.
/// * `foreign_keys=ON`: SQLite leaves them off by default.
/// * `temp_store=MEMORY`: savepoint sub-journals (one savepoint per request in a group commit)
///   stay in memory instead of being written to a temp file; durability is unaffected, the WAL
///   is what gets synced.
pub(crate) fn apply_pragmas(conn: &mut DbConnection) -> Result<(), StoreError> {
    if let DbConnection::Sqlite(c) = conn {
        c.batch_execute(
            "PRAGMA busy_timeout = 5000;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA temp_store = MEMORY;
",
            // wal_autocheckpoint: a safety net only (~80 MiB of WAL); the store's checkpoint
            // thread copies the WAL back continuously without blocking the writer.
        )?;
    }
    Ok(())
}

impl r2d2::CustomizeConnection<DbConnection, StoreError> for Session {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        self.apply(conn)
    }
}

/// Applies the pending embedded migrations of the connection's backend. On PostgreSQL a
/// session advisory lock serialises instances that start at the same time.
pub(crate) fn run_migrations(conn: &mut DbConnection) -> Result<(), StoreError> {
    match conn {
        DbConnection::Sqlite(c) => {
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(|e| migration_error(e.to_string()))?;
        }
        DbConnection::Pg(c) => {
            // Arbitrary constant key: "yichuang migrations".
            c.batch_execute("SELECT pg_advisory_lock(7316022711)")?;
            let r = c
                .run_pending_migrations(PG_MIGRATIONS)
                .map(|_| ())
                .map_err(|e| migration_error(e.to_string()));
            let unlock = c.batch_execute("SELECT pg_advisory_unlock(7316022711)");
            r?;
            unlock?;
        }
    }
    Ok(())
}

fn migration_error(msg: String) -> StoreError {
    if super::error::looks_unavailable(&msg) {
        StoreError::Unavailable(msg)
    } else {
        StoreError::Migration(msg)
    }
}
