//! The State Council's yearly holiday notice (国务院办公厅关于<年>年部分节假日安排的通知) turned
//! into a calendar year file, `rules/calendar/<year>.yaml`.
//!
//! [`parse`] reads the notice as published: the numbered items (“一、元旦：1月1日（周四）至3日
//! （周六）放假调休，共3天。1月4日（周日）上班。”), the title for the year, and the document number
//! or the signing date for the file's header; everything else (the preamble, the closing
//! paragraph) is passed over. [`render`] writes the year file in the layout of the shipped ones;
//! [`render_checked`] also reads the text back through the calendar loader.
//!
//! What is read from an item:
//! * its name (before “：”) and, in the first sentence, the rest days: one day (“4月4日（周五）
//!   放假”) or a range within a month (“1月1日至3日”) or across months (“5月31日至6月2日”); a
//!   date may carry its year (“2018年12月30日至2019年1月1日”), and a range that runs from December
//!   into January ends in the next year;
//! * in a later sentence that starts with a date and says 上班, the make-up working days
//!   (“1月26日（周日）、2月8日（周六）上班”); an item may have none;
//! * in parentheses after a date, the weekday (周四, 星期四) and lunar notes (农历除夕); a weekday
//!   that does not match the date is an error, and so is a “共N天” that does not match the range.
//!
//! Sentences of an item that do not start with a date (advice, say) are passed over. Full-width
//! and half-width punctuation and digits are read alike, and whitespace is ignored.
//!
//! The comment after each holiday quotes the notice's sentence without the parenthetical notes,
//! except 除夕 (the holiday starts on it) and the weekday of a single rest day (it tells why the
//! day is not bridged). Days outside the notice's year (a 元旦 that starts in December, or the
//! next year's 元旦) cannot go into this year's file; [`YearPlan::left_out`] lists them.

use chrono::{Datelike, NaiveDate, Weekday};

use crate::domain::calendar::{
    Calendar, CalendarError, CalendarYearFile, HolidaySpan, MakeUpWorkday,
};

/// The notice read: the year's holidays and make-up working days, in the notice's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearPlan {
    pub year: i32,
    /// 发文字号 as printed under the title (e.g. 国办发明电〔2024〕12号), if the text has it.
    pub document_number: Option<String>,
    /// The signing date at the end of the notice, if the text has it.
    pub published: Option<NaiveDate>,
    pub holidays: Vec<PlannedHoliday>,
    pub workdays: Vec<PlannedWorkday>,
}

/// One item's rest days, as the notice gives them (they may reach outside the year).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedHoliday {
    /// The item's number (一 = 1).
    pub item: u32,
    pub name: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The notice's sentence without the parenthetical notes, for the file's comment.
    pub summary: String,
}

/// A make-up working day and the holiday (item name) it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedWorkday {
    pub item: u32,
    pub holiday: String,
    pub date: NaiveDate,
}

/// Days of the notice that lie outside its year and are not written to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// The holiday's name, or the make-up working day's note.
    pub what: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// Why a notice could not be read.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum NoticeError {
    #[error("通知中没有编号的放假安排（如“一、元旦：1月1日……”） / no numbered items (“一、元旦：1月1日……”) in the notice")]
    NoItems,
    #[error("无法确定年份：通知中没有“关于XXXX年部分节假日安排”，请用 --year 指定 / cannot tell the year (no “关于XXXX年部分节假日安排”); give --year")]
    NoYear,
    #[error("年份 {0} 不是四位数 / the year {0} is not of four digits")]
    YearOutOfRange(i32),
    #[error("通知是 {notice} 年的，但指定的是 {given} 年 / the notice is for {notice}, but {given} was given")]
    YearMismatch { notice: i32, given: i32 },
    #[error("第{line}行：应为第{expected}项，却是第{found}项（是否漏了一项？） / line {line}: item {found} where item {expected} was expected (is one missing?)")]
    ItemOrder {
        line: usize,
        expected: String,
        found: String,
    },
    #[error("{item}（第{line}行）：{fault}")]
    Item {
        /// “第三项「清明节」”
        item: String,
        line: usize,
        fault: ItemFault,
    },
    #[error("按通知生成的日历无法加载 / the calendar made from the notice does not load: {0}")]
    Calendar(CalendarError),
    #[error("生成的日历文件读回后与通知不符（程序错误） / the written year file does not read back as the notice (a bug): {0}")]
    ReadBack(String),
}

/// What is wrong with one item.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ItemFault {
    #[error("节日名称后缺少“：” / no “：” after the holiday's name")]
    NoName,
    #[error("无法识别日期“{0}” / cannot read a date in “{0}”")]
    NoDate(String),
    #[error("第一句不是放假安排：“{0}” / the first sentence gives no rest days: “{0}”")]
    NoHoliday(String),
    #[error("一项中有第二句放假安排：“{0}” / a second rest-day sentence in one item: “{0}”")]
    SecondHoliday(String),
    #[error("放假安排中还有其他日期：“{0}” / more dates after the rest days: “{0}”")]
    ExtraDate(String),
    #[error("以日期开头的句子既不是放假也不是上班：“{0}” / a sentence starting with a date says neither 放假 nor 上班: “{0}”")]
    UnknownSentence(String),
    #[error("“{text}”：{year}年{month}月{day}日不存在 / “{text}”: no such date")]
    InvalidDate {
        text: String,
        year: i32,
        month: u32,
        day: u32,
    },
    #[error("“{text}”：{date} 是{}，不是{} / “{text}”: {date} is a {}, not a {}",
        weekday_zh(*.actual), weekday_zh(*.stated), weekday_en(*.actual), weekday_en(*.stated))]
    WrongWeekday {
        text: String,
        date: NaiveDate,
        stated: Weekday,
        actual: Weekday,
    },
    #[error("无法识别括号中的“{0}”（应为星期或农历日期） / cannot read “{0}” in parentheses (a weekday or a lunar date expected)")]
    UnknownNote(String),
    #[error("括号没有闭合：“{0}” / unclosed parenthesis: “{0}”")]
    Unclosed(String),
    #[error(
        "放假结束日 {to} 早于开始日 {from} / the rest days end ({to}) before they start ({from})"
    )]
    Inverted { from: NaiveDate, to: NaiveDate },
    #[error("“{stated}天”与 {from} 至 {to} 的 {actual} 天不符 / says {stated} days, but {from} to {to} is {actual}")]
    DayCount {
        stated: u32,
        actual: i64,
        from: NaiveDate,
        to: NaiveDate,
    },
}

impl From<CalendarError> for NoticeError {
    fn from(e: CalendarError) -> Self {
        NoticeError::Calendar(e)
    }
}

fn weekday_zh(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "周一",
        Weekday::Tue => "周二",
        Weekday::Wed => "周三",
        Weekday::Thu => "周四",
        Weekday::Fri => "周五",
        Weekday::Sat => "周六",
        Weekday::Sun => "周日",
    }
}

fn weekday_en(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// Read a notice; its year comes from its title (“关于2026年部分节假日安排”).
pub fn parse(text: &str) -> Result<YearPlan, NoticeError> {
    parse_for_year(text, None)
}

/// Read a notice for `year` (required when the text has no title; checked against it otherwise).
pub fn parse_for_year(text: &str, year: Option<i32>) -> Result<YearPlan, NoticeError> {
    let lines: Vec<String> = text.lines().map(normalize).collect();
    let items = collect_items(&lines)?;
    let first_item_line = items.first().map_or(lines.len(), |i| i.line - 1);
    let last_item_line = items.last().map_or(0, |i| i.line - 1);

    let stated = lines[..first_item_line].iter().find_map(|l| title_year(l));
    let year = match (stated, year) {
        (Some(notice), Some(given)) if notice != given => {
            return Err(NoticeError::YearMismatch { notice, given })
        }
        (Some(y), _) | (None, Some(y)) => y,
        (None, None) => return Err(NoticeError::NoYear),
    };
    if !(1000..=9999).contains(&year) {
        return Err(NoticeError::YearOutOfRange(year));
    }
    let document_number = lines[..first_item_line]
        .iter()
        .find_map(|l| document_number(l));
    let published = lines[last_item_line..]
        .iter()
        .rev()
        .find_map(|l| signing_date(l));

    let mut plan = YearPlan {
        year,
        document_number,
        published,
        holidays: Vec::new(),
        workdays: Vec::new(),
    };
    for item in &items {
        let (holiday, workdays) = parse_item(item, year)?;
        plan.holidays.push(holiday);
        plan.workdays.extend(workdays);
    }
    Calendar::from_years(vec![plan.year_file()])?;
    Ok(plan)
}

impl YearPlan {
    /// The calendar year file: the days of the notice that lie in its year.
    pub fn year_file(&self) -> CalendarYearFile {
        let (first, last) = self.year_bounds();
        CalendarYearFile {
            year: self.year,
            holidays: self
                .holidays
                .iter()
                .filter(|h| h.to >= first && h.from <= last)
                .map(|h| HolidaySpan {
                    name: h.name.clone(),
                    from: h.from.max(first),
                    to: h.to.min(last),
                })
                .collect(),
            workdays: self
                .workdays
                .iter()
                .filter(|w| w.date.year() == self.year)
                .map(|w| MakeUpWorkday {
                    date: w.date,
                    note: Some(w.note()),
                })
                .collect(),
            regions: Default::default(),
        }
    }

    /// Days of the notice outside its year (not in [`YearPlan::year_file`]).
    pub fn left_out(&self) -> Vec<LeftOut> {
        let (first, last) = self.year_bounds();
        let mut out = Vec::new();
        for h in &self.holidays {
            if h.from < first {
                out.push(LeftOut {
                    what: h.name.clone(),
                    from: h.from,
                    to: h.to.min(first.pred_opt().unwrap_or(first)),
                });
            }
            if h.to > last {
                out.push(LeftOut {
                    what: h.name.clone(),
                    from: h.from.max(last.succ_opt().unwrap_or(last)),
                    to: h.to,
                });
            }
        }
        for w in self.workdays.iter().filter(|w| w.date.year() != self.year) {
            out.push(LeftOut {
                what: w.note(),
                from: w.date,
                to: w.date,
            });
        }
        out
    }

    /// Rest days of the year file (the holiday spans, weekends inside them included).
    pub fn days_off(&self) -> i64 {
        self.year_file()
            .holidays
            .iter()
            .map(|h| (h.to - h.from).num_days() + 1)
            .sum()
    }

    fn year_bounds(&self) -> (NaiveDate, NaiveDate) {
        // `parse` takes four-digit years only, which chrono holds.
        let first = NaiveDate::from_ymd_opt(self.year, 1, 1).unwrap_or(NaiveDate::MIN);
        let last = NaiveDate::from_ymd_opt(self.year, 12, 31).unwrap_or(NaiveDate::MAX);
        (first, last)
    }

    /// Where the header says the file comes from.
    fn source(&self) -> String {
        let title = format!("国务院办公厅关于{}年部分节假日安排的通知", self.year);
        match (&self.document_number, self.published) {
            (Some(number), _) => format!("《{title}》（{number}）"),
            (None, Some(d)) => format!(
                "国务院办公厅{}年{}月{}日发布的{}年部分节假日安排通知",
                d.year(),
                d.month(),
                d.day(),
                self.year
            ),
            (None, None) => format!("《{title}》"),
        }
    }
}

impl PlannedWorkday {
    /// “春节调休（周日上班）”
    pub fn note(&self) -> String {
        format!(
            "{}调休（{}上班）",
            self.holiday,
            weekday_zh(self.date.weekday())
        )
    }
}

/// The column the holiday comments start at, counting a Chinese character as two columns.
const COMMENT_COLUMN: usize = 66;
/// The column of the comments after `holidays:` and `workdays:`.
const KEY_COMMENT_COLUMN: usize = 30;

/// The year file's text, laid out as the shipped `rules/calendar/<year>.yaml`.
pub fn render(plan: &YearPlan) -> String {
    let file = plan.year_file();
    let year = plan.year;
    let mut out = String::new();
    out.push_str(&format!("# {year} 年全国工作日历\n"));
    out.push_str(&format!("# 依据：{}\n", plan.source()));
    out.push_str(
        "# 说明：\n\
         #   holidays  —— 法定节假日放假区间（含其间的周末），区间首尾均计入放假；\n\
         #   workdays  —— 调休上班日（均为周六或周日），当天按工作日计算；\n\
         #   regions   —— 地方增加的假日/工作日（可选），键为地区编号（如乡镇编号），\n\
         #                在全国安排之上叠加；本文件未列地方安排。\n\
         # 行政许可法第八十二条：期限以工作日计算，不含法定节假日。\n",
    );
    out.push_str(&format!("year: {year}\n"));

    let key = |name: &str, empty: bool, comment: &str| {
        let head = if empty {
            format!("{name}: []")
        } else {
            format!("{name}:")
        };
        padded(&head, KEY_COMMENT_COLUMN, comment)
    };
    out.push_str(&key(
        "holidays",
        file.holidays.is_empty(),
        "法定节假日（放假日，含周末）",
    ));
    // The spans in the file are the plan's (clipped to the year), in the same order.
    let (first, last) = plan.year_bounds();
    let in_year = plan
        .holidays
        .iter()
        .filter(|h| h.to >= first && h.from <= last);
    for (span, planned) in file.holidays.iter().zip(in_year) {
        let entry = format!(
            "  - {{ name: {}, from: {}, to: {} }}",
            scalar(&span.name),
            span.from,
            span.to
        );
        out.push_str(&padded(&entry, COMMENT_COLUMN, &planned.summary));
    }
    out.push_str(&key(
        "workdays",
        file.workdays.is_empty(),
        "调休上班日（周六或周日）",
    ));
    for w in &file.workdays {
        let note = w.note.as_deref().unwrap_or_default();
        out.push_str(&format!(
            "  - {{ date: {}, note: {} }}\n",
            w.date,
            scalar(note)
        ));
    }
    out.push_str(&format!(
        "# 地方安排示例（如需启用，去掉注释并按当地正式文件填写）：\n\
         # regions:\n\
         #   qingshi:                  # 地区编号\n\
         #     holidays: [ {{ name: 地方节日, from: {year}-03-03, to: {year}-03-03 }} ]\n\
         #     workdays: []\n"
    ));
    out
}

/// [`render`], then read the text back with the calendar loader: it must give the plan's year
/// file and load as a calendar.
pub fn render_checked(plan: &YearPlan) -> Result<String, NoticeError> {
    let text = render(plan);
    let read =
        CalendarYearFile::from_yaml_str(&text).map_err(|e| NoticeError::ReadBack(e.to_string()))?;
    if read != plan.year_file() {
        return Err(NoticeError::ReadBack(format!(
            "{read:?} != {:?}",
            plan.year_file()
        )));
    }
    Calendar::from_years(vec![read])?;
    Ok(text)
}

/// `head`, spaces up to `column`, then `# comment` and a newline.
fn padded(head: &str, column: usize, comment: &str) -> String {
    let pad = column.saturating_sub(width(head)).max(1);
    format!("{head}{}# {comment}\n", " ".repeat(pad))
}

/// Columns of `s`, a Chinese character (汉字) counting two — the alignment of the shipped files.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if matches!(c,
                '\u{3400}'..='\u{4dbf}'
                | '\u{4e00}'..='\u{9fff}'
                | '\u{f900}'..='\u{faff}'
                | '\u{20000}'..='\u{3ffff}')
            {
                2
            } else {
                1
            }
        })
        .sum()
}

/// A YAML scalar inside a flow mapping: plain when it cannot be misread (no ASCII at all, as a
/// holiday's name from the notice), else single-quoted.
fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| !c.is_ascii() && !c.is_whitespace() && !c.is_control() && c != '\u{feff}');
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

// ---- reading the text ------------------------------------------------------------------------

/// One line with whitespace removed and punctuation and digits in one width: brackets, colon,
/// comma and semicolon full-width; digits ASCII; “.” read as “。”.
fn normalize(line: &str) -> String {
    line.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '\u{feff}' | '\u{200b}'))
        .map(|c| match c {
            '(' => '（',
            ')' => '）',
            ',' => '，',
            ':' => '：',
            ';' => '；',
            '.' | '．' | '｡' => '。',
            '０'..='９' => char::from_digit(c as u32 - '０' as u32, 10).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// A numbered item of the notice, its wrapped lines joined.
struct RawItem {
    number: u32,
    numeral: String,
    /// 1-based line of the item's start.
    line: usize,
    text: String,
}

fn chinese_number(s: &str) -> Option<u32> {
    let digit = |c: char| "一二三四五六七八九".find(c).map(|i| i as u32 / 3 + 1);
    let chars: Vec<char> = s.chars().collect();
    match chars.as_slice() {
        [c] if *c == '十' => Some(10),
        [c] => digit(*c),
        ['十', o] => Some(10 + digit(*o)?),
        [t, '十'] => Some(digit(*t)? * 10),
        [t, '十', o] => Some(digit(*t)? * 10 + digit(*o)?),
        _ => None,
    }
}

/// `一、元旦：……` → (1, “一”, “元旦：……”).
fn item_start(line: &str) -> Option<(u32, String, String)> {
    let end = line.find(|c: char| !"一二三四五六七八九十".contains(c))?;
    let (numeral, rest) = line.split_at(end);
    let rest = rest
        .strip_prefix('、')
        .or_else(|| rest.strip_prefix('。'))?;
    Some((
        chinese_number(numeral)?,
        numeral.to_string(),
        rest.to_string(),
    ))
}

fn collect_items(lines: &[String]) -> Result<Vec<RawItem>, NoticeError> {
    let mut items: Vec<RawItem> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some((number, numeral, mut text)) = item_start(&lines[i]) else {
            i += 1;
            continue;
        };
        let line = i + 1;
        let expected = items.last().map_or(1, |p| p.number + 1);
        if number != expected {
            return Err(NoticeError::ItemOrder {
                line,
                expected: chinese_numeral(expected),
                found: numeral,
            });
        }
        i += 1;
        // An item wrapped over several lines ends with “。”.
        while !text.ends_with('。')
            && i < lines.len()
            && !lines[i].is_empty()
            && item_start(&lines[i]).is_none()
        {
            text.push_str(&lines[i]);
            i += 1;
        }
        items.push(RawItem {
            number,
            numeral,
            line,
            text,
        });
    }
    if items.is_empty() {
        return Err(NoticeError::NoItems);
    }
    Ok(items)
}

fn chinese_numeral(n: u32) -> String {
    const DIGITS: [&str; 10] = ["", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    let (tens, ones) = ((n / 10) as usize, (n % 10) as usize);
    match tens {
        0 => DIGITS[ones].to_string(),
        1 => format!("十{}", DIGITS[ones]),
        t if t < 10 => format!("{}十{}", DIGITS[t], DIGITS[ones]),
        _ => n.to_string(),
    }
}

/// The four digits right before `marker` in `line`.
fn year_before(line: &str, marker: &str) -> Option<i32> {
    let at = line.find(marker)?;
    let digits: String = line[..at]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    if digits.len() != 4 {
        return None;
    }
    digits.chars().rev().collect::<String>().parse().ok()
}

/// The year a title line names (“……关于2026年部分节假日安排的通知”) or the opening sentence
/// (“现将2026年元旦、春节……”).
fn title_year(line: &str) -> Option<i32> {
    year_before(line, "年部分节假日安排").or_else(|| {
        let after = &line[line.find("现将")? + "现将".len()..];
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        let rest = &after[digits.len()..];
        (digits.len() == 4 && rest.starts_with('年'))
            .then(|| digits.parse().ok())
            .flatten()
    })
}

/// A line such as “国办发明电〔2024〕12号”.
fn document_number(line: &str) -> Option<String> {
    let line: String = line
        .chars()
        .map(|c| match c {
            '[' | '［' | '【' => '〔',
            ']' | '］' | '】' => '〕',
            _ => c,
        })
        .collect();
    let open = line.find('〔')?;
    let close = line.find('〕')?;
    let ok = open > 0
        && close > open
        && line.ends_with('号')
        && line.chars().count() <= 30
        && !line.contains('，');
    ok.then_some(line)
}

/// A line that is only a date, such as “2025年11月4日” (the signing date).
fn signing_date(line: &str) -> Option<NaiveDate> {
    let chars: Vec<char> = line.chars().collect();
    let mut pos = 0;
    let raw = raw_date(&chars, &mut pos)?;
    if pos != chars.len() {
        return None;
    }
    NaiveDate::from_ymd_opt(raw.year?, raw.month?, raw.day)
}

/// A date as written: “2018年12月30日”, “2月4日”, “3日”.
#[derive(Debug, Clone, Copy)]
struct RawDate {
    year: Option<i32>,
    month: Option<u32>,
    day: u32,
}

/// One to four ASCII digits at `pos`; `pos` moves past them, or stays when there are none.
fn number(c: &[char], pos: &mut usize) -> Option<u32> {
    let start = *pos;
    let mut end = start;
    // At most four digits; a longer run is no number of a date (and is not scanned to its end).
    while end - start <= 4 && c.get(end).is_some_and(char::is_ascii_digit) {
        end += 1;
    }
    if end == start || end - start > 4 {
        return None;
    }
    let n = c[start..end].iter().collect::<String>().parse().ok()?;
    *pos = end;
    Some(n)
}

/// A date at `pos`; `pos` moves past it, or stays when there is none.
fn raw_date(c: &[char], pos: &mut usize) -> Option<RawDate> {
    let start = *pos;
    let read = |pos: &mut usize| -> Option<RawDate> {
        let mut n = number(c, pos)?;
        let mut year = None;
        let mut month = None;
        if c.get(*pos) == Some(&'年') {
            *pos += 1;
            year = Some(i32::try_from(n).ok()?);
            n = number(c, pos)?;
        }
        if c.get(*pos) == Some(&'月') {
            *pos += 1;
            month = Some(n);
            n = number(c, pos)?;
        }
        if matches!(c.get(*pos), Some('日' | '号')) {
            *pos += 1;
            Some(RawDate {
                year,
                month,
                day: n,
            })
        } else {
            None
        }
    };
    let date = read(pos);
    if date.is_none() {
        *pos = start;
    }
    date
}

/// What a parenthesis after a date says.
#[derive(Debug, Default)]
struct Note {
    weekday: Option<(Weekday, String)>,
    /// 农历除夕
    eve: bool,
}

fn weekday_word(part: &str) -> Option<Option<Weekday>> {
    let rest = ["周", "星期", "礼拜"]
        .iter()
        .find_map(|p| part.strip_prefix(p))?;
    Some(match rest {
        "一" => Some(Weekday::Mon),
        "二" => Some(Weekday::Tue),
        "三" => Some(Weekday::Wed),
        "四" => Some(Weekday::Thu),
        "五" => Some(Weekday::Fri),
        "六" => Some(Weekday::Sat),
        "日" | "天" => Some(Weekday::Sun),
        _ => None,
    })
}

fn read_note(content: &str) -> Result<Note, ItemFault> {
    let mut note = Note::default();
    for part in content.split(['、', '，']).filter(|p| !p.is_empty()) {
        match weekday_word(part) {
            Some(Some(w)) => note.weekday = Some((w, part.to_string())),
            Some(None) => return Err(ItemFault::UnknownNote(content.to_string())),
            None => {
                let lunar = part.strip_prefix("农历").unwrap_or(part);
                let is_lunar = part.starts_with("农历")
                    || lunar == "除夕"
                    || ["正月", "腊月", "冬月", "闰"]
                        .iter()
                        .any(|m| lunar.starts_with(m));
                if !is_lunar {
                    return Err(ItemFault::UnknownNote(content.to_string()));
                }
                note.eve |= lunar == "除夕";
            }
        }
    }
    Ok(note)
}

/// A date with its parenthesis, resolved to a day.
struct Dated {
    date: NaiveDate,
    note: Note,
    /// Char range of the parenthesis (both brackets) in the sentence.
    paren: Option<(usize, usize)>,
}

/// The parenthesis at `pos`, if any (an empty note and no range when there is none); `pos`
/// moves past it.
fn paren(c: &[char], pos: &mut usize) -> Result<(Note, Option<(usize, usize)>), ItemFault> {
    if c.get(*pos) != Some(&'（') {
        return Ok((Note::default(), None));
    }
    let open = *pos;
    let Some(len) = c[open..].iter().position(|ch| *ch == '）') else {
        return Err(ItemFault::Unclosed(c[open..].iter().collect()));
    };
    let close = open + len;
    let content: String = c[open + 1..close].iter().collect();
    *pos = close + 1;
    Ok((read_note(&content)?, Some((open, close + 1))))
}

fn make_date(text: &str, year: i32, month: u32, day: u32) -> Result<NaiveDate, ItemFault> {
    NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| ItemFault::InvalidDate {
        text: text.to_string(),
        year,
        month,
        day,
    })
}

/// Read the date at `pos` (which must be one) and its parenthesis. `year_of` gives the year of
/// a date written without one, from its month and day.
fn dated(
    c: &[char],
    pos: &mut usize,
    default_month: Option<u32>,
    year_of: &dyn Fn(u32, u32) -> Result<i32, ItemFault>,
) -> Result<Dated, ItemFault> {
    let start = *pos;
    let raw = raw_date(c, pos).ok_or_else(|| ItemFault::NoDate(c[start..].iter().collect()))?;
    let text_of = |end: usize| c[start..end].iter().collect::<String>();
    let month = raw
        .month
        .or(default_month)
        .ok_or_else(|| ItemFault::NoDate(text_of(*pos)))?;
    let year = match raw.year {
        Some(y) => y,
        None => year_of(month, raw.day)?,
    };
    let date = make_date(&text_of(*pos), year, month, raw.day)?;
    let (note, range) = paren(c, pos)?;
    if let Some((stated, _)) = &note.weekday {
        if *stated != date.weekday() {
            return Err(ItemFault::WrongWeekday {
                text: text_of(*pos),
                date,
                stated: *stated,
                actual: date.weekday(),
            });
        }
    }
    Ok(Dated {
        date,
        note,
        paren: range,
    })
}

/// Whether a date starts anywhere in `c`.
fn has_date(c: &[char]) -> bool {
    (0..c.len()).any(|i| {
        let mut pos = i;
        (i == 0 || !c[i - 1].is_ascii_digit()) && raw_date(c, &mut pos).is_some()
    })
}

/// The rest days of an item's first sentence, and the sentence for the comment.
fn holiday_sentence(s: &str, year: i32) -> Result<(NaiveDate, NaiveDate, String), ItemFault> {
    let c: Vec<char> = s.chars().collect();
    let mut pos = 0;
    if !s.contains("放假") {
        return Err(ItemFault::NoHoliday(s.to_string()));
    }
    let start = dated(&c, &mut pos, None, &|_, _| Ok(year))?;
    let end = if c.get(pos) == Some(&'至') {
        pos += 1;
        let from = start.date;
        let e = dated(&c, &mut pos, Some(from.month()), &|m, _| {
            // “12月31日至1月2日”: the range runs into the next year.
            Ok(if m < from.month() {
                from.year() + 1
            } else {
                from.year()
            })
        })?;
        Some(e)
    } else {
        None
    };
    let (from, to) = (start.date, end.as_ref().map_or(start.date, |e| e.date));
    if to < from {
        return Err(ItemFault::Inverted { from, to });
    }
    let rest = &c[pos..];
    if has_date(rest) {
        return Err(ItemFault::ExtraDate(s.to_string()));
    }
    let actual = (to - from).num_days() + 1;
    let mut i = 0;
    while i < rest.len() {
        let mut p = i;
        match number(rest, &mut p) {
            Some(n) if rest.get(p) == Some(&'天') => {
                if i64::from(n) != actual {
                    return Err(ItemFault::DayCount {
                        stated: n,
                        actual,
                        from,
                        to,
                    });
                }
                i = p;
            }
            Some(_) => i = p,
            None => i += 1,
        }
    }

    // The comment: the sentence, each parenthesis reduced to 除夕 and (for one day) the weekday.
    let single = end.is_none();
    let mut summary = String::new();
    let mut at = 0;
    for d in std::iter::once(&start).chain(end.as_ref()) {
        let Some((open, close)) = d.paren else {
            continue;
        };
        summary.extend(&c[at..open]);
        let mut kept = Vec::new();
        if d.note.eve {
            kept.push("除夕".to_string());
        }
        if let (true, Some((_, word))) = (single, &d.note.weekday) {
            kept.push(word.clone());
        }
        if !kept.is_empty() {
            summary.push_str(&format!("（{}）", kept.join("、")));
        }
        at = close;
    }
    summary.extend(&c[at..]);
    Ok((from, to, summary))
}

/// The make-up working days of a sentence (“1月26日（周日）、2月8日（周六）上班”): every date in it.
fn workday_sentence(s: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<NaiveDate>, ItemFault> {
    let c: Vec<char> = s.chars().collect();
    // A date written without its year is the one nearest the item's rest days.
    let year_of = |month: u32, day: u32| -> Result<i32, ItemFault> {
        let distance = |d: NaiveDate| {
            if d < from {
                (from - d).num_days()
            } else if d > to {
                (d - to).num_days()
            } else {
                0
            }
        };
        let mut years = vec![from.year(), to.year()];
        years.dedup();
        years
            .into_iter()
            .filter_map(|y| NaiveDate::from_ymd_opt(y, month, day).map(|d| (distance(d), y)))
            .min()
            .map(|(_, y)| y)
            .ok_or_else(|| ItemFault::InvalidDate {
                text: s.to_string(),
                year: from.year(),
                month,
                day,
            })
    };
    let mut dates = Vec::new();
    let mut month = None;
    let mut pos = 0;
    while pos < c.len() {
        let mut probe = pos;
        let starts =
            (pos == 0 || !c[pos - 1].is_ascii_digit()) && raw_date(&c, &mut probe).is_some();
        if starts {
            let d = dated(&c, &mut pos, month, &year_of)?;
            month = Some(d.date.month());
            dates.push(d.date);
        } else {
            pos += 1;
        }
    }
    Ok(dates)
}

fn parse_item(
    item: &RawItem,
    year: i32,
) -> Result<(PlannedHoliday, Vec<PlannedWorkday>), NoticeError> {
    let fail = |label: String, fault: ItemFault| NoticeError::Item {
        item: label,
        line: item.line,
        fault,
    };
    let Some((name, body)) = item.text.split_once('：').filter(|(n, _)| !n.is_empty()) else {
        return Err(fail(format!("第{}项", item.numeral), ItemFault::NoName));
    };
    let label = format!("第{}项「{name}」", item.numeral);
    let mut sentences = body.split('。').filter(|s| !s.is_empty());
    let first = sentences.next().unwrap_or_default();
    let (from, to, summary) = holiday_sentence(first, year).map_err(|f| fail(label.clone(), f))?;
    let mut workdays = Vec::new();
    for s in sentences {
        let chars: Vec<char> = s.chars().collect();
        let dated = raw_date(&chars, &mut 0).is_some();
        if s.contains("上班") {
            if !dated {
                return Err(fail(label, ItemFault::NoDate(s.to_string())));
            }
            let dates = workday_sentence(s, from, to).map_err(|f| fail(label.clone(), f))?;
            workdays.extend(dates.into_iter().map(|date| PlannedWorkday {
                item: item.number,
                holiday: name.to_string(),
                date,
            }));
        } else if !dated {
            continue; // advice and the like
        } else if s.contains("放假") {
            return Err(fail(label, ItemFault::SecondHoliday(s.to_string())));
        } else {
            return Err(fail(label, ItemFault::UnknownSentence(s.to_string())));
        }
    }
    Ok((
        PlannedHoliday {
            item: item.number,
            name: name.to_string(),
            from,
            to,
            summary,
        },
        workdays,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// A notice of `year` with the given item lines.
    fn notice(year: i32, items: &[&str]) -> String {
        format!(
            "国务院办公厅关于{year}年部分节假日安排的通知\n\n经国务院批准，现将放假调休日期的具体安排通知如下。\n\n{}\n\n国务院办公厅\n",
            items.join("\n\n")
        )
    }

    fn spans(p: &YearPlan) -> Vec<(String, NaiveDate, NaiveDate)> {
        p.year_file()
            .holidays
            .into_iter()
            .map(|h| (h.name, h.from, h.to))
            .collect()
    }

    fn workdays(p: &YearPlan) -> Vec<(NaiveDate, String)> {
        p.year_file()
            .workdays
            .into_iter()
            .map(|w| (w.date, w.note.unwrap_or_default()))
            .collect()
    }

    fn fault(text: &str) -> (String, ItemFault) {
        match parse(text) {
            Err(NoticeError::Item { item, fault, .. }) => (item, fault),
            other => panic!("expected an item error, got {other:?}"),
        }
    }

    #[test]
    fn a_range_within_a_month_with_one_make_up_day() {
        let p = parse(&notice(
            2026,
            &["一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。"],
        ))
        .unwrap();
        assert_eq!(p.year, 2026);
        assert_eq!(
            spans(&p),
            vec![("元旦".into(), d("2026-01-01"), d("2026-01-03"))]
        );
        assert_eq!(
            workdays(&p),
            vec![(d("2026-01-04"), "元旦调休（周日上班）".into())]
        );
        assert_eq!(p.holidays[0].summary, "1月1日至3日放假调休，共3天");
        assert_eq!(p.days_off(), 3);
    }

    #[test]
    fn a_range_across_months_with_lunar_notes_and_several_make_up_days() {
        let p = parse(&notice(
            2025,
            &["一、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8天。1月26日（周日）、2月8日（周六）上班。"],
        ))
        .unwrap();
        assert_eq!(
            spans(&p),
            vec![("春节".into(), d("2025-01-28"), d("2025-02-04"))]
        );
        assert_eq!(
            workdays(&p),
            vec![
                (d("2025-01-26"), "春节调休（周日上班）".into()),
                (d("2025-02-08"), "春节调休（周六上班）".into())
            ]
        );
        // 除夕 stays in the comment; the other notes go.
        assert_eq!(
            p.holidays[0].summary,
            "1月28日（除夕）至2月4日放假调休，共8天"
        );
    }

    #[test]
    fn a_single_day_keeps_its_weekday_in_the_comment_and_an_item_may_have_no_make_up_day() {
        let p = parse(&notice(
            2025,
            &[
                "一、元旦：1月1日（周三）放假1天，不调休。",
                "二、清明节：4月4日（周五）放假。",
            ],
        ))
        .unwrap();
        assert_eq!(
            spans(&p),
            vec![
                ("元旦".into(), d("2025-01-01"), d("2025-01-01")),
                ("清明节".into(), d("2025-04-04"), d("2025-04-04"))
            ]
        );
        assert!(p.workdays.is_empty());
        assert_eq!(p.holidays[0].summary, "1月1日（周三）放假1天，不调休");
        assert_eq!(p.holidays[1].summary, "4月4日（周五）放假");
        // No make-up day: `workdays: []`, and it reads back.
        let text = render_checked(&p).unwrap();
        assert!(
            text.contains("\nworkdays: []                  # 调休上班日（周六或周日）\n"),
            "{text}"
        );
    }

    #[test]
    fn a_range_from_december_runs_into_the_next_year_which_is_left_out_of_the_file() {
        let p = parse(&notice(
            2026,
            &[
                "一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。",
                "二、元旦：12月31日（周四）至1月2日（周六）放假调休，共3天。",
            ],
        ))
        .unwrap();
        assert_eq!(
            (p.holidays[1].from, p.holidays[1].to),
            (d("2026-12-31"), d("2027-01-02"))
        );
        assert_eq!(
            spans(&p)[1],
            ("元旦".into(), d("2026-12-31"), d("2026-12-31"))
        );
        assert_eq!(
            p.left_out(),
            vec![LeftOut {
                what: "元旦".into(),
                from: d("2027-01-01"),
                to: d("2027-01-02")
            }]
        );
        assert_eq!(p.days_off(), 4);
        render_checked(&p).unwrap();
    }

    #[test]
    fn dates_with_their_year_and_old_style_weekdays() {
        let p = parse(&notice(
            2019,
            &["一、元旦：2018年12月30日（星期日）至2019年1月1日（星期二）放假调休，共3天。2018年12月29日（星期六）上班。"],
        ))
        .unwrap();
        assert_eq!(
            spans(&p),
            vec![("元旦".into(), d("2019-01-01"), d("2019-01-01"))]
        );
        assert!(p.year_file().workdays.is_empty());
        assert_eq!(
            p.left_out(),
            vec![
                LeftOut {
                    what: "元旦".into(),
                    from: d("2018-12-30"),
                    to: d("2018-12-31")
                },
                LeftOut {
                    what: "元旦调休（周六上班）".into(),
                    from: d("2018-12-29"),
                    to: d("2018-12-29")
                }
            ]
        );
        assert_eq!(
            p.holidays[0].summary,
            "2018年12月30日至2019年1月1日放假调休，共3天"
        );
    }

    #[test]
    fn a_make_up_day_without_its_year_is_the_one_nearest_the_holiday() {
        let p = parse(&notice(
            2026,
            &["一、元旦：12月31日（周四）至1月2日（周六）放假调休，共3天。12月27日（周日）、1月9日（周六）上班。"],
        ))
        .unwrap();
        let dates: Vec<NaiveDate> = p.workdays.iter().map(|w| w.date).collect();
        assert_eq!(dates, vec![d("2026-12-27"), d("2027-01-09")]);
    }

    #[test]
    fn half_width_punctuation_full_width_digits_whitespace_and_wrapped_lines_read_alike() {
        let published = notice(
            2025,
            &["二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8天。1月26日（周日）、2月8日（周六）上班。"],
        )
        .replace("二、", "一、");
        let typed = "\u{feff}国务院办公厅关于 2025 年部分节假日安排的通知\r\n\r\n\
                     \u{3000}一. 春节: 1月28日 (农历除夕, 周二) 至 ２月４日(农历正月初七、周二)\r\n\
                     放假调休, 共8天. 1月26日(周日)、2月8日（周六）\r\n\
                     上班.\r\n";
        let a = parse(&published).unwrap();
        let b = parse(typed).unwrap();
        assert_eq!(a.holidays, b.holidays);
        assert_eq!(a.workdays, b.workdays);
    }

    #[test]
    fn advice_sentences_and_the_preamble_are_passed_over() {
        let p = parse(&notice(
            2024,
            &["一、春节：2月10日至17日放假调休，共8天。2月4日（星期日）、2月18日（星期日）上班。鼓励各单位结合带薪年休假等制度落实，安排职工在除夕（2月9日）休息。"],
        ))
        .unwrap();
        assert_eq!(
            spans(&p),
            vec![("春节".into(), d("2024-02-10"), d("2024-02-17"))]
        );
        assert_eq!(p.workdays.len(), 2);
    }

    #[test]
    fn the_year_comes_from_the_title_the_opening_sentence_or_the_caller() {
        let item = "一、元旦：1月1日（周四）放假1天。";
        assert_eq!(parse(item), Err(NoticeError::NoYear));
        assert_eq!(parse_for_year(item, Some(2026)).unwrap().year, 2026);
        assert_eq!(
            parse_for_year(item, Some(300_000)),
            Err(NoticeError::YearOutOfRange(300_000))
        );
        let opening = format!("经国务院批准，现将2026年元旦放假日期通知如下。\n{item}");
        assert_eq!(parse(&opening).unwrap().year, 2026);
        assert_eq!(
            parse_for_year(&notice(2026, &[item]), Some(2027)),
            Err(NoticeError::YearMismatch {
                notice: 2026,
                given: 2027
            })
        );
        assert_eq!(
            parse_for_year(&notice(2026, &[item]), Some(2026))
                .unwrap()
                .year,
            2026
        );
    }

    #[test]
    fn the_document_number_or_else_the_signing_date_names_the_source() {
        let item = "一、元旦：1月1日（周三）放假1天，不调休。";
        let with_number = format!(
            "国务院办公厅关于2025年部分节假日安排的通知\n国办发明电[2024]12号\n{item}\n国务院办公厅\n2024年11月12日\n"
        );
        let p = parse(&with_number).unwrap();
        assert_eq!(p.document_number.as_deref(), Some("国办发明电〔2024〕12号"));
        assert_eq!(p.published, Some(d("2024-11-12")));
        assert!(render(&p).contains(
            "\n# 依据：《国务院办公厅关于2025年部分节假日安排的通知》（国办发明电〔2024〕12号）\n"
        ));
        let with_date = with_number.replace("国办发明电[2024]12号\n", "");
        let p = parse(&with_date).unwrap();
        assert_eq!(p.document_number, None);
        assert!(render(&p)
            .contains("\n# 依据：国务院办公厅2024年11月12日发布的2025年部分节假日安排通知\n"));
        let p = parse(&notice(2025, &[item])).unwrap();
        assert!(render(&p).contains("\n# 依据：《国务院办公厅关于2025年部分节假日安排的通知》\n"));
    }

    #[test]
    fn a_weekday_that_does_not_match_its_date_is_named() {
        let (item, f) = fault(&notice(
            2026,
            &["一、元旦：1月1日（周五）至3日（周六）放假调休，共3天。"],
        ));
        assert_eq!(item, "第一项「元旦」");
        assert_eq!(
            f,
            ItemFault::WrongWeekday {
                text: "1月1日（周五）".into(),
                date: d("2026-01-01"),
                stated: Weekday::Fri,
                actual: Weekday::Thu
            }
        );
        // In a make-up day too.
        let (_, f) = fault(&notice(
            2026,
            &["一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周六）上班。"],
        ));
        assert!(matches!(f, ItemFault::WrongWeekday { date, .. } if date == d("2026-01-04")));
    }

    #[test]
    fn error_messages_name_the_item_its_line_and_the_text() {
        let text = notice(
            2026,
            &[
                "一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。",
                "二、春节：2月15日（周日）至23日（周一）放假调休，共9天。",
                "三、清明节：4月x日（周六）至6日（周一）放假，共3天。",
            ],
        );
        let e = parse(&text).unwrap_err();
        let line = text.lines().position(|l| l.starts_with("三、")).unwrap() + 1;
        assert_eq!(
            e.to_string(),
            format!(
                "第三项「清明节」（第{line}行）：无法识别日期“4月x日（周六）至6日（周一）放假，共3天” / cannot read a date in “4月x日（周六）至6日（周一）放假，共3天”"
            )
        );
        let e = parse(&notice(2026, &["一、元旦：1月1日（周五）放假。"])).unwrap_err();
        assert!(
            e.to_string().contains(
                "“1月1日（周五）”：2026-01-01 是周四，不是周五 / “1月1日（周五）”: 2026-01-01 is a Thursday, not a Friday"
            ),
            "{e}"
        );
    }

    #[test]
    fn each_malformed_item_is_an_error() {
        let one = |item: &str| fault(&notice(2026, &[item])).1;
        assert_eq!(one("一、元旦1月1日（周四）放假。"), ItemFault::NoName);
        assert!(matches!(
            one("一、元旦：2月30日放假。"),
            ItemFault::InvalidDate {
                month: 2,
                day: 30,
                ..
            }
        ));
        assert_eq!(
            one("一、元旦：1月3日至1日放假。"),
            ItemFault::Inverted {
                from: d("2026-01-03"),
                to: d("2026-01-01")
            }
        );
        assert_eq!(
            one("一、元旦：1月1日（周四）至3日（周六）放假调休，共4天。"),
            ItemFault::DayCount {
                stated: 4,
                actual: 3,
                from: d("2026-01-01"),
                to: d("2026-01-03")
            }
        );
        assert!(matches!(
            one("一、元旦：1月1日（周四）放假2天。"),
            ItemFault::DayCount {
                stated: 2,
                actual: 1,
                ..
            }
        ));
        assert!(matches!(
            one("一、元旦：1月1日（公休）放假。"),
            ItemFault::UnknownNote(n) if n == "公休"
        ));
        assert!(matches!(
            one("一、元旦：1月1日（周八）放假。"),
            ItemFault::UnknownNote(_)
        ));
        assert!(matches!(
            one("一、元旦：1月1日（周四放假。"),
            ItemFault::Unclosed(_)
        ));
        assert!(matches!(
            one("一、元旦：1月4日（周日）上班。"),
            ItemFault::NoHoliday(_)
        ));
        assert!(matches!(
            one("一、元旦：1月1日放假。1月3日放假。"),
            ItemFault::SecondHoliday(_)
        ));
        assert!(matches!(
            one("一、元旦：1月1日放假，1月3日调休。"),
            ItemFault::ExtraDate(_)
        ));
        assert!(matches!(
            one("一、元旦：1月1日放假。1月4日调休。"),
            ItemFault::UnknownSentence(_)
        ));
        assert!(matches!(
            one("一、元旦：1月1日放假。另行通知上班。"),
            ItemFault::NoDate(_)
        ));
        assert!(matches!(
            one("一、元旦：1月1日至x日放假。"),
            ItemFault::NoDate(rest) if rest == "x日放假"
        ));
    }

    #[test]
    fn missing_or_misnumbered_items_are_errors() {
        assert_eq!(
            parse("国务院办公厅关于2026年部分节假日安排的通知\n\n国务院办公厅\n"),
            Err(NoticeError::NoItems)
        );
        let e = parse(&notice(
            2026,
            &[
                "一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。",
                "三、清明节：4月4日（周六）至6日（周一）放假，共3天。",
            ],
        ))
        .unwrap_err();
        assert!(
            matches!(e, NoticeError::ItemOrder { ref expected, ref found, .. } if expected == "二" && found == "三"),
            "{e:?}"
        );
    }

    #[test]
    fn a_notice_the_calendar_loader_refuses_is_an_error() {
        // A make-up day on a Monday.
        let e = parse(&notice(
            2026,
            &["一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月5日（周一）上班。"],
        ))
        .unwrap_err();
        assert_eq!(
            e,
            NoticeError::Calendar(CalendarError::WorkdayNotWeekend {
                date: d("2026-01-05")
            })
        );
        // Two items on the same days.
        let e = parse(&notice(
            2026,
            &[
                "一、元旦：1月1日至3日放假，共3天。",
                "二、春节：1月3日至4日放假，共2天。",
            ],
        ))
        .unwrap_err();
        assert!(
            matches!(
                e,
                NoticeError::Calendar(CalendarError::OverlappingHolidays { .. })
            ),
            "{e:?}"
        );
    }

    #[test]
    fn chinese_numerals_up_to_ninety_nine() {
        for n in 1..100 {
            assert_eq!(chinese_number(&chinese_numeral(n)), Some(n), "{n}");
        }
        assert_eq!(chinese_number("十十"), None);
        assert_eq!(
            item_start("十一、国庆节：…"),
            Some((11, "十一".into(), "国庆节：…".into()))
        );
        assert_eq!(item_start("十分重要"), None);
    }

    #[test]
    fn the_rendered_file_reads_back_even_with_names_yaml_would_misread() {
        let mut p = parse(&notice(
            2026,
            &["一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。"],
        ))
        .unwrap();
        for name in ["New Year: 1 {a}, [b] #c 'q'", "true", "2026", "元旦 节"] {
            p.holidays[0].name = name.to_string();
            p.workdays[0].holiday = name.to_string();
            let text = render_checked(&p).unwrap();
            let read = CalendarYearFile::from_yaml_str(&text).unwrap();
            assert_eq!(read.holidays[0].name, name);
            assert_eq!(
                read.workdays[0].note.as_deref(),
                Some(&*format!("{name}调休（周日上班）"))
            );
        }
    }

    #[test]
    fn comments_align_at_one_column_counting_a_chinese_character_as_two() {
        let p = parse(&notice(
            2025,
            &[
                "一、元旦：1月1日（周三）放假1天，不调休。",
                "二、国庆节、中秋节：10月1日（周三）至8日（周三）放假调休，共8天。",
            ],
        ))
        .unwrap();
        let text = render(&p);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("  - { name:"))
            .collect();
        assert_eq!(lines.len(), 2);
        for l in lines {
            let before = &l[..l.find('#').unwrap()];
            assert_eq!(width(before), COMMENT_COLUMN, "{l}");
        }
    }
}
