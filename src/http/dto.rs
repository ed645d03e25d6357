//! What the REST API sends: views of stored rows, kept apart from the rows and the domain types.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::intake::{CaseAssessment, IntakeResult};
use crate::store::{CaseRow, EventRow, NoticeRow};

/// The applicant as recorded on a case.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ApplicantView {
    pub kind: String,
    pub name: String,
    pub id_number: Option<String>,
}

/// A case (办件).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CaseView {
    pub id: String,
    pub matter_code: String,
    pub bundle_code: Option<String>,
    /// `refused`, `awaiting_supplement`, `accepted` or `completed`.
    pub status: String,
    /// The outcome of the latest assessment.
    pub outcome: String,
    /// The center that took the case (township or county id).
    pub center_id: String,
    pub township: Option<String>,
    pub village: Option<String>,
    pub window_id: Option<String>,
    /// `window`, `online` or `agent`.
    pub channel: String,
    /// 首问负责人: the user who took the case.
    pub clerk_id: String,
    pub agent_id: Option<String>,
    pub applicant: ApplicantView,
    /// Content hash of the catalog version the case is assessed under.
    pub catalog_version: String,
    pub received_on: String,
    /// Promised completion date, when accepted.
    pub due_date: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub row_version: i64,
}

impl From<&CaseRow> for CaseView {
    fn from(c: &CaseRow) -> Self {
        Self {
            id: c.id.clone(),
            matter_code: c.matter_code.clone(),
            bundle_code: c.bundle_code.clone(),
            status: c.status.clone(),
            outcome: c.outcome.clone(),
            center_id: c.center_id.clone(),
            township: c.township.clone(),
            village: c.village.clone(),
            window_id: c.window_id.clone(),
            channel: c.channel.clone(),
            clerk_id: c.clerk_id.clone(),
            agent_id: c.agent_id.clone(),
            applicant: ApplicantView {
                kind: c.applicant_kind.clone(),
                name: c.applicant_name.clone(),
                id_number: c.applicant_id_number.clone(),
            },
            catalog_version: c.catalog_hash.clone(),
            received_on: c.received_on.clone(),
            due_date: c.due_date.clone(),
            created_at_ms: c.created_at,
            updated_at_ms: c.updated_at,
            row_version: c.row_version,
        }
    }
}

impl CaseView {
    /// The view for roles that see personal data masked in lists (see `app::personal`).
    pub fn masked(c: &CaseRow) -> Self {
        let mut v = CaseView::from(c);
        v.applicant.name = crate::domain::id_number::mask_name(&v.applicant.name);
        v.applicant.id_number = v
            .applicant
            .id_number
            .as_deref()
            .map(crate::domain::id_number::mask_number);
        v
    }
}

/// One logged read of a case's personal data.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PersonalDataReadView {
    pub id: i64,
    pub at_ms: i64,
    pub user_id: String,
    pub role: String,
    pub case_id: String,
    /// The route, e.g. `GET /api/v1/cases/{id}`.
    pub endpoint: String,
}

impl From<&crate::store::ReadRow> for PersonalDataReadView {
    fn from(r: &crate::store::ReadRow) -> Self {
        Self {
            id: r.id,
            at_ms: r.at,
            user_id: r.user_id.clone(),
            role: r.role.clone(),
            case_id: r.case_id.clone(),
            endpoint: r.endpoint.clone(),
        }
    }
}

/// A page of the personal-data read log, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PersonalDataReadsPage {
    pub reads: Vec<PersonalDataReadView>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// A notice with its number.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NoticeView {
    pub id: String,
    pub case_id: String,
    /// `supplement`, `acceptance`, `refusal`, `deferral_commitment`, `immediate_decision`,
    /// `approval`, `disapproval`, `deemed_approval`, `special_procedure`, `extension` or
    /// `termination`.
    pub kind: String,
    /// e.g. 白水镇政务〔2026〕受字第0001号
    pub number: String,
    pub issued_on: String,
    /// The printable A4 page.
    pub print_url: String,
    /// Title, center, seal, paragraphs and items of the notice.
    pub content: Value,
}

impl From<&NoticeRow> for NoticeView {
    fn from(n: &NoticeRow) -> Self {
        Self {
            id: n.id.clone(),
            case_id: n.case_id.clone(),
            kind: n.kind.clone(),
            number: n.number.clone(),
            issued_on: n.issued_on.clone(),
            print_url: format!("/api/v1/notices/{}/print", n.id),
            content: serde_json::from_str(&n.content).unwrap_or(Value::Null),
        }
    }
}

/// The answer to an intake or a supplement: the case, the outcome and the notices to print.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct IntakeResponse {
    pub case: CaseView,
    pub outcome: String,
    /// The full assessment (one matter, or a bundle with each matter's assessment).
    #[schemars(with = "crate::domain::case::CaseAssessment")]
    pub assessment: Value,
    pub notices: Vec<NoticeView>,
    /// True when this answers a retry with the same Idempotency-Key.
    pub replayed: bool,
}

impl From<&IntakeResult> for IntakeResponse {
    fn from(r: &IntakeResult) -> Self {
        Self {
            case: (&r.case).into(),
            outcome: r.assessment.outcome().as_str().to_string(),
            assessment: serde_json::to_value(&r.assessment).unwrap_or(Value::Null),
            notices: r.notices.iter().map(NoticeView::from).collect(),
            replayed: r.replayed,
        }
    }
}

/// One case with its assessment.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CaseDetail {
    pub case: CaseView,
    #[schemars(with = "crate::domain::case::CaseAssessment")]
    pub assessment: Value,
}

impl CaseDetail {
    pub fn new(case: &CaseRow, assessment: &CaseAssessment) -> Self {
        Self {
            case: case.into(),
            assessment: serde_json::to_value(assessment).unwrap_or(Value::Null),
        }
    }
}

/// A page of cases.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CasePageView {
    pub cases: Vec<CaseView>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// One entry of a case's history.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EventView {
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub catalog_version: String,
    /// What the entry records (its fields depend on the action).
    #[schemars(with = "Option<serde_json::Map<String, Value>>")]
    pub detail: Value,
}

impl From<&EventRow> for EventView {
    fn from(e: &EventRow) -> Self {
        Self {
            id: e.id,
            at_ms: e.at,
            actor: e.actor.clone(),
            action: e.action.clone(),
            catalog_version: e.catalog_hash.clone(),
            detail: serde_json::from_str(&e.detail).unwrap_or(Value::Null),
        }
    }
}

/// A matter in the list.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MatterSummary {
    pub code: String,
    pub name: String,
    #[serde(rename = "type")]
    pub matter_type: String,
    pub type_label: String,
    /// Levels whose windows accept it.
    pub accept: Vec<String>,
    /// The level that decides by default.
    pub decide_level: String,
    /// `immediate` or `promised`.
    pub handling: String,
    pub promised_days: u32,
    pub statutory_days: u32,
}

/// A bundle in the list.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct BundleView {
    pub code: String,
    pub name: String,
    pub description: Option<String>,
    pub matters: Vec<String>,
}

/// A matter's service guide.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct GuideView {
    pub code: String,
    pub name: String,
    /// The 办事指南 as Markdown (六公开).
    pub markdown: String,
    pub html_url: String,
}

/// The active catalog.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CatalogStatus {
    pub name: String,
    /// The version policy staff declared.
    pub version: String,
    /// Content hash: the exact identity of the version.
    pub hash: String,
    pub matters: usize,
    pub bundles: usize,
    pub examples: usize,
    pub calendar_from: String,
    pub calendar_until: String,
    /// From 1 November while next year's calendar is missing.
    pub calendar_warning: Option<String>,
    pub warnings: Vec<String>,
    /// When and by what (`startup`, `watch`, `admin`, `sighup`) this version was activated.
    pub activated: crate::app::Activation,
    /// The latest reload attempt, with its errors if it was rejected.
    pub last_attempt: Option<crate::app::ReloadAttempt>,
}

/// `/healthz` and `/readyz`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HealthStatus {
    pub status: String,
    pub catalog: Option<String>,
    pub database: Option<String>,
    /// The last day of the published working-day calendar (`/readyz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar_until: Option<String>,
    /// From 1 November while next year's calendar is missing (`/readyz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar_warning: Option<String>,
}
