//! What the state store keeps about vendor objects: bindings, intents and portal-task records,
//! and the snapshot the planner reads.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::{NaturalKey, ObjectKey, Verify};
use crate::model::Vendor;

/// A manifest object's vendor object, as bound by an earlier run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub key: ObjectKey,
    pub vendor_id: String,
    /// When tenantry first bound it (created, registered or adopted).
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Values tenantry applied that the vendor does not report back (a Datto commitment term,
    /// the reference of a secret, an AvePoint link's creation time). Never a secret value.
    #[serde(default)]
    pub applied: BTreeMap<String, Json>,
}

/// A create (or register, or portal task) that was started: written before the vendor call,
/// removed when the binding is written. An intent left behind means a run stopped in between;
/// the next run looks the object up by natural key before doing anything again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub key: ObjectKey,
    /// The action id that wrote it.
    pub action: String,
    pub natural_key: NaturalKey,
    pub started_at: Timestamp,
    /// Vendor-side handle of work in progress (an operator transaction id), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum TaskStatus {
    /// Waiting for a person (or the MSP's automation).
    Open,
    /// A person recorded that it is done (`tenantry tasks done`).
    Done { at: Timestamp, note: Option<String>, by: Option<String> },
    /// The result was observed at the vendor; the task closed itself.
    Verified { at: Timestamp },
    /// A newer task for the same step replaced it.
    Superseded { at: Timestamp },
}

/// A portal task: everything a person needs to do a step that has no API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Short id for people: `T-7`.
    pub id: String,
    pub key: ObjectKey,
    /// Task kind, e.g. `datto/add-saas-client`.
    pub task: String,
    pub vendor: Vendor,
    pub page: String,
    pub title: String,
    /// The vendor's id of the object the task is about, when it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The values to enter, field by field (secrets as references, never values).
    pub values: BTreeMap<String, Json>,
    pub verify: Verify,
    pub created_at: Timestamp,
    pub status: TaskStatus,
    /// How it was delivered (`recorded`, `webhook`, `command`) and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<String>,
    /// What the person doing it must know first (from [`crate::core::TaskSpec::note`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl TaskRecord {
    pub fn is_open(&self) -> bool {
        matches!(self.status, TaskStatus::Open)
    }
    pub fn is_done(&self) -> bool {
        matches!(self.status, TaskStatus::Done { .. } | TaskStatus::Verified { .. })
    }
}

/// Everything the planner reads from the state store: a plain value, so planning stays pure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateSnapshot {
    pub bindings: BTreeMap<ObjectKey, Binding>,
    pub intents: BTreeMap<ObjectKey, Intent>,
    pub tasks: Vec<TaskRecord>,
}

impl StateSnapshot {
    /// The newest task for `key` of kind `task` that is not superseded.
    pub fn task(&self, key: &ObjectKey, task: &str) -> Option<&TaskRecord> {
        newest_task(self.tasks.iter().filter(|t| &t.key == key), task)
    }
}

/// Of `tasks` (one object's), the newest of kind `task` that is not superseded: the one that
/// counts.
pub fn newest_task<'t>(tasks: impl IntoIterator<Item = &'t TaskRecord>, task: &str) -> Option<&'t TaskRecord> {
    tasks
        .into_iter()
        .filter(|t| t.task == task && !matches!(t.status, TaskStatus::Superseded { .. }))
        .max_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| task_number(&a.id).cmp(&task_number(&b.id))))
}

/// The number in `T-12`, for ordering.
pub fn task_number(id: &str) -> u64 {
    id.trim_start_matches("T-").parse().unwrap_or(0)
}
