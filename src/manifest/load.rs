//! Reading a manifest directory: find the files, parse them, sort documents by kind, check their
//! structure, merge profiles into customers, and hand the result to semantic validation.
//!
//! The only I/O is reading files; everything after [`read_dir`] is pure, so tests can feed
//! in-memory files through [`load_files`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::diag::{self, Diagnostic, Severity, SourceMap};
use super::node::{self, Budgets, Key, Loc, Node, Value};
use super::schema::Kind;
use super::structure;
use super::validate;
use crate::model::DesiredState;
use serde_json::Value as Json;

/// The name of the root configuration file.
pub const CONFIG_FILE: &str = "tenantry.yaml";

/// The outcome of loading a manifest directory: the desired state when there were no errors,
/// and every diagnostic either way.
#[derive(Debug)]
pub struct Loaded {
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
    pub desired: Option<DesiredState>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error).count()
    }
}

/// The directory could not be read at all (as opposed to manifests with problems).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("manifest directory {path} does not exist")]
    NotFound { path: PathBuf },
    #[error("{path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// One manifest file: its path relative to the manifest directory, and its text (or why it
/// could not be read).
pub struct InputFile {
    pub relative: PathBuf,
    pub text: Result<String, String>,
}

/// Find and read every `*.yaml` / `*.yml` (in any letter case) under `dir`, skipping hidden
/// files and directories (names starting with a dot: `.tenantry`, `.git`) and not following
/// directory symlinks. Files come back sorted by path.
///
/// Nothing that could be a manifest is skipped in silence (a run that skipped a customer's file
/// could prune that customer's vendor objects): a manifest name that is not a readable regular
/// file (a dangling or looping symlink, a FIFO, a device), a symlink to a directory, and a file
/// over the size budget come back as unreadable inputs, which validation reports by name. Sizes
/// are checked before reading, and a file is never read past the budget.
pub fn read_dir(dir: &Path) -> Result<Vec<InputFile>, LoadError> {
    let meta = std::fs::metadata(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound { path: dir.to_path_buf() },
        _ => LoadError::Io { path: dir.to_path_buf(), source: e },
    })?;
    if !meta.is_dir() {
        return Err(LoadError::NotADirectory { path: dir.to_path_buf() });
    }
    let mut found: Vec<(PathBuf, Option<String>)> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = std::fs::read_dir(&current).map_err(|e| LoadError::Io { path: current.clone(), source: e })?;
        for entry in entries {
            let entry = entry.map_err(|e| LoadError::Io { path: current.clone(), source: e })?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let file_type = entry.file_type().map_err(|e| LoadError::Io { path: path.clone(), source: e })?;
            let lower = name.to_ascii_lowercase();
            let manifest_name = lower.ends_with(".yaml") || lower.ends_with(".yml");
            if file_type.is_dir() {
                stack.push(path);
            } else if file_type.is_symlink() {
                match std::fs::metadata(&path) {
                    Ok(target) if target.is_dir() => found.push((
                        path,
                        Some("a symbolic link to a directory, which tenantry does not follow: move the manifests into the repository or remove the link".into()),
                    )),
                    Ok(target) if manifest_name => found.push((path, not_regular(&target))),
                    Ok(_) => {}
                    // Dangling or looping: whatever it pointed at (a file, a directory of
                    // customers) is not there to read.
                    Err(e) => found.push((path, Some(format!("a symbolic link that cannot be followed ({e})")))),
                }
            } else if manifest_name {
                let why = entry.metadata().map(|m| not_regular(&m)).unwrap_or_else(|e| Some(format!("{e}")));
                found.push((path, why));
            }
        }
    }
    found.sort();
    let limit = Budgets::default().max_file_bytes;
    Ok(super::par_map(&found, |(path, problem)| {
        let relative = path.strip_prefix(dir).unwrap_or(path).to_path_buf();
        let text = match problem {
            Some(why) => Err(format!("cannot read it as a manifest: {why}")),
            None => read_bounded(path, limit),
        };
        InputFile { relative, text }
    }))
}

/// Why a manifest name is not a file to read (`None`: it is a regular file).
fn not_regular(meta: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let what = if t.is_file() {
        return None;
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Some(format!("{what}, not a regular file"))
}

/// The file's text, refused without reading when it is over `limit` bytes (and never read past
/// it, should it grow meanwhile).
fn read_bounded(path: &Path, limit: usize) -> Result<String, String> {
    use std::io::Read;
    let over = |size: u64| format!("the file is {size} bytes, over the {limit}-byte limit for one manifest file");
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, and the type checked on what was opened: a file swapped for a FIFO after it
    // was listed can neither block the run nor be read as a manifest.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read the file: {e}"))?;
    if let Some(why) = not_regular(&meta) {
        return Err(format!("cannot read it as a manifest: {why}"));
    }
    let size = meta.len();
    if size > limit as u64 {
        return Err(over(size));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit as u64 + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read the file: {e}"))?;
    if bytes.len() > limit {
        return Err(over(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|_| "the file is not UTF-8 text".to_string())
}

/// Read and validate the manifest directory `dir`.
pub fn load_dir(dir: &Path) -> Result<Loaded, LoadError> {
    Ok(load_files(read_dir(dir)?, Budgets::default()))
}

/// Names declared by documents of each kind.
pub(crate) type Declared = std::collections::BTreeSet<(Kind, String)>;

/// A document that passed its structural check, with the kind it declared.
pub(crate) struct Doc<'s> {
    pub kind: Kind,
    pub node: Node<'s>,
}

/// Validate already-read files. Pure: no I/O, no clock.
pub fn load_files(files: Vec<InputFile>, budgets: Budgets) -> Loaded {
    let mut sources = SourceMap::default();
    let mut inputs = Vec::with_capacity(files.len());
    for file in files {
        let is_root_config = file.relative == Path::new(CONFIG_FILE);
        let (text, unreadable) = match file.text {
            Ok(t) => (t, None),
            Err(why) => (String::new(), Some(why)),
        };
        let id = sources.add(file.relative, text);
        inputs.push((id, is_root_config, unreadable));
    }

    // Files are independent until references are resolved: parse and check them on every core.
    let results = super::par_map(&inputs, |(id, root, unreadable)| {
        read_file(&sources, *id, *root, unreadable.as_deref(), budgets)
    });

    let mut diagnostics = Vec::new();
    let mut docs = Vec::new();
    // Every name a document declares, even when the document has errors, so references to it
    // are not reported as dangling on top of its own errors.
    let mut declared = Declared::new();
    for r in results {
        diagnostics.extend(r.diagnostics);
        declared.extend(r.declared);
        docs.extend(r.docs);
    }

    let desired = validate::build(docs, &declared, &sources, &mut diagnostics);
    diag::sort(&mut diagnostics, &sources);
    let has_errors = diagnostics.iter().any(|d| d.severity == Severity::Error);
    Loaded { sources, diagnostics, desired: if has_errors { None } else { Some(desired) } }
}

#[derive(Default)]
struct FileResult<'s> {
    diagnostics: Vec<Diagnostic>,
    declared: Vec<(Kind, String)>,
    docs: Vec<Doc<'s>>,
}

/// Parse one file and check each document's structure.
fn read_file<'s>(
    sources: &'s SourceMap,
    id: u32,
    is_root_config: bool,
    unreadable: Option<&str>,
    budgets: Budgets,
) -> FileResult<'s> {
    let mut r = FileResult::default();
    if let Some(why) = unreadable {
        r.diagnostics.push(Diagnostic::error("unreadable-file", Loc { file: id, line: 1, column: 1 }, "", why));
        return r;
    }
    let text = sources.file(id).map(|f| f.text.as_str()).unwrap_or_default();
    let parsed = match node::parse(text, id, budgets) {
        Ok(p) => p,
        Err(e) => {
            r.diagnostics.push(Diagnostic::error(
                "invalid-yaml",
                Loc { file: id, line: e.line, column: e.column },
                "",
                e.message,
            ));
            return r;
        }
    };
    for doc in parsed {
        if let Some(kind) = classify(&doc, is_root_config, &mut r.diagnostics) {
            if let Some(name) = doc.get("metadata").and_then(|m| m.get("name")).and_then(Node::as_str) {
                r.declared.push((kind, name.to_string()));
            }
            let before = r.diagnostics.len();
            structure::check(&doc, kind.schema(), &mut r.diagnostics);
            if r.diagnostics.len() == before {
                r.docs.push(Doc { kind, node: doc });
            }
        }
    }
    r
}

/// Read `apiVersion` and `kind` before anything else, so a wrong kind gets one clear message
/// rather than a cascade of unknown fields.
fn classify(doc: &Node, is_root_config: bool, out: &mut Vec<Diagnostic>) -> Option<Kind> {
    let Value::Map(_) = &doc.value else {
        out.push(
            Diagnostic::error(
                "invalid-document",
                doc.loc,
                "",
                format!("a manifest document must be a mapping, found {}", doc.value.type_name()),
            )
            .with_hint("start the document with `apiVersion: tenantry.dev/v1` and `kind: Customer`"),
        );
        return None;
    };
    match doc.get("apiVersion").map(|n| &n.value) {
        Some(Value::Str(v)) if v == "tenantry.dev/v1" => {}
        Some(_) => {
            let n = doc.get("apiVersion").map(|n| n.loc).unwrap_or(doc.loc);
            out.push(
                Diagnostic::error("invalid-api-version", n, "apiVersion", "unsupported apiVersion")
                    .with_hint("this version of tenantry reads `apiVersion: tenantry.dev/v1`"),
            );
            return None;
        }
        None => {
            out.push(
                Diagnostic::error("missing-field", doc.loc, "apiVersion", "missing required field `apiVersion`")
                    .with_hint("add `apiVersion: tenantry.dev/v1` at the top of the document"),
            );
            return None;
        }
    }
    let kind_node = match doc.get("kind") {
        Some(k) => k,
        None => {
            out.push(
                Diagnostic::error("missing-field", doc.loc, "kind", "missing required field `kind`")
                    .with_hint("expected one of: Customer, Reseller, Profile (Config only in the root tenantry.yaml)"),
            );
            return None;
        }
    };
    let Some(kind) = kind_node.as_str().and_then(Kind::parse) else {
        let wrong = kind_node.as_str().unwrap_or_default();
        let names = ["Customer", "Reseller", "Profile", "Config"];
        let hint = match diag::similar_name(wrong, names) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "expected one of: Customer, Reseller, Profile (Config only in the root tenantry.yaml)".to_string(),
        };
        out.push(
            Diagnostic::error("unknown-kind", kind_node.loc, "kind", format!("unknown kind `{wrong}`")).with_hint(hint),
        );
        return None;
    };
    match (kind, is_root_config) {
        (Kind::Config, false) => {
            out.push(
                Diagnostic::error(
                    "misplaced-config",
                    kind_node.loc,
                    "kind",
                    "a `Config` document belongs only in the root tenantry.yaml",
                )
                .with_hint("move it to tenantry.yaml at the top of the manifest directory"),
            );
            None
        }
        (k, true) if k != Kind::Config => {
            out.push(
                Diagnostic::error(
                    "misplaced-document",
                    kind_node.loc,
                    "kind",
                    format!("tenantry.yaml holds the `Config` document, not a {}", k.name()),
                )
                .with_hint("put customers, resellers and profiles in other files (e.g. customers/acme.yaml)"),
            );
            None
        }
        (k, _) => Some(k),
    }
}

/// Merge `overlay` onto `base`: mappings merge key by key, everything else (lists, scalars,
/// `null`) replaces. Every node keeps its own location, so problems in a merged value still point
/// at the file that wrote it.
///
/// `schema` (with `root` for `$ref`s) describes the values: a mapping whose schema is a choice
/// of shapes (a secret reference `{env}` / `{file}`, a configuration `{profile}` / `{cloneFrom}`)
/// replaces instead of merging, since mixing two choices would make neither.
pub fn merge<'s>(base: &Node<'s>, overlay: &Node<'s>, schema: Option<&Json>, root: &Json) -> Node<'s> {
    let schema = schema.map(|s| resolve(s, root));
    if schema.is_some_and(is_choice) {
        return overlay.clone();
    }
    match (&base.value, &overlay.value) {
        (Value::Map(b), Value::Map(o)) => {
            let mut entries: Vec<(Key<'s>, Node<'s>)> = b.clone();
            for (key, value) in o {
                let child = schema.and_then(|s| {
                    s.get("properties")
                        .and_then(|p| p.get(key.name.as_ref()))
                        .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
                });
                match entries.iter_mut().find(|(k, _)| k.name == key.name) {
                    Some((k, existing)) => {
                        *existing = merge(existing, value, child, root);
                        *k = key.clone();
                    }
                    None => entries.push((key.clone(), value.clone())),
                }
            }
            Node { loc: overlay.loc, value: Value::Map(entries) }
        }
        _ => overlay.clone(),
    }
}

/// Follow `$ref`s and drop the `null` branch of an optional value.
pub(crate) fn resolve<'a>(mut schema: &'a Json, root: &'a Json) -> &'a Json {
    for _ in 0..16 {
        if let Some(r) = schema.get("$ref").and_then(Json::as_str) {
            match r.strip_prefix("#/$defs/").and_then(|name| root.get("$defs")?.get(name)) {
                Some(target) => schema = target,
                None => return schema,
            }
            continue;
        }
        let branches = schema.get("anyOf").and_then(Json::as_array);
        let non_null: Vec<&Json> = branches
            .map(|b| b.iter().filter(|x| x.get("type").and_then(Json::as_str) != Some("null")).collect())
            .unwrap_or_default();
        match non_null.as_slice() {
            [only] if branches.is_some_and(|b| b.len() == 2) => schema = only,
            _ => return schema,
        }
    }
    schema
}

fn is_choice(schema: &Json) -> bool {
    ["oneOf", "anyOf"].iter().any(|k| {
        schema.get(*k).and_then(Json::as_array).is_some_and(|branches| {
            branches.iter().filter(|b| b.get("type").and_then(Json::as_str) == Some("object")).count() > 1
        })
    })
}

/// Index documents of one kind by `metadata.name`, reporting duplicates at every repeat.
pub(crate) fn by_name<'a, 's>(
    docs: &'a [Doc<'s>],
    kind: Kind,
    sources: &SourceMap,
    out: &mut Vec<Diagnostic>,
) -> BTreeMap<String, &'a Node<'s>> {
    let mut map: BTreeMap<String, &Node> = BTreeMap::new();
    for doc in docs.iter().filter(|d| d.kind == kind) {
        let Some(name) = doc.node.locate("metadata.name").as_str() else {
            continue;
        };
        if let Some(first) = map.get(name) {
            let first_loc = first.locate("metadata.name").loc;
            out.push(
                Diagnostic::error(
                    "duplicate-name",
                    doc.node.locate("metadata.name").loc,
                    "metadata.name",
                    format!("{} `{name}` is declared twice", kind.name()),
                )
                .with_hint(format!(
                    "the first declaration is at {}; metadata.name must be unique",
                    sources.display(first_loc)
                )),
            );
            continue;
        }
        map.insert(name.to_string(), &doc.node);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(yaml: &str) -> Node<'_> {
        node::parse(yaml, 0, Budgets::default()).unwrap().remove(0)
    }

    #[test]
    fn maps_merge_lists_and_scalars_replace() {
        let base = n("a: {x: 1, y: [1, 2]}\nb: keep\n");
        let over = n("a: {y: [3], z: 2}\nc: new\n");
        let root = serde_json::json!({});
        let merged = merge(&base, &over, None, &root).to_json();
        assert_eq!(merged, serde_json::json!({"a": {"x": 1, "y": [3], "z": 2}, "b": "keep", "c": "new"}));
        let removed = merge(&base, &n("a: null\n"), None, &root).to_json();
        assert_eq!(removed["a"], serde_json::Value::Null);
    }

    #[test]
    fn choices_replace_instead_of_merging() {
        let root = Kind::Customer.schema();
        let services = resolve(root, root)
            .pointer("/properties/spec")
            .map(|s| resolve(s, root))
            .and_then(|s| s.pointer("/properties/services"))
            .unwrap();
        let base = n("velocloud: {configuration: {profile: std}, admin: {password: {env: A}}}\n");
        let over = n("velocloud: {configuration: {cloneFrom: acme}, admin: {password: {file: p}}}\n");
        let merged = merge(&base, &over, Some(services), root).to_json();
        assert_eq!(merged["velocloud"]["configuration"], serde_json::json!({"cloneFrom": "acme"}));
        assert_eq!(merged["velocloud"]["admin"]["password"], serde_json::json!({"file": "p"}));
    }
}
