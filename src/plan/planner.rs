//! The planning algorithm. Pure and deterministic: inputs are values, iteration is over sorted
//! collections, and time is an input.
//!
//! For each desired object, in dependency order:
//! 1. find its vendor object: by binding, by `externalId`, else by natural key (adopted only when
//!    it carries tenantry's owner marker, or an unfinished intent or portal task explains it;
//!    otherwise it is a conflict, never taken over);
//! 2. if none: create / register / open a portal task, unless a dependency is missing or not
//!    ready, which blocks it with the dependency's reason;
//! 3. if found: diff fields (observable ones against the vendor, the rest against what tenantry
//!    last applied), route each change by its update rule (API sync, portal task, create-only),
//!    apply transition rules (one-way, refused), follow pending states and their deadlines;
//!    compare where the vendor has it (its parent) with where the manifests put it: a move is a
//!    `parent` change, synced where the vendor can move it ([`VendorModel::relocate`]), else
//!    blocked with the reason.
//!
//! Then owned objects whose manifest is gone become orphans (deleted only with prune).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value as Json;

use super::{Action, ActionKind, Fingerprints, Orphan, Plan, PlanOptions, TaskSpec};
use crate::core::{Binding, StateSnapshot, TaskRecord};
use crate::core::{
    Change, DesiredObject, Field, FieldValue, Need, ObjectKey, ObjectState, ObservedObject, ObservedState, Overdue,
    PortalForm, Realize, Relocate, Retire, TransitionRule, Update, VendorModel, Verify, WorkStatus,
};
use crate::core::{Party, fmt_time, secret_ref_text};
use crate::model::ManifestRef;

/// What planning reads.
pub struct PlanInputs<'a> {
    /// Desired objects of every vendor (already narrowed by `--target` / `--exclude`).
    pub desired: &'a [Arc<DesiredObject>],
    pub observed: &'a ObservedState,
    pub state: &'a StateSnapshot,
    pub models: &'a [Box<dyn VendorModel>],
    pub now: Timestamp,
    pub options: PlanOptions,
    /// Hash of each manifest file by path (see `engine::manifest_files`).
    pub manifest_files: BTreeMap<String, String>,
}

/// Plan. Pure: no I/O, no clock, no randomness.
pub fn plan(inputs: &PlanInputs<'_>) -> Plan {
    let mut p = Planner::new(inputs);
    for d in topological_order(inputs.desired, &p.by_key) {
        p.object(d);
    }
    if inputs.options.targets.is_empty() && inputs.options.excludes.is_empty() {
        p.orphans();
    }
    p.finish()
}

/// What the planner knows about an object once it has been considered.
#[derive(Debug, Clone)]
enum Res {
    /// It exists at the vendor (or its portal step is attested); `failed` when the vendor
    /// reports it failed (so what needs it is blocked, not waiting).
    Exists { id: String, ready: bool, pending: Option<String>, failed: bool },
    /// This plan creates or registers it (the action id).
    Planned { action: String },
    /// It does not exist and will not this run (why, in words); `waiting` when it comes once
    /// something completes on its own (a vendor's processing, a portal task, an earlier step),
    /// not when a change is needed (a conflict, a vendor rule, an unavailable vendor).
    Missing { why: String, waiting: bool },
}

struct Planner<'a> {
    inputs: &'a PlanInputs<'a>,
    by_key: HashMap<&'a ObjectKey, &'a Arc<DesiredObject>>,
    /// Observed objects by (vendor, kind), by id and by (natural key name, lowercased value).
    index: BTreeMap<(crate::model::Vendor, &'a str), Kind<'a>>,
    resolved: HashMap<&'a ObjectKey, Res>,
    actions: Vec<Action>,
    fingerprints: BTreeMap<String, String>,
    /// Per observed object (handle): the keys of the objects whose planning relied on it.
    used_by: BTreeMap<String, BTreeSet<String>>,
    /// Observed objects matched to a desired object.
    matched: HashSet<(crate::model::Vendor, &'a str, &'a str)>,
    orphans: Vec<Orphan>,
    /// Open portal tasks whose result the vendor now shows.
    verified: BTreeSet<String>,
    /// Portal steps done on a person's word that the vendor does not show.
    attested: Vec<super::Attested>,
    /// Vendor objects more than one binding names, with the keys that name them.
    shared: HashMap<(crate::model::Vendor, &'a str, &'a str), Vec<&'a ObjectKey>>,
    /// The state's bindings and tasks by object key.
    bindings: HashMap<&'a ObjectKey, &'a Binding>,
    tasks: HashMap<&'a ObjectKey, Vec<&'a TaskRecord>>,
    /// Owners whose record the state store has lost (no binding at all) while their objects at
    /// these vendors carry tenantry's owner marker; built the first time a claim needs it.
    lost: std::cell::OnceCell<Lost<'a>>,
}

/// Owners whose record the state store lost (see [`Planner::lost_record`]), and the owners it
/// holds bindings for.
struct Lost<'a> {
    /// Owners the store holds nothing for, and what says the store lost their record.
    evidence: HashMap<&'a ManifestRef, Evidence>,
    remembered: HashSet<&'a ManifestRef>,
    /// The vendor objects (vendor, kind, id) some binding names: never another key's to find.
    bound: HashSet<(crate::model::Vendor, &'a str, &'a str)>,
}

/// What says the store lost an owner's record (borrowed out as [`crate::core::Lost`]).
enum Evidence {
    Rebind,
    MarkedAt(Vec<crate::model::Vendor>),
    Estate(usize),
}

/// The observed objects of one (vendor, kind), indexed the two ways planning looks them up.
#[derive(Default)]
struct Kind<'a> {
    by_id: HashMap<&'a str, &'a ObservedObject>,
    by_name: HashMap<(&'a str, String), Vec<&'a ObservedObject>>,
}

/// How the plan names the MSP's own tenant or account (the connection's `home`).
const HOME: &str = "the MSP itself (the connection's home)";

/// Where a moved object should go.
enum ParentTarget {
    /// The parent exists at the vendor with this id.
    Known(String),
    /// This plan creates the parent (the action id): the move runs after it.
    Planned(String),
    /// The parent does not exist and is not created this run.
    Missing { why: String, waiting: bool },
}

/// A difference of parent: the `parent` change and where it goes.
struct ParentMove {
    change: Change,
    target: ParentTarget,
}

/// How a desired object was found at the vendor.
enum Found<'a> {
    Bound(&'a ObservedObject, &'a Binding),
    /// Bound, but the vendor no longer has it.
    Gone(&'a Binding),
    /// Bound to an object another desired object is bound to and named by.
    Misbound(&'a Binding, &'a ObjectKey),
    External(&'a ObservedObject),
    ExternalMissing(String),
    /// By natural key, with the reason it is known to be tenantry's.
    Ours(&'a ObservedObject, String),
    Conflict(&'a ObservedObject),
    Ambiguous(Vec<&'a ObservedObject>),
    Nothing,
}

impl<'a> Planner<'a> {
    fn new(inputs: &'a PlanInputs<'a>) -> Self {
        let mut index: BTreeMap<_, Kind> = BTreeMap::new();
        for o in &inputs.observed.objects {
            let kind = index.entry((o.vendor, o.kind.as_str())).or_default();
            kind.by_id.insert(o.id.as_str(), o);
            for (name, value) in &o.natural_key {
                kind.by_name.entry((name.as_str(), value.to_ascii_lowercase())).or_default().push(o);
            }
        }
        for kind in index.values_mut() {
            for list in kind.by_name.values_mut() {
                list.sort_by(|a, b| a.id.cmp(&b.id));
            }
        }
        // A vendor object is one customer's: two bindings naming it mean the state store and the
        // vendor disagree (a store restored from another environment, a sandbox reset).
        let n = inputs.state.bindings.len();
        let mut bindings: HashMap<&ObjectKey, &Binding> = HashMap::with_capacity(n);
        let mut first: HashMap<(crate::model::Vendor, &str, &str), &ObjectKey> = HashMap::with_capacity(n);
        let mut shared: HashMap<_, Vec<&ObjectKey>> = HashMap::new();
        for (key, b) in &inputs.state.bindings {
            bindings.insert(key, b);
            let at = (key.vendor, key.kind.as_str(), b.vendor_id.as_str());
            if let Some(earlier) = first.insert(at, key) {
                shared.entry(at).or_insert_with(|| vec![earlier]).push(key);
            }
        }
        let mut tasks: HashMap<&ObjectKey, Vec<&TaskRecord>> = HashMap::new();
        for t in &inputs.state.tasks {
            tasks.entry(&t.key).or_default().push(t);
        }
        Planner {
            inputs,
            shared,
            bindings,
            tasks,
            by_key: inputs.desired.iter().map(|d| (&d.key, d)).collect(),
            index,
            resolved: HashMap::with_capacity(inputs.desired.len()),
            actions: Vec::new(),
            fingerprints: BTreeMap::new(),
            used_by: BTreeMap::new(),
            matched: HashSet::new(),
            orphans: Vec::new(),
            verified: BTreeSet::new(),
            lost: std::cell::OnceCell::new(),
            attested: Vec::new(),
        }
    }

    /// What says the state store lost `owner`'s record, when it holds nothing for `owner` (see
    /// [`crate::core::claim`]).
    fn lost_record(&self, owner: &ManifestRef) -> Option<crate::core::Lost<'_>> {
        Some(match self.lost().evidence.get(owner)? {
            Evidence::Rebind => crate::core::Lost::Rebind,
            Evidence::MarkedAt(vendors) => crate::core::Lost::MarkedAt(vendors),
            Evidence::Estate(owners) => crate::core::Lost::Estate { owners: *owners },
        })
    }

    fn lost(&self) -> &Lost<'a> {
        self.lost.get_or_init(|| {
            let inputs = self.inputs;
            // An owner the store holds anything for: a binding, an unfinished create, a task.
            let remembered: HashSet<&ManifestRef> = (inputs.state.bindings.keys())
                .chain(inputs.state.intents.keys())
                .chain(inputs.state.tasks.iter().map(|t| &t.key))
                .map(|k| &k.owner)
                .collect();
            let mut by_marker: HashMap<&str, &ManifestRef> = HashMap::new();
            for d in inputs.desired {
                // Only a marker tenantry wrote counts, not one that is also data a person
                // enters (a VeloCloud account number, a WatchGuard contact e-mail).
                if let Some(m) = d.marker.as_ref().filter(|m| m.starts_with(crate::model::MARKER_PREFIX))
                    && !remembered.contains(&d.key.owner)
                {
                    by_marker.insert(m.as_str(), &d.key.owner);
                }
            }
            let mut marked_at: HashMap<&ManifestRef, Vec<crate::model::Vendor>> = HashMap::new();
            for o in &inputs.observed.objects {
                if let Some(owner) = o.marker.as_deref().and_then(|m| by_marker.get(m)) {
                    let vendors = marked_at.entry(*owner).or_default();
                    if !vendors.contains(&o.vendor) {
                        vendors.push(o.vendor);
                    }
                }
            }
            // Owners with no object tenantry writes its marker on (every vendor they use keeps
            // none): the store's loss shows only in the other owners' marked objects.
            let markable: HashSet<&ManifestRef> = (inputs.desired.iter())
                .filter(|d| d.marker.as_ref().is_some_and(|m| m.starts_with(crate::model::MARKER_PREFIX)))
                .map(|d| &d.key.owner)
                .collect();
            let mut evidence: HashMap<&ManifestRef, Evidence> = HashMap::new();
            for d in inputs.desired.iter().filter(|d| !remembered.contains(&d.key.owner)) {
                let owner = &d.key.owner;
                let why = if inputs.options.rebind {
                    Evidence::Rebind
                } else if let Some(vendors) = marked_at.get(owner) {
                    let mut vendors = vendors.clone();
                    vendors.sort();
                    Evidence::MarkedAt(vendors)
                } else if !markable.contains(owner) && !marked_at.is_empty() {
                    Evidence::Estate(marked_at.len())
                } else {
                    continue;
                };
                evidence.entry(owner).or_insert(why);
            }
            let bound =
                inputs.state.bindings.iter().map(|(k, b)| (k.vendor, k.kind.as_str(), b.vendor_id.as_str())).collect();
            Lost { evidence, remembered, bound }
        })
    }

    /// The task of this kind for `key` that counts (see `state::newest_task`), by the index.
    fn task(&self, key: &ObjectKey, task: &str) -> Option<&'a TaskRecord> {
        crate::core::newest_task(self.tasks.get(key)?.iter().copied(), task)
    }

    /// A readable page name for a portal task made from field changes, as the vendor's model
    /// names it.
    fn portal_page(&self, vendor: crate::model::Vendor, task: &str) -> String {
        self.model(vendor).map(|m| m.portal_page(task)).unwrap_or_else(|| format!("vendor portal ({task})"))
    }

    fn model(&self, vendor: crate::model::Vendor) -> Option<&'a dyn VendorModel> {
        self.inputs.models.iter().find(|m| m.vendor() == vendor).map(|m| m.as_ref())
    }

    fn observed(&self, d: &DesiredObject, id: &str) -> Option<&'a ObservedObject> {
        self.index.get(&(d.key.vendor, d.key.kind.as_str()))?.by_id.get(id).copied()
    }

    /// Observed objects of `d`'s kind carrying its first natural key value (sorted by id).
    fn named_like<'s>(&'s self, d: &'s DesiredObject) -> &'s [&'a ObservedObject] {
        let Some((name, value)) = d.natural_key.values.iter().next() else { return &[] };
        self.index
            .get(&(d.key.vendor, d.key.kind.as_str()))
            .and_then(|k| k.by_name.get(&(name.as_str(), value.to_ascii_lowercase())))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Remember that planning `key` relied on `o`: its fingerprint, and that `key` used it (so a
    /// saved plan is checked only against the objects its actions touch or depend on).
    fn rely_on(&mut self, o: &'a ObservedObject, key: &ObjectKey) {
        let handle = o.handle();
        self.used_by.entry(handle.clone()).or_default().insert(key.id());
        self.fingerprints.insert(handle, o.fingerprint());
        self.matched.insert((o.vendor, o.kind.as_str(), o.id.as_str()));
    }

    fn push(&mut self, action: Action) -> String {
        let id = action.id.clone();
        self.actions.push(action);
        id
    }

    fn object(&mut self, d: &'a Arc<DesiredObject>) {
        if let Some(why) = self.inputs.observed.unavailable.get(&d.key.vendor) {
            self.resolved.insert(
                &d.key,
                Res::Missing { why: format!("{} could not be observed: {why}", d.key.vendor), waiting: false },
            );
            return;
        }
        if let Some(why) = self.inputs.observed.unreadable.get(&d.key) {
            self.resolved.insert(
                &d.key,
                Res::Missing {
                    why: format!("{} could not be read at {}: {why}", d.title, d.key.vendor),
                    waiting: false,
                },
            );
            return;
        }
        let parent_id = match &d.parent {
            Some(pk) => match self.resolved.get(pk) {
                Some(Res::Exists { id, .. }) => Some(Some(id.clone())),
                _ => None, // the parent does not exist yet: nothing can be under it
            },
            None => Some(d.home_parent.clone()),
        };
        match self.find(d, parent_id.as_ref()) {
            Found::Bound(o, b) => self.matched_object(d, o, Some(b), None, false),
            Found::External(o) => {
                let how = format!("externalId {} in the manifest names it", o.id);
                self.matched_object(d, o, None, Some(how), false);
            }
            Found::Ours(o, how) => {
                // Neither an unfinished create nor a portal task explains it: what tenantry
                // applied was in a state store that is gone.
                let task = match &d.realize {
                    Realize::Portal(form) => self.task(&d.key, &form.task),
                    _ => None,
                };
                // Only for an owner the store holds nothing for: otherwise (a new service of a
                // known customer found under the reseller tenantry manages) what the vendor cannot
                // report was never applied by tenantry, and is set, not assumed.
                let recovered = task.is_none()
                    && !self.inputs.state.intents.contains_key(&d.key)
                    && !self.lost().remembered.contains(&d.key.owner);
                self.matched_object(d, o, None, Some(how), recovered)
            }
            Found::Gone(b) => {
                let why = format!("it was bound to id {}, which no longer exists at the vendor", b.vendor_id);
                self.missing_object(d, Some(why));
            }
            Found::Misbound(b, other) => {
                let why = format!(
                    "its binding names id {}, but that is {}'s {} (bound to it too, and named as it)",
                    b.vendor_id, other.owner, d.key.kind
                );
                self.missing_object(d, Some(why));
            }
            Found::Nothing => self.missing_object(d, None),
            Found::ExternalMissing(id) => {
                let a = self.base(d, ActionKind::Adopt, format!("externalId {id} is set in the manifest"));
                let a = Action {
                    blocked: Some(format!("no {} with id {id} exists at {}", d.key.kind, d.key.vendor)),
                    hint: Some("check the id, or remove externalId to have tenantry create the object".into()),
                    ..a
                };
                let why = a.blocked.clone().unwrap_or_default();
                self.push(a);
                self.resolved.insert(&d.key, Res::Missing { why, waiting: false });
            }
            Found::Conflict(o) => {
                self.rely_on(o, &d.key);
                let mut hint = adopt_hint(d, &o.id);
                // It would be taken as tenantry's had the user said the store was lost.
                if !self.inputs.options.rebind
                    && !self.lost().remembered.contains(&d.key.owner)
                    && crate::core::claim(d, o, None, None, false, Some(&crate::core::Lost::Rebind)).is_some()
                {
                    hint.push_str("\nor, if tenantry made it and lost its state store, plan and apply with --rebind");
                }
                let a = Action {
                    vendor_id: Some(o.id.clone()),
                    hint: Some(hint),
                    ..self.base(
                        d,
                        ActionKind::Conflict,
                        format!(
                            "{} {} already exists at {} (id {}) but is not managed by tenantry: no binding and no owner marker",
                            d.key.kind,
                            d.natural_key.describe(),
                            d.key.vendor,
                            o.id
                        ),
                    )
                };
                self.push(a);
                self.resolved.insert(
                    &d.key,
                    Res::Missing { why: "it conflicts with an existing object".into(), waiting: false },
                );
            }
            Found::Ambiguous(list) => {
                for o in &list {
                    self.rely_on(o, &d.key);
                }
                let ids: Vec<&str> = list.iter().map(|o| o.id.as_str()).collect();
                let a = Action {
                    hint: Some(format!(
                        "set externalId to the one to adopt (at {} under {}): one of {}",
                        d.adoption.as_ref().map(|a| a.at.to_string()).unwrap_or_default(),
                        d.adoption.as_ref().map(|a| a.at.path.clone()).unwrap_or_default(),
                        ids.join(", ")
                    )),
                    ..self.base(
                        d,
                        ActionKind::Conflict,
                        format!("{} objects at {} match {}", list.len(), d.key.vendor, d.natural_key.describe()),
                    )
                };
                self.push(a);
                self.resolved
                    .insert(&d.key, Res::Missing { why: "several existing objects match it".into(), waiting: false });
            }
        }
    }

    fn find(&self, d: &DesiredObject, parent_id: Option<&Option<String>>) -> Found<'a> {
        let state = self.inputs.state;
        if let Some(b) = self.bindings.get(&d.key).copied() {
            let Some(o) = self.observed(d, &b.vendor_id) else { return Found::Gone(b) };
            let sharing = self.shared.get(&(d.key.vendor, d.key.kind.as_str(), b.vendor_id.as_str()));
            if let Some(keys) = sharing
                && !names_match(d, o)
                && let Some(other) =
                    keys.iter().find(|k| ***k != d.key && self.by_key.get(**k).is_some_and(|x| names_match(x, o)))
            {
                return Found::Misbound(b, other);
            }
            return Found::Bound(o, b);
        }
        if let Some(id) = d.adoption.as_ref().and_then(|a| a.external_id.clone()) {
            return match self.observed(d, &id) {
                Some(o) => Found::External(o),
                None => Found::ExternalMissing(id),
            };
        }
        // Under a parent that does not exist yet, nothing can exist, but something of ours
        // may sit elsewhere.
        let Some(parent_id) = parent_id else { return self.marked_elsewhere(d) };
        let matches: Vec<&ObservedObject> =
            self.named_like(d).iter().copied().filter(|o| natural_match(d, o, parent_id.as_deref())).collect();
        match matches.as_slice() {
            [] => self.marked_elsewhere(d),
            [o] => {
                let task = match &d.realize {
                    Realize::Portal(form) => self.task(&d.key, &form.task),
                    _ => None,
                };
                let managed_parent = d.parent.is_some() && parent_id.is_some();
                let lost = if d.identifying.is_empty() { None } else { self.lost_record(&d.key.owner) };
                match crate::core::claim(d, o, state.intents.get(&d.key), task, managed_parent, lost.as_ref()) {
                    Some(why) => Found::Ours(o, why),
                    None => Found::Conflict(o),
                }
            }
            _ => Found::Ambiguous(matches),
        }
    }

    /// Not under the parent the manifests name, but carrying its name and marker elsewhere:
    /// tenantry's, moved in the manifests while the store was lost (its parent is compared, and
    /// moved or blocked, once it is matched). Creating another would duplicate it.
    ///
    /// Never an object a binding names (it is another key's). A marker tenantry wrote (`tenantry:...`) says so;
    /// a vendor without a marker field has only what a person also enters (a WatchGuard
    /// contact e-mail): that alone is a conflict, taken over only with `--rebind`.
    fn marked_elsewhere(&self, d: &DesiredObject) -> Found<'a> {
        let Some(m) = d.marker.as_ref() else { return Found::Nothing };
        if d.parent.is_none() && d.home_parent.is_none() {
            return Found::Nothing;
        }
        let lost = self.lost();
        let marked: Vec<&ObservedObject> = self
            .named_like(d)
            .iter()
            .copied()
            .filter(|o| o.marker.as_ref() == Some(m) && names_match(d, o))
            .filter(|o| !lost.bound.contains(&(o.vendor, o.kind.as_str(), o.id.as_str())))
            .collect();
        let [o] = marked.as_slice() else { return Found::Nothing };
        if m.starts_with(crate::model::MARKER_PREFIX) {
            Found::Ours(o, "it carries tenantry's owner marker (under another parent)".into())
        } else if self.inputs.options.rebind {
            Found::Ours(
                o,
                "it carries what tenantry entered (under another parent) and --rebind says the state store was lost"
                    .into(),
            )
        } else {
            Found::Conflict(o)
        }
    }

    /// The skeleton of an action for `d`.
    fn base(&self, d: &Arc<DesiredObject>, kind: ActionKind, reason: String) -> Action {
        Action {
            id: format!("{}:{}", d.key.id(), kind.word()),
            kind,
            key: d.key.clone(),
            title: d.title.clone(),
            vendor_id: None,
            reason,
            changes: Vec::new(),
            depends_on: Vec::new(),
            blocked: None,
            deferred: false,
            irreversible: false,
            hint: None,
            since: None,
            waits_for: None,
            overdue: false,
            task: None,
            object: Some(Arc::clone(d)),
            version: None,
            record: BTreeMap::new(),
            goes_with: Vec::new(),
        }
    }

    /// Check dependencies: the actions to wait for, or why the object cannot be made now, and
    /// whether that lifts once something completes on its own (see [`Res::Missing`]).
    fn dependencies(&self, d: &DesiredObject) -> Result<Vec<String>, (String, bool)> {
        let mut after = Vec::new();
        for dep in &d.depends_on {
            match self.resolved.get(&dep.key) {
                Some(Res::Exists { ready, pending, failed, .. }) => {
                    if dep.need == Need::Ready && !ready {
                        return Err((
                            match pending {
                                Some(p) => format!("{}: {p}", dep.why),
                                None => dep.why.clone(),
                            },
                            !failed,
                        ));
                    }
                }
                Some(Res::Planned { action }) => {
                    if dep.need == Need::Ready {
                        return Err((format!("{} (it is created in this run, then awaited)", dep.why), true));
                    }
                    after.push(action.clone());
                }
                Some(Res::Missing { why, waiting }) => return Err((format!("{} ({why})", dep.why), *waiting)),
                None => return Err((dep.why.clone(), false)),
            }
        }
        after.sort();
        after.dedup();
        Ok(after)
    }

    fn missing_object(&mut self, d: &'a Arc<DesiredObject>, gone: Option<String>) {
        let deps = self.dependencies(d);
        let intent = self.inputs.state.intents.get(&d.key);
        match &d.realize {
            Realize::Create | Realize::Register => {
                let kind = if matches!(d.realize, Realize::Create) { ActionKind::Create } else { ActionKind::Register };
                let work = self.inputs.observed.work.get(&d.key);
                if let (Some(i), Some(WorkStatus::Pending)) = (intent, work) {
                    let mut a = self.base(
                        d,
                        ActionKind::Await,
                        format!(
                            "{} is still completing the {} started at {} ({})",
                            d.key.vendor.title(),
                            kind.word(),
                            fmt_time(i.started_at),
                            i.detail.clone().unwrap_or_default()
                        ),
                    );
                    a.since = Some(i.started_at);
                    a.waits_for = Some(Party::Vendor);
                    a.object = None;
                    self.push(a);
                    self.resolved.insert(
                        &d.key,
                        Res::Missing { why: "its creation is still in progress".into(), waiting: true },
                    );
                    return;
                }
                let reason = match (&gone, intent, work) {
                    (None, Some(i), Some(WorkStatus::Failed(message))) => format!(
                        "the attempt started at {} failed at the vendor ({message}); not found, so {} it again",
                        fmt_time(i.started_at),
                        kind.word_ing()
                    ),
                    (Some(g), _, _) => format!("{g}; {} it again", kind.word_ing()),
                    (None, Some(i), _) => format!(
                        "an earlier run started this at {} and did not finish; not found at the vendor, so {} it again",
                        fmt_time(i.started_at),
                        kind.word_ing()
                    ),
                    (None, None, _) if kind == ActionKind::Register => {
                        format!("not registered yet ({})", d.natural_key.describe())
                    }
                    (None, None, _) => format!("not found at {} ({})", d.key.vendor, d.natural_key.describe()),
                };
                let mut a = self.base(d, kind, reason);
                a.changes = creation_changes(d);
                a.record = creation_record(d);
                match deps {
                    Ok(after) => {
                        a.depends_on = after;
                        let id = self.push(a);
                        // Fields the API cannot set at creation: portal tasks once it exists.
                        for (task_kind, list) in portal_fields(d) {
                            let form = PortalForm {
                                task: task_kind.clone(),
                                page: self.portal_page(d.key.vendor, &task_kind),
                                verify: Verify::Attestation,
                            };
                            let suffix = task_kind.rsplit('/').next().unwrap_or(&task_kind).to_string();
                            let mut t = self.base(
                                d,
                                ActionKind::PortalTask,
                                format!(
                                    "{} cannot be set through the API",
                                    list.iter().map(|c| format!("`{}`", c.field)).collect::<Vec<_>>().join(", ")
                                ),
                            );
                            t.id = format!("{}:task:{suffix}", d.key.id());
                            t.changes = list.clone();
                            t.task = Some(task_spec(d, &form, Some(&list)));
                            t.depends_on = vec![id.clone()];
                            self.push(t);
                        }
                        self.resolved.insert(&d.key, Res::Planned { action: id });
                    }
                    Err((why, waiting)) => {
                        a.blocked = Some(why);
                        a.deferred = waiting;
                        self.push(a);
                        self.resolved.insert(&d.key, Res::Missing { why: "it is blocked".into(), waiting });
                    }
                }
            }
            Realize::Follows => {
                // It appears by itself once its dependencies are there: wait quietly until then.
                let (why, waiting) = match deps {
                    Ok(_) => {
                        let mut a = self.base(
                            d,
                            ActionKind::Await,
                            format!("waiting for {} to report it", d.key.vendor.title()),
                        );
                        a.waits_for = Some(Party::Vendor);
                        a.object = None;
                        self.push(a);
                        ("the vendor does not report it yet".to_string(), true)
                    }
                    Err(blocked) => blocked,
                };
                self.resolved.insert(&d.key, Res::Missing { why, waiting });
            }
            Realize::Portal(form) => {
                if let Some(task) = self.task(&d.key, &form.task) {
                    match (&task.status, form.verify) {
                        (crate::core::TaskStatus::Open, _) => {
                            let mut a = self.base(
                                d,
                                ActionKind::Await,
                                format!(
                                    "waiting for portal task {} since {}: {}",
                                    task.id,
                                    fmt_time(task.created_at),
                                    form.page
                                ),
                            );
                            a.since = Some(task.created_at);
                            a.waits_for = Some(Party::Operator);
                            a.hint = Some(format!("when it is done, run `tenantry tasks done {}`", task.id));
                            if task.delivered.is_none() {
                                // Nobody has it yet: nothing to wait for until it is delivered.
                                a.reason = format!("{} (not delivered yet; apply delivers it again)", a.reason);
                                a.waits_for = None;
                            }
                            if form.verify == Verify::Observation {
                                a.hint = Some(format!(
                                    "it closes itself once the result shows at {}; `tenantry tasks show {}` has the values to enter",
                                    d.key.vendor, task.id
                                ));
                            }
                            self.push(a);
                            self.resolved.insert(
                                &d.key,
                                Res::Missing { why: format!("portal task {} is open", task.id), waiting: true },
                            );
                        }
                        (_, Verify::Attestation) if task.is_done() => {
                            let why = self.model(d.key.vendor).and_then(|m| m.attested_note(d)).unwrap_or_else(|| {
                                format!("{} cannot show this step through its API", d.key.vendor.title())
                            });
                            let note = match &task.status {
                                crate::core::TaskStatus::Done { at, by, .. } => {
                                    let who = by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default();
                                    Some(format!("attested{who} at {}, not verified: {why}", fmt_time(*at)))
                                }
                                // Seen at the vendor once, not now: the step may still be done
                                // (the vendor shows it only sometimes), but nothing shows it.
                                crate::core::TaskStatus::Verified { at } => Some(format!(
                                    "verified at {}, not verified now: {}; {why}",
                                    fmt_time(*at),
                                    gone.as_deref().unwrap_or("the vendor no longer shows it")
                                )),
                                _ => None,
                            };
                            if let Some(note) = note {
                                self.attested.push(super::Attested {
                                    task: task.id.clone(),
                                    key: d.key.clone(),
                                    title: d.title.clone(),
                                    note,
                                });
                            }
                            self.attested_drift(d, task);
                            self.resolved.insert(
                                &d.key,
                                Res::Exists { id: task.id.clone(), ready: true, pending: None, failed: false },
                            );
                        }
                        _ => {
                            let mut a = self.base(
                                d,
                                ActionKind::Await,
                                format!(
                                    "portal task {} was marked done; waiting to see the result at {}",
                                    task.id, d.key.vendor
                                ),
                            );
                            a.since = Some(task.created_at);
                            a.waits_for = Some(Party::Vendor);
                            self.push(a);
                            self.resolved.insert(
                                &d.key,
                                Res::Missing {
                                    why: format!("portal task {} is not visible yet", task.id),
                                    waiting: true,
                                },
                            );
                        }
                    }
                    return;
                }
                let reason = match &gone {
                    Some(g) => format!("{g}; the portal step is needed again"),
                    None => format!("{} has no API for this step: {}", d.key.vendor.title(), form.page),
                };
                let mut a = self.base(d, ActionKind::PortalTask, reason);
                a.task = Some(task_spec(d, form, None));
                if form.verify == Verify::Attestation
                    && gone.is_none()
                    && let Some(lost) = self.lost_record(&d.key.owner)
                {
                    // The vendor cannot show this step, and the record that it was done is what
                    // the store lost: it may well be done already.
                    a.reason = format!(
                        "{}; the state store holds nothing for {} while {}, so this step may already be done",
                        a.reason,
                        d.key.owner,
                        lost.evidence()
                    );
                    a.hint = Some(
                        "if the portal shows it done, mark the task done (`tenantry tasks done ID`) without doing it again"
                            .into(),
                    );
                    // Whoever the task goes to (a ticket queue, a script) must know it too.
                    if let Some(task) = a.task.as_mut() {
                        task.note = Some(format!(
                            "This step may already be done: the state store that recorded it was lost ({}). Check the portal first; if it shows the step done, close this task with `tenantry tasks done` and its id, without doing the step again.",
                            lost.evidence()
                        ));
                    }
                }
                match deps {
                    Ok(after) => {
                        a.depends_on = after;
                        self.push(a);
                        self.resolved
                            .insert(&d.key, Res::Missing { why: "it waits for a portal task".into(), waiting: true });
                    }
                    Err((why, waiting)) => {
                        a.blocked = Some(why);
                        a.deferred = waiting;
                        self.push(a);
                        self.resolved.insert(&d.key, Res::Missing { why: "it is blocked".into(), waiting });
                    }
                }
            }
        }
    }

    /// What the portal tasks of `d` entered: the values of `created` (the task that made it),
    /// then those of every later task done on it, in the order they were handed out.
    fn entered(&self, d: &DesiredObject, created: &TaskRecord) -> BTreeMap<String, Json> {
        let mut later: Vec<&TaskRecord> = self
            .tasks
            .get(&d.key)
            .into_iter()
            .flatten()
            .copied()
            .filter(|t| t.id != created.id && t.is_done() && t.created_at >= created.created_at)
            .collect();
        later.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| crate::core::task_number(&a.id).cmp(&crate::core::task_number(&b.id)))
        });
        let mut values = created.values.clone();
        for t in later {
            values.extend(t.values.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        values
    }

    /// An object that exists on a person's word only (its portal step attested, the vendor
    /// shows nothing of it): the manifest is compared with what its portal tasks entered, and
    /// a difference is a portal task (or, for a create-only field, reported), never silence.
    fn attested_drift(&mut self, d: &'a Arc<DesiredObject>, created: &TaskRecord) {
        let entered = self.entered(d, created);
        let mut portal: BTreeMap<String, Vec<Change>> = BTreeMap::new();
        let mut create_only = Vec::new();
        for (name, field) in &d.fields {
            let FieldValue::Value(want) = &field.value else { continue };
            if field.entered_only {
                continue;
            }
            let before = entered.get(name);
            if before.is_some_and(|b| json_equal(want, b)) || (before.is_none() && field.update == Update::CreateOnly) {
                continue;
            }
            // Compared with what the portal tasks entered: the vendor shows nothing.
            let c = Change {
                field: name.clone(),
                before: before.cloned(),
                after: Some(want.clone()),
                sensitive: false,
                unreadable: true,
            };
            match &field.update {
                Update::Portal { task, .. } => portal.entry(task.clone()).or_default().push(c),
                Update::Api | Update::CreateOnly => create_only.push(c),
            }
        }
        // The task is about the object under its parent (the Pulse tenant of a VDC registration).
        let target = d.parent.as_ref().and_then(|p| match self.resolved.get(p) {
            Some(Res::Exists { id, .. }) => Some(id.clone()),
            _ => None,
        });
        for (task_kind, list) in portal {
            let form = PortalForm {
                task: task_kind.clone(),
                page: self.portal_page(d.key.vendor, &task_kind),
                verify: Verify::Attestation,
            };
            let suffix = task_kind.rsplit('/').next().unwrap_or(&task_kind).to_string();
            let mut a = self.base(
                d,
                ActionKind::PortalTask,
                format!(
                    "{} (compared with what portal task {} entered; no API, a portal step)",
                    describe_changes(&list),
                    created.id
                ),
            );
            a.id = format!("{}:task:{suffix}", d.key.id());
            a.vendor_id = target.clone();
            a.changes = list.clone();
            match self.task(&d.key, &task_kind).filter(|t| t.is_open()) {
                Some(open) => {
                    a.kind = ActionKind::Await;
                    a.id = format!("{}:await:{suffix}", d.key.id());
                    a.reason = format!(
                        "waiting for portal task {} since {}: {}",
                        open.id,
                        fmt_time(open.created_at),
                        form.page
                    );
                    a.since = Some(open.created_at);
                    a.waits_for = open.delivered.is_some().then_some(Party::Operator);
                    a.hint = Some(format!("when it is done, run `tenantry tasks done {}`", open.id));
                }
                None => a.task = Some(task_spec(d, &form, Some(&list))),
            }
            self.push(a);
        }
        if !create_only.is_empty() {
            let fields: Vec<String> = create_only.iter().map(|c| format!("`{}`", c.field)).collect();
            let mut a = self.base(d, ActionKind::Sync, describe_changes(&create_only));
            a.id = format!("{}:create-only", d.key.id());
            a.vendor_id = target;
            a.changes = create_only;
            a.blocked = Some(format!("{} can only be set when the object is created", fields.join(", ")));
            a.hint = Some(format!(
                "change it in the {} portal if the vendor allows, or put the manifest back to the value portal task {} entered",
                d.key.vendor.title(),
                created.id
            ));
            self.push(a);
        }
    }

    fn matched_object(
        &mut self,
        d: &'a Arc<DesiredObject>,
        o: &'a ObservedObject,
        binding: Option<&'a Binding>,
        how: Option<String>,
        recovered: bool,
    ) {
        self.rely_on(o, &d.key);
        let model = self.model(d.key.vendor);
        let mut routed: Vec<(Change, &Field)> = Vec::new();
        // An object an earlier run of ours half-created: what it cannot report was never applied.
        let fresh = binding.is_none() && self.inputs.state.intents.contains_key(&d.key);
        // What tenantry knows it applied of what the vendor cannot report: the binding's record;
        // for an object a portal task made, what the tasks entered; for one made before the store
        // was lost, the declared values (taken as declared, and the adopt says so). Otherwise
        // nothing: what can be set is set in the adopt, and what only a create sets is unknown.
        let known: Option<std::borrow::Cow<'_, BTreeMap<String, Json>>> = match binding {
            Some(b) => Some(std::borrow::Cow::Borrowed(&b.applied)),
            None if recovered => Some(std::borrow::Cow::Owned(
                d.fields
                    .iter()
                    .filter(|(_, f)| !f.observable)
                    .map(|(n, f)| match &f.value {
                        FieldValue::Value(v) => (n.clone(), v.clone()),
                        FieldValue::Secret(r) => (n.clone(), Json::from(secret_ref_text(r))),
                    })
                    .collect(),
            )),
            None => match &d.realize {
                Realize::Portal(form) => {
                    self.task(&d.key, &form.task).map(|t| std::borrow::Cow::Owned(self.entered(d, t)))
                }
                _ => None,
            },
        };
        for (name, field) in &d.fields {
            if let Some(c) = diff_field(name, field, o, known.as_deref(), fresh) {
                routed.push((c, field));
            }
        }

        let mut api = Vec::new();
        let mut portal: BTreeMap<String, Vec<Change>> = BTreeMap::new();
        let mut create_only = Vec::new();
        let mut refused = Vec::new();
        let mut irreversible = false;
        for (c, field) in routed {
            for t in &field.transitions {
                let from_ok = t.from.is_null() || c.before.as_ref() == Some(&t.from);
                if from_ok && c.after.as_ref() == Some(&t.to) {
                    match &t.rule {
                        TransitionRule::OneWay => irreversible = true,
                        TransitionRule::Refused(r) => refused.push(format!("{}: {r}", c.field)),
                    }
                }
            }
            match &field.update {
                Update::Api => api.push(c),
                Update::Portal { task, .. } => portal.entry(task.clone()).or_default().push(c),
                Update::CreateOnly => create_only.push(c),
            }
        }
        // Vendor rules (seat licensing, images still in use, caps): they see the API changes and
        // may add to them or drop what the vendor's state makes moot.
        let before: BTreeSet<String> = api.iter().map(|c| c.field.clone()).collect();
        let vetoed = model.and_then(|m| m.assess(d, o, &mut api));
        // What the vendor rules add goes through the API, unless the vendor has no API for it
        // (then a portal task with the values the model names, verified by observation).
        let (extra, kept): (Vec<Change>, Vec<Change>) = api.drain(..).partition(|c| !before.contains(&c.field));
        api = kept;
        let assessed = match model {
            Some(m) if !extra.is_empty() => m.assessed_in_portal(d, o, &extra),
            _ => None,
        };
        match &assessed {
            Some((form, ..)) => portal.entry(form.task.clone()).or_default().extend(extra),
            None => api.extend(extra),
        }

        // The parent relation: where the vendor has it now against where the manifests put it.
        let mut move_after = Vec::new();
        if let Some(mv) = self.parent_move(d, o) {
            let relocate = model.map(|m| m.relocate(o)).unwrap_or(Relocate::Never {
                reason: format!("no vendor model for {}", d.key.vendor),
                hint: String::new(),
            });
            let not_yet = match &mv.target {
                ParentTarget::Missing { why, waiting } => Some((why.clone(), *waiting)),
                _ => None,
            };
            let blocked = match (relocate, not_yet) {
                (Relocate::Api, None) => {
                    if let ParentTarget::Planned(action) = &mv.target {
                        move_after.push(action.clone());
                    }
                    None
                }
                (_, Some((why, waiting))) => {
                    Some((format!("it can move only once its new parent exists: {why}"), None, waiting))
                }
                (Relocate::Never { reason, hint }, None) => Some((reason, (!hint.is_empty()).then_some(hint), false)),
            };
            match blocked {
                None => api.insert(0, mv.change),
                Some((blocked, hint, deferred)) => {
                    let mut a = self.base(d, ActionKind::Sync, describe_changes(std::slice::from_ref(&mv.change)));
                    a.id = format!("{}:parent", d.key.id());
                    a.vendor_id = Some(o.id.clone());
                    a.changes = vec![mv.change];
                    a.blocked = Some(blocked);
                    a.deferred = deferred;
                    a.hint = hint;
                    a.object = None;
                    self.push(a);
                }
            }
        }

        let ready = matches!(o.state, ObjectState::Ready);
        let mut pending_reason = None;
        let bound = binding.is_some();
        let base_version = o.version.clone();

        // Adopt or sync through the API. The portal steps below wait for an adoption: what a
        // step enters is recorded on the binding, so the binding must exist when it is done.
        let mut adoption = None;
        if !bound || !api.is_empty() {
            let (kind, reason) = if bound {
                (ActionKind::Sync, describe_changes(&api))
            } else {
                let how = how.clone().unwrap_or_default();
                let tail = if api.is_empty() { String::new() } else { format!("; {}", describe_changes(&api)) };
                (ActionKind::Adopt, format!("found at {} (id {}): {how}{tail}", d.key.vendor, o.id))
            };
            let mut a = self.base(d, kind, reason);
            a.vendor_id = Some(o.id.clone());
            a.version = base_version.clone();
            a.changes = api.clone();
            a.depends_on = move_after;
            // Remember what the vendor cannot report: the values this action sets, and for an
            // object a portal task created, what the task entered.
            a.record = api
                .iter()
                .filter(|c| d.fields.get(&c.field).is_some_and(|f| !f.observable))
                .filter_map(|c| c.after.clone().map(|v| (c.field.clone(), v)))
                .collect();
            if !bound
                && let Realize::Portal(form) = &d.realize
                && let Some(task) = self.task(&d.key, &form.task)
            {
                for (name, v) in &self.entered(d, task) {
                    if d.fields.get(name).is_some_and(|f| !f.observable && matches!(f.value, FieldValue::Value(_))) {
                        a.record.entry(name.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            if recovered {
                // What the vendor does not report was only in the lost store: taken as declared
                // (recorded, so later plans compare with it), and the plan says so.
                let mut assumed = Vec::new();
                let sent: BTreeSet<&str> = api.iter().map(|c| c.field.as_str()).collect();
                for (name, f) in d.fields.iter().filter(|(n, f)| !f.observable && !sent.contains(n.as_str())) {
                    let v = match &f.value {
                        FieldValue::Value(v) => v.clone(),
                        FieldValue::Secret(r) => Json::from(secret_ref_text(r)),
                    };
                    a.record.entry(name.clone()).or_insert(v);
                    assumed.push(name.as_str());
                }
                if !assumed.is_empty() {
                    a.reason = format!(
                        "{}; not readable at {} and not in the state store, so taken as declared: {}",
                        a.reason,
                        d.key.vendor.title(),
                        assumed.join(", ")
                    );
                }
            }
            a.irreversible = irreversible && !api.is_empty();
            if let Some(v) = &vetoed {
                a.blocked = Some(v.clone());
            } else if !refused.is_empty() && !api.is_empty() {
                a.blocked = Some(refused.join("; "));
            }
            let id = self.push(a);
            if !bound {
                adoption = Some(id);
            }
        }

        // The portal steps still to be done on this object: an open task of one of these kinds
        // is not verified, whatever else it shows.
        let mut still_pending: BTreeSet<String> = portal.keys().cloned().collect();
        // Portal-only changes: one task per portal page.
        for (task_kind, list) in portal {
            let assessed_here = assessed.as_ref().filter(|(form, ..)| form.task == task_kind);
            let form = match assessed_here {
                Some((form, ..)) => form.clone(),
                None => PortalForm {
                    task: task_kind.clone(),
                    page: self.portal_page(d.key.vendor, &task_kind),
                    verify: if list.iter().all(|c| d.fields.get(&c.field).is_some_and(|f| f.observable)) {
                        Verify::Observation
                    } else {
                        Verify::Attestation
                    },
                },
            };
            let id_suffix = task_kind.rsplit('/').next().unwrap_or(&task_kind).to_string();
            let mut a =
                self.base(d, ActionKind::PortalTask, format!("{} (no API; a portal step)", describe_changes(&list)));
            a.id = format!("{}:task:{id_suffix}", d.key.id());
            a.vendor_id = Some(o.id.clone());
            a.changes = list.clone();
            a.depends_on.extend(adoption.clone());
            if let Some((_, why, _)) = assessed_here {
                a.reason = format!("{why} (no API; a portal step)");
            }
            let one_way = list.iter().any(|c| {
                d.fields.get(&c.field).is_some_and(|f| {
                    f.transitions.iter().any(|t| {
                        matches!(t.rule, TransitionRule::OneWay)
                            && (t.from.is_null() || c.before.as_ref() == Some(&t.from))
                            && c.after.as_ref() == Some(&t.to)
                    })
                })
            });
            a.irreversible = one_way;
            let refused_here: Vec<&String> =
                refused.iter().filter(|r| list.iter().any(|c| r.starts_with(&format!("{}:", c.field)))).collect();
            if let Some(open) = self.task(&d.key, &task_kind).filter(|t| t.is_open()) {
                a.kind = ActionKind::Await;
                a.id = format!("{}:await:{id_suffix}", d.key.id());
                a.reason =
                    format!("waiting for portal task {} since {}: {}", open.id, fmt_time(open.created_at), form.page);
                a.since = Some(open.created_at);
                a.waits_for = open.delivered.is_some().then_some(Party::Operator);
                a.hint = Some(match assessed_here {
                    Some(_) => format!(
                        "it closes itself once the result shows at {}; `tenantry tasks show {}` has the values to enter",
                        d.key.vendor, open.id
                    ),
                    None => format!("when it is done, run `tenantry tasks done {}`", open.id),
                });
            } else {
                let mut spec = task_spec(d, &form, Some(&list));
                if let Some((_, _, values)) = assessed_here {
                    spec.values.extend(values.clone());
                }
                a.task = Some(spec);
            }
            // A vendor rule refuses the object as desired (a cap below the protected seats):
            // the portal would refuse it too, so no task is handed to anyone.
            let blocked = match &vetoed {
                Some(v) => Some(v.clone()),
                None if !refused_here.is_empty() => {
                    Some(refused_here.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; "))
                }
                None => None,
            };
            if blocked.is_some() {
                a.blocked = blocked;
                a.kind = ActionKind::PortalTask;
                a.task = None;
            }
            self.push(a);
        }

        // Create-only differences: reported, never acted on.
        if !create_only.is_empty() {
            let fields: Vec<&str> = create_only.iter().map(|c| c.field.as_str()).collect();
            let mut a = self.base(d, ActionKind::Sync, describe_changes(&create_only));
            a.id = format!("{}:create-only", d.key.id());
            a.vendor_id = Some(o.id.clone());
            a.changes = create_only.clone();
            a.blocked = Some(format!(
                "{} can only be set when the object is created",
                fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
            ));
            a.hint = Some(format!(
                "change it in the {} portal if the vendor allows, or put the manifest back to the current value",
                d.key.vendor.title()
            ));
            self.push(a);
        }

        // The vendor's own state.
        match &o.state {
            ObjectState::Ready => {}
            ObjectState::Pending(p) => {
                // When the wait began: the vendor's word, else when tenantry last started it.
                let restarted = binding
                    .and_then(|b| b.applied.get("pendingSince"))
                    .and_then(Json::as_str)
                    .and_then(|t| t.parse::<Timestamp>().ok());
                let since = p.since.or(restarted).or(binding.map(|b| b.created_at)).or(self
                    .inputs
                    .state
                    .intents
                    .get(&d.key)
                    .map(|i| i.started_at));
                let since_words = since.map(|s| format!(" since {}", fmt_time(s))).unwrap_or_default();
                pending_reason = Some(format!("waiting for {}{since_words}", p.what));
                let (expected, rule) = match &d.await_policy {
                    Some(policy) => (Some(policy.expected), Some(&policy.overdue)),
                    None => (p.expected, p.overdue.as_ref()),
                };
                // A task that re-triggers this wait is not done while the wait lasts.
                if let Some(Overdue::PortalTask { form, .. }) = rule {
                    still_pending.insert(form.task.clone());
                }
                let overdue = match (since, expected) {
                    (Some(s), Some(expected)) => elapsed(s, self.inputs.now) > expected,
                    _ => false,
                };
                let mut a = self.base(d, ActionKind::Await, format!("waiting for {}{since_words}", p.what));
                a.id = format!("{}:await", d.key.id());
                a.vendor_id = Some(o.id.clone());
                a.since = since;
                // Past its usual time, nothing is gained by waiting: a person has to look.
                a.waits_for = Some(if overdue { Party::Operator } else { p.by });
                a.overdue = overdue;
                a.object = None;
                if overdue && let Some(rule) = rule {
                    let usual = expected;
                    let expected = expected.map(crate::model::format_duration).unwrap_or_default();
                    match rule {
                        Overdue::Hint { hint } => {
                            a.reason = format!("{} (longer than the usual {expected})", a.reason);
                            a.hint = Some(hint.clone());
                        }
                        Overdue::PortalTask { form, why } => {
                            // The re-trigger handed out during this wait (open, or attested),
                            // and whether it is itself younger than the usual time: one
                            // re-trigger per expiry, never one per run.
                            let retrigger = self.task(&d.key, &form.task).filter(|t| {
                                matches!(t.status, crate::core::TaskStatus::Open | crate::core::TaskStatus::Done { .. })
                                    && since.is_none_or(|s| t.created_at >= s)
                            });
                            let current =
                                retrigger.filter(|t| usual.is_none_or(|e| elapsed(t.created_at, self.inputs.now) <= e));
                            match current {
                                Some(t) if t.is_open() => {
                                    a.reason = format!(
                                        "{}; portal task {} ({}) is open since {}",
                                        a.reason,
                                        t.id,
                                        form.page,
                                        fmt_time(t.created_at)
                                    );
                                    a.hint = Some(format!("when it is done, run `tenantry tasks done {}`", t.id));
                                }
                                Some(t) => {
                                    // Done by a person: the wait starts again from there.
                                    a.reason = format!(
                                        "{}; portal task {} ({}) was done at {}",
                                        a.reason,
                                        t.id,
                                        form.page,
                                        fmt_time(t.created_at)
                                    );
                                    a.waits_for = Some(p.by);
                                }
                                None => {
                                    a.kind = ActionKind::PortalTask;
                                    a.id = format!(
                                        "{}:task:{}",
                                        d.key.id(),
                                        form.task.rsplit('/').next().unwrap_or(&form.task)
                                    );
                                    a.reason = match retrigger {
                                        Some(t) => format!(
                                            "{}; portal task {} of {} did not help within the usual {expected}: {why}",
                                            a.reason,
                                            t.id,
                                            fmt_time(t.created_at)
                                        ),
                                        None => format!("{}; {why}", a.reason),
                                    };
                                    a.task = Some(task_spec(d, form, None));
                                    a.object = Some(Arc::clone(d));
                                }
                            }
                        }
                        Overdue::Register { why } => {
                            a.kind = ActionKind::Register;
                            a.id = format!("{}:register", d.key.id());
                            a.reason = format!("{}; {why}", a.reason);
                            a.object = Some(Arc::clone(d));
                        }
                    }
                }
                self.push(a);
            }
            ObjectState::Failed { message, hint } => {
                let mut a = self.base(d, ActionKind::Await, format!("{} reports a failure", d.key.vendor.title()));
                a.id = format!("{}:failed", d.key.id());
                a.vendor_id = Some(o.id.clone());
                a.blocked = Some(message.clone());
                a.hint = hint.clone();
                a.object = None;
                self.push(a);
                pending_reason = Some(format!("it failed: {message}"));
            }
        }

        // Open tasks verified by observation whose result now shows (no step of their kind is
        // still pending here): they close themselves. Replaced is not verified, and neither is a
        // task whose wait goes on.
        let tasks = self.tasks.get(&d.key).map(Vec::as_slice).unwrap_or_default();
        for t in tasks.iter().filter(|t| t.is_open()) {
            if t.verify == Verify::Observation && !still_pending.contains(&t.task) {
                self.verified.insert(t.id.clone());
            }
        }
        // The object a portal task creates shows at the vendor: that task is done, whatever
        // could be known when it was handed out (an open or attested VDC registration whose
        // usage now shows is verified).
        if let Realize::Portal(form) = &d.realize
            && let Some(t) = self.task(&d.key, &form.task)
            && matches!(t.status, crate::core::TaskStatus::Open | crate::core::TaskStatus::Done { .. })
        {
            self.verified.insert(t.id.clone());
        }

        self.resolved.insert(
            &d.key,
            Res::Exists {
                id: o.id.clone(),
                ready: ready && pending_reason.is_none(),
                pending: pending_reason,
                failed: matches!(o.state, ObjectState::Failed { .. }),
            },
        );
    }

    /// Where `o` sits against where the manifests put it, when the two differ: the change of the
    /// relation `parent` (old and new parent, by name and id). Nothing when the vendor does not
    /// report a parent for this kind, or the expected parent is unknown (not in this plan, or
    /// known only through an attested portal task, which has no vendor object to compare).
    fn parent_move(&self, d: &DesiredObject, o: &ObservedObject) -> Option<ParentMove> {
        let now_at = o.parent_id.as_deref()?;
        let (target, name) = match &d.parent {
            Some(pk) => {
                let name = self.by_key.get(pk).map(|p| p.title.clone()).unwrap_or_else(|| pk.to_string());
                let target = match self.resolved.get(pk)? {
                    Res::Exists { id, .. } => {
                        let observed = self
                            .index
                            .get(&(pk.vendor, pk.kind.as_str()))
                            .is_some_and(|k| k.by_id.contains_key(id.as_str()));
                        if !observed {
                            return None;
                        }
                        ParentTarget::Known(id.clone())
                    }
                    Res::Planned { action } => ParentTarget::Planned(action.clone()),
                    Res::Missing { why, waiting } => ParentTarget::Missing { why: why.clone(), waiting: *waiting },
                };
                (target, name)
            }
            None => (ParentTarget::Known(d.home_parent.clone()?), HOME.to_string()),
        };
        if matches!(&target, ParentTarget::Known(id) if id == now_at) {
            return None;
        }
        let after = match &target {
            ParentTarget::Known(id) => serde_json::json!({"name": name, "id": id}),
            ParentTarget::Planned(_) => serde_json::json!({"name": name, "id": null, "createdInThisRun": true}),
            ParentTarget::Missing { .. } => serde_json::json!({"name": name, "id": null}),
        };
        let before = serde_json::json!({"name": self.parent_name(d, now_at), "id": now_at});
        let change = Change {
            field: "parent".into(),
            before: Some(before),
            after: Some(after),
            sensitive: false,
            unreadable: false,
        };
        Some(ParentMove { change, target })
    }

    /// How the plan knows the object with vendor id `id` that `d` sits under now.
    fn parent_name(&self, d: &DesiredObject, id: &str) -> String {
        let vendor = d.key.vendor;
        // The connection's home, as the objects directly under it name it.
        if self.inputs.desired.iter().any(|x| x.key.vendor == vendor && x.home_parent.as_deref() == Some(id)) {
            return HOME.to_string();
        }
        let bound = self.inputs.state.bindings.iter().find(|(k, b)| k.vendor == vendor && b.vendor_id == id);
        if let Some((key, _)) = bound {
            return self
                .by_key
                .get(key)
                .map(|p| p.title.clone())
                .unwrap_or_else(|| format!("{} of {}", key.kind, key.owner));
        }
        let found = self.inputs.desired.iter().find(|x| {
            x.key.vendor == vendor
                && matches!(self.resolved.get(&x.key), Some(Res::Exists { id: x_id, .. }) if x_id == id)
        });
        if let Some(x) = found {
            return x.title.clone();
        }
        let observed = self.inputs.observed.objects.iter().find(|x| x.vendor == vendor && x.id == id);
        match observed.and_then(|x| x.natural_key.get("name")) {
            Some(n) => format!("\"{n}\" (not managed by tenantry)"),
            None => "an object tenantry does not know".to_string(),
        }
    }

    /// Owned objects whose manifest object (or service) is gone.
    fn orphans(&mut self) {
        let mut found: BTreeMap<String, (ObjectKey, &'a ObservedObject)> = BTreeMap::new();
        let mut stale_bindings = Vec::new();
        for (key, b) in &self.inputs.state.bindings {
            if self.by_key.contains_key(key) || self.inputs.observed.unavailable.contains_key(&key.vendor) {
                continue;
            }
            match self
                .index
                .get(&(key.vendor, key.kind.as_str()))
                .and_then(|k| k.by_id.get(b.vendor_id.as_str()).copied())
            {
                // Matched to a declared object this run (a customer renamed in the manifests):
                // it is that object's now, never deleted through the old binding.
                Some(o) if self.matched.contains(&(o.vendor, o.kind.as_str(), o.id.as_str())) => stale_bindings.push((
                    key.clone(),
                    b.vendor_id.clone(),
                    "gone from the manifests; its object is matched by another manifest object now, so it is not deleted",
                )),
                Some(o) => {
                    found.insert(o.handle(), (key.clone(), o));
                }
                None => stale_bindings.push((
                    key.clone(),
                    b.vendor_id.clone(),
                    "gone at the vendor and from the manifests; its binding is stale",
                )),
            }
        }
        for o in &self.inputs.observed.objects {
            let Some(name) = o.marker.as_deref().and_then(|m| m.strip_prefix(crate::model::MARKER_PREFIX)) else {
                continue;
            };
            if self.matched.contains(&(o.vendor, o.kind.as_str(), o.id.as_str())) || found.contains_key(&o.handle()) {
                continue;
            }
            let owner = ManifestRef::customer(name);
            let key = ObjectKey::new(owner, o.vendor, o.kind.clone());
            let reseller_key = ObjectKey::new(ManifestRef::reseller(name), o.vendor, o.kind.clone());
            if self.by_key.contains_key(&key) || self.by_key.contains_key(&reseller_key) {
                continue; // its manifest object exists; it was matched to something else or conflicts
            }
            found.insert(o.handle(), (key, o));
        }
        let prune = self.inputs.options.prune;
        // Children before parents: an orphan whose parent is also an orphan is deleted first.
        let orphan_ids: BTreeSet<(crate::model::Vendor, String)> =
            found.values().map(|(_, o)| (o.vendor, o.id.clone())).collect();
        for (handle, (key, o)) in &found {
            self.fingerprints.insert(handle.clone(), o.fingerprint());
            self.used_by.entry(handle.clone()).or_default().insert(key.id());
            let title =
                format!("{} {}", o.kind, o.natural_key.values().next().cloned().unwrap_or_else(|| o.id.clone()));
            let parent_goes = o.parent_id.as_ref().is_some_and(|p| orphan_ids.contains(&(o.vendor, p.clone())));
            let retire = self.model(o.vendor).map(|m| m.retire(o)).unwrap_or(Retire::Never("no vendor model".into()));
            let note = match (&retire, prune, parent_goes) {
                (_, false, _) => "left alone: prune is off".to_string(),
                (_, true, true) => "removed with its parent".to_string(),
                (Retire::Never(why), true, false) => format!("left alone: {why}"),
                (Retire::Api { irreversible }, true, false) => {
                    let a = Action {
                        id: format!("{}:delete", key.id()),
                        kind: ActionKind::Delete,
                        key: key.clone(),
                        title: title.clone(),
                        vendor_id: Some(o.id.clone()),
                        reason: format!("{} is no longer in the manifests and prune is on", key.owner),
                        changes: Vec::new(),
                        depends_on: Vec::new(),
                        blocked: None,
                        deferred: false,
                        irreversible: *irreversible,
                        hint: None,
                        since: None,
                        waits_for: None,
                        overdue: false,
                        task: None,
                        object: None,
                        version: o.version.clone(),
                        record: BTreeMap::new(),
                        goes_with: Vec::new(),
                    };
                    self.actions.push(a);
                    "deleted (prune)".to_string()
                }
                (Retire::Portal { form, irreversible, blocked_by }, true, false) => {
                    let a = Action {
                        id: format!("{}:task:{}", key.id(), form.task.rsplit('/').next().unwrap_or(&form.task)),
                        kind: ActionKind::PortalTask,
                        key: key.clone(),
                        title: title.clone(),
                        vendor_id: Some(o.id.clone()),
                        reason: format!("{} is no longer in the manifests and prune is on", key.owner),
                        changes: Vec::new(),
                        depends_on: Vec::new(),
                        blocked: blocked_by.clone(),
                        deferred: false,
                        irreversible: *irreversible,
                        hint: None,
                        since: None,
                        waits_for: None,
                        overdue: false,
                        task: Some(TaskSpec {
                            form: form.clone(),
                            title: format!("{}: {title}", form.page),
                            values: BTreeMap::from([("id".to_string(), Json::from(o.id.clone()))]),
                            note: None,
                        }),
                        object: None,
                        version: None,
                        record: BTreeMap::new(),
                        goes_with: Vec::new(),
                    };
                    self.actions.push(a);
                    "a portal task removes it (prune)".to_string()
                }
            };
            self.orphans.push(Orphan { key: key.clone(), vendor_id: o.id.clone(), title, note });
        }
        for (key, id, note) in stale_bindings {
            self.orphans.push(Orphan {
                key: key.clone(),
                vendor_id: id,
                title: format!("{} of {}", key.kind, key.owner),
                note: note.into(),
            });
        }
        // Delete children before parents.
        let deletes: Vec<(String, String, Option<String>, crate::model::Vendor)> = self
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::Delete)
            .filter_map(|a| {
                let o = found.values().find(|(k, _)| k == &a.key)?.1;
                Some((a.id.clone(), o.id.clone(), o.parent_id.clone(), o.vendor))
            })
            .collect();
        // What stays under an orphan is deleted with it (an Acronis tenant with its subtree): a
        // declared customer moving out goes first, and anything else of its kind still under it,
        // at any depth (a customer whose move cannot run, a stranger's), stops it. Orphans under
        // it go with it, and what is under them counts too.
        let orphan_ids: BTreeSet<(crate::model::Vendor, &str)> =
            found.values().map(|(_, o)| (o.vendor, o.id.as_str())).collect();
        let mut children: HashMap<(crate::model::Vendor, &str, &str), Vec<&ObservedObject>> = HashMap::new();
        for o in &self.inputs.observed.objects {
            if let Some(p) = o.parent_id.as_deref() {
                children.entry((o.vendor, o.kind.as_str(), p)).or_default().push(o);
            }
        }
        /// Per delete (by vendor and vendor id, as two orphans may share an action id): the moves
        /// to wait for, what blocks it, and whether every blocker lifts by itself.
        #[derive(Default)]
        struct Stays {
            after: Vec<String>,
            blockers: Vec<String>,
            all_waiting: bool,
            goes_with: Vec<String>,
        }
        let mut stays: HashMap<(crate::model::Vendor, String), Stays> = HashMap::new();
        for a in self.actions.iter().filter(|a| a.kind == ActionKind::Delete) {
            let Some(my_id) = a.vendor_id.as_deref() else { continue };
            let here = stays
                .entry((a.key.vendor, my_id.to_string()))
                .or_insert(Stays { all_waiting: true, ..Stays::default() });
            let mut todo = vec![my_id];
            let mut seen: HashSet<&str> = HashSet::new();
            while let Some(parent) = todo.pop() {
                if !seen.insert(parent) {
                    continue;
                }
                for child in children.get(&(a.key.vendor, a.key.kind.as_str(), parent)).into_iter().flatten() {
                    if orphan_ids.contains(&(child.vendor, child.id.as_str())) {
                        here.goes_with.push(child.id.clone());
                        todo.push(child.id.as_str());
                        continue;
                    }
                    let moving_out = self.actions.iter().find(|m| {
                        m.key.vendor == child.vendor
                            && m.vendor_id.as_deref() == Some(child.id.as_str())
                            && m.changes.iter().any(|c| {
                                c.field == "parent"
                                    && c.before.as_ref().and_then(|b| b.get("id")).and_then(Json::as_str)
                                        == Some(parent)
                            })
                    });
                    let name = child.natural_key.values().next().cloned().unwrap_or_default();
                    match moving_out {
                        Some(m) if m.is_executable() => here.after.push(m.id.clone()),
                        Some(m) => {
                            here.all_waiting &= m.is_deferred();
                            here.blockers.push(format!(
                                "{} {name} (id {}) still sits under it and its move cannot run: {}",
                                child.kind,
                                child.id,
                                m.blocked.as_deref().unwrap_or("it waits")
                            ));
                        }
                        None => {
                            here.all_waiting = false;
                            here.blockers.push(format!("{} {name} (id {}) sits under it", child.kind, child.id));
                        }
                    }
                }
            }
        }
        for a in self.actions.iter_mut().filter(|a| a.kind == ActionKind::Delete) {
            let my_id = a.vendor_id.clone();
            a.depends_on = deletes
                .iter()
                .filter(|(_, _, parent, vendor)| *vendor == a.key.vendor && parent.is_some() && *parent == my_id)
                .map(|(id, ..)| id.clone())
                .collect();
            let Some(here) = my_id.and_then(|id| stays.remove(&(a.key.vendor, id))) else { continue };
            a.depends_on.extend(here.after);
            a.goes_with = here.goes_with;
            a.goes_with.sort();
            if !here.blockers.is_empty() {
                let why = format!("deleting it would delete what is under it: {}", here.blockers.join("; "));
                if let Some(o) =
                    self.orphans.iter_mut().find(|o| o.key == a.key && Some(&o.vendor_id) == a.vendor_id.as_ref())
                {
                    o.note = format!("left alone: {why}");
                }
                a.blocked = Some(why);
                a.deferred = here.all_waiting;
                a.hint = Some("move or remove what is under it first; it is deleted once nothing else is".into());
            }
        }
    }

    fn finish(self) -> Plan {
        let mut actions = self.actions;
        // Group by owner (resellers first), then vendor; keep dependency order within a group.
        let order: BTreeMap<String, usize> = actions.iter().enumerate().map(|(i, a)| (a.id.clone(), i)).collect();
        actions.sort_by(|a, b| {
            (&a.key.owner, a.key.vendor, order[&a.id]).cmp(&(&b.key.owner, b.key.vendor, order[&b.id]))
        });
        let mut orphans = self.orphans;
        orphans.sort_by(|a, b| (&a.key, &a.vendor_id).cmp(&(&b.key, &b.vendor_id)));
        Plan {
            format_version: super::FORMAT_VERSION,
            id: String::new(),
            created_at: self.inputs.now,
            options: self.inputs.options.clone(),
            manifests_dir: None,
            names: BTreeMap::new(),
            actions,
            orphans,
            unavailable: self.inputs.observed.unavailable.clone(),
            unreadable: self.inputs.observed.unreadable.iter().map(|(k, why)| (k.id(), why.clone())).collect(),
            verified_tasks: self.verified.into_iter().collect(),
            attested: self.attested,
            fingerprints: Fingerprints {
                manifests: crate::core::manifests_fingerprint(&self.inputs.manifest_files),
                files: self.inputs.manifest_files.clone(),
                observed: self.fingerprints,
                used_by: self.used_by,
            },
        }
    }
}

impl ActionKind {
    fn word_ing(self) -> &'static str {
        match self {
            ActionKind::Register => "registering",
            _ => "creating",
        }
    }
}

/// Dependency order (parents and dependencies first), ties broken by key.
fn topological_order<'a>(
    desired: &'a [Arc<DesiredObject>],
    by_key: &HashMap<&'a ObjectKey, &'a Arc<DesiredObject>>,
) -> Vec<&'a Arc<DesiredObject>> {
    let mut out = Vec::with_capacity(desired.len());
    let mut seen: HashSet<&ObjectKey> = HashSet::with_capacity(desired.len());
    fn visit<'a>(
        d: &'a Arc<DesiredObject>,
        by_key: &HashMap<&'a ObjectKey, &'a Arc<DesiredObject>>,
        seen: &mut HashSet<&'a ObjectKey>,
        out: &mut Vec<&'a Arc<DesiredObject>>,
    ) {
        if !seen.insert(&d.key) {
            return; // done, or a cycle (a model bug): keep going without looping
        }
        for dep in d.parent.iter().chain(d.depends_on.iter().map(|x| &x.key)) {
            if let Some(dep) = by_key.get(dep) {
                visit(dep, by_key, seen, out);
            }
        }
        out.push(d);
    }
    // In key order, so the result (and the plan) is deterministic whatever order the desired
    // objects come in (they usually come sorted: then this is one pass).
    let mut sorted: Vec<&Arc<DesiredObject>> = desired.iter().collect();
    if !sorted.is_sorted_by(|a, b| a.key <= b.key) {
        sorted.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    }
    for d in sorted {
        visit(d, by_key, &mut seen, &mut out);
    }
    out
}

/// Whether `o` carries `d`'s natural key (ignoring where it sits).
fn names_match(d: &DesiredObject, o: &ObservedObject) -> bool {
    !d.natural_key.values.is_empty()
        && d.natural_key.values.iter().all(|(k, v)| o.natural_key.get(k).is_some_and(|ov| ov.eq_ignore_ascii_case(v)))
}

/// Whether `o` is the object `d` describes: same natural key values (case-insensitive) and,
/// when `d` sits under a parent, the same parent id.
fn natural_match(d: &DesiredObject, o: &ObservedObject, parent_id: Option<&str>) -> bool {
    let parent_match = match (d.parent.is_some() || d.home_parent.is_some(), parent_id) {
        (true, Some(p)) => o.parent_id.as_deref() == Some(p),
        (true, None) => false,
        (false, _) => true,
    };
    parent_match && names_match(d, o)
}

/// The difference between a desired field and what is there, if any.
fn diff_field(
    name: &str,
    field: &Field,
    o: &ObservedObject,
    applied: Option<&BTreeMap<String, Json>>,
    fresh: bool,
) -> Option<Change> {
    if field.entered_only {
        return None;
    }
    match &field.value {
        FieldValue::Secret(r) => {
            // Only the reference can be compared: the value is never stored anywhere.
            let applied = applied?.get(name)?;
            (applied != &Json::from(secret_ref_text(r))).then(|| Change {
                field: name.to_string(),
                before: None,
                after: None,
                sensitive: true,
                unreadable: false,
            })
        }
        FieldValue::Value(want) => {
            const NULL: &Json = &Json::Null;
            let current = if field.observable {
                o.fields.get(name).unwrap_or(NULL)
            } else if fresh {
                NULL
            } else {
                match applied.and_then(|a| a.get(name)) {
                    Some(v) => v,
                    // Never recorded (an object being adopted, or a field the API could not
                    // set): one that can be set is set, in the same action; a create-only one is
                    // unknown and left alone.
                    None if field.update == Update::CreateOnly => return None,
                    None => NULL,
                }
            };
            (!json_equal(want, current)).then(|| Change {
                field: name.to_string(),
                before: (!current.is_null()).then(|| current.clone()),
                after: Some(want.clone()),
                sensitive: false,
                unreadable: !field.observable,
            })
        }
    }
}

/// JSON equality where `1` equals `1.0` and list order matters.
fn json_equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q)),
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// The fields a create sets, as changes from nothing (secrets marked sensitive).
fn creation_changes(d: &DesiredObject) -> Vec<Change> {
    let by_api = !matches!(d.realize, Realize::Portal(_));
    d.fields
        .iter()
        .filter(|(_, f)| !by_api || f.set_by_create())
        .map(|(name, f)| match &f.value {
            FieldValue::Secret(_) => {
                Change { field: name.clone(), before: None, after: None, sensitive: true, unreadable: false }
            }
            FieldValue::Value(v) => Change {
                field: name.clone(),
                before: None,
                after: Some(v.clone()),
                sensitive: false,
                unreadable: false,
            },
        })
        .filter(|c| c.sensitive || c.after.as_ref().is_some_and(|v| !v.is_null()))
        .collect()
}

/// What a create sets that the vendor cannot report: remembered in the binding.
fn creation_record(d: &DesiredObject) -> BTreeMap<String, Json> {
    let by_api = !matches!(d.realize, Realize::Portal(_));
    d.fields
        .iter()
        .filter(|(_, f)| !f.observable && (!by_api || f.set_by_create() || f.is_vendor_default()))
        .map(|(name, f)| {
            let v = match &f.value {
                FieldValue::Value(v) => v.clone(),
                FieldValue::Secret(r) => Json::from(secret_ref_text(r)),
            };
            (name.clone(), v)
        })
        .collect()
}

/// Fields an API create cannot set, grouped by the portal task that sets them.
fn portal_fields(d: &DesiredObject) -> BTreeMap<String, Vec<Change>> {
    let mut out: BTreeMap<String, Vec<Change>> = BTreeMap::new();
    for (name, f) in &d.fields {
        if let (Update::Portal { task, at_create: false }, FieldValue::Value(v)) = (&f.update, &f.value)
            && !f.is_vendor_default()
        {
            out.entry(task.clone()).or_default().push(Change {
                field: name.clone(),
                before: None,
                after: Some(v.clone()),
                sensitive: false,
                unreadable: false,
            });
        }
    }
    out
}

/// The values a person enters for a portal form: every field of the object (or just the
/// changed ones), secrets as references.
fn task_spec(d: &DesiredObject, form: &PortalForm, only: Option<&[Change]>) -> TaskSpec {
    let values = d
        .fields
        .iter()
        .filter(|(name, _)| only.is_none_or(|list| list.iter().any(|c| &c.field == *name)))
        .map(|(name, f)| {
            let v = match &f.value {
                FieldValue::Value(v) => v.clone(),
                FieldValue::Secret(r) => serde_json::json!({ "secretRef": secret_ref_text(r) }),
            };
            (name.clone(), v)
        })
        .collect();
    TaskSpec { form: form.clone(), title: format!("{}: {}", form.page, d.title), values, note: None }
}

fn adopt_hint(d: &DesiredObject, id: &str) -> String {
    match &d.adoption {
        Some(a) => format!(
            "to adopt it, add to {} under {}:\n    externalId: \"{id}\"\nor rename one of them",
            a.at, a.at.path
        ),
        None => "rename the manifest object or the existing vendor object".to_string(),
    }
}

/// "account number differs: 'A-17' -> 'A-18'; name differs: ...".
fn describe_changes(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "no field changes".into();
    }
    let parts: Vec<String> = changes
        .iter()
        .take(3)
        .map(|c| {
            if c.sensitive {
                return format!("{} changed (sensitive value)", c.field);
            }
            if c.field == "parent"
                && let (Some(b), Some(a)) = (&c.before, &c.after)
            {
                return format!("parent differs: it sits under {}; the manifests put it under {}", place(b), place(a));
            }
            match (&c.before, &c.after) {
                (Some(b), Some(a)) => format!("{} differs: {} -> {}", c.field, short(b), short(a)),
                (None, Some(a)) => format!("{} is not set (want {})", c.field, short(a)),
                (Some(b), None) => format!("{} is {} (want none)", c.field, short(b)),
                (None, None) => format!("{} differs", c.field),
            }
        })
        .collect();
    let more = if changes.len() > 3 { format!(" and {} more", changes.len() - 3) } else { String::new() };
    format!("{}{more}", parts.join("; "))
}

/// A parent as a `parent` change names it: `partner tenant "Northwind IT" (id 1f3…)`.
fn place(v: &Json) -> String {
    let name = v.get("name").and_then(Json::as_str).unwrap_or("an unknown parent");
    match v.get("id").and_then(Json::as_str) {
        Some(id) => format!("{name} (id {id})"),
        None if v.get("createdInThisRun") == Some(&Json::Bool(true)) => format!("{name} (created in this run)"),
        None => format!("{name} (not there yet)"),
    }
}

fn short(v: &Json) -> String {
    let s = match v {
        Json::String(s) => format!("'{s}'"),
        other => other.to_string(),
    };
    if s.chars().count() > 60 { format!("{}...", s.chars().take(57).collect::<String>()) } else { s }
}

fn elapsed(since: Timestamp, now: Timestamp) -> Duration {
    let secs = now.as_second().saturating_sub(since.as_second());
    Duration::from_secs(secs.max(0) as u64)
}
