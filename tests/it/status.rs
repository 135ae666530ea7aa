//! `tenantry status`: one row per owner and vendor, from what the vendors hold now and the state
//! store, each state shown where it arises.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::e2e::{dir_arg, edit_at_vendor, edit_manifest, ok};
use crate::support::{Served, example_copy};

/// `status --format json`, by `Customer/acme acronis`.
fn status(served: &Served, d: &str, extra: &[&str]) -> BTreeMap<String, Json> {
    let mut args = vec!["status", d, "--format", "json"];
    args.extend(extra);
    let r = served.run(&args);
    ok(&r);
    let rows: Vec<Json> = serde_json::from_str(&r.stdout).expect("status JSON");
    rows.into_iter()
        .map(|row| (format!("{} {}", row["owner"].as_str().unwrap(), row["vendor"].as_str().unwrap()), row))
        .collect()
}

fn words(rows: &BTreeMap<String, Json>) -> BTreeMap<&str, &str> {
    rows.iter().map(|(k, r)| (k.as_str(), r["status"].as_str().unwrap())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_ready_drift_both_ways_blocked_pending_and_tasks_where_they_are() {
    // Customers take an hour and no operator does portal tasks: consents, authorizations and
    // portal tasks wait.
    let served = Served::start(&["--customer-delay", "3600"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());

    // Before anything is applied: what is to be made is Drifted, a portal step is a Task.
    let rows = status(&served, &d, &[]);
    assert_eq!(rows["Customer/acme acronis"]["status"], "Drifted", "{:#}", rows["Customer/acme acronis"]);
    assert_eq!(rows["Customer/acme datto"]["status"], "Task", "{:#}", rows["Customer/acme datto"]);
    assert!(rows["Customer/acme datto"]["task"].is_null(), "no task opened yet");

    let first = served.run(&["apply", &d, "--auto-approve", "--wait", "0s", "--no-operator"]);
    assert_ne!(first.code, 1, "{first}");
    let rows = status(&served, &d, &[]);
    let states = words(&rows);
    // Every declared owner x vendor has a row (Acme uses all six vendors).
    for vendor in ["veeam", "datto", "velocloud", "acronis", "watchguard", "avepoint"] {
        assert!(states.contains_key(format!("Customer/acme {vendor}").as_str()), "{states:#?}");
    }
    // Datto's "Add SaaS Client" is a portal task the operator has not done yet.
    let datto = &rows["Customer/acme datto"];
    assert_eq!(datto["status"], "Task", "{datto:#}");
    assert!(datto["task"].as_str().is_some_and(|t| t.starts_with("T-")), "{datto:#}");
    assert!(datto["since"].is_string(), "{datto:#}");
    assert_eq!(states["Reseller/northwind watchguard"], "Ready", "{states:#?}");
    assert_eq!(states["Customer/acme velocloud"], "Ready", "{states:#?}");
    // The Acronis administrator has not activated yet (the customer takes an hour).
    assert_eq!(states["Customer/initech acronis"], "Pending", "{states:#?}");
    let initech = &rows["Customer/initech acronis"];
    assert!(initech["since"].is_string() && initech["task"].is_null(), "{initech:#}");
    let text = served.run(&["status", &d]);
    ok(&text);
    let header = text.stdout.lines().next().unwrap_or_default();
    assert!(header.starts_with("OWNER") && header.contains("STATUS"), "{text}");
    assert!(text.stdout.lines().any(|l| l.starts_with("Customer/acme ") && l.contains(" Task ")), "{text}");

    // A change made in the Acronis portal: Drifted, naming the field.
    edit_at_vendor(&served, "acronis", "tenant", "Initech", "customer_id", "INIT-9999").await;
    let rows = status(&served, &d, &[]);
    let initech = &rows["Customer/initech acronis"];
    assert_eq!(initech["status"], "Drifted", "drift outranks the wait: {initech:#}");
    assert_eq!(initech["fields"].as_array().map(Vec::len), Some(1), "{initech:#}");
    assert_eq!(words(&rows)["Customer/initech watchguard"], "Ready");

    // The manifests move Initech to another reseller: Acronis can move the tenant (Drifted:
    // its parent), WatchGuard cannot move an account (Blocked, with the reason).
    edit_manifest(dir.path(), "customers/initech.yaml", "reseller: northwind", "reseller: bluewave");
    let rows = status(&served, &d, &["--target", "initech"]);
    assert!(rows.keys().all(|k| k.starts_with("Customer/initech ")), "--target narrows the rows: {:?}", rows.keys());
    let wg = &rows["Customer/initech watchguard"];
    assert_eq!(wg["status"], "Blocked", "{wg:#}");
    assert!(!wg["detail"].as_str().unwrap().is_empty(), "{wg:#}");
    assert_eq!(rows["Customer/initech acronis"]["status"], "Drifted", "{:#}", rows["Customer/initech acronis"]);

    // Acme's administrator e-mail is corrected before activation, and the new activation
    // e-mail fails: Failed, with the error, while the resend is still planned.
    edit_manifest(
        dir.path(),
        "customers/acme.yaml",
        "acronis: {username: acme-admin, email: it@acme.example",
        "acronis: {username: acme-admin, email: admin@acme.example",
    );
    served.post("/_sandbox/acronis/fail-next-activation-email", serde_json::json!({})).await;
    let failed = served.run(&["apply", &d, "--auto-approve", "--wait", "0s", "--target", "acme"]);
    assert_eq!(failed.code, 1, "{failed}");
    let rows = status(&served, &d, &["--target", "acme"]);
    let acronis = &rows["Customer/acme acronis"];
    assert_eq!(acronis["status"], "Failed", "{acronis:#}");
    assert!(acronis["since"].is_string() && !acronis["detail"].as_str().unwrap().is_empty(), "{acronis:#}");

    // VeloCloud's answers cannot be read: its rows are Unknown, the others still shown.
    let r = served.post("/_sandbox/faults", serde_json::json!({"faults": "velocloud:malformed=1"})).await;
    assert!(r.get("faults").is_some(), "{r}");
    let rows = status(&served, &d, &[]);
    let states = words(&rows);
    assert_eq!(states["Customer/acme velocloud"], "Unknown", "{states:#?}");
    assert_eq!(states["Customer/initech watchguard"], "Blocked", "{states:#?}");
    // status reads, never writes: the vendors hold what they held.
    let before = served.dump().await;
    status(&served, &d, &[]);
    assert_eq!(served.dump().await, before);
}
