//! Form fields: type checks by hand (fast, exact messages), then the matter's own rhai checks.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::Value;

use super::{DecideError, Evaluator};
use crate::catalog::{CompiledMatter, FieldScripts};
use crate::domain::application::Application;
use crate::domain::assessment::{Defect, DefectKind, DefectTarget};
use crate::domain::id_number::{IdNumber, Phone};
use crate::domain::matter::{FieldSpec, FieldType};
use crate::rules::json_to_dynamic;

const DEFAULT_MAX_LEN: usize = 200;
const ADDRESS_MIN_LEN: usize = 5;

pub(super) fn field_defect(id: &str, name: &str, kind: DefectKind, reason: String) -> Defect {
    Defect {
        target: DefectTarget::Field,
        id: id.to_string(),
        name: name.to_string(),
        kind,
        reason,
        basis: None,
        obtain_from: None,
    }
}

fn is_absent(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// Type and range checks of one present value; returns defects at `path`.
fn check_value(spec: &FieldSpec, path: &str, v: &Value, out: &mut Vec<Defect>) {
    let label = &spec.label;
    let mut bad = |reason: String| {
        out.push(field_defect(path, label, DefectKind::FieldInvalid, reason));
    };
    match spec.field_type {
        FieldType::Text | FieldType::Address => match v.as_str() {
            None => bad(format!("“{label}”应填写文字")),
            Some(s) => {
                let n = s.trim().chars().count();
                let min = spec
                    .min_len
                    .unwrap_or(if spec.field_type == FieldType::Address {
                        ADDRESS_MIN_LEN
                    } else {
                        0
                    });
                let max = spec.max_len.unwrap_or(DEFAULT_MAX_LEN);
                if n < min {
                    bad(format!("“{label}”至少{min}个字，现为{n}个字"));
                } else if n > max {
                    bad(format!("“{label}”最多{max}个字，现为{n}个字"));
                }
            }
        },
        FieldType::Number | FieldType::Integer => match v.as_f64() {
            None => bad(format!("“{label}”应填写{}", spec.field_type.label())),
            Some(x) => {
                if spec.field_type == FieldType::Integer && x.fract() != 0.0 {
                    bad(format!("“{label}”应填写整数"));
                } else if spec.min.is_some_and(|m| x < m) {
                    bad(format!(
                        "“{label}”不得小于{}",
                        fmt_num(spec.min.unwrap_or_default())
                    ));
                } else if spec.max.is_some_and(|m| x > m) {
                    bad(format!(
                        "“{label}”不得大于{}",
                        fmt_num(spec.max.unwrap_or_default())
                    ));
                }
            }
        },
        FieldType::Date => {
            if v.as_str()
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .is_none()
            {
                bad(format!("“{label}”应为日期，格式如 2026-03-01"));
            }
        }
        FieldType::Enum => match v.as_str() {
            Some(s) if spec.options.iter().any(|o| o == s) => {}
            _ => bad(format!(
                "“{label}”应为以下之一：{}",
                spec.options.join("、")
            )),
        },
        FieldType::Boolean => {
            if !v.is_boolean() {
                bad(format!("“{label}”应选择是或否"));
            }
        }
        FieldType::IdNumber => match v.as_str() {
            None => bad(format!("“{label}”应填写18位身份证号码")),
            Some(s) => {
                if let Err(e) = IdNumber::parse(s) {
                    bad(format!("“{label}”：{e}"));
                }
            }
        },
        FieldType::Phone => match v.as_str() {
            None => bad(format!("“{label}”应填写电话号码")),
            Some(s) => {
                if let Err(e) = Phone::parse(s) {
                    bad(format!("“{label}”：{e}"));
                }
            }
        },
        FieldType::List => match v.as_array() {
            None => bad(format!("“{label}”应为列表")),
            Some(items) => {
                let n = items.len() as f64;
                if spec.min.is_some_and(|m| n < m) {
                    bad(format!(
                        "“{label}”至少{}项，现为{}项",
                        fmt_num(spec.min.unwrap_or_default()),
                        items.len()
                    ));
                } else if spec.max.is_some_and(|m| n > m) {
                    bad(format!(
                        "“{label}”最多{}项，现为{}项",
                        fmt_num(spec.max.unwrap_or_default()),
                        items.len()
                    ));
                }
                if let Some(item) = &spec.items {
                    for (i, x) in items.iter().enumerate() {
                        check_field(item, &format!("{path}[{i}]"), Some(x), out);
                    }
                }
            }
        },
        FieldType::Record => match v.as_object() {
            None => bad(format!("“{label}”填写格式有误")),
            Some(obj) => {
                for k in obj.keys() {
                    if !spec.fields.iter().any(|f| &f.id == k) {
                        out.push(field_defect(
                            &format!("{path}.{k}"),
                            k,
                            DefectKind::FieldInvalid,
                            format!("“{label}”中没有“{k}”这一项"),
                        ));
                    }
                }
                for f in &spec.fields {
                    check_field(f, &format!("{path}.{}", f.id), obj.get(&f.id), out);
                }
            }
        },
    }
}

fn check_field(spec: &FieldSpec, path: &str, v: Option<&Value>, out: &mut Vec<Defect>) {
    if is_absent(v) {
        // `required_if` is decided by script afterwards.
        if spec.required {
            out.push(field_defect(
                path,
                &spec.label,
                DefectKind::FieldRequired,
                format!("请填写“{}”", spec.label),
            ));
        }
        return;
    }
    if let Some(v) = v {
        check_value(spec, path, v, out);
    }
}

/// Type, presence and range checks of every form field.
pub(super) fn check_types(form: &[FieldSpec], fields: &BTreeMap<String, Value>) -> Vec<Defect> {
    let mut out = Vec::new();
    for f in form {
        check_field(f, &f.id, fields.get(&f.id), &mut out);
    }
    out
}

fn has_defect_under(defects: &[Defect], path: &str) -> bool {
    defects.iter().any(|d| {
        d.id == path
            || d.id
                .strip_prefix(path)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    })
}

/// Run `required_if` and the `checks` of fields whose values passed the type checks.
fn run_scripts(
    ev: &mut Evaluator,
    spec: &FieldSpec,
    scripts: &FieldScripts,
    path: &str,
    v: Option<&Value>,
    defects: &mut Vec<Defect>,
) -> Result<(), DecideError> {
    if is_absent(v) {
        if !spec.required {
            if let Some(s) = &scripts.required_if {
                if ev.condition(s, false)? {
                    defects.push(field_defect(
                        path,
                        &spec.label,
                        DefectKind::FieldRequired,
                        format!("请填写“{}”", spec.label),
                    ));
                }
            }
        }
        return Ok(());
    }
    let Some(v) = v else { return Ok(()) };
    if has_defect_under(defects, path) {
        return Ok(());
    }
    if !scripts.checks.is_empty() {
        let value = json_to_dynamic(v);
        for (check, script) in spec.checks.iter().zip(&scripts.checks) {
            let ok = ev.with_var("value", value.clone(), |ev| ev.condition(script, true))?;
            if !ok {
                defects.push(field_defect(
                    path,
                    &spec.label,
                    DefectKind::FieldInvalid,
                    check.message.clone(),
                ));
            }
        }
    }
    match spec.field_type {
        FieldType::List => {
            if let (Some(item), Some(item_scripts), Some(items)) =
                (&spec.items, &scripts.items, v.as_array())
            {
                for (i, x) in items.iter().enumerate() {
                    run_scripts(
                        ev,
                        item,
                        item_scripts,
                        &format!("{path}[{i}]"),
                        Some(x),
                        defects,
                    )?;
                }
            }
        }
        FieldType::Record => {
            if let Some(obj) = v.as_object() {
                for (f, fs) in spec.fields.iter().zip(&scripts.fields) {
                    let p = format!("{path}.{}", f.id);
                    run_scripts(ev, f, fs, &p, obj.get(&f.id), defects)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The scripted part of form checking, after the type checks.
pub(super) fn check_scripts(
    ev: &mut Evaluator,
    m: &CompiledMatter,
    app: &Application,
    defects: &mut Vec<Defect>,
) -> Result<(), DecideError> {
    for (spec, scripts) in m.spec.form.iter().zip(&m.scripts.fields) {
        run_scripts(
            ev,
            spec,
            scripts,
            &spec.id,
            app.fields.get(&spec.id),
            defects,
        )?;
    }
    Ok(())
}
