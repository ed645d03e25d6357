//! A native fast path for the simplest conditions, which are most of them in real catalogs:
//! comparisons of form fields with literals joined by `&&`, `||` and `!`, e.g.
//! `fields.build_kind == "翻建"` or `fields.floors >= 3 || fields.area > 300`.
//!
//! The subset is parsed at load time. At evaluation it gives exactly rhai's answer or declines
//! (`None`), and then rhai evaluates the script as usual — so a decision never depends on which
//! path ran. Rhai's rules followed here: integers and floats compare numerically; values of
//! different types are never equal (`==` false, `!=` true, orderings false); `&&`/`||`
//! short-circuit and need booleans. Anything else (other types, chained comparisons, escapes,
//! function calls, variables other than `fields`) is left to rhai.

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
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
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
        while self.peek() == Some(&Tok::Op("*")) {
            self.pos += 1;
            left = FastExpr::Arith(ArithOp::Mul, Box::new(left), Box::new(self.unary()?));
        }
        Some(left)
    }
    fn unary(&mut self) -> Option<FastExpr> {
        if self.peek() == Some(&Tok::Op("!")) {
            self.pos += 1;
            return Some(FastExpr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }
    fn field(&mut self) -> Option<FastExpr> {
        if self.next()? != Tok::Dot {
            return None;
        }
        let Tok::Ident(name) = self.next()? else {
            return None;
        };
        if self.peek() != Some(&Tok::Dot) {
            return (self.peek() != Some(&Tok::LParen)).then_some(FastExpr::Field(name));
        }
        // `fields.x.len()`; any other member is rhai's.
        self.pos += 1;
        match (self.next()?, self.next()?, self.next()?) {
            (Tok::Ident(m), Tok::LParen, Tok::RParen) if m == "len" => {
                let e = FastExpr::Len(Box::new(FastExpr::Field(name)));
                (!matches!(self.peek(), Some(Tok::Dot | Tok::LParen))).then_some(e)
            }
            _ => None,
        }
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
            Tok::Ident(id) if id == "fields" => self.field(),
            Tok::Ident(id) if id == "age" => {
                if self.next()? != Tok::LParen || self.next()? != Tok::Ident("fields".into()) {
                    return None;
                }
                let arg = self.field()?;
                if !matches!(arg, FastExpr::Field(_)) || self.next()? != Tok::RParen {
                    return None;
                }
                Some(FastExpr::Age(Box::new(arg)))
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
    let mut p = Parser { toks, pos: 0 };
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

fn value_of<'a>(fields: &'a BTreeMap<String, Value>, name: &str) -> Val<'a> {
    match fields.get(name) {
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

fn eval_val<'a>(e: &'a FastExpr, fields: &'a BTreeMap<String, Value>) -> Option<Val<'a>> {
    Some(match e {
        FastExpr::Field(name) => value_of(fields, name),
        FastExpr::Lit(Lit::Int(i)) => Val::Int(*i),
        FastExpr::Lit(Lit::Float(f)) => Val::Float(*f),
        FastExpr::Lit(Lit::Str(s)) => Val::Str(s),
        FastExpr::Lit(Lit::Bool(b)) => Val::Bool(*b),
        FastExpr::Arith(op, a, b) => arith(*op, eval_val(a, fields)?, eval_val(b, fields)?)?,
        FastExpr::Len(inner) => {
            let FastExpr::Field(name) = inner.as_ref() else {
                return None;
            };
            // rhai: a string's length in characters, an array's or map's in elements.
            let n = match fields.get(name)? {
                Value::String(s) => s.chars().count(),
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                _ => return None,
            };
            Val::Int(i64::try_from(n).ok()?)
        }
        FastExpr::Age(inner) => {
            let Val::Str(s) = eval_val(inner, fields)? else {
                return None;
            };
            let id = crate::domain::id_number::IdNumber::parse(s).ok()?;
            Val::Int(i64::from(super::engine::today().map(|d| id.age_on(d))?))
        }
        other => Val::Bool(eval(other, fields)?),
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
        }),
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
    }
}

fn compare(op: CmpOp, a: &Val, b: &Val) -> Option<bool> {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (a, b) {
        (Val::Other, _) | (_, Val::Other) => return None,
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Int(x), Val::Float(y)) => (*x as f64).partial_cmp(y),
        (Val::Float(x), Val::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Val::Float(x), Val::Float(y)) => x.partial_cmp(y),
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

/// Evaluate a condition against the form fields; `None` means "ask rhai".
pub fn eval(e: &FastExpr, fields: &BTreeMap<String, Value>) -> Option<bool> {
    match e {
        FastExpr::Lit(Lit::Bool(b)) => Some(*b),
        FastExpr::Field(_)
        | FastExpr::Lit(_)
        | FastExpr::Arith(..)
        | FastExpr::Len(_)
        | FastExpr::Age(_) => match eval_val(e, fields)? {
            Val::Bool(b) => Some(b),
            _ => None,
        },
        FastExpr::Not(inner) => match eval_val(inner, fields)? {
            Val::Bool(b) => Some(!b),
            _ => None,
        },
        FastExpr::And(a, b) => match eval_val(a, fields)? {
            Val::Bool(false) => Some(false),
            Val::Bool(true) => match eval_val(b, fields)? {
                Val::Bool(x) => Some(x),
                _ => None,
            },
            _ => None,
        },
        FastExpr::Or(a, b) => match eval_val(a, fields)? {
            Val::Bool(true) => Some(true),
            Val::Bool(false) => match eval_val(b, fields)? {
                Val::Bool(x) => Some(x),
                _ => None,
            },
            _ => None,
        },
        FastExpr::Cmp(op, a, b) => compare(*op, &eval_val(a, fields)?, &eval_val(b, fields)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{build_engine, json_to_dynamic, ScriptLimits};
    use rhai::{Dynamic, Map, Scope};
    use serde_json::json;

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
        ] {
            assert!(parse(ok).is_some(), "{ok}");
        }
        for no in [
            "age(applicant.id_number) < 18",
            "fields.members.sum() != fields.size",
            "fields.a / 2 > 2",
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
        let engine = build_engine(ScriptLimits::default());
        let calendar = crate::domain::calendar::Calendar::load_dir(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/calendar"),
        )
        .unwrap();
        let _ctx = crate::rules::ContextGuard::enter(crate::rules::EvalContext {
            today: chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            calendar: std::sync::Arc::new(calendar),
            region: None,
        });
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
            let mut scope_names = Scope::new();
            scope_names.push_dynamic("fields", Dynamic::UNIT);
            let ast = engine.compile_with_scope(&scope_names, src).unwrap();
            for a in &values {
                for b in &values {
                    let mut fields = BTreeMap::new();
                    if !a.is_null() {
                        fields.insert("a".to_string(), a.clone());
                    }
                    if !b.is_null() {
                        fields.insert("b".to_string(), b.clone());
                    }
                    let mut map = Map::new();
                    for name in ["a", "b", "missing", "other"] {
                        map.insert(
                            name.into(),
                            fields.get(name).map_or(Dynamic::UNIT, json_to_dynamic),
                        );
                    }
                    let mut scope = Scope::new();
                    scope.push_constant("fields", Dynamic::from_map(map));
                    let rhai = engine
                        .eval_ast_with_scope::<Dynamic>(&mut scope, &ast)
                        .ok()
                        .and_then(|d| d.as_bool().ok());
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
}
