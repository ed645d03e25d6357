//! Printed documents: every notice and the service guide as an A4 HTML page, laid out by
//! minijinja templates that live in the catalog (`templates/notice.html`,
//! `templates/guide.html`, and any file they include). Policy staff edit them like rule files;
//! they are part of the catalog's content hash, so a case prints with the templates of the
//! version it was taken under, and a catalog goes live only if every notice kind of every golden
//! example renders with them ([`crate::authoring::render_samples`]).
//!
//! Values are HTML-escaped automatically (`{{ x }}` can never inject markup), rendering is bounded
//! by fuel and recursion limits, and a catalog version without templates (one stored before they
//! existed) prints with the built-in ones, the sample catalog's own files compiled in.
//!
//! The sentences of notices are worded by `templates/wording.yaml` ([`Wording`]): one template
//! of plain text per entry, rendered when the notice is issued, so the stored notice (its JSON)
//! and the printed page say the same. An entry the file does not have is worded as built in.

use std::collections::BTreeMap;

use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, ErrorKind};
use serde::Serialize;

use crate::domain::notice::{chinese_date, NoticeContent, Sentence, Wording, Words};
use crate::domain::org::Contact;

/// The folder of the catalog that holds templates.
pub const TEMPLATE_DIR: &str = "templates/";
/// The template of every notice.
pub const NOTICE_TEMPLATE: &str = "notice.html";
/// The template of the printed service guide.
pub const GUIDE_TEMPLATE: &str = "guide.html";
/// The wording of notices' sentences, one template per [`Wording`].
pub const WORDING_FILE: &str = "templates/wording.yaml";
const BUILTIN_WORDING: &str = include_str!("../../rules/templates/wording.yaml");

const BUILTIN: [(&str, &str); 2] = [
    (
        NOTICE_TEMPLATE,
        include_str!("../../rules/templates/notice.html"),
    ),
    (
        GUIDE_TEMPLATE,
        include_str!("../../rules/templates/guide.html"),
    ),
];

/// Instructions one rendering may take (a notice takes about 2,000; a runaway loop stops here).
const FUEL: u64 = 200_000;
/// Nesting of includes, macros and blocks.
const RECURSION: usize = 32;

/// A template that does not load or does not render, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: 模板错误 / template error: {message}")]
pub struct TemplateError {
    /// Path in the catalog, e.g. `templates/notice.html`.
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl TemplateError {
    fn of(e: &minijinja::Error, fallback: &str) -> Self {
        let name = e.name().unwrap_or(fallback);
        let mut message = match e.kind() {
            ErrorKind::OutOfFuel => {
                "模板运行步数超过上限（是否有死循环？）/ ran out of fuel".into()
            }
            _ => e
                .detail()
                .map_or_else(|| e.kind().to_string(), str::to_string),
        };
        if message.chars().count() > 300 {
            message = message.chars().take(300).collect::<String>() + "…";
        }
        Self {
            file: format!("{TEMPLATE_DIR}{name}"),
            line: e.line().unwrap_or(1),
            message,
        }
    }
}

/// The templates of one catalog version, compiled.
pub struct Templates {
    env: Environment<'static>,
    /// Whether the catalog carries its own (else the built-in ones are used).
    pub from_catalog: bool,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("from_catalog", &self.from_catalog)
            .finish()
    }
}

/// The template name of a wording entry.
fn wording_name(w: Wording) -> String {
    format!("wording/{}", w.key())
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Wording is plain text (the page that prints it escapes it); pages are HTML.
    env.set_auto_escape_callback(|name| {
        if name.starts_with("wording/") {
            AutoEscape::None
        } else {
            AutoEscape::Html
        }
    });
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
    env.add_filter("css_string", css_string);
    env
}

/// A text as the inside of a CSS string (for `@page` margin boxes): every character that is
/// not a letter, digit, space or CJK character is written as a CSS escape, so the text cannot
/// close the string or the style sheet.
fn css_string(text: String) -> Value {
    let mut o = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_alphanumeric() || c == ' ' || (c as u32) >= 0x3000 {
            o.push(c);
        } else {
            o.push_str(&format!("\\{:06x}", c as u32));
        }
    }
    Value::from_safe_string(o)
}

impl Templates {
    /// The built-in templates.
    pub fn builtin() -> Self {
        let mut env = environment();
        for (name, text) in BUILTIN {
            // The built-in templates are tested (`builtin_templates_compile`); a broken one is
            // left out and reported when used.
            let _ = env.add_template_owned(name, text);
        }
        add_builtin_wording(&mut env, &BTreeMap::new());
        Self {
            env,
            from_catalog: false,
        }
    }

    /// The templates of a catalog: its `templates/*.html` files and the entries of its
    /// `templates/wording.yaml` (`wording`, parsed by the catalog), each missing one built in.
    /// Every file that does not compile, every unknown wording entry and every entry that does
    /// not render with its facts (an unknown name, say) is reported.
    pub fn from_files(
        files: &BTreeMap<String, String>,
        wording: Option<&BTreeMap<String, String>>,
    ) -> Result<Self, Vec<TemplateError>> {
        let mut env = environment();
        let mut errors = Vec::new();
        let mut own = false;
        let own_wording = wording.cloned().unwrap_or_default();
        let wording_text = files.get(WORDING_FILE).map_or("", String::as_str);
        let line_of = |key: &str| {
            wording_text
                .lines()
                .position(|l| l.starts_with(&format!("{key}:")))
                .map_or(1, |i| i + 1)
        };
        for (key, text) in &own_wording {
            own = true;
            let Some(w) = Wording::of_key(key) else {
                let known: Vec<&str> = Wording::all().map(|w| w.key()).collect();
                errors.push(TemplateError {
                    file: WORDING_FILE.into(),
                    line: line_of(key),
                    message: format!(
                        "没有名为 {key} 的文书用语 / no wording entry {key}; known: {}",
                        known.join(", ")
                    ),
                });
                continue;
            };
            if let Err(e) = env.add_template_owned(wording_name(w), text.clone()) {
                errors.push(wording_error(&e, key, line_of(key)));
            }
        }
        add_builtin_wording(&mut env, &own_wording);
        for w in Wording::all() {
            if !own_wording.contains_key(w.key()) {
                continue;
            }
            let facts: Vec<(&str, String)> =
                w.names().iter().map(|n| (*n, format!("〔{n}〕"))).collect();
            if let Ok(t) = env.get_template(&wording_name(w)) {
                if let Err(e) = t.render(facts_value(&facts)) {
                    let mut error = wording_error(&e, w.key(), line_of(w.key()));
                    error.message = format!(
                        "{}（可用的名称 / names it may use: {}）",
                        error.message,
                        if w.names().is_empty() {
                            "—".to_string()
                        } else {
                            w.names().join(", ")
                        }
                    );
                    errors.push(error);
                }
            }
        }
        for (path, text) in files {
            let Some(name) = path.strip_prefix(TEMPLATE_DIR) else {
                continue;
            };
            if !name.ends_with(".html") {
                continue;
            }
            own = true;
            if let Err(e) = env.add_template_owned(name.to_string(), text.clone()) {
                errors.push(TemplateError::of(&e, name));
            }
        }
        for (name, text) in BUILTIN {
            if env.get_template(name).is_err()
                && !files.contains_key(&format!("{TEMPLATE_DIR}{name}"))
            {
                let _ = env.add_template_owned(name, text);
            }
        }
        if errors.is_empty() {
            Ok(Self {
                env,
                from_catalog: own,
            })
        } else {
            Err(errors)
        }
    }

    fn render(&self, name: &str, ctx: Value) -> Result<String, TemplateError> {
        let t = self
            .env
            .get_template(name)
            .map_err(|e| TemplateError::of(&e, name))?;
        t.render(ctx).map_err(|e| TemplateError::of(&e, name))
    }

    fn word(&self, s: &Sentence) -> Result<String, TemplateError> {
        self.render(&wording_name(s.wording), facts_value(&s.facts))
    }

    /// The printable A4 page of a notice.
    pub fn notice(&self, n: &NoticeContent, number: &str) -> Result<String, TemplateError> {
        self.render(
            NOTICE_TEMPLATE,
            minijinja::context! { n => Value::from(Serde(NoticePage::of(n, number))) },
        )
    }

    /// The printable A4 page of a service guide: `body_html` is the guide made from the matter.
    pub fn guide(&self, g: &GuidePage, body_html: String) -> Result<String, TemplateError> {
        self.render(
            GUIDE_TEMPLATE,
            minijinja::context! { g => Value::from(Serde(g)), body => Value::from_safe_string(body_html) },
        )
    }
}

impl Words for Templates {
    /// The sentence in the catalog's words. The gate rendered every entry with every name it
    /// may use, so this does not fail; if it did, the built-in words are used, and failing
    /// those, the facts themselves.
    fn say(&self, s: &Sentence) -> String {
        self.word(s)
            .or_else(|_| Templates::builtin().word(s))
            .unwrap_or_else(|_| {
                s.facts
                    .iter()
                    .map(|(_, v)| v.as_str())
                    .collect::<Vec<_>>()
                    .join("，")
            })
    }
}

fn facts_value(facts: &[(&str, String)]) -> Value {
    facts
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(v.as_str())))
        .collect::<BTreeMap<String, Value>>()
        .into()
}

fn wording_error(e: &minijinja::Error, key: &str, line: usize) -> TemplateError {
    let mut t = TemplateError::of(e, key);
    t.file = WORDING_FILE.into();
    t.line = line;
    t.message = format!("{key}: {}", t.message);
    t
}

/// The built-in wording of every entry `own` does not have.
fn add_builtin_wording(env: &mut Environment<'static>, own: &BTreeMap<String, String>) {
    // The built-in file is tested (`builtin_wording_renders_every_entry`).
    let builtin: BTreeMap<String, String> =
        serde_yaml::from_str(BUILTIN_WORDING).unwrap_or_default();
    for (key, text) in builtin {
        if own.contains_key(&key) {
            continue;
        }
        if let Some(w) = Wording::of_key(&key) {
            let _ = env.add_template_owned(wording_name(w), text);
        }
    }
}

/// What the notice template sees: the notice's content with labels for its codes.
#[derive(Debug, Serialize)]
pub struct NoticePage<'a> {
    pub kind: crate::domain::notice::NoticeKind,
    pub title: &'a str,
    pub number: &'a str,
    pub center: &'a str,
    pub seal: &'a str,
    /// 2026年3月2日
    pub date: String,
    pub case_id: &'a str,
    pub applicant: &'a str,
    pub matter: &'a str,
    /// The first paragraph (before the table).
    pub opening: &'a [String],
    /// The paragraphs after the tables, printed with the seal block.
    pub closing: &'a [String],
    pub items: &'a [crate::domain::notice::NoticeItem],
    pub received: Vec<ReceivedLine<'a>>,
    pub decider: Option<&'a str>,
    pub result: Option<ResultLine<'a>>,
    pub remedies: Option<&'a crate::domain::org::Remedies>,
    pub contact: Option<&'a Contact>,
}

#[derive(Debug, Serialize)]
pub struct ReceivedLine<'a> {
    pub name: &'a str,
    pub form: &'static str,
    pub copies: u32,
    pub medium: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ResultLine<'a> {
    pub name: &'a str,
    pub kind: &'static str,
    /// 证照编号, when the matter's result is numbered.
    pub number: Option<&'a str>,
}

impl<'a> NoticePage<'a> {
    pub fn of(n: &'a NoticeContent, number: &'a str) -> Self {
        let split = n.paragraphs.len().min(1);
        Self {
            kind: n.kind,
            title: &n.title,
            number,
            center: &n.center,
            seal: &n.seal,
            date: chinese_date(n.issued_on),
            case_id: &n.case_id,
            applicant: &n.applicant_name,
            matter: &n.matter,
            opening: &n.paragraphs[..split],
            closing: &n.paragraphs[split..],
            items: &n.items,
            received: n
                .received
                .iter()
                .map(|m| ReceivedLine {
                    name: &m.name,
                    form: m.form_label(),
                    copies: m.copies,
                    medium: m.medium_label(),
                })
                .collect(),
            decider: n.decider.as_deref(),
            result: n.result.as_ref().map(|r| ResultLine {
                name: &r.name,
                kind: r.kind.label(),
                number: r.number.as_deref(),
            }),
            remedies: n.remedies.as_ref(),
            contact: n.contact.as_ref(),
        }
    }
}

/// What the guide template sees besides the guide itself.
#[derive(Debug, Serialize)]
pub struct GuidePage {
    pub code: String,
    pub name: String,
    /// The text at the foot of every page.
    pub footer: String,
    /// The county center, where the guide is published.
    pub center: String,
    pub contact: Option<Contact>,
    pub catalog: String,
    pub version: String,
}

/// The Markdown that [`crate::authoring::guide_markdown`] writes (headings, tables, lists,
/// paragraphs, `**bold**`) as HTML: every text escaped, the first row of a table its header
/// (repeated on every printed page), short cells kept on one line.
pub fn markdown_html(md: &str) -> String {
    let mut body = String::new();
    let mut table: Option<bool> = None; // Some(header written)
    let mut in_list: Option<&str> = None;
    for line in md.lines() {
        let t = line.trim();
        let is_row = t.starts_with('|');
        if table.is_some() && !is_row {
            body.push_str("</tbody></table>\n");
            table = None;
        }
        let list_kind = if t.starts_with("- ") {
            Some("ul")
        } else if t
            .split_once(". ")
            .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        {
            Some("ol")
        } else {
            None
        };
        if let Some(open) = in_list {
            if list_kind != in_list {
                body.push_str(&format!("</{open}>\n"));
                in_list = None;
            }
        }
        if let Some(h) = t.strip_prefix("## ") {
            body.push_str(&format!("<h2>{}</h2>\n", inline(h)));
        } else if let Some(h) = t.strip_prefix("# ") {
            body.push_str(&format!("<h1>{}</h1>\n", inline(h)));
        } else if is_row {
            let cells: Vec<&str> = t.trim_matches('|').split('|').map(str::trim).collect();
            if cells
                .iter()
                .all(|c| !c.is_empty() && c.chars().all(|x| x == '-'))
            {
                continue;
            }
            match table {
                None => {
                    body.push_str("<table><thead><tr>");
                    for c in cells {
                        body.push_str(&format!("<th>{}</th>", inline(c)));
                    }
                    body.push_str("</tr></thead><tbody>\n");
                    table = Some(true);
                }
                Some(_) => {
                    body.push_str("<tr>");
                    for c in cells {
                        // CJK text may break after any character: keep short cells whole.
                        let class = if c.chars().count() <= 5 {
                            " class=\"s\""
                        } else {
                            ""
                        };
                        body.push_str(&format!("<td{class}>{}</td>", inline(c)));
                    }
                    body.push_str("</tr>\n");
                }
            }
        } else if let Some(kind) = list_kind {
            if in_list.is_none() {
                body.push_str(&format!("<{kind}>\n"));
                in_list = Some(kind);
            }
            let text = match kind {
                "ul" => &t[2..],
                _ => t.split_once(". ").map_or(t, |(_, r)| r),
            };
            body.push_str(&format!("<li>{}</li>\n", inline(text)));
        } else if !t.is_empty() {
            body.push_str(&format!("<p>{}</p>\n", inline(t)));
        }
    }
    if table.is_some() {
        body.push_str("</tbody></table>\n");
    }
    if let Some(k) = in_list {
        body.push_str(&format!("</{k}>\n"));
    }
    body
}

fn inline(s: &str) -> String {
    // **bold** only; everything else is escaped text.
    let mut out = String::new();
    for (i, part) in crate::domain::notice::escape(s).split("**").enumerate() {
        if i % 2 == 1 {
            out.push_str(&format!("<strong>{part}</strong>"));
        } else {
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_compile() {
        let mut files = BTreeMap::new();
        for (name, text) in BUILTIN {
            files.insert(format!("{TEMPLATE_DIR}{name}"), text.to_string());
        }
        assert!(Templates::from_files(&files, None).is_ok());
    }

    fn sample(w: Wording) -> Sentence {
        Sentence {
            wording: w,
            facts: w.names().iter().map(|n| (*n, format!("〔{n}〕"))).collect(),
        }
    }

    #[test]
    fn builtin_wording_renders_every_entry() {
        let parsed: BTreeMap<String, String> = serde_yaml::from_str(BUILTIN_WORDING).unwrap();
        let keys: Vec<&str> = parsed.keys().map(String::as_str).collect();
        let mut all: Vec<&str> = Wording::all().map(|w| w.key()).collect();
        all.sort_unstable();
        assert_eq!(
            keys, all,
            "the shipped wording.yaml has every entry, no other"
        );
        let mut files = BTreeMap::new();
        files.insert(WORDING_FILE.to_string(), BUILTIN_WORDING.to_string());
        let t = Templates::from_files(&files, Some(&parsed)).unwrap();
        for w in Wording::all() {
            let said = t.word(&sample(w)).unwrap();
            assert!(!said.trim().is_empty(), "{}", w.key());
            for n in w.names() {
                // Every fact given is used: a name listed for an entry is one its words need.
                assert!(
                    said.contains(&format!("〔{n}〕")),
                    "{}: {n}: {said}",
                    w.key()
                );
            }
        }
        // Plain text: a fact is not escaped when worded (the page escapes it once).
        let s = Sentence::new(Wording::SupplementDue, [("due", "<3月2日>".to_string())]);
        assert!(t.say(&s).contains("<3月2日>"));
    }

    #[test]
    fn a_catalog_rewords_an_entry_and_keeps_the_others() {
        let mut files = BTreeMap::new();
        let text = "refusal: '{{ applicant }}：不予受理。'\n";
        files.insert(WORDING_FILE.to_string(), text.to_string());
        let own: BTreeMap<String, String> = serde_yaml::from_str(text).unwrap();
        let t = Templates::from_files(&files, Some(&own)).unwrap();
        assert!(t.from_catalog);
        let s = Sentence::new(Wording::Refusal, [("applicant", "张三".to_string())]);
        assert_eq!(t.say(&s), "张三：不予受理。");
        let builtin = Templates::builtin();
        let general = Sentence::new(Wording::RemediesGeneral, []);
        assert_eq!(t.say(&general), builtin.say(&general));
    }

    #[test]
    fn a_wording_entry_with_an_unknown_name_or_key_is_refused_at_its_line() {
        let mut files = BTreeMap::new();
        let text = "# 用语\nrefusal: '{{ applicant }}'\nlapse: '{{ applicnt }}'\nrefusals: x\n";
        files.insert(WORDING_FILE.to_string(), text.to_string());
        let own: BTreeMap<String, String> = serde_yaml::from_str(text).unwrap();
        let errors = Templates::from_files(&files, Some(&own)).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        let lapse = errors
            .iter()
            .find(|e| e.message.starts_with("lapse:"))
            .unwrap();
        assert_eq!((lapse.file.as_str(), lapse.line), (WORDING_FILE, 3));
        let unknown = errors
            .iter()
            .find(|e| e.message.contains("refusals"))
            .unwrap();
        assert_eq!(unknown.line, 4);
    }

    #[test]
    fn a_syntax_error_names_file_and_line() {
        let mut files = BTreeMap::new();
        files.insert(
            "templates/notice.html".to_string(),
            "<p>\n{{ n.title }\n".to_string(),
        );
        let errors = Templates::from_files(&files, None).unwrap_err();
        assert_eq!(errors[0].file, "templates/notice.html");
        assert_eq!(errors[0].line, 2);
    }

    #[test]
    fn css_strings_cannot_close_the_style_sheet() {
        let v = css_string("白水〔2026〕\"</style><script>".into());
        let s = v.to_string();
        assert!(
            !s.contains('"') && !s.contains('<') && !s.contains('>'),
            "{s}"
        );
        assert!(s.starts_with("白水〔2026〕"));
    }

    #[test]
    fn a_runaway_template_runs_out_of_fuel() {
        let mut files = BTreeMap::new();
        files.insert(
            "templates/notice.html".to_string(),
            "{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}"
                .to_string(),
        );
        let t = Templates::from_files(&files, None).unwrap();
        let e = t.render(NOTICE_TEMPLATE, Value::UNDEFINED).unwrap_err();
        assert!(e.message.contains("fuel"), "{e}");
    }

    #[test]
    fn markdown_tables_get_a_repeated_header() {
        let html = markdown_html("| 序号 | 名称 |\n|---|---|\n| 1 | <b>申请表</b> |\n");
        assert!(html.contains("<thead><tr><th>序号</th><th>名称</th></tr></thead>"));
        assert!(html.contains("&lt;b&gt;申请表&lt;/b&gt;"));
    }
}
