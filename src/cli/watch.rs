//! `tenantry watch`: plan again on every manifest change, for the customers and resellers the
//! change touches. It never applies (`apply`, or a controller, does that).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use notify_debouncer_full::notify::{EventKind, RecursiveMode};

use super::workspace::{ConnectArgs, TargetArgs, Workspace};
use super::{CliError, CliResult, Output};
use crate::manifest::SourceMap;
use crate::model::{DesiredState, ManifestRef};
use crate::plan::render;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Manifest directory to watch (tenantry.yaml, customers, resellers and profiles).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// How long the manifests must stay unchanged before planning (an editor's save or a `git
    /// pull` is many file events: one plan), e.g. 200ms, 1s.
    #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = super::duration)]
    pub debounce: Duration,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Watch `args.dir` until Ctrl-C.
pub async fn watch(args: WatchArgs, output: Output) -> CliResult {
    let dir = args.dir.clone();
    if !dir.is_dir() {
        return Err(CliError::new(format!("{} is not a directory", dir.display()))
            .hint("give the manifest directory, e.g. `tenantry watch manifests/`"));
    }
    // Events first, so that no save between the first load and the first plan is missed.
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let mut debouncer = notify_debouncer_full::new_debouncer(args.debounce, None, move |result| {
        let _ = tx.send(result);
    })
    .map_err(|e| CliError::new(format!("cannot watch {}: {e}", dir.display())))?;
    debouncer
        .watch(&dir, RecursiveMode::Recursive)
        .map_err(|e| CliError::new(format!("cannot watch {}: {e}", dir.display())))?;

    // The manifests in force: the last ones that were valid.
    let mut good: Option<(DesiredState, SourceMap)> = load(&dir, &output);
    let mut ws: Option<Workspace> = None;
    if let Some((desired, sources)) = &good {
        let mut w = open(&dir, desired, sources, &args.connect).await?;
        let everyone = owners(desired).into_iter().collect();
        print_plan(&mut w, desired, sources, &everyone, "every customer and reseller", &output).await?;
        ws = Some(w);
    }
    output.note(format_args!("Watching {} for changes (Ctrl-C to stop)...", dir.display()));

    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let batch = tokio::select! {
            _ = &mut interrupted => break,
            batch = events.recv() => match batch {
                Some(batch) => batch,
                None => break,
            },
        };
        let changed = changed_files(&dir, batch);
        if changed.is_empty() {
            continue;
        }
        println!("\n{} changed", changed.join(", "));
        let Some((desired, sources)) = load(&dir, &output) else {
            match &good {
                Some(_) => {
                    println!("The manifests have errors (above): nothing planned; the previous ones stay in force.")
                }
                None => println!("The manifests have errors (above): nothing planned."),
            }
            continue;
        };
        let touched = match &good {
            Some((before, _)) => affected(before, &desired),
            None => owners(&desired).into_iter().collect(),
        };
        let config_changed = good.as_ref().is_none_or(|(before, _)| before.config != desired.config);
        if config_changed {
            // Connections or the state store may be others now.
            if let Some(w) = ws.take() {
                w.close().await;
            }
            ws = Some(open(&dir, &desired, &sources, &args.connect).await?);
        }
        let Some(w) = ws.as_mut() else { continue };
        let (present, removed): (BTreeSet<ManifestRef>, BTreeSet<ManifestRef>) =
            touched.into_iter().partition(|o| desired.company(o).is_some());
        for o in &removed {
            println!("{o} was removed from the manifests: `tenantry apply --prune` deletes what tenantry made for it");
        }
        if present.is_empty() {
            if removed.is_empty() {
                println!("No customer or reseller changed.");
            }
        } else {
            let what = present.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            print_plan(w, &desired, &sources, &present, &what, &output).await?;
        }
        good = Some((desired, sources));
    }
    drop(debouncer);
    if let Some(w) = ws {
        w.close().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// The manifest files a batch of debounced file events touched (see [`relevant`]); errors of
/// the watcher are logged, and touch nothing.
pub(super) fn changed_files(dir: &Path, batch: notify_debouncer_full::DebounceEventResult) -> Vec<String> {
    match batch {
        Ok(batch) => {
            relevant(dir, batch.iter().filter(|e| !matches!(e.kind, EventKind::Access(_))).flat_map(|e| e.paths.iter()))
        }
        Err(errors) => {
            for e in errors {
                tracing::warn!("watching {}: {e}", dir.display());
            }
            Vec::new()
        }
    }
}

/// The manifests, or `None` after printing their diagnostics.
pub(super) fn load(dir: &Path, output: &Output) -> Option<(DesiredState, SourceMap)> {
    match super::workspace::load_manifests(dir, output.stderr_terminal, output.stderr_color) {
        Ok(loaded) => Some(loaded),
        Err(e) => {
            eprintln!("{}", super::error_text(&e, *output));
            None
        }
    }
}

async fn open(
    dir: &Path,
    desired: &DesiredState,
    sources: &SourceMap,
    connect: &ConnectArgs,
) -> Result<Workspace, CliError> {
    Workspace::open(dir, desired.clone(), sources.clone(), connect, false).await
}

/// Plan for `selected` (and the resellers they sit under) and print it.
async fn print_plan(
    ws: &mut Workspace,
    desired: &DesiredState,
    sources: &SourceMap,
    selected: &BTreeSet<ManifestRef>,
    what: &str,
    output: &Output,
) -> Result<(), CliError> {
    let names = render::names(desired);
    let mut narrowed = desired.clone();
    let resolved = super::select::Resolved { targets: selected.iter().cloned().collect(), excludes: Vec::new() };
    super::select::narrow(&mut narrowed, &resolved);
    ws.desired = narrowed;
    ws.sources = sources.clone();
    let targets = TargetArgs { select: Default::default(), prune: false, rebind: false };
    let plan = super::plan::make(ws, &targets, &resolved, &dir_of(ws), &names).await?;
    println!("Plan for {what}:");
    print!("{}", render::text(&plan, &names, render::Style::new(output.stdout_color)));
    use std::io::Write;
    let _ = std::io::stdout().flush();
    Ok(())
}

fn dir_of(ws: &Workspace) -> PathBuf {
    ws.dir.clone()
}

/// Every customer and reseller of the manifests.
pub(super) fn owners(desired: &DesiredState) -> Vec<ManifestRef> {
    let resellers = desired.resellers.keys().map(ManifestRef::reseller);
    resellers.chain(desired.customers.keys().map(ManifestRef::customer)).collect()
}

/// The customers and resellers whose declaration differs between `before` and `after` (added,
/// changed, removed; a profile's change shows in every customer that uses it, since profiles
/// are merged into the customers they name). A change of `tenantry.yaml` touches everyone.
pub(super) fn affected(before: &DesiredState, after: &DesiredState) -> BTreeSet<ManifestRef> {
    if before.config != after.config {
        return owners(before).into_iter().chain(owners(after)).collect();
    }
    let mut out = BTreeSet::new();
    changed_keys(&before.customers, &after.customers, &mut out, |n| ManifestRef::customer(n));
    changed_keys(&before.resellers, &after.resellers, &mut out, |n| ManifestRef::reseller(n));
    out
}

fn changed_keys<T: PartialEq>(
    before: &BTreeMap<String, T>,
    after: &BTreeMap<String, T>,
    out: &mut BTreeSet<ManifestRef>,
    owner: fn(&str) -> ManifestRef,
) {
    for name in before.keys().chain(after.keys()) {
        if before.get(name) != after.get(name) {
            out.insert(owner(name));
        }
    }
}

/// The manifest files among `paths`, relative to `dir`, in order; tenantry's own files
/// (`.tenantry/`), hidden files and editors' swap files are not manifests.
pub(super) fn relevant<'a>(dir: &Path, paths: impl Iterator<Item = &'a PathBuf>) -> Vec<String> {
    let base = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut out = BTreeSet::new();
    for p in paths {
        let rel = p.strip_prefix(&base).or_else(|_| p.strip_prefix(dir)).unwrap_or(p);
        let hidden = rel.components().any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
        let yaml = matches!(rel.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
        if !hidden && yaml {
            out.insert(rel.display().to_string());
        }
    }
    out.into_iter().collect()
}
