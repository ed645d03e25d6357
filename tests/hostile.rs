//! Hostile rule scripts (issue 6): endless loops and recursion, huge strings, arrays and maps,
//! helpers called with absurd arguments. Each evaluation ends with an error naming the matter,
//! the file, the line and the rule; a catalog whose examples trigger them fails the gate; one whose
//! examples do not (the scripts are dormant) passes the gate, and the limits still stop every
//! triggered evaluation. The catalog is `tests/fixtures/hostile/` (see `common::hostile`); the
//! time each evaluation takes is measured by `examples/hostile_timing.rs`, not here.

use std::path::Path;

use yichuang::app::gate;
use yichuang::authoring::example_context;
use yichuang::catalog::{Catalog, CatalogSources, Severity};
use yichuang::decide::{assess, DecideError};
use yichuang::rules::{ScriptFailure, ScriptLimits};

mod common;
use common::hostile::{hostile_cases, write_hostile_rules, HostileCase, Stage, DORMANT, TRIGGER};

fn sources(dir: &Path) -> CatalogSources {
    CatalogSources::read_dir(dir).unwrap()
}

fn run_stage(cases: &[HostileCase]) -> Vec<HostileCase> {
    cases
        .iter()
        .filter(|c| c.stage == Stage::Run)
        .cloned()
        .collect()
}

/// The line of the rule file that holds the case's script.
fn script_line(dir: &Path, case: &HostileCase) -> usize {
    let text = std::fs::read_to_string(dir.join(case.file())).unwrap();
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(case.script.as_str()))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(lines.len(), 1, "{}: {lines:?}", case.id);
    lines[0]
}

/// Trigger the case's script through the decision itself (its example, as the gate runs it).
fn evaluate(catalog: &Catalog, case: &HostileCase) -> Result<(), DecideError> {
    let m = catalog
        .matter(&case.code)
        .unwrap_or_else(|| panic!("{} did not load", case.code));
    let mut ex = m.spec.examples[0].clone();
    ex.application
        .fields
        .insert("note".into(), serde_json::json!(TRIGGER));
    assess(
        catalog,
        &case.code,
        &ex.application,
        &example_context(catalog, &ex),
    )
    .map(|_| ())
}

#[track_caller]
fn assert_names_the_rule(f: &ScriptFailure, case: &HostileCase, line: usize) {
    let id = &case.id;
    assert_eq!(f.origin.matter, case.code, "{id}");
    assert_eq!(f.origin.file, case.file(), "{id}");
    assert_eq!(f.origin.path, case.at.path(), "{id}");
    assert_eq!(f.line, line, "{id}: {f}");
    assert!(f.message.contains(&case.error), "{id}: {f}");
    let shown = f.to_string();
    let place = format!("{}:{line}:", case.file());
    let rule = format!("(matter {}, {})", case.code, case.at.path());
    assert!(
        shown.contains(&place) && shown.contains(&rule),
        "{id}: {shown}"
    );
}

#[test]
fn every_hostile_script_ends_with_an_error_naming_matter_file_and_rule() {
    let cases = hostile_cases();
    assert!(cases.len() >= 20, "{}", cases.len());
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    write_hostile_rules(&rules, &cases, TRIGGER);
    let (catalog, diagnostics) = Catalog::load_for_lint(sources(&rules), ScriptLimits::default());

    // The scripts that cannot compile are load errors at their own line, and the only ones.
    let errors: Vec<_> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    let compile: Vec<_> = cases.iter().filter(|c| c.stage == Stage::Compile).collect();
    assert_eq!(errors.len(), compile.len(), "{errors:#?}");
    for c in compile {
        assert!(
            errors
                .iter()
                .any(|d| d.matter.as_deref() == Some(c.code.as_str())
                    && d.file == c.file()
                    && d.line == script_line(&rules, c)
                    && d.message.contains(&c.error)
                    && d.message.contains(c.at.path())),
            "{}: {errors:#?}",
            c.id
        );
    }

    let catalog = catalog.expect("the shared files load");
    for c in run_stage(&cases) {
        match evaluate(&catalog, &c) {
            Err(DecideError::Script(f)) => assert_names_the_rule(&f, &c, script_line(&rules, &c)),
            other => panic!("{}: expected a script failure, got {other:?}", c.id),
        }
    }
}

#[test]
fn the_gate_rejects_hostile_examples_and_the_limits_stop_dormant_scripts() {
    let cases = hostile_cases();
    let dir = tempfile::tempdir().unwrap();

    // With every case: the scripts that do not compile keep the catalog from loading.
    let all = dir.path().join("all");
    write_hostile_rules(&all, &cases, TRIGGER);
    let reasons = gate(sources(&all)).expect_err("a catalog with hostile scripts");
    for c in cases.iter().filter(|c| c.stage == Stage::Compile) {
        assert!(
            reasons.iter().any(|r| r.contains(&c.code)),
            "{}: {reasons:#?}",
            c.id
        );
    }

    // The others load, and their examples fail: one reason per matter, naming it and the error.
    let run = run_stage(&cases);
    let triggered = dir.path().join("triggered");
    write_hostile_rules(&triggered, &run, TRIGGER);
    let reasons = gate(sources(&triggered)).expect_err("examples that run hostile scripts");
    assert_eq!(reasons.len(), run.len(), "{reasons:#?}");
    for c in &run {
        assert!(
            reasons
                .iter()
                .any(|r| r.contains(&format!("[{}]", c.code)) && r.contains(&c.error)),
            "{}: {reasons:#?}",
            c.id
        );
    }

    // Scripts that only misbehave on input no example has pass the gate: nothing can tell them
    // from sound ones without running them on that input. Live, the limits stop each of them.
    let dormant = dir.path().join("dormant");
    write_hostile_rules(&dormant, &run, DORMANT);
    let catalog = gate(sources(&dormant)).expect("dormant scripts pass the gate");
    for c in &run {
        match evaluate(&catalog, c) {
            Err(DecideError::Script(f)) => assert_names_the_rule(&f, c, script_line(&dormant, c)),
            other => panic!("{}: expected a script failure, got {other:?}", c.id),
        }
    }
}
