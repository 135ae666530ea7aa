//! The command line: clap definitions, and one function per command that turns parsed arguments
//! into library calls. Data goes to stdout; logs, progress and prompts go to stderr.

mod apply;
mod plan;
mod progress;
mod sandbox;
mod select;
mod serve;
mod state;
mod status;
mod validate;
mod watch;
mod workspace;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Customer onboarding as code for managed service providers.
///
/// Declare customers and their vendor services in YAML, see what would change with `plan`,
/// and make it so with `apply`.
#[derive(Debug, Parser)]
#[command(name = "tenantry", version = VERSION, propagate_version = true, max_term_width = 100)]
#[command(
    after_help = "Examples:\n  tenantry apply --sandbox manifests/      # everything, against the built-in simulators\n  tenantry validate manifests/\n  tenantry plan manifests/ --format markdown\n  tenantry apply --auto-approve manifests/\n  tenantry tasks manifests/\n  tenantry state list --sandbox manifests/\n\nLogs go to stderr; set RUST_LOG (e.g. RUST_LOG=tenantry=debug) or use -v for more.\nColour: --color auto (the default) colours a terminal; NO_COLOR=1 turns it off, CLICOLOR_FORCE=1\nturns it on where there is no terminal; --color always|never overrides both, for --help too."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr: no progress, no notes, no log lines below error (RUST_LOG
    /// overrides). Output on stdout is unchanged.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// When to use colour, in output and in --help: auto (a terminal; a non-empty NO_COLOR turns
    /// it off, a CLICOLOR_FORCE other than 0 turns it on), always or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the manifests: structure, references, uniqueness and vendor rules.
    ///
    /// Reports every problem at once, each with file, line, column, field path and a hint.
    /// Exit status: 0 when valid, 1 when there are errors.
    #[command(
        after_help = "Examples:\n  tenantry validate manifests/\n  tenantry validate --format json . | jq '.diagnostics[]'\n  tenantry validate manifests/ --format github   # annotations in GitHub Actions\n\nFiles are named relative to the working directory."
    )]
    Validate(validate::ValidateArgs),

    /// Write the JSON Schemas of the manifest kinds into schemas/ (or check them with --check).
    ///
    /// Editors use them through the `# yaml-language-server: $schema=...` comment at the top of
    /// each manifest.
    #[command(
        after_help = "Examples:\n  tenantry schema            # regenerate schemas/\n  tenantry schema --check    # exit 1 if schemas/ is out of date"
    )]
    Schema(validate::SchemaArgs),

    /// Show what apply would change: observe the vendors, compare with the manifests.
    ///
    /// Every action says why, and what it waits for. Nothing is changed and no secret is read
    /// beyond the connection credentials. Exit status: 0, or 1 on errors (including a vendor
    /// that could not be observed); with --detailed-exitcode, 2 when anything is pending.
    #[command(
        after_help = "Exit status:\n  0  no errors; with --detailed-exitcode: the vendors match the manifests, nothing is pending\n  1  error: invalid manifests, a vendor that could not be observed, bad usage\n  2  only with --detailed-exitcode: something is pending (a change, a portal task, an await,\n     a blocked action or a conflict)\n\nExamples:\n  tenantry plan --sandbox manifests/\n  tenantry plan manifests/ --format markdown > plan.md\n  tenantry plan manifests/ --out plan.json --detailed-exitcode\n  tenantry plan manifests/ --target acme --format json | jq '.actions[].reason'\n  tenantry plan manifests/ -l tier=gold,region=emea"
    )]
    Plan(plan::PlanArgs),

    /// Make the vendors match the manifests, or carry out a saved plan.
    ///
    /// Prints the plan, asks for confirmation (or --auto-approve), then applies it under a state
    /// lock on what it selects (everything when nothing is narrowed): in dependency order, concurrently per vendor, following what it started
    /// (verifications, authorizations) for up to --wait. Safe to interrupt and re-run: creates
    /// are looked up before they are sent, so nothing is duplicated. Exit status: 0 converged,
    /// 1 when anything failed, is blocked or in conflict, 2 when the rest waits for a person or
    /// a vendor.
    #[command(
        after_help = "Exit status:\n  0  converged: nothing failed, nothing is blocked, no conflict, nothing waits\n  1  error: an action failed, an action is blocked, a conflict remains, the plan file is stale\n     or was applied already, the run was refused or interrupted, a vendor could not be observed,\n     a run holding a lock on the same customers or resellers did not finish within --lock-timeout,\n     or this run's lock was removed while it ran (it stops before its next state write)\n  2  applied, nothing failed or is blocked, but something waits for a customer, an operator or\n     the vendor (an await, an open portal task); the next apply follows it\n\nExamples:\n  tenantry apply --sandbox manifests/\n  tenantry apply --auto-approve manifests/\n  tenantry plan manifests/ --out plan.json && tenantry apply plan.json\n  tenantry apply manifests/ --target acme --lock-timeout 5m"
    )]
    Apply(apply::ApplyArgs),

    /// Print a saved plan (from `tenantry plan --out FILE`) as `plan` printed it.
    ///
    /// Reads only the file: no vendor is observed and nothing is checked against the manifests.
    #[command(
        after_help = "Examples:\n  tenantry show plan.json\n  tenantry show plan.json --format markdown > plan.md\n  tenantry show plan.json --format json | jq .id"
    )]
    Show(plan::ShowArgs),

    /// Plan again whenever the manifests change, for the customers and resellers a change touches.
    ///
    /// Prints the plan of everything at start, then, after each change (debounced, so an
    /// editor's save or a `git pull` is one event), the plan of what the change touched: a
    /// customer's file, a profile (every customer using it), tenantry.yaml (everyone). An edit
    /// that does not validate prints its diagnostics and the previous manifests stay in force.
    /// Never applies. Ctrl-C stops it (exit 0).
    #[command(
        after_help = "Examples:\n  tenantry watch --sandbox manifests/\n  tenantry watch manifests/ --debounce 1s\n  TENANTRY_SANDBOX_URL=<admin url> tenantry watch manifests/   # against `tenantry sandbox serve`"
    )]
    Watch(watch::WatchArgs),

    /// Keep the vendors converged: the controller.
    ///
    /// Applies what the manifests declare at start, on every manifest change (debounced), on a
    /// resync interval (spread by jitter), and when something waiting is due for another look:
    /// every customer and reseller on its own schedule (a short poll while a vendor completes
    /// something, a longer one while a person must act, a growing backoff after a failure).
    /// Drift found at a vendor while the manifest did not change is reported (default) or
    /// corrected (--drift correct). Locks only the customers of a pass, for the pass, and skips
    /// those another run (a CI `apply --target`) holds. Serves /healthz, /readyz, /metrics
    /// (Prometheus text) and POST /hooks/reconcile (GitHub-signed). SIGTERM or Ctrl-C: the
    /// actions in flight finish, none starts, the locks are released (exit 0).
    #[command(
        after_help = "Examples:\n  tenantry serve --sandbox manifests/\n  tenantry serve manifests/ --listen 0.0.0.0:9470 --resync 15m --drift correct\n  TENANTRY_HOOK_SECRET_REF=env:GITHUB_HOOK_SECRET tenantry serve manifests/\n  curl -s localhost:9470/metrics | grep tenantry_drifted_objects"
    )]
    Serve(serve::ServeArgs),

    /// Where each customer and reseller stands at each vendor: Ready, Drifted, Pending, Task,
    /// Failed, Blocked or Unknown, with what explains it.
    ///
    /// Observes the vendors as `plan` does (read-only) and reads the state store for open portal
    /// tasks and the last failure of what is still planned; needs nothing running beside it.
    /// A row shows the worst that applies. Exit status: 0 when printed, 1 on errors.
    #[command(
        after_help = "Statuses, worst first:\n  Unknown  the vendor could not be observed, or an object could not be read\n  Blocked  an action cannot run until something changes (a vendor rule, a conflict)\n  Failed   the last apply of an action still planned failed (its error is shown)\n  Task     a portal task is open (or is to be opened) for a person\n  Drifted  the vendor does not hold what the manifests declare (fields, objects to create)\n  Pending  waiting for the vendor, a customer or an earlier step, since when\n  Ready    the vendor holds what the manifests declare\n\nExamples:\n  tenantry status --sandbox manifests/\n  tenantry status manifests/ --target acme\n  tenantry status manifests/ --format json | jq '.[] | select(.status != \"Ready\")'"
    )]
    Status(status::StatusArgs),

    /// Portal tasks: steps a vendor has no API for, with every value to enter.
    #[command(
        after_help = "Examples:\n  tenantry tasks manifests/\n  tenantry tasks --sandbox --all manifests/\n  tenantry tasks manifests/ -l tier=gold\n  tenantry tasks show T-3 manifests/\n  tenantry tasks done T-3 --note \"done by jo, ticket 4711\" manifests/\n\n-d/--dir DIR is the same as the DIR argument."
    )]
    Tasks(state::TasksArgs),

    /// What tenantry did: every executed action with time, result, vendor id and git commit.
    #[command(
        after_help = "Examples:\n  tenantry history manifests/\n  tenantry history --sandbox manifests/ --target acme --format json\n  tenantry history manifests/ -l tier=gold\n\n--customer NAME is the same as --target NAME. -d/--dir DIR is the same as the DIR argument."
    )]
    History(state::HistoryArgs),

    /// Remove the state lock of a run that is gone (its id is printed by the run that waits, and
    /// by `tenantry state lock`). A run still going fails at its next state write.
    #[command(
        name = "force-unlock",
        after_help = "Examples:\n  tenantry force-unlock 3f2a9c1b7d4e manifests/\n  tenantry force-unlock 3f2a9c1b7d4e --sandbox manifests/\n\n-d/--dir DIR is the same as the DIR argument."
    )]
    ForceUnlock(state::ForceUnlockArgs),

    /// Bindings: which vendor object tenantry manages for each customer and reseller.
    ///
    /// A binding holds the vendor id and what was applied that the vendor does not report back
    /// (references to secrets, never their values). `lock` lists the state locks held. `forget`
    /// drops one binding under a state lock on everything; the vendor object stays, and the next
    /// plan looks it up again.
    #[command(
        after_help = "Examples:\n  tenantry state list manifests/\n  tenantry state list --sandbox manifests/ --target acme --format json\n  tenantry state show customer/acme/acronis/tenant manifests/\n  tenantry state forget customer/acme/acronis/tenant manifests/ --yes\n  tenantry state lock manifests/\n\n-d/--dir DIR is the same as the DIR argument."
    )]
    State(state::StateArgs),

    /// The built-in sandbox: simulated vendor APIs for trying tenantry without vendor accounts.
    Sandbox(sandbox::SandboxArgs),

    /// Print a shell completion script for SHELL on stdout.
    #[command(
        after_help = "Examples:\n  tenantry completions bash > ~/.local/share/bash-completion/completions/tenantry\n  tenantry completions zsh > \"${fpath[1]}/_tenantry\"\n  tenantry completions fish > ~/.config/fish/completions/tenantry.fish"
    )]
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print the manual page (roff) on stdout, or write one page per command into a directory.
    #[command(after_help = "Examples:\n  tenantry man | man -l -\n  tenantry man --out-dir /usr/local/share/man/man1")]
    Man {
        /// Write tenantry.1 and a page per command (tenantry-plan.1, ...) into DIR instead.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },

    /// Print the version and the git commit tenantry was built from (as -V/--version does).
    #[command(after_help = "Examples:\n  tenantry version\n  tenantry -V")]
    Version,
}

/// `0.1.0 (commit 1a2b3c4)`: the commit is `git rev-parse --short HEAD` at build time (build.rs),
/// `unknown` when built outside a git checkout.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("TENANTRY_GIT_COMMIT"), ")");

/// What the environment says about colour under `--color auto`: `Some(false)` for a non-empty
/// `NO_COLOR` (no-color.org), `Some(true)` for a `CLICOLOR_FORCE` that is set and not `0`
/// (bixense.com/clicolors), `None` to decide by the terminal. NO_COLOR wins when both are set,
/// as in anstream, which clap's help uses.
fn color_from_env() -> Option<bool> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if set("NO_COLOR").is_some() {
        return Some(false);
    }
    if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
        return Some(true);
    }
    None
}

/// The `--color` value on the command line (the last one wins, as clap takes it), read before
/// clap parses, so that `--help` and usage errors are coloured (or not) by it too.
fn color_from_args(args: &[std::ffi::OsString]) -> ColorChoice {
    let mut choice = ColorChoice::Auto;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let Some(a) = a.to_str() else { continue };
        if a == "--" {
            break;
        }
        let value = if a == "--color" { it.next().and_then(|v| v.to_str()) } else { a.strip_prefix("--color=") };
        if let Some(c) = value.and_then(|v| ColorChoice::from_str(v, true).ok()) {
            choice = c;
        }
    }
    choice
}

fn clap_color(choice: ColorChoice) -> clap::ColorChoice {
    match (choice, color_from_env()) {
        (ColorChoice::Always, _) | (ColorChoice::Auto, Some(true)) => clap::ColorChoice::Always,
        (ColorChoice::Never, _) | (ColorChoice::Auto, Some(false)) => clap::ColorChoice::Never,
        // anstream (clap's) takes any non-empty CLICOLOR_FORCE, `0` too, to force colour;
        // here `0` means "not forced", so with it set to 0 the terminal decides, as for output.
        (ColorChoice::Auto, None) if std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty()) => {
            if std::io::stdout().is_terminal() {
                clap::ColorChoice::Auto
            } else {
                clap::ColorChoice::Never
            }
        }
        (ColorChoice::Auto, None) => clap::ColorChoice::Auto,
    }
}

/// How the output should look, decided once from flags, the environment and the terminal.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub stdout_color: bool,
    pub stderr_color: bool,
    pub stdout_terminal: bool,
    pub stderr_terminal: bool,
    /// `-q`: no progress or notes on stderr, only errors.
    pub quiet: bool,
}

impl Output {
    pub fn detect(choice: ColorChoice, quiet: bool) -> Self {
        let env = color_from_env();
        let stdout_terminal = std::io::stdout().is_terminal();
        let stderr_terminal = std::io::stderr().is_terminal();
        let color = |tty: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => env.unwrap_or(tty),
        };
        Output {
            stdout_color: color(stdout_terminal),
            stderr_color: color(stderr_terminal),
            stdout_terminal,
            stderr_terminal,
            quiet,
        }
    }

    /// A note or progress line on stderr, unless `-q`.
    pub fn note(&self, text: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }
}

/// Set up logging on stderr. `RUST_LOG` wins over `-v`. On a terminal (and not under `-q`), a
/// progress line per vendor while it is observed.
pub fn init_tracing(global: &GlobalArgs, output: Output) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let default = match global.verbose {
        _ if global.quiet => "error",
        0 => "warn",
        1 => "info,tenantry=info",
        2 => "info,tenantry=debug",
        _ => "debug,tenantry=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    type Boxed = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false);
    let fmt: Boxed = match global.log_format {
        LogFormat::Json => Box::new(fmt.json()),
        LogFormat::Text => Box::new(fmt.with_ansi(output.stderr_color)),
    };
    // The log filter is the log lines' own: the progress follows the observe spans whatever it
    // says (they are info spans, which the default `warn` would hide).
    let progress = (output.stderr_terminal && !output.quiet && global.log_format == LogFormat::Text)
        .then(progress::ObserveProgress::new);
    let _ = tracing_subscriber::registry().with(fmt.with_filter(filter)).with(progress).try_init();
}

/// Parse, run, and turn the outcome into the process exit status.
pub fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parsed = Cli::command()
        .color(clap_color(color_from_args(&args)))
        .try_get_matches_from(&args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Usage errors exit 1, so that 2 keeps meaning "changes pending" for
            // `plan --detailed-exitcode`.
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(1),
            };
        }
    };
    let output = Output::detect(cli.global.color, cli.global.quiet);
    init_tracing(&cli.global, output);
    let result = match cli.command {
        Command::Validate(args) => validate::validate(args, output),
        Command::Schema(args) => validate::schema(args),
        Command::Show(args) => plan::show(args, output),
        Command::Status(args) => run_async(status::status(args, output)),
        Command::Tasks(args) => state::tasks(args, output),
        Command::History(args) => state::history(args, output),
        Command::ForceUnlock(args) => state::force_unlock(args),
        Command::State(args) => run_async(state::state(args, output)),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "tenantry", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { out_dir } => man(out_dir.as_deref()),
        Command::Version => {
            println!("tenantry {VERSION}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(args) => run_async(plan::plan(args, output)),
        Command::Watch(args) => run_async(watch::watch(args, output)),
        Command::Serve(args) => run_async(serve::serve(args, output)),
        Command::Apply(args) => run_async(apply::apply(args, output)),
        Command::Sandbox(args) => run_async(sandbox::sandbox(args, output)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", error_text(&e, output));
            ExitCode::from(1)
        }
    }
}

/// `tenantry man`: the page on stdout, or every command's page into `out_dir`.
fn man(out_dir: Option<&std::path::Path>) -> CliResult {
    let command = <Cli as clap::CommandFactory>::command();
    match out_dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(|e| CliError::new(format!("cannot render the manual page: {e}")))?;
            use std::io::Write;
            std::io::stdout().write_all(&page).map_err(|e| CliError::new(format!("cannot write stdout: {e}")))?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| CliError::new(format!("cannot create {}: {e}", dir.display())))?;
            clap_mangen::generate_to(command, dir)
                .map_err(|e| CliError::new(format!("cannot write the manual pages into {}: {e}", dir.display())))?;
            println!("wrote the manual pages into {}", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_async(f: impl std::future::Future<Output = CliResult>) -> CliResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(f)
}

/// An error that ends a command: its message, and a hint where one helps.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        CliError { message: message.into(), hint: None }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl<E: std::error::Error> From<E> for CliError {
    fn from(e: E) -> Self {
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            let text = s.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = s.source();
        }
        CliError::new(message)
    }
}

pub(crate) use crate::core::{Reset, paint};

pub(crate) fn error_text(e: &CliError, output: Output) -> String {
    let on = output.stderr_color;
    let red = paint(on, anstyle::AnsiColor::Red.on_default());
    let (bold, reset) = (paint(on, anstyle::Style::new().bold()), Reset(on));
    let mut s = format!("{bold}{red}error{reset}{bold}:{reset} {}", e.message);
    if let Some(h) = &e.hint {
        s.push_str(&format!("\n  {bold}hint{reset}: {h}"));
    }
    s
}

pub type CliResult = Result<ExitCode, CliError>;

/// A duration on the command line, in the one syntax of the manifests (jiff's friendly format:
/// `30s`, `10m`, `1h30m`, `500ms`, `2 hours`; see [`crate::model::parse_duration`]); a bare number
/// is seconds (`0`, `2.5`), as the flags that took seconds always read it.
pub fn duration(text: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("`{text}` is not a duration; write e.g. 30s, 10m, 1h30m or 500ms (a bare number is seconds)");
    let trimmed = text.trim();
    if let Ok(secs) = trimmed.parse::<f64>() {
        return std::time::Duration::try_from_secs_f64(secs).map_err(|_| bad());
    }
    crate::model::parse_duration(trimmed).ok_or_else(bad)
}

/// The manifest directory argument shared by commands.
#[derive(Debug, Clone, Args)]
pub struct DirArg {
    /// Manifest directory (holds tenantry.yaml, customers, resellers and profiles).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}
