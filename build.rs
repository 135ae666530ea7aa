//! Records the git commit tenantry is built from, for `tenantry version` and `-V`:
//! `git rev-parse --short HEAD` when git and a checkout are there, else `unknown`.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn main() {
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=TENANTRY_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves (a commit, a checkout), not on every build; in a worktree HEAD
    // lives in the worktree's git dir and the refs in the common one. Only existing files are
    // named: a missing one would make cargo run this on every build.
    println!("cargo:rerun-if-changed=build.rs");
    let mut watch = Vec::new();
    if let Some(git_dir) = git(&["rev-parse", "--git-dir"]) {
        watch.push(Path::new(&git_dir).join("HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
        watch.push(Path::new(&common).join("packed-refs"));
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch.push(Path::new(&common).join(head_ref));
        }
    }
    for path in watch.into_iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
