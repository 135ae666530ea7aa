//! `tenantry status`: one row per customer (or reseller) and vendor, saying whether the vendor
//! holds what the manifests declare, and if not, what stands in the way. Made from a fresh
//! observation (as `plan` makes one: read-only) and the state store (open portal tasks, the
//! last failure), so it needs nothing running beside it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use jiff::Timestamp;
use serde_json::json;

use super::state::ListFormat;
use super::workspace::{self, ConnectArgs, TargetArgs, Workspace};
use super::{CliError, CliResult, Output};
use crate::core::{Action, ActionKind};
use crate::model::{ManifestRef, Vendor};
use crate::plan::{Plan, render};
use crate::state::{HistoryEntry, TaskRecord};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Manifest directory (holds tenantry.yaml, customers, resellers and profiles).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
    #[command(flatten)]
    pub targets: TargetArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Where one owner stands at one vendor, worst first: a row shows the worst that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum State {
    /// The vendor could not be observed, or an object of the owner could not be read.
    Unknown,
    /// An action cannot run until something changes (a vendor rule, a conflict).
    Blocked,
    /// The last apply of an action still planned failed.
    Failed,
    /// An open portal task: a person is to do a step in the vendor's portal.
    Task,
    /// The vendor does not hold what the manifests declare (fields to sync, objects to make):
    /// an apply changes that. Worse than waiting: nothing under way will mend it.
    Drifted,
    /// Waiting for the vendor, a customer or an earlier step.
    Pending,
    Ready,
}

impl State {
    fn word(self) -> &'static str {
        match self {
            State::Unknown => "Unknown",
            State::Blocked => "Blocked",
            State::Failed => "Failed",
            State::Task => "Task",
            State::Pending => "Pending",
            State::Drifted => "Drifted",
            State::Ready => "Ready",
        }
    }
}

/// One row: the worst state and what explains it.
#[derive(Debug)]
struct Row {
    state: State,
    detail: String,
    since: Option<Timestamp>,
    task: Option<String>,
    fields: Vec<String>,
}

impl Row {
    fn ready() -> Row {
        Row { state: State::Ready, detail: String::new(), since: None, task: None, fields: Vec::new() }
    }

    /// Take `state` if it is worse than what the row holds.
    fn worse(&mut self, state: State, detail: String, since: Option<Timestamp>) {
        if state < self.state {
            self.state = state;
            self.detail = detail;
            self.since = since;
        }
    }
}

pub async fn status(args: StatusArgs, output: Output) -> CliResult {
    let (mut desired, sources) = workspace::load_manifests(&args.dir, output.stderr_terminal, output.stderr_color)?;
    let names = render::names(&desired);
    let selected = super::select::resolve(&desired, &args.targets.select)?;
    super::select::narrow(&mut desired, &selected);
    let ws = Workspace::open(&args.dir, desired, sources, &args.connect, false).await?;
    let made = super::plan::make(&ws, &args.targets, &selected, &args.dir, &names).await;
    let owners = owner_vendors(&ws, &selected);
    let tasks = ws.store.tasks().map_err(CliError::from);
    let history = ws.store.history(None, 10_000).map_err(CliError::from);
    ws.close().await;
    let (plan, tasks, history) = (made?, tasks?, history?);
    let rows = rows(&owners, &plan, &tasks, &history);
    match args.format {
        ListFormat::Json => {
            let list: Vec<_> = rows
                .iter()
                .map(|((owner, vendor), r)| {
                    json!({
                        "owner": owner.to_string(), "vendor": vendor.to_string(), "status": r.state.word(),
                        "detail": r.detail, "since": r.since, "task": r.task, "fields": r.fields,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
        }
        ListFormat::Text => {
            // The time the plan was made at (the sandbox's clock when it was moved).
            let now = plan.created_at;
            let table = rows.iter().map(|((owner, vendor), r)| {
                let since = r.since.map(|t| format!(" ({})", super::state::age(t, now)));
                vec![
                    owner.to_string(),
                    vendor.to_string(),
                    r.state.word().to_string(),
                    format!("{}{}", r.detail, since.unwrap_or_default()),
                ]
            });
            print!("{}", super::state::columns(&["OWNER", "VENDOR", "STATUS", "DETAIL"], table, output));
            let ready = rows.values().filter(|r| r.state == State::Ready).count();
            println!(
                "\n{ready} of {} ready. `tenantry plan` shows every action; `tenantry tasks` the open tasks.",
                rows.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every selected owner and the vendors its manifests declare something at.
fn owner_vendors(ws: &Workspace, selected: &super::select::Resolved) -> Vec<(ManifestRef, Vendor)> {
    let models = crate::provider::models();
    let mut pairs: Vec<(ManifestRef, Vendor)> =
        crate::engine::desire(&ws.desired, &models).iter().map(|o| (o.key.owner.clone(), o.key.vendor)).collect();
    pairs.sort();
    pairs.dedup();
    // `narrow` keeps a selected customer's reseller, for planning; it is not asked about.
    pairs.retain(|(o, _)| {
        (selected.targets.is_empty() || selected.targets.contains(o)) && !selected.excludes.contains(o)
    });
    pairs
}

fn rows(
    owners: &[(ManifestRef, Vendor)],
    plan: &Plan,
    tasks: &[TaskRecord],
    history: &[HistoryEntry],
) -> BTreeMap<(ManifestRef, Vendor), Row> {
    let mut rows: BTreeMap<(ManifestRef, Vendor), Row> = owners.iter().map(|p| (p.clone(), Row::ready())).collect();
    for (vendor, why) in &plan.unavailable {
        for ((_, v), row) in rows.iter_mut().filter(|((_, v), _)| v == vendor) {
            row.worse(State::Unknown, format!("{v} could not be observed: {why}"), None);
        }
    }
    for (id, why) in &plan.unreadable {
        let Some(key) = crate::core::ObjectKey::parse(id) else { continue };
        if let Some(row) = rows.get_mut(&(key.owner, key.vendor)) {
            row.worse(State::Unknown, format!("{id} could not be read: {why}"), None);
        }
    }
    // The newest history entry per action id: whether its last apply failed.
    let mut last: BTreeMap<&str, &HistoryEntry> = BTreeMap::new();
    for e in history {
        let newest = last.get(e.action.as_str()).is_none_or(|seen| seen.at <= e.at);
        if newest {
            last.insert(&e.action, e);
        }
    }
    for a in &plan.actions {
        let Some(row) = rows.get_mut(&(a.key.owner.clone(), a.key.vendor)) else { continue };
        let failed = last.get(a.id.as_str()).filter(|e| e.result == "failed");
        if let Some(e) = failed {
            let why = e.message.clone().unwrap_or_else(|| "no message".into());
            row.worse(State::Failed, format!("{}: {why}", a.title), Some(e.at));
        }
        classify(a, row);
    }
    // An open task counts while the plan still has something for its object: once the vendor
    // shows its result, nothing is planned there and the next apply closes it.
    let planned: std::collections::BTreeSet<&crate::core::ObjectKey> = plan.actions.iter().map(|a| &a.key).collect();
    for t in tasks.iter().filter(|t| t.is_open() && planned.contains(&t.key)) {
        if let Some(row) = rows.get_mut(&(t.key.owner.clone(), t.key.vendor)) {
            if row.task.is_none() {
                row.task = Some(t.id.clone());
            }
            // The title without the portal path (`tasks show` has it).
            let title = t.title.strip_prefix(&format!("{}: ", t.page)).unwrap_or(&t.title);
            row.worse(State::Task, format!("{} {title}", t.id), Some(t.created_at));
        }
    }
    rows
}

/// What one planned action says of its owner at its vendor.
fn classify(a: &Action, row: &mut Row) {
    match (&a.blocked, a.kind) {
        (_, ActionKind::Conflict) => row.worse(State::Blocked, format!("conflict: {}: {}", a.title, a.reason), None),
        (Some(why), _) if !a.deferred => row.worse(State::Blocked, format!("{}: {why}", a.title), None),
        (Some(why), _) => row.worse(State::Pending, format!("{}: {why}", a.title), a.since),
        (None, ActionKind::Await) => row.worse(State::Pending, format!("{}: {}", a.title, a.reason), a.since),
        (None, ActionKind::PortalTask) => row.worse(State::Task, format!("to open: {}", a.title), None),
        (None, ActionKind::Sync) => {
            let fields: Vec<String> = a.changes.iter().map(|c| c.field.clone()).collect();
            row.fields.extend(fields.iter().cloned());
            row.worse(State::Drifted, format!("{}: {}", a.title, fields.join(", ")), None);
        }
        (None, kind) => row.worse(State::Drifted, format!("to {}: {}", kind.word(), a.title), None),
    }
}
