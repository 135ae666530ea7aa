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
pub mod oauth;
pub mod telemetry;
pub mod veeam;
pub mod velocloud;
pub mod watchguard;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::core::{Action, Binding, Intent};
pub use crate::core::{
    AwaitPolicy, Change, Dependency, DesiredObject, Field, FieldValue, NaturalKey, Need, ObjectKey, ObjectState,
    ObservedObject, ObservedState, Overdue, Party, Pending, PortalForm, Realize, Relocate, Retire, Transition,
    TransitionRule, Update, VendorModel, Verify, WorkStatus,
};
use crate::model::Vendor;

/// A boxed future, so vendor traits stay object-safe.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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

impl ErrorKind {
    /// What an HTTP status alone says about a call that did not succeed: the one mapping every
    /// vendor's error reading starts from, and overrides only where its own error codes say
    /// more (VSPC's custom codes at 520, the VCO's JSON-RPC errors, Acronis's 426).
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            401 | 403 => ErrorKind::Auth,
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            s if s >= 500 => ErrorKind::Retryable,
            _ => ErrorKind::Rejected,
        }
    }
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
    pub bound: BTreeMap<ObjectKey, Binding>,
    /// Unfinished work of earlier runs, to ask the vendor about.
    pub intents: BTreeMap<ObjectKey, Intent>,
    /// Objects to read in full, whatever a verification sample picks: those a saved plan
    /// touches, so what its fingerprints hold for them does not depend on the sample.
    pub verify: std::collections::BTreeSet<ObjectKey>,
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
    /// Declared objects whose own reads failed while the rest of the vendor was read (one
    /// customer's answer that cannot be read), with the reason: they are left out of
    /// `objects`, and nothing is planned for them.
    pub unreadable: BTreeMap<ObjectKey, String>,
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
    /// The object exists (its id is `vendor_id`) but a later step of the action failed, in
    /// words. The binding is written (nothing is made twice), the run reports the failure, and
    /// the step's own record is left out of `applied`, so the next plan does it again.
    pub incomplete: Option<String>,
}

/// The resolved inputs of one action: ids of parents and dependencies created earlier, and
/// secret values.
pub struct ActionContext<'a> {
    pub action: &'a Action,
    /// The parent's vendor id, resolved at run time.
    pub parent_id: Option<String>,
    pub secrets: &'a crate::secrets::Secrets,
    /// A stable id for this attempt (idempotency keys such as VSPC `X-Request-id`).
    pub request_id: String,
    /// The time by the clock the plan was made with (the sandbox's moved clock there), for what
    /// a writer records about when it started something (an authorization link's `pendingSince`).
    pub now: jiff::Timestamp,
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
