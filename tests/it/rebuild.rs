//! A lost state store: the next plan rebinds what tenantry made, from owner markers and the
//! values tenantry entered, and never takes over an object someone else made.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value as Json, json};

use crate::support::{Run, Served, example_copy, run};

/// Every vendor object in a sandbox dump as `vendor type id`.
fn objects(dump: &Json) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (vendor, list) in dump.as_object().expect("dump by vendor") {
        for o in list.as_array().expect("objects") {
            let kind = o["type"].as_str().expect("type");
            // The object itself sits under its type's name (`{"type": "user", "user": {..}}`)
            // or under the one other key that holds an object.
            let inner = o.get(kind).or_else(|| {
                o.as_object().expect("object").iter().find(|(k, v)| *k != "type" && v.is_object()).map(|(_, v)| v)
            });
            let inner = inner.unwrap_or_else(|| panic!("{o}"));
            // The vendor's id, else what the dump keys it by (a Pulse portal customer by tenant).
            let id = ["id", "instanceUid", "accountId", "saasCustomerId", "userName", "logicalId"]
                .iter()
                .find_map(|k| inner.get(*k).filter(|v| !v.is_null()))
                .or_else(|| o.get("tenantUid"))
                .unwrap_or_else(|| panic!("no id in {o}"));
            out.insert(format!("{vendor} {kind} {id}"));
        }
    }
    out
}

fn dump(d: &str) -> Json {
    let r = run(&["sandbox", "dump", "-d", d]);
    assert_eq!(r.code, 0, "{r}");
    serde_json::from_str(&r.stdout).expect("dump is JSON")
}

fn plan_json(d: &str, extra: &[&str]) -> Json {
    let mut args = vec!["plan", "--sandbox", d, "--format", "json"];
    args.extend_from_slice(extra);
    let r = run(&args);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("plan JSON: {e}\n{r}"))
}

fn keys_of<'p>(plan: &'p Json, kind: &str) -> BTreeSet<&'p str> {
    let actions = plan["actions"].as_array().expect("actions");
    actions.iter().filter(|a| a["kind"] == kind).map(key).collect()
}

/// `customer/acme/datto/client` of the action `customer/acme/datto/client:adopt`.
fn key(action: &Json) -> &str {
    let id = action["id"].as_str().expect("action id");
    id.split_once(':').map_or(id, |(key, _)| key)
}

fn bindings(dir: &Path) -> BTreeSet<(String, String)> {
    let state = tenantry::state::StateStore::snapshot(&sandbox_store(dir)).unwrap();
    state.bindings.values().map(|b| (b.key.id(), b.vendor_id.clone())).collect()
}

fn sandbox_store(dir: &Path) -> tenantry::state::sqlite::SqliteStore {
    tenantry::state::sqlite::SqliteStore::open(&dir.join(".tenantry/sandbox/state.db")).unwrap()
}

/// The binding the sandbox state holds for the object key `key` (`customer/acme/...`).
fn binding_of(dir: &Path, key: &str) -> Option<tenantry::core::Binding> {
    let state = tenantry::state::StateStore::snapshot(&sandbox_store(dir)).unwrap();
    state.bindings.into_iter().find(|(k, _)| k.id() == key).map(|(_, b)| b)
}

/// Forget one binding, as a partly lost store would: the binding it was.
fn forget_binding(dir: &Path, key: &str) -> tenantry::core::Binding {
    let binding = binding_of(dir, key).unwrap_or_else(|| panic!("{key} is bound"));
    tenantry::state::StateStore::remove_binding(&sandbox_store(dir), &binding.key).unwrap();
    binding
}

fn lose_state(dir: &Path) {
    for name in ["state.db", "state.db-wal", "state.db-shm"] {
        let path = dir.join(".tenantry/sandbox").join(name);
        if path.exists() {
            std::fs::remove_file(path).unwrap();
        }
    }
}

#[test]
fn a_lost_state_store_is_rebuilt_from_the_vendors_and_nothing_is_made_twice() {
    let dir = example_copy();
    let d = dir.path().display().to_string();
    let first = run(&["apply", "--sandbox", &d, "--auto-approve"]);
    assert_eq!(first.code, 0, "{first}");
    let before = bindings(dir.path());
    let world = objects(&dump(&d));
    lose_state(dir.path());

    // The plan alone rebuilds every customer: nothing is created, registered or asked of an
    // operator again, and nothing is a conflict. Customers with an object carrying tenantry's
    // marker are rebuilt by it; Stark (Datto and AvePoint) and Hooli (AvePoint, and VeloCloud
    // marked only by an account number, which people enter too) have no object tenantry can
    // read a marker from, and are rebuilt because the other owners' marked objects show the
    // store lost what it held.
    let plan = plan_json(&d, &[]);
    let actions = plan["actions"].as_array().unwrap();
    for a in actions {
        assert_eq!(a["kind"], "adopt", "only adopt: {a:#}");
        assert!(a["blocked"].is_null(), "{a:#}");
    }
    let acme = actions.iter().find(|a| key(a) == "customer/acme/datto/client").expect("acme's Datto client");
    let reason = acme["reason"].as_str().unwrap();
    assert!(reason.contains("clientName \"Acme Corp\""), "{reason}");
    assert!(reason.contains("its objects at Veeam"), "{reason}");
    // What Datto cannot report back is named as taken from the manifest.
    assert!(reason.contains("not in the state store, so taken as declared:") && reason.contains("term"), "{reason}");
    for (k, entered) in [
        ("customer/stark/datto/client", "clientName \"Stark Industries\""),
        ("customer/stark/avepoint/customer", "organizationName \"Stark Industries\""),
        ("customer/hooli/avepoint/customer", "organizationName \"Hooli Europe Ltd\""),
    ] {
        let a = actions.iter().find(|a| key(a) == k).unwrap_or_else(|| panic!("{k} in {plan:#}"));
        let reason = a["reason"].as_str().unwrap();
        assert!(reason.contains(entered), "{reason}");
        assert!(
            reason.contains("objects of 8 other owners it holds nothing for carry tenantry's owner marker"),
            "{reason}"
        );
    }

    // Applying it binds and changes nothing at the vendors: the same objects, none made twice.
    let apply = run(&["apply", "--sandbox", &d, "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply}");
    assert_eq!(objects(&dump(&d)), world, "the vendors hold the same objects as before the loss");
    assert_eq!(bindings(dir.path()), before, "every binding is back, to the same vendor id");

    let again = run(&["plan", "--sandbox", &d, "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{again}");
    assert!(again.stdout.contains("No changes."), "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_made_by_hand_before_tenantry_ran_stay_conflicts_in_every_round() {
    let served = Served::start(&["--customer-delay", "0", "--operator-delay", "0"]);
    // Someone added Acme's Datto client in the partner portal before tenantry was set up.
    let form = json!({
        "domain": "acme.example", "productType": "Office365", "clientName": "Acme Corp", "region": "eu",
        "term": "oneYear", "retentionType": "TimeBased", "managedBy": "partner", "acknowledgeTerms": true,
    });
    let added = served.post("/_portal/datto/add-saas-client", form).await;
    assert_eq!(added["status"], "done", "{added}");
    // And Stark's, whose vendors (Datto, AvePoint) keep no marker of tenantry's: nothing at any
    // vendor carries tenantry's marker yet, so nothing says a store was lost.
    let form = json!({
        "domain": "stark-industries.example", "productType": "Office365", "clientName": "Stark Industries",
        "region": "us", "term": "monthToMonth", "retentionType": "TimeBased", "managedBy": "partner",
        "acknowledgeTerms": true,
    });
    let added = served.post("/_portal/datto/add-saas-client", form).await;
    assert_eq!(added["status"], "done", "{added}");
    let dir = example_copy();
    let d = dir.path().display().to_string();

    // apply makes Acme's marked objects in its first round and plans again in later rounds:
    // the store then holds Acme's bindings, so the hand-made client is never taken as lost.
    let apply: Run = served.run(&["apply", &d, "--auto-approve"]);
    assert_eq!(apply.code, 1, "a conflict fails the run: {apply}");
    assert!(apply.stdout.contains("SaaS Protection client \"Acme Corp\""), "{apply}");
    let plan = served.run(&["plan", &d, "--format", "json"]);
    let plan: Json = serde_json::from_str(&plan.stdout).expect("plan JSON");
    let conflicts = keys_of(&plan, "conflict");
    assert!(conflicts.contains("customer/acme/datto/client"), "{plan:#}");
    assert!(conflicts.contains("customer/stark/datto/client"), "{plan:#}");
    let acme = plan["actions"].as_array().unwrap().iter().find(|a| key(a) == "customer/acme/datto/client").unwrap();
    assert!(!acme["hint"].as_str().unwrap().contains("--rebind"), "the store remembers Acme: {acme:#}");
    let world = served.dump().await;
    for domain in ["acme.example", "stark-industries.example"] {
        let clients = world["datto"].as_array().unwrap().iter().filter(|o| o["client"]["domain"] == domain);
        assert_eq!(clients.count(), 1, "{world:#}");
    }
}

#[test]
fn a_customer_moved_while_the_state_store_was_lost_is_found_under_its_old_reseller_not_made_again() {
    let dir = example_copy();
    let d = dir.path().display().to_string();
    let first = run(&["apply", "--sandbox", &d, "--auto-approve"]);
    assert_eq!(first.code, 0, "{first}");
    let world = objects(&dump(&d));
    lose_state(dir.path());
    let file = dir.path().join("customers/initech.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("reseller: northwind"), "{text}");
    std::fs::write(&file, text.replace("reseller: northwind", "reseller: bluewave")).unwrap();

    let plan = plan_json(&d, &[]);
    let actions = plan["actions"].as_array().unwrap();
    let of = |k: &str| actions.iter().filter(|a| key(a) == k).collect::<Vec<_>>();
    // Acronis: found by its marker under Northwind, adopted and moved in one step.
    let tenant = of("customer/initech/acronis/tenant");
    assert_eq!(tenant.len(), 1, "{tenant:#?}");
    assert_eq!(tenant[0]["kind"], "adopt", "{:#}", tenant[0]);
    let fields: Vec<&Json> = tenant[0]["changes"].as_array().unwrap().iter().map(|c| &c["field"]).collect();
    assert!(fields.contains(&&json!("parent")), "{:#}", tenant[0]);
    // WatchGuard has no owner marker: an account with Initech's name and contact e-mail under
    // another reseller is what a stranger's looks like too. Not made again, not taken over: a
    // conflict whose hint names --rebind.
    let account = of("customer/initech/watchguard/account");
    assert_eq!(account.len(), 1, "{account:#?}");
    assert_eq!(account[0]["kind"], "conflict", "{:#}", account[0]);
    assert!(account[0]["hint"].as_str().unwrap().contains("--rebind"), "{:#}", account[0]);

    let apply = run(&["apply", "--sandbox", &d, "--auto-approve"]);
    assert_eq!(apply.code, 1, "the conflict fails the run: {apply}");
    assert_eq!(objects(&dump(&d)), world, "nothing was made twice");

    // Told the store was lost, it takes the account as tenantry's; WatchGuard cannot move it, so
    // the move is blocked with the reason.
    let plan = plan_json(&d, &["--rebind"]);
    let account: Vec<&Json> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| key(a) == "customer/initech/watchguard/account")
        .collect();
    assert!(account.iter().all(|a| a["kind"] != "create" && a["kind"] != "conflict"), "{account:#?}");
    assert!(
        account.iter().any(|a| !a["blocked"].is_null() && a["id"].as_str().unwrap().ends_with(":parent")),
        "{account:#?}"
    );
    let apply = run(&["apply", "--sandbox", &d, "--auto-approve", "--rebind"]);
    assert_eq!(apply.code, 1, "the blocked WatchGuard move fails the run: {apply}");
    assert_eq!(objects(&dump(&d)), world, "nothing was made twice");
    let moved = dump(&d)["acronis"].as_array().unwrap().iter().find(|o| o["tenant"]["name"] == "Initech").cloned();
    let bluewave = dump(&d)["acronis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["tenant"]["name"] == "Bluewave Systemhaus GmbH")
        .cloned();
    assert_eq!(moved.unwrap()["tenant"]["parent_id"], bluewave.unwrap()["tenant"]["id"]);
}

/// Only a lost store makes tenantry take what the vendor cannot report as declared. An object
/// found under a parent tenantry manages, for a customer whose record the store holds, was not
/// seen made by tenantry: what the vendor does not report is unknown, and the plan does not
/// claim otherwise.
#[test]
fn an_unbound_object_of_a_customer_the_store_knows_is_not_taken_as_declared() {
    let dir = example_copy();
    let d = dir.path().display().to_string();
    let first = run(&["apply", "--sandbox", &d, "--auto-approve"]);
    assert_eq!(first.code, 0, "{first}");
    let world = objects(&dump(&d));
    let key = "customer/acme/avepoint/service/cloudBackupM365";
    let binding = forget_binding(dir.path(), key);
    assert_eq!(binding.applied.get("seats"), Some(&json!(50)), "{binding:?}");

    let plan = plan_json(&d, &[]);
    let adopt: Vec<&Json> = plan["actions"].as_array().unwrap().iter().filter(|a| self::key(a) == key).collect();
    assert_eq!(adopt.len(), 1, "{adopt:#?}");
    assert_eq!(adopt[0]["kind"], "adopt", "{:#}", adopt[0]);
    let reason = adopt[0]["reason"].as_str().unwrap();
    assert!(reason.contains("sits under the customer tenantry manages"), "{reason}");
    assert!(!reason.contains("taken as declared"), "{reason}");

    let apply = run(&["apply", "--sandbox", &d, "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply}");
    assert_eq!(objects(&dump(&d)), world, "nothing was made twice");
    let binding = binding_of(dir.path(), key).expect("bound again");
    assert_eq!(binding.applied.get("seats"), None, "never seen applied, so not recorded: {binding:?}");
    let again = run(&["plan", "--sandbox", &d, "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{again}");
}

/// A VDC registration the store recorded as done, where VCSP Pulse shows no usage yet (nothing
/// protected): the API cannot show it, so after the store is lost the step is asked again, and
/// the task says it may already be done and how to close it without doing it twice.
#[test]
fn a_vdc_registration_unseen_after_a_lost_store_is_asked_again_as_maybe_done() {
    let served = Served::start(&["--no-customers"]);
    let dir = example_copy();
    let d = dir.path().display().to_string();
    let first = served.run(&["apply", &d, "--auto-approve", "--wait", "1s"]);
    assert_ne!(first.code, 1, "{first}");
    lose_state(dir.path());
    let r = served.run(&["plan", &d, "--format", "json"]);
    let plan: Json = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("plan JSON: {e}\n{r}"));
    let task = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| key(a) == "customer/soylent/veeam/vdc-registration")
        .unwrap_or_else(|| panic!("{plan:#}"));
    assert_eq!(task["kind"], "portal-task", "{task:#}");
    let reason = task["reason"].as_str().unwrap();
    assert!(reason.contains("may already be done") && reason.contains("its objects at Veeam"), "{reason}");
    assert!(task["hint"].as_str().unwrap().contains("tenantry tasks done"), "{task:#}");
    // Whoever the task goes to (a ticket queue, a script, the operator) is told so too: the
    // note is in the task itself, as recorded and as delivered.
    let note = task["task"]["note"].as_str().unwrap_or_else(|| panic!("a note in the task: {task:#}"));
    assert!(note.contains("may already be done") && note.contains("Check the portal first"), "{note}");
    let apply = served.run(&["apply", &d, "--auto-approve", "--wait", "1s"]);
    assert_ne!(apply.code, 1, "{apply}");
    let r = served.run(&["tasks", &d, "--sandbox", "--format", "json", "--all"]);
    let tasks: Json = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("tasks JSON: {e}\n{r}"));
    let recorded: Vec<&Json> =
        tasks.as_array().unwrap().iter().filter(|t| t["object"] == "customer/soylent/veeam/vdc-registration").collect();
    assert_eq!(recorded.len(), 1, "{tasks:#}");
    assert_eq!(recorded[0]["note"], note, "{:#}", recorded[0]);
    let shown = served.run(&["tasks", &d, "--sandbox", "show", recorded[0]["id"].as_str().unwrap()]);
    assert!(shown.stdout.contains("note:") && shown.stdout.contains("may already be done"), "{shown}");
}

/// The same case for what the API can set but the vendor does not report (VeloCloud's support
/// access flags): the adopt sets them, in the plan a person approves, and records them; not a
/// second round of changes nobody saw.
#[test]
fn an_adopt_of_a_known_customer_sets_what_the_vendor_cannot_report_in_the_same_action() {
    let dir = example_copy();
    let d = dir.path().display().to_string();
    let first = run(&["apply", "--sandbox", &d, "--auto-approve"]);
    assert_eq!(first.code, 0, "{first}");
    let key = "customer/acme/velocloud/enterprise";
    let binding = forget_binding(dir.path(), key);
    let support = binding.applied.get("partnerSupportAccess").cloned().expect("recorded at create");

    let plan = plan_json(&d, &[]);
    let adopt: Vec<&Json> = plan["actions"].as_array().unwrap().iter().filter(|a| self::key(a) == key).collect();
    assert_eq!(adopt.len(), 1, "{adopt:#?}");
    assert_eq!(adopt[0]["kind"], "adopt", "{:#}", adopt[0]);
    let change = adopt[0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "partnerSupportAccess")
        .unwrap_or_else(|| panic!("the adopt sets partnerSupportAccess: {:#}", adopt[0]));
    assert_eq!(change["after"], support, "{change:#}");
    assert_eq!(change["unreadable"], true, "{change:#}");

    let apply = run(&["apply", "--sandbox", &d, "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply}");
    let binding = binding_of(dir.path(), key).expect("bound again");
    assert_eq!(binding.applied.get("partnerSupportAccess"), Some(&support), "{binding:?}");
    let again = run(&["plan", "--sandbox", &d, "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{again}");
}
