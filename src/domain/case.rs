//! A case (办件): one intake of one matter or of a bundle (一件事), from the first answer at the
//! window to its end. The stored assessment and application are decoded once, at the store's
//! edge, into these types.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::application::{Application, Channel};
use super::assessment::{Assessment, BundleAssessment, Outcome};
use super::matter::SubjectKind;

/// A case id: `<COUNTY>-<yyyymmdd>-<time and random part>`; not guessable from another case's.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct CaseId(pub String);

impl CaseId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CaseId {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

/// Where a case stands, as a whole. Each matter of a bundle has its own [`PartStatus`]; the
/// case's status follows from them (see [`CaseStatus::of_parts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// 一次性告知 issued; the applicant supplies the rest (补正).
    AwaitingSupplement,
    /// 不予受理.
    Refused,
    /// Accepted; handling in progress.
    Accepted,
    /// Every open matter is in a 特别程序 (the clock stands still).
    Paused,
    /// 即办件: accepted and decided at the window.
    Completed,
    /// Every matter decided.
    Decided,
    /// Every result handed over (统一窗口出件).
    Delivered,
    /// Ended without a decision: 容缺 materials not supplied in time.
    Terminated,
    /// 撤回: the applicant withdrew before the decision.
    Withdrawn,
    /// 逾期未补正: the one-time notice was not answered in time.
    Lapsed,
}

impl CaseStatus {
    /// Whether the case has ended: nothing more happens to its matters but the handing over of
    /// a result and the follow-up of a rating (see [`super::handling::finished`]).
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            Self::AwaitingSupplement | Self::Accepted | Self::Paused
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::AwaitingSupplement => "待补正",
            Self::Refused => "不予受理",
            Self::Accepted => "办理中",
            Self::Paused => "特别程序中",
            Self::Completed => "即办办结",
            Self::Decided => "已办结",
            Self::Delivered => "已送达",
            Self::Terminated => "终止办理",
            Self::Withdrawn => "已撤回",
            Self::Lapsed => "逾期未补正",
        }
    }

    /// The status of a case from its parts: the intake's answer while nothing was accepted;
    /// once accepted, open while a part is open (paused when every open part is), then decided,
    /// then delivered once every result is handed over.
    pub fn of_parts<'a>(parts: impl IntoIterator<Item = &'a super::handling::Part>) -> Self {
        use super::handling::PartStatus as P;
        let parts: Vec<&super::handling::Part> = parts.into_iter().collect();
        let all = |s: P| !parts.is_empty() && parts.iter().all(|p| p.status == s);
        for (s, status) in [
            (P::AwaitingSupplement, Self::AwaitingSupplement),
            (P::Refused, Self::Refused),
            (P::Lapsed, Self::Lapsed),
            (P::Withdrawn, Self::Withdrawn),
            (P::Terminated, Self::Terminated),
        ] {
            if all(s) {
                return status;
            }
        }
        let open: Vec<_> = parts.iter().filter(|p| p.status.is_open()).collect();
        if !open.is_empty() {
            return if open.iter().all(|p| p.status == P::Paused) {
                Self::Paused
            } else {
                Self::Accepted
            };
        }
        if parts.is_empty() {
            return Self::Accepted;
        }
        let results: Vec<_> = parts.iter().filter(|p| p.has_result()).collect();
        if !results.is_empty() && results.iter().all(|p| p.delivery.is_some()) {
            return Self::Delivered;
        }
        if parts.iter().all(|p| p.immediate) {
            Self::Completed
        } else if parts.iter().any(|p| p.decision.is_some()) {
            Self::Decided
        } else {
            // Withdrawn or lapsed in part, with nothing decided.
            Self::Withdrawn
        }
    }
}

/// What a case is for: one matter, or a bundle of matters (一件事一次办).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseSubject {
    Matter(String),
    Bundle(String),
}

impl CaseSubject {
    /// The matter or bundle code.
    pub fn code(&self) -> &str {
        match self {
            Self::Matter(c) | Self::Bundle(c) => c,
        }
    }
    pub fn bundle(&self) -> Option<&str> {
        match self {
            Self::Bundle(c) => Some(c),
            Self::Matter(_) => None,
        }
    }
}

/// A case's stored assessment: one matter, or a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CaseAssessment {
    Bundle(BundleAssessment),
    Matter(Assessment),
}

impl CaseAssessment {
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Bundle(b) => b.outcome,
            Self::Matter(a) => a.outcome,
        }
    }

    /// Each matter's own assessment (one for a single matter).
    pub fn parts(&self) -> Vec<&Assessment> {
        match self {
            Self::Bundle(b) => b.matters.iter().collect(),
            Self::Matter(a) => vec![a],
        }
    }

    /// The day it was assessed (the intake's or the latest supplement's).
    pub fn assessed_on(&self) -> NaiveDate {
        match self {
            Self::Bundle(b) => b.assessed_on,
            Self::Matter(a) => a.assessed_on,
        }
    }

    /// The matter's or the bundle's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Bundle(b) => &b.bundle_name,
            Self::Matter(a) => &a.matter_name,
        }
    }

    /// The promised completion date of an accepted case (a bundle: its latest matter's).
    pub fn due_date(&self) -> Option<NaiveDate> {
        match self {
            Self::Bundle(b) => b.due,
            Self::Matter(a) => a.due,
        }
        .and_then(|d| d.date)
    }
}

/// The applicant as recorded on a case (the full application holds the rest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApplicantRecord {
    pub kind: SubjectKind,
    pub name: String,
    pub id_number: Option<String>,
}

/// Where and how a case was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CasePlace {
    /// The center that took it: a township id, or the county id.
    pub center_id: String,
    pub township: Option<String>,
    pub village: Option<String>,
    pub window_id: Option<String>,
    pub channel: Channel,
    /// 首问负责人: the clerk (or agent) who took it.
    pub clerk_id: String,
    /// The village agent who submitted it (代办件).
    pub agent_id: Option<String>,
}

/// A case as stored, decoded: the application and the assessment are typed values.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub id: CaseId,
    pub subject: CaseSubject,
    pub status: CaseStatus,
    /// The outcome of the latest assessment.
    pub outcome: Outcome,
    pub place: CasePlace,
    pub applicant: ApplicantRecord,
    /// The catalog version the case is pinned to (content hash).
    pub catalog_hash: String,
    pub application: Application,
    pub assessment: CaseAssessment,
    /// Promised completion date (the latest of its matters), once accepted.
    pub due_date: Option<NaiveDate>,
    pub received_on: NaiveDate,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Optimistic-lock counter: 1 at intake, +1 with every change to the case or its handling.
    pub version: i64,
}
