//! The controller: reconcile customers and resellers in passes, decide when each is looked at
//! again, hold back the drift its policy says to report, and count what happened.
//!
//! A *pass* takes the owners that are due, locks them (skipping those another run holds),
//! observes the vendors once for all of them (their list pages, never one read per customer
//! beyond what a plan needs anyway), plans and executes in rounds, and returns a report per
//! owner. That core is [`reconcile`]; `apply` is one run of it over the owners it selects. [`Schedule`] turns each report into the owner's next look: the resync
//! interval when it converged, a short poll while a vendor completes something, a longer one
//! while a person must act (a consent, a portal task), and a growing, jittered backoff after a
//! failure, reset by the next success. A failing owner never holds up the others: they are
//! planned and executed in the same pass, and only the failing one backs off.
//!
//! **Drift.** An owner whose declaration is unchanged since it was last reconciled in full (the
//! fingerprint [`fingerprint`] recorded in the state store) but whose plan has `sync` actions
//! has drifted at the vendor: someone changed it there. Under [`DriftPolicy::Report`] those
//! actions are held back (blocked, with the reason) and reported; under
//! [`DriftPolicy::Correct`] they run, per owner ([`drift_policy`]). A changed declaration is
//! always applied.

pub mod metrics;
pub mod notify;
pub mod rounds;
pub mod schedule;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::apply::{Executor, Outcomed, Progress};
use crate::core::{ActionKind, Party};
use crate::engine::Vendors;
use crate::manifest::SourceMap;
use crate::model::{DesiredState, Limits, ManifestRef, OwnerKind, PortalTaskDelivery, Vendor};
use crate::plan::{Plan, PlanOptions};
use crate::secrets::Secrets;
use crate::state::{LockScope, StateStore};

pub use rounds::{Converge, FAILED_EARLIER, Round, Stopped, converge};
pub use schedule::{Schedule, Timing};

pub use crate::model::DriftPolicy;

/// The drift policy in force for `owner`: its manifest's `spec.drift`, else the command line's
/// (`serve --drift`), else `policies.drift` in tenantry.yaml, else `report`.
pub fn drift_policy(desired: &DesiredState, owner: &ManifestRef, flag: Option<DriftPolicy>) -> DriftPolicy {
    let own = match owner.kind {
        OwnerKind::Customer => desired.customers.get(&owner.name).and_then(|c| c.drift),
        OwnerKind::Reseller => desired.resellers.get(&owner.name).and_then(|r| r.drift),
    };
    own.or(flag).or(desired.config.policies.drift).unwrap_or_default()
}

/// The reason a held-back drift action carries (and how reports recognise it).
pub const DRIFT: &str = "drift at the vendor";

/// The fingerprint of what `owner` declares (with `tenantry.yaml`, whose connections and
/// policies shape its objects); `None` when the manifests no longer declare it.
pub fn fingerprint(desired: &DesiredState, owner: &ManifestRef) -> Option<String> {
    // The drift policy is how serve treats the vendors, not what they should hold: switching
    // it is not a change to apply.
    let declared = match owner.kind {
        OwnerKind::Customer => {
            serde_json::to_vec(&crate::model::Customer { drift: None, ..desired.customers.get(&owner.name)?.clone() })
        }
        OwnerKind::Reseller => {
            serde_json::to_vec(&crate::model::Reseller { drift: None, ..desired.resellers.get(&owner.name)?.clone() })
        }
    }
    .ok()?;
    let mut config = desired.config.clone();
    config.policies.drift = None;
    let config = serde_json::to_vec(&config).ok()?;
    let mut h = Sha256::new();
    h.update(&config);
    h.update([0]);
    h.update(&declared);
    Some(format!("{:x}", h.finalize())[..16].to_string())
}

/// Hold back (block, with the reason) the `sync` actions of owners whose declaration is the one
/// last reconciled: what they would change was changed at the vendor, not in the manifests.
/// Returns how many actions were held back.
pub fn hold_drift(
    plan: &mut Plan,
    reconciled: &BTreeMap<ManifestRef, String>,
    current: &BTreeMap<ManifestRef, String>,
    report: impl Fn(&ManifestRef) -> bool,
) -> usize {
    let mut held = 0;
    for a in plan.actions.iter_mut().filter(|a| a.kind == ActionKind::Sync && a.is_executable()) {
        let owner = &a.key.owner;
        if report(owner) && reconciled.get(owner).is_some_and(|r| current.get(owner) == Some(r)) {
            let fields: Vec<&str> = a.changes.iter().map(|c| c.field.as_str()).collect();
            a.blocked = Some(format!(
                "{DRIFT}: {} changed there since it was last applied, and the manifests did not change; drift policy `report` leaves it as it is",
                fields.join(", ")
            ));
            a.hint = Some(
                "put it back at the vendor, declare the vendor's value in the manifest, or set the drift policy to correct (`spec.drift`, `serve --drift`, `policies.drift`), or run `tenantry apply --target`".into(),
            );
            held += 1;
        }
    }
    held
}

/// Everything a pass works with (a `cli::Workspace` without the manifests).
pub struct Context {
    pub store: Arc<dyn StateStore>,
    pub vendors: Vendors,
    pub secrets: Arc<Secrets>,
    pub limits: BTreeMap<Vendor, Limits>,
    pub delivery: PortalTaskDelivery,
    pub skew: jiff::SignedDuration,
    pub sandbox: bool,
    /// Whose work a pass follows within its rounds (see [`Converge::follow`]).
    pub follow: BTreeSet<Party>,
    pub progress: Arc<dyn Progress>,
    /// Set on shutdown: actions in flight finish, no new one starts.
    pub stop: Arc<AtomicBool>,
    /// Recorded in history with every action.
    pub commit: Option<String>,
    /// How this process names itself in the locks it takes.
    pub command: String,
}

/// What a pass found for one owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerReport {
    pub done: usize,
    /// Failed actions (titles with the message), and objects that could not be read.
    pub failed: Vec<String>,
    /// Waiting for the vendor's own processing.
    pub waiting_vendor: usize,
    /// Waiting for a person: a customer's consent or activation, an operator's portal task.
    pub waiting_person: usize,
    /// Drift held back by the policy: `vendor title: fields`.
    pub drifted: Vec<String>,
    /// Blocked for another reason (a conflict, a vendor rule): needs a change.
    pub blocked: Vec<String>,
    /// Waits that lasted longer than the vendor's usual time: `vendor title: reason`.
    pub overdue: Vec<String>,
}

impl OwnerReport {
    pub fn failed(&self) -> bool {
        !self.failed.is_empty()
    }
}

/// The outcome of one pass.
#[derive(Debug, Default)]
pub struct PassReport {
    pub owners: BTreeMap<ManifestRef, OwnerReport>,
    /// Due owners another run holds a lock on: left for the next look.
    pub locked: BTreeSet<ManifestRef>,
    /// Why the pass as a whole did not run or stopped (the state store, a refused guard, a lost
    /// lock, a vendor that could not be observed); its owners count as failed.
    pub error: Option<String>,
    /// Every round's actions, for the metrics: (vendor, kind, result).
    pub actions: Vec<(Vendor, ActionKind, &'static str)>,
    pub interrupted: bool,
}

/// Reconcile `due` (owners the manifests declare) in one pass.
pub async fn pass(
    ctx: &Context,
    desired: &DesiredState,
    sources: &SourceMap,
    due: &BTreeSet<ManifestRef>,
    policy: Option<DriftPolicy>,
) -> PassReport {
    let mut report = PassReport::default();
    // What another run holds is left alone (a CI `apply --target` goes ahead, serve takes the
    // owner at its next look).
    let held: Vec<LockScope> = match ctx.store.locks() {
        Ok(locks) => locks.into_iter().map(|l| l.scope).collect(),
        Err(e) => return failed_pass(report, due, format!("cannot read the state locks: {e}")),
    };
    let free = |o: &ManifestRef| {
        !held.iter().any(|s| match s {
            LockScope::All => true,
            LockScope::Owners(set) => set.contains(o) || desired.needs(o).iter().any(|r| set.contains(r)),
        })
    };
    let (run, locked): (BTreeSet<ManifestRef>, BTreeSet<ManifestRef>) = due.iter().cloned().partition(|o| free(o));
    report.locked = locked;
    if run.is_empty() {
        return report;
    }
    let scope = {
        let under: Vec<ManifestRef> = run.iter().flat_map(|o| desired.needs(o)).collect();
        LockScope::owners(run.iter().cloned(), desired).with(under)
    };
    let lock = match crate::state::lock::acquire(
        ctx.store.clone(),
        &ctx.command,
        scope,
        Duration::ZERO,
        Duration::from_secs(60),
        |_| {},
    )
    .await
    {
        Ok((lock, _)) => lock,
        Err(e) => {
            // Taken between the look and the take: the next look tries again.
            tracing::info!("serve: the state lock for this pass is taken ({e}); trying again later");
            report.locked.extend(run);
            return report;
        }
    };
    let mut narrowed = desired.clone();
    narrowed.retain(|r| run.contains(r));
    let reconciled = match ctx.store.reconciled() {
        Ok(r) => r,
        Err(e) => return failed_pass(report, &run, format!("cannot read the state: {e}")),
    };
    let current: BTreeMap<ManifestRef, String> =
        run.iter().filter_map(|o| Some((o.clone(), fingerprint(desired, o)?))).collect();
    let report_only: BTreeSet<ManifestRef> =
        run.iter().filter(|o| drift_policy(desired, o, policy) == DriftPolicy::Report).cloned().collect();
    let hold = |plan: &mut Plan| {
        hold_drift(plan, &reconciled, &current, |o| report_only.contains(o));
    };

    let mut exec = Executor::new(ctx.vendors.clone(), lock.store(), ctx.secrets.clone());
    exec.limits = ctx.limits.clone();
    exec.delivery = ctx.delivery.clone();
    exec.progress = ctx.progress.clone();
    exec.skew = ctx.skew;
    exec.stop = ctx.stop.clone();
    exec.commit = ctx.commit.clone();
    let exec = Arc::new(exec);
    for m in exec.redeliver().await {
        tracing::info!("{m}");
    }
    let input = Converge {
        desired: &narrowed,
        sources,
        options: PlanOptions {
            prune: false,
            targets: run.iter().map(ToString::to_string).collect(),
            excludes: Vec::new(),
            rebind: false,
            sandbox: ctx.sandbox,
        },
        allow_irreversible: false,
        // Nothing is sat out inside a pass: what waits is looked at again on its own schedule.
        wait: Duration::ZERO,
        max_rounds: 25,
        first: None,
        follow: ctx.follow.clone(),
        skew: ctx.skew,
        adjust: Some(&hold),
    };
    let done = reconcile(&exec, &input, &run).await;
    report.interrupted = matches!(done.stopped, Stopped::Interrupted);
    for r in done.rounds.iter().flat_map(|r| r.report.results.iter()) {
        report.actions.push((r.key.vendor, r.kind, result_word(&r.outcome)));
    }
    report.error = done.error;
    report.owners = done.owners;
    drop(lock);
    report
}

/// What [`reconcile`] did: every round, why it stopped, and per owner what it found (from which
/// its next look follows: [`Schedule::after`]).
pub struct Reconciled {
    pub rounds: Vec<Round>,
    pub stopped: Stopped,
    pub owners: BTreeMap<ManifestRef, OwnerReport>,
    /// Why the run as a whole stopped short (a refused guard, vendors that did not keep what was
    /// applied, a vendor that could not be observed); the owners it touches count as failed.
    pub error: Option<String>,
}

/// The reconciler core, which `apply` runs once over the owners it selects and `serve` runs in
/// every pass over the owners that are due: plan and execute `owners` in rounds ([`converge`]),
/// say per owner what was done and what is left (waiting, drifted, blocked, failed), and record
/// the owners reconciled in full, so that a later `sync` planned for them while their manifests
/// stay as they are is known as drift. `exec` writes through the lock its caller holds on
/// `owners` (and what they are planned against).
pub async fn reconcile(exec: &Arc<Executor>, input: &Converge<'_>, owners: &BTreeSet<ManifestRef>) -> Reconciled {
    let (rounds, stopped) = converge(exec, input, |_, _, _| {}).await;
    let mut found = summarize(owners, &rounds);
    let mut error = match &stopped {
        Stopped::Refused(why) => Some(why.clone()),
        Stopped::NotConverging(ids) => Some(format!("the vendors did not keep what was applied: {}", ids.join(", "))),
        _ => None,
    };
    if let Some(why) = &error {
        for o in found.values_mut() {
            o.failed.push(why.clone());
        }
    }
    if let Some(plan) = rounds.last().map(|r| &r.plan)
        && !plan.unavailable.is_empty()
    {
        let why: Vec<String> = plan.unavailable.iter().map(|(v, w)| format!("{v}: {w}")).collect();
        error = Some(format!("could not observe {}", why.join("; ")));
        for (o, r) in found.iter_mut() {
            if uses_any(input.desired, o, plan.unavailable.keys()) {
                r.failed.push(format!("could not be observed: {}", why.join("; ")));
            }
        }
    }
    if stopped != Stopped::Interrupted {
        record(&*exec.store, input.desired, &found);
    }
    Reconciled { rounds, stopped, owners: found, error }
}

/// Record, for each owner whose report shows nothing failed or blocked, that its declaration is
/// reconciled: from now on a `sync` planned for it while its manifest stays as it is, is drift.
/// `apply` records it too, so a `serve` after a CI apply tells drift from the applied change.
/// An owner already recorded with the same fingerprint is not written again.
pub fn record(store: &dyn StateStore, desired: &DesiredState, owners: &BTreeMap<ManifestRef, OwnerReport>) {
    let recorded = store.reconciled().unwrap_or_default();
    for (o, r) in owners {
        if r.failed() || !r.blocked.is_empty() {
            continue;
        }
        if let Some(fp) = fingerprint(desired, o)
            && recorded.get(o) != Some(&fp)
            && let Err(e) = store.set_reconciled(o, &fp, jiff::Timestamp::now())
        {
            tracing::warn!("could not record that {o} is reconciled: {e}");
        }
    }
}

fn failed_pass(mut report: PassReport, owners: &BTreeSet<ManifestRef>, why: String) -> PassReport {
    for o in owners {
        report.owners.entry(o.clone()).or_default().failed.push(why.clone());
    }
    report.error = Some(why);
    report
}

/// Whether `owner` declares a service at any of `vendors`.
fn uses_any<'a>(desired: &DesiredState, owner: &ManifestRef, mut vendors: impl Iterator<Item = &'a Vendor>) -> bool {
    let services = match owner.kind {
        OwnerKind::Customer => desired.customers.get(&owner.name).map(|c| &c.services),
        OwnerKind::Reseller => desired.resellers.get(&owner.name).map(|r| &r.services),
    };
    let declared = services.map(crate::model::Services::vendors).unwrap_or_default();
    vendors.any(|v| declared.contains(v))
}

fn result_word(o: &Outcomed) -> &'static str {
    match o {
        Outcomed::Done(_) => "ok",
        Outcomed::Pending(_) => "pending",
        Outcomed::Failed { .. } => "failed",
        Outcomed::Skipped(_) => "skipped",
    }
}

/// Per owner of `owners`: what the rounds did, and what the last plan leaves waiting, drifted or
/// blocked.
pub fn summarize(owners: &BTreeSet<ManifestRef>, rounds: &[Round]) -> BTreeMap<ManifestRef, OwnerReport> {
    let mut out: BTreeMap<ManifestRef, OwnerReport> =
        owners.iter().map(|o| (o.clone(), OwnerReport::default())).collect();
    for r in rounds.iter().flat_map(|r| r.report.results.iter()) {
        let Some(o) = out.get_mut(&r.key.owner) else { continue };
        match &r.outcome {
            Outcomed::Done(_) | Outcomed::Pending(_) => o.done += 1,
            Outcomed::Failed { message, .. } => o.failed.push(format!("{} {}: {message}", r.key.vendor, r.title)),
            Outcomed::Skipped(_) => {}
        }
    }
    let Some(plan) = rounds.last().map(|r| &r.plan) else { return out };
    for a in &plan.actions {
        let Some(o) = out.get_mut(&a.key.owner) else { continue };
        let what = format!("{} {}", a.key.vendor, a.title);
        match (&a.blocked, a.kind) {
            (Some(b), _) if b.starts_with(DRIFT) => {
                let fields: Vec<&str> = a.changes.iter().map(|c| c.field.as_str()).collect();
                o.drifted.push(format!("{what}: {}", fields.join(", ")));
            }
            (Some(b), _) if b.starts_with(FAILED_EARLIER) => {}
            (Some(_), _) if a.deferred => match a.waits_for {
                Some(Party::Vendor) | None => o.waiting_vendor += 1,
                Some(_) => o.waiting_person += 1,
            },
            (Some(b), _) => o.blocked.push(format!("{what}: {b}")),
            (None, ActionKind::Conflict) => o.blocked.push(format!("{what}: {}", a.reason)),
            (None, ActionKind::Await) if a.overdue => {
                o.overdue.push(format!("{what}: {}", a.reason));
                o.waiting_person += 1;
            }
            (None, ActionKind::Await) => match a.waits_for {
                Some(Party::Vendor) => o.waiting_vendor += 1,
                _ => o.waiting_person += 1,
            },
            _ => {}
        }
    }
    for (id, why) in &plan.unreadable {
        if let Some(key) = crate::core::ObjectKey::parse(id)
            && let Some(o) = out.get_mut(&key.owner)
        {
            o.failed.push(format!("{} {}: could not be read: {why}", key.vendor, key.kind));
        }
    }
    out
}
