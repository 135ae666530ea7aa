//! The structural check: a node tree against the JSON Schema generated from the raw types.
//!
//! serde stops at the first error in a document; this walk reports every unknown field, wrong
//! type, bad enum value, missing field and duplicate key at once, each at its exact location.
//! It understands the subset of JSON Schema that schemars emits for `raw` (`$ref`, `anyOf` /
//! `oneOf`, `type`, `enum`, `const`, `properties`, `required`, `additionalProperties`, `items`,
//! integer formats and `minimum`). Values of secret fields are never echoed. String `pattern`s
//! and `format`s (names, e-mails, domains, countries, URLs) are for editors: `validate` checks
//! the same rules itself, with messages and hints of its own.

use serde_json::Value as Json;

use super::diag::{Diagnostic, similar_name};
use super::node::{Loc, Node, Value};

/// Check `node` (a whole document) against `schema` (a root schema with `$defs`), appending to
/// `out`.
pub fn check(node: &Node, schema: &Json, out: &mut Vec<Diagnostic>) {
    let walker = Walker { root: schema };
    walker.check(node, schema, &FieldPath::Root, None, out);
}

/// Where the walk is, as a chain of borrowed segments: rendered to `spec.company.name` only when
/// a diagnostic needs it, so a clean document costs no string building.
#[derive(Clone, Copy)]
enum FieldPath<'a> {
    Root,
    Field(&'a FieldPath<'a>, &'a str),
    Index(&'a FieldPath<'a>, usize),
}

impl From<&FieldPath<'_>> for String {
    fn from(p: &FieldPath<'_>) -> String {
        p.render()
    }
}

impl std::fmt::Display for FieldPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

impl FieldPath<'_> {
    fn render(&self) -> String {
        match self {
            FieldPath::Root => String::new(),
            FieldPath::Field(parent, name) => match parent.render() {
                p if p.is_empty() => (*name).to_string(),
                p => format!("{p}.{name}"),
            },
            FieldPath::Index(parent, i) => format!("{}[{i}]", parent.render()),
        }
    }
}

struct Walker<'s> {
    root: &'s Json,
}

const SECRET_DEF: &str = "SecretRef";

impl<'s> Walker<'s> {
    fn resolve(&self, reference: &str) -> Option<(&'s Json, &'s str)> {
        let name = reference.strip_prefix("#/$defs/")?;
        Some((self.root.get("$defs")?.get(name)?, self.root.get("$defs")?.as_object()?.get_key_value(name)?.0))
    }

    fn check(
        &self,
        node: &Node,
        schema: &'s Json,
        path: &FieldPath<'_>,
        def: Option<&'s str>,
        out: &mut Vec<Diagnostic>,
    ) {
        if let Some(reference) = schema.get("$ref").and_then(Json::as_str) {
            if let Some((target, name)) = self.resolve(reference) {
                self.check(node, target, path, Some(name), out);
            }
            return;
        }
        if def == Some(SECRET_DEF) {
            self.check_secret(node, path, out);
            return;
        }
        let alternatives = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Json::as_array);
        if let Some(branches) = alternatives {
            self.check_alternatives(node, branches, path, def, out);
            return;
        }
        if let Some(types) = schema.get("type")
            && !type_matches(types, &node.value)
        {
            out.push(type_error(node, types, path));
            return;
        }
        match &node.value {
            Value::Str(_) => {
                if let Some(allowed) = string_values(schema) {
                    self.check_enum(node, &allowed, path, out);
                }
            }
            Value::Map(entries) => self.check_object(node, entries, schema, path, out),
            Value::Seq(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item, item_schema, &FieldPath::Index(path, i), None, out);
                    }
                }
            }
            Value::Int(i) => check_integer(node.loc, *i, schema, path, out),
            _ => {}
        }
    }

    fn check_alternatives(
        &self,
        node: &Node,
        branches: &'s [Json],
        path: &FieldPath<'_>,
        def: Option<&'s str>,
        out: &mut Vec<Diagnostic>,
    ) {
        let is_null_branch = |b: &Json| b.get("type").and_then(Json::as_str) == Some("null");
        let nullable = branches.iter().any(is_null_branch);
        if nullable && node.value == Value::Null {
            return;
        }
        // The common case, an optional value: `anyOf: [<schema>, {type: null}]`.
        if let [a, b] = branches {
            match (is_null_branch(a), is_null_branch(b)) {
                (false, true) => return self.check(node, a, path, def, out),
                (true, false) => return self.check(node, b, path, def, out),
                _ => {}
            }
        }
        let rest: Vec<&'s Json> = branches.iter().filter(|b| !is_null_branch(b)).collect();
        // An enum whose variants carry docs: every branch is a string const/enum.
        let mut allowed = Vec::new();
        if rest.iter().all(|b| string_values(b).map(|v| allowed.extend(v)).is_some()) && !allowed.is_empty() {
            if !matches!(node.value, Value::Str(_)) {
                out.push(type_error(node, &Json::from("string"), path));
                return;
            }
            self.check_enum(node, &allowed, path, out);
            return;
        }
        if let [only] = rest.as_slice() {
            self.check(node, only, path, def, out);
            return;
        }
        // An externally tagged enum: `{profile: x}` or `{cloneFrom: y}`, exactly one key.
        if let Some(tags) = variant_tags(&rest) {
            if let Value::Map(entries) = &node.value {
                let present: Vec<&super::node::Key> =
                    entries.iter().map(|(k, _)| k).filter(|k| tags.contains(&k.name.as_ref())).collect();
                if present.len() == 1 && entries.len() == 1 {
                    let branch = rest.iter().zip(&tags).find(|(_, t)| **t == present[0].name).map(|(b, _)| *b);
                    if let Some(branch) = branch {
                        self.check(node, branch, path, def, out);
                    }
                    return;
                }
                if let Some((k, _)) = entries.iter().find(|(k, _)| !tags.contains(&k.name.as_ref())) {
                    let hint = match similar_name(&k.name, tags.iter().copied()) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => format!("expected exactly one of: {}", tags.join(", ")),
                    };
                    let p = FieldPath::Field(path, &k.name).render();
                    out.push(
                        Diagnostic::error("unknown-field", k.loc, p, format!("unknown field `{}`", k.name))
                            .with_hint(hint),
                    );
                    return;
                }
                let names = tags.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ");
                let hint = match present.as_slice() {
                    [] => "none is set".to_string(),
                    many => format!(
                        "found {}; keep one",
                        many.iter().map(|k| format!("`{}`", k.name)).collect::<Vec<_>>().join(" and ")
                    ),
                };
                out.push(
                    Diagnostic::error("exactly-one", node.loc, path, format!("set exactly one of {names}"))
                        .with_hint(hint),
                );
                return;
            }
            out.push(type_error(node, &Json::from("object"), path));
            return;
        }
        // Several structural branches: the first that fits cleanly wins; otherwise report the
        // branch that fits best (fewest problems).
        let mut best: Option<Vec<Diagnostic>> = None;
        for branch in rest {
            let mut found = Vec::new();
            self.check(node, branch, path, def, &mut found);
            if found.is_empty() {
                return;
            }
            if best.as_ref().is_none_or(|b| found.len() < b.len()) {
                best = Some(found);
            }
        }
        out.extend(best.unwrap_or_default());
    }

    fn check_secret(&self, node: &Node, path: &FieldPath<'_>, out: &mut Vec<Diagnostic>) {
        // A well-formed reference is the common case: check it before building any message.
        if let Value::Map(entries) = &node.value
            && let [(k, v)] = entries.as_slice()
            && (k.name == "env" || k.name == "file")
            && matches!(&v.value, Value::Str(s) if !s.trim().is_empty())
        {
            return;
        }
        let path = path.render();
        let path = path.as_str();
        let field = path.rsplit('.').next().unwrap_or(path);
        let example = env_name_for(path);
        let fix = format!(
            "write a reference instead: `{field}: {{env: {example}}}` or `{field}: {{file: secrets/{}.txt}}`",
            example.to_ascii_lowercase().replace('_', "-")
        );
        match &node.value {
            Value::Map(entries) => {
                let names: Vec<&str> = entries.iter().map(|(k, _)| k.name.as_ref()).collect();
                let known: Vec<&str> = names.iter().copied().filter(|n| *n == "env" || *n == "file").collect();
                for (k, v) in entries {
                    if k.name != "env" && k.name != "file" {
                        let mut d = Diagnostic::error(
                            "unknown-field",
                            k.loc,
                            format!("{path}.{}", k.name),
                            format!("unknown field `{}` in a secret reference", k.name),
                        );
                        d = d.with_hint(match similar_name(&k.name, ["env", "file"]) {
                            Some(s) => {
                                format!("did you mean `{s}`? a secret reference is `{{env: NAME}}` or `{{file: PATH}}`")
                            }
                            None => "a secret reference is `{env: NAME}` or `{file: PATH}`".to_string(),
                        });
                        out.push(d);
                    } else if !matches!(v.value, Value::Str(ref s) if !s.trim().is_empty()) {
                        out.push(Diagnostic::error(
                            "invalid-type",
                            v.loc,
                            format!("{path}.{}", k.name),
                            format!("`{}` must name a {}", k.name, if k.name == "env" { "variable" } else { "file" }),
                        ));
                    }
                }
                if known.len() != 1 && names.iter().all(|n| *n == "env" || *n == "file") {
                    out.push(
                        Diagnostic::error(
                            "invalid-secret",
                            node.loc,
                            path,
                            "a secret reference needs exactly one of `env` or `file`",
                        )
                        .with_hint("e.g. `{env: NAME}`"),
                    );
                }
            }
            Value::Null => out.push(
                Diagnostic::error("invalid-secret", node.loc, path, "a secret reference is empty").with_hint(fix),
            ),
            // The value itself is never repeated: it may be a real password.
            _ => out.push(
                Diagnostic::error("literal-secret", node.loc, path, "a literal secret is not allowed in a manifest")
                    .with_hint(format!("{fix}; secrets are resolved only while applying and never stored"))
                    .redacted(),
            ),
        }
    }

    fn check_enum(&self, node: &Node, allowed: &[&str], path: &FieldPath<'_>, out: &mut Vec<Diagnostic>) {
        let Value::Str(s) = &node.value else {
            out.push(type_error(node, &Json::from("string"), path));
            return;
        };
        if allowed.contains(&s.as_ref()) {
            return;
        }
        let mut d = Diagnostic::error("invalid-value", node.loc, path, format!("unknown value `{s}`"));
        d = d.with_hint(match similar_name(s, allowed.iter().copied()) {
            Some(close) => format!("did you mean `{close}`? expected one of: {}", allowed.join(", ")),
            None => format!("expected one of: {}", allowed.join(", ")),
        });
        out.push(d);
    }

    fn check_object(
        &self,
        node: &Node,
        entries: &[(super::node::Key, Node)],
        schema: &'s Json,
        path: &FieldPath<'_>,
        out: &mut Vec<Diagnostic>,
    ) {
        let properties = schema.get("properties").and_then(Json::as_object);
        let additional = schema.get("additionalProperties");
        let join = |name: &str| FieldPath::Field(path, name).render();

        // Misspelt fields are reported once, as unknown with a suggestion, not also as missing.
        let mut suggested = Vec::new();
        for (i, (key, value)) in entries.iter().enumerate() {
            if let Some((first, _)) = entries[..i].iter().find(|(k, _)| k.name == key.name) {
                out.push(
                    Diagnostic::error(
                        "duplicate-key",
                        key.loc,
                        join(&key.name),
                        format!("duplicate key `{}`", key.name),
                    )
                    .with_hint(format!(
                        "it is first set at line {}; YAML keys must be unique, remove one",
                        first.loc.line
                    )),
                );
                continue;
            }
            if let Some(prop) = properties.and_then(|p| p.get(key.name.as_ref())) {
                self.check(value, prop, &FieldPath::Field(path, &key.name), None, out);
                continue;
            }
            match additional {
                Some(Json::Bool(false)) => {
                    let known: Vec<&str> =
                        properties.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                    let unused: Vec<&str> =
                        known.iter().copied().filter(|k| !entries.iter().any(|(e, _)| e.name == *k)).collect();
                    let close = similar_name(&key.name, unused.iter().copied())
                        .or_else(|| similar_name(&key.name, known.iter().copied()));
                    let mut d = Diagnostic::error(
                        "unknown-field",
                        key.loc,
                        join(&key.name),
                        format!("unknown field `{}`", key.name),
                    );
                    d = d.with_hint(match close {
                        Some(close) => {
                            suggested.push(close);
                            format!("did you mean `{close}`?")
                        }
                        None if known.is_empty() => "this mapping takes no fields".to_string(),
                        None => format!("expected one of: {}", known.join(", ")),
                    });
                    out.push(d);
                }
                Some(extra @ Json::Object(_)) => {
                    self.check(value, extra, &FieldPath::Field(path, &key.name), None, out)
                }
                _ => {}
            }
        }
        if let Some(required) = schema.get("required").and_then(Json::as_array) {
            for name in required.iter().filter_map(Json::as_str) {
                if !entries.iter().any(|(k, _)| k.name == name) && !suggested.contains(&name) {
                    out.push(Diagnostic::error(
                        "missing-field",
                        node.loc,
                        join(name),
                        format!("missing required field `{name}`"),
                    ));
                }
            }
        }
    }
}

/// When every branch is an object with exactly one required property (serde's externally tagged
/// enum), the property names.
pub(crate) fn variant_tags<'s>(branches: &[&'s Json]) -> Option<Vec<&'s str>> {
    branches
        .iter()
        .map(|b| {
            let required = b.get("required")?.as_array()?;
            match (b.get("type").and_then(Json::as_str), required.as_slice()) {
                (Some("object"), [only]) => only.as_str(),
                _ => None,
            }
        })
        .collect()
}

/// The allowed strings when the schema is a string enum or const.
fn string_values(schema: &Json) -> Option<Vec<&str>> {
    if let Some(values) = schema.get("enum").and_then(Json::as_array) {
        return values.iter().map(Json::as_str).collect();
    }
    schema.get("const").and_then(Json::as_str).map(|c| vec![c])
}

fn type_matches(types: &Json, value: &Value) -> bool {
    let one = |t: &str| match t {
        "string" => matches!(value, Value::Str(_)),
        "integer" => {
            matches!(value, Value::Int(_)) || matches!(value, Value::Float(f) if f.fract() == 0.0 && f.abs() < 9e15)
        }
        "number" => matches!(value, Value::Int(_) | Value::Float(_)),
        "boolean" => matches!(value, Value::Bool(_)),
        "object" => matches!(value, Value::Map(_)),
        "array" => matches!(value, Value::Seq(_)),
        "null" => matches!(value, Value::Null),
        _ => true,
    };
    match types {
        Json::String(t) => one(t),
        Json::Array(ts) => ts.iter().filter_map(Json::as_str).any(one),
        _ => true,
    }
}

fn describe_type(t: &str) -> &str {
    match t {
        "string" => "a string",
        "integer" => "a whole number",
        "number" => "a number",
        "boolean" => "true or false",
        "object" => "a mapping",
        "array" => "a list",
        "null" => "nothing",
        other => other,
    }
}

fn type_error(node: &Node, types: &Json, path: &FieldPath<'_>) -> Diagnostic {
    let wanted: Vec<&str> = match types {
        Json::String(t) => vec![t.as_str()],
        Json::Array(ts) => ts.iter().filter_map(Json::as_str).filter(|t| *t != "null").collect(),
        _ => vec![],
    };
    let expected = wanted.iter().map(|t| describe_type(t)).collect::<Vec<_>>().join(" or ");
    let found = match &node.value {
        Value::Null => "nothing (an empty value)".to_string(),
        other => format!("{} {}", article(other.type_name()), other.type_name()),
    };
    let mut d = Diagnostic::error("invalid-type", node.loc, path, format!("expected {expected}, found {found}"));
    let scalar = match &node.value {
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    if wanted == ["string"]
        && let Some(text) = scalar
    {
        d = d.with_hint(format!("quote it to keep it text: \"{text}\""));
    } else if wanted == ["boolean"]
        && matches!(&node.value, Value::Str(s) if matches!(s.as_ref(), "yes" | "no" | "on" | "off" | "True" | "False" | "y" | "n"))
    {
        d = d.with_hint("write `true` or `false`");
    } else if wanted == ["array"] && !matches!(node.value, Value::Seq(_) | Value::Map(_)) {
        d = d.with_hint("write a list, e.g. `[a, b]` or one `- item` per line");
    }
    d
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

fn check_integer(loc: Loc, value: i64, schema: &Json, path: &FieldPath<'_>, out: &mut Vec<Diagnostic>) {
    let (min, max) = match schema.get("format").and_then(Json::as_str) {
        Some("uint8") => (0, u8::MAX as i64),
        Some("uint16") => (0, u16::MAX as i64),
        Some("uint32") => (0, u32::MAX as i64),
        Some("uint64" | "uint") => (0, i64::MAX),
        Some("int32") => (i32::MIN as i64, i32::MAX as i64),
        _ => (i64::MIN, i64::MAX),
    };
    let min = schema.get("minimum").and_then(Json::as_i64).map_or(min, |m| m.max(min));
    let max = schema.get("maximum").and_then(Json::as_i64).map_or(max, |m| m.min(max));
    if value < min {
        out.push(Diagnostic::error("out-of-range", loc, path, format!("must be at least {min}, found {value}")));
    } else if value > max {
        out.push(Diagnostic::error("out-of-range", loc, path, format!("must be at most {max}, found {value}")));
    }
}

/// A plausible environment variable name for a secret at `path`, for hints.
fn env_name_for(path: &str) -> String {
    let mut name: String =
        path.split('.').filter(|s| !matches!(*s, "spec" | "services" | "connections")).collect::<Vec<_>>().join("_");
    name = name
        .chars()
        .flat_map(|c| if c.is_ascii_uppercase() { vec!['_', c] } else { vec![c.to_ascii_uppercase()] })
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if name.is_empty() { "SECRET".to_string() } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::node::{Budgets, parse};

    fn diags(yaml: &str) -> Vec<Diagnostic> {
        let schema = serde_json::to_value(schemars::schema_for!(crate::manifest::raw::CustomerDocument)).unwrap();
        let node = parse(yaml, 0, Budgets::default()).unwrap().remove(0);
        let mut out = Vec::new();
        check(&node, &schema, &mut out);
        out
    }

    const OK: &str = "apiVersion: tenantry.dev/v1\nkind: Customer\nmetadata: {name: acme}\nspec:\n  company:\n    name: Acme\n    domain: acme.example\n    accountNumber: A-1\n    address: {street: s, city: c, postcode: p, country: GB}\n";

    #[test]
    fn a_valid_document_has_no_structural_problems() {
        assert_eq!(diags(OK), vec![]);
    }

    #[test]
    fn reports_every_problem_not_just_the_first() {
        let yaml = OK.replace("accountNumber: A-1", "acountNumber: A-1\n    phone: 12345")
            + "  services:\n    datto: {term: monthly, product: office365}\n    velocloud:\n      admin: {password: hunter2hunter2}\n";
        let found = diags(&yaml);
        let codes: Vec<(&str, &str)> = found.iter().map(|d| (d.code, d.path.as_str())).collect();
        assert!(codes.contains(&("unknown-field", "spec.company.acountNumber")), "{codes:?}");
        assert!(
            !codes.contains(&("missing-field", "spec.company.accountNumber")),
            "a typo is reported once: {codes:?}"
        );
        assert!(codes.contains(&("invalid-type", "spec.company.phone")), "{codes:?}");
        assert!(codes.contains(&("invalid-value", "spec.services.datto.term")), "{codes:?}");
        assert!(codes.contains(&("literal-secret", "spec.services.velocloud.admin.password")), "{codes:?}");
        let all = format!("{found:?}");
        assert!(!all.contains("hunter2"), "a literal secret must never be echoed");
        let typo = found.iter().find(|d| d.code == "unknown-field").unwrap();
        assert_eq!(typo.hint.as_deref(), Some("did you mean `accountNumber`?"));
        assert_eq!(typo.loc.line, 8);
    }

    #[test]
    fn duplicate_keys_are_reported_where_they_repeat() {
        let yaml = OK.replace("    name: Acme\n", "    name: Acme\n    name: Acme Ltd\n");
        let found = diags(&yaml);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].code, found[0].loc.line), ("duplicate-key", 7));
    }
}
