//! The `yichuang` command line: the service and the tools policy staff use on their rule files.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};

use crate::authoring::{guide_markdown, run_examples, schema_json, SchemaKind};
use crate::catalog::{Catalog, CatalogSources, Severity};
use crate::config::Config;
use crate::rules::ScriptLimits;

/// Print to stdout, ignoring a closed pipe (e.g. `yichuang rules test rules/ | head`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

macro_rules! out_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

mod operations;

#[derive(Debug, Parser)]
#[command(
    name = "yichuang",
    version,
    about = "一窗: one-window intake and approval routing"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the HTTP service (embedded SQLite and the catalog in rules/ by default).
    Serve {
        /// Configuration file (YAML); see config/yichuang.example.yaml.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Apply the database migrations and exit.
    Migrate {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Tools for rule files (规则文件工具).
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Working-day calendar: queries and the yearly import (工作日历).
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// The tamper-evident case history (电子监察).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Back up the SQLite database while the service runs: one consistent snapshot, verified
    /// (integrity, migrations, audit chains) before it is reported. PostgreSQL: exit 2, see
    /// docs/deploy.md (pg_dump, point-in-time recovery).
    Backup {
        /// The backup file to write (never overwritten).
        #[arg(long)]
        to: PathBuf,
        /// The database (default: `database_url` of the configuration).
        #[arg(long, conflicts_with = "config")]
        database: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Restore the SQLite database from a backup, verified first. Stop the service first.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// The database to restore (default: `database_url` of the configuration).
        #[arg(long, conflicts_with = "config")]
        database: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Replace an existing database.
        #[arg(long)]
        force: bool,
    },
    /// Move finished cases whose last change came before DATE to an archive file (JSON Lines),
    /// verify it, then delete them. The county's retention rules say which DATE.
    Archive {
        /// Cases whose last change came before this day (China time), YYYY-MM-DD.
        #[arg(long, required_unless_present = "verify")]
        before: Option<NaiveDate>,
        /// The archive file to write (never overwritten).
        #[arg(long, required_unless_present_any = ["dry_run", "verify"])]
        to: Option<PathBuf>,
        /// List what would be archived; write and delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Check an archive file (header, digest, count, every case's audit chain) and exit.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["before", "to", "dry_run"])]
        verify: Option<PathBuf>,
        /// The database (default: `database_url` of the configuration).
        #[arg(long, conflicts_with = "config")]
        database: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Users' tokens (用户令牌).
    #[command(subcommand)]
    Token(TokenCommand),
    /// The outbox of case events to subscribers (数据交换): list deliveries, resend failures.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Personal data at rest (个人信息保护): keys and the in-place encryption of a database.
    #[command(subcommand, name = "personal-data")]
    PersonalData(PersonalDataCommand),
    /// Print a completion script for a shell, e.g. `yichuang completions bash > /etc/bash_completion.d/yichuang`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List undelivered deliveries (pending and dead), oldest first; `--dead`: only dead ones.
    List {
        #[arg(long)]
        dead: bool,
        #[arg(long)]
        subscriber: Option<String>,
        #[arg(long, default_value_t = 200)]
        limit: i64,
        #[arg(long, conflicts_with = "config")]
        database: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Send events again by id (`<case id>:<seq>`), or every dead delivery with `--dead`.
    Resend {
        #[arg(required_unless_present = "dead")]
        ids: Vec<String>,
        #[arg(long, conflicts_with = "ids")]
        dead: bool,
        #[arg(long)]
        subscriber: Option<String>,
        #[arg(long, conflicts_with = "config")]
        database: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Delete delivered events that occurred more than `--keep-days` days ago, with their
    /// deliveries (each case's latest event stays until `archive`); the service does this hourly
    /// with `outbox_keep_days`.
    Prune {
        #[arg(long, default_value_t = 90)]
        keep_days: u32,
        #[arg(long, conflicts_with = "config")]
        database: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn outbox_store(
    database: Option<String>,
    config: Option<&std::path::Path>,
) -> Result<crate::store::Store, ExitCode> {
    let url = match database {
        Some(u) => u,
        None => match Config::load(config) {
            Ok(c) => c.database_url,
            Err(e) => {
                eprintln!("{e}");
                return Err(ExitCode::from(2));
            }
        },
    };
    crate::store::Store::open(
        &url,
        crate::store::StoreOptions {
            pool_size: 2,
            group_commit: false,
            ..crate::store::StoreOptions::default()
        },
    )
    .map_err(|e| {
        eprintln!("outbox: {}: {e}", redact_url(&url));
        ExitCode::from(2)
    })
}

fn outbox(cmd: OutboxCommand) -> ExitCode {
    use crate::store::outbox::{OutboxFilter, OutboxState};
    match cmd {
        OutboxCommand::List {
            dead,
            subscriber,
            limit,
            database,
            config,
        } => {
            let store = match outbox_store(database, config.as_deref()) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let mut rows = Vec::new();
            let states: &[OutboxState] = if dead {
                &[OutboxState::Dead]
            } else {
                &[OutboxState::Pending, OutboxState::Dead]
            };
            for s in states {
                match store.outbox_list(&OutboxFilter {
                    state: Some(*s),
                    subscriber: subscriber.clone(),
                    limit,
                }) {
                    Ok(r) => rows.extend(r),
                    Err(e) => {
                        eprintln!("outbox list: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            rows.sort_by_key(|r| (r.occurred_at, r.seq));
            for r in &rows {
                out!(
                    "{}\t{}\t{}\t{:?}\tattempts={}\t{}",
                    r.event_id,
                    r.subscriber,
                    r.kind,
                    r.state,
                    r.attempts,
                    r.last_error.as_deref().unwrap_or("")
                );
            }
            out!("{} undelivered", rows.len());
            ExitCode::SUCCESS
        }
        OutboxCommand::Resend {
            ids,
            dead,
            subscriber,
            database,
            config,
        } => {
            let store = match outbox_store(database, config.as_deref()) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let r = if dead {
                store.outbox_resend_dead(subscriber.as_deref())
            } else {
                store.outbox_resend(&ids, subscriber.as_deref())
            };
            match r {
                Ok(n) => {
                    out!("{n} deliveries put back to pending");
                    if n == 0 {
                        return ExitCode::FAILURE;
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("outbox resend: {e}");
                    ExitCode::from(2)
                }
            }
        }
        OutboxCommand::Prune {
            keep_days,
            database,
            config,
        } => {
            let store = match outbox_store(database, config.as_deref()) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let before =
                crate::app::outbox::keep_cutoff(crate::app::outbox::wall_ms(), keep_days.into());
            match store.outbox_prune(before, crate::store::MAX_PAGE) {
                Ok(p) => {
                    out!(
                        "{} events and {} deliveries deleted (delivered, older than {keep_days} days)",
                        p.events,
                        p.deliveries
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("outbox prune: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a new random token for a user: print the token (give it to the user) and the line
    /// for the tokens file (which keeps only its SHA-256). The service takes the changed file on
    /// SIGHUP (`systemctl reload yichuang`), without a restart.
    New {
        /// The user's id (unique in the tokens file), e.g. clerk-baishui-2.
        #[arg(long)]
        user: String,
        /// The user's name as shown in the history.
        #[arg(long)]
        name: String,
        /// clerk, agent, approver, supervisor or admin.
        #[arg(long)]
        role: String,
        /// The user's unit: a township or village id, a department id, or the county id.
        #[arg(long)]
        unit: String,
        /// The window a clerk sits at.
        #[arg(long)]
        window: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PersonalDataCommand {
    /// Print a new key file (one data key and the search key) to stdout; store it with mode 0600
    /// and back it up apart from the database: without it the data cannot be read.
    Keygen {
        /// The id of the data key, e.g. the year: 2026a.
        #[arg(long, default_value = "k1")]
        id: String,
    },
    /// Print one new data key line (`<id>: <base64>`) to add to the key file for a rotation.
    NewKey {
        #[arg(long)]
        id: String,
    },
    /// Encrypt the personal data of an existing database in place under the active key (plain
    /// rows, and rows under older keys after a rotation), in batches of one transaction each.
    /// Restartable: a killed run is resumed by running it again. Safe while the service runs
    /// with the same keys.
    Encrypt {
        /// The database (default: `database_url` of the configuration).
        #[arg(long, conflicts_with = "config")]
        database: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Rows per transaction.
        #[arg(long, default_value_t = 500)]
        batch: i64,
        /// Stop after this many batches (the next run goes on from there).
        #[arg(long)]
        max_batches: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every case's hash chain; name the first broken entry. Exit 0 when intact, 1 when
    /// broken, 2 when the database cannot be checked.
    Verify {
        /// The database (default: `database_url` of the configuration).
        #[arg(long)]
        database: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load and validate a catalog; every error with file:line:column. Exit 1 on errors.
    Lint {
        /// The catalog's folder.
        #[arg(default_value = "rules")]
        dir: PathBuf,
    },
    /// Run every golden example; print a pass/fail table. Exit 1 on any failure.
    Test {
        /// The catalog's folder.
        #[arg(default_value = "rules")]
        dir: PathBuf,
    },
    /// Print the service guide (办事指南) of a matter as Markdown.
    Guide { dir: PathBuf, code: String },
    /// Write every sample notice (each notice kind of each golden example) and every service
    /// guide as printable HTML, laid out by the catalog's templates, with a manifest
    /// (`manifest.tsv`) for the print test.
    Print {
        dir: PathBuf,
        /// The folder to write into (created).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a catalog through the gate, store it and make it the active version of every
    /// instance on the database (they follow within `fleet_poll_ms`).
    Publish {
        dir: PathBuf,
        #[arg(long)]
        database: String,
        /// Who publishes (recorded with the activation).
        #[arg(long, default_value = "cli")]
        by: String,
    },
    /// Make a stored version active again (roll back or forward): a hash prefix or the declared version.
    Activate {
        version: String,
        #[arg(long)]
        database: String,
        #[arg(long, default_value = "cli")]
        by: String,
    },
    /// Impact preview: re-assess the stored intakes of the last DAYS days under the catalog in DIR.
    Impact {
        dir: PathBuf,
        #[arg(long)]
        database: String,
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// Replay the stored intakes of the last DAYS days under their own catalog versions and check
    /// that each reproduces its stored assessment exactly.
    Replay {
        #[arg(long)]
        database: String,
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// Any valid catalog directory (versions are loaded from the database by hash).
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
    },
    /// List the stored catalog versions and who activated which when.
    Versions {
        #[arg(long)]
        database: String,
    },
    /// What changed between two catalog directories, per matter, in words (Markdown).
    Diff { old: PathBuf, new: PathBuf },
    /// Print the JSON Schema of a rule file kind (for editor validation and completion).
    Schema {
        #[arg(value_enum, default_value = "matter")]
        kind: SchemaKind,
    },
}

#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// The due date N working days after DATE.
    Add {
        date: NaiveDate,
        days: u32,
        /// Region (e.g. a township id) whose local holidays apply.
        #[arg(long)]
        region: Option<String>,
        /// The rules directory holding calendar/.
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
    },
    /// Read the State Council's yearly holiday notice (关于……年部分节假日安排的通知, the text as
    /// published) and write the calendar year file. Exit 1 when the notice cannot be read.
    Import {
        /// The notice's text (UTF-8), or `-` for stdin.
        notice: PathBuf,
        /// The notice's year, when its text has no title (checked against the title otherwise).
        #[arg(long)]
        year: Option<i32>,
        /// Where to write [default: rules/calendar/<year>.yaml].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Overwrite the file if it exists.
        #[arg(long)]
        force: bool,
    },
}

fn load(dir: &std::path::Path) -> Result<Catalog, ExitCode> {
    Catalog::load_dir(dir).map_err(|failure| {
        for d in &failure.diagnostics {
            eprintln!("{d}");
        }
        let errors = failure.errors().count();
        eprintln!("rules: {} error(s); the catalog does not load", errors);
        ExitCode::FAILURE
    })
}

fn lint(dir: &std::path::Path) -> ExitCode {
    let sources = match CatalogSources::read_dir_noting(dir) {
        Ok((s, skipped)) => {
            for f in skipped {
                out!("{f}: note: 已忽略（隐藏、备份或编辑器锁文件）/ skipped (hidden, backup or lock file)");
            }
            s
        }
        Err(e) => {
            for d in e.diagnostics(dir) {
                out!("{d}");
            }
            out!("rules lint: the rules directory cannot be read as it is");
            return ExitCode::FAILURE;
        }
    };
    let (catalog, diagnostics) = Catalog::load_for_lint(sources, ScriptLimits::default());
    for d in &diagnostics {
        out!("{d}");
    }
    let mut errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let Some(catalog) = catalog else {
        out!("rules lint: {errors} error(s); org.yaml, catalog.yaml or the calendar did not load");
        return ExitCode::FAILURE;
    };
    // Scripts that fail at run time (endless loops, type errors) show up when the examples run.
    for r in run_examples(&catalog) {
        if let Some(e) = &r.error {
            errors += 1;
            out!("{}: error [{}] example “{}”: {e}", r.file, r.matter, r.name);
        }
    }
    let warnings = catalog.warnings.len();
    let (from, until) = catalog.calendar.coverage();
    out!(
        "rules lint: {} matters, {} bundles, {} examples, calendar {from}..{until}, version {} ({}): {errors} error(s), {warnings} warning(s)",
        catalog.matters.len(),
        catalog.bundles.len(),
        catalog.example_count(),
        catalog.manifest.version,
        catalog.short_hash(),
    );
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn test(dir: &std::path::Path) -> ExitCode {
    let catalog = match load(dir) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let results = run_examples(&catalog);
    let mut failed = 0;
    for r in &results {
        let status = if r.passed() { "PASS" } else { "FAIL" };
        out!("{status}  {:<14} {}", r.matter, r.name);
        if let Some(e) = &r.error {
            out!("      error: {e}");
        }
        for d in &r.differences {
            out!("      {d}");
        }
        if !r.passed() {
            failed += 1;
        }
    }
    // Every notice kind of every example, and every guide, must render with the templates.
    let unrendered = crate::authoring::render_samples(&catalog);
    for u in &unrendered {
        out!("FAIL  {u}");
    }
    out!(
        "templates: {} sample notices and {} guides rendered, {} failed",
        crate::authoring::sample_notices(&catalog).len(),
        catalog.matters.len(),
        unrendered.len()
    );
    out!(
        "rules test: {} examples in {} matters: {} passed, {} failed",
        results.len(),
        catalog.matters.len(),
        results.len() - failed,
        failed
    );
    if failed > 0 || !unrendered.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `rules print`: the sample notices and guides as HTML files, and `manifest.tsv` with, per file,
/// what the print test looks for: kind, seal name, date, number and the length of its text.
fn print(dir: &std::path::Path, out: &std::path::Path) -> ExitCode {
    use crate::authoring::{guide_html, sample_notices};
    use crate::domain::notice::chinese_date;
    let catalog = match load(dir) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let clean = |s: &str| s.replace(['\t', '\n'], " ");
    let mut manifest =
        String::from("type\tfile\tkind\tmatter\texample\tseal\tdate\tnumber\tchars\n");
    let mut failed = 0;
    let write = |path: std::path::PathBuf, text: &str| -> bool {
        match std::fs::create_dir_all(path.parent().unwrap_or(out))
            .and_then(|()| std::fs::write(&path, text))
        {
            Ok(()) => true,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                false
            }
        }
    };
    let samples = sample_notices(&catalog);
    for s in &samples {
        let file = format!("notices/{}.html", s.stem());
        match catalog.templates.notice(&s.content, &s.number) {
            Ok(html) => {
                if !write(out.join(&file), &html) {
                    return ExitCode::FAILURE;
                }
                let chars: usize = s
                    .content
                    .paragraphs
                    .iter()
                    .map(|p| p.chars().count())
                    .sum::<usize>()
                    + s.content
                        .items
                        .iter()
                        .map(|i| {
                            i.title.chars().count()
                                + i.detail.chars().count()
                                + i.basis.as_deref().map_or(0, |b| b.chars().count())
                                + i.obtain_from.as_deref().map_or(0, |b| b.chars().count())
                        })
                        .sum::<usize>()
                    + s.content
                        .received
                        .iter()
                        .map(|m| m.name.chars().count() + 12)
                        .sum::<usize>();
                let kind = serde_json::to_value(s.kind())
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                manifest.push_str(&format!(
                    "notice\t{file}\t{kind}\t{}\t{}\t{}\t{}\t{}\t{chars}\n",
                    s.matter,
                    clean(&s.example_name),
                    clean(&s.content.seal),
                    chinese_date(s.content.issued_on),
                    clean(&s.number),
                ));
            }
            Err(e) => {
                failed += 1;
                eprintln!("[{}] {}: {e}", s.matter, s.stem());
            }
        }
    }
    for m in catalog.matters.values() {
        let file = format!("guides/{}.html", m.spec.code);
        match guide_html(&catalog, m) {
            Ok(html) => {
                if !write(out.join(&file), &html) {
                    return ExitCode::FAILURE;
                }
                manifest.push_str(&format!(
                    "guide\t{file}\tguide\t{}\t\t\t\t{}\t0\n",
                    m.spec.code,
                    clean(&m.spec.name)
                ));
            }
            Err(e) => {
                failed += 1;
                eprintln!("[{}] guide: {e}", m.spec.code);
            }
        }
    }
    if !write(out.join("manifest.tsv"), &manifest) {
        return ExitCode::FAILURE;
    }
    out!(
        "rules print: {} notices ({} kinds) and {} guides written to {}; {failed} did not render",
        samples.len(),
        crate::authoring::kinds_of(&samples).len(),
        catalog.matters.len(),
        out.display()
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn open_store(url: &str) -> Option<crate::store::Store> {
    let keys = match operations::keys(None) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            return None;
        }
    };
    let opts = crate::store::StoreOptions {
        pool_size: 1,
        group_commit: false,
        keys: keys.map(std::sync::Arc::new),
        ..Default::default()
    };
    match crate::store::Store::open(url, opts) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("{}: {e}", redact_url(url));
            None
        }
    }
}

/// The store and the cases received in the last `days` days (China Standard Time).
fn period_cases(
    database: &str,
    days: u32,
) -> Option<(
    crate::store::Store,
    chrono::NaiveDate,
    Vec<crate::store::CaseRow>,
)> {
    let store = open_store(database)?;
    let today = crate::app::Clock::today(&crate::app::SystemClock);
    let from = today - chrono::Duration::days(i64::from(days));
    match crate::app::replay::cases_since(&store, from) {
        Ok(cases) => Some((store, from, cases)),
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

/// A database URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn serve(config_file: Option<&std::path::Path>) -> ExitCode {
    let config = match Config::load(config_file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    crate::telemetry::init(config.log_format);
    let app = match crate::app::start(config, std::sync::Arc::new(crate::app::SystemClock)) {
        Ok(a) => std::sync::Arc::new(a),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match std::net::TcpListener::bind(&app.config.bind) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {}: {e}", app.config.bind);
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        address = %app.config.bind,
        database = %redact_url(&app.config.database_url),
        "yichuang listening"
    );
    let workers = app.config.workers;
    // One source of catalog changes: the database in fleet mode, else the rules directory.
    if app.config.fleet_poll_ms > 0 {
        crate::app::start_fleet_sync(&app);
    } else {
        crate::app::start_watcher(&app);
    }
    crate::app::scheduler::start_scheduler(&app);
    crate::app::outbox::start_outbox(&app);
    crate::app::outbox::start_outbox_pruning(&app);
    let result = actix_web::rt::System::new().block_on(async move {
        #[cfg(unix)]
        {
            // `kill -HUP` reloads the tokens file, and the catalog through the same gate.
            let app = app.clone();
            actix_web::rt::spawn(async move {
                use actix_web::rt::signal::unix::{signal, SignalKind};
                let Ok(mut hangups) = signal(SignalKind::hangup()) else {
                    return;
                };
                while hangups.recv().await.is_some() {
                    let a = app.clone();
                    let _ = actix_web::web::block(move || {
                        if let Err(e) = a.reload_users() {
                            tracing::error!(error = %e, "tokens file not reloaded; the users stay as they were");
                        }
                        a.reload("sighup")
                    })
                    .await;
                }
            });
        }
        crate::http::serve(app, listener, workers)?.await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A progress bar on stderr (drawn only on a terminal, so logs and pipes stay clean).
fn progress_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)",
    )
    .map(|s| s.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar
}

/// One line of the tokens file, for `yichuang token new`.
fn token_line(
    user: &str,
    name: &str,
    role: &str,
    unit: &str,
    window: Option<&str>,
    hash: &str,
) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| format!("'{s}'"));
    let window = window.map_or(String::new(), |w| format!(", window: {}", quote(w)));
    format!(
        "  - {{ id: {}, name: {}, role: {role}, unit: {}{window}, token_sha256: {hash} }}",
        quote(user),
        quote(name),
        quote(unit)
    )
}

fn token_new(user: &str, name: &str, role: &str, unit: &str, window: Option<&str>) -> ExitCode {
    if serde_yaml::from_str::<crate::auth::Role>(role).is_err() {
        eprintln!("token new: unknown role '{role}': clerk, agent, approver, supervisor or admin");
        return ExitCode::from(2);
    }
    if user.trim().is_empty() || name.trim().is_empty() || unit.trim().is_empty() {
        eprintln!("token new: --user, --name and --unit must not be empty");
        return ExitCode::from(2);
    }
    let token = match crate::auth::new_token() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("token new: no randomness from the system: {e}");
            return ExitCode::FAILURE;
        }
    };
    let hash = crate::auth::token_hash(&token);
    out!("token (give it to {name}; it is not stored anywhere): {token}");
    out!("line for the tokens file (users:), then `systemctl reload yichuang` or kill -HUP:");
    out!("{}", token_line(user, name, role, unit, window, &hash));
    ExitCode::SUCCESS
}

fn audit_verify(database: Option<String>, config: Option<&std::path::Path>) -> ExitCode {
    let url = match database {
        Some(u) => u,
        None => match Config::load(config) {
            Ok(c) => c.database_url,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
    };
    // Drawn once the database has answered with the number of cases.
    let bar = progress_bar(0, "audit verify");
    bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    let report = crate::store::verify_audit_with(&url, &mut |done, total| {
        if bar.is_hidden() && done == 1 {
            bar.set_length(total);
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("audit verify: {}: {e}", redact_url(&url));
            return ExitCode::from(2);
        }
    };
    let checked = format!(
        "{} cases, {} entries checked ({} from before the chain, not covered)",
        report.cases, report.entries, report.pre_chain_entries
    );
    let Some(first) = report.first_break() else {
        out!("audit verify: intact: {checked}");
        return ExitCode::SUCCESS;
    };
    out!("audit verify: BROKEN: first broken entry: {first}");
    out!("  case:     {}", first.case_id);
    if let Some(id) = first.event_id {
        out!("  entry:    {id}");
    }
    out!("  expected: {}", first.expected);
    out!("  stored:   {}", first.stored);
    for b in report.breaks.iter().skip(1) {
        out!("  also: {b}");
    }
    out!(
        "audit verify: {checked}; {} broken case(s) or entries",
        report.broken
    );
    ExitCode::FAILURE
}

/// `calendar import`: the holiday notice read into `rules/calendar/<year>.yaml`.
fn calendar_import(
    notice: &std::path::Path,
    year: Option<i32>,
    out: Option<PathBuf>,
    force: bool,
) -> ExitCode {
    use crate::authoring::holiday_notice::{parse_for_year, render_checked};
    use std::io::{Read as _, Write as _};
    let text = if notice == std::path::Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map(|_| text)
    } else {
        std::fs::read_to_string(notice)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!("calendar import: cannot read {}: {e}", notice.display());
            return ExitCode::FAILURE;
        }
    };
    let read = parse_for_year(&text, year).and_then(|p| render_checked(&p).map(|y| (p, y)));
    let (plan, yaml) = match read {
        Ok(done) => done,
        Err(e) => {
            eprintln!("calendar import: {}: {e}", notice.display());
            return ExitCode::FAILURE;
        }
    };
    let out = out.unwrap_or_else(|| PathBuf::from(format!("rules/calendar/{}.yaml", plan.year)));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .create_new(!force)
        .open(&out)
        .and_then(|mut f| f.write_all(yaml.as_bytes()));
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "calendar import: {} exists; give --force to overwrite it",
                out.display()
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("calendar import: cannot write {}: {e}", out.display());
            return ExitCode::FAILURE;
        }
    }
    out_raw!("{yaml}");
    for l in plan.left_out() {
        out!(
            "note: {} {}..{} 不在 {} 年内，未写入，请记入该年的文件 / outside {}, not written: add it to that year's file",
            l.what,
            l.from,
            l.to,
            plan.year,
            plan.year
        );
    }
    let file = plan.year_file();
    out!("wrote {}", out.display());
    out!(
        "calendar import: {}: {} holidays, {} make-up working days, {} days off; check with `yichuang rules lint rules/`",
        plan.year,
        file.holidays.len(),
        file.workdays.len(),
        plan.days_off()
    );
    ExitCode::SUCCESS
}

/// Run the command line.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config.as_deref()),
        Command::Token(TokenCommand::New {
            user,
            name,
            role,
            unit,
            window,
        }) => token_new(&user, &name, &role, &unit, window.as_deref()),
        Command::Outbox(cmd) => outbox(cmd),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "yichuang", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Migrate { config } => {
            let config = match Config::load(config.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            match crate::store::migrate(&config.database_url) {
                Ok(()) => {
                    out!("migrations applied to {}", redact_url(&config.database_url));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Rules(RulesCommand::Lint { dir }) => lint(&dir),
        Command::Rules(RulesCommand::Test { dir }) => test(&dir),
        Command::Rules(RulesCommand::Print { dir, out }) => print(&dir, &out),
        Command::Rules(RulesCommand::Guide { dir, code }) => {
            let catalog = match load(&dir) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match catalog.matter(&code) {
                Some(m) => {
                    out_raw!("{}", guide_markdown(&catalog, m));
                    ExitCode::SUCCESS
                }
                None => {
                    eprintln!("未知事项编码 / unknown matter code: {code}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Rules(RulesCommand::Publish { dir, database, by }) => {
            let Some(store) = open_store(&database) else {
                return ExitCode::FAILURE;
            };
            let now = chrono::Utc::now().timestamp_millis();
            match crate::app::publish(&store, &dir, &by, now) {
                Ok((hash, version)) => {
                    out!("published {version} ({hash}); it is now the active version");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Rules(RulesCommand::Activate {
            version,
            database,
            by,
        }) => {
            let Some(store) = open_store(&database) else {
                return ExitCode::FAILURE;
            };
            let versions = match store.catalog_versions() {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let matches: Vec<_> = versions
                .iter()
                .filter(|(hash, declared, _, _)| {
                    (version.len() >= 6 && hash.starts_with(&version)) || *declared == version
                })
                .collect();
            let [(hash, declared, _, _)] = matches.as_slice() else {
                eprintln!(
                    "“{version}” matches {} stored versions; give a longer hash prefix (see `rules versions`)",
                    matches.len()
                );
                return ExitCode::FAILURE;
            };
            match store.record_activation(hash, &by, chrono::Utc::now().timestamp_millis()) {
                Ok(_) => {
                    out!("activated {declared} ({hash})");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Rules(RulesCommand::Impact {
            dir,
            database,
            days,
        }) => {
            let Ok(candidate) = load(&dir) else {
                return ExitCode::FAILURE;
            };
            let Some((_, from, cases)) = period_cases(&database, days) else {
                return ExitCode::FAILURE;
            };
            let total = cases.len();
            let started = std::time::Instant::now();
            let bar = progress_bar(total as u64, "re-assessing");
            let report = crate::app::replay::impact(&candidate, &cases, |done| {
                bar.set_position(done as u64);
            });
            bar.finish_and_clear();
            eprintln!("{total} cases re-assessed in {:.2?}", started.elapsed());
            out!(
                "impact of {} on {} cases since {from}: outcome {} · materials {} · due date {} · route {} · cannot assess {}",
                &report.candidate[..12],
                report.cases,
                report.outcome,
                report.materials,
                report.due,
                report.route,
                report.errors.len()
            );
            for (matter, m) in &report.by_matter {
                if m.outcome + m.materials + m.due + m.route > 0 {
                    out!(
                        "  {matter}: {} cases — outcome {}, materials {}, due {}, route {}",
                        m.cases,
                        m.outcome,
                        m.materials,
                        m.due,
                        m.route
                    );
                    for ex in &m.examples {
                        out!(
                            "    e.g. {} {} → {} ({})",
                            ex.case_id,
                            ex.before,
                            ex.after,
                            ex.changes.join(", ")
                        );
                    }
                }
            }
            for e in report.errors.iter().take(10) {
                out!("  cannot assess: {e}");
            }
            ExitCode::SUCCESS
        }
        Command::Rules(RulesCommand::Replay {
            database,
            days,
            rules,
        }) => {
            let Ok(catalog) = load(&rules) else {
                return ExitCode::FAILURE;
            };
            let Some((store, _, cases)) = period_cases(&database, days) else {
                return ExitCode::FAILURE;
            };
            let registry = crate::app::CatalogRegistry::new(catalog, 0);
            let started = std::time::Instant::now();
            let bar = progress_bar(cases.len() as u64, "replaying");
            let r = crate::app::replay::check_replay(&registry, &store, &cases, |done| {
                bar.set_position(done as u64);
            });
            bar.finish_and_clear();
            out!(
                "replayed {} cases under their own catalog versions in {:.2?}: {} identical, {} different",
                r.cases,
                started.elapsed(),
                r.identical,
                r.different.len()
            );
            for d in &r.different {
                out!("  {d}");
            }
            if r.different.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Rules(RulesCommand::Versions { database }) => {
            let Some(store) = open_store(&database) else {
                return ExitCode::FAILURE;
            };
            let (versions, activations) = match (store.catalog_versions(), store.activations()) {
                (Ok(v), Ok(a)) => (v, a),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let active = activations.first().map(|a| a.hash.clone());
            out!("{:<14} {:<16} {}", "hash", "version", "name");
            for (hash, declared, name, _) in &versions {
                let mark = if active.as_deref() == Some(hash.as_str()) {
                    " (active)"
                } else {
                    ""
                };
                out!(
                    "{:<14} {:<16} {name}{mark}",
                    &hash[..12.min(hash.len())],
                    declared
                );
            }
            out!("activations (newest first):");
            for a in &activations {
                let when = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(a.activated_at)
                    .map_or_else(String::new, |t| t.to_rfc3339());
                out!(
                    "  {when}  {}  by {}",
                    &a.hash[..12.min(a.hash.len())],
                    a.activated_by
                );
            }
            ExitCode::SUCCESS
        }
        Command::Rules(RulesCommand::Diff { old, new }) => {
            let (old, new) = match (load(&old), load(&new)) {
                (Ok(o), Ok(n)) => (o, n),
                _ => return ExitCode::FAILURE,
            };
            out_raw!("{}", crate::authoring::diff_markdown(&old, &new));
            ExitCode::SUCCESS
        }
        Command::Rules(RulesCommand::Schema { kind }) => {
            out!("{}", schema_json(kind));
            ExitCode::SUCCESS
        }
        Command::Audit(AuditCommand::Verify { database, config }) => {
            audit_verify(database, config.as_deref())
        }
        Command::Backup {
            to,
            database,
            config,
        } => operations::backup(database, config.as_deref(), &to),
        Command::PersonalData(c) => operations::personal_data(c),
        Command::Restore {
            from,
            database,
            config,
            force,
        } => operations::restore(database, config.as_deref(), &from, force),
        Command::Archive {
            verify: Some(file), ..
        } => operations::archive_verify(&file),
        Command::Archive {
            before,
            to,
            dry_run,
            database,
            config,
            verify: None,
        } => match before {
            Some(before) => {
                operations::archive(database, config.as_deref(), before, to.as_deref(), dry_run)
            }
            None => {
                eprintln!("archive: --before DATE is required");
                ExitCode::FAILURE
            }
        },
        Command::Calendar(CalendarCommand::Add {
            date,
            days,
            region,
            rules,
        }) => {
            let calendar =
                match crate::domain::calendar::Calendar::load_dir(&rules.join("calendar")) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("calendar: {e}");
                        return ExitCode::FAILURE;
                    }
                };
            match calendar.add_working_days(date, days, region.as_deref()) {
                Ok(d) => {
                    out!("{d}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Calendar(CalendarCommand::Import {
            notice,
            year,
            out,
            force,
        }) => calendar_import(&notice, year, out, force),
    }
}
