//! The one rule that decides whether an unbound vendor object is tenantry's: the planner uses
//! it on what it observed, and the executor on what its lookup before a create found (an object
//! that appeared since planning). Neither has a rule of its own.

use super::{DesiredObject, Intent, ObservedObject, Realize, TaskRecord, fmt_time};

/// Why `o`, found by `d`'s natural key and bound to nothing, is tenantry's, in words; `None`
/// when nothing says so (a conflict: never taken over).
///
/// - it carries tenantry's owner marker;
/// - an earlier run started creating it (`intent`) and stopped before recording it;
/// - the portal task that makes it (`task`, for objects realised in a portal) exists;
/// - it sits under a parent tenantry manages (`managed_parent`: the parent is declared and
///   resolved to a vendor id).
pub fn claim(
    d: &DesiredObject,
    o: &ObservedObject,
    intent: Option<&Intent>,
    task: Option<&TaskRecord>,
    managed_parent: bool,
) -> Option<String> {
    if d.marker.is_some() && o.marker == d.marker {
        return Some("it carries tenantry's owner marker".into());
    }
    if let Some(intent) = intent {
        return Some(format!(
            "an earlier run started creating it at {} and stopped before recording it",
            fmt_time(intent.started_at)
        ));
    }
    if let (Realize::Portal(_), Some(task)) = (&d.realize, task) {
        return Some(format!("portal task {} created it", task.id));
    }
    match (&d.parent, managed_parent) {
        (Some(parent), true) => Some(format!("it sits under the {} tenantry manages", parent.kind)),
        _ => None,
    }
}
