//! Hostile requests: signed tokens (JWT) from the county's identity system, per-user rate limits,
//! the per-request time limit, and no personal data in the logs of a full run.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use yichuang::app::Clock;
use yichuang::auth::{AuthConfigError, SignedTokens};
use yichuang::config::Config;

use crate::helpers::*;
use crate::{on_both_backends, on_both_backends_configured};

const ISSUER: &str = "qingshan-county-sso";
const AUDIENCE: &str = "yichuang";
const RSA_PUBLIC: &str = "test-only-rsa-public.pem";
const RSA_PRIVATE: &str = "test-only-rsa-private.pem";
const RSA_OTHER_PRIVATE: &str = "test-only-rsa-other-private.pem";
const EC_PUBLIC: &str = "test-only-ec-public.pem";
const EC_PRIVATE: &str = "test-only-ec-private.pem";

// ---------------------------------------------------------------- signed tokens

/// A test-only key under tests/fixtures/jwt.
fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn encoding_key(alg: Algorithm, private: &str) -> EncodingKey {
    let pem = read_fixture(private);
    match alg {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem).unwrap(),
        _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
    }
}

/// A JWT signed with a test key.
fn sign(alg: Algorithm, private: &str, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &encoding_key(alg, private)).unwrap()
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// A token with any header and no signature at all.
fn unsigned(header: &Value, claims: &Value) -> String {
    format!("{}.{}.", b64(header), b64(claims))
}

/// Algorithm confusion: an HS256 token keyed with the text of the service's public key.
fn confused(public: &str, claims: &Value) -> String {
    let key = EncodingKey::from_secret(&read_fixture(public));
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
}

/// A clerk of 白水镇 as the identity system issues them, valid for ten minutes from `now`.
fn clerk_claims(now: i64) -> Value {
    json!({
        "sub": "sso-clerk-0001", "name": "周丽", "role": "clerk", "unit": "baishui",
        "window": "bs-w01", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600
    })
}

fn with(claims: &Value, key: &str, value: Value) -> Value {
    let mut c = claims.clone();
    c[key] = value;
    c
}

fn now_of(app: &TestApp) -> i64 {
    app.clock.now_ms() / 1000
}

fn rsa_key_configured(c: &mut Config) {
    c.jwt_issuer = Some(ISSUER.into());
    c.jwt_public_key_file = Some(fixture(RSA_PUBLIC));
}

/// As `rsa_key_configured`, without the limit on failed sign-ins (the test makes dozens of them
/// on purpose, to read each reason).
fn rsa_key_without_failure_limit(c: &mut Config) {
    rsa_key_configured(c);
    c.auth_failures_per_min = 0;
}

fn ec_key_configured(c: &mut Config) {
    c.jwt_issuer = Some(ISSUER.into());
    c.jwt_public_key_file = Some(fixture(EC_PUBLIC));
}

/// GET /api/v1/cases with a token: 401 in the error shape naming `reason`.
async fn assert_rejected(app: &TestApp, token: &str, reason: &str, what: &str) -> Resp {
    let r = app.get("/api/v1/cases", Some(token)).await;
    assert_eq!(r.status, 401, "{what}: {}", r.text);
    r.assert_error(401, "unauthorized");
    assert_eq!(r.body["details"]["reason"], reason, "{what}: {}", r.text);
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
    r
}

/// A JWT is a user: it takes intakes and sees what its role and unit allow, next to the tokens
/// of the tokens file. Clock skew within the leeway is tolerated.
async fn signed_tokens_are_users(app: &TestApp) {
    let now = now_of(app);
    let clerk = sign(Algorithm::RS256, RSA_PRIVATE, None, &clerk_claims(now));
    let r = app.intake(&clerk, DIBAO, &dibao_complete()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["case"]["center_id"], "baishui", "{}", r.text);
    let id = r.case_id();
    // The same center's clerk from the tokens file sees it; another center's does not.
    let path = format!("/api/v1/cases/{id}");
    assert_eq!(app.get(&path, Some(CLERK_BAISHUI)).await.status, 200);
    app.get(&path, Some(CLERK_QINGSHI))
        .await
        .assert_error(404, "not_found");
    assert_eq!(app.get(&path, Some(&clerk)).await.status, 200);

    // A village agent: only the cases submitted under their own `sub`.
    let agent = |sub: &str| {
        let c = json!({
            "sub": sub, "name": "代办员", "role": "agent", "unit": "baishui-dongcun",
            "iss": ISSUER, "aud": [AUDIENCE, "other-system"], "exp": now + 600
        });
        sign(Algorithm::PS256, RSA_PRIVATE, None, &c)
    };
    let r = app
        .post_json(
            "/api/v1/cases",
            Some(&agent("sso-agent-01")),
            &json!({ "matter": DIBAO, "application": example_application(DIBAO_FILE, 0) }),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let agents_case = format!("/api/v1/cases/{}", r.case_id());
    assert_eq!(
        app.get(&agents_case, Some(&agent("sso-agent-01")))
            .await
            .status,
        200
    );
    app.get(&agents_case, Some(&agent("sso-agent-02")))
        .await
        .assert_error(404, "not_found");

    // Expired 30 s ago, or valid only in 30 s: within the 60 s leeway.
    for claims in [
        with(&clerk_claims(now), "exp", json!(now - 30)),
        with(&clerk_claims(now), "nbf", json!(now + 30)),
    ] {
        let t = sign(Algorithm::RS256, RSA_PRIVATE, None, &claims);
        let r = app.get("/api/v1/cases", Some(&t)).await;
        assert_eq!(r.status, 200, "{claims}: {}", r.text);
    }
}

/// Every way a token can be wrong is a 401 in the error shape that says which.
async fn signed_token_rejections(app: &TestApp) {
    let now = now_of(app);
    let good = clerk_claims(now);

    // Claims changed after signing, a cut signature.
    let token = sign(Algorithm::RS256, RSA_PRIVATE, None, &good);
    let parts: Vec<&str> = token.split('.').collect();
    let admin = b64(&with(&good, "role", json!("admin")));
    // (token, reason, a word the message must contain, what)
    let tokens = [
        (
            unsigned(&json!({ "alg": "none", "typ": "JWT" }), &good),
            "algorithm_not_allowed",
            "none",
            "alg none",
        ),
        (
            unsigned(&json!({ "alg": "None" }), &good),
            "algorithm_not_allowed",
            "None",
            "alg None",
        ),
        (
            confused(RSA_PUBLIC, &good),
            "algorithm_not_allowed",
            "HS256",
            "HS256 keyed with the public key",
        ),
        (
            sign(Algorithm::ES256, EC_PRIVATE, None, &good),
            "algorithm_not_allowed",
            "ES256",
            "ES256 for an RSA key",
        ),
        (
            sign(Algorithm::RS256, RSA_OTHER_PRIVATE, None, &good),
            "bad_signature",
            "签名",
            "another key",
        ),
        (
            format!("{}.{admin}.{}", parts[0], parts[2]),
            "bad_signature",
            "签名",
            "tampered claims",
        ),
        (
            format!("{}.{}.{}", parts[0], parts[1], &parts[2][..20]),
            "bad_signature",
            "签名",
            "truncated signature",
        ),
    ];
    for (token, reason, word, what) in &tokens {
        let r = assert_rejected(app, token, reason, what).await;
        let message = r.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(word), "{what}: {}", r.text);
    }

    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with(&good, "iss", json!("another-county-sso")),
            "wrong_issuer",
            "issuer",
        ),
        (
            with(&good, "aud", json!("another-system")),
            "wrong_audience",
            "audience",
        ),
        (
            with(&good, "exp", json!(now - 61)),
            "expired",
            "expired beyond the leeway",
        ),
        (
            with(&good, "nbf", json!(now + 120)),
            "not_yet_valid",
            "nbf beyond the leeway",
        ),
        (
            with(&good, "role", json!("mayor")),
            "invalid_claims",
            "unknown role",
        ),
        (
            with(&good, "unit", json!("atlantis")),
            "unknown_unit",
            "unknown unit",
        ),
        (
            with(&good, "unit", json!("baishui-dongcun")),
            "unknown_unit",
            "a clerk in a village",
        ),
        (with(&good, "sub", json!("")), "invalid_claims", "empty sub"),
        (
            with(&good, "name", json!("名".repeat(200))),
            "invalid_claims",
            "long name",
        ),
        (
            with(&good, "exp", json!("tomorrow")),
            "invalid_claims",
            "exp not a number",
        ),
    ];
    for (claims, reason, what) in cases {
        let t = sign(Algorithm::RS256, RSA_PRIVATE, None, &claims);
        assert_rejected(app, &t, reason, what).await;
    }
    for missing in ["exp", "iss", "aud", "sub", "role", "unit", "name"] {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(missing);
        let t = sign(Algorithm::RS256, RSA_PRIVATE, None, &c);
        assert_rejected(app, &t, "invalid_claims", missing).await;
    }

    for junk in ["a.b.c", "..", "eyJhbGciOiJSUzI1NiJ9.e30.", "x.y.z.w"] {
        let r = app.get("/api/v1/cases", Some(junk)).await;
        r.assert_error(401, "unauthorized");
        let reason = r.body["details"]["reason"].as_str().unwrap_or_default();
        assert!(
            [
                "malformed",
                "invalid_claims",
                "bad_signature",
                "unknown_token"
            ]
            .contains(&reason),
            "{junk}: {}",
            r.text
        );
    }
    // The tokens file keeps working next to signed tokens.
    assert_eq!(
        app.get("/api/v1/cases", Some(CLERK_BAISHUI)).await.status,
        200
    );
}

/// An EC key accepts ES256 and nothing of another family; a key set picks the key by `kid`.
#[actix_web::test]
async fn ec_keys_and_key_sets() {
    let app = spawn_app_configured(Backend::Sqlite, ec_key_configured).await;
    let now = now_of(&app);
    let good = clerk_claims(now);
    let ec = sign(Algorithm::ES256, EC_PRIVATE, None, &good);
    assert_eq!(app.get("/api/v1/cases", Some(&ec)).await.status, 200);
    assert_rejected(
        &app,
        &sign(Algorithm::RS256, RSA_PRIVATE, None, &good),
        "algorithm_not_allowed",
        "RS256 for an EC key",
    )
    .await;
    assert_rejected(
        &app,
        &confused(EC_PUBLIC, &good),
        "algorithm_not_allowed",
        "HS256 for an EC key",
    )
    .await;
    drop(app);

    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    let key = |alg, private, kid: &str| {
        let mut k = Jwk::from_encoding_key(&encoding_key(alg, private), alg).unwrap();
        k.common.key_id = Some(kid.into());
        k
    };
    let set = JwkSet {
        keys: vec![
            key(Algorithm::RS256, RSA_PRIVATE, "rsa-2026"),
            key(Algorithm::ES256, EC_PRIVATE, "ec-2026"),
        ],
    };
    std::fs::write(&jwks, serde_json::to_vec(&set).unwrap()).unwrap();
    let app = spawn_app_configured(Backend::Sqlite, |c| {
        c.jwt_issuer = Some(ISSUER.into());
        c.jwt_jwks_file = Some(jwks.clone());
    })
    .await;
    for (alg, private, kid) in [
        (Algorithm::RS256, RSA_PRIVATE, "rsa-2026"),
        (Algorithm::ES256, EC_PRIVATE, "ec-2026"),
    ] {
        let t = sign(alg, private, Some(kid), &good);
        let r = app.get("/api/v1/cases", Some(&t)).await;
        assert_eq!(r.status, 200, "{kid}: {}", r.text);
    }
    let rejected = [
        // The key set's RS256 key was published for RS256 only.
        (
            Algorithm::RS512,
            Some("rsa-2026"),
            "algorithm_not_allowed",
            "RS512 for an RS256 key",
        ),
        (
            Algorithm::RS256,
            Some("ec-2026"),
            "algorithm_not_allowed",
            "RS256 naming the EC key",
        ),
        (
            Algorithm::RS256,
            Some("rsa-2025"),
            "unknown_key",
            "unknown kid",
        ),
        (
            Algorithm::RS256,
            None,
            "unknown_key",
            "no kid among two keys",
        ),
    ];
    for (alg, kid, reason, what) in rejected {
        let t = sign(alg, RSA_PRIVATE, kid, &good);
        assert_rejected(&app, &t, reason, what).await;
    }
}

/// Without a configured key a JWT is just an unknown token.
#[actix_web::test]
async fn signed_tokens_are_off_by_default() {
    let app = spawn_app(Backend::Sqlite).await;
    let t = sign(
        Algorithm::RS256,
        RSA_PRIVATE,
        None,
        &clerk_claims(now_of(&app)),
    );
    assert_rejected(&app, &t, "unknown_token", "JWT without configuration").await;
}

/// Configurations that cannot verify anything safely refuse to start.
#[test]
fn unusable_jwt_settings_are_refused() {
    let base = Config::default();
    assert!(SignedTokens::from_config(&base).unwrap().is_none());

    let no_issuer = Config {
        jwt_public_key_file: Some(fixture(RSA_PUBLIC)),
        ..Config::default()
    };
    let e = SignedTokens::from_config(&no_issuer).unwrap_err();
    assert!(
        matches!(
            e,
            AuthConfigError::Setting {
                name: "jwt_issuer",
                ..
            }
        ),
        "{e}"
    );

    let with_key = |file: PathBuf| Config {
        jwt_issuer: Some(ISSUER.into()),
        jwt_public_key_file: Some(file),
        ..Config::default()
    };
    assert!(SignedTokens::from_config(&with_key(fixture(RSA_PUBLIC)))
        .unwrap()
        .is_some());
    let e = SignedTokens::from_config(&with_key(fixture("missing.pem"))).unwrap_err();
    assert!(matches!(e, AuthConfigError::Read { .. }), "{e}");
    let not_a_key = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/tokens.yaml");
    let e = SignedTokens::from_config(&with_key(not_a_key)).unwrap_err();
    assert!(e.to_string().contains("PEM"), "{e}");

    let both = Config {
        jwt_jwks_file: Some(fixture(RSA_PUBLIC)),
        ..with_key(fixture(RSA_PUBLIC))
    };
    assert!(SignedTokens::from_config(&both).is_err());

    // A key set with a shared secret would let HS256 tokens in.
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(
        &jwks,
        json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0", "kid": "s" }] }).to_string(),
    )
    .unwrap();
    let oct = Config {
        jwt_issuer: Some(ISSUER.into()),
        jwt_jwks_file: Some(jwks),
        ..Config::default()
    };
    let e = SignedTokens::from_config(&oct).unwrap_err();
    assert!(e.to_string().contains("symmetric"), "{e}");
}

// ---------------------------------------------------------------- limits

fn tight_rate_limit(c: &mut Config) {
    // Three requests at once, then one every 1,000 s: the fourth is refused.
    c.rate_limit_per_sec = 0.001;
    c.rate_limit_burst = 3;
}

/// A user past their burst gets 429 with Retry-After; other users and public pages do not.
async fn rate_limit_per_user(app: &TestApp) {
    for _ in 0..3 {
        let r = app.get("/api/v1/cases", Some(CLERK_BAISHUI)).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = app.get("/api/v1/cases", Some(CLERK_BAISHUI)).await;
    r.assert_error(429, "rate_limited");
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", r.headers));
    assert!((1..=1000).contains(&retry), "{retry}");
    assert_eq!(r.body["details"]["retry_after_seconds"], retry);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains(&retry.to_string()));

    // Refused before anything is stored.
    let r = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    r.assert_error(429, "rate_limited");
    assert_eq!(app.case_total(SUPERVISOR_BAISHUI).await, 0);

    let r = app.intake(CLERK_QINGSHI, DIBAO, &dibao_complete()).await;
    assert_ne!(r.status, 429, "{}", r.text);
    for _ in 0..5 {
        assert_eq!(app.get("/api/v1/matters", None).await.status, 200);
    }
}

fn short_time_limit(c: &mut Config) {
    c.request_timeout_ms = 500;
}

/// Send raw bytes and read what comes back until the server closes or a full answer is in.
fn raw_exchange(address: &str, request: &[u8]) -> String {
    let addr = address.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    // A safety net against a hung test, not a measurement.
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&out);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(usize::MAX);
            if body.len() >= len {
                break;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A client that announces a body and never sends it all gets 503 `request_timeout` in the
/// error shape instead of holding the request open.
async fn slow_body_is_cut_at_the_time_limit(app: &TestApp) {
    let address = app.address.clone();
    let response = actix_web::rt::task::spawn_blocking(move || {
        raw_exchange(
            &address,
            format!(
                "POST /api/v1/cases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CLERK_BAISHUI}\r\n\
                 Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{{\"matter\": "
            )
            .as_bytes(),
        )
    })
    .await
    .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    assert!(head.starts_with("HTTP/1.1 503"), "{response}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after"),
        "{response}"
    );
    let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{response}"));
    assert_eq!(body["error"], "request_timeout", "{response}");
    assert_eq!(body["details"]["limit_ms"], 500);
    assert_eq!(app.case_total(CLERK_BAISHUI).await, 0);
}

/// A handler stuck behind a database lock answers 503 `request_timeout` at the limit; the
/// service goes on serving once the lock is gone.
async fn stuck_handler_answers_at_the_time_limit(app: &TestApp) {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    enum Lock {
        Sqlite(diesel::SqliteConnection),
        Pg(diesel::PgConnection),
    }
    let mut lock = match app.backend {
        Backend::Sqlite => {
            let path = app.database_url.trim_start_matches("sqlite://");
            let mut c = diesel::SqliteConnection::establish(path).unwrap();
            c.batch_execute("BEGIN EXCLUSIVE").unwrap();
            Lock::Sqlite(c)
        }
        Backend::Postgres => {
            let mut c = diesel::PgConnection::establish(&app.database_url).unwrap();
            c.batch_execute("BEGIN; LOCK TABLE cases IN ACCESS EXCLUSIVE MODE")
                .unwrap();
            Lock::Pg(c)
        }
    };
    let r = app
        .intake(CLERK_BAISHUI, DIBAO, &dibao_complete_named("孙立"))
        .await;
    r.assert_error(503, "request_timeout");
    assert!(r.header("retry-after").is_some());
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("Idempotency-Key"));
    match &mut lock {
        Lock::Sqlite(c) => c.batch_execute("ROLLBACK").unwrap(),
        Lock::Pg(c) => c.batch_execute("ROLLBACK").unwrap(),
    }
    drop(lock);
    let r = app
        .intake(CLERK_BAISHUI, DIBAO, &dibao_complete_named("钱芳"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

on_both_backends_configured! {
    signed_tokens_are_users(rsa_key_configured) => signed_tokens_are_users_sqlite, signed_tokens_are_users_postgres;
    signed_token_rejections(rsa_key_without_failure_limit) => signed_token_rejections_sqlite, signed_token_rejections_postgres;
    rate_limit_per_user(tight_rate_limit) => rate_limit_per_user_sqlite, rate_limit_per_user_postgres;
    slow_body_is_cut_at_the_time_limit(short_time_limit) => slow_body_is_cut_at_the_time_limit_sqlite, slow_body_is_cut_at_the_time_limit_postgres;
    stuck_handler_answers_at_the_time_limit(short_time_limit) => stuck_handler_answers_at_the_time_limit_sqlite, stuck_handler_answers_at_the_time_limit_postgres;
}

/// Form values and material attributes have sizes of their own under the body limit: text up to
/// 2,000 characters, lists up to 200 items, 8 levels of nesting; beyond, 422 naming the part.
async fn oversized_values_are_named(app: &TestApp) {
    let nested = (0..9).fold(json!(1), |v, _| json!([v]));
    let too_big: Vec<(&str, Value, &str)> = vec![
        ("address", json!("青".repeat(2001)), "address"),
        (
            "members",
            json!(vec![json!({ "name": "李秀英" }); 201]),
            "members",
        ),
        ("household_size", nested, "household_size"),
        ("notes", json!({ "x": "青".repeat(2001) }), "notes"),
    ];
    for (field, value, named) in too_big {
        let mut a = dibao_complete();
        a["fields"][field] = value;
        let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
        r.assert_error(422, "invalid_request");
        let msg = r.body["message"].as_str().unwrap();
        assert!(msg.contains(named) && msg.contains("2000"), "{}", r.text);
    }
    let mut a = dibao_complete();
    a["materials"][0]["attributes"] = json!({ "remark": "青".repeat(2001) });
    let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
    r.assert_error(422, "invalid_request");
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("application_form"));

    // At the limits the application is taken (and the matter's own checks judge the values).
    let mut a = dibao_complete();
    a["fields"]["address"] = json!("青".repeat(2000));
    let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.case_id();

    // The same sizes hold for supplements.
    let r = app
        .post_json(
            &format!("/api/v1/cases/{id}/supplements"),
            Some(CLERK_BAISHUI),
            &json!({ "fields": { "address": "青".repeat(2001) } }),
            &[],
        )
        .await;
    r.assert_error(422, "invalid_request");

    // Nesting deeper than the JSON parser goes is a body error, not a crash.
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let body = format!(r#"{{"matter": "{DIBAO}", "application": {deep}}}"#);
    let r = app
        .post_raw(
            "/api/v1/cases",
            Some(CLERK_BAISHUI),
            "application/json",
            body,
        )
        .await;
    r.assert_error(422, "invalid_body");
    assert_eq!(app.case_total(CLERK_BAISHUI).await, 1);
}

/// Defaults: no rate limit (the load scripts send thousands of requests a second on one token).
async fn no_rate_limit_by_default(app: &TestApp) {
    for _ in 0..50 {
        let r = app.get("/api/v1/cases", Some(CLERK_BAISHUI)).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
}

/// Guessing tokens is slowed per client address: after the burst of failed sign-ins (20 by
/// default) a wrong token answers 429 with Retry-After, while a valid token from the same
/// address still passes; the bearer scheme is case-insensitive.
async fn failed_sign_ins_are_limited_by_address(app: &TestApp) {
    for i in 0..20 {
        let r = app.get("/api/v1/cases", Some(&format!("guess-{i}"))).await;
        r.assert_error(401, "unauthorized");
    }
    let r = app.get("/api/v1/cases", Some("guess-21")).await;
    r.assert_error(429, "rate_limited");
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    let ok = app.get("/api/v1/cases", Some(CLERK_BAISHUI)).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    // No token at all is not a guess: still 401 with what to do.
    app.get("/api/v1/cases", None)
        .await
        .assert_error(401, "unauthorized");
    for scheme in ["BEARER", "bearer", "Bearer"] {
        let r = finish(
            app.client
                .get(app.url("/api/v1/cases"))
                .insert_header(("Authorization", format!("{scheme} {CLERK_BAISHUI}")))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 200, "{scheme}: {}", r.text);
    }
}

on_both_backends! {
    failed_sign_ins_are_limited_by_address => failed_sign_ins_limited_sqlite, failed_sign_ins_limited_postgres;
    no_rate_limit_by_default => no_rate_limit_by_default_sqlite, no_rate_limit_by_default_postgres;
    oversized_values_are_named => oversized_values_are_named_sqlite, oversized_values_are_named_postgres;
}
