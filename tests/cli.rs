//! The command line as policy staff and county IT run it: the real binary on the sample catalog
//! and on a deliberately broken copy of it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::hostile::{hostile_cases, write_hostile_rules, Stage, TRIGGER};
use common::{copy_dir, edit};

fn yichuang(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yichuang"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn lint_and_test_pass_on_the_sample_catalog_and_report_counts() {
    let o = yichuang(&["rules", "lint", "rules/"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let summary = out.lines().last().unwrap();
    assert!(
        summary.contains("31 matters") && summary.contains("0 error(s)"),
        "{summary}"
    );
    assert!(summary.contains("149 examples"), "{summary}");

    // Without a folder: the catalog in rules/, the same summary.
    let o = yichuang(&["rules", "lint"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o).lines().last(), Some(summary));

    let o = yichuang(&["rules", "test"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("149 passed, 0 failed"), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("PASS")).count(), 149);
    // Every notice kind of every example and every guide renders with the catalog's templates.
    assert!(out.contains("31 guides rendered, 0 failed"), "{out}");

    // A template that does not compile is a catalog error naming the file and line.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(std::path::Path::new("rules"), dir.path());
    std::fs::write(
        dir.path().join("templates/notice.html"),
        "<p>\n{% if n.title %}\n",
    )
    .unwrap();
    let o = yichuang(&["rules", "lint", dir.path().to_str().unwrap()]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("templates/notice.html:"), "{out}");
    // One that compiles but does not render (an unknown filter) fails `rules test`.
    std::fs::write(
        dir.path().join("templates/notice.html"),
        "{{ n.title | no_such_filter }}",
    )
    .unwrap();
    let o = yichuang(&["rules", "test", dir.path().to_str().unwrap()]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("templates/notice.html"), "{out}");
}

#[test]
fn a_broken_catalog_fails_with_a_location_for_every_fault() {
    let dir = tempfile::tempdir().unwrap();
    let rules: PathBuf = dir.path().join("rules");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"), &rules);
    let m = rules.join("matters");
    // 1. Bad YAML.
    edit(
        &m.join("mz-gaoling.yaml"),
        "subjects: [natural_person]",
        "subjects: [natural_person\n",
    );
    // 2. A script that does not compile.
    edit(
        &m.join("ga-huji-zhengming.yaml"),
        "when: 'fields.proof_type != \"注销户口证明\"'",
        "when: 'fields.proof_type != != \"注销户口证明\"'",
    );
    // 3. An unknown department.
    edit(
        &m.join("mz-dibao.yaml"),
        "department: disabled-federation",
        "department: no-such-department",
    );
    // 4. A script that never ends.
    edit(
        &m.join("mz-tekun.yaml"),
        "refusals:\n  - id: ",
        "refusals:\n  - id: runaway\n    if: 'let x = 0; loop { x += 1; } false'\n    kind: ineligible\n    reason: 测试\n    basis: 测试\n  - id: ",
    );
    let o = yichuang(&["rules", "lint", rules.to_str().unwrap()]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("matters/mz-gaoling.yaml:11:12: error: YAML"),
        "bad YAML not located: {out}"
    );
    assert!(
        out.contains("matters/ga-huji-zhengming.yaml:52:") && out.contains("does not compile"),
        "script error not located: {out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("matters/mz-dibao.yaml:") && l.contains("no-such-department")),
        "unknown department not located: {out}"
    );
    let runaway: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("too many operations"))
        .collect();
    assert!(!runaway.is_empty(), "endless loop not reported: {out}");
    assert!(
        runaway
            .iter()
            .all(|l| l.contains("matters/mz-tekun.yaml:") && l.contains("QS-MZ-002")),
        "{runaway:?}"
    );
}

/// `rules lint` on the hostile-script catalog (tests/fixtures/hostile/): it fails, with one error
/// per hostile matter — a compile error at the script's line, or the example's failure naming the
/// file, line and rule — and still prints its summary.
#[test]
fn lint_reports_every_hostile_script_with_its_matter_and_rule() {
    let cases = hostile_cases();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    write_hostile_rules(&rules, &cases, TRIGGER);
    let o = yichuang(&["rules", "lint", rules.to_str().unwrap()]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    for c in &cases {
        let tag = format!("error [{}]", c.code);
        let lines: Vec<&str> = out.lines().filter(|l| l.contains(&tag)).collect();
        assert_eq!(lines.len(), 1, "{}: {out}", c.id);
        let line = lines[0];
        assert!(line.starts_with(&format!("{}:", c.file())), "{line}");
        assert!(
            line.contains(c.at.path()) && line.contains(&c.error),
            "{line}"
        );
        if c.stage == Stage::Run {
            assert!(
                line.contains("example") && line.contains(&format!("at {}:", c.file())),
                "{line}"
            );
        }
    }
    let summary = out.lines().last().unwrap();
    assert!(
        summary.contains(&format!("{} error(s)", cases.len())),
        "{summary}"
    );
}

#[test]
fn calendar_add_gives_the_due_date_or_the_coverage_error() {
    // 国庆 2026: 10/1–10/7 off; 10/10 (Saturday) is a make-up working day.
    let o = yichuang(&["calendar", "add", "2026-09-30", "3"]);
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "2026-10-10");
    let o = yichuang(&["calendar", "add", "2026-12-25", "10"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("2026-12-31"), "{}", text(&o));
}

#[test]
fn guide_and_schema_are_printed() {
    let o = yichuang(&["rules", "guide", "rules/", "QS-MZ-001"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for heading in [
        "## 一、",
        "## 二、设定依据",
        "## 三、办理流程",
        "## 四、申请材料",
        "## 五、办理时限",
        "## 六、收费标准",
    ] {
        assert!(out.contains(heading), "missing {heading}");
    }
    let o = yichuang(&["rules", "guide", "rules/", "NOPE"]);
    assert!(!o.status.success());

    let o = yichuang(&["rules", "schema"]);
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(schema["properties"]["materials"].is_object());
    assert!(schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == "jurisdiction"));
}

#[test]
fn diff_describes_what_changed_between_two_catalogs() {
    let dir = tempfile::tempdir().unwrap();
    let rules: PathBuf = dir.path().join("rules");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"), &rules);
    let o = yichuang(&["rules", "diff", "rules/", rules.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(text(&o).contains("没有差别"), "{}", text(&o));

    edit(
        &rules.join("matters/mz-dibao.yaml"),
        "promised_days: 20\n",
        "promised_days: 15\n",
    );
    edit(
        &rules.join("matters/mz-dibao.yaml"),
        "issued_within_days: 90",
        "issued_within_days: 60",
    );
    let o = yichuang(&["rules", "diff", "rules/", rules.to_str().unwrap()]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("## QS-MZ-001"), "{out}");
    assert!(out.contains("承诺时限（工作日）：20 → 15"), "{out}");
    assert!(
        out.contains("须90日内出具） → 收入证明（原件1份，容缺后补，须60日内出具）"),
        "{out}"
    );
    assert_eq!(
        out.matches("## ").count(),
        1,
        "only one matter changed: {out}"
    );
}

/// The shipped binary is built without debug info (the release profile strips it; a separate
/// `profiling` profile keeps line tables for perf).
#[test]
fn release_profile_ships_without_debug_info() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let release = manifest
        .split("[profile.release]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [profile.release] section");
    let setting = |key: &str| {
        release.lines().find_map(|l| {
            l.strip_prefix(key)
                .map(|v| v.trim().trim_start_matches('=').trim().to_string())
        })
    };
    assert!(
        matches!(
            setting("debug ").as_deref(),
            Some("false" | "0" | "\"none\"")
        ),
        "{release}"
    );
    assert_eq!(
        setting("strip ").as_deref(),
        Some("\"debuginfo\""),
        "{release}"
    );
    assert!(manifest.contains("[profile.profiling]"));
}
