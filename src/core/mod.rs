//! The vocabulary every layer shares, and the lowest layer above the manifest model: typed
//! object keys, desired and observed objects with their fields and rules, changes, actions,
//! the records the state store keeps (bindings, intents, portal tasks), and how times, secret
//! references and fingerprints are written. It imports nothing from the crate but
//! [`crate::model`], so the planner, the state store and the vendors can all use it without
//! importing each other.

mod action;
mod object;
mod ownership;
mod record;
mod text;

pub use action::{Action, ActionKind, TaskSpec};
pub use object::*;
pub use ownership::{Lost, claim};
pub use record::{Binding, Intent, StateSnapshot, TaskRecord, TaskStatus, newest_task, task_number};
pub use text::{Reset, fmt_time, manifests_fingerprint, paint, pretty_json, secret_ref_text};
