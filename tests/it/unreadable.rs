//! Vendor answers tenantry cannot read: against a converged example repository, each answer
//! fault of the sandbox (a body that is not JSON, records without their id, a repeating cursor,
//! paging that never ends) makes its vendor unavailable. `plan` exits 1 naming the vendor and
//! the problem and plans no create; `apply` creates nothing there. A create whose answer is lost
//! while the lookup after it is unreadable creates no duplicate either.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value as Json, json};

use crate::e2e::{converge, dumped};
use crate::support::{Run, Served, example_copy};

const ALL: [&str; 6] = ["veeam", "datto", "velocloud", "acronis", "watchguard", "avepoint"];

/// Objects of one vendor in a sandbox dump, by (vendor, type), failing on any duplicate.
fn counts(dump: &Json, vendor: &str) -> BTreeMap<(String, String), usize> {
    dumped(dump).into_iter().filter(|((v, _), _)| v == vendor).collect()
}

async fn set_faults(served: &Served, spec: &str) {
    let r = served.post("/_sandbox/faults", json!({"faults": spec})).await;
    assert!(r.get("faults").is_some(), "the sandbox took the faults {spec:?}: {r}");
}

/// A served sandbox holding the converged example repository (in `dir`).
async fn converged() -> (Served, tempfile::TempDir) {
    let served = Served::start(&[]);
    let dir = example_copy();
    converge(&served, &dir.path().display().to_string(), 3);
    (served, dir)
}

/// With `vendor:fault=1` in force: plan exits 1 naming the vendor and `problem`, with no create
/// anywhere, and apply exits 1 having created nothing at the vendor.
async fn refuses(served: &Served, dir: &Path, vendor: &str, fault: &str, problem: &[&str]) {
    let d = dir.display().to_string();
    let before = served.dump().await;
    set_faults(served, &format!("{vendor}:{fault}=1")).await;

    let plan = served.run(&["plan", &d, "--format", "json"]);
    let context = format!("{vendor}:{fault}\n{plan}");
    assert_eq!(plan.code, 1, "{context}");
    assert!(plan.stderr.contains(&format!("{vendor} could not be observed")), "{context}");
    let json: Json = serde_json::from_str(&plan.stdout).unwrap_or_else(|e| panic!("plan JSON: {e}\n{context}"));
    let why = json["unavailable"][vendor].as_str().unwrap_or_else(|| panic!("{vendor} is not unavailable\n{context}"));
    for word in problem {
        assert!(why.contains(word), "{vendor}:{fault}: the reason {why:?} does not say {word:?}");
    }
    assert_eq!(json["unavailable"].as_object().map(|u| u.len()), Some(1), "only {vendor} is unavailable\n{context}");
    let actions = json["actions"].as_array().expect("actions");
    assert!(
        actions.iter().all(|a| a["kind"] != "create" && a["key"]["vendor"] != vendor),
        "no create, nothing at {vendor}:\n{context}"
    );

    let apply: Run = served.run(&["apply", &d, "--auto-approve"]);
    assert_eq!(apply.code, 1, "{vendor}:{fault}\n{apply}");
    assert!(apply.stdout.contains(&format!("{vendor} could not be observed")), "{vendor}:{fault}\n{apply}");

    set_faults(served, "").await;
    let after = served.dump().await;
    assert_eq!(counts(&after, vendor), counts(&before, vendor), "{vendor}:{fault}: apply created nothing\n{apply}");
    assert_eq!(dumped(&after), dumped(&before), "{vendor}:{fault}: nothing changed anywhere");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_is_not_json_makes_each_vendor_unavailable_and_creates_nothing() {
    let (served, dir) = converged().await;
    for vendor in ALL {
        refuses(&served, dir.path(), vendor, "malformed", &["could not be read: it is not JSON", "it begins `<html>"])
            .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn records_without_their_id_make_each_vendor_unavailable_and_create_nothing() {
    let (served, dir) = converged().await;
    let field = |v: &str| match v {
        "veeam" => "instanceUid",
        "datto" => "saasCustomerId",
        "watchguard" => "accountId",
        // Customers lack `id`, their services `customerId`: whichever list answers first.
        "avepoint" => "missing field `",
        _ => "`id`",
    };
    for vendor in ALL {
        refuses(&served, dir.path(), vendor, "missing", &["could not be read", "missing field", field(vendor)]).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeating_cursor_stops_the_acronis_listing_and_creates_nothing() {
    let (served, dir) = converged().await;
    let sent = |r: &Json| r.pointer("/counts/acronis").and_then(Json::as_u64).unwrap_or(0);
    let before = sent(&served.get("/_sandbox/requests").await);
    refuses(&served, dir.path(), "acronis", "cursor", &["GET /", "cursor repeats after 2 pages"]).await;
    // A plan and an apply: a few pages each, not thousands.
    let after = sent(&served.get("/_sandbox/requests").await);
    assert!(after - before < 40, "{} Acronis requests", after - before);
}

#[tokio::test(flavor = "multi_thread")]
async fn paging_that_never_ends_makes_each_paged_vendor_unavailable_and_creates_nothing() {
    let (served, dir) = converged().await;
    for (vendor, problem) in [
        ("veeam", "is empty, but the answer names a total"),
        ("avepoint", "is empty, but the answer names a total"),
        ("watchguard", "names a total of"),
        ("acronis", "did not end after 500 pages"),
    ] {
        refuses(&served, dir.path(), vendor, "endless", &[problem]).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_create_answer_then_an_unreadable_lookup_creates_no_duplicate() {
    let (served, dir) = converged().await;
    let d = dir.path().display().to_string();
    std::fs::write(
        dir.path().join("customers/pied-piper.yaml"),
        "apiVersion: tenantry.dev/v1\nkind: Customer\nmetadata:\n  name: pied-piper\nspec:\n  company:\n    name: Pied Piper Inc\n    domain: piedpiper.example\n    accountNumber: PIED-0009\n    address: {street: 5230 Newell Rd, city: Palo Alto, postcode: \"94303\", country: US}\n  contacts:\n    primary: {firstName: Richard, lastName: Hendricks, email: richard@piedpiper.example, phone: \"+1 650 555 0199\"}\n  services:\n    acronis: {username: piedpiper-admin, email: it@piedpiper.example}\n",
    )
    .expect("write manifest");
    let tenants = |dump: &Json| {
        dump["acronis"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| o["type"] == "tenant" && o["tenant"]["name"] == "Pied Piper Inc")
            .count()
    };
    assert_eq!(tenants(&served.dump().await), 0);

    // Acronis commits the tenant, the answer is lost, and every answer after it is unreadable.
    let armed =
        served.post("/_sandbox/faults", json!({"loseNextWrite": "acronis", "then": "acronis:malformed=1"})).await;
    assert!(armed.get("faults").is_some(), "{armed}");
    let apply = served.run(&["apply", &d, "--auto-approve"]);
    assert_eq!(apply.code, 1, "{apply}");
    assert!(apply.stdout.contains("could not be looked up; the intent is kept"), "{apply}");
    assert!(apply.stdout.contains("could not be read"), "{apply}");
    assert_eq!(tenants(&served.dump().await), 1, "the vendor made it once\n{apply}");

    // Still unreadable: nothing is created again.
    let again = served.run(&["apply", &d, "--auto-approve"]);
    assert_eq!(again.code, 1, "{again}");
    assert!(again.stdout.contains("acronis could not be observed"), "{again}");
    assert_eq!(tenants(&served.dump().await), 1, "{again}");

    // Readable again: the intent's lookup binds the tenant it made instead of creating another.
    set_faults(&served, "").await;
    converge(&served, &d, 3);
    let dump = served.dump().await;
    assert_eq!(tenants(&dump), 1);
    dumped(&dump); // no duplicate anywhere
}

/// An observer that panics.
struct Panics;

impl tenantry::provider::VendorReader for Panics {
    fn vendor(&self) -> tenantry::model::Vendor {
        tenantry::model::Vendor::Acronis
    }
    fn observe<'a>(
        &'a self,
        _scope: &'a tenantry::provider::ObserveScope,
    ) -> tenantry::provider::BoxFut<'a, Result<tenantry::provider::Observation, tenantry::provider::VendorError>> {
        Box::pin(async { panic!("observer bug") })
    }
    fn lookup<'a>(
        &'a self,
        _object: &'a tenantry::provider::DesiredObject,
        _parent_id: Option<&'a str>,
    ) -> tenantry::provider::BoxFut<
        'a,
        Result<Option<tenantry::provider::ObservedObject>, tenantry::provider::VendorError>,
    > {
        Box::pin(async { Ok(None) })
    }
}

#[tokio::test]
async fn an_observer_that_panics_makes_its_vendor_unavailable_and_nothing_is_planned_there() {
    use tenantry::model::Vendor;
    let (desired_state, sources) = crate::planner::example();
    let memory = crate::planner::Memory::new();
    let mut vendors = memory.vendors.clone();
    vendors.readers.insert(Vendor::Acronis, std::sync::Arc::new(Panics));
    let state = tenantry::state::StateSnapshot::default();
    let plan = tenantry::engine::make_plan(
        &desired_state,
        &sources,
        &vendors,
        &state,
        tenantry::plan::PlanOptions::default(),
        jiff::Timestamp::now(),
    )
    .await;
    let why = plan.unavailable.get(&Vendor::Acronis).expect("acronis is unavailable");
    assert!(why.contains("panicked"), "{why}");
    assert_eq!(plan.unavailable.len(), 1, "{:?}", plan.unavailable);
    assert!(plan.actions.iter().all(|a| a.key.vendor != Vendor::Acronis), "nothing planned at acronis");
    assert!(plan.actions.iter().any(|a| a.key.vendor == Vendor::Velocloud), "the other vendors are planned");
}

/// The lookup before a create (and after a lost answer) reads as strictly as observing: an
/// unreadable answer is an error, never "not found"; a kind the client cannot look up is an
/// error too, never "not found".
#[tokio::test(flavor = "multi_thread")]
async fn lookups_fail_on_unreadable_answers_and_unknown_kinds_instead_of_finding_nothing() {
    use tenantry::model::Vendor;
    use tenantry::provider::ErrorKind;
    let sandbox = tenantry::sandbox::Sandbox::start(tenantry::sandbox::Options::default()).await.unwrap();
    let (connections, values) = sandbox.connections();
    let dir = tempfile::tempdir().unwrap();
    let secrets = tenantry::secrets::Secrets::new(dir.path(), true).with_values(values);
    let vendors = tenantry::engine::Vendors::connect(&connections, &secrets);
    let (desired_state, _) = crate::planner::example();
    let desired = tenantry::engine::desire(&desired_state, &tenantry::provider::models());
    let first = |vendor: Vendor| {
        let kinds = ["company", "client", "enterprise", "tenant", "account", "customer"];
        desired
            .iter()
            .find(|d| d.key.vendor == vendor && d.parent.is_none() && kinds.contains(&d.key.kind.as_str()))
            .map(|d| (**d).clone())
            .unwrap_or_else(|| panic!("a top-level {vendor} object in the example"))
    };
    for vendor in Vendor::ALL {
        let reader = &vendors.readers[&vendor];
        let d = first(vendor);
        assert_eq!(reader.lookup(&d, None).await, Ok(None), "{vendor}: not there yet");
        // (`missing` needs records to strip: these lists are still empty.)
        let paged = matches!(vendor, Vendor::Veeam | Vendor::Acronis | Vendor::Watchguard | Vendor::Avepoint);
        for fault in ["malformed"].into_iter().chain(paged.then_some("endless")) {
            sandbox.shared.faults.set(tenantry::sandbox::FaultSpec::parse(&format!("{vendor}:{fault}=1")).unwrap());
            let e = reader.lookup(&d, None).await.expect_err(&format!("{vendor}:{fault}: an error, not Ok"));
            assert_eq!(e.kind, ErrorKind::Unreadable, "{vendor}:{fault}: {e}");
            assert_eq!(e.vendor, vendor);
            sandbox.shared.faults.set(Default::default());
        }
    }
    for vendor in Vendor::ALL {
        let mut d = first(vendor);
        d.key.kind = "no-such-kind".into();
        let e = vendors.readers[&vendor].lookup(&d, None).await.expect_err("an unknown kind is an error");
        assert!(e.message.contains("cannot look up") && e.message.contains("no-such-kind"), "{e}");
    }
    sandbox.stop().await;
}

/// Refused credentials are final for the run: a wrong Datto key pair or VeloCloud token (fixed
/// credentials, nothing to renew) is one request and an error naming the setting, and a
/// refused token is renewed once per request, never retried in a loop.
#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_are_final_and_name_the_setting_to_check() {
    use tenantry::model::Vendor;
    use tenantry::provider::ErrorKind;
    let sandbox = tenantry::sandbox::Sandbox::start(tenantry::sandbox::Options::default()).await.unwrap();
    let (connections, mut values) = sandbox.connections();
    for (reference, value) in values.iter_mut() {
        if reference.ends_with("DATTO_SECRET_KEY") || reference.ends_with("VCO_TOKEN") {
            *value = "wrong-credential".into();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let secrets = tenantry::secrets::Secrets::new(dir.path(), false).with_values(values);
    let vendors = tenantry::engine::Vendors::connect(&connections, &secrets);
    let scope = tenantry::provider::ObserveScope::default();
    for (vendor, setting) in
        [(Vendor::Datto, "connections.datto.publicKey"), (Vendor::Velocloud, "connections.velocloud.token")]
    {
        let before = sandbox.shared.journal.to_json()["counts"][vendor.id()].as_u64().unwrap_or_default();
        let started = std::time::Instant::now();
        let e = vendors.readers[&vendor].observe(&scope).await.expect_err("refused");
        let requests = sandbox.shared.journal.to_json()["counts"][vendor.id()].as_u64().unwrap_or_default() - before;
        assert_eq!(e.kind, ErrorKind::Auth, "{vendor}: {e}");
        assert!(e.message.contains("refused (401)"), "{vendor}: {e}");
        assert!(e.hint.as_deref().is_some_and(|h| h.contains(setting)), "{vendor}: {:?}", e.hint);
        assert!(!format!("{e} {:?}", e.hint).contains("wrong-credential"), "no secret in the message");
        // Each of the observer's concurrent reads asked once; none was retried.
        assert!(requests <= 3, "{vendor}: {requests} requests for a refused credential");
        // (Generous: the machine is shared; a retry loop would take far longer.)
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "{vendor}: {:?}", started.elapsed());
    }
    sandbox.stop().await;
}

/// A vendor nobody answers for fails in seconds, naming the host it tried and the setting that
/// names it.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_vendor_fails_quickly_naming_the_host_and_the_setting() {
    use tenantry::model::Vendor;
    let sandbox = tenantry::sandbox::Sandbox::start(tenantry::sandbox::Options::default()).await.unwrap();
    let (mut connections, values) = sandbox.connections();
    // Port 1 (tcpmux): privileged and unused, so nothing listens there.
    let closed = 1;
    let datto = connections.get_mut(&Vendor::Datto).unwrap();
    datto.base_url = format!("http://127.0.0.1:{closed}/v1");
    let dir = tempfile::tempdir().unwrap();
    let secrets = tenantry::secrets::Secrets::new(dir.path(), true).with_values(values);
    let vendors = tenantry::engine::Vendors::connect(&connections, &secrets);
    let started = std::time::Instant::now();
    let e = vendors.readers[&Vendor::Datto].observe(&Default::default()).await.expect_err("nobody answers");
    assert!(e.message.contains("could not connect") && e.message.contains(&format!("127.0.0.1:{closed}")), "{e}");
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("connections.datto.baseUrl")), "{:?}", e.hint);
    // Connection refused is immediate: five tries with backoff take seconds (generous bound).
    assert!(started.elapsed() < std::time::Duration::from_secs(45), "{:?}", started.elapsed());
    sandbox.stop().await;
}

/// Every credential that cannot be read is named in the same run, not one per run: the
/// example repository without its secrets names all of them.
#[test]
fn every_unreadable_secret_is_named_at_once() {
    let dir = crate::support::example_copy();
    let mut c = crate::support::command(&["plan", &dir.path().display().to_string()]);
    for (k, _) in std::env::vars() {
        if k.starts_with("TENANTRY_") {
            c.env_remove(k);
        }
    }
    let r = crate::support::run_with(c);
    assert_eq!(r.code, 1, "{r}");
    let all = format!("{}{}", r.stdout, r.stderr);
    for reference in [
        "env:TENANTRY_VEEAM_PASSWORD",
        "env:TENANTRY_DATTO_PUBLIC_KEY",
        "env:TENANTRY_DATTO_SECRET_KEY",
        "env:TENANTRY_VCO_TOKEN",
        "file:secrets/acronis-client-secret",
        "env:TENANTRY_WATCHGUARD_PASSWORD",
        "env:TENANTRY_WATCHGUARD_API_KEY",
        "env:TENANTRY_AVEPOINT_CLIENT_SECRET",
    ] {
        assert!(all.contains(reference), "{reference} is not named: {r}");
    }
}
