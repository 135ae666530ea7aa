//! The spanned YAML tree: every value and key remembers the file, line and column it came from.
//!
//! Parsing goes YAML text -> [`Node`] (with explicit budgets against hostile input) once per file.
//! Everything after that (profile merging, the structural check, semantic validation) works on
//! nodes, so any diagnostic can point at the exact place a value was written, even after a
//! profile's values were merged into a customer.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Tag};

/// Where a node was written: a file (index into the loader's file table), line and column (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Loc {
    pub file: u32,
    pub line: u32,
    pub column: u32,
}

/// One YAML value with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Node<'a> {
    pub loc: Loc,
    pub value: Value<'a>,
}

/// A mapping key with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Key<'a> {
    pub loc: Loc,
    pub name: Cow<'a, str>,
}

#[derive(Debug, Clone, PartialEq)]
/// Text borrows from the file's source wherever the YAML spelling allows, so a large
/// repository is not copied scalar by scalar.
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Seq(Vec<Node<'a>>),
    /// Entries in document order; duplicates are kept so validation can report each of them.
    Map(Vec<(Key<'a>, Node<'a>)>),
}

impl Value<'_> {
    /// The JSON-Schema-style name of this value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "list",
            Value::Map(_) => "mapping",
        }
    }
}

impl<'a> Node<'a> {
    /// The entry named `name` when this node is a mapping (the first one when duplicated).
    pub fn get(&self, name: &str) -> Option<&Node<'a>> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.name == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The key node of the entry named `name`.
    pub fn key(&self, name: &str) -> Option<&Key<'a>> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.name == name).map(|(k, _)| k),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Follow a dotted path (`spec.company.name`, `spec.contacts.primary`, `spec.tags[2]`).
    /// Returns the deepest node that exists on the way, so a diagnostic about a missing field
    /// still points at its parent.
    pub fn locate(&self, path: &str) -> &Node<'a> {
        let mut node = self;
        for segment in path_segments(path) {
            let next = match segment {
                Segment::Field(name) => node.get(name),
                Segment::Index(i) => match &node.value {
                    Value::Seq(items) => items.get(i),
                    _ => None,
                },
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    }

    /// Like [`Node::locate`], but for a path whose last segment is a field: the location of that
    /// field's key when it exists (better for "unknown field" and "duplicate" messages).
    pub fn locate_key(&self, path: &str) -> Loc {
        let (parent, last) = match path.rsplit_once('.') {
            Some((p, l)) => (self.locate(p), l),
            None => (self, path),
        };
        parent.key(last).map(|k| k.loc).unwrap_or_else(|| self.locate(path).loc)
    }

    /// Convert to JSON for serde deserialization into the raw types. Duplicate keys keep the
    /// first value (they are reported as errors before this is ever used).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => {
                serde_json::Number::from_f64(*f).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
            }
            Value::Str(s) => serde_json::Value::String(s.to_string()),
            Value::Seq(items) => serde_json::Value::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => {
                let mut map = serde_json::Map::with_capacity(entries.len());
                for (k, v) in entries {
                    map.entry(k.name.to_string()).or_insert_with(|| v.to_json());
                }
                serde_json::Value::Object(map)
            }
        }
    }
}

pub enum Segment<'a> {
    Field(&'a str),
    Index(usize),
}

/// Split `a.b[3].c` into segments.
pub fn path_segments(path: &str) -> impl Iterator<Item = Segment<'_>> {
    path.split('.').filter(|s| !s.is_empty()).flat_map(|part| {
        let mut out = Vec::new();
        let (head, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !head.is_empty() {
            out.push(Segment::Field(head));
        }
        while let Some(end) = rest.find(']') {
            if let Ok(i) = rest[1..end].parse() {
                out.push(Segment::Index(i));
            }
            rest = &rest[end + 1..];
        }
        out
    })
}

/// Limits applied to every manifest file. Manifests are small; anything beyond these is either a
/// mistake or an attack (alias bombs, deep nesting), and is refused with a clear error.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    pub max_file_bytes: usize,
    pub max_documents: usize,
    pub max_nodes: usize,
    pub max_depth: usize,
    pub max_aliases: usize,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            max_file_bytes: 4 * 1024 * 1024,
            max_documents: 10_000,
            max_nodes: 1_000_000,
            max_depth: 32,
            max_aliases: 1_000,
        }
    }
}

/// A YAML text that could not be read into nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

/// Parse every document of one YAML file into nodes, within `budgets`.
///
/// Nodes are built straight from the events of serde-saphyr's parser (`granit_parser`), and the
/// budgets are enforced as the tree grows: the serde `Spanned<T>` route cost two thirds of the
/// validation time on large repositories.
pub fn parse(text: &str, file: u32, budgets: Budgets) -> Result<Vec<Node<'_>>, ParseError> {
    if text.len() > budgets.max_file_bytes {
        return Err(ParseError {
            line: 1,
            column: 1,
            message: format!(
                "file is {} bytes, over the limit of {} bytes for one manifest file; split it into several files",
                text.len(),
                budgets.max_file_bytes
            ),
        });
    }
    let mut builder = Builder {
        budgets,
        stack: Vec::new(),
        anchors: HashMap::new(),
        docs: Vec::new(),
        nodes: 0,
        replayed: 0,
        documents: 0,
    };
    let mut parser = Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| ParseError {
            line: (e.marker().line() as u32).max(1),
            column: e.marker().col() as u32 + 1,
            message: e.info(),
        })?;
        let loc = Loc { file, line: (span.start.line() as u32).max(1), column: span.start.col() as u32 + 1 };
        builder.event(event, loc)?;
    }
    Ok(builder.docs.into_iter().filter(|d| d.value != Value::Null).collect())
}

/// A collection being built.
enum Frame<'a> {
    Seq { loc: Loc, anchor: usize, items: Vec<Node<'a>> },
    Map { loc: Loc, anchor: usize, entries: Vec<(Key<'a>, Node<'a>)>, key: Option<Key<'a>> },
}

struct Builder<'a> {
    budgets: Budgets,
    stack: Vec<Frame<'a>>,
    /// Anchored nodes by id, with their size in nodes (for the alias budget).
    anchors: HashMap<usize, (Node<'a>, usize)>,
    docs: Vec<Node<'a>>,
    nodes: usize,
    replayed: usize,
    documents: usize,
}

fn refused(loc: Loc, what: &str) -> ParseError {
    ParseError {
        line: loc.line,
        column: loc.column,
        message: format!("input refused: {what} (a manifest safety limit)"),
    }
}

impl<'a> Builder<'a> {
    fn event(&mut self, event: Event<'a>, loc: Loc) -> Result<(), ParseError> {
        match event {
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > self.budgets.max_documents {
                    return Err(refused(loc, "too many documents in one file"));
                }
                self.anchors.clear();
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(loc)?;
                let value = resolve_scalar(text, style, tag.as_deref()).map_err(|message| ParseError {
                    line: loc.line,
                    column: loc.column,
                    message,
                })?;
                self.finish(Node { loc, value }, anchor)?;
            }
            Event::SequenceStart(_, anchor, tag) => {
                self.count(loc)?;
                check_collection_tag(tag.as_deref(), "seq", loc)?;
                self.open(Frame::Seq { loc, anchor, items: Vec::new() }, loc)?;
            }
            Event::MappingStart(_, anchor, tag) => {
                self.count(loc)?;
                check_collection_tag(tag.as_deref(), "map", loc)?;
                self.open(Frame::Map { loc, anchor, entries: Vec::new(), key: None }, loc)?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { loc, anchor, items }) => (Node { loc, value: Value::Seq(items) }, anchor),
                    Some(Frame::Map { loc, anchor, entries, .. }) => (Node { loc, value: Value::Map(entries) }, anchor),
                    None => return Ok(()),
                };
                self.finish(node, anchor)?;
            }
            Event::Alias(id) => {
                let Some((node, size)) = self.anchors.get(&id) else {
                    return Err(ParseError {
                        line: loc.line,
                        column: loc.column,
                        message: "alias to an unknown anchor".into(),
                    });
                };
                self.replayed += size;
                if self.replayed > self.budgets.max_nodes / 4 || self.nodes + self.replayed > self.budgets.max_nodes {
                    return Err(refused(loc, "YAML aliases expand to too many values"));
                }
                let node = Node { loc, value: node.value.clone() };
                self.finish(node, 0)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn count(&mut self, loc: Loc) -> Result<(), ParseError> {
        self.nodes += 1;
        if self.nodes > self.budgets.max_nodes {
            return Err(refused(loc, "too many values in one file"));
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame<'a>, loc: Loc) -> Result<(), ParseError> {
        if self.stack.len() >= self.budgets.max_depth {
            return Err(refused(loc, "nesting is too deep"));
        }
        self.stack.push(frame);
        Ok(())
    }

    /// A complete node: remember it if anchored, then hand it to its parent (or end a document).
    fn finish(&mut self, node: Node<'a>, anchor: usize) -> Result<(), ParseError> {
        if anchor != 0 {
            if self.anchors.len() >= self.budgets.max_aliases {
                return Err(refused(node.loc, "too many YAML anchors"));
            }
            let n = size(&node);
            self.anchors.insert(anchor, (node.clone(), n));
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => {
                    let name = match node.value {
                        Value::Str(s) => s,
                        Value::Int(i) => Cow::Owned(i.to_string()),
                        Value::Float(f) => Cow::Owned(f.to_string()),
                        Value::Bool(b) => Cow::Owned(b.to_string()),
                        Value::Null => Cow::Borrowed("null"),
                        Value::Seq(_) | Value::Map(_) => {
                            return Err(ParseError {
                                line: node.loc.line,
                                column: node.loc.column,
                                message: "a mapping key must be text, not a list or mapping".into(),
                            });
                        }
                    };
                    *key = Some(Key { loc: node.loc, name });
                }
            },
        }
        Ok(())
    }
}

fn size(node: &Node<'_>) -> usize {
    match &node.value {
        Value::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        Value::Map(entries) => 1 + entries.iter().map(|(_, v)| 1 + size(v)).sum::<usize>(),
        _ => 1,
    }
}

fn unsupported_tag(tag: &Tag) -> String {
    format!("unsupported YAML tag `{}{}`; manifests use plain YAML", tag.original_handle(), tag.suffix())
}

fn check_collection_tag(tag: Option<&Tag>, expected: &str, loc: Loc) -> Result<(), ParseError> {
    match tag {
        None => Ok(()),
        Some(t) if t.is_yaml_core_schema_tag(expected) => Ok(()),
        Some(t) => Err(ParseError { line: loc.line, column: loc.column, message: unsupported_tag(t) }),
    }
}

/// Resolve a scalar by the YAML 1.2 core schema, with two safety choices: plain numbers with
/// leading zeros (`01234`, a postcode) stay text, and YAML 1.1 words (`yes`, `on`) stay text.
fn resolve_scalar<'a>(text: Cow<'a, str>, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value<'a>, String> {
    if let Some(tag) = tag {
        let suffix = if tag.is_yaml_core_schema() { tag.suffix() } else { "" };
        let bad = || format!("`{text}` is not a valid !!{suffix}");
        return match suffix {
            "str" => Ok(Value::Str(text)),
            "int" => text.parse().map(Value::Int).map_err(|_| bad()),
            "float" => text.parse().map(Value::Float).map_err(|_| bad()),
            "bool" => match text.as_ref() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(bad()),
            },
            "null" => Ok(Value::Null),
            _ => Err(unsupported_tag(tag)),
        };
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::Str(text));
    }
    Ok(match text.as_ref() {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" => Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Value::Float(f64::NAN),
        other => match number(other) {
            Some(n) => n,
            None => Value::Str(text),
        },
    })
}

fn number(text: &str) -> Option<Value<'static>> {
    let negative = text.starts_with('-');
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let first = digits.chars().next()?;
    if !(first.is_ascii_digit() || first == '.') {
        return None;
    }
    let signed = |v: i64| Value::Int(if negative { -v } else { v });
    if let Some(hex) = digits.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(signed);
    }
    if let Some(oct) = digits.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok().map(signed);
    }
    if digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.") {
        return None; // a leading zero: keep it as text
    }
    if digits.chars().all(|c| c.is_ascii_digit()) {
        return text.parse().ok().map(Value::Int);
    }
    let float_chars = digits.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'));
    if float_chars && digits.chars().filter(|c| *c == '.').count() <= 1 {
        text.parse().ok().map(Value::Float)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node<'_> {
        let mut docs = parse(text, 0, Budgets::default()).expect("parses");
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    #[test]
    fn keeps_locations_types_and_duplicates() {
        let n = one("a: 1\nb:\n  c: \"1\"\n  c: yes\nd: [1.5, ~]\n");
        assert_eq!(n.get("a").unwrap().value, Value::Int(1));
        let b = n.get("b").unwrap();
        let Value::Map(entries) = &b.value else { panic!("map") };
        assert_eq!(entries.len(), 2, "duplicates are kept for reporting");
        assert_eq!(entries[1].0.loc.line, 4);
        assert_eq!(entries[1].1.value, Value::Str("yes".into()), "no YAML 1.1 booleans");
        assert_eq!(n.locate("d[1]").value, Value::Null);
        assert_eq!(n.locate("d[0]").loc.line, 5);
        assert_eq!(n.locate_key("b.c"), Loc { file: 0, line: 3, column: 3 });
    }

    #[test]
    fn locate_stops_at_deepest_existing_node() {
        let n = one("a:\n  b: 1\n");
        assert_eq!(n.locate("a.missing.deeper").loc.line, 2);
    }

    #[test]
    fn hostile_input_is_refused_with_a_location() {
        let deep = format!("a: {}{}\n", "[".repeat(100), "]".repeat(100));
        let err = parse(&deep, 0, Budgets::default()).unwrap_err();
        assert!(err.message.contains("nesting is too deep"), "{}", err.message);

        let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
        for (i, name) in ["b", "c", "d", "e", "f", "g", "h"].iter().enumerate() {
            let prev = ["a", "b", "c", "d", "e", "f", "g"][i];
            bomb.push_str(&format!("{name}: &{name} [{}]\n", vec![format!("*{prev}"); 10].join(",")));
        }
        let err = parse(&bomb, 0, Budgets::default()).unwrap_err();
        assert!(err.message.starts_with("input refused"), "{}", err.message);

        let big = "a: b\n".repeat(1_000_000);
        let err = parse(&big, 0, Budgets::default()).unwrap_err();
        assert!(err.message.contains("over the limit"), "{}", err.message);
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = parse("a: b\n  c: d\n", 0, Budgets::default()).unwrap_err();
        assert_eq!((err.line, err.column), (2, 4));
        assert_eq!(err.message, "mapping values are not allowed in this context");
    }
}
