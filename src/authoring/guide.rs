//! The service guide (办事指南) of a matter as Markdown, with the 六公开: content, legal basis,
//! procedure, materials, time limit and fees.

use std::fmt::Write;

use crate::catalog::{Catalog, CompiledMatter};
use crate::domain::matter::{HandlingKind, Level, Necessity, StepUnit, UnitRole};

fn unit_name(catalog: &Catalog, level: Level, department: &str) -> String {
    catalog
        .org
        .resolve(level, department, None)
        .map(|u| u.name)
        .or_else(|| {
            // A township office: name it for whichever township the applicant is in.
            catalog.org.townships.iter().find_map(|t| {
                t.departments.iter().find(|d| d.id == department).map(|d| {
                    let short = t
                        .name
                        .trim_end_matches("街道")
                        .trim_end_matches(['镇', '乡']);
                    match d.name.strip_prefix(t.name.as_str()) {
                        Some(rest) => format!("所在乡镇（街道）{rest}"),
                        None => d.name.replacen(short, "所在乡镇（街道）", 1),
                    }
                })
            })
        })
        .unwrap_or_else(|| department.to_string())
}

/// The unit a devolved township's decisions go to, named for that township.
fn unit_in(catalog: &Catalog, level: Level, department: &str, township: &str) -> String {
    catalog
        .org
        .resolve(level, department, Some(township))
        .map_or_else(|| unit_name(catalog, level, department), |u| u.name)
}

/// Render the guide. Writing to a `String` cannot fail, so results of `write!` are ignored.
pub fn guide_markdown(catalog: &Catalog, m: &CompiledMatter) -> String {
    let s = &m.spec;
    let mut o = String::new();
    let _ = writeln!(o, "# {}（办事指南）\n", s.name);
    let _ = writeln!(o, "| 项目 | 内容 |\n|---|---|");
    let _ = writeln!(o, "| 事项编码 | {} |", s.code);
    let _ = writeln!(o, "| 事项类型 | {} |", s.matter_type.label());
    let _ = writeln!(
        o,
        "| 服务对象 | {} |",
        s.subjects
            .iter()
            .map(|x| x.label())
            .collect::<Vec<_>>()
            .join("、")
    );
    let _ = writeln!(
        o,
        "| 受理地点 | {} |",
        s.jurisdiction
            .accept
            .iter()
            .map(|l| match l {
                Level::Village => "村（社区）便民服务室（代办）",
                Level::Township => "乡镇（街道）便民服务中心",
                Level::County => "县政务服务中心",
            })
            .collect::<Vec<_>>()
            .join("、")
    );
    let d = &s.jurisdiction.decide;
    let _ = writeln!(
        o,
        "| 实施主体 | {} |",
        unit_name(catalog, d.level, &d.department)
    );
    for dv in &s.jurisdiction.devolved {
        for t in &dv.townships {
            let name = catalog
                .org
                .township(t)
                .map_or(t.as_str(), |x| x.name.as_str());
            let _ = writeln!(
                o,
                "| 下放情况 | {name}：由{}决定 |",
                unit_in(catalog, dv.decide.level, &dv.decide.department, t)
            );
        }
    }
    let _ = writeln!(
        o,
        "| 办件类型 | {} |",
        match s.handling.kind {
            HandlingKind::Immediate => "即办件",
            HandlingKind::Promised => "承诺件",
        }
    );
    let _ = writeln!(o, "| 到办事现场次数 | {} 次 |", s.handling.visits);
    let _ = writeln!(
        o,
        "| 审批结果 | {}（{}） |",
        s.result.name,
        s.result.kind.label()
    );
    let _ = writeln!(
        o,
        "| 送达方式 | {} |",
        s.delivery
            .iter()
            .map(|x| x.label())
            .collect::<Vec<_>>()
            .join("、")
    );

    let _ = writeln!(o, "\n## 一、办理内容与受理条件\n");
    if let Some(desc) = &s.description {
        let _ = writeln!(o, "{desc}\n");
    }
    if !s.refusals.is_empty() {
        let _ = writeln!(o, "有下列情形之一的，不予受理：\n");
        for r in &s.refusals {
            let _ = write!(o, "- {}（{}）", r.reason, r.basis);
            if let Some(a) = &r.competent_agency {
                let _ = write!(o, "，请向{a}申请");
            }
            let _ = writeln!(o);
        }
    }

    let _ = writeln!(o, "\n## 二、设定依据\n");
    for b in &s.basis {
        let _ = writeln!(o, "- {b}");
    }

    let _ = writeln!(o, "\n## 三、办理流程\n");
    if s.routes.is_empty() {
        let _ = writeln!(o, "窗口受理，材料齐全、符合法定形式的，当场办结。");
    }
    for r in &s.routes {
        let _ = writeln!(o, "**{}**\n", r.name);
        let _ = writeln!(o, "1. 受理（一次性告知、受理或不予受理）");
        for (i, st) in r.steps.iter().enumerate() {
            let who = match &st.unit {
                StepUnit::Role(UnitRole::Accepting) => "受理中心".to_string(),
                StepUnit::Role(UnitRole::Deciding) => "决定单位".to_string(),
                StepUnit::Unit(u) => unit_name(catalog, u.level, &u.department),
            };
            let par = st
                .parallel
                .as_deref()
                .map(|p| format!("，并联（{p}）"))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "{}. {}：{}，{} 个工作日{par}",
                i + 2,
                st.name,
                who,
                st.days
            );
        }
        let _ = writeln!(o, "{}. 统一窗口出件\n", r.steps.len() + 2);
    }

    let _ = writeln!(o, "\n## 四、申请材料\n");
    let _ = writeln!(
        o,
        "| 序号 | 材料名称 | 类型 | 份数 | 形式 | 必要性 | 来源渠道 | 适用情形 | 依据 |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|");
    for (i, mat) in s.materials.iter().enumerate() {
        let source = mat.issued_by.as_ref().map_or_else(
            || "申请人自备".to_string(),
            |u| unit_name(catalog, u.level, &u.department),
        );
        let necessity = match mat.necessity {
            Necessity::Deferrable => {
                format!("容缺后补（{}个工作日内）", mat.defer_days.unwrap_or(5))
            }
            n => n.label().to_string(),
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            i + 1,
            mat.name,
            mat.form.label(),
            mat.copies,
            mat.medium.label(),
            necessity,
            source,
            if mat.when.is_some() {
                "特定情形"
            } else {
                "所有申请人"
            },
            mat.basis.as_deref().unwrap_or("")
        );
    }

    let _ = writeln!(o, "\n## 五、办理时限\n");
    let h = &s.handling;
    let _ = writeln!(o, "- 法定办结时限：{} 个工作日", h.statutory_days);
    let _ = writeln!(o, "- 承诺办结时限：{} 个工作日", h.promised_days);
    if !h.special_procedures.is_empty() {
        let _ = writeln!(
            o,
            "- 特别程序（不计入办理时限）：{}",
            h.special_procedures
                .iter()
                .map(|p| p.label())
                .collect::<Vec<_>>()
                .join("、")
        );
    }
    let _ = writeln!(o, "- 期限按工作日计算，不含法定节假日；受理当日不计入。");

    let _ = writeln!(o, "\n## 六、收费标准\n");

    if s.fees.is_empty() {
        let _ = writeln!(o, "不收费。");
    } else {
        let _ = writeln!(
            o,
            "| 收费项目 | 收费标准 | 收费依据 | 减免政策 |\n|---|---|---|---|"
        );
        for f in &s.fees {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                f.item,
                f.standard,
                f.basis,
                f.reductions.as_deref().unwrap_or("")
            );
        }
    }
    contact_section(catalog, m, &mut o);
    o
}

/// 七、办理地点和咨询方式: the centers that take the matter, with address, telephone and hours.
fn contact_section(catalog: &Catalog, m: &CompiledMatter, o: &mut String) {
    let org = &catalog.org;
    let accept = &m.spec.jurisdiction.accept;
    let mut rows: Vec<(&str, Option<&crate::domain::org::Contact>)> = Vec::new();
    if accept.contains(&Level::County) {
        rows.push((&org.county.center, org.county.contact.as_ref()));
    }
    if accept.iter().any(|l| *l != Level::County) {
        for t in &org.townships {
            rows.push((
                &t.center,
                t.contact.as_ref().or(org.county.contact.as_ref()),
            ));
        }
    }
    let _ = writeln!(o, "\n## 七、办理地点和咨询方式\n");
    let _ = writeln!(
        o,
        "| 服务中心 | 地址 | 咨询电话 | 办公时间 |\n|---|---|---|---|"
    );
    for (center, c) in rows {
        match c {
            Some(c) => {
                let _ = writeln!(
                    o,
                    "| {center} | {} | {} | {} |",
                    c.address, c.telephone, c.hours
                );
            }
            None => {
                let _ = writeln!(o, "| {center} | （未登记） | （未登记） | （未登记） |");
            }
        }
    }
    if accept.contains(&Level::Village) {
        let _ = writeln!(o, "\n村（社区）便民服务室可代办，由村级代办员代为提交。");
    }
    if let Some(w) = org
        .county
        .contact
        .as_ref()
        .and_then(|c| c.website.as_deref())
    {
        let _ = writeln!(o, "\n网上办理及咨询：{w}");
    }
}

/// The printable A4 guide: the Markdown guide laid out by the catalog's `guide.html` template.
pub fn guide_html(
    catalog: &Catalog,
    m: &CompiledMatter,
) -> Result<String, crate::print::TemplateError> {
    let page = crate::print::GuidePage {
        code: m.spec.code.clone(),
        name: m.spec.name.clone(),
        footer: format!("{}（办事指南） {}", m.spec.name, m.spec.code),
        center: catalog.org.county.center.clone(),
        contact: catalog.org.county.contact.clone(),
        catalog: catalog.manifest.name.clone(),
        version: catalog.manifest.version.clone(),
    };
    catalog.templates.guide(
        &page,
        crate::print::markdown_html(&guide_markdown(catalog, m)),
    )
}
