//! Diagnostics: one problem in the manifests, with file, line, column, field path and a hint.
//! Rendering (plain text, JSON, source snippets) lives here too, so every command that reports
//! manifest problems says them the same way.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::node::Loc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in the manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable, machine-readable kind of problem (e.g. `unknown-field`).
    pub code: &'static str,
    pub message: String,
    pub loc: Loc,
    /// Field path inside the document, e.g. `spec.services.datto.term`.
    pub path: String,
    pub hint: Option<String>,
    /// The value at `loc` may be a secret: renderers must not show it.
    pub redact: bool,
}

impl Diagnostic {
    pub fn error(code: &'static str, loc: Loc, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            loc,
            path: path.into(),
            hint: None,
            redact: false,
        }
    }

    pub fn warning(code: &'static str, loc: Loc, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, loc, path, message) }
    }

    /// Mark the value at this location as a possible secret, so no renderer shows it.
    pub fn redacted(mut self) -> Self {
        self.redact = true;
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// The manifest files read in one run, so diagnostics can name files and show source lines.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as shown to the user (relative to the manifest directory).
    pub display: PathBuf,
    pub text: String,
}

impl SourceMap {
    pub fn add(&mut self, display: PathBuf, text: String) -> u32 {
        self.files.push(SourceFile { display, text });
        (self.files.len() - 1) as u32
    }

    pub fn file(&self, id: u32) -> Option<&SourceFile> {
        self.files.get(id as usize)
    }

    pub fn display(&self, loc: Loc) -> String {
        match self.file(loc.file) {
            Some(f) => format!("{}:{}:{}", f.display.display(), loc.line, loc.column),
            None => format!("<unknown>:{}:{}", loc.line, loc.column),
        }
    }

    /// The same files, each shown as `prefix/path`: how the CLI names them relative to where
    /// the user stands rather than to the manifest directory. An empty or `.` prefix keeps them.
    pub fn rebased(&self, prefix: &std::path::Path) -> SourceMap {
        let keep = prefix.as_os_str().is_empty() || prefix == std::path::Path::new(".");
        let files = self
            .files
            .iter()
            .map(|f| SourceFile {
                display: if keep { f.display.clone() } else { prefix.join(&f.display) },
                text: f.text.clone(),
            })
            .collect();
        SourceMap { files }
    }

    pub fn path_of(&self, loc: Loc) -> String {
        self.file(loc.file).map(|f| f.display.display().to_string()).unwrap_or_default()
    }

    fn line_text(&self, loc: Loc) -> Option<&str> {
        let f = self.file(loc.file)?;
        f.text.lines().nth(loc.line.checked_sub(1)? as usize)
    }
}

/// Sort for stable output: by file, line, column, then message.
pub fn sort(diags: &mut [Diagnostic], sources: &SourceMap) {
    diags.sort_by(|a, b| {
        (sources.path_of(a.loc), a.loc.line, a.loc.column, &a.message).cmp(&(
            sources.path_of(b.loc),
            b.loc.line,
            b.loc.column,
            &b.message,
        ))
    });
}

/// Plain text, one block per diagnostic: the form for logs and non-terminals.
///
/// ```text
/// error[unknown-field]: customers/acme.yaml:12:5: spec.company.acountNumber: unknown field `acountNumber`
///   hint: did you mean `accountNumber`?
/// ```
pub fn render_plain(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let mut out = String::new();
    for d in diags {
        let sev = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = write!(out, "{sev}[{}]: {}: ", d.code, sources.display(d.loc));
        if !d.path.is_empty() {
            let _ = write!(out, "{}: ", d.path);
        }
        let _ = writeln!(out, "{}", d.message);
        if let Some(h) = &d.hint {
            let _ = writeln!(out, "  hint: {h}");
        }
    }
    out
}

/// With the offending source line and a caret under the column: the form for terminals.
///
/// ```text
/// error[unknown-field]: unknown field `acountNumber`
///   --> customers/acme.yaml:12:5 (spec.company.acountNumber)
///    |
/// 12 |     acountNumber: ACME-0001
///    |     ^
///    = hint: did you mean `accountNumber`?
/// ```
pub fn render_snippets(diags: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
    use anstyle::AnsiColor;
    let fg = |c: AnsiColor| crate::core::paint(color, c.on_default());
    let (red, yellow, blue) = (fg(AnsiColor::Red), fg(AnsiColor::Yellow), fg(AnsiColor::Blue));
    let bold = crate::core::paint(color, anstyle::Style::new().bold());
    let reset = crate::core::Reset(color);
    let mut out = String::new();
    for d in diags {
        let (sev, col) = match d.severity {
            Severity::Error => ("error", red),
            Severity::Warning => ("warning", yellow),
        };
        let _ = writeln!(out, "{bold}{col}{sev}[{}]{reset}{bold}: {}{reset}", d.code, d.message);
        let path = if d.path.is_empty() { String::new() } else { format!(" ({})", d.path) };
        let _ = writeln!(out, "  {blue}-->{reset} {}{path}", sources.display(d.loc));
        if let Some(line) = sources.line_text(d.loc) {
            let line = if d.redact { redact_from(line, d.loc.column) } else { line.to_string() };
            let line = line.as_str();
            let num = d.loc.line.to_string();
            let pad = " ".repeat(num.len());
            let caret_pad: String = line
                .chars()
                .take(d.loc.column.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(out, "{pad} {blue}|{reset}");
            let _ = writeln!(out, "{blue}{num} |{reset} {line}");
            let _ = writeln!(out, "{pad} {blue}|{reset} {caret_pad}{col}^{reset}");
        }
        if let Some(h) = &d.hint {
            let pad = " ".repeat(d.loc.line.to_string().len());
            let _ = writeln!(out, "{pad} {blue}={reset} {bold}hint{reset}: {h}");
        }
        out.push('\n');
    }
    out
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    severity: Severity,
    code: &'a str,
    message: &'a str,
    file: String,
    line: u32,
    column: u32,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'a str>,
}

/// `--format json`: `{"valid": bool, "errors": n, "warnings": n, "diagnostics": [...]}`.
pub fn render_json(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let items: Vec<JsonDiagnostic> = diags
        .iter()
        .map(|d| JsonDiagnostic {
            severity: d.severity,
            code: d.code,
            message: &d.message,
            file: sources.path_of(d.loc),
            line: d.loc.line,
            column: d.loc.column,
            path: &d.path,
            hint: d.hint.as_deref(),
        })
        .collect();
    let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
    let doc = serde_json::json!({
        "valid": errors == 0,
        "errors": errors,
        "warnings": diags.len() - errors,
        "diagnostics": items,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// GitHub Actions workflow commands, one line per diagnostic, which the Actions runner turns into
/// annotations on the file and line:
///
/// ```text
/// ::error file=manifests/customers/acme.yaml,line=12,col=5,title=unknown-field::spec.company.acountNumber: unknown field `acountNumber` (hint: did you mean `accountNumber`?)
/// ```
pub fn render_github(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let mut out = String::new();
    for d in diags {
        let sev = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut message = if d.path.is_empty() { d.message.clone() } else { format!("{}: {}", d.path, d.message) };
        if let Some(h) = &d.hint {
            let _ = write!(message, " (hint: {h})");
        }
        let _ = writeln!(
            out,
            "::{sev} file={},line={},col={},title={}::{}",
            github_property(&sources.path_of(d.loc)),
            d.loc.line,
            d.loc.column,
            github_property(d.code),
            github_data(&message)
        );
    }
    out
}

/// A workflow command's message, escaped as the Actions runner reads it.
fn github_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A workflow command's property value (also `:` and `,`, which separate properties).
fn github_property(text: &str) -> String {
    github_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The line with everything from `column` (1-based, in characters) replaced by asterisks.
fn redact_from(line: &str, column: u32) -> String {
    let keep: String = line.chars().take(column.saturating_sub(1) as usize).collect();
    format!("{keep}********")
}

/// Edit distance, for "did you mean" hints.
pub fn similar_name<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wrong_l = wrong.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (levenshtein(&wrong_l, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len().max(wrong.len()) / 3).max(1))
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_annotations_escape_what_separates_their_parts() {
        let mut sources = SourceMap::default();
        let file = sources.add(PathBuf::from("customers/a,b.yaml"), "x: 1\n".into());
        let d = Diagnostic::error("bad-value", Loc { file, line: 3, column: 7 }, "spec.x", "100% wrong:\nreally")
            .with_hint("fix it");
        assert_eq!(
            render_github(&[d], &sources.rebased(std::path::Path::new("manifests"))),
            "::error file=manifests/customers/a%2Cb.yaml,line=3,col=7,title=bad-value::spec.x: 100%25 wrong:%0Areally (hint: fix it)\n"
        );
    }

    #[test]
    fn suggests_close_names_only() {
        let fields = ["accountNumber", "address", "name", "domain"];
        assert_eq!(similar_name("acountNumber", fields), Some("accountNumber"));
        assert_eq!(similar_name("Domain", fields), Some("domain"));
        assert_eq!(similar_name("zzz", fields), None);
    }
}
