//! Veeam VDC registration (issue 11, symptom 5): the VSPC API does not show "VDC Registered",
//! but VSPC 3.7 reports VDC usage per Pulse tenant (`GET /pulse/monthlyUsages`). A registration
//! whose usage shows is verified; one only attested stays attested, and says so; a later change
//! of the primary administrator is a portal task, compared with what was entered.

use serde_json::{Value as Json, json};

use crate::e2e::{dir_arg, dumped_object, edit_manifest, executable, ok};
use crate::support::{Served, example_copy};

const REGISTRATION: &str = "customer/soylent/veeam/vdc-registration";

fn plan_json(served: &Served, d: &str) -> (i32, Json) {
    let r = served.run(&["plan", d, "--format", "json", "--detailed-exitcode"]);
    let plan = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("plan JSON ({e}): {r}"));
    (r.code, plan)
}

/// Every task of the sandbox state, as `tasks --all --format json` lists them.
fn tasks(served: &Served, d: &str) -> Vec<Json> {
    let r = served.run(&["tasks", "--all", "--sandbox", "-d", d, "--format", "json"]);
    ok(&r);
    serde_json::from_str(&r.stdout).expect("tasks JSON")
}

fn task_of<'t>(list: &'t [Json], object: &str, kind: &str) -> &'t Json {
    list.iter()
        .filter(|t| t["object"] == object && t["task"] == kind)
        .max_by_key(|t| t["id"].as_str().unwrap().trim_start_matches("T-").parse::<u64>().unwrap())
        .unwrap_or_else(|| panic!("no {kind} task for {object}: {list:#?}"))
}

async fn soylent_at_pulse(served: &Served) -> Json {
    dumped_object(&served.dump().await, "veeam", "pulsePortalCustomer", "customer", "Soylent Foods Inc")["customer"]
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attested_vdc_registration_stays_attested_until_vdc_usage_shows_it() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let first = served.run(&["apply", &d, "--auto-approve", "--no-operator"]);
    assert_eq!(first.code, 2, "portal tasks wait for a person: {first}");
    let task = task_of(&tasks(&served, &d), REGISTRATION, "veeam/vdc-registration").clone();
    let id = task["id"].as_str().unwrap().to_string();

    // Someone records it done, but nothing was done in the portal.
    ok(&served.run(&["tasks", "done", &id, "--sandbox", "-d", &d]));
    assert_eq!(soylent_at_pulse(&served).await["vdcRegistered"], json!(false));
    let (_, plan) = plan_json(&served, &d);
    let attested = plan["attested"].as_array().unwrap_or_else(|| panic!("no attested steps: {plan:#}"));
    let ours = attested.iter().find(|a| a["task"] == id.as_str()).unwrap_or_else(|| panic!("{plan:#}"));
    let note = ours["note"].as_str().unwrap();
    assert!(note.starts_with("attested") && note.contains("not verified"), "{note}");
    assert!(note.contains("VDC usage") && note.contains("GET /pulse/monthlyUsages"), "{note}");
    assert!(!plan["verifiedTasks"].as_array().is_some_and(|v| v.iter().any(|t| t == id.as_str())), "{plan:#}");
    let text = served.run(&["plan", &d]);
    assert!(text.stdout.contains("Attested, not verified"), "{text}");
    assert!(text.stdout.contains(&format!("portal task {id} attested")), "{text}");
    let listed = served.run(&["tasks", "--all", "--sandbox", "-d", &d]);
    let line = listed.stdout.lines().find(|l| l.starts_with(&format!("{id} "))).expect("the task is listed");
    assert!(line.contains("attested") && !line.contains("verified"), "{line}");

    // The manifest's primary administrator changes: compared with what the attested task
    // entered, it is a portal task with the value to enter, not silence.
    edit_manifest(
        dir.path(),
        "customers/soylent.yaml",
        "primaryAdmin: customerManaged",
        "primaryAdmin: partnerManaged",
    );
    let (code, plan) = plan_json(&served, &d);
    assert_eq!(code, 2, "{plan:#}");
    let change = executable(&plan)
        .into_iter()
        .find(|a| a["id"] == format!("{REGISTRATION}:task:vdc-admin"))
        .unwrap_or_else(|| panic!("no VDC administrator task: {plan:#}"));
    assert_eq!(change["kind"], "portal-task");
    assert_eq!(
        change["changes"],
        json!([{"field": "vdcPrimaryAdministrator", "before": "Customer Managed", "after": "Partner Managed", "unreadable": true}])
    );
    assert_eq!(change["task"]["values"], json!({"vdcPrimaryAdministrator": "Partner Managed"}));
    assert_eq!(change["task"]["form"]["verify"], "attestation");
    edit_manifest(
        dir.path(),
        "customers/soylent.yaml",
        "primaryAdmin: partnerManaged",
        "primaryAdmin: customerManaged",
    );

    // Now it is really done in the portal: Pulse reports the tenant's VDC usage, so the
    // registration is observed and the attested task becomes verified.
    let values = task["values"].clone();
    let done = served.post("/_portal/veeam/vdc-registration", values).await;
    assert_eq!(done["status"], "done", "{done}");
    let pulse = soylent_at_pulse(&served).await;
    assert_eq!(pulse["vdcRegistered"], json!(true), "{pulse:#}");
    let (_, plan) = plan_json(&served, &d);
    assert!(plan["verifiedTasks"].as_array().is_some_and(|v| v.iter().any(|t| t == id.as_str())), "{plan:#}");
    assert!(plan["attested"].as_array().is_none_or(|a| a.iter().all(|t| t["task"] != id.as_str())), "{plan:#}");
    // (The other customers' portal tasks stay open: nobody does them in this test.)
    let r = served.run(&["apply", &d, "--auto-approve", "--no-operator"]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("adopt VDC registration of \"Soylent Foods Inc\""), "{r}");
    let closed = task_of(&tasks(&served, &d), REGISTRATION, "veeam/vdc-registration").clone();
    assert_eq!(closed["id"], json!(id));
    assert_eq!(closed["status"]["status"], "verified", "{closed:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_the_vdc_primary_admin_of_a_registered_customer_reaches_pulse_through_a_portal_task() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    ok(&served.run(&["apply", &d, "--auto-approve"]));
    // Registered by the simulated operator, and verified by the VDC usage Pulse reports.
    let pulse = soylent_at_pulse(&served).await;
    assert_eq!(pulse["vdcRegistered"], json!(true), "{pulse:#}");
    assert_eq!(pulse["vdcRequest"]["vdcPrimaryAdministrator"], "Customer Managed", "{pulse:#}");
    let registration = task_of(&tasks(&served, &d), REGISTRATION, "veeam/vdc-registration").clone();
    assert_eq!(registration["status"]["status"], "verified", "{registration:#}");
    let (code, plan) = plan_json(&served, &d);
    assert_eq!(code, 0, "{plan:#}");
    assert!(plan["attested"].is_null(), "every VDC registration is verified: {plan:#}");

    edit_manifest(
        dir.path(),
        "customers/soylent.yaml",
        "primaryAdmin: customerManaged",
        "primaryAdmin: partnerManaged",
    );
    let (code, plan) = plan_json(&served, &d);
    assert_eq!(code, 2, "{plan:#}");
    let planned = executable(&plan);
    let ids: Vec<&str> = planned.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [format!("{REGISTRATION}:task:vdc-admin")], "{plan:#}");
    assert_eq!(
        planned[0]["changes"],
        json!([{"field": "vdcPrimaryAdministrator", "before": "Customer Managed", "after": "Partner Managed", "unreadable": true}])
    );
    assert!(planned[0]["task"]["form"]["page"].as_str().unwrap().contains("Delegated management by partner"));

    // The operator does it in the Pulse portal; the next plan is empty, and so is the one after
    // a second apply (nothing done twice).
    ok(&served.run(&["apply", &d, "--auto-approve"]));
    let pulse = soylent_at_pulse(&served).await;
    assert_eq!(pulse["vdcRequest"]["vdcPrimaryAdministrator"], "Partner Managed", "{pulse:#}");
    assert_eq!(pulse["vdcRequest"]["adminEmail"], "m365admin@soylent.example", "{pulse:#}");
    let (code, plan) = plan_json(&served, &d);
    assert_eq!(code, 0, "{plan:#}");
    ok(&served.run(&["apply", &d, "--auto-approve"]));
    let changes: Vec<Json> = tasks(&served, &d).into_iter().filter(|t| t["task"] == "veeam/vdc-admin").collect();
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0]["status"]["status"], "done", "{changes:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn vdc_usage_reported_only_for_months_long_past_is_not_a_registration() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    ok(&served.run(&["apply", &d, "--auto-approve"]));
    let (code, plan) = plan_json(&served, &d);
    assert_eq!(code, 0, "{plan:#}");
    let task = task_of(&tasks(&served, &d), REGISTRATION, "veeam/vdc-registration").clone();
    assert_eq!(task["status"]["status"], "verified", "{task:#}");

    // A person removed Soylent's VDC registration in the portal a quarter ago: Pulse still
    // reports its usage for the months before, none since.
    let world = served.get("/_sandbox/world").await;
    let (uid, _) = world["veeam"]["portal"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, c)| c["name"] == "Soylent Foods Inc")
        .unwrap_or_else(|| panic!("{:#}", world["veeam"]["portal"]));
    let ago = |days: i64| (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days)).to_string();
    for (field, value) in
        [("vdcRegistered", json!(false)), ("vdcUsageFrom", json!(ago(150))), ("vdcUsageUntil", json!(ago(100)))]
    {
        let pointer = format!("/veeam/portal/{uid}/{field}");
        let edited = served.post("/_sandbox/edit", json!({"pointer": pointer, "value": value})).await;
        assert_eq!(edited["status"], "done", "{pointer}: {edited}");
    }

    // Usage from long ago says only that it was registered then: the registration is no longer
    // verified, and the plan says it rests on the task's attestation (what a person recorded).
    let (_, plan) = plan_json(&served, &d);
    let task = task_of(&tasks(&served, &d), REGISTRATION, "veeam/vdc-registration").clone();
    let attested = plan["attested"].as_array().unwrap_or_else(|| panic!("not attested: {plan:#}"));
    let ours = attested.iter().find(|a| a["task"] == task["id"]).unwrap_or_else(|| panic!("{plan:#}"));
    let note = ours["note"].as_str().unwrap();
    assert!(note.starts_with("verified at") && note.contains("not verified now"), "{ours:#}");
    assert!(!plan["verifiedTasks"].as_array().is_some_and(|v| v.iter().any(|t| *t == task["id"])), "{plan:#}");

    // Registered again in the portal: usage shows from now on, and it is verified again.
    let world = served.get("/_sandbox/world").await;
    let request = world["veeam"]["portal"][uid.as_str()]["vdcRequest"].clone();
    let done = served.post("/_portal/veeam/vdc-registration", request).await;
    assert_eq!(done["status"], "done", "{done}");
    let (code, plan) = plan_json(&served, &d);
    assert_eq!(code, 0, "{plan:#}");
    assert!(plan["attested"].is_null(), "{plan:#}");
}
