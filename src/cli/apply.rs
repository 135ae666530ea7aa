//! `tenantry apply`: make the vendors match the manifests (or carry out a saved plan), under the
//! state lock, with a confirmation, progress, and a per-customer summary.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::duration;
use super::plan::make;
use super::workspace::{self, ConnectArgs, TargetArgs, Workspace};
use super::{CliError, CliResult, Output};
use crate::apply::{self as exec_mod, ActionResult, Executor, Outcomed, Progress, RunReport};
use crate::controller::{Converge, Stopped};
use crate::model::ManifestRef;
use crate::plan::{Action, ActionKind, Plan, json, render};
use crate::provider::Party;
use crate::state::LockScope;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Manifest directory, or a plan file saved by `tenantry plan --out FILE`.
    #[arg(default_value = ".", value_name = "DIR|PLANFILE")]
    pub path: PathBuf,
    /// With a plan file: the manifest directory to check it against (default: the directory the
    /// plan was made from).
    #[arg(long, value_name = "DIR")]
    pub manifests: Option<PathBuf>,
    /// Do not ask for confirmation (needed when stdin is not a terminal, e.g. in CI).
    #[arg(long)]
    pub auto_approve: bool,
    /// Allow one-way changes (e.g. AvePoint management mode partner -> customer).
    #[arg(long)]
    pub allow_irreversible: bool,
    /// How many actions run at once per vendor (default: each connection's concurrency).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub parallelism: Option<u32>,
    /// How long to wait when another run holds a state lock on what this one selects (the same
    /// customers or resellers, or everything), e.g. 30s, 5m.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration)]
    pub lock_timeout: Duration,
    /// How long to keep following what this run started (verifications, authorizations,
    /// activations) before reporting it as pending; the next run or `serve` picks it up.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration)]
    pub wait: Duration,
    /// In the sandbox: only record portal tasks (as with real vendors) instead of handing them to
    /// the simulated operator.
    #[arg(long)]
    pub no_operator: bool,
    #[command(flatten)]
    pub targets: TargetArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub async fn apply(args: ApplyArgs, output: Output) -> CliResult {
    if args.path.is_file() {
        return apply_saved(args, output).await;
    }
    let dir = args.path.clone();
    let (mut desired, sources) = workspace::load_manifests(&dir, output.stderr_terminal, output.stderr_color)?;
    let names = render::names(&desired);
    let selected = super::select::resolve(&desired, &args.targets.select)?;
    let scope = super::select::lock_scope(&desired, &selected);
    super::select::narrow(&mut desired, &selected);
    let ws = Workspace::open(&dir, desired, sources, &args.connect, !args.no_operator).await?;
    let result = run_dir(&args, &ws, &selected, scope, &names, output).await;
    ws.close().await;
    result
}

async fn run_dir(
    args: &ApplyArgs,
    ws: &Workspace,
    selected: &super::select::Resolved,
    scope: LockScope,
    names: &render::Names,
    output: Output,
) -> CliResult {
    let (_lock, exec) = start(args, ws, scope, output).await?;
    for m in exec.redeliver().await {
        output.note(m);
    }
    let first = make(ws, &args.targets, selected, &ws.dir, names).await?;
    print!("{}", render::text(&first, names, render::Style::new(output.stdout_color)));
    if !first.unavailable.is_empty() {
        return Err(CliError::new("some vendors could not be observed; nothing was applied")
            .hint("the reasons are printed above; fix them and run apply again"));
    }
    if let Err(why) = exec_mod::check_guards(&first, args.allow_irreversible) {
        return Err(CliError::new(why).hint("review them, then run again with --allow-irreversible"));
    }
    if first.has_changes() {
        confirm(&first, args.auto_approve)?;
    }
    let options = first.options.clone();
    let input = Converge {
        desired: &ws.desired,
        sources: &ws.sources,
        options,
        allow_irreversible: args.allow_irreversible,
        wait: args.wait,
        max_rounds: 25,
        first: Some(first),
        follow: follow(ws, args),
        skew: ws.skew,
        adjust: None,
    };
    // The same core as each `serve` pass: it also records the owners reconciled in full, which
    // a later `serve` compares against to tell drift from a manifest change.
    let owners = super::watch::owners(&ws.desired).into_iter().collect();
    let done = crate::controller::reconcile(&exec, &input, &owners).await;
    let (rounds, stopped) = (done.rounds, lock_lost(&exec).unwrap_or(done.stopped));
    let reports: Vec<&RunReport> = rounds.iter().map(|r| &r.report).collect();
    let last = rounds.last().map(|r| &r.plan);
    finish(&reports, last, &stopped, names, output)
}

/// Whose work apply waits for: the vendors' own processing; in the sandbox also the simulated
/// customers, and the simulated operator when it gets the portal tasks.
fn follow(ws: &Workspace, args: &ApplyArgs) -> std::collections::BTreeSet<Party> {
    let mut follow = std::collections::BTreeSet::from([Party::Vendor]);
    if ws.sandbox_admin.is_some() {
        follow.insert(Party::Customer);
        if !args.no_operator {
            follow.insert(Party::Operator);
        }
    }
    follow
}

/// Why the run stopped when its lock was removed or taken over while it ran (its writes were
/// refused from then on, and no action started after the first refusal).
fn lock_lost(exec: &Executor) -> Option<Stopped> {
    match exec.store.check_fence() {
        Err(e) if e.is_lock_lost() => Some(Stopped::Refused(format!(
            "{e}: someone ran `tenantry force-unlock`, or took the lock over as a dead run's; `tenantry state lock` shows who holds what"
        ))),
        _ => None,
    }
}

/// Take the lock on `scope`, and build the executor (writing through the lock's fenced store)
/// with its progress display and stop switches.
async fn start(
    args: &ApplyArgs,
    ws: &Workspace,
    scope: LockScope,
    output: Output,
) -> Result<(crate::state::lock::LockGuard, Arc<Executor>), CliError> {
    let lock = workspace::lock(ws.store.clone(), scope, args.lock_timeout, output).await?;
    let mut exec = Executor::new(ws.vendors.clone(), lock.store(), ws.secrets.clone());
    exec.limits = ws.limits.clone();
    exec.parallelism = args.parallelism;
    exec.delivery = ws.delivery.clone();
    exec.commit = git_commit(&ws.dir);
    exec.progress = Arc::new(Display::new(output.quiet));
    exec.skew = ws.skew;
    let stop = exec.stop.clone();
    // Someone force-unlocked us: stop starting actions (the fence already refuses our writes,
    // and the executor stops at the first refusal; this catches a run that writes nothing).
    let lost = lock.lost_flag();
    let stop_on_loss = stop.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if lost.load(Ordering::SeqCst) {
                stop_on_loss.store(true, Ordering::SeqCst);
                return;
            }
        }
    });
    // First Ctrl-C: finish what is in flight, start nothing new. Second: leave at once (intents
    // make that safe: the next run looks before it creates).
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\nInterrupted: finishing the actions in flight, starting no new ones (Ctrl-C again to stop now; the next run picks up safely)."
            );
            stop.store(true, Ordering::SeqCst);
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("Stopped.");
                std::process::exit(130);
            }
        }
    });
    Ok((lock, Arc::new(exec)))
}

/// Ask for "yes" on a terminal; refuse without one unless --auto-approve.
fn confirm(plan: &Plan, auto_approve: bool) -> Result<(), CliError> {
    if auto_approve {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::new("apply needs confirmation, and stdin is not a terminal; nothing was applied")
            .hint("review the plan above, then run again with --auto-approve (as CI jobs do)"));
    }
    let deletes = plan.actions.iter().filter(|a| a.kind == ActionKind::Delete && a.is_executable()).count();
    let irreversible = plan.actions.iter().filter(|a| a.irreversible && a.is_executable()).count();
    let mut stderr = std::io::stderr();
    if deletes > 0 {
        let _ = writeln!(stderr, "This plan DELETES {deletes} vendor object(s).");
    }
    if irreversible > 0 {
        let _ = writeln!(stderr, "This plan makes {irreversible} change(s) that cannot be undone.");
    }
    let _ = write!(stderr, "Apply these changes? Only 'yes' is accepted: ");
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::new(format!("cannot read the answer: {e}")))?;
    if answer.trim() != "yes" {
        return Err(CliError::new("apply cancelled; nothing was applied"));
    }
    Ok(())
}

/// `tenantry apply PLANFILE`: exactly the saved plan, refused when anything it relied on changed.
async fn apply_saved(args: ApplyArgs, output: Output) -> CliResult {
    let text = std::fs::read_to_string(&args.path)
        .map_err(|e| CliError::new(format!("cannot read {}: {e}", args.path.display())))?;
    let plan = json::parse(&text).map_err(|e| CliError::new(format!("{}: {e}", args.path.display())))?;
    let dir = match (&args.manifests, &plan.manifests_dir) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => PathBuf::from(d),
        (None, None) => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(CliError::new(format!("the plan was made from {}, which is not a directory here", dir.display()))
            .hint("pass the manifest directory with --manifests DIR"));
    }
    let mut connect = args.connect.clone();
    match (plan.options.sandbox, connect.sandboxed()) {
        (true, false) => connect.sandbox = true,
        (false, true) => {
            return Err(CliError::new(
                "the plan was made against the real vendors; it cannot be applied to the sandbox",
            ));
        }
        _ => {}
    }
    let (mut desired, sources) = workspace::load_manifests(&dir, output.stderr_terminal, output.stderr_color)?;
    let names = render::names(&desired);
    let select = super::select::SelectArgs {
        targets: plan.options.targets.clone(),
        excludes: plan.options.excludes.clone(),
        labels: Vec::new(),
    };
    let selected = super::select::resolve(&desired, &select)?;
    let scope = super::select::lock_scope(&desired, &selected);
    super::select::narrow(&mut desired, &selected);
    let ws = Workspace::open(&dir, desired, sources, &connect, !args.no_operator).await?;
    let result = run_saved(&args, &ws, plan, scope, &names, output).await;
    ws.close().await;
    result
}

async fn run_saved(
    args: &ApplyArgs,
    ws: &Workspace,
    plan: Plan,
    scope: LockScope,
    names: &render::Names,
    output: Output,
) -> CliResult {
    let (_lock, exec) = start(args, ws, scope, output).await?;
    let id = plan.content_id();
    if !plan.id.is_empty() && plan.id != id {
        return Err(CliError::new(format!(
            "{} was changed after it was made (its id {} does not match its content); nothing was applied",
            args.path.display(),
            plan.id
        ))
        .hint("make a new plan (`tenantry plan --out FILE`), review it, and apply that"));
    }
    if let Some(earlier) = exec.store.plan_applied(&id).map_err(CliError::from)? {
        return Err(already_applied(&earlier));
    }
    let stale = staleness(ws, &plan).await?;
    if !stale.is_empty() {
        return Err(CliError::new(format!("the saved plan is stale; nothing was applied:\n  {}", stale.join("\n  ")))
            .hint("make a new plan (`tenantry plan --out FILE`), review it, and apply that"));
    }
    if let Err(why) = exec_mod::check_guards(&plan, args.allow_irreversible) {
        return Err(CliError::new(why).hint("make the plan again and apply with --allow-irreversible"));
    }
    let record = crate::state::AppliedPlan { id, applied_at: jiff::Timestamp::now(), run: exec.run_id.clone() };
    if let Some(earlier) = exec.store.record_plan_applied(&record).map_err(CliError::from)? {
        return Err(already_applied(&earlier));
    }
    exec_mod::close_verified(&*exec.store, &plan);
    let plan = Arc::new(plan);
    exec.progress.round(1, &plan);
    let report = exec.run(plan.clone()).await;
    let stopped = if let Some(lost) = lock_lost(&exec) {
        lost
    } else if exec.stop.load(Ordering::SeqCst) {
        Stopped::Interrupted
    } else if report.failed() > 0 {
        Stopped::Failed
    } else {
        Stopped::Converged
    };
    let after = after_saved(&plan, &report, &*exec.store);
    finish(&[&report], Some(&after), &stopped, names, output)
}

fn already_applied(earlier: &crate::state::AppliedPlan) -> CliError {
    CliError::new(format!(
        "plan {} was applied at {} (run {}); nothing was applied",
        earlier.id,
        crate::plan::fmt_time(earlier.applied_at),
        earlier.run
    ))
    .hint("a saved plan is applied once; make a new plan (`tenantry plan --out FILE`) for what is left")
}

/// What changed since the plan was made: manifest files, and the observed objects it relied on
/// for what its actions touch or depend on (a change elsewhere does not make it stale).
async fn staleness(ws: &Workspace, plan: &Plan) -> Result<Vec<String>, CliError> {
    let mut stale = Vec::new();
    let now = crate::engine::manifest_files(&ws.sources);
    let then = &plan.fingerprints.files;
    for (path, hash) in &now {
        match then.get(path) {
            None => stale.push(format!("manifest {path} is new since the plan")),
            Some(h) if h != hash => stale.push(format!("manifest {path} changed since the plan")),
            _ => {}
        }
    }
    for path in then.keys().filter(|p| !now.contains_key(*p)) {
        stale.push(format!("manifest {path} was removed since the plan"));
    }
    if then.is_empty() && crate::engine::manifests_fingerprint(&now) != plan.fingerprints.manifests {
        stale.push("the manifests changed since the plan".into());
    }
    let state = ws.store.snapshot().map_err(CliError::from)?;
    let models = crate::provider::models();
    let desired = crate::engine::desire(&ws.desired, &models);
    // What the plan touches is read in full, as `plan --out` read it: a verification sample's
    // pick never makes a saved plan stale.
    let touched_keys = crate::engine::touched_keys(plan, &desired);
    let observed = crate::engine::observe_verifying(&ws.vendors, &desired, &state, &touched_keys).await;
    for (vendor, why) in &observed.unavailable {
        stale.push(format!("{vendor} cannot be observed to check the plan: {why}"));
    }
    for (key, why) in observed.unreadable.iter().filter(|(k, _)| touched_keys.contains(*k)) {
        stale.push(format!("{} cannot be read to check the plan: {why}", key.id()));
    }
    let by_handle: BTreeMap<String, &crate::provider::ObservedObject> =
        observed.objects.iter().map(|o| (o.handle(), o)).collect();
    let touched: std::collections::BTreeSet<String> = touched_keys.iter().map(|k| k.id()).collect();
    for (handle, fingerprint) in &plan.fingerprints.observed {
        if plan.fingerprints.used_by.get(handle).is_some_and(|users| users.is_disjoint(&touched)) {
            continue;
        }
        let vendor_ok = handle.split(':').next().and_then(crate::model::Vendor::parse);
        if vendor_ok.is_some_and(|v| observed.unavailable.contains_key(&v)) {
            continue;
        }
        match by_handle.get(handle) {
            None => stale.push(format!("{} no longer exists", describe_handle(handle, None))),
            Some(o) if &o.fingerprint() != fingerprint => {
                stale.push(format!("{} changed since the plan", describe_handle(handle, Some(o))))
            }
            _ => {}
        }
    }
    Ok(stale)
}

fn describe_handle(handle: &str, o: Option<&crate::provider::ObservedObject>) -> String {
    let mut parts = handle.splitn(3, ':');
    let (vendor, kind, id) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    match o {
        Some(o) if !o.natural_key.is_empty() => {
            let nk: Vec<String> = o.natural_key.iter().map(|(k, v)| format!("{k} \"{v}\"")).collect();
            format!("{vendor} {kind} {} (id {id})", nk.join(", "))
        }
        _ => format!("{vendor} {kind} {id}"),
    }
}

/// The per-customer summary and the exit status.
fn finish(
    reports: &[&RunReport],
    last: Option<&Plan>,
    stopped: &Stopped,
    names: &render::Names,
    output: Output,
) -> CliResult {
    let on = output.stdout_color;
    let fg = |c: anstyle::AnsiColor| super::paint(on, c.on_default());
    let (red, green, cyan) = (fg(anstyle::AnsiColor::Red), fg(anstyle::AnsiColor::Green), fg(anstyle::AnsiColor::Cyan));
    let (bold, reset) = (super::paint(on, anstyle::Style::new().bold()), super::Reset(on));
    #[derive(Default)]
    struct Owner<'a> {
        done: usize,
        failed: Vec<&'a ActionResult>,
        waiting: Vec<&'a Action>,
        blocked: Vec<&'a Action>,
        /// Objects whose reads failed (nothing was planned for them), by key.
        unread: Vec<(crate::provider::ObjectKey, &'a String)>,
    }
    let mut owners: BTreeMap<ManifestRef, Owner> = BTreeMap::new();
    for r in reports.iter().flat_map(|r| r.results.iter()) {
        let o = owners.entry(r.key.owner.clone()).or_default();
        match r.outcome {
            Outcomed::Done(_) | Outcomed::Pending(_) => o.done += 1,
            Outcomed::Failed { .. } => o.failed.push(r),
            Outcomed::Skipped(_) => {}
        }
    }
    if let Some(plan) = last {
        for a in &plan.actions {
            if a.blocked.as_deref().is_some_and(|b| b.starts_with(crate::controller::FAILED_EARLIER)) {
                continue; // already reported as failed
            }
            if a.is_deferred() {
                // It becomes possible once what it needs completes: it waits, like an await.
                owners.entry(a.key.owner.clone()).or_default().waiting.push(a);
            } else if a.blocked.is_some() || a.kind == ActionKind::Conflict {
                owners.entry(a.key.owner.clone()).or_default().blocked.push(a);
            } else if a.kind == ActionKind::Await {
                owners.entry(a.key.owner.clone()).or_default().waiting.push(a);
            }
        }
        for (id, why) in &plan.unreadable {
            if let Some(key) = crate::provider::ObjectKey::parse(id) {
                owners.entry(key.owner.clone()).or_default().unread.push((key, why));
            }
        }
    }
    let mut totals = (0, 0, 0, 0);
    if !owners.is_empty() {
        println!("\n{bold}Summary{reset}");
    }
    for (owner, o) in &owners {
        totals.0 += o.done;
        totals.1 += o.failed.len() + o.unread.len();
        totals.2 += o.waiting.len();
        totals.3 += o.blocked.len();
        let name = names.get(owner).map(|n| format!(" ({n})")).unwrap_or_default();
        let mut parts = vec![format!("{} done", o.done)];
        if !o.failed.is_empty() || !o.unread.is_empty() {
            parts.push(format!("{red}{} failed{reset}", o.failed.len() + o.unread.len()));
        }
        if !o.waiting.is_empty() {
            parts.push(format!("{cyan}{} waiting{reset}", o.waiting.len()));
        }
        if !o.blocked.is_empty() {
            parts.push(format!("{} blocked", o.blocked.len()));
        }
        println!("  {owner}{name}: {}", parts.join(", "));
        for f in &o.failed {
            if let Outcomed::Failed { message, hint } = &f.outcome {
                println!("    {red}x{reset} {} {}: {message}", f.key.vendor, f.title);
                if let Some(h) = hint {
                    println!("      hint: {h}");
                }
            }
        }
        for (key, why) in &o.unread {
            println!(
                "    {red}x{reset} {} {}: could not be read, so nothing was done for it: {why}",
                key.vendor, key.kind
            );
        }
        for a in &o.waiting {
            println!("    {cyan}?{reset} {} {}: {}", a.key.vendor, a.title, a.blocked.as_deref().unwrap_or(&a.reason));
            if let Some(h) = &a.hint {
                println!("      hint: {h}");
            }
        }
        for a in &o.blocked {
            println!("    ! {} {}: {}", a.key.vendor, a.title, a.blocked.as_deref().unwrap_or(&a.reason));
        }
    }
    let line = format!("{} done, {} failed, {} waiting, {} blocked", totals.0, totals.1, totals.2, totals.3);
    let blocked = totals.3 > 0;
    match stopped {
        Stopped::Converged | Stopped::Waiting if blocked && totals.1 == 0 => println!(
            "\n{red}{bold}Apply incomplete:{reset} {line}. What is blocked (or in conflict) needs a change first: see above."
        ),
        Stopped::Converged | Stopped::Waiting if totals.1 > 0 => {
            println!("\n{red}{bold}Apply finished with failures:{reset} {line}.")
        }
        Stopped::Converged if totals.2 == 0 => println!("\n{green}{bold}Apply complete:{reset} {line}."),
        Stopped::Converged | Stopped::Waiting => println!(
            "\n{bold}Apply complete:{reset} {line}. What is waiting completes at the vendor; the next apply follows it."
        ),
        Stopped::Failed => println!("\n{red}{bold}Apply finished with failures:{reset} {line}."),
        Stopped::Interrupted => {
            println!("\n{red}{bold}Apply interrupted:{reset} {line}. Run it again to continue; nothing is duplicated.")
        }
        Stopped::Refused(why) => {
            println!("\n{red}{bold}Apply stopped:{reset} {line}.");
            return Err(CliError::new(why.clone()));
        }
        Stopped::NotConverging(ids) => {
            println!("\n{red}{bold}Apply stopped:{reset} {line}.");
            return Err(CliError::new(format!(
                "the vendors did not keep what was applied; the same actions were planned again: {}",
                ids.join(", ")
            ))
            .hint("another tool may be changing these objects; check them at the vendor"));
        }
    }
    let waiting = totals.2 > 0 || *stopped == Stopped::Waiting;
    Ok(match stopped {
        Stopped::Converged | Stopped::Waiting if totals.1 == 0 && !blocked => {
            if waiting {
                ExitCode::from(EXIT_WAITING)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => ExitCode::from(1),
    })
}

/// `apply`'s exit status when everything it could do is done and nothing failed, is blocked or
/// in conflict, but something waits for a person or a vendor (an await, an open portal task).
pub const EXIT_WAITING: u8 = 2;

/// What a saved plan leaves to report after it ran: its blocked actions, conflicts and awaits as
/// planned, plus the portal tasks it opened that are still open and the creates the vendor is
/// still completing (as awaits).
fn after_saved(plan: &Plan, report: &RunReport, store: &dyn crate::state::StateStore) -> Plan {
    let open: std::collections::BTreeSet<String> =
        store.tasks().unwrap_or_default().into_iter().filter(|t| t.is_open()).map(|t| t.id).collect();
    let results: BTreeMap<&str, &ActionResult> = report.results.iter().map(|r| (r.action.as_str(), r)).collect();
    let mut after = plan.clone();
    after.actions = plan
        .actions
        .iter()
        .filter_map(|a| {
            if !a.is_executable() {
                return Some(a.clone());
            }
            let r = results.get(a.id.as_str())?;
            let waiting = match (&r.outcome, a.kind) {
                (Outcomed::Pending(m), _) => Some(m.clone()),
                (Outcomed::Done(_), ActionKind::PortalTask) => r
                    .vendor_id
                    .as_ref()
                    .filter(|id| open.contains(*id))
                    .map(|id| format!("waiting for portal task {id}")),
                _ => None,
            }?;
            let mut w = a.clone();
            w.kind = ActionKind::Await;
            w.reason = waiting;
            Some(w)
        })
        .collect();
    after
}

/// The manifests' git commit, for history (none outside a repository).
pub(super) fn git_commit(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

/// Progress on stderr: a bar per round on a terminal, one line per finished action otherwise.
struct Display {
    terminal: bool,
    /// `-q`: show nothing.
    quiet: bool,
    bar: std::sync::Mutex<Option<ProgressBar>>,
    /// The awaits last reported, so each set is printed once.
    waiting: std::sync::Mutex<String>,
}

impl Display {
    fn new(quiet: bool) -> Self {
        Display {
            terminal: std::io::stderr().is_terminal(),
            quiet,
            bar: std::sync::Mutex::new(None),
            waiting: std::sync::Mutex::new(String::new()),
        }
    }

    fn line(&self, text: String) {
        match &*self.bar.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

impl Progress for Display {
    fn round(&self, n: usize, plan: &Plan) {
        if self.quiet {
            return;
        }
        let count = plan.actions.iter().filter(|a| a.is_executable()).count() as u64;
        let what = if n == 1 { "Applying".to_string() } else { format!("Round {n}: what became possible") };
        if self.terminal {
            let bar = ProgressBar::new(count);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(what);
            let mut slot = self.bar.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(old) = slot.take() {
                old.finish_and_clear();
            }
            *slot = Some(bar);
        } else {
            eprintln!("{what} ({count} action{})", if count == 1 { "" } else { "s" });
        }
    }

    fn waiting(&self, awaits: &[&Action], left: Duration) {
        let what: Vec<String> =
            awaits.iter().map(|a| format!("{} {} {}", a.key.owner, a.key.vendor, a.title)).collect();
        let text = what.join(", ");
        if self.quiet {
            return;
        }
        let mut last = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if *last == text {
            return;
        }
        *last = text;
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
        eprintln!(
            "Waiting (up to {} more; Ctrl-C stops safely) for: {}",
            crate::model::format_duration(Duration::from_secs(left.as_secs())),
            what.join("; ")
        );
    }

    fn started(&self, action: &Action) {
        if let Some(bar) = &*self.bar.lock().unwrap_or_else(|p| p.into_inner()) {
            bar.set_message(format!("{} {}", action.kind.word(), action.title));
        }
    }

    fn finished(&self, r: &ActionResult) {
        if self.quiet {
            return;
        }
        self.line(result_line(r));
        if let Some(bar) = &*self.bar.lock().unwrap_or_else(|p| p.into_inner()) {
            bar.inc(1);
        }
    }
}

/// A finished action in one line: `       ok  Customer/acme veeam create company "Acme Corp" (id 7): done`.
pub(super) fn result_line(r: &ActionResult) -> String {
    let (mark, text) = match &r.outcome {
        Outcomed::Done(m) => ("ok", m),
        Outcomed::Pending(m) => ("..", m),
        Outcomed::Failed { message, .. } => ("FAILED", message),
        Outcomed::Skipped(m) => ("skipped", m),
    };
    let id = r.vendor_id.as_deref().map(|i| format!(" (id {i})")).unwrap_or_default();
    format!("  {mark:>7}  {} {} {} {}{id}: {text}", r.key.owner, r.key.vendor, r.kind.word(), r.title)
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}
