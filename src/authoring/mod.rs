//! Tools for policy staff: run golden examples, print a service guide, produce the rule schema,
//! read the yearly holiday notice into a calendar year file.

mod diff;
mod guide;
pub mod holiday_notice;
mod samples;

use std::collections::BTreeSet;

use crate::catalog::{Catalog, CompiledMatter};
use crate::decide::{assess, DecideError};
use crate::domain::application::{Channel, IntakeContext};
use crate::domain::assessment::Assessment;
use crate::domain::matter::{Example, Expectation};

pub use diff::{diff_markdown, matter_changes};
pub use guide::{guide_html, guide_markdown};
pub use samples::{kinds_of, render_samples, sample_notices, SampleNotice, SAMPLE_CASE_ID};

/// The result of one golden example.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExampleResult {
    pub matter: String,
    pub file: String,
    pub name: String,
    /// Differences between expected and actual; empty when the example passes.
    pub differences: Vec<String>,
    /// Set when the example could not be evaluated at all (e.g. a runaway script).
    pub error: Option<String>,
}

impl ExampleResult {
    pub fn passed(&self) -> bool {
        self.differences.is_empty() && self.error.is_none()
    }
}

/// The intake context an example describes.
pub fn example_context(catalog: &Catalog, ex: &Example) -> IntakeContext {
    let township = ex.township.clone().or_else(|| {
        ex.village
            .as_deref()
            .and_then(|v| catalog.org.village(v))
            .map(|(t, _)| t.id.clone())
    });
    IntakeContext {
        today: ex.today,
        township,
        village: ex.village.clone(),
        channel: if ex.village.is_some() {
            Channel::Agent
        } else {
            Channel::Window
        },
    }
}

fn sorted<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    items
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn compare_set(
    what: &str,
    expected: &Option<Vec<String>>,
    actual: Vec<String>,
    out: &mut Vec<String>,
) {
    if let Some(exp) = expected {
        let exp = sorted(exp.iter().map(String::as_str));
        if exp != actual {
            out.push(format!(
                "{what}: expected [{}], got [{}]",
                exp.join(", "),
                actual.join(", ")
            ));
        }
    }
}

/// Compare an assessment with what an example expects.
pub fn compare(expect: &Expectation, a: &Assessment) -> Vec<String> {
    let mut out = Vec::new();
    if expect.outcome != a.outcome {
        let mut detail = String::new();
        if !a.refusals.is_empty() {
            detail.push_str(&format!(
                "; refusals: {}",
                a.refusals
                    .iter()
                    .map(|r| r.rule.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !a.defects.is_empty() {
            detail.push_str(&format!(
                "; defects: {}",
                a.defects
                    .iter()
                    .map(|d| format!("{} ({})", d.id, d.reason))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out.push(format!(
            "outcome: expected {}, got {}{detail}",
            expect.outcome.as_str(),
            a.outcome.as_str()
        ));
    }
    if let Some(due) = expect.due {
        let got = a.due.and_then(|d| d.date);
        if got != Some(due) {
            out.push(format!(
                "due: expected {due}, got {}",
                got.map_or_else(|| "none".to_string(), |d| d.to_string())
            ));
        }
    }
    compare_set(
        "defects",
        &expect.defects,
        sorted(a.defects.iter().map(|d| d.id.as_str())),
        &mut out,
    );
    compare_set(
        "refusals",
        &expect.refusals,
        sorted(a.refusals.iter().map(|r| r.rule.as_str())),
        &mut out,
    );
    compare_set(
        "deferred",
        &expect.deferred,
        sorted(a.deferred.iter().map(|d| d.id.as_str())),
        &mut out,
    );
    if let Some(route) = &expect.route {
        let got: Vec<String> = a
            .route
            .as_ref()
            .map(|r| r.steps.iter().map(|s| s.id.clone()).collect())
            .unwrap_or_default();
        if &got != route {
            out.push(format!(
                "route: expected [{}], got [{}]",
                route.join(", "),
                got.join(", ")
            ));
        }
    }
    if let Some(decider) = &expect.decider {
        if a.decider.unit_id.to_string() != *decider {
            out.push(format!(
                "decider: expected {decider}, got {}",
                a.decider.unit_id
            ));
        }
    }
    out
}

fn run_one(catalog: &Catalog, m: &CompiledMatter, ex: &Example) -> ExampleResult {
    let ctx = example_context(catalog, ex);
    let (differences, error) = match assess(catalog, &m.spec.code, &ex.application, &ctx) {
        Ok(a) => (compare(&ex.expect, &a), None),
        Err(DecideError::Script(f)) => (Vec::new(), Some(f.to_string())),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    ExampleResult {
        matter: m.spec.code.clone(),
        file: m.file.clone(),
        name: ex.name.clone(),
        differences,
        error,
    }
}

/// Run every golden example of the catalog.
pub fn run_examples(catalog: &Catalog) -> Vec<ExampleResult> {
    catalog
        .matters
        .values()
        .flat_map(|m| {
            m.spec
                .examples
                .iter()
                .map(move |ex| run_one(catalog, m, ex))
        })
        .collect()
}

/// The JSON Schema of a rule file kind, generated from the types the loader reads.
pub fn schema_json(kind: SchemaKind) -> String {
    let schema = match kind {
        SchemaKind::Matter => schemars::schema_for!(crate::domain::matter::Matter),
        SchemaKind::Org => schemars::schema_for!(crate::domain::org::Organisation),
        SchemaKind::Bundle => schemars::schema_for!(crate::domain::org::Bundle),
        SchemaKind::Calendar => schemars::schema_for!(crate::domain::calendar::CalendarYearFile),
        SchemaKind::Catalog => schemars::schema_for!(crate::domain::org::Manifest),
    };
    serde_json::to_string_pretty(&schema).unwrap_or_else(|_| "{}".to_string())
}

/// Which rule file a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaKind {
    /// `matters/*.yaml`
    Matter,
    /// `org.yaml`
    Org,
    /// `bundles/*.yaml`
    Bundle,
    /// `calendar/*.yaml`
    Calendar,
    /// `catalog.yaml`
    Catalog,
}
