//! Metrics in the Prometheus text format (`GET /metrics`), through the `metrics` facade and its
//! Prometheus exporter. Counters and histograms are recorded where things happen (the request
//! log, intake, the store writer, the scheduler, catalog reloads); the values that describe a
//! state (due items pending, the active catalog, calendar coverage, the connection pool) are read
//! when Prometheus scrapes. Every name is documented in `docs/metrics.md`.
//!
//! The recorder is process-wide (one per process, as the facade requires): several apps in one
//! process (the tests) share it, so tests compare values before and after.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::store::{DueCounts, PoolState};

pub const HTTP_REQUESTS: &str = "yichuang_http_requests_total";
pub const HTTP_DURATION: &str = "yichuang_http_request_duration_seconds";
pub const INTAKES: &str = "yichuang_intakes_total";
pub const STORE_BATCH: &str = "yichuang_store_batch_size";
pub const STORE_COMMIT: &str = "yichuang_store_commit_duration_seconds";
pub const DUE_PENDING: &str = "yichuang_due_items_pending";
pub const DUE_OVERDUE: &str = "yichuang_due_items_overdue";
pub const DUE_FIRED: &str = "yichuang_due_items_fired_total";
pub const DUE_FAILED: &str = "yichuang_due_items_failed_total";
pub const RELOADS: &str = "yichuang_catalog_reloads_total";
pub const CATALOG_ACTIVE: &str = "yichuang_catalog_active_info";
pub const CATALOG_ACTIVATED: &str = "yichuang_catalog_activated_timestamp_seconds";
pub const CALENDAR_DAYS_LEFT: &str = "yichuang_calendar_coverage_days_left";
pub const POOL_CONNECTIONS: &str = "yichuang_db_pool_connections";
pub const POOL_MAX: &str = "yichuang_db_pool_max_connections";
pub const BUILD_INFO: &str = "yichuang_build_info";
pub const OUTBOX_UNDELIVERED: &str = "yichuang_outbox_undelivered";
pub const OUTBOX_DEAD: &str = "yichuang_outbox_dead";
pub const OUTBOX_OLDEST_AGE: &str = "yichuang_outbox_oldest_undelivered_age_seconds";
pub const OUTBOX_ALERT: &str = "yichuang_outbox_alert";
pub const OUTBOX_DELIVERED: &str = "yichuang_outbox_delivered_total";
pub const OUTBOX_FAILED: &str = "yichuang_outbox_failed_total";

/// Request latency buckets (seconds): intakes take milliseconds, reloads and impact runs seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
/// The catalog hash last reported as active, so that its series drops to 0 on a change.
static ACTIVE: Mutex<Option<(String, String)>> = Mutex::new(None);

/// Install the process-wide recorder (once; later calls return the same handle). `None` when
/// another recorder was installed first, in which case `/metrics` says so.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(STORE_BATCH.into()), BATCH_BUCKETS)
                })
                .map(|b| b.install_recorder());
            match built {
                Ok(Ok(handle)) => {
                    describe();
                    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
                    Some(handle)
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics buckets rejected");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route pattern and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to answer a request, by method and route pattern"
    );
    describe_counter!(
        INTAKES,
        "Applications taken at the window (not replays), by the first answer's outcome"
    );
    describe_histogram!(STORE_BATCH, "Writes committed together in one transaction");
    describe_histogram!(
        STORE_COMMIT,
        metrics::Unit::Seconds,
        "Time to commit one transaction of case writes (a batch with group commit)"
    );
    describe_gauge!(
        DUE_PENDING,
        "Due items (deadlines, timeouts, lapses) waiting to fire"
    );
    describe_gauge!(
        DUE_OVERDUE,
        "Pending due items whose time has passed (the scheduler is behind when this stays above 0)"
    );
    describe_counter!(DUE_FIRED, "Due items the scheduler carried out, by kind");
    describe_counter!(
        DUE_FAILED,
        "Due items that failed and will be retried after their lease"
    );
    describe_counter!(RELOADS, "Catalog reload attempts, by trigger and result");
    describe_gauge!(
        CATALOG_ACTIVE,
        "1 for the active catalog version (labels hash and version), 0 for earlier ones"
    );
    describe_gauge!(
        CATALOG_ACTIVATED,
        metrics::Unit::Seconds,
        "When the active catalog went live (Unix time)"
    );
    describe_gauge!(
        CALENDAR_DAYS_LEFT,
        "Days from today to the last day of the published working-day calendar"
    );
    describe_gauge!(
        POOL_CONNECTIONS,
        "Database pool connections by state (idle, in_use)"
    );
    describe_gauge!(POOL_MAX, "Database pool size");
    describe_gauge!(BUILD_INFO, "1, with the service version as a label");
    describe_gauge!(
        OUTBOX_UNDELIVERED,
        "Outbox deliveries not yet delivered (pending or dead), by subscriber"
    );
    describe_gauge!(
        OUTBOX_DEAD,
        "Dead outbox deliveries (resend them), by subscriber"
    );
    describe_gauge!(
        OUTBOX_OLDEST_AGE,
        metrics::Unit::Seconds,
        "Age of the oldest undelivered event, by subscriber (0 when none)"
    );
    describe_gauge!(
        OUTBOX_ALERT,
        "1 when a subscriber's oldest undelivered event is older than outbox_alert_secs"
    );
    describe_counter!(OUTBOX_DELIVERED, "Events delivered (2xx), by subscriber");
    describe_counter!(
        OUTBOX_FAILED,
        "Failed delivery attempts (retried with backoff, or dead), by subscriber"
    );
}

/// One answered request. `route` is the matched pattern (`/api/v1/cases/{id}`), never the path,
/// so that ids do not become labels.
pub fn request(method: &str, route: &str, status: u16, elapsed: Duration) {
    counter!(HTTP_REQUESTS, "method" => method.to_string(), "route" => route.to_string(), "status" => status.to_string()).increment(1);
    histogram!(HTTP_DURATION, "method" => method.to_string(), "route" => route.to_string())
        .record(elapsed.as_secs_f64());
}

/// A new case taken (a replayed request is not counted).
pub fn intake(outcome: &'static str) {
    counter!(INTAKES, "outcome" => outcome).increment(1);
}

/// One committed (or failed) transaction of `writes` case writes.
pub fn commit(writes: usize, elapsed: Duration) {
    histogram!(STORE_BATCH).record(writes as f64);
    histogram!(STORE_COMMIT).record(elapsed.as_secs_f64());
}

pub fn due_fired(kind: &'static str) {
    counter!(DUE_FIRED, "kind" => kind).increment(1);
}

pub fn due_failed() {
    counter!(DUE_FAILED).increment(1);
}

pub fn reload(trigger: &str, result: &'static str) {
    counter!(RELOADS, "trigger" => trigger.to_string(), "result" => result).increment(1);
}

pub fn outbox_delivered(subscriber: &str) {
    counter!(OUTBOX_DELIVERED, "subscriber" => subscriber.to_string()).increment(1);
}

pub fn outbox_failed(subscriber: &str) {
    counter!(OUTBOX_FAILED, "subscriber" => subscriber.to_string()).increment(1);
}

/// One subscriber's backlog at scrape time.
#[derive(Debug, Clone)]
pub struct OutboxGauge {
    pub subscriber: String,
    pub undelivered: i64,
    pub dead: i64,
    pub oldest_age_secs: f64,
    pub alert: bool,
}

/// What describes the service's state now, read when Prometheus scrapes.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub catalog_hash: String,
    pub catalog_version: String,
    pub activated_at_ms: i64,
    pub calendar_days_left: i64,
    pub pool: PoolState,
    /// `None` when the database could not be asked.
    pub due: Option<DueCounts>,
    /// Every configured subscriber (zeros when nothing waits).
    pub outbox: Vec<OutboxGauge>,
}

/// The text Prometheus scrapes: the state gauges set from `now`, then everything recorded.
pub fn render(now: Snapshot) -> Option<String> {
    let handle = install()?;
    // Held until rendered: apps of one process (the tests) share the gauges, and each scrape
    // answers with its own app's values.
    let mut active = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((hash, v)) = active.as_ref() {
        if *hash != now.catalog_hash {
            gauge!(CATALOG_ACTIVE, "hash" => hash.clone(), "version" => v.clone()).set(0.0);
        }
    }
    gauge!(CATALOG_ACTIVE, "hash" => now.catalog_hash.clone(), "version" => now.catalog_version.clone())
        .set(1.0);
    *active = Some((now.catalog_hash, now.catalog_version));
    gauge!(CATALOG_ACTIVATED).set(now.activated_at_ms as f64 / 1000.0);
    gauge!(CALENDAR_DAYS_LEFT).set(now.calendar_days_left as f64);
    gauge!(POOL_CONNECTIONS, "state" => "idle").set(f64::from(now.pool.idle));
    gauge!(POOL_CONNECTIONS, "state" => "in_use").set(f64::from(now.pool.in_use));
    gauge!(POOL_MAX).set(f64::from(now.pool.max));
    if let Some(c) = now.due {
        gauge!(DUE_PENDING).set(c.pending as f64);
        gauge!(DUE_OVERDUE).set(c.overdue as f64);
    }
    for o in &now.outbox {
        let s = o.subscriber.clone();
        gauge!(OUTBOX_UNDELIVERED, "subscriber" => s.clone()).set(o.undelivered as f64);
        gauge!(OUTBOX_DEAD, "subscriber" => s.clone()).set(o.dead as f64);
        gauge!(OUTBOX_OLDEST_AGE, "subscriber" => s.clone()).set(o.oldest_age_secs);
        gauge!(OUTBOX_ALERT, "subscriber" => s).set(if o.alert { 1.0 } else { 0.0 });
    }
    let text = handle.render();
    drop(active);
    Some(text)
}
