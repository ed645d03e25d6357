//! Database outages seen over HTTP: requests fail with 503 in the error shape (no hang past the
//! configured timeout, no 500), `/readyz` reports the database down, and the service recovers by
//! itself when the database returns. The shared PostgreSQL server keeps running: the test's own
//! database is closed to connections and its sessions are terminated.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use serde_json::json;

use crate::common::pg_base;
use crate::helpers::*;

fn admin(sql: &str) {
    let mut c = PgConnection::establish(&format!("{}/postgres", pg_base())).unwrap();
    c.batch_execute(sql).unwrap();
}

/// Closes (or reopens) the database to new connections and ends the open ones.
fn set_database_down(name: &str, down: bool) {
    admin(&format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS {}",
        if down { "false" } else { "true" }
    ));
    if down {
        admin(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ));
    }
}

#[actix_web::test]
async fn postgres_outage_gives_503_and_the_service_recovers() {
    let app = spawn_app_configured(Backend::Postgres, |c| c.db_timeout_ms = 1000).await;
    let name = app.pg_db().unwrap().name.clone();
    let r = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let first = r.notice_numbers();

    set_database_down(&name, true);
    let r = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    r.assert_error(503, "database_unavailable");
    assert_eq!(r.header("retry-after").as_deref(), Some("5"));
    let r = app.get("/api/v1/cases", Some(CLERK_BAISHUI)).await;
    r.assert_error(503, "database_unavailable");
    let r = app.get("/readyz", None).await;
    r.assert_error(503, "not_ready");
    // The catalog needs no database.
    let r = app.get("/api/v1/matters", None).await;
    assert_eq!(r.status, 200, "{}", r.text);

    set_database_down(&name, false);
    let mut ready = false;
    for _ in 0..50 {
        if app.get("/readyz", None).await.status == 200 {
            ready = true;
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(ready, "the service did not become ready again");
    let r = app.intake(CLERK_BAISHUI, DIBAO, &dibao_complete()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The failed intake took no number: the series goes on without a gap.
    let second = r.notice_numbers();
    assert!(first[0].ends_with("第0001号"), "{first:?}");
    assert!(second[0].ends_with("第0002号"), "{second:?}");
    assert_eq!(app.case_total(CLERK_BAISHUI).await, 2);
}

#[actix_web::test]
async fn sqlite_full_database_gives_503_and_reads_go_on() {
    let app = spawn_app_configured(Backend::Sqlite, |c| c.sqlite_max_mb = 1).await;
    let mut accepted = 0;
    let full = loop {
        let mut a = dibao_complete();
        a["fields"]["address"] = json!(format!("青山县白水镇东村{}", "号".repeat(1900)));
        let r = app.intake(CLERK_BAISHUI, DIBAO, &a).await;
        if r.status != 201 {
            break r;
        }
        accepted += 1;
        assert!(accepted < 2000, "1 MiB never filled up");
    };
    full.assert_error(503, "database_unavailable");
    assert!(accepted > 0);
    // Everything acknowledged is still there and readable.
    assert_eq!(app.case_total(CLERK_BAISHUI).await, accepted);
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status, 200, "reads still work: {}", r.text);
}
