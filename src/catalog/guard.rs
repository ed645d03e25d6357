//! Rule files are untrusted input. This module holds the limits every rule file is held to and
//! the checks made before anything is built from a file (the events it reads are then
//! deserialized by [`super::yaml`], so a file is parsed once):
//!
//! - which directory entries are rule files at all (hidden, backup and editor lock files are not);
//! - a streaming pass over yaml-rust2's events that stops at the first value nested deeper than
//!   [`MAX_DEPTH`] or past [`MAX_NODES`] values (aliases count as the values they repeat), and
//!   finds every key repeated inside a mapping;
//! - error texts clipped so that they never repeat a file beyond the offending line.
//!
//! The streaming pass keeps only the open collections and the keys of the open mappings, so it
//! stops a hostile file after reading at most [`MAX_DEPTH`] levels or [`MAX_NODES`] values: the
//! quadratic cost of deep nesting in the YAML parsers is never reached.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};

use super::yaml::Events;

/// Largest rule file read (bytes). A county's largest matter file is about 13 KiB.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Largest catalog (all rule files together, bytes): room for the 5,000-matter benchmark catalog.
pub const MAX_TOTAL_BYTES: u64 = 32 << 20;
/// Most rule files in one catalog.
pub const MAX_FILES: usize = 10_000;
/// Deepest nesting of lists and mappings in one file.
pub const MAX_DEPTH: usize = 64;
/// Most values (scalars, list and mapping nodes; an alias counts as what it repeats) in one file.
pub const MAX_NODES: usize = 50_000;
/// Deepest folder below the rules directory.
pub const MAX_DIR_DEPTH: usize = 16;
/// Longest error text (characters); a longer one is cut with `…`.
pub const MAX_MESSAGE_CHARS: usize = 1000;
/// Longest piece of a file quoted in an error text (characters).
pub const MAX_QUOTE_CHARS: usize = 80;

/// Files in a rules directory that are not rule files and are skipped without a word: hidden
/// files (`.x.yaml`, Emacs' lock `.#x.yaml`), editor backups and swap files (`x.yaml~`, `#x.yaml#`,
/// `.x.yaml.swp`, `x.yaml.bak`, `x.yaml.orig`, `x.yaml.tmp`).
pub fn is_ignored_name(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with('~')
        || (name.starts_with('#') && name.ends_with('#'))
        || [
            ".swp",
            ".swo",
            ".swx",
            ".bak",
            ".orig",
            ".tmp",
            ".rej",
            ".dpkg-new",
            ".dpkg-old",
        ]
        .iter()
        .any(|s| name.ends_with(s))
}

/// The pattern of matter and bundle codes (documented in rules/README.md): uppercase letters,
/// digits and `-`, starting with a letter or digit, 2 to 40 characters. It admits the national
/// codes of GB/T 39554.1 (12-character basic codes, 31-character implementation codes) and county
/// codes like `QS-MZ-001`; it refuses the empty code, `/`, `.`, spaces and markup.
pub const CODE_PATTERN: &str = "^[A-Z0-9][A-Z0-9-]{1,39}$";

/// Does `code` match [`CODE_PATTERN`]?
pub fn is_valid_code(code: &str) -> bool {
    let b = code.as_bytes();
    (2..=40).contains(&b.len())
        && b.iter()
            .enumerate()
            .all(|(i, c)| c.is_ascii_uppercase() || c.is_ascii_digit() || (i > 0 && *c == b'-'))
}

/// Does this name end in `.yaml` / `.yml`?
pub fn is_rule_file_name(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Whether a file at `rel` (its path in the rules directory) belongs to the catalog: a rule file
/// anywhere, or a template (`templates/*.html`, see [`crate::print`]).
pub fn is_catalog_file(rel: &str, name: &str) -> bool {
    is_rule_file_name(name)
        || (rel.starts_with(crate::print::TEMPLATE_DIR) && name.ends_with(".html"))
}

/// Cut a text to `max` characters, marking the cut with `…`.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((i, _)) => format!("{}…", &text[..i]),
    }
}

/// Make an error text safe to show: one line; every quoted piece (serde and the parsers quote
/// the values they did not expect in `"…"`, with `\n` for a line break, and keys in `` `…` ``)
/// cut at its first line break and to [`MAX_QUOTE_CHARS`]; the whole to [`MAX_MESSAGE_CHARS`].
pub fn safe_message(msg: &str) -> String {
    safe_message_quoting(msg, MAX_QUOTE_CHARS)
}

/// [`safe_message`] with quoted pieces cut to `max_quote` characters: the parse errors pass the
/// length of the offending line from the error's column, so that a value folded from several
/// lines is never shown past its first.
pub fn safe_message_quoting(msg: &str, max_quote: usize) -> String {
    let mut out = String::with_capacity(msg.len().min(MAX_MESSAGE_CHARS + 8));
    let mut rest = msg;
    while let Some(open) = rest.find(['"', '`']) {
        let delim = if rest[open..].starts_with('"') {
            '"'
        } else {
            '`'
        };
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        // The closing delimiter: the first one not escaped by a backslash.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in rest.char_indices() {
            if c == '\\' && !escaped && delim == '"' {
                escaped = true;
            } else if c == delim && !escaped {
                end = Some(i);
                break;
            } else {
                escaped = false;
            }
        }
        let inner = &rest[..end.unwrap_or(rest.len())];
        let first_line = match (inner.find("\\n"), inner.find('\n')) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let line = first_line.map_or(inner, |i| &inner[..i]);
        let max = max_quote.min(MAX_QUOTE_CHARS);
        let keep = line.char_indices().nth(max).map_or(line.len(), |(i, _)| i);
        out.push_str(&line[..keep]);
        if keep < line.len() || first_line.is_some() {
            out.push('…');
        }
        match end {
            Some(i) => {
                out.push(delim);
                rest = &rest[i + 1..];
            }
            None => rest = "",
        }
    }
    out.push_str(rest);
    let one_line: String = out
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    clip(&one_line, MAX_MESSAGE_CHARS)
}

/// A problem the pre-scan found, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanProblem {
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// The file must not be parsed further (a limit was passed or the YAML does not parse).
    pub fatal: bool,
    /// A syntax error (not a limit): serde_yaml may word it as the docs do, reading no further
    /// than [`syntax_prefix`].
    pub syntax: bool,
}

/// The part of `text` the pre-scan checked before its syntax error at `line`, and two lines
/// more: what serde_yaml may read to word that error (libyaml stops at the same place or before).
pub fn syntax_prefix(text: &str, line: usize) -> &str {
    let end = text
        .match_indices('\n')
        .nth(line + 1)
        .map_or(text.len(), |(i, _)| i + 1);
    &text[..end]
}

struct Open {
    mapping: bool,
    /// In a mapping: the next node is a key.
    at_key: bool,
    /// In a mapping: the scalar keys seen.
    keys: Keys,
    anchor: usize,
    nodes_at_start: usize,
}

/// The scalar keys of an open mapping: while it is small, the index of each among the kept
/// events (its text is there; nothing is copied); past [`FEW_KEYS`] keys, by text, so a hostile
/// file's long mapping does not make every lookup slow.
enum Keys {
    Few(Vec<usize>),
    Many(HashMap<String, usize>),
}

/// Keys of a mapping looked up one by one before they are indexed by text.
const FEW_KEYS: usize = 32;

impl Keys {
    /// The line of `key` if the mapping has it already; otherwise `key` (the event about to be
    /// kept at `at`, on `line`) is added.
    fn first_or_add(
        &mut self,
        events: &Events,
        key: &str,
        at: usize,
        line: usize,
    ) -> Option<usize> {
        match self {
            Keys::Few(seen) => {
                if let Some(first) = seen.iter().find_map(|&i| {
                    events
                        .scalar_at(i)
                        .filter(|(text, _)| *text == key)
                        .map(|(_, line)| line)
                }) {
                    return Some(first);
                }
                if seen.len() < FEW_KEYS {
                    seen.push(at);
                    return None;
                }
                let mut by_text: HashMap<String, usize> = seen
                    .iter()
                    .filter_map(|&i| events.scalar_at(i))
                    .map(|(text, line)| (text.to_string(), line))
                    .collect();
                by_text.insert(key.to_string(), line);
                *self = Keys::Many(by_text);
                None
            }
            Keys::Many(by_text) => match by_text.get(key) {
                Some(&first) => Some(first),
                None => {
                    by_text.insert(key.to_string(), line);
                    None
                }
            },
        }
    }
}

/// Stream the file's YAML events once, within the limits: depth, values (aliases count as what
/// they repeat) and repeated keys. Returns every repeated key, or the first limit passed or
/// syntax error (fatal: the caller must not build anything from the file).
///
/// The events read are kept for [`super::yaml::Events::deserialize`], so a file is parsed
/// once; they are complete only when no problem is fatal.
pub fn scan(text: &str) -> (Vec<ScanProblem>, Events) {
    // About one event per ten bytes in the sample catalog: reserved once, not grown by copying.
    let mut events = Events::with_capacity(text.len() / 10);
    let problems = scan_into(text, &mut events);
    (problems, events)
}

fn scan_into(text: &str, events: &mut Events) -> Vec<ScanProblem> {
    let mut problems = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut anchored: HashMap<usize, usize> = HashMap::new();
    let mut nodes: usize = 0;
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, mark) = match parser.next_token() {
            Ok(e) => e,
            // The scanner refuses flow collections (`[[[…`) nested past its own recursion limit
            // before it yields an event: that is nesting too deep, said as such.
            Err(e) if e.info().contains("recursion limit") => {
                problems.push(ScanProblem {
                    line: e.marker().line().max(1),
                    col: e.marker().col() + 1,
                    message: format!(
                        "嵌套超过 {MAX_DEPTH} 层 / nested deeper than {MAX_DEPTH} levels"
                    ),
                    fatal: true,
                    syntax: false,
                });
                return problems;
            }
            Err(e) => {
                problems.push(ScanProblem {
                    line: e.marker().line().max(1),
                    col: e.marker().col() + 1,
                    message: format!("YAML: {}", e.info()),
                    fatal: true,
                    syntax: true,
                });
                return problems;
            }
        };
        let (line, col) = (mark.line().max(1), mark.col() + 1);
        // The weight of the node that starts here (None: not a node start).
        let weight = match &event {
            Event::StreamEnd => return problems,
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..) => Some(1),
            Event::Alias(id) => Some(anchored.get(id).copied().unwrap_or(1)),
            _ => None,
        };
        if let Some(w) = weight {
            nodes = nodes.saturating_add(w);
            if nodes > MAX_NODES {
                problems.push(ScanProblem {
                    line,
                    col,
                    message: format!(
                        "文件中的值超过 {MAX_NODES} 个（别名按其重复的值计）/ more than {MAX_NODES} values in one file (an alias counts as the values it repeats)"
                    ),
                    fatal: true,
                    syntax: false,
                });
                return problems;
            }
            // Is this node a key of the mapping it is in?
            if let Some(parent) = stack.last_mut().filter(|p| p.mapping) {
                if parent.at_key {
                    if let Event::Scalar(key, ..) = &event {
                        let at = events.len();
                        if let Some(first) = parent.keys.first_or_add(events, key, at, line) {
                            problems.push(ScanProblem {
                                line,
                                col,
                                message: format!(
                                    "键“{k}”重复（第 {first} 行已有）；同一层只能写一次 / key '{k}' repeated in the same mapping (first at line {first})",
                                    k = clip(key, MAX_QUOTE_CHARS / 2)
                                ),
                                fatal: false,
                                syntax: false,
                            });
                        }
                    }
                }
                parent.at_key = !parent.at_key;
            }
        }
        match &event {
            Event::Scalar(_, _, anchor, _) if *anchor > 0 => {
                anchored.insert(*anchor, 1);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    problems.push(ScanProblem {
                        line,
                        col,
                        message: format!(
                            "嵌套超过 {MAX_DEPTH} 层 / nested deeper than {MAX_DEPTH} levels"
                        ),
                        fatal: true,
                        syntax: false,
                    });
                    return problems;
                }
                stack.push(Open {
                    mapping: matches!(event, Event::MappingStart(..)),
                    at_key: true,
                    keys: Keys::Few(Vec::new()),
                    anchor: *anchor,
                    nodes_at_start: nodes,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(open) = stack.pop() {
                    if open.anchor > 0 {
                        anchored.insert(open.anchor, nodes - open.nodes_at_start + 1);
                    }
                }
            }
            _ => {}
        }
        events.push(event, line, col);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prescan(text: &str) -> Vec<ScanProblem> {
        scan(text).0
    }

    #[test]
    fn syntax_prefix_ends_two_lines_past_the_error() {
        assert_eq!(syntax_prefix("a\nb\nc\nd\ne\n", 2), "a\nb\nc\nd\n");
        assert_eq!(syntax_prefix("a\nb", 2), "a\nb");
    }

    #[test]
    fn ignored_names() {
        for n in [
            ".#mz-dibao.yaml",
            ".mz.yaml",
            "mz.yaml~",
            "#mz.yaml#",
            ".mz.yaml.swp",
            "mz.yaml.bak",
            "mz.yaml.orig",
        ] {
            assert!(is_ignored_name(n), "{n}");
        }
        for n in ["mz-dibao.yaml", "2026.yaml", "README.md"] {
            assert!(!is_ignored_name(n), "{n}");
        }
    }

    #[test]
    fn codes() {
        // County codes, a 12-character basic code and a 31-character implementation code.
        for c in [
            "QS-MZ-001",
            "QS-YJS-BARBERSHOP",
            "T-001",
            "11330100002K",
            "11330100002K5191013000029000001",
            &"A".repeat(40),
        ] {
            assert!(is_valid_code(c), "{c}");
        }
        for c in [
            "",
            "Q",
            "../../etc/passwd",
            "QS/MZ/009",
            "QS MZ 001",
            "<b>QS</b>",
            "qs-mz-001",
            "-QS",
            "QS-MZ-001\n",
            &"A".repeat(41),
        ] {
            assert!(!is_valid_code(c), "{c}");
        }
    }

    #[test]
    fn safe_message_keeps_one_line_of_a_quoted_value() {
        let m = safe_message(
            "invalid type: string \"root:x:0:0:root:/root:/bin/bash\\ndaemon:x:1:1::/usr/sbin\", expected struct Matter",
        );
        assert!(m.contains("root:x:0:0"), "{m}");
        assert!(!m.contains("daemon"), "{m}");
        assert!(m.ends_with("expected struct Matter"), "{m}");
        let long = format!("unknown value \"{}\"", "x".repeat(10_000));
        assert!(safe_message(&long).chars().count() <= MAX_QUOTE_CHARS + 40);
        assert!(safe_message(&"y".repeat(10_000)).chars().count() <= MAX_MESSAGE_CHARS + 1);
        // A value folded from two lines, cut to what the offending line holds.
        let m = safe_message_quoting("invalid type: string \"ab cd\", expected x", 2);
        assert_eq!(m, "invalid type: string \"ab…\", expected x");
        let m = safe_message("unknown field `zz`, expected one of `a`, `b`");
        assert_eq!(m, "unknown field `zz`, expected one of `a`, `b`");
    }

    #[test]
    fn prescan_counts_depth_nodes_and_repeated_keys() {
        assert!(prescan("a: 1\nb: [1, 2, {c: 3}]\n").is_empty());
        // Block nesting: the root mapping is level 1, the 64th `- ` opens level 65.
        let deep = format!("a:\n{}x", "- ".repeat(1000));
        let p = prescan(&deep);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].fatal && p[0].message.contains("deeper than 64"),
            "{p:?}"
        );
        assert_eq!((p[0].line, p[0].col), (2, 2 * MAX_DEPTH - 1));
        // Flow nesting is refused by the scanner itself, on the line where it happens.
        let p = prescan(&format!(
            "a: 1
b: {}",
            "[".repeat(100_000)
        ));
        assert!(p.len() == 1 && p[0].fatal && p[0].line == 2, "{p:?}");
        assert!(p[0].message.contains("deeper than 64"), "{p:?}");

        let dup =
            "regions:\n  baishui:\n    holidays: []\n  baishui:\n    holidays: [2026-03-01]\n";
        let p = prescan(dup);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].line, p[0].fatal), (4, false));
        assert!(p[0].message.contains("baishui") && p[0].message.contains("line 2"));
        // The same key in two different mappings is fine; so is a repeated list item.
        assert!(prescan("a: {x: 1}\nb: {x: 1}\nc: [x, x]\n").is_empty());
        // A long mapping (its keys indexed by text past the first 32): repeats found on both
        // sides of that switch, each naming the line of the first.
        let mut long: String = (1..=40).map(|i| format!("k{i}: {i}\n")).collect();
        long.push_str("k3: again\nk40: again\nk41: new\nk41: again\n");
        let p = prescan(&long);
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!((p[0].line, p[1].line, p[2].line), (41, 42, 44), "{p:?}");
        assert!(p[0].message.contains("'k3'") && p[0].message.contains("first at line 3"));
        assert!(p[1].message.contains("'k40'") && p[1].message.contains("first at line 40"));
        assert!(p[2].message.contains("'k41'") && p[2].message.contains("first at line 43"));

        // An alias counts as what it repeats (billion laughs).
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..6 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            laughs.push_str(&format!(
                "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let p = prescan(&laughs);
        assert!(
            p.iter().any(|p| p.fatal && p.message.contains("values")),
            "{p:?}"
        );
    }
}
