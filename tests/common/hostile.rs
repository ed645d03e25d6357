//! The hostile-script catalog of `tests/fixtures/hostile/`: a copy of the sample catalog plus
//! one matter per case of `cases.yaml`, each built from `template.yaml`.

use std::path::Path;

use serde::Deserialize;

use super::copy_dir;

/// Where a case puts its script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    Refusal,
    When,
    Check,
    Correction,
}

impl Slot {
    /// The YAML path of the slot, as script failures name it.
    pub fn path(self) -> &'static str {
        match self {
            Slot::Refusal => "refusals[0].if",
            Slot::When => "materials[1].when",
            Slot::Check => "form[0].checks[0].rule",
            Slot::Correction => "corrections[0].if",
        }
    }
    fn placeholder(self) -> &'static str {
        match self {
            Slot::Refusal => "%REFUSAL%",
            Slot::When => "%WHEN%",
            Slot::Check => "%CHECK%",
            Slot::Correction => "%CORRECTION%",
        }
    }
    /// A harmless script for the slot when it is not the hostile one.
    fn harmless(self) -> &'static str {
        match self {
            Slot::Check => "value.len() > 0",
            Slot::Refusal | Slot::When | Slot::Correction => "fields.note == \"不会出现\"",
        }
    }
}

/// When a case fails: while compiling (the catalog does not load) or while running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Compile,
    #[default]
    Run,
}

/// One hostile script.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostileCase {
    pub id: String,
    pub name: String,
    pub at: Slot,
    pub script: String,
    /// A part of the failure message.
    pub error: String,
    #[serde(default)]
    pub stage: Stage,
    /// Set when the cases are read: `QS-HX-01`, …
    #[serde(skip)]
    pub code: String,
}

impl HostileCase {
    /// The matter file in the rules directory.
    pub fn file(&self) -> String {
        format!("matters/hostile/{}.yaml", self.id)
    }
}

/// The value of `note` that makes the scripts fire.
pub const TRIGGER: &str = "触发";
/// A value that leaves them dormant.
pub const DORMANT: &str = "正常";

fn fixture_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile")
}

/// Every case of `cases.yaml`, numbered.
pub fn hostile_cases() -> Vec<HostileCase> {
    let text = std::fs::read_to_string(fixture_dir().join("cases.yaml")).unwrap();
    let mut cases: Vec<HostileCase> = serde_yaml::from_str(&text).unwrap();
    for (i, c) in cases.iter_mut().enumerate() {
        c.code = format!("QS-HX-{:02}", i + 1);
    }
    cases
}

/// The matter file of a case. Its example fills `note` with `note`.
pub fn hostile_matter(case: &HostileCase, note: &str) -> String {
    let mut text = std::fs::read_to_string(fixture_dir().join("template.yaml")).unwrap();
    for slot in [Slot::Refusal, Slot::When, Slot::Check, Slot::Correction] {
        let script = if slot == case.at {
            case.script.as_str()
        } else {
            slot.harmless()
        };
        text = text.replace(slot.placeholder(), script);
    }
    text.replace("%CODE%", &case.code)
        .replace("%NAME%", &case.name)
        .replace("%NOTE%", note)
}

/// Write a copy of the sample catalog plus the matters of `cases` (examples filling `note`) to
/// `dir`.
pub fn write_hostile_rules(dir: &Path, cases: &[HostileCase], note: &str) {
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"), dir);
    std::fs::create_dir_all(dir.join("matters/hostile")).unwrap();
    for c in cases {
        std::fs::write(dir.join(c.file()), hostile_matter(c, note)).unwrap();
    }
}
