//! End to end, as a user runs it: the `tenantry` binary against the sandbox over real HTTP
//! (in-process with `--sandbox`, or a separate `tenantry sandbox serve` process).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value as Json, json};
use tenantry::model::Vendor;

use crate::support::{Run, Served, example_copy, run};

pub(crate) fn dir_arg(dir: &Path) -> String {
    dir.display().to_string()
}

/// How many objects of each (vendor, type) the manifests declare, as the sandbox dump names them.
fn declared(dir: &Path) -> BTreeMap<(String, String), usize> {
    let loaded = tenantry::manifest::load_dir(dir).expect("load");
    let desired = loaded.desired.expect("valid manifests");
    let objects = tenantry::engine::desire(&desired, &tenantry::provider::models());
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut add = |v: &str, t: &str| *counts.entry((v.to_string(), t.to_string())).or_default() += 1;
    for d in &objects {
        match (d.key.vendor, d.key.kind.as_str()) {
            (Vendor::Veeam, "company") => add("veeam", "company"),
            (Vendor::Veeam, "pulse-tenant") => {
                add("veeam", "pulseTenant");
                add("veeam", "pulsePortalCustomer");
            }
            (Vendor::Veeam, "vdc-registration") => add("veeam", "vdcRegistered"),
            (Vendor::Datto, "client") => add("datto", "saasClient"),
            (Vendor::Velocloud, "enterprise") => add("velocloud", "enterprise"),
            (Vendor::Acronis, k) => add("acronis", k),
            (Vendor::Watchguard, k) => add("watchguard", k),
            (Vendor::Avepoint, "customer") => add("avepoint", "customer"),
            (Vendor::Avepoint, k) if k.starts_with("service/") => add("avepoint", "service"),
            _ => {}
        }
    }
    counts
}

/// The same counts from a sandbox dump, failing on any duplicate name.
pub(crate) fn dumped(dump: &Json) -> BTreeMap<(String, String), usize> {
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut names: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut add = |v: &str, t: &str, name: &Json| {
        *counts.entry((v.to_string(), t.to_string())).or_default() += 1;
        names.entry((v.to_string(), t.to_string())).or_default().push(name.to_string());
    };
    for (vendor, list) in dump.as_object().expect("dump is an object") {
        for o in list.as_array().expect("a list per vendor") {
            let t = o["type"].as_str().unwrap_or_default();
            match (vendor.as_str(), t) {
                ("veeam", "company") => add("veeam", t, &o["company"]["name"]),
                ("veeam", "pulseTenant") => add("veeam", t, &o["tenant"]["name"]),
                ("veeam", "pulsePortalCustomer") => {
                    add("veeam", t, &o["customer"]["name"]);
                    if o["customer"]["vdcRegistered"] == json!(true) {
                        add("veeam", "vdcRegistered", &o["customer"]["name"]);
                    }
                }
                ("datto", _) => add("datto", t, &o["client"]["name"]),
                ("velocloud", _) => add("velocloud", t, &o["enterprise"]["accountNumber"]),
                ("acronis", "tenant") => add("acronis", t, &o["tenant"]["name"]),
                ("acronis", "user") => add("acronis", t, &o["user"]["login"]),
                ("watchguard", "account") => add("watchguard", t, &o["account"]["name"]),
                ("watchguard", "operator") => add("watchguard", t, &o["operator"]["userName"]),
                ("avepoint", "customer") => {
                    add("avepoint", t, &o["customer"]["ownerEmail"]);
                    for s in o["customer"]["services"].as_array().into_iter().flatten() {
                        add("avepoint", "service", &json!(format!("{}/{}", o["customer"]["id"], s["service"])));
                    }
                }
                other => panic!("unexpected dump entry {other:?}"),
            }
        }
    }
    for ((v, t), list) in &names {
        let mut sorted = list.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), list.len(), "duplicate {v} {t} in the sandbox: {list:?}");
    }
    counts
}

pub(crate) fn assert_one_of_each(dir: &Path, dump: &Json) {
    assert_eq!(dumped(dump), declared(dir), "the sandbox holds exactly one object per declared thing");
}

pub(crate) fn ok(r: &Run) {
    assert_eq!(r.code, 0, "{r}");
}

#[test]
fn apply_sandbox_converges_the_example_and_a_second_run_does_nothing() {
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let first = run(&["apply", "--sandbox", &d, "--auto-approve"]);
    ok(&first);
    assert!(first.stdout.contains("Apply complete: "), "{first}");
    assert!(!first.stdout.contains(" failed, ") || first.stdout.contains(" 0 failed, "), "{first}");

    let second = run(&["apply", "--sandbox", &d, "--auto-approve"]);
    ok(&second);
    assert!(second.stdout.contains("No changes."), "{second}");
    assert!(second.stdout.contains("Apply complete: 0 done, 0 failed, 0 waiting, 0 blocked."), "{second}");

    let plan = run(&["plan", "--sandbox", &d, "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{plan}");

    let dump = run(&["sandbox", "dump", "-d", &d]);
    ok(&dump);
    let dump: Json = serde_json::from_str(&dump.stdout).expect("dump is JSON");
    assert_one_of_each(dir.path(), &dump);

    // Each WatchGuard operator's binding records what its transaction left at WatchGuard, so
    // later observes need not read every account's operators.
    let store = tenantry::state::sqlite::SqliteStore::open(&dir.path().join(".tenantry/sandbox/state.db")).unwrap();
    let state = tenantry::state::StateStore::snapshot(&store).unwrap();
    let operators: Vec<_> =
        state.bindings.values().filter(|b| b.key.vendor == Vendor::Watchguard && b.key.kind == "operator").collect();
    assert!(!operators.is_empty());
    for b in operators {
        assert_eq!(b.applied.get("operator.userName"), Some(&json!(b.vendor_id)), "{b:?}");
        for f in ["accountId", "firstName", "lastName", "email", "phone"] {
            assert!(b.applied.get(&format!("operator.{f}")).is_some_and(|v| v.is_string()), "{f} in {b:?}");
        }
    }

    let tasks = run(&["tasks", "-d", &d, "--sandbox"]);
    ok(&tasks);
    assert_eq!(tasks.stdout.trim(), "No open portal tasks.", "{tasks}");
    let history = run(&["history", "-d", &d, "--sandbox", "--customer", "acme", "--format", "json"]);
    let entries: Vec<Json> = serde_json::from_str(&history.stdout).expect("history JSON");
    assert!(entries.len() > 5 && entries.iter().all(|e| e["owner"] == "Customer/acme"), "{history}");
}

#[tokio::test]
async fn drift_shows_exactly_the_changed_field_and_apply_puts_it_back() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    ok(&served.run(&["apply", &d, "--auto-approve"]));

    // Someone edits two objects in the vendors' portals.
    let edits = [
        json!({"vendor": "acronis", "kind": "tenant", "name": "Acme Corp", "field": "customer_id", "value": "ACME-9999"}),
        json!({"vendor": "velocloud", "kind": "enterprise", "name": "Soylent Foods Inc", "field": "domain", "value": "soylent-old.example"}),
    ];
    for e in edits {
        let answer = served.post("/_sandbox/edit", e).await;
        assert_eq!(answer["status"], "done", "{answer}");
    }
    let plan = served.run(&["plan", &d, "--format", "json", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{plan}");
    let plan: Json = serde_json::from_str(&plan.stdout).expect("plan JSON");
    let executable = executable(&plan);
    let ids: Vec<&str> = executable.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["customer/acme/acronis/tenant:sync", "customer/soylent/velocloud/enterprise:sync"]);
    let fields = |a: &Json| -> Vec<(String, Json, Json)> {
        a["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["field"].as_str().unwrap().to_string(), c["before"].clone(), c["after"].clone()))
            .collect()
    };
    assert_eq!(fields(executable[0]), [("customerId".to_string(), json!("ACME-9999"), json!("ACME-0001"))]);
    assert_eq!(fields(executable[1]), [("domain".to_string(), json!("soylent-old.example"), json!("soylent.example"))]);
    let text = served.run(&["plan", &d]);
    assert!(text.stdout.contains("customerId differs: 'ACME-9999' -> 'ACME-0001'"), "{text}");

    ok(&served.run(&["apply", &d, "--auto-approve"]));
    let after = served.run(&["plan", &d, "--detailed-exitcode"]);
    assert_eq!(after.code, 0, "{after}");
}

#[test]
fn a_saved_plan_applies_exactly_and_a_stale_one_is_refused_naming_what_changed() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let file = dir.path().join("plan.json");
    let f = dir_arg(&file);

    let plan = served.run(&["plan", &d, "--target", "soylent", "--out", &f]);
    ok(&plan);
    let saved: Json = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved["manifestsDir"], json!(d));
    // A manifest edited after planning: refused, naming the file.
    let acme = dir.path().join("customers/acme.yaml");
    let text = std::fs::read_to_string(&acme).unwrap();
    std::fs::write(&acme, text.replace("Leeds", "York")).unwrap();
    let stale = served.run(&["apply", &f]);
    assert_eq!(stale.code, 1, "{stale}");
    assert!(
        stale.stderr.contains("the saved plan is stale") && stale.stderr.contains("customers/acme.yaml changed"),
        "{stale}"
    );
    std::fs::write(&acme, text).unwrap();

    // Unchanged: applied exactly (only soylent's objects), without a prompt. The VDC
    // registration needs the Pulse mapping this run started: it waits (exit 2).
    let applied = served.run(&["apply", &f]);
    assert_eq!(applied.code, 2, "{applied}");
    assert!(applied.stdout.contains("0 failed, 1 waiting, 0 blocked"), "{applied}");
    assert!(applied.stdout.contains("Customer/soylent") && !applied.stdout.contains("Customer/acme"), "{applied}");

    // Converge what the saved plan started (Pulse mapping, VDC), so nothing moves on its own.
    ok(&served.run(&["apply", &d, "--target", "soylent", "--auto-approve"]));
    // A vendor object the plan touches changed since: refused, naming it. (Only what a plan's
    // actions touch or depend on is checked, so the plan syncs that object.)
    let rt = tokio::runtime::Runtime::new().unwrap();
    let edit_domain = |value: &str| {
        let answer = rt.block_on(served.post(
            "/_sandbox/edit",
            json!({"vendor": "velocloud", "kind": "enterprise", "name": "Soylent Foods Inc", "field": "domain", "value": value}),
        ));
        assert_eq!(answer["status"], "done", "{answer}");
    };
    edit_domain("old.example");
    let plan = served.run(&["plan", &d, "--target", "soylent", "--out", &f]);
    ok(&plan);
    assert!(plan.stdout.contains("domain differs: 'old.example' -> 'soylent.example'"), "{plan}");
    edit_domain("x.example");
    let planned: Json = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(
        planned["fingerprints"]["observed"].as_object().unwrap().keys().any(|k| k.starts_with("velocloud:enterprise:")),
        "{planned}"
    );
    let stale = served.run(&["apply", &f]);
    assert_eq!(stale.code, 1, "{stale}");
    assert!(stale.stderr.contains("velocloud enterprise name \"Soylent Foods Inc\""), "{stale}");
}

/// Reset a served sandbox and the manifest directory's sandbox state.
async fn fresh(served: &Served, dir: &Path) {
    served.post("/_sandbox/reset", json!({})).await;
    let _ = std::fs::remove_dir_all(dir.join(".tenantry"));
}

/// Apply until the plan is empty (at most `tries` applies); returns the last apply.
pub(crate) fn converge(served: &Served, d: &str, tries: usize) -> Run {
    let mut last = None;
    for _ in 0..tries {
        let r = served.run(&["apply", d, "--auto-approve"]);
        let plan = served.run(&["plan", d, "--detailed-exitcode"]);
        let done = r.code == 0 && plan.code == 0;
        last = Some((r, plan));
        if done {
            break;
        }
    }
    let (r, plan) = last.expect("at least one try");
    assert_eq!(plan.code, 0, "not converged after {tries} applies:\n{r}\n{plan}");
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_nine_at_random_points_then_apply_again_duplicates_nothing() {
    use rand::{Rng, SeedableRng};
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    // How long an uninterrupted apply takes here, so the kills land all through it.
    fresh(&served, dir.path()).await;
    let started = std::time::Instant::now();
    ok(&served.run(&["apply", &d, "--auto-approve"]));
    let full = started.elapsed().as_millis() as u64;

    let mut rng = rand::rngs::StdRng::seed_from_u64(0x7e4a_4721);
    for trial in 0..20 {
        fresh(&served, dir.path()).await;
        let at = rng.random_range(0..full.max(200));
        let mut child = served
            .command(&["apply", &d, "--auto-approve"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start apply");
        tokio::time::sleep(std::time::Duration::from_millis(at)).await;
        child.kill().expect("kill -9"); // SIGKILL: no cleanup at all
        let _ = child.wait();

        let r = converge(&served, &d, 2);
        assert!(
            !r.stdout.contains(" failed, ") || r.stdout.contains(" 0 failed, "),
            "trial {trial} (killed at {at} ms):\n{r}"
        );
        let dump = served.dump().await;
        let got = std::panic::catch_unwind(|| assert_one_of_each(dir.path(), &dump));
        assert!(got.is_ok(), "trial {trial}: killed at {at} ms of {full} ms");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_5xx_429_drops_and_lost_answers_still_converge_without_duplicates() {
    let served = Served::start(&["--faults", "5xx=0.05,429=0.03,drop=0.03,lose=0.05", "--seed", "11"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    converge(&served, &d, 4);
    assert_one_of_each(dir.path(), &served.dump().await);
}

#[test]
fn with_the_operator_off_every_human_step_is_listed_and_tasks_done_closes_one() {
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let first = run(&["apply", "--sandbox", "--no-operator", &d, "--auto-approve"]);
    // Applied, and the portal tasks wait for a person: exit 2, not 0 ("converged").
    assert_eq!(first.code, 2, "{first}");
    assert!(first.stdout.contains("What is waiting completes at the vendor"), "{first}");

    let plan = run(&["plan", "--sandbox", &d]);
    ok(&plan);
    assert!(plan.stdout.contains("waiting for portal task T-"), "{plan}");
    assert!(
        plan.stdout.contains("Datto Partner Portal › Status › SaaS Protection Status › Add SaaS Protection Client"),
        "{plan}"
    );
    assert!(plan.stdout.contains("hint: when it is done, run `tenantry tasks done T-"), "{plan}");

    let tasks = run(&["tasks", "--sandbox", "-d", &d, "--format", "json"]);
    ok(&tasks);
    let list: Vec<Json> = serde_json::from_str(&tasks.stdout).expect("tasks JSON");
    assert!(list.len() >= 5, "{tasks}");
    let attested = list
        .iter()
        .find(|t| t["verify"] == "attestation" && t["task"] == "avepoint/report-recipients")
        .unwrap_or_else(|| panic!("an attestation task: {tasks}"));
    let id = attested["id"].as_str().unwrap();
    let text = run(&["tasks", "--sandbox", "-d", &d]);
    assert!(text.stdout.contains(id) && text.stdout.contains("ago"), "{text}");
    let show = run(&["tasks", "show", id, "--sandbox", "-d", &d]);
    assert!(show.stdout.contains("portal:") && show.stdout.contains("enter:"), "{show}");

    let done = run(&["tasks", "done", id, "--note", "done by the test", "--sandbox", "-d", &d]);
    ok(&done);
    let again = run(&["tasks", "done", id, "--sandbox", "-d", &d]);
    assert_eq!(again.code, 1, "{again}");
    assert!(again.stderr.contains("already marked done"), "{again}");
    let plan = run(&["plan", "--sandbox", &d]);
    assert!(!plan.stdout.contains(&format!("portal task {id} ")), "{plan}");
    let unknown = run(&["tasks", "done", "T-999", "--sandbox", "-d", &d]);
    assert!(unknown.code == 1 && unknown.stderr.contains("there is no task T-999; open tasks: T-"), "{unknown}");
}

/// Replace `from` with `to` in a manifest of `dir` (the test fails if it is not there).
#[test]
fn plan_markdown_keeps_to_the_budget_it_is_given_and_points_at_the_saved_plan() {
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let out = dir.path().join("plan.json");
    let f = out.display().to_string();
    let whole = run(&["plan", "--sandbox", &d, "--format", "markdown"]);
    ok(&whole);
    assert!(whole.stdout.len() > 8_000 && !whole.stdout.contains("Left out"), "{whole}");
    let cut = run(&["plan", "--sandbox", &d, "--format", "markdown", "--markdown-budget", "8000", "--out", &f]);
    ok(&cut);
    assert!(cut.stdout.len() <= 8_000, "{} characters", cut.stdout.len());
    assert!(cut.stdout.contains("| owner | create |") && cut.stdout.contains("Left out to fit one comment"), "{cut}");
    assert!(cut.stdout.contains(&format!("The full plan is saved in `{f}`")), "{cut}");
    assert!(out.exists());
    let refused = run(&["plan", "--sandbox", &d, "--format", "markdown", "--markdown-budget", "100"]);
    assert_ne!(refused.code, 0, "{refused}");
    assert!(refused.stderr.contains("--markdown-budget"), "{refused}");
}

pub(crate) fn edit_manifest(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).expect("read manifest");
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write manifest");
}

#[tokio::test(flavor = "multi_thread")]
async fn vendor_rules_give_the_planned_messages() {
    // Pulse never maps (so VDC stays blocked) and the VCO operator disabled customer creation.
    let served = Served::start(&["--pulse-delay", "3600"]);
    served.post("/_sandbox/velocloud/creation", json!({"disabled": true})).await;
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let first = served.run(&["apply", &d, "--auto-approve", "--wait", "1s"]);
    assert_eq!(first.code, 1, "{first}");
    assert!(first.stdout.contains("the VCO operator has disabled customer creation for this partner"), "{first}");
    assert!(first.stdout.contains("ask your VCO operator to allow customer creation"), "{first}");

    // A cap below the seats already protected, and a commitment term Datto forbids.
    edit_manifest(
        dir.path(),
        "customers/acme.yaml",
        "cap: {enabled: true, seats: 80}",
        "cap: {enabled: true, seats: 5}",
    );
    edit_manifest(
        dir.path(),
        "customers/wayne.yaml",
        "      region: eu\n",
        "      region: eu\n      term: monthToMonth\n",
    );
    let plan = served.run(&["plan", &d, "--format", "json"]);
    assert_eq!(plan.code, 0, "{plan}");
    let plan: Json = serde_json::from_str(&plan.stdout).expect("plan JSON");
    let blocked = |id: &str| -> String {
        let a = plan["actions"].as_array().unwrap().iter().find(|a| a["id"] == id);
        let a = a.unwrap_or_else(|| panic!("no action {id} in {plan:#}"));
        a["blocked"].as_str().unwrap_or_else(|| panic!("{id} is not blocked: {a:#}")).to_string()
    };
    let pulse =
        plan["actions"].as_array().unwrap().iter().find(|a| a["id"] == "customer/acme/veeam/pulse-tenant:await");
    let since: jiff::Timestamp = pulse.expect("pulse await")["since"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        blocked("customer/acme/veeam/vdc-registration:portal-task"),
        format!(
            "VDC registration needs an Active End Customer in VCSP Pulse that is not yet VDC registered: waiting for VCSP Pulse mapping (Veeam verifies the customer) since {}",
            tenantry::plan::fmt_time(since)
        )
    );
    assert_eq!(
        blocked("customer/acme/datto/client:task:licensing"),
        "the license cap of 5 is below the 12 seats already protected; Datto refuses a cap under the protected seats"
    );
    assert_eq!(
        blocked("customer/wayne/datto/client:task:change-term"),
        "term: Datto does not allow a oneYear commitment to become monthToMonth"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_authorization_link_is_renewed() {
    // Customers never consent; after 73 hours the AvePoint links (72 h) have expired.
    let served = Served::start(&["--no-customers"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let first = served.run(&["apply", &d, "--auto-approve", "--wait", "1s"]);
    // Applied; the customers' consent is what it waits for: exit 2.
    assert_eq!(first.code, 2, "{first}");
    let plan = served.run(&["plan", &d]);
    assert!(plan.stdout.contains("waiting for consent"), "{plan}");
    served.post("/_sandbox/clock", json!({"advanceSeconds": 73 * 3600})).await;
    let plan = served.run(&["plan", &d, "--format", "json"]);
    assert_eq!(plan.code, 0, "{plan}");
    let plan: Json = serde_json::from_str(&plan.stdout).expect("plan JSON");
    let renew: Vec<&Json> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["key"]["vendor"] == "avepoint" && a["kind"] == "register")
        .collect();
    assert!(!renew.is_empty(), "{plan:#}");
    for a in renew {
        let reason = a["reason"].as_str().unwrap();
        assert!(reason.contains("the authorization link has expired (3d validity); a new link goes to"), "{reason}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn watchguard_operators_beyond_the_verification_sample_come_from_their_bindings() {
    use tenantry::provider::ObjectKey;
    use tenantry::provider::watchguard::VERIFY_PER_OBSERVE;
    use tenantry::sandbox::watchguard::{Account, Operator};
    // More bound accounts than one observe verifies: WatchGuard has no operator list across
    // accounts, so the rest are taken from what their transactions recorded.
    let count = VERIFY_PER_OBSERVE + 50;
    let sandbox =
        tenantry::sandbox::Sandbox::start(tenantry::sandbox::Options { journal: false, ..Default::default() })
            .await
            .unwrap();
    let mut state = tenantry::state::StateSnapshot::default();
    let now = jiff::Timestamp::now();
    let mut world_ops = Vec::new();
    for i in 0..count {
        let account = format!("ACC-{}", 4_000_000 + i);
        let owner = tenantry::model::ManifestRef::customer(format!("c{i}"));
        let op = Operator {
            user_name: format!("c{i}.admin"),
            account_id: account.clone(),
            first_name: "Ada".into(),
            last_name: "Byron".into(),
            email: format!("it@c{i}.example"),
            phone: "441174960101".into(),
            role: "ADMINISTRATOR".into(),
        };
        // As the executor records a successful operator transaction.
        let applied = tenantry::provider::watchguard::operator_record(&json!(op));
        for (kind, id, applied) in
            [("account", account.clone(), BTreeMap::new()), ("operator", op.user_name.clone(), applied)]
        {
            let key = ObjectKey::new(owner.clone(), Vendor::Watchguard, kind);
            let b =
                tenantry::state::Binding { key: key.clone(), vendor_id: id, created_at: now, updated_at: now, applied };
            state.bindings.insert(key, b);
        }
        world_ops.push((account, op));
    }
    sandbox.shared.mutate(|w, now| {
        for (i, (account, op)) in world_ops.into_iter().enumerate() {
            w.watchguard.accounts.insert(
                account.clone(),
                Account {
                    account_id: account,
                    name: format!("Customer {i}"),
                    kind: 2,
                    parent: Some(tenantry::sandbox::credentials::WG_HOME.into()),
                    created: now.to_string(),
                    ..Default::default()
                },
            );
            w.watchguard.operators.insert(op.user_name.clone(), op);
        }
    });
    let (connections, values) = sandbox.connections();
    let dir = tempfile::tempdir().unwrap();
    let secrets = tenantry::secrets::Secrets::new(dir.path(), true).with_values(values);
    let vendors = tenantry::engine::Vendors::connect(&connections, &secrets);
    sandbox.shared.journal.clear();
    let observed = tenantry::engine::observe(&vendors, &[], &state).await;
    assert!(observed.unavailable.is_empty(), "{:?}", observed.unavailable);
    let operators = observed.objects.iter().filter(|o| o.vendor == Vendor::Watchguard && o.kind == "operator").count();
    assert_eq!(operators, count, "every bound operator is observed");
    let requests = sandbox.shared.journal.counts.lock().unwrap().get(&Vendor::Watchguard).copied().unwrap_or(0);
    // The token, the account list, and one operator read per sampled account.
    assert_eq!(requests as usize, 2 + VERIFY_PER_OBSERVE, "{requests} requests for {count} accounts");
    sandbox.stop().await;
}

/// The actions of a JSON plan that apply would carry out (not blocked, not waits or conflicts).
pub(crate) fn executable(plan: &Json) -> Vec<&Json> {
    plan["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["blocked"].is_null() && a["kind"] != "await" && a["kind"] != "conflict")
        .collect()
}

/// The object of `kind` at `vendor` in a sandbox dump whose `field` is named `name`.
pub(crate) fn dumped_object<'d>(dump: &'d Json, vendor: &str, kind: &str, field: &str, name: &str) -> &'d Json {
    dump[vendor]
        .as_array()
        .unwrap_or_else(|| panic!("no {vendor} in the dump"))
        .iter()
        .find(|o| o["type"] == kind && o[field]["name"] == name)
        .unwrap_or_else(|| panic!("no {vendor} {kind} named {name} in the dump"))
}

/// The exchanges the journal of `served` holds for `vendor`, `method` and `path`.
pub(crate) async fn journalled(served: &Served, vendor: &str, method: &str, path: &str) -> Vec<Json> {
    let journal = served.get("/_sandbox/requests").await;
    let all = journal["exchanges"].as_array().expect("exchanges").clone();
    all.into_iter().filter(|x| x["vendor"] == vendor && x["method"] == method && x["path"] == path).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_veeam_refusal_at_status_520_is_a_refusal_not_a_failure_to_retry() {
    use tenantry::sandbox::credentials::{VEEAM_PASSWORD, VEEAM_USER};
    let served = Served::start(&["--journal"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    // Someone took Acme's owner user name for another company in the console.
    let base = served.urls["veeam"].as_str().unwrap().to_string();
    let http = crate::support::client();
    let form = [("grant_type", "password"), ("username", VEEAM_USER), ("password", VEEAM_PASSWORD)];
    let token: Json = http.post(format!("{base}/token")).form(&form).send().await.unwrap().json().await.unwrap();
    let squatter = json!({"organizationInput": {"name": "Squatter Ltd"}, "ownerCredentials": {"userName": "acme-owner", "password": "Sandbox-Passw0rd!"}});
    let made = http
        .post(format!("{base}/organizations/companies"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&squatter)
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 200);
    http.delete(format!("{}/_sandbox/requests", served.admin)).send().await.unwrap();

    let r = served.run(&["apply", &d, "--auto-approve"]);
    assert_ne!(r.code, 0, "a refused create is a failure of the run: {r}");
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("is already in use. (VSPC error 1201)"), "the console's words and code: {r}");
    assert!(all.contains("services.veeam.owner.username"), "what to change: {r}");
    assert!(!all.contains("may or may not"), "a refusal is no unknown outcome: {r}");
    // Sent once: a definitive answer is not retried, and not looked up as a lost answer.
    let posts = journalled(&served, "veeam", "POST", "/api/v3/organizations/companies").await;
    let acme: Vec<&Json> = posts.iter().filter(|x| x["body"]["organizationInput"]["name"] == "Acme Corp").collect();
    assert_eq!(acme.len(), 1, "{posts:#?}");
    assert_eq!(acme[0]["status"], 520);
    // The other Veeam customers were created; Acme is not there, the squatter is untouched.
    let dump = served.dump().await;
    let mut companies: Vec<(String, String)> = dump["veeam"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "company")
        .map(|o| {
            (
                o["company"]["name"].as_str().unwrap().into(),
                o["company"]["ownerCredentials"]["userName"].as_str().unwrap().into(),
            )
        })
        .collect();
    companies.sort();
    assert!(companies.contains(&("Squatter Ltd".into(), "acme-owner".into())), "{companies:?}");
    assert!(!companies.iter().any(|(n, _)| n == "Acme Corp"), "{companies:?}");
    assert!(companies.len() >= 3, "{companies:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn veeam_creates_and_pulse_registrations_with_lost_answers_replay_their_request_id() {
    // Veeam's first write (a company create) commits and loses its answer; after it, a third
    // of Veeam's answers are lost after the console committed the request.
    let served = Served::start(&["--journal", "--seed", "5"]);
    served.post("/_sandbox/faults", json!({"loseNextWrite": "veeam", "then": "veeam:lose=0.3"})).await;
    let dir = example_copy();
    let d = dir_arg(dir.path());
    converge(&served, &d, 6);
    assert_one_of_each(dir.path(), &served.dump().await);
    // A lost create was sent again with the same X-Request-id and the console replayed it.
    let mut replayed = 0;
    for path in ["/api/v3/organizations/companies", "/api/v3/pulse/tenants"] {
        let posts = journalled(&served, "veeam", "POST", path).await;
        let mut ids: BTreeMap<String, usize> = BTreeMap::new();
        for x in &posts {
            let id = x["headers"]["x-request-id"].as_str().expect("every create carries X-Request-id");
            *ids.entry(id.to_string()).or_default() += 1;
        }
        replayed += ids.values().filter(|&&n| n > 1).count();
    }
    assert!(replayed > 0, "the lost create was not sent again with its X-Request-id");
}

/// How many token requests each vendor saw, by the journal.
async fn token_requests(served: &Served) -> BTreeMap<String, usize> {
    let journal = served.get("/_sandbox/requests").await;
    let mut counts = BTreeMap::new();
    for x in journal["exchanges"].as_array().expect("exchanges") {
        let path = x["path"].as_str().unwrap_or_default();
        if ["/token", "/idp/token", "/oauth/token", "/connect/token"].iter().any(|t| path.ends_with(t)) {
            *counts.entry(x["vendor"].as_str().unwrap_or_default().to_string()).or_default() += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn one_token_per_connection_however_many_calls_run_at_once() {
    let served = Served::start(&["--journal"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    ok(&served.run(&["apply", &d, "--auto-approve"]));
    crate::support::client().delete(format!("{}/_sandbox/requests", served.admin)).send().await.unwrap();
    // A converged plan lists several collections of each vendor at once.
    let plan = served.run(&["plan", &d, "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{plan}");
    let tokens = token_requests(&served).await;
    for vendor in ["veeam", "acronis", "watchguard", "avepoint"] {
        assert_eq!(tokens.get(vendor), Some(&1), "{vendor} signed in once per run: {tokens:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_token_endpoint_costs_one_retry_budget_not_its_square() {
    // Every Veeam answer is a server failure (520 without a custom code), the token's too.
    let served = Served::start(&["--journal", "--faults", "veeam:5xx=1"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let plan = served.run(&["plan", &d]);
    assert_eq!(plan.code, 1, "{plan}");
    assert!(plan.stdout.contains("veeam") || plan.stderr.contains("veeam"), "{plan}");
    // Two lists at once, five tries each, one token attempt per try: at most 10 token
    // requests (with the token fetch retried inside each try it was 50).
    let tokens = token_requests(&served).await;
    let veeam = tokens.get("veeam").copied().unwrap_or_default();
    assert!((1..=10).contains(&veeam), "Veeam token requests: {veeam}");
}

#[test]
fn a_closed_stdout_ends_the_process_quietly_as_for_other_unix_tools() {
    use std::os::unix::process::ExitStatusExt;
    let dir = example_copy();
    let d = dir_arg(dir.path());
    ok(&run(&["apply", "--sandbox", &d, "--auto-approve"]));
    for args in [vec!["plan", "--sandbox", "--format", "json", &d], vec!["sandbox", "dump", "-d", &d]] {
        let mut child = crate::support::command(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start tenantry");
        // The reader goes away before anything is written (`| head -c 0`).
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{args:?}: {:?} {stderr}", out.status);
    }
}

#[test]
fn a_long_wait_for_a_throttled_vendor_is_shown_at_the_default_verbosity() {
    // Acronis throttles with a 3-second wait. With this seed its dice throttle exactly the
    // first request (the token; it comes before any concurrent read, so the order of the
    // others cannot change which requests are throttled) and pass the next three.
    let served = Served::start(&["--faults", "acronis:429=0.3", "--seed", "2", "--throttle-wait", "3", "--journal"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let plan = served.run(&["plan", &d]);
    assert_eq!(plan.code, 0, "the throttled reads are retried and the plan is made: {plan}");
    assert!(
        plan.stderr.contains("acronis") && plan.stderr.contains("throttled: waiting"),
        "the wait is on stderr without -v: {}",
        plan.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vendor_whose_every_answer_is_throttled_is_given_up_on_within_the_retry_budget() {
    // Every Acronis answer is a 429 that names no wait worth waiting (0 s), the token's too.
    // (A throttled API answer after a good token: see the unit test in provider::http.)
    let served = Served::start(&["--journal", "--faults", "acronis:429=1", "--throttle-wait", "0"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let mut child = served
        .command(&["plan", &d])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            panic!("plan still retrying a vendor that always throttles after 120 s");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(status.code(), Some(1), "acronis could not be observed");
    // Two concurrent reads, five tries each (one token request per try): the budget holds.
    let journal = served.get("/_sandbox/requests").await;
    let acronis = journal["counts"]["acronis"].as_u64().unwrap_or_default();
    assert!((1..=12).contains(&acronis), "{acronis} Acronis requests");
}

/// The Datto SaaS client of `domain` as the sandbox holds it.
pub(crate) fn datto_client<'j>(dump: &'j Json, domain: &str) -> &'j Json {
    let clients = dump["datto"].as_array().expect("datto clients");
    let c = clients.iter().find(|c| c["client"]["domain"] == domain);
    &c.unwrap_or_else(|| panic!("no Datto client {domain} in {clients:#?}"))["client"]
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_pending_blocked_and_conflicts_are_never_success() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    ok(&served.run(&["apply", &d, "--auto-approve"]));
    let converged = served.run(&["plan", &d, "--detailed-exitcode"]);
    assert_eq!(converged.code, 0, "the vendors match: {converged}");
    assert!(converged.stdout.contains("No changes."), "{converged}");

    // A cap below the seats already protected: Datto refuses it, so the only action is blocked.
    edit_manifest(
        dir.path(),
        "customers/acme.yaml",
        "cap: {enabled: true, seats: 80}",
        "cap: {enabled: true, seats: 5}",
    );
    let plan = served.run(&["plan", &d, "--format", "json", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "a blocked action is pending: {plan}");
    let planned: Json = serde_json::from_str(&plan.stdout).expect("plan JSON");
    let actions = planned["actions"].as_array().unwrap();
    let ids: Vec<&str> = actions.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["customer/acme/datto/client:task:licensing"], "{planned:#}");
    assert!(actions[0]["blocked"].is_string(), "{planned:#}");
    let apply = served.run(&["apply", &d, "--auto-approve"]);
    assert_eq!(apply.code, 1, "an apply that leaves a blocked action fails: {apply}");
    assert!(apply.stdout.contains("0 failed, 0 waiting, 1 blocked"), "{apply}");
    // Nothing reached Datto: it still holds the cap of 80.
    let dump = served.dump().await;
    assert_eq!(datto_client(&dump, "acme.example")["licenseCap"], json!(80), "{dump:#}");
    edit_manifest(
        dir.path(),
        "customers/acme.yaml",
        "cap: {enabled: true, seats: 5}",
        "cap: {enabled: true, seats: 80}",
    );
    let back = served.run(&["plan", &d, "--detailed-exitcode"]);
    assert_eq!(back.code, 0, "{back}");

    // The state store is lost: rebuilt from the vendors (tenantry's markers are there), so
    // apply adopts everything, makes nothing and succeeds.
    let before = dumped(&dump);
    std::fs::remove_dir_all(dir.path().join(".tenantry")).unwrap();
    let rebuilt = served.run(&["apply", &d, "--auto-approve"]);
    assert_eq!(rebuilt.code, 0, "{rebuilt}");
    assert_eq!(dumped(&served.dump().await), before, "nothing was made twice");

    // One binding of a customer the store knows is lost (Stark's Datto client carries no
    // marker): that client is a conflict, and a conflict is never success.
    let store = tenantry::state::sqlite::SqliteStore::open(&dir.path().join(".tenantry/sandbox/state.db")).unwrap();
    let state = tenantry::state::StateStore::snapshot(&store).unwrap();
    let key = state.bindings.keys().find(|k| k.id() == "customer/stark/datto/client").expect("Stark's client is bound");
    tenantry::state::StateStore::remove_binding(&store, key).unwrap();
    drop(store);
    let apply = served.run(&["apply", &d, "--auto-approve"]);
    assert_eq!(apply.code, 1, "an apply that leaves a conflict fails: {apply}");
    assert!(apply.stdout.contains("Apply incomplete:"), "{apply}");
    let plan = served.run(&["plan", &d, "--format", "json", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{plan}");
    let planned: Json = serde_json::from_str(&plan.stdout).expect("plan JSON");
    let actions = planned["actions"].as_array().unwrap();
    assert!(
        actions
            .iter()
            .any(|a| a["kind"] == "conflict" && a["id"].as_str().unwrap().starts_with("customer/stark/datto/client")),
        "{planned:#}"
    );
    assert!(
        actions.iter().all(|a| a["kind"] == "conflict" || a["blocked"].is_string()),
        "only conflicts and what waits for them remain: {planned:#}"
    );
    assert_eq!(dumped(&served.dump().await), before, "nothing was created or taken over");
}

/// Edit one field of one object at a simulated vendor, as someone in its portal would.
pub(crate) async fn edit_at_vendor(served: &Served, vendor: &str, kind: &str, name: &str, field: &str, value: &str) {
    let e = json!({"vendor": vendor, "kind": kind, "name": name, "field": field, "value": value});
    let answer = served.post("/_sandbox/edit", e).await;
    assert_eq!(answer["status"], "done", "{answer}");
}

/// The field of the sandbox object of `vendor` whose `section.name` is `name`.
fn dumped_field(dump: &Json, vendor: &str, section: &str, name: &str, field: &str) -> Json {
    let list = dump[vendor].as_array().expect("a list per vendor");
    let o = list.iter().find(|o| o[section]["name"] == name);
    o.unwrap_or_else(|| panic!("no {vendor} {section} {name}: {list:#?}"))[section][field].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_applied_once_and_only_what_it_touches_can_make_it_stale() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let file = dir.path().join("plan.json");
    let f = dir_arg(&file);
    ok(&served.run(&["apply", &d, "--auto-approve"]));

    // Soylent drifted at VeloCloud: the plan syncs that one object.
    edit_at_vendor(&served, "velocloud", "enterprise", "Soylent Foods Inc", "domain", "old.example").await;
    let plan = served.run(&["plan", &d, "--out", &f, "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{plan}");
    let saved: Json = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let id = saved["id"].as_str().expect("a plan file has an id").to_string();
    assert_eq!(id.len(), 32, "{id}");
    let ids: Vec<&str> = saved["actions"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["customer/soylent/velocloud/enterprise:sync"]);

    // `show` prints the saved plan as `plan` printed it, in each format.
    let shown = crate::support::run(&["show", &f]);
    ok(&shown);
    assert_eq!(shown.stdout, plan.stdout);
    assert!(shown.stdout.contains("Customer/soylent") && shown.stdout.contains("Soylent Foods Inc"), "{shown}");
    let md = served.run(&["plan", &d, "--format", "markdown"]);
    let shown_md = crate::support::run(&["show", &f, "--format", "markdown"]);
    ok(&shown_md);
    assert_eq!(shown_md.stdout, md.stdout);
    let shown_json = crate::support::run(&["show", &f, "--format", "json"]);
    ok(&shown_json);
    assert_eq!(shown_json.stdout, std::fs::read_to_string(&file).unwrap());

    // Someone edits another customer at another vendor: that does not make this plan stale.
    edit_at_vendor(&served, "acronis", "tenant", "Acme Corp", "customer_id", "ACME-9999").await;
    let applied = served.run(&["apply", &f]);
    ok(&applied);
    let dump = served.dump().await;
    let domain = dump["velocloud"].as_array().unwrap().iter().find(|o| o["enterprise"]["name"] == "Soylent Foods Inc");
    assert_eq!(domain.expect("soylent at VCO")["enterprise"]["domain"], json!("soylent.example"), "synced back");
    assert_eq!(
        dumped_field(&dump, "acronis", "tenant", "Acme Corp", "customer_id"),
        json!("ACME-9999"),
        "the saved plan did only what it said"
    );
    // The state store records the plan as applied.
    let store = tenantry::state::sqlite::SqliteStore::open(&dir.path().join(".tenantry/sandbox/state.db")).unwrap();
    let recorded = tenantry::state::StateStore::plan_applied(&store, &id).unwrap().expect("the plan id is recorded");
    drop(store);

    // Applied twice: refused, naming when, and nothing reaches the vendors.
    let journal_before = served.get("/_sandbox/requests").await;
    let again = served.run(&["apply", &f]);
    assert_eq!(again.code, 1, "{again}");
    let when = tenantry::plan::fmt_time(recorded.applied_at);
    assert!(again.stderr.contains(&format!("plan {id} was applied at {when}")), "{again}");
    assert!(!again.stderr.contains("not managed by tenantry"), "{again}");
    assert_eq!(served.get("/_sandbox/requests").await, journal_before);

    // A change to an object the plan touches does make it stale.
    let plan = served.run(&["plan", &d, "--out", &f]);
    ok(&plan);
    assert!(plan.stdout.contains("customerId differs: 'ACME-9999' -> 'ACME-0001'"), "{plan}");
    edit_at_vendor(&served, "acronis", "tenant", "Acme Corp", "customer_id", "ACME-7777").await;
    let stale = served.run(&["apply", &f]);
    assert_eq!(stale.code, 1, "{stale}");
    assert!(stale.stderr.contains("the saved plan is stale"), "{stale}");
    assert!(stale.stderr.contains("acronis tenant") && stale.stderr.contains("changed since the plan"), "{stale}");
    let dump = served.dump().await;
    assert_eq!(dumped_field(&dump, "acronis", "tenant", "Acme Corp", "customer_id"), json!("ACME-7777"), "untouched");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_authorization_is_triggered_again_once_and_its_task_stays_open_while_pending() {
    use tenantry::state::{StateStore, TaskStatus};
    // Customers never act: every Datto client stays pending, every AvePoint consent unused.
    let served = Served::start(&["--no-customers"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let store_path = dir.path().join(".tenantry/sandbox/state.db");
    let apply = || served.run(&["apply", &d, "--auto-approve", "--wait", "1s"]);
    let first = apply();
    assert_eq!(first.code, 2, "{first}");
    let links = |dump: &Json| -> BTreeMap<String, Json> {
        let clients = dump["datto"].as_array().unwrap().iter();
        clients
            .map(|c| (c["client"]["domain"].as_str().unwrap().to_string(), c["client"]["linkExpires"].clone()))
            .collect()
    };
    let sent = links(&served.dump().await);
    assert!(!sent.is_empty());

    // Past the Datto authorization expiry (and the AvePoint links' 72 hours).
    served.post("/_sandbox/clock", json!({"advanceSeconds": 262_800})).await;
    let mut after_first = None;
    for run in 1..=3 {
        let r = apply();
        assert_eq!(r.code, 2, "run {run}: applied, waiting for the customers: {r}");
        assert!(!r.stdout.contains("did not keep what was applied"), "run {run}: {r}");
        let now = links(&served.dump().await);
        match &after_first {
            // The first run after the expiry sends every authorization e-mail again, once.
            None => {
                for (domain, expires) in &now {
                    assert_ne!(Some(expires), sent.get(domain), "{domain}: the e-mail was sent again");
                }
                after_first = Some(now);
            }
            // Later runs send nothing: the re-sent e-mail has not expired.
            Some(first) => assert_eq!(&now, first, "run {run} sent authorization e-mails again"),
        }
    }

    // One Check Authorization task per pending client: open, never verified or replaced.
    let store = tenantry::state::sqlite::SqliteStore::open(&store_path).unwrap();
    let tasks = store.tasks().unwrap();
    let checks: Vec<_> = tasks.iter().filter(|t| t.task == "datto/check-authorization").collect();
    let mut per_client: BTreeMap<String, usize> = BTreeMap::new();
    for t in &checks {
        assert_eq!(t.status, TaskStatus::Open, "{t:?} while the client is still pending");
        *per_client.entry(t.key.id()).or_default() += 1;
    }
    assert_eq!(per_client.len(), sent.len(), "a task for each pending client: {checks:#?}");
    assert!(per_client.values().all(|&n| n == 1), "{per_client:?}");
    let dump = served.dump().await;
    assert!(
        dump["datto"].as_array().unwrap().iter().all(|c| c["client"]["status"] == "PendingAuthorization"),
        "{dump:#}"
    );
    // The re-trigger is in the history, once per client.
    let history = store.history(None, 100_000).unwrap();
    let retriggers = history.iter().filter(|h| h.action.ends_with(":task:check-authorization")).count();
    assert_eq!(retriggers, sent.len(), "{history:#?}");
    // And the AvePoint links re-issued by the first run hold: nothing is left to execute.
    let reissued = history.iter().filter(|h| h.key.vendor == Vendor::Avepoint && h.kind == "register").count();
    assert!(reissued > 0, "the expired AvePoint links were re-issued: {history:#?}");
    drop(store);
    let plan = served.run(&["plan", &d, "--format", "json", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{plan}");
    let plan: Json = serde_json::from_str(&plan.stdout).unwrap();
    let executable = executable(&plan);
    assert!(executable.is_empty(), "only waits remain: {executable:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_activation_email_is_a_failure_and_the_next_apply_sends_it_again() {
    let served = Served::start(&["--journal"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    served.post("/_sandbox/acronis/fail-next-activation-email", json!({})).await;
    let first = served.run(&["apply", &d, "--auto-approve"]);
    assert_eq!(first.code, 1, "a failed step fails the run: {first}");
    assert!(first.stdout.contains("made at the vendor (id "), "{first}");
    assert!(first.stdout.contains("send-activation-email"), "the failed request is named: {first}");
    assert!(!first.stdout.contains("Apply complete:"), "{first}");
    let sends = |journal: &Json| {
        journal["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| {
                x["vendor"] == "acronis" && x["path"].as_str().unwrap_or_default().ends_with("/send-activation-email")
            })
            .map(|x| (x["path"].as_str().unwrap().to_string(), x["status"].as_u64().unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    let failed: Vec<String> =
        sends(&served.get("/_sandbox/requests").await).into_iter().filter(|(_, s)| *s >= 500).map(|(p, _)| p).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");

    // The user was bound, not made twice; the next apply sends that user's e-mail again.
    let second = converge(&served, &d, 3);
    assert!(!second.stdout.contains(" failed, ") || second.stdout.contains(" 0 failed, "), "{second}");
    let sent: Vec<(String, u64)> = sends(&served.get("/_sandbox/requests").await);
    assert!(sent.iter().any(|(p, s)| p == &failed[0] && *s == 204), "sent again after the failure: {sent:?}");
    assert_one_of_each(dir.path(), &served.dump().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vdc_administrator_in_the_tenants_onmicrosoft_domain_is_accepted_and_registered() {
    let dir = example_copy();
    edit_manifest(
        dir.path(),
        "customers/soylent.yaml",
        "email: m365admin@soylent.example",
        "email: m365admin@soylentfoods.onmicrosoft.com",
    );
    let d = dir_arg(dir.path());
    ok(&run(&["validate", &d]));
    let served = Served::start(&[]);
    let r = converge(&served, &d, 3);
    assert!(!r.stdout.contains(" failed, ") || r.stdout.contains(" 0 failed, "), "{r}");
    // The registration the operator entered at VCSP Pulse names that administrator.
    let dump = served.dump().await;
    let soylent = dumped_object(&dump, "veeam", "pulsePortalCustomer", "customer", "Soylent Foods Inc");
    assert_eq!(soylent["customer"]["vdcRegistered"], true, "{soylent}");
    assert_eq!(soylent["customer"]["vdcRequest"]["adminEmail"], "m365admin@soylentfoods.onmicrosoft.com", "{soylent}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_velocloud_initial_administrator_gets_its_declared_name_and_phones() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    converge(&served, &d, 2);
    let dump = served.dump().await;
    let acme = dumped_object(&dump, "velocloud", "enterprise", "enterprise", "Acme Corp");
    // acme.yaml: velocloud.admin = contact `it` (Charles Babbage, +44 113 496 0002) with its
    // own mobile.
    let admin = &acme["enterprise"]["admin"];
    assert_eq!(admin["username"], "admin@acme.example", "{admin}");
    assert_eq!(admin["firstName"], "Charles", "{admin}");
    assert_eq!(admin["lastName"], "Babbage", "{admin}");
    assert_eq!(admin["officePhone"], "+44 113 496 0002", "{admin}");
    assert_eq!(admin["mobilePhone"], "+44 7700 900002", "{admin}");
    assert!(admin.get("password").is_none(), "no password in the dump");
}

/// AvePoint's batch list longer than a page (250 customers onboarded by hand, 100 a page, the
/// pages after the first read side by side) is read whole: tenantry's customers, wherever they
/// fall, are found and not created twice, the next plan is empty, and a portal edit of one of
/// them shows in the next plan and is put back.
#[tokio::test(flavor = "multi_thread")]
async fn a_listing_of_several_pages_is_read_whole_and_drift_on_it_shows() {
    use tenantry::sandbox::credentials::{AVEPOINT_CLIENT, AVEPOINT_SECRET};
    let served = Served::start(&[]);
    let identity = served.urls["avepoint_identity"].as_str().unwrap();
    let base = format!("{}/partner/external/v3/general", served.urls["avepoint"].as_str().unwrap());
    let http = crate::support::client();
    let token: Json = http
        .post(format!("{identity}/connect/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", AVEPOINT_CLIENT),
            ("client_secret", AVEPOINT_SECRET),
            ("scope", "elements.customers.readwrite.all"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    for i in 0..250 {
        let customer = json!({"firstName": "Ada", "lastName": "Byron", "organizationName": format!("Walk-in {i}"),
            "registrationAccount": format!("admin{i}@walk-in.example"), "password": "Sandbox-Passw0rd!",
            "countryCode": "GB", "dataCenter": tenantry::sandbox::avepoint::DATA_CENTERS[0]});
        let r: Json = http
            .post(format!("{base}/customers"))
            .bearer_auth(token)
            .json(&customer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["status"], 1, "{r}");
    }

    let dir = example_copy();
    let d = dir_arg(dir.path());
    converge(&served, &d, 3);
    let customers = |dump: &Json| -> Vec<Json> {
        dump["avepoint"].as_array().unwrap().iter().filter(|o| o["type"] == "customer").cloned().collect()
    };
    let dump = served.dump().await;
    let all = customers(&dump);
    // The 250 walk-ins and the six customers the example declares, each once.
    let emails: std::collections::BTreeSet<&str> =
        all.iter().filter_map(|c| c["customer"]["ownerEmail"].as_str()).collect();
    assert_eq!((all.len(), emails.len()), (256, 256), "{} AvePoint customers", all.len());
    let stark: Vec<&Json> =
        all.iter().filter(|c| c["customer"]["ownerEmail"] == "m365-admin@stark-industries.example").collect();
    assert_eq!(stark.len(), 1, "one customer for stark: {stark:?}");
    assert_eq!(stark[0]["customer"]["organization"], "Stark Industries");

    let edit = json!({"vendor": "avepoint", "kind": "customer", "name": "Stark Industries", "field": "organization", "value": "Stark Old"});
    let answer = served.post("/_sandbox/edit", edit).await;
    assert_eq!(answer["status"], "done", "{answer}");
    let plan = served.run(&["plan", &d, "--format", "json", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{plan}");
    let plan: Json = serde_json::from_str(&plan.stdout).expect("plan JSON");
    // AvePoint sets an organization only at onboarding: the drift is shown, blocked, with the way out.
    let drift: Vec<&Json> = plan["actions"].as_array().unwrap().iter().filter(|a| a["kind"] == "sync").collect();
    assert_eq!(drift.len(), 1, "{plan}");
    assert_eq!(drift[0]["id"], "customer/stark/avepoint/customer:create-only");
    assert_eq!(
        drift[0]["changes"],
        json!([{"field": "organizationName", "before": "Stark Old", "after": "Stark Industries"}])
    );
    assert!(
        drift[0]["blocked"].as_str().is_some_and(|b| b.contains("only be set when the object is created")),
        "{plan}"
    );
    assert!(executable(&plan).is_empty(), "{plan}");

    // Put back in the portal, the next plan is empty again.
    let edit = json!({"vendor": "avepoint", "kind": "customer", "name": "Stark Old", "field": "organization", "value": "Stark Industries"});
    let answer = served.post("/_sandbox/edit", edit).await;
    assert_eq!(answer["status"], "done", "{answer}");
    let again = served.run(&["plan", &d, "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{again}");
}
