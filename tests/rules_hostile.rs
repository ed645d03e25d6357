//! Rule files as untrusted input (issue 13, "Rule files"): links leading out of the rules
//! directory, editor lock and backup files, files nested 100,000 deep or holding hundreds of
//! thousands of values, repeated keys, codes that are paths or markup, and the versions kept in
//! memory. Small hostile files are in `tests/fixtures/rules_hostile/`; big ones are generated
//! here. Timings and memory are measured by the commands in RELIABILITY.md, not asserted here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use yichuang::catalog::pinned::{catalog_weight, PinnedVersions};
use yichuang::catalog::{guard, Catalog, CatalogSources, Diagnostic, Severity, SourceError};
use yichuang::rules::ScriptLimits;

mod common;
use common::{copy_dir, edit};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/rules_hostile")
        .join(name)
}

/// A copy of the sample catalog in `<tmp>/rules`.
fn sample_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("rules");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"), &rules);
    (tmp, rules)
}

fn sample_sources() -> CatalogSources {
    CatalogSources::read_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap()
}

fn lint(dir: &Path) -> (bool, String) {
    let o: Output = Command::new(env!("CARGO_BIN_EXE_yichuang"))
        .args(["rules", "lint"])
        .arg(dir)
        .output()
        .expect("the binary runs");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), out)
}

fn errors(diags: &[Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(ToString::to_string)
        .collect()
}

/// The sample catalog with one more file, loaded for lint: every error.
fn errors_with(file: &str, text: String) -> Vec<String> {
    let mut s = sample_sources();
    s.files.insert(file.to_string(), text);
    errors(&Catalog::load_for_lint(s, ScriptLimits::default()).1)
}

const SECRETS: [&str; 3] = ["SECRET-LINE-ONE", "SECRET-LINE-TWO", "SECRET-LINE-THREE"];

fn assert_no_secret(out: &str) {
    for s in SECRETS {
        assert!(!out.contains(s), "file contents shown: {out}");
    }
}

// 1. Only regular files inside the rules directory; hidden, backup and lock files skipped.

#[cfg(unix)]
#[test]
fn links_leaving_the_rules_are_refused_by_name_and_lock_files_are_skipped() {
    use std::os::unix::fs::symlink;

    let (tmp, rules) = sample_copy();
    let secret = tmp.path().join("secret.txt");
    std::fs::copy(fixture("secret.txt"), &secret).unwrap();
    symlink(&secret, rules.join("matters/zz-passwd.yaml")).unwrap();
    std::fs::create_dir(rules.join("extra")).unwrap();
    symlink("../../secret.txt", rules.join("extra/leak.yaml")).unwrap();
    symlink(tmp.path(), rules.join("matters/outside")).unwrap();

    let e = CatalogSources::read_dir(&rules).unwrap_err();
    let SourceError::Refused(list) = &e else {
        panic!("{e}")
    };
    let mut files: Vec<&str> = list.iter().map(|d| d.file.as_str()).collect();
    files.sort();
    assert_eq!(
        files,
        [
            "extra/leak.yaml",
            "matters/outside",
            "matters/zz-passwd.yaml"
        ],
        "{e}"
    );
    assert!(list.iter().all(|d| d.message.contains("outside the rules")));
    assert_no_secret(&e.to_string());
    let failure = Catalog::load_dir(&rules).unwrap_err();
    assert_no_secret(&format!("{failure} {:?}", failure.diagnostics));
    let (ok, out) = lint(&rules);
    assert!(
        !ok && out.contains("matters/zz-passwd.yaml:1:1: error"),
        "{out}"
    );
    assert_no_secret(&out);

    // A FIFO named like a rule file is refused without being opened (reading it would block).
    for l in [
        "matters/zz-passwd.yaml",
        "extra/leak.yaml",
        "matters/outside",
    ] {
        std::fs::remove_file(rules.join(l)).unwrap();
    }
    let fifo = rules.join("matters/zz-fifo.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let e = CatalogSources::read_dir(&rules).unwrap_err().to_string();
        assert!(
            e.contains("matters/zz-fifo.yaml") && e.contains("not a regular file"),
            "{e}"
        );
        std::fs::remove_file(&fifo).unwrap();
    }

    // Editor lock files (Emacs: a dangling link), swap and backup files: skipped.
    symlink(
        "engineer@county-pc.4242:1764633600",
        rules.join("matters/.#mz-dibao.yaml"),
    )
    .unwrap();
    std::fs::write(rules.join("matters/mz-dibao.yaml~"), "code: [broken\n").unwrap();
    std::fs::write(rules.join("matters/#mz-dibao.yaml#"), "code: [broken\n").unwrap();
    std::fs::write(
        rules.join("matters/.mz-dibao.yaml.swp"),
        [0u8, 159, 146, 150],
    )
    .unwrap();
    std::fs::write(rules.join("matters/mz-dibao.yaml.orig"), "code: [broken\n").unwrap();
    std::fs::write(rules.join("matters/mz-dibao.yaml.bak"), "code: [broken\n").unwrap();
    // A link to a rule file inside the rules directory is read.
    symlink("mz-dibao.yaml", rules.join("matters/zz-same.yaml")).unwrap();
    let (s, skipped) = CatalogSources::read_dir_noting(&rules).unwrap();
    assert!(s.files.contains_key("matters/zz-same.yaml"));
    assert!(!s.files.keys().any(|f| f.contains('#') || f.ends_with('~')));
    assert_eq!(skipped.len(), 6, "{skipped:?}");
    std::fs::remove_file(rules.join("matters/zz-same.yaml")).unwrap();
    let c = Catalog::load_dir(&rules).unwrap();
    assert_eq!(c.matters.len(), 31);
    let (ok, out) = lint(&rules);
    assert!(ok, "{out}");
    assert!(out.contains("matters/.#mz-dibao.yaml: note"), "{out}");
}

// 2. Size, depth and node limits, before serde_yaml builds anything.

#[test]
fn deep_big_and_many_valued_files_are_refused_at_their_line() {
    // 100,000 deep, flow style (195 KiB) and block style.
    let flow = format!(
        "code: QS-X-001\nname: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let e = errors_with("matters/deep.yaml", flow);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("matters/deep.yaml:2:") && e[0].contains("deeper than 64"),
        "{e:?}"
    );

    let mut block = String::from("code: QS-X-001\nname:\n");
    for _ in 0..100_000 {
        block.push_str("- ");
    }
    block.push_str("x\n");
    let e = errors_with("matters/deep.yaml", block);
    assert!(e.len() == 1 && e[0].contains("deeper than 64"), "{e:?}");

    // Nested mappings inside a calendar file.
    let nested: String = (0..200)
        .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
        .collect();
    let e = errors_with("calendar/2027.yaml", format!("year: 2027\n{nested}"));
    assert!(
        e.iter()
            .any(|e| e.starts_with("calendar/2027.yaml:66:") && e.contains("deeper than 64")),
        "{e:?}"
    );

    // Many small values: 200,000 (about 800 KiB) refused past the 50,000th.
    let many: String = std::iter::once("code: QS-X-001\nname:\n".to_string())
        .chain((0..200_000).map(|_| "- 1\n".to_string()))
        .collect();
    assert!(many.len() < guard::MAX_FILE_BYTES as usize);
    let e = errors_with("matters/many.yaml", many);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(&format!("matters/many.yaml:{}:", guard::MAX_NODES - 2))
            && e[0].contains("more than 50000 values"),
        "{e:?}"
    );

    // Aliases count as what they repeat (a "billion laughs" of 10^9 values in 1 KiB).
    let mut laughs = String::from("code: QS-X-001\na: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..8 {
        let p = if i == 0 {
            "a".to_string()
        } else {
            format!("l{}", i - 1)
        };
        laughs.push_str(&format!(
            "l{i}: &l{i} [{}]\n",
            vec![format!("*{p}"); 10].join(", ")
        ));
    }
    let e = errors_with("matters/laughs.yaml", laughs);
    assert!(
        e.len() == 1 && e[0].contains("more than 50000 values"),
        "{e:?}"
    );

    // An alias inside the collection it names would repeat it without end: refused where the
    // alias is written.
    let e = errors_with(
        "matters/loop.yaml",
        "code: QS-X-001\nname: x\nform: &f\n  - id: a\n    fields: *f\n".to_string(),
    );
    assert!(
        e.len() == 1
            && e[0].starts_with("matters/loop.yaml:5:")
            && e[0].contains("an alias refers to the collection it is inside"),
        "{e:?}"
    );

    // Over 1 MiB: refused by size, from the database's sources and from the directory.
    let big = format!(
        "code: QS-X-001\n#{}\n",
        "x".repeat(guard::MAX_FILE_BYTES as usize)
    );
    let e = errors_with("matters/big.yaml", big.clone());
    assert!(
        e.len() == 1 && e[0].starts_with("matters/big.yaml:1:1") && e[0].contains("limit"),
        "{e:?}"
    );
    let (_tmp, rules) = sample_copy();
    std::fs::write(rules.join("matters/big.yaml"), &big).unwrap();
    let e = CatalogSources::read_dir(&rules).unwrap_err().to_string();
    assert!(
        e.contains("matters/big.yaml") && e.contains("over the limit"),
        "{e}"
    );

    // Over 32 MiB together.
    let mut s = sample_sources();
    let part = format!("#{}\n", "x".repeat(1_000_000));
    for i in 0..34 {
        s.files.insert(format!("other/pad{i}.yaml"), part.clone());
    }
    let e = errors(&Catalog::load_for_lint(s, ScriptLimits::default()).1);
    assert!(e.len() == 1 && e[0].contains("together"), "{e:?}");
}

// 3. Error texts never repeat a file beyond the offending line.

#[test]
fn error_texts_repeat_at_most_the_offending_line() {
    // A rule file holding another file's text (a copy, not a link): one scalar of three lines.
    let secret = std::fs::read_to_string(fixture("secret.txt")).unwrap();
    let e = errors_with("matters/passwd.yaml", secret);
    assert!(!e.is_empty());
    let all = e.join("\n");
    assert!(
        !all.contains("SECRET-LINE-TWO") && !all.contains("SECRET-LINE-THREE"),
        "{all}"
    );

    // A long offending line is cut.
    let long = format!(
        "code: QS-X-001\nname: {}\nsubjects: 5\n",
        "长".repeat(50_000)
    );
    let e = errors_with("matters/long.yaml", long.clone());
    assert!(!e.is_empty());
    for line in &e {
        assert!(line.chars().count() < 500, "{} chars", line.chars().count());
    }
    let e = errors_with(
        "matters/long.yaml",
        format!("code: QS-X-001\nname: [{}\n", "长".repeat(50_000)),
    );
    assert!(e.iter().all(|l| l.chars().count() < 500), "{e:?}");
}

// 4. A key repeated inside any mapping is an error at its line.

#[test]
fn repeated_keys_are_errors_at_their_line() {
    let (_tmp, rules) = sample_copy();
    let cal = rules.join("calendar/2026.yaml");
    let mut text = std::fs::read_to_string(&cal).unwrap();
    let first_line = text.lines().count() + 4; // the appended fixture's first `baishui:` line
    text.push_str(&std::fs::read_to_string(fixture("regions-repeated.yaml")).unwrap());
    std::fs::write(&cal, text).unwrap();
    edit(
        &rules.join("matters/mz-dibao.yaml"),
        "        household_size: 2\n",
        "        household_size: 2\n        household_size: 9\n",
    );
    let failure = Catalog::load_dir(&rules).unwrap_err();
    let e = errors(&failure.diagnostics);
    let want = format!("calendar/2026.yaml:{}:3: error", first_line + 3);
    assert!(
        e.iter().any(|l| l.starts_with(&want)
            && l.contains("'baishui' repeated")
            && l.contains(&format!("line {first_line}"))),
        "{want}: {e:?}"
    );
    assert!(
        e.iter()
            .any(|l| l.starts_with("matters/mz-dibao.yaml:140:9: error")
                && l.contains("'household_size' repeated")),
        "{e:?}"
    );
    let (ok, out) = lint(&rules);
    assert!(
        !ok && out.contains("'baishui' repeated") && out.contains("'household_size' repeated"),
        "{out}"
    );
}

// 5. Matter and bundle codes follow the documented pattern.

#[test]
fn matter_and_bundle_codes_follow_the_pattern() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let c = Catalog::load_dir(&root.join("rules")).unwrap();
    assert!(c
        .matters
        .keys()
        .chain(c.bundles.keys())
        .all(|k| guard::is_valid_code(k)));

    let dibao = std::fs::read_to_string(root.join("rules/matters/mz-dibao.yaml")).unwrap();
    let bad = std::fs::read_to_string(fixture("bad-codes.txt")).unwrap();
    for code in bad.lines() {
        let text = dibao.replacen("code: QS-MZ-001", &format!("code: {code}"), 1);
        let e = errors_with("matters/zz-bad.yaml", text);
        assert!(
            e.iter()
                .any(|l| l.starts_with("matters/zz-bad.yaml:") && l.contains(guard::CODE_PATTERN)),
            "{code}: {e:?}"
        );
    }
    // National codes: a 12-character basic code and a 31-character implementation code.
    for code in ["11330100002K", "11330100002K5191013000029000001"] {
        let mut s = sample_sources();
        s.files.insert(
            "matters/zz-national.yaml".into(),
            dibao.replacen("code: QS-MZ-001", &format!("code: {code}"), 1),
        );
        let c = Catalog::load(s).unwrap_or_else(|f| panic!("{code}: {f}"));
        assert!(c.matter(code).is_some());
    }
    // Bundles likewise.
    let newborn = std::fs::read_to_string(root.join("rules/bundles/newborn.yaml")).unwrap();
    let e = errors_with(
        "bundles/zz-bad.yaml",
        newborn.replacen("code: QS-YJS-NEWBORN", "code: QS/YJS/NEWBORN", 1),
    );
    assert!(
        e.iter()
            .any(|l| l.starts_with("bundles/zz-bad.yaml:") && l.contains("bundle code")),
        "{e:?}"
    );
}

// 6. Pinned versions: bounded by count and bytes, loaded again on demand.

#[test]
fn pinned_versions_are_bounded_and_loaded_again_on_demand() {
    let version = |i: usize| {
        let mut s = sample_sources();
        let m = s.files.get_mut("catalog.yaml").unwrap();
        m.push_str(&format!("# version {i}\n"));
        s
    };
    let loads = std::cell::Cell::new(0);
    let load = |i: usize| {
        loads.set(loads.get() + 1);
        Catalog::load(version(i)).map(Arc::new)
    };
    let hashes: Vec<String> = (0..4).map(|i| version(i).content_hash()).collect();
    let one = catalog_weight(&load(0).unwrap());
    loads.set(0);
    let pinned = PinnedVersions::with_limits(3, 2 * one + one / 2, catalog_weight);
    for i in [0, 1, 2, 0, 1, 3, 0] {
        let c = pinned.get_or_load(&hashes[i], || load(i)).unwrap();
        assert_eq!(c.hash, hashes[i]);
        assert!(pinned.len() <= 2 && pinned.bytes() <= 2 * one + one / 2);
    }
    // Bytes allow two: 0, 1, 2 (drops 0), 0 (drops 1), 1 (drops 2), 3 (drops 0), 0 (drops 1).
    assert_eq!(loads.get(), 7);
}
