//! `tenantry validate` and `tenantry schema`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{CliError, CliResult, DirArg, Output};
use crate::manifest::{self, Loaded, diag};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Output format: text (snippets on a terminal, plain lines otherwise), json, or github
    /// (GitHub Actions annotations: `::error file=...,line=...,col=...::message`).
    #[arg(long, value_enum, default_value_t = DiagnosticFormat::Text)]
    pub format: DiagnosticFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagnosticFormat {
    Text,
    Json,
    Github,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Check that the schema files are up to date instead of writing them (exit 1 if not).
    #[arg(long)]
    pub check: bool,
    /// Directory of the schema files.
    #[arg(long, default_value = "schemas")]
    pub dir: PathBuf,
}

pub fn validate(args: ValidateArgs, output: Output) -> CliResult {
    let loaded = load(&args.dir.dir)?;
    let sources = shown_sources(&loaded, &args.dir.dir);
    match args.format {
        DiagnosticFormat::Json => println!("{}", diag::render_json(&loaded.diagnostics, &sources)),
        DiagnosticFormat::Text | DiagnosticFormat::Github => {
            if args.format == DiagnosticFormat::Github {
                print!("{}", diag::render_github(&loaded.diagnostics, &sources));
            } else {
                print!("{}", render_diagnostics(&loaded, &args.dir.dir, output.stdout_terminal, output.stdout_color));
            }
            match &loaded.desired {
                Some(d) => println!(
                    "{} is valid: {} resellers, {} customers, {} profiles",
                    args.dir.dir.display(),
                    d.resellers.len(),
                    d.customers.len(),
                    d.profiles.len()
                ),
                None => println!("{} has {} error(s)", args.dir.dir.display(), loaded.error_count()),
            }
        }
    }
    Ok(if loaded.has_errors() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Read the manifest directory, turning a missing directory into a clear error.
pub fn load(dir: &std::path::Path) -> Result<Loaded, CliError> {
    manifest::load_dir(dir).map_err(|e| {
        let hint = match e {
            manifest::LoadError::NotFound { .. } => {
                "pass the directory that holds tenantry.yaml, e.g. `tenantry validate manifests/`"
            }
            _ => "check the path and its permissions",
        };
        CliError::from(e).hint(hint)
    })
}

/// Diagnostics as snippets on a terminal, as plain lines otherwise, with paths relative to the
/// working directory.
pub fn render_diagnostics(loaded: &Loaded, dir: &Path, terminal: bool, color: bool) -> String {
    let sources = shown_sources(loaded, dir);
    if terminal {
        diag::render_snippets(&loaded.diagnostics, &sources, color)
    } else {
        diag::render_plain(&loaded.diagnostics, &sources)
    }
}

/// The manifest files named as the user can open them from where they stand (terminals and CI
/// link `manifests/customers/acme.yaml:12:5`), not relative to the manifest directory. Only for
/// showing: plans keep fingerprints by manifest-relative path, whatever the working directory.
pub fn shown_sources(loaded: &Loaded, dir: &Path) -> manifest::SourceMap {
    loaded.sources.rebased(&relative_to_cwd(dir))
}

/// `dir` relative to the working directory where it lies below it, else as given; without
/// leading `./`.
pub fn relative_to_cwd(dir: &Path) -> PathBuf {
    if dir.is_absolute() {
        return std::env::current_dir()
            .ok()
            .and_then(|cwd| dir.strip_prefix(&cwd).ok().map(Path::to_path_buf))
            .unwrap_or_else(|| dir.to_path_buf());
    }
    dir.components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect()
}

pub fn schema(args: SchemaArgs) -> CliResult {
    let mut files = manifest::schema::generate();
    files.push(crate::plan::json::schema_file());
    if args.check {
        let mut stale = Vec::new();
        for (name, content) in &files {
            let path = args.dir.join(name);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
                stale.push(path.display().to_string());
            }
        }
        if stale.is_empty() {
            println!("{} schema files in {} are up to date", files.len(), args.dir.display());
            return Ok(ExitCode::SUCCESS);
        }
        return Err(CliError::new(format!("schema files are out of date: {}", stale.join(", ")))
            .hint("run `tenantry schema` (cargo run -- schema) and commit the result"));
    }
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| CliError::new(format!("cannot create {}: {e}", args.dir.display())))?;
    for (name, content) in &files {
        let path = args.dir.join(name);
        std::fs::write(&path, content).map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
