//! The service's clock: the machine's, or one tests set by hand. Dates are China Standard Time
//! (`domain::china_time`).

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{NaiveDate, Utc};

use crate::domain::china_time;

/// The time source. Deadlines are computed on China Standard Time dates.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
    /// Today's date in China Standard Time (UTC+8, no daylight saving).
    fn today(&self) -> NaiveDate {
        china_time::date_of_ms(self.now_ms())
    }
}

/// The machine's clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis()
    }
}

/// A clock tests set by hand.
#[derive(Debug, Default)]
pub struct ManualClock {
    ms: AtomicI64,
}

impl ManualClock {
    /// A clock at 09:00 China time on `day`.
    pub fn at(day: NaiveDate) -> Self {
        let c = Self::default();
        c.set_day(day);
        c
    }
    pub fn set_day(&self, day: NaiveDate) {
        let ms = day
            .and_hms_opt(1, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_millis());
        self.ms.store(ms, Ordering::SeqCst);
    }
}

impl ManualClock {
    /// Move the clock on by `ms` milliseconds.
    pub fn advance_ms(&self, ms: i64) {
        self.ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.ms.load(Ordering::SeqCst)
    }
}
