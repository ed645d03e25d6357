//! The catalog: every rule file of a county, parsed, validated, compiled and identified by the hash
//! of its content. A catalog is immutable once built; a new version is a new `Catalog`.
//!
//! Loading never stops at the first problem: it collects every error and warning with its file,
//! line, column and matter, so `rules lint` shows policy staff everything at once.

mod compile;
pub mod guard;
pub mod locate;
pub mod pinned;
mod validate;
pub mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use rhai::Engine;
use sha2::{Digest, Sha256};

use crate::domain::calendar::{Calendar, CalendarYearFile};
use crate::domain::matter::Matter;
use crate::domain::org::{Bundle, Manifest, Organisation};
use crate::rules::{build_engine, ScriptLimits};

pub use compile::{FieldScripts, MaterialScripts, MatterScripts, ScriptUses};
pub use pinned::PinnedVersions;

/// Read a regular file of at most [`guard::MAX_FILE_BYTES`] as UTF-8 text, even if it grows
/// while it is read.
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(guard::MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > guard::MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "file grew over the size limit while read",
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text / 不是 UTF-8 文本",
        )
    })
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

/// One finding about a rule file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub matter: Option<String>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}:{}:{}: {sev}", self.file, self.line, self.col)?;
        if let Some(m) = &self.matter {
            write!(f, " [{m}]")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The rule files of one catalog version: relative path → text. This is what is hashed and stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogSources {
    pub files: BTreeMap<String, String>,
}

/// Reading the rules directory failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read rules directory {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("rules directory {0} has no catalog.yaml / 规则目录缺少 catalog.yaml")]
    NotACatalog(String),
    /// Entries of the directory that are not read: each names its path, never its contents.
    #[error("{}", .0.iter().take(10).map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Refused(Vec<Diagnostic>),
}

impl SourceError {
    /// The error as diagnostics (one per refused file).
    pub fn diagnostics(&self, dir: &Path) -> Vec<Diagnostic> {
        match self {
            SourceError::Refused(list) => list.clone(),
            other => vec![Diagnostic {
                severity: Severity::Error,
                file: dir.display().to_string(),
                line: 1,
                col: 1,
                matter: None,
                message: other.to_string(),
            }],
        }
    }
}

/// A directory entry that is not read, as a diagnostic at its (relative) path.
fn refused(rel: &str, message: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        file: rel.to_string(),
        line: 1,
        col: 1,
        matter: None,
        message,
    }
}

impl CatalogSources {
    /// Read the rule files below `dir`: every regular `.yaml`/`.yml` file inside it and the
    /// templates (`templates/*.html`) (README and
    /// other files are ignored; so are hidden, backup and editor lock files, see
    /// [`guard::is_ignored_name`]). A link leading outside `dir`, anything that is not a regular
    /// file, a file over [`guard::MAX_FILE_BYTES`] or a catalog over the total limits is refused,
    /// naming its path and never its contents.
    pub fn read_dir(dir: &Path) -> Result<Self, SourceError> {
        Self::read_dir_noting(dir).map(|(s, _)| s)
    }

    /// [`Self::read_dir`], also returning the entries skipped as hidden, backup or lock files (for
    /// `rules lint` to mention).
    pub fn read_dir_noting(dir: &Path) -> Result<(Self, Vec<String>), SourceError> {
        let read_err = |path: &Path, source| SourceError::Read {
            path: path.display().to_string(),
            source,
        };
        let root = std::fs::canonicalize(dir).map_err(|e| read_err(dir, e))?;
        let mut files = BTreeMap::new();
        let mut skipped = Vec::new();
        let mut problems = Vec::new();
        let mut total: u64 = 0;
        // (real folder, its path relative to the rules directory, depth)
        let mut pending = vec![(root.clone(), String::new(), 0usize)];
        while let Some((d, rel_dir, depth)) = pending.pop() {
            let entries = std::fs::read_dir(&d).map_err(|e| read_err(&d, e))?;
            let mut names = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| read_err(&d, e))?;
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
            names.sort();
            for name in names {
                let rel = if rel_dir.is_empty() {
                    name.clone()
                } else {
                    format!("{rel_dir}/{name}")
                };
                if guard::is_ignored_name(&name) {
                    if name.contains(".yaml") || name.contains(".yml") {
                        skipped.push(rel);
                    }
                    continue;
                }
                let path = d.join(&name);
                let Ok(link_meta) = std::fs::symlink_metadata(&path) else {
                    continue; // removed while we read
                };
                let is_link = link_meta.file_type().is_symlink();
                // Where the entry really is; a link must stay inside the rules directory.
                let real = match std::fs::canonicalize(&path) {
                    Ok(r) => r,
                    Err(_) if is_link && !guard::is_catalog_file(&rel, &name) => continue,
                    Err(e) => {
                        problems.push(refused(
                            &rel,
                            format!("链接无法解析，未读取 / broken link, not read: {e}"),
                        ));
                        continue;
                    }
                };
                if !real.starts_with(&root) {
                    problems.push(refused(
                        &rel,
                        "链接指向规则目录之外，未读取 / link leads outside the rules directory; not read".into(),
                    ));
                    continue;
                }
                let Ok(meta) = std::fs::metadata(&real) else {
                    continue;
                };
                if meta.is_dir() {
                    if is_link {
                        skipped.push(format!("{rel}/ (link to a folder, not followed)"));
                    } else if depth + 1 > guard::MAX_DIR_DEPTH {
                        problems.push(refused(
                            &rel,
                            format!(
                                "文件夹层级超过 {} 层 / folders nested deeper than {}",
                                guard::MAX_DIR_DEPTH,
                                guard::MAX_DIR_DEPTH
                            ),
                        ));
                    } else {
                        pending.push((real, rel, depth + 1));
                    }
                    continue;
                }
                if !guard::is_catalog_file(&rel, &name) {
                    continue;
                }
                if !meta.is_file() {
                    problems.push(refused(
                        &rel,
                        "不是普通文件（管道、设备等），未读取 / not a regular file; not read"
                            .into(),
                    ));
                    continue;
                }
                if meta.len() > guard::MAX_FILE_BYTES {
                    problems.push(refused(
                        &rel,
                        format!(
                            "文件 {} 字节，超过上限 {} 字节 / file of {} bytes, over the limit of {} bytes",
                            meta.len(), guard::MAX_FILE_BYTES, meta.len(), guard::MAX_FILE_BYTES
                        ),
                    ));
                    continue;
                }
                total += meta.len();
                if total > guard::MAX_TOTAL_BYTES || files.len() >= guard::MAX_FILES {
                    return Err(SourceError::Refused(vec![refused(
                        &rel,
                        format!(
                            "规则文件合计超过 {} 个或 {} 字节 / the rule files exceed {} files or {} bytes together",
                            guard::MAX_FILES, guard::MAX_TOTAL_BYTES, guard::MAX_FILES, guard::MAX_TOTAL_BYTES
                        ),
                    )]));
                }
                match read_bounded(&real) {
                    Ok(text) => {
                        files.insert(rel, text);
                    }
                    Err(e) => problems.push(refused(&rel, format!("无法读取 / cannot read: {e}"))),
                }
            }
        }
        if !problems.is_empty() {
            return Err(SourceError::Refused(problems));
        }
        if !files.contains_key("catalog.yaml") {
            return Err(SourceError::NotACatalog(dir.display().to_string()));
        }
        Ok((Self { files }, skipped))
    }

    /// Bytes of rule text in these sources.
    pub fn total_bytes(&self) -> usize {
        self.files.iter().map(|(p, t)| p.len() + t.len()).sum()
    }

    /// The content hash that identifies this version: SHA-256 over every path and text, in order.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        for (path, text) in &self.files {
            h.update((path.len() as u64).to_le_bytes());
            h.update(path.as_bytes());
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        }
        crate::digest::hex(&h.finalize())
    }
}

/// A matter with its compiled scripts.
#[derive(Debug)]
pub struct CompiledMatter {
    pub spec: Matter,
    pub file: String,
    pub scripts: MatterScripts,
    /// The form's field ids, sorted, for checking applications quickly.
    pub form_ids: Vec<String>,
}

/// A loaded, validated and compiled catalog version.
pub struct Catalog {
    pub manifest: Manifest,
    /// SHA-256 of the sources: the exact identity of this version.
    pub hash: String,
    pub org: Organisation,
    pub calendar: Arc<Calendar>,
    pub matters: IndexMap<String, CompiledMatter>,
    pub bundles: IndexMap<String, Bundle>,
    pub engine: Engine,
    /// The notice and guide templates of this version (`templates/`, else the built-in ones).
    pub templates: crate::print::Templates,
    pub sources: CatalogSources,
    /// Warnings found while loading (a catalog with errors never loads).
    pub warnings: Vec<Diagnostic>,
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog")
            .field("name", &self.manifest.name)
            .field("version", &self.manifest.version)
            .field("hash", &self.hash)
            .field("matters", &self.matters.len())
            .finish()
    }
}

/// A catalog that did not load: every problem found.
#[derive(Debug, Clone, thiserror::Error)]
#[error("规则目录有 {} 处错误 / the catalog has {} error(s); first: {}", self.errors().count(), self.errors().count(), self.first_error())]
pub struct LoadFailure {
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadFailure {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
    fn first_error(&self) -> String {
        self.errors()
            .next()
            .map_or_else(String::new, ToString::to_string)
    }
}

/// Collects findings while loading.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub list: Vec<Diagnostic>,
}

impl Findings {
    pub fn error(
        &mut self,
        file: &str,
        (line, col): (usize, usize),
        matter: Option<&str>,
        msg: String,
    ) {
        self.push(Severity::Error, file, (line, col), matter, msg);
    }
    pub fn warning(
        &mut self,
        file: &str,
        (line, col): (usize, usize),
        matter: Option<&str>,
        msg: String,
    ) {
        self.push(Severity::Warning, file, (line, col), matter, msg);
    }
    fn push(
        &mut self,
        severity: Severity,
        file: &str,
        (line, col): (usize, usize),
        matter: Option<&str>,
        message: String,
    ) {
        // Messages quote values from the files: keep them to the offending line, and short.
        self.list.push(Diagnostic {
            severity,
            file: file.to_string(),
            line,
            col,
            matter: matter.map(|m| guard::clip(m, guard::MAX_QUOTE_CHARS)),
            message: guard::safe_message(&message),
        });
    }
}

/// Parse a YAML file into `T`, recording a syntax or shape error with its position.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
    findings: &mut Findings,
) -> Option<T> {
    if text.len() as u64 > guard::MAX_FILE_BYTES {
        let msg = format!(
            "文件 {} 字节，超过上限 {} 字节 / file of {} bytes, over the limit of {} bytes",
            text.len(),
            guard::MAX_FILE_BYTES,
            text.len(),
            guard::MAX_FILE_BYTES
        );
        findings.error(file, (1, 1), None, msg);
        return None;
    }
    // Depth, size and repeated keys first, on the event stream, which is then deserialized
    // itself: nothing is built from a file past the limits, and two repeated keys are an error,
    // not the last one kept without a word.
    let mut fatal = false;
    let mut syntax = None;
    let (problems, events) = guard::scan(text);
    for p in problems {
        if p.syntax {
            syntax = Some(p);
            continue;
        }
        fatal |= p.fatal;
        findings.error(file, (p.line, p.col), None, p.message);
    }
    if fatal {
        return None;
    }
    let (message, pos) = match syntax {
        None => match events.deserialize::<T>() {
            Ok(v) => return Some(v),
            Err(e) => {
                let pos = e.location().map_or((1, 1), |p| (p.line, p.col));
                (e.to_string(), pos)
            }
        },
        // A syntax error is worded by serde_yaml as the docs show, from the part of the file
        // the pre-scan checked; should that part parse after all, the pre-scan's own words
        // are kept.
        Some(p) => match serde_yaml::from_str::<T>(guard::syntax_prefix(text, p.line)) {
            Ok(_) => {
                findings.error(file, (p.line, p.col), None, p.message);
                return None;
            }
            Err(e) => (
                e.to_string(),
                e.location().map_or((1, 1), |l| (l.line(), l.column())),
            ),
        },
    };
    // serde words an unknown enum value in terms of YAML tags; say what staff can fix.
    let msg = message.replace(
        "expected a YAML tag starting with '!'",
        "应为规定的取值之一（见 rules/README.md）/ expected one of the allowed values",
    );
    // serde quotes the value it did not expect, folded from all its lines: show no more of it
    // than the offending line holds from the error's column.
    let rest_of_line = text.lines().nth(pos.0.saturating_sub(1)).map_or(0, |l| {
        l.chars().count().saturating_sub(pos.1.saturating_sub(1))
    });
    let msg = guard::safe_message_quoting(&msg, rest_of_line);
    findings.error(file, pos, None, format!("YAML: {msg}"));
    None
}

/// A matter or bundle code must match [`guard::CODE_PATTERN`]: it is put in URLs, file names
/// and case numbers, and an empty one can never be applied for.
pub(crate) fn check_code(
    file: &str,
    text: &str,
    (zh, en): (&str, &str),
    code: &str,
    findings: &mut Findings,
) {
    if guard::is_valid_code(code) {
        return;
    }
    let at = locate::Locator::new(text).position("code");
    let shown = code.escape_debug().to_string();
    findings.error(
        file,
        at,
        Some(code),
        format!(
            "{zh}“{shown}”不符合格式 {pat}：大写字母、数字和连字符，2 至 40 个字符（如 QS-MZ-001 或国家事项编码）/ {en} \"{shown}\" does not match {pat}: uppercase letters, digits and '-', 2 to 40 characters",
            pat = guard::CODE_PATTERN
        ),
    );
}

impl Catalog {
    /// Load a catalog from a directory.
    pub fn load_dir(dir: &Path) -> Result<Catalog, LoadFailure> {
        let sources = CatalogSources::read_dir(dir).map_err(|e| LoadFailure {
            diagnostics: e.diagnostics(dir),
        })?;
        Self::load(sources)
    }

    /// Load a catalog from its sources with the default script limits.
    pub fn load(sources: CatalogSources) -> Result<Catalog, LoadFailure> {
        Self::load_with_limits(sources, ScriptLimits::default())
    }

    /// Parse every file, validate cross-references and compile every script.
    pub fn load_with_limits(
        sources: CatalogSources,
        limits: ScriptLimits,
    ) -> Result<Catalog, LoadFailure> {
        let (catalog, diagnostics) = Self::load_for_lint(sources, limits);
        match catalog {
            Some(c) if !diagnostics.iter().any(|d| d.severity == Severity::Error) => Ok(c),
            _ => Err(LoadFailure { diagnostics }),
        }
    }

    /// Load as much as loads: every finding, and a catalog of the matters without errors (if the
    /// shared files load), so `rules lint` can still run the examples of the sound matters.
    pub fn load_for_lint(
        sources: CatalogSources,
        limits: ScriptLimits,
    ) -> (Option<Catalog>, Vec<Diagnostic>) {
        let mut findings = Findings::default();
        let engine = build_engine(limits);
        // Sources from the database never passed `read_dir`: the same total limits here.
        if sources.files.len() > guard::MAX_FILES
            || sources.total_bytes() as u64 > guard::MAX_TOTAL_BYTES
        {
            findings.error(
                "catalog.yaml",
                (1, 1),
                None,
                format!(
                    "规则文件合计 {} 个、{} 字节，超过上限 {} 个或 {} 字节 / {} rule files of {} bytes together, over the limit of {} files or {} bytes",
                    sources.files.len(),
                    sources.total_bytes(),
                    guard::MAX_FILES,
                    guard::MAX_TOTAL_BYTES,
                    sources.files.len(),
                    sources.total_bytes(),
                    guard::MAX_FILES,
                    guard::MAX_TOTAL_BYTES
                ),
            );
            return (None, findings.list);
        }

        let manifest = sources
            .files
            .get("catalog.yaml")
            .and_then(|t| parse_yaml::<Manifest>("catalog.yaml", t, &mut findings));
        let org = match sources.files.get("org.yaml") {
            Some(t) => parse_yaml::<Organisation>("org.yaml", t, &mut findings),
            None => {
                findings.error(
                    "org.yaml",
                    (1, 1),
                    None,
                    "缺少组织机构文件 org.yaml / org.yaml is missing".into(),
                );
                None
            }
        };
        let calendar = load_calendar(&sources, &mut findings);
        let wording = sources.files.get(crate::print::WORDING_FILE).and_then(|t| {
            parse_yaml::<BTreeMap<String, String>>(crate::print::WORDING_FILE, t, &mut findings)
        });
        let templates = match crate::print::Templates::from_files(&sources.files, wording.as_ref())
        {
            Ok(t) => t,
            Err(errors) => {
                for e in errors {
                    findings.error(
                        &e.file,
                        (e.line, 1),
                        None,
                        format!("模板错误 / template error: {}", e.message),
                    );
                }
                crate::print::Templates::builtin()
            }
        };

        let mut bundles = IndexMap::new();
        for (file, text) in sources
            .files
            .iter()
            .filter(|(p, _)| p.starts_with("bundles/"))
        {
            if let Some(b) = parse_yaml::<Bundle>(file, text, &mut findings) {
                check_code(
                    file,
                    text,
                    ("“一件事”编码", "bundle code"),
                    &b.code,
                    &mut findings,
                );
                if let Some((other, _)) = bundles.get(&b.code) {
                    let msg = format!("“一件事”编码重复，已在 {other} 中使用 / duplicate bundle code, also in {other}");
                    findings.error(file, (1, 1), Some(&b.code), msg);
                } else {
                    bundles.insert(b.code.clone(), (file.clone(), b));
                }
            }
        }

        let matter_files: Vec<(&String, &String)> = sources
            .files
            .iter()
            .filter(|(p, _)| p.starts_with("matters/"))
            .collect();
        let compiled =
            compile::compile_matters(&engine, limits, &sources, org.as_ref(), &matter_files);
        let mut matters: IndexMap<String, CompiledMatter> = IndexMap::new();
        for (m, f) in compiled {
            findings.list.extend(f.list);
            if let Some(m) = m {
                if let Some(prev) = matters.get(&m.spec.code) {
                    let loc = locate::Locator::new(&sources.files[&m.file]);
                    findings.error(
                        &m.file,
                        loc.position("code"),
                        Some(&m.spec.code),
                        format!(
                            "事项编码重复，已在 {} 中使用 / duplicate matter code, also in {}",
                            prev.file, prev.file
                        ),
                    );
                } else {
                    matters.insert(m.spec.code.clone(), m);
                }
            }
        }
        if matter_files.is_empty() {
            findings.error(
                "matters/",
                (1, 1),
                None,
                "目录中没有任何事项 / no matter files under matters/".into(),
            );
        }

        if let (Some(org), Some(calendar)) = (&org, &calendar) {
            validate::validate(&sources, org, calendar, &matters, &bundles, &mut findings);
        }

        findings.list.sort_by(|a, b| {
            (&a.file, a.line, a.col, &a.message).cmp(&(&b.file, b.line, b.col, &b.message))
        });
        let (Some(manifest), Some(org), Some(calendar)) = (manifest, org, calendar) else {
            return (None, findings.list);
        };
        let failed: std::collections::HashSet<&str> = findings
            .list
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .flat_map(|d| [d.matter.as_deref(), Some(d.file.as_str())])
            .flatten()
            .collect();
        matters
            .retain(|code, m| !failed.contains(code.as_str()) && !failed.contains(m.file.as_str()));
        let hash = sources.content_hash();
        let catalog = Catalog {
            manifest,
            hash,
            org,
            calendar: Arc::new(calendar),
            matters,
            bundles: bundles.into_iter().map(|(k, (_, b))| (k, b)).collect(),
            engine,
            templates,
            sources,
            warnings: findings
                .list
                .iter()
                .filter(|d| d.severity == Severity::Warning)
                .cloned()
                .collect(),
        };
        (Some(catalog), findings.list)
    }

    pub fn matter(&self, code: &str) -> Option<&CompiledMatter> {
        self.matters.get(code)
    }

    /// Number of golden examples in the catalog.
    pub fn example_count(&self) -> usize {
        self.matters.values().map(|m| m.spec.examples.len()).sum()
    }

    /// Turn a script failure's position inside the script into its line and column in the file.
    pub fn place(&self, mut f: crate::rules::ScriptFailure) -> crate::rules::ScriptFailure {
        if let Some(text) = self.sources.files.get(&f.origin.file) {
            let (line, col) =
                locate::Locator::new(text).script_position(&f.origin.path, f.line, f.col);
            f.line = line;
            f.col = col;
        }
        f
    }

    /// The calendar region of a place: a township with its own calendar additions uses them;
    /// otherwise the county's region.
    pub fn calendar_region(&self, township: Option<&str>) -> Option<String> {
        township
            .filter(|t| self.calendar.regions().any(|r| r == *t))
            .map(str::to_string)
            .or_else(|| self.manifest.calendar_region.clone())
    }

    /// The short form of the hash shown to people.
    pub fn short_hash(&self) -> &str {
        &self.hash[..12.min(self.hash.len())]
    }
}

fn load_calendar(sources: &CatalogSources, findings: &mut Findings) -> Option<Calendar> {
    let mut years = Vec::new();
    for (file, text) in sources
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("calendar/"))
    {
        if let Some(y) = parse_yaml::<CalendarYearFile>(file, text, findings) {
            years.push(y);
        }
    }
    if years.is_empty() {
        findings.error(
            "calendar/",
            (1, 1),
            None,
            "缺少工作日历文件 calendar/<年>.yaml / no calendar files".into(),
        );
        return None;
    }
    match Calendar::from_years(years) {
        Ok(c) => Some(c),
        Err(e) => {
            findings.error(
                "calendar/",
                (1, 1),
                None,
                format!("工作日历 / calendar: {e}"),
            );
            None
        }
    }
}
