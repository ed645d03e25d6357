//! The answer of the intake decision: one outcome with everything the notice must say.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::matter::{
    Fee, Level, MaterialForm, Medium, Necessity, RefusalKind, StepRole, TimeoutPolicy,
};

/// The outcome of an intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 不予受理
    Refused,
    /// 一次性告知: materials or fields to supply or correct.
    #[default]
    SupplementNeeded,
    /// 即办件: accepted and decided at the window.
    AcceptedImmediate,
    /// 承诺件: accepted with a promised completion date.
    AcceptedPromised,
    /// 容缺受理: accepted; deferrable materials follow by a date.
    AcceptedDeferred,
}

impl Outcome {
    /// The outcome as rule files and scripts name it (not a lifecycle state).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refused => "refused", // not a lifecycle state: the rule files' outcome name
            Self::SupplementNeeded => "supplement_needed",
            Self::AcceptedImmediate => "accepted_immediate",
            Self::AcceptedPromised => "accepted_promised",
            Self::AcceptedDeferred => "accepted_deferred",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Refused => "不予受理",
            Self::SupplementNeeded => "一次性告知补正",
            Self::AcceptedImmediate => "受理并当场办结（即办件）",
            Self::AcceptedPromised => "受理（承诺件）",
            Self::AcceptedDeferred => "容缺受理",
        }
    }
    pub fn is_accepted(self) -> bool {
        matches!(
            self,
            Self::AcceptedImmediate | Self::AcceptedPromised | Self::AcceptedDeferred
        )
    }
}

/// A due date in working days. `date` is `None` when the calendar does not reach that far: the
/// deadline cannot be computed exactly and the notice says so instead of guessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DueDate {
    pub working_days: u32,
    pub date: Option<NaiveDate>,
    pub beyond_coverage: bool,
}

/// Why the application is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Refusal {
    /// The refusal rule id, or a built-in one (`subject_not_served`, `not_accepted_at_level`).
    pub rule: String,
    pub kind: RefusalKind,
    pub reason: String,
    pub basis: String,
    pub competent_agency: Option<String>,
}

/// What is wrong with one material or field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DefectKind {
    /// 缺少材料
    Missing,
    /// 应提供原件
    WrongForm,
    /// 份数不足
    TooFewCopies,
    /// 材料形式不符
    WrongMedium,
    /// 已过有效期
    Expired,
    /// 未签名
    Unsigned,
    /// 未盖章
    Unsealed,
    /// 出具时间过久
    TooOld,
    /// 不符合受理标准
    CheckFailed,
    /// 必填项未填
    FieldRequired,
    /// 填写有误
    FieldInvalid,
    /// 可当场更正的错误
    Correction,
}

/// Whether a defect concerns a material or a form field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DefectTarget {
    Material,
    Field,
}

/// One line of the one-time notice (一次性告知书).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Defect {
    pub target: DefectTarget,
    /// Material id, or field path (e.g. `members[1].id_number`, `applicant.id_number`).
    pub id: String,
    /// Material name or field label.
    pub name: String,
    pub kind: DefectKind,
    /// What to do, in words the applicant reads.
    pub reason: String,
    /// The legal basis for requiring it.
    pub basis: Option<String>,
    /// Where to obtain it (申请人自备, or the issuing department).
    pub obtain_from: Option<String>,
}

/// The status of one required material in this application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaterialStatus {
    Provided,
    Missing,
    Defective,
    /// 容缺: to follow by a date.
    Deferred,
    /// Optional and not provided.
    NotProvided,
}

/// A material this applicant must provide (after the matter's conditions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequiredMaterial {
    pub id: String,
    pub name: String,
    pub form: MaterialForm,
    pub copies: u32,
    pub medium: Medium,
    pub necessity: Necessity,
    pub obtain_from: String,
    pub basis: Option<String>,
    pub status: MaterialStatus,
}

/// A material accepted under 容缺, to be supplied by a date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeferredMaterial {
    pub id: String,
    pub name: String,
    pub supply_by: DueDate,
}

/// A unit resolved for this case: a department at the case's county or township.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UnitAssignment {
    /// `<county or township id>/<department id>`, e.g. `baishui/social-affairs`.
    pub unit_id: super::unit::UnitId,
    pub name: String,
    pub level: Level,
}

/// One planned step of the route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedStep {
    pub id: String,
    pub name: String,
    pub role: StepRole,
    pub unit: UnitAssignment,
    /// Steps with the same group number run in parallel; groups run in order.
    pub group: u32,
    pub days: u32,
    pub due: DueDate,
    pub allow_countersign: bool,
    pub timeout: TimeoutPolicy,
    /// Whether a refusal at this step decides the case (absent = true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub refusal_decides: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// The route of an accepted case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoutePlan {
    pub name: String,
    /// 上报件: a lower level reviews and a higher level decides (Arts. 35, 43).
    pub report_up: bool,
    /// 联办件: several departments in parallel.
    pub joint: bool,
    pub steps: Vec<PlannedStep>,
}

/// The assessment of one application for one matter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Assessment {
    pub matter_code: String,
    pub matter_name: String,
    pub assessed_on: NaiveDate,
    pub outcome: Outcome,
    pub accepting_level: Level,
    pub refusals: Vec<Refusal>,
    /// Every defect at once (一次性告知).
    pub defects: Vec<Defect>,
    pub deferred: Vec<DeferredMaterial>,
    pub materials: Vec<RequiredMaterial>,
    pub decider: UnitAssignment,
    pub route: Option<RoutePlan>,
    /// 承诺办结日期 for an accepted case.
    pub due: Option<DueDate>,
    /// 法定办结日期 for an accepted case.
    pub statutory_due: Option<DueDate>,
    pub fees: Vec<Fee>,
    /// Things the clerk must know (e.g. a deadline beyond the published calendar).
    pub warnings: Vec<String>,
}

/// The assessment of a bundle (一件事一次办).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BundleAssessment {
    pub bundle_code: String,
    pub bundle_name: String,
    pub assessed_on: NaiveDate,
    pub outcome: Outcome,
    /// Each matter's own assessment.
    pub matters: Vec<Assessment>,
    /// Defects of the whole bundle, each shared material named once.
    pub defects: Vec<Defect>,
    pub refusals: Vec<Refusal>,
    /// The latest promised date of the matters.
    pub due: Option<DueDate>,
    pub warnings: Vec<String>,
}
