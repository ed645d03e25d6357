//! The working-day calendar (工作日历).
//!
//! China's working days are data, not arithmetic: the State Council publishes the statutory
//! holidays (法定节假日) and the make-up working days (调休上班日, usually a Saturday or Sunday)
//! for the next year each November. This module loads those published years from
//! `rules/calendar/<year>.yaml`, lets a region (e.g. a township) overlay local holidays and
//! working days, and answers period questions (行政许可法 Art. 82: periods count working days).
//!
//! Period rules (民法典 Art. 201 / 203, as the project reads them):
//! * the starting day is not counted;
//! * if the starting day is a rest day, the period starts from the next working day, and that
//!   day is the (uncounted) starting day;
//! * because only working days are counted, the due date is always a working day, so Art. 203
//!   (a period ending on a rest day ends on the next working day) holds by construction.
//!
//! Nothing is ever guessed beyond the published years: any answer that would need a day outside
//! the coverage returns [`BeyondCoverage`].
//!
//! All queries are O(1) or O(log r) (r = number of regions): each region (and the national
//! calendar) has a precomputed bitmap over the covered range, prefix sums of working days and
//! the sorted list of working-day indices.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One published year: `rules/calendar/<year>.yaml`.
#[derive(Deserialize, Serialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CalendarYearFile {
    /// 年份
    pub year: i32,
    /// 法定节假日放假区间（含其间的周末）
    pub holidays: Vec<HolidaySpan>,
    /// 调休上班日（周六或周日）
    #[serde(default)]
    pub workdays: Vec<MakeUpWorkday>,
    /// 地方增加的假日/工作日，键为地区编号
    #[serde(default)]
    pub regions: BTreeMap<String, RegionalAdditions>,
}

/// A span of rest days, both ends included (e.g. 春节 2026-02-15 .. 2026-02-23).
#[derive(Deserialize, Serialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HolidaySpan {
    /// 节日名称
    pub name: String,
    /// 放假首日（含）
    #[schemars(with = "String")]
    pub from: NaiveDate,
    /// 放假末日（含）
    #[schemars(with = "String")]
    pub to: NaiveDate,
}

/// A Saturday or Sunday that is a working day (调休上班日).
#[derive(Deserialize, Serialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MakeUpWorkday {
    /// 上班日期
    #[schemars(with = "String")]
    pub date: NaiveDate,
    /// 备注（如“春节调休”）
    #[serde(default)]
    pub note: Option<String>,
}

/// Local holidays and working days a region adds on top of the national calendar.
#[derive(Deserialize, Serialize, JsonSchema, Debug, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RegionalAdditions {
    /// 地方增加的放假区间
    #[serde(default)]
    pub holidays: Vec<HolidaySpan>,
    /// 地方增加的上班日
    #[serde(default)]
    pub workdays: Vec<MakeUpWorkday>,
}

impl CalendarYearFile {
    /// Parse one year file from YAML text.
    pub fn from_yaml_str(text: &str) -> Result<CalendarYearFile, serde_yaml::Error> {
        serde_yaml::from_str(text)
    }
}

/// A computation needed a day outside the published calendar.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error(
    "日期 {date} 超出已发布的工作日历范围（{covered_from} 至 {covered_until}），期限无法精确计算 / \
     {date} is beyond calendar coverage ({covered_from} to {covered_until}); the period cannot be computed exactly"
)]
pub struct BeyondCoverage {
    /// The first day the computation needed that is not covered.
    pub date: NaiveDate,
    pub covered_from: NaiveDate,
    pub covered_until: NaiveDate,
}

/// Why a set of calendar files was rejected.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum CalendarError {
    #[error("没有任何工作日历年度文件 / no calendar year files")]
    NoYears,
    #[error("年份 {0} 无效 / invalid year {0}")]
    InvalidYear(i32),
    #[error("工作日历年份 {0} 重复 / duplicate calendar year {0}")]
    DuplicateYear(i32),
    #[error("工作日历缺少 {after} 与 {next} 之间的年份，年份必须连续 / calendar years must be contiguous: gap between {after} and {next}")]
    YearGap { after: i32, next: i32 },
    #[error("{year} 年工作日历中的日期 {date}（{what}）不在该年度内 / date {date} ({what}) is outside year {year}")]
    DateOutsideYear {
        year: i32,
        date: NaiveDate,
        what: String,
    },
    #[error("假日“{name}”的起始日 {from} 晚于结束日 {to} / holiday {name}: from {from} is after to {to}")]
    InvertedSpan {
        name: String,
        from: NaiveDate,
        to: NaiveDate,
    },
    #[error("假日“{first}”与“{second}”在 {date} 重叠{} / holidays {first} and {second} overlap on {date}", region_suffix(.region))]
    OverlappingHolidays {
        first: String,
        second: String,
        date: NaiveDate,
        region: Option<String>,
    },
    #[error("{date} 既是假日又是调休上班日{} / {date} is both a holiday and a make-up working day", region_suffix(.region))]
    HolidayAndWorkday {
        date: NaiveDate,
        region: Option<String>,
    },
    #[error("{date} 被列为两次调休上班日{} / {date} is listed twice as a make-up working day", region_suffix(.region))]
    DuplicateWorkday {
        date: NaiveDate,
        region: Option<String>,
    },
    #[error("全国调休上班日 {date} 不是周六或周日，请核对 / national make-up working day {date} is not a Saturday or Sunday")]
    WorkdayNotWeekend { date: NaiveDate },
    #[error("读取工作日历文件 {path} 失败：{message} / cannot read calendar file")]
    Io { path: PathBuf, message: String },
    #[error("工作日历文件 {path} 格式错误：{message} / invalid calendar file")]
    Parse { path: PathBuf, message: String },
}

fn region_suffix(region: &Option<String>) -> String {
    match region {
        Some(r) => format!("（地区 {r}）"),
        None => String::new(),
    }
}

/// Per-region (or national) precomputed day table over the covered range.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DayTable {
    /// Bit i set = day i (counted from the coverage start) is a working day.
    bits: Vec<u64>,
    /// `prefix[i]` = number of working days among days `0..i`; length = days + 1.
    prefix: Vec<u32>,
    /// Day indices of the working days, ascending: `working[k]` is the k-th working day.
    working: Vec<u32>,
    /// Holiday name (index into `Calendar::names`) for rest days inside a holiday span.
    holiday: Vec<Option<u32>>,
}

impl DayTable {
    fn is_working(&self, i: usize) -> bool {
        (self.bits[i / 64] >> (i % 64)) & 1 == 1
    }
}

/// The working-day calendar over a contiguous run of published years. Two calendars are equal
/// when they give every day the same meaning (the scheduler dates open cases again when the
/// active one changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    start: NaiveDate,
    end: NaiveDate,
    days: usize,
    names: Vec<String>,
    national: DayTable,
    regions: BTreeMap<String, DayTable>,
}

impl Calendar {
    /// A digest of everything the calendar says (its range and every day's meaning, national
    /// and per region): equal calendars have equal fingerprints. Stored to remember which
    /// calendar the open cases were dated on; a different rendering after an upgrade only
    /// costs one more dating pass.
    pub fn fingerprint(&self) -> String {
        crate::digest::sha256_hex(format!("{self:?}").as_bytes())
    }

    /// The first day `self` and `other` give a different meaning — working day, rest day, or
    /// not covered — nationally or in any region of either; `None` when they agree on every day.
    /// A deadline whose date is before that day cannot move: every day from its start to its
    /// date means the same in both.
    pub fn first_difference(&self, other: &Calendar) -> Option<NaiveDate> {
        let from = self.start.min(other.start);
        let to = self.end.max(other.end);
        let regions: std::collections::BTreeSet<&str> =
            self.regions().chain(other.regions()).collect();
        let places: Vec<Option<&str>> = std::iter::once(None)
            .chain(regions.into_iter().map(Some))
            .collect();
        from.iter_days().take_while(|d| *d <= to).find(|&d| {
            places
                .iter()
                .any(|&r| self.is_working_day(d, r).ok() != other.is_working_day(d, r).ok())
        })
    }
}

fn check_in_year(year: i32, date: NaiveDate, what: &str) -> Result<(), CalendarError> {
    if date.year() == year {
        Ok(())
    } else {
        Err(CalendarError::DateOutsideYear {
            year,
            date,
            what: what.to_string(),
        })
    }
}

/// Validate one list of holidays + workdays (national or one region's) within one year.
fn validate_layer(
    year: i32,
    holidays: &[HolidaySpan],
    workdays: &[MakeUpWorkday],
    region: Option<&str>,
) -> Result<(), CalendarError> {
    let mut off: BTreeMap<NaiveDate, &str> = BTreeMap::new();
    for h in holidays {
        check_in_year(year, h.from, &h.name)?;
        check_in_year(year, h.to, &h.name)?;
        if h.from > h.to {
            return Err(CalendarError::InvertedSpan {
                name: h.name.clone(),
                from: h.from,
                to: h.to,
            });
        }
        for d in h.from.iter_days().take_while(|d| *d <= h.to) {
            if let Some(first) = off.insert(d, &h.name) {
                return Err(CalendarError::OverlappingHolidays {
                    first: first.to_string(),
                    second: h.name.clone(),
                    date: d,
                    region: region.map(str::to_string),
                });
            }
        }
    }
    let mut seen = BTreeSet::new();
    for w in workdays {
        check_in_year(year, w.date, w.note.as_deref().unwrap_or("调休上班日"))?;
        if off.contains_key(&w.date) {
            return Err(CalendarError::HolidayAndWorkday {
                date: w.date,
                region: region.map(str::to_string),
            });
        }
        if !seen.insert(w.date) {
            return Err(CalendarError::DuplicateWorkday {
                date: w.date,
                region: region.map(str::to_string),
            });
        }
        if region.is_none() && !matches!(w.date.weekday(), Weekday::Sat | Weekday::Sun) {
            return Err(CalendarError::WorkdayNotWeekend { date: w.date });
        }
    }
    Ok(())
}

impl Calendar {
    /// Build the calendar from published year files (any order).
    ///
    /// Validates: at least one year, no duplicate years, contiguous years, every date inside its
    /// file's year, `from <= to`, no overlapping holiday spans, no date both holiday and make-up
    /// working day, national make-up working days on a Saturday or Sunday (same checks, except
    /// the weekend one, for each region's additions).
    pub fn from_years(mut files: Vec<CalendarYearFile>) -> Result<Calendar, CalendarError> {
        files.sort_by_key(|f| f.year);
        for pair in files.windows(2) {
            let (a, b) = (pair[0].year, pair[1].year);
            if a == b {
                return Err(CalendarError::DuplicateYear(a));
            }
            if b != a + 1 {
                return Err(CalendarError::YearGap { after: a, next: b });
            }
        }
        let (first, last) = match (files.first(), files.last()) {
            (Some(f), Some(l)) => (f.year, l.year),
            _ => return Err(CalendarError::NoYears),
        };
        let start =
            NaiveDate::from_ymd_opt(first, 1, 1).ok_or(CalendarError::InvalidYear(first))?;
        let end = NaiveDate::from_ymd_opt(last, 12, 31).ok_or(CalendarError::InvalidYear(last))?;

        for f in &files {
            validate_layer(f.year, &f.holidays, &f.workdays, None)?;
            for (id, add) in &f.regions {
                validate_layer(f.year, &add.holidays, &add.workdays, Some(id))?;
            }
        }

        let days = usize::try_from((end - start).num_days() + 1)
            .map_err(|_| CalendarError::InvalidYear(last))?;
        let index = |d: NaiveDate| -> usize {
            // Validated above: every date lies inside the covered years.
            (d - start).num_days() as usize
        };

        let mut names: Vec<String> = Vec::new();
        let mut name_id = |name: &str| -> u32 {
            match names.iter().position(|n| n == name) {
                Some(i) => i as u32,
                None => {
                    names.push(name.to_string());
                    (names.len() - 1) as u32
                }
            }
        };

        // National layer: weekdays work, holidays rest, make-up days work.
        let mut working = vec![false; days];
        for (i, d) in start.iter_days().take(days).enumerate() {
            working[i] = !matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
        }
        let mut holiday: Vec<Option<u32>> = vec![None; days];
        for f in &files {
            apply_layer(
                &f.holidays,
                &f.workdays,
                &mut working,
                &mut holiday,
                &index,
                &mut name_id,
            );
        }

        // Regional layers overlay the national one.
        let region_ids: BTreeSet<&String> = files.iter().flat_map(|f| f.regions.keys()).collect();
        let mut regions = BTreeMap::new();
        for id in region_ids {
            let mut w = working.clone();
            let mut h = holiday.clone();
            for f in &files {
                if let Some(add) = f.regions.get(id) {
                    apply_layer(
                        &add.holidays,
                        &add.workdays,
                        &mut w,
                        &mut h,
                        &index,
                        &mut name_id,
                    );
                }
            }
            regions.insert(id.clone(), build_table(&w, h));
        }
        let national = build_table(&working, holiday);

        Ok(Calendar {
            start,
            end,
            days,
            names,
            national,
            regions,
        })
    }

    /// Read every `*.yaml` / `*.yml` file in `dir` and build the calendar.
    pub fn load_dir(dir: &Path) -> Result<Calendar, CalendarError> {
        let io = |path: &Path, e: std::io::Error| CalendarError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
            let path = entry.map_err(|e| io(dir, e))?.path();
            let is_yaml = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e == "yaml" || e == "yml");
            if is_yaml {
                paths.push(path);
            }
        }
        paths.sort();
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            let file =
                CalendarYearFile::from_yaml_str(&text).map_err(|e| CalendarError::Parse {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            files.push(file);
        }
        Calendar::from_years(files)
    }

    /// First and last covered day (Jan 1 of the first year, Dec 31 of the last year).
    pub fn coverage(&self) -> (NaiveDate, NaiveDate) {
        (self.start, self.end)
    }

    /// From 1 November of the calendar's last year, while the next year is not published: what
    /// county IT must do (dates past the end stay pending until then).
    pub fn next_year_missing(&self, today: NaiveDate) -> Option<String> {
        use chrono::Datelike as _;
        let last = self.end.year();
        let november = NaiveDate::from_ymd_opt(last, 11, 1)?;
        (today >= november).then(|| {
            format!(
                "{next} 年工作日历尚未发布：{until} 之后的期限日期暂定不了。请按国务院办公厅{next}年节假日安排通知生成 calendar/{next}.yaml（yichuang calendar import）并发布目录。/ The {next} calendar is missing: deadlines after {until} have no date until it is published.",
                next = last + 1,
                until = self.end
            )
        })
    }

    /// Region ids that have local additions.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.regions.keys().map(String::as_str)
    }

    fn table(&self, region: Option<&str>) -> &DayTable {
        region
            .and_then(|r| self.regions.get(r))
            .unwrap_or(&self.national)
    }

    fn beyond(&self, date: NaiveDate) -> BeyondCoverage {
        BeyondCoverage {
            date,
            covered_from: self.start,
            covered_until: self.end,
        }
    }

    /// The first day after the coverage (what a computation running off the end needed).
    fn day_after_end(&self) -> NaiveDate {
        self.end.checked_add_days(Days::new(1)).unwrap_or(self.end)
    }

    fn index(&self, date: NaiveDate) -> Result<usize, BeyondCoverage> {
        if date < self.start || date > self.end {
            return Err(self.beyond(date));
        }
        Ok((date - self.start).num_days() as usize)
    }

    fn date_at(&self, i: u32) -> NaiveDate {
        self.start
            .checked_add_days(Days::new(u64::from(i)))
            .unwrap_or(self.end)
    }

    /// Whether `date` is a working day in `region` (national calendar if `None` or unknown).
    pub fn is_working_day(
        &self,
        date: NaiveDate,
        region: Option<&str>,
    ) -> Result<bool, BeyondCoverage> {
        let i = self.index(date)?;
        Ok(self.table(region).is_working(i))
    }

    /// Name of the holiday `date` falls in, if it is a rest day inside a holiday span
    /// (regional spans take precedence). `None` for working days, ordinary weekends and days
    /// outside the coverage.
    pub fn holiday_name(&self, date: NaiveDate, region: Option<&str>) -> Option<&str> {
        let i = self.index(date).ok()?;
        let id = self.table(region).holiday[i]?;
        self.names.get(id as usize).map(String::as_str)
    }

    /// The first working day on or after `date`.
    pub fn next_working_day(
        &self,
        date: NaiveDate,
        region: Option<&str>,
    ) -> Result<NaiveDate, BeyondCoverage> {
        let t = self.table(region);
        let i = self.index(date)?;
        let rank = t.prefix[i] as usize;
        match t.working.get(rank) {
            Some(&j) => Ok(self.date_at(j)),
            None => Err(self.beyond(self.day_after_end())),
        }
    }

    /// The due date `n` working days after `start`.
    ///
    /// The starting day is not counted; if `start` is a rest day the period starts from the
    /// next working day (which is then the uncounted starting day). `n = 0` returns `start` if
    /// it is a working day, else the next working day.
    ///
    /// Friday 2026-11-20 + 1 = Monday 11-23; Saturday 11-21 + 1 = Tuesday 11-24.
    pub fn add_working_days(
        &self,
        start: NaiveDate,
        n: u32,
        region: Option<&str>,
    ) -> Result<NaiveDate, BeyondCoverage> {
        let t = self.table(region);
        let i = self.index(start)?;
        let rank = t.prefix[i] as usize; // rank of the first working day on or after start
        let target = rank.checked_add(n as usize);
        match target.and_then(|k| t.working.get(k)) {
            Some(&j) => Ok(self.date_at(j)),
            None => Err(self.beyond(self.day_after_end())),
        }
    }

    /// Number of working days in `(from, to]`; negative (minus the count in `(to, from]`) if
    /// `to < from`. For a working day `d`:
    /// `working_days_between(d, add_working_days(d, n)?) == n`.
    pub fn working_days_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        region: Option<&str>,
    ) -> Result<i64, BeyondCoverage> {
        let t = self.table(region);
        let a = self.index(from)?;
        let b = self.index(to)?;
        // prefix[i + 1] = working days among 0..=i.
        Ok(i64::from(t.prefix[b + 1]) - i64::from(t.prefix[a + 1]))
    }

    /// Number of days covered (for diagnostics).
    pub fn covered_days(&self) -> usize {
        self.days
    }
}

fn apply_layer(
    holidays: &[HolidaySpan],
    workdays: &[MakeUpWorkday],
    working: &mut [bool],
    holiday: &mut [Option<u32>],
    index: &impl Fn(NaiveDate) -> usize,
    name_id: &mut impl FnMut(&str) -> u32,
) {
    for h in holidays {
        let id = name_id(&h.name);
        for i in index(h.from)..=index(h.to) {
            working[i] = false;
            holiday[i] = Some(id);
        }
    }
    for w in workdays {
        let i = index(w.date);
        working[i] = true;
        holiday[i] = None;
    }
}

fn build_table(working: &[bool], holiday: Vec<Option<u32>>) -> DayTable {
    let mut bits = vec![0u64; working.len().div_ceil(64)];
    let mut prefix = Vec::with_capacity(working.len() + 1);
    let mut list = Vec::new();
    let mut count = 0u32;
    prefix.push(0);
    for (i, &w) in working.iter().enumerate() {
        if w {
            bits[i / 64] |= 1 << (i % 64);
            list.push(i as u32);
            count += 1;
        }
        prefix.push(count);
    }
    DayTable {
        bits,
        prefix,
        working: list,
        holiday,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn rules_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/calendar")
    }

    fn year_file(year: i32) -> CalendarYearFile {
        let path = rules_dir().join(format!("{year}.yaml"));
        let text = std::fs::read_to_string(&path).unwrap();
        CalendarYearFile::from_yaml_str(&text).unwrap()
    }

    fn real() -> Calendar {
        Calendar::from_years(vec![year_file(2025), year_file(2026)]).unwrap()
    }

    #[test]
    fn next_year_missing_is_said_from_the_first_of_november() {
        let cal = real();
        assert_eq!(cal.next_year_missing(d(2026, 10, 31)), None);
        let w = cal.next_year_missing(d(2026, 11, 1)).expect("warned");
        assert!(
            w.contains("2027 年工作日历尚未发布") && w.contains("2026-12-31"),
            "{w}"
        );
        assert!(cal.next_year_missing(d(2027, 1, 5)).is_some());
    }

    fn nat(cal: &Calendar, date: NaiveDate) -> bool {
        cal.is_working_day(date, None).unwrap()
    }

    /// Brute-force reference: is `date` a working day per the raw files (national only)?
    fn reference_working(files: &[CalendarYearFile], date: NaiveDate) -> bool {
        for f in files {
            if f.workdays.iter().any(|w| w.date == date) {
                return true;
            }
            if f.holidays.iter().any(|h| h.from <= date && date <= h.to) {
                return false;
            }
        }
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
    }

    #[test]
    fn real_files_load_with_expected_counts() {
        let f25 = year_file(2025);
        let f26 = year_file(2026);
        assert_eq!(
            (f25.year, f25.holidays.len(), f25.workdays.len()),
            (2025, 6, 5)
        );
        assert_eq!(
            (f26.year, f26.holidays.len(), f26.workdays.len()),
            (2026, 7, 6)
        );
        let cal = real();
        assert_eq!(cal.coverage(), (d(2025, 1, 1), d(2026, 12, 31)));
        assert_eq!(cal.covered_days(), 730);
        let loaded = Calendar::load_dir(&rules_dir()).unwrap();
        assert_eq!(loaded.coverage(), cal.coverage());
    }

    #[test]
    fn bitmap_matches_brute_force_reference() {
        let files = vec![year_file(2025), year_file(2026)];
        let cal = Calendar::from_years(files.clone()).unwrap();
        let mut per_year = BTreeMap::new();
        for date in d(2025, 1, 1)
            .iter_days()
            .take_while(|x| *x <= d(2026, 12, 31))
        {
            let expected = reference_working(&files, date);
            assert_eq!(nat(&cal, date), expected, "{date}");
            *per_year.entry(date.year()).or_insert(0) += i32::from(expected);
        }
        // Counted by hand. 2025 starts on a Wednesday: 261 weekdays; holiday weekdays are
        // 元旦 1 + 春节 6 (1/28-1/31, 2/3, 2/4) + 清明 1 + 劳动节 3 + 端午 1 + 国庆 6 = 18;
        // 261 - 18 + 5 make-up days = 248. 2026 starts on a Thursday: 261 weekdays; holiday
        // weekdays 元旦 2 + 春节 6 + 清明 1 + 劳动节 3 + 端午 1 + 中秋 1 + 国庆 5 = 19;
        // 261 - 19 + 6 = 248.
        assert_eq!(per_year.get(&2025), Some(&248));
        assert_eq!(per_year.get(&2026), Some(&248));
        // The prefix sums agree: (2025-01-01, 2026-12-31] misses only 2025-01-01, which is
        // 元旦 (a rest day), so it holds all 248 + 248 working days.
        assert_eq!(
            cal.working_days_between(d(2025, 1, 1), d(2026, 12, 31), None)
                .unwrap(),
            496
        );
    }

    #[test]
    fn spring_festival_2026_all_rest_days() {
        let cal = real();
        for date in d(2026, 2, 15)
            .iter_days()
            .take_while(|x| *x <= d(2026, 2, 23))
        {
            assert!(!nat(&cal, date), "{date} should be a rest day");
            assert_eq!(cal.holiday_name(date, None), Some("春节"), "{date}");
        }
        // Boundaries: Friday 2/13 and Tuesday 2/24 are ordinary working days.
        assert!(nat(&cal, d(2026, 2, 13)));
        assert!(nat(&cal, d(2026, 2, 24)));
        assert_eq!(cal.holiday_name(d(2026, 2, 24), None), None);
        // National Day 2025 (10/1-10/8) with a weekday inside it.
        assert!(!nat(&cal, d(2025, 10, 8)));
        assert_eq!(
            cal.holiday_name(d(2025, 10, 8), None),
            Some("国庆节、中秋节")
        );
        assert!(nat(&cal, d(2025, 10, 9)));
    }

    #[test]
    fn make_up_weekend_days_are_working_days() {
        let cal = real();
        for (date, wd) in [
            (d(2026, 1, 4), Weekday::Sun),
            (d(2026, 2, 14), Weekday::Sat),
            (d(2026, 2, 28), Weekday::Sat),
            (d(2025, 1, 26), Weekday::Sun),
            (d(2025, 2, 8), Weekday::Sat),
            (d(2026, 10, 10), Weekday::Sat),
        ] {
            assert_eq!(date.weekday(), wd, "{date}");
            assert!(nat(&cal, date), "{date} is a make-up working day");
            assert_eq!(cal.holiday_name(date, None), None);
        }
        // An ordinary weekend stays a rest day and has no holiday name.
        assert!(!nat(&cal, d(2026, 3, 7)));
        assert_eq!(cal.holiday_name(d(2026, 3, 7), None), None);
    }

    #[test]
    fn add_working_days_basic_rules() {
        let cal = real();
        // Friday + 1 = Monday; Saturday + 1 = Tuesday (Saturday rolls to Monday, uncounted).
        assert_eq!(
            cal.add_working_days(d(2026, 11, 20), 1, None).unwrap(),
            d(2026, 11, 23)
        );
        assert_eq!(
            cal.add_working_days(d(2026, 11, 21), 1, None).unwrap(),
            d(2026, 11, 24)
        );
        // n = 0: a working day is its own due date; a rest day rolls to the next working day.
        assert_eq!(
            cal.add_working_days(d(2026, 11, 20), 0, None).unwrap(),
            d(2026, 11, 20)
        );
        assert_eq!(
            cal.add_working_days(d(2026, 11, 22), 0, None).unwrap(),
            d(2026, 11, 23)
        );
        assert_eq!(
            cal.next_working_day(d(2026, 11, 21), None).unwrap(),
            d(2026, 11, 23)
        );
        assert_eq!(
            cal.next_working_day(d(2026, 11, 23), None).unwrap(),
            d(2026, 11, 23)
        );
    }

    #[test]
    fn add_working_days_across_national_day_2026() {
        let cal = real();
        // 2026-09-30 is a Wednesday. 国庆 10/1 (Thu) .. 10/7 (Wed) are rest days; 10/8 (Thu) is
        // an ordinary working day, so 9/30 + 1 = 10/8. Then 10/9 (Fri), and 10/10 (Sat) is a
        // make-up working day: 9/30 + 2 = 10/9, + 3 = 10/10; 10/11 (Sun) rests, + 4 = 10/12.
        assert_eq!(d(2026, 9, 30).weekday(), Weekday::Wed);
        assert_eq!(
            cal.add_working_days(d(2026, 9, 30), 1, None).unwrap(),
            d(2026, 10, 8)
        );
        assert_eq!(
            cal.add_working_days(d(2026, 9, 30), 2, None).unwrap(),
            d(2026, 10, 9)
        );
        assert_eq!(
            cal.add_working_days(d(2026, 9, 30), 3, None).unwrap(),
            d(2026, 10, 10)
        );
        assert_eq!(
            cal.add_working_days(d(2026, 9, 30), 4, None).unwrap(),
            d(2026, 10, 12)
        );
        assert_eq!(
            cal.add_working_days(d(2026, 10, 9), 1, None).unwrap(),
            d(2026, 10, 10)
        );
        // Starting inside the holiday: 10/3 rolls to 10/8 (uncounted), + 1 = 10/9.
        assert_eq!(
            cal.add_working_days(d(2026, 10, 3), 1, None).unwrap(),
            d(2026, 10, 9)
        );
        // 20 working days (Art. 42) from 2026-09-18 (Fri): 9/21-9/24 = 4 (9/20 Sun make-up
        // counts too = 5), 9/25-9/27 中秋 rest, 9/28-9/30 = 3 (8), 国庆 rest, 10/8, 10/9,
        // 10/10 = 3 (11), 10/12-10/16 = 5 (16), 10/19-10/22 = 4 (20) → 10/22 (Thu).
        assert_eq!(
            cal.add_working_days(d(2026, 9, 18), 20, None).unwrap(),
            d(2026, 10, 22)
        );
    }

    #[test]
    fn add_working_days_across_spring_festival_2026() {
        let cal = real();
        // 2026-02-12 (Thu): 2/13 (Fri) = 1, 2/14 (Sat, make-up) = 2, 2/15-2/23 春节 rest,
        // 2/24 (Tue) = 3, 2/25 = 4, 2/26 = 5, 2/27 = 6, 2/28 (Sat, make-up) = 7, 3/2 (Mon) = 8.
        assert_eq!(
            cal.add_working_days(d(2026, 2, 12), 2, None).unwrap(),
            d(2026, 2, 14)
        );
        assert_eq!(
            cal.add_working_days(d(2026, 2, 12), 3, None).unwrap(),
            d(2026, 2, 24)
        );
        assert_eq!(
            cal.add_working_days(d(2026, 2, 12), 7, None).unwrap(),
            d(2026, 2, 28)
        );
        assert_eq!(
            cal.add_working_days(d(2026, 2, 12), 8, None).unwrap(),
            d(2026, 3, 2)
        );
        assert_eq!(
            cal.working_days_between(d(2026, 2, 12), d(2026, 3, 2), None)
                .unwrap(),
            8
        );
    }

    #[test]
    fn year_boundary_2025_to_2026() {
        let cal = real();
        // 2025-12-31 (Wed). 元旦 2026 = 1/1 (Thu) .. 1/3 (Sat) rest; 1/4 (Sun) make-up working
        // day = 1; 1/5 (Mon) = 2.
        assert_eq!(
            cal.add_working_days(d(2025, 12, 31), 1, None).unwrap(),
            d(2026, 1, 4)
        );
        assert_eq!(
            cal.add_working_days(d(2025, 12, 31), 2, None).unwrap(),
            d(2026, 1, 5)
        );
        assert_eq!(
            cal.next_working_day(d(2026, 1, 1), None).unwrap(),
            d(2026, 1, 4)
        );
        assert_eq!(
            cal.working_days_between(d(2025, 12, 31), d(2026, 1, 5), None)
                .unwrap(),
            2
        );
        assert_eq!(cal.holiday_name(d(2026, 1, 2), None), Some("元旦"));
    }

    #[test]
    fn working_days_between_is_consistent_with_add() {
        let cal = real();
        for start in d(2025, 1, 1)
            .iter_days()
            .take_while(|x| *x <= d(2026, 10, 31))
        {
            if !nat(&cal, start) {
                continue;
            }
            for n in [0u32, 1, 5, 20, 30] {
                let due = cal.add_working_days(start, n, None).unwrap();
                assert_eq!(
                    cal.working_days_between(start, due, None).unwrap(),
                    i64::from(n)
                );
                assert_eq!(
                    cal.working_days_between(due, start, None).unwrap(),
                    -i64::from(n)
                );
            }
        }
        // (from, to]: Saturday to Monday holds one working day (Monday).
        assert_eq!(
            cal.working_days_between(d(2026, 11, 21), d(2026, 11, 23), None)
                .unwrap(),
            1
        );
        assert_eq!(
            cal.working_days_between(d(2026, 11, 23), d(2026, 11, 23), None)
                .unwrap(),
            0
        );
    }

    #[test]
    fn beyond_coverage_is_an_error_never_a_guess() {
        let cal = real();
        // 2026-12-25 (Fri) + 10: 12/28-12/31 gives only 4 working days in 2026.
        let err = cal.add_working_days(d(2026, 12, 25), 10, None).unwrap_err();
        assert_eq!(
            err,
            BeyondCoverage {
                date: d(2027, 1, 1),
                covered_from: d(2025, 1, 1),
                covered_until: d(2026, 12, 31)
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("超出已发布的工作日历范围"), "{msg}");
        assert!(msg.contains("2025-01-01 至 2026-12-31"), "{msg}");
        assert!(msg.contains("beyond calendar coverage"), "{msg}");
        // Still fine when it fits: 12/25 + 4 = 12/31.
        assert_eq!(
            cal.add_working_days(d(2026, 12, 25), 4, None).unwrap(),
            d(2026, 12, 31)
        );
        // Before the coverage.
        let before = d(2024, 12, 31);
        assert_eq!(cal.is_working_day(before, None).unwrap_err().date, before);
        assert_eq!(
            cal.add_working_days(before, 1, None).unwrap_err().date,
            before
        );
        assert!(cal
            .working_days_between(before, d(2025, 1, 6), None)
            .is_err());
        assert!(cal.next_working_day(d(2027, 1, 4), None).is_err());
        assert_eq!(cal.holiday_name(d(2027, 1, 1), None), None);
    }

    const REGIONAL_2026: &str = r#"
year: 2026
holidays:
  - { name: 元旦, from: 2026-01-01, to: 2026-01-03 }
workdays:
  - { date: 2026-01-04, note: 元旦调休 }
regions:
  qingshi:
    holidays: [ { name: 地方节日, from: 2026-03-03, to: 2026-03-04 } ]
    workdays: [ { date: 2026-03-07, note: 地方调休 } ]
"#;

    #[test]
    fn regional_additions_overlay_national() {
        let file = CalendarYearFile::from_yaml_str(REGIONAL_2026).unwrap();
        let cal = Calendar::from_years(vec![file]).unwrap();
        let q = Some("qingshi");
        // 2026-03-03 (Tue), 03-04 (Wed): local holiday in qingshi only.
        assert!(!cal.is_working_day(d(2026, 3, 3), q).unwrap());
        assert!(cal.is_working_day(d(2026, 3, 3), None).unwrap());
        assert!(cal.is_working_day(d(2026, 3, 3), Some("unknown")).unwrap());
        assert_eq!(cal.holiday_name(d(2026, 3, 4), q), Some("地方节日"));
        assert_eq!(cal.holiday_name(d(2026, 3, 4), None), None);
        // 2026-03-07 (Sat) is a local working day.
        assert!(cal.is_working_day(d(2026, 3, 7), q).unwrap());
        assert!(!cal.is_working_day(d(2026, 3, 7), None).unwrap());
        // National days still apply in the region.
        assert!(!cal.is_working_day(d(2026, 1, 2), q).unwrap());
        assert!(cal.is_working_day(d(2026, 1, 4), q).unwrap());
        // 3/2 (Mon) + 1: national = 3/3; qingshi skips 3/3-3/4 → 3/5.
        assert_eq!(
            cal.add_working_days(d(2026, 3, 2), 1, None).unwrap(),
            d(2026, 3, 3)
        );
        assert_eq!(
            cal.add_working_days(d(2026, 3, 2), 1, q).unwrap(),
            d(2026, 3, 5)
        );
        // 3/5 + 2: national 3/6, 3/9 → 3/9; qingshi 3/6, 3/7 (local workday) → 3/7.
        assert_eq!(
            cal.add_working_days(d(2026, 3, 5), 2, None).unwrap(),
            d(2026, 3, 9)
        );
        assert_eq!(
            cal.add_working_days(d(2026, 3, 5), 2, q).unwrap(),
            d(2026, 3, 7)
        );
        assert_eq!(
            cal.working_days_between(d(2026, 3, 2), d(2026, 3, 9), q)
                .unwrap(),
            4
        );
        assert_eq!(
            cal.working_days_between(d(2026, 3, 2), d(2026, 3, 9), None)
                .unwrap(),
            5
        );
        assert_eq!(cal.regions().collect::<Vec<_>>(), vec!["qingshi"]);
    }

    fn minimal(year: i32) -> CalendarYearFile {
        CalendarYearFile {
            year,
            holidays: vec![],
            workdays: vec![],
            regions: BTreeMap::new(),
        }
    }

    fn span(name: &str, from: NaiveDate, to: NaiveDate) -> HolidaySpan {
        HolidaySpan {
            name: name.to_string(),
            from,
            to,
        }
    }

    fn workday(date: NaiveDate) -> MakeUpWorkday {
        MakeUpWorkday { date, note: None }
    }

    #[test]
    fn validation_holiday_and_workday_overlap() {
        let mut f = minimal(2026);
        f.holidays
            .push(span("春节", d(2026, 2, 15), d(2026, 2, 23)));
        f.workdays.push(workday(d(2026, 2, 21)));
        assert_eq!(
            Calendar::from_years(vec![f]).unwrap_err(),
            CalendarError::HolidayAndWorkday {
                date: d(2026, 2, 21),
                region: None
            }
        );
        // Same check inside a region.
        let mut g = minimal(2026);
        g.regions.insert(
            "qingshi".into(),
            RegionalAdditions {
                holidays: vec![span("地方节日", d(2026, 3, 7), d(2026, 3, 8))],
                workdays: vec![workday(d(2026, 3, 8))],
            },
        );
        assert_eq!(
            Calendar::from_years(vec![g]).unwrap_err(),
            CalendarError::HolidayAndWorkday {
                date: d(2026, 3, 8),
                region: Some("qingshi".into())
            }
        );
    }

    #[test]
    fn validation_overlapping_spans_inverted_span_and_weekday_makeup() {
        let mut f = minimal(2026);
        f.holidays
            .push(span("中秋节", d(2026, 9, 25), d(2026, 10, 1)));
        f.holidays
            .push(span("国庆节", d(2026, 10, 1), d(2026, 10, 7)));
        assert!(matches!(
            Calendar::from_years(vec![f]).unwrap_err(),
            CalendarError::OverlappingHolidays { date, .. } if date == d(2026, 10, 1)
        ));
        let mut g = minimal(2026);
        g.holidays
            .push(span("劳动节", d(2026, 5, 5), d(2026, 5, 1)));
        assert!(matches!(
            Calendar::from_years(vec![g]).unwrap_err(),
            CalendarError::InvertedSpan { .. }
        ));
        let mut h = minimal(2026);
        h.workdays.push(workday(d(2026, 1, 5))); // a Monday: typo for 1/4
        assert_eq!(
            Calendar::from_years(vec![h]).unwrap_err(),
            CalendarError::WorkdayNotWeekend {
                date: d(2026, 1, 5)
            }
        );
    }

    #[test]
    fn validation_wrong_year() {
        let mut f = minimal(2026);
        f.holidays
            .push(span("元旦", d(2025, 12, 31), d(2026, 1, 1)));
        let err = Calendar::from_years(vec![f]).unwrap_err();
        assert!(matches!(
            err,
            CalendarError::DateOutsideYear { year: 2026, date, .. } if date == d(2025, 12, 31)
        ));
        let mut g = minimal(2025);
        g.workdays.push(workday(d(2026, 1, 4)));
        assert!(matches!(
            Calendar::from_years(vec![g]).unwrap_err(),
            CalendarError::DateOutsideYear { year: 2025, .. }
        ));
    }

    #[test]
    fn validation_years_gap_duplicate_empty() {
        assert_eq!(
            Calendar::from_years(vec![minimal(2027), minimal(2025)]).unwrap_err(),
            CalendarError::YearGap {
                after: 2025,
                next: 2027
            }
        );
        assert_eq!(
            Calendar::from_years(vec![minimal(2026), minimal(2026)]).unwrap_err(),
            CalendarError::DuplicateYear(2026)
        );
        assert_eq!(
            Calendar::from_years(vec![]).unwrap_err(),
            CalendarError::NoYears
        );
        // Files in any order are fine when contiguous.
        let cal = Calendar::from_years(vec![year_file(2026), year_file(2025)]).unwrap();
        assert_eq!(cal.coverage().0, d(2025, 1, 1));
    }

    #[test]
    fn yaml_rejects_unknown_fields() {
        let text = "year: 2026\nholidays: []\nextra: 1\n";
        assert!(CalendarYearFile::from_yaml_str(text).is_err());
        let text =
            "year: 2026\nholidays: [ { name: 元旦, from: 2026-01-01, to: 2026-01-01, x: 1 } ]\n";
        assert!(CalendarYearFile::from_yaml_str(text).is_err());
        // workdays and regions default to empty.
        let ok = CalendarYearFile::from_yaml_str("year: 2026\nholidays: []\n").unwrap();
        assert!(ok.workdays.is_empty() && ok.regions.is_empty());
    }

    #[test]
    fn first_difference_finds_the_first_day_that_means_something_else() {
        let both = real();
        assert_eq!(both.first_difference(&both), None);
        let only_2025 = Calendar::from_years(vec![year_file(2025)]).unwrap();
        // Extending the calendar by a year: the new year's first day is the first difference.
        assert_eq!(only_2025.first_difference(&both), Some(d(2026, 1, 1)));
        assert_eq!(both.first_difference(&only_2025), Some(d(2026, 1, 1)));
        // A rest day added in one region only, on 2026-06-01.
        let mut files = vec![year_file(2025), year_file(2026)];
        files[1].regions.insert(
            "baishui".into(),
            RegionalAdditions {
                holidays: vec![span("镇庆", d(2026, 6, 1), d(2026, 6, 1))],
                workdays: vec![],
            },
        );
        let regional = Calendar::from_years(files).unwrap();
        assert_eq!(both.first_difference(&regional), Some(d(2026, 6, 1)));
        assert_eq!(regional.first_difference(&both), Some(d(2026, 6, 1)));
    }
}
