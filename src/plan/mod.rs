//! Plans: the pure decision of what to do, as a value.
//!
//! [`plan`] takes the desired objects, what was observed, and the state store's snapshot, and
//! returns a [`Plan`]: every action with its kind, target, field changes, reason and
//! dependencies. It does no I/O and reads no clock (`now` is an input), so the same inputs give
//! the same plan byte for byte. Applying executes a plan and decides nothing.

pub mod json;
mod planner;
pub mod render;

use std::collections::BTreeMap;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::core::{fmt_time, secret_ref_text};
pub use planner::{PlanInputs, plan};

use crate::core::ObjectKey;
pub use crate::core::{Action, ActionKind, TaskSpec};
use crate::model::Vendor;

/// The version of the plan JSON format (see `schemas/plan.schema.json`).
pub const FORMAT_VERSION: u32 = 1;

/// Everything a run would do, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "tenantry plan")]
pub struct Plan {
    /// Version of this JSON format; bumped on incompatible changes.
    pub format_version: u32,
    /// The plan's id: a hash of everything else in it (see [`Plan::seal`]), so the same id
    /// always means the same plan. The state store records the ids of the plans applied, and
    /// applying one twice is refused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The time the plan was made (RFC 3339).
    #[schemars(with = "String")]
    pub created_at: Timestamp,
    pub options: PlanOptions,
    /// The manifest directory as given to `tenantry plan` (relative to where it ran), so that
    /// `tenantry apply PLANFILE` finds the manifests to check the plan against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifests_dir: Option<String>,
    /// The company names of the owners the actions are for (`Customer/acme`: `Acme Corp`), so
    /// `tenantry show PLANFILE` prints the plan as `plan` did.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, String>")]
    pub names: BTreeMap<crate::model::ManifestRef, String>,
    pub actions: Vec<Action>,
    /// Vendor objects tenantry owns whose manifest is gone (deleted only with prune).
    pub orphans: Vec<Orphan>,
    /// Vendors that could not be observed: nothing is planned for them.
    pub unavailable: BTreeMap<Vendor, String>,
    /// Manifest objects (by key, `customer/acme/velocloud/enterprise`) whose own reads failed
    /// at a vendor that was otherwise observed: nothing is planned for them or what needs them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unreadable: BTreeMap<String, String>,
    /// Open portal tasks whose result the vendor now shows (ids); applying closes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verified_tasks: Vec<String>,
    /// Portal steps taken as done on a person's word (`tenantry tasks done`) that the vendor
    /// does not show: attested, never verified.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attested: Vec<Attested>,
    /// What the plan relied on, so a saved plan can be refused when any of it changed.
    pub fingerprints: Fingerprints,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanOptions {
    pub prune: bool,
    /// `--target` / `--exclude` given: only some manifest objects were planned (never prunes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
    /// `--rebind`: the state store was lost; for owners it holds nothing for, an object matching
    /// the manifests by natural key and the values tenantry entered is taken to be tenantry's,
    /// even with no owner marker anywhere to confirm it (see [`crate::core::claim`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rebind: bool,
    /// The plan was made against the built-in sandbox.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sandbox: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Fingerprints {
    /// Hash over every manifest file (path and content).
    pub manifests: String,
    /// Hash of each manifest file by path, so a stale plan can name what changed.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Per observed object (`vendor:kind:id`): its version or a hash of its fields.
    pub observed: BTreeMap<String, String>,
    /// Per observed object (`vendor:kind:id`): the objects (`customer/acme/acronis/tenant`) whose
    /// planning relied on it. A saved plan is checked only against the observed objects used
    /// by what its actions touch or depend on; an object missing here is always checked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub used_by: BTreeMap<String, std::collections::BTreeSet<String>>,
}

/// A portal task recorded done by a person whose result the vendor does not show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attested {
    /// The task's id (`T-3`).
    pub task: String,
    pub key: ObjectKey,
    pub title: String,
    /// Who attested it and when, and why the vendor cannot confirm it.
    pub note: String,
}

/// An owned vendor object whose manifest (or service block) is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Orphan {
    pub key: ObjectKey,
    pub vendor_id: String,
    pub title: String,
    /// What happens to it: deleted by an action, or left alone and why.
    pub note: String,
}

/// Counts per kind, for summaries and exit codes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub register: usize,
    pub sync: usize,
    pub adopt: usize,
    pub awaiting: usize,
    pub portal_tasks: usize,
    pub delete: usize,
    pub blocked: usize,
    pub conflicts: usize,
}

impl Plan {
    /// The id this plan's content gives it: the first 128 bits of a SHA-256 over its JSON with
    /// the id left out, as 32 hex digits.
    pub fn content_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut unsealed = self.clone();
        unsealed.id = String::new();
        let digest = Sha256::digest(json::render(&unsealed).as_bytes());
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Set [`Plan::id`] from the content (call it when the plan is complete).
    pub fn seal(&mut self) {
        self.id = self.content_id();
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for a in &self.actions {
            if a.blocked.is_some() {
                s.blocked += 1;
                continue;
            }
            match a.kind {
                ActionKind::Create => s.create += 1,
                ActionKind::Register => s.register += 1,
                ActionKind::Sync => s.sync += 1,
                ActionKind::Adopt => s.adopt += 1,
                ActionKind::Await => s.awaiting += 1,
                ActionKind::PortalTask => s.portal_tasks += 1,
                ActionKind::Delete => s.delete += 1,
                ActionKind::Conflict => s.conflicts += 1,
            }
        }
        s
    }

    /// Whether applying would execute anything: a create, sync, portal task, ... that is not
    /// blocked. Awaits, conflicts and blocked actions are not executable.
    pub fn has_changes(&self) -> bool {
        self.actions.iter().any(Action::is_executable)
    }

    /// Whether anything is pending: an action of any kind, executable or not (a change, a portal
    /// task, an await, a blocked action, a conflict). `false` only when the vendors match the
    /// manifests; `plan --detailed-exitcode` exits 2 when this is `true`.
    pub fn is_pending(&self) -> bool {
        !self.actions.is_empty()
    }
}

impl Summary {
    /// "3 to create, 1 to register, 2 to sync, 1 awaiting, 2 portal tasks, 0 blocked", with
    /// adopt/delete/conflicts added when present.
    pub fn line(&self) -> String {
        let mut parts = vec![
            format!("{} to create", self.create),
            format!("{} to register", self.register),
            format!("{} to sync", self.sync),
        ];
        if self.adopt > 0 {
            parts.push(format!("{} to adopt", self.adopt));
        }
        if self.delete > 0 {
            parts.push(format!("{} to delete", self.delete));
        }
        parts.push(format!("{} awaiting", self.awaiting));
        parts.push(format!("{} portal task{}", self.portal_tasks, if self.portal_tasks == 1 { "" } else { "s" }));
        parts.push(format!("{} blocked", self.blocked));
        if self.conflicts > 0 {
            parts.push(format!("{} conflict{}", self.conflicts, if self.conflicts == 1 { "" } else { "s" }));
        }
        parts.join(", ")
    }
}
