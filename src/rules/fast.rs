//! A native fast path for the simplest conditions, which are most of them in real catalogs:
//! comparisons of form fields with literals joined by `&&`, `||` and `!`, e.g.
//! `fields.build_kind == "翻建"` or `fields.floors >= 3 || fields.area > 300`.
//!
//! The subset is parsed at load time. At evaluation it gives exactly rhai's answer or declines
//! (`None`), and then rhai evaluates the script as usual — so a decision never depends on which
//! path ran. Rhai's rules followed here: integers and floats compare numerically (within rhai's
//! relative epsilon when a float is involved); values of
//! different types are never equal (`==` false, `!=` true, orderings false); `&&`/`||`
//! short-circuit and need booleans. Anything else (other types, chained comparisons, escapes,
//! function calls, variables other than `fields`) is left to rhai.
//!
//! Lists of records are answered too, in the forms policy staff write for household members:
//! `fields.members.some(|m| …)`, `.all(|m| …)` and `.filter(|m| …).len()`, where the closure's
//! body is of the same subset over `m.x` (a body that reads `fields`, captured by the closure,
//! is rhai's); and `.contains("…")` and
//! `.starts_with("…")` on texts. A closure is rhai's script-function call per element (its state
//! cloned, the element copied), the most expensive thing a simple condition did.

use std::collections::BTreeMap;

use serde_json::Value;

/// A literal of the subset.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// An expression of the subset.
#[derive(Debug, Clone, PartialEq)]
pub enum FastExpr {
    Field(String),
    Lit(Lit),
    Not(Box<FastExpr>),
    And(Box<FastExpr>, Box<FastExpr>),
    Or(Box<FastExpr>, Box<FastExpr>),
    Cmp(CmpOp, Box<FastExpr>, Box<FastExpr>),
    /// `+`, `-`, `*` on numbers.
    Arith(ArithOp, Box<FastExpr>, Box<FastExpr>),
    /// `fields.x.len()`
    Len(Box<FastExpr>),
    /// `age(fields.x)`: completed years of an ID number's holder on the day of intake.
    Age(Box<FastExpr>),
    /// `m.x` inside a closure: a field of the list element the closure is called with.
    Member(String),
    /// `fields.x.contains("lit")`, `m.x.contains("lit")`.
    Contains(Box<FastExpr>, String),
    /// `….starts_with("lit")`.
    StartsWith(Box<FastExpr>, String),
    /// `fields.list.some(|m| body)`.
    Some(String, Box<FastExpr>),
    /// `fields.list.all(|m| body)`.
    All(String, Box<FastExpr>),
    /// `fields.list.filter(|m| body).len()`.
    Count(String, Box<FastExpr>),
    /// `working_days_between(a, b)` where `b` may be `today` (`None`).
    WorkingDays(Box<FastExpr>, Option<Box<FastExpr>>),
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Dot,
    Int(i64),
    Float(f64),
    Str(String),
    Op(&'static str),
    LParen,
    RParen,
    /// A closure's `|`.
    Pipe,
    Comma,
}

fn tokenize(src: &str) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let mut float = false;
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                float = true;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            // Exponents, `_` separators, suffixes and hex are left to rhai.
            if i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                return None;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(if float {
                Tok::Float(text.parse().ok()?)
            } else {
                Tok::Int(text.parse().ok()?)
            });
        } else if c == '"' {
            let start = i + 1;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' || chars[i] == '\n' {
                    return None;
                }
                i += 1;
            }
            if i >= chars.len() {
                return None;
            }
            out.push(Tok::Str(chars[start..i].iter().collect()));
            i += 1;
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = match two.as_str() {
                "==" => Some("=="),
                "!=" => Some("!="),
                "<=" => Some("<="),
                ">=" => Some(">="),
                "&&" => Some("&&"),
                "||" => Some("||"),
                _ => None,
            };
            if let Some(op) = op {
                out.push(Tok::Op(op));
                i += 2;
                continue;
            }
            let tok = match c {
                '.' => Tok::Dot,
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                '<' => Tok::Op("<"),
                '>' => Tok::Op(">"),
                '!' => Tok::Op("!"),
                '+' => Tok::Op("+"),
                '-' => Tok::Op("-"),
                '*' => Tok::Op("*"),
                // `//` and `/*` begin comments: rhai's.
                '/' if !matches!(chars.get(i + 1), Some('/' | '*')) => Tok::Op("/"),
                ',' => Tok::Comma,
                '|' => Tok::Pipe,
                _ => return None,
            };
            out.push(tok);
            i += 1;
        }
    }
    Some(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// The parameter of the closure being parsed (closures do not nest in the subset).
    param: Option<String>,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn or(&mut self) -> Option<FastExpr> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Op("||")) {
            self.pos += 1;
            left = FastExpr::Or(Box::new(left), Box::new(self.and()?));
        }
        Some(left)
    }
    fn and(&mut self) -> Option<FastExpr> {
        let mut left = self.cmp()?;
        while self.peek() == Some(&Tok::Op("&&")) {
            self.pos += 1;
            left = FastExpr::And(Box::new(left), Box::new(self.cmp()?));
        }
        Some(left)
    }
    fn cmp(&mut self) -> Option<FastExpr> {
        let left = self.add()?;
        let op = match self.peek() {
            Some(Tok::Op("==")) => CmpOp::Eq,
            Some(Tok::Op("!=")) => CmpOp::Ne,
            Some(Tok::Op("<")) => CmpOp::Lt,
            Some(Tok::Op("<=")) => CmpOp::Le,
            Some(Tok::Op(">")) => CmpOp::Gt,
            Some(Tok::Op(">=")) => CmpOp::Ge,
            _ => return Some(left),
        };
        self.pos += 1;
        let right = self.add()?;
        // Chained comparisons follow rhai's precedence levels; leave them to rhai.
        if matches!(
            self.peek(),
            Some(Tok::Op("==" | "!=" | "<" | "<=" | ">" | ">="))
        ) {
            return None;
        }
        Some(FastExpr::Cmp(op, Box::new(left), Box::new(right)))
    }
    fn add(&mut self) -> Option<FastExpr> {
        let mut left = self.mul()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Op("+")) => ArithOp::Add,
                Some(Tok::Op("-")) => ArithOp::Sub,
                _ => return Some(left),
            };
            self.pos += 1;
            left = FastExpr::Arith(op, Box::new(left), Box::new(self.mul()?));
        }
    }
    fn mul(&mut self) -> Option<FastExpr> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Op("*")) => ArithOp::Mul,
                Some(Tok::Op("/")) => ArithOp::Div,
                _ => return Some(left),
            };
            self.pos += 1;
            left = FastExpr::Arith(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    /// An argument naming a form field or a field of the closure's element.
    fn field_arg(&mut self) -> Option<FastExpr> {
        let arg = match self.next()? {
            Tok::Ident(v) if v == "fields" && self.param.is_none() => self.field(true)?,
            Tok::Ident(v) if self.param.as_ref() == Some(&v) => self.field(false)?,
            _ => return None,
        };
        matches!(arg, FastExpr::Field(_) | FastExpr::Member(_)).then_some(arg)
    }
    fn unary(&mut self) -> Option<FastExpr> {
        if self.peek() == Some(&Tok::Op("!")) {
            self.pos += 1;
            return Some(FastExpr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }
    /// After `fields` (`of_fields`) or a closure's parameter: `.x`, then optionally `.len()`,
    /// `.contains("…")`, `.starts_with("…")`, or (on `fields` outside a closure) a list method
    /// with a closure.
    fn field(&mut self, of_fields: bool) -> Option<FastExpr> {
        if self.next()? != Tok::Dot {
            return None;
        }
        let Tok::Ident(name) = self.next()? else {
            return None;
        };
        let base = if of_fields {
            FastExpr::Field(name.clone())
        } else {
            FastExpr::Member(name.clone())
        };
        if self.peek() != Some(&Tok::Dot) {
            return (self.peek() != Some(&Tok::LParen)).then_some(base);
        }
        self.pos += 1;
        let Tok::Ident(method) = self.next()? else {
            return None;
        };
        if self.next()? != Tok::LParen {
            return None;
        }
        let e = match method.as_str() {
            "len" => {
                (self.next()? == Tok::RParen).then_some(())?;
                FastExpr::Len(Box::new(base))
            }
            "contains" | "starts_with" => {
                let Tok::Str(lit) = self.next()? else {
                    return None;
                };
                (self.next()? == Tok::RParen).then_some(())?;
                if method == "contains" {
                    FastExpr::Contains(Box::new(base), lit)
                } else {
                    FastExpr::StartsWith(Box::new(base), lit)
                }
            }
            "some" | "all" | "filter" if of_fields && self.param.is_none() => {
                let body = self.closure()?;
                match method.as_str() {
                    "some" => FastExpr::Some(name, Box::new(body)),
                    "all" => FastExpr::All(name, Box::new(body)),
                    // Only `.filter(…).len()`: the filtered array itself is rhai's.
                    _ => {
                        let tail = (self.next()?, self.next()?, self.next()?, self.next()?);
                        if tail != (Tok::Dot, Tok::Ident("len".into()), Tok::LParen, Tok::RParen) {
                            return None;
                        }
                        FastExpr::Count(name, Box::new(body))
                    }
                }
            }
            _ => return None,
        };
        (!matches!(self.peek(), Some(Tok::Dot | Tok::LParen))).then_some(e)
    }

    /// `|m| body)`: the closure and the call's closing parenthesis.
    fn closure(&mut self) -> Option<FastExpr> {
        let (Tok::Pipe, Tok::Ident(param), Tok::Pipe) = (self.next()?, self.next()?, self.next()?)
        else {
            return None;
        };
        if param == "fields" || param == "this" {
            return None;
        }
        self.param = Some(param);
        let body = self.or();
        self.param = None;
        let body = body?;
        (self.next()? == Tok::RParen).then_some(body)
    }

    fn primary(&mut self) -> Option<FastExpr> {
        match self.next()? {
            Tok::LParen => {
                let e = self.or()?;
                (self.next()? == Tok::RParen).then_some(e)
            }
            Tok::Int(i) => Some(FastExpr::Lit(Lit::Int(i))),
            Tok::Float(f) => Some(FastExpr::Lit(Lit::Float(f))),
            Tok::Str(s) => Some(FastExpr::Lit(Lit::Str(s))),
            Tok::Ident(id) if id == "true" => Some(FastExpr::Lit(Lit::Bool(true))),
            Tok::Ident(id) if id == "false" => Some(FastExpr::Lit(Lit::Bool(false))),
            // Inside a closure `fields` is a captured variable, which rhai treats its own way.
            Tok::Ident(id) if id == "fields" && self.param.is_none() => self.field(true),
            Tok::Ident(id) if self.param.as_ref() == Some(&id) => self.field(false),
            Tok::Ident(id) if id == "age" => {
                if self.next()? != Tok::LParen {
                    return None;
                }
                let arg = self.field_arg()?;
                (self.next()? == Tok::RParen).then_some(FastExpr::Age(Box::new(arg)))
            }
            Tok::Ident(id) if id == "working_days_between" => {
                if self.next()? != Tok::LParen {
                    return None;
                }
                let from = self.field_arg()?;
                if self.next()? != Tok::Comma {
                    return None;
                }
                let to = match self.peek()? {
                    Tok::Ident(t) if t == "today" => {
                        self.pos += 1;
                        None
                    }
                    _ => Some(Box::new(self.field_arg()?)),
                };
                (self.next()? == Tok::RParen).then_some(FastExpr::WorkingDays(Box::new(from), to))
            }
            _ => None,
        }
    }
}

/// Parse a condition into the fast subset, or `None` if rhai must evaluate it.
pub fn parse(src: &str) -> Option<FastExpr> {
    let toks = tokenize(src)?;
    if toks.is_empty() {
        return None;
    }
    let mut p = Parser {
        toks,
        pos: 0,
        param: None,
    };
    let e = p.or()?;
    (p.pos == p.toks.len()).then_some(e)
}

/// A value during fast evaluation.
#[derive(Debug, Clone, PartialEq)]
enum Val<'a> {
    Unit,
    Int(i64),
    Float(f64),
    Str(&'a str),
    Bool(bool),
    /// Arrays and maps: compared by rhai only.
    Other,
}

/// What a condition reads: the form, and inside a closure the list element it is called with.
#[derive(Clone, Copy)]
struct Env<'a> {
    fields: &'a BTreeMap<String, Value>,
    element: Option<&'a serde_json::Map<String, Value>>,
}

fn json_val(v: Option<&Value>) -> Val<'_> {
    match v {
        None | Some(Value::Null) => Val::Unit,
        Some(Value::Bool(b)) => Val::Bool(*b),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Val::Int(i),
            None => n.as_f64().map_or(Val::Other, Val::Float),
        },
        Some(Value::String(s)) => Val::Str(s),
        Some(_) => Val::Other,
    }
}

/// The value named by `e` as JSON, for the methods that need the original (length of a list).
fn json_of<'a>(e: &FastExpr, env: Env<'a>) -> Option<Option<&'a Value>> {
    match e {
        FastExpr::Field(name) => Some(env.fields.get(name)),
        FastExpr::Member(name) => Some(env.element?.get(name)),
        _ => None,
    }
}

/// Answers `body` for each element of the list `fields.name` in rhai's order, handing each
/// answer to `visit`, and stops when `visit` says so. `None` when rhai must decide: the field is
/// not a list, an element is not a record, or the body is not answered with a boolean.
fn each_element(
    env: Env<'_>,
    name: &str,
    body: &FastExpr,
    mut visit: impl FnMut(bool) -> bool,
) -> Option<()> {
    let Some(Value::Array(items)) = env.fields.get(name) else {
        return None;
    };
    for item in items {
        let Value::Object(element) = item else {
            return None;
        };
        let inner = Env {
            fields: env.fields,
            element: Some(element),
        };
        let Val::Bool(b) = eval_val(body, inner)? else {
            return None;
        };
        if !visit(b) {
            break;
        }
    }
    Some(())
}

fn eval_val<'a>(e: &'a FastExpr, env: Env<'a>) -> Option<Val<'a>> {
    Some(match e {
        FastExpr::Field(name) => json_val(env.fields.get(name)),
        FastExpr::Member(name) => json_val(env.element?.get(name)),
        FastExpr::Lit(Lit::Int(i)) => Val::Int(*i),
        FastExpr::Lit(Lit::Float(f)) => Val::Float(*f),
        FastExpr::Lit(Lit::Str(s)) => Val::Str(s),
        FastExpr::Lit(Lit::Bool(b)) => Val::Bool(*b),
        FastExpr::Arith(op, a, b) => arith(*op, eval_val(a, env)?, eval_val(b, env)?)?,
        FastExpr::Len(inner) => {
            // rhai: a string's length in characters, an array's or map's in elements.
            let n = match json_of(inner, env)?? {
                Value::String(s) => s.chars().count(),
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                _ => return None,
            };
            Val::Int(i64::try_from(n).ok()?)
        }
        FastExpr::Age(inner) => {
            let Val::Str(s) = eval_val(inner, env)? else {
                return None;
            };
            let id = crate::domain::id_number::IdNumber::parse(s).ok()?;
            Val::Int(i64::from(super::engine::today().map(|d| id.age_on(d))?))
        }
        FastExpr::Contains(inner, lit) => match eval_val(inner, env)? {
            Val::Str(s) => Val::Bool(s.contains(lit.as_str())),
            _ => return None,
        },
        FastExpr::StartsWith(inner, lit) => match eval_val(inner, env)? {
            Val::Str(s) => Val::Bool(s.starts_with(lit.as_str())),
            _ => return None,
        },
        FastExpr::WorkingDays(from, to) => {
            let Val::Str(a) = eval_val(from, env)? else {
                return None;
            };
            Val::Int(match to {
                None => super::engine::working_days_until_today(a)?,
                Some(to) => {
                    let Val::Str(b) = eval_val(to, env)? else {
                        return None;
                    };
                    super::engine::working_days_between(a, b)?
                }
            })
        }
        FastExpr::Count(name, body) => {
            let mut n: i64 = 0;
            each_element(env, name, body, |b| {
                n += i64::from(b);
                true
            })?;
            Val::Int(n)
        }
        other => Val::Bool(eval_in(other, env)?),
    })
}

/// rhai's arithmetic on numbers: checked on integers (overflow is rhai's error, so decline),
/// floating when either side is a float. Strings, units and the rest are left to rhai.
fn arith<'a>(op: ArithOp, a: Val<'a>, b: Val<'a>) -> Option<Val<'a>> {
    Some(match (a, b) {
        (Val::Int(x), Val::Int(y)) => Val::Int(match op {
            ArithOp::Add => x.checked_add(y)?,
            ArithOp::Sub => x.checked_sub(y)?,
            ArithOp::Mul => x.checked_mul(y)?,
            // Truncating; by zero (or overflowing) is rhai's error.
            ArithOp::Div => x.checked_div(y)?,
        }),
        // Division of floats by zero is left to rhai.
        (_, Val::Int(0)) | (_, Val::Float(0.0)) if op == ArithOp::Div => return None,
        (Val::Int(x), Val::Float(y)) => Val::Float(float_op(op, x as f64, y)),
        (Val::Float(x), Val::Int(y)) => Val::Float(float_op(op, x, y as f64)),
        (Val::Float(x), Val::Float(y)) => Val::Float(float_op(op, x, y)),
        _ => return None,
    })
}

fn float_op(op: ArithOp, x: f64, y: f64) -> f64 {
    match op {
        ArithOp::Add => x + y,
        ArithOp::Sub => x - y,
        ArithOp::Mul => x * y,
        ArithOp::Div => x / y,
    }
}

fn compare(op: CmpOp, a: &Val, b: &Val) -> Option<bool> {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (a, b) {
        (Val::Other, _) | (_, Val::Other) => return None,
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Int(x), Val::Float(y)) => return Some(float_compare(op, *x as f64, *y)),
        (Val::Float(x), Val::Int(y)) => return Some(float_compare(op, *x, *y as f64)),
        (Val::Float(x), Val::Float(y)) => return Some(float_compare(op, *x, *y)),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => {
            return match op {
                CmpOp::Eq => Some(x == y),
                CmpOp::Ne => Some(x != y),
                _ => None,
            }
        }
        (Val::Unit, Val::Unit) => {
            return match op {
                CmpOp::Eq => Some(true),
                CmpOp::Ne => Some(false),
                _ => None,
            }
        }
        // Different types: never equal.
        _ => {
            return Some(op == CmpOp::Ne);
        }
    };
    let ord = ord?;
    Some(match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
    })
}

/// rhai's comparison of numbers when one is a float: relative to the larger magnitude (absolute
/// when either is zero), within `f64::EPSILON` counting as equal.
fn float_compare(op: CmpOp, x: f64, y: f64) -> bool {
    let max = if x * y == 0.0 {
        1.0
    } else {
        x.abs().max(y.abs())
    };
    if max == 0.0 {
        return matches!(op, CmpOp::Eq | CmpOp::Ge | CmpOp::Le);
    }
    match op {
        CmpOp::Eq => (x - y).abs() / max <= f64::EPSILON,
        CmpOp::Ne => (x - y).abs() / max > f64::EPSILON,
        CmpOp::Gt => (x - y) / max > f64::EPSILON,
        CmpOp::Ge => (x - y) / max > -f64::EPSILON,
        CmpOp::Lt => (y - x) / max > f64::EPSILON,
        CmpOp::Le => (y - x) / max > -f64::EPSILON,
    }
}

/// Evaluate a condition against the form fields; `None` means "ask rhai".
pub fn eval(e: &FastExpr, fields: &BTreeMap<String, Value>) -> Option<bool> {
    eval_in(
        e,
        Env {
            fields,
            element: None,
        },
    )
}

fn eval_in(e: &FastExpr, env: Env<'_>) -> Option<bool> {
    let boolean = |x: &FastExpr| match eval_val(x, env)? {
        Val::Bool(b) => Some(b),
        _ => None,
    };
    match e {
        FastExpr::Lit(Lit::Bool(b)) => Some(*b),
        FastExpr::Field(_)
        | FastExpr::Member(_)
        | FastExpr::Lit(_)
        | FastExpr::Arith(..)
        | FastExpr::Len(_)
        | FastExpr::Age(_)
        | FastExpr::Contains(..)
        | FastExpr::StartsWith(..)
        | FastExpr::WorkingDays(..)
        | FastExpr::Count(..) => boolean(e),
        FastExpr::Not(inner) => boolean(inner).map(|b| !b),
        FastExpr::And(a, b) => match boolean(a)? {
            false => Some(false),
            true => boolean(b),
        },
        FastExpr::Or(a, b) => match boolean(a)? {
            true => Some(true),
            false => boolean(b),
        },
        FastExpr::Cmp(op, a, b) => compare(*op, &eval_val(a, env)?, &eval_val(b, env)?),
        // rhai stops at the first element that decides.
        FastExpr::Some(name, body) => {
            let mut found = false;
            each_element(env, name, body, |b| {
                found = b;
                !b
            })?;
            Some(found)
        }
        FastExpr::All(name, body) => {
            let mut every = true;
            each_element(env, name, body, |b| {
                every = b;
                b
            })?;
            Some(every)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{build_engine, json_to_dynamic, ScriptLimits};
    use rhai::{Dynamic, Map, Scope};
    use serde_json::json;

    /// The service's engine, with the sample calendar and 2026-03-02 as the day of intake.
    fn rhai_on_2026_03_02() -> (rhai::Engine, crate::rules::ContextGuard) {
        let engine = build_engine(ScriptLimits::default());
        let calendar = crate::domain::calendar::Calendar::load_dir(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/calendar"),
        )
        .unwrap();
        let ctx = crate::rules::ContextGuard::enter(crate::rules::EvalContext {
            today: chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            calendar: std::sync::Arc::new(calendar),
            region: None,
        });
        (engine, ctx)
    }

    /// `src` compiled as the service compiles conditions (`fields` and `today` in scope).
    fn compiled(engine: &rhai::Engine, src: &str) -> rhai::AST {
        let mut names = Scope::new();
        names.push_dynamic("fields", Dynamic::UNIT);
        names.push_dynamic("today", Dynamic::UNIT);
        engine.compile_with_scope(&names, src).unwrap()
    }

    /// rhai's answer with `fields` holding `names` from `fields` (absent ones as `()`); `None`
    /// for an error or an answer that is not a boolean.
    fn rhai_answer(
        engine: &rhai::Engine,
        ast: &rhai::AST,
        fields: &BTreeMap<String, Value>,
        names: &[&str],
    ) -> Option<bool> {
        let mut map = Map::new();
        for name in names {
            map.insert(
                (*name).into(),
                fields.get(*name).map_or(Dynamic::UNIT, json_to_dynamic),
            );
        }
        let mut scope = Scope::new();
        scope.push_constant("fields", Dynamic::from_map(map));
        scope.push_constant("today", Dynamic::from("2026-03-02".to_string()));
        engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, ast)
            .ok()
            .and_then(|d| d.as_bool().ok())
    }

    #[test]
    fn parses_the_subset_and_declines_the_rest() {
        for ok in [
            r#"fields.kind == "翻建""#,
            "fields.a >= 3 || fields.b > 300.5",
            "!(fields.a == true) && fields.b != false",
            "true",
            "fields.land > 120 + fields.size * 10",
            "fields.members.len() != fields.size",
            "age(fields.head_id) < 18",
            "fields.a / 2 > 2",
            "working_days_between(fields.from, today) <= 60",
            r#"fields.members.some(|m| age(m.id) < 18 && m.relation != "本人")"#,
            r#"!fields.address.contains("青山县")"#,
        ] {
            assert!(parse(ok).is_some(), "{ok}");
        }
        for no in [
            "age(applicant.id_number) < 18",
            "fields.members.sum() != fields.size",
            "fields.a // 2 > 2",
            "fields.a /* x */ > 2",
            "working_days_between(today, fields.a) > 2",
            "fields.a > -1",
            "let x = 1; x > 0",
            r#"fields.a == "a\"b""#,
            "fields.a < fields.b == true",
            "applicant.age > 60",
            "fields.a > 1e3",
            "fields.a > 1_000",
            "",
        ] {
            assert!(parse(no).is_none(), "{no}");
        }
    }

    /// The fast path and rhai agree on every expression and every value, or the fast path
    /// declines.
    #[test]
    fn agrees_with_rhai() {
        let (engine, _ctx) = rhai_on_2026_03_02();
        let exprs = [
            "fields.a == 3",
            "fields.a != 3",
            "fields.a < 3",
            "fields.a <= 3.5",
            "fields.a > 2.5",
            "fields.a >= 3",
            r#"fields.a == "3""#,
            r#"fields.a != "x""#,
            r#"fields.a < "b""#,
            "fields.a == true",
            "fields.a != false",
            "fields.a",
            "!fields.a",
            "fields.a && fields.b",
            "fields.a || fields.b",
            "fields.a == fields.b",
            "fields.a < fields.b",
            "(fields.a > 1 || fields.b == true) && !(fields.a == 5)",
            "fields.missing == 3",
            "fields.missing != 3",
            "fields.missing < 3",
            "fields.missing == fields.other",
            "false || fields.a",
            "true && fields.b",
            "fields.a + 1 > 3",
            "fields.a * 2 - fields.b >= 1.5",
            "fields.a * fields.b == 6",
            "fields.a - 0.5 < fields.b",
            "fields.a.len() == 1",
            "fields.b.len() > 1",
            "age(fields.a) >= 18",
            "age(fields.b) < 60",
            "fields.a / 2 >= 1",
            "fields.a / fields.b > 1",
            "fields.a / fields.b == fields.a * 1.0 / fields.b",
            "fields.a - fields.b / 3 < 2",
        ];
        let values = [
            json!(null),
            json!(3),
            json!(2),
            json!(3.0),
            json!(-1.5),
            json!("3"),
            json!("a"),
            json!("c"),
            json!(true),
            json!(false),
            json!([1, 2]),
            json!({"k": 1}),
            json!("11010519491231002X"),
            json!("330112201001010031"),
            json!(i64::MAX),
        ];
        let mut checked = 0;
        for src in exprs {
            let fast = parse(src).unwrap_or_else(|| panic!("{src} should parse"));
            let ast = compiled(&engine, src);
            for a in &values {
                for b in &values {
                    let mut fields = BTreeMap::new();
                    if !a.is_null() {
                        fields.insert("a".to_string(), a.clone());
                    }
                    if !b.is_null() {
                        fields.insert("b".to_string(), b.clone());
                    }
                    let rhai = rhai_answer(&engine, &ast, &fields, &["a", "b", "missing", "other"]);
                    if let Some(f) = eval(&fast, &fields) {
                        assert_eq!(Some(f), rhai, "{src} with a={a} b={b}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(
            checked > 1000,
            "only {checked} cases answered by the fast path"
        );
    }

    #[test]
    fn closures_over_lists_agree_with_rhai() {
        let (engine, _ctx) = rhai_on_2026_03_02();
        let exprs = [
            "fields.m.some(|x| age(x.id) < 18)",
            "fields.m.filter(|x| age(x.id) >= 60).len() >= 2",
            "fields.m.some(|x| x.d == true)",
            "fields.m.all(|x| x.r != \"本人\" || age(x.id) >= 18)",
            "!fields.m.all(|x| x.r != \"本人\" || age(x.id) >= 18)",
            "fields.m.filter(|x| x.r == \"本人\").len() != 1",
            "fields.m.filter(|x| x.n > 1).len() == fields.k",
            "fields.m.some(|x| x.n * 2 > 5 && !x.d)",
            "fields.m.all(|x| x.r.contains(\"子\"))",
            "fields.m.some(|x| x.id.starts_with(\"3301\") && x.r.len() == 2)",
            "fields.s.contains(\"青山县\")",
            "!fields.s.contains(\"青山县\") || fields.s.starts_with(\"6\")",
            "fields.s.starts_with(\"6\") && fields.s.len() >= 16",
            "fields.m.len() == fields.k && fields.m.some(|x| x.r == \"配偶\")",
        ];
        let people = [
            json!({"id": "330112195003120017", "r": "本人", "n": 1}),
            json!({"id": "330112201203050015", "r": "子女", "d": true, "n": 3}),
            json!({"id": "330112194208080042", "r": "配偶", "d": false, "n": 2.5}),
            json!({"id": "not an id", "r": "其他", "d": "yes"}),
            json!({"r": "本人", "n": 4}),
            json!("just text"),
        ];
        let lists: Vec<Value> = {
            let mut out = vec![json!(null), json!([]), json!("a text"), json!(3)];
            for a in &people {
                out.push(json!([a]));
                for b in &people {
                    out.push(json!([a, b]));
                    for c in people.iter().take(3) {
                        out.push(json!([a, b, c]));
                    }
                }
            }
            out
        };
        let texts = [
            json!(null),
            json!("青山县白水镇"),
            json!("6228480012345678"),
            json!("622848"),
            json!(7),
        ];
        let ks = [json!(null), json!(1), json!(2), json!(2.0)];
        let (mut checked, mut declined) = (0, 0);
        for src in exprs {
            let fast = parse(src).unwrap_or_else(|| panic!("{src} should parse"));
            let ast = compiled(&engine, src);
            for m in &lists {
                for st in &texts {
                    for k in &ks {
                        let mut fields = BTreeMap::new();
                        for (name, v) in [("m", m), ("s", st), ("k", k)] {
                            if !v.is_null() {
                                fields.insert(name.to_string(), v.clone());
                            }
                        }
                        let rhai = rhai_answer(&engine, &ast, &fields, &["m", "s", "k"]);
                        match eval(&fast, &fields) {
                            Some(f) => {
                                assert_eq!(Some(f), rhai, "{src} with m={m} s={st} k={k}");
                                checked += 1;
                            }
                            None => declined += 1,
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000, "{checked} answered, {declined} declined");
    }

    #[test]
    fn closures_outside_the_subset_are_declined() {
        for src in [
            "fields.m.some(|x| fields.m.some(|y| y.a == x.a))",
            "fields.m.some(|x, i| i > 0)",
            "fields.m.some(|x| x == 1)",
            "fields.m.some(|x| x.a.b == 1)",
            "fields.m.filter(|x| x.a == 1)",
            "fields.m.filter(|x| x.a == 1)[0].a == 1",
            "fields.m.some(|fields| fields.a == 1)",
            "fields.m.map(|x| x.a).len() == 1",
            "fields.s.contains(fields.t)",
            "fields.m.some(|x| x.n > fields.k)",
        ] {
            assert_eq!(parse(src), None, "{src}");
        }
    }

    #[test]
    fn working_days_agree_with_rhai() {
        let (engine, _ctx) = rhai_on_2026_03_02();
        let exprs = [
            "working_days_between(fields.a, today) <= 10",
            "fields.k == 1 && working_days_between(fields.a, today) > 3",
            "working_days_between(fields.a, fields.b) == 5",
            "working_days_between(fields.b, fields.a) < 0",
            "fields.m.some(|x| working_days_between(x.a, today) > 20)",
        ];
        let dates = [
            json!(null),
            json!("2026-02-10"),
            json!("2026-03-02"),
            json!("2026-02-15"),
            json!("2025-09-30"),
            json!("2026-10-09"),
            json!("2019-01-01"),
            json!("2040-01-01"),
            json!("2026-2-10"),
            json!("2026-02-30"),
            json!(20260210),
            json!("yesterday"),
        ];
        let mut checked = 0;
        for src in exprs {
            let fast = parse(src).unwrap_or_else(|| panic!("{src} should parse"));
            let ast = compiled(&engine, src);
            for a in &dates {
                for b in &dates {
                    let mut fields = BTreeMap::new();
                    for (name, v) in [("a", a), ("b", b)] {
                        if !v.is_null() {
                            fields.insert(name.to_string(), v.clone());
                        }
                    }
                    fields.insert("k".to_string(), json!(1));
                    fields.insert("m".to_string(), json!([{"a": a}, {"a": b}]));
                    let rhai = rhai_answer(&engine, &ast, &fields, &["a", "b", "k", "m"]);
                    if let Some(f) = eval(&fast, &fields) {
                        assert_eq!(Some(f), rhai, "{src} with a={a} b={b}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 200, "only {checked} answered");
    }
}
