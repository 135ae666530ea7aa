//! The objects every layer talks about: keys, desired and observed objects, fields and their
//! update rules, pending states, changes, and the pure vendor contract ([`VendorModel`]).

use std::collections::BTreeMap;
use std::fmt;
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
    /// Only entered into the portal form that creates the object (details the form shows
    /// pre-filled from elsewhere, such as a VDC registration's customer details, which come
    /// from VCSP Pulse): handed to the person, never compared afterwards.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub entered_only: bool,
}

impl Field {
    pub fn api(value: Json) -> Self {
        Field {
            value: value.into(),
            update: Update::Api,
            observable: true,
            transitions: Vec::new(),
            vendor_default: None,
            entered_only: false,
        }
    }
    pub fn create_only(value: Json) -> Self {
        Field {
            value: value.into(),
            update: Update::CreateOnly,
            observable: true,
            transitions: Vec::new(),
            vendor_default: None,
            entered_only: false,
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
            entered_only: false,
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
            entered_only: false,
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
            entered_only: false,
        }
    }
    /// Entered into the creating portal form only; never compared afterwards.
    pub fn entered_only(mut self) -> Self {
        self.entered_only = true;
        self
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
    /// Fields whose values tenantry enters and the vendor reports back (a Datto client's name,
    /// an AvePoint organization), for vendors with no owner-marker field: with the natural key
    /// they recognise tenantry's own object when the state store has lost its binding (see
    /// [`crate::core::claim`]). Empty where the vendor carries a marker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifying: Vec<String>,
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
    /// Declared objects whose own reads failed at a vendor that was otherwise observed, with
    /// the reason: not among `objects`, and nothing is planned for them.
    pub unreadable: BTreeMap<ObjectKey, String>,
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

/// How a bound object that sits under another parent than the manifests say (a customer moved to
/// another reseller) is moved there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relocate {
    /// Through the API: the sync carries a `parent` change (old and new parent) and the writer
    /// sends the new parent id.
    Api,
    /// The vendor API cannot move it: the plan shows the move blocked with this reason, and the
    /// hint says what a person can do.
    Never { reason: String, hint: String },
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

    /// Where the changes [`VendorModel::assess`] added are made when the vendor has no API for
    /// them (Datto licensing of Google Workspace seats): the portal form (verified by
    /// observation), what is to be done in words, and every value to enter. `None` (the
    /// default): a sync through the API.
    fn assessed_in_portal(
        &self,
        _desired: &DesiredObject,
        _observed: &ObservedObject,
        _changes: &[Change],
    ) -> Option<(PortalForm, String, BTreeMap<String, Json>)> {
        None
    }

    /// Why a portal step of `desired` taken as done on a person's word cannot be confirmed at
    /// the vendor, and what would confirm it; `None`: the vendor's API cannot show it at all.
    fn attested_note(&self, _desired: &DesiredObject) -> Option<String> {
        None
    }

    /// Where in the vendor's portal a person does portal task `task` (`datto/change-term`).
    fn portal_page(&self, task: &str) -> String {
        format!("vendor portal ({task})")
    }

    /// How an owned object whose manifest is gone may be removed (with prune).
    fn retire(&self, observed: &ObservedObject) -> Retire {
        Retire::Never(format!("tenantry does not remove {} {} objects", self.vendor(), observed.kind))
    }

    /// How a bound object found under another parent than the manifests say is moved.
    fn relocate(&self, observed: &ObservedObject) -> Relocate {
        Relocate::Never {
            reason: format!("tenantry cannot move {} {} objects to another parent", self.vendor(), observed.kind),
            hint: format!(
                "move it in the {} portal, or declare it under its current parent again",
                self.vendor().title()
            ),
        }
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
    /// The vendor does not report this field: `before` is what tenantry last applied (kept in
    /// the binding), not what the vendor holds now. Renderers say so next to the change.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unreadable: bool,
}
