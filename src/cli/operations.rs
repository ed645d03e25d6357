//! `yichuang backup`, `restore` and `archive`: the command-line side of `store::backup` and
//! `store::archive` (what to run on which database, and what to print).

use std::path::Path;
use std::process::ExitCode;

use chrono::NaiveDate;

use crate::config::Config;
use crate::store::archive::{self, ArchiveError};
use crate::store::backup::{self, BackupError};
use crate::store::mapping::AsText;

/// The database: `--database`, else `database_url` of the configuration.
pub(super) fn database_url(
    database: Option<String>,
    config: Option<&Path>,
) -> Result<String, ExitCode> {
    match database {
        Some(u) => Ok(u),
        None => Config::load(config).map(|c| c.database_url).map_err(|e| {
            eprintln!("{e}");
            ExitCode::FAILURE
        }),
    }
}

/// The personal-data keys: `YICHUANG_KEYS`, else `key_file` of the configuration (or
/// `YICHUANG_KEY_FILE`); `None` when neither is set.
pub(super) fn keys(config: Option<&Path>) -> Result<Option<crate::store::crypto::Keyring>, String> {
    let c = Config::load(config).map_err(|e| e.to_string())?;
    crate::store::crypto::Keyring::from_settings(c.key_file.as_deref()).map_err(|e| e.to_string())
}

pub(super) fn personal_data(c: super::PersonalDataCommand) -> ExitCode {
    use super::PersonalDataCommand as P;
    use crate::store::crypto::Keyring;
    match c {
        P::Keygen { id } => match Keyring::generate(&id) {
            Ok(text) => {
                out_raw!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        P::NewKey { id } => match Keyring::generate_key_line(&id) {
            Ok(line) => {
                out!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        P::Encrypt {
            database,
            config,
            batch,
            max_batches,
        } => {
            let keyring = match keys(config.as_deref()) {
                Ok(Some(k)) => k,
                Ok(None) => {
                    eprintln!("personal-data encrypt: no keys (set key_file, YICHUANG_KEY_FILE or YICHUANG_KEYS; `yichuang personal-data keygen` makes a key file)");
                    return ExitCode::from(2);
                }
                Err(e) => {
                    eprintln!("personal-data encrypt: {e}");
                    return ExitCode::from(2);
                }
            };
            let url = match database_url(database, config.as_deref()) {
                Ok(u) => u,
                Err(code) => return code,
            };
            let r = crate::store::encrypt_personal_data(
                &url,
                &keyring,
                batch,
                max_batches,
                &mut |p| {
                    eprintln!(
                        "personal-data encrypt: {}/{} cases, {}/{} notices, {}/{} rows of free text sealed under key {} ({} batches)",
                        p.cases_done, p.cases_todo, p.notices_done, p.notices_todo, p.free_text_done, p.free_text_todo, keyring.active(), p.batches
                    );
                },
            );
            match r {
                Ok(p) if p.finished => {
                    out!(
                        "personal data encrypted under key {}: {} cases, {} notices and {} rows of free text sealed by this run; nothing left",
                        keyring.active(),
                        p.cases_done,
                        p.notices_done,
                        p.free_text_done
                    );
                    ExitCode::SUCCESS
                }
                Ok(p) => {
                    out!(
                        "stopped after {} batches: {} cases, {} notices and {} rows of free text sealed by this run; run the command again to go on",
                        p.batches,
                        p.cases_done,
                        p.notices_done,
                        p.free_text_done
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("personal-data encrypt: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn size(bytes: u64) -> String {
    format!(
        "{:.1} MiB ({bytes} bytes)",
        bytes as f64 / (1024.0 * 1024.0)
    )
}

fn china_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&crate::domain::china_time::offset())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Exit 2 for PostgreSQL (not handled by these commands), 1 for every other failure.
fn backup_failed(command: &str, e: &BackupError) -> ExitCode {
    eprintln!("{command}: {e}");
    match e {
        BackupError::Postgres(_) => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}

pub(super) fn backup(database: Option<String>, config: Option<&Path>, to: &Path) -> ExitCode {
    let url = match database_url(database, config) {
        Ok(u) => u,
        Err(code) => return code,
    };
    match backup::backup(&url, to) {
        Ok(r) => {
            let v = &r.verified;
            out!("backup: {}", v.path.display());
            out!("  size:       {}", size(v.bytes));
            out!("  cases:      {}", v.cases);
            out!(
                "  snapshot:   {} (everything committed before it is in the backup)",
                china_time(r.snapshot_at)
            );
            out!("  time:       copy {:.2?}, verify {:.2?}", r.copy, r.verify);
            out!(
                "  verified:   integrity_check ok; {} migrations{}; audit verify intact ({} cases, {} entries)",
                v.migrations,
                pending(&v.pending),
                v.audit.cases,
                v.audit.entries
            );
            ExitCode::SUCCESS
        }
        Err(e) => backup_failed("backup", &e),
    }
}

fn pending(p: &[String]) -> String {
    if p.is_empty() {
        String::new()
    } else {
        format!(
            " ({} of this build not yet applied: {}; `serve` or `migrate` applies them)",
            p.len(),
            p.join(", ")
        )
    }
}

pub(super) fn restore(
    database: Option<String>,
    config: Option<&Path>,
    from: &Path,
    force: bool,
) -> ExitCode {
    let url = match database_url(database, config) {
        Ok(u) => u,
        Err(code) => return code,
    };
    match backup::restore(from, &url, force) {
        Ok(r) => {
            let v = &r.verified;
            out!(
                "restore: {} {} from {}",
                r.target.display(),
                if r.replaced { "replaced" } else { "created" },
                from.display()
            );
            out!("  size:       {}", size(v.bytes));
            out!("  cases:      {}", v.cases);
            for p in &r.removed {
                out!("  removed:    {} (stale)", p.display());
            }
            out!(
                "  verified:   integrity_check ok; {} migrations{}; audit verify intact ({} cases, {} entries)",
                v.migrations,
                pending(&v.pending),
                v.audit.cases,
                v.audit.entries
            );
            ExitCode::SUCCESS
        }
        Err(e) => backup_failed("restore", &e),
    }
}

fn archive_failed(e: &ArchiveError) -> ExitCode {
    eprintln!("archive: {e}");
    ExitCode::FAILURE
}

fn day_of(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| china_time(t)[..10].to_string())
}

pub(super) fn archive(
    database: Option<String>,
    config: Option<&Path>,
    before: NaiveDate,
    to: Option<&Path>,
    dry_run: bool,
) -> ExitCode {
    let url = match database_url(database, config) {
        Ok(u) => u,
        Err(code) => return code,
    };
    let Some(store) = super::open_store(&url) else {
        return ExitCode::FAILURE;
    };
    if dry_run {
        let sel = match archive::select(&store, before) {
            Ok(s) => s,
            Err(e) => return archive_failed(&e),
        };
        out!(
            "archive --dry-run: {} finished case(s) whose last change came before {before} (China time) would be archived and deleted:",
            sel.finished.len()
        );
        for c in &sel.finished {
            out!(
                "  {}  {:<10} {}  received {}  last change {}  {} audit entries",
                c.case_id,
                c.status.as_text(),
                c.status.label(),
                c.received_on,
                day_of(c.last_change_ms),
                c.entries
            );
        }
        held(&sel.held);
        return ExitCode::SUCCESS;
    }
    let Some(to) = to else {
        eprintln!("archive: --to FILE is required (or --dry-run)");
        return ExitCode::FAILURE;
    };
    // A bar on a terminal: cases written to the file, then cases deleted after it was verified.
    let bar = super::progress_bar(0, "archive: writing");
    let r = archive::archive_with(&store, before, to, &mut |stage, done, total| match stage {
        archive::ArchiveStage::Writing => {
            bar.set_length(done);
            bar.set_position(done);
        }
        archive::ArchiveStage::Deleting => {
            if bar.length() != Some(total) {
                bar.set_message("archive: deleting");
                bar.set_length(total);
            }
            bar.set_position(done);
        }
    });
    bar.finish_and_clear();
    let r = match r {
        Ok(r) => r,
        Err(e) => return archive_failed(&e),
    };
    let Some(file) = &r.file else {
        out!(
            "archive: no finished case whose last change came before {before}; nothing written, nothing deleted"
        );
        held(&r.held);
        return ExitCode::SUCCESS;
    };
    out!("archive: {}", file.path.display());
    out!(
        "  written:    {} cases, {}, body sha256 {}",
        file.header.count,
        size(file.bytes),
        file.header.body_sha256
    );
    out!(
        "  verified:   read back: {} lines, digest matches, every case's audit chain ({} entries) recomputes to its head",
        file.cases.len(),
        file.entries
    );
    let d = &r.removed;
    out!(
        "  deleted:    {} cases in {} transaction(s): {} audit entries, {} notices, {} parts, {} steps, {} ratings, {} due items, {} idempotency keys, {} delivered outbox events ({} deliveries) (recorded in archived_cases)",
        d.cases,
        r.batches,
        d.events,
        d.notices,
        d.parts,
        d.steps,
        d.ratings,
        d.due_items,
        d.idempotency_keys,
        d.outbox_events,
        d.outbox_deliveries
    );
    if !r.kept.is_empty() {
        out!(
            "  kept:       {} case(s) changed after they were read; they stay and a later run archives them: {}",
            r.kept.len(),
            r.kept.join(", ")
        );
    }
    if !r.gone.is_empty() {
        out!(
            "  gone:       {} case(s) of the file were no longer in the database",
            r.gone.len()
        );
    }
    held(&r.held);
    ExitCode::SUCCESS
}

fn held(held: &[archive::Held]) {
    if held.is_empty() {
        return;
    }
    out!("  not finished ({}; they stay until they are):", held.len());
    for h in held {
        out!("  {}  {:<10} {}", h.case_id, h.status.as_text(), h.reason);
    }
}

pub(super) fn archive_verify(file: &Path) -> ExitCode {
    match archive::verify_archive(file) {
        Ok(v) => {
            out!(
                "archive verify: {}: intact: {} cases before {}, written {}, {} audit entries ({} from before the chain), body sha256 {}",
                v.path.display(),
                v.cases.len(),
                v.header.before,
                v.header.created_at,
                v.entries,
                v.pre_chain_entries,
                v.header.body_sha256
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            out!("archive verify: BROKEN: {e}");
            ExitCode::FAILURE
        }
    }
}
