//! China Standard Time (UTC+8, no daylight saving): the dates every deadline is counted in. The
//! one place its offset is written.

use chrono::{DateTime, FixedOffset, NaiveDate, Offset, Utc};

/// UTC+8 in milliseconds.
pub const OFFSET_MS: i64 = 8 * 3_600_000;

/// UTC+8 as a chrono offset.
pub fn offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or(Utc.fix())
}

/// The China date of a unix-milliseconds instant.
pub fn date_of_ms(ms: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(ms.saturating_add(OFFSET_MS))
        .unwrap_or_default()
        .date_naive()
}

/// Milliseconds since 00:00 China time of the instant's day.
pub fn ms_of_day(ms: i64) -> i64 {
    ms.saturating_add(OFFSET_MS).rem_euclid(86_400_000)
}

/// Unix milliseconds of 00:00 China time on `day` (`i64::MIN` if out of range).
pub fn start_of_day_ms(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map_or(i64::MIN, |t| t.and_utc().timestamp_millis() - OFFSET_MS)
}

/// RFC 3339 in China time of unix milliseconds, e.g. `2026-03-02T09:00:00.000+08:00`.
pub fn rfc3339_of_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&offset())
        .format("%Y-%m-%dT%H:%M:%S%.3f+08:00")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_dates_turn_at_16_00_utc() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let start = start_of_day_ms(day);
        assert_eq!(start, 1_772_380_800_000);
        assert_eq!(date_of_ms(start), day);
        assert_eq!(date_of_ms(start - 1), day.pred_opt().unwrap());
        assert_eq!(ms_of_day(start + 5), 5);
        assert_eq!(rfc3339_of_ms(start), "2026-03-02T00:00:00.000+08:00");
    }
}
