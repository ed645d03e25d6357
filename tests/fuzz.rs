//! Fuzzing the catalog loader and the decision with proptest (issue 6): no input may make them
//! panic or hang. Three properties:
//!
//! - generated matter files: YAML built from the matter model (every key, with values mixing
//!   valid ones, wrong ones, extreme numbers and hostile scripts), loaded next to the sample
//!   catalog's shared files, then every example it carries is run;
//! - real rule files of `rules/` with random text mutations (lines deleted, duplicated, swapped,
//!   re-indented, truncated; YAML tokens, anchors, tags, huge numbers, Unicode inserted), loaded
//!   the same way;
//! - generated applications (random fields by the matters' own field ids and others, values of
//!   every JSON type, Unicode, materials with random attributes and dates, any township, village,
//!   channel and day) assessed against every sample matter and every bundle.
//!
//! Each property runs 256 cases by default; `PROPTEST_CASES=100000 cargo test --release --test
//! fuzz` is the long run (figures in RELIABILITY.md). The properties assert nothing about the
//! results beyond "an answer or an error": a panic fails the case, and proptest then shrinks it
//! and records it under `proptest-regressions/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::NaiveDate;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{json, Map, Value};
use yichuang::authoring::run_examples;
use yichuang::catalog::{Catalog, CatalogSources};
use yichuang::decide::{assess, assess_bundle};
use yichuang::domain::application::{Application, Channel, IntakeContext};
use yichuang::rules::ScriptLimits;

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
}

/// Every file of the sample catalog.
fn sample_sources() -> &'static CatalogSources {
    static S: OnceLock<CatalogSources> = OnceLock::new();
    S.get_or_init(|| CatalogSources::read_dir(&rules_dir()).unwrap())
}

/// The sample catalog, loaded once.
fn sample() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| Catalog::load(sample_sources().clone()).unwrap())
}

fn is_shared(path: &str) -> bool {
    !path.starts_with("matters/") && !path.starts_with("bundles/")
}

/// The shared files (catalog.yaml, org.yaml, calendar) plus `extra`.
fn with_shared(extra: &[(&str, String)]) -> CatalogSources {
    let mut s = CatalogSources::default();
    for (p, t) in &sample_sources().files {
        if is_shared(p) {
            s.files.insert(p.clone(), t.clone());
        }
    }
    for (p, t) in extra {
        s.files.insert((*p).to_string(), t.clone());
    }
    s
}

/// Load as `rules lint` does and, when something loads, run every example in it.
fn load_and_run(sources: CatalogSources) {
    let (catalog, diagnostics) = Catalog::load_for_lint(sources, ScriptLimits::default());
    // Reporting walks every finding's position; do it as lint would.
    for d in &diagnostics {
        let _ = d.to_string();
    }
    if let Some(c) = catalog {
        for r in run_examples(&c) {
            let _ = r.passed();
        }
    }
}

// ---------------------------------------------------------------- values

/// Texts: ordinary, empty, odd Unicode, YAML-looking, long.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z_]{1,12}",
        2 => "\\PC{0,24}",
        1 => select(vec![
            "", " ", "\u{0}", "\u{202e}", "𝕏", "青山县白水镇", "null", "~", "'", "\"", "\\",
            "- x", "{a: 1}", "&a", "*a", "!!binary", "2026-02-30", "330112195003120017",
            "13800001234", "9999-12-31",
        ])
        .prop_map(str::to_string),
        1 => ("[a-z]", 1000usize..5000).prop_map(|(c, n)| c.repeat(n)),
    ]
}

/// Numbers, including the extremes of every integer type the model uses.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0i64..40).prop_map(Value::from),
        1 => select(vec![
            -1i64, i64::from(i32::MIN), i64::from(u32::MAX), i64::from(u32::MAX) + 1,
            i64::MAX, i64::MIN, 36_600, 3_661,
        ])
        .prop_map(Value::from),
        1 => select(vec![0.5f64, -0.0, 1e300, -1e300, f64::MIN_POSITIVE]).prop_map(Value::from),
        1 => Just(json!(u64::MAX)),
    ]
}

/// Any JSON value, a few levels deep.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        number(),
        text().prop_map(Value::from),
        date_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn date_text() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (2020i32..2030, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
        1 => select(vec![
            "0000-01-01", "1899-12-31", "2026-02-29", "2026-13-01", "+262143-12-31",
            "262143-12-31", "9999-12-31", "2026-3-2",
        ])
        .prop_map(str::to_string),
    ]
}

// ---------------------------------------------------------------- generated matter files

/// Scripts: the sample catalog's kinds of conditions, wrong ones and hostile ones.
fn script() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(vec![
            "true", "false", "fields.a > 3", "fields.a == \"x\"", "fields.b != () && fields.b",
            "fields.items.len() > 2", "fields.a + fields.c * 2 >= 10", "!(fields.a < 1)",
            "applicant.age != () && applicant.age >= 60", "age(applicant.id_number) >= 18",
            "\"x\" in materials", "materials.p.copies > 1", "material.signed",
            "value != () && value.len() > 2", "today >= \"2026-01-01\"",
            "add_working_days(today, 3) > today", "working_days_between(fields.d, today) <= 60",
            "is_working_day(today)", "fields.items.filter(|m| m.x == \"y\").len() == 1",
            "township == \"baishui\" || level == \"county\"", "birth_date(fields.id) < today",
            "fields.a / fields.c > 1", "days_between(fields.d, today) > 90",
        ])
        .prop_map(str::to_string),
        2 => select(vec![
            "loop {}", "fn f(x) { f(x + 1) } f(0)", "let s = \"x\"; loop { s += s; }",
            "let a = []; loop { a = [a]; }", "add_days(today, -9223372036854775807 - 1) != \"\"",
            "add_working_days(today, 1000000000) != \"\"", "", "((", "fields.", "eval(\"1\")",
            "feilds.a", "fields = 1; true", "1", "()", "9223372036854775807 + 1 > 0",
            "print(fields); true", "import \"x\" as y; true",
        ])
        .prop_map(str::to_string),
        1 => text(),
    ]
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(vec!["a", "b", "c", "d", "id", "items", "x", "p", "q"]).prop_map(str::to_string),
        1 => text(),
    ]
}

fn level() -> impl Strategy<Value = Value> {
    prop_oneof![
        20 => select(vec!["village", "township", "county"]).prop_map(Value::from),
        1 => text().prop_map(Value::from),
    ]
}

fn unit() -> impl Strategy<Value = Value> {
    (
        level(),
        prop_oneof![
            5 => select(vec![
                "civil-affairs", "social-affairs", "police-station", "market", "market-office",
                "health", "agri-office",
            ])
            .prop_map(str::to_string),
            1 => text(),
        ],
    )
        .prop_map(|(level, department)| json!({ "level": level, "department": department }))
}

fn one_of(values: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop_oneof![
        40 => select(values.to_vec()).prop_map(Value::from),
        1 => any_value(),
    ]
}

/// Mostly a value of the strategy, sometimes no key, rarely any value at all (a matter has
/// some thirty keys: rarer wrong ones leave some generated matters whole).
fn maybe(s: impl Strategy<Value = Value>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        30 => s.prop_map(Some),
        10 => Just(None),
        1 => any_value().prop_map(Some),
    ]
}

/// Counts (days, copies): small ones, the extremes of `u32`, rarely any number.
fn count() -> impl Strategy<Value = Value> {
    prop_oneof![
        30 => (0u32..40).prop_map(Value::from),
        2 => select(vec![u32::MAX, 3_661, 36_600]).prop_map(Value::from),
        1 => number(),
    ]
}

fn field() -> impl Strategy<Value = Value> {
    let leaf = (
        id(),
        one_of(&[
            "text",
            "number",
            "integer",
            "date",
            "enum",
            "boolean",
            "id_number",
            "phone",
            "address",
            "list",
            "record",
        ]),
        any::<bool>(),
        maybe(script().prop_map(Value::from)),
        maybe(prop::collection::vec(text(), 0..4).prop_map(Value::from)),
        maybe(number()),
        maybe(number()),
        maybe(count()),
        prop::collection::vec((script(), text()), 0..2),
    )
        .prop_map(
            |(id, ty, required, required_if, options, min, max, max_len, checks)| {
                let mut f = Map::new();
                f.insert("id".into(), id.into());
                f.insert("label".into(), "字段".into());
                f.insert("type".into(), ty);
                f.insert("required".into(), required.into());
                for (k, v) in [
                    ("required_if", required_if),
                    ("options", options),
                    ("min", min),
                    ("max", max),
                    ("max_len", max_len),
                ] {
                    if let Some(v) = v {
                        f.insert(k.into(), v);
                    }
                }
                if !checks.is_empty() {
                    let checks: Vec<Value> = checks
                        .into_iter()
                        .map(|(rule, message)| json!({ "rule": rule, "message": message }))
                        .collect();
                    f.insert("checks".into(), checks.into());
                }
                Value::Object(f)
            },
        );
    leaf.prop_recursive(2, 8, 3, |inner| {
        (
            inner.clone(),
            prop::collection::vec(inner, 0..3),
            any::<bool>(),
        )
            .prop_map(|(mut item, fields, list)| {
                if list {
                    json!({ "id": "items", "label": "列表", "type": "list", "items": item })
                } else {
                    item["fields"] = fields.into();
                    item["type"] = "record".into();
                    item
                }
            })
    })
}

fn material() -> impl Strategy<Value = Value> {
    (
        id(),
        one_of(&["original", "copy", "original_and_copy"]),
        maybe(count()),
        maybe(one_of(&["required", "optional", "deferrable"])),
        maybe(count()),
        maybe(prop_oneof![
            Just(json!(["signed", "not_expired"])),
            Just(json!([{ "issued_within_days": 90 }])),
            number().prop_map(|n| json!([{ "issued_within_days": n }])),
            script().prop_map(|s| json!([{ "check": { "rule": s, "message": "不符" } }])),
        ]),
        maybe(script().prop_map(Value::from)),
        maybe(unit()),
    )
        .prop_map(
            |(id, form, copies, necessity, defer_days, standards, when, issued_by)| {
                let mut m = Map::new();
                m.insert("id".into(), id.into());
                m.insert("name".into(), "材料".into());
                m.insert("form".into(), form);
                for (k, v) in [
                    ("copies", copies),
                    ("necessity", necessity),
                    ("defer_days", defer_days),
                    ("standards", standards),
                    ("when", when),
                    ("issued_by", issued_by),
                ] {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                }
                Value::Object(m)
            },
        )
}

fn route() -> impl Strategy<Value = Value> {
    let step = (
        id(),
        one_of(&["review", "decide", "countersign"]),
        prop_oneof![
            10 => Just(json!("accepting")),
            10 => Just(json!("deciding")),
            3 => unit(),
            1 => any_value(),
        ],
        count(),
        maybe(text().prop_map(Value::from)),
    )
        .prop_map(|(id, role, unit, days, parallel)| {
            let mut s =
                json!({ "id": id, "name": "步骤", "role": role, "unit": unit, "days": days });
            if let Some(p) = parallel {
                s["parallel"] = p;
            }
            s
        });
    (
        maybe(level()),
        maybe(script().prop_map(Value::from)),
        prop::collection::vec(step, 0..4),
    )
        .prop_map(|(decide_level, when, steps)| {
            let mut r = json!({ "name": "路线", "steps": steps });
            if let Some(l) = decide_level {
                r["decide_level"] = l;
            }
            if let Some(w) = when {
                r["when"] = w;
            }
            r
        })
}

fn example() -> impl Strategy<Value = Value> {
    (
        date_text(),
        maybe(one_of(&["baishui", "qingshi", "hongqi", "dongguan"])),
        application_json(),
        one_of(&[
            "refused",
            "supplement_needed",
            "accepted_immediate",
            "accepted_promised",
            "accepted_deferred",
        ]),
        maybe(prop::collection::vec(id(), 0..3).prop_map(Value::from)),
    )
        .prop_map(|(today, township, application, outcome, defects)| {
            let mut ex = json!({ "name": "样例", "today": today, "application": application,
                                 "expect": { "outcome": outcome } });
            if let Some(t) = township {
                ex["township"] = t;
            }
            if let Some(d) = defects {
                ex["expect"]["defects"] = d;
            }
            ex
        })
}

fn matter_json() -> impl Strategy<Value = Value> {
    let head = (
        prop_oneof![5 => Just("QS-FZ-001".to_string()), 1 => text()],
        one_of(&[
            "administrative_license",
            "administrative_payment",
            "public_service",
        ]),
        prop::collection::vec(one_of(&["natural_person", "enterprise_legal_person"]), 0..3),
        prop::collection::vec(level(), 0..3),
        unit(),
        prop::collection::vec(
            (prop::collection::vec(text(), 0..3), unit())
                .prop_map(|(t, d)| json!({ "townships": t, "decide": d })),
            0..2,
        ),
        (one_of(&["immediate", "promised"]), count(), count()),
    );
    let body = (
        prop::collection::vec(field(), 0..6),
        prop::collection::vec(material(), 0..5),
        prop::collection::vec(
            (
                id(),
                script(),
                one_of(&["ineligible", "outside_power", "prohibited"]),
            ),
            0..3,
        ),
        prop::collection::vec((id(), script(), maybe(id().prop_map(Value::from))), 0..2),
        prop::collection::vec(route(), 0..3),
        prop::collection::vec(example(), 0..3),
    );
    (head, body).prop_map(
        |(
            (code, ty, subjects, accept, decide, devolved, (kind, statutory, promised)),
            (form, materials, refusals, corrections, routes, examples),
        )| {
            let refusals: Vec<Value> = refusals
                .into_iter()
                .map(|(id, cond, kind)| {
                    json!({ "id": id, "if": cond, "kind": kind, "reason": "理由", "basis": "依据" })
                })
                .collect();
            let corrections: Vec<Value> = corrections
                .into_iter()
                .map(|(id, cond, field)| {
                    let mut c = json!({ "id": id, "if": cond, "message": "请更正" });
                    if let Some(f) = field {
                        c["field"] = f;
                    }
                    c
                })
                .collect();
            json!({
                "code": code, "name": "生成的事项", "type": ty, "basis": ["依据"],
                "subjects": subjects,
                "jurisdiction": { "accept": accept, "decide": decide, "devolved": devolved },
                "handling": { "kind": kind, "statutory_days": statutory, "promised_days": promised },
                "form": form, "materials": materials, "refusals": refusals,
                "corrections": corrections, "routes": routes,
                "result": { "name": "结果", "type": "certificate" },
                "examples": examples,
            })
        },
    )
}

// ---------------------------------------------------------------- mutated real files

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Indent(usize, i8),
    Insert(usize, usize, String),
    ReplaceValue(usize, String),
    Truncate(usize),
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(vec![
            ":", ": ", "- ", "-", "{", "}", "[", "]", ",", "#", "&a ", "*a", "<<: *a", "!!str ",
            "!!binary ", "!custom ", "|", ">-", "'", "\"", "\t", "\n", "\n  ", "~", "null",
            "99999999999999999999999", "-1", "1e999", ".nan", "0x7fffffff", "? ", "%YAML 1.2",
            "---", "...", "\u{feff}", "\u{0}", "青山", "𝕏", "\\u0000", "true", "yes",
        ])
        .prop_map(str::to_string),
        1 => text(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), -4i8..5).prop_map(|(l, d)| Mutation::Indent(l, d)),
        (any::<usize>(), any::<usize>(), token()).prop_map(|(l, c, t)| Mutation::Insert(l, c, t)),
        (any::<usize>(), prop_oneof![token(), script(), date_text()])
            .prop_map(|(l, v)| Mutation::ReplaceValue(l, v)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in mutations {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let n = lines.len();
        match m {
            Mutation::DeleteLine(l) => {
                lines.remove(l % n);
            }
            Mutation::DuplicateLine(l) => {
                let line = lines[l % n].clone();
                lines.insert(l % n, line);
            }
            Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
            Mutation::Indent(l, d) => {
                let line = &mut lines[l % n];
                if *d >= 0 {
                    line.insert_str(0, &" ".repeat(*d as usize));
                } else {
                    let cut = line
                        .chars()
                        .take((-*d) as usize)
                        .take_while(|c| *c == ' ')
                        .count();
                    line.replace_range(..cut, "");
                }
            }
            Mutation::Insert(l, c, t) => {
                let line = &mut lines[l % n];
                let chars: Vec<char> = line.chars().collect();
                let at = c % (chars.len() + 1);
                let mut s: String = chars[..at].iter().collect();
                s.push_str(t);
                s.extend(&chars[at..]);
                *line = s;
            }
            Mutation::ReplaceValue(l, v) => {
                let line = &mut lines[l % n];
                if let Some(i) = line.find(": ") {
                    line.truncate(i + 2);
                    line.push_str(v);
                }
            }
            Mutation::Truncate(l) => lines.truncate(l % n),
        }
    }
    lines.join("\n")
}

// ---------------------------------------------------------------- generated applications

fn application_json() -> impl Strategy<Value = Value> {
    (
        one_of(&[
            "natural_person",
            "enterprise_legal_person",
            "public_institution",
        ]),
        text(),
        maybe(prop_oneof![
            Just(json!("330112195003120017")),
            Just(json!("11010519491231002X")),
            text().prop_map(Value::from),
        ]),
        maybe(prop_oneof![
            Just(json!("13800001234")),
            text().prop_map(Value::from)
        ]),
        prop::collection::btree_map(id(), any_value(), 0..6),
        prop::collection::vec(presented(), 0..5),
        any::<bool>(),
    )
        .prop_map(
            |(kind, name, id_number, phone, fields, materials, commitment)| {
                let mut applicant = json!({ "kind": kind, "name": name });
                if let Some(i) = id_number {
                    applicant["id_number"] = i;
                }
                if let Some(p) = phone {
                    applicant["phone"] = p;
                }
                json!({
                    "applicant": applicant,
                    "fields": Value::Object(fields.into_iter().collect()),
                    "materials": materials,
                    "commitment_signed": commitment,
                })
            },
        )
}

fn presented() -> impl Strategy<Value = Value> {
    (
        id(),
        maybe(one_of(&["original", "copy", "original_and_copy"])),
        maybe(count()),
        maybe(date_text().prop_map(Value::from)),
        maybe(date_text().prop_map(Value::from)),
        any::<(bool, bool)>(),
        prop::collection::btree_map("[a-z]{1,6}", any_value(), 0..3),
    )
        .prop_map(
            |(id, form, copies, issued_on, expires_on, (signed, sealed), attributes)| {
                let mut m = json!({ "id": id, "signed": signed, "sealed": sealed,
                                    "attributes": Value::Object(attributes.into_iter().collect()) });
                for (k, v) in [
                    ("form", form),
                    ("copies", copies),
                    ("issued_on", issued_on),
                    ("expires_on", expires_on),
                ] {
                    if let Some(v) = v {
                        m[k] = v;
                    }
                }
                m
            },
        )
}

/// One application body per case, turned into an `Application` for each matter by handing the
/// generated values to that matter's own field ids and material ids (so the checks behind the
/// form are reached), plus the generated ids themselves.
#[derive(Debug, Clone)]
struct Generated {
    application: Value,
    values: Vec<Value>,
    material_slots: Vec<usize>,
    today: NaiveDate,
    township: Option<String>,
    village: Option<String>,
    channel: Channel,
    own_ids: bool,
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        application_json(),
        prop::collection::vec(any_value(), 0..10),
        prop::collection::vec(any::<usize>(), 0..6),
        prop_oneof![
            4 => (2025i32..2027, 1u32..366).prop_map(|(y, d)| NaiveDate::from_yo_opt(y, d)
                .unwrap_or(NaiveDate::from_ymd_opt(y, 1, 1).unwrap_or_default())),
            1 => select(vec![NaiveDate::MIN, NaiveDate::MAX, NaiveDate::default()]),
        ],
        maybe(one_of(&["baishui", "qingshi", "hongqi", "dongguan"])),
        prop_oneof![
            4 => Just(None),
            1 => one_of(&["baishui-dongcun", "qingshi-linchang", "hongqi-nanwan", "nowhere"]).prop_map(Some),
        ],
        select(vec![Channel::Window, Channel::Online, Channel::Agent]),
        prop::bool::weighted(0.8),
    )
        .prop_map(
            |(application, values, material_slots, today, township, village, channel, own_ids)| {
                let s = |v: Option<Value>| v.map(|v| v.as_str().map_or(v.to_string(), str::to_string));
                Generated {
                    application,
                    values,
                    material_slots,
                    today,
                    township: s(township),
                    village: s(village),
                    channel,
                    own_ids,
                }
            },
        )
}

impl Generated {
    /// The application for one matter (or `None` when the generated body does not deserialize,
    /// as the HTTP layer would refuse it).
    fn for_ids(&self, field_ids: &[&str], material_ids: &[&str]) -> Option<Application> {
        let mut a = self.application.clone();
        if self.own_ids {
            let fields = a["fields"].as_object_mut()?;
            // Mostly only the matter's own ids; sometimes the generated ones stay beside them.
            if self.values.len() != 1 {
                fields.clear();
            }
            for (i, v) in self.values.iter().enumerate() {
                if let Some(id) = field_ids.get(i % field_ids.len().max(1)) {
                    fields.insert((*id).to_string(), v.clone());
                }
            }
            let materials = a["materials"].as_array_mut()?;
            for (i, m) in materials.iter_mut().enumerate() {
                let slot = self.material_slots.get(i).copied().unwrap_or(i);
                if let Some(id) = material_ids.get(slot % material_ids.len().max(1)) {
                    m["id"] = json!(id);
                }
            }
        }
        serde_json::from_value(a).ok()
    }

    fn context(&self) -> IntakeContext {
        IntakeContext {
            today: self.today,
            // An agent's village implies its township; rarely both are given (and may disagree).
            township: match (&self.village, self.material_slots.len()) {
                (Some(_), n) if n != 1 => None,
                _ => self.township.clone(),
            },
            village: self.village.clone(),
            channel: self.channel,
        }
    }
}

fn field_ids(c: &Catalog, code: &str) -> Vec<String> {
    c.matter(code)
        .map(|m| m.spec.form.iter().map(|f| f.id.clone()).collect())
        .unwrap_or_default()
}

fn material_ids(c: &Catalog, code: &str) -> Vec<String> {
    c.matter(code)
        .map(|m| m.spec.materials.iter().map(|f| f.id.clone()).collect())
        .unwrap_or_default()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------- the properties

proptest! {
    // Failing cases are kept beside this file (tests/fuzz.proptest-regressions) and rerun first.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_matter_files_load_or_fail_cleanly(matter in matter_json()) {
        let yaml = serde_yaml::to_string(&matter).unwrap();
        load_and_run(with_shared(&[("matters/fuzz.yaml", yaml)]));
    }

    #[test]
    fn mutated_rule_files_load_or_fail_cleanly(
        file in select(sample_sources().files.keys().cloned().collect::<Vec<_>>()),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let text = mutate(&sample_sources().files[&file], &mutations);
        let sources = if is_shared(&file) {
            // A shared file: with two sample matters to exercise it.
            let keep = ["matters/mz-dibao.yaml", "matters/sc-getihu-sheli.yaml"];
            let extra: Vec<(&str, String)> = keep
                .iter()
                .map(|p| (*p, sample_sources().files[*p].clone()))
                .chain([(file.as_str(), text)])
                .collect();
            with_shared(&extra)
        } else if file.starts_with("bundles/") {
            let mut s = sample_sources().clone();
            s.files.insert(file.clone(), text);
            s
        } else {
            with_shared(&[(file.as_str(), text)])
        };
        load_and_run(sources);
    }

    #[test]
    fn generated_applications_get_an_answer_or_an_error_for_every_matter(g in generated()) {
        let c = sample();
        let ctx = g.context();
        for code in c.matters.keys() {
            let (f, m) = (field_ids(c, code), material_ids(c, code));
            if let Some(app) = g.for_ids(&strs(&f), &strs(&m)) {
                let _ = assess(c, code, &app, &ctx);
            }
        }
        for (code, bundle) in &c.bundles {
            let mut f: Vec<String> = bundle.matters.iter().flat_map(|m| field_ids(c, m)).collect();
            let mut m: Vec<String> = bundle.matters.iter().flat_map(|x| material_ids(c, x)).collect();
            f.dedup();
            m.dedup();
            if let Some(app) = g.for_ids(&strs(&f), &strs(&m)) {
                let _ = assess_bundle(c, code, &app, &ctx);
            }
        }
    }
}

/// The generators produce what they should: matters that sometimes load, applications that
/// sometimes get past the form checks (else the properties above would test little).
#[test]
fn the_generators_reach_past_the_first_checks() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut loaded = 0;
    for _ in 0..200 {
        let m = matter_json().new_tree(&mut runner).unwrap().current();
        let yaml = serde_yaml::to_string(&m).unwrap();
        if serde_yaml::from_str::<yichuang::domain::matter::Matter>(&yaml).is_ok() {
            loaded += 1;
        }
    }
    assert!(loaded >= 20, "only {loaded} of 200 generated matters parse");

    let c = sample();
    let mut decided = BTreeMap::<String, usize>::new();
    for _ in 0..200 {
        let g = generated().new_tree(&mut runner).unwrap().current();
        for code in c.matters.keys() {
            let (f, m) = (field_ids(c, code), material_ids(c, code));
            if let Some(app) = g.for_ids(&strs(&f), &strs(&m)) {
                if assess(c, code, &app, &g.context()).is_ok() {
                    *decided.entry(code.clone()).or_default() += 1;
                }
            }
        }
    }
    // Every matter answers a good share of them (the rest stop at unknown ids or places).
    assert_eq!(decided.len(), c.matters.len(), "{decided:?}");
    assert!(decided.values().all(|n| *n >= 40), "{decided:?}");
}
