//! VeloCloud read-back (issue 11, symptoms 3 and 8): what the VCO reports per customer only
//! (configuration profiles, operator profile, default image, analytics) is checked against the
//! vendor, both ways: a manifest change reaches the VCO, and a change made at the VCO (its own
//! API, or `/_sandbox/edit` as a person in the portal) shows in the next plan as exactly that
//! field.

use std::path::Path;

use serde_json::{Value as Json, json};

use crate::e2e::{converge, dir_arg, dumped_object, executable};
use crate::support::{Served, example_copy};

/// `(field, before, after)` of one planned change.
type Change = (String, Json, Json);

/// Every action of the next plan (blocked ones too), as `(id, [(field, before, after)])`.
fn planned(served: &Served, d: &str) -> Vec<(String, Vec<Change>)> {
    let plan = served.run(&["plan", d, "--format", "json"]);
    let plan: Json = serde_json::from_str(&plan.stdout).unwrap_or_else(|e| panic!("plan JSON: {e}\n{plan}"));
    plan["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            let changes = a["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| (c["field"].as_str().unwrap_or_default().to_string(), c["before"].clone(), c["after"].clone()))
                .collect();
            (a["id"].as_str().unwrap_or_default().to_string(), changes)
        })
        .collect()
}

/// The plan's executable actions (what apply would do), as JSON.
fn executable_plan(served: &Served, d: &str) -> Json {
    let plan = served.run(&["plan", d, "--format", "json"]);
    let plan: Json = serde_json::from_str(&plan.stdout).unwrap_or_else(|e| panic!("plan JSON: {e}\n{plan}"));
    json!(executable(&plan))
}

fn assert_empty_plan(served: &Served, d: &str) {
    let plan = served.run(&["plan", d, "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "the next plan is empty:\n{plan}");
}

/// The VCO id of the customer named `name`, from the sandbox dump.
async fn enterprise_id(served: &Served, name: &str) -> i64 {
    let dump = served.dump().await;
    dumped_object(&dump, "velocloud", "enterprise", "enterprise", name)["enterprise"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id for {name}"))
}

/// A VCO read that must succeed.
async fn vco_read(served: &Served, method: &str, body: Json) -> Json {
    let (status, answer) = served.vco(method, body).await;
    assert_eq!(status, 200, "{method}: {answer}");
    answer
}

/// `(name, description)` of each configuration profile the VCO reports for a customer.
async fn profiles(served: &Served, id: i64) -> Vec<(String, String)> {
    let answer = vco_read(served, "enterprise/getEnterpriseConfigurations", json!({"enterpriseId": id})).await;
    answer
        .as_array()
        .expect("a list of profiles")
        .iter()
        .map(|p| (p["name"].as_str().unwrap_or_default().into(), p["description"].as_str().unwrap_or_default().into()))
        .collect()
}

async fn edit_enterprise(served: &Served, name: &str, field: &str, value: &str) {
    let e = json!({"vendor": "velocloud", "kind": "enterprise", "name": name, "field": field, "value": value});
    let answer = served.post("/_sandbox/edit", e).await;
    assert_eq!(answer["status"], "done", "{answer}");
}

fn move_file(from: &Path, to: &Path) {
    std::fs::rename(from, to).unwrap_or_else(|e| panic!("move {}: {e}", from.display()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clone_gets_a_copy_of_the_source_customers_configuration_profile() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    // Acme first, without Umbrella (which clones Acme's configuration)...
    let umbrella = dir.path().join("customers/umbrella.yaml");
    let aside = dir.path().join("umbrella.yaml.aside");
    move_file(&umbrella, &aside);
    converge(&served, &d, 3);
    // ... whose profile someone then makes its own in the portal (Configure > Profiles).
    edit_enterprise(&served, "Acme Corp", "profileName", "Acme Branch Standard").await;
    edit_enterprise(&served, "Acme Corp", "profileDescription", "dual WAN, PCI segment").await;
    assert_empty_plan(&served, &d);

    move_file(&aside, &umbrella);
    converge(&served, &d, 3);
    let acme = enterprise_id(&served, "Acme Corp").await;
    let clone = enterprise_id(&served, "Umbrella Pharma GmbH").await;
    let want = vec![("Acme Branch Standard".to_string(), "dual WAN, PCI segment".to_string())];
    assert_eq!(profiles(&served, acme).await, want, "the source keeps its profile");
    assert_eq!(profiles(&served, clone).await, want, "the clone holds a copy of the source's profile");
    let source_profile =
        vco_read(&served, "enterprise/getEnterpriseConfigurations", json!({"enterpriseId": acme})).await;
    let clone_profile =
        vco_read(&served, "enterprise/getEnterpriseConfigurations", json!({"enterpriseId": clone})).await;
    assert_ne!(source_profile[0]["id"], clone_profile[0]["id"], "a copy, not the same profile");
    // And the operator profile Acme was created with (acme.yaml: sdwan-standard).
    for id in [acme, clone] {
        let op = vco_read(&served, "enterprise/getEnterpriseOperatorConfiguration", json!({"enterpriseId": id})).await;
        assert_eq!(op["name"], "sdwan-standard", "{op}");
    }
    // Applying again clones nothing more.
    let again = served.run(&["apply", &d, "--auto-approve"]);
    assert!(again.stdout.contains("No changes."), "{again}");
    let dump = served.dump().await;
    let umbrellas =
        dump["velocloud"].as_array().unwrap().iter().filter(|o| o["enterprise"]["name"] == "Umbrella Pharma GmbH");
    assert_eq!(umbrellas.count(), 1);

    // Someone renames the clone's profile: the clone no longer holds a copy of Acme's. The
    // next plan shows exactly that, as a create-only difference (the VCO cannot re-clone).
    edit_enterprise(&served, "Umbrella Pharma GmbH", "profileName", "Umbrella Custom").await;
    assert_eq!(
        planned(&served, &d),
        [(
            "customer/umbrella/velocloud/enterprise:create-only".to_string(),
            vec![(
                "configuration".to_string(),
                json!({"profiles": ["Umbrella Custom"]}),
                json!({"cloneFrom": "Acme Corp"})
            )]
        )]
    );
    assert_eq!(executable_plan(&served, &d), json!([]), "a create-only difference is never acted on");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_vco_refuses_a_clone_whose_configuration_id_is_not_a_profile_of_the_source() {
    let served = Served::start(&[]);
    let (status, source) = served
        .vco("enterpriseProxy/insertEnterpriseProxyEnterprise", json!({"name": "Source Co", "configurationId": 7}))
        .await;
    assert_eq!(status, 200, "{source}");
    let source = source["id"].as_i64().expect("id");
    let clone = |configuration: i64, name: &str| {
        json!({"id": source, "name": name, "configurationId": configuration,
               "user": {"username": format!("admin@{}.example", name.to_lowercase().replace(' ', "-")), "password": "Secret-123"}})
    };
    // 7 and 12 are operator profiles (software images), not the source's configuration profile.
    for wrong in [7, 12, 0] {
        let (status, answer) = served.vco("enterprise/cloneEnterpriseV2", clone(wrong, "Wrong Co")).await;
        assert_eq!(status, 400, "configurationId {wrong}: {answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap_or_default().contains("not a configuration profile"),
            "{answer}"
        );
    }
    let dump = served.dump().await;
    assert_eq!(dump["velocloud"].as_array().unwrap().len(), 1, "nothing was created: {dump}");
    let own = vco_read(&served, "enterprise/getEnterpriseConfigurations", json!({"enterpriseId": source})).await;
    let own = own[0]["id"].as_i64().expect("the source's profile");
    let (status, answer) = served.vco("enterprise/cloneEnterpriseV2", clone(own, "Right Co")).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["id"].as_i64().expect("the clone's id");
    assert_eq!(profiles(&served, id).await, [("Quick Start Profile".to_string(), String::new())]);
}

#[tokio::test(flavor = "multi_thread")]
async fn analytics_changed_in_the_portal_shows_in_the_next_plan_and_apply_puts_it_back() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    converge(&served, &d, 3);
    // soylent.yaml: analytics: true.
    let soylent = enterprise_id(&served, "Soylent Foods Inc").await;
    let read = || vco_read(&served, "enterprise/getAnalyticsConfiguration", json!({"enterpriseId": soylent}));
    assert_eq!(read().await["analyticsCapability"], "APPLICATION_BRANCH");
    let (status, answer) = served
        .vco(
            "enterprise/insertOrUpdateAnalyticsConfiguration",
            json!({"enterpriseId": soylent, "analyticsCapability": "NONE"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        planned(&served, &d),
        [(
            "customer/soylent/velocloud/enterprise:sync".to_string(),
            vec![("analytics".to_string(), json!(false), json!(true))]
        )]
    );
    let applied = served.run(&["apply", &d, "--auto-approve"]);
    assert_eq!(applied.code, 0, "{applied}");
    assert_eq!(read().await["analyticsCapability"], "APPLICATION_BRANCH");
    assert_empty_plan(&served, &d);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_image_is_read_back_both_ways() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    converge(&served, &d, 3);
    // acme.yaml: images [edge-5.2.0, edge-5.4.1], default edge-5.4.1.
    let acme = enterprise_id(&served, "Acme Corp").await;
    let default =
        || vco_read(&served, "enterprise/getEnterpriseDefaultOperatorConfiguration", json!({"enterpriseId": acme}));
    assert_eq!(default().await["name"], "edge-5.4.1");

    // At the VCO: edge-5.2.0 (operator profile 11) made the default, the same two images.
    let (status, answer) = served
        .vco(
            "enterprise/updateEnterprise",
            json!({"enterpriseId": acme, "_update": {"assignedOperatorProfileConfigurationIds": [11, 12]}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        planned(&served, &d),
        [(
            "customer/acme/velocloud/enterprise:sync".to_string(),
            vec![("defaultImage".to_string(), json!("edge-5.2.0"), json!("edge-5.4.1"))]
        )]
    );
    assert_eq!(served.run(&["apply", &d, "--auto-approve"]).code, 0);
    assert_eq!(default().await["name"], "edge-5.4.1");
    assert_empty_plan(&served, &d);

    // In the manifest: the default becomes edge-5.2.0.
    let file = dir.path().join("customers/acme.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("default: edge-5.4.1"));
    std::fs::write(&file, text.replace("default: edge-5.4.1", "default: edge-5.2.0")).unwrap();
    assert_eq!(
        planned(&served, &d),
        [(
            "customer/acme/velocloud/enterprise:sync".to_string(),
            vec![("defaultImage".to_string(), json!("edge-5.4.1"), json!("edge-5.2.0"))]
        )]
    );
    converge(&served, &d, 2);
    assert_eq!(default().await["name"], "edge-5.2.0");
    let dump = served.dump().await;
    let e = &dumped_object(&dump, "velocloud", "enterprise", "enterprise", "Acme Corp")["enterprise"];
    assert_eq!(e["assignedProfiles"], json!([11, 12]), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_profile_changed_at_the_vco_shows_as_a_create_only_difference() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    converge(&served, &d, 3);
    // acme.yaml: configuration {profile: sdwan-standard}; soylent.yaml: {configurationId: 7}.
    for (name, owner, before, after) in [
        ("Acme Corp", "acme", json!({"profile": "edge-5.0.0"}), json!({"profile": "sdwan-standard"})),
        ("Soylent Foods Inc", "soylent", json!({"configurationId": 10}), json!({"configurationId": 7})),
    ] {
        let id = enterprise_id(&served, name).await;
        let (status, answer) = served
            .vco("enterprise/updateEnterprise", json!({"enterpriseId": id, "_update": {"configurationId": 10}}))
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            planned(&served, &d),
            [(
                format!("customer/{owner}/velocloud/enterprise:create-only"),
                vec![("configuration".to_string(), before, after.clone())]
            )]
        );
        // Put back as it was, through the VCO's own API again.
        let (status, answer) = served
            .vco("enterprise/updateEnterprise", json!({"enterpriseId": id, "_update": {"configurationId": 7}}))
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_empty_plan(&served, &d);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn beyond_the_verification_sample_per_customer_values_come_from_the_bindings() {
    use tenantry::model::Vendor;
    use tenantry::provider::velocloud::VERIFY_PER_OBSERVE;
    // More bound customers than one observe verifies, five of them bound without a record of
    // what tenantry applied (those must be read), and those five changed in the portal; and
    // one recorded customer whose analytics someone switched on in the portal since.
    let count = VERIFY_PER_OBSERVE + 30;
    let drifted_id: i64 = 5_000 + count as i64 - 1;
    let unrecorded = 5;
    let dir = tempfile::tempdir().unwrap();
    crate::common::generate(dir.path(), count);
    let (desired_state, _) = crate::common::load(dir.path());
    let desired = tenantry::engine::desire(&desired_state, &tenantry::provider::models());
    // Up to 40 observes of about 80 requests each run back to back: the VCO's 500 requests per
    // 5 s would throttle some of them (and the retries would change the counts this test checks).
    let options = tenantry::sandbox::Options { journal: true, vco_bucket: u32::MAX, ..Default::default() };
    let sandbox = tenantry::sandbox::Sandbox::start(options).await.unwrap();
    let mut state = tenantry::state::StateSnapshot::default();
    let now = jiff::Timestamp::now();
    let mut recorded_ids = Vec::new();
    for d in desired.iter().filter(|d| d.key.vendor == Vendor::Velocloud) {
        let i: i64 = d.key.owner.name.trim_start_matches('c').parse().expect("generated owner c<i>");
        let configuration = d.fields["configuration"].value.json().cloned().expect("a configuration");
        assert_eq!(configuration, json!({"profile": "sdwan-standard"}), "the generated profile");
        let mut applied = std::collections::BTreeMap::from([("analytics".to_string(), json!(false))]);
        // The generated customers declare one image, so it is their default.
        let default = d.fields["defaultImage"].value.json().cloned().expect("a default image");
        assert_eq!(default, json!("edge-5.4.1"));
        if i >= unrecorded {
            applied.insert("configuration".to_string(), configuration);
            applied.insert("defaultImage".to_string(), default);
            // The initial administrator as created.
            for f in ["adminUsername", "adminFirstName", "adminLastName", "adminPhone", "adminMobile"] {
                let v = d.fields.get(f).and_then(|f| f.value.json()).cloned().unwrap_or(Json::Null);
                applied.insert(f.to_string(), v);
            }
            recorded_ids.push(5_000 + i);
        }
        let b = tenantry::state::Binding {
            key: d.key.clone(),
            vendor_id: (5_000 + i).to_string(),
            created_at: now,
            updated_at: now,
            applied,
        };
        state.bindings.insert(d.key.clone(), b);
    }
    sandbox.shared.mutate(|w, _| {
        for i in 0..count as i64 {
            let analytics = if i < unrecorded || 5_000 + i == drifted_id { "APPLICATION_BRANCH" } else { "NONE" };
            w.velocloud.enterprises.insert(
                5_000 + i,
                tenantry::sandbox::velocloud::Enterprise {
                    id: 5_000 + i,
                    name: format!("Customer {i} Ltd"),
                    account_number: format!("C-{i:06}"),
                    gateway_pool_id: 1,
                    configuration_id: if i < unrecorded { 10 } else { 7 },
                    assigned_profiles: vec![12],
                    analytics: json!({"analyticsCapability": analytics}),
                    ..Default::default()
                },
            );
        }
    });
    let (connections, values) = sandbox.connections();
    let secrets = tenantry::secrets::Secrets::new(dir.path(), true).with_values(values);
    let vendors = tenantry::engine::Vendors::connect(&connections, &secrets);
    // The customers one observe read analytics of, from the journal.
    let analytics_read = || -> std::collections::BTreeSet<i64> {
        let exchanges = sandbox.shared.journal.exchanges.lock().unwrap();
        exchanges
            .iter()
            .filter(|x| x.vendor == Vendor::Velocloud && x.path.ends_with("/enterprise/getAnalyticsConfiguration"))
            .filter_map(|x| x.body["enterpriseId"].as_i64())
            .collect()
    };
    // Observe until the drifted customer is in the sample (each observe samples 20 of the 45
    // recorded ones: missing it 40 times in a row has a chance below 1e-10).
    let mut runs_until_seen = None;
    for run in 1..=40 {
        sandbox.shared.journal.clear();
        let observed = tenantry::engine::observe(&vendors, &desired, &state).await;
        assert!(observed.unavailable.is_empty(), "{:?}", observed.unavailable);
        let enterprises: Vec<_> = observed.objects.iter().filter(|o| o.vendor == Vendor::Velocloud).collect();
        assert_eq!(enterprises.len(), count);
        let read = analytics_read();
        for o in &enterprises {
            let id: i64 = o.id.parse().unwrap();
            let (analytics, profile) =
                if recorded_ids.contains(&id) { (false, "sdwan-standard") } else { (true, "edge-5.0.0") };
            // The drifted customer shows what the VCO holds in the run that reads it, and what
            // its binding records in the others.
            let analytics = analytics || (id == drifted_id && read.contains(&id));
            assert_eq!(o.fields["analytics"], json!(analytics), "run {run}: {o:?}");
            assert_eq!(o.fields["configuration"], json!({"profile": profile}), "{o:?}");
            assert_eq!(o.fields["defaultImage"], json!("edge-5.4.1"), "{o:?}");
        }
        // Every unrecorded customer, and a sample of exactly VERIFY_PER_OBSERVE recorded ones.
        let unrecorded_ids: std::collections::BTreeSet<i64> = (0..unrecorded).map(|i| 5_000 + i).collect();
        assert!(read.is_superset(&unrecorded_ids), "run {run}: {read:?}");
        assert_eq!(read.len(), unrecorded as usize + VERIFY_PER_OBSERVE, "run {run}: {read:?}");
        let requests = sandbox.shared.journal.counts.lock().unwrap().get(&Vendor::Velocloud).copied().unwrap_or(0);
        // Three lists, then analytics, the users and the operator profile for each unrecorded
        // and each sampled customer (the default image is the one image each has: no read).
        let expected = 3 + 3 * (unrecorded as usize + VERIFY_PER_OBSERVE);
        assert_eq!(requests as usize, expected, "{requests} requests for {count} customers");
        if read.contains(&drifted_id) {
            runs_until_seen = Some(run);
            break;
        }
    }
    assert!(runs_until_seen.is_some(), "the drifted customer was never in the sample");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fields_the_vco_cannot_report_reach_it_and_are_compared_with_what_tenantry_applied() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    converge(&served, &d, 3);
    let file = dir.path().join("customers/acme.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text
        .replace(
            "access: {partnerSupport: true, vmwareSupport: true, userManagement: true}",
            "access: {partnerSupport: false, vmwareSupport: false, userManagement: false}",
        )
        .replace("edgeLicenses: [standard-100m-emea, premium-1g-emea]", "edgeLicenses: [standard-100m-emea]");
    assert_ne!(edited, text);
    std::fs::write(&file, edited).unwrap();
    let file = dir.path().join("customers/soylent.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text.replace(
        "softwareImages: {images: [edge-5.2.0]}",
        "softwareImages: {manage: true, images: [edge-5.2.0], default: edge-5.2.0}",
    );
    assert_ne!(edited, text);
    std::fs::write(&file, edited).unwrap();
    let f = |name: &str, before: Json, after: Json| (name.to_string(), before, after);
    assert_eq!(
        planned(&served, &d),
        [
            (
                "customer/acme/velocloud/enterprise:sync".to_string(),
                vec![
                    f("edgeLicenses", json!(["premium-1g-emea", "standard-100m-emea"]), json!(["standard-100m-emea"])),
                    f("partnerSupportAccess", json!(true), json!(false)),
                    f("vmwareSupportAccess", json!(true), json!(false)),
                    f("vmwareUserManagementAccess", json!(true), json!(false)),
                ]
            ),
            (
                "customer/soylent/velocloud/enterprise:sync".to_string(),
                vec![f("manageSoftwareImages", json!(false), json!(true))]
            )
        ]
    );
    converge(&served, &d, 2);
    let dump = served.dump().await;
    let acme = &dumped_object(&dump, "velocloud", "enterprise", "enterprise", "Acme Corp")["enterprise"];
    assert_eq!(acme["delegatedToProxy"], false, "{acme}");
    assert_eq!(acme["delegatedToOperator"], false, "{acme}");
    assert_eq!(acme["userManagementDelegated"], false, "{acme}");
    assert_eq!(acme["licenses"], json!([101]), "{acme}");
    let soylent = &dumped_object(&dump, "velocloud", "enterprise", "enterprise", "Soylent Foods Inc")["enterprise"];
    assert_eq!(soylent["imageManagement"], true, "{soylent}");

    // Changed back in the portal: the VCO API v1 (5.0.0) reports none of these, so the next
    // plan cannot see it (the README lists them).
    let id = acme["id"].as_i64().unwrap();
    for (method, body) in [
        ("role/setEnterpriseDelegatedToEnterpriseProxy", json!({"enterpriseId": id, "isDelegated": true})),
        ("role/setEnterpriseDelegatedToOperator", json!({"enterpriseId": id, "isDelegated": true})),
        ("role/setEnterpriseUserManagementDelegatedToOperator", json!({"enterpriseId": id, "isDelegated": true})),
        ("enterprise/updateEnterprise", json!({"enterpriseId": id, "_update": {"licenses": {"ids": [101, 102]}}})),
        ("enterprise/updateEdgeImageManagement", json!({"enterpriseId": soylent["id"], "edgeImageManagement": false})),
    ] {
        let (status, answer) = served.vco(method, body).await;
        assert_eq!(status, 200, "{method}: {answer}");
    }
    assert_empty_plan(&served, &d);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_not_stale_because_of_the_verification_sample() {
    use tenantry::provider::velocloud::VERIFY_PER_OBSERVE;
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    // More VeloCloud customers than one observe samples.
    let count = VERIFY_PER_OBSERVE + 10;
    let manifest = |i: usize, domain: &str| {
        format!(
            "apiVersion: tenantry.dev/v1\nkind: Customer\nmetadata:\n  name: v{i:03}\nspec:\n  profiles: [sdwan-branch]\n  company:\n    name: Branch {i} Ltd\n    domain: {domain}\n    accountNumber: V-{i:06}\n    address: {{street: {i} Main Street, city: Leeds, postcode: LS1 1AA, country: GB}}\n  contacts:\n    primary: {{firstName: Ada, lastName: Byron, email: ada@v{i}.example}}\n  services:\n    velocloud:\n      admin: {{username: admin@v{i}.example, password: {{env: V{i}_VCO}}, contact: primary}}\n"
        )
    };
    for i in 0..count {
        std::fs::write(dir.path().join(format!("customers/v{i:03}.yaml")), manifest(i, &format!("v{i}.example")))
            .unwrap();
    }
    converge(&served, &d, 3);
    // In the portal, analytics is switched on for every one of them (a plan sees it only for
    // the customers its sample reads), and the manifests move them all to new domains (so a
    // plan touches every one).
    for i in 0..count {
        let id = enterprise_id(&served, &format!("Branch {i} Ltd")).await;
        let body = json!({"enterpriseId": id, "analyticsCapability": "APPLICATION_BRANCH"});
        vco_read(&served, "enterprise/insertOrUpdateAnalyticsConfiguration", body).await;
        std::fs::write(dir.path().join(format!("customers/v{i:03}.yaml")), manifest(i, &format!("new-v{i}.example")))
            .unwrap();
    }
    let file = dir.path().join("saved.plan.json");
    let plan = served.run(&["plan", &d, "--out", file.to_str().unwrap()]);
    assert_eq!(plan.code, 0, "{plan}");
    let apply = served.run(&["apply", file.to_str().unwrap(), "--auto-approve"]);
    assert_eq!(apply.code, 0, "the saved plan is applied, not refused as stale: {apply}");
    assert!(!apply.stderr.contains("stale"), "{apply}");
    // Read in full for the saved plan: every touched customer's analytics shows.
    let shown = plan.stdout.matches("analytics").count();
    assert!(shown >= count, "{shown} analytics changes shown for {count} customers:\n{plan}");
    let dump = served.dump().await;
    for i in 0..count {
        let e =
            &dumped_object(&dump, "velocloud", "enterprise", "enterprise", &format!("Branch {i} Ltd"))["enterprise"];
        assert_eq!(e["domain"], format!("new-v{i}.example"), "{e}");
        assert_eq!(e["analytics"]["analyticsCapability"], "NONE", "put back: {e}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_per_customer_read_leaves_out_that_customer_and_names_it_and_the_others_are_applied() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    converge(&served, &d, 3);
    // Acme's analytics configuration no longer reads (a capability that is not text), and
    // someone switched Soylent's analytics off in the portal (soylent.yaml: analytics: true).
    let acme = enterprise_id(&served, "Acme Corp").await;
    let pointer = format!("/velocloud/enterprises/{acme}/analytics");
    let before = served.dump().await;
    let original =
        dumped_object(&before, "velocloud", "enterprise", "enterprise", "Acme Corp")["enterprise"]["analytics"].clone();
    assert!(original.is_object(), "{original}");
    let answer = served.post("/_sandbox/edit", json!({"pointer": pointer, "value": {"analyticsCapability": 5}})).await;
    assert_eq!(answer["status"], "done", "{answer}");
    let soylent = enterprise_id(&served, "Soylent Foods Inc").await;
    let read = || vco_read(&served, "enterprise/getAnalyticsConfiguration", json!({"enterpriseId": soylent}));
    let (status, answer) = served
        .vco(
            "enterprise/insertOrUpdateAnalyticsConfiguration",
            json!({"enterpriseId": soylent, "analyticsCapability": "NONE"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");

    // The plan leaves out Acme's VCO customer, naming it and the read that failed, and plans
    // the rest of the VCO: Soylent's drift. It is incomplete, so it fails.
    let plan = served.run(&["plan", &d]);
    assert_eq!(plan.code, 1, "{plan}");
    let all = format!("{}{}", plan.stdout, plan.stderr);
    assert!(all.contains("customer/acme/velocloud/enterprise could not be read"), "{plan}");
    assert!(
        all.contains(&format!("enterprise/getAnalyticsConfiguration for customer \"Acme Corp\" (id {acme})")),
        "{plan}"
    );
    assert!(!all.contains("velocloud could not be observed"), "the VCO itself was read: {plan}");
    assert_eq!(
        planned(&served, &d),
        [(
            "customer/soylent/velocloud/enterprise:sync".to_string(),
            vec![("analytics".to_string(), json!(false), json!(true))]
        )]
    );

    // apply does what it can (Soylent's analytics back on at the VCO) and fails for Acme.
    let applied = served.run(&["apply", &d, "--auto-approve"]);
    assert_eq!(applied.code, 1, "{applied}");
    assert!(applied.stdout.contains("could not be read, so nothing was done for it"), "{applied}");
    assert!(applied.stdout.contains("Apply finished with failures"), "{applied}");
    assert_eq!(read().await["analyticsCapability"], "APPLICATION_BRANCH");
    let dump = served.dump().await;
    let acmes = dump["velocloud"].as_array().unwrap().iter().filter(|o| o["enterprise"]["name"] == "Acme Corp").count();
    assert_eq!(acmes, 1, "nothing was made again for the customer that could not be read");

    // Once Acme reads again, the plan is empty.
    let answer = served.post("/_sandbox/edit", json!({"pointer": pointer, "value": original})).await;
    assert_eq!(answer["status"], "done", "{answer}");
    assert_empty_plan(&served, &d);
}

/// Planning one customer whose configuration is cloned from another (umbrella clones acme)
/// plans it against the source, as planning everything does: no made-up "configuration
/// differs" on a converged estate. Found by `serve`, which plans the customers that are due.
#[test]
fn a_clone_planned_alone_is_compared_with_its_source() {
    let served = Served::start(&[]);
    let dir = example_copy();
    let d = dir_arg(dir.path());
    converge(&served, &d, 4);
    for target in ["umbrella", "acme"] {
        let plan = served.run(&["plan", &d, "--target", target, "--detailed-exitcode"]);
        assert_eq!(plan.code, 0, "--target {target}: {plan}");
        assert!(plan.stdout.contains("No changes."), "{plan}");
    }
}
