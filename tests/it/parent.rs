//! Issue 11, symptoms 1 and 6, against the sandbox: a customer moved to another reseller (the
//! parent relation is compared with the vendor, moved where the vendor API can, blocked with a
//! reason where it cannot), and the Acronis activation e-mail after an e-mail fix.

use serde_json::{Value as Json, json};

use crate::e2e::{
    assert_one_of_each, converge, dir_arg, dumped_object, edit_at_vendor, edit_manifest, executable, journalled, ok,
};
use crate::support::{Served, client, example_copy};

/// The plan as JSON, and its `--detailed-exitcode` status.
fn plan_json(served: &Served, d: &str) -> (i32, Json) {
    let r = served.run(&["plan", d, "--format", "json", "--detailed-exitcode"]);
    assert_ne!(r.code, 1, "{r}");
    (r.code, serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("plan JSON: {e}\n{r}")))
}

fn action<'p>(plan: &'p Json, id: &str) -> &'p Json {
    let found = plan["actions"].as_array().expect("actions").iter().find(|a| a["id"] == id);
    found.unwrap_or_else(|| panic!("no action {id} in {plan:#}"))
}

fn ids(actions: &[&Json]) -> Vec<String> {
    actions.iter().map(|a| a["id"].as_str().unwrap_or_default().to_string()).collect()
}

/// The executable actions of one vendor.
fn executable_at<'p>(plan: &'p Json, vendor: &str) -> Vec<&'p Json> {
    executable(plan).into_iter().filter(|a| a["key"]["vendor"] == vendor).collect()
}

fn acronis_tenant(dump: &Json, name: &str) -> Json {
    dumped_object(dump, "acronis", "tenant", "tenant", name)["tenant"].clone()
}

fn watchguard_account(dump: &Json, name: &str) -> Json {
    dumped_object(dump, "watchguard", "account", "account", name)["account"].clone()
}

fn acronis_user<'d>(dump: &'d Json, login: &str) -> &'d Json {
    let list = dump["acronis"].as_array().expect("acronis in the dump");
    let found = list.iter().find(|o| o["type"] == "user" && o["user"]["login"] == login);
    found.unwrap_or_else(|| panic!("no Acronis user {login}: {list:#?}"))
}

/// The `parent` change of an action: (old parent's id, new parent's id), after checking both
/// sides carry a readable name.
fn parent_change(a: &Json) -> (Json, Json) {
    let changes = a["changes"].as_array().expect("changes");
    let c = changes.iter().find(|c| c["field"] == "parent").unwrap_or_else(|| panic!("no parent change: {a:#}"));
    for side in ["before", "after"] {
        assert!(c[side]["name"].as_str().is_some_and(|n| !n.is_empty()), "{side} has a name: {c:#}");
    }
    (c["before"]["id"].clone(), c["after"]["id"].clone())
}

const INITECH_WG_BLOCK: &str = "the WatchGuard Cloud API cannot move an account to another parent";

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_moved_to_another_reseller_moves_at_acronis_and_is_blocked_at_watchguard() {
    let served = Served::start(&["--journal"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    converge(&served, &d, 3);
    let before = served.dump().await;
    let northwind = acronis_tenant(&before, "Northwind IT Partners");
    let bluewave = acronis_tenant(&before, "Bluewave Systemhaus GmbH");
    let initech = acronis_tenant(&before, "Initech");
    assert_eq!(initech["parent_id"], northwind["id"], "{initech:#}");
    let wg_northwind = watchguard_account(&before, "Northwind IT Partners");
    let wg_initech = watchguard_account(&before, "Initech");
    assert_eq!(wg_initech["parent"], wg_northwind["accountId"]);
    let user = acronis_user(&before, "initech-admin").clone();

    // The customer moves to Bluewave in the manifests.
    edit_manifest(dir.path(), "customers/initech.yaml", "reseller: northwind", "reseller: bluewave");
    let (code, plan) = plan_json(&served, &d);
    assert_eq!(code, 2, "a move is a change: {plan:#}");
    assert_eq!(ids(&executable(&plan)), ["customer/initech/acronis/tenant:sync"], "{plan:#}");
    let sync = action(&plan, "customer/initech/acronis/tenant:sync");
    assert_eq!(sync["changes"].as_array().unwrap().len(), 1, "only the parent changes: {sync:#}");
    assert_eq!(parent_change(sync), (northwind["id"].clone(), bluewave["id"].clone()));
    // WatchGuard cannot move an account: blocked with the reason and what a person can do.
    let wg = action(&plan, "customer/initech/watchguard/account:parent");
    assert!(wg["blocked"].as_str().is_some_and(|b| b.contains(INITECH_WG_BLOCK)), "{wg:#}");
    assert!(wg["hint"].as_str().is_some_and(|h| h.contains("WatchGuard Cloud")), "{wg:#}");
    assert_eq!(
        parent_change(wg),
        (
            wg_northwind["accountId"].clone(),
            watchguard_account(&before, "Bluewave Systemhaus GmbH")["accountId"].clone()
        )
    );
    let text = served.run(&["plan", &d]);
    assert!(
        text.stdout.contains("parent differs: it sits under partner tenant \"Northwind IT Partners\" (id "),
        "readable before and after: {text}"
    );
    assert!(
        text.stdout.contains("the manifests put it under partner tenant \"Bluewave Systemhaus GmbH\" (id "),
        "{text}"
    );

    // Applied: Acronis holds the tenant under Bluewave's partner tenant, the user untouched; the
    // WatchGuard account stays where it is, and the run says so by failing.
    let applied = served.run(&["apply", &d, "--auto-approve"]);
    assert_eq!(applied.code, 1, "a blocked move fails the run: {applied}");
    let moved = served.dump().await;
    let now = acronis_tenant(&moved, "Initech");
    assert_eq!(now["parent_id"], bluewave["id"], "{now:#}");
    // One `PUT /tenants/{id}` carried the move, against the version the plan read.
    let path = format!("/api/2/tenants/{}", initech["id"].as_str().unwrap());
    let puts = journalled(&served, "acronis", "PUT", &path).await;
    let moves: Vec<&Json> = puts.iter().filter(|x| x["body"].get("parent_id").is_some()).collect();
    assert_eq!(moves.len(), 1, "{puts:#?}");
    assert_eq!(moves[0]["body"]["parent_id"], bluewave["id"]);
    assert_eq!(moves[0]["body"]["version"], initech["version"]);
    assert_eq!(moves[0]["status"], 200);
    assert!(now["version"].as_i64() > initech["version"].as_i64(), "the move bumped the version: {now:#}");
    for f in ["name", "kind", "customer_id", "internal_tag", "enabled"] {
        assert_eq!(now[f], initech[f], "{f} is untouched");
    }
    let contact = |t: &Json| {
        let mut c = t["contact"].clone();
        c.as_object_mut().expect("contact").remove("updated_at");
        c
    };
    assert_eq!(contact(&now), contact(&initech), "the contact is untouched");
    assert_eq!(acronis_user(&moved, "initech-admin"), &user, "the user is untouched");
    assert_eq!(watchguard_account(&moved, "Initech"), wg_initech, "the WatchGuard account stays put");
    assert_one_of_each(dir.path(), &moved);

    // Every later plan: nothing for Acronis, the WatchGuard move still blocked (never silent).
    for _ in 0..2 {
        let (code, plan) = plan_json(&served, &d);
        assert_eq!(code, 2, "{plan:#}");
        assert!(executable(&plan).is_empty(), "{plan:#}");
        let wg = action(&plan, "customer/initech/watchguard/account:parent");
        assert!(wg["blocked"].as_str().is_some_and(|b| b.contains(INITECH_WG_BLOCK)), "{wg:#}");
        let again = served.run(&["apply", &d, "--auto-approve"]);
        assert_eq!(again.code, 1, "{again}");
        assert!(again.stdout.contains("0 done, 0 failed, 0 waiting, 1 blocked"), "{again}");
    }
    assert_eq!(served.dump().await, moved, "the second apply changed nothing");

    // Moving back works the same way, and WatchGuard is where the manifests say again.
    edit_manifest(dir.path(), "customers/initech.yaml", "reseller: bluewave", "reseller: northwind");
    let (_, plan) = plan_json(&served, &d);
    assert_eq!(ids(&executable(&plan)), ["customer/initech/acronis/tenant:sync"], "{plan:#}");
    assert_eq!(
        parent_change(action(&plan, "customer/initech/acronis/tenant:sync")),
        (bluewave["id"].clone(), northwind["id"].clone())
    );
    ok(&served.run(&["apply", &d, "--auto-approve"]));
    assert_eq!(acronis_tenant(&served.dump().await, "Initech")["parent_id"], northwind["id"]);
    let (code, plan) = plan_json(&served, &d);
    assert_eq!(code, 0, "converged: {plan:#}");

    // Someone moves the tenant in the Acronis portal: the next plan shows the same change.
    let to = bluewave["id"].as_str().unwrap();
    edit_at_vendor(&served, "acronis", "tenant", "Initech", "parent_id", to).await;
    let (code, plan) = plan_json(&served, &d);
    assert_eq!(code, 2, "{plan:#}");
    assert_eq!(ids(&executable(&plan)), ["customer/initech/acronis/tenant:sync"], "{plan:#}");
    let sync = action(&plan, "customer/initech/acronis/tenant:sync");
    assert_eq!(parent_change(sync), (bluewave["id"].clone(), northwind["id"].clone()));
    let c = &sync["changes"][0];
    assert_eq!(c["before"]["name"], "partner tenant \"Bluewave Systemhaus GmbH\"", "{c:#}");
    assert_eq!(c["after"]["name"], "partner tenant \"Northwind IT Partners\"", "{c:#}");
    ok(&served.run(&["apply", &d, "--auto-approve"]));
    assert_eq!(acronis_tenant(&served.dump().await, "Initech")["parent_id"], northwind["id"]);
    let (code, plan) = plan_json(&served, &d);
    assert_eq!(code, 0, "converged again: {plan:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_moved_to_a_reseller_created_in_the_same_run_moves_after_the_create() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    converge(&served, &d, 3);
    let reseller = std::fs::read_to_string(dir.path().join("resellers/bluewave.yaml"))
        .unwrap()
        .replace("name: bluewave", "name: harbour")
        .replace("Bluewave Systemhaus GmbH", "Harbour Partners GmbH")
        .replace("bluewave-admin", "harbour-admin")
        .replace("bluewave.ops", "harbour.ops")
        .replace("bluewave-systemhaus.example", "harbour-partners.example")
        .replace("RES-0002", "RES-0003");
    std::fs::write(dir.path().join("resellers/harbour.yaml"), reseller).unwrap();
    edit_manifest(dir.path(), "customers/initech.yaml", "reseller: northwind", "reseller: harbour");

    let (_, plan) = plan_json(&served, &d);
    let sync = action(&plan, "customer/initech/acronis/tenant:sync");
    assert_eq!(sync["dependsOn"], json!(["reseller/harbour/acronis/tenant:create"]), "{sync:#}");
    let c = &sync["changes"][0];
    assert_eq!((c["field"].as_str(), &c["after"]["id"]), (Some("parent"), &Json::Null), "{c:#}");
    assert_eq!(c["after"]["name"], "partner tenant \"Harbour Partners GmbH\"", "{c:#}");
    assert!(sync["blocked"].is_null(), "{sync:#}");
    let text = served.run(&["plan", &d]);
    assert!(text.stdout.contains("\"Harbour Partners GmbH\" (created in this run)"), "{text}");

    let applied = served.run(&["apply", &d, "--auto-approve"]);
    assert_eq!(applied.code, 1, "the WatchGuard move stays blocked: {applied}");
    let dump = served.dump().await;
    let harbour = acronis_tenant(&dump, "Harbour Partners GmbH");
    assert_eq!(harbour["kind"], "partner");
    assert_eq!(acronis_tenant(&dump, "Initech")["parent_id"], harbour["id"], "moved under the new reseller");
    let (_, plan) = plan_json(&served, &d);
    assert!(executable_at(&plan, "acronis").is_empty(), "nothing left at Acronis: {plan:#}");
    let wg = action(&plan, "customer/initech/watchguard/account:parent");
    assert!(wg["blocked"].as_str().is_some_and(|b| b.contains(INITECH_WG_BLOCK)), "{wg:#}");
    assert_one_of_each(dir.path(), &served.dump().await);
}

/// The addresses activation e-mails went to for `login`, as the simulated Acronis recorded them.
fn activation_emails(dump: &Json, login: &str) -> Vec<String> {
    let sent = acronis_user(dump, login)["activationEmails"].as_array().expect("activationEmails").clone();
    sent.iter().map(|e| e["to"].as_str().expect("to").to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrected_email_of_an_administrator_not_yet_activated_gets_a_new_activation_email() {
    // Administrators activate an hour (sandbox clock) after their activation e-mail.
    let served = Served::start(&["--customer-delay", "3600"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let apply = || served.run(&["apply", &d, "--auto-approve", "--target", "acme", "--wait", "0s"]);
    let first = apply();
    assert_ne!(first.code, 1, "{first}");
    let dump = served.dump().await;
    assert_eq!(acronis_user(&dump, "acme-admin")["user"]["activated"], false);
    assert_eq!(activation_emails(&dump, "acme-admin"), ["it@acme.example"]);

    // The e-mail is corrected before the administrator activated.
    edit_manifest(
        dir.path(),
        "customers/acme.yaml",
        "acronis: {username: acme-admin, email: it@acme.example",
        "acronis: {username: acme-admin, email: admin@acme.example",
    );
    let plan = served.run(&["plan", &d, "--format", "json", "--target", "acme"]);
    let plan: Json = serde_json::from_str(&plan.stdout).expect("plan JSON");
    let sync = action(&plan, "customer/acme/acronis/user:sync");
    let changes: Vec<(String, Json, Json)> = sync["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["field"].as_str().unwrap().to_string(), c["before"].clone(), c["after"].clone()))
        .collect();
    assert_eq!(
        changes,
        [
            ("activationEmail".to_string(), json!("it@acme.example"), json!("admin@acme.example")),
            ("email".to_string(), json!("it@acme.example"), json!("admin@acme.example")),
        ]
    );
    let text = served.run(&["plan", &d, "--target", "acme"]);
    assert!(text.stdout.contains("activationEmail differs: 'it@acme.example' -> 'admin@acme.example'"), "{text}");

    // The e-mail fails once: a failure of the run, retried by the next apply, sent once.
    served.post("/_sandbox/acronis/fail-next-activation-email", json!({})).await;
    let failed = apply();
    assert_eq!(failed.code, 1, "{failed}");
    let dump = served.dump().await;
    assert_eq!(acronis_user(&dump, "acme-admin")["user"]["contact"]["email"], "admin@acme.example");
    assert_eq!(activation_emails(&dump, "acme-admin"), ["it@acme.example"], "the failed e-mail was not sent");
    let plan = served.run(&["plan", &d, "--format", "json", "--target", "acme"]);
    let plan: Json = serde_json::from_str(&plan.stdout).expect("plan JSON");
    let resend = action(&plan, "customer/acme/acronis/user:sync");
    assert_eq!(resend["changes"].as_array().unwrap().len(), 1, "{resend:#}");
    assert_eq!(resend["changes"][0]["field"], "activationEmail", "{resend:#}");
    let retried = apply();
    assert_ne!(retried.code, 1, "{retried}");
    let again = apply();
    assert_ne!(again.code, 1, "{again}");
    let dump = served.dump().await;
    assert_eq!(
        activation_emails(&dump, "acme-admin"),
        ["it@acme.example", "admin@acme.example"],
        "one more e-mail, to the new address, and a second apply sent nothing"
    );
    let plan = served.run(&["plan", &d, "--format", "json", "--target", "acme"]);
    let plan: Json = serde_json::from_str(&plan.stdout).expect("plan JSON");
    assert!(executable_at(&plan, "acronis").is_empty(), "{plan:#}");

    // Once activated, an e-mail change is an update only: no e-mail, and the plan claims none.
    served.post("/_sandbox/clock", json!({"advanceSeconds": 3601})).await;
    assert_eq!(acronis_user(&served.dump().await, "acme-admin")["user"]["activated"], true);
    edit_manifest(
        dir.path(),
        "customers/acme.yaml",
        "acronis: {username: acme-admin, email: admin@acme.example",
        "acronis: {username: acme-admin, email: it-admin@acme.example",
    );
    let plan = served.run(&["plan", &d, "--format", "json", "--target", "acme"]);
    let plan: Json = serde_json::from_str(&plan.stdout).expect("plan JSON");
    let sync = action(&plan, "customer/acme/acronis/user:sync");
    let fields: Vec<&str> = sync["changes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["email"], "{sync:#}");
    let text = served.run(&["plan", &d, "--target", "acme"]);
    assert!(!text.stdout.contains("activationEmail") && !text.stdout.contains("activation e-mail"), "{text}");
    assert_ne!(apply().code, 1);
    assert_ne!(apply().code, 1);
    let dump = served.dump().await;
    assert_eq!(acronis_user(&dump, "acme-admin")["user"]["contact"]["email"], "it-admin@acme.example");
    assert_eq!(activation_emails(&dump, "acme-admin"), ["it@acme.example", "admin@acme.example"], "no e-mail");
    let plan = served.run(&["plan", &d, "--format", "json", "--target", "acme"]);
    let plan: Json = serde_json::from_str(&plan.stdout).expect("plan JSON");
    assert!(executable_at(&plan, "acronis").is_empty(), "{plan:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_move_between_a_reseller_and_the_msp_itself_at_acronis() {
    use tenantry::sandbox::credentials::ACRONIS_HOME;
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    converge(&served, &d, 3);
    let before = served.dump().await;
    let northwind = acronis_tenant(&before, "Northwind IT Partners");
    let bluewave = acronis_tenant(&before, "Bluewave Systemhaus GmbH");
    assert_eq!(acronis_tenant(&before, "Globex Corporation")["parent_id"], ACRONIS_HOME);
    assert_eq!(acronis_tenant(&before, "Umbrella Pharma GmbH")["parent_id"], bluewave["id"]);

    // Globex (directly under the MSP) goes to Northwind; Umbrella leaves Bluewave for the MSP.
    edit_manifest(dir.path(), "customers/globex.yaml", "spec:\n", "spec:\n  reseller: northwind\n");
    edit_manifest(dir.path(), "customers/umbrella.yaml", "  reseller: bluewave\n", "");
    let (_, plan) = plan_json(&served, &d);
    let moves = executable_at(&plan, "acronis");
    assert_eq!(
        ids(&moves),
        ["customer/globex/acronis/tenant:sync", "customer/umbrella/acronis/tenant:sync"],
        "{plan:#}"
    );
    let home = "the MSP itself (the connection's home)";
    let globex = &moves[0]["changes"][0];
    assert_eq!(globex["before"], json!({"name": home, "id": ACRONIS_HOME}), "{globex:#}");
    assert_eq!(globex["after"], json!({"name": "partner tenant \"Northwind IT Partners\"", "id": northwind["id"]}));
    let umbrella = &moves[1]["changes"][0];
    assert_eq!(
        umbrella["before"],
        json!({"name": "partner tenant \"Bluewave Systemhaus GmbH\"", "id": bluewave["id"]})
    );
    assert_eq!(umbrella["after"], json!({"name": home, "id": ACRONIS_HOME}), "{umbrella:#}");

    served.run(&["apply", &d, "--auto-approve"]);
    served.run(&["apply", &d, "--auto-approve"]);
    let dump = served.dump().await;
    assert_eq!(acronis_tenant(&dump, "Globex Corporation")["parent_id"], northwind["id"]);
    assert_eq!(acronis_tenant(&dump, "Umbrella Pharma GmbH")["parent_id"], ACRONIS_HOME);
    assert_one_of_each(dir.path(), &dump);
    let (_, plan) = plan_json(&served, &d);
    assert!(executable_at(&plan, "acronis").is_empty(), "{plan:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_acronis_simulator_moves_a_tenant_by_put_with_the_hierarchy_rules_of_a_create() {
    use tenantry::sandbox::credentials::ACRONIS_HOME;
    let served = Served::start(&[]);
    let base = served.urls["acronis"].as_str().unwrap().to_string();
    let token = crate::contract::acronis_token(&base).await;
    let http = client();
    let create = |name: &str, parent: &str, kind: &str| {
        let body = json!({"name": name, "parent_id": parent, "kind": kind});
        let req = http.post(format!("{base}/tenants")).bearer_auth(&token).json(&body);
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 201);
            resp.json::<Json>().await.unwrap()
        }
    };
    let put = |t: &Json, parent: &str| {
        let body = json!({"version": t["version"], "parent_id": parent});
        let req = http.put(format!("{base}/tenants/{}", t["id"].as_str().unwrap())).bearer_auth(&token).json(&body);
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Json>().await.unwrap())
        }
    };
    let p1 = create("Partner One", ACRONIS_HOME, "partner").await;
    let p2 = create("Partner Two", ACRONIS_HOME, "partner").await;
    let id = |t: &Json| t["id"].as_str().unwrap().to_string();
    let c = create("Customer", &id(&p1), "customer").await;
    let other = create("Other", &id(&p2), "customer").await;
    let below = create("Below One", &id(&p1), "partner").await;

    // A customer moves under another partner: the new parent, a new version.
    let (status, moved) = put(&c, &id(&p2)).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["parent_id"], p2["id"]);
    assert!(moved["version"].as_i64() > c["version"].as_i64(), "{moved}");
    // The old version is stale now.
    let (status, stale) = put(&c, &id(&p1)).await;
    assert_eq!(status, 409, "{stale}");
    // Under a customer, under itself or below itself, under no tenant: refused as a create is.
    let (status, body) = put(&moved, &id(&other)).await;
    assert_eq!((status, &body["error"]["code"]), (400, &json!("ValidationError")), "{body}");
    let (status, body) = put(&p1, &id(&below)).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = put(&p1, &id(&p1)).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = put(&moved, "00000000-0000-4000-8000-000000000000").await;
    assert_eq!(status, 404, "{body}");
    // A same-named tenant under the new parent: 409, as for a create.
    let twin = create("Customer", &id(&p1), "customer").await;
    let (status, body) = put(&twin, &id(&p2)).await;
    assert_eq!(status, 409, "{body}");
    // Nothing refused changed anything.
    let dump = served.dump().await;
    assert_eq!(acronis_tenant(&dump, "Partner One")["parent_id"], ACRONIS_HOME);
    assert_eq!(acronis_tenant(&dump, "Other")["parent_id"], p2["id"]);
    let customers: Vec<&Json> = dump["acronis"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["tenant"]["name"] == "Customer")
        .map(|o| &o["tenant"]["parent_id"])
        .collect();
    assert_eq!(customers.len(), 2);
    assert!(customers.contains(&&p1["id"]) && customers.contains(&&p2["id"]), "{customers:?}");
}

/// Converge the example, then take Northwind out of the manifests and move its customers (Acme,
/// Initech) to Bluewave; the sandbox dump from before the edit.
async fn prune_northwind_moving_its_customers(served: &Served, dir: &std::path::Path, d: &str) -> Json {
    converge(served, d, 3);
    let before = served.dump().await;
    for file in ["acme", "initech"] {
        edit_manifest(dir, &format!("customers/{file}.yaml"), "reseller: northwind", "reseller: bluewave");
    }
    std::fs::remove_file(dir.join("resellers/northwind.yaml")).unwrap();
    before
}

/// A reseller leaves the manifests (prune on) while its customers move to another reseller:
/// deleting it first would delete them with it (an Acronis tenant goes with its subtree). The moves go first; where a
/// customer cannot move (WatchGuard), its old reseller stays, blocked with the reason.
#[tokio::test(flavor = "multi_thread")]
async fn a_pruned_reseller_is_deleted_only_after_its_customers_moved_out() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let before = prune_northwind_moving_its_customers(&served, dir.path(), &d).await;
    let bluewave = acronis_tenant(&before, "Bluewave Systemhaus GmbH");
    let northwind = acronis_tenant(&before, "Northwind IT Partners");
    let customers = [("acme", "Acme Corp"), ("initech", "Initech")];

    let r = served.run(&["plan", &d, "--prune", "--format", "json"]);
    let plan: Json = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("plan JSON: {e}\n{r}"));
    let delete = action(&plan, "reseller/northwind/acronis/tenant:delete");
    for (file, _) in customers {
        let sync = format!("customer/{file}/acronis/tenant:sync");
        assert!(delete["dependsOn"].as_array().unwrap().iter().any(|x| x == sync.as_str()), "{delete:#}");
    }
    let wg = action(&plan, "reseller/northwind/watchguard/account:delete");
    assert!(wg["blocked"].as_str().unwrap().contains("deleting it would delete what is under it"), "{wg:#}");

    for _ in 0..2 {
        let r = served.run(&["apply", &d, "--prune", "--auto-approve"]);
        assert_eq!(r.code, 1, "the blocked WatchGuard moves and delete fail the run: {r}");
    }
    let dump = served.dump().await;
    for (_, name) in customers {
        let before_id = acronis_tenant(&before, name)["id"].clone();
        let now = acronis_tenant(&dump, name);
        assert_eq!(now["id"], before_id, "{name} is the same tenant, not made again");
        assert_eq!(now["parent_id"], bluewave["id"], "{name} moved to Bluewave");
        let account = watchguard_account(&dump, name);
        assert_eq!(account["id"], watchguard_account(&before, name)["id"], "{name} kept at WatchGuard");
    }
    let tenants = dump["acronis"].as_array().unwrap();
    assert!(!tenants.iter().any(|o| o["tenant"]["id"] == northwind["id"]), "Northwind deleted at Acronis");
    let still = watchguard_account(&dump, "Northwind IT Partners");
    assert_eq!(still["id"], watchguard_account(&before, "Northwind IT Partners")["id"], "kept: customers under it");
    let (_, plan) = plan_json(&served, &d);
    assert!(executable_at(&plan, "acronis").is_empty(), "{plan:#}");
}

/// What the plan could not know: a tenant made under the pruned reseller after planning (in the
/// portal, while the saved plan waited for its merge). The delete looks again before it runs and
/// refuses, naming it; nothing of it is deleted.
#[tokio::test(flavor = "multi_thread")]
async fn a_pruned_tenant_is_not_deleted_when_a_tenant_appeared_under_it_since_planning() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let before = prune_northwind_moving_its_customers(&served, dir.path(), &d).await;
    let northwind = acronis_tenant(&before, "Northwind IT Partners");
    let out = dir.path().join("plan.json");
    let planned = served.run(&["plan", &d, "--prune", "--out", out.to_str().unwrap()]);
    assert_ne!(planned.code, 1, "{planned}");

    // Someone adds a customer under Northwind in the Acronis portal.
    let world = served.get("/_sandbox/world").await;
    let initech = acronis_tenant(&before, "Initech");
    let mut stranger = world["acronis"]["tenants"][initech["id"].as_str().unwrap()].clone();
    let id = "0b6f7c1e-2d3a-4e5f-8a9b-123456789abc";
    stranger["id"] = json!(id);
    stranger["name"] = json!("Northwind's Own Customer");
    stranger["parent_id"] = northwind["id"].clone();
    stranger["internal_tag"] = json!(null);
    let edited =
        served.post("/_sandbox/edit", json!({"pointer": format!("/acronis/tenants/{id}"), "value": stranger})).await;
    assert_eq!(edited["status"], "done", "{edited}");

    let r = served.run(&["apply", out.to_str().unwrap(), "--auto-approve"]);
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stdout.contains(&format!("tenant {id} is under it now"))
            || r.stderr.contains(&format!("tenant {id} is under it now")),
        "{r}"
    );
    let dump = served.dump().await;
    assert_eq!(acronis_tenant(&dump, "Northwind IT Partners")["id"], northwind["id"], "not deleted");
    assert_eq!(acronis_tenant(&dump, "Northwind's Own Customer")["parent_id"], northwind["id"]);
    for name in ["Acme Corp", "Initech"] {
        assert_eq!(acronis_tenant(&dump, name)["id"], acronis_tenant(&before, name)["id"], "{name} kept");
    }
}
