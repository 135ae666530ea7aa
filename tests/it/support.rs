//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

/// The repository root (where Cargo.toml is).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    repo().join("tests/fixtures")
}

/// Compare `actual` with the file at `path`; with `TENANTRY_BLESS=1`, write it instead.
pub fn expect_file(path: &Path, actual: &str) {
    if std::env::var_os("TENANTRY_BLESS").is_some() {
        std::fs::write(path, actual).expect("write expected file");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!("{} is missing; run with TENANTRY_BLESS=1 to create it, then review it", path.display())
    });
    assert_eq!(
        expected,
        actual,
        "{} differs from the actual output (TENANTRY_BLESS=1 rewrites it; review the diff before committing)",
        path.display()
    );
}

/// Every YAML file under `dir`, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
