//! What county IT operates: `/metrics`, 405 with `Allow` for a wrong method, CORS when
//! configured (off by default), and an OpenAPI document generated over the served routes.

use serde_json::json;

use crate::helpers::*;
use crate::{on_both_backends, on_both_backends_configured};

/// The value of one series in the Prometheus text (`name{labels}` exactly as printed), 0 if
/// absent.
fn series(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            (k == name_and_labels).then(|| v.parse::<f64>().ok())?
        })
        .unwrap_or(0.0)
}

/// Every label set of a metric, with its value.
fn all_series<'a>(text: &'a str, name: &str) -> Vec<(&'a str, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(name))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k, v.parse::<f64>().ok()?))
        })
        .collect()
}

async fn metrics_count_what_happens(app: &TestApp) {
    let before = app.get("/metrics", None).await;
    assert_eq!(before.status, 200, "{}", before.text);
    assert!(before
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/plain"));
    let accepted = r#"yichuang_intakes_total{outcome="accepted_promised"}"#;
    let created =
        r#"yichuang_http_requests_total{method="POST",route="/api/v1/cases",status="201"}"#;
    let (intakes0, requests0) = (
        series(&before.text, accepted),
        series(&before.text, created),
    );

    let r = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["outcome"], "accepted_promised", "{}", r.text);
    let case_id = r.body["case"]["id"].as_str().unwrap().to_string();
    let seen = app
        .get(&format!("/api/v1/cases/{case_id}"), Some(CLERK_BAISHUI))
        .await;
    assert_eq!(seen.status, 200);

    let after = app.get("/metrics", None).await;
    let t = &after.text;
    // The process-wide recorder is shared by the tests running in parallel: at least one more.
    assert!(series(t, accepted) >= intakes0 + 1.0, "{t}");
    assert!(series(t, created) >= requests0 + 1.0, "{t}");
    // Routes are labelled by their pattern: a case id never becomes a label.
    assert!(!t.contains(&case_id), "a case id leaked into the metrics");
    assert!(
        series(
            t,
            r#"yichuang_http_requests_total{method="GET",route="/api/v1/cases/{id}",status="200"}"#
        ) >= 1.0,
        "{t}"
    );
    assert!(
        series(
            t,
            r#"yichuang_http_request_duration_seconds_count{method="POST",route="/api/v1/cases"}"#
        ) >= 1.0
    );
    // The writes were committed and measured.
    assert!(
        series(t, "yichuang_store_commit_duration_seconds_count") >= 1.0,
        "{t}"
    );
    assert!(series(t, "yichuang_store_batch_size_count") >= 1.0, "{t}");
    // The state gauges: this app's due items (a promised case has its deadline items), its pool,
    // its catalog and its calendar (the sample catalog ends 2026-12-31; the test clock is
    // 2026-03-02). Other apps in this process set the same gauges, so these are read from a
    // scrape of this app (the gauges are set when it is scraped).
    assert!(series(t, "yichuang_due_items_pending") >= 1.0, "{t}");
    assert!(series(t, "yichuang_db_pool_max_connections") >= 1.0, "{t}");
    assert_eq!(
        series(t, "yichuang_calendar_coverage_days_left"),
        304.0,
        "{t}"
    );
    let catalog = app.get("/api/v1/catalog", Some(ADMIN)).await;
    let hash = catalog.body["hash"]
        .as_str()
        .expect("catalog hash")
        .to_string();
    let active: Vec<_> = all_series(t, "yichuang_catalog_active_info")
        .into_iter()
        .filter(|(_, v)| *v == 1.0)
        .collect();
    assert!(
        active.iter().any(|(k, _)| k.contains(&hash)),
        "the active catalog {hash} is reported: {active:?}"
    );
    for name in [
        "yichuang_due_items_overdue",
        "yichuang_db_pool_connections",
        "yichuang_catalog_activated_timestamp_seconds",
        "yichuang_build_info",
    ] {
        assert!(
            t.contains(&format!("# TYPE {name} gauge")),
            "{name} missing:\n{t}"
        );
    }
}

async fn metrics_count_reloads_and_sweeps(app: &TestApp) {
    let before = app.get("/metrics", None).await.text;
    let key = r#"yichuang_catalog_reloads_total{trigger="admin",result="unchanged"}"#;
    let r = app
        .post_json("/api/v1/catalog/reload", Some(ADMIN), &json!({}), &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["outcome"], "unchanged");
    let after = app.get("/metrics", None).await.text;
    assert!(series(&after, key) >= series(&before, key) + 1.0, "{after}");
}

async fn wrong_method_is_405_with_allow(app: &TestApp) {
    let r = finish(
        app.client
            .delete(app.url("/api/v1/cases"))
            .insert_header(("Authorization", format!("Bearer {CLERK_BAISHUI}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(405, "method_not_allowed");
    let allow = r.header("allow").expect("Allow header");
    let mut methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    methods.sort_unstable();
    assert_eq!(methods, ["GET", "HEAD", "POST"], "{allow}");
    assert!(
        r.body["message"].as_str().unwrap().contains("GET"),
        "{}",
        r.text
    );

    // HEAD is answered wherever GET is, as GET without the body.
    let head = |path: &str| {
        app.client
            .head(app.url(path))
            .insert_header(("Authorization", format!("Bearer {CLERK_BAISHUI}")))
            .send()
    };
    for path in ["/healthz", "/api/v1/cases", "/api/v1/matters/QS-MZ-001"] {
        let r = finish(head(path).await.unwrap()).await;
        assert_eq!(r.status, 200, "HEAD {path}: {}", r.text);
        assert!(r.text.is_empty(), "HEAD {path} has a body: {}", r.text);
    }
    let r = finish(head("/api/v1/cases/QS-X/pause").await.unwrap()).await;
    assert_eq!(r.status, 405, "{}", r.text);
    assert_eq!(r.header("allow").as_deref(), Some("POST"));

    // A path with an id: GET on a POST-only action.
    let r = app
        .get("/api/v1/cases/QS-X/pause", Some(CLERK_BAISHUI))
        .await;
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.header("allow").as_deref(), Some("POST"));
    let r = app
        .post_json("/api/v1/matters", None, &json!({}), &[])
        .await;
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"));
    // A path that does not exist at all stays 404.
    app.get("/api/v1/nothing-here", None)
        .await
        .assert_error(404, "not_found");
    // Without CORS configured, a preflight is a wrong method too (no CORS headers).
    let r = finish(
        app.client
            .request(awc::http::Method::OPTIONS, app.url("/api/v1/cases"))
            .insert_header(("Origin", "https://hall.example.gov.cn"))
            .insert_header(("Access-Control-Request-Method", "POST"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(405, "method_not_allowed");
    assert!(r.header("access-control-allow-origin").is_none());
}

const HALL: &str = "https://hall.example.gov.cn";

async fn cors_for_configured_origins(app: &TestApp) {
    let preflight = |origin: &'static str| {
        app.client
            .request(awc::http::Method::OPTIONS, app.url("/api/v1/cases"))
            .insert_header(("Origin", origin))
            .insert_header(("Access-Control-Request-Method", "POST"))
            .insert_header((
                "Access-Control-Request-Headers",
                "authorization, content-type, idempotency-key",
            ))
            .send()
    };
    let ok = finish(preflight(HALL).await.unwrap()).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(
        ok.header("access-control-allow-origin").as_deref(),
        Some(HALL)
    );
    let methods = ok
        .header("access-control-allow-methods")
        .unwrap_or_default();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let headers = ok
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("idempotency-key"),
        "{headers}"
    );

    // Another origin is refused, and a real request from the hall carries the header.
    let other = finish(preflight("https://elsewhere.example.com").await.unwrap()).await;
    assert!(other.status.is_client_error(), "{}", other.status);
    assert!(other.header("access-control-allow-origin").is_none());
    let r = finish(
        app.client
            .get(app.url("/api/v1/matters"))
            .insert_header(("Origin", HALL))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some(HALL)
    );
    let exposed = r
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");
}

/// The document is generated over the served routes: every served route is documented, and
/// every documented operation is served (a request to it is never 404/405).
async fn openapi_covers_every_route(app: &TestApp) {
    let doc = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    let paths = doc.body["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            assert_ne!(
                op["summary"].as_str().unwrap_or_default(),
                yichuang::http::openapi::UNDOCUMENTED,
                "{method} {path}"
            );
            let concrete = path
                .replace("{id}", "QS-NOSUCH")
                .replace("{step}", "s1")
                .replace("{code}", "QS-XX-999");
            let r = match method.as_str() {
                "get" => app.get(&concrete, Some(ADMIN)).await,
                _ => {
                    app.post_raw(&concrete, Some(ADMIN), "application/json", "{}")
                        .await
                }
            };
            assert_ne!(r.status, 405, "{method} {path}: {}", r.text);
            // An unknown id answers 404 too, but never "no such endpoint".
            let message = r.body["message"].as_str().unwrap_or_default();
            assert!(
                !message.starts_with("没有这个接口"),
                "{method} {path} is not served: {}",
                r.text
            );
        }
    }
    assert_eq!(operations, yichuang::http::routes().len());
}

/// From 1 November the service says next year's calendar is missing (catalog status and
/// readiness); before, it only reports the coverage end.
async fn missing_next_year_calendar_is_warned_from_november(app: &TestApp) {
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.body["calendar_until"], "2026-12-31", "{}", ready.text);
    assert!(
        ready.body.get("calendar_warning").is_none(),
        "{}",
        ready.text
    );
    let status = app.get("/api/v1/catalog", Some(CLERK_BAISHUI)).await;
    assert_eq!(status.body["calendar_warning"], serde_json::Value::Null);

    app.clock
        .set_day(chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap());
    let ready = app.get("/readyz", None).await;
    assert_eq!(
        ready.status, 200,
        "a warning, not unreadiness: {}",
        ready.text
    );
    let w = ready.body["calendar_warning"].as_str().expect("warned");
    assert!(w.contains("2027") && w.contains("calendar import"), "{w}");
    let status = app.get("/api/v1/catalog", Some(CLERK_BAISHUI)).await;
    assert_eq!(status.body["calendar_warning"].as_str(), Some(w));
}

on_both_backends! {
    missing_next_year_calendar_is_warned_from_november => missing_next_year_calendar_is_warned_from_november_sqlite, missing_next_year_calendar_is_warned_from_november_postgres;
    metrics_count_what_happens => metrics_count_what_happens_sqlite, metrics_count_what_happens_postgres;
    metrics_count_reloads_and_sweeps => metrics_count_reloads_and_sweeps_sqlite, metrics_count_reloads_and_sweeps_postgres;
    wrong_method_is_405_with_allow => wrong_method_is_405_with_allow_sqlite, wrong_method_is_405_with_allow_postgres;
    openapi_covers_every_route => openapi_covers_every_route_sqlite, openapi_covers_every_route_postgres;
}

on_both_backends_configured! {
    cors_for_configured_origins(|c: &mut yichuang::config::Config| c.cors_origins = vec![HALL.to_string()]) => cors_for_configured_origins_sqlite, cors_for_configured_origins_postgres;
}
