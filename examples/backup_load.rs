//! `yichuang backup` under intake load, measured (the figures of RELIABILITY.md, "Backup under
//! load"): the release binary serves a fresh SQLite database while CLIENTS connections post 低保
//! intakes; after a warm-up that grows the database, SECONDS of load without a backup, then
//! SECONDS with a backup started every EVERY_MS; intake latencies of both phases, each backup's
//! size, copy and verify time and the WAL beside the live database; finally the last backup is
//! restored, `audit verify` run on it, and every intake acknowledged before it began looked for.
//!
//! ```sh
//! cargo build --release && cargo run --release --example backup_load
//! ```
//! Settings: `CLIENTS` (16), `WARMUP` (20 s), `SECONDS` (15 s), `EVERY_MS` (3000); `BIN` the
//! binary (default: the release build).

#[path = "../tests/common/service.rs"]
mod service;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::sql_types::Text;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use service::{dibao, sqlite_file, yichuang, Dibao, Server, CLERK};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone)]
struct Ack {
    case_id: String,
    at: Instant,
    latency: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn describe(name: &str, acks: &[Ack], from: Instant, to: Instant) {
    let mut l: Vec<Duration> = acks
        .iter()
        .filter(|a| a.at >= from && a.at < to)
        .map(|a| a.latency)
        .collect();
    l.sort_unstable();
    let secs = (to - from).as_secs_f64();
    println!(
        "{name:<22} {:>7} intakes {:>7.0}/s  p50 {:>7.1?}  p99 {:>7.1?}  max {:>7.1?}",
        l.len(),
        l.len() as f64 / secs,
        percentile(&l, 0.5),
        percentile(&l, 0.99),
        l.last().copied().unwrap_or_default()
    );
}

fn main() {
    let clients = setting("CLIENTS", 16) as usize;
    let warmup = Duration::from_secs(setting("WARMUP", 20));
    let seconds = Duration::from_secs(setting("SECONDS", 15));
    let every = Duration::from_millis(setting("EVERY_MS", 3000));
    println!("binary: {}", service::binary().display());

    let dir = tempfile::tempdir().expect("a temporary directory");
    let live = format!("sqlite://{}/live.db", dir.path().display());
    let wal = dir.path().join("live.db-wal");
    let server = Server::start(&live, &dir.path().join("server.log"));

    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(Mutex::new(Vec::<Ack>::new()));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let threads: Vec<_> = (0..clients)
        .map(|w| {
            let (addr, stop, acks, errors) = (
                server.addr.clone(),
                stop.clone(),
                acks.clone(),
                errors.clone(),
            );
            std::thread::spawn(move || {
                let mut http = service::Http::new(&addr);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let kind = if n.is_multiple_of(3) {
                        Dibao::Incomplete
                    } else {
                        Dibao::Complete
                    };
                    let sent = Instant::now();
                    match http.post("/api/v1/cases", CLERK, &dibao(kind, n * 100 + w as u64)) {
                        Ok(a) if a.status == 201 => {
                            let at = Instant::now();
                            let case_id = a.body["case"]["id"].as_str().unwrap_or_default().into();
                            if let Ok(mut v) = acks.lock() {
                                v.push(Ack {
                                    case_id,
                                    at,
                                    latency: at - sent,
                                });
                            }
                        }
                        Ok(a) => {
                            if let Ok(mut v) = errors.lock() {
                                v.push(format!("{} {}", a.status, a.body["error"]));
                            }
                        }
                        Err(e) => {
                            if let Ok(mut v) = errors.lock() {
                                v.push(format!("no answer: {e}"));
                            }
                        }
                    }
                }
            })
        })
        .collect();

    let start = Instant::now();
    std::thread::sleep(warmup);
    let quiet_from = Instant::now();
    std::thread::sleep(seconds);
    let busy_from = Instant::now();
    let mut backups = Vec::new();
    let mut i = 0;
    while busy_from.elapsed() < seconds {
        i += 1;
        let file = dir.path().join(format!("backup-{i}.db"));
        let wal_before = std::fs::metadata(&wal).map_or(0, |m| m.len());
        let began = Instant::now();
        let out = yichuang(&[
            "backup",
            "--to",
            file.to_str().unwrap_or_default(),
            "--database",
            &live,
        ]);
        let took = began.elapsed();
        let wal_after = std::fs::metadata(&wal).map_or(0, |m| m.len());
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "backup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        backups.push((file, began, took, wal_before, wal_after, report));
        std::thread::sleep(every.saturating_sub(took));
    }
    let end = Instant::now();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    server.stop();
    let acks = acks.lock().map(|v| v.clone()).unwrap_or_default();
    let errors = errors.lock().map(|v| v.clone()).unwrap_or_default();

    println!(
        "{clients} clients; warm-up {:.0?}: {} intakes acknowledged in all, {} other answers",
        quiet_from - start,
        acks.len(),
        errors.len()
    );
    describe("without backups", &acks, quiet_from, busy_from);
    describe("with backups running", &acks, busy_from, end);
    for (file, began, took, wal_before, wal_after, report) in &backups {
        let during = acks
            .iter()
            .filter(|a| a.at >= *began && a.at <= *began + *took)
            .count();
        let pick = |label: &str| {
            report
                .lines()
                .find(|l| l.trim_start().starts_with(label))
                .map(|l| l.trim().to_string())
                .unwrap_or_default()
        };
        println!(
            "{}: {} | {} | {} | whole command {:.0?}, {during} intakes acknowledged meanwhile | WAL {:.1} → {:.1} MiB",
            file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
            pick("size:"),
            pick("cases:"),
            pick("time:"),
            took,
            *wal_before as f64 / 1048576.0,
            *wal_after as f64 / 1048576.0
        );
    }

    // The last backup restores to a database where audit verify passes and every intake
    // acknowledged before it began is present.
    let Some((last, began, ..)) = backups.last() else {
        println!("no backup was taken");
        return;
    };
    let restored = format!("sqlite://{}/restored.db", dir.path().display());
    let out = yichuang(&[
        "restore",
        "--from",
        last.to_str().unwrap_or_default(),
        "--database",
        &restored,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = yichuang(&["audit", "verify", "--database", &restored]);
    print!("restored: {}", String::from_utf8_lossy(&out.stdout));
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Text)]
        id: String,
    }
    let path = sqlite_file(&restored);
    let mut c = SqliteConnection::establish(path.to_str().unwrap_or_default()).expect("open");
    let ids: std::collections::HashSet<String> = diesel::sql_query("SELECT id FROM cases")
        .load::<Id>(&mut c)
        .expect("read the cases")
        .into_iter()
        .map(|r| r.id)
        .collect();
    let before: Vec<&Ack> = acks.iter().filter(|a| a.at < *began).collect();
    let missing = before.iter().filter(|a| !ids.contains(&a.case_id)).count();
    println!(
        "restored: {} cases; of the {} intakes acknowledged before the last backup began, {missing} missing",
        ids.len(),
        before.len()
    );
    assert_eq!(missing, 0);
    assert!(out.status.success());
}
