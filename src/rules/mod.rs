//! rhai for rule files: the engine factory, compiled scripts with their origin in the YAML, and the
//! conversion of application data into script values.

pub mod engine;
pub mod fast;

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Scope, AST};

pub use engine::{build_engine, ContextGuard, EvalContext, ScriptLimits};

/// Where a script stands: the rule file, the matter and the YAML path of the key. The line and
/// column are computed from the file only when something has to be reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptOrigin {
    pub file: String,
    pub matter: String,
    /// e.g. `materials[4].when`
    pub path: String,
}

/// A compiled script.
#[derive(Debug, Clone)]
pub struct Script {
    pub ast: AST,
    /// The same condition in the native fast subset, when it is that simple.
    pub fast: Option<fast::FastExpr>,
    pub origin: Arc<ScriptOrigin>,
}

/// A script that failed while it ran. `line`/`col` are first the position inside the script, and
/// the position in the rule file once the catalog has placed it (`Catalog::place`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("规则脚本执行失败 / rule script failed at {}:{}:{} (matter {}, {}): {message}", origin.file, line, col, origin.matter, origin.path)]
pub struct ScriptFailure {
    pub origin: ScriptOrigin,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl Script {
    /// Evaluate against `scope`, which is rewound afterwards so top-level `let`s do not pile up.
    pub fn eval(&self, engine: &Engine, scope: &mut Scope) -> Result<Dynamic, ScriptFailure> {
        let len = scope.len();
        let result = engine.eval_ast_with_scope::<Dynamic>(scope, &self.ast);
        scope.rewind(len);
        result.map_err(|e| self.failure(&e))
    }

    /// Evaluate a condition: the script must give `true` or `false`.
    pub fn eval_bool(&self, engine: &Engine, scope: &mut Scope) -> Result<bool, ScriptFailure> {
        let value = self.eval(engine, scope)?;
        value.as_bool().map_err(|t| ScriptFailure {
            origin: (*self.origin).clone(),
            line: 1,
            col: 1,
            message: format!("条件应得出 true 或 false，实际得出 {t} / a condition must give true or false, got {t}"),
        })
    }

    fn failure(&self, e: &EvalAltResult) -> ScriptFailure {
        let message = match e {
            EvalAltResult::ErrorTooManyOperations(_) => {
                "脚本运算次数超过上限（可能是死循环） / too many operations (an endless loop?)"
                    .to_string()
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                "脚本调用层级超过上限（可能是无限递归） / call depth limit exceeded (endless recursion?)"
                    .to_string()
            }
            EvalAltResult::ErrorDataTooLarge(what, _) => {
                format!("脚本数据超过大小上限 / data too large: {what}")
            }
            other => other.to_string(),
        };
        let pos = e.position();
        ScriptFailure {
            origin: (*self.origin).clone(),
            line: pos.line().unwrap_or(1),
            col: pos.position().unwrap_or(1),
            message,
        }
    }
}

/// Convert JSON into script values: integers stay integers, objects become maps.
pub fn json_to_dynamic(value: &serde_json::Value) -> Dynamic {
    use serde_json::Value;
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Dynamic::from(rhai::ImmutableString::from(s.as_str())),
        Value::Array(items) => {
            let array: Array = items.iter().map(json_to_dynamic).collect();
            Dynamic::from_array(array)
        }
        Value::Object(fields) => {
            let map: Map = fields
                .iter()
                .map(|(k, v)| (k.as_str().into(), json_to_dynamic(v)))
                .collect();
            Dynamic::from_map(map)
        }
    }
}
