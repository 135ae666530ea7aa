//! The spanned YAML tree: every value and key remembers the file, line and column it came from.
//!
//! Parsing goes YAML text -> [`Node`] (with explicit budgets against hostile input) once per file.
//! Everything after that (profile merging, the structural check, semantic validation) works on
//! nodes, so any diagnostic can point at the exact place a value was written, even after a
//! profile's values were merged into a customer.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{DuplicateKeyPolicy, Spanned};

/// Where a node was written: a file (index into the loader's file table), line and column (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Loc {
    pub file: u32,
    pub line: u32,
    pub column: u32,
}

/// One YAML value with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub loc: Loc,
    pub value: Value,
}

/// A mapping key with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub loc: Loc,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order; duplicates are kept so validation can report each of them.
    Map(Vec<(Key, Node)>),
}

impl Value {
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

impl Node {
    /// The entry named `name` when this node is a mapping (the first one when duplicated).
    pub fn get(&self, name: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.name == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The key node of the entry named `name`.
    pub fn key(&self, name: &str) -> Option<&Key> {
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
    pub fn locate(&self, path: &str) -> &Node {
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
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => serde_json::Value::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => {
                let mut map = serde_json::Map::with_capacity(entries.len());
                for (k, v) in entries {
                    map.entry(k.name.clone()).or_insert_with(|| v.to_json());
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
pub fn parse(text: &str, file: u32, budgets: Budgets) -> Result<Vec<Node>, ParseError> {
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
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: budgets.max_documents,
            max_nodes: budgets.max_nodes,
            max_depth: budgets.max_depth,
            max_aliases: budgets.max_aliases,
            max_anchors: budgets.max_aliases,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: budgets.max_nodes / 4,
            max_replay_stack_depth: budgets.max_depth,
        },
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        strict_booleans: true,
        with_snippet: false,
    };
    let docs: Vec<Spanned<RawNode>> = serde_saphyr::from_str_multiple_with_options(text, options).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as u32, l.column() as u32))
            .unwrap_or((1, 1));
        ParseError {
            line: line.max(1),
            column: column.max(1),
            message: yaml_message(&e),
        }
    })?;
    Ok(docs
        .into_iter()
        // An empty document (e.g. a trailing `---`) carries nothing to validate.
        .filter(|d| !matches!(d.value, RawNode::Null))
        .map(|d| d.into_node(file))
        .collect())
}

/// The parser's message without its own location prefix and snippet (we render our own).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // "line 2 column 4: mapping values are not allowed in this context"
    let message = match first.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("line ") => rest,
        _ => first,
    };
    // ... or "mapping values are not allowed in this context at line 2, column 4"
    let message = match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => &message[..i],
        _ => message,
    };
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("budget breached: ") {
        return format!("input refused: {} (a manifest safety limit)", describe_breach(rest));
    }
    if message.contains("alias") && message.contains("limit") {
        return format!("input refused: {message} (a manifest safety limit against alias bombs)");
    }
    message.to_string()
}

fn describe_breach(raw: &str) -> String {
    let name = raw.split([' ', '{']).next().unwrap_or(raw);
    match name {
        "Depth" => "nesting is too deep".to_string(),
        "Nodes" => "too many values in one file".to_string(),
        "Documents" => "too many documents in one file".to_string(),
        "Aliases" | "Anchors" | "AliasAnchorRatio" => "too many YAML aliases or anchors".to_string(),
        "ScalarBytes" => "too much text in one file".to_string(),
        _ => raw.to_string(),
    }
}

/// The serde-facing half: what serde-saphyr deserializes, before file ids are attached.
#[derive(Debug)]
enum RawNode {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<String>, Spanned<RawNode>)>),
}

trait IntoNode {
    fn into_node(self, file: u32) -> Node;
}

impl IntoNode for Spanned<RawNode> {
    fn into_node(self, file: u32) -> Node {
        let loc = Loc {
            file,
            line: self.referenced.line() as u32,
            column: self.referenced.column() as u32,
        };
        let value = match self.value {
            RawNode::Null => Value::Null,
            RawNode::Bool(b) => Value::Bool(b),
            RawNode::Int(i) => Value::Int(i),
            RawNode::Float(f) => Value::Float(f),
            RawNode::Str(s) => Value::Str(s),
            RawNode::Seq(items) => Value::Seq(items.into_iter().map(|n| n.into_node(file)).collect()),
            RawNode::Map(entries) => Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        let key = Key {
                            loc: Loc {
                                file,
                                line: k.referenced.line() as u32,
                                column: k.referenced.column() as u32,
                            },
                            name: k.value,
                        };
                        (key, v.into_node(file))
                    })
                    .collect(),
            ),
        };
        Node { loc, value }
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = RawNode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a YAML value")
            }
            fn visit_unit<E>(self) -> Result<RawNode, E> {
                Ok(RawNode::Null)
            }
            fn visit_none<E>(self) -> Result<RawNode, E> {
                Ok(RawNode::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawNode, D::Error> {
                RawNode::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<RawNode, E> {
                Ok(RawNode::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawNode, E> {
                Ok(RawNode::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawNode, E> {
                Ok(i64::try_from(v).map(RawNode::Int).unwrap_or(RawNode::Float(v as f64)))
            }
            fn visit_i128<E>(self, v: i128) -> Result<RawNode, E> {
                Ok(i64::try_from(v).map(RawNode::Int).unwrap_or(RawNode::Float(v as f64)))
            }
            fn visit_u128<E>(self, v: u128) -> Result<RawNode, E> {
                Ok(i64::try_from(v).map(RawNode::Int).unwrap_or(RawNode::Float(v as f64)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawNode, E> {
                Ok(RawNode::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawNode, E> {
                Ok(RawNode::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<RawNode, E> {
                Ok(RawNode::Str(v))
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<RawNode, E> {
                String::from_utf8(v.to_vec())
                    .map(RawNode::Str)
                    .map_err(|_| E::custom("binary values are not supported in manifests"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<RawNode, A::Error> {
                let mut items = Vec::with_capacity(a.size_hint().unwrap_or(0).min(64));
                while let Some(item) = a.next_element()? {
                    items.push(item);
                }
                Ok(RawNode::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<RawNode, A::Error> {
                let mut entries = Vec::with_capacity(a.size_hint().unwrap_or(0).min(64));
                while let Some(key) = a.next_key::<Spanned<String>>()? {
                    let value = a.next_value()?;
                    entries.push((key, value));
                }
                Ok(RawNode::Map(entries))
            }
        }
        d.deserialize_any(NodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
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
        assert_eq!(
            n.locate_key("b.c"),
            Loc {
                file: 0,
                line: 3,
                column: 3
            }
        );
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
            bomb.push_str(&format!(
                "{name}: &{name} [{}]\n",
                vec![format!("*{prev}"); 10].join(",")
            ));
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
