//! An in-memory vendor: objects in a map, any vendor and kind. It implements the reader and
//! writer contracts generically (create from the desired object, apply field changes, delete),
//! so planner and executor tests run without HTTP. Faults can be injected: refuse a call before
//! it commits, or commit it and lose the response.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde_json::Value as Json;

use super::{
    ActionContext, BoxFut, DesiredObject, ErrorKind, FieldValue, ObjectState, Observation, ObserveScope,
    ObservedObject, Outcome, VendorError, VendorReader, VendorWriter,
};
use crate::core::ActionKind;
use crate::model::Vendor;

/// A failure to inject into the next write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Refuse the call without changing anything.
    Before(ErrorKind),
    /// Carry the call out, then answer with this error (a lost response).
    After(ErrorKind),
}

#[derive(Default)]
struct Inner {
    objects: BTreeMap<(String, String), ObservedObject>,
    next: u64,
    faults: VecDeque<Fault>,
    /// Kinds created with this state instead of ready (e.g. a user awaiting activation).
    initial_state: BTreeMap<String, ObjectState>,
    writes: usize,
}

pub struct MemoryVendor {
    vendor: Vendor,
    inner: Mutex<Inner>,
}

impl MemoryVendor {
    pub fn new(vendor: Vendor) -> Self {
        MemoryVendor { vendor, inner: Mutex::new(Inner::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Put an object in place (for tests: something created outside tenantry).
    pub fn insert(&self, o: ObservedObject) {
        self.lock().objects.insert((o.kind.clone(), o.id.clone()), o);
    }

    pub fn objects(&self) -> Vec<ObservedObject> {
        self.lock().objects.values().cloned().collect()
    }

    pub fn count(&self, kind: &str) -> usize {
        self.lock().objects.keys().filter(|(k, _)| k == kind).count()
    }

    /// Change an object behind tenantry's back.
    pub fn edit(&self, kind: &str, id: &str, f: impl FnOnce(&mut ObservedObject)) {
        if let Some(o) = self.lock().objects.get_mut(&(kind.to_string(), id.to_string())) {
            f(o);
        }
    }

    pub fn remove(&self, kind: &str, id: &str) {
        self.lock().objects.remove(&(kind.to_string(), id.to_string()));
    }

    /// New objects of `kind` start in `state` (e.g. pending activation).
    pub fn start_as(&self, kind: &str, state: ObjectState) {
        self.lock().initial_state.insert(kind.to_string(), state);
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// How many writes were carried out (committed).
    pub fn writes(&self) -> usize {
        self.lock().writes
    }

    fn find(&self, d: &DesiredObject, parent_id: Option<&str>) -> Option<ObservedObject> {
        let inner = self.lock();
        inner
            .objects
            .values()
            .find(|o| {
                o.kind == d.key.kind
                    && !d.natural_key.values.is_empty()
                    && d.natural_key
                        .values
                        .iter()
                        .all(|(k, v)| o.natural_key.get(k).is_some_and(|x| x.eq_ignore_ascii_case(v)))
                    && (parent_id.is_none() || o.parent_id.as_deref() == parent_id)
            })
            .cloned()
    }
}

impl VendorReader for MemoryVendor {
    fn vendor(&self) -> Vendor {
        self.vendor
    }

    fn observe<'a>(&'a self, _scope: &'a ObserveScope) -> BoxFut<'a, Result<Observation, VendorError>> {
        Box::pin(async move { Ok(Observation { objects: self.objects(), ..Default::default() }) })
    }

    fn lookup<'a>(
        &'a self,
        object: &'a DesiredObject,
        parent_id: Option<&'a str>,
    ) -> BoxFut<'a, Result<Option<ObservedObject>, VendorError>> {
        Box::pin(async move { Ok(self.find(object, parent_id)) })
    }
}

impl VendorWriter for MemoryVendor {
    fn execute<'a>(&'a self, cx: &'a ActionContext<'a>) -> BoxFut<'a, Result<Outcome, VendorError>> {
        Box::pin(async move {
            let a = cx.action;
            let op = format!("{} {}", a.kind.word(), a.title);
            let fault = self.lock().faults.pop_front();
            if let Some(Fault::Before(kind)) = fault {
                return Err(VendorError::new(self.vendor, kind, op, "injected failure before the change"));
            }
            // Like a real writer, resolve the secrets it would send (and send them nowhere).
            if let Some(d) = &a.object {
                for f in d.fields.values() {
                    if let FieldValue::Secret(r) = &f.value {
                        cx.secrets
                            .resolve(r)
                            .map_err(|e| VendorError::new(self.vendor, ErrorKind::Rejected, &op, e.to_string()))?;
                    }
                }
            }
            let outcome = {
                let mut inner = self.lock();
                inner.writes += 1;
                match a.kind {
                    ActionKind::Create | ActionKind::Register => {
                        let d = a
                            .object
                            .as_ref()
                            .ok_or_else(|| VendorError::new(self.vendor, ErrorKind::Rejected, &op, "no object"))?;
                        inner.next += 1;
                        let id = format!("{}-{}", d.key.kind.replace('/', "-"), inner.next);
                        let fields: BTreeMap<String, Json> = d
                            .fields
                            .iter()
                            .filter_map(|(k, f)| match &f.value {
                                FieldValue::Value(v) if f.observable => Some((k.clone(), v.clone())),
                                _ => None,
                            })
                            .collect();
                        let state = inner.initial_state.get(&d.key.kind).cloned().unwrap_or(ObjectState::Ready);
                        let o = ObservedObject {
                            vendor: self.vendor,
                            kind: d.key.kind.clone(),
                            id: id.clone(),
                            natural_key: d.natural_key.values.clone(),
                            parent_id: cx.parent_id.clone(),
                            marker: d.marker.clone(),
                            fields,
                            version: Some("1".into()),
                            state,
                        };
                        inner.objects.insert((o.kind.clone(), id.clone()), o);
                        Outcome { vendor_id: Some(id), ..Outcome::default() }
                    }
                    ActionKind::Sync | ActionKind::Adopt => {
                        let id = a.vendor_id.clone().unwrap_or_default();
                        let key = (a.key.kind.clone(), id.clone());
                        let Some(o) = inner.objects.get_mut(&key) else {
                            return Err(VendorError::new(
                                self.vendor,
                                ErrorKind::NotFound,
                                op,
                                format!("no {} {id}", a.key.kind),
                            ));
                        };
                        if let (Some(want), Some(have)) = (&a.version, &o.version)
                            && want != have
                        {
                            return Err(VendorError::new(self.vendor, ErrorKind::Conflict, op, "version conflict"));
                        }
                        for c in &a.changes {
                            if let Some(after) = &c.after {
                                o.fields.insert(c.field.clone(), after.clone());
                            }
                        }
                        let next = o.version.as_deref().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + 1;
                        o.version = Some(next.to_string());
                        if let Some(d) = &a.object {
                            o.marker = d.marker.clone().or(o.marker.take());
                        }
                        Outcome { vendor_id: Some(id), ..Outcome::default() }
                    }
                    ActionKind::Delete => {
                        let id = a.vendor_id.clone().unwrap_or_default();
                        inner.objects.remove(&(a.key.kind.clone(), id.clone()));
                        Outcome { vendor_id: Some(id), ..Outcome::default() }
                    }
                    ActionKind::Await | ActionKind::PortalTask | ActionKind::Conflict => Outcome::default(),
                }
            };
            if let Some(Fault::After(kind)) = fault {
                return Err(VendorError::new(self.vendor, kind, op, "injected failure after the change was made"));
            }
            Ok(outcome)
        })
    }
}
