//! `yichuang rules diff OLD NEW`: what changed between two catalog versions, per matter, in
//! words policy staff read — materials, conditions, limits, levels and routes.

use std::collections::BTreeSet;

use crate::catalog::Catalog;
use crate::domain::matter::{
    MaterialSpec, Matter, RouteSpec, Standard, StandardKeyword, StepUnit, UnitRef, UnitRole,
};

fn unit(u: &UnitRef) -> String {
    format!("{} {}", u.level.label(), u.department)
}

fn step_unit(u: &StepUnit) -> String {
    match u {
        StepUnit::Role(UnitRole::Accepting) => "受理中心".into(),
        StepUnit::Role(UnitRole::Deciding) => "决定单位".into(),
        StepUnit::Unit(u) => unit(u),
    }
}

fn route_words(r: &RouteSpec) -> String {
    let steps: Vec<String> = r
        .steps
        .iter()
        .map(|s| {
            let par = s
                .parallel
                .as_deref()
                .map(|p| format!("，并联{p}"))
                .unwrap_or_default();
            format!("{}（{}，{}日{par}）", s.name, step_unit(&s.unit), s.days)
        })
        .collect();
    let when = r
        .when
        .as_deref()
        .map(|w| format!(" 条件 `{w}`"))
        .unwrap_or_default();
    format!("{}{when}: {}", r.name, steps.join(" → "))
}

fn material_words(m: &MaterialSpec) -> String {
    let mut s = format!(
        "{}（{}{}份，{}",
        m.name,
        m.form.label(),
        m.copies,
        m.necessity.label()
    );
    if let Some(w) = &m.when {
        s.push_str(&format!("，仅当 `{w}`"));
    }
    if let Some(u) = &m.issued_by {
        s.push_str(&format!("，由{}出具", unit(u)));
    }
    for st in &m.standards {
        s.push_str(&match st {
            Standard::Keyword(StandardKeyword::NotExpired) => "，须在有效期内".to_string(),
            Standard::Keyword(StandardKeyword::Signed) => "，须签名".to_string(),
            Standard::Keyword(StandardKeyword::Sealed) => "，须盖章".to_string(),
            Standard::IssuedWithinDays { issued_within_days } => {
                format!("，须{issued_within_days}日内出具")
            }
            Standard::Check { check } => format!("，须满足 `{}`", check.rule),
        });
    }
    s.push('）');
    s
}

fn changed<T: PartialEq + ?Sized>(
    out: &mut Vec<String>,
    what: &str,
    old: &T,
    new: &T,
    show: impl Fn(&T) -> String,
) {
    if old != new {
        out.push(format!("{what}：{} → {}", show(old), show(new)));
    }
}

/// The differences of one matter present in both versions.
pub fn matter_changes(old: &Matter, new: &Matter) -> Vec<String> {
    let mut out = Vec::new();
    changed(&mut out, "名称", &old.name, &new.name, |s| s.clone());
    changed(
        &mut out,
        "服务对象",
        &old.subjects,
        &new.subjects,
        |v| v.iter().map(|s| s.label()).collect::<Vec<_>>().join("、"),
    );
    changed(
        &mut out,
        "受理层级",
        &old.jurisdiction.accept,
        &new.jurisdiction.accept,
        |v| v.iter().map(|l| l.label()).collect::<Vec<_>>().join("、"),
    );
    changed(
        &mut out,
        "决定单位",
        &old.jurisdiction.decide,
        &new.jurisdiction.decide,
        unit,
    );
    let dev = |m: &Matter| -> Vec<String> {
        m.jurisdiction
            .devolved
            .iter()
            .map(|d| format!("{} 由{}决定", d.townships.join("、"), unit(&d.decide)))
            .collect()
    };
    changed(&mut out, "下放", &dev(old), &dev(new), |v| {
        if v.is_empty() {
            "无".into()
        } else {
            v.join("；")
        }
    });
    let h = (&old.handling, &new.handling);
    changed(
        &mut out,
        "办件类型",
        &format!("{:?}", h.0.kind),
        &format!("{:?}", h.1.kind),
        |s| {
            if s == "Immediate" {
                "即办件".into()
            } else {
                "承诺件".into()
            }
        },
    );
    changed(
        &mut out,
        "法定时限（工作日）",
        &h.0.statutory_days,
        &h.1.statutory_days,
        |d| d.to_string(),
    );
    changed(
        &mut out,
        "承诺时限（工作日）",
        &h.0.promised_days,
        &h.1.promised_days,
        |d| d.to_string(),
    );
    changed(
        &mut out,
        "延长时限（工作日）",
        &h.0.extension_days,
        &h.1.extension_days,
        |d| d.to_string(),
    );
    changed(&mut out, "超时处理", &h.0.timeout, &h.1.timeout, |t| {
        format!("{t:?}")
    });

    // Materials by id.
    let ids = |m: &Matter| {
        m.materials
            .iter()
            .map(|x| x.id.clone())
            .collect::<BTreeSet<_>>()
    };
    let (oi, ni) = (ids(old), ids(new));
    for id in oi.difference(&ni) {
        if let Some(m) = old.materials.iter().find(|x| &x.id == id) {
            out.push(format!("删除材料：{}", material_words(m)));
        }
    }
    for id in ni.difference(&oi) {
        if let Some(m) = new.materials.iter().find(|x| &x.id == id) {
            out.push(format!("新增材料：{}", material_words(m)));
        }
    }
    for id in oi.intersection(&ni) {
        let (Some(a), Some(b)) = (
            old.materials.iter().find(|x| &x.id == id),
            new.materials.iter().find(|x| &x.id == id),
        ) else {
            continue;
        };
        let (wa, wb) = (material_words(a), material_words(b));
        if wa != wb || a.basis != b.basis {
            out.push(format!("材料变更：{wa} → {wb}"));
        }
    }

    // Form fields by id.
    let fields = |m: &Matter| m.form.iter().map(|f| f.id.clone()).collect::<BTreeSet<_>>();
    let (of, nf) = (fields(old), fields(new));
    for f in of.difference(&nf) {
        out.push(format!("删除表单字段：{f}"));
    }
    for f in nf.difference(&of) {
        out.push(format!("新增表单字段：{f}"));
    }
    for f in of.intersection(&nf) {
        let a = old
            .form
            .iter()
            .find(|x| &x.id == f)
            .map(|x| serde_json::to_string(x).unwrap_or_default());
        let b = new
            .form
            .iter()
            .find(|x| &x.id == f)
            .map(|x| serde_json::to_string(x).unwrap_or_default());
        if a != b {
            out.push(format!("表单字段变更：{f}"));
        }
    }

    // Refusal conditions by id.
    for r in &old.refusals {
        match new.refusals.iter().find(|x| x.id == r.id) {
            None => out.push(format!(
                "删除不予受理条件：{}（`{}`）",
                r.reason, r.condition
            )),
            Some(n) if n.condition != r.condition || n.reason != r.reason || n.basis != r.basis => {
                out.push(format!(
                    "不予受理条件变更：{} `{}` → {} `{}`",
                    r.reason, r.condition, n.reason, n.condition
                ))
            }
            Some(_) => {}
        }
    }
    for n in &new.refusals {
        if !old.refusals.iter().any(|x| x.id == n.id) {
            out.push(format!(
                "新增不予受理条件：{}（`{}`，依据{}）",
                n.reason, n.condition, n.basis
            ));
        }
    }
    let corrections = |m: &Matter| {
        m.corrections
            .iter()
            .map(|c| (c.id.clone(), c.condition.clone()))
            .collect::<Vec<_>>()
    };
    changed(
        &mut out,
        "当场更正条件",
        &corrections(old),
        &corrections(new),
        |v| {
            v.iter()
                .map(|(id, c)| format!("{id} `{c}`"))
                .collect::<Vec<_>>()
                .join("；")
        },
    );

    // Routes.
    let routes = |m: &Matter| m.routes.iter().map(route_words).collect::<Vec<_>>();
    let (or, nr) = (routes(old), routes(new));
    if or != nr {
        out.push(format!("办理路线：{} → {}", or.join("；"), nr.join("；")));
    }
    changed(&mut out, "收费", &old.fees, &new.fees, |f| {
        if f.is_empty() {
            "不收费".into()
        } else {
            f.iter()
                .map(|x| format!("{} {}", x.item, x.standard))
                .collect::<Vec<_>>()
                .join("、")
        }
    });
    changed(
        &mut out,
        "审批结果",
        &old.result.name,
        &new.result.name,
        |s| s.clone(),
    );
    out
}

/// The whole report as Markdown.
pub fn diff_markdown(old: &Catalog, new: &Catalog) -> String {
    let mut o = format!(
        "# 事项目录变更 {} ({}) → {} ({})\n\n",
        old.manifest.version,
        old.short_hash(),
        new.manifest.version,
        new.short_hash()
    );
    let mut any = false;
    for (code, m) in &new.matters {
        match old.matters.get(code) {
            None => {
                any = true;
                o.push_str(&format!("## 新增事项 {code} {}\n\n", m.spec.name));
            }
            Some(prev) => {
                let changes = matter_changes(&prev.spec, &m.spec);
                if !changes.is_empty() {
                    any = true;
                    o.push_str(&format!("## {code} {}\n\n", m.spec.name));
                    for c in changes {
                        o.push_str(&format!("- {c}\n"));
                    }
                    o.push('\n');
                }
            }
        }
    }
    for (code, m) in &old.matters {
        if !new.matters.contains_key(code) {
            any = true;
            o.push_str(&format!("## 删除事项 {code} {}\n\n", m.spec.name));
        }
    }
    let calendars = |c: &Catalog| c.calendar.coverage();
    if calendars(old) != calendars(new) {
        any = true;
        let (a, b) = (calendars(old), calendars(new));
        o.push_str(&format!(
            "## 工作日历\n\n- 覆盖范围：{}..{} → {}..{}\n\n",
            a.0, a.1, b.0, b.1
        ));
    }
    if !any {
        o.push_str("两个版本的事项规则没有差别。\n");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dibao() -> Matter {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/matters/mz-dibao.yaml"),
        )
        .unwrap();
        serde_yaml::from_str(&text).unwrap()
    }

    #[test]
    fn changes_are_described_in_words() {
        let old = dibao();
        assert!(matter_changes(&old, &old).is_empty());
        let mut new = old.clone();
        new.handling.promised_days = 15;
        new.materials.retain(|m| m.id != "authorization");
        new.refusals[0].condition =
            "fields.owns_vehicle == true && fields.monthly_income > 0".into();
        new.jurisdiction.devolved.clear();
        let c = matter_changes(&old, &new);
        assert!(
            c.contains(&"承诺时限（工作日）：20 → 15".to_string()),
            "{c:?}"
        );
        assert!(
            c.iter()
                .any(|x| x.starts_with("删除材料：家庭经济状况核对授权书")),
            "{c:?}"
        );
        assert!(c.iter().any(|x| x.starts_with("不予受理条件变更")), "{c:?}");
        assert!(c.iter().any(|x| x.starts_with("下放：dongguan")), "{c:?}");
        assert_eq!(c.len(), 4, "{c:?}");
    }
}
