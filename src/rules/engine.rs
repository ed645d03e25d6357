//! The one rhai engine factory: limits, helper functions for rule authors, and the per-evaluation
//! context (the day of intake and the calendar) that helpers read.
//!
//! Scripts are untrusted: every engine built here limits operations, call depth, expression depth and
//! the sizes of strings, arrays and maps, so a runaway script fails its own evaluation with an error.

use std::cell::RefCell;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use rhai::{Dynamic, Engine, EvalAltResult, ImmutableString, Position};

use crate::domain::calendar::Calendar;
use crate::domain::id_number::IdNumber;

/// Limits applied to every evaluation. The sample catalog's scripts need fewer than 100
/// operations and tiny values; the defaults leave a hundred times that. The time one evaluation
/// can take grows with operations × the size of the values it copies (a loop copying a maximal
/// array or map each turn), so the sizes are kept small too: the slowest hostile script of
/// `tests/fixtures/hostile/` takes tens of milliseconds (RELIABILITY.md), where the earlier
/// 50,000 operations with arrays of 4,096 and maps of 1,024 allowed about three seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptLimits {
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
}

impl Default for ScriptLimits {
    fn default() -> Self {
        Self {
            max_operations: 10_000,
            max_call_levels: 16,
            max_expr_depth: 64,
            max_string_size: 16 * 1024,
            max_array_size: 512,
            max_map_size: 512,
        }
    }
}

/// What the helpers need to know about the evaluation in progress.
#[derive(Clone)]
pub struct EvalContext {
    pub today: NaiveDate,
    pub calendar: Arc<Calendar>,
    pub region: Option<String>,
}

thread_local! {
    static CONTEXT: RefCell<Option<EvalContext>> = const { RefCell::new(None) };
}

/// Makes `ctx` the context of helper calls on this thread until the guard is dropped. Evaluation is
/// synchronous, so the guard brackets exactly one decision.
pub struct ContextGuard {
    previous: Option<EvalContext>,
}

impl ContextGuard {
    pub fn enter(ctx: EvalContext) -> Self {
        let previous = CONTEXT.with(|c| c.borrow_mut().replace(ctx));
        Self { previous }
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CONTEXT.with(|c| *c.borrow_mut() = previous);
    }
}

/// The day of intake of the evaluation in progress on this thread, if any.
pub fn today() -> Option<NaiveDate> {
    CONTEXT.with(|c| c.borrow().as_ref().map(|ctx| ctx.today))
}

/// `working_days_between(a, b)` as the script helper answers it, for the native fast path;
/// `None` wherever the helper would fail (not a date, span too long, beyond the calendar, no
/// evaluation context).
pub fn working_days_between(a: &str, b: &str) -> Option<i64> {
    working_days_in(parse_date(a).ok()?, parse_date(b).ok()?).ok()
}

/// The same with `b` the day of intake (`today` in a script).
pub fn working_days_until_today(a: &str) -> Option<i64> {
    working_days_in(parse_date(a).ok()?, today()?).ok()
}

/// Working days in (a, b] on the evaluation's calendar and region: the helper's answer.
fn working_days_in(a: NaiveDate, b: NaiveDate) -> HelperResult<i64> {
    if (b - a).num_days().abs() > MAX_WORKING_DAYS * 2 {
        return Err(helper_error("working_days_between: span too long"));
    }
    with_context(|ctx| {
        ctx.calendar
            .working_days_between(a, b, ctx.region.as_deref())
            .map_err(|e| helper_error(e.to_string()))
    })
}

type HelperResult<T> = Result<T, Box<EvalAltResult>>;

fn helper_error(msg: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(msg.into()),
        Position::NONE,
    ))
}

fn with_context<T>(f: impl FnOnce(&EvalContext) -> HelperResult<T>) -> HelperResult<T> {
    CONTEXT.with(|c| match c.borrow().as_ref() {
        Some(ctx) => f(ctx),
        None => Err(helper_error(
            "no evaluation context (helper called outside a decision)",
        )),
    })
}

fn parse_date(s: &str) -> HelperResult<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| helper_error(format!("'{s}' is not a date in the form YYYY-MM-DD")))
}

fn parse_id(s: &str) -> HelperResult<IdNumber> {
    IdNumber::parse(s).map_err(|e| helper_error(e.to_string()))
}

fn fmt_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Operations after which a running script starts yielding its core (the sample catalog's
/// scripts need fewer than 100).
const YIELD_AFTER: u64 = 1_000;

/// Working-day arithmetic refuses absurd spans instead of walking them.
const MAX_WORKING_DAYS: i64 = 3_660;

fn working_days_arg(n: i64) -> HelperResult<u32> {
    if !(0..=MAX_WORKING_DAYS).contains(&n) {
        return Err(helper_error(format!(
            "working days must be between 0 and {MAX_WORKING_DAYS}, got {n}"
        )));
    }
    u32::try_from(n).map_err(|_| helper_error("working days out of range"))
}

fn years_between(a: NaiveDate, b: NaiveDate) -> i64 {
    let mut years = i64::from(b.year() - a.year());
    if (b.month(), b.day()) < (a.month(), a.day()) {
        years -= 1;
    }
    years
}

/// `s.replace(find, sub)` as rhai does it (an empty `s` stays empty; an empty `find` matches
/// between every two characters), but failing like rhai's own size check if the result would
/// exceed `max` bytes, without building it.
fn checked_replace(s: &mut ImmutableString, find: &str, sub: &str, max: usize) -> HelperResult<()> {
    if s.is_empty() {
        return Ok(());
    }
    let matches = if find.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(find).count()
    };
    let len = (s.len() - matches * find.len()).saturating_add(matches.saturating_mul(sub.len()));
    if len > max {
        return Err(Box::new(EvalAltResult::ErrorDataTooLarge(
            "Length of string".into(),
            Position::NONE,
        )));
    }
    *s = s.replace(find, sub).into();
    Ok(())
}

/// Build an engine with the limits and the helper functions of rule files.
pub fn build_engine(limits: ScriptLimits) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_strict_variables(true)
        .set_fail_on_invalid_map_property(false);
    // A script still running after YIELD_AFTER operations is far past any sensible condition
    // (and will likely hit the limit): from then on it offers its core to other threads every 64
    // operations, so the decisions of other requests run in between. The outcome is unchanged.
    engine.on_progress(|ops| {
        if ops >= YIELD_AFTER && ops % 64 == 0 {
            std::thread::yield_now();
        }
        None
    });
    // Scripts decide; they do not print, evaluate code, load modules (rhai's default resolver
    // would read `<name>.rhai` files from disk) or read the clock (the decision is pure: today
    // comes from the intake).
    engine.disable_symbol("eval");
    engine.disable_symbol("import");
    engine.register_fn("timestamp", || -> HelperResult<rhai::INT> {
        Err(helper_error(
            "脚本不能读取时钟，请用 today / scripts may not read the clock: use today",
        ))
    });
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});

    // rhai's `replace` builds its result before the size limit is checked, so one call could
    // allocate the product of two maximal strings (256 MiB and about a second for 16 KiB each).
    // These versions refuse a result over the limit before building it.
    let max = limits.max_string_size;
    engine.register_fn(
        "replace",
        move |s: &mut ImmutableString, find: &str, sub: &str| -> HelperResult<()> {
            checked_replace(s, find, sub, max)
        },
    );
    engine.register_fn(
        "replace",
        move |s: &mut ImmutableString, find: &str, sub: char| -> HelperResult<()> {
            checked_replace(s, find, sub.encode_utf8(&mut [0; 4]), max)
        },
    );
    engine.register_fn(
        "replace",
        move |s: &mut ImmutableString, find: char, sub: &str| -> HelperResult<()> {
            checked_replace(s, find.encode_utf8(&mut [0; 4]), sub, max)
        },
    );

    // ID numbers.
    engine.register_fn("is_valid_id", |s: &str| IdNumber::parse(s).is_ok());
    engine.register_fn("age", |s: &str| -> HelperResult<i64> {
        let id = parse_id(s)?;
        with_context(|ctx| Ok(i64::from(id.age_on(ctx.today))))
    });
    engine.register_fn("age_on", |s: &str, d: &str| -> HelperResult<i64> {
        let id = parse_id(s)?;
        Ok(i64::from(id.age_on(parse_date(d)?)))
    });
    engine.register_fn("sex", |s: &str| -> HelperResult<String> {
        Ok(parse_id(s)?.sex().as_str().to_string())
    });
    engine.register_fn("birth_date", |s: &str| -> HelperResult<String> {
        Ok(fmt_date(parse_id(s)?.birth_date()))
    });

    // Calendar dates.
    engine.register_fn("is_date", |s: &str| parse_date(s).is_ok());
    engine.register_fn("add_days", |d: &str, n: i64| -> HelperResult<String> {
        if n.unsigned_abs() > 36_600 {
            return Err(helper_error(format!("add_days: {n} days is out of range")));
        }
        let date = parse_date(d)?;
        date.checked_add_signed(chrono::Duration::days(n))
            .map(fmt_date)
            .ok_or_else(|| helper_error("add_days: date out of range"))
    });
    engine.register_fn("days_between", |a: &str, b: &str| -> HelperResult<i64> {
        Ok((parse_date(b)? - parse_date(a)?).num_days())
    });
    engine.register_fn("years_between", |a: &str, b: &str| -> HelperResult<i64> {
        Ok(years_between(parse_date(a)?, parse_date(b)?))
    });
    engine.register_fn("date_before", |a: &str, b: &str| -> HelperResult<bool> {
        Ok(parse_date(a)? < parse_date(b)?)
    });
    engine.register_fn("date_after", |a: &str, b: &str| -> HelperResult<bool> {
        Ok(parse_date(a)? > parse_date(b)?)
    });

    // Working days from the catalog's calendar.
    engine.register_fn(
        "add_working_days",
        |d: &str, n: i64| -> HelperResult<String> {
            let date = parse_date(d)?;
            let n = working_days_arg(n)?;
            with_context(|ctx| {
                ctx.calendar
                    .add_working_days(date, n, ctx.region.as_deref())
                    .map(fmt_date)
                    .map_err(|e| helper_error(e.to_string()))
            })
        },
    );
    engine.register_fn(
        "working_days_between",
        |a: &str, b: &str| -> HelperResult<i64> { working_days_in(parse_date(a)?, parse_date(b)?) },
    );
    engine.register_fn("is_working_day", |d: &str| -> HelperResult<bool> {
        let date = parse_date(d)?;
        with_context(|ctx| {
            ctx.calendar
                .is_working_day(date, ctx.region.as_deref())
                .map_err(|e| helper_error(e.to_string()))
        })
    });
    engine
}

/// The names scripts may use; compiled in strict mode against these.
pub const SCOPE_VARIABLES: &[&str] = &[
    "fields",
    "applicant",
    "materials",
    "today",
    "township",
    "village",
    "channel",
    "level",
    "value",
    "material",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_between_counts_completed_years() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(years_between(d("2000-03-02"), d("2026-03-01")), 25);
        assert_eq!(years_between(d("2000-03-02"), d("2026-03-02")), 26);
    }

    #[test]
    fn helpers_without_context_fail_cleanly() {
        let engine = build_engine(ScriptLimits::default());
        let err = engine
            .eval::<i64>(r#"age("11010519491231002X")"#)
            .unwrap_err();
        assert!(err.to_string().contains("no evaluation context"), "{err}");
    }

    #[test]
    fn endless_loop_hits_the_operation_limit() {
        let engine = build_engine(ScriptLimits::default());
        let err = engine
            .eval::<i64>("let x = 0; loop { x += 1; }")
            .unwrap_err();
        assert!(
            matches!(*err, EvalAltResult::ErrorTooManyOperations(_)),
            "{err}"
        );
    }

    #[test]
    fn huge_string_hits_the_size_limit() {
        let engine = build_engine(ScriptLimits::default());
        let err = engine
            .eval::<String>(r#"let s = "x"; loop { s += s; }"#)
            .unwrap_err();
        assert!(
            matches!(*err, EvalAltResult::ErrorDataTooLarge(..)),
            "{err}"
        );
    }

    #[test]
    fn replace_refuses_an_oversized_result_before_building_it() {
        let mut s = ImmutableString::from("abc");
        let err = checked_replace(&mut s, "", "0123456789", 30).unwrap_err();
        assert!(
            matches!(*err, EvalAltResult::ErrorDataTooLarge(..)),
            "{err}"
        );
        assert_eq!(s, "abc", "left as it was");
        // 4 insertions of 6 bytes into 3: exactly 27 bytes fits.
        checked_replace(&mut s, "", "012345", 27).unwrap();
        assert_eq!(s, "012345a012345b012345c012345");

        let engine = build_engine(ScriptLimits::default());
        let err = engine
            .eval::<i64>(r#"let s = "x"; s.pad(16000, "y"); s.replace("", s); s.len()"#)
            .unwrap_err();
        assert!(
            matches!(*err, EvalAltResult::ErrorDataTooLarge(..)),
            "{err}"
        );
        // Ordinary replacing is unchanged, in all four forms.
        let out = engine
            .eval::<String>(
                r#"let s = "hello"; s.replace("l", "L"); s.replace('o', "0"); s.replace("h", 'H'); s.replace('e', 'E'); s"#,
            )
            .unwrap();
        assert_eq!(out, "HELL0");
        let empty = engine
            .eval::<String>(r#"let s = ""; s.replace("", "x"); s"#)
            .unwrap();
        assert_eq!(empty, "");
    }

    /// Every helper with absurd arguments: each call answers or fails with an error, and none
    /// panics (a panic would take the whole decision, or `rules lint`, down).
    #[test]
    fn helpers_with_absurd_arguments_fail_cleanly() {
        let calendar = Calendar::load_dir(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/calendar"),
        )
        .unwrap();
        let engine = build_engine(ScriptLimits::default());
        let _ctx = ContextGuard::enter(EvalContext {
            today: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            calendar: Arc::new(calendar),
            region: Some("no-such-region".into()),
        });
        let texts = [
            r#""""#,
            r#"" ""#,
            r#""𝕏𝕏𝕏𝕏𝕏𝕏𝕏𝕏𝕏𝕏𝕏𝕏𝕏𝕏𝕏𝕏𝕏𝕏""#,
            r#""33011219500312001７""#,
            r#""000000000000000000""#,
            r#""11010518991231002X""#,
            r#""0000-01-01""#,
            r#""1900-02-29""#,
            r#""262143-12-31""#,
            r#""+262143-12-31""#,
            r#""-262144-01-01""#,
            r#""9999-12-31""#,
            r#""2026-13-01""#,
            r#""2026-03-02T00:00:00""#,
            r#""2026-03-02""#,
        ];
        let numbers = [
            "0",
            "-1",
            "3661",
            "36601",
            "-36601",
            "1000000000",
            "9223372036854775807",
            "(-9223372036854775807 - 1)",
        ];
        let one_text = [
            "is_valid_id",
            "age",
            "sex",
            "birth_date",
            "is_date",
            "is_working_day",
        ];
        let two_texts = [
            "age_on",
            "days_between",
            "years_between",
            "date_before",
            "date_after",
            "working_days_between",
        ];
        let text_number = ["add_days", "add_working_days"];
        let mut calls = Vec::new();
        for f in one_text {
            calls.extend(texts.iter().map(|a| format!("{f}({a})")));
        }
        for f in two_texts {
            for a in texts {
                calls.extend(texts.iter().map(|b| format!("{f}({a}, {b})")));
            }
        }
        for f in text_number {
            for a in texts {
                calls.extend(numbers.iter().map(|n| format!("{f}({a}, {n})")));
            }
        }
        let mut failed = 0;
        for call in &calls {
            if engine.eval::<Dynamic>(call).is_err() {
                failed += 1;
            }
        }
        assert!(calls.len() > 500, "{}", calls.len());
        // Most of these arguments are wrong; a few are merely odd and answer.
        assert!(failed > calls.len() / 2 && failed < calls.len(), "{failed}");
        for (call, wanted) in [
            (
                r#"add_days("2026-03-02", (-9223372036854775807 - 1))"#,
                "out of range",
            ),
            (
                r#"add_working_days("2026-03-02", 1000000000)"#,
                "between 0 and 3660",
            ),
            (
                r#"add_working_days("2026-03-02", -1)"#,
                "between 0 and 3660",
            ),
            (
                r#"working_days_between("1900-01-01", "9999-12-31")"#,
                "span too long",
            ),
            (
                r#"is_working_day("9999-12-31")"#,
                "beyond calendar coverage",
            ),
            (r#"birth_date("")"#, "18位"),
        ] {
            let err = engine.eval::<Dynamic>(call).unwrap_err();
            assert!(err.to_string().contains(wanted), "{call}: {err}");
        }
    }

    #[test]
    fn scripts_cannot_load_modules_or_read_the_clock() {
        let engine = build_engine(ScriptLimits::default());
        for script in [r#"import "rules/x" as x; true"#, r#"eval("true")"#] {
            assert!(engine.compile(script).is_err(), "{script} compiles");
        }
        for script in ["timestamp()", "let t = timestamp(); t.elapsed > 0.0"] {
            let err = engine.eval::<Dynamic>(script).unwrap_err();
            assert!(err.to_string().contains("may not read the clock"), "{err}");
        }
    }

    #[test]
    fn endless_recursion_hits_the_call_limit() {
        let engine = build_engine(ScriptLimits::default());
        let err = engine.eval::<i64>("fn f(x) { f(x + 1) } f(0)").unwrap_err();
        assert!(
            matches!(*err, EvalAltResult::ErrorStackOverflow(_)),
            "{err}"
        );
    }
}
