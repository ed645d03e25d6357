//! Backup and restore of the embedded SQLite database (`yichuang backup`, `yichuang restore`).
//!
//! **How the copy is made: `VACUUM INTO`.** It runs on a connection of its own inside one read
//! transaction, so the copy is the database as of one instant — every transaction committed
//! before it began, none after — while the service keeps writing: in WAL mode a reader never
//! blocks the writer and the writer never blocks a reader. The alternative, SQLite's online
//! backup API (`sqlite3_backup_step`, reachable through `libsqlite3-sys` with `unsafe` code on a
//! raw handle, since diesel does not hand its handle out), copies pages in steps and starts
//! over whenever another connection writes between two steps; under a steady stream of intakes
//! it either never finishes or must copy everything in one step, which is then what `VACUUM
//! INTO` does, without `unsafe`. `VACUUM INTO` also writes a compact, self-contained file in
//! rollback-journal mode (no `-wal` beside it), which is what a backup should be. What it does
//! not do is fsync the new file; [`backup`] does that itself. Its cost: it rebuilds every index
//! (more CPU than a page copy), and while it runs the WAL cannot be checkpointed past its
//! snapshot, so the WAL grows by what is written meanwhile (RELIABILITY.md has the figures).
//!
//! **Verification.** A copy counts as a backup only after [`verify_file`] passed on it, opened
//! read-only: `PRAGMA integrity_check`, the migrations recorded in it (every one known to this
//! build; older databases may lack the latest, which `serve` or `migrate` apply), and the audit
//! trail checked exactly as `yichuang audit verify` does ([`super::audit`]). Restore verifies the
//! file the same way before it touches the target.
//!
//! PostgreSQL is not backed up here: `pg_dump` (a consistent logical dump) or `pg_basebackup` with
//! WAL archiving (point-in-time recovery) are the tools, see docs/deploy.md.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::audit::{self, AuditReport};
use super::conn::{DbConnection, Target, SQLITE_MIGRATIONS};
use super::schema::cases;
use super::StoreError;

/// Why a backup or a restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database is PostgreSQL: use pg_dump / pg_basebackup (docs/deploy.md).
    #[error(
        "{0} is a PostgreSQL database: `yichuang backup` and `restore` handle SQLite only. Use \
         pg_dump / pg_restore, or pg_basebackup with WAL archiving for point-in-time recovery \
         (docs/deploy.md, \"Backups\")"
    )]
    Postgres(String),
    /// The source database file does not exist (nothing is created).
    #[error("no SQLite database at {0}")]
    NoDatabase(PathBuf),
    /// The destination exists; it is never overwritten.
    #[error("{0} exists and is never overwritten (choose a new name)")]
    Exists(PathBuf),
    /// The restore target exists and `--force` was not given.
    #[error(
        "the target database {0} exists; stop the service, then run restore again with --force \
         to replace it"
    )]
    TargetExists(PathBuf),
    /// The file is not a sound yichuang database; each problem found is listed.
    #[error("{path} is not a sound yichuang database: {}", problems.join("; "))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BackupError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
        let what = what.into();
        move |source| BackupError::Io { what, source }
    }
}

/// What [`verify_file`] found in a sound database file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub path: PathBuf,
    pub bytes: u64,
    pub cases: i64,
    /// Migrations recorded in the file.
    pub migrations: usize,
    /// Migrations of this build the file lacks (applied by `serve` or `migrate` after a restore).
    pub pending: Vec<String>,
    /// The audit trail, checked as `yichuang audit verify` does (intact, else not `Verified`).
    pub audit: AuditReport,
}

/// A backup written and verified.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub verified: Verified,
    /// When the copy's read snapshot was taken (the backup holds what was committed before).
    pub snapshot_at: chrono::DateTime<chrono::Utc>,
    /// Time spent copying (`VACUUM INTO` and fsync) and verifying.
    pub copy: Duration,
    pub verify: Duration,
}

/// A restore done.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub target: PathBuf,
    /// The restored database, verified in place.
    pub verified: Verified,
    /// An existing database was replaced (`--force`).
    pub replaced: bool,
    /// Stale `-wal`, `-shm` and `-journal` files of the target that were removed.
    pub removed: Vec<PathBuf>,
}

/// The SQLite file of a database URL (PostgreSQL: [`BackupError::Postgres`]).
pub fn sqlite_path(url: &str) -> Result<PathBuf, BackupError> {
    match Target::parse(url)? {
        Target::Sqlite(p) => Ok(p),
        Target::Postgres(_) => Err(BackupError::Postgres(redacted(url))),
    }
}

/// A PostgreSQL URL without its password.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}…{}", &url[..s + 3], &url[at..]),
        _ => url.to_string(),
    }
}

/// Copies the SQLite database at `database_url` to `to` as of one instant while the service
/// keeps running, fsyncs the copy, verifies it ([`verify_file`]) and only then gives it its
/// name. Never overwrites `to`; never creates a missing source database.
pub fn backup(database_url: &str, to: &Path) -> Result<BackupReport, BackupError> {
    let source = sqlite_path(database_url)?;
    if !source.is_file() {
        return Err(BackupError::NoDatabase(source));
    }
    if to.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(to.to_path_buf()));
    }
    let dir = parent_dir(to);
    std::fs::create_dir_all(&dir).map_err(BackupError::io(format!(
        "cannot create directory {}",
        dir.display()
    )))?;
    let partial = sibling(to, "partial")?;
    remove_if_present(&partial)?;

    let started = Instant::now();
    let snapshot_at = chrono::Utc::now();
    let copied = (|| -> Result<(), BackupError> {
        // Created empty with mode 0600 first: VACUUM INTO fills an empty file and keeps its mode
        // (a backup holds the same personal data as the database).
        drop(create_private(&partial)?);
        // Read-only: the backup never writes the live database.
        let DbConnection::Sqlite(mut c) = open_read_only(&source)? else {
            return Err(invalid(&source, "not a SQLite database".into()));
        };
        diesel::sql_query("VACUUM INTO ?")
            .bind::<Text, _>(utf8(&partial)?)
            .execute(&mut c)
            .map_err(StoreError::from)?;
        drop(c);
        // VACUUM INTO does not sync what it wrote.
        sync_file(&partial)
    })();
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    let copy = started.elapsed();

    let started = Instant::now();
    let verified = match verify_file(&partial) {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let verify = started.elapsed();
    publish_no_clobber(&partial, to)?;
    Ok(BackupReport {
        verified: Verified {
            path: to.to_path_buf(),
            ..verified
        },
        snapshot_at,
        copy,
        verify,
    })
}

/// Checks that the file at `path` is a sound yichuang SQLite database, opened read-only:
/// `PRAGMA integrity_check`, the recorded migrations, and the audit trail as `audit verify`
/// checks it. Every problem found is listed in [`BackupError::Invalid`].
pub fn verify_file(path: &Path) -> Result<Verified, BackupError> {
    let meta = std::fs::metadata(path)
        .map_err(BackupError::io(format!("cannot read {}", path.display())))?;
    if !meta.is_file() {
        return Err(invalid(path, "not a regular file".into()));
    }
    let mut c = open_read_only(path)?;
    let mut problems = Vec::new();

    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = Text)]
        integrity_check: String,
    }
    let DbConnection::Sqlite(sqlite) = &mut c else {
        return Err(invalid(path, "not a SQLite database".into()));
    };
    match diesel::sql_query("PRAGMA integrity_check(20)").load::<Check>(sqlite) {
        Ok(rows) => {
            let found: Vec<String> = rows
                .into_iter()
                .map(|r| r.integrity_check)
                .filter(|r| r != "ok")
                .collect();
            if !found.is_empty() {
                problems.push(format!("integrity_check: {}", found.join(" | ")));
            }
        }
        // "file is not a database", a damaged header: nothing more can be read.
        Err(e) => return Err(invalid(path, format!("integrity_check: {e}"))),
    }
    if !problems.is_empty() {
        return Err(BackupError::Invalid {
            path: path.to_path_buf(),
            problems,
        });
    }

    let (migrations, pending) = match migrations_of(sqlite) {
        Ok(m) => m,
        Err(p) => return Err(invalid(path, p)),
    };
    let cases: i64 = cases::table
        .count()
        .get_result(&mut c)
        .map_err(|e| invalid(path, format!("cannot count the cases: {e}")))?;
    let audit = audit::verify(&mut c, &mut |_, _| {})
        .map_err(|e| invalid(path, format!("audit verify: {e}")))?;
    if let Some(b) = audit.first_break() {
        problems.push(format!(
            "audit verify: {} broken case(s) or entries, the first: {b}",
            audit.broken
        ));
    }
    if !problems.is_empty() {
        return Err(BackupError::Invalid {
            path: path.to_path_buf(),
            problems,
        });
    }
    Ok(Verified {
        path: path.to_path_buf(),
        bytes: meta.len(),
        cases,
        migrations,
        pending,
        audit,
    })
}

/// Replaces (with `force`) or creates the SQLite database of `database_url` from the backup at
/// `from`: verifies the backup, copies it to a temporary file next to the target, checks the
/// copy byte for byte, removes the target's stale `-wal`, `-shm` and `-journal` (an old WAL
/// beside a new database would be replayed into it), renames the copy over the target and
/// verifies the result. The service must be stopped: a running service keeps the old file open.
pub fn restore(from: &Path, database_url: &str, force: bool) -> Result<RestoreReport, BackupError> {
    let target = sqlite_path(database_url)?;
    verify_file(from)?;
    let exists = target.symlink_metadata().is_ok();
    if exists && !force {
        return Err(BackupError::TargetExists(target));
    }
    if exists && same_file(from, &target) {
        return Err(invalid(
            from,
            "the backup is the target database itself".into(),
        ));
    }
    let dir = parent_dir(&target);
    std::fs::create_dir_all(&dir).map_err(BackupError::io(format!(
        "cannot create directory {}",
        dir.display()
    )))?;
    let tmp = sibling(&target, "restore")?;
    remove_if_present(&tmp)?;
    // The restored database is created with mode 0600, whatever the mode of the file it replaces.
    let copied = copy_checked(from, &tmp);
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let mut removed = Vec::new();
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = target.as_os_str().to_owned();
        name.push(suffix);
        let stale = PathBuf::from(name);
        if remove_if_present(&stale)? {
            removed.push(stale);
        }
    }
    std::fs::rename(&tmp, &target).map_err(BackupError::io(format!(
        "cannot rename {} to {}",
        tmp.display(),
        target.display()
    )))?;
    sync_dir(&dir)?;
    let verified = verify_file(&target)?;
    Ok(RestoreReport {
        target,
        verified,
        replaced: exists,
        removed,
    })
}

// ---------------------------------------------------------------- helpers

fn invalid(path: &Path, problem: String) -> BackupError {
    BackupError::Invalid {
        path: path.to_path_buf(),
        problems: vec![problem],
    }
}

fn utf8(p: &Path) -> Result<&str, BackupError> {
    p.to_str().ok_or_else(|| {
        BackupError::Store(StoreError::Connect(format!(
            "the path is not UTF-8: {}",
            p.display()
        )))
    })
}

/// The directory a file is in (`.` for a bare name).
pub(crate) fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A hidden working file next to `p`: `.<name>.<what>-<pid>`.
pub(crate) fn sibling(p: &Path, what: &str) -> Result<PathBuf, BackupError> {
    let name = p
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| BackupError::Io {
            what: format!("{} has no file name", p.display()),
            source: std::io::ErrorKind::InvalidInput.into(),
        })?;
    Ok(parent_dir(p).join(format!(".{name}.{what}-{}", std::process::id())))
}

/// Removes a file if it is there; true when it was.
fn remove_if_present(p: &Path) -> Result<bool, BackupError> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(BackupError::Io {
            what: format!("cannot remove {}", p.display()),
            source: e,
        }),
    }
}

pub(crate) fn sync_file(p: &Path) -> Result<(), BackupError> {
    std::fs::File::open(p)
        .and_then(|f| f.sync_all())
        .map_err(BackupError::io(format!("cannot sync {}", p.display())))
}

/// fsync a directory, so a rename or a new name in it survives a power cut.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(BackupError::io(format!("cannot sync {}", dir.display())))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Gives the finished file `partial` its name `to` without ever replacing an existing `to`
/// (a hard link fails if `to` exists), then removes `partial` and syncs the directory.
pub(crate) fn publish_no_clobber(partial: &Path, to: &Path) -> Result<(), BackupError> {
    match std::fs::hard_link(partial, to) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(partial);
            return Err(BackupError::Exists(to.to_path_buf()));
        }
        // A file system without hard links: check, then rename (not atomic against a file
        // created in between, the best such a file system allows).
        Err(_) if to.symlink_metadata().is_err() => {
            std::fs::rename(partial, to).map_err(BackupError::io(format!(
                "cannot rename {} to {}",
                partial.display(),
                to.display()
            )))?;
        }
        Err(_) => {
            let _ = std::fs::remove_file(partial);
            return Err(BackupError::Exists(to.to_path_buf()));
        }
    }
    remove_if_present(partial)?;
    sync_dir(&parent_dir(to))
}

/// Creates the new file `path` (never an existing one) readable and writable by its owner only
/// (mode 0600 on Unix, whatever the umask): databases, backups and archives hold personal data.
pub(crate) fn create_private(path: &Path) -> Result<std::fs::File, BackupError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
        .map_err(BackupError::io(format!("cannot create {}", path.display())))
}

/// Copies `from` to a new file `to`, fsyncs it, then reads both back and compares their SHA-256.
fn copy_checked(from: &Path, to: &Path) -> Result<(), BackupError> {
    {
        let mut src = std::fs::File::open(from)
            .map_err(BackupError::io(format!("cannot read {}", from.display())))?;
        let mut dst = create_private(to)?;
        std::io::copy(&mut src, &mut dst)
            .map_err(BackupError::io(format!("cannot copy to {}", to.display())))?;
        dst.flush()
            .and_then(|()| dst.sync_all())
            .map_err(BackupError::io(format!("cannot sync {}", to.display())))?;
    }
    let (a, b) = (digest_of(from)?, digest_of(to)?);
    if a != b {
        return Err(BackupError::Io {
            what: format!(
                "the copy {} differs from {} (sha256 {b} vs {a})",
                to.display(),
                from.display()
            ),
            source: std::io::ErrorKind::InvalidData.into(),
        });
    }
    Ok(())
}

/// SHA-256 (hex) of a file's bytes, read in blocks.
pub(crate) fn digest_of(p: &Path) -> Result<String, BackupError> {
    use sha2::Digest;
    let mut f =
        std::fs::File::open(p).map_err(BackupError::io(format!("cannot read {}", p.display())))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(BackupError::io(format!("cannot read {}", p.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Opens a SQLite file read-only (URI `mode=ro`): verification never writes, never creates.
fn open_read_only(path: &Path) -> Result<DbConnection, BackupError> {
    let uri = format!("file:{}?mode=ro", uri_escape(utf8(path)?));
    let mut c = SqliteConnection::establish(&uri)
        .map_err(|e| invalid(path, format!("cannot open as SQLite: {e}")))?;
    c.batch_execute("PRAGMA busy_timeout = 5000")
        .map_err(StoreError::from)?;
    Ok(DbConnection::Sqlite(c))
}

/// Percent-encodes what a SQLite URI path must not hold literally (`?`, `#`, `%`, spaces, …).
fn uri_escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The migrations recorded in a database: how many, and the versions of this build it lacks.
/// Versions this build does not know (a newer yichuang wrote the file) are a problem.
fn migrations_of(c: &mut SqliteConnection) -> Result<(usize, Vec<String>), String> {
    use diesel::migration::MigrationSource;
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        version: String,
    }
    let applied: Vec<String> = diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
        .load::<Version>(c)
        .map_err(|e| format!("no schema migrations recorded ({e}): not a yichuang database"))?
        .into_iter()
        .map(|v| v.version)
        .collect();
    if applied.is_empty() {
        return Err("no schema migrations recorded: not a yichuang database".into());
    }
    let known: Vec<String> =
        MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
            .map_err(|e| format!("this build's migrations cannot be listed: {e}"))?
            .iter()
            .map(|m| m.name().version().to_string())
            .collect();
    let unknown: Vec<&String> = applied.iter().filter(|v| !known.contains(v)).collect();
    if !unknown.is_empty() {
        return Err(format!(
            "migrations unknown to this build ({}): written by a newer yichuang; use that version",
            unknown
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let pending = known.into_iter().filter(|v| !applied.contains(v)).collect();
    Ok((applied.len(), pending))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_paths_are_escaped() {
        assert_eq!(uri_escape("/tmp/a b?c#d%e.db"), "/tmp/a%20b%3Fc%23d%25e.db");
        assert_eq!(uri_escape("data/一.db"), "data/%E4%B8%80.db");
    }

    #[test]
    fn postgres_urls_are_refused_without_their_password() {
        let e = sqlite_path("postgres://u:secret@db/yc").unwrap_err();
        assert!(matches!(e, BackupError::Postgres(_)));
        let text = e.to_string();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("pg_dump"), "{text}");
    }
}
