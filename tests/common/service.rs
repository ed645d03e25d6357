//! The real `yichuang` binary as county IT runs it: `serve` on a database of the test's own, a
//! small blocking HTTP/1.1 client, the sample intakes, and the other subcommands run as
//! processes. (Used by the backup and archive tests and `examples/backup_load.rs`, each as
//! `#[path = "…/common/service.rs"] mod service;`.)
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The binary under test; outside the tests (examples), `$BIN` or the release build.
pub fn binary() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_yichuang") {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("BIN").map_or_else(
            || {
                let target = std::env::var_os("CARGO_TARGET_DIR")
                    .map_or_else(|| root().join("target"), PathBuf::from);
                target.join("release/yichuang")
            },
            PathBuf::from,
        ),
    }
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `yichuang ARGS` in the repository root, without any `YICHUANG_*` of the caller's.
pub fn yichuang(args: &[&str]) -> Output {
    let mut c = Command::new(binary());
    c.args(args).current_dir(root());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("YICHUANG_") {
            c.env_remove(k);
        }
    }
    c.output().expect("run the yichuang binary")
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Today in China (the service's calendar day).
pub fn today_in_china() -> chrono::NaiveDate {
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    chrono::Utc::now().with_timezone(&cst).date_naive()
}

/// The path of a `sqlite://` URL.
pub fn sqlite_file(url: &str) -> PathBuf {
    PathBuf::from(url.trim_start_matches("sqlite://"))
}

// ---------------------------------------------------------------- the server

pub struct Server {
    child: Child,
    pub addr: String,
}

impl Server {
    /// `yichuang serve` on `database_url` with the sample rules and tokens, a free port, the
    /// watcher and scheduler off; waits for `/readyz`.
    pub fn start(database_url: &str, log: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let log_file = std::fs::File::create(log).unwrap();
        let root = root();
        let child = Command::new(binary())
            .arg("serve")
            .current_dir(&root)
            .env("YICHUANG_BIND", &addr)
            .env("YICHUANG_DATABASE_URL", database_url)
            .env("YICHUANG_RULES_DIR", root.join("rules"))
            .env("YICHUANG_TOKENS_FILE", root.join("config/tokens.yaml"))
            .env("YICHUANG_RELOAD_POLL_MS", "0")
            .env("YICHUANG_SCHEDULER_POLL_MS", "0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start yichuang serve");
        let mut server = Server { child, addr };
        let started = Instant::now();
        let mut http = Http::new(&server.addr);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "serve exited at start ({status}): {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            if http.get("/readyz").is_ok_and(|a| a.status == 200) {
                return server;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "serve did not become ready"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn http(&self) -> Http {
        Http::new(&self.addr)
    }

    /// Stops the server (SIGKILL: what is acknowledged is committed, see the kill test).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- a blocking HTTP/1.1 client

pub struct Http {
    addr: String,
    conn: Option<BufReader<TcpStream>>,
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Http {
    pub fn new(addr: &str) -> Http {
        Http {
            addr: addr.to_string(),
            conn: None,
        }
    }

    pub fn get(&mut self, path: &str) -> std::io::Result<Answer> {
        self.send("GET", path, None, "")
    }

    /// POST a JSON body as the user of `token`.
    pub fn post(&mut self, path: &str, token: &str, body: &Value) -> std::io::Result<Answer> {
        self.send("POST", path, Some(token), &body.to_string())
    }

    /// One request on a kept-alive connection (reconnecting once if the old one was closed).
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> std::io::Result<Answer> {
        let reused = self.conn.is_some();
        match self.exchange(method, path, token, body) {
            Err(_) if reused => {
                self.conn = None;
                self.exchange(method, path, token, body)
            }
            other => other,
        }
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> std::io::Result<Answer> {
        if self.conn.is_none() {
            let s = TcpStream::connect(&self.addr)?;
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            s.set_nodelay(true)?;
            self.conn = Some(BufReader::new(s));
        }
        let r = self.round_trip(method, path, token, body);
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    fn round_trip(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> std::io::Result<Answer> {
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad response");
        let conn = self.conn.as_mut().ok_or_else(bad)?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(t) = token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
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
            .ok_or_else(bad)?;
        let mut length = 0usize;
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
                if k.trim().eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().map_err(|_| bad())?;
                }
            }
        }
        let mut bytes = vec![0; length];
        conn.read_exact(&mut bytes)?;
        Ok(Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    }
}

// ---------------------------------------------------------------- intakes

pub const CLERK: &str = "dev-clerk-baishui";

/// What a 低保 application of the sample catalog is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dibao {
    /// Every material: 受理 (承诺件).
    Complete,
    /// Materials missing: 一次性告知.
    Incomplete,
    /// Owns a vehicle: 不予受理.
    Refused,
}

pub fn dibao(kind: Dibao, n: u64) -> Value {
    let today = today_in_china().to_string();
    let materials = match kind {
        Dibao::Complete => json!([{"id": "application_form", "signed": true}, {"id": "id_cards"},
               {"id": "household_register"}, {"id": "authorization", "signed": true},
               {"id": "income_proof", "issued_on": today}]),
        Dibao::Incomplete => json!([{"id": "application_form", "signed": false}]),
        Dibao::Refused => json!([]),
    };
    json!({"matter": "QS-MZ-001", "application": {
        "applicant": {"kind": "natural_person", "name": format!("李秀英{}", n % 1000),
                      "id_number": "330112195003120017", "phone": "13800001234"},
        "fields": {"household_size": 2, "monthly_income": 1200,
            "owns_vehicle": kind == Dibao::Refused,
            "members": [{"name": "李秀英", "id_number": "330112195003120017", "relation": "本人"},
                        {"name": "王建国", "id_number": "330112194208080042", "relation": "配偶"}],
            "bank_account": "6228480012345678", "address": "青山县白水镇东村3组12号"},
        "materials": materials}})
}

/// Posts an intake; returns the case id and its status, panicking on anything but 201.
pub fn intake(http: &mut Http, body: &Value) -> (String, String) {
    let a = http.post("/api/v1/cases", CLERK, body).expect("intake");
    assert_eq!(a.status, 201, "{}", a.body);
    (
        a.body["case"]["id"].as_str().unwrap().to_string(),
        a.body["case"]["status"].as_str().unwrap().to_string(),
    )
}
