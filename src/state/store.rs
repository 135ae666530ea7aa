//! The state store contract: what an apply reads and writes between runs.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::{Binding, Intent, StateSnapshot, TaskRecord, TaskStatus};
use crate::core::ObjectKey;
use crate::model::Vendor;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state store {location}: {message}")]
    Store { location: String, message: String },
    #[error("no portal task {0}")]
    NoSuchTask(String),
}

pub type StateResult<T> = Result<T, StateError>;

/// Who holds the apply lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Unique per run; what `force-unlock` takes.
    pub id: String,
    /// `user` running it.
    pub owner: String,
    pub host: String,
    pub pid: u32,
    pub command: String,
    pub started_at: Timestamp,
    /// A live run keeps pushing this forward; past it the lock may be taken over.
    pub expires_at: Timestamp,
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on {} (pid {}, `{}`), since {}, lock id {}",
            self.owner,
            self.host,
            self.pid,
            self.command,
            crate::core::fmt_time(self.started_at),
            self.id
        )
    }
}

/// The result of trying to take the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// Taken (it was free).
    Free,
    /// Taken over from a run that is gone (expired, or its process no longer exists on this
    /// host).
    TakenOver { previous: LockInfo, why: String },
    /// Someone else holds it.
    Held(LockInfo),
}

/// One executed action, for `tenantry history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: Timestamp,
    pub run: String,
    pub action: String,
    pub kind: String,
    pub key: ObjectKey,
    pub title: String,
    /// `ok`, `failed`, `skipped`, `pending`.
    pub result: String,
    pub vendor_id: Option<String>,
    pub message: Option<String>,
    /// The manifests' git commit (`+dirty` when uncommitted changes were applied).
    pub commit: Option<String>,
}

/// A portal task to add; the store assigns its id.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub key: ObjectKey,
    pub task: String,
    pub vendor: Vendor,
    pub page: String,
    pub title: String,
    pub target: Option<String>,
    pub values: BTreeMap<String, Json>,
    pub verify: crate::core::Verify,
    pub created_at: Timestamp,
    pub note: Option<String>,
}

/// A saved plan that was applied: its id, when, and by which run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedPlan {
    pub id: String,
    pub applied_at: Timestamp,
    pub run: String,
}

/// The state store. Implementations are synchronous and quick (a local database); each call
/// is durable when it returns.
pub trait StateStore: Send + Sync {
    /// Where it is, for messages.
    fn location(&self) -> String;

    fn snapshot(&self) -> StateResult<StateSnapshot>;
    fn binding(&self, key: &ObjectKey) -> StateResult<Option<Binding>>;
    /// Record what was applied to an object, merged into its binding's `applied` in one step:
    /// actions running at once on one object (several portal tasks, a sync) lose nothing.
    /// With `vendor_id` the binding is made when missing (and its `created_at` restarts when it
    /// named another object); without, only an existing binding is updated. Returns the
    /// binding as written, if any.
    fn merge_binding(
        &self,
        key: &ObjectKey,
        vendor_id: Option<&str>,
        applied: &BTreeMap<String, Json>,
        at: Timestamp,
    ) -> StateResult<Option<Binding>>;
    fn remove_binding(&self, key: &ObjectKey) -> StateResult<()>;

    fn put_intent(&self, intent: &Intent) -> StateResult<()>;
    fn remove_intent(&self, key: &ObjectKey) -> StateResult<()>;

    fn add_task(&self, task: NewTask) -> StateResult<TaskRecord>;
    fn tasks(&self) -> StateResult<Vec<TaskRecord>>;
    fn set_task_status(&self, id: &str, status: TaskStatus) -> StateResult<TaskRecord>;
    fn set_task_delivered(&self, id: &str, delivered: &str) -> StateResult<()>;

    fn record(&self, entry: &HistoryEntry) -> StateResult<()>;
    /// Newest first; `owner` narrows to one manifest object (`Customer/acme`).
    fn history(&self, owner: Option<&str>, limit: usize) -> StateResult<Vec<HistoryEntry>>;

    /// When the saved plan `id` was applied, if it was.
    fn plan_applied(&self, id: &str) -> StateResult<Option<AppliedPlan>>;
    /// Record that a saved plan is being applied, in one step: returns the earlier record
    /// (and records nothing) when it was applied before.
    fn record_plan_applied(&self, plan: &AppliedPlan) -> StateResult<Option<AppliedPlan>>;

    /// Take the lock if it is free or its holder is gone.
    fn acquire_lock(&self, me: &LockInfo, now: Timestamp) -> StateResult<Acquired>;
    /// Push the expiry of a lock we hold; false when it is no longer ours.
    fn renew_lock(&self, id: &str, expires_at: Timestamp) -> StateResult<bool>;
    fn release_lock(&self, id: &str) -> StateResult<()>;
    /// Remove the lock with this id whoever holds it; returns the removed lock.
    fn force_unlock(&self, id: &str) -> StateResult<Option<LockInfo>>;
    fn lock(&self) -> StateResult<Option<LockInfo>>;
}
