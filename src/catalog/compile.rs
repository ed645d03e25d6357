//! Parse matter files and compile their scripts, in parallel over the machine's cores.

use std::sync::Arc;

use rhai::{Dynamic, Engine, Scope};

use super::locate::Locator;
use super::{parse_yaml, CatalogSources, CompiledMatter, Findings};
use crate::domain::matter::{FieldSpec, Matter, Standard};
use crate::domain::org::Organisation;
use crate::rules::engine::SCOPE_VARIABLES;
use crate::rules::{build_engine, ScriptLimits};
use crate::rules::{Script, ScriptOrigin};

/// Compiled scripts of a form field, mirroring its spec.
#[derive(Debug, Default)]
pub struct FieldScripts {
    pub required_if: Option<Script>,
    pub checks: Vec<Script>,
    pub items: Option<Box<FieldScripts>>,
    pub fields: Vec<FieldScripts>,
}

/// Compiled scripts of a material: its condition and, aligned with its standards, the checks.
#[derive(Debug, Default)]
pub struct MaterialScripts {
    pub when: Option<Script>,
    pub checks: Vec<Option<Script>>,
}

/// Every compiled script of a matter, aligned with the spec's lists.
#[derive(Debug, Default)]
pub struct MatterScripts {
    pub fields: Vec<FieldScripts>,
    pub materials: Vec<MaterialScripts>,
    pub refusals: Vec<Script>,
    pub corrections: Vec<Script>,
    pub routes: Vec<Option<Script>>,
    /// What the scripts read, so an evaluation builds only those script values.
    pub uses: ScriptUses,
}

/// The script variables a matter's scripts read.
#[derive(Debug, Default, Clone)]
pub struct ScriptUses {
    pub applicant: bool,
    pub materials: bool,
    /// The form fields read as `fields.<id>`; `None` when a script reads `fields` as a whole.
    pub fields: Option<Vec<String>>,
}

impl ScriptUses {
    fn of(m: &Matter) -> Self {
        let scripts = super::validate::scripts_of(m);
        let mut fields: Vec<String> = Vec::new();
        let mut whole = false;
        for (_, s) in &scripts {
            let (names, other) = super::validate::field_usage(s);
            whole |= other;
            fields.extend(names.into_iter().map(str::to_string));
        }
        fields.sort();
        fields.dedup();
        Self {
            applicant: scripts.iter().any(|(_, s)| s.contains("applicant")),
            materials: scripts.iter().any(|(_, s)| s.contains("materials")),
            fields: if whole { None } else { Some(fields) },
        }
    }
}

struct Compiler<'a> {
    engine: &'a Engine,
    scope: Scope<'static>,
    file: &'a str,
    text: &'a str,
    matter: String,
    locator: Option<Locator>,
    findings: Findings,
}

impl Compiler<'_> {
    fn compile(&mut self, path: String, source: &str) -> Option<Script> {
        match self.engine.compile_with_scope(&self.scope, source) {
            Ok(ast) => Some(Script {
                ast,
                fast: crate::rules::fast::parse(source),
                origin: Arc::new(ScriptOrigin {
                    file: self.file.to_string(),
                    matter: self.matter.clone(),
                    path,
                }),
            }),
            Err(e) => {
                let pos = e.position();
                let loc = self.locator.get_or_insert_with(|| Locator::new(self.text));
                let at = loc.script_position(
                    &path,
                    pos.line().unwrap_or(1),
                    pos.position().unwrap_or(1),
                );
                let msg = format!("脚本无法编译 / script does not compile ({path}): {}", e.0);
                self.findings
                    .error(self.file, at, Some(&self.matter.clone()), msg);
                None
            }
        }
    }

    fn field(&mut self, path: &str, spec: &FieldSpec) -> FieldScripts {
        let required_if = spec
            .required_if
            .as_deref()
            .and_then(|s| self.compile(format!("{path}.required_if"), s));
        let checks = spec
            .checks
            .iter()
            .enumerate()
            .filter_map(|(i, c)| self.compile(format!("{path}.checks[{i}].rule"), &c.rule))
            .collect();
        let items = spec
            .items
            .as_deref()
            .map(|item| Box::new(self.field(&format!("{path}.items"), item)));
        let fields = spec
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| self.field(&format!("{path}.fields[{i}]"), f))
            .collect();
        FieldScripts {
            required_if,
            checks,
            items,
            fields,
        }
    }

    fn matter(&mut self, m: &Matter) -> MatterScripts {
        let fields = m
            .form
            .iter()
            .enumerate()
            .map(|(i, f)| self.field(&format!("form[{i}]"), f))
            .collect();
        let materials = m
            .materials
            .iter()
            .enumerate()
            .map(|(i, mat)| {
                let when = mat
                    .when
                    .as_deref()
                    .and_then(|s| self.compile(format!("materials[{i}].when"), s));
                let checks = mat
                    .standards
                    .iter()
                    .enumerate()
                    .map(|(j, st)| match st {
                        Standard::Check { check: c } => self
                            .compile(format!("materials[{i}].standards[{j}].check.rule"), &c.rule),
                        _ => None,
                    })
                    .collect();
                MaterialScripts { when, checks }
            })
            .collect();
        let refusals = m
            .refusals
            .iter()
            .enumerate()
            .filter_map(|(i, r)| self.compile(format!("refusals[{i}].if"), &r.condition))
            .collect();
        let corrections = m
            .corrections
            .iter()
            .enumerate()
            .filter_map(|(i, r)| self.compile(format!("corrections[{i}].if"), &r.condition))
            .collect();
        let routes = m
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.when
                    .as_deref()
                    .and_then(|s| self.compile(format!("routes[{i}].when"), s))
            })
            .collect();
        MatterScripts {
            fields,
            materials,
            refusals,
            corrections,
            routes,
            uses: ScriptUses::of(m),
        }
    }
}

fn template_scope() -> Scope<'static> {
    let mut scope = Scope::new();
    for name in SCOPE_VARIABLES {
        scope.push_dynamic(*name, Dynamic::UNIT);
    }
    scope
}

fn compile_one(
    engine: &Engine,
    sources: &CatalogSources,
    org: Option<&Organisation>,
    file: &str,
    text: &str,
) -> (Option<CompiledMatter>, Findings) {
    let mut findings = Findings::default();
    let Some(spec) = parse_yaml::<Matter>(file, text, &mut findings) else {
        return (None, findings);
    };
    super::check_code(
        file,
        text,
        ("事项编码", "matter code"),
        &spec.code,
        &mut findings,
    );
    let mut c = Compiler {
        engine,
        scope: template_scope(),
        file,
        text,
        matter: spec.code.clone(),
        locator: None,
        findings,
    };
    // A matter with script errors is still returned so that its references are validated too;
    // the findings keep the catalog from loading.
    let scripts = c.matter(&spec);
    let mut findings = c.findings;
    if let Some(org) = org {
        super::validate::validate_matter(sources, org, file, &spec, &mut findings);
    }
    (
        Some(CompiledMatter {
            form_ids: {
                let mut ids: Vec<String> = spec.form.iter().map(|f| f.id.clone()).collect();
                ids.sort();
                ids
            },
            spec,
            file: file.to_string(),
            scripts,
        }),
        findings,
    )
}

/// Parse and compile every matter file, spreading the files over the available cores. Each
/// worker compiles with its own engine (same factory, same limits): a shared engine's string
/// interner is locked on every compile and would serialise the workers. The ASTs do not belong to
/// an engine, so the catalog's engine evaluates them all.
pub(crate) fn compile_matters(
    engine: &Engine,
    limits: ScriptLimits,
    sources: &CatalogSources,
    org: Option<&Organisation>,
    files: &[(&String, &String)],
) -> Vec<(Option<CompiledMatter>, Findings)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(files.len().max(1));
    if threads <= 1 || files.len() < 64 {
        return files
            .iter()
            .map(|(f, t)| compile_one(engine, sources, org, f, t))
            .collect();
    }
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let own = build_engine(limits);
                    part.iter()
                        .map(|(f, t)| compile_one(&own, sources, org, f, t))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}
