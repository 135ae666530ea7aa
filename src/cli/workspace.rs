//! What `plan` and `apply` share: the manifests, the state store, the vendor connections (real,
//! or the sandbox's), the secrets and how portal tasks are delivered.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::{CliError, Output};
use crate::engine::Vendors;
use crate::manifest::SourceMap;
use std::collections::BTreeMap;

use crate::model::{DesiredState, Limits, PortalTaskDelivery, Vendor};
use crate::sandbox::{Options, Sandbox, Urls};
use crate::secrets::Secrets;
use crate::state::StateStore;

/// Flags shared by `plan` and `apply`.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    #[command(flatten)]
    pub select: super::select::SelectArgs,
    /// Delete owned vendor objects whose manifest is gone (also `policies.prune` in tenantry.yaml).
    #[arg(long)]
    pub prune: bool,
    /// After losing the state store: take objects that match the manifests by natural key and
    /// by the values tenantry entered (a Datto client's name, an AvePoint organization) to be
    /// tenantry's, for customers and resellers the store holds nothing for, even where no
    /// owner marker at another vendor confirms it. Each appears as an `adopt` to review.
    #[arg(long)]
    pub rebind: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Run against the built-in sandbox instead of the real vendors: simulated vendor APIs on
    /// 127.0.0.1, their state kept in DIR/.tenantry/sandbox/ (separate from the real state).
    #[arg(long)]
    pub sandbox: bool,
    /// Use a sandbox already running (`tenantry sandbox serve`), by its admin URL.
    #[arg(long, value_name = "URL", env = "TENANTRY_SANDBOX_URL")]
    pub sandbox_url: Option<String>,
    /// State store URL (default: state.url in tenantry.yaml, else sqlite:.tenantry/state.db in
    /// the manifest directory; with --sandbox, sqlite:.tenantry/sandbox/state.db).
    #[arg(long, value_name = "URL", env = "TENANTRY_STATE")]
    pub state: Option<String>,
}

impl ConnectArgs {
    pub fn sandboxed(&self) -> bool {
        self.sandbox || self.sandbox_url.is_some()
    }
}

/// Everything a run works with.
pub struct Workspace {
    pub dir: PathBuf,
    pub desired: DesiredState,
    pub sources: SourceMap,
    pub store: Arc<dyn StateStore>,
    pub vendors: Vendors,
    pub secrets: Arc<Secrets>,
    pub delivery: PortalTaskDelivery,
    /// Per vendor: request rate and concurrency (from the connections).
    pub limits: BTreeMap<Vendor, Limits>,
    /// The in-process sandbox, kept alive for the run.
    pub sandbox: Option<Sandbox>,
    /// The sandbox's admin URL, when running against one.
    pub sandbox_admin: Option<String>,
    /// How far the clock plans are made with is ahead of this machine's: zero, except in a
    /// sandbox whose clock was moved (`/_sandbox/clock`), whose time is the vendors' time.
    pub skew: jiff::SignedDuration,
}

impl Workspace {
    /// The time plans are made at.
    pub fn now(&self) -> jiff::Timestamp {
        crate::engine::now_with(self.skew)
    }
}

/// Load the manifests, refusing (with every diagnostic on stderr) when they have errors.
pub fn load_manifests(dir: &Path, terminal: bool, color: bool) -> Result<(DesiredState, SourceMap), CliError> {
    let loaded = super::validate::load(dir)?;
    if loaded.has_errors() {
        eprint!("{}", super::validate::render_diagnostics(&loaded, dir, terminal, color));
        return Err(CliError::new(format!(
            "{} has {} error(s) in its manifests; nothing was planned",
            dir.display(),
            loaded.error_count()
        ))
        .hint(format!("`tenantry validate {}` lists them", dir.display())));
    }
    let shown = super::validate::shown_sources(&loaded, dir);
    for d in &loaded.diagnostics {
        tracing::warn!("{}", crate::manifest::diag::render_plain(std::slice::from_ref(d), &shown).trim_end());
    }
    let desired = loaded.desired.ok_or_else(|| CliError::new("the manifests could not be read"))?;
    Ok((desired, loaded.sources))
}

impl Workspace {
    /// Open everything for `dir`. `operator`: in the sandbox, deliver portal tasks to the
    /// simulated operator (otherwise they are only recorded).
    pub async fn open(
        dir: &Path,
        desired: DesiredState,
        sources: SourceMap,
        connect: &ConnectArgs,
        operator: bool,
    ) -> Result<Workspace, CliError> {
        let config = desired.config.clone();
        if connect.sandboxed() {
            let (sandbox, urls, options, sandbox_now) = match &connect.sandbox_url {
                Some(url) => {
                    let (urls, options, now) = sandbox_info(url).await?;
                    (None, urls, options, now)
                }
                None => {
                    let sandbox_dir = dir.join(".tenantry").join("sandbox");
                    let options = Options { state_file: Some(sandbox_dir.join("world.json")), ..Options::default() };
                    let sandbox = Sandbox::start(options.clone()).await.map_err(|e| {
                        CliError::new(format!("cannot start the sandbox: {e}"))
                            .hint(format!("remove {} to start from an empty sandbox", sandbox_dir.display()))
                    })?;
                    let urls = sandbox.urls.clone();
                    let now = sandbox.shared.now();
                    (Some(sandbox), urls, options, now)
                }
            };
            let (connections, values) = crate::sandbox::connections(&urls, &options);
            let secrets = Arc::new(Secrets::new(dir, true).with_values(values));
            let vendors = Vendors::connect(&connections, &secrets);
            let url = connect.state.clone().unwrap_or_else(|| "sqlite:.tenantry/sandbox/state.db".to_string());
            let store = open_store(&url, dir)?;
            let delivery = if operator {
                let exe = std::env::current_exe()
                    .map_err(|e| CliError::new(format!("cannot find the tenantry executable: {e}")))?;
                PortalTaskDelivery::Command {
                    program: exe.display().to_string(),
                    args: vec!["sandbox".into(), "operator".into(), "--url".into(), urls.admin.clone()],
                }
            } else {
                PortalTaskDelivery::Record
            };
            return Ok(Workspace {
                dir: dir.to_path_buf(),
                desired,
                sources,
                store,
                vendors,
                secrets,
                delivery,
                limits: connections.iter().map(|(v, c)| (*v, c.limits)).collect(),
                sandbox,
                skew: sandbox_now.duration_since(jiff::Timestamp::now()),
                sandbox_admin: Some(urls.admin),
            });
        }
        let secrets = Arc::new(Secrets::new(dir, false));
        let vendors = Vendors::connect(&config.connections, &secrets);
        let url =
            connect.state.clone().or(config.state_url.clone()).unwrap_or_else(|| crate::state::DEFAULT_URL.into());
        let store = open_store(&url, dir)?;
        Ok(Workspace {
            dir: dir.to_path_buf(),
            desired,
            sources,
            store,
            vendors,
            secrets,
            delivery: config.portal_tasks.clone(),
            limits: config.connections.iter().map(|(v, c)| (*v, c.limits)).collect(),
            sandbox: None,
            sandbox_admin: None,
            skew: jiff::SignedDuration::ZERO,
        })
    }

    /// Stop the in-process sandbox (it saves its state as it goes).
    pub async fn close(self) {
        if let Some(s) = self.sandbox {
            s.stop().await;
        }
    }
}

/// Open the state store at `url` (relative paths against the manifest directory).
pub fn open_store(url: &str, dir: &Path) -> Result<Arc<dyn StateStore>, CliError> {
    crate::state::open(url, dir).map_err(|e| {
        CliError::from(e).hint("state URLs look like sqlite:.tenantry/state.db (relative to the manifest directory)")
    })
}

/// Ask a running sandbox where its simulators listen, how they behave, and what time it is
/// there (its clock may have been moved).
pub async fn sandbox_info(admin: &str) -> Result<(Urls, Options, jiff::Timestamp), CliError> {
    let url = format!("{}/_sandbox/info", admin.trim_end_matches('/'));
    let client = crate::provider::http::client_builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| CliError::new(e.to_string()))?;
    let hint = "start one with `tenantry sandbox serve`, which prints its admin URL";
    let resp = client.get(&url).send().await.map_err(|e| {
        CliError::new(format!("cannot reach the sandbox at {admin}: {}", crate::provider::describe_reqwest(&e)))
            .hint(hint)
    })?;
    let body: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| CliError::new(format!("{url} did not answer like a tenantry sandbox: {e}")).hint(hint))?;
    let urls: Urls = serde_json::from_value(body["urls"].clone())
        .map_err(|e| CliError::new(format!("{url} did not answer like a tenantry sandbox: {e}")))?;
    let options: Options = serde_json::from_value(body["options"].clone())
        .map_err(|e| CliError::new(format!("{url} did not answer like a tenantry sandbox: {e}")))?;
    // A sandbox from before the clock was reported: its clock is this machine's.
    let now = body["now"].as_str().and_then(|t| t.parse().ok()).unwrap_or_else(jiff::Timestamp::now);
    Ok((urls, options, now))
}

/// Take a state lock on `scope` for this command, as `apply` and `state forget` do: waiting up
/// to `timeout` for a run holding a conflicting one (said once on stderr), warning when a dead
/// run's lock is taken over, and the lock error's hint kept. Write through the guard's
/// [`store`](crate::state::lock::LockGuard::store): its writes are fenced by the lock.
pub async fn lock(
    store: Arc<dyn StateStore>,
    scope: crate::state::LockScope,
    timeout: std::time::Duration,
    output: Output,
) -> Result<crate::state::lock::LockGuard, CliError> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let waiting = |holder: &crate::state::LockInfo| {
        output.note(format_args!(
            "Waiting up to {} for the state lock held by {holder}...",
            crate::model::format_duration(timeout)
        ))
    };
    let (lock, taken) =
        crate::state::lock::acquire(store, &command, scope, timeout, std::time::Duration::from_secs(60), waiting)
            .await
            .map_err(|e| {
                let hint = e.hint();
                let err = CliError::from(e);
                match hint {
                    Some(h) => err.hint(h),
                    None => err,
                }
            })?;
    for t in taken {
        eprintln!("warning: took over the state lock of {} ({})", t.previous, t.why);
    }
    Ok(lock)
}
