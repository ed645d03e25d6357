//! What one client may cost: a token bucket per user (429 `rate_limited` with `Retry-After`) and
//! a time limit per request (503 `request_timeout`).

use crate::error_code::ErrorCode;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};

use super::error::ApiError;
use super::RequestId;
use crate::app::App;
use crate::config::Config;

/// Above this many buckets, full (idle) ones are dropped before a new one is added.
const PRUNE_AT: usize = 10_000;
/// The longest `Retry-After` we announce.
const MAX_RETRY_AFTER_SECS: f64 = 86_400.0;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per key (the user id): `rate` tokens a second up to `burst`; each request
/// takes one. Disabled when the rate is 0.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(per_sec: f64, burst: u32) -> Self {
        Self {
            rate: if per_sec.is_finite() && per_sec > 0.0 {
                per_sec
            } else {
                0.0
            },
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn from_config(c: &Config) -> Self {
        Self::new(c.rate_limit_per_sec, c.rate_limit_burst)
    }

    /// Take one token for `key` now; `Err(seconds)` until one is available.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        if self.rate == 0.0 {
            return Ok(());
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let refill = |b: &mut Bucket| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
            b.at = now;
        };
        if !buckets.contains_key(key) {
            if buckets.len() >= PRUNE_AT {
                buckets.retain(|_, b| {
                    refill(b);
                    b.tokens < self.burst
                });
            }
            buckets.insert(
                key.to_string(),
                Bucket {
                    tokens: self.burst,
                    at: now,
                },
            );
        }
        let Some(b) = buckets.get_mut(key) else {
            return Ok(());
        };
        refill(b);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - b.tokens) / self.rate).ceil();
            Err(wait.clamp(1.0, MAX_RETRY_AFTER_SECS) as u64)
        }
    }
}

/// The answer when a user's bucket is empty.
/// Failed sign-ins per client address (a token bucket of its own): guessing tokens is slowed
/// whoever the guesses claim to be.
pub struct AuthFailures(pub RateLimiter);

impl AuthFailures {
    pub fn from_config(c: &Config) -> Self {
        Self(RateLimiter::new(
            f64::from(c.auth_failures_per_min) / 60.0,
            c.auth_failure_burst.max(1),
        ))
    }
}

pub fn rate_limited(retry_after: u64) -> ApiError {
    ApiError::new(
        ErrorCode::RateLimited,
        format!("请求过于频繁，请 {retry_after} 秒后重试"),
    )
    .with_details(serde_json::json!({ "retry_after_seconds": retry_after }))
    .with_retry_after(retry_after)
}

/// Ends the wait for a request that takes longer than `request_timeout_ms` (reading a slow body
/// included) with 503 `request_timeout`. The work already handed to a blocking thread may still
/// finish: an intake or a change may be stored after this answer, which is why the message
/// points to the case and the Idempotency-Key that every change takes. (The answer is returned as an error: the request itself is
/// gone with the dropped future, and actix answers with the error's response.)
pub async fn time_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let ms = req
        .app_data::<web::Data<App>>()
        .map_or(0, |a| a.config.request_timeout_ms);
    if ms == 0 {
        return next.call(req).await;
    }
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    match actix_web::rt::time::timeout(Duration::from_millis(ms), next.call(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(limit_ms = ms, "request timed out");
            Err(ApiError::new(ErrorCode::RequestTimeout,
                format!(
                    "请求未能在 {ms} 毫秒内处理完毕。该操作可能已经保存：请使用同一 Idempotency-Key 原样重试（已保存的操作会返回原结果，不会重复办理），或先查看办件确认"
                ),
            )
            .with_details(serde_json::json!({ "limit_ms": ms, "request_id": request_id }))
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_the_rate() {
        let l = RateLimiter::new(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check_at("a", t0), Ok(()));
        }
        assert_eq!(l.check_at("a", t0), Err(1));
        // Another user has a bucket of their own.
        assert_eq!(l.check_at("b", t0), Ok(()));
        // Half a second at 2/s is one token, and no more.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(l.check_at("a", t1), Ok(()));
        assert!(l.check_at("a", t1).is_err());
        // A long pause refills to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(l.check_at("a", t2), Ok(()));
        }
        assert!(l.check_at("a", t2).is_err());
    }

    #[test]
    fn retry_after_is_the_wait_for_one_token() {
        let l = RateLimiter::new(0.25, 1);
        let t0 = Instant::now();
        assert_eq!(l.check_at("a", t0), Ok(()));
        assert_eq!(l.check_at("a", t0), Err(4));
        assert_eq!(l.check_at("a", t0 + Duration::from_secs(1)), Err(3));
    }

    #[test]
    fn zero_rate_is_off() {
        let l = RateLimiter::new(0.0, 1);
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert_eq!(l.check_at("a", t0), Ok(()));
        }
    }

    #[test]
    fn idle_buckets_are_pruned() {
        let l = RateLimiter::new(1.0, 1);
        let t0 = Instant::now();
        for i in 0..PRUNE_AT {
            assert_eq!(l.check_at(&format!("u{i}"), t0), Ok(()));
        }
        let later = t0 + Duration::from_secs(10);
        assert_eq!(l.check_at("new", later), Ok(()));
        let n = l.buckets.lock().map(|b| b.len()).unwrap_or_default();
        assert_eq!(n, 1);
    }
}
