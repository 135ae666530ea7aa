//! AvePoint read-back (issue 11): a consent's environment comes from the tenant read once the
//! tenant is consented; while the consent is pending there is no tenant to read, and what is
//! in progress is the authorization link tenantry sent.

use serde_json::{Value as Json, json};
use tenantry::state::StateStore;

use crate::e2e::dir_arg;
use crate::support::{Served, example_copy};

/// `(field, before, after)` of one planned change.
type Change = (String, Json, Json);

/// The plan's actions on AvePoint consents, as `(id, [(field, before, after)])`.
fn consent_actions(served: &Served, d: &str) -> Vec<(String, Vec<Change>)> {
    let plan = served.run(&["plan", d, "--format", "json"]);
    let plan: Json = serde_json::from_str(&plan.stdout).unwrap_or_else(|e| panic!("plan JSON: {e}\n{plan}"));
    let mut out: Vec<_> = plan["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["key"]["vendor"] == "avepoint" && a["key"]["kind"] == "consent")
        .map(|a| {
            let changes = a["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| (c["field"].as_str().unwrap_or_default().to_string(), c["before"].clone(), c["after"].clone()))
                .collect();
            (a["id"].as_str().unwrap_or_default().to_string(), changes)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_consent_is_compared_with_the_link_sent_not_shown_as_drift() {
    // Customers never consent: every consent stays pending on the link tenantry sent.
    let served = Served::start(&["--no-customers"]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    let first = served.run(&["apply", &d, "--auto-approve", "--wait", "1s"]);
    assert_eq!(first.code, 2, "waiting for the customers: {first}");
    let dump = served.dump().await;
    let tenants: Vec<&Json> =
        dump["avepoint"].as_array().expect("avepoint customers").iter().map(|c| &c["customer"]["tenants"]).collect();
    assert!(tenants.iter().all(|t| t.as_array().is_some_and(Vec::is_empty)), "nobody consented: {tenants:?}");

    // No tenant to read: each pending consent only waits, no environment shows as changed.
    let waiting = consent_actions(&served, &d);
    assert!(!waiting.is_empty());
    for (id, changes) in &waiting {
        assert!(id.ends_with(":await"), "{waiting:?}");
        assert!(changes.is_empty(), "{waiting:?}");
    }

    // Initech's link asked for US Government; the manifest now says commercial Microsoft 365.
    // The link in flight still asks for US Government: that is a create-only difference
    // against what tenantry sent.
    let file = dir.path().join("customers/initech.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text.replace("accountType: m365UsGovernmentGlobalAdmin", "accountType: m365GlobalAdmin");
    assert_ne!(edited, text);
    std::fs::write(&file, edited).unwrap();
    let changed = consent_actions(&served, &d);
    let initech: Vec<_> = changed.iter().filter(|(id, _)| id.starts_with("customer/initech/")).collect();
    let create_only = initech.iter().find(|(id, _)| id.ends_with(":create-only")).expect("a create-only difference");
    assert!(
        create_only.1.contains(&("aadEnvironment".to_string(), json!(2), json!(0))),
        "compared with the link sent: {changed:?}"
    );
    std::fs::write(&file, text).unwrap();

    // A link whose environment tenantry did not record (sent before it kept it): nothing is
    // known of it until the tenant is consented, so nothing is shown as drift, and nothing is
    // written to the binding as if it had been checked.
    let store = tenantry::state::sqlite::SqliteStore::open(&dir.path().join(".tenantry/sandbox/state.db")).unwrap();
    let state = store.snapshot().unwrap();
    let consents: Vec<_> = state.bindings.values().filter(|b| b.key.kind == "consent").cloned().collect();
    assert!(!consents.is_empty());
    for b in &consents {
        let mut applied = b.applied.clone();
        assert!(applied.remove("aadEnvironment").is_some(), "the link's environment is recorded: {applied:?}");
        applied.remove("platformEnvironmentType");
        store.remove_binding(&b.key).unwrap();
        store.merge_binding(&b.key, Some(&b.vendor_id), &applied, b.updated_at).unwrap();
    }
    let unrecorded = consent_actions(&served, &d);
    for (id, changes) in &unrecorded {
        assert!(id.ends_with(":await") && changes.is_empty(), "{unrecorded:?}");
    }
    let apply = served.run(&["apply", &d, "--auto-approve", "--wait", "1s"]);
    assert_eq!(apply.code, 2, "{apply}");
    let state = store.snapshot().unwrap();
    for b in state.bindings.values().filter(|b| b.key.kind == "consent") {
        assert!(!b.applied.contains_key("aadEnvironment"), "nothing recorded as checked: {:?}", b.applied);
    }
}
