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

/// The sentences of notices whose words policy staff choose: each is a template in the catalog's
/// `templates/wording.yaml`, filled with the named facts of the case ([`Sentence`]). The law a
/// sentence cites is chosen here (it follows the matter); the words around it are the catalog's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wording {
    Supplement,
    SupplementDue,
    Refusal,
    Acceptance,
    SpecialProcedurePermit,
    SpecialProcedureOther,
    DeferralCommitment,
    DeferralDue,
    DeferralSignature,
    Immediate,
    ImmediateItem,
    Approved,
    DeemedApproved,
    Terminated,
    Disapproved,
    Collect,
    Remedies,
    RemediesGeneral,
    DatesFirst,
    DatesMoved,
    Lapse,
    Withdrawal,
    Pause,
    Resume,
    Extension,
}

impl Wording {
    /// Every entry with its key in `templates/wording.yaml` (keys of that file, not names of
    /// the lifecycle: `supplement` here is the one-time notice's sentence).
    const KEYS: [(Wording, &'static str); 25] = [
        (Self::Supplement, "supplement"),
        (Self::SupplementDue, "supplement_due"),
        (Self::Refusal, "refusal"),
        (Self::Acceptance, "acceptance"),
        (Self::SpecialProcedurePermit, "special_procedure_permit"),
        (Self::SpecialProcedureOther, "special_procedure_other"),
        (Self::DeferralCommitment, "deferral_commitment"),
        (Self::DeferralDue, "deferral_due"),
        (Self::DeferralSignature, "deferral_signature"),
        (Self::Immediate, "immediate"),
        (Self::ImmediateItem, "immediate_item"),
        (Self::Approved, "approved"),
        (Self::DeemedApproved, "deemed_approved"),
        (Self::Terminated, "terminated"),
        (Self::Disapproved, "disapproved"),
        (Self::Collect, "collect"),
        (Self::Remedies, "remedies"),
        (Self::RemediesGeneral, "remedies_general"),
        (Self::DatesFirst, "dates_first"),
        (Self::DatesMoved, "dates_moved"),
        (Self::Lapse, "lapse"),
        (Self::Withdrawal, "withdrawal"),
        (Self::Pause, "pause"),
        (Self::Resume, "resume"),
        (Self::Extension, "extension"),
    ];

    /// Every entry, in the order of the wording file.
    pub fn all() -> impl Iterator<Item = Wording> {
        Self::KEYS.into_iter().map(|(w, _)| w)
    }

    /// Its key in `templates/wording.yaml`.
    pub fn key(self) -> &'static str {
        Self::KEYS
            .iter()
            .find(|(w, _)| *w == self)
            .map_or("", |(_, k)| k)
    }

    pub fn of_key(key: &str) -> Option<Self> {
        Self::KEYS.iter().find(|(_, k)| *k == key).map(|(w, _)| *w)
    }

    /// The names its template may use, each always given (possibly empty).
    pub fn names(self) -> &'static [&'static str] {
        const ARC: &[&str] = &["applicant", "received", "matter"];
        const ARC_CITE: &[&str] = &["applicant", "received", "matter", "cite"];
        const ARC_RESULT: &[&str] = &["applicant", "received", "matter", "result", "result_kind"];
        match self {
            Self::Supplement | Self::Acceptance | Self::Immediate => ARC_CITE,
            Self::Refusal
            | Self::Terminated
            | Self::Disapproved
            | Self::DatesFirst
            | Self::DatesMoved => ARC,
            Self::Approved | Self::DeemedApproved => ARC_RESULT,
            Self::SupplementDue | Self::DeferralDue => &["due"],
            Self::SpecialProcedurePermit
            | Self::SpecialProcedureOther
            | Self::DeferralSignature
            | Self::RemediesGeneral => &[],
            Self::DeferralCommitment => &["applicant", "matter"],
            Self::ImmediateItem => &["result", "result_kind", "decider"],
            Self::Collect => &["due", "center"],
            Self::Remedies => &["review_days", "review_body", "lawsuit_months", "court"],
            Self::Lapse => &["applicant", "received", "matter", "due"],
            Self::Withdrawal => &["applicant", "received", "matter", "withdrawn"],
            Self::Pause => &["applicant", "matter", "procedure", "cite"],
            Self::Resume => &["applicant", "matter", "procedure", "ended", "days", "due"],
            Self::Extension => &[
                "applicant",
                "matter",
                "reason",
                "approved_by",
                "cite",
                "days",
                "due",
            ],
        }
    }
}

/// A sentence to be worded: which, and the facts its template is filled with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    pub wording: Wording,
    pub facts: Vec<(&'static str, String)>,
}

impl Sentence {
    pub fn new<const N: usize>(wording: Wording, facts: [(&'static str, String); N]) -> Self {
        Self {
            wording,
            facts: facts.into(),
        }
    }
}

/// What words sentences: the templates of a catalog version ([`crate::print::Templates`]).
pub trait Words {
    fn say(&self, s: &Sentence) -> String;
}

/// The text of a line of a notice: given as it is, or worded by the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    Given(String),
    Worded(Sentence),
}

impl Text {
    fn say(&self, words: &dyn Words) -> String {
        match self {
            Self::Given(t) => t.clone(),
            Self::Worded(s) => words.say(s),
        }
    }
}

impl From<String> for Text {
    fn from(t: String) -> Self {
        Self::Given(t)
    }
}

impl From<&str> for Text {
    fn from(t: &str) -> Self {
        Self::Given(t.to_string())
    }
}

impl From<Sentence> for Text {
    fn from(s: Sentence) -> Self {
        Self::Worded(s)
    }
}

/// A line of a notice before it is worded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftItem {
    pub title: String,
    pub detail: Text,
    pub basis: Option<String>,
    pub obtain_from: Option<String>,
}

impl DraftItem {
    pub fn new(title: impl Into<String>, detail: impl Into<Text>) -> Self {
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
    fn say(self, words: &dyn Words) -> NoticeItem {
        NoticeItem {
            detail: self.detail.say(words),
            title: self.title,
            basis: self.basis,
            obtain_from: self.obtain_from,
        }
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
    /// 证照编号: given by the store when the notice is issued, for a matter whose result has a
    /// number pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
}

impl From<&ResultSpec> for NoticeResult {
    fn from(r: &ResultSpec) -> Self {
        Self {
            name: r.name.clone(),
            kind: r.kind,
            number: None,
        }
    }
}

/// The series a result notice's number (证照编号) is taken from: the matter's pattern, and the
/// matter (its decided event carries the number too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultSeries {
    pub track: String,
    pub pattern: String,
}

impl ResultSeries {
    /// The series of `m`'s result, if its result is numbered.
    pub fn of(m: &Matter) -> Option<Self> {
        m.result.number.as_ref().map(|pattern| Self {
            track: m.code.clone(),
            pattern: pattern.clone(),
        })
    }
}

/// The text of a notice a change issues, before the center's header and number are added.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoticeDraft {
    pub kind: NoticeKind,
    /// The matter it is about, within a bundle (`None`: the whole case).
    pub track: Option<String>,
    pub paragraphs: Vec<Sentence>,
    pub items: Vec<DraftItem>,
    /// The unit whose decision the notice carries (its name is printed; its 救济途径 are named).
    pub decider: Option<UnitId>,
    /// The result it names (即办件 and approvals).
    pub result: Option<NoticeResult>,
    /// Where the result's number comes from (a numbered result only).
    pub result_series: Option<ResultSeries>,
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
    /// The wording of the case's catalog version.
    pub words: &'a dyn Words,
}

impl NoticeHeader<'_> {
    /// A notice with the given text, headed and sealed by the center.
    pub fn content(&self, mut draft: NoticeDraft) -> NoticeContent {
        let remedies = if draft.kind.names_remedies() {
            let remedies = self
                .org
                .remedies(draft.decider.as_ref(), self.township)
                .cloned();
            draft.paragraphs.push(remedies_sentence(remedies.as_ref()));
            remedies
        } else {
            None
        };
        let words = self.words;
        NoticeContent {
            kind: draft.kind,
            title: draft.kind.title().to_string(),
            center: self.center.to_string(),
            seal: self.seal.to_string(),
            issued_on: self.today,
            case_id: self.case_id.to_string(),
            applicant_name: self.applicant_name.to_string(),
            matter: self.matter.to_string(),
            paragraphs: draft.paragraphs.iter().map(|p| words.say(p)).collect(),
            items: draft.items.into_iter().map(|i| i.say(words)).collect(),
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
pub fn remedies_sentence(r: Option<&Remedies>) -> Sentence {
    match r {
        Some(r) => Sentence::new(
            Wording::Remedies,
            [
                ("review_days", chinese_number(r.review_days)),
                ("review_body", r.review_body.clone()),
                ("lawsuit_months", chinese_number(r.lawsuit_months)),
                ("court", r.court.clone()),
            ],
        ),
        None => Sentence::new(Wording::RemediesGeneral, []),
    }
}

/// The facts most sentences name: applicant, date received, matter.
fn arc(applicant: &str, received: &str, matter: &str) -> [(&'static str, String); 3] {
    [
        ("applicant", applicant.to_string()),
        ("received", received.to_string()),
        ("matter", matter.to_string()),
    ]
}

/// The result a sentence names, and its kind (both empty when the matter names none).
fn result_facts(r: Option<&NoticeResult>) -> [(&'static str, String); 2] {
    [
        ("result", r.map(|r| r.name.clone()).unwrap_or_default()),
        (
            "result_kind",
            r.map(|r| r.kind.label().to_string()).unwrap_or_default(),
        ),
    ]
}

/// The facts of a sentence that cites the law.
fn arc_cite(
    applicant: &str,
    received: &str,
    matter: &str,
    cite: String,
) -> [(&'static str, String); 4] {
    let [a, r, m] = arc(applicant, received, matter);
    [a, r, m, ("cite", cite)]
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
            draft.paragraphs.push(Sentence::new(
                Wording::Supplement,
                arc_cite(
                    applicant,
                    &received,
                    matter,
                    MatterLaw::cite(&laws, "第三十二条第一款第（四）项"),
                ),
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
                draft.items.push(DraftItem {
                    title: d.name.clone(),
                    detail: d.reason.clone().into(),
                    basis: d.basis.clone(),
                    obtain_from: d.obtain_from.clone(),
                });
            }
        }
        NoticeKind::Refusal => {
            draft.paragraphs.push(Sentence::new(
                Wording::Refusal,
                arc(applicant, &received, matter),
            ));
            for a in f.assessments {
                for r in &a.refusals {
                    let detail = match &r.competent_agency {
                        Some(agency) => format!("{}。请向{}申请。", r.reason, agency),
                        None => r.reason.clone(),
                    };
                    draft.items.push(DraftItem {
                        title: r.kind.label().to_string(),
                        detail: detail.into(),
                        basis: Some(r.basis.clone()),
                        obtain_from: None,
                    });
                }
            }
        }
        NoticeKind::Acceptance => {
            let accepted_laws = f.laws(&accepted);
            draft.paragraphs.push(Sentence::new(
                Wording::Acceptance,
                arc_cite(
                    applicant,
                    &received,
                    matter,
                    MatterLaw::cite(&accepted_laws, "第三十二条第一款第（五）项"),
                ),
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
                        .push(DraftItem::new(title("承诺办结时限"), due_text(due)));
                }
                if let Some(due) = &a.statutory_due {
                    draft
                        .items
                        .push(DraftItem::new(title("法定办结时限"), due_text(due)));
                }
                if let Some(route) = &a.route {
                    let steps: Vec<String> = route
                        .steps
                        .iter()
                        .map(|s| format!("{}（{}）", s.name, s.unit.name))
                        .collect();
                    draft
                        .items
                        .push(DraftItem::new(title("办理流程"), steps.join(" → ")));
                }
            }
            draft.received = f.received(&accepted);
            let special = if accepted_laws.iter().any(|l| l.permit) {
                Wording::SpecialProcedurePermit
            } else {
                Wording::SpecialProcedureOther
            };
            draft.paragraphs.push(Sentence::new(special, []));
        }
        NoticeKind::DeferralCommitment => {
            draft.paragraphs.push(Sentence::new(
                Wording::DeferralCommitment,
                [
                    ("applicant", applicant.to_string()),
                    ("matter", matter.to_string()),
                ],
            ));
            for a in f.assessments {
                for d in &a.deferred {
                    draft.items.push(DraftItem::new(
                        d.name.clone(),
                        Sentence::new(Wording::DeferralDue, [("due", due_text(&d.supply_by))]),
                    ));
                }
            }
            draft
                .paragraphs
                .push(Sentence::new(Wording::DeferralSignature, []));
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
            draft.paragraphs.push(Sentence::new(
                Wording::Immediate,
                arc_cite(
                    applicant,
                    &received,
                    matter,
                    MatterLaw::cite(&laws, "第三十四条第二款"),
                ),
            ));
            for a in &immediate {
                let spec = f.spec(&a.matter_code);
                let result = spec.map(|m| NoticeResult::from(&m.result));
                let [name, kind] = result_facts(result.as_ref());
                let detail = Sentence::new(
                    Wording::ImmediateItem,
                    [name, kind, ("decider", a.decider.name.clone())],
                );
                draft
                    .items
                    .push(DraftItem::new(a.matter_name.clone(), detail));
                if draft.decider.is_none() {
                    draft.decider = Some(a.decider.unit_id.clone());
                    draft.result = result;
                    draft.result_series = spec.and_then(ResultSeries::of);
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
    let with_result = |wording| {
        let [a, r, m] = arc(applicant, &received, matter);
        let [name, kind] = result_facts(result.as_ref());
        Sentence::new(wording, [a, r, m, name, kind])
    };
    let mut draft = NoticeDraft {
        kind: NoticeKind::of_decision(f.decision),
        track,
        decider: Some(f.decider.clone()),
        ..NoticeDraft::default()
    };
    match f.decision {
        Decision::Approved => draft.paragraphs.push(with_result(Wording::Approved)),
        Decision::DeemedApproved => draft.paragraphs.push(with_result(Wording::DeemedApproved)),
        Decision::Terminated => draft.paragraphs.push(Sentence::new(
            Wording::Terminated,
            arc(applicant, &received, matter),
        )),
        Decision::Disapproved => {
            draft.paragraphs.push(Sentence::new(
                Wording::Disapproved,
                arc(applicant, &received, matter),
            ));
            let (reason, basis) = f.refusal.unwrap_or(("", ""));
            draft.items.push(DraftItem {
                title: "不予办理的理由".into(),
                detail: reason.into(),
                basis: (!basis.is_empty()).then(|| basis.to_string()),
                obtain_from: None,
            });
        }
    }
    if f.decision.has_result() {
        draft.result = result;
        draft.result_series = f.spec.and_then(ResultSeries::of);
        if let Some((Some(due), center)) = f.delivery {
            let mut item = DraftItem::new(
                "领取",
                Sentence::new(
                    Wording::Collect,
                    [("due", chinese_date(due)), ("center", center.to_string())],
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
pub fn supplement_due_item(due: Option<NaiveDate>) -> DraftItem {
    DraftItem::new(
        "补正期限",
        Sentence::new(Wording::SupplementDue, [("due", date_or_pending(due))]),
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
    let wording = if changes.iter().any(|c| c.from.is_none()) {
        Wording::DatesFirst
    } else {
        Wording::DatesMoved
    };
    let paragraphs = vec![Sentence::new(
        wording,
        arc(applicant, &chinese_date(received_on), matter),
    )];
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
            DraftItem::new(c.matter.clone(), detail)
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
        paragraphs: vec![Sentence::new(Wording::Lapse, {
            let [a, r, m] = arc(applicant, &chinese_date(received_on), matter);
            [a, r, m, ("due", chinese_date(due_on))]
        })],
        items: vec![DraftItem::new("终止办理的事项", matters.join("、"))],
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
        paragraphs: vec![Sentence::new(Wording::Withdrawal, {
            let [a, r, m] = arc(applicant, &chinese_date(received_on), matter);
            [a, r, m, ("withdrawn", chinese_date(withdrawn_on))]
        })],
        items: vec![
            DraftItem::new("终止办理的事项", matters.join("、")),
            DraftItem::new("撤回理由", reason.to_string()),
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
    let mut item = DraftItem::new(
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
        paragraphs: vec![Sentence::new(
            Wording::Pause,
            [
                ("applicant", applicant.to_string()),
                ("matter", matter.to_string()),
                ("procedure", label.to_string()),
                ("cite", cite),
            ],
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
        paragraphs: vec![Sentence::new(
            Wording::Resume,
            [
                ("applicant", applicant.to_string()),
                ("matter", matter.to_string()),
                ("procedure", kind.label().to_string()),
                ("ended", chinese_date(ended_on)),
                ("days", paused_days.to_string()),
                ("due", date_or_pending(new_due)),
            ],
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
        paragraphs: vec![Sentence::new(
            Wording::Extension,
            [
                ("applicant", applicant.to_string()),
                ("matter", matter.to_string()),
                ("reason", reason.to_string()),
                ("approved_by", approved_by.to_string()),
                (
                    "cite",
                    MatterLaw::cite(std::slice::from_ref(law), "第四十二条"),
                ),
                ("days", days.to_string()),
                ("due", date_or_pending(new_due)),
            ],
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

    /// Words a sentence as its key and facts, so a test sees what the domain gives the catalog's
    /// wording (the wording itself is tested in `print`).
    struct Facts;

    impl Words for Facts {
        fn say(&self, s: &Sentence) -> String {
            let facts: Vec<String> = s.facts.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{}: {}", s.wording.key(), facts.join("; "))
        }
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
            words: &Facts,
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
        assert_eq!(n.items[0].detail, Text::Given("不符合卫生规范".into()));
        let c = header(&org, Some("baishui")).content(n);
        let last = c.paragraphs.last().unwrap();
        assert_eq!(
            last,
            "remedies: review_days=六十; review_body=青山县人民政府; lawsuit_months=六; court=青山县人民法院"
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
        let s = remedies_sentence(None);
        assert_eq!(s.wording, Wording::RemediesGeneral);
        assert!(s.facts.is_empty());
    }

    #[test]
    fn every_wording_entry_has_its_own_key() {
        let keys: std::collections::BTreeSet<&str> = Wording::all().map(|w| w.key()).collect();
        assert_eq!(keys.len(), Wording::all().count());
        assert!(!keys.contains(""));
        for w in Wording::all() {
            assert_eq!(Wording::of_key(w.key()), Some(w));
        }
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
