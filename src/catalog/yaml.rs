//! Rule files deserialized from the events the guard's pre-scan already read: one YAML parse
//! per file instead of two (the pre-scan's and serde_yaml's own).
//!
//! The semantics are serde_yaml 0.9's, so that a rule file means what it meant and an error
//! reads as it read: YAML 1.2 core-schema scalars (`~`/`null`, `true`/`false`, integers with
//! `0x`/`0o`/`0b`, floats with `.inf`/`.nan`; a number with a leading zero is text), any scalar
//! deserialized as text where text is wanted, an enum as a plain scalar, a one-key mapping or a
//! `!Variant` tag, aliases followed, and errors placed at `line L column C` with the path of the
//! value (`materials[2].name: missing field \`title\``).
//!
//! The pre-scan has already bounded depth, values (aliases counted as what they repeat) and
//! repeated keys, so nothing here can be made to work without limit; the depth and jump counts
//! below are a second fence.

use std::collections::HashMap;
use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Expected, IgnoredAny, Unexpected, Visitor,
};
use yaml_rust2::parser::{Event, Tag};
use yaml_rust2::scanner::TScalarStyle;

/// How deep values may nest while deserializing (the pre-scan already stops at 64 levels).
const MAX_DEPTH: usize = 128;
const CORE: &str = "tag:yaml.org,2002:";

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// The node events of one file, as the pre-scan read them.
#[derive(Debug, Default)]
pub struct Events {
    list: Vec<(Event, Pos)>,
    /// Anchor id → index of the node that carries it.
    anchors: HashMap<usize, usize>,
    /// Index of an anchored collection's start → index of its end.
    ends: HashMap<usize, usize>,
    /// The collections open while pushing: start index, anchored.
    open: Vec<(usize, bool)>,
    documents: usize,
}

impl Events {
    /// Room for `n` events.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            list: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    /// How many events are kept.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The text and line of the scalar kept at `i`.
    pub fn scalar_at(&self, i: usize) -> Option<(&str, usize)> {
        match self.list.get(i) {
            Some((Event::Scalar(text, ..), pos)) => Some((text.as_str(), pos.line)),
            _ => None,
        }
    }

    /// Record one event of the stream (stream and document markers are counted, not kept).
    pub fn push(&mut self, event: Event, line: usize, col: usize) {
        let anchor = match &event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => return,
            Event::DocumentStart => {
                self.documents += 1;
                return;
            }
            Event::Scalar(_, _, a, _) | Event::SequenceStart(a, _) | Event::MappingStart(a, _) => {
                *a
            }
            Event::Alias(_) | Event::SequenceEnd | Event::MappingEnd => 0,
        };
        let at = self.list.len();
        if anchor > 0 {
            self.anchors.insert(anchor, at);
        }
        match &event {
            Event::SequenceStart(..) | Event::MappingStart(..) => self.open.push((at, anchor > 0)),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((start, true)) = self.open.pop() {
                    self.ends.insert(start, at);
                }
            }
            _ => {}
        }
        let pos = Pos { line, col };
        // The parser marks a block mapping where its first `:` is; it starts at its first key.
        if let Some((Event::MappingStart(..), start)) = self.list.last_mut() {
            if (line, col) < (start.line, start.col) {
                *start = pos;
            }
        }
        self.list.push((event, pos));
    }

    /// Deserialize the document into `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Error> {
        if self.documents > 1 {
            return Err(Error::plain(
                "deserializing from YAML containing more than one document is not supported",
            ));
        }
        let mut pos = 0;
        let mut jumps = 0;
        let mut de = De {
            events: self,
            pos: &mut pos,
            jumps: &mut jumps,
            path: Path::Root,
            depth: MAX_DEPTH,
            tagged: None,
        };
        T::deserialize(&mut de)
    }
}

/// A deserializing error: a message, and where (unless it concerns the whole file).
#[derive(Debug)]
pub struct Error {
    message: String,
    at: Option<(Pos, String)>,
}

impl Error {
    fn plain(message: &str) -> Self {
        Self {
            message: message.to_string(),
            at: None,
        }
    }

    /// The line and column of the value the error is about.
    pub fn location(&self) -> Option<Pos> {
        self.at.as_ref().map(|(p, _)| *p)
    }

    /// Give the error the position and path of the value being read, unless an inner value
    /// already gave its own.
    fn placed(mut self, pos: Pos, path: Path) -> Self {
        if self.at.is_none() {
            self.at = Some((pos, path.to_string()));
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            None => f.write_str(&self.message),
            Some((pos, path)) => {
                if path != "." {
                    write!(f, "{path}: ")?;
                }
                f.write_str(&self.message)?;
                // As serde_yaml: the very start of the file is not said.
                if (pos.line, pos.col) != (1, 1) {
                    write!(f, " at line {} column {}", pos.line, pos.col)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            message: msg.to_string(),
            at: None,
        }
    }
}

/// Where a value is in the document, like `materials[2].standards[0].check`.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Seq { parent: &'a Path<'a>, index: usize },
    Map { parent: &'a Path<'a>, key: &'a str },
    Alias { parent: &'a Path<'a> },
    Unknown { parent: &'a Path<'a> },
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Parent<'a>(&'a Path<'a>);
        impl fmt::Display for Parent<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.0 {
                    Path::Root => Ok(()),
                    p => write!(f, "{p}."),
                }
            }
        }
        match self {
            Path::Root => f.write_str("."),
            Path::Seq { parent, index } => write!(f, "{parent}[{index}]"),
            Path::Map { parent, key } => write!(f, "{}{key}", Parent(parent)),
            Path::Alias { parent } => write!(f, "{parent}"),
            Path::Unknown { parent } => write!(f, "{}?", Parent(parent)),
        }
    }
}

fn parse_null(v: &str) -> bool {
    matches!(v, "null" | "Null" | "NULL" | "~")
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Leading zeros followed by digits are text in YAML 1.2 (`007`, a code, not seven).
fn digits_but_not_number(v: &str) -> bool {
    let v = v.strip_prefix(['-', '+']).unwrap_or(v);
    v.len() > 1 && v.starts_with('0') && v[1..].bytes().all(|b| b.is_ascii_digit())
}

/// An integer in YAML 1.2's forms: decimal, `0x`, `0o`, `0b`, with an optional sign.
fn parse_int(v: &str) -> Option<i128> {
    let (negative, body) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    if body.starts_with(['+', '-']) {
        return None;
    }
    let (radix, digits) = if let Some(r) = body.strip_prefix("0x") {
        (16, r)
    } else if let Some(r) = body.strip_prefix("0o") {
        (8, r)
    } else if let Some(r) = body.strip_prefix("0b") {
        (2, r)
    } else {
        if digits_but_not_number(v) {
            return None;
        }
        (10, body)
    };
    if digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

fn parse_f64(v: &str) -> Option<f64> {
    let unsigned = match v.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => v,
    };
    match unsigned {
        ".inf" | ".Inf" | ".INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    unsigned.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn visit_int<'de, V: Visitor<'de>>(visitor: V, v: &str) -> Result<Result<V::Value, Error>, V> {
    match parse_int(v) {
        Some(i) => Ok(if let Ok(u) = u64::try_from(i) {
            visitor.visit_u64(u)
        } else if let Ok(s) = i64::try_from(i) {
            visitor.visit_i64(s)
        } else {
            visitor.visit_i128(i)
        }),
        None => Err(visitor),
    }
}

/// A plain scalar resolved by the core schema.
fn visit_plain<'de, V: Visitor<'de>>(visitor: V, v: &str) -> Result<V::Value, Error> {
    if v.is_empty() || parse_null(v) {
        return visitor.visit_unit();
    }
    if let Some(b) = parse_bool(v) {
        return visitor.visit_bool(b);
    }
    let visitor = match visit_int(visitor, v) {
        Ok(result) => return result,
        Err(visitor) => visitor,
    };
    if !digits_but_not_number(v) {
        if let Some(f) = parse_f64(v) {
            return visitor.visit_f64(f);
        }
    }
    visitor.visit_str(v)
}

/// The core-schema tag of a scalar (`!!int`, `!!str` …), if it has one.
fn core_tag(tag: &Option<Tag>) -> Option<&str> {
    tag.as_ref()
        .filter(|t| t.handle == CORE || t.handle == "!!")
        .map(|t| t.suffix.as_str())
}

/// A local tag (`!Variant`) names an enum variant.
fn enum_tag(tag: &Option<Tag>) -> Option<&str> {
    tag.as_ref()
        .filter(|t| t.handle == "!" && !t.suffix.is_empty())
        .map(|t| t.suffix.as_str())
}

fn visit_scalar<'de, V: Visitor<'de>>(
    visitor: V,
    v: &str,
    style: TScalarStyle,
    tag: &Option<Tag>,
    tagged_already: bool,
) -> Result<V::Value, Error> {
    if !tagged_already {
        match core_tag(tag) {
            Some("bool") => {
                return match parse_bool(v) {
                    Some(b) => visitor.visit_bool(b),
                    None => Err(de::Error::invalid_value(Unexpected::Str(v), &"a boolean")),
                }
            }
            Some("int") => {
                return match visit_int(visitor, v) {
                    Ok(result) => result,
                    Err(_) => Err(de::Error::invalid_value(Unexpected::Str(v), &"an integer")),
                }
            }
            Some("float") => {
                return match parse_f64(v) {
                    Some(f) => visitor.visit_f64(f),
                    None => Err(de::Error::invalid_value(Unexpected::Str(v), &"a float")),
                }
            }
            Some("null") => {
                return if parse_null(v) {
                    visitor.visit_unit()
                } else {
                    Err(de::Error::invalid_value(Unexpected::Str(v), &"null"))
                }
            }
            Some(_) => return visitor.visit_str(v),
            None => {}
        }
    }
    if style == TScalarStyle::Plain {
        visit_plain(visitor, v)
    } else {
        visitor.visit_str(v)
    }
}

/// What a scalar would be taken for, to say what was found instead of what was expected.
fn invalid_type(event: Option<&Event>, exp: &dyn Expected) -> Error {
    enum Never {}
    struct Describe<'a>(&'a dyn Expected);
    impl<'de> Visitor<'de> for Describe<'_> {
        type Value = Never;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fmt(f)
        }
    }
    match event {
        Some(Event::Scalar(v, style, _, tag)) => {
            match visit_scalar(Describe(exp), v, *style, tag, false) {
                Ok(never) => match never {},
                Err(e) => e,
            }
        }
        Some(Event::SequenceStart(..)) => de::Error::invalid_type(Unexpected::Seq, exp),
        Some(Event::MappingStart(..)) => de::Error::invalid_type(Unexpected::Map, exp),
        _ => Error::plain("EOF while parsing a value"),
    }
}

struct De<'a> {
    events: &'a Events,
    pos: &'a mut usize,
    jumps: &'a mut usize,
    path: Path<'a>,
    depth: usize,
    /// The enum variant this value was tagged with, already taken (`!Variant`).
    tagged: Option<&'a str>,
}

impl<'a> De<'a> {
    fn peek(&self) -> Option<&'a Event> {
        self.events.list.get(*self.pos).map(|(e, _)| e)
    }

    fn here(&self) -> Pos {
        self.events
            .list
            .get(*self.pos)
            .or(self.events.list.last())
            .map_or(Pos { line: 1, col: 1 }, |(_, p)| *p)
    }

    /// The next event and its position; `None` at the end of the document (an empty one).
    fn next(&mut self) -> (Option<&'a Event>, Pos) {
        let pos = self.here();
        let e = self.peek();
        if e.is_some() {
            *self.pos += 1;
        }
        self.tagged = None;
        (e, pos)
    }

    /// Follow an alias: a deserializer reading the anchored node.
    fn jump<'b>(&'b mut self, id: usize, at: &'b mut usize) -> Result<De<'b>, Error> {
        *self.jumps += 1;
        if *self.jumps > self.events.list.len().saturating_mul(100) {
            return Err(Error::plain("repetition limit exceeded"));
        }
        let start = *self
            .events
            .anchors
            .get(&id)
            .ok_or_else(|| Error::plain("unknown anchor"))?;
        // The alias was the event just read: inside the collection it names, it would repeat
        // that collection inside itself without end.
        let alias = self.pos.saturating_sub(1);
        if let Some(end) = self.events.ends.get(&start) {
            if start < alias && alias < *end {
                let pos = self
                    .events
                    .list
                    .get(alias)
                    .map_or(Pos { line: 1, col: 1 }, |(_, p)| *p);
                return Err(Error::plain(
                    "别名引用了它所在的集合，会无限重复 / an alias refers to the collection it is inside, which would repeat without end",
                )
                .placed(pos, self.path));
            }
        }
        *at = start;
        Ok(De {
            events: self.events,
            pos: at,
            jumps: self.jumps,
            path: Path::Alias { parent: &self.path },
            depth: self.depth,
            tagged: None,
        })
    }

    fn deeper<T>(
        &mut self,
        at: Pos,
        f: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.depth == 0 {
            return Err(Error::plain("recursion limit exceeded").placed(at, Path::Root));
        }
        self.depth -= 1;
        let r = f(self);
        self.depth += 1;
        r
    }

    fn skip(&mut self) {
        let mut open = 0usize;
        loop {
            match self.next().0 {
                Some(Event::SequenceStart(..) | Event::MappingStart(..)) => open += 1,
                Some(Event::SequenceEnd | Event::MappingEnd) => open = open.saturating_sub(1),
                None => return,
                _ => {}
            }
            if open == 0 {
                return;
            }
        }
    }

    fn visit_sequence<'de, V: Visitor<'de>>(
        &mut self,
        visitor: V,
        at: Pos,
    ) -> Result<V::Value, Error> {
        let (value, read) = self.deeper(at, |de| {
            let mut seq = Seq::new(de);
            Ok((visitor.visit_seq(&mut seq)?, seq.len))
        })?;
        let mut rest = Seq::new(self);
        rest.len = read;
        while de::SeqAccess::next_element::<IgnoredAny>(&mut rest)?.is_some() {}
        let total = rest.len;
        self.close(
            read,
            total,
            ExpectedLen(read, "sequence of", ["element", "elements"]),
        )?;
        Ok(value)
    }

    fn visit_mapping<'de, V: Visitor<'de>>(
        &mut self,
        visitor: V,
        at: Pos,
    ) -> Result<V::Value, Error> {
        let (value, read) = self.deeper(at, |de| {
            let mut map = Map::new(de);
            Ok((visitor.visit_map(&mut map)?, map.len))
        })?;
        let mut rest = Map::new(self);
        rest.len = read;
        while de::MapAccess::next_entry::<IgnoredAny, IgnoredAny>(&mut rest)?.is_some() {}
        let total = rest.len;
        self.close(
            read,
            total,
            ExpectedLen(read, "map containing", ["entry", "entries"]),
        )?;
        Ok(value)
    }

    /// Step past a collection's end; a visitor that stopped early read fewer items than it has.
    fn close(&mut self, read: usize, total: usize, expected: ExpectedLen) -> Result<(), Error> {
        self.next();
        if total == read {
            Ok(())
        } else {
            Err(de::Error::invalid_length(total, &expected))
        }
    }

    /// A plain empty scalar or the end of an empty document stands for an empty collection.
    fn is_empty_value(event: Option<&Event>) -> bool {
        match event {
            None => true,
            Some(Event::Scalar(v, style, _, _)) => v.is_empty() && *style == TScalarStyle::Plain,
            _ => false,
        }
    }
}

/// "sequence of 2 elements", "map containing 1 entry": what a visitor that stopped early read.
struct ExpectedLen(usize, &'static str, [&'static str; 2]);

impl Expected for ExpectedLen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = self.2[usize::from(self.0 != 1)];
        write!(f, "{} {} {noun}", self.1, self.0)
    }
}

struct Seq<'s, 'a> {
    de: &'s mut De<'a>,
    len: usize,
    empty: bool,
}

impl<'s, 'a> Seq<'s, 'a> {
    fn new(de: &'s mut De<'a>) -> Self {
        Self {
            de,
            len: 0,
            empty: false,
        }
    }
}

impl<'de> de::SeqAccess<'de> for Seq<'_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.empty {
            return Ok(None);
        }
        match self.de.peek() {
            None | Some(Event::SequenceEnd) => Ok(None),
            Some(_) => {
                let mut element = De {
                    events: self.de.events,
                    pos: self.de.pos,
                    jumps: self.de.jumps,
                    path: Path::Seq {
                        parent: &self.de.path,
                        index: self.len,
                    },
                    depth: self.de.depth,
                    tagged: None,
                };
                self.len += 1;
                seed.deserialize(&mut element).map(Some)
            }
        }
    }
}

struct Map<'s, 'a> {
    de: &'s mut De<'a>,
    len: usize,
    key: Option<&'a str>,
    empty: bool,
}

impl<'s, 'a> Map<'s, 'a> {
    fn new(de: &'s mut De<'a>) -> Self {
        Self {
            de,
            len: 0,
            key: None,
            empty: false,
        }
    }
}

impl<'de> de::MapAccess<'de> for Map<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.empty {
            return Ok(None);
        }
        match self.de.peek() {
            None | Some(Event::MappingEnd) => Ok(None),
            Some(e) => {
                self.len += 1;
                self.key = match e {
                    Event::Scalar(k, ..) => Some(k.as_str()),
                    _ => None,
                };
                seed.deserialize(&mut *self.de).map(Some)
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let mut value = De {
            events: self.de.events,
            pos: self.de.pos,
            jumps: self.de.jumps,
            path: match self.key {
                Some(key) => Path::Map {
                    parent: &self.de.path,
                    key,
                },
                None => Path::Unknown {
                    parent: &self.de.path,
                },
            },
            depth: self.de.depth,
            tagged: None,
        };
        seed.deserialize(&mut value)
    }
}

/// An enum variant named by a tag (`!check {…}`).
struct Variant<'s, 'a> {
    de: &'s mut De<'a>,
    tag: &'a str,
}

impl<'de, 's, 'a> de::EnumAccess<'de> for Variant<'s, 'a> {
    type Error = Error;
    type Variant = De<'s>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, De<'s>), Error> {
        let de = self.de;
        let variant = seed.deserialize(de::value::StrDeserializer::<Error>::new(self.tag))?;
        let tagged = Some(self.tag);
        Ok((
            variant,
            De {
                events: de.events,
                pos: de.pos,
                jumps: de.jumps,
                path: de.path,
                depth: de.depth,
                tagged,
            },
        ))
    }
}

impl<'de> de::VariantAccess<'de> for De<'_> {
    type Error = Error;

    fn unit_variant(mut self) -> Result<(), Error> {
        de::Deserialize::deserialize(&mut self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(mut self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(&mut self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        mut self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(&mut self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        mut self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(&mut self, "", fields, visitor)
    }
}

/// A unit variant written as a plain scalar (`unit: working_days`).
struct UnitVariant<'s, 'a> {
    de: &'s mut De<'a>,
}

impl<'de> de::EnumAccess<'de> for UnitVariant<'_, '_> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        Ok((seed.deserialize(&mut *self.de)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for UnitVariant<'_, '_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _seed: T) -> Result<T::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"newtype variant",
        ))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"tuple variant",
        ))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"struct variant",
        ))
    }
}

/// Numbers and booleans: a plain scalar (or a literal block tagged with the core tag `want`)
/// that parses; anything else is "invalid type: …, expected …" in the visitor's words.
macro_rules! scalar_method {
    ($method:ident, $want:literal, $parse:expr, $visit:ident) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let tagged_already = self.tagged.is_some();
            let (event, at) = self.next();
            let path = self.path;
            match event {
                Some(Event::Alias(id)) => {
                    let mut p = 0;
                    return self.jump(*id, &mut p)?.$method(visitor);
                }
                Some(Event::Scalar(v, style, _, tag))
                    if *style == TScalarStyle::Plain
                        || (*style == TScalarStyle::Literal
                            && !tagged_already
                            && core_tag(tag) == Some($want)) =>
                {
                    #[allow(clippy::redundant_closure_call)]
                    if let Some(x) = ($parse)(v.as_str()) {
                        return visitor.$visit::<Error>(x).map_err(|e| e.placed(at, path));
                    }
                }
                _ => {}
            }
            Err(invalid_type(event, &visitor).placed(at, path))
        }
    };
}

impl<'de, 'a> de::Deserializer<'de> for &mut De<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let tagged_already = self.tagged.is_some();
        let (event, at) = self.next();
        let path = self.path;
        let tag_of = |t: &'a Option<Tag>| if tagged_already { None } else { enum_tag(t) };
        match event {
            Some(Event::Alias(id)) => {
                let mut p = 0;
                return self.jump(*id, &mut p)?.deserialize_any(visitor);
            }
            Some(
                Event::Scalar(_, _, _, t) | Event::SequenceStart(_, t) | Event::MappingStart(_, t),
            ) if tag_of(t).is_some() => {
                *self.pos -= 1;
                let tag = tag_of(t).unwrap_or_default();
                visitor.visit_enum(Variant { de: self, tag })
            }
            Some(Event::Scalar(v, style, _, tag)) => {
                visit_scalar(visitor, v, *style, tag, tagged_already)
            }
            Some(Event::SequenceStart(..)) => self.visit_sequence(visitor, at),
            Some(Event::MappingStart(..)) => self.visit_mapping(visitor, at),
            Some(_) => Err(Error::plain("unexpected end of a collection")),
            None => visitor.visit_none(),
        }
        .map_err(|e| e.placed(at, path))
    }

    scalar_method!(deserialize_bool, "bool", parse_bool, visit_bool);
    scalar_method!(
        deserialize_i64,
        "int",
        |v| parse_int(v).and_then(|i| i64::try_from(i).ok()),
        visit_i64
    );
    scalar_method!(deserialize_i128, "int", parse_int, visit_i128);
    scalar_method!(
        deserialize_u64,
        "int",
        |v: &str| parse_int(v)
            .filter(|_| !v.starts_with('-'))
            .and_then(|i| u64::try_from(i).ok()),
        visit_u64
    );
    scalar_method!(
        deserialize_u128,
        "int",
        |v: &str| parse_int(v)
            .filter(|_| !v.starts_with('-'))
            .and_then(|i| u128::try_from(i).ok()),
        visit_u128
    );
    scalar_method!(deserialize_f64, "float", parse_f64, visit_f64);

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }
    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let (event, at) = self.next();
        let path = self.path;
        match event {
            Some(Event::Scalar(v, ..)) => visitor.visit_str(v),
            Some(Event::Alias(id)) => {
                let mut p = 0;
                return self.jump(*id, &mut p)?.deserialize_str(visitor);
            }
            other => Err(invalid_type(other, &visitor)),
        }
        .map_err(|e| e.placed(at, path))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(Error::plain(
            "serialization and deserialization of bytes in YAML is not implemented",
        ))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    /// `~`, `null`, an empty plain scalar (and a value left out) are `None`.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let is_some = match self.peek() {
            Some(Event::Alias(id)) => {
                *self.pos += 1;
                let mut p = 0;
                return self.jump(*id, &mut p)?.deserialize_option(visitor);
            }
            Some(Event::Scalar(v, style, _, tag)) => {
                if *style != TScalarStyle::Plain {
                    true
                } else if let (Some(_), None) = (tag, self.tagged) {
                    // A tagged scalar is a value, unless the tag is `!!null`.
                    if core_tag(tag) != Some("null") {
                        true
                    } else if parse_null(v) {
                        false
                    } else {
                        return Err(de::Error::invalid_value(Unexpected::Str(v), &"null"));
                    }
                } else {
                    !v.is_empty() && !parse_null(v)
                }
            }
            Some(_) => true,
            None => false,
        };
        if is_some {
            visitor.visit_some(self)
        } else {
            self.next();
            visitor.visit_none()
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let (event, at) = self.next();
        let path = self.path;
        match event {
            Some(Event::Scalar(v, style, ..)) => {
                if *style == TScalarStyle::Plain && (v.is_empty() || parse_null(v)) {
                    visitor.visit_unit()
                } else {
                    Err(de::Error::invalid_value(Unexpected::Str(v), &"null"))
                }
            }
            Some(Event::Alias(id)) => {
                let mut p = 0;
                return self.jump(*id, &mut p)?.deserialize_unit(visitor);
            }
            None => visitor.visit_unit(),
            other => Err(invalid_type(other, &visitor)),
        }
        .map_err(|e| e.placed(at, path))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let at = self.here();
        self.deeper(at, |de| visitor.visit_newtype_struct(de))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let (event, at) = self.next();
        let path = self.path;
        match event {
            Some(Event::Alias(id)) => {
                let mut p = 0;
                return self.jump(*id, &mut p)?.deserialize_seq(visitor);
            }
            Some(Event::SequenceStart(..)) => self.visit_sequence(visitor, at),
            other if De::is_empty_value(other) => visitor.visit_seq(Seq {
                de: self,
                len: 0,
                empty: true,
            }),
            other => Err(invalid_type(other, &visitor)),
        }
        .map_err(|e| e.placed(at, path))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let (event, at) = self.next();
        let path = self.path;
        match event {
            Some(Event::Alias(id)) => {
                let mut p = 0;
                return self.jump(*id, &mut p)?.deserialize_map(visitor);
            }
            Some(Event::MappingStart(..)) => self.visit_mapping(visitor, at),
            other if De::is_empty_value(other) => visitor.visit_map(Map {
                de: self,
                len: 0,
                key: None,
                empty: true,
            }),
            other => Err(invalid_type(other, &visitor)),
        }
        .map_err(|e| e.placed(at, path))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    /// A unit variant as a plain scalar; a variant with content only with a tag (`!check {…}`),
    /// as serde_yaml 0.9 reads them (a one-key mapping reaches an enum through serde's
    /// buffering, for `untagged` and internally tagged enums, not here).
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let at = self.here();
        let path = self.path;
        let event = self.peek();
        if let Some(tag) = self.tagged {
            return match event {
                Some(Event::Scalar(v, ..)) if !v.is_empty() => {
                    visitor.visit_enum(UnitVariant { de: self })
                }
                _ => Err(Error::plain(&format!(
                    "deserializing nested enum in {name}::{tag} from YAML is not supported yet"
                ))),
            }
            .map_err(|e| e.placed(at, path));
        }
        match event {
            Some(Event::Alias(id)) => {
                *self.pos += 1;
                let mut p = 0;
                return self
                    .jump(*id, &mut p)?
                    .deserialize_enum(name, _variants, visitor);
            }
            Some(
                Event::Scalar(_, _, _, t) | Event::SequenceStart(_, t) | Event::MappingStart(_, t),
            ) if enum_tag(t).is_some() => {
                let tag = enum_tag(t).unwrap_or_default();
                visitor.visit_enum(Variant { de: self, tag })
            }
            Some(Event::Scalar(..)) => visitor.visit_enum(UnitVariant { de: self }),
            Some(Event::MappingStart(..)) => Err(de::Error::invalid_type(
                Unexpected::Map,
                &"a YAML tag starting with '!'",
            )),
            Some(Event::SequenceStart(..)) => Err(de::Error::invalid_type(
                Unexpected::Seq,
                &"a YAML tag starting with '!'",
            )),
            _ => Err(Error::plain("EOF while parsing a value")),
        }
        .map_err(|e| e.placed(at, path))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.skip();
        visitor.visit_unit()
    }
}

#[cfg(test)]
mod tests {
    //! Differential: every rule file of the sample catalog and the benchmark fixtures, and a set
    //! of broken documents, read by this deserializer and by serde_yaml give the same value or
    //! the same error text.
    use std::collections::BTreeMap;

    use serde::de::DeserializeOwned;
    use serde::Serialize;

    use super::super::guard;
    use crate::domain::calendar::CalendarYearFile;
    use crate::domain::matter::Matter;
    use crate::domain::org::{Bundle, Manifest, Organisation};

    fn ours<T: DeserializeOwned>(text: &str) -> Result<T, String> {
        let (problems, events) = guard::scan(text);
        assert!(problems.iter().all(|p| !p.fatal), "{problems:?}");
        events.deserialize::<T>().map_err(|e| e.to_string())
    }

    /// The parsers place a node with an anchor or a tag differently (yaml-rust2 where its
    /// content starts, libyaml where its `&`/`!` is): for those, errors are compared without
    /// their position.
    fn unplaced(e: String, text: &str) -> String {
        if !text.contains(['&', '!']) {
            return e;
        }
        e.find(" at line ")
            .map_or(e.clone(), |i| e[..i].to_string())
    }

    fn same<T: DeserializeOwned + Serialize>(name: &str, text: &str) {
        let mine = ours::<T>(text)
            .map(|v| serde_json::to_value(v).unwrap())
            .map_err(|e| unplaced(e, text));
        let theirs = serde_yaml::from_str::<T>(text)
            .map(|v| serde_json::to_value(v).unwrap())
            .map_err(|e| unplaced(e.to_string(), text));
        assert_eq!(mine, theirs, "{name}");
        let mine = ours::<serde_json::Value>(text).map_err(|e| unplaced(e, text));
        let theirs = serde_yaml::from_str::<serde_json::Value>(text)
            .map_err(|e| unplaced(e.to_string(), text));
        assert_eq!(mine, theirs, "{name} as a JSON value");
    }

    fn files(dir: &str) -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut out: Vec<(String, String)> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .map(|p| {
                (
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect();
        out.sort();
        assert!(!out.is_empty(), "{dir}");
        out
    }

    #[test]
    fn sample_catalog_reads_as_serde_yaml_reads_it() {
        for (name, text) in files("rules/matters") {
            same::<Matter>(&name, &text);
        }
        for (name, text) in files("benches/fixtures") {
            same::<Matter>(&name, &text);
        }
        for (name, text) in files("rules/bundles") {
            same::<Bundle>(&name, &text);
        }
        for (name, text) in files("rules/calendar") {
            same::<CalendarYearFile>(&name, &text);
        }
        for (name, text) in files("rules") {
            if name.ends_with("org.yaml") {
                same::<Organisation>(&name, &text);
            } else {
                same::<Manifest>(&name, &text);
            }
        }
        for (name, text) in files("rules/templates") {
            same::<BTreeMap<String, String>>(&name, &text);
        }
    }

    #[derive(Debug, serde::Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        name: String,
        #[serde(default)]
        count: Option<u32>,
        #[serde(default)]
        ratio: Option<f64>,
        #[serde(default)]
        flag: Option<bool>,
        #[serde(default)]
        signed: Option<i64>,
        #[serde(default)]
        unit: Option<Unit>,
        #[serde(default)]
        list: Vec<String>,
        #[serde(default)]
        shape: Option<Shape>,
        #[serde(default)]
        either: Option<Either>,
        #[serde(default)]
        map: BTreeMap<String, u8>,
        #[serde(default)]
        pair: Option<(u8, u8)>,
        #[serde(default)]
        one: Option<(u8,)>,
    }

    #[derive(Debug, serde::Deserialize, Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Unit {
        WorkingDays,
        NaturalDays,
        Tagged { n: u8 },
    }

    #[derive(Debug, serde::Deserialize, Serialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Shape {
        Circle { r: f64 },
        Square { side: u32 },
    }

    #[derive(Debug, serde::Deserialize, Serialize)]
    #[serde(untagged)]
    enum Either {
        Number(i64),
        Words(Vec<String>),
        Record { a: String },
    }

    #[test]
    fn values_and_errors_read_as_serde_yaml_reads_them() {
        let cases = [
            "name: a",
            "name: 007\ncount: 7",
            "name: 12\nratio: 1e3\nflag: True\nsigned: -0x1f",
            "name: ~",
            "name: 'x'\ncount: '7'",
            "name: x\ncount: -1",
            "name: x\ncount: 99999999999",
            "name: x\ncount: 0o17\nratio: .inf",
            "name: x\nratio: .nan",
            "name: x\nflag: yes",
            "name: x\ncount: 1.5",
            "name: x\ncount:",
            "name: x\ncount: null\nlist:",
            "name: x\nunit: working_days",
            "name: x\nunit: weeks",
            "name: x\nunit: {tagged: {n: 1}}",
            "name: x\nunit: !tagged {n: 2}",
            "name: x\nunit: !working_days",
            "name: x\nunit: [a]",
            "name: x\nshape: {kind: circle, r: 2}",
            "name: x\nshape: {kind: square, side: -2}",
            "name: x\nshape: {kind: hexagon}",
            "name: x\neither: 3",
            "name: x\neither: [a, b]",
            "name: x\neither: {a: z}",
            "name: x\neither: {b: z}",
            "name: x\nlist: [a, 1, true, ~]",
            "name: x\nlist: {a: 1}",
            "name: x\nlist: [[a]]",
            "name: x\nmap: {a: 1, b: 300}",
            "name: x\nmap: {1: 2}",
            "name: x\nother: 1",
            "count: 1",
            "",
            "- a",
            "just text",
            "name: &n x\nlist: [*n, *n]",
            "base: &b {name: y}\nname: x",
            "name: |\n  two\n  lines\n",
            "name: >\n  folded\n  text\n",
            "name: \"esc\\u00e9\"",
            "name: x\ncount: !!int 5",
            "name: !!str 5",
            "name: x\nflag: !!bool maybe",
            "name: x\n---\nname: y",
            "a:\n  b:\n    - c: [1, {d: e}]",
            "name: x\nlist: &l [a, b]\nmap: {}\nshape: {kind: circle, r: 1}\neither: *l",
            "name: x\npair: [1, 2]",
            "name: x\npair: [1, 2, 3]",
            "name: x\npair: [1]",
            "name: x\none: [1, 2]",
        ];
        let mut differ = Vec::new();
        for text in cases {
            if let Err(e) = std::panic::catch_unwind(|| same::<Probe>(text, text)) {
                differ.push(e.downcast_ref::<String>().cloned().unwrap_or_default());
            }
        }
        assert!(differ.is_empty(), "{}", differ.join("\n\n"));
    }

    /// An alias inside the collection it names is refused where it is written; aliases chained
    /// past the nesting limit stop at it (on a test thread's stack, in a debug build).
    #[test]
    fn recursive_and_deep_aliases_end_in_an_error() {
        for text in [
            "name: x\nlist: &a [b, *a]",
            "name: &m {name: *m}",
            "a: &a {b: [*a]}",
        ] {
            let e = ours::<serde_json::Value>(text).unwrap_err();
            assert!(
                e.contains("refers to the collection it is inside"),
                "{text}: {e}"
            );
        }
        let e = ours::<Probe>("name: x\nlist: &a [b, *a]").unwrap_err();
        assert!(e.starts_with("list[1]: 别名"), "{e}");
        let e = ours::<serde_json::Value>("a: &a {b: [*a]}").unwrap_err();
        assert!(e.contains("line 1 column 12"), "{e}");
        // Each anchor nests 60 levels and holds the one before: 60, 120, 180 … levels.
        let mut text = String::new();
        for i in 0..4 {
            let inner = if i == 0 {
                "x".to_string()
            } else {
                format!("*a{}", i - 1)
            };
            text.push_str(&format!(
                "k{i}: &a{i} {}{inner}{}\n",
                "[".repeat(59),
                "]".repeat(59)
            ));
        }
        let e = ours::<serde_json::Value>(&text).unwrap_err();
        assert!(e.contains("recursion limit exceeded"), "{e}");
    }
}
