//! Sample notices: for every golden example, the notices its intake issues and those a case like
//! it can be issued afterwards (decisions, special procedure, extension, withdrawal, lapse), built
//! with the same functions as the service's. The gate renders them all with the catalog's
//! templates before a catalog goes live; `rules print` writes them out for the print test, the
//! screenshots and review.

use chrono::{Datelike, NaiveDate};

use super::example_context;
use crate::catalog::{Catalog, CompiledMatter};
use crate::decide::assess;
use crate::domain::assessment::{Assessment, Outcome};
use crate::domain::deadline::WorkingDays;
use crate::domain::handling::{supplement_deadline, Rules, DELIVERY_DAYS};
use crate::domain::matter::{Example, HandlingKind, Matter, TimeoutPolicy};
use crate::domain::notice::{
    self, decision_notice, intake_notice, supplement_due_item, DecisionFacts, IntakeFacts,
    MatterLaw, NoticeContent, NoticeDraft, NoticeHeader, NoticeKind,
};
use crate::domain::route::Decision;

/// The case id printed on sample notices (snapshots redact nothing else that changes).
pub const SAMPLE_CASE_ID: &str = "SAMPLE-CASE";

/// One notice of the sample set.
#[derive(Debug, Clone)]
pub struct SampleNotice {
    pub matter: String,
    /// The example's position in its matter file (0-based) and its name.
    pub example: usize,
    pub example_name: String,
    pub number: String,
    pub content: NoticeContent,
}

impl SampleNotice {
    pub fn kind(&self) -> NoticeKind {
        self.content.kind
    }

    /// A file name for it: `<matter>-<example>-<kind>`.
    pub fn stem(&self) -> String {
        let kind = serde_json::to_value(self.kind())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        format!("{}-{:02}-{kind}", self.matter, self.example)
    }
}

/// Every sample notice of the catalog, matter by matter, example by example.
pub fn sample_notices(catalog: &Catalog) -> Vec<SampleNotice> {
    let mut out = Vec::new();
    for m in catalog.matters.values() {
        for (i, ex) in m.spec.examples.iter().enumerate() {
            out.extend(example_notices(catalog, m, i, ex));
        }
    }
    out
}

fn center_of<'a>(catalog: &'a Catalog, township: Option<&str>) -> (&'a str, &'a str, &'a str) {
    let org = &catalog.org;
    match township.and_then(|t| org.township(t)) {
        Some(t) => (&t.name, &t.center, &t.seal),
        None => (&org.county.name, &org.county.center, &org.county.seal),
    }
}

fn example_notices(
    catalog: &Catalog,
    m: &CompiledMatter,
    index: usize,
    ex: &Example,
) -> Vec<SampleNotice> {
    let ctx = example_context(catalog, ex);
    // An example that does not assess is reported by `run_examples`.
    let Ok(a) = assess(catalog, &m.spec.code, &ex.application, &ctx) else {
        return Vec::new();
    };
    let township = ctx.township.as_deref();
    let (short, center, seal) = center_of(catalog, township);
    let region = catalog.calendar_region(township);
    let days = WorkingDays::new(&catalog.calendar, region.as_deref(), 80);
    let today = ex.today;
    let applicant = ex.application.applicant.name.as_str();
    let header = NoticeHeader {
        case_id: SAMPLE_CASE_ID,
        center,
        seal,
        today,
        applicant_name: applicant,
        matter: &a.matter_name,
        org: &catalog.org,
        township,
        words: &catalog.templates,
    };
    let specs: Vec<&Matter> = vec![&m.spec];
    let parts: Vec<&Assessment> = vec![&a];
    let facts = IntakeFacts {
        applicant,
        matter: &a.matter_name,
        today,
        assessments: &parts,
        bundle_defects: None,
        matters: &specs,
        presented: &ex.application.materials,
    };
    let mut drafts: Vec<NoticeDraft> = Vec::new();
    for kind in NoticeKind::for_outcome(a.outcome) {
        let mut draft = intake_notice(*kind, &facts);
        if *kind == NoticeKind::Supplement {
            let rules = Rules {
                org: &catalog.org,
                matters: specs.clone(),
                supplement_days: catalog.manifest.supplement_days,
            };
            let due = supplement_deadline(&rules, &parts, today, &days);
            draft.items.push(supplement_due_item(due.date));
            drafts.push(notice::lapse_notice(
                applicant,
                &a.matter_name,
                today,
                due.date.unwrap_or(today),
                std::slice::from_ref(&a.matter_name),
            ));
        }
        drafts.push(draft);
    }
    let accepted = matches!(
        a.outcome,
        Outcome::AcceptedPromised | Outcome::AcceptedDeferred
    );
    if accepted {
        drafts.extend(after_acceptance(m, &a, applicant, today, &days, center));
    }
    drafts
        .into_iter()
        .map(|d| {
            let kind = d.kind;
            // A numbered result shows the first number of its series, as the store would give.
            let number = d.result_series.as_ref().and_then(|s| {
                crate::domain::matter::NumberPattern::parse(&s.pattern)
                    .ok()
                    .map(|p| p.format(today.year(), 1))
            });
            let mut content = header.content(d);
            if let Some(r) = content.result.as_mut() {
                r.number = number;
            }
            SampleNotice {
                matter: m.spec.code.clone(),
                example: index,
                example_name: ex.name.clone(),
                number: format!(
                    "{short}政务〔{}〕{}字第0001号",
                    today.year(),
                    kind.series_char()
                ),
                content,
            }
        })
        .collect()
}

/// The notices a case accepted like this one may get later.
fn after_acceptance(
    m: &CompiledMatter,
    a: &Assessment,
    applicant: &str,
    today: NaiveDate,
    days: &WorkingDays,
    center: &str,
) -> Vec<NoticeDraft> {
    let spec = &m.spec;
    let decided_on = a.due.and_then(|d| d.date).unwrap_or(today);
    let delivery = days.add(decided_on, DELIVERY_DAYS);
    let law = MatterLaw::of(spec);
    let about = notice::About {
        applicant,
        matter: &a.matter_name,
        law: &law,
    };
    let first_basis = spec.basis.first().map_or("", String::as_str);
    let mut decisions = vec![Decision::Approved, Decision::Disapproved];
    if spec.handling.timeout == TimeoutPolicy::DeemApproved {
        decisions.push(Decision::DeemedApproved);
    }
    if a.outcome == Outcome::AcceptedDeferred {
        decisions.push(Decision::Terminated);
    }
    let mut out: Vec<NoticeDraft> = decisions
        .into_iter()
        .map(|decision| {
            decision_notice(
                &DecisionFacts {
                    applicant,
                    received_on: today,
                    matter: &a.matter_name,
                    decision,
                    decider: &a.decider.unit_id,
                    spec: Some(spec),
                    refusal: (decision == Decision::Disapproved)
                        .then_some(("经审查，申请人不符合本事项规定的条件（样例）", first_basis)),
                    delivery: Some((delivery, center)),
                },
                None,
            )
        })
        .collect();
    if let Some(kind) = spec.handling.special_procedures.first() {
        let end = days.add(today, 10).unwrap_or(today);
        out.push(notice::pause_notice(
            &about,
            *kind,
            "需现场核查（样例）",
            today,
            end,
            None,
        ));
    }
    if spec.handling.kind == HandlingKind::Promised {
        let new_due = a
            .due
            .and_then(|d| d.date)
            .and_then(|d| days.add(d, spec.handling.extension_days));
        out.push(notice::extension_notice(
            &about,
            "需要进一步核实材料（样例）",
            "分管负责人",
            spec.handling.extension_days,
            new_due,
            None,
        ));
    }
    out.push(notice::withdrawal_notice(
        applicant,
        &a.matter_name,
        today,
        today,
        "申请人申请撤回（样例）",
        std::slice::from_ref(&a.matter_name),
    ));
    // The dates a newly published calendar gives (as if they had been past the calendar).
    if let (Some(due), Some(statutory)) = (
        a.due.and_then(|d| d.date),
        a.statutory_due.and_then(|d| d.date),
    ) {
        out.push(notice::dates_notice(
            applicant,
            &a.matter_name,
            today,
            &[
                notice::DateChange {
                    matter: a.matter_name.clone(),
                    what: "承诺办结日期",
                    from: None,
                    to: due,
                },
                notice::DateChange {
                    matter: a.matter_name.clone(),
                    what: "法定办结日期",
                    from: None,
                    to: statutory,
                },
            ],
        ));
    }
    out
}

/// The notices a change can issue, as samples for review: at least one of each kind a sample
/// catalog's examples produce.
pub fn kinds_of(samples: &[SampleNotice]) -> Vec<NoticeKind> {
    NoticeKind::ALL
        .into_iter()
        .filter(|k| samples.iter().any(|s| s.kind() == *k))
        .collect()
}

/// Render every sample notice and every guide with the catalog's templates: each failure in
/// words (empty when all render).
pub fn render_samples(catalog: &Catalog) -> Vec<String> {
    let mut failures = Vec::new();
    for s in sample_notices(catalog) {
        if let Err(e) = catalog.templates.notice(&s.content, &s.number) {
            failures.push(format!(
                "{e} [{}] 样例“{}”的{}无法套用模板 / the {:?} of this example does not render",
                s.matter,
                s.example_name,
                s.content.title,
                s.kind()
            ));
        }
    }
    for m in catalog.matters.values() {
        if let Err(e) = super::guide_html(catalog, m) {
            failures.push(format!(
                "{e} [{}] 办事指南无法套用模板 / the guide does not render",
                m.spec.code
            ));
        }
    }
    failures
}
