//! The request bodies of intake, pre-check and supplement: this layer's, parsed and checked by
//! [`super::extract::Body`], each turned into the app's command ([`Intake`], [`Supplement`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError};

use crate::app::intake::{Intake, Supplement};
use crate::app::AppError;
use crate::domain::application::{Application, Channel, PresentedMaterial};
use crate::domain::case::CaseSubject;
use crate::error_code::ErrorCode;

/// What a clerk or agent submits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct IntakeRequest {
    /// The matter code; exactly one of `matter` and `bundle`.
    #[serde(default)]
    #[validate(length(min = 1, max = 64, message = "事项编码应为1到64个字符"))]
    pub matter: Option<String>,
    /// The bundle code (一件事).
    #[serde(default)]
    #[validate(length(min = 1, max = 64, message = "“一件事”编码应为1到64个字符"))]
    pub bundle: Option<String>,
    /// `window` (default) or `online`; agents always submit as `agent`.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// The window taking the case; defaults to the clerk's own window.
    #[serde(default)]
    #[validate(length(min = 1, max = 64, message = "窗口编号应为1到64个字符"))]
    pub window: Option<String>,
    #[validate(custom(function = "validate_application"))]
    pub application: Application,
}

/// Most form fields and materials one application may carry.
const MAX_FIELDS: usize = 200;
const MAX_MATERIALS: usize = 100;

fn too_long(s: &Option<String>, max: usize) -> bool {
    s.as_ref().is_some_and(|v| v.chars().count() > max)
}

fn invalid(code: &'static str, message: &'static str) -> ValidationError {
    let mut e = ValidationError::new(code);
    e.message = Some(message.into());
    e
}

/// Sizes of the parts of an application (what each value means is the decision's business).
fn validate_application(a: &Application) -> Result<(), ValidationError> {
    let name = a.applicant.name.chars().count();
    if name == 0 || name > 100 {
        return Err(invalid(
            "applicant_name",
            "申请人姓名（名称）应为1到100个字",
        ));
    }
    if too_long(&a.applicant.id_number, 32)
        || too_long(&a.applicant.credit_code, 32)
        || too_long(&a.applicant.phone, 32)
    {
        return Err(invalid(
            "applicant_numbers",
            "证件号码、信用代码或电话过长，请核对",
        ));
    }
    if too_long(&a.applicant.address, 200) {
        return Err(invalid("applicant_address", "申请人地址最多200个字"));
    }
    validate_parts(&a.fields, &a.materials)
}

/// Longest text, longest list and deepest nesting of one form value or material attribute.
const MAX_VALUE_CHARS: usize = 2_000;
const MAX_VALUE_ITEMS: usize = 200;
const MAX_VALUE_DEPTH: usize = 8;

/// Whether a form value or attribute stays within the sizes above (keys of nested objects count
/// as text).
fn value_fits(v: &serde_json::Value, depth: usize) -> bool {
    use serde_json::Value as V;
    match v {
        V::String(s) => s.chars().count() <= MAX_VALUE_CHARS,
        V::Array(items) => {
            depth < MAX_VALUE_DEPTH
                && items.len() <= MAX_VALUE_ITEMS
                && items.iter().all(|i| value_fits(i, depth + 1))
        }
        V::Object(map) => {
            depth < MAX_VALUE_DEPTH
                && map.len() <= MAX_VALUE_ITEMS
                && map
                    .iter()
                    .all(|(k, i)| k.chars().count() <= 64 && value_fits(i, depth + 1))
        }
        V::Null | V::Bool(_) | V::Number(_) => true,
    }
}

fn oversized_value(what: &str, name: &str) -> ValidationError {
    let mut e = ValidationError::new("value_too_large");
    e.message = Some(
        format!(
            "{what} {name} 的值过大（文字最多{MAX_VALUE_CHARS}字，列表最多{MAX_VALUE_ITEMS}项，嵌套最多{MAX_VALUE_DEPTH}层），请核对"
        )
        .into(),
    );
    e
}

fn validate_parts(
    fields: &BTreeMap<String, serde_json::Value>,
    materials: &[PresentedMaterial],
) -> Result<(), ValidationError> {
    if fields.len() > MAX_FIELDS || fields.keys().any(|k| k.is_empty() || k.len() > 64) {
        return Err(invalid(
            "fields",
            "表单字段过多或字段名不合规（最多200项，字段名1到64个字符）",
        ));
    }
    if let Some((name, _)) = fields.iter().find(|(_, v)| !value_fits(v, 0)) {
        return Err(oversized_value("表单字段", name));
    }
    if materials.len() > MAX_MATERIALS
        || materials.iter().any(|m| m.id.is_empty() || m.id.len() > 64)
    {
        return Err(invalid(
            "materials",
            "材料过多或材料编号不合规（最多100项，编号1到64个字符）",
        ));
    }
    if let Some(m) = materials.iter().find(|m| {
        m.attributes.len() > MAX_VALUE_ITEMS
            || m.attributes
                .iter()
                .any(|(k, v)| k.chars().count() > 64 || !value_fits(v, 0))
    }) {
        return Err(oversized_value("材料", &m.id));
    }
    Ok(())
}

fn validate_supplement(r: &SupplementRequest) -> Result<(), ValidationError> {
    validate_parts(&r.fields, &r.materials)
}

/// Corrections and added materials for a case waiting for them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
#[validate(schema(function = "validate_supplement"))]
pub struct SupplementRequest {
    /// Field values to set (they replace the earlier values).
    #[serde(default)]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// Materials presented now (each replaces an earlier one with the same id).
    #[serde(default)]
    pub materials: Vec<PresentedMaterial>,
    /// The applicant now signs (or withdraws) the 容缺 commitment.
    #[serde(default)]
    pub commitment_signed: Option<bool>,
}

impl TryFrom<IntakeRequest> for Intake {
    type Error = AppError;
    fn try_from(r: IntakeRequest) -> Result<Self, AppError> {
        let subject = match (r.matter, r.bundle) {
            (Some(m), None) => CaseSubject::Matter(m),
            (None, Some(b)) => CaseSubject::Bundle(b),
            _ => {
                return Err(AppError::invalid(
                    ErrorCode::MatterOrBundle,
                    "请指定办理的事项编码（matter）或“一件事”编码（bundle），二者选其一",
                ))
            }
        };
        Ok(Self {
            subject,
            channel: r.channel,
            window: r.window,
            application: r.application,
        })
    }
}

impl From<SupplementRequest> for Supplement {
    fn from(r: SupplementRequest) -> Self {
        Self {
            fields: r.fields,
            materials: r.materials,
            commitment_signed: r.commitment_signed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An intake's idempotency key is checked against the JSON of what was submitted: the
    /// command writes the same bytes as the request did, so keys stored before stay valid.
    #[test]
    fn the_command_hashes_as_the_request_did() {
        for body in [
            serde_json::json!({"matter": "QS-MZ-001", "window": "bs-w01",
                "application": {"applicant": {"kind": "natural_person", "name": "张三"}}}),
            serde_json::json!({"bundle": "QS-YJS-BARBERSHOP", "channel": "online",
                "application": {"applicant": {"kind": "enterprise_legal_person", "name": "某某理发店"},
                    "fields": {"a": 1}}}),
        ] {
            let request: IntakeRequest = serde_json::from_value(body).unwrap();
            let before = serde_json::to_string(&request).unwrap();
            let command = Intake::try_from(request).unwrap();
            assert_eq!(
                serde_json::to_string(&command.as_submitted()).unwrap(),
                before
            );
        }
        let neither: IntakeRequest = serde_json::from_value(serde_json::json!({
            "application": {"applicant": {"kind": "natural_person", "name": "张三"}}
        }))
        .unwrap();
        assert!(Intake::try_from(neither).is_err());
    }
}
