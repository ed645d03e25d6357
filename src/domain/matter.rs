//! The rule-file model of a matter (政务服务事项): what policy staff write in `rules/matters/*.yaml`.
//!
//! These types are pure data. Scripts are kept as source text here; the catalog loader compiles them.
//! The JSON Schema of the rule files (`yichuang rules schema`) is generated from these types, so every
//! doc comment below is what an editor shows while a policy officer types.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::application::Application;

/// One matter (政务服务事项) with its service guide, rules and golden examples.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Matter {
    /// 事项编码 (实施编码): unique in the catalog, e.g. `QS-XK-0012`.
    pub code: String,
    /// 事项名称.
    pub name: String,
    /// 事项类型.
    #[serde(rename = "type")]
    pub matter_type: MatterType,
    /// 设定依据: laws and regulations that create this matter.
    pub basis: Vec<String>,
    /// 服务对象: who may apply.
    pub subjects: Vec<SubjectKind>,
    /// 受理条件 and any explanation printed in the service guide.
    #[serde(default)]
    pub description: Option<String>,
    /// Who accepts and who decides (with per-township devolution).
    pub jurisdiction: Jurisdiction,
    /// 即办/承诺, time limits and special procedures.
    pub handling: Handling,
    /// The application form: typed fields with checks.
    #[serde(default)]
    pub form: Vec<FieldSpec>,
    /// 申请材料.
    #[serde(default)]
    pub materials: Vec<MaterialSpec>,
    /// 不予受理 conditions, evaluated all together (none short-circuits).
    #[serde(default)]
    pub refusals: Vec<RefusalRule>,
    /// Errors the applicant can correct on the spot (可当场更正); listed on the one-time notice.
    #[serde(default)]
    pub corrections: Vec<CorrectionRule>,
    /// Route variants: the first whose selectors match is used.
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    /// 收费: empty means free of charge (不收费).
    #[serde(default)]
    pub fees: Vec<Fee>,
    /// 审批结果.
    pub result: ResultSpec,
    /// 送达方式: how the result may be delivered.
    #[serde(default = "default_delivery")]
    pub delivery: Vec<DeliveryMethod>,
    /// Golden examples that `yichuang rules test` runs.
    #[serde(default)]
    pub examples: Vec<Example>,
    /// 适用于在办件: when this version of the matter goes live, cases already open move to it at
    /// their next step (recorded in their history). By default open cases keep the version they
    /// were taken under.
    #[serde(default)]
    pub apply_to_open_cases: bool,
    /// 国家标准编码 (GB/T 39554.1-2020), reported to the provincial platform (SXBM): the 12-character
    /// 基本编码 and the 31-character 实施编码. Optional; without them the provincial profile
    /// reports `code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub national_codes: Option<NationalCodes>,
}

/// A matter's national codes (GB/T 39554.1-2020).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NationalCodes {
    /// 基本编码: 12 characters.
    #[serde(default)]
    #[schemars(length(min = 12, max = 12))]
    pub basic: Option<String>,
    /// 实施编码: 31 characters, starting with the implementing agency's 18-character 统一社会信用代码.
    #[serde(default)]
    #[schemars(length(min = 31, max = 31))]
    pub implementation: Option<String>,
}

fn default_delivery() -> Vec<DeliveryMethod> {
    vec![DeliveryMethod::WindowPickup]
}

/// 事项类型.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatterType {
    /// 行政许可
    AdministrativeLicense,
    /// 行政给付
    AdministrativePayment,
    /// 行政确认
    AdministrativeConfirmation,
    /// 行政裁决
    AdministrativeRuling,
    /// 行政奖励
    AdministrativeReward,
    /// 其他行政权力
    OtherPower,
    /// 公共服务
    PublicService,
}

impl MatterType {
    pub fn label(self) -> &'static str {
        match self {
            Self::AdministrativeLicense => "行政许可",
            Self::AdministrativePayment => "行政给付",
            Self::AdministrativeConfirmation => "行政确认",
            Self::AdministrativeRuling => "行政裁决",
            Self::AdministrativeReward => "行政奖励",
            Self::OtherPower => "其他行政权力",
            Self::PublicService => "公共服务",
        }
    }
}

/// 服务对象.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// 自然人
    NaturalPerson,
    /// 企业法人
    EnterpriseLegalPerson,
    /// 事业法人
    PublicInstitution,
    /// 社会组织法人
    SocialOrganization,
    /// 非法人企业 (including 个体工商户)
    UnincorporatedEnterprise,
    /// 行政机关
    AdministrativeOrgan,
    /// 其他组织
    OtherOrganization,
}

impl SubjectKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::NaturalPerson => "自然人",
            Self::EnterpriseLegalPerson => "企业法人",
            Self::PublicInstitution => "事业法人",
            Self::SocialOrganization => "社会组织法人",
            Self::UnincorporatedEnterprise => "非法人企业",
            Self::AdministrativeOrgan => "行政机关",
            Self::OtherOrganization => "其他组织",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NaturalPerson => "natural_person",
            Self::EnterpriseLegalPerson => "enterprise_legal_person",
            Self::PublicInstitution => "public_institution",
            Self::SocialOrganization => "social_organization",
            Self::UnincorporatedEnterprise => "unincorporated_enterprise",
            Self::AdministrativeOrgan => "administrative_organ",
            Self::OtherOrganization => "other_organization",
        }
    }
}

/// Administrative level (行使层级).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 村（社区）
    Village,
    /// 乡镇（街道）
    Township,
    /// 县（区）
    County,
}

impl Level {
    pub fn label(self) -> &'static str {
        match self {
            Self::Village => "村（社区）",
            Self::Township => "乡镇（街道）",
            Self::County => "县",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Village => "village",
            Self::Township => "township",
            Self::County => "county",
        }
    }
}

/// A department at a level: resolved against the case's own township or county.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitRef {
    pub level: Level,
    /// Department id from `org.yaml` (the county's departments, or each township's offices).
    pub department: String,
}

/// Who accepts and who decides.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Jurisdiction {
    /// Levels whose windows may take the application. `village` means a village agent (代办员)
    /// may submit it on the applicant's behalf (全程代办).
    pub accept: Vec<Level>,
    /// The deciding unit by default.
    pub decide: UnitRef,
    /// 有差别下放: townships where a different unit decides (e.g. the township itself).
    #[serde(default)]
    pub devolved: Vec<Devolution>,
}

/// Per-township override of the deciding unit.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Devolution {
    /// Township ids from `org.yaml`.
    pub townships: Vec<String>,
    pub decide: UnitRef,
}

/// 办件类型.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandlingKind {
    /// 即办件: decided at the window when complete (行政许可法 Art. 34).
    Immediate,
    /// 承诺件: accepted with a promised completion date.
    Promised,
}

/// 特别程序 whose time is not counted (行政许可法 Art. 45).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpecialProcedureKind {
    /// 听证
    Hearing,
    /// 招标
    Bidding,
    /// 拍卖
    Auction,
    /// 检验
    Inspection,
    /// 检测
    Testing,
    /// 检疫
    Quarantine,
    /// 鉴定
    Appraisal,
    /// 专家评审
    ExpertReview,
}

impl SpecialProcedureKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Hearing => "听证",
            Self::Bidding => "招标",
            Self::Auction => "拍卖",
            Self::Inspection => "检验",
            Self::Testing => "检测",
            Self::Quarantine => "检疫",
            Self::Appraisal => "鉴定",
            Self::ExpertReview => "专家评审",
        }
    }
}

/// What happens when a step or case runs past its promised time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutPolicy {
    /// Remind the responsible unit (default).
    #[default]
    Remind,
    /// Escalate to the supervisor (督查).
    Escalate,
    /// 超时默认: deemed approved, where the matter's policy says so.
    DeemApproved,
}

/// Handling: case kind and time limits, all in working days.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Handling {
    pub kind: HandlingKind,
    /// 法定办结时限 in working days (Art. 42: 20; joint handling Art. 26: 45). 0 for 即办件.
    pub statutory_days: u32,
    /// 承诺办结时限 in working days; local practice sets it at least 30% below the statutory limit.
    pub promised_days: u32,
    /// 特别程序 that may apply to this matter.
    #[serde(default)]
    pub special_procedures: Vec<SpecialProcedureKind>,
    /// Extension the agency head may grant (Art. 42: 10, joint handling 15), in working days.
    #[serde(default = "default_extension_days")]
    pub extension_days: u32,
    /// 到办事现场次数.
    #[serde(default = "default_visits")]
    pub visits: u32,
    /// Policy when the promised time runs out.
    #[serde(default)]
    pub timeout: TimeoutPolicy,
    /// How many extensions (Art. 42) a case may get; the law allows one.
    #[serde(default = "default_max_extensions")]
    pub max_extensions: u32,
    /// How a 容缺 case ends when the promised materials are not supplied in time.
    #[serde(default)]
    pub deferred_lapse: DeferredLapse,
    /// Working days a one-time notice (补正) stays open; then the case ends as 逾期未补正.
    /// Absent: the catalog's `supplement_days`.
    #[serde(default)]
    pub supplement_days: Option<u32>,
}

/// How a 容缺受理 case ends when its deferred materials are not supplied by their date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeferredLapse {
    /// 终止办理 (default): the case ends without a decision; the applicant may apply again.
    #[default]
    Terminate,
    /// 不予许可: the case is decided against the applicant.
    Disapprove,
}

fn default_max_extensions() -> u32 {
    1
}

fn default_extension_days() -> u32 {
    10
}
fn default_visits() -> u32 {
    1
}

/// The type of a form field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    /// Any number (integer or decimal).
    Number,
    Integer,
    /// ISO date `YYYY-MM-DD`.
    Date,
    /// One of `options`.
    Enum,
    Boolean,
    /// 18-digit resident ID number (checked: length, birth date, check digit).
    IdNumber,
    /// Mainland mobile or landline number.
    Phone,
    /// A postal address (text of at least 5 characters).
    Address,
    /// A list of `items`.
    List,
    /// A record of named `fields` (used as list items, e.g. household members).
    Record,
}

impl FieldType {
    pub fn label(self) -> &'static str {
        match self {
            Self::Text => "文本",
            Self::Number => "数字",
            Self::Integer => "整数",
            Self::Date => "日期",
            Self::Enum => "选项",
            Self::Boolean => "是/否",
            Self::IdNumber => "身份证号码",
            Self::Phone => "电话号码",
            Self::Address => "地址",
            Self::List => "列表",
            Self::Record => "记录",
        }
    }
}

/// A form field.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Field id used in applications and scripts (`fields.<id>`): lowercase letters, digits, `_`.
    pub id: String,
    /// The label printed on forms and notices.
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default)]
    pub required: bool,
    /// rhai condition: the field is required when it is true.
    #[serde(default)]
    pub required_if: Option<String>,
    /// Allowed values of an `enum` field.
    #[serde(default)]
    pub options: Vec<String>,
    /// Smallest value (number/integer) or fewest items (list).
    #[serde(default)]
    pub min: Option<f64>,
    /// Largest value (number/integer) or most items (list).
    #[serde(default)]
    pub max: Option<f64>,
    /// Fewest characters (text/address).
    #[serde(default)]
    pub min_len: Option<usize>,
    /// Most characters (text/address); defaults to 200.
    #[serde(default)]
    pub max_len: Option<usize>,
    /// Item type of a `list`.
    #[serde(default)]
    pub items: Option<Box<FieldSpec>>,
    /// Sub-fields of a `record`.
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
    /// rhai checks: each `rule` must be true for a present value (`value` is the field's value).
    #[serde(default)]
    pub checks: Vec<ScriptCheck>,
    /// Help text for the form.
    #[serde(default)]
    pub help: Option<String>,
}

/// A rhai check with the message shown when it fails.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptCheck {
    /// rhai expression that must be true.
    pub rule: String,
    /// What the notice says when it is false (Chinese, for the applicant).
    pub message: String,
}

/// 材料类型.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaterialForm {
    /// 原件 (an original also satisfies a copy requirement).
    #[default]
    Original,
    /// 复印件
    Copy,
    /// 原件及复印件: original shown for checking, copies kept.
    OriginalAndCopy,
}

impl MaterialForm {
    pub fn label(self) -> &'static str {
        match self {
            Self::Original => "原件",
            Self::Copy => "复印件",
            Self::OriginalAndCopy => "原件及复印件",
        }
    }
}

/// 材料形式.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Medium {
    /// 纸质
    Paper,
    /// 电子
    Electronic,
    /// 纸质或电子
    #[default]
    Any,
}

impl Medium {
    pub fn label(self) -> &'static str {
        match self {
            Self::Paper => "纸质",
            Self::Electronic => "电子",
            Self::Any => "纸质或电子",
        }
    }
}

/// 必要性.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Necessity {
    /// 必要
    #[default]
    Required,
    /// 非必要
    Optional,
    /// 容缺后补: may follow after acceptance on the applicant's written commitment.
    Deferrable,
}

impl Necessity {
    pub fn label(self) -> &'static str {
        match self {
            Self::Required => "必要",
            Self::Optional => "非必要",
            Self::Deferrable => "容缺后补",
        }
    }
}

/// 受理标准 of a material: a keyword (`not_expired`, `signed`, `sealed`), or a one-key map
/// (`{ issued_within_days: 90 }`, `{ check: { rule: ..., message: ... } }`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Standard {
    Keyword(StandardKeyword),
    /// 出具日期在 N 日（自然日）以内: `issued_on` is required.
    IssuedWithinDays {
        issued_within_days: u32,
    },
    /// A rhai check (`material` is the presented material, `fields` the form).
    Check {
        check: ScriptCheck,
    },
}

/// Standards named by a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StandardKeyword {
    /// 在有效期内: `expires_on`, when given, is not before today.
    NotExpired,
    /// 须申请人签名.
    Signed,
    /// 须加盖公章.
    Sealed,
}

/// 申请材料.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaterialSpec {
    /// Material id used in applications and scripts.
    pub id: String,
    /// 材料名称.
    pub name: String,
    #[serde(default)]
    pub form: MaterialForm,
    /// 份数.
    #[serde(default = "default_copies")]
    pub copies: u32,
    #[serde(default)]
    pub medium: Medium,
    #[serde(default)]
    pub necessity: Necessity,
    /// For `deferrable`: working days after acceptance to supply it (default 5).
    #[serde(default)]
    pub defer_days: Option<u32>,
    /// 来源渠道: the issuing department; omitted means 申请人自备.
    #[serde(default)]
    pub issued_by: Option<UnitRef>,
    /// 受理标准.
    #[serde(default)]
    pub standards: Vec<Standard>,
    /// 要求提供材料的依据.
    #[serde(default)]
    pub basis: Option<String>,
    /// rhai condition: the material is required only when it is true.
    #[serde(default)]
    pub when: Option<String>,
    /// 空白表格/示例样表: a reference to the blank form or sample.
    #[serde(default)]
    pub sample: Option<String>,
}

fn default_copies() -> u32 {
    1
}

/// Why an application is refused (不予受理).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// 不符合受理条件
    Ineligible,
    /// 不属于本机关职权范围 (name the competent agency).
    OutsidePower,
    /// 依法不需要取得行政许可/办理 (Art. 32 (1)).
    NotRequired,
    /// 依法禁止
    Prohibited,
}

impl RefusalKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Ineligible => "不符合受理条件",
            Self::OutsidePower => "不属于本机关职权范围",
            Self::NotRequired => "依法不需要办理",
            Self::Prohibited => "依法禁止",
        }
    }
}

/// A 不予受理 condition.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefusalRule {
    /// Rule id (named in examples and notices).
    pub id: String,
    /// rhai condition: the application is refused when it is true.
    #[serde(rename = "if")]
    pub condition: String,
    pub kind: RefusalKind,
    /// The reason printed on the 不予受理决定书.
    pub reason: String,
    /// 法律依据.
    pub basis: String,
    /// For `outside_power`: the agency that is competent.
    #[serde(default)]
    pub competent_agency: Option<String>,
}

/// An error the applicant may correct on the spot.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRule {
    pub id: String,
    /// rhai condition: a correction is needed when it is true.
    #[serde(rename = "if")]
    pub condition: String,
    /// What to correct (printed on the one-time notice).
    pub message: String,
    /// The form field concerned, if any.
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub basis: Option<String>,
}

/// A route variant.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Name of the route, shown on the acceptance notice.
    pub name: String,
    /// Use this route only where the deciding unit (after devolution) is at this level.
    #[serde(default)]
    pub decide_level: Option<Level>,
    /// rhai condition choosing this route.
    #[serde(default)]
    pub when: Option<String>,
    /// Steps in order; consecutive steps with the same `parallel` label run in parallel (联办).
    pub steps: Vec<StepSpec>,
}

/// The role a step plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepRole {
    /// 审核 / 初审 (a lower level reviewing before forwarding is a report-up, Art. 43).
    Review,
    /// 审批决定
    #[default]
    Decide,
    /// 会签 by a joint department.
    Countersign,
}

/// Which unit handles a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StepUnit {
    /// `accepting` (the window's own center) or `deciding` (the matter's deciding unit).
    Role(UnitRole),
    /// An explicit department at a level.
    Unit(UnitRef),
}

/// A unit named by its role for this case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnitRole {
    /// The accepting center (the township or county window that took the case).
    Accepting,
    /// The deciding unit of the matter for this township.
    Deciding,
}

/// A routing step.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub role: StepRole,
    pub unit: StepUnit,
    /// Time budget in working days.
    pub days: u32,
    /// Label of a parallel group (联办/并联审批).
    #[serde(default)]
    pub parallel: Option<String>,
    /// Whether approvers may add a countersigning department (加签).
    #[serde(default)]
    pub allow_countersign: bool,
    /// Timeout policy of this step (defaults to the matter's).
    #[serde(default)]
    pub timeout: Option<TimeoutPolicy>,
    /// Whether this step's refusal decides the case (default true: in a parallel group every
    /// department must agree). When false the refusal is recorded as an opinion and the route
    /// goes on.
    #[serde(default = "default_true")]
    pub refusal_decides: bool,
}

fn default_true() -> bool {
    true
}

/// 收费.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fee {
    /// 收费项目.
    pub item: String,
    /// 收费标准.
    pub standard: String,
    /// 收费依据.
    pub basis: String,
    /// 减免政策.
    #[serde(default)]
    pub reductions: Option<String>,
}

/// 审批结果类型.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResultKind {
    /// 证照
    Certificate,
    /// 批准文书
    ApprovalDocument,
    /// 待遇/补贴发放
    Benefit,
    /// 证明
    Attestation,
    /// 其他
    Other,
}

impl ResultKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Certificate => "证照",
            Self::ApprovalDocument => "批准文书",
            Self::Benefit => "待遇发放",
            Self::Attestation => "证明",
            Self::Other => "其他",
        }
    }
}

/// 审批结果.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ResultKind,
    /// 证照编号格式 (see [`NumberPattern`]), e.g. `青林采〔{year}〕{seq:5}号`: each result issued
    /// (即办件, 准予, 超时默认) gets the next number of its series, without gaps. Omitted: the
    /// result carries no number of its own (the decision's 文号 stands for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
}

/// The format of a result's number (证照编号): literal text with `{seq}` (the position in the
/// series, or `{seq:N}` zero-padded to N digits, N from 1 to 12) exactly once, and `{year}` at
/// most once. The series is the pattern itself, counted per year when `{year}` is in it and
/// for ever when it is not, so one pattern never gives the same number twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPattern {
    before: String,
    width: usize,
    after: String,
    /// Whether `{year}` is in the pattern (on either side of `{seq}`).
    uses_year: bool,
}

impl NumberPattern {
    const YEAR: &'static str = "{year}";

    pub fn parse(pattern: &str) -> Result<Self, String> {
        if pattern.chars().count() > 60 {
            return Err("编号格式超过 60 个字 / the pattern is longer than 60 characters".into());
        }
        let uses_year = pattern.matches(Self::YEAR).count();
        if uses_year > 1 {
            return Err("{year} 只能出现一次 / {year} may appear once".into());
        }
        let start = pattern
            .find("{seq")
            .ok_or("编号格式必须含 {seq} / the pattern needs {seq}")?;
        let end = start
            + pattern[start..]
                .find('}')
                .ok_or("{seq 没有闭合 / {seq is not closed")?;
        let width = match &pattern[start + 4..end] {
            "" => 1,
            spec => spec
                .strip_prefix(':')
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| (1..=12).contains(n))
                .ok_or("{seq:N} 的 N 应为 1 到 12 / N of {seq:N} is 1 to 12")?,
        };
        let (before, after) = (&pattern[..start], &pattern[end + 1..]);
        for part in [before, after] {
            if part.replace(Self::YEAR, "").contains(['{', '}']) {
                return Err("只能使用 {year} 和 {seq} / only {year} and {seq} may be used".into());
            }
        }
        Ok(Self {
            before: before.to_string(),
            width,
            after: after.to_string(),
            uses_year: uses_year == 1,
        })
    }

    /// The year of the series a number issued in `year` is taken from (0: one series for ever).
    pub fn series_year(&self, year: i32) -> i32 {
        if self.uses_year {
            year
        } else {
            0
        }
    }

    /// Number `seq` of the series, issued in `year`.
    pub fn format(&self, year: i32, seq: i64) -> String {
        let y = year.to_string();
        format!(
            "{}{seq:0width$}{}",
            self.before.replace(Self::YEAR, &y),
            self.after.replace(Self::YEAR, &y),
            width = self.width
        )
    }
}

/// 送达方式.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMethod {
    /// 窗口领取
    WindowPickup,
    /// 邮寄（EMS）
    Mail,
    /// 电子证照
    Electronic,
}

impl DeliveryMethod {
    pub fn label(self) -> &'static str {
        match self {
            Self::WindowPickup => "窗口领取",
            Self::Mail => "邮寄送达",
            Self::Electronic => "电子证照",
        }
    }
}

/// A golden example: an application and the outcome it must get.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub name: String,
    /// The day of intake.
    pub today: NaiveDate,
    /// Township whose window takes the case; omitted = the county center.
    #[serde(default)]
    pub township: Option<String>,
    /// Village whose agent submits the case (implies channel `agent`).
    #[serde(default)]
    pub village: Option<String>,
    pub application: Application,
    pub expect: Expectation,
}

/// What an example expects. Only the keys given are compared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub outcome: super::assessment::Outcome,
    /// Promised completion date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<NaiveDate>,
    /// Ids of the materials and fields on the one-time notice, in any order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defects: Option<Vec<String>>,
    /// Ids of the refusal rules (or built-in refusals) that fire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusals: Option<Vec<String>>,
    /// Ids of the materials accepted under 容缺.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deferred: Option<Vec<String>>,
    /// Step ids of the route, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Vec<String>>,
    /// The deciding unit id (e.g. `qingshan/civil-affairs` or `baishui/social-affairs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decider: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::NumberPattern;

    #[test]
    fn result_numbers_follow_their_pattern() {
        let p = NumberPattern::parse("青林采〔{year}〕{seq:5}号").unwrap();
        assert_eq!(p.format(2026, 7), "青林采〔2026〕00007号");
        assert_eq!(p.series_year(2026), 2026);
        let p = NumberPattern::parse("QS{seq:8}").unwrap();
        assert_eq!(p.format(2026, 123), "QS00000123");
        assert_eq!(p.series_year(2026), 0, "no year: one series for ever");
        let p = NumberPattern::parse("{seq}-{year}").unwrap();
        assert_eq!(p.format(2027, 12), "12-2027");
        for bad in [
            "青林采",
            "{seq:0}",
            "{seq:13}",
            "{seq:x}",
            "{seq}{seq}",
            "{year}{year}{seq}",
            "{seq}{month}",
            "{seq",
        ] {
            assert!(NumberPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
