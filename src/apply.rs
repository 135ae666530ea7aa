//! The executor: carries out a plan's actions in dependency order, concurrently where they are
//! independent, and decides nothing the plan did not decide.
//!
//! Crash safety, step by step for a create:
//! 1. look the object up by natural key first (a create is never sent blindly);
//! 2. write an intent (action, natural key, time) to the state store;
//! 3. send the create; on success write the binding (and the values the vendor cannot report),
//!    then remove the intent;
//! 4. when the answer is lost, look it up again: found means bind it, absent means the intent
//!    stays and the next run looks again before doing anything.
//!
//! A failed action skips only the actions that depend on it; the others go on.
//!
//! Under a lock, the store is the lock's fenced handle: when the lock is removed or taken over,
//! every write fails, and the first such failure stops the run (no action starts after it;
//! each action also checks the lock just before it starts).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::Timestamp;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::engine::Vendors;
use crate::model::{Limits, PortalTaskDelivery, Vendor};
use crate::plan::{Action, ActionKind, Plan};
use crate::provider::{ActionContext, DesiredObject, ErrorKind, FieldValue, Outcome, Realize, VendorError};
use crate::secrets::Secrets;
use crate::state::{HistoryEntry, Intent, NewTask, StateError, StateSnapshot, StateStore, TaskRecord, TaskStatus};

/// What happened to one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcomed {
    Done(String),
    /// Started; completes at the vendor later (the intent remembers it).
    Pending(String),
    Failed {
        message: String,
        hint: Option<String>,
    },
    Skipped(String),
}

#[derive(Debug, Clone)]
pub struct ActionResult {
    pub action: String,
    pub kind: ActionKind,
    pub key: crate::provider::ObjectKey,
    pub title: String,
    pub vendor_id: Option<String>,
    pub outcome: Outcomed,
}

#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub results: Vec<ActionResult>,
}

impl RunReport {
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| matches!(r.outcome, Outcomed::Failed { .. })).count()
    }
    pub fn done(&self) -> usize {
        self.results.iter().filter(|r| matches!(r.outcome, Outcomed::Done(_))).count()
    }
}

/// Called as actions start and finish (progress bars, logs).
pub trait Progress: Send + Sync {
    /// A converging apply is about to execute round `n`'s plan.
    fn round(&self, _n: usize, _plan: &Plan) {}
    /// A converging apply waits for these (followed) awaits; `left` of the wait budget remains.
    fn waiting(&self, _awaits: &[&Action], _left: std::time::Duration) {}
    fn started(&self, _action: &Action) {}
    fn finished(&self, _result: &ActionResult) {}
}

struct NoProgress;
impl Progress for NoProgress {}

/// Everything an apply needs besides the plan.
pub struct Executor {
    pub vendors: Vendors,
    pub store: Arc<dyn StateStore>,
    pub secrets: Arc<Secrets>,
    /// Per vendor: how many actions at once.
    pub limits: BTreeMap<Vendor, Limits>,
    /// `--parallelism`: overrides every vendor's concurrency.
    pub parallelism: Option<u32>,
    pub delivery: PortalTaskDelivery,
    pub run_id: String,
    /// The manifests' git commit, for history.
    pub commit: Option<String>,
    pub progress: Arc<dyn Progress>,
    /// Set when the run must stop (the lock was lost, or an interrupt): no new action starts.
    /// A state write refused because the lock is gone sets it.
    pub stop: Arc<AtomicBool>,
    /// Added to this machine's clock for what the run records as vendor-side times (when a
    /// portal task was opened, when a link was sent): the sandbox's moved clock; else zero.
    /// The planner compares those times with its own `now`, which has the same skew.
    pub skew: jiff::SignedDuration,
}

impl Executor {
    pub fn new(vendors: Vendors, store: Arc<dyn StateStore>, secrets: Arc<Secrets>) -> Self {
        Executor {
            vendors,
            store,
            secrets,
            limits: BTreeMap::new(),
            parallelism: None,
            delivery: PortalTaskDelivery::Record,
            run_id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            commit: None,
            progress: Arc::new(NoProgress),
            stop: Arc::new(AtomicBool::new(false)),
            skew: jiff::SignedDuration::ZERO,
        }
    }

    /// A state write's result, passed on; a write refused because the run's lock is gone stops
    /// the run (said once).
    fn wrote<T>(&self, r: Result<T, StateError>) -> Result<T, StateError> {
        if let Err(e) = &r
            && e.is_lock_lost()
            && !self.stop.swap(true, Ordering::SeqCst)
        {
            tracing::error!("{e}; starting no new action");
        }
        r
    }

    /// Whether the run's lock is gone (which stops the run); a store that cannot say is taken
    /// to still hold it (its writes say otherwise if not).
    pub fn lock_lost(&self) -> bool {
        matches!(self.wrote(self.store.check_fence()), Err(e) if e.is_lock_lost())
    }

    /// Now, by the clock plans are made with (see [`Executor::skew`]).
    pub fn now(&self) -> Timestamp {
        crate::engine::now_with(self.skew)
    }

    /// Run every executable action of `plan`.
    pub async fn run(self: &Arc<Self>, plan: Arc<Plan>) -> RunReport {
        let initial = match self.store.snapshot() {
            Ok(s) => Arc::new(s),
            Err(e) => {
                return RunReport {
                    results: plan
                        .actions
                        .iter()
                        .filter(|a| a.is_executable())
                        .map(|a| {
                            result(
                                a,
                                None,
                                Outcomed::Failed { message: format!("cannot read the state: {e}"), hint: None },
                            )
                        })
                        .collect(),
                };
            }
        };
        let runnable: Vec<usize> = (0..plan.actions.len()).filter(|&i| plan.actions[i].is_executable()).collect();
        let ids: BTreeSet<&str> = runnable.iter().map(|&i| plan.actions[i].id.as_str()).collect();
        let mut waiting_on: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
        let mut dependents: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for &i in &runnable {
            let deps: BTreeSet<String> =
                plan.actions[i].depends_on.iter().filter(|d| ids.contains(d.as_str())).cloned().collect();
            for d in &deps {
                dependents.entry(d.clone()).or_default().push(i);
            }
            waiting_on.insert(i, deps);
        }
        let semaphores: BTreeMap<Vendor, Arc<tokio::sync::Semaphore>> = Vendor::ALL
            .into_iter()
            .map(|v| {
                let n = self
                    .parallelism
                    .unwrap_or_else(|| self.limits.get(&v).copied().unwrap_or_default().concurrency)
                    .max(1);
                (v, Arc::new(tokio::sync::Semaphore::new(n as usize)))
            })
            .collect();
        // Vendor ids known before anything runs: bindings, and objects the plan found at the vendor
        // but has yet to bind (an adopt runs beside the children that need its id).
        let mut known: BTreeMap<crate::provider::ObjectKey, String> =
            initial.bindings.iter().map(|(k, b)| (k.clone(), b.vendor_id.clone())).collect();
        for a in plan.actions.iter().filter(|a| !matches!(a.kind, ActionKind::Conflict | ActionKind::Delete)) {
            if let Some(id) = &a.vendor_id {
                known.entry(a.key.clone()).or_insert_with(|| id.clone());
            }
        }
        let resolved = Arc::new(std::sync::Mutex::new(known));

        let mut results: BTreeMap<usize, ActionResult> = BTreeMap::new();
        let mut running = tokio::task::JoinSet::new();
        let mut ready: Vec<usize> = waiting_on.iter().filter(|(_, d)| d.is_empty()).map(|(i, _)| *i).collect();
        ready.reverse();
        loop {
            while let Some(i) = ready.pop() {
                if self.stop.load(Ordering::SeqCst) {
                    results.insert(
                        i,
                        result(
                            &plan.actions[i],
                            None,
                            Outcomed::Skipped("the run was stopped before it started".into()),
                        ),
                    );
                    continue;
                }
                let me = self.clone();
                let plan = plan.clone();
                let initial = initial.clone();
                let resolved = resolved.clone();
                let sem = semaphores[&plan.actions[i].key.vendor].clone();
                running.spawn(async move {
                    let _permit = sem.acquire().await;
                    let a = &plan.actions[i];
                    // It may have waited for its turn: look again (and at the lock) right before.
                    if me.stop.load(Ordering::SeqCst) || me.lock_lost() {
                        let r = result(a, None, Outcomed::Skipped("the run was stopped before it started".into()));
                        me.progress.finished(&r);
                        return (i, r);
                    }
                    me.progress.started(a);
                    let r = me.run_action(a, &initial, &resolved).await;
                    me.progress.finished(&r);
                    (i, r)
                });
            }
            let Some(joined) = running.join_next().await else { break };
            let (i, r) = match joined {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!("an action task failed: {e}");
                    continue;
                }
            };
            let ok = matches!(r.outcome, Outcomed::Done(_));
            let id = plan.actions[i].id.clone();
            results.insert(i, r);
            for &dep in dependents.get(&id).map(Vec::as_slice).unwrap_or_default() {
                if results.contains_key(&dep) {
                    continue;
                }
                if ok {
                    if let Some(w) = waiting_on.get_mut(&dep) {
                        w.remove(&id);
                        if w.is_empty() {
                            ready.push(dep);
                        }
                    }
                } else {
                    skip_tree(&plan, dep, &id, &dependents, &mut results);
                }
            }
        }
        // Anything never reached (its dependency failed deep in a chain) is skipped.
        for &i in &runnable {
            results.entry(i).or_insert_with(|| {
                result(&plan.actions[i], None, Outcomed::Skipped("a dependency did not complete".into()))
            });
        }
        for r in results.values().filter(|r| matches!(r.outcome, Outcomed::Skipped(_))) {
            self.history(r);
        }
        RunReport { results: results.into_values().collect() }
    }

    async fn run_action(
        &self,
        a: &Action,
        initial: &StateSnapshot,
        resolved: &std::sync::Mutex<BTreeMap<crate::provider::ObjectKey, String>>,
    ) -> ActionResult {
        use tracing::Instrument;
        let span = tracing::info_span!("action", id = %a.id);
        self.run_action_inner(a, initial, resolved).instrument(span).await
    }

    async fn run_action_inner(
        &self,
        a: &Action,
        initial: &StateSnapshot,
        resolved: &std::sync::Mutex<BTreeMap<crate::provider::ObjectKey, String>>,
    ) -> ActionResult {
        let r = match a.kind {
            ActionKind::Create | ActionKind::Register => self.create(a, initial, resolved).await,
            ActionKind::Sync | ActionKind::Adopt | ActionKind::Delete => self.update(a, resolved).await,
            ActionKind::PortalTask => {
                // The object the task is about, or for a new object, the one it goes under.
                let target = a
                    .vendor_id
                    .clone()
                    .or_else(|| resolved.lock().unwrap_or_else(|p| p.into_inner()).get(&a.key).cloned())
                    .or_else(|| a.object.as_ref().and_then(|d| self.parent_id(d, resolved).ok().flatten()));
                self.portal_task(a, target).await
            }
            ActionKind::Await | ActionKind::Conflict => (None, Outcomed::Skipped("nothing to execute".into())),
        };
        let r = result(a, r.0, r.1);
        self.history(&r);
        r
    }

    fn parent_id(
        &self,
        d: &DesiredObject,
        resolved: &std::sync::Mutex<BTreeMap<crate::provider::ObjectKey, String>>,
    ) -> Result<Option<String>, Outcomed> {
        match &d.parent {
            Some(pk) => match resolved.lock().unwrap_or_else(|p| p.into_inner()).get(pk) {
                Some(id) => Ok(Some(id.clone())),
                None => Err(Outcomed::Failed {
                    message: format!("its parent ({pk}) has no vendor id yet"),
                    hint: Some("the parent must be created first; run apply again".into()),
                }),
            },
            None => Ok(d.home_parent.clone()),
        }
    }

    async fn create(
        &self,
        a: &Action,
        initial: &StateSnapshot,
        resolved: &std::sync::Mutex<BTreeMap<crate::provider::ObjectKey, String>>,
    ) -> (Option<String>, Outcomed) {
        let Some(d) = &a.object else { return (None, fail("the plan carries no object for this action")) };
        let (Some(reader), Some(writer)) =
            (self.vendors.readers.get(&d.key.vendor), self.vendors.writers.get(&d.key.vendor))
        else {
            return (None, fail(format!("no connection to {}", d.key.vendor)));
        };
        let parent_id = match self.parent_id(d, resolved) {
            Ok(p) => p,
            Err(o) => return (None, o),
        };
        let earlier = initial.intents.get(&d.key);
        // 1. Look it up first: never create blindly.
        match reader.lookup(d, parent_id.as_deref()).await {
            Ok(Some(o)) => {
                // The planner's ownership rule, on what the lookup found.
                let task = match &d.realize {
                    Realize::Portal(form) => initial.task(&d.key, &form.task),
                    _ => None,
                };
                let managed_parent = parent_id.is_some() && d.parent.is_some();
                // An object that appeared since planning is never a lost record's: that is judged at plan time.
                if crate::core::claim(d, &o, earlier, task, managed_parent, None).is_some() {
                    return self.bound(
                        a,
                        &o.id,
                        &made_by_someone(d, &a.record),
                        &Outcome::default(),
                        resolved,
                        "it already existed; bound it",
                    );
                }
                return (
                    None,
                    Outcomed::Failed {
                        message: format!(
                            "{} {} appeared at {} (id {}) since planning and is not managed by tenantry",
                            d.key.kind,
                            d.natural_key.describe(),
                            d.key.vendor,
                            o.id
                        ),
                        hint: Some("run plan again: it will show the conflict and how to adopt it".into()),
                    },
                );
            }
            Ok(None) => {}
            Err(e) => {
                return (None, vendor_failed(&e, "could not check whether it already exists, so it was not created"));
            }
        }
        // 2. Record the intent before the vendor can commit anything.
        let started_at = earlier.map(|i| i.started_at).unwrap_or_else(Timestamp::now);
        let intent = Intent {
            key: d.key.clone(),
            action: a.id.clone(),
            natural_key: d.natural_key.clone(),
            started_at,
            detail: earlier.and_then(|i| i.detail.clone()),
        };
        if let Err(e) = self.wrote(self.store.put_intent(&intent)) {
            return (None, fail(format!("cannot record the intent, so nothing was sent: {e}")));
        }
        // 3. Send it. The request id is stable for this intent (VSPC X-Request-id replays).
        let cx = ActionContext {
            action: a,
            parent_id: parent_id.clone(),
            secrets: &self.secrets,
            request_id: request_id(&intent),
            now: self.now(),
        };
        match writer.execute(&cx).await {
            Ok(outcome) => {
                if let Some(pending) = &outcome.pending {
                    let _ = self.wrote(self.store.put_intent(&Intent { detail: Some(pending.clone()), ..intent }));
                    return (
                        outcome.vendor_id.clone(),
                        Outcomed::Pending(format!("{} is completing it ({pending})", d.key.vendor.title())),
                    );
                }
                let Some(id) = outcome.vendor_id.clone() else {
                    return (None, fail("the vendor answered without an id; the next run will look it up"));
                };
                self.bound(a, &id, &a.record, &outcome, resolved, "done")
            }
            Err(e) if matches!(e.kind, ErrorKind::Unknown | ErrorKind::Retryable | ErrorKind::Unreadable) => {
                // 4. The answer was lost (or came back unreadable, which says no more about
                // whether it was made): find out what happened, once, without sending it again.
                // What the lookup finds is claimed by this run's own intent (recorded in step 2
                // before anything was sent), which is `core::claim`'s intent rule.
                match reader.lookup(d, parent_id.as_deref()).await {
                    Ok(Some(o)) => self.bound(
                        a,
                        &o.id,
                        &made_by_someone(d, &a.record),
                        &Outcome::default(),
                        resolved,
                        "the answer was lost, but it was made: bound it",
                    ),
                    Ok(None) => (
                        None,
                        Outcomed::Failed {
                            message: format!("{}; it is not there afterwards", e),
                            hint: Some("the intent is kept: the next run looks it up again before creating".into()),
                        },
                    ),
                    Err(e2) => {
                        (None, vendor_failed(&e2, &format!("after {e}, it could not be looked up; the intent is kept")))
                    }
                }
            }
            Err(e) => {
                // The vendor refused: nothing was made. Every other kind was handled above, and
                // listing them makes the compiler name this place when a kind is added.
                match e.kind {
                    ErrorKind::Rejected | ErrorKind::Auth | ErrorKind::Conflict | ErrorKind::NotFound => {
                        let _ = self.wrote(self.store.remove_intent(&d.key));
                    }
                    ErrorKind::Unknown | ErrorKind::Retryable | ErrorKind::Unreadable => {}
                }
                (None, vendor_failed(&e, ""))
            }
        }
    }

    /// Write the binding (and forget the intent) for `id`.
    fn bound(
        &self,
        a: &Action,
        id: &str,
        record: &BTreeMap<String, Json>,
        outcome: &Outcome,
        resolved: &std::sync::Mutex<BTreeMap<crate::provider::ObjectKey, String>>,
        message: &str,
    ) -> (Option<String>, Outcomed) {
        let mut applied = record.clone();
        applied.extend(outcome.applied.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Err(e) = self.wrote(self.store.merge_binding(&a.key, Some(id), &applied, Timestamp::now())) {
            return (
                Some(id.to_string()),
                Outcomed::Failed {
                    message: format!("made at the vendor (id {id}) but the binding could not be written: {e}"),
                    hint: Some("the intent is kept: the next run finds it by natural key and binds it".into()),
                },
            );
        }
        let _ = self.wrote(self.store.remove_intent(&a.key));
        resolved.lock().unwrap_or_else(|p| p.into_inner()).insert(a.key.clone(), id.to_string());
        if let Some(why) = &outcome.incomplete {
            return (
                Some(id.to_string()),
                Outcomed::Failed {
                    message: format!("made at the vendor (id {id}), but {why}"),
                    hint: Some("it is bound; the next apply does the step that failed".into()),
                },
            );
        }
        (Some(id.to_string()), Outcomed::Done(message.to_string()))
    }

    async fn update(
        &self,
        a: &Action,
        resolved: &std::sync::Mutex<BTreeMap<crate::provider::ObjectKey, String>>,
    ) -> (Option<String>, Outcomed) {
        let Some(writer) = self.vendors.writers.get(&a.key.vendor) else {
            return (None, fail(format!("no connection to {}", a.key.vendor)));
        };
        let parent_id = match &a.object {
            Some(d) => self.parent_id(d, resolved).ok().flatten(),
            None => None,
        };
        let request = format!("{}:{}", a.id, Timestamp::now().as_millisecond());
        let cx = ActionContext {
            action: a,
            parent_id,
            secrets: &self.secrets,
            request_id: uuid_from(&request),
            now: self.now(),
        };
        match writer.execute(&cx).await {
            Ok(outcome) => {
                if a.kind == ActionKind::Delete {
                    let _ = self.wrote(self.store.remove_binding(&a.key));
                    return (a.vendor_id.clone(), Outcomed::Done("deleted".into()));
                }
                let id = outcome.vendor_id.clone().or_else(|| a.vendor_id.clone()).unwrap_or_default();
                let message = if a.kind == ActionKind::Adopt { "bound" } else { "updated" };
                self.bound(a, &id, &a.record, &outcome, resolved, message)
            }
            Err(e) if e.kind == ErrorKind::Conflict => (
                a.vendor_id.clone(),
                Outcomed::Failed {
                    message: format!("{e}: it changed since it was read"),
                    hint: Some("nothing was overwritten; the next run reads it again and re-plans".into()),
                },
            ),
            Err(e) => (a.vendor_id.clone(), vendor_failed(&e, "")),
        }
    }

    /// Open a portal task and deliver it.
    async fn portal_task(&self, a: &Action, target: Option<String>) -> (Option<String>, Outcomed) {
        let Some(spec) = &a.task else { return (None, fail("the plan carries no task")) };
        // A newer task for the same step replaces an older open one.
        if let Ok(tasks) = self.store.tasks() {
            for t in tasks.iter().filter(|t| t.key == a.key && t.task == spec.form.task && t.is_open()) {
                let superseded = self.store.set_task_status(&t.id, TaskStatus::Superseded { at: Timestamp::now() });
                if let Err(e) = self.wrote(superseded)
                    && e.is_lock_lost()
                {
                    return (None, fail(format!("cannot record the portal task: {e}")));
                }
            }
        }
        let record = match self.wrote(self.store.add_task(NewTask {
            key: a.key.clone(),
            task: spec.form.task.clone(),
            vendor: a.key.vendor,
            page: spec.form.page.clone(),
            title: spec.title.clone(),
            target,
            values: spec.values.clone(),
            verify: spec.form.verify,
            created_at: self.now(),
            note: spec.note.clone(),
        })) {
            Ok(r) => r,
            Err(e) => return (None, fail(format!("cannot record the portal task: {e}"))),
        };
        match deliver(&self.delivery, &record, &self.secrets).await {
            Ok(delivery) => match self.settle(&record, &delivery) {
                Ok(true) => (
                    Some(record.id.clone()),
                    Outcomed::Done(format!("portal task {} done by {}", record.id, delivery.how)),
                ),
                Ok(false) => (
                    Some(record.id.clone()),
                    Outcomed::Done(format!("portal task {} opened ({})", record.id, delivery.how)),
                ),
                Err(e) => (Some(record.id.clone()), fail(e)),
            },
            Err(why) => (
                Some(record.id.clone()),
                Outcomed::Failed {
                    message: format!("portal task {} is recorded but could not be delivered: {why}", record.id),
                    hint: Some("`tenantry tasks` lists it; the next apply delivers it again".into()),
                },
            ),
        }
    }

    /// Record what delivering `t` achieved; true when the receiver also did it. Attested
    /// before marked delivered: a crash in between leaves a done task, never an open one that
    /// looks delivered (and so would never be delivered again).
    fn settle(&self, t: &TaskRecord, d: &Delivery) -> Result<bool, String> {
        let done = d.done && t.verify == crate::provider::Verify::Attestation;
        if done && let Err(e) = attest(&*self.store, &t.id, d.note.clone(), Some(d.how.clone())) {
            // Refused for a lost lock: stop the run as every refused write does.
            self.lock_lost();
            return Err(e);
        }
        let _ = self.wrote(self.store.set_task_delivered(&t.id, &d.how));
        Ok(done)
    }

    /// Deliver recorded tasks whose delivery failed earlier.
    pub async fn redeliver(&self) -> Vec<String> {
        let mut messages = Vec::new();
        if matches!(self.delivery, PortalTaskDelivery::Record) {
            return messages;
        }
        let Ok(tasks) = self.store.tasks() else { return messages };
        for t in tasks.iter().filter(|t| t.is_open() && t.delivered.is_none()) {
            match deliver(&self.delivery, t, &self.secrets).await {
                Ok(d) => messages.push(match self.settle(t, &d) {
                    Ok(_) => format!("portal task {} delivered ({})", t.id, d.how),
                    Err(e) => e,
                }),
                Err(why) => messages.push(format!("portal task {} still not delivered: {why}", t.id)),
            }
        }
        messages
    }

    fn history(&self, r: &ActionResult) {
        let (result, message) = match &r.outcome {
            Outcomed::Done(m) => ("ok", Some(m.clone())),
            Outcomed::Pending(m) => ("pending", Some(m.clone())),
            Outcomed::Failed { message, .. } => ("failed", Some(message.clone())),
            Outcomed::Skipped(m) => ("skipped", Some(m.clone())),
        };
        let entry = HistoryEntry {
            at: Timestamp::now(),
            run: self.run_id.clone(),
            action: r.action.clone(),
            kind: r.kind.word().to_string(),
            key: r.key.clone(),
            title: r.title.clone(),
            result: result.into(),
            vendor_id: r.vendor_id.clone(),
            message,
            commit: self.commit.clone(),
        };
        match self.wrote(self.store.record(&entry)) {
            // Said once, when the run stopped.
            Err(e) if e.is_lock_lost() => {}
            Err(e) => tracing::warn!("could not write history for {}: {e}", r.action),
            Ok(()) => {}
        }
    }
}

fn skip_tree(
    plan: &Plan,
    i: usize,
    failed: &str,
    dependents: &BTreeMap<String, Vec<usize>>,
    results: &mut BTreeMap<usize, ActionResult>,
) {
    if results.contains_key(&i) {
        return;
    }
    let a = &plan.actions[i];
    results.insert(i, result(a, None, Outcomed::Skipped(format!("{failed} did not complete"))));
    for &d in dependents.get(&a.id).map(Vec::as_slice).unwrap_or_default() {
        skip_tree(plan, d, failed, dependents, results);
    }
}

fn result(a: &Action, vendor_id: Option<String>, outcome: Outcomed) -> ActionResult {
    ActionResult {
        action: a.id.clone(),
        kind: a.kind,
        key: a.key.clone(),
        title: a.title.clone(),
        vendor_id: vendor_id.or_else(|| a.vendor_id.clone()),
        outcome,
    }
}

fn fail(message: impl Into<String>) -> Outcomed {
    Outcomed::Failed { message: message.into(), hint: None }
}

fn vendor_failed(e: &VendorError, context: &str) -> Outcomed {
    let message = if context.is_empty() { e.to_string() } else { format!("{e}; {context}") };
    Outcomed::Failed { message, hint: e.hint.clone() }
}

/// A UUID derived from an intent: the same intent gives the same request id.
fn request_id(intent: &Intent) -> String {
    uuid_from(&format!("{}@{}", intent.key.id(), intent.started_at))
}

fn uuid_from(text: &str) -> String {
    let d = Sha256::digest(text.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

/// How a task was delivered.
pub struct Delivery {
    pub how: String,
    /// The receiver reported the step done (a command printing `{"status": "done"}`).
    pub done: bool,
    pub note: Option<String>,
}

/// The task as JSON for webhooks and commands (secrets appear only as references).
pub fn task_json(t: &TaskRecord) -> Json {
    json!({
        "id": t.id,
        "vendor": t.vendor,
        "task": t.task,
        "object": t.key.id(),
        "owner": t.key.owner,
        "title": t.title,
        "vendorId": t.target,
        "page": t.page,
        "values": t.values,
        "verify": t.verify,
        "createdAt": t.created_at,
        "note": t.note,
    })
}

async fn deliver(delivery: &PortalTaskDelivery, t: &TaskRecord, secrets: &Secrets) -> Result<Delivery, String> {
    match delivery {
        PortalTaskDelivery::Record => Ok(Delivery { how: "recorded".into(), done: false, note: None }),
        PortalTaskDelivery::Webhook { url, headers } => {
            let client = crate::provider::http::client_builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .map_err(|e| e.to_string())?;
            let mut req = client.post(url).json(&task_json(t));
            for (name, secret) in headers {
                let value = secrets.resolve(secret).map_err(|e| e.to_string())?;
                use secrecy::ExposeSecret;
                req = req.header(name, value.expose_secret());
            }
            let resp =
                req.send().await.map_err(|e| format!("POST {url}: {}", crate::provider::describe_reqwest(&e)))?;
            if !resp.status().is_success() {
                return Err(format!("POST {url} answered {}", resp.status()));
            }
            Ok(Delivery { how: "webhook".into(), done: false, note: None })
        }
        PortalTaskDelivery::Command { program, args } => {
            use tokio::io::AsyncWriteExt;
            let mut child = tokio::process::Command::new(program)
                .args(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot run {program}: {e}"))?;
            if let Some(mut stdin) = child.stdin.take() {
                let body = serde_json::to_vec(&task_json(t)).unwrap_or_default();
                stdin.write_all(&body).await.map_err(|e| format!("{program}: cannot write the task: {e}"))?;
            }
            let out = tokio::time::timeout(std::time::Duration::from_secs(300), child.wait_with_output())
                .await
                .map_err(|_| format!("{program} did not finish within 5 minutes"))?
                .map_err(|e| format!("{program}: {e}"))?;
            if !out.status.success() {
                return Err(format!("{program} exited with {}", out.status));
            }
            let answer: Json = serde_json::from_slice(&out.stdout).unwrap_or(Json::Null);
            let done = answer.get("status").and_then(Json::as_str) == Some("done");
            let note = answer.get("note").and_then(Json::as_str).map(str::to_string);
            Ok(Delivery { how: "command".into(), done, note })
        }
    }
}

/// Record that a person (or the MSP's automation) did a portal task: the task becomes done, and
/// for an object tenantry already tracks, the values the task entered become the applied values
/// (the vendor cannot report them, so this is how the next plan knows they are set).
pub fn attest(
    store: &dyn StateStore,
    id: &str,
    note: Option<String>,
    by: Option<String>,
) -> Result<TaskRecord, String> {
    let tasks = store.tasks().map_err(|e| format!("cannot read the state: {e}"))?;
    let Some(task) = tasks.iter().find(|t| t.id.eq_ignore_ascii_case(id)) else {
        let open: Vec<&str> = tasks.iter().filter(|t| t.is_open()).map(|t| t.id.as_str()).collect();
        return Err(if open.is_empty() {
            format!("there is no task {id}, and no task is open")
        } else {
            format!("there is no task {id}; open tasks: {}", open.join(", "))
        });
    };
    match &task.status {
        TaskStatus::Open => {}
        TaskStatus::Done { at, .. } => {
            return Err(format!("task {} was already marked done at {}", task.id, crate::plan::fmt_time(*at)));
        }
        TaskStatus::Verified { at } => {
            return Err(format!(
                "task {} was already verified at the vendor at {}",
                task.id,
                crate::plan::fmt_time(*at)
            ));
        }
        TaskStatus::Superseded { .. } => {
            let newer = tasks
                .iter()
                .filter(|t| t.key == task.key && t.task == task.task && t.is_open())
                .map(|t| t.id.clone())
                .next();
            return Err(match newer {
                Some(n) => format!("task {} was replaced by {n}; do that one instead", task.id),
                None => format!("task {} was replaced by a newer plan", task.id),
            });
        }
    }
    // What the person entered is what is now applied (a secret by its reference only).
    let entered: BTreeMap<String, Json> = task
        .values
        .iter()
        .map(|(name, value)| (name.clone(), value.get("secretRef").unwrap_or(value).clone()))
        .collect();
    store
        .merge_binding(&task.key, None, &entered, Timestamp::now())
        .map_err(|e| format!("cannot record the values task {} entered: {e}", task.id))?;
    store
        .set_task_status(&task.id, TaskStatus::Done { at: Timestamp::now(), note, by })
        .map_err(|e| format!("cannot record task {}: {e}", task.id))
}

/// Close the open tasks the plan found verified at the vendor.
pub fn close_verified(store: &dyn StateStore, plan: &Plan) -> Vec<String> {
    let mut closed = Vec::new();
    for id in &plan.verified_tasks {
        match store.set_task_status(id, TaskStatus::Verified { at: Timestamp::now() }) {
            Ok(_) => closed.push(id.clone()),
            Err(e) => tracing::warn!("cannot close portal task {id}: {e}"),
        }
    }
    closed
}

/// Refuse a plan whose guarded actions were not allowed: irreversible changes need
/// `--allow-irreversible`.
pub fn check_guards(plan: &Plan, allow_irreversible: bool) -> Result<(), String> {
    let irreversible: Vec<&Action> = plan.actions.iter().filter(|a| a.irreversible && a.is_executable()).collect();
    if !irreversible.is_empty() && !allow_irreversible {
        let list = irreversible.iter().map(|a| format!("  {} ({})", a.id, a.reason)).collect::<Vec<_>>().join("\n");
        return Err(format!(
            "the plan has {} irreversible change(s); nothing was applied:\n{list}",
            irreversible.len()
        ));
    }
    Ok(())
}

/// What to remember of an object found made rather than seen made (the answer was lost, or an
/// earlier run stopped mid-create): the secret references its creating request carried, but
/// nothing the vendor cannot report, since the later steps of a create (an activation e-mail,
/// an access policy) may never have run. The next plan sets those again.
fn made_by_someone(d: &DesiredObject, record: &BTreeMap<String, Json>) -> BTreeMap<String, Json> {
    record
        .iter()
        .filter(|(name, _)| d.fields.get(*name).is_some_and(|f| matches!(f.value, FieldValue::Secret(_))))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
