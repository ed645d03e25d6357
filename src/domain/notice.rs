//! Notices (文书): what each says, built from typed facts — the intake's assessment, or the facts
//! of a change to the case after acceptance — and the printable A4 page. Numbers are given by the
//! store, in gap-free series per center, kind and year.

use chrono::{Datelike, NaiveDate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::assessment::{Assessment, Defect, DueDate, Outcome};
use super::matter::SpecialProcedureKind;
use super::route::Decision;

/// The kinds of notice a center issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
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
    /// 撤回申请终止办理告知书 (the applicant withdrew before the decision)
    Withdrawal,
    /// 逾期未补正终止办理告知书 (the one-time notice was not answered in time)
    Lapse,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 13] = [
        Self::Supplement,
        Self::Acceptance,
        Self::Refusal,
        Self::DeferralCommitment,
        Self::ImmediateDecision,
        Self::Approval,
        Self::Disapproval,
        Self::DeemedApproval,
        Self::SpecialProcedure,
        Self::Extension,
        Self::Termination,
        Self::Withdrawal,
        Self::Lapse,
    ];

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
            Self::Withdrawal => "撤回申请终止办理告知书",
            Self::Lapse => "逾期未补正终止办理告知书",
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
            Self::Withdrawal => "撤",
            Self::Lapse => "逾",
        }
    }

    /// The notices an intake outcome gives rise to.
    pub fn for_outcome(outcome: Outcome) -> &'static [NoticeKind] {
        match outcome {
            Outcome::Refused => &[Self::Refusal],
            Outcome::SupplementNeeded => &[Self::Supplement],
            Outcome::AcceptedImmediate => &[Self::ImmediateDecision],
            Outcome::AcceptedPromised => &[Self::Acceptance],
            Outcome::AcceptedDeferred => &[Self::Acceptance, Self::DeferralCommitment],
        }
    }

    /// The result notice of a decision.
    pub fn of_decision(decision: Decision) -> NoticeKind {
        match decision {
            Decision::Approved => Self::Approval,
            Decision::Disapproved => Self::Disapproval,
            Decision::DeemedApproved => Self::DeemedApproval,
            Decision::Terminated => Self::Termination,
        }
    }
}

/// One line of a notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NoticeItem {
    pub title: String,
    pub detail: String,
    pub basis: Option<String>,
    pub obtain_from: Option<String>,
}

impl NoticeItem {
    pub fn new(title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            detail: detail.into(),
            basis: None,
            obtain_from: None,
        }
    }
    pub fn with_basis(mut self, basis: impl Into<String>) -> Self {
        self.basis = Some(basis.into());
        self
    }
}

/// The text of a notice a change issues, before the center's header and number are added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeDraft {
    pub kind: NoticeKind,
    /// The matter it is about, within a bundle (`None`: the whole case).
    pub track: Option<String>,
    pub paragraphs: Vec<String>,
    pub items: Vec<NoticeItem>,
}

/// What a notice says (its number is assigned when it is stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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

/// The center's header of every notice.
pub struct NoticeHeader<'a> {
    pub case_id: &'a str,
    pub center: &'a str,
    pub seal: &'a str,
    pub today: NaiveDate,
    pub applicant_name: &'a str,
    /// The matter name, or the bundle name.
    pub matter: &'a str,
}

impl NoticeHeader<'_> {
    /// A notice with the given text, headed and sealed by the center.
    pub fn content(&self, draft: NoticeDraft) -> NoticeContent {
        NoticeContent {
            kind: draft.kind,
            title: draft.kind.title().to_string(),
            center: self.center.to_string(),
            seal: self.seal.to_string(),
            issued_on: self.today,
            case_id: self.case_id.to_string(),
            applicant_name: self.applicant_name.to_string(),
            matter: self.matter.to_string(),
            paragraphs: draft.paragraphs,
            items: draft.items,
        }
    }
}

/// Chinese date as printed on documents: 2026年3月2日.
pub fn chinese_date(d: NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

/// A date that may not be known yet (past the published calendar).
pub fn date_or_pending(d: Option<NaiveDate>) -> String {
    match d {
        Some(d) => chinese_date(d),
        None => "（超出已发布的工作日历，另行告知）".into(),
    }
}

const PERMIT_LAW: &str = "《中华人民共和国行政许可法》";
const REMEDIES: &str = "如对本决定不服，可以自收到本决定书之日起六十日内依法申请行政复议，或者在六个月内依法提起行政诉讼。";

fn due_text(d: &DueDate) -> String {
    match d.date {
        Some(date) => format!("{}（{}个工作日）", chinese_date(date), d.working_days),
        None => format!(
            "{}个工作日（超出已发布的工作日历，具体日期由窗口另行书面告知）",
            d.working_days
        ),
    }
}

/// The notice of `kind` for the assessments of one intake (one matter, or a bundle's).
pub fn intake_notice(
    kind: NoticeKind,
    applicant: &str,
    matter: &str,
    today: NaiveDate,
    assessments: &[&Assessment],
    bundle_defects: Option<&[Defect]>,
) -> NoticeDraft {
    let mut paragraphs = Vec::new();
    let mut items = Vec::new();
    let received = chinese_date(today);
    match kind {
        NoticeKind::Supplement => {
            paragraphs.push(format!(
                "{applicant}：您于{received}申请办理的“{matter}”，经审查，申请材料不齐全或者不符合法定形式。根据{PERMIT_LAW}第三十二条第一款第（四）项，现一次性告知您需要补正的全部内容如下。请补正后到本中心窗口提交，本申请继续办理，无需重新申请。"
            ));
            let defects: Vec<&Defect> = match bundle_defects {
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
                "{applicant}：您于{received}申请办理的“{matter}”，经审查，决定不予受理，理由及依据如下。"
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
            paragraphs.push(REMEDIES.to_string());
        }
        NoticeKind::Acceptance => {
            paragraphs.push(format!(
                "{applicant}：您于{received}申请办理的“{matter}”，申请材料齐全、符合法定形式，根据{PERMIT_LAW}第三十二条第一款第（五）项，决定予以受理。"
            ));
            for a in assessments {
                // A bundle's 即办 matter is decided at intake with its own notice.
                if a.outcome == Outcome::AcceptedImmediate && assessments.len() > 1 {
                    continue;
                }
                if let Some(due) = &a.due {
                    items.push(NoticeItem::new(
                        format!("{} 承诺办结时限", a.matter_name),
                        due_text(due),
                    ));
                }
                if let Some(due) = &a.statutory_due {
                    items.push(NoticeItem::new(
                        format!("{} 法定办结时限", a.matter_name),
                        due_text(due),
                    ));
                }
                if let Some(route) = &a.route {
                    let steps: Vec<String> = route
                        .steps
                        .iter()
                        .map(|s| format!("{}（{}）", s.name, s.unit.name))
                        .collect();
                    items.push(NoticeItem::new(
                        format!("{} 办理流程", a.matter_name),
                        steps.join(" → "),
                    ));
                }
            }
            paragraphs.push(
                "依法需要听证、检验、检测、鉴定、专家评审等特别程序的，所需时间不计入办理时限，届时另行书面告知。"
                    .to_string(),
            );
        }
        NoticeKind::DeferralCommitment => {
            paragraphs.push(format!(
                "本人{applicant}申请办理“{matter}”，主要申请材料齐全，以下材料暂缺。本人承诺在规定期限内补齐；逾期未补齐的，同意按规定终止办理。"
            ));
            for a in assessments {
                for d in &a.deferred {
                    items.push(NoticeItem::new(
                        d.name.clone(),
                        format!("须于{}前补交", due_text(&d.supply_by)),
                    ));
                }
            }
            paragraphs.push("承诺人（签字）：                    ".to_string());
        }
        NoticeKind::ImmediateDecision => {
            paragraphs.push(format!(
                "{applicant}：您于{received}申请办理的“{matter}”，申请材料齐全、符合法定形式，根据{PERMIT_LAW}第三十四条第二款，当场作出准予办理的决定。"
            ));
            for a in assessments {
                items.push(NoticeItem::new(
                    a.matter_name.clone(),
                    format!("准予办理，决定单位：{}", a.decider.name),
                ));
            }
        }
        // Notices of the handling after acceptance come from `decision_notice` and the others.
        NoticeKind::Approval
        | NoticeKind::Disapproval
        | NoticeKind::DeemedApproval
        | NoticeKind::SpecialProcedure
        | NoticeKind::Extension
        | NoticeKind::Termination
        | NoticeKind::Withdrawal
        | NoticeKind::Lapse => {}
    }
    NoticeDraft {
        kind,
        track: None,
        paragraphs,
        items,
    }
}

/// The facts of a decision after the route, for its result notice.
pub struct DecisionFacts<'a> {
    pub applicant: &'a str,
    pub received_on: NaiveDate,
    pub matter: &'a str,
    pub decision: Decision,
    /// The result (证照、批文 …) of an approval.
    pub result_name: Option<&'a str>,
    /// Reason and basis of a refusal.
    pub refusal: Option<(&'a str, &'a str)>,
    /// The Art. 44 delivery limit of an approval, and where the result is handed over.
    pub delivery: Option<(Option<NaiveDate>, &'a str)>,
}

/// The result notice of a decision (准予、不予、超时默认、终止).
pub fn decision_notice(f: &DecisionFacts, track: Option<String>) -> NoticeDraft {
    let (applicant, matter) = (f.applicant, f.matter);
    let received = chinese_date(f.received_on);
    let result = f
        .result_name
        .map(|r| format!("办理结果：{r}。"))
        .unwrap_or_default();
    let mut paragraphs = Vec::new();
    let mut items = Vec::new();
    match f.decision {
        Decision::Approved => paragraphs.push(format!(
            "{applicant}：您于{received}申请办理的“{matter}”，经审查，符合法定条件、标准，决定准予办理。{result}"
        )),
        Decision::DeemedApproved => paragraphs.push(format!(
            "{applicant}：您于{received}申请办理的“{matter}”，申请材料齐全，承办单位未在承诺时限内作出决定且未书面说明理由，依照本事项的超时默认办结规定，视为准予办理。{result}"
        )),
        Decision::Terminated => paragraphs.push(format!(
            "{applicant}：您于{received}申请办理的“{matter}”系容缺受理，您承诺后补的材料未在约定期限内提交，根据容缺受理承诺书的约定，本申请终止办理。补齐材料后可重新申请。"
        )),
        Decision::Disapproved => {
            paragraphs.push(format!(
                "{applicant}：您于{received}申请办理的“{matter}”，经审查，决定不予办理，理由及依据如下。"
            ));
            let (reason, basis) = f.refusal.unwrap_or(("", ""));
            items.push(NoticeItem {
                title: "不予办理的理由".into(),
                detail: reason.to_string(),
                basis: (!basis.is_empty()).then(|| basis.to_string()),
                obtain_from: None,
            });
            paragraphs.push(REMEDIES.to_string());
        }
    }
    if f.decision.has_result() {
        if let Some((Some(due), center)) = f.delivery {
            items.push(
                NoticeItem::new(
                    "领取",
                    format!(
                        "请于{}前到{center}统一出件窗口领取（领取时核验原件），或选择邮寄送达",
                        chinese_date(due)
                    ),
                )
                .with_basis(format!("{PERMIT_LAW}第四十四条")),
            );
        }
    }
    NoticeDraft {
        kind: NoticeKind::of_decision(f.decision),
        track,
        paragraphs,
        items,
    }
}

/// 特别程序告知书 when a special procedure starts.
/// The line of a one-time notice that says by when to supply (补正期限).
pub fn supplement_due_item(due: Option<NaiveDate>) -> NoticeItem {
    NoticeItem::new(
        "补正期限",
        format!(
            "请于{}前补正。逾期未补正的，本申请终止办理，需要时请重新申请。",
            date_or_pending(due)
        ),
    )
}

/// 逾期未补正: the one-time notice lapsed.
pub fn lapse_notice(
    applicant: &str,
    matter: &str,
    received_on: NaiveDate,
    due_on: NaiveDate,
    matters: &[String],
) -> NoticeDraft {
    NoticeDraft {
        kind: NoticeKind::Lapse,
        track: None,
        paragraphs: vec![format!(
            "{applicant}：您于{}申请办理的“{matter}”，本中心已一次性告知需要补正的全部内容，补正期限至{}。您未在期限内补正，本申请终止办理。已提交的材料可到窗口领回；如需办理，请重新申请。",
            chinese_date(received_on),
            chinese_date(due_on),
        )],
        items: vec![NoticeItem::new("终止办理的事项", matters.join("、"))],
    }
}

/// 撤回: the applicant withdrew the application (or the matters named) before the decision.
pub fn withdrawal_notice(
    applicant: &str,
    matter: &str,
    received_on: NaiveDate,
    withdrawn_on: NaiveDate,
    reason: &str,
    matters: &[String],
) -> NoticeDraft {
    NoticeDraft {
        kind: NoticeKind::Withdrawal,
        track: None,
        paragraphs: vec![
            format!(
                "{applicant}：您于{}申请办理的“{matter}”，您于{}申请撤回，本中心依法终止办理。已提交的材料可到窗口领回；如需办理，可重新申请。",
                chinese_date(received_on),
                chinese_date(withdrawn_on),
            ),
        ],
        items: vec![
            NoticeItem::new("终止办理的事项", matters.join("、")),
            NoticeItem::new("撤回理由", reason.to_string()),
        ],
    }
}

pub fn pause_notice(
    applicant: &str,
    matter: &str,
    kind: SpecialProcedureKind,
    reason: &str,
    started_on: NaiveDate,
    expected_end: NaiveDate,
    track: Option<String>,
) -> NoticeDraft {
    let label = kind.label();
    NoticeDraft {
        kind: NoticeKind::SpecialProcedure,
        track,
        paragraphs: vec![format!(
            "{applicant}：您申请办理的“{matter}”，需要进行{label}。根据{PERMIT_LAW}第四十五条，{label}所需时间不计算在办理期限内。"
        )],
        items: vec![NoticeItem::new(
            "特别程序",
            format!(
                "{label}：{reason}（自{}起，预计{}结束）",
                chinese_date(started_on),
                chinese_date(expected_end)
            ),
        )
        .with_basis(format!("{PERMIT_LAW}第四十五条"))],
    }
}

/// 特别程序告知书 when a special procedure ends: the deadline moves on.
pub fn resume_notice(
    applicant: &str,
    matter: &str,
    kind: SpecialProcedureKind,
    ended_on: NaiveDate,
    paused_days: u32,
    new_due: Option<NaiveDate>,
    track: Option<String>,
) -> NoticeDraft {
    NoticeDraft {
        kind: NoticeKind::SpecialProcedure,
        track,
        paragraphs: vec![format!(
            "{applicant}：您申请办理的“{matter}”的{}已于{}结束，用时{paused_days}个工作日，不计入办理期限。承诺办结日期相应顺延至{}。",
            kind.label(),
            chinese_date(ended_on),
            date_or_pending(new_due),
        )],
        items: Vec::new(),
    }
}

/// 延长办理期限告知书 (Art. 42).
pub fn extension_notice(
    applicant: &str,
    matter: &str,
    reason: &str,
    approved_by: &str,
    days: u32,
    new_due: Option<NaiveDate>,
    track: Option<String>,
) -> NoticeDraft {
    NoticeDraft {
        kind: NoticeKind::Extension,
        track,
        paragraphs: vec![format!(
            "{applicant}：您申请办理的“{matter}”，因{reason}，经{approved_by}批准，根据{PERMIT_LAW}第四十二条，办理期限延长{days}个工作日，至{}。",
            date_or_pending(new_due)
        )],
        items: Vec::new(),
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
        assert_eq!(date_or_pending(None), "（超出已发布的工作日历，另行告知）");
    }

    #[test]
    fn a_refusal_after_the_route_names_reason_basis_and_remedies() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let n = decision_notice(
            &DecisionFacts {
                applicant: "张三",
                received_on: d,
                matter: "公共场所卫生许可",
                decision: Decision::Disapproved,
                result_name: None,
                refusal: Some(("不符合卫生规范", "《公共场所卫生管理条例》第八条")),
                delivery: None,
            },
            None,
        );
        assert_eq!(n.kind, NoticeKind::Disapproval);
        assert_eq!(n.items[0].detail, "不符合卫生规范");
        assert!(n.paragraphs.iter().any(|p| p.contains("六十日")));
    }
}
