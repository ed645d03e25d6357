//! Line and column of every node of a YAML document by its path (`routes[0].steps[1].unit`), so that
//! lint errors and script errors point policy staff at the exact place in their file.
//!
//! serde_yaml gives no positions for a document that parsed; this walks the parser's marked events.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node starts, and how a scalar is written (for mapping script positions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeMark {
    pub line: usize,
    pub col: usize,
    /// A block scalar (`|` or `>`): its text starts on the next line.
    pub block: bool,
    /// A quoted scalar: its text starts one column after the mark.
    pub quoted: bool,
}

/// Positions of the nodes of one YAML document.
#[derive(Debug, Default)]
pub struct Locator {
    marks: HashMap<String, NodeMark>,
    lines: Vec<String>,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

struct Builder {
    stack: Vec<Frame>,
    marks: HashMap<String, NodeMark>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Builder {
    /// The path of the node that starts now, advancing the parent's key/index state.
    fn next_path(&mut self, scalar: Option<&str>) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, index }) => {
                let p = format!("{path}[{index}]");
                *index += 1;
                Some(p)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                // This node is a value.
                Some(k) => Some(join(path, &k)),
                // This node is a key.
                None => {
                    *key = Some(scalar.unwrap_or("?").to_string());
                    None
                }
            },
        }
    }

    fn record(&mut self, path: String, mark: Marker, style: Option<TScalarStyle>) {
        let block = matches!(style, Some(TScalarStyle::Literal | TScalarStyle::Folded));
        let quoted = matches!(
            style,
            Some(TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted)
        );
        // yaml-rust2 counts columns from 0; people count from 1.
        self.marks.entry(path).or_insert(NodeMark {
            line: mark.line(),
            col: mark.col() + 1,
            block,
            quoted,
        });
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, style, ..) => {
                if let Some(p) = self.next_path(Some(&value)) {
                    self.record(p, mark, Some(style));
                } else if let Some(Frame::Map { path, .. }) = self.stack.last() {
                    // Record the key's own position too, for errors about a key.
                    let p = format!("{}#key", join(path, &value));
                    self.record(p, mark, None);
                }
            }
            Event::Alias(_) => {
                if let Some(p) = self.next_path(None) {
                    self.record(p, mark, None);
                }
            }
            Event::MappingStart(..) => {
                let path = self.next_path(None).unwrap_or_default();
                self.record(path.clone(), mark, None);
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.next_path(None).unwrap_or_default();
                self.record(path.clone(), mark, None);
                self.stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

impl Locator {
    /// Index a document. A document that does not parse gives an empty index (serde_yaml reports
    /// the syntax error with its own position).
    pub fn new(text: &str) -> Self {
        let mut builder = Builder {
            stack: Vec::new(),
            marks: HashMap::new(),
        };
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut builder, false);
        Self {
            marks: builder.marks,
            lines: text.lines().map(str::to_string).collect(),
        }
    }

    /// Line and column (1-based) of the node at `path`, or of its nearest ancestor that exists.
    pub fn position(&self, path: &str) -> (usize, usize) {
        let mut p = path.to_string();
        loop {
            if let Some(m) = self.marks.get(&p) {
                return (m.line, m.col);
            }
            match p.rfind(['.', '[']) {
                Some(i) => p.truncate(i),
                None => return self.marks.get("").map_or((1, 1), |m| (m.line, m.col)),
            }
        }
    }

    /// The file position of a (1-based) line and column inside the scalar at `path`.
    pub fn script_position(&self, path: &str, line: usize, col: usize) -> (usize, usize) {
        let Some(m) = self.marks.get(path) else {
            return self.position(path);
        };
        if m.block {
            // The parser marks a block scalar where it ends; its text begins on the line after its
            // key (`if: |`), at that line's indentation.
            let key_line = self
                .marks
                .get(&format!("{path}#key"))
                .map_or(m.line, |k| k.line);
            let file_line = key_line + line.max(1);
            let indent = self
                .lines
                .get(key_line)
                .map_or(0, |l| l.len() - l.trim_start().len());
            (file_line, indent + col.max(1))
        } else if line <= 1 {
            (
                m.line,
                m.col + usize::from(m.quoted) + col.saturating_sub(1),
            )
        } else {
            (m.line + line - 1, col)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "code: A\nroutes:\n  - name: r\n    steps:\n      - { id: s1, unit: accepting }\n      - id: s2\n        unit: { level: county, department: x }\nscript: |\n  let a = 1;\n  a > 2\nflow: 'fields.a > 1'\n";

    #[test]
    fn nested_paths_have_positions() {
        let loc = Locator::new(DOC);
        assert_eq!(loc.position("code"), (1, 7));
        assert_eq!(loc.position("routes[0].name"), (3, 11));
        assert_eq!(loc.position("routes[0].steps[0].id"), (5, 15));
        assert_eq!(loc.position("routes[0].steps[1].unit.department"), (7, 44));
        // A missing child falls back to its parent.
        assert_eq!(loc.position("routes[0].steps[1].nothing").0, 6);
    }

    #[test]
    fn script_positions_map_into_the_file() {
        let loc = Locator::new(DOC);
        // Second line of the block script, column 3 → file line 10, indentation 2 + 3.
        assert_eq!(loc.script_position("script", 2, 3), (10, 5));
        // Quoted flow script: column 8 of the script is 1 past the quote.
        assert_eq!(loc.script_position("flow", 1, 8), (11, 7 + 1 + 7));
    }
}
