//! The kill test: intake load against the real `yichuang serve` binary, `kill -9` mid-load,
//! restart, and check the database after every restart. Shared by `examples/kill_test` (the full
//! form, `scripts/kill_test.sh`) and `tests/kill.rs` (the short form in the test suite).
//!
//! The load client records every acknowledged intake (201 or an idempotent replay: case id and
//! notice numbers) and every request in flight when the server died. After each restart it first
//! retries the in-flight requests with their idempotency keys (a replay means the intake had
//! committed before the kill; a 201 means it had not), then checks in the database:
//! every acknowledged case is there with its notices (by number), its audit entry and its
//! idempotency key; no case anywhere lacks any of those (no half-written case); document numbers
//! are unique and, per series, exactly 1..=n with n the series counter (no gaps); and
//! `audit verify` finds every hash chain intact.
//!
//! The service also has a subscriber of every event (issue 15): a receiver bound by the harness
//! that lives across the kills. At the end, every committed event has its delivery row, nothing
//! arrived that was not committed, duplicates (a delivery in flight at a kill is sent again)
//! carry the same id and body, each case's events first arrived in order; and, with
//! `drain_secs`, every committed event arrived.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Integer, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use serde_json::{json, Value};

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub binary: PathBuf,
    /// The repository root (rules/ and config/tokens.yaml).
    pub root: PathBuf,
    pub database_url: String,
    pub cycles: u32,
    /// Concurrent client connections.
    pub clients: usize,
    /// The kill comes at a random moment in this window after the load started.
    pub kill_after_ms: (u64, u64),
    /// Where the server's log goes; the subscriber's config file is written beside it.
    pub log: PathBuf,
    /// After the last restart, wait up to this long for the outbox to be delivered to the
    /// receiver, then check every committed event arrived (0: no wait; the events received are
    /// still checked). A delivery in flight at a kill stays leased to the dead process for the
    /// lease time (a minute), so this wait is for the full form.
    pub drain_secs: u64,
}

/// What the run saw.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub cycles: u32,
    /// Intakes acknowledged to the client (each checked after every later restart).
    pub acknowledged: usize,
    /// Requests in flight when the server was killed.
    pub in_flight: usize,
    /// Of those, the ones whose retry was a replay (they had committed before the kill).
    pub in_flight_committed: usize,
    /// Cases, notices and number series in the database at the last check.
    pub cases: usize,
    pub notices: usize,
    pub series: usize,
    /// Responses other than 201/200 during the load (a dying server gives none).
    pub unexpected_responses: usize,
    /// Time from starting the binary to `/readyz` answering 200, per restart (ms).
    pub ready_ms: Vec<u128>,
    /// Outbox events committed, received by the subscriber (distinct ids; all requests), and
    /// whether the wait for the whole outbox to be delivered ended with nothing undelivered.
    pub events: usize,
    pub events_received: usize,
    pub deliveries_received: usize,
    pub drained: Option<bool>,
    /// Everything found wrong; empty when the run passed.
    pub violations: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ready = self.ready_ms.clone();
        ready.sort_unstable();
        writeln!(f, "kill cycles survived:        {}", self.cycles)?;
        writeln!(f, "acknowledged intakes:        {}", self.acknowledged)?;
        writeln!(
            f,
            "in flight at the kills:      {} ({} had committed, replayed on retry)",
            self.in_flight, self.in_flight_committed
        )?;
        writeln!(
            f,
            "checked at the last restart: {} cases, {} notices, {} number series",
            self.cases, self.notices, self.series
        )?;
        writeln!(
            f,
            "unexpected responses:        {}",
            self.unexpected_responses
        )?;
        if let (Some(min), Some(max)) = (ready.first(), ready.last()) {
            writeln!(
                f,
                "start to ready:              {min}–{max} ms (median {} ms)",
                ready[ready.len() / 2]
            )?;
        }
        writeln!(
            f,
            "outbox events:               {} committed, {} received ({} requests; duplicates carry the same id and body){}",
            self.events,
            self.events_received,
            self.deliveries_received,
            match self.drained {
                Some(true) => ", every one delivered",
                Some(false) => ", NOT all delivered in time",
                None => " (no wait for the rest)",
            }
        )?;
        write!(f, "violations:                  {}", self.violations.len())?;
        for v in self.violations.iter().take(20) {
            write!(f, "\n  {v}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- a minimal HTTP/1.1 client

struct Http {
    addr: String,
    conn: Option<BufReader<TcpStream>>,
}

struct Answer {
    status: u16,
    replayed: bool,
    body: Value,
}

impl Http {
    fn new(addr: &str) -> Http {
        Http {
            addr: addr.to_string(),
            conn: None,
        }
    }

    /// One request on a kept-alive connection; an error means no answer (the server is gone).
    fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<Answer> {
        if self.conn.is_none() {
            let s = TcpStream::connect(&self.addr)?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            s.set_nodelay(true)?;
            self.conn = Some(BufReader::new(s));
        }
        let r = self.exchange(method, path, headers, body);
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<Answer> {
        let broken = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad response");
        let conn = self.conn.as_mut().ok_or_else(broken)?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        conn.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(broken)?;
        let mut length = 0usize;
        let mut replayed = false;
        loop {
            line.clear();
            if conn.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if k == "content-length" {
                    length = v.trim().parse().map_err(|_| broken())?;
                } else if k == "idempotent-replayed" {
                    replayed = v.trim() == "true";
                }
            }
        }
        let mut bytes = vec![0; length];
        conn.read_exact(&mut bytes)?;
        Ok(Answer {
            status,
            replayed,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    }
}

// ---------------------------------------------------------------- load

/// One intake request: its idempotency key and body.
#[derive(Debug, Clone)]
struct Intake {
    key: String,
    body: String,
}

/// An acknowledged intake.
#[derive(Debug, Clone)]
struct Ack {
    case_id: String,
    numbers: Vec<String>,
}

fn today_in_china() -> String {
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("a valid offset");
    chrono::Utc::now()
        .with_timezone(&cst)
        .date_naive()
        .to_string()
}

/// A complete 低保 application (→ 受理通知书) or one with materials missing (→ 一次性告知书),
/// so two number series grow at once.
fn intake_body(complete: bool, today: &str, n: u64) -> String {
    let materials = if complete {
        json!([{"id": "application_form", "signed": true}, {"id": "id_cards"},
               {"id": "household_register"}, {"id": "authorization", "signed": true},
               {"id": "income_proof", "issued_on": today}])
    } else {
        json!([{"id": "application_form", "signed": false}])
    };
    json!({"matter": "QS-MZ-001", "application": {
        "applicant": {"kind": "natural_person", "name": format!("李秀英{}", n % 1000),
                      "id_number": "330112195003120017", "phone": "13800001234"},
        "fields": {"household_size": 2, "monthly_income": 1200, "owns_vehicle": false,
            "members": [{"name": "李秀英", "id_number": "330112195003120017", "relation": "本人"},
                        {"name": "王建国", "id_number": "330112194208080042", "relation": "配偶"}],
            "bank_account": "6228480012345678", "address": "青山县白水镇东村3组12号"},
        "materials": materials}})
    .to_string()
}

fn post_intake(http: &mut Http, i: &Intake) -> std::io::Result<Answer> {
    http.send(
        "POST",
        "/api/v1/cases",
        &[
            ("Authorization", "Bearer dev-clerk-baishui"),
            ("Idempotency-Key", &i.key),
        ],
        &i.body,
    )
}

fn ack_of(a: &Answer) -> Option<Ack> {
    let case_id = a.body["case"]["id"].as_str()?.to_string();
    let numbers = a.body["notices"]
        .as_array()?
        .iter()
        .filter_map(|n| n["number"].as_str().map(str::to_string))
        .collect();
    Some(Ack { case_id, numbers })
}

#[derive(Default)]
struct CycleResult {
    acks: Vec<Ack>,
    in_flight: Vec<Intake>,
    unexpected: Vec<String>,
}

/// Runs `clients` loops posting intakes until one fails to get an answer (the server is gone)
/// or `stop` is set.
fn load(
    addr: &str,
    clients: usize,
    cycle: u32,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<CycleResult>> {
    let today = today_in_china();
    (0..clients)
        .map(|w| {
            let addr = addr.to_string();
            let stop = stop.clone();
            let today = today.clone();
            std::thread::spawn(move || {
                let mut http = Http::new(&addr);
                let mut out = CycleResult::default();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let i = Intake {
                        key: format!("kill-{cycle}-{w}-{n}"),
                        body: intake_body(!n.is_multiple_of(3), &today, n),
                    };
                    match post_intake(&mut http, &i) {
                        Ok(a) if a.status == 201 => match ack_of(&a) {
                            Some(ack) => out.acks.push(ack),
                            None => out
                                .unexpected
                                .push(format!("201 without a case: {}", a.body)),
                        },
                        Ok(a) => out
                            .unexpected
                            .push(format!("{} {}", a.status, a.body["error"])),
                        Err(_) => {
                            out.in_flight.push(i);
                            break;
                        }
                    }
                }
                out
            })
        })
        .collect()
}

// ---------------------------------------------------------------- the subscriber's receiver

/// The subscriber: a real HTTP server on a port of its own that answers 204 to every POST and
/// keeps, in arrival order, each delivery's event id (`X-Yichuang-Event-Id`) and a hash of its
/// body. It lives across the kills, as a provincial platform would.
struct Receiver {
    port: u16,
    got: Arc<std::sync::Mutex<Vec<(String, u64)>>>,
}

impl Receiver {
    fn start() -> std::io::Result<Receiver> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let got: Arc<std::sync::Mutex<Vec<(String, u64)>>> = Arc::default();
        let shared = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let got = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve_deliveries(stream, &got);
                });
            }
        });
        Ok(Receiver { port, got })
    }

    fn received(&self) -> Vec<(String, u64)> {
        self.got.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

fn serve_deliveries(
    stream: TcpStream,
    got: &std::sync::Mutex<Vec<(String, u64)>>,
) -> std::io::Result<()> {
    use std::hash::{Hash, Hasher};
    let mut conn = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let (mut length, mut id) = (0usize, String::new());
        loop {
            line.clear();
            if conn.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    "x-yichuang-event-id" => id = v.trim().to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        conn.read_exact(&mut body)?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        body.hash(&mut h);
        if let Ok(mut g) = got.lock() {
            g.push((id, h.finish()));
        }
        conn.get_mut()
            .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")?;
    }
}

/// The subscriber's config file, beside the server log.
fn write_subscriber_config(plan: &Plan, port: u16) -> Result<PathBuf, String> {
    let path = plan.log.with_file_name("kill-subscriber.yaml");
    let yaml = format!(
        "subscribers:\n  - name: {SUBSCRIBER}\n    url: http://127.0.0.1:{port}/events\n    events: [\"*\"]\n    profile: native\n    secret: \"kill-test-secret-0123456789\"\n    timeout_ms: 2000\n    backoff_ms: 200\n    backoff_max_ms: 2000\n"
    );
    std::fs::write(&path, yaml).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

const SUBSCRIBER: &str = "kill-receiver";

// ---------------------------------------------------------------- the server

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Server {
    child: Child,
    addr: String,
}

fn start_server(plan: &Plan, config: &std::path::Path) -> Result<(Server, u128), String> {
    let port = free_port().map_err(|e| e.to_string())?;
    let addr = format!("127.0.0.1:{port}");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&plan.log)
        .map_err(|e| format!("{}: {e}", plan.log.display()))?;
    let err_log = log.try_clone().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let child = Command::new(&plan.binary)
        .arg("serve")
        .arg("--config")
        .arg(config)
        .current_dir(&plan.root)
        .env("YICHUANG_BIND", &addr)
        .env("YICHUANG_DATABASE_URL", &plan.database_url)
        .env("YICHUANG_RULES_DIR", plan.root.join("rules"))
        .env("YICHUANG_TOKENS_FILE", plan.root.join("config/tokens.yaml"))
        .env("YICHUANG_RELOAD_POLL_MS", "0")
        .env("YICHUANG_FLEET_POLL_MS", "0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", plan.binary.display()))?;
    let mut server = Server { child, addr };
    let mut http = Http::new(&server.addr);
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!(
                "the server exited at start: {status} (see {})",
                plan.log.display()
            ));
        }
        if http
            .send("GET", "/readyz", &[], "")
            .is_ok_and(|a| a.status == 200)
        {
            return Ok((server, started.elapsed().as_millis()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = server.child.kill();
    let _ = server.child.wait();
    Err(format!(
        "the server did not become ready (see {})",
        plan.log.display()
    ))
}

impl Server {
    /// SIGKILL: no shutdown code runs.
    fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- checks

#[derive(QueryableByName)]
struct CaseCounts {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = BigInt)]
    notices: i64,
    #[diesel(sql_type = BigInt)]
    events: i64,
    #[diesel(sql_type = BigInt)]
    keys: i64,
}

#[derive(QueryableByName)]
struct NoticeLine {
    #[diesel(sql_type = Text)]
    case_id: String,
    #[diesel(sql_type = Text)]
    number: String,
    #[diesel(sql_type = Text)]
    center_id: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Integer)]
    year: i32,
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

#[derive(QueryableByName)]
struct Counter {
    #[diesel(sql_type = Text)]
    center_id: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    year: i64,
    #[diesel(sql_type = BigInt)]
    last_seq: i64,
}

const CASES_SQL: &str = "SELECT c.id AS id, \
    (SELECT COUNT(*) FROM notices n WHERE n.case_id = c.id) AS notices, \
    (SELECT COUNT(*) FROM case_events e WHERE e.case_id = c.id) AS events, \
    (SELECT COUNT(*) FROM idempotency_keys k WHERE k.case_id = c.id) AS keys FROM cases c";
const NOTICES_SQL: &str = "SELECT case_id, number, center_id, kind, year, seq FROM notices";
const COUNTERS_SQL: &str = "SELECT center_id, kind, year, last_seq FROM document_counters";

type Rows = (Vec<CaseCounts>, Vec<NoticeLine>, Vec<Counter>);

fn read_rows(url: &str) -> Result<Rows, String> {
    macro_rules! all {
        ($c:expr) => {
            (|| -> diesel::QueryResult<Rows> {
                Ok((
                    diesel::sql_query(CASES_SQL).load($c)?,
                    diesel::sql_query(NOTICES_SQL).load($c)?,
                    diesel::sql_query(COUNTERS_SQL).load($c)?,
                ))
            })()
            .map_err(|e| e.to_string())
        };
    }
    let r = match url.strip_prefix("sqlite://") {
        Some(path) => SqliteConnection::establish(path)
            .map_err(|e| e.to_string())
            .and_then(|mut c| all!(&mut c)),
        None => PgConnection::establish(url)
            .map_err(|e| e.to_string())
            .and_then(|mut c| all!(&mut c)),
    };
    r.map_err(|e| format!("reading the database: {e}"))
}

/// Checks the database against everything acknowledged so far.
fn check(url: &str, acks: &[Ack], report: &mut Report) -> Result<(), String> {
    let (cases, notices, counters) = read_rows(url)?;
    let v = &mut report.violations;
    let by_id: HashMap<&str, &CaseCounts> = cases.iter().map(|c| (c.id.as_str(), c)).collect();
    for c in &cases {
        if c.notices == 0 || c.events == 0 || c.keys != 1 {
            v.push(format!(
                "half-written case {}: {} notices, {} audit entries, {} idempotency keys",
                c.id, c.notices, c.events, c.keys
            ));
        }
    }
    let mut owner: HashMap<&str, &str> = HashMap::new();
    let mut series: BTreeMap<(&str, &str, i64), Vec<i64>> = BTreeMap::new();
    for n in &notices {
        if owner
            .insert(n.number.as_str(), n.case_id.as_str())
            .is_some()
        {
            v.push(format!("number {} is used twice", n.number));
        }
        series
            .entry((n.center_id.as_str(), n.kind.as_str(), i64::from(n.year)))
            .or_default()
            .push(n.seq);
    }
    for a in acks {
        if !by_id.contains_key(a.case_id.as_str()) {
            v.push(format!("acknowledged case {} is missing", a.case_id));
        }
        for number in &a.numbers {
            if owner.get(number.as_str()) != Some(&a.case_id.as_str()) {
                v.push(format!(
                    "acknowledged number {number} of case {} is missing or elsewhere",
                    a.case_id
                ));
            }
        }
    }
    let counter: HashMap<(&str, &str, i64), i64> = counters
        .iter()
        .map(|c| ((c.center_id.as_str(), c.kind.as_str(), c.year), c.last_seq))
        .collect();
    for (key, seqs) in &mut series {
        seqs.sort_unstable();
        let n = seqs.len() as i64;
        if seqs.iter().copied().ne(1..=n) {
            let missing: Vec<i64> = (1..=n)
                .filter(|s| seqs.binary_search(s).is_err())
                .take(5)
                .collect();
            v.push(format!(
                "series {key:?} has gaps (missing e.g. {missing:?})"
            ));
        }
        if counter.get(key) != Some(&n) {
            v.push(format!(
                "series {key:?}: {n} notices but the counter says {:?}",
                counter.get(key)
            ));
        }
    }
    match yichuang::store::verify_audit(url) {
        Ok(r) if r.intact() => {}
        Ok(r) => v.push(format!(
            "audit chain broken: {}",
            r.first_break().map(ToString::to_string).unwrap_or_default()
        )),
        Err(e) => v.push(format!("audit verify failed: {e}")),
    }
    report.cases = cases.len();
    report.notices = notices.len();
    report.series = series.len();
    Ok(())
}

#[derive(QueryableByName)]
struct OutboxEvent {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    case_id: String,
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = BigInt)]
    deliveries: i64,
    #[diesel(sql_type = BigInt)]
    undelivered: i64,
}

fn outbox_sql() -> String {
    format!(
        "SELECT e.id AS id, e.case_id AS case_id, e.seq AS seq, \
         (SELECT COUNT(*) FROM outbox_deliveries d WHERE d.event_id = e.id AND d.subscriber = '{SUBSCRIBER}') AS deliveries, \
         (SELECT COUNT(*) FROM outbox_deliveries d WHERE d.event_id = e.id AND d.subscriber = '{SUBSCRIBER}' AND d.state <> 'delivered') AS undelivered \
         FROM outbox_events e"
    )
}

fn read_outbox(url: &str) -> Result<Vec<OutboxEvent>, String> {
    let sql = outbox_sql();
    let r = match url.strip_prefix("sqlite://") {
        Some(path) => SqliteConnection::establish(path)
            .map_err(|e| e.to_string())
            .and_then(|mut c| {
                diesel::sql_query(&sql)
                    .load(&mut c)
                    .map_err(|e| e.to_string())
            }),
        None => PgConnection::establish(url)
            .map_err(|e| e.to_string())
            .and_then(|mut c| {
                diesel::sql_query(&sql)
                    .load(&mut c)
                    .map_err(|e| e.to_string())
            }),
    };
    r.map_err(|e| format!("reading the outbox: {e}"))
}

/// Checks what the subscriber received against the committed outbox: every committed event has
/// its delivery row; nothing was received that was not committed; a duplicate carries the same
/// body as the first; each case's events first arrived in order (1, 2, 3, …); with `all`, every
/// committed event arrived.
fn check_outbox(
    events: &[OutboxEvent],
    received: &[(String, u64)],
    all: bool,
    report: &mut Report,
) {
    let v = &mut report.violations;
    let committed: HashMap<&str, (&str, i64)> = events
        .iter()
        .map(|e| (e.id.as_str(), (e.case_id.as_str(), e.seq)))
        .collect();
    for e in events.iter().filter(|e| e.deliveries != 1) {
        v.push(format!(
            "event {} has {} deliveries to the subscriber",
            e.id, e.deliveries
        ));
    }
    let mut first: HashMap<&str, u64> = HashMap::new();
    let mut next_seq: HashMap<&str, i64> = HashMap::new();
    for (id, body) in received {
        let Some(&(case, seq)) = committed.get(id.as_str()) else {
            v.push(format!("received event {id:?}, which was never committed"));
            continue;
        };
        match first.get(id.as_str()) {
            Some(b) if b != body => {
                v.push(format!("event {id} arrived twice with different bodies"))
            }
            Some(_) => {}
            None => {
                first.insert(id.as_str(), *body);
                let expected = next_seq.entry(case).or_insert(1);
                if seq != *expected {
                    v.push(format!(
                        "case {case}: event {seq} arrived first where {} was due",
                        *expected
                    ));
                }
                *expected = seq + 1;
            }
        }
    }
    if all {
        let missing: Vec<&str> = events
            .iter()
            .filter(|e| !first.contains_key(e.id.as_str()))
            .map(|e| e.id.as_str())
            .take(5)
            .collect();
        if !missing.is_empty() {
            v.push(format!(
                "committed events never delivered, e.g. {missing:?}"
            ));
        }
    }
    report.events = events.len();
    report.events_received = first.len();
    report.deliveries_received = received.len();
}

/// Waits up to `secs` for every delivery to the subscriber to be delivered.
fn drain(url: &str, secs: u64) -> Result<(bool, Vec<OutboxEvent>), String> {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        let events = read_outbox(url)?;
        let left: i64 = events.iter().map(|e| e.undelivered).sum();
        if left == 0 || Instant::now() >= until {
            return Ok((left == 0, events));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

// ---------------------------------------------------------------- the run

/// A small deterministic generator for the kill moments (seeded from the clock).
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Retries the requests that were in flight at the kill with their idempotency keys.
fn retry_in_flight(addr: &str, pending: Vec<Intake>, acks: &mut Vec<Ack>, report: &mut Report) {
    let mut http = Http::new(addr);
    for i in pending {
        match post_intake(&mut http, &i) {
            Ok(a) if a.status == 200 || a.status == 201 => match ack_of(&a) {
                Some(ack) => {
                    if a.replayed {
                        report.in_flight_committed += 1;
                    }
                    acks.push(ack);
                }
                None => report
                    .violations
                    .push(format!("retry of {}: no case in {}", i.key, a.body)),
            },
            Ok(a) => report
                .violations
                .push(format!("retry of {}: {} {}", i.key, a.status, a.body)),
            Err(e) => report.violations.push(format!("retry of {}: {e}", i.key)),
        }
    }
}

/// Runs the whole plan; `progress` gets one line per cycle.
pub fn run(plan: &Plan, mut progress: impl FnMut(&str)) -> Result<Report, String> {
    let mut report = Report::default();
    let mut acks: Vec<Ack> = Vec::new();
    let mut pending: Vec<Intake> = Vec::new();
    let mut seed = u64::from(std::process::id())
        ^ (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64))
        | 1;
    let receiver = Receiver::start().map_err(|e| format!("the receiver: {e}"))?;
    let config = write_subscriber_config(plan, receiver.port)?;
    for cycle in 0..=plan.cycles {
        let (server, ready_ms) = start_server(plan, &config)?;
        if cycle > 0 {
            report.ready_ms.push(ready_ms);
        }
        retry_in_flight(
            &server.addr,
            std::mem::take(&mut pending),
            &mut acks,
            &mut report,
        );
        check(&plan.database_url, &acks, &mut report)?;
        if cycle == plan.cycles {
            let (drained, events) = if plan.drain_secs > 0 {
                let (done, events) = drain(&plan.database_url, plan.drain_secs)?;
                (Some(done), events)
            } else {
                (None, read_outbox(&plan.database_url)?)
            };
            server.kill_9();
            report.drained = drained;
            check_outbox(
                &events,
                &receiver.received(),
                drained.is_some(),
                &mut report,
            );
            if drained == Some(false) {
                report.violations.push(format!(
                    "the outbox was not delivered within {} s",
                    plan.drain_secs
                ));
            }
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let workers = load(&server.addr, plan.clients, cycle, stop.clone());
        let (lo, hi) = plan.kill_after_ms;
        let wait = lo + next_random(&mut seed) % (hi.saturating_sub(lo) + 1);
        std::thread::sleep(Duration::from_millis(wait));
        server.kill_9();
        stop.store(true, Ordering::Relaxed);
        let before = acks.len();
        for w in workers {
            let r = w.join().map_err(|_| "a load thread panicked".to_string())?;
            acks.extend(r.acks);
            report.in_flight += r.in_flight.len();
            pending.extend(r.in_flight);
            report.unexpected_responses += r.unexpected.len();
            report.violations.extend(
                r.unexpected
                    .into_iter()
                    .map(|u| format!("unexpected response: {u}")),
            );
        }
        report.cycles = cycle + 1;
        progress(&format!(
            "cycle {}: killed after {wait} ms, {} intakes acknowledged, {} in flight; {} checked so far, {} violations",
            cycle + 1,
            acks.len() - before,
            pending.len(),
            acks.len(),
            report.violations.len()
        ));
    }
    report.acknowledged = acks.len();
    let distinct: HashSet<&str> = acks.iter().map(|a| a.case_id.as_str()).collect();
    if distinct.len() != acks.len() {
        report.violations.push(format!(
            "{} acknowledgements for {} cases",
            acks.len(),
            distinct.len()
        ));
    }
    Ok(report)
}
