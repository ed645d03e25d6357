//! The one rhai engine factory: limits, helper functions for rule authors, and the per-evaluation
//! context (the day of intake and the calendar) that helpers read.
//!
//! Scripts are untrusted: every engine built here limits operations, call depth, expression depth and
//! the sizes of strings, arrays and maps, so a runaway script fails its own evaluation with an error.

use std::cell::RefCell;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use rhai::{Dynamic, Engine, EvalAltResult, Position};

use crate::domain::calendar::Calendar;
use crate::domain::id_number::IdNumber;

/// Limits applied to every evaluation. The defaults allow any sensible rule a thousand times over
/// and stop an endless loop within a few milliseconds.
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
            max_operations: 50_000,
            max_call_levels: 16,
            max_expr_depth: 64,
            max_string_size: 16 * 1024,
            max_array_size: 4_096,
            max_map_size: 1_024,
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
    // Scripts decide; they do not print, evaluate code or load modules.
    engine.disable_symbol("eval");
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});

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
        if n.abs() > 36_600 {
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
        |a: &str, b: &str| -> HelperResult<i64> {
            let (a, b) = (parse_date(a)?, parse_date(b)?);
            if (b - a).num_days().abs() > MAX_WORKING_DAYS * 2 {
                return Err(helper_error("working_days_between: span too long"));
            }
            with_context(|ctx| {
                ctx.calendar
                    .working_days_between(a, b, ctx.region.as_deref())
                    .map_err(|e| helper_error(e.to_string()))
            })
        },
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
    fn endless_recursion_hits_the_call_limit() {
        let engine = build_engine(ScriptLimits::default());
        let err = engine.eval::<i64>("fn f(x) { f(x + 1) } f(0)").unwrap_err();
        assert!(
            matches!(*err, EvalAltResult::ErrorStackOverflow(_)),
            "{err}"
        );
    }
}
