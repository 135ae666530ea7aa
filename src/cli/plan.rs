//! `tenantry plan`: observe the vendors, compare with the manifests, print what apply would do.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::workspace::{self, ConnectArgs, TargetArgs, Workspace};
use super::{CliError, CliResult, Output};
use crate::plan::{Plan, PlanOptions, json, render};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Manifest directory (holds tenantry.yaml, customers, resellers and profiles).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Output format on stdout: text (for people and logs), markdown (for pull-request comments)
    /// or json (the documented plan format, schemas/plan.schema.json).
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Also save the plan (JSON) to FILE, for `tenantry apply FILE`. It holds no secret.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Largest Markdown plan, in characters (default 60000, under GitHub's 65536 per comment):
    /// past it, owners' details are left out and named, and the summary table still counts
    /// everything. Save the full plan with --out.
    #[arg(long, value_name = "CHARS", default_value_t = render::DEFAULT_MARKDOWN_BUDGET as u64,
          value_parser = clap::value_parser!(u64).range(render::MIN_MARKDOWN_BUDGET as u64..))]
    pub markdown_budget: u64,
    /// Exit 2 when anything is pending (changes, portal tasks, awaits, blocked actions,
    /// conflicts), 0 only when the vendors match the manifests; 1 stays "error".
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub targets: TargetArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Markdown,
    Json,
}

pub async fn plan(args: PlanArgs, output: Output) -> CliResult {
    let (mut desired, sources) = workspace::load_manifests(&args.dir, output.stderr_terminal, output.stderr_color)?;
    let names = render::names(&desired);
    let selected = super::select::resolve(&desired, &args.targets.select)?;
    super::select::narrow(&mut desired, &selected);
    let ws = Workspace::open(&args.dir, desired, sources, &args.connect, false).await?;
    let result = make_verifying(&ws, &args.targets, &selected, &args.dir, &names, args.out.is_some()).await;
    ws.close().await;
    let plan = result?;

    match args.format {
        PlanFormat::Text => print!("{}", render::text(&plan, &names, render::Style::new(output.stdout_color))),
        PlanFormat::Markdown => {
            let options = render::MarkdownOptions {
                budget: usize::try_from(args.markdown_budget).unwrap_or(usize::MAX),
                full_plan: args.out.as_ref().map(|p| p.display().to_string()),
            };
            print!("{}", render::markdown_with(&plan, &names, &options))
        }
        PlanFormat::Json => print!("{}", json::render(&plan)),
    }
    if let Some(out) = &args.out {
        save(&plan, out)?;
        output.note(format_args!(
            "Saved the plan to {}; apply exactly it with `tenantry apply {}`.",
            out.display(),
            out.display()
        ));
    }
    if !plan.unavailable.is_empty() {
        let vendors: Vec<String> = plan.unavailable.keys().map(|v| v.to_string()).collect();
        return Err(CliError::new(format!("the plan is incomplete: {} could not be observed", vendors.join(", ")))
            .hint("the reasons are printed above; try --sandbox to run against the built-in simulators"));
    }
    if !plan.unreadable.is_empty() {
        let keys: Vec<&str> = plan.unreadable.keys().map(String::as_str).collect();
        return Err(CliError::new(format!("the plan is incomplete: {} could not be read", keys.join(", ")))
            .hint("the reasons are printed above; the rest is planned, and the next plan reads them again"));
    }
    Ok(if args.detailed_exitcode && plan.is_pending() { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan file saved by `tenantry plan --out FILE`.
    #[arg(value_name = "PLANFILE")]
    pub file: PathBuf,
    /// Output format on stdout, as for `tenantry plan`.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

/// `tenantry show PLANFILE`: print a saved plan with the renderers `plan` uses.
pub fn show(args: ShowArgs, output: Output) -> CliResult {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| CliError::new(format!("cannot read {}: {e}", args.file.display())))?;
    let plan = json::parse(&text).map_err(|e| CliError::new(format!("{}: {e}", args.file.display())))?;
    match args.format {
        PlanFormat::Text => print!("{}", render::text(&plan, &plan.names, render::Style::new(output.stdout_color))),
        PlanFormat::Markdown => print!("{}", render::markdown(&plan, &plan.names)),
        PlanFormat::Json => print!("{}", json::render(&plan)),
    }
    if !plan.id.is_empty() && plan.id != plan.content_id() {
        eprintln!("warning: {} was changed after it was made; `tenantry apply` refuses it", args.file.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The plan for a workspace, with the CLI's options, the names of its owners, and its id.
pub async fn make(
    ws: &Workspace,
    targets: &TargetArgs,
    selected: &super::select::Resolved,
    dir: &Path,
    names: &render::Names,
) -> Result<Plan, CliError> {
    make_verifying(ws, targets, selected, dir, names, false).await
}

/// As [`make`]; `saved`: the plan is saved to apply later (see [`crate::engine::make_plan_verifying`]).
pub async fn make_verifying(
    ws: &Workspace,
    targets: &TargetArgs,
    selected: &super::select::Resolved,
    dir: &Path,
    names: &render::Names,
    saved: bool,
) -> Result<Plan, CliError> {
    let state = ws.store.snapshot().map_err(CliError::from)?;
    let options = PlanOptions {
        prune: targets.prune || ws.desired.config.policies.prune,
        targets: selected.target_names(),
        excludes: selected.exclude_names(),
        rebind: targets.rebind,
        sandbox: ws.sandbox_admin.is_some(),
    };
    let mut plan =
        crate::engine::make_plan_verifying(&ws.desired, &ws.sources, &ws.vendors, &state, options, ws.now(), saved)
            .await;
    plan.manifests_dir = Some(dir.display().to_string());
    plan.names =
        plan.actions.iter().filter_map(|a| names.get(&a.key.owner).map(|n| (a.key.owner.clone(), n.clone()))).collect();
    plan.seal();
    Ok(plan)
}

/// Write a plan file atomically.
pub fn save(plan: &Plan, path: &Path) -> Result<(), CliError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, json::render(plan))
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| CliError::new(format!("cannot write the plan to {}: {e}", path.display())))
}
