//! The `provincial` payload profile: a minijinja template county IT adjusts (JSON out, in the
//! field names of the provincial 办件 exchange and of 好差评 records) and the SBLSH template. Like a
//! catalog, a template goes live only through a gate: every event kind of the sample cases
//! must render to valid JSON.

use std::path::PathBuf;

use minijinja::Environment;
use serde_json::{json, Value};

use super::App;
use crate::domain::handling::EventKind;
use crate::store::mapping::AsText;

/// Every event kind, for the gate (kept complete by `sample_detail`'s exhaustive match).
pub const ALL_KINDS: [EventKind; 25] = [
    EventKind::Intake,
    EventKind::Supplement,
    EventKind::StepApproved,
    EventKind::StepRefused,
    EventKind::StepReturned,
    EventKind::StepTransferred,
    EventKind::StepCountersignAdded,
    EventKind::StepOverdueReminded,
    EventKind::StepOverdueEscalated,
    EventKind::StepDeemedApproved,
    EventKind::CaseOverdueReminded,
    EventKind::CaseOverdueEscalated,
    EventKind::CaseDeemedApproved,
    EventKind::Decided,
    EventKind::Paused,
    EventKind::Resumed,
    EventKind::Extended,
    EventKind::DeferredSupplied,
    EventKind::DeferredLapsed,
    EventKind::Delivered,
    EventKind::Rated,
    EventKind::FollowupClosed,
    EventKind::CatalogChanged,
    EventKind::Withdrawn,
    EventKind::Lapsed,
];

/// Where the template comes from.
#[derive(Debug, Clone)]
pub struct ProvincialSource {
    pub path: PathBuf,
    pub sblsh: String,
}

/// A gated template.
#[derive(Debug)]
pub struct Provincial {
    env: Environment<'static>,
    text: String,
}

const MAIN: &str = "provincial";
const SBLSH: &str = "sblsh";

impl ProvincialSource {
    /// Read and compile the template, then render every event kind of the sample cases.
    pub fn load_gated(&self) -> Result<Provincial, Vec<String>> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| vec![format!("{}: {e}", self.path.display())])?;
        let p = Provincial::compile(text, &self.sblsh)?;
        let errors: Vec<String> = samples()
            .iter()
            .filter_map(|(payload, matter)| {
                p.render(payload, matter).err().map(|e| {
                    format!(
                        "{}: 样例事件 {} 无法生成 / the sample event does not render: {e}",
                        self.path.display(),
                        payload["kind"].as_str().unwrap_or("?")
                    )
                })
            })
            .collect();
        if errors.is_empty() {
            Ok(p)
        } else {
            Err(errors)
        }
    }
}

impl Provincial {
    pub fn compile(text: String, sblsh: &str) -> Result<Provincial, Vec<String>> {
        let mut env = Environment::new();
        env.set_fuel(Some(200_000));
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        env.add_template_owned(MAIN.to_string(), text.clone())
            .map_err(|e| vec![format!("template: {e}")])?;
        env.add_template_owned(SBLSH.to_string(), sblsh.to_string())
            .map_err(|e| vec![format!("sblsh_template: {e}")])?;
        Ok(Provincial { env, text })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The body of one event: the template over `event` (the native payload), `case`, `matter`
    /// and `sblsh`, checked to be one JSON value and sent compact.
    pub fn render(&self, payload: &Value, matter: &Value) -> Result<String, String> {
        use minijinja::Value as V;
        let case = V::from(minijinja::value::Serde(
            payload.get("case").unwrap_or(&Value::Null),
        ));
        let event = V::from(minijinja::value::Serde(payload));
        let matter = V::from(minijinja::value::Serde(matter));
        let sblsh = self
            .env
            .get_template(SBLSH)
            .and_then(|t| {
                t.render(minijinja::context! { case => case.clone(), event => event.clone() })
            })
            .map_err(|e| format!("sblsh_template: {e}"))?;
        let out = self
            .env
            .get_template(MAIN)
            .and_then(|t| {
                t.render(minijinja::context! {
                    event => event,
                    case => case,
                    matter => matter,
                    sblsh => sblsh.trim(),
                })
            })
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&out).map_err(|e| {
            format!(
                "not JSON ({e}): {}",
                out.chars().take(200).collect::<String>()
            )
        })?;
        serde_json::to_string(&v).map_err(|e| e.to_string())
    }
}

/// The matter of an event's case, with its national codes if the catalog has them.
pub fn matter_of(app: &App, payload: &Value) -> Value {
    let code = payload["case"]["matter_code"].as_str().unwrap_or_default();
    let hash = payload["catalog_hash"].as_str().unwrap_or_default();
    let catalog = app
        .registry
        .by_hash(&app.store, hash)
        .unwrap_or_else(|_| app.registry.current());
    match catalog.matter(code) {
        Some(m) => {
            let nc = m.spec.national_codes.as_ref();
            json!({
                "code": m.spec.code,
                "name": m.spec.name,
                "basic_code": nc.and_then(|n| n.basic.clone()),
                "implementation_code": nc.and_then(|n| n.implementation.clone()),
            })
        }
        None => {
            json!({ "code": code, "name": null, "basic_code": null, "implementation_code": null })
        }
    }
}

/// A detail of each kind as the handling code writes it.
fn sample_detail(k: EventKind) -> Value {
    use EventKind as K;
    let step = json!({"step": "S-1", "step_key": "review", "unit": "baishui/civil", "started_on": "2026-03-03", "comment": "材料齐全，同意"});
    match k {
        K::Intake => json!({"outcome": "accept", "channel": "window", "window": "w1"}),
        K::Supplement => json!({"outcome": "accept"}),
        K::StepApproved | K::StepCountersignAdded | K::StepDeemedApproved => step,
        K::StepRefused => {
            json!({"step": "S-1", "step_key": "review", "unit": "baishui/civil", "started_on": "2026-03-03", "reason": "不符合条件", "basis": "《条例》第五条", "comment": null, "decides": true})
        }
        K::StepReturned | K::StepTransferred => {
            json!({"step": "S-2", "step_key": "decide", "unit": "county/civil", "started_on": "2026-03-05", "reason": "需补充核查"})
        }
        K::StepOverdueReminded | K::StepOverdueEscalated => {
            json!({"step": "S-1", "step_key": "review", "unit": "baishui/civil", "started_on": "2026-03-03", "due_date": "2026-03-20", "policy": "remind"})
        }
        K::CaseOverdueReminded | K::CaseOverdueEscalated | K::CaseDeemedApproved => {
            json!({"track": "MZ-001", "due": "2026-03-20"})
        }
        K::Decided => {
            json!({"track": "MZ-001", "decision": "approved", "decided_on": "2026-03-10", "on_time": true, "days_used": 5})
        }
        K::Paused => json!({"track": "MZ-001", "kind": "site_inspection", "reason": "现场核查"}),
        K::Resumed => json!({"track": "MZ-001", "days": 3}),
        K::Extended => {
            json!({"track": "MZ-001", "days": 10, "reason": "情况复杂", "approved_by": "县长"})
        }
        K::DeferredSupplied | K::DeferredLapsed => json!({"track": "MZ-001", "materials": ["m1"]}),
        K::Delivered => {
            json!({"track": "MZ-001", "delivery": {"method": "mail", "tracking_number": "EMS1234567890", "by": "clerk-1"}, "within_limit": true})
        }
        K::Rated => {
            json!({"level": 2, "label": "不满意", "bad": true, "followup_due": "2026-03-17"})
        }
        K::FollowupClosed => json!({"note": "已整改", "callback": "电话回访满意"}),
        K::CatalogChanged => json!({"from": "h0", "to": "h1"}),
        K::Withdrawn => json!({"reason": "申请人撤回"}),
        K::Lapsed => json!({"track": "MZ-001"}),
        K::DatesSet => {
            json!({"changes": [{"matter": "MZ-001", "what": "承诺办结日期", "from": null, "to": "2027-01-19"}]})
        }
    }
}

/// One sample event of every kind, of a person's case and of a company's, with and without
/// national codes.
pub fn samples() -> Vec<(Value, Value)> {
    let cases = [
        json!({"id": "C-20260302-001", "matter_code": "MZ-001", "bundle_code": null, "status": "accepted", "center_id": "baishui", "township": "baishui", "village": null, "window_id": "w1", "channel": "window", "clerk_id": "clerk-1", "agent_id": null, "applicant_kind": "natural_person", "applicant_name": "张三", "applicant_id_number": "110101199003074514", "received_on": "2026-03-02", "due_date": "2026-03-20", "catalog_hash": "h1"}),
        json!({"id": "C-20260302-002", "matter_code": "SC-001", "bundle_code": "B-1", "status": "in_progress", "center_id": "county", "township": null, "village": "dongcun", "window_id": null, "channel": "agent", "clerk_id": "agent-1", "agent_id": "agent-1", "applicant_kind": "enterprise_legal_person", "applicant_name": "青山县某某理发店", "applicant_id_number": null, "received_on": "2026-03-02", "due_date": null, "catalog_hash": "h1"}),
    ];
    let matters = [
        json!({"code": "MZ-001", "name": "临时救助", "basic_code": "000000000001", "implementation_code": "1133000000000000000000000000001"}),
        json!({"code": "SC-001", "name": "个体工商户登记", "basic_code": null, "implementation_code": null}),
    ];
    let mut out = Vec::new();
    for (case, matter) in cases.iter().zip(matters.iter()) {
        for (i, k) in ALL_KINDS.iter().enumerate() {
            let id = case["id"].as_str().unwrap_or_default();
            out.push((
                json!({
                    "id": format!("{id}:{}", i + 1), "case_id": id, "seq": i + 1,
                    "kind": k.as_text(), "occurred_at": "2026-03-02T09:00:00.000+08:00",
                    "occurred_at_ms": 1_772_413_200_000_i64, "actor": "clerk-1", "catalog_hash": "h1",
                    "detail": sample_detail(*k), "case": case,
                }),
                matter.clone(),
            ));
        }
    }
    out
}
