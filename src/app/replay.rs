//! Replaying stored intakes: under each case's own catalog version (which must reproduce the
//! stored assessment byte for byte), or under a candidate catalog to preview a change's impact
//! before it goes live.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::intake::CaseAssessment;
use super::{AppError, CatalogRegistry};
use crate::catalog::Catalog;
use crate::decide::{assess, assess_bundle};
use crate::domain::application::{Application, Channel, IntakeContext};
use crate::store::{CaseRow, Store};

/// One case whose assessment would change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChangedCase {
    pub case_id: String,
    pub before: String,
    pub after: String,
    /// What changed: `outcome`, `materials`, `due`, `route`.
    pub changes: Vec<String>,
}

/// The impact on one matter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MatterImpact {
    pub cases: usize,
    pub outcome: usize,
    pub materials: usize,
    pub due: usize,
    pub route: usize,
    /// Up to five examples.
    pub examples: Vec<ChangedCase>,
}

/// The impact of a candidate catalog on the stored intakes of a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImpactReport {
    pub candidate: String,
    pub cases: usize,
    pub outcome: usize,
    pub materials: usize,
    pub due: usize,
    pub route: usize,
    /// Cases the candidate cannot assess (e.g. a matter it no longer has), with the reason.
    pub errors: Vec<String>,
    pub by_matter: BTreeMap<String, MatterImpact>,
}

/// The context a stored case was assessed in.
fn context_of(case: &CaseRow, stored: &CaseAssessment) -> IntakeContext {
    let today = match stored {
        CaseAssessment::Matter(a) => a.assessed_on,
        CaseAssessment::Bundle(b) => b.assessed_on,
    };
    IntakeContext {
        today,
        township: case.township.clone(),
        village: case.village.clone(),
        // A channel the mapping does not know is read as the window (replay reports, never fails).
        channel: crate::store::mapping::AsText::from_text(&case.channel).unwrap_or(Channel::Window),
    }
}

/// Assess a stored case again under `catalog`.
pub fn reassess(
    catalog: &Catalog,
    case: &CaseRow,
) -> Result<(CaseAssessment, CaseAssessment), String> {
    let stored: CaseAssessment =
        serde_json::from_str(&case.assessment).map_err(|e| format!("{}: {e}", case.id))?;
    let app: Application =
        serde_json::from_str(&case.application).map_err(|e| format!("{}: {e}", case.id))?;
    let ctx = context_of(case, &stored);
    let again = match &case.bundle_code {
        Some(b) => assess_bundle(catalog, b, &app, &ctx).map(CaseAssessment::Bundle),
        None => assess(catalog, &case.matter_code, &app, &ctx).map(CaseAssessment::Matter),
    }
    .map_err(|e| format!("{}: {e}", case.id))?;
    Ok((stored, again))
}

fn summary(a: &CaseAssessment) -> (String, Vec<String>, Option<String>, Vec<String>) {
    let parts: Vec<&crate::domain::assessment::Assessment> = match a {
        CaseAssessment::Matter(m) => vec![m],
        CaseAssessment::Bundle(b) => b.matters.iter().collect(),
    };
    let materials = parts
        .iter()
        .flat_map(|p| {
            p.materials
                .iter()
                .map(|m| format!("{}:{:?}", m.id, m.status))
        })
        .collect();
    let due = match a {
        CaseAssessment::Matter(m) => m.due.and_then(|d| d.date),
        CaseAssessment::Bundle(b) => b.due.and_then(|d| d.date),
    }
    .map(|d| d.to_string());
    let route = parts
        .iter()
        .flat_map(|p| {
            p.route.iter().flat_map(|r| {
                r.steps
                    .iter()
                    .map(|s| format!("{}@{}", s.id, s.unit.unit_id))
            })
        })
        .collect();
    (a.outcome().as_str().to_string(), materials, due, route)
}

/// Every stored case received on or after `from` (all pages).
pub fn cases_since(store: &Store, from: chrono::NaiveDate) -> Result<Vec<CaseRow>, AppError> {
    let from = from.to_string();
    let mut out: Vec<CaseRow> = Vec::new();
    loop {
        let after = out.last().map(|c| c.id.clone());
        let page = store.cases_received_since(&from, after.as_deref(), 1000)?;
        let n = page.len();
        out.extend(page);
        if n < 1000 {
            return Ok(out);
        }
    }
}

/// Re-assess `cases` under `candidate` and count what would change, by matter.
pub fn impact(
    candidate: &Catalog,
    cases: &[CaseRow],
    mut progress: impl FnMut(usize),
) -> ImpactReport {
    let mut r = ImpactReport {
        candidate: candidate.hash.clone(),
        ..ImpactReport::default()
    };
    for (i, case) in cases.iter().enumerate() {
        if i % 1000 == 0 {
            progress(i);
        }
        r.cases += 1;
        let entry = r.by_matter.entry(case.matter_code.clone()).or_default();
        entry.cases += 1;
        let (stored, again) = match reassess(candidate, case) {
            Ok(x) => x,
            Err(e) => {
                if r.errors.len() < 100 {
                    r.errors.push(e);
                }
                continue;
            }
        };
        let (a, b) = (summary(&stored), summary(&again));
        let mut changes = Vec::new();
        if a.0 != b.0 {
            changes.push("outcome".to_string());
            entry.outcome += 1;
            r.outcome += 1;
        }
        if a.1 != b.1 {
            changes.push("materials".to_string());
            entry.materials += 1;
            r.materials += 1;
        }
        if a.2 != b.2 {
            changes.push("due".to_string());
            entry.due += 1;
            r.due += 1;
        }
        if a.3 != b.3 {
            changes.push("route".to_string());
            entry.route += 1;
            r.route += 1;
        }
        if !changes.is_empty() && entry.examples.len() < 5 {
            entry.examples.push(ChangedCase {
                case_id: case.id.clone(),
                before: a.0,
                after: b.0,
                changes,
            });
        }
    }
    progress(cases.len());
    r
}

/// Replaying under each case's own version: how many reproduce the stored assessment exactly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReplayCheck {
    pub cases: usize,
    pub identical: usize,
    /// Case ids whose replay differs (at most 100), with why.
    pub different: Vec<String>,
}

/// Replay each case under the catalog version it was assessed under and compare the JSON.
pub fn check_replay(
    registry: &CatalogRegistry,
    store: &Store,
    cases: &[CaseRow],
    mut progress: impl FnMut(usize),
) -> ReplayCheck {
    let mut r = ReplayCheck::default();
    for case in cases {
        r.cases += 1;
        progress(r.cases);
        let outcome = registry
            .by_hash(store, &case.catalog_hash)
            .map_err(|e| e.to_string())
            .and_then(|catalog| reassess(&catalog, case))
            .and_then(|(_, again)| serde_json::to_string(&again).map_err(|e| e.to_string()));
        match outcome {
            Ok(json) if json == case.assessment => r.identical += 1,
            Ok(_) => {
                if r.different.len() < 100 {
                    r.different.push(format!("{}: assessment differs", case.id));
                }
            }
            Err(e) => {
                if r.different.len() < 100 {
                    r.different.push(e);
                }
            }
        }
    }
    r
}
