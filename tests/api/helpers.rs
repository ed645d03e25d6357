//! Spawning the real service on a random port (SQLite file or a fresh PostgreSQL database) and
//! talking to it over HTTP with awc.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use chrono::NaiveDate;
use serde_json::{json, Value};
use yichuang::app::ManualClock;
use yichuang::config::Config;

pub use crate::common::{copy_dir, edit, PgDb};

pub const CLERK_BAISHUI: &str = "dev-clerk-baishui";
pub const CLERK_QINGSHI: &str = "dev-clerk-qingshi";
pub const CLERK_DONGGUAN: &str = "dev-clerk-dongguan";
pub const CLERK_COUNTY: &str = "dev-clerk-county";
pub const AGENT_DONGCUN: &str = "dev-agent-dongcun";
pub const APPROVER_CIVIL: &str = "dev-approver-civil";
pub const APPROVER_HEALTH: &str = "dev-approver-health";
pub const APPROVER_BAISHUI_AGRI: &str = "dev-approver-baishui-agri";
pub const APPROVER_BAISHUI_PLANNING: &str = "dev-approver-baishui-planning";
pub const APPROVER_MARKET: &str = "dev-approver-market";
pub const APPROVER_MEDICAL: &str = "dev-approver-medical";
pub const SUPERVISOR_COUNTY: &str = "dev-supervisor-county";
pub const SUPERVISOR_BAISHUI: &str = "dev-supervisor-baishui";
pub const ADMIN: &str = "dev-admin";

/// Which database the service runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `#[actix_web::test] async fn <sqlite>()` and `<postgres>()` for each behaviour
/// `async fn <name>(app: &TestApp)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident => $sqlite:ident, $postgres:ident;)*) => {
        $(
            #[actix_web::test]
            async fn $sqlite() {
                let app = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await;
                $name(&app).await;
            }
            #[actix_web::test]
            async fn $postgres() {
                let app = $crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await;
                $name(&app).await;
            }
        )*
    };
}

/// As `on_both_backends!`, on a service whose settings `adjust: fn(&mut Config)` changes:
/// `name(adjust) => sqlite_test, postgres_test;`.
#[macro_export]
macro_rules! on_both_backends_configured {
    ($($name:ident($adjust:expr) => $sqlite:ident, $postgres:ident;)*) => {
        $(
            #[actix_web::test]
            async fn $sqlite() {
                let app = $crate::helpers::spawn_app_configured(
                    $crate::helpers::Backend::Sqlite,
                    $adjust,
                )
                .await;
                $name(&app).await;
            }
            #[actix_web::test]
            async fn $postgres() {
                let app = $crate::helpers::spawn_app_configured(
                    $crate::helpers::Backend::Postgres,
                    $adjust,
                )
                .await;
                $name(&app).await;
            }
        )*
    };
}

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------- databases

/// Keeps the temp dir / database alive as long as the server.
pub enum Place {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Pg(#[allow(dead_code)] PgDb),
}

// ---------------------------------------------------------------- the app

/// A running service on a random local port.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub backend: Backend,
    /// The database the service runs on.
    pub database_url: String,
    /// Move the day with `app.clock.set_day(...)`.
    pub clock: Arc<ManualClock>,
    pub client: awc::Client,
    handle: ServerHandle,
    // Declared last so the server is told to stop before its database goes.
    _place: Place,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command now; the returned future only waits for completion.
        drop(self.handle.stop(false));
    }
}

/// An HTTP answer: status, headers, the body as JSON (Null when it is not JSON) and as text.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// Asserts the status and the error shape `{"error","message","details"}` with a non-empty
    /// Chinese message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_error_shape(self);
        assert_eq!(self.body["error"], code, "{}", self.text);
    }

    pub fn case_id(&self) -> String {
        self.body["case"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no case id in {}", self.text))
            .to_string()
    }

    pub fn notice_numbers(&self) -> Vec<String> {
        self.body["notices"]
            .as_array()
            .unwrap_or_else(|| panic!("no notices in {}", self.text))
            .iter()
            .map(|n| n["number"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn notice_kinds(&self) -> Vec<String> {
        self.body["notices"]
            .as_array()
            .unwrap_or_else(|| panic!("no notices in {}", self.text))
            .iter()
            .map(|n| n["kind"].as_str().unwrap().to_string())
            .collect()
    }
}

/// The error shape: exactly `error`, `message`, `details`; a code; a message with Chinese text.
#[track_caller]
pub fn assert_error_shape(r: &Resp) {
    let obj = r
        .body
        .as_object()
        .unwrap_or_else(|| panic!("error body is not a JSON object: {:?} {}", r.status, r.text));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["details", "error", "message"], "{}", r.text);
    assert!(
        r.body["error"].as_str().is_some_and(|s| !s.is_empty()),
        "{}",
        r.text
    );
    let msg = r.body["message"].as_str().unwrap_or_default();
    assert!(
        msg.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "message should be Chinese: {}",
        r.text
    );
    let ct = r.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, manifest_dir().join("rules"), 0).await
}

/// A service on its own rules directory; `watch_ms` > 0 also starts the directory watcher.
pub async fn spawn_app_with(
    backend: Backend,
    rules_dir: std::path::PathBuf,
    watch_ms: u64,
) -> TestApp {
    spawn_app_configured(backend, |c| {
        c.rules_dir = rules_dir;
        c.reload_poll_ms = watch_ms;
    })
    .await
}

/// A service on the sample catalog with settings changed by `adjust`; a `reload_poll_ms` > 0
/// also starts the directory watcher.
pub async fn spawn_app_configured(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let (database_url, place) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/yc.db", dir.path().display());
            (url, Place::Sqlite(dir))
        }
        Backend::Postgres => {
            let db = PgDb::new("yc_api");
            (db.url.clone(), Place::Pg(db))
        }
    };
    let root = manifest_dir();
    let mut config = Config {
        database_url: database_url.clone(),
        rules_dir: root.join("rules"),
        tokens_file: root.join("config/tokens.yaml"),
        reload_poll_ms: 0,
        ..Config::default()
    };
    adjust(&mut config);
    let clock = Arc::new(ManualClock::at(day(2026, 3, 2)));
    let app = Arc::new(yichuang::app::start(config, clock.clone()).expect("the service starts"));
    yichuang::app::start_watcher(&app);
    yichuang::app::outbox::start_outbox(&app);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = yichuang::http::serve(app, listener, Some(2)).unwrap();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .connector(awc::Connector::new().limit(0))
        .finish();
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        backend,
        database_url,
        clock,
        client,
        handle,
        _place: place,
    }
}

pub async fn finish(
    mut res: awc::ClientResponse<
        impl futures_util::Stream<
                Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>,
            > + Unpin,
    >,
) -> Resp {
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.body().limit(16 << 20).await.expect("response body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
        text,
    }
}

impl TestApp {
    /// The PostgreSQL database the service runs on (None on SQLite).
    pub fn pg_db(&self) -> Option<&PgDb> {
        match &self._place {
            Place::Pg(db) => Some(db),
            Place::Sqlite(_) => None,
        }
    }

    /// `audit verify` on the service's database: every hash chain must be intact.
    #[track_caller]
    pub fn assert_audit_intact(&self) -> yichuang::store::audit::AuditReport {
        let r = yichuang::store::verify_audit(&self.database_url).expect("audit verify runs");
        assert!(r.intact(), "{r:?}");
        r
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    fn with_token(&self, req: awc::ClientRequest, token: Option<&str>) -> awc::ClientRequest {
        match token {
            Some(t) => req.insert_header(("Authorization", format!("Bearer {t}"))),
            None => req,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        let req = self.with_token(self.client.get(self.url(path)), token);
        finish(req.send().await.expect("GET is answered")).await
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
        extra_headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.with_token(self.client.post(self.url(path)), token);
        for (k, v) in extra_headers {
            req = req.insert_header((*k, *v));
        }
        finish(req.send_json(body).await.expect("POST is answered")).await
    }

    /// POST raw bytes with the given content type (malformed JSON, odd escapes, big bodies).
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> Resp {
        let req = self
            .with_token(self.client.post(self.url(path)), token)
            .insert_header(("Content-Type", content_type));
        finish(req.send_body(body.into()).await.expect("POST is answered")).await
    }

    /// POST /api/v1/cases for one matter.
    pub async fn intake(&self, token: &str, matter: &str, application: &Value) -> Resp {
        self.post_json(
            "/api/v1/cases",
            Some(token),
            &json!({ "matter": matter, "application": application }),
            &[],
        )
        .await
    }

    /// The total of GET /api/v1/cases for this user.
    pub async fn case_total(&self, token: &str) -> i64 {
        let r = self.get("/api/v1/cases", Some(token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["total"].as_i64().unwrap()
    }
}

// ---------------------------------------------------------------- fixtures from the rules

/// The `application:` block of example `index` of a rule file, as the JSON request body part.
pub fn example_application(file: &str, index: usize) -> Value {
    let path = manifest_dir().join("rules").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let doc: Value = serde_yaml::from_str(&text).unwrap();
    let app = doc["examples"][index]["application"].clone();
    assert!(app.is_object(), "{file} has no example {index}");
    app
}

pub const DIBAO: &str = "QS-MZ-001";
pub const DIBAO_FILE: &str = "matters/mz-dibao.yaml";
pub const GETIHU: &str = "QS-SC-001";
pub const GETIHU_FILE: &str = "matters/sc-getihu-sheli.yaml";
pub const WEISHENG_FILE: &str = "matters/ws-gonggong-changsuo.yaml";
pub const BARBERSHOP: &str = "QS-YJS-BARBERSHOP";

/// QS-MZ-001 complete application at baishui (accepted_promised, due 2026-03-30 on 2026-03-02).
pub fn dibao_complete() -> Value {
    example_application(DIBAO_FILE, 0)
}

/// QS-MZ-001 with six defects at once.
pub fn dibao_defective() -> Value {
    example_application(DIBAO_FILE, 1)
}

/// A supplement (补正) with everything the defective QS-MZ-001 example lacks.
pub fn dibao_full_supplement() -> Value {
    json!({
        "fields": { "household_size": 2 },
        "materials": [
            { "id": "application_form", "signed": true },
            { "id": "household_register" },
            { "id": "authorization", "signed": true },
            { "id": "disability_certificate" },
            { "id": "income_proof", "issued_on": "2026-02-20" }
        ]
    })
}

/// The id of the active step of `unit` in a progress document.
pub fn active_step(progress: &Value, unit: &str) -> String {
    progress["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == "active" && s["unit"] == unit)
        .unwrap_or_else(|| panic!("no active step for {unit}: {progress}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The actions of a case's audit history, oldest first (read as the admin).
pub async fn history_actions(app: &TestApp, case: &str) -> Vec<String> {
    let r = app
        .get(&format!("/api/v1/cases/{case}/history"), Some(ADMIN))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

/// The same complete QS-MZ-001 application for another applicant (distinct bodies).
pub fn dibao_complete_named(name: &str) -> Value {
    let mut a = dibao_complete();
    a["applicant"]["name"] = json!(name);
    a
}

/// The titles of a notice's items, without the 补正期限 line that ends every one-time notice
/// (`supplement::a_one_time_notice_lapses` checks that line).
pub fn item_titles(notice: &Value) -> Vec<String> {
    notice["content"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("notice without items: {notice}"))
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .filter(|t| t != "补正期限")
        .collect()
}

/// The ids of the defects in a (matter) assessment.
pub fn defect_ids(assessment: &Value) -> Vec<String> {
    assessment["defects"]
        .as_array()
        .unwrap_or_else(|| panic!("assessment without defects: {assessment}"))
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}
