//! The one rule that decides whether an unbound vendor object is tenantry's: the planner uses
//! it on what it observed, and the executor on what its lookup before a create found (an object
//! that appeared since planning). Neither has a rule of its own.

use serde_json::Value as Json;

use super::{DesiredObject, Intent, ObservedObject, Realize, TaskRecord, fmt_time};
use crate::model::Vendor;

/// Why `o`, found by `d`'s natural key and bound to nothing, is tenantry's, in words; `None`
/// when nothing says so (a conflict: never taken over).
///
/// - it carries tenantry's owner marker;
/// - an earlier run started creating it (`intent`) and stopped before recording it;
/// - the portal task that makes it (`task`, for objects realised in a portal) exists;
/// - it sits under a parent tenantry manages (`managed_parent`: the parent is declared and
///   resolved to a vendor id);
/// - at a vendor with no owner-marker field, it carries the values tenantry entered
///   ([`DesiredObject::identifying`], a Datto client's name) while the state store has lost the
///   owner's record (`lost`, see [`Lost`]). Both conditions, because either alone is what a
///   stranger's object looks like: a hand-made client with the customer's domain and name,
///   before tenantry ever ran; or one next to objects tenantry made in this store's lifetime (it
///   would have bound its own).
pub fn claim(
    d: &DesiredObject,
    o: &ObservedObject,
    intent: Option<&Intent>,
    task: Option<&TaskRecord>,
    managed_parent: bool,
    lost: Option<&Lost<'_>>,
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
    if let (Some(parent), true) = (&d.parent, managed_parent) {
        return Some(format!("it sits under the {} tenantry manages", parent.kind));
    }
    let lost = lost.filter(|_| d.marker.is_none() && !d.identifying.is_empty())?;
    let mut entered = Vec::with_capacity(d.identifying.len());
    for name in &d.identifying {
        let want = d.fields.get(name)?.value.json()?;
        let got = o.fields.get(name)?;
        let same = match (want, got) {
            (Json::String(w), Json::String(g)) => w.eq_ignore_ascii_case(g),
            (w, g) => w == g,
        };
        if !same {
            return None;
        }
        entered.push(format!("{name} {want}"));
    }
    Some(format!(
        "it carries what tenantry entered ({}), the state store holds nothing for {} and {}: made by tenantry before the state store was lost",
        entered.join(", "),
        d.key.owner,
        lost.evidence(),
    ))
}

/// What says the state store lost an owner's record, for an owner it holds nothing for (no
/// binding, no unfinished create, no task).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lost<'a> {
    /// The user said so (`--rebind`).
    Rebind,
    /// The owner's own objects at these vendors carry tenantry's owner marker.
    MarkedAt(&'a [Vendor]),
    /// The owner has no object a marker can be read from (every vendor it uses keeps none), but
    /// objects of this many other owners the store holds nothing for carry tenantry's marker: the
    /// store lost records it once held (a fresh store next to an estate tenantry made). Before
    /// tenantry ever ran, no object carries its marker, so a hand-made object stays a conflict.
    Estate { owners: usize },
}

impl Lost<'_> {
    /// The evidence, in words: "its objects at Veeam carry tenantry's owner marker".
    pub fn evidence(&self) -> String {
        match self {
            Lost::Rebind => "--rebind says the state store was lost".to_string(),
            Lost::MarkedAt(vendors) => {
                let vendors: Vec<&str> = vendors.iter().map(|v| v.title()).collect();
                format!("its objects at {} carry tenantry's owner marker", vendors.join(", "))
            }
            Lost::Estate { owners } => format!(
                "objects of {owners} other {} it holds nothing for carry tenantry's owner marker",
                if *owners == 1 { "owner" } else { "owners" }
            ),
        }
    }
}
