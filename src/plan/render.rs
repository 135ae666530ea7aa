//! Plans for people: text for terminals and logs (grouped by customer, then vendor; `+ ~ - ! ?`
//! markers; field-level diffs; colour only when asked) and Markdown for pull-request comments.
//! Sensitive values never appear: a changed secret reads "(sensitive value changed)".

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value as Json;
use similar::{ChangeTag, TextDiff};

use super::{Action, ActionKind, Plan};
use crate::core::Change;
use crate::model::{ManifestRef, Vendor};

/// Colours for the text renderer; all empty when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    green: &'static str,
    yellow: &'static str,
    red: &'static str,
    cyan: &'static str,
    bold: &'static str,
    dim: &'static str,
    reset: &'static str,
}

impl Style {
    pub fn new(color: bool) -> Self {
        if color {
            Style {
                green: "\x1b[32m",
                yellow: "\x1b[33m",
                red: "\x1b[31m",
                cyan: "\x1b[36m",
                bold: "\x1b[1m",
                dim: "\x1b[2m",
                reset: "\x1b[0m",
            }
        } else {
            Style { green: "", yellow: "", red: "", cyan: "", bold: "", dim: "", reset: "" }
        }
    }

    fn marker(&self, a: &Action) -> (char, &'static str) {
        if a.blocked.is_some() {
            return ('!', self.red);
        }
        let c = a.kind.marker();
        let color = match a.kind {
            ActionKind::Create | ActionKind::Register => self.green,
            ActionKind::Sync | ActionKind::Adopt => self.yellow,
            ActionKind::Delete | ActionKind::Conflict => self.red,
            ActionKind::Await | ActionKind::PortalTask => self.cyan,
        };
        (c, color)
    }
}

/// Owner display names (`Customer/acme` -> `Acme Corp`), when known.
pub type Names = BTreeMap<ManifestRef, String>;

/// Company names of every customer and reseller.
pub fn names(desired: &crate::model::DesiredState) -> Names {
    let customers = desired.customers.values().map(|c| (ManifestRef::customer(&c.name), c.company.name.clone()));
    let resellers = desired.resellers.values().map(|r| (ManifestRef::reseller(&r.name), r.company.name.clone()));
    customers.chain(resellers).collect()
}

/// The plan as text.
pub fn text(plan: &Plan, names: &Names, style: Style) -> String {
    let s = style;
    let mut out = String::new();
    if plan.options.sandbox {
        let _ = writeln!(out, "{}(sandbox: simulated vendors on 127.0.0.1){}\n", s.dim, s.reset);
    }
    for (vendor, why) in &plan.unavailable {
        let _ = writeln!(out, "{}{}! {vendor} could not be observed: {why}{}", s.bold, s.red, s.reset);
        let _ = writeln!(out, "  nothing is planned for {vendor} in this run\n");
    }
    let groups = group(&plan.actions);
    if groups.is_empty() && plan.orphans.is_empty() {
        let _ = writeln!(out, "{}\n", no_changes(plan));
    }
    for (owner, vendors) in &groups {
        let name = names.get(owner).map(|n| format!("  {}{n}{}", s.dim, s.reset)).unwrap_or_default();
        let _ = writeln!(out, "{}{owner}{}{name}", s.bold, s.reset);
        for (vendor, actions) in vendors {
            let _ = writeln!(out, "  {}{vendor}{}", s.bold, s.reset);
            for a in actions {
                action_text(&mut out, a, s);
            }
        }
        out.push('\n');
    }
    if !plan.orphans.is_empty() {
        let _ = writeln!(out, "{}Owned objects no longer in the manifests{}", s.bold, s.reset);
        for o in &plan.orphans {
            let _ = writeln!(out, "  {} {} of {} (id {}): {}", o.key.vendor, o.title, o.key.owner, o.vendor_id, o.note);
        }
        out.push('\n');
    }
    let irreversible = plan.actions.iter().filter(|a| a.irreversible && a.blocked.is_none()).count();
    if irreversible > 0 {
        let _ = writeln!(
            out,
            "{}{}! {irreversible} irreversible change{}: apply refuses {} without --allow-irreversible{}\n",
            s.bold,
            s.red,
            if irreversible == 1 { "" } else { "s" },
            if irreversible == 1 { "it" } else { "them" },
            s.reset
        );
    }
    let deletes = plan.actions.iter().filter(|a| a.kind == ActionKind::Delete && a.blocked.is_none()).count();
    if deletes > 0 {
        let _ = writeln!(
            out,
            "{}{}- {deletes} object{} will be deleted (prune is on){}\n",
            s.bold,
            s.red,
            if deletes == 1 { "" } else { "s" },
            s.reset
        );
    }
    let _ = writeln!(out, "{}Plan:{} {}.", s.bold, s.reset, plan.summary().line());
    out
}

/// Actions grouped by owner (resellers first), then vendor, in plan order.
fn group(actions: &[Action]) -> BTreeMap<&ManifestRef, BTreeMap<Vendor, Vec<&Action>>> {
    let mut groups: BTreeMap<&ManifestRef, BTreeMap<Vendor, Vec<&Action>>> = BTreeMap::new();
    for a in actions {
        groups.entry(&a.key.owner).or_default().entry(a.key.vendor).or_default().push(a);
    }
    groups
}

fn action_text(out: &mut String, a: &Action, s: Style) {
    let (marker, color) = s.marker(a);
    let word = if a.blocked.is_some() { format!("{} (blocked)", a.kind.word()) } else { a.kind.word().to_string() };
    let id = a.vendor_id.as_ref().map(|id| format!(" {}(id {id}){}", s.dim, s.reset)).unwrap_or_default();
    let irreversible =
        if a.irreversible { format!(" {}{}[irreversible]{}", s.bold, s.red, s.reset) } else { String::new() };
    let _ = writeln!(out, "    {color}{marker} {word:<12}{} {}{id}{irreversible}", s.reset, a.title);
    let pad = "        ";
    let _ = writeln!(out, "{pad}{}{}{}", s.dim, a.reason, s.reset);
    if let Some(b) = &a.blocked {
        let _ = writeln!(out, "{pad}{}blocked:{} {b}", s.red, s.reset);
    }
    if !a.depends_on.is_empty() {
        let _ = writeln!(out, "{pad}{}after: {}{}", s.dim, a.depends_on.join(", "), s.reset);
    }
    for c in &a.changes {
        change_text(out, c, a.kind, s, pad);
    }
    if let Some(t) = &a.task
        && a.kind == ActionKind::PortalTask
    {
        let _ = writeln!(out, "{pad}{}portal:{} {}", s.cyan, s.reset, t.form.page);
        let verify = match t.form.verify {
            crate::core::Verify::Observation => "verified when the result appears at the vendor",
            crate::core::Verify::Attestation => "verified by `tenantry tasks done ID`",
        };
        let _ = writeln!(out, "{pad}{}{verify}{}", s.dim, s.reset);
    }
    if let Some(h) = &a.hint {
        for (i, line) in h.lines().enumerate() {
            let label = if i == 0 { "hint: " } else { "      " };
            let _ = writeln!(out, "{pad}{}{label}{}{line}", s.bold, s.reset);
        }
    }
}

fn change_text(out: &mut String, c: &Change, kind: ActionKind, s: Style, pad: &str) {
    if c.sensitive {
        let (sign, color, what) = if kind == ActionKind::Create || kind == ActionKind::Register {
            ('+', s.green, "(sensitive value)")
        } else {
            ('~', s.yellow, "(sensitive value changed)")
        };
        let _ = writeln!(out, "{pad}{color}{sign}{} {}: {what}", s.reset, c.field);
        return;
    }
    match (&c.before, &c.after) {
        (None, Some(after)) if is_scalar(after) => {
            let _ = writeln!(out, "{pad}{}+{} {}: {}", s.green, s.reset, c.field, scalar(after));
        }
        (Some(before), None) if is_scalar(before) => {
            let _ = writeln!(out, "{pad}{}-{} {}: {}", s.red, s.reset, c.field, scalar(before));
        }
        (Some(before), Some(after)) if is_scalar(before) && is_scalar(after) => {
            let _ = writeln!(out, "{pad}{}~{} {}: {} -> {}", s.yellow, s.reset, c.field, scalar(before), scalar(after));
        }
        (before, after) => {
            // Lists and mappings: a line diff of their pretty forms.
            let b = before.as_ref().map(pretty_lines).unwrap_or_default();
            let a = after.as_ref().map(pretty_lines).unwrap_or_default();
            let mark = match (before, after) {
                (None, _) => (s.green, '+'),
                (_, None) => (s.red, '-'),
                _ => (s.yellow, '~'),
            };
            let _ = writeln!(out, "{pad}{}{}{} {}:", mark.0, mark.1, s.reset, c.field);
            let diff = TextDiff::from_lines(&b, &a);
            for change in diff.iter_all_changes() {
                let (sign, color) = match change.tag() {
                    ChangeTag::Delete => ('-', s.red),
                    ChangeTag::Insert => ('+', s.green),
                    ChangeTag::Equal => (' ', s.dim),
                };
                let _ = write!(out, "{pad}    {color}{sign} {}{}", change.value(), s.reset);
                if change.missing_newline() {
                    out.push('\n');
                }
            }
        }
    }
}

fn is_scalar(v: &Json) -> bool {
    !matches!(v, Json::Array(a) if !a.is_empty()) && !matches!(v, Json::Object(o) if !o.is_empty())
}

fn scalar(v: &Json) -> String {
    match v {
        Json::Array(_) => "[]".into(),
        Json::Object(_) => "{}".into(),
        other => other.to_string(),
    }
}

/// One element per line for lists of scalars, pretty JSON otherwise.
fn pretty_lines(v: &Json) -> String {
    match v {
        Json::Array(items) if items.iter().all(|i| !i.is_array() && !i.is_object()) => {
            items.iter().map(|i| format!("{}\n", scalar(i))).collect()
        }
        Json::Object(map) if map.values().all(|i| !i.is_array() && !i.is_object()) => {
            map.iter().map(|(k, i)| format!("{k}: {}\n", scalar(i))).collect()
        }
        other => {
            let mut s = serde_json::to_string_pretty(other).unwrap_or_default();
            s.push('\n');
            s
        }
    }
}

/// The plan as Markdown for a pull-request comment: a summary table and one collapsible section
/// per customer or reseller.
pub fn markdown(plan: &Plan, names: &Names) -> String {
    let sum = plan.summary();
    let mut out = String::from("## tenantry plan\n\n");
    if plan.options.sandbox {
        out.push_str("_Against the built-in sandbox (simulated vendors)._\n\n");
    }
    for (vendor, why) in &plan.unavailable {
        let _ = writeln!(out, "> **{vendor} could not be observed:** {why}. Nothing is planned for it.\n");
    }
    out.push_str("| | count |\n|---|---:|\n");
    for (label, n) in [
        ("to create", sum.create),
        ("to register", sum.register),
        ("to sync", sum.sync),
        ("to adopt", sum.adopt),
        ("to delete", sum.delete),
        ("awaiting", sum.awaiting),
        ("portal tasks", sum.portal_tasks),
        ("blocked", sum.blocked),
        ("conflicts", sum.conflicts),
    ] {
        if n > 0 || matches!(label, "to create" | "to sync" | "blocked") {
            let _ = writeln!(out, "| {label} | {n} |");
        }
    }
    out.push('\n');
    let irreversible = plan.actions.iter().filter(|a| a.irreversible && a.blocked.is_none()).count();
    if irreversible > 0 {
        let _ = writeln!(
            out,
            "> :warning: **{irreversible} irreversible change(s)**: applying needs `--allow-irreversible`.\n"
        );
    }
    let groups = group(&plan.actions);
    if groups.is_empty() && plan.orphans.is_empty() {
        out.push_str(&no_changes(plan));
        out.push('\n');
    }
    for (owner, vendors) in &groups {
        let actions: Vec<&Action> = vendors.values().flatten().copied().collect();
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for a in &actions {
            let k = if a.blocked.is_some() { "blocked".to_string() } else { a.kind.word().to_string() };
            *kinds.entry(k).or_default() += 1;
        }
        let counts = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ");
        let name = names.get(owner).map(|n| format!(" ({n})")).unwrap_or_default();
        let _ = writeln!(out, "<details><summary><b>{owner}</b>{}: {counts}</summary>\n", escape_html(&name));
        out.push_str("```diff\n");
        for (vendor, list) in vendors {
            let _ = writeln!(out, "# {vendor}");
            for a in list {
                let mut block = String::new();
                action_text(&mut block, a, Style::new(false));
                // Keep +/- at column 0 so GitHub colours them; indent the rest.
                for line in block.lines() {
                    let trimmed = line.trim_start();
                    if trimmed.starts_with(['+', '-', '!', '?', '~'])
                        && line.starts_with("    ")
                        && !line.starts_with("        ")
                    {
                        let _ = writeln!(out, "{trimmed}");
                    } else {
                        let _ = writeln!(out, "  {}", line.trim_end());
                    }
                }
            }
        }
        out.push_str("```\n\n</details>\n\n");
    }
    if !plan.orphans.is_empty() {
        out.push_str("**Owned objects no longer in the manifests**\n\n");
        for o in &plan.orphans {
            let _ =
                writeln!(out, "- {} {} of `{}` (id `{}`): {}", o.key.vendor, o.title, o.key.owner, o.vendor_id, o.note);
        }
        out.push('\n');
    }
    let _ = writeln!(out, "**Plan:** {}.", sum.line());
    out
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// What an empty plan means: never "the vendors match" when some could not be looked at.
fn no_changes(plan: &Plan) -> String {
    if plan.unavailable.is_empty() {
        "No changes. The vendors match the manifests.".into()
    } else {
        "No changes at the vendors that could be observed; what the others need is unknown.".into()
    }
}
