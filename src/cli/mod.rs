//! The command line: clap definitions, and one function per command that turns parsed arguments
//! into library calls. Data goes to stdout; logs, progress and prompts go to stderr.

mod apply;
mod plan;
mod sandbox;
mod state;
mod validate;
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
#[command(name = "tenantry", version, propagate_version = true, max_term_width = 100)]
#[command(
    after_help = "Examples:\n  tenantry apply --sandbox manifests/      # everything, against the built-in simulators\n  tenantry validate manifests/\n  tenantry plan manifests/ --format markdown\n  tenantry apply --auto-approve manifests/\n  tenantry tasks -d manifests/\n\nLogs go to stderr; set RUST_LOG (e.g. RUST_LOG=tenantry=debug) or use -v for more."
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
    /// When to use colour: auto (a terminal without NO_COLOR), always or never.
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
        after_help = "Examples:\n  tenantry validate manifests/\n  tenantry validate --format json . | jq '.diagnostics[]'"
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
        after_help = "Exit status:\n  0  no errors; with --detailed-exitcode: the vendors match the manifests, nothing is pending\n  1  error: invalid manifests, a vendor that could not be observed, a held lock, bad usage\n  2  only with --detailed-exitcode: something is pending (a change, a portal task, an await,\n     a blocked action or a conflict)\n\nExamples:\n  tenantry plan --sandbox manifests/\n  tenantry plan manifests/ --format markdown > plan.md\n  tenantry plan manifests/ --out plan.json --detailed-exitcode\n  tenantry plan manifests/ --target acme --format json | jq '.actions[].reason'"
    )]
    Plan(plan::PlanArgs),

    /// Make the vendors match the manifests, or carry out a saved plan.
    ///
    /// Prints the plan, asks for confirmation (or --auto-approve), then applies it under the
    /// state lock: in dependency order, concurrently per vendor, following what it started
    /// (verifications, authorizations) for up to --wait. Safe to interrupt and re-run: creates
    /// are looked up before they are sent, so nothing is duplicated. Exit status: 0 converged,
    /// 1 when anything failed, is blocked or in conflict, 2 when the rest waits for a person or
    /// a vendor.
    #[command(
        after_help = "Exit status:\n  0  converged: nothing failed, nothing is blocked, no conflict, nothing waits\n  1  error: an action failed, an action is blocked, a conflict remains, the plan file is stale\n     or was applied already, the run was refused or interrupted, a vendor could not be observed\n  2  applied, nothing failed or is blocked, but something waits for a customer, an operator or\n     the vendor (an await, an open portal task); the next apply follows it\n\nExamples:\n  tenantry apply --sandbox manifests/\n  tenantry apply --auto-approve manifests/\n  tenantry plan manifests/ --out plan.json && tenantry apply plan.json\n  tenantry apply manifests/ --target acme --lock-timeout 5m"
    )]
    Apply(apply::ApplyArgs),

    /// Print a saved plan (from `tenantry plan --out FILE`) as `plan` printed it.
    ///
    /// Reads only the file: no vendor is observed and nothing is checked against the manifests.
    #[command(
        after_help = "Examples:\n  tenantry show plan.json\n  tenantry show plan.json --format markdown > plan.md\n  tenantry show plan.json --format json | jq .id"
    )]
    Show(plan::ShowArgs),

    /// Portal tasks: steps a vendor has no API for, with every value to enter.
    #[command(
        after_help = "Examples:\n  tenantry tasks -d manifests/\n  tenantry tasks show T-3 -d manifests/\n  tenantry tasks done T-3 --note \"done by jo, ticket 4711\" -d manifests/"
    )]
    Tasks(state::TasksArgs),

    /// What tenantry did: every executed action with time, result, vendor id and git commit.
    #[command(
        after_help = "Examples:\n  tenantry history -d manifests/\n  tenantry history -d manifests/ --customer acme --format json"
    )]
    History(state::HistoryArgs),

    /// Remove the state lock of a run that is gone (its id is printed by the run that waits).
    #[command(name = "force-unlock", after_help = "Example:\n  tenantry force-unlock 3f2a9c1b7d4e -d manifests/")]
    ForceUnlock(state::ForceUnlockArgs),

    /// The built-in sandbox: simulated vendor APIs for trying tenantry without vendor accounts.
    Sandbox(sandbox::SandboxArgs),
}

/// How the output should look, decided once from flags, the environment and the terminal.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub stdout_color: bool,
    pub stderr_color: bool,
    pub stdout_terminal: bool,
    pub stderr_terminal: bool,
}

impl Output {
    pub fn detect(choice: ColorChoice) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let stdout_terminal = std::io::stdout().is_terminal();
        let stderr_terminal = std::io::stderr().is_terminal();
        let color = |tty: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        Output {
            stdout_color: color(stdout_terminal),
            stderr_color: color(stderr_terminal),
            stdout_terminal,
            stderr_terminal,
        }
    }
}

/// Set up logging on stderr. `RUST_LOG` wins over `-v`.
pub fn init_tracing(global: &GlobalArgs, output: Output) {
    use tracing_subscriber::EnvFilter;
    let default = match global.verbose {
        0 => "warn",
        1 => "info,tenantry=info",
        2 => "info,tenantry=debug",
        _ => "debug,tenantry=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    let _ = match global.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(output.stderr_color).try_init(),
    };
}

/// Parse, run, and turn the outcome into the process exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
    let output = Output::detect(cli.global.color);
    init_tracing(&cli.global, output);
    let result = match cli.command {
        Command::Validate(args) => validate::validate(args, output),
        Command::Schema(args) => validate::schema(args),
        Command::Show(args) => plan::show(args, output),
        Command::Tasks(args) => state::tasks(args, output),
        Command::History(args) => state::history(args),
        Command::ForceUnlock(args) => state::force_unlock(args),
        Command::Plan(args) => run_async(plan::plan(args, output)),
        Command::Apply(args) => run_async(apply::apply(args, output)),
        Command::Sandbox(args) => run_async(sandbox::sandbox(args)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", error_text(&e, output));
            ExitCode::from(1)
        }
    }
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

fn error_text(e: &CliError, output: Output) -> String {
    let (red, bold, reset) = if output.stderr_color { ("\x1b[31m", "\x1b[1m", "\x1b[0m") } else { ("", "", "") };
    let mut s = format!("{bold}{red}error{reset}{bold}:{reset} {}", e.message);
    if let Some(h) = &e.hint {
        s.push_str(&format!("\n  {bold}hint{reset}: {h}"));
    }
    s
}

pub type CliResult = Result<ExitCode, CliError>;

/// The manifest directory argument shared by commands.
#[derive(Debug, Clone, Args)]
pub struct DirArg {
    /// Manifest directory (holds tenantry.yaml, customers, resellers and profiles).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}
