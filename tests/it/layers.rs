//! The crate's layer order (stated in `src/lib.rs`) as a test: a top-level module may import
//! only from modules in a lower layer, so the import graph between top-level modules has no
//! cycle and the arrows point one way. A new top-level module fails the test until it is given
//! a layer here and in the crate docs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::repo;

/// Lowest first. Modules within one layer do not import each other either.
const LAYERS: &[&[&str]] = &[
    &["model"],
    &["core"],
    &["secrets", "manifest", "state", "plan"],
    &["provider", "sandbox"],
    &["engine"],
    &["apply"],
    &["controller"],
    &["cli"],
];

fn rust_files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("read src") {
            rust_files(&entry.expect("entry").path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The first path segment of each item after `crate::` (or a `super::` chain that reaches the
/// crate root): `apply` in `apply::X`, and every item's in a group `{core::{A, B}, apply::X}`.
fn heads(rest: &str) -> Vec<String> {
    let ident =
        |s: &str| s.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let Some(group) = rest.strip_prefix('{') else { return vec![ident(rest)] };
    // The group up to its matching brace, split at its own commas (not nested groups').
    let (mut depth, mut items, mut start) = (0usize, Vec::new(), 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.into_iter().map(ident).filter(|s| !s.is_empty()).collect()
}

/// The top-level modules `module`'s code (not its comments or test modules) names through
/// `crate::...`, `use crate::{...}` (nested groups included) or a `super::` chain that reaches
/// the crate root (`super::x` in `src/engine.rs`, `super::super::x` in `src/plan/render.rs`).
fn imports(src: &Path, module: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut files = Vec::new();
    let dir = src.join(module);
    let root = if dir.is_dir() { dir } else { src.join(format!("{module}.rs")) };
    rust_files(&root, &mut files);
    let mut found = BTreeSet::new();
    for f in files {
        // How deep the file's module sits: `src/x.rs` and `src/x/mod.rs` are 1, `src/x/y.rs` 2.
        let relative = f.strip_prefix(src).expect("under src");
        let parts = relative.components().count();
        let depth = if relative.ends_with("mod.rs") { parts - 1 } else { parts };
        let text = std::fs::read_to_string(&f).expect("read source");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code: String =
            code.lines().filter(|l| !l.trim_start().starts_with("//")).map(|l| format!("{l}\n")).collect();
        let mut names = Vec::new();
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            names.extend(heads(rest));
        }
        let mut rest = code.as_str();
        while let Some(at) = rest.find("super::") {
            // Count the whole chain; only one that reaches the crate root names a top-level module.
            let mut chain = &rest[at..];
            let mut hops = 0;
            while let Some(next) = chain.strip_prefix("super::") {
                hops += 1;
                chain = next;
            }
            if hops == depth {
                names.extend(heads(chain));
            }
            rest = chain;
        }
        found.extend(names.into_iter().filter(|n| modules.contains(n) && n != module));
    }
    found
}

#[test]
fn every_module_imports_only_from_layers_below_it() {
    let src = repo().join("src");
    let modules: BTreeSet<String> = std::fs::read_dir(&src)
        .expect("read src")
        .map(|e| e.expect("entry").path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            match name.strip_suffix(".rs") {
                Some("lib" | "main") => None,
                Some(stem) => Some(stem.to_string()),
                None if p.is_dir() => Some(name),
                None => None,
            }
        })
        .collect();
    let layer: BTreeMap<&str, usize> =
        LAYERS.iter().enumerate().flat_map(|(i, ms)| ms.iter().map(move |m| (*m, i))).collect();
    let unplaced: Vec<&String> = modules.iter().filter(|m| !layer.contains_key(m.as_str())).collect();
    assert!(unplaced.is_empty(), "top-level modules without a layer (add them to LAYERS and src/lib.rs): {unplaced:?}");
    let mut upward = Vec::new();
    let mut edges = 0;
    for m in &modules {
        for target in imports(&src, m, &modules) {
            edges += 1;
            if layer[target.as_str()] >= layer[m.as_str()] {
                upward.push(format!(
                    "{m} (layer {}) imports {target} (layer {})",
                    layer[m.as_str()],
                    layer[target.as_str()]
                ));
            }
        }
    }
    assert!(upward.is_empty(), "imports that do not point down the layers:\n{}", upward.join("\n"));
    // The scan sees the imports (not a vacuous pass): the CLI uses nearly everything.
    assert!(edges > 20, "only {edges} import edges found");
}
