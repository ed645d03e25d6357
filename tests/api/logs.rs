//! No personal data in the logs: the real `yichuang serve` binary runs with `RUST_LOG=trace`, its
//! output captured to a file, while intakes, supplements, notices, searches and malformed
//! requests carry real-looking ID numbers, names, phones, addresses and bank accounts (in bodies,
//! query strings, paths and headers). None of them may appear in the log, plain or
//! percent-encoded.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use yichuang::domain::id_number::id_check_char;

use crate::helpers::*;

/// An 18-digit ID number with its check character.
fn id_number(first17: &str) -> String {
    format!("{first17}{}", id_check_char(first17).unwrap())
}

struct Person {
    name: &'static str,
    id: String,
}

/// Everything personal the run sends, by what it is.
struct Secrets {
    applicant: Person,
    spouse: Person,
    phone: &'static str,
    address: &'static str,
    new_address: &'static str,
    bank_account: &'static str,
    /// An ID number with a wrong check character (still someone's number, mistyped).
    mistyped_id: String,
}

impl Secrets {
    fn new() -> Self {
        let applicant = id_number("33011219680615242");
        let mut mistyped_id = applicant.clone();
        let last = if mistyped_id.ends_with('1') { '2' } else { '1' };
        mistyped_id.pop();
        mistyped_id.push(last);
        Self {
            applicant: Person {
                name: "欧阳秀芝",
                id: applicant,
            },
            spouse: Person {
                name: "司马文斌",
                id: id_number("33011219650302181"),
            },
            phone: "13987654321",
            address: "青山县白水镇东村7组88号",
            new_address: "青山县白水镇南街19号402室",
            bank_account: "6217009988776655443",
            mistyped_id,
        }
    }

    /// Every value, with what it is.
    fn all(&self) -> Vec<(&'static str, String)> {
        vec![
            ("applicant name", self.applicant.name.into()),
            ("applicant ID number", self.applicant.id.clone()),
            ("spouse name", self.spouse.name.into()),
            ("spouse ID number", self.spouse.id.clone()),
            ("phone", self.phone.into()),
            ("address", self.address.into()),
            ("new address", self.new_address.into()),
            ("bank account", self.bank_account.into()),
            ("mistyped ID number", self.mistyped_id.clone()),
        ]
    }

    fn application(&self, complete: bool) -> Value {
        let mut a = if complete {
            dibao_complete()
        } else {
            dibao_defective()
        };
        a["applicant"] = json!({
            "kind": "natural_person", "name": self.applicant.name, "id_number": self.applicant.id,
            "phone": self.phone, "address": self.address
        });
        a["fields"]["members"] = json!([
            { "name": self.applicant.name, "id_number": self.applicant.id, "relation": "本人" },
            { "name": self.spouse.name, "id_number": self.spouse.id, "relation": "配偶" }
        ]);
        a["fields"]["address"] = json!(self.address);
        a["fields"]["bank_account"] = json!(self.bank_account);
        a
    }
}

/// `%XX` for every byte but unreserved ASCII, as a client encodes a path or query.
fn percent_encoded(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The service process, killed when the test ends however it ends.
pub(crate) struct Service {
    pub(crate) child: Child,
    address: String,
    pub(crate) log: PathBuf,
    client: awc::Client,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_service(dir: &Path, database_url: &str, log_format: &str) -> Service {
    start_service_with(dir, database_url, log_format, |_| {}).await
}

/// As `start_service`, with the settings changed by `adjust` (e.g. another tokens file).
pub(crate) async fn start_service_with(
    dir: &Path,
    database_url: &str,
    log_format: &str,
    adjust: impl FnOnce(&mut Value),
) -> Service {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let port = free_port();
    let config = dir.join("yichuang.yaml");
    let mut settings = json!({
        "bind": format!("127.0.0.1:{port}"),
        "database_url": database_url,
        "rules_dir": root.join("rules"),
        "tokens_file": root.join("config/tokens.yaml"),
        "log_format": log_format,
        "reload_poll_ms": 0,
        "jwt_issuer": "qingshan-county-sso",
        "jwt_public_key_file": root.join("tests/fixtures/jwt/test-only-rsa-public.pem"),
    });
    adjust(&mut settings);
    std::fs::write(&config, serde_yaml::to_string(&settings).unwrap()).unwrap();
    let log = dir.join("service.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_yichuang"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("YICHUANG_")) {
        cmd.env_remove(k);
    }
    let child = cmd
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let mut service = Service {
        child,
        address: format!("http://127.0.0.1:{port}"),
        log,
        client: awc::Client::builder()
            .timeout(Duration::from_secs(60))
            .finish(),
    };
    // Wait for readiness (a bound on a broken start, not a measurement).
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(Some(status)) = service.child.try_wait() {
            panic!(
                "the service exited ({status}):\n{}",
                std::fs::read_to_string(&service.log).unwrap_or_default()
            );
        }
        if let Ok(r) = service.client.get(service.url("/readyz")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the service did not become ready"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    service
}

impl Service {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut req = match method {
            "POST" => self.client.post(self.url(path)),
            _ => self.client.get(self.url(path)),
        };
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        let sent = match body {
            Some(b) => {
                req.insert_header(("Content-Type", "application/json"))
                    .send_body(b)
                    .await
            }
            None => req.send().await,
        };
        finish(sent.expect("the service answers")).await
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> Resp {
        let auth = format!("Bearer {token}");
        self.send("GET", path, &[("Authorization", &auth)], None)
            .await
    }

    async fn post(&self, path: &str, token: &str, body: &Value, extra: &[(&str, &str)]) -> Resp {
        let auth = format!("Bearer {token}");
        let mut headers = vec![("Authorization", auth.as_str())];
        headers.extend_from_slice(extra);
        self.send(
            "POST",
            path,
            &headers,
            Some(serde_json::to_vec(body).unwrap()),
        )
        .await
    }
}

/// A signed token of the identity system for a 白水镇 clerk.
fn sso_clerk() -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({
        "sub": "sso-clerk-0002", "name": "周丽", "role": "clerk", "unit": "baishui",
        "iss": "qingshan-county-sso", "aud": "yichuang", "exp": now + 3600
    });
    let key = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/jwt/test-only-rsa-private.pem"),
    )
    .unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&key).unwrap(),
    )
    .unwrap()
}

/// Every kind of request a working day brings, carrying the secrets everywhere a client might
/// put them. Returns the case ids seen (they must be in the log: paths are logged).
async fn working_day(s: &Service, p: &Secrets) -> Vec<String> {
    let sso = sso_clerk();
    let complete = json!({ "matter": DIBAO, "application": p.application(true) });
    let defective = json!({ "matter": DIBAO, "application": p.application(false) });

    let r = s.post("/api/v1/assessments", &sso, &complete, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // A one-time notice, then the supplement with a corrected address and the members again.
    let r = s
        .post(
            "/api/v1/cases",
            CLERK_BAISHUI,
            &defective,
            &[("X-Request-Id", &p.applicant.id)],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let waiting = r.case_id();
    let supplement = json!({
        "fields": {
            "household_size": 2, "address": p.new_address,
            "members": defective["application"]["fields"]["members"].clone()
        },
        "materials": [
            { "id": "application_form", "signed": true }, { "id": "household_register" },
            { "id": "authorization", "signed": true }, { "id": "disability_certificate" },
            { "id": "income_proof", "issued_on": "2026-02-20" }
        ]
    });
    let r = s
        .post(
            &format!("/api/v1/cases/{waiting}/supplements"),
            CLERK_BAISHUI,
            &supplement,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // An intake by a signed token, retried with an idempotency key a careless client built
    // from the ID number.
    let key = format!("intake-{}", p.applicant.id);
    let mut taken = String::new();
    for status in [201, 200] {
        let r = s
            .post(
                "/api/v1/cases",
                &sso,
                &complete,
                &[("Idempotency-Key", &key)],
            )
            .await;
        assert_eq!(r.status, status, "{}", r.text);
        taken = r.case_id();
    }
    // A village agent's intake.
    let r = s.post("/api/v1/cases", AGENT_DONGCUN, &complete, &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);

    // Reads: the case, its notices (JSON and print), history, and searches by ID number.
    for id in [&waiting, &taken] {
        for part in ["", "/notices", "/history"] {
            let r = s
                .get(&format!("/api/v1/cases/{id}{part}"), CLERK_BAISHUI)
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
        let notices = s
            .get(&format!("/api/v1/cases/{id}/notices"), CLERK_BAISHUI)
            .await;
        for n in notices.body.as_array().unwrap() {
            let nid = n["id"].as_str().unwrap();
            for part in ["", "/print"] {
                let r = s
                    .get(&format!("/api/v1/notices/{nid}{part}"), CLERK_BAISHUI)
                    .await;
                assert_eq!(r.status, 200, "{}", r.text);
            }
        }
    }
    let r = s
        .get(
            &format!("/api/v1/cases?applicant_id={}", p.applicant.id),
            SUPERVISOR_BAISHUI,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let by_name = format!("/api/v1/matters?q={}", percent_encoded(p.applicant.name));
    assert_eq!(s.get(&by_name, CLERK_BAISHUI).await.status, 200);

    // Personal data where an id belongs: unknown cases and matters, 404 in the error shape.
    for path in [
        format!("/api/v1/cases/{}", p.applicant.id),
        format!("/api/v1/cases/{}/notices", p.phone),
        format!("/api/v1/notices/{}", p.bank_account),
        format!("/api/v1/matters/{}", percent_encoded(p.applicant.name)),
        format!("/api/v1/matters/{}/guide", percent_encoded(p.address)),
        format!("/api/v1/{}", p.spouse.id),
    ] {
        let r = s.get(&path, CLERK_BAISHUI).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
    }

    // Malformed and invalid bodies that echo the values back to the sender.
    let mut wrong_kind = complete.clone();
    wrong_kind["application"]["applicant"]["kind"] = json!(p.applicant.name);
    let mut mistyped = complete.clone();
    mistyped["application"]["applicant"]["id_number"] = json!(p.mistyped_id);
    let mut unknown_field = complete.clone();
    unknown_field["application"]["fields"][p.phone] = json!(p.address);
    let mut too_long = complete.clone();
    too_long["application"]["applicant"]["address"] = json!(p.address.repeat(20));
    // A mistyped ID number is a defect told in the notice.
    let r = s.post("/api/v1/cases", CLERK_BAISHUI, &mistyped, &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    for body in [wrong_kind, unknown_field, too_long] {
        let r = s.post("/api/v1/cases", CLERK_BAISHUI, &body, &[]).await;
        assert!(r.status.is_client_error(), "{}", r.text);
        assert_error_shape(&r);
    }
    let raw = format!(
        r#"{{"matter": "{DIBAO}", "application": {{"applicant": "{}"#,
        p.spouse.id
    );
    let auth = format!("Bearer {CLERK_BAISHUI}");
    let r = s
        .send(
            "POST",
            "/api/v1/cases",
            &[("Authorization", &auth)],
            Some(raw.into_bytes()),
        )
        .await;
    assert_error_shape(&r);
    // A token that is someone's ID number.
    let r = s.get("/api/v1/cases", &p.spouse.id).await;
    r.assert_error(401, "unauthorized");
    vec![waiting, taken]
}

async fn logs_carry_no_personal_data(database_url: &str, dir: &Path, log_format: &str) {
    let service = start_service(dir, database_url, log_format).await;
    let secrets = Secrets::new();
    let cases = working_day(&service, &secrets).await;
    let log_file = service.log.clone();
    drop(service);
    let log = std::fs::read_to_string(&log_file).unwrap();

    // The log is there and is useful: requests with their paths and case ids, and intakes.
    assert!(log.contains("yichuang listening"), "{log}");
    for id in &cases {
        assert!(
            log.contains(id.as_str()),
            "case id {id} is not in the log:\n{log}"
        );
    }
    assert!(
        log.contains("intake") && log.contains("supplement"),
        "{log}"
    );

    let mut leaks = Vec::new();
    for (what, value) in secrets.all() {
        let encoded = percent_encoded(&value);
        for line in log.lines() {
            if line.contains(&value) || line.to_ascii_uppercase().contains(&encoded) {
                leaks.push(format!("{what} ({value}): {line}"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "personal data in the {log_format} log:\n{}",
        leaks.join("\n")
    );
}

#[actix_web::test]
async fn logs_carry_no_personal_data_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/yc.db", dir.path().display());
    logs_carry_no_personal_data(&url, dir.path(), "text").await;
}

#[actix_web::test]
async fn logs_carry_no_personal_data_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let db = PgDb::new("yc_logs");
    logs_carry_no_personal_data(&db.url, dir.path(), "json").await;
}
