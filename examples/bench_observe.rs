//! Benchmark: observing 10,000 customers per vendor over HTTP, with 50 ms of latency injected
//! into every request, against the sandbox simulators. Prints, per vendor, the requests made,
//! the objects observed and the wall time: the requests should be the list pages (plus auth),
//! not one per customer.
//!
//! The simulated vendors are filled directly (each with 10,000 customers named like the
//! generated manifests), then `engine::observe` runs once as `plan` would.
//!
//!     cargo run --release --example bench_observe [-- CUSTOMERS [LATENCY_MS]]

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::json;
use tenantry::model::Vendor;
use tenantry::sandbox::{Latency, Options, Sandbox, credentials};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let count: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let latency: u64 = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(50);
    let dir = tempfile::tempdir().expect("temp dir");
    common::generate(dir.path(), count);
    let (desired_state, _) = common::load(dir.path());
    let models = tenantry::provider::models();
    let desired = tenantry::engine::desire(&desired_state, &models);

    let opts = Options { latency: Latency { min_ms: latency, max_ms: latency }, ..Options::default() };
    let sandbox = Sandbox::start(opts).await.expect("start the sandbox");
    sandbox.shared.mutate(|w, now| {
        let stamp = tenantry::sandbox::plain_time(now);
        for i in 0..count {
            let name = format!("Customer {i} Ltd");
            let uid = format!("00000000-0000-4000-8000-{i:012}");
            let mut org = serde_json::Map::new();
            org.insert("name".into(), json!(name));
            w.veeam.companies.insert(
                uid.clone(),
                tenantry::sandbox::veeam::Company {
                    instance_uid: uid.clone(),
                    organization_uid: uid.clone(),
                    status: "Active".into(),
                    owner_user_name: format!("c{i}-owner"),
                    organization: org,
                    ..Default::default()
                },
            );
            w.datto.clients.insert(
                200_000 + i as u64,
                tenantry::sandbox::datto::Client {
                    saas_customer_id: 200_000 + i as u64,
                    name: name.clone(),
                    domain: format!("c{i}.example"),
                    product: "Office365".into(),
                    status: "PendingAuthorization".into(),
                    link_expires: now,
                    ..Default::default()
                },
            );
            w.velocloud.enterprises.insert(
                5_000 + i as i64,
                tenantry::sandbox::velocloud::Enterprise {
                    id: 5_000 + i as i64,
                    name: name.clone(),
                    domain: format!("c{i}.example"),
                    account_number: format!("C-{i:06}"),
                    gateway_pool_id: 1,
                    configuration_id: 7,
                    // The one image the generated manifests declare (edge-5.4.1).
                    assigned_profiles: vec![12],
                    created: stamp.clone(),
                    modified: stamp.clone(),
                    ..Default::default()
                },
            );
            w.acronis.tenants.insert(
                uid.clone(),
                tenantry::sandbox::acronis::Tenant {
                    id: uid.clone(),
                    version: 1,
                    name: name.clone(),
                    parent_id: credentials::ACRONIS_HOME.into(),
                    kind: "customer".into(),
                    contact: json!({}),
                    created_at: stamp.clone(),
                    updated_at: stamp.clone(),
                    enabled: true,
                    ..Default::default()
                },
            );
            w.watchguard.accounts.insert(
                format!("ACC-{}", 3_000_000 + i),
                tenantry::sandbox::watchguard::Account {
                    account_id: format!("ACC-{}", 3_000_000 + i),
                    name: name.clone(),
                    kind: 2,
                    parent: Some(credentials::WG_HOME.into()),
                    created: stamp.clone(),
                    ..Default::default()
                },
            );
            w.avepoint.customers.insert(
                uid.clone(),
                tenantry::sandbox::avepoint::Customer {
                    id: uid.clone(),
                    organization: name.clone(),
                    owner_email: format!("backup@c{i}.example"),
                    ..Default::default()
                },
            );
        }
    });

    let (connections, values) = sandbox.connections();
    let secrets = tenantry::secrets::Secrets::new(dir.path(), true).with_values(values);
    let vendors = tenantry::engine::Vendors::connect(&connections, &secrets);
    // First look: nothing bound yet. Then as after a converged apply: every VCO customer bound,
    // with what tenantry applied that only per-customer reads report (analytics, configuration,
    // default image, the initial administrator) remembered in its binding, as a create
    // records them (an undeclared administrator detail as null).
    let first = tenantry::state::StateSnapshot::default();
    let mut converged = tenantry::state::StateSnapshot::default();
    let now = jiff::Timestamp::now();
    for d in desired.iter().filter(|d| d.key.vendor == Vendor::Velocloud && d.key.kind == "enterprise") {
        let Some(i) = d.key.owner.name.strip_prefix('c').and_then(|n| n.parse::<i64>().ok()) else { continue };
        converged.bindings.insert(
            d.key.clone(),
            tenantry::state::Binding {
                key: d.key.clone(),
                vendor_id: (5_000 + i).to_string(),
                created_at: now,
                updated_at: now,
                applied: ["analytics", "configuration", "defaultImage"]
                    .into_iter()
                    .filter_map(|f| d.fields.get(f).and_then(|v| v.value.json()).map(|v| (f.to_string(), v.clone())))
                    .chain(["adminUsername", "adminFirstName", "adminLastName", "adminPhone", "adminMobile"].map(|f| {
                        (f.to_string(), d.fields.get(f).and_then(|v| v.value.json()).cloned().unwrap_or(json!(null)))
                    }))
                    .collect(),
            },
        );
    }
    // WatchGuard: every subscriber account bound, and its operator bound with what the
    // transaction that created it left (as the executor records it); the operators exist.
    let text = |d: &tenantry::provider::DesiredObject, f: &str| {
        d.fields.get(f).and_then(|f| f.value.json()).and_then(|v| v.as_str()).unwrap_or_default().to_string()
    };
    let mut operators = Vec::new();
    for d in desired.iter().filter(|d| d.key.vendor == Vendor::Watchguard) {
        let Some(i) = d.key.owner.name.strip_prefix('c').and_then(|n| n.parse::<u64>().ok()) else { continue };
        let account = format!("ACC-{}", 3_000_000 + i);
        let (vendor_id, applied) = match d.key.kind.as_str() {
            "account" => (account, BTreeMap::new()),
            _ => {
                let op = tenantry::sandbox::watchguard::Operator {
                    user_name: text(d, "username"),
                    account_id: account.clone(),
                    first_name: text(d, "firstName"),
                    last_name: text(d, "lastName"),
                    email: text(d, "email"),
                    phone: text(d, "phone"),
                    role: text(d, "role"),
                };
                let mut applied = tenantry::provider::watchguard::operator_record(&json!(op));
                applied.insert("role".to_string(), json!(op.role));
                let id = op.user_name.clone();
                operators.push(op);
                (id, applied)
            }
        };
        let binding =
            tenantry::state::Binding { key: d.key.clone(), vendor_id, created_at: now, updated_at: now, applied };
        converged.bindings.insert(d.key.clone(), binding);
    }
    sandbox.shared.mutate(|w, _| {
        for op in operators {
            w.watchguard.operators.insert(op.user_name.clone(), op);
        }
    });
    println!("observe: {count} customers per vendor, {latency} ms latency per request");
    for (label, state) in [("first look (nothing bound)", &first), ("converged (bound)", &converged)] {
        sandbox.shared.journal.clear();
        let started = Instant::now();
        let observed = tenantry::engine::observe(&vendors, &desired, state).await;
        let wall = started.elapsed();
        let counts = sandbox.shared.journal.counts.lock().unwrap().clone();
        assert!(observed.unavailable.is_empty(), "{:?}", observed.unavailable);
        let mut objects: BTreeMap<Vendor, usize> = BTreeMap::new();
        for o in &observed.objects {
            *objects.entry(o.vendor).or_default() += 1;
        }
        println!("  {label}");
        println!("    {:<11} {:>9} {:>9}", "vendor", "requests", "objects");
        for v in Vendor::ALL {
            let n = counts.get(&v).copied().unwrap_or(0);
            println!("    {:<11} {:>9} {:>9}", v.id(), n, objects.get(&v).unwrap_or(&0));
        }
        println!("    total       {:>9} {:>9}", counts.values().sum::<u64>(), observed.objects.len());
        println!("    wall        {:>8.1} s (all vendors concurrently)", wall.as_secs_f64());
    }
    sandbox.stop().await;
}
