//! The intake decision: `(catalog, matter, application, intake context) → assessment`.
//!
//! Pure and deterministic: no I/O and no clock (today comes in the context). The HTTP intake, the
//! dry-run pre-check, `rules test` and replays all call these functions and get identical results.
//! Evaluation never stops at the first defect: the one-time notice lists everything at once.

mod form;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rhai::{Dynamic, Map, Scope};

use crate::catalog::{Catalog, CompiledMatter};
use crate::domain::application::{Application, Channel, IntakeContext, PresentedMaterial};
use crate::domain::assessment::{
    Assessment, BundleAssessment, Defect, DefectKind, DefectTarget, DeferredMaterial, DueDate,
    MaterialStatus, Outcome, PlannedStep, Refusal, RequiredMaterial, RoutePlan, UnitAssignment,
};
use crate::domain::id_number::{IdNumber, Phone};
use crate::domain::matter::{
    HandlingKind, Level, MaterialForm, MaterialSpec, Medium, Necessity, RefusalKind, Standard,
    StandardKeyword, StepRole, StepUnit, SubjectKind, UnitRef, UnitRole,
};
use crate::rules::{json_to_dynamic, ContextGuard, EvalContext, Script, ScriptFailure};

/// Why an application could not be assessed at all (as opposed to a refusal or a notice).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecideError {
    #[error("未知事项编码 '{0}' / unknown matter code")]
    UnknownMatter(String),
    #[error("未知“一件事”编码 '{0}' / unknown bundle code")]
    UnknownBundle(String),
    #[error("未知乡镇 '{0}' / unknown township")]
    UnknownTownship(String),
    #[error("未知村（社区）'{0}' / unknown village")]
    UnknownVillage(String),
    #[error("村（社区）'{village}' 不属于乡镇 '{township}' / the village is not in that township")]
    VillageNotInTownship { village: String, township: String },
    #[error("事项 {matter} 没有这些表单字段：{} / unknown fields", .fields.join("、"))]
    UnknownFields { matter: String, fields: Vec<String> },
    #[error("事项 {matter} 没有这些材料：{} / unknown materials", .materials.join("、"))]
    UnknownMaterials {
        matter: String,
        materials: Vec<String>,
    },
    #[error("事项 {matter} 在本乡镇无法确定{what}（目录配置问题）/ the catalog cannot resolve {what} here")]
    Unresolvable { matter: String, what: String },
    #[error("事项 {matter} 没有适用的办理路线（目录配置问题）/ no route applies")]
    NoRoute { matter: String },
    #[error(transparent)]
    Script(#[from] ScriptFailure),
}

const LAW_ART_32: &str = "《中华人民共和国行政许可法》第三十二条";

/// Where the case is, resolved against the organisation.
struct Place<'a> {
    township: Option<&'a str>,
    level: Level,
}

fn resolve_place<'c>(catalog: &'c Catalog, ctx: &IntakeContext) -> Result<Place<'c>, DecideError> {
    let org = &catalog.org;
    let township = match (&ctx.village, &ctx.township) {
        (Some(v), t) => {
            let (tw, _) = org
                .village(v)
                .ok_or_else(|| DecideError::UnknownVillage(v.clone()))?;
            if let Some(t) = t {
                if *t != tw.id {
                    return Err(DecideError::VillageNotInTownship {
                        village: v.clone(),
                        township: t.clone(),
                    });
                }
            }
            Some(tw.id.as_str())
        }
        (None, Some(t)) => Some(
            org.township(t)
                .map(|tw| tw.id.as_str())
                .ok_or_else(|| DecideError::UnknownTownship(t.clone()))?,
        ),
        (None, None) => None,
    };
    Ok(Place {
        township,
        level: ctx.accepting_level(),
    })
}

/// The deciding unit of a matter for a township (有差别下放).
fn decider_ref<'m>(m: &'m CompiledMatter, township: Option<&str>) -> &'m UnitRef {
    let j = &m.spec.jurisdiction;
    township
        .and_then(|t| {
            j.devolved
                .iter()
                .find(|d| d.townships.iter().any(|x| x == t))
        })
        .map_or(&j.decide, |d| &d.decide)
}

fn due(catalog: &Catalog, ctx: &EvalContext, start: chrono::NaiveDate, days: u32) -> DueDate {
    match catalog
        .calendar
        .add_working_days(start, days, ctx.region.as_deref())
    {
        Ok(d) => DueDate {
            working_days: days,
            date: Some(d),
            beyond_coverage: false,
        },
        Err(_) => DueDate {
            working_days: days,
            date: None,
            beyond_coverage: true,
        },
    }
}

/// Evaluates scripts for one application. When the form itself has defects, a failing script is
/// not the rule author's fault: it is noted and the conservative answer used, since the outcome is
/// a notice anyway.
struct Evaluator<'a> {
    catalog: &'a Catalog,
    m: &'a CompiledMatter,
    app: &'a Application,
    ctx: &'a IntakeContext,
    place: &'a Place<'a>,
    presented: &'a BTreeMap<&'a str, &'a PresentedMaterial>,
    /// Script values, built the first time a script needs rhai (conditions of the fast subset
    /// are answered from the form directly).
    scope: Option<Scope<'static>>,
    lenient: bool,
    warnings: Vec<String>,
}

impl Evaluator<'_> {
    fn scope(&mut self) -> &mut Scope<'static> {
        if self.scope.is_none() {
            self.scope = Some(build_scope(
                self.m,
                self.app,
                self.ctx,
                self.place,
                self.presented,
            ));
        }
        self.scope.get_or_insert_with(Scope::new)
    }

    fn condition(&mut self, script: &Script, on_error: bool) -> Result<bool, DecideError> {
        if let Some(b) = script
            .fast
            .as_ref()
            .and_then(|f| crate::rules::fast::eval(f, &self.app.fields))
        {
            return Ok(b);
        }
        let catalog = self.catalog;
        match script.eval_bool(&catalog.engine, self.scope()) {
            Ok(b) => Ok(b),
            Err(f) if self.lenient => {
                let f = self.catalog.place(f);
                self.warnings.push(format!(
                    "表单有误，规则未能判断 / rule not decidable while the form has errors: {f}"
                ));
                Ok(on_error)
            }
            Err(f) => Err(DecideError::Script(self.catalog.place(f))),
        }
    }

    fn with_var<T>(
        &mut self,
        name: &'static str,
        value: Dynamic,
        f: impl FnOnce(&mut Self) -> T,
    ) -> T {
        self.scope().set_value(name, value);
        let out = f(self);
        self.scope().set_value(name, Dynamic::UNIT);
        out
    }
}

fn applicant_map(app: &Application, today: chrono::NaiveDate) -> Map {
    let a = &app.applicant;
    let mut m = Map::new();
    let s = |v: &Option<String>| {
        v.as_deref().map_or(Dynamic::UNIT, |x| {
            Dynamic::from(rhai::ImmutableString::from(x))
        })
    };
    m.insert("kind".into(), Dynamic::from(a.kind.as_str()));
    m.insert(
        "name".into(),
        Dynamic::from(rhai::ImmutableString::from(a.name.as_str())),
    );
    m.insert("id_number".into(), s(&a.id_number));
    m.insert("credit_code".into(), s(&a.credit_code));
    m.insert("phone".into(), s(&a.phone));
    m.insert("address".into(), s(&a.address));
    let id = a.id_number.as_deref().and_then(|x| IdNumber::parse(x).ok());
    let (age, sex, birth) = match id {
        Some(id) => (
            Dynamic::from_int(i64::from(id.age_on(today))),
            Dynamic::from(id.sex().as_str()),
            Dynamic::from(id.birth_date().format("%Y-%m-%d").to_string()),
        ),
        None => (Dynamic::UNIT, Dynamic::UNIT, Dynamic::UNIT),
    };
    m.insert("age".into(), age);
    m.insert("sex".into(), sex);
    m.insert("birth_date".into(), birth);
    m
}

fn material_map(p: &PresentedMaterial, spec: &MaterialSpec) -> Map {
    let mut m = Map::new();
    let form = match p.form.unwrap_or(spec.form) {
        MaterialForm::Original => "original",
        MaterialForm::Copy => "copy",
        MaterialForm::OriginalAndCopy => "original_and_copy",
    };
    m.insert("form".into(), Dynamic::from(form));
    m.insert(
        "copies".into(),
        Dynamic::from_int(i64::from(p.copies.unwrap_or(spec.copies))),
    );
    let date = |d: Option<chrono::NaiveDate>| {
        d.map_or(Dynamic::UNIT, |d| {
            Dynamic::from(d.format("%Y-%m-%d").to_string())
        })
    };
    m.insert("issued_on".into(), date(p.issued_on));
    m.insert("expires_on".into(), date(p.expires_on));
    m.insert("signed".into(), Dynamic::from_bool(p.signed));
    m.insert("sealed".into(), Dynamic::from_bool(p.sealed));
    for (k, v) in &p.attributes {
        m.insert(k.as_str().into(), json_to_dynamic(v));
    }
    m
}

fn build_scope(
    m: &CompiledMatter,
    app: &Application,
    ctx: &IntakeContext,
    place: &Place,
    presented: &BTreeMap<&str, &PresentedMaterial>,
) -> Scope<'static> {
    // Only what the matter's scripts read is turned into script values.
    let uses = &m.scripts.uses;
    let mut fields = Map::new();
    let mut put = |id: &str| {
        let v = app.fields.get(id).map_or(Dynamic::UNIT, json_to_dynamic);
        fields.insert(id.into(), v);
    };
    match &uses.fields {
        Some(ids) => ids.iter().for_each(|id| put(id)),
        None => m.spec.form.iter().for_each(|f| put(&f.id)),
    }
    let mut materials = Map::new();
    if uses.materials {
        for spec in &m.spec.materials {
            if let Some(p) = presented.get(spec.id.as_str()) {
                materials.insert(
                    spec.id.as_str().into(),
                    Dynamic::from_map(material_map(p, spec)),
                );
            }
        }
    }
    let applicant = if uses.applicant {
        Dynamic::from_map(applicant_map(app, ctx.today))
    } else {
        Dynamic::from_map(Map::new())
    };
    let mut scope = Scope::new();
    scope.push_constant("fields", Dynamic::from_map(fields));
    scope.push_constant("applicant", applicant);
    scope.push_constant("materials", Dynamic::from_map(materials));
    scope.push_constant(
        "today",
        Dynamic::from(ctx.today.format("%Y-%m-%d").to_string()),
    );
    scope.push_constant(
        "township",
        Dynamic::from(place.township.unwrap_or("").to_string()),
    );
    scope.push_constant(
        "village",
        Dynamic::from(ctx.village.clone().unwrap_or_default()),
    );
    scope.push_constant("channel", Dynamic::from(ctx.channel.as_str()));
    scope.push_constant("level", Dynamic::from(place.level.as_str()));
    scope.push_dynamic("value", Dynamic::UNIT);
    scope.push_dynamic("material", Dynamic::UNIT);
    scope
}

fn obtain_from(catalog: &Catalog, spec: &MaterialSpec, township: Option<&str>) -> String {
    match &spec.issued_by {
        None => "申请人自备".to_string(),
        Some(u) => catalog
            .org
            .resolve(u.level, &u.department, township)
            .map(|a| a.name)
            .or_else(|| {
                catalog
                    .org
                    .resolve(u.level, &u.department, None)
                    .map(|a| a.name)
            })
            .unwrap_or_else(|| format!("{}{}", u.level.label(), u.department)),
    }
}

/// Check one presented material against its spec and standards.
fn check_material(
    ev: &mut Evaluator,
    m: &CompiledMatter,
    index: usize,
    p: &PresentedMaterial,
    today: chrono::NaiveDate,
    obtain: &str,
    defects: &mut Vec<Defect>,
) -> Result<(), DecideError> {
    let spec = &m.spec.materials[index];
    let mut push = |kind: DefectKind, reason: String| {
        defects.push(Defect {
            target: DefectTarget::Material,
            id: spec.id.clone(),
            name: spec.name.clone(),
            kind,
            reason,
            basis: spec.basis.clone(),
            obtain_from: Some(obtain.to_string()),
        });
    };
    let form = p.form.unwrap_or(spec.form);
    if matches!(
        spec.form,
        MaterialForm::Original | MaterialForm::OriginalAndCopy
    ) && form == MaterialForm::Copy
    {
        push(
            DefectKind::WrongForm,
            format!("“{}”须提交{}，现仅有复印件", spec.name, spec.form.label()),
        );
    }
    let copies = p.copies.unwrap_or(spec.copies);
    if copies < spec.copies {
        push(
            DefectKind::TooFewCopies,
            format!("“{}”需{}份，现有{}份", spec.name, spec.copies, copies),
        );
    }
    if let Some(medium) = p.medium {
        let ok = match spec.medium {
            Medium::Any => true,
            required => medium == required || medium == Medium::Any,
        };
        if !ok {
            push(
                DefectKind::WrongMedium,
                format!("“{}”须为{}材料", spec.name, spec.medium.label()),
            );
        }
    }
    let mut scripted: Vec<(usize, String)> = Vec::new();
    for (j, st) in spec.standards.iter().enumerate() {
        match st {
            Standard::Keyword(StandardKeyword::NotExpired) => {
                if p.expires_on.is_some_and(|e| e < today) {
                    push(
                        DefectKind::Expired,
                        format!(
                            "“{}”已于{}过期，请提供在有效期内的材料",
                            spec.name,
                            p.expires_on.map(|d| d.to_string()).unwrap_or_default()
                        ),
                    );
                }
            }
            Standard::Keyword(StandardKeyword::Signed) => {
                if !p.signed {
                    push(
                        DefectKind::Unsigned,
                        format!("“{}”须由申请人签名", spec.name),
                    );
                }
            }
            Standard::Keyword(StandardKeyword::Sealed) => {
                if !p.sealed {
                    push(DefectKind::Unsealed, format!("“{}”须加盖公章", spec.name));
                }
            }
            Standard::IssuedWithinDays {
                issued_within_days: n,
            } => match p.issued_on {
                None => push(
                    DefectKind::TooOld,
                    format!("“{}”须注明出具日期（{}日内出具）", spec.name, n),
                ),
                Some(d) if (today - d).num_days() > i64::from(*n) || d > today => push(
                    DefectKind::TooOld,
                    format!("“{}”须为{}日内出具（出具日期{}）", spec.name, n, d),
                ),
                Some(_) => {}
            },
            Standard::Check { check: c } => scripted.push((j, c.message.clone())),
        }
    }
    if !scripted.is_empty() {
        let value = Dynamic::from_map(material_map(p, spec));
        for (j, message) in scripted {
            if let Some(Some(script)) = m.scripts.materials[index].checks.get(j) {
                let ok = ev.with_var("material", value.clone(), |ev| ev.condition(script, true))?;
                if !ok {
                    push(DefectKind::CheckFailed, message);
                }
            }
        }
    }
    Ok(())
}

fn unknown_fields(m: &CompiledMatter, app: &Application) -> Vec<String> {
    app.fields
        .keys()
        .filter(|k| m.form_ids.binary_search(k).is_err())
        .cloned()
        .collect()
}

/// Assess an application for one matter.
pub fn assess(
    catalog: &Catalog,
    code: &str,
    app: &Application,
    ctx: &IntakeContext,
) -> Result<Assessment, DecideError> {
    let m = catalog
        .matter(code)
        .ok_or_else(|| DecideError::UnknownMatter(code.to_string()))?;
    let unknown = unknown_fields(m, app);
    if !unknown.is_empty() {
        return Err(DecideError::UnknownFields {
            matter: code.to_string(),
            fields: unknown,
        });
    }
    assess_matter(catalog, m, app, ctx)
}

fn assess_matter(
    catalog: &Catalog,
    m: &CompiledMatter,
    app: &Application,
    ctx: &IntakeContext,
) -> Result<Assessment, DecideError> {
    let spec = &m.spec;
    let place = resolve_place(catalog, ctx)?;
    // A township with its own calendar additions uses them; otherwise the county's region.
    let region = catalog.calendar_region(place.township);
    let eval_ctx = EvalContext {
        today: ctx.today,
        calendar: catalog.calendar.clone(),
        region,
    };
    let _guard = ContextGuard::enter(eval_ctx.clone());

    let mut presented: BTreeMap<&str, &PresentedMaterial> = BTreeMap::new();
    let known: HashSet<&str> = spec.materials.iter().map(|x| x.id.as_str()).collect();
    let mut unknown_materials = Vec::new();
    for p in &app.materials {
        if known.contains(p.id.as_str()) {
            presented.entry(p.id.as_str()).or_insert(p);
        } else {
            unknown_materials.push(p.id.clone());
        }
    }
    if !unknown_materials.is_empty() {
        return Err(DecideError::UnknownMaterials {
            matter: spec.code.clone(),
            materials: unknown_materials,
        });
    }

    let decider_unit = decider_ref(m, place.township);
    let decider = catalog
        .org
        .resolve(decider_unit.level, &decider_unit.department, place.township)
        .ok_or_else(|| DecideError::Unresolvable {
            matter: spec.code.clone(),
            what: "决定单位 / the deciding unit".into(),
        });

    let mut refusals: Vec<Refusal> = Vec::new();
    let mut defects: Vec<Defect> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();

    // Built-in acceptance conditions (Art. 32): who is served, and who may accept.
    if !spec.subjects.contains(&app.applicant.kind) {
        refusals.push(Refusal {
            rule: "subject_not_served".into(),
            kind: RefusalKind::Ineligible,
            reason: format!(
                "本事项的服务对象为{}，申请人为{}",
                spec.subjects
                    .iter()
                    .map(|s| s.label())
                    .collect::<Vec<_>>()
                    .join("、"),
                app.applicant.kind.label()
            ),
            basis: spec.basis.first().cloned().unwrap_or_default(),
            competent_agency: None,
        });
    }
    let agent_ok = place.level != Level::Village || ctx.channel == Channel::Agent;
    if !spec.jurisdiction.accept.contains(&place.level) || !agent_ok {
        let competent = if spec.jurisdiction.accept.contains(&Level::Township)
            && place.township.is_some()
        {
            catalog.org.center_unit(place.township).name
        } else if spec.jurisdiction.accept.contains(&Level::County) {
            catalog.org.county.center.clone()
        } else {
            let levels: Vec<&str> = spec.jurisdiction.accept.iter().map(|l| l.label()).collect();
            format!("{}便民服务中心", levels.join("或"))
        };
        refusals.push(Refusal {
            rule: "not_accepted_at_level".into(),
            kind: RefusalKind::OutsidePower,
            reason: format!("本事项不在{}受理", place.level.label()),
            // The permit law's article for a 行政许可; other types cite their own basis.
            basis: if spec.matter_type == crate::domain::matter::MatterType::AdministrativeLicense {
                format!("{LAW_ART_32}第一款第（二）项")
            } else {
                spec.basis.first().cloned().unwrap_or_default()
            },
            competent_agency: Some(competent),
        });
    }

    // The applicant's own identity data.
    if app.applicant.name.trim().is_empty() {
        defects.push(form::field_defect(
            "applicant.name",
            "申请人姓名（名称）",
            DefectKind::FieldRequired,
            "请填写申请人姓名（名称）".into(),
        ));
    }
    match app.applicant.id_number.as_deref() {
        None if app.applicant.kind == SubjectKind::NaturalPerson => {
            defects.push(form::field_defect(
                "applicant.id_number",
                "申请人身份证号码",
                DefectKind::FieldRequired,
                "请填写申请人身份证号码".into(),
            ));
        }
        Some(s) => {
            if let Err(e) = IdNumber::parse(s) {
                defects.push(form::field_defect(
                    "applicant.id_number",
                    "申请人身份证号码",
                    DefectKind::FieldInvalid,
                    e.to_string(),
                ));
            }
        }
        None => {}
    }
    if let Some(phone) = app.applicant.phone.as_deref() {
        if let Err(e) = Phone::parse(phone) {
            defects.push(form::field_defect(
                "applicant.phone",
                "联系电话",
                DefectKind::FieldInvalid,
                e.to_string(),
            ));
        }
    }

    // Form fields: types first, so scripts see whether the form is sound.
    let mut field_defects = form::check_types(&spec.form, &app.fields);
    let lenient = !field_defects.is_empty() || !defects.is_empty();
    let mut ev = Evaluator {
        catalog,
        m,
        app,
        ctx,
        place: &place,
        presented: &presented,
        scope: None,
        lenient,
        warnings: Vec::new(),
    };
    form::check_scripts(&mut ev, m, app, &mut field_defects)?;
    defects.extend(field_defects);

    // Refusal rules: all of them, none short-circuits.
    for (rule, script) in spec.refusals.iter().zip(&m.scripts.refusals) {
        if ev.condition(script, false)? {
            refusals.push(Refusal {
                rule: rule.id.clone(),
                kind: rule.kind,
                reason: rule.reason.clone(),
                basis: rule.basis.clone(),
                competent_agency: rule.competent_agency.clone(),
            });
        }
    }
    // Corrections the applicant can make on the spot.
    for (rule, script) in spec.corrections.iter().zip(&m.scripts.corrections) {
        if ev.condition(script, false)? {
            let (id, name) = match &rule.field {
                Some(f) => (
                    f.clone(),
                    spec.form
                        .iter()
                        .find(|x| &x.id == f)
                        .map_or_else(|| f.clone(), |x| x.label.clone()),
                ),
                None => (rule.id.clone(), "申请表".to_string()),
            };
            defects.push(Defect {
                target: DefectTarget::Field,
                id,
                name,
                kind: DefectKind::Correction,
                reason: rule.message.clone(),
                basis: rule.basis.clone(),
                obtain_from: None,
            });
        }
    }

    // Materials.
    let mut materials = Vec::new();
    let mut deferrable_missing: Vec<usize> = Vec::new();
    for (i, mat) in spec.materials.iter().enumerate() {
        let required = match &m.scripts.materials[i].when {
            Some(s) => ev.condition(s, true)?,
            None => true,
        };
        if !required {
            continue;
        }
        let obtain = obtain_from(catalog, mat, place.township);
        let before = defects.len();
        let status = match presented.get(mat.id.as_str()) {
            Some(p) => {
                check_material(&mut ev, m, i, p, ctx.today, &obtain, &mut defects)?;
                if defects.len() > before {
                    MaterialStatus::Defective
                } else {
                    MaterialStatus::Provided
                }
            }
            None => match mat.necessity {
                Necessity::Optional => MaterialStatus::NotProvided,
                Necessity::Deferrable if app.commitment_signed => {
                    deferrable_missing.push(i);
                    MaterialStatus::Deferred
                }
                necessity => {
                    let hint = if necessity == Necessity::Deferrable {
                        "；本材料可容缺后补，申请人签署容缺受理承诺书后可先行受理"
                    } else {
                        ""
                    };
                    defects.push(Defect {
                        target: DefectTarget::Material,
                        id: mat.id.clone(),
                        name: mat.name.clone(),
                        kind: DefectKind::Missing,
                        reason: format!(
                            "缺少“{}”（{}{}份）{}",
                            mat.name,
                            mat.form.label(),
                            mat.copies,
                            hint
                        ),
                        basis: mat.basis.clone(),
                        obtain_from: Some(obtain.clone()),
                    });
                    MaterialStatus::Missing
                }
            },
        };
        materials.push(RequiredMaterial {
            id: mat.id.clone(),
            name: mat.name.clone(),
            form: mat.form,
            copies: mat.copies,
            medium: mat.medium,
            necessity: mat.necessity,
            obtain_from: obtain,
            basis: mat.basis.clone(),
            status,
        });
    }

    let outcome = if !refusals.is_empty() {
        Outcome::Refused
    } else if !defects.is_empty() {
        Outcome::SupplementNeeded
    } else if !deferrable_missing.is_empty() {
        Outcome::AcceptedDeferred
    } else if spec.handling.kind == HandlingKind::Immediate {
        Outcome::AcceptedImmediate
    } else {
        Outcome::AcceptedPromised
    };

    // An unresolvable decider is a catalog problem only if the case would go ahead.
    let mut decider = match decider {
        Ok(d) => d,
        Err(e) if outcome.is_accepted() => return Err(e),
        Err(_) => catalog.org.center_unit(place.township),
    };

    let mut deferred = Vec::new();
    let mut route = None;
    let mut due_date = None;
    let mut statutory_due = None;
    if outcome.is_accepted() {
        for i in deferrable_missing {
            let mat = &spec.materials[i];
            deferred.push(DeferredMaterial {
                id: mat.id.clone(),
                name: mat.name.clone(),
                supply_by: due(catalog, &eval_ctx, ctx.today, mat.defer_days.unwrap_or(5)),
            });
        }
        let immediate = spec.handling.kind == HandlingKind::Immediate;
        let promised = if immediate {
            0
        } else {
            spec.handling.promised_days
        };
        due_date = Some(due(catalog, &eval_ctx, ctx.today, promised));
        statutory_due = Some(due(
            catalog,
            &eval_ctx,
            ctx.today,
            if immediate {
                0
            } else {
                spec.handling.statutory_days
            },
        ));
        if !immediate {
            let plan = plan_route(&mut ev, m, &place, decider_unit, &decider, &eval_ctx, ctx)?;
            // Where the route sends the decision elsewhere (e.g. a larger amount decided by the
            // county), the unit of its last deciding step is the case's decider.
            if let Some(step) = plan.steps.iter().rev().find(|s| s.role == StepRole::Decide) {
                decider = step.unit.clone();
            }
            route = Some(plan);
        }
        for d in due_date
            .iter()
            .chain(statutory_due.iter())
            .chain(deferred.iter().map(|d| &d.supply_by))
        {
            if d.beyond_coverage {
                let (_, until) = catalog.calendar.coverage();
                warnings.push(format!(
                    "期限（{}个工作日）超出已发布的工作日历（截至{}），无法精确计算，请人工核定 / the deadline runs beyond the published calendar",
                    d.working_days, until
                ));
                break;
            }
        }
    }
    warnings.extend(ev.warnings);

    Ok(Assessment {
        matter_code: spec.code.clone(),
        matter_name: spec.name.clone(),
        assessed_on: ctx.today,
        outcome,
        accepting_level: place.level,
        refusals,
        defects,
        deferred,
        materials,
        decider,
        route,
        due: due_date,
        statutory_due,
        fees: spec.fees.clone(),
        warnings,
    })
}

fn plan_route(
    ev: &mut Evaluator,
    m: &CompiledMatter,
    place: &Place,
    decider_ref: &UnitRef,
    decider: &UnitAssignment,
    eval_ctx: &EvalContext,
    ctx: &IntakeContext,
) -> Result<RoutePlan, DecideError> {
    let catalog = ev.catalog;
    let spec = &m.spec;
    let mut chosen = None;
    for (i, r) in spec.routes.iter().enumerate() {
        if r.decide_level.is_some_and(|l| l != decider_ref.level) {
            continue;
        }
        let matches = match &m.scripts.routes[i] {
            Some(s) => ev.condition(s, false)?,
            None => true,
        };
        if matches {
            chosen = Some(r);
            break;
        }
    }
    let r = chosen.ok_or_else(|| DecideError::NoRoute {
        matter: spec.code.clone(),
    })?;
    let accepting = catalog.org.center_unit(place.township);
    let mut steps = Vec::new();
    let mut group = 0u32;
    let mut label: Option<&str> = None;
    let mut group_start = ctx.today;
    let mut group_end: Option<chrono::NaiveDate> = Some(ctx.today);
    let mut beyond = false;
    for (k, s) in r.steps.iter().enumerate() {
        let same_group = k > 0 && s.parallel.is_some() && s.parallel.as_deref() == label;
        if !same_group {
            if k > 0 {
                group += 1;
            }
            match group_end {
                Some(d) => group_start = d,
                None => beyond = true,
            }
        }
        label = s.parallel.as_deref();
        let unit = match &s.unit {
            StepUnit::Role(UnitRole::Accepting) => accepting.clone(),
            StepUnit::Role(UnitRole::Deciding) => decider.clone(),
            StepUnit::Unit(u) => catalog
                .org
                .resolve(u.level, &u.department, place.township)
                .ok_or_else(|| DecideError::Unresolvable {
                    matter: spec.code.clone(),
                    what: format!("步骤 {} 的办理单位 / the unit of step {}", s.id, s.id),
                })?,
        };
        let step_due = if beyond {
            DueDate {
                working_days: s.days,
                date: None,
                beyond_coverage: true,
            }
        } else {
            due(catalog, eval_ctx, group_start, s.days)
        };
        group_end = if same_group {
            match (group_end, step_due.date) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            }
        } else {
            step_due.date
        };
        steps.push(PlannedStep {
            id: s.id.clone(),
            name: s.name.clone(),
            role: s.role,
            unit,
            group,
            days: s.days,
            due: step_due,
            allow_countersign: s.allow_countersign,
            timeout: s.timeout.unwrap_or(spec.handling.timeout),
            refusal_decides: s.refusal_decides,
        });
    }
    // 上报件: a step above the accepting center's own level (a village agent's center is its township).
    let report_up = steps.iter().any(|s| s.unit.level > accepting.level);
    let mut sizes: BTreeMap<u32, usize> = BTreeMap::new();
    for s in &steps {
        *sizes.entry(s.group).or_default() += 1;
    }
    Ok(RoutePlan {
        name: r.name.clone(),
        report_up,
        joint: sizes.values().any(|n| *n > 1),
        steps,
    })
}

/// Assess an application for a bundle (一件事一次办): every matter, materials shared across
/// matters asked for once.
pub fn assess_bundle(
    catalog: &Catalog,
    code: &str,
    app: &Application,
    ctx: &IntakeContext,
) -> Result<BundleAssessment, DecideError> {
    let bundle = catalog
        .bundles
        .get(code)
        .ok_or_else(|| DecideError::UnknownBundle(code.to_string()))?;
    let mut matters = Vec::new();
    let mut all_fields: BTreeSet<&str> = BTreeSet::new();
    let mut all_materials: BTreeSet<&str> = BTreeSet::new();
    for mc in &bundle.matters {
        let m = catalog
            .matter(mc)
            .ok_or_else(|| DecideError::UnknownMatter(mc.clone()))?;
        all_fields.extend(m.spec.form.iter().map(|f| f.id.as_str()));
        all_materials.extend(m.spec.materials.iter().map(|x| x.id.as_str()));
        matters.push(m);
    }
    let unknown: Vec<String> = app
        .fields
        .keys()
        .filter(|k| !all_fields.contains(k.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(DecideError::UnknownFields {
            matter: code.to_string(),
            fields: unknown,
        });
    }
    let unknown: Vec<String> = app
        .materials
        .iter()
        .filter(|p| !all_materials.contains(p.id.as_str()))
        .map(|p| p.id.clone())
        .collect();
    if !unknown.is_empty() {
        return Err(DecideError::UnknownMaterials {
            matter: code.to_string(),
            materials: unknown,
        });
    }

    let mut assessments = Vec::new();
    for m in matters {
        let own_fields: HashSet<&str> = m.spec.form.iter().map(|f| f.id.as_str()).collect();
        let own_materials: HashSet<&str> = m.spec.materials.iter().map(|x| x.id.as_str()).collect();
        let part = Application {
            applicant: app.applicant.clone(),
            fields: app
                .fields
                .iter()
                .filter(|(k, _)| own_fields.contains(k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            materials: app
                .materials
                .iter()
                .filter(|p| own_materials.contains(p.id.as_str()))
                .cloned()
                .collect(),
            commitment_signed: app.commitment_signed,
        };
        assessments.push(assess_matter(catalog, m, &part, ctx)?);
    }

    let mut defects: Vec<Defect> = Vec::new();
    // A material shared by several matters (same id and name) is asked for once.
    let mut seen: HashSet<(DefectTarget, String, String, DefectKind)> = HashSet::new();
    let mut refusals = Vec::new();
    let mut warnings = Vec::new();
    for a in &assessments {
        for d in &a.defects {
            if seen.insert((d.target, d.id.clone(), d.name.clone(), d.kind)) {
                defects.push(d.clone());
            }
        }
        refusals.extend(a.refusals.iter().cloned());
        for w in &a.warnings {
            if !warnings.contains(w) {
                warnings.push(w.clone());
            }
        }
    }
    let outcomes: Vec<Outcome> = assessments.iter().map(|a| a.outcome).collect();
    let outcome = if outcomes.contains(&Outcome::Refused) {
        Outcome::Refused
    } else if outcomes.contains(&Outcome::SupplementNeeded) {
        Outcome::SupplementNeeded
    } else if outcomes.contains(&Outcome::AcceptedDeferred) {
        Outcome::AcceptedDeferred
    } else if outcomes.iter().all(|o| *o == Outcome::AcceptedImmediate) {
        Outcome::AcceptedImmediate
    } else {
        Outcome::AcceptedPromised
    };
    let due = if outcome.is_accepted() {
        let dues: Vec<DueDate> = assessments.iter().filter_map(|a| a.due).collect();
        dues.iter()
            .copied()
            .find(|d| d.beyond_coverage)
            .or_else(|| {
                dues.iter()
                    .copied()
                    .max_by_key(|d| (d.date, d.working_days))
            })
    } else {
        None
    };
    Ok(BundleAssessment {
        bundle_code: bundle.code.clone(),
        bundle_name: bundle.name.clone(),
        assessed_on: ctx.today,
        outcome,
        matters: assessments,
        defects,
        refusals,
        due,
        warnings,
    })
}
