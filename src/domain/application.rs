//! An application as a clerk enters it: the applicant, the form fields and the materials presented.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::matter::{Level, MaterialForm, Medium, SubjectKind};

/// An application for one matter (or a bundle).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub applicant: Applicant,
    /// Form field values by field id.
    #[serde(default)]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// Materials presented at the window.
    #[serde(default)]
    pub materials: Vec<PresentedMaterial>,
    /// The applicant signed the 容缺受理承诺书 (commitment to supply deferrable materials).
    #[serde(default)]
    pub commitment_signed: bool,
}

/// The applicant (申请人).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Applicant {
    pub kind: SubjectKind,
    /// Name of the person or organisation.
    pub name: String,
    /// 18-digit resident ID number (natural persons; for organisations, the legal representative's).
    #[serde(default)]
    pub id_number: Option<String>,
    /// 统一社会信用代码 of an organisation.
    #[serde(default)]
    pub credit_code: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

/// A material as presented.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PresentedMaterial {
    /// Material id from the matter's list.
    pub id: String,
    /// Defaults to what the matter requires.
    #[serde(default)]
    pub form: Option<MaterialForm>,
    /// Defaults to what the matter requires.
    #[serde(default)]
    pub copies: Option<u32>,
    /// Defaults to what the matter requires.
    #[serde(default)]
    pub medium: Option<Medium>,
    #[serde(default)]
    pub issued_on: Option<NaiveDate>,
    /// Omitted means valid without limit (长期有效).
    #[serde(default)]
    pub expires_on: Option<NaiveDate>,
    #[serde(default)]
    pub signed: bool,
    #[serde(default)]
    pub sealed: bool,
    /// Further attributes for the matter's own checks.
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// How the application reached the center.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// 窗口
    #[default]
    Window,
    /// 网上
    Online,
    /// 村级代办
    Agent,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Window => "window",
            Self::Online => "online",
            Self::Agent => "agent",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Window => "窗口受理",
            Self::Online => "网上申请",
            Self::Agent => "村级代办",
        }
    }
}

/// Where and when the application is taken: everything outside the application that the decision
/// depends on. `today` is injected, never read from a clock inside the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeContext {
    pub today: NaiveDate,
    /// The township whose center takes the case; `None` = the county center.
    pub township: Option<String>,
    /// The village whose agent submits the case.
    pub village: Option<String>,
    pub channel: Channel,
}

impl IntakeContext {
    /// The level of the accepting point: a village agent, a township window, or the county center.
    pub fn accepting_level(&self) -> Level {
        if self.village.is_some() {
            Level::Village
        } else if self.township.is_some() {
            Level::Township
        } else {
            Level::County
        }
    }
}
