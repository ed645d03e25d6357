//! Deadlines in working days (行政许可法 Art. 82) on the newest published calendar.
//!
//! A deadline is a start and a number of working days; its date follows from the calendar. Past
//! the published calendar the date is unknown (`None`), never guessed, and is set as soon as a
//! calendar that covers it is published. Pauses (特别程序, Art. 45) and extensions (Art. 42) add
//! working days to the count, so a deadline that crosses the end of the calendar keeps its count
//! and gets its date later.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::calendar::Calendar;

/// Working-day arithmetic for one place: the calendar (the newest published one: the calendar is
/// a fact about the world, not a rule of the case's catalog version), the place's region, and the
/// share of a period after which it turns yellow.
#[derive(Debug, Clone, Copy)]
pub struct WorkingDays<'a> {
    calendar: &'a Calendar,
    region: Option<&'a str>,
    warn_percent: u32,
}

impl<'a> WorkingDays<'a> {
    pub fn new(calendar: &'a Calendar, region: Option<&'a str>, warn_percent: u32) -> Self {
        Self {
            calendar,
            region,
            warn_percent,
        }
    }

    /// The date `n` working days after `start`; `None` past the published calendar.
    pub fn add(&self, start: NaiveDate, n: u32) -> Option<NaiveDate> {
        self.calendar.add_working_days(start, n, self.region).ok()
    }

    /// Working days in `(from, to]`; `None` when either day is outside the calendar.
    pub fn between(&self, from: NaiveDate, to: NaiveDate) -> Option<i64> {
        self.calendar
            .working_days_between(from, to, self.region)
            .ok()
    }

    /// Working days in `(from, to]`, counted as far as the calendar reaches (0 for `to < from`).
    pub fn between_or_covered(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        if to <= from {
            return 0;
        }
        let (_, last) = self.calendar.coverage();
        let n = self.between(from, to.min(last)).unwrap_or(0).max(0);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// A deadline `days` working days after `start`.
    pub fn deadline(&self, start: NaiveDate, days: u32) -> Deadline {
        Deadline {
            start,
            working_days: days,
            date: self.add(start, days),
        }
    }

    /// The yellow (预警) deadline of a period of `days` working days from `start`: once the
    /// warning share of it has passed.
    pub fn warning(&self, start: NaiveDate, days: u32) -> Deadline {
        let share = (u64::from(days) * u64::from(self.warn_percent)).div_ceil(100);
        self.deadline(start, u32::try_from(share).unwrap_or(days))
    }
}

/// A deadline: `working_days` after `start`, due on `date` once the calendar reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Deadline {
    pub start: NaiveDate,
    pub working_days: u32,
    /// `None` while the published calendar does not reach it (date pending).
    pub date: Option<NaiveDate>,
}

impl Deadline {
    /// The same deadline `n` working days later (a pause or an extension).
    pub fn shifted(self, n: u32, days: &WorkingDays) -> Deadline {
        days.deadline(self.start, self.working_days.saturating_add(n))
    }

    pub fn is_pending(&self) -> bool {
        self.date.is_none()
    }

    /// Whether `today` is past the due date (never for a pending date).
    pub fn is_past(&self, today: NaiveDate) -> bool {
        self.date.is_some_and(|d| today > d)
    }
}

/// How a running deadline looks today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    Green,
    /// 预警: the warning share of the time has passed.
    Yellow,
    /// Overdue.
    Red,
    /// The due date lies past the published calendar: not known yet, so never green.
    DatePending,
}

impl Colour {
    /// The colour of a running period due at `due`, yellow from `warn`.
    pub fn of(today: NaiveDate, warn: Option<&Deadline>, due: Option<&Deadline>) -> Colour {
        match (warn.and_then(|w| w.date), due) {
            (_, Some(d)) if d.is_past(today) => Colour::Red,
            (Some(w), _) if today >= w => Colour::Yellow,
            (_, Some(d)) if d.is_pending() => Colour::DatePending,
            (None, _) if warn.is_some_and(Deadline::is_pending) => Colour::DatePending,
            _ => Colour::Green,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::CalendarYearFile;

    fn cal() -> Calendar {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/rules/calendar/2026.yaml"
        ))
        .unwrap();
        Calendar::from_years(vec![CalendarYearFile::from_yaml_str(&text).unwrap()]).unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_shifted_deadline_is_the_same_as_counting_on() {
        let cal = cal();
        let days = WorkingDays::new(&cal, None, 80);
        let due = days.deadline(d("2026-09-28"), 10);
        assert_eq!(due.date, Some(d("2026-10-16")));
        let later = due.shifted(2, &days);
        assert_eq!(later.working_days, 12);
        assert_eq!(later.date, days.add(due.date.unwrap(), 2));
    }

    #[test]
    fn past_the_calendar_the_date_is_pending_and_the_count_is_kept() {
        let cal = cal();
        let days = WorkingDays::new(&cal, None, 80);
        let due = days.deadline(d("2026-12-20"), 20);
        assert_eq!(due.date, None);
        assert_eq!(due.working_days, 20);
        assert_eq!(due.shifted(3, &days).working_days, 23);
        let warn = days.warning(d("2026-12-20"), 20);
        assert_eq!(
            Colour::of(d("2026-12-21"), Some(&warn), Some(&due)),
            Colour::DatePending
        );
    }

    #[test]
    fn colours_follow_the_dates() {
        let cal = cal();
        let days = WorkingDays::new(&cal, None, 80);
        let due = days.deadline(d("2026-03-02"), 8); // 3/12
        let warn = days.warning(d("2026-03-02"), 8); // 7 days: 3/11
        assert_eq!(due.date, Some(d("2026-03-12")));
        assert_eq!(warn.date, Some(d("2026-03-11")));
        let c = |t| Colour::of(d(t), Some(&warn), Some(&due));
        assert_eq!(c("2026-03-10"), Colour::Green);
        assert_eq!(c("2026-03-11"), Colour::Yellow);
        assert_eq!(c("2026-03-12"), Colour::Yellow);
        assert_eq!(c("2026-03-13"), Colour::Red);
    }
}
