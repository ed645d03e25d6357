//! Notices (文书): what each says, built from typed facts — the intake's assessment, or the facts
//! of a change to the case after acceptance — and the printable A4 page. Numbers are given by the
//! store, in gap-free series per center, kind and year.

use chrono::{Datelike, NaiveDate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::application::PresentedMaterial;
use super::assessment::{Assessment, Defect, DueDate, MaterialStatus, Outcome};
use super::matter::{
    MaterialForm, Matter, MatterType, Medium, ResultKind, ResultSpec, SpecialProcedureKind,
};
use super::org::{Contact, Organisation, Remedies};
use super::route::Decision;
use super::unit::UnitId;

/// The kinds of notice a center issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// 一次性告知书
    #[default]
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
    /// 办理期限告知书 (a date that was not yet known, or that moved, now in writing)
    Dates,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 14] = [
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
        Self::Dates,
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
            Self::Dates => "办理期限告知书",
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
            Self::Dates => "期",
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

    /// Whether the notice refuses or does not approve, and so tells the applicant their remedies.
    pub fn names_remedies(self) -> bool {
        matches!(self, Self::Refusal | Self::Disapproval)
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

/// A material taken in at the window, as the 受理通知书 lists it (材料收取凭证).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReceivedMaterial {
    pub name: String,
    /// 原件 / 复印件 / 原件及复印件: as presented, else as the matter asks.
    pub form: MaterialForm,
    /// 份数
    pub copies: u32,
    /// 纸质 / 电子: as presented, else as the matter asks.
    pub medium: Medium,
}

impl ReceivedMaterial {
    pub fn form_label(&self) -> &'static str {
        self.form.label()
    }
    pub fn medium_label(&self) -> &'static str {
        self.medium.label()
    }
}

/// The result a notice names (审批结果: 证照、批文、待遇 …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NoticeResult {
    pub name: String,
    pub kind: ResultKind,
}

impl From<&ResultSpec> for NoticeResult {
    fn from(r: &ResultSpec) -> Self {
        Self {
            name: r.name.clone(),
            kind: r.kind,
        }
    }
}

/// The text of a notice a change issues, before the center's header and number are added.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoticeDraft {
    pub kind: NoticeKind,
    /// The matter it is about, within a bundle (`None`: the whole case).
    pub track: Option<String>,
    pub paragraphs: Vec<String>,
    pub items: Vec<NoticeItem>,
    /// The unit whose decision the notice carries (its name is printed; its 救济途径 are named).
    pub decider: Option<UnitId>,
    /// The result it names (即办件 and approvals).
    pub result: Option<NoticeResult>,
    /// The materials taken in (受理通知书).
    pub received: Vec<ReceivedMaterial>,
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
    /// 决定单位: the unit that decided (a result notice, 即办件, 不予决定).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decider: Option<String>,
    /// The result named (即办件, approvals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<NoticeResult>,
    /// 材料收取凭证: the materials taken in (受理通知书).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub received: Vec<ReceivedMaterial>,
    /// 救济途径 named on refusals and 不予决定.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedies: Option<Remedies>,
    /// The issuing center's address, telephone, hours and website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
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
    /// The organisation of the case's catalog version: contact details, units, 救济途径.
    pub org: &'a Organisation,
    /// The township whose center takes the case (`None`: the county center).
    pub township: Option<&'a str>,
}

impl NoticeHeader<'_> {
    /// A notice with the given text, headed and sealed by the center.
    pub fn content(&self, mut draft: NoticeDraft) -> NoticeContent {
        let remedies = if draft.kind.names_remedies() {
            let remedies = self
                .org
                .remedies(draft.decider.as_ref(), self.township)
                .cloned();
            draft.paragraphs.push(remedies_text(remedies.as_ref()));
            remedies
        } else {
            None
        };
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
            decider: draft.decider.as_ref().and_then(|u| self.org.unit_name(u)),
            result: draft.result,
            received: draft.received,
            remedies,
            contact: self.org.contact(self.township).cloned(),
        }
    }
}

/// The remedies sentence of a refusal or 不予决定: the named 复议机关 and court when the
/// organisation file names them, else the law's general words.
pub fn remedies_text(r: Option<&Remedies>) -> String {
    match r {
        Some(r) => format!(
            "如对本决定不服，可以自收到本决定书之日起{}日内向{}申请行政复议，或者在{}个月内依法向{}提起行政诉讼。",
            chinese_number(r.review_days),
            r.review_body,
            chinese_number(r.lawsuit_months),
            r.court
        ),
        None => "如对本决定不服，可以自收到本决定书之日起六十日内依法申请行政复议，或者在六个月内依法提起行政诉讼。".into(),
    }
}

/// A number in Chinese characters as documents write periods (六十, 六, 九十, 一百二十).
pub fn chinese_number(n: u32) -> String {
    const DIGITS: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    if n >= 1000 {
        return n.to_string();
    }
    let (h, t, u) = (n / 100, (n / 10) % 10, n % 10);
    let mut o = String::new();
    if h > 0 {
        o.push_str(DIGITS[h as usize]);
        o.push('百');
    }
    if t > 0 {
        if !(h == 0 && t == 1) {
            o.push_str(DIGITS[t as usize]);
        }
        o.push('十');
    } else if h > 0 && u > 0 {
        o.push('零');
    }
    if u > 0 || n == 0 {
        o.push_str(DIGITS[u as usize]);
    }
    o
}

/// What a notice cites for a matter: a 行政许可 the 行政许可法, any other type (行政给付、行政确认、
/// 公共服务 …) its own basis from the catalog and no permit law.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatterLaw {
    pub permit: bool,
    /// The matter's 设定依据, without the permit law.
    pub basis: Vec<String>,
}

impl MatterLaw {
    pub fn of(m: &Matter) -> Self {
        Self {
            permit: m.matter_type == MatterType::AdministrativeLicense,
            basis: m
                .basis
                .iter()
                .filter(|b| !b.contains(PERMIT_LAW))
                .cloned()
                .collect(),
        }
    }

    /// "根据…" for the matters of one notice: the permit law's `article` if any matter is a
    /// 行政许可, and the own basis of the others.
    pub fn cite(laws: &[MatterLaw], article: &str) -> String {
        let mut parts: Vec<String> = Vec::new();
        if laws.iter().any(|l| l.permit) {
            parts.push(format!("{PERMIT_LAW}{article}"));
        }
        for l in laws.iter().filter(|l| !l.permit) {
            for b in &l.basis {
                if !parts.contains(b) {
                    parts.push(b.clone());
                }
            }
        }
        if parts.is_empty() {
            "根据有关规定".into()
        } else if laws.iter().all(|l| l.permit) {
            format!("根据{}", parts.join("、"))
        } else {
            format!("根据{}等规定", parts.join("、"))
        }
    }

    /// The basis line of an item: the permit law's `article`, or the matter's own basis.
    pub fn basis_of(&self, article: &str) -> Option<String> {
        if self.permit {
            Some(format!("{PERMIT_LAW}{article}"))
        } else if self.basis.is_empty() {
            None
        } else {
            Some(self.basis.join("；"))
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

fn due_text(d: &DueDate) -> String {
    match d.date {
        Some(date) => format!("{}（{}个工作日）", chinese_date(date), d.working_days),
        None => format!(
            "{}个工作日（超出已发布的工作日历，具体日期由窗口另行书面告知）",
            d.working_days
        ),
    }
}

/// What an intake's notices are built from: the assessments of one intake (one matter, or a
/// bundle's), the matters' rule files and what the applicant presented.
pub struct IntakeFacts<'a> {
    pub applicant: &'a str,
    /// The matter name, or the bundle name.
    pub matter: &'a str,
    pub today: NaiveDate,
    pub assessments: &'a [&'a Assessment],
    /// A bundle's one-time notice lists the bundle's defects (shared materials once).
    pub bundle_defects: Option<&'a [Defect]>,
    /// The rule files of the assessed matters (for the law they cite and the result they give).
    pub matters: &'a [&'a Matter],
    /// The materials as presented (form, copies and medium where the window recorded them).
    pub presented: &'a [PresentedMaterial],
}

impl IntakeFacts<'_> {
    fn spec(&self, code: &str) -> Option<&Matter> {
        self.matters.iter().copied().find(|m| m.code == code)
    }

    /// The law of each assessed matter (a matter missing from `matters` counts as a permit).
    fn laws(&self, assessments: &[&Assessment]) -> Vec<MatterLaw> {
        assessments
            .iter()
            .map(|a| {
                self.spec(&a.matter_code).map_or(
                    MatterLaw {
                        permit: true,
                        basis: Vec::new(),
                    },
                    MatterLaw::of,
                )
            })
            .collect()
    }

    /// The materials taken in: every material the assessment found provided, as presented.
    fn received(&self, assessments: &[&Assessment]) -> Vec<ReceivedMaterial> {
        let mut out: Vec<ReceivedMaterial> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for a in assessments {
            for m in a
                .materials
                .iter()
                .filter(|m| m.status == MaterialStatus::Provided)
            {
                if seen.contains(&m.id.as_str()) {
                    continue; // a bundle's shared material, taken in once
                }
                seen.push(&m.id);
                let presented = self.presented.iter().find(|p| p.id == m.id);
                out.push(ReceivedMaterial {
                    name: m.name.clone(),
                    form: presented.and_then(|p| p.form).unwrap_or(m.form),
                    copies: presented.and_then(|p| p.copies).unwrap_or(m.copies),
                    medium: presented.and_then(|p| p.medium).unwrap_or(m.medium),
                });
            }
        }
        out
    }
}

/// The notice of `kind` for the assessments of one intake (one matter, or a bundle's).
pub fn intake_notice(kind: NoticeKind, f: &IntakeFacts) -> NoticeDraft {
    let (applicant, matter) = (f.applicant, f.matter);
    let mut draft = NoticeDraft {
        kind,
        ..NoticeDraft::default()
    };
    let received = chinese_date(f.today);
    // A bundle's 即办 matter is decided at intake with its own notice: the acceptance is about the
    // others.
    let accepted: Vec<&Assessment> = f
        .assessments
        .iter()
        .copied()
        .filter(|a| !(a.outcome == Outcome::AcceptedImmediate && f.assessments.len() > 1))
        .collect();
    let laws = f.laws(f.assessments);
    match kind {
        NoticeKind::Supplement => {
            draft.paragraphs.push(format!(
                "{applicant}：您于{received}申请办理的“{matter}”，经审查，申请材料不齐全或者不符合法定形式。{}，现一次性告知您需要补正的全部内容如下。请补正后到本中心窗口提交，本申请继续办理，无需重新申请。",
                MatterLaw::cite(&laws, "第三十二条第一款第（四）项")
            ));
            let defects: Vec<&Defect> = match f.bundle_defects {
                Some(d) => d.iter().collect(),
                None => f
                    .assessments
                    .iter()
                    .flat_map(|a| a.defects.iter())
                    .collect(),
            };
            for d in defects {
                draft.items.push(NoticeItem {
                    title: d.name.clone(),
                    detail: d.reason.clone(),
                    basis: d.basis.clone(),
                    obtain_from: d.obtain_from.clone(),
                });
            }
        }
        NoticeKind::Refusal => {
            draft.paragraphs.push(format!(
                "{applicant}：您于{received}申请办理的“{matter}”，经审查，决定不予受理，理由及依据如下。"
            ));
            for a in f.assessments {
                for r in &a.refusals {
                    let detail = match &r.competent_agency {
                        Some(agency) => format!("{}。请向{}申请。", r.reason, agency),
                        None => r.reason.clone(),
                    };
                    draft.items.push(NoticeItem {
                        title: r.kind.label().to_string(),
                        detail,
                        basis: Some(r.basis.clone()),
                        obtain_from: None,
                    });
                }
            }
        }
        NoticeKind::Acceptance => {
            let accepted_laws = f.laws(&accepted);
            draft.paragraphs.push(format!(
                "{applicant}：您于{received}申请办理的“{matter}”，申请材料齐全、符合法定形式，{}，决定予以受理。本通知书同时作为材料收取凭证，所收材料见下表。",
                MatterLaw::cite(&accepted_laws, "第三十二条第一款第（五）项")
            ));
            // A bundle's lines name their matter; a single matter's need not.
            let bundle = f.assessments.len() > 1;
            for a in &accepted {
                let title = |what: &str| {
                    if bundle {
                        format!("{} {what}", a.matter_name)
                    } else {
                        what.to_string()
                    }
                };
                if let Some(due) = &a.due {
                    draft
                        .items
                        .push(NoticeItem::new(title("承诺办结时限"), due_text(due)));
                }
                if let Some(due) = &a.statutory_due {
                    draft
                        .items
                        .push(NoticeItem::new(title("法定办结时限"), due_text(due)));
                }
                if let Some(route) = &a.route {
                    let steps: Vec<String> = route
                        .steps
                        .iter()
                        .map(|s| format!("{}（{}）", s.name, s.unit.name))
                        .collect();
                    draft
                        .items
                        .push(NoticeItem::new(title("办理流程"), steps.join(" → ")));
                }
            }
            draft.received = f.received(&accepted);
            let special = if accepted_laws.iter().any(|l| l.permit) {
                "依法需要听证、检验、检测、鉴定、专家评审等特别程序的，所需时间不计入办理时限，届时另行书面告知。"
            } else {
                "需要入户调查、公示、评估等特别程序的，所需时间不计入办理时限，届时另行书面告知。"
            };
            draft.paragraphs.push(special.to_string());
        }
        NoticeKind::DeferralCommitment => {
            draft.paragraphs.push(format!(
                "本人{applicant}申请办理“{matter}”，主要申请材料齐全，以下材料暂缺。本人承诺在规定期限内补齐；逾期未补齐的，同意按规定终止办理。"
            ));
            for a in f.assessments {
                for d in &a.deferred {
                    draft.items.push(NoticeItem::new(
                        d.name.clone(),
                        format!("须于{}前补交", due_text(&d.supply_by)),
                    ));
                }
            }
            draft
                .paragraphs
                .push("承诺人（签字）：                    ".to_string());
        }
        NoticeKind::ImmediateDecision => {
            let immediate: Vec<&Assessment> = f
                .assessments
                .iter()
                .copied()
                .filter(|a| a.outcome == Outcome::AcceptedImmediate)
                .collect();
            let immediate = if immediate.is_empty() {
                f.assessments.to_vec()
            } else {
                immediate
            };
            let laws = f.laws(&immediate);
            draft.paragraphs.push(format!(
                "{applicant}：您于{received}申请办理的“{matter}”，申请材料齐全、符合法定形式，{}，当场作出准予办理的决定。本通知书文号即为该决定的文号。",
                MatterLaw::cite(&laws, "第三十四条第二款")
            ));
            for a in &immediate {
                let spec = f.spec(&a.matter_code);
                let result = spec.map(|m| NoticeResult::from(&m.result));
                let detail = match &result {
                    Some(r) => format!(
                        "准予办理。办理结果：{}（{}），决定单位：{}",
                        r.name,
                        r.kind.label(),
                        a.decider.name
                    ),
                    None => format!("准予办理，决定单位：{}", a.decider.name),
                };
                draft
                    .items
                    .push(NoticeItem::new(a.matter_name.clone(), detail));
                if draft.decider.is_none() {
                    draft.decider = Some(a.decider.unit_id.clone());
                    draft.result = result;
                }
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
        | NoticeKind::Lapse
        | NoticeKind::Dates => {}
    }
    draft
}

/// The facts of a decision after the route, for its result notice.
pub struct DecisionFacts<'a> {
    pub applicant: &'a str,
    pub received_on: NaiveDate,
    pub matter: &'a str,
    pub decision: Decision,
    /// The unit that decided.
    pub decider: &'a UnitId,
    /// The matter's rule file: its result and the law it cites.
    pub spec: Option<&'a Matter>,
    /// Reason and basis of a refusal.
    pub refusal: Option<(&'a str, &'a str)>,
    /// The Art. 44 delivery limit of an approval, and where the result is handed over.
    pub delivery: Option<(Option<NaiveDate>, &'a str)>,
}

/// The result notice of a decision (准予、不予、超时默认、终止).
pub fn decision_notice(f: &DecisionFacts, track: Option<String>) -> NoticeDraft {
    let (applicant, matter) = (f.applicant, f.matter);
    let received = chinese_date(f.received_on);
    let law = f.spec.map_or(
        MatterLaw {
            permit: true,
            basis: Vec::new(),
        },
        MatterLaw::of,
    );
    let result = f.spec.map(|m| NoticeResult::from(&m.result));
    let result_text = result
        .as_ref()
        .map(|r| format!("办理结果：{}（{}）。", r.name, r.kind.label()))
        .unwrap_or_default();
    let mut draft = NoticeDraft {
        kind: NoticeKind::of_decision(f.decision),
        track,
        decider: Some(f.decider.clone()),
        ..NoticeDraft::default()
    };
    match f.decision {
        Decision::Approved => draft.paragraphs.push(format!(
            "{applicant}：您于{received}申请办理的“{matter}”，经审查，符合法定条件、标准，决定准予办理。{result_text}"
        )),
        Decision::DeemedApproved => draft.paragraphs.push(format!(
            "{applicant}：您于{received}申请办理的“{matter}”，申请材料齐全，承办单位未在承诺时限内作出决定且未书面说明理由，依照本事项的超时默认办结规定，视为准予办理。{result_text}"
        )),
        Decision::Terminated => draft.paragraphs.push(format!(
            "{applicant}：您于{received}申请办理的“{matter}”系容缺受理，您承诺后补的材料未在约定期限内提交，根据容缺受理承诺书的约定，本申请终止办理。补齐材料后可重新申请。"
        )),
        Decision::Disapproved => {
            draft.paragraphs.push(format!(
                "{applicant}：您于{received}申请办理的“{matter}”，经审查，决定不予办理，理由及依据如下。"
            ));
            let (reason, basis) = f.refusal.unwrap_or(("", ""));
            draft.items.push(NoticeItem {
                title: "不予办理的理由".into(),
                detail: reason.to_string(),
                basis: (!basis.is_empty()).then(|| basis.to_string()),
                obtain_from: None,
            });
        }
    }
    if f.decision.has_result() {
        draft.result = result;
        if let Some((Some(due), center)) = f.delivery {
            let mut item = NoticeItem::new(
                "领取",
                format!(
                    "请于{}前到{center}统一出件窗口领取（领取时核验原件），或选择邮寄送达",
                    chinese_date(due)
                ),
            );
            if law.permit {
                item = item.with_basis(format!("{PERMIT_LAW}第四十四条"));
            }
            draft.items.push(item);
        }
    }
    draft
}

/// Whom and what a notice after acceptance is about, and the law it cites.
pub struct About<'a> {
    pub applicant: &'a str,
    pub matter: &'a str,
    pub law: &'a MatterLaw,
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

/// A deadline whose date a newly published calendar set or moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateChange {
    /// The matter's name.
    pub matter: String,
    /// 承诺办结日期, 法定办结日期, 补正期限 or 结果送达期限.
    pub what: &'static str,
    /// The date given before (`None`: not yet known).
    pub from: Option<NaiveDate>,
    pub to: NaiveDate,
}

/// 办理期限告知书: dates that could not be given when the calendar did not yet reach them, or
/// that a new calendar moved, in writing.
pub fn dates_notice(
    applicant: &str,
    matter: &str,
    received_on: NaiveDate,
    changes: &[DateChange],
) -> NoticeDraft {
    let mut paragraphs = Vec::new();
    if changes.iter().any(|c| c.from.is_none()) {
        paragraphs.push(format!(
            "{applicant}：您于{}申请办理的“{matter}”，当时工作日历尚未发布，以下期限的具体日期未能确定。现工作日历已经发布，本中心按工作日重新计算，将有关日期书面告知如下。",
            chinese_date(received_on),
        ));
    } else {
        paragraphs.push(format!(
            "{applicant}：您于{}申请办理的“{matter}”，因法定节假日安排调整，以下期限的日期相应变更，特此书面告知。",
            chinese_date(received_on),
        ));
    }
    let items = changes
        .iter()
        .map(|c| {
            let detail = match c.from {
                None => format!("{}：{}", c.what, chinese_date(c.to)),
                Some(f) => format!(
                    "{}：由{}变更为{}",
                    c.what,
                    chinese_date(f),
                    chinese_date(c.to)
                ),
            };
            NoticeItem::new(c.matter.clone(), detail)
        })
        .collect();
    NoticeDraft {
        kind: NoticeKind::Dates,
        track: None,
        paragraphs,
        items,
        ..NoticeDraft::default()
    }
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
        ..NoticeDraft::default()
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
        ..NoticeDraft::default()
    }
}

pub fn pause_notice(
    about: &About,
    kind: SpecialProcedureKind,
    reason: &str,
    started_on: NaiveDate,
    expected_end: NaiveDate,
    track: Option<String>,
) -> NoticeDraft {
    let (applicant, matter, law) = (about.applicant, about.matter, about.law);
    let label = kind.label();
    let cite = MatterLaw::cite(std::slice::from_ref(law), "第四十五条");
    let mut item = NoticeItem::new(
        "特别程序",
        format!(
            "{label}：{reason}（自{}起，预计{}结束）",
            chinese_date(started_on),
            chinese_date(expected_end)
        ),
    );
    item.basis = law.basis_of("第四十五条");
    NoticeDraft {
        kind: NoticeKind::SpecialProcedure,
        track,
        paragraphs: vec![format!(
            "{applicant}：您申请办理的“{matter}”，需要进行{label}。{cite}，{label}所需时间不计算在办理期限内。"
        )],
        items: vec![item],
        ..NoticeDraft::default()
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
        ..NoticeDraft::default()
    }
}

/// 延长办理期限告知书 (Art. 42).
pub fn extension_notice(
    about: &About,
    reason: &str,
    approved_by: &str,
    days: u32,
    new_due: Option<NaiveDate>,
    track: Option<String>,
) -> NoticeDraft {
    let (applicant, matter, law) = (about.applicant, about.matter, about.law);
    NoticeDraft {
        kind: NoticeKind::Extension,
        track,
        paragraphs: vec![format!(
            "{applicant}：您申请办理的“{matter}”，因{reason}，经{approved_by}批准，{}，办理期限延长{days}个工作日，至{}。",
            MatterLaw::cite(std::slice::from_ref(law), "第四十二条"),
            date_or_pending(new_due)
        )],
        ..NoticeDraft::default()
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

    fn org() -> Organisation {
        serde_yaml::from_str(include_str!("../../rules/org.yaml")).unwrap()
    }

    fn header<'a>(org: &'a Organisation, township: Option<&'a str>) -> NoticeHeader<'a> {
        NoticeHeader {
            case_id: "C1",
            center: "白水镇便民服务中心",
            seal: "白水镇政务服务专用章",
            today: NaiveDate::from_ymd_opt(2026, 3, 20).unwrap(),
            applicant_name: "张三",
            matter: "公共场所卫生许可",
            org,
            township,
        }
    }

    #[test]
    fn a_refusal_after_the_route_names_reason_basis_and_remedies() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let org = org();
        let decider = UnitId::department("qingshan", "health");
        let n = decision_notice(
            &DecisionFacts {
                applicant: "张三",
                received_on: d,
                matter: "公共场所卫生许可",
                decision: Decision::Disapproved,
                decider: &decider,
                spec: None,
                refusal: Some(("不符合卫生规范", "《公共场所卫生管理条例》第八条")),
                delivery: None,
            },
            None,
        );
        assert_eq!(n.kind, NoticeKind::Disapproval);
        assert_eq!(n.items[0].detail, "不符合卫生规范");
        let c = header(&org, Some("baishui")).content(n);
        let last = c.paragraphs.last().unwrap();
        assert!(
            last.contains("六十日内向青山县人民政府申请行政复议"),
            "{last}"
        );
        assert!(
            last.contains("六个月内依法向青山县人民法院提起行政诉讼"),
            "{last}"
        );
        assert_eq!(c.decider.as_deref(), Some("青山县卫生健康局"));
        assert_eq!(c.remedies.as_ref().unwrap().review_days, 60);
    }

    #[test]
    fn a_vertically_led_department_names_its_own_review_body() {
        let org = org();
        let tax = UnitId::department("qingshan", "tax");
        let r = org.remedies(Some(&tax), Some("baishui")).unwrap();
        assert_eq!(r.review_body, "国家税务总局青州市税务局");
        let r = org.remedies(None, Some("baishui")).unwrap();
        assert_eq!(r.review_body, "青山县人民政府");
    }

    #[test]
    fn without_remedies_in_the_org_file_the_general_words_are_printed() {
        assert!(remedies_text(None).contains("六十日内依法申请行政复议"));
    }

    #[test]
    fn chinese_numbers() {
        assert_eq!(chinese_number(60), "六十");
        assert_eq!(chinese_number(6), "六");
        assert_eq!(chinese_number(15), "十五");
        assert_eq!(chinese_number(90), "九十");
        assert_eq!(chinese_number(105), "一百零五");
        assert_eq!(chinese_number(120), "一百二十");
    }

    #[test]
    fn law_follows_the_matter() {
        let permit = MatterLaw {
            permit: true,
            basis: vec![],
        };
        let benefit = MatterLaw {
            permit: false,
            basis: vec!["《社会救助暂行办法》第九条".into()],
        };
        let art = "第三十二条第一款第（四）项";
        assert_eq!(
            MatterLaw::cite(std::slice::from_ref(&permit), art),
            "根据《中华人民共和国行政许可法》第三十二条第一款第（四）项"
        );
        let cite = MatterLaw::cite(std::slice::from_ref(&benefit), art);
        assert_eq!(cite, "根据《社会救助暂行办法》第九条等规定");
        assert!(!cite.contains("行政许可法"));
        assert_eq!(
            benefit.basis_of("第四十五条").as_deref(),
            Some("《社会救助暂行办法》第九条")
        );
        let both = MatterLaw::cite(&[permit, benefit], art);
        assert!(
            both.contains("行政许可法") && both.contains("社会救助暂行办法"),
            "{both}"
        );
    }
}
