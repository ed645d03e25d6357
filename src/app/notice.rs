//! Notice content (一次性告知书, 受理通知书, 不予受理决定书, 容缺受理承诺书, 即办件办结通知书) built
//! from an assessment, and its printable A4 page.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::domain::assessment::{Assessment, DueDate, Outcome};

/// The kinds of notice a center issues at intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// 一次性告知书
    Supplement,
    /// 受理通知书
    Acceptance,
    /// 不予受理决定书
    Refusal,
    /// 容缺受理承诺书
    DeferralCommitment,
    /// 即办件办结通知书
    ImmediateDecision,
    /// 准予决定书 (the case's decision: approved)
    Approval,
    /// 不予决定书 (the case's decision: not approved), with reason and basis
    Disapproval,
    /// 超时默认办结通知书 (deemed approved after the promised time ran out)
    DeemedApproval,
    /// 特别程序告知书 (Art. 45: the time of a hearing, inspection … is not counted)
    SpecialProcedure,
    /// 延长办理期限告知书 (Art. 42)
    Extension,
    /// 终止办理通知书 (容缺 materials not supplied in time)
    Termination,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Supplement => "supplement",
            Self::Acceptance => "acceptance",
            Self::Refusal => "refusal",
            Self::DeferralCommitment => "deferral_commitment",
            Self::ImmediateDecision => "immediate_decision",
            Self::Approval => "approval",
            Self::Disapproval => "disapproval",
            Self::DeemedApproval => "deemed_approval",
            Self::SpecialProcedure => "special_procedure",
            Self::Extension => "extension",
            Self::Termination => "termination",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Self::Supplement => "一次性告知书",
            Self::Acceptance => "受理通知书",
            Self::Refusal => "不予受理决定书",
            Self::DeferralCommitment => "容缺受理承诺书",
            Self::ImmediateDecision => "即办件办结通知书",
            Self::Approval => "准予决定书",
            Self::Disapproval => "不予决定书",
            Self::DeemedApproval => "超时默认办结通知书",
            Self::SpecialProcedure => "特别程序告知书",
            Self::Extension => "延长办理期限告知书",
            Self::Termination => "终止办理通知书",
        }
    }
    /// The character of the number series, as in 〔2026〕受字第0001号.
    pub fn series_char(self) -> &'static str {
        match self {
            Self::Supplement => "补",
            Self::Acceptance => "受",
            Self::Refusal => "不受",
            Self::DeferralCommitment => "容",
            Self::ImmediateDecision => "办",
            Self::Approval => "准",
            Self::Disapproval => "不准",
            Self::DeemedApproval => "默",
            Self::SpecialProcedure => "特",
            Self::Extension => "延",
            Self::Termination => "终",
        }
    }
    /// The notices an outcome gives rise to.
    pub fn for_outcome(outcome: Outcome) -> &'static [NoticeKind] {
        match outcome {
            Outcome::Refused => &[Self::Refusal],
            Outcome::SupplementNeeded => &[Self::Supplement],
            Outcome::AcceptedImmediate => &[Self::ImmediateDecision],
            Outcome::AcceptedPromised => &[Self::Acceptance],
            Outcome::AcceptedDeferred => &[Self::Acceptance, Self::DeferralCommitment],
        }
    }
}

/// One line of a notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeItem {
    pub title: String,
    pub detail: String,
    pub basis: Option<String>,
    pub obtain_from: Option<String>,
}

/// What a notice says (its number is assigned when it is stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeContent {
    pub kind: NoticeKind,
    pub title: String,
    pub center: String,
    pub seal: String,
    pub issued_on: NaiveDate,
    pub case_id: String,
    pub applicant_name: String,
    pub matter: String,
    pub paragraphs: Vec<String>,
    pub items: Vec<NoticeItem>,
}

/// Chinese date as printed on documents: 2026年3月2日.
pub fn chinese_date(d: NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

fn due_text(d: &DueDate) -> String {
    match d.date {
        Some(date) => format!("{}（{}个工作日）", chinese_date(date), d.working_days),
        None => format!(
            "{}个工作日（超出已发布的工作日历，具体日期由窗口另行书面告知）",
            d.working_days
        ),
    }
}

/// Everything the notices of one intake need besides the assessments.
pub struct NoticeContext<'a> {
    pub case_id: &'a str,
    pub center: &'a str,
    pub seal: &'a str,
    pub today: NaiveDate,
    pub applicant_name: &'a str,
    /// The matter name, or the bundle name.
    pub matter: &'a str,
}

/// Build the notice of `kind` for the assessments of one intake (one matter, or a bundle's).
pub fn build(
    kind: NoticeKind,
    ctx: &NoticeContext,
    assessments: &[&Assessment],
    bundle_defects: Option<&[crate::domain::assessment::Defect]>,
) -> NoticeContent {
    let mut paragraphs = Vec::new();
    let mut items = Vec::new();
    let applicant = ctx.applicant_name;
    match kind {
        NoticeKind::Supplement => {
            paragraphs.push(format!(
                "{applicant}：您于{}申请办理的“{}”，经审查，申请材料不齐全或者不符合法定形式。根据《中华人民共和国行政许可法》第三十二条第一款第（四）项，现一次性告知您需要补正的全部内容如下。请补正后到本中心窗口提交，本申请继续办理，无需重新申请。",
                chinese_date(ctx.today),
                ctx.matter
            ));
            let defects: Vec<&crate::domain::assessment::Defect> = match bundle_defects {
                Some(d) => d.iter().collect(),
                None => assessments.iter().flat_map(|a| a.defects.iter()).collect(),
            };
            for d in defects {
                items.push(NoticeItem {
                    title: d.name.clone(),
                    detail: d.reason.clone(),
                    basis: d.basis.clone(),
                    obtain_from: d.obtain_from.clone(),
                });
            }
        }
        NoticeKind::Refusal => {
            paragraphs.push(format!(
                "{applicant}：您于{}申请办理的“{}”，经审查，决定不予受理，理由及依据如下。",
                chinese_date(ctx.today),
                ctx.matter
            ));
            for a in assessments {
                for r in &a.refusals {
                    let detail = match &r.competent_agency {
                        Some(agency) => format!("{}。请向{}申请。", r.reason, agency),
                        None => r.reason.clone(),
                    };
                    items.push(NoticeItem {
                        title: r.kind.label().to_string(),
                        detail,
                        basis: Some(r.basis.clone()),
                        obtain_from: None,
                    });
                }
            }
            paragraphs.push(
                "如对本决定不服，可以自收到本决定书之日起六十日内依法申请行政复议，或者在六个月内依法提起行政诉讼。"
                    .to_string(),
            );
        }
        NoticeKind::Acceptance => {
            paragraphs.push(format!(
                "{applicant}：您于{}申请办理的“{}”，申请材料齐全、符合法定形式，根据《中华人民共和国行政许可法》第三十二条第一款第（五）项，决定予以受理。",
                chinese_date(ctx.today),
                ctx.matter
            ));
            for a in assessments {
                if let Some(due) = &a.due {
                    items.push(NoticeItem {
                        title: format!("{} 承诺办结时限", a.matter_name),
                        detail: due_text(due),
                        basis: None,
                        obtain_from: None,
                    });
                }
                if let Some(route) = &a.route {
                    let steps: Vec<String> = route
                        .steps
                        .iter()
                        .map(|s| format!("{}（{}）", s.name, s.unit.name))
                        .collect();
                    items.push(NoticeItem {
                        title: format!("{} 办理流程", a.matter_name),
                        detail: steps.join(" → "),
                        basis: None,
                        obtain_from: None,
                    });
                }
            }
            paragraphs.push(
                "依法需要听证、检验、检测、鉴定、专家评审等特别程序的，所需时间不计入办理时限，届时另行书面告知。"
                    .to_string(),
            );
        }
        NoticeKind::DeferralCommitment => {
            paragraphs.push(format!(
                "本人{applicant}申请办理“{}”，主要申请材料齐全，以下材料暂缺。本人承诺在规定期限内补齐；逾期未补齐的，同意按规定终止办理。",
                ctx.matter
            ));
            for a in assessments {
                for d in &a.deferred {
                    items.push(NoticeItem {
                        title: d.name.clone(),
                        detail: format!("须于{}前补交", due_text(&d.supply_by)),
                        basis: None,
                        obtain_from: None,
                    });
                }
            }
            paragraphs.push("承诺人（签字）：                    ".to_string());
        }
        NoticeKind::ImmediateDecision => {
            paragraphs.push(format!(
                "{applicant}：您于{}申请办理的“{}”，申请材料齐全、符合法定形式，根据《中华人民共和国行政许可法》第三十四条第二款，当场作出准予办理的决定。",
                chinese_date(ctx.today),
                ctx.matter
            ));
            for a in assessments {
                items.push(NoticeItem {
                    title: a.matter_name.clone(),
                    detail: format!("准予办理，决定单位：{}", a.decider.name),
                    basis: None,
                    obtain_from: None,
                });
            }
        }
        // Notices of the handling after acceptance: their text comes from the handling service.
        NoticeKind::Approval
        | NoticeKind::Disapproval
        | NoticeKind::DeemedApproval
        | NoticeKind::SpecialProcedure
        | NoticeKind::Extension
        | NoticeKind::Termination => {}
    }
    content(kind, ctx, paragraphs, items)
}

/// A notice with the given text, headed and sealed by the center.
pub fn content(
    kind: NoticeKind,
    ctx: &NoticeContext,
    paragraphs: Vec<String>,
    items: Vec<NoticeItem>,
) -> NoticeContent {
    let applicant = ctx.applicant_name;
    NoticeContent {
        kind,
        title: kind.title().to_string(),
        center: ctx.center.to_string(),
        seal: ctx.seal.to_string(),
        issued_on: ctx.today,
        case_id: ctx.case_id.to_string(),
        applicant_name: applicant.to_string(),
        matter: ctx.matter.to_string(),
        paragraphs,
        items,
    }
}

/// Escape text for HTML.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The printable A4 page of a notice.
pub fn render_html(n: &NoticeContent, number: &str) -> String {
    let mut items = String::new();
    for (i, it) in n.items.iter().enumerate() {
        let mut extra = String::new();
        if let Some(b) = &it.basis {
            extra.push_str(&format!("<div class=\"basis\">依据：{}</div>", escape(b)));
        }
        if let Some(o) = &it.obtain_from {
            extra.push_str(&format!(
                "<div class=\"basis\">获取途径：{}</div>",
                escape(o)
            ));
        }
        items.push_str(&format!(
            "<tr><td class=\"n\">{}</td><td><strong>{}</strong><div>{}</div>{extra}</td></tr>",
            i + 1,
            escape(&it.title),
            escape(&it.detail)
        ));
    }
    let paragraph = |p: &String| format!("<p>{}</p>", escape(p));
    let paragraphs: String = n.paragraphs.iter().take(1).map(paragraph).collect();
    let after: String = n.paragraphs.iter().skip(1).map(paragraph).collect();
    let table = if items.is_empty() {
        String::new()
    } else {
        format!("<table>{items}</table>")
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{title} {number}</title>
<style>
@page {{ size: A4; margin: 25mm 20mm; }}
body {{ font-family: "FangSong", "仿宋", "SimSun", serif; font-size: 16pt; line-height: 1.8; max-width: 170mm; margin: 0 auto; }}
h1 {{ font-family: "SimHei", "黑体", sans-serif; text-align: center; font-size: 22pt; margin: 0.5em 0 0.2em; }}
.number {{ text-align: center; margin-bottom: 1em; }}
p {{ text-indent: 2em; margin: 0.4em 0; }}
table {{ width: 100%; border-collapse: collapse; font-size: 13pt; margin: 0.6em 0; }}
td {{ border: 1px solid #000; padding: 4px 8px; vertical-align: top; }}
td.n {{ width: 2em; text-align: center; }}
.basis {{ font-size: 11pt; color: #333; }}
.seal {{ margin-top: 2.5em; text-align: right; }}
.case {{ margin-top: 2em; font-size: 10pt; color: #555; }}
</style></head>
<body>
<h1>{title}</h1>
<div class="number">{number}</div>
{paragraphs}
{table}
{after}
<div class="seal"><div>{seal}</div><div>（盖章）</div><div>{date}</div></div>
<div class="case">办件编号：{case} ｜ {center}</div>
</body></html>
"#,
        title = escape(&n.title),
        number = escape(number),
        seal = escape(&n.seal),
        date = chinese_date(n.issued_on),
        case = escape(&n.case_id),
        center = escape(&n.center),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn chinese_dates() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        assert_eq!(chinese_date(d), "2026年3月2日");
    }
}
