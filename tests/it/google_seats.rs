//! Datto seat licensing of a Google Workspace client (issue 11, symptom 4): `bulkSeatChange`
//! refuses Google subscriptions, so licensing is a portal task verified by what `GET .../seats`
//! shows, done by the simulated operator in the sandbox and by a person otherwise.

use serde_json::{Value as Json, json};
use tenantry::core::TaskStatus;
use tenantry::sandbox::credentials::{DATTO_PUBLIC, DATTO_SECRET};

use crate::e2e::{datto_client, dir_arg, executable, ok};
use crate::support::{Served, client};

const GLOBEX: &str = "globex.example";
const SEATS_TASK: &str = "customer/globex/datto/seats:task:license-seats";

/// The seats of the Datto client of `domain`, read through Datto's own API.
async fn seats_at_datto(served: &Served, domain: &str) -> Vec<Json> {
    let base = served.urls["datto"].as_str().expect("datto url");
    let id = datto_client(&served.dump().await, domain)["saasCustomerId"].as_u64().expect("saasCustomerId");
    let resp = client()
        .get(format!("{base}/saas/{id}/seats"))
        .basic_auth(DATTO_PUBLIC, Some(DATTO_SECRET))
        .send()
        .await
        .expect("GET seats");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("seats JSON")
}

/// The seats of `types` and their states, by name.
fn states(seats: &[Json], types: &[&str]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = seats
        .iter()
        .filter(|s| types.contains(&s["seatType"].as_str().unwrap_or_default()))
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["seatState"].as_str().unwrap().to_string()))
        .collect();
    out.sort();
    out
}

/// The license-seats tasks of globex in the state store.
fn seat_tasks(dir: &std::path::Path) -> Vec<tenantry::core::TaskRecord> {
    let store = tenantry::state::sqlite::SqliteStore::open(&dir.join(".tenantry/sandbox/state.db")).unwrap();
    let state = tenantry::state::StateStore::snapshot(&store).unwrap();
    state.tasks.into_iter().filter(|t| t.task == "datto/license-seats").collect()
}

async fn edit_seat(served: &Served, name: &str, state: &str) {
    let edit = json!({"vendor": "datto", "kind": "seat", "name": name, "field": "seatState", "value": state});
    let answer = served.post("/_sandbox/edit", edit).await;
    assert_eq!(answer["status"], "done", "{answer}");
}

fn plan_json(served: &Served, d: &str) -> (i32, Json) {
    let r = served.run(&["plan", d, "--format", "json", "--detailed-exitcode"]);
    let plan = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("plan JSON ({e}): {r}"));
    (r.code, plan)
}

#[tokio::test(flavor = "multi_thread")]
async fn google_workspace_seats_are_licensed_in_the_portal_and_verified_by_what_datto_lists() {
    let served = Served::start(&[]);
    let dir = crate::support::example_copy();
    let d = dir_arg(dir.path());
    ok(&served.run(&["apply", &d, "--auto-approve"]));

    // Every seat of the declared types (User, SharedDrive) is protected at Datto: 12 users and
    // 2 shared drives, none left Unprotected.
    let seats = seats_at_datto(&served, GLOBEX).await;
    let declared = states(&seats, &["User", "SharedDrive"]);
    assert_eq!(declared.len(), 14, "{seats:#?}");
    assert!(declared.iter().all(|(_, s)| s == "Active"), "{declared:?}");
    // The task was closed by observation, not by anyone's word.
    let tasks = seat_tasks(dir.path());
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert!(matches!(tasks[0].status, TaskStatus::Verified { .. }), "{tasks:#?}");
    assert_eq!(tasks[0].values["seatTypes"], json!(["User", "SharedDrive"]), "{tasks:#?}");
    assert_eq!(tasks[0].values["seatsToLicense"], json!(14), "{tasks:#?}");
    assert_eq!(tasks[0].values["licenseCap"], json!("none"), "{tasks:#?}");
    assert_eq!(
        tasks[0].values["seats"]["SharedDrive"],
        json!(["shared-info@globex.example", "shared-sales@globex.example"])
    );
    let (code, plan) = plan_json(&served, &d);
    assert_eq!(code, 0, "converged: {plan:#}");

    // A second run is harmless: nothing new at Datto, no second task.
    ok(&served.run(&["apply", &d, "--auto-approve"]));
    assert_eq!(seats_at_datto(&served, GLOBEX).await, seats);
    assert_eq!(seat_tasks(dir.path()).len(), 1);

    // Someone pauses one seat and unlicenses another in the portal: the next plan shows both.
    edit_seat(&served, "user03@globex.example", "Paused").await;
    edit_seat(&served, "shared-info@globex.example", "Unprotected").await;
    let (code, plan) = plan_json(&served, &d);
    assert_eq!(code, 2, "{plan:#}");
    let planned = executable(&plan);
    let ids: Vec<&str> = planned.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [SEATS_TASK], "{plan:#}");
    let values = &planned[0]["task"]["values"];
    assert_eq!(
        values["seats"],
        json!({"SharedDrive": ["shared-info@globex.example"], "User": ["user03@globex.example"]})
    );
    assert_eq!(values["seatsToLicense"], json!(2));
    assert_eq!(values["activeSeats"], json!(12));
    assert_eq!(planned[0]["task"]["form"]["verify"], "observation");

    // With the operator off, the task is handed out and stays open; the plan says what to do.
    let r = served.run(&["apply", &d, "--auto-approve", "--no-operator"]);
    assert_eq!(r.code, 2, "waits for a person: {r}");
    let open: Vec<_> = seat_tasks(dir.path()).into_iter().filter(|t| t.is_open()).collect();
    assert_eq!(open.len(), 1, "{open:#?}");
    let id = open[0].id.clone();
    let text = served.run(&["plan", &d]);
    assert!(text.stdout.contains(&format!("waiting for portal task {id}")), "{text}");
    assert!(text.stdout.contains("Seats (legacy Google seat management)"), "{text}");
    assert!(text.stdout.contains(&format!("`tenantry tasks show {id}` has the values to enter")), "{text}");
    let show = served.run(&["tasks", "show", &id, "--sandbox", "-d", &d]);
    assert!(
        show.stdout.contains("user03@globex.example") && show.stdout.contains("verified:  automatically"),
        "{show}"
    );
    let still = states(&seats_at_datto(&served, GLOBEX).await, &["User", "SharedDrive"]);
    assert!(still.contains(&("user03@globex.example".into(), "Paused".into())), "{still:?}");

    // A person does it in the portal: the next apply sees the seats Active and closes the task.
    let done = served
        .post("/_portal/datto/license-seats", json!({"vendorId": open[0].target, "seats": open[0].values["seats"]}))
        .await;
    assert_eq!(done["status"], "done", "{done}");
    ok(&served.run(&["apply", &d, "--auto-approve", "--no-operator"]));
    let after = states(&seats_at_datto(&served, GLOBEX).await, &["User", "SharedDrive"]);
    assert!(after.iter().all(|(_, s)| s == "Active"), "{after:?}");
    let tasks = seat_tasks(dir.path());
    let closed = tasks.iter().find(|t| t.id == id).expect("the task");
    assert!(matches!(closed.status, TaskStatus::Verified { .. }), "{tasks:#?}");
    let (code, plan) = plan_json(&served, &d);
    assert_eq!(code, 0, "{plan:#}");
}
