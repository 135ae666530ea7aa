//! How shared values are written down: times in plans and messages, secret references, and the
//! fingerprint of a manifest directory.

use std::collections::BTreeMap;

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::model::SecretRef;

/// A terminal style (anstyle's, so no escape code is written by hand), or no style at all when
/// colour is off: a plain style prints nothing, so one format string serves both.
pub fn paint(color: bool, style: anstyle::Style) -> anstyle::Style {
    if color { style } else { anstyle::Style::new() }
}

/// anstyle's reset when colour is on; nothing when it is off.
#[derive(Debug, Clone, Copy)]
pub struct Reset(pub bool);

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 { write!(f, "{}", anstyle::Reset.render()) } else { Ok(()) }
    }
}

/// `2026-11-20 10:04 UTC`.
pub fn fmt_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// `env:NAME` / `file:PATH`: how a secret reference is remembered (never the value).
pub fn secret_ref_text(r: &SecretRef) -> String {
    match r {
        SecretRef::Env(n) => format!("env:{n}"),
        SecretRef::File(p) => format!("file:{p}"),
    }
}

/// One hash over every manifest file's path and content hash.
pub fn manifests_fingerprint(files: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    for (path, hash) in files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(hash.as_bytes());
        hasher.update([0]);
    }
    format!("sha256:{}", hasher.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Pretty JSON with a trailing newline, as committed files are written.
pub fn pretty_json(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}
