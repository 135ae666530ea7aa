//! State locks per owner and writes fenced by them: in the store (scopes that conflict or not,
//! dead holders taken over, release, a write after force-unlock), and between real `apply`
//! processes against a served sandbox (an unrelated customer's apply runs beside a held lock;
//! a force-unlocked run stops before its next write and nothing is duplicated).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use tenantry::core::{NaturalKey, ObjectKey, Verify};
use tenantry::model::{ManifestRef, Vendor};
use tenantry::state::lock::{self, LockError};
use tenantry::state::sqlite::SqliteStore;
use tenantry::state::store::{Acquired, AppliedPlan, HistoryEntry, LockInfo, LockScope, NewTask};
use tenantry::state::{Intent, StateStore, TaskStatus};

use crate::e2e::{assert_one_of_each, dir_arg, ok};
use crate::support::{Run, Served, example_copy};

fn owners(names: &[&str]) -> LockScope {
    LockScope::Owners(names.iter().map(|n| ManifestRef::parse(n).expect("an owner")).collect())
}

fn store() -> (tempfile::TempDir, Arc<dyn StateStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("state.db")).unwrap());
    (dir, store)
}

async fn take(store: &Arc<dyn StateStore>, scope: LockScope) -> Result<(lock::LockGuard, Vec<String>), LockError> {
    let (guard, taken) = lock::acquire(
        store.clone(),
        "tenantry apply (the test)",
        scope,
        Duration::ZERO,
        Duration::from_secs(60),
        |_| {},
    )
    .await?;
    Ok((guard, taken.into_iter().map(|t| t.previous.id).collect()))
}

fn held_by(result: Result<(lock::LockGuard, Vec<String>), LockError>) -> LockInfo {
    match result {
        Err(LockError::Held { holder, .. }) => holder,
        Err(e) => panic!("{e}"),
        Ok((g, _)) => panic!("taken: {}", g.info()),
    }
}

/// A lock as another process would have left it.
fn left_behind(id: &str, scope: LockScope, host: &str, pid: u32, expires_in: i64) -> LockInfo {
    let now = jiff::Timestamp::now();
    LockInfo {
        id: id.into(),
        owner: "ci".into(),
        host: host.into(),
        pid,
        command: "tenantry apply".into(),
        started_at: now - jiff::SignedDuration::from_secs(600),
        expires_at: now + jiff::SignedDuration::from_secs(expires_in),
        scope,
    }
}

#[tokio::test]
async fn runs_on_different_owners_hold_locks_at_once_and_a_shared_owner_or_everything_conflicts() {
    let (_dir, store) = store();
    let (acme, taken) = take(&store, owners(&["Customer/acme", "Reseller/northwind"])).await.unwrap();
    assert!(taken.is_empty());
    let (globex, taken) = take(&store, owners(&["Customer/globex"])).await.unwrap();
    assert!(taken.is_empty(), "nothing in the way");
    assert_eq!(store.locks().unwrap().len(), 2, "both held at once");

    // What shares an owner with a holder waits for it; so does everything, for the oldest.
    let holder = held_by(take(&store, owners(&["Reseller/northwind", "Customer/initech"])).await);
    assert_eq!(holder.id, acme.info().id);
    let err = take(&store, LockScope::All).await.err().unwrap();
    let text = err.to_string();
    assert!(text.starts_with("the state is locked by ") && text.contains(&acme.info().id), "{text}");
    assert!(text.contains("for Reseller/northwind, Customer/acme"), "the holder's scope is named: {text}");
    assert!(err.hint().unwrap().contains(&format!("tenantry force-unlock {}", acme.info().id)));
    assert_eq!(held_by(take(&store, owners(&["Customer/globex", "Customer/hooli"])).await).id, globex.info().id);
    // Hooli shares no owner with either: taken at once.
    let (hooli, _) = take(&store, owners(&["Customer/hooli"])).await.unwrap();
    drop(hooli);

    // Released when the run ends: only that run's lock goes.
    let globex_id = globex.info().id.clone();
    drop(acme);
    let left: Vec<String> = store.locks().unwrap().into_iter().map(|l| l.id).collect();
    assert_eq!(left, vec![globex_id.clone()]);
    let (initech, _) = take(&store, owners(&["Reseller/northwind", "Customer/initech"])).await.unwrap();
    assert_eq!(held_by(take(&store, LockScope::All).await).id, globex_id, "the oldest holder is named");
    drop(globex);
    drop(initech);
    assert!(store.locks().unwrap().is_empty());
    let (all, _) = take(&store, LockScope::All).await.unwrap();
    assert_eq!(held_by(take(&store, owners(&["Customer/stark"])).await).id, all.info().id);
    assert_eq!(all.info().scope, LockScope::All);
}

#[tokio::test]
async fn a_dead_holders_lock_is_taken_over_only_where_it_is_in_the_way() {
    let (_dir, store) = store();
    let now = jiff::Timestamp::now();
    // Expired (a killed CI job on another host), on Acme.
    let expired = left_behind("expired1", owners(&["Customer/acme"]), "runner-7", 4242, -30);
    assert_eq!(
        store.acquire_lock(&expired, now - jiff::SignedDuration::from_secs(60)).unwrap(),
        Acquired::Taken(vec![])
    );
    // Its process gone on this host (not expired yet), on Globex.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let gone_pid = child.id();
    child.wait().unwrap();
    let gone = left_behind("gone1", owners(&["Customer/globex"]), &lock::hostname(), gone_pid, 3600);
    assert!(matches!(store.acquire_lock(&gone, now).unwrap(), Acquired::Taken(t) if t.is_empty()));
    // Live, on another host, on Hooli.
    let live = left_behind("live1", owners(&["Customer/hooli"]), "runner-8", 4343, 3600);
    assert!(matches!(store.acquire_lock(&live, now).unwrap(), Acquired::Taken(t) if t.is_empty()));

    // Stark is in nobody's way: the dead locks stay.
    let (stark, taken) = take(&store, owners(&["Customer/stark"])).await.unwrap();
    assert!(taken.is_empty(), "{taken:?}");
    assert_eq!(store.locks().unwrap().len(), 4);
    drop(stark);

    // Everything: a live holder is in the way, so nothing is taken over (nothing is written).
    assert_eq!(held_by(take(&store, LockScope::All).await).id, "live1");
    assert_eq!(store.locks().unwrap().len(), 3, "the dead ones are still there");

    // Acme and Globex: both dead holders are taken over, with why.
    let (guard, taken) = lock::acquire(
        store.clone(),
        "apply",
        owners(&["Customer/acme", "Customer/globex"]),
        Duration::ZERO,
        Duration::from_secs(60),
        |_| {},
    )
    .await
    .unwrap();
    let why: BTreeMap<String, String> = taken.into_iter().map(|t| (t.previous.id, t.why)).collect();
    assert_eq!(why.len(), 2, "{why:?}");
    assert!(why["expired1"].starts_with("it expired at"), "{why:?}");
    assert_eq!(why["gone1"], format!("process {gone_pid} on this host is gone"));
    let ids: Vec<String> = store.locks().unwrap().into_iter().map(|l| l.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"live1".to_string()) && ids.contains(&guard.info().id), "{ids:?}");
}

#[tokio::test]
async fn a_write_after_force_unlock_fails_and_writes_nothing_while_reads_go_on() {
    let (_dir, store) = store();
    let (guard, _) = take(&store, owners(&["Customer/acme"])).await.unwrap();
    let fenced = guard.store();
    let key = ObjectKey::new(ManifestRef::customer("acme"), Vendor::Acronis, "tenant");
    let other = ObjectKey::new(ManifestRef::customer("acme"), Vendor::Datto, "client");
    let applied = BTreeMap::from([("name".to_string(), serde_json::json!("Acme"))]);
    let now = jiff::Timestamp::now();
    let task = |key: &ObjectKey| NewTask {
        key: key.clone(),
        task: "add-saas-client".into(),
        vendor: key.vendor,
        page: "https://portal.example/clients".into(),
        title: "Add SaaS Client".into(),
        target: None,
        values: BTreeMap::new(),
        verify: Verify::Observation,
        created_at: now,
        note: None,
    };
    let intent = |key: &ObjectKey| Intent {
        key: key.clone(),
        action: format!("{}:create", key.id()),
        natural_key: NaturalKey::new([("name", "Acme".to_string())]),
        started_at: now,
        detail: None,
    };
    let entry = |key: &ObjectKey| HistoryEntry {
        at: now,
        run: "run1".into(),
        action: format!("{}:create", key.id()),
        kind: "create".into(),
        key: key.clone(),
        title: "tenant Acme".into(),
        result: "ok".into(),
        vendor_id: Some("t-1".into()),
        message: None,
        commit: None,
    };
    // While the lock is held, every kind of write goes through.
    fenced.check_fence().unwrap();
    fenced.merge_binding(&key, Some("t-1"), &applied, now).unwrap();
    fenced.put_intent(&intent(&other)).unwrap();
    let t = fenced.add_task(task(&other)).unwrap();
    fenced.record(&entry(&key)).unwrap();
    let before = store.snapshot().unwrap();
    let history_before = store.history(None, 100).unwrap();
    assert_eq!(before.bindings.len(), 1);

    let removed = store.force_unlock(&guard.info().id).unwrap().expect("removed");
    assert_eq!(removed.scope, owners(&["Customer/acme"]));
    let id = guard.info().id.clone();
    let lost = |what: &str, e: tenantry::state::StateError| {
        assert!(e.is_lock_lost(), "{what}: {e}");
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "the state lock {id} of this run was removed or taken over; stopping before writing "
            )),
            "{what}: {text}"
        );
        text
    };
    lost("check", fenced.check_fence().unwrap_err());
    let text = lost("binding", fenced.merge_binding(&key, Some("t-2"), &applied, now).unwrap_err());
    assert!(text.ends_with("the binding of customer/acme/acronis/tenant"), "{text}");
    lost("new binding", fenced.merge_binding(&other, Some("c-1"), &applied, now).unwrap_err());
    lost("remove binding", fenced.remove_binding(&key).unwrap_err());
    lost("intent", fenced.put_intent(&intent(&key)).unwrap_err());
    lost("remove intent", fenced.remove_intent(&other).unwrap_err());
    lost("task", fenced.add_task(task(&other)).unwrap_err());
    lost("supersede", fenced.set_task_status(&t.id, TaskStatus::Superseded { at: now }).unwrap_err());
    lost("delivered", fenced.set_task_delivered(&t.id, "command").unwrap_err());
    lost("history", fenced.record(&entry(&other)).unwrap_err());
    let plan = AppliedPlan { id: "p1".into(), applied_at: now, run: "run1".into() };
    lost("applied plan", fenced.record_plan_applied(&plan).unwrap_err());

    // Nothing was written; reads through the fenced handle still work.
    assert_eq!(store.snapshot().unwrap(), before);
    assert_eq!(fenced.snapshot().unwrap(), before);
    assert_eq!(store.history(None, 100).unwrap(), history_before);
    assert_eq!(store.plan_applied("p1").unwrap(), None);
    // Nor does taking a new lock bring the old one back: a lock id is never reused.
    let (_next, _) = take(&store, owners(&["Customer/acme"])).await.unwrap();
    lost("after a new lock", fenced.put_intent(&intent(&key)).unwrap_err());
    // The unfenced store (a person's `tasks done`) is not bound by any lock.
    store.set_task_delivered(&t.id, "command").unwrap();
}

#[tokio::test]
async fn a_lock_taken_over_as_dead_fences_its_holder_if_it_was_alive_after_all() {
    let (_dir, store) = store();
    // A run whose renewals stopped (a paused VM): its lock expires and is taken over.
    let (guard, _) = lock::acquire(
        store.clone(),
        "apply",
        owners(&["Customer/acme"]),
        Duration::ZERO,
        Duration::from_millis(300),
        |_| {},
    )
    .await
    .unwrap();
    let fenced = guard.store();
    let mut me = store.locks().unwrap().remove(0);
    me.id = "successor".into();
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
    let Acquired::Taken(taken) = store.acquire_lock(&me, later).unwrap() else { panic!("held") };
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].previous.id, guard.info().id);
    let key = ObjectKey::new(ManifestRef::customer("acme"), Vendor::Acronis, "tenant");
    let e = fenced.merge_binding(&key, Some("t-1"), &BTreeMap::new(), jiff::Timestamp::now()).unwrap_err();
    assert!(e.is_lock_lost(), "{e}");
    assert!(store.snapshot().unwrap().bindings.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Between processes, against a served sandbox.

fn sandbox_store(dir: &std::path::Path) -> SqliteStore {
    SqliteStore::open(&dir.join(".tenantry/sandbox/state.db")).expect("open the sandbox state")
}

/// Wait (up to a minute) until `done` holds for the sandbox state of `dir`.
fn wait_for_state<T>(dir: &std::path::Path, what: &str, done: impl Fn(&SqliteStore) -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if dir.join(".tenantry/sandbox/state.db").exists()
            && let Some(t) = done(&sandbox_store(dir))
        {
            return t;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "waited a minute for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A tenantry process started in the background, killed (by its pid) if still running when
/// dropped.
struct Background(Option<std::process::Child>);

impl Background {
    fn start(mut c: std::process::Command) -> Background {
        c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        Background(Some(c.spawn().expect("start tenantry")))
    }

    fn finish(mut self) -> Run {
        let out = self.0.take().expect("running").wait_with_output().expect("wait");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn kill(mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apply_of_one_customer_runs_beside_another_customers_held_lock_and_everything_waits() {
    // Customers take an hour: an apply of Globex sits waiting for its authorizations, holding
    // its lock, for as long as its --wait.
    let served = Served::start(&["--customer-delay", "3600"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let globex =
        Background::start(served.command(&["apply", &d, "--target", "globex", "--auto-approve", "--wait", "60s"]));
    let held = wait_for_state(dir.path(), "the Globex apply's lock and its first writes", |s| {
        let locks = s.locks().ok()?;
        let bound = s.snapshot().ok()?.bindings.keys().any(|k| k.owner == ManifestRef::customer("globex"));
        (bound && locks.len() == 1).then(|| locks[0].clone())
    });
    assert_eq!(held.scope, owners(&["Customer/globex"]), "{held}");

    // `state lock` names the holder and what it holds.
    let shown = served.run(&["state", "lock", &d, "--sandbox"]);
    ok(&shown);
    assert!(shown.stdout.contains(&held.id) && shown.stdout.contains("Customer/globex"), "{shown}");
    let listed: Json =
        serde_json::from_str(&served.run(&["state", "lock", &d, "--sandbox", "--format", "json"]).stdout)
            .expect("state lock JSON");
    assert_eq!(listed[0]["id"], held.id.as_str());
    assert_eq!(listed[0]["scope"], serde_json::json!(["Customer/globex"]));
    assert_eq!(listed[0]["pid"], serde_json::json!(held.pid));

    // Stark is not Globex's: its apply takes its own lock at once (no --lock-timeout) and
    // finishes, waiting for nothing but its own customers.
    let started = Instant::now();
    let stark = served.run(&["apply", &d, "--target", "stark", "--auto-approve", "--wait", "0s"]);
    assert!(stark.code == 0 || stark.code == 2, "{stark}");
    assert!(!stark.stderr.contains("locked by") && !stark.stderr.contains("Waiting up to"), "{stark}");
    assert!(stark.stdout.contains("Customer/stark"), "{stark}");
    assert!(started.elapsed() < Duration::from_secs(50), "it did not sit out Globex's wait");
    let state = sandbox_store(dir.path());
    assert!(state.snapshot().unwrap().bindings.keys().any(|k| k.owner == ManifestRef::customer("stark")));
    let locks = state.locks().unwrap();
    assert_eq!(locks.len(), 1, "Stark's lock is released, Globex's held: {locks:?}");
    assert_eq!(locks[0].id, held.id);

    // An apply of everything conflicts with every lock: it fails at once, naming the holder.
    let all = served.run(&["apply", &d, "--auto-approve", "--lock-timeout", "0s"]);
    assert_eq!(all.code, 1, "{all}");
    assert!(all.stderr.contains("the state is locked by"), "{all}");
    assert!(all.stderr.contains(&held.id) && all.stderr.contains("for Customer/globex"), "{all}");
    assert!(all.stderr.contains(&format!("tenantry force-unlock {}", held.id)), "{all}");
    assert!(
        !state.snapshot().unwrap().bindings.keys().any(|k| k.owner == ManifestRef::customer("hooli")),
        "nothing applied"
    );

    // A killed holder (its process gone on this host) is taken over with a warning.
    globex.kill();
    let after = served.run(&["apply", &d, "--auto-approve", "--lock-timeout", "0s", "--wait", "0s"]);
    assert!(after.code == 0 || after.code == 2, "{after}");
    assert!(after.stderr.contains("took over the state lock of") && after.stderr.contains(&held.id), "{after}");
    assert!(after.stderr.contains("on this host is gone"), "{after}");
    assert!(state.locks().unwrap().is_empty(), "released");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_force_unlocked_run_stops_before_its_next_write_and_its_successor_duplicates_nothing() {
    // Every vendor answer takes a while, so the apply is mid-way when it is unlocked.
    let served = Served::start(&["--latency", "100..200"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let first = Background::start(served.command(&["apply", &d, "--auto-approve"]));
    let (lock, run) = wait_for_state(dir.path(), "the first apply's lock and some history", |s| {
        let locks = s.locks().ok()?;
        let history = s.history(None, 100).ok()?;
        (locks.len() == 1 && history.len() >= 5).then(|| (locks[0].clone(), history[0].run.clone()))
    });
    assert_eq!(lock.scope, LockScope::All);

    let unlocked = served.run(&["force-unlock", &lock.id, &d, "--sandbox"]);
    ok(&unlocked);
    let unlocked_at = jiff::Timestamp::now();
    assert!(unlocked.stdout.contains(&lock.id), "{unlocked}");
    // The successor starts at once, while the first may still have actions in flight.
    let second = Background::start(served.command(&["apply", &d, "--auto-approve", "--lock-timeout", "60s"]));

    let first = first.finish();
    assert_eq!(first.code, 1, "{first}");
    assert!(
        first.stderr.contains(&format!("the state lock {} of this run was removed or taken over", lock.id)),
        "{first}"
    );
    assert!(first.stdout.contains("Apply stopped"), "{first}");
    // The successor took the lock and ran. It may stop at "planned again": an object the first
    // run made but could not bind is adopted in the same round as a portal task on it, whose
    // entered values are recorded only on an existing binding (as after a run killed between a
    // create and its binding); the next apply does that task again and converges.
    let second = second.finish();
    assert!(!second.stderr.contains("locked by"), "{second}");
    assert!(second.code != 1 || second.stderr.contains("the same actions were planned again"), "{second}");

    // Not one write of the first run after the unlock (each write checked the lock as it was
    // made): its history ends before it.
    let state = sandbox_store(dir.path());
    let history = state.history(None, 100_000).unwrap();
    let mine: Vec<&HistoryEntry> = history.iter().filter(|e| e.run == run).collect();
    assert!(!mine.is_empty());
    assert!(mine.iter().all(|e| e.at <= unlocked_at), "the first run wrote after the unlock: {mine:#?}");
    assert!(history.iter().any(|e| e.run != run), "the successor ran");

    // Converged, the world holds one object per declared thing, and no portal task was made
    // twice or replaced by a run that raced another.
    let last = crate::e2e::converge(&served, &d, 3);
    assert!(last.code == 0, "{last}");
    assert_one_of_each(dir.path(), &served.dump().await);
    let tasks = state.tasks().unwrap();
    let superseded: Vec<&str> =
        tasks.iter().filter(|t| matches!(t.status, TaskStatus::Superseded { .. })).map(|t| t.id.as_str()).collect();
    assert!(superseded.is_empty(), "superseded portal tasks: {superseded:?} of {tasks:#?}");
    let mut steps = BTreeMap::new();
    for t in &tasks {
        *steps.entry((t.key.id(), t.task.clone())).or_insert(0) += 1;
    }
    let twice: Vec<_> = steps.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "portal tasks made twice: {twice:?}");
    assert!(state.locks().unwrap().is_empty());
}
