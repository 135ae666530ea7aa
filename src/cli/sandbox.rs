//! `tenantry sandbox`: run the simulated vendors, look inside them, reset them, and the simulated
//! operator that portal tasks are handed to.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::{CliError, CliResult};
use crate::sandbox::{FaultSpec, Latency, Options, Sandbox};

#[derive(Debug, Args)]
pub struct SandboxArgs {
    #[command(subcommand)]
    pub command: SandboxCommand,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Serve the six simulated vendor APIs on 127.0.0.1 until Ctrl-C, printing each base URL.
    #[command(
        after_help = "Examples:\n  tenantry sandbox serve\n  tenantry sandbox serve --world /tmp/world.json --latency 20..80 --faults 5xx=0.05,lose=0.02\n  tenantry sandbox serve --faults acronis:429=0.2 --operator-delay 5s --customer-delay 1m30s\n\nThen, in another shell:\n  TENANTRY_SANDBOX_URL=<admin url> tenantry apply --auto-approve manifests/\n  curl <admin url>/_sandbox/dump"
    )]
    Serve(ServeArgs),
    /// Print every simulated vendor object as JSON: `{vendor: [objects]}`.
    #[command(
        after_help = "Examples:\n  tenantry sandbox dump manifests/ | jq '.acronis'     # the one `apply --sandbox manifests/` keeps\n  tenantry sandbox dump --url http://127.0.0.1:PORT    # a running `sandbox serve`\n\n-d/--dir DIR is the same as the DIR argument."
    )]
    Dump(WhichArgs),
    /// Empty the sandbox: a running one (--url), or the one `--sandbox` keeps in DIR/.tenantry/sandbox/.
    #[command(
        after_help = "Examples:\n  tenantry sandbox reset manifests/\n  tenantry sandbox reset --url http://127.0.0.1:PORT\n\n-d/--dir DIR is the same as the DIR argument."
    )]
    Reset(WhichArgs),
    /// The simulated operator: reads a portal task (JSON) on stdin, does it in the sandbox's
    /// portal, prints `{"status": "done"}`. Used as the `command` task executor.
    Operator {
        /// The sandbox's admin URL.
        #[arg(long, env = "TENANTRY_SANDBOX_URL")]
        url: String,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Keep the simulated vendors' objects in FILE (JSON; loaded at start, saved on every
    /// change). This is the sandbox's world, not a tenantry state store: a tenantry run against
    /// this sandbox keeps its own state where its --state URL says.
    #[arg(long, value_name = "FILE")]
    pub world: Option<PathBuf>,
    /// Refused: --state names a tenantry state store URL everywhere; this FILE is --world.
    #[arg(long, value_name = "FILE", hide = true)]
    pub state: Option<String>,
    /// Latency added to every vendor request: `50` (ms) or a range `20..80`.
    #[arg(long, value_name = "MS", value_parser = Latency::parse)]
    pub latency: Option<Latency>,
    /// Faults, as rates per request: `5xx=0.05,429=0.02,drop=0.01,lose=0.05`, optionally per
    /// vendor (`acronis:lose=0.2`). `lose` commits the request, then drops the answer. Answers
    /// tenantry must refuse to read: `malformed` (not JSON), `missing` (list records without
    /// their id), `cursor` (Acronis: a cursor that repeats), `endless` (paging that never ends).
    #[arg(long, value_name = "SPEC", value_parser = FaultSpec::parse)]
    pub faults: Option<FaultSpec>,
    /// How long the simulated operator takes per portal task (`5s`, `1m`; a bare number is
    /// seconds).
    #[arg(long, value_name = "DURATION", value_parser = super::duration)]
    pub operator_delay: Option<Duration>,
    /// How long simulated customers take to authorize, consent and activate.
    #[arg(long, value_name = "DURATION", value_parser = super::duration)]
    pub customer_delay: Option<Duration>,
    /// Simulated customers never authorize, consent or activate.
    #[arg(long)]
    pub no_customers: bool,
    /// How long VCSP Pulse takes to map a new tenant.
    #[arg(long, value_name = "DURATION", value_parser = super::duration)]
    pub pulse_delay: Option<Duration>,
    /// How long a throttled answer (the `429` fault) asks to wait, where the vendor names one
    /// (`Retry-After`, VSPC's `retryAfter`): whole seconds, as those headers count.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = whole_seconds)]
    pub throttle_wait: u64,
    /// Seed for the fault dice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Listen on consecutive ports from N (veeam, datto, velocloud, acronis, watchguard, avepoint,
    /// avepoint-identity, admin) instead of free ones.
    #[arg(long, value_name = "N")]
    pub port_base: Option<u16>,
    /// Keep every vendor request and answer, for `GET <admin>/_sandbox/requests` (grows
    /// without bound: for tests and debugging). Request counts per vendor are always kept.
    #[arg(long)]
    pub journal: bool,
    /// Print the URLs as one JSON line (for scripts) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WhichArgs {
    /// A running sandbox's admin URL.
    #[arg(long, env = "TENANTRY_SANDBOX_URL")]
    pub url: Option<String>,
    /// Manifest directory whose `--sandbox` state to use (when no --url; default: .).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The same as the DIR argument (kept for scripts that pass it this way).
    #[arg(long = "dir", short = 'd', value_name = "DIR")]
    pub dir_flag: Option<PathBuf>,
}

impl WhichArgs {
    fn dir(&self) -> Result<PathBuf, CliError> {
        super::state::manifest_dir(self.dir.as_deref(), self.dir_flag.as_deref())
    }
}

pub async fn sandbox(args: SandboxArgs, output: super::Output) -> CliResult {
    match args.command {
        SandboxCommand::Serve(a) => serve(a, output).await,
        SandboxCommand::Dump(w) => dump(w).await,
        SandboxCommand::Reset(w) => reset(w).await,
        SandboxCommand::Operator { url } => operator(&url).await,
    }
}

/// A duration that must be whole seconds (`Retry-After` counts in them).
fn whole_seconds(text: &str) -> Result<u64, String> {
    let d = super::duration(text)?;
    if d.subsec_nanos() != 0 {
        return Err(format!("`{text}` is not whole seconds; a Retry-After counts whole seconds"));
    }
    Ok(d.as_secs())
}

async fn serve(a: ServeArgs, output: super::Output) -> CliResult {
    if let Some(s) = &a.state {
        return Err(CliError::new(
            "sandbox serve has no --state: --state names a tenantry state store URL, and the sandbox keeps none",
        )
        .hint(format!("keep the simulated vendors' objects in a file with --world {s}")));
    }
    let mut opts = Options {
        state_file: a.world.clone(),
        seed: a.seed,
        customers: !a.no_customers,
        journal: a.journal,
        throttle_wait: a.throttle_wait,
        ..Options::default()
    };
    if let Some(l) = a.latency {
        opts.latency = l;
    }
    if let Some(f) = a.faults {
        opts.faults = f;
    }
    if let Some(d) = a.operator_delay {
        opts.operator_delay = d;
    }
    if let Some(d) = a.customer_delay {
        opts.customer_delay = d;
    }
    if let Some(d) = a.pulse_delay {
        opts.pulse_delay = d;
    }
    if let Some(base) = a.port_base {
        let names = ["veeam", "datto", "velocloud", "acronis", "watchguard", "avepoint", "avepoint-identity", "admin"];
        for (i, n) in names.iter().enumerate() {
            let port = base.checked_add(i as u16).ok_or_else(|| CliError::new("--port-base is too high"))?;
            opts.ports.insert(n.to_string(), port);
        }
    }
    let sandbox = Sandbox::start(opts).await.map_err(CliError::new)?;
    let u = &sandbox.urls;
    if a.json {
        println!("{}", serde_json::to_string(u).unwrap_or_default());
    } else {
        use crate::sandbox::credentials::*;
        println!("tenantry sandbox: simulated vendor APIs on 127.0.0.1 (Ctrl-C stops it)\n");
        println!("  veeam       {}   (POST /token: username {VEEAM_USER}, password {VEEAM_PASSWORD})", u.veeam);
        println!("  datto       {}   (Basic {DATTO_PUBLIC}:{DATTO_SECRET})", u.datto);
        println!("  velocloud   {}   (Authorization: Token {VCO_TOKEN})", u.velocloud);
        println!("  acronis     {}   (client {ACRONIS_CLIENT} / {ACRONIS_SECRET})", u.acronis);
        println!(
            "  watchguard  {}   (access id {WG_ACCESS}, password {WG_PASSWORD}, WatchGuard-API-Key {WG_API_KEY})",
            u.watchguard
        );
        println!(
            "  avepoint    {}   (identity {}, client {AVEPOINT_CLIENT} / {AVEPOINT_SECRET})",
            u.avepoint, u.avepoint_identity
        );
        println!("  admin       {}   (/_sandbox/dump, /_sandbox/reset, /_portal/..., /_operator/tasks)", u.admin);
        println!("\nThese credentials are the sandbox's own public test values.");
        println!("Point tenantry at it with:  export TENANTRY_SANDBOX_URL={}", u.admin);
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    sandbox.stop().await;
    output.note("sandbox stopped");
    Ok(ExitCode::SUCCESS)
}

fn client() -> Result<reqwest::Client, CliError> {
    crate::provider::http::client_builder()
        .timeout(Duration::from_secs(600))
        .build()
        .map_err(|e| CliError::new(e.to_string()))
}

fn unreachable(url: &str, e: &reqwest::Error) -> CliError {
    CliError::new(format!("cannot reach the sandbox at {url}: {}", crate::provider::describe_reqwest(e)))
        .hint("is `tenantry sandbox serve` running? it prints its admin URL")
}

async fn dump(w: WhichArgs) -> CliResult {
    let json = match &w.url {
        Some(url) => {
            let u = format!("{}/_sandbox/dump", url.trim_end_matches('/'));
            let resp = client()?.get(&u).send().await.map_err(|e| unreachable(url, &e))?;
            resp.json::<serde_json::Value>().await.map_err(|e| unreachable(url, &e))?
        }
        None => {
            let file = w.dir()?.join(".tenantry").join("sandbox").join("world.json");
            if !file.exists() {
                return Err(CliError::new(format!("there is no sandbox state at {}", file.display()))
                    .hint("it is created by `tenantry apply --sandbox DIR`; or pass --url of a running sandbox"));
            }
            crate::sandbox::load_world(Some(&file)).map_err(CliError::new)?.dump()
        }
    };
    println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}

async fn reset(w: WhichArgs) -> CliResult {
    match &w.url {
        Some(url) => {
            let u = format!("{}/_sandbox/reset", url.trim_end_matches('/'));
            client()?.post(&u).send().await.map_err(|e| unreachable(url, &e))?;
            println!("The sandbox at {url} is empty again.");
        }
        None => {
            let dir = w.dir()?.join(".tenantry").join("sandbox");
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| CliError::new(format!("cannot remove {}: {e}", dir.display())))?;
                println!("Removed {} (simulated vendors and the sandbox's own state).", dir.display());
            } else {
                println!("There is no sandbox state at {}; nothing to reset.", dir.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn operator(url: &str) -> CliResult {
    // SAFETY: getppid has no preconditions and cannot fail.
    let parent = unsafe { libc::getppid() };
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).map_err(|e| CliError::new(format!("cannot read the task: {e}")))?;
    let task: serde_json::Value =
        serde_json::from_str(&input).map_err(|e| CliError::new(format!("the task on stdin is not JSON: {e}")))?;
    let u = format!("{}/_operator/tasks", url.trim_end_matches('/'));
    // Delivering a task twice is harmless (the simulated operator reports a task already done
    // in the portal as done), so a connection lost on the way is tried again, a few times.
    let client = client()?;
    let deliver = async {
        let mut tries = 0;
        loop {
            tries += 1;
            let sent = async { client.post(&u).json(&task).send().await?.json().await }.await;
            match sent {
                Ok(answer) => return Ok(answer),
                Err(e) if tries < 3 && (e.is_connect() || e.is_request() || e.is_body()) => {
                    tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                }
                Err(e) => return Err(unreachable(url, &e)),
            }
        }
    };
    let answer: serde_json::Value = tokio::select! {
        answer = deliver => answer?,
        () = parent_gone(parent) => return Err(CliError::new(
            "the run that handed over this task is gone (killed?): stopping, the task not done",
        )),
    };
    println!("{answer}");
    match answer.get("status").and_then(serde_json::Value::as_str) {
        Some("done") => Ok(ExitCode::SUCCESS),
        _ => Err(CliError::new(format!(
            "the simulated operator could not do task {}: {}",
            task.get("id").and_then(serde_json::Value::as_str).unwrap_or("?"),
            answer.get("message").and_then(serde_json::Value::as_str).unwrap_or("no reason given")
        ))),
    }
}

/// Ends once the process that started this one is gone: the child is then re-parented, so
/// its parent pid changes. A killed apply leaves no simulated operator behind.
async fn parent_gone(parent: libc::pid_t) {
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        // SAFETY: getppid has no preconditions and cannot fail.
        if unsafe { libc::getppid() } != parent {
            return;
        }
    }
}
