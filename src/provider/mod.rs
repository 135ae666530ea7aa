//! The provider contract: how a vendor describes itself to the engine.
//!
//! A vendor has a pure half and an effectful half, kept apart:
//! - [`VendorModel`] (pure): turns the validated manifests into the [`DesiredObject`]s the vendor
//!   should hold, and vets vendor-specific rules during planning.
//! - [`VendorReader`] observes the vendor in bulk into [`ObservedObject`]s of the same shape and
//!   looks single objects up by natural key; [`VendorWriter`] carries out one planned action.
//!
//! Everything a plan needs to say about a vendor is data here: natural keys, owner markers,
//! parents and dependencies, per-field update rules (API, portal-only, create-only, one-way or
//! refused transitions), sensitive fields, and pending states with their deadlines.

pub mod acronis;
pub mod avepoint;
pub mod datto;
pub mod http;
pub mod memory;
pub mod models;
pub mod veeam;
pub mod velocloud;
pub mod watchguard;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::model::{Adoption, DesiredState, ManifestRef, SecretRef, Vendor};

/// An optional JSON value whose presence matters: a present `null` is `Some(Null)`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Json>, D::Error> {
    Json::deserialize(d).map(Some)
}

/// Durations in JSON are whole seconds.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|o| o.map(Duration::from_secs))
    }
}

/// A boxed future, so vendor traits stay object-safe.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One vendor object tenantry manages on behalf of a manifest object:
/// `(acronis, tenant, Customer/acme)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ObjectKey {
    pub owner: ManifestRef,
    pub vendor: Vendor,
    /// Object kind within the vendor, e.g. `tenant`, `user`, `company`, `service/cloudBackupM365`.
    pub kind: String,
}

impl ObjectKey {
    pub fn new(owner: ManifestRef, vendor: Vendor, kind: impl Into<String>) -> Self {
        ObjectKey { owner, vendor, kind: kind.into() }
    }

    /// Stable, readable id: `customer/acme/acronis/tenant`.
    pub fn id(&self) -> String {
        let kind = match self.owner.kind {
            crate::model::OwnerKind::Customer => "customer",
            crate::model::OwnerKind::Reseller => "reseller",
        };
        format!("{kind}/{}/{}/{}", self.owner.name, self.vendor, self.kind)
    }

    /// Parse an id made by [`ObjectKey::id`].
    pub fn parse(id: &str) -> Option<Self> {
        let mut parts = id.splitn(4, '/');
        let owner_kind = parts.next()?;
        let name = parts.next()?;
        let vendor = Vendor::parse(parts.next()?)?;
        let kind = parts.next()?;
        let owner = ManifestRef::parse(&format!("{owner_kind}/{name}"))?;
        Some(ObjectKey { owner, vendor, kind: kind.to_string() })
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} of {}", self.vendor, self.kind, self.owner)
    }
}

/// A desired field value: plain data, or a reference to a secret (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FieldValue {
    Value(#[schemars(with = "serde_json::Value")] Json),
    Secret(#[schemars(with = "SecretRefSchema")] SecretRef),
}

/// Schema stand-in for [`SecretRef`] in plan JSON: `{"env": NAME}` or `{"file": PATH}`.
#[derive(JsonSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
enum SecretRefSchema {
    Env(String),
    File(String),
}

impl FieldValue {
    pub fn json(&self) -> Option<&Json> {
        match self {
            FieldValue::Value(v) => Some(v),
            FieldValue::Secret(_) => None,
        }
    }
}

impl From<Json> for FieldValue {
    fn from(v: Json) -> Self {
        FieldValue::Value(v)
    }
}

/// How a field may change once the object exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", tag = "via")]
pub enum Update {
    /// Through the vendor API (a `sync`).
    Api,
    /// Changed only in the vendor portal: a portal task of this kind. `at_create`: the API
    /// create sets it (only later changes need the portal).
    Portal {
        task: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        at_create: bool,
    },
    /// Set at creation only; a later difference is reported, not acted on.
    CreateOnly,
}

/// A change of value that is one-way or forbidden. Values are compared as JSON; `from: null`
/// matches any value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    #[schemars(with = "serde_json::Value")]
    pub from: Json,
    #[schemars(with = "serde_json::Value")]
    pub to: Json,
    pub rule: TransitionRule,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", tag = "rule", content = "reason")]
pub enum TransitionRule {
    /// Allowed, but cannot be undone: needs `--allow-irreversible`.
    OneWay,
    /// The vendor refuses it; the plan shows it as blocked with this reason.
    Refused(String),
}

/// One desired field and its rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    pub value: FieldValue,
    pub update: Update,
    /// Whether the vendor reports this field back. An unobservable field is compared with the
    /// value tenantry last applied (kept in the binding), not with the vendor.
    pub observable: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<Transition>,
    /// The value a new object has without anyone setting it; a create whose desired value
    /// equals it needs no portal step for this field.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub vendor_default: Option<Json>,
}

impl Field {
    pub fn api(value: Json) -> Self {
        Field {
            value: value.into(),
            update: Update::Api,
            observable: true,
            transitions: Vec::new(),
            vendor_default: None,
        }
    }
    pub fn create_only(value: Json) -> Self {
        Field {
            value: value.into(),
            update: Update::CreateOnly,
            observable: true,
            transitions: Vec::new(),
            vendor_default: None,
        }
    }
    /// Set and changed only in the portal.
    pub fn portal(value: Json, task: &str) -> Self {
        Field {
            value: value.into(),
            update: Update::Portal { task: task.to_string(), at_create: false },
            observable: true,
            transitions: Vec::new(),
            vendor_default: None,
        }
    }
    /// Set by the API create; later changes only in the portal.
    pub fn portal_after_create(value: Json, task: &str) -> Self {
        Field {
            value: value.into(),
            update: Update::Portal { task: task.to_string(), at_create: true },
            observable: true,
            transitions: Vec::new(),
            vendor_default: None,
        }
    }
    /// What a new object has when nobody sets the field.
    pub fn defaults_to(mut self, v: Json) -> Self {
        self.vendor_default = Some(v);
        self
    }
    /// Whether the desired value is what a new object has anyway.
    pub fn is_vendor_default(&self) -> bool {
        self.vendor_default.is_some() && self.value.json() == self.vendor_default.as_ref()
    }
    /// Whether an API create sets this field.
    pub fn set_by_create(&self) -> bool {
        !matches!(self.update, Update::Portal { at_create: false, .. })
    }
    pub fn secret(secret: &SecretRef) -> Self {
        Field {
            value: FieldValue::Secret(secret.clone()),
            update: Update::CreateOnly,
            observable: false,
            transitions: Vec::new(),
            vendor_default: None,
        }
    }
    /// The vendor does not report it back: compare with what tenantry last applied.
    pub fn unobservable(mut self) -> Self {
        self.observable = false;
        self
    }
    pub fn with_transition(mut self, from: Json, to: Json, rule: TransitionRule) -> Self {
        self.transitions.push(Transition { from, to, rule });
        self
    }
}

/// How tenantry brings a missing object into being.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", tag = "how")]
pub enum Realize {
    /// A create call.
    Create,
    /// Link an existing object into another system (a Pulse tenant from a company, an
    /// authorization link for a tenant).
    Register,
    /// No API: a person (or the MSP's automation) fills a portal form.
    Portal(PortalForm),
    /// Nothing to do: the vendor shows it by itself once its dependencies exist (Datto seat
    /// licensing appears with an authorized client).
    Follows,
}

/// A portal form to fill: where, and how completion will be known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortalForm {
    /// Task kind, e.g. `datto/add-saas-client`.
    pub task: String,
    /// Where in the portal, as a person would navigate.
    pub page: String,
    pub verify: Verify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Verify {
    /// The result becomes visible through the API (the task closes itself).
    Observation,
    /// Nothing shows it: a person records `tenantry tasks done ID`.
    Attestation,
}

/// What a dependent needs of the object it depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Need {
    /// It exists (its vendor id is known), possibly created earlier in the same run.
    Exists,
    /// It exists and is not pending (verified, mapped, authorized).
    Ready,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    pub key: ObjectKey,
    pub need: Need,
    /// Words for the plan when the dependency is not there: "reseller northwind must exist first".
    pub why: String,
}

/// How to find an existing object at the vendor when tenantry has no binding for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NaturalKey {
    /// Identifying values, compared case-insensitively (`name`, `login`, `domain`, ...).
    pub values: BTreeMap<String, String>,
    /// The object whose vendor id must equal the observed object's parent id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ObjectKey>,
}

impl NaturalKey {
    pub fn new<I: IntoIterator<Item = (&'static str, String)>>(values: I) -> Self {
        NaturalKey { values: values.into_iter().map(|(k, v)| (k.to_string(), v)).collect(), parent: None }
    }
    pub fn under(mut self, parent: ObjectKey) -> Self {
        self.parent = Some(parent);
        self
    }
    /// `name "Acme Corp"`, for messages.
    pub fn describe(&self) -> String {
        self.values.iter().map(|(k, v)| format!("{k} \"{v}\"")).collect::<Vec<_>>().join(", ")
    }
}

/// What the manifests want one vendor object to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesiredObject {
    pub key: ObjectKey,
    /// How people name it: `tenant "Acme Corp"`.
    pub title: String,
    pub natural_key: NaturalKey,
    pub fields: BTreeMap<String, Field>,
    /// The object under which this one is created (its vendor id becomes our parent id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ObjectKey>,
    /// Where the parent is the MSP itself: its id from the connection (Acronis tenant id,
    /// WatchGuard account id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_parent: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    pub realize: Realize,
    /// The owner marker tenantry writes where the vendor has a field for it
    /// (`tenantry:acme`). `None` when the vendor has no such field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    /// Where to write `externalId:` to adopt an existing object, and the id if written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adoption: Option<Adoption>,
    /// How long a pending state of this object normally lasts and what to do after; applies
    /// when the vendor reports the object pending (deadlines come from `tenantry.yaml` policies,
    /// which observers do not know).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub await_policy: Option<AwaitPolicy>,
    /// Vendor-specific inputs for [`VendorModel::assess`] (not fields: never diffed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub params: BTreeMap<String, Json>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwaitPolicy {
    /// Seconds.
    #[serde(with = "secs")]
    #[schemars(with = "u64")]
    pub expected: Duration,
    pub overdue: Overdue,
}

/// A vendor object's state as the vendor reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum ObjectState {
    Ready,
    /// Waiting for something outside tenantry's control.
    Pending(Pending),
    /// The vendor reports a failure that needs a person.
    Failed {
        message: String,
        hint: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    /// What is awaited, in words: "client authorization", "Pulse mapping".
    pub what: String,
    /// When the wait began, if the vendor says; otherwise the planner uses the binding's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub since: Option<jiff::Timestamp>,
    /// How long it normally takes (seconds); past this the plan says what to do.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_secs")]
    #[schemars(with = "Option<u64>")]
    pub expected: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overdue: Option<Overdue>,
    /// Who completes it: the vendor's own machinery (worth waiting for) or a person.
    #[serde(default)]
    pub by: Party,
}

/// Who an await waits for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Party {
    /// The vendor's own processing (Pulse mapping, an asynchronous job): minutes at most.
    Vendor,
    /// The customer: authorizing a backup, consenting, activating an account.
    #[default]
    Customer,
    /// The MSP's operator: a portal task, or a vendor's support desk.
    Operator,
}

/// What to do when a pending state outlives its expected time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", tag = "then")]
pub enum Overdue {
    /// Say this to the user.
    Hint { hint: String },
    /// Issue the portal task again (e.g. Datto "check authorization").
    PortalTask { form: PortalForm, why: String },
    /// Register again through the API (e.g. a new AvePoint authorization link).
    Register { why: String },
}

/// One vendor object as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedObject {
    pub vendor: Vendor,
    pub kind: String,
    /// The vendor's id for it.
    pub id: String,
    /// Identifying values, the same names as the desired natural key.
    pub natural_key: BTreeMap<String, String>,
    /// The parent's vendor id, where the vendor has a hierarchy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// The owner marker found on it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub fields: BTreeMap<String, Json>,
    /// The vendor's version for optimistic concurrency (Acronis `version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub state: ObjectState,
}

impl ObservedObject {
    /// A fingerprint of what the plan relied on: the vendor version where there is one,
    /// otherwise a hash of the observed fields and state.
    /// What a saved plan checks: the vendor's version where it has one, and always a hash of
    /// what tenantry observed (a version field alone can be too coarse, e.g. a timestamp).
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        // Fed straight to the hash, every part tagged and length-prefixed (no serialisation:
        // a plan fingerprints every object it relies on).
        fn text(h: &mut Sha256, s: &str) {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        fn value(h: &mut Sha256, v: &Json) {
            match v {
                Json::Null => h.update(b"n"),
                Json::Bool(b) => h.update(if *b { b"t" } else { b"f" }),
                Json::Number(n) => {
                    h.update(b"#");
                    text(h, &n.to_string());
                }
                Json::String(s) => {
                    h.update(b"s");
                    text(h, s);
                }
                Json::Array(items) => {
                    h.update(b"[");
                    h.update((items.len() as u64).to_le_bytes());
                    items.iter().for_each(|item| value(h, item));
                }
                Json::Object(map) => {
                    h.update(b"{");
                    h.update((map.len() as u64).to_le_bytes());
                    for (k, item) in map {
                        text(h, k);
                        value(h, item);
                    }
                }
            }
        }
        let mut h = Sha256::new();
        h.update((self.fields.len() as u64).to_le_bytes());
        for (k, v) in &self.fields {
            text(&mut h, k);
            value(&mut h, v);
        }
        match &self.state {
            ObjectState::Ready => h.update(b"ready"),
            other => text(&mut h, &serde_json::to_string(other).unwrap_or_default()),
        }
        for part in [&self.marker, &self.parent_id] {
            match part {
                Some(p) => {
                    h.update(b"s");
                    text(&mut h, p);
                }
                None => h.update(b"n"),
            }
        }
        let digest = h.finalize();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(self.version.as_ref().map_or(0, |v| v.len() + 9) + 31);
        if let Some(v) = &self.version {
            out.push_str("version:");
            out.push_str(v);
            out.push(';');
        }
        out.push_str("sha256:");
        for b in digest.iter().take(12) {
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
        out
    }

    /// `acronis:tenant:<id>`, unique across vendors.
    pub fn handle(&self) -> String {
        [self.vendor.id(), &self.kind, &self.id].join(":")
    }
}

/// Everything observed across vendors for one plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedState {
    pub objects: Vec<ObservedObject>,
    /// Vendors that could not be observed, with the reason (their objects are not planned).
    pub unavailable: BTreeMap<Vendor, String>,
    /// Asynchronous work started by an earlier run (an intent with a vendor handle, such as a
    /// WatchGuard operator transaction), as the vendor reports it now.
    pub work: BTreeMap<ObjectKey, WorkStatus>,
}

/// The state of asynchronous vendor work tenantry started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkStatus {
    Pending,
    Failed(String),
}

/// How an owned object whose manifest is gone can be removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retire {
    /// A delete call.
    Api { irreversible: bool },
    /// Only in the portal; `blocked_by` when a vendor precondition is not met.
    Portal { form: PortalForm, irreversible: bool, blocked_by: Option<String> },
    /// tenantry never removes it, and why.
    Never(String),
}

/// Pure vendor knowledge.
pub trait VendorModel: Send + Sync {
    fn vendor(&self) -> Vendor;

    /// The objects the manifests want at this vendor.
    fn desire(&self, desired: &DesiredState) -> Vec<DesiredObject>;

    /// Vendor rules the data in [`DesiredObject`] cannot express, checked once an object is
    /// matched: may add changes (seat licensing) or block the object with a reason (an image
    /// still in use, a licence cap exceeded).
    fn assess(
        &self,
        _desired: &DesiredObject,
        _observed: &ObservedObject,
        _changes: &mut Vec<Change>,
    ) -> Option<String> {
        None
    }

    /// How an owned object whose manifest is gone may be removed (with prune).
    fn retire(&self, observed: &ObservedObject) -> Retire {
        Retire::Never(format!("tenantry does not remove {} {} objects", self.vendor(), observed.kind))
    }
}

/// One field-level difference in a plan. Sensitive values never appear: only the fact that
/// they change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub field: String,
    /// Absent: nothing there; `null`: there, and null.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub before: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub after: Option<Json>,
    /// The value is a secret: `before`/`after` are absent and renderers say
    /// "(sensitive value changed)".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

/// Why a vendor call failed, and what that means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    /// Temporary (5xx, 429, timeout before sending); retrying is safe.
    Retryable,
    /// The request may or may not have been applied (a lost response after sending). A
    /// create must look up before trying again.
    Unknown,
    /// The object changed since it was read (a version conflict): re-observe and re-plan.
    Conflict,
    /// The vendor refused the request; a person must change something.
    Rejected,
    /// Credentials were refused.
    Auth,
    NotFound,
    /// The vendor answered, but not in the documented shape (a body that is not JSON, a record
    /// missing a field tenantry relies on, inconsistent paging). Nothing may be concluded from
    /// such an answer: the vendor is unavailable for the run, and after a create the outcome is
    /// unknown (look it up before creating again). Never retried in a loop.
    Unreadable,
}

/// A failed vendor call: which vendor, which operation on what, and the vendor's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{vendor}: {operation}: {message}")]
pub struct VendorError {
    pub vendor: Vendor,
    pub kind: ErrorKind,
    /// `POST /tenants`, `create tenant "Acme Corp"`.
    pub operation: String,
    pub message: String,
    pub hint: Option<String>,
}

impl VendorError {
    pub fn new(vendor: Vendor, kind: ErrorKind, operation: impl Into<String>, message: impl Into<String>) -> Self {
        VendorError { vendor, kind, operation: operation.into(), message: message.into(), hint: None }
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// What observing needs besides the vendor itself: which objects are wanted and which are bound,
/// so per-object reads happen only where a list lacks a field and an entry could differ.
#[derive(Debug, Clone, Default)]
pub struct ObserveScope {
    pub desired: Vec<std::sync::Arc<DesiredObject>>,
    pub bound: BTreeMap<ObjectKey, crate::state::Binding>,
    /// Unfinished work of earlier runs, to ask the vendor about.
    pub intents: BTreeMap<ObjectKey, crate::state::Intent>,
}

/// Reads a vendor.
pub trait VendorReader: Send + Sync {
    fn vendor(&self) -> Vendor;
    /// Everything tenantry may manage at this vendor, in bulk (list calls, paged), and the status
    /// of unfinished asynchronous work.
    fn observe<'a>(&'a self, scope: &'a ObserveScope) -> BoxFut<'a, Result<Observation, VendorError>>;
    /// Find one object by natural key (`parent_id` resolved): the check before any create and
    /// the recovery after an unfinished one.
    fn lookup<'a>(
        &'a self,
        object: &'a DesiredObject,
        parent_id: Option<&'a str>,
    ) -> BoxFut<'a, Result<Option<ObservedObject>, VendorError>>;
}

/// One vendor's observation.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub objects: Vec<ObservedObject>,
    pub work: BTreeMap<ObjectKey, WorkStatus>,
}

/// What an executed action produced.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// The vendor id of the object (new or existing).
    pub vendor_id: Option<String>,
    /// Values applied that the vendor cannot report back (kept in the binding).
    pub applied: BTreeMap<String, Json>,
    /// The action started something that completes later (an async transaction).
    pub pending: Option<String>,
}

/// The resolved inputs of one action: ids of parents and dependencies created earlier, and
/// secret values.
pub struct ActionContext<'a> {
    pub action: &'a crate::plan::Action,
    /// The parent's vendor id, resolved at run time.
    pub parent_id: Option<String>,
    pub secrets: &'a crate::secrets::Secrets,
    /// A stable id for this attempt (idempotency keys such as VSPC `X-Request-id`).
    pub request_id: String,
}

/// Writes to a vendor. Each call does exactly what the action says.
pub trait VendorWriter: Send + Sync {
    fn execute<'a>(&'a self, cx: &'a ActionContext<'a>) -> BoxFut<'a, Result<Outcome, VendorError>>;
}

/// Every vendor's pure model.
pub fn models() -> Vec<Box<dyn VendorModel>> {
    models::all()
}

/// The model of one vendor.
pub fn model(vendor: Vendor) -> Box<dyn VendorModel> {
    models::for_vendor(vendor)
}

/// A transport error in words: what failed (connect, timeout, ...) without dumping the request.
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the response could not be read"
    } else if e.is_request() {
        "the request failed"
    } else {
        "transport error"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() { what.to_string() } else { format!("{what} ({detail})") }
}
