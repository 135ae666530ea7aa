//! The loop's steps glued together, for the CLI and tests: desire (pure), observe (I/O, every
//! vendor at once), plan (pure). Applying lives in `apply`.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::manifest::SourceMap;
use crate::model::{DesiredState, Vendor};
use crate::plan::{Plan, PlanInputs, PlanOptions};
use crate::provider::{DesiredObject, ObserveScope, ObservedState, VendorModel, VendorReader, VendorWriter};
use crate::state::StateSnapshot;

/// The vendors a run talks to: a reader and a writer per vendor.
#[derive(Clone, Default)]
pub struct Vendors {
    pub readers: BTreeMap<Vendor, Arc<dyn VendorReader>>,
    pub writers: BTreeMap<Vendor, Arc<dyn VendorWriter>>,
}

impl Vendors {
    pub fn add<T: VendorReader + VendorWriter + 'static>(&mut self, vendor: Vendor, v: Arc<T>) {
        self.readers.insert(vendor, v.clone());
        self.writers.insert(vendor, v);
    }
}

/// Every vendor's desired objects for the manifests.
pub fn desire(desired: &DesiredState, models: &[Box<dyn VendorModel>]) -> Vec<DesiredObject> {
    models.iter().flat_map(|m| m.desire(desired)).collect()
}

/// Observe every vendor that has desired objects or bindings, concurrently. A vendor that cannot
/// be observed is reported as unavailable; the others are planned normally.
pub async fn observe(vendors: &Vendors, desired: &[DesiredObject], state: &StateSnapshot) -> ObservedState {
    let mut wanted: BTreeMap<Vendor, ObserveScope> = BTreeMap::new();
    for d in desired {
        wanted.entry(d.key.vendor).or_default().desired.push(d.clone());
    }
    for (k, b) in &state.bindings {
        wanted.entry(k.vendor).or_default().bound.insert(k.clone(), b.clone());
    }
    for (k, i) in &state.intents {
        wanted.entry(k.vendor).or_default().intents.insert(k.clone(), i.clone());
    }
    let mut observed = ObservedState::default();
    let mut tasks = tokio::task::JoinSet::new();
    for (vendor, scope) in wanted {
        match vendors.readers.get(&vendor) {
            Some(reader) => {
                let reader = reader.clone();
                tasks.spawn(async move {
                    let span = tracing::info_span!("observe", vendor = %vendor);
                    let _enter = span.enter();
                    (vendor, reader.observe(&scope).await)
                });
            }
            None => {
                observed.unavailable.insert(vendor, "no connection is configured for it in tenantry.yaml".into());
            }
        }
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((vendor, Ok(o))) => {
                tracing::info!(vendor = %vendor, objects = o.objects.len(), "observed");
                observed.objects.extend(o.objects);
                observed.work.extend(o.work);
            }
            Ok((vendor, Err(e))) => {
                let mut why = e.message.clone();
                if let Some(h) = &e.hint {
                    why.push_str(&format!(" (hint: {h})"));
                }
                observed.unavailable.insert(vendor, format!("{}: {why}", e.operation));
            }
            Err(e) => tracing::error!("an observer task failed: {e}"),
        }
    }
    // Deterministic order for planning and fingerprints.
    observed.objects.sort_by(|a, b| (a.vendor, &a.kind, &a.id).cmp(&(b.vendor, &b.kind, &b.id)));
    observed
}

/// A hash of every manifest file's path and content.
pub fn manifests_fingerprint(sources: &SourceMap) -> String {
    let mut hasher = Sha256::new();
    let mut id = 0;
    while let Some(f) = sources.file(id) {
        hasher.update(f.display.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(f.text.as_bytes());
        hasher.update([0]);
        id += 1;
    }
    format!("sha256:{}", hasher.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>())
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
    let models = crate::provider::models();
    let desired = desire(desired_state, &models);
    let observed = observe(vendors, &desired, state).await;
    crate::plan::plan(&PlanInputs {
        desired: &desired,
        observed: &observed,
        state,
        models: &models,
        now,
        options,
        manifests_fingerprint: manifests_fingerprint(sources),
    })
}
