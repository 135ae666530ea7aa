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

/// The top-level modules `module`'s code (not its comments or test modules) names through
/// `crate::NAME` or `use crate::{NAME, ...}`.
fn imports(src: &Path, module: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut files = Vec::new();
    let dir = src.join(module);
    let root = if dir.is_dir() { dir } else { src.join(format!("{module}.rs")) };
    rust_files(&root, &mut files);
    let mut found = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read source");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code: String =
            code.lines().filter(|l| !l.trim_start().starts_with("//")).map(|l| format!("{l}\n")).collect();
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let names: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                inner.split(',').map(|p| p.trim().split("::").next().unwrap_or_default().to_string()).collect()
            } else {
                vec![rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()]
            };
            found.extend(names.into_iter().filter(|n| modules.contains(n) && n != module));
        }
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
