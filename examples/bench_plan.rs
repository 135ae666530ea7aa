//! Benchmark: planning 10,000 generated customers (all six services each) against an in-memory
//! observed state, twice: a first run (nothing exists: every create, registration and portal
//! task) and a converged one (everything exists, bound, with the fields as desired: the full
//! field-by-field comparison; the portal steps it took kept as done tasks). Planning is a pure function, so this is CPU only; the figure
//! reported is this thread's CPU time (and wall time beside it).
//!
//!     [SERVICES=5] cargo run --release --example bench_plan [-- CUSTOMERS [first|converged]]

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use jiff::Timestamp;
use tenantry::plan::{PlanInputs, PlanOptions};
use tenantry::provider::{FieldValue, ObjectState, ObservedObject, ObservedState, Realize};
use tenantry::state::{Binding, StateSnapshot, TaskRecord, TaskStatus};

fn main() {
    let count: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temp dir");
    // `SERVICES=5` leaves AvePoint out of every customer.
    let services: usize = std::env::var("SERVICES").ok().and_then(|s| s.parse().ok()).unwrap_or(6);
    common::generate_with(dir.path(), count, services);
    let (desired_state, sources) = common::load(dir.path());
    let models = tenantry::provider::models();
    let desired = tenantry::engine::desire(&desired_state, &models);
    let files = tenantry::engine::manifest_files(&sources);
    let now: Timestamp = "2026-11-22T09:00:00Z".parse().unwrap();
    let services: usize = desired_state.customers.values().map(|c| c.services.vendors().len()).sum();
    println!(
        "plan: {} customers, {} services, {} vendor objects",
        desired_state.customers.len(),
        services,
        desired.len()
    );

    // Everything as it is after a converged apply: each object observed with its fields and
    // bound, what the vendor cannot report remembered in the binding.
    let mut observed = ObservedState::default();
    let mut state = StateSnapshot::default();
    for d in &desired {
        let mut fields = BTreeMap::new();
        let mut applied = BTreeMap::new();
        for (name, f) in &d.fields {
            let value = match &f.value {
                FieldValue::Value(v) => v.clone(),
                FieldValue::Secret(r) => tenantry::plan::secret_ref_text(r).into(),
            };
            if f.observable {
                fields.insert(name.clone(), value);
            } else {
                applied.insert(name.clone(), value);
            }
        }
        observed.objects.push(ObservedObject {
            vendor: d.key.vendor,
            kind: d.key.kind.clone(),
            id: d.key.id(),
            natural_key: d.natural_key.values.clone(),
            parent_id: d.parent.as_ref().map(|p| p.id()),
            marker: d.marker.clone(),
            fields,
            version: Some("1".into()),
            state: ObjectState::Ready,
        });
        state.bindings.insert(
            d.key.clone(),
            Binding { key: d.key.clone(), vendor_id: d.key.id(), created_at: now, updated_at: now, applied },
        );
    }
    // The portal steps done on the way (VDC registrations, Datto clients, ...) stay in the
    // state as history, one done task each.
    for (n, d) in desired.iter().enumerate() {
        if let Realize::Portal(form) = &d.realize {
            state.tasks.push(TaskRecord {
                id: format!("T-{}", n + 1),
                key: d.key.clone(),
                task: form.task.clone(),
                vendor: d.key.vendor,
                page: form.page.clone(),
                title: d.title.clone(),
                target: None,
                values: BTreeMap::new(),
                verify: form.verify,
                created_at: now,
                status: TaskStatus::Done { at: now, note: None, by: Some("bench".into()) },
                delivered: Some("recorded".into()),
                note: None,
            });
        }
    }
    println!("state (converged): {} bindings, {} done portal tasks", state.bindings.len(), state.tasks.len());
    observed.objects.sort_by(|a, b| (a.vendor, &a.kind, &a.id).cmp(&(b.vendor, &b.kind, &b.id)));

    let only: Option<String> = std::env::args().nth(2); // `first` or `converged`
    let empty = (ObservedState::default(), StateSnapshot::default());
    for (label, observed, state) in
        [("first run (nothing exists)", &empty.0, &empty.1), ("converged (all bound, compared)", &observed, &state)]
    {
        if only.as_ref().is_some_and(|o| !label.starts_with(o.as_str())) {
            continue;
        }
        let inputs = PlanInputs {
            desired: &desired,
            observed,
            state,
            models: &models,
            now,
            options: PlanOptions::default(),
            manifest_files: files.clone(),
        };
        let cpu = common::thread_cpu();
        let wall = Instant::now();
        let plan = tenantry::plan::plan(&inputs);
        let wall = wall.elapsed();
        let cpu = cpu.zip(common::thread_cpu()).map(|(a, b)| b - a);
        println!("  {label}");
        println!("    actions         {:>8}  ({})", plan.actions.len(), plan.summary().line());
        match cpu {
            Some(cpu) => println!("    CPU             {:>8.0} ms", cpu.as_secs_f64() * 1e3),
            None => println!("    CPU             (unavailable on this OS)"),
        }
        println!("    wall            {:>8.0} ms", wall.as_secs_f64() * 1e3);
    }
}
