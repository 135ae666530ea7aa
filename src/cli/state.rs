//! Commands on the state store: `tasks`, `history`, `force-unlock`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};
use jiff::Timestamp;

use super::{CliError, CliResult, Output};
use crate::plan::fmt_time;
use crate::state::{StateStore, TaskRecord, TaskStatus};

/// Which state store: the manifest directory's (from tenantry.yaml), the sandbox's, or a URL.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Manifest directory whose state to use (its tenantry.yaml names the state store).
    #[arg(long, short = 'd', value_name = "DIR", default_value = ".", global = true)]
    pub dir: PathBuf,
    /// The sandbox's state (DIR/.tenantry/sandbox/state.db) instead of the real one.
    #[arg(long, global = true)]
    pub sandbox: bool,
    /// State store URL (overrides tenantry.yaml).
    #[arg(long, value_name = "URL", env = "TENANTRY_STATE", global = true)]
    pub state: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

/// Open the store `args` names. Manifest problems do not matter here; only `state.url` does.
pub fn store(args: &StoreArgs) -> Result<Arc<dyn StateStore>, CliError> {
    if !args.dir.is_dir() {
        return Err(CliError::new(format!("{} is not a directory", args.dir.display()))
            .hint("pass the manifest directory with --dir"));
    }
    let url = match (&args.state, args.sandbox) {
        (Some(u), _) => u.clone(),
        (None, true) => "sqlite:.tenantry/sandbox/state.db".into(),
        (None, false) => config_state_url(&args.dir).unwrap_or_else(|| crate::state::DEFAULT_URL.into()),
    };
    if let Some(path) = url.strip_prefix("sqlite:") {
        let full = args.dir.join(path);
        if !full.exists() {
            return Err(CliError::new(format!("there is no state at {} yet", full.display()))
                .hint("it is created by the first `tenantry apply`"));
        }
    }
    super::workspace::open_store(&url, &args.dir)
}

fn config_state_url(dir: &Path) -> Option<String> {
    let loaded = crate::manifest::load_dir(dir).ok()?;
    loaded.desired?.config.state_url
}

// ---------------------------------------------------------------------------------------------
// tasks

#[derive(Debug, Args)]
pub struct TasksArgs {
    #[command(subcommand)]
    pub command: Option<TasksCommand>,
    /// List every task, not only the open ones.
    #[arg(long, global = true)]
    pub all: bool,
    /// Output format: text or json.
    #[arg(long, value_enum, default_value_t = ListFormat::Text, global = true)]
    pub format: ListFormat,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// List open portal tasks (the default).
    List,
    /// Everything needed to do one task: the portal page and each value to enter.
    Show {
        /// Task id, e.g. T-3.
        id: String,
    },
    /// Record that a task was done in the portal (an attestation, with who and when).
    Done {
        /// Task id, e.g. T-3.
        id: String,
        /// A note for the record (ticket number, who did it).
        #[arg(long)]
        note: Option<String>,
    },
}

pub fn tasks(args: TasksArgs, output: Output) -> CliResult {
    let store = store(&args.store)?;
    match args.command.unwrap_or(TasksCommand::List) {
        TasksCommand::List => {
            let mut list = store.tasks().map_err(CliError::from)?;
            list.retain(|t| args.all || t.is_open());
            list.sort_by_key(|t| crate::state::task_number(&t.id));
            match args.format {
                ListFormat::Json => {
                    let items: Vec<serde_json::Value> = list.iter().map(task_record_json).collect();
                    println!("{}", serde_json::to_string_pretty(&items).unwrap_or_default());
                }
                ListFormat::Text if list.is_empty() => {
                    println!("{}", if args.all { "No portal tasks yet." } else { "No open portal tasks." })
                }
                ListFormat::Text => {
                    let now = Timestamp::now();
                    for t in &list {
                        println!(
                            "{:<6} {:<10} {:<22} {:<10} {} ({}, {})",
                            t.id,
                            status_word(&t.status),
                            t.key.owner.to_string(),
                            t.key.vendor.to_string(),
                            t.title,
                            age(t.created_at, now),
                            t.delivered.as_deref().unwrap_or("not delivered yet")
                        );
                    }
                    if list.iter().any(|t| t.is_open()) {
                        println!(
                            "\n`tenantry tasks show ID` has the values to enter; `tenantry tasks done ID` records it done."
                        );
                    }
                }
            }
        }
        TasksCommand::Show { id } => {
            let list = store.tasks().map_err(CliError::from)?;
            let t = list.iter().find(|t| t.id.eq_ignore_ascii_case(&id)).ok_or_else(|| {
                CliError::new(format!("there is no task {id}")).hint("`tenantry tasks --all` lists them")
            })?;
            match args.format {
                ListFormat::Json => {
                    println!("{}", serde_json::to_string_pretty(&task_record_json(t)).unwrap_or_default())
                }
                ListFormat::Text => print!("{}", task_text(t, output)),
            }
        }
        TasksCommand::Done { id, note } => {
            let t = crate::apply::attest(&*store, &id, note, Some(crate::state::lock::username()))
                .map_err(CliError::new)?;
            println!("{} is done: {}", t.id, t.title);
            match t.verify {
                crate::provider::Verify::Attestation => {
                    println!("The next plan treats this step as done.")
                }
                crate::provider::Verify::Observation => println!(
                    "The next plan checks the result at {}; until it shows there, the step stays awaited.",
                    t.vendor
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status_word(s: &TaskStatus) -> &'static str {
    match s {
        TaskStatus::Open => "open",
        TaskStatus::Done { .. } => "done",
        TaskStatus::Verified { .. } => "verified",
        TaskStatus::Superseded { .. } => "superseded",
    }
}

fn age(then: Timestamp, now: Timestamp) -> String {
    let secs = now.as_second().saturating_sub(then.as_second()).max(0);
    let ago = match secs {
        s if s < 120 => format!("{s}s ago"),
        s if s < 7200 => format!("{}m ago", s / 60),
        s if s < 172_800 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    };
    format!("since {}, {ago}", fmt_time(then))
}

fn task_record_json(t: &TaskRecord) -> serde_json::Value {
    let mut j = crate::apply::task_json(t);
    j["status"] = serde_json::to_value(&t.status).unwrap_or_default();
    j["delivered"] = serde_json::json!(t.delivered);
    j
}

fn task_text(t: &TaskRecord, output: Output) -> String {
    let (bold, reset) = if output.stdout_color { ("\x1b[1m", "\x1b[0m") } else { ("", "") };
    let mut s = String::new();
    s.push_str(&format!("{bold}{}{reset}  {}\n", t.id, t.title));
    s.push_str(&format!("  status:    {}\n", status_word(&t.status)));
    match &t.status {
        TaskStatus::Done { at, note, by } => {
            s.push_str(&format!("  done:      {}", fmt_time(*at)));
            if let Some(b) = by {
                s.push_str(&format!(" by {b}"));
            }
            if let Some(n) = note {
                s.push_str(&format!(" ({n})"));
            }
            s.push('\n');
        }
        TaskStatus::Verified { at } | TaskStatus::Superseded { at } => {
            s.push_str(&format!("  closed:    {}\n", fmt_time(*at)))
        }
        TaskStatus::Open => {}
    }
    s.push_str(&format!("  for:       {} ({} {})\n", t.key.owner, t.vendor, t.key.kind));
    if let Some(target) = &t.target {
        s.push_str(&format!("  vendor id: {target}\n"));
    }
    s.push_str(&format!("  opened:    {}\n", fmt_time(t.created_at)));
    s.push_str(&format!("  portal:    {}\n", t.page));
    s.push_str("  enter:\n");
    let width = t.values.keys().map(|k| k.len()).max().unwrap_or(0);
    for (k, v) in &t.values {
        let shown = match v {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Object(o) if o.contains_key("secretRef") => {
                format!("(the secret in {})", o["secretRef"].as_str().unwrap_or("?"))
            }
            other => other.to_string(),
        };
        s.push_str(&format!("    {k:<width$}  {shown}\n"));
    }
    s.push_str(&match t.verify {
        crate::provider::Verify::Observation => {
            format!("  verified:  automatically, when the result shows at {}\n", t.vendor)
        }
        crate::provider::Verify::Attestation => {
            format!("  verified:  by you: run `tenantry tasks done {}` when it is done\n", t.id)
        }
    });
    s
}

// ---------------------------------------------------------------------------------------------
// history

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this customer or reseller (`acme`, `Customer/acme`, `Reseller/northwind`).
    #[arg(long, value_name = "NAME")]
    pub customer: Option<String>,
    /// How many entries, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Output format: text or json.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn history(args: HistoryArgs) -> CliResult {
    let store = store(&args.store)?;
    let entries = match &args.customer {
        None => store.history(None, args.limit),
        Some(name) if name.contains('/') => store.history(Some(name), args.limit),
        Some(name) => match store.history(Some(&format!("Customer/{name}")), args.limit) {
            Ok(e) if e.is_empty() => store.history(Some(&format!("Reseller/{name}")), args.limit),
            other => other,
        },
    }
    .map_err(CliError::from)?;
    match args.format {
        ListFormat::Json => {
            let items: Vec<serde_json::Value> = entries
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "at": e.at, "run": e.run, "action": e.action, "kind": e.kind, "object": e.key.id(),
                        "owner": e.key.owner, "title": e.title, "result": e.result, "vendorId": e.vendor_id,
                        "message": e.message, "commit": e.commit,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&items).unwrap_or_default());
        }
        ListFormat::Text if entries.is_empty() => println!("No history yet."),
        ListFormat::Text => {
            for e in &entries {
                let id = e.vendor_id.as_deref().map(|i| format!(" id {i}")).unwrap_or_default();
                let commit = e.commit.as_deref().map(|c| format!(" @{c}")).unwrap_or_default();
                println!(
                    "{}  {:<8} {:<10} {} {} {}{id}  (run {}{commit})",
                    fmt_time(e.at),
                    e.result,
                    e.kind,
                    e.key.owner,
                    e.key.vendor,
                    e.title,
                    e.run
                );
                if let Some(m) = &e.message {
                    println!("      {m}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// force-unlock

#[derive(Debug, Args)]
pub struct ForceUnlockArgs {
    /// The lock id, as printed by the run that waits for it.
    pub id: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn force_unlock(args: ForceUnlockArgs) -> CliResult {
    let store = store(&args.store)?;
    match store.force_unlock(&args.id).map_err(CliError::from)? {
        Some(info) => {
            println!("Removed the state lock held by {info}.");
            println!("If that run is still going, it stops starting new actions at its next check.");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let current = store.lock().map_err(CliError::from)?;
            Err(match current {
                Some(l) => CliError::new(format!("the state lock is {}, not {}", l.id, args.id))
                    .hint(format!("it is held by {l}; pass that id if you mean it")),
                None => CliError::new(format!("there is no lock {}; the state is not locked", args.id)),
            })
        }
    }
}
