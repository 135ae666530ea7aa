//! Actions: one thing a plan would do to one vendor object, what kind of thing, and the portal
//! task it would open.

use std::collections::BTreeMap;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::{Change, DesiredObject, ObjectKey, Party, PortalForm};
use crate::model::ManifestRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// Create a missing object through the API.
    Create,
    /// Link an existing object into another system.
    Register,
    /// Update declared fields through the API.
    Sync,
    /// Bind an existing object to its manifest (and update it if it differs).
    Adopt,
    /// Wait for something outside tenantry: a verification, authorization or activation.
    Await,
    /// A step with no API: a task for a person or the MSP's automation.
    PortalTask,
    /// Delete an owned object whose manifest is gone (prune only).
    Delete,
    /// An object with the same natural key exists but is not tenantry's: never taken over.
    Conflict,
}

impl ActionKind {
    pub fn marker(self) -> char {
        match self {
            ActionKind::Create | ActionKind::Register => '+',
            ActionKind::Sync | ActionKind::Adopt => '~',
            ActionKind::Delete => '-',
            ActionKind::Conflict => '!',
            ActionKind::Await | ActionKind::PortalTask => '?',
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            ActionKind::Create => "create",
            ActionKind::Register => "register",
            ActionKind::Sync => "sync",
            ActionKind::Adopt => "adopt",
            ActionKind::Await => "await",
            ActionKind::PortalTask => "portal-task",
            ActionKind::Delete => "delete",
            ActionKind::Conflict => "conflict",
        }
    }
}

/// A portal task the action would open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskSpec {
    pub form: PortalForm,
    pub title: String,
    /// Values to enter, field by field. Secrets appear as `{"secretRef": "env:NAME"}`.
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub values: BTreeMap<String, Json>,
    /// What the person doing it must know first (the step may already be done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One thing the plan would do to one vendor object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// Stable id: `customer/acme/acronis/tenant:create`.
    pub id: String,
    pub kind: ActionKind,
    pub key: ObjectKey,
    /// How people name the object: `tenant "Acme Corp"`.
    pub title: String,
    /// The vendor's id when the object exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    /// Why, in words.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Actions that must succeed first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Set when the action cannot run now, with the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    /// With `blocked`: the block lifts by itself once what the action depends on completes (an
    /// earlier step of this plan, the vendor's processing, a customer or a portal task), so the
    /// action waits rather than needs a change. Without it, a blocked action needs a change (a
    /// vendor rule, a conflict, a failure): `apply` then exits 1.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deferred: bool,
    /// One-way: applying needs `--allow-irreversible`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub irreversible: bool,
    /// What the user can do (the manifest line that adopts a conflicting object, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// For awaits: since when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub since: Option<Timestamp>,
    /// For awaits: who completes it (the vendor's processing, or a person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waits_for: Option<Party>,
    /// For awaits: it has lasted longer than the vendor's usual time, so a person should look.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overdue: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskSpec>,
    /// The desired object, for the executor (secrets as references). Shared: a plan of 10,000
    /// customers would otherwise copy 150,000 objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<std::sync::Arc<DesiredObject>>,
    /// The observed version the change is based on (optimistic concurrency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Values to remember in the binding when the action succeeds: what it sets that the vendor
    /// cannot report back (secrets only as references).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub record: BTreeMap<String, Json>,
    /// For a delete: the vendor ids of what goes with it (orphans under it, at any depth). The
    /// executor refuses when the vendor holds anything else under it by then (made since
    /// planning, or a move that did not land).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub goes_with: Vec<String>,
}

impl Action {
    /// Whether `apply` has something to execute for it.
    pub fn is_executable(&self) -> bool {
        self.blocked.is_none() && !matches!(self.kind, ActionKind::Await | ActionKind::Conflict)
    }

    /// Blocked until something else completes (see [`Action::deferred`]).
    pub fn is_deferred(&self) -> bool {
        self.blocked.is_some() && self.deferred
    }

    pub fn owner(&self) -> &ManifestRef {
        &self.key.owner
    }
}
