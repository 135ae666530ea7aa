//! What tenantry remembers between runs: bindings (manifest object -> vendor id), intents
//! (creates begun and not yet bound), portal tasks, the locks of the runs that write
//! (per owner, or on everything) and history.
//!
//! Observed state is never stored as truth: it is read from the vendors on every run. Losing the
//! store loses nothing that matters: bindings are rebuilt from owner markers and natural keys.

pub mod lock;
pub mod sqlite;
pub mod store;

pub use crate::core::{Binding, Intent, StateSnapshot, TaskRecord, TaskStatus, newest_task, task_number};
pub use store::{Acquired, AppliedPlan, HistoryEntry, LockInfo, LockScope, NewTask, StateError, StateStore, TakenOver};

/// Open the store a state URL names: `sqlite:PATH` (relative to `base`, the manifest directory).
pub fn open(url: &str, base: &std::path::Path) -> Result<std::sync::Arc<dyn StateStore>, StateError> {
    match url.strip_prefix("sqlite:") {
        Some(path) => {
            let path = std::path::Path::new(path);
            let full = if path.is_absolute() { path.to_path_buf() } else { base.join(path) };
            Ok(std::sync::Arc::new(sqlite::SqliteStore::open(&full)?))
        }
        None => Err(StateError::Store {
            location: url.to_string(),
            message: "unsupported state URL; use sqlite:PATH".into(),
        }),
    }
}

/// The default state URL: `.tenantry/state.db` in the manifest directory.
pub const DEFAULT_URL: &str = "sqlite:.tenantry/state.db";
