//! Applying against the in-memory vendor: idempotence, crash safety (a failure between the
//! vendor's commit and the binding write, a lost response), locks, losing the state store,
//! prune, and secrets kept out of every output.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tenantry::apply::{Executor, Outcomed};
use tenantry::controller::{Converge, Round, Stopped, converge};
use tenantry::model::{DesiredState, Vendor};
use tenantry::plan::{ActionKind, PlanOptions};
use tenantry::provider::memory::Fault;
use tenantry::provider::{ErrorKind, ObjectKey};
use tenantry::secrets::Secrets;
use tenantry::state::lock::{self, LockError};
use tenantry::state::sqlite::SqliteStore;
use tenantry::state::store::{Acquired, AppliedPlan, HistoryEntry, LockInfo, LockScope, NewTask, StateResult};
use tenantry::state::{Binding, Intent, StateError, StateSnapshot, StateStore, TaskRecord, TaskStatus};

use crate::planner::{Memory, example};

/// A state store that can refuse one binding write, as if the process died right after the
/// vendor committed.
struct Flaky {
    inner: SqliteStore,
    fail_binding_of: Mutex<Option<String>>,
}

impl StateStore for Flaky {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn snapshot(&self) -> StateResult<StateSnapshot> {
        self.inner.snapshot()
    }
    fn binding(&self, key: &ObjectKey) -> StateResult<Option<Binding>> {
        self.inner.binding(key)
    }
    fn merge_binding(
        &self,
        key: &ObjectKey,
        vendor_id: Option<&str>,
        applied: &BTreeMap<String, serde_json::Value>,
        at: jiff::Timestamp,
    ) -> StateResult<Option<Binding>> {
        let mut fail = self.fail_binding_of.lock().unwrap();
        if fail.as_deref() == Some(key.id().as_str()) {
            *fail = None;
            return Err(StateError::Store {
                location: "test".into(),
                message: "injected crash before the binding write".into(),
            });
        }
        self.inner.merge_binding(key, vendor_id, applied, at)
    }
    fn remove_binding(&self, key: &ObjectKey) -> StateResult<()> {
        self.inner.remove_binding(key)
    }
    fn put_intent(&self, intent: &Intent) -> StateResult<()> {
        self.inner.put_intent(intent)
    }
    fn remove_intent(&self, key: &ObjectKey) -> StateResult<()> {
        self.inner.remove_intent(key)
    }
    fn add_task(&self, task: NewTask) -> StateResult<TaskRecord> {
        self.inner.add_task(task)
    }
    fn tasks(&self) -> StateResult<Vec<TaskRecord>> {
        self.inner.tasks()
    }
    fn set_task_status(&self, id: &str, status: TaskStatus) -> StateResult<TaskRecord> {
        self.inner.set_task_status(id, status)
    }
    fn set_task_delivered(&self, id: &str, delivered: &str) -> StateResult<()> {
        self.inner.set_task_delivered(id, delivered)
    }
    fn record(&self, entry: &HistoryEntry) -> StateResult<()> {
        self.inner.record(entry)
    }
    fn history(&self, owner: Option<&str>, limit: usize) -> StateResult<Vec<HistoryEntry>> {
        self.inner.history(owner, limit)
    }
    fn plan_applied(&self, id: &str) -> StateResult<Option<AppliedPlan>> {
        self.inner.plan_applied(id)
    }
    fn record_plan_applied(&self, plan: &AppliedPlan) -> StateResult<Option<AppliedPlan>> {
        self.inner.record_plan_applied(plan)
    }
    fn reconciled(&self) -> StateResult<std::collections::BTreeMap<tenantry::model::ManifestRef, String>> {
        self.inner.reconciled()
    }
    fn set_reconciled(
        &self,
        owner: &tenantry::model::ManifestRef,
        fingerprint: &str,
        at: jiff::Timestamp,
    ) -> StateResult<()> {
        self.inner.set_reconciled(owner, fingerprint, at)
    }
    fn acquire_lock(&self, me: &LockInfo, now: jiff::Timestamp) -> StateResult<Acquired> {
        self.inner.acquire_lock(me, now)
    }
    fn renew_lock(&self, id: &str, expires_at: jiff::Timestamp) -> StateResult<bool> {
        self.inner.renew_lock(id, expires_at)
    }
    fn release_lock(&self, id: &str) -> StateResult<()> {
        self.inner.release_lock(id)
    }
    fn force_unlock(&self, id: &str) -> StateResult<Option<LockInfo>> {
        self.inner.force_unlock(id)
    }
    fn locks(&self) -> StateResult<Vec<LockInfo>> {
        self.inner.locks()
    }
    fn fenced(&self, lock_id: &str) -> Arc<dyn StateStore> {
        self.inner.fenced(lock_id)
    }
    fn check_fence(&self) -> StateResult<()> {
        self.inner.check_fence()
    }
}

struct World {
    dir: tempfile::TempDir,
    memory: Memory,
    store: Arc<Flaky>,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Flaky {
            inner: SqliteStore::open(&dir.path().join("state.db")).unwrap(),
            fail_binding_of: Mutex::new(None),
        });
        World { dir, memory: Memory::new(), store }
    }

    fn executor(&self) -> Arc<Executor> {
        let secrets = Arc::new(Secrets::new(self.dir.path(), true));
        Arc::new(Executor::new(self.memory.vendors.clone(), self.store.clone(), secrets))
    }

    async fn apply(&self, desired: &DesiredState, options: PlanOptions) -> (Vec<Round>, Stopped) {
        self.apply_rounds(desired, options, 10).await
    }

    /// An apply that executes at most `max_rounds` rounds (1: the process "dies" after it).
    async fn apply_rounds(
        &self,
        desired: &DesiredState,
        options: PlanOptions,
        max_rounds: usize,
    ) -> (Vec<Round>, Stopped) {
        let (_, sources) = example();
        let input = Converge {
            desired,
            sources: &sources,
            options,
            allow_irreversible: false,
            wait: Duration::ZERO,
            max_rounds,
            first: None,
            follow: [tenantry::provider::Party::Vendor].into(),
            skew: jiff::SignedDuration::ZERO,
            adjust: None,
        };
        converge(&self.executor(), &input, |_, _, _| {}).await
    }

    async fn plan(&self, desired: &DesiredState) -> tenantry::plan::Plan {
        let (_, sources) = example();
        let state = self.store.snapshot().unwrap();
        tenantry::engine::make_plan(
            desired,
            &sources,
            &self.memory.vendors,
            &state,
            PlanOptions::default(),
            jiff::Timestamp::now(),
        )
        .await
    }

    /// Every object at every vendor, by (vendor, kind): how many.
    fn counts(&self) -> BTreeMap<(Vendor, String), usize> {
        let mut out = BTreeMap::new();
        for v in Vendor::ALL {
            for o in self.memory.vendor(v).objects() {
                *out.entry((v, o.kind.clone())).or_default() += 1;
            }
        }
        out
    }
}

fn executed(rounds: &[Round]) -> usize {
    rounds.iter().map(|r| r.report.results.len()).sum()
}

#[tokio::test]
async fn apply_then_plan_shows_no_changes_and_a_second_apply_does_nothing() {
    let (desired, _) = example();
    let w = World::new();
    let (rounds, stopped) = w.apply(&desired, PlanOptions::default()).await;
    assert_eq!(stopped, Stopped::Waiting, "portal tasks remain open");
    assert!(rounds.iter().all(|r| r.report.failed() == 0));
    assert!(executed(&rounds) > 40);
    let before = w.counts();
    assert_eq!(before[&(Vendor::Acronis, "tenant".into())], 8, "2 resellers and the 6 customers with acronis");

    let p = w.plan(&desired).await;
    assert!(
        !p.has_changes(),
        "{}",
        tenantry::plan::render::text(&p, &Default::default(), tenantry::plan::render::Style::new(false))
    );
    let (again, _) = w.apply(&desired, PlanOptions::default()).await;
    assert_eq!(executed(&again), 0);
    assert_eq!(w.counts(), before);
}

#[tokio::test]
async fn a_crash_between_the_vendor_commit_and_the_binding_write_duplicates_nothing() {
    let (desired, _) = example();
    let w = World::new();
    let key = "customer/acme/acronis/tenant";
    *w.store.fail_binding_of.lock().unwrap() = Some(key.into());
    // One round, then the process is gone.
    let (rounds, stopped) = w.apply_rounds(&desired, PlanOptions::default(), 1).await;
    assert_eq!(stopped, Stopped::Failed);
    let failed: Vec<_> =
        rounds[0].report.results.iter().filter(|r| matches!(r.outcome, Outcomed::Failed { .. })).collect();
    assert_eq!(failed.len(), 1);
    assert!(
        matches!(&failed[0].outcome, Outcomed::Failed { message, .. } if message.contains("binding could not be written"))
    );
    // The vendor has it; tenantry only has the intent.
    let snapshot = w.store.snapshot().unwrap();
    let k = ObjectKey::parse(key).unwrap();
    assert!(snapshot.intents.contains_key(&k) && !snapshot.bindings.contains_key(&k));

    let (_, stopped) = w.apply(&desired, PlanOptions::default()).await;
    assert_eq!(stopped, Stopped::Waiting);
    assert_eq!(w.counts()[&(Vendor::Acronis, "tenant".into())], 8, "no duplicate tenant");
    let snapshot = w.store.snapshot().unwrap();
    assert!(snapshot.bindings.contains_key(&k) && !snapshot.intents.contains_key(&k), "binding restored, intent gone");
}

#[tokio::test]
async fn a_lost_response_after_the_commit_duplicates_nothing() {
    let (mut desired, _) = example();
    desired.retain(|r| r.name == "soylent");
    let w = World::new();
    w.memory.vendor(Vendor::Velocloud).inject(Fault::After(ErrorKind::Unknown));
    let (rounds, _) = w.apply(&desired, PlanOptions::default()).await;
    let vco = rounds[0].report.results.iter().find(|r| r.key.vendor == Vendor::Velocloud).unwrap();
    assert_eq!(vco.outcome, Outcomed::Done("the answer was lost, but it was made: bound it".into()));
    assert_eq!(w.memory.vendor(Vendor::Velocloud).count("enterprise"), 1);
    // A refusal before the commit makes nothing and leaves no intent.
    let w2 = World::new();
    w2.memory.vendor(Vendor::Velocloud).inject(Fault::Before(ErrorKind::Rejected));
    let (_, stopped) = w2.apply(&desired, PlanOptions::default()).await;
    assert_eq!(stopped, Stopped::Failed);
    assert_eq!(w2.memory.vendor(Vendor::Velocloud).count("enterprise"), 0);
    assert!(w2.store.snapshot().unwrap().intents.is_empty());
}

#[tokio::test]
async fn an_unreadable_create_answer_is_an_unknown_outcome_looked_up_once_never_sent_again() {
    let (mut desired, _) = example();
    desired.retain(|r| r.name == "soylent");
    // Committed, then answered with a body tenantry cannot read.
    let w = World::new();
    w.memory.vendor(Vendor::Velocloud).inject(Fault::After(ErrorKind::Unreadable));
    let (rounds, _) = w.apply(&desired, PlanOptions::default()).await;
    let vco = rounds[0].report.results.iter().find(|r| r.key.vendor == Vendor::Velocloud).unwrap();
    assert_eq!(vco.outcome, Outcomed::Done("the answer was lost, but it was made: bound it".into()));
    assert_eq!(w.memory.vendor(Vendor::Velocloud).count("enterprise"), 1, "made once, never sent again");

    // Unreadable before anything was made: the lookup finds nothing, the intent is kept (the
    // next run looks again), and nothing is sent twice in this round.
    let w2 = World::new();
    w2.memory.vendor(Vendor::Velocloud).inject(Fault::Before(ErrorKind::Unreadable));
    let (rounds, _) = w2.apply_rounds(&desired, PlanOptions::default(), 1).await;
    let vco = rounds[0].report.results.iter().find(|r| r.key.vendor == Vendor::Velocloud).unwrap();
    assert!(
        matches!(&vco.outcome, Outcomed::Failed { message, .. } if message.contains("it is not there afterwards")),
        "{:?}",
        vco.outcome
    );
    assert_eq!(w2.memory.vendor(Vendor::Velocloud).writes(), 0);
    let k = ObjectKey::parse("customer/soylent/velocloud/enterprise").unwrap();
    assert!(w2.store.snapshot().unwrap().intents.contains_key(&k), "the intent is kept");
}

#[tokio::test]
async fn a_second_apply_waits_then_fails_naming_the_holder_and_expired_locks_are_taken_over() {
    let w = World::new();
    let store: Arc<dyn StateStore> = w.store.clone();
    let (held, takeover) = lock::acquire(
        store.clone(),
        "apply manifests",
        LockScope::All,
        Duration::ZERO,
        Duration::from_secs(60),
        |_| {},
    )
    .await
    .unwrap();
    assert!(takeover.is_empty());
    let told = AtomicBool::new(false);
    let err = lock::acquire(
        store.clone(),
        "apply manifests",
        LockScope::All,
        Duration::from_millis(400),
        Duration::from_secs(60),
        |_| told.store(true, Ordering::SeqCst),
    )
    .await
    .err()
    .unwrap();
    assert!(told.load(Ordering::SeqCst), "the waiting run says it waits");
    let LockError::Held { holder, .. } = &err else { panic!("{err}") };
    assert_eq!(holder.id, held.info().id);
    let text = err.to_string();
    assert!(
        text.starts_with("the state is locked by ") && text.contains(&format!("pid {}", std::process::id())),
        "{text}"
    );
    assert!(err.hint().unwrap().contains(&format!("tenantry force-unlock {}", held.info().id)));
    drop(held);
    assert!(store.locks().unwrap().is_empty(), "released when the run ends");

    // A lock whose holder stopped renewing it (a killed CI job on another host) expires.
    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(120);
    let stale = LockInfo {
        id: "dead1".into(),
        owner: "ci".into(),
        host: "runner-7".into(),
        pid: 4242,
        command: "apply".into(),
        started_at: past,
        expires_at: past,
        scope: LockScope::All,
    };
    assert_eq!(store.acquire_lock(&stale, past).unwrap(), Acquired::Taken(Vec::new()));
    let (_guard, takeover) =
        lock::acquire(store.clone(), "apply", LockScope::All, Duration::ZERO, Duration::from_secs(60), |_| {})
            .await
            .unwrap();
    let [takeover] = takeover.as_slice() else { panic!("{takeover:?}") };
    assert_eq!(takeover.previous.id, "dead1");
    assert!(takeover.why.starts_with("it expired at"), "{}", takeover.why);
    // force-unlock removes a lock by id.
    assert!(store.force_unlock("nope").unwrap().is_none());
}

/// Removes the run's lock (as `force-unlock` from another shell would) once `after` actions
/// have finished, and notes when.
struct UnlockAfter {
    store: Arc<dyn StateStore>,
    id: String,
    after: usize,
    finished: std::sync::atomic::AtomicUsize,
    at: Mutex<Option<jiff::Timestamp>>,
}

impl tenantry::apply::Progress for UnlockAfter {
    fn finished(&self, r: &tenantry::apply::ActionResult) {
        if matches!(r.outcome, Outcomed::Skipped(_)) {
            return;
        }
        if self.finished.fetch_add(1, Ordering::SeqCst) + 1 == self.after {
            self.store.force_unlock(&self.id).unwrap().expect("the run's lock");
            *self.at.lock().unwrap() = Some(jiff::Timestamp::now());
        }
    }
}

#[tokio::test]
async fn an_executor_whose_lock_is_removed_starts_nothing_more_writes_nothing_more_and_the_next_run_duplicates_nothing()
{
    let (desired, _) = example();
    let w = World::new();
    let store: Arc<dyn StateStore> = w.store.clone();
    let (guard, _) =
        lock::acquire(store.clone(), "apply", LockScope::All, Duration::ZERO, Duration::from_secs(60), |_| {})
            .await
            .unwrap();
    let unlock = Arc::new(UnlockAfter {
        store: store.clone(),
        id: guard.info().id.clone(),
        after: 3,
        finished: Default::default(),
        at: Mutex::new(None),
    });
    let secrets = Arc::new(Secrets::new(w.dir.path(), true));
    let mut exec = Executor::new(w.memory.vendors.clone(), guard.store(), secrets);
    exec.progress = unlock.clone();
    exec.parallelism = Some(1);
    let exec = Arc::new(exec);
    let plan = Arc::new(w.plan(&desired).await);
    let executable = plan.actions.iter().filter(|a| a.is_executable()).count();
    let report = exec.run(plan).await;
    let unlocked_at = unlock.at.lock().unwrap().expect("unlocked mid-run");

    // It stopped: besides the three, at most the actions in flight then (one per vendor) ran.
    assert!(exec.stop.load(Ordering::SeqCst), "the refused write stopped the run");
    let ran = report.results.iter().filter(|r| !matches!(r.outcome, Outcomed::Skipped(_))).count();
    assert!(ran <= 3 + Vendor::ALL.len(), "{ran} of {executable} actions ran");
    assert!(executable > ran + 10, "{ran} of {executable} actions ran");
    // Nothing was written after the unlock: every write checked the lock as it was made.
    let history = store.history(None, 10_000).unwrap();
    assert!(history.len() >= 3 && history.len() <= ran, "{} entries for {ran} actions", history.len());
    assert!(history.iter().all(|e| e.at <= unlocked_at), "{history:#?}");
    assert!(store.snapshot().unwrap().bindings.values().all(|b| b.updated_at <= unlocked_at));
    drop(guard);
    assert!(store.locks().unwrap().is_empty());

    // The next run picks up what the stopped one left (intents included): the vendors end up
    // holding exactly what an uninterrupted apply makes.
    w.apply(&desired, PlanOptions::default()).await;
    let whole = World::new();
    whole.apply(&desired, PlanOptions::default()).await;
    assert_eq!(w.counts(), whole.counts());
}

#[tokio::test]
async fn losing_the_state_store_duplicates_nothing_and_rebuilds_bindings() {
    let (desired, _) = example();
    let w = World::new();
    w.apply(&desired, PlanOptions::default()).await;
    let before = w.counts();
    let bindings_before = w.store.snapshot().unwrap().bindings.len();

    let fresh = World {
        dir: tempfile::tempdir().unwrap(),
        memory: Memory { vendors: w.memory.vendors.clone(), mem: w.memory.mem.clone() },
        store: Arc::new(Flaky {
            inner: SqliteStore::open(&tempfile::tempdir().unwrap().keep().join("s.db")).unwrap(),
            fail_binding_of: Mutex::new(None),
        }),
    };
    let p = fresh.plan(&desired).await;
    let creates: Vec<&str> =
        p.actions.iter().filter(|a| a.kind == ActionKind::Create && a.is_executable()).map(|a| a.id.as_str()).collect();
    assert!(creates.is_empty(), "nothing is created again: {creates:?}");
    // Objects with an owner marker (or under a managed parent) are adopted; AvePoint customers
    // have no field for one, so they are conflicts that name the line to adopt them.
    let conflicts: Vec<&str> =
        p.actions.iter().filter(|a| a.kind == ActionKind::Conflict).map(|a| a.id.as_str()).collect();
    assert!(conflicts.iter().all(|c| c.contains("/avepoint/customer:")), "{conflicts:?}");
    assert!(
        p.actions.iter().filter(|a| a.kind == ActionKind::Conflict).all(|a| a
            .hint
            .as_deref()
            .unwrap()
            .contains("externalId:"))
    );

    fresh.apply(&desired, PlanOptions::default()).await;
    assert_eq!(fresh.counts(), before, "no duplicates");
    let rebuilt = fresh.store.snapshot().unwrap().bindings.len();
    assert!(rebuilt + conflicts.len() * 4 >= bindings_before, "bindings rebuilt: {rebuilt} of {bindings_before}");
}

#[tokio::test]
async fn prune_off_leaves_removed_customers_alone_and_prune_on_deletes_only_owned_objects() {
    let (desired, _) = example();
    let w = World::new();
    w.apply(&desired, PlanOptions::default()).await;
    let stranger = tenantry::provider::ObservedObject {
        vendor: Vendor::Velocloud,
        kind: "enterprise".into(),
        id: "stranger".into(),
        natural_key: [("name".to_string(), "Not Ours Ltd".to_string())].into(),
        parent_id: None,
        marker: None,
        fields: BTreeMap::new(),
        version: None,
        state: tenantry::provider::ObjectState::Ready,
    };
    w.memory.vendor(Vendor::Velocloud).insert(stranger);
    let mut fewer = desired.clone();
    fewer.customers.remove("soylent");
    let (rounds, _) = w.apply(&fewer, PlanOptions::default()).await;
    assert_eq!(executed(&rounds), 0);
    assert_eq!(w.memory.vendor(Vendor::Velocloud).count("enterprise"), 5);

    let (rounds, _) = w.apply(&fewer, PlanOptions { prune: true, ..Default::default() }).await;
    let mut deleted: Vec<String> =
        rounds[0].report.results.iter().filter(|r| r.kind == ActionKind::Delete).map(|r| r.action.clone()).collect();
    deleted.sort();
    assert_eq!(
        deleted,
        vec![
            "customer/soylent/acronis/tenant:delete".to_string(),
            "customer/soylent/veeam/company:delete".into(),
            "customer/soylent/velocloud/enterprise:delete".into()
        ]
    );
    assert_eq!(w.memory.vendor(Vendor::Velocloud).count("enterprise"), 4, "the stranger stays");
}

#[tokio::test]
async fn irreversible_changes_are_refused_without_the_flag() {
    let (desired, sources) = example();
    let w = World::new();
    w.apply(&desired, PlanOptions::default()).await;
    // Umbrella's AvePoint customer is still partner-managed; the manifest asks for customer.
    let id = w.store.snapshot().unwrap().bindings[&ObjectKey::parse("customer/umbrella/avepoint/customer").unwrap()]
        .vendor_id
        .clone();
    w.memory.vendor(Vendor::Avepoint).edit("customer", &id, |o| {
        o.fields.insert("managementMode".into(), serde_json::json!("partner"));
    });
    let input = Converge {
        desired: &desired,
        sources: &sources,
        options: PlanOptions::default(),
        allow_irreversible: false,
        wait: Duration::ZERO,
        max_rounds: 3,
        first: None,
        follow: [tenantry::provider::Party::Vendor].into(),
        skew: jiff::SignedDuration::ZERO,
        adjust: None,
    };
    let (_, stopped) = converge(&w.executor(), &input, |_, _, _| {}).await;
    let Stopped::Refused(why) = stopped else { panic!("{stopped:?}") };
    assert!(
        why.contains("irreversible") && why.contains("customer/umbrella/avepoint/customer:task:change-management-mode"),
        "{why}"
    );
    let input = Converge { allow_irreversible: true, ..input };
    let (rounds, _) = converge(&w.executor(), &input, |_, _, _| {}).await;
    assert!(
        rounds[0]
            .report
            .results
            .iter()
            .any(|r| r.action.ends_with(":task:change-management-mode") && matches!(r.outcome, Outcomed::Done(_)))
    );
}

#[tokio::test]
async fn history_records_every_executed_action() {
    let (desired, _) = example();
    let w = World::new();
    let (rounds, _) = w.apply(&desired, PlanOptions::default()).await;
    let all = w.store.history(None, 10_000).unwrap();
    assert_eq!(all.len(), executed(&rounds));
    let acme = w.store.history(Some("Customer/acme"), 100).unwrap();
    assert!(!acme.is_empty() && acme.iter().all(|h| h.key.owner.name == "acme"));
    assert!(
        acme.iter().any(|h| h.action == "customer/acme/velocloud/enterprise:create"
            && h.result == "ok"
            && h.vendor_id.is_some())
    );
}

/// A secret value planted in a manifest reference must not appear in any output, the state
/// database or trace-level logs.
#[tokio::test]
async fn a_planted_secret_appears_nowhere() {
    const PLANTED: &str = "planted-Sup3r-Secret-7781";
    // SAFETY: set before anything reads the environment in this test process.
    unsafe { std::env::set_var("ACME_VCO_ADMIN_PASSWORD", PLANTED) };
    let logs = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer = {
        let logs = logs.clone();
        move || LogSink(logs.clone())
    };
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(writer).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (desired, _) = example();
    let w = World::new();
    let (rounds, _) = w.apply(&desired, PlanOptions::default()).await;
    let mut outputs: Vec<String> = Vec::new();
    for r in &rounds {
        outputs.push(tenantry::plan::json::render(&r.plan));
        outputs.push(tenantry::plan::render::text(
            &r.plan,
            &Default::default(),
            tenantry::plan::render::Style::new(true),
        ));
        outputs.push(tenantry::plan::render::markdown(&r.plan, &Default::default()));
        outputs.push(format!("{:?}", r.report));
    }
    outputs.push(String::from_utf8_lossy(&logs.lock().unwrap()).to_string());
    assert!(!outputs.last().unwrap().is_empty(), "trace logs were captured");
    let mut db = Vec::new();
    for entry in std::fs::read_dir(w.dir.path()).unwrap() {
        db.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    outputs.push(String::from_utf8_lossy(&db).to_string());
    for out in &outputs {
        assert!(!out.contains(PLANTED), "the planted secret leaked");
    }
    let binding =
        &w.store.snapshot().unwrap().bindings[&ObjectKey::parse("customer/acme/velocloud/enterprise").unwrap()];
    assert_eq!(binding.applied["adminPassword"], "env:ACME_VCO_ADMIN_PASSWORD", "only the reference is remembered");
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn values_recorded_at_once_on_one_object_are_all_kept() {
    // Several portal tasks (and a sync) on one object finish at the same moment; each merges
    // what it applied into the one binding. A read-then-write would keep only the last.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("state.db")).unwrap());
    let key = ObjectKey::parse("customer/umbrella/avepoint/customer").unwrap();
    let now = jiff::Timestamp::now();
    assert!(store.merge_binding(&key, None, &BTreeMap::new(), now).unwrap().is_none(), "no binding made without an id");
    store
        .merge_binding(&key, Some("c-1"), &BTreeMap::from([("name".into(), serde_json::json!("Umbrella"))]), now)
        .unwrap();
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let (store, key) = (store.clone(), key.clone());
            std::thread::spawn(move || {
                let values = BTreeMap::from([(format!("field{i}"), serde_json::json!(i))]);
                store.merge_binding(&key, None, &values, jiff::Timestamp::now()).unwrap()
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let b = store.binding(&key).unwrap().expect("binding");
    assert_eq!(b.vendor_id, "c-1");
    assert_eq!(b.created_at, now, "created_at is kept while the object is the same");
    assert_eq!(b.applied.len(), 17, "{:?}", b.applied);
    for i in 0..16 {
        assert_eq!(b.applied[&format!("field{i}")], serde_json::json!(i));
    }
    // Bound to another object: a new binding life, what was applied is kept.
    let later = now.checked_add(jiff::SignedDuration::from_secs(5)).unwrap();
    let b = store.merge_binding(&key, Some("c-2"), &BTreeMap::new(), later).unwrap().unwrap();
    assert_eq!((b.vendor_id.as_str(), b.created_at), ("c-2", later));
    assert_eq!(b.applied.len(), 17);
}

/// What `controller::record` writes: every owner reconciled in full, once per declaration. An
/// idle `serve` resync finds every owner as it was recorded and writes nothing; a changed
/// declaration, and an owner that failed, are told apart.
#[test]
fn record_writes_an_owner_once_per_declaration() {
    use tenantry::controller::{OwnerReport, fingerprint, record};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path).unwrap();
    let (desired, _) = example();
    use tenantry::model::ManifestRef;
    let resellers = desired.resellers.keys().map(ManifestRef::reseller);
    let owners: Vec<ManifestRef> = resellers.chain(desired.customers.keys().map(ManifestRef::customer)).collect();
    assert!(owners.len() > 2, "{owners:?}");
    let reports: BTreeMap<_, _> =
        owners.iter().map(|o| (o.clone(), OwnerReport { done: 1, ..Default::default() })).collect();
    let stamps = || -> BTreeMap<String, String> {
        let db = rusqlite::Connection::open(&path).unwrap();
        let mut q = db.prepare("SELECT owner, at FROM reconciled").unwrap();
        q.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };

    record(&store, &desired, &reports);
    let first = stamps();
    assert_eq!(first.len(), owners.len(), "{first:?}");
    for o in &owners {
        assert_eq!(store.reconciled().unwrap().get(o), fingerprint(&desired, o).as_ref(), "{o}");
    }
    std::thread::sleep(Duration::from_millis(5));
    record(&store, &desired, &reports);
    assert_eq!(stamps(), first, "the same declarations are not written again");

    // One owner recorded with an older declaration is written again; one that failed is not.
    let (stale, failing) = (&owners[0], &owners[1]);
    store.set_reconciled(stale, "older", jiff::Timestamp::UNIX_EPOCH).unwrap();
    store.set_reconciled(failing, "older", jiff::Timestamp::UNIX_EPOCH).unwrap();
    let mut reports = reports;
    reports.get_mut(failing).unwrap().failed.push("a failure".into());
    record(&store, &desired, &reports);
    let now = store.reconciled().unwrap();
    assert_eq!(now.get(stale), fingerprint(&desired, stale).as_ref());
    assert_eq!(now.get(failing).map(String::as_str), Some("older"));
    let after = stamps();
    assert_ne!(after[&stale.to_string()], first[&stale.to_string()]);
    for o in &owners[2..] {
        assert_eq!(after[&o.to_string()], first[&o.to_string()], "{o}");
    }
}
