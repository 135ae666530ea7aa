//! Plans for people: text for terminals and logs (grouped by customer, then vendor; `+ ~ - ! ?`
//! markers; field-level diffs; colour only when asked) and Markdown for pull-request comments
//! (markers at column 0 where GitHub colours them; always within a size budget, a summary table
//! first). Both show the values a portal task asks for. Sensitive values never appear: a changed
//! secret reads "(sensitive value changed)", a secret a portal task needs "(secret env:NAME)".

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anstyle::AnsiColor;
use serde_json::Value as Json;
use similar::{ChangeTag, TextDiff};

use super::{Action, ActionKind, Plan};
use crate::core::Change;
use crate::core::{Reset, paint};
use crate::model::{ManifestRef, Vendor};

/// Colours for the text renderer (anstyle's); all plain when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    green: anstyle::Style,
    yellow: anstyle::Style,
    red: anstyle::Style,
    cyan: anstyle::Style,
    bold: anstyle::Style,
    dim: anstyle::Style,
    reset: Reset,
}

impl Style {
    pub fn new(color: bool) -> Self {
        let fg = |c: AnsiColor| paint(color, c.on_default());
        Style {
            green: fg(AnsiColor::Green),
            yellow: fg(AnsiColor::Yellow),
            red: fg(AnsiColor::Red),
            cyan: fg(AnsiColor::Cyan),
            bold: paint(color, anstyle::Style::new().bold()),
            dim: paint(color, anstyle::Style::new().dimmed()),
            reset: Reset(color),
        }
    }

    fn marker(&self, a: &Action) -> (char, anstyle::Style) {
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
    for (key, why) in &plan.unreadable {
        let _ = writeln!(out, "{}{}! {key} could not be read: {why}{}", s.bold, s.red, s.reset);
        let _ = writeln!(out, "  nothing is planned for it (or what needs it) in this run\n");
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
    if !plan.attested.is_empty() {
        let _ = writeln!(out, "{}Attested, not verified{} (taken as done on a person's word)", s.bold, s.reset);
        for a in &plan.attested {
            let _ =
                writeln!(out, "  {} {} of {}: portal task {} {}", a.key.vendor, a.title, a.key.owner, a.task, a.note);
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
        for line in change_lines(c, a.kind, a.key.vendor) {
            diff_line_text(out, &line, s, pad);
        }
    }
    if let Some(t) = &a.task
        && a.kind == ActionKind::PortalTask
    {
        let _ = writeln!(out, "{pad}{}portal:{} {}", s.cyan, s.reset, t.form.page);
        for line in task_value_lines(a) {
            diff_line_text(out, &line, s, pad);
        }
        let _ = writeln!(out, "{pad}{}{}{}", s.dim, verify_text(t), s.reset);
    }
    if let Some(h) = &a.hint {
        for (i, line) in h.lines().enumerate() {
            let label = if i == 0 { "hint: " } else { "      " };
            let _ = writeln!(out, "{pad}{}{label}{}{line}", s.bold, s.reset);
        }
    }
}

fn verify_text(t: &super::TaskSpec) -> &'static str {
    match t.form.verify {
        crate::core::Verify::Observation => "verified when the result appears at the vendor",
        crate::core::Verify::Attestation => "verified by `tenantry tasks done ID`",
    }
}

/// One line of a field-level diff, before it is written as text or Markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DiffLine {
    /// `+ field: value` (depth 0) or `+ item` inside a list or mapping (depth 1).
    Add(usize, String),
    Remove(usize, String),
    /// An unchanged item inside a list or mapping.
    Same(usize, String),
    /// A scalar that changes.
    Modify {
        field: String,
        before: String,
        after: String,
    },
    /// A field whose value changes as a whole or line by line below it (`~ tags:`).
    Changed(String),
}

/// The diff lines of one change, and what its `before` was compared from when the vendor
/// cannot report it. Sensitive values never appear.
fn change_lines(c: &Change, kind: ActionKind, vendor: crate::model::Vendor) -> Vec<DiffLine> {
    let mut lines = value_lines(c, kind);
    if c.unreadable && !matches!(kind, ActionKind::Create | ActionKind::Register) {
        lines.push(DiffLine::Same(
            0,
            format!("({}: not readable at {}: compared with what tenantry applied)", c.field, vendor.title()),
        ));
    }
    lines
}

fn value_lines(c: &Change, kind: ActionKind) -> Vec<DiffLine> {
    if c.sensitive {
        return vec![if kind == ActionKind::Create || kind == ActionKind::Register {
            DiffLine::Add(0, format!("{}: (sensitive value)", c.field))
        } else {
            DiffLine::Changed(format!("{}: (sensitive value changed)", c.field))
        }];
    }
    match (&c.before, &c.after) {
        (None, Some(after)) if is_scalar(after) => vec![DiffLine::Add(0, format!("{}: {}", c.field, scalar(after)))],
        (Some(before), None) if is_scalar(before) => {
            vec![DiffLine::Remove(0, format!("{}: {}", c.field, scalar(before)))]
        }
        (Some(before), Some(after)) if is_scalar(before) && is_scalar(after) => {
            vec![DiffLine::Modify { field: c.field.clone(), before: scalar(before), after: scalar(after) }]
        }
        (before, after) => {
            // Lists and mappings: a line diff of their pretty forms.
            let b = before.as_ref().map(pretty_lines).unwrap_or_default();
            let a = after.as_ref().map(pretty_lines).unwrap_or_default();
            let head = format!("{}:", c.field);
            let mut lines = vec![match (before, after) {
                (None, _) => DiffLine::Add(0, head),
                (_, None) => DiffLine::Remove(0, head),
                _ => DiffLine::Changed(head),
            }];
            let diff = TextDiff::from_lines(&b, &a);
            for change in diff.iter_all_changes() {
                let value = change.value().trim_end_matches('\n').to_string();
                lines.push(match change.tag() {
                    ChangeTag::Delete => DiffLine::Remove(1, value),
                    ChangeTag::Insert => DiffLine::Add(1, value),
                    ChangeTag::Equal => DiffLine::Same(1, value),
                });
            }
            lines
        }
    }
}

/// The values a person enters for a portal task, one `+ field: value` line each (nested
/// mappings as `parent.child`), leaving out the fields its changes already show. Secrets appear
/// as their reference (`(secret env:NAME)`), never as a value.
fn task_value_lines(a: &Action) -> Vec<DiffLine> {
    let Some(t) = &a.task else { return Vec::new() };
    let mut flat = Vec::new();
    for (name, value) in &t.values {
        if a.changes.iter().any(|c| &c.field == name) {
            continue;
        }
        flatten_value(name, value, &mut flat);
    }
    flat.into_iter().map(|(k, v)| DiffLine::Add(0, format!("{k}: {v}"))).collect()
}

fn flatten_value(prefix: &str, value: &Json, out: &mut Vec<(String, String)>) {
    match value {
        Json::Object(o) if o.len() == 1 && o.get("secretRef").is_some_and(Json::is_string) => {
            out.push((prefix.to_string(), format!("(secret {})", o["secretRef"].as_str().unwrap_or("?"))));
        }
        Json::Object(o) if !o.is_empty() => {
            for (k, v) in o {
                flatten_value(&format!("{prefix}.{k}"), v, out);
            }
        }
        Json::Array(items) if !items.is_empty() && items.iter().all(|i| !i.is_array() && !i.is_object()) => {
            out.push((prefix.to_string(), format!("[{}]", items.iter().map(scalar).collect::<Vec<_>>().join(", "))));
        }
        other => out.push((prefix.to_string(), compact(other))),
    }
}

/// One line of JSON for values that are neither scalars nor lists of scalars.
fn compact(v: &Json) -> String {
    if is_scalar(v) { scalar(v) } else { serde_json::to_string(v).unwrap_or_default() }
}

fn diff_line_text(out: &mut String, line: &DiffLine, s: Style, pad: &str) {
    let _ = match line {
        DiffLine::Add(0, t) => writeln!(out, "{pad}{}+{} {t}", s.green, s.reset),
        DiffLine::Remove(0, t) => writeln!(out, "{pad}{}-{} {t}", s.red, s.reset),
        DiffLine::Same(0, t) => writeln!(out, "{pad}  {t}"),
        DiffLine::Add(_, t) => writeln!(out, "{pad}    {}+ {t}{}", s.green, s.reset),
        DiffLine::Remove(_, t) => writeln!(out, "{pad}    {}- {t}{}", s.red, s.reset),
        DiffLine::Same(_, t) => writeln!(out, "{pad}    {}  {t}{}", s.dim, s.reset),
        DiffLine::Modify { field, before, after } => {
            writeln!(out, "{pad}{}~{} {field}: {before} -> {after}", s.yellow, s.reset)
        }
        DiffLine::Changed(t) => writeln!(out, "{pad}{}~{} {t}", s.yellow, s.reset),
    };
}

/// The same line in a Markdown ```` ```diff ```` block: the marker at column 0, where GitHub
/// colours it (`+` green, `-` red, `!` for what changes), the indentation after it. A changing
/// scalar is its old line and its new line.
fn diff_line_markdown(out: &mut String, line: &DiffLine) {
    // Under the action's own line: its word starts at column 2, its fields at column 6.
    let indent = |depth: usize| "    ".repeat(depth + 1);
    let _ = match line {
        DiffLine::Add(d, t) => writeln!(out, "+ {}{t}", indent(*d)),
        DiffLine::Remove(d, t) => writeln!(out, "- {}{t}", indent(*d)),
        DiffLine::Same(d, t) => writeln!(out, "  {}{t}", indent(*d)),
        DiffLine::Modify { field, before, after } => {
            writeln!(out, "-     {field}: {before}\n+     {field}: {after}")
        }
        DiffLine::Changed(t) => writeln!(out, "!     {t}"),
    };
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

/// GitHub refuses comments over 65,536 characters; the default budget leaves room for what a
/// CI step adds around the plan.
pub const DEFAULT_MARKDOWN_BUDGET: usize = 60_000;

/// The smallest budget `--markdown-budget` accepts: room for the heading, a table of totals and
/// the note on what was left out.
pub const MIN_MARKDOWN_BUDGET: usize = 4_000;

/// How the Markdown plan is fitted into one comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkdownOptions {
    /// The most characters (counted as UTF-8 bytes, so never more characters than this) the
    /// Markdown may have. Budgets below [`MIN_MARKDOWN_BUDGET`] count as that.
    pub budget: usize,
    /// Where the full plan was saved (`--out FILE`), named in the note on what was left out.
    pub full_plan: Option<String>,
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        MarkdownOptions { budget: DEFAULT_MARKDOWN_BUDGET, full_plan: None }
    }
}

/// The plan as Markdown for a pull-request comment, with the default budget.
pub fn markdown(plan: &Plan, names: &Names) -> String {
    markdown_with(plan, names, &MarkdownOptions::default())
}

/// Room kept for the note on what was left out (the names it lists are cut to fit).
const LEFT_OUT_NOTE: usize = 1_500;

/// The plan as Markdown for a pull-request comment, always within `options.budget`: a table per
/// owner and action kind first, then one collapsible section per owner while they fit, then a
/// note naming the owners whose details were left out and where the full plan is.
pub fn markdown_with(plan: &Plan, names: &Names, options: &MarkdownOptions) -> String {
    let budget = options.budget.max(MIN_MARKDOWN_BUDGET);
    let groups = group(&plan.actions);
    let head = markdown_head(plan);
    let sections: Vec<(&ManifestRef, String)> =
        groups.iter().map(|(owner, vendors)| (*owner, owner_section(owner, vendors, names))).collect();
    let orphans = orphans_markdown(plan);
    let tail = format!("**Plan:** {}.\n", plan.summary().line());
    let empty =
        if groups.is_empty() && plan.orphans.is_empty() { format!("{}\n\n", no_changes(plan)) } else { String::new() };

    // Everything, when it fits.
    let table = owner_table(&groups, names, usize::MAX);
    let whole = head.len()
        + table.len()
        + empty.len()
        + sections.iter().map(|(_, s)| s.len()).sum::<usize>()
        + orphans.len()
        + tail.len();
    if whole <= budget {
        let mut out = head;
        out.push_str(&table);
        out.push_str(&empty);
        sections.iter().for_each(|(_, s)| out.push_str(s));
        out.push_str(&orphans);
        out.push_str(&tail);
        return out;
    }

    // Otherwise: the table gets up to half of what is left, the sections the rest, in order.
    let room = budget.saturating_sub(head.len() + tail.len() + LEFT_OUT_NOTE);
    let table = owner_table(&groups, names, room / 2);
    let mut left = room.saturating_sub(table.len());
    let mut out = head;
    out.push_str(&table);
    let mut shown = 0;
    for (_, section) in &sections {
        if section.len() > left {
            break;
        }
        left -= section.len();
        out.push_str(section);
        shown += 1;
    }
    let orphans_shown = shown == sections.len() && orphans.len() <= left;
    if orphans_shown {
        out.push_str(&orphans);
    }
    let omitted: Vec<&ManifestRef> = sections[shown..].iter().map(|(o, _)| *o).collect();
    out.push_str(&left_out_note(&omitted, !orphans_shown && !plan.orphans.is_empty(), budget, options));
    out.push_str(&tail);
    out
}

/// Heading, sandbox and unavailable-vendor notes, irreversible warning.
fn markdown_head(plan: &Plan) -> String {
    let mut out = String::from("## tenantry plan\n\n");
    if plan.options.sandbox {
        out.push_str("_Against the built-in sandbox (simulated vendors)._\n\n");
    }
    for (vendor, why) in &plan.unavailable {
        let _ = writeln!(out, "> **{vendor} could not be observed:** {why}. Nothing is planned for it.\n");
    }
    for (key, why) in &plan.unreadable {
        let _ = writeln!(out, "> **`{key}` could not be read:** {why}. Nothing is planned for it.\n");
    }
    for a in &plan.attested {
        let _ = writeln!(
            out,
            "> **Attested, not verified:** {} {} of `{}`: portal task {} {}.\n",
            a.key.vendor, a.title, a.key.owner, a.task, a.note
        );
    }
    let irreversible = plan.actions.iter().filter(|a| a.irreversible && a.blocked.is_none()).count();
    if irreversible > 0 {
        let _ = writeln!(
            out,
            "> :warning: **{irreversible} irreversible change(s)**: applying needs `--allow-irreversible`.\n"
        );
    }
    out
}

/// The columns of the summary table, in this order; blocked actions count as `blocked`.
const COLUMNS: [&str; 9] =
    ["create", "register", "sync", "adopt", "delete", "await", "portal-task", "blocked", "conflict"];

fn column(a: &Action) -> usize {
    let word = if a.blocked.is_some() { "blocked" } else { a.kind.word() };
    COLUMNS.iter().position(|c| *c == word).unwrap_or(0)
}

type Groups<'a> = BTreeMap<&'a ManifestRef, BTreeMap<Vendor, Vec<&'a Action>>>;

/// One row per owner and one column per action kind present, then the totals, within `room`
/// characters: owners that do not fit are summed in one row.
fn owner_table(groups: &Groups<'_>, names: &Names, room: usize) -> String {
    let counts: Vec<(&ManifestRef, [usize; 9])> = groups
        .iter()
        .map(|(owner, vendors)| {
            let mut row = [0; 9];
            vendors.values().flatten().for_each(|a| row[column(a)] += 1);
            (*owner, row)
        })
        .collect();
    let mut total = [0; 9];
    counts.iter().for_each(|(_, row)| (0..9).for_each(|i| total[i] += row[i]));
    if counts.is_empty() {
        return String::new();
    }
    let present: Vec<usize> = (0..9).filter(|i| total[*i] > 0).collect();
    let cells = |label: String, row: &[usize; 9]| {
        let mut line = format!("| {label} |");
        for i in &present {
            match row[*i] {
                0 => line.push_str(" |"),
                n => {
                    let _ = write!(line, " {n} |");
                }
            }
        }
        line.push('\n');
        line
    };
    let mut head = String::from("| owner |");
    present.iter().for_each(|i| {
        let _ = write!(head, " {} |", COLUMNS[*i]);
    });
    head.push_str("\n|---|");
    present.iter().for_each(|_| head.push_str("---:|"));
    head.push('\n');
    let total_row = cells(format!("**all {} owners**", counts.len()), &total);
    let reserve = head.len() + total_row.len() + 80 + present.len() * 8;
    let mut rows = String::new();
    let mut shown = 0;
    for (owner, row) in &counts {
        let name = names.get(*owner).map(|n| format!(" ({})", escape_table(n))).unwrap_or_default();
        let line = cells(format!("{owner}{name}"), row);
        if reserve + rows.len() + line.len() > room {
            break;
        }
        rows.push_str(&line);
        shown += 1;
    }
    if shown < counts.len() {
        let mut rest = [0; 9];
        counts[shown..].iter().for_each(|(_, row)| (0..9).for_each(|i| rest[i] += row[i]));
        rows.push_str(&cells(format!("_{} more owners_", counts.len() - shown), &rest));
    }
    format!("{head}{rows}{total_row}\n")
}

/// One owner's collapsible section: a ```` ```diff ```` block per owner, a `#` line per vendor.
fn owner_section(owner: &ManifestRef, vendors: &BTreeMap<Vendor, Vec<&Action>>, names: &Names) -> String {
    let mut out = String::new();
    let mut kinds = [0; 9];
    vendors.values().flatten().for_each(|a| kinds[column(a)] += 1);
    let counts: Vec<String> =
        (0..9).filter(|i| kinds[*i] > 0).map(|i| format!("{} {}", kinds[i], COLUMNS[i])).collect();
    let name = names.get(owner).map(|n| format!(" ({n})")).unwrap_or_default();
    let _ = writeln!(out, "<details><summary><b>{owner}</b>{}: {}</summary>\n", escape_html(&name), counts.join(", "));
    out.push_str("```diff\n");
    for (vendor, list) in vendors {
        let _ = writeln!(out, "# {vendor}");
        for a in list {
            action_markdown(&mut out, a);
        }
    }
    out.push_str("```\n\n</details>\n\n");
    out
}

/// One action in a diff block: every marker at column 0 (`+` create/register, `-` delete, `!`
/// everything that changes or needs attention: sync, adopt, await, portal task, blocked,
/// conflict); reasons, hints and notes as indented context lines, which GitHub leaves plain.
/// Fields sit under the action, indented after their marker.
fn action_markdown(out: &mut String, a: &Action) {
    let marker = match (a.blocked.is_some(), a.kind) {
        (true, _) => '!',
        (false, ActionKind::Create | ActionKind::Register) => '+',
        (false, ActionKind::Delete) => '-',
        _ => '!',
    };
    let word = if a.blocked.is_some() { format!("{} (blocked)", a.kind.word()) } else { a.kind.word().to_string() };
    let id = a.vendor_id.as_ref().map(|id| format!(" (id {id})")).unwrap_or_default();
    let irreversible = if a.irreversible { " [irreversible]" } else { "" };
    let _ = writeln!(out, "{marker} {word:<12} {}{id}{irreversible}", a.title);
    let note = |out: &mut String, text: &str| {
        for line in text.lines() {
            let _ = writeln!(out, "      {}", line.trim_end());
        }
    };
    note(out, &a.reason);
    if let Some(b) = &a.blocked {
        note(out, &format!("blocked: {b}"));
    }
    if !a.depends_on.is_empty() {
        note(out, &format!("after: {}", a.depends_on.join(", ")));
    }
    for c in &a.changes {
        for line in change_lines(c, a.kind, a.key.vendor) {
            diff_line_markdown(out, &line);
        }
    }
    if let Some(t) = &a.task
        && a.kind == ActionKind::PortalTask
    {
        note(out, &format!("portal: {}", t.form.page));
        for line in task_value_lines(a) {
            diff_line_markdown(out, &line);
        }
        note(out, verify_text(t));
    }
    if let Some(h) = &a.hint {
        for (i, line) in h.lines().enumerate() {
            note(out, &format!("{}{line}", if i == 0 { "hint: " } else { "      " }));
        }
    }
}

fn orphans_markdown(plan: &Plan) -> String {
    if plan.orphans.is_empty() {
        return String::new();
    }
    let mut out = String::from("**Owned objects no longer in the manifests**\n\n");
    for o in &plan.orphans {
        let _ = writeln!(out, "- {} {} of `{}` (id `{}`): {}", o.key.vendor, o.title, o.key.owner, o.vendor_id, o.note);
    }
    out.push('\n');
    out
}

/// What the budget left out, by name (as many as fit), and where the full plan is.
fn left_out_note(omitted: &[&ManifestRef], orphans: bool, budget: usize, options: &MarkdownOptions) -> String {
    let mut out = String::from("> **Left out to fit one comment**");
    let _ = write!(out, " (at most {budget} characters):");
    if !omitted.is_empty() {
        let _ = write!(out, " the details of {} owner{}", omitted.len(), if omitted.len() == 1 { "" } else { "s" });
        let mut listed = 0;
        let mut list = String::new();
        for owner in omitted {
            let item = format!("{}`{owner}`", if listed == 0 { ": " } else { ", " });
            if out.len() + list.len() + item.len() > LEFT_OUT_NOTE - 400 {
                break;
            }
            list.push_str(&item);
            listed += 1;
        }
        out.push_str(&list);
        if listed < omitted.len() {
            let _ = write!(out, " and {} more", omitted.len() - listed);
        }
        if orphans {
            out.push(';');
        }
    }
    if orphans {
        out.push_str(" the list of owned objects no longer in the manifests");
    }
    out.push_str(".\n> ");
    match &options.full_plan {
        // A path too long to name within the note's room is referred to by the flag.
        Some(file) if file.len() > 200 => out.push_str("The full plan is saved in the file given to `--out`."),
        Some(file) => {
            let _ = write!(out, "The full plan is saved in `{}` (`tenantry apply {}` applies it).", escape_html(file), escape_html(file));
        }
        None => out.push_str(
            "For the full plan, run `tenantry plan --out plan.json` (the whole plan as JSON) or `tenantry plan --format text`.",
        ),
    }
    out.push_str(" The table above counts every action.\n\n");
    out
}

fn escape_table(s: &str) -> String {
    escape_html(s).replace('|', "\\|")
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// What an empty plan means: never "the vendors match" when some could not be looked at.
fn no_changes(plan: &Plan) -> String {
    if !plan.unreadable.is_empty() && plan.unavailable.is_empty() {
        "No changes to what could be read; what the objects above need is unknown.".into()
    } else if plan.unavailable.is_empty() && !plan.attested.is_empty() {
        "No changes. The vendors match the manifests, apart from the attested steps below, which they cannot show."
            .into()
    } else if plan.unavailable.is_empty() {
        "No changes. The vendors match the manifests.".into()
    } else {
        "No changes at the vendors that could be observed; what the others need is unknown.".into()
    }
}
