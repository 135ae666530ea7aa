//! The loop's steps glued together, for the CLI and tests: desire (pure), observe (I/O, every
//! vendor at once), plan (pure). Applying lives in `apply`.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use sha2::{Digest, Sha256};

pub use crate::core::manifests_fingerprint;
use crate::manifest::SourceMap;
use crate::model::{Connection, DesiredState, Vendor};
use crate::plan::{Plan, PlanInputs, PlanOptions};
use crate::provider::{DesiredObject, ObserveScope, ObservedState, VendorModel, VendorReader, VendorWriter};
use crate::secrets::Secrets;
use crate::state::StateSnapshot;

/// The vendors a run talks to: a reader and a writer per vendor.
#[derive(Clone, Default)]
pub struct Vendors {
    pub readers: BTreeMap<Vendor, Arc<dyn VendorReader>>,
    pub writers: BTreeMap<Vendor, Arc<dyn VendorWriter>>,
    /// Vendors with a connection that cannot be used, and why (a secret that cannot be read).
    pub broken: BTreeMap<Vendor, String>,
}

impl Vendors {
    pub fn add<T: VendorReader + VendorWriter + 'static>(&mut self, vendor: Vendor, v: Arc<T>) {
        self.readers.insert(vendor, v.clone());
        self.writers.insert(vendor, v);
    }

    /// HTTP clients for every connection in `tenantry.yaml`. A connection that cannot be set up
    /// (an unreadable credential) makes only that vendor unavailable; the plan says why.
    pub fn connect(connections: &BTreeMap<Vendor, Connection>, secrets: &Secrets) -> Vendors {
        use crate::provider::{acronis, avepoint, datto, veeam, velocloud, watchguard};
        let mut vendors = Vendors::default();
        for (&vendor, conn) in connections {
            // Every credential the connection references, at once: a user fixing them should
            // not have to run again for each one.
            let unreadable: Vec<String> =
                conn.secrets.values().filter_map(|r| secrets.resolve(r).err()).map(|e| e.to_string()).collect();
            if !unreadable.is_empty() {
                vendors.broken.insert(vendor, format!("connections.{vendor}: {}", unreadable.join("; ")));
                continue;
            }
            let added = match vendor {
                Vendor::Veeam => veeam::Veeam::new(conn, secrets).map(|c| vendors.add(vendor, Arc::new(c))),
                Vendor::Datto => datto::Datto::new(conn, secrets).map(|c| vendors.add(vendor, Arc::new(c))),
                Vendor::Velocloud => velocloud::VeloCloud::new(conn, secrets).map(|c| vendors.add(vendor, Arc::new(c))),
                Vendor::Acronis => acronis::Acronis::new(conn, secrets).map(|c| vendors.add(vendor, Arc::new(c))),
                Vendor::Watchguard => {
                    watchguard::WatchGuard::new(conn, secrets).map(|c| vendors.add(vendor, Arc::new(c)))
                }
                Vendor::Avepoint => avepoint::AvePoint::new(conn, secrets).map(|c| vendors.add(vendor, Arc::new(c))),
            };
            if let Err(e) = added {
                let mut why = e.message.clone();
                if let Some(h) = &e.hint {
                    why.push_str(&format!(" (hint: {h})"));
                }
                vendors.broken.insert(vendor, format!("connections.{vendor}: {why}"));
            }
        }
        vendors
    }
}

/// Every vendor's desired objects for the manifests.
pub fn desire(desired: &DesiredState, models: &[Box<dyn VendorModel>]) -> Vec<Arc<DesiredObject>> {
    models.iter().flat_map(|m| m.desire(desired)).map(Arc::new).collect()
}

/// Observe every vendor that has desired objects or bindings, concurrently. A vendor that cannot
/// be observed is reported as unavailable; the others are planned normally.
pub async fn observe(vendors: &Vendors, desired: &[Arc<DesiredObject>], state: &StateSnapshot) -> ObservedState {
    observe_verifying(vendors, desired, state, &std::collections::BTreeSet::new()).await
}

/// As [`observe`], reading the objects `verify` names in full where a vendor otherwise reads a
/// random sample (see [`ObserveScope::verify`]).
pub async fn observe_verifying(
    vendors: &Vendors,
    desired: &[Arc<DesiredObject>],
    state: &StateSnapshot,
    verify: &std::collections::BTreeSet<crate::core::ObjectKey>,
) -> ObservedState {
    let mut wanted: BTreeMap<Vendor, ObserveScope> = BTreeMap::new();
    for k in verify {
        wanted.entry(k.vendor).or_default().verify.insert(k.clone());
    }
    for d in desired {
        wanted.entry(d.key.vendor).or_default().desired.push(Arc::clone(d));
    }
    for (k, b) in &state.bindings {
        wanted.entry(k.vendor).or_default().bound.insert(k.clone(), b.clone());
    }
    for (k, i) in &state.intents {
        wanted.entry(k.vendor).or_default().intents.insert(k.clone(), i.clone());
    }
    let mut observed = ObservedState::default();
    let mut tasks = tokio::task::JoinSet::new();
    let mut task_vendor = std::collections::HashMap::new();
    for (vendor, scope) in wanted {
        match vendors.readers.get(&vendor) {
            Some(reader) => {
                let reader = reader.clone();
                use tracing::Instrument;
                let span = tracing::info_span!("observe", vendor = %vendor);
                let task = tasks.spawn(async move { (vendor, reader.observe(&scope).await) }.instrument(span));
                // A task that panics reports no vendor: remember whose it is.
                task_vendor.insert(task.id(), vendor);
            }
            None => {
                let why = vendors.broken.get(&vendor).cloned().unwrap_or_else(|| {
                    format!("no connection is configured for it (connections.{vendor} in tenantry.yaml)")
                });
                observed.unavailable.insert(vendor, why);
            }
        }
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((vendor, Ok(o))) => {
                tracing::info!(vendor = %vendor, objects = o.objects.len(), "observed");
                observed.objects.extend(o.objects);
                observed.work.extend(o.work);
                observed.unreadable.extend(o.unreadable);
            }
            Ok((vendor, Err(e))) => {
                let mut why = e.message.clone();
                if let Some(h) = &e.hint {
                    why.push_str(&format!(" (hint: {h})"));
                }
                observed.unavailable.insert(vendor, format!("{}: {why}", e.operation));
            }
            Err(e) => {
                // A panicked (or cancelled) observer: its vendor was not observed, so it is
                // unavailable like any other failure, never silently absent.
                let what = if e.is_panic() { "panicked" } else { "was cancelled" };
                match task_vendor.get(&e.id()) {
                    Some(&vendor) => {
                        tracing::error!(vendor = %vendor, "the observer {what}: {e}");
                        observed
                            .unavailable
                            .insert(vendor, format!("observe: the observer {what} (a bug in tenantry)"));
                    }
                    None => tracing::error!("an observer task {what}: {e}"),
                }
            }
        }
    }
    // Deterministic order for planning and fingerprints.
    observed.objects.sort_by(|a, b| (a.vendor, &a.kind, &a.id).cmp(&(b.vendor, &b.kind, &b.id)));
    observed
}

/// A hash of each manifest file's content, by the path shown to the user.
pub fn manifest_files(sources: &SourceMap) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut id = 0;
    while let Some(f) = sources.file(id) {
        let digest = Sha256::digest(f.text.as_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        files.insert(f.display.to_string_lossy().replace('\\', "/"), format!("sha256:{hex}"));
        id += 1;
    }
    files
}

/// The time to plan at: this machine's clock moved by `skew` (zero, except against a sandbox
/// whose clock was moved, whose time is the vendors' time).
pub fn now_with(skew: jiff::SignedDuration) -> Timestamp {
    let now = Timestamp::now();
    now.checked_add(skew).unwrap_or(now)
}

/// Desire, observe and plan in one call.
pub async fn make_plan(
    desired_state: &DesiredState,
    sources: &SourceMap,
    vendors: &Vendors,
    state: &StateSnapshot,
    options: PlanOptions,
    now: Timestamp,
) -> Plan {
    make_plan_verifying(desired_state, sources, vendors, state, options, now, false).await
}

/// As [`make_plan`]; with `saved` (a plan to save and apply later), the objects the plan
/// touches are then read again in full and the plan made from that, so its fingerprints of
/// them hold what the vendors report, never a verification sample's pick (applying the file
/// reads them in full too, see [`touched_keys`]).
pub async fn make_plan_verifying(
    desired_state: &DesiredState,
    sources: &SourceMap,
    vendors: &Vendors,
    state: &StateSnapshot,
    options: PlanOptions,
    now: Timestamp,
    saved: bool,
) -> Plan {
    let models = crate::provider::models();
    let desired = desire(desired_state, &models);
    let make = |observed: &ObservedState| {
        crate::plan::plan(&PlanInputs {
            desired: &desired,
            observed,
            state,
            models: &models,
            now,
            options: options.clone(),
            manifest_files: manifest_files(sources),
        })
    };
    let plan = make(&observe(vendors, &desired, state).await);
    if !saved {
        return plan;
    }
    let verify = touched_keys(&plan, &desired);
    if verify.is_empty() {
        return plan;
    }
    make(&observe_verifying(vendors, &desired, state, &verify).await)
}

/// The keys of the objects a plan's actions touch, and of everything those depend on (parents
/// and dependencies, transitively): what a saved plan's staleness is checked on.
pub fn touched_keys(plan: &Plan, desired: &[Arc<DesiredObject>]) -> std::collections::BTreeSet<crate::core::ObjectKey> {
    let by_key: BTreeMap<&crate::core::ObjectKey, &DesiredObject> =
        desired.iter().map(|d| (&d.key, d.as_ref())).collect();
    let planned: BTreeMap<&crate::core::ObjectKey, &DesiredObject> =
        plan.actions.iter().filter_map(|a| a.object.as_deref().map(|d| (&d.key, d))).collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut stack: Vec<&crate::core::ObjectKey> = plan.actions.iter().map(|a| &a.key).collect();
    while let Some(key) = stack.pop() {
        if !seen.insert(key.clone()) {
            continue;
        }
        if let Some(d) = planned.get(key).or_else(|| by_key.get(key)) {
            stack.extend(d.parent.iter());
            stack.extend(d.depends_on.iter().map(|dep| &dep.key));
        }
    }
    seen
}
