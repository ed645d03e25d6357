//! Durable intakes per second through `Store::commit_intake` from 32 threads.
//!
//! ```text
//! cargo run --release --example store_throughput -- [N] [--no-group-commit] [--url URL]
//! ```
//! Default: N = 20000 intakes into a fresh SQLite file (WAL, synchronous=FULL) under the system
//! temp dir, which is removed afterwards. `--url postgres://…/db` measures an existing
//! (migrated on open) PostgreSQL database instead; its rows are left in place.

use std::time::Instant;

use yichuang::store::{CaseRow, NewEvent, NewIntake, NewNotice, RequestKey, Store, StoreOptions};

const THREADS: usize = 32;

fn intake(run: &str, n: usize) -> NewIntake {
    let id = format!("{run}-{n}");
    NewIntake {
        case: CaseRow {
            id: id.clone(),
            matter_code: "MZ-001".into(),
            bundle_code: None,
            status: "accepted".into(),
            outcome: "accept".into(),
            center_id: "baishui".into(),
            township: Some("baishui".into()),
            village: None,
            window_id: Some("w1".into()),
            channel: "window".into(),
            clerk_id: "clerk-1".into(),
            agent_id: None,
            applicant_kind: "person".into(),
            applicant_name: "张三".into(),
            applicant_id_number: Some("110101199003074514".into()),
            catalog_hash: "h1".into(),
            application: r#"{"fields":{"name":"张三","household":3,"income":1200}}"#.into(),
            assessment: r#"{"outcome":"accept","missing":[]}"#.into(),
            due_date: Some("2026-12-10".into()),
            received_on: "2026-11-22".into(),
            created_at: 1_763_800_000_000,
            updated_at: 1_763_800_000_000,
            row_version: 1,
        },
        notices: vec![NewNotice {
            id: format!("{id}-n"),
            kind: yichuang::domain::notice::NoticeKind::Acceptance,
            // A series of its own per run: (center, kind, year).
            center_id: format!("baishui-{run}"),
            year: 2026,
            number_prefix: format!("白水镇政务〔2026〕受字第{run}-"),
            issued_on: "2026-11-22".into(),
            content: r#"{"text":"受理通知书"}"#.into(),
            result_series: None,
        }],
        events: vec![NewEvent {
            seal: None,
            actor: "clerk-1".into(),
            action: yichuang::domain::handling::EventKind::Intake,
            catalog_hash: "h1".into(),
            detail: "{}".into(),
        }],
        idempotency: Some(RequestKey {
            user_id: "clerk-1".into(),
            key: id,
            request_hash: "hash".into(),
        }),
        lifecycle: None,
    }
}

fn main() {
    let mut n: usize = 20_000;
    let mut group_commit = true;
    let mut url: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--no-group-commit" => group_commit = false,
            "--url" => url = args.next(),
            other => match other.parse() {
                Ok(v) => n = v,
                Err(_) => {
                    eprintln!("usage: store_throughput [N] [--no-group-commit] [--url URL]");
                    std::process::exit(2);
                }
            },
        }
    }
    let run = format!("r{}", std::process::id());
    let tmp = std::env::temp_dir().join(format!("yc-throughput-{run}"));
    let url = url.unwrap_or_else(|| format!("sqlite://{}/yc.db", tmp.display()));

    let store = match Store::open(
        &url,
        StoreOptions {
            group_commit,
            pool_size: THREADS as u32,
            ..StoreOptions::default()
        },
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot open {url}: {e}");
            std::process::exit(1);
        }
    };

    let start = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            let run = run.clone();
            std::thread::spawn(move || {
                let mut errors = 0usize;
                let mut i = t;
                while i < n {
                    if let Err(e) = store.commit_intake(intake(&run, i)) {
                        if errors == 0 {
                            eprintln!("intake {i} failed: {e}");
                        }
                        errors += 1;
                    }
                    i += THREADS;
                }
                errors
            })
        })
        .collect();
    let errors: usize = handles.into_iter().map(|h| h.join().unwrap_or(n)).sum();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:?} group_commit={group_commit} threads={THREADS} intakes={n} errors={errors} \
         {secs:.2}s {:.0} intakes/s",
        store.backend(),
        (n - errors.min(n)) as f64 / secs
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&tmp);
}
