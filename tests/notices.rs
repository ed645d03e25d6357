//! Snapshots of every notice kind (insta): the content the service stores and a front-end
//! renders, for the first golden example of the sample catalog that gives rise to each kind, with
//! the case id and the issue date redacted. A change of wording shows in review as a changed
//! `tests/snapshots/notices__*.snap`; accept it with `cargo insta review` (or
//! `INSTA_UPDATE=always cargo test --test notices`) after reading it.
//!
//! And for every sample notice (each kind of each example): the printed page says what the JSON
//! says.

use std::path::Path;

use yichuang::authoring::{sample_notices, SampleNotice};
use yichuang::catalog::Catalog;
use yichuang::domain::notice::NoticeKind;

fn catalog() -> Catalog {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    match Catalog::load_dir(&dir) {
        Ok(c) => c,
        Err(e) => panic!("the sample catalog does not load: {e}"),
    }
}

fn kind_name(k: NoticeKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn every_notice_kind_has_a_reviewed_snapshot() {
    let catalog = catalog();
    let samples = sample_notices(&catalog);
    for kind in NoticeKind::ALL {
        let Some(s) = samples.iter().find(|s| s.kind() == kind) else {
            panic!("no golden example of the sample catalog gives rise to a {kind:?} notice");
        };
        let name = kind_name(kind);
        insta::with_settings!({
            snapshot_suffix => name.clone(),
            description => format!("{} — {} 样例“{}”", s.content.title, s.matter, s.example_name),
            omit_expression => true,
        }, {
            insta::assert_json_snapshot!("notice", serde_json::json!({
                "number": s.number,
                "content": s.content,
            }), {
                ".content.case_id" => "[case id]",
                ".content.issued_on" => "[date]",
            });
        });
    }
}

/// Text as the templates escape it (minijinja's HTML escaping).
fn html_escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

fn texts(s: &SampleNotice) -> Vec<String> {
    let c = &s.content;
    let mut out = vec![
        c.title.clone(),
        c.seal.clone(),
        c.center.clone(),
        s.number.clone(),
    ];
    out.extend(c.paragraphs.iter().cloned());
    for it in &c.items {
        out.push(it.title.clone());
        out.push(it.detail.clone());
        out.extend(it.basis.iter().cloned());
        out.extend(it.obtain_from.iter().cloned());
    }
    for m in &c.received {
        out.push(m.name.clone());
        out.push(m.form_label().to_string());
        out.push(m.medium_label().to_string());
    }
    out.extend(c.decider.iter().cloned());
    if let Some(r) = &c.result {
        out.push(r.name.clone());
    }
    if let Some(k) = &c.contact {
        out.push(k.address.clone());
        out.push(k.telephone.clone());
        out.push(k.hours.clone());
    }
    out
}

#[test]
fn the_print_says_what_the_json_says() {
    let catalog = catalog();
    let samples = sample_notices(&catalog);
    assert!(samples.len() > 100, "{} samples", samples.len());
    for s in &samples {
        let html = catalog
            .templates
            .notice(&s.content, &s.number)
            .unwrap_or_else(|e| panic!("{}: {e}", s.stem()));
        for t in texts(s) {
            assert!(
                html.contains(&html_escaped(&t)),
                "{}: the print lacks “{t}”",
                s.stem()
            );
        }
    }
}

#[test]
fn law_follows_the_matter_in_every_sample() {
    let catalog = catalog();
    for s in sample_notices(&catalog) {
        let m = &catalog.matter(&s.matter).expect("matter").spec;
        let permit = m.matter_type == yichuang::domain::matter::MatterType::AdministrativeLicense;
        let text = serde_json::to_string(&s.content).expect("json");
        if !permit {
            // What the center writes must not cite the permit law (a refusal rule or a material
            // of the matter's own file may, and those are the matter's basis).
            let own: Vec<&String> = s.content.paragraphs.iter().collect();
            for p in own {
                assert!(!p.contains("行政许可法"), "{}: {p}", s.stem());
            }
        }
        if s.kind().names_remedies() {
            let r = s.content.remedies.as_ref().expect("remedies named");
            assert!(text.contains(&r.review_body) && text.contains(&r.court));
        }
        if matches!(
            s.kind(),
            NoticeKind::Approval | NoticeKind::DeemedApproval | NoticeKind::ImmediateDecision
        ) {
            assert!(
                s.content.decider.is_some(),
                "{}: no deciding unit",
                s.stem()
            );
            let r = s.content.result.as_ref().expect("result named");
            assert_eq!(r.name, m.result.name);
        }
        if s.kind() == NoticeKind::Acceptance {
            assert!(!s.content.received.is_empty(), "{}: no materials", s.stem());
        }
    }
}
