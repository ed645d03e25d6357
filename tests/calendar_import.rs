//! `calendar import`: the State Council's holiday notices of 2025 and 2026, as published, give
//! the shipped calendar year files byte for byte — through the library and through the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use yichuang::authoring::holiday_notice::{parse, render_checked};
use yichuang::domain::calendar::Calendar;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn notice(year: i32) -> PathBuf {
    root().join(format!("tests/fixtures/holiday_notices/{year}.txt"))
}

fn shipped(year: i32) -> String {
    std::fs::read_to_string(root().join(format!("rules/calendar/{year}.yaml"))).unwrap()
}

fn generated(year: i32) -> String {
    let text = std::fs::read_to_string(notice(year)).unwrap();
    let plan = parse(&text).unwrap();
    assert_eq!(plan.year, year);
    assert!(plan.left_out().is_empty());
    render_checked(&plan).unwrap()
}

/// The first differing line, for a readable failure.
fn first_difference(a: &str, b: &str) -> String {
    a.lines()
        .zip(b.lines())
        .enumerate()
        .find(|(_, (x, y))| x != y)
        .map(|(i, (x, y))| format!("line {}:\n  generated: {x}\n  shipped:   {y}", i + 1))
        .unwrap_or_else(|| format!("{} vs {} lines", a.lines().count(), b.lines().count()))
}

#[test]
fn the_2025_and_2026_notices_give_the_shipped_files_byte_for_byte() {
    for year in [2025, 2026] {
        let (got, want) = (generated(year), shipped(year));
        assert!(got == want, "{year}: {}", first_difference(&got, &want));
    }
}

#[test]
fn the_generated_files_load_as_the_calendar_the_shipped_ones_give_day_by_day() {
    let dir = tempfile::tempdir().unwrap();
    for year in [2025, 2026] {
        std::fs::write(dir.path().join(format!("{year}.yaml")), generated(year)).unwrap();
    }
    let ours = Calendar::load_dir(dir.path()).unwrap();
    let theirs = Calendar::load_dir(&root().join("rules/calendar")).unwrap();
    assert_eq!(ours.coverage(), theirs.coverage());
    let (from, until) = ours.coverage();
    let mut rest_days = 0;
    for day in from.iter_days().take_while(|d| *d <= until) {
        assert_eq!(
            ours.is_working_day(day, None).unwrap(),
            theirs.is_working_day(day, None).unwrap(),
            "{day}"
        );
        assert_eq!(
            ours.holiday_name(day, None),
            theirs.holiday_name(day, None),
            "{day}"
        );
        rest_days += usize::from(ours.holiday_name(day, None).is_some());
    }
    // 2025: 1 + 8 + 3 + 5 + 3 + 8; 2026: 3 + 9 + 3 + 5 + 3 + 3 + 7.
    assert_eq!(rest_days, 28 + 33);
}

fn yichuang(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yichuang"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_binary_writes_the_file_refuses_to_overwrite_it_and_overwrites_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("2026.yaml");
    let n = notice(2026);
    let args = [
        "calendar",
        "import",
        n.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];

    let o = yichuang(&args, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), shipped(2026));
    let printed = stdout(&o);
    assert!(printed.contains(&shipped(2026)), "{printed}");
    assert!(
        printed.contains(&format!("wrote {}", out.display())),
        "{printed}"
    );
    assert!(
        printed.contains("2026: 7 holidays, 6 make-up working days, 33 days off"),
        "{printed}"
    );

    // A second run does not overwrite what is there.
    std::fs::write(&out, "year: 2026\nholidays: []\n").unwrap();
    let o = yichuang(&args, dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "year: 2026\nholidays: []\n"
    );

    let mut forced = args.to_vec();
    forced.push("--force");
    let o = yichuang(&forced, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), shipped(2026));
}

#[test]
fn the_binary_reads_stdin_and_writes_rules_calendar_year_by_default() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules/calendar")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_yichuang"))
        .args(["calendar", "import", "-"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let text = std::fs::read(notice(2025)).unwrap();
        child.stdin.take().unwrap().write_all(&text).unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let written = dir.path().join("rules/calendar/2025.yaml");
    assert_eq!(std::fs::read_to_string(written).unwrap(), shipped(2025));
    assert!(
        stdout(&o).contains("2025: 6 holidays, 5 make-up working days, 28 days off"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn an_unreadable_or_wrong_notice_exits_1_with_the_error_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.yaml");
    let out = out.to_str().unwrap();

    let o = yichuang(
        &["calendar", "import", "no-such-notice.txt", "--out", out],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no-such-notice.txt"), "{}", stderr(&o));

    let bad = dir.path().join("bad.txt");
    let text = std::fs::read_to_string(notice(2026)).unwrap();
    std::fs::write(&bad, text.replace("4月4日（周六）", "4月4日（周日）")).unwrap();
    let o = yichuang(
        &["calendar", "import", bad.to_str().unwrap(), "--out", out],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("第三项「清明节」")
            && stderr(&o).contains("2026-04-04 是周六，不是周日"),
        "{}",
        stderr(&o)
    );

    let o = yichuang(
        &[
            "calendar",
            "import",
            notice(2026).to_str().unwrap(),
            "--year",
            "2027",
            "--out",
            out,
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("2027"), "{}", stderr(&o));
    assert!(!Path::new(out).exists());
}
