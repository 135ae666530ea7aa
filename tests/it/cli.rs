//! The command line itself (issue 12 item 6): the manifest directory as an argument everywhere,
//! `state list|show|forget`, `version`, and colour from NO_COLOR / CLICOLOR_FORCE.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value as Json;
use tenantry::state::{LockInfo, StateStore, sqlite::SqliteStore};

use crate::e2e::{assert_one_of_each, dir_arg, dumped_object, ok};
use crate::support::{Run, command, example_copy, run, run_with};

const ESC: &str = "\x1b[";

/// The example applied in the in-process sandbox, with one secret given as a file so that its
/// value is known to the test.
fn applied_example() -> tempfile::TempDir {
    let dir = example_copy();
    std::fs::create_dir_all(dir.path().join("secrets")).expect("mkdir secrets");
    std::fs::write(dir.path().join("secrets/umbrella-vco-admin"), format!("{SECRET}\n")).expect("write secret");
    let first = run(&["apply", "--sandbox", &dir_arg(dir.path()), "--auto-approve"]);
    ok(&first);
    dir
}

const SECRET: &str = "Cli-test-Secret-4711!";

fn sandbox_store(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join(".tenantry/sandbox/state.db")).expect("open the sandbox state")
}

/// `text` without the relative ages tasks are listed with (`UTC, 4s ago`).
fn without_ages(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("UTC, ") {
        out.push_str(&rest[..at + 3]);
        rest = &rest[at + 3..];
        if let Some(end) = rest.find(" ago") {
            rest = &rest[end + 4..];
        }
    }
    out.push_str(rest);
    out
}

fn json(r: &Run) -> Json {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {r}"))
}

#[test]
fn the_manifest_directory_is_an_argument_of_every_command_and_d_stays_an_alias() {
    let dir = applied_example();
    let d = dir_arg(dir.path());

    // tasks, tasks list|show, history: the argument and -d/--dir read the same state.
    for (positional, flag) in [
        (vec!["tasks", "--sandbox", "--all", &d], vec!["tasks", "--sandbox", "--all", "-d", &d]),
        (vec!["tasks", "list", "--sandbox", "--all", &d], vec!["tasks", "list", "--sandbox", "--all", "--dir", &d]),
        (vec!["tasks", "show", "T-1", &d, "--sandbox"], vec!["tasks", "show", "T-1", "--sandbox", "-d", &d]),
        (
            vec!["history", &d, "--sandbox", "--format", "json"],
            vec!["history", "--sandbox", "-d", &d, "--format", "json"],
        ),
    ] {
        let a = run(&positional);
        ok(&a);
        let b = run(&flag);
        ok(&b);
        assert!(a.stdout.lines().count() > 2, "{a}");
        // The same, but for the age of each task ("4s ago"), which moves between the two runs.
        assert_eq!(without_ages(&a.stdout), without_ages(&b.stdout), "{positional:?} and {flag:?} differ");
    }
    let tasks = json(&run(&["tasks", "--sandbox", "--all", "--format", "json", &d]));
    assert!(tasks.as_array().is_some_and(|t| !t.is_empty()), "{tasks}");

    // Given twice, differently: refused, not silently one of them.
    let twice = run(&["history", &d, "--sandbox", "-d", "/nonexistent"]);
    assert_eq!(twice.code, 1, "{twice}");
    assert!(twice.stderr.contains("given twice"), "{twice}");

    // Without --sandbox, after `apply --sandbox`: the hint names --sandbox.
    let real = run(&["tasks", &d]);
    assert_eq!(real.code, 1, "{real}");
    assert!(real.stderr.contains("there is no state at"), "{real}");
    assert!(real.stderr.contains("add --sandbox"), "{real}");

    // force-unlock ID DIR reads DIR's state (which is not locked).
    let unlock = run(&["force-unlock", "0123456789ab", &d, "--sandbox"]);
    assert_eq!(unlock.code, 1, "{unlock}");
    assert!(unlock.stderr.contains("there is no lock 0123456789ab; the state is not locked"), "{unlock}");

    // sandbox dump DIR: the world apply left, the same with -d.
    let dump = run(&["sandbox", "dump", &d]);
    ok(&dump);
    let again = run(&["sandbox", "dump", "-d", &d]);
    assert_eq!(dump.stdout, again.stdout);
    assert_one_of_each(dir.path(), &json(&dump));

    // sandbox reset DIR empties exactly that sandbox; a second reset is harmless.
    let reset = run(&["sandbox", "reset", &d]);
    ok(&reset);
    assert!(!dir.path().join(".tenantry/sandbox").exists(), "{reset}");
    let twice = run(&["sandbox", "reset", &d]);
    ok(&twice);
    assert!(twice.stdout.contains("nothing to reset"), "{twice}");
    let gone = run(&["sandbox", "dump", &d]);
    assert_eq!(gone.code, 1, "{gone}");
}

#[test]
fn state_list_shows_every_binding_and_forget_drops_one_that_the_next_plan_adopts_again() {
    let dir = applied_example();
    let d = dir_arg(dir.path());
    let store = sandbox_store(dir.path());
    let bindings = store.snapshot().expect("snapshot").bindings;
    assert!(bindings.len() > 20, "{bindings:?}");

    // list: every binding, with its vendor id and times, as the store holds it.
    let list = json(&run(&["state", "list", "--sandbox", &d, "--format", "json"]));
    let listed: BTreeMap<String, &Json> =
        list.as_array().expect("a list").iter().map(|b| (b["key"].as_str().expect("key").to_string(), b)).collect();
    assert_eq!(listed.len(), bindings.len(), "{list}");
    for b in bindings.values() {
        let l = listed.get(&b.key.id()).unwrap_or_else(|| panic!("{} is not listed", b.key.id()));
        assert_eq!(l["vendorId"], b.vendor_id.as_str());
        assert_eq!(l["owner"], b.key.owner.to_string());
        assert_eq!(l["vendor"], b.key.vendor.to_string());
        assert_eq!(l["kind"], b.key.kind.as_str());
        assert_eq!(l["boundSince"], serde_json::to_value(b.created_at).unwrap());
        assert_eq!(l["updatedAt"], serde_json::to_value(b.updated_at).unwrap());
    }
    let text = run(&["state", "list", "--sandbox", &d]);
    ok(&text);
    for b in bindings.values() {
        let line = text.stdout.lines().find(|l| l.starts_with(&format!("{} ", b.key.id())));
        assert!(line.is_some_and(|l| l.contains(&b.vendor_id)), "{} in {text}", b.key.id());
    }

    // --target / --exclude select by owner, as elsewhere.
    let acme = json(&run(&["state", "list", "--sandbox", &d, "--format", "json", "--target", "acme"]));
    let acme_keys: Vec<&str> = acme.as_array().unwrap().iter().map(|b| b["key"].as_str().unwrap()).collect();
    let expected: Vec<String> = bindings.values().filter(|b| b.key.owner.name == "acme").map(|b| b.key.id()).collect();
    assert!(!expected.is_empty());
    assert_eq!(acme_keys, expected);
    let rest = json(&run(&["state", "list", "--sandbox", &d, "--format", "json", "--exclude", "Customer/acme"]));
    assert_eq!(rest.as_array().unwrap().len(), bindings.len() - expected.len());

    // show: one binding with what was applied; a secret only as its reference.
    let key = "customer/umbrella/velocloud/enterprise";
    let b = bindings.values().find(|b| b.key.id() == key).expect("umbrella's enterprise is bound");
    let shown = json(&run(&["state", "show", key, &d, "--sandbox", "--format", "json"]));
    assert_eq!(shown["vendorId"], b.vendor_id.as_str());
    assert_eq!(shown["applied"], serde_json::to_value(&b.applied).unwrap());
    assert_eq!(shown["applied"]["adminPassword"], "file:secrets/umbrella-vco-admin");
    let shown_text = run(&["state", "show", key, &d, "--sandbox"]);
    ok(&shown_text);
    assert!(shown_text.stdout.contains("file:secrets/umbrella-vco-admin"), "{shown_text}");
    for r in [&shown_text, &text, &run(&["state", "show", key, &d, "--sandbox", "--format", "json"])] {
        assert!(!r.stdout.contains(SECRET) && !r.stderr.contains(SECRET), "a secret value in {r}");
    }
    let unknown = run(&["state", "show", "customer/acme/acronis/nothing", &d, "--sandbox"]);
    assert_eq!(unknown.code, 1, "{unknown}");
    assert!(unknown.stderr.contains("there is no binding customer/acme/acronis/nothing"), "{unknown}");
    let garbled = run(&["state", "show", "acme", &d, "--sandbox"]);
    assert_eq!(garbled.code, 1, "{garbled}");
    assert!(garbled.stderr.contains("is not an object key"), "{garbled}");

    let key = "customer/acme/acronis/tenant";
    let tenant_id = bindings.values().find(|b| b.key.id() == key).expect("acme's tenant is bound").vendor_id.clone();

    // forget without a terminal and without --yes: refused, naming the flag; nothing changes.
    let refused = run(&["state", "forget", key, &d, "--sandbox"]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("--yes"), "{refused}");
    assert_eq!(store.snapshot().unwrap().bindings, bindings);

    // forget while a run holds the state lock: refused; nothing changes.
    let now = jiff::Timestamp::now();
    let holder = LockInfo {
        id: "cli-test-lock".into(),
        owner: "test".into(),
        host: tenantry::state::lock::hostname(),
        pid: std::process::id(),
        command: "tenantry apply (the test)".into(),
        started_at: now,
        expires_at: now + jiff::SignedDuration::from_hours(1),
        scope: tenantry::state::LockScope::All,
    };
    assert!(matches!(store.acquire_lock(&holder, now).unwrap(), tenantry::state::Acquired::Taken(t) if t.is_empty()));
    let locked = run(&["state", "forget", key, &d, "--sandbox", "--yes"]);
    assert_eq!(locked.code, 1, "{locked}");
    assert!(locked.stderr.contains("cli-test-lock"), "{locked}");
    assert_eq!(store.snapshot().unwrap().bindings, bindings);
    let unlock = run(&["force-unlock", "cli-test-lock", &d, "--sandbox"]);
    ok(&unlock);

    // forget --yes: exactly that binding goes; the lock is released again.
    let forgot = run(&["state", "forget", key, &d, "--sandbox", "--yes"]);
    ok(&forgot);
    assert!(forgot.stdout.contains(&tenant_id), "{forgot}");
    let after = store.snapshot().unwrap().bindings;
    let mut expected = bindings.clone();
    expected.retain(|k, _| k.id() != key);
    assert_eq!(after, expected, "exactly one binding is gone");
    assert_eq!(store.locks().unwrap(), Vec::new());
    let twice = run(&["state", "forget", key, &d, "--sandbox", "--yes"]);
    assert_eq!(twice.code, 1, "{twice}");
    assert!(twice.stderr.contains("there is no binding"), "{twice}");
    assert_eq!(store.snapshot().unwrap().bindings, expected);

    // The next plan adopts the same tenant again (by its owner marker): one action, no create.
    let plan = json(&run(&["plan", "--sandbox", &d, "--format", "json"]));
    let actions = plan["actions"].as_array().expect("actions");
    assert_eq!(actions.len(), 1, "{plan}");
    assert_eq!(actions[0]["kind"], "adopt");
    assert_eq!(actions[0]["id"], format!("{key}:adopt"));
    assert_eq!(actions[0]["vendorId"], tenant_id.as_str());
    ok(&run(&["apply", "--sandbox", &d, "--auto-approve"]));

    // The world: one Acme tenant at Acronis, the one that was there; one of everything else.
    let dump = json(&run(&["sandbox", "dump", &d]));
    assert_one_of_each(dir.path(), &dump);
    let tenant = dumped_object(&dump, "acronis", "tenant", "tenant", "Acme Corp");
    assert_eq!(tenant["tenant"]["id"], tenant_id.as_str(), "{tenant}");
    let rebound = store.snapshot().unwrap().bindings;
    assert_eq!(rebound.keys().collect::<Vec<_>>(), bindings.keys().collect::<Vec<_>>());
    assert_eq!(rebound.values().find(|b| b.key.id() == key).map(|b| b.vendor_id.as_str()), Some(tenant_id.as_str()));
    let plan = run(&["plan", "--sandbox", &d, "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{plan}");
}

#[test]
fn version_and_dash_v_print_the_version_and_the_commit_built_from() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(crate::support::repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let expected = format!("tenantry {} (commit {commit})\n", env!("CARGO_PKG_VERSION"));
    for args in [&["version"][..], &["-V"], &["--version"]] {
        let r = run(args);
        ok(&r);
        assert_eq!(r.stdout, expected, "{args:?}");
    }
}

/// `tenantry ARGS` with NO_COLOR and CLICOLOR_FORCE as given (None: unset).
fn colored(args: &[&str], no_color: Option<&str>, force: Option<&str>) -> Run {
    let mut c = command(args);
    c.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE").env_remove("CLICOLOR");
    if let Some(v) = no_color {
        c.env("NO_COLOR", v);
    }
    if let Some(v) = force {
        c.env("CLICOLOR_FORCE", v);
    }
    run_with(c)
}

#[test]
fn no_color_and_clicolor_force_govern_output_and_help_under_color_auto() {
    // --help (stdout, no terminal here).
    for (args, no_color, force, want) in [
        (&["--help"][..], None, None, false),
        (&["--help"], None, Some("1"), true),
        (&["tasks", "--help"], None, Some("1"), true),
        (&["--help"], None, Some("0"), false),
        (&["--help"], Some("1"), Some("1"), false),
        (&["--help"], Some(""), Some("1"), true),
        (&["--color", "never", "--help"], None, Some("1"), false),
        (&["tasks", "--help", "--color=never"], None, Some("1"), false),
        (&["--color", "always", "--help"], Some("1"), None, true),
    ] {
        let r = colored(args, no_color, force);
        ok(&r);
        assert_eq!(r.stdout.contains(ESC), want, "{args:?} NO_COLOR={no_color:?} CLICOLOR_FORCE={force:?}: {r}");
    }

    // Errors (stderr) and output (stdout).
    let missing = ["tasks", "/nonexistent/tenantry-cli-test"];
    for (no_color, force, color, want) in [
        (None, None, "auto", false),
        (None, Some("1"), "auto", true),
        (Some("1"), Some("1"), "auto", false),
        (None, Some("1"), "never", false),
        (Some("1"), None, "always", true),
    ] {
        let mut args = missing.to_vec();
        args.extend(["--color", color]);
        let r = colored(&args, no_color, force);
        assert_eq!(r.code, 1, "{r}");
        assert!(r.stderr.contains("is not a directory"), "{r}");
        assert_eq!(r.stderr.contains(ESC), want, "NO_COLOR={no_color:?} CLICOLOR_FORCE={force:?} --color {color}: {r}");
    }
    let dir = applied_example();
    let d = dir_arg(dir.path());
    for (no_color, force, want) in [(None, None, false), (None, Some("1"), true), (Some("1"), Some("1"), false)] {
        let r = colored(&["tasks", "show", "T-1", "--sandbox", &d], no_color, force);
        ok(&r);
        assert_eq!(r.stdout.contains(ESC), want, "NO_COLOR={no_color:?} CLICOLOR_FORCE={force:?}: {r}");
        let r = colored(&["state", "list", "--sandbox", &d], no_color, force);
        ok(&r);
        assert_eq!(r.stdout.contains(ESC), want, "NO_COLOR={no_color:?} CLICOLOR_FORCE={force:?}: {r}");
    }
}

/// Whether `needle` appears as a whole string value anywhere in `v`.
fn holds_string(v: &Json, needle: &str) -> bool {
    match v {
        Json::String(s) => s == needle,
        Json::Array(a) => a.iter().any(|x| holds_string(x, needle)),
        Json::Object(o) => o.values().any(|x| holds_string(x, needle)),
        _ => false,
    }
}

#[test]
fn one_duration_syntax_for_every_flag_and_sandbox_serve_keeps_its_world_in_world() {
    // sandbox serve: the delays and the throttle wait in the same syntax as --wait (a bare
    // number stays seconds); the world file is --world.
    let work = tempfile::tempdir().expect("tempdir");
    let world = work.path().join("world.json");
    let world_arg = world.display().to_string();
    let served = crate::support::Served::start(&[
        "--world",
        &world_arg,
        "--operator-delay",
        "250ms",
        "--customer-delay",
        "1m30s",
        "--pulse-delay",
        "2 hours",
        "--throttle-wait",
        "3s",
    ]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let info = rt.block_on(served.get("/_sandbox/info"));
    let options = &info["options"];
    assert_eq!(options["operator_delay"], serde_json::json!({"secs": 0, "nanos": 250_000_000}), "{info}");
    assert_eq!(options["customer_delay"]["secs"], 90, "{info}");
    assert_eq!(options["pulse_delay"]["secs"], 7200, "{info}");
    assert_eq!(options["throttle_wait"], 3, "{info}");
    let dir = example_copy();
    let d = dir_arg(dir.path());
    // --wait 0s: the simulated customers take 90 s; apply reports them waiting (exit 2).
    let applied = served.run(&["apply", &d, "--auto-approve", "--wait", "0s", "--lock-timeout", "2.5"]);
    assert_eq!(applied.code, 2, "{applied}");
    let saved: Json = serde_json::from_str(&std::fs::read_to_string(&world).expect("the world file")).expect("JSON");
    let served_dump = rt.block_on(served.dump());
    for company in ["Acme Corp", "Globex Corporation"] {
        assert!(holds_string(&served_dump, company), "{company} is not at the sandbox");
    }
    assert!(holds_string(&saved, "Acme Corp"), "the world file holds what apply made: {saved}");
    drop(served);

    // --state names a state store URL; sandbox serve keeps none, so it is refused with the way.
    let refused = run(&["sandbox", "serve", "--state", &world_arg]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("--world"), "{refused}");

    // Durations that are not: refused as usage errors, naming the syntax.
    for (flag, value) in [("--wait", "5x"), ("--wait", "-5m"), ("--lock-timeout", "1mo")] {
        let r = run(&["apply", &d, "--sandbox", &format!("{flag}={value}")]);
        assert_eq!(r.code, 1, "{r}");
        assert!(r.stderr.contains("is not a duration"), "{flag} {value}: {r}");
    }
    let r = run(&["sandbox", "serve", "--throttle-wait", "1.5s"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("whole seconds"), "{r}");

    // state forget waits for a held lock as long as --lock-timeout says, in milliseconds too.
    let applied = applied_example();
    let a = dir_arg(applied.path());
    let store = sandbox_store(applied.path());
    let now = jiff::Timestamp::now();
    let holder = LockInfo {
        id: "duration-test-lock".into(),
        owner: "test".into(),
        host: tenantry::state::lock::hostname(),
        pid: std::process::id(),
        command: "tenantry apply (the test)".into(),
        started_at: now,
        expires_at: now + jiff::SignedDuration::from_hours(1),
        scope: tenantry::state::LockScope::All,
    };
    assert!(matches!(store.acquire_lock(&holder, now).unwrap(), tenantry::state::Acquired::Taken(t) if t.is_empty()));
    let before = store.snapshot().unwrap().bindings;
    let started = std::time::Instant::now();
    let key = "customer/acme/acronis/tenant";
    let waited = run(&["state", "forget", key, &a, "--sandbox", "--yes", "--lock-timeout", "1500ms"]);
    let took = started.elapsed();
    assert_eq!(waited.code, 1, "{waited}");
    assert!(waited.stderr.contains("duration-test-lock"), "{waited}");
    assert!(took >= std::time::Duration::from_millis(1400), "gave up after {took:?}: {waited}");
    assert!(took < std::time::Duration::from_secs(20), "waited {took:?}: {waited}");
    assert_eq!(store.snapshot().unwrap().bindings, before, "nothing was forgotten");
}

/// Customers (by name) whose manifest labels hold `key=value`.
fn labelled(dir: &Path, key: &str, value: &str) -> Vec<String> {
    let loaded = tenantry::manifest::load_dir(dir).expect("load");
    let desired = loaded.desired.expect("valid manifests");
    desired
        .customers
        .values()
        .filter(|c| c.labels.get(key).map(String::as_str) == Some(value))
        .map(|c| c.name.clone())
        .collect()
}

#[test]
fn target_exclude_and_label_selectors_select_the_same_on_every_command() {
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let gold = labelled(dir.path(), "tier", "gold");
    assert!(gold.len() >= 2, "{gold:?}");
    let loaded = tenantry::manifest::load_dir(dir.path()).expect("load").desired.expect("valid");
    let reseller_of = |c: &str| loaded.customers[c].reseller.clone();

    // plan -l: only the gold customers (and the resellers they sit under); the saved plan names them.
    let out = dir.path().join("gold.json");
    let planned = run(&["plan", "--sandbox", &d, "-l", "tier=gold", "--format", "json", "--out", &dir_arg(&out)]);
    ok(&planned);
    let plan = json(&planned);
    let owners: std::collections::BTreeSet<String> =
        plan["actions"].as_array().unwrap().iter().map(|a| a["key"]["owner"].as_str().unwrap().to_string()).collect();
    let mut allowed: std::collections::BTreeSet<String> = gold.iter().map(|c| format!("Customer/{c}")).collect();
    allowed.extend(gold.iter().filter_map(|c| reseller_of(c)).map(|r| format!("Reseller/{r}")));
    assert!(owners.is_subset(&allowed) && gold.iter().all(|c| owners.contains(&format!("Customer/{c}"))), "{owners:?}");
    let mut expected_targets: Vec<String> = gold.iter().map(|c| format!("Customer/{c}")).collect();
    expected_targets.sort();
    assert_eq!(plan["options"]["targets"], serde_json::json!(expected_targets));
    // -l with --target: only the named ones that match; with --exclude: minus those.
    let one = json(&run(&["plan", "--sandbox", &d, "-l", "tier=gold", "--target", &gold[0], "--format", "json"]));
    assert_eq!(one["options"]["targets"], serde_json::json!([format!("Customer/{}", gold[0])]));
    let rest =
        json(&run(&["plan", "--sandbox", &d, "--selector", "tier=gold", "--exclude", &gold[0], "--format", "json"]));
    assert_eq!(rest["options"]["targets"].as_array().unwrap().len(), gold.len() - 1, "{}", rest["options"]);

    // apply -l: the world holds the gold customers and nobody else.
    let applied = run(&["apply", "--sandbox", &d, "-l", "tier=gold,region=emea", "--auto-approve"]);
    ok(&applied);
    let emea_gold: Vec<String> =
        gold.iter().filter(|c| labelled(dir.path(), "region", "emea").contains(c)).cloned().collect();
    assert_eq!(emea_gold.len(), 1, "{emea_gold:?}");
    ok(&run(&["apply", "--sandbox", &d, "-l", "tier=gold", "--auto-approve"]));
    let dump = json(&run(&["sandbox", "dump", &d]));
    for c in loaded.customers.values() {
        assert_eq!(holds_string(&dump, &c.company.name), gold.contains(&c.name), "{} at the sandbox", c.name);
    }

    // tasks, history, state list: the same selectors, over what the state holds.
    let store = sandbox_store(dir.path());
    let is_gold = |owner: &str| gold.iter().any(|c| owner == format!("Customer/{c}"));
    let bindings = json(&run(&["state", "list", "--sandbox", &d, "-l", "tier=gold", "--format", "json"]));
    let expected: Vec<String> = store
        .snapshot()
        .unwrap()
        .bindings
        .values()
        .filter(|b| is_gold(&b.key.owner.to_string()))
        .map(|b| b.key.id())
        .collect();
    let listed: Vec<&str> = bindings.as_array().unwrap().iter().map(|b| b["key"].as_str().unwrap()).collect();
    assert!(!expected.is_empty());
    assert_eq!(listed, expected);
    let history = json(&run(&["history", "--sandbox", &d, "-l", "tier=gold", "--limit", "1000", "--format", "json"]));
    let all = store.history(None, 1000).unwrap();
    let gold_history: Vec<&tenantry::state::HistoryEntry> =
        all.iter().filter(|e| is_gold(&e.key.owner.to_string())).collect();
    assert_eq!(history.as_array().unwrap().len(), gold_history.len());
    assert!(gold_history.len() < all.len(), "the resellers' history is left out");
    let tasks = json(&run(&["tasks", "--sandbox", "--all", "-l", "tier=gold", &d, "--format", "json"]));
    let tasks_list = json(&run(&["tasks", "list", "--sandbox", "--all", "-l", "tier=gold", &d, "--format", "json"]));
    assert_eq!(tasks, tasks_list);
    let expected_tasks: Vec<String> =
        store.tasks().unwrap().into_iter().filter(|t| is_gold(&t.key.owner.to_string())).map(|t| t.id).collect();
    let mut got: Vec<String> =
        tasks.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect();
    let mut want = expected_tasks.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let one_task = json(&run(&["tasks", "--sandbox", "--all", "--target", &gold[0], &d, "--format", "json"]));
    assert!(one_task.as_array().unwrap().iter().all(|t| t["owner"] == format!("Customer/{}", gold[0])), "{one_task}");

    // history --customer is --target.
    let by_customer = run(&["history", "--sandbox", &d, "--customer", &gold[0], "--format", "json"]);
    let by_target = run(&["history", "--sandbox", &d, "--target", &gold[0], "--format", "json"]);
    ok(&by_target);
    assert_eq!(by_customer.stdout, by_target.stdout);
    assert!(json(&by_target).as_array().is_some_and(|h| !h.is_empty()));

    // A selector nothing matches, or one that is not key=value: refused, naming it.
    for args in [
        vec!["plan", "--sandbox", &d, "-l", "tier=platinum"],
        vec!["apply", "--sandbox", &d, "-l", "tier=gold", "--target", "Reseller/northwind", "--auto-approve"],
    ] {
        let r = run(&args);
        assert_eq!(r.code, 1, "{r}");
        assert!(r.stderr.contains("has the labels"), "{r}");
    }
    for args in [vec!["plan", "--sandbox", &d, "-l", "gold"], vec!["state", "list", "--sandbox", &d, "-l", "=x"]] {
        let r = run(&args);
        assert_eq!(r.code, 1, "{r}");
        assert!(r.stderr.contains("is not a label selector"), "{r}");
    }
}

#[test]
fn completions_and_man_pages_come_from_the_command_definitions() {
    let bash = run(&["completions", "bash"]);
    ok(&bash);
    for word in ["completions", "state", "forget", "--selector", "--quiet", "--sandbox"] {
        assert!(bash.stdout.contains(word), "{word} is not completed");
    }
    let work = tempfile::tempdir().expect("tempdir");
    let script = work.path().join("tenantry.bash");
    std::fs::write(&script, &bash.stdout).expect("write");
    let checked = std::process::Command::new("bash").arg("-n").arg(&script).output().expect("bash");
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let r = run(&["completions", shell]);
        ok(&r);
        assert!(r.stdout.contains("tenantry") && r.stdout.contains("force-unlock"), "{shell}: {r}");
    }
    let bad = run(&["completions", "tcsh"]);
    assert_eq!(bad.code, 1, "{bad}");

    let man = run(&["man"]);
    ok(&man);
    assert!(man.stdout.contains(".TH tenantry 1"), "{}", &man.stdout[..man.stdout.len().min(400)]);
    assert!(man.stdout.contains(env!("CARGO_PKG_VERSION")));
    for command in ["validate", "plan", "apply", "status", "tasks", "history", "state", "completions"] {
        assert!(man.stdout.contains(command), "{command} is not in the page");
    }
    let pages = work.path().join("man1");
    let wrote = run(&["man", "--out-dir", &dir_arg(&pages)]);
    ok(&wrote);
    for page in ["tenantry.1", "tenantry-plan.1", "tenantry-apply.1", "tenantry-state.1", "tenantry-state-forget.1"] {
        let text = std::fs::read_to_string(pages.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH "), "{page}");
    }
    let plan_page = std::fs::read_to_string(pages.join("tenantry-plan.1")).unwrap();
    assert!(plan_page.contains("detailed\\-exitcode"), "the plan page has plan's flags");
}

#[test]
fn quiet_leaves_only_errors_on_stderr_and_the_output_unchanged() {
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let quiet = run(&["apply", "--sandbox", &d, "--auto-approve", "-q"]);
    ok(&quiet);
    assert_eq!(quiet.stderr, "", "{quiet}");
    assert!(quiet.stdout.contains("Apply complete"), "{quiet}");
    assert_one_of_each(dir.path(), &json(&run(&["sandbox", "dump", &d])));
    // Without -q, the same kind of run shows its progress.
    let other = example_copy();
    let loud = run(&["apply", "--sandbox", &dir_arg(other.path()), "--auto-approve"]);
    ok(&loud);
    assert!(loud.stderr.contains("Applying"), "{loud}");
    // plan --out notes where it saved the plan, except under --quiet.
    let out = dir.path().join("p.json");
    let saved = run(&["plan", "--sandbox", &d, "--out", &dir_arg(&out), "--quiet"]);
    ok(&saved);
    assert_eq!(saved.stderr, "", "{saved}");
    assert!(out.exists());
    // Errors are still shown; -q and -v together are a usage error.
    let missing = run(&["tasks", "/nonexistent/tenantry-cli-test", "-q"]);
    assert_eq!(missing.code, 1, "{missing}");
    assert!(missing.stderr.contains("error: /nonexistent/tenantry-cli-test is not a directory"), "{missing}");
    let both = run(&["plan", "-q", "-v", &d]);
    assert_eq!(both.code, 1, "{both}");
}

#[test]
fn diagnostics_name_files_from_the_working_directory_and_github_gets_annotations() {
    let work = tempfile::tempdir().expect("tempdir");
    crate::support::copy_tree(
        &crate::support::fixtures().join("invalid/unknown-field-typo"),
        &work.path().join("repo/case"),
    );
    let in_dir = |cwd: &Path, args: &[&str]| {
        let mut c = command(args);
        c.current_dir(cwd);
        run_with(c)
    };
    let root = work.path().join("repo");
    let want = "case/manifests/customers/acme.yaml:9:5";
    // Plain text (no terminal): the path as typed, from where the user stands.
    for dir in ["case/manifests", "./case/manifests/", &dir_arg(&root.join("case/manifests"))] {
        let r = in_dir(&root, &["validate", dir]);
        assert_eq!(r.code, 1, "{r}");
        assert!(r.stdout.contains(&format!("error[unknown-field]: {want}: spec.company.acountNumber")), "{dir}: {r}");
    }
    // From inside the manifest directory: relative to it, as before.
    let inside = in_dir(&root.join("case/manifests"), &["validate"]);
    assert!(inside.stdout.contains("error[unknown-field]: customers/acme.yaml:9:5"), "{inside}");
    // JSON and plan's refusal name the same file.
    let j = json(&in_dir(&root, &["validate", "case/manifests", "--format", "json"]));
    assert_eq!(j["diagnostics"][0]["file"], "case/manifests/customers/acme.yaml");
    let plan = in_dir(&root, &["plan", "--sandbox", "case/manifests"]);
    assert_eq!(plan.code, 1, "{plan}");
    assert!(plan.stderr.contains(want), "{plan}");
    // The file is where the diagnostic says, at that line.
    let text = std::fs::read_to_string(root.join("case/manifests/customers/acme.yaml")).unwrap();
    assert!(text.lines().nth(8).is_some_and(|l| l[4..].starts_with("acountNumber")), "{text}");

    // --format github: one workflow command per diagnostic, then the summary.
    let gh = in_dir(&root, &["validate", "case/manifests", "--format", "github"]);
    assert_eq!(gh.code, 1, "{gh}");
    let mut lines = gh.stdout.lines();
    assert_eq!(
        lines.next(),
        Some(
            "::error file=case/manifests/customers/acme.yaml,line=9,col=5,title=unknown-field::spec.company.acountNumber: unknown field `acountNumber` (hint: did you mean `accountNumber`?)"
        ),
        "{gh}"
    );
    assert_eq!(lines.next(), Some("case/manifests has 1 error(s)"), "{gh}");
    let valid = example_copy();
    let fine = run(&["validate", &dir_arg(valid.path()), "--format", "github"]);
    ok(&fine);
    assert!(!fine.stdout.contains("::error"), "{fine}");
}

#[test]
fn the_example_repository_keeps_secrets_and_local_state_out_of_git() {
    let dir = example_copy();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").args(args).current_dir(dir.path()).output().expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    git(&["init", "-q"]);
    std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/umbrella-vco-admin"), format!("{SECRET}\n")).unwrap();
    ok(&run(&["plan", "--sandbox", &dir_arg(dir.path())]));
    assert!(dir.path().join(".tenantry/sandbox/state.db").exists());
    let status = git(&["status", "--porcelain", "--untracked-files=all", "--ignored=no"]);
    assert!(status.contains("customers/acme.yaml"), "{status}");
    assert!(status.contains(".gitignore"), "{status}");
    for line in status.lines() {
        assert!(!line.contains("secrets/") && !line.contains(".tenantry/"), "{line} would be committed");
    }
}

#[test]
fn a_connection_sets_its_retry_budget_connect_timeout_and_retry_after_cap_as_durations() {
    use std::time::Duration;
    use tenantry::model::{Limits, Vendor};
    // The example: Datto's budget and cap as written, the other vendors the defaults.
    let dir = example_copy();
    let desired = tenantry::manifest::load_dir(dir.path()).expect("load").desired.expect("valid");
    let limits = |v: Vendor| desired.config.connections[&v].limits;
    assert_eq!(limits(Vendor::Datto).retry_budget, Duration::from_secs(30));
    assert_eq!(limits(Vendor::Datto).max_retry_after, Duration::from_secs(120));
    assert_eq!(limits(Vendor::Datto).connect_timeout, Limits::DEFAULT_CONNECT_TIMEOUT);
    assert_eq!(limits(Vendor::Veeam).retry_budget, Duration::from_secs(15));
    assert_eq!(limits(Vendor::Veeam).max_retry_after, Duration::from_secs(60));
    assert_eq!(limits(Vendor::Veeam).connect_timeout, Duration::from_secs(3));

    // Wrong values: each named at its place, all at once.
    let file = dir.path().join("tenantry.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let bad = text.replace(
        "limits: {requestsPerSecond: 5, concurrency: 4}",
        "limits: {requestsPerSecond: 5, concurrency: 4, retryBudget: soon, connectTimeout: 0s, maxRetryAfter: 1h}",
    );
    assert_ne!(bad, text, "the example's veeam limits moved");
    std::fs::write(&file, bad).unwrap();
    let r = run(&["validate", &dir_arg(dir.path()), "--format", "json"]);
    assert_eq!(r.code, 1, "{r}");
    let diags = json(&r)["diagnostics"].as_array().cloned().unwrap_or_default();
    let found: Vec<(String, String)> = diags
        .iter()
        .map(|d| (d["code"].as_str().unwrap_or("").to_string(), d["path"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(
        found,
        vec![
            ("invalid-duration".to_string(), "spec.connections.veeam.limits.retryBudget".to_string()),
            ("out-of-range".to_string(), "spec.connections.veeam.limits.connectTimeout".to_string()),
        ],
        "{r}"
    );
}

/// `tenantry ARGS` against `served` on a terminal (a pty from util-linux `script`): what the
/// terminal showed, stdout and stderr together.
fn on_a_terminal(served: &crate::support::Served, args: &[&str]) -> String {
    let line = std::iter::once(crate::support::bin().display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &line, "/dev/null"])
        .env("TENANTRY_SANDBOX_URL", &served.admin)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("TENANTRY_STATE")
        .stdin(std::process::Stdio::null());
    let out = c.output().expect("run script(1)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_terminal_shows_a_progress_line_per_vendor_while_observing_and_quiet_or_a_pipe_shows_none() {
    // 300 ms a request: observing takes long enough to be drawn.
    let served = crate::support::Served::start(&["--latency", "300"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let shown = on_a_terminal(&served, &["plan", &d]);
    for vendor in ["veeam", "datto", "velocloud", "acronis", "watchguard", "avepoint"] {
        assert!(shown.contains(&format!("{vendor:<11} observing")), "no line for {vendor}: {shown}");
    }
    assert!(shown.contains("Plan: ") && shown.contains(" to create"), "the plan is printed too: {shown}");
    let quiet = on_a_terminal(&served, &["plan", &d, "-q"]);
    assert!(!quiet.contains("observing"), "{quiet}");
    let piped = served.run(&["plan", &d]);
    ok(&piped);
    assert!(!piped.stderr.contains("observing"), "{piped}");
}
