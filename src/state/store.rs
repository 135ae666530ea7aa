//! The state store contract: what an apply reads and writes between runs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::{Binding, Intent, StateSnapshot, TaskRecord, TaskStatus};
use crate::core::ObjectKey;
use crate::model::{DesiredState, ManifestRef, OwnerKind, Vendor};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state store {location}: {message}")]
    Store { location: String, message: String },
    #[error("no portal task {0}")]
    NoSuchTask(String),
    /// A write of a run whose lock is gone (`force-unlock`, or taken over as dead): refused,
    /// atomically with the write, so two runs never write for the same owners at once.
    #[error("the state lock {id} of this run was removed or taken over; stopping before writing {what}")]
    LockLost { id: String, what: String },
}

impl StateError {
    /// Whether this is a write refused because the run's lock is gone.
    pub fn is_lock_lost(&self) -> bool {
        matches!(self, StateError::LockLost { .. })
    }
}

pub type StateResult<T> = Result<T, StateError>;

/// What a lock holds: the whole estate, or some owners (customers and resellers).
///
/// Two scopes conflict when either is [`LockScope::All`] or their owners intersect. The owner
/// set is what the holder may write, closed over dependants when it was made (see
/// [`LockScope::owners`]): the store compares sets and knows nothing of the manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockScope {
    /// Everything: an apply of all the manifests (which may prune any owner), `state forget`.
    All,
    Owners(BTreeSet<ManifestRef>),
}

impl LockScope {
    /// These owners, each reseller with its dependants: the customers whose manifest names it
    /// (a reseller's lock covers its customers, whose objects sit under its own).
    pub fn owners(owners: impl IntoIterator<Item = ManifestRef>, desired: &DesiredState) -> LockScope {
        let mut set: BTreeSet<ManifestRef> = owners.into_iter().collect();
        let resellers: BTreeSet<String> =
            set.iter().filter(|o| o.kind == OwnerKind::Reseller).map(|o| o.name.clone()).collect();
        set.extend(
            desired
                .customers
                .values()
                .filter(|c| c.reseller.as_ref().is_some_and(|r| resellers.contains(r)))
                .map(|c| ManifestRef::customer(&c.name)),
        );
        LockScope::Owners(set)
    }

    /// These owners as well (as they are: without their dependants).
    pub fn with(self, more: impl IntoIterator<Item = ManifestRef>) -> LockScope {
        match self {
            LockScope::All => LockScope::All,
            LockScope::Owners(mut set) => {
                set.extend(more);
                LockScope::Owners(set)
            }
        }
    }

    /// Whether a run holding `self` and one holding `other` may not run at once.
    pub fn conflicts(&self, other: &LockScope) -> bool {
        match (self, other) {
            (LockScope::All, _) | (_, LockScope::All) => true,
            (LockScope::Owners(a), LockScope::Owners(b)) => !a.is_disjoint(b),
        }
    }
}

impl std::fmt::Display for LockScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockScope::All => f.write_str("everything"),
            LockScope::Owners(o) if o.is_empty() => f.write_str("no owner"),
            LockScope::Owners(o) => {
                let names: Vec<String> = o.iter().map(ToString::to_string).collect();
                f.write_str(&names.join(", "))
            }
        }
    }
}

/// In JSON: `"all"`, or the list of owners (`["Customer/acme"]`).
impl Serialize for LockScope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LockScope::All => s.serialize_str("all"),
            LockScope::Owners(o) => o.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for LockScope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            Owners(BTreeSet<ManifestRef>),
        }
        match Raw::deserialize(d)? {
            Raw::Word(w) if w == "all" => Ok(LockScope::All),
            Raw::Word(w) => {
                Err(serde::de::Error::custom(format!("`{w}` is not a lock scope (\"all\" or a list of owners)")))
            }
            Raw::Owners(o) => Ok(LockScope::Owners(o)),
        }
    }
}

/// Who holds a lock, and on what. In JSON (`state lock --format json`) with camelCase names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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
    /// What it holds.
    pub scope: LockScope,
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on {} (pid {}, `{}`) for {}, since {}, lock id {}",
            self.owner,
            self.host,
            self.pid,
            self.command,
            self.scope,
            crate::core::fmt_time(self.started_at),
            self.id
        )
    }
}

/// A lock of a run that is gone (expired, or its process no longer exists on this host), taken
/// over because it was in the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenOver {
    pub previous: LockInfo,
    pub why: String,
}

/// The result of trying to take a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// Taken; the locks of dead runs that were in the way were removed (none when it was free).
    Taken(Vec<TakenOver>),
    /// A live run holds a lock whose scope conflicts (the first such, by start time).
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
///
/// A handle made by [`StateStore::fenced`] writes only while its lock exists: every write
/// checks it in the same transaction and fails with [`StateError::LockLost`] when it is gone.
/// Reads are never fenced; neither are the lock calls themselves.
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

    /// Per owner, the fingerprint of the declaration last reconciled in full (every action
    /// done, nothing failed): see `controller::fingerprint`.
    fn reconciled(&self) -> StateResult<BTreeMap<ManifestRef, String>>;
    /// Record that `owner`'s declaration with this fingerprint is reconciled (`at`: when it
    /// first was; `controller::record` does not write an owner again while it stays the same).
    fn set_reconciled(&self, owner: &ManifestRef, fingerprint: &str, at: Timestamp) -> StateResult<()>;

    /// Take a lock on `me.scope` if no live run holds a conflicting one; conflicting locks of
    /// dead runs are taken over (removed) in the same step.
    fn acquire_lock(&self, me: &LockInfo, now: Timestamp) -> StateResult<Acquired>;
    /// Push the expiry of a lock we hold; false when it is no longer ours.
    fn renew_lock(&self, id: &str, expires_at: Timestamp) -> StateResult<bool>;
    fn release_lock(&self, id: &str) -> StateResult<()>;
    /// Remove the lock with this id whoever holds it; returns the removed lock.
    fn force_unlock(&self, id: &str) -> StateResult<Option<LockInfo>>;
    /// Every lock held, oldest first.
    fn locks(&self) -> StateResult<Vec<LockInfo>>;

    /// A handle on the same store whose writes are fenced by the lock `lock_id` (see the
    /// trait's docs).
    fn fenced(&self, lock_id: &str) -> Arc<dyn StateStore>;
    /// For a fenced handle: whether its lock still exists ([`StateError::LockLost`] when not);
    /// always fine for an unfenced one.
    fn check_fence(&self) -> StateResult<()>;
}
