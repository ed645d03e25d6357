//! Time the deadline scheduler's sweep and the supervision figures over a year of accepted cases
//! (issue 4's targets: a sweep over the open cases under 1 s when few are due; county-wide
//! figures for a year under 500 ms).
//!
//! `cargo run --release --example handling_timing -- [sqlite|postgres|both] [N]` (default `both`,
//! N = 1,000,000) seeds N accepted cases into a fresh database (a SQLite file in a temporary
//! directory; a PostgreSQL database `yc_bench_<pid>` on `YICHUANG_TEST_PG`, by default
//! `postgres://postgres@127.0.0.1:5432`, created and dropped), then starts the service's `App` on
//! it with a manual clock and times `scheduler::sweep`, `Store::claim_due` and `Store::figures`.
//!
//! The seed, in bulk SQL on a connection of its own (the store has no raw-SQL API, on purpose):
//! - a few dozen real intakes through `app::intake::take` (the first accepted example of each
//!   matter at each of the four centers) serve as templates;
//! - N cases accepted over the 365 days up to "today" (2026-09-15), about 2,700 a day, ids in
//!   time order, each of a catalog matter at one of the templates' centers and decided by the
//!   unit a template names for that matter (see `profiles`). About 70 % are finished: 12 % of
//!   those 即办件 (decided on the day), the others approved, not approved, deemed approved or
//!   terminated after 0–38 days, 8 % late, two thirds rated (3 % 差评, with follow-ups), most
//!   delivered; these get one cancelled due item each and carry a placeholder application and
//!   assessment (`{}`), which the timed paths never read.
//! - About 30 % are open, most of them accepted in the last 65 days: copies of a template case
//!   (its matter, place, deciding unit, application, assessment and every route step, the first
//!   group active), in progress with a step deadline 1–20 days ahead and a case deadline (some
//!   already passed, their case timeout done), or paused under a 特别程序 (their due items
//!   cancelled). Each in-progress case has a pending step-timeout item and, unless overdue, a
//!   pending case-timeout item.
//! - Finally 100 of the pending step timeouts are moved to yesterday: they are due now.
//!
//! SQLite gets a WAL checkpoint after the load and no ANALYZE (the service never runs one);
//! PostgreSQL gets `VACUUM ANALYZE`, as autovacuum would soon after such a bulk insert.
//! `YICHUANG_BENCH_KEEP=1` keeps the seeded database (and prints where) for a closer look.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};
use yichuang::app::intake::{take, Intake};
use yichuang::app::scheduler::sweep;
use yichuang::app::{App, ManualClock};
use yichuang::config::Config;
use yichuang::domain::case::CaseSubject;
use yichuang::domain::handling::DueKind;
use yichuang::domain::route::StepState;
use yichuang::store::fire_at_ms;
use yichuang::store::FigureKey;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// "Today" of the benchmark: the clock stands at 09:00 China time on this day.
fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 9, 15).unwrap_or_default()
}
/// Day offsets are counted from the first day of the year that ends today.
const TODAY: i64 = 364;
/// Step timeouts made due now before each timed sweep that fires.
const DUE_NOW: i64 = 100;
/// Timed repetitions (the median is reported).
const RUNS: usize = 5;

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "both".into());
    let n: i64 = match args.next() {
        Some(a) => a
            .parse()
            .map_err(|_| format!("N must be a number, not {a:?}"))?,
        None => 1_000_000,
    };
    if n < 10_000 {
        return Err("N must be at least 10,000".into());
    }
    let backends: &[&str] = match which.as_str() {
        "sqlite" => &["sqlite"],
        "postgres" => &["postgres"],
        "both" => &["sqlite", "postgres"],
        other => return Err(format!("expected sqlite, postgres or both, not {other:?}").into()),
    };
    // Keep the seeded database for a closer look (EXPLAIN): YICHUANG_BENCH_KEEP=1.
    let keep = std::env::var("YICHUANG_BENCH_KEEP").is_ok_and(|v| v == "1");
    for b in backends {
        match *b {
            "sqlite" => {
                let dir = tempfile::tempdir()?;
                let path = dir.path().join("bench.db");
                let url = format!("sqlite://{}", path.display());
                run(&Db::Sqlite(path.display().to_string()), &url, n)?;
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                println!("(SQLite file: {} MiB)", size >> 20);
                if keep {
                    println!("kept {}", dir.keep().join("bench.db").display());
                }
                println!();
            }
            _ => {
                let base = std::env::var("YICHUANG_TEST_PG")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
                let name = format!("yc_bench_{}", std::process::id());
                let mut admin = PgConnection::establish(&format!("{base}/postgres"))?;
                admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
                admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
                let url = format!("{base}/{name}");
                let r = run(&Db::Pg(url.clone()), &url, n);
                if keep {
                    println!("kept {url}");
                } else {
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
                r?;
                println!();
            }
        }
    }
    Ok(())
}

/// The seeding connection's target.
enum Db {
    Sqlite(String),
    Pg(String),
}

enum Raw {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

impl Raw {
    fn open(db: &Db) -> Res<Raw> {
        Ok(match db {
            Db::Sqlite(p) => {
                let mut c = SqliteConnection::establish(p)?;
                // Only this seeding connection: no fsync per commit, a large page cache. The
                // service's own connections keep their settings (synchronous=FULL).
                c.batch_execute(
                    "PRAGMA busy_timeout = 60000; PRAGMA synchronous = OFF;
                     PRAGMA cache_size = -1000000; PRAGMA temp_store = MEMORY;",
                )?;
                Raw::Sqlite(c)
            }
            Db::Pg(u) => Raw::Pg(PgConnection::establish(u)?),
        })
    }
    fn pg(&self) -> bool {
        matches!(self, Raw::Pg(_))
    }
    fn exec(&mut self, sql: &str) -> Res<()> {
        match self {
            Raw::Sqlite(c) => c.batch_execute(sql)?,
            Raw::Pg(c) => c.batch_execute(sql)?,
        }
        Ok(())
    }
    fn count(&mut self, sql: &str) -> Res<i64> {
        use diesel::sql_types::BigInt;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let q = diesel::sql_query(sql);
        let rows: Vec<N> = match self {
            Raw::Sqlite(c) => diesel::RunQueryDsl::load(q, c)?,
            Raw::Pg(c) => diesel::RunQueryDsl::load(q, c)?,
        };
        Ok(rows.first().map_or(0, |r| r.n))
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Time this thread has spent on a CPU (Linux: /proc/thread-self/schedstat, nanoseconds).
fn thread_cpu_ms() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e6)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run(db: &Db, url: &str, n: i64) -> Res<()> {
    let backend = if matches!(db, Db::Pg(_)) {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("== {backend}, N = {n}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = Config {
        database_url: url.to_string(),
        rules_dir: root.join("rules"),
        tokens_file: root.join("config/tokens.yaml"),
        reload_poll_ms: 0,
        scheduler_poll_ms: 0,
        ..Config::default()
    };
    let clock = Arc::new(ManualClock::at(today()));
    let app = yichuang::app::start(config, clock.clone())?;

    let t = Instant::now();
    let templates = make_templates(&app)?;
    let mut raw = Raw::open(db)?;
    seed(&mut raw, &app, &templates, n)?;
    // The seeded cases carry the sample calendar's dates, as cases taken on it would. Record that,
    // as a running service has after its first pass, so the sweeps timed below are those of a
    // restart on the same calendar; after a calendar change the first sweep visits every open
    // case (BENCHMARKS.md).
    app.store.record_dated_calendar(
        &app.registry.current().calendar.fingerprint(),
        app.clock.now_ms(),
    )?;
    println!(
        "seeded {n} cases ({} templates) in {:.1} s",
        templates.len(),
        t.elapsed().as_secs_f64()
    );
    for (what, sql) in [
        ("cases", "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM cases"),
        (
            "open (in progress or paused)",
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM case_parts WHERE status IN ('in_progress', 'paused')",
        ),
        ("case_steps", "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM case_steps"),
        ("due_items", "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM due_items"),
        (
            "pending due_items",
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM due_items WHERE state = 'pending'",
        ),
        (
            "matter codes",
            "SELECT CAST(COUNT(DISTINCT track) AS BIGINT) AS n FROM case_parts",
        ),
        (
            "deciding units",
            "SELECT CAST(COUNT(DISTINCT decider_unit) AS BIGINT) AS n FROM case_parts",
        ),
        (
            "deciding levels",
            "SELECT CAST(COUNT(DISTINCT decider_level) AS BIGINT) AS n FROM case_parts",
        ),
        (
            "places (center, window)",
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM (SELECT DISTINCT center_id, window_id FROM case_parts) AS p",
        ),
    ] {
        println!("  {what}: {}", raw.count(sql)?);
    }

    // ------------------------------------------------------------ the scheduler
    let now = app.clock.now_ms();
    let due_sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM due_items WHERE state = 'pending' AND fire_at <= {now}"
    );
    // claim_due alone, on the 100 due items. Taken at now - 1 ms with a zero lease, so the
    // lease has already run out when the sweep below looks at now.
    let t = Instant::now();
    let claimed = app.store.claim_due(now - 1, "bench-claim", 0, 200)?;
    let claim_due_100 = ms(t.elapsed());
    println!(
        "claim_due with {} due: {claim_due_100:.2} ms",
        claimed.len()
    );

    let mut firing = Vec::new();
    for round in 0..RUNS as i64 {
        if round > 0 {
            arm_due_now(&mut raw, round)?;
        }
        let due = raw.count(&due_sql)?;
        let t = Instant::now();
        let r = sweep(&app)?;
        let took = ms(t.elapsed());
        let mut what = std::collections::BTreeMap::<&str, usize>::new();
        for a in &r.actions {
            *what
                .entry(a.split(' ').nth(1).unwrap_or_default())
                .or_default() += 1;
        }
        println!(
            "sweep with {due} due: {took:.1} ms (claimed {}, fired {}, closed {}, failed {}: {what:?})",
            r.claimed, r.fired, r.closed, r.failed
        );
        if r.failed > 0 || r.claimed as i64 != due {
            return Err(format!("sweep did not carry out the {due} due items: {r:?}").into());
        }
        firing.push(took);
    }
    let mut idle = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let r = sweep(&app)?;
        idle.push(ms(t.elapsed()));
        if r.claimed != 0 {
            return Err(format!("an idle sweep claimed {}", r.claimed).into());
        }
    }
    let mut claim_idle = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let c = app.store.claim_due(now, "bench-claim", 60_000, 200)?;
        claim_idle.push(ms(t.elapsed()));
        if !c.is_empty() {
            return Err("claim_due found due items after the sweeps".into());
        }
    }
    println!(
        "sweep firing the due items: median {:.1} ms; nothing due: median {:.2} ms; claim_due, nothing due: median {:.2} ms (of {RUNS} each)",
        median(firing),
        median(idle),
        median(claim_idle)
    );

    // ------------------------------------------------------------ the figures
    let from = (today() - chrono::Days::new(TODAY as u64)).to_string();
    let to = today().to_string();
    for (name, key) in [
        ("all", FigureKey::All),
        ("township", FigureKey::Township),
        ("matter", FigureKey::Matter),
        ("department", FigureKey::Department),
    ] {
        let t = Instant::now();
        let rows = app.store.figures(key, &from, &to, None, &to)?;
        let first = ms(t.elapsed());
        let (mut times, mut cpu) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let (t, c) = (Instant::now(), thread_cpu_ms());
            app.store.figures(key, &from, &to, None, &to)?;
            times.push(ms(t.elapsed()));
            cpu.extend(thread_cpu_ms().zip(c).map(|(b, a)| b - a));
        }
        // SQLite runs the query on this thread: its time on a CPU shows what waiting for one
        // (other processes on the machine) added to the wall time.
        let on_cpu = match (backend, cpu.len()) {
            ("SQLite", RUNS) => format!(", {:.0} ms on CPU", median(cpu)),
            _ => String::new(),
        };
        let received: i64 = rows.iter().map(|r| r.received).sum();
        println!(
            "figures by {name:<10} {from}..{to}: median {:.0} ms{on_cpu} (first {first:.0} ms), {} rows, {received} received",
            median(times),
            rows.len()
        );
    }
    drop(app);
    Ok(())
}

/// A template: a real accepted case with an active step, and where it was taken and decided.
struct Template {
    case_id: String,
    matter: String,
    center: String,
    township: Option<String>,
    window: Option<String>,
    decider: String,
    level: String,
}

/// The first accepted (not immediate) example of every matter at every center that takes it.
fn make_templates(app: &App) -> Res<Vec<Template>> {
    let catalog = app.registry.current();
    let mut out = Vec::new();
    for clerk in [
        "dev-clerk-county",
        "dev-clerk-baishui",
        "dev-clerk-qingshi",
        "dev-clerk-dongguan",
    ] {
        let users = app.users();
        let user = users
            .authenticate(clerk)
            .ok_or_else(|| format!("no user {clerk}"))?;
        for (code, m) in &catalog.matters {
            for ex in &m.spec.examples {
                let req = Intake {
                    subject: CaseSubject::Matter(code.clone()),
                    channel: None,
                    window: None,
                    application: ex.application.clone(),
                };
                let Ok(r) = take(app, user, &req, None) else {
                    continue;
                };
                let id = r.case.id.clone();
                if r.case.outcome != "accepted_promised" {
                    continue;
                }
                let h = app.store.handling(&id)?;
                let due = app.store.due_items_of_case(&id)?;
                let active = h.steps.iter().any(|s| s.state == StepState::Active);
                let step_due = due.iter().any(|d| d.item.kind == DueKind::StepTimeout);
                if let (true, true, Some(p)) = (active, step_due, h.parts.first()) {
                    out.push(Template {
                        case_id: id,
                        matter: p.track.clone(),
                        center: r.case.center_id.clone(),
                        township: r.case.township.clone(),
                        window: r.case.window_id.clone(),
                        decider: p.decider.to_string(),
                        level: serde_json::to_value(p.decider_level)?
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    });
                    break;
                }
            }
        }
    }
    if out.is_empty() {
        return Err("no example of the catalog is accepted with an active step".into());
    }
    Ok(out)
}

/// Where finished cases were taken and decided: every matter of the catalog at every center
/// the templates were taken at, decided by the unit a template of that matter at that center
/// names, else by a county-level template of the matter, else by any template of it; matters
/// without a template go to a county department (of those the templates name) by position.
fn profiles<'a>(templates: &[Template], matters: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut places: Vec<(&str, Option<&str>, Option<&str>)> = templates
        .iter()
        .map(|t| {
            (
                t.center.as_str(),
                t.township.as_deref(),
                t.window.as_deref(),
            )
        })
        .collect();
    places.sort_unstable();
    places.dedup();
    let mut county: Vec<&str> = templates
        .iter()
        .filter(|t| t.level == "county")
        .map(|t| t.decider.as_str())
        .collect();
    county.sort_unstable();
    county.dedup();
    let opt = |v: Option<&str>| v.map_or_else(|| "NULL".to_string(), q);
    let mut out = Vec::new();
    for (m, code) in matters.enumerate() {
        for &(center, township, window) in &places {
            let of_matter = || templates.iter().filter(|t| &t.matter == code);
            let (decider, level) = of_matter()
                .find(|t| t.center == center)
                .or_else(|| of_matter().find(|t| t.level == "county"))
                .or_else(|| of_matter().next())
                .map_or((county[m % county.len()], "county"), |t| {
                    (t.decider.as_str(), t.level.as_str())
                });
            out.push(format!(
                "({}, {}, {}, {}, {}, {}, {})",
                out.len(),
                q(center),
                opt(township),
                opt(window),
                q(code),
                q(decider),
                q(level)
            ));
        }
    }
    out
}

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn seed(raw: &mut Raw, app: &App, templates: &[Template], n: i64) -> Res<()> {
    let pg = raw.pg();
    let catalog = app.registry.current();
    let int = if pg { "BIGINT" } else { "INTEGER" };

    // Lookup tables (temporary, this connection only).
    let start = today() - chrono::Days::new(TODAY as u64);
    let mut days = Vec::new();
    for d in 0..=520u64 {
        let day = start + chrono::Days::new(d);
        let at = day
            .and_hms_opt(1, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_millis());
        days.push(format!(
            "({d}, {}, {at}, {})",
            q(&day.to_string()),
            fire_at_ms(day)
        ));
    }
    let tpl: Vec<String> = templates
        .iter()
        .enumerate()
        .map(|(k, t)| format!("({k}, {})", q(&t.case_id)))
        .collect();
    let profiles = profiles(templates, catalog.matters.keys());
    let seq = if pg {
        format!("INSERT INTO bench_seq (i) SELECT generate_series(1, {n});")
    } else {
        format!(
            "INSERT INTO bench_seq (i) WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s;"
        )
    };
    raw.exec(&format!(
        "CREATE TEMP TABLE bench_days (d {int} PRIMARY KEY, day TEXT NOT NULL, at_ms BIGINT NOT NULL, fire BIGINT NOT NULL);
         INSERT INTO bench_days VALUES {days};
         CREATE TEMP TABLE bench_tpl (k {int} PRIMARY KEY, case_id TEXT NOT NULL);
         INSERT INTO bench_tpl VALUES {tpl};
         CREATE TEMP TABLE bench_profile (k {int} PRIMARY KEY, center_id TEXT NOT NULL,
           township TEXT, window_id TEXT, matter_code TEXT NOT NULL, decider_unit TEXT NOT NULL,
           decider_level TEXT NOT NULL);
         INSERT INTO bench_profile VALUES {profile};
         CREATE TEMP TABLE bench_seq (i {int} PRIMARY KEY);
         {seq}",
        days = days.join(","),
        tpl = tpl.join(","),
        profile = profiles.join(","),
    ))?;
    raw.exec(
        "-- The templates' texts and steps, so the inserts below never read the table they
         -- write.
         CREATE TEMP TABLE bench_tpl_case AS
           SELECT c.id, c.application, c.assessment FROM cases c JOIN bench_tpl t ON t.case_id = c.id;
         CREATE TEMP TABLE bench_tpl_steps AS
           SELECT s.* FROM case_steps s JOIN bench_tpl t ON t.case_id = s.case_id;",
    )?;
    let (nt, np) = (templates.len(), profiles.len());

    // The plan: one row per case with every attribute decided. h1..h8 are independent-looking
    // pseudo-random numbers in 0..1,000,003 (multiplicative hashes of i).
    let hashes = [
        7_919i64,
        104_729,
        1_299_709,
        15_485_863,
        32_452_843,
        49_979_687,
        67_867_967,
        86_028_121,
        2_038_074_743,
    ]
    .iter()
    .enumerate()
    .map(|(k, p)| format!("(i * {p}) % 1000003 AS h{k}"))
    .collect::<Vec<_>>()
    .join(", ");
    raw.exec(&format!(
        "CREATE TEMP TABLE bench_p1 AS
           SELECT i, 'BENCH-' || (100000000 + i) AS id, ((i - 1) * 365) / {n} AS a, {hashes}
           FROM bench_seq;
         CREATE TEMP TABLE bench_p2 AS
           SELECT s.*,
             CASE WHEN (a >= 300 AND h0 % 100 < 90) OR (a < 300 AND h0 % 100 < 17) THEN 1 ELSE 0 END AS o
           FROM bench_p1 s;
         CREATE TEMP TABLE bench_p3 AS
           SELECT s.*,
             CASE WHEN o = 0 AND h1 % 100 < 12 THEN 1 ELSE 0 END AS imm,
             CASE WHEN o = 1 AND a < 300 AND h1 % 100 < 70 THEN 1 ELSE 0 END AS paused,
             -- days from acceptance to decision (finished cases; 8 % late)
             CASE WHEN o = 1 OR h1 % 100 < 12 OR h4 % 100 < 4 THEN 0
                  WHEN h5 % 100 >= 92 THEN 29 + h4 % 10
                  ELSE 1 + (h4 * 7) % 28 END AS dd
           FROM bench_p2 s;
         CREATE TEMP TABLE bench_plan AS
           SELECT s.i, s.id, s.a, s.o, s.imm, s.paused, s.h2, s.h3, s.h6,
             CASE WHEN s.a + s.dd > {TODAY} THEN {TODAY} ELSE s.a + s.dd END AS doff,
             CASE WHEN s.dd <= 28 THEN 1 ELSE 0 END AS on_time,
             -- delivered 0–4 days after the decision (即办件 on the spot), if that has come
             CASE WHEN s.o = 0 AND NOT (s.h2 % 100 >= 96 AND s.imm = 0)
                   AND s.a + s.dd + (1 - s.imm) * (s.h2 % 5) <= {TODAY}
                  THEN s.a + s.dd + (1 - s.imm) * (s.h2 % 5) END AS deliv,
             (s.dd * 5) / 7 AS days_used,
             CASE WHEN s.o = 1 THEN NULL WHEN s.imm = 1 THEN 'approved'
                  WHEN s.h2 % 100 < 88 THEN 'approved' WHEN s.h2 % 100 < 94 THEN 'disapproved'
                  WHEN s.h2 % 100 < 96 THEN 'deemed_approved' ELSE 'terminated' END AS decision,
             -- the promised date (offset): finished 28 days after acceptance; open: recent ones
             -- 14–53 days after acceptance (some passed), older ones extended to 1–30 days ahead
             CASE WHEN s.imm = 1 THEN NULL
                  WHEN s.o = 0 OR s.paused = 1 THEN s.a + 28
                  WHEN s.a >= 300 THEN s.a + 14 + s.h2 % 40
                  ELSE {TODAY} + 1 + s.h2 % 30 END AS due,
             CASE WHEN s.o = 1 AND s.paused = 0 AND s.a < 300 THEN 1 ELSE 0 END AS extended,
             {TODAY} + 1 + s.h3 % 20 AS sdue,
             CASE WHEN s.h6 % 100 < 2 THEN 1 WHEN s.h6 % 100 < 3 THEN 2 WHEN s.h6 % 100 < 10 THEN 3
                  WHEN s.h6 % 100 < 30 THEN 4 ELSE 5 END AS rating,
             CASE WHEN s.o = 1 THEN t.case_id END AS tpl,
             COALESCE(th.center_id, f.center_id) AS center_id,
             CASE WHEN s.o = 1 THEN th.township ELSE f.township END AS township,
             CASE WHEN s.o = 1 THEN th.window_id ELSE f.window_id END AS window_id,
             COALESCE(th.track, f.matter_code) AS matter_code,
             COALESCE(th.decider_unit, f.decider_unit) AS decider_unit,
             COALESCE(th.decider_level, f.decider_level) AS decider_level
           FROM bench_p3 s
           JOIN bench_tpl t ON t.k = s.h7 % {nt}
           LEFT JOIN case_parts th ON s.o = 1 AND th.case_id = t.case_id
           JOIN bench_profile f ON f.k = s.h8 % {np};
         CREATE UNIQUE INDEX bench_plan_i ON bench_plan (i);"
    ))?;

    let hash = q(&catalog.hash);
    let stmts = [
        // cases: open ones copy their template's application and assessment.
        format!(
            "INSERT INTO cases (id, matter_code, bundle_code, status, outcome, center_id, township,
               village, window_id, channel, clerk_id, agent_id, applicant_kind, applicant_name,
               applicant_id_number, catalog_hash, application, assessment, due_date, received_on,
               created_at, updated_at, row_version)
             SELECT p.id, p.matter_code, NULL,
               CASE WHEN p.o = 1 AND p.paused = 1 THEN 'paused' WHEN p.o = 1 THEN 'accepted'
                    WHEN p.imm = 1 THEN 'completed' WHEN p.decision = 'terminated' THEN 'terminated'
                    WHEN dl.day IS NOT NULL THEN 'delivered' ELSE 'decided' END,
               CASE WHEN p.imm = 1 THEN 'accepted_immediate' ELSE 'accepted_promised' END,
               p.center_id, p.township, NULL, p.window_id, 'window', 'bench', NULL,
               'natural_person', '申请人', NULL, {hash},
               COALESCE(c.application, '{{}}'), COALESCE(c.assessment, '{{}}'),
               du.day, ac.day, ac.at_ms, ac.at_ms, 1
             FROM bench_plan p
             JOIN bench_days ac ON ac.d = p.a
             LEFT JOIN bench_days du ON du.d = p.due
             LEFT JOIN bench_days dl ON dl.d = p.deliv
             LEFT JOIN bench_tpl_case c ON c.id = p.tpl
             ORDER BY p.i"
        ),
        "INSERT INTO case_parts (case_id, track, center_id, township, window_id, status,
               supplement_notices, decider_unit, decider_level, immediate, accepted_on,
               due_days, due_date, statutory_days, statutory_due, warn_days, warn_on, pause,
               paused_days, extensions, escalated, decision, decided_on, on_time, days_used,
               delivery_due, delivered_on, delivery, rating, updated_at)
             SELECT p.id, p.matter_code, p.center_id, p.township, p.window_id,
               CASE WHEN p.o = 1 AND p.paused = 1 THEN 'paused' WHEN p.o = 1 THEN 'in_progress'
                    WHEN p.decision = 'terminated' THEN 'terminated' ELSE 'decided' END,
               0, p.decider_unit, p.decider_level, p.imm, ac.day,
               CASE WHEN du.day IS NOT NULL THEN 20 END, du.day,
               CASE WHEN st.day IS NOT NULL THEN 30 END, st.day,
               CASE WHEN wa.day IS NOT NULL THEN 16 END, wa.day,
               CASE WHEN p.paused = 1 THEN
                 '{\"kind\":\"inspection\",\"reason\":\"现场核查\",\"started_on\":\"' || ac.day ||
                 '\",\"expected_end\":\"' || du.day || '\",\"by\":\"bench\"}' END,
               0, p.extended, 0,
               p.decision, CASE WHEN p.o = 0 THEN dc.day END,
               CASE WHEN p.o = 0 THEN p.on_time END, CASE WHEN p.o = 0 THEN p.days_used END,
               CASE WHEN p.o = 0 AND p.decision <> 'terminated' THEN dld.day END,
               dl.day,
               CASE WHEN dl.day IS NOT NULL THEN
                 '{\"method\":\"window_pickup\",\"originals_checked\":true,\"by\":\"bench\",\"on\":\"' || dl.day || '\",\"within_limit\":true}' END,
               CASE WHEN p.o = 0 AND p.decision <> 'terminated' AND p.h6 % 3 < 2 THEN p.rating END,
               ac.at_ms
             FROM bench_plan p
             JOIN bench_days ac ON ac.d = p.a
             JOIN bench_days dc ON dc.d = p.doff
             JOIN bench_days dld ON dld.d = p.doff + 14
             LEFT JOIN bench_days du ON du.d = p.due
             LEFT JOIN bench_days st ON st.d = p.due + 10
             LEFT JOIN bench_days wa ON wa.d = p.due - 3
             LEFT JOIN bench_days dl ON dl.d = p.deliv
             ORDER BY p.i"
            .to_string(),
        // The case's own rating (一事一评), with the follow-up of a 差评.
        format!(
            "INSERT INTO ratings (case_id, subject, level, comment, rated_on, rated_by,
               followup_due, followup_closed_on, followup_closed_by, followup_note,
               followup_callback, created_at)
             SELECT p.id, 'case', p.rating,
               CASE WHEN p.rating <= 2 THEN '办理时间太长' END, dc.day, 'bench',
               CASE WHEN p.rating <= 2 THEN fu.day END,
               CASE WHEN p.rating <= 2 AND p.doff + 7 < {TODAY} THEN fu.day END,
               CASE WHEN p.rating <= 2 AND p.doff + 7 < {TODAY} THEN 'bench' END,
               CASE WHEN p.rating <= 2 AND p.doff + 7 < {TODAY} THEN '已回访并整改' END,
               NULL, ac.at_ms
             FROM bench_plan p
             JOIN bench_days ac ON ac.d = p.a
             JOIN bench_days dc ON dc.d = p.doff
             JOIN bench_days fu ON fu.d = p.doff + 7
             WHERE p.o = 0 AND p.decision <> 'terminated' AND p.h6 % 3 < 2
             ORDER BY p.i"
        ),
        // Every step of the template's route; the active ones started on acceptance.
        "INSERT INTO case_steps (id, case_id, track, seq, group_no, step_key, name, role, unit_id,
               unit_name, level, state, days, started_on, due_date, warn_on, allow_countersign,
               refusal_decides, timeout_policy, acted_by, acted_on, comment, basis, created_at,
               updated_at)
             SELECT p.id || substr(s.id, length(s.case_id) + 1), p.id, s.track, s.seq, s.group_no,
               s.step_key, s.name, s.role, s.unit_id, s.unit_name, s.level, s.state, s.days,
               CASE WHEN s.state = 'active' THEN ac.day END,
               CASE WHEN s.state = 'active' THEN sd.day END,
               CASE WHEN s.state = 'active' THEN sw.day END,
               s.allow_countersign, s.refusal_decides, s.timeout_policy, NULL, NULL, NULL, NULL,
               ac.at_ms, ac.at_ms
             FROM bench_plan p
             JOIN bench_tpl_steps s ON s.case_id = p.tpl
             JOIN bench_days ac ON ac.d = p.a
             JOIN bench_days sd ON sd.d = p.sdue
             JOIN bench_days sw ON sw.d = p.sdue - 2
             WHERE p.o = 1
             ORDER BY p.i, s.seq"
            .to_string(),
        // Step timeouts of the active steps (cancelled while paused).
        "INSERT INTO due_items (case_id, step_id, track, kind, due_on, fire_at, state)
             SELECT p.id, p.id || substr(s.id, length(s.case_id) + 1), s.track, 'step_timeout', sd.day,
               sd.fire, CASE WHEN p.paused = 1 THEN 'cancelled' ELSE 'pending' END
             FROM bench_plan p
             JOIN bench_tpl_steps s ON s.case_id = p.tpl AND s.state = 'active'
             JOIN bench_days sd ON sd.d = p.sdue
             WHERE p.o = 1
             ORDER BY p.i, s.seq"
            .to_string(),
        // Case timeouts: pending ahead, done when the promised date has passed, cancelled for
        // paused and finished cases.
        format!(
            "INSERT INTO due_items (case_id, step_id, track, kind, due_on, fire_at, state, done_at,
               done_by)
             SELECT p.id, NULL, p.matter_code, 'part_timeout', du.day, du.fire,
               CASE WHEN p.o = 0 OR p.paused = 1 THEN 'cancelled'
                    WHEN p.due >= {TODAY} THEN 'pending' ELSE 'done' END,
               CASE WHEN p.o = 1 AND p.paused = 0 AND p.due < {TODAY} THEN du.fire END,
               CASE WHEN p.o = 1 AND p.paused = 0 AND p.due < {TODAY} THEN 'bench' END
             FROM bench_plan p
             JOIN bench_days du ON du.d = p.due
             ORDER BY p.i"
        ),
    ];
    raw.exec("BEGIN")?;
    for s in &stmts {
        let t = Instant::now();
        raw.exec(s)?;
        let table = s.split_whitespace().nth(2).unwrap_or_default().to_string();
        println!("  inserted {table} in {:.1} s", t.elapsed().as_secs_f64());
    }
    raw.exec("COMMIT")?;
    raw.exec(
        "DROP TABLE bench_plan; DROP TABLE bench_p3; DROP TABLE bench_p2; DROP TABLE bench_p1;",
    )?;
    arm_due_now(raw, 0)?;
    let t = Instant::now();
    if pg {
        raw.exec("VACUUM ANALYZE")?;
    } else {
        raw.exec("PRAGMA wal_checkpoint(TRUNCATE)")?;
    }
    println!(
        "  {} in {:.1} s",
        if pg { "VACUUM ANALYZE" } else { "checkpoint" },
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Make 100 pending step timeouts due now (their deadline was yesterday): round `r` takes a
/// different 100, spread over the open cases.
fn arm_due_now(raw: &mut Raw, r: i64) -> Res<()> {
    let yesterday = today() - chrono::Days::new(1);
    let (day, fire) = (q(&yesterday.to_string()), fire_at_ms(yesterday));
    let pick = format!(
        "SELECT id FROM due_items
         WHERE kind = 'step_timeout' AND state = 'pending' AND fire_at > {fire} AND id % 997 = {r}
         ORDER BY id LIMIT {DUE_NOW}"
    );
    raw.exec(&format!(
        "CREATE TEMP TABLE bench_arm AS {pick};
         UPDATE case_steps SET due_date = {day}
           WHERE id IN (SELECT step_id FROM due_items WHERE id IN (SELECT id FROM bench_arm));
         UPDATE due_items SET due_on = {day}, fire_at = {fire}
           WHERE id IN (SELECT id FROM bench_arm);
         DROP TABLE bench_arm;"
    ))?;
    Ok(())
}
