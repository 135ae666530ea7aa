//! Commands on the state store: `tasks`, `history`, `force-unlock`, `state`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};
use jiff::Timestamp;

use super::select::{OwnerFilter, SelectArgs};
use super::{CliError, CliResult, Output, Reset, paint};
use crate::core::ObjectKey;
use crate::plan::fmt_time;
use crate::state::{Binding, StateStore, TaskRecord, TaskStatus};

/// Which state store: the manifest directory's (from tenantry.yaml), the sandbox's, or a URL.
/// The manifest directory itself is each command's `[DIR]` argument; `-d/--dir` is kept as an
/// alias of it, so scripts written before DIR was positional keep working.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The same as the DIR argument (kept for scripts that pass it this way).
    #[arg(long = "dir", short = 'd', value_name = "DIR", global = true)]
    pub dir_flag: Option<PathBuf>,
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

/// The manifest directory from the DIR argument or its `-d/--dir` alias (`.` when neither).
pub fn manifest_dir(positional: Option<&Path>, flag: Option<&Path>) -> Result<PathBuf, CliError> {
    match (positional, flag) {
        (Some(p), Some(f)) if p != f => Err(CliError::new(format!(
            "the manifest directory is given twice: {} and --dir {}",
            p.display(),
            f.display()
        ))
        .hint("pass it once, as the DIR argument")),
        (Some(p), _) | (None, Some(p)) => Ok(p.to_path_buf()),
        (None, None) => Ok(PathBuf::from(".")),
    }
}

/// Open the store `args` names for the manifest directory `dir`. Manifest problems do not
/// matter here; only `state.url` does.
pub fn store(args: &StoreArgs, dir: &Path) -> Result<Arc<dyn StateStore>, CliError> {
    if !dir.is_dir() {
        return Err(CliError::new(format!("{} is not a directory", dir.display()))
            .hint("pass the manifest directory as the DIR argument, e.g. `tenantry tasks manifests/`"));
    }
    let url = match (&args.state, args.sandbox) {
        (Some(u), _) => u.clone(),
        (None, true) => SANDBOX_URL.into(),
        (None, false) => config_state_url(dir).unwrap_or_else(|| crate::state::DEFAULT_URL.into()),
    };
    if let Some(path) = url.strip_prefix("sqlite:") {
        let full = dir.join(path);
        if !full.exists() {
            let sandbox_state = SANDBOX_URL.strip_prefix("sqlite:").map(|p| dir.join(p)).filter(|p| p.exists());
            let hint = match sandbox_state {
                Some(p) if !args.sandbox && args.state.is_none() => format!(
                    "there is a sandbox state at {} (from `tenantry apply --sandbox`): add --sandbox to use it",
                    p.display()
                ),
                _ if args.sandbox => {
                    format!("it is created by the first `tenantry apply --sandbox {}`", dir.display())
                }
                _ => "it is created by the first `tenantry apply` (or `tenantry apply --sandbox` for the sandbox's)"
                    .into(),
            };
            return Err(CliError::new(format!("there is no state at {} yet", full.display())).hint(hint));
        }
    }
    super::workspace::open_store(&url, dir)
}

/// Where `--sandbox` keeps tenantry's own state, relative to the manifest directory.
const SANDBOX_URL: &str = "sqlite:.tenantry/sandbox/state.db";

/// "No limit" for a store query.
const ALL: usize = i64::MAX as usize;

/// The manifests of `dir`, for a label selector (labels live only there).
fn manifests_for_labels(dir: &Path) -> Result<crate::model::DesiredState, CliError> {
    let loaded = super::validate::load(dir)?;
    match loaded.desired {
        Some(d) if !loaded.has_errors() => Ok(d),
        _ => Err(CliError::new(format!(
            "a label selector (-l) reads the labels from the manifests, and {} has {} error(s) in them",
            dir.display(),
            loaded.error_count()
        ))
        .hint(format!("`tenantry validate {}` lists them", dir.display()))),
    }
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
    /// Manifest directory whose state to use (its tenantry.yaml names the state store).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// List every task, not only the open ones.
    #[arg(long, global = true)]
    pub all: bool,
    /// Output format: text or json.
    #[arg(long, value_enum, default_value_t = ListFormat::Text, global = true)]
    pub format: ListFormat,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// List open portal tasks (the default).
    List {
        /// Manifest directory whose state to use.
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        #[command(flatten)]
        select: SelectArgs,
    },
    /// Everything needed to do one task: the portal page and each value to enter.
    Show {
        /// Task id, e.g. T-3.
        id: String,
        /// Manifest directory whose state to use.
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Record that a task was done in the portal (an attestation, with who and when).
    Done {
        /// Task id, e.g. T-3.
        id: String,
        /// Manifest directory whose state to use.
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        /// A note for the record (ticket number, who did it).
        #[arg(long)]
        note: Option<String>,
    },
}

pub fn tasks(args: TasksArgs, output: Output) -> CliResult {
    let command = args.command.unwrap_or(TasksCommand::List { dir: None, select: SelectArgs::default() });
    let sub_dir = match &command {
        TasksCommand::List { dir, .. } | TasksCommand::Show { dir, .. } | TasksCommand::Done { dir, .. } => {
            dir.as_deref()
        }
    };
    let positional = match (args.dir.as_deref(), sub_dir) {
        (Some(a), Some(b)) if a != b => {
            return Err(CliError::new(format!(
                "the manifest directory is given twice: {} and {}",
                a.display(),
                b.display()
            ))
            .hint("pass it once, after the task id: `tenantry tasks show T-3 DIR`"));
        }
        (a, b) => a.or(b),
    };
    let dir = manifest_dir(positional, args.store.dir_flag.as_deref())?;
    let store = store(&args.store, &dir)?;
    match command {
        TasksCommand::List { select, .. } => {
            let select = args.select.merged(select);
            let filter = OwnerFilter::new(&select, || manifests_for_labels(&dir))?;
            let mut list = store.tasks().map_err(CliError::from)?;
            list.retain(|t| (args.all || t.is_open()) && filter.matches(&t.key.owner));
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
                    let rows = list.iter().map(|t| {
                        let delivered = t.delivered.as_deref().unwrap_or("not delivered yet");
                        vec![
                            t.id.clone(),
                            status_word(&t.status).to_string(),
                            t.key.owner.to_string(),
                            t.key.vendor.to_string(),
                            format!("{} ({}, {delivered})", t.title, age(t.created_at, now)),
                        ]
                    });
                    print!("{}", columns(&["ID", "STATUS", "OWNER", "VENDOR", "TASK"], rows, output));
                    if list.iter().any(|t| t.is_open()) {
                        println!(
                            "\n`tenantry tasks show ID` has the values to enter; `tenantry tasks done ID` records it done."
                        );
                    }
                }
            }
        }
        TasksCommand::Show { id, .. } => {
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
        TasksCommand::Done { id, note, .. } => {
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
        // A person's word, not what the vendor shows: visibly not "verified".
        TaskStatus::Done { .. } => "attested",
        TaskStatus::Verified { .. } => "verified",
        TaskStatus::Superseded { .. } => "superseded",
    }
}

pub(crate) fn age(then: Timestamp, now: Timestamp) -> String {
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
    let (bold, reset) = (paint(output.stdout_color, anstyle::Style::new().bold()), Reset(output.stdout_color));
    let mut s = String::new();
    s.push_str(&format!("{bold}{}{reset}  {}\n", t.id, t.title));
    s.push_str(&format!("  status:    {}\n", status_word(&t.status)));
    match &t.status {
        TaskStatus::Done { at, note, by } => {
            s.push_str(&format!("  attested:  {}", fmt_time(*at)));
            if let Some(b) = by {
                s.push_str(&format!(" by {b}"));
            }
            if let Some(n) = note {
                s.push_str(&format!(" ({n})"));
            }
            s.push_str(&format!("; a person's word, not verified at {}", t.vendor));
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
    if let Some(note) = &t.note {
        s.push_str(&format!("  note:      {note}\n"));
    }
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
    /// Manifest directory whose state to use (its tenantry.yaml names the state store).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub select: SelectArgs,
    /// How many entries, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Output format: text or json.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn history(args: HistoryArgs, output: Output) -> CliResult {
    let dir = manifest_dir(args.dir.as_deref(), args.store.dir_flag.as_deref())?;
    let store = store(&args.store, &dir)?;
    let filter = OwnerFilter::new(&args.select, || manifests_for_labels(&dir))?;
    let entries = if filter.selects_all() {
        store.history(None, args.limit).map_err(CliError::from)?
    } else {
        // Every entry, then the selected ones: a selection may name several owners, or labels.
        let mut all = store.history(None, ALL).map_err(CliError::from)?;
        all.retain(|e| filter.matches(&e.key.owner));
        all.truncate(args.limit);
        all
    };
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
            let rows = entries.iter().map(|e| {
                let id = e.vendor_id.as_deref().map(|i| format!(" id {i}")).unwrap_or_default();
                let commit = e.commit.as_deref().map(|c| format!(" @{c}")).unwrap_or_default();
                // The vendor's message, if any, on the action's second line.
                let message = e.message.as_deref().map(|m| format!("\n{m}")).unwrap_or_default();
                vec![
                    fmt_time(e.at),
                    e.result.to_string(),
                    e.kind.to_string(),
                    e.key.owner.to_string(),
                    e.key.vendor.to_string(),
                    format!("{}{commit}", e.run),
                    format!("{}{id}{message}", e.title),
                ]
            });
            print!("{}", columns(&["AT", "RESULT", "KIND", "OWNER", "VENDOR", "RUN", "ACTION"], rows, output));
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
    /// Manifest directory whose state to use (its tenantry.yaml names the state store).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn force_unlock(args: ForceUnlockArgs) -> CliResult {
    let dir = manifest_dir(args.dir.as_deref(), args.store.dir_flag.as_deref())?;
    let store = store(&args.store, &dir)?;
    match store.force_unlock(&args.id).map_err(CliError::from)? {
        Some(info) => {
            println!("Removed the state lock held by {info}.");
            println!("If that run is still going, its next write to the state fails and it starts no new action.");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let current = store.locks().map_err(CliError::from)?;
            Err(match current.as_slice() {
                [] => CliError::new(format!("there is no lock {}; the state is not locked", args.id)),
                held => {
                    let ids: Vec<&str> = held.iter().map(|l| l.id.as_str()).collect();
                    let holders: Vec<String> = held.iter().map(ToString::to_string).collect();
                    CliError::new(format!("there is no lock {}; the locks held are {}", args.id, ids.join(", ")))
                        .hint(format!("held by {}; pass one of those ids if you mean it", holders.join("; ")))
                }
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// state list | show | forget

#[derive(Debug, Args)]
pub struct StateArgs {
    #[command(subcommand)]
    pub command: StateCommand,
    /// Output format: text or json.
    #[arg(long, value_enum, default_value_t = ListFormat::Text, global = true)]
    pub format: ListFormat,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Every binding: object key, vendor id, bound since, last updated.
    #[command(
        after_help = "Examples:\n  tenantry state list manifests/\n  tenantry state list --sandbox manifests/ --target acme\n  tenantry state list manifests/ --format json | jq -r '.[].key'"
    )]
    List {
        /// Manifest directory whose state to use (its tenantry.yaml names the state store).
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        #[command(flatten)]
        select: SelectArgs,
    },
    /// One binding, with what was applied that the vendor does not report back (secrets appear
    /// only as references: a binding never holds a secret value).
    #[command(
        after_help = "Examples:\n  tenantry state show customer/acme/acronis/tenant manifests/\n  tenantry state show customer/acme/datto/client --sandbox manifests/ --format json"
    )]
    Show {
        /// Object key, as `state list` prints it: `customer/acme/acronis/tenant`.
        key: String,
        /// Manifest directory whose state to use.
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Who holds state locks: each run's lock id, user, host, pid, command, what it holds
    /// (owners, or everything), since when and until when (a live run keeps extending it).
    #[command(
        visible_alias = "locks",
        after_help = "Examples:\n  tenantry state lock manifests/\n  tenantry state lock --sandbox manifests/ --format json"
    )]
    Lock {
        /// Manifest directory whose state to use.
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Drop one binding, under the state lock. The vendor object is left alone; the next plan
    /// looks it up by its natural key again (and adopts it where it is recognisably tenantry's).
    /// Asks for confirmation on a terminal; elsewhere needs --yes.
    #[command(
        after_help = "Examples:\n  tenantry state forget customer/acme/acronis/tenant manifests/\n  tenantry state forget customer/acme/acronis/tenant --sandbox manifests/ --yes"
    )]
    Forget {
        /// Object key, as `state list` prints it: `customer/acme/acronis/tenant`.
        key: String,
        /// Manifest directory whose state to use.
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Do not ask for confirmation (needed when stdin is not a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
        /// How long to wait for the state lock when a run holds one (e.g. 30s, 5m).
        #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = super::duration)]
        lock_timeout: std::time::Duration,
    },
}

pub async fn state(args: StateArgs, output: Output) -> CliResult {
    let positional = match &args.command {
        StateCommand::List { dir, .. }
        | StateCommand::Show { dir, .. }
        | StateCommand::Lock { dir }
        | StateCommand::Forget { dir, .. } => dir.as_deref(),
    };
    let dir = manifest_dir(positional, args.store.dir_flag.as_deref())?;
    let store = store(&args.store, &dir)?;
    match args.command {
        StateCommand::List { select, .. } => {
            let filter = OwnerFilter::new(&select, || manifests_for_labels(&dir))?;
            let snapshot = store.snapshot().map_err(CliError::from)?;
            let list: Vec<&Binding> = snapshot.bindings.values().filter(|b| filter.matches(&b.key.owner)).collect();
            match args.format {
                ListFormat::Json => {
                    let items: Vec<serde_json::Value> = list.iter().map(|b| binding_json(b, false)).collect();
                    println!("{}", serde_json::to_string_pretty(&items).unwrap_or_default());
                }
                ListFormat::Text if list.is_empty() => println!("No bindings."),
                ListFormat::Text => print!("{}", bindings_table(&list, output)),
            }
        }
        StateCommand::Show { key, .. } => {
            let key = parse_key(&key)?;
            let b = store.binding(&key).map_err(CliError::from)?.ok_or_else(|| no_binding(&key))?;
            match args.format {
                ListFormat::Json => {
                    println!("{}", serde_json::to_string_pretty(&binding_json(&b, true)).unwrap_or_default())
                }
                ListFormat::Text => print!("{}", binding_text(&b, output)),
            }
        }
        StateCommand::Lock { .. } => {
            let locks = store.locks().map_err(CliError::from)?;
            match args.format {
                ListFormat::Json => {
                    println!("{}", serde_json::to_string_pretty(&locks).unwrap_or_default())
                }
                ListFormat::Text if locks.is_empty() => println!("The state is not locked."),
                ListFormat::Text => {
                    let rows = locks.iter().map(|l| {
                        vec![
                            l.id.clone(),
                            format!("{} on {} (pid {})", l.owner, l.host, l.pid),
                            l.scope.to_string(),
                            fmt_time(l.started_at),
                            fmt_time(l.expires_at),
                            l.command.clone(),
                        ]
                    });
                    print!("{}", columns(&["ID", "HELD BY", "HOLDS", "SINCE", "EXPIRES", "COMMAND"], rows, output));
                    println!("\n`tenantry force-unlock ID` removes one whose run is gone.");
                }
            }
        }
        StateCommand::Forget { key, yes, lock_timeout, .. } => {
            let key = parse_key(&key)?;
            let b = store.binding(&key).map_err(CliError::from)?.ok_or_else(|| no_binding(&key))?;
            confirm_forget(&b, yes)?;
            // A lock on everything, as an apply of everything takes: no run is between writing
            // and reading this binding.
            let lock =
                super::workspace::lock(store.clone(), crate::state::LockScope::All, lock_timeout, output).await?;
            // Read again under the lock: a run may have changed it while we asked.
            let current = store.binding(&key).map_err(CliError::from)?.ok_or_else(|| no_binding(&key))?;
            lock.store().remove_binding(&key).map_err(CliError::from)?;
            drop(lock);
            println!("Forgot {} (vendor id {}).", key.id(), current.vendor_id);
            println!("The object is still at {}; the next plan looks it up by its natural key again.", key.vendor);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn confirm_forget(b: &Binding, yes: bool) -> Result<(), CliError> {
    use std::io::{BufRead, IsTerminal, Write};
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::new(format!(
            "state forget needs confirmation, and stdin is not a terminal; {} was not forgotten",
            b.key.id()
        ))
        .hint("run again with --yes to forget it without asking"));
    }
    let mut stderr = std::io::stderr();
    let _ = write!(
        stderr,
        "Forget the binding of {} to {} id {}? The vendor object stays. Only 'yes' is accepted: ",
        b.key.owner, b.key.vendor, b.vendor_id
    );
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::new(format!("cannot read the answer: {e}")))?;
    if answer.trim() != "yes" {
        return Err(CliError::new(format!("cancelled; {} was not forgotten", b.key.id())));
    }
    Ok(())
}

fn parse_key(text: &str) -> Result<ObjectKey, CliError> {
    ObjectKey::parse(text).ok_or_else(|| {
        CliError::new(format!("`{text}` is not an object key"))
            .hint("keys look like customer/acme/acronis/tenant; `tenantry state list` prints them")
    })
}

fn no_binding(key: &ObjectKey) -> CliError {
    CliError::new(format!("there is no binding {}", key.id())).hint("`tenantry state list` lists them")
}

fn binding_json(b: &Binding, applied: bool) -> serde_json::Value {
    let mut j = serde_json::json!({
        "key": b.key.id(), "owner": b.key.owner.to_string(), "vendor": b.key.vendor.to_string(),
        "kind": b.key.kind, "vendorId": b.vendor_id, "boundSince": b.created_at, "updatedAt": b.updated_at,
    });
    if applied {
        j["applied"] = serde_json::to_value(&b.applied).unwrap_or_default();
    }
    j
}

fn bindings_table(list: &[&Binding], output: Output) -> String {
    let rows =
        list.iter().map(|b| vec![b.key.id(), b.vendor_id.clone(), fmt_time(b.created_at), fmt_time(b.updated_at)]);
    let mut s = columns(&["KEY", "VENDOR ID", "BOUND SINCE", "UPDATED"], rows, output);
    s.push_str(&format!("\n{} binding(s). `tenantry state show KEY` shows one.\n", list.len()));
    s
}

/// Rows as aligned columns (comfy-table: no borders, two spaces between columns, no trailing
/// blanks), under a header line in bold when colour is on. A cell may hold several lines.
pub(crate) fn columns(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>, output: Output) -> String {
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::NOTHING).set_header(header.to_vec()).add_rows(rows);
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    let (bold, reset) = (paint(output.stdout_color, anstyle::Style::new().bold()), Reset(output.stdout_color));
    let mut out = String::new();
    for (i, line) in table.lines().enumerate() {
        let line = line.trim_end();
        if i == 0 {
            out.push_str(&format!("{bold}{line}{reset}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn binding_text(b: &Binding, output: Output) -> String {
    let (bold, reset) = (paint(output.stdout_color, anstyle::Style::new().bold()), Reset(output.stdout_color));
    let mut s = format!("{bold}{}{reset}\n", b.key.id());
    s.push_str(&format!("  object:      {} {} of {}\n", b.key.vendor, b.key.kind, b.key.owner));
    s.push_str(&format!("  vendor id:   {}\n", b.vendor_id));
    s.push_str(&format!("  bound since: {}\n", fmt_time(b.created_at)));
    s.push_str(&format!("  updated:     {}\n", fmt_time(b.updated_at)));
    if b.applied.is_empty() {
        s.push_str("  applied:     nothing the vendor does not report back\n");
    } else {
        s.push_str("  applied (what the vendor does not report back):\n");
        let width = b.applied.keys().map(String::len).max().unwrap_or(0);
        for (k, v) in &b.applied {
            s.push_str(&format!("    {k:<width$}  {}\n", shown_value(v)));
        }
    }
    s
}

/// A value for people: strings bare, secret references as the reference.
fn shown_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Object(o) if o.contains_key("secretRef") => {
            format!("(the secret in {})", o["secretRef"].as_str().unwrap_or("?"))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_under_a_header_with_no_trailing_blanks_and_cells_of_several_lines() {
        let plain = Output {
            stdout_color: false,
            stderr_color: false,
            stdout_terminal: false,
            stderr_terminal: false,
            quiet: false,
        };
        let rows = vec![
            vec!["T-1".to_string(), "Customer/acme".to_string(), "first\nsecond".to_string()],
            vec!["T-10".to_string(), "Customer/x".to_string(), "third".to_string()],
        ];
        let text = columns(&["ID", "OWNER", "TASK"], rows, plain);
        let want = "\
ID    OWNER          TASK
T-1   Customer/acme  first
                     second
T-10  Customer/x     third
";
        assert_eq!(text, want);
        let bold = Output { stdout_color: true, ..plain };
        let text = columns(&["ID"], vec![vec!["T-1".to_string()]], bold);
        assert_eq!(text, format!("{}ID{}\nT-1\n", anstyle::Style::new().bold(), anstyle::Reset.render()));
    }
}
