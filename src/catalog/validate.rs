//! Cross-reference checks of a parsed catalog: units, townships, ids, limits, routes and examples.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;

use super::locate::Locator;
use super::{CatalogSources, CompiledMatter, Findings};
use crate::domain::calendar::Calendar;
use crate::domain::matter::{FieldSpec, FieldType, HandlingKind, Level, Matter, StepUnit, UnitRef};
use crate::domain::org::{
    Bundle, Contact, Organisation, Remedies, LAWSUIT_MONTHS_MIN, REVIEW_DAYS_MIN,
};

/// Built-in refusal rule ids (see `decide`).
pub const BUILTIN_REFUSALS: &[&str] = &["subject_not_served", "not_accepted_at_level"];

struct Ctx<'a> {
    sources: &'a CatalogSources,
    org: &'a Organisation,
    locators: HashMap<String, Locator>,
    findings: &'a mut Findings,
}

impl Ctx<'_> {
    fn pos(&mut self, file: &str, path: &str) -> (usize, usize) {
        let sources = self.sources;
        // A top-level key is found by scanning lines; the full index is built only when needed.
        if !path.contains(['.', '[']) {
            if let Some(text) = sources.files.get(file) {
                let key = format!("{path}:");
                if let Some(i) = text.lines().position(|l| l.starts_with(&key)) {
                    return (i + 1, 1);
                }
            }
        }
        self.locators
            .entry(file.to_string())
            .or_insert_with(|| Locator::new(sources.files.get(file).map_or("", String::as_str)))
            .position(path)
    }
    fn error(&mut self, file: &str, path: &str, matter: &str, msg: String) {
        let at = self.pos(file, path);
        self.findings.error(file, at, Some(matter), msg);
    }
    fn warning(&mut self, file: &str, path: &str, matter: &str, msg: String) {
        let at = self.pos(file, path);
        self.findings.warning(file, at, Some(matter), msg);
    }

    /// A unit reference must name a department that exists at its level.
    fn check_unit(&mut self, file: &str, path: &str, code: &str, unit: &UnitRef) {
        if !self.org.has_department(unit.level, &unit.department) {
            self.error(
                file,
                &format!("{path}.department"),
                code,
                format!(
                    "未知部门 '{}'（{}）/ unknown department '{}' at level {} (see org.yaml)",
                    unit.department,
                    unit.level.label(),
                    unit.department,
                    unit.level.as_str()
                ),
            );
        }
    }
}

pub(crate) fn validate(
    sources: &CatalogSources,
    org: &Organisation,
    _calendar: &Calendar,
    matters: &IndexMap<String, CompiledMatter>,
    bundles: &IndexMap<String, (String, Bundle)>,
    findings: &mut Findings,
) {
    let mut ctx = Ctx {
        sources,
        org,
        locators: HashMap::new(),
        findings,
    };
    validate_org(&mut ctx);
    for (code, (file, b)) in bundles {
        if matters.contains_key(code) {
            ctx.error(
                file,
                "code",
                code,
                "“一件事”编码与事项编码重复 / bundle code equals a matter code".into(),
            );
        }
        if b.matters.len() < 2 {
            ctx.error(
                file,
                "matters",
                code,
                "“一件事”至少包含两个事项 / a bundle needs at least two matters".into(),
            );
        }
        // A material id shared by the bundle's matters is one document, asked for once: the
        // matters must agree on what it is.
        let mut shared: HashMap<&str, (&str, &str)> = HashMap::new();
        for mc in &b.matters {
            let Some(m) = matters.get(mc) else { continue };
            for mat in &m.spec.materials {
                match shared.get(mat.id.as_str()) {
                    Some((other, name)) if *name != mat.name => ctx.error(
                        file,
                        "matters",
                        code,
                        format!(
                            "材料 id '{}' 在 {other} 中是“{name}”，在 {mc} 中是“{}”：同一“一件事”中同一 id 必须是同一份材料，请改用不同的 id / material id '{}' names different documents in {other} and {mc}",
                            mat.id, mat.name, mat.id
                        ),
                    ),
                    Some(_) => {}
                    None => {
                        shared.insert(mat.id.as_str(), (mc.as_str(), mat.name.as_str()));
                    }
                }
            }
        }
        for (i, mc) in b.matters.iter().enumerate() {
            if !matters.contains_key(mc) {
                ctx.error(
                    file,
                    &format!("matters[{i}]"),
                    code,
                    format!("未知事项编码 '{mc}' / unknown matter code '{mc}'"),
                );
            }
        }
    }
}

/// Contact details and 救济途径 in `org.yaml`: present where the notices need them, complete,
/// and no shorter than the law's time limits.
fn validate_org(ctx: &mut Ctx) {
    const FILE: &str = "org.yaml";
    let org = ctx.org;
    let mut places: Vec<(String, Option<&Contact>, Option<&Remedies>)> = vec![(
        "county".to_string(),
        org.county.contact.as_ref(),
        org.county.remedies.as_ref(),
    )];
    for (i, d) in org.county.departments.iter().enumerate() {
        places.push((
            format!("county.departments[{i}]"),
            None,
            d.remedies.as_ref(),
        ));
    }
    for (i, t) in org.townships.iter().enumerate() {
        places.push((
            format!("townships[{i}]"),
            t.contact.as_ref(),
            t.remedies.as_ref(),
        ));
        for (j, d) in t.departments.iter().enumerate() {
            places.push((
                format!("townships[{i}].departments[{j}]"),
                None,
                d.remedies.as_ref(),
            ));
        }
    }
    for (path, contact, remedies) in places {
        if let Some(c) = contact {
            for (key, value) in [
                ("address", &c.address),
                ("telephone", &c.telephone),
                ("hours", &c.hours),
            ] {
                if value.trim().is_empty() {
                    let at = ctx.pos(FILE, &format!("{path}.contact.{key}"));
                    ctx.findings.error(
                        FILE,
                        at,
                        None,
                        format!("联系方式的 {key} 不能为空 / contact {key} is empty"),
                    );
                }
            }
        }
        if let Some(r) = remedies {
            for (key, value) in [("review_body", &r.review_body), ("court", &r.court)] {
                if value.trim().is_empty() {
                    let at = ctx.pos(FILE, &format!("{path}.remedies.{key}"));
                    ctx.findings.error(
                        FILE,
                        at,
                        None,
                        format!("救济途径的 {key} 不能为空 / remedies {key} is empty"),
                    );
                }
            }
            if r.review_days < REVIEW_DAYS_MIN {
                let at = ctx.pos(FILE, &format!("{path}.remedies.review_days"));
                ctx.findings.error(
                    FILE,
                    at,
                    None,
                    format!(
                        "行政复议期限 {} 日短于法定的 {REVIEW_DAYS_MIN} 日（行政复议法第二十条）/ review_days {} is below the statutory {REVIEW_DAYS_MIN}",
                        r.review_days, r.review_days
                    ),
                );
            }
            if r.lawsuit_months < LAWSUIT_MONTHS_MIN {
                let at = ctx.pos(FILE, &format!("{path}.remedies.lawsuit_months"));
                ctx.findings.error(
                    FILE,
                    at,
                    None,
                    format!(
                        "行政诉讼期限 {} 个月短于法定的 {LAWSUIT_MONTHS_MIN} 个月（行政诉讼法第四十六条）/ lawsuit_months {} is below the statutory {LAWSUIT_MONTHS_MIN}",
                        r.lawsuit_months, r.lawsuit_months
                    ),
                );
            }
        }
    }
    if org.county.remedies.is_none() {
        let at = ctx.pos(FILE, "county");
        ctx.findings.warning(
            FILE,
            at,
            None,
            "county 没有 remedies：不予受理决定书和不予决定书将不写明行政复议机关和人民法院 / no county remedies: refusals will not name the review body and the court".into(),
        );
    }
    if org.county.contact.is_none() {
        let at = ctx.pos(FILE, "county");
        ctx.findings.warning(
            FILE,
            at,
            None,
            "county 没有 contact：文书和办事指南将不印办公地址和电话 / no county contact: notices and guides will show no address or telephone".into(),
        );
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn check_fields(ctx: &mut Ctx, file: &str, code: &str, base: &str, fields: &[FieldSpec]) {
    let mut seen = HashSet::new();
    for (i, f) in fields.iter().enumerate() {
        let path = format!("{base}[{i}]");
        if !valid_id(&f.id) {
            ctx.error(
                file,
                &format!("{path}.id"),
                code,
                format!(
                    "字段 id '{}' 只能包含小写字母、数字和下划线 / field ids use a-z, 0-9 and _",
                    f.id
                ),
            );
        }
        if !seen.insert(f.id.as_str()) {
            ctx.error(
                file,
                &format!("{path}.id"),
                code,
                format!("字段 id '{}' 重复 / duplicate field id", f.id),
            );
        }
        match f.field_type {
            FieldType::Enum if f.options.is_empty() => ctx.error(
                file,
                &path,
                code,
                format!(
                    "选项字段 '{}' 缺少 options / enum field needs options",
                    f.id
                ),
            ),
            FieldType::List => match &f.items {
                None => ctx.error(
                    file,
                    &path,
                    code,
                    format!("列表字段 '{}' 缺少 items / list field needs items", f.id),
                ),
                Some(item) => check_fields(
                    ctx,
                    file,
                    code,
                    &format!("{path}.items.fields"),
                    &item.fields,
                ),
            },
            FieldType::Record => {
                if f.fields.is_empty() {
                    ctx.error(
                        file,
                        &path,
                        code,
                        format!(
                            "记录字段 '{}' 缺少 fields / record field needs fields",
                            f.id
                        ),
                    );
                }
                check_fields(ctx, file, code, &format!("{path}.fields"), &f.fields);
            }
            _ => {}
        }
        if let (Some(min), Some(max)) = (f.min, f.max) {
            if min > max {
                ctx.error(
                    file,
                    &format!("{path}.min"),
                    code,
                    format!("min {min} 大于 max {max} / min is above max"),
                );
            }
        }
    }
}

/// Names used as `fields.<name>` in a script.
pub(crate) fn referenced_fields(script: &str) -> Vec<&str> {
    field_usage(script).0
}

/// The `fields.<name>` references of a script, and whether it also uses `fields` in another way
/// (e.g. `fields["x"]` or iterating it), which needs every field.
pub(crate) fn field_usage(script: &str) -> (Vec<&str>, bool) {
    let mut out = Vec::new();
    let mut other = false;
    let mut rest = script;
    while let Some(i) = rest.find("fields") {
        let before_ok = i == 0
            || !rest[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
        let tail = &rest[i + 6..];
        rest = tail;
        if !before_ok || tail.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let after = tail.trim_start();
        let name = after.strip_prefix('.').map(str::trim_start).map(|name| {
            let end = name
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(name.len());
            &name[..end]
        });
        match name {
            Some(n) if !n.is_empty() => out.push(n),
            _ => other = true,
        }
    }
    (out, other)
}

/// Every script of a matter with its YAML path.
pub(crate) fn scripts_of(m: &Matter) -> Vec<(String, &str)> {
    fn walk<'a>(out: &mut Vec<(String, &'a str)>, p: &str, f: &'a FieldSpec) {
        if let Some(s) = &f.required_if {
            out.push((format!("{p}.required_if"), s));
        }
        for (j, c) in f.checks.iter().enumerate() {
            out.push((format!("{p}.checks[{j}].rule"), &c.rule));
        }
        if let Some(item) = &f.items {
            walk(out, &format!("{p}.items"), item);
        }
        for (i, sub) in f.fields.iter().enumerate() {
            walk(out, &format!("{p}.fields[{i}]"), sub);
        }
    }
    let mut out: Vec<(String, &str)> = Vec::new();
    for (i, f) in m.form.iter().enumerate() {
        walk(&mut out, &format!("form[{i}]"), f);
    }
    for (i, mat) in m.materials.iter().enumerate() {
        if let Some(s) = &mat.when {
            out.push((format!("materials[{i}].when"), s));
        }
        for (j, st) in mat.standards.iter().enumerate() {
            if let crate::domain::matter::Standard::Check { check } = st {
                out.push((
                    format!("materials[{i}].standards[{j}].check.rule"),
                    &check.rule,
                ));
            }
        }
    }
    for (i, r) in m.refusals.iter().enumerate() {
        out.push((format!("refusals[{i}].if"), &r.condition));
    }
    for (i, r) in m.corrections.iter().enumerate() {
        out.push((format!("corrections[{i}].if"), &r.condition));
    }
    for (i, r) in m.routes.iter().enumerate() {
        if let Some(s) = &r.when {
            out.push((format!("routes[{i}].when"), s));
        }
    }
    out
}

/// Checks of one matter on its own (run on the compile threads).
pub(crate) fn validate_matter(
    sources: &CatalogSources,
    org: &Organisation,
    file: &str,
    m: &Matter,
    findings: &mut Findings,
) {
    let mut ctx = Ctx {
        sources,
        org,
        locators: HashMap::new(),
        findings,
    };
    check_matter(&mut ctx, file, m);
}

fn check_matter(ctx: &mut Ctx, file: &str, m: &Matter) {
    let code = m.code.as_str();
    if m.subjects.is_empty() {
        ctx.error(
            file,
            "subjects",
            code,
            "服务对象不能为空 / subjects must not be empty".into(),
        );
    }
    if m.basis.is_empty() {
        ctx.error(
            file,
            "basis",
            code,
            "设定依据不能为空 / basis must not be empty".into(),
        );
    }
    if let Some(pattern) = &m.result.number {
        if let Err(why) = crate::domain::matter::NumberPattern::parse(pattern) {
            ctx.error(
                file,
                "result.number",
                code,
                format!("证照编号格式有误 / result number pattern {pattern:?}: {why}"),
            );
        }
    }
    if let Some(nc) = &m.national_codes {
        let codes = [
            ("national_codes.basic", nc.basic.as_deref(), 12, "基本编码"),
            (
                "national_codes.implementation",
                nc.implementation.as_deref(),
                31,
                "实施编码",
            ),
        ];
        for (path, value, len, what) in codes {
            if let Some(v) = value {
                let ok = v.chars().count() == len && v.chars().all(|c| c.is_ascii_alphanumeric());
                if !ok {
                    ctx.error(
                        file,
                        path,
                        code,
                        format!("{what}应为{len}位字母或数字（GB/T 39554.1）/ must be {len} letters or digits: {v:?}"),
                    );
                }
            }
        }
    }

    // Jurisdiction.
    let j = &m.jurisdiction;
    if j.accept.is_empty() {
        ctx.error(
            file,
            "jurisdiction.accept",
            code,
            "受理层级不能为空 / accept must list at least one level".into(),
        );
    }
    ctx.check_unit(file, "jurisdiction.decide", code, &j.decide);
    if j.decide.level != Level::County && j.accept.contains(&Level::County) {
        ctx.error(
            file,
            "jurisdiction.accept",
            code,
            "由乡镇决定的事项不能在县级中心受理（无法确定乡镇）/ a township decides, so the county center cannot accept it".into(),
        );
    }
    let mut devolved: HashMap<&str, &UnitRef> = HashMap::new();
    for (i, d) in j.devolved.iter().enumerate() {
        let path = format!("jurisdiction.devolved[{i}]");
        ctx.check_unit(file, &format!("{path}.decide"), code, &d.decide);
        for (k, t) in d.townships.iter().enumerate() {
            if ctx.org.township(t).is_none() {
                ctx.error(
                    file,
                    &format!("{path}.townships[{k}]"),
                    code,
                    format!("未知乡镇 '{t}' / unknown township '{t}'"),
                );
            } else if devolved.insert(t.as_str(), &d.decide).is_some() {
                ctx.error(
                    file,
                    &format!("{path}.townships[{k}]"),
                    code,
                    format!("乡镇 '{t}' 重复下放 / township listed twice"),
                );
            }
        }
    }
    let accepts_in_townships = j.accept.iter().any(|l| *l != Level::County);
    if accepts_in_townships {
        let org = ctx.org;
        for t in &org.townships {
            let unit = devolved.get(t.id.as_str()).copied().unwrap_or(&j.decide);
            if unit.level != Level::County
                && org
                    .resolve(unit.level, &unit.department, Some(&t.id))
                    .is_none()
            {
                ctx.error(
                    file,
                    "jurisdiction",
                    code,
                    format!(
                        "{} 没有部门 '{}'，请在 devolved 中为其指定决定单位 / township '{}' has no department '{}': add a devolved entry",
                        t.name, unit.department, t.id, unit.department
                    ),
                );
            }
        }
    }

    // Handling.
    let h = &m.handling;
    if h.statutory_days > 0 && h.promised_days > h.statutory_days {
        ctx.error(
            file,
            "handling.promised_days",
            code,
            format!(
                "承诺时限 {} 个工作日超过法定时限 {} 个工作日 / promised limit above the statutory limit",
                h.promised_days, h.statutory_days
            ),
        );
    } else if h.statutory_days > 0
        && u64::from(h.promised_days) * 10 > u64::from(h.statutory_days) * 7
    {
        ctx.warning(
            file,
            "handling.promised_days",
            code,
            format!(
                "承诺时限 {} 未比法定时限 {} 压缩30%以上 / promised limit is less than 30% below the statutory one",
                h.promised_days, h.statutory_days
            ),
        );
    }

    check_fields(ctx, file, code, "form", &m.form);
    let form_ids: HashSet<&str> = m.form.iter().map(|f| f.id.as_str()).collect();

    // Materials.
    let mut material_ids = HashSet::new();
    for (i, mat) in m.materials.iter().enumerate() {
        if !material_ids.insert(mat.id.as_str()) {
            ctx.error(
                file,
                &format!("materials[{i}].id"),
                code,
                format!("材料 id '{}' 重复 / duplicate material id", mat.id),
            );
        }
        if let Some(u) = &mat.issued_by {
            ctx.check_unit(file, &format!("materials[{i}].issued_by"), code, u);
        }
        if mat.copies == 0 {
            ctx.error(
                file,
                &format!("materials[{i}].copies"),
                code,
                "份数至少为1 / copies must be at least 1".into(),
            );
        }
    }

    // Refusals and corrections.
    let mut rule_ids: HashSet<&str> = BUILTIN_REFUSALS.iter().copied().collect();
    for (i, r) in m.refusals.iter().enumerate() {
        if !rule_ids.insert(r.id.as_str()) {
            ctx.error(
                file,
                &format!("refusals[{i}].id"),
                code,
                format!("规则 id '{}' 重复 / duplicate rule id", r.id),
            );
        }
    }
    for (i, c) in m.corrections.iter().enumerate() {
        if let Some(f) = &c.field {
            if !form_ids.contains(f.as_str()) {
                ctx.error(
                    file,
                    &format!("corrections[{i}].field"),
                    code,
                    format!("未知字段 '{f}' / unknown field '{f}'"),
                );
            }
        }
    }

    // Scripts must name existing fields.
    for (path, script) in scripts_of(m) {
        for name in referenced_fields(script) {
            if !form_ids.contains(name) {
                ctx.error(
                    file,
                    &path,
                    code,
                    format!("脚本引用了不存在的字段 fields.{name} / script uses unknown field fields.{name}"),
                );
            }
        }
    }

    // Routes.
    let mut step_ids: HashSet<&str> = HashSet::new();
    for (i, r) in m.routes.iter().enumerate() {
        let mut ids = HashSet::new();
        let mut closed_groups: HashSet<&str> = HashSet::new();
        let mut current: Option<&str> = None;
        // u64: the days of a route's steps are each a u32 and their sum may not fit one.
        let mut total = 0u64;
        let mut group_max = 0u64;
        for (k, s) in r.steps.iter().enumerate() {
            let path = format!("routes[{i}].steps[{k}]");
            step_ids.insert(s.id.as_str());
            if !ids.insert(s.id.as_str()) {
                ctx.error(
                    file,
                    &format!("{path}.id"),
                    code,
                    format!("步骤 id '{}' 重复 / duplicate step id", s.id),
                );
            }
            if let StepUnit::Unit(u) = &s.unit {
                ctx.check_unit(file, &format!("{path}.unit"), code, u);
            }
            let label = s.parallel.as_deref();
            if label != current {
                if let Some(c) = current {
                    closed_groups.insert(c);
                    total += group_max;
                    group_max = 0;
                }
                if let Some(l) = label {
                    if closed_groups.contains(l) {
                        ctx.error(file, &format!("{path}.parallel"), code, format!("并联组 '{l}' 的步骤必须相邻 / steps of parallel group '{l}' must be consecutive"));
                    }
                }
                current = label;
            }
            if label.is_some() {
                group_max = group_max.max(u64::from(s.days));
            } else {
                total += u64::from(s.days);
            }
        }
        total += group_max;
        if r.steps.is_empty() {
            ctx.error(
                file,
                &format!("routes[{i}].steps"),
                code,
                "路线没有步骤 / a route needs steps".into(),
            );
        }
        if h.kind == HandlingKind::Promised && total > u64::from(h.promised_days) {
            ctx.warning(
                file,
                &format!("routes[{i}]"),
                code,
                format!("路线各步骤合计 {total} 个工作日，超过承诺时限 {} / steps take longer than the promised limit", h.promised_days),
            );
        }
    }
    // A route after an unconditional one for the same decide level can never be chosen.
    for (i, r) in m.routes.iter().enumerate() {
        let shadowed = m.routes[..i].iter().any(|earlier| {
            earlier.when.is_none()
                && (earlier.decide_level.is_none() || earlier.decide_level == r.decide_level)
        });
        if shadowed {
            ctx.warning(
                file,
                &format!("routes[{i}]"),
                code,
                format!("路线“{}”排在一条无条件路线之后，永远不会被使用 / this route follows an unconditional one and is never chosen", r.name),
            );
        }
    }
    if h.kind == HandlingKind::Promised {
        let mut levels: Vec<Level> = vec![j.decide.level];
        levels.extend(j.devolved.iter().map(|d| d.decide.level));
        levels.sort();
        levels.dedup();
        for level in levels {
            let has_fallback = m
                .routes
                .iter()
                .any(|r| r.when.is_none() && r.decide_level.is_none_or(|l| l == level));
            if !has_fallback {
                ctx.error(
                    file,
                    "routes",
                    code,
                    format!("承诺件需要一条无条件路线（决定层级 {}）/ a promised matter needs a route without `when` for decide level {}", level.label(), level.as_str()),
                );
            }
        }
    }

    // Examples.
    if m.examples.is_empty() {
        ctx.warning(
            file,
            "code",
            code,
            "事项没有样例 / the matter has no examples".into(),
        );
    }
    for (i, ex) in m.examples.iter().enumerate() {
        let path = format!("examples[{i}]");
        if let Some(t) = &ex.township {
            if ctx.org.township(t).is_none() {
                ctx.error(
                    file,
                    &format!("{path}.township"),
                    code,
                    format!("样例中的乡镇 '{t}' 不存在 / unknown township '{t}'"),
                );
            }
        }
        if let Some(v) = &ex.village {
            match ctx.org.village(v) {
                None => ctx.error(
                    file,
                    &format!("{path}.village"),
                    code,
                    format!("样例中的村 '{v}' 不存在 / unknown village '{v}'"),
                ),
                Some((t, _)) => {
                    if ex.township.as_deref().is_some_and(|x| x != t.id) {
                        ctx.error(
                            file,
                            &format!("{path}.village"),
                            code,
                            format!("村 '{v}' 不属于乡镇 / village '{v}' is not in that township"),
                        );
                    }
                }
            }
        }
        for name in ex.application.fields.keys() {
            if !form_ids.contains(name.as_str()) {
                ctx.error(
                    file,
                    &format!("{path}.application.fields.{name}"),
                    code,
                    format!("样例使用了不存在的字段 '{name}' / example names field '{name}' that does not exist"),
                );
            }
        }
        for (k, pm) in ex.application.materials.iter().enumerate() {
            if !material_ids.contains(pm.id.as_str()) {
                ctx.error(
                    file,
                    &format!("{path}.application.materials[{k}].id"),
                    code,
                    format!("样例使用了不存在的材料 '{}' / example names material '{}' that does not exist", pm.id, pm.id),
                );
            }
        }
        if let Some(ds) = &ex.expect.defects {
            for d in ds {
                let root = d.split(['.', '[']).next().unwrap_or("");
                let correction = m
                    .corrections
                    .iter()
                    .any(|c| c.id == *d && c.field.is_none());
                if !material_ids.contains(d.as_str())
                    && !form_ids.contains(root)
                    && root != "applicant"
                    && !correction
                {
                    ctx.error(file, &format!("{path}.expect.defects"), code, format!("期望的问题 '{d}' 不是材料或字段 / expected defect '{d}' is no material or field"));
                }
            }
        }
        if let Some(rs) = &ex.expect.refusals {
            for r in rs {
                if !rule_ids.contains(r.as_str()) {
                    ctx.error(
                        file,
                        &format!("{path}.expect.refusals"),
                        code,
                        format!("期望的不予受理规则 '{r}' 不存在 / unknown refusal rule '{r}'"),
                    );
                }
            }
        }
        if let Some(ds) = &ex.expect.deferred {
            for d in ds {
                if !material_ids.contains(d.as_str()) {
                    ctx.error(
                        file,
                        &format!("{path}.expect.deferred"),
                        code,
                        format!("期望的容缺材料 '{d}' 不存在 / unknown material '{d}'"),
                    );
                }
            }
        }
        if let Some(route) = &ex.expect.route {
            for s in route {
                if !step_ids.contains(s.as_str()) {
                    ctx.error(
                        file,
                        &format!("{path}.expect.route"),
                        code,
                        format!("期望的步骤 '{s}' 不存在 / unknown step '{s}'"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::referenced_fields;

    #[test]
    fn finds_field_references() {
        assert_eq!(
            referenced_fields("fields.area > 120 && fields . kind == \"a\" || myfields.x"),
            vec!["area", "kind"]
        );
    }
}
