//! Rounds: plan and execute again until nothing more can be done now. The core both `apply` (one
//! run over the selected owners, following what it started up to `--wait`) and `serve` (one
//! pass over the owners that are due, waiting for nothing) run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::apply::{Executor, Outcomed, RunReport, check_guards, close_verified};
use crate::plan::{Action, ActionKind, Plan};

/// One round of a converging apply.
pub struct Round {
    pub plan: Plan,
    pub report: RunReport,
}

/// What [`converge`] needs.
pub struct Converge<'a> {
    pub desired: &'a crate::model::DesiredState,
    pub sources: &'a crate::manifest::SourceMap,
    pub options: crate::plan::PlanOptions,
    pub allow_irreversible: bool,
    /// How long to keep following what this run started (verifications, authorizations).
    pub wait: std::time::Duration,
    pub max_rounds: usize,
    /// The plan for round 1 when it was already made (and shown, and approved).
    pub first: Option<Plan>,
    /// Whose work to wait for (up to `wait`): normally only the vendor's own processing.
    pub follow: BTreeSet<crate::provider::Party>,
    /// Added to this machine's clock for planning (a sandbox's moved clock; else zero).
    pub skew: jiff::SignedDuration,
    /// Applied to every round's plan before it runs: how `serve` holds back what its drift
    /// policy says to report rather than correct (see `controller::hold_drift`).
    pub adjust: Option<&'a (dyn Fn(&mut Plan) + Sync)>,
}

/// Why converging stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Nothing left to do or wait for.
    Converged,
    /// Only waits remain that this run did not start, or the wait budget is spent.
    Waiting,
    /// An action failed.
    Failed,
    /// The plan has guarded actions that were not allowed.
    Refused(String),
    /// The run was stopped (interrupt or lost lock).
    Interrupted,
    /// A round planned again what an earlier round of the same run had done: the vendor does not
    /// keep what was applied (or something else changes it back). Stopping rather than looping.
    NotConverging(Vec<String>),
}

/// Plan and execute in rounds: each round observes again and plans again, so what becomes
/// possible after an earlier step (a registration after its company, a task after a
/// verification) happens in the same run. Keeps following what the vendors complete on their
/// own, up to `wait`; what waits for a person is reported, not waited for.
pub async fn converge(
    exec: &Arc<Executor>,
    input: &Converge<'_>,
    mut on_round: impl FnMut(usize, &Plan, Option<&RunReport>),
) -> (Vec<Round>, Stopped) {
    let clock = std::time::Instant::now();
    let mut rounds = Vec::new();
    let mut pause = std::time::Duration::from_millis(500);
    // Actions done in this run: planned again means what they did did not hold.
    let mut done: BTreeSet<String> = BTreeSet::new();
    // Actions that failed in this run are not tried again in it (their dependents wait); the
    // other customers carry on.
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    let mut executed = 0;
    let mut n = 0;
    loop {
        n += 1;
        if exec.stop.load(Ordering::SeqCst) || exec.lock_lost() {
            return (rounds, Stopped::Interrupted);
        }
        let state = match exec.store.snapshot() {
            Ok(s) => s,
            Err(e) => return (rounds, Stopped::Refused(format!("cannot read the state: {e}"))),
        };
        let mut plan = match (&input.first, n) {
            (Some(first), 1) => first.clone(),
            _ => {
                crate::engine::make_plan(
                    input.desired,
                    input.sources,
                    &exec.vendors,
                    &state,
                    input.options.clone(),
                    crate::engine::now_with(input.skew),
                )
                .await
            }
        };
        if let Some(adjust) = input.adjust {
            adjust(&mut plan);
        }
        close_verified(&*exec.store, &plan);
        if let Err(why) = check_guards(&plan, input.allow_irreversible) {
            on_round(n, &plan, None);
            return (rounds, Stopped::Refused(why));
        }
        block_failed_earlier(&mut plan, &failures);
        let done_with_failures = |rounds: Vec<Round>, otherwise: Stopped| {
            (rounds, if failures.is_empty() { otherwise } else { Stopped::Failed })
        };
        if !plan.has_changes() {
            // Only waits (and blocked steps) remain. Follow those completed by someone worth
            // waiting for (the vendor's own processing; in the sandbox, the simulated people);
            // the rest are reported, not sat out.
            let followed: Vec<&Action> = plan
                .actions
                .iter()
                .filter(|a| {
                    a.kind == ActionKind::Await
                        && a.blocked.is_none()
                        && a.waits_for.is_some_and(|p| input.follow.contains(&p))
                })
                .collect();
            on_round(n, &plan, None);
            if followed.is_empty() {
                let stopped = if plan.actions.iter().any(|a| a.kind == ActionKind::Await) {
                    Stopped::Waiting
                } else {
                    Stopped::Converged
                };
                rounds.push(Round { plan, report: RunReport::default() });
                return done_with_failures(rounds, stopped);
            }
            if clock.elapsed() + pause > input.wait {
                rounds.push(Round { plan, report: RunReport::default() });
                return done_with_failures(rounds, Stopped::Waiting);
            }
            exec.progress.waiting(&followed, input.wait.saturating_sub(clock.elapsed()));
            for m in exec.redeliver().await {
                tracing::info!("{m}");
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(std::time::Duration::from_secs(10));
            rounds.push(Round { plan, report: RunReport::default() });
            continue;
        }
        let again: Vec<String> =
            plan.actions.iter().filter(|a| a.is_executable() && done.contains(&a.id)).map(|a| a.id.clone()).collect();
        if !again.is_empty() {
            on_round(n, &plan, None);
            return (rounds, Stopped::NotConverging(again));
        }
        if executed >= input.max_rounds.max(1) {
            rounds.push(Round { plan, report: RunReport::default() });
            return done_with_failures(rounds, Stopped::Waiting);
        }
        executed += 1;
        let plan = Arc::new(plan);
        exec.progress.round(n, &plan);
        let report = exec.run(plan.clone()).await;
        for r in &report.results {
            match &r.outcome {
                Outcomed::Failed { message, .. } => {
                    failures.insert(r.action.clone(), message.clone());
                }
                Outcomed::Done(_) => {
                    done.insert(r.action.clone());
                }
                _ => {}
            }
        }
        on_round(n, &plan, Some(&report));
        rounds.push(Round { plan: (*plan).clone(), report });
        pause = std::time::Duration::from_millis(500);
    }
}

/// How an action that failed earlier in the same run is marked in later rounds.
pub const FAILED_EARLIER: &str = "failed earlier in this run";

/// Mark the actions that failed earlier in this run, and everything that needs them, as
/// blocked: a later round retries neither (the next run does).
fn block_failed_earlier(plan: &mut Plan, failures: &BTreeMap<String, String>) {
    // Ids that will not complete in this run, with how to name them.
    let mut stopped: BTreeMap<String, String> = BTreeMap::new();
    for a in plan.actions.iter_mut().filter(|a| a.is_executable()) {
        if let Some(m) = failures.get(&a.id) {
            a.blocked = Some(format!("{FAILED_EARLIER}: {m}"));
            stopped.insert(a.id.clone(), a.title.clone());
        }
    }
    // Then whatever needs them, transitively (actions are few; dependency chains short).
    let mut changed = !stopped.is_empty();
    while changed {
        changed = false;
        for a in plan.actions.iter_mut().filter(|a| a.is_executable()) {
            if let Some(dep) = a.depends_on.iter().find_map(|d| stopped.get(d)) {
                a.blocked = Some(format!("{FAILED_EARLIER}: it needs {dep}, which did not complete"));
                stopped.insert(a.id.clone(), a.title.clone());
                changed = true;
            }
        }
    }
}
