//! `tenantry serve`: the controller. Applies on manifest change, on a resync interval with
//! jitter, and when something waiting is due for another look; reports (or corrects) drift;
//! serves `/healthz`, `/readyz`, `/metrics` and `POST /hooks/reconcile`; stops gracefully on
//! SIGTERM or Ctrl-C.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use clap::Args;
use hmac::{Hmac, Mac};
use notify_debouncer_full::notify::RecursiveMode;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::workspace::{ConnectArgs, Workspace};
use super::{CliError, CliResult, Output};
use crate::apply::{ActionResult, Progress};
use crate::controller::metrics::{self, Metrics};
use crate::controller::notify::{self, Hook, Notifier};
use crate::controller::{self as ctl, DriftPolicy, OwnerReport, Schedule, Timing, schedule::Why};
use crate::model::{DesiredState, ManifestRef, SecretRef};
use crate::provider::Party;
use crate::state::StateStore;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Manifest directory (tenantry.yaml, customers, resellers and profiles).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Where to serve /healthz, /readyz, /metrics and /hooks/reconcile (port 0: any free port,
    /// printed at start).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9470")]
    pub listen: SocketAddr,
    /// What to do with drift (a vendor object changed at the vendor while its manifest did
    /// not): `report` shows it in the log and /metrics and leaves the vendor as it is,
    /// `correct` sets it back to the manifests. A changed manifest is always applied.
    /// A customer's `spec.drift` overrides this; without either, `policies.drift` in
    /// tenantry.yaml, else `report`.
    #[arg(long, value_enum)]
    pub drift: Option<DriftPolicy>,
    /// How often a converged customer is looked at again (spread by 10% either way), e.g. 10m.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = super::duration)]
    pub resync: Duration,
    /// How often a customer is looked at while a vendor completes something on its own (a Pulse
    /// mapping, an operator transaction).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = super::duration)]
    pub poll: Duration,
    /// How often a customer is looked at while a person must act (a consent, an activation, a
    /// portal task).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = super::duration)]
    pub await_interval: Duration,
    /// The first wait after a customer's pass fails; it doubles with each failure in a row, up
    /// to --max-backoff, and a success resets it. The other customers are not held up.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = super::duration)]
    pub backoff: Duration,
    /// The longest wait after failures in a row (the backoff stops doubling there).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = super::duration)]
    pub max_backoff: Duration,
    /// How long the manifests must stay unchanged before a change is applied (an editor's save
    /// or a `git pull` is many file events: one pass).
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = super::duration)]
    pub debounce: Duration,
    /// On SIGTERM or Ctrl-C: how long the actions in flight may take to finish (no new one
    /// starts); past it, serve leaves anyway (the intents it wrote make the next run safe).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = super::duration)]
    pub shutdown_timeout: Duration,
    /// The secret `POST /hooks/reconcile` requests are signed with (GitHub's
    /// `X-Hub-Signature-256`), as a reference: `env:NAME` or `file:PATH` (relative to the
    /// manifest directory). Without it the hook refuses every request.
    #[arg(long, value_name = "REF", env = "TENANTRY_HOOK_SECRET_REF")]
    pub hook_secret: Option<String>,
    /// A webhook to POST notifications to (a new portal task, a failure, drift found, a wait
    /// past its usual time), as a reference to its URL, which is a secret: `env:NAME` or
    /// `file:PATH`. Repeatable. Each event is JSON with a `text` line that Slack and Microsoft
    /// Teams incoming webhooks show.
    #[arg(long, value_name = "REF")]
    pub notify: Vec<String>,
    /// In the sandbox: only record portal tasks instead of handing them to the simulated operator.
    #[arg(long)]
    pub no_operator: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// What the HTTP endpoints read.
struct Shared {
    metrics: Metrics,
    store: Mutex<Arc<dyn StateStore>>,
    /// The manifests on disk validate (else the last good ones stay in force).
    manifests_valid: AtomicBool,
    /// The first pass finished.
    started: AtomicBool,
    /// When the pass running now began.
    pass_since: Mutex<Option<std::time::Instant>>,
    /// A pass running longer than this makes /readyz fail.
    stuck_after: Duration,
    hook_secret: Option<SecretString>,
    hooks: tokio::sync::mpsc::UnboundedSender<()>,
}

pub async fn serve(args: ServeArgs, output: Output) -> CliResult {
    let dir = args.dir.clone();
    if !dir.is_dir() {
        return Err(CliError::new(format!("{} is not a directory", dir.display()))
            .hint("give the manifest directory, e.g. `tenantry serve manifests/ --sandbox`"));
    }
    let hook_secret = match &args.hook_secret {
        None => None,
        Some(text) => Some(secret(text, &dir, "--hook-secret")?),
    };
    let mut webhooks = Vec::new();
    for reference in &args.notify {
        webhooks.push(Hook { url: secret(reference, &dir, "--notify")?, reference: reference.clone() });
    }
    // File events first, so that no save between the first load and the first pass is missed.
    let (tx, mut files) = tokio::sync::mpsc::unbounded_channel();
    let mut debouncer = notify_debouncer_full::new_debouncer(args.debounce, None, move |result| {
        let _ = tx.send(result);
    })
    .map_err(|e| CliError::new(format!("cannot watch {}: {e}", dir.display())))?;
    debouncer
        .watch(&dir, RecursiveMode::Recursive)
        .map_err(|e| CliError::new(format!("cannot watch {}: {e}", dir.display())))?;

    let (mut desired, mut sources) =
        super::workspace::load_manifests(&dir, output.stderr_terminal, output.stderr_color)?;
    let mut ws = Workspace::open(&dir, desired.clone(), sources.clone(), &args.connect, !args.no_operator).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::new(format!("cannot listen on {}: {e}", args.listen)).hint("choose another --listen"))?;
    let local = listener.local_addr().map_err(|e| CliError::new(format!("cannot listen: {e}")))?;
    let (hooks_tx, mut hooks) = tokio::sync::mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        metrics: Metrics::new(),
        store: Mutex::new(ws.store.clone()),
        manifests_valid: AtomicBool::new(true),
        started: AtomicBool::new(false),
        pass_since: Mutex::new(None),
        stuck_after: (args.resync * 3).max(Duration::from_secs(15 * 60)),
        hook_secret,
        hooks: hooks_tx,
    });
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
        .route("/readyz", axum::routing::get(readyz))
        .route("/metrics", axum::routing::get(metrics_page))
        .route("/hooks/reconcile", axum::routing::post(hook))
        .with_state(shared.clone());
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = http_stopped.await;
            })
            .await;
    });
    output.note(format_args!(
        "Serving {} (drift: {} unless a manifest says otherwise; resync every {}): http://{local}/metrics, /healthz, /readyz, POST /hooks/reconcile. SIGTERM or Ctrl-C stops it.",
        dir.display(),
        match args.drift.or(desired.config.policies.drift).unwrap_or_default() {
            DriftPolicy::Report => "report",
            DriftPolicy::Correct => "correct",
        },
        crate::model::format_duration(args.resync),
    ));

    let (shutdown_tx, mut shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
        }
        let _ = shutdown_tx.send(true);
    });

    let timing = Timing {
        resync: args.resync,
        poll: args.poll,
        await_person: args.await_interval,
        backoff: args.backoff,
        max_backoff: args.max_backoff,
        jitter: 0.1,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut ctx = context(&ws, &args, stop.clone());
    let notifier = Notifier::start(webhooks);
    // Portal tasks already open are not news.
    let mut open_tasks = ws.store.tasks().map(|t| notify::open_ids(&t)).unwrap_or_default();
    let mut schedule = Schedule::default();
    schedule.now(super::watch::owners(&desired), Why::Start);
    let mut clean = true;
    loop {
        let next = schedule.next();
        let due = tokio::select! {
            _ = shutdown.changed() => break,
            batch = files.recv() => {
                let Some(batch) = batch else { break };
                let changed = super::watch::changed_files(&dir, batch);
                if changed.is_empty() {
                    continue;
                }
                println!("{} {} changed", stamp(), changed.join(", "));
                let Some((after, after_sources)) = super::watch::load(&dir, &output) else {
                    shared.manifests_valid.store(false, Ordering::SeqCst);
                    println!("{} The manifests have errors (above): the previous ones stay in force.", stamp());
                    continue;
                };
                shared.manifests_valid.store(true, Ordering::SeqCst);
                let touched = super::watch::affected(&desired, &after);
                if after.config != desired.config {
                    // Connections or the state store may be others now.
                    let reopened =
                        Workspace::open(&dir, after.clone(), after_sources.clone(), &args.connect, !args.no_operator).await;
                    match reopened {
                        Ok(new) => {
                            let old = std::mem::replace(&mut ws, new);
                            old.close().await;
                            ctx = context(&ws, &args, stop.clone());
                            *shared.store.lock().unwrap_or_else(|p| p.into_inner()) = ws.store.clone();
                        }
                        Err(e) => {
                            eprintln!("{}", super::error_text(&e, output));
                            println!("{} tenantry.yaml could not be put in force (above): the previous manifests stay in force.", stamp());
                            continue;
                        }
                    }
                }
                for o in touched.iter().filter(|o| after.company(o).is_none()) {
                    println!("{} {o} was removed from the manifests: `tenantry apply --prune` deletes what tenantry made for it", stamp());
                    schedule.remove(o);
                    shared.metrics.forget(o);
                }
                schedule.now(touched.into_iter().filter(|o| after.company(o).is_some()), Why::Changed);
                desired = after;
                sources = after_sources;
                continue;
            }
            hook = hooks.recv() => {
                if hook.is_none() { break }
                println!("{} reconcile requested by the webhook", stamp());
                schedule.now(super::watch::owners(&desired), Why::Hook);
                continue;
            }
            // Owners due within the next second join this pass.
            _ = sleep_until(next) => schedule.take_due(tokio::time::Instant::now() + Duration::from_secs(1)),
        };
        if due.is_empty() {
            continue;
        }
        let set: BTreeSet<ManifestRef> = due.keys().cloned().collect();
        println!("{} reconciling {}", stamp(), describe_due(&due));
        *shared.pass_since.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::time::Instant::now());
        let pass = ctl::pass(&ctx, &desired, &sources, &set, args.drift);
        tokio::pin!(pass);
        let report = tokio::select! {
            r = &mut pass => r,
            _ = shutdown.changed() => {
                println!("{} stopping: finishing the actions in flight (up to {}), starting no new ones", stamp(), crate::model::format_duration(args.shutdown_timeout));
                stop.store(true, Ordering::SeqCst);
                match tokio::time::timeout(args.shutdown_timeout, &mut pass).await {
                    Ok(r) => r,
                    Err(_) => {
                        eprintln!("Actions still in flight after {}; leaving now (the next run looks each up before doing it again).", crate::model::format_duration(args.shutdown_timeout));
                        clean = false;
                        break;
                    }
                }
            }
        };
        *shared.pass_since.lock().unwrap_or_else(|p| p.into_inner()) = None;
        for event in notify::from_pass(&shared.metrics.reports(), &report) {
            notifier.send(event);
        }
        if let Ok(tasks) = ctx.store.tasks() {
            for event in notify::new_tasks(&open_tasks, &tasks) {
                notifier.send(event);
            }
            open_tasks = notify::open_ids(&tasks);
        }
        shared.metrics.pass(&report);
        shared.started.store(true, Ordering::SeqCst);
        print_report(&report, &mut schedule, &timing, &desired);
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    // Leave: the HTTP server stops taking requests, the vendors' connections close, and the
    // locks of the last pass were released when it returned.
    let _ = stop_http.send(());
    let _ = server.await;
    drop(debouncer);
    drop(ctx);
    ws.close().await;
    println!("{} stopped", stamp());
    Ok(if clean { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn context(ws: &Workspace, args: &ServeArgs, stop: Arc<AtomicBool>) -> ctl::Context {
    let mut follow = BTreeSet::from([Party::Vendor]);
    if ws.sandbox_admin.is_some() {
        follow.insert(Party::Customer);
        if !args.no_operator {
            follow.insert(Party::Operator);
        }
    }
    ctl::Context {
        store: ws.store.clone(),
        vendors: ws.vendors.clone(),
        secrets: ws.secrets.clone(),
        limits: ws.limits.clone(),
        delivery: ws.delivery.clone(),
        skew: ws.skew,
        sandbox: ws.sandbox_admin.is_some(),
        follow,
        progress: Arc::new(Lines),
        stop,
        commit: super::apply::git_commit(&ws.dir),
        command: format!("tenantry serve {}", ws.dir.display()),
    }
}

/// A secret given by reference on the command line (`flag`): the hook secret, a webhook URL.
fn secret(text: &str, dir: &Path, flag: &str) -> Result<SecretString, CliError> {
    let reference = match text.split_once(':') {
        Some(("env", name)) if !name.is_empty() => SecretRef::Env(name.to_string()),
        Some(("file", path)) if !path.is_empty() => SecretRef::File(path.to_string()),
        // Never echo it: it may be the secret itself, given by mistake.
        _ => {
            return Err(CliError::new(format!("{flag} takes a secret reference, not a value"))
                .hint("write env:NAME (an environment variable) or file:PATH (relative to the manifest directory)"));
        }
    };
    crate::secrets::Secrets::new(dir, false)
        .resolve(&reference)
        .map_err(|e| CliError::new(format!("cannot read {flag}: {e}")))
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn stamp() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn describe_due(due: &BTreeMap<ManifestRef, Why>) -> String {
    let mut by_why: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (o, w) in due {
        by_why.entry(w.word()).or_default().push(o.to_string());
    }
    let parts: Vec<String> =
        by_why
            .into_iter()
            .map(|(w, list)| {
                if list.len() > 5 {
                    format!("{} owners ({w})", list.len())
                } else {
                    format!("{} ({w})", list.join(", "))
                }
            })
            .collect();
    parts.join("; ")
}

/// Each owner's outcome and next look, on stdout.
fn print_report(report: &ctl::PassReport, schedule: &mut Schedule, timing: &Timing, desired: &DesiredState) {
    if let Some(e) = &report.error {
        println!("  pass: {e}");
    }
    for o in &report.locked {
        let wait = ctl::schedule::jittered(timing.poll.min(Duration::from_secs(10)), timing.jitter);
        schedule.at(o, wait, Why::Locked);
        println!("  {o}: locked by another run; looked at again in {}", human(wait));
    }
    for (o, r) in &report.owners {
        if desired.company(o).is_none() {
            continue;
        }
        let (wait, why) = if report.interrupted { (Duration::ZERO, Why::Start) } else { schedule.after(o, r, timing) };
        println!("  {o}: {}; next look in {} ({})", describe(r), human(wait), why.word());
        for f in &r.failed {
            println!("    x {f}");
        }
        for d in &r.drifted {
            println!("    ~ drift: {d}");
        }
        for b in &r.blocked {
            println!("    ! {b}");
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

fn describe(r: &OwnerReport) -> String {
    let mut parts = Vec::new();
    if r.done > 0 {
        parts.push(format!("{} done", r.done));
    }
    if r.failed() {
        parts.push(format!("{} failed", r.failed.len()));
    }
    if r.waiting_vendor + r.waiting_person > 0 {
        parts.push(format!("{} waiting", r.waiting_vendor + r.waiting_person));
    }
    if !r.drifted.is_empty() {
        parts.push(format!("{} drifted", r.drifted.len()));
    }
    if !r.blocked.is_empty() {
        parts.push(format!("{} blocked", r.blocked.len()));
    }
    if parts.is_empty() { "in sync".into() } else { parts.join(", ") }
}

/// A wait as people read it: tenths of a second below a minute (backoffs and polls), else
/// whole seconds.
fn human(d: Duration) -> String {
    if d < Duration::from_secs(60) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        crate::model::format_duration(Duration::from_secs(d.as_secs()))
    }
}

/// Finished actions, one line each on stdout.
struct Lines;

impl Progress for Lines {
    fn finished(&self, r: &ActionResult) {
        println!("{}", super::apply::result_line(r));
    }
}

async fn readyz(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let mut problems = Vec::new();
    if !shared.manifests_valid.load(Ordering::SeqCst) {
        problems.push("the manifests on disk have errors (the last good ones are in force)".to_string());
    }
    let store = shared.store.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Err(e) = store.locks() {
        problems.push(format!("the state store cannot be read: {e}"));
    }
    if !shared.started.load(Ordering::SeqCst) {
        problems.push("the first reconcile pass has not finished".into());
    }
    if let Some(since) = *shared.pass_since.lock().unwrap_or_else(|p| p.into_inner())
        && since.elapsed() > shared.stuck_after
    {
        problems.push(format!("the running pass started {}s ago", since.elapsed().as_secs()));
    }
    if problems.is_empty() {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("not ready:\n  {}\n", problems.join("\n  ")))
    }
}

async fn metrics_page(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let store = shared.store.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Ok(tasks) = store.tasks() {
        shared.metrics.open_tasks.set(tasks.iter().filter(|t| t.is_open()).count() as i64);
    }
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], shared.metrics.render())
}

/// `POST /hooks/reconcile`: a git host's push. Signed as GitHub signs (`X-Hub-Signature-256:
/// sha256=<hex HMAC-SHA256 of the body>`), checked in constant time; refused with 401 otherwise,
/// logged without the body.
async fn hook(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: axum::body::Bytes) -> impl IntoResponse {
    let Some(secret) = &shared.hook_secret else {
        tracing::warn!("refused /hooks/reconcile: no --hook-secret is configured");
        return (StatusCode::UNAUTHORIZED, "no hook secret is configured (serve --hook-secret)\n");
    };
    let signature = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    if !signed(secret, &body, signature) {
        tracing::warn!(
            bytes = body.len(),
            "refused /hooks/reconcile: {}",
            if signature.is_some() { "wrong signature" } else { "unsigned" }
        );
        return (StatusCode::UNAUTHORIZED, "bad or missing X-Hub-Signature-256\n");
    }
    let _ = shared.hooks.send(());
    (StatusCode::ACCEPTED, "reconcile queued\n")
}

fn signed(secret: &SecretString, body: &[u8], signature: Option<&str>) -> bool {
    let Some(hex) = signature.and_then(|s| s.strip_prefix("sha256=")) else { return false };
    let Some(expected) = unhex(hex) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) else { return false };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        let bytes = mac.finalize().into_bytes();
        format!("sha256={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    #[test]
    fn only_a_signature_made_with_the_secret_over_this_body_is_accepted() {
        let secret = SecretString::from("s3cret".to_string());
        let body = br#"{"ref":"refs/heads/main"}"#;
        assert!(signed(&secret, body, Some(&sign("s3cret", body))));
        assert!(!signed(&secret, body, Some(&sign("other", body))));
        assert!(!signed(&secret, b"{}", Some(&sign("s3cret", body))));
        assert!(!signed(&secret, body, None));
        assert!(!signed(&secret, body, Some("sha256=zz")));
        assert!(!signed(&secret, body, Some(&sign("s3cret", body).replace("sha256=", "sha1="))));
    }
}
